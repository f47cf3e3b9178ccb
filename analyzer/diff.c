/* SPDX-License-Identifier: MIT */
/*
 * diff.c — `perfshim diff BASE NEW` and `perfshim check TRACE...` (diff.h; docs/analyzer.md).
 *
 * Each trace is loaded at its last snapshot (without the per-site chunks no figure reads: ages,
 * advice, leak classes), its rows summed into the sites (keyed as `leaks` groups them, without
 * grouping them first: add_trace), one at a time, and freed before the next; memory holds the
 * sites only. A site is a symbolized
 * stack: the `key` of a stack view (report.c; the key `--merge` uses), so a site of BASE and one
 * of NEW are the same when their visible frames read the same (function, file, line, inlined),
 * wherever their modules were loaded and however the code around them moved. Allocation sites
 * (leaks, peak, allocations) hide the allocator and shim frames, lock sites (the acquiring call
 * stacks of locks.c) the shim and C++ lock wrappers, CPU sites (hot.c's sampled stacks) the
 * shim: each kind is keyed as its own report shows it. Several traces on one side are summed
 * per site, except peaks: the highest of them. The sites are export.c's (pa_xprof_t: each
 * distinct frame stored once, a site a chain of a tree of them, walked on the frame tree), so
 * no key text or frame is copied per site; keys are ordered as their text would be, through
 * ranks of their pieces (key_ranks): every key ranked for JSON and budgets, two keys compared
 * when their changes tie for the text's few largest changes.
 *
 * Must not: keep a trace or its symbolizer past its turn.
 */
#include "diff.h"

#include "budget.h"
#include "export.h"
#include "locks.h"
#include "pieces.h"
#include "report.h"
#include "symbols.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PA_DIFF_DEFAULT_TOP 10

const char pa_diff_help[] =
    "Usage: perfshim diff [OPTIONS] BASE NEW\n"
    "       perfshim diff [OPTIONS] BASE... -- NEW...\n"
    "\n"
    "Compare two runs per allocation, lock and CPU site, sites matched by symbolized stack\n"
    "(function, file and line; never by address): leaked blocks and bytes, peak live bytes,\n"
    "allocations, bytes allocated, lock wait and CPU samples, with base, new, change and\n"
    "percent, the largest changes first. BASE and NEW are trace files or directories (every\n"
    "*.trace file in them); with '--', several of each. Several traces of a side are summed\n"
    "per site (peaks: the highest).\n"
    "\n"
    "Options:\n"
    "      --json                 JSON output (format perfshim-diff)\n"
    "      --top N                list the N largest changes per metric (default 10; 0: all)\n"
    "      --fail-on RULES        budgets, comma-separated: METRIC=+N, METRIC=+N% (a change\n"
    "                             against BASE) or METRIC=N (a maximum of NEW), optionally\n"
    "                             followed by a scope: total, sites or site:PATTERN\n"
    "                             (default: the total and every site; for +N%: the total);\n"
    "                             e.g. leaked=+0,peak=+10%,allocs=+5%,lock_wait=+20%\n"
    "                             metrics: leaked leaked_bytes peak allocs alloc_bytes\n"
    "                             lock_wait cpu\n"
    "      --budget FILE          budgets from a file, one rule per line ('#' comments)\n"
    "      --junit FILE           write the budgets' results as JUnit XML\n"
    "      --suppressions FILE    leak suppressions (see perfshim help leaks)\n"
    "      --no-default-suppressions  do not suppress the C/C++ runtime's one-time allocations\n"
    "      --all-frames           C++ standard library frames one per line (see leaks --help)\n"
    "  -h, --help                 show this help\n"
    "\n"
    "Exit status: 0 within every budget; 1 a budget broke; 2 usage error or unreadable input.\n";

const char pa_check_help[] =
    "Usage: perfshim check [OPTIONS] TRACE...\n"
    "\n"
    "Check traces (files or directories of *.trace files) against absolute budgets, without a\n"
    "base: e.g. no leaks, a peak under 200 MB, no lock site with more than 1 s of waits:\n"
    "  perfshim check --fail-on leaked=0,peak=200M,lock_wait=1s TRACE...\n"
    "The metrics are those of perfshim diff, summed over the traces (peaks: the highest);\n"
    "rules that need a base (+N, +N%) are skipped.\n"
    "\n"
    "Options:\n"
    "      --json                 JSON output (format perfshim-check)\n"
    "      --fail-on RULES        budgets (see perfshim help diff)\n"
    "      --budget FILE          budgets from a file\n"
    "      --junit FILE           write the budgets' results as JUnit XML\n"
    "      --suppressions FILE    leak suppressions (see perfshim help leaks)\n"
    "      --no-default-suppressions  do not suppress the C/C++ runtime's one-time allocations\n"
    "  -h, --help                 show this help\n"
    "\n"
    "Exit status: 0 within every budget; 1 a budget broke; 2 usage error or unreadable input.\n";

/* ---- the sites ------------------------------------------------------------------------------- */

enum { BASE = 0, NEW = 1 };

/* A site's figures. The site itself (its key, frames and note) is export.c's: sites are keyed as
 * `export` keys them (pa_xprof_t: each distinct frame stored once, a site a chain of its frame
 * tree), so a site costs its figures and its new frames' nodes, not a copy of its key and frames
 * (1.1 GB on a compile's trace diffed with itself, where it is 0.1 GB now). */
typedef struct {
    uint64_t base[PA_M_COUNT]; /* BASE's figures by metric; NEW's are in its export site's v[]
                                  (figs): export's figures, which diff does not use */
    uint32_t rank;             /* its key's place in the order of the keys' text (key_ranks) */
    bool in[2];                /* seen in BASE / NEW */
} dsite_t;

/* Where a site's figures are kept while BASE's traces are added (then moved into its dsite_t's
 * base: dsites_make), and NEW's after them: export's PA_X_NMETRICS slots of its pa_xsite_t;
 * slot PEAK_SUM: the sum of its rows' peaks in the trace being added. */
enum { PEAK_SUM = PA_M_COUNT };
_Static_assert(PA_M_COUNT + 1 <= PA_X_NMETRICS, "a site's figures fit export's slots");

