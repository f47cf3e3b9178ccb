/* SPDX-License-Identifier: MIT */
/*
 * reach.c — leak classes at exit (PERFSHIM_LEAK_SCAN): before the final snapshot's END, a
 * conservative scan for pointers labels every tracked block still live as definitely lost,
 * indirectly lost, possibly lost or still reachable, with valgrind memcheck's meanings, and
 * the LEAK_KINDS chunk gives blocks and bytes per stack and kind.
 *
 * The blocks: every tracked live block (the live table's and the pool's slab metadata), copied
 * into one ps_os_map'd array sorted by address; a word is looked up by binary search (interior
 * pointers count). The roots: the writable PT_LOAD segments of every loaded module but the shim
 * (data, bss), the exiting thread's TLS blocks (dl_iterate_phdr's dlpi_tls_data) and thread
 * control block, its stack from the current stack pointer up with its callee-saved registers
 * spilled into this frame, and the whole recorded stack of every other thread the shim started
 * (its TLS and TCB lie in that mapping, glibc puts them there).
 *
 * Marking follows memcheck's (mc_leakcheck.c, described in the memcheck manual, "Looking for
 * Memory Leaks"): a block reached from a root by a chain of start pointers is reachable; one
 * reached only through a chain that has an interior pointer is possibly lost; the rest are lost,
 * and of those, each one that another lost block points to (start or interior) is indirectly
 * lost: the lost blocks are taken in address order, each one not yet claimed leads a "clique"
 * of the lost blocks it reaches, and a leader found by a later clique joins it. What is left is
 * definitely lost (in a cycle nobody else points to, the member with the lowest address).
 *
 * Runs once, on the thread writing the final snapshot, outside the allocation path; it
 * allocates nothing (ps_os_map), takes the live table's shard locks one at a time while it
 * copies, and the loader's lock for the length of dl_iterate_phdr. Other threads may still run:
 * then the memory they may unmap (their stacks, blocks of the C library that a free may give
 * back) is read through process_vm_readv, which reports a fault instead of taking one.
 */
#include "internal.h"
#include "pool.h"

#include "include/trace_format.h"

#include <elf.h>
#include <link.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>

extern void *__libc_stack_end;

enum { ST_UNREACHED = 0, ST_INDIRECT, ST_POSSIBLE, ST_REACHABLE };

typedef struct {
    uintptr_t addr;
    uint64_t size;
    uint32_t stack; /* stack id */
    uint32_t state; /* ST_* */
} blk_t;

typedef struct {
    uint64_t blocks[PS_LEAK_KINDS], bytes[PS_LEAK_KINDS];
} kind_sums_t;

#define COPY_BYTES (64 * 1024)
#define LARGE_BLOCK (64 * 1024) /* read through process_vm_readv even with no other thread */
#define MAX_THREADS 4096
#define SKIP_MAX (PS_OS_OWN_MAX + 4096) /* the shim's mappings and the modules' extents */

static struct {
    blk_t *b;
    size_t n, cap;
    uint32_t *mark; /* the mark stack: block indexes */
    struct gran_s {
        uintptr_t granule;   /* address >> GRANULE_SHIFT */
        uint32_t first, end; /* blocks [first, end) overlap it; end 0: empty slot */
    } * g;
    size_t gmask, gbytes;
    size_t top, mcap;
    uintptr_t lo, hi; /* every block lies in [lo, hi) */
    int safe;         /* other threads run: read what they may unmap through process_vm_readv */
    int vm_ok;        /* process_vm_readv works here */
    uint8_t *copy;    /* COPY_BYTES for those reads */
    long clique;      /* phase 2: the leader's index; -1 in phase 1 */
    uint64_t root_bytes, heap_bytes, unread_bytes;
    uintptr_t self_lo, self_hi; /* the shim's own module: not a root (its extent once
                                   module_roots found it; before, self_lo is an address in it) */
    blk_t *skip;                /* what anon_roots leaves out: every module's extent (scanned
                                   by module_roots, or the shim's) and every mapping of the
                                   shim's (ps_os_own_maps); addr and size, sorted, merged */
    size_t nskip, skip_cap;
    struct {
        uintptr_t lo, hi;
    } threads[MAX_THREADS];
    uint32_t nthreads;
} S;

