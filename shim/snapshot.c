/* SPDX-License-Identifier: MIT */
/*
 * snapshot.c — turns the shim's state into the chunks of one snapshot and writes them:
 * PROCESS (first time in this process), MODULES (read now with dl_iterate_phdr),
 * UNLOADED_MODULES (those dlclose unmapped so far: modules.c), STACKS
 * (those new since the last snapshot), SNAPSHOT (totals and per-stack rows), MESSAGE
 * (warnings since the last snapshot), END (at exit).
 *
 * Chunk order: PROCESS, MODULES, UNLOADED_MODULES, POOL, timing chunks, STACKS, SNAPSHOT,
 * MESSAGE, END. SNAPSHOT comes after every chunk of its moment, so that it marks the snapshot
 * complete: a reader of a file whose writer died mid-snapshot finds the previous SNAPSHOT, and
 * the chunks after it with a later time stamp are the lost one's (docs/trace-format.md).
 *
 * At exit and on perfshim_dump() it runs outside the allocation path, with the thread's guard
 * set so that anything it calls is not tracked. The writer lock serializes snapshots and is
 * taken by the fork handlers so a child never inherits a half-written chunk.
 *
 * PERFSHIM_INTERVAL's snapshots run *inside* a tracked malloc or free (ps_snapshot_tick), where
 * the program may hold any lock of its own. They are safe there because they wait for nothing
 * the program could hold (docs/architecture.md, "Interval snapshots"): the writer lock and the
 * loader's dl_load_write_lock are only try-locked (busy: the snapshot is skipped, or written
 * without MODULES), and the tick gives up when this thread holds a shim lock or any of the
 * loader's locks. The other locks a snapshot takes are the shim's own, held only around short
 * work that waits for nothing.
 */
#include "internal.h"
#include "pool.h"
#include "timing.h"

#include "include/trace_format.h"

#include <elf.h>
#include <limits.h>
#include <link.h>
#include <string.h>

static ps_spinlock_t writer_lock;
static int process_written;     /* PROCESS chunk written to the current file */
static uint32_t stacks_written; /* highest stack id already in the current file */
static uint64_t *stack_peak;    /* per-stack live bytes, highest seen at a snapshot */
static uint32_t peak_fresh;     /* stack_peak[peak_fresh..] was never written */
static ps_buf_t buf;
static uint64_t last_snapshot_ns; /* time stamp of the last SNAPSHOT chunk (ns since start) */
static int peak_warned;
static int ended; /* the final snapshot is written: no interval snapshot may follow its END */

/* ---- PERFSHIM_INTERVAL -------------------------------------------------------------------- */

/* A thread reads the clock once in this many tracked calls: a vDSO clock_gettime (~20 ns)
 * against a tracked call's few hundred. A thread making fewer calls is simply checked less. */
#define PS_INTERVAL_EVERY 16

__thread int ps_tls_interval_left __attribute__((tls_model("initial-exec")));
static uint64_t interval_ns;      /* 0: off */
static int tick_on;               /* the interval, or a trigger or alert of alerts.c */
static _Atomic uint64_t next_due; /* monotonic ns at which the next interval snapshot is due */

static void put_process(ps_buf_t *b)
{
    ps_buf_u64(b, ps_os_pid());
    ps_buf_u64(b, ps_os_ppid());
    ps_buf_u64(b, ps_g.start_realtime_ns);
    ps_buf_u64(b, ps_g.start_monotonic_ns);
    ps_buf_str(b, PERFSHIM_VERSION_STRING);
    ps_buf_str(b, ps_g.exe);
    char host[256];
    if (ps_os_read_file("/proc/sys/kernel/hostname", host, sizeof host) > 0)
        host[strcspn(host, "\n")] = 0;
    else
        host[0] = 0;
    ps_buf_str(b, host);

    /* argv from /proc/self/cmdline: NUL-separated; a long command line is cut at 64 KiB */
    size_t cap = 64 * 1024;
    char *cmd = ps_os_map(cap);
    if (!cmd)
        ps_msg_warn("cannot map a buffer for the command line; the trace records no argv");
    ssize_t n = cmd ? ps_os_read_file("/proc/self/cmdline", cmd, cap) : -1;
    uint32_t argc = 0;
    for (ssize_t i = 0; i < n; i++)
        if (cmd[i] == 0)
            argc++;
    if (n > 0 && cmd[n - 1] != 0)
        argc++;
    ps_buf_u32(b, argc);
    for (ssize_t i = 0; i < n;) {
        size_t len = strnlen(cmd + i, (size_t)(n - i));
        ps_buf_u32(b, (uint32_t)len);
        ps_buf_bytes(b, cmd + i, len);
        i += (ssize_t)len + 1;
    }
    ps_os_unmap(cmd, cap);

    char opts[2048];
    ps_options_describe(&ps_g.opt, opts, sizeof opts);
    ps_buf_str(b, opts);
    ps_buf_u32(b, (uint32_t)sizeof(void *));
    ps_buf_u32(b, (uint32_t)ps_os_page_size());
}

