/* SPDX-License-Identifier: MIT */
/*
 * timeline.c — `perfshim timeline`: the trace over time, in two passes over the file (as
 * heaptrack's analyzer makes passes over its data):
 *   1. the model reads the whole trace; the rows of its last snapshot are grouped by symbolized
 *      stack (report.c) and the top sites, by live bytes at that snapshot, are chosen;
 *   2. the model reads it again and calls on_snapshot() after every snapshot, which writes its
 *      JSON object, or its table row (one per span of snapshots, --rows of them) at once, and
 *      keeps what the chart needs: one column per span of snapshots, at most
 *      PA_TIMELINE_CHART_WIDTH of them.
 * So memory is that of the model (stacks, modules, one snapshot's rows) plus O(top × chart
 * width), whatever the number of snapshots. Shapes in docs/analyzer.md.
 */
#include "timeline.h"

#include "json.h"
#include "model.h"
#include "report.h"
#include "symbols.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

/* One snapshot's figures. */
typedef struct {
    uint64_t time_ns, live, rss, allocs, alloc_bytes;
} tl_point_t;

typedef struct {
    const pa_timeline_opts_t *o;
    pa_json_t *j;  /* JSON: each snapshot written as it is read */
    uint64_t n;    /* snapshots in the file (pass 1) */
    size_t nsites; /* sites followed */
    uint32_t *ids; /* the stacks merged into them ... */
    size_t *site;  /* ... and the site of each */
    size_t nids;
    uint64_t *bytes, *blocks; /* per site, at the current snapshot */
    tl_point_t prev;          /* the snapshot before (zero: process start) */
    /* text: per chart column the highest live heap, RSS and site bytes of its snapshots, and
     * the last snapshot of the column (for the allocation rate); table rows are printed as
     * their span ends */
    FILE *out;
    size_t width, nrows;
    tl_point_t *col_end;
    uint64_t *col_max;   /* width × (2 + nsites): live, RSS, then each site */
    tl_point_t row_prev; /* the last snapshot of the table row before (zero: process start) */
    const char *e;       /* "~" before each estimated figure (a sampled trace), else "" */
} tl_t;

static void tl_free(tl_t *x)
{
    free(x->ids);
    free(x->site);
    free(x->bytes);
    free(x->blocks);
    free(x->col_end);
    free(x->col_max);
}

/* Bytes (or allocations) per second from a to b; false when no time passed or the counter went
 * back (a file of another process, damaged). */
static bool rate(uint64_t va, uint64_t vb, uint64_t ta, uint64_t tb, double *out)
{
    if (tb <= ta || vb < va)
        return false;
    *out = (double)(vb - va) / ((double)(tb - ta) / 1e9);
    return true;
}

static void rate_json(pa_json_t *j, const char *key, uint64_t va, uint64_t vb, uint64_t ta,
                      uint64_t tb)
{
    double r;
    pa_json_key(j, key);
    if (rate(va, vb, ta, tb, &r))
        pa_json_f64(j, r);
    else
        pa_json_null(j);
}

static void snapshot_json(tl_t *x, const pa_trace_t *t)
{
    pa_json_t *j = x->j;
    const pa_snapshot_t *s = &t->snap;
    const pa_totals_t *to = &s->totals;
    pa_json_object_begin(j, true);
    pa_json_kv_u64(j, "number", s->number);
    pa_json_kv_u64(j, "time_ns", s->time_ns);
    pa_json_key(j, "reason");
    pa_json_string(j, pa_model_snapshot_reason(s));
    pa_json_kv_bool(j, "delta", s->delta);
    pa_json_kv_u64(j, "live_bytes", to->live_bytes);
    pa_json_kv_u64(j, "live_blocks", to->live_blocks);
    pa_json_kv_u64(j, "rss_bytes", to->rss_bytes);
    pa_json_kv_u64(j, "allocs", to->allocs);
    pa_json_kv_u64(j, "alloc_bytes", to->alloc_bytes);
    pa_json_kv_u64(j, "frees", to->frees);
    pa_json_kv_u64(j, "freed_bytes", to->freed_bytes);
    rate_json(j, "alloc_bytes_per_s", x->prev.alloc_bytes, to->alloc_bytes, x->prev.time_ns,
              s->time_ns);
    rate_json(j, "allocs_per_s", x->prev.allocs, to->allocs, x->prev.time_ns, s->time_ns);
    pa_json_key(j, "site_live_bytes");
    pa_json_array_begin(j, true);
    for (size_t i = 0; i < x->nsites; i++)
        pa_json_u64(j, x->bytes[i]);
    pa_json_array_end(j);
    pa_json_key(j, "site_live_blocks");
    pa_json_array_begin(j, true);
    for (size_t i = 0; i < x->nsites; i++)
        pa_json_u64(j, x->blocks[i]);
    pa_json_array_end(j);
    pa_json_object_end(j);
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
    return a > b ? a : b;
}

