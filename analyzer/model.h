/* SPDX-License-Identifier: MIT */
/*
 * model.h — what the analyzer keeps of one trace while it streams through it: the PROCESS chunk,
 * the module map, every stack, the current snapshot (with the running maxima of the peaks of
 * the snapshots before it), the pool statistics at that snapshot, the last chunk of each timing
 * type (locks, threads, allocator latency, zones, CPU samples), the shim's messages, and the
 * damage warnings. model.c fills it from the chunk reader, one chunk at a time, and calls the
 * report's handler after every snapshot (the shape of heaptrack's AccumulatedTraceData, whose
 * readers are fed by passes over the file): a report over time sees every snapshot, one at a
 * time, and the memory held does not grow with the number of snapshots. Reports only read it.
 *
 * The members read from a chunk's fixed-layout records are declared, with their units and
 * meaning, once in shim/include/trace_rows.h (the PS_ROW_* lists); the structs here are made
 * from those lists, plus what the model adds (file offsets, counts of rows, pointers).
 */
#ifndef PERFSHIM_ANALYZER_MODEL_H
#define PERFSHIM_ANALYZER_MODEL_H

#include "util.h"

#include "trace_rows.h"

#include <uthash.h>

#include <stdbool.h>
#include <stddef.h>
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
    /* appended fields, absent from older traces (has_memory false: both 0) */
    bool has_memory;
    uint64_t mem_total_bytes;    /* the machine's memory; 0 unknown */
    uint64_t cgroup_limit_bytes; /* the cgroup v2 memory.max in effect; 0 none */
} pa_process_t;

typedef struct {
    uint64_t base;         /* load bias: runtime address = ELF vaddr + base */
    uint64_t start, end;   /* runtime address range of the PT_LOAD segments */
    char *path;            /* absolute path, "[vdso]", or "" */
    uint8_t *build_id;     /* build_id_len bytes, NULL when 0 */
    uint32_t build_id_len; /* bytes */
    bool retired;          /* from an earlier map, absent from the latest (dlclose'd) */
    uint32_t stacks;       /* unloaded: stacks interned at its unload, 0 unknown (older shims) */
    uint64_t moved;        /* added to its range and base: its addresses were another module's
                            * later, so its stacks' frames were moved (reloaded_modules) */
} pa_module_t;

/* A recorded stack. Its frames are nodes of the trace's frame tree (pa_frames_t): `leaf` is the
 * innermost one, and each node leads to its caller's, depth nodes in all. */
typedef struct {
    uint32_t id;    /* dense, from 1 (0 marks an empty slot of pa_trace_t.stacks) */
    uint32_t depth; /* frames */
    uint32_t leaf;  /* node of the innermost frame; 0 when depth is 0 */
} pa_stack_t;

typedef struct {
    uint64_t addr; /* return address */
    uint64_t hash; /* its node's path hash (model.c, frame_hash) */
    uint32_t node; /* its node in the frame tree */
} pa_frame_step_t;

/* The frame tree: every frame of every stack, stored once per distinct (caller node, address),
 * so stacks that share their outer frames (main and the callers of a call site) share those
 * nodes, as heaptrack's trace tree does. A cc1plus compile's 127k stacks hold 5.05M frames in
 * 1.0M nodes. Node 0 is the root, above every outermost frame; nodes are numbered from 1 in
 * the order they were first read. A node holds its address as a 4-byte index into the table of
 * the distinct addresses (that compile's 1.0M nodes have 12k of them): 8 bytes a node, not 12. */