/* ---- the blocks --------------------------------------------------------------------------- */

static void add_block(uintptr_t p, uint64_t size, uint32_t stack)
{
    if (S.n >= S.cap)
        return; /* allocated meanwhile by another thread: not in this scan */
    S.b[S.n++] = (blk_t){p, size, stack, ST_UNREACHED};
}

static void add_live(void *arg, const ps_live_block_t *b)
{
    (void)arg;
    add_block(b->ptr, b->size, b->id);
}

static void add_pooled(void *arg, uintptr_t p, const ps_pool_block_meta_t *m)
{
    (void)arg;
    uint32_t section = atomic_load_explicit(&ps_g.section_bits, memory_order_relaxed);
    uint32_t tagged_id = __atomic_load_n(&m->stack_id, __ATOMIC_RELAXED);
    if ((tagged_id & ~PS_SECTION_ID_MASK) != section)
        return; /* an earlier trace section's */
    add_block(p, m->size & PS_POOL_META_SIZE_MASK, (tagged_id & PS_SECTION_ID_MASK) - 1);
}

static void count_pooled(void *arg, uintptr_t p, const ps_pool_block_meta_t *m)
{
    (void)p, (void)m;
    (*(size_t *)arg)++;
}

static inline int blk_less(const blk_t *a, const blk_t *b)
{
    return a->addr < b->addr;
}

static void sift(blk_t *a, size_t i, size_t n)
{
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            return;
        if (c + 1 < n && blk_less(&a[c], &a[c + 1]))
            c++;
        if (!blk_less(&a[i], &a[c]))
            return;
        blk_t t = a[i];
        a[i] = a[c];
        a[c] = t;
        i = c;
    }
}

/* Heapsort by address: no allocation, no recursion. */
static void sort_blocks(blk_t *a, size_t n)
{
    for (size_t i = n / 2; i-- > 0;)
        sift(a, i, n);
    for (size_t end = n; end-- > 1;) {
        blk_t t = a[0];
        a[0] = a[end];
        a[end] = t;
        sift(a, 0, end);
    }
}

/* The block holding address w (its start or inside it; a zero-size block holds its start), or
 * -1. */
/* The index of 64 KiB granules: for each granule some block overlaps, the range of block
 * indexes [first, end) overlapping it. Most words that are not heap pointers miss it at once,
 * and a hit is a binary search among a few blocks instead of all of them (python3 with
 * PYTHONMALLOC=malloc, 120k blocks: docs/performance.md). */
#define GRANULE_SHIFT 16

static inline uint64_t end_of(const blk_t *x)
{
    return x->addr + (x->size ? x->size : 1);
}

static inline size_t gslot(uintptr_t g)
{
    return (size_t)((g * UINT64_C(0x9e3779b97f4a7c15)) >> 20) & S.gmask;
}

/* Builds the index (S.g); without it (no memory), find() searches every block. */
static void index_blocks(void)
{
    size_t bound = 0;
    for (size_t i = 0; i < S.n; i++)
        bound += ((end_of(&S.b[i]) - 1) >> GRANULE_SHIFT) - (S.b[i].addr >> GRANULE_SHIFT) + 1;
    size_t cap = 64;
    while (cap < 2 * bound)
        cap *= 2;
    S.gbytes = cap * sizeof *S.g;
    S.g = ps_os_map(S.gbytes);
    if (!S.g)
        return;
    S.gmask = cap - 1;
    for (size_t i = 0; i < S.n; i++) {
        uintptr_t g1 = (end_of(&S.b[i]) - 1) >> GRANULE_SHIFT;
        for (uintptr_t g = S.b[i].addr >> GRANULE_SHIFT; g <= g1; g++) {
            size_t k = gslot(g);
            while (S.g[k].end && S.g[k].granule != g)
                k = (k + 1) & S.gmask;
            if (!S.g[k].end) {
                S.g[k].granule = g;
                S.g[k].first = (uint32_t)i;
            }
            S.g[k].end = (uint32_t)i + 1;
        }
    }
}

