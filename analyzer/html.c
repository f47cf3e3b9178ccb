/* SPDX-License-Identifier: MIT */
/*
 * html.c — `perfshim report --html OUT.html [--at TIME] TRACE...`: one self-contained HTML page.
 *
 * The page (analyzer/html/report.html with report.js and the vendored uPlot inlined, embedded
 * at build time as html_page.c) has one <script type="application/json"> element that this
 * file fills with the data, as one compact JSON object (docs/analyzer.md, "report --html"):
 *   "program", "traces", "duration_ns", "sample_mean", "cpu_hz", "has" {heap, locks, cpu};
 *   "metrics": the eight metric names of export.h, in their order;
 *   "names": every distinct frame name; "locs": every distinct place, "file:line" ("" first);
 *   "frames": (name index, place index) pairs, flattened (a frame: a distinct name and place);
 *   "nodes": the call tree of the sites' stacks, node k (from 1; 0 is the root) in order:
 *            its frame index when its parent is node k-1, else -(k - parent) then the frame
 *            index (most nodes are made right under the one made before them);
 *   "sites": per site, the node of its innermost frame, less the previous site's (the first:
 *            less 0; new sites make new nodes, so most differences are small);
 *   "values": per site its eight metrics, flattened (8 numbers a site);
 *   "timeline", "growth", "locks", "hot": the --json output of those reports, or null;
 *   "advice": the advice section's JSON (advice_section below), or null.
 * Each trace is loaded once for the sites and, at the last snapshot, the locks and hot sections
 * and the advice (pa_export_gather_with, loaded_t; pa_advise_trace), made before the trace's
 * sites are added; the advice, timeline and growth group its rows from one keying
 * (pa_report_keep_keys); timeline and growth read the files again for their second pass, and
 * the advice does with --at. Modules are opened once for the command (pa_symbols_share).
 * Sites are export.c's: the stacks of the traces merged by symbolized frames. Sharing names,
 * places and call paths keeps the page small: 100k stacks make 562k nodes, not 2M frame indices
 * (docs/performance.md, "The HTML report"). The page's tables are made first (page_make: the
 * call tree from export's frame tree, each export node given its page node once), then written
 * as numbers through one buffer, never held as text (docs/performance.md, "Session 14"). The
 * members after the sites' are made before the tables and written from their own texts, kept in
 * a temporary file (store_t), not copied (docs/performance.md, "Session 15: `report --html`
 * holds no copy of the page's last members").
 *
 * Inside the <script> element the text "</script" would end it: every '<' of the JSON (only in
 * strings, where JSON allows the escape) is written as \u003c.
 *
 * Must not: leave a partial page behind (the file is removed on error; to standard output,
 * nothing is written unless the tables and sections were made); read the network.
 */
#include "html.h"

#include "advise.h"
#include "export.h"
#include "growth.h"
#include "hot.h"
#include "json.h"
#include "locks.h"
#include "model.h"
#include "pieces.h"
#include "report.h"
#include "timeline.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The advice section (issue 13 item 2): `perfshim advise --json` for the traces (advise.c).
 * The page shows a JSON array of objects as a table (one column per
 * member; frames arrays as their innermost function), any other value as preformatted JSON. */
static const pa_html_section_fn advice_section = pa_advise_json_files;

const char pa_html_help[] =
    "Usage: perfshim report --html OUT.html [OPTIONS] TRACE...\n"
    "\n"
    "Write one self-contained HTML page (no network access, no external files) about the\n"
    "traces: flame graphs of the live heap (the leaks at exit), the allocations, the CPU samples\n"
    "and the lock wait, with zoom (click a frame) and search; the heap over time with the growth\n"
    "classes of its sites, when the trace has several snapshots; the lock and hot-path tables;\n"
    "the advice. Several traces are merged in the flame graphs (as export merges them) and\n"
    "listed one by one in the other sections.\n"
    "\n"
    "Options:\n"
    "      --html FILE          the page to write (required; '-' is standard output)\n"
    "      --at TIME|last|max   the snapshot of the flame graphs (see leaks --help; default:\n"
    "                           last)\n"
    "  -h, --help               show this help\n"
    "\n"
    "See docs/analyzer.md, \"report --html\".\n";

/* ---- frames, interned ------------------------------------------------------------------------ */

typedef struct {
    UT_hash_handle hh;
    uint32_t index;
    char key[]; /* the string itself */
} istr_t;

/* Index of s in *h, made when new; -1: no memory. uthash iterates in the order of insertion,
 * so the table is written in index order from the hash itself (put_strings). */
static long istr_get(istr_t **h, uint32_t *n, const char *s, size_t len)
{
    istr_t *e;
    HASH_FIND(hh, *h, s, len, e);
    if (e)
        return e->index;
    if (!(e = calloc(1, sizeof *e + len + 1)))
        return -1;
    memcpy(e->key, s, len);
    e->index = (*n)++;
    HASH_ADD(hh, *h, key[0], len, e);
    return e->index;
}

