/* SPDX-License-Identifier: MIT */
/*
 * unwind.c — perfshim's own x86-64 stack walker, driven by the programs' .eh_frame tables.
 *
 * Why: libunwind's unw_backtrace costs ~160 ns per allocation on sqlite3-like programs (about
 * half of full tracking's overhead) and sets up a 256 KiB cache per thread. Almost every frame
 * of compiled code on x86-64 follows one of a few shapes at a call site: CFA = rsp + k or
 * rbp + k, return address at CFA - 8, rbp either untouched or saved at CFA + m. We derive that
 * rule once per return address from the FDE (a small DWARF CFI interpreter), cache it in a
 * lock-free table, and then a frame costs one hash probe and two loads.
 *
 * What it must not do: allocate, take locks, or call anything but _dl_find_object (lock-free
 * and async-signal-safe by glibc's contract) and only on a cache miss (with sampling, then also
 * one madvise system call: drop_tables). Any frame whose rule is
 * not one of the simple shapes (signal trampolines, CFA expressions, code with no unwind
 * table, realigned stacks) makes the walk return -1, and the caller unwinds that one stack
 * with libunwind instead: the fast path never guesses. Frames whose CFA is in another
 * register (ld.so's lazy-binding trampolines) or a PLT stub's expression are the exception:
 * such a stack is walked again by walk_regs, which follows every register (see there).
 *
 * Memory safety: every load is from the current thread's stack, bounded by [sp, top) where
 * top is the end of the thread's stack, recorded when the shim started the thread (threads.c),
 * or __libc_stack_end for the main thread; a thread the shim did not start has unknown bounds
 * and goes to libunwind. A CFA outside those bounds or not above the previous one ends the
 * walk with -1. Finding the bounds must not call anything that locks or allocates: see the
 * re-entrancy audit in docs/architecture.md.
 * Rules are cached by absolute address, so dlclose() must flush the cache (interpose.c does).
 */
#include "internal.h"

#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <pthread.h>
#include <string.h>
#include <ucontext.h>

extern void *__libc_stack_end;
/* glibc >= 2.35. Weak, so that an older glibc merely disables the fast unwinder. */
extern int _dl_find_object(void *address, struct dl_find_object *result) __attribute__((weak));

/* ---- cached rules --------------------------------------------------------------------------
 * One 64-bit word per return address:
 *   bit 0  present (a word of 0 means "not written yet")
 *   bit 1  CFA is rbp-based (else rsp-based)
 *   bit 2  rbp is saved at CFA + rbp_off (else unchanged by this frame)
 *   bit 3  end of stack: the return address is undefined (outermost frame)
 *   bit 4  unusable: the walk must give up and let libunwind do this stack
 *   bit 5  frame-pointer frame: no unwind table covers the address (JIT code, V8's builtins),
 *          and it was verified to follow a call instruction in executable code; the frame
 *          record at rbp (saved rbp, return address) is checked against the stack at each walk
 *   bit 6  (with bit 4) the frame is not a simple shape, but the register walk can step it:
 *          its CFA is in another register (ld.so's lazy-binding trampoline keeps it in rbx) or
 *          a PLT stub's expression (walk_regs, eval_expr)
 *   bits 8..27   low 20 bits of the address, to reject a slot rewritten under us
 *   bits 28..39  rbp_off / 8, signed
 *   bits 40..63  CFA offset, unsigned (bytes) */
#define R_PRESENT 0x1ull
#define R_CFA_RBP 0x2ull
#define R_RBP_SAVED 0x4ull
#define R_END 0x8ull
#define R_BAD 0x10ull
#define R_FP 0x20ull
#define R_REGS 0x40ull
#define R_PCBITS(pc) ((((uint64_t)(pc)) & 0xfffffull) << 8)
#define R_PCMASK (0xfffffull << 8)

static inline int64_t rule_rbp_off(uint64_t r)
{
    int64_t v = (int64_t)((r >> 28) & 0xfffu);
    if (v & 0x800)
        v -= 0x1000;
    return v * 8;
}
static inline uint64_t rule_cfa_off(uint64_t r)
{
    return r >> 40;
}

typedef struct rule_slot_s {
    _Atomic uintptr_t key; /* the address the rule is for; 0 = empty */
    _Atomic uint64_t rule; /* encoded as above; 0 = being written */
} rule_slot_t;

/* The shared rule table. It starts at 256 rules and doubles when half its slots are taken,
 * up to 64 Ki: a table of the largest size touched about 250 random pages of every process
 * (twice each: a read of the zero page, then a copy on write), which cost a short one like
 * `gcc -c` more than its rules were worth. A bigger table is filled from the current one and
 * replaces it; the old one stays mapped with its pages (but the first) given back, so a
 * walker still reading it finds empty slots (a miss: the rule is derived again). Growth is done by
 * whoever takes `growing` (never waited for: a signal handler may be the one that finds the table
 * full). */
typedef struct rule_table_s {
    unsigned bits;    /* capacity = 1 << bits */
    atomic_uint used; /* slots claimed */
    size_t bytes;     /* size of the mapping */
    rule_slot_t slot[];
} rule_table_t;

#define RC_INITIAL_BITS 8 /* 256 rules, 4 KiB: a sampled short process walks a few dozen pcs */
#define RC_MAX_BITS 16    /* 64 Ki rules, 1 MiB */
#define RC_PROBE 8        /* a rule not found within this many slots is recomputed */

static _Atomic(rule_table_t *) rtable;
static atomic_int growing;       /* 1 while a thread builds a bigger table or flushes */
static atomic_ullong generation; /* bumped by ps_unwind_flush: thread caches start over */
static atomic_ullong fallbacks;  /* walks that gave up (the caller used libunwind) */

/* ---- DWARF pointer encodings and LEB128 -------------------------------------------------- */
enum {
    PE_ABSPTR = 0x00,
    PE_ULEB128 = 0x01,
    PE_UDATA2 = 0x02,
    PE_UDATA4 = 0x03,
    PE_UDATA8 = 0x04,
    PE_SLEB128 = 0x09,
    PE_SDATA2 = 0x0a,
    PE_SDATA4 = 0x0b,
    PE_SDATA8 = 0x0c,
    PE_PCREL = 0x10,
    PE_DATAREL = 0x30,
    PE_INDIRECT = 0x80,
    PE_OMIT = 0xff,
};

typedef struct cursor_s {
    const uint8_t *p, *end;
    int bad;
} cursor_t;

static uint64_t uleb(cursor_t *c)
{
    uint64_t v = 0;
    for (unsigned shift = 0; c->p < c->end; shift += 7) {
        uint8_t b = *c->p++;
        if (shift < 64)
            v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return v;
    }
    c->bad = 1;
    return 0;
}

static int64_t sleb(cursor_t *c)
{
    uint64_t v = 0;
    unsigned shift = 0;
    while (c->p < c->end) {
        uint8_t b = *c->p++;
        if (shift < 64)
            v |= (uint64_t)(b & 0x7f) << shift;
        shift += 7;
        if (!(b & 0x80)) {
            if (shift < 64 && (b & 0x40))
                v |= ~(uint64_t)0 << shift;
            return (int64_t)v;
        }
    }
    c->bad = 1;
    return 0;
}

static uint64_t fixed(cursor_t *c, unsigned n)
{
    if ((size_t)(c->end - c->p) < n) {
        c->bad = 1;
        return 0;
    }
    uint64_t v = 0;
    memcpy(&v, c->p, n); /* little-endian host */
    c->p += n;
    return v;
}

/* Reads a pointer in encoding enc; datarel is relative to dbase. */
static uintptr_t encoded(cursor_t *c, uint8_t enc, uintptr_t dbase)
{
    if (enc == PE_OMIT)
        return 0;
    uintptr_t here = (uintptr_t)c->p, v;
    switch (enc & 0x0f) {
    case PE_ABSPTR:
        v = (uintptr_t)fixed(c, 8);
        break;
    case PE_ULEB128:
        v = (uintptr_t)uleb(c);
        break;
    case PE_SLEB128:
        v = (uintptr_t)sleb(c);
        break;
    case PE_UDATA2:
        v = (uintptr_t)fixed(c, 2);
        break;
    case PE_UDATA4:
        v = (uintptr_t)fixed(c, 4);
        break;
    case PE_UDATA8:
        v = (uintptr_t)fixed(c, 8);
        break;
    case PE_SDATA2:
        v = (uintptr_t)(int64_t)(int16_t)fixed(c, 2);
        break;
    case PE_SDATA4:
        v = (uintptr_t)(int64_t)(int32_t)fixed(c, 4);
        break;
    case PE_SDATA8:
        v = (uintptr_t)fixed(c, 8);
        break;
    default:
        c->bad = 1;
        return 0;
    }
    if (v == 0 && (enc & 0x70) != 0)
        return 0; /* a relative 0 still means "none" */
    switch (enc & 0x70) {
    case 0:
        break;
    case PE_PCREL:
        v += here;
        break;
    case PE_DATAREL:
        v += dbase;
        break;
    default:
        c->bad = 1;
        return 0; /* textrel/funcrel/aligned: not produced on x86-64 */
    }
    if (enc & PE_INDIRECT)
        v = *(const uintptr_t *)v;
    return v;
}

/* ---- CFI interpretation -------------------------------------------------------------------- */
/* DWARF register numbers (x86-64 psABI): 0 rax, 1 rdx, 2 rcx, 3 rbx, 4 rsi, 5 rdi, 6 rbp,
 * 7 rsp, 8..15 r8..r15, 16 the return address */
enum { DW_RBX = 3, DW_RBP = 6, DW_RSP = 7, DW_RA = 16, DW_NREGS = 17 };
/* how a register of the caller is found: K_OFFSET saved at CFA + off, K_VALOFF its value is
 * CFA + off, K_REG it is in register off of this frame; K_OTHER an expression (unusable) */
enum { K_SAME = 0, K_OFFSET, K_UNDEF, K_OTHER, K_VALOFF, K_REG };

typedef struct reg_rule_s {
    uint8_t kind; /* K_* */
    int32_t off;
} reg_rule_t;

typedef struct cfi_state_s {
    int cfa_reg;         /* DWARF register number the CFA is based on */
    int64_t cfa_off;     /* CFA = reg + cfa_off */
    int cfa_expr;        /* CFA given by an expression (expr): only walk_regs, maybe */
    const uint8_t *expr; /* the expression, expr_len bytes */
    uint64_t expr_len;
    reg_rule_t reg[DW_NREGS]; /* [DW_RBP] and [DW_RA] make the cached rule; all of them the
                               * register walk (walk_regs) */
} cfi_state_t;

