/* SPDX-License-Identifier: MIT */
/*
 * interpose_signals.c — sigaction, signal, sigprocmask and pthread_sigmask, exported: while CPU
 * sampling is on, SIGPROF stays the shim's and is never really blocked, and the program sees
 * its own handler and mask as it set them (top of cpu.c). Otherwise they are libc's. Only
 * forwards: the logic is in cpu.c.
 */
#include "timing.h"

#define PS_API PS_EXPORT

PS_API int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    return ps_cpu_sigaction(sig, act, old);
}

PS_API __sighandler_t signal(int sig, __sighandler_t handler)
{
    return ps_cpu_signal(sig, handler);
}

PS_API int sigprocmask(int how, const sigset_t *set, sigset_t *old)
{
    return ps_cpu_sigprocmask(how, set, old);
}

PS_API int pthread_sigmask(int how, const sigset_t *set, sigset_t *old)
{
    return ps_cpu_pthread_sigmask(how, set, old);
}
