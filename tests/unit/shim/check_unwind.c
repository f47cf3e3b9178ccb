/* SPDX-License-Identifier: MIT */
/*
 * check_unwind.c — unit tests of shim/unwind.c, the .eh_frame-driven stack walker: its frames
 * must be exactly libunwind's on call chains of every common shape (deep recursion, rbp-based
 * frames from alloca, frame-pointer-less code, libc); the walk memo must return the right
 * stack when only an outer caller changed, and must actually hit; a signal frame must make it
 * hand over to libunwind; a signal context must be walkable; a flush must not change results.
 * Linked with the perfshim_core object library; libunwind is dlopen()ed for the reference.
 */
#include "internal.h"

#include <alloca.h>
#include <check.h>
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>

typedef int (*bt_fn)(void **, int);
static bt_fn unw;

static void load_libunwind(void)
{
    if (unw)
        return;
    void *h = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
    ck_assert_msg(h != NULL, "libunwind.so.8 must be installed (libunwind-dev)");
    unw = (bt_fn)dlsym(h, "unw_backtrace");
    ck_assert_ptr_nonnull(unw);
}

#define MAXF 200
static void *fa[MAXF], *fb[MAXF];
static int na, nb;

/* Both walkers from the same function: frame 0 differs (two call sites), the rest must not. */
static __attribute__((noinline)) void capture_both(void)
{
    na = ps_unwind_capture(fa, MAXF, NULL);
    nb = unw(fb, MAXF);
    __asm__ volatile("" ::: "memory");
}

static void assert_same_as_libunwind(const char *what)
{
    ck_assert_msg(na > 3, "%s: the fast walker gave up (%d)", what, na);
    if (na != nb) {
        Dl_info di;
        for (int i = 0; i < na || i < nb; i++) {
            const char *a = i < na && dladdr(fa[i], &di) && di.dli_sname ? di.dli_sname : "?";
            const char *b = i < nb && dladdr(fb[i], &di) && di.dli_sname ? di.dli_sname : "?";
            fprintf(stderr, "  #%d %p %s | %p %s\n", i, i < na ? fa[i] : NULL, a,
                    i < nb ? fb[i] : NULL, b);
        }
    }
    /* fa[0] is inside ps_unwind_capture, fb[0] inside capture_both: unw_backtrace leaves its
     * own frame out; from there on, frame for frame */
    ck_assert_msg(na == nb + 1, "%s: %d frames, libunwind %d", what, na - 1, nb);
    for (int i = 1; i < nb; i++)
        ck_assert_msg(fa[i + 1] == fb[i], "%s: frame %d is %p, libunwind says %p", what, i,
                      fa[i + 1], fb[i]);
}

static __attribute__((noinline)) int recurse(int n)
{
    volatile int keep = n;
    if (n == 0)
        capture_both();
    else
        keep += recurse(n - 1);
    return keep;
}

/* alloca makes GCC address the frame from rbp: CFA = rbp + 16 in the callers' rules. */
static __attribute__((noinline)) int with_alloca(int n, int depth)
{
    char *p = alloca((size_t)n);
    memset(p, n, (size_t)n);
    int r = p[n - 1];
    if (depth == 0)
        capture_both();
    else
        r += with_alloca(n + 16, depth - 1);
    __asm__ volatile("" ::"r"(p) : "memory");
    return r;
}

static int cmp_int(const void *a, const void *b)
{
    static int once;
    if (!once++)
        capture_both(); /* called back from libc's qsort: frames inside libc */
    return *(const int *)a - *(const int *)b;
}

/* Calls fn with the stack realigned and the CFA kept in rbx, as ld.so's lazy-binding trampoline
 * _dl_runtime_resolve_xsavec does (CFA = rbx + 16 here, rbx saved at CFA - 16). */
void rbx_cfa_call(void (*fn)(void));
__asm__(".pushsection .text\n"
        ".p2align 4\n"
        ".globl rbx_cfa_call\n"
        ".type rbx_cfa_call, @function\n"
        "rbx_cfa_call:\n"
        ".cfi_startproc\n"
        "    pushq %rbx\n"
        ".cfi_adjust_cfa_offset 8\n"
        ".cfi_rel_offset %rbx, 0\n"
        "    movq %rsp, %rbx\n"
        ".cfi_def_cfa_register %rbx\n"
        "    andq $-64, %rsp\n"
        "    subq $192, %rsp\n"
        "    call *%rdi\n"
        "    movq %rbx, %rsp\n"
        ".cfi_def_cfa_register %rsp\n"
        "    popq %rbx\n"
        ".cfi_adjust_cfa_offset -8\n"
        ".cfi_restore %rbx\n"
        "    ret\n"
        ".cfi_endproc\n"
        ".size rbx_cfa_call, .-rbx_cfa_call\n"
        ".popsection\n");

