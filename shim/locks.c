/* SPDX-License-Identifier: MIT */
/*
 * locks.c — lock timing (PERFSHIM_LOCKS=1): the pthread mutex, rwlock, spinlock and condition
 * variable functions, the POSIX semaphore functions (ps_locks_<name>, exported as <name> by
 * interpose_locks.c), the table of locks they fill, and the LOCKS chunk.
 *
 * Per lock: acquisitions, contended acquisitions (the first try failed), owner changes, wait
 * and hold times, and the acquiring call sites. The uncontended path is a try-lock and a few
 * counter updates; the clock is read only around a wait, and for the one acquisition in
 * PERFSHIM_LOCK_SAMPLE whose hold time is measured and whose call stack is captured.
 * Contended acquisitions always capture their stack: the thread is about to wait anyway.
 *
 * Nothing but one test of the thread's own state runs inside the critical section: the lookup
 * (a per-thread cache keyed by lock address, then the shared table), the sampling countdown
 * and the thread-local acquisition count all happen before the try-lock (the count is undone
 * if the acquisition fails). What a contended or sampled acquisition, or a timed hold, adds
 * to the shared records is noted in the thread's pending list and applied right after its
 * next unlock, outside the critical section, with relaxed atomics.
 *
 * Semaphores (sem_wait, sem_timedwait, sem_clockwait, sem_trywait) are acquisitions of the
 * same kind: sem_trywait first, and a contended one (the count was 0) times the real wait.
 * sem_post is their unlock: it applies pending figures, and it is counted, per thread like
 * acquisitions. A semaphore has no owner (any thread may post), so neither its hold time nor
 * its owner changes are measured. Instead each record counts the posts a thread made after
 * taking the semaphore itself (a lock's use) apart from the others (a signal's use: one thread
 * posts, another waits), and the wake-up latency from a post to a blocked waiter's return.
 * sem_post is async-signal-safe, and so is its wrapper: it never captures a stack (the first
 * use of a semaphore first seen by a post is recorded at its first wait), never allocates and
 * takes no lock.
 *
 * The table is keyed by the lock's address (open addressing, lock-free insert). A lock is
 * recorded at its first use, so statically initialized locks are covered like dynamic ones.
 * pthread_*_init and pthread_*_destroy retire the record at that address: records with
 * contention are kept (flagged destroyed), the others are folded into a count and their slot
 * is reused. A slot is reused under a new generation, which keeps old call-site rows apart. A
 * lock of the same kind first used later at a kept record's address continues that record
 * (rec_create), so an address holds one record however often a lock there is remade.
 * sem_init and sem_destroy do the same, except that a contended semaphore's record stays
 * keyed by its address, for the next semaphore there (sem_retire_at).
 */
#include "timing.h"

#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <semaphore.h>
#include <string.h>
#include <time.h>

/* ---- libc's functions (PS_LOCK_FUNCS, PS_SEM_FUNCS: timing.h)
 * ----------------------------------------------------------------------- */

#define PS_DECLARE_REAL(name, ret, params, args) static ret(*real_##name) params;
PS_LOCK_FUNCS(PS_DECLARE_REAL)
PS_SEM_FUNCS(PS_DECLARE_REAL)

static int missing_function(void)
{
    return ENOSYS;
}

static int missing_sem_function(void)
{
    errno = ENOSYS;
    return -1;
}

/* libc's definitions, read from its symbol table (no loader lookup: this can run before our
 * constructor, from another library's). The default version only: pthread_cond_wait has a
 * GLIBC_2.2.5 compat version with a different condition-variable layout. */
