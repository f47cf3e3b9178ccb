/* SPDX-License-Identifier: MIT */
/*
 * stderrfile.c — a daemon's descriptor 2 that is a data file (test_stderr_reuse.py):
 *
 *   stderrfile reuse FILE   close(2), then open FILE, which gets descriptor 2, and write one
 *                           line of data to it
 *   stderrfile keep FILE    the same file opened at a free descriptor; stderr untouched
 *
 * then allocates 256 KiB (crossing a PERFSHIM_ALERT_HEAP below it), keeps it, and exits 0.
 * The shim's alert line and warnings must never land in FILE.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void *volatile kept;

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    if (strcmp(argv[1], "reuse") == 0)
        close(2);
    int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || (strcmp(argv[1], "reuse") == 0) != (fd == 2))
        return 3;
    if (write(fd, "DATA\n", 5) != 5)
        return 4;
    for (int i = 0; i < 64; i++) {
        void *p = malloc(4096);
        memset(p, i, 4096);
        kept = p; /* the blocks stay live: the heap crosses the alert threshold */
        if (i % 8 == 0)
            free(malloc(100)); /* tracked calls, at which the alert is checked */
    }
    for (int i = 0; i < 64; i++)
        free(malloc(64));
    return 0;
}