static void istr_free(istr_t **h)
{
    istr_t *e, *tmp;
    HASH_ITER(hh, *h, e, tmp)
    {
        HASH_DEL(*h, e);
        free(e);
    }
}

/* Pairs of 32-bit numbers numbered from 0 in the order they were made, found by a tagged index
 * (util.h): the call tree's nodes, (parent node, frame) (node k of the page is pair k - 1), and
 * the page's frames, (name, place). */
typedef struct {
    uint64_t *pairs; /* parent << 32 | frame */
    size_t n, cap;
    uint64_t *index; /* pair + 1 */
    size_t index_cap;
} tree_t;

/* The index of pair (parent, frame), made when new (then *added set); -1: no memory. */
static long tree_child(tree_t *t, long parent, long frame, bool *added)
{
    uint64_t key = (uint64_t)parent << 32 | (uint32_t)frame;
    uint64_t h = (key ^ key >> 31) * 0x9e3779b97f4a7c15u;
    h ^= h >> 29;
    *added = false;
    if (t->index_cap) {
        size_t mask = t->index_cap - 1, i = pa_tix_first(h, t->index_cap);
        for (uint64_t e; (e = t->index[i]); i = (i + 1) & mask)
            if (PA_TIX_TAG(e) == PA_TIX_TAG(h) && t->pairs[(uint32_t)e - 1] == key)
                return (long)(uint32_t)e - 1;
    }
    if (t->n >= UINT32_MAX - 1 || pa_tix_reserve(&t->index, &t->index_cap, t->n + 1) != PA_OK ||
        pa_util_grow((void **)&t->pairs, &t->cap, t->n + 1, sizeof *t->pairs) != PA_OK)
        return -1;
    t->pairs[t->n] = key;
    pa_tix_put(t->index, t->index_cap, h, (uint32_t)++t->n);
    *added = true;
    return (long)t->n - 1;
}

static void tree_free(tree_t *t)
{
    free(t->pairs);
    free(t->index);
}

/* The page's tables, made before any of it is written (nothing is written when memory runs
 * out): names, places, frames, the call tree, and each shown site's node. */
typedef struct {
    istr_t *names, *locs;
    uint32_t nnames, nlocs;
    tree_t frames;       /* (name, place) */
    tree_t tree;         /* (parent node, frame) */
    uint32_t *site_node; /* per site shown (one with some metric), its innermost frame's node */
    size_t nsites;
} page_t;

static void page_free(page_t *g)
{
    istr_free(&g->names);
    istr_free(&g->locs);
    tree_free(&g->frames);
    tree_free(&g->tree);
    free(g->site_node);
}

/* The page's frame of name s and place (file, line): its index, made when new; -1: no memory. */
static long frame_index(page_t *g, pa_str_t *key, const char *name, const char *file, uint32_t line)
{
    char num[16];
    bool added;
    long ni = istr_get(&g->names, &g->nnames, name, strlen(name));
    long li = 0;
    if (file) {
        key->len = 0;
        pa_str_puts(key, file);
        if (line) {
            snprintf(num, sizeof num, ":%u", line);
            pa_str_puts(key, num);
        }
        li = key->failed ? -1 : istr_get(&g->locs, &g->nlocs, key->s, key->len);
    }
    return ni >= 0 && li >= 0 ? tree_child(&g->frames, ni, li, &added) : -1;
}

/* The node (from 1) of page frame fi under node parent, made when new; -1: no memory. */
static long node_of(page_t *g, long parent, long fi)
{
    bool added;
    long c = fi >= 0 ? tree_child(&g->tree, parent, fi, &added) : -1;
    return c >= 0 ? c + 1 : -1;
}

static bool site_shown(const pa_xsite_t *s)
{
    for (int m = 0; m < PA_X_NMETRICS; m++)
        if (s->v[m])
            return true;
    return false;
}

/* The tables of p's sites. A site's frames are a chain of export's frame tree (export.h), whose
 * nodes the sites share: each export node is given its page node once (xnode), and a site walks
 * from its leaf out to the first node given one, then makes the page nodes of the rest from
 * the outside in, as a walk of its whole stack from the root would have made them (same
 * numbers: the outer nodes were made by an earlier site). Each export frame is made a page
 * frame once (memo). */
