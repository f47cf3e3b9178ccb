/* SPDX-License-Identifier: MIT */
/*
 * leaks.c — the leak report: rows of the reported snapshot (the last, or the one --at chose)
 * with live blocks, grouped by symbolized stack (report.c), matched against the suppressions,
 * sorted by bytes, written as text or JSON (shapes in docs/analyzer.md; the JSON shape is
 * stable).
 */
#include "leaks.h"

#include "report.h"
#include "symbols.h"

#include <stdlib.h>
#include <string.h>

static void leak_json(pa_json_t *j, const pa_trace_t *t, const pa_group_t *g,
                      const pa_stackview_t *v, const pa_suppress_t *supp)
{
    pa_json_object_begin(j, false);
    pa_json_key(j, "blocks");
    pa_json_u64(j, g->live_blocks);
    pa_json_key(j, "bytes");
    pa_json_u64(j, g->live_bytes);
    pa_json_key(j, "allocs");
    pa_json_u64(j, g->allocs);
    pa_json_key(j, "stacks");
    pa_json_u64(j, g->stacks);
    pa_json_key(j, "hidden_frames");
    pa_json_u64(j, g->hidden);
    pa_report_estimate_json(j, t, "bytes", g->live_bytes, "blocks", g->live_blocks);
    if (g->note) {
        pa_json_key(j, "note");
        pa_json_string(j, g->note);
    }
    if (g->suppressed_by >= 0) {
        pa_json_key(j, "suppressed_by");
        pa_json_string(j, supp->patterns.items[g->suppressed_by]);
        pa_json_key(j, "suppression_origin");
        pa_json_string(j, supp->origins.items[g->suppressed_by]);
    }
    pa_json_key(j, "stack");
    pa_report_frames_json(j, v);
    pa_json_object_end(j);
}

static const char *plural(uint64_t n, const char *one, const char *many)
{
    return n == 1 ? one : many;
}

/* ---- Suppressions used (as LeakSanitizer prints them) ------------------------------------ */

typedef struct {
    uint64_t blocks, bytes, stacks;
} supp_use_t;

/* Per pattern of supp, what it suppressed in g; NULL when nothing was (or out of memory). */
static supp_use_t *supp_used(const pa_groups_t *g, const pa_suppress_t *supp)
{
    if (!supp || !supp->patterns.n)
        return NULL;
    supp_use_t *u = calloc(supp->patterns.n, sizeof *u);
    bool any = false;
    for (size_t i = 0; u && i < g->n; i++) {
        const pa_group_t *x = g->items[i];
        if (x->suppressed_by < 0 || (size_t)x->suppressed_by >= supp->patterns.n)
            continue;
        supp_use_t *e = &u[x->suppressed_by];
        e->blocks += x->live_blocks;
        e->bytes += x->live_bytes;
        e->stacks++;
        any = true;
    }
    if (!any) {
        free(u);
        u = NULL;
    }
    return u;
}

static void supp_used_text(FILE *out, const pa_groups_t *g, const pa_suppress_t *supp)
{
    supp_use_t *u = supp_used(g, supp);
    if (!u)
        return;
    fprintf(out, "\nSuppressions used:\n  %10s %12s  %s\n", "blocks", "bytes", "pattern (from)");
    for (size_t i = 0; i < supp->patterns.n; i++)
        if (u[i].stacks)
            fprintf(out, "  %10llu %12llu  %s (%s)\n", (unsigned long long)u[i].blocks,
                    (unsigned long long)u[i].bytes, supp->patterns.items[i],
                    supp->origins.items[i]);
    free(u);
}

static void supp_used_json(pa_json_t *j, const pa_groups_t *g, const pa_suppress_t *supp)
{
    supp_use_t *u = supp_used(g, supp);
    pa_json_key(j, "suppressions_used");
    pa_json_array_begin(j, false);
    for (size_t i = 0; u && i < supp->patterns.n; i++) {
        if (!u[i].stacks)
            continue;
        pa_json_object_begin(j, true);
        pa_json_key(j, "pattern");
        pa_json_string(j, supp->patterns.items[i]);
        pa_json_key(j, "origin");
        pa_json_string(j, supp->origins.items[i]);
        pa_json_key(j, "blocks");
        pa_json_u64(j, u[i].blocks);
        pa_json_key(j, "bytes");
        pa_json_u64(j, u[i].bytes);
        pa_json_key(j, "stacks");
        pa_json_u64(j, u[i].stacks);
        pa_json_object_end(j);
    }
    pa_json_array_end(j);
    free(u);
}

