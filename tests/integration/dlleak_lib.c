/* SPDX-License-Identifier: MIT */
/*
 * dlleak_lib.c — a plugin that leaks (tests/integration/dlleak.c loads it, calls it and
 * dlclose()s it before exit; test_dlclose.py expects its leak named with this file's lines).
 */
#include <stdlib.h>
#include <string.h>

__attribute__((noinline)) static void *dlleak_block(size_t n, int fill)
{
    void *p = malloc(n); /* LEAK:dl_lib */
    if (p)
        memset(p, fill, n);
    return p;
}

/* Leaks `count` blocks of `size` bytes; returns a checksum so the calls are not optimized out. */
unsigned long dlleak_make(int count, size_t size)
{
    unsigned long sum = 0;
    for (int i = 0; i < count; i++) {
        unsigned char *p = dlleak_block(size, i + 1);
        sum += p ? p[size - 1] : 0;
    }
    void *q = malloc(size * 2); /* NOLEAK:dl_lib_freed */
    free(q);
    return sum;
}