static inline long find(uintptr_t w)
{
    if (w - S.lo >= S.hi - S.lo)
        return -1;
    size_t l = 0, r = S.n;
    if (S.g) {
        uintptr_t g = w >> GRANULE_SHIFT;
        size_t k = gslot(g);
        while (S.g[k].end && S.g[k].granule != g)
            k = (k + 1) & S.gmask;
        if (!S.g[k].end)
            return -1;
        l = S.g[k].first;
        r = S.g[k].end;
        if (S.b[l].addr > w)
            return -1;
    }
    while (l < r) {
        size_t m = (l + r) / 2;
        if (S.b[m].addr <= w)
            l = m + 1;
        else
            r = m;
    }
    if (l == 0)
        return -1;
    const blk_t *x = &S.b[l - 1]; /* the last block starting at or below w */
    return w - x->addr < (x->size ? x->size : 1) ? (long)(l - 1) : -1;
}

/* ---- marking ------------------------------------------------------------------------------ */

static inline void push(size_t i)
{
    if (S.top < S.mcap)
        S.mark[S.top++] = (uint32_t)i;
}

/* One aligned word found in memory of state `from` (ST_REACHABLE for a root). */
static inline void word(uintptr_t w, uint32_t from)
{
    long i = find(w);
    if (i < 0)
        return;
    blk_t *x = &S.b[i];
    if (S.clique >= 0) { /* phase 2: lost blocks reached from the leader join its clique */
        if (x->state == ST_UNREACHED && i != S.clique) {
            x->state = ST_INDIRECT;
            push((size_t)i);
        }
        return;
    }
    uint32_t st = w == x->addr && from == ST_REACHABLE ? ST_REACHABLE : ST_POSSIBLE;
    if (x->state == ST_UNREACHED || (x->state == ST_POSSIBLE && st == ST_REACHABLE)) {
        x->state = st;
        push((size_t)i);
    }
}

static void scan_words(const uintptr_t *w, size_t n, uint32_t from)
{
    for (size_t k = 0; k < n; k++)
        word(w[k], from);
}

/* process_vm_readv of [p, p + n) into S.copy (n <= COPY_BYTES): bytes copied, 0 on a fault. */
static size_t copy_in(uintptr_t p, size_t n)
{
    struct iovec l = {S.copy, n}, r = {(void *)p, n};
    long a[6] = {(long)ps_os_pid(), (long)&l, 1, (long)&r, 1, 0};
    long got = ps_os_syscall(SYS_process_vm_readv, a);
    return got == (long)n ? n : 0;
}

/* Scans [lo, hi) (aligned words). safe: through copies, skipping pages that cannot be read. */
static void scan_range(uintptr_t lo, uintptr_t hi, int safe, uint32_t from, uint64_t *counter)
{
    lo = (lo + 7) & ~(uintptr_t)7;
    hi &= ~(uintptr_t)7;
    if (hi <= lo)
        return;
    *counter += hi - lo;
    if (!safe) {
        scan_words((const uintptr_t *)lo, (hi - lo) / 8, from);
        return;
    }
    size_t page = ps_os_page_size();
    while (lo < hi) {
        size_t n = hi - lo < COPY_BYTES ? hi - lo : COPY_BYTES;
        if (copy_in(lo, n)) {
            scan_words((const uintptr_t *)(void *)S.copy, n / 8, from);
            lo += n;
            continue;
        }
        /* some page of it cannot be read: page by page */
        for (uintptr_t end = lo + n; lo < end;) {
            uintptr_t next = (lo | (page - 1)) + 1;
            size_t m = (next < end ? next : end) - lo;
            if (copy_in(lo, m))
                scan_words((const uintptr_t *)(void *)S.copy, m / 8, from);
            else
                S.unread_bytes += m;
            lo += m;
        }
    }
}

