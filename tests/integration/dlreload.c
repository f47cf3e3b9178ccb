/* SPDX-License-Identifier: MIT */
/*
 * dlreload.c — a plugin loaded, used, unloaded, and loaded again at another address while
 * another library holds its old one (test_dlreload.py).
 *
 *   dlreload PLUGIN FILLER ROUNDS [--close]
 *
 * Loads PLUGIN (dlreload_lib.c), spins ROUNDS rounds in reload_burn_first, leaks RELOAD_FIRST
 * blocks from reload_leak_first, dlclose()s it; loads FILLER (dlreload_filler.c), which the
 * loader puts where the plugin was (the highest free range that fits), and keeps it; loads
 * PLUGIN again, now elsewhere, spins in reload_burn_second and leaks RELOAD_SECOND blocks from
 * reload_leak_second; with --close, dlclose()s it again. Prints on stdout
 * "dlreload: first 0x... filler 0x... second 0x... overlap N" (the load biases; N is 1 when
 * the filler took the first load's address) and "dlreload: done".
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlrange.h"

#define RELOAD_FIRST 3
#define RELOAD_SECOND 5
#define RELOAD_SIZE 56

static void *load(const char *lib, struct range *r)
{
    void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "dlreload: dlopen: %s\n", dlerror());
        return NULL;
    }
    struct link_map *lm;
    dlinfo(h, RTLD_DI_LINKMAP, &lm);
    *r = (struct range){lm->l_addr, 0, 0};
    dl_iterate_phdr(find_range, r);
    return h;
}

/* One load's work: spin in burn_NAME, leak `count` blocks from leak_NAME. */
static int use(void *h, const char *which, unsigned long rounds, int count)
{
    char name[64];
    snprintf(name, sizeof name, "reload_burn_%s", which);
    void (*burn)(unsigned long) = (void (*)(unsigned long))dlsym(h, name);
    snprintf(name, sizeof name, "reload_leak_%s", which);
    void *(*leak)(size_t) = (void *(*)(size_t))dlsym(h, name);
    if (!burn || !leak) {
        fprintf(stderr, "dlreload: dlsym: %s\n", dlerror());
        return -1;
    }
    burn(rounds);
    for (int i = 0; i < count; i++)
        leak(RELOAD_SIZE); /* the blocks are dropped: definitely lost */
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: dlreload PLUGIN FILLER ROUNDS [--close]\n");
        return 2;
    }
    unsigned long rounds = strtoul(argv[3], NULL, 10);
    struct range first, filler, second;
    void *h = load(argv[1], &first);
    if (!h || use(h, "first", rounds, RELOAD_FIRST) || dlclose(h))
        return 1;
    void *f = load(argv[2], &filler);
    if (!f)
        return 1;
    h = load(argv[1], &second);
    if (!h || use(h, "second", rounds, RELOAD_SECOND))
        return 1;
    if (argc > 4 && strcmp(argv[4], "--close") == 0 && dlclose(h))
        return 1;
    printf("dlreload: first %#lx filler %#lx second %#lx overlap %d\n", (unsigned long)first.base,
           (unsigned long)filler.base, (unsigned long)second.base, filler.base == first.base);
    printf("dlreload: done\n");
    return 0;
}