typedef struct cie_s {
    uint64_t code_align;
    int64_t data_align;
    uint64_t ra_reg;
    uint8_t fde_enc;
    int signal_frame;
    int has_aug_data; /* augmentation "z...": FDEs carry an augmentation data length */
    const uint8_t *insns, *insns_end;
} cie_t;

static reg_rule_t *track(cfi_state_t *s, uint64_t reg)
{
    return reg < DW_NREGS ? &s->reg[reg] : NULL;
}

static void restore(cfi_state_t *s, const cfi_state_t *init, uint64_t reg)
{
    if (reg < DW_NREGS)
        s->reg[reg] = init->reg[reg];
}

/* r takes kind k with offset off, or K_OTHER if off does not fit */
static void set_rule(reg_rule_t *r, uint8_t k, int64_t off)
{
    if (!r)
        return;
    r->kind = off >= INT32_MIN && off <= INT32_MAX ? k : K_OTHER;
    r->off = (int32_t)off;
}

/* The rows of a whole FDE: the state at each location where it changes (see fde_rows). */
typedef struct rows_s rows_t;
static void rows_emit(rows_t *rows, uintptr_t loc, const cfi_state_t *s);

/* Runs CFA instructions [p, end) starting at location loc, stopping before the first
 * instruction that applies beyond target. init is the state after the CIE (for restore).
 * rows (target UINTPTR_MAX): receives the state before every change of location, and the
 * final one. */
PS_COLD static int run_cfi(const cie_t *cie, const uint8_t *p, const uint8_t *end, uintptr_t loc,
                           uintptr_t target, cfi_state_t *s, const cfi_state_t *init, rows_t *rows)
{
    cfi_state_t stack[8];
    int depth = 0;
    cursor_t c = {p, end, 0};
    while (c.p < c.end && !c.bad) {
        uint8_t op = *c.p++;
        uint64_t reg, delta = 0;
        int64_t off;
        reg_rule_t *r;
        switch (op & 0xc0) {
        case 0x40: /* advance_loc */
            delta = (op & 0x3f) * cie->code_align;
            goto advance;
        case 0x80: /* offset */
            off = (int64_t)uleb(&c) * cie->data_align;
            set_rule(track(s, op & 0x3f), K_OFFSET, off);
            continue;
        case 0xc0: /* restore */
            restore(s, init, op & 0x3f);
            continue;
        }
        switch (op) {
        case 0x00: /* nop */
            break;
        case 0x01: /* set_loc */
            if (rows)
                rows_emit(rows, loc, s);
            loc = encoded(&c, cie->fde_enc, 0);
            if (loc > target)
                return 0;
            break;
        case 0x02:
            delta = fixed(&c, 1) * cie->code_align;
            goto advance;
        case 0x03:
            delta = fixed(&c, 2) * cie->code_align;
            goto advance;
        case 0x04:
            delta = fixed(&c, 4) * cie->code_align;
            goto advance;
        case 0x05: /* offset_extended */
            reg = uleb(&c);
            off = (int64_t)uleb(&c) * cie->data_align;
            set_rule(track(s, reg), K_OFFSET, off);
            break;
        case 0x06: /* restore_extended */
            restore(s, init, uleb(&c));
            break;
        case 0x07: /* undefined */
            if ((r = track(s, uleb(&c))))
                r->kind = K_UNDEF;
            break;
        case 0x08: /* same_value */
            if ((r = track(s, uleb(&c))))
                r->kind = K_SAME;
            break;
        case 0x09: /* register */
            reg = uleb(&c);
            off = (int64_t)uleb(&c);
            set_rule(track(s, reg), off < DW_NREGS ? K_REG : K_OTHER, off);
            break;
        case 0x0a: /* remember_state */
            if (depth == (int)(sizeof stack / sizeof stack[0]))
                return -1;
            stack[depth++] = *s;
            break;
        case 0x0b: /* restore_state */
            if (depth == 0)
                return -1;
            *s = stack[--depth];
            break;
        case 0x0c: /* def_cfa */
            s->cfa_reg = (int)uleb(&c);
            s->cfa_off = (int64_t)uleb(&c);
            s->cfa_expr = 0;
            break;
        case 0x0d: /* def_cfa_register */
            s->cfa_reg = (int)uleb(&c);
            s->cfa_expr = 0;
            break;
        case 0x0e: /* def_cfa_offset */
            s->cfa_off = (int64_t)uleb(&c);
            break;
        case 0x0f: /* def_cfa_expression */
            s->cfa_expr = 1;
            s->expr_len = uleb(&c);
            s->expr = c.p;
            c.p += s->expr_len;
            break;
        case 0x10: /* expression */
        case 0x16: /* val_expression */
            reg = uleb(&c);
            c.p += uleb(&c);
            if ((r = track(s, reg)))
                r->kind = K_OTHER;
            break;
        case 0x11: /* offset_extended_sf */
            reg = uleb(&c);
            off = sleb(&c) * cie->data_align;
            set_rule(track(s, reg), K_OFFSET, off);
            break;
        case 0x12: /* def_cfa_sf */
            s->cfa_reg = (int)uleb(&c);
            s->cfa_off = sleb(&c) * cie->data_align;
            s->cfa_expr = 0;
            break;
        case 0x13: /* def_cfa_offset_sf */
            s->cfa_off = sleb(&c) * cie->data_align;
            break;
        case 0x14: /* val_offset */
            reg = uleb(&c);
            off = (int64_t)uleb(&c) * cie->data_align;
            set_rule(track(s, reg), K_VALOFF, off);
            break;
        case 0x15: /* val_offset_sf */
            reg = uleb(&c);
            off = sleb(&c) * cie->data_align;
            set_rule(track(s, reg), K_VALOFF, off);
            break;
        case 0x2e: /* GNU_args_size */
            (void)uleb(&c);
            break;
        case 0x2f: /* GNU_negative_offset_extended */
            reg = uleb(&c);
            off = -(int64_t)uleb(&c) * cie->data_align;
            set_rule(track(s, reg), K_OFFSET, off);
            break;
        default:
            return -1; /* unknown opcode: cannot know its operands */
        }
        continue;
    advance:
        if (rows)
            rows_emit(rows, loc, s);
        loc += delta;
        if (loc > target)
            return 0;
    }
    if (rows)
        rows_emit(rows, loc, s);
    return c.bad || c.p > c.end ? -1 : 0;
}

static int parse_cie(const uint8_t *p, cie_t *cie)
{
    uint64_t len = *(const uint32_t *)p;
    p += 4;
    if (len == 0 || len == 0xffffffffu)
        return -1; /* 64-bit DWARF: not produced by GCC/Clang for .eh_frame */
    cursor_t c = {p, p + len, 0};
    if (fixed(&c, 4) != 0)
        return -1; /* not a CIE */
    uint64_t version = fixed(&c, 1);
    if (version != 1 && version != 3)
        return -1;
    const char *aug = (const char *)c.p;
    size_t alen = strnlen(aug, (size_t)(c.end - c.p));
    c.p += alen + 1;
    cie->code_align = uleb(&c);
    cie->data_align = sleb(&c);
    cie->ra_reg = version == 1 ? fixed(&c, 1) : uleb(&c);
    cie->fde_enc = PE_ABSPTR;
    cie->signal_frame = 0;
    cie->has_aug_data = aug[0] == 'z';
    if (aug[0] == 'z') {
        uint64_t dlen = uleb(&c);
        const uint8_t *data_end = c.p + dlen;
        for (size_t i = 1; i < alen && !c.bad; i++) {
            switch (aug[i]) {
            case 'R':
                cie->fde_enc = (uint8_t)fixed(&c, 1);
                break;
            case 'P': {
                uint8_t penc = (uint8_t)fixed(&c, 1);
                (void)encoded(&c, (uint8_t)(penc & ~PE_INDIRECT), 0);
                break;
            }
            case 'L':
                (void)fixed(&c, 1);
                break;
            case 'S':
                cie->signal_frame = 1;
                break;
            default:
                c.p = data_end;
                i = alen;
                break; /* unknown: the length lets us skip */
            }
        }
        c.p = data_end;
    } else if (aug[0] != 0) {
        return -1; /* an augmentation we cannot skip */
    }
    if (c.bad || c.p > c.end || cie->ra_reg != DW_RA)
        return -1;
    cie->insns = c.p;
    cie->insns_end = c.end;
    return 0;
}

/* A CFA expression of the few operations linkers emit for PLT stubs (ld's x86-64 .plt:
 * rsp + 8, plus 8 once the stub's push ran, from rip & 15 — `DW_OP_breg7 8; DW_OP_breg16 0;
 * DW_OP_lit15; DW_OP_and; DW_OP_lit11; DW_OP_ge; DW_OP_lit3; DW_OP_shl; DW_OP_plus`): registers
 * (breg), constants and arithmetic, never a load. 0 and *out its value; -1 for any other
 * operation, a register not in known, or a malformed expression. reg NULL: only checks. */
static int eval_expr(const uint8_t *p, uint64_t len, const uintptr_t *reg, uint32_t known,
                     uintptr_t *out)
{
    uintptr_t st[8];
    int d = 0;
    cursor_t c = {p, p + len, 0};
    while (c.p < c.end && !c.bad) {
        uint8_t op = *c.p++;
        uintptr_t v;
        if (op >= 0x30 && op <= 0x4f) { /* lit0..lit31 */
            v = op - 0x30u;
        } else if (op >= 0x70 && op <= 0x80) { /* breg0..breg16 */
            unsigned r = op - 0x70u;
            int64_t off = sleb(&c);
            if (reg && !(known >> r & 1u))
                return -1;
            v = (reg ? reg[r] : 0) + (uintptr_t)off;
        } else if (op == 0x08) { /* const1u */
            v = (uintptr_t)fixed(&c, 1);
        } else if (op == 0x23) { /* plus_uconst */
            if (d < 1)
                return -1;
            st[d - 1] += (uintptr_t)uleb(&c);
            continue;
        } else { /* binary operations */
            if (d < 2)
                return -1;
            uintptr_t a = st[d - 2], b = st[d - 1];
            d -= 2;
            switch (op) {
            case 0x1a: /* and */
                v = a & b;
                break;
            case 0x1c: /* minus */
                v = a - b;
                break;
            case 0x22: /* plus */
                v = a + b;
                break;
            case 0x24: /* shl */
                v = b < 64 ? a << b : 0;
                break;
            case 0x2a: /* ge, signed */
                v = (intptr_t)a >= (intptr_t)b;
                break;
            default:
                return -1;
            }
        }
        if (d == (int)(sizeof st / sizeof st[0]))
            return -1;
        st[d++] = v;
    }
    if (c.bad || c.p != c.end || d != 1)
        return -1;
    *out = st[0];
    return 0;
}

