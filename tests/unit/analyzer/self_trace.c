/* SPDX-License-Identifier: MIT */
/*
 * self_trace.c — see self_trace.h. Aborts on out of memory (test code).
 */
#include "self_trace.h"

#include <elf.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void st_add_module(pa_trace_t *t, const char *path, uint64_t base, uint64_t start, uint64_t end,
                   const uint8_t *build_id, uint32_t build_id_len)
{
    if (pa_util_grow((void **)&t->modules, &t->modules_cap, t->nmodules + 1, sizeof *t->modules))
        abort();
    pa_module_t *m = &t->modules[t->nmodules++];
    memset(m, 0, sizeof *m);
    m->base = base;
    m->start = start;
    m->end = end;
    m->path = strdup(path);
    if (build_id_len) {
        m->build_id = malloc(build_id_len);
        memcpy(m->build_id, build_id, build_id_len);
        m->build_id_len = build_id_len;
    }
}

static int add_phdr_module(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    pa_trace_t *t = data;
    uint64_t lo = UINT64_MAX, hi = 0;
    const uint8_t *bid = NULL;
    uint32_t bid_len = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD) {
            uint64_t s = info->dlpi_addr + ph->p_vaddr, e = s + ph->p_memsz;
            lo = s < lo ? s : lo;
            hi = e > hi ? e : hi;
        } else if (ph->p_type == PT_NOTE && !bid) {
            const uint8_t *p = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr);
            const uint8_t *end = p + ph->p_memsz;
            while (p + sizeof(ElfW(Nhdr)) <= end) {
                const ElfW(Nhdr) *nh = (const void *)p;
                const uint8_t *name = p + sizeof *nh;
                const uint8_t *desc = name + ((nh->n_namesz + 3) & ~3u);
                const uint8_t *next = desc + ((nh->n_descsz + 3) & ~3u);
                if (next > end)
                    break;
                if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
                    memcmp(name, "GNU", 4) == 0) {
                    bid = desc;
                    bid_len = nh->n_descsz;
                    break;
                }
                p = next;
            }
        }
    }
    if (hi == 0)
        return 0;
    char exe[4096];
    const char *path = info->dlpi_name;
    if (!path || !*path) {
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        exe[n > 0 ? n : 0] = 0;
        path = t->nmodules == 0 ? exe : "";
    } else if (strncmp(path, "linux-vdso", 10) == 0) {
        path = "[vdso]";
    }
    st_add_module(t, path, info->dlpi_addr, lo, hi, bid, bid_len);
    return 0;
}

void st_init(pa_trace_t *t)
{
    memset(t, 0, sizeof *t);
    t->path = strdup("self.trace");
    t->quiet = true;
    t->version = 1;
    t->has_end = true;
    dl_iterate_phdr(add_phdr_module, t);
}

void st_add_stack(pa_trace_t *t, uint32_t id, uint32_t depth, const uint64_t *addrs)
{
    if (pa_model_add_stack(t, id, depth, addrs) != PA_OK)
        abort();
}

void st_add_row(pa_trace_t *t, uint32_t stack_id, uint64_t allocs, uint64_t alloc_bytes,
                uint64_t live_blocks, uint64_t live_bytes)
{
    pa_row_t *rows = realloc(t->snap.rows, (t->snap.nrows + 1) * sizeof *rows);
    if (!rows)
        abort();
    t->snap.rows = rows;
    pa_row_t *r = &rows[t->snap.nrows++];
    memset(r, 0, sizeof *r);
    r->stack_id = stack_id;
    r->allocs = allocs;
    r->alloc_bytes = alloc_bytes;
    r->frees = allocs - live_blocks;
    r->freed_bytes = alloc_bytes - live_bytes;
    r->live_blocks = live_blocks;
    r->live_bytes = live_bytes;
    r->peak_live_bytes = alloc_bytes;
    t->snap.totals.allocs += allocs;
    t->snap.totals.alloc_bytes += alloc_bytes;
    t->snap.totals.live_blocks += live_blocks;
    t->snap.totals.live_bytes += live_bytes;
    t->has_snapshot = true;
    t->nsnapshots = 1;
}

const pa_module_t *st_module_of(const pa_trace_t *t, uint64_t addr)
{
    return pa_model_module_at(t, addr);
}