typedef struct {
    ps_buf_t *b;
    uint32_t count;
} modules_ctx_t;

static void put_build_id(ps_buf_t *b, struct dl_phdr_info *info)
{
    uint8_t id[PS_BUILD_ID_MAX];
    size_t n = ps_modules_build_id(info, id, sizeof id);
    ps_buf_u32(b, (uint32_t)n);
    ps_buf_bytes(b, id, n);
}

static int put_module(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    modules_ctx_t *ctx = data;
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uintptr_t s = info->dlpi_addr + ph->p_vaddr, e = s + ph->p_memsz;
        lo = s < lo ? s : lo;
        hi = e > hi ? e : hi;
    }
    if (hi == 0)
        return 0;
    const char *path = info->dlpi_name;
    if (!path || !*path)
        path = ctx->count == 0 ? ps_g.exe : "";
    else if (strncmp(path, "linux-vdso", 10) == 0)
        path = "[vdso]";
    ps_buf_u64(ctx->b, info->dlpi_addr);
    ps_buf_u64(ctx->b, lo);
    ps_buf_u64(ctx->b, hi);
    ps_buf_str(ctx->b, path);
    put_build_id(ctx->b, info);
    ctx->count++;
    return 0;
}

static int write_modules(void)
{
    ps_buf_reset(&buf);
    ps_buf_u32(&buf, 0); /* count, patched below */
    modules_ctx_t ctx = {&buf, 0};
    dl_iterate_phdr(put_module, &ctx);
    ps_buf_patch_u32(&buf, 0, ctx.count);
    if (ps_writer_chunk(PS_CHUNK_MODULES, &buf) != 0)
        return -1;
    /* Right after MODULES: a reader adds these to the map it just read, as unloaded. */
    ps_buf_reset(&buf);
    if (ps_modules_write_unloaded(&buf))
        ps_writer_chunk(PS_CHUNK_UNLOADED_MODULES, &buf);
    return 0;
}

/* The stacks interned since the last STACKS chunk, in chunks of about STACKS_BATCH bytes: a
 * short process with thousands of stacks would otherwise copy them all into one payload
 * buffer (cc1 compiling a small file: 1.3 MB, 600 page faults with the buffer's growth). A
 * reader accumulates the stacks of every STACKS chunk. */
#define STACKS_BATCH (64 * 1024)

static int write_stacks(uint32_t upto)
{
    while (stacks_written < upto) {
        ps_buf_reset(&buf);
        ps_buf_u32(&buf, 0); /* count, patched below */
        uint32_t id = stacks_written + 1;
        for (; id <= upto && buf.len < STACKS_BATCH; id++) {
            const ps_stack_t *s = ps_stack_get(id);
            uint32_t depth = s ? s->depth : 0;
            ps_buf_u32(&buf, id);
            ps_buf_u32(&buf, depth);
            /* frames as u64 little-endian: the host's own layout (x86-64), so one copy */
            _Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && sizeof(uintptr_t) == 8,
                           "frames are copied as little-endian u64");
            if (depth)
                ps_buf_bytes(&buf, s->ip, (size_t)depth * sizeof(uintptr_t));
        }
        uint32_t count = id - 1 - stacks_written;
        if (!buf.failed)
            memcpy(buf.data, &count, 4);
        if (ps_writer_chunk(PS_CHUNK_STACKS, &buf) != 0)
            return -1;
        stacks_written = id - 1;
    }
    return 0;
}

