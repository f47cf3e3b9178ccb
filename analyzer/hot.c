/* SPDX-License-Identifier: MIT */
/*
 * hot.c — `perfshim hot`: where the time goes, text and JSON (docs/analyzer.md).
 *
 * Sections, each present when the trace has its chunk:
 *   - CPU samples (PERFSHIM_CPU_HZ): by function, "self" (the sampled instruction is in it) and
 *     "total" (it is anywhere on the stack, counted once per sample), then by whole stack;
 *   - allocator latency (PERFSHIM_LATENCY_SAMPLE): per operation and size bin, mean and
 *     percentiles (hist.h gives their error bound), plus the slow-path event counters;
 *   - zones (perfshim_zone_begin/end): count, total, mean and percentiles per zone;
 *   - threads: name, creator, lifetime, CPU time, where each was created.
 * CPU stacks keep the shim's own frames: time spent inside the allocator is the program's.
 */
#include "hot.h"

#include "hist.h"
#include "report.h"
#include "symbols.h"

#include "trace_format.h"

#include <stdlib.h>
#include <string.h>

const char *pa_hot_op_name(uint32_t op)
{
    switch (op) {
    case PS_LAT_MALLOC:
        return "malloc";
    case PS_LAT_FREE:
        return "free";
    case PS_LAT_REALLOC:
        return "realloc";
    default:
        return "unknown";
    }
}

static int cmp_u64_desc(uint64_t a, uint64_t b)
{
    return a > b ? -1 : a < b ? 1 : 0;
}

static size_t shown(uint64_t top, size_t n)
{
    return top && top < n ? (size_t)top : n;
}

