/* SPDX-License-Identifier: MIT */
/*
 * snapshot.c — turns the shim's state into the chunks of one snapshot and writes them:
 * PROCESS (first time in this process), MODULES (read now with dl_iterate_phdr),
 * UNLOADED_MODULES (those dlclose unmapped so far: modules.c), STACKS
 * (those new since the last snapshot), SNAPSHOT (totals and per-stack rows), MESSAGE
 * (warnings since the last snapshot), END (at exit).
 *
 * Chunk order: PROCESS, MODULES, UNLOADED_MODULES, POOL, timing chunks, STACKS, SNAPSHOT or
 * SNAPSHOT_PACKED, MESSAGE, END. The snapshot chunk comes after every chunk of its moment, so that
 * it marks the snapshot complete: a reader of a file whose writer died mid-snapshot finds the
 * previous one, and the chunks after it with a later time stamp are the lost one's
 * (docs/trace-format.md).
 *
 * Snapshots over time stay small ("Keyframes and deltas" below): between keyframes a snapshot
 * holds only the rows of stacks whose counters moved (SNAPSHOT_PACKED), and MODULES, POOL and the
 * timing chunks only when their content changed. Keyframes (a full SNAPSHOT and every chunk)
 * start each file, close it, and come back every PS_KEYFRAME_EVERY snapshots.
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
static ps_buf_t buf;
static uint64_t last_snapshot_ns; /* time stamp of the snapshot being written (ns since start) */
static int marks_warned;
static int ended;     /* the final snapshot is written: no interval snapshot may follow its END */
static int exec_mark; /* the final snapshot is written before an exec (PS_SNAP_F_EXEC) */

/* ---- Keyframes and deltas ------------------------------------------------------------------
 *
 * Per stack id the shim keeps 40 bytes (marks[]): the highest live bytes seen at a snapshot (the
 * row's peak, kept before deltas existed) and the four counters of the stack's row last written
 * (zeros: no row). A delta (SNAPSHOT_PACKED) names the stacks whose counters moved since the
 * snapshot before it, which the reader must hold (base_ns), each row as varint differences from
 * that snapshot's row: a stack that allocated a few times in the interval costs about 10 bytes
 * instead of a 64-byte SNAPSHOT row. The per-snapshot work is still one pass over the summed
 * counters (as before); what is written, checksummed and read back is proportional to what
 * changed.
 *
 * The other chunks are compared by their CRC-32 (payload after its u64 time_ns) with the last one
 * of their kind written to this file, and left out when equal. A keyframe writes them all. */

/* A keyframe at least every this many snapshots: an old reader (which skips deltas) sees the
 * state this often, and a reader that found a damaged delta resumes at the next one. */
#define PS_KEYFRAME_EVERY 16384
/* ... and sooner when the deltas since the last keyframe would outgrow this many times its
 * size: reading from a keyframe to the latest snapshot then costs at most that much more than
 * the keyframe alone. 1 rewrote a 100k-stack service's 6.4 MB of unchanged rows every
 * ~11 minutes (docs/performance.md). */
#define PS_KEYFRAME_RATIO 4

typedef struct {
    uint64_t peak;                     /* highest live bytes of the stack at a snapshot */
    uint64_t allocs, frees;            /* the stack's counters in its last row written */
    uint64_t alloc_bytes, freed_bytes; /* (0: no row in the file yet) */
} ps_stack_mark_t;

enum {
    MEMO_MODULES,
    MEMO_UNLOADED,
    MEMO_LOCKS,
    MEMO_THREADS,
    MEMO_LATENCY,
    MEMO_ZONES,
    MEMO_CPU,
    MEMO_COUNT
};

static ps_stack_mark_t *marks; /* [max_stacks + 1], NULL if it could not be mapped */
static ps_counters_t *sums;    /* [max_stacks + 1]: the summed counters of the snapshot */
static uint32_t marks_fresh;   /* marks[marks_fresh..] was never written */
static int have_base;          /* the file's last snapshot is on disk and marks[] describe it */
static uint64_t base_ns;       /* its time_ns */
static uint32_t since_key;     /* snapshots written since the last keyframe */
static uint64_t key_bytes;     /* payload bytes of the last keyframe's SNAPSHOT */
static uint64_t delta_bytes;   /* payload bytes of the deltas written since */
static uint64_t last_delta;    /* payload bytes of the last delta */
static uint64_t
    memo[MEMO_COUNT]; /* per kind: (1 << 32 | CRC-32) of the last chunk written; 0 none */

/* POOL_PACKED: the pool state of the last POOL or POOL_PACKED chunk written to the file, which
 * the next one is written against (pool_ref_ok 0: none, or a write failed: the next is a POOL).
 * 6 KB of .bss, not mapped: written under the writer lock only. */
