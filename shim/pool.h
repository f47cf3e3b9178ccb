/* SPDX-License-Identifier: MIT */
/*
 * pool.h — the small-object pool: size classes up to a configurable limit, per-thread caches
 * with a lock-free, atomic-free fast path, a central pool per class behind a spinlock (slow
 * paths only), slabs cut from one address-space reservation so that "is this pointer ours" is
 * one range check, per-block tracking metadata kept in a side table, and idle memory returned
 * to the OS. pool.c owns the implementation; docs/pool.md explains the design.
 *
 * The fast paths (ps_pool_malloc, ps_pool_free) are inline here so that interpose.c compiles
 * them into the exported functions. Everything else is out of line in pool.c.
 *
 * Must not: call malloc, stdio, or take a lock on the fast path. Callers own the semantics of
 * the malloc family (errno, overflow checks): the pool only answers "here is a block" or NULL
 * (= forward the request to the C library).
 */
#ifndef PS_POOL_H
#define PS_POOL_H

#include "sizeclass.h"
#include "types.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* ---- configuration (ps_pool_init) ---------------------------------------------------------- */

#define PS_POOL_DEFAULT_MAX PS_POOL_LIMIT             /* bytes: every class (256 KiB) */
#define PS_POOL_DEFAULT_RESERVE ((size_t)16 << 30)    /* bytes of address space for blocks */
#define PS_POOL_DEFAULT_DECAY_NS UINT64_C(1000000000) /* 1 s */
#define PS_POOL_DECAY_NEVER UINT64_MAX

typedef struct ps_pool_config_s {
    size_t max_size;            /* largest pooled request (bytes); 0 = PS_POOL_DEFAULT_MAX;
                                   rounded up to a class, capped at PS_POOL_LIMIT (256 KiB) */
    size_t reserve;             /* address space for blocks (bytes); 0 = default; the same again
                                   is reserved for block metadata. Halved until mmap succeeds. */
    uint64_t decay_ns;          /* an empty slab goes back to the OS after this idle time (ns);
                                   0 = at once, PS_POOL_DECAY_NEVER = never */
    uint64_t (*clock_ns)(void); /* monotonic clock for decay; NULL = ps_os_monotonic_ns */
} ps_pool_config_t;

/* ---- per-block tracking metadata (side table, never next to the block) --------------------- */

/* Written and read by the tracker only; the pool never touches it (not on free either). Twelve
 * bytes: for small objects (Python's, with PYTHONMALLOC=malloc) this table is the largest part
 * of what tracking adds to the resident set (a 16-byte entry, with a birth time nothing read,
 * was 16 MB next to 21 MB of blocks; 8 bytes before ages, issue 12). A unit's entries fill at
 * most 3/4 of its 64 KiB (4096 blocks of 16 bytes). */
typedef struct ps_pool_block_meta_s {
    uint32_t stack_id; /* interned allocation stack; 0 = none */
    uint32_t size;     /* requested size (bytes; a pooled block is <= PS_POOL_LIMIT, 19 bits) in
                          the low PS_POOL_META_SIZE_BITS; above them the advice owner tag of the
                          allocating thread (advice.c; 0 = not an advice sample) */
    uint32_t birth;    /* allocation time (age units of track.c's clock, wraps) */
} ps_pool_block_meta_t;
#define PS_POOL_META_SIZE_BITS 19
#define PS_POOL_META_SIZE_MASK ((UINT32_C(1) << PS_POOL_META_SIZE_BITS) - 1)

/* ---- statistics (ps_pool_stats) ------------------------------------------------------------ */

/* One per size class: a POOL chunk row, fields and units declared in include/trace_rows.h
 * (PS_ROW_POOL_CLASS). Counts are cumulative since init; bytes are at the time of the call.
 * Reads of other threads' counters are relaxed: sums may lag by a few blocks. */
typedef ps_row_pool_class_t ps_pool_class_stats_t;

typedef struct ps_pool_totals_s {
    uint64_t reserved;       /* address space reserved for blocks (bytes) */
    uint64_t committed;      /* block memory ever made read/write: the high-water mark (bytes) */
    uint64_t meta_committed; /* metadata memory made read/write (bytes) */
    uint64_t slab_bytes;     /* slabs serving a class (bytes) */
    uint64_t empty_bytes;    /* empty slabs whose pages are still resident (bytes) */
    uint64_t released_bytes; /* empty slabs whose pages went back to the OS (bytes) */
    uint64_t returned;       /* cumulative bytes given back to the OS (madvise) */
    uint32_t threads;        /* live thread caches */
    uint32_t exhausted;      /* 1 once the reservation ran out (requests then go to libc) */
} ps_pool_totals_t;

