/* SPDX-License-Identifier: MIT */
/*
 * adv_realloc.c — one inefficiency for `perfshim advise` (docs/tuning.md, rule realloc_growth):
 * append() grows a log line buffer by realloc to the exact length each time, 4000 times, instead
 * of reserving the capacity (or doubling it). Prints how many reallocs grew the block and the
 * mean growth factor (bytes after the reallocs over bytes before), the oracle of
 * integration_advise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define APPENDS 4000
#define PIECE 24

static char *append(char *buf, size_t *len, const char *piece)
{
    size_t n = strlen(piece);
    char *q = realloc(buf, *len + n + 1);
    if (!q)
        return buf;
    memcpy(q + *len, piece, n + 1);
    *len += n;
    return q;
}

int main(void)
{
    size_t len = 0;
    char *buf = NULL; /* the first append allocates it: every block of the chain is append's */
    unsigned long long before = 0, after = 0;
    int grows = 0;
    char piece[PIECE + 1];
    for (int i = 0; i < APPENDS; i++) {
        snprintf(piece, sizeof piece, "%023d", i); /* PIECE - 1 digits and the NUL */
        size_t old = len + 1;                      /* the size of the block, once it exists */
        int had = buf != NULL;
        buf = append(buf, &len, piece);
        if (had) { /* a realloc of a block (not of NULL) that grew it */
            before += old;
            after += len + 1;
            grows++;
        }
    }
    printf("realloc_grows %d mean_factor %.6f length %zu\n", grows, (double)after / (double)before,
           len);
    free(buf);
    return 0;
}
