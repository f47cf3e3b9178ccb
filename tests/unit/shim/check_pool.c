/* SPDX-License-Identifier: MIT */
/*
 * check_pool.c — unit tests of the small-object pool (shim/pool.c, pool.h, sizeclass.h),
 * linked with the perfshim_core object library. The Check runner keeps glibc's malloc; the
 * pool is driven through its own interface. Each test re-initializes the pool with the
 * configuration it needs (ps_pool_shutdown + ps_pool_init).
 *
 * Covers: the size-class table, malloc/free/usable_size/realloc-in-place, aligned blocks,
 * ownership of foreign pointers, per-block metadata, a multi-threaded stress with cross-thread
 * frees and realloc chains, producer/consumer memory bounds, thread exit returning the cache
 * (and frees after it), fork while another thread allocates, decay with an injected clock,
 * and exhaustion of the reservation. No test asserts a wall-clock time.
 */
#include "pool.h"

#include "internal.h"

#include <check.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- helpers ------------------------------------------------------------------------------------
 */

static void pool_setup(size_t max_size, size_t reserve, uint64_t decay_ns, uint64_t (*clock)(void))
{
    ps_pool_shutdown();
    ps_pool_config_t cfg = {
        .max_size = max_size, .reserve = reserve, .decay_ns = decay_ns, .clock_ns = clock};
    ck_assert_int_eq(ps_pool_init(&cfg), 0);
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

typedef struct totals_s {
    uint64_t in_use, cached, central, returned, allocs, direct_frees;
} totals_t;

static totals_t sum_stats(ps_pool_totals_t *tot)
{
    ps_pool_class_stats_t st[PS_POOL_NCLASS];
    size_t n = ps_pool_stats(st, PS_POOL_NCLASS, tot);
    ck_assert_uint_eq(n, PS_POOL_NCLASS - 1);
    totals_t t = {0};
    for (size_t i = 0; i < n; i++) {
        t.in_use += st[i].bytes_in_use;
        t.cached += st[i].bytes_cached;
        t.central += st[i].bytes_central;
        t.returned += st[i].bytes_returned;
        t.allocs += st[i].allocs;
        t.direct_frees += st[i].direct_frees;
    }
    return t;
}

static ps_pool_class_stats_t class_stats(unsigned cls)
{
    ps_pool_class_stats_t st[PS_POOL_NCLASS];
    ps_pool_stats(st, PS_POOL_NCLASS, NULL);
    return st[cls - 1];
}

/* ---- size classes -------------------------------------------------------------------------------
 */

/* The class the allocator's table should give request n, from the rule written out again: the
 * smallest class that fits, except that above 2 KiB a request wasting 1/8 of its block or more
 * is not pooled (0). */
static unsigned table_class(size_t n)
{
    unsigned c = ps_sizeclass_of(n);
    size_t size = ps_sizeclass_size[c];
    return size > 2048 && (size - n) * 8 >= size ? 0 : c;
}

START_TEST(test_sizeclass_table)
{
    for (unsigned c = 1; c < PS_POOL_NCLASS; c++) {
        ck_assert_uint_eq(ps_sizeclass_size[c] % 16, 0);
        ck_assert_uint_gt(ps_sizeclass_size[c], ps_sizeclass_size[c - 1]);
        /* slab geometry: capacity fits, tail waste of a slab at most 1/16 */
        size_t slab = ps_sizeclass_units(c) * PS_POOL_UNIT;
        uint32_t cap = ps_sizeclass_capacity(c);
        ck_assert_uint_le((size_t)cap * ps_sizeclass_size[c], slab);
        ck_assert_uint_le(slab - (size_t)cap * ps_sizeclass_size[c], slab / 16);
        ck_assert_uint_ge(cap, 8);
    }
    ck_assert_uint_eq(ps_sizeclass_size[PS_POOL_NCLASS - 1], PS_POOL_LIMIT);
    for (size_t n = 0; n <= PS_POOL_LIMIT; n++) {
        unsigned c = ps_sizeclass_of(n);
        ck_assert_uint_ge(c, 1);
        ck_assert_uint_lt(c, PS_POOL_NCLASS);
        ck_assert_uint_ge(ps_sizeclass_size[c], n);        /* fits */
        ck_assert(c == 1 || ps_sizeclass_size[c - 1] < n); /* smallest that fits */
        size_t waste = ps_sizeclass_size[c] - n;
        /* bound: under 16 bytes up to 128, under a quarter of the request above (malloc(0)
         * gets the 16-byte class) */
        ck_assert_msg(n == 0 || waste < 16 || waste * 4 < n, "n=%zu waste=%zu", n, waste);
    }
    /* the allocator's byte table agrees with the arithmetic rule (full range configured), and
     * every request above the table gets the class of the rule */
    pool_setup(PS_POOL_LIMIT, 0, 0, NULL);
    ck_assert_uint_eq(ps_pool_max_size(), PS_POOL_LIMIT);
    for (size_t n = 0; n <= PS_POOL_TABLE_MAX; n++)
        ck_assert_uint_eq(ps_pool_size_class[(n + 15) >> 4], table_class(n));
    /* a loose request goes to the C library: sqlite3's page-cache block (4096 + 8) would waste
     * 25% of class 5120; a request wasting less than 1/8 still gets its class */
    ck_assert_ptr_null(ps_pool_malloc(4104));
    ck_assert_ptr_null(ps_pool_malloc(2049));
    void *tight = ps_pool_malloc(4600);
    ck_assert_ptr_nonnull(tight);
    ck_assert_uint_eq(ps_pool_usable_size(tight), 5120);
    ps_pool_free(tight);
    for (size_t n = 1; n <= PS_POOL_TABLE_MAX; n++) {
        unsigned c = ps_pool_size_class[(n + 15) >> 4];
        if (c && n > PS_POOL_LOOSE_MIN)
            ck_assert_msg((ps_sizeclass_size[c] - n) * 8 < ps_sizeclass_size[c], "n=%zu", n);
    }
    for (size_t n = PS_POOL_TABLE_MAX + 1; n <= PS_POOL_LIMIT; n += 1 + n % 4093) {
        void *p = ps_pool_malloc(n);
        ck_assert_ptr_nonnull(p);
        ck_assert_uint_eq(ps_pool_class_of_block(p), ps_sizeclass_of(n));
        ps_pool_free(p);
    }
    /* the division-free block index is exact for every offset of every slab */
    for (unsigned c = 1; c < PS_POOL_NCLASS; c++) {
        uint64_t r = ps_sizeclass_recip(c);
        uint64_t span = ps_sizeclass_units(c) * PS_POOL_UNIT;
        for (uint64_t off = 0; off < span; off++)
            if ((off * r) >> PS_POOL_RECIP_SHIFT != off / ps_sizeclass_size[c])
                ck_abort_msg("class %u offset %llu", c, (unsigned long long)off);
    }
    /* a configured limit rounds up to a class; above it the table says "not pooled" */
    static const size_t limits[] = {16, 100, 1000, 5000, 32768};
    for (size_t l = 0; l < sizeof limits / sizeof limits[0]; l++) {
        pool_setup(limits[l], 0, 0, NULL);
        unsigned top = ps_sizeclass_of(limits[l]);
        for (size_t n = 0; n <= PS_POOL_TABLE_MAX; n++) {
            unsigned want = ps_sizeclass_of(n) <= top ? table_class(n) : 0;
            if (ps_pool_size_class[(n + 15) >> 4] != want)
                ck_abort_msg("limit %zu: n %zu has class %u, want %u", limits[l], n,
                             ps_pool_size_class[(n + 15) >> 4], want);
        }
    }
    pool_setup(1000, 0, 0, NULL);
    ck_assert_uint_eq(ps_pool_max_size(), 1024);
    ck_assert_uint_eq(ps_pool_size_class[1024 >> 4], ps_sizeclass_of(1024));
    ck_assert_uint_eq(ps_pool_size_class[(1025 + 15) >> 4], 0);
    ck_assert_ptr_null(ps_pool_malloc(40000)); /* a medium request above this limit */
    pool_setup(50000, 0, 0, NULL);             /* a limit between medium classes */
    ck_assert_uint_eq(ps_pool_max_size(), 57344);
    void *m = ps_pool_malloc(57344);
    ck_assert_ptr_nonnull(m);
    ps_pool_free(m);
    ck_assert_ptr_null(ps_pool_malloc(57345));
}
END_TEST

/* ---- basic operations
 * ---------------------------------------------------------------------------- */

static int cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return x < y ? -1 : x > y;
}

