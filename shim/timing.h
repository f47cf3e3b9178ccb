/* SPDX-License-Identifier: MIT */
/*
 * timing.h — the shim's clock and its latency histograms, shared by locks.c, latency.c
 * (allocator latency and zones) and cpu.c.
 *
 * The clock is the CPU's time-stamp counter: about 10 ns to read on a 2026 VM against 26 ns
 * for clock_gettime, and invariant on every x86-64 CPU that has constant_tsc. Ticks become
 * nanoseconds only when a chunk is written, with a rate calibrated against CLOCK_MONOTONIC
 * over the life of the process (ps_tick_hz).
 *
 * A histogram is log-linear (PS_HIST_* in trace_format.h): 16 buckets per power of two, so a
 * bucket is at most 1/16 of its lower bound wide and a percentile read from bucket midpoints
 * is within 1/32 of the true value. Updates are relaxed atomic adds: histograms are shared by
 * all threads and written only on sampled or slow paths.
 */
#ifndef PS_TIMING_H
#define PS_TIMING_H

#include "internal.h"

#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <time.h>

#include "include/trace_format.h"

static inline uint64_t ps_ticks(void)
{
    return __builtin_ia32_rdtsc();
}

typedef struct ps_hist_s {
    atomic_ullong count;                   /* values added */
    atomic_ullong sum;                     /* their sum (ticks) */
    atomic_ullong max;                     /* the largest (ticks) */
    atomic_ullong bucket[PS_HIST_BUCKETS]; /* counts per bucket */
} ps_hist_t;

static inline unsigned ps_hist_index(uint64_t v)
{
    if (v < 32)
        return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v); /* >= 5 */
    unsigned s = e - PS_HIST_SUB_BITS;
    unsigned i = 16u * s + (unsigned)(v >> s); /* v >> s is in [16, 32) */
    return i < PS_HIST_BUCKETS ? i : PS_HIST_BUCKETS - 1;
}

static inline void ps_max_u64(atomic_ullong *m, uint64_t v)
{
    unsigned long long cur = atomic_load_explicit(m, memory_order_relaxed);
    while (v > cur && !atomic_compare_exchange_weak_explicit(m, &cur, v, memory_order_relaxed,
                                                             memory_order_relaxed))
        ;
}

static inline void ps_hist_add(ps_hist_t *h, uint64_t v)
{
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum, v, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->bucket[ps_hist_index(v)], 1, memory_order_relaxed);
    ps_max_u64(&h->max, v);
}

/* Appends a histogram in the trace's "hist" encoding. */
void ps_hist_put(ps_buf_t *b, const ps_hist_t *h);
/* Ticks per second, calibrated between start and now (waits up to 5 ms if the process is
 * younger than that, so that the rate is good to 1e-5). */
uint64_t ps_tick_hz(void);
/* Ticks to ns at the rate ps_tick_hz() returned. */
uint64_t ps_ticks_to_ns(uint64_t ticks, uint64_t hz);

/* ---- locks.c ------------------------------------------------------------------------------ */
/*
 * The lock and semaphore functions the shim interposes: X(name, return type, parameters,
 * arguments). locks.c defines ps_locks_<name> for each, with libc's semantics plus the timing;
 * interpose_locks.c exports <name> forwarding to it (libperfshim.so only: the unit tests link
 * locks.c without the exports).
 */
