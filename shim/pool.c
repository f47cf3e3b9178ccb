/* SPDX-License-Identifier: MIT */
/*
 * pool.c — the small-object pool behind pool.h: the reservation and its slabs, the central
 * pool of each size class, thread caches (creation, flush, refill, retirement at thread exit
 * and in a forked child), decay, per-block metadata and statistics. docs/pool.md has the
 * picture; the fast paths are inline in pool.h.
 *
 * Layout. One PROT_NONE reservation holds every block, cut into 64 KiB units; a slab is one
 * unit (classes up to 2 KiB), four (up to 32 KiB) or 32 (the medium classes up to 256 KiB),
 * carved front to back with no header, so blocks
 * of a class that is a multiple of A fall on A boundaries. Per unit, a byte gives the class
 * (the free fast path reads it) and a descriptor (slab_t) sits in a separate array. A second
 * reservation of the same size holds the per-block metadata: 64 KiB per unit, 12 bytes per
 * block (so at most 3/4 of each unit's is ever touched), committed only when the tracker
 * first asks for it.
 *
 * Flow of a block: slab -> (refill) thread cache -> program -> thread cache -> (flush, when
 * the cache is full) central transfer stack -> (refill) some thread cache ... A free from any
 * thread lands in that thread's cache: cross-thread frees need neither a lock nor an atomic
 * on the fast path, and travel back in batches through the transfer stack (one lock per
 * batch). A full transfer stack sends blocks back to their slabs; a slab whose blocks are all
 * back is empty, and after the decay time its pages go back to the OS.
 *
 * Locks (spinlocks, slow paths only), in this order: registry_lock -> central[c].lock (one
 * class at a time) -> slab_lock. Nothing here calls malloc or stdio; warnings go through
 * ps_msg_warn (its own lock is a leaf), once each.
 */
#include "pool.h"

#include "internal.h"

#include <pthread.h>
#include <string.h>

#define SEGMENT_UNITS 64           /* commit granularity of blocks and metadata: 4 MiB */
#define CACHE_BIN_BYTES (64 << 10) /* a thread's bin holds about this many bytes of blocks */
#define CACHE_BIN_MIN 2            /* ... but at least this many blocks (1 for medium classes) */
#define CACHE_BIN_MAX 64           /* ... and at most this many */
#define CACHE_BIN_START 8          /* a new bin's limit (blocks); it doubles on each refill */
#define XFER_BYTES (64 << 10)      /* a class's transfer stack holds about this many bytes, */
#define XFER_MIN_BATCHES 8         /* ... but at least this many flush batches */
#define XFER_MIN_BATCHES_MEDIUM 2  /* ... (medium classes: a batch is one block of >32 KiB) */
#define XFER_MAX 1024              /* ... and at most this many blocks */
#define XFER_ONE_MAX 128           /* ... while one thread has had a cache (xfer_widen) */
#define DECAY_EVERY 16             /* slow-path calls (per thread) between looks at the clock */
#define RESERVE_MIN ((size_t)64 << 20)

enum { KIND_SMALL = 0, KIND_BIG = 1, KIND_MEDIUM = 2, NKIND = 3 }; /* slabs of 1, 4, 32 units */
enum { SLAB_UNUSED = 0, SLAB_ACTIVE, SLAB_EMPTY, SLAB_RELEASED };

/* Descriptor of a slab, at the index of its first unit. Guarded by its class's lock while it
 * serves a class, by slab_lock while empty. */
typedef struct slab_s {
    void *free;                 /* blocks given back to the slab, linked through their first word */
    struct slab_s *next, *prev; /* class partial list, or empty/released list of its kind */
    uint64_t empty_since;       /* clock time it became empty (ns) */
    uint32_t used;              /* blocks out of the slab: in caches, transfer stack, program */
    uint32_t carved;            /* blocks [0, carved) were handed out at least once */
    uint32_t capacity;          /* blocks that fit */
    uint8_t cls;                /* class served; 0 when empty */
    uint8_t units;              /* 1, PS_POOL_BIG_UNITS or PS_POOL_MEDIUM_UNITS */
    uint8_t state;              /* SLAB_* */
    uint8_t on_partial;         /* 1 while on its class's partial list */
    uint8_t last_cls;           /* class it served last (statistics of returned bytes) */
} slab_t;

/* The central pool of one class. */
typedef struct central_s {
    ps_spinlock_t lock;
    uint32_t nxfer;           /* blocks on the transfer stack */
    uint32_t xcap;            /* its capacity (blocks) */
    uint32_t xcap_wide;       /* its full capacity until xfer_widen moves it there, then 0 */
    void **xfer;              /* transfer stack: blocks flushed by caches, handed out on refill */
    slab_t *partial;          /* slabs with free or never-carved blocks */
    uint32_t slabs;           /* slabs serving the class */
    int xfer_touched;         /* transfer stack used since the last decay pass */
    uint64_t xfer_idle_since; /* clock time of the decay pass that found it untouched (ns) */
    uint64_t out;             /* blocks out of slabs (carved, not on a slab free list) */
    uint64_t slab_free;       /* blocks on slab free lists */
    /* statistics (under the lock) */
    uint64_t misses, refills, flushes, flushed_blocks, direct_allocs, direct_frees;
    uint64_t retired_allocs; /* bin allocation counts of caches that were retired */
    uint64_t returned;       /* bytes of this class's slabs given back to the OS (atomic adds:
                                purges run under slab_lock, not the class lock) */
} __attribute__((aligned(64))) central_t;

static struct {
    int initialized;
    ps_pool_config_t cfg;
    size_t max_size;                /* largest pooled request (bytes): a class size */
    unsigned max_class;             /* its class */
    uint32_t cap[PS_POOL_NCLASS];   /* thread bin capacity per class (blocks) */
    uint64_t recip[PS_POOL_NCLASS]; /* division-free block index, see sizeclass.h */
    size_t cache_bytes;             /* mapping size of one thread cache */
    char *meta_base;                /* metadata reservation: unit u at meta_base + u * 64 KiB */
    size_t nunits;                  /* units in the reservation */
    slab_t *slabs;                  /* descriptor per unit (used at first units of slabs) */
    uint8_t *meta_ok;               /* per segment: metadata committed */
    void **xfer_mem;                /* all transfer stacks (one mapping) */
    size_t xfer_bytes;
    pthread_key_t key;
    int key_ok;

