/* SPDX-License-Identifier: MIT */
/*
 * export.c — `perfshim export --format pprof|folded|speedscope [--metric M] [-o FILE] TRACE...`:
 * the command line, the gathering of the traces' sites, and the text writers (folded stacks,
 * speedscope JSON, the export's own JSON: docs/json-schema.md). pprof.c writes the pprof profile.
 *
 * Gathering: each trace is loaded and symbolized in turn and freed before the next, as merge.c
 * does for `leaks --merge`: its heap rows grouped by visible frames (pa_report_group), its lock
 * sites and CPU samples, each keyed by the serialized visible frames of its stack
 * (pa_stackview_t.key, merge.c's key), so that the same call site in several processes is one
 * site. A site keeps a copy of the frames of the first trace that had it, and each frame's
 * module (path and build-id, for pprof's Mappings).
 *
 * Must not: keep a trace or its symbolizer past its turn; write a partial file silently.
 */
#include "export.h"

#include "hot.h"
#include "leaks.h"
#include "locks.h"
#include "model.h"
#include "report.h"
#include "summary.h"
#include "suppress.h"
#include "timeline.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const pa_xmetric_t pa_xmetrics[PA_X_NMETRICS] = {
    {"inuse_space", "bytes", PA_X_HEAP},  {"inuse_objects", "count", PA_X_HEAP},
    {"alloc_space", "bytes", PA_X_HEAP},  {"alloc_objects", "count", PA_X_HEAP},
    {"contentions", "count", PA_X_LOCKS}, {"delay", "nanoseconds", PA_X_LOCKS},
    {"samples", "count", PA_X_CPUPROF},   {"cpu", "nanoseconds", PA_X_CPUPROF},
};
const int pa_xkind_first[PA_X_NKINDS] = {PA_X_INUSE_SPACE, PA_X_CONTENTIONS, PA_X_SAMPLES};
const int pa_xkind_count[PA_X_NKINDS] = {4, 2, 2};

static const char *const kind_names[PA_X_NKINDS] = {"heap", "locks", "cpu"};
/* The metric a kind's name picks (--metric heap|locks|cpu). */
static const int kind_default[PA_X_NKINDS] = {PA_X_INUSE_SPACE, PA_X_DELAY, PA_X_CPU};

const char pa_export_help[] =
    "Usage: perfshim export [OPTIONS] TRACE...\n"
    "\n"
    "Write the profile of the traces in a format other tools read. Several traces are merged:\n"
    "call sites with the same symbolized stack are one site.\n"
    "\n"
    "Options:\n"
    "      --format F    pprof (default): a gzip'd profile.proto for go tool pprof, Pyroscope,\n"
    "                    Parca; folded: 'frame;frame;frame N' lines, root first, for\n"
    "                    flamegraph.pl and inferno; speedscope: speedscope's JSON file format;\n"
    "                    json: every stack with all the metrics, and each trace's reports\n"
    "                    (summary, leaks, locks, hot, timeline; docs/json-schema.md)\n"
    "      --metric M    inuse_space (default), inuse_objects, alloc_space, alloc_objects,\n"
    "                    contentions, delay, samples, cpu; or heap, locks, cpu. pprof and\n"
    "                    speedscope hold every metric of M's kind (heap, locks or cpu), M first\n"
    "                    shown; folded holds M only; json all eight\n"
    "      --at TIME|last|max   the snapshot exported (see leaks --help; default: last)\n"
    "  -o, --output FILE write to FILE (default: standard output for folded, speedscope, json;\n"
    "                    perfshim.pb.gz for pprof; '-' is standard output)\n"
    "  -h, --help        show this help\n"
    "\n"
    "Sampled traces (PERFSHIM_SAMPLE) hold estimates, exported as they are (unsampled, as\n"
    "pprof expects). See docs/analyzer.md, \"Export\".\n";

typedef enum { FMT_PPROF, FMT_FOLDED, FMT_SPEEDSCOPE, FMT_JSON } format_t;

/* ---- gathering ---------------------------------------------------------------------------- */

/* An interned string: the frames of all the sites share one copy of each function, file and
 * module name (a program's stacks repeat them thousands of times). */
struct pa_xstr {
    UT_hash_handle hh;
    char s[];
};

/* The interned copy of s (NULL for NULL); *failed set when out of memory. */
static const char *intern(pa_xprof_t *p, const char *s, bool *failed)
{
    if (!s)
        return NULL;
    size_t len = strlen(s);
    struct pa_xstr *e;
    HASH_FIND(hh, p->strings, s, len, e);
    if (e)
        return e->s;
    if (!(e = malloc(sizeof *e + len + 1))) {
        *failed = true;
        return NULL;
    }
    memset(e, 0, sizeof *e);
    memcpy(e->s, s, len + 1);
    HASH_ADD_KEYPTR(hh, p->strings, e->s, len, e);
    return e->s;
}

