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

/* Where escaped text goes: a stream, or (out NULL) a string. */
typedef struct {
    FILE *out;
    pa_str_t *b;
} sink_t;

static void put(const sink_t *k, const void *s, size_t n)
{
    if (k->out)
        fwrite(s, 1, n, k->out);
    else
        pa_str_append(k->b, s, n);
}

static void escape(const sink_t *k, const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t run = 0; /* start of the characters written as they are, not written yet */
    put(k, "\"", 1);
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        size_t len = 0;
        if (c >= 0x20 && c != 0x7f && c != '"' && c != '\\' &&
            (c < 0x80 || (len = utf8_len(s + i, n - i)) != 0)) {
            i += len ? len : 1; /* kept: written with its run, in one put */
            continue;
        }
        put(k, s + run, i - run);
        char esc[8] = {'\\', (char)c};
        size_t elen = 2;
        if (c >= 0x80) { /* not UTF-8 */
            memcpy(esc, "\\ufffd", elen = 6);
        } else if (c != '"' && c != '\\') {
            static const char short_form[] = {
                ['\n'] = 'n', ['\t'] = 't', ['\r'] = 'r', ['\b'] = 'b', ['\f'] = 'f'};
            if (c < sizeof short_form && short_form[c])
                esc[1] = short_form[c];
            else
                elen = (size_t)snprintf(esc, sizeof esc, "\\u%04x", c);
        }
        put(k, esc, elen);
        run = ++i;
    }
    put(k, s + run, n - run);
    put(k, "\"", 1);
}

void pa_json_write_escaped(FILE *out, const char *s, size_t n)
{
    escape(&(sink_t){.out = out}, s, n);
}

void pa_json_append_escaped(pa_str_t *b, const char *s, size_t n)
{
    escape(&(sink_t){.b = b}, s, n);
}

void pa_json_append_string(pa_str_t *b, const char *s)
{
    if (s)
        pa_json_append_escaped(b, s, strlen(s));
    else
        pa_str_append(b, "null", 4);
}

void pa_json_init(pa_json_t *j, FILE *out)
{
    memset(j, 0, sizeof *j);
    j->out = out;
}

/* The separator a value or key needs (a comma; a newline and indentation, or a space in a
 * compact container) into buf (PA_JSON_MAX_DEPTH * 2 + 2 bytes); its length. The writer's
 * state is updated as if it were written. Written with the value in one fwrite: a full leaks
 * report is 1.2M frames, and a call per piece was a third of its time. */
#define SEP_MAX (2 * PA_JSON_MAX_DEPTH + 2)

static size_t indent(const pa_json_t *j, char *buf)
{
    int depth = j->depth < PA_JSON_MAX_DEPTH ? j->depth : PA_JSON_MAX_DEPTH;
    buf[0] = '\n';
    memset(buf + 1, ' ', 2 * (size_t)depth);
    return 1 + 2 * (size_t)depth;
}

static size_t separator(pa_json_t *j, char *buf)
{
    if (j->after_key) {
        j->after_key = false;
        return 0;
    }
    if (j->depth == 0) {
        bool more = j->wrote_value;
        j->wrote_value = true;
        if (more)
            buf[0] = '\n';
        return more;
    }
    int d = j->depth - 1;
    if (d >= PA_JSON_MAX_DEPTH) /* deeper than the writer tracks: a caller bug */
        d = PA_JSON_MAX_DEPTH - 1;
    size_t n = 0;
    if (!j->first[d])
        buf[n++] = ',';
    if (j->compact[d]) {
        if (!j->first[d])
            buf[n++] = ' ';
    } else {
        n += indent(j, buf + n);
    }
    j->first[d] = false;
    return n;
}

/* Separator and indentation before a value or a key. */
static void before(pa_json_t *j)
{
    char buf[SEP_MAX];
    size_t n = separator(j, buf);
    if (n)
        fwrite(buf, 1, n, j->out);
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
    char buf[SEP_MAX + 1];
    size_t n = 0;
    if (j->depth < PA_JSON_MAX_DEPTH && !j->first[j->depth] && !j->compact[j->depth])
        n = indent(j, buf);
    buf[n++] = close;
    fwrite(buf, 1, n, j->out);
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
    char buf[SEP_MAX + 128];
    size_t k = separator(j, buf), n = strlen(key);
    bool plain = n <= sizeof buf - k - 4; /* a key as the reports name them: one write */
    for (size_t i = 0; plain && i < n; i++)
        plain = key[i] >= 0x20 && key[i] < 0x7f && key[i] != '"' && key[i] != '\\';
    if (plain) {
        buf[k] = '"';
        memcpy(buf + k + 1, key, n);
        memcpy(buf + k + 1 + n, "\": ", 3);
        fwrite(buf, 1, k + n + 4, j->out);
    } else {
        fwrite(buf, 1, k, j->out);
        pa_json_write_escaped(j->out, key, n);
        fputs(": ", j->out);
    }
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
    char buf[SEP_MAX + 20], d[20], *p = d + sizeof d;
    size_t k = separator(j, buf);
    do /* what %llu writes, without printf's parsing */
        *--p = (char)('0' + v % 10);
    while (v /= 10);
    memcpy(buf + k, p, (size_t)(d + sizeof d - p));
    fwrite(buf, 1, k + (size_t)(d + sizeof d - p), j->out);
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

void pa_json_raw(pa_json_t *j, const char *s, size_t n)
{
    char buf[SEP_MAX + 512];
    size_t k = separator(j, buf);
    if (n <= sizeof buf - k) { /* one write: most are a frame object of ~200 bytes */
        memcpy(buf + k, s, n);
        fwrite(buf, 1, k + n, j->out);
    } else {
        fwrite(buf, 1, k, j->out);
        fwrite(s, 1, n, j->out);
    }
}

void pa_json_init_nested(pa_json_t *j, FILE *out, int depth)
{
    pa_json_init(j, out);
    j->depth = depth;
    j->after_key = true; /* its value follows a key of the other writer */
}

int pa_json_raw_stream(pa_json_t *j, FILE *from, uint64_t n)
{
    before(j);
    char buf[65536];
    while (n) {
        size_t k = fread(buf, 1, n < sizeof buf ? (size_t)n : sizeof buf, from);
        if (!k)
            return PA_EIO;
        fwrite(buf, 1, k, j->out);
        n -= k;
    }
    return PA_OK;
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
