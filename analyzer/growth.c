/* SPDX-License-Identifier: MIT */
/*
 * growth.c — `perfshim growth`: which allocation sites keep growing. Two passes over the file,
 * as `perfshim timeline` makes:
 *   1. the model reads the whole trace; the rows of its last snapshot are grouped by symbolized
 *      stack (report.c) and the PA_GROWTH_FOLLOW groups with the highest peaks are followed;
 *   2. the model reads the file again, decoding only the rows of the followed stacks, and
 *      on_snapshot() adds each snapshot's time, and each site's live bytes and allocations,
 *      into one of at most PA_GROWTH_POINTS points (snapshot k of n goes to point k × m / n:
 *      each point is the mean of its snapshots).
 * Then each site's series is classified (pa_growth_classify: two least-squares lines with the
 * best breakpoint; docs/analyzer.md says what the thresholds mean), on a sampled trace its
 * confidence weighed by the samples behind it (pa_growth_weigh_samples), and the sites are ranked.
 * Memory: the model of pass 1 (stacks, one snapshot's rows, its groups), the rows of the
 * followed stacks in pass 2, and PA_GROWTH_FOLLOW × PA_GROWTH_POINTS points, whatever the
 * number of snapshots.
 */
#include "growth.h"

#include "merge.h"
#include "report.h"
#include "symbols.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

/* ---- the classifier ---------------------------------------------------------------------------
 */

const char *pa_growth_class_name(pa_growth_class_t c)
{
    switch (c) {
    case PA_GROWTH_UNBOUNDED:
        return "unbounded";
    case PA_GROWTH_SATURATING:
        return "saturating";
    case PA_GROWTH_BOUNDED:
        return "bounded";
    case PA_GROWTH_STABLE:
        return "stable";
    }
    return "stable";
}

/* A least-squares line y = slope × x + b over points [lo, hi); x is time or allocations. */
typedef struct {
    double slope;
    double sse; /* residual sum of squares */
    double syy; /* sum of squares about the mean of y */
    double r2;  /* 1 - sse / syy; 1 for a constant y (a line fits it exactly) */
    double sxx; /* sum of squares about the mean of x: 0 when x did not change */
} fit_t;

static double px(const pa_growth_point_t *p, bool by_allocs)
{
    return by_allocs ? p->allocs : p->t;
}

static fit_t fit_line(const pa_growth_point_t *p, size_t lo, size_t hi, bool by_allocs)
{
    fit_t f = {0};
    size_t n = hi - lo;
    if (!n)
        return f;
    double mx = 0, my = 0;
    for (size_t i = lo; i < hi; i++) {
        mx += px(&p[i], by_allocs);
        my += p[i].bytes;
    }
    mx /= (double)n;
    my /= (double)n;
    double sxy = 0;
    for (size_t i = lo; i < hi; i++) {
        double dx = px(&p[i], by_allocs) - mx, dy = p[i].bytes - my;
        f.sxx += dx * dx;
        sxy += dx * dy;
        f.syy += dy * dy;
    }
    f.slope = f.sxx > 0 ? sxy / f.sxx : 0;
    f.sse = f.syy - f.slope * sxy;
    if (f.sse < 0)
        f.sse = 0;
    f.r2 = f.syy > 0 ? 1 - f.sse / f.syy : 1;
    return f;
}

static double clamp01(double v)
{
    return v < 0 ? 0 : v > 1 ? 1 : v;
}

void pa_growth_classify(const pa_growth_point_t *p, size_t n, pa_growth_fit_t *out)
{
    memset(out, 0, sizeof *out);
    out->cls = PA_GROWTH_STABLE;
    if (n < 2)
        return; /* one point says nothing about growth: stable, confidence 0 */
    double peak = 0;
    for (size_t i = 0; i < n; i++)
        peak = p[i].bytes > peak ? p[i].bytes : peak;
    double span = p[n - 1].t - p[0].t;
    double pf = clamp01((double)(n - 1) / (double)(PA_GROWTH_FULL_POINTS - 1));
    if (!(peak > 0) || !(span > 0)) {
        out->confidence = span > 0 ? pf : 0; /* never held a byte: surely stable */
        out->r2_first = out->r2_last = 1;
        return;
    }
    /* the breakpoint: the split into two segments of at least a quarter of the points (and 2)
     * whose two line fits leave the least squared residual; fewer than 4 points: one segment */
    size_t k = 0;
    if (n >= 4) {
        size_t min_seg = n / 4 < 2 ? 2 : n / 4;
        double best = INFINITY;
        for (size_t b = min_seg; b + min_seg <= n; b++) {
            double sse = fit_line(p, 0, b, false).sse + fit_line(p, b, n, false).sse;
            if (sse < best) {
                best = sse;
                k = b;
            }
        }
    }
    fit_t all = fit_line(p, 0, n, false);
    fit_t a = k ? fit_line(p, 0, k, false) : all;
    fit_t b = k ? fit_line(p, k, n, false) : all;
    if (k && !(a.sse + b.sse < PA_GROWTH_SPLIT * all.sse)) {
        k = 0; /* two lines fit little better than one: the split would only follow noise */
        a = b = all;
    }
    out->breakpoint = k;
    out->r2_first = a.r2;
    out->r2_last = b.r2;
    out->bytes_per_second = b.slope;
    fit_t e = fit_line(p, k, n, true);
    out->has_per_event = e.sxx > 0;
    out->bytes_per_event = e.sxx > 0 ? e.slope : 0;

    double g_last = b.slope * span / peak; /* the last segment's rate, as shares of the peak
                                              per trace span */
    /* the tail: the last segment, or the second half when that is shorter (a cache that
     * filled early has a long last segment, or none when the split was refused) */
    size_t tail = k > n / 2 ? k : n / 2;
    double lo = INFINITY, hi = -INFINITY, mean = 0;
    for (size_t i = tail; i < n; i++) {
        lo = p[i].bytes < lo ? p[i].bytes : lo;
        hi = p[i].bytes > hi ? p[i].bytes : hi;
        mean += p[i].bytes;
    }
    mean /= (double)(n - tail);
    double rise_last = b.slope * (p[n - 1].t - p[k].t) / peak; /* gained over the segment */
    double grew = (mean - p[0].bytes) / peak;
    double two_lines = all.syy > 0 ? clamp01(1 - (a.sse + b.sse) / all.syy) : 1;
    /* growing: fast enough with a fair fit, or slower (a leak on a large base) with a line that
     * explains nearly all the variance, so no noise makes it */
    bool growing = (g_last >= PA_GROWTH_GROW && b.r2 >= PA_GROWTH_R2) ||
                   (g_last >= PA_GROWTH_GROW_STEADY && b.r2 >= PA_GROWTH_R2_STEADY);
    if (growing) {
        if (k && a.slope > 0 && b.slope < PA_GROWTH_SLOWER * a.slope) {
            out->cls = PA_GROWTH_SATURATING; /* still growing, slower than before */
            out->confidence = two_lines * pf;
        } else {
            out->cls = PA_GROWTH_UNBOUNDED; /* as fast as before, or faster (a late leak) */
            out->confidence = b.r2 * pf;
        }
    } else if (grew >= PA_GROWTH_GREW && mean >= PA_GROWTH_HELD * peak) {
        if (rise_last >= PA_GROWTH_RISE && b.r2 >= PA_GROWTH_R2) {
            out->cls = PA_GROWTH_SATURATING; /* grew, and still gains, slowly */
            out->confidence = b.r2 * pf;
        } else if (hi - lo <= PA_GROWTH_SPREAD * peak) {
            out->cls = PA_GROWTH_BOUNDED; /* grew, then held a plateau */
            /* the flatter the plateau within the spread allowed, the surer */
            out->confidence = clamp01(1 - (hi - lo) / (PA_GROWTH_SPREAD * peak)) * pf;
        } else {
            out->confidence = 0.5 * pf; /* grew, then swings: no clear shape */
        }
    } else {
        /* stable: the further the overall trend from growth, the surer */
        double g_all = fabs(all.slope) * span / peak;
        out->confidence = clamp01(1 - g_all / PA_GROWTH_GROW) * pf;
    }
}

