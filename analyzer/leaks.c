/* SPDX-License-Identifier: MIT */
/*
 * leaks.c — the leak report: rows of the reported snapshot (the last, or the one --at chose)
 * with live blocks, grouped by symbolized stack (report.c), matched against the suppressions,
 * sorted by bytes, written as text or JSON (shapes in docs/analyzer.md; the JSON shape is
 * stable).
 */
#include "leaks.h"

#include "ages.h"
#include "report.h"
#include "symbols.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* One entry of the report: a group (symbolized stack), or with leak classes (LEAK_KINDS) one
 * group's blocks of one class: kinds 1..4 (enum ps_leak_kind), 0 for blocks the scan did not
 * see; -1 without classes. 40 bytes: a report of 100k groups writes one or two each, and then
 * picks from them (pick_entries), so their size is pages touched. */
typedef struct {
    const pa_group_t *g;
    /* KIND_MIXED: the classes of all the group's live blocks, of every age ([0]: blocks, [1]:
     * bytes), after the entries in make_entries' block; NULL otherwise */
    const uint64_t (*all)[PS_LEAK_KINDS];
    uint64_t blocks, bytes;
    uint32_t rank; /* the group's place in the report's order (groups are u32, report.c) */
    int kind;
} entry_t;

/* With --older-than, a group whose old blocks' classes cannot be told apart: LEAK_KINDS counts
 * per stack and class, AGES per stack and age, so when a stack has blocks of several classes
 * and some of them are younger than the limit, which of its old blocks have which class is
 * unknown (docs/analyzer.md, "Leak classes with --older-than"). */
#define KIND_MIXED PS_LEAK_KINDS

/* Within a class: largest bytes first, then blocks, then the groups' order. */
static int entry_cmp(const void *a, const void *b)
{
    const entry_t *x = a, *y = b;
    if (x->bytes != y->bytes)
        return x->bytes > y->bytes ? -1 : 1;
    if (x->blocks != y->blocks)
        return x->blocks > y->blocks ? -1 : 1;
    return x->rank < y->rank ? -1 : x->rank > y->rank;
}

/* The counters' part of that order (pa_util_sort_top_by's coarse order). */
static int entry_coarse_live(const void *a, const void *b, void *ctx)
{
    const entry_t *x = a, *y = b;
    (void)ctx;
    if (x->bytes != y->bytes)
        return x->bytes > y->bytes ? -1 : 1;
    if (x->blocks != y->blocks)
        return x->blocks > y->blocks ? -1 : 1;
    return 0;
}

/* The same order with the groups' own order in place of their rank (ctx: the groups), for
 * entries picked before the groups are sorted (pick_entries). */
static int entry_cmp_live(const void *a, const void *b, void *ctx)
{
    const entry_t *x = a, *y = b;
    int c = entry_coarse_live(a, b, NULL);
    return c ? c : pa_report_cmp_live(ctx, x->g, y->g);
}

/* Ages (the section at the end of this file). */
typedef struct ages ages_t;
static void age_json(pa_json_t *j, const pa_trace_t *t, const pa_age_summary_t *s);
static int ages_apply(pa_trace_t *t, pa_groups_t *g, const pa_leaks_opts_t *o, ages_t **out);
static void ages_free(ages_t *ag);
static const pa_age_summary_t *ages_get(ages_t *ag, const pa_groups_t *g, const pa_group_t *x);
static void ages_rank(pa_groups_t *g, const ages_t *ag);
static void age_text(FILE *out, const pa_trace_t *t, const pa_age_summary_t *s,
                     const pa_leaks_opts_t *o);
static void ages_text_summary(FILE *out, const pa_trace_t *t, const pa_groups_t *g,
                              const ages_t *ag, const pa_leaks_opts_t *o);
static void ages_json_totals(pa_json_t *j, const pa_trace_t *t, const pa_groups_t *g,
                             const ages_t *ag, const pa_leaks_opts_t *o);

static const char *kind_text(int kind)
{
    static const char *const text[] = {"not scanned",   "definitely lost", "indirectly lost",
                                       "possibly lost", "still reachable", "of mixed classes"};
    return kind >= 0 && kind <= KIND_MIXED ? text[kind] : "";
}

/* Lost blocks in red, possibly lost in yellow, reachable ones in green (a terminal only). */
static pa_color_t kind_color(int kind)
{
    return kind == PS_LEAK_DEFINITELY || kind == PS_LEAK_INDIRECTLY ? PA_COLOR_RED
           : kind == PS_LEAK_POSSIBLY                               ? PA_COLOR_YELLOW
           : kind == PS_LEAK_REACHABLE                              ? PA_COLOR_GREEN
                                                                    : PA_COLOR_RESET;
}

/* qsort() of n items at base, unless they are in cmp's order already: the shim writes the
 * LEAK_KINDS rows by stack id, and a trace whose stacks are all different sites makes its
 * groups in the order of the rows; a merge sort of sorted input still costs n log n / 2
 * comparisons (81M instructions of `leaks` on a 100k-site trace). */
static void sort_unless_sorted(void *base, size_t n, size_t size,
                               int (*cmp)(const void *, const void *))
{
    const char *b = base;
    for (size_t i = 1; i < n; i++)
        if (cmp(b + (i - 1) * size, b + i * size) > 0) {
            qsort(base, n, size, cmp);
            return;
        }
}

static int kind_row_cmp(const void *a, const void *b)
{
    uint32_t x = ((const ps_row_leak_kind_t *)a)->stack_id,
             y = ((const ps_row_leak_kind_t *)b)->stack_id;
    return x < y ? -1 : x > y;
}

/* The entries of groups g, into *out (malloc'd): without classes one per group; with them, by
 * class (definitely, indirectly, possibly, mixed, reachable, not scanned), each class in the
 * groups' order (g->items: sorted, or not yet when pick_entries picks them), then by bytes
 * when by_bytes. older: --older-than cut the groups' live figures to their old blocks
 * (a group whose old blocks' classes are unknown gets one KIND_MIXED entry) and g->items to
 * the groups that have some; nall: the groups in g->all (g->n before that cut). The entries
 * are counted before they are made: one block holds exactly them, then the classes of the
 * mixed ones (entry_t.all), and nothing is allocated for classes a group does not have. */