    ps_spinlock_t slab_lock;                  /* guards what follows, down to `returned` */
    size_t bump;                              /* next never-used unit */
    size_t committed;                         /* units [0, committed) are read/write */
    slab_t *empty[NKIND], *empty_tail[NKIND]; /* empty slabs by kind, oldest first, resident */
    slab_t *released[NKIND];                  /* empty slabs whose pages went back to the OS */
    uint64_t empty_units, released_units, meta_segments, returned;
    int exhausted;

    ps_spinlock_t registry_lock;  /* guards what follows */
    ps_pool_cache_t *caches;      /* live thread caches */
    ps_pool_cache_t *free_caches; /* retired ones, for reuse */
    uint32_t nthreads;
    atomic_int shared; /* a second thread has had a cache (sticky): transfer stacks widen */

    atomic_ullong next_decay; /* clock time of the next automatic decay pass (ns) */
    uint64_t decay_period;    /* between automatic passes (ns) */
    atomic_int warned_exhausted, warned_invalid, warned_cache;
    central_t central[PS_POOL_NCLASS];
} pool;

PS_HIDDEN ps_pool_hot_t ps_pool_hot __attribute__((aligned(64))); /* read-mostly: own line */
PS_HIDDEN uint8_t ps_pool_size_class[PS_POOL_TABLE_MAX / 16 + 1];

/* The shared caches a thread points at before its first pooled call and after its exit: every
 * bin is both empty and full (top == low == high, all NULL), so both fast paths fall into the
 * slow paths, which never write them. Zero, in .bss: bins of &a_slot made 318 relocations the
 * loader wrote into two pages of .data in every process, and 7.5 KiB of .rela.dyn
 * (docs/performance.md, "Sampling's peak RSS: the unwinder's pages of libc and the shim's own
 * pages"). */
static ps_pool_cache_t cache_empty;
static ps_pool_cache_t cache_dead;

PS_HIDDEN __thread ps_pool_cache_t *ps_pool_tls __attribute__((tls_model("initial-exec"))) =
    &cache_empty;
static __thread int fork_depth __attribute__((tls_model("initial-exec")));
static __thread int fork_locked __attribute__((tls_model("initial-exec")));

/* ================================================================================================
 * Small helpers
 * ============================================================================================== */

static inline uint64_t now_ns(void)
{
    return pool.cfg.clock_ns();
}

static inline char *unit_addr(size_t unit)
{
    return (char *)(ps_pool_hot.base + (unit << PS_POOL_UNIT_SHIFT));
}

static inline size_t unit_of(const void *p)
{
    return ((uintptr_t)p - ps_pool_hot.base) >> PS_POOL_UNIT_SHIFT;
}

static inline slab_t *slab_of(const void *p, unsigned cls)
{
    size_t unit = unit_of(p) & ~(size_t)(ps_sizeclass_units(cls) - 1);
    return &pool.slabs[unit];
}

static inline size_t slab_unit(const slab_t *s)
{
    return (size_t)(s - pool.slabs);
}

static inline int kind_of(unsigned units)
{
    return units == 1 ? KIND_SMALL : units == PS_POOL_BIG_UNITS ? KIND_BIG : KIND_MEDIUM;
}

static inline int elapsed(uint64_t now, uint64_t since, uint64_t age)
{
    return now >= since && now - since >= age;
}

static PS_COLD void warn_exhausted(void)
{
    if (atomic_exchange(&pool.warned_exhausted, 1) == 0)
        ps_msg_warn("small-object pool exhausted (%zu MiB reserved, or the OS refused to commit "
                    "more); further small allocations go to the C library",
                    (size_t)(ps_pool_hot.size >> 20));
}

/* ================================================================================================
 * Slabs (slab_lock)
 * ============================================================================================== */

static void list_remove(slab_t **head, slab_t **tail, slab_t *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        *head = s->next;
    if (s->next)
        s->next->prev = s->prev;
    else if (tail)
        *tail = s->prev;
    s->next = s->prev = NULL;
}

static void list_push(slab_t **head, slab_t *s)
{
    s->prev = NULL;
    s->next = *head;
    if (*head)
        (*head)->prev = s;
    *head = s;
}

static void purge_slab(slab_t *s)
{
    size_t unit = slab_unit(s);
    size_t bytes = (size_t)s->units << PS_POOL_UNIT_SHIFT;
    ps_os_purge(unit_addr(unit), bytes);
    if (pool.meta_ok[unit / SEGMENT_UNITS])
        ps_os_purge(pool.meta_base + (unit << PS_POOL_UNIT_SHIFT), bytes);
    pool.returned += bytes;
    __atomic_fetch_add(&pool.central[s->last_cls].returned, bytes, __ATOMIC_RELAXED);
}

/* The reservation is used up and a small slab is wanted: cut an empty big slab into single
 * units (memory moves from big classes to small ones, never back). Under slab_lock. */
static slab_t *split_big(void)
{
    slab_t *big = pool.empty_tail[KIND_BIG];
    int released = 0;
    if (big) {
        list_remove(&pool.empty[KIND_BIG], &pool.empty_tail[KIND_BIG], big);
        pool.empty_units -= big->units;
    } else if ((big = pool.released[KIND_BIG]) != NULL) {
        list_remove(&pool.released[KIND_BIG], NULL, big);
        pool.released_units -= big->units;
        released = 1;
    } else {
        return NULL;
    }
    unsigned units = big->units;
    uint64_t since = big->empty_since;
    for (unsigned i = 1; i < units; i++) {
        slab_t *g = big + i;
        g->units = 1;
        g->empty_since = since;
        g->last_cls = big->last_cls;
        if (released) {
            g->state = SLAB_RELEASED;
            list_push(&pool.released[KIND_SMALL], g);
            pool.released_units++;
        } else {
            g->state = SLAB_EMPTY;
            g->next = NULL;
            g->prev = pool.empty_tail[KIND_SMALL];
            if (g->prev)
                g->prev->next = g;
            else
                pool.empty[KIND_SMALL] = g;
            pool.empty_tail[KIND_SMALL] = g;
            pool.empty_units++;
        }
    }
    big->units = 1;
    return big;
}