void pa_growth_weigh_samples(pa_growth_fit_t *f, double peak, double mean_size, double mean_bytes)
{
    if (!(mean_bytes > 0) || !(mean_size > 0))
        return;
    /* a block of s bytes is sampled with p = 1 - e^(-s/T) and stands for s / p bytes: peak
     * bytes of such blocks are peak × p / s samples (exact for blocks of one size; the site's
     * mean size stands for its sizes) */
    double weight = mean_size / -expm1(-mean_size / mean_bytes);
    f->has_samples = true;
    f->samples = peak > 0 ? peak / weight : 0;
    f->confidence *=
        f->samples >= PA_GROWTH_FULL_SAMPLES ? 1 : sqrt(f->samples / PA_GROWTH_FULL_SAMPLES);
}

/* ---- the series of one trace ------------------------------------------------------------------
 */

typedef struct {
    pa_group_t *g;  /* its group in the pass-1 model */
    double *bytes;  /* per point: sum of the live bytes of its snapshots */
    double *allocs; /* per point: sum of the allocation counts */
    uint64_t last_live, last_blocks, last_allocs; /* at the last snapshot read */
    uint64_t last_alloc_bytes;                    /* ... and the bytes of those allocations */
    pa_growth_fit_t fit;
} site_t;

struct pa_growth_set {
    pa_trace_t *t; /* the pass-1 model (not owned) */
    pa_symbols_t *syms;
    pa_groups_t groups;
    bool borrowed; /* syms and groups are the caller's (pa_growth_collect_groups) */
    size_t nsites;
    site_t *sites;
    uint32_t *ids; /* the followed stacks ... */
    size_t *site;  /* ... and the site of each */
    size_t nids;
    uint64_t n;         /* snapshots of pass 1 */
    size_t m;           /* points: min(n, PA_GROWTH_POINTS) */
    double *time;       /* per point: sum of the times (s) */
    uint32_t *count;    /* per point: snapshots averaged into it */
    double *slab;       /* the sites' point sums */
    bool sampled;       /* some snapshot of pass 2 was sampled: figures are estimates */
    uint64_t rss, live; /* at the last snapshot of pass 2 */
};

void pa_growth_set_free(pa_growth_set_t *s)
{
    if (!s)
        return;
    if (!s->borrowed) {
        pa_report_groups_free(&s->groups);
        if (s->syms)
            pa_symbols_free(s->syms);
    }
    free(s->sites);
    free(s->ids);
    free(s->site);
    free(s->time);
    free(s->count);
    free(s->slab);
    free(s);
}

static int cmp_peak(const void *a, const void *b)
{
    const pa_group_t *x = *(pa_group_t *const *)a, *y = *(pa_group_t *const *)b;
    if (x->peak_live_bytes != y->peak_live_bytes)
        return x->peak_live_bytes > y->peak_live_bytes ? -1 : 1;
    return x->first_stack_id < y->first_stack_id ? -1 : x->first_stack_id > y->first_stack_id;
}

static int cmp_peak_ctx(const void *a, const void *b, void *ctx)
{
    (void)ctx;
    return cmp_peak(a, b);
}

/* Pass 2: after each snapshot. */
static int on_snapshot(pa_trace_t *t, void *ctx)
{
    pa_growth_set_t *s = ctx;
    const pa_snapshot_t *snap = &t->snap;
    if (snap->number < 1 || snap->number > s->n)
        return PA_OK;
    size_t pt = (size_t)((snap->number - 1) * s->m / s->n);
    s->time[pt] += (double)snap->time_ns / 1e9;
    s->count[pt]++;
    for (size_t i = 0; i < s->nsites; i++)
        s->sites[i].last_live = s->sites[i].last_blocks = s->sites[i].last_allocs =
            s->sites[i].last_alloc_bytes = 0;
    for (size_t i = 0; i < s->nids; i++) {
        const pa_row_t *r = pa_model_row(t, s->ids[i]);
        if (!r)
            continue;
        site_t *x = &s->sites[s->site[i]];
        x->last_live += r->live_bytes;
        x->last_blocks += r->live_blocks;
        x->last_allocs += r->allocs;
        x->last_alloc_bytes += r->alloc_bytes;
    }
    for (size_t i = 0; i < s->nsites; i++) {
        s->sites[i].bytes[pt] += (double)s->sites[i].last_live;
        s->sites[i].allocs[pt] += (double)s->sites[i].last_allocs;
    }
    if (snap->flags & PS_SNAP_F_SAMPLED)
        s->sampled = true;
    s->rss = snap->totals.rss_bytes;
    s->live = snap->totals.live_bytes;
    return PA_OK;
}

