/* SPDX-License-Identifier: MIT */
/*
 * ages.c — the AGES chunk (docs/trace-format.md): per allocation stack, how old its live
 * blocks are at a snapshot, and how long its freed blocks lived.
 *
 * The tracker keeps the data (track.c): a 32-bit birth time per tracked block (in the live
 * table's entry, or for a pooled block next to its slab metadata, pool.h), and per thread and
 * stack a row of PS_AGE_BUCKETS lifetime counts bumped at each free. Here, at an exit, stop,
 * dump or signal snapshot, every live block is visited once (the live table's shards one at a
 * time, then the pool's metadata), its age put in a log-linear bucket (timing.h's PS_HIST_*
 * index over age units, so a bucket is at most 1/16 of its age wide)
 * and summed per (stack, bucket) in an open-addressing table; the lifetime rows of every
 * thread are summed; the sites go out in stack id order.
 *
 * Must not: allocate through malloc (every table is ps_os_map'd and unmapped before return),
 * or run on the allocation path.
 */
#include "internal.h"
#include "pool.h"
#include "timing.h"

#include <string.h>

typedef struct {
    uint64_t key;   /* (stack id + 1) << 32 | bucket index; 0 = empty slot */
    uint64_t count; /* blocks (fixed point, PS_COUNT_ONE each) */
    uint64_t bytes;
} age_cell_t;

typedef struct {
    age_cell_t *cells;
    size_t cap, n; /* slots (a power of two), used */
    uint32_t now;  /* birth clock at the walk */
    uint32_t tag;  /* ps_g.section_bits: pooled blocks of other sections are left out */
    int failed;    /* a map failed: the chunk is not written */
} age_acc_t;

static uint64_t cell_hash(uint64_t key)
{
    uint64_t h = key * 0x9e3779b97f4a7c15ull;
    return h ^ (h >> 29);
}

static int acc_grow(age_acc_t *a)
{
    size_t ncap = a->cap ? a->cap * 2 : 256;
    age_cell_t *nc = ps_os_map(ncap * sizeof *nc);
    if (!nc)
        return -1;
    for (size_t i = 0; i < a->cap; i++) {
        if (!a->cells[i].key)
            continue;
        size_t j = (size_t)cell_hash(a->cells[i].key) & (ncap - 1);
        while (nc[j].key)
            j = (j + 1) & (ncap - 1);
        nc[j] = a->cells[i];
    }
    if (a->cells)
        ps_os_unmap(a->cells, a->cap * sizeof *a->cells);
    a->cells = nc;
    a->cap = ncap;
    return 0;
}

static void acc_add(age_acc_t *a, uint32_t id, uint64_t bytes, uint64_t count, uint32_t birth)
{
    if (a->failed)
        return;
    if ((a->n + 1) * 2 > a->cap && acc_grow(a) != 0) {
        a->failed = 1;
        return;
    }
    uint32_t age = a->now - birth; /* wraps with the clock: right for ages below 52 days */
    uint64_t key = ((uint64_t)id + 1) << 32 | ps_hist_index(age);
    size_t i = (size_t)cell_hash(key) & (a->cap - 1);
    while (a->cells[i].key && a->cells[i].key != key)
        i = (i + 1) & (a->cap - 1);
    if (!a->cells[i].key) {
        a->cells[i].key = key;
        a->n++;
    }
    a->cells[i].count += count;
    a->cells[i].bytes += bytes;
}

static void from_live_table(void *arg, const ps_live_block_t *b)
{
    acc_add(arg, b->id, b->bytes, b->count, b->birth);
}

static void from_pool(void *arg, uintptr_t block, const ps_pool_block_meta_t *m)
{
    age_acc_t *a = arg;
    (void)block;
    uint32_t v = __atomic_load_n(&m->stack_id, __ATOMIC_RELAXED);
    if (!v || (v & ~PS_SECTION_ID_MASK) != a->tag)
        return; /* free, never tracked, or from an earlier section */
    acc_add(a, (v & PS_SECTION_ID_MASK) - 1,
            __atomic_load_n(&m->size, __ATOMIC_RELAXED) & PS_POOL_META_SIZE_MASK, PS_COUNT_ONE,
            __atomic_load_n(&m->birth, __ATOMIC_RELAXED));
}

static uint64_t whole(uint64_t fixed)
{
    return (fixed + PS_COUNT_ONE / 2) >> PS_COUNT_SHIFT;
}

/* One site: its fixed part, its live buckets (cells[first .. first + nlive), sorted here by
 * index), its nonzero lifetime buckets. */
