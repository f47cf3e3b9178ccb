/* SPDX-License-Identifier: MIT */
/*
 * sigstorm.c — signals delivered during allocation (tests/integration/test_sigstorm.py).
 *
 *   sigstorm ITERATIONS [restart|norestart]
 *
 * SIGSTORM_WORKERS threads malloc/realloc/free and check their bytes (and that free leaves
 * errno alone) ITERATIONS times each, while one more thread sends SIGUSR1 to them with
 * pthread_kill as fast as it can (yielding between rounds). The handler does async-signal-safe
 * work only: it saves errno, sums a buffer on its stack, calls getpid(), counts, and restores
 * errno. Without SA_RESTART ("norestart") the signals also interrupt system calls, the shim's
 * included. The sender keeps signalling the main thread while it exits, so the shim writes the
 * trace with signals arriving. Each worker leaks SIGSTORM_LEAKS blocks of SIGSTORM_SIZE at
 * LEAK:sig_worker; everything else is freed. Prints "sigstorm: ok sent S received R" (R > 0
 * for every worker) on stderr, or what failed.
 *
 * Not tested: a handler that allocates, or longjmps out of an interrupted malloc. Neither is
 * legal (malloc is not async-signal-safe: POSIX leaves the behaviour undefined, and glibc's own
 * malloc deadlocks or corrupts its arenas there just the same).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SIGSTORM_WORKERS 3
#define SIGSTORM_LEAKS 7
#define SIGSTORM_SIZE 40
#define SLOTS 32

static atomic_int workers_done;
static atomic_long received[SIGSTORM_WORKERS + 1];
static __thread int my_index = SIGSTORM_WORKERS; /* the main thread counts in the last slot */
static atomic_long failures;
static void *volatile keep[SIGSTORM_WORKERS][SIGSTORM_LEAKS];

static void on_usr1(int sig)
{
    int saved = errno;
    volatile unsigned char buf[256];
    unsigned sum = 0;
    for (unsigned i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)(i * 13 + (unsigned)sig);
    for (unsigned i = 0; i < sizeof buf; i++)
        sum += buf[i];
    if (sum == 0 || getpid() <= 0)
        atomic_fetch_add(&failures, 1);
    atomic_fetch_add_explicit(&received[my_index], 1, memory_order_relaxed);
    errno = saved;
}

static void fill(unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(seed ^ (i * 31));
}

static int intact(const unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != (unsigned char)(seed ^ (i * 31)))
            return 0;
    return 1;
}

__attribute__((noinline)) static void leak_some(int w)
{
    for (int i = 0; i < SIGSTORM_LEAKS; i++) {
        unsigned char *p = malloc(SIGSTORM_SIZE); /* LEAK:sig_worker */
        fill(p, SIGSTORM_SIZE, (unsigned)i);
        keep[w][i] = p;
    }
}

static void *worker(void *arg)
{
    long iterations = (long)((intptr_t *)arg)[0];
    my_index = (int)((intptr_t *)arg)[1];
    unsigned seed = 0x9e3779b9u * (unsigned)(my_index + 1);
    unsigned char *slot[SLOTS] = {0};
    size_t size[SLOTS] = {0};
    unsigned tag[SLOTS] = {0};
    long bad = 0;
    for (long it = 0; it < iterations; it++) {
        seed = seed * 1664525u + 1013904223u;
        int i = (int)((seed >> 7) % SLOTS);
        if (slot[i] && !intact(slot[i], size[i], tag[i]))
            bad++;
        size_t n = 1 + (seed >> 16) % (seed & 1 ? 200 : 5000);
        if (slot[i] && (seed & 6) == 0) {
            unsigned char *q = realloc(slot[i], n);
            if (!q) {
                bad++;
                continue;
            }
            if (!intact(q, n < size[i] ? n : size[i], tag[i]))
                bad++;
            slot[i] = q;
        } else {
            errno = 4321;
            free(slot[i]);
            if (errno != 4321)
                bad++;
            slot[i] = malloc(n);
            if (!slot[i]) {
                bad++;
                continue;
            }
        }
        size[i] = n;
        tag[i] = seed;
        fill(slot[i], n, seed);
    }
    for (int i = 0; i < SLOTS; i++) {
        if (slot[i] && !intact(slot[i], size[i], tag[i]))
            bad++;
        free(slot[i]);
    }
    leak_some(my_index);
    atomic_fetch_add(&failures, bad);
    atomic_fetch_add(&workers_done, 1);
    return NULL;
}

static pthread_t th[SIGSTORM_WORKERS], main_thread;
static atomic_long sent;
static atomic_int sender_past_workers; /* the sender signals no worker any more */

/* Signals every worker until all are done, then the main thread until the process ends. */
static void *sender(void *arg)
{
    (void)arg;
    for (;;) {
        int done = atomic_load(&workers_done) == SIGSTORM_WORKERS;
        for (int i = 0; i < SIGSTORM_WORKERS && !done; i++)
            if (pthread_kill(th[i], SIGUSR1) == 0)
                atomic_fetch_add_explicit(&sent, 1, memory_order_relaxed);
        if (done) {
            atomic_store(&sender_past_workers, 1);
            pthread_kill(main_thread, SIGUSR1);
        }
        if ((atomic_load_explicit(&sent, memory_order_relaxed) & 63) == 0)
            sched_yield();
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    long iterations = atol(argv[1]);
    int restart = !(argc > 2 && strcmp(argv[2], "norestart") == 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sa.sa_flags = restart ? SA_RESTART : 0;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGUSR1, &sa, NULL) != 0)
        return 2;
    main_thread = pthread_self();
    static intptr_t args[SIGSTORM_WORKERS][2];
    for (int i = 0; i < SIGSTORM_WORKERS; i++) {
        args[i][0] = iterations;
        args[i][1] = i;
        if (pthread_create(&th[i], NULL, worker, args[i]) != 0)
            return 2;
    }
    pthread_t s;
    if (pthread_create(&s, NULL, sender, NULL) != 0)
        return 2;
    /* A joined thread must not be signalled: join only once the sender is past the workers. */
    struct timespec nap = {0, 1000000};
    while (!atomic_load(&sender_past_workers))
        nanosleep(&nap, NULL);
    for (int i = 0; i < SIGSTORM_WORKERS; i++)
        pthread_join(th[i], NULL);
    long f = atomic_load(&failures);
    int quiet = 0;
    for (int i = 0; i < SIGSTORM_WORKERS; i++)
        quiet += atomic_load(&received[i]) == 0;
    long got = 0;
    for (int i = 0; i < SIGSTORM_WORKERS; i++)
        got += atomic_load(&received[i]);
    if (f || quiet) {
        fprintf(stderr, "sigstorm: FAILED: %ld failed checks, %d workers never signalled\n", f,
                quiet);
        return 1;
    }
    fprintf(stderr, "sigstorm: ok sent %ld received %ld\n", atomic_load(&sent), got);
    return 0; /* exit() with the sender still signalling this thread */
}
