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

/* One entry of the report: a group (symbolized stack), or with leak classes (LEAK_KINDS) one
 * group's blocks of one class: kinds 1..4 (enum ps_leak_kind), 0 for blocks the scan did not
 * see; -1 without classes. */
typedef struct {
    const pa_group_t *g;
    int kind;
    uint64_t blocks, bytes;
} entry_t;

static const char *kind_text(int kind)
{
    static const char *const text[] = {"not scanned", "definitely lost", "indirectly lost",
                                       "possibly lost", "still reachable"};
    return kind >= 0 && kind < PS_LEAK_KINDS ? text[kind] : "";
}

static int kind_row_cmp(const void *a, const void *b)
{
    uint32_t x = ((const ps_row_leak_kind_t *)a)->stack_id,
             y = ((const ps_row_leak_kind_t *)b)->stack_id;
    return x < y ? -1 : x > y;
}

/* The entries of groups g (sorted), into *out (malloc'd): without classes one per group; with
 * them, by class (definitely, indirectly, possibly, reachable, not scanned), each class in the
 * groups' order. */
static int make_entries(const pa_trace_t *t, const pa_groups_t *g, entry_t **out, size_t *n)
{
    size_t nk;
    const ps_row_leak_kind_t *kr = pa_model_leak_kinds(t, &nk);
    *n = 0;
    *out = malloc((g->n ? g->n : 1) * (kr ? PS_LEAK_KINDS : 1) * sizeof **out);
    if (!*out)
        return PA_ENOMEM;
    if (!kr) {
        for (size_t i = 0; i < g->n; i++)
            (*out)[(*n)++] =
                (entry_t){g->items[i], -1, g->items[i]->live_blocks, g->items[i]->live_bytes};
        return PA_OK;
    }
    /* per group (by its index in g->all) and kind: blocks and bytes */
    uint64_t(*sum)[2][PS_LEAK_KINDS] = calloc(g->n ? g->n : 1, sizeof *sum);
    if (!sum) {
        free(*out);
        return PA_ENOMEM;
    }
    /* the chunk's rows by stack id, then each snapshot row's among them */
    ps_row_leak_kind_t *by_id = malloc((nk ? nk : 1) * sizeof *by_id);
    if (!by_id) {
        free(sum);
        free(*out);
        return PA_ENOMEM;
    }
    memcpy(by_id, kr, nk * sizeof *by_id);
    qsort(by_id, nk, sizeof *by_id, kind_row_cmp);
    for (size_t r = 0; r < t->snap.nrows; r++) {
        const pa_group_t *x = g->row_group[r];
        if (!x)
            continue;
        uint32_t id = t->snap.rows[r].stack_id;
        size_t lo = 0, hi = nk;
        while (lo < hi) {
            size_t m = (lo + hi) / 2;
            if (by_id[m].stack_id < id)
                lo = m + 1;
            else
                hi = m;
        }
        for (; lo < nk && by_id[lo].stack_id == id; lo++)
            if (by_id[lo].kind > 0 && by_id[lo].kind < PS_LEAK_KINDS) {
                sum[x - g->all][0][by_id[lo].kind] += by_id[lo].blocks;
                sum[x - g->all][1][by_id[lo].kind] += by_id[lo].bytes;
            }
    }
    free(by_id);
    for (size_t i = 0; i < g->n; i++) { /* what the scan did not see: kind 0 */
        uint64_t(*s)[PS_LEAK_KINDS] = sum[g->items[i] - g->all];
        uint64_t b = 0, y = 0;
        for (int k = 1; k < PS_LEAK_KINDS; k++)
            b += s[0][k], y += s[1][k];
        s[0][0] = g->items[i]->live_blocks > b ? g->items[i]->live_blocks - b : 0;
        s[1][0] = g->items[i]->live_bytes > y ? g->items[i]->live_bytes - y : 0;
    }
    static const int order[] = {PS_LEAK_DEFINITELY, PS_LEAK_INDIRECTLY, PS_LEAK_POSSIBLY,
                                PS_LEAK_REACHABLE, 0};
    for (size_t o = 0; o < PS_LEAK_KINDS; o++)
        for (size_t i = 0; i < g->n; i++) {
            const uint64_t(*s)[PS_LEAK_KINDS] = sum[g->items[i] - g->all];
            if (s[0][order[o]])
                (*out)[(*n)++] = (entry_t){g->items[i], order[o], s[0][order[o]], s[1][order[o]]};
        }
    free(sum);
    return PA_OK;
}

