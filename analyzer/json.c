/* SPDX-License-Identifier: MIT */
/*
 * json.c — the JSON writer. Strings from traces are arbitrary bytes (paths, argv, messages): the
 * writer escapes what JSON requires and replaces every byte that is not part of a well-formed
 * UTF-8 sequence (overlong forms, surrogates, values above U+10FFFF included) by U+FFFD, so the
 * output is always valid JSON.
 */
#include "json.h"

#include "outbuf.h"

#include <math.h>
#include <string.h>

/* The stream's buffer filled in place (outbuf.h): a full leaks report of a compile is 5M pieces
 * (frames, keys, numbers); fwrite's call and its checks were an eighth of that report's
 * instructions. */
#define out_room pa_out_room
#define out_unused pa_out_unused
#define out_put pa_out_put

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
        out_put(k->out, s, n);
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

/* A comma, a newline and the deepest indentation: the separators and indentations are pieces of
 * it (at most PA_JSON_MAX_DEPTH levels of two spaces). */
static const char lead[] = ",\n                                                                ";
_Static_assert(sizeof lead == 2 * PA_JSON_MAX_DEPTH + 3, "one indentation per level");

/* The n bytes of lead at s (lead or lead + 1): all that lead holds from s is copied at once
 * when the buffer has room, and the rest given back, rather than memcpy's call for n bytes
 * (the reports write 2.5M separators). */
static inline void put_lead(FILE *f, const char *s, size_t n)
{
    enum { LEAD_ROOM = sizeof lead - 1 }; /* from lead + 1, with its NUL */
    char *at = out_room(f, LEAD_ROOM);
    if (!at) {
        out_put(f, s, n);
        return;
    }
    memcpy(at, s, LEAD_ROOM);
    out_unused(f, LEAD_ROOM - n);
}

/* A newline and the indentation of the writer's depth. */
static void indent(const pa_json_t *j)
{
    int depth = j->depth < PA_JSON_MAX_DEPTH ? j->depth : PA_JSON_MAX_DEPTH;
    put_lead(j->out, lead + 1, 1 + 2 * (size_t)depth);
}

/* The separator and indentation before a value or a key (a comma; a newline and indentation, or
 * a space in a compact container). */
static void before_value(pa_json_t *j)
{
    if (j->depth == 0) {
        if (j->wrote_value)
            out_put(j->out, "\n", 1);
        j->wrote_value = true;
        return;
    }
    int d = j->depth - 1;
    if (d >= PA_JSON_MAX_DEPTH) /* deeper than the writer tracks: a caller bug */
        d = PA_JSON_MAX_DEPTH - 1;
    bool first = j->first[d];
    j->first[d] = false;
    if (j->compact[d]) {
        if (!first)
            out_put(j->out, ", ", 2);
    } else if (first) {
        indent(j);
    } else {
        int depth = j->depth < PA_JSON_MAX_DEPTH ? j->depth : PA_JSON_MAX_DEPTH;
        put_lead(j->out, lead, 2 + 2 * (size_t)depth);
    }
}

static inline void before(pa_json_t *j)
{
    if (j->after_key) /* a key's value: nothing between them */
        j->after_key = false;
    else
        before_value(j);
}

