/* SPDX-License-Identifier: MIT */
/*
 * model.h — what the analyzer keeps of one trace: the PROCESS chunk, the module map, every stack,
 * the last snapshot (with the running maxima of the peaks of all snapshots), the pool statistics
 * of that snapshot, the last chunk of each timing type (locks, threads, allocator latency, zones,
 * CPU samples), the shim's messages, and the damage warnings. model.c fills it from the chunk
 * reader; reports only read it.
 */
#ifndef PERFSHIM_ANALYZER_MODEL_H
#define PERFSHIM_ANALYZER_MODEL_H

#include "util.h"

#include <uthash.h>

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    uint64_t pid, ppid;
    uint64_t start_realtime_ns;  /* CLOCK_REALTIME at process start */
    uint64_t start_monotonic_ns; /* CLOCK_MONOTONIC at process start */
    char *tool_version;          /* perfshim version that wrote the trace */
    char *program;               /* absolute path of the executable */
    char *hostname;
    uint32_t argc;
    char **argv;           /* argc strings */
    char *options;         /* "NAME=value\n" per option in effect */
    uint32_t pointer_size; /* bytes */
    uint32_t page_size;    /* bytes */
} pa_process_t;

typedef struct {
    uint64_t base;         /* load bias: runtime address = ELF vaddr + base */
    uint64_t start, end;   /* runtime address range of the PT_LOAD segments */
    char *path;            /* absolute path, "[vdso]", or "" */
    uint8_t *build_id;     /* build_id_len bytes, NULL when 0 */
    uint32_t build_id_len; /* bytes */
    bool retired;          /* from an earlier map, absent from the latest (dlclose'd) */
} pa_module_t;

typedef struct {
    uint32_t id;       /* dense, from 1 */
    uint32_t depth;    /* frames */
    uint64_t *addrs;   /* depth return addresses, innermost first */
    UT_hash_handle hh; /* keyed by id */
} pa_stack_t;

/* Per-stack counters of one snapshot (cumulative since start). */
typedef struct {
    uint32_t stack_id;
    uint64_t allocs, alloc_bytes, frees, freed_bytes;
    uint64_t live_blocks, live_bytes; /* at the snapshot */
    uint64_t peak_live_bytes;         /* highest live_bytes of this stack at any snapshot */
} pa_row_t;

typedef struct {
    uint64_t allocs, frees, alloc_bytes, freed_bytes;
    uint64_t live_blocks, live_bytes, peak_live_bytes; /* bytes are user-requested sizes */
    uint64_t rss_bytes, peak_rss_bytes;                /* resident set size */
    uint64_t untracked_frees;                          /* frees of blocks the tracker never saw */
} pa_totals_t;

typedef struct {
    uint64_t offset;  /* file offset of its chunk */
    uint64_t time_ns; /* since process start */
    uint32_t reason;  /* enum ps_snapshot_reason */
    uint32_t flags;
    pa_totals_t totals; /* peak fields: maxima over every snapshot of the trace */
    size_t nrows;
    pa_row_t *rows;
} pa_snapshot_t;

/* One size class of the shim's small-object pool (a POOL chunk row; shim/pool.h has the exact
 * meaning of each field). Counts are cumulative since start; bytes are at the snapshot. */
typedef struct {
    uint32_t size;           /* block size of the class (bytes) */
    uint32_t slabs;          /* slabs serving the class */
    uint64_t allocs;         /* blocks handed out (count) */
    uint64_t hits;           /* ... of which straight from a thread cache (count) */
    uint64_t misses;         /* ... of which needed the central pool (count) */
    uint64_t refills;        /* central pool -> thread cache transfers (count) */
    uint64_t flushes;        /* thread cache -> central pool transfers (count): frees outpacing
                                allocations on a thread, the consumer side of remote frees */
    uint64_t flushed_blocks; /* blocks moved by those flushes (count) */
    uint64_t direct_frees;   /* frees straight to the central pool, the thread cache gone */
    uint64_t bytes_in_use;   /* blocks the program holds (bytes) */
    uint64_t bytes_cached;   /* free blocks in thread caches (bytes) */
    uint64_t bytes_central;  /* free blocks in the central pool (bytes) */
    uint64_t bytes_returned; /* slab memory of this class given back to the OS (bytes) */
} pa_pool_class_t;

