/* SPDX-License-Identifier: MIT */
/*
 * fds.c — close, close_range, closefrom, dup2 and dup3: a program that closes or replaces a
 * descriptor the shim depends on (libunwind's validation pipe, stack.c) is noticed when it does
 * so, instead of by checking the descriptors before every libunwind walk (two fstat calls per
 * walk: PERFSHIM_UNWIND=libunwind went from 3.4x to 14x on churn-1t).
 *
 * Each wrapper compares the descriptors with the two of the pipe and calls libc's function;
 * nothing else. Raw system calls bypass these wrappers: stack.c still checks the pipe with
 * fstat on a thread's first libunwind walk and on every 256th.
 */
#include "internal.h"

#include <dlfcn.h>
#include <errno.h>

#define PS_API PS_EXPORT

static void *real_of(void **slot, const char *name)
{
    void *f = __atomic_load_n(slot, __ATOMIC_RELAXED);
    if (!f) {
        f = ps_real_function(name);
        __atomic_store_n(slot, f, __ATOMIC_RELAXED);
    }
    return f;
}

#define REAL_FN(name, type) ((type)real_of(&real_##name, #name))

static void *real_close, *real_close_range, *real_closefrom, *real_dup2, *real_dup3;

PS_API int close(int fd)
{
    ps_stack_fds_closing((unsigned)fd, (unsigned)fd);
    int (*f)(int) = REAL_FN(close, int (*)(int));
    if (!f) {
        errno = ENOSYS;
        return -1;
    }
    return f(fd);
}

PS_API int close_range(unsigned first, unsigned last, int flags)
{
    if (!(flags & 4)) /* CLOSE_RANGE_CLOEXEC only marks them close-on-exec */
        ps_stack_fds_closing(first, last);
    int (*f)(unsigned, unsigned, int) = REAL_FN(close_range, int (*)(unsigned, unsigned, int));
    if (!f) {
        errno = ENOSYS;
        return -1;
    }
    return f(first, last, flags);
}

PS_API void closefrom(int lowfd)
{
    ps_stack_fds_closing(lowfd < 0 ? 0u : (unsigned)lowfd, ~0u);
    void (*f)(int) = REAL_FN(closefrom, void (*)(int));
    if (f)
        f(lowfd);
}

PS_API int dup2(int old, int fd)
{
    if (old != fd)
        ps_stack_fds_closing((unsigned)fd, (unsigned)fd);
    int (*f)(int, int) = REAL_FN(dup2, int (*)(int, int));
    if (!f) {
        errno = ENOSYS;
        return -1;
    }
    return f(old, fd);
}

PS_API int dup3(int old, int fd, int flags)
{
    ps_stack_fds_closing((unsigned)fd, (unsigned)fd);
    int (*f)(int, int, int) = REAL_FN(dup3, int (*)(int, int, int));
    if (!f) {
        errno = ENOSYS;
        return -1;
    }
    return f(old, fd, flags);
}
