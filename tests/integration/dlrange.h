/* SPDX-License-Identifier: MIT */
/*
 * dlrange.h — the address range of a loaded library's PT_LOAD segments, for the dlopen test
 * programs (dlleak.c, dlreload.c): dl_iterate_phdr(find_range, &r) with r.base its load bias.
 */
#ifndef PERFSHIM_TESTS_DLRANGE_H
#define PERFSHIM_TESTS_DLRANGE_H

#include <link.h>
#include <stdint.h>

struct range {
    uintptr_t base, lo, hi;
};

static int find_range(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    struct range *r = data;
    if (info->dlpi_addr != r->base)
        return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uintptr_t s = info->dlpi_addr + ph->p_vaddr, e = s + ph->p_memsz;
        if (!r->lo || s < r->lo)
            r->lo = s;
        if (e > r->hi)
            r->hi = e;
    }
    return 1;
}

#endif
