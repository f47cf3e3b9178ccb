/* SPDX-License-Identifier: MIT */
/*
 * exc_host.c — a C program that dlopen()s libexc_thrower.so (a C++ library) and lets it throw
 * and catch EXC_HOST_COUNT exceptions; prints a checksum. See exc_thrower.cpp for why.
 * Usage: exc_host [LIBRARY [COUNT]]; the default library is ../lib/libexc_thrower.so next to
 * this executable (the build tree layout).
 */
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EXC_HOST_COUNT 100000

typedef unsigned long (*run_fn)(long count, long *caught);

static int default_library(char *out, size_t size)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return -1;
    self[n] = 0;
    char *slash = strrchr(self, '/');
    if (!slash)
        return -1;
    *slash = 0;
    int len = snprintf(out, size, "%s/../lib/libexc_thrower.so", self);
    return len > 0 && (size_t)len < size ? 0 : -1;
}

int main(int argc, char **argv)
{
    char path[PATH_MAX];
    if (argc > 1)
        snprintf(path, sizeof path, "%s", argv[1]);
    else if (default_library(path, sizeof path) != 0) {
        fprintf(stderr, "exc_host: cannot locate libexc_thrower.so\n");
        return 2;
    }
    long count = argc > 2 ? strtol(argv[2], NULL, 10) : EXC_HOST_COUNT;

    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        fprintf(stderr, "exc_host: %s\n", dlerror());
        return 2;
    }
    run_fn run = (run_fn)dlsym(lib, "exc_thrower_run");
    if (!run) {
        fprintf(stderr, "exc_host: %s\n", dlerror());
        return 2;
    }
    long caught = 0;
    unsigned long checksum = run(count, &caught);
    printf("exc_host: caught %ld checksum %lu\n", caught, checksum);
    dlclose(lib);
    return 0;
}
