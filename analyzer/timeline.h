/* SPDX-License-Identifier: MIT */
/*
 * timeline.h — `perfshim timeline`: every snapshot of a trace in time order (live heap, RSS,
 * allocation rate, and the live bytes of the top sites), with a chart on a terminal.
 */
#ifndef PERFSHIM_ANALYZER_TIMELINE_H
#define PERFSHIM_ANALYZER_TIMELINE_H

#include "json.h"
#include "model.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define PA_TIMELINE_DEFAULT_TOP 5   /* sites followed */
#define PA_TIMELINE_DEFAULT_ROWS 24 /* text: table rows at most (one per span of snapshots) */
#define PA_TIMELINE_CHART_WIDTH 60  /* text: chart columns at most */

typedef struct {
    bool json;
    uint64_t top;    /* sites followed, by live bytes at the last snapshot; 0: none */
    uint64_t rows;   /* text: table rows at most; 0: one per snapshot */
    bool ascii;      /* text: ASCII chart even on a UTF-8 terminal */
    bool quiet;      /* collect trace warnings without printing them (tests) */
    bool all_frames; /* text: C++ standard library frames one per line, not folded */
} pa_timeline_opts_t;

/* Every trace in turn; JSON array when as_array. Returns PA_OK or the first error. */
/* The report of one trace file (read twice: its sites, then its snapshots), as each of
 * pa_timeline_files' traces (export.c: the timeline of each trace of --format json). */
int pa_timeline_trace(const char *path, const pa_timeline_opts_t *o, FILE *out, pa_json_t *j);
/* The same from the file's model already loaded (as pa_model_read loads it, at its last
 * snapshot; left loaded: pass 2 reads the file while it is): report --html's one load. */
int pa_timeline_trace_loaded(pa_trace_t *t, const char *path, const pa_timeline_opts_t *o,
                             FILE *out, pa_json_t *j);
int pa_timeline_files(char *const *paths, size_t n, const pa_timeline_opts_t *o, bool as_array,
                      FILE *out);

#endif /* PERFSHIM_ANALYZER_TIMELINE_H */
