/* SPDX-License-Identifier: MIT */
/*
 * real.c — the real allocator under the shim, libc's own dlsym/dlvsym, and libc's definitions
 * of other functions the shim interposes (found in libc's symbol table: ps_real_function).
 *
 * The malloc family is reached through glibc's exported __libc_malloc & co (GLIBC_2.2.5):
 * linking to them directly means no dlsym is needed to find the real allocator, so there is no
 * bootstrap phase in which dlsym's own calloc must be served from a static arena (the trap
 * heaptrack and others hit; see docs/architecture.md). glibc-only, like the shim.
 *
 * malloc_usable_size, dlsym and dlvsym have no __libc_ alias; we find libc's definitions by
 * looking them up in libc's GNU hash table ourselves, once at init (never on the allocation
 * path), because asking dlsym for "dlsym" would find our own interposer.
 */
#include "internal.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <link.h>
#include <signal.h>
#include <string.h>

extern void *__libc_memalign(size_t, size_t);

void *ps_real_malloc(size_t n)
{
    return __libc_malloc(n);
}
void ps_real_free(void *p)
{
    __libc_free(p);
}
void *ps_real_calloc(size_t n, size_t m)
{
    return __libc_calloc(n, m);
}
void *ps_real_realloc(void *p, size_t n)
{
    return __libc_realloc(p, n);
}
void *ps_real_memalign(size_t align, size_t n)
{
    return __libc_memalign(align, n);
}

typedef size_t (*usable_fn)(void *);
typedef void *(*dlsym_fn)(void *, const char *);
typedef void *(*dlvsym_fn)(void *, const char *, const char *);

static usable_fn real_usable;
static dlsym_fn real_dlsym;
static dlvsym_fn real_dlvsym;
static int real_ready; /* 1 ok, -1 failed */

/* ---- reading libc's dynamic symbol table -------------------------------------------------- */

typedef struct libc_syms_s {
    uintptr_t base;
    const ElfW(Sym) * symtab;
    const char *strtab;
    const uint32_t *gnu_hash;
    const ElfW(Versym) * versym; /* DT_VERSYM, or NULL: bit 15 marks a non-default version */
} libc_syms_t;

static libc_syms_t libc_syms; /* filled once by load_libc_syms() */
static int libc_syms_state;   /* 0 not looked, 1 found, -1 not found */

static int find_libc(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    libc_syms_t *ls = data;
    const char *name = info->dlpi_name;
    const char *slash = name ? strrchr(name, '/') : NULL;
    const char *base = slash ? slash + 1 : name;
    if (!base || strncmp(base, "libc.so", 7) != 0)
        return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        if (info->dlpi_phdr[i].p_type != PT_DYNAMIC)
            continue;
        const ElfW(Dyn) *dyn = (const void *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
        for (; dyn->d_tag != DT_NULL; dyn++) {
            uintptr_t v = dyn->d_un.d_ptr;
            if (v < info->dlpi_addr) /* not relocated by the loader (read-only dynamic) */
                v += info->dlpi_addr;
            if (dyn->d_tag == DT_SYMTAB)
                ls->symtab = (const void *)v;
            else if (dyn->d_tag == DT_STRTAB)
                ls->strtab = (const void *)v;
            else if (dyn->d_tag == DT_GNU_HASH)
                ls->gnu_hash = (const void *)v;
            else if (dyn->d_tag == DT_VERSYM)
                ls->versym = (const void *)v;
        }
        ls->base = info->dlpi_addr;
        return 1;
    }
    return 0;
}

static uint32_t gnu_hash(const char *s)
{
    uint32_t h = 5381;
    for (; *s; s++)
        h = h * 33 + (unsigned char)*s;
    return h;
}

static void *libc_lookup(const libc_syms_t *ls, const char *name)
{
    if (!ls->symtab || !ls->strtab || !ls->gnu_hash)
        return NULL;
    const uint32_t *gh = ls->gnu_hash;
    uint32_t nbuckets = gh[0], symoffset = gh[1], bloom_size = gh[2];
    const uint32_t *buckets = (const uint32_t *)((const uintptr_t *)(gh + 4) + bloom_size);
    const uint32_t *chain = buckets + nbuckets;
    if (nbuckets == 0)
        return NULL;
    uint32_t h = gnu_hash(name);
    uint32_t i = buckets[h % nbuckets];
    if (i < symoffset)
        return NULL;
    for (;; i++) {
        uint32_t h2 = chain[i - symoffset];
        const ElfW(Sym) *sym = &ls->symtab[i];
        if ((h | 1) == (h2 | 1) && sym->st_shndx != SHN_UNDEF && sym->st_value != 0 &&
            (!ls->versym || !(ls->versym[i] & 0x8000)) && /* the default version only */
            strcmp(name, ls->strtab + sym->st_name) == 0)
            return (void *)(ls->base + sym->st_value);
        if (h2 & 1)
            return NULL;
    }
}

/* libc's own malloc-family functions, to recognise them in dlsym results (interpose.c). */
static const char *const family_names[PS_FAMILY_COUNT] = {
    "malloc",        "free",     "calloc", "realloc", "reallocarray",       "posix_memalign",
    "aligned_alloc", "memalign", "valloc", "pvalloc", "malloc_usable_size", "cfree"};
