/* SPDX-License-Identifier: MIT */
/*
 * stack.c — call stack capture and interning into dense ids.
 *
 * Stacks are walked by our own unwinder (unwind.c); only the stacks it cannot walk go to
 * libunwind's unw_backtrace (unw_loader.c loads it, privately and at the first such walk).
 * When libunwind cannot be used for a walk, the stack is kept as far as the fast unwinder got,
 * ending in PS_FRAME_CUT.
 *
 * Interning: a global open-addressing table of pointers to immutable ps_stack_t records.
 * Lookups are lock-free (acquire loads); inserting a new stack takes intern_lock. A per-thread
 * direct-mapped cache in ps_thread_t answers repeated stacks without touching shared lines.
 * No lock is ever held while unwinding (the unwinder may call dl_iterate_phdr, which takes
 * the loader lock; holding a shim lock there is the classic profiler deadlock).
 */
#include "internal.h"

#include "include/trace_format.h"

#include <link.h>
#include <string.h>
#include <ucontext.h>

static int fast_unwind; /* 1: ps_unwind_capture first, libunwind for what it cannot walk */

#define ARENA_CHUNK (16u << 20) /* frames arena grows by this much */

static ps_spinlock_t intern_lock;
static _Atomic(const ps_stack_t *) *slots; /* 2 * max_stacks rounded up to a power of two */
static uint64_t slot_mask;
static const ps_stack_t **by_id; /* [max_stacks + 1] */
static atomic_uint stack_count;  /* highest id handed out */
static uint8_t *arena_cur, *arena_end;
static int overflow_warned;
static int arena_warned; /* intern_lock */

static int find_self(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    uintptr_t me = (uintptr_t)data;
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uintptr_t s = info->dlpi_addr + ph->p_vaddr, e = s + ph->p_memsz;
        if (s < lo)
            lo = s;
        if (e > hi)
            hi = e;
    }
    if (me >= lo && me < hi) {
        ps_g.self_start = lo;
        ps_g.self_end = hi;
        return 1;
    }
    return 0;
}

int ps_stack_init(void)
{
    uint64_t nslots = 1;
    while (nslots < 2ull * ps_g.opt.max_stacks)
        nslots <<= 1;
    slots = ps_os_map(nslots * sizeof *slots);
    by_id = ps_os_map(((size_t)ps_g.opt.max_stacks + 1) * sizeof *by_id);
    if (!slots || !by_id) {
        ps_msg_warn("cannot map the stack table (%llu slots); tracking stays off",
                    (unsigned long long)nslots);
        return -1;
    }
    slot_mask = nslots - 1;
    dl_iterate_phdr(find_self, (void *)(uintptr_t)&ps_stack_init);
    int rc = ps_unwind_init(); /* also for PERFSHIM_UNWIND=libunwind: see below */
    if (ps_g.opt.unwind == 0) {
        if (rc == 0)
            fast_unwind = 1;
        else if (rc == -2)
            ps_msg_warn("cannot map the unwind rule table; every stack is captured with "
                        "libunwind (slower)");
        else
            ps_msg_warn("the fast unwinder needs glibc 2.35 or later (_dl_find_object); every "
                        "stack is captured with libunwind");
    }
    /* libunwind: at the first walk that needs it, unless every walk does */
    ps_unw_init(!fast_unwind);
    return 0;
}