enum { POOL_MAXC = 64 };
static ps_row_pool_head_t pool_ref_head;
static ps_pool_class_stats_t pool_ref[POOL_MAXC];
static size_t pool_ref_n;
static int pool_ref_ok;

/* Whether a stack's counters moved since its row last written (marks: never NULL here, since
 * without them every snapshot is a keyframe). */
static int row_moved(const ps_counters_t *c, const ps_stack_mark_t *m)
{
    return c->allocs != m->allocs || c->frees != m->frees || c->alloc_bytes != m->alloc_bytes ||
           c->freed_bytes != m->freed_bytes;
}

/* A difference of two u64 counters (mod 2^64) as an unsigned varint's value: small either way
 * (0, -1, 1, -2, ... -> 0, 1, 2, 3, ...). The counters only grow, so this costs one bit; it
 * keeps the format able to say "less" (an estimate rounded down, a later field) in a few bytes
 * rather than ten. */
static uint64_t zigzag(uint64_t d)
{
    return (d << 1) ^ (uint64_t)((int64_t)d >> 63);
}

/* Forget what the current file holds: its next snapshot is a keyframe. */
static void forget_base(void)
{
    have_base = 0;
    pool_ref_ok = 0;
    memset(memo, 0, sizeof memo);
}

/* Writes the chunk in buf unless it equals the last of its kind (skip bytes of time stamp
 * first). Always on a keyframe. */
static void write_memo(uint16_t type, int kind, size_t skip, int keyframe)
{
    uint64_t sum = 0;
    if (!buf.failed && buf.len >= skip)
        sum = (UINT64_C(1) << 32) | ps_crc32(0, buf.data + skip, buf.len - skip);
    if (!keyframe && sum && sum == memo[kind])
        return;
    memo[kind] = ps_writer_chunk(type, &buf) == 0 ? sum : 0;
}

/* ---- PERFSHIM_INTERVAL -------------------------------------------------------------------- */

/* A thread reads the clock once in this many tracked calls: a vDSO clock_gettime (~20 ns)
 * against a tracked call's few hundred. A thread making fewer calls is simply checked less. */
#define PS_INTERVAL_EVERY 16

__thread int ps_tls_interval_left __attribute__((tls_model("initial-exec")));
static uint64_t interval_ns;      /* 0: off */
static int tick_on;               /* the interval, or a trigger or alert of alerts.c */
static int alerts_on;             /* ps_alerts_wanted(): else none of alerts.c runs */
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
        host[ps_str_span(host, '\n')] = 0;
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
    /* appended fields (older readers stop before them): the memory the process may use, for
     * perfshim growth's time to the limit */
    ps_buf_u64(b, ps_os_mem_total());
    ps_buf_u64(b, ps_alerts_cgroup_limit());
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

/* MODULES when the map changed (or on a keyframe), and UNLOADED_MODULES after every MODULES
 * chunk written (a reader adds it to the map just read) or when it changed. */
static void write_modules(int keyframe)
{
    ps_buf_reset(&buf);
    ps_buf_u32(&buf, 0); /* count, patched below */
    modules_ctx_t ctx = {&buf, 0};
    dl_iterate_phdr(put_module, &ctx);
    ps_buf_patch_u32(&buf, 0, ctx.count);
    uint64_t before = memo[MEMO_MODULES];
    write_memo(PS_CHUNK_MODULES, MEMO_MODULES, 0, keyframe);
    int map_written = keyframe || memo[MEMO_MODULES] != before;
    ps_buf_reset(&buf);
    if (ps_modules_write_unloaded(&buf))
        write_memo(PS_CHUNK_UNLOADED_MODULES, MEMO_UNLOADED, 0, map_written);
}

/* The stacks interned since the last STACKS_PACKED chunk, in chunks of about STACKS_BATCH bytes:
 * a short process with thousands of stacks would otherwise copy them all into one payload buffer
 * (cc1 compiling a small file: 1.3 MB, 600 page faults with the buffer's growth). A reader
 * accumulates the stacks of every chunk.
 *
 * Each stack is written against the one before it in the chunk: the outermost frames both share
 * as a count, the others as differences from a nearby address (trace_format.h). Stacks interned
 * one after the other mostly share their callers: a compile's 127k stacks of ~40 frames take
 * 5.9 MB instead of 41 MB (docs/performance.md, "Packed stacks"). */
#define STACKS_BATCH (64 * 1024)

/* The frame k places from the outermost of a stack of depth frames (innermost first). */
static uint64_t outer(const ps_stack_t *s, uint32_t k)
{
    return (uint64_t)s->ip[s->depth - 1 - k];
}

