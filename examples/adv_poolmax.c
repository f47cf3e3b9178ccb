/* SPDX-License-Identifier: MIT */
/*
 * adv_poolmax.c — one inefficiency for `perfshim advise` (docs/tuning.md, rule pool.max): run
 * with PERFSHIM_POOL_MAX=128, its 20000 requests of 200 bytes are all above the pool's limit and
 * go to the C library. The advice is PERFSHIM_POOL_MAX=224 (the class of 200-byte requests), and
 * its promised gain, 20000 more pooled allocations, is checked by tests/integration/test_advise.py
 * and tests/bench/advise_gain.py. The blocks live 20 ms, so they are not short-lived.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define N 20000
#define SIZE 200

static char *blocks[N];

static char *make_record(int i)
{
    char *p = malloc(SIZE);
    if (p)
        memset(p, i & 0xff, SIZE);
    return p;
}

int main(void)
{
    for (int i = 0; i < N; i++)
        blocks[i] = make_record(i);
    nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
    long sum = 0;
    for (int i = 0; i < N; i++) {
        sum += blocks[i] ? blocks[i][7] : 0;
        free(blocks[i]);
    }
    printf("allocations %d size %d sum %ld\n", N, SIZE, sum);
    return 0;
}
