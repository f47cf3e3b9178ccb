/* SPDX-License-Identifier: MIT */
/*
 * locks.h — the lock report (`perfshim locks`): the locks of a trace's last LOCKS chunk by total
 * wait, each named by address and first-use stack, with its acquiring call sites symbolized and
 * ranked by wait, its hold times, then the condition variables and the semaphores used as
 * signals by time waited.
 */
#ifndef PERFSHIM_ANALYZER_LOCKS_H
#define PERFSHIM_ANALYZER_LOCKS_H

#include "json.h"
#include "model.h"

#include <stdbool.h>
#include <stdio.h>

#define PA_LOCKS_DEFAULT_TOP 20
#define PA_LOCKS_DEFAULT_SITES 5

typedef struct {
    bool json;
    uint64_t top;    /* locks (and condition variables) listed; 0: all */
    uint64_t sites;  /* call sites listed per lock; 0: all */
    bool quiet;      /* collect trace warnings without printing them (tests) */
    bool all_frames; /* text: C++ standard library frames one per line, not folded */
} pa_locks_opts_t;

/* "mutex", "rwlock", "spin", "cond", "semaphore" or "unknown". */
const char *pa_locks_kind_name(uint32_t kind);

/* True for a lock the report lists as one (not a condition variable, not a semaphore used as a
 * signal): its waits are waits for a holder (`perfshim diff`'s lock_wait). */
bool pa_locks_is_lock(const pa_lock_t *k);

int pa_locks_report(pa_trace_t *t, const pa_locks_opts_t *o, FILE *out, pa_json_t *j);
/* Like pa_leaks_files(): every trace in turn; a JSON array when as_array. */
int pa_locks_files(char *const *paths, size_t n, const pa_locks_opts_t *o, bool as_array,
                   FILE *out);

#endif /* PERFSHIM_ANALYZER_LOCKS_H */
