/* SPDX-License-Identifier: MIT */
/*
 * merge.c — reports over the traces of many processes (`leaks --merge`, `summary --merge`).
 *
 * Each trace is loaded, symbolized and grouped as for its own report (report.c), one at a time,
 * and freed before the next: memory holds the merged sites only. A group's key is the
 * serialized text of its visible frames (pa_stackview_t.key: function, file, line and the
 * inlined flag of each frame; module and offset for an unresolved one), so the same call site
 * in two processes is one site whatever the address its module was loaded at. A site keeps a
 * copy of the frames of the first trace that had it (their address and offset fields are that
 * process's), sums the figures, and counts the processes that contributed (a trace adds one at
 * most, however many of its stacks read the same).
 *
 * Must not: keep a trace or its symbolizer past its turn.
 */
#include "merge.h"

#include "report.h"

#include <stdlib.h>
#include <string.h>
#include <uthash.h>

typedef struct {
    UT_hash_handle hh;
    pa_merge_stack_t st;   /* key (hash key), frames and note, owned here */
    size_t last_trace;     /* 1 + index of the last trace that added to it */
    uint64_t processes;    /* traces that contributed */
    int32_t suppressed_by; /* pattern index, or -1 */
    uint64_t allocs, alloc_bytes, frees, freed_bytes;
    uint64_t live_blocks, live_bytes;
    uint64_t stacks;
} msite_t;

typedef struct {
    msite_t *sites; /* uthash */
    size_t ntraces; /* traces merged */
    pa_strlist_t paths;
    uint64_t *pids; /* per merged trace */
    size_t pids_cap;
    bool sampled; /* some trace's figures are estimates */
    bool failing; /* leaks: some trace fails --fail-on-leak (its leak classes counted) */
    uint64_t inherited_blocks, inherited_bytes;
} merged_t;

static char *dup_or_null(const char *s, bool *failed)
{
    if (!s)
        return NULL;
    char *d = pa_util_strdup(s);
    if (!d)
        *failed = true;
    return d;
}

void pa_merge_stack_free(pa_merge_stack_t *s)
{
    pa_merge_free_frames(s->frames, s->nframes, s->note);
    free(s->key);
    memset(s, 0, sizeof *s);
}

int pa_merge_stack_copy(const pa_stackview_t *v, pa_merge_stack_t *s)
{
    bool failed = false;
    memset(s, 0, sizeof *s);
    s->key = dup_or_null(pa_str_get((pa_str_t *)&v->key), &failed);
    if (failed || !s->key || pa_merge_copy_view(v, &s->frames, &s->nframes, &s->note) != PA_OK) {
        pa_merge_stack_free(s);
        return PA_ENOMEM;
    }
    return PA_OK;
}

static void site_free(msite_t *s)
{
    pa_merge_stack_free(&s->st);
    free(s);
}

static void merged_free(merged_t *m)
{
    msite_t *s, *tmp;
    HASH_ITER(hh, m->sites, s, tmp)
    {
        HASH_DEL(m->sites, s);
        site_free(s);
    }
    pa_strlist_free(&m->paths);
    free(m->pids);
}

/* The site of view v (made on first sight, with copies of its frames), or NULL (no memory). */
static msite_t *site_get(merged_t *m, const pa_stackview_t *v)
{
    const char *key = pa_str_get((pa_str_t *)&v->key);
    size_t len = strlen(key);
    msite_t *s;
    HASH_FIND(hh, m->sites, key, len, s);
    if (s)
        return s;
    if (!(s = calloc(1, sizeof *s)))
        return NULL;
    s->suppressed_by = -1;
    if (pa_merge_stack_copy(v, &s->st) != PA_OK) {
        free(s);
        return NULL;
    }
    HASH_ADD_KEYPTR(hh, m->sites, s->st.key, len, s);
    return s;
}

/* Adds the groups of one trace. live: the leak report's groups (own live blocks only), lo its
 * options (for --fail-on-leak). */
