/* SPDX-License-Identifier: MIT */
/*
 * trace_rows.h — THE declaration of every fixed-layout record of the trace (X-macros), shared
 * by the writer (the shim) and the reader (the analyzer). One line per field:
 *
 *     X(c, type, name, unit, json, json_name, meaning)
 *
 *   type       on the wire, in this order, no padding (docs/trace-format.md, Conventions):
 *                u32, u64   little-endian unsigned
 *                pad32      4 reserved bytes: written 0, skipped by readers; no struct member
 *                name16     16 bytes of text, NUL-padded; the struct member is char[17] and
 *                           always NUL-terminated
 *   name       the field, and the struct member that holds it on both sides
 *   unit       ns, bytes, count, hz, addr, stack_id, tid, index, enum, flags, bool, text, -
 *   json       how a report writes the field as a JSON member (PA_ROW_JSON): u64; u64z (null
 *              when 0); bool (0 false, else true); hex ("0x..."); hexz (null when 0); str; or
 *              none: no report writes it as is (it writes a name, an estimate or a flag made
 *              from it, by hand); a report may also write null by hand when a chunk is absent
 *   json_name  the member's name in the analyzer's JSON (docs/analyzer.md), - for none
 *   meaning    the glossary: docs/trace-format.md's tables are exactly these lines (a unit
 *              test, analyzer_rows, compares them)
 *   c          passed through for the generators' use
 *
 * From each list come: the struct (PS_ROW_MEMBERS; ps_row_<name>_t below), its wire size
 * (PS_ROW_WIRE_SIZE), the shim's encoder (ps_put_<name>, shim/trace_writer.c), the analyzer's
 * decoder (PA_ROW_GET in analyzer/model.c) and JSON members (PA_ROW_JSON, analyzer/json.h).
 * tests/unit/analyzer/trace_builder.c encodes the same records by hand, independently: the
 * unit tests compare the two byte for byte.
 *
 * Appending a field: add it at the end of a row and name the new row size the writer puts in
 * the chunk (the _Static_asserts at the end tie the PS_*_ROW_SIZE constants of trace_format.h
 * to the declared sizes, as PS_LOCK_ROW_SIZE_WAKES did for `wakes`); readers decode the fields
 * that fit in the row_size a chunk gives (older files have shorter rows) and keep requiring
 * the minimum they always did. Changing or reordering anything else changes the format
 * (docs/trace-format.md, Versioning).
 *
 * Not declared here, written by hand on both sides (trace_format.h; PROCESS ends with two
 * appended u64, mem_total_bytes and cgroup_limit_bytes, that older traces lack): the variable
 * parts — strings, PROCESS,
 * MODULES and UNLOADED_MODULES records, STACKS, MESSAGE, histograms (hist), ZONES rows —, and
 * the u32 count / u32 row_size pair in front of each table of rows.
 *
 * Must not include anything but <stdint.h> and trace_format.h: the shim and the analyzer both
 * include it.
 */
#ifndef PERFSHIM_TRACE_ROWS_H
#define PERFSHIM_TRACE_ROWS_H

#include <stdint.h>

#include "trace_format.h"

/* clang-format off */

/* ---- SNAPSHOT (4): header, totals, then rows of PS_SNAPSHOT_ROW_SIZE bytes ------------------ */

#define PS_ROW_SNAPSHOT_HEAD(X, c) \
    X(c, u64, time_ns, ns, u64, time_ns, "monotonic nanoseconds since process start") \
    X(c, u32, reason, enum, none, -, \
      "0 exit (`exit`, a return from `main`, `_exit`, `_Exit`, `quick_exit`), 1 dump " \
      "(`perfshim_dump()` or an external request), 2 interval, 3 fork (first " \
      "snapshot of a forked child, with the state it inherited), 4 stop (the last " \
      "snapshot of a section: `perfshim ctl stop`; END follows), 5 max (a new high of the " \
      "live heap, `PERFSHIM_DUMP_AT_MAX`), 6 every (`PERFSHIM_DUMP_EVERY` more bytes " \
      "allocated), 7 signal (`PERFSHIM_DUMP_SIGNAL`), 8 alert (the ALERT chunk after it " \
      "says which)") \
    X(c, u32, flags, flags, none, -, \
      "bit 0 (`PS_SNAP_F_UNTRACKED`): allocations were not tracked (`PERFSHIM_TRACK=0`); " \
      "bit 1 (`PS_SNAP_F_SAMPLED`): some were sampled (`PERFSHIM_SAMPLE`), so counts and bytes " \
      "are estimates (its SAMPLING chunk comes just before it); bit 2 (`PS_SNAP_F_EXEC`): the " \
      "exit snapshot of a process that called `exec*` (END follows; the new program writes " \
      "a trace of its own)")

