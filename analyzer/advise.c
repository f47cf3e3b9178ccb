/* SPDX-License-Identifier: MIT */
/*
 * advise.c — `perfshim advise [--json] TRACE...` (advise.h; docs/tuning.md): turns what the other
 * reports show into advice. Every rule is one row of `rules[]` below: its id, the function that
 * tests its condition and writes its advice, the change it proposes and the evidence it cites.
 * docs/tuning.md documents each row with its threshold and the example program it was validated
 * on; a rule whose data the trace does not hold is skipped and said so ("skipped_rules").
 *
 * Each trace is loaded at its last snapshot, grouped by symbolized stack as `perfshim summary`
 * groups it, judged by every per-trace rule, and freed before the next; only the advice (with
 * copies of its frames) and, for the cross-process rule, the leaking sites' hashed keys are
 * kept. Per-site state is counts by group; a rule ranks its candidates and symbolizes only the
 * ones it prints (the leaks: ADV_LEAK_TOP), as the other reports do. The growth rule reads the
 * file a second time (growth.c), reusing this trace's groups and symbolizer.
 *
 * The per-site counters of issue 13 item 1 (temporaries, realloc growth, cross-thread frees,
 * size histograms) come through ONE function, adv_fill_counters(): it derives today what the
 * trace already holds (mean request size, AGES lifetimes) and marks the rest not recorded, so
 * the rules that need them are skipped until the shim writes them. The size histograms, evidence
 * of the few sites advised only, are summed for those (site_sizes()), not kept for every site:
 * 256 bytes a site, 30 MB for a compile's 116k.
 *
 * Must not: print advice whose evidence is not in the trace, or keep a trace past its turn.
 */
#include "advise.h"

#include "ages.h"
#include "growth.h"
#include "hist.h"
#include "json.h"
#include "locks.h"
#include "merge.h"
#include "model.h"
#include "report.h"
#include "suppress.h"
#include "symbols.h"
#include "util.h"

#include "../shim/sizeclass.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

/* ---- thresholds (docs/tuning.md gives the reason for each) ----------------------------------- */

#define ADV_POOL_MIN_ALLOCS 1000         /* pool.max: allocations above the limit worth a change */
#define ADV_POOL_MIN_SHARE 0.05          /* ... and their share of all allocations */
#define ADV_POOL_COVER 0.90              /* the suggested limit pools this share of them */
#define ADV_SHORT_MIN_FREED 10000        /* short_lived: freed blocks with a lifetime */
#define ADV_SHORT_SHARE 0.90             /* ... of which this share lived under one age unit */
#define ADV_TINY_MAX 16                  /* tiny: mean request at most this (bytes) */
#define ADV_TINY_MIN_ALLOCS 10000        /* ... from one site */
#define ADV_TINY_BATCH 64                /* the gain assumes one allocation per this many objects */
#define ADV_FRAG_MIN_BYTES (32ull << 20) /* fragmentation: RSS above the live heap */
#define ADV_FRAG_RATIO 2.0               /* ... and RSS at least this multiple of it */
#define ADV_LOCK_MIN_WAIT_NS 10000000ull /* lock.*: total wait on the lock (10 ms) */
#define ADV_LOCK_LONG_HOLD_NS 5000.0     /* lock.hold: mean exclusive hold (5 us) */
#define ADV_HOLD_MIN_CONTENDED 5         /* ... over this many contended acquisitions at least */
#define ADV_SHARD_MIN_SITES 3            /* lock.shard: sites each with ... */
#define ADV_SHARD_SITE_SHARE 0.10        /* ... this share of its acquisitions */
#define ADV_SHARD_MIN_CONTENDED 10       /* lock.shard: contended acquisitions */
#define ADV_RW_WRITE_SHARE 0.90          /* lock.rwlock: a rwlock taken in write mode this often */
#define ADV_RW_MIN_HOLD_NS 500.0         /* ... a mutex held at least this (below: no gain) */
#define ADV_RW_QUEUE 4.0                 /* ... whose waiters wait this many holds on average */
#define ADV_RW_CONTENDED_SHARE 0.10      /* ... and this share of its acquisitions collide */
#define ADV_COND_MIN_WAKES 100           /* cond.wake: timed wake-ups */
#define ADV_COND_MEAN_NS 1000000.0       /* ... mean wake-up latency (1 ms) */
#define ADV_LAT_MIN_COUNT 1000           /* alloc_latency: timed calls in the size bin */
#define ADV_LAT_RATIO 20.0               /* ... p99 / p50 */
#define ADV_LAT_MIN_P99_NS 10000ull      /* ... and p99 at least 10 us */
#define ADV_LEAK_TOP 10                  /* leak, growth: sites listed per trace */
#define ADV_GROWTH_MIN_SNAPSHOTS 5       /* growth: snapshots in the trace */
#define ADV_GROWTH_MIN_BYTES (64u << 10) /* ... live bytes of the site at the last one */
#define ADV_GROWTH_MIN_RATE 1048576.0    /* ... growing at least this many bytes an hour */
#define ADV_GROWTH_MIN_CONFIDENCE 0.5    /* ... with the growth report's confidence */
#define ADV_TEMP_MIN 1000                /* temporaries: a site's temporaries (estimated) */
#define ADV_TEMP_SHARE 0.50              /* ... and their share of its allocations */
#define ADV_REALLOC_MIN_GROWS 1000       /* realloc_growth: a site's growing reallocs */
#define ADV_XTHREAD_MIN 1000             /* cross_thread_free: a site's cross-thread frees */
#define ADV_XTHREAD_SHARE 0.50           /* ... and their share of its allocations */

/* ---- the per-site counters (issue 13 item 1) ------------------------------------------------- */

/* Request sizes by power of two: bin b holds (2^(b+3), 2^(b+4)], bin 0 sizes up to 16. */
#define ADV_SIZE_BINS 16

/* (64 bytes a site, 175k on a compile; the site's allocations and bytes are its group's,
 * pa_group_t's allocs and alloc_bytes, not copied here: 2.8 MB of advise's peak on T2) */
typedef struct {
    /* lifetimes, from the AGES chunk (adv_chunks_t.has_ages false without one) */
    uint64_t freed_timed; /* freed blocks with a lifetime */
    uint64_t short_lived; /* of those, freed within one age unit (about 1 ms) */
    /* the shim's advice counters (adv_chunks_t.has_advice false: not recorded by this trace;
     * whether the trace has them, its age unit and its sampling are the trace's, kept once in
     * adv_chunks_t, not per site) */
    uint64_t counted_allocs;     /* allocations the counters stand for (estimated) */
    uint64_t temporaries;        /* freed before the same thread's next allocation */
    uint64_t realloc_grows;      /* reallocs that grew a block */
    uint64_t realloc_old_bytes;  /* their sizes before (requested bytes) */
    uint64_t realloc_new_bytes;  /* ... and after */
    uint64_t cross_thread_frees; /* frees by a thread other than the allocating one */
} adv_site_counters_t;
_Static_assert(sizeof(adv_site_counters_t) == 64, "no padding");

#define ADV_NO_COUNTERS "trace has no advice counters"

/* What the rules read of the AGES and ADVICE chunks, taken from them before the rows are grouped
 * so that both are freed first (chunks_take): on gtest.cc's compile the advice sites with their
 * size bins expanded were 9.2 MB and the ages 5 MB, held through the grouping, where advise
 * peaked. The ages as two sums by row of the snapshot; the advice counters by stack, their size
 * bins without the zeros: a mask of the nonzero bins, their counts apart (8 bytes a bin, not 16
 * with the bin's number beside: 0.7 MB of another compile's 93k). */
/* The two sums of each row (adv_site_counters_t's freed_timed and short_lived), in row order,
 * as unsigned LEB128 varints: 2-4 bytes a row where two 8-byte sums took 16 (3.1 MB of T2's
 * 192k rows, held through the grouping, advise's peak). */
