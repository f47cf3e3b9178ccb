/* SPDX-License-Identifier: MIT */
/*
 * interpose_threads.c — pthread_create, exported: threads.c records every thread the program
 * starts (its creating stack, routine, lifetime) and sets the thread up for the shim (stack
 * bounds, CPU-sampling timer) before the program's routine runs on it. Only forwards.
 */
#include "timing.h"

#define PS_API PS_EXPORT

PS_API int pthread_create(pthread_t *th, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
    return ps_threads_create(th, attr, fn, arg);
}