#define PS_ROW_SNAPSHOT_TOTALS(X, c) \
    X(c, u64, allocs, count, u64, allocs, "allocations tracked") \
    X(c, u64, frees, count, u64, frees, "frees of tracked blocks") \
    X(c, u64, alloc_bytes, bytes, u64, alloc_bytes, "bytes requested by those allocations") \
    X(c, u64, freed_bytes, bytes, u64, freed_bytes, "bytes of the blocks freed") \
    X(c, u64, live_blocks, count, u64, live_blocks, "blocks allocated and not freed") \
    X(c, u64, live_bytes, bytes, u64, live_bytes, "bytes of those blocks") \
    X(c, u64, peak_live_bytes, bytes, u64, peak_live_bytes, "highest live_bytes since start") \
    X(c, u64, rss_bytes, bytes, u64, rss_bytes, "resident set size now") \
    X(c, u64, peak_rss_bytes, bytes, u64, peak_rss_bytes, \
      "highest resident set size since start") \
    X(c, u64, untracked_frees, count, u64, untracked_frees, \
      "frees of blocks the tracker never saw (allocated before the shim loaded, or by another " \
      "allocator)")

#define PS_ROW_SNAPSHOT(X, c) \
    X(c, u32, stack_id, stack_id, none, -, "stack of these allocations (0: no stack)") \
    X(c, pad32, reserved, -, none, -, "0") \
    X(c, u64, allocs, count, u64, allocs, "allocations at this stack") \
    X(c, u64, alloc_bytes, bytes, u64, alloc_bytes, "bytes they requested") \
    X(c, u64, frees, count, u64, frees, "of those blocks, how many were freed") \
    X(c, u64, freed_bytes, bytes, u64, freed_bytes, "their bytes") \
    X(c, u64, live_blocks, count, u64, live_blocks, "blocks from this stack still allocated") \
    X(c, u64, live_bytes, bytes, u64, live_bytes, "their bytes") \
    X(c, u64, peak_live_bytes, bytes, u64, peak_live_bytes, \
      "highest live_bytes of this stack seen so far (the current writer samples it at each " \
      "snapshot)")

/* ---- POOL (6): header, then one row of PS_POOL_ROW_SIZE bytes per size class ---------------- */

#define PS_ROW_POOL_HEAD(X, c) \
    X(c, u64, time_ns, ns, u64, time_ns, "`time_ns` of the SNAPSHOT chunk it belongs to") \
    X(c, u64, max_size, bytes, u64, max_size, \
      "largest request the pool serves (larger ones go to the C library)") \
    X(c, u64, reserved, bytes, u64, reserved, "address space reserved for blocks") \
    X(c, u64, committed, bytes, u64, committed, \
      "block memory ever made readable and writable: the high-water mark") \
    X(c, u64, slab_bytes, bytes, u64, slab_bytes, "slabs serving a size class now") \
    X(c, u64, empty_bytes, bytes, u64, empty_bytes, "empty slabs whose pages are still resident") \
    X(c, u64, released_bytes, bytes, u64, released_bytes, \
      "empty slabs whose pages went back to the OS") \
    X(c, u64, returned_bytes, bytes, u64, returned_bytes, \
      "bytes given back to the OS (`madvise`) since start") \
    X(c, u32, threads, count, u64, threads, "live thread caches") \
    X(c, u32, exhausted, bool, bool, exhausted, \
      "1 once the reservation ran out (small requests then go to the C library), else 0")