static int write_snapshot(int reason, uint32_t n)
{
    size_t csize = ((size_t)n + 1) * sizeof(ps_counters_t);
    ps_counters_t *sum = ps_os_map(csize);
    if (sum) /* summing reads before it writes: written first, each page is one fault */
        memset(sum, 0, csize);
    if (!sum) {
        ps_msg_warn("cannot map %zu bytes to sum the counters; this snapshot (%s) is lost", csize,
                    reason == PS_SNAP_EXIT       ? "at exit"
                    : reason == PS_SNAP_INTERVAL ? "interval"
                    : reason == PS_SNAP_DUMP     ? "on demand"
                                                 : "triggered");
        return -1;
    }
    if (!stack_peak) {
        stack_peak = ps_os_map(((size_t)ps_g.opt.max_stacks + 1) * sizeof *stack_peak);
        if (!stack_peak && !peak_warned) {
            peak_warned = 1;
            ps_msg_warn("cannot map the per-stack peak table; each stack's peak is its live "
                        "bytes at this snapshot");
        }
    }
    if (stack_peak && n + 1 > peak_fresh) { /* written before read, as sum above */
        memset(&stack_peak[peak_fresh], 0, (size_t)(n + 1 - peak_fresh) * sizeof *stack_peak);
        peak_fresh = n + 1;
    }
    ps_totals_t tot;
    ps_track_collect(sum, n, &tot);
    tot.rss_bytes = ps_os_rss_bytes();
    tot.peak_rss_bytes = ps_os_peak_rss_bytes();
    if (tot.peak_rss_bytes < tot.rss_bytes) /* statm and getrusage count slightly differently */
        tot.peak_rss_bytes = tot.rss_bytes;
    ps_alerts_observe(&tot, sum, n, last_snapshot_ns);

    ps_buf_reset(&buf);
    ps_row_snapshot_head_t head = {.time_ns = last_snapshot_ns,
                                   .reason = (uint32_t)reason,
                                   .flags = ps_g.opt.track ? 0 : PS_SNAP_F_UNTRACKED};
    ps_put_snapshot_head(&buf, &head);
    ps_put_snapshot_totals(&buf, &tot);
    uint32_t rows = 0;
    for (uint32_t id = 0; id <= n; id++)
        rows += sum[id].allocs > 0;
    ps_buf_u32(&buf, rows);
    ps_buf_u32(&buf, PS_SNAPSHOT_ROW_SIZE);
    for (uint32_t id = 0; id <= n; id++) {
        const ps_counters_t *c = &sum[id];
        if (!c->allocs)
            continue;
        uint64_t live_blocks = c->allocs >= c->frees ? c->allocs - c->frees : 0;
        uint64_t live_bytes =
            c->alloc_bytes >= c->freed_bytes ? c->alloc_bytes - c->freed_bytes : 0;
        if (stack_peak && live_bytes > stack_peak[id])
            stack_peak[id] = live_bytes;
        ps_row_snapshot_t row = {.stack_id = id,
                                 .allocs = c->allocs,
                                 .alloc_bytes = c->alloc_bytes,
                                 .frees = c->frees,
                                 .freed_bytes = c->freed_bytes,
                                 .live_blocks = live_blocks,
                                 .live_bytes = live_bytes,
                                 .peak_live_bytes = stack_peak ? stack_peak[id] : live_bytes};
        ps_put_snapshot(&buf, &row);
    }
    ps_os_unmap(sum, csize);
    return ps_writer_chunk(PS_CHUNK_SNAPSHOT, &buf);
}

/* Pool statistics for the snapshot just written (same time stamp). */
static int write_pool(void)
{
    enum { MAXC = 64 };
    ps_pool_class_stats_t cs[MAXC];
    ps_pool_totals_t tot;
    ps_pool_decay(ps_os_monotonic_ns()); /* a snapshot is also a chance to return idle slabs */
    size_t n = ps_pool_stats(cs, MAXC, &tot);
    if (n > MAXC)
        n = MAXC;
    ps_buf_reset(&buf);
    ps_row_pool_head_t head = {.time_ns = last_snapshot_ns,
                               .max_size = ps_pool_max_size(),
                               .reserved = tot.reserved,
                               .committed = tot.committed,
                               .slab_bytes = tot.slab_bytes,
                               .empty_bytes = tot.empty_bytes,
                               .released_bytes = tot.released_bytes,
                               .returned_bytes = tot.returned,
                               .threads = tot.threads,
                               .exhausted = tot.exhausted};
    ps_put_pool_head(&buf, &head);
    ps_buf_u32(&buf, (uint32_t)n);
    ps_buf_u32(&buf, PS_POOL_ROW_SIZE);
    for (size_t i = 0; i < n; i++)
        ps_put_pool_class(&buf, &cs[i]); /* the pool's stats are the declared row */
    return ps_writer_chunk(PS_CHUNK_POOL, &buf);
}