static PS_COLD void resolve_all(void)
{
    void *f, *missing = (void *)missing_function;
#define PS_RESOLVE(name, ret, params, args)                                                        \
    f = ps_real_function(#name);                                                                   \
    if (!f)                                                                                        \
        f = missing;                                                                               \
    real_##name = (ret(*) params)f;
    PS_LOCK_FUNCS(PS_RESOLVE)
    missing = (void *)missing_sem_function;
    PS_SEM_FUNCS(PS_RESOLVE)
}

#define REAL(name) (PS_UNLIKELY(real_##name == NULL) ? resolve_all() : (void)0, real_##name)

/* ---- the table ------------------------------------------------------------------------------ */

#define KEY_EMPTY ((uintptr_t)0)
#define KEY_TOMB ((uintptr_t)1)
#define KEY_RETIRED ((uintptr_t)2) /* or'ed into the address: destroyed, kept for the report */
#define PROBE_LIMIT 128

typedef struct lock_rec_s {
    /* first cache line: read on every acquisition, written only when the slot changes hands */
    _Atomic uintptr_t key;      /* lock address, or KEY_EMPTY / KEY_TOMB, or address|KEY_RETIRED */
    _Atomic uint32_t kind;      /* enum ps_lock_kind; 0 while being created */
    _Atomic uint32_t first_use; /* stack id of the first use */
    uint32_t gen;               /* slot generation: bumped when the slot is reused */
    _Atomic uint32_t waiters;   /* semaphores: threads in a timed wait now (sem_post reads it) */
    _Atomic uint32_t flags;     /* REC_SEM_*: a semaphore's record kept across sem_destroy;
                                   REC_SEM_KEPT also marks any kept record counted once */
    char pad[36];
    /* written on contended and sampled acquisitions only (uncontended acquisitions are
     * counted per thread: ps_thread_t.lockc) */
    atomic_uint last_owner; /* tid of the last contended or sampled exclusive acquirer */
    atomic_ullong acquisitions, contended, owner_changes, wait, max_wait; /* wait: ticks */
    atomic_ullong hold, max_hold, hold_samples; /* measured holds only (ticks) */
    atomic_ullong read_acquisitions, trylock_failures, timeouts;
    atomic_ullong signals, broadcasts, wake, max_wake, wakes; /* condition variables */
    atomic_ullong last_signal; /* ticks of the latest signal or broadcast (or post, see waiters) */
    /* semaphores: `signals` counts posts (flushed from the threads' counters, like
     * acquisitions), `wake`/`max_wake`/`wakes` the wake-ups of blocked waiters, and: */
    atomic_ullong paired_posts; /* posts by a thread that had taken it itself (per flush) */
} __attribute__((aligned(64))) lock_rec_t;

typedef struct site_rec_s {
    atomic_ullong key; /* 0 empty; else 1<<63 | gen(15) << 48 | slot(24) << 24 | stack id */
    atomic_ullong acquisitions, contended, wait, max_wait, samples;
} site_rec_t;

#define SITE_SLOTS 65536u

static lock_rec_t *recs;
static uint32_t *used; /* slots ever claimed from empty, in order (scans visit only these) */
static atomic_uint used_count;
static uint32_t *site_used; /* likewise for the site table */
static atomic_uint site_used_count;
static uint64_t rec_mask;
static unsigned rec_shift; /* 64 - log2(slots) */
static site_rec_t *sites;
static atomic_ullong untracked_ops, retired_quiet, retired_quiet_acq, sites_dropped;
static atomic_uint retired_kept;
static atomic_int full_warned;

static inline uint64_t addr_hash(uintptr_t a)
{
    return ((uint64_t)(a >> 3) * 0x9e3779b97f4a7c15ull) >> rec_shift;
}

static inline lock_rec_t *rec_lookup(uintptr_t a)
{
    uint64_t i = addr_hash(a);
    for (unsigned n = 0; n < PROBE_LIMIT; n++, i = (i + 1) & rec_mask) {
        uintptr_t k = atomic_load_explicit(&recs[i].key, memory_order_acquire);
        if (k == a)
            return &recs[i];
        if (k == KEY_EMPTY)
            return NULL;
    }
    return NULL;
}

static void table_full(void)
{
    atomic_fetch_add_explicit(&untracked_ops, 1, memory_order_relaxed);
    if (!atomic_exchange(&full_warned, 1))
        ps_msg_warn("the lock table is full (PERFSHIM_MAX_LOCKS=%d): operations on further locks "
                    "are counted as untracked",
                    ps_g.opt.max_locks);
}

#define REC_SEM_KEPT 1u      /* counted in retired_kept */
#define REC_SEM_DESTROYED 2u /* sem_destroy'ed, not initialized again since */

/* A destroyed lock worth listing: it was contended (a condition variable: waited on). */
static int rec_worth_keeping(const lock_rec_t *r)
{
    return atomic_load_explicit(&r->contended, memory_order_relaxed) > 0 ||
           (r->kind == PS_LOCK_COND &&
            atomic_load_explicit(&r->acquisitions, memory_order_relaxed));
}

static void rec_fold(lock_rec_t *r);

static void rec_retire(lock_rec_t *r)
{
    uintptr_t k = atomic_load_explicit(&r->key, memory_order_relaxed);
    if (k == KEY_EMPTY || k == KEY_TOMB || (k & KEY_RETIRED))
        return;
    if (rec_worth_keeping(r) &&
        ((atomic_load_explicit(&r->flags, memory_order_relaxed) & REC_SEM_KEPT) ||
         atomic_fetch_add(&retired_kept, 1) < rec_mask / 4)) {
        /* counted once, however often rec_create revives it and it is destroyed again */
        atomic_fetch_or_explicit(&r->flags, REC_SEM_KEPT, memory_order_relaxed);
        atomic_store_explicit(&r->key, k | KEY_RETIRED, memory_order_release);
        return;
    }
    rec_fold(r);
}

/* Counted in retired_quiet, and the slot freed for reuse under a new generation. */
static void rec_fold(lock_rec_t *r)
{
    uint64_t acq = atomic_load_explicit(&r->acquisitions, memory_order_relaxed);
    atomic_fetch_add_explicit(&retired_quiet, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&retired_quiet_acq, acq, memory_order_relaxed);
    uint32_t gen = r->gen + 1;
    memset((char *)r + sizeof r->key, 0, sizeof *r - sizeof r->key);
    r->gen = gen;
    atomic_store_explicit(&r->key, KEY_TOMB, memory_order_release);
}

/* The calling thread's stack. errno is kept: a lock or semaphore function that succeeds leaves
 * it as it was, and libunwind's address checks may set it. */
static uint32_t capture_site(ps_thread_t *t)
{
    int saved = errno;
    ps_tls_guard++;
    uint32_t id = ps_stack_capture_id(t);
    ps_tls_guard--;
    errno = saved;
    return id;
}

/* capture: record the stack of this first use (not from sem_post, which may run in a signal
 * handler: its records get their first use at their first acquisition, see lockc_miss). */
static PS_NOINLINE lock_rec_t *rec_create(uintptr_t a, uint32_t kind, ps_thread_t *t,
                                          lock_rec_t *wrong_kind, int capture)
{
    if (wrong_kind) /* the address now holds another kind of object: a new lock */
        rec_retire(wrong_kind);
    for (int attempt = 0; attempt < 8; attempt++) {
        uint64_t i = addr_hash(a);
        lock_rec_t *tomb = NULL, *empty = NULL;
        int raced = 0;
        for (unsigned n = 0; n < PROBE_LIMIT && !raced; n++, i = (i + 1) & rec_mask) {
            uintptr_t k = atomic_load_explicit(&recs[i].key, memory_order_acquire);
            if (k == a)
                return &recs[i]; /* another thread created it */
            if (k == (a | KEY_RETIRED) &&
                atomic_load_explicit(&recs[i].kind, memory_order_relaxed) == kind) {
                /* A destroyed lock of this kind kept at this address: the new one continues
                 * its record, as a semaphore does (sem_retire_at). A record per instance
                 * filled the address's probe chain: Chromium destroys a waited-on condition
                 * variable on a thread's stack, at the same address, hundreds of times. */
                uintptr_t expect = k;
                if (atomic_compare_exchange_strong_explicit(
                        &recs[i].key, &expect, a, memory_order_acq_rel, memory_order_acquire))
                    return &recs[i];
                raced = 1; /* changed meanwhile: probe again */
                continue;
            }
            if (k == KEY_TOMB && !tomb)
                tomb = &recs[i];
            if (k == KEY_EMPTY) {
                empty = &recs[i];
                break;
            }
        }
        if (raced)
            continue;
        lock_rec_t *r = tomb ? tomb : empty;
        if (!r) {
            table_full();
            return NULL;
        }
        uintptr_t expect = tomb ? KEY_TOMB : KEY_EMPTY;
        if (!atomic_compare_exchange_strong_explicit(&r->key, &expect, a, memory_order_acq_rel,
                                                     memory_order_acquire))
            continue; /* lost a race for that slot: probe again */
        if (!tomb)    /* a tombstone's slot is listed already */
            used[atomic_fetch_add(&used_count, 1)] = (uint32_t)(r - recs);
        atomic_store_explicit(&r->kind, kind, memory_order_relaxed);
        atomic_store_explicit(&r->first_use, capture ? capture_site(t) : 0, memory_order_relaxed);
        return r;
    }
    table_full();
    return NULL;
}

static inline lock_rec_t *rec_get(const void *lock, uint32_t kind, ps_thread_t *t, int capture)
{
    lock_rec_t *r = rec_lookup((uintptr_t)lock);
    if (PS_LIKELY(r != NULL)) {
        uint32_t k = atomic_load_explicit(&r->kind, memory_order_relaxed);
        if (PS_LIKELY(k == kind || k == 0))
            return r;
    }
    return rec_create((uintptr_t)lock, kind, t, r, capture);
}

static void retire_at(const void *lock)
{
    if (!recs || ps_tls_guard)
        return;
    lock_rec_t *r = rec_lookup((uintptr_t)lock);
    if (r)
        rec_retire(r);
}

/*
 * sem_destroy (destroyed 1) and sem_init (0) at s. A semaphore that was contended keeps its
 * record under its address, flagged while destroyed: a semaphore initialized later at that
 * address continues it. Programs recycle semaphore memory (CPython allocates a lock for every
 * Condition.wait and frees it after; malloc hands the same address out again): one record per
 * address, not one per instance, which would fill the probe chain of that address (128 slots)
 * and then the table. The others are retired as the pthread locks are.
 */
static void sem_retire_at(const sem_t *s, uint32_t destroyed)
{
    if (!recs || ps_tls_guard)
        return;
    lock_rec_t *r = rec_lookup((uintptr_t)s);
    if (!r)
        return;
    if (atomic_load_explicit(&r->kind, memory_order_relaxed) != PS_LOCK_SEM ||
        !rec_worth_keeping(r)) {
        rec_retire(r);
        return;
    }
    uint32_t f = atomic_load_explicit(&r->flags, memory_order_relaxed);
    if (!(f & REC_SEM_KEPT)) {
        if (atomic_fetch_add(&retired_kept, 1) >= rec_mask / 4) {
            rec_fold(r);
            return;
        }
        f |= REC_SEM_KEPT;
    }
    f = destroyed ? f | REC_SEM_DESTROYED : f & ~REC_SEM_DESTROYED;
    atomic_store_explicit(&r->flags, f, memory_order_relaxed);
}

/* ---- counters --------------------------------------------------------------------------- */

/* Exclusive holders: the lock serializes them. */
static inline void add_x(atomic_ullong *f, uint64_t v)
{
    atomic_store_explicit(f, atomic_load_explicit(f, memory_order_relaxed) + v,
                          memory_order_relaxed);
}
static inline void max_x(atomic_ullong *f, uint64_t v)
{
    if (v > atomic_load_explicit(f, memory_order_relaxed))
        atomic_store_explicit(f, v, memory_order_relaxed);
}
static inline void add_s(atomic_ullong *f, uint64_t v)
{
    atomic_fetch_add_explicit(f, v, memory_order_relaxed);
}

static PS_NOINLINE void site_add(lock_rec_t *r, uint32_t stack, int contended, uint64_t wait,
                                 int sampled)
{
    uint64_t slot = (uint64_t)(r - recs);
    uint64_t key =
        (1ull << 63) | ((uint64_t)(r->gen & 0x7fff) << 48) | (slot << 24) | (stack & 0xffffffu);
    uint64_t h = (key * 0x9e3779b97f4a7c15ull) >> 48; /* 16 bits: SITE_SLOTS */
    for (unsigned n = 0; n < PROBE_LIMIT; n++, h = (h + 1) & (SITE_SLOTS - 1)) {
        site_rec_t *s = &sites[h];
        uint64_t k = atomic_load_explicit(&s->key, memory_order_acquire);
        if (k == 0) {
            unsigned long long expect = 0; /* the type atomic_ullong's compare-exchange takes */
            if (atomic_compare_exchange_strong_explicit(&s->key, &expect, key, memory_order_acq_rel,
                                                        memory_order_acquire))
                site_used[atomic_fetch_add(&site_used_count, 1)] = h;
            else if (expect != key)
                continue;
            k = key;
        }
        if (k != key)
            continue;
        /* estimated acquisitions: contended ones exactly, uncontended ones by their samples */
        add_s(&s->acquisitions, contended ? 1 : (uint64_t)ps_g.opt.lock_sample);
        if (contended) {
            add_s(&s->contended, 1);
            add_s(&s->wait, wait);
            ps_max_u64(&s->max_wait, wait);
        }
        if (sampled)
            add_s(&s->samples, 1);
        return;
    }
    add_s(&sites_dropped, 1);
}

static inline uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

/* Adds a thread's pending counts to its record (if the slot still holds that lock). For a
 * semaphore the second count is its posts, and the thread's posts that match acquisitions of
 * its own (min of the two) are its lock-like use (paired_posts). */
static void lockc_flush(uint32_t slot1, uint32_t gen, uint64_t acq, uint64_t reads)
{
    if (!slot1 || !(acq | reads))
        return;
    lock_rec_t *r = &recs[slot1 - 1];
    if (r->gen != gen)
        return; /* folded away and reused: those acquisitions are in retired_quiet */
    add_s(&r->acquisitions, acq);
    if (atomic_load_explicit(&r->kind, memory_order_relaxed) == PS_LOCK_SEM) {
        add_s(&r->signals, reads);
        add_s(&r->paired_posts, min_u64(acq, reads));
    } else {
        add_s(&r->read_acquisitions, reads);
    }
}

typedef __typeof__(((ps_thread_t *)0)->lockc[0]) lockc_t;

static inline lockc_t *lockc_of(ps_thread_t *t, uintptr_t a)
{
    return &t->lockc[((a >> 4) ^ (a >> 10)) & (PS_LOCKC - 1)];
}

/* The entry tag of a lock: its address (at least 4-byte aligned: the wrappers pass anything
 * else through) or'ed with 2 bits of kind: mutex 1, rwlock 2, spinlock 3, semaphore 0. */
static inline uintptr_t lockc_tag(uintptr_t a, uint32_t kind)
{
    return a | (kind == PS_LOCK_SEM ? 0u : kind);
}

/* The record of lock for this thread's counter entry e: a hit when the entry holds this lock
 * and its slot still does (not destroyed, re-created or re-initialized since). */
static inline lock_rec_t *lockc_hit(const lockc_t *e, uintptr_t a, uint32_t kind)
{
    if (PS_UNLIKELY(e->tag != lockc_tag(a, kind)))
        return NULL;
    lock_rec_t *r = e->rec;
    if (PS_UNLIKELY(r->gen != e->gen || atomic_load_explicit(&r->key, memory_order_relaxed) != a))
        return NULL;
    return r;
}

/*
 * A miss: find (or create) the lock's record, and give the entry to it. capture: this is an
 * acquisition (a stack may be captured), not a sem_post.
 *
 * A signal handler's sem_post may interrupt this on the same thread and use the same entry:
 * the tag is cleared first and set last, and the slot is cleared before the old counts are
 * flushed, so that the handler never sees a tag with another lock's record, nor flushes the
 * same counts twice (it may lose its own post count, overwritten here: never a crash).
 */
static PS_NOINLINE lock_rec_t *lockc_miss(ps_thread_t *t, lockc_t *e, void *lock, uint32_t kind,
                                          int capture)
{
    lock_rec_t *r = rec_get(lock, kind, t, capture);
    if (!r)
        return NULL;
    if (kind == PS_LOCK_SEM && capture &&
        !atomic_load_explicit(&r->first_use, memory_order_relaxed)) {
        /* created by a post: its first acquisition is its first use worth a stack */
        uint32_t expect = 0;
        atomic_compare_exchange_strong_explicit(&r->first_use, &expect, capture_site(t),
                                                memory_order_relaxed, memory_order_relaxed);
    }
    uint32_t slot1 = e->slot1, gen = e->gen;
    uint64_t acq = e->acq, reads = e->reads;
    e->tag = 0;
    e->slot1 = 0;
    atomic_signal_fence(memory_order_seq_cst);
    lockc_flush(slot1, gen, acq, reads);
    e->rec = r;
    e->slot1 = (uint32_t)(r - recs) + 1;
    e->gen = r->gen;
    e->acq = 0;
    e->reads = 0;
    atomic_signal_fence(memory_order_seq_cst);
    e->tag = lockc_tag((uintptr_t)lock, kind);
    return r;
}

/* An acquisition counted ahead (before its try) did not happen. */
static void uncount_local(ps_thread_t *t, const void *lock, int shared)
{
    lockc_t *e = lockc_of(t, (uintptr_t)lock);
    if ((e->tag & ~(uintptr_t)3) != (uintptr_t)lock)
        return;
    if (e->acq)
        e->acq--;
    if (shared && e->reads)
        e->reads--;
}

/* An acquisition counted after it happened (try-locks, and waits: a thread blocked in a wait,
 * or cancelled there, holds nothing). Into the record when the entry has changed meanwhile. */
static void count_local(ps_thread_t *t, lock_rec_t *r, const void *lock, int shared)
{
    lockc_t *e = lockc_of(t, (uintptr_t)lock);
    if ((e->tag & ~(uintptr_t)3) == (uintptr_t)lock && e->rec == r) {
        e->acq++;
        e->reads += (uint64_t)shared;
        return;
    }
    add_s(&r->acquisitions, 1);
    if (shared)
        add_s(&r->read_acquisitions, 1);
}

/*
 * What a contended or sampled acquisition, or the end of a timed hold, adds to the shared
 * records is not written while the lock is held: the thread notes it in its pending list and
 * applies it right after its next unlock (flush_pending). Writing shared, contended cache lines
 * inside the critical section made it longer and contention worse (lockheavy: 1.5x).
 */
#define PEND_CONTENDED 1u
#define PEND_SAMPLED 2u
#define PEND_SHARED 4u
#define PEND_HOLD 8u
#define PEND_WAKE 16u /* a semaphore's blocked waiter woke: ticks from the latest post */

static void apply(ps_thread_t *t, uint32_t slot, uint32_t gen, uint32_t flags, uint32_t site,
                  uint64_t ticks)
{
    lock_rec_t *r = &recs[slot];
    uintptr_t k = atomic_load_explicit(&r->key, memory_order_relaxed);
    if (r->gen != gen || k == KEY_EMPTY || k == KEY_TOMB)
        return; /* the lock was destroyed and its slot reused meanwhile */
    if (flags & PEND_HOLD) {
        add_s(&r->hold, ticks);
        ps_max_u64(&r->max_hold, ticks);
        add_s(&r->hold_samples, 1);
        return;
    }
    if (flags & PEND_WAKE) {
        add_s(&r->wake, ticks);
        ps_max_u64(&r->max_wake, ticks);
        add_s(&r->wakes, 1);
        return;
    }
    int contended = (flags & PEND_CONTENDED) != 0;
    if (contended) {
        add_s(&r->contended, 1);
        add_s(&r->wait, ticks);
        ps_max_u64(&r->max_wait, ticks);
    }
    if (!(flags & PEND_SHARED) &&
        atomic_load_explicit(&r->kind, memory_order_relaxed) != PS_LOCK_SEM) { /* no owner */
        uint32_t prev = atomic_exchange_explicit(&r->last_owner, t->tid, memory_order_relaxed);
        if (prev != 0 && prev != t->tid) /* estimate: see docs/options.md PERFSHIM_LOCK_SAMPLE */
            add_s(&r->owner_changes, contended ? 1 : (uint64_t)ps_g.opt.lock_sample);
    }
    if (site)
        site_add(r, site, contended, ticks, (flags & PEND_SAMPLED) != 0);
}

/* Nonzero while this thread has pending figures or a timed hold: the one thing the unlock
 * wrappers test (a TLS load, no lookup of the thread's state), so that an unlock adds as
 * little as possible to the critical section it ends. Kept equal to nholds | npend. */
static __thread int tls_unlock_work __attribute__((tls_model("initial-exec")));

static inline void sync_unlock_work(const ps_thread_t *t)
{
    tls_unlock_work = (t->nholds | t->npend) != 0;
}

static void pend(ps_thread_t *t, lock_rec_t *r, uint32_t flags, uint32_t site, uint64_t ticks)
{
    uint32_t slot = (uint32_t)(r - recs);
    if (PS_UNLIKELY(t->npend >= PS_PEND)) { /* many locks held at once: apply now */
        apply(t, slot, r->gen, flags, site, ticks);
        return;
    }
    __typeof__(t->pend[0]) *e = &t->pend[t->npend++];
    e->slot = slot;
    e->gen = r->gen;
    e->flags = flags;
    e->site = site;
    e->ticks = ticks;
    tls_unlock_work = 1;
}

static void flush_pending(ps_thread_t *t)
{
    /* apply() may run site_add, which never locks nor allocates: safe wherever unlock is */
    for (uint32_t i = 0; i < t->npend; i++)
        apply(t, t->pend[i].slot, t->pend[i].gen, t->pend[i].flags, t->pend[i].site,
              t->pend[i].ticks);
    t->npend = 0;
    sync_unlock_work(t);
}

/* The rare part of an acquisition that succeeded: contended, sampled, or a recursive
 * acquisition of a lock whose hold is being timed. Runs inside the critical section, so it
 * only writes the thread's own state. */
static PS_NOINLINE void acquired_slow(lock_rec_t *r, ps_thread_t *t, const void *lock, int shared,
                                      int contended, uint64_t wait, int sampled, uint32_t site)
{
    for (uint32_t i = 0; i < t->nholds; i++)
        if (t->holds[i].lock == (uintptr_t)lock)
            t->holds[i].nest++;
    if (!(contended | sampled))
        return;
    uint32_t flags = (contended ? PEND_CONTENDED : 0) | (sampled ? PEND_SAMPLED : 0) |
                     (shared ? PEND_SHARED : 0);
    pend(t, r, flags, site, wait);
    /* time this hold (not read-side holds, nor a semaphore's: any thread may post it) */
    if (sampled && !shared && t->nholds < PS_HOLDS &&
        atomic_load_explicit(&r->kind, memory_order_relaxed) != PS_LOCK_SEM) {
        t->holds[t->nholds].lock = (uintptr_t)lock;
        t->holds[t->nholds].slot = (uint32_t)(r - recs);
        t->holds[t->nholds].nest = 1;
        t->holds[t->nholds].start = ps_ticks();
        t->nholds++;
        tls_unlock_work = 1;
    }
}

/* A hold of lock by this thread ends (just before the real unlock): timed if it was sampled. */
static void hold_ends(ps_thread_t *t, const void *lock)
{
    for (uint32_t i = 0; i < t->nholds; i++) {
        if (t->holds[i].lock != (uintptr_t)lock || --t->holds[i].nest > 0)
            continue;
        uint64_t h = ps_ticks() - t->holds[i].start;
        lock_rec_t *r = &recs[t->holds[i].slot];
        if (atomic_load_explicit(&r->key, memory_order_relaxed) == (uintptr_t)lock)
            pend(t, r, PEND_HOLD, 0, h);
        t->holds[i] = t->holds[--t->nholds];
        sync_unlock_work(t);
        return;
    }
}

/* An unlock with work around it: end a timed hold before, apply pending figures after. */
static PS_NOINLINE int unlock_slow(ps_thread_t *t, void *lock, int (*real)(void *))
{
    if (t->nholds)
        hold_ends(t, lock);
    int rc = real(lock);
    flush_pending(t);
    return rc;
}

/* The unlock wrappers' fast path: nothing to do unless this thread has pending figures or a
 * timed hold. */
#define UNLOCK(real_fn, lock)                                                                      \
    do {                                                                                           \
        ps_thread_t *t_;                                                                           \
        if (PS_LIKELY(!tls_unlock_work) || !(t_ = ps_thread_peek()))                               \
            return REAL(real_fn)(lock);                                                            \
        return unlock_slow(t_, (void *)(lock), (int (*)(void *))real_##real_fn);                   \
    } while (0)

static inline ps_thread_t *timing_thread(void)
{
    if (PS_LIKELY(!ps_g.locks_on) || ps_tls_guard)
        return NULL;
    ps_thread_t *t = ps_thread_peek();
    return PS_LIKELY(t != NULL) ? t : ps_track_thread();
}

/*
 * One acquisition. try_fn is the non-blocking attempt; wait_fn blocks (honouring a timeout if
 * it has one). is_try: the caller asked for a try-lock, so a busy lock is a failure.
 *
 * Budget (uncontended, not sampled; callgrind): the table lookup, the countdown and the
 * thread-local count happen before the try, so that nothing but one test of the thread's
 * state runs inside the critical section. acquire() is inlined into each wrapper so the
 * try and wait functions are direct calls.
 */
typedef int (*try_fn_t)(void *);
typedef int (*wait_fn_t)(void *, clockid_t, const struct timespec *);

/* A semaphore's contended wait: announced in the record's waiters (sem_post notes the time of
 * its post when there are any), withdrawn also when the thread is cancelled in the wait (it is
 * a cancellation point). *wake: ticks from the latest post to the return, or UINT64_MAX. */
static void sem_waiter_gone(void *r)
{
    atomic_fetch_sub_explicit(&((lock_rec_t *)r)->waiters, 1, memory_order_relaxed);
}

static PS_NOINLINE int sem_wait_counted(lock_rec_t *r, wait_fn_t wait_fn, void *lock, clockid_t clk,
                                        const struct timespec *ts, uint64_t *wait, uint64_t *wake)
{
    atomic_fetch_add_explicit(&r->waiters, 1, memory_order_relaxed);
    uint64_t t0 = ps_ticks();
    int rc;
    pthread_cleanup_push(sem_waiter_gone, r);
    rc = wait_fn(lock, clk, ts);
    pthread_cleanup_pop(1);
    uint64_t t1 = ps_ticks();
    uint64_t sig = atomic_load_explicit(&r->last_signal, memory_order_relaxed);
    *wait = t1 - t0;
    *wake = (rc == 0 && sig > t0 && sig <= t1) ? t1 - sig : UINT64_MAX;
    return rc;
}

static PS_NOINLINE int acquire_rest(ps_thread_t *t, lock_rec_t *r, void *lock, int shared, int rc,
                                    wait_fn_t wait_fn, clockid_t clk, const struct timespec *ts,
                                    int is_try, int sampled, uint32_t site)
{
    int contended = 0;
    uint64_t wait = 0, wake = UINT64_MAX;
    if (rc == EBUSY) {
        if (is_try) {
            add_s(&r->trylock_failures, 1);
            return rc;
        }
        if (!site)
            site = capture_site(t); /* the thread is about to wait anyway */
        contended = 1;
        uncount_local(t, lock, shared); /* counted again once the wait succeeds */
        if (atomic_load_explicit(&r->kind, memory_order_relaxed) == PS_LOCK_SEM) {
            rc = sem_wait_counted(r, wait_fn, lock, clk, ts, &wait, &wake);
        } else {
            uint64_t t0 = ps_ticks();
            rc = wait_fn(lock, clk, ts);
            wait = ps_ticks() - t0;
        }
    }
    if (rc != 0 && rc != EOWNERDEAD) {
        if (!is_try && !contended)
            uncount_local(t, lock, shared);
        if (rc == ETIMEDOUT || rc == EINTR) { /* EINTR: a semaphore's wait, interrupted */
            add_s(&r->timeouts, rc == ETIMEDOUT);
            add_s(&r->wait, wait);
        }
        return rc;
    }
    if (is_try || contended)
        count_local(t, r, lock, shared);
    if (wake != UINT64_MAX)
        pend(t, r, PEND_WAKE, 0, wake);
    acquired_slow(r, t, lock, shared, contended, wait, sampled, site);
    return rc;
}

/* Everything but the common case: this acquisition is sampled, or the thread times a hold, or
 * the lock is not in the thread's cache. */
static PS_NOINLINE int acquire_general(ps_thread_t *t, lockc_t *e, lock_rec_t *r, void *lock,
                                       uint32_t kind, int shared, try_fn_t try_fn,
                                       wait_fn_t wait_fn, clockid_t clk, const struct timespec *ts,
                                       int is_try, int sampled)
{
    if (!r && !(r = lockc_miss(t, e, lock, kind, 1))) {
        int rc = try_fn(lock); /* the table is full: not counted */
        return (rc == EBUSY && !is_try) ? wait_fn(lock, clk, ts) : rc;
    }
    uint32_t site = 0;
    if (sampled) {
        t->lock_countdown = ps_g.opt.lock_sample;
        site = capture_site(t);
    }
    if (!is_try) {
        e->acq++;
        e->reads += (uint64_t)shared;
    }
    int rc = try_fn(lock);
    return acquire_rest(t, r, lock, shared, rc, wait_fn, clk, ts, is_try, sampled, site);
}

/* The common case found the lock busy (or the try failed otherwise). Nothing travels across
 * the try in the fast path (no register to save: the wrappers need no frame), so the
 * thread, the lock (left in t->try_lock) and its record are looked up again here. */
static PS_NOINLINE int acquire_busy(uint32_t kind, int shared, int rc, wait_fn_t wait_fn,
                                    clockid_t clk, const struct timespec *ts, int is_try)
{
    ps_thread_t *t = ps_thread_peek();
    void *lock = t->try_lock;
    lock_rec_t *r = lockc_hit(lockc_of(t, (uintptr_t)lock), (uintptr_t)lock, kind);
    if (!r) /* destroyed and re-created meanwhile by another thread: not recorded */
        return (rc == EBUSY && !is_try) ? wait_fn(lock, clk, ts) : rc;
    return acquire_rest(t, r, lock, shared, rc, wait_fn, clk, ts, is_try, 0, 0);
}

static inline __attribute__((always_inline)) int acquire(ps_thread_t *t, void *lock, uint32_t kind,
                                                         int shared, try_fn_t try_fn,
                                                         wait_fn_t wait_fn, clockid_t clk,
                                                         const struct timespec *ts, int is_try)
{
    lockc_t *e = lockc_of(t, (uintptr_t)lock);
    lock_rec_t *r = lockc_hit(e, (uintptr_t)lock, kind);
    int sampled = --t->lock_countdown <= 0;
    if (PS_UNLIKELY(!r || sampled || t->nholds))
        return acquire_general(t, e, r, lock, kind, shared, try_fn, wait_fn, clk, ts, is_try,
                               sampled);
    if (!is_try) { /* counted ahead of the try, outside the critical section; undone if it fails */
        e->acq++;
        e->reads += (uint64_t)shared;
    }
    t->try_lock = lock;
    int rc = try_fn(lock);
    if (PS_LIKELY(rc == 0)) {
        if (is_try) {
            ps_thread_t *self = ps_thread_peek();
            e = lockc_of(self, (uintptr_t)self->try_lock);
            e->acq++;
            e->reads += (uint64_t)shared;
        }
        return 0;
    }
    return acquire_busy(kind, shared, rc, wait_fn, clk, ts, is_try);
}

/* ---- mutexes ---------------------------------------------------------------------------- */

static int mutex_try(void *m)
{
    return real_pthread_mutex_trylock(m);
}
static int mutex_wait(void *m, clockid_t clk, const struct timespec *ts)
{
    if (!ts)
        return real_pthread_mutex_lock(m);
    if (clk == (clockid_t)-1)
        return real_pthread_mutex_timedlock(m, ts);
    return real_pthread_mutex_clocklock(m, clk, ts);
}

int ps_locks_pthread_mutex_init(pthread_mutex_t *m, const pthread_mutexattr_t *a)
{
    retire_at(m);
    return REAL(pthread_mutex_init)(m, a);
}

int ps_locks_pthread_mutex_destroy(pthread_mutex_t *m)
{
    int rc = REAL(pthread_mutex_destroy)(m);
    if (rc == 0)
        retire_at(m);
    return rc;
}

/* The timed path of the most common call is a function of its own: with lock timing off the
 * wrapper (ps_locks_pthread_mutex_lock, which the export jumps to) stays a test and a tail call,
 * with no frame to set up. */
static PS_NOINLINE int mutex_lock_timed(ps_thread_t *t, void *m)
{
    return acquire(t, m, PS_LOCK_MUTEX, 0, mutex_try, mutex_wait, 0, NULL, 0);
}

int ps_locks_pthread_mutex_lock(pthread_mutex_t *m)
{
    ps_thread_t *t = timing_thread();
    if (PS_LIKELY(!t))
        return REAL(pthread_mutex_lock)(m);
    return mutex_lock_timed(t, m);
}

int ps_locks_pthread_mutex_trylock(pthread_mutex_t *m)
{
    ps_thread_t *t = timing_thread();
    if (PS_LIKELY(!t))
        return REAL(pthread_mutex_trylock)(m);
    return acquire(t, m, PS_LOCK_MUTEX, 0, mutex_try, mutex_wait, 0, NULL, 1);
}

int ps_locks_pthread_mutex_timedlock(pthread_mutex_t *m, const struct timespec *ts)
{
    ps_thread_t *t = timing_thread();
    if (PS_LIKELY(!t))
        return REAL(pthread_mutex_timedlock)(m, ts);
    return acquire(t, m, PS_LOCK_MUTEX, 0, mutex_try, mutex_wait, (clockid_t)-1, ts, 0);
}

int ps_locks_pthread_mutex_clocklock(pthread_mutex_t *m, clockid_t clk, const struct timespec *ts)
{
    ps_thread_t *t = timing_thread();
    if (PS_LIKELY(!t) || clk == (clockid_t)-1)
        return REAL(pthread_mutex_clocklock)(m, clk, ts);
    return acquire(t, m, PS_LOCK_MUTEX, 0, mutex_try, mutex_wait, clk, ts, 0);
}

int ps_locks_pthread_mutex_unlock(pthread_mutex_t *m)
{
    UNLOCK(pthread_mutex_unlock, m);
}

/* ---- rwlocks ------------------------------------------------------------------------------ */

static int rd_try(void *l)
{
    return real_pthread_rwlock_tryrdlock(l);
}
static int rd_wait(void *l, clockid_t clk, const struct timespec *ts)
{
    if (!ts)
        return real_pthread_rwlock_rdlock(l);
    if (clk == (clockid_t)-1)
        return real_pthread_rwlock_timedrdlock(l, ts);
    return real_pthread_rwlock_clockrdlock(l, clk, ts);
}
static int wr_try(void *l)
{
    return real_pthread_rwlock_trywrlock(l);
}
static int wr_wait(void *l, clockid_t clk, const struct timespec *ts)
{
    if (!ts)
        return real_pthread_rwlock_wrlock(l);
    if (clk == (clockid_t)-1)
        return real_pthread_rwlock_timedwrlock(l, ts);
    return real_pthread_rwlock_clockwrlock(l, clk, ts);
}

int ps_locks_pthread_rwlock_init(pthread_rwlock_t *l, const pthread_rwlockattr_t *a)
{
    retire_at(l);
    return REAL(pthread_rwlock_init)(l, a);
}

int ps_locks_pthread_rwlock_destroy(pthread_rwlock_t *l)
{
    int rc = REAL(pthread_rwlock_destroy)(l);
    if (rc == 0)
        retire_at(l);
    return rc;
}

#define RW_ENTRY(fname, shared, tryf, waitf, is_try)                                               \
    int ps_locks_##fname(pthread_rwlock_t *l)                                                      \
    {                                                                                              \
        ps_thread_t *t = timing_thread();                                                          \
        if (PS_LIKELY(!t))                                                                         \
            return REAL(fname)(l);                                                                 \
        return acquire(t, l, PS_LOCK_RWLOCK, shared, tryf, waitf, 0, NULL, is_try);                \
    }
RW_ENTRY(pthread_rwlock_rdlock, 1, rd_try, rd_wait, 0)
RW_ENTRY(pthread_rwlock_wrlock, 0, wr_try, wr_wait, 0)
RW_ENTRY(pthread_rwlock_tryrdlock, 1, rd_try, rd_wait, 1)
RW_ENTRY(pthread_rwlock_trywrlock, 0, wr_try, wr_wait, 1)

#define RW_TIMED(fname, shared, tryf, waitf)                                                       \
    int ps_locks_##fname(pthread_rwlock_t *l, const struct timespec *ts)                           \
    {                                                                                              \
        ps_thread_t *t = timing_thread();                                                          \
        if (PS_LIKELY(!t))                                                                         \
            return REAL(fname)(l, ts);                                                             \
        return acquire(t, l, PS_LOCK_RWLOCK, shared, tryf, waitf, (clockid_t)-1, ts, 0);           \
    }
RW_TIMED(pthread_rwlock_timedrdlock, 1, rd_try, rd_wait)
RW_TIMED(pthread_rwlock_timedwrlock, 0, wr_try, wr_wait)

#define RW_CLOCK(fname, shared, tryf, waitf)                                                       \
    int ps_locks_##fname(pthread_rwlock_t *l, clockid_t clk, const struct timespec *ts)            \
    {                                                                                              \
        ps_thread_t *t = timing_thread();                                                          \
        if (PS_LIKELY(!t) || clk == (clockid_t)-1)                                                 \
            return REAL(fname)(l, clk, ts);                                                        \
        return acquire(t, l, PS_LOCK_RWLOCK, shared, tryf, waitf, clk, ts, 0);                     \
    }
RW_CLOCK(pthread_rwlock_clockrdlock, 1, rd_try, rd_wait)
RW_CLOCK(pthread_rwlock_clockwrlock, 0, wr_try, wr_wait)

int ps_locks_pthread_rwlock_unlock(pthread_rwlock_t *l)
{
    UNLOCK(pthread_rwlock_unlock, l); /* only writers' holds are timed */
}

/* ---- spinlocks ---------------------------------------------------------------------------- */

static int spin_try(void *l)
{
    return real_pthread_spin_trylock(l);
}
static int spin_wait(void *l, clockid_t clk, const struct timespec *ts)
{
    (void)clk;
    (void)ts;
    return real_pthread_spin_lock(l);
}

int ps_locks_pthread_spin_init(pthread_spinlock_t *l, int pshared)
{
    retire_at((const void *)l);
    return REAL(pthread_spin_init)(l, pshared);
}

int ps_locks_pthread_spin_destroy(pthread_spinlock_t *l)
{
    int rc = REAL(pthread_spin_destroy)(l);
    if (rc == 0)
        retire_at((const void *)l);
    return rc;
}

int ps_locks_pthread_spin_lock(pthread_spinlock_t *l)
{
    ps_thread_t *t = timing_thread();
    if (PS_LIKELY(!t))
        return REAL(pthread_spin_lock)(l);
    return acquire(t, (void *)l, PS_LOCK_SPIN, 0, spin_try, spin_wait, 0, NULL, 0);
}

int ps_locks_pthread_spin_trylock(pthread_spinlock_t *l)
{
    ps_thread_t *t = timing_thread();
    if (PS_LIKELY(!t))
        return REAL(pthread_spin_trylock)(l);
    return acquire(t, (void *)l, PS_LOCK_SPIN, 0, spin_try, spin_wait, 0, NULL, 1);
}

int ps_locks_pthread_spin_unlock(pthread_spinlock_t *l)
{
    UNLOCK(pthread_spin_unlock, l);
}

/* ---- semaphores --------------------------------------------------------------------------- */

/*
 * The acquisition machinery speaks the pthread convention (0 or an error number; EBUSY: the
 * try found it taken); the semaphore functions return -1 and set errno. The adapters translate,
 * and the wrappers give the caller exactly the real functions' errno: the value a failing real
 * call set, or on success the caller's own (the shim's work in between may change it).
 */
static int sem_try(void *s)
{
    if (real_sem_trywait(s) == 0)
        return 0;
    int e = errno;
    return e == EAGAIN ? EBUSY : e;
}

static int sem_block(void *s, clockid_t clk, const struct timespec *ts)
{
    int rc;
    if (!ts)
        rc = real_sem_wait(s);
    else if (clk == (clockid_t)-1)
        rc = real_sem_timedwait(s, ts);
    else
        rc = real_sem_clockwait(s, clk, ts);
    return rc == 0 ? 0 : errno;
}

/* What glibc checks before it even tries the semaphore (a bad timeout fails even when the
 * count is not 0): such calls go to glibc untimed. */
static inline int sem_valid_timeout(const struct timespec *ts)
{
    return ts && ts->tv_nsec >= 0 && ts->tv_nsec < 1000000000L;
}

/* Whether the calling thread times semaphores now: lock timing on, not inside the shim, and a
 * semaphore the table can key (4-byte aligned). */
static inline int sem_timing(const sem_t *s)
{
    return PS_UNLIKELY(ps_g.locks_on) && !ps_tls_guard && !((uintptr_t)s & 3);
}

/*
 * One acquisition of a semaphore; the result in the pthread convention. The common case (the
 * thread's entry knows the semaphore, not sampled) is written out here rather than taken from
 * acquire(): the semaphore wrappers keep registers across the try anyway (errno), so the
 * try's result is acted on directly. The rest is acquire()'s.
 */
static inline __attribute__((always_inline)) int
sem_acquire(ps_thread_t *t, sem_t *s, clockid_t clk, const struct timespec *ts, int is_try)
{
    uintptr_t a = (uintptr_t)s;
    lockc_t *e = lockc_of(t, a);
    lock_rec_t *r = lockc_hit(e, a, PS_LOCK_SEM);
    int sampled = --t->lock_countdown <= 0;
    if (PS_UNLIKELY(!r || sampled))
        return acquire_general(t, e, r, s, PS_LOCK_SEM, 0, sem_try, sem_block, clk, ts, is_try,
                               sampled);
    if (is_try) {
        int rc = sem_try(s);
        if (PS_LIKELY(rc == 0))
            e->acq++;
        else if (rc == EBUSY)
            add_s(&r->trylock_failures, 1);
        return rc;
    }
    e->acq++; /* counted ahead of the try, as acquire() does: acquire_rest undoes it to wait */
    int rc = sem_try(s);
    if (PS_LIKELY(rc == 0))
        return 0;
    return acquire_rest(t, r, s, 0, rc, sem_block, clk, ts, 0, 0, 0);
}

/* sem_trywait: a failed try already set errno as glibc does; a success changed nothing. */
static PS_NOINLINE int sem_trywait_general(sem_t *s)
{
    ps_thread_t *t = ps_thread_peek();
    if (PS_UNLIKELY(!t) && !(t = ps_track_thread()))
        return real_sem_trywait(s);
    int rc = sem_acquire(t, s, 0, NULL, 1);
    if (PS_LIKELY(rc == 0))
        return 0;
    errno = rc == EBUSY ? EAGAIN : rc;
    return -1;
}

/* The common case of sem_trywait (CPython's uncontended Lock.acquire): nothing but the entry
 * lives across the real call, so that this needs one saved register. */
static PS_NOINLINE int sem_trywait_timed(sem_t *s)
{
    ps_thread_t *t = ps_thread_peek();
    uintptr_t a = (uintptr_t)s;
    lockc_t *e;
    if (PS_UNLIKELY(!t) || !lockc_hit(e = lockc_of(t, a), a, PS_LOCK_SEM) ||
        PS_UNLIKELY(t->lock_countdown <= 1)) /* sampled: the general path counts down */
        return sem_trywait_general(s);
    t->lock_countdown--;
    if (PS_LIKELY(real_sem_trywait(s) == 0)) {
        e->acq++;
        return 0;
    }
    if (errno == EAGAIN) /* e->rec: a record, if not this one after a signal handler's post */
        add_s(&((lock_rec_t *)e->rec)->trylock_failures, 1);
    return -1;
}

/* sem_wait (ts NULL), sem_timedwait (clk -1), sem_clockwait. They are cancellation points even
 * when the count is not 0 (glibc tests for a pending cancellation first): so is this, before
 * the try. A failed try sets errno, a later successful wait does not: the caller's is put
 * back. */
static PS_NOINLINE int sem_wait_timed(sem_t *s, clockid_t clk, const struct timespec *ts)
{
    int *err = &errno;
    int saved = *err;
    pthread_testcancel();
    ps_thread_t *t = ps_thread_peek();
    int rc;
    if (PS_UNLIKELY(!t) && !(t = ps_track_thread()))
        rc = sem_block(s, clk, ts);
    else
        rc = sem_acquire(t, s, clk, ts, 0);
    if (PS_LIKELY(rc == 0)) {
        *err = saved;
        return 0;
    }
    *err = rc;
    return -1;
}

int ps_locks_sem_init(sem_t *s, int pshared, unsigned int value)
{
    sem_retire_at(s, 0);
    return REAL(sem_init)(s, pshared, value);
}

int ps_locks_sem_destroy(sem_t *s)
{
    int rc = REAL(sem_destroy)(s);
    if (rc == 0)
        sem_retire_at(s, 1); /* sets no errno */
    return rc;
}

int ps_locks_sem_wait(sem_t *s)
{
    if (PS_LIKELY(!sem_timing(s)))
        return REAL(sem_wait)(s);
    return sem_wait_timed(s, 0, NULL);
}

int ps_locks_sem_trywait(sem_t *s)
{
    if (PS_LIKELY(!sem_timing(s)))
        return REAL(sem_trywait)(s);
    return sem_trywait_timed(s);
}

int ps_locks_sem_timedwait(sem_t *s, const struct timespec *ts)
{
    if (PS_LIKELY(!sem_timing(s)) || !sem_valid_timeout(ts))
        return REAL(sem_timedwait)(s, ts);
    return sem_wait_timed(s, (clockid_t)-1, ts);
}

int ps_locks_sem_clockwait(sem_t *s, clockid_t clk, const struct timespec *ts)
{
    if (PS_LIKELY(!sem_timing(s)) || (clk != CLOCK_REALTIME && clk != CLOCK_MONOTONIC) ||
        !sem_valid_timeout(ts))
        return REAL(sem_clockwait)(s, clk, ts);
    return sem_wait_timed(s, clk, ts);
}

/*
 * A post: counted in the thread's entry for the semaphore (a thread without shim state yet
 * counts into the record); when a thread is blocked in a timed wait, the time is noted for
 * its wake-up latency. Then, as after an unlock, the thread's pending figures are applied.
 * Async-signal-safe like sem_post itself (see the top of this file).
 */
static PS_NOINLINE int sem_post_general(sem_t *s)
{
    ps_thread_t *t = ps_thread_peek();
    uintptr_t a = (uintptr_t)s;
    if (PS_UNLIKELY(!t)) { /* never creates thread state: this may be a signal handler */
        lock_rec_t *r = rec_get(s, PS_LOCK_SEM, NULL, 0);
        if (r && atomic_load_explicit(&r->waiters, memory_order_relaxed))
            atomic_store_explicit(&r->last_signal, ps_ticks(), memory_order_relaxed);
        int rc = real_sem_post(s);
        if (r && rc == 0)
            add_s(&r->signals, 1);
        return rc;
    }
    lockc_t *e = lockc_of(t, a);
    lock_rec_t *r = lockc_hit(e, a, PS_LOCK_SEM);
    if (!r && !(r = lockc_miss(t, e, s, PS_LOCK_SEM, 0)))
        return real_sem_post(s); /* the table is full */
    if (atomic_load_explicit(&r->waiters, memory_order_relaxed))
        atomic_store_explicit(&r->last_signal, ps_ticks(), memory_order_relaxed);
    e->reads++; /* counted ahead; undone if it fails (EOVERFLOW) */
    int rc = real_sem_post(s);
    if (rc != 0 && e->reads)
        e->reads--;
    if (tls_unlock_work) /* flush_pending writes no errno */
        flush_pending(t);
    return rc;
}

/* The common case: the entry knows it, nobody waits, nothing pending. */
static PS_NOINLINE int sem_post_timed(sem_t *s)
{
    ps_thread_t *t = ps_thread_peek();
    uintptr_t a = (uintptr_t)s;
    lockc_t *e;
    lock_rec_t *r;
    if (PS_UNLIKELY(!t) || !(r = lockc_hit(e = lockc_of(t, a), a, PS_LOCK_SEM)) ||
        PS_UNLIKELY(atomic_load_explicit(&r->waiters, memory_order_relaxed) | tls_unlock_work))
        return sem_post_general(s);
    e->reads++;
    int rc = real_sem_post(s);
    if (PS_UNLIKELY(rc != 0) && e->reads)
        e->reads--;
    return rc;
}

int ps_locks_sem_post(sem_t *s)
{
    if (PS_LIKELY(!sem_timing(s)))
        return REAL(sem_post)(s);
    return sem_post_timed(s);
}

/* ---- condition variables ------------------------------------------------------------------ */

int ps_locks_pthread_cond_init(pthread_cond_t *c, const pthread_condattr_t *a)
{
    retire_at(c);
    return REAL(pthread_cond_init)(c, a);
}

int ps_locks_pthread_cond_destroy(pthread_cond_t *c)
{
    int rc = REAL(pthread_cond_destroy)(c);
    if (rc == 0)
        retire_at(c);
    return rc;
}

/*
 * A wait: the mutex's hold pauses while the real wait releases it and resumes when it
 * returns holding it again. Waiting time is counted on the condition variable; so is the
 * wake-up latency, the time from the latest signal or broadcast to the waiter running again
 * with the mutex (it includes reacquiring the mutex).
 */
static int cond_wait_timed(ps_thread_t *t, pthread_cond_t *c, pthread_mutex_t *m, clockid_t clk,
                           const struct timespec *ts, int which)
{
    lock_rec_t *rc_ = rec_get(c, PS_LOCK_COND, t, 1);
    for (uint32_t i = 0; i < t->nholds; i++) /* the wait releases m: a timed hold ends here */
        if (t->holds[i].lock == (uintptr_t)m) {
            t->holds[i].nest = 1;
            hold_ends(t, m);
            break;
        }
    /* every wait blocks (or is about to): its call site is worth the stack capture */
    uint32_t site = rc_ ? capture_site(t) : 0;
    uint64_t t0 = ps_ticks();
    int rc;
    if (which == 0)
        rc = real_pthread_cond_wait(c, m);
    else if (which == 1)
        rc = real_pthread_cond_timedwait(c, m, ts);
    else
        rc = real_pthread_cond_clockwait(c, m, clk, ts);
    uint64_t t1 = ps_ticks();
    if (rc_) {
        add_s(&rc_->acquisitions, 1);
        add_s(&rc_->wait, t1 - t0);
        ps_max_u64(&rc_->max_wait, t1 - t0);
        if (rc == ETIMEDOUT)
            add_s(&rc_->timeouts, 1);
        uint64_t sig = atomic_load_explicit(&rc_->last_signal, memory_order_relaxed);
        if (rc == 0 && sig > t0 && sig <= t1) {
            add_s(&rc_->wake, t1 - sig);
            ps_max_u64(&rc_->max_wake, t1 - sig);
            add_s(&rc_->wakes, 1);
        }
        if (site)
            site_add(rc_, site, 1, t1 - t0, 0);
    }
    return rc;
}

int ps_locks_pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m)
{
    ps_thread_t *t = timing_thread();
    if (PS_LIKELY(!t))
        return REAL(pthread_cond_wait)(c, m);
    return cond_wait_timed(t, c, m, 0, NULL, 0);
}

int ps_locks_pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m,
                                    const struct timespec *ts)
{
    ps_thread_t *t = timing_thread();
    if (PS_LIKELY(!t))
        return REAL(pthread_cond_timedwait)(c, m, ts);
    return cond_wait_timed(t, c, m, 0, ts, 1);
}

