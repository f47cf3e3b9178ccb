/* SPDX-License-Identifier: MIT */
/*
 * Lock-heavy program: THREADS threads take one pthread mutex around a shared counter and a small
 * critical section (a few updates of a shared table), with a little private work between
 * acquisitions. No allocation in the loop: this measures what a preload costs on the
 * pthread_mutex_* path (perfshim's lock timing interposes it) and how contention behaves.
 *
 * Usage: bench-lockheavy ITERATIONS [THREADS=2] [WORK=20]
 *   ITERATIONS lock/unlock pairs per thread; WORK rounds of private work between them.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench_util.h"

#define LH_TABLE 16

typedef struct lh_shared {
    pthread_mutex_t lock;
    uint64_t counter;         /* lock acquisitions, protected by lock */
    uint64_t table[LH_TABLE]; /* sums, protected by lock */
    long iterations;
    long work;
} lh_shared_t;

typedef struct lh_thread {
    pthread_t thread;
    lh_shared_t *shared;
    uint64_t seed;
    uint64_t private_sum; /* out: private work result */
} lh_thread_t;

static void *lh_run(void *arg)
{
    lh_thread_t *t = arg;
    lh_shared_t *s = t->shared;
    uint64_t rng = t->seed;
    uint64_t local = 0;
    for (long i = 0; i < s->iterations; i++) {
        uint64_t r = bench_rng_next(&rng);
        pthread_mutex_lock(&s->lock);
        s->counter++;
        s->table[r % LH_TABLE] += r >> 32;
        s->table[(r >> 8) % LH_TABLE] += 1;
        pthread_mutex_unlock(&s->lock);
        for (long w = 0; w < s->work; w++)
            local = bench_mix(local, bench_rng_next(&rng));
    }
    t->private_sum = local;
    return NULL;
}

int main(int argc, char **argv)
{
    lh_shared_t s = {.lock = PTHREAD_MUTEX_INITIALIZER};
    s.iterations = bench_arg_long(argc, argv, 1, 1000000);
    long nthreads = bench_arg_long(argc, argv, 2, 2);
    s.work = bench_arg_long(argc, argv, 3, 20);
    lh_thread_t *threads = calloc((size_t)nthreads, sizeof(*threads));
    if (threads == NULL)
        bench_die("calloc");

    for (long i = 0; i < nthreads; i++) {
        threads[i].shared = &s;
        threads[i].seed = 0x10CCULL + (uint64_t)i;
        if (pthread_create(&threads[i].thread, NULL, lh_run, &threads[i]) != 0)
            bench_die("pthread_create");
    }
    uint64_t sum = 0;
    for (long i = 0; i < nthreads; i++) {
        pthread_join(threads[i].thread, NULL);
        sum = bench_mix(sum, threads[i].private_sum);
    }
    /* Additions commute: the table is the same whatever order the threads ran in. */
    sum = bench_mix(sum, s.counter);
    for (int i = 0; i < LH_TABLE; i++)
        sum = bench_mix(sum, s.table[i]);
    printf("lockheavy threads=%ld iterations=%ld work=%ld counter=%llu checksum=%016llx\n",
           nthreads, s.iterations, s.work, (unsigned long long)s.counter, (unsigned long long)sum);
    free(threads);
    return 0;
}
