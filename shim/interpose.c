/* SPDX-License-Identifier: MIT */
/*
 * interpose.c — the symbols libperfshim.so exports: the malloc family with glibc's
 * semantics, dlsym/dlvsym (so that libc's malloc looked up by handle is ours too), dlopen
 * (RTLD_DEEPBIND objects are bound to our allocator), dlclose (unloaded code invalidates
 * cached unwind rules and is remembered for the trace), and the
 * public perfshim_* API. Nothing else is exported (-fvisibility=hidden).
 *
 * Each function: if tracking is off or we are already inside the shim on this thread, go
 * straight to glibc (or the pool); else allocate, then record. The tracked path's cost is
 * dominated by unwinding (see docs/performance.md); malloc, free, calloc and realloc reach
 * the untracked paths through a table of per-mode variants (below).
 */
#include "internal.h"
#include "pool.h"
#include "timing.h"

#include "include/trace_format.h"

#include <dlfcn.h>
#include <link.h>
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#define PS_API PS_EXPORT

/* Our functions, in the order of ps_real_family_index(). Referenced through hidden aliases so
 * that they are ours even when the shim is dlopen()ed RTLD_LOCAL (as the unit tests do). */
#pragma GCC diagnostic ignored "-Wmissing-attributes" /* the aliases need no malloc attributes */
#define PS_ALIAS(name)                                                                             \
    extern __typeof(name) ps_alias_##name __attribute__((alias(#name), visibility("hidden")))
PS_ALIAS(malloc);
PS_ALIAS(free);
PS_ALIAS(calloc);
PS_ALIAS(realloc);
PS_ALIAS(reallocarray);
PS_ALIAS(posix_memalign);
PS_ALIAS(aligned_alloc);
PS_ALIAS(memalign);
PS_ALIAS(valloc);
PS_ALIAS(pvalloc);
PS_ALIAS(malloc_usable_size);

static inline int tracking(void)
{
    return PS_LIKELY(atomic_load_explicit(&ps_g.active, memory_order_relaxed)) && ps_tls_guard == 0;
}

/* A point where this thread's blocks are consistently accounted: an interval snapshot may be
 * written here (PERFSHIM_INTERVAL, snapshot.c) when the thread's countdown ran out. */
static inline void interval_tick(void)
{
    if (PS_UNLIKELY(--ps_tls_interval_left < 0))
        ps_snapshot_tick();
}

static PS_NOINLINE void record_alloc(void *p, size_t n, uint32_t code)
{
    int saved = errno;
    ps_tls_guard++;
    ps_track_alloc_code(p, n, code);
    /* PERFSHIM_DUMP_EVERY's count, flushed at the tick: a sampled block adds the bytes it
     * stands for, so the count estimates every byte allocated, not only the sampled ones */
    uint64_t bytes = n, count;
    if (code)
        ps_sample_code_weights(n, code, &bytes, &count);
    ps_tls_alloc_bytes += bytes;
    interval_tick();
    ps_tls_guard--;
    errno = saved;
}

/* realloc_to: 0 for a free; for a realloc's old block the new size (the advice counters' realloc
 * growth), and no tick between realloc's free and alloc records, where the block would look half
 * moved */
static PS_NOINLINE void record_free(void *p, size_t realloc_to)
{
    int saved = errno;
    ps_tls_guard++;
    ps_track_free(p, realloc_to);
    if (!realloc_to)
        interval_tick();
    ps_tls_guard--;
    errno = saved;
}

/* A pooled block allocated while tracking is active but this call is not tracked (the shim's
 * own allocations, re-entrant calls): mark its metadata "untracked" so that a stale stack id
 * from the block's previous life is never counted. */
static PS_NOINLINE void mark_untracked(void *p)
{
    ps_pool_block_meta_t *m = ps_pool_meta(p);
    if (m)
        m->stack_id = 0;
}

/* Sampling (PERFSHIM_SAMPLE): p, n bytes, made this thread's countdown go below 0. */
static PS_NOINLINE void sampled_alloc(void *p, size_t n)
{
    int code = ps_sample_slow(n);
    if (code >= 0 && tracking())
        record_alloc(p, n, (uint32_t)code);
}