/* A POOL chunk: the pool at the moment of one snapshot. */
typedef struct {
    uint64_t offset;         /* file offset of its chunk */
    uint64_t time_ns;        /* the snapshot's time, since process start */
    uint64_t max_size;       /* largest pooled request (bytes) */
    uint64_t reserved;       /* address space reserved for blocks (bytes) */
    uint64_t committed;      /* block memory ever made read/write: high-water mark (bytes) */
    uint64_t slab_bytes;     /* slabs serving a class (bytes) */
    uint64_t empty_bytes;    /* empty slabs whose pages are still resident (bytes) */
    uint64_t released_bytes; /* empty slabs whose pages went back to the OS (bytes) */
    uint64_t returned_bytes; /* cumulative bytes given back to the OS */
    uint32_t threads;        /* live thread caches */
    bool exhausted;          /* the reservation ran out: later requests went to the C library */
    size_t nclasses;
    pa_pool_class_t *classes; /* smallest first, every class of the chunk (allocs 0 included) */
} pa_pool_t;

/* ---- timing chunks (LOCKS, THREADS, LATENCY, ZONES, CPU) ------------------------------------
 * Each holds cumulative figures since process start; the model keeps the last chunk of each
 * type read (normally the one written with the last snapshot: `time_ns` says which). */

/* A log-linear histogram of ticks (PS_HIST_* in trace_format.h; hist.h reads percentiles). */
typedef struct {
    uint64_t count; /* values added, as the shim counted them */
    uint64_t sum;   /* their sum (ticks) */
    uint64_t max;   /* the largest (ticks, exact) */
    uint32_t nbuckets;
    uint32_t *index;  /* nbuckets bucket indices, strictly increasing, < PS_HIST_BUCKETS */
    uint64_t *counts; /* values in each of those buckets */
} pa_hist_t;

/* One lock or condition variable (a LOCKS row; docs/trace-format.md says which fields are exact
 * and which are estimated from samples). Times are ns. */
typedef struct {
    uint64_t address;
    uint32_t kind;            /* enum ps_lock_kind */
    uint32_t flags;           /* PS_LOCK_F_* */
    uint32_t first_use_stack; /* stack id of its first use (0: none) */
    uint64_t acquisitions;    /* condition variable: waits */
    uint64_t contended;       /* acquisitions whose first try found the lock busy */
    uint64_t owner_changes;   /* estimated from contended and sampled acquisitions */
    uint64_t wait_ns, max_wait_ns;
    uint64_t hold_ns, max_hold_ns; /* hold_ns estimated from hold_samples timed holds */
    uint64_t hold_samples;
    uint64_t read_acquisitions;    /* rwlock: shared acquisitions (within acquisitions) */
    uint64_t trylock_failures;     /* trylock calls that found it busy */
    uint64_t timeouts;             /* timed acquisitions or waits that timed out */
    uint64_t signals, broadcasts;  /* semaphore: signals = posts */
    uint64_t wake_ns, max_wake_ns; /* condition variable: latest signal to the waiter's return;
                                      semaphore: latest post to a blocked waiter's return */
    uint64_t wakes;                /* waits whose wake-up latency is in wake_ns */
    uint64_t paired_posts;         /* semaphore: posts by a thread that had taken it itself */
    bool has_wakes;                /* the row holds `wakes` (older traces do not) */
    bool has_paired_posts;         /* the row holds `paired_posts` (older traces do not) */
} pa_lock_t;

/* A call site acquiring one lock (a LOCKS site row). */
typedef struct {
    uint32_t lock_index;   /* into pa_locks_t.locks */
    uint32_t stack_id;     /* the acquiring call stack */
    uint64_t acquisitions; /* contended ones exactly, plus `sample` per sampled uncontended one */
    uint64_t contended;
    uint64_t wait_ns, max_wait_ns;
    uint64_t samples; /* sampled (uncontended or not) acquisitions */
} pa_lock_site_t;

typedef struct {
    uint64_t offset;  /* file offset of its chunk */
    uint64_t time_ns; /* the snapshot it was written with, since process start */
    uint32_t sample;  /* PERFSHIM_LOCK_SAMPLE */
    uint32_t flags;   /* bit 0: the shim's lock table was full */
    uint64_t untracked_ops, retired_quiet, retired_quiet_acquisitions;
    size_t nlocks;
    pa_lock_t *locks;
    size_t nsites;
    pa_lock_site_t *sites;
} pa_locks_t;

typedef struct {
    uint32_t tid, creator_tid;
    uint32_t start_stack; /* stack of the pthread_create call (0: none; the main thread) */
    uint32_t flags;       /* PS_THREAD_F_* */
    uint64_t start_ns;    /* since process start */
    uint64_t end_ns;      /* 0 while running */
    uint64_t cpu_ns;      /* final once exited, else read at the snapshot */
    char name[17];        /* NUL-terminated */
    uint64_t start_routine;
} pa_thread_t;

typedef struct {
    uint64_t offset, time_ns;
    uint64_t created; /* threads started with pthread_create */
    uint64_t dropped; /* threads the shim did not keep (its table was full) */
    size_t n;
    pa_thread_t *threads;
} pa_threads_t;