/* The timing chunks of this snapshot (same time stamp): LOCKS, THREADS, LATENCY, ZONES, CPU. */
static void write_timing(void)
{
    int zones = ps_zones_used();
    uint64_t hz = (ps_g.locks_on || ps_g.latency_on || zones) ? ps_tick_hz() : 0;
    if (ps_g.locks_on) {
        ps_buf_reset(&buf);
        if (ps_locks_write(&buf, last_snapshot_ns, hz) != 0)
            buf.failed = 1; /* its scratch tables could not be mapped: the writer says so */
        ps_writer_chunk(PS_CHUNK_LOCKS, &buf);
    }
    ps_buf_reset(&buf);
    ps_threads_write(&buf, last_snapshot_ns);
    ps_writer_chunk(PS_CHUNK_THREADS, &buf);
    if (ps_g.latency_on) {
        ps_buf_reset(&buf);
        ps_latency_write(&buf, last_snapshot_ns, hz);
        ps_writer_chunk(PS_CHUNK_LATENCY, &buf);
    }
    if (zones) {
        ps_buf_reset(&buf);
        ps_zones_write(&buf, last_snapshot_ns, hz);
        ps_writer_chunk(PS_CHUNK_ZONES, &buf);
    }
    if (ps_cpu_on()) {
        ps_buf_reset(&buf);
        ps_cpu_write(&buf, last_snapshot_ns);
        ps_writer_chunk(PS_CHUNK_CPU, &buf);
    }
}

/* MESSAGE payloads are built on the stack, never in mapped memory: when the kernel refuses
 * memory, the messages saying what was lost are the chunks that must still get through. */
static void write_messages(void)
{
    char text[256];
    uint8_t payload[sizeof text + 8];
    /* Only the messages kept now: writing one may fail and warn, which keeps a new message
     * (looping on those never ended when every request for memory failed). */
    for (int left = ps_msg_pending(); left > 0 && ps_msg_take(text, sizeof text); left--) {
        ps_buf_t mb = {.data = payload, .cap = sizeof payload};
        ps_buf_u32(&mb, 1);
        ps_buf_str(&mb, text);
        ps_writer_chunk(PS_CHUNK_MESSAGE, &mb);
    }
}

/* The chunks of one snapshot, the writer lock held. modules: 0 to leave MODULES out (the
 * loader's lock was busy: a reader keeps the map it has). */
static int write_all(int reason, int final, int modules)
{
    if (ps_writer_open() != 0)
        return -1;
    /* A chunk that cannot be built (no memory for its payload) is skipped with a warning and
     * the others are still written: the reader copes with any one missing (a missing PROCESS
     * or STACKS chunk is retried at the next snapshot), and the MESSAGE chunks at the end say
     * what was lost. After a write error every call returns at once. */
    if (!process_written) {
        ps_buf_reset(&buf);
        put_process(&buf);
        if (ps_writer_chunk(PS_CHUNK_PROCESS, &buf) == 0)
            process_written = 1;
    }
    last_snapshot_ns = ps_os_monotonic_ns() - ps_g.start_monotonic_ns;
    ps_cpu_collect(); /* intern the CPU samples' stacks, so the STACKS chunk has them */
    if (modules)
        write_modules();
    if (ps_g.pool_on)
        write_pool();
    write_timing();
    uint32_t n = ps_stack_count(); /* after the timing chunks: the stacks they name too */
    write_stacks(n);
    int rc = write_snapshot(reason, n);      /* last: it marks the snapshot complete */
    ps_alerts_write(&buf, last_snapshot_ns); /* ALERT chunk and lines, if this tick raised any */
    write_messages();
    if (final) {
        uint8_t end[PS_ROW_WIRE_SIZE(END)]; /* on the stack, like the MESSAGE payloads */
        ps_buf_t eb = {.data = end, .cap = sizeof end};
        /* dropped events: none are dropped in full tracking */
        ps_row_end_t e = {.chunk_count = ps_writer_chunks(), .dropped_events = 0};
        ps_put_end(&eb, &e);
        ps_writer_chunk(PS_CHUNK_END, &eb);
        ended = 1;
    } else {
        ps_writer_suspend(); /* no descriptor of ours open while the program runs */
    }
    ps_alerts_prom(&buf);
    return rc;
}

