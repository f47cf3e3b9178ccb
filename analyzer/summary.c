/* SPDX-License-Identifier: MIT */
/*
 * summary.c — the summary report: totals of the reported snapshot (the last, or the one --at
 * chose; peaks are the maxima over the snapshots up to it), how much more memory the process held
 * than its heap needed, the pool statistics of that snapshot when the shim's pool was on
 * (poolstats.c), and the allocation sites that allocated the most bytes, grouped by symbolized
 * stack.
 */
#include "summary.h"

#include "poolstats.h"
#include "report.h"
#include "symbols.h"

#include <string.h>

/* Peak RSS over peak live bytes: how much more memory the process held than its live heap ever
 * needed (allocator overhead and fragmentation, plus everything that is not heap: code, stacks,
 * mappings). False when either is 0. Both peaks are maxima over every snapshot. */
static bool fragmentation(const pa_totals_t *to, double *ratio)
{
    if (!to->peak_rss_bytes || !to->peak_live_bytes)
        return false;
    *ratio = (double)to->peak_rss_bytes / (double)to->peak_live_bytes;
    return true;
}

/* e: "~" before each estimated figure (a sampled trace), else "" */
static void totals_text(FILE *out, const pa_totals_t *to, const char *e)
{
    char b1[32], b2[32];
    fprintf(out, "\n  allocations:      %s%llu (%s%s)\n", e, (unsigned long long)to->allocs, e,
            pa_util_format_bytes(to->alloc_bytes, b1, sizeof b1));
    fprintf(out, "  frees:            %s%llu (%s%s)\n", e, (unsigned long long)to->frees, e,
            pa_util_format_bytes(to->freed_bytes, b1, sizeof b1));
    fprintf(out, "  peak live:        %s%s\n", e,
            pa_util_format_bytes(to->peak_live_bytes, b1, sizeof b1));
    fprintf(out, "  live at snapshot: %s%llu block%s (%s%s)\n", e,
            (unsigned long long)to->live_blocks, to->live_blocks == 1 ? "" : "s", e,
            pa_util_format_bytes(to->live_bytes, b1, sizeof b1));
    fprintf(out, "  RSS:              %s (peak %s)\n",
            pa_util_format_bytes(to->rss_bytes, b1, sizeof b1),
            pa_util_format_bytes(to->peak_rss_bytes, b2, sizeof b2));
    fprintf(out, "  untracked frees:  %llu\n", (unsigned long long)to->untracked_frees);
    double ratio;
    if (fragmentation(to, &ratio))
        fprintf(out, "  fragmentation:    RSS is %.1fx the peak live heap (peak RSS / peak live)\n",
                ratio);
}

static void totals_json(pa_json_t *j, const pa_trace_t *t, const pa_totals_t *to)
{
    pa_json_key(j, "totals");
    pa_json_object_begin(j, false);
    /* the SNAPSHOT totals as declared (trace_rows.h), the peak before the live figures */
    PA_ROW_JSON(j, SNAPSHOT_TOTALS, to, allocs, freed_bytes);
    PA_ROW_JSON1(j, SNAPSHOT_TOTALS, to, peak_live_bytes);
    PA_ROW_JSON(j, SNAPSHOT_TOTALS, to, live_blocks, live_bytes);
    PA_ROW_JSON(j, SNAPSHOT_TOTALS, to, rss_bytes, untracked_frees);
    pa_report_estimate_json(j, t, "live_bytes", to->live_bytes, "live_blocks", to->live_blocks);
    pa_json_key(j, "fragmentation");
    double ratio;
    if (fragmentation(to, &ratio))
        pa_json_f64(j, ratio);
    else
        pa_json_null(j);
    pa_json_object_end(j);
}

/* An alert the report shows: with --at, none raised after the chosen snapshot (they describe a
 * later state of the process than every other figure of the report). */
static bool alert_shown(const pa_trace_t *t, const pa_alert_t *a)
{
    return !t->frozen || a->time_ns <= t->snap.time_ns;
}