static int page_make(page_t *g, const pa_xprof_t *p)
{
    char buf[512];
    pa_str_t key = {0};
    uint32_t *memo = pa_export_memo(p); /* by export frame: its page frame, UINT32_MAX: not yet */
    uint32_t *xnode = calloc(p->nnodes ? p->nnodes : 1, sizeof *xnode); /* page node, 0: none */
    uint32_t *chain = NULL; /* a site's export nodes without a page node, innermost first */
    size_t chain_cap = 0;
    int rc = memo && xnode ? PA_OK : PA_ENOMEM;
    memset(g, 0, sizeof *g);
    if (rc == PA_OK && istr_get(&g->locs, &g->nlocs, "", 0) < 0) /* place 0: unknown */
        rc = PA_ENOMEM;
    if (rc == PA_OK && p->nsites && !(g->site_node = malloc(p->nsites * sizeof *g->site_node)))
        rc = PA_ENOMEM;
    /* about one page node an export node: the tree's index sized once, not doubled on the way */
    if (rc == PA_OK && pa_tix_reserve(&g->tree.index, &g->tree.index_cap, p->nnodes + 1) != PA_OK)
        rc = PA_ENOMEM;
    for (const pa_xsite_t *s = p->sites; s < p->sites + p->nsites && rc == PA_OK; s++) {
        if (!site_shown(s))
            continue;
        long node = 0; /* the root; nodes are numbered from 1 */
        bool whole = false;
        size_t k = 0;
        if (s->nframes) {
            if (pa_util_grow((void **)&chain, &chain_cap, s->nframes, sizeof *chain) != PA_OK) {
                rc = PA_ENOMEM;
                break;
            }
            uint32_t x = s->leaf;
            for (; k < s->nframes && !xnode[x]; k++, x = p->nodes[x].caller)
                chain[k] = x;
            if (k < s->nframes)
                node = xnode[x];
            else
                whole = x != 0; /* (a chain that goes on past the site: no node given) */
        } else {
            snprintf(buf, sizeof buf, "[%s]", s->note ? s->note : "no frames");
            long fi = frame_index(g, &key, buf, NULL, 0);
            node = node_of(g, 0, fi);
        }
        while (k-- > 0 && node >= 0) { /* root first */
            uint32_t x = p->nodes[chain[k]].frame;
            long fi = memo[x];
            if (fi == UINT32_MAX) {
                const pa_frame_t *f = &p->frames[x].f;
                fi = frame_index(g, &key, pa_export_frame_name(f, buf, sizeof buf), f->file,
                                 f->line);
                if (fi >= 0)
                    memo[x] = (uint32_t)fi;
            }
            node = node_of(g, node, fi);
            if (node > 0 && !whole)
                xnode[chain[k]] = (uint32_t)node;
        }
        if (node < 0) {
            rc = PA_ENOMEM;
            break;
        }
        g->site_node[g->nsites++] = (uint32_t)node;
    }
    if (key.failed)
        rc = PA_ENOMEM;
    free(chain);
    free(xnode);
    free(memo);
    pa_str_free(&key);
    return rc;
}

/* ---- writing --------------------------------------------------------------------------------- */

/* The page's writer: a buffer in front of the output. Every '<' of the data (only in strings,
 * where JSON allows the escape) is written as \u003c (put_lt; see the top of the file). */
typedef struct {
    FILE *out;
    size_t n;
    char b[1 << 16];
} obuf_t;

static void ob_flush(obuf_t *o)
{
    fwrite(o->b, 1, o->n, o->out);
    o->n = 0;
}

static void ob_put(obuf_t *o, const char *s, size_t n)
{
    if (o->n + n > sizeof o->b) {
        ob_flush(o);
        if (n > sizeof o->b) {
            fwrite(s, 1, n, o->out);
            return;
        }
    }
    memcpy(o->b + o->n, s, n);
    o->n += n;
}

static void ob_puts(obuf_t *o, const char *s)
{
    ob_put(o, s, strlen(s));
}

/* sep (when not NUL), then u in decimal, negative when neg. */
static void ob_u64(obuf_t *o, char sep, uint64_t u, bool neg)
{
    static const char two[] = "00010203040506070809101112131415161718192021222324252627282930313233"
                              "34353637383940414243444546474849505152535455565758596061626364656667"
                              "6869707172737475767778798081828384858687888990919293949596979899";
    char d[24], *e = d + sizeof d, *q = e;
    for (; u >= 100; u /= 100) /* two digits a division */
        memcpy(q -= 2, two + 2 * (u % 100), 2);
    if (u >= 10)
        memcpy(q -= 2, two + 2 * u, 2);
    else
        *--q = (char)('0' + u);
    if (neg)
        *--q = '-';
    if (sep)
        *--q = sep;
    if (o->n + (size_t)(e - q) > sizeof o->b)
        ob_flush(o);
    memcpy(o->b + o->n, q, (size_t)(e - q));
    o->n += (size_t)(e - q);
}

static void ob_num(obuf_t *o, char sep, long long v)
{
    ob_u64(o, sep, v < 0 ? 0 - (uint64_t)v : (uint64_t)v, v < 0);
}

/* s[0..n) with every '<' as \u003c. */
static void put_lt(obuf_t *o, const char *s, size_t n)
{
    const char *end = s + n;
    while (s < end) {
        const char *lt = memchr(s, '<', (size_t)(end - s));
        size_t k = lt ? (size_t)(lt - s) : (size_t)(end - s);
        ob_put(o, s, k);
        s += k;
        if (lt) {
            ob_puts(o, "\\u003c");
            s++;
        }
    }
}