static void scan_block(size_t i)
{
    const blk_t *x = &S.b[i];
    /* The pool's memory stays mapped; a block of the C library may be unmapped by another
     * thread's free meanwhile, and a large one (mmap'd by glibc) even by a free the shim did
     * not see. */
    int safe =
        S.vm_ok && !ps_pool_owns((const void *)x->addr) && (S.safe || x->size >= LARGE_BLOCK);
    scan_range(x->addr, x->addr + x->size, safe, x->state, &S.heap_bytes);
}

static void drain(void)
{
    while (S.top > 0)
        scan_block(S.mark[--S.top]);
}

/* ---- the roots ---------------------------------------------------------------------------- */

/* One range anon_roots must leave out (a module's extent, a mapping of the shim's); dropped
 * when the table is full (the range is then judged as before: by its flags). */
static void skip_add(void *arg, uintptr_t lo, uintptr_t hi)
{
    (void)arg;
    if (S.nskip < S.skip_cap && hi > lo)
        S.skip[S.nskip++] = (blk_t){lo, hi - lo, 0, 0};
}

static int module_roots(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size, (void)data;
    int self = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t s = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD && S.self_lo >= s && S.self_lo < s + ph->p_memsz)
            self = 1;
    }
    /* its whole extent, .bss included: anon_roots must not scan it again (the shim's: at all) */
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t s = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD) {
            lo = s < lo ? s : lo;
            hi = s + ph->p_memsz > hi ? s + ph->p_memsz : hi;
        }
    }
    size_t page = ps_os_page_size();
    lo &= ~(uintptr_t)(page - 1);
    hi = (hi + page - 1) & ~(uintptr_t)(page - 1);
    skip_add(NULL, lo, hi);
    if (self) {
        S.self_lo = lo;
        S.self_hi = hi;
        return 0;
    }
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t s = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_W)) /* safe: a program may protect pages */
            scan_range(s, s + ph->p_memsz, S.vm_ok, ST_REACHABLE, &S.root_bytes);
        else if (ph->p_type == PT_TLS && info->dlpi_tls_data)
            scan_range((uintptr_t)info->dlpi_tls_data, (uintptr_t)info->dlpi_tls_data + ph->p_memsz,
                       0, ST_REACHABLE, &S.root_bytes);
    }
    return 0;
}

static inline uintptr_t thread_pointer(void)
{
    uintptr_t tp;
    __asm__("mov %%fs:0, %0" : "=r"(tp));
    return tp;
}

/* The calling thread's stack from here up, with the callee-saved registers its callers held
 * (spilled into this frame by __builtin_unwind_init), and its thread control block. */
static PS_NOINLINE void own_stack_roots(uintptr_t top)
{
    __builtin_unwind_init();
    volatile uintptr_t anchor = 0;
    uintptr_t sp = (uintptr_t)&anchor;
    if (top > sp && top - sp < ((uintptr_t)1 << 30))
        scan_range(sp, top, 0, ST_REACHABLE, &S.root_bytes);
    const uint32_t *tcb_size = ps_real_libc_symbol("_thread_db_sizeof_pthread");
    uintptr_t tp = thread_pointer();
    if (tcb_size && *tcb_size && *tcb_size < 65536)
        scan_range(tp, tp + *tcb_size, 0, ST_REACHABLE, &S.root_bytes);
    (void)anchor;
}

static void collect_thread(ps_thread_t *t, void *arg)
{
    ps_thread_t *self = arg;
    if (t == self || t->unwind_cache.stack_hi <= 1 || S.nthreads >= MAX_THREADS)
        return;
    S.threads[S.nthreads].lo = t->unwind_cache.stack_lo;
    S.threads[S.nthreads].hi = t->unwind_cache.stack_hi;
    S.nthreads++;
}

/* ---- the scan ----------------------------------------------------------------------------- */

int ps_reach_wanted(void)
{
    /* Every live block must be tracked: not with sampling, nor when tracking started late
     * (PERFSHIM_START=off) or a section began (perfshim ctl), whose earlier blocks the scan
     * would not see. */
    return ps_g.opt.leak_scan && ps_g.opt.track && ps_g.opt.start && !ps_sample_ever() &&
           atomic_load_explicit(&ps_g.section_bits, memory_order_relaxed) == 0;
}

