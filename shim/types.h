/* SPDX-License-Identifier: MIT */
/*
 * types.h — the glossary of the shim: every core struct, every field with its unit.
 *
 * Read this first, then internal.h. Nothing here has code; the files named in each comment
 * own the struct.
 */
#ifndef PS_TYPES_H
#define PS_TYPES_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "include/trace_rows.h"

#define PS_LIKELY(x) __builtin_expect(!!(x), 1)
#define PS_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define PS_NOINLINE __attribute__((noinline))
#define PS_COLD __attribute__((cold, noinline))
#define PS_HIDDEN __attribute__((visibility("hidden")))
#define PS_EXPORT __attribute__((visibility("default")))
/* on the shim's signal handlers: realign the stack on entry. The kernel enters a handler with
 * the stack the x86-64 ABI promises (rsp + 8 a multiple of 16), but qemu-user 7.2 (Debian 12's
 * qemu-x86_64) enters it 8 bytes off, and the compiler's aligned SSE stores in the handler's
 * callees (the unwinder's find_fde) then fault: a guest sampled with PERFSHIM_CPU_HZ died of
 * SIGSEGV at its first sample. A few instructions per signal. */
#define PS_SIGNAL_HANDLER __attribute__((force_align_arg_pointer))

#define PS_MAX_DEPTH 256  /* hard upper bound of PERFSHIM_DEPTH (frames) */
#define PS_HOOKS_SAMPLE 2 /* ps_global_t.hooks: only the allocations the countdown picks */
#define PS_HOOKS_DIRECT                                                                            \
    3 /* ps_global_t.hooks: as PS_HOOKS_SAMPLE, the pool off: the rest to glibc */

/* ---- spinlock.c: a test-and-test-and-set spinlock (owner does short work only) ------------ */
typedef struct ps_spinlock_s {
    atomic_int held; /* 0 free, 1 held */
} ps_spinlock_t;

/* ---- options.c --------------------------------------------------------------------------- */
typedef enum ps_mode_e {
    PS_MODE_OFF = 0,  /* pass-through: no tracking, no trace */
    PS_MODE_FULL = 1, /* every allocation tracked with its stack */
    PS_MODE_POOL = 2, /* the pool alone: no tracking, no trace */
} ps_mode_t;

