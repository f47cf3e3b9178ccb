/* SPDX-License-Identifier: MIT */
/*
 * trace_format.h — the perfshim trace file format, shared by the writer (shim/trace_writer.c)
 * and the reader (analyzer/trace_reader.c).
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
#define PS_TRACE_MAGIC "PSHMTRC\0"   /* 8 bytes */
#define PS_TRACE_MAGIC_LEN 8
#define PS_TRACE_VERSION 1           /* u16 at offset 8: format version written */
/* u16 at offset 10: flags (0); u32 at offset 12: size of this header (16) */
#define PS_TRACE_FILE_HEADER_SIZE 16

/* ---- chunk header: 16 bytes, then `length` payload bytes ----------------------------------- */
/* u32 sync = PS_CHUNK_SYNC; u16 type; u16 flags (0); u32 length; u32 crc.
 * crc is CRC-32 (IEEE 802.3, as zlib's crc32()) over the first 12 header bytes (sync, type,
 * flags, length) followed by the payload. A reader that finds a bad sync or crc reports the
 * offset and may scan forward for the next sync word whose chunk verifies. */
#define PS_CHUNK_SYNC 0x4b435350u   /* "PSCK" */
#define PS_CHUNK_HEADER_SIZE 16
#define PS_CHUNK_MAX_LENGTH (1u << 30) /* readers reject longer chunks as corrupt */

enum ps_chunk_type {
    PS_CHUNK_PROCESS = 1,  /* once, first chunk: who and what was traced */
    PS_CHUNK_MODULES = 2,  /* the module map live at the next snapshot */
    PS_CHUNK_STACKS = 3,   /* stacks interned since the previous STACKS chunk */
    PS_CHUNK_SNAPSHOT = 4, /* totals and per-stack counters at one moment */
    PS_CHUNK_MESSAGE = 5,  /* a warning the shim emitted (data lost, option rejected, ...) */
    PS_CHUNK_POOL = 6,     /* pool statistics; follows the SNAPSHOT chunk it belongs to */
    PS_CHUNK_END = 0xffff  /* clean end of the trace: nothing follows */
};

/* PROCESS payload:
 *   u64 pid, u64 ppid, u64 start_realtime_ns (CLOCK_REALTIME), u64 start_monotonic_ns,
 *   str tool_version, str program (absolute path of /proc/self/exe), str hostname,
 *   u32 argc, argc × str argv, str options ("NAME=value\n" for every option in effect),
 *   u32 pointer_size (8), u32 page_size
 *
 * MODULES payload:
 *   u32 count, then per module:
 *   u64 base (load bias: runtime address = ELF vaddr + base), u64 start, u64 end (lowest and
 *   highest runtime address of its PT_LOAD segments), str path (absolute; the main program's
 *   is /proc/self/exe resolved; "[vdso]" for the vDSO), u32 build_id_len, build_id bytes
 *
 * STACKS payload:
 *   u32 count, then per stack: u32 id (dense, from 1), u32 depth, depth × u64 return addresses,
 *   innermost first, starting at the caller of the allocation function (the shim's own frames
 *   are already dropped). Addresses are return addresses: a symbolizer looks up address - 1.
 *
 * SNAPSHOT payload:
 *   u64 time_ns (monotonic, since start), u32 reason (enum ps_snapshot_reason), u32 flags,
 *   totals: u64 allocs, u64 frees, u64 alloc_bytes, u64 freed_bytes, u64 live_blocks,
 *           u64 live_bytes, u64 peak_live_bytes, u64 rss_bytes, u64 peak_rss_bytes,
 *           u64 untracked_frees (frees of blocks the tracker never saw),
 *   u32 row_count, u32 row_size (bytes per row, >= 64: readers skip any extra bytes),
 *   rows: u32 stack_id, u32 reserved, u64 allocs, u64 alloc_bytes, u64 frees, u64 freed_bytes,
 *         u64 live_blocks, u64 live_bytes, u64 peak_live_bytes
 *   Only stacks with allocs > 0 appear. Counters are cumulative since start.
 *
 * POOL payload (only when the pool is on; written right after a SNAPSHOT chunk, same moment):
 *   u64 time_ns (equal to that SNAPSHOT's), u64 max_size (largest pooled request, bytes),
 *   totals: u64 reserved, u64 committed, u64 slab_bytes, u64 empty_bytes, u64 released_bytes,
 *           u64 returned_bytes, u32 threads, u32 exhausted (1: reservation ran out),
 *   u32 class_count, u32 row_size (bytes per row, >= 96: readers skip any extra bytes),
 *   rows, one per size class, smallest first: u32 size (block size, bytes), u32 slabs,
 *         u64 allocs, u64 hits, u64 misses, u64 refills, u64 flushes, u64 flushed_blocks,
 *         u64 direct_frees, u64 bytes_in_use, u64 bytes_cached, u64 bytes_central,
 *         u64 bytes_returned
 *   (meaning of each field: ps_pool_class_stats_t / ps_pool_totals_t in shim/pool.h)
 *
 * MESSAGE payload: u32 severity (1 warning, 2 error), str text
 *
 * END payload: u64 chunk_count (chunks before this one), u64 dropped_events
 */

#define PS_SNAPSHOT_ROW_SIZE 64
#define PS_POOL_ROW_SIZE 96

enum ps_snapshot_reason {
    PS_SNAP_EXIT = 0,     /* process exit (library destructor) */
    PS_SNAP_DUMP = 1,     /* perfshim_dump() or an external request */
    PS_SNAP_INTERVAL = 2, /* periodic (later issue) */
    PS_SNAP_FORK = 3      /* in a forked child, state inherited from the parent */
};

#endif /* PERFSHIM_TRACE_FORMAT_H */