/* e: "~" before an estimate, else "" */
static void format_rate(double r, bool ok, const char *e, char *buf, size_t size)
{
    if (!ok)
        snprintf(buf, size, "-");
    else if (r >= 1e9)
        snprintf(buf, size, "%s%.1fG", e, r / 1e9);
    else if (r >= 1e6)
        snprintf(buf, size, "%s%.1fM", e, r / 1e6);
    else if (r >= 1e4)
        snprintf(buf, size, "%s%.1fk", e, r / 1e3);
    else
        snprintf(buf, size, "%s%.0f", r > 0 ? e : "", r);
}

/* bytes as pa_util_format_bytes gives them, after e ("~" for an estimate other than 0) */
static const char *est_bytes(const char *e, uint64_t v, char *buf, size_t size)
{
    char b[32];
    snprintf(buf, size, "%s%s", v ? e : "", pa_util_format_bytes(v, b, sizeof b));
    return buf;
}

static void table_head(FILE *out, const tl_t *x)
{
    fprintf(out, "\n%10s %10s %10s %10s %10s", "time (s)", "live heap", "RSS", "alloc B/s",
            "allocs/s");
    for (size_t i = 0; i < x->nsites; i++) {
        char h[32];
        snprintf(h, sizeof h, "site %zu", i + 1);
        fprintf(out, " %10s", h);
    }
    fputc('\n', out);
}

/* A table row: the last snapshot p of its span; rates over the span. */
static void table_row(tl_t *x, const tl_point_t *p)
{
    FILE *out = x->out;
    const tl_point_t *before = &x->row_prev;
    char b[32];
    double rb = 0, ra = 0;
    bool okb = rate(before->alloc_bytes, p->alloc_bytes, before->time_ns, p->time_ns, &rb);
    bool oka = rate(before->allocs, p->allocs, before->time_ns, p->time_ns, &ra);
    fprintf(out, "%10.1f", (double)p->time_ns / 1e9);
    fprintf(out, " %10s", est_bytes(x->e, p->live, b, sizeof b));
    fprintf(out, " %10s", pa_util_format_bytes(p->rss, b, sizeof b));
    format_rate(rb, okb, x->e, b, sizeof b);
    fprintf(out, " %10s", b);
    format_rate(ra, oka, x->e, b, sizeof b);
    fprintf(out, " %10s", b);
    for (size_t i = 0; i < x->nsites; i++)
        fprintf(out, " %10s", est_bytes(x->e, x->bytes[i], b, sizeof b));
    fputc('\n', out);
    x->row_prev = *p;
}

/* Pass 2: after each snapshot. */
static int on_snapshot(pa_trace_t *t, void *ctx)
{
    tl_t *x = ctx;
    const pa_snapshot_t *s = &t->snap;
    memset(x->bytes, 0, x->nsites * sizeof *x->bytes);
    memset(x->blocks, 0, x->nsites * sizeof *x->blocks);
    for (size_t i = 0; i < x->nids; i++) {
        const pa_row_t *r = pa_model_row(t, x->ids[i]);
        if (r) {
            x->bytes[x->site[i]] += r->live_bytes;
            x->blocks[x->site[i]] += r->live_blocks;
        }
    }
    tl_point_t p = {s->time_ns, s->totals.live_bytes, s->totals.rss_bytes, s->totals.allocs,
                    s->totals.alloc_bytes};
    if (x->o->json) {
        snapshot_json(x, t);
    } else {
        uint64_t k = s->number - 1; /* < n: pass 2 stops at snapshot n */
        size_t c = (size_t)(k * x->width / x->n);
        uint64_t *m = &x->col_max[c * (2 + x->nsites)];
        m[0] = max_u64(m[0], p.live);
        m[1] = max_u64(m[1], p.rss);
        for (size_t i = 0; i < x->nsites; i++)
            m[2 + i] = max_u64(m[2 + i], x->bytes[i]);
        x->col_end[c] = p;
        /* the last snapshot of its table row's span: print the row */
        if (k + 1 == x->n || (k * x->nrows / x->n) != ((k + 1) * x->nrows / x->n))
            table_row(x, &p);
    }
    x->prev = p;
    return PA_OK;
}

