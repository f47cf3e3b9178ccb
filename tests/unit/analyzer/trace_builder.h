/* SPDX-License-Identifier: MIT */
/*
 * trace_builder.h — builds trace files byte by byte for the analyzer's tests, independently of
 * the shim's writer (so a writer bug cannot hide a reader bug): file header, chunks with CRC
 * (zlib), and helpers for the payload of each chunk type (docs/trace-format.md).
 */
#ifndef PERFSHIM_TESTS_TRACE_BUILDER_H
#define PERFSHIM_TESTS_TRACE_BUILDER_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint8_t *data;
    size_t len, cap;
} tb_buf_t;

void tb_bytes(tb_buf_t *b, const void *p, size_t n);
void tb_u16(tb_buf_t *b, uint16_t v);
void tb_u32(tb_buf_t *b, uint32_t v);
void tb_u64(tb_buf_t *b, uint64_t v);
void tb_str(tb_buf_t *b, const char *s);
void tb_free(tb_buf_t *b);

/* 16-byte file header with the given version. */
void tb_file_header(tb_buf_t *file, uint16_t version);
/* Appends a chunk (header with sync, type, length, CRC; then payload) and returns its offset. */
size_t tb_chunk(tb_buf_t *file, uint16_t type, const tb_buf_t *payload);

/* Payload builders. */
void tb_process(tb_buf_t *p, uint64_t pid, const char *program, int argc, const char *const *argv);
typedef struct {
    uint64_t base, start, end;
    const char *path;
    const uint8_t *build_id;
    uint32_t build_id_len;
} tb_module_t;
void tb_modules(tb_buf_t *p, const tb_module_t *m, uint32_t n);
/* An UNLOADED_MODULES payload: the MODULES records, each followed by its unload_ns[i]. */
void tb_unloaded_modules(tb_buf_t *p, const tb_module_t *m, const uint64_t *unload_ns, uint32_t n,
                         uint64_t dropped);
/* Starts a STACKS payload of `count` stacks; then tb_stack() for each. */
void tb_stacks_begin(tb_buf_t *p, uint32_t count);
void tb_stack(tb_buf_t *p, uint32_t id, uint32_t depth, const uint64_t *addrs);
/* Unsigned LEB128. */
void tb_varint(tb_buf_t *p, uint64_t v);
/* One STACKS_PACKED record (after a u32 count, as tb_stacks_begin writes): addrs innermost first
 * as in tb_stack; prev/pdepth the record before it in the chunk (NULL, 0 for the first), prev_id
 * its id (0 for the first). */
void tb_stack_packed(tb_buf_t *p, uint32_t id, uint32_t depth, const uint64_t *addrs,
                     uint32_t prev_id, uint32_t pdepth, const uint64_t *prev);
typedef struct {
    uint32_t stack_id;
    uint64_t allocs, alloc_bytes, frees, freed_bytes, live_blocks, live_bytes, peak_live_bytes;
} tb_row_t;
/* One 64-byte SNAPSHOT row. */
void tb_row(tb_buf_t *p, const tb_row_t *r);
/* time_ns of every snapshot tb_snapshot() writes */
#define TB_SNAPSHOT_TIME_NS 1000000
/* A SNAPSHOT payload; totals are the sums of the rows (peak and RSS given). */
void tb_snapshot(tb_buf_t *p, uint32_t reason, const tb_row_t *rows, uint32_t n, uint64_t peak_live,
                 uint64_t rss, uint64_t peak_rss);
/* The same at another time. */
void tb_snapshot_at(tb_buf_t *p, uint64_t time_ns, uint32_t reason, const tb_row_t *rows,
                    uint32_t n, uint64_t peak_live, uint64_t rss, uint64_t peak_rss);
typedef struct {
    uint64_t time_ns, max_size;
    uint64_t reserved, committed, slab_bytes, empty_bytes, released_bytes, returned_bytes;
    uint32_t threads, exhausted;
} tb_pool_totals_t;
typedef struct {
    uint32_t size, slabs;
    uint64_t allocs, hits, misses, refills, flushes, flushed_blocks, direct_frees;
    uint64_t bytes_in_use, bytes_cached, bytes_central, bytes_returned;
} tb_pool_class_t;
/* A POOL payload with rows of row_size bytes (>= 96 for a valid one; bytes past the 96 known
 * ones are filled with 0xee; below 96 the rows are cut short, for malformed payloads). */
void tb_pool(tb_buf_t *p, const tb_pool_totals_t *t, const tb_pool_class_t *c, uint32_t n,
             uint32_t row_size);
/* A POOL_PACKED payload (docs/trace-format.md) of the pool (t, c[0..n)) against the pool
 * (bt, bc[0..nb)): the head's differences, then only the rows that differ from the base's row of
 * their size or that the base lacks (every class of the base must be in c). */
void tb_pool_packed(tb_buf_t *p, const tb_pool_totals_t *t, const tb_pool_class_t *c, uint32_t n,
                    const tb_pool_totals_t *bt, const tb_pool_class_t *bc, uint32_t nb);
/* The pool of tb_typical_pool(): 4 classes (16, 32 unused, 48, 1024), time TB_SNAPSHOT_TIME_NS. */
extern const tb_pool_totals_t tb_typical_pool_totals;
extern const tb_pool_class_t tb_typical_pool_classes[4];
void tb_end(tb_buf_t *p, uint64_t chunk_count);
void tb_end_with(tb_buf_t *p, uint64_t chunk_count, uint64_t dropped_events);

/* Timing chunks. A "hist" field holding the n values (ticks), bucketed by the format's rule,
 * written here independently of the shim's code. */
