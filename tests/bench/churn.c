/* SPDX-License-Identifier: MIT */
/*
 * Small-object churn: the allocation pattern of most C/C++ programs, and the case where a
 * tracking preload pays the most per byte. Each thread works alone on its own working set.
 *
 * Usage: bench-churn ITERATIONS [THREADS=1] [SLOTS=4096]
 *
 * Per iteration a thread does one of:
 *   - a temporary block (allocated, touched, freed at once)          ~ 2/8
 *   - replace a random slot of a ring of SLOTS live blocks           ~ 5/8 (1/32 of them realloc)
 *   - rarely replace one of 256 long-lived blocks                    ~ 1/128
 * Sizes are uniform in 8..512 (calloc for 1 in 16). Blocks live from one iteration to (rarely) the
 * whole run.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"

#define CHURN_MIN_SIZE 8
#define CHURN_MAX_SIZE 512
#define CHURN_LONG_SLOTS 256

/* A live block and its requested size (kept outside the block: blocks may be only 8 bytes). The
 * block's first 8 bytes hold a tag, its last byte a copy of the tag's low byte. */
typedef struct churn_slot {
    uint64_t *block;
    size_t size;
} churn_slot_t;

typedef struct churn_thread {
    pthread_t thread;
    long iterations;
    long slots;
    uint64_t seed;
    uint64_t checksum; /* out */
} churn_thread_t;

static churn_slot_t churn_alloc(uint64_t *rng, uint64_t tag)
{
    churn_slot_t s;
    s.size = bench_rng_size(rng, CHURN_MIN_SIZE, CHURN_MAX_SIZE);
    s.block = (tag & 15) == 0 ? calloc(1, s.size) : malloc(s.size);
    if (s.block == NULL)
        bench_die("malloc");
    s.block[0] = tag;
    ((unsigned char *)s.block)[s.size - 1] = (unsigned char)tag;
    return s;
}

static uint64_t churn_release(churn_slot_t s)
{
    uint64_t v = s.block[0] ^ ((unsigned char *)s.block)[s.size - 1] ^ s.size;
    free(s.block);
    return v;
}

static void *churn_run(void *arg)
{
    churn_thread_t *t = arg;
    uint64_t rng = t->seed;
    uint64_t sum = 0;
    churn_slot_t *ring = bench_xmalloc((size_t)t->slots * sizeof(*ring));
    churn_slot_t longlived[CHURN_LONG_SLOTS];

    for (long i = 0; i < t->slots; i++)
        ring[i] = churn_alloc(&rng, (uint64_t)i);
    for (int i = 0; i < CHURN_LONG_SLOTS; i++)
        longlived[i] = churn_alloc(&rng, (uint64_t)i << 32);

    for (long i = 0; i < t->iterations; i++) {
        uint64_t r = bench_rng_next(&rng);
        unsigned kind = (unsigned)(r & 7);
        if (kind < 2 || (kind == 7 && ((r >> 3) & 15) != 0)) {
            sum = bench_mix(sum, churn_release(churn_alloc(&rng, (uint64_t)i)));
        } else if (kind == 7) {
            size_t k = (size_t)((r >> 8) % CHURN_LONG_SLOTS);
            sum = bench_mix(sum, churn_release(longlived[k]));
            longlived[k] = churn_alloc(&rng, (uint64_t)i);
        } else {
            size_t k = (size_t)((r >> 8) % (uint64_t)t->slots);
            if (((r >> 40) & 31) == 0) {
                /* Grow or shrink in place: exercises realloc with a live block. */
                size_t size = bench_rng_size(&rng, CHURN_MIN_SIZE, CHURN_MAX_SIZE);
                uint64_t *b = realloc(ring[k].block, size);
                if (b == NULL)
                    bench_die("realloc");
                ((unsigned char *)b)[size - 1] = (unsigned char)b[0];
                ring[k].block = b;
                ring[k].size = size;
            } else {
                sum = bench_mix(sum, churn_release(ring[k]));
                ring[k] = churn_alloc(&rng, (uint64_t)i);
            }
        }
    }

    for (long i = 0; i < t->slots; i++)
        sum = bench_mix(sum, churn_release(ring[i]));
    for (int i = 0; i < CHURN_LONG_SLOTS; i++)
        sum = bench_mix(sum, churn_release(longlived[i]));
    free(ring);
    t->checksum = sum;
    return NULL;
}

int main(int argc, char **argv)
{
    long iterations = bench_arg_long(argc, argv, 1, 1000000);
    long nthreads = bench_arg_long(argc, argv, 2, 1);
    long slots = bench_arg_long(argc, argv, 3, 4096);
    churn_thread_t *threads = calloc((size_t)nthreads, sizeof(*threads));
    if (threads == NULL)
        bench_die("calloc");

    for (long i = 0; i < nthreads; i++) {
        threads[i].iterations = iterations;
        threads[i].slots = slots;
        threads[i].seed = 0x5EED0000ULL + (uint64_t)i;
    }
    if (nthreads == 1) {
        churn_run(&threads[0]);
    } else {
        for (long i = 0; i < nthreads; i++)
            if (pthread_create(&threads[i].thread, NULL, churn_run, &threads[i]) != 0)
                bench_die("pthread_create");
        for (long i = 0; i < nthreads; i++)
            pthread_join(threads[i].thread, NULL);
    }

    uint64_t sum = 0;
    for (long i = 0; i < nthreads; i++)
        sum = bench_mix(sum, threads[i].checksum);
    printf("churn threads=%ld iterations=%ld slots=%ld checksum=%016llx\n", nthreads, iterations,
           slots, (unsigned long long)sum);
    free(threads);
    return 0;
}