typedef struct {
    pa_xprof_t x; /* the sites' keys, frames and notes */
    /* x.nsites, by site of x; made once NEW's first trace has loaded (dsites_make): BASE's
     * sites were held without them while it loaded (a compile's 116k sites: 7.4 MB) */
    dsite_t *sites;
    size_t sites_cap;
    bool split; /* sites made: BASE's figures moved out of x */
    uint64_t tot[2][PA_M_COUNT];
    pa_strlist_t paths[2];
    pa_strlist_t pids[2]; /* decimal, per trace */
    bool sampled[2];      /* some trace of the side was sampled: its figures are estimates */
    size_t nsites;
    pa_frame_t *frames; /* the frames of the site being printed or checked (site_frames) */
    size_t frames_cap;
    /* while the traces are added (add_trace): by site, its suppression + 2 (0: not known yet);
     * by frame of x, the suppression its frame matches + 2 (0: not known yet) */
    int32_t *supp_of;
    size_t nsupp, supp_cap;
    int32_t *frame_match;
    size_t nframe_match, frame_match_cap;
    /* by frame of x: its key piece's rank among the pieces (key_ranks) */
    uint32_t *piece_rank;
    bool ranked; /* the sites' ranks are set (key_ranks with all); else ties compare keys */
} diff_t;

static void diff_free(diff_t *d)
{
    pa_export_free(&d->x);
    free(d->sites);
    free(d->frames);
    free(d->supp_of);
    free(d->frame_match);
    free(d->piece_rank);
    for (int k = 0; k < 2; k++) {
        pa_strlist_free(&d->paths[k]);
        pa_strlist_free(&d->pids[k]);
    }
}

/* The sites' dsite_t's, once BASE's traces are added (and NEW's first has loaded): each site
 * made so far is BASE's, its figures moved from its export site. PA_OK or PA_ENOMEM. */
static int dsites_make(diff_t *d)
{
    size_t n = d->x.nsites;
    if (pa_util_grow((void **)&d->sites, &d->sites_cap, n ? n : 1, sizeof *d->sites) != PA_OK)
        return PA_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        uint64_t *v = d->x.sites[i].v;
        memset(&d->sites[i], 0, sizeof d->sites[i]);
        memcpy(d->sites[i].base, v, sizeof d->sites[i].base);
        memset(v, 0, PA_X_NMETRICS * sizeof *v);
        d->sites[i].in[BASE] = true;
    }
    d->nsites = n;
    d->split = true;
    return PA_OK;
}

/* The site of stack `id` of the walk's trace as seen with `hide`, made on first sight, into
 * *site; PA_OK or PA_ENOMEM. */
static int site_of(diff_t *d, pa_xwalk_t *w, uint32_t id, unsigned hide, int side, size_t *site)
{
    size_t i;
    if (pa_export_site_of(&d->x, w, id, hide, &i) != PA_OK)
        return PA_ENOMEM;
    if (d->split && i >= d->nsites) { /* a new site: the last one */
        if (pa_util_grow((void **)&d->sites, &d->sites_cap, i + 1, sizeof *d->sites) != PA_OK)
            return PA_ENOMEM;
        memset(&d->sites[i], 0, sizeof d->sites[i]);
        d->nsites = i + 1;
    }
    if (d->split)
        d->sites[i].in[side] = true;
    *site = i;
    return PA_OK;
}

static const pa_xsite_t *xsite_of(const diff_t *d, const dsite_t *s)
{
    return &d->x.sites[s - d->sites];
}

/* The figures of site i on one side, by metric (before dsites_make: BASE's in x). */
static uint64_t *figs(diff_t *d, size_t i, int side)
{
    return side == BASE && d->split ? d->sites[i].base : d->x.sites[i].v;
}

static const uint64_t *cfigs(const diff_t *d, const dsite_t *s, int side)
{
    return side == BASE ? s->base : d->x.sites[s - d->sites].v;
}

/* The frames of a site (*n of them), never NULL (pa_budget_check and pa_budget_where take NULL
 * for the total): copies in d->frames, valid until the next call. */
static const pa_frame_t *site_frames(diff_t *d, const dsite_t *s, size_t *n)
{
    static const pa_frame_t no_frames[1];
    const pa_xsite_t *x = xsite_of(d, s);
    *n = 0;
    if (!x->nframes ||
        pa_util_grow((void **)&d->frames, &d->frames_cap, x->nframes, sizeof *d->frames) != PA_OK)
        return no_frames; /* (out of memory: printed without frames) */
    uint32_t node = x->leaf;
    for (size_t i = 0; i < x->nframes; i++, node = d->x.nodes[node].caller)
        d->frames[i] = d->x.frames[d->x.nodes[node].frame].f;
    *n = x->nframes;
    return d->frames;
}

static const char *site_note(const diff_t *d, const dsite_t *s)
{
    return xsite_of(d, s)->note;
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
    return a > b ? a : b;
}

/* The suppression pattern matching site s (-1: none): the first match from its innermost
 * visible frame out, as pa_report_group_suppress matches a group's key. Memoized per site and
 * per frame (the sites of a trace share their outer frames). */
static int site_suppressed(diff_t *d, size_t site, const pa_suppress_t *supp)
{
    if (d->supp_of[site])
        return d->supp_of[site] - 2;
    const pa_xsite_t *x = &d->x.sites[site];
    int r = -1;
    uint32_t node = x->leaf;
    for (size_t i = 0; i < x->nframes && r < 0; i++, node = d->x.nodes[node].caller) {
        uint32_t f = d->x.nodes[node].frame;
        int32_t *m = &d->frame_match[f];
        if (!*m)
            *m = pa_suppress_match(supp, &d->x.frames[f].f, 1) + 2;
        r = *m - 2;
    }
    d->supp_of[site] = r + 2;
    return r;
}

/* Adds trace t to one side: its heap rows summed per site (as pa_report_group groups them: a
 * site of the heap is a group of `leaks`, so its peak is the sum of its rows' peaks, and the
 * side's the highest of its traces'), its lock sites and CPU stacks. The rows go straight to
 * export's sites, without grouping them first: one symbolization and one keying of each stack. */
