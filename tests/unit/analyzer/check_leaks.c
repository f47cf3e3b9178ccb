/* SPDX-License-Identifier: MIT */
/*
 * check_leaks.c — leak grouping, frame hiding, sorting, suppressions, and the text/JSON leak
 * report, on real addresses of this test binary:
 *   stack 1: [A]            A = a return address in lk_site_a
 *   stack 2: [A - 1]        same call instruction, same line: merges with stack 1
 *   stack 4: [new+1, A]     a leading operator new frame is hidden: merges with stack 1
 *   stack 3: [B]            B = a return address in lk_site_b
 *   stack 5: [shim, B]      a libperfshim.so frame is hidden: merges with stack 3
 *   stack 6: [0x5000]       in no module: unresolved
 */
#include "leaks.h"
#include "report.h"
#include "suppress.h"

#include "self_trace.h"
#include "test_util.h"

#include <check.h>
#include <dlfcn.h>

/* Frame i of group x as reports show it (the view is reused by the next call). */
static const pa_frame_t *group_frame(const pa_groups_t *g, const pa_group_t *x, size_t i)
{
    static pa_stackview_t v;
    ck_assert_int_eq(pa_report_group_view(g, x, &v), PA_OK);
    ck_assert_uint_eq(v.nframes, x->nframes);
    ck_assert_uint_lt(i, v.nframes);
    return &v.frames[i];
}

__attribute__((noinline, noclone)) uintptr_t lk_get_ra(void)
{
    uintptr_t ra = (uintptr_t)__builtin_return_address(0);
    __asm__ volatile("" ::: "memory");
    return ra;
}

__attribute__((noinline, noclone)) uintptr_t lk_site_a(void)
{
    uintptr_t ra = lk_get_ra();
    __asm__ volatile("" ::: "memory");
    return ra;
}

__attribute__((noinline, noclone)) uintptr_t lk_site_b(void)
{
    uintptr_t ra = lk_get_ra();
    __asm__ volatile("" ::: "memory");
    return ra;
}

#define SHIM_BASE 0x10000

static void build(pa_trace_t *t, bool with_freed_row)
{
    st_init(t);
    st_add_module(t, "/nonexistent/lib/libperfshim.so", SHIM_BASE, SHIM_BASE, SHIM_BASE + 0x10000,
                  NULL, 0);
    uint64_t a = lk_site_a(), b = lk_site_b();
    void *op_new = dlsym(RTLD_DEFAULT, "_Znwm");
    ck_assert_ptr_nonnull(op_new);
    uint64_t s1[] = {a}, s2[] = {a - 1}, s3[] = {b}, s4[] = {(uint64_t)op_new + 1, a},
             s5[] = {SHIM_BASE + 0x100, b}, s6[] = {0x5000};
    st_add_stack(t, 1, 1, s1);
    st_add_stack(t, 2, 1, s2);
    st_add_stack(t, 3, 1, s3);
    st_add_stack(t, 4, 2, s4);
    st_add_stack(t, 5, 2, s5);
    st_add_stack(t, 6, 1, s6);
    /* id, allocs, alloc_bytes, live_blocks, live_bytes */
    st_add_row(t, 1, 3, 300, 1, 100);
    st_add_row(t, 2, 2, 50, 2, 50);
    st_add_row(t, 3, 1, 500, 1, 500);
    st_add_row(t, 4, 1, 10, 1, 10);
    if (with_freed_row)
        st_add_row(t, 5, 7, 7000, 0, 0);
    st_add_row(t, 6, 1, 160, 1, 160);
}

START_TEST(test_grouping_and_sorting)
{
    pa_trace_t t;
    build(&t, true);
    pa_symbols_t *s;
    ck_assert_int_eq(pa_symbols_new(&t, &s), PA_OK);
    pa_groups_t g;
    ck_assert_int_eq(pa_report_group(&t, s, true, &g), PA_OK);
    ck_assert_uint_eq(g.n, 3);
    pa_report_sort_by_live(&g);
    /* B: 500 bytes; A: 160 bytes in 4 blocks; unknown: 160 bytes in 1 block */
    ck_assert_uint_eq(g.items[0]->live_bytes, 500);
    ck_assert_str_eq(group_frame(&g, g.items[0], 0)->function, "lk_site_b");
    ck_assert_uint_eq(g.items[1]->live_bytes, 160);
    ck_assert_uint_eq(g.items[1]->live_blocks, 4);
    ck_assert_uint_eq(g.items[1]->stacks, 3);
    ck_assert_uint_eq(g.items[1]->nframes, 1);
    ck_assert_str_eq(group_frame(&g, g.items[1], 0)->function, "lk_site_a");
    ck_assert_uint_eq(g.items[1]->first_stack_id, 1);
    ck_assert_uint_eq(g.items[2]->live_bytes, 160);
    ck_assert_uint_eq(g.items[2]->live_blocks, 1);
    ck_assert_ptr_null(group_frame(&g, g.items[2], 0)->function);
    pa_report_groups_free(&g);

    /* summary grouping: every row; the freed stack 5 joins B; sorted by bytes allocated */
    ck_assert_int_eq(pa_report_group(&t, s, false, &g), PA_OK);
    ck_assert_uint_eq(g.n, 3);
    pa_report_sort_by_alloc(&g);
    ck_assert_str_eq(group_frame(&g, g.items[0], 0)->function, "lk_site_b");
    ck_assert_uint_eq(g.items[0]->alloc_bytes, 7500);
    ck_assert_uint_eq(g.items[0]->allocs, 8);
    ck_assert_uint_eq(g.items[0]->hidden, 0); /* shim frame counted in the first stack only */
    ck_assert_uint_eq(g.items[1]->alloc_bytes, 360);
    pa_report_groups_free(&g);
    pa_symbols_free(s);
    pa_model_free(&t);
}
END_TEST