/* ---- text ------------------------------------------------------------------------------------ */

/* A UTF-8 terminal, as the locale variables say (the analyzer does not call setlocale). */
static bool utf8_locale(void)
{
    const char *vars[] = {"LC_ALL", "LC_CTYPE", "LANG"};
    for (size_t i = 0; i < 3; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v)
            return strcasestr(v, "UTF-8") || strcasestr(v, "utf8");
    }
    return false;
}

/* One chart line: the label, one character per column scaled from 0 to the highest value. */
static void chart_line(FILE *out, const char *label, const double *v, size_t n, bool ascii,
                       const char *summary)
{
    static const char *const blocks[] = {"\u2581", "\u2582", "\u2583", "\u2584",
                                         "\u2585", "\u2586", "\u2587", "\u2588"};
    static const char levels[] = ".:-=+*#%@";
    double hi = 0;
    for (size_t i = 0; i < n; i++)
        hi = v[i] > hi ? v[i] : hi;
    fprintf(out, "  %-12s ", label);
    for (size_t i = 0; i < n; i++) {
        size_t nlev = ascii ? sizeof levels - 1 : 8;
        if (!(v[i] > 0) || !(hi > 0)) {
            fputc(ascii ? ' ' : ' ', out);
            continue;
        }
        size_t lev = (size_t)(v[i] / hi * (double)nlev + 0.999999);
        lev = lev < 1 ? 1 : lev > nlev ? nlev : lev;
        if (ascii)
            fputc(levels[lev - 1], out);
        else
            fputs(blocks[lev - 1], out);
    }
    fprintf(out, "  %s\n", summary);
}

static int chart_text(FILE *out, const tl_t *x)
{
    size_t w = x->width, stride = 2 + x->nsites;
    double *v = malloc((w ? w : 1) * sizeof *v);
    if (!v)
        return PA_ENOMEM;
    bool ascii = x->o->ascii || !utf8_locale();
    char b1[32], b2[32], sum[96];
    if (x->n == w)
        fprintf(out, "\nOver time (one column per snapshot):\n");
    else
        fprintf(out, "\nOver time (%zu columns, each the highest value of %s%.1f snapshots):\n", w,
                x->n % w ? "about " : "", (double)x->n / (double)w);
    for (size_t series = 0; series < stride; series++) {
        uint64_t last = series == 0   ? x->prev.live
                        : series == 1 ? x->prev.rss
                                      : x->bytes[series - 2];
        uint64_t hi = 0;
        for (size_t c = 0; c < w; c++) {
            v[c] = (double)x->col_max[c * stride + series];
            hi = max_u64(hi, x->col_max[c * stride + series]);
        }
        char label[32];
        if (series < 2)
            snprintf(label, sizeof label, "%s", series == 0 ? "live heap" : "RSS");
        else
            snprintf(label, sizeof label, "site %zu", series - 1);
        const char *e = series == 1 ? "" : x->e; /* RSS is read, not estimated */
        snprintf(sum, sizeof sum, "max %s, last %s", est_bytes(e, hi, b1, sizeof b1),
                 est_bytes(e, last, b2, sizeof b2));
        chart_line(out, label, v, w, ascii, sum);
    }
    /* allocation rate over each column: counters at its end against the column before */
    tl_point_t before = {0};
    double hi = 0;
    for (size_t c = 0; c < w; c++) {
        double r = 0;
        if (!rate(before.alloc_bytes, x->col_end[c].alloc_bytes, before.time_ns,
                  x->col_end[c].time_ns, &r))
            r = 0;
        v[c] = r;
        hi = r > hi ? r : hi;
        before = x->col_end[c];
    }
    format_rate(hi, true, x->e, b1, sizeof b1);
    snprintf(sum, sizeof sum, "max %sB/s", b1);
    chart_line(out, "alloc rate", v, w, ascii, sum);
    free(v);
    return PA_OK;
}

/* ---- the sites (pass 1) ---------------------------------------------------------------------- */