int ps_locks_pthread_cond_clockwait(pthread_cond_t *c, pthread_mutex_t *m, clockid_t clk,
                                    const struct timespec *ts)
{
    ps_thread_t *t = timing_thread();
    if (PS_LIKELY(!t))
        return REAL(pthread_cond_clockwait)(c, m, clk, ts);
    return cond_wait_timed(t, c, m, clk, ts, 2);
}

static void signalled(pthread_cond_t *c, ps_thread_t *t, int broadcast)
{
    lock_rec_t *r = rec_get(c, PS_LOCK_COND, t, 1);
    if (!r)
        return;
    add_s(broadcast ? &r->broadcasts : &r->signals, 1);
    atomic_store_explicit(&r->last_signal, ps_ticks(), memory_order_relaxed);
}

int ps_locks_pthread_cond_signal(pthread_cond_t *c)
{
    ps_thread_t *t = timing_thread();
    if (PS_UNLIKELY(t != NULL))
        signalled(c, t, 0);
    return REAL(pthread_cond_signal)(c);
}

int ps_locks_pthread_cond_broadcast(pthread_cond_t *c)
{
    ps_thread_t *t = timing_thread();
    if (PS_UNLIKELY(t != NULL))
        signalled(c, t, 1);
    return REAL(pthread_cond_broadcast)(c);
}