static void prof_free(pa_xprof_t *p)
{
    pa_xsite_t *s, *tmp;
    HASH_ITER(hh, p->sites, s, tmp)
    {
        HASH_DEL(p->sites, s);
        free(s->frames); /* their strings are interned */
        free(s->map);
        free(s->key);
        free(s);
    }
    struct pa_xstr *e, *etmp;
    HASH_ITER(hh, p->strings, e, etmp)
    {
        HASH_DEL(p->strings, e);
        free(e);
    }
    for (size_t i = 0; i < p->nmaps; i++) {
        free(p->maps[i].path);
        free(p->maps[i].build_id);
    }
    free(p->maps);
    pa_strlist_free(&p->paths);
    free(p->pids);
    free(p->program_copy);
    if (p->reports)
        fclose(p->reports);
    free(p->reports_end);
}

/* The mapping of module m (added on first sight): its index + 1, or 0 (no memory). */
static uint32_t map_get(pa_xprof_t *p, const pa_module_t *m)
{
    for (size_t i = 0; i < p->nmaps; i++) {
        const pa_xmap_t *x = &p->maps[i];
        if (strcmp(x->path, m->path) == 0 && x->build_id_len == m->build_id_len &&
            (!m->build_id_len || memcmp(x->build_id, m->build_id, m->build_id_len) == 0))
            return (uint32_t)i + 1;
    }
    if (pa_util_grow((void **)&p->maps, &p->maps_cap, p->nmaps + 1, sizeof *p->maps) != PA_OK)
        return 0;
    pa_xmap_t *x = &p->maps[p->nmaps];
    memset(x, 0, sizeof *x);
    if (!(x->path = pa_util_strdup(m->path)))
        return 0;
    if (m->build_id_len) {
        if (!(x->build_id = malloc(m->build_id_len))) {
            free(x->path);
            return 0;
        }
        memcpy(x->build_id, m->build_id, m->build_id_len);
        x->build_id_len = m->build_id_len;
    }
    x->start = m->start;
    x->end = m->end;
    x->base = m->base;
    return (uint32_t)++p->nmaps;
}

/* The site of view v (made on first sight, with copies of its frames), or NULL (no memory). */
static pa_xsite_t *site_get(pa_xprof_t *p, const pa_trace_t *t, const pa_stackview_t *v)
{
    const char *key = pa_str_get(&v->key);
    size_t len = strlen(key);
    pa_xsite_t *s;
    HASH_FIND(hh, p->sites, key, len, s);
    if (s)
        return s;
    bool failed = !(s = calloc(1, sizeof *s)) || !(s->key = pa_util_strndup(key, len));
    if (!failed && v->nframes)
        failed = !(s->frames = malloc(v->nframes * sizeof *s->frames)) ||
                 !(s->map = calloc(v->nframes, sizeof *s->map));
    if (!failed)
        s->note = intern(p, v->note, &failed);
    /* the frames with interned strings, and the mapping of each */
    for (; !failed && s->nframes < v->nframes; s->nframes++) { /* (s is calloc'ed) */
        pa_frame_t *f = &s->frames[s->nframes];
        *f = v->frames[s->nframes];
        f->function = intern(p, f->function, &failed);
        f->file = intern(p, f->file, &failed);
        f->module = intern(p, f->module, &failed);
        const pa_module_t *m = pa_model_module_at(t, f->address);
        uint32_t *map = &s->map[s->nframes];
        if (m && m->path && !(*map = map_get(p, m)))
            failed = true;
        else if (*map && !f->function)
            p->maps[*map - 1].unresolved = true;
    }
    if (failed) {
        if (s) {
            free(s->frames);
            free(s->map);
            free(s->key);
            free(s);
        }
        return NULL;
    }
    HASH_ADD_KEYPTR(hh, p->sites, s->key, len, s);
    return s;
}

/* Adds v[metric] and v[metric + 1] of the site of stack `id` (viewed with `hide`). */
static int add_stack(pa_xprof_t *p, pa_trace_t *t, pa_symbols_t *syms, pa_stackview_t *v,
                     uint32_t id, unsigned hide, int metric, uint64_t a, uint64_t b)
{
    int rc = pa_report_stack_view(t, syms, id, hide, v);
    if (rc != PA_OK)
        return rc;
    pa_xsite_t *s = site_get(p, t, v);
    if (!s)
        return PA_ENOMEM;
    s->v[metric] += a;
    s->v[metric + 1] += b;
    return PA_OK;
}

static int add_heap(pa_xprof_t *p, pa_trace_t *t, pa_symbols_t *syms, pa_stackview_t *v)
{
    pa_groups_t g;
    int rc = pa_report_group(t, syms, false, &g);
    if (rc != PA_OK)
        return rc;
    for (size_t i = 0; rc == PA_OK && i < g.n; i++) {
        const pa_group_t *x = g.items[i];
        rc = add_stack(p, t, syms, v, x->shown_stack_id, PA_HIDE_ALLOCATOR | PA_HIDE_SHIM,
                       PA_X_INUSE_SPACE, x->live_bytes, x->live_blocks);
        if (rc == PA_OK) {
            pa_xsite_t *s = site_get(p, t, v); /* found: made by add_stack */
            s->v[PA_X_ALLOC_SPACE] += x->alloc_bytes;
            s->v[PA_X_ALLOC_OBJECTS] += x->allocs;
        }
    }
    if (g.n)
        p->has[PA_X_HEAP] = true;
    pa_report_groups_free(&g);
    return rc;
}

