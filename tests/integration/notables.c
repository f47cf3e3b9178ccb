/* SPDX-License-Identifier: MIT */
/*
 * notables.c — a program for test_notables.py, built there by tcc (the Tiny C Compiler), whose
 * executables have no .eh_frame_hdr: no unwind table covers any of their code, `_start`
 * included. The shim's walker steps such frames by frame pointer and must end the stack where
 * `_start` cleared rbp, not hand it to libunwind (which crashes on these programs).
 * Not built by CMake: the test compiles it with tcc, or is skipped.
 */
#include <stdio.h>
#include <stdlib.h>

#define NT_KEPT 40  /* blocks leak_here leaks */
#define NT_SIZE 200 /* bytes each */

static void *keep[NT_KEPT];

/* NT_KEPT blocks of NT_SIZE leaked (their only pointers dropped), as many freed */
void leak_here(int round)
{
    for (int i = 0; i < 2 * NT_KEPT; i++) {
        char *p = malloc(NT_SIZE);
        p[0] = (char)i;
        if (i % 2)
            free(p);
        else
            keep[i / 2] = p;
    }
    if (round == 0)
        for (int i = 0; i < NT_KEPT; i++)
            keep[i] = NULL;
}

long spin(long n)
{
    long s = 0;
    for (long i = 0; i < n; i++)
        s += i % 7;
    return s;
}

int main(void)
{
    leak_here(0);
    long s = spin(20000000);
    leak_here(1);
    for (int i = 0; i < NT_KEPT; i++)
        free(keep[i]);
    printf("notables: ok %ld\n", s);
    return 0;
}