static void ages_put(unsigned char *p, size_t *len, uint64_t v)
{
    while (v >= 0x80) {
        p[(*len)++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    p[(*len)++] = (unsigned char)v;
}

static uint64_t ages_get(const unsigned char *p, size_t *pos)
{
    uint64_t v = 0;
    for (unsigned shift = 0;; shift += 7) {
        unsigned char b = p[(*pos)++];
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return v;
    }
}

typedef struct {
    uint32_t stack_id;
    uint32_t bin_first;             /* its nonzero size bins' counts: bins[bin_first..), */
    uint16_t req_mask, usable_mask; /* those of req then usable, by increasing bin (bit b) */
    uint64_t allocs, temporaries, realloc_grows, realloc_old_bytes, realloc_new_bytes,
        cross_thread_frees; /* pa_advice_site_t's */
} adv_stack_t;
_Static_assert(PS_ADV_BINS <= 16, "a bin mask of 16 bits");

typedef struct {
    bool has_ages;
    double age_unit_s;
    unsigned char *row_ages; /* by row, two varints a row (ages_put; NULL without ages) */
    size_t row_ages_len, row_ages_cap;
    bool has_advice;
    bool estimated; /* sample > 1, or byte sampling */
    uint32_t sample;
    adv_stack_t *stacks; /* by increasing stack id */
    size_t nstacks;
    uint64_t *bins;
    /* once the counters are summed by group (chunks_keep_sizes), what site_sizes reads of each
     * stack in place of stacks: its id and its bins (12 bytes, not 64: 2.7 MB of T2's advise
     * peak, held through the rules) */
    struct adv_sizes *sizes;
} adv_chunks_t;

typedef struct adv_sizes {
    uint32_t stack_id;
    uint32_t bin_first;
    uint16_t req_mask, usable_mask; /* adv_stack_t's */
} adv_sizes_t;

static void chunks_free(adv_chunks_t *k)
{
    free(k->row_ages);
    free(k->stacks);
    free(k->sizes);
    free(k->bins);
    memset(k, 0, sizeof *k);
}

/* Once adv_fill_counters has summed the stacks' counters by group: the stacks' ids and bins only
 * (k->sizes, the same order), made in place of k->stacks and the rest given back. */
static void chunks_keep_sizes(adv_chunks_t *k)
{
    if (!k->stacks)
        return;
    adv_sizes_t *v = (adv_sizes_t *)(void *)k->stacks; /* (12 <= 64 bytes: no overtaking) */
    for (size_t i = 0; i < k->nstacks; i++) {
        const adv_stack_t *s = &k->stacks[i];
        adv_sizes_t x = {s->stack_id, s->bin_first, s->req_mask, s->usable_mask};
        memcpy(&v[i], &x, sizeof x);
    }
    adv_sizes_t *shrunk = realloc(v, (k->nstacks ? k->nstacks : 1) * sizeof *v);
    k->sizes = shrunk ? shrunk : v;
    k->stacks = NULL;
}

/* Takes what the rules read from t's AGES and ADVICE chunks into k, then frees them (nothing
 * else reads them: report --html's sections after the advice drop them too). */
static int chunks_take(pa_trace_t *t, adv_chunks_t *k)
{
    memset(k, 0, sizeof *k);
    const pa_ages_t *a = pa_ages_of(t);
    const pa_advice_t *adv = pa_model_advice(t);
    int rc = PA_OK;
    k->has_ages = a != NULL;
    k->age_unit_s = a ? pa_ages_seconds(a, 1.0) : 0;
    for (size_t r = 0; rc == PA_OK && a && r < t->snap.nrows; r++) {
        const pa_age_site_t *s = pa_ages_site(a, t->snap.rows[r].stack_id);
        uint64_t freed_timed = 0;
        for (unsigned b = 0; s && b < PS_AGE_BUCKETS; b++)
            freed_timed += pa_ages_freed(a, s, b);
        uint64_t short_lived = s ? pa_ages_freed(a, s, 0) : 0;
        /* (room for two 10-byte varints; the first grows it to about 4 bytes a row) */
        if (pa_util_grow((void **)&k->row_ages, &k->row_ages_cap,
                         k->row_ages_len + 20 + (r ? 0 : t->snap.nrows * 4), 1) != PA_OK) {
            rc = PA_ENOMEM;
            break;
        }
        ages_put(k->row_ages, &k->row_ages_len, freed_timed);
        ages_put(k->row_ages, &k->row_ages_len, short_lived);
    }
    if (adv) {
        k->has_advice = true;
        k->sample = adv->sample;
        k->estimated = adv->sample > 1 || adv->flags != 0;
    }
    size_t nbins = 0;
    for (size_t i = 0; adv && i < adv->nsites; i++)
        for (unsigned b = 0; b < PS_ADV_BINS; b++)
            nbins += (adv->sites[i].req[b] != 0) + (adv->sites[i].usable[b] != 0);
    if (rc == PA_OK && adv &&
        (!(k->stacks = malloc((adv->nsites + 1) * sizeof *k->stacks)) ||
         !(k->bins = malloc((nbins + 1) * sizeof *k->bins))))
        rc = PA_ENOMEM;
    nbins = 0;
    for (size_t i = 0; rc == PA_OK && adv && i < adv->nsites; i++) {
        const pa_advice_site_t *s = &adv->sites[i];
        adv_stack_t *x = &k->stacks[k->nstacks++];
        *x = (adv_stack_t){.stack_id = s->stack_id,
                           .bin_first = (uint32_t)nbins,
                           .allocs = s->allocs,
                           .temporaries = s->temporaries,
                           .realloc_grows = s->realloc_grows,
                           .realloc_old_bytes = s->realloc_old_bytes,
                           .realloc_new_bytes = s->realloc_new_bytes,
                           .cross_thread_frees = s->cross_thread_frees};
        for (unsigned b = 0; b < PS_ADV_BINS; b++)
            if (s->req[b]) {
                k->bins[nbins++] = s->req[b];
                x->req_mask |= (uint16_t)(1u << b);
            }
        for (unsigned b = 0; b < PS_ADV_BINS; b++)
            if (s->usable[b]) {
                k->bins[nbins++] = s->usable[b];
                x->usable_mask |= (uint16_t)(1u << b);
            }
    }
    if (rc != PA_OK)
        chunks_free(k);
    else
        pa_model_drop_ages_advice(t);
    return rc;
}

static int cmp_stack_id(const void *key, const void *x)
{
    uint32_t id = *(const uint32_t *)key, other = ((const adv_stack_t *)x)->stack_id;
    return id < other ? -1 : id > other;
}

/* The advice counters of stack `id`, or NULL. */
static const adv_stack_t *chunks_stack(const adv_chunks_t *k, uint32_t id)
{
    return k->nstacks ? bsearch(&id, k->stacks, k->nstacks, sizeof *k->stacks, cmp_stack_id) : NULL;
}

static int cmp_sizes_id(const void *key, const void *x)
{
    uint32_t id = *(const uint32_t *)key, other = ((const adv_sizes_t *)x)->stack_id;
    return id < other ? -1 : id > other;
}

/* The size bins of stack `id` (after chunks_keep_sizes), or NULL. */
static const adv_sizes_t *chunks_sizes(const adv_chunks_t *k, uint32_t id)
{
    return k->nstacks && k->sizes
               ? bsearch(&id, k->sizes, k->nstacks, sizeof *k->sizes, cmp_sizes_id)
               : NULL;
}

/* Fills out[i] for every group g->all[i] of trace t from what the trace holds: the snapshot's
 * lifetimes from AGES and the shim's advice counters from the ADVICE
 * chunk (summed over the stacks of a group; adv_chunks_t.has_advice false without one), taken into
 * k. */
static void adv_fill_counters(const pa_trace_t *t, const pa_groups_t *g, const adv_chunks_t *k,
                              adv_site_counters_t *out)
{
    memset(out, 0, g->n * sizeof *out);
    for (size_t r = 0; k->has_advice && r < t->snap.nrows; r++) {
        const pa_group_t *x = g->row_group[r];
        const adv_stack_t *s = x ? chunks_stack(k, t->snap.rows[r].stack_id) : NULL;
        if (!s)
            continue;
        adv_site_counters_t *c = &out[x - g->all];
        c->counted_allocs += s->allocs;
        c->temporaries += s->temporaries;
        c->realloc_grows += s->realloc_grows;
        c->realloc_old_bytes += s->realloc_old_bytes;
        c->realloc_new_bytes += s->realloc_new_bytes;
        c->cross_thread_frees += s->cross_thread_frees;
    }
    size_t pos = 0;
    for (size_t r = 0; k->row_ages && r < t->snap.nrows; r++) {
        const pa_group_t *x = g->row_group[r];
        uint64_t freed_timed = ages_get(k->row_ages, &pos);
        uint64_t short_lived = ages_get(k->row_ages, &pos);
        if (!x)
            continue;
        adv_site_counters_t *c = &out[x - g->all];
        c->freed_timed += freed_timed;
        c->short_lived += short_lived;
    }
}

/* ---- advice ---------------------------------------------------------------------------------- */

enum { ADV_COUNT, ADV_BYTES, ADV_NS, ADV_PERCENT, ADV_RATIO };

typedef struct {
    const char *key; /* JSON member and text label */
    double v;
    int unit; /* ADV_* */
} adv_ev_t;

#define ADV_MAX_EV 10

typedef struct {
    const char *rule;
    size_t trace;       /* index of its trace; SIZE_MAX: over every trace */
    char *what;         /* what to change */
    pa_frame_t *frames; /* where (copies); nframes 0 with where set: not a call site */
    size_t nframes;
    char *note;
    char *where; /* "function (file:line)", or what it is about ("the process", a lock) */
    adv_ev_t ev[ADV_MAX_EV];
    size_t nev;
    const char *gain_unit; /* "allocations", "bytes" or "ns" */
    uint64_t gain;
    char *gain_text;
    bool estimated; /* its heap figures come from a byte-sampled trace (PERFSHIM_SAMPLE) */
} adv_t;

typedef struct {
    adv_t *v;
    size_t n, cap;
    pa_strlist_t skipped_ids, skipped_why; /* one entry per rule id, the first reason */
    bool sampled; /* some trace judged was byte-sampled (leak.every_process's sums too) */
} adv_list_t;

/* The trace being judged. */
typedef struct {
    const char *path;
    pa_trace_t *t;
    size_t index;
    size_t nth;   /* traces judged so far, this one included (leak.every_process) */
    bool several; /* more than one trace given: leak.every_process keeps the leaking sites */
    pa_symbols_t *syms;
    pa_groups_t g;
    const pa_suppress_t *supp;
    adv_chunks_t chunks;            /* what the rules read of AGES and ADVICE */
    adv_site_counters_t *counters;  /* by group, index into g.all */
    uint32_t *rows_of, *rows_first; /* site_sizes(): the rows by group, from rows_first[group] */
    adv_list_t *out;
    struct leak_site **sites; /* leak.every_process: every trace's leaking sites (rule_leak) */
    size_t leak_groups[ADV_LEAK_TOP]; /* the groups rule_leak advised (growth skips them) */
    size_t nleak_groups;
} adv_ctx_t;

/* A leaking site over every trace, keyed by its visible frames (function, file, line). Only a
 * site leaking in every trace so far is kept, as a hash of that key and its sums; the key and
 * frames themselves are copied only for the few sites ranked high enough to be printed. */
typedef struct leak_site {
    uint64_t h[2]; /* two 64-bit hashes of the key: a collision is a 2^-128 event */
    size_t traces; /* traces leaking here */
    size_t last;   /* the last trace counted (a site counts once per trace) */
    size_t group;  /* its group in trace `last` */
    uint64_t blocks, bytes;
    char *key;          /* with frames: the ranked candidates only (every_process) */
    pa_frame_t *frames; /* of a trace that leaked here */
    size_t nframes;
    char *note;
    UT_hash_handle hh;
} leak_site_t;

static void adv_free(adv_t *a)
{
    free(a->what);
    free(a->where);
    free(a->gain_text);
    pa_merge_free_frames(a->frames, a->nframes, a->note);
}

static char *vfmt(const char *fmt, va_list ap)
{
    pa_str_t b = {0};
    pa_str_vprintf(&b, fmt, ap);
    char *s = pa_util_strdup(pa_str_get(&b));
    pa_str_free(&b);
    return s;
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    char *s = vfmt(f, ap);
    va_end(ap);
    return s;
}

/* A new piece of advice of rule `rule` for the current trace; NULL when out of memory. */
static adv_t *adv_new(adv_ctx_t *c, const char *rule)
{
    adv_list_t *l = c->out;
    if (pa_util_grow((void **)&l->v, &l->cap, l->n + 1, sizeof *l->v) != PA_OK)
        return NULL;
    adv_t *a = &l->v[l->n++];
    memset(a, 0, sizeof *a);
    a->rule = rule;
    a->trace = c->index;
    /* a byte-sampled trace's counters are estimates; the lock and latency rules read timing
     * chunks, which sampling does not touch */
    bool timing = strncmp(rule, "lock.", 5) == 0 || strcmp(rule, "cond.wake") == 0 ||
                  strcmp(rule, "alloc_latency") == 0;
    a->estimated = !timing && (c->t ? pa_report_est(c->t)[0] != 0 : l->sampled);
    return a;
}

static void ev(adv_t *a, const char *key, double v, int unit)
{
    if (a->nev < ADV_MAX_EV)
        a->ev[a->nev++] = (adv_ev_t){key, v, unit};
}

/* The frames of view v as the advice's place: copies, and the innermost frame as its `where`. */
static int place_view(adv_t *a, const pa_stackview_t *v)
{
    if (pa_merge_copy_view(v, &a->frames, &a->nframes, &a->note) != PA_OK)
        return PA_ENOMEM;
    char buf[512];
    if (a->nframes) {
        const pa_frame_t *f = &a->frames[0];
        char brief[256];
        if (f->file && *f->file)
            snprintf(buf, sizeof buf, "%s (%s:%u)", pa_report_frame_brief(f, brief, sizeof brief),
                     pa_util_basename(f->file), (unsigned)f->line);
        else
            snprintf(buf, sizeof buf, "%s", pa_report_frame_brief(f, brief, sizeof brief));
    } else {
        snprintf(buf, sizeof buf, "%s", a->note ? a->note : "unknown site");
    }
    a->where = pa_util_strdup(buf);
    return a->where ? PA_OK : PA_ENOMEM;
}

static int place_group(adv_ctx_t *c, adv_t *a, const pa_group_t *x)
{
    pa_stackview_t v = {0};
    int rc = pa_report_group_view(&c->g, x, &v);
    if (rc == PA_OK)
        rc = place_view(a, &v);
    pa_report_stack_view_free(&v);
    return rc;
}

static int place_stack(adv_ctx_t *c, adv_t *a, uint32_t stack_id, unsigned hide)
{
    pa_stackview_t v = {0};
    int rc = pa_report_stack_view(c->t, c->syms, stack_id, hide, &v);
    if (rc == PA_OK)
        rc = place_view(a, &v);
    pa_report_stack_view_free(&v);
    return rc;
}

static double share(uint64_t part, uint64_t whole)
{
    return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

/* ---- the rules ---------------------------------------------------------------------------------
 * Each returns PA_OK (judged: zero or more pieces of advice added), ADV_SKIPPED with *why set
 * (the trace lacks the data), or PA_ENOMEM. */

#define ADV_SKIPPED 100

/* A request of n bytes would be pooled under a limit of PS_POOL_LIMIT (the pool's byte table
 * leaves the loose lower part of a big class's band to the C library: sizeclass.h). */
static bool poolable(uint64_t n)
{
    if (n > PS_POOL_LIMIT)
        return false;
    unsigned k = ps_sizeclass_of((size_t)n);
    return n > PS_POOL_TABLE_MAX || n >= ps_sizeclass_pooled_from(k);
}

typedef struct {
    uint64_t mean, allocs, bytes;
    const pa_group_t *g;
} above_t;

static int above_cmp(const void *a, const void *b)
{
    const above_t *x = a, *y = b;
    if (x->mean != y->mean)
        return x->mean < y->mean ? -1 : 1;
    return x->allocs > y->allocs ? -1 : x->allocs < y->allocs;
}

static int rule_pool_max(adv_ctx_t *c, const char **why)
{
    const pa_pool_t *p = pa_model_pool(c->t);
    if (!p) {
        *why = "trace has no POOL chunk (the pool was off)";
        return ADV_SKIPPED;
    }
    if (p->max_size >= PS_POOL_LIMIT)
        return PA_OK; /* already the largest limit */
    above_t *v = malloc((c->g.n ? c->g.n : 1) * sizeof *v);
    if (!v)
        return PA_ENOMEM;
    size_t n = 0;
    uint64_t above = 0, above_bytes = 0;
    for (size_t i = 0; i < c->g.n; i++) {
        const pa_group_t *gs = &c->g.all[i]; /* its allocs and bytes */
        if (!gs->allocs)
            continue;
        uint64_t mean = (gs->alloc_bytes + gs->allocs - 1) / gs->allocs;
        if (mean <= p->max_size || !poolable(mean))
            continue;
        v[n++] = (above_t){mean, gs->allocs, gs->alloc_bytes, &c->g.all[i]};
        above += gs->allocs;
        above_bytes += gs->alloc_bytes;
    }
    const pa_totals_t *tot = &c->t->snap.totals;
    int rc = PA_OK;
    if (above < ADV_POOL_MIN_ALLOCS || (double)above < ADV_POOL_MIN_SHARE * (double)tot->allocs)
        goto out;
    qsort(v, n, sizeof *v, above_cmp);
    /* the smallest class that pools ADV_POOL_COVER of them */
    uint64_t seen = 0, limit = 0;
    for (size_t i = 0; i < n && !limit; i++) {
        seen += v[i].allocs;
        if ((double)seen >= ADV_POOL_COVER * (double)above)
            limit = ps_sizeclass_size[ps_sizeclass_of((size_t)v[i].mean)];
    }
    uint64_t gain = 0, gain_bytes = 0;
    const pa_group_t *top = NULL;
    uint64_t top_allocs = 0;
    for (size_t i = 0; i < n; i++)
        if (v[i].mean <= limit) {
            gain += v[i].allocs;
            gain_bytes += v[i].bytes;
            if (v[i].allocs > top_allocs) {
                top_allocs = v[i].allocs;
                top = v[i].g;
            }
        }
    uint64_t pooled = 0, hits = 0, top_class = 0, top_class_allocs = 0;
    for (size_t i = 0; i < p->nclasses; i++) {
        pooled += p->classes[i].allocs;
        hits += p->classes[i].hits;
        if (p->classes[i].allocs > top_class_allocs) {
            top_class_allocs = p->classes[i].allocs;
            top_class = p->classes[i].size;
        }
    }
    adv_t *a = adv_new(c, "pool.max");
    if (!a || !(a->what = fmt("set PERFSHIM_POOL_MAX=%llu (now %llu): %.1f%% of the allocations "
                              "are larger and go to the C library",
                              (unsigned long long)limit, (unsigned long long)p->max_size,
                              share(above, tot->allocs)))) {
        rc = PA_ENOMEM;
        goto out;
    }
    ev(a, "pool_max", (double)p->max_size, ADV_BYTES);
    ev(a, "suggested_pool_max", (double)limit, ADV_BYTES);
    ev(a, "allocations", (double)tot->allocs, ADV_COUNT);
    ev(a, "allocations_above_max", (double)above, ADV_COUNT);
    ev(a, "allocations_above_max_share", share(above, tot->allocs), ADV_PERCENT);
    ev(a, "bytes_above_max_share", share(above_bytes, tot->alloc_bytes), ADV_PERCENT);
    ev(a, "pooled_allocations", (double)pooled, ADV_COUNT);
    ev(a, "pool_hit_rate", share(hits, pooled), ADV_PERCENT);
    if (pooled) { /* which class carries the pool's traffic now */
        ev(a, "busiest_class", (double)top_class, ADV_BYTES);
        ev(a, "busiest_class_share", share(top_class_allocs, pooled), ADV_PERCENT);
    }
    a->gain_unit = "allocations";
    a->gain = gain;
    a->gain_text = fmt("%llu allocations (%llu bytes) served by the pool instead of the C library",
                       (unsigned long long)gain, (unsigned long long)gain_bytes);
    rc = a->gain_text ? place_group(c, a, top) : PA_ENOMEM;
out:
    free(v);
    return rc;
}

static int rule_short_lived(adv_ctx_t *c, const char **why)
{
    if (c->g.n && !c->chunks.has_ages) {
        *why = "trace has no AGES chunk at its last snapshot";
        return ADV_SKIPPED;
    }
    for (size_t i = 0; i < c->g.n; i++) {
        const adv_site_counters_t *s = &c->counters[i];
        const pa_group_t *gs = &c->g.all[i]; /* (its allocs and bytes: not in s) */
        if (s->freed_timed < ADV_SHORT_MIN_FREED ||
            (double)s->short_lived < ADV_SHORT_SHARE * (double)s->freed_timed)
            continue;
        adv_t *a = adv_new(c, "short_lived");
        uint64_t mean = gs->allocs ? gs->alloc_bytes / gs->allocs : 0;
        if (!a || !(a->what = fmt("reuse one buffer (or use the stack or an arena) for these "
                                  "%llu-byte blocks: %.1f%% of them are freed within %.3g ms",
                                  (unsigned long long)mean, share(s->short_lived, s->freed_timed),
                                  c->chunks.age_unit_s * 1e3)))
            return PA_ENOMEM;
        ev(a, "allocations", (double)gs->allocs, ADV_COUNT);
        ev(a, "mean_size", (double)mean, ADV_BYTES);
        ev(a, "freed_with_lifetime", (double)s->freed_timed, ADV_COUNT);
        ev(a, "short_lived", (double)s->short_lived, ADV_COUNT);
        ev(a, "short_lived_share", share(s->short_lived, s->freed_timed), ADV_PERCENT);
        ev(a, "age_unit_ns", c->chunks.age_unit_s * 1e9, ADV_NS);
        a->gain_unit = "allocations";
        a->gain = s->short_lived;
        a->gain_text = fmt("up to %llu allocations and frees (one buffer kept instead)",
                           (unsigned long long)s->short_lived);
        if (!a->gain_text || place_group(c, a, &c->g.all[i]) != PA_OK)
            return PA_ENOMEM;
    }
    return PA_OK;
}

/* Rules that need the shim's advice counters. */
static int needs_counters(adv_ctx_t *c, const char **why)
{
    if (!c->g.n || !c->chunks.has_advice) {
        *why = ADV_NO_COUNTERS;
        return ADV_SKIPPED;
    }
    return PA_OK;
}

/* "estimated from 1 in N allocations" when the counters are estimates, else "" (static). */
static const char *counters_note(const adv_chunks_t *k)
{
    static char buf[96];
    if (!k->estimated)
        return "";
    snprintf(buf, sizeof buf, " (estimated: 1 in %u allocations counted%s)", k->sample,
             k->sample > 1 ? "" : ", byte sampling");
    return buf;
}

static void counters_evidence(adv_t *a, const adv_chunks_t *k)
{
    ev(a, "counters_sample", (double)k->sample, ADV_COUNT);
    ev(a, "counters_estimated", k->estimated ? 1 : 0, ADV_COUNT);
}

/* The size histograms of group `group` (request sizes, then usable sizes, ADV_SIZE_BINS each),
 * summed over its rows' advice counters: the rows by group are listed on the first call (a
 * counting sort, 4 bytes a row and a group). PA_OK or PA_ENOMEM. */
static int site_sizes(adv_ctx_t *c, size_t group, uint64_t h[2 * ADV_SIZE_BINS])
{
    const pa_trace_t *t = c->t;
    memset(h, 0, 2 * ADV_SIZE_BINS * sizeof *h);
    if (!c->chunks.has_advice)
        return PA_OK;
    if (!c->rows_first) {
        if (!(c->rows_first = calloc(c->g.n + 1, sizeof *c->rows_first)) ||
            !(c->rows_of = malloc((t->snap.nrows ? t->snap.nrows : 1) * sizeof *c->rows_of)))
            return PA_ENOMEM;
        for (size_t r = 0; r < t->snap.nrows; r++)
            if (c->g.row_group[r])
                c->rows_first[c->g.row_group[r] - c->g.all + 1]++;
        for (size_t i = 0; i < c->g.n; i++)
            c->rows_first[i + 1] += c->rows_first[i];
        uint32_t *next = malloc((c->g.n ? c->g.n : 1) * sizeof *next);
        if (!next)
            return PA_ENOMEM;
        memcpy(next, c->rows_first, c->g.n * sizeof *next);
        for (size_t r = 0; r < t->snap.nrows; r++)
            if (c->g.row_group[r])
                c->rows_of[next[c->g.row_group[r] - c->g.all]++] = (uint32_t)r;
        free(next);
    }
    _Static_assert(ADV_SIZE_BINS == PS_ADV_BINS, "the shim's size bins");
    for (uint32_t k = c->rows_first[group]; k < c->rows_first[group + 1]; k++) {
        const adv_sizes_t *s = chunks_sizes(&c->chunks, t->snap.rows[c->rows_of[k]].stack_id);
        const uint64_t *n = s ? &c->chunks.bins[s->bin_first] : NULL;
        for (unsigned b = 0; s && b < ADV_SIZE_BINS; b++)
            if (s->req_mask >> b & 1)
                h[b] += *n++;
        for (unsigned b = 0; s && b < ADV_SIZE_BINS; b++)
            if (s->usable_mask >> b & 1)
                h[ADV_SIZE_BINS + b] += *n++;
    }
    return PA_OK;
}

/* The usable bytes handed out per requested byte, from the size histograms h (site_sizes; bin
 * midpoints): 0 when the site has no counted sizes. */
static double usable_ratio(const uint64_t h[2 * ADV_SIZE_BINS])
{
    double req = 0, usable = 0;
    for (unsigned b = 0; b < ADV_SIZE_BINS; b++) {
        double mid = b ? 1.5 * (double)(1ull << (b + 3)) : 12.0;
        req += mid * (double)h[b];
        usable += mid * (double)h[ADV_SIZE_BINS + b];
    }
    return req > 0 ? usable / req : 0;
}

/* A site that short_lived advises already (its condition): temporaries leaves it to that rule,
 * so that one inefficiency gets one piece of advice (docs/tuning.md). */
static bool short_lived_fires(const adv_site_counters_t *s)
{
    return s->freed_timed >= ADV_SHORT_MIN_FREED &&
           (double)s->short_lived >= ADV_SHORT_SHARE * (double)s->freed_timed;
}

static int rule_temporaries(adv_ctx_t *c, const char **why)
{
    int rc = needs_counters(c, why);
    for (size_t i = 0; rc == PA_OK && i < c->g.n; i++) {
        const adv_site_counters_t *s = &c->counters[i];
        const pa_group_t *gs = &c->g.all[i]; /* (its allocs and bytes: not in s) */
        if (s->temporaries < ADV_TEMP_MIN ||
            (double)s->temporaries < ADV_TEMP_SHARE * (double)gs->allocs || short_lived_fires(s))
            continue;
        uint64_t mean = gs->allocs ? gs->alloc_bytes / gs->allocs : 0;
        uint64_t temps = s->temporaries < gs->allocs ? s->temporaries : gs->allocs;
        uint64_t sizes[2 * ADV_SIZE_BINS];
        if (site_sizes(c, i, sizes) != PA_OK)
            return PA_ENOMEM;
        adv_t *a = adv_new(c, "temporaries");
        if (!a || !(a->what = fmt("reuse one buffer for these %llu-byte blocks (or use the stack): "
                                  "%.1f%% of them are freed before the thread allocates again",
                                  (unsigned long long)mean, share(temps, gs->allocs))))
            return PA_ENOMEM;
        ev(a, "allocations", (double)gs->allocs, ADV_COUNT);
        ev(a, "mean_size", (double)mean, ADV_BYTES);
        ev(a, "temporaries", (double)s->temporaries, ADV_COUNT);
        ev(a, "temporaries_share", share(temps, gs->allocs), ADV_PERCENT);
        ev(a, "usable_per_requested_byte", usable_ratio(sizes), ADV_RATIO);
        counters_evidence(a, &c->chunks);
        a->gain_unit = "allocations";
        a->gain = temps;
        a->gain_text = fmt("up to %llu allocations and frees (one buffer kept per thread)%s",
                           (unsigned long long)temps, counters_note(&c->chunks));
        if (!a->gain_text || place_group(c, a, &c->g.all[i]) != PA_OK)
            return PA_ENOMEM;
    }
    return rc;
}

static int rule_realloc(adv_ctx_t *c, const char **why)
{
    int rc = needs_counters(c, why);
    for (size_t i = 0; rc == PA_OK && i < c->g.n; i++) {
        const adv_site_counters_t *s = &c->counters[i];
        const pa_group_t *gs = &c->g.all[i]; /* (its allocs and bytes: not in s) */
        if (s->realloc_grows < ADV_REALLOC_MIN_GROWS)
            continue;
        /* bytes after over bytes before: the mean factor, each realloc weighted by its size */
        double factor =
            s->realloc_old_bytes ? (double)s->realloc_new_bytes / (double)s->realloc_old_bytes : 0;
        uint64_t mean = gs->allocs ? gs->alloc_bytes / gs->allocs : 0;
        adv_t *a = adv_new(c, "realloc_growth");
        if (!a || !(a->what = fmt("reserve the capacity up front (or grow it geometrically): %llu "
                                  "reallocs grew blocks here, by %.2fx on average",
                                  (unsigned long long)s->realloc_grows, factor)))
            return PA_ENOMEM;
        ev(a, "allocations", (double)gs->allocs, ADV_COUNT);
        ev(a, "mean_size", (double)mean, ADV_BYTES);
        ev(a, "realloc_grows", (double)s->realloc_grows, ADV_COUNT);
        ev(a, "mean_growth_factor", factor, ADV_RATIO);
        ev(a, "bytes_before", (double)s->realloc_old_bytes, ADV_BYTES);
        ev(a, "bytes_after", (double)s->realloc_new_bytes, ADV_BYTES);
        counters_evidence(a, &c->chunks);
        a->gain_unit = "allocations";
        a->gain = s->realloc_grows;
        a->gain_text = fmt("up to %llu reallocs (each may copy the block)%s",
                           (unsigned long long)s->realloc_grows, counters_note(&c->chunks));
        if (!a->gain_text || place_group(c, a, &c->g.all[i]) != PA_OK)
            return PA_ENOMEM;
    }
    return rc;
}

static int rule_cross_thread(adv_ctx_t *c, const char **why)
{
    int rc = needs_counters(c, why);
    for (size_t i = 0; rc == PA_OK && i < c->g.n; i++) {
        const adv_site_counters_t *s = &c->counters[i];
        const pa_group_t *gs = &c->g.all[i]; /* (its allocs and bytes: not in s) */
        if (s->cross_thread_frees < ADV_XTHREAD_MIN ||
            (double)s->cross_thread_frees < ADV_XTHREAD_SHARE * (double)gs->allocs)
            continue;
        uint64_t mean = gs->allocs ? gs->alloc_bytes / gs->allocs : 0;
        uint64_t cross = s->cross_thread_frees < gs->allocs ? s->cross_thread_frees : gs->allocs;
        adv_t *a = adv_new(c, "cross_thread_free");
        if (!a || !(a->what = fmt("free these %llu-byte blocks on the thread that allocated them "
                                  "(hand them back, or recycle them in the consumer), or use an "
                                  "allocator built for producer-consumer: %.1f%% are freed by "
                                  "another thread",
                                  (unsigned long long)mean, share(cross, gs->allocs))))
            return PA_ENOMEM;
        ev(a, "allocations", (double)gs->allocs, ADV_COUNT);
        ev(a, "mean_size", (double)mean, ADV_BYTES);
        ev(a, "cross_thread_frees", (double)s->cross_thread_frees, ADV_COUNT);
        ev(a, "cross_thread_share", share(cross, gs->allocs), ADV_PERCENT);
        counters_evidence(a, &c->chunks);
        a->gain_unit = "allocations";
        a->gain = cross;
        a->gain_text = fmt("%llu frees that touch another thread's cache or arena%s",
                           (unsigned long long)cross, counters_note(&c->chunks));
        if (!a->gain_text || place_group(c, a, &c->g.all[i]) != PA_OK)
            return PA_ENOMEM;
    }
    return rc;
}

static int rule_tiny(adv_ctx_t *c, const char **why)
{
    (void)why;
    for (size_t i = 0; i < c->g.n; i++) {
        const pa_group_t *gs = &c->g.all[i]; /* its allocs and bytes */
        if (gs->allocs < ADV_TINY_MIN_ALLOCS || gs->alloc_bytes > ADV_TINY_MAX * gs->allocs)
            continue;
        double mean = (double)gs->alloc_bytes / (double)gs->allocs;
        const pa_group_t *x = &c->g.all[i];
        uint64_t batched = (gs->allocs + ADV_TINY_BATCH - 1) / ADV_TINY_BATCH;
        adv_t *a = adv_new(c, "tiny");
        if (!a || !(a->what = fmt("allocate these %.1f-byte objects in batches (an array, a "
                                  "pool or an arena) or embed them in their owner",
                                  mean)))
            return PA_ENOMEM;
        ev(a, "allocations", (double)gs->allocs, ADV_COUNT);
        ev(a, "mean_size", mean, ADV_RATIO);
        ev(a, "alloc_bytes", (double)gs->alloc_bytes, ADV_BYTES);
        a->gain_unit = "allocations";
        a->gain = gs->allocs - batched;
        a->gain_text = fmt("%llu allocations (one per %d objects), and each block's rounding "
                           "and header",
                           (unsigned long long)a->gain, ADV_TINY_BATCH);
        if (!a->gain_text || place_group(c, a, x) != PA_OK)
            return PA_ENOMEM;
    }
    return PA_OK;
}

static int rule_fragmentation(adv_ctx_t *c, const char **why)
{
    const pa_totals_t *tot = &c->t->snap.totals;
    if (!tot->rss_bytes) {
        *why = "trace has no RSS";
        return ADV_SKIPPED;
    }
    if (tot->rss_bytes < tot->live_bytes + ADV_FRAG_MIN_BYTES ||
        (double)tot->rss_bytes < ADV_FRAG_RATIO * (double)tot->live_bytes)
        return PA_OK;
    const pa_pool_t *p = pa_model_pool(c->t);
    uint64_t in_use = 0, free_blocks = 0;
    for (size_t i = 0; p && i < p->nclasses; i++) {
        in_use += p->classes[i].bytes_in_use;
        free_blocks += p->classes[i].bytes_cached + p->classes[i].bytes_central;
    }
    uint64_t excess = tot->rss_bytes - tot->live_bytes;
    adv_t *a = adv_new(c, "fragmentation");
    if (!a)
        return PA_ENOMEM;
    if (p && p->empty_bytes >= excess / 2)
        a->what = fmt("empty pool slabs stay resident: lower PERFSHIM_POOL_DECAY (now the "
                      "default 1000 ms or as set) so they go back to the OS sooner");
    else if (p && free_blocks >= excess / 2)
        a->what = fmt("the pool's slabs are mostly free blocks pinned by a few live ones: "
                      "allocate long-lived objects apart from short-lived ones (a separate "
                      "arena), or free them together");
    else
        a->what = fmt("the C library keeps freed memory: call malloc_trim(0) after freeing a "
                      "large working set, or limit arenas (MALLOC_ARENA_MAX)");
    if (!a->what)
        return PA_ENOMEM;
    ev(a, "rss_bytes", (double)tot->rss_bytes, ADV_BYTES);
    ev(a, "live_bytes", (double)tot->live_bytes, ADV_BYTES);
    ev(a, "peak_live_bytes", (double)tot->peak_live_bytes, ADV_BYTES);
    ev(a, "rss_per_live_byte",
       tot->live_bytes ? (double)tot->rss_bytes / (double)tot->live_bytes : 0, ADV_RATIO);
    if (p) {
        ev(a, "pool_empty_slab_bytes", (double)p->empty_bytes, ADV_BYTES);
        ev(a, "pool_free_block_bytes", (double)free_blocks, ADV_BYTES);
        ev(a, "pool_in_use_bytes", (double)in_use, ADV_BYTES);
    }
    a->gain_unit = "bytes";
    a->gain = excess;
    a->gain_text =
        fmt("up to %llu bytes of RSS (resident beyond the live heap)", (unsigned long long)excess);
    a->where = pa_util_strdup("the whole process");
    return a->gain_text && a->where ? PA_OK : PA_ENOMEM;
}

static const pa_locks_t *locks_of(adv_ctx_t *c, const char **why)
{
    if (!c->t->has_locks) {
        *why = "trace has no LOCKS chunk (run with PERFSHIM_LOCKS=1)";
        return NULL;
    }
    return &c->t->locks;
}

/* The acquiring site of lock li that waited longest (its stack), or 0; *nsites gets the sites
 * taking at least ADV_SHARD_SITE_SHARE of the lock's acquisitions. Acquisitions, not waits or
 * collisions: on a loaded machine a lock collides mostly when its holder is preempted, a few
 * times per run at random sites, while the share of acquisitions is a property of the code. */
static uint32_t lock_top_site(const pa_locks_t *L, size_t li, size_t *nsites)
{
    uint64_t best = 0, total = 0;
    uint32_t id = 0;
    *nsites = 0;
    for (size_t i = 0; i < L->nsites; i++)
        if (L->sites[i].lock_index == li)
            total += L->sites[i].acquisitions; /* estimates, like every site's */
    for (size_t i = 0; i < L->nsites; i++) {
        const pa_lock_site_t *s = &L->sites[i];
        if (s->lock_index != li)
            continue;
        if (s->acquisitions && (double)s->acquisitions >= ADV_SHARD_SITE_SHARE * (double)total)
            (*nsites)++;
        if (!id || s->wait_ns > best) {
            best = s->wait_ns;
            id = s->stack_id;
        }
    }
    return id;
}

static int lock_place(adv_ctx_t *c, adv_t *a, uint32_t site, const pa_lock_t *k)
{
    uint32_t id = site ? site : k->first_use_stack;
    if (id)
        return place_stack(c, a, id, PA_HIDE_SHIM | PA_HIDE_LOCK_WRAPPERS);
    a->where = fmt("%s 0x%llx", pa_locks_kind_name(k->kind), (unsigned long long)k->address);
    return a->where ? PA_OK : PA_ENOMEM;
}

static uint64_t exclusive_acq(const pa_lock_t *k)
{
    return k->acquisitions > k->read_acquisitions ? k->acquisitions - k->read_acquisitions : 0;
}

static void lock_evidence(adv_t *a, const pa_lock_t *k, size_t nsites)
{
    ev(a, "acquisitions", (double)k->acquisitions, ADV_COUNT);
    ev(a, "contended", (double)k->contended, ADV_COUNT);
    ev(a, "wait_ns", (double)k->wait_ns, ADV_NS);
    ev(a, "max_wait_ns", (double)k->max_wait_ns, ADV_NS);
    uint64_t ex = exclusive_acq(k);
    ev(a, "mean_hold_ns", ex && k->hold_samples ? (double)k->hold_ns / (double)ex : 0, ADV_NS);
    ev(a, "busy_sites", (double)nsites, ADV_COUNT);
}

/* The one piece of advice a lock gets (lock_choice), if any. */
enum { LK_NONE, LK_SHARD, LK_RWLOCK, LK_HOLD };

/* Which lock rule lock li falls under, with its busiest waiting site and its busy sites. In this
 * order: many sites keep it busy (lock.shard); a rwlock taken nearly always in write mode
 * (lock.rwlock: the data shows it); a long hold (lock.hold); a mutex with short holds and waiters
 * queued several deep and a tenth of its acquisitions colliding (lock.rwlock, worded "if these
 * sections only read": a trace cannot see whether a section writes; the share keeps out the
 * few collisions a preempted holder makes on a loaded machine, which queue deep too). A mean hold
 * includes the holders preempted while holding it, so on a loaded machine it says little about the
 * code: sites decide first. */
static int lock_choice(const pa_locks_t *L, size_t li, size_t *nsites, uint32_t *site)
{
    const pa_lock_t *k = &L->locks[li];
    *nsites = 0;
    *site = 0;
    if (!pa_locks_is_lock(k) || k->wait_ns < ADV_LOCK_MIN_WAIT_NS || !k->hold_samples)
        return LK_NONE;
    *site = lock_top_site(L, li, nsites);
    if (*nsites >= ADV_SHARD_MIN_SITES && k->contended >= ADV_SHARD_MIN_CONTENDED)
        return LK_SHARD;
    uint64_t ex = exclusive_acq(k);
    double hold = ex ? (double)k->hold_ns / (double)ex : 0;
    if (k->kind == PS_LOCK_RWLOCK && k->contended >= ADV_SHARD_MIN_CONTENDED &&
        (double)ex >= ADV_RW_WRITE_SHARE * (double)k->acquisitions)
        return LK_RWLOCK;
    if (hold >= ADV_LOCK_LONG_HOLD_NS && k->contended >= ADV_HOLD_MIN_CONTENDED)
        return LK_HOLD; /* one or two collisions are a preempted holder, not a queue */
    if (k->kind == PS_LOCK_MUTEX && k->contended >= ADV_SHARD_MIN_CONTENDED &&
        (double)k->contended >= ADV_RW_CONTENDED_SHARE * (double)k->acquisitions &&
        hold >= ADV_RW_MIN_HOLD_NS &&
        (double)k->wait_ns / (double)k->contended >= ADV_RW_QUEUE * hold)
        return LK_RWLOCK;
    return LK_NONE;
}

/* lock.hold, lock.shard and lock.rwlock: one walk over the locks, `which` choosing. */
static int lock_rule(adv_ctx_t *c, const char **why, int which)
{
    const pa_locks_t *L = locks_of(c, why);
    if (!L)
        return ADV_SKIPPED;
    static const char *const ids[] = {
        [LK_SHARD] = "lock.shard", [LK_RWLOCK] = "lock.rwlock", [LK_HOLD] = "lock.hold"};
    for (size_t li = 0; li < L->nlocks; li++) {
        const pa_lock_t *k = &L->locks[li];
        size_t nsites;
        uint32_t site;
        if (lock_choice(L, li, &nsites, &site) != which)
            continue;
        uint64_t ex = exclusive_acq(k);
        double hold = ex ? (double)k->hold_ns / (double)ex : 0;
        adv_t *a = adv_new(c, ids[which]);
        if (!a)
            return PA_ENOMEM;
        char b1[32], b2[32];
        double queue =
            k->contended && hold > 0 ? (double)k->wait_ns / (double)k->contended / hold : 0;
        if (which == LK_SHARD)
            a->what = fmt("shard this %s (one per bucket or per thread, or a lock-free counter): "
                          "%zu call sites take it",
                          pa_locks_kind_name(k->kind), nsites);
        else if (which == LK_HOLD)
            a->what = fmt("shorten the critical section: the %s is held %s per acquisition "
                          "while other threads wait",
                          pa_locks_kind_name(k->kind), pa_util_format_ns(hold, b1, sizeof b1));
        else if (k->kind == PS_LOCK_RWLOCK)
            a->what = fmt("this rwlock is taken in write mode %.1f%% of the time: take it with "
                          "pthread_rwlock_rdlock where a section only reads, so that readers "
                          "run together; if every section writes, a mutex is cheaper",
                          share(ex, k->acquisitions));
        else
            a->what = fmt(
                "if these sections only read the data the mutex guards, make it a "
                "pthread_rwlock_t taken with rdlock there: its waiters queue %.1f "
                "holds deep (each waits %s for holds of %s)",
                queue, pa_util_format_ns((double)k->wait_ns / (double)k->contended, b1, sizeof b1),
                pa_util_format_ns(hold, b2, sizeof b2));
        if (!a->what)
            return PA_ENOMEM;
        lock_evidence(a, k, nsites);
        if (which == LK_RWLOCK) {
            ev(a, "read_acquisitions", (double)k->read_acquisitions, ADV_COUNT);
            ev(a, "write_share", share(ex, k->acquisitions), ADV_PERCENT);
            ev(a, "queue_depth", queue, ADV_RATIO);
        }
        a->gain_unit = "ns";
        /* halving the hold halves the queue behind it; 4 shards leave 1/4 of the collisions;
         * readers that run together wait for writers only: at most the whole wait */
        a->gain = which == LK_SHARD  ? k->wait_ns - k->wait_ns / 4
                  : which == LK_HOLD ? k->wait_ns / 2
                                     : k->wait_ns;
        if (which == LK_RWLOCK)
            a->gain_text = fmt("up to %s of the readers' waiting (all of it if no section "
                               "writes); writers may wait longer: glibc's rwlocks prefer readers",
                               pa_util_format_ns((double)a->gain, b1, sizeof b1));
        else
            a->gain_text = fmt(
                "about %s of waiting (%s)", pa_util_format_ns((double)a->gain, b1, sizeof b1),
                which == LK_SHARD ? "4 shards: 3/4 of the wait" : "the hold halved: half the wait");
        if (!a->gain_text || lock_place(c, a, site, k) != PA_OK)
            return PA_ENOMEM;
    }
    return PA_OK;
}

static int rule_lock_hold(adv_ctx_t *c, const char **why)
{
    return lock_rule(c, why, LK_HOLD);
}

static int rule_lock_shard(adv_ctx_t *c, const char **why)
{
    return lock_rule(c, why, LK_SHARD);
}

static int rule_lock_rwlock(adv_ctx_t *c, const char **why)
{
    return lock_rule(c, why, LK_RWLOCK);
}

static int rule_cond_wake(adv_ctx_t *c, const char **why)
{
    const pa_locks_t *L = locks_of(c, why);
    if (!L)
        return ADV_SKIPPED;
    for (size_t li = 0; li < L->nlocks; li++) {
        const pa_lock_t *k = &L->locks[li];
        if (k->kind != PS_LOCK_COND || !k->has_wakes || k->wakes < ADV_COND_MIN_WAKES)
            continue;
        double mean = (double)k->wake_ns / (double)k->wakes;
        if (mean < ADV_COND_MEAN_NS)
            continue;
        adv_t *a = adv_new(c, "cond.wake");
        char b1[32];
        if (!a || !(a->what = fmt("waiters take %s on average to run after a signal: signal "
                                  "after unlocking the mutex, hold it less, or hand work over "
                                  "in batches",
                                  pa_util_format_ns(mean, b1, sizeof b1))))
            return PA_ENOMEM;
        ev(a, "wakes", (double)k->wakes, ADV_COUNT);
        ev(a, "wake_ns", (double)k->wake_ns, ADV_NS);
        ev(a, "mean_wake_ns", mean, ADV_NS);
        ev(a, "max_wake_ns", (double)k->max_wake_ns, ADV_NS);
        a->gain_unit = "ns";
        a->gain = k->wake_ns / 2;
        a->gain_text = fmt("about %s of wake-up latency (half of it)",
                           pa_util_format_ns((double)a->gain, b1, sizeof b1));
        size_t nsites;
        if (!a->gain_text || lock_place(c, a, lock_top_site(L, li, &nsites), k) != PA_OK)
            return PA_ENOMEM;
    }
    return PA_OK;
}

static int rule_alloc_latency(adv_ctx_t *c, const char **why)
{
    if (!c->t->has_latency) {
        *why = "trace has no LATENCY chunk (run with PERFSHIM_LATENCY_SAMPLE)";
        return ADV_SKIPPED;
    }
    const pa_latency_t *L = &c->t->latency;
    static const char *const ops[] = {"malloc", "free", "realloc"};
    for (size_t i = 0; i < L->nrows; i++) {
        const pa_latency_row_t *r = &L->rows[i];
        if (r->hist.count < ADV_LAT_MIN_COUNT)
            continue;
        uint64_t p50 = pa_hist_ns(pa_hist_percentile(&r->hist, 0.5), L->tick_hz);
        uint64_t p99 = pa_hist_ns(pa_hist_percentile(&r->hist, 0.99), L->tick_hz);
        if (p99 < ADV_LAT_MIN_P99_NS || (double)p99 < ADV_LAT_RATIO * (double)(p50 ? p50 : 1))
            continue;
        double mean = (double)pa_hist_ns((uint64_t)pa_hist_mean(&r->hist), L->tick_hz);
        adv_t *a = adv_new(c, "alloc_latency");
        const char *op = r->op < 3 ? ops[r->op] : "?";
        char bin[64];
        if (r->size_max == UINT32_MAX)
            snprintf(bin, sizeof bin, "%s of the largest sizes", op); /* the open last bin */
        else
            snprintf(bin, sizeof bin, "%s of up to %u bytes", op, r->size_max);
        if (!a ||
            !(a->what = fmt("%s has a slow tail (p99 %.0fx p50): look for page faults "
                            "(pre-fault or reuse memory), mmap-sized requests or arena "
                            "lock contention",
                            bin, (double)p99 / (double)(p50 ? p50 : 1))) ||
            !(a->where = pa_util_strdup(bin)))
            return PA_ENOMEM;
        ev(a, "timed_calls", (double)r->hist.count, ADV_COUNT);
        ev(a, "sample", (double)L->sample, ADV_COUNT);
        ev(a, "p50_ns", (double)p50, ADV_NS);
        ev(a, "p99_ns", (double)p99, ADV_NS);
        ev(a, "mean_ns", mean, ADV_NS);
        a->gain_unit = "ns";
        double tail = mean > (double)p50 ? (mean - (double)p50) * (double)r->hist.count : 0;
        a->gain = (uint64_t)(tail * (double)(L->sample ? L->sample : 1));
        char b1[32];
        a->gain_text = fmt("up to %s of allocator time (every call at the median)",
                           pa_util_format_ns((double)a->gain, b1, sizeof b1));
        if (!a->gain_text)
            return PA_ENOMEM;
    }
    return PA_OK;
}

/* leaked_by_group's lost rows, by stack id: the id high, the row's index low. */
static int lost_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Leaked blocks and bytes of each group: definitely and indirectly lost ones when the trace
 * classified its leaks, else every live block of an exit snapshot. */
static int leaked_by_group(adv_ctx_t *c, uint64_t (*out)[2])
{
    size_t nk;
    const ps_row_leak_kind_t *kr = pa_model_leak_kinds(c->t, &nk);
    if (!kr) {
        for (size_t i = 0; i < c->g.n; i++) {
            out[i][0] = c->g.all[i].live_blocks;
            out[i][1] = c->g.all[i].live_bytes;
        }
        return PA_OK;
    }
    /* each classified row, through its stack's row of the snapshot to that row's group: the
     * lost rows by stack id (8 bytes a row, sorted), met by a search from each row of the
     * snapshot (a stack has one row there), where the rows' index by stack was made again for
     * this alone and held through every rule (2 MB of T2's advise peak) */
    uint64_t *lost = nk <= UINT32_MAX ? malloc((nk ? nk : 1) * sizeof *lost) : NULL;
    size_t nlost = 0;
    if (!lost)
        return PA_ENOMEM;
    for (size_t i = 0; i < nk; i++)
        if (kr[i].kind == PS_LEAK_DEFINITELY || kr[i].kind == PS_LEAK_INDIRECTLY)
            lost[nlost++] = (uint64_t)kr[i].stack_id << 32 | i;
    qsort(lost, nlost, sizeof *lost, lost_cmp);
    for (size_t r = 0; nlost && r < c->t->snap.nrows; r++) {
        const pa_group_t *x = c->g.row_group[r];
        uint32_t id = c->t->snap.rows[r].stack_id;
        if (!x)
            continue;
        size_t lo = 0, hi = nlost; /* the first lost row of stack id */
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (lost[mid] >> 32 < id)
                lo = mid + 1;
            else
                hi = mid;
        }
        for (; lo < nlost && lost[lo] >> 32 == id; lo++) {
            out[x - c->g.all][0] += kr[(uint32_t)lost[lo]].blocks;
            out[x - c->g.all][1] += kr[(uint32_t)lost[lo]].bytes;
        }
    }
    free(lost);
    return PA_OK;
}

/* A leaking group in rule_leak's ranking: 16 bytes (its blocks are read from leaked_by_group's
 * array), a compile's 175k of them sorted beside the groups and their counters at advise's
 * peak. */
typedef struct {
    uint64_t bytes;
    uint32_t group;
} leak_t;

static int leak_cmp(const void *a, const void *b, void *ctx)
{
    const leak_t *x = a, *y = b;
    (void)ctx;
    if (x->bytes != y->bytes)
        return x->bytes > y->bytes ? -1 : 1;
    return x->group < y->group ? -1 : x->group > y->group;
}

/* The key of view v's site over every trace: its visible frames' function, file and line. */
static void leak_key(const pa_stackview_t *v, pa_str_t *key)
{
    char brief[256];
    for (size_t f = 0; f < v->nframes; f++)
        pa_str_printf(key, "%s|%s|%u\n", pa_report_frame_brief(&v->frames[f], brief, sizeof brief),
                      v->frames[f].file ? v->frames[f].file : "", (unsigned)v->frames[f].line);
}

/* Two unrelated 64-bit hashes of s: FNV-1a, and a multiply-rotate one. */
static void leak_hash(const char *s, uint64_t h[2])
{
    uint64_t a = 0xcbf29ce484222325ull, b = 0x9e3779b97f4a7c15ull;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        a = (a ^ *p) * 0x100000001b3ull;
        b = (b + *p) * 0xff51afd7ed558ccdull;
        b ^= b >> 29;
    }
    h[0] = a;
    h[1] = b;
}

/* Counts group `group` (view v) as leaking in the current trace (leak.every_process). A site
 * is made in the first trace only: one missing there cannot leak in every process. */
static int leak_site_add(adv_ctx_t *c, const pa_stackview_t *v, size_t group, uint64_t blocks,
                         uint64_t bytes)
{
    pa_str_t key = {0};
    leak_key(v, &key);
    uint64_t h[2];
    leak_hash(pa_str_get(&key), h);
    pa_str_free(&key);
    leak_site_t *s;
    HASH_FIND(hh, *c->sites, h, sizeof h, s);
    if (!s) {
        if (c->nth > 1)
            return PA_OK;
        if (!(s = calloc(1, sizeof *s)))
            return PA_ENOMEM;
        memcpy(s->h, h, sizeof h);
        s->last = SIZE_MAX;
        HASH_ADD(hh, *c->sites, h, sizeof s->h, s);
    }
    if (s->last != c->index) {
        s->last = c->index;
        s->group = group;
        s->traces++;
    }
    s->blocks += blocks;
    s->bytes += bytes;
    return PA_OK;
}

static void leak_site_free(leak_site_t *s)
{
    pa_merge_free_frames(s->frames, s->nframes, s->note);
    free(s->key);
    free(s);
}

/* The most bytes first; equal bytes by hash (the candidates to print, leak_sites_keep). */
static int site_rank_cmp(const void *a, const void *b)
{
    const leak_site_t *x = *(leak_site_t *const *)a, *y = *(leak_site_t *const *)b;
    if (x->bytes != y->bytes)
        return x->bytes > y->bytes ? -1 : 1;
    if (x->h[0] != y->h[0])
        return x->h[0] < y->h[0] ? -1 : 1;
    return x->h[1] < y->h[1] ? -1 : x->h[1] > y->h[1];
}

/* The ADV_LEAK_TOP sites ranked first of those in *sites with `traces` traces, into v (room
 * for every site); returns how many. */
static size_t leak_sites_top(leak_site_t *sites, size_t traces, leak_site_t **v)
{
    size_t n = 0;
    for (leak_site_t *s = sites; s; s = s->hh.next)
        if (s->traces == traces)
            v[n++] = s;
    qsort(v, n, sizeof *v, site_rank_cmp);
    return n < ADV_LEAK_TOP ? n : ADV_LEAK_TOP;
}

/* After a trace's leaks: drops the sites this trace did not leak at (they cannot leak in every
 * process), and copies the key and frames of the sites now ranked to be printed that have none
 * yet. After the last trace the sites ranked first hold their frames (every_process). */
static int leak_sites_keep(adv_ctx_t *c)
{
    leak_site_t *s, *tmp;
    size_t n = 0;
    HASH_ITER(hh, *c->sites, s, tmp)
    {
        if (s->traces < c->nth) {
            HASH_DEL(*c->sites, s);
            leak_site_free(s);
        } else {
            n++;
        }
    }
    leak_site_t **v = malloc((n ? n : 1) * sizeof *v);
    if (!v)
        return PA_ENOMEM;
    size_t k = leak_sites_top(*c->sites, c->nth, v);
    int rc = PA_OK;
    for (size_t i = 0; i < k && rc == PA_OK; i++) {
        if (v[i]->key)
            continue;
        pa_stackview_t sv = {0};
        pa_str_t key = {0};
        rc = pa_report_group_view(&c->g, &c->g.all[v[i]->group], &sv);
        if (rc == PA_OK) {
            leak_key(&sv, &key);
            if (!(v[i]->key = pa_util_strdup(pa_str_get(&key))) ||
                pa_merge_copy_view(&sv, &v[i]->frames, &v[i]->nframes, &v[i]->note) != PA_OK)
                rc = PA_ENOMEM;
        }
        pa_str_free(&key);
        pa_report_stack_view_free(&sv);
    }
    free(v);
    return rc;
}

static int rule_leak(adv_ctx_t *c, const char **why)
{
    if (c->t->snap.reason != PS_SNAP_EXIT) {
        *why = "last snapshot is not at exit (leaks are judged at exit)";
        return ADV_SKIPPED;
    }
    uint64_t(*lk)[2] = calloc(c->g.n ? c->g.n : 1, sizeof *lk);
    int rc = lk ? leaked_by_group(c, lk) : PA_ENOMEM;
    size_t n = 0;
    for (size_t i = 0; rc == PA_OK && i < c->g.n; i++)
        n += lk[i][0] && c->g.all[i].suppressed_by < 0;
    leak_t *v = rc == PA_OK ? malloc((n ? n : 1) * sizeof *v) : NULL;
    if (rc == PA_OK && !v)
        rc = PA_ENOMEM;
    n = 0;
    for (size_t i = 0; rc == PA_OK && i < c->g.n; i++)
        if (lk[i][0] && c->g.all[i].suppressed_by < 0)
            v[n++] = (leak_t){lk[i][1], (uint32_t)i};
    /* one trace: the ADV_LEAK_TOP it advises, selected (a total order: the same as a sort's
     * first ones, and no sort's copy of every leaking group) */
    if (rc == PA_OK)
        pa_util_sort_top(v, n, sizeof *v, c->several ? 0 : ADV_LEAK_TOP, leak_cmp, NULL);
    /* the frames of the sites printed; with several traces, every leaking site's key */
    pa_stackview_t sv = {0};
    for (size_t i = 0; rc == PA_OK && i < n && (c->several || i < ADV_LEAK_TOP); i++) {
        const pa_group_t *x = &c->g.all[v[i].group];
        rc = pa_report_group_view(&c->g, x, &sv);
        if (rc == PA_OK && c->several && sv.nframes)
            rc = leak_site_add(c, &sv, v[i].group, lk[v[i].group][0], v[i].bytes);
        if (rc == PA_OK && i < ADV_LEAK_TOP) {
            adv_t *a = adv_new(c, "leak");
            if (!a ||
                !(a->what = fmt("free these blocks (rank %zu of %zu leaking sites)", i + 1, n)))
                rc = PA_ENOMEM;
            else {
                ev(a, "leaked_blocks", (double)lk[v[i].group][0], ADV_COUNT);
                ev(a, "leaked_bytes", (double)v[i].bytes, ADV_BYTES);
                ev(a, "allocations", (double)x->allocs, ADV_COUNT);
                a->gain_unit = "bytes";
                a->gain = v[i].bytes;
                a->gain_text =
                    fmt("%llu bytes in %llu block%s no longer lost", (unsigned long long)v[i].bytes,
                        (unsigned long long)lk[v[i].group][0], lk[v[i].group][0] == 1 ? "" : "s");
                rc = a->gain_text ? place_view(a, &sv) : PA_ENOMEM;
                c->leak_groups[c->nleak_groups++] = v[i].group;
            }
        }
    }
    pa_report_stack_view_free(&sv);
    if (rc == PA_OK && c->several)
        rc = leak_sites_keep(c);
    free(lk);
    free(v);
    (void)why;
    return rc;
}

/* growth: the growth report's suspects (analyzer/growth.c: a second pass over the file for the
 * series of the PA_GROWTH_FOLLOW sites with the highest peaks), growing steadily, ranked by
 * live bytes as leaks are; a site the leak rule advised in this trace is not repeated. */
typedef struct {
    const pa_group_t *g;
    pa_growth_site_t s;
} grow_t;

static int grow_cmp(const void *a, const void *b)
{
    const grow_t *x = a, *y = b;
    if (x->s.live != y->s.live)
        return x->s.live > y->s.live ? -1 : 1;
    return x->g->first_stack_id < y->g->first_stack_id
               ? -1
               : x->g->first_stack_id > y->g->first_stack_id;
}

static int rule_growth(adv_ctx_t *c, const char **why)
{
    if (c->t->nsnapshots < ADV_GROWTH_MIN_SNAPSHOTS) {
        *why = "trace has fewer than 5 snapshots (run with PERFSHIM_INTERVAL)";
        return ADV_SKIPPED;
    }
    pa_growth_set_t *set;
    int rc = pa_growth_collect_groups(c->t, c->path, c->syms, &c->g, &set);
    if (rc == PA_ENOMEM)
        return rc;
    if (rc != PA_OK) {
        *why = "the trace could not be read a second time for its series";
        return ADV_SKIPPED;
    }
    size_t n = pa_growth_set_sites(set), k = 0;
    grow_t *v = malloc((n ? n : 1) * sizeof *v);
    if (!v) {
        pa_growth_set_free(set);
        return PA_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        grow_t x;
        x.g = pa_growth_set_site(set, i, &x.s);
        bool leak = false;
        for (size_t l = 0; l < c->nleak_groups; l++)
            leak |= &c->g.all[c->leak_groups[l]] == x.g;
        if (leak || x.g->suppressed_by >= 0 || x.s.fit.cls > PA_GROWTH_SATURATING ||
            x.s.fit.confidence < ADV_GROWTH_MIN_CONFIDENCE || x.s.live < ADV_GROWTH_MIN_BYTES ||
            x.s.fit.bytes_per_second * 3600 < ADV_GROWTH_MIN_RATE)
            continue;
        v[k++] = x;
    }
    pa_growth_set_free(set);
    qsort(v, k, sizeof *v, grow_cmp);
    for (size_t i = 0; rc == PA_OK && i < k && i < ADV_LEAK_TOP; i++) {
        const grow_t *x = &v[i];
        char b1[32], b2[32];
        double hour = x->s.fit.bytes_per_second * 3600;
        adv_t *a = adv_new(c, "growth");
        if (!a || !(a->what = fmt(
                        "find who keeps these blocks: the site grows by %s/s (%s class, "
                        "rank %zu of %zu growing sites): a leak the exit does not show, or "
                        "a cache without a bound",
                        pa_util_format_bytes((uint64_t)x->s.fit.bytes_per_second, b1, sizeof b1),
                        pa_growth_class_name(x->s.fit.cls), i + 1, k))) {
            rc = PA_ENOMEM;
            break;
        }
        ev(a, "live_bytes", (double)x->s.live, ADV_BYTES);
        ev(a, "live_blocks", (double)x->s.blocks, ADV_COUNT);
        ev(a, "allocations", (double)x->s.allocs, ADV_COUNT);
        ev(a, "bytes_per_second", x->s.fit.bytes_per_second, ADV_RATIO);
        if (x->s.fit.has_per_event)
            ev(a, "bytes_per_allocation", x->s.fit.bytes_per_event, ADV_RATIO);
        ev(a, "confidence", x->s.fit.confidence, ADV_RATIO);
        ev(a, "snapshots", (double)c->t->nsnapshots, ADV_COUNT);
        a->gain_unit = "bytes";
        a->gain = x->s.live;
        a->gain_text =
            fmt("%llu bytes held at the last snapshot, and %s more every hour it runs",
                (unsigned long long)x->s.live, pa_util_format_bytes((uint64_t)hour, b2, sizeof b2));
        rc = a->gain_text ? place_group(c, a, x->g) : PA_ENOMEM;
    }
    free(v);
    return rc;
}

/* ---- the table ------------------------------------------------------------------------------- */

typedef struct {
    const char *id;
    int (*run)(adv_ctx_t *c, const char **why); /* NULL: judged over every trace (advise_all) */
    const char *change;                         /* what the advice proposes */
    const char *evidence;                       /* the numbers it cites */
} adv_rule_t;

static const adv_rule_t rules[] = {
    {"pool.max", rule_pool_max,
     "raise PERFSHIM_POOL_MAX to the class holding most requests above it",
     "allocations and bytes above the limit (by site mean size), the suggested limit, pool "
     "allocations, hit rate, busiest class"},
    {"short_lived", rule_short_lived, "reuse a buffer, use the stack or an arena",
     "allocations, freed blocks with a lifetime, share freed within one age unit"},
    {"temporaries", rule_temporaries, "reuse a buffer instead of a temporary",
     "allocations, temporaries (freed before the thread's next allocation) and their share, "
     "usable bytes per requested byte (advice counters)"},
    {"tiny", rule_tiny, "batch tiny objects into arrays or arenas",
     "allocations and mean size (<= 16 bytes) of one site"},
    {"realloc_growth", rule_realloc, "reserve capacity up front",
     "reallocs that grew a block and their mean growth factor (advice counters)"},
    {"fragmentation", rule_fragmentation,
     "malloc_trim, arena limits, pool decay or separate arenas",
     "RSS, live heap, the pool's empty slabs and free blocks"},
    {"cross_thread_free", rule_cross_thread, "change ownership or the allocator",
     "frees on a thread other than the allocating one and their share (advice counters)"},
    {"lock.hold", rule_lock_hold, "shorten the critical section",
     "acquisitions, contention, wait, mean hold"},
    {"lock.shard", rule_lock_shard, "shard a lock many sites wait on",
     "wait, contended acquisitions, mean hold, call sites with a tenth of the acquisitions or "
     "more"},
    {"lock.rwlock", rule_lock_rwlock, "let readers share a lock",
     "acquisitions in write mode, contention, wait per contended acquisition against the mean "
     "hold (queue depth)"},
    {"cond.wake", rule_cond_wake, "signal after unlocking, hand work over in batches",
     "wake-ups and their latency"},
    {"alloc_latency", rule_alloc_latency, "find what makes an allocator call slow",
     "timed calls, p50, p99, mean of a size bin"},
    {"leak", rule_leak, "free the blocks (ranked by bytes)", "leaked blocks and bytes of a site"},
    {"growth", rule_growth, "find who keeps a steadily growing site's blocks (ranked by bytes)",
     "live bytes and blocks, growth rate and class, confidence (perfshim growth)"},
    {"leak.every_process", NULL, "fix a leak every process of the program has",
     "processes leaking at the site"},
};
#define NRULES (sizeof rules / sizeof rules[0])

static int skip_rule(adv_list_t *l, const char *id, const char *why)
{
    for (size_t i = 0; i < l->skipped_ids.n; i++)
        if (strcmp(l->skipped_ids.items[i], id) == 0)
            return PA_OK;
    if (pa_strlist_add(&l->skipped_ids, id) != PA_OK)
        return PA_ENOMEM;
    return pa_strlist_add(&l->skipped_why, why);
}

/* ---- output ---------------------------------------------------------------------------------- */

static const char *ev_text(const adv_ev_t *e, char *buf, size_t size)
{
    switch (e->unit) {
    case ADV_BYTES:
        return pa_util_format_bytes((uint64_t)e->v, buf, size);
    case ADV_NS:
        return pa_util_format_ns(e->v, buf, size);
    case ADV_PERCENT:
        snprintf(buf, size, "%.1f%%", e->v);
        return buf;
    case ADV_RATIO:
        snprintf(buf, size, "%.2f", e->v);
        return buf;
    default:
        snprintf(buf, size, "%llu", (unsigned long long)e->v);
        return buf;
    }
}

/* Is this figure of a an estimate? Those of a byte-sampled trace are, but for what sampling
 * does not change: a count of processes or snapshots, a fit's confidence, a time unit. */
static bool ev_estimated(const adv_t *a, const adv_ev_t *e)
{
    return a->estimated && e->unit != ADV_NS && strcmp(e->key, "processes") != 0 &&
           strcmp(e->key, "snapshots") != 0 && strcmp(e->key, "confidence") != 0 &&
           strcmp(e->key, "counters_estimated") != 0;
}

static void advice_text(FILE *out, const adv_t *a, bool all_frames)
{
    fprintf(out, "[%s] %s\n", a->rule, a->what);
    fprintf(out, "  where: %s\n", a->where ? a->where : "?");
    if (a->nframes)
        pa_report_frames_text_n(out, NULL, a->frames, a->nframes, "    ", all_frames);
    fputs("  evidence:", out);
    for (size_t i = 0; i < a->nev; i++) {
        char b[64];
        fprintf(out, "%s %s %s%s", i ? "," : "", a->ev[i].key,
                ev_estimated(a, &a->ev[i]) ? "~" : "", ev_text(&a->ev[i], b, sizeof b));
    }
    fprintf(out, "\n  expected gain%s: %s\n",
            a->estimated ? " (estimated: a sampled trace, PERFSHIM_SAMPLE; ~ marks estimates)" : "",
            a->gain_text);
}

static void advice_json(pa_json_t *j, const adv_t *a)
{
    pa_json_object_begin(j, false);
    pa_json_key(j, "rule");
    pa_json_string(j, a->rule);
    pa_json_key(j, "trace");
    if (a->trace == SIZE_MAX)
        pa_json_null(j);
    else
        pa_json_u64(j, a->trace);
    pa_json_key(j, "what");
    pa_json_string(j, a->what);
    pa_json_key(j, "where");
    pa_json_string(j, a->where ? a->where : "");
    pa_report_stack_json(j, a->note, a->frames, a->nframes);
    pa_json_key(j, "evidence");
    pa_json_object_begin(j, true);
    for (size_t i = 0; i < a->nev; i++) {
        pa_json_key(j, a->ev[i].key);
        if (a->ev[i].unit == ADV_PERCENT || a->ev[i].unit == ADV_RATIO)
            pa_json_f64(j, a->ev[i].v);
        else
            pa_json_u64(j, (uint64_t)a->ev[i].v);
    }
    pa_json_object_end(j);
    pa_json_key(j, "gain");
    pa_json_object_begin(j, true);
    pa_json_kv_u64(j, a->gain_unit, a->gain);
    pa_json_object_end(j);
    pa_json_key(j, "gain_text");
    pa_json_string(j, a->gain_text);
    if (a->estimated) { /* present only then, as in the other reports */
        pa_json_key(j, "estimated");
        pa_json_bool(j, true);
    }
    pa_json_object_end(j);
}

/* ---- driving --------------------------------------------------------------------------------- */

const char pa_advise_help[] =
    "Usage: perfshim advise [OPTIONS] TRACE...\n"
    "\n"
    "Tuning advice with evidence: for each trace, what to change, where (the call stack), the\n"
    "numbers that show it, the expected gain, and the rule that found it. The rules and their\n"
    "thresholds are in docs/tuning.md: pool limit (pool.max), short-lived blocks\n"
    "(short_lived), tiny allocations (tiny), fragmentation, lock hold times (lock.hold), a\n"
    "lock many sites wait on (lock.shard), a lock readers could share (lock.rwlock),\n"
    "condition variable wake-ups (cond.wake), allocator latency tails (alloc_latency), leaks\n"
    "ranked by bytes (leak), sites that keep growing (growth), and with several traces a\n"
    "site leaking in every process (leak.every_process). Rules whose data a trace lacks are\n"
    "listed as skipped (lock rules need PERFSHIM_LOCKS=1, alloc_latency\n"
    "PERFSHIM_LATENCY_SAMPLE, growth PERFSHIM_INTERVAL).\n"
    "\n"
    "Options:\n"
    "      --json                 JSON output (format perfshim-advise)\n"
    "      --fail-on-advice       exit with status 1 when there is any advice\n"
    "      --all-frames           C++ standard library frames one per line (see leaks --help)\n"
    "  -h, --help                 show this help\n"
    "\n"
    "Exit status: 0 done; 1 advice given with --fail-on-advice; 2 usage error or no trace\n"
    "could be read.\n";

/* Judges one trace by every per-trace rule. */
static int judge_trace(const char *path, size_t index, size_t nth, bool several,
                       const pa_suppress_t *supp, adv_list_t *out, leak_site_t **sites,
                       pa_trace_t *t)
{
    adv_ctx_t c = {.path = path,
                   .t = t,
                   .index = index,
                   .nth = nth,
                   .several = several,
                   .supp = supp,
                   .out = out,
                   .sites = sites};
    if (pa_report_est(t)[0])
        out->sampled = true;
    int rc = chunks_take(t, &c.chunks);
    if (rc == PA_OK)
        rc = pa_symbols_new(t, &c.syms);
    /* the rows' index by stack is read by no rule (rule_leak searches the lost rows): made
     * again once the rules are done, not held beside the groups and counters (2 MB of T2's
     * peak) */
    pa_model_drop_row_index(t);
    if (rc == PA_OK)
        rc = pa_report_group(t, c.syms, false, &c.g);
    if (rc == PA_OK)
        rc = pa_report_group_suppress(&c.g, supp);
    if (rc == PA_OK) /* no rule sorts by key or matches a pattern: the trie goes (8 MB) */
        pa_report_groups_drop_keys(&c.g);
    if (rc == PA_OK && !(c.counters = calloc(c.g.n ? c.g.n : 1, sizeof *c.counters)))
        rc = PA_ENOMEM;
    if (rc == PA_OK) {
        adv_fill_counters(t, &c.g, &c.chunks, c.counters);
        free(c.chunks.row_ages); /* the counters hold the lifetimes the rules use */
        c.chunks.row_ages = NULL;
        chunks_keep_sizes(&c.chunks); /* ... and the stacks' counters, but their size bins */
    }
    for (size_t r = 0; rc == PA_OK && r < NRULES; r++) {
        if (!rules[r].run)
            continue;
        const char *why = NULL;
        rc = rules[r].run(&c, &why);
        if (rc == ADV_SKIPPED)
            rc = skip_rule(out, rules[r].id, why);
    }
    if (rc == PA_ENOMEM)
        pa_msg_error("%s: out of memory", path);
    free(c.counters);
    chunks_free(&c.chunks);
    free(c.rows_of);
    free(c.rows_first);
    if (c.syms) {
        pa_report_groups_free(&c.g);
        pa_symbols_free(c.syms);
    }
    /* the rows' index by stack, dropped for the grouping, back for the trace's next reader
     * (report --html's sections) */
    if (pa_model_index_rows(t) != PA_OK && rc == PA_OK) {
        pa_msg_error("%s: out of memory", path);
        rc = PA_ENOMEM;
    }
    return rc;
}

/* leak.every_process: a site (by its symbolized frames) leaking in every one of n >= 2 traces,
 * the most bytes first; the first ADV_LEAK_TOP (leak_sites_keep copied their frames). */
static int site_bytes_cmp(const void *a, const void *b)
{
    const leak_site_t *x = *(leak_site_t *const *)a, *y = *(leak_site_t *const *)b;
    if (x->bytes != y->bytes)
        return x->bytes > y->bytes ? -1 : 1;
    return strcmp(x->key, y->key);
}

static int every_process(adv_list_t *out, leak_site_t *sites, size_t ntraces)
{
    if (ntraces < 2)
        return skip_rule(out, "leak.every_process", "one trace (give every process's trace)");
    leak_site_t **v = malloc((HASH_COUNT(sites) ? HASH_COUNT(sites) : 1) * sizeof *v);
    if (!v)
        return PA_ENOMEM;
    size_t n = leak_sites_top(sites, ntraces, v);
    qsort(v, n, sizeof *v, site_bytes_cmp);
    adv_ctx_t c = {.index = SIZE_MAX, .out = out};
    int rc = PA_OK;
    for (size_t i = 0; i < n && rc == PA_OK; i++) {
        adv_t *a = adv_new(&c, "leak.every_process");
        pa_stackview_t sv = {.frames = v[i]->frames, .nframes = v[i]->nframes, .note = v[i]->note};
        if (!a ||
            !(a->what = fmt("fix this leak first: every one of the %zu processes has it", ntraces)))
            rc = PA_ENOMEM;
        else {
            ev(a, "processes", (double)ntraces, ADV_COUNT);
            ev(a, "leaked_blocks", (double)v[i]->blocks, ADV_COUNT);
            ev(a, "leaked_bytes", (double)v[i]->bytes, ADV_BYTES);
            a->gain_unit = "bytes";
            a->gain = v[i]->bytes;
            a->gain_text =
                fmt("%llu bytes over all the processes", (unsigned long long)v[i]->bytes);
            rc = a->gain_text ? place_view(a, &sv) : PA_ENOMEM;
        }
    }
    free(v);
    return rc;
}

static int parse_opts(int argc, char **argv, pa_advise_opts_t *o, bool *help, bool *fail)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},
        {"fail-on-advice", no_argument, NULL, 'f'},
        {"all-frames", no_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    opterr = 0;
    optind = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'j':
            o->json = true;
            break;
        case 'f':
            *fail = true;
            break;
        case 'a':
            o->all_frames = true;
            break;
        case 'h':
            *help = true;
            break;
        default:
            pa_msg_error("advise: unknown option '%s'; see 'perfshim help advise'",
                         argv[optind - 1]);
            return -1;
        }
    }
    return optind;
}