START_TEST(test_malloc_free)
{
    pool_setup(0, 0, 0, NULL); /* defaults: every class */
    ck_assert_uint_eq(ps_pool_max_size(), PS_POOL_DEFAULT_MAX);
    ck_assert_uint_eq(PS_POOL_DEFAULT_MAX, PS_POOL_LIMIT);
    pool_setup(1024, 0, 0, NULL);
    for (size_t n = 0; n <= 1024; n++) {
        unsigned char *p = ps_pool_malloc(n);
        ck_assert_ptr_nonnull(p);
        ck_assert(ps_pool_owns(p));
        ck_assert_uint_eq((uintptr_t)p % 16, 0);
        size_t u = ps_pool_usable_size(p);
        ck_assert_uint_eq(u, ps_sizeclass_size[ps_sizeclass_of(n)]);
        memset(p, 0xab, u); /* every usable byte is writable */
        ck_assert_uint_eq(ps_pool_class_of_block(p), ps_sizeclass_of(n));
        ps_pool_free(p);
    }
    ck_assert_ptr_null(ps_pool_malloc(1025));
    ck_assert_ptr_null(ps_pool_malloc(PS_POOL_LIMIT + 1));
    ck_assert_ptr_null(ps_pool_malloc((size_t)-1));

    /* many live blocks of mixed sizes never overlap */
    enum { N = 20000 };
    static uintptr_t ptrs[N];
    static size_t sizes[N];
    uint64_t seed = 42;
    for (int i = 0; i < N; i++) {
        size_t n = rng_next(&seed) % 1025;
        void *p = ps_pool_malloc(n);
        ck_assert_ptr_nonnull(p);
        ptrs[i] = (uintptr_t)p;
    }
    qsort(ptrs, N, sizeof ptrs[0], cmp_ptr);
    for (int i = 0; i < N; i++)
        sizes[i] = ps_pool_usable_size((void *)ptrs[i]);
    for (int i = 0; i + 1 < N; i++)
        ck_assert_uint_le(ptrs[i] + sizes[i], ptrs[i + 1]);
    totals_t t = sum_stats(NULL);
    uint64_t want = 0;
    for (int i = 0; i < N; i++)
        want += sizes[i];
    ck_assert_uint_eq(t.in_use, want);
    for (int i = 0; i < N; i++)
        ps_pool_free((void *)ptrs[i]);
    ps_pool_flush();
    t = sum_stats(NULL);
    ck_assert_uint_eq(t.in_use, 0);
    ck_assert_uint_eq(t.cached, 0);
}
END_TEST

START_TEST(test_realloc_in_place)
{
    pool_setup(0, 0, 0, NULL);
    void *p = ps_pool_malloc(100); /* class 112 */
    ck_assert_uint_eq(ps_pool_usable_size(p), 112);
    ck_assert_ptr_eq(ps_pool_realloc_in_place(p, 112), p);
    ck_assert_ptr_eq(ps_pool_realloc_in_place(p, 101), p);
    ck_assert_ptr_eq(ps_pool_realloc_in_place(p, 56), p);
    ck_assert_ptr_null(ps_pool_realloc_in_place(p, 55));  /* would waste more than half */
    ck_assert_ptr_null(ps_pool_realloc_in_place(p, 113)); /* does not fit */
    ck_assert_ptr_null(ps_pool_realloc_in_place(p, 5000));
    ps_pool_free(p);
}
END_TEST

