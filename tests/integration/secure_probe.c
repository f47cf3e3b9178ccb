/* SPDX-License-Identifier: MIT */
/*
 * secure_probe.c — the host of test_security.py's set-uid/set-gid checks. It reports on stderr
 * whether the kernel started it in secure-execution mode (AT_SECURE) and whether the shim is
 * in the process (preloaded, or dlopen'ed from argv[1] — a route glibc cannot refuse), asks
 * the shim for a snapshot (an active shim writes a trace and returns 0; an inert one returns
 * -1), and does some allocation work whose checksum goes to stdout, so that a test can compare
 * stdout and exit status with a run without the shim. Exits 7 to make the status distinctive.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    void *h = NULL;
    if (argc > 1) {
        h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
        if (!h)
            fprintf(stderr, "secure_probe: dlopen %s: %s\n", argv[1], dlerror());
    }
    int (*dump)(void) = (int (*)(void))dlsym(h ? h : RTLD_DEFAULT, "perfshim_api_dump_v1");
    fprintf(stderr, "secure_probe: AT_SECURE=%lu uid=%d euid=%d gid=%d egid=%d\n",
            getauxval(AT_SECURE), (int)getuid(), (int)geteuid(), (int)getgid(), (int)getegid());
    fprintf(stderr, "secure_probe: shim %s\n", dump ? "present" : "absent");
    if (dump)
        fprintf(stderr, "secure_probe: dump returned %d\n", dump());

    unsigned long sum = 0;
    for (int i = 0; i < 2000; i++) {
        size_t n = 1 + (size_t)(i * 37 % 3000);
        unsigned char *p = malloc(n);
        if (!p)
            return 3;
        memset(p, i & 0xff, n);
        sum += p[n / 2];
        if (i % 100 != 0) /* keep 20 blocks: an active shim would report them */
            free(p);
    }
    printf("secure_probe: checksum %lu\n", sum);
    return 7;
}