static void release(size_t bmap, size_t mmap_bytes)
{
    if (S.b)
        ps_os_unmap(S.b, bmap);
    if (S.mark)
        ps_os_unmap(S.mark, mmap_bytes);
    if (S.copy)
        ps_os_unmap(S.copy, COPY_BYTES);
    if (S.g)
        ps_os_unmap(S.g, S.gbytes);
    if (S.skip)
        ps_os_unmap(S.skip, SKIP_MAX * sizeof *S.skip);
    S.skip = NULL;
    S.nskip = S.skip_cap = 0;
    S.b = NULL;
    S.mark = NULL;
    S.copy = NULL;
    S.g = NULL;
}

static int write_rows(ps_buf_t *b, uint64_t time_ns, uint64_t t0)
{
    uint32_t nstacks = ps_stack_count();
    size_t sbytes = ((size_t)nstacks + 1) * sizeof(kind_sums_t);
    kind_sums_t *sums = ps_os_map(sbytes);
    if (!sums)
        return -1;
    static const int kind_of_state[] = {[ST_UNREACHED] = PS_LEAK_DEFINITELY,
                                        [ST_INDIRECT] = PS_LEAK_INDIRECTLY,
                                        [ST_POSSIBLE] = PS_LEAK_POSSIBLY,
                                        [ST_REACHABLE] = PS_LEAK_REACHABLE};
    uint64_t per_kind[PS_LEAK_KINDS] = {0};
    for (size_t i = 0; i < S.n; i++) {
        const blk_t *x = &S.b[i];
        uint32_t id = x->stack <= nstacks ? x->stack : 0;
        int k = kind_of_state[x->state];
        sums[id].blocks[k]++;
        sums[id].bytes[k] += x->size;
        per_kind[k]++;
    }
    ps_row_leak_kinds_head_t head = {.time_ns = time_ns,
                                     .blocks = S.n,
                                     .definitely = per_kind[PS_LEAK_DEFINITELY],
                                     .indirectly = per_kind[PS_LEAK_INDIRECTLY],
                                     .possibly = per_kind[PS_LEAK_POSSIBLY],
                                     .reachable = per_kind[PS_LEAK_REACHABLE],
                                     .root_bytes = S.root_bytes,
                                     .heap_bytes = S.heap_bytes,
                                     .unread_bytes = S.unread_bytes,
                                     .scan_ns = ps_os_clock_ns(CLOCK_THREAD_CPUTIME_ID) - t0,
                                     .threads = S.nthreads,
                                     .flags = S.safe ? PS_LEAK_F_THREADS_RAN : 0};
    ps_put_leak_kinds_head(b, &head);
    size_t at = ps_buf_table(b, PS_LEAK_KIND_ROW_SIZE);
    uint32_t rows = 0;
    for (uint32_t id = 0; id <= nstacks; id++)
        for (int k = 1; k < PS_LEAK_KINDS; k++)
            if (sums[id].blocks[k]) {
                ps_row_leak_kind_t r = {.stack_id = id,
                                        .kind = (uint32_t)k,
                                        .blocks = sums[id].blocks[k],
                                        .bytes = sums[id].bytes[k]};
                ps_put_leak_kind(b, &r);
                rows++;
            }
    ps_buf_patch_u32(b, at, rows);
    ps_os_unmap(sums, sbytes);
    return b->failed ? -1 : 0;
}

