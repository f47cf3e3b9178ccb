/* SPDX-License-Identifier: MIT */
/*
 * alerts.c — what asks for a snapshot besides PERFSHIM_INTERVAL and exit, what raises an alert,
 * and the Prometheus text file:
 *   - triggers: a new high of the live heap (PERFSHIM_DUMP_AT_MAX, by steps), every N bytes
 *     allocated (PERFSHIM_DUMP_EVERY), a signal (PERFSHIM_DUMP_SIGNAL);
 *   - alerts: RSS, live heap, cgroup v2 memory.current against memory.max, live-heap growth
 *     between interval snapshots (PERFSHIM_ALERT_*): a snapshot (reason alert), an ALERT
 *     chunk right after its SNAPSHOT, and one line on stderr or to syslog (PERFSHIM_SYSLOG);
 *   - PERFSHIM_PROM_FILE: live figures for node_exporter's textfile collector, written at every
 *     snapshot to a temporary file in the same directory and renamed over the old one.
 *
 * Where it runs: snapshot.c's tick (inside a tracked malloc or free, one call in
 * PS_INTERVAL_EVERY per thread, the thread's guard raised) calls ps_alerts_due(), a few
 * relaxed loads; only when that says something is due, and the tick found a safe point and
 * took the writer lock, does ps_alerts_claim() decide (and read /proc or the cgroup files,
 * at interval ticks only). The rest runs inside the snapshot writer, writer lock held. The
 * signal handler only sets a flag.
 *
 * Must not: allocate through malloc, use stdio, wait for a lock the program could hold, keep a
 * descriptor open between snapshots, print anything but the one line per alert.
 */
#include "internal.h"
#include "pool.h"
#include "timing.h"

#include "include/trace_format.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <signal.h>
#include <string.h>

/* glibc >= 2.35; weak, as in unwind.c: without it, sites are labelled by stack id alone */
extern int _dl_find_object(void *address, struct dl_find_object *result) __attribute__((weak));

#define MIB (1024ll * 1024)
#define REARM_PCT 90  /* a threshold alert re-arms once its value fell below 90% of it */
#define PENDING_MAX 8 /* alerts of one snapshot (there are 4 kinds) */
#define LINES_MAX 100 /* alert lines a process prints; later alerts are in the trace only */
#define PROM_SITES_MAX 100

__thread uint64_t ps_tls_alloc_bytes __attribute__((tls_model("initial-exec")));

int ps_alerts_armed;                 /* a trigger or the heap alert is on: ps_alerts_due has work */
static uint64_t flush_bytes;         /* a thread's allocated bytes kept before adding them up */
static _Atomic uint64_t alloc_total; /* bytes of tracked allocations, as flushed at ticks */
static _Atomic uint64_t next_every;  /* alloc_total at which PERFSHIM_DUMP_EVERY is due */
static atomic_llong next_max;        /* live heap at which PERFSHIM_DUMP_AT_MAX is due */
static atomic_int heap_armed;        /* PERFSHIM_ALERT_HEAP may fire */
static int rss_armed, cgroup_armed, growth_armed; /* writer lock */
static long long growth_prev = -1; /* live heap at the previous interval claim (writer lock) */
static ps_row_alert_t pending[PENDING_MAX]; /* writer lock */
static int npending;
static int lines_printed; /* writer lock */
static uint64_t alerts_total;

/* ---- the signal --------------------------------------------------------------------------- */

static int dump_sig;               /* SIGUSR1 or SIGUSR2, 0 when off */
static atomic_int sig_owned;       /* 1 while the shim's handler is installed */
static atomic_int sig_pending;     /* set by the handler, taken by a claim */
static struct sigaction sig_saved; /* the action the program would see without us (SIG_DFL) */
static int (*real_sigaction)(int, const struct sigaction *, struct sigaction *);

PS_SIGNAL_HANDLER static void on_dump_signal(int sig)
{
    (void)sig;
    atomic_store_explicit(&sig_pending, 1, memory_order_relaxed); /* lock-free: signal-safe */
}

