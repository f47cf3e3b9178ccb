/* SPDX-License-Identifier: MIT */
/*
 * noleak.c — a leak-free program: allocates and frees, writes only to stderr (unbuffered, so
 * stdio allocates nothing), and exits with the status given as argv[1] (default 0).
 * Tests use it for "no leaks" (--fail-on-leak gives 0) and exit-status propagation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    int status = argc > 1 ? atoi(argv[1]) : 0;
    unsigned sum = 0;
    for (int i = 0; i < 1000; i++) {
        size_t n = 1 + (size_t)(i * 13 % 5000);
        unsigned char *p = malloc(n);
        if (!p)
            return 3;
        memset(p, i, n);
        sum += p[n - 1];
        p = realloc(p, n * 2);
        if (!p)
            return 3;
        free(p);
    }
    fprintf(stderr, "noleak: done (checksum %u), exiting with %d\n", sum, status);
    return status;
}