static void output(FILE *out, const adv_list_t *l, char *const *paths, const uint64_t *pids,
                   size_t n, const pa_advise_opts_t *o)
{
    if (o->json) {
        pa_json_t j;
        pa_json_init(&j, out);
        pa_json_object_begin(&j, false);
        pa_json_key(&j, "format");
        pa_json_string(&j, "perfshim-advise");
        pa_json_kv_u64(&j, "version", 1);
        pa_json_key(&j, "traces");
        pa_json_array_begin(&j, false);
        for (size_t i = 0; i < n; i++) {
            pa_json_object_begin(&j, true);
            pa_json_key(&j, "path");
            pa_json_string(&j, paths[i]);
            pa_json_key(&j, "pid");
            if (pids[i] == UINT64_MAX)
                pa_json_null(&j); /* unreadable */
            else
                pa_json_u64(&j, pids[i]);
            pa_json_object_end(&j);
        }
        pa_json_array_end(&j);
        pa_json_key(&j, "advice");
        pa_json_array_begin(&j, false);
        for (size_t i = 0; i < l->n; i++)
            advice_json(&j, &l->v[i]);
        pa_json_array_end(&j);
        pa_json_key(&j, "skipped_rules");
        pa_json_array_begin(&j, false);
        for (size_t i = 0; i < l->skipped_ids.n; i++) {
            pa_json_object_begin(&j, true);
            pa_json_key(&j, "id");
            pa_json_string(&j, l->skipped_ids.items[i]);
            pa_json_key(&j, "why");
            pa_json_string(&j, l->skipped_why.items[i]);
            pa_json_object_end(&j);
        }
        pa_json_array_end(&j);
        pa_json_object_end(&j);
        pa_json_finish(&j);
        return;
    }
    size_t shown = SIZE_MAX - 1;
    for (size_t i = 0; i < l->n; i++) {
        const adv_t *a = &l->v[i];
        if (a->trace != shown) {
            if (a->trace == SIZE_MAX)
                fprintf(out, "%sOver all %zu traces:\n", i ? "\n" : "", n);
            else
                fprintf(out, "%sAdvice for %s (pid %llu):\n", i ? "\n" : "", paths[a->trace],
                        (unsigned long long)pids[a->trace]);
            shown = a->trace;
        }
        fputc('\n', out);
        advice_text(out, a, o->all_frames);
    }
    if (!l->n)
        fputs("No advice: no rule's threshold was reached (docs/tuning.md).\n", out);
    else
        fprintf(out, "\n%zu piece%s of advice.\n", l->n, l->n == 1 ? "" : "s");
    if (l->skipped_ids.n)
        fputs("\nSkipped rules (the trace lacks their data):\n", out);
    for (size_t i = 0; i < l->skipped_ids.n; i++)
        fprintf(out, "  %s: %s\n", l->skipped_ids.items[i], l->skipped_why.items[i]);
}