static void install_signal(void)
{
    dump_sig = ps_g.opt.dump_signal == 1 ? SIGUSR1 : SIGUSR2;
    real_sigaction =
        (int (*)(int, const struct sigaction *, struct sigaction *))ps_real_function("sigaction");
    const char *name = dump_sig == SIGUSR1 ? "USR1" : "USR2";
    if (!real_sigaction || real_sigaction(dump_sig, NULL, &sig_saved) != 0) {
        ps_msg_warn("PERFSHIM_DUMP_SIGNAL=%s: cannot read the signal's action; no snapshot by "
                    "signal",
                    name);
        return;
    }
    /* Inherited as ignored (nohup-like) or already handled: the program's disposition wins, and
     * an ignored signal stays ignored for the programs it executes. */
    if (!(sig_saved.sa_flags & SA_SIGINFO) && sig_saved.sa_handler == SIG_DFL) {
        struct sigaction a;
        memset(&a, 0, sizeof a);
        a.sa_handler = on_dump_signal;
        a.sa_flags = SA_RESTART;
        sigemptyset(&a.sa_mask);
        if (real_sigaction(dump_sig, &a, NULL) == 0) {
            atomic_store(&sig_owned, 1);
            return;
        }
    }
    ps_msg_warn("PERFSHIM_DUMP_SIGNAL=%s: the signal is ignored or handled already; no snapshot "
                "by signal",
                name);
}

/* Checked with the kernel: a program may also have replaced our handler through a function
 * that is not interposed (sigset, sysv_signal, a raw system call); then the signal is its own. */
int ps_alerts_owns_signal(int sig)
{
    if (dump_sig == 0 || sig != dump_sig || !atomic_load(&sig_owned))
        return 0;
    struct sigaction cur;
    if (real_sigaction(sig, NULL, &cur) == 0 && !(cur.sa_flags & SA_SIGINFO) &&
        cur.sa_handler == on_dump_signal)
        return 1;
    atomic_store(&sig_owned, 0);
    return 0;
}

/* The program's sigaction for the dump signal while the shim's handler is installed. A query
 * sees the action the program would have without us; a new action of the program's replaces
 * ours (its use of the signal wins: dumps by signal stop, which the trace's messages say). */
int ps_alerts_sigaction(const struct sigaction *act, struct sigaction *old)
{
    struct sigaction prev = sig_saved;
    if (act) {
        if (real_sigaction(dump_sig, act, NULL) != 0)
            return -1;
        atomic_store(&sig_owned, 0);
        if (!ps_tls_locks) /* sigaction may come from a signal handler: no shim lock held here */
            ps_msg_record("PERFSHIM_DUMP_SIGNAL: the program installed its own action for the "
                          "signal; no more snapshots by signal");
    }
    if (old)
        *old = prev;
    return 0;
}

/* ---- the tick ----------------------------------------------------------------------------- */

static long long live_now(void)
{
    return atomic_load_explicit(&ps_g.live_bytes, memory_order_relaxed);
}

static long long rearm_below(uint64_t threshold)
{
    return (long long)(threshold / 100 * REARM_PCT);
}

/* Any trigger or alert (not PERFSHIM_PROM_FILE). */
static int any_set(const ps_options_t *o)
{
    return o->dump_at_max || o->dump_every || o->dump_signal || o->alert_heap || o->alert_rss ||
           o->alert_cgroup || o->alert_growth;
}

int ps_alerts_wanted(void)
{
    return any_set(&ps_g.opt) || (ps_g.opt.prom_file && *ps_g.opt.prom_file);
}

int ps_alerts_init(void)
{
    const ps_options_t *o = &ps_g.opt;
    atomic_store(&next_every, o->dump_every);
    flush_bytes = o->dump_every / 64 < MIB ? o->dump_every / 64 : MIB;
    atomic_store(&next_max, MIB);
    atomic_store(&heap_armed, 1);
    rss_armed = cgroup_armed = growth_armed = 1;
    if (any_set(o) && !o->track) {
        /* no tracked call, no tick; and a handler that never dumps would only swallow the
         * signal's default action */
        ps_msg_warn("the snapshot triggers and alerts are checked on tracked calls, and "
                    "PERFSHIM_TRACK=0: none is armed");
        return 0;
    }
    if (o->dump_signal)
        install_signal();
    if (!o->interval_ms && (o->alert_rss || o->alert_cgroup || o->alert_growth))
        ps_msg_warn("PERFSHIM_ALERT_RSS, _CGROUP and _GROWTH are checked at each "
                    "PERFSHIM_INTERVAL, which is off: they never fire");
    ps_alerts_armed = o->dump_at_max || o->dump_every || atomic_load(&sig_owned) || o->alert_heap;
    return ps_alerts_armed;
}