#define PS_LOCK_FUNCS(X)                                                                           \
    X(pthread_mutex_init, int, (pthread_mutex_t * m, const pthread_mutexattr_t *a), (m, a))        \
    X(pthread_mutex_destroy, int, (pthread_mutex_t * m), (m))                                      \
    X(pthread_mutex_lock, int, (pthread_mutex_t * m), (m))                                         \
    X(pthread_mutex_trylock, int, (pthread_mutex_t * m), (m))                                      \
    X(pthread_mutex_timedlock, int, (pthread_mutex_t * m, const struct timespec *ts), (m, ts))     \
    X(pthread_mutex_clocklock, int, (pthread_mutex_t * m, clockid_t c, const struct timespec *ts), \
      (m, c, ts))                                                                                  \
    X(pthread_mutex_unlock, int, (pthread_mutex_t * m), (m))                                       \
    X(pthread_rwlock_init, int, (pthread_rwlock_t * l, const pthread_rwlockattr_t *a), (l, a))     \
    X(pthread_rwlock_destroy, int, (pthread_rwlock_t * l), (l))                                    \
    X(pthread_rwlock_rdlock, int, (pthread_rwlock_t * l), (l))                                     \
    X(pthread_rwlock_wrlock, int, (pthread_rwlock_t * l), (l))                                     \
    X(pthread_rwlock_tryrdlock, int, (pthread_rwlock_t * l), (l))                                  \
    X(pthread_rwlock_trywrlock, int, (pthread_rwlock_t * l), (l))                                  \
    X(pthread_rwlock_timedrdlock, int, (pthread_rwlock_t * l, const struct timespec *ts), (l, ts)) \
    X(pthread_rwlock_timedwrlock, int, (pthread_rwlock_t * l, const struct timespec *ts), (l, ts)) \
    X(pthread_rwlock_clockrdlock, int,                                                             \
      (pthread_rwlock_t * l, clockid_t c, const struct timespec *ts), (l, c, ts))                  \
    X(pthread_rwlock_clockwrlock, int,                                                             \
      (pthread_rwlock_t * l, clockid_t c, const struct timespec *ts), (l, c, ts))                  \
    X(pthread_rwlock_unlock, int, (pthread_rwlock_t * l), (l))                                     \
    X(pthread_spin_init, int, (pthread_spinlock_t * l, int pshared), (l, pshared))                 \
    X(pthread_spin_destroy, int, (pthread_spinlock_t * l), (l))                                    \
    X(pthread_spin_lock, int, (pthread_spinlock_t * l), (l))                                       \
    X(pthread_spin_trylock, int, (pthread_spinlock_t * l), (l))                                    \
    X(pthread_spin_unlock, int, (pthread_spinlock_t * l), (l))                                     \
    X(pthread_cond_init, int, (pthread_cond_t * c, const pthread_condattr_t *a), (c, a))           \
    X(pthread_cond_destroy, int, (pthread_cond_t * c), (c))                                        \
    X(pthread_cond_wait, int, (pthread_cond_t * c, pthread_mutex_t * m), (c, m))                   \
    X(pthread_cond_timedwait, int,                                                                 \
      (pthread_cond_t * c, pthread_mutex_t * m, const struct timespec *ts), (c, m, ts))            \
    X(pthread_cond_clockwait, int,                                                                 \
      (pthread_cond_t * c, pthread_mutex_t * m, clockid_t k, const struct timespec *ts),           \
      (c, m, k, ts))                                                                               \
    X(pthread_cond_signal, int, (pthread_cond_t * c), (c))                                         \
    X(pthread_cond_broadcast, int, (pthread_cond_t * c), (c))

/* The semaphore functions: they return -1 and set errno. sem_clockwait is glibc 2.30's. */
#define PS_SEM_FUNCS(X)                                                                            \
    X(sem_init, int, (sem_t * s, int pshared, unsigned int value), (s, pshared, value))            \
    X(sem_destroy, int, (sem_t * s), (s))                                                          \
    X(sem_wait, int, (sem_t * s), (s))                                                             \
    X(sem_trywait, int, (sem_t * s), (s))                                                          \
    X(sem_timedwait, int, (sem_t * s, const struct timespec *ts), (s, ts))                         \
    X(sem_clockwait, int, (sem_t * s, clockid_t c, const struct timespec *ts), (s, c, ts))         \
    X(sem_post, int, (sem_t * s), (s))

