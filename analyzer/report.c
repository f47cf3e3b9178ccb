/* SPDX-License-Identifier: MIT */
/*
 * report.c — grouping snapshot rows by symbolized stack, and the text/JSON pieces every report
 * shares. Grouping is by what the user reads: two stacks that differ only in return addresses
 * inside the same source lines (e.g. two calls on one line, or one function reached through
 * identical paths from different instruction addresses) are one group.
 */
#include "report.h"

#include "trace_format.h"

#include <stdlib.h>
#include <string.h>

/* ---- grouping ------------------------------------------------------------------------------ */

bool pa_report_frame_is_allocator(const pa_frame_t *f)
{
    return f->function && strncmp(f->function, "operator new", 12) == 0;
}

bool pa_report_frame_is_shim(const pa_frame_t *f)
{
    return strncmp(pa_util_basename(f->module), "libperfshim.", 12) == 0;
}

static void serialize(pa_str_t *key, const pa_frame_t *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (f[i].function)
            pa_str_printf(key, "%s\x1f%s\x1f%u\x1f%d\x1e", f[i].function,
                          f[i].file ? f[i].file : "", f[i].line, f[i].inlined);
        else
            pa_str_printf(key, "\x1f%s+%llx\x1e", f[i].module, (unsigned long long)f[i].offset);
    }
}

/* Leading frames of C++ standard library lock wrappers (std::mutex::lock, std::lock_guard,
 * std::condition_variable::wait, ... and the __gthread_* functions they call): the lock's user
 * is the caller. They are header code; without optimization they are real frames. */
bool pa_report_frame_is_lock_wrapper(const pa_frame_t *f)
{
    if (!f->function)
        return false;
    if (strncmp(f->function, "__gthread_", 10) == 0 || strncmp(f->function, "__gthrw_", 8) == 0)
        return true;
    return strncmp(f->function, "std::", 5) == 0 && f->file && strstr(f->file, "/c++/");
}

static bool hidden_lead(const pa_frame_t *f, unsigned hide)
{
    return ((hide & PA_HIDE_ALLOCATOR) && pa_report_frame_is_allocator(f)) ||
           ((hide & PA_HIDE_LOCK_WRAPPERS) && pa_report_frame_is_lock_wrapper(f));
}

static int push_frame(pa_stackview_t *v, const pa_frame_t *f)
{
    if (pa_util_grow((void **)&v->frames, &v->cap, v->nframes + 1, sizeof *v->frames) != PA_OK)
        return PA_ENOMEM;
    v->frames[v->nframes++] = *f;
    return PA_OK;
}

int pa_report_stack_view(pa_trace_t *t, pa_symbols_t *syms, uint32_t id, unsigned hide,
                         pa_stackview_t *v)
{
    v->nframes = 0;
    v->hidden = 0;
    v->note = NULL;
    v->key.len = 0;
    if (v->key.s)
        v->key.s[0] = 0;
    const pa_stack_t *s = id ? pa_model_stack(t, id) : NULL;
    if (id == 0) {
        v->note = "no stack: the shim had no stack slot left (raise PERFSHIM_MAX_STACKS)";
        pa_str_puts(&v->key, "\x01no-stack");
    } else if (!s) {
        v->note = "stack not in the trace (its STACKS chunk was lost)";
        pa_str_puts(&v->key, "\x01missing");
    } else if (s->depth == 0) {
        v->note = "empty stack (the unwinder found no frame)";
        pa_str_puts(&v->key, "\x01empty");
    } else {
        int cut = 0;
        for (uint32_t i = 0; i < s->depth; i++) {
            const pa_frame_t *fr;
            size_t n;
            if (s->addrs[i] == PS_FRAME_CUT) { /* the shim could not walk further (libunwind) */
                cut = 1;
                continue;
            }
            if (pa_symbols_lookup(syms, s->addrs[i], &fr, &n) != PA_OK)
                return PA_ENOMEM;
            for (size_t k = 0; k < n; k++) {
                if ((hide & PA_HIDE_SHIM) && pa_report_frame_is_shim(&fr[k]))
                    v->hidden++;
                else if (push_frame(v, &fr[k]) != PA_OK)
                    return PA_ENOMEM;
            }
        }
        size_t lead = 0;
        while (lead < v->nframes && hidden_lead(&v->frames[lead], hide))
            lead++;
        if (lead == v->nframes) /* nothing but hidden frames (a very short stack): keep them */
            lead = 0;
        if (lead) { /* (frames may still be NULL: memmove must not see it) */
            memmove(v->frames, v->frames + lead, (v->nframes - lead) * sizeof *v->frames);
            v->nframes -= lead;
            v->hidden += lead;
        }
        if (!v->nframes && !cut)
            v->note = "every frame is inside libperfshim.so";
        else if (cut)
            v->note = "cut short after the last frame: the next one needed libunwind, which the "
                      "shim could not load at that moment";
        serialize(&v->key, v->frames, v->nframes);
        if (cut)
            pa_str_puts(&v->key, "\x01cut");
    }
    return v->key.failed ? PA_ENOMEM : PA_OK;
}