#define PS_ROW_POOL_CLASS(X, c) \
    X(c, u32, size, bytes, u64, size, "block size of the class") \
    X(c, u32, slabs, count, u64, slabs, "slabs serving the class now") \
    X(c, u64, allocs, count, u64, allocs, "blocks handed out (normally `hits + misses`)") \
    X(c, u64, hits, count, u64, hits, \
      "of those, taken straight from the allocating thread's cache") \
    X(c, u64, misses, count, u64, misses, \
      "of those, that needed the central pool (a refill, or a thread whose cache was gone)") \
    X(c, u64, refills, count, u64, refills, \
      "transfers of blocks from the central pool to a thread cache") \
    X(c, u64, flushes, count, u64, flushes, \
      "transfers from a thread cache to the central pool: a cache overflowing because frees " \
      "outpace allocations on that thread, as on the consumer side of cross-thread (remote) " \
      "frees") \
    X(c, u64, flushed_blocks, count, u64, flushed_blocks, "blocks moved by those flushes") \
    X(c, u64, direct_frees, count, u64, direct_frees, \
      "frees straight to the central pool (the freeing thread's cache was already gone)") \
    X(c, u64, bytes_in_use, bytes, u64, bytes_in_use, \
      "blocks the program holds (whole blocks: class sizes, not requested sizes)") \
    X(c, u64, bytes_cached, bytes, u64, bytes_cached, "free blocks in thread caches") \
    X(c, u64, bytes_central, bytes, u64, bytes_central, \
      "free blocks in the central pool: transfer stacks and slab free lists, not slab space " \
      "never carved into blocks") \
    X(c, u64, bytes_returned, bytes, u64, bytes_returned, \
      "slab memory of this class given back to the OS")

/* ---- LOCKS (7): header, lock rows (PS_LOCK_ROW_SIZE..), call-site rows ----------------------- */

#define PS_ROW_LOCKS_HEAD(X, c) \
    X(c, u64, time_ns, ns, u64, time_ns, "`time_ns` of the snapshot") \
    X(c, u32, sample, count, u64, sample, \
      "`PERFSHIM_LOCK_SAMPLE`: one uncontended acquisition in `sample` per thread is sampled") \
    X(c, u32, flags, flags, none, -, "bit 0: the shim's lock table was full") \
    X(c, u64, untracked_ops, count, u64, untracked_ops, \
      "lock operations not counted (the table was full)") \
    X(c, u64, retired_quiet, count, u64, retired_quiet, \
      "destroyed locks that were never contended, only counted here") \
    X(c, u64, retired_quiet_acquisitions, count, u64, retired_quiet_acquisitions, \
      "their acquisitions")

/* `wakes` and then `paired_posts` were appended: rows of PS_LOCK_ROW_SIZE (144) bytes end
 * before the first, of PS_LOCK_ROW_SIZE_WAKES (152) before the second. A semaphore (kind 5)
 * uses `signals` for its posts and the wake-up fields for its blocked waiters; its owner
 * changes and holds are not measured (0). */
#define PS_ROW_LOCK(X, c) \
    X(c, u64, address, addr, hex, address, "the lock's address in the traced process") \
    X(c, u32, kind, enum, none, -, \
      "lock kind (`enum ps_lock_kind`, listed under LOCKS above)") \
    X(c, u32, flags, flags, none, -, \
      "bit 0 (`PS_LOCK_F_DESTROYED`): destroyed (or re-initialized) before the snapshot") \
    X(c, u32, first_use_stack, stack_id, none, -, "stack of its first use (0: none)") \
    X(c, pad32, reserved, -, none, -, "0") \
    X(c, u64, acquisitions, count, u64, acquisitions, "acquisitions (condition variable: waits)") \
    X(c, u64, contended, count, u64, contended, \
      "acquisitions whose first try found the lock busy") \
    X(c, u64, owner_changes, count, none, -, \
      "hand-offs to another thread, estimated from contended and sampled acquisitions") \
    X(c, u64, wait_ns, ns, u64, wait_ns, "time spent waiting for it") \
    X(c, u64, max_wait_ns, ns, u64, max_wait_ns, "the longest wait") \
    X(c, u64, hold_ns, ns, u64, hold_ns, "time held, estimated from `hold_samples` timed holds") \
    X(c, u64, max_hold_ns, ns, u64, max_hold_ns, "the longest timed hold") \
    X(c, u64, hold_samples, count, u64, hold_samples, "holds that were timed") \
    X(c, u64, read_acquisitions, count, u64, read_acquisitions, \
      "rwlock: shared acquisitions (within `acquisitions`)") \
    X(c, u64, trylock_failures, count, u64, trylock_failures, "trylock calls that found it busy") \
    X(c, u64, timeouts, count, u64, timeouts, "timed acquisitions or waits that timed out") \
    X(c, u64, signals, count, u64, signals, "condition variable: signals; semaphore: posts") \
    X(c, u64, broadcasts, count, u64, broadcasts, "condition variable: broadcasts") \
    X(c, u64, wake_ns, ns, u64, wake_ns, \
      "condition variable: time from the latest signal or broadcast to the waiter's return " \
      "with the mutex, summed over `wakes` waits; semaphore: from the latest post to a " \
      "blocked waiter's return") \
    X(c, u64, max_wake_ns, ns, u64, max_wake_ns, "the longest such wake-up") \
    X(c, u64, wakes, count, none, -, \
      "waits whose wake-up latency is in `wake_ns`; only in rows of at least 152 bytes") \
    X(c, u64, paired_posts, count, none, -, \
      "semaphore: posts made by a thread that had taken it itself; only in rows of at least " \
      "160 bytes")

