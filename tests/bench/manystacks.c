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
#include "bench_util.h"

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
    return bench_xorshift(&rng);
}

static uint32_t stacks, hot, setup; /* setup: ids allocated once and kept so far */
static long rate, tail, requests, leaked, batch;

/* The next stack id and size: a start-up allocation (until every id was used once) or a
 * request. Returns 1 for a start-up allocation. */
__attribute__((noinline)) static int pick(uint32_t *id, size_t *n)
{
    if (setup < stacks) {
        *id = setup++;
        *n = 32;
        return 1;
    }
    *id = (uint32_t)((long)(next() % 1000) < tail ? next() % stacks : next() % hot);
    *n = 16 + (size_t)(next() % 256);
    return 0;
}

/* One request, or one start-up allocation that is kept, through a single call site of
 * request() with no branch before it: the compiler made two copies of a call that followed a
 * branch (main's loop split in a start-up and a request copy, then a tail duplicated), and two
 * call sites are two stacks per id. */
__attribute__((noinline)) static void one_request(void)
{
    uint32_t id;
    size_t n;
    int init = pick(&id, &n);
    char *p = request(id, n);
    __asm__ volatile("" ::: "memory");
    if (p)
        p[0] = 1;
    if (init)
        return; /* kept */
    requests++;
    if (next() % 1000 == 0)
        leaked++; /* kept */
    else
        free(p);
    if (++batch == rate / 100) {
        batch = 0;
        struct timespec ts = {0, 10000000}; /* 10 ms: about RATE per second */
        nanosleep(&ts, NULL);
    }
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
    stacks = argc > 2 ? (uint32_t)atol(argv[2]) : 100000;
    rate = argc > 3 ? atol(argv[3]) : 20000;
    hot = argc > 4 ? (uint32_t)atol(argv[4]) : 1000;
    tail = argc > 5 ? atol(argv[5]) : 10;
    if (stacks < 1 || stacks > (1u << LEVELS) || hot < 1 || hot > stacks || rate < 100) {
        fprintf(stderr, "bad arguments\n");
        return 2;
    }
    double start = 0; /* when the requests began */
    while (setup < stacks || start == 0 || now_s() - start < seconds) {
        if (setup == stacks && start == 0)
            start = now_s();
        one_request();
    }
    printf("stacks %u requests %ld leaked %ld\n", stacks, requests, leaked);
    return 0;
}