static int add_trace(pa_xprof_t *p, pa_trace_t *t)
{
    pa_symbols_t *syms;
    int rc = pa_symbols_new(t, &syms);
    if (rc != PA_OK)
        return rc;
    /* the program's module first: pprof takes the first Mapping for the main binary */
    for (size_t i = 0; !p->nmaps && t->process.program && i < t->nmodules; i++)
        if (t->modules[i].path && strcmp(t->modules[i].path, t->process.program) == 0 &&
            !map_get(p, &t->modules[i])) {
            pa_symbols_free(syms);
            return PA_ENOMEM;
        }
    pa_stackview_t v = {0};
    rc = add_heap(p, t, syms, &v);
    for (size_t i = 0; rc == PA_OK && t->has_locks && i < t->locks.nsites; i++) {
        const pa_lock_site_t *ls = &t->locks.sites[i];
        if (!ls->contended && !ls->wait_ns)
            continue;
        p->has[PA_X_LOCKS] = true;
        rc = add_stack(p, t, syms, &v, ls->stack_id, PA_HIDE_SHIM | PA_HIDE_LOCK_WRAPPERS,
                       PA_X_CONTENTIONS, ls->contended, ls->wait_ns);
    }
    uint64_t hz = t->has_cpu ? t->cpu.hz : 0;
    for (size_t i = 0; rc == PA_OK && hz && i < t->cpu.n; i++) {
        const pa_cpu_row_t *r = &t->cpu.rows[i];
        p->has[PA_X_CPUPROF] = true;
        if (!p->cpu_hz)
            p->cpu_hz = hz;
        rc = add_stack(p, t, syms, &v, r->stack_id, 0, PA_X_SAMPLES, r->samples,
                       (uint64_t)((double)r->samples * 1e9 / (double)hz + 0.5));
    }
    pa_report_stack_view_free(&v);
    pa_symbols_free(syms);
    if (rc != PA_OK)
        return rc;
    if (pa_strlist_add(&p->paths, t->path) != PA_OK ||
        pa_util_grow((void **)&p->pids, &p->pids_cap, p->ntraces + 1, sizeof *p->pids) != PA_OK)
        return PA_ENOMEM;
    p->pids[p->ntraces] = t->process.pid;
    if (!p->ntraces++) {
        p->start_realtime_ns = t->process.start_realtime_ns;
        if (t->process.program && !(p->program_copy = pa_util_strdup(t->process.program)))
            return PA_ENOMEM;
        p->program = p->program_copy;
    }
    if (t->snap.time_ns > p->duration_ns)
        p->duration_ns = t->snap.time_ns;
    pa_sampling_t smp;
    if (pa_model_sampled(t, &smp) && smp.max_mean_bytes > p->sample_mean)
        p->sample_mean = smp.max_mean_bytes ? smp.max_mean_bytes : smp.mean_bytes;
    return PA_OK;
}

/* ---- the reports of each trace (--format json) ------------------------------------------------
 * Everything else a trace holds is what the reports show: each trace's "reports" member is an
 * object of the reports' own JSON objects, made by the reports' writers with the options their
 * documents name (docs/json-schema.md), into p->reports. */

/* The containers around a trace's "reports" value: the document, "traces", the trace. */
#define REPORTS_DEPTH 3

/* Back to the trace's first n warnings, those of its loading: each report's symbolizer warns
 * about the same modules again (said once already, not printed again), and each report lists
 * the warnings its own command would. */
static void warnings_keep(pa_trace_t *t, size_t n)
{
    while (t->warnings.n > n)
        free(t->warnings.items[--t->warnings.n]);
    t->quiet = true;
}

/* The reports made from the loaded trace, whose loading warned nwarn times (the timeline
 * reads the file itself: reports_end). */
static int reports_begin(pa_xprof_t *p, pa_trace_t *t, size_t nwarn, const pa_at_t *at,
                         const pa_suppress_t *supp, pa_json_t *j)
{
    pa_json_init_nested(j, p->reports, REPORTS_DEPTH);
    pa_json_object_begin(j, false);
    pa_summary_opts_t so = {.json = true, .top = PA_SUMMARY_DEFAULT_TOP, .at = *at};
    pa_json_key(j, "summary");
    warnings_keep(t, nwarn);
    int rc = pa_summary_report(t, &so, NULL, j);
    pa_leaks_opts_t lo = {.json = true, .supp = supp, .at = *at};
    pa_leaks_totals_t tot;
    if (rc == PA_OK) {
        pa_json_key(j, "leaks");
        warnings_keep(t, nwarn);
        rc = pa_leaks_report(t, &lo, NULL, j, &tot);
    }
    pa_locks_opts_t ko = {.json = true}; /* every lock, every site */
    if (rc == PA_OK) {
        pa_json_key(j, "locks");
        warnings_keep(t, nwarn);
        rc = pa_locks_report(t, &ko, NULL, j);
    }
    pa_hot_opts_t ho = {.json = true}; /* every function, stack, zone and thread */
    if (rc == PA_OK) {
        pa_json_key(j, "hot");
        warnings_keep(t, nwarn);
        rc = pa_hot_report(t, &ho, NULL, j);
    }
    return rc;
}