#define PS_ROW_LOCK_SITE(X, c) \
    X(c, u32, lock_index, index, none, -, "its lock: a row index of this chunk") \
    X(c, u32, stack_id, stack_id, none, -, "the acquiring (or waiting) call stack") \
    X(c, u64, acquisitions, count, u64, acquisitions, \
      "contended acquisitions exactly, plus `sample` for every sampled uncontended one") \
    X(c, u64, contended, count, u64, contended, "contended acquisitions") \
    X(c, u64, wait_ns, ns, u64, wait_ns, "time waited") \
    X(c, u64, max_wait_ns, ns, u64, max_wait_ns, "the longest wait") \
    X(c, u64, samples, count, u64, samples, "sampled acquisitions (contended or not)")

/* ---- THREADS (8): header, rows of PS_THREAD_ROW_SIZE bytes ---------------------------------- */

#define PS_ROW_THREADS_HEAD(X, c) \
    X(c, u64, time_ns, ns, u64, time_ns, "`time_ns` of the snapshot") \
    X(c, u64, created, count, u64, created, "`pthread_create` calls that started a thread") \
    X(c, u64, dropped, count, u64, dropped, "threads not kept (the shim's table was full)")

#define PS_ROW_THREAD(X, c) \
    X(c, u32, tid, tid, u64, tid, "kernel thread id") \
    X(c, u32, creator_tid, tid, none, -, "the thread that created it") \
    X(c, u32, start_stack, stack_id, none, -, "stack of the `pthread_create` call (0: none)") \
    X(c, u32, flags, flags, none, -, \
      "bit 0 (`PS_THREAD_F_EXITED`): exited; bit 1 (`PS_THREAD_F_MAIN`): the main thread") \
    X(c, u64, start_ns, ns, u64, start_ns, "start, since process start") \
    X(c, u64, end_ns, ns, u64z, end_ns, "exit, since process start; 0 while running") \
    X(c, u64, cpu_ns, ns, u64, cpu_ns, \
      "CPU time: final once exited, else read at the snapshot") \
    X(c, name16, name, text, str, name, \
      "thread name (NUL-padded): final once exited, else read at the snapshot") \
    X(c, u64, start_routine, addr, hexz, start_routine_address, \
      "the thread's start function")

/* ---- LATENCY (9): header, u32 row_count, rows (this prefix, then a hist) ------------------- */

#define PS_ROW_LATENCY_HEAD(X, c) \
    X(c, u64, time_ns, ns, u64, time_ns, "`time_ns` of the snapshot") \
    X(c, u64, tick_hz, hz, u64, tick_hz, "histogram ticks per second") \
    X(c, u32, sample, count, u64, sample, "one call in `sample` per thread was timed") \
    X(c, u32, flags, flags, none, -, "0") \
    X(c, u64, pooled, count, u64, pooled, "calls served by the pool") \
    X(c, u64, forwarded, count, u64, forwarded, "calls passed to the C library") \
    X(c, u64, forwarded_large, count, u64, forwarded_large, \
      "of those, requests of 128 KiB or more (glibc's default mmap threshold)") \
    X(c, u64, pool_refills, count, u64, pool_refills, "pool refills of thread caches") \
    X(c, u64, pool_flushes, count, u64, pool_flushes, "pool flushes of thread caches") \
    X(c, u64, pool_commits, bytes, u64, pool_committed_bytes, \
      "pool slab memory made readable and writable")

