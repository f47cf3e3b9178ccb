/* SPDX-License-Identifier: MIT */
/*
 * summary.h — `perfshim summary`: the totals of the last snapshot and the top allocation sites.
 */
#ifndef PERFSHIM_ANALYZER_SUMMARY_H
#define PERFSHIM_ANALYZER_SUMMARY_H

#include "json.h"
#include "model.h"

#include <stdbool.h>
#include <stdio.h>

#define PA_SUMMARY_DEFAULT_TOP 10

typedef struct {
    bool json;
    uint64_t top;    /* allocation sites listed; 0: all */
    bool quiet;      /* collect trace warnings without printing them (tests) */
    bool all_frames; /* text: C++ standard library frames one per line, not folded */
    pa_at_t at;      /* the snapshot reported (--at; zero: the last) */
} pa_summary_opts_t;

int pa_summary_report(pa_trace_t *t, const pa_summary_opts_t *o, FILE *out, pa_json_t *j);
/* Like pa_leaks_files(): every trace in turn; JSON array when as_array. */
int pa_summary_files(char *const *paths, size_t n, const pa_summary_opts_t *o, bool as_array,
                     FILE *out);

#endif /* PERFSHIM_ANALYZER_SUMMARY_H */
