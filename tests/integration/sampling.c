/* SPDX-License-Identifier: MIT */
/*
 * sampling.c — a fixed, deterministic workload for PERFSHIM_SAMPLE's accuracy test
 * (test_sampling.py): sites of different sizes and counts, each in its own function so that
 * the report names it. Sizes straddle the test's mean interval (4096 bytes): far below it,
 * near it, above it (always sampled, exact), and a churn site whose blocks are all freed (its
 * live figures must come out exactly 0: a free subtracts what its allocation added).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SITE_SMALL_N 400000 /* 48 bytes each, kept */
#define SITE_SMALL_SIZE 48
#define SITE_MEDIUM_N 8000 /* 1500 bytes each, kept */
#define SITE_MEDIUM_SIZE 1500
#define SITE_NEAR_N 2000 /* 3000 bytes each, kept */
#define SITE_NEAR_SIZE 3000
#define SITE_BIG_N 64 /* 100000 bytes each (pooled, above the mean): kept */
#define SITE_BIG_SIZE 100000
#define SITE_HUGE_N 4 /* 1 MiB each (from the C library), kept */
#define SITE_HUGE_SIZE 1048576
#define SITE_CHURN_N 400000 /* 200 bytes each, freed at once */
#define SITE_CHURN_SIZE 200
#define SITE_GROW_N 20000 /* realloc'ed from 16 to 2048 bytes in steps, then kept */

static void
    *sink[SITE_SMALL_N + SITE_MEDIUM_N + SITE_NEAR_N + SITE_BIG_N + SITE_HUGE_N + SITE_GROW_N];
static size_t nsink;

static void keep(void *p)
{
    if (!p) {
        fputs("out of memory\n", stderr);
        exit(1);
    }
    memset(p, 1, 16);
    sink[nsink++] = p;
}

__attribute__((noinline)) static void site_small(void)
{
    for (int i = 0; i < SITE_SMALL_N; i++)
        keep(malloc(SITE_SMALL_SIZE));
}

__attribute__((noinline)) static void site_medium(void)
{
    for (int i = 0; i < SITE_MEDIUM_N; i++)
        keep(calloc(1, SITE_MEDIUM_SIZE));
}

__attribute__((noinline)) static void site_near(void)
{
    for (int i = 0; i < SITE_NEAR_N; i++)
        keep(malloc(SITE_NEAR_SIZE));
}

__attribute__((noinline)) static void site_big(void)
{
    for (int i = 0; i < SITE_BIG_N; i++)
        keep(malloc(SITE_BIG_SIZE));
}

__attribute__((noinline)) static void site_huge(void)
{
    for (int i = 0; i < SITE_HUGE_N; i++)
        keep(malloc(SITE_HUGE_SIZE));
}

__attribute__((noinline)) static void site_churn(void)
{
    for (int i = 0; i < SITE_CHURN_N; i++) {
        char *volatile p = malloc(SITE_CHURN_SIZE);
        if (p)
            p[0] = 1;
        free(p);
    }
}

__attribute__((noinline)) static void site_grow(void)
{
    for (int i = 0; i < SITE_GROW_N; i++) {
        char *p = NULL;
        for (size_t n = 16; n <= 2048; n *= 2) {
            char *q = realloc(p, n);
            if (!q) {
                free(p);
                exit(1);
            }
            p = q;
        }
        keep(p);
    }
}

int main(void)
{
    site_small();
    site_churn();
    site_medium();
    site_near();
    site_big();
    site_huge();
    site_grow();
    printf("kept %zu blocks\n", nsink);
    return 0;
}
