/* SPDX-License-Identifier: MIT */
/*
 * trace_format.h — the perfshim trace file format, shared by the writer (shim/trace_writer.c)
 * and the reader (analyzer/trace_reader.c). Its fixed-layout records are declared in
 * trace_rows.h.
 *
 * docs/trace-format.md is the normative specification; this header only names its constants.
 * Change both together, and bump PS_TRACE_VERSION when a reader of the old version could
 * misread a new file (adding a new chunk type or appending fields at the end of a chunk
 * payload does not need a bump: readers skip unknown chunk types and ignore trailing bytes).
 *
 * Everything is little-endian. Strings are a u32 byte length followed by the bytes (no NUL).
 * Must not include anything but <stdint.h>: the shim and the analyzer both use it.
 */
#ifndef PERFSHIM_TRACE_FORMAT_H
#define PERFSHIM_TRACE_FORMAT_H

#include <stdint.h>

/* ---- file header: 16 bytes at offset 0 ---------------------------------------------------- */
#define PS_TRACE_MAGIC "PSHMTRC\0" /* 8 bytes */
#define PS_TRACE_MAGIC_LEN 8
#define PS_TRACE_VERSION 1 /* u16 at offset 8: format version written */
/* u16 at offset 10: flags (0); u32 at offset 12: size of this header (16) */
#define PS_TRACE_FILE_HEADER_SIZE 16

/* ---- chunk header: 16 bytes, then `length` payload bytes ----------------------------------- */
/* u32 sync = PS_CHUNK_SYNC; u16 type; u16 flags (0); u32 length; u32 crc.
 * crc is CRC-32 (IEEE 802.3, as zlib's crc32()) over the first 12 header bytes (sync, type,
 * flags, length) followed by the payload. A reader that finds a bad sync or crc reports the
 * offset and may scan forward for the next sync word whose chunk verifies. */
#define PS_CHUNK_SYNC 0x4b435350u /* "PSCK" */
#define PS_CHUNK_HEADER_SIZE 16
#define PS_CHUNK_MAX_LENGTH (1u << 30) /* readers reject longer chunks as corrupt */

enum ps_chunk_type {
    PS_CHUNK_PROCESS = 1,  /* once, first chunk: who and what was traced */
    PS_CHUNK_MODULES = 2,  /* the module map live at the next snapshot */
    PS_CHUNK_STACKS = 3,   /* stacks interned since the previous STACKS chunk */
    PS_CHUNK_SNAPSHOT = 4, /* totals and per-stack counters at one moment */
    PS_CHUNK_MESSAGE = 5,  /* a warning the shim emitted (data lost, option rejected, ...) */
    PS_CHUNK_POOL = 6,     /* pool statistics; follows the SNAPSHOT chunk it belongs to */
    PS_CHUNK_LOCKS = 7,    /* lock and condition-variable statistics (PERFSHIM_LOCKS) */
    PS_CHUNK_THREADS = 8,  /* threads: start stack, name, lifetime, CPU time */
    PS_CHUNK_LATENCY = 9,  /* allocator latency histograms (PERFSHIM_LATENCY_SAMPLE) */
    PS_CHUNK_ZONES = 10,   /* perfshim_zone_begin/end histograms */
    PS_CHUNK_CPU = 11,     /* CPU samples by stack (PERFSHIM_CPU_HZ) */
    PS_CHUNK_UNLOADED_MODULES = 12, /* modules dlclose unmapped since start; follows MODULES */
    PS_CHUNK_SNAPSHOT_DELTA = 13,   /* a snapshot's rows that changed since the one before */
    PS_CHUNK_SECTION = 14,          /* after PROCESS: this file is section N of the process */
    PS_CHUNK_ALERT = 15,            /* alerts raised at a snapshot; follows its SNAPSHOT */
    PS_CHUNK_SAMPLING = 16,         /* PERFSHIM_SAMPLE: the mean; just before its SNAPSHOT */
    PS_CHUNK_SNAPSHOT_PACKED = 17,  /* SNAPSHOT_DELTA with rows as varint differences */
    PS_CHUNK_AGES = 18,             /* ages of live blocks, lifetimes of freed ones, per stack */
    PS_CHUNK_LEAK_KINDS = 19,       /* exit: live blocks per stack and leak class; after SNAPSHOT */
    PS_CHUNK_INHERITED = 20,        /* forked child: blocks live at the fork, per stack */
    PS_CHUNK_ADVICE = 21,           /* advice counters per stack (sizes, temporaries, ...) */
    PS_CHUNK_STACKS_PACKED = 22,    /* STACKS with frames shared with the stack before, varints */
    PS_CHUNK_POOL_PACKED = 23,      /* POOL as varint differences from the POOL chunk before */
    /* Types from 0x8000 are written by the analyzer, never by the shim. */
    PS_CHUNK_MERGED_FROM = 0x8001, /* perfshim merge -o: one input process (path, PROCESS) */
    PS_CHUNK_END = 0xffff          /* clean end of the trace: nothing follows */
};

