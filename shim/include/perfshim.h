/* SPDX-License-Identifier: MIT */
/*
 * perfshim.h — the public API a program may call to talk to libperfshim.so.
 *
 * Every function here is safe to call when the shim is not loaded: the program is linked
 * against nothing; each call goes through a weak reference that is null without the shim,
 * and then does nothing and returns -1. Include it from C or C++.
 */
#ifndef PERFSHIM_H
#define PERFSHIM_H

#ifdef __cplusplus
extern "C" {
#endif

/* Exported by libperfshim.so; weak so that a program using the API links and runs without it. */
int perfshim_api_dump_v1(void) __attribute__((weak));
void perfshim_api_zone_begin_v1(const char *name) __attribute__((weak));
void perfshim_api_zone_end_v1(void) __attribute__((weak));

/* Write a snapshot (stacks, per-site counters, live blocks) to this process's trace now.
 * Returns 0 on success, -1 when the shim is absent, inactive, or the trace could not be
 * written (the shim then says why on stderr, once). */
static inline int perfshim_dump(void)
{
    return perfshim_api_dump_v1 ? perfshim_api_dump_v1() : -1;
}

/* Time a region of code: perfshim_zone_begin("name") ... perfshim_zone_end(). Zones nest (up
 * to 64 deep per thread; an end closes the innermost open zone of the calling thread) and are
 * reported by `perfshim hot` with count, total and p50/p95/p99/max per name. name is copied
 * (at most 63 bytes) the first time it is seen; pass the same string literal each time for
 * the fastest lookup. Costs about two clock reads; without the shim, nothing. */
static inline void perfshim_zone_begin(const char *name)
{
    if (perfshim_api_zone_begin_v1)
        perfshim_api_zone_begin_v1(name);
}

static inline void perfshim_zone_end(void)
{
    if (perfshim_api_zone_end_v1)
        perfshim_api_zone_end_v1();
}

#ifdef __cplusplus
}
#endif

#endif /* PERFSHIM_H */