static void put_site(ps_buf_t *b, uint32_t id, age_cell_t *c, size_t nlive, const uint64_t *life)
{
    for (size_t i = 1; i < nlive; i++) /* insertion sort by bucket: a few cells per stack */
        for (size_t j = i; j > 0 && c[j - 1].key > c[j].key; j--) {
            age_cell_t x = c[j];
            c[j] = c[j - 1];
            c[j - 1] = x;
        }
    uint32_t live = 0, freed = 0;
    for (size_t i = 0; i < nlive; i++)
        live += whole(c[i].count) > 0;
    for (int k = 0; k < PS_AGE_BUCKETS; k++)
        freed += whole(life[k]) > 0;
    if (!live && !freed)
        return;
    ps_row_age_site_t row = {.stack_id = id, .live_nonzero = live, .freed_nonzero = freed};
    ps_put_age_site(b, &row);
    for (size_t i = 0; i < nlive; i++)
        if (whole(c[i].count)) {
            ps_buf_u32(b, (uint32_t)c[i].key);
            ps_buf_u64(b, whole(c[i].count));
            ps_buf_u64(b, c[i].bytes);
        }
    for (int k = 0; k < PS_AGE_BUCKETS; k++)
        if (whole(life[k])) {
            ps_buf_u32(b, (uint32_t)k);
            ps_buf_u64(b, whole(life[k]));
        }
}

int ps_ages_write(ps_buf_t *b, uint64_t time_ns, uint32_t n)
{
    uint64_t t0 = ps_os_monotonic_ns();
    age_acc_t a = {.now = ps_track_age_now(),
                   .tag = atomic_load_explicit(&ps_g.section_bits, memory_order_relaxed)};
    uint32_t *first = ps_os_map(((size_t)n + 2) * sizeof(uint32_t)); /* by id: first cell */
    age_cell_t *sorted = NULL;
    size_t sorted_bytes = 0;
    int rc = -1;
    if (!first || acc_grow(&a) != 0)
        goto out;
    ps_track_for_each_live(from_live_table, &a);
    if (ps_g.pool_on)
        ps_pool_for_each_tracked(from_pool, &a);
    sorted_bytes = (a.n ? a.n : 1) * sizeof *sorted;
    sorted = ps_os_map(sorted_bytes);
    if (a.failed || !sorted)
        goto out;
    /* counting sort of the cells by stack id (ids above n: a stack interned after the count
     * was taken; left out, as the SNAPSHOT leaves it out) */
    for (size_t i = 0; i < a.cap; i++) {
        uint32_t id = (uint32_t)(a.cells[i].key >> 32) - 1;
        if (a.cells[i].key && id <= n)
            first[id + 1]++;
    }
    for (uint32_t id = 0; id <= n; id++)
        first[id + 1] += first[id];
    for (size_t i = 0; i < a.cap; i++) {
        uint32_t id = (uint32_t)(a.cells[i].key >> 32) - 1;
        if (a.cells[i].key && id <= n)
            sorted[first[id]++] = a.cells[i];
    }
    /* first[id] is now the end of id's cells: the start is the previous id's end */
    ps_row_ages_head_t head = {.time_ns = time_ns,
                               .unit_ps = ps_track_age_unit_ps(),
                               .clock_res_ns = (uint32_t)ps_track_age_res_ns(),
                               .site_size = PS_AGE_SITE_SIZE};
    size_t head_at = b->len;
    ps_put_ages_head(b, &head); /* count and walk_ns patched below */
    uint32_t sites = 0;
    for (uint32_t id = 0, start = 0; id <= n; start = first[id], id++) {
        size_t before = b->len;
        uint64_t life[PS_AGE_BUCKETS]; /* summed here, a stack at a time: a table of every
                                          stack's would be 256 bytes each at the peak */
        ps_track_life_row(id, life);
        put_site(b, id, &sorted[start], first[id] - start, life);
        sites += b->len != before;
    }
    ps_buf_patch_u32(b, head_at + 20, sites);
    uint64_t walk = ps_os_monotonic_ns() - t0;
    ps_buf_patch_u32(b, head_at + 32, (uint32_t)walk);
    ps_buf_patch_u32(b, head_at + 36, (uint32_t)(walk >> 32));
    rc = b->failed ? -1 : 0;
out:
    if (rc != 0) {
        b->failed = 1;
        ps_msg_warn("cannot map the tables for the ages of the live blocks; this snapshot has "
                    "none");
    }
    if (a.cells)
        ps_os_unmap(a.cells, a.cap * sizeof *a.cells);
    if (sorted)
        ps_os_unmap(sorted, sorted_bytes);
    if (first)
        ps_os_unmap(first, ((size_t)n + 2) * sizeof(uint32_t));
    return rc;
}
