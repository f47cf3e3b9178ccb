/* SPDX-License-Identifier: MIT */
/*
 * onstack.c — code that runs on small stacks of its own, as Go's goroutines do, under CPU
 * sampling (tests/integration/test_onstack.py).
 *
 *   onstack THREADS MILLIONS
 *
 * Like Go's runtime, the program gives each thread an alternate signal stack (sigaltstack,
 * 32 KiB, the size of a Go thread's gsignal stack) and installs its SIGPROF handler with
 * SA_ONSTACK; then each thread burns CPU (MILLIONS million rounds of a checksum) on a stack of
 * 2 KiB with an inaccessible page below it (makecontext), as a goroutine starts on 2 KiB of
 * Go heap. Go's os/signal documentation states the rule this relies on: non-Go code that
 * installs a signal handler must use SA_ONSTACK, or a signal that arrives on a goroutine's stack
 * crashes the program. The shim's SIGPROF handler (PERFSHIM_CPU_HZ) had no SA_ONSTACK: the
 * kernel's signal frame and the stack walk went onto the small stack, past its end, and a cgo
 * program crashed (SIGSEGV, or Go's "fatal error: fault" when the frame landed on another
 * goroutine's stack). Prints "onstack: checksum C" (the same with or without the shim) and
 * "onstack: program's SIGPROF handler ran N times" (0: it only has one to be like Go).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#define MAX_THREADS 8
#define ALT_SIZE (32u * 1024)
#define FIBER_SIZE 2048u

static atomic_int prog_sigprof;
static long rounds;

static void on_sigprof(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)si;
    (void)uc;
    atomic_fetch_add(&prog_sigprof, 1);
}

typedef struct {
    ucontext_t main_ctx, fiber_ctx;
    uint64_t sum;
    int index;
} worker_t;

static worker_t workers[MAX_THREADS];

static void burn(void)
{
    /* the fiber's whole job: a loop that needs no stack beyond its own frame */
    worker_t *w = &workers[0];
    for (int i = 0; i < MAX_THREADS; i++)
        if (workers[i].index < 0)
            w = &workers[i];
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (long i = 0; i < rounds; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        w->sum += x & 0xffff;
    }
}

static void *run(void *arg)
{
    worker_t *w = arg;
    stack_t ss;
    memset(&ss, 0, sizeof ss);
    ss.ss_sp = mmap(NULL, ALT_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ss.ss_size = ALT_SIZE;
    if (ss.ss_sp == MAP_FAILED || sigaltstack(&ss, NULL) != 0) {
        perror("onstack: sigaltstack");
        exit(3);
    }
    long page = sysconf(_SC_PAGESIZE);
    char *region = mmap(NULL, (size_t)page + FIBER_SIZE, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (region == MAP_FAILED || mprotect(region, (size_t)page, PROT_NONE) != 0) {
        perror("onstack: mmap");
        exit(3);
    }
    getcontext(&w->fiber_ctx);
    w->fiber_ctx.uc_stack.ss_sp = region + page;
    w->fiber_ctx.uc_stack.ss_size = FIBER_SIZE;
    w->fiber_ctx.uc_link = &w->main_ctx;
    int idx = w->index;
    w->index = -1; /* burn() finds its worker by this mark; one fiber runs at a time */
    makecontext(&w->fiber_ctx, burn, 0);
    swapcontext(&w->main_ctx, &w->fiber_ctx);
    w->index = idx;
    return NULL;
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    rounds = (argc > 2 ? atol(argv[2]) : 100) * 1000000L;
    if (threads < 1 || threads > MAX_THREADS)
        threads = 2;
    struct sigaction a;
    memset(&a, 0, sizeof a);
    a.sa_sigaction = on_sigprof;
    a.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART; /* Go's flags */
    sigfillset(&a.sa_mask);
    sigaction(SIGPROF, &a, NULL);
    uint64_t total = 0;
    for (int t = 0; t < threads; t++) {
        /* one after another, so that burn() finds its worker without a thread-local */
        pthread_t th;
        workers[t].index = t;
        if (pthread_create(&th, NULL, run, &workers[t]) != 0) {
            perror("onstack: pthread_create");
            return 3;
        }
        pthread_join(th, NULL);
        total += workers[t].sum;
    }
    printf("onstack: checksum %llu\n", (unsigned long long)total);
    printf("onstack: program's SIGPROF handler ran %d times\n", atomic_load(&prog_sigprof));
    return 0;
}
