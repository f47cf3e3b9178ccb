/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the benchmark workload programs: a deterministic random number generator,
 * argument parsing and the checksum line every workload prints.
 *
 * Workloads must produce the same checksum under every allocator: a checksum mixes only data
 * values the program wrote, never addresses. The runner compares the checksum of each run with
 * the plain-glibc run to catch a workload that misbehaves under a preloaded allocator.
 */
#ifndef PERFSHIM_BENCH_UTIL_H
#define PERFSHIM_BENCH_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* splitmix64: tiny, fast, good enough to pick sizes and slots. */
static inline uint64_t bench_rng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* xorshift64 (Marsaglia; shifts 13, 7, 17): the stack and size picks of bench-scalegen and
 * bench-manystacks, whose recorded figures (docs/performance.md) depend on its exact sequence. */
static inline uint64_t bench_xorshift(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *state = x;
}

/* Uniform size in [lo, hi]. */
static inline size_t bench_rng_size(uint64_t *state, size_t lo, size_t hi)
{
    return lo + (size_t)(bench_rng_next(state) % (hi - lo + 1));
}

static inline uint64_t bench_mix(uint64_t sum, uint64_t value)
{
    sum ^= value + 0x9E3779B97F4A7C15ULL + (sum << 6) + (sum >> 2);
    return sum;
}

/* Positional argument idx as a positive long, or def when absent. Exits on a bad value. */
static inline long bench_arg_long(int argc, char **argv, int idx, long def)
{
    if (idx >= argc)
        return def;
    char *end = NULL;
    long v = strtol(argv[idx], &end, 10);
    if (end == argv[idx] || *end != '\0' || v <= 0) {
        fprintf(stderr, "%s: argument %d must be a positive integer, got '%s'\n", argv[0], idx,
                argv[idx]);
        exit(2);
    }
    return v;
}

__attribute__((noreturn)) static inline void bench_die(const char *what)
{
    perror(what);
    exit(1);
}

static inline void *bench_xmalloc(size_t n)
{
    void *p = malloc(n);
    if (p == NULL)
        bench_die("malloc");
    return p;
}

#endif /* PERFSHIM_BENCH_UTIL_H */