/* At every tick with ps_alerts_armed: a few relaxed loads. A thread adds its
 * allocated bytes to the shared total once they reach flush_bytes (a 64th of
 * PERFSHIM_DUMP_EVERY, at most 1 MiB), so threads do not write one cache line at every tick:
 * a snapshot comes at most that much per thread, plus 16 calls, after its multiple. */
int ps_alerts_due(void)
{
    const ps_options_t *o = &ps_g.opt;
    int due = dump_sig && atomic_load_explicit(&sig_pending, memory_order_relaxed);
    if (o->dump_every && ps_tls_alloc_bytes >= flush_bytes) {
        uint64_t mine = ps_tls_alloc_bytes;
        ps_tls_alloc_bytes = 0;
        uint64_t total = atomic_fetch_add_explicit(&alloc_total, mine, memory_order_relaxed) + mine;
        if (total >= atomic_load_explicit(&next_every, memory_order_relaxed))
            due = 1;
    }
    if (o->dump_at_max || o->alert_heap) {
        long long live = live_now();
        if (o->dump_at_max && live >= atomic_load_explicit(&next_max, memory_order_relaxed))
            due = 1;
        if (o->alert_heap) {
            int armed = atomic_load_explicit(&heap_armed, memory_order_relaxed);
            if (armed && live >= (long long)o->alert_heap)
                due = 1;
            else if (!armed && live < rearm_below(o->alert_heap))
                atomic_store_explicit(&heap_armed, 1, memory_order_relaxed);
        }
    }
    return due;
}

static void queue(uint32_t kind, uint64_t t, uint64_t value, uint64_t threshold, uint64_t base)
{
    if (npending == PENDING_MAX)
        return;
    pending[npending++] = (ps_row_alert_t){
        .kind = kind, .time_ns = t, .value = value, .threshold = threshold, .base = base};
}

/* A file holding one number ("max" and absent files give -1). */
static int read_u64(const char *path, uint64_t *v)
{
    char num[64];
    if (ps_os_read_file(path, num, sizeof num) <= 0 || num[0] < '0' || num[0] > '9')
        return -1;
    num[ps_str_span(num, '\n')] = 0;
    return ps_options_parse_size(num, v);
}

#define PS_OPT_PATH_MAX 3072 /* options.c: path options are shorter */

/* The cgroup v2 limit closest to being reached: of the process's cgroup and its ancestors,
 * the one whose memory.current is the largest share of its memory.max ("max": no limit).
 * 0 and *cur, *max set; -1 when no level has a limit (or cgroup v2 is not mounted at
 * PERFSHIM_CGROUP_ROOT). In a cgroup namespace /proc/self/cgroup says "0::/" and the
 * namespace's root, the mount point itself, is the container's cgroup: its files are read too.
 * Files are opened and closed at each check (no descriptor kept). *least gets the smallest
 * memory.max of the levels (the limit in effect), when least is not NULL. */
static int cgroup_usage(uint64_t *cur, uint64_t *max, uint64_t *least)
{
    const char *root = ps_g.opt.cgroup_root;
    size_t rlen = strlen(root);
    char text[1024], path[PS_OPT_PATH_MAX + sizeof text + 16];
    if (rlen >= PS_OPT_PATH_MAX || ps_os_read_file("/proc/self/cgroup", text, sizeof text) <= 0)
        return -1;
    const char *line = strncmp(text, "0::/", 4) == 0 ? text : strstr(text, "\n0::/");
    if (!line)
        return -1; /* cgroup v1 only */
    const char *rel = line + (line == text ? 3 : 4);
    size_t len = ps_str_span(rel, '\n'); /* rel[0..len): "/", or "/a/b" */
    int found = -1, limited = 0;
    double best = -1;
    for (;;) {
        size_t at = rlen;
        memcpy(path, root, at);
        memcpy(path + at, rel, len);
        at += len;
        uint64_t m = 0, c = 0;
        memcpy(path + at, "/memory.max", sizeof "/memory.max");
        if (read_u64(path, &m) == 0 && m > 0) {
            if (least && (!limited || m < *least))
                *least = m;
            limited = 1;
            memcpy(path + at, "/memory.current", sizeof "/memory.current");
            if (read_u64(path, &c) == 0 && (double)c / (double)m > best) {
                best = (double)c / (double)m;
                *cur = c;
                *max = m;
                found = 0;
            }
        }
        if (len <= 1)
            break;
        while (len > 1 && rel[len - 1] != '/') /* up one level */
            len--;
        if (len > 1)
            len--; /* "/a/" -> "/a"; "/" stays */
    }
    return found;
}

