/* SPDX-License-Identifier: MIT */
/*
 * advice.c — the advice counters (issue 13 item 1) and the ADVICE chunk (docs/trace-format.md):
 * per allocation stack, the sizes requested and handed out, temporaries, realloc growth and
 * cross-thread frees, for `perfshim advise` (docs/tuning.md).
 *
 * Sampled, not exact: one tracked allocation in PERFSHIM_ADVICE_SAMPLE (per thread, a random
 * countdown of that mean, so that a loop of N sites cannot alias with it) is an "advice sample".
 * Its stack's row gets its size bins, and the block carries its thread's owner tag: in the live
 * table's entry (ps_live_entry_t.owner), or for a pooled block above the size in its slab
 * metadata (pool.h). When a realloc moves or resizes a sampled block to a larger size, its
 * stack's row counts a realloc growth, with the sizes before and after (interpose.c passes the
 * new size to the old block's record). At the free of a sampled block: a temporary when it is the
 * freeing thread's last allocation (heaptrack's definition: freed before the same thread's next
 * allocation: the thread's advice countdown, which every tracked allocation decrements, and
 * with byte sampling its byte countdown, did not move since), a
 * cross-thread free when the freeing thread's tag differs. Every count adds the sample's weight
 * (N, times the block's weight with PERFSHIM_SAMPLE), so the rows hold estimates.
 *
 * The rows are shared by every thread, one per stack id, in chunks of ADV_CHUNK rows mapped on
 * first use (a directory by id): memory grows with the stacks sampled, never per thread. Only
 * advice samples touch them, with atomic adds. The other allocations pay the countdown
 * decrement (track.c); the other frees a test of the owner tag.
 *
 * Must not: allocate through malloc, take a lock on the sampled path, or run at all on the
 * untracked paths.
 */
#include "internal.h"
#include "pool.h"

#include <string.h>

_Static_assert(PS_POOL_LIMIT < (1u << PS_POOL_META_SIZE_BITS), "pooled sizes fit below the tag");
_Static_assert(PS_ADV_TAGS < (1u << (32 - PS_POOL_META_SIZE_BITS)), "owner tags fit above them");

#define ADV_CHUNK_SHIFT 10 /* rows per directory entry: 1024 (304 KiB of address space) */
#define ADV_CHUNK (1u << ADV_CHUNK_SHIFT)
#define ADV_DIR (((size_t)PS_LIVE_MAX_STACK_ID + 1) >> ADV_CHUNK_SHIFT)

/* One stack's counters; counts are estimates (each sample adds its weight). Every count is 64-bit:
 * 32-bit bins (176-byte rows) wrapped after 2^32 weighted allocations of one size at one site,
 * 72 minutes of a service allocating one million a second there (docs/trace-format.md, ADVICE). */
typedef struct {
    uint64_t req[PS_ADV_BINS];    /* requested sizes, by PS_ADV_BINS log2 bins */
    uint64_t usable[PS_ADV_BINS]; /* usable sizes handed out (pool class, glibc's chunk) */
    /* the site's u64 fields, in the ADVICE site's order (trace_rows.h), by ADV_*: allocations;
     * temporaries (freed before the same thread's next allocation); reallocs that grew a block
     * of this stack, and its sizes before and after them (requested bytes); frees by a thread
     * other than the allocating one */
    uint64_t n[6];
} adv_row_t;
enum { ADV_ALLOCS, ADV_TEMPS, ADV_GROWS, ADV_FROM, ADV_TO, ADV_CROSS, ADV_U64S };
_Static_assert(PS_ADVICE_SITE_SIZE == 16 + 8 * ADV_U64S, "the site's fields");

/* The directory by chunk of ids. Chunk 0 (ids below 1024: every stack of most programs) has a
 * slot of its own next to the thread counter, whose page is written anyway: the directory's first
 * page (128 KiB of slots) would be one more resident page per process (integration_footprint). */
static struct {
    atomic_uint next_tag; /* threads given an owner tag so far */
    adv_row_t *dir0;
} adv;
static adv_row_t *dir_rest[ADV_DIR - 1];
static inline adv_row_t **dir_slot(size_t c)
{
    return c ? &dir_rest[c - 1] : &adv.dir0;
}

/* Maps chunk c's rows (zero pages, touched row by row); a thread that loses the race to install
 * them unmaps its own. */
static PS_COLD adv_row_t *chunk_map(size_t c)
{
    adv_row_t *rows = ps_os_map(ADV_CHUNK * sizeof(adv_row_t)), *none = NULL;
    if (rows && !__atomic_compare_exchange_n(dir_slot(c), &none, rows, 0, __ATOMIC_ACQ_REL,
                                             __ATOMIC_ACQUIRE)) {
        ps_os_unmap(rows, ADV_CHUNK * sizeof(adv_row_t));
        rows = none;
    }
    return rows;
}

static inline adv_row_t *row_of(uint32_t id)
{
    size_t c = id >> ADV_CHUNK_SHIFT;
    if (c >= ADV_DIR)
        return NULL;
    adv_row_t *rows = __atomic_load_n(dir_slot(c), __ATOMIC_ACQUIRE);
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
    uint32_t k = atomic_fetch_add_explicit(&adv.next_tag, 1, memory_order_relaxed);
    t->adv_tag = k % PS_ADV_TAGS + 1;
    t->adv_rng = (k + 1) * 0x9e3779b9u | 1;
    t->adv_left = next_countdown(t);
}

