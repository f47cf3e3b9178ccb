/* SPDX-License-Identifier: MIT */
/*
 * json.h — a small streaming JSON writer: objects, arrays, strings (correctly escaped, always valid
 * UTF-8), integers, decimal numbers, booleans, null. Indented two spaces; containers opened
 * "compact" are written on one line (used for stack frames).
 */
#ifndef PERFSHIM_ANALYZER_JSON_H
#define PERFSHIM_ANALYZER_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define PA_JSON_MAX_DEPTH 32

typedef struct {
    FILE *out;
    int depth;                       /* open containers */
    bool first[PA_JSON_MAX_DEPTH];   /* nothing written in this container yet */
    bool compact[PA_JSON_MAX_DEPTH]; /* this container is written on one line */
    bool after_key;                  /* a key was written: the value follows it directly */
    bool wrote_value;                /* a top-level value was written */
} pa_json_t;

void pa_json_init(pa_json_t *j, FILE *out);
void pa_json_object_begin(pa_json_t *j, bool compact);
void pa_json_object_end(pa_json_t *j);
void pa_json_array_begin(pa_json_t *j, bool compact);
void pa_json_array_end(pa_json_t *j);
void pa_json_key(pa_json_t *j, const char *key);
/* NULL writes null. */
void pa_json_string(pa_json_t *j, const char *s);
void pa_json_string_n(pa_json_t *j, const char *s, size_t n);
void pa_json_u64(pa_json_t *j, uint64_t v);
/* A number with up to 6 significant digits ("0.973", "1", "349.525"); null when not finite. */
void pa_json_f64(pa_json_t *j, double v);
void pa_json_bool(pa_json_t *j, bool v);
void pa_json_null(pa_json_t *j);
/* "0x..." */
void pa_json_hex(pa_json_t *j, uint64_t v);
/* A member: the key, then its value. */
void pa_json_kv_u64(pa_json_t *j, const char *key, uint64_t v);
void pa_json_kv_bool(pa_json_t *j, const char *key, bool v);
/* Ends the document with a newline (after the top-level value). */
void pa_json_finish(pa_json_t *j);

/* Writes s[0..n) as a JSON string literal with quotes: ", \ and control characters escaped,
 * invalid UTF-8 bytes replaced by U+FFFD. */
void pa_json_write_escaped(FILE *out, const char *s, size_t n);

#endif /* PERFSHIM_ANALYZER_JSON_H */
