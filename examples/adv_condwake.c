/* SPDX-License-Identifier: MIT */
/*
 * adv_condwake.c — one inefficiency for `perfshim advise` (docs/tuning.md, rule cond.wake): a
 * producer hands 150 jobs to a consumer through a condition variable, but signals early and
 * keeps the mutex for its bookkeeping (about 2 ms) before unlocking: each wake-up of the
 * consumer waits for that. Run with PERFSHIM_LOCKS=1.
 */
#include <pthread.h>
#include <stdio.h>
#include <time.h>

#define JOBS 150

static pthread_mutex_t queue_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t queue_nonempty = PTHREAD_COND_INITIALIZER;
static int queued, done;
static unsigned long work;

static void busy_ms(double ms)
{
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    do
        clock_gettime(CLOCK_MONOTONIC, &b);
    while ((double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6 < ms);
}

static void *consumer(void *arg)
{
    (void)arg;
    for (int n = 0; n < JOBS; n++) {
        pthread_mutex_lock(&queue_lock);
        while (!queued)
            pthread_cond_wait(&queue_nonempty, &queue_lock);
        queued--;
        done++;
        pthread_mutex_unlock(&queue_lock);
    }
    return NULL;
}

static void submit(int job)
{
    pthread_mutex_lock(&queue_lock);
    queued++;
    pthread_cond_signal(&queue_nonempty);
    busy_ms(2.0); /* bookkeeping under the lock, after the signal */
    work += (unsigned long)job;
    pthread_mutex_unlock(&queue_lock);
}

int main(void)
{
    pthread_t t;
    pthread_create(&t, NULL, consumer, NULL);
    for (int j = 0; j < JOBS; j++) {
        submit(j);
        nanosleep(&(struct timespec){0, 500 * 1000}, NULL); /* the next job comes later */
    }
    pthread_join(t, NULL);
    printf("jobs %d done %d work %lu\n", JOBS, done, work);
    return 0;
}