static void *family_libc[PS_FAMILY_COUNT];

static const libc_syms_t *load_libc_syms(void)
{
    if (libc_syms_state == 0) {
        libc_syms_t ls;
        memset(&ls, 0, sizeof ls);
        dl_iterate_phdr(find_libc, &ls);
        libc_syms = ls;
        libc_syms_state = ls.symtab ? 1 : -1;
    }
    return &libc_syms;
}

/* glibc's own aligned_alloc, for an alignment that is not a power of two: glibc 2.36 rounds it up
 * as memalign does, later ones refuse it (EINVAL); the shim answers as the libc it runs on. */
void *ps_real_aligned_alloc(size_t align, size_t n)
{
    void *f = ps_real_libc_symbol("aligned_alloc"); /* rare: not worth a cached pointer */
    if (!f) {
        errno = EINVAL;
        return NULL;
    }
    return ((void *(*)(size_t, size_t))f)(align, n);
}

void *ps_real_libc_symbol(const char *name)
{
    return libc_lookup(load_libc_syms(), name);
}

void *ps_real_function(const char *name)
{
    void *f = ps_real_libc_symbol(name);
    return f ? f : ps_real_dlsym(RTLD_NEXT, name);
}

int ps_real_init(void)
{
    if (real_ready)
        return real_ready > 0 ? 0 : -1;
    libc_syms_t ls = *load_libc_syms();
    real_usable = (usable_fn)libc_lookup(&ls, "malloc_usable_size");
    real_dlsym = (dlsym_fn)libc_lookup(&ls, "dlsym");
    real_dlvsym = (dlvsym_fn)libc_lookup(&ls, "dlvsym");
    for (int i = 0; i < PS_FAMILY_COUNT; i++)
        family_libc[i] = libc_lookup(&ls, family_names[i]);
    real_ready = (real_usable && real_dlsym && real_dlvsym) ? 1 : -1;
    if (real_ready < 0)
        ps_msg_warn("could not find malloc_usable_size/dlsym/dlvsym in libc's symbol table; "
                    "tracking stays off");
    return real_ready > 0 ? 0 : -1;
}

size_t ps_real_usable_size(void *p)
{
    if (PS_UNLIKELY(!real_usable)) {
        ps_real_init();
        if (!real_usable)
            return 0;
    }
    return real_usable(p);
}

void *ps_real_dlsym(void *handle, const char *name)
{
    if (PS_UNLIKELY(!real_dlsym))
        ps_real_init();
    return real_dlsym ? real_dlsym(handle, name) : NULL;
}

void *ps_real_dlvsym(void *handle, const char *name, const char *version)
{
    if (PS_UNLIKELY(!real_dlvsym))
        ps_real_init();
    return real_dlvsym ? real_dlvsym(handle, name, version) : NULL;
}

const char *ps_real_family_name(int i)
{
    return i >= 0 && i < PS_FAMILY_COUNT ? family_names[i] : "";
}

int ps_real_family_index(void *addr)
{
    if (!addr)
        return -1;
    for (int i = 0; i < PS_FAMILY_COUNT; i++)
        if (family_libc[i] == addr)
            return i;
    return -1;
}

static void *dlsym_missing(void *handle, const char *name)
{
    (void)handle;
    (void)name;
    return NULL;
}

static void *dlvsym_missing(void *handle, const char *name, const char *version)
{
    (void)handle;
    (void)name;
    (void)version;
    return NULL;
}

void *(*ps_real_dlsym_fn(void))(void *, const char *)
{
    if (PS_UNLIKELY(!real_dlsym))
        ps_real_init();
    return real_dlsym ? real_dlsym : dlsym_missing;
}

void *(*ps_real_dlvsym_fn(void))(void *, const char *, const char *)
{
    if (PS_UNLIKELY(!real_dlvsym))
        ps_real_init();
    return real_dlvsym ? real_dlvsym : dlvsym_missing;
}

/* ---- libc's signal-mask functions (cpu.c interposes them while it samples) ---------------- */

typedef int (*sigmask_fn)(int, const sigset_t *, sigset_t *);
static sigmask_fn real_sigprocmask, real_pthread_sigmask;

void ps_real_masks_init(void)
{
    if (!real_sigprocmask)
        real_sigprocmask = (sigmask_fn)ps_real_function("sigprocmask");
    if (!real_pthread_sigmask)
        real_pthread_sigmask = (sigmask_fn)ps_real_function("pthread_sigmask");
}

int ps_real_sigprocmask(int how, const sigset_t *set, sigset_t *old)
{
    ps_real_masks_init();
    if (!real_sigprocmask) {
        errno = ENOSYS;
        return -1;
    }
    return real_sigprocmask(how, set, old);
}

int ps_real_pthread_sigmask(int how, const sigset_t *set, sigset_t *old)
{
    ps_real_masks_init();
    return real_pthread_sigmask ? real_pthread_sigmask(how, set, old) : ENOSYS;
}
