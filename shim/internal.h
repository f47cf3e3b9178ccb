/* SPDX-License-Identifier: MIT */
/*
 * internal.h — functions shared between the shim's files, grouped by the file that defines
 * them. Everything here is hidden (the shim is built -fvisibility=hidden); only the
 * interpose*.c files export symbols, and every other file defines only ps_* names (test
 * shim_core_symbols).
 */
#ifndef PS_INTERNAL_H
#define PS_INTERNAL_H

#include "types.h"
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <sys/types.h>

/* ---- init.c: process state, constructor/destructor, fork handlers ------------------------- */
extern ps_global_t ps_g;
/* ps_g under a hidden name (an alias, init.c), for reads in interpose.c's exported fast paths:
 * loaded RIP-relative, not through the GOT, one instruction fewer per call. Declaring ps_g
 * itself hidden does the same but changes the code of the tracked paths, whose walk memo
 * then missed far more often (churn under full tracking: 1.2x the instructions). Read only. */
extern PS_HIDDEN ps_global_t ps_g_hot;
extern __thread int ps_tls_guard; /* >0 while the shim itself runs on this thread */
extern __thread int ps_tls_locks; /* shim spinlocks this thread holds (ps_lock/ps_unlock) */
void ps_init_process(void);       /* idempotent; the constructor calls it */
int ps_init_snapshot(int reason); /* write a snapshot now (reason: enum ps_snapshot_reason) */
/* _exit and _Exit (interpose_exit.c): the final snapshot when that is safe here, then the end
 * of the process, as libc's _exit. */
void ps_init_exit(int status) __attribute__((noreturn));
/* prctl(PR_SET_SECCOMP) or seccomp(2) is about to sandbox the program (interpose_sandbox.c):
 * the last snapshot now, then no more tracing (a filter may kill the process for our calls). */
void ps_init_sandbox(const char *how);
/* exec* is about to replace the program (interpose_exec.c): begin returns 1 when it wrote the
 * final snapshot and END (not in a vfork child, not dormant, not inside the shim); failed(1)
 * after an exec that returned goes on tracking in a new section's file. Both keep errno. */
int ps_init_exec_begin(const char *how);
void ps_init_exec_failed(int began);
/* Sets ps_g.hooks (the only writer), and the variants the exported malloc, free, calloc and
 * realloc jump to: on = tracking wants the allocations; with ps_g.sampling, ps_g.pool_on and
 * ps_g.latency_on as they are now. */
void ps_set_hooks(int on);

/* ---- interpose.c: the exported malloc family ------------------------------------------------ */
/* Points the exports at the variants of this ps_g.hooks value. Weak: perfshim_core without
 * interpose.c (the unit tests) has none. */
void ps_interpose_select(int hooks) __attribute__((weak));
/* Points the loaded objects' PLT slots of malloc, free, calloc and realloc that lead to our
 * exports straight at the variants now selected, saving the exports' jump through the table.
 * Only for a mode that never changes again (init.c: no control channel). Returns the slots
 * rewritten. Weak, as above. */
unsigned ps_interpose_bind(void) __attribute__((weak));

/* ---- spinlock.c: the shim's own spinlock (ps_spinlock_t); the fast path is inline here ---- */
void ps_lock_slow(ps_spinlock_t *l);
static inline void ps_lock(ps_spinlock_t *l)
{
    ps_tls_locks++; /* an _exit in a signal handler must not wait for a lock its thread holds */
    int expected = 0;
    if (PS_LIKELY(atomic_compare_exchange_weak_explicit(
            &l->held, &expected, 1, memory_order_acquire, memory_order_relaxed)))
        return;
    ps_lock_slow(l);
}
/* 1 if the lock was free and is now held by this thread; 0 (nothing held) if it was busy. */
static inline int ps_trylock(ps_spinlock_t *l)
{
    ps_tls_locks++; /* before: as in ps_lock, a signal handler never sees the lock held uncounted */
    int expected = 0;
    if (atomic_compare_exchange_strong_explicit(&l->held, &expected, 1, memory_order_acquire,
                                                memory_order_relaxed))
        return 1;
    ps_tls_locks--;
    return 0;
}
static inline void ps_unlock(ps_spinlock_t *l)
{
    atomic_store_explicit(&l->held, 0, memory_order_release);
    ps_tls_locks--;
}

/* ---- os_linux.c (declared in os.h) -------------------------------------------------------- */
#include "os.h"

/* ---- message.c: warnings to stderr, never allocating -------------------------------------- */
/* At start: remember which file descriptor 2 is. Afterwards: 1 while it is still that file
 * (a line may be written to it), 0 when the program closed it or put another file there, or
 * when a line could take that file past RLIMIT_FSIZE (SIGXFSZ would end the program). */
