// SPDX-License-Identifier: MIT
/*
 * semaphores.c — POSIX semaphores with known counts, for tests/integration/test_semaphores.py.
 *
 * Prints one line per semaphore, "sem NAME ADDRESS acq=N contended=N tryfail=N timeouts=N
 * posts=N paired=N wakes=N..N", with the figures `perfshim locks` must report for it (contended
 * "N+" means at least N), then "errno ok" when every call returned and set errno as glibc
 * documents it (checked here, with or without the shim), then "done".
 *
 *   lock      a binary semaphore taken and posted by THREADS threads, ITERS times each, plus
 *             FORCED rounds in which main holds it until a worker is seen blocked in sem_wait
 *             (so at least FORCED acquisitions were contended);
 *   event     a producer posts EVENTS times, each time once the consumer is seen blocked:
 *             every wait is contended and every post comes from a thread that never waits;
 *   timeouts  sem_timedwait and sem_clockwait time out (a deadline 1 ms ahead, and one in the
 *             past), sem_trywait fails with EAGAIN, and invalid calls fail with EINVAL before
 *             trying (bad tv_nsec while the count is 1; an unsupported clock);
 *   intr      a waiter interrupted by a signal (EINTR), and a post made by a signal handler;
 *   reinit    contended, destroyed, initialized again at the same address, contended again and
 *             destroyed: one row (a contended semaphore's record outlives sem_destroy and goes
 *             on with the next semaphore at its address), flagged destroyed;
 *   route-*   the same calls through dlsym(RTLD_DEFAULT), dlsym(RTLD_NEXT), dlsym on libc's
 *             handle, dlvsym of each version, and the GLIBC_2.2.5 versions bound at link time;
 *   named     a named semaphore (sem_open).
 *
 * "Seen blocked" reads the waiter count glibc keeps in the upper half of the semaphore's first
 * 64-bit word (glibc >= 2.21 on 64-bit targets); if it never moves, the program exits 77.
 *
 * Usage: semaphores [ITERS]
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define THREADS 4
#define FORCED 3
#define EVENTS 20
#define TIMED_FUTURE 3 /* sem_timedwait, 1 ms ahead */
#define TIMED_PAST 2   /* sem_timedwait, deadline passed */
#define CLOCK_FUTURE 4 /* sem_clockwait(CLOCK_MONOTONIC), 1 ms ahead */
#define TRY_FAILS 5
#define ROUTE_OPS 7 /* per route: ROUTE_OPS sem_trywait + sem_wait pairs, each posted */

static sem_t lock_sem, event_sem, timeout_sem, intr_sem, reinit_sem;
static long iters = 2000;
static int errors;
static volatile unsigned long shared_sum;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            errors++;                                                                              \
            fprintf(stderr, "semaphores: %s:%d: ", __FILE__, __LINE__);                            \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

static void report(const char *name, const sem_t *s, long acq, const char *contended, long tryfail,
                   long timeouts, long posts, long paired, long wakes_min, long wakes_max)
{
    printf("sem %s %p acq=%ld contended=%s tryfail=%ld timeouts=%ld posts=%ld paired=%ld "
           "wakes=%ld..%ld\n",
           name, (const void *)s, acq, contended, tryfail, timeouts, posts, paired, wakes_min,
           wakes_max);
}

/* Threads blocked in the semaphore's slow path (glibc's struct new_sem: uint64_t data, the
 * value in the low half and the waiters in the high half). */
static unsigned waiters_of(sem_t *s)
{
    uint64_t d = __atomic_load_n((uint64_t *)(void *)s, __ATOMIC_ACQUIRE);
    return (unsigned)(d >> 32);
}

static unsigned value_of(sem_t *s)
{
    return (unsigned)__atomic_load_n((uint64_t *)(void *)s, __ATOMIC_ACQUIRE);
}

static void wait_for_waiter(sem_t *s)
{
    for (long i = 0; waiters_of(s) == 0; i++) {
        if (i > 20000) { /* 20 s */
            printf("cannot see a waiter in glibc's semaphore: this glibc's layout differs\n");
            fflush(stdout);
            _exit(77);
        }
        usleep(1000);
    }
}