/* The first k groups of pa_report_sort_top_by_*() are those of the full sort, in its order,
 * also when most groups tie on their counters and only their keys (frames in no module, sharing
 * their inner frames, so the keys are compared past them) order them. */
START_TEST(test_sort_top)
{
    pa_trace_t t;
    st_init(&t);
    enum { N = 300 };
    for (uint32_t id = 1; id <= N; id++) {
        uint64_t a[3] = {0x5000 + id % 3, 0x6000 + id % 7, 0x7000 + id};
        st_add_stack(&t, id, 3, a);
        /* counters from a few values: ties on bytes, and on bytes and allocations */
        st_add_row(&t, id, 1 + id % 2, 100 * (id % 5), id % 3, 10 * (id % 4));
    }
    pa_symbols_t *s;
    ck_assert_int_eq(pa_symbols_new(&t, &s), PA_OK);
    for (int live = 0; live < 2; live++) {
        pa_groups_t g;
        ck_assert_int_eq(pa_report_group(&t, s, false, &g), PA_OK);
        ck_assert_uint_eq(g.n, N);
        pa_group_t **made = malloc(N * sizeof *made), **full = malloc(N * sizeof *full);
        memcpy(made, g.items, N * sizeof *made);
        live ? pa_report_sort_by_live(&g) : pa_report_sort_by_alloc(&g);
        memcpy(full, g.items, N * sizeof *full);
        static const size_t ks[] = {1, 2, 3, 7, 50, 74, 75, 76, 299, 300, 0};
        for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++) {
            memcpy(g.items, made, N * sizeof *made);
            live ? pa_report_sort_top_by_live(&g, ks[i]) : pa_report_sort_top_by_alloc(&g, ks[i]);
            size_t k = ks[i] ? ks[i] : N;
            for (size_t r = 0; r < k; r++)
                ck_assert_msg(g.items[r] == full[r], "k %zu: place %zu differs", k, r);
            /* the others are all there, once */
            uint8_t seen[N] = {0};
            for (size_t r = 0; r < N; r++)
                seen[g.items[r] - g.all]++;
            for (size_t r = 0; r < N; r++)
                ck_assert_uint_eq(seen[r], 1);
        }
        free(made);
        free(full);
        pa_report_groups_free(&g);
    }
    pa_symbols_free(s);
    pa_model_free(&t);
}
END_TEST

START_TEST(test_hidden_frames)
{
    pa_trace_t t;
    st_init(&t);
    st_add_module(&t, "/x/libperfshim.so", SHIM_BASE, SHIM_BASE, SHIM_BASE + 0x10000, NULL, 0);
    void *op_new = dlsym(RTLD_DEFAULT, "_Znam"); /* operator new[] */
    ck_assert_ptr_nonnull(op_new);
    uint64_t a = lk_site_a();
    /* shim frame, operator new[], A, then a shim frame deeper down (hidden anywhere) */
    uint64_t st[] = {SHIM_BASE + 0x10, (uint64_t)op_new + 1, a, SHIM_BASE + 0x20, a};
    st_add_stack(&t, 1, 5, st);
    st_add_row(&t, 1, 1, 8, 1, 8);
    pa_symbols_t *s;
    ck_assert_int_eq(pa_symbols_new(&t, &s), PA_OK);
    pa_groups_t g;
    ck_assert_int_eq(pa_report_group(&t, s, true, &g), PA_OK);
    ck_assert_uint_eq(g.n, 1);
    ck_assert_uint_eq(g.items[0]->nframes, 2);
    ck_assert_uint_eq(g.items[0]->hidden, 3);
    ck_assert_str_eq(group_frame(&g, g.items[0], 0)->function, "lk_site_a");
    ck_assert_str_eq(group_frame(&g, g.items[0], 1)->function, "lk_site_a");
    pa_report_groups_free(&g);
    pa_symbols_free(s);
    pa_model_free(&t);
}
END_TEST