/* Hand out an empty slab for a class: the most recently emptied one (warm), else a released
 * one (address space reuse), else fresh units from the reservation. Called under the class
 * lock. NULL when the reservation is used up or the OS refuses to commit. */
static slab_t *slab_acquire(unsigned cls)
{
    unsigned units = ps_sizeclass_units(cls);
    int kind = kind_of(units);
    slab_t *s = NULL;
    ps_lock(&pool.slab_lock);
    if (pool.empty_tail[kind]) {
        s = pool.empty_tail[kind];
        list_remove(&pool.empty[kind], &pool.empty_tail[kind], s);
        pool.empty_units -= units;
    } else if (pool.released[kind]) {
        s = pool.released[kind];
        list_remove(&pool.released[kind], NULL, s);
        pool.released_units -= units;
    } else {
        size_t first = (pool.bump + units - 1) & ~(size_t)(units - 1);
        size_t end = first + units;
        if (end > pool.nunits) {
            if (kind == KIND_SMALL && (s = split_big()) != NULL)
                goto got;
            goto fail;
        }
        if (end > pool.committed) {
            size_t to = (end + SEGMENT_UNITS - 1) / SEGMENT_UNITS * SEGMENT_UNITS;
            if (to > pool.nunits)
                to = pool.nunits;
            if (ps_os_commit(unit_addr(pool.committed), (to - pool.committed)
                                                            << PS_POOL_UNIT_SHIFT) != 0)
                goto fail;
            pool.committed = to;
        }
        /* units skipped to align a big slab: single-unit slabs, never touched (zero pages) */
        for (size_t u = pool.bump; u < first; u++) {
            slab_t *g = &pool.slabs[u];
            g->units = 1;
            g->state = SLAB_RELEASED;
            list_push(&pool.released[KIND_SMALL], g);
            pool.released_units++;
        }
        pool.bump = end;
        s = &pool.slabs[first];
    }
got:
    ps_unlock(&pool.slab_lock);
    s->free = NULL;
    s->next = s->prev = NULL;
    s->used = s->carved = 0;
    s->capacity = ps_sizeclass_capacity(cls);
    s->cls = s->last_cls = (uint8_t)cls;
    s->units = (uint8_t)units;
    s->state = SLAB_ACTIVE;
    s->on_partial = 0;
    memset(&ps_pool_hot.unit_class[slab_unit(s)], (int)cls, units);
    return s;
fail:
    pool.exhausted = 1;
    ps_unlock(&pool.slab_lock);
    return NULL;
}

/* A slab whose blocks are all back: it serves no class any more. Called under the class lock
 * (the slab is already off the partial list). */
static void slab_retire(slab_t *s, uint64_t since)
{
    memset(&ps_pool_hot.unit_class[slab_unit(s)], 0, s->units);
    int kind = kind_of(s->units);
    s->free = NULL;
    s->used = s->carved = 0;
    s->cls = 0;
    s->empty_since = since;
    ps_lock(&pool.slab_lock);
    if (pool.cfg.decay_ns == 0) {
        purge_slab(s);
        s->state = SLAB_RELEASED;
        list_push(&pool.released[kind], s);
        pool.released_units += s->units;
    } else {
        s->state = SLAB_EMPTY;
        s->next = NULL;
        s->prev = pool.empty_tail[kind];
        if (s->prev)
            s->prev->next = s;
        else
            pool.empty[kind] = s;
        pool.empty_tail[kind] = s;
        pool.empty_units += s->units;
    }
    ps_unlock(&pool.slab_lock);
}

/* ================================================================================================
 * Central pool of a class (its lock held)
 * ============================================================================================== */

/* Take up to want blocks from the slabs into out[]. Returns how many (fewer: exhausted). */
static uint32_t slab_take(central_t *c, unsigned cls, void **out, uint32_t want)
{
    uint32_t size = ps_sizeclass_size[cls];
    uint32_t got = 0;
    while (got < want) {
        slab_t *s = c->partial;
        if (!s) {
            s = slab_acquire(cls);
            if (!s)
                break;
            list_push(&c->partial, s);
            s->on_partial = 1;
            c->slabs++;
        }
        while (got < want && s->free) {
            void *p = s->free;
            s->free = *(void **)p;
            out[got++] = p;
            s->used++;
            c->slab_free--;
        }
        if (got < want && s->carved < s->capacity) {
            uint32_t k = s->capacity - s->carved;
            if (k > want - got)
                k = want - got;
            char *b = unit_addr(slab_unit(s)) + (size_t)s->carved * size;
            for (uint32_t i = 0; i < k; i++)
                out[got++] = b + (size_t)i * size;
            s->carved += k;
            s->used += k;
        }
        if (!s->free && s->carved == s->capacity) { /* full: off the list until a block returns */
            list_remove(&c->partial, NULL, s);
            s->on_partial = 0;
        }
    }
    return got;
}

/* Give block p back to its slab. since: idle-since time for a slab this empties (0: now). */
static void slab_put(central_t *c, unsigned cls, void *p, uint64_t since)
{
    slab_t *s = slab_of(p, cls);
    if (PS_UNLIKELY(s->cls != cls || s->used == 0)) {
        /* cannot happen unless the program freed a block twice or a wild pointer */
        if (atomic_exchange(&pool.warned_invalid, 1) == 0)
            ps_msg_warn("pool: invalid or double free of %p ignored", p);
        return;
    }
    *(void **)p = s->free;
    s->free = p;
    s->used--;
    c->out--;
    c->slab_free++;
    if (s->used == 0) {
        if (s->on_partial)
            list_remove(&c->partial, NULL, s);
        s->on_partial = 0;
        c->slab_free -= s->carved;
        c->slabs--;
        slab_retire(s, since ? since : now_ns());
    } else if (!s->on_partial) {
        list_push(&c->partial, s);
        s->on_partial = 1;
    }
}

static uint32_t xfer_cap(unsigned k, uint32_t cap);

/* Where class cls's wide transfer stack lies in pool.xfer_mem: after the stacks of one thread
 * (capacity at most XFER_ONE_MAX, packed: ps_pool_init), the wide ones of the classes whose
 * capacity is larger, in class order. */
