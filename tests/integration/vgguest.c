/* SPDX-License-Identifier: MIT */
/*
 * vgguest.c — a program for test_valgrind.py: run under valgrind with libperfshim.so in
 * LD_PRELOAD. It allocates through every entry of the malloc family (reallocarray included,
 * which valgrind 3.19 does not replace), frees every block with free(), and leaks exactly
 * VG_LEAK_COUNT blocks of VG_LEAK_SIZE bytes, so that valgrind's report (-q) must hold one loss
 * record, "VG_LEAK_COUNT*VG_LEAK_SIZE bytes in VG_LEAK_COUNT blocks are definitely lost", and
 * nothing else.
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VG_LEAK_COUNT 3
#define VG_LEAK_SIZE 40

static void *volatile sink;

int main(void)
{
    for (int i = 0; i < 100; i++) {
        void *a = reallocarray(NULL, (size_t)i + 1, 8);
        a = reallocarray(a, (size_t)i + 2, 16);
        free(a);
        void *b = malloc((size_t)i + 1);
        b = realloc(b, (size_t)i * 3 + 1);
        free(b);
        free(calloc((size_t)i + 1, 4));
        free(aligned_alloc(64, 128));
        free(memalign(32, (size_t)i + 8));
        void *c = NULL;
        if (posix_memalign(&c, 16, (size_t)i + 1) == 0)
            free(c);
        free(strdup("a string"));
    }
    for (int i = 0; i < VG_LEAK_COUNT; i++) {
        char *p = malloc(VG_LEAK_SIZE); /* LEAK:vg */
        memset(p, i, VG_LEAK_SIZE);
        sink = p;
        sink = NULL;
    }
    puts("vgguest done");
    return 0;
}