static __attribute__((noinline)) int through_rbx_cfa(int n)
{
    volatile int keep = n;
    if (n == 0)
        rbx_cfa_call(capture_both);
    else
        keep += through_rbx_cfa(n - 1);
    return keep;
}

START_TEST(test_matches_libunwind)
{
    load_libunwind();
    recurse(0);
    assert_same_as_libunwind("direct call");
    recurse(40);
    assert_same_as_libunwind("40-deep recursion");
    with_alloca(24, 5);
    assert_same_as_libunwind("alloca frames (rbp-based CFA)");
    int v[] = {3, 1, 2};
    qsort(v, 3, sizeof v[0], cmp_int);
    assert_same_as_libunwind("callback from libc's qsort");
    ck_assert_int_eq(v[0], 1);
    /* a frame whose CFA is in rbx: the register walk (walk_regs), not libunwind */
    uint64_t fb0 = ps_unwind_fallbacks();
    through_rbx_cfa(3);
    assert_same_as_libunwind("through a frame whose CFA is in rbx");
    ck_assert_uint_eq(ps_unwind_fallbacks(), fb0);
}
END_TEST

START_TEST(test_depth_limit_and_flush)
{
    load_libunwind();
    void *f[8];
    int n = ps_unwind_capture(f, 8, NULL);
    ck_assert_int_le(n, 8);
    ck_assert_int_gt(n, 2);
    void *before[MAXF];
    int nbefore = 0;
    for (int round = 0; round < 2; round++) {
        if (round == 1)
            ps_unwind_flush(); /* as after a dlclose: every rule is derived again */
        recurse(10);
        if (round == 0) {
            nbefore = na;
            memcpy(before, fa, sizeof fa);
        }
    }
    ck_assert_int_eq(na, nbefore);
    for (int i = 1; i < 13; i++) /* capture_both and the 11 recurse frames */
        ck_assert_ptr_eq(fa[i], before[i]);
}
END_TEST

/* ---- the walk memo ------------------------------------------------------------------------ */
static int interned;
static uint32_t fake_intern(void **ips, int n, void *arg)
{
    (void)arg;
    interned++;
    uint32_t h = 2166136261u;
    for (int i = 1; i < n; i++) { /* frame 0 is inside ps_unwind_stack_id's caller: same */
        h ^= (uint32_t)(uintptr_t)ips[i];
        h *= 16777619u;
    }
    return h & 0x7fffffff;
}

static ps_unwind_tcache_t *tcache;

static __attribute__((noinline)) int64_t leaf(void)
{
    int64_t id = ps_unwind_stack_id(tcache, 64, fake_intern, NULL);
    __asm__ volatile("" ::: "memory");
    return id;
}

/* g and h have the same frame: leaf runs at the same stack address under either, and only
 * the return address into g or h tells the two stacks apart. */
static __attribute__((noinline)) int64_t via_g(void)
{
    volatile char pad[40];
    pad[0] = 1;
    int64_t id = leaf();
    pad[1] = 2;
    return id + pad[0] - 1;
}

static __attribute__((noinline)) int64_t via_h(void)
{
    volatile char pad[40];
    pad[0] = 1;
    int64_t id = leaf();
    pad[1] = 3;
    return id + pad[0] - 1;
}

static void do_nothing(void) {}

static void recurse3(void)
{
    recurse(3);
}