/* PROCESS payload:
 *   u64 pid, u64 ppid, u64 start_realtime_ns (CLOCK_REALTIME), u64 start_monotonic_ns,
 *   str tool_version, str program (absolute path of /proc/self/exe), str hostname,
 *   u32 argc, argc × str argv, str options ("NAME=value\n" for every option in effect),
 *   u32 pointer_size (8), u32 page_size
 *   then, appended (older traces end before them; readers take them when 16 bytes follow):
 *   u64 mem_total_bytes (the machine's memory, 0 unknown), u64 cgroup_limit_bytes (the cgroup
 *   v2 memory.max in effect, 0 none)
 *
 * MODULES payload:
 *   u32 count, then per module:
 *   u64 base (load bias: runtime address = ELF vaddr + base), u64 start, u64 end (lowest and
 *   highest runtime address of its PT_LOAD segments), str path (absolute; the main program's
 *   is /proc/self/exe resolved; "[vdso]" for the vDSO), u32 build_id_len, build_id bytes
 *
 * UNLOADED_MODULES payload (right after a MODULES chunk, when any module was unloaded):
 *   u32 count, u32 reserved (0), u64 dropped (unloads not kept: the shim's list was full),
 *   then per module, oldest unload first: the MODULES record (u64 base, u64 start, u64 end,
 *   str path, u32 build_id_len, build_id bytes), then u64 unload_ns (monotonic, since start).
 *   Every module unloaded since the process started, not only since the previous chunk.
 *
 * STACKS payload:
 *   u32 count, then per stack: u32 id (dense, from 1), u32 depth, depth × u64 return addresses,
 *   innermost first, starting at the caller of the allocation function (the shim's own frames
 *   are already dropped). Addresses are return addresses: a symbolizer looks up address - 1.
 *   A last address PS_FRAME_CUT (never a code address) marks a stack cut short: the next
 *   frame needed libunwind, which could not be used at that moment.
 *
 * The fixed-layout records of the other payloads (SNAPSHOT, POOL, LOCKS, THREADS, LATENCY,
 * ZONES, CPU, END) are declared field by field, with units, in trace_rows.h. Around them:
 *
 * SNAPSHOT payload: PS_ROW_SNAPSHOT_HEAD, PS_ROW_SNAPSHOT_TOTALS, u32 row_count, u32 row_size
 *   (>= PS_SNAPSHOT_ROW_SIZE), rows (PS_ROW_SNAPSHOT). Only stacks with allocs > 0 appear.
 *
 * SNAPSHOT_DELTA payload: u64 base_time_ns (time_ns of the snapshot of this file it changes:
 *   the one just before it), then exactly a SNAPSHOT payload whose rows are only the stacks
 *   whose row changed since that snapshot; the other stacks keep their row. A reader whose
 *   state is not at base_time_ns must not apply it (it waits for the next SNAPSHOT).
 *
 * SNAPSHOT_PACKED payload (what current shims write between keyframes instead of
 *   SNAPSHOT_DELTA): u64 base_time_ns, PS_ROW_SNAPSHOT_HEAD, PS_ROW_SNAPSHOT_TOTALS, u32
 *   row_count, u32 field_count (>= PS_PACKED_FIELDS), then per row: varint id_gap (stack_id
 *   minus the previous row's, the first minus 0) and field_count zigzag varints, the first
 *   PS_PACKED_FIELDS being allocs, alloc_bytes, frees, freed_bytes, peak_live_bytes minus the
 *   stack's row at base_time_ns (0 when it had none). live_blocks = allocs - frees and
 *   live_bytes = alloc_bytes - freed_bytes (0 when negative). Same application rule as
 *   SNAPSHOT_DELTA.
 *
 * STACKS_PACKED payload (what current shims write instead of STACKS): u32 count, then per
 *   stack the varints id_gap (id minus the previous stack's in this chunk, the first minus 0;
 *   at least 1), depth, shared (its outermost frames equal to the previous stack's in this
 *   chunk: at most both depths; 0 for the first), then its depth - shared other frames from
 *   the outermost inward, each a zigzag varint of the address minus a reference: for the first
 *   of them the previous stack's frame at the same distance from the outermost if it has one,
 *   else (and for the others) the frame just before it in this stack (0 if none).
 *
 * POOL payload (only when the pool is on; right after a SNAPSHOT chunk, same time_ns):
 *   PS_ROW_POOL_HEAD, u32 class_count, u32 row_size (>= PS_POOL_ROW_SIZE), rows
 *   (PS_ROW_POOL_CLASS), one per size class that served a block, smallest first.
 *
 * POOL_PACKED payload (what current shims write instead of POOL between keyframes): u64
 *   time_ns, u64 base_time_ns (time_ns of the last POOL or POOL_PACKED chunk before it in the
 *   file, the base), then varints: head_fields (>= PS_POOL_PACKED_HEAD), that many zigzag
 *   differences of PS_ROW_POOL_HEAD's fields after time_ns from the base's, class_count (of the
 *   pool after this chunk), row_count, row_fields (>= PS_POOL_PACKED_ROW), then row_count rows
 *   by increasing size: size_gap (the class size minus the previous row's, the first minus 0;
 *   at least 1), row_fields zigzag differences of PS_ROW_POOL_CLASS's fields after size from
 *   the base's row of that size (zeros if it has none). Rows not listed are the base's.
 *
 * The timing chunks (LOCKS, THREADS, LATENCY, ZONES, CPU) follow the POOL chunk (or the
 * SNAPSHOT chunk) of the same snapshot and start with its u64 time_ns. Times are ns, except in
 * histograms, which count ticks (tick_hz ticks per second, given in the chunk).
 *
 * hist (a log-linear histogram; index -> tick range: docs/trace-format.md, PS_HIST_*):
 *   u64 count, u64 sum (ticks), u64 max (ticks), u32 nonzero, nonzero × {u32 index, u64 count}
 *
 * LOCKS payload: PS_ROW_LOCKS_HEAD, u32 lock_count, u32 row_size (>= PS_LOCK_ROW_SIZE; rows of
 *   at least PS_LOCK_ROW_SIZE_WAKES bytes also hold `wakes`, of at least PS_LOCK_ROW_SIZE_POSTS
 *   bytes also `paired_posts`), rows (PS_ROW_LOCK), u32 site_count, u32 site_row_size
 *   (>= PS_LOCK_SITE_ROW_SIZE), site rows (PS_ROW_LOCK_SITE).
 *   A semaphore's (kind PS_LOCK_SEM) `signals` counts its posts, `paired_posts` those made by
 *   a thread that had taken it itself, `wake_ns`/`max_wake_ns`/`wakes` the wake-ups of its
 *   blocked waiters; its owner changes and holds are not measured (0).
 *
 * THREADS payload: PS_ROW_THREADS_HEAD, u32 count, u32 row_size (>= PS_THREAD_ROW_SIZE), rows
 *   (PS_ROW_THREAD).
 *
 * LATENCY payload: PS_ROW_LATENCY_HEAD, u32 row_count, rows: PS_ROW_LATENCY_ROW, hist.
 *
 * ZONES payload: PS_ROW_ZONES_HEAD, u32 count, rows: str name, u32 max_depth (deepest nesting
 *   level seen, 1 = outermost), hist.
 *
 * CPU payload: PS_ROW_CPU_HEAD, u32 count, u32 row_size (>= PS_CPU_ROW_SIZE), rows (PS_ROW_CPU).
 *   A CPU stack's first frame is the interrupted pc plus 1 (so that the usual "return address
 *   - 1" lookup names the interrupted instruction); the others are return addresses.
 *
 * SAMPLING payload (just before a SNAPSHOT with PS_SNAP_F_SAMPLED, same time_ns):
 *   PS_ROW_SAMPLING.
 *
 * MESSAGE payload: u32 severity (1 warning, 2 error), str text
 *
 * ALERT payload (right after the SNAPSHOT chunk the alerts caused, same time_ns):
 *   PS_ROW_ALERTS_HEAD, u32 count, u32 row_size (>= PS_ALERT_ROW_SIZE), rows (PS_ROW_ALERT).
 *
 * INHERITED payload (after PROCESS, in the file of a forked child with blocks live at fork):
 *   PS_ROW_INHERITED_HEAD, u32 count, u32 row_size (>= PS_INHERITED_ROW_SIZE), rows
 *   (PS_ROW_INHERITED), by increasing stack id.
 *
 * END payload: PS_ROW_END.
 *
 * AGES payload (right after the SNAPSHOT chunk of an exit, stop, dump or signal snapshot, same
 *   time_ns): PS_ROW_AGES_HEAD, then `count` sites, each: PS_ROW_AGE_SITE (site_size bytes,
 *   >= PS_AGE_SITE_SIZE), live_nonzero × {u32 index, u64 count, u64 bytes} (the stack's live
 *   blocks by age: a log-linear index, PS_HIST_* over units of 2^unit_shift ns), then
 *   freed_nonzero × {u32 index, u64 count} (its freed blocks by lifetime: ps_age_bucket()).
 *   Indices strictly increase within each list.
 *
 * ADVICE payload (right after the AGES chunk, or where it would be; same time_ns):
 *   PS_ROW_ADVICE_HEAD, then `count` sites by increasing stack id, each: PS_ROW_ADVICE_SITE
 *   (site_size bytes, >= PS_ADVICE_SITE_SIZE), req_nonzero × {u32 bin, u64 count} (requested
 *   sizes), then usable_nonzero × {u32 bin, u64 count} (usable sizes handed out). Bin 0 holds
 *   sizes up to 16 bytes, bin b (1 <= b < bins - 1) (2^(b+3), 2^(b+4)], the last one the rest
 *   (ps_advice_bin()). Bins strictly increase within each list.
 */

