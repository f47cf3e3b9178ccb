/* SPDX-License-Identifier: MIT */
/*
 * check_json.c — the JSON writer: string escaping (quotes, backslashes, control characters,
 * invalid UTF-8 replaced by U+FFFD, valid multi-byte UTF-8 kept), the exact layout of nested
 * containers, and decimal numbers; values written as text (pa_json_raw), and the helpers the
 * fast frame writers use (util.h: pa_str_u64/hex, the tagged index).
 */
#include "json.h"

#include <check.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static char *escaped(const char *s, size_t n)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    pa_json_write_escaped(f, s, n);
    fclose(f);
    return buf;
}

/* The stream and the string versions escape alike. */
#define CHECK_ESC(in, want)                                                                        \
    do {                                                                                           \
        char *got_ = escaped(in, sizeof(in) - 1);                                                  \
        ck_assert_str_eq(got_, want);                                                              \
        free(got_);                                                                                \
        pa_str_t b_ = {0};                                                                         \
        pa_json_append_escaped(&b_, in, sizeof(in) - 1);                                           \
        ck_assert_str_eq(pa_str_get(&b_), want);                                                   \
        pa_str_free(&b_);                                                                          \
    } while (0)

START_TEST(test_escape_basic)
{
    CHECK_ESC("plain", "\"plain\"");
    CHECK_ESC("", "\"\"");
    CHECK_ESC("a\"b\\c/d", "\"a\\\"b\\\\c/d\"");
    CHECK_ESC("\n\t\r\b\f", "\"\\n\\t\\r\\b\\f\"");
    CHECK_ESC("\x01\x1f\x7f", "\"\\u0001\\u001f\\u007f\"");
    CHECK_ESC("nul\0inside", "\"nul\\u0000inside\"");
}
END_TEST

START_TEST(test_escape_utf8)
{
    CHECK_ESC("caf\xc3\xa9", "\"caf\xc3\xa9\"");                       /* é */
    CHECK_ESC("\xe2\x82\xac", "\"\xe2\x82\xac\"");                     /* € */
    CHECK_ESC("\xf0\x9f\x98\x80", "\"\xf0\x9f\x98\x80\"");             /* U+1F600 */
    CHECK_ESC("\xf4\x8f\xbf\xbf", "\"\xf4\x8f\xbf\xbf\"");             /* U+10FFFF */
    CHECK_ESC("a\x80z", "\"a\\ufffdz\"");                              /* lone continuation byte */
    CHECK_ESC("\xc0\xaf", "\"\\ufffd\\ufffd\"");                       /* overlong '/' */
    CHECK_ESC("\xe0\x80\xaf", "\"\\ufffd\\ufffd\\ufffd\"");            /* overlong 3-byte */
    CHECK_ESC("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"");            /* UTF-16 surrogate */
    CHECK_ESC("\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\""); /* above U+10FFFF */
    CHECK_ESC("\xff", "\"\\ufffd\"");
    CHECK_ESC("x\xe2\x82", "\"x\\ufffd\\ufffd\""); /* cut short at the end */
    CHECK_ESC("\xc3(", "\"\\ufffd(\"");            /* bad continuation */
}
END_TEST

static char *render(void (*fn)(pa_json_t *))
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    pa_json_t j;
    pa_json_init(&j, f);
    fn(&j);
    pa_json_finish(&j);
    fclose(f);
    return buf;
}

static void doc(pa_json_t *j)
{
    pa_json_object_begin(j, false);
    pa_json_key(j, "format");
    pa_json_string(j, "x");
    pa_json_key(j, "n");
    pa_json_u64(j, UINT64_MAX);
    pa_json_key(j, "empty");
    pa_json_array_begin(j, false);
    pa_json_array_end(j);
    pa_json_key(j, "list");
    pa_json_array_begin(j, false);
    pa_json_object_begin(j, true);
    pa_json_key(j, "f");
    pa_json_string(j, NULL);
    pa_json_key(j, "a");
    pa_json_hex(j, 0xabc);
    pa_json_key(j, "in");
    pa_json_array_begin(j, false); /* inherits compact */
    pa_json_bool(j, true);
    pa_json_bool(j, false);
    pa_json_array_end(j);
    pa_json_object_end(j);
    pa_json_null(j);
    pa_json_array_end(j);
    pa_json_key(j, "k\"ey");
    pa_json_string_n(j, "ab", 1);
    pa_json_object_end(j);
}