static void **xfer_wide_place(unsigned cls)
{
    void **x = pool.xfer_mem;
    for (unsigned k = 1; k <= pool.max_class; k++) {
        uint32_t cap = xfer_cap(k, pool.cap[k]);
        x += cap < XFER_ONE_MAX ? cap : XFER_ONE_MAX;
    }
    for (unsigned k = 1; k < cls; k++) {
        uint32_t cap = xfer_cap(k, pool.cap[k]);
        x += cap > XFER_ONE_MAX ? cap : 0;
    }
    return x;
}

/* Transfer stacks of one thread (docs/pool.md): blocks cross threads through a class's transfer
 * stack; while one thread has had a cache, the stack only parks that thread's surplus. A long
 * run writes a stack up to its capacity, 8 bytes per parked block, so the stacks start at
 * XFER_ONE_MAX blocks, packed together (a small churn wrote 56 KiB of 1024-block stacks, a page
 * or two per class), and move to their full size, under the class lock, at the first give or
 * take after a second thread had a cache. */
static void xfer_widen(central_t *c, unsigned cls)
{
    if (PS_LIKELY(!c->xcap_wide) || !atomic_load_explicit(&pool.shared, memory_order_relaxed))
        return;
    void **x = xfer_wide_place(cls);
    memcpy(x, c->xfer, c->nxfer * sizeof(void *));
    c->xfer = x;
    c->xcap = c->xcap_wide;
    c->xcap_wide = 0;
}

/* Take up to want blocks: the transfer stack first (recently freed, warm), then slabs. */
static uint32_t central_take(central_t *c, unsigned cls, void **out, uint32_t want)
{
    uint32_t got = 0;
    xfer_widen(c, cls);
    if (c->nxfer) {
        got = c->nxfer < want ? c->nxfer : want;
        c->nxfer -= got;
        memcpy(out, c->xfer + c->nxfer, got * sizeof(void *));
        c->xfer_touched = 1;
    }
    if (got < want) {
        uint32_t more = slab_take(c, cls, out + got, want - got);
        c->out += more;
        got += more;
    }
    return got;
}

/* Give n blocks back: onto the transfer stack while it has room, the rest to their slabs. */
static void central_give(central_t *c, unsigned cls, void **blocks, uint32_t n)
{
    xfer_widen(c, cls);
    uint32_t room = c->xcap - c->nxfer;
    uint32_t k = n < room ? n : room;
    if (k)
        memcpy(c->xfer + c->nxfer, blocks, k * sizeof(void *));
    c->nxfer += k;
    c->xfer_touched = 1;
    for (uint32_t i = k; i < n; i++)
        slab_put(c, cls, blocks[i], 0);
}

static PS_NOINLINE void *central_alloc_one(unsigned cls)
{
    central_t *c = &pool.central[cls];
    void *p = NULL;
    ps_lock(&c->lock);
    c->misses++;
    if (central_take(c, cls, &p, 1) == 1)
        c->direct_allocs++;
    ps_unlock(&c->lock);
    if (!p)
        warn_exhausted();
    return p;
}

static PS_NOINLINE void central_free_one(unsigned cls, void *p)
{
    central_t *c = &pool.central[cls];
    ps_lock(&c->lock);
    c->direct_frees++;
    central_give(c, cls, &p, 1);
    ps_unlock(&c->lock);
}

/* ================================================================================================
 * Thread caches
 * ============================================================================================== */

static void cache_reset_bins(ps_pool_cache_t *tc)
{
    void **slot = (void **)(tc + 1);
    for (unsigned c = 0; c < PS_POOL_NCLASS; c++) {
        ps_pool_bin_t *b = &tc->bins[c];
        b->low = b->top = slot;
        b->high = slot + (pool.cap[c] < CACHE_BIN_START ? pool.cap[c] : CACHE_BIN_START);
        slot += pool.cap[c];
        b->allocs = 0;
    }
}

/* A cache for the calling thread (a retired one if any), registered and installed in TLS.
 * NULL if no memory: the thread then uses the central pool directly. */
static PS_NOINLINE ps_pool_cache_t *cache_create(void)
{
    ps_pool_cache_t *tc;
    ps_lock(&pool.registry_lock);
    tc = pool.free_caches;
    if (tc)
        pool.free_caches = tc->next;
    ps_unlock(&pool.registry_lock);
    if (!tc) {
        tc = ps_os_map(pool.cache_bytes);
        if (!tc) {
            ps_pool_tls = &cache_dead;
            if (atomic_exchange(&pool.warned_cache, 1) == 0)
                ps_msg_warn("cannot map a pool thread cache for thread %u; its small requests "
                            "take the pool's slower shared path",
                            (unsigned)ps_os_tid());
            return NULL;
        }
    }
    cache_reset_bins(tc);
    tc->slow_calls = 0;
    ps_lock(&pool.registry_lock);
    tc->next = pool.caches;
    pool.caches = tc;
    if (++pool.nthreads > 1)
        atomic_store_explicit(&pool.shared, 1, memory_order_relaxed);
    ps_unlock(&pool.registry_lock);
    ps_pool_tls = tc;
    if (pool.key_ok)
        pthread_setspecific(pool.key, tc); /* low key index: does not allocate */
    return tc;
}

/* Give every cached block of tc back to the central pools. */
static void cache_drain(ps_pool_cache_t *tc)
{
    for (unsigned cls = 1; cls <= pool.max_class; cls++) {
        ps_pool_bin_t *b = &tc->bins[cls];
        uint32_t n = (uint32_t)(b->top - b->low);
        if (!n)
            continue;
        central_t *c = &pool.central[cls];
        ps_lock(&c->lock);
        central_give(c, cls, b->low, n);
        b->top = b->low; /* under the lock: see flush() */
        ps_unlock(&c->lock);
    }
}

/* tc's thread is gone (or going): blocks back, counters folded, cache kept for reuse. */
static void cache_retire(ps_pool_cache_t *tc, int linked)
{
    cache_drain(tc);
    ps_lock(&pool.registry_lock);
    if (linked) {
        for (ps_pool_cache_t **pp = &pool.caches; *pp; pp = &(*pp)->next)
            if (*pp == tc) {
                *pp = tc->next;
                break;
            }
    }
    pool.nthreads--;
    for (unsigned cls = 1; cls <= pool.max_class; cls++) {
        central_t *c = &pool.central[cls];
        /* registry_lock -> class lock: the documented order */
        ps_lock(&c->lock);
        c->retired_allocs += tc->bins[cls].allocs;
        ps_unlock(&c->lock);
        tc->bins[cls].allocs = 0;
    }
    tc->next = pool.free_caches;
    pool.free_caches = tc;
    ps_unlock(&pool.registry_lock);
}

