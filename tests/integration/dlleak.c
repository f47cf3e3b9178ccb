/* SPDX-License-Identifier: MIT */
/*
 * dlleak.c — dlopen/dlclose of a plugin that leaks (test_dlclose.py).
 *
 *   dlleak LIB [--dump]
 *
 * Loads LIB (tests/integration/dlleak_lib.c), makes it leak DLLEAK_FIRST blocks, dlclose()s
 * it; then reserves the address range it occupied so that the loader must pick another one,
 * loads it again, makes it leak DLLEAK_SECOND blocks and dlclose()s it again. Both unloads
 * happen before exit: the trace's module map at exit no longer has the library. Prints
 * "dlleak: first 0x... second 0x... done" on stderr (the two load addresses; they differ when the
 * reservation worked). With --dump, a perfshim_dump() while the first copy is loaded.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "dlrange.h"

#define DLLEAK_FIRST 3
#define DLLEAK_SECOND 2
#define DLLEAK_SIZE 72

typedef unsigned long (*make_fn)(int, size_t);

/* Load, leak, unload; returns the load bias, or 0 on failure. */
static uintptr_t round_trip(const char *lib, int count, int dump, struct range *out)
{
    void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "dlleak: dlopen: %s\n", dlerror());
        return 0;
    }
    make_fn make = (make_fn)dlsym(h, "dlleak_make");
    Dl_info info;
    if (!make || !dladdr((void *)make, &info)) {
        fprintf(stderr, "dlleak: dlsym/dladdr failed\n");
        return 0;
    }
    struct link_map *lm;
    dlinfo(h, RTLD_DI_LINKMAP, &lm);
    struct range r = {lm->l_addr, 0, 0};
    dl_iterate_phdr(find_range, &r);
    if (out)
        *out = r;
    unsigned long sum = make(count, DLLEAK_SIZE); /* NOLEAK:host_call */
    if (sum != (unsigned long)count * (count + 1) / 2)
        fprintf(stderr, "dlleak: bad checksum %lu\n", sum);
    if (dump) {
        int (*dumpfn)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "perfshim_api_dump_v1");
        if (dumpfn)
            dumpfn();
    }
    if (dlclose(h) != 0) {
        fprintf(stderr, "dlleak: dlclose: %s\n", dlerror());
        return 0;
    }
    return r.base;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: dlleak LIB [--dump]\n");
        return 2;
    }
    int dump = argc > 2 && strcmp(argv[2], "--dump") == 0;
    struct range r;
    uintptr_t first = round_trip(argv[1], DLLEAK_FIRST, dump, &r);
    if (!first)
        return 1;
    /* Keep the loader from putting the second copy where the first was. */
    size_t page = 4096;
    uintptr_t lo = r.lo & ~(page - 1), hi = (r.hi + page - 1) & ~(page - 1);
    void *hold = mmap((void *)lo, hi - lo, PROT_NONE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (hold == MAP_FAILED)
        fprintf(stderr, "dlleak: could not reserve the old range\n");
    uintptr_t second = round_trip(argv[1], DLLEAK_SECOND, 0, NULL);
    if (!second)
        return 1;
    fprintf(stderr, "dlleak: first %#lx second %#lx done\n", (unsigned long)first,
            (unsigned long)second);
    return 0;
}
