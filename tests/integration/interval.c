/* SPDX-License-Identifier: MIT */
/*
 * interval.c — a program that allocates for INTERVAL_RUN_MS (or the milliseconds of its first
 * argument), for PERFSHIM_INTERVAL's snapshots (test_interval.py).
 *
 * Every millisecond or so it allocates one block of INTERVAL_KEEP_SIZE that it keeps
 * (LEAK:interval_keep) and INTERVAL_CHURN blocks of INTERVAL_CHURN_SIZE that it frees at once
 * (interval_churn); one block made at start (interval_setup) is freed at the end. At the end
 * it prints how many of each it made, its open descriptors and its threads, so that the test
 * can compare the exit snapshot's figures and what the program saw with and without the shim.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "procself.h"

#define INTERVAL_RUN_MS 1500
#define INTERVAL_KEEP_SIZE 72
#define INTERVAL_CHURN 20
#define INTERVAL_CHURN_SIZE 200
#define INTERVAL_KEEP_MAX 100000
#define INTERVAL_SETUP_SIZE 4000

static void *keep[INTERVAL_KEEP_MAX];

/* Allocated once at start and freed at the end: a stack whose row does not change between
 * the interval snapshots (a delta leaves it out). */
__attribute__((noinline)) static void *setup_alloc(void)
{
    char *p = malloc(INTERVAL_SETUP_SIZE); /* interval_setup */
    if (p)
        memset(p, 3, INTERVAL_SETUP_SIZE);
    return p;
}

__attribute__((noinline)) static void *keep_alloc(void)
{
    char *p = malloc(INTERVAL_KEEP_SIZE); /* LEAK:interval_keep */
    if (p)
        memset(p, 1, INTERVAL_KEEP_SIZE);
    return p;
}

__attribute__((noinline)) static void churn(void)
{
    void *v[INTERVAL_CHURN];
    for (int i = 0; i < INTERVAL_CHURN; i++) {
        v[i] = malloc(INTERVAL_CHURN_SIZE); /* interval_churn */
        if (v[i])
            memset(v[i], 2, INTERVAL_CHURN_SIZE);
    }
    for (int i = 0; i < INTERVAL_CHURN; i++)
        free(v[i]);
}

int main(int argc, char **argv)
{
    long long run_ms = argc > 1 ? atoll(argv[1]) : INTERVAL_RUN_MS; /* longer: to be killed */
    void *setup = setup_alloc();
    long long start = now_ms();
    long kept = 0, churned = 0;
    while (now_ms() - start < run_ms && kept < INTERVAL_KEEP_MAX) {
        keep[kept++] = keep_alloc();
        churn();
        churned += INTERVAL_CHURN;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    free(setup);
    printf("kept %ld churned %ld\n", kept, churned);
    printf("fds %d threads %d\n", count_entries("/proc/self/fd"), count_entries("/proc/self/task"));
    return 0;
}