static void put_stack(const ps_stack_t *s, const ps_stack_t *prev)
{
    uint32_t depth = s ? s->depth : 0, pdepth = prev ? prev->depth : 0;
    uint32_t shared = 0;
    while (shared < depth && shared < pdepth && outer(s, shared) == outer(prev, shared))
        shared++;
    ps_buf_varint(&buf, depth);
    ps_buf_varint(&buf, shared);
    for (uint32_t k = shared; k < depth; k++) {
        uint64_t ref = k == shared && k < pdepth ? outer(prev, k) : k ? outer(s, k - 1) : 0;
        ps_buf_varint(&buf, zigzag(outer(s, k) - ref));
    }
}

static int write_stacks(uint32_t upto)
{
    while (stacks_written < upto) {
        ps_buf_reset(&buf);
        ps_buf_u32(&buf, 0); /* count, patched below */
        uint32_t id = stacks_written + 1;
        const ps_stack_t *prev = NULL; /* the stack before, in this chunk */
        for (; id <= upto && buf.len < STACKS_BATCH; id++) {
            const ps_stack_t *s = ps_stack_get(id);
            ps_buf_varint(&buf, id == stacks_written + 1 ? id : 1); /* id_gap */
            put_stack(s, prev);
            prev = s;
        }
        uint32_t count = id - 1 - stacks_written;
        if (!buf.failed)
            memcpy(buf.data, &count, 4);
        if (ps_writer_chunk(PS_CHUNK_STACKS_PACKED, &buf) != 0)
            return -1;
        stacks_written = id - 1;
    }
    return 0;
}

/* The SNAPSHOT chunk (keyframe: every row), or a SNAPSHOT_PACKED delta (the rows that changed since
 * the file's last snapshot, base_ns). Last chunk of the snapshot: it marks it complete. */
