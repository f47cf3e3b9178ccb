// SPDX-License-Identifier: MIT
/*
 * contention.c — a program with known lock behaviour, for `perfshim locks` and `perfshim hot`
 * (and the subject of tests/integration/test_locks.py):
 *
 *   hot_lock   two workers take it HOT_ITERS times each in hot_site(); then FORCED rounds in
 *              which one worker holds it for FORCED_MS while the other waits in forced_site()
 *              (the site with the most waiting, by far);
 *   cold_lock  taken COLD_ITERS times by main alone in cold_site(): never contended;
 *   rw         READERS threads take it for reading RD_ITERS times each, main WR_ITERS times
 *              for writing;
 *   spin       both workers, SPIN_ITERS times each;
 *   cond       a consumer waits for ITEMS items a producer signals one by one;
 *   zones      "outer" around "short" and "long" (long does 8x short's work), ZONE_ITERS times;
 *   cpu_site   with a second argument CPU_MS: main computes for that many milliseconds of its
 *              own CPU time (not wall time), so that PERFSHIM_CPU_HZ's samples are certain on
 *              a loaded machine. Without it the program uses 10-30 ms of CPU in all, spread
 *              over 7 threads that mostly block, and a thread that blocks before a timer tick
 *              lands on it is not sampled: 0 samples happened at load 15-25.
 *
 * Usage: contention [HOT_ITERS [CPU_MS]]   (prints the expected counts)
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "perfshim.h"

#define COLD_ITERS 1000
#define FORCED 4
#define FORCED_MS 50
#define READERS 3
#define RD_ITERS 2000
#define WR_ITERS 200
#define SPIN_ITERS 5000
#define ITEMS 100
#define ZONE_ITERS 200

static pthread_mutex_t hot_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t cold_lock;
static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
static pthread_spinlock_t spin;
static pthread_mutex_t q_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t q_cond = PTHREAD_COND_INITIALIZER;
static pthread_barrier_t start;
static volatile unsigned long shared_sum;
static int queued, consumed, consumer_in; /* consumer_in: it holds q_lock, about to wait */
static long hot_iters = 20000;
/* forced rounds: the number of rounds in which worker 0 has taken hot_lock. A flag set while it
 * holds the lock (as before) hung the program under load: worker 1, preempted for the whole
 * hold, never saw it set and spun forever while worker 0 waited at the barrier. */
static int held_rounds;

static void __attribute__((noinline)) work(int n)
{
    for (int i = 0; i < n; i++)
        shared_sum = shared_sum * 31 + (unsigned long)i;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void __attribute__((noinline)) hot_site(void)
{
    pthread_mutex_lock(&hot_lock);
    work(20);
    pthread_mutex_unlock(&hot_lock);
}

static void __attribute__((noinline)) forced_site(void)
{
    pthread_mutex_lock(&hot_lock); /* worker 0 holds it: this waits about FORCED_MS */
    pthread_mutex_unlock(&hot_lock);
}

static void __attribute__((noinline)) cold_site(void)
{
    pthread_mutex_lock(&cold_lock);
    work(5);
    pthread_mutex_unlock(&cold_lock);
}

static void *worker(void *arg)
{
    long id = (long)arg;
    char name[16];
    snprintf(name, sizeof name, "worker-%ld", id);
    pthread_setname_np(pthread_self(), name);
    pthread_barrier_wait(&start);
    for (long i = 0; i < hot_iters; i++) {
        hot_site();
        work(10);
    }
    for (int i = 0; i < SPIN_ITERS; i++) {
        pthread_spin_lock(&spin);
        work(3);
        pthread_spin_unlock(&spin);
    }
    pthread_barrier_wait(&start);
    for (int r = 0; r < FORCED; r++) {
        if (id == 0) {
            pthread_mutex_lock(&hot_lock);
            __atomic_store_n(&held_rounds, r + 1, __ATOMIC_RELEASE);
            sleep_ms(FORCED_MS);
            /* On a loaded machine the other worker may not have reached the lock yet: hold it
             * until glibc's lock word says a thread waits (2), for at most 10 s. */
            for (int ms = 0;
                 ms < 10000 && __atomic_load_n(&hot_lock.__data.__lock, __ATOMIC_RELAXED) < 2; ms++)
                sleep_ms(1);
            pthread_mutex_unlock(&hot_lock);
        } else {
            while (__atomic_load_n(&held_rounds, __ATOMIC_ACQUIRE) <= r)
                sched_yield();
            forced_site();
        }
        pthread_barrier_wait(&start);
    }
    return NULL;
}

static void *reader(void *arg)
{
    (void)arg;
    for (int i = 0; i < RD_ITERS; i++) {
        pthread_rwlock_rdlock(&rw);
        work(5);
        pthread_rwlock_unlock(&rw);
    }
    return NULL;
}

static void *consumer(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&q_lock);
    consumer_in = 1;
    while (consumed < ITEMS) {
        while (queued == 0)
            pthread_cond_wait(&q_cond, &q_lock);
        queued--;
        consumed++;
    }
    pthread_mutex_unlock(&q_lock);
    return NULL;
}

