/* SPDX-License-Identifier: MIT */
/*
 * lazybind.c — CPU time spent in the loader's lazy binding: loads lazybind_lib.so (argv[1]),
 * then argv[2] rounds of: call its LAZY_FUNCS functions once each through its PLT
 * (lazy_dispatch: every call binds a slot), and unbind them all again (lazy_rearm). Under
 * PERFSHIM_CPU_HZ many samples land inside _dl_fixup under ld.so's _dl_runtime_resolve_*
 * trampoline, whose CFA is in rbx: their stacks must still reach lazy_dispatch,
 * lazybind_round, main and _start (test_lazybind.py).
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

static int (*dispatch)(int);
static void (*rearm)(void);

__attribute__((noinline)) static int lazybind_round(int seed)
{
    int r = dispatch(seed);
    rearm();
    return r;
}

static void *sym(void *h, const char *name)
{
    void *p = dlsym(h, name);
    if (!p) {
        fprintf(stderr, "lazybind: no %s\n", name);
        exit(1);
    }
    return p;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: lazybind LIB ROUNDS\n");
        return 2;
    }
    void *h = dlopen(argv[1], RTLD_LAZY | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "lazybind: %s\n", dlerror());
        return 1;
    }
    int (*save)(void) = (int (*)(void))sym(h, "lazy_save");
    dispatch = (int (*)(int))sym(h, "lazy_dispatch");
    rearm = (void (*)(void))sym(h, "lazy_rearm");
    int slots = save();
    if (slots < 4096) {
        fprintf(stderr, "lazybind: %d PLT slots\n", slots);
        return 1;
    }
    int rounds = atoi(argv[2]), sum = 0;
    for (int i = 0; i < rounds; i++)
        sum += lazybind_round(i);
    printf("lazybind: %d rounds of %d slots, sum %d\n", rounds, slots, sum);
    return 0;
}
