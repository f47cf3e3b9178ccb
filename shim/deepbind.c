/* SPDX-License-Identifier: MIT */
/*
 * deepbind.c — objects loaded with dlopen(..., RTLD_DEEPBIND) get the process's allocator.
 *
 * RTLD_DEEPBIND puts the loaded object's own scope (itself and its dependencies, libc among
 * them) before the global one, so its malloc-family references bind to libc's definitions
 * instead of ours. Then a block crosses between two allocators: libc's free on a block from
 * our pool aborts ("free(): invalid pointer"), libc's free on a block we track leaves it
 * reported as a leak, and even a plugin that frees only "its own" strings crashes when libc's
 * strdup (which calls the global malloc: ours) made them. The rest of DEEPBIND's meaning (the
 * plugin's other symbols resolve inside its own scope first) is what its users want, so we
 * neither strip the flag nor send later allocations to libc: after the real dlopen, every
 * object it loaded has its relocations against undefined malloc-family symbols (GOT and PLT
 * slots, and plain 64-bit data pointers) rewritten to our functions, the way a global-scope
 * binding would have resolved them: those that now point at libc's definitions, or (lazy
 * binding) still at the object's own PLT; a slot bound to some other library's malloc (a
 * plugin that brings its own allocator) is left alone. Slots in the RELRO segment are made writable
 * for the write and read-only again.
 *
 * What stays: blocks the object's constructors allocated, inside the real dlopen, came from
 * libc; they are foreign to us, and our free passes them on to libc, so they are safe (only
 * untracked). dlmopen namespaces are not handled. Runs in the dlopen interposer only, never
 * on an allocation path (dl_iterate_phdr takes the loader's lock).
 *
 * The rewriting itself (ps_rebind_object: one loaded object, a callback picks each slot's new
 * value; ps_rebind_others: every object but the shim) also serves unw_loader.c, which points
 * libunwind's pipe calls at its own functions, interpose.c (the calls bound to the sampling
 * variants) and locks.c (the lock calls bound to libc when lock timing is off).
 */
#include "internal.h"

#include <elf.h>
#include <link.h>
#include <string.h>

#define PS_DEEPBIND_OBJECTS 4096 /* objects remembered before a dlopen */

struct ps_deepbind_before_s {
    size_t bytes;
    uint32_t n;
    struct {
        uintptr_t base;
        const void *phdr; /* with base, names one loaded object */
    } obj[];
};

static int remember_object(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    ps_deepbind_before_t *b = data;
    if (b->n >= PS_DEEPBIND_OBJECTS)
        return 1;
    b->obj[b->n].base = info->dlpi_addr;
    b->obj[b->n].phdr = info->dlpi_phdr;
    b->n++;
    return 0;
}

ps_deepbind_before_t *ps_deepbind_before(void)
{
    size_t bytes = sizeof(ps_deepbind_before_t) + PS_DEEPBIND_OBJECTS * 2 * sizeof(void *);
    ps_deepbind_before_t *b = ps_os_map(bytes);
    if (!b)
        return NULL;
    b->bytes = bytes;
    dl_iterate_phdr(remember_object, b);
    return b;
}

/* ---- rewriting one object's relocations (also for libunwind: unw_loader.c) ---------------- */

typedef struct {
    ps_rebind_fn pick;
    void *arg;
    uintptr_t relro_lo, relro_hi;
    ps_rebind_slot_t slot;
    unsigned patched, failed;
} patch_ctx_t;

/* d_ptr values: glibc relocates them in place for a loaded object, but do not rely on it. */
static uintptr_t dyn_addr(uintptr_t base, uintptr_t v)
{
    return v && v < base ? v + base : v;
}