void pa_report_stack_view_free(pa_stackview_t *v)
{
    free(v->frames);
    pa_str_free(&v->key);
    memset(v, 0, sizeof *v);
}

int pa_report_group(pa_trace_t *t, pa_symbols_t *syms, bool live_only, pa_groups_t *out)
{
    memset(out, 0, sizeof *out);
    pa_stackview_t v = {0};
    int rc = PA_OK;
    for (size_t r = 0; r < t->snap.nrows && rc == PA_OK; r++) {
        const pa_row_t *row = &t->snap.rows[r];
        if (live_only && row->live_blocks == 0)
            continue;
        if ((rc = pa_report_stack_view(t, syms, row->stack_id, PA_HIDE_ALLOCATOR | PA_HIDE_SHIM,
                                       &v)) != PA_OK)
            break;
        const char *key = pa_str_get(&v.key);
        pa_group_t *g;
        HASH_FIND_STR(out->table, key, g);
        if (!g) {
            g = calloc(1, sizeof *g);
            if (!g || !(g->key = pa_util_strdup(key)) ||
                pa_util_grow((void **)&out->items, &out->cap, out->n + 1, sizeof *out->items) ||
                (v.nframes && !(g->frames = malloc(v.nframes * sizeof *g->frames)))) {
                if (g) {
                    free(g->key);
                    free(g->frames);
                }
                free(g);
                rc = PA_ENOMEM;
                break;
            }
            if (v.nframes)
                memcpy(g->frames, v.frames, v.nframes * sizeof *g->frames);
            g->nframes = v.nframes;
            g->hidden = v.hidden;
            g->note = v.note;
            g->first_stack_id = row->stack_id;
            g->suppressed_by = -1;
            HASH_ADD_KEYPTR(hh, out->table, g->key, strlen(g->key), g);
            out->items[out->n++] = g;
        }
        g->stacks++;
        g->allocs += row->allocs;
        g->alloc_bytes += row->alloc_bytes;
        g->frees += row->frees;
        g->freed_bytes += row->freed_bytes;
        g->live_blocks += row->live_blocks;
        g->live_bytes += row->live_bytes;
        g->peak_live_bytes += row->peak_live_bytes;
        if (row->stack_id < g->first_stack_id)
            g->first_stack_id = row->stack_id;
    }
    pa_report_stack_view_free(&v);
    if (rc != PA_OK)
        pa_report_groups_free(out);
    return rc;
}

void pa_report_groups_free(pa_groups_t *g)
{
    pa_group_t *x, *tmp;
    HASH_ITER(hh, g->table, x, tmp)
    {
        HASH_DEL(g->table, x);
        free(x->key);
        free(x->frames);
        free(x);
    }
    free(g->items);
    memset(g, 0, sizeof *g);
}

static int cmp_u64_desc(uint64_t a, uint64_t b)
{
    return a > b ? -1 : a < b ? 1 : 0;
}

static int cmp_live(const void *pa, const void *pb)
{
    const pa_group_t *a = *(pa_group_t *const *)pa, *b = *(pa_group_t *const *)pb;
    int c = cmp_u64_desc(a->live_bytes, b->live_bytes);
    if (!c)
        c = cmp_u64_desc(a->live_blocks, b->live_blocks);
    return c ? c : strcmp(a->key, b->key);
}

static int cmp_alloc(const void *pa, const void *pb)
{
    const pa_group_t *a = *(pa_group_t *const *)pa, *b = *(pa_group_t *const *)pb;
    int c = cmp_u64_desc(a->alloc_bytes, b->alloc_bytes);
    if (!c)
        c = cmp_u64_desc(a->allocs, b->allocs);
    return c ? c : strcmp(a->key, b->key);
}

void pa_report_sort_by_live(pa_groups_t *g)
{
    if (g->n)
        qsort(g->items, g->n, sizeof *g->items, cmp_live);
}

void pa_report_sort_by_alloc(pa_groups_t *g)
{
    if (g->n)
        qsort(g->items, g->n, sizeof *g->items, cmp_alloc);
}

/* ---- frames ---------------------------------------------------------------------------------- */