static int add_trace(diff_t *d, int side, pa_trace_t *t, const pa_suppress_t *supp)
{
    pa_symbols_t *syms = NULL;
    pa_xwalk_t *w = NULL;
    int rc = pa_symbols_new(t, &syms);
    if (rc != PA_OK)
        return rc;
    uint64_t *tot = d->tot[side];
    rc = pa_export_walk_begin(t, syms, &w);
    if (rc == PA_OK && side == NEW && !d->split)
        rc = dsites_make(d);
    for (size_t i = 0; rc == PA_OK && i < t->snap.nrows; i++) {
        const pa_row_t *r = &t->snap.rows[i];
        size_t site;
        if (site_of(d, w, r->stack_id, PA_HIDE_ALLOCATOR | PA_HIDE_SHIM, side, &site) != PA_OK ||
            pa_util_grow((void **)&d->supp_of, &d->supp_cap, d->x.nsites, sizeof *d->supp_of) !=
                PA_OK ||
            pa_util_grow((void **)&d->frame_match, &d->frame_match_cap, d->x.nframes,
                         sizeof *d->frame_match) != PA_OK) {
            rc = PA_ENOMEM;
            break;
        }
        for (; d->nsupp < d->x.nsites; d->nsupp++) /* (new sites: not known yet) */
            d->supp_of[d->nsupp] = 0;
        for (; d->nframe_match < d->x.nframes; d->nframe_match++)
            d->frame_match[d->nframe_match] = 0;
        uint64_t *m = figs(d, site, side);
        uint64_t inh_blocks, inh_bytes;
        pa_model_row_inherited(t, r, &inh_blocks, &inh_bytes);
        /* (a row with nothing leaked adds nothing: its site's frames are not matched) */
        if ((r->live_blocks != inh_blocks || r->live_bytes != inh_bytes) &&
            site_suppressed(d, site, supp) < 0) {
            m[PA_M_LEAKED] += r->live_blocks - inh_blocks;
            m[PA_M_LEAKED_BYTES] += r->live_bytes - inh_bytes;
            tot[PA_M_LEAKED] += r->live_blocks - inh_blocks;
            tot[PA_M_LEAKED_BYTES] += r->live_bytes - inh_bytes;
        }
        d->x.sites[site].v[PEAK_SUM] += r->peak_live_bytes;
        m[PA_M_ALLOCS] += r->allocs;
        m[PA_M_ALLOC_BYTES] += r->alloc_bytes;
    }
    for (size_t i = 0; rc == PA_OK && i < d->nsupp; i++) { /* this trace's peaks, per site */
        uint64_t *m = figs(d, i, side), *sum = &d->x.sites[i].v[PEAK_SUM];
        m[PA_M_PEAK] = max_u64(m[PA_M_PEAK], *sum);
        *sum = 0;
    }
    tot[PA_M_PEAK] = max_u64(tot[PA_M_PEAK], t->snap.totals.peak_live_bytes);
    tot[PA_M_ALLOCS] += t->snap.totals.allocs;
    tot[PA_M_ALLOC_BYTES] += t->snap.totals.alloc_bytes;
    const pa_locks_t *l = &t->locks;
    for (size_t i = 0; rc == PA_OK && t->has_locks && i < l->nlocks; i++)
        if (pa_locks_is_lock(&l->locks[i]))
            tot[PA_M_LOCK_WAIT] += l->locks[i].wait_ns;
    for (size_t i = 0; rc == PA_OK && t->has_locks && i < l->nsites; i++) {
        const pa_lock_site_t *ls = &l->sites[i];
        if (ls->lock_index >= l->nlocks || !pa_locks_is_lock(&l->locks[ls->lock_index]) ||
            !ls->wait_ns)
            continue;
        size_t site;
        if ((rc = site_of(d, w, ls->stack_id, PA_HIDE_SHIM | PA_HIDE_LOCK_WRAPPERS, side, &site)) ==
            PA_OK)
            figs(d, site, side)[PA_M_LOCK_WAIT] += ls->wait_ns;
    }
    for (size_t i = 0; rc == PA_OK && t->has_cpu && i < t->cpu.n; i++) {
        const pa_cpu_row_t *r = &t->cpu.rows[i];
        size_t site;
        if ((rc = site_of(d, w, r->stack_id, PA_HIDE_SHIM, side, &site)) == PA_OK) {
            figs(d, site, side)[PA_M_CPU] += r->samples;
            tot[PA_M_CPU] += r->samples;
        }
    }
    pa_export_walk_end(w);
    pa_symbols_free(syms);
    if (rc == PA_OK) {
        if (pa_report_est(t)[0])
            d->sampled[side] = true;
        if (pa_strlist_add(&d->paths[side], t->path) != PA_OK ||
            pa_strlist_addf(&d->pids[side], "%llu", (unsigned long long)t->process.pid) != PA_OK)
            rc = PA_ENOMEM;
    }
    return rc;
}

/* Loads every trace of one side in turn. Returns the first error (each said why). */
static int load_side(diff_t *d, int side, const pa_strlist_t *paths, const pa_suppress_t *supp,
                     bool quiet)
{
    int first = PA_OK;
    for (size_t i = 0; i < paths->n; i++) {
        pa_trace_t t;
        /* (no report of diff reads the ages, advice or leak kinds: not kept, 16 MB of a
         * compile's trace held while its stacks are keyed) */
        int rc = pa_model_load_unaged(paths->items[i], quiet, &(pa_at_t){.kind = PA_AT_LAST}, &t);
        if (rc == PA_OK) {
            pa_model_drop_row_index(&t); /* (read while the rows were read only: 2 MB) */
            rc = add_trace(d, side, &t, supp);
            if (rc == PA_ENOMEM)
                pa_msg_error("%s: out of memory", paths->items[i]);
            pa_model_free(&t);
            /* the trace's and its symbolizer's small blocks, freed in the heap's middle under
             * the sites: given back before the next trace loads over them (3 MB of a compile) */
            malloc_trim(0);
        }
        if (rc != PA_OK && first == PA_OK)
            first = rc;
    }
    return first;
}

/* ---- ordering ------------------------------------------------------------------------------ */

/* Sites are ordered by their keys' text (a stack view's key: the pieces of its frames, then a
 * special marker), compared without making it: each frame's piece is ranked once among the
 * others, and two keys compare as the lists of their pieces' ranks, the marker's after them.
 * A site's frames are a chain of export's frame tree (pa_xsite_t.leaf), walked in step. */
typedef struct {
    const diff_t *d;
    const uint32_t *piece_rank; /* by frame of d->x: its piece's rank among the pieces */
    uint32_t *at;               /* by site, in sort_keys: the node of its frame `depth` */
} key_order_t;

/* Element i of site x's key, whose frame i (if it has one) is node `node`: a piece's rank
 * (above every marker's), a marker's, or -1 (the end: a key that is a prefix of another comes
 * first). */