static void patch_slot(patch_ctx_t *c, void **slot)
{
    c->slot.cur = *slot;
    void *want = c->pick(&c->slot, c->arg);
    if (!want || want == c->slot.cur)
        return;
    uintptr_t a = (uintptr_t)slot;
    int relro = a >= c->relro_lo && a < c->relro_hi;
    size_t page = ps_os_page_size();
    void *pg = (void *)(a & ~(page - 1));
    if (relro && ps_os_protect(pg, page, 1) != 0) {
        c->failed++;
        return;
    }
    __atomic_store_n(slot, want, __ATOMIC_RELEASE);
    if (relro)
        ps_os_protect(pg, page, 0);
    c->patched++;
}

static void patch_relocs(patch_ctx_t *c, uintptr_t base, const ElfW(Rela) * r, size_t bytes,
                         const ElfW(Sym) * symtab, const char *strtab, size_t strsz)
{
    for (size_t i = 0; r && i < bytes / sizeof *r; i++) {
        unsigned type = ELF64_R_TYPE(r[i].r_info), sym = ELF64_R_SYM(r[i].r_info);
        if (sym == 0 || !(type == R_X86_64_JUMP_SLOT || type == R_X86_64_GLOB_DAT ||
                          (type == R_X86_64_64 && r[i].r_addend == 0)))
            continue;
        const ElfW(Sym) *s = &symtab[sym];
        if (s->st_shndx != SHN_UNDEF || s->st_name >= strsz)
            continue; /* the object's own definitions stay its own */
        c->slot.name = strtab + s->st_name;
        c->slot.plt = type == R_X86_64_JUMP_SLOT;
        patch_slot(c, (void **)(base + r[i].r_offset));
    }
}

void ps_object_range(const struct dl_phdr_info *info, uintptr_t *lo, uintptr_t *hi)
{
    *lo = UINTPTR_MAX;
    *hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++)
        if (info->dlpi_phdr[i].p_type == PT_LOAD) {
            uintptr_t a = info->dlpi_addr + info->dlpi_phdr[i].p_vaddr;
            *lo = a < *lo ? a : *lo;
            *hi = a + info->dlpi_phdr[i].p_memsz > *hi ? a + info->dlpi_phdr[i].p_memsz : *hi;
        }
}

unsigned ps_rebind_object(const struct dl_phdr_info *info, ps_rebind_fn pick, void *arg,
                          unsigned *failed)
{
    patch_ctx_t ctx = {.pick = pick, .arg = arg}, *c = &ctx;
    uintptr_t base = info->dlpi_addr;
    const ElfW(Dyn) *dyn = NULL;
    c->slot.obj_lo = UINTPTR_MAX;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD) {
            uintptr_t s = base + ph->p_vaddr;
            c->slot.obj_lo = s < c->slot.obj_lo ? s : c->slot.obj_lo;
            c->slot.obj_hi = s + ph->p_memsz > c->slot.obj_hi ? s + ph->p_memsz : c->slot.obj_hi;
        }
        if (ph->p_type == PT_DYNAMIC)
            dyn = (const ElfW(Dyn) *)(base + ph->p_vaddr);
        else if (ph->p_type == PT_GNU_RELRO) {
            /* the pages the loader made read-only: it rounds both ends down (a last page
             * shared with .data stays writable) */
            size_t page = ps_os_page_size();
            c->relro_lo = (base + ph->p_vaddr) & ~(page - 1);
            c->relro_hi = (base + ph->p_vaddr + ph->p_memsz) & ~(page - 1);
        }
    }
    if (!dyn)
        return 0;
    uintptr_t symtab = 0, strtab = 0, rela = 0, jmprel = 0;
    size_t strsz = 0, relasz = 0, pltrelsz = 0;
    long pltrel = DT_RELA;
    for (; dyn->d_tag != DT_NULL; dyn++) {
        switch (dyn->d_tag) {
        case DT_SYMTAB:
            symtab = dyn_addr(base, dyn->d_un.d_ptr);
            break;
        case DT_STRTAB:
            strtab = dyn_addr(base, dyn->d_un.d_ptr);
            break;
        case DT_STRSZ:
            strsz = dyn->d_un.d_val;
            break;
        case DT_RELA:
            rela = dyn_addr(base, dyn->d_un.d_ptr);
            break;
        case DT_RELASZ:
            relasz = dyn->d_un.d_val;
            break;
        case DT_JMPREL:
            jmprel = dyn_addr(base, dyn->d_un.d_ptr);
            break;
        case DT_PLTRELSZ:
            pltrelsz = dyn->d_un.d_val;
            break;
        case DT_PLTREL:
            pltrel = (long)dyn->d_un.d_val;
            break;
        default:
            break;
        }
    }
    if (!symtab || !strtab)
        return 0;
    const ElfW(Sym) *st = (const ElfW(Sym) *)symtab;
    patch_relocs(c, base, (const ElfW(Rela) *)rela, relasz, st, (const char *)strtab, strsz);
    if (pltrel == DT_RELA)
        patch_relocs(c, base, (const ElfW(Rela) *)jmprel, pltrelsz, st, (const char *)strtab,
                     strsz);
    if (failed)
        *failed += c->failed;
    return c->patched;
}