#define PS_LOCKS_DECLARE_(name, ret, params, args) ret ps_locks_##name params;
PS_LOCK_FUNCS(PS_LOCKS_DECLARE_)
PS_SEM_FUNCS(PS_LOCKS_DECLARE_)
#undef PS_LOCKS_DECLARE_

int ps_locks_init(void); /* resolve libc's pthread functions; 0 if ok */
int ps_locks_write(ps_buf_t *b, uint64_t time_ns, uint64_t hz); /* LOCKS payload */
uint64_t ps_locks_wait_ns(void);           /* total wait_ns of the rows of the last LOCKS payload */
void ps_locks_thread_exit(ps_thread_t *t); /* add its pending counts to the records */
/* With lock timing on: if fn is libc's definition of a lock or semaphore function this file
 * interposes (the default version), our function; else fn. For dlsym/dlvsym lookups by handle
 * or version, which would bypass the interposers. */
void *ps_locks_replacement(void *fn);
/* With lock timing off (for good: ps_g.locks_on is settled at init): every loaded object's
 * references to the functions above bound to libc's definitions, not to our forwarding
 * exports. Init only (walks the loader's list). Returns the slots rewritten. */
unsigned ps_locks_bypass(void);

/* ---- threads.c ---------------------------------------------------------------------------- */
/* pthread_create (exported by interpose_threads.c): the new thread starts in the shim's start
 * routine, which records it, then runs fn. */
int ps_threads_create(pthread_t *th, const pthread_attr_t *attr, void *(*fn)(void *), void *arg);
int ps_threads_init(void); /* the main thread's record, the exit hook */
void ps_threads_write(ps_buf_t *b, uint64_t time_ns);
void ps_threads_fork_child(void);
void ps_threads_thread_exit(ps_thread_t *t); /* from track.c's thread destructor */

/* ---- latency.c: allocator latency and zones ------------------------------------------------ */
int ps_latency_init(void);
/* size class bin of a request size (latency.c's table) */
void ps_latency_record(int op, size_t size, uint64_t ticks);
void ps_latency_event_forward(size_t size);
void ps_latency_write(ps_buf_t *b, uint64_t time_ns, uint64_t hz);
int ps_zones_init(void);
void ps_zone_begin(const char *name);
void ps_zone_end(void);
int ps_zones_used(void);
void ps_zones_write(ps_buf_t *b, uint64_t time_ns, uint64_t hz);

/* ---- cpu.c -------------------------------------------------------------------------------- */
int ps_cpu_init(void); /* handler and the main thread's timer */
/* a new thread: its buffer and timer; inherited_blocked: its creator had asked for SIGPROF
 * blocked (ps_cpu_prof_blocked() in the creator) */
void ps_cpu_thread_start(int inherited_blocked);
int ps_cpu_prof_blocked(void);
void ps_cpu_thread_exit(void); /* fold its samples, stop its timer */
void ps_cpu_collect(void);     /* intern every thread's new stacks (before STACKS) */
void ps_cpu_write(ps_buf_t *b, uint64_t time_ns);
void ps_cpu_fork_prepare(void); /* cpu_lock: after the writer's lock, before intern_lock */
void ps_cpu_fork_parent(void);
void ps_cpu_fork_child(
    int locked); /* also for a process that does not sample; locked: prepare ran */
int ps_cpu_on(void);
/* sigaction, signal, sigprocmask and pthread_sigmask (exported by interpose_signals.c): libc's,
 * except that while sampling is on SIGPROF stays ours and deliverable (top of cpu.c). */
int ps_cpu_sigaction(int sig, const struct sigaction *act, struct sigaction *old);
__sighandler_t ps_cpu_signal(int sig, __sighandler_t handler);
int ps_cpu_sigprocmask(int how, const sigset_t *set, sigset_t *old);
int ps_cpu_pthread_sigmask(int how, const sigset_t *set, sigset_t *old);

#endif /* PS_TIMING_H */
