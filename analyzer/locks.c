/* SPDX-License-Identifier: MIT */
/*
 * locks.c — `perfshim locks`: the lock report, text and JSON (docs/analyzer.md).
 *
 * Input is the last LOCKS chunk of the trace (cumulative since start). Locks (mutexes, rwlocks,
 * spinlocks, semaphores used as locks), condition variables and semaphores used as signals
 * (posted by other threads than those that take them) are listed separately, each sorted by
 * total wait. A lock's
 * call sites are symbolized and merged when their visible frames are identical (as leaks are),
 * then ranked by wait. Frames of the shim and leading C++ lock wrappers (std::mutex::lock,
 * std::lock_guard, __gthread_*) are hidden, so a stack starts at the code that takes the lock.
 *
 * Which figures are exact and which are estimated from PERFSHIM_LOCK_SAMPLE samples is the
 * trace format's business (docs/trace-format.md); this report marks estimates with "~".
 */
#include "locks.h"

#include "report.h"
#include "symbols.h"

#include "trace_format.h"

#include <stdlib.h>
#include <string.h>

#define HIDE (PA_HIDE_SHIM | PA_HIDE_LOCK_WRAPPERS)

const char *pa_locks_kind_name(uint32_t kind)
{
    switch (kind) {
    case PS_LOCK_MUTEX:
        return "mutex";
    case PS_LOCK_RWLOCK:
        return "rwlock";
    case PS_LOCK_SPIN:
        return "spin";
    case PS_LOCK_COND:
        return "cond";
    case PS_LOCK_SEM:
        return "semaphore";
    default:
        return "unknown";
    }
}

/* A semaphore posted by threads that had not taken it (per thread, posts beyond its own
 * acquisitions) at least as often as by threads that had: an event passed from thread to
 * thread, like a condition variable's signal. Its waits are waiting for an event, not for a
 * lock's holder: listed apart. (Ties count as signals: CPython's Condition.wait blocks on a
 * lock that the notifying thread releases once and the waiter once more when it drops it.) */
static bool is_signal(const pa_lock_t *k)
{
    if (k->kind != PS_LOCK_SEM || !k->has_paired_posts || k->signals <= k->paired_posts)
        return false;
    return k->signals - k->paired_posts >= k->paired_posts;
}

/* ---- the model of the report ------------------------------------------------------------- */

/* Site rows of one lock whose visible frames are identical, summed. */
typedef struct {
    char *key;
    pa_frame_t *frames;
    size_t nframes, hidden;
    const char *note;
    uint64_t stacks; /* site rows merged */
    uint64_t acquisitions, contended, wait_ns, max_wait_ns, samples;
    UT_hash_handle hh;
} site_t;

typedef struct {
    const pa_lock_t *lock;
    site_t **sites; /* sorted by wait */
    size_t nsites;
    pa_frame_t *first; /* first-use frames */
    size_t nfirst, first_hidden;
    const char *first_note;
} lock_view_t;

typedef struct {
    pa_trace_t *t;
    pa_symbols_t *syms;
    pa_stackview_t v;
    size_t *site_start; /* site rows of lock i: order[site_start[i] .. site_start[i + 1]) */
    uint32_t *site_order;
    const pa_lock_t **locks, **conds, **sigs; /* sorted by wait (sigs: is_signal) */
    size_t nlocks, nconds, nsigs;
    uint64_t acquisitions, contended, wait_ns, cond_waits, cond_wait_ns, sig_waits, sig_wait_ns;
} ctx_t;

static int cmp_u64_desc(uint64_t a, uint64_t b)
{
    return a > b ? -1 : a < b ? 1 : 0;
}

static int cmp_lock(const void *pa, const void *pb)
{
    const pa_lock_t *a = *(const pa_lock_t *const *)pa, *b = *(const pa_lock_t *const *)pb;
    int c = cmp_u64_desc(a->wait_ns, b->wait_ns);
    if (!c)
        c = cmp_u64_desc(a->contended, b->contended);
    if (!c)
        c = cmp_u64_desc(a->acquisitions, b->acquisitions);
    if (!c)
        c = a->address < b->address ? -1 : a->address > b->address;
    return c;
}

static int cmp_site(const void *pa, const void *pb)
{
    const site_t *a = *(site_t *const *)pa, *b = *(site_t *const *)pb;
    int c = cmp_u64_desc(a->wait_ns, b->wait_ns);
    if (!c)
        c = cmp_u64_desc(a->contended, b->contended);
    if (!c)
        c = cmp_u64_desc(a->acquisitions, b->acquisitions);
    return c ? c : strcmp(a->key, b->key);
}