/* The strings of h as JSON strings, comma-separated, in index order. */
static void put_strings(obuf_t *o, istr_t *h, pa_str_t *tmp)
{
    for (istr_t *e = h; e; e = e->hh.next) {
        tmp->len = 0;
        if (e != h)
            pa_str_puts(tmp, ",");
        pa_json_append_escaped(tmp, e->key, strlen(e->key));
        put_lt(o, tmp->s, tmp->len);
    }
}

/* The members "names" to "values" (docs at the top of the file). */
static int put_sites(obuf_t *o, const pa_xprof_t *p, const page_t *g)
{
    pa_str_t tmp = {0};
    ob_puts(o, "\"names\":[");
    put_strings(o, g->names, &tmp);
    ob_puts(o, "],\n\"locs\":[");
    put_strings(o, g->locs, &tmp);
    ob_puts(o, "],\n\"frames\":[");
    for (size_t i = 0; i < g->frames.n; i++) {
        ob_num(o, i ? ',' : 0, (long long)(g->frames.pairs[i] >> 32));
        ob_num(o, ',', (uint32_t)g->frames.pairs[i]);
    }
    ob_puts(o, "],\n\"nodes\":[");
    for (size_t c = 0; c < g->tree.n; c++) {
        long long parent = (long long)(g->tree.pairs[c] >> 32), fi = (uint32_t)g->tree.pairs[c];
        if (parent != (long long)c) /* not under the node made just before */
            ob_num(o, c ? ',' : 0, parent - (long long)c - 1);
        ob_num(o, c || parent != (long long)c ? ',' : 0, fi);
    }
    ob_puts(o, "],\n\"sites\":[");
    for (size_t i = 0; i < g->nsites; i++)
        ob_num(o, i ? ',' : 0, (long long)g->site_node[i] - (i ? g->site_node[i - 1] : 0));
    ob_puts(o, "],\n\"values\":[");
    size_t shown = 0;
    for (const pa_xsite_t *s = p->sites; s < p->sites + p->nsites; s++) {
        if (!site_shown(s))
            continue;
        for (int m = 0; m < PA_X_NMETRICS; m++)
            ob_u64(o, shown || m ? ',' : 0, s->v[m], false);
        shown++;
    }
    ob_puts(o, "],\n");
    int rc = tmp.failed ? PA_ENOMEM : PA_OK;
    pa_str_free(&tmp);
    return rc;
}

/* ---- the other reports' sections ---------------------------------------------------------------
 */

enum { SEC_TIMELINE, SEC_GROWTH, SEC_LOCKS, SEC_HOT };

static const pa_locks_opts_t locks_opts = {
    .json = true, .top = PA_LOCKS_DEFAULT_TOP, .sites = PA_LOCKS_DEFAULT_SITES, .quiet = true};
static const pa_hot_opts_t hot_opts = {.json = true, .top = PA_HOT_DEFAULT_TOP, .quiet = true};
static const pa_timeline_opts_t timeline_opts = {
    .json = true, .top = PA_TIMELINE_DEFAULT_TOP, .quiet = true};
static const pa_growth_opts_t growth_opts = {
    .json = true, .top = PA_GROWTH_DEFAULT_TOP, .quiet = true};

static int section(int which, char *const *paths, size_t n, FILE *out)
{
    bool arr = n > 1;
    switch (which) {
    case SEC_TIMELINE:
        return pa_timeline_files(paths, n, &timeline_opts, arr, out);
    case SEC_GROWTH:
        return pa_growth_files(paths, n, &growth_opts, arr, out);
    case SEC_LOCKS:
        return pa_locks_files(paths, n, &locks_opts, arr, out);
    default:
        return pa_hot_files(paths, n, &hot_opts, arr, out);
    }
}

/* A member's JSON text, kept until the page is written: in an unlinked temporary file
 * (in $TMPDIR, else /tmp) so that it is not held in memory with the page's tables
 * (the advice alone is 8.8 MB on a big compile's trace, the timeline 4 MB on a busy
 * program's), or in memory (open_memstream) when no temporary file can be made. */
typedef struct {
    FILE *f;
    bool file;  /* f is the temporary file (else a memstream, closed by store_close) */
    char *text; /* the memstream's text */
    size_t len; /* the text's length, once closed */
} store_t;

static FILE *store_open(store_t *s)
{
    memset(s, 0, sizeof *s);
    const char *dir = getenv("TMPDIR");
    char path[4096];
    int fd = -1;
    if (snprintf(path, sizeof path, "%s/perfshim-html-XXXXXX", dir && *dir ? dir : "/tmp") <
        (int)sizeof path)
        fd = mkostemp(path, O_CLOEXEC);
    if (fd >= 0) {
        unlink(path); /* (nothing left behind, whatever happens next) */
        if ((s->f = fdopen(fd, "w+"))) {
            s->file = true;
            return s->f;
        }
        close(fd);
    }
    return s->f = open_memstream(&s->text, &s->len);
}

