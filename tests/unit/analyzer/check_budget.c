/* SPDX-License-Identifier: MIT */
/*
 * check_budget.c — the regression gate's budgets (budget.c): rules parsed from lists and files
 * (limits in each metric's unit, percentages, scopes, site patterns) and rejected with exit-2
 * errors; the checks' semantics (a change against the base, an absolute maximum, percentages
 * without a base, scopes, patterns against a site's frames); the messages and the JUnit file
 * (escaped XML).
 */
#include "budget.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pa_budget_rule_t *one(pa_budget_t *b, const char *text)
{
    memset(b, 0, sizeof *b);
    ck_assert_int_eq(pa_budget_parse_list(b, text, "test"), PA_OK);
    ck_assert_uint_eq(b->n, 1);
    return &b->rules[0];
}

START_TEST(test_parse_limits)
{
    pa_budget_t b;
    pa_budget_rule_t *r = one(&b, "leaked=+0");
    ck_assert(r->metric == PA_M_LEAKED && r->relative && !r->percent && r->limit == 0);
    ck_assert_int_eq(r->scope, PA_SCOPE_ALL);
    pa_budget_free(&b);
    r = one(&b, "  peak=+10%  ");
    ck_assert(r->metric == PA_M_PEAK && r->relative && r->percent && r->limit == 10);
    ck_assert_str_eq(r->text, "peak=+10%");
    pa_budget_free(&b);
    r = one(&b, "peak=200M");
    ck_assert(!r->relative && r->limit == 200.0 * 1024 * 1024);
    pa_budget_free(&b);
    r = one(&b, "alloc_bytes=+1.5KiB");
    ck_assert(r->relative && r->limit == 1536);
    pa_budget_free(&b);
    r = one(&b, "lock_wait=1s");
    ck_assert(!r->relative && r->limit == 1e9);
    pa_budget_free(&b);
    r = one(&b, "lock_wait=+250ms");
    ck_assert(r->relative && r->limit == 250e6);
    pa_budget_free(&b);
    r = one(&b, "cpu=+12");
    ck_assert(r->metric == PA_M_CPU && r->limit == 12);
    pa_budget_free(&b);
    r = one(&b, "allocs=+5%   site:parse_*");
    ck_assert_int_eq(r->scope, PA_SCOPE_SITES);
    ck_assert_uint_eq(r->site.patterns.n, 1);
    ck_assert_str_eq(r->text, "allocs=+5% site:parse_*");
    pa_budget_free(&b);
    r = one(&b, "allocs=+5% total");
    ck_assert_int_eq(r->scope, PA_SCOPE_TOTAL);
    pa_budget_free(&b);

    memset(&b, 0, sizeof b);
    ck_assert_int_eq(
        pa_budget_parse_list(&b, "leaked=+0,peak=+10%,allocs=+5%,lock_wait=+20%", "--fail-on"),
        PA_OK);
    ck_assert_uint_eq(b.n, 4);
    ck_assert(b.rules[3].metric == PA_M_LOCK_WAIT && b.rules[3].percent);
    ck_assert_str_eq(b.rules[2].origin, "--fail-on");
    pa_budget_free(&b);
}
END_TEST

START_TEST(test_parse_errors)
{
    static const char *const bad[] = {
        "allocs",           "alocs=+5%",
        "allocs=",          "allocs=+",
        "allocs=+x%",       "allocs=-5%",
        "allocs=5%",        "peak=12Q",
        "lock_wait=+3q",    "allocs=+5% nowhere",
        "allocs=+5% site:", "allocs=+5% total sites",
        "leaked=1.5",       ",",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pa_budget_t b = {0};
        int rc = pa_budget_parse_list(&b, bad[i], "test");
        ck_assert_msg(rc == PA_EUSAGE, "'%s' was accepted", bad[i]);
        pa_budget_free(&b);
    }
}
END_TEST