static int64_t key_elem(const key_order_t *o, const pa_xsite_t *x, size_t i, uint32_t node)
{
    if (i < x->nframes)
        return (int64_t)o->piece_rank[o->d->x.nodes[node].frame] + 4;
    return i == x->nframes && x->special ? (int64_t)pa_export_special_rank(x->special) : -1;
}

/* Sites a and b compared from element `depth` of their keys on (the elements before are
 * equal; na and nb: their frame `depth`'s nodes); equal keys by site index, the order a stable
 * sort of the indices gives them. */
static int cmp_key_from(const key_order_t *o, uint32_t a, uint32_t b, size_t depth, uint32_t na,
                        uint32_t nb)
{
    const pa_xsite_t *x = &o->d->x.sites[a], *y = &o->d->x.sites[b];
    const pa_xnode_t *nodes = o->d->x.nodes;
    for (size_t i = depth;; i++) {
        if (na == nb && i < x->nframes) /* one chain from here out: the same frames */
            i = x->nframes;             /* (as many: a chain ends at the root) */
        int64_t ea = key_elem(o, x, i, na), eb = key_elem(o, y, i, nb);
        if (ea != eb)
            return ea < eb ? -1 : 1;
        if (ea < 0) /* (both ended) */
            return a < b ? -1 : a > b;
        if (i < x->nframes) { /* (then both have frame i) */
            na = nodes[na].caller;
            nb = nodes[nb].caller;
        }
    }
}

static void swap_u32(uint32_t *v, size_t i, size_t j)
{
    uint32_t t = v[i];
    v[i] = v[j];
    v[j] = t;
}

/* Sorts the n sites of v by their keys, the first `depth` elements of which are equal:
 * multikey quicksort (Bentley and Sedgewick, "Fast algorithms for sorting and searching
 * strings", 1997), which reads each element of a shared prefix once per partition instead of
 * once per comparison (the sites of a compile share their innermost frames: xmalloc,
 * ggc_internal_alloc, ...; qsort's comparisons of them cost 450M instructions). */
static void sort_keys(const key_order_t *o, uint32_t *v, size_t n, size_t depth)
{
    while (n > 1) {
        if (n < 12) { /* insertion sort */
            for (size_t i = 1; i < n; i++)
                for (size_t j = i;
                     j && cmp_key_from(o, v[j - 1], v[j], depth, o->at[v[j - 1]], o->at[v[j]]) > 0;
                     j--)
                    swap_u32(v, j - 1, j);
            return;
        }
        const pa_xsite_t *s = o->d->x.sites;
        int64_t e0 = key_elem(o, &s[v[0]], depth, o->at[v[0]]),
                e1 = key_elem(o, &s[v[n / 2]], depth, o->at[v[n / 2]]),
                e2 = key_elem(o, &s[v[n - 1]], depth, o->at[v[n - 1]]);
        int64_t pivot = e0 < e1 ? (e1 < e2   ? e1
                                   : e0 < e2 ? e2
                                             : e0)
                                : (e0 < e2   ? e0
                                   : e1 < e2 ? e2
                                             : e1); /* median of three */
        /* [0, lt): below the pivot, [lt, i): equal, (gt, n): above */
        size_t lt = 0, i = 0, gt = n;
        while (i < gt) {
            int64_t e = key_elem(o, &s[v[i]], depth, o->at[v[i]]);
            if (e < pivot)
                swap_u32(v, lt++, i++);
            else if (e > pivot)
                swap_u32(v, i, --gt);
            else
                i++;
        }
        sort_keys(o, v, lt, depth);
        sort_keys(o, v + gt, n - gt, depth);
        v += lt;
        n = gt - lt;
        if (pivot < 0) { /* equal keys, all ended: by index */
            for (size_t k = 1; k < n; k++)
                for (size_t j = k; j && v[j - 1] > v[j]; j--)
                    swap_u32(v, j - 1, j);
            return;
        }
        if (pivot >= 4) /* (a frame: each of them has the next element's node) */
            for (size_t k = 0; k < n; k++)
                o->at[v[k]] = o->d->x.nodes[o->at[v[k]]].caller;
        depth++;
    }
}

typedef struct {
    size_t text; /* offset of its piece's text in the buffer */
    uint32_t frame;
} piece_t;

static const char *piece_texts; /* for cmp_piece */

static int cmp_piece(const void *pa, const void *pb)
{
    const piece_t *a = pa, *b = pb;
    return strcmp(piece_texts + a->text, piece_texts + b->text);
}

/* Ranks every frame's key piece among the pieces (d->piece_rank), and with `all` every site's
 * key among the keys (its rank: its place in the order of the keys' text; d->ranked). Without
 * `all`, two sites whose changes tie compare their keys (cmp_change): the text's few largest
 * changes per metric meet few ties, and ranking every key cost 150M instructions of a compile's
 * trace diffed with another (T X). PA_OK or PA_ENOMEM. */
static int key_ranks(diff_t *d, bool all)
{
    size_t nf = d->x.nframes;
    piece_t *p = malloc((nf ? nf : 1) * sizeof *p);
    uint32_t *rank = malloc((nf ? nf : 1) * sizeof *rank);
    uint32_t *order = all ? malloc((d->nsites ? d->nsites : 1) * sizeof *order) : NULL;
    uint32_t *at = all ? malloc((d->nsites ? d->nsites : 1) * sizeof *at) : NULL;
    pa_str_t text = {0};
    int rc = p && rank && (order || !all) && (at || !all) ? PA_OK : PA_ENOMEM;
    for (size_t i = 0; rc == PA_OK && i < nf; i++) {
        p[i] = (piece_t){text.len, (uint32_t)i};
        pa_report_key_piece(&text, &d->x.frames[i].f);
        pa_str_append(&text, "", 1); /* (its NUL) */
        if (text.failed)
            rc = PA_ENOMEM;
    }
    if (rc == PA_OK) {
        piece_texts = text.s;
        qsort(p, nf, sizeof *p, cmp_piece);
        for (size_t i = 0, r = 0; i < nf; i++) {
            if (i && cmp_piece(&p[i - 1], &p[i]) != 0)
                r++;
            rank[p[i].frame] = (uint32_t)r;
        }
        free(d->piece_rank);
        d->piece_rank = rank;
        rank = NULL;
    }
    if (rc == PA_OK && all) {
        key_order_t o = {d, d->piece_rank, at};
        for (size_t i = 0; i < d->nsites; i++) {
            order[i] = (uint32_t)i;
            at[i] = d->x.sites[i].leaf;
        }
        sort_keys(&o, order, d->nsites, 0);
        for (size_t i = 0; i < d->nsites; i++)
            d->sites[order[i]].rank = (uint32_t)i;
        d->ranked = true;
    }
    piece_texts = NULL;
    pa_str_free(&text);
    free(p);
    free(rank);
    free(order);
    free(at);
    return rc;
}