static void site_json(pa_json_t *j, const pa_group_t *g, const pa_stackview_t *v, size_t i)
{
    pa_json_object_begin(j, false);
    pa_json_kv_u64(j, "site", i + 1);
    pa_json_kv_u64(j, "live_bytes", g->live_bytes);
    pa_json_kv_u64(j, "live_blocks", g->live_blocks);
    pa_json_kv_u64(j, "allocs", g->allocs);
    pa_json_kv_u64(j, "alloc_bytes", g->alloc_bytes);
    pa_json_kv_u64(j, "stacks", g->stacks);
    pa_json_kv_u64(j, "hidden_frames", g->hidden);
    pa_report_stack_json(j, g->note, v->frames, v->nframes);
    pa_json_object_end(j);
}

/* Chooses the sites (top groups by live bytes at the last snapshot, with live bytes), writes
 * them, and fills x->ids/site with the stacks merged into each. */
static int sites(pa_trace_t *t, tl_t *x, FILE *out)
{
    pa_symbols_t *syms;
    int rc = pa_symbols_new(t, &syms);
    if (rc != PA_OK)
        return rc;
    pa_groups_t g;
    if ((rc = pa_report_group(t, syms, false, &g)) != PA_OK) {
        pa_symbols_free(syms);
        return rc;
    }
    if (x->o->top) /* (0: no site followed, none sorted) */
        pa_report_sort_top_by_live(&g, x->o->top < g.n ? (size_t)x->o->top : g.n);
    size_t k = 0;
    while (k < g.n && k < x->o->top && g.items[k]->live_bytes)
        k++;
    x->nsites = k;
    size_t n = 0;
    for (size_t r = 0; r < t->snap.nrows; r++)
        for (size_t i = 0; i < k; i++)
            n += g.row_group[r] == g.items[i];
    x->ids = malloc((n ? n : 1) * sizeof *x->ids);
    x->site = malloc((n ? n : 1) * sizeof *x->site);
    x->bytes = calloc(k ? k : 1, sizeof *x->bytes);
    x->blocks = calloc(k ? k : 1, sizeof *x->blocks);
    if (!x->ids || !x->site || !x->bytes || !x->blocks)
        rc = PA_ENOMEM;
    for (size_t r = 0; r < t->snap.nrows && rc == PA_OK; r++)
        for (size_t i = 0; i < k; i++)
            if (g.row_group[r] == g.items[i]) {
                x->ids[x->nids] = t->snap.rows[r].stack_id;
                x->site[x->nids++] = i;
            }
    pa_stackview_t v = {0};
    char b1[32];
    if (x->o->json) {
        pa_json_key(x->j, "sites");
        pa_json_array_begin(x->j, false);
    } else if (rc == PA_OK) {
        fprintf(out, "\n%zu snapshot%s", (size_t)x->n, x->n == 1 ? "" : "s");
        if (k)
            fprintf(out, "; the %zu site%s with the most live bytes at the last:\n", k,
                    k == 1 ? "" : "s");
        else
            fputs("; no site has live bytes at the last\n", out);
    }
    for (size_t i = 0; i < k && rc == PA_OK; i++) {
        const pa_group_t *gi = g.items[i];
        if ((rc = pa_report_group_view(&g, gi, &v)) != PA_OK)
            break;
        if (x->o->json) {
            site_json(x->j, gi, &v, i);
            continue;
        }
        const char *e = x->e;
        fprintf(out,
                "\nSite %zu: %s in %s%llu block%s live at the last snapshot (%s%llu allocation%s",
                i + 1, est_bytes(e, gi->live_bytes, b1, sizeof b1), gi->live_blocks ? e : "",
                (unsigned long long)gi->live_blocks, gi->live_blocks == 1 ? "" : "s",
                gi->allocs ? e : "", (unsigned long long)gi->allocs, gi->allocs == 1 ? "" : "s");
        if (gi->stacks > 1)
            fprintf(out, ", %llu stacks merged", (unsigned long long)gi->stacks);
        fputs(")\n", out);
        pa_report_frames_text(out, &v, "    ", x->o->all_frames);
    }
    if (x->o->json)
        pa_json_array_end(x->j);
    pa_report_stack_view_free(&v);
    pa_report_groups_free(&g);
    pa_symbols_free(syms);
    return rc;
}

/* ---- one trace --------------------------------------------------------------------------- */

/* Pass 1 on *first (the file at path, loaded at its last snapshot), freed after it when owned
 * (never two models at once), then pass 2. */
