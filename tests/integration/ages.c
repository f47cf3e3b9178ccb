/* SPDX-License-Identifier: MIT */
/*
 * ages.c — blocks allocated at known times, for test_ages.py (issue 12, ages):
 *   kept_from_start  40 blocks of 64 bytes at start, never freed;
 *   outlived         200 times, 3 ms apart, a 32-byte block: 1 in 8 kept (25), the others
 *                    freed at once (a site whose live blocks far outlive what it frees: a
 *                    suspect);
 *   freed_later      100 blocks of 128 bytes, freed about 150 ms later;
 *   kept_late        30 blocks of 256 bytes, then 400 ms until exit, never freed.
 * It prints what it did and when (ms since start, its own monotonic clock):
 *   outlived_kept N at_ms T1,T2,...   freed_later min_ms A max_ms B   kept_late at_ms C
 *   exit_ms D
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "procself.h"

static void *volatile sink[512];
static int nsink;

static void keep(void *p)
{
    sink[nsink++ % 512] = p;
}

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

__attribute__((noinline)) static void kept_from_start(void)
{
    for (int i = 0; i < 40; i++)
        keep(malloc(64));
}

__attribute__((noinline)) static void *outlived(void)
{
    return malloc(32);
}

__attribute__((noinline)) static void *freed_later(void)
{
    return malloc(128);
}

__attribute__((noinline)) static void kept_late(void)
{
    for (int i = 0; i < 30; i++)
        keep(malloc(256));
}

int main(void)
{
    long long t0 = now_ms();
    kept_from_start();
    long long kept_at[25];
    int nkept = 0;
    for (int i = 0; i < 200; i++) { /* a count, not a time: a loaded machine sleeps longer */
        void *p = outlived();
        if (i % 8 == 0) {
            keep(p);
            kept_at[nkept++] = now_ms() - t0;
        } else {
            free(p);
        }
        nap_ms(3);
    }
    void *later[100];
    long long born = now_ms();
    for (int i = 0; i < 100; i++)
        later[i] = freed_later();
    nap_ms(150);
    for (int i = 0; i < 100; i++)
        free(later[i]);
    long long lifetime = now_ms() - born;
    long long late = now_ms() - t0;
    kept_late();
    nap_ms(400);
    printf("outlived_kept %d at_ms ", nkept);
    for (int i = 0; i < nkept; i++)
        printf("%s%lld", i ? "," : "", kept_at[i]);
    printf("\nfreed_later min_ms 150 max_ms %lld\nkept_late at_ms %lld\nexit_ms %lld\n", lifetime,
           late, now_ms() - t0);
    return 0;
}