/* Chooses the sites of pass-1 model t (groups by peak live bytes), the stacks of each. */
static int choose_sites(pa_growth_set_t *s)
{
    pa_trace_t *t = s->t;
    int rc = PA_OK;
    if (!s->borrowed && (rc = pa_symbols_new(t, &s->syms)) != PA_OK)
        return rc;
    if (!s->borrowed && (rc = pa_report_group(t, s->syms, false, &s->groups)) != PA_OK)
        return rc;
    pa_groups_t *g = &s->groups;
    /* only the sites followed are put in order (cmp_peak is total: the first of a full sort, a
     * heap of PA_GROWTH_FOLLOW: the full sort of the adverse trace's 111k groups took 45M
     * instructions); groups borrowed from advise are sorted whole, as advise may read them on */
    if (s->borrowed)
        qsort(g->items, g->n, sizeof *g->items, cmp_peak);
    else
        pa_util_sort_top(g->items, g->n, sizeof *g->items, PA_GROWTH_FOLLOW, cmp_peak_ctx, NULL);
    size_t k = 0;
    while (k < g->n && k < PA_GROWTH_FOLLOW && g->items[k]->peak_live_bytes)
        k++;
    s->nsites = k;
    s->m = s->n < PA_GROWTH_POINTS ? (size_t)s->n : PA_GROWTH_POINTS;
    s->sites = calloc(k ? k : 1, sizeof *s->sites);
    /* a row per stack: at most nrows followed stacks */
    s->ids = malloc((t->snap.nrows ? t->snap.nrows : 1) * sizeof *s->ids);
    s->site = malloc((t->snap.nrows ? t->snap.nrows : 1) * sizeof *s->site);
    s->time = calloc(s->m ? s->m : 1, sizeof *s->time);
    s->count = calloc(s->m ? s->m : 1, sizeof *s->count);
    s->slab = calloc(2 * k * (s->m ? s->m : 1) + 1, sizeof *s->slab);
    if (!s->sites || !s->ids || !s->site || !s->time || !s->count || !s->slab)
        return PA_ENOMEM;
    for (size_t i = 0; i < k; i++) {
        s->sites[i].g = g->items[i];
        s->sites[i].bytes = s->slab + 2 * i * s->m;
        s->sites[i].allocs = s->sites[i].bytes + s->m;
    }
    /* the stacks of each followed site: a group's index among the sites, by a scratch mark */
    size_t *where = malloc((g->n ? g->n : 1) * sizeof *where);
    if (!where)
        return PA_ENOMEM;
    for (size_t i = 0; i < g->n; i++)
        where[i] = SIZE_MAX;
    for (size_t i = 0; i < k; i++)
        where[g->items[i] - g->all] = i;
    for (size_t r = 0; r < t->snap.nrows; r++) {
        const pa_group_t *x = g->row_group[r];
        if (!x || where[x - g->all] == SIZE_MAX)
            continue;
        s->ids[s->nids] = t->snap.rows[r].stack_id;
        s->site[s->nids++] = where[x - g->all];
    }
    free(where);
    return PA_OK;
}

/* Site i's points into pts (s->m of room): the means of their snapshots, a point no snapshot
 * reached dropped. Returns how many. */
static size_t site_points(const pa_growth_set_t *s, size_t i, pa_growth_point_t *pts)
{
    size_t np = 0;
    for (size_t c = 0; c < s->m; c++) {
        if (!s->count[c])
            continue;
        double w = (double)s->count[c];
        pts[np++] = (pa_growth_point_t){s->time[c] / w, s->sites[i].bytes[c] / w,
                                        s->sites[i].allocs[c] / w};
    }
    return np;
}

static double series_peak(const pa_growth_point_t *p, size_t n)
{
    double peak = 0;
    for (size_t i = 0; i < n; i++)
        peak = p[i].bytes > peak ? p[i].bytes : peak;
    return peak;
}

/* pa_growth_collect, with the caller's groups (syms NULL: made here). */
static int collect(pa_trace_t *first, const char *path, pa_symbols_t *syms, const pa_groups_t *g,
                   pa_growth_set_t **out)
{
    *out = NULL;
    pa_growth_set_t *s = calloc(1, sizeof *s);
    if (!s)
        return PA_ENOMEM;
    s->t = first;
    s->n = first->nsnapshots;
    if (syms) {
        s->borrowed = true;
        s->syms = syms;
        s->groups = *g; /* a copy of the handles: items is reordered in place */
    }
    int rc = choose_sites(s);
    if (rc != PA_OK) {
        pa_growth_set_free(s);
        return rc;
    }
    if (!s->borrowed) /* chosen: the keys are not needed again (a caller's groups may be) */
        pa_report_groups_drop_keys(&s->groups);
    uint32_t ids = 0; /* pass 2 decodes the rows of the followed stacks only */
    for (size_t i = 0; i < s->nids; i++)
        ids = s->ids[i] >= ids ? s->ids[i] + 1 : ids;
    uint8_t *wanted = calloc(ids / 8 + 1, 1);
    if (!wanted) {
        pa_growth_set_free(s);
        return PA_ENOMEM;
    }
    for (size_t i = 0; i < s->nids; i++)
        wanted[s->ids[i] / 8] |= (uint8_t)(1u << (s->ids[i] % 8));
    pa_model_opts_t second = {.quiet = true,
                              .at = {.kind = PA_AT_NUMBER, .number = s->n},
                              .on_snapshot = on_snapshot,
                              .ctx = s,
                              .skip_stacks = true,
                              .pass = first->damaged ? PA_PASS_FIRST : PA_PASS_SERIES,
                              .rows_wanted = wanted,
                              .rows_wanted_ids = ids};
    pa_trace_t t2;
    rc = pa_model_read(path, &second, &t2);
    free(wanted);
    if (rc != PA_OK) {
        pa_growth_set_free(s);
        return rc;
    }
    pa_model_free(&t2);
    /* the points: means of their snapshots (a point no snapshot reached is dropped) */
    pa_growth_point_t *pts = malloc((s->m ? s->m : 1) * sizeof *pts);
    if (!pts) {
        pa_growth_set_free(s);
        return PA_ENOMEM;
    }
    /* a sampled trace: the mean interval its estimates stand on (the largest used) */
    double mean_bytes =
        s->sampled && first->has_sampling ? (double)first->sampling.max_mean_bytes : 0;
    for (size_t i = 0; i < s->nsites; i++) {
        site_t *x = &s->sites[i];
        size_t np = site_points(s, i, pts);
        pa_growth_classify(pts, np, &x->fit);
        if (mean_bytes > 0 && x->last_allocs)
            pa_growth_weigh_samples(&x->fit, series_peak(pts, np),
                                    (double)x->last_alloc_bytes / (double)x->last_allocs,
                                    mean_bytes);
    }
    free(pts);
    *out = s;
    return PA_OK;
}