static void deadline(struct timespec *ts, clockid_t clk, long ns_ahead)
{
    clock_gettime(clk, ts);
    ts->tv_nsec += ns_ahead;
    while (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
    while (ts->tv_nsec < 0) {
        ts->tv_sec--;
        ts->tv_nsec += 1000000000L;
    }
}

/* ---- lock: a binary semaphore as a mutex ------------------------------------------------ */

static pthread_barrier_t start, pair; /* pair: main and worker 0, for the forced rounds */

static void __attribute__((noinline)) lock_site(void)
{
    CHECK(sem_wait(&lock_sem) == 0, "sem_wait: %s", strerror(errno));
    for (int i = 0; i < 10; i++)
        shared_sum = shared_sum * 31 + (unsigned long)i;
    CHECK(sem_post(&lock_sem) == 0, "sem_post: %s", strerror(errno));
}

static void *lock_worker(void *arg)
{
    long id = (long)arg;
    pthread_barrier_wait(&start);
    for (long i = 0; i < iters; i++)
        lock_site();
    pthread_barrier_wait(&start);
    if (id == 0) /* the forced rounds: main holds it, this one waits */
        for (int r = 0; r < FORCED; r++) {
            pthread_barrier_wait(&pair);
            lock_site();
        }
    return NULL;
}

static void run_lock(void)
{
    pthread_t th[THREADS];
    sem_init(&lock_sem, 0, 1);
    pthread_barrier_init(&start, NULL, THREADS + 1);
    pthread_barrier_init(&pair, NULL, 2);
    for (long i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, lock_worker, (void *)i);
    pthread_barrier_wait(&start);
    pthread_barrier_wait(&start);
    for (int r = 0; r < FORCED; r++) {
        CHECK(sem_wait(&lock_sem) == 0, "sem_wait: %s", strerror(errno));
        pthread_barrier_wait(&pair);
        wait_for_waiter(&lock_sem);
        CHECK(sem_post(&lock_sem) == 0, "sem_post: %s", strerror(errno));
        while (waiters_of(&lock_sem) != 0) /* worker 0 took it: main does not barge in */
            usleep(100);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    long n = THREADS * iters + 2 * FORCED;
    char c[32];
    snprintf(c, sizeof c, "%d+", FORCED);
    report("lock", &lock_sem, n, c, 0, 0, n, n, 0, n);
}

/* ---- event: posted by one thread, waited for by another ------------------------------- */

static void __attribute__((noinline)) event_site(void)
{
    int e0 = errno = 4242; /* a successful wait leaves errno alone, contended or not */
    CHECK(sem_wait(&event_sem) == 0, "event sem_wait: %s", strerror(errno));
    CHECK(errno == e0, "errno after a contended sem_wait: %d", errno);
}

static void *consumer(void *arg)
{
    (void)arg;
    for (int i = 0; i < EVENTS; i++)
        event_site();
    return NULL;
}

static void run_event(void)
{
    pthread_t th;
    sem_init(&event_sem, 0, 0);
    pthread_create(&th, NULL, consumer, NULL);
    for (int i = 0; i < EVENTS; i++) {
        wait_for_waiter(&event_sem);
        CHECK(sem_post(&event_sem) == 0, "sem_post: %s", strerror(errno));
        while (value_of(&event_sem) != 0) /* taken (and the waiter gone) before the next round */
            usleep(100);
    }
    pthread_join(th, NULL);
    report("event", &event_sem, EVENTS, "20", 0, 0, EVENTS, 0, 1, EVENTS);
}

/* ---- timeouts, failed trywaits, invalid arguments ------------------------------------- */

static void run_timeouts(void)
{
    struct timespec ts;
    int v = -1;
    sem_init(&timeout_sem, 0, 0);
    for (int i = 0; i < TIMED_FUTURE; i++) {
        deadline(&ts, CLOCK_REALTIME, 1000000);
        errno = 0;
        CHECK(sem_timedwait(&timeout_sem, &ts) == -1 && errno == ETIMEDOUT,
              "sem_timedwait: errno %d", errno);
    }
    for (int i = 0; i < TIMED_PAST; i++) {
        deadline(&ts, CLOCK_REALTIME, -5000000);
        errno = 0;
        CHECK(sem_timedwait(&timeout_sem, &ts) == -1 && errno == ETIMEDOUT,
              "sem_timedwait (past): errno %d", errno);
    }
    for (int i = 0; i < CLOCK_FUTURE; i++) {
        deadline(&ts, CLOCK_MONOTONIC, 1000000);
        errno = 0;
        CHECK(sem_clockwait(&timeout_sem, CLOCK_MONOTONIC, &ts) == -1 && errno == ETIMEDOUT,
              "sem_clockwait: errno %d", errno);
    }
    for (int i = 0; i < TRY_FAILS; i++) {
        errno = 0;
        CHECK(sem_trywait(&timeout_sem) == -1 && errno == EAGAIN, "sem_trywait: errno %d", errno);
    }
    /* the count is 1: a bad timeout or clock still fails first, and takes nothing */
    CHECK(sem_post(&timeout_sem) == 0, "sem_post: %s", strerror(errno));
    ts.tv_sec = 0;
    ts.tv_nsec = 1000000000L;
    errno = 0;
    CHECK(sem_timedwait(&timeout_sem, &ts) == -1 && errno == EINVAL, "bad tv_nsec: errno %d",
          errno);
    deadline(&ts, CLOCK_REALTIME, 1000000);
    errno = 0;
    CHECK(sem_clockwait(&timeout_sem, CLOCK_PROCESS_CPUTIME_ID, &ts) == -1 && errno == EINVAL,
          "bad clock: errno %d", errno);
    CHECK(sem_getvalue(&timeout_sem, &v) == 0 && v == 1, "value after EINVAL: %d", v);
    /* then taken for real: uncontended timed wait (deadline passed: the count decides) */
    deadline(&ts, CLOCK_REALTIME, -5000000);
    errno = 77;
    CHECK(sem_timedwait(&timeout_sem, &ts) == 0 && errno == 77, "sem_timedwait: errno %d", errno);
    CHECK(sem_post(&timeout_sem) == 0, "sem_post: %s", strerror(errno));
    errno = 78;
    CHECK(sem_trywait(&timeout_sem) == 0 && errno == 78, "sem_trywait: errno %d", errno);
    report("timeouts", &timeout_sem, 2, "0", TRY_FAILS, TIMED_FUTURE + TIMED_PAST + CLOCK_FUTURE, 2,
           2, 0, 0);
}

/* ---- EINTR, and a post from a signal handler ------------------------------------------- */

static volatile int post_in_handler;

static void on_usr1(int sig)
{
    (void)sig;
    if (post_in_handler) {
        int e = errno;
        sem_post(&intr_sem); /* async-signal-safe */
        errno = e;
    }
}

static void *intr_waiter(void *arg)
{
    (void)arg;
    errno = 0;
    int rc = sem_wait(&intr_sem); /* interrupted, nothing posted yet */
    CHECK(rc == -1 && errno == EINTR, "interrupted sem_wait: rc %d errno %d", rc, errno);
    post_in_handler = 1;
    errno = 0;
    rc = sem_wait(&intr_sem); /* interrupted again; the handler posted meanwhile */
    CHECK((rc == -1 && errno == EINTR) || rc == 0, "sem_wait with a post in the handler: %d %d", rc,
          errno);
    if (rc != 0)
        CHECK(sem_wait(&intr_sem) == 0, "sem_wait after the handler's post: %s", strerror(errno));
    return NULL;
}

static void run_intr(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sa.sa_flags = 0; /* with SA_RESTART the kernel restarts an untimed wait (glibc 2.36) */
    sigaction(SIGUSR1, &sa, NULL);
    sem_init(&intr_sem, 0, 0);
    pthread_t th;
    pthread_create(&th, NULL, intr_waiter, NULL);
    wait_for_waiter(&intr_sem);
    pthread_kill(th, SIGUSR1);
    while (!post_in_handler)
        usleep(100);
    wait_for_waiter(&intr_sem);
    pthread_kill(th, SIGUSR1);
    pthread_join(th, NULL);
    /* one acquisition (contended or not: the handler's post may come before the wait); the
     * post came from the waiting thread, which took the semaphore after it (paired) */
    report("intr", &intr_sem, 1, "0+", 0, 0, 1, 1, 0, 1);
}

/* ---- destroyed and initialized again ------------------------------------------------------ */

static void *reinit_waiter(void *arg)
{
    (void)arg;
    CHECK(sem_wait(&reinit_sem) == 0, "sem_wait: %s", strerror(errno));
    CHECK(sem_post(&reinit_sem) == 0, "sem_post: %s", strerror(errno));
    return NULL;
}

static void run_reinit(void)
{
    for (int round = 0; round < 2; round++) {
        sem_init(&reinit_sem, 0, 0);
        pthread_t th;
        CHECK(sem_post(&reinit_sem) == 0, "sem_post: %s", strerror(errno));
        CHECK(sem_wait(&reinit_sem) == 0, "sem_wait: %s", strerror(errno)); /* main holds it */
        pthread_create(&th, NULL, reinit_waiter, NULL);
        wait_for_waiter(&reinit_sem);
        CHECK(sem_post(&reinit_sem) == 0, "sem_post: %s", strerror(errno));
        pthread_join(th, NULL);
        CHECK(sem_destroy(&reinit_sem) == 0, "sem_destroy: %s", strerror(errno));
    }
    /* per round: main posts, takes, posts; the waiter takes (contended) and posts */
    report("reinit", &reinit_sem, 4, "2", 0, 0, 6, 4, 0, 2);
}

/* ---- routes: lookups by name and version, and the old version bound at link time --------- */

typedef int (*sem_fn)(sem_t *);
__asm__(".symver sem_wait_225, sem_wait@GLIBC_2.2.5");
__asm__(".symver sem_trywait_225, sem_trywait@GLIBC_2.2.5");
__asm__(".symver sem_post_225, sem_post@GLIBC_2.2.5");
int sem_wait_225(sem_t *);
int sem_trywait_225(sem_t *);
int sem_post_225(sem_t *);

static sem_t route_sem[6];

static void run_route(int i, const char *name, sem_fn wait, sem_fn trywait, sem_fn post)
{
    CHECK(wait && trywait && post, "route %s: lookup failed", name);
    if (!(wait && trywait && post))
        return;
    sem_init(&route_sem[i], 0, 1);
    for (int k = 0; k < ROUTE_OPS; k++) {
        CHECK(trywait(&route_sem[i]) == 0, "route %s: trywait", name);
        CHECK(post(&route_sem[i]) == 0, "route %s: post", name);
        CHECK(wait(&route_sem[i]) == 0, "route %s: wait", name);
        CHECK(post(&route_sem[i]) == 0, "route %s: post", name);
    }
    char label[32];
    snprintf(label, sizeof label, "route-%s", name);
    report(label, &route_sem[i], 2 * ROUTE_OPS, "0", 0, 0, 2 * ROUTE_OPS, 2 * ROUTE_OPS, 0, 0);
}

static void run_routes(void)
{
    void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
    CHECK(libc != NULL, "dlopen libc.so.6: %s", dlerror());
    run_route(0, "default", (sem_fn)dlsym(RTLD_DEFAULT, "sem_wait"),
              (sem_fn)dlsym(RTLD_DEFAULT, "sem_trywait"), (sem_fn)dlsym(RTLD_DEFAULT, "sem_post"));
    run_route(1, "next", (sem_fn)dlsym(RTLD_NEXT, "sem_wait"),
              (sem_fn)dlsym(RTLD_NEXT, "sem_trywait"), (sem_fn)dlsym(RTLD_NEXT, "sem_post"));
    run_route(2, "handle", (sem_fn)dlsym(libc, "sem_wait"), (sem_fn)dlsym(libc, "sem_trywait"),
              (sem_fn)dlsym(libc, "sem_post"));
    run_route(3, "vsym-2.2.5", (sem_fn)dlvsym(libc, "sem_wait", "GLIBC_2.2.5"),
              (sem_fn)dlvsym(libc, "sem_trywait", "GLIBC_2.2.5"),
              (sem_fn)dlvsym(libc, "sem_post", "GLIBC_2.2.5"));
    run_route(4, "vsym-2.34", (sem_fn)dlvsym(RTLD_DEFAULT, "sem_wait", "GLIBC_2.34"),
              (sem_fn)dlvsym(RTLD_DEFAULT, "sem_trywait", "GLIBC_2.34"),
              (sem_fn)dlvsym(RTLD_DEFAULT, "sem_post", "GLIBC_2.34"));
    run_route(5, "link-2.2.5", sem_wait_225, sem_trywait_225, sem_post_225);
}

/* ---- a named semaphore ------------------------------------------------------------------ */

static void run_named(void)
{
    char name[64];
    snprintf(name, sizeof name, "/perfshim-test-%d", (int)getpid());
    sem_t *s = sem_open(name, O_CREAT | O_EXCL, 0600, 2);
    if (s == SEM_FAILED) {
        printf("named: sem_open: %s\n", strerror(errno)); /* no /dev/shm: not reported */
        return;
    }
    sem_unlink(name);
    CHECK(sem_wait(s) == 0 && sem_wait(s) == 0, "named sem_wait: %s", strerror(errno));
    CHECK(sem_trywait(s) == -1 && errno == EAGAIN, "named sem_trywait: errno %d", errno);
    CHECK(sem_post(s) == 0 && sem_post(s) == 0, "named sem_post: %s", strerror(errno));
    report("named", s, 2, "0", 1, 0, 2, 2, 0, 0);
    sem_close(s);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        iters = atol(argv[1]);
    setvbuf(stdout, NULL, _IOLBF, 0);
    run_lock();
    run_event();
    run_timeouts();
    run_intr();
    run_reinit();
    run_routes();
    run_named();
    if (!errors)
        printf("errno ok\n");
    printf("done\n");
    return errors ? 1 : 0;
}