/* Ends the writing of s; PA_ENOMEM when its text could not be kept. */
static int store_close(store_t *s)
{
    if (!s->f)
        return PA_ENOMEM;
    if (!s->file) {
        int rc = fclose(s->f) == 0 ? PA_OK : PA_ENOMEM;
        s->f = NULL;
        return rc;
    }
    off_t end = fflush(s->f) == 0 && !ferror(s->f) ? ftello(s->f) : -1;
    s->len = end >= 0 ? (size_t)end : 0;
    return end >= 0 ? PA_OK : PA_ENOMEM;
}

static void store_free(store_t *s)
{
    if (s->f)
        fclose(s->f);
    free(s->text);
    memset(s, 0, sizeof *s);
}

/* The byte at i of a closed store, -1 when it cannot be read. */
static int store_at(store_t *s, size_t i)
{
    if (!s->file)
        return (unsigned char)s->text[i];
    return fseeko(s->f, (off_t)i, SEEK_SET) == 0 ? getc(s->f) : -1;
}

/* The first len bytes of a closed store, with every '<' as \u003c; PA_EIO when they cannot be
 * read back. */
static int store_put(obuf_t *o, store_t *s, size_t len)
{
    if (!s->file) {
        put_lt(o, s->text, len);
        return PA_OK;
    }
    char b[1 << 16];
    bool ok = fseeko(s->f, 0, SEEK_SET) == 0;
    while (ok && len) {
        size_t k = fread(b, 1, len < sizeof b ? len : sizeof b, s->f);
        if (!(ok = k > 0))
            break;
        put_lt(o, b, k);
        len -= k;
    }
    if (!ok)
        pa_msg_error("report: a temporary file could not be read back");
    return ok ? PA_OK : PA_EIO;
}

/* The sections made from the traces as the gathering loads them (the flame graphs' load is
 * theirs too), when the page's snapshot is the last one, the one those reports describe: the
 * text their --json writers make, as pa_report_each_file() frames it (an array for several
 * traces), and the advice. Timeline and growth take their first pass from that load
 * (pa_*_trace_loaded) and read the file again for their second. */
typedef struct {
    bool on;  /* the sections were made while gathering */
    bool arr; /* several traces: an array */
    char *const *paths;
    size_t next;             /* the trace being gathered */
    pa_advise_run_t *advise; /* the advice, judged from the same loads */
    int advise_rc;           /* its first error: no trace judged after it (as advise does) */
    struct {
        FILE *mem; /* st's, while the traces are gathered */
        store_t st;
        pa_json_t j;
        bool first; /* no trace written yet */
        int rc;     /* the first error of a trace's report */
    } sec[4];       /* by SEC_* */
} loaded_t;

static int loaded_begin(loaded_t *l, char *const *paths, size_t n)
{
    memset(l, 0, sizeof *l);
    l->on = true;
    l->arr = n > 1;
    l->paths = paths;
    if (pa_advise_begin(n, &l->advise) != PA_OK)
        return PA_ENOMEM;
    for (int k = 0; k < 4; k++) {
        l->sec[k].first = true;
        if (!(l->sec[k].mem = store_open(&l->sec[k].st)))
            return PA_ENOMEM;
        pa_json_init(&l->sec[k].j, l->sec[k].mem);
        if (l->arr)
            pa_json_array_begin(&l->sec[k].j, false);
    }
    return PA_OK;
}

/* The sections of one trace, loaded and gathered (pa_export_trace_fn). */
static int loaded_trace(pa_trace_t *t, size_t nwarn, void *ctx)
{
    loaded_t *l = ctx;
    size_t i = l->next++;
    static const int order[] = {SEC_LOCKS, SEC_HOT, -1, SEC_TIMELINE, SEC_GROWTH}; /* -1: advice */
    /* the rows symbolized and keyed once for the advice, timeline and growth (report.c), as
     * export --format json does for its reports: each grouped the snapshot anew (580M
     * instructions a time on a compile's trace) */
    pa_report_keep_keys(true);
    for (size_t o = 0; o < sizeof order / sizeof *order; o++) {
        int k = order[o], rc;
        pa_export_warnings_keep(t, nwarn); /* as the report's own load would have them */
        if (k < 0) {
            if (l->advise_rc == PA_OK) /* (an error said) */
                l->advise_rc = pa_advise_trace(l->advise, l->paths[i], i, t);
            continue;
        }
        FILE *mem = l->sec[k].mem;
        pa_json_t *j = &l->sec[k].j;
        if (k == SEC_LOCKS)
            rc = pa_locks_report(t, &locks_opts, mem, j);
        else if (k == SEC_HOT)
            rc = pa_hot_report(t, &hot_opts, mem, j);
        else if (k == SEC_TIMELINE)
            rc = pa_timeline_trace_loaded(t, l->paths[i], &timeline_opts, mem, j);
        else
            rc = pa_growth_trace_loaded(t, l->paths[i], &growth_opts, mem, j);
        if (rc == PA_ENOMEM)
            pa_msg_error("%s: out of memory while writing the report", t->path);
        if (rc != PA_OK && l->sec[k].rc == PA_OK)
            l->sec[k].rc = rc;
        l->sec[k].first = false;
    }
    pa_report_keep_keys(false);
    return PA_OK;
}

