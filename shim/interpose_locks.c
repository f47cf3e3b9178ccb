/* SPDX-License-Identifier: MIT */
/*
 * interpose_locks.c — the pthread mutex, rwlock, spinlock and condition-variable functions and
 * the POSIX semaphore functions, exported: each is one tail jump to locks.c's ps_locks_<name>,
 * which calls libc's and, with PERFSHIM_LOCKS=1, times it. The list is timing.h's
 * PS_LOCK_FUNCS and PS_SEM_FUNCS. Only forwards: the logic is in locks.c.
 */
#include "timing.h"

#define PS_API PS_EXPORT

#define PS_FORWARD(name, ret, params, args)                                                        \
    PS_API ret name params                                                                         \
    {                                                                                              \
        return ps_locks_##name args;                                                               \
    }
PS_LOCK_FUNCS(PS_FORWARD)
PS_SEM_FUNCS(PS_FORWARD)