typedef struct {
    uint32_t *aix;    /* by node: its return address (or PS_FRAME_CUT), as an index into addrs */
    uint32_t *caller; /* by node: the node of the frame that called it, 0 for the outermost */
    uint64_t *addrs;  /* the distinct addresses, in the order first read; addrs[0] is 0 (root) */
    size_t naddrs, addrs_cap;
    uint32_t *addr_index;  /* open addressing by address: index into addrs + 1, 0 for empty */
    size_t addr_index_cap; /* slots: a power of two, at least twice addrs_cap */
    size_t n, cap;         /* nodes, node 0 included */
    uint64_t *index;  /* open addressing by (caller, addr): the hash's high 32 bits << 32 | node,
                         0 for an empty slot; freed when the reading ends (no STACKS chunk can
                         follow) */
    size_t index_cap; /* slots: a power of two, at least 4/3 of n; 0 when freed */
    /* The last stack added, outermost frame first: the next one, often its sibling, takes the
     * nodes of the frames they share without hashing (63% of a cc1plus trace's frames). */
    pa_frame_step_t *last;
    size_t nlast, last_cap;
} pa_frames_t;

/* Per-stack counters of one snapshot, cumulative since start (PS_ROW_SNAPSHOT). The model
 * keeps in peak_live_bytes the highest live_bytes of the stack at any snapshot. */
typedef ps_row_snapshot_t pa_row_t;

/* A SNAPSHOT chunk's totals (PS_ROW_SNAPSHOT_TOTALS); bytes are user-requested sizes. */
typedef ps_row_snapshot_totals_t pa_totals_t;

/* The snapshot the model stands at. A full SNAPSHOT chunk replaces every row; a SNAPSHOT_DELTA
 * chunk replaces the rows it lists and keeps the others. rows[] are in file order (a delta's new
 * stacks appended); `index` finds a stack's row. */
typedef struct {
    uint64_t offset;              /* file offset of its chunk (SNAPSHOT or SNAPSHOT_DELTA) */
    PS_ROW_MEMBERS(SNAPSHOT_HEAD) /* time_ns, reason (enum ps_snapshot_reason), flags */
    pa_totals_t totals;           /* peak fields: maxima over this and every earlier snapshot */
    uint64_t number;              /* 1 for the first snapshot of the file, 2 for the next, ... */
    bool delta;                   /* read from a SNAPSHOT_DELTA chunk */
    size_t nrows, rows_cap;
    pa_row_t *rows;
    uint32_t *index;  /* open addressing by stack id: row + 1, 0 for an empty slot */
    size_t index_cap; /* slots (a power of two, at least twice nrows), 0 before any row */
    /* With pa_model_opts_t.track_touched: the rows (indices into rows[]) the snapshot's chunk
     * wrote, every row for a full SNAPSHOT (merge -o follows the changes without a scan) */
    uint32_t *touched;
    size_t ntouched, touched_cap;
    /* (model.c) a SNAPSHOT_PACKED chunk's rows, decoded once and checked before any is applied */
    struct pa_packed_row_s *packed;
    size_t npacked, packed_cap;
} pa_snapshot_t;

/* Which snapshot a report describes (leaks/summary --at). */
typedef enum {
    PA_AT_LAST = 0, /* the last snapshot of the file */
    PA_AT_TIME,     /* the last one at or before time_ns */
    PA_AT_MAX,      /* the one with the highest live heap (the first of equals) */
    PA_AT_NUMBER,   /* snapshot number `number` (pa_snapshot_t.number) */
} pa_at_kind_t;

typedef struct {
    pa_at_kind_t kind;
    uint64_t time_ns; /* PA_AT_TIME */
    uint64_t number;  /* PA_AT_NUMBER */
} pa_at_t;

/* One size class of the shim's small-object pool (PS_ROW_POOL_CLASS). Counts are cumulative
 * since start; bytes are at the snapshot. */
typedef ps_row_pool_class_t pa_pool_class_t;