START_TEST(test_memalign)
{
    pool_setup(PS_POOL_LIMIT, 0, 0, NULL);
    static const size_t sizes[] = {0,     1,     15,    16,    17,     100,    500,
                                   1000,  2048,  3000,  4096,  5000,   10000,  20000,
                                   32768, 40000, 65536, 70000, 131072, 200000, 262144};
    for (size_t align = 1; align <= 524288; align *= 2) {
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            size_t n = sizes[i];
            /* expected: pooled iff some class >= n has sizes that are multiples of align */
            int expect = 0;
            for (unsigned c = ps_sizeclass_of(n); c < PS_POOL_NCLASS; c++)
                if (align <= 16 || ps_sizeclass_size[c] % align == 0)
                    expect = 1;
            void *p = ps_pool_memalign(align, n);
            ck_assert_msg((p != NULL) == expect, "align %zu n %zu", align, n);
            if (!p)
                continue;
            ck_assert(ps_pool_owns(p));
            ck_assert_uint_eq((uintptr_t)p % align, 0);
            ck_assert_uint_eq((uintptr_t)p % 16, 0);
            ck_assert_uint_ge(ps_pool_usable_size(p), n);
            memset(p, 1, ps_pool_usable_size(p));
            ps_pool_free(p);
        }
    }
    ck_assert_ptr_null(ps_pool_memalign(48, 10)); /* not a power of two */
    /* many aligned blocks at once: all aligned, in several slabs */
    void *keep[300];
    for (int i = 0; i < 300; i++) {
        keep[i] = ps_pool_memalign(4096, 100);
        ck_assert_uint_eq((uintptr_t)keep[i] % 4096, 0);
    }
    for (int i = 0; i < 300; i++)
        ps_pool_free(keep[i]);
    /* with a 1 KiB limit, a class that would satisfy 2 KiB alignment is not pooled */
    pool_setup(1024, 0, 0, NULL);
    ck_assert_ptr_null(ps_pool_memalign(2048, 10));
    void *q = ps_pool_memalign(512, 10);
    ck_assert_ptr_nonnull(q);
    ck_assert_uint_eq((uintptr_t)q % 512, 0);
    ps_pool_free(q);
}
END_TEST

static int some_static;

START_TEST(test_ownership)
{
    pool_setup(0, 0, 0, NULL);
    int on_stack = 0;
    void *glibc_small = malloc(32), *glibc_big = malloc(1 << 20);
    ck_assert(!ps_pool_owns(glibc_small));
    ck_assert(!ps_pool_owns(glibc_big));
    ck_assert(!ps_pool_owns(&on_stack));
    ck_assert(!ps_pool_owns(&some_static));
    ck_assert(!ps_pool_owns(NULL));
    ck_assert(!ps_pool_owns((void *)(uintptr_t)-1));
    ck_assert(!ps_pool_owns((void *)test_ownership));
    free(glibc_small);
    free(glibc_big);
    char *p = ps_pool_malloc(64);
    ck_assert(ps_pool_owns(p));
    ck_assert(ps_pool_owns(p + 63));
    ck_assert(!ps_pool_owns(ps_pool_meta(p))); /* metadata lives outside the block range */
    ps_pool_free(p);
    ps_pool_shutdown();
    ck_assert(!ps_pool_owns(p));
    ck_assert_ptr_null(ps_pool_malloc(64)); /* no pool: the caller forwards */
    ck_assert_ptr_null(ps_pool_memalign(64, 64));
    ck_assert_uint_eq(ps_pool_max_size(), 0);
}
END_TEST

/* ---- metadata
 * ------------------------------------------------------------------------------------ */

/* Blocks per class in test_meta: 300 (several slabs), 20 of a medium class (2 MiB slabs of 8
 * to 51 blocks: up to three slabs, without writing hundreds of MiB). */
static int per_class(unsigned c)
{
    return ps_sizeclass_size[c] > PS_POOL_BIG_MAX ? 20 : 300;
}

START_TEST(test_meta)
{
    pool_setup(PS_POOL_LIMIT, 0, 0, NULL);
    enum { PER = 300 };
    static void *blocks[PS_POOL_NCLASS][PER];
    static uintptr_t metas[PS_POOL_NCLASS * PER];
    size_t nm = 0;
    /* 12 bytes since ages (issue 12): a unit's 4096 entries of 16-byte blocks fit its 64 KiB */
    ck_assert_uint_le(sizeof(ps_pool_block_meta_t), 12);
    ck_assert_uint_le(4096 * sizeof(ps_pool_block_meta_t), PS_POOL_UNIT);
    for (unsigned c = 1; c < PS_POOL_NCLASS; c++) {
        for (int i = 0; i < per_class(c); i++) {
            void *p = ps_pool_malloc(ps_sizeclass_size[c]);
            ck_assert_ptr_nonnull(p);
            blocks[c][i] = p;
            ps_pool_block_meta_t *m = ps_pool_meta(p);
            ck_assert_ptr_nonnull(m);
            ck_assert_uint_eq((uintptr_t)m % _Alignof(ps_pool_block_meta_t), 0);
            ck_assert(!ps_pool_owns(m));
            /* an interior pointer maps to the same metadata */
            ck_assert_ptr_eq(ps_pool_meta((char *)p + ps_sizeclass_size[c] - 1), m);
            m->stack_id = c * 1000 + (uint32_t)i;
            m->size = ps_sizeclass_size[c] - (uint32_t)i % 16;
            memset(p, 0xee, ps_sizeclass_size[c]); /* writing the block leaves metadata alone */
            metas[nm++] = (uintptr_t)m;
        }
    }
    /* distinct, non-overlapping entries */
    qsort(metas, nm, sizeof metas[0], cmp_ptr);
    for (size_t i = 0; i + 1 < nm; i++)
        ck_assert_uint_le(metas[i] + sizeof(ps_pool_block_meta_t), metas[i + 1]);
    for (unsigned c = 1; c < PS_POOL_NCLASS; c++) {
        for (int i = 0; i < per_class(c); i++) {
            ps_pool_block_meta_t *m = ps_pool_meta(blocks[c][i]);
            ck_assert_uint_eq(m->stack_id, c * 1000 + (uint32_t)i);
            ck_assert_uint_eq(m->size, ps_sizeclass_size[c] - (uint32_t)i % 16);
            ps_pool_free(blocks[c][i]);
        }
    }
    ps_pool_totals_t tot;
    sum_stats(&tot);
    ck_assert_uint_gt(tot.meta_committed, 0);
}
END_TEST

/* ---- multi-threaded stress
 * ----------------------------------------------------------------------- */

