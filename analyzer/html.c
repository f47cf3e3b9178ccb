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
 * and the advice (pa_export_gather_with, loaded_t; pa_advise_trace); timeline and growth read
 * the files themselves, and so does the advice with --at.
 * Sites are export.c's: the stacks of the traces merged by symbolized frames. Sharing names,
 * places and call paths keeps the page small: 100k stacks make 562k nodes, not 2M frame indices
 * (docs/performance.md, "The HTML report").
 *
 * Inside the <script> element the text "</script" would end it: every '<' of the JSON (only in
 * strings, where JSON allows the escape) is written as \u003c.
 *
 * Must not: leave a partial page behind (the file is removed on error); read the network.
 */
#include "html.h"

#include "advise.h"
#include "export.h"
#include "growth.h"
#include "hot.h"
#include "json.h"
#include "locks.h"
#include "model.h"
#include "timeline.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

/* Index of s in *h, written to the JSON array j (as an element) when new; -1: no memory. */
static long istr_get(istr_t **h, uint32_t *n, const char *s, size_t len, pa_str_t *list)
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
    if (list) {
        if (e->index)
            pa_str_puts(list, ",");
        pa_json_append_escaped(list, s, len);
    }
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

/* The index of key in *h, added when new (then *added set); -1: no memory. */
static long index_of(istr_t **h, uint32_t *n, const char *key, bool *added)
{
    uint32_t before = *n;
    long i = istr_get(h, n, key, strlen(key), NULL);
    *added = *n != before;
    return i;
}

/* The call tree's nodes: (parent node, frame index) pairs, numbered from 0 in the order they
 * were made (node k of the page is pair k - 1), found by a tagged index (util.h). */
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

/* The page's frame of name s and place (file, line): its index, made when new (names, places
 * and frames written to their lists); -1: no memory. */
static long frame_index(istr_t **names, uint32_t *nnames, pa_str_t *names_json, istr_t **locs,
                        uint32_t *nlocs, pa_str_t *locs_json, istr_t **frames, uint32_t *nframes,
                        pa_str_t *frames_json, pa_str_t *key, const char *name, const char *file,
                        uint32_t line)
{
    char pair[64];
    bool added;
    long ni = istr_get(names, nnames, name, strlen(name), names_json);
    long li = 0;
    if (file) {
        key->len = 0;
        pa_str_puts(key, file);
        if (line) {
            snprintf(pair, sizeof pair, ":%u", line);
            pa_str_puts(key, pair);
        }
        li = key->failed ? -1 : istr_get(locs, nlocs, key->s, key->len, locs_json);
    }
    long fi = -1;
    if (ni >= 0 && li >= 0) {
        snprintf(pair, sizeof pair, "%ld,%ld", ni, li);
        if ((fi = index_of(frames, nframes, pair, &added)) >= 0 && added)
            pa_str_printf(frames_json, "%s%s", fi ? "," : "", pair);
    }
    return fi;
}

/* The tables of names, places, frames and call-tree nodes, and each site's node and values;
 * into out as members. Each frame of the export is made a page frame once (memo). */