typedef struct ps_options_s {
    ps_mode_t mode;         /* PERFSHIM_MODE */
    int depth;              /* PERFSHIM_DEPTH: frames kept per stack, 1..PS_MAX_DEPTH */
    int unwind;             /* PERFSHIM_UNWIND: 0 fast (own unwinder), 1 libunwind only */
    int verbose;            /* PERFSHIM_VERBOSE: 0 quiet, 1 say what we do */
    const char *output;     /* PERFSHIM_OUTPUT: path template (a private copy) */
    const char *trace_list; /* PERFSHIM_TRACE_LIST: file to append our trace path to, or NULL */
    uint32_t max_stacks;    /* PERFSHIM_MAX_STACKS: distinct stacks kept before overflow */
    int pool;               /* PERFSHIM_POOL: 1 = small requests from the pool */
    int pool_max;           /* PERFSHIM_POOL_MAX: largest pooled request (bytes) */
    int pool_decay_ms;      /* PERFSHIM_POOL_DECAY: idle age before pages go back (ms; -1 never) */
    int track;              /* PERFSHIM_TRACK: 1 = track allocations */
    int locks;              /* PERFSHIM_LOCKS: 1 = time pthread locks */
    int lock_sample;        /* PERFSHIM_LOCK_SAMPLE: 1 in N uncontended acquisitions sampled */
    int advice_sample;      /* PERFSHIM_ADVICE_SAMPLE: 1 in N tracked allocations (per thread)
                               feed the advice counters (advice.c) */
    int max_locks;          /* PERFSHIM_MAX_LOCKS: lock table capacity (locks) */
    int latency_sample;     /* PERFSHIM_LATENCY_SAMPLE: 1 in N calls timed; 0 off */
    int cpu_hz;             /* PERFSHIM_CPU_HZ: CPU samples per CPU second; 0 off */
    int fault_map;          /* PERFSHIM_FAULT_MAP: memory request that fails (1-based); 0 off */
    int fault_write;        /* PERFSHIM_FAULT_WRITE: trace write that fails (1-based); 0 off */
    int fault_persist;      /* PERFSHIM_FAULT_PERSIST: 1 = the N-th and all later ones fail */
    uint64_t interval_ms;   /* PERFSHIM_INTERVAL: a snapshot every this many ms; 0 off */
    uint64_t max_trace;     /* PERFSHIM_MAX_TRACE: bytes of trace kept (pieces); 0 unbounded */
    uint64_t sample;        /* PERFSHIM_SAMPLE: mean sampling interval (bytes); 0 = track all */
    int sample_seed;        /* PERFSHIM_SAMPLE_SEED: fixed PRNG seed (tests); 0 = from the clock */
    int start;              /* PERFSHIM_START: 1 on (track from the start), 0 off (dormant) */
    int control;            /* PERFSHIM_CONTROL: 1 = control channel (control.c) */
    /* alerts.c: snapshot triggers, alerts and the Prometheus file */
    int dump_at_max;           /* PERFSHIM_DUMP_AT_MAX: 1 = snapshot at a new live-heap high */
    int dump_at_max_step;      /* PERFSHIM_DUMP_AT_MAX_STEP: min. rise over the last one (%) */
    uint64_t dump_every;       /* PERFSHIM_DUMP_EVERY: snapshot per this many bytes allocated */
    int dump_signal;           /* PERFSHIM_DUMP_SIGNAL: 0 off, 1 SIGUSR1, 2 SIGUSR2 */
    uint64_t alert_rss;        /* PERFSHIM_ALERT_RSS: bytes; 0 off */
    uint64_t alert_heap;       /* PERFSHIM_ALERT_HEAP: bytes; 0 off */
    int alert_cgroup;          /* PERFSHIM_ALERT_CGROUP: % of memory.max; 0 off */
    const char *cgroup_root;   /* PERFSHIM_CGROUP_ROOT: where cgroup v2 is mounted */
    int alert_growth;          /* PERFSHIM_ALERT_GROWTH: % between interval snapshots; 0 off */
    int syslog;                /* PERFSHIM_SYSLOG: 1 = alert lines to syslog */
    const char *syslog_socket; /* PERFSHIM_SYSLOG_SOCKET: path of the syslog socket */
    const char *prom_file;     /* PERFSHIM_PROM_FILE: path template, "" off */
    int prom_sites;            /* PERFSHIM_PROM_SITES: growing sites listed in it */
    int leak_scan;             /* PERFSHIM_LEAK_SCAN: 1 = leak classes by a scan at exit */
} ps_options_t;

/* ---- stack.c: interned stacks ------------------------------------------------------------ */
/* A stored stack: the frames follow the header in the frames arena. Immutable once published. */
typedef struct ps_stack_s {
    uint64_t hash;  /* hash of the frames, for lookup */
    uint32_t id;    /* dense id, 1..; 0 means "no stack / overflow" */
    uint32_t depth; /* number of frames that follow */
    uintptr_t ip[]; /* return addresses, innermost first, caller of malloc first */
} ps_stack_t;

/* ---- track.c: per-stack counters ---------------------------------------------------------- */
/* One per (thread, stack id). Written only by the owning thread (relaxed stores, no lock
 * prefix); read by the snapshot writer with relaxed loads. Frees are counted by the thread
 * that frees, so one thread's row may show more frees than allocations: only sums matter.
 * Counts are fixed point, PS_COUNT_ONE per allocation (a sampled one counts its weight,
 * sample.c); ps_track_collect hands out whole counts. With sampling, bytes are estimates. */