int pa_growth_collect(pa_trace_t *first, const char *path, pa_growth_set_t **out)
{
    return collect(first, path, NULL, NULL, out);
}

int pa_growth_collect_groups(pa_trace_t *first, const char *path, pa_symbols_t *syms,
                             const pa_groups_t *g, pa_growth_set_t **out)
{
    return collect(first, path, syms, g, out);
}

size_t pa_growth_set_sites(const pa_growth_set_t *s)
{
    return s->nsites;
}

const pa_group_t *pa_growth_set_site(const pa_growth_set_t *s, size_t i, pa_growth_site_t *out)
{
    const site_t *x = &s->sites[i];
    *out = (pa_growth_site_t){.fit = x->fit,
                              .live = x->last_live,
                              .blocks = x->last_blocks,
                              .allocs = x->last_allocs,
                              .sampled = s->sampled};
    return x->g;
}

/* ---- ranking and writing ----------------------------------------------------------------------
 */

/* Growing classes first, the fastest first; then the others by live bytes (0: a tie). */
static int rank_order(const pa_growth_fit_t *x, uint64_t xlive, const pa_growth_fit_t *y,
                      uint64_t ylive)
{
    if (x->cls != y->cls)
        return x->cls < y->cls ? -1 : 1;
    if (x->cls <= PA_GROWTH_SATURATING && x->bytes_per_second != y->bytes_per_second)
        return x->bytes_per_second > y->bytes_per_second ? -1 : 1;
    if (xlive != ylive)
        return xlive > ylive ? -1 : 1;
    return 0;
}

static int cmp_rank(const void *a, const void *b)
{
    const site_t *x = a, *y = b;
    int c = rank_order(&x->fit, x->last_live, &y->fit, y->last_live);
    if (c)
        return c;
    return (x->g->first_stack_id > y->g->first_stack_id) -
           (x->g->first_stack_id < y->g->first_stack_id);
}

typedef struct {
    uint64_t bytes;
    const char *source; /* "option", "cgroup", "machine", "none" */
} limit_t;

static limit_t choose_limit(const pa_trace_t *t, const pa_growth_opts_t *o)
{
    if (o->limit)
        return (limit_t){o->limit, "option"};
    if (t->has_process && t->process.cgroup_limit_bytes)
        return (limit_t){t->process.cgroup_limit_bytes, "cgroup"};
    if (t->has_process && t->process.mem_total_bytes)
        return (limit_t){t->process.mem_total_bytes, "machine"};
    return (limit_t){0, "none"};
}

/* Seconds until the process reaches the limit at this site's rate, from its resident set at the
 * last snapshot (the live heap when RSS is unknown); false for a site that is not growing. */
static bool time_to_limit(uint64_t base, const pa_growth_fit_t *f, const limit_t *l, double *out)
{
    if (!l->bytes || f->cls > PA_GROWTH_SATURATING || !(f->bytes_per_second > 0))
        return false;
    *out = base >= l->bytes ? 0 : (double)(l->bytes - base) / f->bytes_per_second;
    return true;
}

/* What a report shows of a site, from one trace (site_t) or merged over several (gsite_t). */
typedef struct {
    const pa_growth_fit_t *fit;
    uint64_t live, blocks, allocs, peak;
    uint64_t processes; /* merged: the processes that had the site; 0 in a one-trace report */
    uint64_t ntraces;   /* merged: the traces merged */
    const char *note, *text_note; /* why there are no frames (JSON, text), or NULL */
    const pa_frame_t *frames;
    size_t nframes;
    bool sampled;  /* figures are estimates */
    uint64_t base; /* the resident bytes time_to_limit starts from */
} shown_t;

static shown_t shown_of(const pa_growth_set_t *s, const site_t *x, const pa_stackview_t *v)
{
    return (shown_t){.fit = &x->fit,
                     .live = x->last_live,
                     .blocks = x->last_blocks,
                     .allocs = x->last_allocs,
                     .peak = x->g->peak_live_bytes,
                     .note = x->g->note,
                     .text_note = v->note,
                     .frames = v->frames,
                     .nframes = v->nframes,
                     .sampled = s->sampled,
                     .base = s->rss ? s->rss : s->live};
}

static void kv_f64(pa_json_t *j, const char *key, double v)
{
    pa_json_key(j, key);
    pa_json_f64(j, v);
}

static void site_json(pa_json_t *j, const shown_t *x, size_t rank, const limit_t *l)
{
    const pa_growth_fit_t *f = x->fit;
    pa_json_object_begin(j, false);
    pa_json_kv_u64(j, "rank", rank);
    pa_json_key(j, "class");
    pa_json_string(j, pa_growth_class_name(f->cls));
    pa_json_kv_u64(j, "live_bytes", x->live);
    pa_json_kv_u64(j, "live_blocks", x->blocks);
    pa_json_kv_u64(j, "allocs", x->allocs);
    pa_json_kv_u64(j, "peak_live_bytes", x->peak);
    if (x->processes)
        pa_json_kv_u64(j, "processes", x->processes);
    kv_f64(j, "bytes_per_second", f->bytes_per_second);
    pa_json_key(j, "bytes_per_event");
    if (f->has_per_event)
        pa_json_f64(j, f->bytes_per_event);
    else
        pa_json_null(j);
    kv_f64(j, "confidence", f->confidence);
    if (f->has_samples) /* (sampled traces only: a full trace's report is as before) */
        kv_f64(j, "samples", f->samples);
    double ttl;
    pa_json_key(j, "time_to_limit_s");
    if (time_to_limit(x->base, f, l, &ttl))
        pa_json_f64(j, ttl);
    else
        pa_json_null(j);
    kv_f64(j, "r2_first", f->r2_first);
    kv_f64(j, "r2_last", f->r2_last);
    pa_json_kv_bool(j, "estimated", x->sampled);
    pa_report_stack_json(j, x->note, x->frames, x->nframes);
    pa_json_object_end(j);
}

