/* SPDX-License-Identifier: MIT */
/*
 * advice.c — the advice counters (issue 13 item 1) and the ADVICE chunk (docs/trace-format.md):
 * per allocation stack, the sizes requested and handed out, temporaries, realloc growth and
 * cross-thread frees, for `perfshim advise` (docs/tuning.md).
 *
 * Sampled, not exact: one tracked allocation in PERFSHIM_ADVICE_SAMPLE (per thread, a random
 * countdown of that mean, so that a loop of N sites cannot alias with it) is an "advice sample".
 * Its stack's row gets its size bins, its realloc growth (the realloc's old size, passed by
 * interpose.c in ps_tls_realloc_from), and the block carries its thread's owner tag: in the
 * live table's entry (ps_live_entry_t.owner), or for a pooled block above the size in its slab
 * metadata (pool.h). At the free of a sampled block: a temporary when it is the freeing
 * thread's last allocation (heaptrack's definition: freed before the same thread's next
 * allocation; with byte sampling, when the thread's sampling countdown did not move since), a
 * cross-thread free when the freeing thread's tag differs. Every count adds the sample's weight
 * (N, times the block's weight with PERFSHIM_SAMPLE), so the rows hold estimates.
 *
 * The rows are shared by every thread, one per stack id, in chunks of ADV_CHUNK rows mapped on
 * first use (a directory by id): memory grows with the stacks sampled, never per thread. Only
 * advice samples touch them, with atomic adds. The other allocations pay the countdown and one
 * store (track.c); the other frees a test of the owner tag.
 *
 * Must not: allocate through malloc, take a lock on the sampled path, or run at all on the
 * untracked paths.
 */
#include "internal.h"
#include "pool.h"

#include <string.h>

_Static_assert(PS_POOL_LIMIT < (1u << PS_POOL_META_SIZE_BITS), "pooled sizes fit below the tag");
_Static_assert(PS_ADV_TAGS < (1u << (32 - PS_POOL_META_SIZE_BITS)), "owner tags fit above them");

#define ADV_CHUNK_SHIFT 10 /* rows per directory entry: 1024 (168 KiB of address space) */
#define ADV_CHUNK (1u << ADV_CHUNK_SHIFT)
#define ADV_DIR (((size_t)PS_LIVE_MAX_STACK_ID + 1) >> ADV_CHUNK_SHIFT)

/* One stack's counters; counts are estimates (each sample adds its weight). Bins wrap at 2^32
 * (docs/trace-format.md, ADVICE). */
typedef struct {
    uint32_t req[PS_ADV_BINS];    /* requested sizes, by PS_ADV_BINS log2 bins */
    uint32_t usable[PS_ADV_BINS]; /* usable sizes handed out (pool class, glibc's chunk) */
    uint64_t allocs;              /* allocations */
    uint64_t temporaries;         /* freed before the same thread's next allocation */
    uint64_t grows;               /* reallocs that grew a block (attributed to the realloc) */
    uint64_t growth_micro;        /* sum of 10^6 log2(new / old) over those */
    uint64_t cross_thread;        /* frees by a thread other than the allocating one */
} adv_row_t;

static adv_row_t *dir[ADV_DIR];
static ps_spinlock_t dir_lock; /* only to map a chunk */
static atomic_uint next_tag;
__thread uint64_t ps_tls_realloc_from __attribute__((tls_model("initial-exec")));

/* 10^6 log2(x / y), x > y > 0 (sample.c's ln: no libm in the shim). */
static uint64_t log2_micro(uint64_t x, uint64_t y)
{
    return (uint64_t)(ps_sample_ln((double)x / (double)y) * (1e6 / 0.69314718055994530942) + 0.5);
}

static PS_COLD adv_row_t *chunk_map(size_t c)
{
    ps_lock(&dir_lock);
    adv_row_t *rows = __atomic_load_n(&dir[c], __ATOMIC_ACQUIRE);
    if (!rows) {
        rows = ps_os_map(ADV_CHUNK * sizeof(adv_row_t)); /* zero pages, touched row by row */
        if (rows)
            __atomic_store_n(&dir[c], rows, __ATOMIC_RELEASE);
    }
    ps_unlock(&dir_lock);
    return rows;
}

static inline adv_row_t *row_of(uint32_t id)
{
    size_t c = id >> ADV_CHUNK_SHIFT;
    if (c >= ADV_DIR)
        return NULL;
    adv_row_t *rows = __atomic_load_n(&dir[c], __ATOMIC_ACQUIRE);
    if (PS_UNLIKELY(!rows) && !(rows = chunk_map(c)))
        return NULL; /* no memory: the sample is lost (the chunk says nothing of it) */
    return &rows[id & (ADV_CHUNK - 1)];
}

/* A sample's weight: PERFSHIM_ADVICE_SAMPLE allocations, times what a byte-sampled block stands
 * for (count in fixed point, PS_COUNT_ONE for one block). */
static inline uint64_t weight(uint64_t count)
{
    return ((uint64_t)ps_g.opt.advice_sample * count + PS_COUNT_ONE / 2) >> PS_COUNT_SHIFT;
}

/* The next countdown: uniform in 1 .. 2N - 1 (mean N), from the thread's xorshift. */
static inline int32_t next_countdown(ps_thread_t *t)
{
    uint32_t n = (uint32_t)ps_g.opt.advice_sample;
    if (n <= 1)
        return 1;
    uint32_t x = t->adv_rng;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    t->adv_rng = x;
    return (int32_t)(1 + x % (2 * n - 1));
}