START_TEST(test_missing_and_zero_stacks)
{
    pa_trace_t t;
    st_init(&t);
    st_add_row(&t, 0, 4, 40, 4, 40);  /* "no stack" row */
    st_add_row(&t, 99, 1, 10, 1, 10); /* stack id never defined */
    pa_symbols_t *s;
    ck_assert_int_eq(pa_symbols_new(&t, &s), PA_OK);
    pa_groups_t g;
    ck_assert_int_eq(pa_report_group(&t, s, true, &g), PA_OK);
    ck_assert_uint_eq(g.n, 2);
    pa_report_sort_by_live(&g);
    ck_assert_uint_eq(g.items[0]->nframes, 0);
    ck_assert(strstr(g.items[0]->note, "no stack"));
    ck_assert(strstr(g.items[1]->note, "not in the trace"));
    pa_report_groups_free(&g);
    pa_symbols_free(s);
    pa_model_free(&t);
}
END_TEST

/* ---- suppressions ---------------------------------------------------------------------------- */

START_TEST(test_default_patterns)
{
    pa_suppress_t sp = {0};
    ck_assert_int_eq(pa_suppress_add_defaults(&sp), PA_OK);
    const char *yes[] = {"_IO_file_doallocate",    "_IO_wfile_doallocate",
                         "__nss_database_lookup2", "_nss_files_getpwnam_r",
                         "_dl_allocate_tls",       "_dl_open",
                         "dl_open_worker_begin",   "__gconv_open",
                         "_nl_find_locale",        "tzset",
                         "tzset_internal",         "__tzfile_read",
                         "__new_exitfn",           "(anonymous namespace)::pool::pool()"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        ck_assert_msg(pa_suppress_match_text(&sp, yes[i]) >= 0, "%s not suppressed", yes[i]);
    const char *no[] = {"main",
                        "my_dl_helper",
                        "xtzset",
                        "leak_malloc",
                        "operator new(unsigned long)",
                        "std::vector<int>::push_back(int const&)"};
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        ck_assert_msg(pa_suppress_match_text(&sp, no[i]) < 0, "%s suppressed", no[i]);
    pa_suppress_free(&sp);
}
END_TEST

START_TEST(test_suppressions_file)
{
    const char *path = tu_path("supp.txt");
    FILE *f = fopen(path, "w");
    fputs("# a comment\n\n   lk_site_a  \n\t# indented comment\nfoo::bar*\r\n*+0x5000\n", f);
    fclose(f);
    pa_suppress_t sp = {0};
    ck_assert_int_eq(pa_suppress_load_file(&sp, path), PA_OK);
    ck_assert_uint_eq(sp.patterns.n, 3);
    ck_assert_str_eq(sp.patterns.items[0], "lk_site_a");
    ck_assert_str_eq(sp.patterns.items[1], "foo::bar*");
    char origin[4200];
    snprintf(origin, sizeof origin, "%s:3", path);
    ck_assert_str_eq(sp.origins.items[0], origin);
    ck_assert_int_eq(pa_suppress_match_text(&sp, "foo::bar(int)"), 1);
    ck_assert_int_lt(pa_suppress_match_text(&sp, "foo::baz"), 0);
    /* unresolved frames match as "module+0xoffset" */
    pa_frame_t fr = {.module = "/x/libz.so", .offset = 0x5000};
    ck_assert_int_eq(pa_suppress_match(&sp, &fr, 1), 2);
    /* glibc's internal alias and symbol version decorations do not defeat a pattern */
    pa_frame_t gi = {.function = "__GI_lk_site_a", .module = "/x/libc.so.6"};
    ck_assert_int_eq(pa_suppress_match(&sp, &gi, 1), 0);
    pa_frame_t ver = {.function = "lk_site_a@@GLIBC_2.2.5", .module = "/x/libc.so.6"};
    ck_assert_int_eq(pa_suppress_match(&sp, &ver, 1), 0);
    pa_frame_t other = {.function = "__GI_lk_site_b", .module = "/x/libc.so.6"};
    ck_assert_int_lt(pa_suppress_match(&sp, &other, 1), 0);
    pa_suppress_free(&sp);

    int saved = tu_stderr_silence();
    ck_assert_int_eq(pa_suppress_load_file(&sp, tu_path("missing.txt")), PA_EIO);
    tu_stderr_restore(saved);
    pa_suppress_free(&sp);
}
END_TEST

/* LeakSanitizer suppression files: `leak:` rules with LSan's semantics (substring, `*`, `^`,
 * `$`) against function, file and module; other sanitizers' rules skipped. */
START_TEST(test_lsan_suppressions)
{
    ck_assert(pa_suppress_lsan_match("FooBar", "FooBar()"));
    ck_assert(pa_suppress_lsan_match("FooBar", "ns::FooBar"));
    ck_assert(!pa_suppress_lsan_match("^FooBar", "ns::FooBar"));
    ck_assert(pa_suppress_lsan_match("^ns::Foo", "ns::FooBar"));
    ck_assert(pa_suppress_lsan_match("Bar$", "ns::FooBar"));
    ck_assert(!pa_suppress_lsan_match("Foo$", "ns::FooBar"));
    ck_assert(pa_suppress_lsan_match("^ns::*Bar$", "ns::FooBar"));
    ck_assert(pa_suppress_lsan_match("a*b*c", "xxaxxbbxxcxx"));
    ck_assert(!pa_suppress_lsan_match("a*b*c", "xxaxxcxxb"));
    ck_assert(pa_suppress_lsan_match("^a*a$", "aaa"));
    ck_assert(!pa_suppress_lsan_match("^a*a$", "aab"));
    ck_assert(pa_suppress_lsan_match("operator[]", "Vec::operator[](int)")); /* no globbing */
    ck_assert(!pa_suppress_lsan_match("x", NULL));
    ck_assert(!pa_suppress_lsan_match("x", ""));

    const char *path = tu_path("lsan.supp");
    FILE *f = fopen(path, "w");
    fputs("# LSan\nleak:lk_site_b\nrace:lk_site_a\n\nleak:libfoo.so\nleak:^/src/x/util.c$\n"
          "called_from_lib:libbar.so\nlk_glob_*\n",
          f);
    fclose(f);
    pa_suppress_t sp = {0};
    ck_assert_int_eq(pa_suppress_load_file(&sp, path), PA_OK);
    ck_assert_uint_eq(sp.patterns.n, 4);
    ck_assert_str_eq(sp.patterns.items[0], "leak:lk_site_b");
    ck_assert_str_eq(sp.patterns.items[3], "lk_glob_*");
    pa_frame_t fn = {.function = "lk_site_b", .module = "/bin/x"};
    ck_assert_int_eq(pa_suppress_match(&sp, &fn, 1), 0);
    pa_frame_t fn2 = {.function = "lk_site_a", .module = "/bin/x"};
    ck_assert_int_lt(pa_suppress_match(&sp, &fn2, 1), 0); /* race: is not a leak rule */
    pa_frame_t mod = {.function = NULL, .module = "/usr/lib/libfoo.so.1", .offset = 0x10};
    ck_assert_int_eq(pa_suppress_match(&sp, &mod, 1), 1);
    pa_frame_t file = {.function = "helper", .file = "/src/x/util.c", .module = "/bin/x"};
    ck_assert_int_eq(pa_suppress_match(&sp, &file, 1), 2);
    pa_frame_t file2 = {.function = "helper", .file = "/src/x/util.cc", .module = "/bin/x"};
    ck_assert_int_lt(pa_suppress_match(&sp, &file2, 1), 0);
    pa_frame_t glob = {.function = "lk_glob_1", .module = "/bin/x"};
    ck_assert_int_eq(pa_suppress_match(&sp, &glob, 1), 3);
    /* the second frame matches when the first does not */
    pa_frame_t two[2] = {fn2, fn};
    ck_assert_int_eq(pa_suppress_match(&sp, two, 2), 0);
    pa_suppress_free(&sp);
}
END_TEST

/* ---- the report
 * ---------------------------------------------------------------------------------- */

static char *report_all(pa_trace_t *t, const pa_suppress_t *sp, bool json, bool fail_all,
                        pa_leaks_totals_t *tot)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    pa_json_t j;
    pa_json_init(&j, f);
    pa_leaks_opts_t o = {.json = json, .supp = sp, .quiet = true, .fail_all = fail_all};
    ck_assert_int_eq(pa_leaks_report(t, &o, f, &j, tot), PA_OK);
    fclose(f);
    return buf;
}