/* ---- anonymous mappings as roots ----------------------------------------------------------
 * memcheck scans every mapping the program can write; so does this, for the anonymous ones the
 * program made itself: CPython's pymalloc arenas (most of its objects), another allocator's
 * memory, a runtime's data and stacks (gforth's, MAP_NORESERVE); and for its private writable
 * mappings of files that hold private (written) pages: a runtime's relocated image (gforth's
 * dictionary). Not scanned: a module's mappings (its data was scanned above), a file mapping
 * with no page written, [heap] (glibc's chunks: the tracked blocks themselves, and free chunks
 * holding stale pointers), [stack] and other named regions but [anon:...], the shim's own .bss
 * (an anonymous mapping after its data segment: its state holds block addresses), every
 * mapping the shim made (ps_os_own_maps: its live table holds the address of every block;
 * they are MAP_NORESERVE too, but the kernel drops that flag with vm.overcommit_memory=2, and
 * valgrind's mappings lack it), the part of a mapping inside a module's extent (a library's
 * .bss: module_roots read it with the data segment), MAP_NORESERVE mappings at a 64 MiB
 * boundary (glibc's thread arenas: "nr" in VmFlags, GLIBC_HEAP_ALIGN), the tracked blocks
 * themselves (glibc's mmap'd chunks), and mappings over ANON_MAX (an address-space
 * reservation, not data).
 * /proc/self/smaps is read once, at most SMAPS_BYTES of it: what does not fit is not scanned. */
#define SMAPS_BYTES ((size_t)8 << 20)
#define ANON_MAX ((uintptr_t)1 << 30)

static int starts(const char *q, const char *prefix)
{
    while (*prefix)
        if (*q++ != *prefix++)
            return 0;
    return 1;
}

static uintptr_t parse_hex(const char **q)
{
    uintptr_t v = 0;
    for (;; (*q)++) {
        char c = **q;
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0)
            return v;
        v = v << 4 | (uintptr_t)d;
    }
}

/* Scans [lo, hi) as a root but for the tracked blocks in it (glibc's mmap'd chunks, which the
 * kernel may merge with the program's own anonymous mappings): the blocks are sorted by
 * address and do not overlap. */
static void scan_between_blocks(uintptr_t lo, uintptr_t hi)
{
    size_t a = 0, z = S.n;
    while (a < z) {
        size_t m = a + (z - a) / 2;
        if (S.b[m].addr < lo)
            a = m + 1;
        else
            z = m;
    }
    if (a > 0 && end_of(&S.b[a - 1]) > lo)
        lo = end_of(&S.b[a - 1]);
    for (; lo < hi; a++) {
        uintptr_t stop = a < S.n && S.b[a].addr < hi ? S.b[a].addr : hi;
        if (stop > lo)
            scan_range(lo, stop, S.vm_ok, ST_REACHABLE, &S.root_bytes);
        if (stop == hi)
            break;
        lo = end_of(&S.b[a]);
    }
    drain();
}

/* Scans [lo, hi) but for the ranges of S.skip (sorted by address, not overlapping). */
static void scan_outside_skips(uintptr_t lo, uintptr_t hi)
{
    size_t a = 0, z = S.nskip;
    while (a < z) { /* the first skip ending after lo */
        size_t m = a + (z - a) / 2;
        if (end_of(&S.skip[m]) <= lo)
            a = m + 1;
        else
            z = m;
    }
    for (; lo < hi && a < S.nskip && S.skip[a].addr < hi; a++) {
        if (S.skip[a].addr > lo)
            scan_between_blocks(lo, S.skip[a].addr);
        lo = end_of(&S.skip[a]);
    }
    if (lo < hi)
        scan_between_blocks(lo, hi);
}

/* The same for a mapping the program may have reserved far beyond what it uses (MAP_NORESERVE:
 * gforth's 8 MiB dictionary) or a file it mapped: only its resident pages (mincore), so that
 * the scan does not fault in the rest (gforth's peak RSS was 4 -> 12 MB); all of it if mincore
 * is refused. A page swapped out is not read. */
static void scan_resident(uintptr_t lo, uintptr_t hi)
{
    enum { VEC = 1024 };
    unsigned char vec[VEC];
    size_t page = ps_os_page_size();
    for (uintptr_t at = lo; at < hi;) {
        size_t pages = (hi - at) / page < VEC ? (hi - at) / page : VEC;
        if (pages == 0 || ps_os_resident((void *)at, pages * page, vec) != 0) {
            scan_outside_skips(at, hi);
            return;
        }
        for (size_t i = 0; i < pages;) {
            size_t j = i;
            while (j < pages && (vec[j] & 1))
                j++;
            if (j > i)
                scan_outside_skips(at + i * page, at + j * page);
            i = j + 1;
        }
        at += pages * page;
    }
}