START_TEST(test_layout)
{
    char *got = render(doc);
    const char *want = "{\n"
                       "  \"format\": \"x\",\n"
                       "  \"n\": 18446744073709551615,\n"
                       "  \"empty\": [],\n"
                       "  \"list\": [\n"
                       "    {\"f\": null, \"a\": \"0xabc\", \"in\": [true, false]},\n"
                       "    null\n"
                       "  ],\n"
                       "  \"k\\\"ey\": \"a\"\n"
                       "}\n";
    ck_assert_str_eq(got, want);
    free(got);
}
END_TEST

static void top_array(pa_json_t *j)
{
    pa_json_array_begin(j, false);
    pa_json_object_begin(j, false);
    pa_json_object_end(j);
    pa_json_object_begin(j, false);
    pa_json_key(j, "a");
    pa_json_u64(j, 1);
    pa_json_object_end(j);
    pa_json_array_end(j);
}

START_TEST(test_top_level_array)
{
    char *got = render(top_array);
    ck_assert_str_eq(got, "[\n  {},\n  {\n    \"a\": 1\n  }\n]\n");
    free(got);
}
END_TEST

static void numbers(pa_json_t *j)
{
    pa_json_array_begin(j, true);
    pa_json_f64(j, 0.99);
    pa_json_f64(j, 0.75);
    pa_json_f64(j, 1.0);
    pa_json_f64(j, 0.0);
    pa_json_f64(j, 2097152.0 / 6000.0);
    pa_json_f64(j, 1.0 / 3.0);
    pa_json_f64(j, 1e12);
    pa_json_f64(j, NAN);
    pa_json_f64(j, INFINITY);
    pa_json_array_end(j);
}

START_TEST(test_numbers)
{
    char *got = render(numbers);
    /* not finite: null, never an invalid token */
    ck_assert_str_eq(got, "[0.99, 0.75, 1, 0, 349.525, 0.333333, 1e+12, null, null]\n");
    free(got);
}
END_TEST

/* A compact object made as text (pa_json_raw) is placed as the writer places its own. */
static void raw_frames(pa_json_t *j)
{
    pa_json_array_begin(j, false);
    for (int i = 0; i < 2; i++) {
        pa_str_t b = {0};
        pa_str_puts(&b, "{\"f\": ");
        pa_json_append_string(&b, i ? "a\"b" : NULL);
        pa_str_puts(&b, "}");
        pa_json_raw(j, pa_str_get(&b), b.len);
        pa_str_free(&b);
    }
    pa_json_array_end(j);
}

static void built_frames(pa_json_t *j)
{
    pa_json_array_begin(j, false);
    for (int i = 0; i < 2; i++) {
        pa_json_object_begin(j, true);
        pa_json_key(j, "f");
        pa_json_string(j, i ? "a\"b" : NULL);
        pa_json_object_end(j);
    }
    pa_json_array_end(j);
}

START_TEST(test_raw)
{
    char *raw = render(raw_frames), *built = render(built_frames);
    ck_assert_str_eq(raw, built);
    ck_assert_str_eq(raw, "[\n  {\"f\": null},\n  {\"f\": \"a\\\"b\"}\n]\n");
    free(raw);
    free(built);
}
END_TEST

/* ---- the hand-made formatters against printf and a reference escaper ------------------------- */

/* A reproducible generator (xorshift64*): the same values on every run. */
static uint64_t rnd_state = 0x2545f4914f6cdd1dull;

static uint64_t rnd(void)
{
    rnd_state ^= rnd_state >> 12;
    rnd_state ^= rnd_state << 25;
    rnd_state ^= rnd_state >> 27;
    return rnd_state * 0x2545f4914f6cdd1dull;
}

static void check_f64(double v)
{
    char got[PA_JSON_F64_MAX + 1], want[64];
    size_t n = pa_json_format_f64(got, v);
    ck_assert_uint_lt(n, sizeof got);
    got[n] = '\0';
    snprintf(want, sizeof want, "%.6g", v);
    if (strcmp(got, want) != 0)
        ck_abort_msg("%%.6g of %a: got %s, want %s", v, got, want);
}

/* pa_json_f64's text is printf's "%.6g": edge values (zeros, the exponent's and the rounding's
 * boundaries, exact ties, the extremes), then random ones of every kind a report writes. */