static char *report(pa_trace_t *t, const pa_suppress_t *sp, bool json, pa_leaks_totals_t *tot)
{
    return report_all(t, sp, json, false, tot);
}

START_TEST(test_report_text_and_suppression)
{
    pa_trace_t t;
    build(&t, false);
    pa_suppress_t sp = {0};
    pa_leaks_totals_t tot;
    char *text = report(&t, &sp, false, &tot);
    ck_assert_uint_eq(tot.leaks, 3);
    ck_assert_uint_eq(tot.leaked_bytes, 820);
    ck_assert_uint_eq(tot.leaked_blocks, 6);
    ck_assert_msg(
        strstr(text, "Leak 1 of 3: 500 bytes in 1 block\n    #0 lk_site_b (check_leaks.c:"), "%s",
        text);
    ck_assert(strstr(text, "Leak 2 of 3: 160 bytes in 4 blocks (3 stacks merged)\n"
                           "    #0 lk_site_a (check_leaks.c:"));
    ck_assert(strstr(text, "Leak 3 of 3: 160 bytes in 1 block\n    #0 [unknown]+0x5000\n"));
    ck_assert(strstr(text, "SUMMARY: 820 bytes leaked in 6 blocks (3 stacks)"));
    free(text);

    ck_assert_int_eq(pa_suppress_add(&sp, "lk_site_?", "test"), PA_OK);
    text = report(&t, &sp, false, &tot);
    ck_assert_uint_eq(tot.leaks, 1);
    ck_assert_uint_eq(tot.suppressed, 2);
    ck_assert_uint_eq(tot.suppressed_bytes, 660);
    ck_assert_uint_eq(tot.suppressed_blocks, 5);
    ck_assert(strstr(text, "suppressed: 660 bytes in 5 blocks (2 stacks)"));
    /* which suppression matched how much, as LeakSanitizer prints it */
    ck_assert_msg(strstr(text, "Suppressions used:\n      blocks        bytes  pattern (from)\n"
                               "           5          660  lk_site_? (test)\n"),
                  "%s", text);
    free(text);
    pa_suppress_free(&sp);
    pa_model_free(&t);
}
END_TEST

