/* SPDX-License-Identifier: MIT */
/*
 * growthprog.c — three allocation sites whose growth class is known, for `perfshim growth`
 * (tests/integration/test_growth.py). The program runs --ticks ticks of TICK_MS each, paced on
 * absolute deadlines, and at every tick:
 *   - late_leak():   from tick ticks/2 on, LEAK_PER_TICK blocks of LEAK_BYTES, never freed:
 *                    flat at 0, then a steady leak        -> unbounded;
 *   - cache_fill():  CACHE_LOOKUPS lookups of keys drawn uniformly from CACHE_KEYS keys, a
 *                    block of CACHE_BYTES inserted on each miss, never evicted: the cache fills
 *                    as 1 - e^(-n/keys), 78% full at the end and still filling, ever slower
 *                                                         -> saturating;
 *   - sawtooth():    one block of SAW_BYTES more per tick, all freed every SAW_PERIOD ticks
 *                                                         -> stable.
 * A sawtooth is stable, not bounded: bounded means "grew, then held a plateau"; the sawtooth
 * holds nothing for long (its level drops to zero every period) and its mean over the run has
 * no trend, so it is not a cache that filled, and it never grows for long enough to be a leak.
 * At the end it prints its parameters:
 *   ticks N leak_from F leak_bytes B leak_per_tick K cache_entries E cache_bytes C
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TICK_MS 20
#define LEAK_BYTES 80
#define LEAK_PER_TICK 3
#define CACHE_KEYS 2000
#define CACHE_LOOKUPS 20
#define CACHE_BYTES 128
#define SAW_BYTES 1000
#define SAW_PERIOD 20

static void *cache[CACHE_KEYS];
static unsigned cached;
static void *saw[SAW_PERIOD];
static unsigned nsaw;
static void *volatile sink;
static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t next_key(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % CACHE_KEYS);
}

__attribute__((noinline)) static void late_leak(void)
{
    for (int i = 0; i < LEAK_PER_TICK; i++) {
        char *p = malloc(LEAK_BYTES);
        if (p)
            memset(p, i, LEAK_BYTES);
        sink = p;
    }
}

__attribute__((noinline)) static void cache_fill(void)
{
    for (int i = 0; i < CACHE_LOOKUPS; i++) {
        uint32_t k = next_key();
        if (!cache[k] && (cache[k] = malloc(CACHE_BYTES)) != NULL) {
            memset(cache[k], (int)k, CACHE_BYTES);
            cached++;
        }
    }
}

__attribute__((noinline)) static void sawtooth(void)
{
    if (nsaw == SAW_PERIOD) {
        for (unsigned i = 0; i < nsaw; i++)
            free(saw[i]);
        nsaw = 0;
    }
    saw[nsaw] = malloc(SAW_BYTES);
    if (saw[nsaw])
        memset(saw[nsaw], 1, SAW_BYTES);
    nsaw++;
}

int main(int argc, char **argv)
{
    long ticks = 150;
    if (argc == 3 && strcmp(argv[1], "--ticks") == 0)
        ticks = strtol(argv[2], NULL, 10);
    if (ticks < 4 || argc == 2 || argc > 3) {
        fprintf(stderr, "usage: growthprog [--ticks N (>= 4)]\n");
        return 2;
    }
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    for (long t = 0; t < ticks; t++) {
        if (t >= ticks / 2)
            late_leak();
        cache_fill();
        sawtooth();
        next.tv_nsec += TICK_MS * 1000000L;
        if (next.tv_nsec >= 1000000000L) {
            next.tv_nsec -= 1000000000L;
            next.tv_sec++;
        }
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
    }
    printf("ticks %ld leak_from %ld leak_bytes %d leak_per_tick %d cache_entries %u "
           "cache_bytes %d\n",
           ticks, ticks / 2, LEAK_BYTES, LEAK_PER_TICK, cached, CACHE_BYTES);
    return 0;
}