/* Sorts S.skip by address and merges the ranges that overlap or touch. */
static void merge_skips(void)
{
    sort_blocks(S.skip, S.nskip);
    size_t n = 0;
    for (size_t i = 0; i < S.nskip; i++) {
        blk_t *x = &S.skip[i];
        if (n && x->addr <= end_of(&S.skip[n - 1])) {
            uintptr_t e = end_of(x) > end_of(&S.skip[n - 1]) ? end_of(x) : end_of(&S.skip[n - 1]);
            S.skip[n - 1].size = e - S.skip[n - 1].addr;
        } else {
            S.skip[n++] = *x;
        }
    }
    S.nskip = n;
}

/* A header line of smaps: "lo-hi perms offset dev inode [path]". Sets *lo, *hi and returns 1
 * when it is a private writable anonymous mapping (no path, or [anon:...]), 2 when it is a
 * private writable mapping of a file (a module's are left out by S.skip): the program mapped a
 * file and may have written pointers into its copy (gforth's relocated image), a root if it
 * has private pages; else 0. */
static int anon_header(const char *q, const char *eol, uintptr_t *lo, uintptr_t *hi)
{
    *lo = parse_hex(&q);
    if (*q++ != '-')
        return 0;
    *hi = parse_hex(&q);
    if (eol - q < 6 || q[0] != ' ' || q[1] != 'r' || q[2] != 'w' || q[4] != 'p')
        return 0;
    q += 5;                                   /* past the permissions */
    for (int field = 0; field < 3; field++) { /* offset, dev, inode */
        while (q < eol && *q == ' ')
            q++;
        const char *f = q;
        while (q < eol && *q != ' ')
            q++;
        if (field == 2 && !(q - f == 1 && *f == '0'))
            return 2; /* an inode: file-backed */
    }
    while (q < eol && *q == ' ')
        q++;
    return q == eol || (eol - q > 6 && starts(q, "[anon:"));
}

/* glibc's arenas other than the main one are heaps of HEAP_MAX_SIZE (64 MiB on 64-bit),
 * mapped MAP_NORESERVE at an address aligned to that size: their free chunks hold stale
 * pointers, and memcheck, which replaces malloc, never sees them. */
#define GLIBC_HEAP_ALIGN ((uintptr_t)64 << 20)

static void anon_roots(void)
{
    char *buf = ps_os_map(SMAPS_BYTES);
    if (!buf)
        return;
    ps_os_own_maps(skip_add, NULL); /* the module extents are in S.skip already */
    merge_skips();
    ssize_t n = ps_os_read_file("/proc/self/smaps", buf, SMAPS_BYTES);
    uintptr_t lo = 0, hi = 0;
    int cand = 0, private_pages = 0;
    for (const char *q = buf, *end = buf + (n > 0 ? n : 0); q < end;) {
        const char *eol = q;
        while (eol < end && *eol != '\n')
            eol++;
        if (eol == end)
            break; /* a cut line: the buffer is full */
        if ((*q >= '0' && *q <= '9') || (*q >= 'a' && *q <= 'f')) {
            cand = anon_header(q, eol, &lo, &hi);
            private_pages = 0;
        } else if (cand == 2 && eol - q > 10 && starts(q, "Anonymous:")) {
            const char *f = q + 10;
            while (f < eol && *f == ' ')
                f++;
            private_pages = *f >= '1' && *f <= '9'; /* "0 kB": none written */
        } else if (cand && eol - q > 8 && starts(q, "VmFlags:")) {
            int noreserve = 0;
            for (const char *f = q + 8; f + 3 <= eol; f++)
                if (f[0] == ' ' && f[1] == 'n' && f[2] == 'r' && (f + 3 == eol || f[3] == ' '))
                    noreserve = 1;
            int in_self = lo < S.self_hi && hi > S.self_lo; /* the shim's .bss (no S.skip) */
            int arena = noreserve && (lo & (GLIBC_HEAP_ALIGN - 1)) == 0;
            if ((cand == 1 || private_pages) && !arena && !in_self && hi > lo &&
                hi - lo <= ANON_MAX) {
                if (cand == 1 && !noreserve)
                    scan_outside_skips(lo, hi);
                else
                    scan_resident(lo, hi);
            }
            cand = 0;
        }
        q = eol + 1;
    }
    ps_os_unmap(buf, SMAPS_BYTES);
}

