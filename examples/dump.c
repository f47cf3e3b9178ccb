/* SPDX-License-Identifier: MIT */
/*
 * dump.c — perfshim_dump() from <perfshim.h>: a snapshot in the middle of a run.
 *
 * Phase 1 allocates DUMP_PHASE1_COUNT blocks of DUMP_PHASE1_SIZE (LEAK:dump_phase1 — live at
 * the dump), then calls perfshim_dump(). Phase 2 frees all of them and allocates
 * DUMP_PHASE2_COUNT blocks of DUMP_PHASE2_SIZE (LEAK:dump_phase2) that are never freed.
 * So the DUMP snapshot shows only phase 1 live; the exit snapshot only phase 2.
 * The program prints perfshim_dump()'s return value: 0 under the shim, -1 without it
 * (the header's inline wrapper is safe when the shim is not loaded).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "perfshim.h"

#define DUMP_PHASE1_COUNT 6
#define DUMP_PHASE1_SIZE 250
#define DUMP_PHASE2_COUNT 2
#define DUMP_PHASE2_SIZE 4000

static void *phase1[DUMP_PHASE1_COUNT];
void *volatile dump_keep[DUMP_PHASE2_COUNT];

__attribute__((noinline)) static void *phase1_alloc(void)
{
    char *p = malloc(DUMP_PHASE1_SIZE); /* LEAK:dump_phase1 */
    if (p)
        memset(p, 1, DUMP_PHASE1_SIZE);
    return p;
}

__attribute__((noinline)) static void *phase2_alloc(void)
{
    char *p = malloc(DUMP_PHASE2_SIZE); /* LEAK:dump_phase2 */
    if (p)
        memset(p, 2, DUMP_PHASE2_SIZE);
    return p;
}

int main(void)
{
    for (int i = 0; i < DUMP_PHASE1_COUNT; i++)
        phase1[i] = phase1_alloc();
    int rc = perfshim_dump();
    fprintf(stderr, "dump: perfshim_dump() returned %d\n", rc);
    for (int i = 0; i < DUMP_PHASE1_COUNT; i++)
        free(phase1[i]);
    for (int i = 0; i < DUMP_PHASE2_COUNT; i++)
        dump_keep[i] = phase2_alloc();
    return 0;
}