/* ---- Inherited blocks (a forked child's INHERITED chunk) ---------------------------------- */

/* Moves the blocks each stack inherited from the parent out of its group's live figures into
 * inherited_*: per stack, min(live now, live at the fork) of blocks and of bytes (the shim
 * counts per stack, not per block: docs/analyzer.md, "Inherited blocks"). */
static int cmp_inherited_id(const void *key, const void *row)
{
    uint32_t a = *(const uint32_t *)key, b = ((const pa_inherited_t *)row)->stack_id;
    return a < b ? -1 : a > b;
}

void pa_leaks_split_inherited(pa_groups_t *g, pa_leaks_totals_t *tot)
{
    const pa_trace_t *t = g->t;
    for (size_t i = 0; g->row_group && t->ninherited && i < t->snap.nrows; i++) {
        const pa_row_t *r = &t->snap.rows[i];
        pa_group_t *x = g->row_group[i];
        /* the model keeps the rows by increasing stack id (model.c, load_inherited) */
        const pa_inherited_t *in = x ? bsearch(&r->stack_id, t->inherited, t->ninherited,
                                               sizeof *t->inherited, cmp_inherited_id)
                                     : NULL;
        if (!in)
            continue;
        uint64_t blocks = in->blocks < r->live_blocks ? in->blocks : r->live_blocks;
        uint64_t bytes = in->bytes < r->live_bytes ? in->bytes : r->live_bytes;
        if (!blocks)
            continue;
        if (!x->inherited_blocks)
            tot->inherited++;
        x->inherited_blocks += blocks;
        x->inherited_bytes += bytes;
        x->live_blocks -= blocks;
        x->live_bytes -= bytes;
        tot->inherited_blocks += blocks;
        tot->inherited_bytes += bytes;
    }
}

static int inherited_text(FILE *out, const pa_trace_t *t, const pa_groups_t *g,
                          const pa_leaks_totals_t *tot, const pa_leaks_opts_t *o, pa_stackview_t *v)
{
    if (!tot->inherited)
        return PA_OK;
    const char *e = pa_report_est(t);
    fprintf(out,
            "\nInherited from the parent (pid %llu, forked %.3f s after start): %s%llu %s in "
            "%s%llu %s (%zu %s), live at the fork and never freed here; not leaks of this "
            "process\n",
            (unsigned long long)t->inherited_head.parent_pid,
            (double)t->inherited_head.fork_ns / 1e9, e, (unsigned long long)tot->inherited_bytes,
            plural(tot->inherited_bytes, "byte", "bytes"), e,
            (unsigned long long)tot->inherited_blocks,
            plural(tot->inherited_blocks, "block", "blocks"), tot->inherited,
            plural(tot->inherited, "stack", "stacks"));
    size_t shown = 0;
    for (size_t i = 0; i < g->n; i++) {
        const pa_group_t *x = g->items[i];
        if (!x->inherited_blocks)
            continue;
        if (o->top && shown >= o->top) {
            fprintf(out, "  (the first %zu shown; --top 0 shows all)\n", shown);
            break;
        }
        shown++;
        fprintf(out, "\nInherited %zu of %zu: %s%llu %s in %s%llu %s\n", shown, tot->inherited, e,
                (unsigned long long)x->inherited_bytes, plural(x->inherited_bytes, "byte", "bytes"),
                e, (unsigned long long)x->inherited_blocks,
                plural(x->inherited_blocks, "block", "blocks"));
        if (pa_report_group_view(g, x, v) != PA_OK)
            return PA_ENOMEM;
        pa_report_frames_text(out, v, "    ", o->all_frames);
    }
    return PA_OK;
}