static void cache_key_destructor(void *arg)
{
    (void)arg; /* the TLS pointer is the truth: the lead may have retired the cache already */
    ps_pool_thread_exit();
}

void ps_pool_thread_exit(void)
{
    ps_pool_cache_t *tc = ps_pool_tls;
    if (tc == &cache_dead)
        return;
    ps_pool_tls = &cache_dead;
    if (tc == &cache_empty || !pool.initialized)
        return;
    cache_retire(tc, 1);
}

void ps_pool_flush(void)
{
    ps_pool_cache_t *tc = ps_pool_tls;
    if (tc != &cache_empty && tc != &cache_dead && pool.initialized)
        cache_drain(tc);
}

/* Every DECAY_EVERY slow-path calls of a thread, look at the clock; one thread at a time runs a
 * decay pass when one is due. */
static inline void maybe_decay(ps_pool_cache_t *tc)
{
    if (PS_LIKELY(++tc->slow_calls % DECAY_EVERY != 0) || pool.cfg.decay_ns == PS_POOL_DECAY_NEVER)
        return;
    uint64_t now = now_ns();
    unsigned long long due = atomic_load_explicit(&pool.next_decay, memory_order_relaxed);
    if (now < due)
        return;
    if (atomic_compare_exchange_strong(&pool.next_decay, &due, now + pool.decay_period))
        ps_pool_decay(now);
}

/* Refill an empty bin from the central pool: half its limit, after doubling the limit (up to
 * the bin's capacity). A bin starts at CACHE_BIN_START blocks and grows only on the thread
 * that allocates from it: a thread that mostly frees a class (the consumer of a producer/
 * consumer pair) keeps a small bin and hands blocks back sooner. Returns blocks obtained. */
static uint32_t refill(ps_pool_bin_t *b, unsigned cls)
{
    central_t *c = &pool.central[cls];
    uint32_t limit = (uint32_t)(b->high - b->low);
    if (limit < pool.cap[cls]) {
        limit = limit * 2 < pool.cap[cls] ? limit * 2 : pool.cap[cls];
        b->high = b->low + limit; /* only this thread reads high */
    }
    uint32_t want = limit / 2;
    if (want == 0)
        want = 1;
    ps_lock(&c->lock);
    c->misses++;
    uint32_t got = central_take(c, cls, b->low, want);
    if (got)
        c->refills++;
    /* pop order = ascending addresses for freshly carved runs */
    for (uint32_t i = 0, j = got ? got - 1 : 0; i < j; i++, j--) {
        void *t = b->low[i];
        b->low[i] = b->low[j];
        b->low[j] = t;
    }
    b->top = b->low + got; /* under the lock: see flush() */
    ps_unlock(&c->lock);
    return got;
}

/* A full bin sends its older half to the central pool. The bin is rearranged before the lock
 * is dropped: a fork child, whose prepare handler took every lock, gives the caches of the
 * threads it lost back to the central pool and must not find a block in both places. */
static void flush(ps_pool_bin_t *b, unsigned cls)
{
    central_t *c = &pool.central[cls];
    uint32_t n = (uint32_t)(b->top - b->low);
    uint32_t k = n / 2 ? n / 2 : n;
    ps_lock(&c->lock);
    c->flushes++;
    c->flushed_blocks += k;
    central_give(c, cls, b->low, k);
    memmove(b->low, b->low + k, (n - k) * sizeof(void *));
    b->top = b->low + (n - k);
    ps_unlock(&c->lock);
}

void *ps_pool_malloc_slow(size_t n, ps_pool_bin_t *b)
{
    (void)n;
    ps_pool_cache_t *tc = ps_pool_tls;
    unsigned cls = (unsigned)(b - tc->bins);
    if (cls == 0)
        return NULL; /* above the configured limit, or no pool */
    if (tc == &cache_dead)
        return central_alloc_one(cls);
    if (tc == &cache_empty) {
        if (!pool.initialized)
            return NULL;
        tc = cache_create();
        if (!tc)
            return central_alloc_one(cls);
    }
    b = &tc->bins[cls];
    if (b->top == b->low && refill(b, cls) == 0) {
        warn_exhausted();
        return NULL;
    }
    maybe_decay(tc);
    b->allocs++;
    return *--b->top;
}

void ps_pool_free_slow(void *p, ps_pool_bin_t *b)
{
    ps_pool_cache_t *tc = ps_pool_tls;
    unsigned cls = (unsigned)(b - tc->bins);
    if (PS_UNLIKELY(cls == 0)) {
        /* an address of the reservation that serves no class: a wild or double free */
        if (atomic_exchange(&pool.warned_invalid, 1) == 0)
            ps_msg_warn("pool: invalid or double free of %p ignored", p);
        return;
    }
    if (tc == &cache_dead) {
        central_free_one(cls, p);
        return;
    }
    if (tc == &cache_empty) {
        tc = cache_create();
        if (!tc) {
            central_free_one(cls, p);
            return;
        }
    }
    if (PS_UNLIKELY(pool.cap[cls] == 0)) { /* a class above this configuration's limit */
        central_free_one(cls, p);
        return;
    }
    b = &tc->bins[cls];
    if (b->top == b->high)
        flush(b, cls);
    void **t = b->top;
    *t = p;
    atomic_signal_fence(memory_order_release); /* as in ps_pool_free */
    b->top = t + 1;
    maybe_decay(tc);
}

/* ================================================================================================
 * Aligned blocks, realloc, metadata
 * ============================================================================================== */

void *ps_pool_malloc_medium(size_t n)
{
    if (n > pool.max_size) /* 0 before init */
        return NULL;
    return ps_pool_malloc_cls(n, ps_sizeclass_of(n));
}