int ps_snapshot_write(int reason, int final)
{
    int rc = -1;
    ps_tls_guard++;
    ps_lock(&writer_lock);
    if (!ended)
        rc = write_all(reason, final, 1);
    ps_unlock(&writer_lock);
    ps_tls_guard--;
    return rc;
}

void ps_snapshot_interval_init(void)
{
    interval_ns = ps_g.opt.interval_ms * 1000000ull;
    if (interval_ns)
        atomic_store_explicit(&next_due, ps_g.start_monotonic_ns + interval_ns,
                              memory_order_relaxed);
    tick_on = ps_alerts_init() || interval_ns;
}

/* Called inside a tracked malloc or free (interpose.c: record_alloc, record_free), this
 * thread's guard raised once by that call, when the thread's countdown ran out. Besides the
 * interval, alerts.c's triggers and alerts are checked here (ps_alerts_due: a few loads). */
void ps_snapshot_tick(void)
{
    if (PS_LIKELY(!tick_on)) {
        ps_tls_interval_left = INT_MAX; /* off: this thread never comes back (2^31 calls) */
        return;
    }
    ps_tls_interval_left = PS_INTERVAL_EVERY;
    uint64_t now = 0, due = 0;
    int interval_due = 0;
    if (interval_ns) {
        now = ps_os_monotonic_ns();
        due = atomic_load_explicit(&next_due, memory_order_relaxed);
        interval_due = now >= due;
    }
    if (!interval_due && !(ps_alerts_armed && ps_alerts_due()))
        return;
    /* Not a safe point: a re-entrant call (the shim allocating for itself, or a signal handler
     * that interrupted the shim), a shim lock held, the thread inside the dynamic loader (its
     * list of objects may be mid-change), a vfork child sharing our memory. Another call, on
     * this thread or another, takes the snapshot. */
    if (ps_tls_guard != 1 || ps_tls_locks || !ps_g.tracing || ps_os_pid() != ps_g.pid ||
        ps_unw_loader_held_here(1))
        return;
    /* One winner per interval; a process that stalled past several intervals writes one
     * snapshot, and the next is due a full interval later. */
    if (interval_due && !atomic_compare_exchange_strong(&next_due, &due, now + interval_ns))
        interval_due = 0;
    ps_tls_guard++;
    /* Busy writer: another snapshot (exit, dump, fork) is being written; this one is skipped
     * rather than waited for (a trigger stays due: the next tick claims it). Same for the
     * loader's lock around MODULES: a thread inside dl_iterate_phdr may be running a callback
     * of the program's that waits for a lock this thread holds. */
    if (ps_trylock(&writer_lock)) {
        if (!ended && ps_g.tracing) {
            if (!now)
                now = ps_os_monotonic_ns();
            int reason = ps_alerts_claim(interval_due, now);
            if (reason < 0 && interval_due)
                reason = PS_SNAP_INTERVAL;
            if (reason >= 0) {
                int mods = ps_unw_loader_trylock_list() == 0;
                if (write_all(reason, 0, mods) != 0)
                    ps_alerts_unclaimed(reason);
                if (mods)
                    ps_unw_loader_unlock_list();
            }
        }
        ps_unlock(&writer_lock);
    }
    ps_tls_guard--;
}

void ps_snapshot_fork_prepare(void)
{
    ps_lock(&writer_lock);
}

void ps_snapshot_fork_parent(void)
{
    ps_unlock(&writer_lock);
}

void ps_snapshot_fork_child(int locked)
{
    if (locked)
        ps_unlock(&writer_lock);
    ps_writer_fork_child();
    if (process_written) /* the child's own file needs its own PROCESS and all stacks */
        process_written = 0;
    if (stacks_written)
        stacks_written = 0;
    if (ended)
        ended = 0;
    ps_alerts_fork_child();
    if (interval_ns) /* the child's first interval starts now */
        atomic_store_explicit(&next_due, ps_os_monotonic_ns() + interval_ns, memory_order_relaxed);
}