static inline void after_alloc(void *p, size_t n)
{
    if (PS_UNLIKELY(!p))
        return;
    if (PS_UNLIKELY(ps_g.sampling)) { /* unsampled blocks: no metadata, the bit stays clear */
        if (PS_UNLIKELY((ps_tls_sample_left -= (int64_t)n) < 0))
            sampled_alloc(p, n);
        return;
    }
    if (tracking())
        record_alloc(p, n, 0);
    else if (PS_UNLIKELY(ps_g.opt.mode == PS_MODE_FULL) && ps_pool_owns(p))
        mark_untracked(p);
}

/* Must the free (or realloc) of p untrack it first? Full tracking: when this call is tracked.
 * Sampling: when the tracker may hold p, whoever frees it (a stale record must not outlive
 * the block). */
static inline int untrack_needed(void *p)
{
    if (PS_UNLIKELY(ps_g.sampling))
        return ps_track_maybe_tracked(p);
    return tracking();
}

static inline void *any_memalign(size_t align, size_t n)
{
    void *p = ps_pool_memalign(align, n);
    return p ? p : ps_real_memalign(align, n);
}

static inline size_t any_usable(void *p)
{
    return ps_pool_owns(p) ? ps_pool_usable_size(p) : ps_real_usable_size(p);
}

/* ---- allocator latency (PERFSHIM_LATENCY_SAMPLE) ------------------------------------------ */

/* This thread's state when allocator calls are timed and counted, else NULL. */
static inline ps_thread_t *latency_thread(void)
{
    if (PS_LIKELY(!ps_g.latency_on) || ps_tls_guard)
        return NULL;
    return ps_track_thread();
}

/* 1 if this call is the thread's sampled one (then the countdown restarts). */
static inline int latency_due(ps_thread_t *t)
{
    if (!t || --t->latency_countdown > 0)
        return 0;
    t->latency_countdown = ps_g.opt.latency_sample;
    return 1;
}

static inline void count_event(ps_thread_t *t, int pooled, size_t n)
{
    if (!t)
        return;
    if (pooled) {
        t->events[0]++;
    } else {
        t->events[1]++;
        if (n >= 128 * 1024)
            t->events[2]++;
    }
}

/* malloc with anything beyond the pool's fast path: tracking, timing. */
static PS_NOINLINE void *malloc_hooked(size_t n)
{
    ps_thread_t *lt = latency_thread();
    int timed = latency_due(lt);
    uint64_t t0 = timed ? ps_ticks() : 0;
    void *p = ps_pool_malloc(n);
    int pooled = p != NULL;
    if (!p)
        p = ps_real_malloc(n);
    if (timed)
        ps_latency_record(PS_LAT_MALLOC, n, ps_ticks() - t0);
    count_event(lt, pooled, n);
    if (!p)
        return NULL;
    after_alloc(p, n);
    return p;
}

static PS_NOINLINE void *malloc_forward(size_t n)
{
    return ps_real_malloc(n);
}

/* malloc when the sampling countdown (already charged with n) went below 0. */
static PS_NOINLINE void *malloc_sampled(size_t n)
{
    void *p = ps_pool_malloc(n);
    if (!p && !(p = ps_real_malloc(n)))
        return NULL;
    sampled_alloc(p, n);
    return p;
}

static PS_NOINLINE void free_slow(void *p)
{
    if (!p)
        return;
    if (untrack_needed(p))
        record_free(p, 0); /* before the block goes back: the address may be reused at once */
    ps_thread_t *lt = latency_thread();
    int timed = latency_due(lt);
    int pooled = ps_pool_owns(p);
    size_t size = 0;
    if (timed)
        size = pooled ? ps_pool_usable_size(p) : ps_real_usable_size(p);
    uint64_t t0 = timed ? ps_ticks() : 0;
    if (pooled) {
        ps_pool_free(p); /* touches no errno */
    } else {
        int saved = errno;
        ps_real_free(p);
        errno = saved;
    }
    if (timed)
        ps_latency_record(PS_LAT_FREE, size, ps_ticks() - t0);
    count_event(lt, pooled, size);
}

