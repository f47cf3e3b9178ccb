/* SPDX-License-Identifier: MIT */
/*
 * deepbind.c — a program that loads tests/integration/deepbind_lib.c with RTLD_DEEPBIND and
 * passes blocks across (test_deepbind.py). Each argument after LIB names one case, run in
 * order; each prints "deepbind: CASE ok" on stderr when its checks passed:
 *
 *   own       the library allocates, resizes and frees its own block
 *   foreign   the program frees a block the library allocated
 *   give      the library frees a block the program allocated (small: from perfshim's pool)
 *   realloc   the library resizes a block the program allocated, the program frees it
 *   usable    the library asks malloc_usable_size of a program block
 *   strdup    the library strdup()s (the C library allocates) and frees the copy itself
 *   leak      the library leaks DEEPBIND_LEAKS blocks of DEEPBIND_SIZE (LEAK:deepbind_lib)
 *
 * DEEPBIND_LAZY=1 in the environment loads it RTLD_LAZY instead of RTLD_NOW.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEEPBIND_LEAKS 3
#define DEEPBIND_SIZE 48

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    const char *lazy = getenv("DEEPBIND_LAZY");
    int bind = lazy && *lazy == '1' ? RTLD_LAZY : RTLD_NOW;
    void *h = dlopen(argv[1], bind | RTLD_LOCAL | RTLD_DEEPBIND);
    if (!h) {
        fprintf(stderr, "deepbind: dlopen: %s\n", dlerror());
        return 1;
    }
    int (*own)(size_t) = (int (*)(size_t))dlsym(h, "db_own");
    void *(*alloc)(size_t) = (void *(*)(size_t))dlsym(h, "db_alloc");
    void (*lfree)(void *) = (void (*)(void *))dlsym(h, "db_free");
    void *(*lrealloc)(void *, size_t) = (void *(*)(void *, size_t))dlsym(h, "db_realloc");
    size_t (*usable)(void *) = (size_t(*)(void *))dlsym(h, "db_usable");
    int (*dup)(const char *) = (int (*)(const char *))dlsym(h, "db_strdup");
    void (*leak)(int, size_t) = (void (*)(int, size_t))dlsym(h, "db_leak");
    if (!own || !alloc || !lfree || !lrealloc || !usable || !dup || !leak) {
        fprintf(stderr, "deepbind: dlsym failed\n");
        return 1;
    }
    for (int i = 2; i < argc; i++) {
        const char *c = argv[i];
        int ok = 1;
        if (strcmp(c, "own") == 0) {
            for (size_t n = 8; n < 70000; n = n * 3 + 1)
                ok = ok && own(n) == 0;
        } else if (strcmp(c, "foreign") == 0) {
            for (size_t n = 8; n < 70000; n = n * 3 + 1) {
                unsigned char *p = alloc(n);
                ok = ok && p && p[n - 1] == 0x33;
                free(p);
            }
        } else if (strcmp(c, "give") == 0) {
            for (size_t n = 8; n < 70000; n = n * 3 + 1) {
                char *p = malloc(n);
                memset(p, 7, n);
                lfree(p);
            }
        } else if (strcmp(c, "realloc") == 0) {
            for (size_t n = 8; n < 70000; n = n * 3 + 1) {
                unsigned char *p = malloc(n);
                memset(p, 9, n);
                p = lrealloc(p, n * 2 + 5);
                ok = ok && p && p[n - 1] == 9;
                free(p);
            }
        } else if (strcmp(c, "usable") == 0) {
            for (size_t n = 8; n < 70000; n = n * 3 + 1) {
                void *p = malloc(n);
                ok = ok && usable(p) >= n;
                free(p);
            }
        } else if (strcmp(c, "strdup") == 0) {
            ok = dup("a string the C library copies") == 0;
        } else if (strcmp(c, "leak") == 0) {
            leak(DEEPBIND_LEAKS, DEEPBIND_SIZE);
        } else {
            fprintf(stderr, "deepbind: unknown case %s\n", c);
            return 2;
        }
        fprintf(stderr, "deepbind: %s %s\n", c, ok ? "ok" : "FAILED");
        if (!ok)
            return 1;
    }
    return 0;
}