static int write_snapshot(int reason, uint32_t n, int keyframe)
{
    /* The sums stay mapped from one snapshot to the next: mapping, faulting in and unmapping
     * 32 bytes per stack at every snapshot was most of its cost (100k stacks: 3.2 MB, 790 page
     * faults and a munmap, about 10 of its 14 ms; docs/performance.md, "What a snapshot costs").
     * Reserved for max_stacks like marks[], touched only up to the highest stack id. */
    if (!sums)
        sums = ps_os_map(((size_t)ps_g.opt.max_stacks + 1) * sizeof *sums);
    ps_counters_t *sum = sums; /* ps_track_collect overwrites sum[0..n] */
    if (!sum) {
        ps_msg_warn("cannot map %zu bytes to sum the counters; this snapshot (%s) is lost",
                    ((size_t)ps_g.opt.max_stacks + 1) * sizeof *sums,
                    reason == PS_SNAP_EXIT       ? "at exit"
                    : reason == PS_SNAP_INTERVAL ? "interval"
                    : reason == PS_SNAP_DUMP     ? "on demand"
                                                 : "triggered");
        forget_base(); /* its other chunks are on disk without it: rewrite them all next time */
        return -1;
    }
    if (!marks) {
        marks = ps_os_map(((size_t)ps_g.opt.max_stacks + 1) * sizeof *marks);
        if (!marks && !marks_warned) {
            marks_warned = 1;
            ps_msg_warn("cannot map the per-stack marks; every snapshot is written whole and "
                        "each stack's peak is its live bytes at that snapshot");
        }
    }
    if (marks && n + 1 > marks_fresh) { /* written before read: one fault per page */
        memset(&marks[marks_fresh], 0, (size_t)(n + 1 - marks_fresh) * sizeof *marks);
        marks_fresh = n + 1;
    }
    if (!marks)
        keyframe = 1;
    ps_totals_t tot;
    ps_track_collect(sum, n, &tot);
    ps_control_rebase(sum, n, &tot); /* this section's part (perfshim ctl start) */
    tot.rss_bytes = ps_os_rss_bytes();
    tot.peak_rss_bytes = ps_os_peak_rss_bytes();
    if (tot.peak_rss_bytes < tot.rss_bytes) /* statm and getrusage count slightly differently */
        tot.peak_rss_bytes = tot.rss_bytes;
    if (alerts_on)
        ps_alerts_observe(&tot, sum, n, last_snapshot_ns);

    ps_buf_reset(&buf);
    if (!keyframe)
        ps_buf_u64(&buf, base_ns);
    ps_row_snapshot_head_t head = {.time_ns = last_snapshot_ns,
                                   .reason = (uint32_t)reason,
                                   .flags = (ps_g.opt.track ? 0 : PS_SNAP_F_UNTRACKED) |
                                            (ps_sample_ever() ? PS_SNAP_F_SAMPLED : 0) |
                                            (exec_mark ? PS_SNAP_F_EXEC : 0)};
    ps_put_snapshot_head(&buf, &head);
    ps_put_snapshot_totals(&buf, &tot);
    /* One pass over the rows: their count is patched in once they are written (a pass to count
     * them first read the sums and marks of every stack twice, 7 MB at 100k stacks). */
    size_t rows_at = ps_buf_table(&buf, keyframe ? PS_SNAPSHOT_ROW_SIZE : PS_PACKED_FIELDS);
    uint32_t rows = 0;
    uint32_t prev_id = 0;
    for (uint32_t id = 0; id <= n; id++) {
        const ps_counters_t *c = &sum[id];
        if (!c->allocs || (!keyframe && !row_moved(c, &marks[id]))) {
            if (keyframe && marks) /* no row in the file: the next is against zeros */
                memset(&marks[id], 0, sizeof marks[id]);
            continue;
        }
        rows++;
        uint64_t live_blocks = c->allocs >= c->frees ? c->allocs - c->frees : 0;
        uint64_t live_bytes =
            c->alloc_bytes >= c->freed_bytes ? c->alloc_bytes - c->freed_bytes : 0;
        uint64_t peak = live_bytes;
        if (marks) {
            ps_stack_mark_t *m = &marks[id];
            uint64_t base_peak = m->peak;
            if (live_bytes > m->peak)
                m->peak = live_bytes;
            peak = m->peak;
            if (!keyframe) { /* SNAPSHOT_PACKED: differences from the row the reader holds */
                ps_buf_varint(&buf, id - prev_id);
                ps_buf_varint(&buf, zigzag(c->allocs - m->allocs));
                ps_buf_varint(&buf, zigzag(c->alloc_bytes - m->alloc_bytes));
                ps_buf_varint(&buf, zigzag(c->frees - m->frees));
                ps_buf_varint(&buf, zigzag(c->freed_bytes - m->freed_bytes));
                ps_buf_varint(&buf, zigzag(peak - base_peak));
            }
            m->allocs = c->allocs;
            m->frees = c->frees;
            m->alloc_bytes = c->alloc_bytes;
            m->freed_bytes = c->freed_bytes;
            prev_id = id;
            if (!keyframe)
                continue;
        }
        ps_row_snapshot_t row = {.stack_id = id,
                                 .allocs = c->allocs,
                                 .alloc_bytes = c->alloc_bytes,
                                 .frees = c->frees,
                                 .freed_bytes = c->freed_bytes,
                                 .live_blocks = live_blocks,
                                 .live_bytes = live_bytes,
                                 .peak_live_bytes = peak};
        ps_put_snapshot(&buf, &row);
    }
    ps_buf_patch_u32(&buf, rows_at, rows);
    if (ps_writer_chunk(keyframe ? PS_CHUNK_SNAPSHOT : PS_CHUNK_SNAPSHOT_PACKED, &buf) != 0) {
        forget_base(); /* marks[] moved past what the file holds */
        return -1;
    }
    have_base = 1;
    base_ns = last_snapshot_ns;
    if (keyframe) {
        since_key = 0;
        key_bytes = buf.len;
        delta_bytes = last_delta = 0;
    } else {
        since_key++;
        delta_bytes += buf.len;
        last_delta = buf.len;
    }
    return 0;
}

#define POOL_ONE_(...) +1
_Static_assert((0 PS_ROW_POOL_HEAD(POOL_ONE_, _)) - 1 == PS_POOL_PACKED_HEAD, "POOL_PACKED head");
_Static_assert((0 PS_ROW_POOL_CLASS(POOL_ONE_, _)) - 1 == PS_POOL_PACKED_ROW, "POOL_PACKED row");

/* The zigzag differences of every field but the first (time_ns, size) of a POOL head or row
 * from the base's; returns whether any is not 0. */
#define POOL_DIFF_(c, type, name, unit, json, json_name, meaning)                                  \
    if (k++) {                                                                                     \
        uint64_t d = zigzag((uint64_t)cur->name - (uint64_t)ref->name);                            \
        ps_buf_varint(&buf, d);                                                                    \
        moved |= d != 0;                                                                           \
    }
static int put_pool_head_diff(const ps_row_pool_head_t *cur, const ps_row_pool_head_t *ref)
{
    int k = 0, moved = 0;
    PS_ROW_POOL_HEAD(POOL_DIFF_, _)
    return moved;
}
static int put_pool_row_diff(const ps_pool_class_stats_t *cur, const ps_pool_class_stats_t *ref)
{
    int k = 0, moved = 0;
    PS_ROW_POOL_CLASS(POOL_DIFF_, _)
    return moved;
}
#undef POOL_DIFF_

/* The POOL_PACKED payload of the used classes cs[0..n) against pool_ref; 0 when the pool did
 * not change (nothing to write), -1 when a class of the base is gone (a POOL is written). */