/* ---- life cycle ------------------------------------------------------------------------------ */

/* Reserve the address space and build the tables. cfg NULL = defaults. Returns 0, or -1 (then
 * every ps_pool_malloc returns NULL and ps_pool_owns is false: the shim forwards everything).
 * Call once, early (constructor): it creates a pthread key, so thread caches are returned
 * when threads exit. A second call returns 0 and changes nothing. */
int ps_pool_init(const ps_pool_config_t *cfg);
/* Tests only: forget everything and unmap. No other thread may use the pool, no block of it
 * may be referenced afterwards. ps_pool_init may be called again. */
void ps_pool_shutdown(void);
/* Largest pooled request (bytes) of the running configuration; 0 before init. */
size_t ps_pool_max_size(void);

/* The calling thread's cache goes back to the central pool and the thread is marked dead: its
 * later calls (glibc frees after TLS destructors) use the central pool directly. Called by the
 * pool's own pthread key destructor; safe to call again or on a thread that never allocated. */
void ps_pool_thread_exit(void);
/* Return the calling thread's cached free blocks to the central pool (malloc_trim, tests). */
void ps_pool_flush(void);

/* fork: call prepare last among the shim's prepare handlers, parent/child first. prepare takes
 * every pool lock; the child then gives the caches of the threads that do not exist in it
 * back to the central pool, so it can allocate and free everything. Nested calls on the same
 * thread (two registrations) are harmless. */
void ps_pool_fork_prepare(void);
void ps_pool_fork_parent(void);
void ps_pool_fork_child(void);
/* The child's half that needs no lock taken before fork: the other threads' caches retired.
 * ps_pool_fork_child calls it; init.c alone, after a fork that took no lock. */
void ps_pool_fork_child_caches(void);

/* Give empty slabs idle for the decay time back to the OS (and drain transfer stacks idle
 * that long). Also run from slow paths every few refills; now_ns is on the config's clock. */
void ps_pool_decay(uint64_t now_ns);

/* Fill out[0 .. n) with per-class stats (class 0, "not pooled", is left out: out[i] is class
 * i + 1) and *tot if not NULL. Returns the number of classes (PS_POOL_NCLASS - 1). Takes the
 * pool's locks one at a time: call from a snapshot, not from the allocation path. */
size_t ps_pool_stats(ps_pool_class_stats_t *out, size_t n, ps_pool_totals_t *tot);

/* ---- allocation ------------------------------------------------------------------------------ */

/* Block of at least n bytes aligned to align (a power of two), if a class both fits n and has
 * sizes that are multiples of align (blocks then fall on align boundaries); NULL otherwise. */
void *ps_pool_memalign(size_t align, size_t n);
/* Metadata of pooled block p (p as returned by the pool). O(1): no hash, no lock. NULL only
 * if the metadata page cannot be committed. */
ps_pool_block_meta_t *ps_pool_meta(const void *p);
/* Calls fn(arg, block, metadata) for every block of a slab serving a class whose metadata holds
 * a stack id (tracked blocks; stack_id as the tracker stored it, section tag included). Takes
 * no lock: a slab changing meanwhile gives stale entries, never a fault. For snapshots and the
 * exit (ages.c, reach.c), not for the allocation path. */
void ps_pool_for_each_tracked(void (*fn)(void *arg, uintptr_t block, const ps_pool_block_meta_t *m),
                              void *arg);

/* ---- what the inline fast paths need (pool.c owns these) --------------------------------------
 */

/* One size class of one thread's cache: a stack of free blocks, stack[low .. top). */
typedef struct ps_pool_bin_s {
    void **top;      /* next free slot; top == low: empty */
    void **low;      /* first slot */
    void **high;     /* one past the last slot; top == high: full */
    uint64_t allocs; /* blocks this thread took from this bin (count; single writer) */
} ps_pool_bin_t;

/* A thread's cache. Lives in mmap'd memory; the thread's TLS points at it. Before its first
 * pooled call a thread points at a shared, always-empty cache (no "initialized?" branch on
 * the fast path); after its destructor, at an always-empty "dead" one. */
typedef struct ps_pool_cache_s {
    ps_pool_bin_t bins[PS_POOL_NCLASS]; /* by class; bins[0] stays empty ("not pooled") */
    struct ps_pool_cache_s *next;       /* registry of live caches, or list of free ones */
    uint32_t slow_calls;                /* slow-path entries: every 16th checks decay */
    size_t bytes;                       /* size of this mapping (bytes) */
} ps_pool_cache_t;