#define PS_ROW_LATENCY_ROW(X, c) \
    X(c, u32, op, enum, none, -, "0 malloc, 1 free, 2 realloc (`enum ps_latency_op`)") \
    X(c, u32, size_max, bytes, none, -, \
      "upper bound of the size bin; `0xffffffff` for the last, open bin")

/* ---- ZONES (10): header, u32 count, rows (str name, u32 max_depth, hist: by hand) ---------- */

#define PS_ROW_ZONES_HEAD(X, c) \
    X(c, u64, time_ns, ns, u64, time_ns, "`time_ns` of the snapshot") \
    X(c, u64, tick_hz, hz, u64, tick_hz, "histogram ticks per second") \
    X(c, u64, unmatched_ends, count, u64, unmatched_ends, "zone ends without a begin") \
    X(c, u64, too_deep, count, u64, too_deep, "begins beyond the nesting limit") \
    X(c, u64, dropped, count, u64, dropped, "zones not kept (the table was full)")

/* ---- CPU (11): header, rows of PS_CPU_ROW_SIZE bytes ---------------------------------------- */

#define PS_ROW_CPU_HEAD(X, c) \
    X(c, u64, time_ns, ns, u64, time_ns, "`time_ns` of the snapshot") \
    X(c, u32, hz, hz, u64, hz, "`PERFSHIM_CPU_HZ`") \
    X(c, u32, flags, flags, none, -, "0") \
    X(c, u64, samples, count, u64, samples_taken, \
      "timer periods sampled (a signal after k missed expirations counts 1 + k)") \
    X(c, u64, dropped, count, u64, dropped, \
      "samples lost (a buffer was full, or the thread was within 16 KiB of its stack's end)") \
    X(c, u64, partial, count, u64, partial, \
      "stacks cut short at a frame the signal-safe walker could not unwind")

#define PS_ROW_CPU(X, c) \
    X(c, u32, stack_id, stack_id, none, -, "the sampled stack") \
    X(c, u32, threads, count, u64, threads, "threads that sampled it") \
    X(c, u64, samples, count, u64, samples, "timer periods sampled in it")

/* ---- ALERT (15): header, then rows of PS_ALERT_ROW_SIZE bytes -------------------------------- */

#define PS_ROW_ALERTS_HEAD(X, c) \
    X(c, u64, time_ns, ns, u64, time_ns, "`time_ns` of the SNAPSHOT chunk it follows")

#define PS_ROW_ALERT(X, c) \
    X(c, u32, kind, enum, none, -, \
      "1 rss (`PERFSHIM_ALERT_RSS`), 2 heap (`PERFSHIM_ALERT_HEAP`), 3 cgroup " \
      "(`PERFSHIM_ALERT_CGROUP`), 4 growth (`PERFSHIM_ALERT_GROWTH`)") \
    X(c, pad32, reserved, -, none, -, "0") \
    X(c, u64, time_ns, ns, u64, time_ns, \
      "when the shim found it: monotonic nanoseconds since process start") \
    X(c, u64, value, bytes, u64, value, \
      "rss: resident set; heap, growth: live heap; cgroup: `memory.current` of the cgroup " \
      "below") \
    X(c, u64, threshold, bytes, u64, threshold, \
      "the value that was reached: the option's size; cgroup: its share of `memory.max`; " \
      "growth: the previous live heap plus its share") \
    X(c, u64, base, bytes, u64z, base, \
      "cgroup: `memory.max`; growth: the live heap at the previous interval snapshot; else 0")

/* ---- SAMPLING (16): before a SNAPSHOT whose figures are estimates (PERFSHIM_SAMPLE) ------- */