static int ctx_init(ctx_t *c, pa_trace_t *t)
{
    memset(c, 0, sizeof *c);
    c->t = t;
    const pa_locks_t *l = &t->locks;
    int rc = pa_symbols_new(t, &c->syms);
    if (rc != PA_OK)
        return rc;
    c->site_start = calloc(l->nlocks + 1, sizeof *c->site_start);
    c->site_order = malloc((l->nsites ? l->nsites : 1) * sizeof *c->site_order);
    c->locks = malloc((l->nlocks ? l->nlocks : 1) * sizeof *c->locks);
    c->conds = malloc((l->nlocks ? l->nlocks : 1) * sizeof *c->conds);
    c->sigs = malloc((l->nlocks ? l->nlocks : 1) * sizeof *c->sigs);
    if (!c->site_start || !c->site_order || !c->locks || !c->conds || !c->sigs)
        return PA_ENOMEM;
    /* counting sort of the site rows by lock */
    for (size_t i = 0; i < l->nsites; i++)
        c->site_start[l->sites[i].lock_index + 1]++;
    for (size_t i = 0; i < l->nlocks; i++)
        c->site_start[i + 1] += c->site_start[i];
    size_t *fill = calloc(l->nlocks + 1, sizeof *fill);
    if (!fill)
        return PA_ENOMEM;
    for (size_t i = 0; i < l->nsites; i++) {
        uint32_t k = l->sites[i].lock_index;
        c->site_order[c->site_start[k] + fill[k]++] = (uint32_t)i;
    }
    free(fill);
    for (size_t i = 0; i < l->nlocks; i++) {
        const pa_lock_t *k = &l->locks[i];
        if (k->kind == PS_LOCK_COND) {
            c->conds[c->nconds++] = k;
            c->cond_waits += k->acquisitions;
            c->cond_wait_ns += k->wait_ns;
        } else if (is_signal(k)) {
            c->sigs[c->nsigs++] = k;
            c->sig_waits += k->acquisitions;
            c->sig_wait_ns += k->wait_ns;
        } else {
            c->locks[c->nlocks++] = k;
            c->acquisitions += k->acquisitions;
            c->contended += k->contended;
            c->wait_ns += k->wait_ns;
        }
    }
    if (c->nlocks)
        qsort(c->locks, c->nlocks, sizeof *c->locks, cmp_lock);
    if (c->nconds)
        qsort(c->conds, c->nconds, sizeof *c->conds, cmp_lock);
    if (c->nsigs)
        qsort(c->sigs, c->nsigs, sizeof *c->sigs, cmp_lock);
    return PA_OK;
}

static void ctx_free(ctx_t *c)
{
    pa_report_stack_view_free(&c->v);
    if (c->syms)
        pa_symbols_free(c->syms);
    free(c->site_start);
    free(c->site_order);
    free(c->locks);
    free(c->conds);
    free(c->sigs);
}

static pa_frame_t *copy_frames(const pa_stackview_t *v)
{
    pa_frame_t *f = malloc((v->nframes ? v->nframes : 1) * sizeof *f);
    if (f && v->nframes)
        memcpy(f, v->frames, v->nframes * sizeof *f);
    return f;
}

static void view_free(lock_view_t *lv)
{
    for (size_t i = 0; i < lv->nsites; i++) {
        free(lv->sites[i]->key);
        free(lv->sites[i]->frames);
        free(lv->sites[i]);
    }
    free(lv->sites);
    free(lv->first);
    memset(lv, 0, sizeof *lv);
}

/* A site's uncontended acquisitions are known only from its samples (the shim counts `sample`
 * per sampled one). Scale them so that the sites add up to the lock's exact count: contended
 * acquisitions stay exact, the lock's uncontended ones are shared out in proportion to each
 * site's samples. With PERFSHIM_LOCK_SAMPLE=1 this changes nothing. */
static void apportion(lock_view_t *lv, uint32_t sample)
{
    const pa_lock_t *k = lv->lock;
    double sampled = 0.0;
    for (size_t i = 0; i < lv->nsites; i++) {
        const site_t *s = lv->sites[i];
        sampled += s->acquisitions > s->contended ? (double)(s->acquisitions - s->contended) : 0;
    }
    uint64_t quiet = k->acquisitions > k->contended ? k->acquisitions - k->contended : 0;
    if (sample <= 1 || sampled <= 0.0 || k->kind == PS_LOCK_COND)
        return;
    for (size_t i = 0; i < lv->nsites; i++) {
        site_t *s = lv->sites[i];
        double u = s->acquisitions > s->contended ? (double)(s->acquisitions - s->contended) : 0;
        s->acquisitions = s->contended + (uint64_t)((double)quiet * u / sampled + 0.5);
    }
}