static size_t alerts_later(const pa_trace_t *t)
{
    size_t n = 0;
    for (size_t i = 0; i < t->nalerts; i++)
        n += !alert_shown(t, &t->alerts[i]);
    return n;
}

/* The alerts of every ALERT chunk (PERFSHIM_ALERT_*) up to the report's snapshot, oldest
 * first. */
static void alerts_json(pa_json_t *j, const pa_trace_t *t)
{
    pa_json_key(j, "alerts");
    pa_json_array_begin(j, false);
    for (size_t i = 0; i < t->nalerts; i++) {
        const pa_alert_t *a = &t->alerts[i];
        if (!alert_shown(t, a))
            continue;
        pa_json_object_begin(j, true);
        pa_json_key(j, "kind");
        pa_json_string(j, pa_model_alert_name(a->kind));
        PA_ROW_JSON(j, ALERT, a, time_ns, base);
        pa_json_object_end(j);
    }
    pa_json_array_end(j);
    pa_json_key(j, "alerts_dropped");
    pa_json_u64(j, t->alerts_dropped);
    pa_json_key(j, "alerts_later");
    pa_json_u64(j, alerts_later(t));
}

static void alerts_text(FILE *out, const pa_trace_t *t)
{
    size_t later = alerts_later(t);
    if (t->nalerts == later)
        return;
    char b1[32], b2[32], b3[32];
    fprintf(out, "\nAlerts (%zu%s", t->nalerts - later,
            t->alerts_dropped ? " shown, more dropped" : "");
    if (later)
        fprintf(out, "; %zu more after this snapshot", later);
    fputs("):\n", out);
    for (size_t i = 0; i < t->nalerts; i++) {
        const pa_alert_t *a = &t->alerts[i];
        if (!alert_shown(t, a))
            continue;
        fprintf(out, "  %10.3f s  %-6s  %s reached %s", (double)a->time_ns / 1e9,
                pa_model_alert_name(a->kind), pa_util_format_bytes(a->value, b1, sizeof b1),
                pa_util_format_bytes(a->threshold, b2, sizeof b2));
        if (a->kind == PS_ALERT_CGROUP)
            fprintf(out, " (memory.max %s)", pa_util_format_bytes(a->base, b3, sizeof b3));
        else if (a->kind == PS_ALERT_GROWTH)
            fprintf(out, " (from %s at the previous interval)",
                    pa_util_format_bytes(a->base, b3, sizeof b3));
        fputc('\n', out);
    }
}

static void site_json(pa_json_t *j, const pa_trace_t *t, const pa_group_t *g,
                      const pa_stackview_t *v)
{
    pa_json_object_begin(j, false);
    pa_json_key(j, "allocs");
    pa_json_u64(j, g->allocs);
    pa_json_key(j, "bytes");
    pa_json_u64(j, g->alloc_bytes);
    pa_json_key(j, "frees");
    pa_json_u64(j, g->frees);
    pa_json_key(j, "freed_bytes");
    pa_json_u64(j, g->freed_bytes);
    pa_json_key(j, "live_blocks");
    pa_json_u64(j, g->live_blocks);
    pa_json_key(j, "live_bytes");
    pa_json_u64(j, g->live_bytes);
    pa_json_key(j, "peak_live_bytes");
    pa_json_u64(j, g->peak_live_bytes);
    pa_json_key(j, "stacks");
    pa_json_u64(j, g->stacks);
    pa_report_estimate_json(j, t, "bytes", g->alloc_bytes, "allocs", g->allocs);
    if (g->note) {
        pa_json_key(j, "note");
        pa_json_string(j, g->note);
    }
    pa_json_key(j, "stack");
    pa_report_frames_json(j, v);
    pa_json_object_end(j);
}

