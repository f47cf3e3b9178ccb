/* SPDX-License-Identifier: MIT */
/*
 * The workload of the analyzer's scale benchmark (tests/bench/scale.py): a fixed sequence of
 * allocations, the same under perfshim and under heaptrack, with many distinct stacks and a
 * snapshot every few requests.
 *
 * Usage: bench-scalegen [STACKS=100000] [ROUNDS=10000] [PER_ROUND=100] [PAUSE_MS=11] [SIZES=256]
 *                       [COLD=100]
 *
 * First every stack 0..STACKS-1 allocates one 32-byte block it keeps, so every stack has a row
 * from then on. Then ROUNDS rounds of PER_ROUND requests, each followed by a pause of PAUSE_MS:
 * run with PERFSHIM_INTERVAL=10ms, the first allocation of each round finds the interval due
 * and writes a snapshot (a SNAPSHOT_PACKED delta; perfshim_dump() would write a whole keyframe
 * each time, 4 MB at 100k stacks), so about one snapshot a round; heaptrack records every
 * event anyway. A request allocates 16..271 bytes at one of 1000 hot stacks or, one time in
 * COLD (100), at any stack, and frees it, except one in 1000 it keeps. The sequence depends only on
 * the arguments (a fixed xorshift seed), not on time: both tools see the same events.
 *
 * SIZES < 256 gives each stack SIZES sizes of its own (16 + (id * 97 + k * 61) % 256, k <
 * SIZES), as a service's call sites have a few sizes each; 256 (the default) draws any of the
 * 256 sizes at every stack, the sequence of the first recordings. heaptrack 1.4's interpreter
 * cannot record the default at thousands of requests: 1000 hot stacks x 256 sizes give 256k
 * (size, trace) pairs whose hashes fall into one narrow range of its robin_set, which then
 * doubles until memory runs out (docs/performance.md, "The service workload").
 *
 * COLD > 100 makes the stacks outside the hot 1000 rarer (a service's cold paths): at tens of
 * millions of requests, one in 100 reaches nearly every (stack, size) pair of the 100k stacks,
 * 400k pairs with 4 sizes, and heaptrack 1.4's interpreter meets the same table growth on them
 * (1.6 GB after 100 s and growing; docs/performance.md, "The busy workload").
 *
 * A stack is the binary spelling of its id over 17 levels of descend(): each level calls the
 * next from one of two call sites (bit 0 or 1), up to 131072 distinct stacks.
 */
#include "bench_util.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define DEPTH 17

static void *descend(uint32_t bits, int left, size_t size);

/* The two call sites of a level are kept apart by different asm bodies (otherwise the compiler
 * may merge them into one call, and the stacks with them). */
__attribute__((noinline)) static void *descend(uint32_t bits, int left, size_t size)
{
    if (left == 0)
        return malloc(size);
    void *p;
    if (bits & 1u) {
        p = descend(bits >> 1, left - 1, size);
        __asm__ volatile("nop" ::: "memory");
    } else {
        p = descend(bits >> 1, left - 1, size);
        __asm__ volatile("nop\n\tnop" ::: "memory");
    }
    return p;
}

static uint64_t state = 0x2545f4914f6cdd1dull;

static uint64_t rnd(void)
{
    return bench_xorshift(&state);
}

int main(int argc, char **argv)
{
    uint32_t stacks = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) : 100000;
    long rounds = argc > 2 ? atol(argv[2]) : 10000;
    long per = argc > 3 ? atol(argv[3]) : 100;
    long pause_ms = argc > 4 ? atol(argv[4]) : 11;
    long sizes = argc > 5 ? atol(argv[5]) : 256;
    long cold = argc > 6 ? atol(argv[6]) : 100;
    if (stacks < 1000 || stacks > (1u << DEPTH) || rounds < 1 || per < 1 || pause_ms < 0 ||
        sizes < 1 || sizes > 256 || cold < 1) {
        fprintf(stderr,
                "usage: %s [STACKS 1000..131072] [ROUNDS] [PER_ROUND] [PAUSE_MS] [SIZES 1..256] "
                "[COLD]\n",
                argv[0]);
        return 2;
    }
    struct timespec pause = {pause_ms / 1000, pause_ms % 1000 * 1000000L};
    for (uint32_t id = 0; id < stacks; id++) {
        char *keep = descend(id, DEPTH, 32);
        if (keep)
            keep[0] = 1;
    }
    long kept = 0;
    for (long s = 0; s < rounds; s++) {
        for (long r = 0; r < per; r++) {
            uint32_t id = (uint32_t)(rnd() % (uint64_t)cold == 0 ? rnd() % stacks : rnd() % 1000);
            size_t size = sizes == 256 ? rnd() % 256 : (id * 97u + rnd() % sizes * 61u) % 256;
            char *p = descend(id, DEPTH, 16 + size);
            if (p)
                p[0] = 2;
            if (rnd() % 1000 == 0)
                kept++;
            else
                free(p);
        }
        nanosleep(&pause, NULL);
    }
    printf("stacks %u rounds %ld requests %ld kept %ld\n", stacks, rounds, rounds * per, kept);
    return 0;
}
