/* SPDX-License-Identifier: MIT */
/*
 * tsan_rename.h — force-included (-include) into the ThreadSanitizer copy of perfshim_core
 * (PERFSHIM_TSAN=ON, tests/unit/shim/CMakeLists.txt). perfshim_core defines the shim's
 * interposers of pthread_create, the pthread lock and condition functions, the semaphore
 * functions, sigaction and signal; linked into a test executable they would replace TSan's own interceptors of those
 * functions and call glibc directly, so TSan would see neither the test's threads start nor
 * its locks (it crashes in the first new thread). Renamed here, they are ordinary unused
 * functions and the test's calls reach TSan and then glibc. Function-like macros, so that
 * `struct sigaction` keeps its name. Keep the list equal to the pthread, sem and signal functions
 * that shim/locks.c, threads.c and cpu.c define (`nm -g --defined-only` on perfshim_core's
 * objects shows them; a missing one shows up as the crash above).
 */
#ifndef PERFSHIM_TSAN_RENAME_H
#define PERFSHIM_TSAN_RENAME_H

#define pthread_cond_broadcast(...) ps_tsan_unused_pthread_cond_broadcast(__VA_ARGS__)
#define pthread_cond_clockwait(...) ps_tsan_unused_pthread_cond_clockwait(__VA_ARGS__)
#define pthread_cond_destroy(...) ps_tsan_unused_pthread_cond_destroy(__VA_ARGS__)
#define pthread_cond_init(...) ps_tsan_unused_pthread_cond_init(__VA_ARGS__)
#define pthread_cond_signal(...) ps_tsan_unused_pthread_cond_signal(__VA_ARGS__)
#define pthread_cond_timedwait(...) ps_tsan_unused_pthread_cond_timedwait(__VA_ARGS__)
#define pthread_cond_wait(...) ps_tsan_unused_pthread_cond_wait(__VA_ARGS__)
#define pthread_create(...) ps_tsan_unused_pthread_create(__VA_ARGS__)
#define pthread_mutex_clocklock(...) ps_tsan_unused_pthread_mutex_clocklock(__VA_ARGS__)
#define pthread_mutex_destroy(...) ps_tsan_unused_pthread_mutex_destroy(__VA_ARGS__)
#define pthread_mutex_init(...) ps_tsan_unused_pthread_mutex_init(__VA_ARGS__)
#define pthread_mutex_lock(...) ps_tsan_unused_pthread_mutex_lock(__VA_ARGS__)
#define pthread_mutex_timedlock(...) ps_tsan_unused_pthread_mutex_timedlock(__VA_ARGS__)
#define pthread_mutex_trylock(...) ps_tsan_unused_pthread_mutex_trylock(__VA_ARGS__)
#define pthread_mutex_unlock(...) ps_tsan_unused_pthread_mutex_unlock(__VA_ARGS__)
#define pthread_rwlock_clockrdlock(...) ps_tsan_unused_pthread_rwlock_clockrdlock(__VA_ARGS__)
#define pthread_rwlock_clockwrlock(...) ps_tsan_unused_pthread_rwlock_clockwrlock(__VA_ARGS__)
#define pthread_rwlock_destroy(...) ps_tsan_unused_pthread_rwlock_destroy(__VA_ARGS__)
#define pthread_rwlock_init(...) ps_tsan_unused_pthread_rwlock_init(__VA_ARGS__)
#define pthread_rwlock_rdlock(...) ps_tsan_unused_pthread_rwlock_rdlock(__VA_ARGS__)
#define pthread_rwlock_timedrdlock(...) ps_tsan_unused_pthread_rwlock_timedrdlock(__VA_ARGS__)
#define pthread_rwlock_timedwrlock(...) ps_tsan_unused_pthread_rwlock_timedwrlock(__VA_ARGS__)
#define pthread_rwlock_tryrdlock(...) ps_tsan_unused_pthread_rwlock_tryrdlock(__VA_ARGS__)
#define pthread_rwlock_trywrlock(...) ps_tsan_unused_pthread_rwlock_trywrlock(__VA_ARGS__)
#define pthread_rwlock_unlock(...) ps_tsan_unused_pthread_rwlock_unlock(__VA_ARGS__)
#define pthread_rwlock_wrlock(...) ps_tsan_unused_pthread_rwlock_wrlock(__VA_ARGS__)
#define pthread_spin_destroy(...) ps_tsan_unused_pthread_spin_destroy(__VA_ARGS__)
#define pthread_spin_init(...) ps_tsan_unused_pthread_spin_init(__VA_ARGS__)
#define pthread_spin_lock(...) ps_tsan_unused_pthread_spin_lock(__VA_ARGS__)
#define pthread_spin_trylock(...) ps_tsan_unused_pthread_spin_trylock(__VA_ARGS__)
#define pthread_spin_unlock(...) ps_tsan_unused_pthread_spin_unlock(__VA_ARGS__)
#define sem_clockwait(...) ps_tsan_unused_sem_clockwait(__VA_ARGS__)
#define sem_destroy(...) ps_tsan_unused_sem_destroy(__VA_ARGS__)
#define sem_init(...) ps_tsan_unused_sem_init(__VA_ARGS__)
#define sem_post(...) ps_tsan_unused_sem_post(__VA_ARGS__)
#define sem_timedwait(...) ps_tsan_unused_sem_timedwait(__VA_ARGS__)
#define sem_trywait(...) ps_tsan_unused_sem_trywait(__VA_ARGS__)
#define sem_wait(...) ps_tsan_unused_sem_wait(__VA_ARGS__)
#define sigaction(...) ps_tsan_unused_sigaction(__VA_ARGS__)
#define signal(...) ps_tsan_unused_signal(__VA_ARGS__)

#endif /* PERFSHIM_TSAN_RENAME_H */