int pa_summary_report(pa_trace_t *t, const pa_summary_opts_t *o, FILE *out, pa_json_t *j)
{
    pa_symbols_t *syms;
    int rc = pa_symbols_new(t, &syms);
    if (rc != PA_OK)
        return rc;
    pa_groups_t g;
    rc = pa_report_group(t, syms, false, &g);
    if (rc != PA_OK) {
        pa_symbols_free(syms);
        return rc;
    }
    size_t shown = o->top && o->top < g.n ? (size_t)o->top : g.n;
    pa_report_sort_top_by_alloc(&g, shown);
    pa_stackview_t v = {0}; /* the frames of one printed site at a time */
    const pa_totals_t *to = &t->snap.totals;
    if (o->json) {
        pa_json_object_begin(j, false);
        pa_json_key(j, "format");
        pa_json_string(j, "perfshim-summary");
        pa_json_key(j, "version");
        pa_json_u64(j, 1);
        pa_report_process_json(j, t);
        totals_json(j, t, to);
        pa_json_key(j, "sites");
        pa_json_u64(j, g.n);
        pa_json_key(j, "top_sites");
        pa_json_array_begin(j, false);
        for (size_t i = 0; i < shown && rc == PA_OK; i++)
            if ((rc = pa_report_group_view(&g, g.items[i], &v)) == PA_OK)
                site_json(j, t, g.items[i], &v);
        pa_json_array_end(j);
        pa_poolstats_json(j, pa_model_pool(t));
        pa_report_status_json(j, t);
        alerts_json(j, t);
        pa_json_object_end(j);
    } else {
        char b1[32], b2[32], b3[32];
        const char *e = pa_report_est(t);
        pa_report_header_text(out, t, "perfshim summary");
        pa_report_status_text(out, t);
        totals_text(out, to, e);
        alerts_text(out, t);
        if (pa_model_pool(t))
            pa_poolstats_text(out, pa_model_pool(t));
        fprintf(out, "\nTop %zu of %zu allocation sites by bytes allocated:\n", shown, g.n);
        for (size_t i = 0; i < shown && rc == PA_OK; i++) {
            const pa_group_t *x = g.items[i];
            if ((rc = pa_report_group_view(&g, x, &v)) != PA_OK)
                break;
            fprintf(out,
                    "\n%zu. %s%s in %s%llu allocation%s (%s%llu freed); live %s%llu block%s "
                    "(%s%s)",
                    i + 1, e, pa_util_format_bytes(x->alloc_bytes, b1, sizeof b1), e,
                    (unsigned long long)x->allocs, x->allocs == 1 ? "" : "s", e,
                    (unsigned long long)x->frees, e, (unsigned long long)x->live_blocks,
                    x->live_blocks == 1 ? "" : "s", e,
                    pa_util_format_bytes(x->live_bytes, b2, sizeof b2));
            /* the per-site peak is sampled at snapshots: only worth a word when it says more */
            if (x->peak_live_bytes > x->live_bytes)
                fprintf(out, ", most live at a snapshot %s%s", e,
                        pa_util_format_bytes(x->peak_live_bytes, b3, sizeof b3));
            fputc('\n', out);
            pa_report_frames_text(out, &v, "    ", o->all_frames);
        }
    }
    pa_report_stack_view_free(&v);
    pa_report_groups_free(&g);
    pa_symbols_free(syms);
    return rc;
}

static int summary_one(pa_trace_t *t, void *ctx, FILE *out, pa_json_t *j)
{
    pa_model_drop_ages_advice(t); /* (read by no part of the summary) */
    pa_model_drop_row_index(t);   /* (nor are the rows looked up by stack: 2 MB on a compile) */
    return pa_summary_report(t, ctx, out, j);
}

int pa_summary_files(char *const *paths, size_t n, const pa_summary_opts_t *o, bool as_array,
                     FILE *out)
{
    pa_each_opts_t eo = {.json = o->json, .quiet = o->quiet, .as_array = as_array, .at = &o->at};
    return pa_report_each_file(paths, n, &eo, out, summary_one, (void *)o);
}