START_TEST(test_f64_printf)
{
    static const double edge[] = {0.0,
                                  -0.0,
                                  1,
                                  -1,
                                  0.5,
                                  0.1,
                                  0.0001,
                                  0.00001,
                                  0.000099999949,
                                  0.0000999995,
                                  0.00009999951,
                                  9.999995,
                                  9.9999949,
                                  99999.95,
                                  99999.5,
                                  999999,
                                  999999.4,
                                  999999.5,
                                  999999.6,
                                  1e6,
                                  1e6 - 1e-9,
                                  123456.5,
                                  123457.5,
                                  100000.5,
                                  0.125,
                                  2.5,
                                  1.0000005,
                                  1e12,
                                  1e21,
                                  1e22,
                                  1e23,
                                  1e-17,
                                  1e-18,
                                  123456789,
                                  2097152.0 / 6000.0,
                                  1.0 / 3.0,
                                  DBL_MAX,
                                  -DBL_MAX,
                                  DBL_MIN,
                                  DBL_TRUE_MIN,
                                  4.9406564584124654e-324,
                                  18446744073709551615.0};
    for (size_t i = 0; i < sizeof edge / sizeof *edge; i++) {
        check_f64(edge[i]);
        check_f64(-edge[i]);
    }
    for (int i = 0; i < 40000; i++) {
        uint64_t bits = rnd();
        double v;
        memcpy(&v, &bits, sizeof v);
        if (isfinite(v))
            check_f64(v);                                                      /* any exponent */
        check_f64((double)(rnd() % 10000000) / pow(10, (double)(rnd() % 16))); /* decimals */
        check_f64((double)(rnd() >> (rnd() % 64)));                            /* integers */
        check_f64(ldexp((double)(rnd() >> 11), -(int)(rnd() % 120)));          /* binary */
        check_f64((double)(100000 + rnd() % 900000) + 0.5); /* ties at the sixth digit */
        check_f64(((double)(100000 + rnd() % 900000) + 0.5) * 1e-3);
        check_f64(exp((double)(int64_t)(rnd() % 8000) / 100.0 - 40.0)); /* seconds, ratios */
    }
}
END_TEST

/* pa_json_u64 and pa_json_hex write what %llu and "0x%llx" do. */
static uint64_t number_value;

static void number_doc(pa_json_t *j)
{
    pa_json_array_begin(j, true);
    pa_json_u64(j, number_value);
    pa_json_hex(j, number_value);
    pa_json_array_end(j);
}

START_TEST(test_integers_printf)
{
    for (int i = 0; i < 20000; i++) {
        uint64_t v = i < 64 ? UINT64_MAX >> i : i < 128 ? (uint64_t)1 << (i - 64) : rnd();
        if (i % 3 == 2)
            v >>= rnd() % 64;
        if (i == 200)
            v = 0;
        char buf[24], want[80];
        size_t n = pa_json_format_u64(buf, v);
        snprintf(want, sizeof want, "%llu", (unsigned long long)v);
        ck_assert_uint_eq(n, strlen(want));
        ck_assert(memcmp(buf, want, n) == 0);
        if (i % 10 != 0 && i > 200)
            continue; /* the writer's text: every tenth (a stream each) */
        number_value = v;
        char *got = render(number_doc);
        snprintf(want, sizeof want, "[%llu, \"0x%llx\"]\n", (unsigned long long)v,
                 (unsigned long long)v);
        ck_assert_str_eq(got, want);
        free(got);
    }
}
END_TEST

/* pa_json_u64_array writes what the array's calls one by one do: in a non-compact array, in a
 * compact object after a key, empty, and deeper than the writer tracks. */
static const uint64_t array_values[] = {0, 7, 10, 99, 100, 12345, UINT64_MAX, 1ull << 40};
static bool array_whole;

static void array_doc(pa_json_t *j)
{
    pa_json_array_begin(j, false);
    for (size_t n = 0; n <= sizeof array_values / sizeof *array_values; n++) {
        pa_json_object_begin(j, true);
        pa_json_key(j, "v");
        if (array_whole) {
            pa_json_u64_array(j, array_values, n);
        } else {
            pa_json_array_begin(j, true);
            for (size_t i = 0; i < n; i++)
                pa_json_u64(j, array_values[i]);
            pa_json_array_end(j);
        }
        pa_json_object_end(j);
        size_t m = n ? n - 1 : 0; /* an array in the non-compact one */
        if (array_whole) {
            pa_json_u64_array(j, array_values + 1, m);
        } else {
            pa_json_array_begin(j, true);
            for (size_t i = 0; i < m; i++)
                pa_json_u64(j, array_values[i + 1]);
            pa_json_array_end(j);
        }
    }
    for (int d = 0; d < PA_JSON_MAX_DEPTH + 2; d++) {
        pa_json_array_begin(j, false);
        if (array_whole) {
            pa_json_u64_array(j, array_values, 3);
        } else {
            pa_json_array_begin(j, true);
            for (size_t i = 0; i < 3; i++)
                pa_json_u64(j, array_values[i]);
            pa_json_array_end(j);
        }
    }
    for (int d = 0; d < PA_JSON_MAX_DEPTH + 2; d++)
        pa_json_array_end(j);
    pa_json_array_end(j);
}

