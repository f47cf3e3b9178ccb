/* SPDX-License-Identifier: MIT */
/*
 * threadchurn.c — a thread per task, one after the other, as a server that starts a thread per
 * request does (test_thread_churn.py):
 *
 *   threadchurn THREADS
 *
 * Each thread allocates CHURN_TEMPS blocks it frees and one it keeps (LEAK:churn_keep), so the
 * exit snapshot must hold exactly THREADS kept blocks at that line: a thread's state reused by
 * the next thread with the counts of the one before would show more.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHURN_TEMPS 3
#define CHURN_KEEP_SIZE 48

static void *kept[100000];

static void *task(void *arg)
{
    void *t[CHURN_TEMPS];
    for (int i = 0; i < CHURN_TEMPS; i++) {
        t[i] = malloc(100 + i);
        memset(t[i], i, 100);
    }
    for (int i = 0; i < CHURN_TEMPS; i++)
        free(t[i]);
    *(void **)arg = malloc(CHURN_KEEP_SIZE); /* LEAK:churn_keep */
    return NULL;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 300;
    if (n < 1 || n > 100000)
        return 2;
    for (int i = 0; i < n; i++) {
        pthread_t th;
        if (pthread_create(&th, NULL, task, &kept[i]) != 0 || pthread_join(th, NULL) != 0)
            return 1;
    }
    printf("threadchurn: %d threads\n", n);
    return 0;
}
