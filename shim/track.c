/* SPDX-License-Identifier: MIT */
/*
 * track.c — what is live and where it came from: the live-block table (pointer -> size and
 * stack id) and the per-thread, per-stack counters that snapshots sum.
 *
 * Pooled blocks keep their stack id and size in the pool's per-block metadata (slab side
 * table, O(1) from the pointer, no lock): only blocks from glibc (large ones, or all of them
 * with the pool off) go through the live table.
 *
 * The live table is sharded (PS_LIVE_SHARDS open-addressing tables, each behind its own
 * spinlock, linear probing with backward-shift deletion, grown by doubling). Counters are
 * per thread and written without atomic read-modify-write; a snapshot sums every thread's
 * array. Threads that exit fold their counters into `retired`; frees that arrive after a
 * thread's destructor ran (glibc frees TLS and resolver state last) use `orphan`, a shared
 * state behind a lock.
 *
 * Must not: allocate through malloc, unwind or do I/O while holding a lock.
 */
#include "internal.h"
#include "timing.h"
#include "pool.h"

#include <pthread.h>
#include <string.h>

/* The meta word: size in the low 34 bits, bit 34 "from an earlier section" (META_OLD), the
 * weight code (sample.c) in bits 35..38, the stack id above bit 40. A zero-size block with stack
 * id 0 would encode as 0, indistinguishable from "not found": bit 39 marks a present entry.
 * Sizes of 16 GiB and more are clamped below bit 34. */
#define META_PRESENT (UINT64_C(1) << 39)
#define META_CODE_SHIFT 35
/* Bit 34: the block was allocated in an earlier trace section (perfshim ctl stop, then start:
 * ps_track_new_section marks every entry); its free is recognized and not counted. Sizes of
 * 16 GiB and more are clamped below it. */
#define META_OLD (UINT64_C(1) << 34)
#define META_SIZE_MAX (META_OLD - 1)

/* Slots per shard at start (all shards: 12 KiB of 24-byte entries, one mapping). Sampling keeps
 * a few blocks here, spread over every shard by their hashes, and over a run writes every page:
 * 64 slots a shard touched 64 KiB of a short process (churn-1t), 16 slots 24 KiB, 8 slots 12 KiB
 * with no shard grown; 4 slots grew five shards of churn-1t (a page each). A shard grows at half
 * full: a program with ~150 sampled blocks live (perl-hash) grows a few, 4 KiB each. */
#define LIVE_INITIAL 8
#define LIVE_FLUSH (256 * 1024) /* bytes of live delta a thread keeps before folding */
#define THREAD_DEAD ((ps_thread_t *)1)

static ps_live_shard_t shards[PS_LIVE_SHARDS];
static ps_live_entry_t *live_initial; /* the first slots of every shard, in one mapping */
__thread ps_thread_t *ps_tls_thread __attribute__((tls_model("initial-exec")));
static pthread_key_t thread_key;

static ps_spinlock_t registry_lock; /* guards threads, retired, the inherited flags */
static ps_thread_t *threads;        /* live (and, after fork, inherited) thread states */
static ps_counters_t *retired;      /* sums of exited threads, [max_stacks + 1] */
static ps_thread_t *orphan;         /* shared state for threads past their destructor */
static ps_spinlock_t orphan_lock;
/* Registered threads (the orphan state excluded). While it is 1, every change of live bytes is
 * folded at once, so a single-threaded program's peak is exact; with more threads each keeps
 * up to LIVE_FLUSH bytes of change local, to keep the shared counter's cache line quiet. */
static atomic_int thread_count;
static uint64_t retired_events[3]; /* ps_thread_t.events of exited threads (registry lock) */
/* Ages: lifetime counts of exited threads and the counts a thread's 32-bit bucket handed over
 * before it could overflow, [max_stacks + 1][PS_AGE_BUCKETS] (atomic adds, rare) */
static uint64_t *life_sums;
static uint64_t age_base_ns;           /* the coarse clock at init: births count from here */
#define LIFE_SPILL (UINT32_C(1) << 31) /* a thread's bucket hands its count over from here */
static int lost_warned;
static atomic_int thread_state_warned;

static size_t counters_size(void)
{
    return ((size_t)ps_g.opt.max_stacks + 1) * sizeof(ps_counters_t);
}

static size_t life_size(size_t each)
{
    return ((size_t)ps_g.opt.max_stacks + 1) * PS_AGE_BUCKETS * each;
}

/* A thread counts the lifetimes of stack ids below LIFE_LOCAL in its own rows (8 MiB of address
 * space, touched page by page); later ids add to life_sums atomically. Rows for every possible
 * stack (128 MiB a thread at the default PERFSHIM_MAX_STACKS) ran a many-threaded program out of
 * address space under `ulimit -v` (integration_invisible). */
#define LIFE_LOCAL 65536u
static size_t life_local_size(void)
{
    size_t rows = (size_t)ps_g.opt.max_stacks + 1;
    return (rows < LIFE_LOCAL ? rows : LIFE_LOCAL) * PS_AGE_BUCKETS * sizeof(uint32_t);
}