START_TEST(test_u64_array)
{
    array_whole = false;
    char *calls = render(array_doc);
    array_whole = true;
    char *whole = render(array_doc);
    ck_assert_str_eq(whole, calls);
    ck_assert_ptr_nonnull(
        strstr(whole, "{\"v\": [0, 7, 10, 99, 100, 12345, 18446744073709551615]}"));
    ck_assert_ptr_nonnull(strstr(whole, "{\"v\": []}"));
    free(calls);
    free(whole);
}
END_TEST

/* Long arrays: pa_json_u64_array and pa_json_u32_array_of write them in runs of numbers taken
 * at once in the stream's buffer (one at a time when it has no room for a run), so lengths
 * around a run's (32), numbers of every width, and streams whose buffer fills mid-run. */
enum { LONG_N = 1000 };
static uint64_t long_values[LONG_N];
static uint32_t long_val32[LONG_N], long_ix[LONG_N];
/* the frame numbers of the odd rounds (long_val32, or long_small: below PA_JSON_DIGITS_MAX),
 * and their digits made once (pa_json_digits) */
static uint32_t long_small[LONG_N];
static const uint32_t *long_src = long_val32;
static uint64_t long_dig[LONG_N];
static int long_way; /* 0: calls one by one, 1: pa_json_u64_array, 2: pa_json_u32_array_of,
                      * 3: pa_json_digits_array_of */

static char *render_stream(void (*fn)(pa_json_t *), int mode, size_t size);

static void long_doc(pa_json_t *j)
{
    static const size_t lens[] = {0, 1, 2, 31, 32, 33, 63, 64, 65, 100, 333, LONG_N};
    static uint64_t v[LONG_N];
    pa_json_array_begin(j, false);
    for (size_t r = 0; r < 4; r++)
        for (size_t l = 0; l < sizeof lens / sizeof *lens; l++) {
            size_t n = lens[l];
            bool frames = r & 1; /* the odd rounds: frame numbers, long_val32[long_ix[i]] */
            for (size_t i = 0; i < n; i++)
                v[i] = frames ? long_src[long_ix[i]] : long_values[i];
            if (long_way == 0) {
                pa_json_array_begin(j, true);
                for (size_t i = 0; i < n; i++)
                    pa_json_u64(j, v[i]);
                pa_json_array_end(j);
            } else if (long_way == 2 && frames) {
                pa_json_u32_array_of(j, long_ix, long_src, n);
            } else if (long_way == 3 && frames) {
                pa_json_digits_array_of(j, long_ix, long_dig, n);
            } else {
                pa_json_u64_array(j, v, n);
            }
        }
    pa_json_array_end(j);
}

/* long_doc written each way from `first` to `last` reads `calls` (the calls one by one), in
 * memory and through full, tiny, unbuffered and line-buffered streams. */
static void long_ways(const char *calls, int first, int last)
{
    static const int modes[] = {_IOFBF, _IOFBF, _IOFBF, _IONBF, _IOLBF};
    static const size_t sizes[] = {4096, 1000, 7, 0, 64};
    for (int way = first; way <= last; way++) {
        long_way = way;
        char *mem = render(long_doc);
        ck_assert_msg(strcmp(mem, calls) == 0, "way %d, a memory stream", way);
        free(mem);
        for (size_t m = 0; m < sizeof modes / sizeof *modes; m++) {
            char *got = render_stream(long_doc, modes[m], sizes[m]);
            ck_assert_msg(strcmp(got, calls) == 0, "way %d, stream %zu", way, m);
            free(got);
        }
    }
}