typedef struct blk_s {
    unsigned char *p;
    size_t n;    /* bytes the program asked for */
    size_t span; /* bytes filled with the tag (usable size for pooled blocks) */
    int pooled;
    unsigned char tag;
} blk_t;

#define EXCH 64
static _Atomic(blk_t *) exch[EXCH]; /* blocks passed between threads */
static atomic_ulong stress_glibc;   /* requests the pool declined (forwarded) */

static void blk_fill(blk_t *b)
{
    memset(b->p, b->tag, b->span);
}

static void blk_check(const blk_t *b, size_t upto)
{
    for (size_t i = 0; i < upto; i++)
        if (b->p[i] != b->tag)
            ck_abort_msg("block %p (n %zu) byte %zu is %#x, expected %#x", (void *)b->p, b->n, i,
                         b->p[i], b->tag);
}

static void blk_alloc(blk_t *b, size_t n, size_t align, unsigned char tag)
{
    void *p = align ? ps_pool_memalign(align, n) : ps_pool_malloc(n);
    b->pooled = p != NULL;
    if (!p) {
        atomic_fetch_add(&stress_glibc, 1);
        if (align) {
            ck_assert_int_eq(posix_memalign(&p, align, n ? n : 1), 0);
        } else {
            p = malloc(n ? n : 1);
        }
        ck_assert_ptr_nonnull(p);
        b->span = n;
    } else {
        ck_assert(ps_pool_owns(p));
        b->span = ps_pool_usable_size(p);
        ck_assert_uint_ge(b->span, n);
    }
    ck_assert_uint_eq((uintptr_t)p % 16, 0);
    if (align)
        ck_assert_uint_eq((uintptr_t)p % align, 0);
    b->p = p;
    b->n = n;
    b->tag = tag;
    blk_fill(b);
}

static void blk_free(blk_t *b)
{
    blk_check(b, b->span);
    if (b->pooled) {
        ck_assert(ps_pool_owns(b->p));
        ps_pool_free(b->p);
    } else {
        ck_assert(!ps_pool_owns(b->p));
        free(b->p);
    }
    b->p = NULL;
}

/* realloc as interpose.c would do it on top of the pool */
static void blk_realloc(blk_t *b, size_t n, unsigned char tag)
{
    if (b->pooled && ps_pool_realloc_in_place(b->p, n) == b->p) {
        blk_check(b, b->span);
        b->n = n;
        b->tag = tag;
        blk_fill(b);
        return;
    }
    blk_t nb;
    blk_alloc(&nb, n, 0, tag);
    size_t keep = b->n < n ? b->n : n;
    memcpy(nb.p, b->p, keep);
    blk_check(b, keep);
    blk_free(b);
    blk_fill(&nb);
    *b = nb;
}

static size_t stress_size(uint64_t *s)
{
    uint64_t r = rng_next(s);
    switch (r % 20) {
    case 0:
        if ((r >> 40) % 8 == 0) /* now and then a medium block, up to above the largest class */
            return 32769 + (r >> 8) % 240000;
        return 2049 + (r >> 8) % 7000; /* up to ~9 KiB: above the 8 KiB limit is forwarded */
    case 1:
    case 2:
    case 3:
    case 4:
        return 257 + (r >> 8) % 1792;
    default:
        return (r >> 8) % 257;
    }
}

enum { STRESS_SLOTS = 512, STRESS_OPS = 60000 };

static void *stress_thread(void *arg)
{
    uint64_t seed = 0x9e3779b97f4a7c15ull * (uintptr_t)arg + 1;
    static __thread blk_t *slots[STRESS_SLOTS];
    for (int op = 0; op < STRESS_OPS; op++) {
        uint64_t r = rng_next(&seed);
        unsigned i = (unsigned)(r % STRESS_SLOTS);
        unsigned what = (unsigned)((r >> 16) % 100);
        unsigned char tag = (unsigned char)(r >> 40);
        blk_t *b = slots[i];
        if (!b) {
            b = malloc(sizeof *b);
            size_t align = what < 10 ? (size_t)16 << ((r >> 24) % 9) : 0; /* 16 .. 4096 */
            blk_alloc(b, align ? (r >> 32) % 2049 : stress_size(&seed), align, tag);
            slots[i] = b;
        } else if (what < 15) {
            blk_realloc(b, stress_size(&seed), tag);
        } else if (what < 30) {
            /* hand it to another thread; free whatever we get back (cross-thread free) */
            blk_t *got = atomic_exchange(&exch[(r >> 48) % EXCH], b);
            slots[i] = NULL;
            if (got) {
                blk_free(got);
                free(got);
            }
        } else {
            blk_free(b);
            free(b);
            slots[i] = NULL;
        }
    }
    for (unsigned i = 0; i < STRESS_SLOTS; i++) {
        if (slots[i]) {
            blk_free(slots[i]);
            free(slots[i]);
            slots[i] = NULL;
        }
    }
    return NULL;
}

START_TEST(test_stress_threads)
{
    /* _i = 0: an 8 KiB limit (larger requests forwarded); 1: every class, medium ones too */
    pool_setup(_i == 0 ? 8192 : 0, 0, 0, NULL);
    enum { T = 4 };
    pthread_t th[T];
    for (uintptr_t i = 0; i < T; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, stress_thread, (void *)(i + 1)), 0);
    for (int i = 0; i < T; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < EXCH; i++) {
        blk_t *b = atomic_exchange(&exch[i], NULL);
        if (b) {
            blk_free(b);
            free(b);
        }
    }
    ck_assert_uint_gt(atomic_load(&stress_glibc), 0); /* the forwarding path was exercised */
    ps_pool_flush();
    ps_pool_totals_t tot;
    totals_t t = sum_stats(&tot);
    /* everything was freed, every exited thread's cache went back */
    ck_assert_uint_eq(t.in_use, 0);
    ck_assert_uint_eq(t.cached, 0);
    ck_assert_uint_gt(t.allocs, (uint64_t)T * STRESS_OPS / 4);
    ck_assert_uint_eq(tot.threads, 1); /* only this thread's cache is alive */
}
END_TEST

/* ---- producer / consumer ------------------------------------------------------------------------
 */

enum { RING = 1024, PC_BLOCKS = 400000 };
static void *_Atomic ring[RING];
static atomic_ulong ring_head, ring_tail;

