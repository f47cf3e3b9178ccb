/* SPDX-License-Identifier: MIT */
/*
 * suppress.h — leak suppressions: glob patterns (fnmatch(3)) matched against the function name of
 * every frame of a leak's stack (or, for unresolved frames, against "module+0xoffset" with the
 * module's file name). The built-in defaults cover one-time allocations of the C and C++ runtimes.
 * LeakSanitizer rules (`leak:PATTERN`) are kept with their prefix and matched with LSan's
 * semantics against function, file and module names (suppress.c).
 */
#ifndef PERFSHIM_ANALYZER_SUPPRESS_H
#define PERFSHIM_ANALYZER_SUPPRESS_H

#include "symbols.h"
#include "util.h"

#include <stdbool.h>

typedef struct {
    pa_strlist_t patterns; /* glob patterns */
    pa_strlist_t origins;  /* per pattern: "default" or "FILE:LINE" */
} pa_suppress_t;

/* The default patterns, NULL-terminated. */
extern const char *const pa_suppress_defaults[];

int pa_suppress_add(pa_suppress_t *s, const char *pattern, const char *origin);
int pa_suppress_add_defaults(pa_suppress_t *s);
/* Reads a suppressions file: one pattern per line, surrounding blanks ignored, empty lines and
 * lines starting with '#' skipped. PA_EIO (message printed) when it cannot be read. */
int pa_suppress_load_file(pa_suppress_t *s, const char *path);
/* LeakSanitizer's pattern semantics: true when `pattern` (without "leak:") occurs in text, `*`
 * matching any run of characters, a leading `^` / trailing `$` anchoring it. NULL or "" text:
 * false. */
bool pa_suppress_lsan_match(const char *pattern, const char *text);
/* True for a line of another sanitizer's rule type (`race:`, `called_from_lib:`, ...): files
 * shared with TSan or ASan hold them, and they are skipped. */
bool pa_suppress_foreign_rule(const char *line);
/* Index of the first pattern matching `text`, or -1. */
int pa_suppress_match_text(const pa_suppress_t *s, const char *text);
/* Index of the first pattern matching any of the frames, or -1. */
int pa_suppress_match(const pa_suppress_t *s, const pa_frame_t *frames, size_t n);
/* The defaults (unless !defaults), then every file of the list, in order. PA_OK, or the first
 * error (said so). */
int pa_suppress_load_all(pa_suppress_t *s, bool defaults, const pa_strlist_t *files);
void pa_suppress_free(pa_suppress_t *s);

#endif /* PERFSHIM_ANALYZER_SUPPRESS_H */