/* A forked child's inherited blocks (INHERITED chunk): per stack, min(live, live at fork) moves
 * out of the leaks into the inherited section; a site wholly inherited is no leak. */
START_TEST(test_inherited_split)
{
    pa_trace_t t;
    build(&t, false);
    t.inherited = calloc(2, sizeof *t.inherited);
    ck_assert_ptr_nonnull(t.inherited);
    t.ninherited = 2;
    t.has_inherited = true;
    t.inherited_head.parent_pid = 77;
    t.inherited_head.fork_ns = 1500000000;
    t.inherited[0] = (pa_inherited_t){.stack_id = 1, .blocks = 5, .bytes = 1000}; /* > live */
    t.inherited[1] = (pa_inherited_t){.stack_id = 3, .blocks = 1, .bytes = 500};
    pa_suppress_t sp = {0};
    pa_leaks_totals_t tot;
    char *text = report(&t, &sp, false, &tot);
    ck_assert_msg(tot.leaks == 2, "%s", text);
    ck_assert_uint_eq(tot.leaked_blocks, 4);
    ck_assert_uint_eq(tot.leaked_bytes, 220);
    ck_assert_uint_eq(tot.inherited, 2);
    ck_assert_uint_eq(tot.inherited_blocks, 2);
    ck_assert_uint_eq(tot.inherited_bytes, 600);
    ck_assert_msg(strstr(text, "Leak 1 of 2: 160 bytes in 1 block\n"), "%s", text);
    ck_assert(strstr(text, "Leak 2 of 2: 60 bytes in 3 blocks (3 stacks merged)\n"
                           "    #0 lk_site_a (check_leaks.c:"));
    ck_assert(strstr(text, "Inherited from the parent (pid 77, forked 1.500 s after start): "
                           "600 bytes in 2 blocks (2 stacks)"));
    ck_assert(strstr(text, "Inherited 2 of 2: 500 bytes in 1 block\n    #0 lk_site_b ("));
    ck_assert(!strstr(text, "Leak 3"));
    free(text);
    char *js = report(&t, &sp, true, &tot);
    ck_assert_msg(strstr(js, "\"inherited_from\": {\"parent_pid\": 77, \"fork_ns\": 1500000000, "
                             "\"blocks\": 2, \"bytes\": 600}"),
                  "%s", js);
    ck_assert(strstr(js, "\"inherited\": true,\n      \"blocks\": 1,\n      \"bytes\": 500,"));
    free(js);
    pa_suppress_free(&sp);
    pa_model_free(&t);
}
END_TEST

START_TEST(test_report_json)
{
    pa_trace_t t;
    build(&t, false);
    pa_suppress_t sp = {0};
    ck_assert_int_eq(pa_suppress_add(&sp, "lk_site_b", "test"), PA_OK);
    pa_leaks_totals_t tot;
    char *js = report(&t, &sp, true, &tot);
    ck_assert_msg(strstr(js, "\"format\": \"perfshim-leaks\",\n  \"version\": 1,"), "%s", js);
    ck_assert(strstr(js, "\"leaked_blocks\": 5,\n    \"leaked_bytes\": 320,\n"
                         "    \"suppressed_blocks\": 1,\n    \"suppressed_bytes\": 500"));
    ck_assert(strstr(js, "\"blocks\": 4,\n      \"bytes\": 160,"));
    ck_assert(strstr(js, "{\"function\": \"lk_site_a\", \"file\": \""));
    ck_assert(strstr(js, "{\"function\": null, \"file\": null, \"line\": null, \"module\": "
                         "\"[unknown]\", \"address\": \"0x5000\", \"offset\": \"0x5000\", "
                         "\"inlined\": false, \"library\": false}"));
    ck_assert(strstr(js, "\"suppressed_by\": \"lk_site_b\""));
    ck_assert_msg(strstr(js,
                         "\"suppressions_used\": [\n    {\"pattern\": \"lk_site_b\", \"origin\": "
                         "\"test\", \"blocks\": 1, \"bytes\": 500, \"stacks\": 1}\n  ]"),
                  "%s", js);
    ck_assert(strstr(js, "\"complete\": true"));
    /* the 160-byte, 4-block leak comes before the 160-byte, 1-block one */
    ck_assert(strstr(js, "\"blocks\": 4,") < strstr(js, "\"blocks\": 1,"));
    free(js);
    pa_suppress_free(&sp);
    pa_model_free(&t);
}
END_TEST

/* Leak classes (a LEAK_KINDS chunk): each group split by class, definitely lost first; blocks
 * no row covers are "unscanned"; --fail-on-leak fails on lost blocks, =all on any; a chunk of
 * another snapshot is ignored. */