/* Symbolizes a lock's first use and its sites, merged and sorted. */
static int view_build(ctx_t *c, const pa_lock_t *k, lock_view_t *lv)
{
    memset(lv, 0, sizeof *lv);
    lv->lock = k;
    const pa_locks_t *l = &c->t->locks;
    size_t index = (size_t)(k - l->locks);
    int rc = PA_OK;
    if (k->first_use_stack) {
        if ((rc = pa_report_stack_view(c->t, c->syms, k->first_use_stack, HIDE, &c->v)) != PA_OK)
            return rc;
        if (!(lv->first = copy_frames(&c->v)))
            return PA_ENOMEM;
        lv->nfirst = c->v.nframes;
        lv->first_hidden = c->v.hidden;
        lv->first_note = c->v.note;
    } else {
        lv->first_note = "first use not recorded";
    }
    size_t lo = c->site_start[index], hi = c->site_start[index + 1];
    if (hi > lo && !(lv->sites = malloc((hi - lo) * sizeof *lv->sites)))
        return PA_ENOMEM;
    site_t *table = NULL;
    for (size_t i = lo; i < hi && rc == PA_OK; i++) {
        const pa_lock_site_t *r = &l->sites[c->site_order[i]];
        if ((rc = pa_report_stack_view(c->t, c->syms, r->stack_id, HIDE, &c->v)) != PA_OK)
            break;
        const char *key = pa_str_get(&c->v.key);
        site_t *s;
        HASH_FIND_STR(table, key, s);
        if (!s) {
            s = calloc(1, sizeof *s);
            if (!s || !(s->key = pa_util_strdup(key)) || !(s->frames = copy_frames(&c->v))) {
                if (s)
                    free(s->key);
                free(s);
                rc = PA_ENOMEM;
                break;
            }
            s->nframes = c->v.nframes;
            s->hidden = c->v.hidden;
            s->note = c->v.note;
            HASH_ADD_KEYPTR(hh, table, s->key, strlen(s->key), s);
            lv->sites[lv->nsites++] = s;
        }
        s->stacks++;
        s->acquisitions += r->acquisitions;
        s->contended += r->contended;
        s->wait_ns += r->wait_ns;
        if (r->max_wait_ns > s->max_wait_ns)
            s->max_wait_ns = r->max_wait_ns;
        s->samples += r->samples;
    }
    HASH_CLEAR(hh, table);
    apportion(lv, c->t->locks.sample);
    if (lv->nsites)
        qsort(lv->sites, lv->nsites, sizeof *lv->sites, cmp_site);
    return rc;
}

/* Writes one listed lock (its index in its list: i) to dst: a FILE * for text, a pa_json_t *
 * for JSON. */
typedef void (*emit_fn)(void *dst, const ctx_t *c, const lock_view_t *lv, size_t i,
                        const pa_locks_opts_t *o);

static size_t shown(uint64_t top, size_t n);

/* The first --top locks of list, each symbolized and written by emit. */
static int each_view(ctx_t *c, const pa_lock_t *const *list, size_t n, const pa_locks_opts_t *o,
                     emit_fn emit, void *dst)
{
    int rc = PA_OK;
    size_t m = shown(o->top, n);
    for (size_t i = 0; i < m && rc == PA_OK; i++) {
        lock_view_t lv;
        if ((rc = view_build(c, list[i], &lv)) == PA_OK)
            emit(dst, c, &lv, i, o);
        view_free(&lv);
    }
    return rc;
}

static uint64_t exclusive(const pa_lock_t *k)
{
    return k->acquisitions -
           (k->read_acquisitions < k->acquisitions ? k->read_acquisitions : k->acquisitions);
}

/* The shim scales sampled owner changes by the sampling interval: with few acquisitions that
 * estimate can exceed what is possible. A change needs an exclusive acquisition. */
static uint64_t owner_changes(const pa_lock_t *k)
{
    uint64_t x = exclusive(k);
    return k->owner_changes < x ? k->owner_changes : x;
}

static size_t shown(uint64_t top, size_t n)
{
    return top && top < n ? (size_t)top : n;
}