static int put_pool_packed(const ps_row_pool_head_t *head, const ps_pool_class_stats_t *cs,
                           size_t n)
{
    ps_buf_reset(&buf);
    ps_buf_u64(&buf, head->time_ns);
    ps_buf_u64(&buf, pool_ref_head.time_ns);
    ps_buf_varint(&buf, PS_POOL_PACKED_HEAD);
    int moved = put_pool_head_diff(head, &pool_ref_head);
    ps_buf_varint(&buf, n);
    size_t count_at = buf.len;
    ps_buf_varint(&buf, 0); /* rows: patched below when not 0 (one byte either way below 128) */
    ps_buf_varint(&buf, PS_POOL_PACKED_ROW);
    uint32_t rows = 0, prev_size = 0;
    size_t r = 0;
    for (size_t i = 0; i < n; i++) {
        if (r < pool_ref_n && pool_ref[r].size < cs[i].size)
            return -1; /* a base class missing from this state: not expressible */
        ps_pool_class_stats_t zero = {.size = cs[i].size};
        const ps_pool_class_stats_t *ref = &zero;
        if (r < pool_ref_n && pool_ref[r].size == cs[i].size)
            ref = &pool_ref[r++];
        size_t at = buf.len;
        ps_buf_varint(&buf, cs[i].size - prev_size);
        if (put_pool_row_diff(&cs[i], ref) || ref == &zero) {
            rows++;
            prev_size = cs[i].size;
        } else {
            buf.len = at; /* unchanged: the base's row stands */
        }
    }
    if (r < pool_ref_n)
        return -1;
    if (!moved && !rows)
        return 0;
    if (rows >= 128)
        return -1; /* not in one byte (64 classes at most today): a POOL instead */
    if (!buf.failed)
        buf.data[count_at] = (uint8_t)rows;
    return 1;
}

/* Pool statistics for the snapshot being written (same time stamp): a POOL chunk at a keyframe
 * (or after a failed write), else a POOL_PACKED of what changed since the last one, or nothing
 * when nothing did. The adverse scale workload's pool chunks: 1,337 bytes a snapshot whole, 208
 * packed (docs/performance.md, "A smaller POOL chunk"). */
static void write_pool(int keyframe)
{
    ps_pool_class_stats_t cs[POOL_MAXC];
    ps_pool_totals_t tot;
    ps_pool_decay(ps_os_monotonic_ns()); /* a snapshot is also a chance to return idle slabs */
    size_t n = ps_pool_stats(cs, POOL_MAXC, &tot);
    if (n > POOL_MAXC)
        n = POOL_MAXC;
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
    /* Only the classes that served a block: the others' rows are zeros, and a POOL chunk may
     * be written at every interval snapshot (redis-server's: 53 rows, 5 KB, half of a delta). */
    size_t used = 0;
    for (size_t i = 0; i < n; i++)
        if (cs[i].allocs > 0)
            cs[used++] = cs[i];
    uint16_t type = PS_CHUNK_POOL;
    if (!keyframe && pool_ref_ok) {
        int packed = put_pool_packed(&head, cs, used);
        if (packed == 0)
            return; /* unchanged: a reader keeps the last one */
        if (packed > 0)
            type = PS_CHUNK_POOL_PACKED;
    }
    if (type == PS_CHUNK_POOL) {
        ps_buf_reset(&buf);
        ps_put_pool_head(&buf, &head);
        ps_buf_u32(&buf, (uint32_t)used);
        ps_buf_u32(&buf, PS_POOL_ROW_SIZE);
        for (size_t i = 0; i < used; i++)
            ps_put_pool_class(&buf, &cs[i]); /* the pool's stats are the declared row */
    }
    pool_ref_ok = ps_writer_chunk(type, &buf) == 0;
    if (pool_ref_ok) {
        pool_ref_head = head;
        memcpy(pool_ref, cs, used * sizeof *cs);
        pool_ref_n = used;
    }
}

/* The timing chunks of this snapshot (same time stamp): LOCKS, THREADS, LATENCY, ZONES, CPU,
 * each only when it changed since the last one written (or on a keyframe). */