static void set_kinds(pa_trace_t *t, const ps_row_leak_kind_t *rows, size_t n)
{
    free(t->leak_rows);
    t->leak_rows = calloc(n, sizeof *rows);
    memcpy(t->leak_rows, rows, n * sizeof *rows);
    t->nleak_rows = n;
    t->has_leak_kinds = true;
    t->leak_head.time_ns = t->snap.time_ns;
}

START_TEST(test_report_kinds)
{
    pa_trace_t t;
    build(&t, false);
    /* stacks 1, 2, 4 group as lk_site_a (1 + 2 + 1 blocks); 3 is lk_site_b; 6 has no row */
    const ps_row_leak_kind_t rows[] = {{1, PS_LEAK_DEFINITELY, 1, 100},
                                       {2, PS_LEAK_INDIRECTLY, 2, 50},
                                       {4, PS_LEAK_REACHABLE, 1, 10},
                                       {3, PS_LEAK_POSSIBLY, 1, 500}};
    set_kinds(&t, rows, 4);
    pa_suppress_t sp = {0};
    pa_leaks_totals_t tot;
    char *text = report(&t, &sp, false, &tot);
    ck_assert(tot.kinds && tot.failing);
    ck_assert_uint_eq(tot.leaks, 5);
    ck_assert_uint_eq(tot.leaked_blocks, 6);
    ck_assert_uint_eq(tot.kind_blocks[PS_LEAK_INDIRECTLY], 2);
    ck_assert_uint_eq(tot.kind_bytes[0], 160);
    ck_assert_msg(strstr(text, "Leak 1 of 5: 100 bytes in 1 block, definitely lost (3 stacks "
                               "merged)\n    #0 lk_site_a"),
                  "%s", text);
    ck_assert(strstr(text, "Leak 2 of 5: 50 bytes in 2 blocks, indirectly lost"));
    ck_assert(strstr(text, "Leak 3 of 5: 500 bytes in 1 block, possibly lost\n    #0 lk_site_b"));
    ck_assert(strstr(text, "Leak 4 of 5: 10 bytes in 1 block, still reachable"));
    ck_assert(strstr(text, "Leak 5 of 5: 160 bytes in 1 block, not scanned"));
    ck_assert(strstr(text, "  definitely lost: 100 bytes in 1 block\n"
                           "  indirectly lost: 50 bytes in 2 blocks\n"
                           "  possibly lost: 500 bytes in 1 block\n"
                           "  still reachable: 10 bytes in 1 block\n"
                           "  not scanned: 160 bytes in 1 block\n"));
    free(text);
    char *js = report(&t, &sp, true, &tot);
    ck_assert_msg(
        strstr(js, "\"kind\": \"definitely\",\n      \"blocks\": 1,\n      \"bytes\": 100,"), "%s",
        js);
    ck_assert(strstr(js, "\"kinds\": {\"definitely\": {\"blocks\": 1, \"bytes\": 100}") ||
              strstr(js, "\"definitely\": {\n"));
    ck_assert(strstr(js, "\"kind\": \"unscanned\""));
    ck_assert(strstr(js, "\"leak_scan\": {"));
    free(js);

    /* only reachable blocks: --fail-on-leak passes, =all fails */
    const ps_row_leak_kind_t reach[] = {{1, PS_LEAK_REACHABLE, 1, 100},
                                        {2, PS_LEAK_REACHABLE, 2, 50},
                                        {4, PS_LEAK_REACHABLE, 1, 10},
                                        {3, PS_LEAK_REACHABLE, 1, 500},
                                        {6, PS_LEAK_REACHABLE, 1, 160}};
    set_kinds(&t, reach, 5);
    free(report(&t, &sp, false, &tot));
    ck_assert(tot.kinds && !tot.failing);
    ck_assert_uint_eq(tot.leaks, 3);
    free(report_all(&t, &sp, false, true, &tot));
    ck_assert(tot.failing);

    /* the chunk of another snapshot: today's report */
    t.leak_head.time_ns = t.snap.time_ns + 1;
    js = report(&t, &sp, true, &tot);
    ck_assert(!tot.kinds && tot.failing);
    ck_assert(strstr(js, "\"kinds\": null") && strstr(js, "\"leak_scan\": null"));
    ck_assert(!strstr(js, "\"kind\":"));
    free(js);
    pa_model_free(&t);
}
END_TEST

static char *frames_text(const pa_frame_t *f, size_t n, bool all)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(out);
    pa_report_frames_text_n(out, NULL, f, n, "  ", all);
    fclose(out);
    return buf;
}

