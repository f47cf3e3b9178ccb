/* SPDX-License-Identifier: MIT */
/*
 * json_check.c — a strict JSON validator (RFC 8259 grammar, UTF-8 text) for the fuzz harness:
 * whatever a trace holds, the analyzer's JSON reports must parse, so fuzz_trace.c checks every
 * JSON report it writes. Written for this test only; it builds nothing, it only accepts or
 * names the first offending byte.
 */
#include "json_check.h"

#include <stdbool.h>
#include <string.h>

typedef struct {
    const unsigned char *p, *end, *start;
    const char *why;
    int depth;
} jc_t;

static bool fail(jc_t *c, const char *why)
{
    if (!c->why)
        c->why = why;
    return false;
}

static void skip_ws(jc_t *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static bool literal(jc_t *c, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0)
        return fail(c, "invalid literal");
    c->p += n;
    return true;
}

/* One UTF-8 sequence starting at c->p (a byte >= 0x80): shortest form, no surrogates. */
static bool utf8(jc_t *c)
{
    unsigned b = *c->p, n;
    unsigned long cp;
    if (b >= 0xc2 && b <= 0xdf) {
        n = 1;
        cp = b & 0x1f;
    } else if (b >= 0xe0 && b <= 0xef) {
        n = 2;
        cp = b & 0x0f;
    } else if (b >= 0xf0 && b <= 0xf4) {
        n = 3;
        cp = b & 0x07;
    } else {
        return fail(c, "invalid UTF-8 lead byte");
    }
    if ((size_t)(c->end - c->p) <= n)
        return fail(c, "truncated UTF-8 sequence");
    for (unsigned i = 1; i <= n; i++) {
        if ((c->p[i] & 0xc0) != 0x80)
            return fail(c, "invalid UTF-8 continuation byte");
        cp = cp << 6 | (c->p[i] & 0x3f);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return fail(c, "overlong, surrogate or out-of-range UTF-8");
    c->p += n + 1;
    return true;
}

static bool hex4(jc_t *c)
{
    if (c->end - c->p < 4)
        return fail(c, "truncated \\u escape");
    for (int i = 0; i < 4; i++) {
        unsigned char x = c->p[i];
        if (!((x >= '0' && x <= '9') || (x >= 'a' && x <= 'f') || (x >= 'A' && x <= 'F')))
            return fail(c, "invalid \\u escape");
    }
    c->p += 4;
    return true;
}

static bool string(jc_t *c)
{
    c->p++; /* the opening quote */
    while (c->p < c->end) {
        unsigned char b = *c->p;
        if (b == '"') {
            c->p++;
            return true;
        }
        if (b < 0x20)
            return fail(c, "raw control character in a string");
        if (b == '\\') {
            if (++c->p >= c->end)
                return fail(c, "truncated escape");
            if (*c->p == 'u') {
                c->p++;
                if (!hex4(c))
                    return false;
            } else if (strchr("\"\\/bfnrt", *c->p) && *c->p) {
                c->p++;
            } else {
                return fail(c, "invalid escape");
            }
        } else if (b >= 0x80) {
            if (!utf8(c))
                return false;
        } else {
            c->p++;
        }
    }
    return fail(c, "unterminated string");
}

static bool digits(jc_t *c)
{
    const unsigned char *s = c->p;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
        c->p++;
    return c->p > s || fail(c, "digit expected");
}

static bool number(jc_t *c)
{
    if (*c->p == '-')
        c->p++;
    if (c->p < c->end && *c->p == '0')
        c->p++;
    else if (!digits(c))
        return false;
    if (c->p < c->end && *c->p == '.') {
        c->p++;
        if (!digits(c))
            return false;
    }
    if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
        c->p++;
        if (c->p < c->end && (*c->p == '+' || *c->p == '-'))
            c->p++;
        if (!digits(c))
            return false;
    }
    return true;
}

static bool value(jc_t *c);

static bool container(jc_t *c, char close)
{
    if (++c->depth > 64)
        return fail(c, "nested too deeply");
    c->p++;
    skip_ws(c);
    if (c->p < c->end && *c->p == close) {
        c->p++;
        c->depth--;
        return true;
    }
    for (;;) {
        skip_ws(c);
        if (close == '}') {
            if (c->p >= c->end || *c->p != '"')
                return fail(c, "member name expected");
            if (!string(c))
                return false;
            skip_ws(c);
            if (c->p >= c->end || *c->p != ':')
                return fail(c, "':' expected");
            c->p++;
        }
        if (!value(c))
            return false;
        skip_ws(c);
        if (c->p < c->end && *c->p == ',') {
            c->p++;
            continue;
        }
        if (c->p < c->end && *c->p == close) {
            c->p++;
            c->depth--;
            return true;
        }
        return fail(c, "',' or end of container expected");
    }
}

static bool value(jc_t *c)
{
    skip_ws(c);
    if (c->p >= c->end)
        return fail(c, "value expected");
    switch (*c->p) {
    case '{':
        return container(c, '}');
    case '[':
        return container(c, ']');
    case '"':
        return string(c);
    case 't':
        return literal(c, "true");
    case 'f':
        return literal(c, "false");
    case 'n':
        return literal(c, "null");
    default:
        if (*c->p == '-' || (*c->p >= '0' && *c->p <= '9'))
            return number(c);
        return fail(c, "value expected");
    }
}

const char *pa_json_check(const char *text, size_t len, size_t *at)
{
    jc_t c = {(const unsigned char *)text, (const unsigned char *)text + len,
              (const unsigned char *)text, NULL, 0};
    if (value(&c)) {
        skip_ws(&c);
        if (c.p != c.end)
            fail(&c, "text after the top-level value");
    }
    *at = (size_t)(c.p - c.start);
    return c.why;
}
