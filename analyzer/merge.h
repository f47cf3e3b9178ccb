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
 * (counted in the totals). *leaked: a merged leak no suppression matched. Returns PA_OK, or
 * the error of the first trace that could not be used (the others are still merged). */
int pa_merge_leaks(char *const *paths, size_t n, const pa_leaks_opts_t *o, FILE *out, bool *leaked);
/* The allocation sites of every trace merged, largest allocated bytes first. */
int pa_merge_summary(char *const *paths, size_t n, const pa_summary_opts_t *o, FILE *out);

/* For another report over many traces (growth --merge): the key two symbolized stacks share
 * exactly when they read the same, the `key` member of a stack view (report.h). */

/* A site's frames outliving its trace and symbolizer (diff.c): copies of view v's frames and
 * note, strings owned by the copy. PA_OK or PA_ENOMEM. */
int pa_merge_copy_view(const pa_stackview_t *v, pa_frame_t **frames, size_t *n, char **note);
void pa_merge_free_frames(pa_frame_t *frames, size_t n, char *note);

#endif /* PERFSHIM_ANALYZER_MERGE_H */
