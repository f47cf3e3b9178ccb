/* SPDX-License-Identifier: MIT */
/*
 * adv_lockshard.c — one inefficiency for `perfshim advise` (docs/tuning.md, rule lock.shard):
 * four threads count events of three kinds in one table guarded by ONE mutex, from three
 * functions (count_read, count_write, count_open). Each critical section is short; the lock is
 * hot because every thread and every site takes it. Run with PERFSHIM_LOCKS=1.
 */
#include <pthread.h>
#include <stdio.h>

#define THREADS 4
#define ROUNDS 80000

static pthread_mutex_t stats_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long stats[3][16];

static void bump(int kind, unsigned long v)
{
    for (int i = 0; i < 256; i++) /* a short critical section: well under a microsecond */
        stats[kind][i & 15] = stats[kind][i & 15] * 31 + (v >> (i & 7));
}

static void count_read(unsigned long v)
{
    pthread_mutex_lock(&stats_lock);
    bump(0, v);
    pthread_mutex_unlock(&stats_lock);
}

static void count_write(unsigned long v)
{
    pthread_mutex_lock(&stats_lock);
    bump(1, v);
    pthread_mutex_unlock(&stats_lock);
}

static void count_open(unsigned long v)
{
    pthread_mutex_lock(&stats_lock);
    bump(2, v);
    pthread_mutex_unlock(&stats_lock);
}

static void *worker(void *arg)
{
    unsigned long id = (unsigned long)arg;
    for (unsigned long r = 0; r < ROUNDS; r++) {
        count_read(id + r);
        count_write(id * r);
        count_open(id ^ r);
    }
    return NULL;
}

int main(void)
{
    pthread_t t[THREADS];
    for (unsigned long i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, worker, (void *)i);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    printf("events %d sum %lu\n", THREADS * ROUNDS * 3, stats[0][0] + stats[1][0] + stats[2][0]);
    return 0;
}
