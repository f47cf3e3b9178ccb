/* SPDX-License-Identifier: MIT */
/*
 * adv_scratch.c — one inefficiency for `perfshim advise` (docs/tuning.md, rule temporaries):
 * checksum_record() allocates a 4 KiB scratch buffer per call and frees it before the thread
 * allocates anything else, 5000 times: heaptrack's "temporary" allocations. Fewer calls than
 * short_lived needs (10000 freed blocks), so the advice comes from the shim's advice counters,
 * not from the lifetimes. Prints the temporaries it made (the oracle of integration_advise).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CALLS 5000
#define SCRATCH 4096

static unsigned checksum_record(int i)
{
    unsigned char *buf = malloc(SCRATCH);
    if (!buf)
        return 0;
    memset(buf, i & 0xff, SCRATCH);
    unsigned h = 0;
    for (int k = 0; k < SCRATCH; k += 64)
        h = h * 31 + buf[k] + (unsigned)k;
    free(buf);
    return h;
}

int main(void)
{
    unsigned h = 0;
    for (int i = 0; i < CALLS; i++)
        h ^= checksum_record(i);
    printf("temporaries %d size %d hash %u\n", CALLS, SCRATCH, h);
    return 0;
}