/* Read-mostly state of the fast paths (one cache line). */
typedef struct ps_pool_hot_s {
    uintptr_t base;       /* first byte of the block reservation; 0 = no pool */
    uintptr_t size;       /* bytes reserved for blocks */
    uintptr_t class_bias; /* unit_class - (base >> 16): class of p = *(u8 *)(bias + (p >> 16)) */
    uint8_t *unit_class;  /* class of each 64 KiB unit (0 = not serving a class) */
} ps_pool_hot_t;

extern PS_HIDDEN ps_pool_hot_t ps_pool_hot;
/* Class of a request n <= PS_POOL_TABLE_MAX by (n + 15) >> 4; 0 = not pooled (above the
 * limit, or below ps_sizeclass_pooled_from of its class). */
extern PS_HIDDEN uint8_t ps_pool_size_class[PS_POOL_TABLE_MAX / 16 + 1];
extern PS_HIDDEN __thread ps_pool_cache_t *ps_pool_tls __attribute__((tls_model("initial-exec")));

/* Slow paths. b is the bin the fast path looked at (in whatever cache the thread points at):
 * passing it rather than the class keeps the fast path from holding the class in a register. */
void *ps_pool_malloc_slow(size_t n, ps_pool_bin_t *b) PS_NOINLINE;
void ps_pool_free_slow(void *p, ps_pool_bin_t *b) PS_NOINLINE;
/* A request above PS_POOL_TABLE_MAX: its class by arithmetic, then the thread cache; NULL
 * above the configured limit. */
void *ps_pool_malloc_medium(size_t n) PS_NOINLINE;

/* True if p lies in the pool's reservation (a block, or the interior of one). O(1). */
static inline int ps_pool_owns(const void *p)
{
    return (uintptr_t)p - ps_pool_hot.base < ps_pool_hot.size;
}

/* Size class of pooled block p (p owned). */
static inline unsigned ps_pool_class_of_block(const void *p)
{
    return *(const uint8_t *)(ps_pool_hot.class_bias + ((uintptr_t)p >> PS_POOL_UNIT_SHIFT));
}

/* Usable size of pooled block p: its class size; every byte may be written. */
static inline size_t ps_pool_usable_size(const void *p)
{
    return ps_sizeclass_size[ps_pool_class_of_block(p)];
}

/* p itself if n fits p's class and wastes at most half of it (a 1 KiB block realloc'ed to
 * 10 bytes moves to a smaller class); NULL: allocate, copy, free. n must be > 0. */
static inline void *ps_pool_realloc_in_place(void *p, size_t n)
{
    size_t size = ps_pool_usable_size(p);
    return n <= size && n >= size / 2 ? p : NULL;
}

/* A block from class cls of this thread's cache, else the slow path (n: the request). */
static inline void *ps_pool_malloc_cls(size_t n, size_t cls)
{
    ps_pool_bin_t *b = &ps_pool_tls->bins[cls];
    void **t = b->top;
    if (PS_UNLIKELY(t == b->low))
        return ps_pool_malloc_slow(n, b);
    b->allocs++;
    b->top = --t;
    return *t;
}

/*
 * Fast path budget (x86-64, gcc 12 -O2 -fPIC, initial-exec TLS through the GOT; callgrind on
 * tests/unit/shim/pool_bench.c, see docs/pool.md): malloc 17 instructions as a function (size
 * check 2, class table 4, TLS + bin address 4, empty test 2, pop and count 4, ret), free 14
 * (unit class 4, TLS + bin 4, full test 2, push 3, ret); 23 per pair inlined, 37 per pair
 * through out-of-line malloc/free wrappers with the ownership test (glibc: 133). No lock, no
 * atomic, no hashing, no division. Anything else is a separate noinline function.
 */
/* A block of at least n bytes (16-aligned), or NULL: n above the limit, or the pool is
 * exhausted or not initialized. The caller then forwards to the C library. */
static inline void *ps_pool_malloc(size_t n)
{
    if (PS_UNLIKELY(n > PS_POOL_TABLE_MAX))
        return ps_pool_malloc_medium(n);
    return ps_pool_malloc_cls(n, ps_pool_size_class[(n + 15) >> 4]);
}

/* Free pooled block p (ps_pool_owns(p) must be true). Works from any thread, also after the
 * thread's cache was torn down. */
static inline void ps_pool_free(void *p)
{
    size_t cls = ps_pool_class_of_block(p);
    ps_pool_bin_t *b = &ps_pool_tls->bins[cls];
    void **t = b->top;
    if (PS_UNLIKELY(t == b->high)) {
        ps_pool_free_slow(p, b);
        return;
    }
    *t = p;
    /* The slot before the new top: a child forked while this thread is here must never see a
     * top that covers a slot not yet written (it gives the dead thread's cache back). */
    atomic_signal_fence(memory_order_release);
    b->top = t + 1;
}

#endif /* PS_POOL_H */
