/* SPDX-License-Identifier: MIT */
/*
 * dlreload_filler.c — a library of about dlreload_lib.c's size that dlreload.c loads after
 * the plugin's first unload, so that it takes the plugin's old addresses and the plugin's
 * second load lands elsewhere. Its code differs: a frame of the plugin's first load that
 * resolved to it would name filler_* functions.
 */
static volatile unsigned long filler_sink;

/* as dlreload_lib.c's reload_pad: the two libraries span as many pages */
static const unsigned char filler_pad[16384] = {2};

__attribute__((noinline)) void filler_a(unsigned long n)
{
    for (unsigned long i = 0; i < n; i++)
        filler_sink += i * 3 + filler_pad[i % sizeof filler_pad];
}

__attribute__((noinline)) void filler_b(unsigned long n)
{
    for (unsigned long i = 0; i < n; i++)
        filler_sink ^= i + 11;
}

__attribute__((noinline)) void filler_c(unsigned long n)
{
    for (unsigned long i = 0; i < n; i++)
        filler_sink -= i << 2;
}

__attribute__((noinline)) void filler_d(unsigned long n)
{
    for (unsigned long i = 0; i < n; i++)
        filler_sink += i | 5;
}
