/* SPDX-License-Identifier: MIT */
/*
 * check_internals.c — unit tests of the shim's internals, linked with the perfshim_core
 * object library (the constructor in init.c has initialized ps_g from the environment ctest
 * sets): message formatting, output templates, CRC-32, options, stack interning, the
 * live-block table and counters (single- and multi-threaded), the chunk framing of a
 * written trace, and libunwind loaded on demand without descriptors (unw_loader.c).
 */
#include "internal.h"

#include "include/trace_format.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <dlfcn.h>
#include <link.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

START_TEST(test_format)
{
    char b[128];
    ps_msg_snprintf(b, sizeof b, "%d|%u|%s|%zu|%llx|%%|%ld", -42, 42u, "x", (size_t)7, 0xabcULL,
                    -9000000000L);
    ck_assert_str_eq(b, "-42|42|x|7|abc|%|-9000000000");
    ps_msg_snprintf(b, sizeof b, "%d", (int)-2147483647 - 1);
    ck_assert_str_eq(b, "-2147483648");
    ps_msg_snprintf(b, 5, "%s", "truncated");
    ck_assert_str_eq(b, "trun");
    const char *volatile null_str = NULL; /* hidden from -Wformat-overflow */
    ps_msg_snprintf(b, sizeof b, "%s", null_str);
    ck_assert_str_eq(b, "(null)");
}
END_TEST

START_TEST(test_expand)
{
    char out[256];
    ck_assert_int_eq(
        ps_writer_expand("t.%e.%p.%t.%%", "/tmp/dir", "/usr/bin/prog", 123, 99, out, sizeof out),
        0);
    ck_assert_str_eq(out, "/tmp/dir/t.prog.123.99.%");
    ck_assert_int_eq(ps_writer_expand("/abs/%p", "/ignored", "x", 5, 0, out, sizeof out), 0);
    ck_assert_str_eq(out, "/abs/5");
    ck_assert_int_eq(ps_writer_expand("%q", "/d/", "x", 5, 0, out, sizeof out), 0);
    ck_assert_str_eq(out, "/d/%q"); /* unknown escapes stay literal */
    ck_assert_int_eq(ps_writer_expand("a-very-long-name", "/d", "x", 5, 0, out, 8), -1);
    ck_assert_int_eq(ps_writer_expand("", "/d", "x", 5, 0, out, sizeof out), -1);
}
END_TEST

START_TEST(test_crc_matches_zlib)
{
    unsigned char data[4096];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (unsigned char)(i * 7 + (i >> 3));
    for (size_t n = 0; n < sizeof data; n = n * 2 + 1)
        ck_assert_uint_eq(ps_crc32(0, data, n), (uint32_t)crc32(0, data, (uInt)n));
    for (size_t off = 1; off < 9; off++) /* unaligned starts, every tail length */
        for (size_t n = 0; n < 40; n++)
            ck_assert_uint_eq(ps_crc32(0, data + off, n), (uint32_t)crc32(0, data + off, (uInt)n));
    /* incremental == whole */
    uint32_t c = ps_crc32(0, data, 100);
    c = ps_crc32(c, data + 100, 900);
    ck_assert_uint_eq(c, (uint32_t)crc32(0, data, 1000));
}
END_TEST

START_TEST(test_options)
{
    ps_options_t o;
    setenv("PERFSHIM_DEPTH", "12", 1);
    setenv("PERFSHIM_MODE", "off", 1);
    ps_options_load(&o);
    ck_assert_int_eq(o.depth, 12);
    ck_assert_int_eq(o.mode, PS_MODE_OFF);
    setenv("PERFSHIM_DEPTH", "12abc", 1); /* bad: warns, keeps the default */
    setenv("PERFSHIM_MODE", "bogus", 1);
    ps_options_load(&o);
    ck_assert_int_eq(o.depth, 64);
    ck_assert_int_eq(o.mode, PS_MODE_FULL);
    setenv("PERFSHIM_DEPTH", "0", 1); /* out of range */
    ps_options_load(&o);
    ck_assert_int_eq(o.depth, 64);
    unsetenv("PERFSHIM_DEPTH");
    unsetenv("PERFSHIM_MODE");
    char desc[2048];
    ps_options_describe(&o, desc, sizeof desc);
    ck_assert_ptr_nonnull(strstr(desc, "PERFSHIM_DEPTH=64\n"));
    ck_assert_ptr_nonnull(strstr(desc, "PERFSHIM_MODE=full\n"));
}
END_TEST

/* Unknown PERFSHIM_* names: the distance, the suggestion and the warnings. */
START_TEST(test_option_distance)
{
    ck_assert_int_eq(ps_options_distance("DEPTH", 5, "DEPTH", 2), 0);
    ck_assert_int_eq(ps_options_distance("depth", 5, "DEPTH", 2), 0); /* case-blind */
    ck_assert_int_eq(ps_options_distance("DEPHT", 5, "DEPTH", 2), 1); /* one transposition */
    ck_assert_int_eq(ps_options_distance("DPTH", 4, "DEPTH", 2), 1);
    ck_assert_int_eq(ps_options_distance("DEPTHS", 6, "DEPTH", 2), 1);
    ck_assert_int_eq(ps_options_distance("KITTEN", 6, "SITTING", 5), 3);
    ck_assert_int_eq(ps_options_distance("CA", 2, "ABC", 5), 3); /* optimal string alignment */
    ck_assert_int_eq(ps_options_distance("DEPTH=8", 5, "DEPTH", 0), 0); /* only alen bytes */
    /* above the limit: limit + 1, whatever the true distance */
    ck_assert_int_eq(ps_options_distance("ZZZZQQQ", 7, "LOCKS", 2), 3);
    ck_assert_int_eq(ps_options_distance("KITTEN", 6, "SITTING", 2), 3);
    ck_assert_int_eq(ps_options_distance("A_VERY_LONG_NAME_INDEED", 23, "MODE", 2), 3);
}
END_TEST

START_TEST(test_option_suggest)
{
    static const struct {
        const char *name, *want;
    } cases[] = {
        {"PERFSHIM_DEPHT", "PERFSHIM_DEPTH"},
        {"PERFSHIM_depth", "PERFSHIM_DEPTH"},
        {"PERFSHIM_LOCK", "PERFSHIM_LOCKS"},
        {"PERFSHIM_LOCKSAMPLE", "PERFSHIM_LOCK_SAMPLE"},
        {"PERFSHIM_POOLMAX", "PERFSHIM_POOL_MAX"},
        {"PERFSHIM_OTUPTU", "PERFSHIM_OUTPUT"},
        {"PERFSHIM_MAX_STACK", "PERFSHIM_MAX_STACKS"},
        {"PERFSHIM_LIBB", "PERFSHIM_LIB"}, /* the allow-list is suggested too */
        {"PERFSHIM_ZZZZQQQ", NULL},        /* nothing close */
        {"PERFSHIM_OUT", NULL},            /* 3 edits from OUTPUT, more than a third of 3 */
        {"PERFSHIM_X", NULL},
        {"PERFSHIM_", NULL},
        {"DEPTH", NULL}, /* not a PERFSHIM_ name at all */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *got = ps_options_suggest(cases[i].name, strlen(cases[i].name));
        if (!cases[i].want)
            ck_assert_msg(got == NULL, "%s: suggested %s", cases[i].name, got);
        else
            ck_assert_msg(got && strcmp(got, cases[i].want) == 0, "%s: suggested %s, want %s",
                          cases[i].name, got ? got : "nothing", cases[i].want);
    }
    /* the length bounds the name: "=value" is not part of it */
    ck_assert_str_eq(ps_options_suggest("PERFSHIM_DEPHT=8", 14), "PERFSHIM_DEPTH");
}
END_TEST

/* Runs ps_options_check_names(env) with stderr captured into out; returns its result. */
static int check_names_captured(char *const *env, char *out, size_t size)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    int saved = dup(2);
    ck_assert_int_ge(saved, 0);
    dup2(fds[1], 2);
    close(fds[1]);
    ps_msg_init(); /* the shim writes only to the stderr it knows (message.c): this pipe now */
    int n = ps_options_check_names(env);
    dup2(saved, 2);
    close(saved);
    ps_msg_init();
    ssize_t got = read(fds[0], out, size - 1);
    out[got > 0 ? got : 0] = 0;
    close(fds[0]);
    return n;
}