void *ps_pool_memalign(size_t align, size_t n)
{
    if (align <= 16)
        return ps_pool_malloc(n);
    if (n > pool.max_size || align > PS_POOL_LIMIT || (align & (align - 1)) != 0)
        return NULL;
    for (unsigned c = ps_sizeclass_of(n); c <= pool.max_class; c++)
        if ((ps_sizeclass_size[c] & (align - 1)) == 0)
            return ps_pool_malloc_cls(n, c);
    return NULL;
}

static PS_COLD int meta_commit(size_t seg)
{
    int rc = 0;
    ps_lock(&pool.slab_lock);
    if (!pool.meta_ok[seg]) {
        size_t first = seg * SEGMENT_UNITS;
        size_t units = pool.nunits - first < SEGMENT_UNITS ? pool.nunits - first : SEGMENT_UNITS;
        rc = ps_os_commit(pool.meta_base + (first << PS_POOL_UNIT_SHIFT),
                          units << PS_POOL_UNIT_SHIFT);
        if (rc == 0) {
            pool.meta_segments++;
            __atomic_store_n(&pool.meta_ok[seg], 1, __ATOMIC_RELEASE);
        }
    }
    ps_unlock(&pool.slab_lock);
    return rc;
}

/* 4096 blocks of 16 bytes per unit, the most a unit holds */
_Static_assert(4096 * sizeof(ps_pool_block_meta_t) <= PS_POOL_UNIT,
               "a unit's metadata fits its 64 KiB");

ps_pool_block_meta_t *ps_pool_meta(const void *p)
{
    size_t unit = unit_of(p);
    unsigned cls = ps_pool_hot.unit_class[unit];
    if (PS_UNLIKELY(cls == 0))
        return NULL;
    unit &= ~(size_t)(ps_sizeclass_units(cls) - 1);
    uint64_t off = (uint64_t)((uintptr_t)p - (uintptr_t)unit_addr(unit));
    size_t idx = (size_t)((off * pool.recip[cls]) >> PS_POOL_RECIP_SHIFT);
    size_t seg = unit / SEGMENT_UNITS;
    if (PS_UNLIKELY(!__atomic_load_n(&pool.meta_ok[seg], __ATOMIC_ACQUIRE)) &&
        meta_commit(seg) != 0)
        return NULL;
    return (ps_pool_block_meta_t *)(pool.meta_base + (unit << PS_POOL_UNIT_SHIFT)) + idx;
}

/* ================================================================================================
 * Decay
 * ============================================================================================== */

void ps_pool_decay(uint64_t now)
{
    if (!pool.initialized)
        return;
    uint64_t age = pool.cfg.decay_ns;
    if (age == PS_POOL_DECAY_NEVER)
        return;
    /* Transfer stacks untouched for a whole decay age: their blocks go back to the slabs, and
     * slabs this empties count as idle since the stack went quiet. */
    for (unsigned cls = 1; cls <= pool.max_class; cls++) {
        central_t *c = &pool.central[cls];
        ps_lock(&c->lock);
        if (c->nxfer == 0 || c->xfer_touched) {
            c->xfer_touched = 0;
            c->xfer_idle_since = now;
        } else if (elapsed(now, c->xfer_idle_since, age)) {
            uint64_t since = c->xfer_idle_since ? c->xfer_idle_since : 1;
            while (c->nxfer)
                slab_put(c, cls, c->xfer[--c->nxfer], since);
        }
        ps_unlock(&c->lock);
    }
    ps_lock(&pool.slab_lock);
    for (int kind = 0; kind < NKIND; kind++) {
        slab_t *s;
        while ((s = pool.empty[kind]) != NULL && elapsed(now, s->empty_since, age)) {
            list_remove(&pool.empty[kind], &pool.empty_tail[kind], s);
            pool.empty_units -= s->units;
            purge_slab(s);
            s->state = SLAB_RELEASED;
            list_push(&pool.released[kind], s);
            pool.released_units += s->units;
        }
    }
    ps_unlock(&pool.slab_lock);
}

/* ================================================================================================
 * Statistics
 * ============================================================================================== */

PS_COLD size_t ps_pool_stats(ps_pool_class_stats_t *out, size_t n, ps_pool_totals_t *tot)
{
    uint64_t cached[PS_POOL_NCLASS] = {0}, allocs[PS_POOL_NCLASS] = {0};
    uint32_t threads = 0;
    if (pool.initialized) {
        ps_lock(&pool.registry_lock);
        for (ps_pool_cache_t *tc = pool.caches; tc; tc = tc->next) {
            for (unsigned c = 1; c <= pool.max_class; c++) {
                ps_pool_bin_t *b = &tc->bins[c];
                /* other threads write these without atomics: whole words, possibly stale */
                void **top = __atomic_load_n(&b->top, __ATOMIC_RELAXED);
                cached[c] += (uint64_t)(top - b->low);
                allocs[c] += __atomic_load_n(&b->allocs, __ATOMIC_RELAXED);
            }
        }
        threads = pool.nthreads;
        ps_unlock(&pool.registry_lock);
    }
    for (unsigned c = 1; c < PS_POOL_NCLASS; c++) {
        central_t *ct = &pool.central[c];
        ps_pool_class_stats_t s = {.size = ps_sizeclass_size[c]};
        if (pool.initialized && c <= pool.max_class) {
            ps_lock(&ct->lock);
            s.slabs = ct->slabs;
            s.misses = ct->misses;
            s.refills = ct->refills;
            s.flushes = ct->flushes;
            s.flushed_blocks = ct->flushed_blocks;
            s.direct_frees = ct->direct_frees;
            s.allocs = allocs[c] + ct->retired_allocs + ct->direct_allocs;
            int64_t in_use = (int64_t)ct->out - (int64_t)ct->nxfer - (int64_t)cached[c];
            s.bytes_in_use = in_use > 0 ? (uint64_t)in_use * s.size : 0;
            s.bytes_central = ((uint64_t)ct->nxfer + ct->slab_free) * s.size;
            s.bytes_returned = __atomic_load_n(&ct->returned, __ATOMIC_RELAXED);
            ps_unlock(&ct->lock);
            s.hits = s.allocs > s.misses ? s.allocs - s.misses : 0;
            s.bytes_cached = cached[c] * s.size;
        }
        if (c - 1 < n)
            out[c - 1] = s;
    }
    if (tot) {
        memset(tot, 0, sizeof *tot);
        if (pool.initialized) {
            ps_lock(&pool.slab_lock);
            tot->reserved = ps_pool_hot.size;
            tot->committed = (uint64_t)pool.committed << PS_POOL_UNIT_SHIFT;
            tot->meta_committed = (uint64_t)pool.meta_segments * SEGMENT_UNITS
                                  << PS_POOL_UNIT_SHIFT;
            tot->empty_bytes = (uint64_t)pool.empty_units << PS_POOL_UNIT_SHIFT;
            tot->released_bytes = (uint64_t)pool.released_units << PS_POOL_UNIT_SHIFT;
            tot->slab_bytes = ((uint64_t)pool.bump - pool.empty_units - pool.released_units)
                              << PS_POOL_UNIT_SHIFT;
            tot->returned = pool.returned;
            tot->exhausted = (uint32_t)pool.exhausted;
            ps_unlock(&pool.slab_lock);
            tot->threads = threads;
        }
    }
    return PS_POOL_NCLASS - 1;
}