/* The rule a CFI state gives (without the address bits): R_BAD unless it is one of the
 * simple shapes. */
static uint64_t rule_of_state(const cfi_state_t *s)
{
    const reg_rule_t *ra = &s->reg[DW_RA], *rbp = &s->reg[DW_RBP];
    if (ra->kind == K_UNDEF)
        return R_PRESENT | R_END;
    /* not a simple shape, but one walk_regs can step: the CFA is a register (of the 16) plus
     * an offset, or an expression eval_expr knows, and the return address is saved in the
     * frame */
    uintptr_t v;
    uint64_t bad = R_PRESENT | R_BAD;
    if (ra->kind == K_OFFSET && (s->cfa_expr ? eval_expr(s->expr, s->expr_len, NULL, 0, &v) == 0
                                             : s->cfa_reg >= 0 && s->cfa_reg < DW_RA))
        bad |= R_REGS;
    if (s->cfa_expr || (s->cfa_reg != DW_RSP && s->cfa_reg != DW_RBP) || s->cfa_off <= 0 ||
        s->cfa_off >= (1 << 24) || ra->kind != K_OFFSET || ra->off != -8)
        return bad;
    uint64_t r = R_PRESENT | ((uint64_t)s->cfa_off << 40);
    if (s->cfa_reg == DW_RBP)
        r |= R_CFA_RBP;
    if (rbp->kind == K_OFFSET) {
        if (rbp->off % 8 != 0 || rbp->off < -8 * 2048 || rbp->off >= 8 * 2048)
            return bad;
        r |= R_RBP_SAVED | ((uint64_t)((rbp->off / 8) & 0xfff) << 28);
    } else if (rbp->kind != K_SAME && rbp->kind != K_UNDEF) {
        return bad;
    }
    return r;
}

/* ---- rows of big FDEs ------------------------------------------------------------------------
 * Deriving a rule runs the FDE's CFI program from the function's start up to the address, so
 * a function with a long program and many call sites costs its whole length again at each:
 * in cc1, one FDE of 20 KB (a generated function with hundreds of calls) took 740k of the
 * 840k CFI instructions run to compile a small file. For FDEs with at least ROWS_MIN_CFI
 * bytes of program, the whole program is run once and the rule at every change of location
 * kept ("rows", sorted by location); later addresses in that function are a binary search.
 * Rows are cached in a small lock-free table keyed by the FDE's address (published with a
 * CAS; a thread that loses the race unmaps its own). ps_unwind_flush takes them out of the
 * table and gives their pages back; a reader that was using one meanwhile sees the flush's
 * generation change and derives the rule the slow way. */
#define ROWS_MIN_CFI 1024 /* bytes of CFI program that make an FDE worth its rows */
static size_t rows_min_cfi = ROWS_MIN_CFI; /* (tests lower it) */
#define ROWS_MAX_CFI (1 << 20)             /* ... up to this: bigger ones are run each time */
#define ROWS_SLOTS 64                      /* FDEs with rows at once */
#define ROWS_PROBE 4

struct rows_s {
    const uint8_t *fde; /* the FDE these rows are for */
    uintptr_t begin;    /* the function's first address */
    uint32_t n, cap;    /* rows written, room */
    size_t bytes;       /* size of the mapping */
    int bad;            /* locations went backwards, or no room: not usable */
    uint32_t *off;      /* [cap] location - begin, nondecreasing */
    uint64_t *rule;     /* [cap] rule_of_state (never 0) */
};

static _Atomic(rows_t *) rows_cache[ROWS_SLOTS];

static void rows_emit(rows_t *rows, uintptr_t loc, const cfi_state_t *s)
{
    uintptr_t off = loc - rows->begin;
    if (rows->bad || rows->n == rows->cap || loc < rows->begin || off > UINT32_MAX ||
        (rows->n && off < rows->off[rows->n - 1])) {
        rows->bad = 1;
        return;
    }
    rows->off[rows->n] = (uint32_t)off;
    rows->rule[rows->n++] = rule_of_state(s);
}

static rows_t *rows_build(const uint8_t *fde, const cie_t *cie, const cursor_t *f, uintptr_t begin,
                          const cfi_state_t *init)
{
    /* every row but the last ends at an advance or set_loc, each at least one byte */
    size_t cap = (size_t)(f->end - f->p) + 1;
    size_t bytes = sizeof(rows_t) + cap * (sizeof(uint32_t) + sizeof(uint64_t));
    rows_t *rows = ps_os_map(bytes);
    if (!rows)
        return NULL;
    rows->fde = fde;
    rows->begin = begin;
    rows->cap = (uint32_t)cap;
    rows->bytes = bytes;
    rows->rule = (uint64_t *)(rows + 1);
    rows->off = (uint32_t *)(rows->rule + cap);
    cfi_state_t s = *init;
    if (run_cfi(cie, f->p, f->end, begin, UINTPTR_MAX, &s, init, rows) != 0 || rows->bad ||
        rows->n == 0) {
        ps_os_unmap(rows, bytes);
        return NULL;
    }
    return rows;
}

/* The rule at pc from the rows of its (big) FDE, built on first use; 0 if there are none. */
static uint64_t fde_rows_rule(const uint8_t *fde, const cie_t *cie, const cursor_t *f,
                              uintptr_t begin, uintptr_t range, const cfi_state_t *init,
                              uintptr_t pc)
{
    if ((size_t)(f->end - f->p) > ROWS_MAX_CFI || range > UINT32_MAX)
        return 0;
    uint64_t gen = atomic_load_explicit(&generation, memory_order_acquire);
    unsigned h = (unsigned)(((uint64_t)(uintptr_t)fde * 0x9e3779b97f4a7c15ull) >> 58);
    rows_t *rows = NULL;
    for (unsigned i = 0; i < ROWS_PROBE && !rows; i++) {
        rows_t *r = atomic_load_explicit(&rows_cache[(h + i) % ROWS_SLOTS], memory_order_acquire);
        if (r && r->fde == fde && r->begin == begin)
            rows = r;
    }
    int mine = 0;
    if (!rows) {
        rows = rows_build(fde, cie, f, begin, init);
        if (!rows)
            return 0;
        mine = 1;
        for (unsigned i = 0; i < ROWS_PROBE && mine; i++) {
            rows_t *empty = NULL;
            if (atomic_compare_exchange_strong_explicit(&rows_cache[(h + i) % ROWS_SLOTS], &empty,
                                                        rows, memory_order_acq_rel,
                                                        memory_order_relaxed))
                mine = 0;
        }
    }
    /* the last row at or before pc */
    uint32_t off = (uint32_t)(pc - begin), lo = 0, hi = rows->n;
    uint64_t r = 0;
    if (rows->n && rows->off[0] <= off) {
        while (hi - lo > 1) {
            uint32_t mid = lo + (hi - lo) / 2;
            if (rows->off[mid] <= off)
                lo = mid;
            else
                hi = mid;
        }
        r = rows->rule[lo];
    }
    if (mine) /* not published (the slots were taken): used once */
        ps_os_unmap(rows, rows->bytes);
    /* rows flushed meanwhile (a dlclose) may have been read as zeros: derive it again */
    return atomic_load_explicit(&generation, memory_order_acquire) == gen ? r : 0;
}

static void rows_flush(void)
{
    size_t page = ps_os_page_size();
    for (unsigned i = 0; i < ROWS_SLOTS; i++) {
        rows_t *r = atomic_exchange_explicit(&rows_cache[i], NULL, memory_order_acq_rel);
        if (r && r->bytes > page) /* kept mapped for late readers; the header page stays */
            ps_os_purge((char *)r + page, r->bytes - page);
    }
}

/* ---- code without unwind tables -------------------------------------------------------------
 * JIT compilers rarely register unwind tables (V8 does not, and its builtins inside the node
 * binary have no FDEs either), so every stack through such code went to libunwind: node made
 * 101k libunwind walks for 23k stacks. V8, like most JITs that care about profilers, keeps
 * rbp as a frame pointer: [rbp] = the caller's rbp, [rbp + 8] = the return address. Such a
 * frame is stepped with that frame record, but only when it can be verified:
 *   - here, once per address: no FDE covers it, and it lies in executable code right after
 *     a call instruction (code of a loaded object: an executable PT_LOAD segment, read from the
 *     object's program headers; anonymous memory: read with process_vm_readv, which fails
 *     instead of faulting on memory that is not readable);
 *   - in the walk, each time: rbp is aligned and its frame record lies in [sp, top) (so a
 *     caller's frame lies above this one), and the return address it holds is then checked
 *     like any other (its own rule, verified the same way if it has no FDE either).
 * Anything else is R_BAD and the whole stack goes to libunwind, as before. */

/* 1 if the bytes before ra (b[0..6] = ra - 7 .. ra - 1) end with a call instruction. */
static int call_before(const uint8_t b[7])
{
    if (b[2] == 0xe8) /* call rel32 */
        return 1;
    if (b[5] == 0xff && ((b[6] & 0xf8) == 0xd0 ||                                  /* call reg */
                         ((b[6] & 0xf8) == 0x10 && b[6] != 0x14 && b[6] != 0x15))) /* [reg] */
        return 1;
    if (b[4] == 0xff && ((b[5] & 0xf8) == 0x50 && b[5] != 0x54)) /* call [reg + disp8] */
        return 1;
    if (b[4] == 0xff && b[5] == 0x14) /* call [base + index] */
        return 1;
    if (b[3] == 0xff && b[4] == 0x54) /* call [base + index + disp8] */
        return 1;
    if (b[1] == 0xff && (((b[2] & 0xf8) == 0x90 && b[2] != 0x94) || b[2] == 0x15))
        return 1;                     /* call [reg + disp32], call [rip + disp32] */
    if (b[0] == 0xff && b[1] == 0x94) /* call [base + index + disp32] */
        return 1;
    return 0;
}

/* The main program's executable segments, from its program headers (AT_PHDR), found at init:
 * _dl_find_object describes the main program's mapping differently (its text segment alone,
 * where for a shared object it is the whole mapping), so its headers are not looked up there. */