START_TEST(test_memo_exact_and_hits)
{
    tcache = calloc(1, sizeof *tcache);
    ck_assert_ptr_nonnull(tcache);
    int64_t (*const fns[2])(void) = {via_g, via_h};
    int64_t id[8];
    interned = 0;
    for (int i = 0; i < 8; i++)
        id[i] = fns[i & 1]();
    for (int i = 0; i < 8; i++)
        ck_assert_int_ge(id[i], 0);
    ck_assert_msg(id[0] != id[1], "a changed caller must change the stack");
    for (int i = 2; i < 8; i++)
        ck_assert_int_eq(id[i], id[i & 1]);
    ck_assert_msg(interned == 2, "the memo must answer repeated stacks (interned %d times)",
                  interned);
    /* the same call site again, after other work and after a flush (which empties the
     * memos: that walk is interned again, and must give the same stack) */
    int64_t again[3];
    void (*const before_call[3])(void) = {do_nothing, recurse3, ps_unwind_flush};
    for (int i = 0; i < 3; i++) {
        before_call[i]();
        again[i] = fns[0](); /* one call site: the stacks are the same */
    }
    ck_assert_int_eq(again[0], again[1]);
    ck_assert_int_eq(again[0], again[2]);
    ck_assert_int_eq(interned, 4); /* g, h, this loop's g, and the same after the flush */
    ps_unwind_thread_exit(tcache);
    free(tcache);
}
END_TEST

/* The memo starts small and grows as the thread misses: after a few hundred distinct walks it
 * must have grown, and still answer a repeated stack without walking it again. */
static __attribute__((noinline)) int64_t leaf_at_depth(int n)
{
    volatile int keep = n;
    int64_t id = n == 0 ? leaf() : leaf_at_depth(n - 1);
    return id + keep - n;
}

START_TEST(test_memo_grows)
{
    tcache = calloc(1, sizeof *tcache);
    ck_assert_ptr_nonnull(tcache);
    interned = 0;
    ck_assert_int_ge(via_g(), 0);
    uint32_t first_sets = tcache->memo_sets;
    ck_assert_uint_gt(first_sets, 0);
    /* one call site for every walk (the frames above it must be the same): 400 distinct
     * depths, then some of them again after the ring of recorded words came round several
     * times, then a deep stack twice (more words than a fixed-size memo entry held) */
    enum { DISTINCT = 400, AGAIN = 11, CALLS = DISTINCT + AGAIN + 2 };
    static int depth[CALLS], interned_before[CALLS];
    static int64_t ids[CALLS];
    for (int i = 0; i < DISTINCT; i++)
        depth[i] = i;
    for (int i = 0; i < AGAIN; i++)
        depth[DISTINCT + i] = i * 37;
    depth[CALLS - 2] = depth[CALLS - 1] = 90;
    for (int i = 0; i < CALLS; i++) {
        interned_before[i] = interned;
        ids[i] = leaf_at_depth(depth[i]);
        ck_assert_int_ge(ids[i], 0);
        if (i == DISTINCT - 1)
            ck_assert_msg(tcache->memo_sets > first_sets, "the memo did not grow (%u sets)",
                          tcache->memo_sets);
    }
    for (int i = DISTINCT; i < CALLS; i++)
        ck_assert_int_eq(ids[i], ids[depth[i]]);
    ck_assert_msg(interned == interned_before[CALLS - 1],
                  "a 90-frame stack was walked again instead of coming from the memo");
    ck_assert_uint_le(tcache->memo_sets, PS_UNWIND_MEMO_SETS);
    int before = interned;
    int64_t g_ids[2];
    volatile int rounds = 2; /* one call site, called twice */
    for (int i = 0; i < rounds; i++)
        g_ids[i] = via_g();
    ck_assert_int_eq(g_ids[0], g_ids[1]);
    ck_assert_int_le(interned, before + 1); /* the second walk came from the memo */
    ps_unwind_thread_exit(tcache);
    free(tcache);
}
END_TEST

/* The shared rule table grows while other threads read it: rules of thousands of addresses
 * in libc's text, derived from two threads, must be the same before and after it grew. */
static uintptr_t libc_text_lo, libc_text_hi;

static int find_libc_text(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    uintptr_t probe = (uintptr_t)data;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X) && probe >= lo && probe < hi) {
            libc_text_lo = lo;
            libc_text_hi = hi;
            return 1;
        }
    }
    return 0;
}

#define RULE_PCS 6000
static uint64_t rules_seen[2][RULE_PCS];

static uintptr_t rule_pc(int i)
{
    return libc_text_lo + (uintptr_t)i * ((libc_text_hi - libc_text_lo) / RULE_PCS);
}