#define PS_COUNT_SHIFT 10
#define PS_COUNT_ONE (UINT64_C(1) << PS_COUNT_SHIFT)
typedef struct ps_counters_s {
    uint64_t allocs;      /* allocations made at this stack (count, fixed point) */
    uint64_t alloc_bytes; /* bytes requested by those allocations */
    uint64_t frees;       /* frees of blocks allocated at this stack (count, fixed point) */
    uint64_t freed_bytes; /* bytes of those blocks */
} ps_counters_t;

/* ---- unwind.c: a thread's private cache of unwind rules ------------------------------------
 * Direct-mapped by return address; misses go to the shared table in unwind.c. Private so that
 * the lookups of a walk stay in this core's L1/L2 (a shared 1 MiB table costs a cache miss
 * per frame). Written only by its thread, outside signal handlers. */
#define PS_UNWIND_TCACHE 1024  /* entries (16 KiB) */
#define PS_UNWIND_MEMO_SETS 64 /* walk memo: most sets (chosen by the start sp) it grows to */

typedef struct ps_unwind_tcache_s {
    uint64_t generation;          /* ps_unwind_flush() count when filled; a mismatch empties it */
    uintptr_t stack_lo, stack_hi; /* this thread's stack (addresses; hi 0 = not looked up yet) */
    void *memo;                   /* recent walks (see unwind.c), mmap'd on first use, or NULL */
    size_t memo_bytes;            /* size of that mapping (bytes) */
    uint32_t memo_sets;           /* sets it has now (a power of two) */
    uint32_t memo_misses;         /* walks it could not answer since it last grew */
    uint64_t memo_pos;            /* words written to its ring so far (position of the next) */
    uint8_t memo_next[PS_UNWIND_MEMO_SETS]; /* per memo set: the way to replace next */
    struct {
        uintptr_t pc;  /* return address (0 = empty) */
        uint64_t rule; /* encoded rule, see unwind.c */
    } e[PS_UNWIND_TCACHE];
} ps_unwind_tcache_t;

#define PS_ZONE_DEPTH 64 /* zones a thread can have open at once (nesting depth) */
#define PS_LOCKC 64      /* per-thread lock counters (direct-mapped by lock table slot) */
#define PS_HOLDS 4       /* timed holds a thread can have at once */
#define PS_PEND 8        /* lock figures a thread defers until its next unlock (locks.c) */

/* Per-thread shim state. Lives in mmap'd memory (never in malloc'd memory); the thread's
 * TLS holds a pointer to it. Linked into the registry so snapshots can sum the counters. */