struct pa_advise_run {
    adv_list_t l;
    leak_site_t *sites;
    pa_suppress_t supp;
    uint64_t *pids; /* by trace: its process id, UINT64_MAX: not judged (unreadable) */
    size_t n, loaded;
};

void pa_advise_free(pa_advise_run_t *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->l.n; i++)
        adv_free(&r->l.v[i]);
    free(r->l.v);
    pa_strlist_free(&r->l.skipped_ids);
    pa_strlist_free(&r->l.skipped_why);
    leak_site_t *s, *tmp;
    HASH_ITER(hh, r->sites, s, tmp)
    {
        HASH_DEL(r->sites, s);
        leak_site_free(s);
    }
    pa_suppress_free(&r->supp);
    free(r->pids);
    free(r);
}

int pa_advise_begin(size_t n, pa_advise_run_t **run)
{
    pa_advise_run_t *r = calloc(1, sizeof *r);
    *run = r;
    if (!r || !(r->pids = malloc((n ? n : 1) * sizeof *r->pids)) ||
        pa_suppress_add_defaults(&r->supp) != PA_OK) {
        pa_msg_error("advise: out of memory");
        return PA_ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        r->pids[i] = UINT64_MAX;
    r->n = n;
    return PA_OK;
}

int pa_advise_trace(pa_advise_run_t *r, const char *path, size_t i, pa_trace_t *t)
{
    r->pids[i] = t->has_process ? t->process.pid : 0;
    r->loaded++;
    return judge_trace(path, i, r->loaded, r->n > 1, &r->supp, &r->l, &r->sites, t);
}

int pa_advise_end(pa_advise_run_t *r, char *const *paths, size_t n, const pa_advise_opts_t *o,
                  FILE *out, size_t *nadvice)
{
    int rc = r && r->pids ? PA_OK : PA_ENOMEM;
    *nadvice = 0;
    if (rc == PA_OK && r->loaded)
        rc = every_process(&r->l, r->sites, r->loaded);
    if (rc == PA_OK && r->loaded) {
        output(out, &r->l, paths, r->pids, n, o);
        *nadvice = r->l.n;
    } else if (rc == PA_ENOMEM) {
        pa_msg_error("advise: out of memory");
    } else if (rc == PA_OK) {
        rc = PA_EIO; /* no trace could be read: each said why */
    }
    pa_advise_free(r);
    return rc;
}

int pa_advise_files(char *const *paths, size_t n, const pa_advise_opts_t *o, FILE *out,
                    size_t *nadvice)
{
    pa_advise_run_t *r;
    int rc = pa_advise_begin(n, &r);
    *nadvice = 0;
    if (rc != PA_OK) {
        pa_advise_free(r);
        return rc;
    }
    pa_symbols_share(n > 1);
    for (size_t i = 0; i < n && rc == PA_OK; i++) {
        pa_trace_t t;
        if (pa_model_load(paths[i], o->quiet, &t) != PA_OK)
            continue; /* said why */
        rc = pa_advise_trace(r, paths[i], i, &t);
        pa_model_free(&t);
    }
    pa_symbols_share(false);
    if (rc != PA_OK) {
        if (rc == PA_ENOMEM)
            pa_msg_error("advise: out of memory");
        pa_advise_free(r);
        return rc;
    }
    return pa_advise_end(r, paths, n, o, out, nadvice);
}

int pa_advise_json_files(char *const *paths, size_t n, FILE *out)
{
    pa_advise_opts_t o = {.json = true, .quiet = true};
    size_t nadvice = 0;
    return pa_advise_files(paths, n, &o, out, &nadvice);
}

int pa_advise_main(int argc, char **argv)
{
    pa_advise_opts_t o = {0};
    bool help = false, fail = false;
    int first = parse_opts(argc, argv, &o, &help, &fail);
    if (first < 0)
        return PA_EXIT_USAGE;
    if (help) {
        fputs(pa_advise_help, stdout);
        return PA_EXIT_OK;
    }
    if (first >= argc) {
        pa_msg_error("advise: no trace file given; see 'perfshim help advise'");
        return PA_EXIT_USAGE;
    }
    size_t nadvice;
    int rc = pa_advise_files(argv + first, (size_t)(argc - first), &o, stdout, &nadvice);
    if (rc != PA_OK)
        return PA_EXIT_USAGE;
    return fail && nadvice ? PA_EXIT_FINDINGS : PA_EXIT_OK;
}
