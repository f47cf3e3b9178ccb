/* SPDX-License-Identifier: MIT */
/*
 * manystacks.c — a program with many call stacks, for PERFSHIM_MAX_TRACE's pieces when one
 * piece (every stack and a keyframe) is larger than the bound (test_pieces.py).
 *
 * MANY_LEVELS nested calls, each through one of two call sites chosen by a bit of the path
 * number, reach malloc by 2^MANY_LEVELS different stacks. At start it keeps one block of
 * MANY_KEEP_SIZE from every path (LEAK:many_keep); then, for MANY_RUN_MS (or the milliseconds of
 * its first argument), it allocates and frees one block of MANY_CHURN_SIZE by every path in
 * turn, about every millisecond, so that every snapshot changes every row. At the end it prints
 * how many blocks it kept.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "procself.h"

#define MANY_LEVELS 11 /* 2048 paths */
#define MANY_RUN_MS 1500
#define MANY_KEEP_SIZE 88
#define MANY_CHURN_SIZE 24
#define MANY_PATHS (1u << MANY_LEVELS)

static void *kept[MANY_PATHS];
static volatile unsigned sink;

static void *step_a(unsigned path, int level, size_t size);
static void *step_b(unsigned path, int level, size_t size);

/* The bit of this level picks the call site: step_a's or step_b's, so each path number is one
 * stack. The work after each call keeps it from being a tail call (one frame per level). */
static void *next(unsigned path, int level, size_t size)
{
    void *p;
    if (level == MANY_LEVELS) {
        p = malloc(size); /* LEAK:many_keep */
        if (p)
            memset(p, 5, size);
        return p;
    }
    if (path >> level & 1)
        p = step_b(path, level + 1, size);
    else
        p = step_a(path, level + 1, size);
    sink += (unsigned)level;
    return p;
}

__attribute__((noinline)) static void *step_a(unsigned path, int level, size_t size)
{
    void *p = next(path, level, size);
    sink++;
    return p;
}

__attribute__((noinline)) static void *step_b(unsigned path, int level, size_t size)
{
    void *p = next(path, level, size);
    sink += 2;
    return p;
}

int main(int argc, char **argv)
{
    long long run_ms = argc > 1 ? atoll(argv[1]) : MANY_RUN_MS;
    long nkept = 0;
    for (unsigned i = 0; i < MANY_PATHS; i++)
        if ((kept[i] = next(i, 0, MANY_KEEP_SIZE)) != NULL)
            nkept++;
    long long start = now_ms();
    unsigned path = 0;
    while (now_ms() - start < run_ms) {
        for (int k = 0; k < 256; k++, path = (path + 1) % MANY_PATHS)
            free(next(path, 0, MANY_CHURN_SIZE));
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    printf("kept %ld paths %u\n", nkept, MANY_PATHS);
    return 0;
}