static void write_timing(int keyframe)
{
    int zones = ps_zones_used();
    uint64_t hz = (ps_g.locks_on || ps_g.latency_on || zones) ? ps_tick_hz() : 0;
    if (ps_g.locks_on) {
        ps_buf_reset(&buf);
        if (ps_locks_write(&buf, last_snapshot_ns, hz) != 0)
            buf.failed = 1; /* its scratch tables could not be mapped: the writer says so */
        write_memo(PS_CHUNK_LOCKS, MEMO_LOCKS, 8, keyframe);
    }
    ps_buf_reset(&buf);
    ps_threads_write(&buf, last_snapshot_ns);
    write_memo(PS_CHUNK_THREADS, MEMO_THREADS, 8, keyframe);
    if (ps_g.latency_on) {
        ps_buf_reset(&buf);
        ps_latency_write(&buf, last_snapshot_ns, hz);
        write_memo(PS_CHUNK_LATENCY, MEMO_LATENCY, 8, keyframe);
    }
    if (zones) {
        ps_buf_reset(&buf);
        ps_zones_write(&buf, last_snapshot_ns, hz);
        write_memo(PS_CHUNK_ZONES, MEMO_ZONES, 8, keyframe);
    }
    if (ps_cpu_on()) {
        ps_buf_reset(&buf);
        ps_cpu_write(&buf, last_snapshot_ns);
        write_memo(PS_CHUNK_CPU, MEMO_CPU, 8, keyframe);
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

static void write_end(void)
{
    uint8_t end[PS_ROW_WIRE_SIZE(END)]; /* on the stack, like the MESSAGE payloads */
    ps_buf_t eb = {.data = end, .cap = sizeof end};
    /* dropped events: none are dropped in full tracking */
    ps_row_end_t e = {.chunk_count = ps_writer_chunks(), .dropped_events = 0};
    ps_put_end(&eb, &e);
    ps_writer_chunk(PS_CHUNK_END, &eb);
}

/* PERFSHIM_MAX_TRACE: the current piece is full. It is closed with END, and this snapshot
 * starts the next piece as a complete trace of its own: PROCESS, every stack, a keyframe. */
static void rotate(void)
{
    write_end();
    if (ps_writer_rotate() != 0)
        return;
    process_written = 0;
    stacks_written = 0;
    forget_base();
}

/* The chunks that open a file: PROCESS (argv from /proc), SECTION, INHERITED. */
static void write_process(void)
{
    ps_buf_reset(&buf);
    put_process(&buf);
    if (ps_writer_chunk(PS_CHUNK_PROCESS, &buf) == 0)
        process_written = 1;
    ps_buf_reset(&buf);
    if (ps_control_put_section(&buf)) /* only when sections exist (control.c) */
        ps_writer_chunk(PS_CHUNK_SECTION, &buf);
    ps_buf_reset(&buf);
    if (ps_inherit_write(&buf)) /* a forked child: what was live at the fork */
        ps_writer_chunk(PS_CHUNK_INHERITED, &buf);
}

/* The chunks of one snapshot, the writer lock held. modules: 0 to leave MODULES out (the
 * loader's lock was busy: a reader keeps the map it has). */
static int write_all(int reason, int final, int modules)
{
    if (ps_writer_open() != 0)
        return -1;
    if (ps_writer_rotate_due())
        rotate();
    /* A chunk that cannot be built (no memory for its payload) is skipped with a warning and
     * the others are still written: the reader copes with any one missing (a missing PROCESS
     * or STACKS chunk is retried at the next snapshot), and the MESSAGE chunks at the end say
     * what was lost. After a write error every call returns at once. */
    if (!process_written)
        write_process();
    /* A keyframe: the first snapshot of a file, the last, every PS_KEYFRAME_EVERY-th, and one
     * whose delta would bring the deltas since the last keyframe past PS_KEYFRAME_RATIO times
     * that keyframe's size. */
    int keyframe = final || !have_base || since_key + 1 >= PS_KEYFRAME_EVERY ||
                   delta_bytes + last_delta > PS_KEYFRAME_RATIO * key_bytes;
    last_snapshot_ns = ps_os_monotonic_ns() - ps_g.start_monotonic_ns;
    ps_cpu_collect(); /* intern the CPU samples' stacks, so the STACKS chunk has them */
    if (modules)
        write_modules(keyframe);
    if (ps_g.pool_on)
        write_pool(keyframe);
    write_timing(keyframe);
    uint32_t n = ps_stack_count(); /* after the timing chunks: the stacks they name too */
    write_stacks(n);
    if (ps_sample_ever()) { /* what the SNAPSHOT's estimates stand on (same time_ns) */
        ps_buf_reset(&buf);
        ps_sample_write(&buf, last_snapshot_ns);
        ps_writer_chunk(PS_CHUNK_SAMPLING, &buf);
    }
    int rc = write_snapshot(reason, n, keyframe); /* last: it marks the snapshot complete */
    if (final && sums) { /* not held through the leak scan and AGES: the process's peak RSS */
        ps_os_unmap(sums, ((size_t)ps_g.opt.max_stacks + 1) * sizeof *sums);
        sums = NULL;
    }
    if (final && reason == PS_SNAP_EXIT && rc == 0 && ps_reach_wanted()) {
        ps_buf_reset(&buf); /* leak classes (reach.c): after the SNAPSHOT they refine */
        if (ps_reach_write(&buf, last_snapshot_ns) == 0)
            ps_writer_chunk(PS_CHUNK_LEAK_KINDS, &buf);
    }
    if (alerts_on) /* ALERT chunk and lines, if this tick raised any */
        ps_alerts_write(&buf, last_snapshot_ns);
    /* AGES: at the snapshots a person asked for or the last one, not at the automatic ones (its
     * walk visits every live block: docs/trace-format.md, AGES) */
    if (rc == 0 && ps_g.opt.track &&
        (final || reason == PS_SNAP_DUMP || reason == PS_SNAP_SIGNAL)) {
        ps_buf_reset(&buf);
        if (ps_ages_write(&buf, last_snapshot_ns, n) == 0)
            ps_writer_chunk(PS_CHUNK_AGES, &buf);
        ps_buf_reset(&buf); /* the advice counters (advice.c): the same snapshots */
        if (ps_advice_write(&buf, last_snapshot_ns, n) == 0)
            ps_writer_chunk(PS_CHUNK_ADVICE, &buf);
    }
    write_messages();
    ps_writer_group_end();
    if (final) {
        write_end();
        ended = 1;
        if (reason == PS_SNAP_STOP) /* the section's file is complete; the process goes on */
            ps_writer_close();
    } else {
        ps_writer_suspend(); /* no descriptor of ours open while the program runs */
    }
    if (alerts_on)
        ps_alerts_prom(&buf);
    return rc;
}

int ps_snapshot_write(int reason, int final)
{
    int rc = -1;
    ps_tls_guard++;
    ps_lock(&writer_lock);
    if (!ended && atomic_load(&ps_g.recording))
        rc = write_all(reason, final, 1);
    ps_unlock(&writer_lock);
    ps_tls_guard--;
    return rc;
}

/* The process calls exec* (init.c): its exit snapshot, flagged PS_SNAP_F_EXEC, and END. */
int ps_snapshot_write_exec(void)
{
    int rc = -1;
    ps_tls_guard++;
    ps_lock(&writer_lock);
    if (!ended && atomic_load(&ps_g.recording)) {
        exec_mark = 1;
        rc = write_all(PS_SNAP_EXIT, 1, 1);
        exec_mark = 0;
    }
    ps_unlock(&writer_lock);
    ps_tls_guard--;
    return rc;
}

/* After an interval snapshot that started at `start`: the next is due an interval after it
 * ended, and never sooner than four times its duration, so that snapshots take at most a fifth
 * of the process's time however short the interval (100k stacks cost about 10 ms of CPU a
 * snapshot before its sums were kept, 0.9 ms since; at 10 ms intervals a loaded machine otherwise
 * wrote them back to back and the program hardly ran). A process that keeps up keeps its cadence
 * within a snapshot's length. */
uint64_t ps_snapshot_gap(uint64_t took_ns, uint64_t interval)
{
    return took_ns > interval / 4 ? 4 * took_ns : interval;
}

static void interval_written(uint64_t start)
{
    uint64_t end = ps_os_monotonic_ns();
    uint64_t took = end > start ? end - start : 0;
    atomic_store_explicit(&next_due, end + ps_snapshot_gap(took, interval_ns),
                          memory_order_relaxed);
}

void ps_snapshot_interval_init(void)
{
    interval_ns = ps_g.opt.interval_ms * 1000000ull;
    if (interval_ns)
        atomic_store_explicit(&next_due, ps_g.start_monotonic_ns + interval_ns,
                              memory_order_relaxed);
    alerts_on = ps_alerts_wanted();
    tick_on = (alerts_on && ps_alerts_init()) || interval_ns;
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
        !atomic_load_explicit(&ps_g.recording, memory_order_relaxed) || ps_unw_loader_held_here(1))
        return;
    /* One winner per interval; a process that stalled past several intervals writes one
     * snapshot, and the next is due a full interval after it ends (interval_written). */
    if (interval_due && !atomic_compare_exchange_strong(&next_due, &due, now + interval_ns))
        interval_due = 0;
    ps_tls_guard++;
    /* Busy writer: another snapshot (exit, dump, fork) is being written; this one is skipped
     * rather than waited for (a trigger stays due: the next tick claims it). Same for the
     * loader's lock around MODULES: a thread inside dl_iterate_phdr may be running a callback
     * of the program's that waits for a lock this thread holds. */
    if (ps_trylock(&writer_lock)) {
        if (!ended && ps_g.tracing && atomic_load(&ps_g.recording)) {
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
                if (interval_due)
                    interval_written(now);
            }
        }
        ps_unlock(&writer_lock);
    }
    ps_tls_guard--;
}