static double pct(uint64_t part, uint64_t whole)
{
    return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

/* ---- CPU samples: aggregation -------------------------------------------------------------- */

typedef struct {
    char *key;
    const char *function; /* NULL: unresolved, grouped by module */
    const char *file;     /* of the first frame seen */
    const char *module;
    uint64_t self, total;
    size_t last_row; /* row that last added to total, + 1 */
    UT_hash_handle hh;
} func_t;

typedef struct {
    char *key;
    pa_frame_t *frames;
    size_t nframes;
    const char *note;
    uint64_t samples, threads, stacks;
    UT_hash_handle hh;
} cpu_stack_t;

typedef struct {
    func_t *ftable;
    func_t **funcs;
    size_t nfuncs, fcap;
    cpu_stack_t *stable;
    cpu_stack_t **stacks;
    size_t nstacks, scap;
    uint64_t samples; /* in rows */
} cpu_agg_t;

static func_t *func_get(cpu_agg_t *a, const pa_frame_t *f, pa_str_t *key)
{
    key->len = 0;
    if (key->s)
        key->s[0] = 0;
    if (f->function)
        pa_str_printf(key, "%s\x1f%s", f->function, f->module);
    else
        pa_str_printf(key, "\x01%s", f->module);
    if (key->failed)
        return NULL;
    func_t *x;
    HASH_FIND_STR(a->ftable, pa_str_get(key), x);
    if (x)
        return x;
    if (pa_util_grow((void **)&a->funcs, &a->fcap, a->nfuncs + 1, sizeof *a->funcs) != PA_OK ||
        !(x = calloc(1, sizeof *x)))
        return NULL;
    if (!(x->key = pa_util_strdup(pa_str_get(key)))) {
        free(x);
        return NULL;
    }
    x->function = f->function;
    x->file = f->file;
    x->module = f->module;
    HASH_ADD_KEYPTR(hh, a->ftable, x->key, strlen(x->key), x);
    a->funcs[a->nfuncs++] = x;
    return x;
}

/* Functions by self samples (by_total: by total samples), the other count breaking ties. */
static int cmp_func_by(const void *pa, const void *pb, int by_total)
{
    const func_t *a = *(func_t *const *)pa, *b = *(func_t *const *)pb;
    uint64_t a1 = by_total ? a->total : a->self, b1 = by_total ? b->total : b->self;
    uint64_t a2 = by_total ? a->self : a->total, b2 = by_total ? b->self : b->total;
    int c = cmp_u64_desc(a1, b1);
    if (!c)
        c = cmp_u64_desc(a2, b2);
    return c ? c : strcmp(a->key, b->key);
}

static int cmp_func(const void *pa, const void *pb)
{
    return cmp_func_by(pa, pb, 0);
}

static int cmp_func_total(const void *pa, const void *pb)
{
    return cmp_func_by(pa, pb, 1);
}

static int cmp_cpu_stack(const void *pa, const void *pb)
{
    const cpu_stack_t *a = *(cpu_stack_t *const *)pa, *b = *(cpu_stack_t *const *)pb;
    int c = cmp_u64_desc(a->samples, b->samples);
    return c ? c : strcmp(a->key, b->key);
}

static void cpu_agg_free(cpu_agg_t *a)
{
    func_t *f, *ft;
    HASH_ITER(hh, a->ftable, f, ft)
    {
        HASH_DEL(a->ftable, f);
        free(f->key);
        free(f);
    }
    cpu_stack_t *s, *st;
    HASH_ITER(hh, a->stable, s, st)
    {
        HASH_DEL(a->stable, s);
        free(s->key);
        free(s->frames);
        free(s);
    }
    free(a->funcs);
    free(a->stacks);
    memset(a, 0, sizeof *a);
}

static int cpu_stack_add(cpu_agg_t *a, const pa_stackview_t *v, const pa_cpu_row_t *r)
{
    const char *key = pa_str_get(&v->key);
    cpu_stack_t *s;
    HASH_FIND_STR(a->stable, key, s);
    if (!s) {
        if (pa_util_grow((void **)&a->stacks, &a->scap, a->nstacks + 1, sizeof *a->stacks) !=
                PA_OK ||
            !(s = calloc(1, sizeof *s)))
            return PA_ENOMEM;
        s->key = pa_util_strdup(key);
        s->frames = malloc((v->nframes ? v->nframes : 1) * sizeof *s->frames);
        if (!s->key || !s->frames) {
            free(s->key);
            free(s->frames);
            free(s);
            return PA_ENOMEM;
        }
        if (v->nframes)
            memcpy(s->frames, v->frames, v->nframes * sizeof *s->frames);
        s->nframes = v->nframes;
        s->note = v->note;
        HASH_ADD_KEYPTR(hh, a->stable, s->key, strlen(s->key), s);
        a->stacks[a->nstacks++] = s;
    }
    s->samples += r->samples;
    s->threads += r->threads;
    s->stacks++;
    return PA_OK;
}

static int cpu_aggregate(pa_trace_t *t, pa_symbols_t *syms, cpu_agg_t *a)
{
    memset(a, 0, sizeof *a);
    pa_stackview_t v = {0};
    pa_str_t key = {0};
    int rc = PA_OK;
    for (size_t r = 0; r < t->cpu.n && rc == PA_OK; r++) {
        const pa_cpu_row_t *row = &t->cpu.rows[r];
        a->samples += row->samples;
        if ((rc = pa_report_stack_view(t, syms, row->stack_id, 0, &v)) != PA_OK)
            break;
        if ((rc = cpu_stack_add(a, &v, row)) != PA_OK)
            break;
        for (size_t i = 0; i < v.nframes; i++) {
            func_t *f = func_get(a, &v.frames[i], &key);
            if (!f) {
                rc = PA_ENOMEM;
                break;
            }
            if (i == 0)
                f->self += row->samples;
            if (f->last_row != r + 1) { /* once per stack, however deep the recursion */
                f->total += row->samples;
                f->last_row = r + 1;
            }
        }
    }
    pa_report_stack_view_free(&v);
    pa_str_free(&key);
    if (rc != PA_OK) {
        cpu_agg_free(a);
        return rc;
    }
    if (a->nfuncs)
        qsort(a->funcs, a->nfuncs, sizeof *a->funcs, cmp_func);
    if (a->nstacks)
        qsort(a->stacks, a->nstacks, sizeof *a->stacks, cmp_cpu_stack);
    return PA_OK;
}

static const char *func_name(const func_t *f, char *buf, size_t size)
{
    if (f->function)
        snprintf(buf, size, "%s", f->function);
    else if (f->module && f->module[0] == '[')
        snprintf(buf, size, "%s", f->module); /* "[unknown]": in no module (JIT code) */
    else
        snprintf(buf, size, "[%s]", pa_util_basename(f->module));
    return buf;
}

/* ---- text ---------------------------------------------------------------------------------- */

static void cpu_text(FILE *out, const pa_trace_t *t, cpu_agg_t *a, const pa_hot_opts_t *o)
{
    const pa_cpu_t *c = &t->cpu;
    char b1[32];
    fprintf(out, "\nCPU samples: %llu at %u Hz of each thread's CPU time (about %s of CPU)",
            (unsigned long long)a->samples, c->hz,
            pa_util_format_ns(c->hz ? (double)a->samples * 1e9 / c->hz : 0.0, b1, sizeof b1));
    if (c->dropped || c->partial)
        fprintf(out, "; %llu lost (buffer full), %llu stacks cut short",
                (unsigned long long)c->dropped, (unsigned long long)c->partial);
    fputc('\n', out);
    if (!a->samples) {
        fputs("  (no sample: the program used less CPU time than one sampling period)\n", out);
        return;
    }
    size_t n = shown(o->top, a->nfuncs);
    fprintf(out, "\n  By function (top %zu of %zu):\n", n, a->nfuncs);
    fprintf(out, "    %8s %6s %8s %6s  %s\n", "self", "", "total", "", "function");
    for (size_t i = 0; i < n; i++) {
        const func_t *f = a->funcs[i];
        char name[512], where[256] = "";
        if (f->function && f->file)
            snprintf(where, sizeof where, " (%s)", pa_util_basename(f->file));
        else if (f->function)
            snprintf(where, sizeof where, " (%s)", pa_util_basename(f->module));
        fprintf(out, "    %8llu %5.1f%% %8llu %5.1f%%  ", (unsigned long long)f->self,
                pct(f->self, a->samples), (unsigned long long)f->total, pct(f->total, a->samples));
        pa_util_fputs_safe(out, func_name(f, name, sizeof name));
        pa_util_fputs_safe(out, where);
        fputc('\n', out);
    }
    size_t ns = shown(o->top < 10 && o->top ? o->top : 10, a->nstacks);
    fprintf(out, "\n  By stack (top %zu of %zu):\n", ns, a->nstacks);
    for (size_t i = 0; i < ns; i++) {
        const cpu_stack_t *s = a->stacks[i];
        fprintf(out, "    %zu. %llu samples (%.1f%%)\n", i + 1, (unsigned long long)s->samples,
                pct(s->samples, a->samples));
        pa_report_frames_text_n(out, s->note, s->frames, s->nframes, "        ", o->all_frames);
    }
}

/* The shim's size bins end at powers of two: "<= 128 B", "<= 4 KiB", "> 1 MiB". */
static void size_bin_name(uint32_t size_max, char *buf, size_t size)
{
    if (size_max == UINT32_MAX)
        snprintf(buf, size, "> 1 MiB");
    else if (size_max >= (1u << 20) && size_max % (1u << 20) == 0)
        snprintf(buf, size, "<= %u MiB", size_max >> 20);
    else if (size_max >= 1024 && size_max % 1024 == 0)
        snprintf(buf, size, "<= %u KiB", size_max >> 10);
    else
        snprintf(buf, size, "<= %u B", size_max);
}

/* Pointers to the n elements (elem bytes each) of base, sorted with cmp, which receives
 * pointers to two of those pointers. NULL when out of memory. */
static const void **sorted(const void *base, size_t n, size_t elem,
                           int (*cmp)(const void *, const void *))
{
    const void **v = malloc((n ? n : 1) * sizeof *v);
    if (!v)
        return NULL;
    for (size_t i = 0; i < n; i++)
        v[i] = (const char *)base + i * elem;
    if (n)
        qsort(v, n, sizeof *v, cmp);
    return v;
}

static int cmp_latency_row(const void *pa, const void *pb)
{
    const pa_latency_row_t *a = *(const void *const *)pa, *b = *(const void *const *)pb;
    if (a->op != b->op)
        return a->op < b->op ? -1 : 1;
    return a->size_max < b->size_max ? -1 : a->size_max > b->size_max;
}

/* One histogram as a table row: timed, mean, p50, p95, p99, max. */
static void hist_cells_text(FILE *out, const pa_hist_t *h, uint64_t hz)
{
    char m[32], p50[32], p95[32], p99[32], mx[32];
    fprintf(out, " %10llu %9s %9s %9s %9s %9s", (unsigned long long)h->count,
            pa_util_format_ns(pa_hist_mean(h) * 1e9 / (double)hz, m, sizeof m),
            pa_util_format_ns((double)pa_hist_ns(pa_hist_percentile(h, 0.50), hz), p50, sizeof p50),
            pa_util_format_ns((double)pa_hist_ns(pa_hist_percentile(h, 0.95), hz), p95, sizeof p95),
            pa_util_format_ns((double)pa_hist_ns(pa_hist_percentile(h, 0.99), hz), p99, sizeof p99),
            pa_util_format_ns((double)pa_hist_ns(h->max, hz), mx, sizeof mx));
}

static int latency_text(FILE *out, const pa_trace_t *t)
{
    const pa_latency_t *l = &t->latency;
    char b1[32];
    const void **rows = sorted(l->rows, l->nrows, sizeof *l->rows, cmp_latency_row);
    if (!rows)
        return PA_ENOMEM;
    fprintf(out,
            "\nAllocator latency: 1 call in %u per thread timed (PERFSHIM_LATENCY_SAMPLE), the "
            "allocator's own work; percentiles within %.1f%%\n",
            l->sample, 100.0 * PA_HIST_ERROR);
    fprintf(out, "    %-8s %-11s %10s %9s %9s %9s %9s %9s\n", "op", "size", "timed", "mean", "p50",
            "p95", "p99", "max");
    for (size_t i = 0; i < l->nrows; i++) {
        const pa_latency_row_t *r = rows[i];
        char bin[32];
        size_bin_name(r->size_max, bin, sizeof bin);
        fprintf(out, "    %-8s %-11s", pa_hot_op_name(r->op), bin);
        hist_cells_text(out, &r->hist, l->tick_hz);
        fputc('\n', out);
    }
    if (!l->nrows)
        fputs("    (no call timed yet)\n", out);
    uint64_t calls = l->pooled + l->forwarded;
    fprintf(out,
            "  calls: %llu served by the pool (%.1f%%), %llu passed to the C library (%llu of "
            "them >= 128 KiB, usually mmap)\n",
            (unsigned long long)l->pooled, pct(l->pooled, calls), (unsigned long long)l->forwarded,
            (unsigned long long)l->forwarded_large);
    fprintf(out, "  pool slow paths: %llu refills, %llu flushes; %s of slab memory committed\n",
            (unsigned long long)l->pool_refills, (unsigned long long)l->pool_flushes,
            pa_util_format_bytes(l->pool_commits, b1, sizeof b1));
    free(rows);
    return PA_OK;
}

static int cmp_zone(const void *pa, const void *pb)
{
    const pa_zone_t *a = *(const void *const *)pa, *b = *(const void *const *)pb;
    int c = cmp_u64_desc(a->hist.sum, b->hist.sum);
    return c ? c : strcmp(a->name, b->name);
}

static int zones_text(FILE *out, const pa_trace_t *t, const pa_hot_opts_t *o)
{
    const pa_zones_t *z = &t->zones;
    const void **v = sorted(z->zones, z->n, sizeof *z->zones, cmp_zone);
    if (!v)
        return PA_ENOMEM;
    size_t n = shown(o->top, z->n);
    fprintf(out, "\nZones by total time (%zu of %zu; percentiles within %.1f%%):\n", n, z->n,
            100.0 * PA_HIST_ERROR);
    fprintf(out, "    %-24s %10s %9s %9s %9s %9s %9s %9s %5s\n", "zone", "count", "mean", "p50",
            "p95", "p99", "max", "total", "depth");
    for (size_t i = 0; i < n; i++) {
        const pa_zone_t *zone = v[i];
        char name[128], tot[32];
        fprintf(out, "    %-24s", pa_util_printable(zone->name, name, sizeof name));
        hist_cells_text(out, &zone->hist, z->tick_hz);
        fprintf(out, " %9s %5u\n",
                pa_util_format_ns((double)pa_hist_ns(zone->hist.sum, z->tick_hz), tot, sizeof tot),
                zone->max_depth);
    }
    if (z->unmatched_ends || z->too_deep || z->dropped)
        fprintf(out,
                "  problems: %llu perfshim_zone_end() without a begin, %llu begins nested deeper "
                "than 64, %llu zones not kept (more than 1024 names)\n",
                (unsigned long long)z->unmatched_ends, (unsigned long long)z->too_deep,
                (unsigned long long)z->dropped);
    free(v);
    return PA_OK;
}

static int cmp_thread(const void *pa, const void *pb)
{
    const pa_thread_t *a = *(const void *const *)pa, *b = *(const void *const *)pb;
    int c = cmp_u64_desc(a->cpu_ns, b->cpu_ns);
    if (!c)
        c = a->start_ns < b->start_ns ? -1 : a->start_ns > b->start_ns;
    return c ? c : (a->tid < b->tid ? -1 : a->tid > b->tid);
}

/* The function at a start routine's address (a function entry, not a return address: the
 * symbolizer looks up address - 1, so it is given address + 1 and the frame put back). */
static const pa_frame_t *routine_frame(pa_symbols_t *syms, uint64_t addr, pa_frame_t *out)
{
    const pa_frame_t *f;
    size_t n;
    if (!addr || pa_symbols_lookup(syms, addr + 1, &f, &n) != PA_OK || !n)
        return NULL;
    *out = f[n - 1]; /* the outermost: the function itself, not what was inlined into it */
    out->address = addr;
    out->offset -= 1;
    out->inlined = false;
    return out;
}

static uint64_t lifetime_ns(const pa_trace_t *t, const pa_thread_t *r)
{
    uint64_t end = r->end_ns ? r->end_ns : t->threads.time_ns;
    return end > r->start_ns ? end - r->start_ns : 0;
}

static int threads_text(FILE *out, pa_trace_t *t, pa_symbols_t *syms, const pa_hot_opts_t *o)
{
    const pa_threads_t *th = &t->threads;
    const void **v = sorted(th->threads, th->n, sizeof *th->threads, cmp_thread);
    if (!v)
        return PA_ENOMEM;
    pa_stackview_t sv = {0};
    int rc = PA_OK;
    size_t n = shown(o->top, th->n);
    fprintf(out, "\nThreads by CPU time (%zu of %zu; %llu created with pthread_create", n, th->n,
            (unsigned long long)th->created);
    if (th->dropped)
        fprintf(out, ", %llu not kept", (unsigned long long)th->dropped);
    fputs("):\n", out);
    fprintf(out, "    %-8s %-16s %-8s %10s %10s  %s\n", "tid", "name", "creator", "lifetime", "CPU",
            "started");
    for (size_t i = 0; i < n && rc == PA_OK; i++) {
        const pa_thread_t *r = v[i];
        char name[32], life[32], cpu[32], creator[16];
        snprintf(creator, sizeof creator, "%u", r->creator_tid);
        const char *what;
        char where[512] = "";
        if (r->flags & PS_THREAD_F_MAIN) {
            what = "main thread";
        } else {
            what = r->flags & PS_THREAD_F_EXITED ? "exited" : "running";
            pa_frame_t rbuf;
            const pa_frame_t *rf = routine_frame(syms, r->start_routine, &rbuf);
            if ((rc = pa_report_stack_view(t, syms, r->start_stack, PA_HIDE_SHIM, &sv)) != PA_OK)
                break;
            const pa_frame_t *cf = sv.nframes ? &sv.frames[0] : NULL;
            char b1[256], b2[256];
            snprintf(where, sizeof where, "; runs %s, created in %s",
                     pa_report_frame_brief(rf, b1, sizeof b1),
                     pa_report_frame_brief(cf, b2, sizeof b2));
        }
        fprintf(out, "    %-8u %-16s %-8s %10s %10s  %s%s\n", r->tid,
                pa_util_printable(r->name, name, sizeof name),
                r->flags & PS_THREAD_F_MAIN ? "-" : creator,
                pa_util_format_ns((double)lifetime_ns(t, r), life, sizeof life),
                pa_util_format_ns((double)r->cpu_ns, cpu, sizeof cpu), what,
                pa_util_printable(where, where, sizeof where));
    }
    pa_report_stack_view_free(&sv);
    free(v);
    return rc;
}

static int write_text(FILE *out, pa_trace_t *t, pa_symbols_t *syms, const pa_hot_opts_t *o)
{
    pa_report_header_text(out, t, "perfshim hot-path report");
    pa_report_status_text(out, t);
    int rc = PA_OK;
    if (t->has_cpu) {
        cpu_agg_t a;
        if ((rc = cpu_aggregate(t, syms, &a)) != PA_OK)
            return rc;
        cpu_text(out, t, &a, o);
        cpu_agg_free(&a);
    }
    if (t->has_latency && (rc = latency_text(out, t)) != PA_OK)
        return rc;
    if (t->has_zones && (rc = zones_text(out, t, o)) != PA_OK)
        return rc;
    if (t->has_threads && (rc = threads_text(out, t, syms, o)) != PA_OK)
        return rc;
    if (!t->has_cpu && !t->has_latency && !t->has_zones)
        fputs("\nNo CPU samples, allocator latency or zones in this trace: set PERFSHIM_CPU_HZ "
              "(e.g. 1000), PERFSHIM_LATENCY_SAMPLE (e.g. 64), or mark zones with "
              "perfshim_zone_begin/end.\n",
              out);
    return PA_OK;
}

/* ---- JSON ---------------------------------------------------------------------------------- */

static void hist_json(pa_json_t *j, const pa_hist_t *h, uint64_t hz)
{
    pa_json_kv_u64(j, "count", h->count);
    pa_json_kv_u64(j, "total_ns", pa_hist_ns(h->sum, hz));
    pa_json_key(j, "mean_ns");
    pa_json_f64(j, pa_hist_mean(h) * 1e9 / (double)hz);
    pa_json_kv_u64(j, "p50_ns", pa_hist_ns(pa_hist_percentile(h, 0.50), hz));
    pa_json_kv_u64(j, "p95_ns", pa_hist_ns(pa_hist_percentile(h, 0.95), hz));
    pa_json_kv_u64(j, "p99_ns", pa_hist_ns(pa_hist_percentile(h, 0.99), hz));
    pa_json_kv_u64(j, "max_ns", pa_hist_ns(h->max, hz));
}

static void func_json(pa_json_t *j, const func_t *f)
{
    pa_json_object_begin(j, true);
    pa_json_key(j, "function");
    pa_json_string(j, f->function);
    pa_json_key(j, "file");
    pa_json_string(j, f->function ? f->file : NULL);
    pa_json_key(j, "module");
    pa_json_string(j, f->module);
    pa_json_kv_u64(j, "self", f->self);
    pa_json_kv_u64(j, "total", f->total);
    pa_json_object_end(j);
}

static int cpu_json(pa_json_t *j, pa_trace_t *t, pa_symbols_t *syms, const pa_hot_opts_t *o)
{
    pa_json_key(j, "cpu");
    if (!t->has_cpu) {
        pa_json_null(j);
        return PA_OK;
    }
    cpu_agg_t a;
    int rc = cpu_aggregate(t, syms, &a);
    if (rc != PA_OK)
        return rc;
    const pa_cpu_t *c = &t->cpu;
    pa_json_object_begin(j, false);
    PA_ROW_JSON(j, CPU_HEAD, c, time_ns, hz);
    pa_json_kv_u64(j, "samples", a.samples);
    PA_ROW_JSON(j, CPU_HEAD, c, samples, partial); /* samples_taken, dropped, partial */
    size_t n = shown(o->top, a.nfuncs);
    pa_json_key(j, "functions");
    pa_json_array_begin(j, false);
    for (size_t i = 0; i < n; i++)
        func_json(j, a.funcs[i]);
    pa_json_array_end(j);
    /* the top by total is a different list: re-sort in place (the last use of this order) */
    if (a.nfuncs)
        qsort(a.funcs, a.nfuncs, sizeof *a.funcs, cmp_func_total);
    pa_json_key(j, "functions_by_total");
    pa_json_array_begin(j, false);
    for (size_t i = 0; i < n; i++)
        func_json(j, a.funcs[i]);
    pa_json_array_end(j);
    pa_json_key(j, "stacks");
    pa_json_array_begin(j, false);
    size_t ns = shown(o->top, a.nstacks);
    for (size_t i = 0; i < ns; i++) {
        const cpu_stack_t *s = a.stacks[i];
        pa_json_object_begin(j, false);
        pa_json_kv_u64(j, "samples", s->samples);
        pa_json_kv_u64(j, "threads", s->threads);
        pa_json_kv_u64(j, "stacks", s->stacks);
        pa_report_stack_json(j, s->note, s->frames, s->nframes);
        pa_json_object_end(j);
    }
    pa_json_array_end(j);
    pa_json_object_end(j);
    cpu_agg_free(&a);
    return PA_OK;
}

static int latency_json(pa_json_t *j, const pa_trace_t *t)
{
    pa_json_key(j, "latency");
    if (!t->has_latency) {
        pa_json_null(j);
        return PA_OK;
    }
    const pa_latency_t *l = &t->latency;
    const void **rows = sorted(l->rows, l->nrows, sizeof *l->rows, cmp_latency_row);
    if (!rows)
        return PA_ENOMEM;
    pa_json_object_begin(j, false);
    PA_ROW_JSON1(j, LATENCY_HEAD, l, time_ns);
    PA_ROW_JSON1(j, LATENCY_HEAD, l, sample);
    PA_ROW_JSON1(j, LATENCY_HEAD, l, tick_hz);
    pa_json_key(j, "error_bound");
    pa_json_f64(j, PA_HIST_ERROR);
    pa_json_key(j, "events");
    pa_json_object_begin(j, true);
    PA_ROW_JSON(j, LATENCY_HEAD, l, pooled, pool_commits);
    pa_json_object_end(j);
    pa_json_key(j, "rows");
    pa_json_array_begin(j, false);
    for (size_t i = 0; i < l->nrows; i++) {
        const pa_latency_row_t *r = rows[i];
        pa_json_object_begin(j, true);
        pa_json_key(j, "op");
        pa_json_string(j, pa_hot_op_name(r->op));
        pa_json_key(j, "size_max");
        r->size_max == UINT32_MAX ? pa_json_null(j) : pa_json_u64(j, r->size_max);
        hist_json(j, &r->hist, l->tick_hz);
        pa_json_object_end(j);
    }
    pa_json_array_end(j);
    pa_json_object_end(j);
    free(rows);
    return PA_OK;
}

static int zones_json(pa_json_t *j, const pa_trace_t *t, const pa_hot_opts_t *o)
{
    pa_json_key(j, "zones");
    if (!t->has_zones) {
        pa_json_null(j);
        return PA_OK;
    }
    const pa_zones_t *z = &t->zones;
    const void **v = sorted(z->zones, z->n, sizeof *z->zones, cmp_zone);
    if (!v)
        return PA_ENOMEM;
    pa_json_object_begin(j, false);
    PA_ROW_JSON(j, ZONES_HEAD, z, time_ns, tick_hz);
    pa_json_key(j, "error_bound");
    pa_json_f64(j, PA_HIST_ERROR);
    PA_ROW_JSON(j, ZONES_HEAD, z, unmatched_ends, dropped);
    pa_json_key(j, "zones");
    pa_json_array_begin(j, false);
    size_t n = shown(o->top, z->n);
    for (size_t i = 0; i < n; i++) {
        const pa_zone_t *zone = v[i];
        pa_json_object_begin(j, true);
        pa_json_key(j, "name");
        pa_json_string(j, zone->name);
        pa_json_kv_u64(j, "max_depth", zone->max_depth);
        hist_json(j, &zone->hist, z->tick_hz);
        pa_json_object_end(j);
    }
    pa_json_array_end(j);
    pa_json_object_end(j);
    free(v);
    return PA_OK;
}

static int threads_json(pa_json_t *j, pa_trace_t *t, pa_symbols_t *syms, const pa_hot_opts_t *o)
{
    pa_json_key(j, "threads");
    if (!t->has_threads) {
        pa_json_null(j);
        return PA_OK;
    }
    const pa_threads_t *th = &t->threads;
    const void **v = sorted(th->threads, th->n, sizeof *th->threads, cmp_thread);
    if (!v)
        return PA_ENOMEM;
    pa_stackview_t sv = {0};
    int rc = PA_OK;
    pa_json_object_begin(j, false);
    PA_ROW_JSON(j, THREADS_HEAD, th, time_ns, dropped);
    pa_json_key(j, "threads");
    pa_json_array_begin(j, false);
    size_t n = shown(o->top, th->n);
    for (size_t i = 0; i < n && rc == PA_OK; i++) {
        const pa_thread_t *r = v[i];
        pa_json_object_begin(j, false);
        PA_ROW_JSON1(j, THREAD, r, tid);
        PA_ROW_JSON1(j, THREAD, r, name);
        pa_json_kv_bool(j, "main", (r->flags & PS_THREAD_F_MAIN) != 0);
        pa_json_kv_bool(j, "exited", (r->flags & PS_THREAD_F_EXITED) != 0);
        pa_json_key(j, "creator_tid");
        r->flags &PS_THREAD_F_MAIN ? pa_json_null(j) : pa_json_u64(j, r->creator_tid);
        PA_ROW_JSON(j, THREAD, r, start_ns, end_ns);
        pa_json_kv_u64(j, "lifetime_ns", lifetime_ns(t, r));
        PA_ROW_JSON1(j, THREAD, r, cpu_ns);
        pa_frame_t rbuf;
        const pa_frame_t *rf = routine_frame(syms, r->start_routine, &rbuf);
        pa_json_key(j, "start_routine");
        pa_json_string(j, rf ? rf->function : NULL);
        PA_ROW_JSON1(j, THREAD, r, start_routine); /* start_routine_address */
        pa_json_key(j, "start_stack");
        if (r->start_stack) {
            if ((rc = pa_report_stack_view(t, syms, r->start_stack, PA_HIDE_SHIM, &sv)) != PA_OK)
                break;
            pa_report_frames_json_n(j, sv.frames, sv.nframes);
        } else {
            pa_json_array_begin(j, true);
            pa_json_array_end(j);
        }
        pa_json_object_end(j);
    }
    pa_json_array_end(j);
    pa_json_object_end(j);
    pa_report_stack_view_free(&sv);
    free(v);
    return rc;
}

static int write_json(pa_json_t *j, pa_trace_t *t, pa_symbols_t *syms, const pa_hot_opts_t *o)
{
    pa_json_object_begin(j, false);
    pa_json_key(j, "format");
    pa_json_string(j, "perfshim-hot");
    pa_json_kv_u64(j, "version", 1);
    pa_report_process_json(j, t);
    int rc = cpu_json(j, t, syms, o);
    if (rc == PA_OK)
        rc = latency_json(j, t);
    if (rc == PA_OK)
        rc = zones_json(j, t, o);
    if (rc == PA_OK)
        rc = threads_json(j, t, syms, o);
    pa_report_status_json(j, t);
    pa_json_object_end(j);
    return rc;
}

/* ---- entry points -------------------------------------------------------------------------- */

int pa_hot_report(pa_trace_t *t, const pa_hot_opts_t *o, FILE *out, pa_json_t *j)
{
    pa_symbols_t *syms;
    int rc = pa_symbols_new(t, &syms);
    if (rc != PA_OK)
        return rc;
    rc = o->json ? write_json(j, t, syms, o) : write_text(out, t, syms, o);
    pa_symbols_free(syms);
    return rc;
}

static int hot_one(pa_trace_t *t, void *ctx, FILE *out, pa_json_t *j)
{
    return pa_hot_report(t, ctx, out, j);
}

int pa_hot_files(char *const *paths, size_t n, const pa_hot_opts_t *o, bool as_array, FILE *out)
{
    pa_each_opts_t eo = {.json = o->json, .quiet = o->quiet, .as_array = as_array};
    return pa_report_each_file(paths, n, &eo, out, hot_one, (void *)o);
}