/* The frames i.. that fold into one line: a run of C++ standard library frames (2 or more). */
static size_t library_run(const pa_frame_t *frames, size_t n, size_t i)
{
    size_t k = i;
    while (k < n && frames[k].library && frames[k].function)
        k++;
    return k - i >= 2 ? k - i : 0;
}

void pa_report_frames_text_n(FILE *out, const char *note, const pa_frame_t *frames, size_t n,
                             const char *indent, bool all_frames)
{
    if (note)
        fprintf(out, "%s(%s)\n", indent, note);
    size_t line = 0;
    for (size_t i = 0; i < n; i++, line++) {
        const pa_frame_t *f = &frames[i];
        const char *mod = pa_util_basename(f->module);
        fprintf(out, "%s#%zu ", indent, line);
        size_t run = all_frames ? 0 : library_run(frames, n, i);
        if (run) { /* named by the outermost: the library function the program called */
            bool inlined = true;
            for (size_t k = i; k < i + run; k++)
                inlined &= frames[k].inlined;
            pa_util_fputs_safe(out, frames[i + run - 1].function);
            fprintf(out, " [%zu %slibrary frames]\n", run, inlined ? "inlined " : "");
            i += run - 1;
            continue;
        }
        if (f->function) {
            pa_util_fputs_safe(out, f->function);
            fputs(" (", out);
        }
        if (f->function && f->file) {
            pa_util_fputs_safe(out, pa_util_basename(f->file));
            if (f->line)
                fprintf(out, ":%u", f->line);
        } else {
            pa_util_fputs_safe(out, mod);
            fprintf(out, "+0x%llx", (unsigned long long)f->offset);
        }
        if (f->function)
            fputc(')', out);
        fputs(f->inlined ? " [inlined]\n" : "\n", out);
    }
}

const char *pa_report_frame_brief(const pa_frame_t *f, char *buf, size_t size)
{
    if (!f)
        snprintf(buf, size, "?");
    else if (f->function)
        snprintf(buf, size, "%s", f->function);
    else
        snprintf(buf, size, "%s+0x%llx", pa_util_basename(f->module),
                 (unsigned long long)f->offset);
    return buf;
}

void pa_report_frames_text(FILE *out, const pa_group_t *g, const char *indent, bool all_frames)
{
    pa_report_frames_text_n(out, g->note, g->frames, g->nframes, indent, all_frames);
}

void pa_report_frames_json_n(pa_json_t *j, const pa_frame_t *frames, size_t n)
{
    pa_json_array_begin(j, false);
    for (size_t i = 0; i < n; i++) {
        const pa_frame_t *f = &frames[i];
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
        pa_json_string(j, f->module);
        pa_json_key(j, "address");
        pa_json_hex(j, f->address);
        pa_json_key(j, "offset");
        pa_json_hex(j, f->offset);
        pa_json_key(j, "inlined");
        pa_json_bool(j, f->inlined);
        pa_json_key(j, "library");
        pa_json_bool(j, f->library);
        pa_json_object_end(j);
    }
    pa_json_array_end(j);
}

void pa_report_stack_json(pa_json_t *j, const char *note, const pa_frame_t *frames, size_t n)
{
    if (note) {
        pa_json_key(j, "note");
        pa_json_string(j, note);
    }
    pa_json_key(j, "stack");
    pa_report_frames_json_n(j, frames, n);
}

void pa_report_frames_json(pa_json_t *j, const pa_group_t *g)
{
    pa_report_frames_json_n(j, g->frames, g->nframes);
}

/* ---- process, status ----------------------------------------------------------------------- */

void pa_report_header_text(FILE *out, const pa_trace_t *t, const char *title)
{
    const pa_process_t *p = &t->process;
    if (t->has_process) {
        fprintf(out, "%s for ", title);
        pa_util_fputs_safe(out, p->program);
        fprintf(out, " (pid %llu)\n", (unsigned long long)p->pid);
    } else
        fprintf(out, "%s for an unknown program (PROCESS chunk lost)\n", title);
    if (t->has_process && p->argc) {
        fputs("  command:  ", out);
        for (uint32_t i = 0; i < p->argc; i++) {
            fputs(i ? " " : "", out);
            pa_util_fputs_safe(out, p->argv[i]);
        }
        fputc('\n', out);
    }
    fprintf(out, "  trace:    %s\n", t->path);
    fprintf(out, "  snapshot: %s, %.3f s after start\n", pa_model_reason_name(t->snap.reason),
            (double)t->snap.time_ns / 1e9);
}