static void begin(pa_json_t *j, char open, bool compact)
{
    before(j);
    out_put(j->out, &open, 1);
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
    out_put(j->out, &close, 1);
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

/* The characters a key is written with as they are: printable ASCII but " and \ (a NUL ends
 * the key). One load a character: the reports write 800k keys. */
static const unsigned char key_plain[256] = {
    [0x20 ... 0x21] = 1, [0x23 ... 0x5b] = 1, [0x5d ... 0x7e] = 1};

void pa_json_key(pa_json_t *j, const char *key)
{
    /* a short plain key copied as it is checked, into the buffer's room (then the rest given
     * back): one pass, no memcpy call (the reports' keys are names of a few letters); in an
     * indented object (a leaks report's 750k keys), its separator and indentation in the same
     * room, a fixed copy from lead as put_lead makes it */
    enum { KEY_SHORT = 60, LEAD_ROOM = sizeof lead - 1 };
    int d = j->depth - 1;
    if (!j->after_key && d >= 0 && d < PA_JSON_MAX_DEPTH && !j->compact[d]) {
        char *at = out_room(j->out, LEAD_ROOM + KEY_SHORT + 4);
        if (at) {
            bool first = j->first[d];
            size_t ln = (first ? 1 : 2) + 2 * (size_t)j->depth, n = 0;
            memcpy(at, first ? lead + 1 : lead, LEAD_ROOM);
            char *k = at + ln;
            k[0] = '"';
            for (unsigned char c; n < KEY_SHORT && key_plain[c = (unsigned char)key[n]]; n++)
                k[1 + n] = (char)c;
            if (!key[n]) {
                memcpy(k + 1 + n, "\": ", 3);
                out_unused(j->out, LEAD_ROOM + KEY_SHORT - ln - n);
                j->first[d] = false;
                j->after_key = true;
                return;
            }
            out_unused(j->out, LEAD_ROOM + KEY_SHORT + 4); /* longer, or escaped: below */
        }
    }
    before(j);
    char *at = out_room(j->out, KEY_SHORT + 4);
    if (at) {
        size_t n = 0;
        at[0] = '"';
        for (unsigned char c; n < KEY_SHORT && key_plain[c = (unsigned char)key[n]]; n++)
            at[1 + n] = (char)c;
        if (!key[n]) {
            memcpy(at + 1 + n, "\": ", 3);
            out_unused(j->out, KEY_SHORT - n);
            j->after_key = true;
            return;
        }
        out_unused(j->out, KEY_SHORT + 4); /* longer, or escaped: the way below */
    }
    size_t n = 0; /* the plain characters at the start, found with the length */
    while (key_plain[(unsigned char)key[n]])
        n++;
    if (!key[n]) { /* a key as the reports name them */
        out_put(j->out, "\"", 1);
        out_put(j->out, key, n);
        out_put(j->out, "\": ", 3);
    } else {
        pa_json_write_escaped(j->out, key, n + strlen(key + n));
        out_put(j->out, ": ", 2);
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

/* Decimal digits two at a time (the pairs 00 to 99). */
static const char digit_pairs[] =
    "00010203040506070809101112131415161718192021222324252627282930313233"
    "34353637383940414243444546474849505152535455565758596061626364656667"
    "6869707172737475767778798081828384858687888990919293949596979899";

/* The number of decimal digits of v, from its bit length without a loop (the bit-twiddling
 * hacks' integer log base 10: 1233 / 4096 is just above log10(2), so t is floor(log10(v)) or one
 * more, and one comparison decides). v | 1 has v's digit count (an even v is below the odd
 * 10^k - 1 or at least 10^k), and 0 then counts one digit. */
static unsigned u64_width(uint64_t v)
{
    /* clang-format off */
    static const uint64_t pow10[20] = {
        1u, 10u, 100u, 1000u, 10000u, 100000u, 1000000u, 10000000u, 100000000u, 1000000000u,
        10000000000u, 100000000000u, 1000000000000u, 10000000000000u, 100000000000000u,
        1000000000000000u, 10000000000000000u, 100000000000000000u, 1000000000000000000u,
        10000000000000000000u};
    /* clang-format on */
    v |= 1;
    unsigned t = (unsigned)(64 - __builtin_clzll(v)) * 1233 >> 12;
    return t + (v >= pow10[t]);
}

/* v's digits (what %llu writes, `width` of them: u64_width) ending at end. */
static inline void u64_digits(char *end, uint64_t v)
{
    while (v >= 100) {
        unsigned k = (unsigned)(v % 100) * 2;
        v /= 100;
        *--end = digit_pairs[k + 1];
        *--end = digit_pairs[k];
    }
    if (v >= 10) {
        *--end = digit_pairs[v * 2 + 1];
        *--end = digit_pairs[v * 2];
    } else {
        *--end = (char)('0' + v);
    }
}

size_t pa_json_format_u64(char *buf, uint64_t v)
{
    unsigned n = u64_width(v);
    u64_digits(buf + n, v);
    return n;
}

/* An integer: 5M of them in the export of a compile's trace (its stacks' frame indices), so
 * written in the stream's buffer in place when there is room. */
void pa_json_u64(pa_json_t *j, uint64_t v)
{
    before(j);
    unsigned n = u64_width(v);
    char *at = out_room(j->out, n);
    if (at) {
        u64_digits(at + n, v);
        return;
    }
    char buf[20];
    u64_digits(buf + n, v);
    fwrite(buf, 1, n, j->out);
}

/* Element i of a compact array: v[i], or val[ix[i]] without v. */
static inline uint64_t array_at(const uint64_t *v, const uint32_t *ix, const uint32_t *val,
                                size_t i)
{
    return v ? v[i] : val[ix[i]];
}

static void u64_array(pa_json_t *j, const uint64_t *v, const uint32_t *ix, const uint32_t *val,
                      size_t n)
{
    if (j->depth + 1 >= PA_JSON_MAX_DEPTH) { /* deeper than the writer tracks: its own way */
        pa_json_array_begin(j, true);
        for (size_t i = 0; i < n; i++)
            pa_json_u64(j, array_at(v, ix, val, i));
        pa_json_array_end(j);
        return;
    }
    before(j); /* then what begin, each pa_json_u64 and end would write in a compact array */
    char buf[24], *e = buf + sizeof buf;
    out_put(j->out, "[", 1);
    /* ARRAY_RUN numbers at a time straight into the stream's buffer when it has room for the
     * longest they can be (", " and 20 digits each), the room not used given back: the
     * export's 5M frame indices are most of what it writes */
    enum { ARRAY_RUN = 32, ARRAY_MAX = 22 };
    size_t i = 0;
    while (i < n) {
        size_t k = n - i < ARRAY_RUN ? n - i : ARRAY_RUN;
        char *at = out_room(j->out, k * ARRAY_MAX), *p = at;
        if (!at) { /* (no room: one at a time, through fwrite when the buffer is full) */
            for (size_t end = i + k; i < end; i++) {
                uint64_t x = array_at(v, ix, val, i);
                unsigned w = u64_width(x);
                u64_digits(e, x);
                if (i)
                    memcpy(e - w - 2, ", ", 2), w += 2;
                out_put(j->out, e - w, w);
            }
            continue;
        }
        for (size_t end = i + k; i < end; i++) {
            uint64_t x = array_at(v, ix, val, i);
            if (i)
                memcpy(p, ", ", 2), p += 2;
            p += u64_width(x);
            u64_digits(p, x);
        }
        out_unused(j->out, (size_t)(at + k * ARRAY_MAX - p));
    }
    out_put(j->out, "]", 1);
}

void pa_json_u64_array(pa_json_t *j, const uint64_t *v, size_t n)
{
    u64_array(j, v, NULL, NULL, n);
}

void pa_json_u32_array_of(pa_json_t *j, const uint32_t *ix, const uint32_t *val, size_t n)
{
    u64_array(j, NULL, ix, val, n);
}

uint64_t pa_json_digits(uint32_t v)
{
    if (v >= PA_JSON_DIGITS_MAX) /* (a caller bug: its first 7 digits) */
        return pa_json_digits(v / 10);
    unsigned char b[8] = {0};
    unsigned n = u64_width(v);
    u64_digits((char *)b + n, v);
    b[7] = (unsigned char)n;
    uint64_t d;
    memcpy(&d, b, sizeof d);
    return d;
}

/* The count of digits in d (pa_json_digits). */
static inline size_t digits_len(uint64_t d)
{
    unsigned char b[8];
    memcpy(b, &d, sizeof b);
    return b[7];
}

/* The digits made once are copied 8 bytes at a time (the count byte and the zeros after the
 * digits are written over by what follows, or given back): a number is a load, two stores and
 * an add, where u64_array divides it into digits (57 instructions a frame number, a tenth of a
 * compile's export). */
void pa_json_digits_array_of(pa_json_t *j, const uint32_t *ix, const uint64_t *dig, size_t n)
{
    if (j->depth + 1 >= PA_JSON_MAX_DEPTH) { /* deeper than the writer tracks: its own way */
        pa_json_array_begin(j, true);
        for (size_t i = 0; i < n; i++)
            pa_json_raw(j, (const char *)&dig[ix[i]], digits_len(dig[ix[i]]));
        pa_json_array_end(j);
        return;
    }
    before(j); /* then what begin, each number and end would write in a compact array */
    out_put(j->out, "[", 1);
    enum { DIGITS_RUN = 32, DIGITS_ROOM = 10 }; /* ", " and the 8 bytes stored */
    size_t i = 0;
    while (i < n) {
        size_t k = n - i < DIGITS_RUN ? n - i : DIGITS_RUN;
        char *at = out_room(j->out, k * DIGITS_ROOM), *p = at;
        if (!at) { /* (no room: one at a time, through fwrite when the buffer is full) */
            for (size_t end = i + k; i < end; i++) {
                uint64_t d = dig[ix[i]];
                if (i)
                    out_put(j->out, ", ", 2);
                out_put(j->out, &d, digits_len(d));
            }
            continue;
        }
        if (!i) { /* the first number: no separator */
            uint64_t d = dig[ix[0]];
            memcpy(p, &d, sizeof d);
            p += digits_len(d);
            i++;
        }
        for (size_t end = at == p ? i + k : i + k - 1; i < end; i++) {
            uint64_t d = dig[ix[i]];
            memcpy(p, ", ", 2);
            memcpy(p + 2, &d, sizeof d);
            p += 2 + digits_len(d);
        }
        out_unused(j->out, (size_t)(at + k * DIGITS_ROOM - p));
    }
    out_put(j->out, "]", 1);
}

/* Exact powers of ten as doubles (10^22 is the last one a double holds exactly). */
static const double pow10_exact[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* v (finite, > 0) rounded to 6 significant digits: *digits in [100000, 999999] and the decimal
 * exponent of its first digit; false when that cannot be decided exactly here. v times (or
 * over) an exact power of ten is one rounding, so the product is within 2^-53 of its value,
 * below 1.2e-10 for a product under 1e6: the rounding is decided when the fraction is not
 * within 1e-6 of one half (a half exactly is printf's round-half-even, left to it). */
static bool round6(double v, uint32_t *digits, int *exp10)
{
    int x = (int)floor(log10(v));
    for (int tries = 0; tries < 3; tries++) {
        int s = 5 - x; /* the scale that puts the first digit at 10^5 */
        if (s > 22 || s < -22)
            return false;
        double y = s >= 0 ? v * pow10_exact[s] : v / pow10_exact[-s];
        if (y < 100000) { /* the first digit is lower: log10 rounded up near a power of ten */
            x--;
            continue;
        }
        if (y >= 1000000) {
            x++;
            continue;
        }
        double whole = floor(y), frac = y - whole;
        if (fabs(frac - 0.5) < 1e-6)
            return false;
        uint32_t r = (uint32_t)whole + (frac > 0.5);
        if (r == 1000000) { /* 999999.5 and over: the next power of ten */
            r = 100000;
            x++;
        }
        *digits = r;
        *exp10 = x;
        return true;
    }
    return false;
}

size_t pa_json_format_f64(char *buf, double v)
{
    char *p = buf;
    uint32_t r;
    int x;
    if (v == 0) { /* "0", or "-0" */
        if (signbit(v))
            *p++ = '-';
        *p++ = '0';
        return (size_t)(p - buf);
    }
    if (!round6(fabs(v), &r, &x))
        return (size_t)snprintf(buf, PA_JSON_F64_MAX, "%.6g", v);
    if (v < 0)
        *p++ = '-';
    char d[6];
    for (int i = 5; i >= 0; i--, r /= 10)
        d[i] = (char)('0' + r % 10);
    int nd = 6; /* %g drops the trailing zeros of the fraction, and then a bare point */
    while (nd > 1 && d[nd - 1] == '0')
        nd--;
    if (x >= 0 && x < 6) { /* d[0..x] the integer part */
        memcpy(p, d, (size_t)x + 1);
        p += x + 1;
        if (nd > x + 1) {
            *p++ = '.';
            memcpy(p, d + x + 1, (size_t)(nd - x - 1));
            p += nd - x - 1;
        }
    } else if (x < 0 && x >= -4) { /* 0.000ddd */
        memcpy(p, "0.0000", (size_t)(1 - x));
        p += 1 - x;
        memcpy(p, d, (size_t)nd);
        p += nd;
    } else { /* d.ddddde+XX: at least two digits of exponent */
        *p++ = d[0];
        if (nd > 1) {
            *p++ = '.';
            memcpy(p, d + 1, (size_t)nd - 1);
            p += nd - 1;
        }
        *p++ = 'e';
        *p++ = x < 0 ? '-' : '+';
        unsigned e = (unsigned)(x < 0 ? -x : x);
        if (e >= 100)
            *p++ = (char)('0' + e / 100);
        *p++ = (char)('0' + e / 10 % 10);
        *p++ = (char)('0' + e % 10);
    }
    return (size_t)(p - buf);
}

void pa_json_f64(pa_json_t *j, double v)
{
    if (!isfinite(v)) {
        pa_json_null(j);
        return;
    }
    char buf[PA_JSON_F64_MAX];
    before(j);
    /* %g never writes a locale's decimal comma here: the analyzer never calls setlocale() */
    out_put(j->out, buf, pa_json_format_f64(buf, v));
}

void pa_json_bool(pa_json_t *j, bool v)
{
    before(j);
    out_put(j->out, v ? "true" : "false", v ? 4 : 5);
}

void pa_json_null(pa_json_t *j)
{
    before(j);
    out_put(j->out, "null", 4);
}

void pa_json_hex(pa_json_t *j, uint64_t v)
{
    char buf[20], *p = buf + sizeof buf;
    *--p = '"';
    do /* what "0x%llx" writes */
        *--p = "0123456789abcdef"[v & 15];
    while (v >>= 4);
    *--p = 'x';
    *--p = '0';
    *--p = '"';
    before(j);
    out_put(j->out, p, (size_t)(buf + sizeof buf - p));
}

void pa_json_raw(pa_json_t *j, const char *s, size_t n)
{
    /* an element of an indented container (a leaks report's 2.6M frames): its separator and
     * indentation (a fixed copy from lead, the rest given back, as put_lead) and the value in
     * one reservation of the buffer */
    int d = j->depth - 1;
    if (!j->after_key && d >= 0 && d < PA_JSON_MAX_DEPTH && !j->compact[d]) {
        enum { LEAD_ROOM = sizeof lead - 1 };
        bool first = j->first[d];
        size_t ln = (first ? 1 : 2) + 2 * (size_t)j->depth;
        char *at = out_room(j->out, LEAD_ROOM + n);
        if (at) {
            j->first[d] = false;
            memcpy(at, first ? lead + 1 : lead, LEAD_ROOM);
            memcpy(at + ln, s, n);
            out_unused(j->out, LEAD_ROOM - ln);
            return;
        }
    }
    before(j);
    out_put(j->out, s, n);
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
    out_put(j->out, "\n", 1);
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