#define PS_SNAPSHOT_ROW_SIZE 64
#define PS_PACKED_FIELDS 5 /* SNAPSHOT_PACKED: the differences every row carries */
#define PS_SNAP_F_UNTRACKED                                                                        \
    1u /* SNAPSHOT flags: allocations were not tracked (PERFSHIM_TRACK=0)                          \
        */
/* SNAPSHOT flags: some allocations were sampled (PERFSHIM_SAMPLE): figures are estimates */
#define PS_SNAP_F_SAMPLED 2u
/* SNAPSHOT flags: the last snapshot of a process image that called exec* (reason exit; END
 * follows): the process goes on as another program, with a trace of its own */
#define PS_SNAP_F_EXEC 4u
#define PS_POOL_ROW_SIZE 96
#define PS_POOL_PACKED_HEAD 9      /* POOL_PACKED: head differences (max_size .. exhausted) */
#define PS_POOL_PACKED_ROW 12      /* POOL_PACKED: row differences (slabs .. bytes_returned) */
#define PS_LOCK_ROW_SIZE 144       /* the fields every reader needs */
#define PS_LOCK_ROW_SIZE_WAKES 152 /* rows this long also hold `wakes` */
#define PS_LOCK_ROW_SIZE_POSTS 160 /* rows this long also hold `paired_posts` */
#define PS_LOCK_SITE_ROW_SIZE 48
#define PS_THREAD_ROW_SIZE 64
#define PS_CPU_ROW_SIZE 16
#define PS_ALERT_ROW_SIZE 40
#define PS_LEAK_KIND_ROW_SIZE 24
#define PS_INHERITED_ROW_SIZE 24