static int reports_end(pa_xprof_t *p, const char *path, pa_json_t *j)
{
    /* the snapshots, no site followed; the trace's warnings were said when it was loaded */
    pa_timeline_opts_t to = {.json = true, .quiet = true};
    pa_json_key(j, "timeline");
    int rc = pa_timeline_trace(path, &to, NULL, j);
    pa_json_object_end(j);
    size_t i = p->ntraces - 1; /* (add_trace counted it) */
    long end = ftell(p->reports);
    if (rc == PA_OK && (end < 0 || ferror(p->reports))) {
        pa_msg_error("export: cannot write a temporary file: %s", strerror(errno));
        rc = PA_EIO;
    }
    if (rc == PA_OK && pa_util_grow((void **)&p->reports_end, &p->reports_cap, i + 1,
                                    sizeof *p->reports_end) != PA_OK)
        rc = PA_ENOMEM;
    if (rc == PA_OK)
        p->reports_end[i] = (uint64_t)end;
    return rc;
}

/* Loads and adds the traces in turn, up to the first that cannot be used (said): the export
 * then fails whole (pa_export_main), so the ones after it are not read. With p->reports, each
 * trace's reports too. */
static int gather(char *const *paths, size_t n, const pa_at_t *at, pa_xprof_t *p)
{
    pa_suppress_t supp = {0};
    int rc = p->reports ? pa_suppress_load_all(&supp, true, &(pa_strlist_t){0}) : PA_OK;
    for (size_t i = 0; i < n && rc == PA_OK; i++) {
        pa_trace_t t;
        if ((rc = pa_model_load_at(paths[i], false, at, &t)) != PA_OK)
            break; /* freed, and said */
        pa_json_t j;
        size_t nwarn = t.warnings.n;
        if ((rc = add_trace(p, &t)) == PA_OK && p->reports)
            rc = reports_begin(p, &t, nwarn, at, &supp, &j);
        pa_model_free(&t); /* (the timeline reads the file again: never two models at once) */
        if (rc == PA_OK && p->reports)
            rc = reports_end(p, paths[i], &j);
        if (rc == PA_ENOMEM)
            pa_msg_error("%s: out of memory while exporting", paths[i]);
    }
    pa_suppress_free(&supp);
    return rc;
}

/* ---- folded stacks -------------------------------------------------------------------------- */

const char *pa_export_frame_name(const pa_frame_t *f, char *buf, size_t size)
{
    if (f->function)
        return f->function;
    snprintf(buf, size, "%s+0x%llx", pa_util_basename(f->module ? f->module : "?"),
             (unsigned long long)f->offset);
    return buf;
}

/* A frame in a folded line: ';' separates frames and the last space the count, and a line
 * ends at a newline, so ';' becomes ':' and control characters '?'; spaces stay (the count is
 * after the last one). */
static void folded_name(FILE *out, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        fputc(c == ';' ? ':' : c < 0x20 || c == 0x7f ? '?' : c, out);
    }
}

/* The name of a site without frames: its note in brackets ("[no stack recorded]"). */
static void note_name(char *buf, size_t size, const pa_xsite_t *s)
{
    snprintf(buf, size, "[%s]", s->note ? s->note : "no frames");
}

static void write_folded(FILE *out, const pa_xprof_t *p, int metric)
{
    char buf[512];
    for (const pa_xsite_t *s = p->sites; s; s = s->hh.next) {
        if (!s->v[metric])
            continue;
        if (!s->nframes) {
            note_name(buf, sizeof buf, s);
            folded_name(out, buf);
        }
        for (size_t i = s->nframes; i-- > 0;) {
            folded_name(out, pa_export_frame_name(&s->frames[i], buf, sizeof buf));
            if (i)
                fputc(';', out);
        }
        fprintf(out, " %llu\n", (unsigned long long)s->v[metric]);
    }
}

/* ---- speedscope ----------------------------------------------------------------------------- */

/* speedscope's frames: one per distinct (name, file, line), numbered in order of first use. */
typedef struct {
    UT_hash_handle hh;
    char *key; /* name \x1f file \x1f line */
    uint32_t index;
} ssframe_t;

static void ssframes_free(ssframe_t **h)
{
    ssframe_t *f, *tmp;
    HASH_ITER(hh, *h, f, tmp)
    {
        HASH_DEL(*h, f);
        free(f->key);
        free(f);
    }
}

/* Index of frame (name, file, line) in *h, writing the new frame's JSON to j when it is new;
 * -1 when out of memory. */
