/* SPDX-License-Identifier: MIT */
/*
 * adv_xthread.c — one inefficiency for `perfshim advise` (docs/tuning.md, rule
 * cross_thread_free): the main thread allocates 20000 messages (make_message) and a worker
 * thread frees them after reading them, so every block goes back to an allocator cache or arena
 * of a thread that did not allocate it. Prints the cross-thread frees it made (the oracle of
 * integration_advise).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MESSAGES 20000
#define SIZE 96

static char *msgs[MESSAGES];
static unsigned long sum;

static char *make_message(int i)
{
    char *m = malloc(SIZE);
    if (m)
        snprintf(m, SIZE, "message %d", i);
    return m;
}

static void *consume(void *arg)
{
    (void)arg;
    for (int i = 0; i < MESSAGES; i++) {
        sum += strlen(msgs[i]);
        free(msgs[i]);
    }
    return NULL;
}

int main(void)
{
    for (int i = 0; i < MESSAGES; i++)
        if (!(msgs[i] = make_message(i)))
            return 1;
    pthread_t th;
    if (pthread_create(&th, NULL, consume, NULL) != 0)
        return 1;
    pthread_join(th, NULL);
    printf("cross_thread_frees %d size %d sum %lu\n", MESSAGES, SIZE, sum);
    return 0;
}