typedef struct ps_thread_s {
    struct ps_thread_s *next; /* registry list (registry lock) */
    ps_counters_t *counters;  /* [max_stacks + 1], lazily touched pages (MAP_NORESERVE) */
    int64_t live_delta;       /* live bytes not yet folded into the global counter (bytes) */
    uint32_t tid;             /* kernel thread id */
    int retired;              /* 1 once its counters were folded into the retired sums */
    uint32_t counters_fresh;  /* rows from here on lie on pages of counters never written */
    /* track.c, ages: lifetimes of the blocks this thread freed, [max_stacks + 1] rows of
     * PS_AGE_BUCKETS counts (fixed point, as ps_counters_t; a count near 2^31 moves to the
     * shared sums), lazily touched pages (MAP_NORESERVE). Next to `counters`, on the struct's
     * first page: at the end they made every thread's state touch one page more (4 KiB of
     * each thread's RSS; docs/performance.md, "Sampling's peak RSS: system calls without libc's
     * wrappers"). */
    uint32_t *life;
    uint32_t life_fresh; /* rows from here on lie on pages of life never written */
    /* advice.c: the advice counters' sampling (1 in PERFSHIM_ADVICE_SAMPLE tracked
     * allocations) and this thread's view for temporaries and cross-thread frees */
    int32_t adv_left;           /* tracked allocations until the next advice sample */
    uint32_t adv_tag;           /* owner tag of the blocks it samples, 1..PS_ADV_TAGS */
    uintptr_t adv_last;         /* its last advice sample (0: freed since) */
    int64_t adv_last_left;      /* ps_tls_sample_left right after it (byte sampling's clock) */
    int32_t adv_last_countdown; /* adv_left right after it: both unchanged at its free, no
                                   allocation came between (a temporary) */
    uint32_t adv_rng;           /* xorshift state of the countdown */
    struct {                    /* tiny direct-mapped cache: stack hash -> stack */
        uint64_t hash;
        const ps_stack_t *stack;
    } stack_cache[256];
    /* timing (locks.c, latency.c); all written by the owning thread only */
    void *thread_rec;        /* threads.c's record of this thread, or NULL */
    uint64_t events[3];      /* allocator calls: pooled, forwarded, forwarded >= 128 KiB */
    int32_t lock_countdown;  /* lock acquisitions until the next sampled one */
    uint32_t nholds;         /* entries in holds[] */
    uint32_t npend;          /* entries in pend[] (next to nholds: unlock tests both) */
    void *try_lock;          /* the lock of the try-lock in progress (locks.c's fast path) */
    struct {                 /* acquisitions counted here, added to the lock's record later;
                                direct-mapped by lock address, so a hit needs no table lookup */
        uintptr_t tag;       /* the lock's address | 2 bits of its kind (locks are 4-byte
                                aligned; locks.c's lockc_tag); 0 = empty */
        void *rec;           /* its record in the lock table */
        uint32_t slot1;      /* that record's slot + 1 (0 = empty) */
        uint32_t gen;        /* that slot's generation */
        uint64_t acq, reads; /* acquisitions, of which shared (a semaphore's: acquisitions, and
                                its posts by this thread) */
    } lockc[PS_LOCKC];
    struct { /* holds being timed (sampled acquisitions) */
        uintptr_t lock;
        uint64_t start; /* ticks */
        uint32_t nest;  /* recursive acquisitions of it */
        uint32_t slot;
    } holds[PS_HOLDS];
    struct {                /* contended/sampled acquisitions and hold ends not applied yet */
        uint32_t slot, gen; /* the lock's table slot and its generation */
        uint32_t flags;     /* PEND_* in locks.c */
        uint32_t site;      /* stack id of the acquiring call site, or 0 */
        uint64_t ticks;     /* wait (acquisitions) or hold (hold ends) */
    } pend[PS_PEND];
    int32_t latency_countdown; /* allocator calls until the next timed one */
    uint32_t zone_depth;       /* open zones (may exceed PS_ZONE_DEPTH: those are not timed) */
    struct {
        uint32_t zone;  /* zone index (latency.c) */
        uint64_t start; /* ticks at perfshim_zone_begin */
    } zones[PS_ZONE_DEPTH];
    ps_unwind_tcache_t unwind_cache; /* unwind rules this thread used */
} ps_thread_t;

/* advice.c: owner tags of threads cycle through 1..PS_ADV_TAGS (13 bits: a pooled block keeps
 * its tag above its size in the slab metadata); two threads 8191 apart share one. */
#define PS_ADV_TAGS 8191u

/* ---- track.c: the live-block table (blocks the real allocator gave us) -------------------- */
typedef struct ps_live_entry_s {
    uintptr_t ptr;  /* user pointer; 0 = empty slot */
    uint64_t meta;  /* low 40 bits: requested size (bytes); high 24 bits: stack id */
    uint32_t birth; /* allocation time (age units of track.c's clock, wraps) */
    uint32_t owner; /* advice sample: the allocating thread's adv_tag; 0 = not sampled (this
                       was the struct's padding: the entry stays 24 bytes) */
} ps_live_entry_t;