/* ================================================================================================
 * fork
 * ============================================================================================== */

static void lock_all(void)
{
    ps_lock(&pool.registry_lock);
    for (unsigned c = 1; c <= pool.max_class; c++)
        ps_lock(&pool.central[c].lock);
    ps_lock(&pool.slab_lock);
}

static void unlock_all(void)
{
    ps_unlock(&pool.slab_lock);
    for (unsigned c = pool.max_class; c >= 1; c--)
        ps_unlock(&pool.central[c].lock);
    ps_unlock(&pool.registry_lock);
}

void ps_pool_fork_prepare(void)
{
    if (fork_depth++ == 0 && pool.initialized) {
        lock_all();
        fork_locked = 1;
    }
}

void ps_pool_fork_parent(void)
{
    if (--fork_depth == 0 && fork_locked) {
        fork_locked = 0;
        unlock_all();
    }
}

void ps_pool_fork_child(void)
{
    if (--fork_depth != 0 || !fork_locked)
        return;
    fork_locked = 0;
    unlock_all();
    ps_pool_fork_child_caches();
}

void ps_pool_fork_child_caches(void)
{
    if (!pool.initialized)
        return;
    /* Only this thread exists here. The other threads' caches hold free blocks nobody will
     * use: give them back. (Their fast paths store a slot before moving top, so a cache
     * caught mid-free at most loses that one block.) */
    ps_pool_cache_t *mine = ps_pool_tls, *others = NULL;
    if (pool.caches == NULL || (pool.caches == mine && mine->next == NULL))
        return; /* nobody else's: write nothing (each page written is a copy-on-write fault) */
    ps_lock(&pool.registry_lock);
    ps_pool_cache_t *tc = pool.caches;
    pool.caches = NULL;
    while (tc) {
        ps_pool_cache_t *next = tc->next;
        if (tc == mine) {
            tc->next = pool.caches;
            pool.caches = tc;
        } else {
            tc->next = others;
            others = tc;
        }
        tc = next;
    }
    ps_unlock(&pool.registry_lock);
    while (others) {
        ps_pool_cache_t *next = others->next;
        cache_retire(others, 0);
        others = next;
    }
}

/* ================================================================================================
 * Init and shutdown
 * ============================================================================================== */

/* Transfer stack capacity of class k whose thread bins hold cap blocks (blocks). */
static uint32_t xfer_cap(unsigned k, uint32_t cap)
{
    uint32_t batch = cap / 2 ? cap / 2 : 1;
    uint32_t n = XFER_BYTES / ps_sizeclass_size[k];
    uint32_t batches =
        ps_sizeclass_size[k] > PS_POOL_BIG_MAX ? XFER_MIN_BATCHES_MEDIUM : XFER_MIN_BATCHES;
    if (n < batches * batch)
        n = batches * batch;
    return n > XFER_MAX ? XFER_MAX : n;
}

size_t ps_pool_max_size(void)
{
    return pool.initialized ? pool.max_size : 0;
}