/* Interval checks: RSS, cgroup, growth (they read files, or compare intervals). */
static void check_interval(uint64_t t)
{
    const ps_options_t *o = &ps_g.opt;
    if (o->alert_rss) {
        uint64_t rss = ps_os_rss_bytes();
        if (rss_armed && rss >= o->alert_rss) {
            rss_armed = 0;
            queue(PS_ALERT_RSS, t, rss, o->alert_rss, 0);
        } else if (!rss_armed && (long long)rss < rearm_below(o->alert_rss)) {
            rss_armed = 1;
        }
    }
    if (o->alert_cgroup) {
        uint64_t cur, max;
        if (cgroup_usage(&cur, &max, NULL) == 0) {
            uint64_t thr = max / 100 * (uint64_t)o->alert_cgroup;
            if (cgroup_armed && cur >= thr) {
                cgroup_armed = 0;
                queue(PS_ALERT_CGROUP, t, cur, thr, max);
            } else if (!cgroup_armed && (long long)cur < rearm_below(thr)) {
                cgroup_armed = 1;
            }
        }
    }
    long long live = live_now();
    if (o->alert_growth && growth_prev >= 0) {
        long long thr = growth_prev + growth_prev / 100 * o->alert_growth;
        if (thr < growth_prev + MIB)
            thr = growth_prev + MIB;
        if (live > thr) {
            if (growth_armed)
                queue(PS_ALERT_GROWTH, t, (uint64_t)live, (uint64_t)thr, (uint64_t)growth_prev);
            growth_armed = 0;
        } else {
            growth_armed = 1; /* an interval without such growth ends the episode */
        }
    }
    growth_prev = live < 0 ? 0 : live;
}

int ps_alerts_claim(int interval, uint64_t now_ns)
{
    const ps_options_t *o = &ps_g.opt;
    uint64_t t = now_ns - ps_g.start_monotonic_ns;
    long long live = live_now();
    if (interval)
        check_interval(t);
    if (o->alert_heap && live >= (long long)o->alert_heap &&
        atomic_exchange_explicit(&heap_armed, 0, memory_order_relaxed))
        queue(PS_ALERT_HEAP, t, (uint64_t)live, o->alert_heap, 0);
    int reason = npending ? PS_SNAP_ALERT : -1;
    if (atomic_exchange_explicit(&sig_pending, 0, memory_order_relaxed) && reason < 0)
        reason = PS_SNAP_SIGNAL;
    if (o->dump_at_max && live >= atomic_load(&next_max)) {
        long long next = live + live / 100 * o->dump_at_max_step;
        atomic_store(&next_max, next > live + MIB ? next : live + MIB);
        if (reason < 0)
            reason = PS_SNAP_MAX;
    }
    uint64_t total = atomic_load(&alloc_total);
    if (o->dump_every && total >= atomic_load(&next_every)) {
        atomic_store(&next_every, (total / o->dump_every + 1) * o->dump_every);
        if (reason < 0)
            reason = PS_SNAP_EVERY;
    }
    return reason;
}

void ps_alerts_unclaimed(int reason)
{
    if (reason == PS_SNAP_SIGNAL) /* asked for by someone: kept for the next tick */
        atomic_store(&sig_pending, 1);
}

/* ---- alert lines, syslog, the ALERT chunk ------------------------------------------------- */

