/* SPDX-License-Identifier: MIT */
/*
 * interpose_exit.c — _exit and _Exit, exported: a process that ends without exit() still
 * writes its trace. dash ends every sh -c and subshell this way, and so do the forked children
 * of many programs (rsync, busybox, make's helpers) that never exec; a cmake+ninja build had 91
 * processes and 78 traces before.
 *
 * Each writes the final snapshot (init.c decides whether that is safe: not in a vfork child,
 * not when a signal handler interrupted the shim) and ends the process as libc's _exit does:
 * the program's atexit handlers, destructors and stdio buffers are skipped, as without us.
 * quick_exit needs no export: init.c registers an at_quick_exit handler, which libc runs after
 * the program's own. A raw exit_group system call cannot be caught (docs/architecture.md).
 * Only forwards: the logic is in init.c.
 */
#include "internal.h"

#include <stdlib.h>
#include <unistd.h>

#define PS_API PS_EXPORT

PS_API void _exit(int status)
{
    ps_init_exit(status);
}

PS_API void _Exit(int status)
{
    ps_init_exit(status);
}