/*
 * The exported malloc, free, calloc and realloc are one indirect jump each, through `calls`,
 * to the variant of the mode in effect (ps_set_hooks, init.c, picks them with ps_g.hooks): no
 * mode word is loaded and tested on the way. The variants:
 *   pool    (hooks 0: PERFSHIM_MODE=pool, tracking off): ps_pool_malloc's inline pop (pool.h)
 *           and a NULL test; free the range check and the push (docs/pool.md);
 *   sample  (PS_HOOKS_SAMPLE): the same after the countdown; free asks the pool bit or the
 *           filter;
 *   direct  (PS_HOOKS_DIRECT, sampling with the pool off): malloc is the countdown and a jump
 *           to glibc (4 instructions), free the filter byte and a jump to glibc (7);
 *   hooked  (hooks 1: full tracking, allocator latency): the noinline functions above.
 * Counted with callgrind: docs/performance.md, "The call layer, again"; the test
 * integration_calllayer.
 */

static inline void *malloc_pool(size_t n)
{
    void *p = ps_pool_malloc(n);
    if (PS_LIKELY(p != NULL))
        return p;
    return malloc_forward(n);
}

static void *malloc_sample(size_t n)
{
    if (PS_UNLIKELY((ps_tls_sample_left -= (int64_t)n) < 0))
        return malloc_sampled(n);
    return malloc_pool(n); /* inline */
}

static void *malloc_direct(size_t n)
{
    if (PS_UNLIKELY((ps_tls_sample_left -= (int64_t)n) < 0))
        return malloc_sampled(n);
    return __libc_malloc(n);
}

static void free_pool(void *p)
{
    if (PS_LIKELY(ps_pool_owns(p))) {
        ps_pool_free(p);
        return;
    }
    free_slow(p);
}

/* The filter byte of p is 0: p surely is not tracked (free(NULL) reads slot 0). A plain byte
 * load, atomic on x86-64 as a relaxed one, which GCC would not fold into the compare. */
static inline int filter_clear(const void *p)
{
    return !ps_sample_filter[ps_sample_filter_index(p)];
}

static void free_sample(void *p)
{
    if (PS_LIKELY(ps_pool_owns(p))) {
        if (PS_LIKELY(!ps_sample_pool_marked(p, ps_pool_hot.base))) {
            ps_pool_free(p);
            return;
        }
    } else if (filter_clear(p)) {
        __libc_free(p); /* an unsampled block of the C library's (glibc >= 2.33 keeps errno) */
        return;
    }
    free_slow(p);
}

static void free_direct(void *p)
{
    if (PS_LIKELY(filter_clear(p))) {
        __libc_free(p); /* the pool is off: every block is the C library's */
        return;
    }
    free_slow(p);
}

#if defined(__x86_64__)
/* free_direct with BMI2's rorx for the filter's index: a shift that keeps p in its register for
 * the jump to glibc, so the mov before it goes (6 instructions to glibc's first, were 7; one
 * in 14 of churn's added ones). rorx's top bits are p's low ones, which the mask drops: the
 * same slot as ps_sample_filter_index. Picked by ps_interpose_select when cpuid says BMI2. */
static void free_direct_bmi2(void *p)
{
    uintptr_t r;
    __asm__("rorx $4, %1, %0" : "=r"(r) : "r"(p));
    if (PS_LIKELY(!ps_sample_filter[r & (PS_SAMPLE_FILTER_SIZE - 1)])) {
        __libc_free(p);
        return;
    }
    free_slow(p);
}

