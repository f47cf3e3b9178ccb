/* SPDX-License-Identifier: MIT */
/*
 * sigeintr.c — a signal whose handler has no SA_RESTART must interrupt a blocking read, CPU
 * sampling or not (tests/integration/test_sigeintr.py).
 *
 *   sigeintr THREADS ROUNDS
 *
 * Each thread, ROUNDS times: burns about a millisecond of CPU (so that a CPU-time timer of the
 * shim is due), arms a one-shot timer of its own that sends it a real-time signal after 4 ms
 * (the thread's own queue, like the shim's SIGPROF; the main thread uses alarm's SIGALRM, the
 * process's queue, as CPython's test_signal does), and reads from its empty pipe. The handler
 * has no SA_RESTART, as CPython's have none, so the read must fail with EINTR. A watchdog
 * writes a byte to a pipe whose reader has slept in the read (its wchan) for a second: the read
 * then returns 1, and the round counts as "restarted", unless the signal came before the read
 * began ("early", see came_early). Prints
 * "sigeintr: rounds R eintr E restarted S early Y other O" and exits 0 only if no read
 * restarted.
 *
 * The trap this guards against: Linux runs an expired CPU-time timer as task work when the
 * thread returns to user mode, so the shim's SIGPROF can be queued in the same return as the
 * signal that woke the read. The thread's own queue is served first: a SIGPROF with SA_RESTART
 * set the read up to restart, the program's handler ran on the way, and the read blocked on.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#define MAX_THREADS 8

typedef struct {
    int fds[2];
    int index, rounds;
    atomic_int reading; /* round the thread is blocked in, 0 = none */
    atomic_int tid;
    int eintr, restarted, early, other;
} worker_t;

static worker_t workers[MAX_THREADS];
static atomic_int finished;
static __thread worker_t *self;
static __thread volatile sig_atomic_t signalled_early;
static __thread void *volatile signal_pc; /* where the last signal found the thread */

static void on_signal(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)si;
    signal_pc = (void *)((ucontext_t *)uc)->uc_mcontext.gregs[REG_RIP];
    if (self && !atomic_load(&self->reading))
        signalled_early = 1;
}

/* A read that blocked although its round's signal came: the signal came before the read began
 * (the thread was between the flag and the system call: "early", the program's own race, made
 * wider by any handler that runs there), or the read was restarted. A restarted read shows in
 * where the program's handler found the thread: at the syscall instruction, about to issue it
 * again, or at the entry of the shim's SIGPROF handler, when that handler's frame was set up
 * first and the program's over it. */
static int came_early(void)
{
    if (signalled_early)
        return 1;
    const unsigned char *pc = signal_pc;
    if (pc && pc[0] == 0x0f && pc[1] == 0x05)
        return 0;
    Dl_info info;
    if (dladdr(signal_pc, &info) && info.dli_fname && strstr(info.dli_fname, "perfshim"))
        return 0;
    return 1;
}