static void *producer(void *arg)
{
    (void)arg;
    uint64_t seed = 7;
    for (unsigned long i = 0; i < PC_BLOCKS; i++) {
        size_t n = (rng_next(&seed) & 1) ? 64 : 16 + (rng_next(&seed) % 500);
        void *p = ps_pool_malloc(n);
        ck_assert_ptr_nonnull(p);
        memset(p, 0x5a, n);
        while (atomic_load(&ring_head) - atomic_load(&ring_tail) == RING)
            sched_yield();
        atomic_store(&ring[atomic_load(&ring_head) % RING], p);
        atomic_fetch_add(&ring_head, 1);
    }
    return NULL;
}

static void *consumer(void *arg)
{
    (void)arg;
    for (unsigned long i = 0; i < PC_BLOCKS; i++) {
        while (atomic_load(&ring_tail) == atomic_load(&ring_head))
            sched_yield();
        void *p = atomic_load(&ring[atomic_load(&ring_tail) % RING]);
        atomic_fetch_add(&ring_tail, 1);
        ps_pool_free(p); /* always a block another thread allocated */
    }
    return NULL;
}

START_TEST(test_producer_consumer_bounded)
{
    pool_setup(0, 0, PS_POOL_DECAY_NEVER, NULL);
    pthread_t p, c;
    ck_assert_int_eq(pthread_create(&p, NULL, producer, NULL), 0);
    ck_assert_int_eq(pthread_create(&c, NULL, consumer, NULL), 0);
    pthread_join(p, NULL);
    pthread_join(c, NULL);
    ps_pool_totals_t tot;
    totals_t t = sum_stats(&tot);
    ck_assert_uint_eq(t.in_use, 0);
    /* 400 k blocks (~100 MB) went through; at most RING (~0.5 MB) were in flight. Caches,
     * transfer stacks and slab fragmentation are bounded: one 4 MiB commit segment, maybe
     * two. Without bounds this would be hundreds of MB. */
    ck_assert_msg(tot.committed <= ((uint64_t)8 << 20), "committed %llu",
                  (unsigned long long)tot.committed);
    ps_pool_class_stats_t s64 = class_stats(ps_sizeclass_of(64));
    ck_assert_uint_gt(s64.flushes, 0); /* the consumer's frees went back through the central pool */
    ck_assert_uint_gt(s64.refills, 0);
}
END_TEST

/* ---- thread exit
 * --------------------------------------------------------------------------------- */

static pthread_key_t late_key;
static void *late_block; /* freed by a destructor that runs after the pool's */
static void *late_alloc;

static void late_destructor(void *arg)
{
    (void)arg;
    ps_pool_free(late_block);        /* the thread's cache is gone: direct free */
    late_alloc = ps_pool_malloc(48); /* and allocating still works */
}

static ps_pool_class_stats_t exit_in_thread;
enum { EXIT_BLOCKS = 40 }; /* fit in a bin that grew with the allocations (64 blocks) */

static void *exit_thread(void *arg)
{
    (void)arg;
    void *p[EXIT_BLOCKS];
    for (int i = 0; i < EXIT_BLOCKS; i++)
        p[i] = ps_pool_malloc(64);
    for (int i = 0; i < EXIT_BLOCKS; i++)
        ps_pool_free(p[i]);
    late_block = ps_pool_malloc(200);
    pthread_setspecific(late_key, (void *)1);
    exit_in_thread = class_stats(ps_sizeclass_of(64));
    return NULL;
}

START_TEST(test_thread_exit_returns_cache)
{
    pool_setup(0, 0, 0, NULL);
    ck_assert_int_eq(pthread_key_create(&late_key, late_destructor), 0); /* after the pool's */
    void *mine = ps_pool_malloc(64); /* this thread has a cache too */
    ps_pool_totals_t tot;
    totals_t before = sum_stats(&tot);
    ck_assert_uint_eq(tot.threads, 1);
    unsigned c64 = ps_sizeclass_of(64);
    ps_pool_class_stats_t s_before = class_stats(c64);

    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, exit_thread, NULL), 0);
    pthread_join(th, NULL);
    /* while alive, the thread's cache held its freed blocks */
    ck_assert_uint_ge(exit_in_thread.bytes_cached, s_before.bytes_cached + EXIT_BLOCKS * 64);
    totals_t after = sum_stats(&tot);
    ps_pool_class_stats_t s_after = class_stats(c64);
    ck_assert_uint_eq(tot.threads, 1);                              /* its cache is retired */
    ck_assert_uint_eq(s_after.bytes_cached, s_before.bytes_cached); /* nothing cached in it */
    ck_assert_uint_ge(s_after.bytes_central, s_before.bytes_central + EXIT_BLOCKS * 64);
    ck_assert_uint_eq(after.direct_frees, before.direct_frees + 1); /* the late free */
    ck_assert_ptr_nonnull(late_alloc);
    ck_assert(ps_pool_owns(late_alloc));
    ck_assert_uint_eq(after.in_use, before.in_use + ps_pool_usable_size(late_alloc));
    ps_pool_free(late_alloc);

    /* a new thread reuses the retired cache and the returned blocks: no new memory */
    uint64_t committed = tot.committed;
    ck_assert_int_eq(pthread_create(&th, NULL, exit_thread, NULL), 0);
    pthread_join(th, NULL);
    sum_stats(&tot);
    ck_assert_uint_eq(tot.committed, committed);
    ps_pool_free(late_alloc);
    ps_pool_free(mine);
    pthread_key_delete(late_key);
}
END_TEST

/* ---- fork
 * ---------------------------------------------------------------------------------------- */

enum { HELD = 2000 };
static void *held[HELD]; /* live blocks of a thread that does not exist in the child */
static atomic_int churn_stop, holder_ready, holder_release;

static void *holder_thread(void *arg)
{
    (void)arg;
    uint64_t seed = 99;
    for (int i = 0; i < HELD; i++) {
        held[i] = ps_pool_malloc(rng_next(&seed) % 1025);
        ck_assert_ptr_nonnull(held[i]);
    }
    void *cached[50]; /* and some blocks sitting in its cache */
    for (int i = 0; i < 50; i++)
        cached[i] = ps_pool_malloc(32);
    for (int i = 0; i < 50; i++)
        ps_pool_free(cached[i]);
    atomic_store(&holder_ready, 1);
    while (!atomic_load(&holder_release))
        usleep(1000);
    return NULL;
}

