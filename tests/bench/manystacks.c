/* SPDX-License-Identifier: MIT */
/*
 * A service with many allocation sites, for the size of PERFSHIM_INTERVAL's snapshots
 * (tests/bench/snapshot_bytes.py). Not a speed workload.
 *
 * Usage: bench-manystacks SECONDS [STACKS=100000] [RATE=20000] [HOT=1000] [TAIL_PERMILLE=10]
 *
 * Every stack id 0..STACKS-1 is a distinct call stack: a walk of 17 levels that calls one of
 * two functions per bit of the id (so up to 131072 stacks). At start each stack allocates one
 * block it keeps (all rows exist from the first snapshot). Then, for SECONDS, about RATE
 * requests per second: each allocates a block at one stack and frees it, at one of HOT hot
 * stacks, or (TAIL_PERMILLE in 1000) at any stack; one request in 1000 keeps its block (a
 * slow leak). So the rows that change between snapshots are the hot ones plus the tail's.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LEVELS 17

static void *walk(uint32_t id, int level, size_t n);

/* Two distinct return addresses per level; the empty asm keeps the calls from being tail calls
 * (a tail call would leave no frame, and every stack would look the same). */
__attribute__((noinline)) static void *step0(uint32_t id, int level, size_t n)
{
    void *p = walk(id, level, n);
    __asm__ volatile("" ::: "memory");
    return p;
}

__attribute__((noinline)) static void *step1(uint32_t id, int level, size_t n)
{
    void *p = walk(id, level, n);
    __asm__ volatile("" ::: "memory");
    return p;
}

__attribute__((noinline)) static void *walk(uint32_t id, int level, size_t n)
{
    void *p;
    if (level == 0)
        p = malloc(n);
    else if (id & 1)
        p = step1(id >> 1, level - 1, n);
    else
        p = step0(id >> 1, level - 1, n);
    __asm__ volatile("" ::: "memory");
    return p;
}

/* The one call site of every walk: the start-up allocations and the requests share stacks. */
__attribute__((noinline)) static char *request(uint32_t id, size_t n)
{
    char *p = walk(id, LEVELS, n);
    __asm__ volatile("" ::: "memory");
    return p;
}

static uint64_t rng = 88172645463325252ull;

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s SECONDS [STACKS] [RATE] [HOT] [TAIL_PERMILLE]\n", argv[0]);
        return 2;
    }
    double seconds = atof(argv[1]);
    uint32_t stacks = argc > 2 ? (uint32_t)atol(argv[2]) : 100000;
    long rate = argc > 3 ? atol(argv[3]) : 20000;
    uint32_t hot = argc > 4 ? (uint32_t)atol(argv[4]) : 1000;
    long tail = argc > 5 ? atol(argv[5]) : 10;
    if (stacks < 1 || stacks > (1u << LEVELS) || hot < 1 || hot > stacks || rate < 1) {
        fprintf(stderr, "bad arguments\n");
        return 2;
    }
    for (uint32_t id = 0; id < stacks; id++) {
        char *p = request(id, 32);
        if (p)
            p[0] = 1; /* kept */
    }
    long requests = 0, leaked = 0;
    double start = now_s();
    while (now_s() - start < seconds) {
        for (int i = 0; i < rate / 100; i++, requests++) {
            uint32_t id = (uint32_t)((long)(next() % 1000) < tail ? next() % stacks : next() % hot);
            char *p = request(id, 16 + (size_t)(next() % 256));
            if (p)
                p[0] = 2;
            if (next() % 1000 == 0)
                leaked++; /* kept */
            else
                free(p);
        }
        struct timespec ts = {0, 10000000}; /* 10 ms: about RATE per second */
        nanosleep(&ts, NULL);
    }
    printf("stacks %u requests %ld leaked %ld\n", stacks, requests, leaked);
    return 0;
}
