// SPDX-License-Identifier: MIT
/*
 * cpuburn.c — CPU time in known proportions, for CPU sampling (PERFSHIM_CPU_HZ) and allocator
 * latency (PERFSHIM_LATENCY_SAMPLE); the subject of tests/integration/test_hot.py.
 *
 * burn_heavy() does three times the work of burn_light(). The program also profiles itself
 * the old way (setitimer(ITIMER_PROF) and its own SIGPROF handler) to show that its handler
 * keeps working under the shim's sampling, and makes SMALL_ALLOCS allocations of 100 bytes and
 * LARGE_ALLOCS of 300 KiB.
 *
 * A worker thread runs burn_worker() with every signal blocked, as thread pools (liblzma, many
 * servers) do: a CPU profiler that samples with signals must still see it, and the thread must
 * still see SIGPROF among its blocked signals. Last, main blocks SIGPROF, raises it, and checks
 * that its handler runs only once it unblocks it (standard POSIX behaviour, whatever a
 * profiler does underneath).
 *
 * Usage: cpuburn [ROUNDS]   (prints "own SIGPROF signals: N", "worker sees SIGPROF blocked: 1",
 *                            "held SIGPROF delivered on unblock: 1")
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#define SMALL_ALLOCS 1000
#define LARGE_ALLOCS 10

static volatile unsigned long sink;
static volatile sig_atomic_t own_signals;

static void on_prof(int sig)
{
    (void)sig;
    own_signals++;
}

static void __attribute__((noinline)) burn_heavy(long n)
{
    for (long i = 0; i < 3 * n; i++)
        sink = sink * 31 + (unsigned long)i;
}

static void __attribute__((noinline)) burn_light(long n)
{
    for (long i = 0; i < n; i++)
        sink = sink * 17 + (unsigned long)i;
}

static volatile unsigned long worker_sink;
static int worker_sees_blocked;

static void __attribute__((noinline)) burn_worker(long n)
{
    for (long i = 0; i < n; i++)
        worker_sink = worker_sink * 13 + (unsigned long)i;
}

static void *worker(void *arg)
{
    sigset_t cur;
    pthread_sigmask(SIG_BLOCK, NULL, &cur);
    worker_sees_blocked = sigismember(&cur, SIGPROF) == 1;
    burn_worker((long)arg);
    return NULL;
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 10;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_prof;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGPROF, &sa, NULL);
    struct itimerval it = {{0, 10000}, {0, 10000}}; /* 100 Hz of process CPU time */
    setitimer(ITIMER_PROF, &it, NULL);

    /* the worker inherits a mask that blocks everything */
    sigset_t all, saved;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &saved);
    pthread_t w;
    pthread_create(&w, NULL, worker, (void *)(long)(rounds * 20000000L));
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    for (int r = 0; r < rounds; r++) {
        burn_heavy(10000000);
        burn_light(10000000);
    }
    pthread_join(w, NULL);
    void *small[SMALL_ALLOCS], *large[LARGE_ALLOCS];
    for (int i = 0; i < SMALL_ALLOCS; i++)
        small[i] = malloc(100);
    for (int i = 0; i < LARGE_ALLOCS; i++)
        large[i] = malloc(300 * 1024);
    for (int i = 0; i < SMALL_ALLOCS; i++)
        free(small[i]);
    for (int i = 0; i < LARGE_ALLOCS; i++)
        free(large[i]);

    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_PROF, &off, NULL);
    int own = (int)own_signals;

    sigset_t prof;
    sigemptyset(&prof);
    sigaddset(&prof, SIGPROF);
    sigprocmask(SIG_BLOCK, &prof, NULL);
    int before = (int)own_signals;
    raise(SIGPROF); /* pending while blocked */
    int while_blocked = (int)own_signals - before;
    sigprocmask(SIG_UNBLOCK, &prof, NULL);
    int after_unblock = (int)own_signals - before;

    printf("own SIGPROF signals: %d\n", own);
    printf("worker sees SIGPROF blocked: %d\n", worker_sees_blocked);
    printf("held SIGPROF delivered on unblock: %d\n", while_blocked == 0 && after_unblock == 1);
    return 0;
}