static int make_entries(const pa_trace_t *t, const pa_groups_t *g, size_t nall, bool by_bytes,
                        bool older, entry_t **out, size_t *n)
{
    size_t nk;
    const ps_row_leak_kind_t *kr = pa_model_leak_kinds(t, &nk);
    *n = 0;
    *out = NULL;
    if (!kr) {
        if (!(*out = malloc((g->n ? g->n : 1) * sizeof **out)))
            return PA_ENOMEM;
        for (size_t i = 0; i < g->n; i++)
            (*out)[(*n)++] =
                (entry_t){g->items[i], NULL, g->items[i]->live_blocks, g->items[i]->live_bytes,
                          (uint32_t)i, -1};
        return PA_OK;
    }
    /* per group (by its index in g->all) and kind: blocks and bytes */
    uint64_t(*sum)[2][PS_LEAK_KINDS] = calloc(nall ? nall : 1, sizeof *sum);
    if (!sum)
        return PA_ENOMEM;
    /* the chunk's rows by stack id, then each snapshot row's among them */
    ps_row_leak_kind_t *by_id = malloc((nk ? nk : 1) * sizeof *by_id);
    if (!by_id) {
        free(sum);
        return PA_ENOMEM;
    }
    memcpy(by_id, kr, nk * sizeof *by_id);
    sort_unless_sorted(by_id, nk, sizeof *by_id, kind_row_cmp);
    size_t lo = 0; /* where the last row's search ended: the next row's, when rows are in order */
    for (size_t r = 0; r < t->snap.nrows; r++) {
        const pa_group_t *x = g->row_group[r];
        if (!x)
            continue;
        uint32_t id = t->snap.rows[r].stack_id;
        size_t hi = nk;
        if ((lo < nk && by_id[lo].stack_id < id) || (lo > 0 && by_id[lo - 1].stack_id >= id))
            lo = 0; /* not the first row of id or after: search */
        else
            hi = lo;
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
    /* A forked child's inherited blocks left the groups' live figures
     * (pa_leaks_split_inherited) but were classified with the rest: take them out of the
     * classes, still reachable first (they are the parent's, usually held by its globals). */
    static const int give_back[] = {PS_LEAK_REACHABLE, PS_LEAK_POSSIBLY, PS_LEAK_INDIRECTLY,
                                    PS_LEAK_DEFINITELY};
    /* --older-than: a group's old blocks are all of one class when it has one class, or when
     * every block it has is old; otherwise mixed (by index into g->all) */
    bool *mixed = calloc(g->n ? g->n : 1, sizeof *mixed);
    if (!mixed) {
        free(sum);
        return PA_ENOMEM;
    }
    size_t nmixed = 0;
    for (size_t i = 0; older && i < g->n; i++) {
        const uint64_t(*s)[PS_LEAK_KINDS] = sum[g->items[i] - g->all];
        uint64_t total = 0;
        int classes = 0;
        for (int k = 1; k < PS_LEAK_KINDS; k++) {
            total += s[0][k];
            classes += s[0][k] != 0;
        }
        mixed[i] = classes > 1 && total > g->items[i]->live_blocks;
        nmixed += mixed[i];
    }
    size_t count = nmixed; /* the entries: the mixed ones, and a group's classes with blocks */
    for (size_t i = 0; i < g->n; i++) {
        uint64_t(*s)[PS_LEAK_KINDS] = sum[g->items[i] - g->all];
        const uint64_t own[2] = {g->items[i]->live_blocks, g->items[i]->live_bytes};
        if (mixed[i]) /* its classes are of all its blocks: kept as they are */
            continue;
        for (int w = 0; w < 2; w++) {
            uint64_t total = 0;
            for (int k = 1; k < PS_LEAK_KINDS; k++)
                total += s[w][k];
            for (int k = 0; k < 4 && total > own[w]; k++) {
                uint64_t cut =
                    total - own[w] < s[w][give_back[k]] ? total - own[w] : s[w][give_back[k]];
                s[w][give_back[k]] -= cut;
                total -= cut;
            }
        }
        /* what the scan did not see: kind 0 */
        uint64_t b = 0, y = 0;
        for (int k = 1; k < PS_LEAK_KINDS; k++)
            b += s[0][k], y += s[1][k];
        s[0][0] = own[0] > b ? own[0] - b : 0;
        s[1][0] = own[1] > y ? own[1] - y : 0;
        for (int k = 0; k < PS_LEAK_KINDS; k++)
            count += s[0][k] != 0;
    }
    /* the entries, then the classes of the mixed ones (entry_t has 8-byte members: aligned) */
    uint64_t(*classes)[2][PS_LEAK_KINDS] = NULL;
    if (count > (SIZE_MAX - nmixed * sizeof *classes) / sizeof **out ||
        !(*out = malloc(count * sizeof **out + nmixed * sizeof *classes + 1))) {
        free(mixed);
        free(sum);
        return PA_ENOMEM;
    }
    classes = (void *)(*out + count);
    static const int order[] = {PS_LEAK_DEFINITELY, PS_LEAK_INDIRECTLY, PS_LEAK_POSSIBLY,
                                KIND_MIXED,         PS_LEAK_REACHABLE,  0};
    for (size_t o = 0; o < sizeof order / sizeof *order; o++) {
        size_t first = *n;
        for (size_t i = 0, m = 0; i < g->n; i++) {
            const uint64_t(*s)[PS_LEAK_KINDS] = sum[g->items[i] - g->all];
            if (order[o] == KIND_MIXED && mixed[i]) { /* after possibly lost, in the same order */
                memcpy(classes[m], s, sizeof *classes);
                (*out)[(*n)++] = (entry_t){
                    g->items[i], classes[m++], g->items[i]->live_blocks, g->items[i]->live_bytes,
                    (uint32_t)i, KIND_MIXED};
            } else if (order[o] != KIND_MIXED && !mixed[i] && s[0][order[o]]) {
                (*out)[(*n)++] = (entry_t){g->items[i],    NULL,        s[0][order[o]],
                                           s[1][order[o]], (uint32_t)i, order[o]};
            }
        }
        if (by_bytes) /* a group's blocks of one class may be fewer than its total */
            qsort(*out + first, *n - first, sizeof **out, entry_cmp);
    }
    free(mixed);
    free(sum);
    return PA_OK;
}

/* An entry the report lists as a leak (not as suppressed): some of its blocks are not
 * inherited. */
static bool entry_leak(const entry_t *e)
{
    return e->blocks && e->g->suppressed_by < 0;
}

/* make_entries' entries (by_bytes false, the groups unsorted) made into what the writers read
 * of them, without sorting what they do not print: of each class in turn, the largest leaks
 * (entry_cmp_live) until `top` are chosen in all, then (with `suppressed`) every suppressed
 * entry of each class, sorted. The writers skip the others, so they print what they print
 * from the whole sorted list. In place, in *en's block (the mixed entries' classes stay where
 * they are): the leaks chosen of a class never pass the entries still to be read, and the
 * suppressed ones are set aside first (usually none). */
static int pick_entries(const pa_groups_t *g, entry_t **en, size_t *n, size_t top, bool suppressed)
{
    entry_t *in = *en, *sup = NULL;
    size_t nsup = 0;
    for (size_t i = 0; suppressed && i < *n; i++)
        nsup += in[i].blocks && !entry_leak(&in[i]);
    if (nsup && !(sup = malloc(nsup * sizeof *sup)))
        return PA_ENOMEM;
    nsup = 0;
    for (size_t i = 0; sup && i < *n; i++)
        if (in[i].blocks && !entry_leak(&in[i]))
            sup[nsup++] = in[i];
    size_t no = 0, left = top;
    for (size_t s = 0, e; s < *n && left; s = e) { /* a class: entries of one kind */
        for (e = s + 1; e < *n && in[e].kind == in[s].kind;)
            e++;
        size_t first = no; /* <= s: what is written stays before what is still read */
        for (size_t i = s; i < e; i++)
            if (entry_leak(&in[i]))
                in[no++] = in[i];
        size_t m = no - first, k = left < m ? left : m;
        pa_util_sort_top_by(in + first, m, sizeof *in, k, entry_coarse_live, entry_cmp_live,
                            (void *)g);
        no = first + k;
        left -= k;
    }
    for (size_t s = 0, e; s < nsup; s = e) { /* the suppressed ones, in the same classes */
        for (e = s + 1; e < nsup && sup[e].kind == sup[s].kind;)
            e++;
        pa_util_sort_top(sup + s, e - s, sizeof *sup, e - s, entry_cmp_live, (void *)g);
    }
    if (nsup) /* no + nsup <= *n: they are among the entries */
        memcpy(in + no, sup, nsup * sizeof *sup);
    free(sup);
    *n = no + nsup;
    return PA_OK;
}

/* Puts the groups with inherited blocks first in g->items, the first `top` of them (0: all) in
 * the live order, as inherited_text and inherited_json read them. */
static void sort_inherited(pa_groups_t *g, size_t top)
{
    size_t m = 0;
    for (size_t i = 0; i < g->n; i++)
        if (g->items[i]->inherited_blocks) {
            pa_group_t *x = g->items[m];
            g->items[m++] = g->items[i];
            g->items[i] = x;
        }
    pa_report_sort_top_by_live_of(g, g->items, m, top);
}

static void leak_json(pa_json_t *j, const pa_trace_t *t, const entry_t *e, const pa_stackview_t *v,
                      const pa_suppress_t *supp, const pa_age_summary_t *age)
{
    const pa_group_t *g = e->g;
    pa_json_object_begin(j, false);
    if (e->kind == KIND_MIXED) {
        pa_json_key(j, "kind");
        pa_json_string(j, "mixed");
        pa_json_key(j, "kinds_of_all_live_blocks"); /* of every age: which are old is unknown */
        pa_json_object_begin(j, false);
        for (int k = 1; k < PS_LEAK_KINDS; k++) {
            pa_json_key(j, pa_model_leak_kind_name((uint32_t)k));
            pa_json_object_begin(j, true);
            pa_json_kv_u64(j, "blocks", e->all[0][k]);
            pa_json_kv_u64(j, "bytes", e->all[1][k]);
            pa_json_object_end(j);
        }
        pa_json_object_end(j);
    } else if (e->kind >= 0) {
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
    if (pa_ages_of(t))
        age_json(j, t, age);
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

void pa_leaks_split_inherited(pa_groups_t *g, pa_leaks_totals_t *tot)
{
    const pa_trace_t *t = g->t;
    for (size_t i = 0; g->row_group && t->ninherited && i < t->snap.nrows; i++) {
        const pa_row_t *r = &t->snap.rows[i];
        pa_group_t *x = g->row_group[i];
        uint64_t blocks, bytes;
        if (!x)
            continue;
        pa_model_row_inherited(t, r, &blocks, &bytes);
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

/* A line made in a fixed buffer: the leak's heading is at most 11 strings of up to 36
 * characters (colors, "~", class names, the fixed words) and 8 numbers of up to 20 digits
 * (what fits is kept: never more). */
typedef struct {
    char s[768];
    char *at, *end;
} line_t;

static void line_put(line_t *l, const char *s, size_t n)
{
    if (n > (size_t)(l->end - l->at))
        n = (size_t)(l->end - l->at);
    memcpy(l->at, s, n);
    l->at += n;
}

static void line_puts(line_t *l, const char *s)
{
    line_put(l, s, strlen(s));
}

static void line_u64(line_t *l, uint64_t v)
{
    char d[20];
    line_put(l, d, pa_json_format_u64(d, v));
}

static int write_text(FILE *out, const pa_trace_t *t, const pa_groups_t *g, const entry_t *en,
                      size_t nen, const pa_leaks_totals_t *tot, const pa_leaks_opts_t *o,
                      pa_stackview_t *v, ages_t *ag)
{
    const char *e = pa_report_est(t);
    const char *bold = pa_color(out, PA_COLOR_BOLD), *reset = pa_color(out, PA_COLOR_RESET);
    pa_report_header_text(out, t, "perfshim leak report");
    pa_report_status_text(out, t);
    size_t shown = 0;
    for (size_t i = 0; i < nen; i++) {
        pa_progress_step(pa_progress_writing, i + 1, nen, "leaks");
        const pa_group_t *x = en[i].g;
        if (x->suppressed_by >= 0 || !en[i].blocks)
            continue;
        if (o->top && shown >= o->top)
            break;
        shown++;
        /* "Leak N of M: ..." made by hand and written at once (a full report of a compile has
         * 58k of them: fprintf's two calls a leak were 230M instructions) */
        line_t l;
        l.at = l.s;
        l.end = l.s + sizeof l.s;
        line_puts(&l, "\n");
        line_puts(&l, bold);
        line_puts(&l, "Leak ");
        line_u64(&l, shown);
        line_puts(&l, " of ");
        line_u64(&l, tot->leaks);
        line_puts(&l, ":");
        line_puts(&l, reset);
        line_puts(&l, " ");
        line_puts(&l, e);
        line_u64(&l, en[i].bytes);
        line_puts(&l, plural(en[i].bytes, " byte in ", " bytes in "));
        line_puts(&l, e);
        line_u64(&l, en[i].blocks);
        line_puts(&l, plural(en[i].blocks, " block", " blocks"));
        if (en[i].kind >= 0) {
            line_puts(&l, ", ");
            line_puts(&l, pa_color(out, kind_color(en[i].kind)));
            line_puts(&l, kind_text(en[i].kind));
            line_puts(&l, reset);
        }
        if (en[i].kind == KIND_MIXED) { /* the classes of all its live blocks, of every age */
            line_puts(&l, " (all its live blocks, of every age:");
            for (int k = 1, sep = 0; k < PS_LEAK_KINDS; k++)
                if (en[i].all[0][k]) {
                    line_puts(&l, sep++ ? ", " : " ");
                    line_u64(&l, en[i].all[0][k]);
                    line_puts(&l, " ");
                    line_puts(&l, kind_text(k));
                }
            line_puts(&l, ")");
        }
        if (x->stacks > 1) {
            line_puts(&l, " (");
            line_u64(&l, x->stacks);
            line_puts(&l, " stacks merged)");
        }
        line_puts(&l, "\n");
        fwrite(l.s, 1, (size_t)(l.at - l.s), out);
        if (pa_report_group_view(g, x, v) != PA_OK)
            return PA_ENOMEM;
        pa_report_frames_text(out, v, "    ", o->all_frames);
        if (ag)
            age_text(out, t, ages_get(ag, g, x), o);
    }
    pa_progress_clear();
    fputc('\n', out);
    if (tot->leaks == 0)
        fprintf(out, "SUMMARY: no leaks\n");
    else
        fprintf(out, "%sSUMMARY:%s %s%llu %s leaked in %s%llu %s (%zu %s)\n",
                pa_color(out, PA_COLOR_BOLD), pa_color(out, PA_COLOR_RESET), e,
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
    if (tot->mixed_blocks)
        fprintf(out,
                "  of mixed classes: %llu %s in %llu %s (old blocks of stacks that also have "
                "younger ones of other classes)\n",
                (unsigned long long)tot->mixed_bytes, plural(tot->mixed_bytes, "byte", "bytes"),
                (unsigned long long)tot->mixed_blocks,
                plural(tot->mixed_blocks, "block", "blocks"));
    if (shown < tot->leaks)
        fprintf(out, "  (the %zu largest shown; --top 0 shows all)\n", shown);
    if (tot->suppressed)
        fprintf(out, "  suppressed: %llu %s in %llu %s (%zu %s) matched suppressions\n",
                (unsigned long long)tot->suppressed_bytes,
                plural(tot->suppressed_bytes, "byte", "bytes"),
                (unsigned long long)tot->suppressed_blocks,
                plural(tot->suppressed_blocks, "block", "blocks"), tot->suppressed,
                tot->suppressed == 1 ? "stack" : "stacks");
    if (ag)
        ages_text_summary(out, t, g, ag, o);
    supp_used_text(out, g, o->supp);
    return inherited_text(out, t, g, tot, o, v);
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
                      pa_stackview_t *v, ages_t *ag)
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
        if (o->older_than_ns) { /* entries of kind "mixed" (--older-than) */
            pa_json_key(j, "mixed");
            pa_json_object_begin(j, false);
            pa_json_kv_u64(j, "blocks", tot->mixed_blocks);
            pa_json_kv_u64(j, "bytes", tot->mixed_bytes);
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
        pa_progress_step(pa_progress_writing, i + 1, nen, "leaks");
        if (en[i].g->suppressed_by >= 0 || !en[i].blocks)
            continue;
        if (o->top && shown++ >= o->top)
            break;
        if (pa_report_group_view(g, en[i].g, v) != PA_OK)
            return PA_ENOMEM;
        leak_json(j, t, &en[i], v, o->supp, ag ? ages_get(ag, g, en[i].g) : NULL);
    }
    pa_progress_clear();
    pa_json_array_end(j);
    pa_json_key(j, "suppressed");
    pa_json_array_begin(j, false);
    for (size_t i = 0; i < nen; i++) {
        if (en[i].g->suppressed_by < 0 || !en[i].blocks)
            continue;
        if (pa_report_group_view(g, en[i].g, v) != PA_OK)
            return PA_ENOMEM;
        leak_json(j, t, &en[i], v, o->supp, ag ? ages_get(ag, g, en[i].g) : NULL);
    }
    pa_json_array_end(j);
    supp_used_json(j, g, o->supp);
    if (inherited_json(j, t, g, tot, v) != PA_OK)
        return PA_ENOMEM;
    ages_json_totals(j, t, g, ag, o);
    pa_report_status_json(j, t);
    pa_json_object_end(j);
    return PA_OK;
}

/* Whether --fail-on-leak counts an entry of this kind: definitely and indirectly lost blocks,
 * blocks the scan did not see, old blocks of mixed classes, and every block of a trace without
 * classes (issue 12); possibly lost ones with =possible or =all; still reachable with =all. */
static bool kind_fails(int kind, const pa_leaks_opts_t *o)
{
    return kind == PS_LEAK_REACHABLE  ? o->fail_all
           : kind == PS_LEAK_POSSIBLY ? o->fail_all || o->fail_possible
                                      : true;
}

bool pa_leaks_failing(const pa_trace_t *t, const pa_groups_t *g, const pa_leaks_opts_t *o)
{
    entry_t *en;
    size_t n;
    if (make_entries(t, g, g->n, false, false, &en, &n) != PA_OK)
        return true; /* out of memory: never pass what could not be checked */
    bool failing = false;
    for (size_t i = 0; i < n && !failing; i++)
        failing = en[i].blocks && en[i].g->suppressed_by < 0 && kind_fails(en[i].kind, o);
    free(en);
    return failing;
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
    ages_t *ag = NULL;
    size_t ngroups = g.n;
    rc = ages_apply(t, &g, o, &ag);
    if (rc != PA_OK) {
        pa_report_groups_free(&g);
        pa_symbols_free(syms);
        return rc;
    }
    /* --top N: the groups are not sorted, the entries printed are picked (pick_entries); the
     * totals below add up every entry, in any order. --rank suspects sorts them all. */
    bool pick = o->top && !(ag && o->rank_suspects);
    if (!pick)
        pa_report_sort_by_live(&g);
    if (ag && o->rank_suspects)
        ages_rank(&g, ag);
    entry_t *en = NULL;
    size_t nen = 0;
    rc = make_entries(t, &g, ngroups, !pick && !(ag && o->rank_suspects), o->older_than_ns != 0,
                      &en, &nen);
    size_t nk;
    tot->kinds = pa_model_leak_kinds(t, &nk) != NULL;
    for (size_t i = 0; rc == PA_OK && i < nen; i++) {
        if (!en[i].blocks) /* all of its blocks were inherited */
            continue;
        if (en[i].g->suppressed_by >= 0) {
            tot->suppressed++;
            tot->suppressed_blocks += en[i].blocks;
            tot->suppressed_bytes += en[i].bytes;
        } else {
            tot->leaks++;
            tot->leaked_blocks += en[i].blocks;
            tot->leaked_bytes += en[i].bytes;
            if (en[i].kind == KIND_MIXED) {
                tot->mixed_blocks += en[i].blocks;
                tot->mixed_bytes += en[i].bytes;
            } else if (en[i].kind >= 0) {
                tot->kind_blocks[en[i].kind] += en[i].blocks;
                tot->kind_bytes[en[i].kind] += en[i].bytes;
            }
            if (kind_fails(en[i].kind, o))
                tot->failing = true;
        }
    }
    if (rc == PA_OK && pick) {
        rc = pick_entries(&g, &en, &nen, o->top, o->json);
        sort_inherited(&g, o->json ? 0 : o->top);
    }
    pa_stackview_t v = {0}; /* the frames of one printed group at a time */
    if (rc == PA_OK)
        rc = o->json ? write_json(j, t, &g, en, nen, tot, o, &v, ag)
                     : write_text(out, t, &g, en, nen, tot, o, &v, ag);
    free(en);
    pa_report_stack_view_free(&v);
    ages_free(ag);
    g.n = ngroups;
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
    /* pa_leaks_report groups only the live rows (pa_report_group's live_only) and prints only
     * their stacks: the other stacks are not added to the model */
    pa_each_opts_t eo = {.json = o->json,
                         .quiet = o->quiet,
                         .as_array = as_array,
                         .at = &o->at,
                         .live_stacks = true};
    int rc = pa_report_each_file(paths, n, &eo, out, leaks_one, &e);
    *leaked = e.leaked;
    return rc;
}

/* ---- ages: --older-than, the age histograms, suspects (docs/analyzer.md) ---------------------
 */

typedef struct {
    uint32_t group; /* index into g->all */
    uint32_t row;   /* index into the snapshot's rows; once ages_apply summed every group
                     * (ages_t.by_site), its ages' site + 1 (0: none) */
} group_row_t;

static int cmp_group_row(const void *a, const void *b)
{
    const group_row_t *x = a, *y = b;
    if (x->group != y->group)
        return x->group < y->group ? -1 : 1;
    return x->row < y->row ? -1 : x->row > y->row;
}

/* The ages of the groups: what every group needs (--older-than's cut, the suspects' count and
 * order) kept, the whole summary of a group made again when it is printed (ages_get). A
 * summary is 856 bytes: one per group was 87 MB for the 100k sites of a 100k-stack trace, of
 * which a report prints 20. */
typedef struct {
    uint64_t older_blocks, older_bytes;
    double rank_key; /* cmp_suspect's: the ratio, or (never freed) the median age * 1e3 */
    bool suspect;
} age_brief_t;

struct ages {
    const pa_ages_t *a;
    uint64_t older_than_ns;
    age_brief_t *brief; /* by index into g->all */
    uint32_t *first;    /* by index into g->all: its first pair + 1 (0: none) */
    group_row_t *pairs; /* every row's (group, row), a group's rows together */
    size_t np;
    uint64_t *scratch;    /* PA_AGE_LIVE_INDEXES counts (pa_ages_add) */
    size_t next_site;     /* the site after the last one found (ages_site) */
    bool by_site;         /* the pairs hold sites, not rows (group_row_t) */
    pa_age_summary_t one; /* the summary ages_get made last */
};

static void ages_free(ages_t *ag)
{
    if (!ag)
        return;
    free(ag->brief);
    free(ag->first);
    free(ag->pairs);
    free(ag->scratch);
    free(ag);
}

/* pa_ages_site(ag->a, id), trying the site after the last one found first: the rows, and so
 * the pairs of groups of one stack each, come by increasing stack id. */
static const pa_age_site_t *ages_site(ages_t *ag, uint32_t id)
{
    const pa_ages_t *a = ag->a;
    size_t h = ag->next_site;
    const pa_age_site_t *site =
        h < a->nsites && a->sites[h].stack_id == id && (h == 0 || a->sites[h - 1].stack_id < id)
            ? &a->sites[h]
            : pa_ages_site(a, id);
    if (site)
        ag->next_site = (size_t)(site - a->sites) + 1;
    return site;
}

/* The summary of the group whose rows start at pair i into ag->one; the pair after them. */
static size_t ages_sum(ages_t *ag, const pa_trace_t *t, size_t i)
{
    pa_age_summary_t *s = &ag->one;
    memset(s, 0, sizeof *s);
    uint32_t group = ag->pairs[i].group;
    for (; i < ag->np && ag->pairs[i].group == group; i++) {
        const pa_age_site_t *site;
        if (ag->by_site) { /* a printed group: its sites as the first pass found them */
            uint32_t k = ag->pairs[i].row;
            site = k ? &ag->a->sites[k - 1] : NULL;
        } else {
            site = ages_site(ag, t->snap.rows[ag->pairs[i].row].stack_id);
            if (ag->a->nsites < UINT32_MAX) /* (else by_site stays false) */
                ag->pairs[i].row = site ? (uint32_t)(site - ag->a->sites) + 1 : 0;
        }
        if (site)
            pa_ages_add(ag->a, site, ag->older_than_ns, ag->scratch, s);
    }
    pa_ages_finish(ag->a, ag->scratch, s);
    return i;
}

static const pa_age_summary_t *ages_get(ages_t *ag, const pa_groups_t *g, const pa_group_t *x)
{
    uint32_t f = ag->first[x - g->all];
    if (f)
        ages_sum(ag, g->t, f - 1);
    else
        memset(&ag->one, 0, sizeof ag->one);
    return &ag->one;
}

/* The groups' ages (*out NULL when the snapshot has none). With --older-than, a group's live
 * figures become those of its older blocks, and the groups without any leave g->items (g->n
 * shrinks; the caller restores it). */
static int ages_apply(pa_trace_t *t, pa_groups_t *g, const pa_leaks_opts_t *o, ages_t **out)
{
    *out = NULL;
    const pa_ages_t *a = pa_ages_of(t);
    if (!a) {
        if (!o->older_than_ns)
            return PA_OK;
        pa_msg_error("%s: --older-than: the reported snapshot has no block ages (written by a "
                     "shim before ages, or an automatic snapshot: only exit, stop, dump and "
                     "signal snapshots have them)",
                     t->path);
        return PA_EFORMAT;
    }
    ages_t *ag = calloc(1, sizeof *ag);
    if (!ag)
        return PA_ENOMEM;
    ag->a = a;
    ag->older_than_ns = o->older_than_ns;
    ag->brief = calloc(g->n ? g->n : 1, sizeof *ag->brief);
    ag->first = calloc(g->n ? g->n : 1, sizeof *ag->first);
    ag->pairs = calloc(t->snap.nrows ? t->snap.nrows : 1, sizeof *ag->pairs);
    ag->scratch = calloc(PA_AGE_LIVE_INDEXES, sizeof *ag->scratch);
    if (!ag->brief || !ag->first || !ag->pairs || !ag->scratch) {
        ages_free(ag);
        return PA_ENOMEM;
    }
    for (size_t i = 0; i < t->snap.nrows; i++)
        if (g->row_group[i])
            ag->pairs[ag->np++] = (group_row_t){(uint32_t)(g->row_group[i] - g->all), (uint32_t)i};
    /* a group's rows together */
    sort_unless_sorted(ag->pairs, ag->np, sizeof *ag->pairs, cmp_group_row);
    for (size_t i = 0, next; i < ag->np; i = next) {
        uint32_t group = ag->pairs[i].group;
        next = ages_sum(ag, t, i);
        const pa_age_summary_t *s = &ag->one;
        ag->first[group] = (uint32_t)i + 1;
        ag->brief[group] = (age_brief_t){
            s->older_blocks, s->older_bytes,
            s->suspect ? (s->ratio > 0 ? s->ratio : s->median_age_s * 1e3) : 0, s->suspect};
    }
    /* the printed groups' summaries are made again (ages_get): from the sites found above, not
     * by a binary search of the ages' sites for each of their rows (the rows are printed by
     * size: a full report of a compile searched 350k times, 9% of its time) */
    ag->by_site = ag->a->nsites < UINT32_MAX;
    if (o->older_than_ns) {
        size_t kept = 0;
        for (size_t i = 0; i < g->n; i++) {
            pa_group_t *x = g->items[i];
            const age_brief_t *s = &ag->brief[x - g->all];
            x->live_blocks = s->older_blocks;
            x->live_bytes = s->older_bytes;
            if (s->older_blocks)
                g->items[kept++] = x;
        }
        g->n = kept;
    }
    *out = ag;
    return PA_OK;
}

/* --rank suspects: suspects first, the farthest outlived first (never-freed sites by their
 * median age over the age unit), the others after them in the order they had. */
static int cmp_suspect(const void *a, const void *b, void *ctx)
{
    const pa_group_t *x = *(pa_group_t *const *)a, *y = *(pa_group_t *const *)b;
    const pa_group_t *base = ((const void **)ctx)[0];
    const age_brief_t *brief = ((const void **)ctx)[1];
    const age_brief_t *sx = &brief[x - base], *sy = &brief[y - base];
    if (sx->suspect != sy->suspect)
        return sx->suspect ? -1 : 1;
    if (sx->rank_key != sy->rank_key)
        return sx->rank_key > sy->rank_key ? -1 : 1;
    return 0;
}

static void ages_rank(pa_groups_t *g, const ages_t *ag)
{
    /* stable: the rank each group had (by bytes) breaks ties */
    pa_group_t **tmp = malloc((g->n ? g->n : 1) * sizeof *tmp);
    if (!tmp)
        return;
    const void *ctx[2] = {g->all, ag->brief};
    size_t n = 0;
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < g->n; i++)
            if (ag->brief[g->items[i] - g->all].suspect == (pass == 0))
                tmp[n++] = g->items[i];
    size_t nsus = 0;
    while (nsus < n && ag->brief[tmp[nsus] - g->all].suspect)
        nsus++;
    qsort_r(tmp, nsus, sizeof *tmp, cmp_suspect, ctx);
    memcpy(g->items, tmp, n * sizeof *tmp);
    free(tmp);
}

/* A duration for people: pa_util_format_ns's below two minutes ("850.0 us", "12.3 ms", "4.10 s"),
 * then "2.5 min", "3.2 h", "1.5 d": ages run to days. */
static const char *age_str(double s, char *buf, size_t size)
{
    static const struct {
        double below, per;
        const char *unit;
    } big[] = {{7200, 60, "min"}, {172800, 3600, "h"}, {1e300, 86400, "d"}};
    if (s < 120)
        return pa_util_format_ns(s * 1e9, buf, size);
    size_t i = 0;
    while (s >= big[i].below)
        i++;
    snprintf(buf, size, "%.3g %s", s / big[i].per, big[i].unit);
    return buf;
}

static void hist_text(FILE *out, const pa_trace_t *t, const char *title, const uint64_t *count,
                      const uint64_t *bytes)
{
    const pa_ages_t *a = pa_ages_of(t);
    const char *e = pa_report_est(t);
    fprintf(out, "    %s:", title);
    const char *sep = " ";
    for (unsigned b = 0; b < PS_AGE_BUCKETS; b++) {
        if (!count[b])
            continue;
        uint64_t lo, hi;
        pa_ages_bucket_range(b, &lo, &hi);
        char l[32], h[32];
        if (b == 0)
            fprintf(out, "%s< %s %s%llu", sep, age_str(pa_ages_seconds(a, 1), h, sizeof h), e,
                    (unsigned long long)count[b]);
        else if (hi == UINT64_MAX)
            fprintf(out, "%s>= %s %s%llu", sep,
                    age_str(pa_ages_seconds(a, (double)lo), l, sizeof l), e,
                    (unsigned long long)count[b]);
        else
            fprintf(out, "%s%s-%s %s%llu", sep,
                    age_str(pa_ages_seconds(a, (double)lo), l, sizeof l),
                    age_str(pa_ages_seconds(a, (double)hi), h, sizeof h), e,
                    (unsigned long long)count[b]);
        if (bytes)
            fprintf(out, " (%s%llu bytes)", e, (unsigned long long)bytes[b]);
        sep = "; ";
    }
    fputc('\n', out);
}

static void age_text(FILE *out, const pa_trace_t *t, const pa_age_summary_t *s,
                     const pa_leaks_opts_t *o)
{
    if (!s->have)
        return;
    char m[32], p[32];
    if (s->suspect && s->ratio > 0)
        fprintf(out,
                "    SUSPECT: live blocks %.0fx older than the blocks it freed (median age %s, "
                "90%% of %llu freed lived < %s)\n",
                s->ratio, age_str(s->median_age_s, m, sizeof m),
                (unsigned long long)s->freed_blocks, age_str(s->p90_lifetime_s, p, sizeof p));
    else if (s->suspect)
        fprintf(out,
                "    SUSPECT: never freed, allocated all along (median age %s, 10%% younger "
                "than %s)\n",
                age_str(s->median_age_s, m, sizeof m), age_str(s->p10_age_s, p, sizeof p));
    if (!o->ages && !o->older_than_ns)
        return;
    hist_text(out, t, o->older_than_ns ? "older blocks by age" : "live blocks by age", s->live_hist,
              s->live_hist_bytes);
    if (s->freed_blocks)
        hist_text(out, t, "freed blocks by lifetime", s->freed_hist, NULL);
}

static void ages_text_summary(FILE *out, const pa_trace_t *t, const pa_groups_t *g,
                              const ages_t *ag, const pa_leaks_opts_t *o)
{
    size_t suspects = 0;
    for (size_t i = 0; i < g->n; i++)
        suspects += g->items[i]->suppressed_by < 0 && ag->brief[g->items[i] - g->all].suspect;
    const pa_ages_t *a = pa_ages_of(t);
    char buf[32];
    if (o->older_than_ns)
        fprintf(out, "  only live blocks older than %s (ages to 1/16 of their value)\n",
                age_str((double)o->older_than_ns * 1e-9, buf, sizeof buf));
    if (!suspects && !o->ages && !o->older_than_ns && !o->rank_suspects)
        return; /* the report of a trace before ages reads as it did */
    fprintf(out, "  suspects: %zu %s whose live blocks outlive what %s freed%s\n", suspects,
            suspects == 1 ? "site" : "sites", suspects == 1 ? "it" : "they",
            suspects && !o->rank_suspects ? " (--rank suspects lists them first)" : "");
    (void)a;
}

/* The start of each bucket's histogram entry at an ages' unit, `{"bucket": B, "from_s": F,
 * "to_s": T, "blocks": ` as the compact object's writer makes it: the same for every leak of a
 * report (a full JSON report of a compile writes 120k entries), so made once per unit. */
typedef struct {
    uint64_t unit_ps; /* the unit they were made for */
    bool made;
    uint8_t len[PS_AGE_BUCKETS];
    char s[PS_AGE_BUCKETS][16 + 3 * PA_JSON_F64_MAX + 36];
} hist_leads_t;

static size_t put_lit(char *p, const char *lit)
{
    size_t n = strlen(lit);
    memcpy(p, lit, n);
    return n;
}

/* What pa_json_f64 writes of v. */
static size_t put_f64(char *p, double v)
{
    return isfinite(v) ? pa_json_format_f64(p, v) : put_lit(p, "null");
}

static const hist_leads_t *hist_leads(const pa_ages_t *a)
{
    static hist_leads_t h;
    if (h.made && h.unit_ps == a->unit_ps)
        return &h;
    for (unsigned b = 0; b < PS_AGE_BUCKETS; b++) {
        uint64_t lo, hi;
        pa_ages_bucket_range(b, &lo, &hi);
        char *p = h.s[b];
        p += put_lit(p, "{\"bucket\": ");
        p += pa_json_format_u64(p, b);
        p += put_lit(p, ", \"from_s\": ");
        p += put_f64(p, pa_ages_seconds(a, (double)lo));
        p += put_lit(p, ", \"to_s\": ");
        if (hi == UINT64_MAX)
            p += put_lit(p, "null");
        else
            p += put_f64(p, pa_ages_seconds(a, (double)hi));
        p += put_lit(p, ", \"blocks\": ");
        h.len[b] = (uint8_t)(p - h.s[b]);
    }
    h.unit_ps = a->unit_ps;
    h.made = true;
    return &h;
}

static void hist_json(pa_json_t *j, const pa_ages_t *a, const char *key, const uint64_t *count,
                      const uint64_t *bytes)
{
    pa_json_key(j, key);
    pa_json_array_begin(j, false);
    const hist_leads_t *h = j->depth + 1 < PA_JSON_MAX_DEPTH ? hist_leads(a) : NULL;
    for (unsigned b = 0; b < PS_AGE_BUCKETS; b++) {
        if (!count[b])
            continue;
        if (h) { /* the entry made whole, written as one value */
            char e[sizeof h->s[b] + 64], *p = e;
            memcpy(p, h->s[b], h->len[b]);
            p += h->len[b];
            p += pa_json_format_u64(p, count[b]);
            if (bytes) {
                p += put_lit(p, ", \"bytes\": ");
                p += pa_json_format_u64(p, bytes[b]);
            }
            *p++ = '}';
            pa_json_raw(j, e, (size_t)(p - e));
            continue;
        }
        uint64_t lo, hi;
        pa_ages_bucket_range(b, &lo, &hi);
        pa_json_object_begin(j, true);
        pa_json_kv_u64(j, "bucket", b);
        pa_json_key(j, "from_s");
        pa_json_f64(j, pa_ages_seconds(a, (double)lo));
        pa_json_key(j, "to_s");
        if (hi == UINT64_MAX)
            pa_json_null(j);
        else
            pa_json_f64(j, pa_ages_seconds(a, (double)hi));
        pa_json_kv_u64(j, "blocks", count[b]);
        if (bytes)
            pa_json_kv_u64(j, "bytes", bytes[b]);
        pa_json_object_end(j);
    }
    pa_json_array_end(j);
}

static void age_json(pa_json_t *j, const pa_trace_t *t, const pa_age_summary_t *s)
{
    const pa_ages_t *a = pa_ages_of(t);
    pa_json_key(j, "age");
    if (!s || !s->have) {
        pa_json_null(j);
        return;
    }
    pa_json_object_begin(j, false);
    pa_json_kv_u64(j, "live_blocks", s->live_blocks);
    pa_json_kv_u64(j, "live_bytes", s->live_bytes);
    pa_json_kv_u64(j, "older_blocks", s->older_blocks);
    pa_json_kv_u64(j, "older_bytes", s->older_bytes);
    pa_json_kv_u64(j, "freed_blocks", s->freed_blocks);
    pa_json_key(j, "median_age_s");
    pa_json_f64(j, s->median_age_s);
    pa_json_key(j, "p10_age_s");
    pa_json_f64(j, s->p10_age_s);
    pa_json_key(j, "p90_lifetime_s");
    if (s->freed_blocks)
        pa_json_f64(j, s->p90_lifetime_s);
    else
        pa_json_null(j);
    pa_json_key(j, "ratio");
    if (s->ratio > 0)
        pa_json_f64(j, s->ratio);
    else
        pa_json_null(j);
    pa_json_kv_bool(j, "suspect", s->suspect);
    pa_json_key(j, "rule");
    if (s->rule)
        pa_json_string(j, s->rule);
    else
        pa_json_null(j);
    hist_json(j, a, "live_hist", s->live_hist, s->live_hist_bytes);
    hist_json(j, a, "lifetime_hist", s->freed_hist, NULL);
    pa_json_object_end(j);
}

static void ages_json_totals(pa_json_t *j, const pa_trace_t *t, const pa_groups_t *g,
                             const ages_t *ag, const pa_leaks_opts_t *o)
{
    const pa_ages_t *a = pa_ages_of(t);
    pa_json_key(j, "ages");
    if (!a || !ag) {
        pa_json_null(j);
        return;
    }
    size_t suspects = 0;
    for (size_t i = 0; i < g->n; i++)
        suspects += g->items[i]->suppressed_by < 0 && ag->brief[g->items[i] - g->all].suspect;
    pa_json_object_begin(j, false);
    pa_json_key(j, "unit_s");
    pa_json_f64(j, pa_ages_seconds(a, 1));
    pa_json_kv_u64(j, "clock_resolution_ns", a->clock_res_ns);
    pa_json_kv_u64(j, "walk_ns", a->walk_ns);
    pa_json_key(j, "older_than_s");
    if (o->older_than_ns)
        pa_json_f64(j, (double)o->older_than_ns * 1e-9);
    else
        pa_json_null(j);
    pa_json_kv_u64(j, "suspects", suspects);
    pa_json_object_end(j);
}
