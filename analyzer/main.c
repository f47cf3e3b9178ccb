/* SPDX-License-Identifier: MIT */
/*
 * main.c — the perfshim executable. Everything lives in cli.c; this is the only place that turns
 * a result into the process exit status.
 */
#include "cli.h"

#include <fcntl.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

/* The environment variable that tells the second start what GLIBC_TUNABLES was: "=VALUE", or
 * "-" when it was not set. Not a PERFSHIM_ name: those are the shim's (options.md). */
#define TUNABLES_WAS "PSANALYZER_TUNABLES_WAS"
#define HUGE_MALLOC "glibc.malloc.hugetlb=1"

/* Whether transparent huge pages are given only where asked (madvise), as on Debian. */
static bool thp_madvise(void)
{
    char buf[128] = {0};
    int fd = open("/sys/kernel/mm/transparent_hugepage/enabled", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    return n > 0 && strstr(buf, "[madvise]") != NULL;
}

/* malloc's memory in transparent huge pages (glibc 2.35's glibc.malloc.hugetlb=1: the heap
 * grown and large blocks mapped with MADV_HUGEPAGE): on the 100k-stack scale traces the reports
 * take 36-47% fewer page faults and 6-21% less CPU, for 2-4 MB more peak RSS
 * (docs/performance.md, "Page faults of the reports, again"). glibc reads its tunables once,
 * from the environment, before main: so the first start adds the tunable and executes itself
 * again, once, and the second puts the environment back as it was before anything else runs
 * (the programs `run` starts see the user's). Not done when the user set the tunable either
 * way, when something is preloaded into the analyzer (valgrind's tools: the process they run
 * would be the first start only, the second runs without them; or the shim: two traces), for a
 * set-user-ID start (glibc ignores the tunable), where huge pages are always or never given,
 * or when /proc/self/exe cannot be executed (then the run goes on as before). */
static void huge_malloc(char **argv)
{
    const char *was = getenv(TUNABLES_WAS);
    if (was) { /* the second start */
        if (*was == '=')
            setenv("GLIBC_TUNABLES", was + 1, 1);
        else
            unsetenv("GLIBC_TUNABLES");
        unsetenv(TUNABLES_WAS);
        return;
    }
    const char *cur = getenv("GLIBC_TUNABLES"), *pre = getenv("LD_PRELOAD");
    if ((cur && strstr(cur, "glibc.malloc.hugetlb")) || (pre && *pre) || getauxval(AT_SECURE) ||
        !thp_madvise())
        return;
    size_t n = (cur ? strlen(cur) : 0) + sizeof HUGE_MALLOC + 2;
    char *val = malloc(n), *w = malloc(n);
    if (!val || !w) {
        free(val);
        free(w);
        return;
    }
    snprintf(val, n, "%s%s%s", cur ? cur : "", cur && *cur ? ":" : "", HUGE_MALLOC);
    snprintf(w, n, "%s%s", cur ? "=" : "-", cur ? cur : "");
    if (setenv(TUNABLES_WAS, w, 1) == 0 && setenv("GLIBC_TUNABLES", val, 1) == 0)
        execv("/proc/self/exe", argv);
    /* not executed: the environment as it was */
    if (cur)
        setenv("GLIBC_TUNABLES", w + 1, 1);
    else
        unsetenv("GLIBC_TUNABLES");
    unsetenv(TUNABLES_WAS);
    free(val);
    free(w);
}

int main(int argc, char **argv)
{
    huge_malloc(argv);
    /* A fixed threshold: every array of 1 MiB or more is its own mapping, given back to the
     * system when freed (a chunk's payload, the hash indexes freed after loading or grouping).
     * glibc's default raises the threshold to the size of each such block freed, so the blocks
     * after it came from the heap and stayed in the peak RSS (4.5 MB of a cc1plus summary). */
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
    /* The analyzer has one thread: stdio need not lock the streams at each call (a full leaks
     * report of a compile is 1.26M lines, its JSON 260 MB, written a field at a time). Reports
     * to a file or pipe go out in 64 KiB writes rather than st_blksize's 4 KiB; a terminal
     * keeps its line buffering. */
    __fsetlocking(stdout, FSETLOCKING_BYCALLER);
    __fsetlocking(stderr, FSETLOCKING_BYCALLER);
    if (!isatty(STDOUT_FILENO))
        setvbuf(stdout, NULL, _IOFBF, (size_t)1 << 16);
    return pa_cli_main(argc, argv);
}