/* bytes as "612.0 MiB" (or "812 bytes") */
static const char *human(uint64_t b, char *out, size_t size)
{
    static const char *const unit[] = {"KiB", "MiB", "GiB", "TiB"};
    if (b < 1024) {
        ps_msg_snprintf(out, size, "%llu bytes", (unsigned long long)b);
        return out;
    }
    int u = 0;
    uint64_t scale = 1024;
    while (u < 3 && b / scale >= 1024) {
        scale *= 1024;
        u++;
    }
    uint64_t tenths = (b * 10 + scale / 2) / scale;
    if (b > UINT64_MAX / 10)
        tenths = b / scale * 10;
    ps_msg_snprintf(out, size, "%llu.%llu %s", (unsigned long long)(tenths / 10),
                    (unsigned long long)(tenths % 10), unit[u]);
    return out;
}

static void alert_text(const ps_row_alert_t *a, char *out, size_t size)
{
    const ps_options_t *o = &ps_g.opt;
    char v[32], th[32], b[32];
    switch (a->kind) {
    case PS_ALERT_RSS:
        ps_msg_snprintf(out, size, "RSS %s reached PERFSHIM_ALERT_RSS (%s)",
                        human(a->value, v, sizeof v), human(a->threshold, th, sizeof th));
        break;
    case PS_ALERT_HEAP:
        ps_msg_snprintf(out, size, "live heap %s reached PERFSHIM_ALERT_HEAP (%s)",
                        human(a->value, v, sizeof v), human(a->threshold, th, sizeof th));
        break;
    case PS_ALERT_CGROUP:
        ps_msg_snprintf(out, size, "cgroup memory.current %s reached %d%% of memory.max %s",
                        human(a->value, v, sizeof v), o->alert_cgroup, human(a->base, b, sizeof b));
        break;
    default:
        ps_msg_snprintf(out, size, "live heap grew from %s to %s in one interval (over %d%%)",
                        human(a->base, b, sizeof b), human(a->value, v, sizeof v), o->alert_growth);
        break;
    }
}

static void emit_line(const char *text)
{
    char line[512];
    if (ps_g.opt.syslog) {
        /* RFC 3164 without a time stamp (the receiver adds its own): user.warning = 12 */
        size_t n =
            ps_msg_snprintf(line, sizeof line, "<12>perfshim[%u]: alert: %s", ps_os_pid(), text);
        if (ps_os_send_dgram(ps_g.opt.syslog_socket, line, n) == 0)
            return;
    }
    size_t n = ps_msg_snprintf(line, sizeof line, "perfshim: alert: %s\n", text);
    if (ps_msg_stderr_ok()) /* not into a file the program put at descriptor 2 */
        ps_os_write_all(2, line, n);
}

void ps_alerts_write(ps_buf_t *b, uint64_t time_ns)
{
    if (!npending)
        return;
    ps_buf_reset(b);
    ps_row_alerts_head_t head = {.time_ns = time_ns};
    ps_put_alerts_head(b, &head);
    ps_buf_u32(b, (uint32_t)npending);
    ps_buf_u32(b, PS_ALERT_ROW_SIZE);
    for (int i = 0; i < npending; i++)
        ps_put_alert(b, &pending[i]);
    ps_writer_chunk(PS_CHUNK_ALERT, b);
    const char *trace = ps_writer_path();
    for (int i = 0; i < npending; i++) {
        alerts_total++;
        if (lines_printed >= LINES_MAX)
            continue;
        lines_printed++;
        char text[400], what[300];
        alert_text(&pending[i], what, sizeof what);
        ps_msg_snprintf(text, sizeof text, "%s (pid %u; snapshot in %s)", what, ps_os_pid(),
                        trace && *trace ? trace : "no trace");
        emit_line(text);
    }
    npending = 0;
}

/* ---- PERFSHIM_PROM_FILE ------------------------------------------------------------------- */

typedef struct {
    uint32_t id;
    uint64_t live;
    int64_t growth;
} site_t;

static struct {
    int disabled;
    int64_t *prev_live; /* per stack id: live bytes at the previous write (mapped, lazily) */
    size_t prev_bytes;
    uint32_t prev_fresh; /* prev_live[prev_fresh..] never written */
    uint64_t prev_alloc_bytes, prev_time_ns;
    int have_prev;
    ps_totals_t tot;
    uint64_t rate; /* bytes per second since the previous snapshot */
    site_t top[PROM_SITES_MAX];
    int ntop;
} prom;

