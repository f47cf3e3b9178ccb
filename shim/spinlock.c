/* SPDX-License-Identifier: MIT */
/*
 * spinlock.c — the slow path of the shim's own spinlock (the fast path, ps_lock and ps_unlock,
 * is inline in internal.h). These locks guard short sections only (a table insert, a registry
 * update); the holder never unwinds, allocates or does I/O under them. Not to be confused with
 * locks.c, which times the program's locks.
 */
#include "internal.h"

void ps_lock_slow(ps_spinlock_t *l)
{
    for (unsigned spins = 0;; spins++) {
        if (atomic_load_explicit(&l->held, memory_order_relaxed) == 0) {
            int expected = 0;
            if (atomic_compare_exchange_weak_explicit(&l->held, &expected, 1, memory_order_acquire,
                                                      memory_order_relaxed))
                return;
        }
        if (spins < 64)
            ps_os_cpu_relax();
        else
            ps_os_yield(); /* the holder may be descheduled: on 2 cores, spinning is waste */
    }
}
