/* SPDX-License-Identifier: MIT */
/*
 * merge.h — `perfshim leaks --merge` and `perfshim summary --merge`: one report over the traces
 * of many processes (a pre-fork server's workers, the compilers of a `make -j`), sites keyed by
 * their symbolized stacks (function, file and line of each visible frame; unresolved frames by
 * module and offset, never by address: ASLR differs per process), each naming how many
 * processes contributed to it.
 */
#ifndef PERFSHIM_ANALYZER_MERGE_H
#define PERFSHIM_ANALYZER_MERGE_H

#include "leaks.h"
#include "report.h"
#include "summary.h"

#include <stdbool.h>
#include <stdio.h>

/* The leaks of every trace merged. Blocks a forked child inherited are left out of its leaks
 * (counted in the totals). *leaked: some trace fails --fail-on-leak as its own report would
 * (with leak classes, o->fail_* say which count). Returns PA_OK, or
 * the error of the first trace that could not be used (the others are still merged). */
int pa_merge_leaks(char *const *paths, size_t n, const pa_leaks_opts_t *o, FILE *out, bool *leaked);
/* The allocation sites of every trace merged, largest allocated bytes first. */
int pa_merge_summary(char *const *paths, size_t n, const pa_summary_opts_t *o, FILE *out);

/* For another report over many traces (growth --merge, growth.c): the key two symbolized
 * stacks share exactly when they read the same, the `key` member of a stack view (report.h),
 * and a copy of the view that outlives its trace. */
typedef struct {
    char *key;          /* the serialized visible frames */
    pa_frame_t *frames; /* copies, strings owned here */
    size_t nframes;
    char *note; /* why there are no frames, or NULL */
} pa_merge_stack_t;
/* Copies view v (made with its key by pa_report_stack_view). PA_OK, or PA_ENOMEM with *s empty. */
int pa_merge_stack_copy(const pa_stackview_t *v, pa_merge_stack_t *s);
void pa_merge_stack_free(pa_merge_stack_t *s);
/* The head of a merged report: text "TITLE, merged over N processes (pids ...)", or the JSON
 * members format, version, traces (paths and pids, one per trace) and estimated. */
void pa_merge_header_text(FILE *out, const char *title, size_t ntraces, const uint64_t *pids,
                          bool sampled);
void pa_merge_header_json(pa_json_t *j, const char *format, const pa_strlist_t *paths,
                          const uint64_t *pids, bool sampled);

/* Whether a process of a merged run ended with the run rather than before it (growth --merge
 * keeps an ended process's heap, merge -o its RSS, only while it lived; one that ends with the
 * run keeps them to the end, as the last process does: their drop would only say that the run
 * ended). On the merged time axis, in seconds: start, the process's start; last, its last
 * snapshot; t1, the run's last snapshot; dt, the merged series' sampling interval (0 when it
 * has a single point). It ends with the run when its last snapshot is within dt, or a tenth
 * of its own lifetime, of t1. */
bool pa_merge_ends_with_run(double start, double last, double t1, double dt);

/* A site's frames outliving its trace and symbolizer (diff.c): copies of view v's frames and
 * note, strings owned by the copy. PA_OK or PA_ENOMEM. */
int pa_merge_copy_view(const pa_stackview_t *v, pa_frame_t **frames, size_t *n, char **note);
void pa_merge_free_frames(pa_frame_t *frames, size_t n, char *note);

#endif /* PERFSHIM_ANALYZER_MERGE_H */