/* ---- trace sections and run-time control (control.c) ------------------------------------- */

/* The next section's file starts from nothing: PROCESS, SECTION, every stack, fresh peaks.
 * Called by the control thread with tracking off, between the END of one section's file and
 * the first snapshot of the next. */
void ps_snapshot_new_section(uint32_t section)
{
    ps_lock(&writer_lock);
    process_written = 0;
    stacks_written = 0;
    marks_fresh = 0; /* peaks and last-written counts are zeroed again as rows are reached */
    forget_base();   /* the new file starts with a keyframe */
    ended = 0;
    ps_writer_new_section(section);
    ps_unlock(&writer_lock);
}

/* 1 if this process (this section) has written a snapshot's chunks to its file. */
int ps_snapshot_started(void)
{
    ps_lock(&writer_lock);
    int started = process_written;
    ps_unlock(&writer_lock);
    return started;
}

/* The current trace's path, copied under the writer lock ("" before the file is created). */
void ps_snapshot_trace_path(char *out, size_t size)
{
    ps_lock(&writer_lock);
    ps_msg_snprintf(out, size, "%s", ps_writer_path());
    ps_unlock(&writer_lock);
}

/* The process is about to change its effective uid to uid (interpose_ids.c): while it still
 * may, create (or reopen) its trace, give it to uid and keep it open (ps_writer_keep), when the
 * new user could not do it (ps_writer_open_before_drop). Nothing when no section is open: a
 * later section's file is created by the new user. */
