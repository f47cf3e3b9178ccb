/* SPDX-License-Identifier: MIT */
/*
 * deepstack.c — spins on the CPU with its main thread's stack used down to 4 KiB (argv[1]) of its
 * RLIMIT_STACK, as Ruby's VM does at start (it reserves the whole main stack with alloca). A
 * CPU-sampling signal handler that walks the stack there needs more than is left: the shim's
 * used to overflow it (SIGSEGV in ruby under PERFSHIM_CPU_HZ). Prints "ok" and exits 0; 77 when
 * the stack limit is unlimited or large (nothing to reach). argv[1]: bytes of stack to leave
 * (default 4096: the kernel's signal frame fits, a stack walk does not).
 */
#include <alloca.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

/* The top of the main thread's stack mapping ("[stack]" in /proc/self/maps), 0 if not found. */
static uintptr_t stack_top(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    uintptr_t top = 0;
    while (f && fgets(line, sizeof line, f)) {
        unsigned long a, b;
        if (strstr(line, "[stack]") && sscanf(line, "%lx-%lx", &a, &b) == 2)
            top = (uintptr_t)b;
    }
    if (f)
        fclose(f);
    return top;
}

static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static __attribute__((noinline)) int spin_at_bottom(uintptr_t top, size_t limit, size_t room,
                                                    double seconds)
{
    char here;
    uintptr_t lo = top - limit;
    uintptr_t sp = (uintptr_t)&here;
    if (sp <= lo + room + 65536)
        return -1;
    size_t need = sp - lo - room - 1024; /* this frame, alloca's rounding and the calls below */
    volatile char *p = alloca(need);
    for (size_t off = need; off >= 4096; off -= 4096) /* grow the stack page by page, down */
        p[off - 1] = 1;
    p[0] = 1;
    double end = cpu_seconds() + seconds;
    volatile uint64_t x = 0;
    while (cpu_seconds() < end)
        for (int i = 0; i < 100000; i++)
            x += (uint64_t)i;
    return (int)(x & 1) + p[0] - 1;
}

int main(int argc, char **argv)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_STACK, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY ||
        rl.rlim_cur > ((rlim_t)256 << 20)) {
        printf("skipped: stack limit unlimited or above 256 MiB\n");
        return 77;
    }
    uintptr_t top = stack_top();
    if (!top || spin_at_bottom(top, (size_t)rl.rlim_cur, argc > 1 ? (size_t)atoi(argv[1]) : 4096,
                               0.5) < 0) {
        printf("skipped: cannot reach the stack's end\n");
        return 77;
    }
    printf("ok\n");
    return 0;
}