/* The thread sleeps in a pipe read now (its wchan), not merely descheduled on a loaded machine */
static int blocked_in_pipe_read(int tid)
{
    char path[64], buf[64] = {0};
    snprintf(path, sizeof path, "/proc/self/task/%d/wchan", tid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return strstr(buf, "pipe_read") != NULL;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *watchdog(void *arg)
{
    int n = *(int *)arg;
    int seen[MAX_THREADS] = {0};
    double since[MAX_THREADS];
    for (int i = 0; i < n; i++)
        since[i] = now_s();
    while (!atomic_load(&finished)) {
        usleep(50000);
        for (int i = 0; i < n; i++) {
            int r = atomic_load(&workers[i].reading);
            if (r != seen[i]) {
                seen[i] = r;
                since[i] = now_s();
            } else if (r && now_s() - since[i] > 1.0 &&
                       blocked_in_pipe_read(atomic_load(&workers[i].tid))) {
                char c = 'w';
                if (write(workers[i].fds[1], &c, 1) != 1)
                    return NULL;
                since[i] = now_s() + 3600; /* once per round */
            }
        }
    }
    return NULL;
}

static volatile unsigned long sink;

static void burn(void)
{
    double end = now_s() + 0.001;
    while (now_s() < end)
        for (int i = 0; i < 1000; i++)
            sink += (unsigned long)i * 2654435761u;
}

static void *work(void *arg)
{
    worker_t *w = arg;
    self = w;
    atomic_store(&w->tid, (int)gettid());
    timer_t timer = 0;
    int sig = SIGALRM;
    if (w->index > 0) { /* the main thread uses alarm's signal, the others their own timer */
        sig = SIGRTMIN + 2;
        struct sigevent sev;
        memset(&sev, 0, sizeof sev);
        sev.sigev_notify = SIGEV_THREAD_ID;
        sev.sigev_signo = sig;
        sev._sigev_un._tid = gettid();
        if (timer_create(CLOCK_MONOTONIC, &sev, &timer) != 0) {
            perror("sigeintr: timer_create");
            exit(2);
        }
    }
    for (int r = 1; r <= w->rounds; r++) {
        burn();
        signalled_early = 0;
        if (sig == SIGALRM) {
            struct itimerval it = {.it_value = {.tv_sec = 0, .tv_usec = 4000}};
            setitimer(ITIMER_REAL, &it, NULL);
        } else {
            struct itimerspec its = {.it_value = {.tv_sec = 0, .tv_nsec = 4000000}};
            timer_settime(timer, 0, &its, NULL);
        }
        atomic_store(&w->reading, r);
        char c;
        ssize_t n = read(w->fds[0], &c, 1);
        int e = errno;
        atomic_store(&w->reading, 0);
        if (n < 0 && e == EINTR)
            w->eintr++;
        else if (n == 1 && came_early())
            w->early++;
        else if (n == 1)
            w->restarted++;
        else
            w->other++;
    }
    if (timer)
        timer_delete(timer);
    return NULL;
}

int main(int argc, char **argv)
{
    int nthreads = argc > 1 ? atoi(argv[1]) : 3;
    int rounds = argc > 2 ? atoi(argv[2]) : 300;
    if (nthreads < 1 || nthreads > MAX_THREADS || rounds < 1) {
        fprintf(stderr, "usage: sigeintr THREADS(1-%d) ROUNDS\n", MAX_THREADS);
        return 2;
    }
    struct sigaction a;
    memset(&a, 0, sizeof a);
    a.sa_sigaction = on_signal;
    sigemptyset(&a.sa_mask);
    a.sa_flags = SA_SIGINFO; /* no SA_RESTART: the read must fail with EINTR */
    if (sigaction(SIGALRM, &a, NULL) != 0 || sigaction(SIGRTMIN + 2, &a, NULL) != 0) {
        perror("sigeintr: sigaction");
        return 2;
    }
    for (int i = 0; i < nthreads; i++) {
        workers[i].index = i;
        workers[i].rounds = rounds;
        if (pipe(workers[i].fds) != 0) {
            perror("sigeintr: pipe");
            return 2;
        }
    }
    /* SIGALRM goes to the process: keep it off the other threads, as CPython's child has one */
    sigset_t alrm, old;
    sigemptyset(&alrm);
    sigaddset(&alrm, SIGALRM);
    pthread_sigmask(SIG_BLOCK, &alrm, &old);
    pthread_t wd, th[MAX_THREADS];
    if (pthread_create(&wd, NULL, watchdog, &nthreads) != 0) {
        fprintf(stderr, "sigeintr: pthread_create failed\n");
        return 2;
    }
    for (int i = 1; i < nthreads; i++)
        if (pthread_create(&th[i], NULL, work, &workers[i]) != 0) {
            fprintf(stderr, "sigeintr: pthread_create failed\n");
            return 2;
        }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    work(&workers[0]);
    for (int i = 1; i < nthreads; i++)
        pthread_join(th[i], NULL);
    atomic_store(&finished, 1);
    pthread_join(wd, NULL);
    int eintr = 0, restarted = 0, early = 0, other = 0;
    for (int i = 0; i < nthreads; i++) {
        eintr += workers[i].eintr;
        restarted += workers[i].restarted;
        early += workers[i].early;
        other += workers[i].other;
    }
    printf("sigeintr: rounds %d eintr %d restarted %d early %d other %d (restarted per thread:",
           nthreads * rounds, eintr, restarted, early, other);
    for (int i = 0; i < nthreads; i++)
        printf(" %d", workers[i].restarted);
    printf(")\n");
    return restarted == 0 && other == 0 ? 0 : 1;
}