static void *churn_thread(void *arg)
{
    (void)arg;
    uint64_t seed = 5;
    void *keep[64] = {0};
    while (!atomic_load(&churn_stop)) {
        unsigned i = (unsigned)(rng_next(&seed) % 64);
        if (keep[i])
            ps_pool_free(keep[i]);
        keep[i] = ps_pool_malloc(rng_next(&seed) % 1025);
    }
    for (int i = 0; i < 64; i++)
        if (keep[i])
            ps_pool_free(keep[i]);
    return NULL;
}

/* In the child: free the other thread's blocks, then allocate and free a lot. 0 if fine. */
static int child_work(void)
{
    alarm(20); /* a deadlock kills the child, and the test fails on its status */
    for (int i = 0; i < HELD; i++)
        ps_pool_free(held[i]);
    ps_pool_totals_t tot;
    ps_pool_class_stats_t st[PS_POOL_NCLASS];
    enum { K = 4000 };
    static void *mine[K];
    uint64_t seed = 3;
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < K; i++) {
            size_t n = rng_next(&seed) % 1025;
            mine[i] = ps_pool_malloc(n);
            if (!mine[i])
                return 1;
            memset(mine[i], i, n);
        }
        for (int i = 0; i < K; i++)
            ps_pool_free(mine[i]);
    }
    ps_pool_flush();
    ps_pool_stats(st, PS_POOL_NCLASS, &tot);
    if (tot.threads != 1) /* the parent's other threads' caches were retired */
        return 2;
    uint64_t in_use = 0;
    for (int c = 0; c < PS_POOL_NCLASS - 1; c++) {
        if (st[c].bytes_cached != 0)
            return 3; /* no cache but ours, and ours was flushed */
        in_use += st[c].bytes_in_use;
    }
    /* still live: the forking thread's block and the churn thread's (at most 64 of 1 KiB) */
    if (in_use > 112 + 64 * 1024)
        return 4;
    return 0;
}

START_TEST(test_fork_while_allocating)
{
    pool_setup(0, 0, 0, NULL);
    static int registered;
    if (!registered) { /* nested registration with init.c's handlers is harmless */
        pthread_atfork(ps_pool_fork_prepare, ps_pool_fork_parent, ps_pool_fork_child);
        registered = 1;
    }
    pthread_t holder, churn;
    ck_assert_int_eq(pthread_create(&holder, NULL, holder_thread, NULL), 0);
    while (!atomic_load(&holder_ready))
        usleep(1000);
    ck_assert_int_eq(pthread_create(&churn, NULL, churn_thread, NULL), 0);
    for (int k = 0; k < 12; k++) {
        void *p = ps_pool_malloc(100); /* the forking thread has a cache of its own */
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0)
            _exit(child_work());
        int status = 0;
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %#x", status);
        ps_pool_free(p);
        usleep(1000);
    }
    atomic_store(&churn_stop, 1);
    pthread_join(churn, NULL);
    atomic_store(&holder_release, 1);
    pthread_join(holder, NULL);
    for (int i = 0; i < HELD; i++) /* the parent still owns them */
        ps_pool_free(held[i]);
}
END_TEST

/* ---- decay
 * ---------------------------------------------------------------------------------------- */

static uint64_t fake_now = 1000000;
static uint64_t fake_clock(void)
{
    return fake_now;
}

START_TEST(test_decay_returns_memory)
{
    const uint64_t age = 1000000000; /* 1 s of fake time */
    pool_setup(0, 0, age, fake_clock);
    enum { N = 8192 };
    static void *p[N];
    for (int i = 0; i < N; i++) { /* 2 MiB of 256-byte blocks: 32 slabs */
        p[i] = ps_pool_malloc(256);
        memset(p[i], 1, 256);
    }
    unsigned char *first = p[0];
    for (int i = 0; i < N; i++)
        ps_pool_free(p[i]);
    ps_pool_flush();
    ps_pool_totals_t tot;
    totals_t t = sum_stats(&tot);
    ck_assert_uint_eq(t.in_use, 0);
    ck_assert_uint_eq(t.returned, 0);
    ck_assert_uint_gt(tot.empty_bytes, 0); /* the slabs past the transfer stack are empty */

    ps_pool_decay(fake_now + age / 2); /* not old enough: nothing goes */
    sum_stats(&tot);
    ck_assert_uint_eq(tot.returned, 0);

    fake_now += age + 1;
    ps_pool_decay(fake_now); /* empty slabs go; the transfer stack was touched: it stays */
    t = sum_stats(&tot);
    ck_assert_uint_gt(tot.returned, 0);
    ck_assert_uint_eq(t.returned, tot.returned);
    ck_assert_uint_eq(tot.empty_bytes, 0);
    ck_assert_uint_gt(t.central, 0);

    fake_now += age + 1;
    ps_pool_decay(fake_now); /* now the idle transfer stack drains, and those slabs go too */
    fake_now += age + 1;
    ps_pool_decay(fake_now);
    t = sum_stats(&tot);
    ck_assert_uint_eq(t.central, 0);
    ck_assert_uint_eq(tot.slab_bytes, 0);
    ck_assert_uint_eq(tot.returned, tot.released_bytes);
    ck_assert_uint_ge(tot.returned, (uint64_t)N * 256);
    /* the pages really left: not resident any more */
    unsigned char vec[16];
    uintptr_t page = (uintptr_t)first & ~(uintptr_t)(ps_os_page_size() - 1);
    ck_assert_int_eq(ps_os_resident((void *)page, ps_os_page_size(), vec), 0);
    ck_assert_uint_eq(vec[0] & 1, 0);
    /* and the pool still works on them (they read as zero until written) */
    void *q = ps_pool_malloc(256);
    ck_assert_ptr_nonnull(q);
    memset(q, 2, 256);
    ps_pool_free(q);
}
END_TEST