static void zones(void)
{
    for (int i = 0; i < ZONE_ITERS; i++) {
        perfshim_zone_begin("outer");
        perfshim_zone_begin("short");
        work(1000);
        perfshim_zone_end();
        perfshim_zone_begin("long");
        work(8000);
        perfshim_zone_end();
        perfshim_zone_end();
    }
}

static double thread_cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void __attribute__((noinline)) cpu_site(long ms)
{
    double end = thread_cpu_ms() + (double)ms;
    while (thread_cpu_ms() < end)
        work(10000);
}

int main(int argc, char **argv)
{
    long cpu_ms = 0;
    if (argc > 1)
        hot_iters = atol(argv[1]);
    if (argc > 2)
        cpu_ms = atol(argv[2]);
    pthread_mutex_init(&cold_lock, NULL);
    pthread_spin_init(&spin, PTHREAD_PROCESS_PRIVATE);
    pthread_barrier_init(&start, NULL, 2);

    pthread_t w[2], r[READERS], c;
    for (long i = 0; i < 2; i++)
        pthread_create(&w[i], NULL, worker, (void *)i);
    for (int i = 0; i < COLD_ITERS; i++)
        cold_site();
    for (int i = 0; i < READERS; i++)
        pthread_create(&r[i], NULL, reader, NULL);
    for (int i = 0; i < WR_ITERS; i++) {
        pthread_rwlock_wrlock(&rw);
        work(20);
        pthread_rwlock_unlock(&rw);
    }
    pthread_create(&c, NULL, consumer, NULL);
    for (;;) { /* the consumer waits first: it holds q_lock from consumer_in = 1 until its */
        pthread_mutex_lock(&q_lock); /* pthread_cond_wait releases it */
        int in = consumer_in;
        pthread_mutex_unlock(&q_lock);
        if (in)
            break;
        sleep_ms(1);
    }
    for (int i = 0; i < ITEMS; i++) {
        pthread_mutex_lock(&q_lock);
        queued++;
        pthread_cond_signal(&q_cond);
        pthread_mutex_unlock(&q_lock);
        if (i % 10 == 0)
            sleep_ms(1);
    }
    zones();
    cpu_site(cpu_ms);
    for (int i = 0; i < 2; i++)
        pthread_join(w[i], NULL);
    for (int i = 0; i < READERS; i++)
        pthread_join(r[i], NULL);
    pthread_join(c, NULL);
    printf("expect hot=%ld cold=%d rd=%d wr=%d spin=%d signals=%d zones=%d\n",
           2 * hot_iters + FORCED * 2, COLD_ITERS, READERS * RD_ITERS, WR_ITERS, 2 * SPIN_ITERS,
           ITEMS, ZONE_ITERS);
    return 0;
}