#define MAIN_CODE_MAX 8
static struct {
    uintptr_t lo, hi;
} main_code[MAIN_CODE_MAX];
static int main_ncode;

static void find_main_code(void)
{
    const ElfW(Phdr) *ph = (const ElfW(Phdr) *)ps_os_auxv(AT_PHDR);
    unsigned long n = ps_os_auxv(AT_PHNUM);
    uintptr_t bias = 0;
    if (!ph)
        return;
    for (unsigned long i = 0; i < n; i++)
        if (ph[i].p_type == PT_PHDR)
            bias = (uintptr_t)ph - ph[i].p_vaddr;
    for (unsigned long i = 0; i < n && main_ncode < MAIN_CODE_MAX; i++)
        if (ph[i].p_type == PT_LOAD && (ph[i].p_flags & PF_X)) {
            main_code[main_ncode].lo = bias + ph[i].p_vaddr;
            main_code[main_ncode].hi = bias + ph[i].p_vaddr + ph[i].p_memsz;
            main_ncode++;
        }
}

/* The start of the executable PT_LOAD segment of the object fo describes that holds address a
 * (0 if none): the main program's (above), or a shared object's, whose ELF and program
 * headers are read where the loader mapped them: at its load address, the start of its
 * mapping, when its first segment starts at address 0 and file offset 0 (as linkers lay them
 * out); else it is not looked at. */
static uintptr_t object_code(const struct dl_find_object *fo, uintptr_t a)
{
    for (int i = 0; i < main_ncode; i++)
        if (a >= main_code[i].lo && a < main_code[i].hi)
            return main_code[i].lo;
    if (!fo->dlfo_link_map || fo->dlfo_link_map->l_addr != (uintptr_t)fo->dlfo_map_start ||
        (uintptr_t)fo->dlfo_map_end - (uintptr_t)fo->dlfo_map_start < ps_os_page_size())
        return 0;
    uintptr_t base = fo->dlfo_link_map->l_addr;
    const ElfW(Ehdr) *eh = (const ElfW(Ehdr) *)base;
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_type != ET_DYN ||
        eh->e_phentsize != sizeof(ElfW(Phdr)) ||
        eh->e_phoff + (size_t)eh->e_phnum * sizeof(ElfW(Phdr)) > ps_os_page_size())
        return 0;
    const ElfW(Phdr) *ph = (const ElfW(Phdr) *)(base + eh->e_phoff);
    for (unsigned i = 0; i < eh->e_phnum; i++)
        if (ph[i].p_type == PT_LOAD && (ph[i].p_flags & PF_X) && a >= base + ph[i].p_vaddr &&
            a < base + ph[i].p_vaddr + ph[i].p_memsz)
            return base + ph[i].p_vaddr;
    return 0;
}

/* The rule of an address no FDE covers: R_FP if it is verified to be a return address (pc is
 * the return address - 1), else R_BAD. fo: the object it lies in, or NULL (anonymous memory).
 * The seven bytes before the return address are read (the longest call form), or as many as
 * lie in the same segment (object) or page (anonymous memory) as the call's last byte. */
static uint64_t no_unwind_rule(uintptr_t pc, const struct dl_find_object *fo)
{
    uint64_t bad = R_PRESENT | R_BAD | R_PCBITS(pc);
    uintptr_t ra = pc + 1, lo = pc >= 6 ? pc - 6 : 0;
    uint8_t b[7] = {0};
    if (fo) {
        uintptr_t seg = object_code(fo, pc);
        if (!seg)
            return bad;
        if (lo < seg)
            lo = seg;
        memcpy(b + 7 - (ra - lo), (const void *)lo, ra - lo);
    } else if (ps_os_read_self(b, (const void *)(ra - 7), 7) != 0) {
        uintptr_t page = pc & ~(uintptr_t)(ps_os_page_size() - 1);
        if (lo < page)
            lo = page;
        if (ps_os_read_self(b + 7 - (ra - lo), (const void *)lo, ra - lo) != 0)
            return bad; /* not readable: not code anyone called from */
    }
    return call_before(b) ? R_PRESENT | R_FP | R_PCBITS(pc) : bad;
}

/* The FDE that covers an address, with its CIE and the state after the CIE's instructions. */
typedef struct fde_loc_s {
    struct dl_find_object fo;
    int in_object; /* fo describes the object the address lies in */
    const uint8_t *fde;
    cie_t cie;
    cursor_t f; /* the FDE's instructions */
    uintptr_t begin, range;
    cfi_state_t init;
} fde_loc_t;

/* Finds the FDE for pc: 0 found, 1 no FDE covers pc (code without unwind table: see
 * no_unwind_rule), -1 unusable (a signal frame's, or tables we cannot read). */
PS_COLD static int find_fde(uintptr_t pc, fde_loc_t *l)
{
    l->in_object = 0;
    if (!_dl_find_object)
        return -1;
    if (_dl_find_object((void *)pc, &l->fo) != 0)
        return 1; /* in no object: JIT code, or not code at all */
    l->in_object = 1;
    if (!l->fo.dlfo_eh_frame)
        return 1;
    /* .eh_frame_hdr: version, eh_frame_ptr_enc, fde_count_enc, table_enc, then the binary
     * search table of (initial location, FDE address) pairs, relative to the header. */
    const uint8_t *hdr = l->fo.dlfo_eh_frame;
    if (hdr[0] != 1 || hdr[3] != (PE_DATAREL | PE_SDATA4))
        return -1;
    cursor_t c = {hdr + 4, hdr + 4 + 16, 0};
    (void)encoded(&c, hdr[1], (uintptr_t)hdr);
    uint64_t count = encoded(&c, hdr[2], (uintptr_t)hdr);
    if (c.bad || count == 0)
        return -1;
    const int32_t *table = (const int32_t *)c.p;
    int64_t rel = (int64_t)(pc - (uintptr_t)hdr);
    uint64_t lo = 0, hi = count;
    if (rel < table[0])
        return 1;
    while (hi - lo > 1) { /* largest entry with initial location <= pc */
        uint64_t mid = lo + (hi - lo) / 2;
        if (table[2 * mid] <= rel)
            lo = mid;
        else
            hi = mid;
    }
    const uint8_t *fde = hdr + table[2 * lo + 1];
    uint32_t flen = *(const uint32_t *)fde;
    if (flen == 0 || flen == 0xffffffffu)
        return -1;
    const uint8_t *fde_end = fde + 4 + flen;
    uint32_t cie_off = *(const uint32_t *)(fde + 4);
    if (cie_off == 0)
        return -1;
    if (parse_cie(fde + 4 - cie_off, &l->cie) != 0 || l->cie.signal_frame)
        return -1;
    l->fde = fde;
    l->f = (cursor_t){fde + 8, fde_end, 0};
    l->begin = encoded(&l->f, l->cie.fde_enc, 0);
    l->range = encoded(&l->f, l->cie.fde_enc & 0x0f, 0);
    if (l->f.bad)
        return -1;
    if (pc < l->begin || pc >= l->begin + l->range) /* between functions: no FDE */
        return 1;
    if (l->cie.has_aug_data) {
        uint64_t alen = uleb(&l->f);
        l->f.p += alen;
    }
    if (l->f.bad || l->f.p > l->f.end)
        return -1;
    memset(&l->init, 0, sizeof l->init);
    l->init.cfa_reg = DW_RSP;
    l->init.cfa_off = 8;
    l->init.reg[DW_RA].kind = K_OFFSET;
    l->init.reg[DW_RA].off = -8;
    return run_cfi(&l->cie, l->cie.insns, l->cie.insns_end, l->begin, UINTPTR_MAX, &l->init,
                   &l->init, NULL) != 0
               ? -1
               : 0;
}

/* Computes the rule for address pc (already adjusted to lie inside the call instruction for
 * return addresses). Never fails: an unusable frame gets R_BAD. */
PS_COLD static uint64_t compute_rule(uintptr_t pc)
{
    uint64_t bad = R_PRESENT | R_BAD | R_PCBITS(pc);
    fde_loc_t l;
    int found = find_fde(pc, &l);
    if (found < 0)
        return bad;
    if (found > 0)
        return no_unwind_rule(pc, l.in_object ? &l.fo : NULL);
    if ((size_t)(l.f.end - l.f.p) >= rows_min_cfi) {
        uint64_t r = fde_rows_rule(l.fde, &l.cie, &l.f, l.begin, l.range, &l.init, pc);
        if (r)
            return r | R_PCBITS(pc);
    }
    cfi_state_t s = l.init;
    if (run_cfi(&l.cie, l.f.p, l.f.end, l.begin, pc, &s, &l.init, NULL) != 0)
        return bad;
    return rule_of_state(&s) | R_PCBITS(pc);
}

/* Sampling: the read-only pages of another object's unwind tables leave the process again.
 * A rule is computed once per return address and then served by the rule table, but the
 * binary search of .eh_frame_hdr and the FDE and CIE it reads make the kernel map 64 KiB
 * windows of the object's file around each page (fault-around), and they stayed mapped,
 * counted in RSS: libc's, for __libc_start_call_main on every stack, 84 KiB of a sampled
 * 3 MB churn (docs/performance.md, "Sampling's peak RSS: the unwinder's pages of libc and the
 * shim's own pages").
 * So, with sampling, after each rule is computed, the object's read-only segment holding its
 * tables is unmapped from the 64 KiB window of .eh_frame_hdr's start to its end. Only a
 * segment the ELF program headers declare read-only and not RELRO, of an object without text
 * relocations (never written: its pages are the file's). The shim's own only when its tables
 * have a segment of their own (lld's link, shim/text_layout.ld: .eh_frame_hdr and .eh_frame
 * after the code), not the one of its ELF header, dynamic symbols and .rodata, which every
 * malloc reads. Another reader of those pages (an exception, another thread's rule) reads them
 * in again from the page cache. */