static long ssframe_get(ssframe_t **h, uint32_t *n, pa_json_t *j, const char *name,
                        const char *file, uint32_t line, pa_str_t *key)
{
    key->len = 0;
    pa_str_puts(key, name);
    pa_str_puts(key, "\x1f");
    pa_str_puts(key, file ? file : "");
    pa_str_puts(key, "\x1f");
    pa_str_u64(key, line);
    if (key->failed)
        return -1;
    ssframe_t *f;
    HASH_FIND(hh, *h, key->s, key->len, f);
    if (f)
        return f->index;
    if (!(f = calloc(1, sizeof *f)) || !(f->key = pa_util_strdup(key->s))) {
        free(f);
        return -1;
    }
    f->index = (*n)++;
    HASH_ADD_KEYPTR(hh, *h, f->key, key->len, f);
    if (j) {
        pa_json_object_begin(j, true);
        pa_json_key(j, "name");
        pa_json_string(j, name);
        if (file) {
            pa_json_key(j, "file");
            pa_json_string(j, file);
        }
        if (line)
            pa_json_kv_u64(j, "line", line);
        pa_json_object_end(j);
    }
    return f->index;
}

/* Every site's frames, root first, as indices into the shared frames (written to j once each):
 * sites' stacks in *stacks (ends[i]: end of site i's stack within it). */
static int ss_frames(const pa_xprof_t *p, pa_json_t *j, uint32_t **stacks, size_t *nst,
                     size_t **ends)
{
    ssframe_t *h = NULL;
    uint32_t nframes = 0;
    size_t cap = 0, ecap = 0, nsites = 0;
    pa_str_t key = {0};
    char buf[512];
    int rc = PA_OK;
    *stacks = NULL;
    *ends = NULL;
    *nst = 0;
    for (const pa_xsite_t *s = p->sites; s && rc == PA_OK; s = s->hh.next, nsites++) {
        size_t need = *nst + (s->nframes ? s->nframes : 1);
        if (pa_util_grow((void **)stacks, &cap, need, sizeof **stacks) != PA_OK ||
            pa_util_grow((void **)ends, &ecap, nsites + 1, sizeof **ends) != PA_OK) {
            rc = PA_ENOMEM;
            break;
        }
        if (!s->nframes) {
            note_name(buf, sizeof buf, s);
            long k = ssframe_get(&h, &nframes, j, buf, NULL, 0, &key);
            if (k < 0)
                rc = PA_ENOMEM;
            (*stacks)[(*nst)++] = (uint32_t)k;
        }
        for (size_t i = s->nframes; rc == PA_OK && i-- > 0;) {
            const pa_frame_t *f = &s->frames[i];
            long k = ssframe_get(&h, &nframes, j, pa_export_frame_name(f, buf, sizeof buf), f->file,
                                 f->line, &key);
            if (k < 0)
                rc = PA_ENOMEM;
            (*stacks)[(*nst)++] = (uint32_t)k;
        }
        (*ends)[nsites] = *nst;
    }
    ssframes_free(&h);
    pa_str_free(&key);
    return rc;
}

static int write_speedscope(FILE *out, const pa_xprof_t *p, pa_xkind_t kind, int metric)
{
    pa_json_t j;
    pa_json_init(&j, out);
    pa_json_object_begin(&j, false);
    pa_json_key(&j, "$schema");
    pa_json_string(&j, "https://www.speedscope.app/file-format-schema.json");
    pa_json_key(&j, "exporter");
    pa_json_string(&j, "perfshim " PERFSHIM_VERSION_STRING);
    pa_json_key(&j, "name");
    pa_json_string(&j, p->program ? pa_util_basename(p->program) : "perfshim");
    pa_json_key(&j, "activeProfileIndex");
    pa_json_u64(&j, (uint64_t)(metric - pa_xkind_first[kind]));
    pa_json_key(&j, "shared");
    pa_json_object_begin(&j, false);
    pa_json_key(&j, "frames");
    pa_json_array_begin(&j, false);
    uint32_t *stacks;
    size_t nst, *ends;
    int rc = ss_frames(p, &j, &stacks, &nst, &ends);
    pa_json_array_end(&j);
    pa_json_object_end(&j);
    pa_json_key(&j, "profiles");
    pa_json_array_begin(&j, false);
    for (int m = pa_xkind_first[kind];
         rc == PA_OK && m < pa_xkind_first[kind] + pa_xkind_count[kind]; m++) {
        const char *unit = strcmp(pa_xmetrics[m].unit, "count") == 0 ? "none" : pa_xmetrics[m].unit;
        uint64_t total = 0;
        for (const pa_xsite_t *s = p->sites; s; s = s->hh.next)
            total += s->v[m];
        pa_json_object_begin(&j, false);
        pa_json_key(&j, "type");
        pa_json_string(&j, "sampled");
        pa_json_key(&j, "name");
        pa_json_string(&j, pa_xmetrics[m].name);
        pa_json_key(&j, "unit");
        pa_json_string(&j, unit);
        pa_json_kv_u64(&j, "startValue", 0);
        pa_json_kv_u64(&j, "endValue", total);
        for (int pass = 0; pass < 2; pass++) {
            pa_json_key(&j, pass ? "weights" : "samples");
            pa_json_array_begin(&j, pass == 1);
            size_t i = 0, from = 0;
            for (const pa_xsite_t *s = p->sites; s; from = ends[i++], s = s->hh.next) {
                if (!s->v[m])
                    continue;
                if (pass) {
                    pa_json_u64(&j, s->v[m]);
                    continue;
                }
                pa_json_array_begin(&j, true);
                for (size_t k = from; k < ends[i]; k++)
                    pa_json_u64(&j, stacks[k]);
                pa_json_array_end(&j);
            }
            pa_json_array_end(&j);
        }
        pa_json_object_end(&j);
    }
    pa_json_array_end(&j);
    pa_json_object_end(&j);
    pa_json_finish(&j);
    free(stacks);
    free(ends);
    return rc;
}