START_TEST(test_u64_array_runs)
{
    for (size_t i = 0; i < LONG_N; i++) {
        long_values[i] = i % 5 == 0 ? rnd() : rnd() >> (rnd() % 64);
        long_val32[i] = (uint32_t)(rnd() >> (32 + rnd() % 32));
        long_ix[i] = (uint32_t)(rnd() % LONG_N);
    }
    long_values[3] = 0;
    long_values[4] = UINT64_MAX;
    long_val32[long_ix[5]] = UINT32_MAX;
    long_way = 0;
    char *calls = render(long_doc);
    ck_assert_ptr_nonnull(strstr(calls, "18446744073709551615"));
    ck_assert_ptr_nonnull(strstr(calls, "4294967295"));
    long_ways(calls, 1, 2);
    free(calls);
    /* frame numbers below PA_JSON_DIGITS_MAX, every width, through their digits made once */
    static const uint32_t edges[] = {0, 9, 10, 99, 100, 999999, 1000000, PA_JSON_DIGITS_MAX - 1};
    for (size_t i = 0; i < LONG_N; i++)
        long_small[i] = i < sizeof edges / sizeof *edges
                            ? edges[i]
                            : (uint32_t)(rnd() % PA_JSON_DIGITS_MAX) >> (rnd() % 24);
    for (size_t i = 0; i < sizeof edges / sizeof *edges; i++)
        long_ix[10 * i] = (uint32_t)i; /* (each edge in some array) */
    for (size_t i = 0; i < LONG_N; i++)
        long_dig[i] = pa_json_digits(long_small[i]);
    long_src = long_small;
    long_way = 0;
    calls = render(long_doc);
    ck_assert_ptr_nonnull(strstr(calls, ", 9999999"));
    ck_assert_ptr_nonnull(strstr(calls, "[0, "));
    long_ways(calls, 2, 3);
    free(calls);
    long_src = long_val32;
}
END_TEST

/* The escaping rules written again the plain way, a byte or a sequence at a time: the
 * reference the writer is checked against. */
static void reference_escape(pa_str_t *b, const unsigned char *s, size_t n)
{
    pa_str_puts(b, "\"");
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        char esc[16];
        if (c == '"' || c == '\\') {
            snprintf(esc, sizeof esc, "\\%c", c);
        } else if (c == '\n' || c == '\t' || c == '\r' || c == '\b' || c == '\f') {
            snprintf(esc, sizeof esc, "\\%c",
                     c == '\n'   ? 'n'
                     : c == '\t' ? 't'
                     : c == '\r' ? 'r'
                     : c == '\b' ? 'b'
                                 : 'f');
        } else if (c < 0x20 || c == 0x7f) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
        } else if (c < 0x80) {
            esc[0] = (char)c, esc[1] = '\0';
        } else { /* a well-formed sequence (no overlong form, surrogate, or above U+10FFFF) */
            size_t len = c >= 0xf8 ? 0 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 0;
            uint32_t cp = c & (len == 4 ? 0x07 : len == 3 ? 0x0f : 0x1f);
            bool ok = len != 0 && i + len <= n;
            for (size_t k = 1; ok && k < len; k++) {
                ok = (s[i + k] & 0xc0) == 0x80;
                cp = cp << 6 | (s[i + k] & 0x3f);
            }
            static const uint32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
            if (ok && cp >= least[len] && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff)) {
                pa_str_append(b, (const char *)s + i, len);
                i += len;
                continue;
            }
            snprintf(esc, sizeof esc, "\\ufffd");
        }
        pa_str_puts(b, esc);
        i++;
    }
    pa_str_puts(b, "\"");
}

static const unsigned char *key_bytes;
static size_t key_len;

static void key_doc(pa_json_t *j)
{
    pa_json_object_begin(j, true);
    pa_json_key(j, (const char *)key_bytes);
    pa_json_null(j);
    pa_json_object_end(j);
}

/* Random strings mostly of the bytes that matter (controls, DEL, quote, backslash, every lead
 * and continuation byte, sequences valid and not), escaped by the stream and the string writers
 * and as keys (up to the first NUL) as the reference does. */
START_TEST(test_escape_reference)
{
    static const unsigned char pick[] = {0x00, 0x01, 0x08, 0x09, 0x0a, 0x0c, 0x0d, 0x1f,
                                         0x20, '"',  '\\', '/',  'a',  '~',  0x7f, 0x80,
                                         0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xed, 0xef,
                                         0xf0, 0xf4, 0xf5, 0xff, 0x9f, 0xa0, 0x8f, 0x90};
    unsigned char s[48];
    for (int i = 0; i < 50000; i++) {
        size_t n = rnd() % sizeof s;
        for (size_t k = 0; k < n; k++)
            s[k] = rnd() % 4 ? pick[rnd() % sizeof pick] : (unsigned char)rnd();
        pa_str_t want = {0}, str = {0};
        reference_escape(&want, s, n);
        char *got = escaped((const char *)s, n);
        ck_assert_str_eq(got, pa_str_get(&want));
        free(got);
        pa_json_append_escaped(&str, (const char *)s, n);
        ck_assert_str_eq(pa_str_get(&str), pa_str_get(&want));
        /* as a key: the bytes up to the first NUL */
        unsigned char z[sizeof s + 1];
        memcpy(z, s, n);
        z[n] = '\0';
        key_bytes = z;
        key_len = strlen((const char *)z);
        pa_str_t kw = {0};
        pa_str_puts(&kw, "{");
        reference_escape(&kw, z, key_len);
        pa_str_puts(&kw, ": null}\n");
        char *k = render(key_doc);
        ck_assert_str_eq(k, pa_str_get(&kw));
        free(k);
        pa_str_free(&want);
        pa_str_free(&str);
        pa_str_free(&kw);
    }
}
END_TEST