#define WINDOW ((uintptr_t)64 << 10) /* the kernel's fault-around */
PS_COLD static void drop_tables(uintptr_t pc)
{
    struct dl_find_object fo;
    if (_dl_find_object((void *)pc, &fo) != 0 || !fo.dlfo_eh_frame || !fo.dlfo_link_map)
        return;
    uintptr_t start = (uintptr_t)fo.dlfo_map_start, end = (uintptr_t)fo.dlfo_map_end;
    uintptr_t self = (uintptr_t)&drop_tables;
    int own = self >= start && self < end;
    const ElfW(Ehdr) *eh = fo.dlfo_map_start;
    if (end - start < sizeof *eh || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 ||
        eh->e_phentsize != sizeof(ElfW(Phdr)) || eh->e_phoff > end - start ||
        (end - start - eh->e_phoff) / sizeof(ElfW(Phdr)) < eh->e_phnum)
        return;
    /* text relocations: the loader wrote into segments without PF_W, maybe this one */
    for (const ElfW(Dyn) *d = fo.dlfo_link_map->l_ld; d && d->d_tag != DT_NULL; d++)
        if (d->d_tag == DT_TEXTREL || (d->d_tag == DT_FLAGS && (d->d_un.d_val & DF_TEXTREL)))
            return;
    const ElfW(Phdr) *ph = (const ElfW(Phdr) *)(start + eh->e_phoff);
    uintptr_t base = fo.dlfo_link_map->l_addr, hdr = (uintptr_t)fo.dlfo_eh_frame;
    size_t page = ps_os_page_size();
    uintptr_t lo = 0, hi = 0;
    for (unsigned i = 0; i < eh->e_phnum; i++)
        if (ph[i].p_type == PT_LOAD && ph[i].p_flags == PF_R && hdr >= base + ph[i].p_vaddr &&
            hdr < base + ph[i].p_vaddr + ph[i].p_memsz) {
            if (own && ph[i].p_offset == 0)
                return; /* the shim's headers and .rodata with its tables (not lld) */
            /* whole pages of the segment only: a partial one may be another segment's */
            lo = (base + ph[i].p_vaddr + page - 1) & ~(page - 1);
            hi = (base + ph[i].p_vaddr + ph[i].p_memsz) & ~(page - 1);
        }
    if ((hdr & ~(WINDOW - 1)) > lo)
        lo = hdr & ~(WINDOW - 1);
    if (lo >= hi)
        return;
    for (unsigned i = 0; i < eh->e_phnum; i++) /* RELRO is written by the loader: never */
        if (ph[i].p_type == PT_GNU_RELRO && base + ph[i].p_vaddr < hi &&
            base + ph[i].p_vaddr + ph[i].p_memsz > lo)
            return;
    ps_os_drop_file_pages((const void *)lo, hi - lo);
}

static rule_table_t *rule_table_new(unsigned bits)
{
    size_t bytes = sizeof(rule_table_t) + ((size_t)1 << bits) * sizeof(rule_slot_t);
    rule_table_t *t = ps_os_map(bytes);
    if (t) {
        t->bits = bits;
        t->bytes = bytes;
    }
    return t;
}

static inline uint32_t rule_hash(uintptr_t pc, unsigned bits)
{
    return (uint32_t)(((uint64_t)pc * 0x9e3779b97f4a7c15ull) >> (64 - bits));
}

/* Claims a slot for pc in t and stores r; 1 if this call took a new slot. */
static int rule_insert(rule_table_t *t, uintptr_t pc, uint64_t r)
{
    uint32_t h = rule_hash(pc, t->bits), mask = (1u << t->bits) - 1;
    for (unsigned i = 0; i < RC_PROBE; i++) {
        rule_slot_t *e = &t->slot[(h + i) & mask];
        uintptr_t k = 0;
        if (atomic_compare_exchange_strong_explicit(&e->key, &k, pc, memory_order_acq_rel,
                                                    memory_order_acquire)) {
            atomic_store_explicit(&e->rule, r, memory_order_release);
            return 1;
        }
        if (k == pc)
            return 0; /* another thread is publishing the same rule */
    }
    return 0;
}

static PS_NOINLINE void rule_table_grow(rule_table_t *old)
{
    int expected = 0;
    if (!atomic_compare_exchange_strong_explicit(&growing, &expected, 1, memory_order_acquire,
                                                 memory_order_relaxed))
        return; /* someone else is at it */
    if (atomic_load_explicit(&rtable, memory_order_relaxed) == old) {
        rule_table_t *t = rule_table_new(old->bits + 1);
        if (t) {
            /* filled at once: written first, not read (a read of a page never written maps
             * the zero page, and the write after it is a second fault with a TLB flush) */
            memset(t->slot, 0, ((size_t)1 << t->bits) * sizeof(rule_slot_t));
            unsigned used = 0;
            for (size_t i = 0; i < ((size_t)1 << old->bits); i++) {
                rule_slot_t *e = &old->slot[i];
                uintptr_t k = atomic_load_explicit(&e->key, memory_order_acquire);
                uint64_t r = k ? atomic_load_explicit(&e->rule, memory_order_acquire) : 0;
                if (r) /* rules still being written are simply derived again later */
                    used += (unsigned)rule_insert(t, k, r);
            }
            atomic_store_explicit(&t->used, used, memory_order_relaxed);
            atomic_store_explicit(&rtable, t, memory_order_release);
            /* the first page (header included) stays: a late reader still needs bits */
            size_t page = ps_os_page_size();
            ps_os_purge((char *)old + page, old->bytes - page);
        }
    }
    atomic_store_explicit(&growing, 0, memory_order_release);
}

static inline uint64_t lookup_rule(uintptr_t pc)
{
    rule_table_t *t = atomic_load_explicit(&rtable, memory_order_acquire);
    uint32_t h = rule_hash(pc, t->bits), mask = (1u << t->bits) - 1;
    for (unsigned i = 0; i < RC_PROBE; i++) {
        rule_slot_t *e = &t->slot[(h + i) & mask];
        uintptr_t k = atomic_load_explicit(&e->key, memory_order_acquire);
        if (k == pc) {
            uint64_t r = atomic_load_explicit(&e->rule, memory_order_acquire);
            if (PS_LIKELY(r != 0 && (r & R_PCMASK) == R_PCBITS(pc)))
                return r;
            break;
        }
        if (k == 0)
            break;
    }
    uint64_t r = compute_rule(pc);
    if (ps_g.sampling)
        drop_tables(pc);
    /* grow when half full, or when a crowded probe sequence had no room for this rule */
    int took = rule_insert(t, pc, r);
    unsigned used = took ? atomic_fetch_add_explicit(&t->used, 1, memory_order_relaxed) + 1
                         : atomic_load_explicit(&t->used, memory_order_relaxed);
    unsigned cap = 1u << t->bits;
    if (t->bits < RC_MAX_BITS && (used > cap / 2 || (!took && used > cap / 4)))
        rule_table_grow(t);
    return r;
}

/* ---- the walk ------------------------------------------------------------------------------ */
static inline uintptr_t thread_pointer(void)
{
    uintptr_t tp;
    __asm__("movq %%fs:0, %0" : "=r"(tp));
    return tp;
}

static uintptr_t main_tp; /* the main thread's thread pointer (ps_unwind_init runs there) */
static uintptr_t main_lo, main_hi; /* the main thread's stack: RLIMIT_STACK below its top */

/* This thread's stack [lo, hi), recorded by ps_unwind_thread_start before any of the program's
 * code ran on the thread; hi 0 = not recorded (a thread the shim did not start). */
static __thread uintptr_t tls_stack_lo, tls_stack_hi;

/* Upper bound of the stack sp lies on, or 0 if unknown (alternate signal stacks, coroutine
 * stacks: the caller falls back to libunwind). With a thread cache, the thread's real stack
 * bounds are used (found once per thread); without (signal handlers), the recorded bounds or
 * the thread pointer: glibc puts a thread's TCB right above its stack, and the main thread's
 * stack ends at __libc_stack_end. */
static void thread_bounds(ps_unwind_tcache_t *tc);

static inline uintptr_t stack_top(ps_unwind_tcache_t *tc, uintptr_t sp)
{
    const uintptr_t span = (uintptr_t)1 << 30;
    if (tc) {
        if (PS_UNLIKELY(tc->stack_hi == 0))
            thread_bounds(tc);
        return sp >= tc->stack_lo && sp < tc->stack_hi ? tc->stack_hi : 0;
    }
    uintptr_t tp = thread_pointer();
    if (tp == main_tp) {
        uintptr_t end = (uintptr_t)__libc_stack_end;
        return sp < end && end - sp < span ? end + 16 : 0; /* argv etc. lie above: mapped */
    }
    if (tls_stack_hi > 1)
        return sp >= tls_stack_lo && sp < tls_stack_hi ? tls_stack_hi : 0;
    return sp < tp && tp - sp < span ? tp : 0;
}

/* Runs inside malloc: it must not call anything that can take a lock the program may hold or
 * allocate. pthread_getattr_np did both (it holds the thread's own lock while it allocates a
 * CPU set), so a thread whose first act was pthread_getattr_np on itself (Ruby's VM, Rust's
 * std::thread, JVMs, Boehm GC) deadlocked in its first malloc: issue 10. Hence the bounds are
 * looked up at thread start (ps_unwind_thread_start), and here only read; see the audit in
 * docs/architecture.md. */
static PS_NOINLINE void thread_bounds(ps_unwind_tcache_t *tc)
{
    uintptr_t lo = 0, hi = 1;          /* hi = 1: "looked, unknown" (every walk falls back) */
    if (thread_pointer() == main_tp) { /* found by ps_unwind_init, which set main_tp */
        lo = main_lo;
        hi = main_hi;
    } else if (tls_stack_hi > 1) {
        lo = tls_stack_lo;
        hi = tls_stack_hi;
    }
    tc->stack_lo = lo;
    tc->stack_hi = hi;
}

void ps_unwind_fill_bounds(ps_unwind_tcache_t *tc)
{
    if (tc->stack_hi == 0)
        thread_bounds(tc);
}

size_t ps_unwind_stack_room(uintptr_t sp)
{
    uintptr_t lo = 0, hi = 0;
    if (main_tp && thread_pointer() == main_tp) {
        lo = main_lo;
        hi = main_hi;
    } else if (tls_stack_hi > 1) {
        lo = tls_stack_lo;
        hi = tls_stack_hi;
    }
    if (!hi || sp < lo || sp >= hi) /* unknown bounds, or another stack (sigaltstack, fiber) */
        return SIZE_MAX;
    return sp - lo;
}

void ps_unwind_thread_start(void)
{
    /* No program code has run on this thread yet, so no lock of the program's is held here;
     * pthread_getattr_np takes this thread's own lock and allocates a CPU set, which the
     * caller's raised guard serves untracked. */
    pthread_attr_t a;
    void *addr;
    size_t size;
    if (pthread_getattr_np(pthread_self(), &a) != 0)
        return;
    if (pthread_attr_getstack(&a, &addr, &size) == 0 && addr && size) {
        tls_stack_lo = (uintptr_t)addr;
        tls_stack_hi = (uintptr_t)addr + size;
    }
    pthread_attr_destroy(&a);
}