void tb_hist(tb_buf_t *p, const uint64_t *values, size_t n);
typedef struct {
    uint64_t address;
    uint32_t kind, flags, first_use;
    uint64_t acquisitions, contended, owner_changes, wait_ns, max_wait_ns, hold_ns, max_hold_ns;
    uint64_t hold_samples, read_acquisitions, trylock_failures, timeouts, signals, broadcasts;
    uint64_t wake_ns, max_wake_ns, wakes, paired_posts;
} tb_lock_t;
typedef struct {
    uint32_t lock_index, stack_id;
    uint64_t acquisitions, contended, wait_ns, max_wait_ns, samples;
} tb_lock_site_t;
/* A LOCKS payload; row_size 144 (no `wakes`), 152 (with it), 160 (and `paired_posts`), or more
 * (padded with 0xee). */
void tb_locks(tb_buf_t *p, uint64_t time_ns, uint32_t sample, const tb_lock_t *l, uint32_t n,
              uint32_t row_size, const tb_lock_site_t *s, uint32_t nsites);
/* The same with every header field given. */
typedef struct {
    uint64_t time_ns;
    uint32_t sample, flags;
    uint64_t untracked_ops, retired_quiet, retired_quiet_acquisitions;
} tb_locks_head_t;
void tb_locks_with(tb_buf_t *p, const tb_locks_head_t *h, const tb_lock_t *l, uint32_t n,
                   uint32_t row_size, const tb_lock_site_t *s, uint32_t nsites);
typedef struct {
    uint32_t tid, creator, start_stack, flags;
    uint64_t start_ns, end_ns, cpu_ns;
    const char *name; /* at most 16 bytes kept */
    uint64_t routine;
} tb_thread_t;
void tb_threads(tb_buf_t *p, uint64_t time_ns, uint64_t created, const tb_thread_t *t, uint32_t n);
void tb_threads_with(tb_buf_t *p, uint64_t time_ns, uint64_t created, uint64_t dropped,
                     const tb_thread_t *t, uint32_t n);
/* A CPU payload: rows of {stack_id, threads, samples}; samples taken = their sum. */
/* ALERT: u64 time_ns, n rows of {kind, time_ns, value, threshold, base}, padded to row_size. */
void tb_alert(tb_buf_t *p, uint64_t time_ns, const uint64_t (*rows)[5], uint32_t n,
              uint32_t row_size);
void tb_cpu(tb_buf_t *p, uint64_t time_ns, uint32_t hz, const uint32_t (*rows)[3], uint32_t n);
void tb_cpu_with(tb_buf_t *p, uint64_t time_ns, uint32_t hz, uint64_t samples, uint64_t dropped,
                 uint64_t partial, const uint32_t (*rows)[3], uint32_t n);
/* LATENCY and ZONES headers; then per row tb_u32 op, tb_u32 size_max, tb_hist (LATENCY) or
 * tb_str name, tb_u32 depth, tb_hist (ZONES). tb_latency_begin's events (pooled, forwarded,
 * forwarded_large, refills, flushes, commits) are 100, 200, ... 600. */
void tb_latency_begin(tb_buf_t *p, uint64_t time_ns, uint64_t tick_hz, uint32_t sample,
                      uint32_t rows);
void tb_latency_with(tb_buf_t *p, uint64_t time_ns, uint64_t tick_hz, uint32_t sample,
                     const uint64_t events[6], uint32_t rows);
void tb_zones_begin(tb_buf_t *p, uint64_t time_ns, uint64_t tick_hz, uint32_t zones);
void tb_zones_with(tb_buf_t *p, uint64_t time_ns, uint64_t tick_hz, uint64_t unmatched_ends,
                   uint64_t too_deep, uint64_t dropped, uint32_t zones);
/* tb_typical() with the given chunks inserted before END (types[i], payloads[i]). */
void tb_typical_with(tb_buf_t *f, const uint16_t *types, const tb_buf_t *payloads, size_t n);

/* A typical valid trace: PROCESS, MODULES (one fake module /nonexistent/prog at base
 * 0x400000), STACKS (3 stacks), SNAPSHOT (rows: stack 1 leaks 2 blocks/200 bytes, stack 2
 * leaks 1 block/1000 bytes, stack 3 all freed), END. Chunk offsets are stored in offs[0..4]
 * when offs is not NULL. */
void tb_typical(tb_buf_t *file, size_t offs[5]);

/* tb_typical() with a POOL chunk (tb_typical_pool_*) after the SNAPSHOT: PROCESS, MODULES,
 * STACKS, SNAPSHOT, POOL, END; offsets in offs[0..5]. */
void tb_typical_pool(tb_buf_t *file, size_t offs[6]);

/* Fixtures with a different value in every field, so that two fields swapped or a field
 * read at the wrong offset shows (tests of shim/include/trace_rows.h's encoders and decoders):
 * SNAPSHOT rows, POOL (time TB_SNAPSHOT_TIME_NS), LOCKS header, lock rows and site rows,
 * THREADS rows, CPU rows, LATENCY events. */
extern const tb_row_t tb_fields_rows[2];
extern const tb_pool_totals_t tb_fields_pool_totals;
extern const tb_pool_class_t tb_fields_pool_classes[2];
extern const tb_locks_head_t tb_fields_locks_head;
extern const tb_lock_t tb_fields_locks[2];
extern const tb_lock_site_t tb_fields_lock_sites[2];
extern const tb_thread_t tb_fields_threads[2];
extern const uint32_t tb_fields_cpu_rows[2][3];
extern const uint64_t tb_fields_alert_rows[2][5]; /* kind, time_ns, value, threshold, base */
extern const uint64_t tb_fields_latency_events[6];

/* Writes buf to path; returns 0 on success. */
int tb_write_file(const char *path, const void *data, size_t len);

#endif /* PERFSHIM_TESTS_TRACE_BUILDER_H */
