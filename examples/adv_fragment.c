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

/* A cache filled while loading, then pruned to the entries still wanted. */
struct cache {
    char *entry[N];
    int kept;
} cache;

static void cache_load(struct cache *c)
{
    for (int i = 0; i < N; i++) {
        c->entry[i] = malloc(SIZE);
        if (c->entry[i]) /* written: its pages are resident */
            memset(c->entry[i], i & 0xff, SIZE);
    }
}

static void cache_prune(struct cache *c)
{
    for (int i = 0; i < N; i++) {
        if (i % KEEP == 0) {
            c->kept++;
            continue;
        }
        free(c->entry[i]);
        c->entry[i] = NULL;
    }
}

int main(void)
{
    cache_load(&cache);
    nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL); /* not short-lived blocks */
    cache_prune(&cache);
    printf("kept %d of %d blocks of %d bytes\n", cache.kept, N, SIZE);
    return 0; /* the kept blocks stay reachable through the cache */
}
