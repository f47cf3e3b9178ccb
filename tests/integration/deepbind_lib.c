/* SPDX-License-Identifier: MIT */
/*
 * deepbind_lib.c — a plugin that tests/integration/deepbind.c loads with RTLD_DEEPBIND, so
 * that its malloc-family calls bind to the C library's definitions rather than to a
 * preloaded allocator's (test_deepbind.py).
 */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

/* Allocates and frees its own block. */
int db_own(size_t n)
{
    unsigned char *p = malloc(n);
    if (!p)
        return -1;
    memset(p, 0x5a, n);
    int ok = p[n - 1] == 0x5a;
    p = realloc(p, n * 3);
    ok = ok && p && p[n - 1] == 0x5a;
    free(p);
    return ok ? 0 : -1;
}

/* A block for the program to free. */
void *db_alloc(size_t n)
{
    void *p = calloc(1, n);
    if (p)
        memset(p, 0x33, n);
    return p;
}

/* Frees (or resizes) a block the program allocated. */
void db_free(void *p)
{
    free(p);
}

void *db_realloc(void *p, size_t n)
{
    return realloc(p, n);
}

size_t db_usable(void *p)
{
    return malloc_usable_size(p);
}

/* strdup runs in the C library, whose malloc is the program's allocator; the free is ours. */
int db_strdup(const char *s)
{
    char *q = strdup(s);
    if (!q)
        return -1;
    int ok = strcmp(q, s) == 0;
    free(q);
    return ok ? 0 : -1;
}

/* Leaks `count` blocks of n bytes. */
void db_leak(int count, size_t n)
{
    static void *volatile keep[64];
    for (int i = 0; i < count && i < 64; i++) {
        keep[i] = malloc(n); /* LEAK:deepbind_lib */
        memset(keep[i], 1, n);
    }
}