START_TEST(test_option_unknown_names)
{
    char out[4096];
    char *good[] = {"PATH=/bin",
                    "PERFSHIM_DEPTH=8",
                    "PERFSHIM_MODE=full",
                    "PERFSHIM_LIB=/x.so",
                    "PERFSHIM_FAULT_MAP=0",
                    "perfshim_depht=1",
                    "XPERFSHIM_DEPHT=1",
                    NULL};
    ck_assert_int_eq(check_names_captured(good, out, sizeof out), 0);
    ck_assert_str_eq(out, "");

    int kept = ps_msg_pending();
    char *bad[] = {"PERFSHIM_DEPTH=8",   "PERFSHIM_DEPHT=8", "HOME=/", "PERFSHIM_DEPHT=9",
                   "PERFSHIM_ZZZZQQQ=1", "PERFSHIM_NOVALUE", NULL};
    ck_assert_int_eq(check_names_captured(bad, out, sizeof out), 3); /* DEPHT warned once */
    ck_assert_str_eq(out, "perfshim: warning: PERFSHIM_DEPHT is not a perfshim option (did you "
                          "mean PERFSHIM_DEPTH?); it is ignored\n"
                          "perfshim: warning: PERFSHIM_ZZZZQQQ is not a perfshim option; it is "
                          "ignored\n"
                          "perfshim: warning: PERFSHIM_NOVALUE is not a perfshim option; it is "
                          "ignored\n");
    ck_assert_int_eq(ps_msg_pending(), kept + 3); /* and they are in the trace's messages */

    /* many: 8 lines, then one that counts the rest; 4 kept for the trace */
    char names[11][32];
    char *many[12];
    for (int i = 0; i < 11; i++) {
        snprintf(names[i], sizeof names[i], "PERFSHIM_Q%dQQQQQ=1", i);
        many[i] = names[i];
    }
    many[11] = NULL;
    while (ps_msg_pending() > 0) {
        char drop[256];
        ps_msg_take(drop, sizeof drop);
    }
    ck_assert_int_eq(check_names_captured(many, out, sizeof out), 11);
    int lines = 0;
    for (const char *p = out; (p = strchr(p, '\n')) != NULL; p++)
        lines++;
    ck_assert_int_eq(lines, 9);
    ck_assert_ptr_nonnull(strstr(out, "PERFSHIM_Q7QQQQQ is not"));
    ck_assert_ptr_null(strstr(out, "PERFSHIM_Q8QQQQQ"));
    ck_assert_ptr_nonnull(strstr(out, "perfshim: warning: and 3 more unknown PERFSHIM_* name(s)"));
    ck_assert_int_eq(ps_msg_pending(), 4);

    /* a name with control characters or of any length is quoted, never echoed raw */
    char longname[200] = "PERFSHIM_\033[31m";
    memset(longname + strlen(longname), 'A', 150);
    char *odd[] = {longname, NULL};
    ck_assert_int_eq(check_names_captured(odd, out, sizeof out), 1);
    ck_assert_ptr_null(strchr(out, '\033'));
    ck_assert_ptr_nonnull(strstr(out, "PERFSHIM_?[31mAAA"));
    ck_assert_ptr_nonnull(strstr(out, "AAA... is not a perfshim option; it is ignored\n"));
}
END_TEST

/* PERFSHIM_INTERVAL's syntax: a number and one unit, 0 alone, within bounds; anything else is
 * refused and leaves the value alone. */
START_TEST(test_parse_duration)
{
    static const struct {
        const char *s;
        uint64_t ms;
    } good[] = {
        {"0", 0},        {"10ms", 10}, {"250ms", 250}, {"10s", 10000},      {"2m", 120000},
        {"1h", 3600000}, {"0s", 0},    {"0ms", 0},     {"168h", 604800000}, {"0010s", 10000}};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        uint64_t ms = 12345;
        ck_assert_msg(ps_options_parse_duration(good[i].s, &ms) == 0, "'%s' refused", good[i].s);
        ck_assert_msg(ms == good[i].ms, "'%s' = %llu ms", good[i].s, (unsigned long long)ms);
    }
    static const char *const bad[] = {"",
                                      "250",
                                      "1",
                                      "-1s",
                                      "+1s",
                                      " 1s",
                                      "1s ",
                                      "1.5s",
                                      "1e3ms",
                                      "10q",
                                      "s",
                                      "ms",
                                      "1S",
                                      "1MS",
                                      "9ms",
                                      "1d",
                                      "169h",
                                      "1sec",
                                      "0x10ms",
                                      "10 ms",
                                      "99999999999999999999ms",
                                      "18446744073709551617ms"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t ms = 777;
        ck_assert_msg(ps_options_parse_duration(bad[i], &ms) == -1, "'%s' accepted", bad[i]);
        ck_assert_uint_eq(ms, 777);
    }
    ck_assert_int_eq(ps_options_parse_duration(NULL, &(uint64_t){0}), -1);

    /* through the environment: a good value is kept and shown; a bad one warns, stays off */
    ps_options_t o;
    char desc[2048];
    setenv("PERFSHIM_INTERVAL", "250ms", 1);
    ps_options_load(&o);
    ck_assert_uint_eq(o.interval_ms, 250);
    ps_options_describe(&o, desc, sizeof desc);
    ck_assert_ptr_nonnull(strstr(desc, "PERFSHIM_INTERVAL=250ms\n"));
    setenv("PERFSHIM_INTERVAL", "250", 1);
    ps_options_load(&o);
    ck_assert_uint_eq(o.interval_ms, 0);
    ps_options_describe(&o, desc, sizeof desc);
    ck_assert_ptr_nonnull(strstr(desc, "PERFSHIM_INTERVAL=0\n"));
    unsetenv("PERFSHIM_INTERVAL");
    ps_options_load(&o);
    ck_assert_uint_eq(o.interval_ms, 0);
}
END_TEST

/* A document of the source tree, whole and NUL-terminated, into buf. */
static void read_doc(const char *rel, char *buf, size_t size)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", PERFSHIM_SOURCE_DIR, rel);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "%s missing", rel);
    size_t n = fread(buf, 1, size - 1, f);
    buf[n] = 0;
    fclose(f);
    ck_assert_msg(n < size - 1, "%s is larger than the test's buffer", rel);
}

/* PS_OPT_SIZE's syntax: bytes, or one binary unit (optionally B or iB); PS_OPT_PCT's: 0 or N%
 * within bounds. Anything else is refused and leaves the value alone. */
START_TEST(test_parse_size_percent)
{
    static const struct {
        const char *s;
        uint64_t bytes;
    } good[] = {{"0", 0},
                {"4096", 4096},
                {"512M", 512ull << 20},
                {"512m", 512ull << 20},
                {"64k", 64ull << 10},
                {"64K", 64ull << 10},
                {"1G", 1ull << 30},
                {"1GiB", 1ull << 30},
                {"1GB", 1ull << 30},
                {"2T", 2ull << 40},
                {"100B", 100},
                {"1048576T", 1ull << 60},
                {"0M", 0}};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        uint64_t b = 12345;
        ck_assert_msg(ps_options_parse_size(good[i].s, &b) == 0, "'%s' refused", good[i].s);
        ck_assert_msg(b == good[i].bytes, "'%s' = %llu", good[i].s, (unsigned long long)b);
    }
    static const char *const bad[] = {
        "",     "M",  "-1",  "+1",    " 1M",  "1M ",  "1.5G",     "1e9",
        "10 M", "1P", "1Mi", "1MiBB", "1KB2", "0x10", "1048577T", "99999999999999999999",
        "1iB",  "1b"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t b = 777;
        ck_assert_msg(ps_options_parse_size(bad[i], &b) == -1, "'%s' accepted", bad[i]);
        ck_assert_uint_eq(b, 777);
    }
    int pct = 5;
    ck_assert_int_eq(ps_options_parse_percent("90%", 1, 100, &pct), 0);
    ck_assert_int_eq(pct, 90);
    ck_assert_int_eq(ps_options_parse_percent("0", 1, 100, &pct), 0);
    ck_assert_int_eq(pct, 0);
    ck_assert_int_eq(ps_options_parse_percent("100%", 1, 100, &pct), 0);
    ck_assert_int_eq(pct, 100);
    static const char *const badp[] = {"90", "101%", "0%", "-5%", "9.5%", "%", "", "90 %", "90%%"};
    for (size_t i = 0; i < sizeof badp / sizeof badp[0]; i++) {
        pct = 7;
        ck_assert_msg(ps_options_parse_percent(badp[i], 1, 100, &pct) == -1, "'%s' accepted",
                      badp[i]);
        ck_assert_int_eq(pct, 7);
    }

    /* through the environment, shown in the trace's option dump */
    ps_options_t o;
    char desc[4096];
    setenv("PERFSHIM_ALERT_RSS", "512M", 1);
    setenv("PERFSHIM_ALERT_CGROUP", "90%", 1);
    ps_options_load(&o);
    ck_assert_uint_eq(o.alert_rss, 512ull << 20);
    ck_assert_int_eq(o.alert_cgroup, 90);
    ck_assert_int_eq(o.dump_at_max_step, 10); /* its default, "10%" */
    ps_options_describe(&o, desc, sizeof desc);
    ck_assert_ptr_nonnull(strstr(desc, "PERFSHIM_ALERT_RSS=536870912\n"));
    ck_assert_ptr_nonnull(strstr(desc, "PERFSHIM_ALERT_CGROUP=90%\n"));
    ck_assert_ptr_nonnull(strstr(desc, "PERFSHIM_ALERT_GROWTH=0\n"));
    setenv("PERFSHIM_ALERT_RSS", "1.5G", 1);
    setenv("PERFSHIM_ALERT_CGROUP", "90", 1);
    ps_options_load(&o);
    ck_assert_uint_eq(o.alert_rss, 0);
    ck_assert_int_eq(o.alert_cgroup, 0);
    unsetenv("PERFSHIM_ALERT_RSS");
    unsetenv("PERFSHIM_ALERT_CGROUP");
}
END_TEST