static int write_sites(FILE *out, const pa_xprof_t *p)
{
    istr_t *names = NULL, *locs = NULL, *frames = NULL;
    uint32_t nnames = 0, nlocs = 0, nframes = 0;
    tree_t tree = {0};
    pa_str_t names_json = {0}, locs_json = {0}, frames_json = {0}, nodes_json = {0};
    pa_str_t sites = {0}, values = {0}, key = {0};
    char buf[512];
    uint32_t *memo = pa_export_memo(p); /* by export frame: its page frame, UINT32_MAX: not yet */
    int rc = memo ? PA_OK : PA_ENOMEM;
    size_t nsites = 0;
    long prev_node = 0;
    istr_get(&locs, &nlocs, "", 0, &locs_json); /* place 0: unknown */
    for (const pa_xsite_t *s = p->sites; s < p->sites + p->nsites && rc == PA_OK; s++) {
        bool any = false, added;
        for (int m = 0; m < PA_X_NMETRICS; m++)
            any |= s->v[m] != 0;
        if (!any)
            continue;
        for (int m = 0; m < PA_X_NMETRICS; m++) {
            if (nsites || m)
                pa_str_puts(&values, ",");
            pa_str_u64(&values, s->v[m]);
        }
        long node = 0; /* the root; nodes are numbered from 1 */
        size_t nf = s->nframes ? s->nframes : 1;
        const uint32_t *fr = pa_xsite_frames(p, s);
        for (size_t i = nf; i-- > 0;) { /* root first */
            long fi;
            if (s->nframes) {
                uint32_t x = fr[i];
                if ((fi = memo[x]) == UINT32_MAX) {
                    const pa_frame_t *f = &p->frames[x].f;
                    fi = frame_index(&names, &nnames, &names_json, &locs, &nlocs, &locs_json,
                                     &frames, &nframes, &frames_json, &key,
                                     pa_export_frame_name(f, buf, sizeof buf), f->file, f->line);
                    if (fi >= 0)
                        memo[x] = (uint32_t)fi;
                }
            } else {
                snprintf(buf, sizeof buf, "[%s]", s->note ? s->note : "no frames");
                fi = frame_index(&names, &nnames, &names_json, &locs, &nlocs, &locs_json, &frames,
                                 &nframes, &frames_json, &key, buf, NULL, 0);
            }
            if (fi >= 0) { /* the node of this frame under `node` */
                long child = tree_child(&tree, node, fi, &added);
                if (child >= 0 && added && child == node) /* under the node made just before */
                    pa_str_printf(&nodes_json, "%s%ld", child ? "," : "", fi);
                else if (child >= 0 && added)
                    pa_str_printf(&nodes_json, "%s%ld,%ld", child ? "," : "", node - child - 1, fi);
                node = child >= 0 ? child + 1 : -1;
            }
            if (fi < 0 || node < 0) {
                rc = PA_ENOMEM;
                break;
            }
        }
        pa_str_printf(&sites, "%s%ld", nsites ? "," : "", node - prev_node);
        prev_node = node;
        nsites++;
    }
    if (names_json.failed || locs_json.failed || frames_json.failed || nodes_json.failed ||
        sites.failed || values.failed || key.failed)
        rc = PA_ENOMEM;
    if (rc == PA_OK)
        fprintf(out,
                "\"names\":[%s],\n\"locs\":[%s],\n\"frames\":[%s],\n\"nodes\":[%s],\n"
                "\"sites\":[%s],\n\"values\":[%s],\n",
                pa_str_get(&names_json), pa_str_get(&locs_json), pa_str_get(&frames_json),
                pa_str_get(&nodes_json), pa_str_get(&sites), pa_str_get(&values));
    istr_free(&names);
    istr_free(&locs);
    istr_free(&frames);
    free(tree.pairs);
    free(tree.index);
    free(memo);
    pa_str_free(&names_json);
    pa_str_free(&locs_json);
    pa_str_free(&frames_json);
    pa_str_free(&nodes_json);
    pa_str_free(&sites);
    pa_str_free(&values);
    pa_str_free(&key);
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
        FILE *mem;
        char *text;
        size_t len;
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
        if (!(l->sec[k].mem = open_memstream(&l->sec[k].text, &l->sec[k].len)))
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
        if (fclose(l->sec[k].mem) != 0)
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
        free(l->sec[k].text);
}

/* One member "name": the JSON text[0..len) (trailing blanks left out), or null when its writer
 * failed (rc) or wrote nothing. */
static int put_section(FILE *out, const char *name, const char *text, size_t len, int rc)
{
    while (len && (text[len - 1] == '\n' || text[len - 1] == ' '))
        len--;
    fprintf(out, "\"%s\":", name);
    if (rc == PA_OK && len)
        fwrite(text, 1, len, out);
    else
        fputs("null", out);
    return rc == PA_ENOMEM ? rc : PA_OK;
}

/* One member "name": the JSON the writer makes (the loaded one's, when made while gathering). */
static int write_section(FILE *out, const char *name, int which, pa_html_section_fn fn,
                         char *const *paths, size_t n, const loaded_t *l)
{
    if (!fn && l->on)
        return put_section(out, name, l->sec[which].text, l->sec[which].len, l->sec[which].rc);
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    if (!mem)
        return PA_ENOMEM;
    int rc = fn ? fn(paths, n, mem) : section(which, paths, n, mem);
    if (fclose(mem) != 0) {
        free(text);
        return PA_ENOMEM;
    }
    rc = put_section(out, name, text, len, rc);
    free(text);
    return rc;
}