static double change_of(uint64_t base, uint64_t value)
{
    return value >= base ? (double)(value - base) : (double)(base - value);
}

static pa_metric_t sort_metric;
static const diff_t *sort_diff; /* (the sites' NEW figures: cfigs) */

/* The largest change of sort_metric first, then the key. */
static int cmp_change(const void *pa, const void *pb)
{
    const dsite_t *a = *(dsite_t *const *)pa, *b = *(dsite_t *const *)pb;
    double x = change_of(a->base[sort_metric], cfigs(sort_diff, a, NEW)[sort_metric]);
    double y = change_of(b->base[sort_metric], cfigs(sort_diff, b, NEW)[sort_metric]);
    if (x != y)
        return x > y ? -1 : 1;
    if (!sort_diff->ranked) /* (the order the ranks give: keys, equal keys by index) */
        return cmp_key_from(&(key_order_t){sort_diff, sort_diff->piece_rank, NULL},
                            (uint32_t)(a - sort_diff->sites), (uint32_t)(b - sort_diff->sites), 0,
                            xsite_of(sort_diff, a)->leaf, xsite_of(sort_diff, b)->leaf);
    return a->rank < b->rank ? -1 : a->rank > b->rank;
}

/* The sites in key order into v: each at its rank (the ranks are 0 .. nsites - 1, each once),
 * without sorting (a qsort of a compile's 116k sites by rank cost 63M instructions). */
static void key_order(const diff_t *d, dsite_t **v)
{
    for (size_t k = 0; k < d->nsites; k++)
        v[d->sites[k].rank] = &d->sites[k];
}

/* Every site: with `all` in key order (every key ranked: for JSON's order and the budgets'
 * full sorts by change), else in the order they were made (ties compare keys); NULL when out of
 * memory. */
static dsite_t **site_array(diff_t *d, bool all)
{
    dsite_t **v = malloc((d->nsites ? d->nsites : 1) * sizeof *v);
    if (!v || key_ranks(d, all) != PA_OK) {
        free(v);
        return NULL;
    }
    if (all)
        key_order(d, v);
    else
        for (size_t k = 0; k < d->nsites; k++)
            v[k] = &d->sites[k];
    return v;
}

static void sort_by_change(const diff_t *d, dsite_t **v, size_t n, pa_metric_t m)
{
    sort_metric = m;
    sort_diff = d;
    qsort(v, n, sizeof *v, cmp_change);
}

static int cmp_change_ctx(const void *pa, const void *pb, void *ctx)
{
    (void)ctx;
    return cmp_change(pa, pb);
}

/* The first k sites of sort_by_change's order into v[0..k) (the order is total: the key
 * breaks ties), the others after them in no order: the text prints a few per metric. */
static void sort_top_by_change(const diff_t *d, dsite_t **v, size_t n, size_t k, pa_metric_t m)
{
    sort_metric = m;
    sort_diff = d;
    pa_util_sort_top(v, n, sizeof *v, k, cmp_change_ctx, NULL);
}

/* ---- budgets --------------------------------------------------------------------------------- */

/* Every rule against the totals, then against the sites, largest change first. */
static void check_budgets(pa_budget_t *b, diff_t *d, dsite_t **v, bool has_base)
{
    for (size_t i = 0; i < b->n; i++) {
        pa_budget_rule_t *r = &b->rules[i];
        pa_metric_t m = r->metric;
        pa_budget_check(r, NULL, 0, has_base, d->tot[BASE][m], d->tot[NEW][m]);
        sort_by_change(d, v, d->nsites, m);
        for (size_t k = 0; k < d->nsites; k++) {
            size_t n;
            const pa_frame_t *f = site_frames(d, v[k], &n);
            pa_budget_check(r, f, n, has_base, v[k]->base[m], cfigs(d, v[k], NEW)[m]);
        }
    }
}

/* ---- output ---------------------------------------------------------------------------------- */

/* Whether metric m is a heap figure, estimated in a sampled trace (PERFSHIM_SAMPLE samples the
 * heap only: lock wait and CPU samples are counted as in any trace). */
static bool heap_metric(int m)
{
    return m != PA_M_LOCK_WAIT && m != PA_M_CPU;
}

/* "+12.5%", "new" (from 0), "" (no change, both 0) into buf. */
static const char *percent_text(uint64_t base, uint64_t value, char *buf, size_t size)
{
    if (base)
        snprintf(buf, size, "%+.1f%%", ((double)value - (double)base) * 100.0 / (double)base);
    else
        snprintf(buf, size, "%s", value ? "new" : "");
    return buf;
}

static void value_row(FILE *out, pa_metric_t m, uint64_t base, uint64_t value, const char *label,
                      const char *e0, const char *e1)
{
    char b[48], n[48], dl[64], p[48], eb[56], en[56];
    pa_metric_format(m, base, b, sizeof b);
    pa_metric_format(m, value, n, sizeof n);
    pa_metric_format_change(m, base, value, dl, sizeof dl);
    /* "~" right against the figure it marks: in a column of its own it read as the end of the
     * figure before it ("16797 ~     23199" marked the new side's 23199) */
    snprintf(eb, sizeof eb, "%s%s", *e0 == '~' ? "~" : "", b);
    snprintf(en, sizeof en, "%s%s", *e1 == '~' ? "~" : "", n);
    fprintf(out, "  %-18s %15s %15s %14s %9s", label, eb, en, dl,
            percent_text(base, value, p, sizeof p));
}

static void traces_text(FILE *out, const diff_t *d, int side, const char *label)
{
    fprintf(out, "  %s", label);
    size_t n = d->paths[side].n, shown = n > 4 ? 3 : n; /* a suite's traces: the first few */
    for (size_t i = 0; i < shown; i++) {
        fputs(i ? ", " : " ", out);
        pa_util_fputs_safe(out, d->paths[side].items[i]);
        fprintf(out, " (pid %s)", d->pids[side].items[i]);
    }
    if (shown < n)
        fprintf(out, " and %zu more", n - shown);
    fputc('\n', out);
}

