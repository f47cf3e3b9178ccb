/* SPDX-License-Identifier: MIT */
/*
 * dlreload_lib.c — the plugin tests/integration/dlreload.c loads twice, at two addresses: the
 * first load burns CPU in reload_burn_first and leaks from reload_leak_first, the second in
 * and from the _second ones (test_dlreload.py expects each load's samples and leaks named
 * with its own functions and this file's lines).
 */
#include <stdlib.h>
#include <string.h>

static volatile unsigned long sink;

/* 16 KiB of read-only data, as dlreload_filler.c has: both span as many pages, so that the
 * filler fills the hole the plugin's first load leaves, its code where the plugin's was */
static const unsigned char reload_pad[16384] = {1};

/* Spins for `rounds` rounds; each function its own loop, so that a sample names it. */
__attribute__((noinline)) void reload_burn_first(unsigned long rounds)
{
    unsigned long x = 1;
    for (unsigned long i = 0; i < rounds; i++) /* BURN:first */
        x = x * 6364136223846793005UL + i;
    sink = x + reload_pad[rounds % sizeof reload_pad];
}

__attribute__((noinline)) void reload_burn_second(unsigned long rounds)
{
    unsigned long x = 3;
    for (unsigned long i = 0; i < rounds; i++) /* BURN:second */
        x = x * 2862933555777941757UL + (i ^ 7);
    sink = x;
}

__attribute__((noinline)) void *reload_leak_first(size_t n)
{
    void *p = malloc(n); /* LEAK:first */
    if (p)
        memset(p, 1, n);
    return p;
}

__attribute__((noinline)) void *reload_leak_second(size_t n)
{
    void *p = malloc(n); /* LEAK:second */
    if (p)
        memset(p, 2, n);
    return p;
}