START_TEST(test_file)
{
    char path[] = "/tmp/perfshim-budget-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    static const char good[] = "# a comment\n\n  leaked=+0   # trailing comment\n"
                               "peak=+10% total\r\n";
    ck_assert_int_eq(write(fd, good, sizeof good - 1), (ssize_t)(sizeof good - 1));
    close(fd);
    pa_budget_t b = {0};
    ck_assert_int_eq(pa_budget_load_file(&b, path), PA_OK);
    ck_assert_uint_eq(b.n, 2);
    char want[64];
    snprintf(want, sizeof want, "%s:4", path);
    ck_assert_str_eq(b.rules[1].origin, want);
    ck_assert_str_eq(b.rules[1].text, "peak=+10% total");
    pa_budget_free(&b);

    FILE *f = fopen(path, "w");
    fputs("leaked=+0\nbogus=1\n", f);
    fclose(f);
    ck_assert_int_eq(pa_budget_load_file(&b, path), PA_EUSAGE);
    pa_budget_free(&b);
    unlink(path);
    ck_assert_int_eq(pa_budget_load_file(&b, path), PA_EIO);
    pa_budget_free(&b);
}
END_TEST

static pa_frame_t frame(const char *function, const char *file, unsigned line)
{
    pa_frame_t f = {0};
    f.function = function;
    f.file = file;
    f.line = line;
    f.module = "/usr/bin/app";
    return f;
}

START_TEST(test_check)
{
    pa_frame_t site[2] = {frame("parse_line", "/src/parse.c", 42), frame("main", "/src/main.c", 7)};
    pa_budget_t b;
    /* a change: +N */
    pa_budget_rule_t *r = one(&b, "allocs=+100");
    ck_assert(!pa_budget_check(r, NULL, 0, true, 1000, 1100));
    ck_assert(pa_budget_check(r, NULL, 0, true, 1000, 1101));
    ck_assert(!pa_budget_check(r, site, 2, true, 5000, 10)); /* fewer is fine */
    ck_assert_uint_eq(r->failures.n, 1);
    ck_assert_str_eq(r->failures.items[0], "allocs=+100 broken at total: 1000 -> 1101 (+101, "
                                           "+10.1%), over the budget by 1");
    ck_assert_uint_eq(r->checked, 3);
    pa_budget_free(&b);
    /* a percentage: the total only, unless a scope says sites */
    r = one(&b, "allocs=+5%");
    ck_assert_int_eq(r->scope, PA_SCOPE_TOTAL);
    ck_assert(!pa_budget_check(r, site, 2, true, 100, 1000));
    ck_assert(pa_budget_check(r, NULL, 0, true, 100, 106));
    pa_budget_free(&b);
    /* at sites: the site's base 0 is not checked, the total's is */
    r = one(&b, "allocs=+5% sites");
    ck_assert(!pa_budget_check(r, site, 2, true, 0, 1000));
    ck_assert(!pa_budget_check(r, NULL, 0, true, 0, 1)); /* sites only */
    ck_assert(!pa_budget_check(r, site, 2, true, 100, 105));
    ck_assert(pa_budget_check(r, site, 2, true, 100, 106));
    ck_assert_str_eq(r->failures.items[0],
                     "allocs=+5% sites broken at parse_line (parse.c:42): 100 -> 106 (+6, +6.0%), "
                     "over the budget by 1");
    ck_assert_uint_eq(r->checked, 2);
    pa_budget_free(&b);
    r = one(&b, "allocs=+5%");
    ck_assert(pa_budget_check(r, NULL, 0, true, 0, 1)); /* a total from 0 */
    pa_budget_free(&b);
    /* a maximum, with units in the message; without a base */
    r = one(&b, "peak=1M");
    ck_assert(!pa_budget_check(r, NULL, 0, false, 0, 1 << 20));
    ck_assert(pa_budget_check(r, NULL, 0, false, 0, 3 << 20));
    ck_assert_str_eq(r->failures.items[0],
                     "peak=1M broken at total: 3.0 MiB, over the budget by 2.0 MiB");
    pa_budget_free(&b);
    /* scopes and patterns */
    r = one(&b, "leaked=+0 total");
    ck_assert(!pa_budget_check(r, site, 2, true, 0, 5));
    ck_assert(pa_budget_check(r, NULL, 0, true, 0, 5));
    pa_budget_free(&b);
    r = one(&b, "leaked=+0 site:^main$");
    ck_assert(!pa_budget_check(r, NULL, 0, true, 0, 5));
    ck_assert(pa_budget_check(r, site, 2, true, 0, 5)); /* an outer frame matches */
    ck_assert(!pa_budget_check(r, site, 1, true, 0, 5));
    pa_budget_free(&b);
    r = one(&b, "leaked=+0 site:parse.c");
    ck_assert(pa_budget_check(r, site, 1, true, 0, 5)); /* the file name too */
    pa_budget_free(&b);
    /* a relative rule without a base (check) */
    r = one(&b, "leaked=+0");
    pa_budget_skip_relative(&b);
    ck_assert(!pa_budget_check(r, NULL, 0, false, 0, 5));
    ck_assert(r->skipped && r->checked == 0);
    pa_budget_free(&b);
}
END_TEST