/* ALERT rows: what crossed its threshold (PERFSHIM_ALERT_*) */
enum ps_alert_kind {
    PS_ALERT_RSS = 1,    /* resident set size reached PERFSHIM_ALERT_RSS */
    PS_ALERT_HEAP = 2,   /* live heap reached PERFSHIM_ALERT_HEAP */
    PS_ALERT_CGROUP = 3, /* cgroup v2 memory.current reached PERFSHIM_ALERT_CGROUP of memory.max */
    PS_ALERT_GROWTH = 4  /* live heap grew more than PERFSHIM_ALERT_GROWTH between intervals */
};

enum ps_lock_kind {
    PS_LOCK_MUTEX = 1,
    PS_LOCK_RWLOCK = 2,
    PS_LOCK_SPIN = 3,
    PS_LOCK_COND = 4,
    PS_LOCK_SEM = 5 /* a POSIX semaphore (readers before it show kind 5 as unknown) */
};
#define PS_LOCK_F_DESTROYED 1u /* destroyed (or re-initialized) before the snapshot */

#define PS_THREAD_F_EXITED 1u /* end_ns and cpu_ns are final */
#define PS_THREAD_F_MAIN 2u   /* the process's first thread */

enum ps_latency_op { PS_LAT_MALLOC = 0, PS_LAT_FREE = 1, PS_LAT_REALLOC = 2 };

/* Histogram buckets (ticks). Index i < 32 holds the value i exactly. Index i >= 32 holds
 * [m << s, (m + 1) << s) with s = i / 16 - 1 and m = 16 + i % 16, so a bucket is at most 1/16
 * of its lower bound wide; values at or above the last bucket's lower bound count in it. */