/* "12.3 KiB/s" or "-1.2 KiB/s" */
static const char *format_rate(double r, char *buf, size_t size)
{
    char b[32];
    double a = fabs(r);
    snprintf(buf, size, "%s%s/s", r < 0 ? "-" : "+",
             pa_util_format_bytes(a < 1.8e19 ? (uint64_t)(a + 0.5) : UINT64_MAX, b, sizeof b));
    return buf;
}

static const char *format_duration(double sec, char *buf, size_t size)
{
    if (sec < 120)
        snprintf(buf, size, "%.0f s", sec);
    else if (sec < 7200)
        snprintf(buf, size, "%.1f min", sec / 60);
    else if (sec < 2 * 86400)
        snprintf(buf, size, "%.1f h", sec / 3600);
    else
        snprintf(buf, size, "%.1f days", sec / 86400);
    return buf;
}

static void site_text(FILE *out, const shown_t *x, size_t rank, const limit_t *l, bool all_frames)
{
    const pa_growth_fit_t *f = x->fit;
    const char *e = x->sampled ? "~" : "";
    char b1[32], b2[32];
    char few[48] = "";
    if (f->has_samples && f->samples < 0.5)
        snprintf(few, sizeof few, ", from under 1 sample");
    else if (f->has_samples && f->samples < PA_GROWTH_FULL_SAMPLES)
        snprintf(few, sizeof few, ", from ~%.0f sample%s", f->samples, f->samples < 1.5 ? "" : "s");
    fprintf(out, "\n#%zu %s (confidence %.2f%s): %s%s live in %s%llu block%s, %s%s", rank,
            pa_growth_class_name(f->cls), f->confidence, few, e,
            pa_util_format_bytes(x->live, b1, sizeof b1), e, (unsigned long long)x->blocks,
            x->blocks == 1 ? "" : "s", e, format_rate(f->bytes_per_second, b2, sizeof b2));
    if (f->has_per_event) /* (no "-0.0") */
        fprintf(out, ", %s%.1f B per allocation", e,
                fabs(f->bytes_per_event) < 0.05 ? 0.0 : f->bytes_per_event);
    double ttl;
    if (time_to_limit(x->base, f, l, &ttl))
        fprintf(out, ", limit in %s", format_duration(ttl, b1, sizeof b1));
    if (x->processes)
        fprintf(out, ", from %llu of %llu processes", (unsigned long long)x->processes,
                (unsigned long long)x->ntraces);
    fputc('\n', out);
    pa_report_frames_text_n(out, x->text_note, x->frames, x->nframes, "    ", all_frames);
}

static int write_report(pa_growth_set_t *s, const pa_growth_opts_t *o, FILE *out, pa_json_t *j)
{
    pa_trace_t *t = s->t;
    qsort(s->sites, s->nsites, sizeof *s->sites, cmp_rank);
    size_t k = o->top && o->top < s->nsites ? (size_t)o->top : s->nsites;
    limit_t l = choose_limit(t, o);
    size_t npoints = 0;
    for (size_t c = 0; c < s->m; c++)
        npoints += s->count[c] != 0;
    char b1[32];
    if (o->json) {
        pa_json_kv_bool(j, "estimated", s->sampled);
        pa_json_key(j, "limit_bytes");
        if (l.bytes)
            pa_json_u64(j, l.bytes);
        else
            pa_json_null(j);
        pa_json_key(j, "limit_source");
        pa_json_string(j, l.source);
        pa_json_kv_u64(j, "points", npoints);
        pa_json_kv_u64(j, "sites_followed", s->nsites);
        pa_json_key(j, "sites");
        pa_json_array_begin(j, false);
    } else {
        fprintf(out, "\n%llu snapshot%s averaged into %zu point%s per site; ",
                (unsigned long long)s->n, s->n == 1 ? "" : "s", npoints, npoints == 1 ? "" : "s");
        if (l.bytes)
            fprintf(out, "limit %s (%s)\n", pa_util_format_bytes(l.bytes, b1, sizeof b1),
                    strcmp(l.source, "option") == 0   ? "--limit"
                    : strcmp(l.source, "cgroup") == 0 ? "the cgroup's memory.max"
                                                      : "the machine's memory");
        else
            fputs("no memory limit known (--limit sets one)\n", out);
        if (s->sampled)
            fputs("Sampled trace: figures marked ~ are estimates; a class seen in fewer than 100 "
                  "samples is less sure (its confidence says how much).\n",
                  out);
        if (npoints < 4)
            fputs("Fewer than 4 points: the classes are guesses (PERFSHIM_INTERVAL writes a "
                  "snapshot per interval).\n",
                  out);
        if (!k)
            fputs("No site held live bytes at any snapshot.\n", out);
    }
    pa_stackview_t v = {0};
    int rc = PA_OK;
    for (size_t i = 0; i < k && rc == PA_OK; i++) {
        if ((rc = pa_report_group_view(&s->groups, s->sites[i].g, &v)) != PA_OK)
            break;
        shown_t x = shown_of(s, &s->sites[i], &v);
        if (o->json)
            site_json(j, &x, i + 1, &l);
        else
            site_text(out, &x, i + 1, &l, o->all_frames);
    }
    if (o->json)
        pa_json_array_end(j);
    else if (k < s->nsites)
        fprintf(out, "\n(%zu more site%s followed; --top 0 lists every one)\n", s->nsites - k,
                s->nsites - k == 1 ? "" : "s");
    pa_report_stack_view_free(&v);
    return rc;
}

/* The report of the trace t (pass 1, loaded), *s its sites (pass 2; freed here) when rc is
 * PA_OK. */
static int trace_report(pa_trace_t *t, pa_growth_set_t *s, int rc, const pa_growth_opts_t *o,
                        FILE *out, pa_json_t *j)
{
    if (rc == PA_OK) {
        if (o->json) {
            pa_json_object_begin(j, false);
            pa_json_key(j, "format");
            pa_json_string(j, "perfshim-growth");
            pa_json_kv_u64(j, "version", 1);
            pa_report_process_json(j, t);
        } else {
            pa_report_header_text(out, t, "perfshim growth");
            pa_report_status_text(out, t);
        }
        rc = write_report(s, o, out, j);
        if (o->json) {
            pa_report_status_json(j, t);
            pa_json_object_end(j);
        }
    }
    pa_growth_set_free(s);
    return rc;
}