static int inherited_json(pa_json_t *j, const pa_trace_t *t, const pa_groups_t *g,
                          const pa_leaks_totals_t *tot, pa_stackview_t *v)
{
    pa_json_key(j, "inherited_from");
    if (!t->has_inherited) {
        pa_json_null(j);
    } else {
        pa_json_object_begin(j, true);
        pa_json_key(j, "parent_pid");
        pa_json_u64(j, t->inherited_head.parent_pid);
        pa_json_key(j, "fork_ns");
        pa_json_u64(j, t->inherited_head.fork_ns);
        pa_json_key(j, "blocks");
        pa_json_u64(j, tot->inherited_blocks);
        pa_json_key(j, "bytes");
        pa_json_u64(j, tot->inherited_bytes);
        pa_json_object_end(j);
    }
    pa_json_key(j, "inherited");
    pa_json_array_begin(j, false);
    for (size_t i = 0; i < g->n; i++) {
        const pa_group_t *x = g->items[i];
        if (!x->inherited_blocks)
            continue;
        if (pa_report_group_view(g, x, v) != PA_OK)
            return PA_ENOMEM;
        pa_json_object_begin(j, false);
        pa_json_key(j, "inherited");
        pa_json_bool(j, true);
        pa_json_key(j, "blocks");
        pa_json_u64(j, x->inherited_blocks);
        pa_json_key(j, "bytes");
        pa_json_u64(j, x->inherited_bytes);
        pa_report_estimate_json(j, t, "bytes", x->inherited_bytes, "blocks", x->inherited_blocks);
        pa_json_key(j, "stack");
        pa_report_frames_json(j, v);
        pa_json_object_end(j);
    }
    pa_json_array_end(j);
    return PA_OK;
}

static int write_text(FILE *out, const pa_trace_t *t, const pa_groups_t *g,
                      const pa_leaks_totals_t *tot, const pa_leaks_opts_t *o, pa_stackview_t *v)
{
    const char *e = pa_report_est(t);
    pa_report_header_text(out, t, "perfshim leak report");
    pa_report_status_text(out, t);
    size_t shown = 0;
    for (size_t i = 0; i < g->n; i++) {
        const pa_group_t *x = g->items[i];
        if (x->suppressed_by >= 0 || !x->live_blocks)
            continue;
        if (o->top && shown >= o->top)
            break;
        shown++;
        fprintf(out, "\nLeak %zu of %zu: %s%llu %s in %s%llu %s", shown, tot->leaks, e,
                (unsigned long long)x->live_bytes, plural(x->live_bytes, "byte", "bytes"), e,
                (unsigned long long)x->live_blocks, plural(x->live_blocks, "block", "blocks"));
        if (x->stacks > 1)
            fprintf(out, " (%llu stacks merged)", (unsigned long long)x->stacks);
        fputc('\n', out);
        if (pa_report_group_view(g, x, v) != PA_OK)
            return PA_ENOMEM;
        pa_report_frames_text(out, v, "    ", o->all_frames);
    }
    fputc('\n', out);
    if (tot->leaks == 0)
        fprintf(out, "SUMMARY: no leaks\n");
    else
        fprintf(out, "SUMMARY: %s%llu %s leaked in %s%llu %s (%zu %s)\n", e,
                (unsigned long long)tot->leaked_bytes, plural(tot->leaked_bytes, "byte", "bytes"),
                e, (unsigned long long)tot->leaked_blocks,
                plural(tot->leaked_blocks, "block", "blocks"), tot->leaks,
                tot->leaks == 1 ? "stack" : "stacks");
    if (shown < tot->leaks)
        fprintf(out, "  (the %zu largest shown; --top 0 shows all)\n", shown);
    if (tot->suppressed)
        fprintf(out, "  suppressed: %llu %s in %llu %s (%zu %s) matched suppressions\n",
                (unsigned long long)tot->suppressed_bytes,
                plural(tot->suppressed_bytes, "byte", "bytes"),
                (unsigned long long)tot->suppressed_blocks,
                plural(tot->suppressed_blocks, "block", "blocks"), tot->suppressed,
                tot->suppressed == 1 ? "stack" : "stacks");
    supp_used_text(out, g, o->supp);
    return inherited_text(out, t, g, tot, o, v);
}