/* Walks from a frame whose registers are (pc, sp, bp). exact: pc is the address being
 * executed (a signal context), not a return address. Writes pcs as unw_backtrace does: the
 * first frame's pc, then return addresses. Returns the count, or -1 to ask for libunwind. */
static inline uint64_t lookup_cached(ps_unwind_tcache_t *tc, uintptr_t pc)
{
    if (!tc)
        return lookup_rule(pc);
    unsigned i = (unsigned)((pc ^ (pc >> 10)) & (PS_UNWIND_TCACHE - 1));
    if (PS_LIKELY(tc->e[i].pc == pc))
        return tc->e[i].rule;
    uint64_t r = lookup_rule(pc);
    tc->e[i].pc = pc;
    tc->e[i].rule = r;
    return r;
}

/* rec (optional) receives the stack words the result depends on, for the walk memo: every
 * return-address slot, and a saved-rbp slot only when a later frame's CFA is computed from
 * that rbp (rbp is often a plain register whose saved values differ from call to call; the
 * frames do not depend on them). *uses_bp0 is set if the start rbp is used that way. */
typedef struct memo_word_s {
    uintptr_t addr; /* a stack word the walk read */
    uintptr_t val;  /* the value it held */
} memo_word_t;

typedef struct walk_rec_s {
    memo_word_t *words; /* [cap] */
    int cap, n;
    int uses_bp0; /* the start rbp was used for a CFA */
    int overflow; /* more than cap words: not memoizable */
} walk_rec_t;

static inline void record(walk_rec_t *rec, uintptr_t addr, uintptr_t val)
{
    if (rec->n < rec->cap)
        rec->words[rec->n++] = (memo_word_t){addr, val};
    else
        rec->overflow = 1;
}

/* tc: the thread's stack bounds; rc: its rule cache (tc, or NULL for the shared table only). */
static int walk(uintptr_t pc, uintptr_t sp, uintptr_t bp, int exact, void **ips, int max,
                ps_unwind_tcache_t *tc, ps_unwind_tcache_t *rc, walk_rec_t *rec, int *cut)
{
    if (PS_UNLIKELY(atomic_load_explicit(&rtable, memory_order_relaxed) == NULL || max <= 0))
        return -1;
    uintptr_t top = stack_top(tc, sp);
    if (top == 0)
        return -1;
    int n = 0;
    uintptr_t bp_at = 0; /* where bp was read from; 0: it is the start register */
    int bp_recorded = 0;
    ips[n++] = (void *)pc;
    while (n < max) {
        uint64_t r = lookup_cached(rc, exact ? pc : pc - 1);
        int was_exact = exact;
        exact = 0;
        if (r & R_END)
            break;
        if (r & R_BAD)
            return cut ? (*cut = 1, n) : -1;
        if (r & R_FP) {
            /* rbp 0 at a return address: the outermost frame, marked as the x86-64 psABI
             * asks (`_start` clears rbp), in code with no unwind table (tcc's executables:
             * no .eh_frame_hdr, so no FDE covers their `_start`). The end, as for libunwind,
             * which crashes on those programs (integration_notables). */
            if (bp == 0 && !was_exact)
                break;
            /* The frame record at rbp: inside the stack, above sp, aligned. An interrupted
             * pc (signal context) may be in a prologue, before rbp is set: not stepped. */
            if (was_exact || (bp & 7) || bp < sp || bp > top - 16)
                return cut ? (*cut = 1, n) : -1;
            if (rec && !bp_recorded) {
                if (bp_at)
                    record(rec, bp_at, bp);
                else
                    rec->uses_bp0 = 1;
            }
            pc = *(const uintptr_t *)(bp + 8);
            if (rec)
                record(rec, bp + 8, pc);
            sp = bp + 16;
            bp_at = bp;
            bp = *(const uintptr_t *)bp;
            bp_recorded = 0;
            if (pc == 0)
                break;
            ips[n++] = (void *)pc;
            continue;
        }
        uintptr_t cfa;
        if (r & R_CFA_RBP) {
            cfa = bp + rule_cfa_off(r);
            if (rec && !bp_recorded) {
                if (bp_at)
                    record(rec, bp_at, bp);
                else
                    rec->uses_bp0 = 1;
                bp_recorded = 1;
            }
        } else {
            cfa = sp + rule_cfa_off(r);
        }
        if (cfa <= sp || cfa > top || cfa < 8)
            return cut ? (*cut = 1, n) : -1;
        if (r & R_RBP_SAVED) {
            uintptr_t at = cfa + (uintptr_t)rule_rbp_off(r);
            if (at < sp || at + 8 > top)
                return cut ? (*cut = 1, n) : -1;
            bp = *(const uintptr_t *)at;
            bp_at = at;
            bp_recorded = 0;
        }
        pc = *(const uintptr_t *)(cfa - 8);
        if (rec)
            record(rec, cfa - 8, pc);
        sp = cfa;
        if (pc == 0)
            break;
        ips[n++] = (void *)pc;
    }
    return n;
}

/* ---- the register walk ----------------------------------------------------------------------
 * A few frames keep their CFA in a register other than rsp or rbp: ld.so's lazy-binding
 * trampolines (_dl_runtime_resolve_xsave*, _dl_runtime_profile) realign the stack and keep the
 * CFA in rbx (`CFA = rbx + 32`), glibc's __longjmp in rdi. The fast walk knows only rsp and rbp,
 * so a CPU sample inside _dl_fixup ended at the trampoline, its caller lost. Such a frame's
 * rule is R_BAD | R_REGS; a walk that stops at one is done again here, from the start, with
 * every register the start context gives (a signal context: all sixteen; a capture: the
 * callee-saved ones) followed through each frame by its full CFI row: saved at CFA + k, its
 * value CFA + k, in another register, or unchanged (callee-saved ones only: the others are
 * unknown in a caller). The rows are derived again at each walk, not cached: this runs for the
 * few stacks that pass through such a frame, and ordinary stacks never get here. Memory
 * safety as in walk: loads only from [sp, top). */
#define CALLEE_SAVED ((1u << DW_RBX) | (1u << DW_RBP) | (1u << DW_RSP) | (0xfu << 12))

/* reg (DWARF numbering, reg[DW_RA] the pc) and known (a bit per register whose value is
 * known) are the start registers, and are clobbered. Same results as walk. from_sp (if not 0):
 * the frames below the one whose sp is from_sp are left out, and that one's pc is from_pc
 * (capture_regs: the stack the fast walk from (from_pc, from_sp) would have given). */
PS_COLD static int walk_regs(uintptr_t *reg, uint32_t known, int exact, void **ips, int max,
                             uintptr_t top, int *cut, uintptr_t from_sp, uintptr_t from_pc)
{
    const void *last_obj = NULL;
    uintptr_t pc = reg[DW_RA];
    int n = 0, steps = 0;
    if (max <= 0 || !(known & (1u << DW_RSP)))
        goto stop;
    for (;;) {
        if (from_sp) { /* still below the first frame to keep */
            if (reg[DW_RSP] > from_sp || ++steps > 64)
                goto stop;
            if (reg[DW_RSP] == from_sp) {
                from_sp = 0;
                ips[n++] = (void *)from_pc;
            }
        } else {
            ips[n++] = (void *)pc;
        }
        if (n >= max)
            break;
        uintptr_t at = exact ? pc : pc - 1, sp = reg[DW_RSP];
        uint64_t r = lookup_rule(at);
        int was_exact = exact;
        exact = 0;
        if (r & R_END)
            break;
        if (r & R_FP) { /* as in walk; what the code did with the other registers is unknown */
            uintptr_t bp = reg[DW_RBP];
            if (bp == 0 && !was_exact && (known & (1u << DW_RBP)))
                break; /* the outermost frame (walk) */
            if (was_exact || !(known & (1u << DW_RBP)) || (bp & 7) || bp < sp || bp > top - 16)
                goto stop;
            pc = ((const uintptr_t *)bp)[1];
            reg[DW_RSP] = bp + 16;
            reg[DW_RBP] = *(const uintptr_t *)bp;
            known = (1u << DW_RBP) | (1u << DW_RSP);
        } else {
            if ((r & R_BAD) && !(r & R_REGS))
                goto stop;
            fde_loc_t l;
            if (find_fde(at, &l) != 0)
                goto stop;
            cfi_state_t s = l.init;
            if (run_cfi(&l.cie, l.f.p, l.f.end, l.begin, at, &s, &l.init, NULL) != 0)
                goto stop;
            if (ps_g.sampling && l.fo.dlfo_map_start != last_obj) { /* see drop_tables */
                drop_tables(at);
                last_obj = l.fo.dlfo_map_start;
            }
            uintptr_t cfa;
            if (s.cfa_expr) {
                if (eval_expr(s.expr, s.expr_len, reg, known, &cfa) != 0)
                    goto stop;
            } else {
                if (s.cfa_reg < 0 || s.cfa_reg >= DW_RA || !(known & (1u << s.cfa_reg)))
                    goto stop;
                cfa = reg[s.cfa_reg] + (uintptr_t)s.cfa_off;
            }
            if (cfa <= sp || cfa > top)
                goto stop;
            /* An interrupted epilogue may have popped registers whose rows still say "saved at
             * CFA - k" (GCC's CFI only moves the CFA there): such a slot lies below sp, in the
             * psABI's 128-byte red zone, which a signal frame never overwrites. */
            uintptr_t lo = was_exact ? sp - 128 : sp;
            uintptr_t next[DW_NREGS];
            uint32_t nknown = 0;
            for (int i = 0; i < DW_NREGS; i++) {
                const reg_rule_t *rr = &s.reg[i];
                uintptr_t a = cfa + (uintptr_t)(intptr_t)rr->off;
                next[i] = 0;
                switch (rr->kind) {
                case K_SAME:
                    next[i] = reg[i];
                    nknown |= known & CALLEE_SAVED & (1u << i);
                    break;
                case K_OFFSET:
                    if (a < lo || a > top - 8)
                        goto stop;
                    next[i] = *(const uintptr_t *)a;
                    nknown |= 1u << i;
                    break;
                case K_VALOFF:
                    next[i] = a;
                    nknown |= 1u << i;
                    break;
                case K_REG:
                    next[i] = reg[rr->off];
                    nknown |= (known >> rr->off & 1u) << i;
                    break;
                default: /* undefined, or an expression: unknown */
                    break;
                }
            }
            if (!(nknown & (1u << DW_RA)))
                goto stop;
            if (s.reg[DW_RSP].kind == K_SAME) { /* the psABI's convention: rsp = CFA */
                next[DW_RSP] = cfa;
                nknown |= 1u << DW_RSP;
            }
            if (!(nknown & (1u << DW_RSP)) || next[DW_RSP] <= sp || next[DW_RSP] > top)
                goto stop;
            memcpy(reg, next, sizeof next);
            known = nknown;
            pc = reg[DW_RA];
        }
        if (pc == 0)
            break;
    }
    if (from_sp)
        goto stop;
    return n;
stop:
    if (!cut)
        return -1;
    *cut = 1;
    return n;
}

