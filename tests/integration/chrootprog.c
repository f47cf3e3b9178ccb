/* SPDX-License-Identifier: MIT */
/*
 * chrootprog.c — a server that confines itself with chroot, as haproxy (`chroot` in its global
 * section), unbound and named -t do: after chroot(2) the trace's path no longer exists, nor
 * does /proc. The shim must have opened its trace before, and keep writing it.
 *
 *   chrootprog DIR ROUNDS
 *
 * leaks a block, chroots into DIR (an empty directory), leaks another, then allocates and frees
 * for ROUNDS rounds of 1 ms (interval snapshots happen then), and prints a line.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void *volatile sink;

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    int rounds = atoi(argv[2]);
    sink = malloc(4242); /* LEAK:before */
    if (chroot(argv[1]) != 0 || chdir("/") != 0) {
        printf("chroot: %s\n", strerror(errno));
        return 3;
    }
    sink = malloc(777); /* LEAK:after */
    for (int i = 0; i < rounds; i++) {
        for (int j = 0; j < 64; j++)
            free(malloc(100 + (size_t)j));
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    printf("confined after %d rounds\n", rounds);
    return 0;
}