static inline uint64_t hash_frames(void *const *ip, int n)
{
    uint64_t h = 0x9e3779b97f4a7c15ull ^ (uint64_t)n;
    for (int i = 0; i < n; i++) {
        h ^= (uint64_t)(uintptr_t)ip[i];
        h *= 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    return h;
}

static inline int same_stack(const ps_stack_t *s, uint64_t h, void *const *ip, int n)
{
    return s->hash == h && s->depth == (uint32_t)n &&
           memcmp(s->ip, ip, (size_t)n * sizeof(uintptr_t)) == 0;
}

static const ps_stack_t *probe(uint64_t h, void *const *ip, int n, uint64_t *free_slot)
{
    for (uint64_t i = h & slot_mask;; i = (i + 1) & slot_mask) {
        const ps_stack_t *s = atomic_load_explicit(&slots[i], memory_order_acquire);
        if (!s) {
            *free_slot = i;
            return NULL;
        }
        if (same_stack(s, h, ip, n))
            return s;
    }
}

static PS_NOINLINE const ps_stack_t *intern_slow(uint64_t h, void *const *ip, int n)
{
    uint64_t slot;
    ps_lock(&intern_lock);
    const ps_stack_t *s = probe(h, ip, n, &slot);
    if (s)
        goto out;
    uint32_t id = atomic_load_explicit(&stack_count, memory_order_relaxed) + 1;
    if (id > ps_g.opt.max_stacks) {
        if (!overflow_warned) {
            overflow_warned = 1;
            ps_unlock(&intern_lock);
            ps_msg_warn("more than %u distinct stacks (PERFSHIM_MAX_STACKS): further new stacks "
                        "are counted under stack 0",
                        (unsigned)ps_g.opt.max_stacks);
            return NULL;
        }
        goto out;
    }
    size_t need = sizeof(ps_stack_t) + (size_t)n * sizeof(uintptr_t);
    need = (need + 15) & ~(size_t)15;
    if (arena_cur == NULL || (size_t)(arena_end - arena_cur) < need) {
        uint8_t *chunk = ps_os_map(ARENA_CHUNK);
        if (!chunk) {
            /* id 0 ("no stack") for this allocation; a later one may find memory again */
            int warn = !arena_warned;
            arena_warned = 1;
            ps_unlock(&intern_lock);
            if (warn)
                ps_msg_warn("cannot map memory for new call stacks; allocations made at new "
                            "stacks meanwhile are reported without a stack (stack 0)");
            return NULL;
        }
        arena_cur = chunk;
        arena_end = chunk + ARENA_CHUNK;
    }
    ps_stack_t *ns = (ps_stack_t *)arena_cur;
    arena_cur += need;
    ns->hash = h;
    ns->id = id;
    ns->depth = (uint32_t)n;
    memcpy(ns->ip, ip, (size_t)n * sizeof(uintptr_t));
    by_id[id] = ns;
    atomic_store_explicit(&stack_count, id, memory_order_release);
    atomic_store_explicit(&slots[slot], ns, memory_order_release);
    s = ns;
out:
    ps_unlock(&intern_lock);
    return s;
}

/* Interns a raw stack (as unw_backtrace returns it): our own frames are dropped, so the stack
 * starts at malloc's caller, and it is cut at PERFSHIM_DEPTH frames. */
static uint32_t intern_frames(void **buf, int n, void *arg)
{
    ps_thread_t *t = arg;
    int skip = 0;
    while (skip < n && (uintptr_t)buf[skip] >= ps_g.self_start &&
           (uintptr_t)buf[skip] < ps_g.self_end)
        skip++;
    int depth = n - skip;
    if (depth > ps_g.opt.depth)
        depth = ps_g.opt.depth;
    void **ip = buf + skip;
    uint64_t h = hash_frames(ip, depth);

    unsigned ci = (unsigned)(h >> 56);
    const ps_stack_t *s = t ? t->stack_cache[ci].stack : NULL;
    if (PS_LIKELY(s && same_stack(s, h, ip, depth)))
        return s->id;
    uint64_t unused;
    s = probe(h, ip, depth, &unused);
    if (!s)
        s = intern_slow(h, ip, depth);
    if (!s)
        return 0;
    if (t) {
        t->stack_cache[ci].hash = h;
        t->stack_cache[ci].stack = s;
    }
    return s->id;
}

/* The stack as far as the fast unwinder gets, then PS_FRAME_CUT: for a walk that needs
 * libunwind when it cannot be used (unw_loader.c says why). Rare: a context switch's worth. */
static PS_NOINLINE int capture_cut(void **buf, int max, int why)
{
    ps_unw_cut(why);
    ucontext_t uc;
    int cut = 0, n = 0;
    if (getcontext(&uc) == 0)
        n = ps_unwind_from_context(&uc, (uintptr_t *)buf, max - 1, &cut);
    if (n < 0)
        n = 0;
    buf[n++] = (void *)(uintptr_t)PS_FRAME_CUT;
    return n;
}

uint32_t ps_stack_capture_id(ps_thread_t *t)
{
    /* depth + 8: room for our own frames, dropped by intern_frames */
    int max = ps_g.opt.depth + 8;
    int64_t id = -1;
    if (PS_LIKELY(fast_unwind && t != NULL)) {
        id = ps_unwind_stack_id(&t->unwind_cache, max, intern_frames, t);
        if (PS_LIKELY(id >= 0))
            return (uint32_t)id;
    }
    void *buf[PS_MAX_DEPTH + 16];
    int n = -1;
    if (fast_unwind && (t == NULL || id == PS_UNWIND_NO_MEMO)) /* walk without the memo */
        n = ps_unwind_capture(buf, max, t ? &t->unwind_cache : NULL);
    if (n < 0) {
        int why = 0;
        ps_unw_backtrace_fn bt = ps_unw_backtrace(&why);
        n = bt ? bt(buf, max) : capture_cut(buf, max, why);
        if (n < 0)
            n = 0;
    }
    return intern_frames(buf, n, t);
}

uint32_t ps_stack_intern(const uintptr_t *ip, int n)
{
    if (n > ps_g.opt.depth)
        n = ps_g.opt.depth;
    void *const *frames = (void *const *)ip;
    uint64_t h = hash_frames(frames, n);
    uint64_t unused;
    const ps_stack_t *s = probe(h, frames, n, &unused);
    if (!s)
        s = intern_slow(h, frames, n);
    return s ? s->id : 0;
}

uint32_t ps_stack_count(void)
{
    return atomic_load_explicit(&stack_count, memory_order_acquire);
}

const ps_stack_t *ps_stack_get(uint32_t id)
{
    if (id == 0 || id > ps_stack_count())
        return NULL;
    return by_id[id];
}

void ps_stack_fork_prepare(void)
{
    ps_lock(&intern_lock);
}

void ps_stack_fork_parent(void)
{
    ps_unlock(&intern_lock);
}

void ps_stack_fork_child(void)
{
    ps_unlock(&intern_lock);
}