#define PS_ROW_SAMPLING(X, c) \
    X(c, u64, time_ns, ns, u64, time_ns, "`time_ns` of the SNAPSHOT chunk it belongs to") \
    X(c, u64, mean_bytes, bytes, u64, mean_bytes, \
      "mean sampling interval in effect at the snapshot (0: every allocation tracked now)") \
    X(c, u64, max_mean_bytes, bytes, u64, max_mean_bytes, \
      "largest mean used since start: the figures' error bounds are computed with it") \
    X(c, u32, means, count, u64, means, "distinct means used since start") \
    X(c, pad32, reserved, -, none, -, "0")

/* ---- LEAK_KINDS (19): after the exit SNAPSHOT; header, rows of PS_LEAK_KIND_ROW_SIZE bytes -- */

#define PS_ROW_LEAK_KINDS_HEAD(X, c) \
    X(c, u64, time_ns, ns, u64, time_ns, "`time_ns` of the SNAPSHOT chunk it follows") \
    X(c, u64, blocks, count, u64, blocks, "tracked live blocks the scan classified") \
    X(c, u64, definitely, count, u64, definitely, "of those, definitely lost") \
    X(c, u64, indirectly, count, u64, indirectly, "indirectly lost") \
    X(c, u64, possibly, count, u64, possibly, "possibly lost") \
    X(c, u64, reachable, count, u64, reachable, "still reachable") \
    X(c, u64, root_bytes, bytes, u64, root_bytes, \
      "root memory scanned: data and bss, TLS, thread control blocks, stacks") \
    X(c, u64, heap_bytes, bytes, u64, heap_bytes, "block memory scanned") \
    X(c, u64, unread_bytes, bytes, u64, unread_bytes, \
      "memory that could not be read (unmapped or protected pages of other threads' stacks, " \
      "modules' segments, blocks)") \
    X(c, u64, scan_ns, ns, u64, scan_ns, "CPU time the scan took (its thread's), from the copy of the blocks to the rows") \
    X(c, u32, threads, count, u64, threads, "other threads whose whole stacks were scanned") \
    X(c, u32, flags, flags, none, -, \
      "bit 0 (`PS_LEAK_F_THREADS_RAN`): other threads were still running")

#define PS_ROW_LEAK_KIND(X, c) \
    X(c, u32, stack_id, stack_id, none, -, "allocation stack of these blocks") \
    X(c, u32, kind, enum, none, -, \
      "1 definitely lost, 2 indirectly lost, 3 possibly lost, 4 still reachable") \
    X(c, u64, blocks, count, u64, blocks, "live blocks of this stack in this class") \
    X(c, u64, bytes, bytes, u64, bytes, "their bytes")

/* ---- INHERITED (20): once per file of a forked child, after PROCESS --------------------- */

#define PS_ROW_INHERITED_HEAD(X, c) \
    X(c, u64, fork_ns, ns, u64, fork_ns, \
      "when the child was forked: monotonic nanoseconds since process start") \
    X(c, u32, parent_pid, count, u64, parent_pid, "the process that forked it") \
    X(c, pad32, reserved, -, none, -, "0")

#define PS_ROW_INHERITED(X, c) \
    X(c, u32, stack_id, stack_id, none, -, "a stack with blocks live at the fork") \
    X(c, pad32, reserved, -, none, -, "0") \
    X(c, u64, blocks, count, u64, blocks, "its live blocks at the fork (the child's copies)") \
    X(c, u64, bytes, bytes, u64, bytes, "their bytes")

/* ---- END (0xffff) --------------------------------------------------------------------------- */

#define PS_ROW_END(X, c) \
    X(c, u64, chunk_count, count, u64, chunk_count, \
      "number of chunks written before this one (all types)") \
    X(c, u64, dropped_events, count, u64, dropped_events, \
      "events the shim had to drop (0 in full tracking): counts are incomplete when not 0")

/* ---- AGES (18): after the SNAPSHOT of an exit, stop, dump or signal snapshot ------------- */