static int add_trace(merged_t *m, pa_trace_t *t, const pa_suppress_t *supp, bool live,
                     const pa_leaks_opts_t *lo)
{
    pa_symbols_t *syms;
    int rc = pa_symbols_new(t, &syms);
    if (rc != PA_OK)
        return rc;
    pa_groups_t g;
    rc = pa_report_group(t, syms, live, &g);
    if (rc != PA_OK) {
        pa_symbols_free(syms);
        return rc;
    }
    if (live) {
        pa_report_group_suppress(&g, supp);
        pa_leaks_totals_t tot = {0};
        pa_leaks_split_inherited(&g, &tot);
        m->inherited_blocks += tot.inherited_blocks;
        m->inherited_bytes += tot.inherited_bytes;
        if (lo && pa_leaks_failing(t, &g, lo))
            m->failing = true;
    }
    size_t me = m->ntraces + 1;
    pa_stackview_t v = {0};
    for (size_t i = 0; rc == PA_OK && i < g.n; i++) {
        const pa_group_t *x = g.items[i];
        if (live && !x->live_blocks)
            continue;
        /* the view with its key (a printed group's view has none): sites are keyed by it */
        if ((rc = pa_report_stack_view(g.t, g.syms, x->shown_stack_id,
                                       PA_HIDE_ALLOCATOR | PA_HIDE_SHIM, &v)) != PA_OK)
            break;
        msite_t *s = site_get(m, &v);
        if (!s) {
            rc = PA_ENOMEM;
            break;
        }
        if (s->last_trace != me) {
            s->last_trace = me;
            s->processes++;
        }
        if (x->suppressed_by >= 0)
            s->suppressed_by = x->suppressed_by;
        s->allocs += x->allocs;
        s->alloc_bytes += x->alloc_bytes;
        s->frees += x->frees;
        s->freed_bytes += x->freed_bytes;
        s->live_blocks += x->live_blocks;
        s->live_bytes += x->live_bytes;
        s->stacks += x->stacks;
    }
    pa_report_stack_view_free(&v);
    pa_report_groups_free(&g);
    pa_symbols_free(syms);
    if (rc == PA_OK) {
        if (pa_util_grow((void **)&m->pids, &m->pids_cap, m->ntraces + 1, sizeof *m->pids) ||
            pa_strlist_add(&m->paths, t->path) != PA_OK)
            return PA_ENOMEM;
        m->pids[m->ntraces++] = t->process.pid;
        if (pa_report_est(t)[0])
            m->sampled = true;
    }
    return rc;
}

static int merge_files(char *const *paths, size_t n, const pa_at_t *at, bool quiet,
                       const pa_suppress_t *supp, bool live, const pa_leaks_opts_t *lo, merged_t *m)
{
    int first_err = PA_OK;
    for (size_t i = 0; i < n; i++) {
        pa_trace_t t;
        int rc = pa_model_load_at(paths[i], quiet, at, &t);
        if (rc == PA_OK) {
            rc = add_trace(m, &t, supp, live, lo);
            if (rc == PA_ENOMEM)
                pa_msg_error("%s: out of memory while merging", paths[i]);
            pa_model_free(&t);
        }
        if (rc != PA_OK && first_err == PA_OK)
            first_err = rc;
    }
    return first_err;
}

/* The sites, sorted: by live bytes (leaks) or allocated bytes (summary), then the key. */
static bool by_live;

static int cmp_site(const void *pa, const void *pb)
{
    const msite_t *a = *(msite_t *const *)pa, *b = *(msite_t *const *)pb;
    uint64_t x = by_live ? a->live_bytes : a->alloc_bytes,
             y = by_live ? b->live_bytes : b->alloc_bytes;
    if (x != y)
        return x > y ? -1 : 1;
    x = by_live ? a->live_blocks : a->allocs;
    y = by_live ? b->live_blocks : b->allocs;
    if (x != y)
        return x > y ? -1 : 1;
    return strcmp(a->st.key, b->st.key);
}

static msite_t **sorted(merged_t *m, bool live, size_t *n)
{
    *n = HASH_COUNT(m->sites);
    msite_t **v = malloc((*n ? *n : 1) * sizeof *v);
    if (!v)
        return NULL;
    size_t k = 0;
    for (msite_t *s = m->sites; s; s = s->hh.next)
        v[k++] = s;
    by_live = live;
    qsort(v, *n, sizeof *v, cmp_site);
    return v;
}

bool pa_merge_ends_with_run(double start, double last, double t1, double dt)
{
    double lived = last - start;
    return t1 - last <= (dt > 0.1 * lived ? dt : 0.1 * lived);
}