int ps_reach_write(ps_buf_t *b, uint64_t time_ns)
{
    uint64_t t0 = ps_os_clock_ns(CLOCK_THREAD_CPUTIME_ID);
    S.n = S.top = 0;
    S.lo = S.hi = 0;
    S.root_bytes = S.heap_bytes = S.unread_bytes = 0;
    S.nthreads = 0;
    S.clique = -1;
    S.self_lo = ps_g.self_start;
    ps_thread_t *self = ps_thread_peek();
    ps_track_for_each(collect_thread, self);
    S.safe = ps_track_threads_running() > (self ? 1 : 0);

    size_t pooled = 0;
    ps_pool_for_each_tracked(count_pooled, &pooled);
    S.cap = pooled + ps_track_live_count() + 1024; /* + what others may add meanwhile */
    size_t bmap = S.cap * sizeof(blk_t);
    S.mcap = 2 * S.cap; /* phase 1 pushes a block at most twice, phase 2 once */
    size_t mmap_bytes = S.mcap * sizeof(uint32_t);
    S.b = ps_os_map(bmap);
    S.mark = ps_os_map(mmap_bytes);
    S.copy = ps_os_map(COPY_BYTES);
    S.skip = ps_os_map(SKIP_MAX * sizeof *S.skip); /* without it: nothing skipped but the shim */
    S.nskip = 0;
    S.skip_cap = S.skip ? SKIP_MAX : 0;
    if (!S.b || !S.mark || !S.copy) {
        release(bmap, mmap_bytes);
        ps_msg_warn("cannot map %zu bytes for the leak scan; the leak report gives no classes",
                    bmap + mmap_bytes);
        return -1;
    }
    S.vm_ok = copy_in((uintptr_t)&S, 8) != 0;
    if (S.safe && !S.vm_ok) {
        release(bmap, mmap_bytes);
        ps_msg_warn("other threads still run at exit and process_vm_readv is refused; the leak "
                    "report gives no classes");
        return -1;
    }
    ps_pool_for_each_tracked(add_pooled, NULL);
    ps_track_for_each_live(add_live, NULL);
    sort_blocks(S.b, S.n);
    if (S.n) {
        S.lo = S.b[0].addr;
        const blk_t *last = &S.b[S.n - 1];
        S.hi = last->addr + (last->size ? last->size : 1);
        index_blocks();
    }

    /* phase 1: from the roots */
    dl_iterate_phdr(module_roots, NULL);
    uintptr_t tp = thread_pointer(), top = 0;
    uintptr_t here = (uintptr_t)__builtin_frame_address(0);
    if (here < (uintptr_t)__libc_stack_end && (uintptr_t)__libc_stack_end - here < (1u << 30))
        top = (uintptr_t)__libc_stack_end; /* the main thread */
    else if (self && self->unwind_cache.stack_hi > 1 && here < self->unwind_cache.stack_hi &&
             here >= self->unwind_cache.stack_lo)
        top = self->unwind_cache.stack_hi;
    else if (here < tp)
        top = tp; /* glibc puts a thread's control block right above its stack */
    own_stack_roots(top);
    drain();
    for (uint32_t i = 0; i < S.nthreads; i++) {
        scan_range(S.threads[i].lo, S.threads[i].hi, S.safe, ST_REACHABLE, &S.root_bytes);
        drain();
    }
    anon_roots();

    /* phase 2: the lost blocks, cliques in address order */
    for (size_t i = 0; i < S.n; i++) {
        if (S.b[i].state != ST_UNREACHED)
            continue;
        S.clique = (long)i;
        scan_block(i);
        drain();
    }
    S.clique = -1;
    int rc = write_rows(b, time_ns, t0);
    release(bmap, mmap_bytes);
    return rc;
}