#define PS_LIVE_SIZE_BITS 40
#define PS_LIVE_SIZE_MASK ((UINT64_C(1) << PS_LIVE_SIZE_BITS) - 1)
#define PS_LIVE_MAX_STACK_ID ((UINT32_C(1) << 24) - 1)

typedef struct ps_live_shard_s {
    ps_spinlock_t lock;
    uint32_t count;         /* occupied slots */
    uint32_t mask;          /* capacity - 1 (capacity is a power of two) */
    ps_live_entry_t *slots; /* mmap'd, capacity entries */
    char pad[64 - sizeof(ps_spinlock_t) - 2 * sizeof(uint32_t) - sizeof(void *)];
} ps_live_shard_t;

#define PS_LIVE_SHARDS 64

/* ---- trace_writer.c: a payload being built (mmap'd, grows by remapping) ------------------- */
typedef struct ps_buf_s {
    uint8_t *data; /* mmap'd bytes */
    size_t len;    /* bytes used */
    size_t cap;    /* bytes mapped */
    int failed;    /* 1 if an mmap failed: the payload is incomplete, do not write it */
} ps_buf_t;

/* Totals of a snapshot: the SNAPSHOT chunk's totals block, fields and units declared in
 * include/trace_rows.h (PS_ROW_SNAPSHOT_TOTALS). peak_live_bytes is exact within PS_LIVE_FLUSH
 * per thread. */
typedef ps_row_snapshot_totals_t ps_totals_t;

/* Whole-process state (init.c owns it; one instance, ps_g). */
typedef struct ps_global_s {
    ps_options_t opt;
    atomic_int active;    /* 1 while tracking: checked on every call */
    int hooks;            /* nonzero if allocations need more than the pool or glibc: 1 (full
                             mode) every call goes to the hooked paths, PS_HOOKS_SAMPLE only
                             those the sampling countdown picks, PS_HOOKS_DIRECT likewise with
                             the pool off (the others jump to glibc); the one flag the fast
                             paths in interpose.c test */
    int sampling;         /* 1 while PERFSHIM_SAMPLE (or ps_sample_set) samples by bytes */
    int initialized;      /* constructor done */
    int unwind_ok;        /* libunwind loaded */
    int pool_on;          /* the pool was initialized and serves requests */
    int tracing;          /* 1 while the trace is written (full mode, after init) */
    int locks_on;         /* lock timing: the pthread interposers record */
    int latency_on;       /* allocator calls are timed (1 in opt.latency_sample) */
    uint64_t start_ticks; /* ps_ticks() at start, to calibrate the tick rate */
    uint64_t start_realtime_ns, start_monotonic_ns;
    uint32_t pid;                   /* pid the state belongs to (changes in a forked child) */
    uintptr_t self_start, self_end; /* our own text, to drop our frames from stacks */
    char exe[1024];                 /* /proc/self/exe at start */
    char cwd[1024];                 /* working directory at start */
    atomic_llong live_bytes;        /* folded live bytes (see ps_thread_t.live_delta) */
    atomic_llong peak_live_bytes;
    atomic_ullong untracked_frees;
    /* control.c: trace sections (perfshim ctl stop/start) */
    atomic_int recording;     /* 1 while a section is open: snapshots may be written */
    atomic_uint section_bits; /* the open section's tag << PS_SECTION_TAG_SHIFT, stored with
                                 each pooled block; blocks of other tags are not counted */
} ps_global_t;

/* A pooled block's metadata stack_id: (section tag << PS_SECTION_TAG_SHIFT) | (stack id + 1);
 * 0 = not tracked. Stack ids are below 2^24 (PERFSHIM_MAX_STACKS), so 7 bits are free. */
#define PS_SECTION_TAG_SHIFT 25
#define PS_SECTION_TAG_MASK 0x7fu
#define PS_SECTION_ID_MASK ((1u << PS_SECTION_TAG_SHIFT) - 1) /* the stack id + 1 part */

#endif /* PS_TYPES_H */
