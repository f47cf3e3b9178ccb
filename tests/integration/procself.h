/* SPDX-License-Identifier: MIT */
/*
 * procself.h — what the integration test programs count of themselves: a monotonic clock in
 * milliseconds, and the entries of a /proc/self directory (descriptors, threads), so that a
 * test can compare them with and without the shim.
 */
#ifndef PERFSHIM_TESTS_PROCSELF_H
#define PERFSHIM_TESTS_PROCSELF_H

#include <dirent.h>
#include <string.h>
#include <time.h>

static inline long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Entries of dir, not counting "." and ".."; for /proc/self/fd, not the one opendir opened. */
static inline int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += e->d_name[0] != '.';
    closedir(d);
    return n - (strcmp(dir, "/proc/self/fd") == 0);
}

#endif
