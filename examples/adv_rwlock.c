/* SPDX-License-Identifier: MIT */
/*
 * adv_rwlock.c — one inefficiency for `perfshim advise` (docs/tuning.md, rule lock.rwlock): four
 * threads look values up in a shared table guarded by a pthread_rwlock_t, but lookup() takes it
 * with pthread_rwlock_wrlock although it only reads, so the readers run one at a time (a lookup
 * scans the table: tens of microseconds). One update in 64 writes, from update(). Run with
 * PERFSHIM_LOCKS=1. With --read the advice is applied: lookup() takes the lock with
 * pthread_rwlock_rdlock, and the readers share it.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define THREADS 4
#define ROUNDS 2000
#define ENTRIES 4096

static pthread_rwlock_t table_lock = PTHREAD_RWLOCK_INITIALIZER;
static unsigned long keys[ENTRIES], values[ENTRIES];
static int read_mode;

/* A linear scan: the section only reads keys[] and values[]. */
static unsigned long lookup(unsigned long key)
{
    unsigned long v = 0;
    if (read_mode)
        pthread_rwlock_rdlock(&table_lock);
    else
        pthread_rwlock_wrlock(&table_lock);  /* the inefficiency: a reader takes it to write */
    for (int round = 0; round < 16; round++) /* tens of microseconds */
        for (int i = 0; i < ENTRIES; i++)
            if (keys[i] == key + (unsigned long)round)
                v += values[i];
    pthread_rwlock_unlock(&table_lock);
    return v;
}

static void update(unsigned long key, unsigned long value)
{
    pthread_rwlock_wrlock(&table_lock);
    keys[key % ENTRIES] = key;
    values[key % ENTRIES] = value;
    pthread_rwlock_unlock(&table_lock);
}

static void *worker(void *arg)
{
    long id = (long)arg;
    unsigned long sum = 0;
    for (int r = 0; r < ROUNDS; r++) {
        unsigned long key = (unsigned long)(id * ROUNDS + r) * 2654435761ul % (4 * ENTRIES);
        if (r % 64 == 63)
            update(key, key ^ (unsigned long)r);
        else
            sum += lookup(key);
    }
    return (void *)sum;
}

int main(int argc, char **argv)
{
    read_mode = argc > 1 && strcmp(argv[1], "--read") == 0;
    for (int i = 0; i < ENTRIES; i++) {
        keys[i] = (unsigned long)i * 4;
        values[i] = (unsigned long)i;
    }
    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, worker, (void *)i);
    unsigned long sum = 0;
    for (int i = 0; i < THREADS; i++) {
        void *v;
        pthread_join(t[i], &v);
        sum += (unsigned long)v;
    }
    printf("lookups %d read_mode %d sum %lu\n", THREADS * (ROUNDS - ROUNDS / 64), read_mode, sum);
    return 0;
}