typedef struct {
    uint32_t op;       /* enum ps_latency_op */
    uint32_t size_max; /* upper bound of the size bin (bytes); UINT32_MAX: the open last bin */
    pa_hist_t hist;
} pa_latency_row_t;

typedef struct {
    uint64_t offset, time_ns;
    uint64_t tick_hz; /* histogram ticks per second (> 0) */
    uint32_t sample;  /* one call in `sample` per thread was timed */
    uint32_t flags;
    uint64_t pooled, forwarded, forwarded_large; /* calls, every one counted */
    uint64_t pool_refills, pool_flushes, pool_commits;
    size_t nrows;
    pa_latency_row_t *rows;
} pa_latency_t;

typedef struct {
    char *name;
    uint32_t max_depth; /* deepest nesting level seen (1: outermost) */
    pa_hist_t hist;
} pa_zone_t;

typedef struct {
    uint64_t offset, time_ns;
    uint64_t tick_hz;
    uint64_t unmatched_ends, too_deep, dropped;
    size_t n;
    pa_zone_t *zones;
} pa_zones_t;

typedef struct {
    uint32_t stack_id;
    uint32_t threads; /* threads that sampled this stack */
    uint64_t samples;
} pa_cpu_row_t;

typedef struct {
    uint64_t offset, time_ns;
    uint32_t hz; /* PERFSHIM_CPU_HZ */
    uint32_t flags;
    uint64_t samples, dropped, partial;
    size_t n;
    pa_cpu_row_t *rows;
} pa_cpu_t;

typedef struct {
    uint32_t severity; /* 1 warning, 2 error */
    char *text;
} pa_message_t;

#define PA_MAX_MESSAGES 1000 /* shim messages kept per trace; more are counted */
#define PA_MAX_RETIRED 4096  /* modules kept from earlier maps */

typedef struct {
    char *path;       /* the trace file */
    uint16_t version; /* format version of the file */
    bool has_process;
    pa_process_t process;
    pa_module_t *modules; /* latest map, then retired modules */
    size_t nmodules, modules_cap;
    pa_stack_t *stacks; /* uthash table by id */
    size_t nstacks;
    bool has_snapshot;
    pa_snapshot_t snap; /* the last snapshot read */
    uint64_t nsnapshots;
    bool has_pool;  /* a POOL chunk belonging to `snap` was read */
    pa_pool_t pool; /* that chunk (cleared by every SNAPSHOT read) */
    bool has_locks, has_threads, has_latency, has_zones, has_cpu;
    pa_locks_t locks; /* the last chunk of each timing type read */
    pa_threads_t threads;
    pa_latency_t latency;
    pa_zones_t zones;
    pa_cpu_t cpu;
    pa_message_t *messages; /* from MESSAGE chunks */
    size_t nmessages, messages_cap;
    uint64_t messages_dropped;
    bool has_end;                             /* END chunk read */
    uint64_t end_chunk_count, dropped_events; /* from the END chunk */
    uint64_t chunks;                          /* valid chunks read (before END) */
    bool damaged;                             /* file damage or a malformed payload */
    pa_strlist_t warnings; /* every problem found, without the "perfshim: FILE: " prefix */
    bool quiet;            /* do not print warnings as they are found */
} pa_trace_t;

/* Loads `path`. PA_OK: *t holds at least one snapshot (maybe from a damaged file: t->damaged).
 * Otherwise a message naming the file was printed and *t is freed. With quiet, warnings are only
 * collected into t->warnings (errors are still printed). */
int pa_model_load(const char *path, bool quiet, pa_trace_t *t);
void pa_model_free(pa_trace_t *t);

/* Adds a warning: printed ("perfshim: warning: FILE: msg") unless quiet, and kept. */
void pa_model_warn(pa_trace_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const pa_stack_t *pa_model_stack(const pa_trace_t *t, uint32_t id);
/* The module whose address range holds addr (latest map first), or NULL. */
const pa_module_t *pa_model_module_at(const pa_trace_t *t, uint64_t addr);
/* "exit", "dump", "interval", "fork" or "unknown". */
const char *pa_model_reason_name(uint32_t reason);
/* The pool statistics of the last snapshot, or NULL (pool off, or that snapshot's POOL chunk
 * missing or damaged). */
const pa_pool_t *pa_model_pool(const pa_trace_t *t);
/* Fraction of a class's allocations served straight from a thread cache, 0..1 (0 when it has
 * none). */
double pa_model_pool_hit_rate(const pa_pool_class_t *c);
/* Complete: END chunk present and nothing damaged. */
bool pa_model_complete(const pa_trace_t *t);

#endif /* PERFSHIM_ANALYZER_MODEL_H */
