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
 * best breakpoint; docs/analyzer.md says what the thresholds mean) and the sites are ranked.
 * Memory: the model of pass 1 (stacks, one snapshot's rows, its groups), the rows of the
 * followed stacks in pass 2, and PA_GROWTH_FOLLOW × PA_GROWTH_POINTS points, whatever the
 * number of snapshots.
 */
#include "growth.h"

#include "report.h"
#include "symbols.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

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

/* ---- the series of one trace ------------------------------------------------------------------
 */

typedef struct {
    pa_group_t *g;  /* its group in the pass-1 model */
    double *bytes;  /* per point: sum of the live bytes of its snapshots */
    double *allocs; /* per point: sum of the allocation counts */
    uint64_t last_live, last_blocks, last_allocs; /* at the last snapshot read */
    pa_growth_fit_t fit;
} site_t;

struct pa_growth_set {
    pa_trace_t *t; /* the pass-1 model (not owned) */
    pa_symbols_t *syms;
    pa_groups_t groups;
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
    pa_report_groups_free(&s->groups);
    if (s->syms)
        pa_symbols_free(s->syms);
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
        s->sites[i].last_live = s->sites[i].last_blocks = s->sites[i].last_allocs = 0;
    for (size_t i = 0; i < s->nids; i++) {
        const pa_row_t *r = pa_model_row(t, s->ids[i]);
        if (!r)
            continue;
        site_t *x = &s->sites[s->site[i]];
        x->last_live += r->live_bytes;
        x->last_blocks += r->live_blocks;
        x->last_allocs += r->allocs;
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
    int rc = pa_symbols_new(t, &s->syms);
    if (rc != PA_OK)
        return rc;
    if ((rc = pa_report_group(t, s->syms, false, &s->groups)) != PA_OK)
        return rc;
    pa_groups_t *g = &s->groups;
    qsort(g->items, g->n, sizeof *g->items, cmp_peak);
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

int pa_growth_collect(pa_trace_t *first, const char *path, pa_growth_set_t **out)
{
    *out = NULL;
    pa_growth_set_t *s = calloc(1, sizeof *s);
    if (!s)
        return PA_ENOMEM;
    s->t = first;
    s->n = first->nsnapshots;
    int rc = choose_sites(s);
    if (rc != PA_OK) {
        pa_growth_set_free(s);
        return rc;
    }
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
    for (size_t i = 0; i < s->nsites; i++) {
        size_t np = 0;
        for (size_t c = 0; c < s->m; c++) {
            if (!s->count[c])
                continue;
            double w = (double)s->count[c];
            pts[np++] = (pa_growth_point_t){s->time[c] / w, s->sites[i].bytes[c] / w,
                                            s->sites[i].allocs[c] / w};
        }
        pa_growth_classify(pts, np, &s->sites[i].fit);
    }
    free(pts);
    *out = s;
    return PA_OK;
}

/* ---- ranking and writing ----------------------------------------------------------------------
 */

/* Growing classes first, the fastest first; then the others by live bytes. */
static int cmp_rank(const void *a, const void *b)
{
    const site_t *x = a, *y = b;
    if (x->fit.cls != y->fit.cls)
        return x->fit.cls < y->fit.cls ? -1 : 1;
    if (x->fit.cls <= PA_GROWTH_SATURATING && x->fit.bytes_per_second != y->fit.bytes_per_second)
        return x->fit.bytes_per_second > y->fit.bytes_per_second ? -1 : 1;
    if (x->last_live != y->last_live)
        return x->last_live > y->last_live ? -1 : 1;
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
static bool time_to_limit(const pa_growth_set_t *s, const site_t *x, const limit_t *l, double *out)
{
    if (!l->bytes || x->fit.cls > PA_GROWTH_SATURATING || !(x->fit.bytes_per_second > 0))
        return false;
    uint64_t base = s->rss ? s->rss : s->live;
    *out = base >= l->bytes ? 0 : (double)(l->bytes - base) / x->fit.bytes_per_second;
    return true;
}

static void kv_f64(pa_json_t *j, const char *key, double v)
{
    pa_json_key(j, key);
    pa_json_f64(j, v);
}

static void site_json(pa_json_t *j, const pa_growth_set_t *s, const site_t *x, size_t rank,
                      const limit_t *l, const pa_stackview_t *v)
{
    const pa_growth_fit_t *f = &x->fit;
    pa_json_object_begin(j, false);
    pa_json_kv_u64(j, "rank", rank);
    pa_json_key(j, "class");
    pa_json_string(j, pa_growth_class_name(f->cls));
    pa_json_kv_u64(j, "live_bytes", x->last_live);
    pa_json_kv_u64(j, "live_blocks", x->last_blocks);
    pa_json_kv_u64(j, "allocs", x->last_allocs);
    pa_json_kv_u64(j, "peak_live_bytes", x->g->peak_live_bytes);
    kv_f64(j, "bytes_per_second", f->bytes_per_second);
    pa_json_key(j, "bytes_per_event");
    if (f->has_per_event)
        pa_json_f64(j, f->bytes_per_event);
    else
        pa_json_null(j);
    kv_f64(j, "confidence", f->confidence);
    double ttl;
    pa_json_key(j, "time_to_limit_s");
    if (time_to_limit(s, x, l, &ttl))
        pa_json_f64(j, ttl);
    else
        pa_json_null(j);
    kv_f64(j, "r2_first", f->r2_first);
    kv_f64(j, "r2_last", f->r2_last);
    pa_json_kv_bool(j, "estimated", s->sampled);
    pa_report_stack_json(j, x->g->note, v->frames, v->nframes);
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

static void site_text(FILE *out, const pa_growth_set_t *s, const site_t *x, size_t rank,
                      const limit_t *l, const pa_stackview_t *v, bool all_frames)
{
    const pa_growth_fit_t *f = &x->fit;
    const char *e = s->sampled ? "~" : "";
    char b1[32], b2[32];
    fprintf(out, "\n#%zu %s (confidence %.2f): %s%s live in %s%llu block%s, %s%s", rank,
            pa_growth_class_name(f->cls), f->confidence, e,
            pa_util_format_bytes(x->last_live, b1, sizeof b1), e,
            (unsigned long long)x->last_blocks, x->last_blocks == 1 ? "" : "s", e,
            format_rate(f->bytes_per_second, b2, sizeof b2));
    if (f->has_per_event) /* (no "-0.0") */
        fprintf(out, ", %s%.1f B per allocation", e,
                fabs(f->bytes_per_event) < 0.05 ? 0.0 : f->bytes_per_event);
    double ttl;
    if (time_to_limit(s, x, l, &ttl))
        fprintf(out, ", limit in %s", format_duration(ttl, b1, sizeof b1));
    fputc('\n', out);
    pa_report_frames_text(out, v, "    ", all_frames);
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
            fputs("Sampled trace: figures marked ~ are estimates.\n", out);
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
        if (o->json)
            site_json(j, s, &s->sites[i], i + 1, &l, &v);
        else
            site_text(out, s, &s->sites[i], i + 1, &l, &v, o->all_frames);
    }
    if (o->json)
        pa_json_array_end(j);
    else if (k < s->nsites)
        fprintf(out, "\n(%zu more site%s followed; --top 0 lists every one)\n", s->nsites - k,
                s->nsites - k == 1 ? "" : "s");
    pa_report_stack_view_free(&v);
    return rc;
}

int pa_growth_trace(const char *path, const pa_growth_opts_t *o, FILE *out, pa_json_t *j)
{
    pa_trace_t t;
    pa_model_opts_t first = {.quiet = o->quiet};
    int rc = pa_model_read(path, &first, &t);
    if (rc != PA_OK)
        return rc; /* said why */
    pa_growth_set_t *s = NULL;
    rc = pa_growth_collect(&t, path, &s);
    if (rc == PA_OK) {
        if (o->json) {
            pa_json_object_begin(j, false);
            pa_json_key(j, "format");
            pa_json_string(j, "perfshim-growth");
            pa_json_kv_u64(j, "version", 1);
            pa_report_process_json(j, &t);
        } else {
            pa_report_header_text(out, &t, "perfshim growth");
            pa_report_status_text(out, &t);
        }
        rc = write_report(s, o, out, j);
        if (o->json) {
            pa_report_status_json(j, &t);
            pa_json_object_end(j);
        }
    }
    pa_growth_set_free(s);
    pa_model_free(&t);
    return rc;
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
