/* SPDX-License-Identifier: MIT */
/*
 * latency.c — allocator latency (PERFSHIM_LATENCY_SAMPLE), the zones API
 * (perfshim_zone_begin/end), and what they share: the tick rate and the histogram encoding.
 *
 * Latency: interpose.c times one malloc, free or realloc in N per thread (the allocator's own
 * work, not the tracking around it) and calls ps_latency_record with the request's size; the
 * histograms are per operation and per power-of-two size bin. Zones: each thread keeps a stack
 * of open zones in its ps_thread_t; a zone's histogram is shared and found by name.
 */
#include "timing.h"
#include "pool.h"

#include <string.h>

/* ---- ticks and histograms ------------------------------------------------------------------ */

PS_COLD uint64_t ps_tick_hz(void)
{
    uint64_t ns = ps_os_monotonic_ns() - ps_g.start_monotonic_ns;
    while (ns < 5000000) { /* a young process: wait until the rate is measurable */
        ps_os_sleep_ms(1);
        ns = ps_os_monotonic_ns() - ps_g.start_monotonic_ns;
    }
    uint64_t ticks = ps_ticks() - ps_g.start_ticks;
    return (uint64_t)((double)ticks * 1e9 / (double)ns);
}

uint64_t ps_ticks_to_ns(uint64_t ticks, uint64_t hz)
{
    if (hz == 0)
        return ticks;
    return (uint64_t)((double)ticks * 1e9 / (double)hz);
}

void ps_hist_put(ps_buf_t *b, const ps_hist_t *h)
{
    ps_buf_u64(b, atomic_load_explicit(&h->count, memory_order_relaxed));
    ps_buf_u64(b, atomic_load_explicit(&h->sum, memory_order_relaxed));
    ps_buf_u64(b, atomic_load_explicit(&h->max, memory_order_relaxed));
    uint32_t nonzero = 0;
    uint64_t snap[PS_HIST_BUCKETS];
    for (unsigned i = 0; i < PS_HIST_BUCKETS; i++) {
        snap[i] = atomic_load_explicit(&h->bucket[i], memory_order_relaxed);
        nonzero += snap[i] != 0;
    }
    ps_buf_u32(b, nonzero);
    for (unsigned i = 0; i < PS_HIST_BUCKETS; i++)
        if (snap[i]) {
            ps_buf_u32(b, i);
            ps_buf_u64(b, snap[i]);
        }
}

typedef struct zone_s zone_t;

/* ---- allocator latency -------------------------------------------------------------------- */

#define OPS 3
#define BINS 18 /* <=16, <=32, ..., <=1 MiB, larger */

static ps_hist_t *lat; /* [OPS][BINS] */

static inline unsigned bin_of(size_t n)
{
    if (n <= 16)
        return 0;
    unsigned bits = 64u - (unsigned)__builtin_clzll((unsigned long long)(n - 1));
    unsigned b = bits - 4;
    return b < BINS - 1 ? b : BINS - 1;
}

int ps_latency_init(void)
{
    if (!lat)
        lat = ps_os_map(OPS * BINS * sizeof *lat);
    return lat ? 0 : -1;
}

static zone_t *zones_map(void);

int ps_zones_init(void)
{
    return zones_map() ? 0 : -1;
}

void ps_latency_record(int op, size_t size, uint64_t ticks)
{
    if (lat && op >= 0 && op < OPS)
        ps_hist_add(&lat[op * BINS + bin_of(size)], ticks);
}

void ps_latency_write(ps_buf_t *b, uint64_t time_ns, uint64_t hz)
{
    uint64_t ev[3];
    ps_track_events(ev);
    ps_pool_totals_t pt;
    memset(&pt, 0, sizeof pt);
    uint64_t refills = 0, flushes = 0;
    if (ps_g.pool_on) {
        enum { MAXC = 64 };
        ps_pool_class_stats_t cs[MAXC];
        size_t n = ps_pool_stats(cs, MAXC, &pt);
        for (size_t i = 0; i < n && i < MAXC; i++) {
            refills += cs[i].refills;
            flushes += cs[i].flushes;
        }
    }
    ps_row_latency_head_t head = {.time_ns = time_ns,
                                  .tick_hz = hz,
                                  .sample = (uint32_t)ps_g.opt.latency_sample,
                                  .pooled = ev[0],
                                  .forwarded = ev[1],
                                  .forwarded_large = ev[2],
                                  .pool_refills = refills,
                                  .pool_flushes = flushes,
                                  .pool_commits = pt.committed};
    ps_put_latency_head(b, &head);
    uint32_t rows = 0;
    for (unsigned i = 0; i < OPS * BINS; i++)
        rows += atomic_load_explicit(&lat[i].count, memory_order_relaxed) != 0;
    ps_buf_u32(b, rows);
    for (unsigned i = 0; i < OPS * BINS; i++) {
        if (!atomic_load_explicit(&lat[i].count, memory_order_relaxed))
            continue;
        unsigned bin = i % BINS;
        ps_row_latency_row_t row = {.op = i / BINS,
                                    .size_max = bin == BINS - 1 ? 0xffffffffu : 16u << bin};
        ps_put_latency_row(b, &row);
        ps_hist_put(b, &lat[i]);
    }
}

