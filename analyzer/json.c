/* SPDX-License-Identifier: MIT */
/*
 * json.c — the JSON writer. Strings from traces are arbitrary bytes (paths, argv, messages): the
 * writer escapes what JSON requires and replaces every byte that is not part of a well-formed
 * UTF-8 sequence (overlong forms, surrogates, values above U+10FFFF included) by U+FFFD, so the
 * output is always valid JSON.
 */
#include "json.h"

#include <math.h>
#include <string.h>

/* Length of the well-formed UTF-8 sequence at s (at most n bytes), or 0 when it is not one. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, min = 0x10000;
    else
        return 0;
    if (len > n)
        return 0;
    unsigned cp = c & (0xff >> (len + 1));
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

void pa_json_write_escaped(FILE *out, const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t run = 0; /* start of the characters written as they are, not written yet */
    fputc('"', out);
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        size_t len = 0;
        if (c >= 0x20 && c != 0x7f && c != '"' && c != '\\' &&
            (c < 0x80 || (len = utf8_len(s + i, n - i)) != 0)) {
            i += len ? len : 1; /* kept: written with its run, in one fwrite */
            continue;
        }
        fwrite(s + run, 1, i - run, out);
        if (c == '"' || c == '\\') {
            fputc('\\', out);
            fputc((int)c, out);
        } else if (c >= 0x80) { /* not UTF-8 */
            fputs("\\ufffd", out);
        } else {
            switch (c) {
            case '\n':
                fputs("\\n", out);
                break;
            case '\t':
                fputs("\\t", out);
                break;
            case '\r':
                fputs("\\r", out);
                break;
            case '\b':
                fputs("\\b", out);
                break;
            case '\f':
                fputs("\\f", out);
                break;
            default:
                fprintf(out, "\\u%04x", c);
            }
        }
        run = ++i;
    }
    fwrite(s + run, 1, n - run, out);
    fputc('"', out);
}

void pa_json_init(pa_json_t *j, FILE *out)
{
    memset(j, 0, sizeof *j);
    j->out = out;
}

static void indent(pa_json_t *j)
{
    fputc('\n', j->out);
    for (int i = 0; i < j->depth; i++)
        fputs("  ", j->out);
}

/* Separator and indentation before a value or a key. */
static void before(pa_json_t *j)
{
    if (j->after_key) {
        j->after_key = false;
        return;
    }
    if (j->depth == 0) {
        if (j->wrote_value)
            fputc('\n', j->out);
        j->wrote_value = true;
        return;
    }
    int d = j->depth - 1;
    if (d >= PA_JSON_MAX_DEPTH) /* deeper than the writer tracks: a caller bug */
        d = PA_JSON_MAX_DEPTH - 1;
    if (!j->first[d])
        fputc(',', j->out);
    if (j->compact[d]) {
        if (!j->first[d])
            fputc(' ', j->out);
    } else {
        indent(j);
    }
    j->first[d] = false;
}

static void begin(pa_json_t *j, char open, bool compact)
{
    before(j);
    fputc(open, j->out);
    if (j->depth < PA_JSON_MAX_DEPTH) {
        /* inside a compact container everything stays on one line */
        bool parent_compact = j->depth > 0 && j->compact[j->depth - 1];
        j->first[j->depth] = true;
        j->compact[j->depth] = compact || parent_compact;
    }
    j->depth++;
}

static void end(pa_json_t *j, char close)
{
    if (j->depth <= 0)
        return;
    j->depth--;
    if (j->depth < PA_JSON_MAX_DEPTH && !j->first[j->depth] && !j->compact[j->depth])
        indent(j);
    fputc(close, j->out);
}

void pa_json_object_begin(pa_json_t *j, bool compact)
{
    begin(j, '{', compact);
}

void pa_json_object_end(pa_json_t *j)
{
    end(j, '}');
}

void pa_json_array_begin(pa_json_t *j, bool compact)
{
    begin(j, '[', compact);
}

void pa_json_array_end(pa_json_t *j)
{
    end(j, ']');
}

void pa_json_key(pa_json_t *j, const char *key)
{
    before(j);
    pa_json_write_escaped(j->out, key, strlen(key));
    fputs(": ", j->out);
    j->after_key = true;
}

void pa_json_string_n(pa_json_t *j, const char *s, size_t n)
{
    before(j);
    pa_json_write_escaped(j->out, s, n);
}

void pa_json_string(pa_json_t *j, const char *s)
{
    if (!s)
        pa_json_null(j);
    else
        pa_json_string_n(j, s, strlen(s));
}

void pa_json_u64(pa_json_t *j, uint64_t v)
{
    before(j);
    fprintf(j->out, "%llu", (unsigned long long)v);
}

void pa_json_f64(pa_json_t *j, double v)
{
    if (!isfinite(v)) {
        pa_json_null(j);
        return;
    }
    before(j);
    /* %g never writes a locale's decimal comma here: the analyzer never calls setlocale() */
    fprintf(j->out, "%.6g", v);
}

void pa_json_bool(pa_json_t *j, bool v)
{
    before(j);
    fputs(v ? "true" : "false", j->out);
}

void pa_json_null(pa_json_t *j)
{
    before(j);
    fputs("null", j->out);
}

void pa_json_hex(pa_json_t *j, uint64_t v)
{
    before(j);
    fprintf(j->out, "\"0x%llx\"", (unsigned long long)v);
}

void pa_json_finish(pa_json_t *j)
{
    fputc('\n', j->out);
}

void pa_json_kv_u64(pa_json_t *j, const char *key, uint64_t v)
{
    pa_json_key(j, key);
    pa_json_u64(j, v);
}

void pa_json_kv_bool(pa_json_t *j, const char *key, bool v)
{
    pa_json_key(j, key);
    pa_json_bool(j, v);
}

void pa_json_kv_null(pa_json_t *j, const char *key)
{
    pa_json_key(j, key);
    pa_json_null(j);
}