/* States of exited threads kept for the next new threads (registry lock). Unmapping a state
 * (three mappings) in a process with other threads running costs a TLB shootdown on every CPU
 * they ran on, and a new state faults its pages in again: a program that starts a thread per
 * task paid about 100 us of CPU per thread for it, 3.6x a plain thread's create and exit
 * (docs/performance.md, "Thread churn"). A state is kept only when few of its pages were
 * touched, so the spares hold at most SPARE_MAX * (SPARE_PAGES + the struct's) pages. */
#define SPARE_MAX 4
#define SPARE_PAGES 16
static ps_thread_t *spares[SPARE_MAX];
static int nspares;

/* Zeroes the resident pages of [p, p + len) (pages never touched stay untouched), counting
 * them against *budget: -1, with [p, p + len) partly zeroed, once more than *budget are. */
static int zero_touched(void *p, size_t len, int *budget)
{
    enum { VEC = 256 };
    unsigned char vec[VEC];
    size_t page = ps_os_page_size(), pages = (len + page - 1) / page;
    for (size_t at = 0; at < pages; at += VEC) {
        size_t n = pages - at < VEC ? pages - at : VEC;
        char *base = (char *)p + at * page;
        if (ps_os_resident(base, n * page, vec) != 0)
            return -1;
        for (size_t i = 0; i < n; i++)
            if (vec[i] & 1) {
                if (--*budget < 0)
                    return -1;
                memset(base + i * page, 0, page);
            }
    }
    return 0;
}

/* At a thread's exit, after its counters were folded: 1 if its state was cleared and kept as a
 * spare, 0 if the caller must unmap it. */
static int keep_spare(ps_thread_t *t)
{
    ps_lock(&registry_lock);
    int room = nspares < SPARE_MAX;
    ps_unlock(&registry_lock);
    if (!room)
        return 0;
    size_t rows = (size_t)ps_g.opt.max_stacks + 1, cf = t->counters_fresh, lf = t->life_fresh;
    size_t life_rows = life_local_size() / (PS_AGE_BUCKETS * sizeof(uint32_t));
    int budget = SPARE_PAGES, whole = 1 << 30;
    ps_counters_t *counters = t->counters;
    uint32_t *life = t->life;
    if (zero_touched(counters, (cf < rows ? cf : rows) * sizeof *counters, &budget) != 0 ||
        zero_touched(life, (lf < life_rows ? lf : life_rows) * PS_AGE_BUCKETS * sizeof *life,
                     &budget) != 0)
        return 0;
    size_t memo_bytes = 0;
    uint32_t memo_sets = 0;
    void *memo = ps_unwind_thread_park(&t->unwind_cache, &memo_bytes, &memo_sets);
    if (zero_touched(t, sizeof *t, &whole) != 0) /* mincore refused: every page, then */
        memset(t, 0, sizeof *t);
    t->counters = counters; /* as thread_new maps it, with its arrays */
    t->life = life;
    t->counters_fresh = (uint32_t)cf; /* rows below stay on pages already written */
    t->life_fresh = (uint32_t)lf;
    if (memo)
        ps_unwind_thread_adopt(&t->unwind_cache, memo, memo_bytes, memo_sets);
    ps_lock(&registry_lock);
    room = nspares < SPARE_MAX;
    if (room)
        spares[nspares++] = t;
    ps_unlock(&registry_lock);
    if (!room)
        ps_unwind_thread_exit(&t->unwind_cache); /* the caller unmaps the rest */
    return room;
}

PS_COLD static ps_thread_t *thread_new(void)
{
    ps_thread_t *t = NULL;
    if (__atomic_load_n(&nspares, __ATOMIC_RELAXED)) {
        ps_lock(&registry_lock);
        if (nspares)
            t = spares[--nspares];
        ps_unlock(&registry_lock);
    }
    if (!t) {
        t = ps_os_map(sizeof *t);
        if (!t)
            return NULL;
        t->counters = ps_os_map(counters_size());
        t->life = t->counters ? ps_os_map(life_local_size()) : NULL;
        if (!t->life) {
            if (t->counters)
                ps_os_unmap(t->counters, counters_size());
            ps_os_unmap(t, sizeof *t);
            return NULL;
        }
    }
    t->tid = ps_os_tid();
    ps_advice_thread_init(t);
    ps_lock(&registry_lock);
    t->next = threads;
    threads = t;
    ps_unlock(&registry_lock);
    atomic_fetch_add_explicit(&thread_count, 1, memory_order_relaxed);
    return t;
}