static int prom_on(void)
{
    return ps_g.opt.prom_file && *ps_g.opt.prom_file && !prom.disabled;
}

void ps_alerts_observe(const ps_totals_t *tot, const ps_counters_t *sum, uint32_t n,
                       uint64_t time_ns)
{
    if (!prom_on())
        return;
    prom.tot = *tot;
    prom.rate = 0;
    if (prom.have_prev && time_ns > prom.prev_time_ns && tot->alloc_bytes >= prom.prev_alloc_bytes)
        prom.rate = (uint64_t)((double)(tot->alloc_bytes - prom.prev_alloc_bytes) * 1e9 /
                               (double)(time_ns - prom.prev_time_ns));
    prom.prev_alloc_bytes = tot->alloc_bytes;
    prom.prev_time_ns = time_ns;
    prom.have_prev = 1;
    int k = ps_g.opt.prom_sites;
    prom.ntop = 0;
    if (!k)
        return;
    if (!prom.prev_live) {
        prom.prev_bytes = ((size_t)ps_g.opt.max_stacks + 1) * sizeof *prom.prev_live;
        prom.prev_live = ps_os_map(prom.prev_bytes);
        if (!prom.prev_live)
            return; /* no sites this time; the figures are still written */
    }
    if (n + 1 > prom.prev_fresh) { /* written before read: one fault per page */
        memset(&prom.prev_live[prom.prev_fresh], 0,
               (size_t)(n + 1 - prom.prev_fresh) * sizeof *prom.prev_live);
        prom.prev_fresh = n + 1;
    }
    for (uint32_t id = 1; id <= n; id++) {
        const ps_counters_t *c = &sum[id];
        if (!c->allocs)
            continue;
        int64_t live = (int64_t)(c->alloc_bytes - c->freed_bytes);
        int64_t g = live - prom.prev_live[id];
        prom.prev_live[id] = live;
        if (g <= 0 || (prom.ntop == k && g <= prom.top[k - 1].growth))
            continue;
        int at = prom.ntop < k ? prom.ntop++ : k - 1; /* insertion into the sorted top k */
        while (at > 0 && prom.top[at - 1].growth < g) {
            prom.top[at] = prom.top[at - 1];
            at--;
        }
        prom.top[at] = (site_t){.id = id, .live = (uint64_t)live, .growth = g};
    }
}

/* A label value: backslash, double quote and newline escaped (the exposition format's rules). */
static void put_label(ps_buf_t *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            ps_buf_bytes(b, "\\", 1);
        if (*s == '\n')
            ps_buf_bytes(b, "\\n", 2);
        else
            ps_buf_bytes(b, s, 1);
    }
}