void pa_merge_header_text(FILE *out, const char *title, size_t ntraces, const uint64_t *pids,
                          bool sampled)
{
    fprintf(out, "%s, merged over %zu %s (pids", title, ntraces,
            ntraces == 1 ? "process" : "processes");
    for (size_t i = 0; i < ntraces && i < 16; i++)
        fprintf(out, " %llu", (unsigned long long)pids[i]);
    fputs(ntraces > 16 ? " ...)\n" : ")\n", out);
    if (sampled)
        fputs("  some traces were sampled (PERFSHIM_SAMPLE): their figures are estimates\n", out);
}

void pa_merge_header_json(pa_json_t *j, const char *format, const pa_strlist_t *paths,
                          const uint64_t *pids, bool sampled)
{
    pa_json_key(j, "format");
    pa_json_string(j, format);
    pa_json_key(j, "version");
    pa_json_u64(j, 1);
    pa_json_key(j, "traces");
    pa_json_array_begin(j, false);
    for (size_t i = 0; i < paths->n; i++) {
        pa_json_object_begin(j, true);
        pa_json_key(j, "trace");
        pa_json_string(j, paths->items[i]);
        pa_json_key(j, "pid");
        pa_json_u64(j, pids[i]);
        pa_json_object_end(j);
    }
    pa_json_array_end(j);
    pa_json_key(j, "estimated");
    pa_json_bool(j, sampled);
}

static void traces_text(FILE *out, const merged_t *m, const char *title)
{
    pa_merge_header_text(out, title, m->ntraces, m->pids, m->sampled);
}

static void traces_json(pa_json_t *j, const merged_t *m, const char *format)
{
    pa_merge_header_json(j, format, &m->paths, m->pids, m->sampled);
}

static void frames_text(FILE *out, const msite_t *s, bool all_frames)
{
    pa_report_frames_text_n(out, s->st.note, s->st.frames, s->st.nframes, "    ", all_frames);
}

static void stack_json(pa_json_t *j, const msite_t *s)
{
    pa_report_stack_json(j, s->st.note, s->st.frames, s->st.nframes);
}

/* ---- leaks --merge ----------------------------------------------------------------------------
 */

static void leak_json(pa_json_t *j, const msite_t *s, const pa_suppress_t *supp)
{
    pa_json_object_begin(j, false);
    pa_json_key(j, "blocks");
    pa_json_u64(j, s->live_blocks);
    pa_json_key(j, "bytes");
    pa_json_u64(j, s->live_bytes);
    pa_json_key(j, "allocs");
    pa_json_u64(j, s->allocs);
    pa_json_key(j, "processes");
    pa_json_u64(j, s->processes);
    pa_json_key(j, "stacks");
    pa_json_u64(j, s->stacks);
    if (s->suppressed_by >= 0) {
        pa_json_key(j, "suppressed_by");
        pa_json_string(j, supp->patterns.items[s->suppressed_by]);
        pa_json_key(j, "suppression_origin");
        pa_json_string(j, supp->origins.items[s->suppressed_by]);
    }
    stack_json(j, s);
    pa_json_object_end(j);
}