/* Closes the sections' texts; PA_ENOMEM when one could not be kept. */
static int loaded_end(loaded_t *l)
{
    int rc = PA_OK;
    for (int k = 0; k < 4; k++) {
        if (!l->sec[k].mem)
            continue;
        if (l->arr)
            pa_json_array_end(&l->sec[k].j);
        if (l->arr || !l->sec[k].first)
            pa_json_finish(&l->sec[k].j);
        if (store_close(&l->sec[k].st) != PA_OK)
            rc = PA_ENOMEM;
        l->sec[k].mem = NULL;
    }
    return rc;
}

static void loaded_free(loaded_t *l)
{
    loaded_end(l);
    pa_advise_free(l->advise);
    l->advise = NULL;
    for (int k = 0; k < 4; k++)
        store_free(&l->sec[k].st);
}

/* One member of the data after the sites' (a section or the advice): its JSON text, made before
 * the page's tables (nothing is written when one cannot be made), and its writer's status. The
 * loaded sections' texts are the gathering's own (not copied); the page is written from them. */
typedef struct {
    store_t *st; /* the text: own, or the gathering's section's */
    store_t own;
    int rc;
} member_t;

/* m's JSON, made by the writer fn or section(which) reading the files, or, when fn is NULL,
 * the writer of the advice from the gathering's judgement (pa_advise_end, as
 * pa_advise_json_files writes it); PA_ENOMEM when its text could not be kept. */
static int member_make(member_t *m, int which, pa_html_section_fn fn, char *const *paths, size_t n,
                       loaded_t *l)
{
    memset(m, 0, sizeof *m);
    m->st = &m->own;
    FILE *mem = store_open(&m->own);
    if (!mem)
        return PA_ENOMEM;
    if (fn) {
        m->rc = fn(paths, n, mem);
    } else if (which >= 0) {
        m->rc = section(which, paths, n, mem);
    } else {
        size_t nadvice;
        pa_advise_opts_t o = {.json = true, .quiet = true};
        m->rc = l->advise_rc;
        if (m->rc == PA_OK) {
            m->rc = pa_advise_end(l->advise, paths, n, &o, mem, &nadvice);
        } else {
            if (m->rc == PA_ENOMEM)
                pa_msg_error("advise: out of memory");
            pa_advise_free(l->advise);
        }
        l->advise = NULL; /* (freed) */
    }
    if (store_close(&m->own) != PA_OK)
        return PA_ENOMEM;
    return m->rc == PA_ENOMEM ? PA_ENOMEM : PA_OK;
}

static void member_free(member_t *m)
{
    store_free(&m->own);
    memset(m, 0, sizeof *m);
}

/* ---- the data and the page ------------------------------------------------------------------- */

enum { MEMBERS = 5 }; /* the sections by SEC_*, then the advice */

/* The members after the sites', in the page's order: the sections (the loaded ones' texts as
 * the gathering made them) and the advice (judged while gathering, or by advice_section
 * reading the files). Stops at the first that cannot be kept (PA_ENOMEM). */
static int members_make(member_t *m, char *const *paths, size_t n, loaded_t *l)
{
    int rc = PA_OK;
    memset(m, 0, MEMBERS * sizeof *m);
    for (int s = SEC_TIMELINE; rc == PA_OK && s <= SEC_HOT; s++) {
        if (l->on) {
            m[s] = (member_t){.st = &l->sec[s].st, .rc = l->sec[s].rc};
            rc = m[s].rc == PA_ENOMEM ? PA_ENOMEM : PA_OK;
        } else {
            rc = member_make(&m[s], s, NULL, paths, n, l);
        }
    }
    if (rc == PA_OK)
        rc = member_make(&m[MEMBERS - 1], -1, l->on ? NULL : advice_section, paths, n, l);
    return rc;
}

/* Several traces, or one merge -o trace: "run" {"title", "processes", "root_pid"}, the page's
 * title. The root is the one trace whose parent is none of the traces' processes (make, a
 * server's master): the title is its program and how many processes; without one root, how
 * many processes. */