static void *rule_worker(void *arg)
{
    int which = (int)(intptr_t)arg;
    for (int k = 0; k < RULE_PCS; k++) {
        int i = which ? RULE_PCS - 1 - k : k;
        rules_seen[which][i] = ps_unwind_rule_of(rule_pc(i));
    }
    return NULL;
}

START_TEST(test_rule_table_grows)
{
    dl_iterate_phdr(find_libc_text, (void *)(uintptr_t)&qsort);
    ck_assert_uint_gt(libc_text_hi, libc_text_lo + RULE_PCS);
    size_t cap0 = ps_unwind_rule_capacity();
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, rule_worker, (void *)(intptr_t)i);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    size_t cap1 = ps_unwind_rule_capacity();
    ck_assert_msg(cap1 > cap0 && cap1 >= RULE_PCS, "the rule table did not grow (%zu -> %zu)", cap0,
                  cap1);
    int usable = 0;
    for (int i = 0; i < RULE_PCS; i++) {
        uint64_t r = ps_unwind_rule_of(rule_pc(i));
        ck_assert_uint_ne(r, 0);
        ck_assert_uint_eq(r, rules_seen[0][i]);
        ck_assert_uint_eq(r, rules_seen[1][i]);
        usable += !(r & 0x10); /* not R_BAD */
    }
    ck_assert_int_gt(usable, RULE_PCS / 2); /* libc's code has unwind tables */
}
END_TEST

/* Rows (the rules of a whole FDE, derived in one pass) must give exactly the rule that running
 * the FDE's program up to the address gives: every FDE of libc, both ways, compared. */
START_TEST(test_rows_match_slow_path)
{
    dl_iterate_phdr(find_libc_text, (void *)(uintptr_t)&qsort);
    ck_assert_uint_gt(libc_text_hi, libc_text_lo + RULE_PCS);
    static uint64_t slow[RULE_PCS];
    ps_unwind_set_rows_min(SIZE_MAX); /* never rows */
    ps_unwind_flush();
    for (int i = 0; i < RULE_PCS; i++)
        slow[i] = ps_unwind_rule_of(rule_pc(i));
    ps_unwind_set_rows_min(0); /* rows for every FDE */
    ps_unwind_flush();
    int usable = 0;
    for (int i = 0; i < RULE_PCS; i++) {
        uint64_t r = ps_unwind_rule_of(rule_pc(i));
        ck_assert_msg(r == slow[i], "pc %p: rows give %#llx, the program %#llx", (void *)rule_pc(i),
                      (unsigned long long)r, (unsigned long long)slow[i]);
        usable += !(r & 0x10);
    }
    ck_assert_int_gt(usable, RULE_PCS / 2);
    ps_unwind_set_rows_min(1024);
    ps_unwind_flush();
}
END_TEST

/* ---- code without unwind tables (a JIT) ------------------------------------------------------
 * Machine code generated at run time into an anonymous executable page, keeping rbp as a frame
 * pointer as V8 does: the walker must step it with its frame record and give exactly the true
 * callers. Code that does not keep a frame pointer, or whose frame record holds no return
 * address, must make it give up (libunwind then), never guess. */
typedef void (*jit_fn)(void (*)(void));
static uint8_t *jit_page;
static jit_fn jit_fp, jit_fp2, jit_nofp, jit_fake;
static uintptr_t jit_fp_ret, jit_fp2_ret; /* return addresses into them */

static void emit_jit(void)
{
    jit_page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(jit_page, MAP_FAILED);
    uint8_t *p = jit_page;
    /* jit_fp(fn): push rbp; mov rbp, rsp; call rdi; pop rbp; ret */
    static const uint8_t fp[] = {0x55, 0x48, 0x89, 0xe5, 0xff, 0xd7, 0x5d, 0xc3};
    memcpy(p, fp, sizeof fp);
    jit_fp = (jit_fn)(void *)p;
    jit_fp_ret = (uintptr_t)p + 6;
    p += 16;
    /* jit_fp2(fn): push rbp; mov rbp, rsp; movabs rax, jit_fp; call rax; pop rbp; ret */
    static const uint8_t fp2[] = {0x55, 0x48, 0x89, 0xe5, 0x48, 0xb8};
    memcpy(p, fp2, sizeof fp2);
    uint64_t target = (uint64_t)(uintptr_t)jit_fp;
    memcpy(p + 6, &target, 8);
    static const uint8_t fp2_tail[] = {0xff, 0xd0, 0x5d, 0xc3};
    memcpy(p + 14, fp2_tail, sizeof fp2_tail);
    jit_fp2 = (jit_fn)(void *)p;
    jit_fp2_ret = (uintptr_t)p + 16;
    p += 32;
    /* jit_nofp(fn): push rbp; mov ebp, 0x1234 (rbp used as a plain register); call rdi;
     * pop rbp; ret */
    static const uint8_t nofp[] = {0x55, 0xbd, 0x34, 0x12, 0x00, 0x00, 0xff, 0xd7, 0x5d, 0xc3};
    memcpy(p, nofp, sizeof nofp);
    jit_nofp = (jit_fn)(void *)p;
    p += 16;
    jit_fake = (jit_fn)(void *)p;
    ck_assert_int_eq(mprotect(jit_page, 4096, PROT_READ | PROT_EXEC), 0);
}