/* 1 if a walk that stopped after n frames (ips[n - 1] the last) stopped at a frame walk_regs
 * can step. exact: ips[0] is an interrupted pc, not a return address; then also a frame whose
 * rule is simple but whose saved rbp lay below sp (an interrupted epilogue: see walk_regs). */
static int stopped_at_regs(void *const *ips, int n, int exact)
{
    if (n <= 0)
        return 0;
    uintptr_t pc = (uintptr_t)ips[n - 1];
    uint64_t r = lookup_rule(n == 1 && exact ? pc : pc - 1);
    if (n == 1 && exact && !(r & (R_BAD | R_END | R_FP)))
        return 1;
    return (r & (R_BAD | R_REGS)) == (R_BAD | R_REGS);
}

typedef struct regs_s {
    uintptr_t pc, sp, bp;
} regs_t;

/* Fills r with its caller's registers at the call: the return address, the stack pointer
 * after return, and rbp. A leaf that touches no stack, so it needs no unwind rule of its own. */
void ps_unwind_regs(regs_t *r);
__asm__(".pushsection .text\n"
        ".p2align 4\n"
        ".globl ps_unwind_regs\n"
        ".hidden ps_unwind_regs\n"
        ".type ps_unwind_regs, @function\n"
        "ps_unwind_regs:\n"
        ".cfi_startproc\n"
        "    movq (%rsp), %rax\n"
        "    movq %rax, 0(%rdi)\n"
        "    leaq 8(%rsp), %rax\n"
        "    movq %rax, 8(%rdi)\n"
        "    movq %rbp, 16(%rdi)\n"
        "    ret\n"
        ".cfi_endproc\n"
        ".size ps_unwind_regs, .-ps_unwind_regs\n"
        ".popsection\n");

/* Fills r (DWARF numbering) with its caller's callee-saved registers, its stack pointer after
 * return and the return address; a leaf like ps_unwind_regs. */
void ps_unwind_regs_all(uintptr_t r[DW_NREGS]);
__asm__(".pushsection .text\n"
        ".p2align 4\n"
        ".globl ps_unwind_regs_all\n"
        ".hidden ps_unwind_regs_all\n"
        ".type ps_unwind_regs_all, @function\n"
        "ps_unwind_regs_all:\n"
        ".cfi_startproc\n"
        "    movq %rbx, 24(%rdi)\n"
        "    movq %rbp, 48(%rdi)\n"
        "    leaq 8(%rsp), %rax\n"
        "    movq %rax, 56(%rdi)\n"
        "    movq %r12, 96(%rdi)\n"
        "    movq %r13, 104(%rdi)\n"
        "    movq %r14, 112(%rdi)\n"
        "    movq %r15, 120(%rdi)\n"
        "    movq (%rsp), %rax\n"
        "    movq %rax, 128(%rdi)\n"
        "    ret\n"
        ".cfi_endproc\n"
        ".size ps_unwind_regs_all, .-ps_unwind_regs_all\n"
        ".popsection\n");

/* The walk of a capture that the fast walk gave up on at a frame walk_regs can step (an
 * allocation made inside the loader's lazy binding), from this function's own registers. The
 * frames are those the fast walk gives from its start registers (from_pc, from_sp: in
 * ps_unwind_capture's or ps_unwind_stack_id's frame): the frames below that one (this
 * function's, retry_regs') are left out. -1 if it stops short too (the caller then uses
 * libunwind, as before). */
static PS_COLD PS_NOINLINE int capture_regs(uintptr_t from_pc, uintptr_t from_sp, void **ips,
                                            int max, ps_unwind_tcache_t *tc)
{
    uintptr_t reg[DW_NREGS];
    ps_unwind_regs_all(reg);
    uintptr_t top = stack_top(tc, reg[DW_RSP]);
    if (!top)
        return -1;
    uint32_t known = CALLEE_SAVED | (1u << DW_RA);
    return walk_regs(reg, known, 0, ips, max, top, NULL, from_sp, from_pc);
}

/* After a fast walk from `from` gave up: the walk again, to see where it stopped, and if that
 * frame is one walk_regs can step, the register walk (capture_regs); else -1 (libunwind).
 * Out of line, so that the callers' common path is as it was without it. */
static PS_COLD PS_NOINLINE int retry_regs(uintptr_t pc, uintptr_t sp, uintptr_t bp, void **ips,
                                          int max, ps_unwind_tcache_t *tc)
{
    int stopped = 0;
    int n = walk(pc, sp, bp, 0, ips, max, tc, NULL, NULL, &stopped);
    if (!stopped || !stopped_at_regs(ips, n, 0))
        return -1;
    return capture_regs(pc, sp, ips, max, tc);
}

static void memo_forget(ps_unwind_tcache_t *tc);

static void check_generation(ps_unwind_tcache_t *tc)
{
    uint64_t g = atomic_load_explicit(&generation, memory_order_acquire);
    if (PS_UNLIKELY(tc->generation != g)) {
        memset(tc->e, 0, sizeof tc->e);
        memo_forget(tc);
        tc->generation = g;
    }
}

int ps_unwind_capture(void **ips, int max, ps_unwind_tcache_t *tc)
{
    regs_t r;
    ps_unwind_regs(&r);
    if (tc)
        check_generation(tc);
    /* Sampling walks rarely: the shared table serves its rules, and the thread's 16 KiB cache,
     * whose every page a few dozen hashed pcs would write, stays untouched. */
    int n = walk(r.pc, r.sp, r.bp, 0, ips, max, tc, ps_g.sampling ? NULL : tc, NULL, NULL);
    if (PS_UNLIKELY(n < 0))
        n = retry_regs(r.pc, r.sp, r.bp, ips, max, tc);
    if (n < 0)
        atomic_fetch_add_explicit(&fallbacks, 1, memory_order_relaxed);
    return n;
}

/* ---- the walk memo -----------------------------------------------------------------------
 * A walk is a pure function of its start registers (pc, sp, bp) and of the stack words it
 * reads. So a thread keeps, for its recent walks, the start registers, every (address, value)
 * read in order, and the stack id the frames were interned to. If a new walk starts from the
 * same registers and every recorded address still holds its recorded value, compared in
 * order, the walk would read the same words and produce the same frames: the recorded id is
 * returned without a single rule lookup, hash or interning. This is exact, not a heuristic
 * (a changed caller changes a return-address word), and costs one compare per word.
 *
 * Sets are chosen by sp; MEMO_WAYS walks per set, replaced round-robin. A set's tags (start
 * registers, id, where its words are) sit together, so that a lookup reads one tag line per
 * set and then the words of the one way that matches. The words of every walk go one after
 * the other into a ring (as long as each walk needs: a 30-frame stack through frame-pointer
 * code reads some 60 words, a 68-frame Python stack 70); a walk's words are valid while the
 * ring has not come round to them again, which is one comparison of positions. The memo
 * starts with MEMO_SETS_MIN sets and doubles (forgetting what it held) each time the thread
 * has missed twice as many walks as it holds, up to PS_UNWIND_MEMO_SETS: a thread that
 * allocates little keeps a 35 KiB memo, a busy one 276 KiB. */
#define MEMO_SETS_MIN 8
#define MEMO_WAYS 8
#define MEMO_RING_PER_WAY 32 /* words of ring per entry */
#define MEMO_READS 192       /* walks that depend on more stack words are not memoized */

typedef struct memo_tag_s {
    uintptr_t sp, bp, top; /* start registers (the start pc is always the same call site) */
    uint64_t pos;          /* ring position (absolute) of its first word */
    uint32_t stack_id;     /* what the frames were interned to */
    uint16_t nreads;       /* words recorded */
    uint8_t valid;         /* 0 while being written (a signal handler may look) */
    uint8_t uses_bp;       /* the frames depend on the start rbp: it must match too */
} memo_tag_t;

/* The mapping: sets * MEMO_WAYS tags, then the ring of words. */
static uint32_t memo_ring(uint32_t sets)
{
    return sets * MEMO_WAYS * MEMO_RING_PER_WAY;
}

static size_t memo_bytes(uint32_t sets)
{
    return (size_t)sets * MEMO_WAYS * sizeof(memo_tag_t) +
           (size_t)memo_ring(sets) * sizeof(memo_word_t);
}

static inline memo_tag_t *memo_tags(const ps_unwind_tcache_t *tc)
{
    return (memo_tag_t *)tc->memo;
}

static inline memo_word_t *memo_words(const ps_unwind_tcache_t *tc)
{
    return (memo_word_t *)(memo_tags(tc) + (size_t)tc->memo_sets * MEMO_WAYS);
}

static inline int memo_matches(const ps_unwind_tcache_t *tc, const memo_tag_t *e, uintptr_t sp,
                               uintptr_t bp, uintptr_t top)
{
    /* top first: the recorded addresses are only known to be mapped on the same stack */
    if (e->sp != sp || e->top != top || !e->valid || (e->uses_bp && e->bp != bp))
        return 0;
    uint32_t ring = memo_ring(tc->memo_sets);
    if (tc->memo_pos - e->pos > ring) /* the ring came round: its first words are gone */
        return 0;
    const memo_word_t *w = memo_words(tc) + (e->pos & (ring - 1)), *end = w + e->nreads;
    for (; w < end; w++)
        if (*(const uintptr_t *)w->addr != w->val)
            return 0;
    return 1;
}

static void memo_forget(ps_unwind_tcache_t *tc)
{
    if (tc->memo) /* every tag invalid */
        memset(tc->memo, 0, (size_t)tc->memo_sets * MEMO_WAYS * sizeof(memo_tag_t));
}

