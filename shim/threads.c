/* SPDX-License-Identifier: MIT */
/*
 * threads.c — pthread_create (ps_threads_create, exported by interpose_threads.c), and the
 * THREADS chunk: for every thread the program started, the stack that created it, its start
 * routine, name, lifetime and CPU time.
 *
 * The new thread starts in thread_start, which records it, starts its CPU-sampling timer when
 * PERFSHIM_CPU_HZ is on, and tail-calls the program's routine, so no perfshim frame stays at
 * the bottom of the thread's stacks. The end is recorded by track.c's thread destructor (it
 * runs whether the routine returns or calls pthread_exit).
 */
#include "timing.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#define TREC_MAX 65536u

typedef struct trec_s {
    atomic_uint tid;
    uint32_t creator;     /* tid of the creating thread */
    uint32_t start_stack; /* stack id of the pthread_create call */
    atomic_uint flags;    /* PS_THREAD_F_* */
    uint64_t start_ns;    /* since process start */
    atomic_ullong end_ns, cpu_ns;
    char name[16];
    uint64_t routine; /* start routine address */
} trec_t;

typedef struct start_s {
    void *(*fn)(void *);
    void *arg;
    uint32_t creator, stack;
    int prof_blocked; /* the creator asked for SIGPROF blocked (cpu.c) */
} start_t;

static int (*real_create)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
static trec_t *trecs;
static atomic_uint trec_next;
static atomic_ullong created, dropped;

static uint64_t since_start_ns(void)
{
    return ps_os_monotonic_ns() - ps_g.start_monotonic_ns;
}

static trec_t *trec_new(uint32_t tid, uint32_t creator, uint32_t stack, uint64_t routine,
                        uint32_t flags)
{
    if (!trecs)
        return NULL;
    unsigned i = atomic_fetch_add(&trec_next, 1);
    if (i >= TREC_MAX) {
        atomic_fetch_add(&dropped, 1);
        return NULL;
    }
    trec_t *r = &trecs[i];
    r->creator = creator;
    r->start_stack = stack;
    r->start_ns = flags & PS_THREAD_F_MAIN ? 0 : since_start_ns();
    r->routine = routine;
    atomic_store(&r->flags, flags);
    atomic_store(&r->tid, tid); /* last: a row is written once its tid is set */
    return r;
}

static void thread_begin(void *(*fn)(void *), uint32_t creator, uint32_t stack, int prof_blocked)
{
    ps_tls_guard++;
    ps_unwind_thread_start();           /* first: the walks of this thread need its stack bounds */
    ps_thread_t *t = ps_track_thread(); /* registers the destructor that records the end */
    trec_t *r = trec_new(ps_os_tid(), creator, stack, (uint64_t)(uintptr_t)fn, 0);
    if (t) {
        t->thread_rec = r;
        ps_unwind_fill_bounds(&t->unwind_cache); /* for the leak scan, even if it never walks */
    }
    if (ps_g.opt.cpu_hz > 0)
        ps_cpu_thread_start(prof_blocked);
    ps_tls_guard--;
}

__attribute__((optimize("optimize-sibling-calls"))) static void *thread_start(void *p)
{
    start_t *s = p;
    void *(*fn)(void *) = s->fn;
    void *arg = s->arg;
    uint32_t creator = s->creator, stack = s->stack;
    int prof_blocked = s->prof_blocked;
    ps_tls_guard++;
    ps_real_free(s);
    ps_tls_guard--;
    thread_begin(fn, creator, stack, prof_blocked);
    return fn(arg); /* tail call: the program's routine runs in our place */
}

int ps_threads_create(pthread_t *th, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
    if (PS_UNLIKELY(!real_create)) {
        void *f = ps_real_function("pthread_create");
        if (!f)
            return EAGAIN;
        real_create = (int (*)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *))f;
    }
    if (!ps_g.tracing || ps_tls_guard || !trecs)
        return real_create(th, attr, fn, arg);
    ps_thread_t *t = ps_track_thread();
    ps_tls_guard++;
    start_t *s = ps_real_malloc(sizeof *s);
    if (s) {
        s->fn = fn;
        s->arg = arg;
        s->creator = t ? t->tid : ps_os_tid();
        s->stack = ps_stack_capture_id(t);
        s->prof_blocked = ps_cpu_prof_blocked();
    }
    ps_tls_guard--;
    if (!s)
        return real_create(th, attr, fn, arg);
    int rc = real_create(th, attr, thread_start, s);
    if (rc != 0) {
        int saved = errno;
        ps_real_free(s);
        errno = saved;
    } else {
        atomic_fetch_add_explicit(&created, 1, memory_order_relaxed);
    }
    return rc;
}