/* A POOL chunk: the pool at the moment of one snapshot. */
typedef struct {
    uint64_t offset;          /* file offset of its chunk */
    PS_ROW_MEMBERS(POOL_HEAD) /* time_ns ... exhausted */
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

/* One lock or condition variable (PS_ROW_LOCK; docs/trace-format.md says which fields are
 * exact and which are estimated from samples). Times are ns. */
typedef struct {
    PS_ROW_MEMBERS(LOCK)
    bool has_wakes;        /* the row holds `wakes` (older traces do not) */
    bool has_paired_posts; /* the row holds `paired_posts` (older traces do not) */
} pa_lock_t;

/* A call site acquiring one lock (PS_ROW_LOCK_SITE; lock_index: into pa_locks_t.locks). */
typedef ps_row_lock_site_t pa_lock_site_t;

typedef struct {
    uint64_t offset;           /* file offset of its chunk */
    PS_ROW_MEMBERS(LOCKS_HEAD) /* time_ns: the snapshot it was written with */
    size_t nlocks;
    pa_lock_t *locks;
    size_t nsites;
    pa_lock_site_t *sites;
} pa_locks_t;

/* A thread (PS_ROW_THREAD); name is NUL-terminated. */
typedef ps_row_thread_t pa_thread_t;

typedef struct {
    uint64_t offset;
    PS_ROW_MEMBERS(THREADS_HEAD) /* time_ns, created, dropped */
    size_t n;
    pa_thread_t *threads;
} pa_threads_t;

typedef struct {
    PS_ROW_MEMBERS(LATENCY_ROW) /* op, size_max (UINT32_MAX: the open last bin) */
    pa_hist_t hist;
} pa_latency_row_t;

typedef struct {
    uint64_t offset;
    PS_ROW_MEMBERS(LATENCY_HEAD) /* tick_hz > 0 (the reader checks) */
    size_t nrows;
    pa_latency_row_t *rows;
} pa_latency_t;

typedef struct {
    char *name;
    uint32_t max_depth; /* deepest nesting level seen (1: outermost) */
    pa_hist_t hist;
} pa_zone_t;

typedef struct {
    uint64_t offset;
    PS_ROW_MEMBERS(ZONES_HEAD) /* tick_hz > 0 (the reader checks) */
    size_t n;
    pa_zone_t *zones;
} pa_zones_t;

typedef ps_row_cpu_t pa_cpu_row_t; /* samples of one stack (PS_ROW_CPU) */

typedef struct {
    uint64_t offset;
    PS_ROW_MEMBERS(CPU_HEAD) /* hz, samples, dropped, partial, ... */
    size_t n;
    pa_cpu_row_t *rows;
} pa_cpu_t;

/* A SAMPLING chunk (PS_ROW_SAMPLING): what the estimates of the snapshot of its time stand on. */
typedef ps_row_sampling_t pa_sampling_t;

/* One alert of an ALERT chunk (PS_ROW_ALERT): kind (enum ps_alert_kind), when, value, the
 * threshold reached, and its base (cgroup: memory.max; growth: the previous live heap). */
typedef ps_row_alert_t pa_alert_t;
/* INHERITED (PS_ROW_INHERITED_HEAD, PS_ROW_INHERITED): what a forked child held at its fork. */
typedef ps_row_inherited_head_t pa_inherited_head_t;
typedef ps_row_inherited_t pa_inherited_t;
/* ADVICE (21): the shim's advice counters of one stack (docs/trace-format.md), size bins
 * expanded. Counts are estimates unless the chunk's sample is 1 and its flags 0. */
typedef struct {
    PS_ROW_MEMBERS(ADVICE_SITE) /* stack_id, req_nonzero, usable_nonzero, allocs, temporaries,
                                   realloc_grows, realloc_old_bytes, realloc_new_bytes,
                                   cross_thread_frees */
    uint64_t req[PS_ADV_BINS], usable[PS_ADV_BINS]; /* by ps_advice_bin() */
} pa_advice_site_t;
typedef struct {
    uint64_t offset;            /* file offset of its chunk */
    PS_ROW_MEMBERS(ADVICE_HEAD) /* time_ns, sample, flags, count, site_size, bins */
    pa_advice_site_t *sites;    /* by increasing stack id */
    size_t nsites;
} pa_advice_t;

typedef struct {
    uint32_t severity; /* 1 warning, 2 error */
    char *text;
} pa_message_t;

#define PA_MAX_MESSAGES 1000 /* shim messages kept per trace; more are counted */
/* A POOL or timing chunk read before the snapshot it belongs to (model.c stages it). */
typedef struct {
    bool set;
    uint16_t type;    /* its chunk type (POOL_PACKED is staged as POOL) */
    uint64_t offset;  /* file offset of its chunk */
    uint64_t time_ns; /* its snapshot's */
    uint32_t length;
    uint8_t *payload; /* a copy */
} pa_staged_t;
#define PA_STAGED 6         /* POOL, LOCKS, THREADS, LATENCY, ZONES, CPU */
#define PA_MAX_ALERTS 1000  /* alerts kept per trace (every ALERT chunk's); more are counted */
#define PA_MAX_RETIRED 4096 /* modules kept from earlier maps */

typedef struct {
    char *path;       /* the trace file */
    uint16_t version; /* format version of the file */
    bool has_process;
    pa_process_t process;
    pa_module_t *modules; /* latest map, then retired modules */
    size_t nmodules, modules_cap;
    pa_stack_t *stacks; /* open addressing by id (pa_model_stack finds one) */
    size_t nstacks;
    size_t stacks_cap;  /* slots: a power of two, at least 4/3 of nstacks, 0 before any stack */
    pa_frames_t frames; /* the frames of the stacks */
    bool has_snapshot;
    pa_snapshot_t snap;      /* the snapshot reports describe: the last one read, or the --at one */
    uint64_t nsnapshots;     /* snapshots read in the file (all of them, also past an --at one) */
    bool frozen;             /* stopped at the --at snapshot: later ones are only counted */
    uint64_t deltas_skipped; /* SNAPSHOT_DELTA chunks not applied (their base was not read) */
    uint64_t last_time_ns;   /* time of the last snapshot read (the base a delta must name) */
    bool delta_broken;       /* a delta was not applied: deltas wait for a full SNAPSHOT */
    bool has_pool;  /* a POOL chunk of `snap` or of an earlier snapshot (POOL is written when
                       it changed) */
    pa_pool_t pool; /* that chunk */
    uint64_t pool_packed_skipped;  /* POOL_PACKED chunks not applied (their base was not read) */
    pa_staged_t staged[PA_STAGED]; /* POOL and timing chunks waiting for their snapshot */
    bool has_locks, has_threads, has_latency, has_zones, has_cpu;
    pa_locks_t locks; /* the last chunk of each timing type read */
    pa_threads_t threads;
    pa_latency_t latency;
    pa_zones_t zones;
    pa_cpu_t cpu;
    bool has_sampling;      /* a SAMPLING chunk was read (the last one is kept) */
    pa_sampling_t sampling; /* it */
    pa_message_t *messages; /* from MESSAGE chunks */
    size_t nmessages, messages_cap;
    uint64_t messages_dropped;
    uint32_t merged_processes; /* MERGED_FROM chunks: the processes `perfshim merge -o` merged
                                  into this file (0: an ordinary trace) */
    bool has_section; /* a SECTION chunk: the file is one section of a process (perfshim ctl) */
    struct {
        uint32_t number;   /* 1, 2, ...: the process's files, in order */
        uint32_t how;      /* PS_SECTION_AT_START or PS_SECTION_CTL */
        uint64_t start_ns; /* when the section began, ns since process start */
        char *first;       /* the first section's file ("" for section 1) */
    } section;
    pa_alert_t *alerts; /* from every ALERT chunk, in file order */
    size_t nalerts, alerts_cap;
    uint64_t alerts_dropped;
    bool has_end;                             /* END chunk read */
    uint64_t end_chunk_count, dropped_events; /* from the END chunk */
    uint64_t chunks;                          /* valid chunks read (before END) */
    /* The file offset of the keyframe (full SNAPSHOT) the rows were decoded from: the snapshots
     * before it were read for their heads only (pa_model_read); 0 when every one was decoded */
    uint64_t keyframe;
    bool damaged;          /* file damage or a malformed payload */
    pa_strlist_t warnings; /* every problem found, without the "perfshim: FILE: " prefix */
    bool quiet;            /* do not print warnings as they are found */
    bool timed_unread;     /* (model.c) POOL and THREADS chunks are checked, not kept */
    /* LEAK_KINDS (19): the leak classes of the exit snapshot whose time_ns it names (a report
     * uses them only while t->snap is that snapshot: pa_model_leak_kinds) */
    bool has_leak_kinds;
    ps_row_leak_kinds_head_t leak_head;
    ps_row_leak_kind_t *leak_rows;
    size_t nleak_rows;
    struct pa_ages_s *ages; /* the AGES chunk of the reported snapshot (ages.h), or NULL */
    /* INHERITED (20): a forked child's blocks live at the fork, per stack (the last chunk) */
    bool has_inherited;
    pa_inherited_head_t inherited_head; /* fork_ns, parent_pid */
    pa_inherited_t *inherited;          /* ninherited rows by increasing stack_id */
    size_t ninherited;
    pa_advice_t *advice; /* ADVICE (21): the chunk of the reported snapshot, or NULL */
} pa_trace_t;

/* The LEAK_KINDS rows of the snapshot reported (t->snap), or NULL (none: no scan, or --at
 * chose an earlier snapshot); *n gets their count. */
const ps_row_leak_kind_t *pa_model_leak_kinds(const pa_trace_t *t, size_t *n);
/* The ADVICE chunk of the snapshot reported (t->snap), or NULL (an older shim, an automatic
 * snapshot, or --at chose an earlier one); the site of stack id in it, or NULL. */
const pa_advice_t *pa_model_advice(const pa_trace_t *t);
const pa_advice_site_t *pa_model_advice_site(const pa_advice_t *a, uint32_t id);
/* The blocks of row r that its stack inherited from the parent at a fork (INHERITED chunk), by
 * blocks and bytes, each at most what is live now: the shim counts per stack, not per block
 * (docs/analyzer.md, "Inherited blocks"). Both 0 when none. */
void pa_model_row_inherited(const pa_trace_t *t, const pa_row_t *r, uint64_t *blocks,
                            uint64_t *bytes);
/* Frees what a report that reads neither keeps of the per-site chunks once the trace is loaded:
 * the block ages (pa_ages_drop) and the advice counters (a compile's trace: 5 MB each). Their
 * chunks were read and checked: what they said of damage stays said. */
void pa_model_drop_ages_advice(pa_trace_t *t);
/* Frees the snapshot's index of rows by stack id, which only the reading of rows uses (2-4 MB on
 * a compile's trace, at least twice the rows' count in 4-byte slots): for a caller done reading
 * the trace that still walks its rows (export's profile). */
void pa_model_drop_row_index(pa_trace_t *t);
/* Makes that index again (after pa_model_drop_row_index, for pa_model_row): a report that looks
 * rows up by stack only after grouping drops it while the rows are grouped (advise). */
int pa_model_index_rows(pa_trace_t *t);
/* Frees the advice counters only, for a report that reads the ages but not them (export json's
 * reports: 11 MB of another compile's trace, held while its rows were keyed). */
void pa_model_drop_advice(pa_trace_t *t);
/* "definitely", "indirectly", "possibly", "reachable" (enum ps_leak_kind); "unscanned" for 0. */
const char *pa_model_leak_kind_name(uint32_t kind);

/* Loads `path`. PA_OK: *t holds at least one snapshot (maybe from a damaged file: t->damaged).
 * Otherwise a message naming the file was printed and *t is freed. With quiet, warnings are only
 * collected into t->warnings (errors are still printed). */
int pa_model_load(const char *path, bool quiet, pa_trace_t *t);
/* The same, standing at the snapshot `at` chooses (PA_AT_MAX reads the file twice: first the
 * snapshots' totals only). No snapshot at or before the time: PA_ENOSNAPSHOT, said so. */
int pa_model_load_at(const char *path, bool quiet, const pa_at_t *at, pa_trace_t *t);
/* The same for a report that reads none of the per-site chunks (timeline, growth, most
 * exports): AGES, ADVICE and LEAK_KINDS are checked as ever (their damage is said alike) but
 * not kept (no_site_chunks), so t->ages and t->advice are NULL and pa_model_leak_kinds() gives
 * none; on the busy trace, 15 MB of arrays neither faulted in nor filled. */
int pa_model_load_unaged(const char *path, bool quiet, const pa_at_t *at, pa_trace_t *t);

/* Streaming: the report's handler, called after each snapshot is read (t->snap is it, complete:
 * its rows, pool and totals). A return other than PA_OK stops the reading and is returned. */
typedef int (*pa_model_snapshot_fn)(pa_trace_t *t, void *ctx);

/* The kinds of pass over a file (pa_model_opts_t.pass): a reread only after a pass that read
 * the file whole without damage, and the snapshot series' pass only as such a reread. */
typedef enum {
    PA_PASS_FIRST = 0, /* every chunk's CRC checked, every chunk read */
    /* An earlier pass read this file whole without damage: no payload is CRC-checked again
     * (pa_reader_trust), and with skip_stacks, STACKS chunks are passed over by their length,
     * not even read (pa_reader_pass_over) */
    PA_PASS_REREAD,
    /* A reread (as PA_PASS_REREAD) by a report that reads the snapshots (heads, and rows of
     * rows_wanted) and the status (END, MESSAGE, SAMPLING, the warnings) only: timeline's and
     * growth's second pass. The chunks the earlier pass decoded whole (MODULES, ALERT, AGES,
     * LEAK_KINDS, INHERITED, ADVICE, and STACKS with skip_stacks) are passed over, and POOL and
     * THREADS chunks are matched to their snapshot and checked as their loaders check them, not
     * decoded. */
    PA_PASS_SERIES,
} pa_pass_t;

typedef struct {
    bool quiet;
    bool totals_only; /* decode snapshots' heads and totals, not their rows */
    bool skip_stacks; /* the report reads no stack: STACKS chunks are not decoded */
    /* the report reads none of the per-site chunks (AGES, ADVICE, LEAK_KINDS' rows): they are
     * checked as ever (their damage said alike) but not kept */
    bool no_site_chunks;
    /* the report reads the ADVICE chunk's counters nowhere (only advise and merge do): the
     * chunk is checked as ever (its damage said alike) but not kept (T2's: 16.6 MB) */
    bool no_advice;
    /* the report prints only the stacks of the rows live at the chosen snapshot (`leaks`): the
     * STACKS chunks are checked as ever (their damage said alike) and their place noted, and
     * once the snapshot's rows are known only the stacks of its live rows are read again and
     * added to the frame tree (pa_model_stack() finds no other). A regular file only: another
     * (a pipe) is read as before. */
    bool live_stacks;
    pa_pass_t pass; /* what an earlier pass over the file lets this one leave out */
    pa_at_t at;     /* where to stop applying snapshots (PA_AT_MAX: not here) */
    pa_model_snapshot_fn on_snapshot; /* may be NULL */
    /* Only the rows of these stacks are kept (a bitmap by stack id, ids below rows_wanted_ids;
     * NULL: every row): a report that follows a few stacks skips decoding the others. */
    const uint8_t *rows_wanted;
    uint32_t rows_wanted_ids;
    void *ctx;
    bool track_touched; /* fill snap.touched at each snapshot (mergeout.c) */
    /* Called with each valid chunk of a type the model does not read (may be NULL); a return
     * other than PA_OK stops the reading and is returned. */
    int (*on_other_chunk)(pa_trace_t *t, uint16_t type, const uint8_t *payload, uint32_t length,
                          void *ctx);
} pa_model_opts_t;

/* pa_model_load_at() with every reading option of *o (o->at as in pa_model_load_at, PA_AT_MAX
 * included; e.g. no_advice for the reports that never read the advice counters,
 * pa_report_each_file). */
int pa_model_load_opts(const char *path, const pa_model_opts_t *o, pa_trace_t *t);

/* One pass over the file, as pa_model_load() (which is this with the defaults), calling
 * o->on_snapshot after each snapshot read. Memory: the stacks, modules, the current snapshot's
 * rows (at most one per stack), the last chunk of each other kind, 1000 messages; never a
 * second snapshot. */
int pa_model_read(const char *path, const pa_model_opts_t *o, pa_trace_t *t);
void pa_model_free(pa_trace_t *t);
/* The row of stack `id` in the current snapshot, or NULL. */
const pa_row_t *pa_model_row(const pa_trace_t *t, uint32_t id);
/* Parses an --at argument: "last", "max", or seconds since start ("12.5", "12.5s", "250ms").
 * PA_OK or PA_EUSAGE. */
int pa_model_parse_at(const char *s, pa_at_t *at);
/* A description of the snapshot reported, e.g. "snapshot 12 of 60, interval, 120.000 s after
 * start", into buf. */
const char *pa_model_snapshot_desc(const pa_trace_t *t, char *buf, size_t size);

/* Adds a warning: printed ("perfshim: warning: FILE: msg") unless quiet, and kept. */
void pa_model_warn(pa_trace_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const pa_stack_t *pa_model_stack(const pa_trace_t *t, uint32_t id);
/* A frame of the tree: its return address, and the node of its caller (0: it was the outermost).
 * A stack's frames, innermost first: for (n = s->leaf; n; n = pa_model_frame_caller(t, n)). */
static inline uint64_t pa_model_frame_addr(const pa_trace_t *t, uint32_t node)
{
    return t->frames.addrs[t->frames.aix[node]];
}
static inline uint32_t pa_model_frame_caller(const pa_trace_t *t, uint32_t node)
{
    return t->frames.caller[node];
}
/* The index of a node's address in t->frames.addrs (the same for every node of that address):
 * a walk can keep what it learnt of an address by this index, without hashing the address. */
static inline uint32_t pa_model_frame_aix(const pa_trace_t *t, uint32_t node)
{
    return t->frames.aix[node];
}
/* Defines stack id (>= 1; 0 is ignored) from depth return addresses, innermost first, as a
 * STACKS chunk does (the tests build models with it). PA_OK or PA_ENOMEM. */
int pa_model_add_stack(pa_trace_t *t, uint32_t id, uint32_t depth, const uint64_t *addrs);
/* Copies the first (innermost) min(depth, max) return addresses of stack s into out; returns
 * how many. */
size_t pa_model_stack_addrs(const pa_trace_t *t, const pa_stack_t *s, uint64_t *out, size_t max);
/* The module whose address range holds addr (latest map first), or NULL. */
const pa_module_t *pa_model_module_at(const pa_trace_t *t, uint64_t addr);
/* "exit", "dump", "interval", "fork", "stop", "max", "every", "signal", "alert" or "unknown". */
const char *pa_model_reason_name(uint32_t reason);
/* The trigger of snapshot s as reports name it: its reason's name, or "exec" for the final
 * snapshot before an exec* (reason exit with PS_SNAP_F_EXEC). */
const char *pa_model_snapshot_reason(const pa_snapshot_t *s);
/* "rss", "heap", "cgroup", "growth" or "unknown". */
const char *pa_model_alert_name(uint32_t kind);
/* The pool statistics at the reported snapshot: its POOL chunk, or the last one before it (the
 * shim writes POOL when it changed); NULL when the pool was off or no POOL chunk was read. */
const pa_pool_t *pa_model_pool(const pa_trace_t *t);
/* Fraction of a class's allocations served straight from a thread cache, 0..1 (0 when it has
 * none). */
double pa_model_pool_hit_rate(const pa_pool_class_t *c);
/* Sampling (PERFSHIM_SAMPLE): true if the figures of the last snapshot are estimates (its
 * flags say so); *out then gets its SAMPLING chunk, or zeros if that is missing. */
bool pa_model_sampled(const pa_trace_t *t, pa_sampling_t *out);
/* Complete: END chunk present and nothing damaged. */
bool pa_model_complete(const pa_trace_t *t);

#endif /* PERFSHIM_ANALYZER_MODEL_H */
