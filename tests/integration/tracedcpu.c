/* SPDX-License-Identifier: MIT */
/*
 * tracedcpu.c — a program for test_ltrace.py: burns about TRACEDCPU_ROUNDS x 1000 loop turns
 * of CPU with a library call (snprintf, strlen: ltrace breakpoints) every 1000, installs no
 * SIGPROF handler, and prints one line. Under `ltrace` with PERFSHIM_CPU_HZ, the shim's timer
 * signals that arrive while ltrace steps over a breakpoint reach the program as SI_USER from
 * ltrace (test_ltrace.py).
 */
#include <stdio.h>
#include <string.h>

#define TRACEDCPU_ROUNDS 4000

int main(void)
{
    volatile double x = 0;
    char buf[64];
    size_t total = 0;
    for (long r = 0; r < TRACEDCPU_ROUNDS; r++) {
        for (long i = 0; i < 1000; i++)
            x += (double)i * 0.5;
        snprintf(buf, sizeof buf, "%ld", r);
        total += strlen(buf);
    }
    printf("tracedcpu done %zu\n", total);
    return 0;
}
