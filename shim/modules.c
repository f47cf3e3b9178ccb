/* SPDX-License-Identifier: MIT */
/*
 * modules.c — modules that dlclose() unmapped, so that stacks captured while they were loaded
 * still symbolize (the UNLOADED_MODULES chunk, docs/trace-format.md), and the build-id reader
 * snapshot.c shares.
 *
 * The MODULES chunk holds the map live at a snapshot; a plugin loaded, used and dlclose'd
 * before it is absent, and its frames would print as bare addresses. The dlclose interposer
 * calls ps_modules_before_close() (copies the whole map: path, bias, range, build-id, while it
 * is still mapped) and ps_modules_after_close() (walks the map again; what is gone was
 * unloaded: by this call or by another thread's meanwhile, dependencies included). Both use
 * dl_iterate_phdr, which takes the loader's lock: they run only in the dlclose interposer,
 * never on an allocation path. The list is bounded (PS_UNLOADED_MAX; further unloads are
 * counted as dropped) and lives in mmap'd memory; every snapshot writes all of it, so a
 * forked child's file, which starts empty, gets the modules its parent unloaded too.
 */
#include "internal.h"

#include "include/trace_format.h"
#include "timing.h"

#include <elf.h>
#include <link.h>
#include <string.h>

#define PS_UNLOADED_MAX 256    /* unloaded modules remembered */
#define PS_MODULE_PATH 1024    /* longest path kept (longer ones are cut) */
#define PS_MODULES_BEFORE 1024 /* modules copied per dlclose (more are ignored) */

typedef struct ps_module_rec_s {
    uint64_t base, lo, hi; /* load bias; lowest and highest PT_LOAD address */
    uint64_t unload_ns;    /* monotonic, since start (after_close); 0 in the before-copy */
    uint32_t stacks;       /* stacks interned when it was (last) unloaded: ids up to this one
                            * may hold its addresses, later ones those of what came after it */
    uint32_t build_id_len;
    uint8_t build_id[PS_BUILD_ID_MAX];
    int gone; /* before-copy: absent from the map after the dlclose */
    char path[PS_MODULE_PATH];
} ps_module_rec_t;

static ps_spinlock_t list_lock;
static ps_module_rec_t *list; /* [PS_UNLOADED_MAX], mapped at the first unload */
static uint32_t list_n;
static uint64_t list_dropped;

size_t ps_modules_build_id(const struct dl_phdr_info *info, uint8_t *out, size_t max)
{
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_NOTE)
            continue;
        const uint8_t *p = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr);
        const uint8_t *end = p + ph->p_memsz;
        while (p + sizeof(ElfW(Nhdr)) <= end) {
            const ElfW(Nhdr) *nh = (const void *)p;
            const uint8_t *name = p + sizeof *nh;
            const uint8_t *desc = name + ((nh->n_namesz + 3) & ~3u);
            const uint8_t *next = desc + ((nh->n_descsz + 3) & ~3u);
            if (next > end)
                break;
            if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && memcmp(name, "GNU", 4) == 0) {
                size_t n = nh->n_descsz < max ? nh->n_descsz : max;
                memcpy(out, desc, n);
                return n;
            }
            p = next;
        }
    }
    return 0;
}

static int module_range(const struct dl_phdr_info *info, uint64_t *lo, uint64_t *hi)
{
    *lo = UINT64_MAX;
    *hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uint64_t s = info->dlpi_addr + ph->p_vaddr, e = s + ph->p_memsz;
        *lo = s < *lo ? s : *lo;
        *hi = e > *hi ? e : *hi;
    }
    return *hi != 0;
}

/* ---- the copy taken before a dlclose ---------------------------------------------------- */

struct ps_modules_before_s {
    size_t bytes;
    uint32_t n;
    ps_module_rec_t rec[];
};

static int copy_module(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    ps_modules_before_t *b = data;
    uint64_t lo, hi;
    /* the program ("") and the vDSO are never unloaded */
    if (!info->dlpi_name || !*info->dlpi_name || !module_range(info, &lo, &hi) ||
        strncmp(info->dlpi_name, "linux-vdso", 10) == 0)
        return 0;
    if (b->n >= PS_MODULES_BEFORE)
        return 1;
    ps_module_rec_t *r = &b->rec[b->n++];
    r->base = info->dlpi_addr;
    r->lo = lo;
    r->hi = hi;
    r->build_id_len = (uint32_t)ps_modules_build_id(info, r->build_id, sizeof r->build_id);
    size_t len = strnlen(info->dlpi_name, sizeof r->path - 1);
    memcpy(r->path, info->dlpi_name, len);
    r->path[len] = 0;
    r->gone = 1;
    return 0;
}