int ps_pool_init(const ps_pool_config_t *cfg)
{
    if (pool.initialized)
        return 0;
    ps_pool_config_t c = {0};
    if (cfg)
        c = *cfg;
    if (c.max_size == 0)
        c.max_size = PS_POOL_DEFAULT_MAX;
    if (c.max_size > PS_POOL_LIMIT)
        c.max_size = PS_POOL_LIMIT;
    if (c.reserve == 0)
        c.reserve = PS_POOL_DEFAULT_RESERVE;
    if (c.clock_ns == NULL)
        c.clock_ns = ps_os_monotonic_ns;
    size_t align = PS_POOL_UNIT * PS_POOL_MEDIUM_UNITS;
    c.reserve = (c.reserve + align - 1) & ~(align - 1);

    /* blocks and metadata: halve until the OS agrees (ulimit -v, small address spaces) */
    char *data = NULL, *meta = NULL;
    size_t size = c.reserve;
    for (; size >= RESERVE_MIN; size /= 2) {
        data = ps_os_reserve(size, align);
        meta = data ? ps_os_reserve(size, PS_POOL_UNIT) : NULL;
        if (meta)
            break;
        if (data)
            ps_os_unmap(data, size);
        data = NULL;
    }
    if (!data)
        return -1;
    if (size < c.reserve)
        ps_msg_info("the pool reserved %zu MiB of address space instead of %zu MiB; it is "
                    "exhausted sooner (then small requests go to the C library)",
                    size >> 20, c.reserve >> 20);
    c.reserve = size;
    pool.cfg = c;
    pool.nunits = size >> PS_POOL_UNIT_SHIFT;
    pool.meta_base = meta;
    pool.max_class = ps_sizeclass_of(c.max_size);
    pool.max_size = ps_sizeclass_size[pool.max_class];

    size_t nseg = (pool.nunits + SEGMENT_UNITS - 1) / SEGMENT_UNITS;
    uint8_t *unit_class = ps_os_map(pool.nunits);
    pool.slabs = ps_os_map(pool.nunits * sizeof(slab_t));
    pool.meta_ok = ps_os_map(nseg);

    size_t slots = 0, xslots = 0;
    for (unsigned k = 1; k <= pool.max_class; k++) {
        uint32_t cap = CACHE_BIN_BYTES / ps_sizeclass_size[k];
        uint32_t min = ps_sizeclass_size[k] > PS_POOL_BIG_MAX ? 1 : CACHE_BIN_MIN;
        cap = cap < min ? min : cap > CACHE_BIN_MAX ? CACHE_BIN_MAX : cap;
        pool.cap[k] = cap;
        pool.recip[k] = ps_sizeclass_recip(k);
        slots += cap;
        uint32_t x = xfer_cap(k, cap);
        xslots += x <= XFER_ONE_MAX ? x : XFER_ONE_MAX + x; /* packed, and wide if larger */
    }
    size_t page = ps_os_page_size();
    pool.cache_bytes = (sizeof(ps_pool_cache_t) + slots * sizeof(void *) + page - 1) & ~(page - 1);
    pool.xfer_bytes = xslots * sizeof(void *);
    pool.xfer_mem = ps_os_map(pool.xfer_bytes);
    if (!unit_class || !pool.slabs || !pool.meta_ok || !pool.xfer_mem) {
        ps_os_unmap(unit_class, pool.nunits);
        ps_os_unmap(pool.slabs, pool.nunits * sizeof(slab_t));
        ps_os_unmap(pool.meta_ok, nseg);
        ps_os_unmap(pool.xfer_mem, pool.xfer_bytes);
        ps_os_unmap(data, size);
        ps_os_unmap(meta, size);
        memset(&pool, 0, sizeof pool);
        return -1;
    }
    void **x = pool.xfer_mem; /* the stacks of one thread, packed (xfer_wide_place) */
    for (unsigned k = 1; k <= pool.max_class; k++) {
        central_t *ct = &pool.central[k];
        uint32_t cap = xfer_cap(k, pool.cap[k]);
        ct->xcap = cap < XFER_ONE_MAX ? cap : XFER_ONE_MAX;
        ct->xcap_wide = cap > XFER_ONE_MAX ? cap : 0;
        ct->xfer = x;
        x += ct->xcap;
    }
    uint64_t period = c.decay_ns / 4;
    pool.decay_period = period < 1000000 ? 1000000 : period > 1000000000 ? 1000000000 : period;
    atomic_store(&pool.next_decay, 0);

    if (pthread_key_create(&pool.key, cache_key_destructor) == 0)
        pool.key_ok = 1;

    ps_pool_hot.unit_class = unit_class;
    ps_pool_hot.class_bias = (uintptr_t)unit_class - ((uintptr_t)data >> PS_POOL_UNIT_SHIFT);
    ps_pool_hot.size = size;
    /* Index i covers requests (16(i-1), 16i]; every class is a multiple of 16, so class k owns
     * the indices (size[k-1]/16, size[k]/16]: one memset per class (a start-up cost of every
     * process, so not ps_sizeclass_of per index). Above the limit, and for the loose lower
     * part of a big class's band (ps_sizeclass_pooled_from), 0 = not pooled. */
    memset(ps_pool_size_class, 0, sizeof ps_pool_size_class);
    ps_pool_size_class[0] = 1;
    for (unsigned k = 1; k <= pool.max_class && ps_sizeclass_size[k] <= PS_POOL_TABLE_MAX; k++) {
        size_t from = (ps_sizeclass_pooled_from(k) + 15) / 16, to = ps_sizeclass_size[k] / 16;
        memset(&ps_pool_size_class[from], (int)k, to - from + 1);
    }
    pool.initialized = 1;
    /* last: from here on ps_pool_owns() can be true */
    __atomic_store_n(&ps_pool_hot.base, (uintptr_t)data, __ATOMIC_RELEASE);
    return 0;
}

void ps_pool_shutdown(void)
{
    if (!pool.initialized)
        return;
    size_t size = ps_pool_hot.size;
    size_t nseg = (pool.nunits + SEGMENT_UNITS - 1) / SEGMENT_UNITS;
    memset(ps_pool_size_class, 0, sizeof ps_pool_size_class);
    if (pool.key_ok)
        pthread_key_delete(pool.key);
    for (ps_pool_cache_t *tc = pool.caches, *next; tc; tc = next) {
        next = tc->next;
        ps_os_unmap(tc, pool.cache_bytes);
    }
    for (ps_pool_cache_t *tc = pool.free_caches, *next; tc; tc = next) {
        next = tc->next;
        ps_os_unmap(tc, pool.cache_bytes);
    }
    ps_os_unmap((void *)ps_pool_hot.base, size);
    ps_os_unmap(pool.meta_base, size);
    ps_os_unmap(ps_pool_hot.unit_class, pool.nunits);
    ps_os_unmap(pool.slabs, pool.nunits * sizeof(slab_t));
    ps_os_unmap(pool.meta_ok, nseg);
    ps_os_unmap(pool.xfer_mem, pool.xfer_bytes);
    memset(&pool, 0, sizeof pool);
    memset(&ps_pool_hot, 0, sizeof ps_pool_hot);
    ps_pool_tls = &cache_empty;
}

/* ================================================================================================
 * The leak scan (reach.c): every block whose metadata holds a stack id
 * ============================================================================================== */

PS_COLD void ps_pool_for_each_tracked(void (*fn)(void *arg, uintptr_t block,
                                                 const ps_pool_block_meta_t *m),
                                      void *arg)
{
    if (!pool.initialized)
        return;
    size_t end = __atomic_load_n(&pool.bump, __ATOMIC_ACQUIRE);
    for (size_t u = 0; u < end;) {
        const slab_t *s = &pool.slabs[u];
        unsigned cls = ps_pool_hot.unit_class[u];
        size_t units = s->units ? s->units : 1;
        if (s->state == SLAB_ACTIVE && cls && s->cls == cls &&
            __atomic_load_n(&pool.meta_ok[u / SEGMENT_UNITS], __ATOMIC_ACQUIRE)) {
            const ps_pool_block_meta_t *m =
                (const ps_pool_block_meta_t *)(pool.meta_base + (u << PS_POOL_UNIT_SHIFT));
            uintptr_t base = (uintptr_t)unit_addr(u);
            size_t size = ps_sizeclass_size[cls];
            for (uint32_t i = 0, n = s->carved; i < n; i++) {
                uint32_t id = __atomic_load_n(&m[i].stack_id, __ATOMIC_RELAXED);
                if (id)
                    fn(arg, base + i * size, &m[i]);
            }
        }
        u += units;
    }
}