static void diff_text(FILE *out, diff_t *d, dsite_t **v, uint64_t top, bool all_frames)
{
    size_t both = 0, only[2] = {0, 0};
    for (size_t i = 0; i < d->nsites; i++) {
        if (v[i]->in[BASE] && v[i]->in[NEW])
            both++;
        else
            only[v[i]->in[NEW]]++;
    }
    fprintf(out, "perfshim diff: %zu base %s, %zu new %s\n", d->paths[BASE].n,
            d->paths[BASE].n == 1 ? "trace" : "traces", d->paths[NEW].n,
            d->paths[NEW].n == 1 ? "trace" : "traces");
    traces_text(out, d, BASE, "base:");
    traces_text(out, d, NEW, "new: ");
    fprintf(out, "  sites: %zu in both, %zu only in base, %zu only in new\n", both, only[BASE],
            only[NEW]);
    const char *e0 = d->sampled[BASE] ? "~" : " ", *e1 = d->sampled[NEW] ? "~" : " ";
    if (d->sampled[BASE] || d->sampled[NEW])
        fputs("  some traces were sampled (PERFSHIM_SAMPLE): '~' marks estimates\n", out);
    fprintf(out, "\nTotals               %15s %15s %14s %9s\n", "base", "new", "change", "%");
    for (int m = 0; m < PA_M_COUNT; m++) {
        value_row(out, (pa_metric_t)m, d->tot[BASE][m], d->tot[NEW][m], pa_metrics[m].title,
                  heap_metric(m) ? e0 : " ", heap_metric(m) ? e1 : " ");
        fputc('\n', out);
    }
    for (int m = 0; m < PA_M_COUNT; m++) {
        size_t changed = 0; /* the sites with a change, moved first: the others sort after */
        for (size_t i = 0; i < d->nsites; i++)
            if (v[i]->base[m] != cfigs(d, v[i], NEW)[m]) {
                dsite_t *s = v[changed];
                v[changed++] = v[i];
                v[i] = s;
            }
        if (!changed)
            continue;
        size_t shown = top && top < changed ? (size_t)top : changed;
        sort_top_by_change(d, v, changed, shown, (pa_metric_t)m);
        fprintf(out, "\n%c%s: %zu %s changed", pa_metrics[m].title[0] & ~0x20,
                pa_metrics[m].title + 1, changed, changed == 1 ? "site" : "sites");
        if (shown < changed)
            fprintf(out, " (the %zu largest changes shown; --top 0 shows all)", shown);
        fputc('\n', out);
        for (size_t i = 0; i < shown; i++) {
            const dsite_t *s = v[i];
            char where[512];
            fputc('\n', out);
            value_row(out, (pa_metric_t)m, s->base[m], cfigs(d, s, NEW)[m],
                      !s->in[BASE]  ? "new site"
                      : !s->in[NEW] ? "gone"
                                    : "",
                      heap_metric(m) ? e0 : " ", heap_metric(m) ? e1 : " ");
            size_t n;
            const pa_frame_t *f = site_frames(d, s, &n);
            fprintf(out, "  %s\n", pa_budget_where(f, n, where, sizeof where));
            pa_report_frames_text_n(out, site_note(d, s), f, n, "      ", all_frames);
        }
    }
}

/* "traces": [{"trace", "pid"}...], "estimated": bool (members of the current object). */
static void traces_members(pa_json_t *j, const diff_t *d, int side)
{
    pa_json_key(j, "traces");
    pa_json_array_begin(j, false);
    for (size_t i = 0; i < d->paths[side].n; i++) {
        pa_json_object_begin(j, true);
        pa_json_key(j, "trace");
        pa_json_string(j, d->paths[side].items[i]);
        pa_json_key(j, "pid");
        pa_json_raw(j, d->pids[side].items[i], strlen(d->pids[side].items[i]));
        pa_json_object_end(j);
    }
    pa_json_array_end(j);
    pa_json_kv_bool(j, "estimated", d->sampled[side]);
}

static void traces_json(pa_json_t *j, const diff_t *d, int side)
{
    pa_json_object_begin(j, false);
    traces_members(j, d, side);
    pa_json_object_end(j);
}

/* {"base":B,"new":N,"delta":D,"percent":P|null}; without a base: the value alone. */
static void change_json(pa_json_t *j, uint64_t base, uint64_t value, bool has_base)
{
    if (!has_base) {
        pa_json_u64(j, value);
        return;
    }
    pa_json_object_begin(j, true);
    pa_json_kv_u64(j, "base", base);
    pa_json_kv_u64(j, "new", value);
    char buf[32];
    int n = value >= base ? snprintf(buf, sizeof buf, "%llu", (unsigned long long)(value - base))
                          : snprintf(buf, sizeof buf, "-%llu", (unsigned long long)(base - value));
    pa_json_key(j, "delta");
    pa_json_raw(j, buf, (size_t)n);
    pa_json_key(j, "percent");
    if (base)
        pa_json_f64(j, ((double)value - (double)base) * 100.0 / (double)base);
    else
        pa_json_null(j);
    pa_json_object_end(j);
}

static void totals_json(pa_json_t *j, const diff_t *d, bool has_base)
{
    pa_json_key(j, "totals");
    pa_json_object_begin(j, false);
    for (int m = 0; m < PA_M_COUNT; m++) {
        pa_json_key(j, pa_metrics[m].name);
        change_json(j, d->tot[BASE][m], d->tot[NEW][m], has_base);
    }
    pa_json_object_end(j);
}