static void write_run(FILE *out, const pa_xprof_t *p)
{
    size_t root = SIZE_MAX, nroots = 0;
    for (size_t i = 0; i < p->ntraces; i++) {
        bool child = false;
        for (size_t k = 0; !child && k < p->ntraces; k++)
            child = k != i && p->pids[i] && p->ppids[i] == p->pids[k];
        if (!child && p->pids[i]) { /* (pid 0: a merged trace, no one process) */
            root = i;
            nroots++;
        }
    }
    char n[64];
    snprintf(n, sizeof n, "%llu processes", (unsigned long long)p->processes);
    const char *prog = nroots == 1 ? p->programs.items[root] : "";
    fputs(",\n\"run\":{\"title\":", out);
    if (*prog) {
        char *title = NULL;
        size_t len = 0;
        FILE *mem = open_memstream(&title, &len);
        if (mem) {
            fprintf(mem, "%s (%s)", prog, n);
            if (fclose(mem) != 0)
                len = 0;
        }
        pa_json_write_escaped(out, title && len ? title : n, title && len ? len : strlen(n));
        free(title);
    } else {
        pa_json_write_escaped(out, n, strlen(n));
    }
    fprintf(out, ",\"processes\":%llu,\"root_pid\":", (unsigned long long)p->processes);
    if (nroots == 1)
        fprintf(out, "%llu}", (unsigned long long)p->pids[root]);
    else
        fputs("null}", out);
}

/* The data's members before the sites': "version" to "metrics". */
static void write_head(FILE *out, const pa_xprof_t *p)
{
    fputs("{\"version\":1,\n\"program\":", out);
    pa_json_write_escaped(out, p->program ? p->program : "", p->program ? strlen(p->program) : 0);
    /* one merge -o trace too: titled by its processes, not by the first input's program,
     * which its PROCESS record holds */
    if (p->ntraces > 1 || p->processes > 1)
        write_run(out, p);
    fputs(",\n\"traces\":[", out);
    for (size_t i = 0; i < p->paths.n; i++) {
        if (i)
            fputc(',', out);
        pa_json_write_escaped(out, p->paths.items[i], strlen(p->paths.items[i]));
    }
    fprintf(out,
            "],\n\"duration_ns\":%llu,\"sample_mean\":%llu,\"cpu_hz\":%llu,\n"
            "\"has\":{\"heap\":%s,\"locks\":%s,\"cpu\":%s},\n\"metrics\":[",
            (unsigned long long)p->duration_ns, (unsigned long long)p->sample_mean,
            (unsigned long long)p->cpu_hz, p->has[PA_X_HEAP] ? "true" : "false",
            p->has[PA_X_LOCKS] ? "true" : "false", p->has[PA_X_CPUPROF] ? "true" : "false");
    for (int m = 0; m < PA_X_NMETRICS; m++)
        fprintf(out, "%s\"%s\"", m ? "," : "", pa_xmetrics[m].name);
    fputs("],\n", out);
}

/* One member "name": its JSON text (trailing blanks left out), or null when its writer failed
 * or wrote nothing. */
static int put_member(obuf_t *o, const char *name, const member_t *m)
{
    store_t *st = m->st;
    size_t len = st ? st->len : 0;
    int c;
    while (len && ((c = store_at(st, len - 1)) == '\n' || c == ' '))
        len--;
    ob_puts(o, "\"");
    ob_puts(o, name);
    ob_puts(o, "\":");
    if (m->rc == PA_OK && len)
        return store_put(o, st, len);
    ob_puts(o, "null");
    return PA_OK;
}

/* The page: its tables and the members after the sites' made first, in memory (nothing written
 * when one cannot be made), then the page written out through one buffer: the sites' tables
 * straight from the tables and the members straight from their texts (never copied into one
 * text of the rest of the page: 2 x 17 MB on a big compile's trace). The members are made
 * before the tables, so that the advice's judgement is freed before them. */
static int write_page(FILE *out, const pa_xprof_t *p, char *const *paths, size_t n, loaded_t *l)
{
    static const char *const names[MEMBERS] = {"timeline", "growth", "locks", "hot", "advice"};
    char *head = NULL;
    size_t head_len = 0;
    member_t m[MEMBERS];
    page_t g;
    int rc = members_make(m, paths, n, l);
    if (rc == PA_OK)
        rc = page_make(&g, p);
    else
        memset(&g, 0, sizeof g);
    FILE *mem = rc == PA_OK ? open_memstream(&head, &head_len) : NULL;
    if (mem) {
        write_head(mem, p);
        if (fclose(mem) != 0)
            rc = PA_ENOMEM;
    } else if (rc == PA_OK) {
        rc = PA_ENOMEM;
    }
    obuf_t *o = rc == PA_OK ? malloc(sizeof *o) : NULL;
    if (o) {
        o->out = out;
        o->n = 0;
        ob_put(o, (const char *)pa_html_page_head, pa_html_page_head_len);
        put_lt(o, head, head_len);
        rc = put_sites(o, p, &g);
        for (int k = 0; k < MEMBERS; k++) {
            int mrc = put_member(o, names[k], &m[k]);
            if (mrc != PA_OK && rc == PA_OK)
                rc = mrc;
            ob_puts(o, k < MEMBERS - 1 ? ",\n" : "}\n");
        }
        ob_put(o, (const char *)pa_html_page_tail, pa_html_page_tail_len);
        ob_flush(o);
        free(o);
    } else if (rc == PA_OK) {
        rc = PA_ENOMEM;
    }
    page_free(&g);
    for (int k = 0; k < MEMBERS; k++)
        member_free(&m[k]);
    free(head);
    return rc;
}