/* jit_fake(fn): rbp points at a frame record in the stack whose "return address" is `fake`
 * and whose saved rbp points at jit_fake's own, genuine record (so that a walker that took
 * `fake` for a return address would go on to a complete stack, one frame too many):
 * push rbp; mov rax, rsp; movabs rcx, fake; push rcx; push rax; mov rbp, rsp; call rdi;
 * add rsp, 16; pop rbp; ret */
static void emit_fake(uintptr_t fake)
{
    ck_assert_int_eq(mprotect(jit_page, 4096, PROT_READ | PROT_WRITE), 0);
    uint8_t *p = (uint8_t *)(void *)jit_fake;
    static const uint8_t head[] = {0x55, 0x48, 0x89, 0xe0, 0x48, 0xb9};
    static const uint8_t tail[] = {0x51, 0x50, 0x48, 0x89, 0xe5, 0xff, 0xd7,
                                   0x48, 0x83, 0xc4, 0x10, 0x5d, 0xc3};
    memcpy(p, head, sizeof head);
    uint64_t v = fake;
    memcpy(p + sizeof head, &v, 8);
    memcpy(p + sizeof head + 8, tail, sizeof tail);
    ck_assert_int_eq(mprotect(jit_page, 4096, PROT_READ | PROT_EXEC), 0);
}

static uint8_t not_code[64]; /* data of this program: readable, not executable */

static void *jit_frames[MAXF];
static int jit_n;

static __attribute__((noinline)) void in_jit(void)
{
    jit_n = ps_unwind_capture(jit_frames, MAXF, NULL);
    __asm__ volatile("" ::: "memory");
}

/* Calls through the generated code, then captures from here for the frames above. */
static __attribute__((noinline)) void call_jit(jit_fn f)
{
    f(in_jit);
    capture_both();
    __asm__ volatile("" ::: "memory");
}

START_TEST(test_frame_pointer_code)
{
    load_libunwind();
    emit_jit();
    uint64_t fallbacks = ps_unwind_fallbacks();
    for (int nested = 0; nested < 2; nested++) {
        call_jit(nested ? jit_fp2 : jit_fp);
        ck_assert_msg(jit_n > 0, "a walk through frame-pointer JIT code gave up");
        /* jit_frames: [0] in ps_unwind_capture, [1] in in_jit, [2] into jit_fp, ([3] into
         * jit_fp2), then into call_jit, then call_jit's callers: fa[2..] of capture_both's
         * walk from call_jit (fa[1] is in capture_both, fa[2] in call_jit) */
        int k = 2;
        ck_assert_msg((uintptr_t)jit_frames[k] == jit_fp_ret, "frame %d: %p, want %p", k,
                      jit_frames[k], (void *)jit_fp_ret);
        k++;
        if (nested) {
            ck_assert_msg((uintptr_t)jit_frames[k] == jit_fp2_ret, "frame %d: %p, want %p", k,
                          jit_frames[k], (void *)jit_fp2_ret);
            k++;
        }
        ck_assert_uint_gt((uintptr_t)jit_frames[k], (uintptr_t)call_jit);
        ck_assert_uint_lt((uintptr_t)jit_frames[k], (uintptr_t)fa[2]); /* before capture_both */
        k++;
        ck_assert_int_eq(jit_n - k, na - 3);
        for (int i = 3; i < na; i++)
            ck_assert_ptr_eq(jit_frames[k + i - 3], fa[i]);
    }
    ck_assert_uint_eq(ps_unwind_fallbacks(), fallbacks);
    /* no frame pointer: rbp = 0x1234, outside the stack */
    call_jit(jit_nofp);
    ck_assert_int_eq(jit_n, -1);
    /* frame records whose "return address" is not one: not mapped; in a program's data; in
     * readable anonymous memory that holds no call before it */
    uint8_t *anon = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(anon, MAP_FAILED);
    memset(anon, 0x90, 4096);
    memset(not_code, 0xe8, sizeof not_code); /* would look like call rel32 if it were code */
    uintptr_t fakes[] = {0x1234, (uintptr_t)not_code + 32, (uintptr_t)anon + 64};
    for (int i = 0; i < 3; i++) {
        emit_fake(fakes[i]);
        call_jit(jit_fake);
        ck_assert_msg(jit_n == -1, "return address %p taken for one (%d frames)", (void *)fakes[i],
                      jit_n);
    }
    munmap(anon, 4096);
    munmap(jit_page, 4096);
}
END_TEST