uint32_t ps_advice_alloc(ps_thread_t *t, void *p, uint32_t id, uint64_t size, uint64_t count)
{
    t->adv_left = next_countdown(t);
    t->adv_last = (uintptr_t)p;
    t->adv_last_left = ps_tls_sample_left;
    t->adv_last_countdown = t->adv_left;
    adv_row_t *r = row_of(id);
    if (!r)
        return 0;
    uint64_t w = weight(count);
    size_t usable = ps_pool_owns(p) ? ps_pool_usable_size(p) : ps_real_usable_size(p);
    __atomic_fetch_add(&r->req[ps_advice_bin(size)], w, __ATOMIC_RELAXED);
    __atomic_fetch_add(&r->usable[ps_advice_bin(usable)], w, __ATOMIC_RELAXED);
    __atomic_fetch_add(&r->n[ADV_ALLOCS], w, __ATOMIC_RELAXED);
    return t->adv_tag;
}

void ps_advice_free(ps_thread_t *t, void *p, uint32_t id, uint32_t owner, uint64_t count,
                    uint64_t size, size_t realloc_to)
{
    int temporary = (uintptr_t)p == t->adv_last && t->adv_left == t->adv_last_countdown &&
                    ps_tls_sample_left == t->adv_last_left && !realloc_to;
    if ((uintptr_t)p == t->adv_last)
        t->adv_last = 0;
    int cross = owner != t->adv_tag && !realloc_to; /* a realloc moves it, at its owner's site */
    int grow = realloc_to > size;
    if (!(temporary | cross | grow))
        return;
    adv_row_t *r = row_of(id);
    if (!r)
        return;
    uint64_t w = weight(count);
    if (temporary)
        __atomic_fetch_add(&r->n[ADV_TEMPS], w, __ATOMIC_RELAXED);
    if (cross)
        __atomic_fetch_add(&r->n[ADV_CROSS], w, __ATOMIC_RELAXED);
    if (grow) {
        __atomic_fetch_add(&r->n[ADV_GROWS], w, __ATOMIC_RELAXED);
        __atomic_fetch_add(&r->n[ADV_FROM], w * size, __ATOMIC_RELAXED);
        __atomic_fetch_add(&r->n[ADV_TO], w * realloc_to, __ATOMIC_RELAXED);
    }
}

/* Copies a row's bins (other threads go on adding); returns how many are nonzero. */
static uint32_t copy_bins(uint64_t *out, const uint64_t *bins)
{
    uint32_t n = 0;
    for (unsigned k = 0; k < PS_ADV_BINS; k++)
        n += (out[k] = __atomic_load_n(&bins[k], __ATOMIC_RELAXED)) != 0;
    return n;
}

/* The nonzero bins of a list: {u32 bin, u64 count} each. */
static void put_bins(ps_buf_t *b, const uint64_t *bins)
{
    for (unsigned k = 0; k < PS_ADV_BINS; k++)
        if (bins[k]) {
            ps_buf_u32(b, k);
            ps_buf_u64(b, bins[k]);
        }
}

int ps_advice_write(ps_buf_t *b, uint64_t time_ns, uint32_t n)
{
    /* the head and each site's fixed part field by field, as PS_ROW_ADVICE_HEAD and _SITE
     * declare them (the generated encoders and their structs made this exit-time code 0.3 KiB
     * larger: the code sampling runs must fit one 64 KiB window, integration_footprint) */
    uint32_t sample = (uint32_t)ps_g.opt.advice_sample;
    ps_buf_u64(b, time_ns);
    ps_buf_u32(b, sample);
    ps_buf_u32(b, (sample > 1 ? PS_ADVICE_F_SCALED : 0) |
                      (ps_sample_ever() ? PS_ADVICE_F_SAMPLED : 0));
    size_t head_at = b->len;
    ps_buf_u32(b, 0); /* count, patched below */
    ps_buf_u32(b, PS_ADVICE_SITE_SIZE);
    ps_buf_u32(b, PS_ADV_BINS);
    ps_buf_u32(b, 0);
    uint32_t sites = 0;
    for (uint32_t id = 0; id <= n && (id >> ADV_CHUNK_SHIFT) < ADV_DIR; id++) {
        const adv_row_t *rows = __atomic_load_n(dir_slot(id >> ADV_CHUNK_SHIFT), __ATOMIC_ACQUIRE);
        if (!rows) {
            id |= ADV_CHUNK - 1; /* a chunk never mapped: no sample there */
            continue;
        }
        const adv_row_t *r = &rows[id & (ADV_CHUNK - 1)];
        uint64_t v[ADV_U64S], any = 0; /* copies: other threads go on adding */
        for (unsigned f = 0; f < ADV_U64S; f++)
            any |= v[f] = __atomic_load_n(&r->n[f], __ATOMIC_RELAXED);
        if (!any)
            continue;
        uint64_t req[PS_ADV_BINS], usable[PS_ADV_BINS];
        ps_buf_u32(b, id);
        ps_buf_u32(b, copy_bins(req, r->req));
        ps_buf_u32(b, copy_bins(usable, r->usable));
        ps_buf_u32(b, 0);
        for (unsigned f = 0; f < ADV_U64S; f++)
            ps_buf_u64(b, v[f]);
        put_bins(b, req);
        put_bins(b, usable);
        sites++;
    }
    ps_buf_patch_u32(b, head_at, sites);
    return b->failed ? -1 : 0;
}