START_TEST(test_decay_never)
{
    pool_setup(0, 0, PS_POOL_DECAY_NEVER, fake_clock);
    void *p[4096];
    for (int i = 0; i < 4096; i++)
        p[i] = ps_pool_malloc(512);
    for (int i = 0; i < 4096; i++)
        ps_pool_free(p[i]);
    ps_pool_flush();
    ps_pool_decay(fake_now + ((uint64_t)1 << 62));
    ps_pool_totals_t tot;
    sum_stats(&tot);
    ck_assert_uint_eq(tot.returned, 0);
    ck_assert_uint_gt(tot.empty_bytes, 0);
}
END_TEST

/* ---- thread bins start small and grow with allocations -------------------------------------- */

enum { BIN_BLOCKS = 200 };
static void *bin_blocks[BIN_BLOCKS];
static uint64_t bin_cached; /* bytes of class 64 cached, seen by the thread before it exits */

static void *free_only_thread(void *arg)
{
    (void)arg;
    for (int i = 0; i < BIN_BLOCKS; i++)
        ps_pool_free(bin_blocks[i]); /* blocks another thread allocated */
    bin_cached = class_stats(ps_sizeclass_of(64)).bytes_cached;
    return NULL;
}

START_TEST(test_bin_limits)
{
    pool_setup(0, 0, 0, NULL);
    unsigned c64 = ps_sizeclass_of(64);
    for (int i = 0; i < BIN_BLOCKS; i++)
        bin_blocks[i] = ps_pool_malloc(64);
    uint64_t main_cached = class_stats(c64).bytes_cached; /* this thread's leftovers */
    /* a thread that only frees keeps its bin at the starting limit (8 blocks, docs/pool.md) */
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, free_only_thread, NULL), 0);
    pthread_join(th, NULL);
    ck_assert_uint_le(bin_cached, main_cached + 8 * 64);
    ck_assert_uint_gt(bin_cached, main_cached);
    /* a thread that allocates grows its bin to the class's capacity (64 blocks of 64 bytes) and
     * no further: 200 blocks freed leave at most 64 cached */
    ps_pool_flush();
    for (int i = 0; i < BIN_BLOCKS; i++)
        bin_blocks[i] = ps_pool_malloc(64);
    for (int i = 0; i < BIN_BLOCKS; i++)
        ps_pool_free(bin_blocks[i]);
    uint64_t cached = class_stats(c64).bytes_cached;
    ck_assert_uint_le(cached, 64 * 64);
    ck_assert_uint_gt(cached, 8 * 64); /* it did grow past the starting limit */
}
END_TEST

/* ---- medium classes (above 32 KiB, 2 MiB slabs) ------------------------------------------------
 */

START_TEST(test_medium)
{
    pool_setup(0, 0, 1000, fake_clock); /* default limit: every class */
    unsigned top = ps_sizeclass_of(PS_POOL_LIMIT);
    ck_assert_uint_eq(ps_sizeclass_units(top) * PS_POOL_UNIT, (size_t)2 << 20);
    ck_assert_uint_eq(ps_sizeclass_capacity(top), 8);
    enum { N = 20 };
    void *p[N];
    uintptr_t slabs[N];
    size_t nslabs = 0;
    for (int i = 0; i < N; i++) {
        p[i] = ps_pool_malloc(PS_POOL_LIMIT - (size_t)i * 100);
        ck_assert_ptr_nonnull(p[i]);
        ck_assert_uint_eq(ps_pool_usable_size(p[i]), PS_POOL_LIMIT);
        ck_assert_uint_eq((uintptr_t)p[i] % PS_POOL_LIMIT, 0); /* no header: class-aligned */
        memset(p[i], i, PS_POOL_LIMIT);
        uintptr_t slab = (uintptr_t)p[i] >> 21;
        size_t k = 0;
        while (k < nslabs && slabs[k] != slab)
            k++;
        if (k == nslabs)
            slabs[nslabs++] = slab;
    }
    ck_assert_uint_eq(nslabs, 3); /* 20 blocks of 256 KiB: three 2 MiB slabs */
    ck_assert_uint_eq(class_stats(top).slabs, 3);
    for (int i = 0; i < N; i++) {
        unsigned char *q = p[i];
        ck_assert_uint_eq(q[0], (unsigned char)i);
        ck_assert_uint_eq(q[PS_POOL_LIMIT - 1], (unsigned char)i);
    }
    /* the thread keeps at most one free 256 KiB block, the class's transfer stack two */
    for (int i = 0; i < N; i++)
        ps_pool_free(p[i]);
    ps_pool_class_stats_t st = class_stats(top);
    ck_assert_uint_le(st.bytes_cached, PS_POOL_LIMIT);
    ck_assert_uint_le(st.bytes_central, (uint64_t)(N - 1) * PS_POOL_LIMIT);
    ck_assert_uint_eq(st.bytes_in_use, 0);
    /* realloc in place within a medium class; memalign served by the class of its alignment */
    void *r = ps_pool_malloc(100000);
    ck_assert_uint_eq(ps_pool_usable_size(r), 114688);
    ck_assert_ptr_eq(ps_pool_realloc_in_place(r, 114688), r);
    ck_assert_ptr_null(ps_pool_realloc_in_place(r, 114689));
    ps_pool_free(r);
    void *a = ps_pool_memalign(65536, 70000);
    ck_assert_ptr_nonnull(a);
    ck_assert_uint_eq((uintptr_t)a % 65536, 0);
    ck_assert_uint_eq(ps_pool_usable_size(a), 131072);
    ps_pool_free(a);
    /* idle 2 MiB slabs go back to the OS whole */
    ps_pool_flush();
    for (int pass = 0; pass < 3; pass++) {
        fake_now += 1001;
        ps_pool_decay(fake_now);
    }
    ps_pool_totals_t tot;
    totals_t t = sum_stats(&tot);
    ck_assert_uint_eq(t.in_use, 0);
    ck_assert_uint_eq(tot.slab_bytes, 0);
    ck_assert_uint_ge(tot.returned, (uint64_t)3 << 21); /* (two were reused for r and a) */
    ck_assert_uint_ge(class_stats(top).bytes_returned, (uint64_t)2 << 20);
    unsigned char vec[1];
    ck_assert_int_eq(ps_os_resident(p[0], ps_os_page_size(), vec), 0);
    ck_assert_uint_eq(vec[0] & 1, 0);
}
END_TEST

