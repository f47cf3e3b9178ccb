/* SPDX-License-Identifier: MIT */
/*
 * diffprog.c — one program built twice for `perfshim diff` (tests/integration/test_diff.py):
 * diffprog_a with VARIANT=0, diffprog_b with VARIANT=1. The second build has a function
 * inserted before all the others, so every function of the program moves to another address,
 * and one site changes: grown_site() allocates 1500 blocks instead of 1000 and leaks 2 blocks
 * instead of 1. Every other site is the same, on the same line, in both builds: the diff must
 * match them (no change) and show the change of grown_site alone.
 *
 * With DIFFPROG_SPIN=MS in the environment it also spins for MS milliseconds of CPU time
 * (CPU samples under PERFSHIM_CPU_HZ).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef VARIANT
#define VARIANT 0
#endif

#if VARIANT
/* Inserted code: its size moves every function below it (kept by `used`). */
__attribute__((noinline, used)) static unsigned inserted(unsigned x)
{
    volatile unsigned acc = x;
    for (unsigned i = 0; i < 64; i++) {
        switch ((acc + i) % 8) {
        case 0: acc = acc * 31 + i; break;
        case 1: acc ^= acc >> 3; break;
        case 2: acc += 0x9e3779b9u; break;
        case 3: acc = (acc << 7) | (acc >> 25); break;
        case 4: acc -= i * 17; break;
        case 5: acc *= 0x85ebca6bu; break;
        case 6: acc ^= 0xc2b2ae35u; break;
        default: acc += acc / 3; break;
        }
    }
    return acc;
}
#define GROWN_ALLOCS 1500
#define GROWN_LEAKS 2
#else
#define GROWN_ALLOCS 1000
#define GROWN_LEAKS 1
#endif

static void *volatile sink;

__attribute__((noinline)) static void same_leak(void)
{
    char *p = malloc(100); /* LEAK: same_leak */
    memset(p, 1, 100);
    sink = p;
}

__attribute__((noinline)) static void same_churn(void)
{
    for (int i = 0; i < 800; i++) {
        char *p = malloc(64);
        p[0] = (char)i;
        sink = p;
        free(p);
    }
}

__attribute__((noinline)) static void grown_site(void)
{
    for (int i = 0; i < GROWN_ALLOCS; i++) {
        char *p = malloc(32);
        p[0] = (char)i;
        sink = p;
        free(p);
    }
    for (int i = 0; i < GROWN_LEAKS; i++) {
        char *q = malloc(48); /* LEAK: grown_site */
        memset(q, 2, 48);
        sink = q;
    }
}

static void spin(void)
{
    const char *ms = getenv("DIFFPROG_SPIN");
    if (!ms)
        return;
    double limit = atof(ms) / 1000.0;
    volatile unsigned long x = 0;
    while ((double)clock() / CLOCKS_PER_SEC < limit)
        for (int i = 0; i < 100000; i++)
            x += (unsigned long)i;
}

int main(void)
{
    same_leak();
    same_churn();
    grown_site();
    spin();
    sink = NULL;
    printf("diffprog: variant %d done\n", VARIANT);
    return 0;
}