#define PS_HIST_SUB_BITS 4
#define PS_HIST_BUCKETS 656 /* up to 2^44 ticks (about 1.6 h at 3 GHz) */

/* Ages (AGES chunk). A block's birth is kept as a 32-bit count of age units (the chunk's unit_ps
 * says how long one is: about a millisecond). Lifetimes of freed blocks count in PS_AGE_BUCKETS
 * power-of-two buckets of units: bucket 0 holds ages below 1 unit, bucket b (1 <= b < 31) holds
 * [2^(b-1), 2^b) units, bucket 31 everything from 2^30 units (about 5 to 13 days) on. */
#define PS_AGE_BUCKETS 32
#define PS_AGE_SITE_SIZE 16
static inline unsigned ps_age_bucket(uint64_t units)
{
    if (units == 0)
        return 0;
    unsigned b = 64u - (unsigned)__builtin_clzll(units); /* units in [2^(b-1), 2^b) */
    return b < PS_AGE_BUCKETS ? b : PS_AGE_BUCKETS - 1;
}

/* Advice counters (ADVICE chunk): size bins, fixed site size, head flags. */
#define PS_ADV_BINS 16
#define PS_ADVICE_SITE_SIZE 64
#define PS_ADVICE_F_SCALED 1u  /* 1 in `sample` allocations counted: the counts are estimates */
#define PS_ADVICE_F_SAMPLED 2u /* byte sampling (PERFSHIM_SAMPLE): estimates of its blocks */
static inline unsigned ps_advice_bin(uint64_t n)
{
    if (n <= 16)
        return 0;
    unsigned b = (unsigned)(64 - __builtin_clzll(n - 1)) - 4;
    return b < PS_ADV_BINS ? b : PS_ADV_BINS - 1;
}

#define PS_FRAME_CUT UINT64_C(0xffffffffffffffff)

enum ps_snapshot_reason {
    PS_SNAP_EXIT = 0,     /* process exit: exit(), return from main, _exit, _Exit, quick_exit */
    PS_SNAP_DUMP = 1,     /* perfshim_dump() or an external request */
    PS_SNAP_INTERVAL = 2, /* periodic: PERFSHIM_INTERVAL */
    PS_SNAP_FORK = 3,     /* in a forked child, state inherited from the parent */
    PS_SNAP_STOP = 4,     /* the last of a section: perfshim ctl stop (an END follows) */
    PS_SNAP_MAX = 5,      /* a new high of the live heap: PERFSHIM_DUMP_AT_MAX */
    PS_SNAP_EVERY = 6,    /* another PERFSHIM_DUMP_EVERY bytes allocated */
    PS_SNAP_SIGNAL = 7,   /* PERFSHIM_DUMP_SIGNAL received */
    PS_SNAP_ALERT = 8     /* an alert (PERFSHIM_ALERT_*): the ALERT chunk after it says which */
};

/* SECTION payload: u32 section (1, 2, ...: the file of each perfshim ctl start), u32 how
 * (PS_SECTION_*), u64 start_ns (monotonic ns since process start when the section began),
 * str first trace path of the process (where section 1 went, or "" when this is section 1). */
enum ps_section_how {
    PS_SECTION_AT_START = 0, /* tracking began with the process (PERFSHIM_START=on) */
    PS_SECTION_CTL = 1,      /* perfshim ctl start */
    PS_SECTION_EXEC = 2      /* an exec* failed after its snapshot: the process went on */
};

/* LEAK_KINDS (19) payload, after the exit SNAPSHOT (same time_ns): PS_ROW_LEAK_KINDS_HEAD, u32
 * count, u32 row_size (>= PS_LEAK_KIND_ROW_SIZE), rows PS_ROW_LEAK_KIND. The class of a live
 * block found by the reachability scan (shim/reach.c), with valgrind memcheck's meanings. */
enum ps_leak_kind {
    PS_LEAK_DEFINITELY = 1, /* no pointer to it anywhere */
    PS_LEAK_INDIRECTLY = 2, /* only lost blocks point to it */
    PS_LEAK_POSSIBLY = 3,   /* reached, but only through a chain with an interior pointer */
    PS_LEAK_REACHABLE = 4,  /* a chain of start pointers from a root reaches it */
    PS_LEAK_KINDS = 5       /* array size: kinds are 1..4 */
};
#define PS_LEAK_F_THREADS_RAN 1u /* other threads still ran during the scan */

#endif /* PERFSHIM_TRACE_FORMAT_H */