START_TEST(test_library_frames_fold)
{
    const char *hdr = "/usr/include/c++/12/bits/stl_vector.h", *so = "/lib/libstdc++.so.6";
    pa_frame_t f[] = {
        {.function = "std::__new_allocator<long>::allocate(unsigned long, void const*)",
         .file = hdr,
         .line = 137,
         .module = "/bin/app",
         .inlined = true,
         .library = true},
        {.function = "std::vector<long, std::allocator<long> >::vector()",
         .file = hdr,
         .line = 566,
         .module = "/bin/app",
         .inlined = true,
         .library = true},
        {.function = "make_vector()", .file = "/src/app.cpp", .line = 7, .module = "/bin/app"},
        {.function = "std::string::_M_mutate()", .module = so, .offset = 0x10, .library = true},
        {.function = "main", .file = "/src/app.cpp", .line = 20, .module = "/bin/app"},
        {.function = "std::a()", .module = so, .offset = 0x20, .library = true},
        {.function = "std::b()", .file = hdr, .line = 1, .module = "/bin/app", .library = true},
    };
    char *t = frames_text(f, 7, false);
    ck_assert_str_eq(t, "  #0 std::vector<long, std::allocator<long> >::vector() [2 inlined "
                        "library frames]\n"
                        "  #1 make_vector() (app.cpp:7)\n"
                        "  #2 std::string::_M_mutate() (libstdc++.so.6+0x10)\n"
                        "  #3 main (app.cpp:20)\n"
                        "  #4 std::b() [2 library frames]\n");
    free(t);
    t = frames_text(f, 7, true);
    ck_assert(strstr(t, "  #0 std::__new_allocator<long>::allocate(unsigned long, void const*) "
                        "(stl_vector.h:137) [inlined]\n"));
    ck_assert(strstr(t, "  #6 std::b() (stl_vector.h:1)\n"));
    ck_assert(!strstr(t, "library frames"));
    free(t);
}
END_TEST

/* Rows are grouped by their keys' hashes, and keys whose hashes meet are told apart by their
 * pieces (read on the frame tree): with the hashes cut to a few bits (4: 16 values for 3001
 * keys; 10), the groups are the same as with all 32, and so are their frame counts, a key of
 * 1000 pieces included. Stacks share their outer frames (in no module: one piece an address),
 * and stack id + N is another frame node on the same line as stack id: its rows join groups
 * made by other frame nodes. */
static void hashed_groups(pa_trace_t *t, pa_symbols_t *s, bool live, unsigned bits, size_t n,
                          uint64_t *bytes, uint32_t *nframes)
{
    pa_report_test_hash_bits(bits);
    pa_groups_t g;
    ck_assert_int_eq(pa_report_group(t, s, live, &g), PA_OK);
    pa_report_test_hash_bits(0);
    ck_assert_uint_eq(g.n, n);
    pa_report_sort_by_alloc(&g);
    for (size_t i = 0; i < n; i++) {
        bytes[i] = g.items[i]->alloc_bytes;
        nframes[i] = g.items[i]->nframes;
    }
    pa_report_groups_free(&g);
}

START_TEST(test_group_hash_collisions)
{
    pa_trace_t t;
    st_init(&t);
    enum { N = 3000, DEEP = 1000 };
    uint64_t site = lk_site_a();
    for (uint32_t id = 1; id <= 2 * N; id++) {
        /* innermost first: 3000 leaves under lk_site_a under 3 callers; stack id + N is stack
         * id through site - 1, another frame node on the same line: its row joins the group
         * of stack id's */
        uint64_t a[3] = {0x100000 + (id - 1) % N, site - (id > N), 0x400000 + id % 3};
        st_add_stack(&t, id, 3, a);
        st_add_row(&t, id, 1, (id - 1) % N + 1, 1, 1);
    }
    uint64_t *deep = malloc(DEEP * sizeof *deep);
    for (uint32_t i = 0; i < DEEP; i++)
        deep[i] = 0x1000000 + i;
    st_add_stack(&t, 2 * N + 1, DEEP, deep);
    st_add_row(&t, 2 * N + 1, 1, 1000000, 1, 1000000);
    free(deep);
    pa_symbols_t *s;
    ck_assert_int_eq(pa_symbols_new(&t, &s), PA_OK);
    static uint64_t bytes[4][N + 1];
    static uint32_t nframes[4][N + 1];
    for (int live = 0; live < 2; live++) {
        hashed_groups(&t, s, live, 0, N + 1, bytes[0], nframes[0]);
        hashed_groups(&t, s, live, 4, N + 1, bytes[1], nframes[1]);
        hashed_groups(&t, s, live, 10, N + 1, bytes[2], nframes[2]);
        hashed_groups(&t, s, live, 1, N + 1, bytes[3], nframes[3]); /* 2 values */
        ck_assert_uint_eq(bytes[0][0], 1000000);
        ck_assert_uint_eq(nframes[0][0], DEEP);
        for (size_t i = 1; i <= N; i++) {
            ck_assert_uint_eq(bytes[0][i], 2 * (N + 1 - i));
            ck_assert_uint_eq(nframes[0][i], 3);
        }
        for (int k = 1; k < 4; k++) {
            ck_assert_mem_eq(bytes[k], bytes[0], sizeof bytes[0]);
            ck_assert_mem_eq(nframes[k], nframes[0], sizeof nframes[0]);
        }
    }
    pa_symbols_free(s);
    pa_model_free(&t);
}
END_TEST

/* A cut (the shim's walk stopped short) puts KEY_CUT at the end of a key wherever it stands in
 * the stack: [a, CUT, b, c] and [a, b, c, CUT] are one group (the cut flag of the frame nodes'
 * walk, not their hash: with 1-bit hashes as well), apart from [a, b, c] and [a, b, CUT]. */
