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
 * Usage: cpuburn [ROUNDS]   (prints "own SIGPROF signals: N")
 */
#define _GNU_SOURCE
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

    for (int r = 0; r < rounds; r++) {
        burn_heavy(10000000);
        burn_light(10000000);
    }
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
    printf("own SIGPROF signals: %d\n", (int)own_signals);
    return 0;
}
