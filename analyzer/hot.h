/* SPDX-License-Identifier: MIT */
/*
 * hot.h — the hot-path report (`perfshim hot`): CPU samples by function and by stack, the
 * allocator latency table, the zones table, and the threads, from a trace's last timing chunks.
 */
#ifndef PERFSHIM_ANALYZER_HOT_H
#define PERFSHIM_ANALYZER_HOT_H

#include "json.h"
#include "model.h"

#include <stdbool.h>
#include <stdio.h>

#define PA_HOT_DEFAULT_TOP 20

typedef struct {
    bool json;
    uint64_t top;    /* functions, stacks, zones and threads listed; 0: all */
    bool quiet;      /* collect trace warnings without printing them (tests) */
    bool all_frames; /* text: C++ standard library frames one per line, not folded */
} pa_hot_opts_t;

/* "malloc", "free", "realloc" or "unknown". */
const char *pa_hot_op_name(uint32_t op);

int pa_hot_report(pa_trace_t *t, const pa_hot_opts_t *o, FILE *out, pa_json_t *j);
/* Like pa_leaks_files(): every trace in turn; a JSON array when as_array. */
int pa_hot_files(char *const *paths, size_t n, const pa_hot_opts_t *o, bool as_array, FILE *out);

#endif /* PERFSHIM_ANALYZER_HOT_H */