START_TEST(test_group_cut_anywhere)
{
    pa_trace_t t;
    st_init(&t);
    const uint64_t a = 0x100000, b = 0x200000, c = 0x300000, x = PS_FRAME_CUT;
    const uint64_t s1[] = {a, b, c}, s2[] = {a, x, b, c}, s3[] = {a, b, x}, s4[] = {a, b, c, x};
    st_add_stack(&t, 1, 3, s1);
    st_add_stack(&t, 2, 4, s2);
    st_add_stack(&t, 3, 3, s3);
    st_add_stack(&t, 4, 4, s4);
    for (uint32_t id = 1; id <= 4; id++)
        st_add_row(&t, id, 1, 100 * id, 1, 100 * id);
    pa_symbols_t *sy;
    ck_assert_int_eq(pa_symbols_new(&t, &sy), PA_OK);
    for (unsigned bits = 0; bits <= 1; bits++) {
        pa_report_test_hash_bits(bits);
        pa_groups_t g;
        ck_assert_int_eq(pa_report_group(&t, sy, false, &g), PA_OK);
        pa_report_test_hash_bits(0);
        ck_assert_uint_eq(g.n, 3);
        pa_report_sort_by_alloc(&g);
        ck_assert_uint_eq(g.items[0]->alloc_bytes, 600); /* stacks 2 and 4 */
        ck_assert_uint_eq(g.items[0]->stacks, 2);
        ck_assert_uint_eq(g.items[0]->nframes, 3);
        ck_assert_ptr_nonnull(g.items[0]->note);
        ck_assert_uint_eq(g.items[1]->alloc_bytes, 300);
        ck_assert_uint_eq(g.items[1]->nframes, 2);
        ck_assert_ptr_nonnull(g.items[1]->note);
        ck_assert_uint_eq(g.items[2]->alloc_bytes, 100);
        ck_assert_ptr_null(g.items[2]->note);
        pa_report_groups_free(&g);
    }
    pa_symbols_free(sy);
    pa_model_free(&t);
}
END_TEST

/* A suppression pattern past the 253rd (the memo of matches keeps an answer a byte a frame node)
 * is still the one a site reports, when the site walks to the node that matched and when it
 * meets that node's answer in the memo. */
START_TEST(test_suppress_many_patterns)
{
    const char *path = tu_path("many.supp");
    FILE *f = fopen(path, "w");
    for (int i = 0; i < 300; i++)
        fprintf(f, "%s\n", i == 280 ? "lk_site_b" : i == 3 ? "lk_site_a" : "no_such_function_*");
    fclose(f);
    pa_suppress_t sp = {0};
    ck_assert_int_eq(pa_suppress_load_file(&sp, path), PA_OK);
    ck_assert_uint_eq(sp.patterns.n, 300);
    pa_trace_t t;
    st_init(&t);
    uint64_t a = lk_site_a(), b = lk_site_b();
    for (uint32_t id = 1; id <= 20; id++) { /* 10 leaves under each site */
        uint64_t st[2] = {0x100000 + id, id % 2 ? a : b};
        st_add_stack(&t, id, 2, st);
        st_add_row(&t, id, 1, id, 1, id);
    }
    pa_symbols_t *s;
    ck_assert_int_eq(pa_symbols_new(&t, &s), PA_OK);
    pa_groups_t g;
    ck_assert_int_eq(pa_report_group(&t, s, false, &g), PA_OK);
    ck_assert_uint_eq(g.n, 20);
    ck_assert_int_eq(pa_report_group_suppress(&g, &sp), PA_OK);
    for (size_t i = 0; i < g.n; i++)
        ck_assert_int_eq(g.all[i].suppressed_by, (g.all[i].first_stack_id % 2 ? 3 : 280));
    pa_report_groups_free(&g);
    pa_symbols_free(s);
    pa_model_free(&t);
    pa_suppress_free(&sp);
}
END_TEST

int main(void)
{
    tu_setup("check_analyzer_leaks");
    Suite *s = suite_create("analyzer_leaks");
    TCase *tc = tcase_create("leaks");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_grouping_and_sorting);
    tcase_add_test(tc, test_hidden_frames);
    tcase_add_test(tc, test_sort_top);
    tcase_add_test(tc, test_group_hash_collisions);
    tcase_add_test(tc, test_group_cut_anywhere);
    tcase_add_test(tc, test_suppress_many_patterns);
    tcase_add_test(tc, test_missing_and_zero_stacks);
    tcase_add_test(tc, test_default_patterns);
    tcase_add_test(tc, test_suppressions_file);
    tcase_add_test(tc, test_lsan_suppressions);
    tcase_add_test(tc, test_report_text_and_suppression);
    tcase_add_test(tc, test_report_json);
    tcase_add_test(tc, test_report_kinds);
    tcase_add_test(tc, test_inherited_split);
    tcase_add_test(tc, test_library_frames_fold);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    tu_teardown();
    return failed ? 1 : 0;
}