void ps_msg_init(void);
int ps_msg_stderr_ok(void);
void ps_msg_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A warning on stderr only, not kept for the trace: takes no lock (any context). */
void ps_msg_warn_unkept(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void ps_msg_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Format into buf (always NUL-terminated); supports %s %d %u %ld %lu %lld %llu %zu %x %lx
 * %p %%. Returns the length written. */
size_t ps_msg_format(char *buf, size_t size, const char *fmt, va_list ap);
size_t ps_msg_snprintf(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Messages worth keeping in the trace (drained by the snapshot writer). */
void ps_msg_record(const char *text);
int ps_msg_take(char *out, size_t size); /* 1 if a recorded message was copied out */
int ps_msg_pending(void);                /* recorded messages not taken yet */
void ps_msg_fork_prepare(void);
void ps_msg_fork_parent(void);
void ps_msg_fork_child(void);
/* strcspn(s, {stop}): the length of s up to the first stop or its end. The shim's own: glibc's
 * strcspn lies in a 64 KiB window of libc's code that a small program does not otherwise touch,
 * and reading the cgroup, the host name or a thread's name at a snapshot made the kernel map
 * that window into the process (docs/performance.md, "Sampling's peak RSS: libc's windows and one
 * window of code again"). */
static inline size_t ps_str_span(const char *s, char stop)
{
    size_t n = 0;
    while (s[n] && s[n] != stop)
        n++;
    return n;
}

/* ---- options.c ---------------------------------------------------------------------------- */
void ps_options_load(ps_options_t *opt);
/* Write "NAME=value\n" for every option into buf; returns length. */
size_t ps_options_describe(const ps_options_t *opt, char *buf, size_t size);
/* Warn once per PERFSHIM_* name of env that is not an option (ps_options_load does it for
 * environ); returns how many distinct unknown names there were. */
int ps_options_check_names(char *const *env);
/* The known PERFSHIM_* name closest to name[0..len), or NULL if none is close enough. */
const char *ps_options_suggest(const char *name, size_t len);
/* Case-blind Damerau-Levenshtein distance of a[0..alen) and b, or limit + 1 if above limit. */
int ps_options_distance(const char *a, size_t alen, const char *b, int limit);
/* PERFSHIM_INTERVAL's syntax: 0 if s is a duration (then *ms is set), else -1 (*ms unchanged). */
#define PS_DURATION_MIN_MS 10ull
#define PS_DURATION_MAX_MS (7ull * 24 * 3600 * 1000)
int ps_options_parse_duration(const char *s, uint64_t *ms);
/* PS_OPT_SIZE's syntax ("512M", "64k", "1G", bytes): 0 and *bytes set, or -1 (unchanged). */
#define PS_SIZE_MAX (UINT64_C(1) << 60)
int ps_options_parse_size(const char *s, uint64_t *bytes);
/* PS_OPT_PCT's syntax ("90%", or "0"): 0 and *pct set, or -1 (unchanged). */
int ps_options_parse_percent(const char *s, int lo, int hi, int *pct);

/* ---- real.c: the real allocator and libc lookups ------------------------------------------ */
/* glibc's exported entry points (real.c's wrappers call them; interpose.c's sampled fast paths
 * with the pool off call them directly, one jump fewer per call). */
extern void *__libc_malloc(size_t) __attribute__((noplt)); /* a jump through the GOT */
extern void __libc_free(void *) __attribute__((noplt));
extern void *__libc_calloc(size_t, size_t) __attribute__((noplt));
extern void *__libc_realloc(void *, size_t) __attribute__((noplt));
void *ps_real_malloc(size_t n);
void ps_real_free(void *p);
void *ps_real_calloc(size_t n, size_t m);
void *ps_real_realloc(void *p, size_t n);
void *ps_real_memalign(size_t align, size_t n);
void *ps_real_aligned_alloc(size_t align, size_t n); /* libc's, for odd alignments */
size_t ps_real_usable_size(void *p);
/* glibc's own dlsym/dlvsym (never ours), found by reading libc's symbol table. */
void *ps_real_dlsym(void *handle, const char *name);
void *ps_real_dlvsym(void *handle, const char *name, const char *version);
/* The raw function pointers, for tail calls that must keep the caller's return address. */
void *(*ps_real_dlsym_fn(void))(void *, const char *);
void *(*ps_real_dlvsym_fn(void))(void *, const char *, const char *);
int ps_real_init(void); /* 0 on success */
/* If addr is libc's definition of a malloc-family function, its index in the family table
 * (malloc, free, calloc, realloc, reallocarray, posix_memalign, aligned_alloc, memalign,
 * valloc, pvalloc, malloc_usable_size, cfree); else -1. */
#define PS_FAMILY_COUNT 12
/* libc's default-version definition of name (e.g. pthread_cond_wait@@GLIBC_2.3.2, never the
 * old compat version), found in libc's symbol table without the loader's lookup; or NULL. */
void *ps_real_libc_symbol(const char *name);
/* What an interposer forwards to: libc's definition of name, else the next one after us
 * (RTLD_NEXT, for a function libc does not define); NULL if neither exists. */
void *ps_real_function(const char *name);
int ps_real_family_index(void *addr);
const char *ps_real_family_name(int i); /* "malloc", "free", ... by that index */
/* libc's sigprocmask and pthread_sigmask, never the interposed ones (cpu.c's, exported by
 * interpose_signals.c), with their return conventions (-1 and errno; an error number); ENOSYS
 * if libc lacks them. Looked up at the first call, or by ps_real_masks_init (before a signal
 * handler may call them). */
int ps_real_sigprocmask(int how, const sigset_t *set, sigset_t *old);
int ps_real_pthread_sigmask(int how, const sigset_t *set, sigset_t *old);
void ps_real_masks_init(void);

/* ---- stack.c: capture and interning ------------------------------------------------------- */
int ps_stack_init(void);                              /* tables, unwinders; 0 if ok */
uint32_t ps_stack_capture_id(ps_thread_t *t);         /* capture the caller's stack, intern it */
uint32_t ps_stack_intern(const uintptr_t *ip, int n); /* intern frames as given; 0 if full */
uint32_t ps_stack_count(void);                        /* stacks interned so far (max id) */
const ps_stack_t *ps_stack_get(uint32_t id);          /* NULL if unknown */
void ps_stack_fork_prepare(void);
void ps_stack_fork_parent(void);
void ps_stack_fork_child(void);

/* ---- unw_loader.c: libunwind, loaded at first need, without descriptors ------------------- */
typedef int (*ps_unw_backtrace_fn)(void **ips, int max); /* libunwind's unw_backtrace */
/* At init. eager: load libunwind now (PERFSHIM_UNWIND=libunwind, no fast unwinder); else it
 * is loaded at the first walk that needs it, or now if that could not be made safe. 0, or -1
 * if an eager load failed (said at the first stack that needs it). */
int ps_unw_init(int eager);
/* unw_backtrace, loading libunwind first if needed and safe; NULL if it cannot be used for
 * this walk, with *why one of PS_UNW_* (the stack is then cut: ps_unw_cut). */
enum { PS_UNW_FAILED = 1, PS_UNW_BUSY = 2, PS_UNW_IN_LOADER = 3 };
ps_unw_backtrace_fn ps_unw_backtrace(int *why);
void ps_unw_cut(int why);   /* count a stack cut short; say so once (why: PS_UNW_*) */
uint64_t ps_unw_cuts(void); /* stacks cut short so far */
int ps_unw_loaded(void);    /* 1 once libunwind is loaded */
/* This thread holds dl_load_write_lock (the loader's list of objects may be mid-change), or
 * with any, also dl_load_lock or dl_load_tls_lock (it is inside dlopen or TLS set-up). 0 if
 * the locks were not found. */
int ps_unw_loader_held_here(int any);
/* Try once to take dl_load_write_lock (the lock dl_iterate_phdr waits for), never waiting: 0 if
 * taken (release with ps_unw_loader_unlock_list), -1 if another thread holds it or the locks
 * were not found. For the interval snapshot, which may run inside the program's malloc. */
int ps_unw_loader_trylock_list(void);
void ps_unw_loader_unlock_list(void);
void ps_unw_fork_prepare(void); /* first of the fork handlers: waits for a load to end */
void ps_unw_fork_child(void);

/* ---- unwind.c: perfshim's own stack walker (x86-64, .eh_frame driven) ------------------- */
/* 0 if the fast unwinder can run; -1 if glibc lacks _dl_find_object, -2 if its rule table
 * cannot be mapped. */
int ps_unwind_init(void);
/* The caller's stack as unw_backtrace returns it (its own pc first, then return addresses);
 * -1 if some frame needs libunwind (signal frame, no unwind table, unknown stack bounds).
 * tc: the calling thread's rule cache, or NULL. */
int ps_unwind_capture(void **ips, int max, ps_unwind_tcache_t *tc);
/* The same, from a signal handler's ucontext (async-signal-safe; the interrupted pc first).
 * With cut non-NULL, a frame it cannot walk ends the stack there (*cut = 1) instead of
 * failing the whole walk. */
int ps_unwind_from_context(const void *ucontext, uintptr_t *ips, int max, int *cut);
/* Bytes of stack left below sp on the calling thread (down to the bound recorded at thread start,
 * or RLIMIT_STACK below the main thread's top), or SIZE_MAX when unknown (bounds not recorded,
 * or sp on another stack). Async-signal-safe: the CPU sampler skips a walk with too little. */
size_t ps_unwind_stack_room(uintptr_t sp);
/* The caller's stack as an interned stack id: from the thread's walk memo when the stack
 * words a previous walk read are unchanged, else walked (max frames) and passed to intern.
 * -1 if some frame needs libunwind; PS_UNWIND_NO_MEMO if the thread has no memo (it cannot be
 * mapped, or sampling is on and none was mapped before: ps_unwind_capture still works). */
#define PS_UNWIND_NO_MEMO (-2)
typedef uint32_t (*ps_unwind_intern_fn)(void **ips, int n, void *arg);
int64_t ps_unwind_stack_id(ps_unwind_tcache_t *tc, int max, ps_unwind_intern_fn intern, void *arg);
void ps_unwind_thread_exit(ps_unwind_tcache_t *tc); /* release the thread's memo */
/* a thread state kept for another thread (track.c): its emptied memo, or NULL, and back */
void *ps_unwind_thread_park(ps_unwind_tcache_t *tc, size_t *bytes, uint32_t *sets);
void ps_unwind_thread_adopt(ps_unwind_tcache_t *tc, void *memo, size_t bytes, uint32_t sets);
/* Record the calling thread's stack bounds; called at the start of every thread the shim
 * starts (threads.c), before the program's code runs on it, with the guard raised. */
void ps_unwind_thread_start(void);
/* tc's stack bounds from the recorded ones now (not at its first walk): the leak scan
 * (reach.c) reads other threads' bounds there. */
void ps_unwind_fill_bounds(ps_unwind_tcache_t *tc);
void ps_unwind_flush(void);         /* forget cached rules: code was unloaded (dlclose) */
uint64_t ps_unwind_fallbacks(void); /* walks that had to use libunwind */
/* For tests: the cached rule of a return address (derived on a miss), and the capacity of the
 * shared rule table now (it grows with the rules cached). */
uint64_t ps_unwind_rule_of(uintptr_t pc);
size_t ps_unwind_rule_capacity(void);
/* For tests: FDEs with at least this many bytes of CFI program get rows (default 1024). */
void ps_unwind_set_rows_min(size_t bytes);

/* ---- inherit.c: blocks a forked child inherited (the INHERITED chunk) ------------------ */
void ps_inherit_fork_child(uint32_t parent_pid); /* in the child's fork handler */
int ps_inherit_write(ps_buf_t *b);               /* the chunk's payload; 0: none to write */
int ps_inherit_idle_since_fork(void); /* a forked child that tracked nothing of its own since */

/* ---- track.c: live blocks and counters ---------------------------------------------------- */
int ps_track_init(void);
ps_thread_t *ps_track_thread(void); /* this thread's state, created on first use; may be NULL */
extern __thread ps_thread_t *ps_tls_thread; /* this thread's state; NULL or (ps_thread_t *)1 */
/* This thread's state if it has one already (never creates it). */
static inline ps_thread_t *ps_thread_peek(void)
{
    ps_thread_t *t = ps_tls_thread;
    return (uintptr_t)t > 1 ? t : NULL;
}
/* Calls fn for every registered thread state, under the registry lock. */
void ps_track_for_each(void (*fn)(ps_thread_t *, void *), void *arg);
void ps_track_alloc(void *p, size_t size); /* exact: weight code 0 */
/* A block tracked with weight code `code` (sample.c): it stands for more than itself. */
void ps_track_alloc_code(void *p, size_t size, uint32_t code);
/* realloc_to: 0, or p is a realloc's old block and the new size (bytes): not a temporary, and a
 * realloc growth if larger (the advice counters). */
void ps_track_free(void *p, size_t realloc_to);
/* 1 if the tracker may hold p (a tracked block, or for a block outside the pool a hash
 * collision with one): free() must then call ps_track_free. Reads a bit or a byte, no lock. */
int ps_track_maybe_tracked(const void *p);
/* Every thread's counters summed into out[0..n] (out[id]; overwritten: it need not be zeroed
 * first); fills totals. */
void ps_track_collect(ps_counters_t *out, uint32_t n, ps_totals_t *totals);
/* Allocator call events of every thread, live and exited (ps_thread_t.events). */
void ps_track_events(uint64_t out[3]);
void ps_track_new_section(void); /* blocks tracked so far belong to an earlier section */
void ps_track_fork_prepare(void);
void ps_track_fork_parent(void);
void ps_track_fork_child(void);
/* One live-table entry of this section, for the walks at snapshots and exit (ages.c, reach.c). */
typedef struct {
    uintptr_t ptr;
    uint64_t size;         /* requested bytes */
    uint64_t bytes, count; /* as counted: weighted when sampled, count in fixed point */
    uint32_t id;           /* stack id */
    uint32_t birth;        /* age units of the birth clock */
} ps_live_block_t;
/* Live-table entries now (racy); fn for each entry of this section, each shard's lock held
 * around its entries; the registered threads (reach.c). */
size_t ps_track_live_count(void);
void ps_track_for_each_live(void (*fn)(void *arg, const ps_live_block_t *b), void *arg);
int ps_track_threads_running(void);
/* Ages (ages.c): the birth clock now (age units) and the length of a unit (ps); the lifetime
 * counts of stack id, summed over every thread, live and exited (fixed point). */
uint32_t ps_track_age_now(void);
uint64_t ps_track_age_unit_ps(void);
uint64_t ps_track_age_res_ns(void); /* the clock's resolution, at least a unit (ns) */
void ps_track_life_row(uint32_t id, uint64_t out[PS_AGE_BUCKETS]);

/* ---- ages.c: the AGES chunk ---------------------------------------------------------------- */
/* Its payload for the snapshot at time_ns: per stack, the ages of its live blocks and the
 * lifetimes of its freed ones. 0, or -1 when its tables could not be mapped (b->failed). */
int ps_ages_write(ps_buf_t *b, uint64_t time_ns, uint32_t nstacks);

/* ---- advice.c: the advice counters and the ADVICE chunk ------------------------------------ */
void ps_advice_thread_init(ps_thread_t *t); /* its owner tag and first countdown */
/* t's countdown ran out at the allocation of p (stack id, requested size, weight count in
 * fixed point): counts it, re-arms the countdown; returns the owner tag to keep with the block
 * (0: none, the sample was lost). */
PS_NOINLINE uint32_t ps_advice_alloc(ps_thread_t *t, void *p, uint32_t id, uint64_t size,
                                     uint64_t count);
/* t frees p, an advice sample of stack id tagged `owner`, of `size` requested bytes; realloc_to:
 * 0, or a realloc moves it to that many bytes. */
PS_NOINLINE void ps_advice_free(ps_thread_t *t, void *p, uint32_t id, uint32_t owner,
                                uint64_t count, uint64_t size, size_t realloc_to);
/* The ADVICE chunk's payload for the snapshot at time_ns (stack ids 0..nstacks). */
int ps_advice_write(ps_buf_t *b, uint64_t time_ns, uint32_t nstacks);

/* ---- sample.c: PERFSHIM_SAMPLE, sampling by bytes ------------------------------------------ */
#define PS_SAMPLE_CODES 16                     /* weight codes a block can carry (0 = exact) */
#define PS_SAMPLE_MAX_MEAN (UINT64_C(1) << 30) /* largest mean interval (bytes) */
#define PS_SAMPLE_FILTER_SIZE 16384            /* ps_sample_filter entries (16 KiB) */
#define PS_SAMPLE_FILTER_POOLED 4096           /* its first entries, where pooled blocks count */
/* Bytes this thread may still allocate before its next sample point. The allocation paths
 * subtract each size and call ps_sample_slow when it goes below 0 (interpose.c). */
extern __thread int64_t ps_tls_sample_left;
/* Track the allocation of n bytes that made the countdown go below 0? -1: no; else the weight
 * code to record it with (0: exact, weight 1). Re-arms the countdown. */
int ps_sample_slow(size_t n);
/* Change the mean interval at run time (bytes; 0 = full tracking), from any thread: each
 * thread picks it up at its next slow call (a generation counter). 0, or -1 if refused
 * (PS_SAMPLE_CODES - 1 distinct means already used, or sampling cannot work here). For
 * `perfshim ctl PID sample BYTES|full`. */
int ps_sample_set(uint64_t mean_bytes);
uint64_t ps_sample_mean(void); /* the mean in effect (bytes), 0 = full tracking */
int ps_sample_ever(void);      /* 1 if some figure of this process is an estimate */
/* The SAMPLING chunk's payload of the snapshot at time_ns (snapshot.c writes it after the
 * SNAPSHOT chunk when ps_sample_ever()). */
int ps_sample_write(ps_buf_t *b, uint64_t time_ns);
int ps_sample_init(void); /* seed, and the pool's bitmap; -1 if sampling cannot work */
void ps_sample_fork_child(void);
/* What a block of `size` bytes tracked with weight code `code` stands for: bytes, and
 * allocations in fixed point (PS_COUNT_ONE each). ps_sample_weights: the same for a mean. */
void ps_sample_code_weights(uint64_t size, uint32_t code, uint64_t *bytes, uint64_t *count);
void ps_sample_weights(uint64_t size, uint64_t mean, uint64_t *bytes, uint64_t *count);
/* The math (exposed for tests): ln x, 1 - e^(-x), and one exponential draw of mean `mean`. */
double ps_sample_ln(double x);
double ps_sample_one_minus_exp_neg(double x);
uint64_t ps_sample_draw(uint64_t *state, uint64_t mean);
/* Which blocks the tracker holds, for free() to ask cheaply (track.c keeps both, in every
 * tracking mode): one bit per 16 bytes of the pool's reservation (a tracked pooled block's
 * first byte), NULL without the pool; and, for other blocks, saturating counts of tracked
 * blocks by address bits (a 0 means "surely not tracked"; sampled pooled blocks count in its
 * first PS_SAMPLE_FILTER_POOLED entries, for track.c's own use). */
extern uint64_t *ps_sample_pool_bits;
extern PS_HIDDEN uint8_t ps_sample_filter[PS_SAMPLE_FILTER_SIZE];
static inline unsigned ps_sample_filter_index(const void *p)
{
    /* Address bits 4..17 (14 bits: PS_SAMPLE_FILTER_SIZE), no hash: glibc's blocks are 16-aligned
     * and packed, so neighbours get distinct slots; a collision costs only the exact lookup. Two
     * instructions fewer on every free with the pool off (docs/performance.md, "The call layer").
     */
    return (unsigned)(((uintptr_t)p >> 4) & (PS_SAMPLE_FILTER_SIZE - 1));
}
/* Pooled block p (owned by the pool) is tracked. */
static inline int ps_sample_pool_marked(const void *p, uintptr_t base)
{
    uintptr_t off = (uintptr_t)p - base;
    return (int)((ps_sample_pool_bits[off >> 10] >> ((off >> 4) & 63)) & 1);
}

/* ---- trace_writer.c: chunk encoding and the trace file ------------------------------------ */
void ps_buf_reset(ps_buf_t *b);
void ps_buf_free(ps_buf_t *b);
void ps_buf_u16(ps_buf_t *b, uint16_t v);
void ps_buf_u32(ps_buf_t *b, uint32_t v);
void ps_buf_u64(ps_buf_t *b, uint64_t v);
void ps_buf_bytes(ps_buf_t *b, const void *p, size_t n);
void ps_buf_str(ps_buf_t *b, const char *s);
void ps_buf_varint(ps_buf_t *b, uint64_t v); /* unsigned LEB128, 1 to 10 bytes */
/* A table's u32 count (0, for ps_buf_patch_u32 once the rows are written: its offset is
 * returned) and u32 row_size. */
size_t ps_buf_table(ps_buf_t *b, uint32_t row_size);
void ps_buf_patch_u32(ps_buf_t *b, size_t at, uint32_t v); /* nothing after a failure */
/* One encoder per record of include/trace_rows.h: ps_put_<name>(b, const ps_row_<name>_t *),
 * e.g. ps_put_pool_class(b, &row); every field in the declared order and width. */
#define PS_PUT_DECLARE_(ID, lname) void ps_put_##lname(ps_buf_t *b, const ps_row_##lname##_t *r);
PS_TRACE_ROWS(PS_PUT_DECLARE_)
#undef PS_PUT_DECLARE_
uint32_t ps_crc32(uint32_t crc, const void *p, size_t n);
/* Expand the output template into an absolute path (relative to base_dir). 0 on success. */
int ps_writer_expand(const char *tmpl, const char *base_dir, const char *exe, uint32_t pid,
                     uint64_t unix_s, char *out, size_t size);
/* Open (creating on first use) this process's trace; writes the file header. 0 on success. */
int ps_writer_open(void);
int ps_writer_chunk(uint16_t type, const ps_buf_t *payload); /* 0 on success */
void ps_writer_close(void);
/* Close the file until the next snapshot (reopened by path then): see trace_writer.c. */
void ps_writer_suspend(void);
void ps_writer_fork_child(void); /* the child must create its own file */
/* Before a uid change: the open file is given to uid:gid and stays open (0, or -1 if fchown
 * failed: it is kept open anyway). */
int ps_writer_keep(uint32_t uid, uint32_t gid);
/* Before a chroot: the open file stays open (never reopened by path), owner unchanged. */
void ps_writer_keep_open(void);
/* 1 if the trace must be opened before the effective uid becomes uid (egid gid): it exists, or
 * uid could not create it in its directory. */
int ps_writer_open_before_drop(uint32_t uid, uint32_t gid);
/* Whether this process could create its next trace file now (its directory, with its effective
 * credentials: an unnamed O_TMPFILE, nothing left behind). 0 (yes, or not knowable), or -1 and
 * the reason in why. For `perfshim ctl PID start` (control.c), not the hot path. */
int ps_writer_probe(char *why, size_t size);
/* Before such a change: keep PERFSHIM_TRACE_LIST open when uid could not append to it. */
void ps_writer_keep_list(uint32_t uid);
void ps_writer_new_section(uint32_t section); /* next file: the first one's name + ".s<N>" */
const char *ps_writer_first_path(void);       /* "" while the process has one section */
const char *ps_writer_path(void);
/* After the writer stopped on a failure: the warning it gave ("cannot create trace ..."); else "".
 */
const char *ps_writer_failure(void);
uint64_t ps_writer_chunks(void); /* chunks written to the current file */
/* The end of one snapshot's chunks (PERFSHIM_MAX_TRACE measures the pieces in such groups, and
 * deletes the older pieces the bound no longer holds). */
void ps_writer_group_end(void);
/* PERFSHIM_MAX_TRACE: 1 when the next snapshot must start a new piece of the trace. */
int ps_writer_rotate_due(void);
/* Closes the current piece (its END written by the caller), opens the next one (file header
 * written) and deletes the pieces the policy no longer keeps. 0, or -1 (later data is lost). */
int ps_writer_rotate(void);

/* ---- modules.c: modules unloaded by dlclose (UNLOADED_MODULES chunk) ----------------------- */
#define PS_BUILD_ID_MAX 64 /* build-id bytes kept (GNU build-ids are 20) */
struct dl_phdr_info;
/* The module's GNU build-id copied into out (at most max bytes); its length, 0 if none. */
size_t ps_modules_build_id(const struct dl_phdr_info *info, uint8_t *out, size_t max);
typedef struct ps_modules_before_s ps_modules_before_t;
/* Around the real dlclose (never on an allocation path: both call dl_iterate_phdr): a copy
 * of the module map, then the comparison that remembers every module gone since. */
ps_modules_before_t *ps_modules_before_close(void);  /* NULL if it cannot map its copy */
void ps_modules_after_close(ps_modules_before_t *b); /* frees b; NULL is ignored */
/* The UNLOADED_MODULES payload of every module remembered; 0 (nothing written) if none. */
int ps_modules_write_unloaded(ps_buf_t *b);
void ps_modules_fork_prepare(void);
void ps_modules_fork_parent(void);
void ps_modules_fork_child(void);

/* ---- deepbind.c: RTLD_DEEPBIND objects bound to our allocator ------------------------------ */
typedef struct ps_deepbind_before_s ps_deepbind_before_t;
/* Around the real dlopen(..., RTLD_DEEPBIND) (dlopen interposer only): the objects loaded
 * before, then every object loaded since has its malloc-family relocations pointed at ours
 * ([PS_FAMILY_COUNT] functions in ps_real_family_index order). after frees b; NULL is ignored. */
ps_deepbind_before_t *ps_deepbind_before(void);
void ps_deepbind_after(ps_deepbind_before_t *b, void *const *ours);
/* Every relocation of one loaded object against a symbol it does not define (GOT and PLT
 * slots, plain 64-bit pointers): pick returns the value the slot must hold, or NULL to leave
 * it. RELRO pages are made writable for the write. Returns the slots rewritten; *failed (if
 * not NULL) grows by those that could not be written. */
typedef struct ps_rebind_slot_s {
    const char *name;         /* the symbol the slot refers to */
    void *cur;                /* what the slot holds now */
    uintptr_t obj_lo, obj_hi; /* the object's PT_LOAD range (its PLT stubs lie inside) */
    int plt;                  /* a PLT slot (JUMP_SLOT): calls go through it, never an address */
} ps_rebind_slot_t;
typedef void *(*ps_rebind_fn)(const ps_rebind_slot_t *slot, void *arg);
unsigned ps_rebind_object(const struct dl_phdr_info *info, ps_rebind_fn pick, void *arg,
                          unsigned *failed);
/* ps_rebind_object on every loaded object but the one holding the address `self` (the shim's:
 * its own references are the C library's already). Takes the loader's lock (dl_iterate_phdr):
 * never on an allocation path. Returns the slots rewritten; *failed grows as above. */
unsigned ps_rebind_others(uintptr_t self, ps_rebind_fn pick, void *arg, unsigned *failed);
/* The loaded object's PT_LOAD range [*lo, *hi). */
void ps_object_range(const struct dl_phdr_info *info, uintptr_t *lo, uintptr_t *hi);

/* ---- snapshot.c: build and write the chunks of one snapshot -------------------------------- */
int ps_snapshot_write(int reason, int final);
int ps_snapshot_started(void);    /* this process's file holds a snapshot (PROCESS written) */
int ps_snapshot_write_exec(void); /* the exit snapshot before an exec* (PS_SNAP_F_EXEC) */
/* PERFSHIM_INTERVAL: the tracked allocation path calls ps_snapshot_tick() when this thread's
 * countdown goes below 0 (a decrement and a branch per tracked call); it re-arms the countdown,
 * reads the clock and, when a snapshot is due and this is a safe point, writes it. */
extern __thread int ps_tls_interval_left;
void ps_snapshot_interval_init(void);
void ps_snapshot_tick(void);
/* Trace sections and run-time control (control.c): */
void ps_snapshot_new_section(uint32_t section); /* fresh file state; tracking off */
void ps_snapshot_set_interval(uint64_t ms);     /* PERFSHIM_INTERVAL at run time; 0 off */
/* The wait after an interval snapshot that took took_ns: the interval, or 4 x took_ns if longer. */
uint64_t ps_snapshot_gap(uint64_t took_ns, uint64_t interval);
int ps_snapshot_idle_tick(void); /* control thread: interval snapshot if due; ms to next, -1 */
void ps_snapshot_trace_path(char *out, size_t size);
void ps_snapshot_prepare_drop(uint32_t uid, uint32_t gid); /* before a uid change */
void ps_snapshot_prepare_chroot(void);                     /* before a chroot */
void ps_snapshot_fork_prepare(void);
void ps_snapshot_fork_parent(void);
void ps_snapshot_fork_child(int locked); /* locked: its prepare ran */

/* ---- control.c: PERFSHIM_START, PERFSHIM_CONTROL, perfshim ctl, trace sections ----------- */
/* At init, after the tracking tables: sets ps_g.recording, starts the control channel when it
 * is enabled. Returns 1 if tracking starts now, 0 if the process starts dormant. */
int ps_control_init(void);
/* Subtract what the counters held when the open section began (write_snapshot). */
void ps_control_rebase(ps_counters_t *sum, uint32_t n, ps_totals_t *tot);
/* The SECTION payload into b; 0 (nothing to write) for a process without sections. */
int ps_control_put_section(ps_buf_t *b);
/* setuid (r = e = s = uid), seteuid (e), setreuid (r, e), setresuid (r, e, s), the exported
 * ones of interpose_ids.c: before the effective uid changes, the trace is given to the new user
 * and kept open; then libc's function. */
enum { PS_SETUID, PS_SETEUID, PS_SETREUID, PS_SETRESUID };
int ps_control_setuid(int which, uid_t r, uid_t e, uid_t s);
/* chroot, exported by interpose_ids.c: the trace is opened (created) and kept open before the
 * root changes, since its path may not exist in the new root; then libc's chroot. */
int ps_control_chroot(const char *path);
void ps_control_fork_child(void); /* the child's own socket and thread */
void ps_control_exit(void);       /* the socket file is removed */
/* An exec* failed after its snapshot ended the file (init.c): a new section begins, as at
 * `perfshim ctl start` after `stop` (SECTION how PS_SECTION_EXEC). 0, or -1 (not tracked). */
int ps_control_exec_failed(void);
/* ---- alerts.c: snapshot triggers, alerts, syslog, PERFSHIM_PROM_FILE ---------------------- */
/* Bytes of this thread's tracked allocations not yet added to the shared total (record_alloc
 * adds, the tick flushes): PERFSHIM_DUMP_EVERY's count. */
extern __thread uint64_t ps_tls_alloc_bytes;
/* 1 if a trigger, an alert or PERFSHIM_PROM_FILE is set; else snapshot.c calls nothing below
 * (their code then stays out of the resident pages: docs/performance.md) */
int ps_alerts_wanted(void);
int ps_alerts_init(void);   /* at init; 1 if the tick must run for a trigger or an alert */
extern int ps_alerts_armed; /* set by ps_alerts_init: ps_alerts_due has something to check */
/* At a tick, when armed (a few relaxed loads): 1 if a trigger or the heap alert may be due. */
int ps_alerts_due(void);
/* Writer lock held, at a tick about to write: decides and consumes what is due (interval: at
 * an interval tick, also RSS, cgroup and growth, which read files) and queues alerts; returns
 * the snapshot's reason (alert, signal, max, every), or -1 when none is due. */
int ps_alerts_claim(int interval, uint64_t now_ns);
void ps_alerts_unclaimed(int reason); /* the claimed snapshot could not be written */
/* Inside the snapshot writer: the totals and per-stack sums just collected (for the
 * Prometheus file); then the ALERT chunk and the alert lines; then the Prometheus file. */
void ps_alerts_observe(const ps_totals_t *tot, const ps_counters_t *sum, uint32_t n,
                       uint64_t time_ns);
void ps_alerts_write(ps_buf_t *b, uint64_t time_ns);
void ps_alerts_prom(ps_buf_t *b);
/* The program's sigaction/signal on PERFSHIM_DUMP_SIGNAL while the shim's handler is in
 * place (cpu.c's interposers ask first). */
int ps_alerts_owns_signal(int sig);
int ps_alerts_sigaction(const struct sigaction *act, struct sigaction *old);
/* The cgroup v2 memory.max in effect (the smallest of the process's cgroup and its
 * ancestors), 0 when there is none: for the PROCESS chunk. */
uint64_t ps_alerts_cgroup_limit(void);
void ps_alerts_fork_child(void);

/* ---- reach.c: leak classes at exit (PERFSHIM_LEAK_SCAN) ----------------------------------- */
int ps_reach_wanted(void); /* the option is on and every live block is tracked */
/* Scans for pointers and writes the LEAK_KINDS payload of the exit snapshot at time_ns into b:
 * 0, or -1 (nothing to write; said why when it was a failure). */
int ps_reach_write(ps_buf_t *b, uint64_t time_ns);

#endif /* PS_INTERNAL_H */
