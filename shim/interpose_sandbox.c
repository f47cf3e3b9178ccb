/* SPDX-License-Identifier: MIT */
/*
 * interpose_sandbox.c — prctl and syscall, exported, to see a seccomp sandbox coming: a filter
 * that kills the process for a system call it did not expect (SECCOMP_RET_KILL_PROCESS, as
 * OpenSSH's pre-auth child and many libseccomp users install) would kill it for the shim's
 * own calls at exit (creating the trace, reading /proc). Before prctl(PR_SET_SECCOMP, ...) or
 * syscall(SYS_seccomp, SECCOMP_SET_MODE_STRICT or _FILTER, ...) reaches the kernel, init.c
 * writes the process's last snapshot and stops tracing it (ps_init_sandbox). libseccomp's
 * probe (a FILTER request with no program) and every other call only forward. Both functions
 * are variadic in glibc; the six argument words are forwarded as glibc's own syscall reads
 * them (registers, then the stack).
 */
#include "internal.h"

#include <errno.h>
#include <linux/seccomp.h>
#include <stdarg.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#define PS_API PS_EXPORT

typedef int (*prctl_fn)(int, unsigned long, unsigned long, unsigned long, unsigned long);
typedef long (*syscall_fn)(long, long, long, long, long, long, long);

static void *real_prctl, *real_syscall;

/* Looked up at the first call, not at start (a constructor would put this file's code in every
 * process's resident set: integration_footprint). By then init.c has read libc's symbol table
 * (ps_real_libc_symbol), so the lookup takes no lock: safe in a signal handler. */
static void *real_of(void **slot, const char *name)
{
    void *fn = __atomic_load_n(slot, __ATOMIC_RELAXED);
    if (!fn) {
        fn = ps_real_function(name);
        __atomic_store_n(slot, fn, __ATOMIC_RELAXED);
    }
    return fn;
}

PS_API int prctl(int option, ...)
{
    va_list ap;
    va_start(ap, option);
    unsigned long a2 = va_arg(ap, unsigned long), a3 = va_arg(ap, unsigned long);
    unsigned long a4 = va_arg(ap, unsigned long), a5 = va_arg(ap, unsigned long);
    va_end(ap);
    prctl_fn fn = (prctl_fn)real_of(&real_prctl, "prctl");
    if (!fn) {
        errno = ENOSYS;
        return -1;
    }
    if (option == PR_SET_SECCOMP &&
        (a2 == SECCOMP_MODE_STRICT || (a2 == SECCOMP_MODE_FILTER && a3 != 0)))
        ps_init_sandbox("prctl PR_SET_SECCOMP");
    return fn(option, a2, a3, a4, a5);
}

PS_API long syscall(long nr, ...)
{
    va_list ap;
    va_start(ap, nr);
    long a[6];
    for (int i = 0; i < 6; i++)
        a[i] = va_arg(ap, long);
    va_end(ap);
    syscall_fn fn = (syscall_fn)real_of(&real_syscall, "syscall");
    if (!fn) {
        errno = ENOSYS;
        return -1;
    }
    if (PS_UNLIKELY(nr == SYS_seccomp) &&
        (a[0] == SECCOMP_SET_MODE_STRICT || (a[0] == SECCOMP_SET_MODE_FILTER && a[2] != 0)))
        ps_init_sandbox("seccomp");
    return fn(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}