static void diff_json(pa_json_t *j, diff_t *d, dsite_t **v)
{
    size_t counts[3] = {0, 0, 0}; /* both, base only, new only */
    for (size_t i = 0; i < d->nsites; i++)
        counts[v[i]->in[BASE] && v[i]->in[NEW] ? 0 : v[i]->in[BASE] ? 1 : 2]++;
    pa_json_key(j, "base");
    traces_json(j, d, BASE);
    pa_json_key(j, "new");
    traces_json(j, d, NEW);
    pa_json_key(j, "site_counts");
    pa_json_object_begin(j, true);
    pa_json_kv_u64(j, "both", counts[0]);
    pa_json_kv_u64(j, "base_only", counts[1]);
    pa_json_kv_u64(j, "new_only", counts[2]);
    pa_json_object_end(j);
    totals_json(j, d, true);
    /* the sites with a change, in key order (stable for tools; text sorts by change) */
    key_order(d, v);
    pa_json_key(j, "sites");
    pa_json_array_begin(j, false);
    for (size_t i = 0; i < d->nsites; i++) {
        const dsite_t *s = v[i];
        if (!memcmp(s->base, cfigs(d, s, NEW), sizeof s->base))
            continue;
        pa_json_object_begin(j, false);
        pa_json_key(j, "status");
        pa_json_string(j, s->in[BASE] && s->in[NEW] ? "both"
                          : s->in[BASE]             ? "base_only"
                                                    : "new_only");
        char where[512];
        size_t n;
        const pa_frame_t *f = site_frames(d, s, &n);
        pa_json_key(j, "where");
        pa_json_string(j, pa_budget_where(f, n, where, sizeof where));
        pa_json_key(j, "metrics");
        pa_json_object_begin(j, false);
        for (int m = 0; m < PA_M_COUNT; m++) {
            if (!s->base[m] && !cfigs(d, s, NEW)[m])
                continue;
            pa_json_key(j, pa_metrics[m].name);
            change_json(j, s->base[m], cfigs(d, s, NEW)[m], true);
        }
        pa_json_object_end(j);
        pa_report_stack_json(j, site_note(d, s), f, n);
        pa_json_object_end(j);
    }
    pa_json_array_end(j);
}

static void check_text(FILE *out, const diff_t *d)
{
    fprintf(out, "perfshim check: %zu %s\n", d->paths[NEW].n,
            d->paths[NEW].n == 1 ? "trace" : "traces");
    traces_text(out, d, NEW, "traces:");
    fputs("\nTotals\n", out);
    for (int m = 0; m < PA_M_COUNT; m++) {
        char b[48];
        char e[56];
        snprintf(e, sizeof e, "%s%s", d->sampled[NEW] && heap_metric(m) ? "~" : "",
                 pa_metric_format((pa_metric_t)m, d->tot[NEW][m], b, sizeof b));
        fprintf(out, "  %-18s %15s\n", pa_metrics[m].title, e);
    }
}

/* ---- command line ---------------------------------------------------------------------------- */

enum {
    OPT_JSON = 256,
    OPT_TOP,
    OPT_FAIL_ON,
    OPT_BUDGET,
    OPT_JUNIT,
    OPT_SUPP,
    OPT_NO_DEFAULT_SUPP,
    OPT_ALL_FRAMES,
};

