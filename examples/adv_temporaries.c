/* SPDX-License-Identifier: MIT */
/*
 * adv_temporaries.c — one inefficiency for `perfshim advise` (docs/tuning.md, rule short_lived):
 * format_line() allocates a 256-byte scratch buffer per call and frees it before returning,
 * 50000 times. With --reuse the advice is applied (one buffer for every call): the allocations
 * it saves are compared with the gain the advice predicted by tests/integration/test_advise.py
 * and tests/bench/advise_gain.py.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CALLS 50000
#define SCRATCH 256

static unsigned format_line(int i, char *reuse)
{
    char *buf = reuse ? reuse : malloc(SCRATCH);
    if (!buf)
        return 0;
    int n = snprintf(buf, SCRATCH, "line %d: %x %o", i, (unsigned)i * 2654435761u, (unsigned)i);
    unsigned h = 0;
    for (int k = 0; k < n; k++)
        h = h * 31 + (unsigned char)buf[k];
    if (!reuse)
        free(buf);
    return h;
}

int main(int argc, char **argv)
{
    int reuse = argc > 1 && strcmp(argv[1], "--reuse") == 0;
    char *scratch = reuse ? malloc(SCRATCH) : NULL;
    unsigned h = 0;
    for (int i = 0; i < CALLS; i++)
        h ^= format_line(i, scratch);
    free(scratch);
    printf("calls %d reuse %d hash %u\n", CALLS, reuse, h);
    return 0;
}
