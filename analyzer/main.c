/* SPDX-License-Identifier: MIT */
/*
 * main.c — the perfshim executable. Everything lives in cli.c; this is the only place that turns
 * a result into the process exit status.
 */
#include "cli.h"

#include <malloc.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    /* A fixed threshold: every array of 1 MiB or more is its own mapping, given back to the
     * system when freed (a chunk's payload, the hash indexes freed after loading or grouping).
     * glibc's default raises the threshold to the size of each such block freed, so the blocks
     * after it came from the heap and stayed in the peak RSS (4.5 MB of a cc1plus summary). */
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
    /* The analyzer has one thread: stdio need not lock the streams at each call (a full leaks
     * report of a compile is 1.26M lines, its JSON 260 MB, written a field at a time). Reports
     * to a file or pipe go out in 64 KiB writes rather than st_blksize's 4 KiB; a terminal
     * keeps its line buffering. */
    __fsetlocking(stdout, FSETLOCKING_BYCALLER);
    __fsetlocking(stderr, FSETLOCKING_BYCALLER);
    if (!isatty(STDOUT_FILENO))
        setvbuf(stdout, NULL, _IOFBF, (size_t)1 << 16);
    return pa_cli_main(argc, argv);
}