/* The same document through a stream that is unbuffered, one with a buffer smaller than most
 * pieces, and a memory stream: the writer's copies into the stream's buffer and its fwrite
 * fallback give the same bytes. Also containers deeper than the writer tracks. */
static void deep_doc(pa_json_t *j)
{
    doc(j);
    for (int d = 0; d < PA_JSON_MAX_DEPTH + 5; d++) {
        pa_json_array_begin(j, false);
        pa_json_u64(j, (uint64_t)d);
    }
    for (int d = 0; d < PA_JSON_MAX_DEPTH + 5; d++) {
        pa_json_f64(j, d / 7.0);
        pa_json_array_end(j);
    }
}

/* fn's document through a temporary file with the buffering mode and a buffer of size bytes
 * (at most 4096). */
static char *render_stream(void (*fn)(pa_json_t *), int mode, size_t size)
{
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    static char small[4096];
    ck_assert_uint_le(size, sizeof small);
    setvbuf(f, mode == _IONBF ? NULL : small, mode, mode == _IONBF ? 0 : size);
    pa_json_t j;
    pa_json_init(&j, f);
    fn(&j);
    pa_json_finish(&j);
    long n = ftell(f);
    ck_assert_int_gt(n, 0);
    char *buf = calloc(1, (size_t)n + 1);
    rewind(f);
    ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    return buf;
}

static char *render_buffered(int mode, size_t size)
{
    return render_stream(deep_doc, mode, size);
}

START_TEST(test_stream_buffers)
{
    char *mem = render(deep_doc);
    char *nbf = render_buffered(_IONBF, 0);
    char *small = render_buffered(_IOFBF, 7);
    char *line = render_buffered(_IOLBF, 7);
    ck_assert_str_eq(nbf, mem);
    ck_assert_str_eq(small, mem);
    ck_assert_str_eq(line, mem);
    /* the deepest lines are indented as deep as the writer tracks, no deeper */
    char want[2 * PA_JSON_MAX_DEPTH + 8];
    want[0] = '\n';
    memset(want + 1, ' ', 2 * PA_JSON_MAX_DEPTH);
    strcpy(want + 1 + 2 * PA_JSON_MAX_DEPTH, "36,");
    ck_assert_ptr_nonnull(strstr(mem, want));
    want[1 + 2 * PA_JSON_MAX_DEPTH] = ' ';
    want[2 + 2 * PA_JSON_MAX_DEPTH] = '\0';
    ck_assert_ptr_null(strstr(mem, want));
    free(mem);
    free(nbf);
    free(small);
    free(line);
}
END_TEST

/* Keys: a short plain one is copied as it is checked, into the buffer's room; longer ones, or
 * ones with a character to escape (at the edge of the short ones' length too), the other way:
 * every kind, in every stream, against the reference escaping. */
enum { NKEYS = 14 };
static char keys[NKEYS][128];

static void keys_doc(pa_json_t *j)
{
    pa_json_object_begin(j, false);
    for (size_t k = 0; k < NKEYS; k++) {
        pa_json_key(j, keys[k]);
        pa_json_u64(j, k);
    }
    pa_json_object_begin(j, true); /* and in a compact object */
    for (size_t k = 0; k < NKEYS; k++)
        pa_json_kv_u64(j, keys[k], k);
    pa_json_object_end(j);
    pa_json_object_end(j);
}