int pa_merge_leaks(char *const *paths, size_t n, const pa_leaks_opts_t *o, FILE *out, bool *leaked)
{
    merged_t m = {0};
    *leaked = false;
    int rc = merge_files(paths, n, &o->at, o->quiet, o->supp, true, o, &m);
    size_t ns = 0;
    msite_t **v = m.ntraces ? sorted(&m, true, &ns) : NULL;
    if (m.ntraces && !v) {
        merged_free(&m);
        return PA_ENOMEM;
    }
    uint64_t lb = 0, ln = 0, sb = 0, sn = 0;
    size_t nl = 0, nsup = 0;
    for (size_t i = 0; i < ns; i++) {
        if (v[i]->suppressed_by >= 0) {
            nsup++;
            sb += v[i]->live_blocks;
            sn += v[i]->live_bytes;
        } else {
            nl++;
            lb += v[i]->live_blocks;
            ln += v[i]->live_bytes;
        }
    }
    *leaked = m.failing; /* as each trace's own report counts: with its leak classes */
    if (!m.ntraces) {
        /* nothing could be read: the loader said why */
    } else if (o->json) {
        pa_json_t j;
        pa_json_init(&j, out);
        pa_json_object_begin(&j, false);
        traces_json(&j, &m, "perfshim-leaks-merged");
        pa_json_key(&j, "totals");
        pa_json_object_begin(&j, false);
        pa_json_key(&j, "leaked_blocks");
        pa_json_u64(&j, lb);
        pa_json_key(&j, "leaked_bytes");
        pa_json_u64(&j, ln);
        pa_json_key(&j, "suppressed_blocks");
        pa_json_u64(&j, sb);
        pa_json_key(&j, "suppressed_bytes");
        pa_json_u64(&j, sn);
        pa_json_key(&j, "inherited_blocks");
        pa_json_u64(&j, m.inherited_blocks);
        pa_json_key(&j, "inherited_bytes");
        pa_json_u64(&j, m.inherited_bytes);
        pa_json_key(&j, "leaks");
        pa_json_u64(&j, nl);
        pa_json_key(&j, "suppressed_leaks");
        pa_json_u64(&j, nsup);
        pa_json_object_end(&j);
        for (int pass = 0; pass < 2; pass++) {
            pa_json_key(&j, pass ? "suppressed" : "leaks");
            pa_json_array_begin(&j, false);
            size_t shown = 0;
            for (size_t i = 0; i < ns; i++) {
                if ((v[i]->suppressed_by >= 0) != (pass == 1))
                    continue;
                if (!pass && o->top && shown++ >= o->top)
                    break;
                leak_json(&j, v[i], o->supp);
            }
            pa_json_array_end(&j);
        }
        pa_json_object_end(&j);
        pa_json_finish(&j);
    } else {
        traces_text(out, &m, "perfshim leak report");
        size_t shown = 0;
        for (size_t i = 0; i < ns; i++) {
            const msite_t *s = v[i];
            if (s->suppressed_by >= 0)
                continue;
            if (o->top && shown >= o->top)
                break;
            shown++;
            fprintf(out, "\nLeak %zu of %zu: %llu %s in %llu %s, from %llu of %zu processes\n",
                    shown, nl, (unsigned long long)s->live_bytes,
                    s->live_bytes == 1 ? "byte" : "bytes", (unsigned long long)s->live_blocks,
                    s->live_blocks == 1 ? "block" : "blocks", (unsigned long long)s->processes,
                    m.ntraces);
            frames_text(out, s, o->all_frames);
        }
        fputc('\n', out);
        if (!nl)
            fprintf(out, "SUMMARY: no leaks\n");
        else
            fprintf(out, "SUMMARY: %llu %s leaked in %llu %s (%zu %s) by %zu %s\n",
                    (unsigned long long)ln, ln == 1 ? "byte" : "bytes", (unsigned long long)lb,
                    lb == 1 ? "block" : "blocks", nl, nl == 1 ? "site" : "sites", m.ntraces,
                    m.ntraces == 1 ? "process" : "processes");
        if (shown < nl)
            fprintf(out, "  (the %zu largest shown; --top 0 shows all)\n", shown);
        if (nsup)
            fprintf(out,
                    "  suppressed: %llu bytes in %llu blocks (%zu sites) matched suppressions\n",
                    (unsigned long long)sn, (unsigned long long)sb, nsup);
        if (m.inherited_blocks)
            fprintf(out,
                    "  inherited: %llu bytes in %llu blocks that forked children held from their "
                    "parents (not counted)\n",
                    (unsigned long long)m.inherited_bytes, (unsigned long long)m.inherited_blocks);
    }
    free(v);
    merged_free(&m);
    return rc;
}

/* ---- summary --merge --------------------------------------------------------------------------
 */

