/* SPDX-License-Identifier: MIT */
/*
 * pieces.h — the pieces of one process's trace (PERFSHIM_MAX_TRACE: PATH, PATH.part2,
 * PATH.part3, ...; docs/trace-format.md, "Pieces"), told apart by name as the shim names them.
 * Each piece is a complete trace holding the process's whole state at its snapshots, so the
 * pieces of one process must never be added up as if they were processes, and a report on an
 * early piece must say that a later one holds the process's latest state.
 */
#ifndef PERFSHIM_ANALYZER_PIECES_H
#define PERFSHIM_ANALYZER_PIECES_H

#include "util.h"

/* The piece number of path (k for a name ending in ".partK", K >= 2; else 1) and the length of
 * the name it is a piece of (path without ".partK"). */
unsigned long pa_pieces_number(const char *path, size_t *base_len);

/* The latest existing piece of the same trace after path: the highest PATH.partK, K greater
 * than path's own piece number, that is a regular file not older than path (an older one is a
 * stale piece of an earlier process that used the same name). 1 and its name in out, or 0. */
int pa_pieces_later(const char *path, char *out, size_t size);

/* paths without repeats of one file (the same file under two names: said on stderr, read
 * once), and with the pieces of one trace reduced to its latest piece given (highest number; a
 * piece older than the first piece given is a stale one and is not taken), in their order of
 * first appearance. The pieces left out are named on stderr, once. PA_OK or PA_ENOMEM. */
int pa_pieces_latest_only(char *const *paths, size_t n, pa_strlist_t *out);

/* The traces export and report --html take from paths, in *out: with a later piece
 * (PATH.partK, K >= 2) among them, reduced as pa_pieces_latest_only does; else every path as
 * given (there a file given twice counts twice). PA_OK or PA_ENOMEM. */
int pa_pieces_inputs(char *const *paths, size_t n, pa_strlist_t *out);

/* For a trace read from path whose PROCESS options ("NAME=value\n" each, or NULL) have
 * PERFSHIM_MAX_TRACE set: 1 and the name of a later piece (pa_pieces_later) in out, when there
 * is one; else 0. */
int pa_pieces_later_of_trace(const char *path, const char *options, char *out, size_t size);

#endif /* PERFSHIM_ANALYZER_PIECES_H */