/* Every option of options.def is documented in docs/options.md with its default. */
START_TEST(test_options_documented)
{
    static char doc[65536];
    read_doc("docs/options.md", doc, sizeof doc);
    char want[256];
#define PS_OPT_INT(field, NAME, def, lo, hi, help)                                                 \
    snprintf(want, sizeof want, "`%s`", #NAME);                                                    \
    ck_assert_msg(strstr(doc, want), "%s not documented", #NAME);                                  \
    snprintf(want, sizeof want, "`%s` | %d", #NAME, def);                                          \
    ck_assert_msg(strstr(doc, want), "%s: default %d not in docs/options.md", #NAME, def);
#define PS_OPT_STR(field, NAME, def, help)                                                         \
    snprintf(want, sizeof want, "`%s` | `%s`", #NAME, def);                                        \
    if (!*def)                                                                                     \
        snprintf(want, sizeof want, "`%s` | (unset)", #NAME);                                      \
    ck_assert_msg(strstr(doc, want), "%s: default not in docs/options.md as '%s'", #NAME, want);
#define PS_OPT_ENUM(field, NAME, def, list, help)                                                  \
    snprintf(want, sizeof want, "`%s` | `%s`", #NAME, def);                                        \
    ck_assert_msg(strstr(doc, want), "%s: default not in docs/options.md", #NAME);
#define PS_OPT_DUR(field, NAME, def, help)                                                         \
    snprintf(want, sizeof want, "`%s` | `%s`", #NAME, def);                                        \
    ck_assert_msg(strstr(doc, want), "%s: default not in docs/options.md", #NAME);
#define PS_OPT_SIZE(field, NAME, def, help) PS_OPT_DUR(field, NAME, def, help)
#define PS_OPT_PCT(field, NAME, def, lo, hi, help) PS_OPT_DUR(field, NAME, def, help)
#include "options.def"
#undef PS_OPT_INT
#undef PS_OPT_STR
#undef PS_OPT_ENUM
#undef PS_OPT_DUR
#undef PS_OPT_SIZE
#undef PS_OPT_PCT
}
END_TEST

/* docs/man/perfshim-options.7 lists every option; an integer option with its range and default
 * as the page writes them (".BR NAME \" = lo..hi (default: def"). */
START_TEST(test_options_in_man_page)
{
    static char man[65536];
    read_doc("docs/man/perfshim-options.7", man, sizeof man);
    char want[256];
#define PS_OPT_INT(field, NAME, def, lo, hi, help)                                                 \
    snprintf(want, sizeof want, ".BR %s \" = ", #NAME);                                            \
    ck_assert_msg(strstr(man, want), "%s not in the man page", #NAME);                             \
    if ((lo) == 0 && (hi) == 1)                                                                    \
        snprintf(want, sizeof want, ".BR %s \" = 0 | 1 (default: %d", #NAME, def);                 \
    else                                                                                           \
        snprintf(want, sizeof want, ".BR %s \" = %lld..%lld (default: %d", #NAME, (long long)(lo), \
                 (long long)(hi), def);                                                            \
    ck_assert_msg(strstr(man, want), "%s: range or default differs in the man page", #NAME);
#define PS_OPT_NAME_ONLY(NAME)                                                                     \
    snprintf(want, sizeof want, ".BR %s \" = ", #NAME);                                            \
    ck_assert_msg(strstr(man, want), "%s not in the man page", #NAME);
#define PS_OPT_STR(field, NAME, def, help) PS_OPT_NAME_ONLY(NAME)
#define PS_OPT_ENUM(field, NAME, def, list, help) PS_OPT_NAME_ONLY(NAME)
#define PS_OPT_DUR(field, NAME, def, help) PS_OPT_NAME_ONLY(NAME)
#define PS_OPT_SIZE(field, NAME, def, help) PS_OPT_NAME_ONLY(NAME)
#define PS_OPT_PCT(field, NAME, def, lo, hi, help)                                                 \
    snprintf(want, sizeof want, ".BR %s \" = 0 | %d%%..%d%% (default: %s", #NAME, lo, hi, def);    \
    ck_assert_msg(strstr(man, want), "%s: range or default differs in the man page", #NAME);
#include "options.def"
#undef PS_OPT_INT
#undef PS_OPT_STR
#undef PS_OPT_ENUM
#undef PS_OPT_DUR
#undef PS_OPT_SIZE
#undef PS_OPT_PCT
#undef PS_OPT_NAME_ONLY
}
END_TEST

/* Every source file of shim/ (with shim/include/) and analyzer/ is named in the first column of
 * its table in docs/architecture.md ("The shim, file by file", "The analyzer, file by file"). */
static int named_in_table(const char *doc, const char *heading, const char *name)
{
    const char *sec = strstr(doc, heading);
    if (!sec)
        return 0;
    const char *end = strstr(sec + 1, "\n## ");
    char want[300];
    snprintf(want, sizeof want, "`%s`", name);
    for (const char *line = sec; line && (!end || line < end); line = strchr(line + 1, '\n')) {
        if (strncmp(line, "\n| ", 3) != 0)
            continue;
        const char *cell_end = strstr(line + 3, " | ");
        const char *hit = strstr(line + 3, want);
        if (hit && cell_end && hit < cell_end)
            return 1;
    }
    return 0;
}

static int check_dir_documented(const char *doc, const char *heading, const char *dir,
                                const char *prefix)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", PERFSHIM_SOURCE_DIR, dir);
    DIR *d = opendir(path);
    ck_assert_msg(d != NULL, "cannot list %s", path);
    int files = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        const char *dot = strrchr(e->d_name, '.');
        if (!dot || len > 200 || (strcmp(dot, ".c") && strcmp(dot, ".h") && strcmp(dot, ".def")))
            continue;
        char name[256];
        snprintf(name, sizeof name, "%s%s", prefix, e->d_name);
        ck_assert_msg(named_in_table(doc, heading, name),
                      "%s/%s is not in docs/architecture.md's table \"%s\"", dir, e->d_name,
                      heading + 3);
        files++;
    }
    closedir(d);
    return files;
}

START_TEST(test_architecture_documented)
{
    static char doc[262144];
    read_doc("docs/architecture.md", doc, sizeof doc);
    const char *shim = "## The shim, file by file", *analyzer = "## The analyzer, file by file";
    int files = check_dir_documented(doc, shim, "shim", "");
    files += check_dir_documented(doc, shim, "shim/include", "include/");
    files += check_dir_documented(doc, analyzer, "analyzer", "");
    ck_assert_int_gt(files, 50); /* the directories were found and listed */
    /* a name elsewhere in the document does not count */
    ck_assert(!named_in_table(doc, analyzer, "pool.c"));
}
END_TEST

/* ---- stacks ------------------------------------------------------------------------------- */

static __attribute__((noinline)) uint32_t capture_a(void)
{
    uint32_t id = ps_stack_capture_id(ps_track_thread());
    __asm__ volatile("" ::: "memory"); /* keep the call from becoming a tail call */
    return id;
}

static __attribute__((noinline)) uint32_t capture_b(void)
{
    uint32_t id = ps_stack_capture_id(ps_track_thread());
    __asm__ volatile("" ::: "memory");
    return id;
}

/* The core is linked into this executable after this file's code: "shim" frames are those at
 * or above the lowest capture function (stack.c's and unwind.c's), which is where the frames
 * that the interning must drop come from; capture_a/capture_b lie below. */
static void restrict_self_to_capture(void)
{
    uintptr_t a = (uintptr_t)ps_stack_capture_id, b = (uintptr_t)ps_unwind_stack_id;
    uintptr_t c = (uintptr_t)ps_unwind_capture;
    uintptr_t start = a < b ? a : b;
    if (c < start)
        start = c;
    ck_assert_uint_gt(start, (uintptr_t)capture_b); /* link order, as assumed above */
    ps_g.self_start = start;
    ps_g.self_end = start + (16u << 20);
}

START_TEST(test_stack_interning)
{
    restrict_self_to_capture();
    uint32_t ids[2];
    volatile int rounds = 2; /* the loop must stay a loop: one call site, called twice */
    for (int i = 0; i < rounds; i++)
        ids[i] = capture_a();
    uint32_t a1 = ids[0], a2 = ids[1];
    uint32_t b1 = capture_b();
    ck_assert_uint_ne(a1, 0);
    ck_assert_uint_eq(a1, a2); /* same call site, same id */
    ck_assert_uint_ne(a1, b1); /* another site, another id */
    const ps_stack_t *s = ps_stack_get(a1);
    ck_assert_ptr_nonnull(s);
    ck_assert_uint_ge(s->depth, 2);
    /* innermost frame is a return address inside capture_a */
    ck_assert_uint_gt(s->ip[0], (uintptr_t)capture_a);
    ck_assert_uint_lt(s->ip[0], (uintptr_t)capture_a + 128);
    ck_assert_uint_le(ps_stack_count(), ps_g.opt.max_stacks);
    ck_assert_ptr_null(ps_stack_get(ps_stack_count() + 1));
}
END_TEST

/* The stack table starts small and grows while other threads look stacks up without a lock:
 * two threads intern the same 30000 synthetic stacks in opposite orders (the table doubles
 * about six times meanwhile). Each stack must get exactly one id, the same in both threads,
 * and its record must hold its frames (so no two stacks share an id). */
#define GROW_STACKS 30000
static uint32_t grow_ids[2][GROW_STACKS];

static void grow_frames(int i, uintptr_t f[3])
{
    f[0] = 0x400000u + (uintptr_t)i * 16;
    f[1] = 0x7f0000001000u + (uintptr_t)(i % 97);
    f[2] = 0x500000u;
}

static void *grow_worker(void *arg)
{
    int which = (int)(intptr_t)arg;
    for (int k = 0; k < GROW_STACKS; k++) {
        int i = which ? GROW_STACKS - 1 - k : k;
        uintptr_t f[3];
        grow_frames(i, f);
        grow_ids[which][i] = ps_stack_intern(f, 3);
    }
    return NULL;
}

START_TEST(test_stack_table_growth)
{
    uint32_t before = ps_stack_count();
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, grow_worker, (void *)(intptr_t)i);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    /* (starting a thread may intern its start stack: threads.c) */
    ck_assert_uint_ge(ps_stack_count(), before + GROW_STACKS);
    ck_assert_uint_le(ps_stack_count(), before + GROW_STACKS + 2);
    for (int i = 0; i < GROW_STACKS; i++) {
        uint32_t id = grow_ids[0][i];
        ck_assert_uint_gt(id, before);
        ck_assert_uint_eq(id, grow_ids[1][i]);
        uintptr_t f[3];
        grow_frames(i, f);
        ck_assert_uint_eq(ps_stack_intern(f, 3), id); /* found again, after the growth */
        const ps_stack_t *s = ps_stack_get(id);
        ck_assert_ptr_nonnull(s);
        ck_assert_uint_eq(s->depth, 3);
        ck_assert_int_eq(memcmp(s->ip, f, sizeof f), 0);
    }
}
END_TEST

/* ---- live table and counters --------------------------------------------------------------- */

static ps_totals_t totals_now(void)
{
    uint32_t n = ps_stack_count();
    ps_counters_t *c = calloc(n + 1, sizeof *c);
    ps_totals_t t;
    ps_track_collect(c, n, &t);
    free(c);
    return t;
}

/* Fake block addresses inside a region of our own, so that none can fall into the pool's
 * reservation (a fixed base did, now and then, wherever ASLR put the pool: those "blocks"
 * were taken for pooled ones without slab metadata and not counted). 3.3M * 48 bytes.
 * Reserved once in main(), before any test thread exists. */
static uintptr_t fake_base;
#define FAKE(i) ((void *)(fake_base + (uint64_t)(i)*48))

START_TEST(test_live_table)
{
    restrict_self_to_capture();
    ps_totals_t t0 = totals_now();
    const int N = 200000; /* forces every shard to grow several times */
    for (int i = 0; i < N; i++)
        ps_track_alloc(FAKE(i), (size_t)(i % 100) + 1);
    ps_totals_t t1 = totals_now();
    ck_assert_uint_eq(t1.allocs - t0.allocs, N);
    ck_assert_uint_eq(t1.live_blocks - t0.live_blocks, N);
    uint64_t bytes = 0;
    for (int i = 0; i < N; i++)
        bytes += (uint64_t)(i % 100) + 1;
    ck_assert_uint_eq(t1.live_bytes - t0.live_bytes, bytes);
    /* free every other block: backward-shift deletion must keep the rest findable */
    for (int i = 0; i < N; i += 2)
        ps_track_free(FAKE(i), 0);
    for (int i = 1; i < N; i += 2)
        ps_track_free(FAKE(i), 0);
    ps_totals_t t2 = totals_now();
    ck_assert_uint_eq(t2.frees - t0.frees, N);
    ck_assert_uint_eq(t2.live_blocks, t0.live_blocks);
    ck_assert_uint_eq(t2.live_bytes, t0.live_bytes);
    ck_assert_uint_eq(t2.untracked_frees, t0.untracked_frees);
    ps_track_free(FAKE(1), 0); /* already freed: untracked, never a crash */
    ck_assert_uint_eq(totals_now().untracked_frees, t0.untracked_frees + 1);
    /* the peak is folded per thread every 256 KiB of change: exact to within that */
    ck_assert_uint_ge(t2.peak_live_bytes + 256 * 1024, t0.live_bytes + bytes);
}
END_TEST

/* The shim's thread wrapper records each thread's stack bounds before the program's code runs
 * (threads.c); these threads are created by libc (or TSan) directly, so they do it themselves.
 * Without bounds the walks fall back to libunwind, whose per-thread cache destructor runs
 * after ThreadSanitizer has already torn the exiting thread's state down. */
static void *thread_work(void *arg)
{
    ps_unwind_thread_start();
    int base = (int)(intptr_t)arg;
    for (int i = 0; i < 50000; i++)
        ps_track_alloc(FAKE(base + i), 10);
    for (int i = 0; i < 50000; i++)
        ps_track_free(FAKE(base + i), 0);
    return NULL;
}

static void *thread_alloc(void *arg)
{
    ps_unwind_thread_start();
    int base = (int)(intptr_t)arg;
    for (int i = 0; i < 30000; i++)
        ps_track_alloc(FAKE(base + i), 3);
    return NULL;
}

START_TEST(test_threads_and_cross_thread_frees)
{
    restrict_self_to_capture();
    ps_totals_t t0 = totals_now();
    pthread_t th[3];
    pthread_create(&th[0], NULL, thread_work, (void *)(intptr_t)1000000);
    pthread_create(&th[1], NULL, thread_work, (void *)(intptr_t)2000000);
    pthread_create(&th[2], NULL, thread_alloc, (void *)(intptr_t)3000000);
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    /* the exited threads' counters were folded into the retired sums */
    ps_totals_t t1 = totals_now();
    ck_assert_uint_eq(t1.allocs - t0.allocs, 130000);
    ck_assert_uint_eq(t1.live_blocks - t0.live_blocks, 30000);
    ck_assert_uint_eq(t1.live_bytes - t0.live_bytes, 90000);
    /* blocks of an exited thread, freed here */
    for (int i = 0; i < 30000; i++)
        ps_track_free(FAKE(3000000 + i), 0);
    ps_totals_t t2 = totals_now();
    ck_assert_uint_eq(t2.live_blocks, t0.live_blocks);
    ck_assert_uint_eq(t2.live_bytes, t0.live_bytes);
}
END_TEST

/* ps_track_collect into a buffer that still holds an earlier snapshot's sums (snapshot.c reuses
 * one): every row is overwritten, and the sources are still added, not stored over each other
 * (a live thread, the retired sums, this thread, all on the first page of stack ids). */
static int collect_go; /* 1: the kept thread may free its blocks and exit */

static void *thread_keep(void *arg)
{
    ps_unwind_thread_start();
    for (int i = 0; i < 2000; i++)
        ps_track_alloc(FAKE(3200000 + i), 16);
    __atomic_store_n((int *)arg, 1, __ATOMIC_RELEASE);
    while (!__atomic_load_n(&collect_go, __ATOMIC_ACQUIRE))
        usleep(1000);
    for (int i = 0; i < 2000; i++)
        ps_track_free(FAKE(3200000 + i), 0);
    return NULL;
}

static ps_totals_t collect_into_garbage(ps_counters_t *c, uint32_t *n)
{
    *n = ps_stack_count();
    memset(c, 0xa5, ((size_t)*n + 1) * sizeof *c);
    ps_totals_t t;
    ps_track_collect(c, *n, &t);
    return t;
}

START_TEST(test_collect_overwrites)
{
    restrict_self_to_capture();
    size_t cap = ((size_t)ps_g.opt.max_stacks + 1) * sizeof(ps_counters_t);
    ps_counters_t *c = ps_os_map(cap), *z = calloc(ps_g.opt.max_stacks + 1, sizeof *z);
    ck_assert_ptr_nonnull(c);
    ck_assert_ptr_nonnull(z);
    uint32_t n;
    ps_totals_t t0 = collect_into_garbage(c, &n);
    ps_totals_t tz;
    ps_track_collect(z, n, &tz);
    ck_assert_int_eq(memcmp(c, z, ((size_t)n + 1) * sizeof *c), 0); /* no 0xa5 left */
    ck_assert_uint_eq(t0.allocs, tz.allocs);
    ck_assert_uint_eq(t0.alloc_bytes, tz.alloc_bytes);

    pthread_t done, kept;
    pthread_create(&done, NULL, thread_alloc, (void *)(intptr_t)3140000); /* 30000 x 3 B */
    pthread_join(done, NULL);
    int ready = 0;
    pthread_create(&kept, NULL, thread_keep, &ready); /* 2000 x 16 B, live during the collect */
    while (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE))
        usleep(1000);
    for (int i = 0; i < 4000; i++)
        ps_track_alloc(FAKE(3300000 + i), 32);
    ps_totals_t t1 = collect_into_garbage(c, &n);
    ck_assert_uint_eq(t1.allocs - t0.allocs, 36000);
    ck_assert_uint_eq(t1.alloc_bytes - t0.alloc_bytes, 90000 + 32000 + 128000);
    memset(z, 0, ((size_t)n + 1) * sizeof *z);
    ps_track_collect(z, n, &tz);
    ck_assert_int_eq(memcmp(c, z, ((size_t)n + 1) * sizeof *c), 0);

    __atomic_store_n(&collect_go, 1, __ATOMIC_RELEASE);
    pthread_join(kept, NULL);
    for (int i = 0; i < 30000; i++)
        ps_track_free(FAKE(3140000 + i), 0);
    for (int i = 0; i < 4000; i++)
        ps_track_free(FAKE(3300000 + i), 0);
    ps_totals_t t2 = collect_into_garbage(c, &n);
    ck_assert_uint_eq(t2.live_blocks, t0.live_blocks);
    ck_assert_uint_eq(t2.live_bytes, t0.live_bytes);
    free(z);
    ps_os_unmap(c, cap);
}
END_TEST

/* The ADVICE payload's counts of stack id: its allocations and the count of requested-size bin
 * `bin` (0 for a site not written). */
static void advice_site(uint32_t id, unsigned bin, uint64_t *allocs, uint64_t *count)
{
    ps_buf_t b = {0};
    ck_assert_int_eq(ps_advice_write(&b, 1, id), 0);
    const unsigned char *p = b.data;
    uint32_t nsites =
        (uint32_t)p[16] | (uint32_t)p[17] << 8 | (uint32_t)p[18] << 16 | (uint32_t)p[19] << 24;
    size_t at = 32;
    *allocs = *count = 0;
    for (uint32_t i = 0; i < nsites; i++) {
        uint32_t sid, nreq, nusable;
        memcpy(&sid, p + at, 4);
        memcpy(&nreq, p + at + 4, 4);
        memcpy(&nusable, p + at + 8, 4);
        const unsigned char *bins = p + at + PS_ADVICE_SITE_SIZE;
        if (sid == id) {
            memcpy(allocs, p + at + 16, 8);
            for (uint32_t k = 0; k < nreq; k++) {
                uint32_t bk;
                memcpy(&bk, bins + 12 * k, 4);
                if (bk == bin)
                    memcpy(count, bins + 12 * k + 4, 8);
            }
        }
        at += PS_ADVICE_SITE_SIZE + 12 * ((size_t)nreq + nusable);
    }
    ps_buf_free(&b);
}

/* The advice counters' size bins are 64-bit: a site that gets 6 * 2^30 weighted allocations of
 * one size shows that many in its bin (32-bit bins wrapped to 2^31), as its allocations count. */
/* After an interval snapshot, the next waits an interval, or four times the snapshot's own
 * length when that is longer: snapshots take at most a fifth of the time. */
START_TEST(test_snapshot_gap)
{
    const uint64_t ms = 1000000ull;
    ck_assert_uint_eq(ps_snapshot_gap(0, 10 * ms), 10 * ms);
    ck_assert_uint_eq(ps_snapshot_gap(1 * ms, 10 * ms), 10 * ms);
    ck_assert_uint_eq(ps_snapshot_gap(2500 * 1000ull, 10 * ms), 10 * ms);
    ck_assert_uint_eq(ps_snapshot_gap(3 * ms, 10 * ms), 12 * ms);
    ck_assert_uint_eq(ps_snapshot_gap(50 * ms, 10 * ms), 200 * ms);
    for (uint64_t took = 0; took < 100 * ms; took += 7 * ms / 3) {
        uint64_t gap = ps_snapshot_gap(took, 10 * ms);
        ck_assert_uint_ge(gap, 10 * ms);
        ck_assert_uint_ge(gap, 4 * took); /* writing is at most took / (took + gap) <= 1/5 */
    }
}
END_TEST

START_TEST(test_advice_bins_wide)
{
    static ps_thread_t t; /* zero */
    ps_g.opt.advice_sample = 1;
    ps_advice_thread_init(&t);
    const uint32_t id = 5000; /* a chunk of rows of its own */
    const unsigned bin = ps_advice_bin(40);
    uint64_t allocs0, count0, allocs1, count1;
    advice_site(id, bin, &allocs0, &count0);
    const uint64_t w = UINT64_C(3) << 30; /* each sample stands for 3 * 2^30 allocations */
    for (int i = 0; i < 2; i++)
        ck_assert_uint_ne(ps_advice_alloc(&t, FAKE(3100000 + i), id, 40, w << PS_COUNT_SHIFT), 0);
    advice_site(id, bin, &allocs1, &count1);
    ck_assert_uint_eq(allocs1 - allocs0, 2 * w);
    ck_assert_uint_eq(count1 - count0, 2 * w);
}
END_TEST

/* ---- the trace file's framing ------------------------------------------------------------------
 */

static uint32_t rd32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* An unsigned LEB128 varint at *p (before end), *p moved past it. */
static uint64_t rd_varint(const unsigned char **p, const unsigned char *end)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        ck_assert(*p < end);
        unsigned char b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return v;
    }
    ck_abort_msg("varint longer than 10 bytes");
    return 0;
}

START_TEST(test_trace_chunks)
{
    /* more stacks than one STACKS_PACKED chunk holds (they are written in batches of ~64 KiB):
     * stacks sharing their two outermost frames with the one before, or (every third) none, and
     * far apart (differences of 4 to 5 bytes) */
    for (int i = 0; i < 9000; i++) {
        uintptr_t u = (uintptr_t)i;
        uintptr_t f[4] = {0x600000u + u * 8, 0x10000000u + u * 0x10000,
                          0x20000000u + (u / 3) * 0x100000, 0x30000000u + (u / 3) * 0x1000000};
        ck_assert_uint_ne(ps_stack_intern(f, 4), 0);
    }
    ck_assert_int_eq(ps_init_snapshot(PS_SNAP_DUMP), 0);
    ck_assert_int_eq(ps_init_snapshot(PS_SNAP_DUMP), 0);
    FILE *f = fopen(ps_writer_path(), "rb");
    ck_assert_msg(f != NULL, "trace %s not created", ps_writer_path());
    static unsigned char d[1 << 24];
    size_t n = fread(d, 1, sizeof d, f);
    fclose(f);
    ck_assert_uint_ge(n, PS_TRACE_FILE_HEADER_SIZE);
    ck_assert_int_eq(memcmp(d, PS_TRACE_MAGIC, PS_TRACE_MAGIC_LEN), 0);
    ck_assert_uint_eq(d[8] | d[9] << 8, PS_TRACE_VERSION);
    int types[64], nt = 0;
    size_t off = PS_TRACE_FILE_HEADER_SIZE;
    while (off + PS_CHUNK_HEADER_SIZE <= n && nt < 64) {
        ck_assert_uint_eq(rd32(d + off), PS_CHUNK_SYNC);
        uint32_t type = d[off + 4] | d[off + 5] << 8, len = rd32(d + off + 8);
        ck_assert_uint_le(off + PS_CHUNK_HEADER_SIZE + len, n);
        uint32_t crc = (uint32_t)crc32(0, d + off, 12);
        crc = (uint32_t)crc32(crc, d + off + 16, len);
        ck_assert_uint_eq(crc, rd32(d + off + 12));
        types[nt++] = (int)type;
        off += PS_CHUNK_HEADER_SIZE + len;
    }
    ck_assert_uint_eq(off, n); /* no trailing garbage */
    /* PROCESS once, then per snapshot MODULES, STACKS (if new), SNAPSHOT or a delta */
    ck_assert_int_eq(types[0], PS_CHUNK_PROCESS);
    int snapshots = 0, process = 0, stack_chunks = 0, first_snapshot = 0;
    for (int i = 0; i < nt; i++) {
        int snap = types[i] == PS_CHUNK_SNAPSHOT || types[i] == PS_CHUNK_SNAPSHOT_DELTA ||
                   types[i] == PS_CHUNK_SNAPSHOT_PACKED;
        if (snap && !snapshots)
            first_snapshot = types[i];
        snapshots += snap;
        process += types[i] == PS_CHUNK_PROCESS;
        stack_chunks += types[i] == PS_CHUNK_STACKS_PACKED;
    }
    ck_assert_int_eq(process, 1);
    ck_assert_int_eq(snapshots, 2);
    ck_assert_int_eq(first_snapshot, PS_CHUNK_SNAPSHOT); /* a file starts with a keyframe */
    /* every stack once, ids 1.. in order, over several STACKS_PACKED chunks, each stack's frames
     * decoded here (docs/trace-format.md) equal to the interned ones */
    ck_assert_int_gt(stack_chunks, 1);
    uint32_t next_id = 1;
    for (off = PS_TRACE_FILE_HEADER_SIZE; off + PS_CHUNK_HEADER_SIZE <= n;) {
        uint32_t type = d[off + 4] | d[off + 5] << 8, len = rd32(d + off + 8);
        const unsigned char *p = d + off + PS_CHUNK_HEADER_SIZE, *end = p + len;
        if (type == PS_CHUNK_STACKS_PACKED) {
            uint32_t count = rd32(p), id = 0;
            uint64_t prev[8] = {0}, cur[8]; /* outermost first */
            uint64_t pdepth = 0;
            p += 4;
            for (uint32_t k = 0; k < count; k++) {
                id += (uint32_t)rd_varint(&p, end);
                ck_assert_uint_eq(id, next_id++);
                uint64_t depth = rd_varint(&p, end), shared = rd_varint(&p, end);
                ck_assert_uint_le(depth, 8);
                ck_assert_uint_le(shared, depth < pdepth ? depth : pdepth);
                for (uint64_t j = 0; j < depth; j++) {
                    if (j < shared) {
                        cur[j] = prev[j];
                        continue;
                    }
                    uint64_t z = rd_varint(&p, end);
                    uint64_t ref = j == shared && j < pdepth ? prev[j] : j ? cur[j - 1] : 0;
                    cur[j] = ref + ((z >> 1) ^ (0 - (z & 1)));
                }
                const ps_stack_t *st = ps_stack_get(id);
                ck_assert_ptr_nonnull(st);
                ck_assert_uint_eq(st->depth, depth);
                for (uint64_t j = 0; j < depth; j++)
                    ck_assert_uint_eq(cur[j], st->ip[depth - 1 - j]);
                memcpy(prev, cur, sizeof prev);
                pdepth = depth;
            }
            ck_assert_ptr_eq(p, end);
        }
        off += PS_CHUNK_HEADER_SIZE + len;
    }
    ck_assert_uint_eq(next_id - 1, ps_stack_count());
}
END_TEST

/* ---- libunwind on demand (unw_loader.c) ------------------------------------------------------ */

static int held_in_callback = -1;

static int note_held(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)info, (void)size, (void)data;
    held_in_callback = ps_unw_loader_held_here(0) + ps_unw_loader_held_here(1);
    return 1;
}

static int count_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    for (struct dirent *e; d && (e = readdir(d));)
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

static ps_unw_backtrace_fn sig_bt;
static void *sig_ips[64];
static volatile int sig_n = -1;

static void on_usr2(int sig)
{
    (void)sig;
    sig_n = sig_bt(sig_ips, 64);
}

static __attribute__((noinline)) void raise_usr2(void)
{
    raise(SIGUSR2);
    __asm__ volatile("" ::: "memory");
}

START_TEST(test_libunwind_on_demand)
{
    /* the loader's locks were found: held by this thread inside dl_iterate_phdr only */
    ck_assert_int_eq(ps_unw_loader_held_here(1), 0);
    dl_iterate_phdr(note_held, NULL);
    ck_assert_int_eq(held_in_callback, 2);
    int before = count_fds();
    int why = 0;
    sig_bt = ps_unw_backtrace(&why);
    ck_assert_msg(sig_bt != NULL, "libunwind could not be loaded (why %d)", why);
    ck_assert_int_eq(ps_unw_loaded(), 1);
    /* through a signal frame libunwind checks addresses before it reads them: without its
     * pipe, and it still reaches the frame that raised the signal. One walk first, outside
     * the handler: this thread's first walk allocates libunwind's TLS (TSan objects to that in
     * a handler; in the shim the walk runs inside malloc, where it is served untracked). */
    ck_assert_int_gt(sig_bt(sig_ips, 64), 0);
    signal(SIGUSR2, on_usr2);
    raise_usr2();
    signal(SIGUSR2, SIG_DFL);
    int found = 0;
    for (int i = 0; i < sig_n; i++)
        found |= (uintptr_t)sig_ips[i] > (uintptr_t)raise_usr2 &&
                 (uintptr_t)sig_ips[i] < (uintptr_t)raise_usr2 + 64;
    ck_assert_msg(found, "libunwind did not walk through the signal frame (%d frames)", sig_n);
    ck_assert_int_eq(count_fds(), before);
}
END_TEST

START_TEST(test_readable)
{
    int x = 1;
    ck_assert_int_eq(ps_os_readable(&x, sizeof x), 1);
    ck_assert_int_eq(ps_os_readable((void *)test_readable, 1), 1);
    ck_assert_int_eq(ps_os_readable(NULL, 1), 0);
    char *r = ps_os_reserve(3 * 4096, 4096); /* PROT_NONE until committed */
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(ps_os_readable(r, 1), 0);
    ck_assert_int_eq(ps_os_commit(r, 4096), 0);
    ck_assert_int_eq(ps_os_readable(r + 4090, 6), 1);
    ck_assert_int_eq(ps_os_readable(r + 4090, 7), 0); /* one byte into the PROT_NONE page */
    ps_os_unmap(r + 8192, 4096);
    ck_assert_int_eq(ps_os_readable(r + 8192, 1), 0); /* unmapped */
    errno = 1234;
    ps_os_readable(NULL, 1);
    ck_assert_int_eq(errno, 1234);
}
END_TEST

/* ps_os_private_pages tells the constructor whether the shim's code after its first window may
 * be unmapped (init.c, drop_init_code): 0 while every page of a private file mapping is the
 * file's (read, or never touched), 1 once one is a private copy (what a debugger's breakpoint
 * or a uprobe makes: unmapping it would lose the breakpoint), and never errno changed. */
START_TEST(test_private_pages)
{
    char path[] = "/tmp/perfshim-private-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    unlink(path);
    static char page[4096];
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(write(fd, page, sizeof page), (ssize_t)sizeof page);
    char *m = mmap(NULL, 4 * 4096, PROT_READ, MAP_PRIVATE, fd, 0);
    ck_assert_ptr_ne(m, MAP_FAILED);
    close(fd);
    ck_assert_int_eq(ps_os_private_pages(m, 4 * 4096), 0); /* nothing touched */
    volatile char sum = 0;
    for (int i = 0; i < 4; i++)
        sum += m[i * 4096];
    (void)sum;
    ck_assert_int_eq(ps_os_private_pages(m, 4 * 4096), 0); /* read: the file's pages */
    ck_assert_int_eq(mprotect(m + 2 * 4096, 4096, PROT_READ | PROT_WRITE), 0);
    m[2 * 4096 + 7] = 1; /* copy on write: a page of this process only */
    errno = 4321;
    ck_assert_int_eq(ps_os_private_pages(m, 4 * 4096), 1);
    ck_assert_int_eq(errno, 4321);
    ck_assert_int_eq(ps_os_private_pages(m + 3 * 4096, 4096), 0); /* the pages after it */
    ck_assert_int_eq(ps_os_private_pages(m, 2 * 4096), 0);        /* and before it */
    munmap(m, 4 * 4096);
}
END_TEST

/* ps_os_own_maps lists the mappings ps_os_map, ps_os_reserve and ps_os_remap made and not
 * ps_os_unmap'ed (reach.c leaves them out of the exit leak scan's roots): each one exactly, a
 * head unmapped leaves the tail, a remap moves it, an unmap forgets it. */
typedef struct {
    uintptr_t lo, hi;
    int found;
} own_probe_t;

static void own_probe(void *arg, uintptr_t lo, uintptr_t hi)
{
    own_probe_t *p = arg;
    if (lo == p->lo && hi == p->hi)
        p->found++;
    else if (lo < p->hi && hi > p->lo)
        p->found += 100; /* overlaps it, not exactly */
}

static int own_listed(const void *p, size_t n)
{
    own_probe_t probe = {(uintptr_t)p, (uintptr_t)p + n, 0};
    ck_assert_uint_eq(ps_os_own_maps(own_probe, &probe), 0);
    return probe.found;
}

START_TEST(test_os_own_maps)
{
    size_t page = ps_os_page_size();
    char *a = ps_os_map(4 * page);
    ck_assert_ptr_nonnull(a);
    ck_assert_int_eq(own_listed(a, 4 * page), 1);
    ps_os_unmap(a, page); /* the head */
    ck_assert_int_eq(own_listed(a + page, 3 * page), 1);
    char *b = ps_os_remap(a + page, 3 * page, 64 * page);
    ck_assert_ptr_nonnull(b);
    ck_assert_int_eq(own_listed(b, 64 * page), 1);
    if (b != a + page)
        ck_assert_int_eq(own_listed(a + page, 3 * page), 0);
    ps_os_unmap(b, 64 * page);
    ck_assert_int_eq(own_listed(b, 64 * page), 0);
    char *r = ps_os_reserve(16 * page, 8 * page);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(own_listed(r, 16 * page), 1);
    ps_os_unmap(r + 8 * page, page); /* inside: forgotten whole, never listed too wide */
    ck_assert_int_eq(own_listed(r, 16 * page), 0);
    ps_os_unmap(r, 8 * page);
    ps_os_unmap(r + 9 * page, 7 * page);
    /* many at once: every one listed */
    enum { N = 300 };
    static void *many[N];
    for (int i = 0; i < N; i++)
        ck_assert_ptr_nonnull(many[i] = ps_os_map(page));
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(own_listed(many[i], page), 1);
    for (int i = 0; i < N; i++)
        ps_os_unmap(many[i], page);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(own_listed(many[i], page), 0);
}
END_TEST

/* os_linux.c's direct calls (no libc wrapper: docs/performance.md, "Sampling's peak RSS: system
 * calls without libc's wrappers") give what libc's wrappers give, and leave errno alone. */
START_TEST(test_os_direct_calls)
{
    errno = 4321;
    ck_assert_uint_eq(ps_os_pid(), (uint32_t)getpid());
    ck_assert_uint_eq(ps_os_ppid(), (uint32_t)getppid());
    ck_assert_uint_eq(ps_os_tid(), (uint32_t)syscall(SYS_gettid));
    ck_assert_uint_eq(ps_os_page_size(), (size_t)sysconf(_SC_PAGESIZE));
    struct sysinfo si;
    ck_assert_int_eq(sysinfo(&si), 0);
    ck_assert_uint_eq(ps_os_mem_total(), (uint64_t)si.totalram * (si.mem_unit ? si.mem_unit : 1));
    static const clockid_t ids[] = {CLOCK_MONOTONIC, CLOCK_REALTIME, CLOCK_MONOTONIC_COARSE,
                                    CLOCK_PROCESS_CPUTIME_ID};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        struct timespec a, b;
        ck_assert_int_eq(clock_gettime(ids[i], &a), 0);
        uint64_t ns = ps_os_clock_ns(ids[i]);
        ck_assert_int_eq(clock_gettime(ids[i], &b), 0);
        uint64_t lo = (uint64_t)a.tv_sec * 1000000000u + (uint64_t)a.tv_nsec;
        uint64_t hi = (uint64_t)b.tv_sec * 1000000000u + (uint64_t)b.tv_nsec;
        ck_assert_msg(ns >= lo && ns <= hi, "clock %d: %llu not in [%llu, %llu]", (int)ids[i],
                      (unsigned long long)ns, (unsigned long long)lo, (unsigned long long)hi);
    }
    ck_assert_uint_le(ps_os_monotonic_ns(), ps_os_monotonic_ns());
    ck_assert_uint_eq(ps_os_clock_ns((clockid_t)12345), 0); /* no such clock: 0, errno kept */
    struct timespec res;
    ck_assert_int_eq(clock_getres(CLOCK_MONOTONIC_COARSE, &res), 0);
    ck_assert_uint_eq(ps_os_coarse_res_ns(),
                      (uint64_t)res.tv_sec * 1000000000u + (uint64_t)res.tv_nsec);
    ck_assert_int_eq(errno, 4321);
#if defined(__x86_64__)
    /* The vDSO's clock_gettime is found whenever the process has a vDSO (valgrind hides it). */
    if (getauxval(AT_SYSINFO_EHDR))
        ck_assert_int_eq(ps_os_clock_direct(), 1);
#endif
}
END_TEST

/* ---- the final snapshot at _exit (init.c) -----------------------------------------------------
 */

/* The trace a process with this pid writes (PERFSHIM_OUTPUT has no %t here). */
static void trace_of(pid_t pid, char *out, size_t size)
{
    ck_assert_int_eq(
        ps_writer_expand(ps_g.opt.output, ps_g.cwd, ps_g.exe, (uint32_t)pid, 0, out, size), 0);
}

/* The child's exit status, or -1 if it did not end within 20 s (then it is killed). */
static int status_of(pid_t pid)
{
    for (int i = 0; i < 2000; i++) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        usleep(10000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

#ifndef __SANITIZE_THREAD__
static __attribute__((noinline)) pid_t vfork_exit(int status)
{
    pid_t pid = vfork();
    if (pid == 0)
        ps_init_exit(status);
    return pid;
}
#endif

START_TEST(test_exit_paths)
{
    ck_assert_int_eq(ps_g.tracing, 1);
    char path[4096];
    /* a forked child's _exit: its trace is written, its status kept */
    pid_t pid = fork();
    if (pid == 0)
        ps_init_exit(3);
    ck_assert_int_eq(status_of(pid), 3);
    trace_of(pid, path, sizeof path);
    ck_assert_msg(access(path, F_OK) == 0, "no trace %s", path);
    unlink(path);
    /* interrupted while holding a shim lock (a signal handler's _exit): no trace, no hang */
    pid = fork();
    if (pid == 0) {
        ps_tls_locks++;
        ps_init_exit(4);
    }
    ck_assert_int_eq(status_of(pid), 4);
    trace_of(pid, path, sizeof path);
    ck_assert_msg(access(path, F_OK) != 0, "trace %s written while holding a lock", path);
#ifndef __SANITIZE_THREAD__ /* TSan's vfork is a fork */
    /* a vfork child shares our memory: it writes nothing, and this process keeps tracking */
    pid = vfork_exit(5);
    ck_assert_int_eq(status_of(pid), 5);
    trace_of(pid, path, sizeof path);
    ck_assert_msg(access(path, F_OK) != 0, "the vfork child wrote %s", path);
    ck_assert_int_eq(ps_g.tracing, 1);
    ck_assert_int_eq(atomic_load(&ps_g.active), 1);
#endif
}
END_TEST

/* ---- sampling by bytes (sample.c) ------------------------------------------------------------ */

/* The shim's own ln and 1 - e^(-x) (it links no libm) against libm. */
START_TEST(test_sample_math)
{
    for (double x = 1e-12; x <= 1.0; x *= 1.37)
        ck_assert_msg(fabs(ps_sample_ln(x) - log(x)) <= 1e-13 * fmax(1, fabs(log(x))),
                      "ln(%g) = %.17g, libm %.17g", x, ps_sample_ln(x), log(x));
    for (double x = 1e-9; x <= 800; x *= 1.29) {
        double want = -expm1(-x);
        ck_assert_msg(fabs(ps_sample_one_minus_exp_neg(x) - want) <= 1e-14 * want,
                      "1-e^-%g = %.17g, libm %.17g", x, ps_sample_one_minus_exp_neg(x), want);
    }
}
END_TEST

/* Known values of the weights: s / (1 - e^(-s/T)) bytes and 1 / (1 - e^(-s/T)) allocations
 * (fixed point), exact at and above T and without a mean. */
START_TEST(test_sample_weights)
{
    uint64_t b, c;
    ps_sample_weights(100, 0, &b, &c); /* full tracking */
    ck_assert_uint_eq(b, 100);
    ck_assert_uint_eq(c, PS_COUNT_ONE);
    ps_sample_weights(524288, 524288, &b, &c); /* s >= T: always sampled, weight 1 */
    ck_assert_uint_eq(b, 524288);
    ck_assert_uint_eq(c, PS_COUNT_ONE);
    /* s = T/2: p = 1 - e^-0.5 = 0.393469..., weight 2.541494... */
    ps_sample_weights(262144, 524288, &b, &c);
    ck_assert_uint_eq(b, 666237); /* 262144 * 2.5414940825367982 = 666237.4 */
    ck_assert_uint_eq(c, 2602);   /* 1024 * 2.5414940825 = 2602.49 */
    /* s = 1, T = 524288: weight 524288.5 (1/x + 1/2 + x/12) */
    ps_sample_weights(1, 524288, &b, &c);
    ck_assert_uint_eq(b, 524289);
    ck_assert_uint_eq(c, (uint64_t)(524288.5 * 1024 + 0.5));
    /* s = 48, T = 4096 */
    ps_sample_weights(48, 4096, &b, &c);
    double w = 1 / -expm1(-48.0 / 4096);
    ck_assert_uint_eq(b, (uint64_t)(48 * w + 0.5));
    ck_assert_uint_eq(c, (uint64_t)(1024 * w + 0.5));
}
END_TEST

/* The draws are exponential with mean T: mean within 5 standard errors (T / sqrt(n)). */
START_TEST(test_sample_draws)
{
    uint64_t st = 42, T = 524288;
    enum { N = 200000 };
    double sum = 0;
    for (int i = 0; i < N; i++)
        sum += (double)ps_sample_draw(&st, T);
    double mean = sum / N;
    ck_assert_msg(fabs(mean - (double)T) <= 5 * (double)T / sqrt(N), "mean draw %g, T %llu", mean,
                  (unsigned long long)T);
}
END_TEST

/* The whole sampler, statistically: this thread allocates a known mix of sizes through the
 * countdown (ps_tls_sample_left and ps_sample_slow, as interpose.c does); the sum of the
 * weights of the sampled allocations estimates the true bytes and count. Bound: 5 standard
 * errors of the model (variance sum of s^2 (1-p)/p, resp. (1-p)/p), so that a wrong weight or
 * a biased countdown fails while chance alone fails about once in 1.7 million runs. */
START_TEST(test_sample_unbiased)
{
    const uint64_t T = 8192;
    static const size_t sizes[] = {8, 24, 100, 640, 3000, 8000, 9000, 70000};
    ck_assert_int_eq(ps_sample_set(T), 0);
    double true_bytes = 0, true_count = 0, est_bytes = 0, est_count = 0, var_b = 0, var_c = 0;
    uint64_t seed = 7;
    for (int i = 0; i < 2000000; i++) {
        size_t n = sizes[ps_sample_draw(&seed, 3) % 8];
        true_bytes += (double)n;
        true_count += 1;
        if (n < T) {
            double p = -expm1(-(double)n / (double)T);
            var_b += (double)n * (double)n * (1 - p) / p;
            var_c += (1 - p) / p;
        }
        if ((ps_tls_sample_left -= (int64_t)n) >= 0)
            continue;
        int code = ps_sample_slow(n);
        if (code < 0)
            continue;
        uint64_t b, c;
        ps_sample_code_weights(n, (uint32_t)code, &b, &c);
        est_bytes += (double)b;
        est_count += (double)c / PS_COUNT_ONE;
    }
    ps_sample_set(0);
    ck_assert_msg(fabs(est_bytes - true_bytes) <= 5 * sqrt(var_b) + 1,
                  "bytes: estimate %.0f, true %.0f, 5 sigma %.0f", est_bytes, true_bytes,
                  5 * sqrt(var_b));
    ck_assert_msg(fabs(est_count - true_count) <= 5 * sqrt(var_c) + 1,
                  "count: estimate %.0f, true %.0f, 5 sigma %.0f", est_count, true_count,
                  5 * sqrt(var_c));
    /* and not trivially: the estimate is not the raw sample */
    ck_assert(var_b > 0 && est_count < true_count * 2);
}
END_TEST

int main(void)
{
    /* readable zero pages (never written): the advice counters ask the C library for the
     * usable size of a sampled block, which reads the word before it */
    void *fake =
        mmap(NULL, 160u << 20, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    fake_base = fake == MAP_FAILED ? 0 : (uintptr_t)fake + 4096;
    if (!fake_base) {
        fputs("cannot reserve the fake block region\n", stderr);
        return EXIT_FAILURE;
    }
    Suite *s = suite_create("shim_internals");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_format);
    tcase_add_test(tc, test_sample_math);
    tcase_add_test(tc, test_sample_weights);
    tcase_add_test(tc, test_sample_draws);
    tcase_add_test(tc, test_sample_unbiased);
    tcase_add_test(tc, test_expand);
    tcase_add_test(tc, test_crc_matches_zlib);
    tcase_add_test(tc, test_options);
    tcase_add_test(tc, test_option_distance);
    tcase_add_test(tc, test_option_suggest);
    tcase_add_test(tc, test_option_unknown_names);
    tcase_add_test(tc, test_architecture_documented);
    tcase_add_test(tc, test_options_documented);
    tcase_add_test(tc, test_options_in_man_page);
    tcase_add_test(tc, test_parse_duration);
    tcase_add_test(tc, test_parse_size_percent);
    tcase_add_test(tc, test_stack_interning);
    tcase_add_test(tc, test_stack_table_growth);
    tcase_add_test(tc, test_live_table);
    tcase_add_test(tc, test_threads_and_cross_thread_frees);
    tcase_add_test(tc, test_collect_overwrites);
    tcase_add_test(tc, test_trace_chunks);
    tcase_add_test(tc, test_libunwind_on_demand);
    tcase_add_test(tc, test_readable);
    tcase_add_test(tc, test_private_pages);
    tcase_add_test(tc, test_os_direct_calls);
    tcase_add_test(tc, test_os_own_maps);
    tcase_add_test(tc, test_advice_bins_wide);
    tcase_add_test(tc, test_snapshot_gap);
    tcase_add_test(tc, test_exit_paths);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