/* ---- zones ------------------------------------------------------------------------------------
 */

#define ZONES_MAX 1024
#define ZONE_NAME 64

struct zone_s {
    _Atomic(const char *) literal; /* the pointer first seen (fast match), or NULL */
    atomic_int state;              /* 0 free, 1 being filled, 2 ready */
    atomic_uint max_depth;
    char name[ZONE_NAME];
    ps_hist_t hist;
};

static zone_t *zones;
static atomic_uint zone_count;
static atomic_ullong unmatched_ends, too_deep, zones_dropped;
static ps_spinlock_t zone_lock; /* new names only */

static zone_t *zones_map(void)
{
    if (!zones)
        zones = ps_os_map(ZONES_MAX * sizeof *zones);
    return zones;
}

static PS_NOINLINE int zone_find_slow(const char *name)
{
    char key[ZONE_NAME];
    size_t len = strnlen(name, ZONE_NAME - 1);
    memcpy(key, name, len);
    key[len] = 0;
    ps_lock(&zone_lock);
    unsigned n = atomic_load(&zone_count);
    for (unsigned i = 0; i < n; i++)
        if (strcmp(zones[i].name, key) == 0) {
            ps_unlock(&zone_lock);
            return (int)i;
        }
    if (n >= ZONES_MAX) {
        ps_unlock(&zone_lock);
        atomic_fetch_add(&zones_dropped, 1);
        return -1;
    }
    memcpy(zones[n].name, key, len + 1);
    atomic_store(&zones[n].literal, name);
    atomic_store(&zones[n].state, 2);
    atomic_store(&zone_count, n + 1);
    ps_unlock(&zone_lock);
    return (int)n;
}

static inline int zone_find(const char *name)
{
    unsigned n = atomic_load_explicit(&zone_count, memory_order_acquire);
    for (unsigned i = 0; i < n; i++) /* programs have a few zones: the literal pointer matches */
        if (atomic_load_explicit(&zones[i].literal, memory_order_relaxed) == name)
            return (int)i;
    return zone_find_slow(name);
}

void ps_zone_begin(const char *name)
{
    if (!ps_g.tracing || ps_tls_guard || !name)
        return;
    ps_thread_t *t = ps_track_thread();
    if (!t)
        return;
    uint32_t d = t->zone_depth++;
    if (d >= PS_ZONE_DEPTH) {
        atomic_fetch_add_explicit(&too_deep, 1, memory_order_relaxed);
        return;
    }
    if (PS_UNLIKELY(!zones)) {
        t->zones[d].zone = UINT32_MAX;
        return;
    }
    int z = zone_find(name);
    t->zones[d].zone = z < 0 ? UINT32_MAX : (uint32_t)z;
    if (z >= 0) {
        unsigned cur = atomic_load_explicit(&zones[z].max_depth, memory_order_relaxed);
        if (d + 1 > cur)
            atomic_store_explicit(&zones[z].max_depth, d + 1, memory_order_relaxed);
    }
    t->zones[d].start = ps_ticks();
}

void ps_zone_end(void)
{
    uint64_t now = ps_ticks();
    if (!ps_g.tracing || ps_tls_guard)
        return;
    ps_thread_t *t = ps_track_thread();
    if (!t)
        return;
    if (t->zone_depth == 0) {
        atomic_fetch_add_explicit(&unmatched_ends, 1, memory_order_relaxed);
        return;
    }
    uint32_t d = --t->zone_depth;
    if (d >= PS_ZONE_DEPTH || t->zones[d].zone == UINT32_MAX || !zones)
        return;
    ps_hist_add(&zones[t->zones[d].zone].hist, now - t->zones[d].start);
}

int ps_zones_used(void)
{
    return zones && (atomic_load(&zone_count) > 0 || atomic_load(&unmatched_ends) > 0);
}

void ps_zones_write(ps_buf_t *b, uint64_t time_ns, uint64_t hz)
{
    unsigned n = zones ? atomic_load(&zone_count) : 0;
    ps_row_zones_head_t head = {.time_ns = time_ns,
                                .tick_hz = hz,
                                .unmatched_ends = atomic_load(&unmatched_ends),
                                .too_deep = atomic_load(&too_deep),
                                .dropped = atomic_load(&zones_dropped)};
    ps_put_zones_head(b, &head);
    ps_buf_u32(b, n);
    for (unsigned i = 0; i < n; i++) {
        ps_buf_str(b, zones[i].name);
        ps_buf_u32(b, atomic_load(&zones[i].max_depth));
        ps_hist_put(b, &zones[i].hist);
    }
}