/* ---- the command ------------------------------------------------------------------------------
 */

enum { OPT_HTML = 256, OPT_AT };

int pa_html_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"html", required_argument, NULL, OPT_HTML},
        {"at", required_argument, NULL, OPT_AT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *path = NULL;
    pa_at_t at = {0};
    opterr = 0;
    optind = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'h':
            fputs(pa_html_help, stdout);
            return PA_EXIT_OK;
        case OPT_HTML:
            path = optarg;
            break;
        case OPT_AT:
            if (pa_model_parse_at(optarg, &at) != PA_OK) {
                pa_msg_error("report: invalid --at '%s': expected a time since start (12.5, "
                             "12.5s, 500ms, 10m, 2h, 1d), 'last' or 'max'",
                             optarg);
                return PA_EXIT_USAGE;
            }
            break;
        case ':':
            pa_msg_error("report: option '%s' needs an argument", argv[optind - 1]);
            return PA_EXIT_USAGE;
        default:
            pa_msg_error("report: unknown option '%s'; see 'perfshim help report'",
                         argv[optind - 1]);
            return PA_EXIT_USAGE;
        }
    }
    if (!path || !*path) {
        pa_msg_error("report: --html FILE is required (the only format); see 'perfshim help "
                     "report'");
        return PA_EXIT_USAGE;
    }
    if (optind >= argc) {
        pa_msg_error("report: no trace file given; see 'perfshim help report'");
        return PA_EXIT_USAGE;
    }
    /* the pieces of one process's trace (PERFSHIM_MAX_TRACE) each hold its whole state: only
     * the latest is shown, as export, --merge and merge -o take them (pieces.h) */
    pa_strlist_t latest = {0};
    int prc = pa_pieces_inputs(argv + optind, (size_t)(argc - optind), &latest);
    if (prc != PA_OK) {
        pa_msg_error("report: out of memory");
        pa_strlist_free(&latest);
        return PA_EXIT_USAGE;
    }
    char *const *paths = latest.items;
    size_t n = latest.n;
    pa_xprof_t p;
    loaded_t l = {0};
    /* every module opened once for the command, not once per symbolizer: the gathering's
     * sections (grouping, advice), the sites and the sections read again (report --html on a
     * compile's trace: three expansions of cc1plus's symbols, 195M instructions each) */
    pa_symbols_share(true);
    int rc = at.kind == PA_AT_LAST ? loaded_begin(&l, paths, n) : PA_OK;
    bool unread = false; /* a trace could not be read (said), or no memory to read it */
    if (rc == PA_OK) {
        rc = pa_export_gather_with(paths, n, &at, &p, l.on ? loaded_trace : NULL, &l);
        unread = rc != PA_OK;
    } else {
        memset(&p, 0, sizeof p);
    }
    if (rc == PA_OK)
        rc = loaded_end(&l);
    if (rc != PA_OK) {
        pa_msg_error(unread ? "report: nothing written: a trace could not be read"
                            : "report: out of memory");
        pa_export_free(&p);
        loaded_free(&l);
        pa_symbols_share(false);
        pa_strlist_free(&latest);
        return PA_EXIT_USAGE;
    }
    bool to_stdout = strcmp(path, "-") == 0;
    FILE *out = to_stdout ? stdout : fopen(path, "w");
    if (!out) {
        pa_msg_error("report: cannot write %s: %s", path, strerror(errno));
        pa_export_free(&p);
        loaded_free(&l);
        pa_symbols_share(false);
        pa_strlist_free(&latest);
        return PA_EXIT_USAGE;
    }
    rc = write_page(out, &p, paths, n, &l);
    if (rc == PA_ENOMEM)
        pa_msg_error("report: out of memory");
    int status = rc == PA_OK ? PA_EXIT_OK : PA_EXIT_USAGE;
    if (!to_stdout) {
        if ((ferror(out) | fclose(out)) != 0 && status == PA_EXIT_OK) {
            pa_msg_error("report: cannot write %s: %s", path, strerror(errno));
            status = PA_EXIT_USAGE;
        }
        struct stat st;
        if (status != PA_EXIT_OK && stat(path, &st) == 0 && S_ISREG(st.st_mode))
            remove(path);
    }
    pa_export_free(&p);
    loaded_free(&l);
    pa_symbols_share(false);
    pa_strlist_free(&latest);
    return status;
}
