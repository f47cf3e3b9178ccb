/* SPDX-License-Identifier: MIT */
/*
 * main.c — the perfshim executable. Everything lives in cli.c; this is the only place that turns
 * a result into the process exit status.
 */
#include "cli.h"

#include <malloc.h>

int main(int argc, char **argv)
{
    /* A fixed threshold: every array of 1 MiB or more is its own mapping, given back to the
     * system when freed (a chunk's payload, the hash indexes freed after loading or grouping).
     * glibc's default raises the threshold to the size of each such block freed, so the blocks
     * after it came from the heap and stayed in the peak RSS (4.5 MB of a cc1plus summary). */
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
    return pa_cli_main(argc, argv);
}