/* ---- the data and the page ------------------------------------------------------------------- */

/* The advice member: judged while gathering (pa_advise_end, as pa_advise_json_files writes it),
 * or by advice_section reading the files. */
static int write_advice(FILE *out, char *const *paths, size_t n, loaded_t *l)
{
    if (!l->on)
        return write_section(out, "advice", 0, advice_section, paths, n, l);
    char *text = NULL;
    size_t len = 0, nadvice;
    FILE *mem = open_memstream(&text, &len);
    if (!mem)
        return PA_ENOMEM;
    pa_advise_opts_t o = {.json = true, .quiet = true};
    int rc = l->advise_rc;
    if (rc == PA_OK) {
        rc = pa_advise_end(l->advise, paths, n, &o, mem, &nadvice);
    } else {
        if (rc == PA_ENOMEM)
            pa_msg_error("advise: out of memory");
        pa_advise_free(l->advise);
    }
    l->advise = NULL; /* (freed) */
    if (fclose(mem) != 0) {
        free(text);
        return PA_ENOMEM;
    }
    rc = put_section(out, "advice", text, len, rc);
    free(text);
    return rc;
}

/* Several traces: "run" {"title", "processes", "root_pid"}, the page's title. The root is the
 * one trace whose parent is none of the traces' processes (make, a server's master): the title
 * is its program and how many processes; without one root, how many processes. */
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

static int write_data(FILE *out, const pa_xprof_t *p, char *const *paths, size_t n, loaded_t *l)
{
    fputs("{\"version\":1,\n\"program\":", out);
    pa_json_write_escaped(out, p->program ? p->program : "", p->program ? strlen(p->program) : 0);
    if (p->ntraces > 1)
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
    int rc = write_sites(out, p);
    static const char *const names[] = {"timeline", "growth", "locks", "hot"};
    for (int s = SEC_TIMELINE; rc == PA_OK && s <= SEC_HOT; s++) {
        rc = write_section(out, names[s], s, NULL, paths, n, l);
        fputs(",\n", out);
    }
    if (rc == PA_OK)
        rc = write_advice(out, paths, n, l);
    fputs("}\n", out);
    return rc;
}

/* s[0..n) with every '<' as \u003c (see the top of the file). */
static void write_escaped_lt(FILE *out, const char *s, size_t n)
{
    const char *end = s + n;
    while (s < end) {
        const char *lt = memchr(s, '<', (size_t)(end - s));
        size_t k = lt ? (size_t)(lt - s) : (size_t)(end - s);
        fwrite(s, 1, k, out);
        s += k;
        if (lt) {
            fputs("\\u003c", out);
            s++;
        }
    }
}

static int write_page(FILE *out, const pa_xprof_t *p, char *const *paths, size_t n, loaded_t *l)
{
    char *data = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&data, &len);
    if (!mem)
        return PA_ENOMEM;
    int rc = write_data(mem, p, paths, n, l);
    if (fclose(mem) != 0 && rc == PA_OK)
        rc = PA_ENOMEM;
    if (rc == PA_OK) {
        fwrite(pa_html_page_head, 1, pa_html_page_head_len, out);
        write_escaped_lt(out, data, len);
        fwrite(pa_html_page_tail, 1, pa_html_page_tail_len, out);
    }
    free(data);
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
    char *const *paths = argv + optind;
    size_t n = (size_t)(argc - optind);
    pa_xprof_t p;
    loaded_t l = {0};
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
        return PA_EXIT_USAGE;
    }
    bool to_stdout = strcmp(path, "-") == 0;
    FILE *out = to_stdout ? stdout : fopen(path, "w");
    if (!out) {
        pa_msg_error("report: cannot write %s: %s", path, strerror(errno));
        pa_export_free(&p);
        loaded_free(&l);
        return PA_EXIT_USAGE;
    }
    pa_symbols_share(n > 1);
    rc = write_page(out, &p, paths, n, &l);
    pa_symbols_share(false);
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
    return status;
}