/* ---- exhaustion
 * ---------------------------------------------------------------------------------- */

START_TEST(test_exhaustion)
{
    pool_setup(PS_POOL_LIMIT, (size_t)64 << 20, 0, NULL); /* the smallest reservation */
    ps_pool_totals_t tot;
    sum_stats(&tot);
    ck_assert_uint_eq(tot.reserved, (uint64_t)64 << 20);
    enum { MAXN = 4096 };
    static void *p[MAXN];
    int n = 0;
    while (n < MAXN && (p[n] = ps_pool_malloc(32768)) != NULL)
        n++;
    ck_assert_int_lt(n, MAXN); /* 64 MiB holds 2048 blocks of 32 KiB: the pool says no */
    ck_assert_int_ge(n, 2000);
    sum_stats(&tot);
    ck_assert_uint_eq(tot.exhausted, 1);
    ck_assert_ptr_null(ps_pool_malloc(32768));
    for (int i = 0; i < n; i++)
        ps_pool_free(p[i]);
    void *q = ps_pool_malloc(32768); /* freed memory is usable again */
    ck_assert_ptr_nonnull(q);
    ps_pool_free(q);
    q = ps_pool_malloc(16); /* and by other classes once slabs are empty */
    ck_assert_ptr_nonnull(q);
    ps_pool_free(q);
}
END_TEST

/* ---- transfer stacks of one thread
 * ---------------------------------------------------------------------------------------- */

/* 64-byte blocks (class 4: 1024 to a 64 KiB slab; transfer stack 1024 blocks, 128 while one
 * thread has had a cache). 128 blocks of slab A are freed, then all of slab B, then the rest.
 * The transfer stack parks the blocks flushed first and sends the others back to their slabs:
 * with room for 128, slab B empties; with room for 1024, most of it stays parked. Returns the
 * bytes of empty slabs after the flush. */
enum { XB = 64, XN = 4096, XSLAB = 64 << 10 };
static void *xb[XN];

static uint64_t park_pattern(void)
{
    for (int i = 0; i < XN; i++) {
        xb[i] = ps_pool_malloc(XB);
        ck_assert_ptr_nonnull(xb[i]);
        memset(xb[i], 0x5a, XB);
    }
    /* every block once: a block the transfer stack lost or handed out twice shows here */
    static void *sorted[XN];
    memcpy(sorted, xb, sizeof sorted);
    qsort(sorted, XN, sizeof *sorted, cmp_ptr);
    for (int i = 1; i < XN; i++)
        ck_assert_ptr_ne(sorted[i], sorted[i - 1]);
    /* two slabs that hold 1024 of these blocks each */
    uintptr_t slab_a = 0, slab_b = 0;
    for (int i = 0; i + 1024 <= XN && !slab_b; i++) {
        uintptr_t s = (uintptr_t)sorted[i] & ~(uintptr_t)(XSLAB - 1);
        if (((uintptr_t)sorted[i + 1023] & ~(uintptr_t)(XSLAB - 1)) != s ||
            (i && ((uintptr_t)sorted[i - 1] & ~(uintptr_t)(XSLAB - 1)) == s))
            continue;
        if (!slab_a)
            slab_a = s;
        else
            slab_b = s;
    }
    ck_assert(slab_a && slab_b);
    static char freed[XN];
    memset(freed, 0, sizeof freed);
    int n = 0;
    for (int i = 0; i < XN && n < 128; i++)
        if (((uintptr_t)xb[i] & ~(uintptr_t)(XSLAB - 1)) == slab_a) {
            ps_pool_free(xb[i]);
            freed[i] = 1;
            n++;
        }
    for (int i = 0; i < XN; i++)
        if (((uintptr_t)xb[i] & ~(uintptr_t)(XSLAB - 1)) == slab_b) {
            ps_pool_free(xb[i]);
            freed[i] = 1;
        }
    for (int i = 0; i < XN; i++)
        if (!freed[i])
            ps_pool_free(xb[i]);
    ps_pool_flush();
    ps_pool_totals_t tot;
    totals_t t = sum_stats(&tot);
    ck_assert_uint_eq(t.in_use, 0);
    return tot.empty_bytes;
}

static void *touch_pool(void *arg)
{
    (void)arg;
    ps_pool_free(ps_pool_malloc(XB)); /* this thread's cache: the pool is shared now */
    return NULL;
}

START_TEST(test_transfer_stack_one_thread)
{
    pool_setup(0, 0, UINT64_C(1) << 60, fake_clock); /* nothing decays during the test */
    park_pattern(); /* the first round carves the slabs; the later ones find them as they left */
    uint64_t one = park_pattern(); /* and the parked blocks come back, each once */
    ck_assert_uint_eq(park_pattern(), one);
    /* a second thread: the stacks widen, keeping what they hold */
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, touch_pool, NULL), 0);
    pthread_join(th, NULL);
    park_pattern();
    uint64_t wide = park_pattern();
    /* slab B: empty with the stack of one thread, mostly parked on the wide one */
    ck_assert_uint_eq(one, wide + XSLAB);
}
END_TEST

static void add(Suite *s, const char *name, const TTest *test)
{
    TCase *tc = tcase_create(name);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test);
    suite_add_tcase(s, tc);
}

int main(void)
{
    /* one case per test: CK_RUN_CASE=<name> runs just that one */
    Suite *s = suite_create("pool");
    add(s, "sizeclass", test_sizeclass_table);
    add(s, "malloc_free", test_malloc_free);
    add(s, "realloc", test_realloc_in_place);
    add(s, "memalign", test_memalign);
    add(s, "ownership", test_ownership);
    add(s, "meta", test_meta);
    TCase *tc = tcase_create("stress");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_stress_threads, 0, 2);
    suite_add_tcase(s, tc);
    add(s, "prodcons", test_producer_consumer_bounded);
    add(s, "thread_exit", test_thread_exit_returns_cache);
    add(s, "fork", test_fork_while_allocating);
    add(s, "decay", test_decay_returns_memory);
    add(s, "decay_never", test_decay_never);
    add(s, "transfer_one_thread", test_transfer_stack_one_thread);
    add(s, "bin_limits", test_bin_limits);
    add(s, "medium", test_medium);
    add(s, "exhaustion", test_exhaustion);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