ps_modules_before_t *ps_modules_before_close(void)
{
    size_t bytes = sizeof(ps_modules_before_t) + PS_MODULES_BEFORE * sizeof(ps_module_rec_t);
    ps_modules_before_t *b = ps_os_map(bytes); /* NORESERVE: only the records used are touched */
    if (!b)
        return NULL;
    b->bytes = bytes;
    dl_iterate_phdr(copy_module, b);
    return b;
}

static int mark_present(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    ps_modules_before_t *b = data;
    if (!info->dlpi_name || !*info->dlpi_name)
        return 0;
    for (uint32_t i = 0; i < b->n; i++) {
        ps_module_rec_t *r = &b->rec[i];
        if (r->gone && r->base == info->dlpi_addr &&
            strncmp(r->path, info->dlpi_name, sizeof r->path - 1) == 0)
            r->gone = 0;
    }
    return 0;
}

static int same_module(const ps_module_rec_t *a, const ps_module_rec_t *b)
{
    return a->base == b->base && a->lo == b->lo && a->hi == b->hi &&
           a->build_id_len == b->build_id_len &&
           memcmp(a->build_id, b->build_id, a->build_id_len) == 0 && strcmp(a->path, b->path) == 0;
}

static int overlap(const ps_module_rec_t *a, const ps_module_rec_t *b)
{
    return a->lo < b->hi && b->lo < a->hi;
}

/* A module already in the list is not added twice (two threads' dlcloses may both see it go,
 * and a plugin loaded and unloaded again at the same address symbolizes the same): the record
 * takes the later stack count. Unless a module unloaded after it had its addresses meanwhile:
 * then the stacks between the two unloads are the other module's, and it gets a new record. */
static void remember(const ps_module_rec_t *r, uint64_t now, uint32_t stacks)
{
    ps_lock(&list_lock);
    if (!list)
        list = ps_os_map(PS_UNLOADED_MAX * sizeof *list);
    uint32_t i = list ? list_n : 0;
    while (i > 0 && !same_module(&list[i - 1], r) && !overlap(&list[i - 1], r))
        i--;
    if (i > 0 && same_module(&list[i - 1], r)) {
        /* read without the lock by ps_modules_write_unloaded */
        __atomic_store_n(&list[i - 1].stacks, stacks, __ATOMIC_RELAXED);
    } else if (list) {
        if (list_n < PS_UNLOADED_MAX) {
            list[list_n] = *r;
            list[list_n].unload_ns = now;
            list[list_n].stacks = stacks;
            list[list_n].gone = 0;
            list_n++;
        } else {
            list_dropped++;
        }
    } else {
        list_dropped++;
    }
    ps_unlock(&list_lock);
}

void ps_modules_after_close(ps_modules_before_t *b)
{
    if (!b)
        return;
    dl_iterate_phdr(mark_present, b);
    uint64_t now = ps_os_monotonic_ns() - ps_g.start_monotonic_ns;
    ps_cpu_collect(); /* CPU samples are interned late: those taken while it was mapped, now */
    uint32_t stacks = ps_stack_count(); /* every stack captured while it was mapped */
    for (uint32_t i = 0; i < b->n; i++)
        if (b->rec[i].gone)
            remember(&b->rec[i], now, stacks);
    ps_os_unmap(b, b->bytes);
}

/* ---- the trace ------------------------------------------------------------------------------ */

int ps_modules_write_unloaded(ps_buf_t *b)
{
    ps_lock(&list_lock);
    uint32_t n = list_n;
    uint64_t dropped = list_dropped;
    ps_unlock(&list_lock);
    if (!n && !dropped)
        return 0;
    /* Entries below list_n are never changed once written (the list only grows), so they
     * can be read without the lock; the buffer may grow (mmap) and must not be under it. */
    ps_buf_u32(b, n);
    ps_buf_u32(b, 0);
    ps_buf_u64(b, dropped);
    for (uint32_t i = 0; i < n; i++) {
        const ps_module_rec_t *r = &list[i];
        ps_buf_u64(b, r->base);
        ps_buf_u64(b, r->lo);
        ps_buf_u64(b, r->hi);
        ps_buf_str(b, r->path);
        ps_buf_u32(b, r->build_id_len);
        ps_buf_bytes(b, r->build_id, r->build_id_len);
        ps_buf_u64(b, r->unload_ns);
    }
    /* appended after the records, which older readers stop at: each one's stack count */
    ps_buf_u32(b, n);
    for (uint32_t i = 0; i < n; i++)
        ps_buf_u32(b, __atomic_load_n(&list[i].stacks, __ATOMIC_RELAXED));
    return 1;
}

void ps_modules_fork_prepare(void)
{
    ps_lock(&list_lock);
}

void ps_modules_fork_parent(void)
{
    ps_unlock(&list_lock);
}

void ps_modules_fork_child(void)
{
    ps_unlock(&list_lock);
}
