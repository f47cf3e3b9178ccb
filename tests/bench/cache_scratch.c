/* SPDX-License-Identifier: MIT */
/*
 * Cache-scratch (after Berger et al., Hoard, 2000): passive false sharing. The main thread
 * allocates one small object per thread back to back, so they likely share a cache line; each
 * thread frees its object and then repeatedly allocates an object of the same size, writes it
 * many times and frees it. An allocator that hands the freed neighbour back to the thread that
 * freed it makes the threads write to the same cache line; one with per-thread pages does not.
 *
 * Usage: bench-cache-scratch ITERATIONS [THREADS=2] [OBJSIZE=8] [WRITES=200]
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench_util.h"

typedef struct cs_thread {
    pthread_t thread;
    char *initial; /* allocated by the main thread, freed by this one */
    long iterations;
    long objsize;
    long writes;
    uint64_t checksum; /* out */
} cs_thread_t;

static void *cs_run(void *arg)
{
    cs_thread_t *t = arg;
    uint64_t sum = 0;
    free(t->initial);
    for (long i = 0; i < t->iterations; i++) {
        volatile char *obj = bench_xmalloc((size_t)t->objsize);
        for (long w = 0; w < t->writes; w++)
            for (long b = 0; b < t->objsize; b++)
                obj[b] = (char)(i + w + b);
        sum += (unsigned char)obj[t->objsize - 1];
        free((void *)obj);
    }
    t->checksum = sum;
    return NULL;
}

int main(int argc, char **argv)
{
    long iterations = bench_arg_long(argc, argv, 1, 100000);
    long nthreads = bench_arg_long(argc, argv, 2, 2);
    long objsize = bench_arg_long(argc, argv, 3, 8);
    long writes = bench_arg_long(argc, argv, 4, 200);
    cs_thread_t *threads = calloc((size_t)nthreads, sizeof(*threads));
    if (threads == NULL)
        bench_die("calloc");

    for (long i = 0; i < nthreads; i++) {
        threads[i].initial = calloc(1, (size_t)objsize);
        if (threads[i].initial == NULL)
            bench_die("calloc");
        threads[i].iterations = iterations;
        threads[i].objsize = objsize;
        threads[i].writes = writes;
    }
    for (long i = 0; i < nthreads; i++)
        if (pthread_create(&threads[i].thread, NULL, cs_run, &threads[i]) != 0)
            bench_die("pthread_create");
    for (long i = 0; i < nthreads; i++)
        pthread_join(threads[i].thread, NULL);

    uint64_t sum = 0;
    for (long i = 0; i < nthreads; i++)
        sum = bench_mix(sum, threads[i].checksum);
    printf("cache-scratch threads=%ld iterations=%ld objsize=%ld writes=%ld checksum=%016llx\n",
           nthreads, iterations, objsize, writes, (unsigned long long)sum);
    free(threads);
    return 0;
}
