/* SPDX-License-Identifier: MIT */
/*
 * adv_latency.c — one inefficiency for `perfshim advise` (docs/tuning.md, rule alloc_latency, and
 * realloc_growth for its cause): a
 * buffer of 3 MiB is grown to 3.5 MiB by realloc 5,000 times. Mostly it lies next to the top of
 * the heap and grows in place (tens of nanoseconds); one time in 20 another block was just
 * allocated behind it, so realloc must move it and copy 3 MiB (a hundred microseconds or so:
 * memcpy at 30 GB/s, faster than any machine here, still takes 100 us). The realloc calls of that
 * size bin have a slow tail: p99 far above p50. Run with PERFSHIM_LATENCY_SAMPLE=1 (every call
 * timed). With --reserve the advice is applied: the buffer is allocated at its final size, and
 * realloc has nothing to do.
 *
 * mallopt fixes glibc's mmap and trim thresholds (both adapt at run time otherwise), so that
 * these blocks always come from the heap and its top is never given back: the same calls are
 * fast or slow on every run.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROUNDS 5000 /* under short_lived's 10000 blocks: this example has one inefficiency */
#define FIRST (3u << 20)
#define GROWN (7u << 19)     /* 3.5 MiB */
#define BLOCKER (300u << 10) /* above the pool's largest class: from the heap */

int main(int argc, char **argv)
{
    int reserve = argc > 1 && strcmp(argv[1], "--reserve") == 0;
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
    unsigned long sum = 0, moved = 0;
    char *prev = NULL; /* last round's buffer, freed after this round's allocations: the
                          buffers are not temporaries (rule temporaries) */
    for (int r = 0; r < ROUNDS; r++) {
        char *p = malloc(reserve ? GROWN : FIRST);
        char *blocker = r % 20 == 0 ? malloc(BLOCKER) : NULL;
        if (!p)
            return 1;
        p[0] = (char)r;
        char *q = realloc(p, GROWN);
        if (!q)
            return 1;
        moved += q != p;
        q[GROWN - 1] = 1;
        sum += (unsigned char)q[0];
        free(prev);
        prev = q;
        free(blocker);
    }
    free(prev);
    printf("reallocs %d moved %lu reserve %d sum %lu\n", ROUNDS, moved, reserve, sum);
    return 0;
}
