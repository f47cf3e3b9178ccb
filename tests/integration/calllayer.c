/* SPDX-License-Identifier: MIT */
/*
 * calllayer.c — malloc/free pairs for test_calllayer.py, which counts with callgrind what the
 * shim adds to each pair (the call layer: docs/performance.md). PAIRS times: malloc of 16..256
 * bytes, a write, free; every 16th pair a calloc instead. Two counts of PAIRS give the cost of
 * one pair without the start and the exit.
 *
 * Usage: calllayer PAIRS
 */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    long pairs = argc > 1 ? atol(argv[1]) : 100000;
    unsigned long sum = 0;
    for (long i = 0; i < pairs; i++) {
        size_t n = 16 + (size_t)(i & 15) * 16;
        unsigned char *p = (i & 15) == 15 ? calloc(1, n) : malloc(n);
        if (!p)
            return 1;
        p[n - 1] = (unsigned char)i;
        sum += p[0] + p[n - 1];
        free(p);
    }
    printf("calllayer: %ld pairs, checksum %lu\n", pairs, sum);
    return 0;
}