static int timeline_of(pa_trace_t *first, bool owned, const char *path, const pa_timeline_opts_t *o,
                       FILE *out, pa_json_t *j)
{
    tl_t x = {.o = o, .j = j, .e = pa_report_est(first)};
    pa_trace_t t;
    int rc;
    x.n = first->nsnapshots;
    if (o->json) {
        pa_json_object_begin(j, false);
        pa_json_key(j, "format");
        pa_json_string(j, "perfshim-timeline");
        pa_json_kv_u64(j, "version", 1);
        pa_report_process_json(j, first);
    } else {
        pa_report_header_text(out, first, "perfshim timeline");
        pa_report_status_text(out, first);
    }
    rc = sites(first, &x, out);
    bool damaged = first->damaged;
    if (owned)
        pa_model_free(first); /* pass 2 reads it again: never two models at once */
    if (rc != PA_OK) {
        tl_free(&x);
        return rc;
    }
    if (!o->json) {
        x.out = out;
        x.width = x.n < PA_TIMELINE_CHART_WIDTH ? (size_t)x.n : PA_TIMELINE_CHART_WIDTH;
        x.nrows = o->rows && o->rows < x.n ? (size_t)o->rows : (size_t)x.n;
        x.col_end = calloc(x.width, sizeof *x.col_end);
        x.col_max = calloc(x.width * (2 + x.nsites), sizeof *x.col_max);
        if (!x.col_end || !x.col_max) {
            tl_free(&x);
            return PA_ENOMEM;
        }
        table_head(out, &x);
    } else {
        pa_json_key(j, "timeline");
        pa_json_array_begin(j, false);
    }
    /* pass 2: the same snapshots (a file still being written may have more: not read) */
    uint32_t ids = 0; /* pass 2 decodes the rows of the followed stacks only */
    for (size_t i = 0; i < x.nids; i++)
        ids = x.ids[i] >= ids ? x.ids[i] + 1 : ids;
    uint8_t *wanted = calloc(ids / 8 + 1, 1);
    if (!wanted) {
        tl_free(&x);
        return PA_ENOMEM;
    }
    for (size_t i = 0; i < x.nids; i++)
        wanted[x.ids[i] / 8] |= (uint8_t)(1u << (x.ids[i] % 8));
    pa_model_opts_t second = {.quiet = true,
                              .at = {.kind = PA_AT_NUMBER, .number = x.n},
                              .on_snapshot = on_snapshot,
                              .ctx = &x,
                              .skip_stacks = true,
                              .pass = damaged ? PA_PASS_FIRST : PA_PASS_SERIES,
                              .rows_wanted = wanted,
                              .rows_wanted_ids = ids};
    rc = pa_model_read(path, &second, &t);
    free(wanted);
    if (rc == PA_OK) {
        if (o->json) {
            pa_json_array_end(j);
            pa_report_status_json(j, &t);
            pa_json_object_end(j);
        } else {
            if (x.nrows < x.n)
                fprintf(out,
                        "(one row per %s%.1f snapshots, the last of them; rates over the row's "
                        "span; --rows 0 shows every snapshot)\n",
                        x.n % x.nrows ? "about " : "", (double)x.n / (double)x.nrows);
            rc = chart_text(out, &x);
        }
        pa_model_free(&t);
    }
    tl_free(&x);
    return rc;
}

int pa_timeline_trace(const char *path, const pa_timeline_opts_t *o, FILE *out, pa_json_t *j)
{
    pa_trace_t t;
    int rc = pa_model_load_unaged(path, o->quiet, &(pa_at_t){.kind = PA_AT_LAST}, &t);
    if (rc != PA_OK)
        return rc; /* said why */
    /* the timeline reads neither */
    pa_model_drop_ages_advice(&t);
    /* nor looks this model's rows up by stack (pass 2 reads into a model of its own): 2 MB
     * of T2, held while its rows are grouped */
    pa_model_drop_row_index(&t);
    /* as pa_timeline_trace_loaded, but the model is freed before pass 2 (owned) */
    return timeline_of(&t, true, path, o, out, j);
}

int pa_timeline_trace_loaded(pa_trace_t *t, const char *path, const pa_timeline_opts_t *o,
                             FILE *out, pa_json_t *j)
{
    return timeline_of(t, false, path, o, out, j);
}

static int timeline_path(const char *path, void *ctx, FILE *out, pa_json_t *j)
{
    return pa_timeline_trace(path, ctx, out, j);
}

int pa_timeline_files(char *const *paths, size_t n, const pa_timeline_opts_t *o, bool as_array,
                      FILE *out)
{
    return pa_report_each_path(paths, n, o->json, as_array, out, timeline_path, (void *)o);
}