/* ---- lookups by handle ---------------------------------------------------------------------- */

/* This file's own functions, never an earlier definition in the program: a program's wrapper
 * of sem_wait that looks up libc's by handle must get ours, which calls libc, not itself. */
void *ps_locks_replacement(void *fn)
{
    if (!fn || !ps_g.locks_on)
        return fn;
#define PS_LOCK_OURS(name, ret, params, args)                                                      \
    if (fn == (void *)real_##name)                                                                 \
        return (void *)ps_locks_##name;
    PS_LOCK_FUNCS(PS_LOCK_OURS)
    PS_SEM_FUNCS(PS_LOCK_OURS)
    return fn;
}

/* ---- lock timing off: the program bound straight to libc ---------------------------------- */

/* With lock timing off for the life of the process (PERFSHIM_LOCKS is read once, and nothing
 * turns it on later), the exported wrappers only forward: a PLT hop, a test and an indirect
 * jump per call, 2.8% of sqlite3's instructions (docs/performance.md, "The call layer").
 * So every object loaded by then has its references to these functions (GOT and PLT slots,
 * plain pointers) pointed at libc's own definitions, the way they would resolve without the
 * shim: the slots now bound to our exports, or (lazy binding) still at the object's own PLT.
 * A slot bound to a third library's definition (another interposer) is left alone. Objects
 * dlopen()ed later keep our wrappers, which still forward correctly.
 *
 * Not an IFUNC resolver: the loader relocates a BIND_NOW library such as libsqlite3 before
 * the shim, and would call the resolver in an object not relocated yet (and print "Relink"). */

static const char *const lock_names[] = {
#define PS_LOCK_NAME(name, ret, params, args) #name,
    PS_LOCK_FUNCS(PS_LOCK_NAME) PS_SEM_FUNCS(PS_LOCK_NAME)
#undef PS_LOCK_NAME
};

static void **const lock_reals[] = {
#define PS_LOCK_REAL(name, ret, params, args) (void **)&real_##name,
    PS_LOCK_FUNCS(PS_LOCK_REAL) PS_SEM_FUNCS(PS_LOCK_REAL)
#undef PS_LOCK_REAL
};

typedef struct {
    uintptr_t self_lo, self_hi; /* the object defining this code (the shim, or a unit test) */
} bypass_ctx_t;

static void *bypass_pick(const ps_rebind_slot_t *s, void *arg)
{
    const bypass_ctx_t *c = arg;
    const char *n = s->name;
    if (!((n[0] == 'p' && !strncmp(n, "pthread_", 8)) || (n[0] == 's' && !strncmp(n, "sem_", 4))))
        return NULL;
    uintptr_t cur = (uintptr_t)s->cur;
    int ours = cur >= c->self_lo && cur < c->self_hi;
    int lazy = cur >= s->obj_lo && cur < s->obj_hi;
    if (!ours && !lazy)
        return NULL;
    for (size_t i = 0; i < sizeof lock_names / sizeof lock_names[0]; i++)
        if (!strcmp(n, lock_names[i]))
            return *lock_reals[i] != missing_function && *lock_reals[i] != missing_sem_function
                       ? *lock_reals[i]
                       : NULL;
    return NULL;
}

static int self_range(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    bypass_ctx_t *c = data;
    uintptr_t self = (uintptr_t)ps_locks_bypass, lo, hi;
    ps_object_range(info, &lo, &hi);
    if (self < lo || self >= hi)
        return 0;
    c->self_lo = lo;
    c->self_hi = hi;
    return 1;
}

unsigned ps_locks_bypass(void)
{
    if (ps_g.locks_on)
        return 0;
    if (!real_pthread_mutex_lock)
        resolve_all();
    bypass_ctx_t c = {0};
    dl_iterate_phdr(self_range, &c);
    if (!c.self_hi)
        return 0;
    unsigned failed = 0; /* our own references are libc's already (real_*) */
    unsigned patched = ps_rebind_others((uintptr_t)ps_locks_bypass, bypass_pick, &c, &failed);
    if (ps_g.opt.verbose)
        ps_msg_info("lock timing off: %u reference(s) to the pthread lock and semaphore "
                    "functions bound to the C library (%u in read-only memory left to perfshim)",
                    patched, failed);
    return patched;
}

/* ---- init and the LOCKS chunk ------------------------------------------------------------- */

int ps_locks_init(void)
{
    if (!real_pthread_mutex_lock)
        resolve_all();
    if (recs)
        return 0;
    uint64_t slots = 1024;
    while (slots < (uint64_t)ps_g.opt.max_locks * 2)
        slots <<= 1;
    recs = ps_os_map(slots * sizeof *recs);
    sites = ps_os_map(SITE_SLOTS * sizeof *sites);
    used = ps_os_map(slots * sizeof *used);
    site_used = ps_os_map(SITE_SLOTS * sizeof *site_used);
    if (!recs || !sites || !used || !site_used) {
        if (recs)
            ps_os_unmap(recs, slots * sizeof *recs);
        recs = NULL;
        return -1;
    }
    rec_mask = slots - 1;
    rec_shift = 64u - (unsigned)__builtin_ctzll(slots);
    return 0;
}

#define LD(f) atomic_load_explicit(&(f), memory_order_relaxed)

/* Per slot, the threads' counts not in the records yet: acquisitions, shared acquisitions (a
 * semaphore's posts), a semaphore's paired posts (as lockc_flush counts them). */
#define PEND_COUNTS 3
typedef struct pending_s {
    uint64_t *acq; /* [slots * PEND_COUNTS] */
} pending_t;

static void add_pending(ps_thread_t *t, void *arg)
{
    pending_t *p = arg;
    for (unsigned i = 0; i < PS_LOCKC; i++) {
        uint32_t slot1 = __atomic_load_n(&t->lockc[i].slot1, __ATOMIC_RELAXED);
        if (!slot1 || recs[slot1 - 1].gen != __atomic_load_n(&t->lockc[i].gen, __ATOMIC_RELAXED))
            continue;
        uint64_t acq = __atomic_load_n(&t->lockc[i].acq, __ATOMIC_RELAXED);
        uint64_t reads = __atomic_load_n(&t->lockc[i].reads, __ATOMIC_RELAXED);
        uint64_t *c = &p->acq[PEND_COUNTS * (slot1 - 1)];
        c[0] += acq;
        c[1] += reads;
        c[2] += min_u64(acq, reads); /* used for semaphores only */
    }
}

void ps_locks_thread_exit(ps_thread_t *t)
{
    if (!recs)
        return;
    flush_pending(t);
    for (unsigned i = 0; i < PS_LOCKC; i++) {
        lockc_flush(t->lockc[i].slot1, t->lockc[i].gen, t->lockc[i].acq, t->lockc[i].reads);
        t->lockc[i].slot1 = 0;
        t->lockc[i].tag = 0;
    }
}

/* Total wait of the locks in the last LOCKS chunk (ns), for PERFSHIM_PROM_FILE (alerts.c). */
static uint64_t last_wait_ns;

uint64_t ps_locks_wait_ns(void)
{
    return last_wait_ns;
}

int ps_locks_write(ps_buf_t *b, uint64_t time_ns, uint64_t hz)
{
    if (!recs)
        return -1;
    uint64_t wait_total = 0;
    uint64_t slots = rec_mask + 1;
    size_t map_bytes = slots * sizeof(uint32_t);
    size_t pend_bytes = slots * PEND_COUNTS * sizeof(uint64_t);
    uint32_t *row_of = ps_os_map(map_bytes); /* slot -> row + 1 (touched sparsely) */
    pending_t pend = {ps_os_map(pend_bytes)};
    if (!row_of || !pend.acq) {
        ps_os_unmap(row_of, map_bytes);
        ps_os_unmap(pend.acq, pend_bytes);
        return -1;
    }
    ps_thread_t *self = ps_thread_peek();
    if (self) /* the writing thread's own; other threads apply theirs at their next unlock */
        flush_pending(self);
    ps_track_for_each(add_pending, &pend);
    ps_row_locks_head_t head = {.time_ns = time_ns,
                                .sample = (uint32_t)ps_g.opt.lock_sample,
                                .flags = atomic_load(&full_warned) ? 1u : 0u,
                                .untracked_ops = LD(untracked_ops),
                                .retired_quiet = LD(retired_quiet),
                                .retired_quiet_acquisitions = LD(retired_quiet_acq)};
    ps_put_locks_head(b, &head);
    size_t count_at = ps_buf_table(b, PS_LOCK_ROW_SIZE_POSTS); /* lock_count, patched below */
    uint32_t rows = 0, nused = atomic_load(&used_count);
    for (uint32_t u = 0; u < nused; u++) {
        uint32_t i = used[u];
        const lock_rec_t *r = &recs[i];
        uintptr_t k = atomic_load_explicit(&r->key, memory_order_acquire);
        const uint64_t *c = &pend.acq[PEND_COUNTS * i];
        int sem = LD(r->kind) == PS_LOCK_SEM;
        uint64_t acq = LD(r->acquisitions) + c[0];
        uint64_t reads = sem ? 0 : LD(r->read_acquisitions) + c[1];
        uint64_t signals = LD(r->signals) + (sem ? c[1] : 0); /* a semaphore's: its posts */
        uint64_t paired = sem ? LD(r->paired_posts) + c[2] : 0;
        if (k == KEY_EMPTY || k == KEY_TOMB ||
            !(acq | LD(r->trylock_failures) | LD(r->timeouts) | signals | LD(r->broadcasts)))
            continue;
        row_of[i] = ++rows;
        uint64_t samples = LD(r->hold_samples), hold = LD(r->hold);
        uint64_t excl = acq > reads ? acq - reads : 0;
        if (samples && excl > samples) /* estimate: the measured holds stand for the others */
            hold = (uint64_t)((double)hold * (double)excl / (double)samples);
        ps_row_lock_t row = {.address = k & ~KEY_RETIRED,
                             .kind = LD(r->kind),
                             .flags = (k & KEY_RETIRED) || (LD(r->flags) & REC_SEM_DESTROYED)
                                          ? PS_LOCK_F_DESTROYED
                                          : 0,
                             .first_use_stack = LD(r->first_use),
                             .acquisitions = acq,
                             .contended = LD(r->contended),
                             .owner_changes = LD(r->owner_changes),
                             .wait_ns = ps_ticks_to_ns(LD(r->wait), hz),
                             .max_wait_ns = ps_ticks_to_ns(LD(r->max_wait), hz),
                             .hold_ns = ps_ticks_to_ns(hold, hz),
                             .max_hold_ns = ps_ticks_to_ns(LD(r->max_hold), hz),
                             .hold_samples = samples,
                             .read_acquisitions = reads,
                             .trylock_failures = LD(r->trylock_failures),
                             .timeouts = LD(r->timeouts),
                             .signals = signals,
                             .broadcasts = LD(r->broadcasts),
                             .wake_ns = ps_ticks_to_ns(LD(r->wake), hz),
                             .max_wake_ns = ps_ticks_to_ns(LD(r->max_wake), hz),
                             .wakes = LD(r->wakes),
                             .paired_posts = paired};
        ps_put_lock(b, &row);
        wait_total += row.wait_ns;
    }
    last_wait_ns = wait_total;
    ps_buf_patch_u32(b, count_at, rows);

    count_at = ps_buf_table(b, PS_LOCK_SITE_ROW_SIZE); /* site_count, patched below */
    uint32_t nsites = 0, nsused = atomic_load(&site_used_count);
    for (uint32_t u = 0; u < nsused; u++) {
        const site_rec_t *s = &sites[site_used[u]];
        uint64_t key = atomic_load_explicit(&s->key, memory_order_acquire);
        uint64_t slot = (key >> 24) & 0xffffffu;
        uint32_t gen = (uint32_t)(key >> 48) & 0x7fffu;
        if (!key || slot >= slots || !row_of[slot] || (recs[slot].gen & 0x7fffu) != gen)
            continue; /* its lock was folded away, or its slot now holds another lock */
        nsites++;
        ps_row_lock_site_t site = {.lock_index = row_of[slot] - 1,
                                   .stack_id = (uint32_t)(key & 0xffffffu),
                                   .acquisitions = LD(s->acquisitions),
                                   .contended = LD(s->contended),
                                   .wait_ns = ps_ticks_to_ns(LD(s->wait), hz),
                                   .max_wait_ns = ps_ticks_to_ns(LD(s->max_wait), hz),
                                   .samples = LD(s->samples)};
        ps_put_lock_site(b, &site);
    }
    ps_buf_patch_u32(b, count_at, nsites);
    ps_os_unmap(row_of, map_bytes);
    ps_os_unmap(pend.acq, pend_bytes);
    return 0;
}