START_TEST(test_keys)
{
    static const size_t plain[] = {0, 1, 59, 60, 61, 100};
    static const size_t at[] = {0, 58, 59, 60, 61};
    static const char odd[] = {'"', '\\', '\x01', '\x7f'};
    size_t k = 0;
    for (size_t i = 0; i < sizeof plain / sizeof *plain; i++, k++)
        for (size_t c = 0; c < plain[i]; c++)
            keys[k][c] = (char)('a' + c % 26);
    for (size_t i = 0; i < sizeof at / sizeof *at; i++, k++) {
        for (size_t c = 0; c < at[i] + 3; c++)
            keys[k][c] = (char)('A' + c % 26);
        keys[k][at[i]] = odd[i % sizeof odd];
    }
    strcpy(keys[k++], "\xc3\xa9t\xc3\xa9"); /* UTF-8: escaped way, kept as it is */
    strcpy(keys[k++], "\xff");
    strcpy(keys[k++], "tab\there");
    ck_assert_uint_eq(k, NKEYS);
    pa_str_t want = {0};
    pa_str_puts(&want, "{");
    for (k = 0; k < NKEYS; k++) {
        pa_str_puts(&want, k ? ",\n  " : "\n  ");
        reference_escape(&want, (const unsigned char *)keys[k], strlen(keys[k]));
        pa_str_puts(&want, ": ");
        pa_str_u64(&want, k);
    }
    pa_str_puts(&want, ",\n  {");
    for (k = 0; k < NKEYS; k++) {
        if (k)
            pa_str_puts(&want, ", ");
        reference_escape(&want, (const unsigned char *)keys[k], strlen(keys[k]));
        pa_str_puts(&want, ": ");
        pa_str_u64(&want, k);
    }
    pa_str_puts(&want, "}\n}\n");
    char *mem = render(keys_doc);
    ck_assert_str_eq(mem, want.s);
    free(mem);
    static const int modes[] = {_IOFBF, _IOFBF, _IOFBF, _IONBF, _IOLBF};
    static const size_t sizes[] = {4096, 70, 7, 0, 64};
    for (size_t m = 0; m < sizeof modes / sizeof *modes; m++) {
        char *got = render_stream(keys_doc, modes[m], sizes[m]);
        ck_assert_msg(strcmp(got, want.s) == 0, "stream %zu", m);
        free(got);
    }
    pa_str_free(&want);
}
END_TEST

/* Keys and raw values at every depth, first in their container and after others: written in
 * place with their separator when the buffer has room (pa_json_key, pa_json_raw), the other way
 * (before, then the value) when it has none (an unbuffered stream, a buffer of a few bytes, a
 * line-buffered one), and deeper than the writer tracks: the same text every way. */
static void nested_doc(pa_json_t *j)
{
    static const char frame[] = "{\"function\": \"f\", \"line\": 7}";
    pa_json_object_begin(j, false);
    for (int d = 0; d < PA_JSON_MAX_DEPTH + 3; d++) {
        pa_json_key(j, "first");
        pa_json_raw(j, "1", 1);
        pa_json_key(j, "a_longer_key_of_forty_characters_or_so__");
        pa_json_raw(j, frame, sizeof frame - 1);
        pa_json_key(j, "frames");
        pa_json_array_begin(j, false);
        for (int i = 0; i < 3; i++)
            pa_json_raw(j, frame, sizeof frame - 1);
        pa_json_array_end(j);
        pa_json_key(j, "compact");
        pa_json_array_begin(j, true);
        pa_json_raw(j, "2", 1);
        pa_json_raw(j, "3", 1);
        pa_json_array_end(j);
        pa_json_key(j, "esc\"aped");
        pa_json_raw(j, "4", 1);
        pa_json_key(j, "next");
        pa_json_object_begin(j, false);
    }
    for (int d = 0; d < PA_JSON_MAX_DEPTH + 3; d++)
        pa_json_object_end(j);
    pa_json_object_end(j);
}

START_TEST(test_nested_in_place)
{
    char *mem = render(nested_doc);
    /* depth 1 as the writer lays it out */
    const char *want = "{\n"
                       "  \"first\": 1,\n"
                       "  \"a_longer_key_of_forty_characters_or_so__\": {\"function\": \"f\", "
                       "\"line\": 7},\n"
                       "  \"frames\": [\n"
                       "    {\"function\": \"f\", \"line\": 7},\n"
                       "    {\"function\": \"f\", \"line\": 7},\n"
                       "    {\"function\": \"f\", \"line\": 7}\n"
                       "  ],\n"
                       "  \"compact\": [2, 3],\n"
                       "  \"esc\\\"aped\": 4,\n"
                       "  \"next\": {\n"
                       "    \"first\": 1,\n";
    ck_assert_int_eq(strncmp(mem, want, strlen(want)), 0);
    static const int modes[] = {_IONBF, _IOFBF, _IOFBF, _IOFBF, _IOLBF};
    static const size_t sizes[] = {0, 7, 100, 4096, 64};
    for (size_t m = 0; m < sizeof modes / sizeof *modes; m++) {
        char *got = render_stream(nested_doc, modes[m], sizes[m]);
        ck_assert_msg(strcmp(got, mem) == 0, "stream %zu", m);
        free(got);
    }
    free(mem);
}
END_TEST

