/* SPDX-License-Identifier: MIT */
/*
 * Larson-like server simulation (after Larson & Krishnan, "Memory allocation for long-running
 * server applications", 1998). Each of THREADS arrays of SLOTS live blocks is worked on by a
 * short-lived thread per round; the next round's threads take the arrays rotated by one, so most
 * frees release blocks allocated by a thread that has already exited. This stresses remote frees
 * and the teardown/adoption of per-thread allocator state.
 *
 * Usage: bench-larson ITERATIONS [THREADS=2] [ROUNDS=40] [SLOTS=2000]
 *   ITERATIONS is the number of replace operations per thread over the whole run.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench_util.h"

/* A live block (first 8 bytes: a tag; last byte: the tag's low byte) and its requested size. */
typedef struct larson_slot {
    uint64_t *block;
    size_t size;
} larson_slot_t;

typedef struct larson_array {
    larson_slot_t *slots;
    uint64_t rng;      /* stays with the array so the run is deterministic */
    uint64_t checksum; /* accumulated over all rounds */
} larson_array_t;

typedef struct larson_task {
    larson_array_t *array;
    long slots;
    long ops;
    long round;
} larson_task_t;

static larson_slot_t larson_alloc(uint64_t *rng, uint64_t tag)
{
    larson_slot_t s;
    s.size = bench_rng_size(rng, 8, 512);
    s.block = bench_xmalloc(s.size);
    s.block[0] = tag;
    ((unsigned char *)s.block)[s.size - 1] = (unsigned char)tag;
    return s;
}

static uint64_t larson_release(larson_slot_t s)
{
    uint64_t v = s.block[0] ^ s.size ^ ((unsigned char *)s.block)[s.size - 1];
    free(s.block);
    return v;
}

static void *larson_run(void *arg)
{
    larson_task_t *t = arg;
    larson_array_t *a = t->array;
    for (long i = 0; i < t->ops; i++) {
        size_t k = (size_t)(bench_rng_next(&a->rng) % (uint64_t)t->slots);
        a->checksum = bench_mix(a->checksum, larson_release(a->slots[k]));
        a->slots[k] = larson_alloc(&a->rng, ((uint64_t)t->round << 32) | (uint64_t)i);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    long iterations = bench_arg_long(argc, argv, 1, 1000000);
    long nthreads = bench_arg_long(argc, argv, 2, 2);
    long rounds = bench_arg_long(argc, argv, 3, 40);
    long slots = bench_arg_long(argc, argv, 4, 2000);
    larson_array_t *arrays = calloc((size_t)nthreads, sizeof(*arrays));
    larson_task_t *tasks = calloc((size_t)nthreads, sizeof(*tasks));
    pthread_t *threads = calloc((size_t)nthreads, sizeof(*threads));
    if (arrays == NULL || tasks == NULL || threads == NULL)
        bench_die("calloc");

    for (long t = 0; t < nthreads; t++) {
        arrays[t].rng = 0x1A2503ULL + (uint64_t)t;
        arrays[t].slots = bench_xmalloc((size_t)slots * sizeof(*arrays[t].slots));
        for (long k = 0; k < slots; k++)
            arrays[t].slots[k] = larson_alloc(&arrays[t].rng, (uint64_t)k);
    }

    for (long r = 0; r < rounds; r++) {
        for (long t = 0; t < nthreads; t++) {
            tasks[t].array = &arrays[(t + r) % nthreads];
            tasks[t].slots = slots;
            tasks[t].ops = iterations / rounds;
            tasks[t].round = r;
            if (pthread_create(&threads[t], NULL, larson_run, &tasks[t]) != 0)
                bench_die("pthread_create");
        }
        for (long t = 0; t < nthreads; t++)
            pthread_join(threads[t], NULL);
    }

    uint64_t sum = 0;
    for (long t = 0; t < nthreads; t++) {
        for (long k = 0; k < slots; k++)
            arrays[t].checksum = bench_mix(arrays[t].checksum, larson_release(arrays[t].slots[k]));
        free(arrays[t].slots);
        sum = bench_mix(sum, arrays[t].checksum);
    }
    printf("larson threads=%ld rounds=%ld iterations=%ld slots=%ld checksum=%016llx\n", nthreads,
           rounds, iterations, slots, (unsigned long long)sum);
    free(arrays);
    free(tasks);
    free(threads);
    return 0;
}