static const struct option options[] = {
    {"json", no_argument, NULL, OPT_JSON},
    {"top", required_argument, NULL, OPT_TOP},
    {"fail-on", required_argument, NULL, OPT_FAIL_ON},
    {"budget", required_argument, NULL, OPT_BUDGET},
    {"junit", required_argument, NULL, OPT_JUNIT},
    {"suppressions", required_argument, NULL, OPT_SUPP},
    {"no-default-suppressions", no_argument, NULL, OPT_NO_DEFAULT_SUPP},
    {"all-frames", no_argument, NULL, OPT_ALL_FRAMES},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

typedef struct {
    bool check; /* perfshim check */
    bool json, all_frames, no_default_supp, help;
    uint64_t top;
    const char *junit;
    pa_budget_t budget;
    pa_strlist_t supp_files;
    pa_strlist_t sides[2]; /* trace files; check: NEW only */
} diff_opts_t;

static void opts_free(diff_opts_t *o)
{
    pa_budget_free(&o->budget);
    pa_strlist_free(&o->supp_files);
    pa_strlist_free(&o->sides[BASE]);
    pa_strlist_free(&o->sides[NEW]);
}

static int parse(int argc, char **argv, diff_opts_t *o)
{
    const char *cmd = argv[0];
    opterr = 0;
    optind = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
        const char *opt = argv[optind - 1];
        int rc = PA_OK;
        switch (c) {
        case 'h':
            o->help = true;
            break;
        case OPT_JSON:
            o->json = true;
            break;
        case OPT_ALL_FRAMES:
            o->all_frames = true;
            break;
        case OPT_TOP:
            if (o->check) {
                pa_msg_error("check: unknown option '--top'; see 'perfshim help check'");
                return -1;
            }
            if (pa_util_parse_u64(optarg, 0, UINT32_MAX, &o->top) != 0) {
                pa_msg_error("%s: invalid --top '%s': expected a whole number (0 for all)", cmd,
                             optarg);
                return -1;
            }
            break;
        case OPT_FAIL_ON:
            rc = pa_budget_parse_list(&o->budget, optarg, "--fail-on");
            break;
        case OPT_BUDGET:
            rc = pa_budget_load_file(&o->budget, optarg);
            break;
        case OPT_JUNIT:
            o->junit = optarg;
            break;
        case OPT_SUPP:
            rc = pa_strlist_add(&o->supp_files, optarg);
            break;
        case OPT_NO_DEFAULT_SUPP:
            o->no_default_supp = true;
            break;
        case ':':
            pa_msg_error("%s: option '%s' needs an argument", cmd, opt);
            return -1;
        default:
            pa_msg_error("%s: unknown option '%s'; see 'perfshim help %s'", cmd, opt, cmd);
            return -1;
        }
        if (rc != PA_OK)
            return -1;
    }
    return optind;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Adds operand p to list l: a file as it is, a directory as its *.trace files in name order
 * (each the latest piece of its trace when it was written in pieces). */
static int add_operand(pa_strlist_t *l, const char *cmd, const char *p)
{
    struct stat st;
    if (stat(p, &st) != 0 || !S_ISDIR(st.st_mode))
        return pa_strlist_add(l, p); /* the loader says why it cannot be read */
    DIR *dir = opendir(p);
    if (!dir) {
        pa_msg_error("%s: %s: %s", cmd, p, strerror(errno));
        return PA_EIO;
    }
    pa_strlist_t names = {0};
    int rc = PA_OK;
    struct dirent *e;
    while (rc == PA_OK && (e = readdir(dir))) {
        size_t n = strlen(e->d_name);
        if (n > 6 && strcmp(e->d_name + n - 6, ".trace") == 0)
            rc = pa_strlist_addf(&names, "%s/%s", p, e->d_name);
    }
    closedir(dir);
    if (rc == PA_OK && !names.n) {
        pa_msg_error("%s: no *.trace file in the directory %s", cmd, p);
        rc = PA_EIO;
    }
    if (names.n)
        qsort(names.items, names.n, sizeof *names.items, cmp_str);
    /* a trace written in pieces (PERFSHIM_MAX_TRACE) is NAME.trace, its first moments, and
     * NAME.trace.partK: its latest piece holds the process's state at exit (pieces.h) */
    char later[PATH_MAX + 64];
    for (size_t i = 0; rc == PA_OK && i < names.n; i++)
        rc = pa_strlist_add(
            l, pa_pieces_later(names.items[i], later, sizeof later) ? later : names.items[i]);
    pa_strlist_free(&names);
    return rc;
}

/* Splits the operands: diff takes BASE NEW, or BASE... -- NEW...; check takes TRACE.... The
 * '--' is found before getopt runs (its permutation would move the operands around it). */
static int operands(int argc, char **argv, diff_opts_t *o)
{
    const char *cmd = argv[0];
    int dashes = -1;
    for (int i = 1; i < argc && !o->check; i++)
        if (strcmp(argv[i], "--") == 0) {
            dashes = i;
            break;
        }
    int first = parse(dashes >= 0 ? dashes : argc, argv, o);
    if (first < 0)
        return PA_EUSAGE;
    if (o->help)
        return PA_OK;
    int end = dashes >= 0 ? dashes : argc;
    int rc = PA_OK;
    if (o->check) {
        if (first >= argc) {
            pa_msg_error("check: no trace file given; see 'perfshim help check'");
            return PA_EUSAGE;
        }
        for (int i = first; rc == PA_OK && i < argc; i++)
            rc = add_operand(&o->sides[NEW], cmd, argv[i]);
    } else if (dashes >= 0) {
        for (int i = first; rc == PA_OK && i < end; i++)
            rc = add_operand(&o->sides[BASE], cmd, argv[i]);
        for (int i = dashes + 1; rc == PA_OK && i < argc; i++)
            rc = add_operand(&o->sides[NEW], cmd, argv[i]);
        if (rc == PA_OK && (first >= end || dashes + 1 >= argc)) {
            pa_msg_error("diff: expected BASE... -- NEW... with traces on both sides; see "
                         "'perfshim help diff'");
            return PA_EUSAGE;
        }
    } else {
        if (end - first != 2) {
            pa_msg_error("diff: expected two operands, BASE and NEW (or BASE... -- NEW...); "
                         "see 'perfshim help diff'");
            return PA_EUSAGE;
        }
        rc = add_operand(&o->sides[BASE], cmd, argv[first]);
        if (rc == PA_OK)
            rc = add_operand(&o->sides[NEW], cmd, argv[first + 1]);
    }
    if (rc == PA_OK && o->check && !o->budget.n) {
        pa_msg_error("check: no budget given: use --fail-on RULES or --budget FILE; see "
                     "'perfshim help check'");
        return PA_EUSAGE;
    }
    return rc;
}

static int run(int argc, char **argv, bool check)
{
    diff_opts_t o = {.check = check, .top = PA_DIFF_DEFAULT_TOP};
    pa_suppress_t supp = {0};
    diff_t d = {0};
    dsite_t **v = NULL;
    int status = PA_EXIT_USAGE;
    if (operands(argc, argv, &o) != PA_OK)
        goto out;
    if (o.help) {
        fputs(check ? pa_check_help : pa_diff_help, stdout);
        status = PA_EXIT_OK;
        goto out;
    }
    if (pa_suppress_load_all(&supp, !o.no_default_supp, &o.supp_files) != PA_OK)
        goto out;
    pa_symbols_share(true); /* a suite's traces: each module opened once */
    int rc = PA_OK;
    for (int side = check ? NEW : BASE; side <= NEW && rc == PA_OK; side++)
        rc = load_side(&d, side, &o.sides[side], &supp, false);
    if (rc == PA_OK && !d.split) /* (made when NEW's first trace was added) */
        rc = dsites_make(&d);
    /* every key ranked unless the text shows only a few sites per metric (then ties are few:
     * pa_util_sort_top keeps a heap of them when they are under a quarter of the sites) */
    bool all = o.json || o.budget.n || !o.top || o.top * 4 >= d.nsites;
    if (rc == PA_OK && !(v = site_array(&d, all))) {
        pa_msg_error("%s: out of memory", argv[0]);
        rc = PA_ENOMEM;
    }
    if (rc != PA_OK) {
        pa_symbols_share(false);
        goto out; /* an unreadable trace: the gate cannot say anything */
    }
    if (check)
        pa_budget_skip_relative(&o.budget);
    check_budgets(&o.budget, &d, v, !check);
    if (o.json) {
        pa_json_t j;
        pa_json_init(&j, stdout);
        pa_json_object_begin(&j, false);
        pa_json_key(&j, "format");
        pa_json_string(&j, check ? "perfshim-check" : "perfshim-diff");
        pa_json_kv_u64(&j, "version", 1);
        if (check) {
            traces_members(&j, &d, NEW);
            totals_json(&j, &d, false);
        } else {
            diff_json(&j, &d, v);
        }
        if (o.budget.n)
            pa_budget_json(&j, &o.budget);
        pa_json_object_end(&j);
        pa_json_finish(&j);
        for (size_t i = 0; i < o.budget.n; i++) /* the reasons, also where people look */
            for (size_t k = 0; k < o.budget.rules[i].failures.n; k++)
                pa_msg_error("%s", o.budget.rules[i].failures.items[k]);
    } else {
        if (check)
            check_text(stdout, &d);
        else
            diff_text(stdout, &d, v, o.top, o.all_frames);
        if (o.budget.n)
            pa_budget_text(stdout, &o.budget);
    }
    pa_symbols_share(false);
    status = pa_budget_broken(&o.budget) ? PA_EXIT_FINDINGS : PA_EXIT_OK;
    if (o.junit &&
        pa_budget_junit(&o.budget, check ? "perfshim check" : "perfshim diff", o.junit) != PA_OK)
        status = PA_EXIT_USAGE;
out:
    free(v);
    diff_free(&d);
    pa_suppress_free(&supp);
    opts_free(&o);
    return status;
}

int pa_diff_main(int argc, char **argv)
{
    return run(argc, argv, false);
}

int pa_check_main(int argc, char **argv)
{
    return run(argc, argv, true);
}
