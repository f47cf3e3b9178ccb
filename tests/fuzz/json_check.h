/* SPDX-License-Identifier: MIT */
/*
 * json_check.h — a strict JSON validator for the fuzz harness (json_check.c).
 */
#ifndef PERFSHIM_FUZZ_JSON_CHECK_H
#define PERFSHIM_FUZZ_JSON_CHECK_H

#include <stddef.h>

/* NULL when text[0..len) is one JSON value (whitespace around it allowed) in valid UTF-8;
 * otherwise what is wrong, and *at the byte offset where it was found. */
const char *pa_json_check(const char *text, size_t len, size_t *at);

#endif /* PERFSHIM_FUZZ_JSON_CHECK_H */