/* ---- json (docs/json-schema.md) ----------------------------------------------------------------
 */

/* Frames: one per distinct (function, file, line, module, offset, inlined), numbered in order
 * of first use; a site's stack is a list of their numbers. */
typedef struct {
    UT_hash_handle hh;
    char *key;
    uint32_t index;
} jframe_t;

static long jframe_get(jframe_t **h, uint32_t *n, pa_json_t *j, const pa_frame_t *f, uint32_t map,
                       pa_str_t *key)
{
    key->len = 0;
    pa_str_puts(key, f->function ? f->function : ""); /* no printf: it is most of the cost */
    pa_str_puts(key, "\x1f");
    pa_str_puts(key, f->file ? f->file : "");
    pa_str_puts(key, "\x1f");
    pa_str_u64(key, f->line);
    pa_str_puts(key, "\x1f");
    pa_str_u64(key, map);
    pa_str_puts(key, f->inlined ? "\x1fi" : "\x1f-");
    pa_str_hex(key, f->offset);
    if (key->failed)
        return -1;
    jframe_t *e;
    HASH_FIND(hh, *h, key->s, key->len, e);
    if (e)
        return e->index;
    if (!(e = calloc(1, sizeof *e)) || !(e->key = pa_util_strdup(key->s))) {
        free(e);
        return -1;
    }
    e->index = (*n)++;
    HASH_ADD_KEYPTR(hh, *h, e->key, key->len, e);
    pa_json_object_begin(j, true);
    pa_json_key(j, "function");
    pa_json_string(j, f->function);
    pa_json_key(j, "file");
    pa_json_string(j, f->file);
    pa_json_key(j, "line");
    if (f->line)
        pa_json_u64(j, f->line);
    else
        pa_json_null(j);
    pa_json_key(j, "module");
    if (map)
        pa_json_u64(j, map - 1);
    else
        pa_json_null(j);
    pa_json_key(j, "offset");
    pa_json_hex(j, f->offset);
    pa_json_kv_bool(j, "inlined", f->inlined);
    pa_json_object_end(j);
    return e->index;
}