#define PS_ROW_AGES_HEAD(X, c) \
    X(c, u64, time_ns, ns, u64, time_ns, "`time_ns` of the SNAPSHOT chunk it follows") \
    X(c, u64, unit_ps, count, u64, unit_ps, \
      "picoseconds per age unit: ages and lifetimes count in these units") \
    X(c, u32, clock_res_ns, ns, u64, clock_resolution_ns, \
      "resolution of the clock the birth times were read from") \
    X(c, u32, count, count, none, -, "sites that follow") \
    X(c, u32, site_size, bytes, none, -, "bytes of each site's fixed part, >= 16") \
    X(c, pad32, reserved, -, none, -, "0") \
    X(c, u64, walk_ns, ns, u64, walk_ns, \
      "time the shim took to collect the live blocks' ages for this chunk")

#define PS_ROW_AGE_SITE(X, c) \
    X(c, u32, stack_id, stack_id, u64, stack_id, "the allocation stack") \
    X(c, u32, live_nonzero, count, none, -, "live-age buckets that follow") \
    X(c, u32, freed_nonzero, count, none, -, "lifetime buckets that follow them") \
    X(c, pad32, reserved, -, none, -, "0")

/* ---- ADVICE (21): after AGES (exit, stop, dump or signal snapshot) ------------------------ */

#define PS_ROW_ADVICE_HEAD(X, c) \
    X(c, u64, time_ns, ns, u64, time_ns, "`time_ns` of the SNAPSHOT chunk it belongs to") \
    X(c, u32, sample, count, u64, sample, \
      "`PERFSHIM_ADVICE_SAMPLE`: one tracked allocation in this many (per thread) was counted, " \
      "with this weight") \
    X(c, u32, flags, flags, none, -, \
      "bit 0 (`PS_ADVICE_F_SCALED`): sample > 1, the counts are estimates; bit 1 " \
      "(`PS_ADVICE_F_SAMPLED`): byte sampling (`PERFSHIM_SAMPLE`) weighted them too") \
    X(c, u32, count, count, none, -, "sites that follow") \
    X(c, u32, site_size, bytes, none, -, "bytes of each site's fixed part, >= 64") \
    X(c, u32, bins, count, none, -, "size bins (16)") \
    X(c, pad32, reserved, -, none, -, "0")

#define PS_ROW_ADVICE_SITE(X, c) \
    X(c, u32, stack_id, stack_id, u64, stack_id, "the allocation stack") \
    X(c, u32, req_nonzero, count, none, -, "requested-size bins that follow") \
    X(c, u32, usable_nonzero, count, none, -, "usable-size bins that follow them") \
    X(c, pad32, reserved, -, none, -, "0") \
    X(c, u64, allocs, count, u64, allocs, "allocations counted (estimated)") \
    X(c, u64, temporaries, count, u64, temporaries, \
      "blocks freed before the same thread's next allocation") \
    X(c, u64, realloc_grows, count, u64, realloc_grows, \
      "reallocs that grew a block allocated at this stack") \
    X(c, u64, realloc_old_bytes, bytes, u64, realloc_old_bytes, \
      "the sizes of those blocks before the reallocs (requested bytes)") \
    X(c, u64, realloc_new_bytes, bytes, u64, realloc_new_bytes, "their sizes after them") \
    X(c, u64, cross_thread_frees, count, u64, cross_thread_frees, \
      "blocks freed by a thread other than the one that allocated them")

/* Every record above: Y(ID, name) for PS_ROW_<ID> and ps_row_<name>_t. */
#define PS_TRACE_ROWS(Y) \
    Y(SNAPSHOT_HEAD, snapshot_head) \
    Y(SNAPSHOT_TOTALS, snapshot_totals) \
    Y(SNAPSHOT, snapshot) \
    Y(POOL_HEAD, pool_head) \
    Y(POOL_CLASS, pool_class) \
    Y(LOCKS_HEAD, locks_head) \
    Y(LOCK, lock) \
    Y(LOCK_SITE, lock_site) \
    Y(THREADS_HEAD, threads_head) \
    Y(THREAD, thread) \
    Y(LATENCY_HEAD, latency_head) \
    Y(LATENCY_ROW, latency_row) \
    Y(ZONES_HEAD, zones_head) \
    Y(CPU_HEAD, cpu_head) \
    Y(CPU, cpu) \
    Y(ALERTS_HEAD, alerts_head) \
    Y(ALERT, alert) \
    Y(END, end) \
    Y(SAMPLING, sampling) \
    Y(AGES_HEAD, ages_head) \
    Y(AGE_SITE, age_site) \
    Y(LEAK_KINDS_HEAD, leak_kinds_head) \
    Y(LEAK_KIND, leak_kind) \
    Y(INHERITED_HEAD, inherited_head) \
    Y(INHERITED, inherited) \
    Y(ADVICE_HEAD, advice_head) \
    Y(ADVICE_SITE, advice_site)