static void fold_live(ps_thread_t *t)
{
    int64_t d = t->live_delta;
    t->live_delta = 0;
    long long now = atomic_fetch_add_explicit(&ps_g.live_bytes, d, memory_order_relaxed) + d;
    long long peak = atomic_load_explicit(&ps_g.peak_live_bytes, memory_order_relaxed);
    while (now > peak &&
           !atomic_compare_exchange_weak_explicit(&ps_g.peak_live_bytes, &peak, now,
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

/* Adds in[0..n] to out[0..n], visiting only the pages of `in` that were ever touched: a
 * thread's array spans max_stacks entries but usually touches a few pages, and exiting
 * threads (thread_exit) must not scan megabytes of untouched counters. first: out[0..n] is
 * overwritten instead (zeros where `in` was never touched), so that the caller need not clear
 * it first: a snapshot's sums are reused, and clearing them was one more pass over 32 bytes a
 * stack. */
static void add_counters(ps_counters_t *out, const ps_counters_t *in, uint32_t n, int first)
{
    enum { VEC = 4096 };
    unsigned char vec[VEC];
    size_t page = ps_os_page_size();
    size_t per_page = page / sizeof(ps_counters_t);
    uint32_t id = 0;
    while (id <= n) {
        /* one mincore call covers VEC pages */
        size_t pages = ((size_t)(n - id) + per_page) / per_page;
        if (pages > VEC)
            pages = VEC;
        int known = ps_os_resident((void *)&in[id], pages * page, vec);
        for (size_t pg = 0; pg < pages && id <= n; pg++) {
            uint32_t end = id + (uint32_t)per_page;
            if (known == 0 && !(vec[pg] & 1)) {
                if (first) /* rows id..min(end - 1, n) */
                    memset(&out[id], 0, (size_t)((end <= n ? end : n + 1) - id) * sizeof *out);
                id = end; /* never touched: all zero */
                continue;
            }
            for (; id < end && id <= n; id++) {
                uint64_t a = __atomic_load_n(&in[id].allocs, __ATOMIC_RELAXED);
                uint64_t f = __atomic_load_n(&in[id].frees, __ATOMIC_RELAXED);
                if (first) {
                    out[id].allocs = a;
                    out[id].alloc_bytes = __atomic_load_n(&in[id].alloc_bytes, __ATOMIC_RELAXED);
                    out[id].frees = f;
                    out[id].freed_bytes = __atomic_load_n(&in[id].freed_bytes, __ATOMIC_RELAXED);
                    continue;
                }
                if (!(a | f))
                    continue;
                out[id].allocs += a;
                out[id].alloc_bytes += __atomic_load_n(&in[id].alloc_bytes, __ATOMIC_RELAXED);
                out[id].frees += f;
                out[id].freed_bytes += __atomic_load_n(&in[id].freed_bytes, __ATOMIC_RELAXED);
            }
        }
    }
}

static void sum_life_into(uint64_t *out, const uint32_t *in, uint32_t n);

/* A thread's lifetime counts go to life_sums (the registry lock held: no snapshot sums them
 * meanwhile, so plain adds would do; atomic ones because spills add there without it). */
static void add_life(const uint32_t *in, uint32_t n)
{
    sum_life_into(life_sums, in, n);
}

/* pthread key destructor: the thread is exiting. Fold its counters and free its state. */
static void thread_exit(void *arg)
{
    ps_thread_t *t = arg;
    if (!t || t == THREAD_DEAD)
        return;
    ps_tls_guard++;
    ps_threads_thread_exit(t);
    ps_cpu_thread_exit();
    ps_locks_thread_exit(t);
    fold_live(t);
    uint32_t n = ps_stack_count();
    ps_lock(&registry_lock);
    add_counters(retired, t->counters, n, 0);
    add_life(t->life, n < LIFE_LOCAL ? n : LIFE_LOCAL - 1);
    for (int i = 0; i < 3; i++)
        retired_events[i] += t->events[i];
    for (ps_thread_t **pp = &threads; *pp; pp = &(*pp)->next)
        if (*pp == t) {
            *pp = t->next;
            break;
        }
    ps_unlock(&registry_lock);
    atomic_fetch_sub_explicit(&thread_count, 1, memory_order_relaxed);
    ps_tls_thread = THREAD_DEAD;
    if (!keep_spare(t)) {
        ps_unwind_thread_exit(&t->unwind_cache);
        ps_os_unmap(t->counters, counters_size());
        ps_os_unmap(t->life, life_local_size());
        ps_os_unmap(t, sizeof *t);
    }
    ps_tls_guard--;
}

/* Warns (once, saying what is missing) and returns -1 on failure: nothing is tracked then. */
PS_COLD int ps_track_init(void)
{
    /* Small shards, grown by doubling: a table sized for a big program (1024 slots per
     * shard) put a short one's few large blocks on as many random pages. */
    live_initial = ps_os_map(PS_LIVE_SHARDS * LIVE_INITIAL * sizeof(ps_live_entry_t));
    if (!live_initial) {
        ps_msg_warn("cannot map the live-block table; the program runs without tracking");
        return -1;
    }
    for (int i = 0; i < PS_LIVE_SHARDS; i++) {
        shards[i].slots = live_initial + (size_t)i * LIVE_INITIAL;
        shards[i].mask = LIVE_INITIAL - 1;
    }
    retired = ps_os_map(counters_size());
    life_sums = retired ? ps_os_map(life_size(sizeof(uint64_t))) : NULL;
    orphan = life_sums ? thread_new() : NULL;
    age_base_ns = ps_os_coarse_ns();
    if (!retired || !life_sums || !orphan) {
        ps_msg_warn("cannot map the counters (%zu bytes, PERFSHIM_MAX_STACKS=%u); the program "
                    "runs without tracking",
                    counters_size(), (unsigned)ps_g.opt.max_stacks);
        return -1;
    }
    atomic_store(&thread_count, 0); /* the orphan state does not count */
    /* Created at init so the key index is low and pthread_setspecific never allocates. */
    if (pthread_key_create(&thread_key, thread_exit) != 0) {
        ps_msg_warn("no pthread key left for the shim; the program runs without tracking");
        return -1;
    }
    return 0;
}

ps_thread_t *ps_track_thread(void)
{
    ps_thread_t *t = ps_tls_thread;
    if (PS_LIKELY(t != NULL && t != THREAD_DEAD))
        return t;
    if (t == THREAD_DEAD)
        return NULL;
    t = thread_new();
    if (!t) {
        /* Counted in the shared orphan state instead: nothing is lost but speed. Marked dead
         * so that every later call does not ask the kernel again. */
        ps_tls_thread = THREAD_DEAD;
        if (!atomic_exchange(&thread_state_warned, 1))
            ps_msg_warn("cannot map the per-thread state of thread %u; its allocations are "
                        "counted in a shared state (slower) and its locks, zones and latency "
                        "are not timed",
                        (unsigned)ps_os_tid());
        return NULL;
    }
    ps_tls_thread = t;
    pthread_setspecific(thread_key, t);
    return t;
}

/* ---- the live table ------------------------------------------------------------------------ */

static inline uint64_t ptr_hash(uintptr_t p)
{
    uint64_t h = (uint64_t)(p >> 4) * 0x9e3779b97f4a7c15ull;
    return h ^ (h >> 31);
}

static inline ps_live_shard_t *shard_of(uint64_t h)
{
    return &shards[h >> 58]; /* top 6 bits: PS_LIVE_SHARDS == 64 */
}

static void lost_event(const char *why)
{
    if (!lost_warned) {
        lost_warned = 1;
        ps_msg_warn("%s: some blocks are not tracked, the leak report may miss them", why);
    }
}

/* Called with the shard locked. Returns 0, or -1 if the new table could not be mapped. */
static int shard_grow(ps_live_shard_t *s)
{
    uint32_t ncap = (s->mask + 1) * 2;
    size_t bytes = (size_t)ncap * sizeof(ps_live_entry_t);
    ps_live_entry_t *ns = ps_os_map(bytes);
    if (!ns)
        return -1;
    if (bytes >= (2u << 20))
        ps_os_hint_huge(ns, bytes); /* random probes into a big table: spare the TLB */
    memset(ns, 0, bytes);           /* filled at once: a write first, not a read of the zero page */
    for (uint32_t i = 0; i <= s->mask; i++) {
        uintptr_t p = s->slots[i].ptr;
        if (!p)
            continue;
        uint32_t j = (uint32_t)ptr_hash(p) & (ncap - 1);
        while (ns[j].ptr)
            j = (j + 1) & (ncap - 1);
        ns[j] = s->slots[i];
    }
    if (s->slots < live_initial || s->slots >= live_initial + PS_LIVE_SHARDS * LIVE_INITIAL)
        ps_os_unmap(s->slots, ((size_t)s->mask + 1) * sizeof *ns);
    s->slots = ns;
    s->mask = ncap - 1;
    return 0;
}

/* ps_sample_filter: blocks in the live table by address bits. A count that reached 255 stays
 * there (it may then stand for more blocks than it says, never fewer). Pooled blocks (sampled
 * ones) count in the filter's first page only: free() asks their pool bit, and only ps_track_free
 * asks the filter for them, so their thousands of samples over a run need not write every page
 * of it (they did: 64 KiB of a short process's peak RSS). */
static inline unsigned filter_slot(uintptr_t p, int pooled)
{
    if (!pooled)
        return ps_sample_filter_index((const void *)p);
    /* a multiplicative hash's top 12 bits: cheap (full tracking asks it at every
     * tracked pooled free) */
    _Static_assert(PS_SAMPLE_FILTER_POOLED == 4096, "12 bits");
    return (unsigned)(((uint64_t)(p >> 4) * 0x9e3779b97f4a7c15ull) >> 52);
}

static void filter_add(uintptr_t p, int by)
{
    uint8_t *f = &ps_sample_filter[filter_slot(p, ps_pool_owns((const void *)p))];
    uint8_t v = __atomic_load_n(f, __ATOMIC_RELAXED);
    while (v != 255 && !__atomic_compare_exchange_n(f, &v, (uint8_t)(v + by), 1, __ATOMIC_RELAXED,
                                                    __ATOMIC_RELAXED))
        ;
}

/* The pool's bit of a tracked block (ps_sample_pool_bits; with the pool, always mapped). */
static void pool_bit(const void *p, int on)
{
    if (!ps_sample_pool_bits)
        return;
    uintptr_t off = (uintptr_t)p - ps_pool_hot.base;
    uint64_t bit = UINT64_C(1) << ((off >> 4) & 63);
    if (on)
        __atomic_fetch_or(&ps_sample_pool_bits[off >> 10], bit, __ATOMIC_RELAXED);
    else
        __atomic_fetch_and(&ps_sample_pool_bits[off >> 10], ~bit, __ATOMIC_RELAXED);
}

int ps_track_maybe_tracked(const void *p)
{
    if (ps_pool_owns(p))
        return !ps_sample_pool_bits || ps_sample_pool_marked(p, ps_pool_hot.base);
    return __atomic_load_n(&ps_sample_filter[ps_sample_filter_index(p)], __ATOMIC_RELAXED) != 0;
}

static void live_insert(uintptr_t p, uint64_t meta, uint32_t birth, uint32_t owner)
{
    uint64_t h = ptr_hash(p);
    ps_live_shard_t *s = shard_of(h);
    ps_lock(&s->lock);
    if (PS_UNLIKELY((s->count + 1) * 2 > s->mask + 1) && shard_grow(s) != 0) {
        ps_unlock(&s->lock);
        lost_event("cannot grow the live-block table (mmap failed)");
        return;
    }
    uint32_t i = (uint32_t)h & s->mask;
    while (s->slots[i].ptr && s->slots[i].ptr != p)
        i = (i + 1) & s->mask;
    if (!s->slots[i].ptr) {
        s->count++;
        filter_add(p, 1);
    }
    s->slots[i].ptr = p;
    s->slots[i].meta = meta;
    s->slots[i].birth = birth;
    s->slots[i].owner = owner;
    ps_unlock(&s->lock);
}

/* Removes p; returns its meta (and its birth and advice owner tag in *birth, *owner), or 0 if it
 * was not tracked. */
static uint64_t live_remove(uintptr_t p, uint32_t *birth, uint32_t *owner)
{
    uint64_t h = ptr_hash(p);
    ps_live_shard_t *s = shard_of(h);
    ps_lock(&s->lock);
    uint32_t mask = s->mask;
    uint32_t i = (uint32_t)h & mask;
    while (s->slots[i].ptr && s->slots[i].ptr != p)
        i = (i + 1) & mask;
    if (!s->slots[i].ptr) {
        ps_unlock(&s->lock);
        return 0;
    }
    uint64_t meta = s->slots[i].meta;
    *birth = s->slots[i].birth;
    *owner = s->slots[i].owner;
    /* backward-shift deletion keeps probe chains intact without tombstones */
    uint32_t hole = i;
    for (uint32_t j = (i + 1) & mask; s->slots[j].ptr; j = (j + 1) & mask) {
        uint32_t home = (uint32_t)ptr_hash(s->slots[j].ptr) & mask;
        /* move j into the hole if its home is not in (hole, j] cyclically */
        if (((j - home) & mask) >= ((j - hole) & mask)) {
            s->slots[hole] = s->slots[j];
            hole = j;
        }
    }
    s->slots[hole].ptr = 0;
    s->slots[hole].meta = 0;
    s->slots[hole].birth = 0;
    s->slots[hole].owner = 0;
    s->count--;
    filter_add(p, -1);
    ps_unlock(&s->lock);
    return meta; /* never 0 for a tracked block: META_PRESENT is set */
}

/* ---- counters -------------------------------------------------------------------------------- */

static inline void bump(uint64_t *field, uint64_t by)
{
    /* single writer: a relaxed load+store, no lock prefix; readers see whole values */
    __atomic_store_n(field, __atomic_load_n(field, __ATOMIC_RELAXED) + by, __ATOMIC_RELAXED);
}

/* A thread's first write to a page of its counters. The bumps read before they write, and a
 * read of a page never written maps the shared zero page, so the write that follows is a
 * second fault, with a TLB flush (the costliest kind in a virtual machine: gcc -c paid about
 * 100 of them). A row on a page beyond every page the thread wrote is zero: writing a zero
 * first makes that one fault. counters_fresh is the first row of the page after the highest
 * one written. */
static PS_NOINLINE void counters_first_write(ps_thread_t *t, uint32_t id)
{
    uint32_t per_page = (uint32_t)(ps_os_page_size() / sizeof(ps_counters_t));
    __atomic_store_n(&t->counters[id].allocs, 0, __ATOMIC_RELAXED);
    t->counters_fresh = (id / per_page + 1) * per_page;
}

static void count_alloc(ps_thread_t *t, uint32_t id, uint64_t size, uint64_t count)
{
    ps_counters_t *c = &t->counters[id];
    if (PS_UNLIKELY(id >= t->counters_fresh))
        counters_first_write(t, id);
    bump(&c->allocs, count);
    bump(&c->alloc_bytes, size);
    t->live_delta += (int64_t)size;
    if (PS_UNLIKELY(t->live_delta > LIVE_FLUSH) ||
        atomic_load_explicit(&thread_count, memory_order_relaxed) <= 1)
        fold_live(t);
}

/* As counters_first_write, for the lifetime rows. */
static PS_NOINLINE void life_first_write(ps_thread_t *t, uint32_t id)
{
    uint32_t per_page = (uint32_t)(ps_os_page_size() / (PS_AGE_BUCKETS * sizeof(uint32_t)));
    __atomic_store_n(&t->life[(size_t)id * PS_AGE_BUCKETS], 0, __ATOMIC_RELAXED);
    t->life_fresh = (id / per_page + 1) * per_page;
}

static PS_NOINLINE void life_spill(uint32_t id, unsigned b, uint64_t v)
{
    __atomic_fetch_add(&life_sums[(size_t)id * PS_AGE_BUCKETS + b], v, __ATOMIC_RELAXED);
}

/* The clock of births and lifetimes, in age units (docs/trace-format.md, AGES). PS_AGE_TSC 1:
 * the time-stamp counter (timing.h's clock) / 2^20, about 0.3-0.5 ms; 0: CLOCK_MONOTONIC_COARSE
 * since init / 2^20 ns (1.05 ms; the kernel tick, 4 ms here, is its resolution). Chosen by
 * instruction counts and timing (docs/performance.md, "Ages"). */
#ifndef PS_AGE_TSC
#define PS_AGE_TSC 1
#endif
#define AGE_SHIFT 20
static inline uint32_t age_now(void)
{
#if PS_AGE_TSC
    return (uint32_t)(ps_ticks() >> AGE_SHIFT);
#else
    return (uint32_t)((ps_os_coarse_ns() - age_base_ns) >> AGE_SHIFT);
#endif
}

/* A freed block of stack id, born at `birth`, counts `count` (fixed point) in its lifetime
 * bucket. Single writer, as bump(). */
static inline void count_lifetime(ps_thread_t *t, uint32_t id, uint32_t birth, uint64_t count)
{
    unsigned b = ps_age_bucket((uint32_t)(age_now() - birth));
    if (PS_UNLIKELY(id >= t->life_fresh)) {
        if (id >= LIFE_LOCAL) {
            life_spill(id, b, count);
            return;
        }
        life_first_write(t, id);
    }
    uint32_t *cell = &t->life[(size_t)id * PS_AGE_BUCKETS + b];
    uint64_t v = __atomic_load_n(cell, __ATOMIC_RELAXED) + count;
    if (PS_UNLIKELY(v >= LIFE_SPILL)) {
        life_spill(id, b, v);
        v = 0;
    }
    __atomic_store_n(cell, (uint32_t)v, __ATOMIC_RELAXED);
}

/* Inlined into ps_track_free: as a call, the birth made it spill five registers more. */
static inline __attribute__((always_inline)) void
count_free(ps_thread_t *t, uint32_t id, uint64_t size, uint64_t count, uint32_t birth)
{
    ps_counters_t *c = &t->counters[id];
    count_lifetime(t, id, birth, count);
    if (PS_UNLIKELY(id >= t->counters_fresh))
        counters_first_write(t, id);
    bump(&c->frees, count);
    bump(&c->freed_bytes, size);
    t->live_delta -= (int64_t)size;
    if (PS_UNLIKELY(t->live_delta < -LIVE_FLUSH) ||
        atomic_load_explicit(&thread_count, memory_order_relaxed) <= 1)
        fold_live(t);
}

static inline uint64_t meta_make(uint32_t id, uint64_t size, uint32_t code)
{
    if (size > META_SIZE_MAX)
        size = META_SIZE_MAX;
    return ((uint64_t)id << PS_LIVE_SIZE_BITS) | ((uint64_t)code << META_CODE_SHIFT) | size |
           META_PRESENT;
}

void ps_track_alloc(void *p, size_t size)
{
    ps_track_alloc_code(p, size, 0);
}

void ps_track_alloc_code(void *p, size_t size, uint32_t code)
{
    ps_thread_t *t = ps_track_thread();
    uint32_t id = ps_stack_capture_id(t);
    if (id > PS_LIVE_MAX_STACK_ID)
        id = 0;
    uint32_t birth = age_now();
    uint64_t bytes = size, count = PS_COUNT_ONE;
    if (code)
        ps_sample_code_weights(size, code, &bytes, &count);
    /* advice counters (advice.c): one allocation in PERFSHIM_ADVICE_SAMPLE; the countdown is
     * also the clock of the thread's window for temporaries */
    uint32_t owner = 0;
    if (PS_LIKELY(t != NULL) && PS_UNLIKELY(--t->adv_left <= 0))
        owner = ps_advice_alloc(t, p, id, size, count);
    if (ps_pool_owns(p) && !ps_g.sampling) {
        ps_pool_block_meta_t *m = ps_pool_meta(p);
        if (PS_UNLIKELY(!m)) {
            lost_event("a block inside the pool's reservation has no slab metadata");
            return;
        }
        /* 0 means "not tracked"; the section's tag above the id (types.h). Only full tracking
         * keeps blocks here (weight code 0): sampled blocks go to the live table. */
        /* relaxed stores (plain moves): ages.c reads them while the program runs */
        __atomic_store_n(&m->size, (uint32_t)size | owner << PS_POOL_META_SIZE_BITS,
                         __ATOMIC_RELAXED);
        __atomic_store_n(&m->birth, birth, __ATOMIC_RELAXED);
        __atomic_store_n(&m->stack_id,
                         (id + 1) | atomic_load_explicit(&ps_g.section_bits, memory_order_relaxed),
                         __ATOMIC_RELAXED);
        pool_bit(p, 1);
    } else {
        /* Sampling: a pooled block goes to the live table too. Its slab metadata would cost a
         * page of the metadata reservation per 64 KiB unit holding one sampled block (up to
         * 6% of the pool's resident memory); the table costs 16 bytes per sampled block. */
        if (ps_pool_owns(p))
            pool_bit(p, 1);
        if (size > META_SIZE_MAX)
            size = META_SIZE_MAX; /* as the table keeps it: the free subtracts the same */
        live_insert((uintptr_t)p, meta_make(id, size, code), birth, owner);
    }
    if (PS_LIKELY(t != NULL)) {
        count_alloc(t, id, bytes, count);
    } else {
        ps_lock(&orphan_lock);
        count_alloc(orphan, id, bytes, count);
        ps_unlock(&orphan_lock);
    }
}

/* A free of a block the tracker does not hold: allocated before the shim loaded, by another
 * allocator, or (sampling) not sampled. Only the first kinds are worth reporting. */
static void free_missed(void)
{
    if (!ps_sample_ever())
        atomic_fetch_add_explicit(&ps_g.untracked_frees, 1, memory_order_relaxed);
}

void ps_track_free(void *p, size_t realloc_to)
{
    uint32_t id, code, birth = 0, owner = 0;
    uint64_t size, meta = 0;
    int pooled = ps_pool_owns(p);
    /* A pooled block is in the live table when it was sampled, in its slab metadata when it
     * was tracked in full mode (the mode may change at run time: look in both). */
    if (!pooled ||
        __atomic_load_n(&ps_sample_filter[filter_slot((uintptr_t)p, 1)], __ATOMIC_RELAXED))
        meta = live_remove((uintptr_t)p, &birth, &owner);
    if (meta) {
        if (pooled)
            pool_bit(p, 0);
        if (PS_UNLIKELY(meta & META_OLD))
            return; /* allocated in an earlier section: known, not counted in this one */
        id = (uint32_t)(meta >> PS_LIVE_SIZE_BITS);
        code = (uint32_t)(meta >> META_CODE_SHIFT) & (PS_SAMPLE_CODES - 1);
        size = meta & META_SIZE_MAX;
    } else if (pooled) {
        ps_pool_block_meta_t *m = ps_pool_meta(p);
        pool_bit(p, 0); /* also a bit left from the block's previous life */
        if (!m || m->stack_id == 0) {
            free_missed();
            return;
        }
        uint32_t v = m->stack_id;
        __atomic_store_n(&m->stack_id, 0, __ATOMIC_RELAXED);
        if (PS_UNLIKELY((v & ~PS_SECTION_ID_MASK) !=
                        atomic_load_explicit(&ps_g.section_bits, memory_order_relaxed)))
            return; /* allocated in an earlier section: known, not counted in this one */
        id = (v & PS_SECTION_ID_MASK) - 1;
        uint32_t sz = m->size;
        size = sz & PS_POOL_META_SIZE_MASK;
        owner = sz >> PS_POOL_META_SIZE_BITS;
        birth = m->birth;
        code = 0;
    } else {
        free_missed();
        return;
    }
    uint64_t bytes = size, count = PS_COUNT_ONE;
    if (code)
        ps_sample_code_weights(size, code, &bytes, &count);
    ps_thread_t *t = ps_track_thread();
    if (PS_LIKELY(t != NULL)) {
        count_free(t, id, bytes, count, birth);
        if (PS_UNLIKELY(owner))
            ps_advice_free(t, p, id, owner, count, size, realloc_to);
    } else {
        ps_lock(&orphan_lock);
        count_free(orphan, id, bytes, count, birth);
        ps_unlock(&orphan_lock);
    }
}

/* A new trace section begins (control.c, tracking off): every block tracked so far belongs to
 * an earlier one. Pooled blocks are told apart by the tag the caller bumped (ps_g.section_bits);
 * the live table's entries are marked here. */
void ps_track_new_section(void)
{
    for (int i = 0; i < PS_LIVE_SHARDS; i++) {
        ps_live_shard_t *s = &shards[i];
        ps_lock(&s->lock);
        for (uint32_t j = 0; j <= s->mask; j++)
            if (s->slots[j].ptr)
                s->slots[j].meta |= META_OLD;
        ps_unlock(&s->lock);
    }
}

/* ---- ages (ages.c builds the AGES chunk from these) -------------------------------------------
 */

uint32_t ps_track_age_now(void)
{
    return age_now();
}

uint64_t ps_track_age_unit_ps(void)
{
#if PS_AGE_TSC
    uint64_t hz = ps_tick_hz();
    return hz ? ((UINT64_C(1) << AGE_SHIFT) * UINT64_C(1000000000000)) / hz : 0;
#else
    return (UINT64_C(1) << AGE_SHIFT) * 1000;
#endif
}

uint64_t ps_track_age_res_ns(void)
{
    uint64_t unit = ps_track_age_unit_ps() / 1000;
#if PS_AGE_TSC
    return unit;
#else
    uint64_t res = ps_os_coarse_res_ns();
    return res > unit ? res : unit;
#endif
}

PS_COLD void ps_track_for_each_live(void (*fn)(void *arg, const ps_live_block_t *b), void *arg)
{
    for (int i = 0; i < PS_LIVE_SHARDS; i++) {
        ps_live_shard_t *s = &shards[i];
        ps_lock(&s->lock);
        for (uint32_t j = 0; j <= s->mask; j++) {
            uint64_t meta = s->slots[j].meta;
            if (!s->slots[j].ptr || (meta & META_OLD))
                continue;
            ps_live_block_t b = {.ptr = s->slots[j].ptr,
                                 .size = meta & META_SIZE_MAX,
                                 .bytes = meta & META_SIZE_MAX,
                                 .count = PS_COUNT_ONE,
                                 .id = (uint32_t)(meta >> PS_LIVE_SIZE_BITS),
                                 .birth = s->slots[j].birth};
            uint32_t code = (uint32_t)(meta >> META_CODE_SHIFT) & (PS_SAMPLE_CODES - 1);
            if (code)
                ps_sample_code_weights(b.size, code, &b.bytes, &b.count);
            fn(arg, &b);
        }
        ps_unlock(&s->lock);
    }
}

/* Adds a thread's lifetime counts in[0 .. (n + 1) * PS_AGE_BUCKETS) to out (atomic adds),
 * visiting only the pages of `in` that were ever touched (as add_counters). */
static void sum_life_into(uint64_t *out, const uint32_t *in, uint32_t n)
{
    enum { VEC = 4096 };
    unsigned char vec[VEC];
    size_t page = ps_os_page_size();
    size_t per_page = page / sizeof(uint32_t);
    size_t end = ((size_t)n + 1) * PS_AGE_BUCKETS, i = 0;
    while (i < end) {
        size_t pages = (end - i + per_page - 1) / per_page;
        if (pages > VEC)
            pages = VEC;
        int known = ps_os_resident((void *)&in[i], pages * page, vec);
        for (size_t pg = 0; pg < pages && i < end; pg++) {
            size_t stop = i + per_page < end ? i + per_page : end;
            if (known == 0 && !(vec[pg] & 1)) {
                i = stop;
                continue;
            }
            for (; i < stop; i++) {
                uint64_t v = __atomic_load_n(&in[i], __ATOMIC_RELAXED);
                if (v)
                    __atomic_fetch_add(&out[i], v, __ATOMIC_RELAXED);
            }
        }
    }
}

void ps_track_life_row(uint32_t id, uint64_t out[PS_AGE_BUCKETS])
{
    size_t at = (size_t)id * PS_AGE_BUCKETS;
    ps_lock(&registry_lock);
    for (int b = 0; b < PS_AGE_BUCKETS; b++) /* pages never written read as the zero page */
        out[b] = __atomic_load_n(&life_sums[at + (size_t)b], __ATOMIC_RELAXED);
    for (ps_thread_t *t = threads; t; t = t->next)
        if (id < __atomic_load_n(&t->life_fresh, __ATOMIC_RELAXED))
            for (int b = 0; b < PS_AGE_BUCKETS; b++)
                out[b] += __atomic_load_n(&t->life[at + (size_t)b], __ATOMIC_RELAXED);
    ps_unlock(&registry_lock);
}

/* ---- snapshots --------------------------------------------------------------------------------
 */

void ps_track_collect(ps_counters_t *out, uint32_t n, ps_totals_t *tot)
{
    ps_lock(&registry_lock);
    int first = 1;
    for (ps_thread_t *t = threads; t; t = t->next, first = 0)
        add_counters(out, t->counters, n, first);
    add_counters(out, retired, n, first);
    ps_unlock(&registry_lock);
    memset(tot, 0, sizeof *tot);
    for (uint32_t id = 0; id <= n; id++) {
        /* whole counts (a sampled block counts its weight, in fixed point) */
        out[id].allocs = (out[id].allocs + PS_COUNT_ONE / 2) >> PS_COUNT_SHIFT;
        out[id].frees = (out[id].frees + PS_COUNT_ONE / 2) >> PS_COUNT_SHIFT;
        tot->allocs += out[id].allocs;
        tot->frees += out[id].frees;
        tot->alloc_bytes += out[id].alloc_bytes;
        tot->freed_bytes += out[id].freed_bytes;
    }
    tot->live_blocks = tot->allocs - tot->frees;
    tot->live_bytes = tot->alloc_bytes - tot->freed_bytes;
    long long peak = atomic_load_explicit(&ps_g.peak_live_bytes, memory_order_relaxed);
    tot->peak_live_bytes = (uint64_t)peak > tot->live_bytes ? (uint64_t)peak : tot->live_bytes;
    tot->untracked_frees = atomic_load_explicit(&ps_g.untracked_frees, memory_order_relaxed);
}

void ps_track_for_each(void (*fn)(ps_thread_t *, void *), void *arg)
{
    ps_lock(&registry_lock);
    for (ps_thread_t *t = threads; t; t = t->next)
        fn(t, arg);
    ps_unlock(&registry_lock);
}

void ps_track_events(uint64_t out[3])
{
    ps_lock(&registry_lock);
    for (int i = 0; i < 3; i++)
        out[i] = retired_events[i];
    for (ps_thread_t *t = threads; t; t = t->next)
        for (int i = 0; i < 3; i++)
            out[i] += __atomic_load_n(&t->events[i], __ATOMIC_RELAXED);
    ps_unlock(&registry_lock);
}

/* ---- fork -------------------------------------------------------------------------------------
 */

void ps_track_fork_prepare(void)
{
    ps_lock(&registry_lock);
    ps_lock(&orphan_lock);
    for (int i = 0; i < PS_LIVE_SHARDS; i++)
        ps_lock(&shards[i].lock);
}

void ps_track_fork_parent(void)
{
    for (int i = PS_LIVE_SHARDS - 1; i >= 0; i--)
        ps_unlock(&shards[i].lock);
    ps_unlock(&orphan_lock);
    ps_unlock(&registry_lock);
}

void ps_track_fork_child(void)
{
    for (int i = PS_LIVE_SHARDS - 1; i >= 0; i--)
        ps_unlock(&shards[i].lock);
    ps_unlock(&orphan_lock);
    ps_unlock(&registry_lock);
    /* The other threads do not exist here; their states stay registered so their counts
     * (blocks still live in the child's copy of the heap) are summed. */
}

/* ---- the leak scan (reach.c) ----------------------------------------------------------------- */

size_t ps_track_live_count(void)
{
    size_t n = 0;
    for (int i = 0; i < PS_LIVE_SHARDS; i++)
        n += __atomic_load_n(&shards[i].count, __ATOMIC_RELAXED);
    return n;
}

int ps_track_threads_running(void)
{
    return atomic_load_explicit(&thread_count, memory_order_relaxed);
}
