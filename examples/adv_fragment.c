/* SPDX-License-Identifier: MIT */
/*
 * adv_fragment.c — one inefficiency for `perfshim advise` (docs/tuning.md, rule fragmentation):
 * 48 MiB of 1 KiB blocks written, then all freed but one in 64, which stay reachable (a cache
 * that keeps a few entries). Every 64 KiB slab of the pool keeps one live block, so none can go
 * back to the OS: the RSS stays near 48 MiB over a live heap of 768 KiB.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define N 49152
#define SIZE 1024
#define KEEP 64

static char *blocks[N];

static char *cache_entry(int i)
{
    char *p = malloc(SIZE);
    if (p)
        memset(p, i & 0xff, SIZE);
    return p;
}

int main(void)
{
    for (int i = 0; i < N; i++)
        blocks[i] = cache_entry(i);
    nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
    for (int i = 0; i < N; i++)
        if (i % KEEP) {
            free(blocks[i]);
            blocks[i] = NULL;
        }
    printf("kept %d of %d blocks of %d bytes\n", N / KEEP, N, SIZE);
    return 0; /* the kept blocks stay reachable through blocks[] */
}