void pa_report_process_json(pa_json_t *j, const pa_trace_t *t)
{
    const pa_process_t *p = &t->process;
    bool h = t->has_process;
    pa_json_key(j, "process");
    pa_json_object_begin(j, false);
    pa_json_key(j, "pid");
    h ? pa_json_u64(j, p->pid) : pa_json_null(j);
    pa_json_key(j, "ppid");
    h ? pa_json_u64(j, p->ppid) : pa_json_null(j);
    pa_json_key(j, "program");
    pa_json_string(j, h ? p->program : NULL);
    pa_json_key(j, "argv");
    pa_json_array_begin(j, true);
    for (uint32_t i = 0; h && i < p->argc; i++)
        pa_json_string(j, p->argv[i]);
    pa_json_array_end(j);
    pa_json_key(j, "hostname");
    pa_json_string(j, h ? p->hostname : NULL);
    pa_json_key(j, "tool_version");
    pa_json_string(j, h ? p->tool_version : NULL);
    pa_json_key(j, "start_time_ns");
    h ? pa_json_u64(j, p->start_realtime_ns) : pa_json_null(j);
    pa_json_key(j, "options");
    pa_json_object_begin(j, true);
    for (const char *o = h ? p->options : ""; *o;) {
        size_t len = strcspn(o, "\n");
        const char *eq = memchr(o, '=', len);
        if (eq) {
            char name[128];
            snprintf(name, sizeof name, "%.*s", (int)(eq - o), o);
            pa_json_key(j, name);
            pa_json_string_n(j, eq + 1, len - (size_t)(eq + 1 - o));
        }
        o += len + (o[len] == '\n');
    }
    pa_json_object_end(j);
    pa_json_object_end(j);

    pa_json_key(j, "trace");
    pa_json_string(j, t->path);
    pa_json_key(j, "format_version");
    pa_json_u64(j, t->version);
    pa_json_key(j, "snapshot");
    pa_json_object_begin(j, true);
    pa_json_key(j, "reason");
    pa_json_string(j, pa_model_reason_name(t->snap.reason));
    pa_json_key(j, "time_ns");
    pa_json_u64(j, t->snap.time_ns);
    pa_json_key(j, "snapshots");
    pa_json_u64(j, t->nsnapshots);
    pa_json_object_end(j);
}

void pa_report_status_json(pa_json_t *j, const pa_trace_t *t)
{
    pa_json_key(j, "complete");
    pa_json_bool(j, pa_model_complete(t));
    pa_json_key(j, "warnings");
    pa_json_array_begin(j, false);
    for (size_t i = 0; i < t->warnings.n; i++)
        pa_json_string(j, t->warnings.items[i]);
    pa_json_array_end(j);
    pa_json_key(j, "messages");
    pa_json_array_begin(j, false);
    for (size_t i = 0; i < t->nmessages; i++) {
        pa_json_object_begin(j, true);
        pa_json_key(j, "severity");
        pa_json_string(j, t->messages[i].severity >= 2 ? "error" : "warning");
        pa_json_key(j, "text");
        pa_json_string(j, t->messages[i].text);
        pa_json_object_end(j);
    }
    pa_json_array_end(j);
}

void pa_report_status_text(FILE *out, const pa_trace_t *t)
{
    if (!pa_model_complete(t))
        fprintf(out, "  NOTE: incomplete trace (%s); %zu warning(s) on stderr\n",
                t->damaged ? "damaged" : "no END chunk", t->warnings.n);
    for (size_t i = 0; i < t->nmessages; i++) {
        fprintf(out, "  shim %s: ", t->messages[i].severity >= 2 ? "error" : "warning");
        pa_util_fputs_safe(out, t->messages[i].text);
        fputc('\n', out);
    }
    if (t->messages_dropped)
        fprintf(out, "  (%llu more shim messages not shown)\n",
                (unsigned long long)t->messages_dropped);
}

int pa_report_each_file(char *const *paths, size_t n, bool json, bool quiet, bool as_array,
                        FILE *out, pa_report_fn one, void *ctx)
{
    int first_err = PA_OK;
    pa_json_t j;
    pa_json_init(&j, out);
    if (json && as_array)
        pa_json_array_begin(&j, false);
    bool first = true;
    for (size_t i = 0; i < n; i++) {
        pa_trace_t t;
        int rc = pa_model_load(paths[i], quiet, &t);
        if (rc == PA_OK) {
            if (!json && !first)
                fputs("\n\n", out);
            rc = one(&t, ctx, out, &j);
            if (rc == PA_ENOMEM)
                pa_msg_error("%s: out of memory while writing the report", paths[i]);
            first = false;
            pa_model_free(&t);
        }
        if (rc != PA_OK && first_err == PA_OK)
            first_err = rc;
    }
    if (json && as_array)
        pa_json_array_end(&j);
    if (json && (as_array || !first))
        pa_json_finish(&j);
    return first_err;
}