static int write_json(FILE *out, const pa_xprof_t *p)
{
    pa_json_t j;
    pa_json_init(&j, out);
    pa_json_object_begin(&j, false);
    pa_json_key(&j, "format");
    pa_json_string(&j, "perfshim-export");
    pa_json_kv_u64(&j, "version", 2);
    pa_json_key(&j, "traces");
    pa_json_array_begin(&j, false);
    int rc = p->reports && fseek(p->reports, 0, SEEK_SET) != 0 ? PA_EIO : PA_OK;
    for (size_t i = 0; i < p->ntraces && rc == PA_OK; i++) {
        pa_json_object_begin(&j, false);
        pa_json_key(&j, "trace");
        pa_json_string(&j, p->paths.items[i]);
        pa_json_kv_u64(&j, "pid", p->pids[i]);
        pa_json_key(&j, "reports");
        rc =
            pa_json_raw_stream(&j, p->reports, p->reports_end[i] - (i ? p->reports_end[i - 1] : 0));
        pa_json_object_end(&j);
    }
    if (rc != PA_OK) {
        pa_msg_error("export: cannot read back a temporary file: %s", strerror(errno));
        return rc;
    }
    pa_json_array_end(&j);
    pa_json_key(&j, "program");
    pa_json_string(&j, p->program);
    pa_json_kv_u64(&j, "start_realtime_ns", p->start_realtime_ns);
    pa_json_kv_u64(&j, "duration_ns", p->duration_ns);
    pa_json_kv_bool(&j, "estimated", p->sample_mean != 0);
    pa_json_key(&j, "sample_mean_bytes");
    if (p->sample_mean)
        pa_json_u64(&j, p->sample_mean);
    else
        pa_json_null(&j);
    pa_json_key(&j, "cpu_hz");
    if (p->cpu_hz)
        pa_json_u64(&j, p->cpu_hz);
    else
        pa_json_null(&j);
    pa_json_key(&j, "metrics");
    pa_json_array_begin(&j, false);
    for (int m = 0; m < PA_X_NMETRICS; m++) {
        pa_json_object_begin(&j, true);
        pa_json_key(&j, "name");
        pa_json_string(&j, pa_xmetrics[m].name);
        pa_json_key(&j, "unit");
        pa_json_string(&j, pa_xmetrics[m].unit);
        pa_json_key(&j, "kind");
        pa_json_string(&j, kind_names[pa_xmetrics[m].kind]);
        pa_json_kv_bool(&j, "present", p->has[pa_xmetrics[m].kind]);
        pa_json_object_end(&j);
    }
    pa_json_array_end(&j);
    pa_json_key(&j, "modules");
    pa_json_array_begin(&j, false);
    for (size_t i = 0; i < p->nmaps; i++) {
        const pa_xmap_t *m = &p->maps[i];
        char hex[2 * 64 + 1] = "";
        for (uint32_t k = 0; k < m->build_id_len && k < 64; k++)
            snprintf(hex + 2 * k, 3, "%02x", m->build_id[k]);
        pa_json_object_begin(&j, true);
        pa_json_key(&j, "path");
        pa_json_string(&j, m->path);
        pa_json_key(&j, "build_id");
        pa_json_string(&j, m->build_id_len ? hex : NULL);
        pa_json_key(&j, "start");
        pa_json_hex(&j, m->start);
        pa_json_key(&j, "end");
        pa_json_hex(&j, m->end);
        pa_json_key(&j, "base");
        pa_json_hex(&j, m->base);
        pa_json_object_end(&j);
    }
    pa_json_array_end(&j);
    /* frames as they are first used, then the stacks naming them: two passes over the sites */
    jframe_t *h = NULL;
    uint32_t nframes = 0;
    pa_str_t key = {0};
    pa_json_key(&j, "frames");
    pa_json_array_begin(&j, false);
    for (const pa_xsite_t *s = p->sites; s && rc == PA_OK; s = s->hh.next)
        for (size_t i = 0; i < s->nframes && rc == PA_OK; i++)
            if (jframe_get(&h, &nframes, &j, &s->frames[i], s->map[i], &key) < 0)
                rc = PA_ENOMEM;
    pa_json_array_end(&j);
    pa_json_key(&j, "stacks");
    pa_json_array_begin(&j, false);
    for (const pa_xsite_t *s = p->sites; s && rc == PA_OK; s = s->hh.next) {
        pa_json_object_begin(&j, true);
        pa_json_key(&j, "frames");
        pa_json_array_begin(&j, true);
        for (size_t i = 0; i < s->nframes; i++)
            pa_json_u64(&j, (uint64_t)jframe_get(&h, &nframes, &j, &s->frames[i], s->map[i], &key));
        pa_json_array_end(&j);
        pa_json_key(&j, "note");
        pa_json_string(&j, s->note);
        pa_json_key(&j, "values");
        pa_json_array_begin(&j, true);
        for (int m = 0; m < PA_X_NMETRICS; m++)
            pa_json_u64(&j, s->v[m]);
        pa_json_array_end(&j);
        pa_json_object_end(&j);
    }
    pa_json_array_end(&j);
    pa_json_object_end(&j);
    pa_json_finish(&j);
    jframe_t *e, *tmp;
    HASH_ITER(hh, h, e, tmp)
    {
        HASH_DEL(h, e);
        free(e->key);
        free(e);
    }
    pa_str_free(&key);
    if (rc != PA_OK)
        pa_msg_error("export: out of memory while writing JSON");
    return rc;
}

/* ---- the command ------------------------------------------------------------------------------
 */

/* The metric named s (a metric, or a kind for its default metric), or -1. */
static int parse_metric(const char *s)
{
    for (int m = 0; m < PA_X_NMETRICS; m++)
        if (strcmp(s, pa_xmetrics[m].name) == 0)
            return m;
    for (int k = 0; k < PA_X_NKINDS; k++)
        if (strcmp(s, kind_names[k]) == 0)
            return kind_default[k];
    return -1;
}

typedef struct {
    format_t format;
    int metric;
    const char *output; /* NULL: the default */
    pa_at_t at;
    bool help;
} xopts_t;

/* Parses the options; the index of the first trace, or -1 after a usage error (said). */
static int parse_opts(int argc, char **argv, xopts_t *o)
{
    enum { OPT_FORMAT = 256, OPT_METRIC, OPT_AT };
    static const struct option options[] = {
        {"format", required_argument, NULL, OPT_FORMAT},
        {"metric", required_argument, NULL, OPT_METRIC},
        {"at", required_argument, NULL, OPT_AT},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static const char *const formats[] = {"pprof", "folded", "speedscope", "json"};
    o->metric = PA_X_INUSE_SPACE;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "+o:h", options, NULL)) != -1) {
        switch (c) {
        case OPT_FORMAT: {
            size_t f = 0;
            while (f < 4 && strcmp(optarg, formats[f]) != 0)
                f++;
            if (f == 4) {
                pa_msg_error("export: unknown format '%s'; formats: pprof, folded, speedscope, "
                             "json",
                             optarg);
                return -1;
            }
            o->format = (format_t)f;
            break;
        }
        case OPT_METRIC:
            if ((o->metric = parse_metric(optarg)) < 0) {
                pa_msg_error("export: unknown metric '%s'; see 'perfshim help export'", optarg);
                return -1;
            }
            break;
        case OPT_AT:
            if (pa_model_parse_at(optarg, &o->at) != PA_OK) {
                pa_msg_error("export: bad --at '%s': a time (12.5, 250ms), last or max", optarg);
                return -1;
            }
            break;
        case 'o':
            o->output = optarg;
            break;
        case 'h':
            o->help = true;
            break;
        case ':':
            pa_msg_error("export: option '%s' needs a value", argv[optind - 1]);
            return -1;
        default:
            pa_msg_error("export: unknown option '%s'; see 'perfshim help export'",
                         argv[optind - 1]);
            return -1;
        }
    }
    return optind;
}