/* ---- signals ------------------------------------------------------------------------------- */
static volatile int sig_ctx_n, sig_capture_n;
static uintptr_t sig_frames[64];

static void on_usr1(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)si;
    sig_ctx_n = ps_unwind_from_context(uc, sig_frames, 64, NULL);
    void *tmp[64];
    sig_capture_n = ps_unwind_capture(tmp, 64, NULL);
}

static __attribute__((noinline)) void raise_here(void)
{
    raise(SIGUSR1);
    __asm__ volatile("" ::: "memory");
}

START_TEST(test_signal_frames)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_usr1;
    sa.sa_flags = SA_SIGINFO;
    ck_assert_int_eq(sigaction(SIGUSR1, &sa, NULL), 0);
    raise_here();
    ck_assert_msg(sig_capture_n == -1,
                  "a walk through the signal trampoline must hand over to libunwind (%d)",
                  sig_capture_n);
    ck_assert_int_gt(sig_ctx_n, 2);
    int found = 0;
    for (int i = 0; i < sig_ctx_n; i++)
        if (sig_frames[i] > (uintptr_t)raise_here && sig_frames[i] < (uintptr_t)raise_here + 64)
            found = 1;
    ck_assert_msg(found, "the interrupted context's stack must pass through raise_here");
}
END_TEST

/* ---- a stack the thread does not own (coroutines, makecontext) ---------------------------- */
static ucontext_t main_ctx, co_ctx;
static int64_t co_id;

static void on_coroutine(void)
{
    co_id = ps_unwind_stack_id(tcache, 64, fake_intern, NULL);
}

START_TEST(test_foreign_stack_falls_back)
{
    tcache = calloc(1, sizeof *tcache);
    size_t size = 256 * 1024;
    char *stack = malloc(size);
    ck_assert_ptr_nonnull(stack);
    ck_assert_int_eq(getcontext(&co_ctx), 0);
    co_ctx.uc_stack.ss_sp = stack;
    co_ctx.uc_stack.ss_size = size;
    co_ctx.uc_link = &main_ctx;
    makecontext(&co_ctx, on_coroutine, 0);
    co_id = 12345;
    ck_assert_int_eq(swapcontext(&main_ctx, &co_ctx), 0);
    ck_assert_msg(co_id == -1, "a walk on a stack outside the thread's must go to libunwind");
    ck_assert_int_ge(via_g(), 0); /* and the thread's own stack still walks */
    ps_unwind_thread_exit(tcache);
    free(tcache);
    free(stack);
}
END_TEST

int main(void)
{
    if (ps_unwind_init() != 0) {
        fprintf(stderr, "check_unwind: ps_unwind_init failed (glibc without _dl_find_object?)\n");
        return 1;
    }
    Suite *s = suite_create("shim_unwind");
    TCase *tc = tcase_create("unwind");
    tcase_add_test(tc, test_matches_libunwind);
    tcase_add_test(tc, test_depth_limit_and_flush);
    tcase_add_test(tc, test_memo_exact_and_hits);
    tcase_add_test(tc, test_memo_grows);
    tcase_add_test(tc, test_rule_table_grows);
    tcase_add_test(tc, test_rows_match_slow_path);
    tcase_add_test(tc, test_frame_pointer_code);
    tcase_add_test(tc, test_signal_frames);
    tcase_add_test(tc, test_foreign_stack_falls_back);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
