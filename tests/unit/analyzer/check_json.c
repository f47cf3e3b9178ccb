/* SPDX-License-Identifier: MIT */
/*
 * check_json.c — the JSON writer: string escaping (quotes, backslashes, control characters,
 * invalid UTF-8 replaced by U+FFFD, valid multi-byte UTF-8 kept), the exact layout of nested
 * containers, and decimal numbers; values written as text (pa_json_raw), and the helpers the
 * fast frame writers use (util.h: pa_str_u64/hex, the tagged index).
 */
#include "json.h"

#include <check.h>
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
    tcase_add_test(tc, test_escape_basic);
    tcase_add_test(tc, test_escape_utf8);
    tcase_add_test(tc, test_layout);
    tcase_add_test(tc, test_top_level_array);
    tcase_add_test(tc, test_numbers);
    tcase_add_test(tc, test_raw);
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
