/* SPDX-License-Identifier: MIT */
/*
 * json.h — a small streaming JSON writer: objects, arrays, strings (correctly escaped, always valid
 * UTF-8), integers, decimal numbers, booleans, null. Indented two spaces; containers opened
 * "compact" are written on one line (used for stack frames).
 */
#ifndef PERFSHIM_ANALYZER_JSON_H
#define PERFSHIM_ANALYZER_JSON_H

#include "trace_rows.h"
#include "util.h"

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
/* A compact array of the integers v[0..n), as pa_json_array_begin(j, true), pa_json_u64 of each
 * and pa_json_array_end write it, in fewer calls (an export writes 5M frame indices). */
void pa_json_u64_array(pa_json_t *j, const uint64_t *v, size_t n);
/* The same of val[ix[0]], ..., val[ix[n - 1]] (an export's stack: its frames' numbers). */
void pa_json_u32_array_of(pa_json_t *j, const uint32_t *ix, const uint32_t *val, size_t n);
/* The digits of v (what pa_json_u64 writes) made once, for the arrays of
 * pa_json_digits_array_of: v below PA_JSON_DIGITS_MAX, its digits in the first bytes, their
 * count in the last. */
#define PA_JSON_DIGITS_MAX 10000000u
uint64_t pa_json_digits(uint32_t v);
/* As pa_json_u32_array_of, of numbers whose digits were made once: dig[ix[0]], ...,
 * dig[ix[n - 1]], each made by pa_json_digits (a compile export's 4.7M frame numbers, of 11.6k
 * frames). */
void pa_json_digits_array_of(pa_json_t *j, const uint32_t *ix, const uint64_t *dig, size_t n);
/* A number with up to 6 significant digits ("0.973", "1", "349.525"); null when not finite. */
void pa_json_f64(pa_json_t *j, double v);
void pa_json_bool(pa_json_t *j, bool v);
void pa_json_null(pa_json_t *j);
/* "0x..." */
void pa_json_hex(pa_json_t *j, uint64_t v);
/* A member: the key, then its value. */
void pa_json_kv_u64(pa_json_t *j, const char *key, uint64_t v);
void pa_json_kv_bool(pa_json_t *j, const char *key, bool v);
void pa_json_kv_null(pa_json_t *j, const char *key);
/* A value already written as JSON text (s[0..n), e.g. a compact object made with the
 * pa_json_append_* functions), placed as pa_json_string would place a value. */
void pa_json_raw(pa_json_t *j, const char *s, size_t n);
/* A writer for one value that another writer places later (pa_json_raw_stream) after a key at
 * `depth` containers deep: the value is indented as if written there. */
void pa_json_init_nested(pa_json_t *j, FILE *out, int depth);
/* The next n bytes of `from` (a value made with a nested writer), placed as pa_json_raw places
 * a value. PA_OK, or PA_EIO when they cannot be read. */
int pa_json_raw_stream(pa_json_t *j, FILE *from, uint64_t n);
/* Ends the document with a newline (after the top-level value). */
void pa_json_finish(pa_json_t *j);

/* The text of pa_json_u64 (what %llu writes, at most 20 bytes) and of pa_json_f64 for a finite v
 * (what "%.6g" writes, at most PA_JSON_F64_MAX bytes with a terminating NUL that is not
 * counted, which only the rare values left to snprintf get) into buf; their length. */
#define PA_JSON_F64_MAX 32
size_t pa_json_format_u64(char *buf, uint64_t v);
size_t pa_json_format_f64(char *buf, double v);

/* Writes s[0..n) as a JSON string literal with quotes: ", \ and control characters escaped,
 * invalid UTF-8 bytes replaced by U+FFFD. */
void pa_json_write_escaped(FILE *out, const char *s, size_t n);
/* The same, appended to b; pa_json_append_string: strlen(s) bytes, NULL appends null. */
void pa_json_append_escaped(pa_str_t *b, const char *s, size_t n);
void pa_json_append_string(pa_str_t *b, const char *s);

/* ---- members made from the records of trace_rows.h ------------------------------------------
 * PA_ROW_JSON(j, ID, r, first, last): the members for the fields first .. last (declaration
 * order, both included) of record PS_ROW_<ID>, read from r's members of the same names (r: a
 * pointer to the record's struct or to any struct with those members), each with the JSON
 * name and kind the declaration gives; fields of kind none are left out. PA_ROW_JSON1: one
 * field. Members a report derives (names, estimates, flags) it writes itself, between spans. */
#define PA_ROW_JSON(j, ID, r, first, last)                                                         \
    do {                                                                                           \
        _Static_assert(PA_F_##ID##_##first <= PA_F_##ID##_##last, "fields out of order");          \
        pa_json_t *pa_jj_ = (j);                                                                   \
        __typeof__(r) pa_jr_ = (r);                                                                \
        enum pa_row_field pa_jfirst_ = PA_F_##ID##_##first, pa_jlast_ = PA_F_##ID##_##last;        \
        PS_ROW_##ID(PA_ROW_JSON_, ID)                                                              \
    } while (0)
#define PA_ROW_JSON1(j, ID, r, field) PA_ROW_JSON(j, ID, r, field, field)

/* PA_F_<ID>_<field>: every field's place, in declaration order within its record. */
#define PA_F_FIELD_(c, type, name, unit, json, json_name, meaning) PA_F_##c##_##name,
#define PA_F_RECORD_(ID, lname) PS_ROW_##ID(PA_F_FIELD_, ID)
enum pa_row_field { PS_TRACE_ROWS(PA_F_RECORD_) };

#define PA_ROW_JSON_(c, type, name, unit, json, json_name, meaning)                                \
    if (PA_F_##c##_##name >= pa_jfirst_ && PA_F_##c##_##name <= pa_jlast_)                         \
        PA_ROW_JSON_##json(pa_jj_, #json_name, pa_jr_->name);
#define PA_ROW_JSON_u64(j, k, v) pa_json_kv_u64(j, k, v)
#define PA_ROW_JSON_u64z(j, k, v) ((v) ? pa_json_kv_u64(j, k, v) : pa_json_kv_null(j, k))
#define PA_ROW_JSON_bool(j, k, v) pa_json_kv_bool(j, k, (v) != 0)
#define PA_ROW_JSON_hex(j, k, v) (pa_json_key(j, k), pa_json_hex(j, v))
#define PA_ROW_JSON_hexz(j, k, v) (pa_json_key(j, k), (v) ? pa_json_hex(j, v) : pa_json_null(j))
#define PA_ROW_JSON_str(j, k, v) (pa_json_key(j, k), pa_json_string(j, v))
#define PA_ROW_JSON_none(j, k, v) ((void)0)

#endif /* PERFSHIM_ANALYZER_JSON_H */