int pa_growth_trace(const char *path, const pa_growth_opts_t *o, FILE *out, pa_json_t *j)
{
    pa_trace_t t;
    int rc = pa_model_load_unaged(path, o->quiet, &(pa_at_t){.kind = PA_AT_LAST}, &t);
    if (rc != PA_OK)
        return rc; /* the model said why */
    /* growth reads neither */
    pa_model_drop_ages_advice(&t);
    /* nor looks this model's rows up by stack (pass 2 reads into a model of its own): 2 MB
     * of T2, held while its rows are grouped */
    pa_model_drop_row_index(&t);
    rc = pa_growth_trace_loaded(&t, path, o, out, j);
    pa_model_free(&t);
    return rc;
}

int pa_growth_trace_loaded(pa_trace_t *t, const char *path, const pa_growth_opts_t *o, FILE *out,
                           pa_json_t *j)
{
    pa_growth_set_t *s = NULL;
    int rc = pa_growth_collect(t, path, &s);
    return trace_report(t, s, rc, o, out, j);
}

static int growth_path(const char *path, void *ctx, FILE *out, pa_json_t *j)
{
    return pa_growth_trace(path, ctx, out, j);
}

int pa_growth_files(char *const *paths, size_t n, const pa_growth_opts_t *o, bool as_array,
                    FILE *out)
{
    return pa_report_each_path(paths, n, o->json, as_array, out, growth_path, (void *)o);
}

/* ---- growth --merge ---------------------------------------------------------------------------
 *
 * One report over the traces of many processes (docs/analyzer.md, "growth --merge"). Each trace
 * is read as for its own report (pa_growth_collect: its followed sites, their points) and freed
 * before the next; a merged site (keyed by its symbolized stack, as leaks --merge keys them)
 * keeps each contribution as steps: at each point of a process, the change of its live bytes and
 * allocations since its point before. The merged series is their sum, a step function on the
 * common time axis (a process adds nothing before its first point, and nothing after its last
 * one: an ended process's memory went back to the system), sampled at up to PA_GROWTH_POINTS
 * evenly spaced times over the span of every trace's points, then classified as one trace's
 * series is. A process that ends with the run keeps what it had at its end to the end of the
 * series, as the last process does: its drop would only say that the run ended (a server's
 * workers just before their master). Ending with the run (pa_merge_ends_with_run, merge.h, as
 * merge -o decides it for RSS): its last point is within one sampling interval, or a tenth of
 * its own lifetime, of the series' end. Its leaks at exit are in the sites' live figures either
 * way (as leaks --merge counts them).
 * Memory: the merged sites, and a 32-byte step per point per process per site.
 */

typedef struct {
    double t;             /* seconds on the process's own clock, then on the common axis */
    double bytes, allocs; /* the change at t */
    uint32_t trace;       /* index of the trace */
    bool end;             /* the process's end: counts only after t */
} step_t;

typedef struct {
    UT_hash_handle hh;
    pa_merge_stack_t st; /* key (hash key), frames, note */
    size_t last_trace;   /* 1 + index of the last trace that added to it */
    uint64_t processes;
    uint64_t live, blocks, allocs; /* summed over the traces at their last snapshots */
    uint64_t alloc_bytes;          /* the bytes of those allocations */
    step_t *steps;
    size_t nsteps, cap;
    pa_growth_fit_t fit;
    double peak; /* the merged series' highest point */
} gsite_t;

typedef struct {
    gsite_t *sites; /* uthash */
    pa_strlist_t paths;
    uint64_t *pids;
    size_t ntraces, pids_cap;
    struct gclock {
        uint64_t mono, real; /* its start on the machine's monotonic and wall clocks (0: unknown) */
        char *host;          /* owned: the monotonic clock is one machine's */
        double start, last;  /* its start (0) and last point (s), moved with its steps */
    } * clocks;
    size_t clocks_cap;
    size_t points; /* every trace's points, summed: the merged points are at most this many */
    bool sampled;
    uint64_t mean_bytes; /* the largest mean sampling interval of a sampled trace (0: none) */
    uint64_t base;       /* the traces' resident bytes at their last snapshots, summed */
    limit_t limit;       /* the first trace's */
    bool have_limit;
} gmerged_t;

static void gmerged_free(gmerged_t *m)
{
    gsite_t *x, *tmp;
    HASH_ITER(hh, m->sites, x, tmp)
    {
        HASH_DEL(m->sites, x);
        pa_merge_stack_free(&x->st);
        free(x->steps);
        free(x);
    }
    for (size_t i = 0; i < m->ntraces; i++)
        free(m->clocks[i].host);
    free(m->clocks);
    free(m->pids);
    pa_strlist_free(&m->paths);
}

static gsite_t *gsite_get(gmerged_t *m, const pa_stackview_t *v)
{
    const char *key = pa_str_get((pa_str_t *)&v->key);
    size_t len = strlen(key);
    gsite_t *x;
    HASH_FIND(hh, m->sites, key, len, x);
    if (x)
        return x;
    if (!(x = calloc(1, sizeof *x)))
        return NULL;
    if (pa_merge_stack_copy(v, &x->st) != PA_OK) {
        free(x);
        return NULL;
    }
    HASH_ADD_KEYPTR(hh, m->sites, x->st.key, len, x);
    return x;
}

/* Adds the followed sites of collected set s (trace number me, from 0) to m. */
static int gmerge_set(gmerged_t *m, pa_growth_set_t *s, uint32_t me, pa_growth_point_t *pts)
{
    pa_stackview_t v = {0};
    int rc = PA_OK;
    for (size_t i = 0; rc == PA_OK && i < s->nsites; i++) {
        const site_t *y = &s->sites[i];
        if ((rc = pa_report_stack_view(s->t, s->syms, y->g->shown_stack_id,
                                       PA_HIDE_ALLOCATOR | PA_HIDE_SHIM, &v)) != PA_OK)
            break;
        gsite_t *x = gsite_get(m, &v);
        size_t np = site_points(s, i, pts);
        if (!x || pa_util_grow((void **)&x->steps, &x->cap, x->nsteps + np, sizeof *x->steps)) {
            rc = PA_ENOMEM;
            break;
        }
        if (x->last_trace != me + 1u) {
            x->last_trace = me + 1u;
            x->processes++;
        }
        x->live += y->last_live;
        x->blocks += y->last_blocks;
        x->allocs += y->last_allocs;
        x->alloc_bytes += y->last_alloc_bytes;
        for (size_t k = 0; k < np; k++)
            x->steps[x->nsteps++] =
                (step_t){pts[k].t, pts[k].bytes - (k ? pts[k - 1].bytes : 0),
                         pts[k].allocs - (k ? pts[k - 1].allocs : 0), me, false};
    }
    pa_report_stack_view_free(&v);
    return rc;
}