/* pa_str_u64 / pa_str_hex write what %llu / %llx do. */
START_TEST(test_str_numbers)
{
    const uint64_t v[] = {0, 1, 9, 10, 15, 16, 4095, 1234567890123ull, UINT64_MAX / 3, UINT64_MAX};
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        char want[64];
        pa_str_t b = {0};
        pa_str_u64(&b, v[i]);
        pa_str_puts(&b, " ");
        pa_str_hex(&b, v[i]);
        snprintf(want, sizeof want, "%llu %llx", (unsigned long long)v[i],
                 (unsigned long long)v[i]);
        ck_assert_str_eq(pa_str_get(&b), want);
        pa_str_free(&b);
    }
}
END_TEST

/* The tagged index (util.h) keeps every item through its growths, each found by probing from
 * its first slot, and the table at most 3/4 full. */
START_TEST(test_tix)
{
    uint64_t *index = NULL;
    size_t cap = 0;
    enum { N = 5000 }; /* three growths from 1024 slots */
    for (uint32_t n = 1; n <= N; n++) {
        ck_assert_int_eq(pa_tix_reserve(&index, &cap, n), PA_OK);
        pa_tix_put(index, cap, (uint64_t)n * 0x9e3779b97f4a7c15u, n);
    }
    ck_assert_uint_le((size_t)N * 4, cap * 3);
    size_t used = 0;
    for (size_t i = 0; i < cap; i++)
        used += index[i] != 0;
    ck_assert_uint_eq(used, N);
    for (uint32_t n = 1; n <= N; n++) {
        uint64_t h = (uint64_t)n * 0x9e3779b97f4a7c15u;
        size_t i = pa_tix_first(h, cap);
        while (index[i] && (uint32_t)index[i] != n)
            i = (i + 1) & (cap - 1);
        ck_assert_uint_eq((uint32_t)index[i], n);
        ck_assert_uint_eq(PA_TIX_TAG(index[i]), PA_TIX_TAG(h));
    }
    free(index);
}
END_TEST

/* pa_util_zalloc's block is all zero and all usable at every size, on either side of the huge
 * page threshold, even where the allocator hands back memory just dirtied and freed (calloc
 * skips writing only a fresh mapping). */
START_TEST(test_zalloc)
{
    static const size_t sizes[] = {0,
                                   100,
                                   ((size_t)1 << 20) - 1,
                                   ((size_t)1 << 20) + 5,
                                   PA_UTIL_HUGE_MIN - 32,
                                   PA_UTIL_HUGE_MIN,
                                   3 * PA_UTIL_HUGE_MIN + 7};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        size_t n = sizes[k];
        unsigned char *dirty = malloc(n ? n : 1);
        ck_assert_ptr_nonnull(dirty);
        memset(dirty, 0xa5, n ? n : 1);
        free(dirty);
        unsigned char *p = pa_util_zalloc(n);
        ck_assert_ptr_nonnull(p);
        size_t nonzero = 0;
        for (size_t i = 0; i < n; i++)
            nonzero += p[i] != 0;
        ck_assert_uint_eq(nonzero, 0);
        memset(p, 0x5a, n); /* all of it is the caller's */
        free(p);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("analyzer_json");
    TCase *tc = tcase_create("json");
    tcase_set_timeout(tc, 120); /* the random comparisons: seconds on a loaded machine */
    tcase_add_test(tc, test_escape_basic);
    tcase_add_test(tc, test_escape_utf8);
    tcase_add_test(tc, test_layout);
    tcase_add_test(tc, test_top_level_array);
    tcase_add_test(tc, test_numbers);
    tcase_add_test(tc, test_raw);
    tcase_add_test(tc, test_f64_printf);
    tcase_add_test(tc, test_integers_printf);
    tcase_add_test(tc, test_u64_array);
    tcase_add_test(tc, test_u64_array_runs);
    tcase_add_test(tc, test_escape_reference);
    tcase_add_test(tc, test_stream_buffers);
    tcase_add_test(tc, test_keys);
    tcase_add_test(tc, test_nested_in_place);
    tcase_add_test(tc, test_str_numbers);
    tcase_add_test(tc, test_tix);
    tcase_add_test(tc, test_zalloc);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