static uint64_t cpu_ns_of(uint32_t tid, int self)
{
    clockid_t clk = self ? CLOCK_THREAD_CPUTIME_ID : (clockid_t)((~(clockid_t)tid << 3) | 6);
    return ps_os_clock_ns(clk);
}

void ps_threads_thread_exit(ps_thread_t *t)
{
    trec_t *r = t ? t->thread_rec : NULL;
    if (!r)
        return;
    t->thread_rec = NULL;
    ps_os_thread_name(r->name);
    atomic_store(&r->cpu_ns, cpu_ns_of(0, 1));
    atomic_store(&r->end_ns, since_start_ns());
    atomic_fetch_or(&r->flags, PS_THREAD_F_EXITED);
}

int ps_threads_init(void)
{
    if (!trecs)
        trecs = ps_os_map(TREC_MAX * sizeof *trecs);
    if (!trecs)
        return -1;
    ps_thread_t *t = ps_track_thread();
    trec_t *r = trec_new(ps_os_tid(), 0, 0, 0, PS_THREAD_F_MAIN);
    if (t)
        t->thread_rec = r;
    return 0;
}

void ps_threads_fork_child(void)
{
    /* the child's trace lists its own threads: the one that forked is its first */
    if (!trecs)
        return;
    unsigned used = atomic_load(&trec_next);
    memset(trecs, 0, (size_t)(used < TREC_MAX ? used : TREC_MAX) * sizeof *trecs);
    atomic_store(&trec_next, 0);
    atomic_store(&created, 0);
    atomic_store(&dropped, 0);
    ps_thread_t *t = ps_track_thread();
    trec_t *r = trec_new(ps_os_tid(), 0, 0, 0, PS_THREAD_F_MAIN);
    if (t)
        t->thread_rec = r;
}

void ps_threads_write(ps_buf_t *b, uint64_t time_ns)
{
    unsigned n = trecs ? atomic_load(&trec_next) : 0;
    if (n > TREC_MAX)
        n = TREC_MAX;
    uint32_t me = ps_os_tid();
    ps_row_threads_head_t head = {
        .time_ns = time_ns, .created = atomic_load(&created), .dropped = atomic_load(&dropped)};
    ps_put_threads_head(b, &head);
    size_t count_at = ps_buf_table(b, PS_THREAD_ROW_SIZE);
    uint32_t rows = 0;
    for (unsigned i = 0; i < n; i++) {
        trec_t *r = &trecs[i];
        uint32_t tid = atomic_load(&r->tid);
        if (!tid)
            continue; /* being created */
        uint32_t flags = atomic_load(&r->flags);
        uint64_t cpu = atomic_load(&r->cpu_ns), end = atomic_load(&r->end_ns);
        char name[16];
        memcpy(name, r->name, sizeof name);
        if (!(flags & PS_THREAD_F_EXITED)) { /* running: read its CPU time and name now */
            cpu = cpu_ns_of(tid, tid == me);
            char path[64], comm[32];
            ps_msg_snprintf(path, sizeof path, "/proc/self/task/%u/comm", tid);
            memset(name, 0, sizeof name);
            if (ps_os_read_file(path, comm, sizeof comm) > 0) {
                size_t len = ps_str_span(comm, '\n');
                memcpy(name, comm, len < sizeof name - 1 ? len : sizeof name - 1);
            }
            end = 0;
        }
        rows++;
        ps_row_thread_t row = {.tid = tid,
                               .creator_tid = r->creator,
                               .start_stack = r->start_stack,
                               .flags = flags,
                               .start_ns = r->start_ns,
                               .end_ns = end,
                               .cpu_ns = cpu,
                               .start_routine = r->routine};
        memcpy(row.name, name, sizeof name);
        ps_put_thread(b, &row);
    }
    ps_buf_patch_u32(b, count_at, rows);
}