static int gmerge_trace(gmerged_t *m, const char *path, const pa_growth_opts_t *o)
{
    pa_trace_t t;
    int rc = pa_model_load(path, o->quiet, &t);
    if (rc != PA_OK)
        return rc; /* the model said why */
    pa_growth_set_t *s = NULL;
    rc = pa_growth_collect(&t, path, &s);
    pa_growth_point_t *pts = malloc(PA_GROWTH_POINTS * sizeof *pts);
    size_t me = m->ntraces;
    if (rc == PA_OK && !pts)
        rc = PA_ENOMEM;
    if (rc == PA_OK &&
        (pa_util_grow((void **)&m->pids, &m->pids_cap, me + 1, sizeof *m->pids) ||
         pa_util_grow((void **)&m->clocks, &m->clocks_cap, me + 1, sizeof *m->clocks) ||
         pa_strlist_add(&m->paths, path) != PA_OK))
        rc = PA_ENOMEM;
    if (rc == PA_OK) {
        m->ntraces++;
        m->pids[me] = t.process.pid;
        m->clocks[me] =
            (struct gclock){.mono = t.has_process ? t.process.start_monotonic_ns : 0,
                            .real = t.has_process ? t.process.start_realtime_ns : 0,
                            .host = t.process.hostname ? pa_util_strdup(t.process.hostname) : NULL,
                            .last = -INFINITY};
        for (size_t c = 0; c < s->m; c++) {
            double at = s->count[c] ? s->time[c] / s->count[c] : -INFINITY;
            m->clocks[me].last = at > m->clocks[me].last ? at : m->clocks[me].last;
        }
        if (!m->have_limit) {
            m->limit = choose_limit(&t, o);
            m->have_limit = true;
        }
        m->base += s->rss ? s->rss : s->live;
        m->sampled |= s->sampled;
        if (s->sampled && t.has_sampling && t.sampling.max_mean_bytes > m->mean_bytes)
            m->mean_bytes = t.sampling.max_mean_bytes;
        for (size_t c = 0; c < s->m; c++)
            m->points += s->count[c] != 0;
        rc = gmerge_set(m, s, (uint32_t)me, pts);
    }
    if (rc == PA_ENOMEM)
        pa_msg_error("%s: out of memory while merging", path);
    free(pts);
    pa_growth_set_free(s);
    pa_model_free(&t);
    return rc;
}

/* The common time axis: one machine's monotonic clock when every trace has its start on it
 * (and the same host name), else the wall clock when every trace has it, else each process's
 * own clock (all start at 0). Moves every step onto it. */
static const char *gmerge_axis(gmerged_t *m)
{
    const struct gclock *c = m->clocks;
    bool mono = true, real = true;
    for (size_t i = 0; i < m->ntraces; i++) {
        mono = mono && c[i].mono && c[i].host && c[0].host && strcmp(c[i].host, c[0].host) == 0;
        real = real && c[i].real;
    }
    if (!mono && !real)
        return "process";
    uint64_t lo = UINT64_MAX;
    for (size_t i = 0; i < m->ntraces; i++)
        lo = (mono ? c[i].mono : c[i].real) < lo ? (mono ? c[i].mono : c[i].real) : lo;
    for (size_t i = 0; i < m->ntraces; i++) {
        double d = (double)((mono ? c[i].mono : c[i].real) - lo) / 1e9;
        m->clocks[i].start = d;
        m->clocks[i].last += d;
    }
    for (gsite_t *x = m->sites; x; x = x->hh.next)
        for (size_t k = 0; k < x->nsteps; k++) {
            const struct gclock *y = &c[x->steps[k].trace];
            x->steps[k].t += (double)((mono ? y->mono : y->real) - lo) / 1e9;
        }
    return mono ? "monotonic" : "realtime";
}

static int cmp_step(const void *a, const void *b)
{
    const step_t *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return (int)x->end - (int)y->end; /* at one time, the ends after the changes */
}

/* Adds to each site the end (its last point) of every process that did not end with the run
 * (t1: the series' end, dt: its sampling interval; see above): a step that takes back all it
 * added (the site's steps of one trace are contiguous until sorted). */
static int gmerge_ends(gmerged_t *m, double t1, double dt)
{
    for (gsite_t *x = m->sites; x; x = x->hh.next) {
        size_t n = x->nsteps;
        for (size_t k = 0; k < n;) {
            uint32_t tr = x->steps[k].trace;
            double bytes = 0, allocs = 0;
            for (; k < n && x->steps[k].trace == tr; k++) {
                bytes += x->steps[k].bytes;
                allocs += x->steps[k].allocs;
            }
            const struct gclock *c = &m->clocks[tr];
            if (pa_merge_ends_with_run(c->start, c->last, t1, dt))
                continue;
            if (pa_util_grow((void **)&x->steps, &x->cap, x->nsteps + 1, sizeof *x->steps))
                return PA_ENOMEM;
            x->steps[x->nsteps++] = (step_t){m->clocks[tr].last, -bytes, -allocs, tr, true};
        }
    }
    return PA_OK;
}

/* Samples site x's summed steps at n evenly spaced times over [t0, t1] and classifies them
 * (mean_bytes: the sampled traces' largest mean interval, 0 when none was sampled). */