static void put_text(ps_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put_text(ps_buf_t *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    size_t n = ps_msg_format(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    ps_buf_bytes(b, tmp, n);
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static void put_head(ps_buf_t *b, const char *name, const char *type, const char *help)
{
    put_text(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{pid="..",program=".."[,extra]} value */
static void put_sample(ps_buf_t *b, const char *name, const char *extra, const char *value)
{
    put_text(b, "%s{pid=\"%u\",program=\"", name, ps_os_pid());
    put_label(b, base_name(ps_g.exe));
    put_text(b, "\"%s} %s\n", extra ? extra : "", value);
}

static void put_gauge(ps_buf_t *b, const char *name, const char *type, const char *help,
                      unsigned long long v)
{
    char num[32];
    ps_msg_snprintf(num, sizeof num, "%llu", v);
    put_head(b, name, type, help);
    put_sample(b, name, NULL, num);
}

/* The site of a stack as module+0xoffset: its first frame outside the C and C++ runtimes
 * (malloc's caller may be strdup, operator new, ...), the offset that of the return address
 * from the module's load bias. The shim cannot symbolize cheaply; `perfshim leaks` can. */
static void site_label(uint32_t id, char *out, size_t size)
{
    const ps_stack_t *s = ps_stack_get(id);
    ps_msg_snprintf(out, size, "stack %u", id);
    if (!s || !_dl_find_object)
        return;
    for (uint32_t i = 0; i < s->depth; i++) {
        uintptr_t pc = s->ip[i];
        struct dl_find_object fo;
        if (pc == (uintptr_t)PS_FRAME_CUT || _dl_find_object((void *)(pc - 1), &fo) != 0 ||
            !fo.dlfo_link_map)
            return;
        const char *name = fo.dlfo_link_map->l_name;
        name = name && *name ? base_name(name) : base_name(ps_g.exe);
        if (i + 1 < s->depth && (!strncmp(name, "libc.so", 7) || !strncmp(name, "libstdc++", 9)))
            continue;
        ps_msg_snprintf(out, size, "%s+0x%lx", name,
                        (unsigned long)(pc - fo.dlfo_link_map->l_addr));
        return;
    }
}

/* v / 10^digits with that many decimals ("0.987654"): ps_msg_format has no %09llu */
static void put_fixed(char *out, size_t size, uint64_t v, int digits)
{
    uint64_t scale = 1;
    for (int i = 0; i < digits; i++)
        scale *= 10;
    char frac[24];
    ps_msg_snprintf(frac, sizeof frac, "%llu", (unsigned long long)(v % scale + scale));
    ps_msg_snprintf(out, size, "%llu.%s", (unsigned long long)(v / scale), frac + 1);
}

static void build_prom(ps_buf_t *b)
{
    const ps_totals_t *t = &prom.tot;
    put_gauge(b, "perfshim_live_heap_bytes", "gauge",
              "Bytes of tracked allocations not freed, at the last snapshot.", t->live_bytes);
    put_gauge(b, "perfshim_live_blocks", "gauge", "Tracked allocations not freed.", t->live_blocks);
    put_gauge(b, "perfshim_peak_live_heap_bytes", "gauge", "Highest live heap since start.",
              t->peak_live_bytes);
    put_gauge(b, "perfshim_rss_bytes", "gauge", "Resident set size at the last snapshot.",
              t->rss_bytes);
    put_gauge(b, "perfshim_allocated_bytes_total", "counter",
              "Bytes requested by tracked allocations since start.", t->alloc_bytes);
    put_gauge(b, "perfshim_allocations_total", "counter", "Tracked allocations since start.",
              t->allocs);
    put_gauge(b, "perfshim_allocation_rate_bytes_per_second", "gauge",
              "Bytes allocated per second between the last two snapshots.", prom.rate);
    put_gauge(b, "perfshim_alerts_total", "counter", "Alerts raised since start.", alerts_total);
    char num[48];
    if (ps_g.pool_on) {
        enum { MAXC = 64 };
        ps_pool_class_stats_t cs[MAXC];
        ps_pool_totals_t pt;
        size_t nc = ps_pool_stats(cs, MAXC, &pt);
        uint64_t hits = 0, allocs = 0;
        for (size_t i = 0; i < nc && i < MAXC; i++) {
            hits += cs[i].hits;
            allocs += cs[i].allocs;
        }
        if (hits > allocs)
            hits = allocs;
        put_fixed(num, sizeof num, allocs ? (uint64_t)((double)hits * 1e6 / (double)allocs) : 0, 6);
        put_head(b, "perfshim_pool_hit_ratio", "gauge",
                 "Share of pooled allocations served from the thread's own cache.");
        put_sample(b, "perfshim_pool_hit_ratio", NULL, num);
    }
    if (ps_g.locks_on) {
        put_fixed(num, sizeof num, ps_locks_wait_ns(), 9);
        put_head(b, "perfshim_lock_wait_seconds_total", "counter",
                 "Time threads waited for pthread locks (PERFSHIM_LOCKS=1).");
        put_sample(b, "perfshim_lock_wait_seconds_total", NULL, num);
    }
    if (prom.ntop) {
        for (int pass = 0; pass < 2; pass++) {
            const char *name = pass ? "perfshim_site_growth_bytes" : "perfshim_site_live_bytes";
            put_head(b, name, "gauge",
                     pass ? "Growth of a site's live bytes since the previous snapshot."
                          : "Live bytes of the sites that grew most since the previous "
                            "snapshot (site: module+0xoffset of its first frame outside libc "
                            "and libstdc++).");
            for (int i = 0; i < prom.ntop; i++) {
                char site[256], extra[400], lab[300];
                site_label(prom.top[i].id, site, sizeof site);
                ps_buf_t lb = {.data = (uint8_t *)lab, .cap = sizeof lab - 1};
                put_label(&lb, site);
                lab[lb.failed ? 0 : lb.len] = 0;
                ps_msg_snprintf(extra, sizeof extra, ",site=\"%s\",stack=\"%u\"", lab,
                                prom.top[i].id);
                ps_msg_snprintf(
                    num, sizeof num, "%llu",
                    (unsigned long long)(pass ? (uint64_t)prom.top[i].growth : prom.top[i].live));
                put_sample(b, name, extra, num);
            }
        }
    }
}

/* Writes the file: PATH.PID.tmp in the same directory (not *.prom, so the textfile collector
 * never reads it), then rename(2) over PATH, so a reader sees the old file or the new one,
 * whole. Mode 0644: the collector runs as another user. */
static PS_NOINLINE void prom_write(ps_buf_t *b)
{
    char path[3200], tmp[3300];
    if (ps_writer_expand(ps_g.opt.prom_file, ps_g.cwd, ps_g.exe, ps_os_pid(),
                         ps_g.start_realtime_ns / 1000000000u, path, sizeof path) != 0) {
        prom.disabled = 1;
        ps_msg_warn("PERFSHIM_PROM_FILE expands to an empty or too long path; no file written");
        return;
    }
    ps_msg_snprintf(tmp, sizeof tmp, "%s.%u.tmp", path, ps_os_pid());
    ps_buf_reset(b);
    build_prom(b);
    if (b->failed)
        return; /* no memory for it now: the previous file stays */
    /* a path that is not a regular file (/dev/null, a FIFO) is written in place: a rename
     * would replace the device or the pipe with a regular file (as root, /dev/null itself) */
    struct stat st;
    bool in_place = ps_os_stat(path, &st) == 0 && !S_ISREG(st.st_mode);
    int fd = -1, err = 0;
    for (int attempt = 0; attempt < 2 && fd < 0; attempt++) {
        fd = in_place ? ps_os_open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0)
                      : ps_os_open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        err = errno;
        if (fd < 0 && err == EEXIST && attempt == 0 && !in_place)
            ps_os_unlink(tmp); /* left by a process of the same pid that was killed */
    }
    if (fd >= 0) {
        /* past RLIMIT_FSIZE (ulimit -f) the write would end the program with SIGXFSZ */
        err = ps_os_past_fsize(fd, b->len) ? EFBIG : ps_os_write_all(fd, b->data, b->len);
        if (ps_os_close(fd) != 0 && !err)
            err = -errno;
        if (!err && !in_place && ps_os_rename(tmp, path) != 0)
            err = -errno;
        if (err && !in_place)
            ps_os_unlink(tmp);
        err = err < 0 ? -err : err;
    }
    if (fd < 0 || err) {
        prom.disabled = 1;
        ps_msg_warn("cannot write PERFSHIM_PROM_FILE %s (%s); no more Prometheus figures", path,
                    strerror(err)); /* glibc's strerror: a table lookup, no allocation */
    }
}

/* Called at every snapshot: the test stays small and apart from the writer, which a process
 * without PERFSHIM_PROM_FILE never runs (its code then stays out of the resident pages:
 * scripts/text_order.py). */
void ps_alerts_prom(ps_buf_t *b)
{
    if (prom_on() && prom.have_prev)
        prom_write(b);
}

/* Only what changes is written: every page written after fork is a copy. */
void ps_alerts_fork_child(void)
{
    if (npending)
        npending = 0;
    if (prom.have_prev) /* the child's rate starts at its first snapshot */
        prom.have_prev = 0;
    /* without %p the child's file would replace its parent's */
    if (prom_on() && !strstr(ps_g.opt.prom_file, "%p"))
        prom.disabled = 1;
}

/* The cgroup v2 memory limit in effect: the smallest memory.max of the process's cgroup and its
 * ancestors; 0 when none has a limit or cgroup v2 is not there. For the PROCESS chunk (read
 * once, when the trace starts). */
uint64_t ps_alerts_cgroup_limit(void)
{
    uint64_t cur = 0, max = 0, least = 0;
    (void)cgroup_usage(&cur, &max, &least);
    return least;
}
