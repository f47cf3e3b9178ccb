/* SPDX-License-Identifier: MIT */
/*
 * mergeout.h — `perfshim merge -o OUT TRACE...`: the traces of many processes (or hosts) written
 * as one trace file that every report reads as it reads a process's (docs/analyzer.md,
 * "perfshim merge -o"; the layout: docs/trace-format.md, "Merged traces").
 */
#ifndef PERFSHIM_ANALYZER_MERGEOUT_H
#define PERFSHIM_ANALYZER_MERGEOUT_H

#include <stdbool.h>
#include <stddef.h>

/* Merges paths[0..n) into `out` (through a temporary file renamed at the end: never a partial
 * output). PA_OK, or an error after a message (then `out` is untouched). */
int pa_mergeout(char *const *paths, size_t n, const char *out, bool quiet);

/* The subcommand: argv[0] is "merge". Returns the exit status (0, or 2 on any error). */
int pa_mergeout_main(int argc, char **argv);
extern const char pa_mergeout_help[];

#endif /* PERFSHIM_ANALYZER_MERGEOUT_H */