void ps_snapshot_prepare_drop(uint32_t uid, uint32_t gid)
{
    ps_tls_guard++;
    ps_lock(&writer_lock);
    if (!ended && atomic_load(&ps_g.recording) && ps_writer_open_before_drop(uid, ps_os_egid()) &&
        ps_writer_open() == 0)
        ps_writer_keep(uid, gid);
    if (!ended)
        ps_writer_keep_list(uid); /* for the files created after the change (perfshim run) */
    ps_unlock(&writer_lock);
    ps_tls_guard--;
}

/* Before chroot: the trace (created now if it was not yet) and PERFSHIM_TRACE_LIST are opened
 * while their paths still resolve, and stay open; the PROCESS chunk is written now, while
 * /proc/self/cmdline and the host name can still be read (a new root rarely has /proc). Later files
 * (a piece of PERFSHIM_MAX_TRACE, a section after `perfshim ctl stop` and `start`, a forked child's
 * own trace) are created by path in the new root, where they may not be possible (README, Known
 * limitations). */
void ps_snapshot_prepare_chroot(void)
{
    ps_tls_guard++;
    ps_lock(&writer_lock);
    if (!ended && atomic_load(&ps_g.recording) && ps_writer_open() == 0) {
        ps_writer_keep_open();
        if (!process_written)
            write_process();
    }
    if (!ended)
        ps_writer_keep_list((uint32_t)-1); /* no uid owns -1: kept when it is this user's */
    ps_unlock(&writer_lock);
    ps_tls_guard--;
}

/* PERFSHIM_INTERVAL changed at run time (perfshim ctl interval): 0 turns it off. */
void ps_snapshot_set_interval(uint64_t ms)
{
    interval_ns = ms * 1000000ull;
    atomic_store_explicit(&next_due, ps_os_monotonic_ns() + interval_ns, memory_order_relaxed);
    ps_g.opt.interval_ms = ms;
}

/* The control thread's share of PERFSHIM_INTERVAL: an interval snapshot of a process that
 * stopped allocating. Returns the ms until the next one is due (-1: none). The control thread
 * holds no lock of the program's, so it may wait for the writer and the loader's lock. */
int ps_snapshot_idle_tick(void)
{
    if (!interval_ns)
        return -1;
    uint64_t now = ps_os_monotonic_ns();
    uint64_t due = atomic_load_explicit(&next_due, memory_order_relaxed);
    if (now >= due) {
        if (atomic_compare_exchange_strong(&next_due, &due, now + interval_ns) &&
            atomic_load(&ps_g.recording) && ps_snapshot_write(PS_SNAP_INTERVAL, 0) == 0)
            interval_written(now);
        due = atomic_load_explicit(&next_due, memory_order_relaxed);
        now = ps_os_monotonic_ns();
        if (due <= now)
            return 0;
    }
    uint64_t ms = (due - now + 999999ull) / 1000000ull;
    return ms > 3600000ull ? 3600000 : (int)ms;
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
    if (have_base) /* the child's file starts with a keyframe */
        forget_base();
    ps_alerts_fork_child();
    if (interval_ns) /* the child's first interval starts now */
        atomic_store_explicit(&next_due, ps_os_monotonic_ns() + interval_ns, memory_order_relaxed);
}