typedef struct {
    uintptr_t self;
    ps_rebind_fn pick;
    void *arg;
    unsigned patched, failed;
} others_ctx_t;

static int rebind_other(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    others_ctx_t *c = data;
    uintptr_t lo, hi;
    ps_object_range(info, &lo, &hi);
    if (c->self >= lo && c->self < hi)
        return 0;
    c->patched += ps_rebind_object(info, c->pick, c->arg, &c->failed);
    return 0;
}

unsigned ps_rebind_others(uintptr_t self, ps_rebind_fn pick, void *arg, unsigned *failed)
{
    others_ctx_t c = {.self = self, .pick = pick, .arg = arg};
    dl_iterate_phdr(rebind_other, &c);
    if (failed)
        *failed += c.failed;
    return c.patched;
}

/* ---- RTLD_DEEPBIND ------------------------------------------------------------------------- */

/* Only what the deep scope bound to libc, or a lazy slot not bound yet (it still points at the
 * object's own PLT): a plugin that deliberately links another allocator keeps it. */
static void *family_pick(const ps_rebind_slot_t *s, void *arg)
{
    void *const *ours = arg;
    for (int k = 0; k < PS_FAMILY_COUNT; k++)
        if (strcmp(s->name, ps_real_family_name(k)) == 0) {
            uintptr_t cur = (uintptr_t)s->cur;
            if (ps_real_family_index(s->cur) < 0 && !(cur >= s->obj_lo && cur < s->obj_hi))
                return NULL;
            return ours[k];
        }
    return NULL;
}

typedef struct {
    ps_deepbind_before_t *before;
    void *const *ours; /* [PS_FAMILY_COUNT], in ps_real_family_index order */
    const char *name;  /* the last object patched */
    unsigned patched, failed;
} deep_ctx_t;

static int patch_new(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    deep_ctx_t *c = data;
    for (uint32_t i = 0; i < c->before->n; i++)
        if (c->before->obj[i].base == info->dlpi_addr && c->before->obj[i].phdr == info->dlpi_phdr)
            return 0; /* loaded before this dlopen: its bindings did not change */
    c->name = info->dlpi_name;
    unsigned n = ps_rebind_object(info, family_pick, (void *)c->ours, &c->failed);
    c->patched += n;
    if (n && ps_g.opt.verbose)
        ps_msg_info("RTLD_DEEPBIND: %s: %u malloc-family reference(s) bound to perfshim",
                    info->dlpi_name, n);
    return 0;
}

void ps_deepbind_after(ps_deepbind_before_t *b, void *const *ours)
{
    if (!b)
        return;
    deep_ctx_t c = {.before = b, .ours = ours};
    dl_iterate_phdr(patch_new, &c);
    if (c.failed)
        ps_msg_warn("RTLD_DEEPBIND: %u malloc-family reference(s) in read-only memory could not "
                    "be rebound; blocks passed between the program and %s may crash it "
                    "(run with PERFSHIM_POOL=0)",
                    (unsigned)c.failed, c.name ? c.name : "the library");
    ps_os_unmap(b, b->bytes);
}