static void gmerge_classify(gsite_t *x, double t0, double t1, size_t n, double mean_bytes,
                            pa_growth_point_t *pts)
{
    qsort(x->steps, x->nsteps, sizeof *x->steps, cmp_step);
    double bytes = 0, allocs = 0;
    size_t k = 0;
    x->peak = 0;
    for (size_t i = 0; i < n; i++) {
        double at = n > 1 ? t0 + (t1 - t0) * (double)i / (double)(n - 1) : t1;
        if (i + 1 == n)
            at = t1; /* every step, whatever the rounding */
        for (; k < x->nsteps && (x->steps[k].t < at || (x->steps[k].t == at && !x->steps[k].end));
             k++) {
            bytes += x->steps[k].bytes;
            allocs += x->steps[k].allocs;
        }
        pts[i] = (pa_growth_point_t){at - t0, bytes, allocs};
        x->peak = bytes > x->peak ? bytes : x->peak;
    }
    pa_growth_classify(pts, n, &x->fit);
    if (mean_bytes > 0 && x->allocs)
        pa_growth_weigh_samples(&x->fit, x->peak, (double)x->alloc_bytes / (double)x->allocs,
                                mean_bytes);
}

static int cmp_gsite(const void *a, const void *b)
{
    const gsite_t *x = *(gsite_t *const *)a, *y = *(gsite_t *const *)b;
    int c = rank_order(&x->fit, x->live, &y->fit, y->live);
    return c ? c : strcmp(x->st.key, y->st.key);
}

static void gmerge_write(const gmerged_t *m, gsite_t **v, size_t nsites, size_t npoints,
                         const char *axis, const pa_growth_opts_t *o, FILE *out)
{
    size_t k = o->top && o->top < nsites ? (size_t)o->top : nsites;
    const limit_t *l = &m->limit;
    pa_json_t j;
    char b1[32];
    if (o->json) {
        pa_json_init(&j, out);
        pa_json_object_begin(&j, false);
        pa_merge_header_json(&j, "perfshim-growth-merged", &m->paths, m->pids, m->sampled);
        pa_json_key(&j, "time_axis");
        pa_json_string(&j, axis);
        pa_json_key(&j, "limit_bytes");
        if (l->bytes)
            pa_json_u64(&j, l->bytes);
        else
            pa_json_null(&j);
        pa_json_key(&j, "limit_source");
        pa_json_string(&j, l->source);
        pa_json_kv_u64(&j, "points", npoints);
        pa_json_kv_u64(&j, "sites_followed", nsites);
        pa_json_key(&j, "sites");
        pa_json_array_begin(&j, false);
    } else {
        pa_merge_header_text(out, "perfshim growth", m->ntraces, m->pids, m->sampled);
        fprintf(out,
                "  each site's live bytes summed over the processes while they ran, on %s, "
                "sampled at %zu point%s; ",
                strcmp(axis, "process") == 0     ? "each process's own clock (all start at 0)"
                : strcmp(axis, "monotonic") == 0 ? "the machine's monotonic clock"
                                                 : "the wall clock",
                npoints, npoints == 1 ? "" : "s");
        if (l->bytes)
            fprintf(out, "limit %s (%s)\n", pa_util_format_bytes(l->bytes, b1, sizeof b1),
                    strcmp(l->source, "option") == 0   ? "--limit"
                    : strcmp(l->source, "cgroup") == 0 ? "the first trace's cgroup memory.max"
                                                       : "the machine's memory");
        else
            fputs("no memory limit known (--limit sets one)\n", out);
        if (npoints < 4)
            fputs("Fewer than 4 points: the classes are guesses.\n", out);
        if (!k)
            fputs("No site held live bytes at any snapshot.\n", out);
    }
    for (size_t i = 0; i < k; i++) {
        const gsite_t *x = v[i];
        shown_t s = {.fit = &x->fit,
                     .live = x->live,
                     .blocks = x->blocks,
                     .allocs = x->allocs,
                     .peak = (uint64_t)(x->peak + 0.5),
                     .processes = x->processes,
                     .ntraces = m->ntraces,
                     .note = x->st.note,
                     .text_note = x->st.note,
                     .frames = x->st.frames,
                     .nframes = x->st.nframes,
                     .sampled = m->sampled,
                     .base = m->base};
        if (o->json)
            site_json(&j, &s, i + 1, l);
        else
            site_text(out, &s, i + 1, l, o->all_frames);
    }
    if (o->json) {
        pa_json_array_end(&j);
        pa_json_object_end(&j);
        pa_json_finish(&j);
    } else if (k < nsites) {
        fprintf(out, "\n(%zu more site%s followed; --top 0 lists every one)\n", nsites - k,
                nsites - k == 1 ? "" : "s");
    }
}

int pa_growth_merge(char *const *paths, size_t n, const pa_growth_opts_t *o, FILE *out)
{
    gmerged_t m = {0};
    int first_err = PA_OK;
    for (size_t i = 0; i < n; i++) {
        int rc = gmerge_trace(&m, paths[i], o);
        if (rc != PA_OK && first_err == PA_OK)
            first_err = rc;
        if (rc == PA_ENOMEM)
            break;
    }
    if (!m.ntraces) { /* nothing could be read: the loader said why */
        gmerged_free(&m);
        return first_err;
    }
    const char *axis = gmerge_axis(&m);
    double t0 = INFINITY, t1 = -INFINITY;
    for (gsite_t *x = m.sites; x; x = x->hh.next)
        for (size_t k = 0; k < x->nsteps; k++) {
            t0 = x->steps[k].t < t0 ? x->steps[k].t : t0;
            t1 = x->steps[k].t > t1 ? x->steps[k].t : t1;
        }
    size_t npoints = m.points < PA_GROWTH_POINTS ? m.points : PA_GROWTH_POINTS;
    if (!(t1 > t0))
        npoints = npoints ? 1 : 0;
    if (npoints > 1 && gmerge_ends(&m, t1, (t1 - t0) / (double)(npoints - 1)) != PA_OK) {
        pa_msg_error("out of memory while merging");
        gmerged_free(&m);
        return PA_ENOMEM;
    }
    size_t nsites = HASH_COUNT(m.sites);
    gsite_t **v = malloc((nsites ? nsites : 1) * sizeof *v);
    pa_growth_point_t *pts = malloc(PA_GROWTH_POINTS * sizeof *pts);
    if (!v || !pts) {
        free(v);
        free(pts);
        gmerged_free(&m);
        return PA_ENOMEM;
    }
    size_t k = 0;
    for (gsite_t *x = m.sites; x; x = x->hh.next) {
        gmerge_classify(x, t0, t1, npoints, (double)m.mean_bytes, pts);
        v[k++] = x;
    }
    qsort(v, nsites, sizeof *v, cmp_gsite);
    gmerge_write(&m, v, nsites, npoints, axis, o, out);
    free(v);
    free(pts);
    gmerged_free(&m);
    return first_err;
}