static void leak_json(pa_json_t *j, const pa_trace_t *t, const entry_t *e, const pa_stackview_t *v,
                      const pa_suppress_t *supp)
{
    const pa_group_t *g = e->g;
    pa_json_object_begin(j, false);
    if (e->kind >= 0) {
        pa_json_key(j, "kind");
        pa_json_string(j, pa_model_leak_kind_name((uint32_t)e->kind));
    }
    pa_json_key(j, "blocks");
    pa_json_u64(j, e->blocks);
    pa_json_key(j, "bytes");
    pa_json_u64(j, e->bytes);
    pa_json_key(j, "allocs");
    pa_json_u64(j, g->allocs);
    pa_json_key(j, "stacks");
    pa_json_u64(j, g->stacks);
    pa_json_key(j, "hidden_frames");
    pa_json_u64(j, g->hidden);
    pa_report_estimate_json(j, t, "bytes", e->bytes, "blocks", e->blocks);
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

static int write_text(FILE *out, const pa_trace_t *t, const pa_groups_t *g, const entry_t *en,
                      size_t nen, const pa_leaks_totals_t *tot, const pa_leaks_opts_t *o,
                      pa_stackview_t *v)
{
    const char *e = pa_report_est(t);
    pa_report_header_text(out, t, "perfshim leak report");
    pa_report_status_text(out, t);
    size_t shown = 0;
    for (size_t i = 0; i < nen; i++) {
        const pa_group_t *x = en[i].g;
        if (x->suppressed_by >= 0)
            continue;
        if (o->top && shown >= o->top)
            break;
        shown++;
        fprintf(out, "\nLeak %zu of %zu: %s%llu %s in %s%llu %s", shown, tot->leaks, e,
                (unsigned long long)en[i].bytes, plural(en[i].bytes, "byte", "bytes"), e,
                (unsigned long long)en[i].blocks, plural(en[i].blocks, "block", "blocks"));
        if (en[i].kind >= 0)
            fprintf(out, ", %s", kind_text(en[i].kind));
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
    if (tot->kinds) /* valgrind's LEAK SUMMARY, with its words */
        for (int k = 1; k <= PS_LEAK_KINDS; k++)
            if (k < PS_LEAK_KINDS || tot->kind_blocks[0])
                fprintf(out, "  %s: %llu %s in %llu %s\n", kind_text(k % PS_LEAK_KINDS),
                        (unsigned long long)tot->kind_bytes[k % PS_LEAK_KINDS],
                        plural(tot->kind_bytes[k % PS_LEAK_KINDS], "byte", "bytes"),
                        (unsigned long long)tot->kind_blocks[k % PS_LEAK_KINDS],
                        plural(tot->kind_blocks[k % PS_LEAK_KINDS], "block", "blocks"));
    if (shown < tot->leaks)
        fprintf(out, "  (the %zu largest shown; --top 0 shows all)\n", shown);
    if (tot->suppressed)
        fprintf(out, "  suppressed: %llu %s in %llu %s (%zu %s) matched suppressions\n",
                (unsigned long long)tot->suppressed_bytes,
                plural(tot->suppressed_bytes, "byte", "bytes"),
                (unsigned long long)tot->suppressed_blocks,
                plural(tot->suppressed_blocks, "block", "blocks"), tot->suppressed,
                tot->suppressed == 1 ? "stack" : "stacks");
    return PA_OK;
}

/* "leak_scan": what the scan at exit looked at and what it cost (null: no LEAK_KINDS chunk for
 * the snapshot reported). */
static void leak_scan_json(pa_json_t *j, const pa_trace_t *t)
{
    size_t n;
    pa_json_key(j, "leak_scan");
    if (!pa_model_leak_kinds(t, &n)) {
        pa_json_null(j);
        return;
    }
    const ps_row_leak_kinds_head_t *h = &t->leak_head;
    pa_json_object_begin(j, false);
    PA_ROW_JSON(j, LEAK_KINDS_HEAD, h, blocks, threads);
    pa_json_key(j, "threads_ran");
    pa_json_bool(j, h->flags & PS_LEAK_F_THREADS_RAN);
    pa_json_object_end(j);
}

static int write_json(pa_json_t *j, const pa_trace_t *t, const pa_groups_t *g, const entry_t *en,
                      size_t nen, const pa_leaks_totals_t *tot, const pa_leaks_opts_t *o,
                      pa_stackview_t *v)
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
    pa_json_key(j, "kinds"); /* null without leak classes */
    if (tot->kinds) {
        pa_json_object_begin(j, false);
        for (int k = 1; k <= PS_LEAK_KINDS; k++) {
            pa_json_key(j, pa_model_leak_kind_name((uint32_t)(k % PS_LEAK_KINDS)));
            pa_json_object_begin(j, false);
            pa_json_key(j, "blocks");
            pa_json_u64(j, tot->kind_blocks[k % PS_LEAK_KINDS]);
            pa_json_key(j, "bytes");
            pa_json_u64(j, tot->kind_bytes[k % PS_LEAK_KINDS]);
            pa_json_object_end(j);
        }
        pa_json_object_end(j);
    } else {
        pa_json_null(j);
    }
    pa_json_object_end(j);
    leak_scan_json(j, t);
    pa_json_key(j, "leaks");
    pa_json_array_begin(j, false);
    size_t shown = 0;
    for (size_t i = 0; i < nen; i++) {
        if (en[i].g->suppressed_by >= 0)
            continue;
        if (o->top && shown++ >= o->top)
            break;
        if (pa_report_group_view(g, en[i].g, v) != PA_OK)
            return PA_ENOMEM;
        leak_json(j, t, &en[i], v, o->supp);
    }
    pa_json_array_end(j);
    pa_json_key(j, "suppressed");
    pa_json_array_begin(j, false);
    for (size_t i = 0; i < nen; i++) {
        if (en[i].g->suppressed_by < 0)
            continue;
        if (pa_report_group_view(g, en[i].g, v) != PA_OK)
            return PA_ENOMEM;
        leak_json(j, t, &en[i], v, o->supp);
    }
    pa_json_array_end(j);
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
    pa_report_sort_by_live(&g);
    entry_t *en = NULL;
    size_t nen = 0;
    rc = make_entries(t, &g, &en, &nen);
    size_t nk;
    tot->kinds = pa_model_leak_kinds(t, &nk) != NULL;
    for (size_t i = 0; rc == PA_OK && i < nen; i++) {
        if (en[i].g->suppressed_by >= 0) {
            tot->suppressed++;
            tot->suppressed_blocks += en[i].blocks;
            tot->suppressed_bytes += en[i].bytes;
        } else {
            tot->leaks++;
            tot->leaked_blocks += en[i].blocks;
            tot->leaked_bytes += en[i].bytes;
            if (en[i].kind >= 0) {
                tot->kind_blocks[en[i].kind] += en[i].blocks;
                tot->kind_bytes[en[i].kind] += en[i].bytes;
            }
            /* lost: definitely, indirectly, possibly; and blocks the scan did not see */
            if (en[i].kind != PS_LEAK_REACHABLE || o->fail_all)
                tot->failing = true;
        }
    }
    pa_stackview_t v = {0}; /* the frames of one printed group at a time */
    if (rc == PA_OK)
        rc = o->json ? write_json(j, t, &g, en, nen, tot, o, &v)
                     : write_text(out, t, &g, en, nen, tot, o, &v);
    free(en);
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
    if (tot.failing)
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