START_TEST(test_where)
{
    char buf[256];
    pa_frame_t lib = {0};
    lib.module = "/lib/x86_64-linux-gnu/libc.so.6";
    lib.offset = 0x758cc;
    pa_frame_t v[2] = {lib, frame("main", "/src/main.c", 190)};
    ck_assert_str_eq(pa_budget_where(v, 2, buf, sizeof buf),
                     "libc.so.6+0x758cc from main (main.c:190)");
    ck_assert_str_eq(pa_budget_where(v + 1, 1, buf, sizeof buf), "main (main.c:190)");
    ck_assert_str_eq(pa_budget_where(NULL, 0, buf, sizeof buf), "total");
    ck_assert_str_eq(pa_budget_where(v, 0, buf, sizeof buf), "a site without frames");
}
END_TEST

START_TEST(test_junit)
{
    pa_budget_t b = {0};
    ck_assert_int_eq(pa_budget_parse_list(&b, "leaked=+0,allocs=+5% site:a<b,cpu=1", "t"), PA_OK);
    pa_frame_t f = frame("operator<", "/src/x&y.c", 3);
    ck_assert(pa_budget_check(&b.rules[0], &f, 1, true, 0, 2));
    b.rules[2].skipped = true;
    char path[] = "/tmp/perfshim-junit-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_int_eq(pa_budget_junit(&b, "perfshim diff", path), PA_OK);
    FILE *in = fopen(path, "r");
    char text[4096];
    size_t n = fread(text, 1, sizeof text - 1, in);
    fclose(in);
    text[n] = '\0';
    unlink(path);
    ck_assert_ptr_nonnull(strstr(text, "tests=\"3\" failures=\"1\" errors=\"0\" skipped=\"1\""));
    ck_assert_ptr_nonnull(strstr(text, "name=\"allocs=+5% site:a&lt;b\""));
    ck_assert_ptr_nonnull(strstr(text, "message=\"leaked=+0 broken at operator&lt; (x&amp;y.c:3)"));
    ck_assert_ptr_nonnull(strstr(text, "<skipped "));
    ck_assert_ptr_null(strstr(text, "a<b"));
    ck_assert_uint_eq(pa_budget_broken(&b), 1);
    ck_assert_int_eq(pa_budget_junit(&b, "x", "/nonexistent-dir/junit.xml"), PA_EIO);
    pa_budget_free(&b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("analyzer_budget");
    TCase *tc = tcase_create("budget");
    tcase_add_test(tc, test_parse_limits);
    tcase_add_test(tc, test_parse_errors);
    tcase_add_test(tc, test_file);
    tcase_add_test(tc, test_check);
    tcase_add_test(tc, test_where);
    tcase_add_test(tc, test_junit);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