/* Writes the chosen format to out. */
static int write_format(FILE *out, const pa_xprof_t *p, const xopts_t *o, const char *name)
{
    pa_xkind_t kind = pa_xmetrics[o->metric].kind;
    switch (o->format) {
    case FMT_PPROF:
        return pa_pprof_write(p, kind, o->metric, out, name);
    case FMT_FOLDED:
        write_folded(out, p, o->metric);
        return PA_OK;
    case FMT_SPEEDSCOPE:
        return write_speedscope(out, p, kind, o->metric);
    case FMT_JSON:
        return write_json(out, p);
    }
    return PA_OK;
}

int pa_export_main(int argc, char **argv)
{
    xopts_t o = {0};
    int first = parse_opts(argc, argv, &o);
    if (first < 0)
        return PA_EXIT_USAGE;
    if (o.help) {
        fputs(pa_export_help, stdout);
        return PA_EXIT_OK;
    }
    if (first >= argc) {
        pa_msg_error("export: no trace file given; see 'perfshim help export'");
        return PA_EXIT_USAGE;
    }
    const char *path = o.output ? o.output : o.format == FMT_PPROF ? "perfshim.pb.gz" : "-";
    bool to_stdout = strcmp(path, "-") == 0;
    struct stat so, st;
    for (int i = first; !to_stdout && i < argc && stat(path, &so) == 0; i++)
        if (stat(argv[i], &st) == 0 && st.st_dev == so.st_dev && st.st_ino == so.st_ino) {
            pa_msg_error("export: the output %s is one of the traces: not overwritten", path);
            return PA_EXIT_USAGE;
        }
    /* open the output first: an unwritable one is said before the traces are read */
    FILE *out = to_stdout ? stdout : fopen(path, "wb");
    if (!out) {
        pa_msg_error("export: cannot write %s: %s", path, strerror(errno));
        return PA_EXIT_USAGE;
    }
    pa_xprof_t p = {0};
    int n = argc - first, rc = PA_OK;
    if (o.format == FMT_JSON && !(p.reports = tmpfile())) {
        pa_msg_error("export: cannot make a temporary file: %s", strerror(errno));
        rc = PA_EIO;
    }
    /* each module opened once for all the traces (and, with json, all the reports) */
    pa_symbols_share(n > 1 || o.format == FMT_JSON);
    if (rc == PA_OK)
        rc = gather(argv + first, (size_t)n, &o.at, &p);
    pa_symbols_share(false);
    pa_xkind_t kind = pa_xmetrics[o.metric].kind;
    if (p.ntraces && !p.has[kind])
        pa_msg_warn("export: the traces hold no %s data: the %s profile is empty%s",
                    kind_names[kind], pa_xmetrics[o.metric].name,
                    kind == PA_X_CPUPROF ? " (record with PERFSHIM_CPU_HZ)"
                    : kind == PA_X_LOCKS ? " (no lock was contended)"
                                         : "");
    /* A trace that could not be read (said) makes the export fail whole: a profile silently
     * missing one of the processes asked for would mislead. */
    if (rc == PA_OK)
        rc = write_format(out, &p, &o, to_stdout ? "standard output" : path);
    else
        pa_msg_error("export: nothing written: a trace could not be read");
    int status = rc == PA_OK ? PA_EXIT_OK : PA_EXIT_USAGE;
    if (!to_stdout) {
        if ((ferror(out) | fclose(out)) != 0 && status == PA_EXIT_OK) {
            pa_msg_error("export: cannot write %s: %s", path, strerror(errno));
            status = PA_EXIT_USAGE;
        }
        /* no partial or empty profile left behind (a regular file only: not /dev/null) */
        if ((!p.ntraces || status != PA_EXIT_OK) && stat(path, &st) == 0 && S_ISREG(st.st_mode))
            remove(path);
    }
    prof_free(&p);
    return status;
}

/* ---- for other reports (html.c) ------------------------------------------------------------ */

int pa_export_gather(char *const *paths, size_t n, const pa_at_t *at, pa_xprof_t *p)
{
    memset(p, 0, sizeof *p);
    pa_symbols_share(n > 1);
    int rc = gather(paths, n, at, p);
    pa_symbols_share(false);
    return rc;
}

void pa_export_free(pa_xprof_t *p)
{
    prof_free(p);
}