/* 1 if the CPU has BMI2 (cpuid leaf 7, subleaf 0, EBX bit 8). */
static int cpu_bmi2(void)
{
    unsigned a = 0, b, c, d;
    __asm__("cpuid" : "+a"(a), "=b"(b), "=c"(c), "=d"(d)); /* the highest leaf */
    if (a < 7)
        return 0;
    a = 7;
    c = 0;
    __asm__("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
    return (b >> 8) & 1;
}
#endif

static void *calloc_any(size_t n, size_t m)
{
    size_t total;
    if (__builtin_mul_overflow(n, m, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    void *p = NULL;
    if (PS_LIKELY(ps_g_hot.pool_on))
        p = ps_pool_malloc(total);
    if (p)
        memset(p, 0, total); /* pooled blocks are recycled, not fresh pages */
    else
        p = ps_real_calloc(n, m);
    after_alloc(p, total);
    return p;
}

static void *calloc_direct(size_t n, size_t m)
{
    size_t total;
    if (PS_LIKELY(!__builtin_mul_overflow(n, m, &total))) { /* as malloc: countdown, glibc */
        int64_t left = ps_tls_sample_left - (int64_t)total;
        if (PS_LIKELY(left >= 0)) {
            ps_tls_sample_left = left;
            return __libc_calloc(n, m);
        }
    }
    return calloc_any(n, m);
}

/* realloc of a pooled block with nothing else to do (as malloc's and free's fast paths): in
 * place, or a pooled (else glibc) block, copy, free. Python's lists and strings grow this way. */
static inline void *realloc_pooled(void *p, size_t n)
{
    if (ps_pool_realloc_in_place(p, n))
        return p;
    size_t old = ps_pool_usable_size(p);
    void *q = ps_pool_malloc(n);
    if (!q && !(q = malloc_forward(n)))
        return NULL; /* p stays valid, errno is ENOMEM */
    memcpy(q, p, old < n ? old : n);
    ps_pool_free(p);
    return q;
}

/* realloc with sampling and nothing else to do: the old block untracked if it was sampled, the
 * new size charged to the countdown. */
static PS_NOINLINE void *realloc_sampled(void *p, size_t n)
{
    int pooled = ps_pool_owns(p);
    int held = ps_track_maybe_tracked(p);
    if (pooled && !held && (ps_tls_sample_left - (int64_t)n) >= 0) {
        ps_tls_sample_left -= (int64_t)n; /* neither block is tracked: the pool's own realloc */
        return realloc_pooled(p, n);
    }
    if (!pooled && !held) {
        void *q = ps_real_realloc(p, n);
        if (q)
            after_alloc(q, n);
        return q;
    }
    if (pooled && ps_pool_realloc_in_place(p, n)) {
        if (held)
            record_free(p, n);
        after_alloc(p, n);
        return p;
    }
    if (pooled) {
        void *q = ps_pool_malloc(n);
        if (!q && !(q = ps_real_malloc(n)))
            return NULL; /* p stays valid (and tracked), errno is ENOMEM */
        size_t old = ps_pool_usable_size(p);
        memcpy(q, p, old < n ? old : n);
        if (held)
            record_free(p, n); /* before p goes back: its address may be reused at once */
        ps_pool_free(p);
        after_alloc(q, n);
        return q;
    }
    record_free(p, n); /* a tracked block of the C library's: untracked before it moves */
    void *q = ps_real_realloc(p, n);
    if (q)
        after_alloc(q, n);
    else
        record_alloc(p, ps_real_usable_size(p), 0); /* p is still valid: keep it tracked */
    return q;
}

/* realloc with anything beyond the fast paths below: tracking, timing, realloc(NULL, n) and
 * realloc(p, 0). Apart, so that the fast paths set up no frame. */
static PS_NOINLINE void *realloc_general(void *p, size_t n)
{
    if (!p)
        return ps_alias_malloc(n);
    if (n == 0) { /* glibc: frees and returns NULL */
        ps_alias_free(p);
        return NULL;
    }
    ps_thread_t *lt = latency_thread();
    int timed = latency_due(lt);
    uint64_t t0 = timed ? ps_ticks() : 0, spent = 0;
    if (ps_pool_owns(p)) {
        count_event(lt, 1, n);
        if (ps_pool_realloc_in_place(p, n)) {
            if (timed)
                ps_latency_record(PS_LAT_REALLOC, n, ps_ticks() - t0);
            if (untrack_needed(p)) /* a new size, at the realloc's call site */
                record_free(p, n);
            after_alloc(p, n);
            return p;
        }
        void *q = ps_pool_malloc(n);
        if (!q)
            q = ps_real_malloc(n);
        if (!q)
            return NULL; /* p stays valid, errno is ENOMEM */
        size_t old = ps_pool_usable_size(p);
        memcpy(q, p, old < n ? old : n);
        if (timed)
            spent = ps_ticks() - t0;
        if (untrack_needed(p))
            record_free(p, n); /* before p goes back: its address may be reused at once */
        if (timed)
            t0 = ps_ticks();
        ps_pool_free(p);
        if (timed)
            ps_latency_record(PS_LAT_REALLOC, n, spent + (ps_ticks() - t0));
        after_alloc(q, n);
        return q;
    }
    count_event(lt, 0, n);
    if (!ps_g.sampling && !tracking()) {
        void *q = ps_real_realloc(p, n);
        if (timed)
            ps_latency_record(PS_LAT_REALLOC, n, ps_ticks() - t0);
        return q;
    }
    /* Untrack first: once glibc frees or moves the block, another thread may get the address. */
    int held = untrack_needed(p);
    if (held)
        record_free(p, n);
    if (timed)
        t0 = ps_ticks();
    void *q = ps_real_realloc(p, n);
    if (timed)
        ps_latency_record(PS_LAT_REALLOC, n, ps_ticks() - t0);
    if (q)
        after_alloc(q, n);
    else if (held)
        record_alloc(p, ps_real_usable_size(p), 0); /* p is still valid: keep it tracked */
    return q;
}

/* realloc_pooled as a call of its own: its registers are saved there, not on every path of
 * realloc. */
static PS_NOINLINE void *realloc_pooled_call(void *p, size_t n)
{
    return realloc_pooled(p, n);
}

static void *realloc_pool(void *p, size_t n)
{
    if (PS_LIKELY(ps_pool_owns(p)) && n != 0)
        return realloc_pooled_call(p, n);
    return realloc_general(p, n);
}

static void *realloc_sample(void *p, size_t n)
{
    if (p && n != 0)
        return realloc_sampled(p, n);
    return realloc_general(p, n);
}

static void *realloc_direct(void *p, size_t n)
{
    /* p not sampled (or NULL), the new block not picked: glibc's realloc (with n = 0 it
     * frees; a failed realloc still charged the countdown, as the pool's) */
    int64_t left = ps_tls_sample_left - (int64_t)n;
    if (PS_LIKELY(left >= 0) &&
        !__atomic_load_n(&ps_sample_filter[ps_sample_filter_index(p)], __ATOMIC_RELAXED)) {
        ps_tls_sample_left = left;
        return __libc_realloc(p, n);
    }
    if (p && n != 0)
        return realloc_sampled(p, n);
    return realloc_general(p, n);
}

/* ---- the exports and their table ------------------------------------------------------------ */

typedef struct calls_s {
    void *(*malloc)(size_t);
    void (*free)(void *);
    void *(*calloc)(size_t, size_t);
    void *(*realloc)(void *, size_t);
    char pad[64 - 4 * sizeof(void *)]; /* a cache line of its own: written only by mode changes */
} calls_t;

/* hooks 0 until ps_set_hooks says otherwise (before init: the pool, off, forwards) */
static _Alignas(64) calls_t calls = {malloc_pool, free_pool, calloc_any, realloc_pool, {0}};

void ps_interpose_select(int hooks)
{
    calls_t c = {malloc_pool, free_pool, calloc_any, realloc_pool, {0}};
    if (hooks == 1)
        c = (calls_t){malloc_hooked, free_slow, calloc_any, realloc_general, {0}};
    else if (hooks == PS_HOOKS_SAMPLE)
        c = (calls_t){malloc_sample, free_sample, calloc_any, realloc_sample, {0}};
    else if (hooks == PS_HOOKS_DIRECT)
        c = (calls_t){malloc_direct, free_direct, calloc_direct, realloc_direct, {0}};
#if defined(__x86_64__)
    static int bmi2 = -1; /* asked once; a race asks twice and gets the same answer */
    if (bmi2 < 0)
        bmi2 = cpu_bmi2();
    if (hooks == PS_HOOKS_DIRECT && bmi2)
        c.free = free_direct_bmi2;
#endif
    /* whole-pointer stores: a call in another thread jumps to the old or the new variant, as
     * it read the one mode word before */
    __atomic_store_n(&calls.malloc, c.malloc, __ATOMIC_RELEASE);
    __atomic_store_n(&calls.free, c.free, __ATOMIC_RELEASE);
    __atomic_store_n(&calls.calloc, c.calloc, __ATOMIC_RELEASE);
    __atomic_store_n(&calls.realloc, c.realloc, __ATOMIC_RELEASE);
}

/*
 * The program's own calls, one jump fewer. A process whose mode cannot change any more (no
 * control channel: ps_set_hooks runs at start only) has the PLT slots of its objects that lead
 * to our malloc, free, calloc and realloc pointed at the variants themselves, the way
 * deepbind.c rebinds a plugin's: those the loader bound to our exports, and those still unbound
 * (lazy binding: the slot holds its own PLT stub) when the global scope's definition is ours,
 * which is what the loader would bind them to. Only JUMP_SLOT relocations: a GOT slot may hold
 * an address the program compares (&free), a PLT slot only calls. Objects loaded later, and
 * every other way in (dlsym, a function pointer taken before), keep the exports and the table.
 * docs/performance.md, "Pool-off sampling: rorx, and the calls bound to the variants".
 */
typedef struct bind_ctx_s {
    void *ours[4], *now[4]; /* our exports; the variants of the mode (calls) */
    int global[4];          /* the global scope's definition is our export */
} bind_ctx_t;

static const char *const bind_names[4] = {"malloc", "free", "calloc", "realloc"};

static void *bind_pick(const ps_rebind_slot_t *s, void *arg)
{
    const bind_ctx_t *c = arg;
    if (!s->plt)
        return NULL;
    for (int k = 0; k < 4; k++)
        if (s->name[0] == bind_names[k][0] && strcmp(s->name, bind_names[k]) == 0) {
            uintptr_t cur = (uintptr_t)s->cur;
            int lazy = cur >= s->obj_lo && cur < s->obj_hi;
            return s->cur == c->ours[k] || (lazy && c->global[k]) ? c->now[k] : NULL;
        }
    return NULL;
}

unsigned ps_interpose_bind(void)
{
    bind_ctx_t c = {.ours = {(void *)ps_alias_malloc, (void *)ps_alias_free,
                             (void *)ps_alias_calloc, (void *)ps_alias_realloc},
                    .now = {(void *)__atomic_load_n(&calls.malloc, __ATOMIC_ACQUIRE),
                            (void *)__atomic_load_n(&calls.free, __ATOMIC_ACQUIRE),
                            (void *)__atomic_load_n(&calls.calloc, __ATOMIC_ACQUIRE),
                            (void *)__atomic_load_n(&calls.realloc, __ATOMIC_ACQUIRE)}};
    for (int k = 0; k < 4; k++)
        c.global[k] = ps_real_dlsym(RTLD_DEFAULT, bind_names[k]) == c.ours[k];
    unsigned failed = 0; /* the shim's own references are glibc's (__libc_malloc, real.c) */
    unsigned patched = ps_rebind_others((uintptr_t)bind_pick, bind_pick, &c, &failed);
    if (ps_g.opt.verbose)
        ps_msg_info("%u call slot(s) of malloc, free, calloc and realloc bound to this mode's "
                    "functions (%u in read-only memory left to the exports)",
                    patched, failed);
    return patched;
}

PS_API void *malloc(size_t n)
{
    return __atomic_load_n(&calls.malloc, __ATOMIC_RELAXED)(n);
}

PS_API void free(void *p)
{
    __atomic_load_n(&calls.free, __ATOMIC_RELAXED)(p);
}

PS_API void *calloc(size_t n, size_t m)
{
    return __atomic_load_n(&calls.calloc, __ATOMIC_RELAXED)(n, m);
}

PS_API void *realloc(void *p, size_t n)
{
    return __atomic_load_n(&calls.realloc, __ATOMIC_RELAXED)(p, n);
}

PS_API void *reallocarray(void *p, size_t n, size_t m)
{
    size_t total;
    if (__builtin_mul_overflow(n, m, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return ps_alias_realloc(p, total);
}

static inline int power_of_two(size_t a)
{
    return a != 0 && (a & (a - 1)) == 0;
}

PS_API int posix_memalign(void **out, size_t align, size_t n)
{
    if (!power_of_two(align) || align % sizeof(void *) != 0)
        return EINVAL; /* errno untouched, *out untouched */
    int saved = errno;
    void *p = any_memalign(align, n);
    errno = saved;
    if (!p)
        return ENOMEM;
    after_alloc(p, n);
    *out = p;
    return 0;
}

PS_API void *aligned_alloc(size_t align, size_t n)
{
    /* An alignment that is not a power of two (0, 3, 24): glibc 2.36 rounds it up and returns a
     * block, glibc 2.38 returns EINVAL; libc's own aligned_alloc answers, as for memalign. */
    void *p = power_of_two(align) ? any_memalign(align, n) : ps_real_aligned_alloc(align, n);
    after_alloc(p, n);
    return p;
}

PS_API void *memalign(size_t align, size_t n)
{
    void *p = power_of_two(align) ? any_memalign(align, n)
                                  : ps_real_memalign(align, n); /* glibc rounds odd ones up */
    after_alloc(p, n);
    return p;
}

PS_API void *valloc(size_t n)
{
    void *p = any_memalign(ps_os_page_size(), n);
    after_alloc(p, n);
    return p;
}

PS_API void *pvalloc(size_t n)
{
    size_t page = ps_os_page_size();
    size_t rounded;
    if (__builtin_add_overflow(n, page - 1, &rounded)) {
        errno = ENOMEM;
        return NULL;
    }
    rounded &= ~(page - 1);
    if (rounded == 0)
        rounded = page;
    void *p = any_memalign(page, rounded);
    after_alloc(p, n);
    return p;
}

PS_API size_t malloc_usable_size(void *p)
{
    return p ? any_usable(p) : 0;
}

/* ---- dlsym / dlvsym ----------------------------------------------------------------------- */

/* Lookups by handle (ctypes' CDLL("libc.so.6").malloc, plugin loaders) would return glibc's
 * malloc and bypass us; swap in ours (so for the lock and semaphore functions with lock timing
 * on, and for dlvsym, which never returns our unversioned definitions). RTLD_NEXT must keep its
 * meaning ("the next object after the caller"), which glibc computes from the return address: those
 * calls are tail calls, so glibc sees our caller's address, not ours. */

static void *const family_ours[PS_FAMILY_COUNT] = {(void *)ps_alias_malloc,
                                                   (void *)ps_alias_free,
                                                   (void *)ps_alias_calloc,
                                                   (void *)ps_alias_realloc,
                                                   (void *)ps_alias_reallocarray,
                                                   (void *)ps_alias_posix_memalign,
                                                   (void *)ps_alias_aligned_alloc,
                                                   (void *)ps_alias_memalign,
                                                   (void *)ps_alias_valloc,
                                                   (void *)ps_alias_pvalloc,
                                                   (void *)ps_alias_malloc_usable_size,
                                                   (void *)ps_alias_free};

static inline void *replacement_for(void *r)
{
    int i = ps_real_family_index(r);
    return i >= 0 ? family_ours[i] : ps_locks_replacement(r); /* pthread_*, sem_* (locks.c) */
}

static inline int maybe_malloc_name(const char *name)
{
    return name && (name[0] == 'm' || name[0] == 'f' || name[0] == 'c' || name[0] == 'r' ||
                    name[0] == 'p' || name[0] == 'a' || name[0] == 'v' ||
                    (name[0] == 's' && !strncmp(name, "sem_", 4)));
}

__attribute__((optimize("optimize-sibling-calls"))) PS_API void *dlsym(void *handle,
                                                                       const char *name)
{
    if (handle != RTLD_NEXT && maybe_malloc_name(name)) {
        return replacement_for(ps_real_dlsym(handle, name));
    }
    void *(*real)(void *, const char *) = ps_real_dlsym_fn();
    return real(handle, name); /* tail call: RTLD_NEXT is resolved from our caller */
}

__attribute__((optimize("optimize-sibling-calls"))) PS_API void *
dlvsym(void *handle, const char *name, const char *version)
{
    if (handle != RTLD_NEXT && maybe_malloc_name(name)) {
        return replacement_for(ps_real_dlvsym(handle, name, version));
    }
    void *(*real)(void *, const char *, const char *) = ps_real_dlvsym_fn();
    return real(handle, name, version); /* tail call, as in dlsym */
}

/* ---- dlopen: RTLD_DEEPBIND ------------------------------------------------------------------ */

static void *(*real_dlopen(void))(const char *, int)
{
    static void *(*real)(const char *, int);
    if (PS_UNLIKELY(!real))
        real = (void *(*)(const char *, int))ps_real_dlsym(RTLD_NEXT, "dlopen");
    return real;
}

static PS_NOINLINE void *dlopen_deepbind(void *(*real)(const char *, int), const char *file,
                                         int mode)
{
    int saved = errno;
    ps_tls_guard++;
    ps_deepbind_before_t *before = ps_deepbind_before();
    ps_tls_guard--;
    errno = saved;
    void *h = real(file, mode);
    saved = errno;
    ps_tls_guard++;
    ps_deepbind_after(before, family_ours);
    ps_tls_guard--;
    errno = saved;
    return h;
}

/* A library loaded RTLD_DEEPBIND would bind malloc and free to libc's (deepbind.c): its
 * malloc-family references are pointed at ours after the load. Every other dlopen is a tail
 * call, so that the loader still sees the real caller (its RUNPATH is searched, its namespace
 * used); a DEEPBIND load is not, and searches a bare file name as if perfshim had asked (the
 * calling object's own RUNPATH/RPATH is not used: README, Known limitations). */
__attribute__((optimize("optimize-sibling-calls"))) PS_API void *dlopen(const char *file, int mode)
{
    void *(*real)(const char *, int) = real_dlopen();
    if (PS_UNLIKELY(!real)) {
        errno = ENOSYS;
        return NULL;
    }
    if (PS_LIKELY(!(mode & RTLD_DEEPBIND)) || !file || !ps_g.initialized ||
        ps_g.opt.mode == PS_MODE_OFF)
        return real(file, mode);
    return dlopen_deepbind(real, file, mode);
}

/* dlclose may unmap code whose unwind rules the fast unwinder cached by address; a library
 * loaded later at the same place must not be walked with them. What it unmaps is remembered
 * (modules.c) so that the stacks captured inside still symbolize after the unload. */
PS_API int dlclose(void *handle)
{
    static int (*real)(void *);
    if (PS_UNLIKELY(!real)) {
        real = (int (*)(void *))ps_real_dlsym(RTLD_NEXT, "dlclose");
        if (!real) {
            errno = ENOSYS;
            return -1;
        }
    }
    /* Remember what this unmaps (for the trace's UNLOADED_MODULES) while it is still mapped;
     * only when tracing: the copy walks the loader's list, and this is not a hot path. */
    ps_modules_before_t *before = NULL;
    if (ps_g.tracing && ps_tls_guard == 0) {
        int saved = errno;
        ps_tls_guard++;
        before = ps_modules_before_close();
        ps_tls_guard--;
        errno = saved;
    }
    int rc = real(handle);
    int saved = errno;
    if (before) {
        ps_tls_guard++;
        ps_modules_after_close(before);
        ps_tls_guard--;
    }
    ps_unwind_flush();
    errno = saved;
    return rc;
}

/* ---- public API (shim/include/perfshim.h) -------------------------------------------------- */

PS_API int perfshim_api_dump_v1(void)
{
    return ps_init_snapshot(PS_SNAP_DUMP);
}

PS_API void perfshim_api_zone_begin_v1(const char *name)
{
    ps_zone_begin(name);
}

PS_API void perfshim_api_zone_end_v1(void)
{
    ps_zone_end();
}