void ps_advice_thread_init(ps_thread_t *t)
{
    uint32_t k = atomic_fetch_add_explicit(&next_tag, 1, memory_order_relaxed);
    t->adv_tag = k % PS_ADV_TAGS + 1;
    t->adv_rng = (k + 1) * 0x9e3779b9u | 1;
    t->adv_left = next_countdown(t);
}

uint32_t ps_advice_alloc(ps_thread_t *t, void *p, uint32_t id, uint64_t size, uint64_t count)
{
    t->adv_left = next_countdown(t);
    t->adv_last = (uintptr_t)p;
    t->adv_last_left = ps_tls_sample_left;
    adv_row_t *r = row_of(id);
    if (!r)
        return 0;
    uint64_t w = weight(count);
    size_t usable = ps_pool_owns(p) ? ps_pool_usable_size(p) : ps_real_usable_size(p);
    __atomic_fetch_add(&r->req[ps_advice_bin(size)], (uint32_t)w, __ATOMIC_RELAXED);
    __atomic_fetch_add(&r->usable[ps_advice_bin(usable)], (uint32_t)w, __ATOMIC_RELAXED);
    __atomic_fetch_add(&r->allocs, w, __ATOMIC_RELAXED);
    uint64_t from = ps_tls_realloc_from;
    if (from && size > from) {
        __atomic_fetch_add(&r->grows, w, __ATOMIC_RELAXED);
        __atomic_fetch_add(&r->growth_micro, w * log2_micro(size, from), __ATOMIC_RELAXED);
    }
    return t->adv_tag;
}

void ps_advice_free(ps_thread_t *t, void *p, uint32_t id, uint32_t owner, uint64_t count,
                    int realloc)
{
    int temporary = (uintptr_t)p == t->adv_last && ps_tls_sample_left == t->adv_last_left;
    if ((uintptr_t)p == t->adv_last)
        t->adv_last = 0;
    int cross = owner != t->adv_tag;
    if (realloc || !(temporary | cross))
        return; /* a realloc's old block is neither: it moves, at the realloc's call site */
    adv_row_t *r = row_of(id);
    if (!r)
        return;
    uint64_t w = weight(count);
    if (temporary)
        __atomic_fetch_add(&r->temporaries, w, __ATOMIC_RELAXED);
    if (cross)
        __atomic_fetch_add(&r->cross_thread, w, __ATOMIC_RELAXED);
}

static int row_empty(const adv_row_t *r)
{
    return !(r->allocs | r->temporaries | r->grows | r->cross_thread);
}

int ps_advice_write(ps_buf_t *b, uint64_t time_ns, uint32_t n)
{
    ps_row_advice_head_t head = {.time_ns = time_ns,
                                 .sample = (uint32_t)ps_g.opt.advice_sample,
                                 .flags = (ps_g.opt.advice_sample > 1 ? PS_ADVICE_F_SCALED : 0) |
                                          (ps_sample_ever() ? PS_ADVICE_F_SAMPLED : 0),
                                 .site_size = PS_ADVICE_SITE_SIZE,
                                 .bins = PS_ADV_BINS};
    size_t head_at = b->len;
    ps_put_advice_head(b, &head); /* count patched below */
    uint32_t sites = 0;
    for (size_t c = 0; c < ADV_DIR && ((uint64_t)c << ADV_CHUNK_SHIFT) <= n; c++) {
        const adv_row_t *rows = __atomic_load_n(&dir[c], __ATOMIC_ACQUIRE);
        if (!rows)
            continue;
        for (uint32_t i = 0; i < ADV_CHUNK; i++) {
            uint32_t id = (uint32_t)(c << ADV_CHUNK_SHIFT) + i;
            if (id > n)
                break;
            adv_row_t r; /* a copy: other threads go on adding (relaxed loads) */
            for (unsigned k = 0; k < PS_ADV_BINS; k++) {
                r.req[k] = __atomic_load_n(&rows[i].req[k], __ATOMIC_RELAXED);
                r.usable[k] = __atomic_load_n(&rows[i].usable[k], __ATOMIC_RELAXED);
            }
            r.allocs = __atomic_load_n(&rows[i].allocs, __ATOMIC_RELAXED);
            r.temporaries = __atomic_load_n(&rows[i].temporaries, __ATOMIC_RELAXED);
            r.grows = __atomic_load_n(&rows[i].grows, __ATOMIC_RELAXED);
            r.growth_micro = __atomic_load_n(&rows[i].growth_micro, __ATOMIC_RELAXED);
            r.cross_thread = __atomic_load_n(&rows[i].cross_thread, __ATOMIC_RELAXED);
            if (row_empty(&r))
                continue;
            ps_row_advice_site_t s = {.stack_id = id,
                                      .allocs = r.allocs,
                                      .temporaries = r.temporaries,
                                      .realloc_grows = r.grows,
                                      .realloc_growth_log2_micro = r.growth_micro,
                                      .cross_thread_frees = r.cross_thread};
            for (unsigned k = 0; k < PS_ADV_BINS; k++) {
                s.req_nonzero += r.req[k] != 0;
                s.usable_nonzero += r.usable[k] != 0;
            }
            ps_put_advice_site(b, &s);
            for (unsigned k = 0; k < PS_ADV_BINS; k++)
                if (r.req[k]) {
                    ps_buf_u32(b, k);
                    ps_buf_u64(b, r.req[k]);
                }
            for (unsigned k = 0; k < PS_ADV_BINS; k++)
                if (r.usable[k]) {
                    ps_buf_u32(b, k);
                    ps_buf_u64(b, r.usable[k]);
                }
            sites++;
        }
    }
    ps_buf_patch_u32(b, head_at + 16, sites);
    return b->failed ? -1 : 0;
}