/* Maps a memo of `sets` sets in place of the thread's current one (whose contents are
 * dropped). 0, or -1 if the kernel refused (the current memo, if any, is kept). */
static PS_NOINLINE int memo_resize(ps_unwind_tcache_t *tc, uint32_t sets)
{
    void *m = ps_os_map(memo_bytes(sets));
    if (!m)
        return -1;
    if (tc->memo)
        ps_os_unmap(tc->memo, tc->memo_bytes);
    tc->memo = m;
    tc->memo_bytes = memo_bytes(sets);
    tc->memo_sets = sets;
    tc->memo_misses = 0;
    tc->memo_pos = 0;
    memset(tc->memo_next, 0, sizeof tc->memo_next);
    return 0;
}

int64_t ps_unwind_stack_id(ps_unwind_tcache_t *tc, int max, ps_unwind_intern_fn intern, void *arg)
{
    regs_t r;
    ps_unwind_regs(&r);
    check_generation(tc);
    /* Sampling walks once per 512 KiB allocated (by default): a memo would save little, and
     * its ring, filled over a run, is 32 KiB of a small process's RSS. Mapped only when every
     * allocation is walked (also after `perfshim ctl PID full`). */
    if (PS_UNLIKELY(!tc->memo) && (ps_g.sampling || memo_resize(tc, MEMO_SETS_MIN) != 0))
        return PS_UNWIND_NO_MEMO; /* asked again next time: the kernel may agree then */
    _Static_assert((PS_UNWIND_MEMO_SETS & (PS_UNWIND_MEMO_SETS - 1)) == 0 &&
                       (MEMO_SETS_MIN & (MEMO_SETS_MIN - 1)) == 0 &&
                       (MEMO_RING_PER_WAY & (MEMO_RING_PER_WAY - 1)) == 0,
                   "memo sizes: powers of two");
    _Static_assert(MEMO_READS <= MEMO_SETS_MIN * MEMO_WAYS * MEMO_RING_PER_WAY / 4,
                   "a walk's words fit the smallest ring many times");
    unsigned set = (unsigned)(((uint64_t)r.sp * 0x9e3779b97f4a7c15ull) >> 32) & (tc->memo_sets - 1);
    memo_tag_t *tags = memo_tags(tc) + (size_t)set * MEMO_WAYS;
    uintptr_t top = stack_top(tc, r.sp);
    if (top == 0)
        return -1;
    for (unsigned w = 0; w < MEMO_WAYS; w++)
        if (memo_matches(tc, &tags[w], r.sp, r.bp, top))
            return tags[w].stack_id;

    unsigned w = tc->memo_next[set]++ % MEMO_WAYS;
    memo_tag_t *e = &tags[w];
    e->valid = 0;
    atomic_signal_fence(memory_order_seq_cst);
    /* the words go where the ring is, or at its start if MEMO_READS do not fit before its end */
    uint32_t ring = memo_ring(tc->memo_sets);
    uint64_t pos = tc->memo_pos;
    if ((pos & (ring - 1)) + MEMO_READS > ring)
        pos = (pos | (ring - 1)) + 1;
    void *ips[PS_MAX_DEPTH + 16];
    walk_rec_t rec = {.words = memo_words(tc) + (pos & (ring - 1)), .cap = MEMO_READS};
    int n = walk(r.pc, r.sp, r.bp, 0, ips, max, tc, tc, &rec, NULL);
    tc->memo_pos = pos + (uint64_t)rec.n; /* past every word written, used or not */
    if (n < 0) {
        /* a frame only the register walk steps? Its stack is not memoized (e stays invalid:
         * the memo records rsp- and rbp-based reads only) */
        n = retry_regs(r.pc, r.sp, r.bp, ips, max, tc);
        if (n < 0) {
            atomic_fetch_add_explicit(&fallbacks, 1, memory_order_relaxed);
            return -1;
        }
        return intern(ips, n, arg);
    }
    uint32_t id = intern(ips, n, arg);
    e->sp = r.sp;
    e->bp = r.bp;
    e->top = top;
    e->pos = pos;
    e->uses_bp = (uint8_t)rec.uses_bp0;
    e->nreads = (uint16_t)rec.n;
    e->stack_id = id;
    atomic_signal_fence(memory_order_seq_cst);
    e->valid = !rec.overflow;
    if (PS_UNLIKELY(++tc->memo_misses > 2u * tc->memo_sets * MEMO_WAYS) &&
        tc->memo_sets < PS_UNWIND_MEMO_SETS)
        (void)memo_resize(tc, tc->memo_sets * 2); /* if refused, the memo stays as it is */
    return id;
}

/* The exit of a thread whose state track.c keeps for a later thread: a memo of the first size
 * is emptied (memo_forget) and handed back, so that the next thread's first walk need not map
 * one (an unmap in a process with other threads costs a TLB shootdown); a larger one is
 * unmapped as at exit. NULL if none is kept. */
void *ps_unwind_thread_park(ps_unwind_tcache_t *tc, size_t *bytes, uint32_t *sets)
{
    void *m = NULL;
    if (tc->memo && tc->memo_sets == MEMO_SETS_MIN) {
        memo_forget(tc);
        m = tc->memo;
        *bytes = tc->memo_bytes;
        *sets = tc->memo_sets;
        tc->memo = NULL;
    }
    ps_unwind_thread_exit(tc);
    return m;
}

/* A zeroed cache takes a memo ps_unwind_thread_park returned. */
void ps_unwind_thread_adopt(ps_unwind_tcache_t *tc, void *memo, size_t bytes, uint32_t sets)
{
    tc->memo = memo;
    tc->memo_bytes = bytes;
    tc->memo_sets = sets;
}

void ps_unwind_thread_exit(ps_unwind_tcache_t *tc)
{
    if (tc->memo)
        ps_os_unmap(tc->memo, tc->memo_bytes);
    tc->memo = NULL;
}

int ps_unwind_from_context(const void *ucontext, uintptr_t *ips, int max, int *cut)
{
    const ucontext_t *uc = ucontext;
    const greg_t *g = uc->uc_mcontext.gregs;
    /* No thread cache: the handler may have interrupted this thread while it wrote one. */
    int stopped = 0;
    int n = walk((uintptr_t)g[REG_RIP], (uintptr_t)g[REG_RSP], (uintptr_t)g[REG_RBP], 1,
                 (void **)ips, max, NULL, NULL, NULL, &stopped);
    if (stopped && stopped_at_regs((void *const *)ips, n, 1)) {
        /* every register of the interrupted code, in DWARF's numbering */
        static const int from[DW_NREGS] = {REG_RAX, REG_RDX, REG_RCX, REG_RBX, REG_RSI, REG_RDI,
                                           REG_RBP, REG_RSP, REG_R8,  REG_R9,  REG_R10, REG_R11,
                                           REG_R12, REG_R13, REG_R14, REG_R15, REG_RIP};
        uintptr_t reg[DW_NREGS];
        for (int i = 0; i < DW_NREGS; i++)
            reg[i] = (uintptr_t)g[from[i]];
        uintptr_t top = stack_top(NULL, reg[DW_RSP]);
        stopped = 0;
        int m =
            top ? walk_regs(reg, (1u << DW_NREGS) - 1, 1, (void **)ips, max, top, &stopped, 0, 0)
                : -1;
        if (m > n)
            n = m;
        else
            stopped = 1; /* no further than the fast walk: its frames are still in ips */
    }
    if (stopped) {
        if (!cut)
            return -1;
        *cut = 1;
    }
    return n;
}

PS_COLD int ps_unwind_init(void)
{
    if (!_dl_find_object)
        return -1;
    if (atomic_load_explicit(&rtable, memory_order_relaxed))
        return 0;
    main_tp = thread_pointer();
    uintptr_t size = (uintptr_t)1 << 30;
    uint64_t limit = ps_os_stack_limit();
    if (limit && limit < size)
        size = (uintptr_t)limit;
    /* RLIMIT_STACK bounds the stack mapping, whose top lies above __libc_stack_end by the
     * arguments, environment and auxiliary vector; the executable's name (AT_EXECFN) is the
     * last string, right below the top. */
    main_hi = (uintptr_t)__libc_stack_end + 16;
    uintptr_t fn = (uintptr_t)ps_os_auxv(AT_EXECFN);
    if (fn > main_hi && fn - main_hi < ((uintptr_t)64 << 20))
        main_hi = (fn + strlen((const char *)fn) + 1 + 8 + 4095) & ~(uintptr_t)4095;
    main_lo = main_hi - size;
    find_main_code();
    rule_table_t *t = rule_table_new(RC_INITIAL_BITS);
    atomic_store_explicit(&rtable, t, memory_order_release);
    return t ? 0 : -2;
}

void ps_unwind_flush(void)
{
    if (!atomic_load_explicit(&rtable, memory_order_relaxed))
        return;
    /* Not during a growth, which could copy rules of the unloaded code into the new table.
     * A grower never waits for anything, so this wait is short. */
    int expected = 0;
    while (!atomic_compare_exchange_weak_explicit(&growing, &expected, 1, memory_order_acquire,
                                                  memory_order_relaxed)) {
        expected = 0;
        ps_os_yield();
    }
    atomic_fetch_add_explicit(&generation, 1, memory_order_acq_rel);
    rows_flush();
    rule_table_t *t = atomic_load_explicit(&rtable, memory_order_relaxed);
    for (size_t i = 0; i < ((size_t)1 << t->bits); i++) {
        if (atomic_load_explicit(&t->slot[i].key, memory_order_relaxed) == 0)
            continue;
        atomic_store_explicit(&t->slot[i].rule, 0, memory_order_release);
        atomic_store_explicit(&t->slot[i].key, 0, memory_order_release);
    }
    atomic_store_explicit(&t->used, 0, memory_order_relaxed);
    atomic_store_explicit(&growing, 0, memory_order_release);
}

uint64_t ps_unwind_rule_of(uintptr_t pc)
{
    return atomic_load_explicit(&rtable, memory_order_acquire) ? lookup_rule(pc) : 0;
}

void ps_unwind_set_rows_min(size_t bytes)
{
    rows_min_cfi = bytes;
}

size_t ps_unwind_rule_capacity(void)
{
    rule_table_t *t = atomic_load_explicit(&rtable, memory_order_acquire);
    return t ? (size_t)1 << t->bits : 0;
}

uint64_t ps_unwind_fallbacks(void)
{
    return atomic_load_explicit(&fallbacks, memory_order_relaxed);
}