/* clang-format on */

/* ---- generators ------------------------------------------------------------------------------ */

#define PS_ROW_NAME16_SIZE 16

/* The members of a record's struct, for a struct that holds more (model.h's chunk structs). */
#define PS_ROW_MEMBERS(ID) PS_ROW_##ID(PS_ROW_MEMBER_, _)
#define PS_ROW_MEMBER_(c, type, name, unit, json, json_name, meaning) PS_ROW_MEMBER_##type(name)
#define PS_ROW_MEMBER_u32(name) uint32_t name;
#define PS_ROW_MEMBER_u64(name) uint64_t name;
#define PS_ROW_MEMBER_pad32(name)
#define PS_ROW_MEMBER_name16(name) char name[PS_ROW_NAME16_SIZE + 1];

/* Bytes of a record on the wire (a constant expression). */
#define PS_ROW_WIRE_SIZE(ID) (0 PS_ROW_##ID(PS_ROW_WIRE_, _))
#define PS_ROW_WIRE_(c, type, name, unit, json, json_name, meaning) +PS_ROW_WIRE_##type
#define PS_ROW_WIRE_u32 4
#define PS_ROW_WIRE_u64 8
#define PS_ROW_WIRE_pad32 4
#define PS_ROW_WIRE_name16 PS_ROW_NAME16_SIZE

/* ps_row_<name>_t: one struct per record. */
#define PS_ROW_TYPEDEF_(ID, lname)                                                                 \
    typedef struct ps_row_##lname##_s {                                                            \
        PS_ROW_MEMBERS(ID)                                                                         \
    } ps_row_##lname##_t;
PS_TRACE_ROWS(PS_ROW_TYPEDEF_)

/* The row sizes the format names are the declared ones (LOCK: 144 bytes before `wakes`, 152
 * before `paired_posts`). */
_Static_assert(PS_ROW_WIRE_SIZE(SNAPSHOT) == PS_SNAPSHOT_ROW_SIZE, "SNAPSHOT row");
_Static_assert(PS_ROW_WIRE_SIZE(POOL_CLASS) == PS_POOL_ROW_SIZE, "POOL row");
_Static_assert(PS_ROW_WIRE_SIZE(LOCK) == PS_LOCK_ROW_SIZE_POSTS, "LOCKS row");
_Static_assert(PS_ROW_WIRE_SIZE(LOCK) - 8 == PS_LOCK_ROW_SIZE_WAKES, "LOCKS row, no paired_posts");
_Static_assert(PS_ROW_WIRE_SIZE(LOCK) - 16 == PS_LOCK_ROW_SIZE, "LOCKS row without wakes");
_Static_assert(PS_ROW_WIRE_SIZE(LOCK_SITE) == PS_LOCK_SITE_ROW_SIZE, "LOCKS site row");
_Static_assert(PS_ROW_WIRE_SIZE(THREAD) == PS_THREAD_ROW_SIZE, "THREADS row");
_Static_assert(PS_ROW_WIRE_SIZE(CPU) == PS_CPU_ROW_SIZE, "CPU row");
_Static_assert(PS_ROW_WIRE_SIZE(ALERT) == PS_ALERT_ROW_SIZE, "ALERT row");
_Static_assert(PS_ROW_WIRE_SIZE(LEAK_KIND) == PS_LEAK_KIND_ROW_SIZE, "LEAK_KINDS row");
_Static_assert(PS_ROW_WIRE_SIZE(AGE_SITE) == PS_AGE_SITE_SIZE, "AGES site");
_Static_assert(PS_ROW_WIRE_SIZE(INHERITED) == PS_INHERITED_ROW_SIZE, "INHERITED row");
_Static_assert(PS_ROW_WIRE_SIZE(ADVICE_SITE) == PS_ADVICE_SITE_SIZE, "ADVICE site");

#endif /* PERFSHIM_TRACE_ROWS_H */