static int write_json(pa_json_t *j, const pa_trace_t *t, const pa_groups_t *g,
                      const pa_leaks_totals_t *tot, const pa_leaks_opts_t *o, pa_stackview_t *v)
{
    pa_json_object_begin(j, false);
    pa_json_key(j, "format");
    pa_json_string(j, "perfshim-leaks");
    pa_json_key(j, "version");
    pa_json_u64(j, 1);
    pa_report_process_json(j, t);
    pa_json_key(j, "totals");
    pa_json_object_begin(j, false);
    pa_json_key(j, "leaked_blocks");
    pa_json_u64(j, tot->leaked_blocks);
    pa_json_key(j, "leaked_bytes");
    pa_json_u64(j, tot->leaked_bytes);
    pa_json_key(j, "suppressed_blocks");
    pa_json_u64(j, tot->suppressed_blocks);
    pa_json_key(j, "suppressed_bytes");
    pa_json_u64(j, tot->suppressed_bytes);
    pa_json_key(j, "leaks");
    pa_json_u64(j, tot->leaks);
    pa_json_key(j, "suppressed_leaks");
    pa_json_u64(j, tot->suppressed);
    pa_report_estimate_json(j, t, "leaked_bytes", tot->leaked_bytes, "leaked_blocks",
                            tot->leaked_blocks);
    pa_json_object_end(j);
    pa_json_key(j, "leaks");
    pa_json_array_begin(j, false);
    size_t shown = 0;
    for (size_t i = 0; i < g->n; i++) {
        if (g->items[i]->suppressed_by >= 0 || !g->items[i]->live_blocks)
            continue;
        if (o->top && shown++ >= o->top)
            break;
        if (pa_report_group_view(g, g->items[i], v) != PA_OK)
            return PA_ENOMEM;
        leak_json(j, t, g->items[i], v, o->supp);
    }
    pa_json_array_end(j);
    pa_json_key(j, "suppressed");
    pa_json_array_begin(j, false);
    for (size_t i = 0; i < g->n; i++) {
        if (g->items[i]->suppressed_by < 0 || !g->items[i]->live_blocks)
            continue;
        if (pa_report_group_view(g, g->items[i], v) != PA_OK)
            return PA_ENOMEM;
        leak_json(j, t, g->items[i], v, o->supp);
    }
    pa_json_array_end(j);
    supp_used_json(j, g, o->supp);
    if (inherited_json(j, t, g, tot, v) != PA_OK)
        return PA_ENOMEM;
    pa_report_status_json(j, t);
    pa_json_object_end(j);
    return PA_OK;
}

int pa_leaks_report(pa_trace_t *t, const pa_leaks_opts_t *o, FILE *out, pa_json_t *j,
                    pa_leaks_totals_t *tot)
{
    memset(tot, 0, sizeof *tot);
    pa_symbols_t *syms;
    int rc = pa_symbols_new(t, &syms);
    if (rc != PA_OK)
        return rc;
    pa_groups_t g;
    rc = pa_report_group(t, syms, true, &g);
    if (rc != PA_OK) {
        pa_symbols_free(syms);
        return rc;
    }
    pa_report_group_suppress(&g, o->supp);
    pa_leaks_split_inherited(&g, tot);
    for (size_t i = 0; i < g.n; i++) {
        pa_group_t *x = g.items[i];
        if (!x->live_blocks) /* all of its blocks were inherited */
            continue;
        if (x->suppressed_by >= 0) {
            tot->suppressed++;
            tot->suppressed_blocks += x->live_blocks;
            tot->suppressed_bytes += x->live_bytes;
        } else {
            tot->leaks++;
            tot->leaked_blocks += x->live_blocks;
            tot->leaked_bytes += x->live_bytes;
        }
    }
    pa_report_sort_by_live(&g);
    pa_stackview_t v = {0}; /* the frames of one printed group at a time */
    rc = o->json ? write_json(j, t, &g, tot, o, &v) : write_text(out, t, &g, tot, o, &v);
    pa_report_stack_view_free(&v);
    pa_report_groups_free(&g);
    pa_symbols_free(syms);
    return rc;
}

typedef struct {
    const pa_leaks_opts_t *o;
    bool leaked; /* some trace had leaks */
} leaks_each_t;

static int leaks_one(pa_trace_t *t, void *ctx, FILE *out, pa_json_t *j)
{
    leaks_each_t *e = ctx;
    pa_leaks_totals_t tot = {0};
    int rc = pa_leaks_report(t, e->o, out, j, &tot);
    if (tot.leaks)
        e->leaked = true;
    return rc;
}

int pa_leaks_files(char *const *paths, size_t n, const pa_leaks_opts_t *o, bool as_array, FILE *out,
                   bool *leaked)
{
    leaks_each_t e = {o, false};
    int rc =
        pa_report_each_file_at(paths, n, &o->at, o->json, o->quiet, as_array, out, leaks_one, &e);
    *leaked = e.leaked;
    return rc;
}
