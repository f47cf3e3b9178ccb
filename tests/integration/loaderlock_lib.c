/* SPDX-License-Identifier: MIT */
/*
 * loaderlock_lib.c — the plugin loaderlock.c dlopens from a second thread. Its constructor runs
 * with the dynamic loader's lock held: it raises SIGUSR1 (whose handler allocates at a stack
 * only libunwind can walk: the shim must not load libunwind from inside the loader), then
 * waits for a mutex the main thread holds while the main thread allocates at such a stack too
 * (the shim must not wait for the loader's lock). See test_invisible.py.
 */
#include <pthread.h>
#include <signal.h>

extern pthread_mutex_t loaderlock_gate;
extern volatile int loaderlock_in_ctor;

__attribute__((constructor)) static void loaderlock_ctor(void)
{
    raise(SIGUSR1);
    loaderlock_in_ctor = 1;
    pthread_mutex_lock(&loaderlock_gate);
    pthread_mutex_unlock(&loaderlock_gate);
}

int loaderlock_plugin(void)
{
    return 42;
}
