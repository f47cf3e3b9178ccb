/* SPDX-License-Identifier: MIT */
/*
 * adv_lockhot.c — one inefficiency for `perfshim advise` (docs/tuning.md, rule lock.hold): four
 * threads update a shared table under one mutex, and update() does its slow computation (about
 * 20 us) while holding it. Run with PERFSHIM_LOCKS=1. With --short the advice is applied: the
 * computation moves out of the critical section, which only stores the result.
 *
 * The contention is not left to the scheduler: with the long hold, the thread that takes the
 * lock waits, holding it, until another thread has said it is about to lock it (or no other
 * thread is left) before it computes, about 20 us in which that thread's lock call finds it
 * held. The handshake is the program's own counter, not glibc's mutex word, whose layout is
 * glibc's internal business. On a loaded machine (load 15-25 on 2 cores) the free-running version
 * saw as few as 2 contended acquisitions in 1600 and no advice in 2 runs of 3: the holder re-takes
 * an unfair mutex and the others sleep, or a lone thread runs its rounds while the rest wait
 * for a CPU.
 */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

#define THREADS 4
#define ROUNDS 400

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long table[64];
static int short_hold;
static int running = THREADS; /* threads not yet done with their rounds */
/* threads between their announcement and their acquisition of table_lock (long hold only) */
static int coming;

static unsigned long compute(unsigned long x)
{
    for (int i = 0; i < 20000; i++) /* about 20 us */
        x = x * 6364136223846793005ul + 1442695040888963407ul;
    return x;
}

static void update(int slot, unsigned long seed)
{
    if (short_hold) {
        unsigned long v = compute(seed);
        pthread_mutex_lock(&table_lock);
        table[slot] ^= v;
        pthread_mutex_unlock(&table_lock);
        return;
    }
    __atomic_fetch_add(&coming, 1, __ATOMIC_ACQ_REL);
    pthread_mutex_lock(&table_lock);
    __atomic_fetch_sub(&coming, 1, __ATOMIC_ACQ_REL);
    /* hold the lock until another thread is on its way to it: its lock call comes while this
     * one holds it, its first try fails and the shim counts a contended acquisition
     * (shim/locks.c) */
    while (__atomic_load_n(&coming, __ATOMIC_ACQUIRE) == 0 &&
           __atomic_load_n(&running, __ATOMIC_ACQUIRE) > 1)
        sched_yield();
    table[slot] ^= compute(seed);
    pthread_mutex_unlock(&table_lock);
}

static void *worker(void *arg)
{
    long id = (long)arg;
    for (int r = 0; r < ROUNDS; r++) {
        update((int)((id * ROUNDS + r) % 64), (unsigned long)(id * 1000 + r));
        /* let a woken waiter run: without it the thread that just unlocked takes the mutex
         * again at once (glibc's mutex is not fair) and the others sleep through whole runs,
         * so that a run on a quiet machine saw as few as 6 contended acquisitions */
        sched_yield();
    }
    __atomic_fetch_sub(&running, 1, __ATOMIC_ACQ_REL);
    return NULL;
}

int main(int argc, char **argv)
{
    short_hold = argc > 1 && strcmp(argv[1], "--short") == 0;
    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, worker, (void *)i);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    unsigned long x = 0;
    for (int i = 0; i < 64; i++)
        x ^= table[i];
    printf("updates %d short %d table %lx\n", THREADS * ROUNDS, short_hold, x);
    return 0;
}