static double pct(uint64_t part, uint64_t whole)
{
    return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

/* ---- text -------------------------------------------------------------------------------- */

/* "12.5%", or "<0.1%" for a small share that is not zero. */
static const char *pct_text(uint64_t part, uint64_t whole, char *buf, size_t size)
{
    double p = pct(part, whole);
    if (part && p < 0.1)
        snprintf(buf, size, "<0.1%%");
    else
        snprintf(buf, size, "%.1f%%", p);
    return buf;
}

static void sites_text(FILE *out, const lock_view_t *lv, const pa_locks_opts_t *o, bool cond,
                       uint32_t sample)
{
    size_t n = shown(o->sites, lv->nsites);
    char b1[32], b2[32];
    if (!lv->nsites) {
        fprintf(out, "    call sites: none recorded%s\n",
                cond ? "" : " (never contended, and no acquisition sampled)");
        return;
    }
    fprintf(out, "    %s sites by wait (%zu of %zu):\n",
            cond || lv->lock->kind == PS_LOCK_SEM ? "waiting" : "acquiring", n, lv->nsites);
    for (size_t i = 0; i < n; i++) {
        const site_t *s = lv->sites[i];
        if (cond)
            fprintf(out, "      %zu. %llu wait%s, %s in total (max %s)\n", i + 1,
                    (unsigned long long)s->acquisitions, s->acquisitions == 1 ? "" : "s",
                    pa_util_format_ns((double)s->wait_ns, b1, sizeof b1),
                    pa_util_format_ns((double)s->max_wait_ns, b2, sizeof b2));
        else if (s->contended)
            fprintf(out, "      %zu. waited %s in %llu contended of %s%llu acquisitions (max %s)\n",
                    i + 1, pa_util_format_ns((double)s->wait_ns, b1, sizeof b1),
                    (unsigned long long)s->contended,
                    sample > 1 && s->acquisitions > s->contended ? "~" : "",
                    (unsigned long long)s->acquisitions,
                    pa_util_format_ns((double)s->max_wait_ns, b2, sizeof b2));
        else
            fprintf(out, "      %zu. never waited; %s%llu acquisitions\n", i + 1,
                    sample > 1 ? "~" : "", (unsigned long long)s->acquisitions);
        pa_report_frames_text_n(out, s->note, s->frames, s->nframes, "        ", o->all_frames);
    }
}

/* "Condition variable 2 of 5: 0x... (destroyed)", and the same for the other lists. */
static void heading_text(FILE *out, const char *title, size_t i, size_t n, const pa_lock_t *k)
{
    fprintf(out, "\n%s %zu of %zu: 0x%llx%s\n", title, i + 1, n, (unsigned long long)k->address,
            k->flags & PS_LOCK_F_DESTROYED ? " (destroyed)" : "");
}

/* The lines every lock ends with: its first use and its sites. */
static void uses_text(FILE *out, const lock_view_t *lv, const pa_locks_opts_t *o, bool cond,
                      uint32_t sample)
{
    fputs("    first used:\n", out);
    pa_report_frames_text_n(out, lv->first_note, lv->first, lv->nfirst, "        ", o->all_frames);
    sites_text(out, lv, o, cond, sample);
}

/* The wake-up line of a condition variable or a semaphore. */
static void wake_text(FILE *out, const pa_lock_t *k)
{
    char b1[32], b2[32];
    if (k->has_wakes && k->wakes)
        fprintf(out, "    wake-up:      %s mean, max %s from the %s (%llu wake-ups)\n",
                pa_util_format_ns((double)k->wake_ns / (double)k->wakes, b1, sizeof b1),
                pa_util_format_ns((double)k->max_wake_ns, b2, sizeof b2),
                k->kind == PS_LOCK_COND ? "signal to the waiter holding the mutex again"
                                        : "post to the blocked waiter's return",
                (unsigned long long)k->wakes);
    else if (k->max_wake_ns)
        fprintf(out, "    wake-up:      %s in total, max %s\n",
                pa_util_format_ns((double)k->wake_ns, b1, sizeof b1),
                pa_util_format_ns((double)k->max_wake_ns, b2, sizeof b2));
}

static void lock_text(void *dst, const ctx_t *c, const lock_view_t *lv, size_t i,
                      const pa_locks_opts_t *o)
{
    FILE *out = dst;
    const pa_lock_t *k = lv->lock;
    uint32_t sample = c->t->locks.sample;
    const char *est = sample > 1 ? "~" : "";
    char b1[32], b2[32], b3[32];
    fprintf(out, "\nLock %zu of %zu: %s 0x%llx", i + 1, c->nlocks, pa_locks_kind_name(k->kind),
            (unsigned long long)k->address);
    char share[16];
    if (c->wait_ns && k->wait_ns)
        fprintf(out, ", %s of all lock wait",
                pct_text(k->wait_ns, c->wait_ns, share, sizeof share));
    fputs(k->flags & PS_LOCK_F_DESTROYED ? " (destroyed)\n" : "\n", out);
    fprintf(out, "    acquisitions: %llu", (unsigned long long)k->acquisitions);
    if (k->kind == PS_LOCK_RWLOCK)
        fprintf(out, " (%llu shared, %llu exclusive)", (unsigned long long)k->read_acquisitions,
                (unsigned long long)exclusive(k));
    bool sem = k->kind == PS_LOCK_SEM;
    fprintf(out, ", contended %llu (%s)", (unsigned long long)k->contended,
            pct_text(k->contended, k->acquisitions, share, sizeof share));
    if (sem)
        fprintf(out, ", posts %llu (%llu by a thread that had taken it)",
                (unsigned long long)k->signals, (unsigned long long)k->paired_posts);
    else
        fprintf(out, ", owner changes %s%llu", est, (unsigned long long)owner_changes(k));
    if (k->trylock_failures)
        fprintf(out, ", failed %s %llu", sem ? "trywaits" : "trylocks",
                (unsigned long long)k->trylock_failures);
    if (k->timeouts)
        fprintf(out, ", timeouts %llu", (unsigned long long)k->timeouts);
    fputc('\n', out);
    if (k->contended)
        fprintf(out, "    wait:         %s in total, max %s, %s per contended acquisition\n",
                pa_util_format_ns((double)k->wait_ns, b1, sizeof b1),
                pa_util_format_ns((double)k->max_wait_ns, b2, sizeof b2),
                pa_util_format_ns((double)k->wait_ns / (double)k->contended, b3, sizeof b3));
    else if (k->wait_ns)
        fprintf(out, "    wait:         %s in waits that timed out or were interrupted\n",
                pa_util_format_ns((double)k->wait_ns, b1, sizeof b1));
    else
        fputs("    wait:         never contended\n", out);
    uint64_t excl = exclusive(k);
    if (sem) {
        wake_text(out, k);
        fputs("    hold:         not measured (a semaphore has no owner: any thread may post it)\n",
              out);
    } else if (k->hold_samples)
        fprintf(out,
                "    hold:         %s%s in total, max %s, %s%s per exclusive acquisition (%llu "
                "timed)\n",
                est, pa_util_format_ns((double)k->hold_ns, b1, sizeof b1),
                pa_util_format_ns((double)k->max_hold_ns, b2, sizeof b2), est,
                pa_util_format_ns(excl ? (double)k->hold_ns / (double)excl : 0.0, b3, sizeof b3),
                (unsigned long long)k->hold_samples);
    else
        fputs("    hold:         not timed (no exclusive acquisition sampled)\n", out);
    uses_text(out, lv, o, false, sample);
}

static void cond_text(void *dst, const ctx_t *c, const lock_view_t *lv, size_t i,
                      const pa_locks_opts_t *o)
{
    FILE *out = dst;
    const pa_lock_t *k = lv->lock;
    char b1[32], b2[32];
    heading_text(out, "Condition variable", i, c->nconds, k);
    fprintf(out, "    waits:        %llu (%llu timed out), %s waited in total, max %s\n",
            (unsigned long long)k->acquisitions, (unsigned long long)k->timeouts,
            pa_util_format_ns((double)k->wait_ns, b1, sizeof b1),
            pa_util_format_ns((double)k->max_wait_ns, b2, sizeof b2));
    fprintf(out, "    signals:      %llu, broadcasts %llu\n", (unsigned long long)k->signals,
            (unsigned long long)k->broadcasts);
    wake_text(out, k);
    uses_text(out, lv, o, true, 1);
}

/* A semaphore used as a signal: its waits are waiting for a post from another thread. */
static void signal_text(void *dst, const ctx_t *c, const lock_view_t *lv, size_t i,
                        const pa_locks_opts_t *o)
{
    FILE *out = dst;
    const pa_lock_t *k = lv->lock;
    char b1[32], b2[32];
    heading_text(out, "Semaphore used as a signal", i, c->nsigs, k);
    fprintf(out, "    waits:        %llu (%llu blocked, %llu timed out",
            (unsigned long long)k->acquisitions, (unsigned long long)k->contended,
            (unsigned long long)k->timeouts);
    if (k->trylock_failures)
        fprintf(out, ", failed trywaits %llu", (unsigned long long)k->trylock_failures);
    fprintf(out, "), %s waited in total, max %s\n",
            pa_util_format_ns((double)k->wait_ns, b1, sizeof b1),
            pa_util_format_ns((double)k->max_wait_ns, b2, sizeof b2));
    fprintf(out, "    posts:        %llu (%llu by a thread that had taken it)\n",
            (unsigned long long)k->signals, (unsigned long long)k->paired_posts);
    wake_text(out, k);
    uses_text(out, lv, o, false, c->t->locks.sample);
}

static int write_text(FILE *out, ctx_t *c, const pa_locks_opts_t *o)
{
    pa_trace_t *t = c->t;
    const pa_locks_t *l = &t->locks;
    char b1[32];
    pa_report_header_text(out, t, "perfshim lock report");
    pa_report_status_text(out, t);
    if (l->sample > 1)
        fprintf(out,
                "  sampling: 1 uncontended acquisition in %u per thread timed for its hold and "
                "call site (PERFSHIM_LOCK_SAMPLE); \"~\" marks estimates, every other count "
                "and wait is exact\n",
                l->sample);
    else
        fputs("  sampling: every acquisition timed (PERFSHIM_LOCK_SAMPLE=1): all figures exact\n",
              out);
    if (l->time_ns != t->snap.time_ns)
        fprintf(out,
                "  NOTE: lock statistics from %.3f s after start (the last snapshot has "
                "none)\n",
                (double)l->time_ns / 1e9);
    int rc = each_view(c, c->locks, c->nlocks, o, lock_text, out);
    if (rc == PA_OK)
        rc = each_view(c, c->conds, c->nconds, o, cond_text, out);
    if (rc == PA_OK)
        rc = each_view(c, c->sigs, c->nsigs, o, signal_text, out);
    if (rc != PA_OK)
        return rc;
    size_t n = shown(o->top, c->nlocks);
    char share[16];
    fprintf(out, "\nSUMMARY: %zu lock%s, %llu acquisitions, %llu contended (%s), %s waited",
            c->nlocks, c->nlocks == 1 ? "" : "s", (unsigned long long)c->acquisitions,
            (unsigned long long)c->contended,
            pct_text(c->contended, c->acquisitions, share, sizeof share),
            pa_util_format_ns((double)c->wait_ns, b1, sizeof b1));
    if (n < c->nlocks)
        fprintf(out, "; %zu shown (--top)", n);
    fputc('\n', out);
    if (c->nconds)
        fprintf(out, "  %zu condition variable%s, %llu waits, %s waited\n", c->nconds,
                c->nconds == 1 ? "" : "s", (unsigned long long)c->cond_waits,
                pa_util_format_ns((double)c->cond_wait_ns, b1, sizeof b1));
    if (c->nsigs)
        fprintf(out, "  %zu semaphore%s used as signals, %llu waits, %s waited\n", c->nsigs,
                c->nsigs == 1 ? "" : "s", (unsigned long long)c->sig_waits,
                pa_util_format_ns((double)c->sig_wait_ns, b1, sizeof b1));
    if (l->retired_quiet)
        fprintf(out, "  %llu destroyed lock%s never contended, not listed (%llu acquisitions)\n",
                (unsigned long long)l->retired_quiet, l->retired_quiet == 1 ? "" : "s",
                (unsigned long long)l->retired_quiet_acquisitions);
    if (l->flags & 1)
        fprintf(out,
                "  WARNING: the shim's lock table was full: %llu operations on further locks "
                "were not counted (raise PERFSHIM_MAX_LOCKS)\n",
                (unsigned long long)l->untracked_ops);
    return PA_OK;
}

/* ---- JSON -------------------------------------------------------------------------------- */

static void sites_json(pa_json_t *j, const lock_view_t *lv, const pa_locks_opts_t *o)
{
    pa_json_key(j, "sites");
    pa_json_array_begin(j, false);
    size_t n = shown(o->sites, lv->nsites);
    for (size_t i = 0; i < n; i++) {
        const site_t *s = lv->sites[i];
        pa_json_object_begin(j, false);
        PA_ROW_JSON(j, LOCK_SITE, s, acquisitions, samples); /* the sum of its site rows */
        pa_json_kv_u64(j, "stacks", s->stacks);
        pa_json_kv_u64(j, "hidden_frames", s->hidden);
        pa_report_stack_json(j, s->note, s->frames, s->nframes);
        pa_json_object_end(j);
    }
    pa_json_array_end(j);
    pa_json_kv_u64(j, "sites_total", lv->nsites);
}

static void first_use_json(pa_json_t *j, const lock_view_t *lv)
{
    pa_json_key(j, "first_use");
    pa_report_frames_json_n(j, lv->first, lv->nfirst);
    if (lv->first_note) {
        pa_json_key(j, "first_use_note");
        pa_json_string(j, lv->first_note);
    }
}

/* A member that is a number, or null when not measured. */
static void kv_u64_or_null(pa_json_t *j, const char *key, bool measured, uint64_t v)
{
    pa_json_key(j, key);
    measured ? pa_json_u64(j, v) : pa_json_null(j);
}

/* A semaphore's posts and wake-ups (null for the other kinds). */
static void posts_json(pa_json_t *j, const pa_lock_t *k)
{
    bool sem = k->kind == PS_LOCK_SEM;
    kv_u64_or_null(j, "posts", sem, k->signals);
    kv_u64_or_null(j, "paired_posts", sem && k->has_paired_posts, k->paired_posts);
    kv_u64_or_null(j, "wake_ns", sem, k->wake_ns);
    kv_u64_or_null(j, "max_wake_ns", sem, k->max_wake_ns);
    kv_u64_or_null(j, "wakes", sem && k->has_wakes, k->wakes);
}

#define UNUSED __attribute__((unused)) /* the JSON writers take the text writers' arguments */

/* Opens a lock's object: address, kind (but for condition variables), destroyed. */
static void head_json(pa_json_t *j, const pa_lock_t *k)
{
    pa_json_object_begin(j, false);
    PA_ROW_JSON1(j, LOCK, k, address);
    if (k->kind != PS_LOCK_COND) {
        pa_json_key(j, "kind");
        pa_json_string(j, pa_locks_kind_name(k->kind));
    }
    pa_json_kv_bool(j, "destroyed", (k->flags & PS_LOCK_F_DESTROYED) != 0);
}

/* Closes it: first use and sites. */
static void tail_json(pa_json_t *j, const lock_view_t *lv, const pa_locks_opts_t *o)
{
    first_use_json(j, lv);
    sites_json(j, lv, o);
    pa_json_object_end(j);
}

static void lock_json(void *dst, const ctx_t *c UNUSED, const lock_view_t *lv, size_t i UNUSED,
                      const pa_locks_opts_t *o)
{
    pa_json_t *j = dst;
    const pa_lock_t *k = lv->lock;
    bool owned = k->kind != PS_LOCK_SEM; /* a semaphore's holds and owners are not measured */
    head_json(j, k);
    PA_ROW_JSON1(j, LOCK, k, acquisitions);
    PA_ROW_JSON1(j, LOCK, k, read_acquisitions);
    PA_ROW_JSON1(j, LOCK, k, contended);
    PA_ROW_JSON(j, LOCK, k, trylock_failures, timeouts);
    kv_u64_or_null(j, "owner_changes", owned, owner_changes(k));
    PA_ROW_JSON(j, LOCK, k, wait_ns, max_wait_ns);
    kv_u64_or_null(j, "hold_ns", owned, k->hold_ns);
    kv_u64_or_null(j, "max_hold_ns", owned, k->max_hold_ns);
    kv_u64_or_null(j, "hold_samples", owned, k->hold_samples);
    posts_json(j, k);
    tail_json(j, lv, o);
}

static void signal_json(void *dst, const ctx_t *c UNUSED, const lock_view_t *lv, size_t i UNUSED,
                        const pa_locks_opts_t *o)
{
    pa_json_t *j = dst;
    const pa_lock_t *k = lv->lock;
    head_json(j, k);
    pa_json_kv_u64(j, "waits", k->acquisitions);
    PA_ROW_JSON1(j, LOCK, k, contended);
    PA_ROW_JSON(j, LOCK, k, trylock_failures, timeouts);
    PA_ROW_JSON(j, LOCK, k, wait_ns, max_wait_ns);
    posts_json(j, k);
    tail_json(j, lv, o);
}

static void cond_json(void *dst, const ctx_t *c UNUSED, const lock_view_t *lv, size_t i UNUSED,
                      const pa_locks_opts_t *o)
{
    pa_json_t *j = dst;
    const pa_lock_t *k = lv->lock;
    head_json(j, k);
    pa_json_kv_u64(j, "waits", k->acquisitions);
    PA_ROW_JSON1(j, LOCK, k, timeouts);
    PA_ROW_JSON(j, LOCK, k, wait_ns, max_wait_ns);
    PA_ROW_JSON(j, LOCK, k, signals, max_wake_ns);
    pa_json_key(j, "wakes");
    k->has_wakes ? pa_json_u64(j, k->wakes) : pa_json_null(j);
    tail_json(j, lv, o);
}

/* The member key: an array of the first --top locks of list. */
static int list_json(pa_json_t *j, ctx_t *c, const char *key, const pa_lock_t *const *list,
                     size_t n, emit_fn emit, const pa_locks_opts_t *o)
{
    pa_json_key(j, key);
    pa_json_array_begin(j, false);
    int rc = each_view(c, list, n, o, emit, j);
    pa_json_array_end(j);
    return rc;
}

static int write_json(pa_json_t *j, ctx_t *c, const pa_locks_opts_t *o)
{
    pa_trace_t *t = c->t;
    const pa_locks_t *l = &t->locks;
    pa_json_object_begin(j, false);
    pa_json_key(j, "format");
    pa_json_string(j, "perfshim-locks");
    pa_json_kv_u64(j, "version", 1);
    pa_report_process_json(j, t);
    pa_json_kv_bool(j, "lock_profiling", t->has_locks);
    pa_json_key(j, "time_ns");
    t->has_locks ? pa_json_u64(j, l->time_ns) : pa_json_null(j);
    pa_json_key(j, "sample");
    t->has_locks ? pa_json_u64(j, l->sample) : pa_json_null(j);
    pa_json_key(j, "totals");
    pa_json_object_begin(j, false);
    pa_json_kv_u64(j, "locks", c->nlocks);
    pa_json_kv_u64(j, "acquisitions", c->acquisitions);
    pa_json_kv_u64(j, "contended", c->contended);
    pa_json_kv_u64(j, "wait_ns", c->wait_ns);
    pa_json_kv_u64(j, "condvars", c->nconds);
    pa_json_kv_u64(j, "cond_waits", c->cond_waits);
    pa_json_kv_u64(j, "cond_wait_ns", c->cond_wait_ns);
    pa_json_kv_u64(j, "signal_semaphores", c->nsigs);
    pa_json_kv_u64(j, "signal_waits", c->sig_waits);
    pa_json_kv_u64(j, "signal_wait_ns", c->sig_wait_ns);
    pa_json_kv_u64(j, "retired_quiet", l->retired_quiet);
    pa_json_kv_u64(j, "retired_quiet_acquisitions", l->retired_quiet_acquisitions);
    pa_json_kv_bool(j, "table_full", (l->flags & 1) != 0);
    PA_ROW_JSON1(j, LOCKS_HEAD, l, untracked_ops);
    pa_json_object_end(j);
    int rc = list_json(j, c, "locks", c->locks, c->nlocks, lock_json, o);
    if (rc == PA_OK)
        rc = list_json(j, c, "condvars", c->conds, c->nconds, cond_json, o);
    if (rc == PA_OK)
        rc = list_json(j, c, "signal_semaphores", c->sigs, c->nsigs, signal_json, o);
    pa_report_status_json(j, t);
    pa_json_object_end(j);
    return rc;
}

/* ---- entry points ------------------------------------------------------------------------ */

int pa_locks_report(pa_trace_t *t, const pa_locks_opts_t *o, FILE *out, pa_json_t *j)
{
    ctx_t c;
    int rc = ctx_init(&c, t);
    if (rc == PA_OK) {
        if (o->json)
            rc = write_json(j, &c, o);
        else if (!t->has_locks) {
            pa_report_header_text(out, t, "perfshim lock report");
            pa_report_status_text(out, t);
            fputs("\nNo lock statistics in this trace: the program ran without PERFSHIM_LOCKS=1 "
                  "(perfshim run sets it), or it was lost to damage.\n",
                  out);
        } else
            rc = write_text(out, &c, o);
    }
    ctx_free(&c);
    return rc;
}

static int locks_one(pa_trace_t *t, void *ctx, FILE *out, pa_json_t *j)
{
    return pa_locks_report(t, ctx, out, j);
}

int pa_locks_files(char *const *paths, size_t n, const pa_locks_opts_t *o, bool as_array, FILE *out)
{
    pa_each_opts_t eo = {.json = o->json, .quiet = o->quiet, .as_array = as_array};
    return pa_report_each_file(paths, n, &eo, out, locks_one, (void *)o);
}

bool pa_locks_is_lock(const pa_lock_t *k)
{
    return k->kind != PS_LOCK_COND && !is_signal(k);
}
