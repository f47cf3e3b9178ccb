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
 * The table starts small and doubles under intern_lock when half full (a table sized for
 * PERFSHIM_MAX_STACKS from the start cost every short process thousands of page faults: new
 * stacks land on random pages of it). A reader still probing the old table finds its slots
 * either intact or, once the old pages were given back, empty: a miss, which the locked slow
 * path repeats on the current table.
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

/* The hash table of interned stacks. Replaced (never modified in place beyond filling empty
 * slots) when it grows; old tables stay mapped, their pages given back. */
typedef struct stack_table_s {
    uint64_t mask;                      /* capacity - 1 (a power of two) */
    uint64_t bytes;                     /* size of the mapping */
    _Atomic(const ps_stack_t *) slot[]; /* NULL = empty */
} stack_table_t;

#define TABLE_INITIAL 256 /* slots of the first table (2 KiB: one page with its header) */

static ps_spinlock_t intern_lock;
static _Atomic(stack_table_t *) table; /* the current table */
static uint64_t table_max;             /* largest capacity: 2 * max_stacks, a power of two */
static const ps_stack_t **by_id;       /* [max_stacks + 1], touched as ids are handed out */
static atomic_uint stack_count;        /* highest id handed out */
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

static stack_table_t *table_new(uint64_t cap)
{
    size_t bytes = sizeof(stack_table_t) + cap * sizeof(((stack_table_t *)0)->slot[0]);
    stack_table_t *t = ps_os_map(bytes);
    if (t) {
        t->mask = cap - 1;
        t->bytes = bytes;
    }
    return t;
}

static int table_init(void)
{
    table_max = 1;
    while (table_max < 2ull * ps_g.opt.max_stacks)
        table_max <<= 1;
    stack_table_t *t = table_new(TABLE_INITIAL < table_max ? TABLE_INITIAL : table_max);
    by_id = ps_os_map(((size_t)ps_g.opt.max_stacks + 1) * sizeof *by_id);
    if (!t || !by_id) {
        ps_msg_warn("cannot map the stack table; tracking stays off");
        return -1;
    }
    atomic_store_explicit(&table, t, memory_order_release);
    return 0;
}

PS_COLD int ps_stack_init(void)
{
    if (table_init() != 0)
        return -1;
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

static const ps_stack_t *probe_in(const stack_table_t *t, uint64_t h, void *const *ip, int n,
                                  uint64_t *free_slot)
{
    for (uint64_t i = h & t->mask;; i = (i + 1) & t->mask) {
        const ps_stack_t *s = atomic_load_explicit(&t->slot[i], memory_order_acquire);
        if (!s) {
            *free_slot = i;
            return NULL;
        }
        if (same_stack(s, h, ip, n))
            return s;
    }
}

/* Lock-free lookup in the current table; NULL if not there (yet, or not seen by a lagging
 * reader of a replaced table: the caller then takes the slow path). */
static inline const ps_stack_t *probe(uint64_t h, void *const *ip, int n)
{
    uint64_t unused;
    return probe_in(atomic_load_explicit(&table, memory_order_acquire), h, ip, n, &unused);
}

/* Called with intern_lock held when the table is half full: a table of twice the size gets
 * every stack (from by_id), then replaces the old one, whose pages go back to the kernel.
 * Returns the table to insert into: the new one, or the old one if it still has room. */
static stack_table_t *table_grow(stack_table_t *old, uint32_t count)
{
    uint64_t cap = (old->mask + 1) * 2;
    stack_table_t *t = cap <= table_max ? table_new(cap) : NULL;
    if (!t)
        return count + 1 < old->mask - old->mask / 8 ? old : NULL; /* up to 7/8 full */
    /* Every page gets slots at once: write it first (a read of a page never written maps the
     * zero page, and the write after it is a second fault with a TLB flush). */
    memset(t->slot, 0, (size_t)cap * sizeof t->slot[0]);
    for (uint32_t id = 1; id <= count; id++) {
        const ps_stack_t *s = by_id[id];
        uint64_t i = s->hash & t->mask;
        while (atomic_load_explicit(&t->slot[i], memory_order_relaxed))
            i = (i + 1) & t->mask;
        atomic_store_explicit(&t->slot[i], s, memory_order_relaxed);
    }
    atomic_store_explicit(&table, t, memory_order_release);
    /* Readers may still be probing the old table: it stays mapped (an empty slot is a miss,
     * and a miss is retried here under the lock), but its memory is returned. */
    ps_os_purge(old, old->bytes);
    return t;
}

/* With intern_lock held: a new stack cannot be stored. Stack 0 ("no stack") for this
 * allocation; a later one may find memory again. */
static const ps_stack_t *no_memory(void)
{
    int warn = !arena_warned;
    arena_warned = 1;
    ps_unlock(&intern_lock);
    if (warn)
        ps_msg_warn("cannot map memory for new call stacks; allocations made at new stacks "
                    "meanwhile are reported without a stack (stack 0)");
    return NULL;
}

static PS_NOINLINE const ps_stack_t *intern_slow(uint64_t h, void *const *ip, int n)
{
    uint64_t slot;
    ps_lock(&intern_lock);
    stack_table_t *t = atomic_load_explicit(&table, memory_order_relaxed);
    const ps_stack_t *s = probe_in(t, h, ip, n, &slot);
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
    if (PS_UNLIKELY((uint64_t)id > (t->mask + 1) / 2)) {
        stack_table_t *bigger = table_grow(t, id - 1);
        if (!bigger)
            return no_memory();
        if (bigger != t) {
            t = bigger;
            (void)probe_in(t, h, ip, n, &slot);
        }
    }
    size_t need = sizeof(ps_stack_t) + (size_t)n * sizeof(uintptr_t);
    need = (need + 15) & ~(size_t)15;
    if (arena_cur == NULL || (size_t)(arena_end - arena_cur) < need) {
        uint8_t *chunk = ps_os_map(ARENA_CHUNK);
        if (!chunk)
            return no_memory();
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
    atomic_store_explicit(&t->slot[slot], ns, memory_order_release);
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
    s = probe(h, ip, depth);
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
    const ps_stack_t *s = probe(h, frames, n);
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