int pa_merge_summary(char *const *paths, size_t n, const pa_summary_opts_t *o, FILE *out)
{
    merged_t m = {0};
    int rc = merge_files(paths, n, &o->at, o->quiet, NULL, false, NULL, &m);
    size_t ns = 0;
    msite_t **v = m.ntraces ? sorted(&m, false, &ns) : NULL;
    if (m.ntraces && !v) {
        merged_free(&m);
        return PA_ENOMEM;
    }
    uint64_t tot[6] = {0}; /* allocs, alloc_bytes, frees, freed_bytes, live_blocks, live_bytes */
    for (size_t i = 0; i < ns; i++) {
        tot[0] += v[i]->allocs;
        tot[1] += v[i]->alloc_bytes;
        tot[2] += v[i]->frees;
        tot[3] += v[i]->freed_bytes;
        tot[4] += v[i]->live_blocks;
        tot[5] += v[i]->live_bytes;
    }
    static const char *const names[6] = {"allocs",      "alloc_bytes", "frees",
                                         "freed_bytes", "live_blocks", "live_bytes"};
    size_t top = o->top && o->top < ns ? (size_t)o->top : ns;
    if (!m.ntraces) {
        /* nothing could be read: the loader said why */
    } else if (o->json) {
        pa_json_t j;
        pa_json_init(&j, out);
        pa_json_object_begin(&j, false);
        traces_json(&j, &m, "perfshim-summary-merged");
        pa_json_key(&j, "totals");
        pa_json_object_begin(&j, false);
        for (int k = 0; k < 6; k++) {
            pa_json_key(&j, names[k]);
            pa_json_u64(&j, tot[k]);
        }
        pa_json_key(&j, "sites");
        pa_json_u64(&j, ns);
        pa_json_object_end(&j);
        pa_json_key(&j, "sites");
        pa_json_array_begin(&j, false);
        for (size_t i = 0; i < top; i++) {
            const msite_t *s = v[i];
            pa_json_object_begin(&j, false);
            pa_json_key(&j, "allocs");
            pa_json_u64(&j, s->allocs);
            pa_json_key(&j, "bytes");
            pa_json_u64(&j, s->alloc_bytes);
            pa_json_key(&j, "frees");
            pa_json_u64(&j, s->frees);
            pa_json_key(&j, "freed_bytes");
            pa_json_u64(&j, s->freed_bytes);
            pa_json_key(&j, "live_blocks");
            pa_json_u64(&j, s->live_blocks);
            pa_json_key(&j, "live_bytes");
            pa_json_u64(&j, s->live_bytes);
            pa_json_key(&j, "processes");
            pa_json_u64(&j, s->processes);
            pa_json_key(&j, "stacks");
            pa_json_u64(&j, s->stacks);
            stack_json(&j, s);
            pa_json_object_end(&j);
        }
        pa_json_array_end(&j);
        pa_json_object_end(&j);
        pa_json_finish(&j);
    } else {
        traces_text(out, &m, "perfshim summary");
        fprintf(out,
                "  allocated %llu bytes in %llu blocks, freed %llu in %llu; live %llu bytes in "
                "%llu blocks\n",
                (unsigned long long)tot[1], (unsigned long long)tot[0], (unsigned long long)tot[3],
                (unsigned long long)tot[2], (unsigned long long)tot[5], (unsigned long long)tot[4]);
        fprintf(out, "\nTop allocation sites (%zu of %zu, by bytes allocated):\n", top, ns);
        for (size_t i = 0; i < top; i++) {
            const msite_t *s = v[i];
            fprintf(out,
                    "\n%zu. %llu bytes in %llu allocations, %llu bytes live, from %llu of %zu "
                    "processes\n",
                    i + 1, (unsigned long long)s->alloc_bytes, (unsigned long long)s->allocs,
                    (unsigned long long)s->live_bytes, (unsigned long long)s->processes, m.ntraces);
            frames_text(out, s, o->all_frames);
        }
    }
    free(v);
    merged_free(&m);
    return rc;
}

/* ---- for other reports over many traces (diff.c) ----------------------------------------------
 */

int pa_merge_copy_view(const pa_stackview_t *v, pa_frame_t **frames, size_t *n, char **note)
{
    pa_merge_stack_t tmp = {0};
    bool failed = false;
    tmp.note = dup_or_null(v->note, &failed);
    if (v->nframes && !(tmp.frames = calloc(v->nframes, sizeof *tmp.frames)))
        failed = true;
    for (size_t i = 0; !failed && i < v->nframes; i++) {
        pa_frame_t *f = &tmp.frames[i];
        *f = v->frames[i];
        f->function = dup_or_null(f->function, &failed);
        f->file = dup_or_null(f->file, &failed);
        f->module = dup_or_null(f->module, &failed);
        tmp.nframes = i + 1;
    }
    if (failed) {
        pa_merge_free_frames(tmp.frames, tmp.nframes, tmp.note);
        return PA_ENOMEM;
    }
    *frames = tmp.frames;
    *n = tmp.nframes;
    *note = tmp.note;
    return PA_OK;
}

void pa_merge_free_frames(pa_frame_t *frames, size_t n, char *note)
{
    for (size_t i = 0; i < n; i++) {
        free((char *)frames[i].function);
        free((char *)frames[i].file);
        free((char *)frames[i].module);
    }
    free(frames);
    free(note);
}
