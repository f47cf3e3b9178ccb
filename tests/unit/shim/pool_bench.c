/* SPDX-License-Identifier: MIT */
/*
 * pool_bench.c — benchmark driver for the small-object pool (not a test): single-thread
 * small-object churn through ps_pool_malloc/ps_pool_free, called the way interpose.c will
 * call them (an out-of-line malloc/free with the ownership check and the forwarding to glibc),
 * side by side with glibc's malloc/free in the same run. Prints ns per malloc+free pair and
 * the ratio glibc/pool. Times are the best of several repetitions; no assertion.
 *
 *   pool_bench                     all patterns, both allocators, timed
 *   pool_bench ALLOC PATTERN N     one run (ALLOC = pool|glibc, PATTERN = lifo|batch|mixed|
 *                                  inline, the last = pool fast paths inlined), for callgrind:
 *     valgrind --tool=callgrind --toggle-collect='run_*' pool_bench pool lifo 1000000
 *   then instructions per pair = Ir / N (docs/pool.md has the numbers).
 */
#include "pool.h"

#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What an interposed malloc/free does around the pool (minus tracking). */
static __attribute__((noinline)) void *pool_malloc(size_t n)
{
    void *p = ps_pool_malloc(n);
    return p ? p : malloc(n);
}

static __attribute__((noinline)) void pool_free(void *p)
{
    if (ps_pool_owns(p))
        ps_pool_free(p);
    else
        free(p);
}

static __attribute__((noinline)) void *glibc_malloc(size_t n)
{
    return malloc(n);
}

static __attribute__((noinline)) void glibc_free(void *p)
{
    free(p);
}

typedef struct alloc_s {
    void *(*malloc)(size_t);
    void (*free)(void *);
} alloc_t;

static const alloc_t use_pool = {pool_malloc, pool_free};
static const alloc_t use_glibc = {glibc_malloc, glibc_free};

enum { BATCH = 1000, NSIZES = 4096 };
static size_t sizes[NSIZES]; /* 16..1024, mostly small */
static void *slots[BATCH];
void *volatile sink;

/* p = malloc(64); free(p): the pair every allocator's fast path is built for */
static __attribute__((noinline)) void run_lifo(const alloc_t *a, long n)
{
    for (long i = 0; i < n; i++) {
        void *p = a->malloc(64);
        sink = p;
        a->free(p);
    }
}

/* the same with the pool's fast paths inlined into the loop: the pool's own cost (the
 * allocator argument is ignored) */
static __attribute__((noinline)) void run_inline(const alloc_t *a, long n)
{
    (void)a;
    for (long i = 0; i < n; i++) {
        void *p = ps_pool_malloc(64);
        sink = p;
        ps_pool_free(p);
    }
}

/* 1000 mallocs then 1000 frees in allocation order (FIFO): deeper than the caches */
static __attribute__((noinline)) void run_batch(const alloc_t *a, long n)
{
    for (long done = 0; done < n; done += BATCH) {
        for (int i = 0; i < BATCH; i++)
            slots[i] = a->malloc(64);
        for (int i = 0; i < BATCH; i++)
            a->free(slots[i]);
    }
    memset(slots, 0, sizeof slots);
}

/* random sizes, random replacement in a working set of 1000 blocks */
static __attribute__((noinline)) void run_mixed(const alloc_t *a, long n)
{
    uint32_t x = 12345;
    for (long i = 0; i < n; i++) {
        x = x * 1664525u + 1013904223u;
        unsigned k = (x >> 8) % BATCH;
        if (slots[k])
            a->free(slots[k]);
        void *p = a->malloc(sizes[(x >> 4) % NSIZES]);
        *(char *)p = 1;
        slots[k] = p;
    }
    for (int k = 0; k < BATCH; k++) {
        if (slots[k])
            a->free(slots[k]);
        slots[k] = NULL;
    }
}

typedef void (*run_fn)(const alloc_t *, long);

static double best_ns_per_pair(run_fn run, const alloc_t *a, long n)
{
    double best = 1e30;
    run(a, n / 10); /* warm up */
    for (int rep = 0; rep < 7; rep++) {
        uint64_t t0 = ps_os_monotonic_ns();
        run(a, n);
        uint64_t t1 = ps_os_monotonic_ns();
        double ns = (double)(t1 - t0) / (double)n;
        if (ns < best)
            best = ns;
    }
    return best;
}

int main(int argc, char **argv)
{
    uint32_t x = 777;
    for (int i = 0; i < NSIZES; i++) {
        x = x * 1664525u + 1013904223u;
        unsigned r = x >> 8;
        sizes[i] = r % 4 ? 16 + r % 113 : 16 + r % 1009; /* 3/4 up to 128 B, the rest to 1 KiB */
    }
    ps_pool_config_t cfg = {.reserve = (size_t)1 << 30};
    if (ps_pool_init(&cfg) != 0) {
        fprintf(stderr, "pool_bench: ps_pool_init failed\n");
        return 2;
    }
    static const struct {
        const char *name;
        run_fn fn;
    } patterns[] = {
        {"lifo", run_lifo}, {"batch", run_batch}, {"mixed", run_mixed}, {"inline", run_inline}};

    if (argc == 4) {
        const alloc_t *a = strcmp(argv[1], "pool") == 0 ? &use_pool : &use_glibc;
        long n = atol(argv[3]);
        for (size_t i = 0; i < sizeof patterns / sizeof patterns[0]; i++)
            if (strcmp(argv[2], patterns[i].name) == 0) {
                patterns[i].fn(a, n);
                return 0;
            }
        fprintf(stderr, "pool_bench: unknown pattern %s\n", argv[2]);
        return 2;
    }
    long n = 10000000;
    printf("%-8s %12s %12s %8s\n", "pattern", "glibc ns", "pool ns", "ratio");
    for (size_t i = 0; i < 3; i++) { /* "inline" is for callgrind only */
        double g = best_ns_per_pair(patterns[i].fn, &use_glibc, n);
        double p = best_ns_per_pair(patterns[i].fn, &use_pool, n);
        printf("%-8s %12.2f %12.2f %7.2fx\n", patterns[i].name, g, p, g / p);
    }
    return 0;
}
