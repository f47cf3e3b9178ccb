/* SPDX-License-Identifier: MIT */
/*
 * check_cli.c — the built `perfshim` executable (PA_TEST_PERFSHIM) on crafted traces: exit
 * statuses (0, 1 with --fail-on-leak, 2 for usage errors and unreadable input), help and version,
 * unknown options named, text and JSON output, damaged traces, suppression files, the summary's
 * pool section and fragmentation ratio, and `run`
 * (library lookup, exit status of the command, signals, a command that cannot be run, and the
 * trace list protocol, simulated by a shell command that appends a crafted trace to
 * $PERFSHIM_TRACE_LIST the way the shim does).
 */
#include "test_util.h"
#include "trace_builder.h"
#include "trace_format.h"

#include <check.h>
#include <stdarg.h>
#include <sys/wait.h>

#ifndef PA_TEST_PERFSHIM
#error "PA_TEST_PERFSHIM must name the perfshim executable"
#endif

typedef struct {
    int status; /* exit status, or 128 + signal */
    char *out;  /* stdout */
    char *err;  /* stderr */
} result_t;

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    char *buf = NULL;
    size_t cap = 0, len = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            buf = realloc(buf, cap);
        }
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0)
            break;
    }
    buf[len] = 0;
    fclose(f);
    return buf;
}

/* Runs perfshim with the given arguments (NULL-terminated); env and env2 are "NAME=value" or
 * NULL. */
static result_t run_env(const char *env, const char *env2, ...)
{
    const char *argv[64];
    int argc = 0;
    argv[argc++] = PA_TEST_PERFSHIM;
    va_list ap;
    va_start(ap, env2);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && argc < 63)
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    char out[4200], err[4200];
    snprintf(out, sizeof out, "%s", tu_path("stdout.txt"));
    snprintf(err, sizeof err, "%s", tu_path("stderr.txt"));
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (!freopen(out, "w", stdout) || !freopen(err, "w", stderr))
            _exit(99);
        if (env)
            putenv((char *)env);
        if (env2)
            putenv((char *)env2);
        execv(argv[0], (char *const *)argv);
        _exit(98);
    }
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    result_t r = {0};
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    r.out = slurp(out);
    r.err = slurp(err);
    return r;
}

#define run(...) run_env(NULL, NULL, __VA_ARGS__, (const char *)NULL)
#define run_with(env, ...) run_env(env, NULL, __VA_ARGS__, (const char *)NULL)
#define run_with2(env, env2, ...) run_env(env, env2, __VA_ARGS__, (const char *)NULL)

static void done(result_t *r)
{
    free(r->out);
    free(r->err);
}

#define EXPECT(r, st, stream, needle)                                                              \
    ck_assert_msg((r).status == (st) && strstr((r).stream, needle),                                \
                  "status %d (want %d); %s lacks '%s'\nstdout:\n%s\nstderr:\n%s", (r).status, st,  \
                  #stream, needle, (r).out, (r).err)

static const char *typical_path(void)
{
    static char path[4200];
    if (!path[0]) {
        snprintf(path, sizeof path, "%s", tu_path("typical.trace"));
        tb_buf_t f = {0};
        tb_typical(&f, NULL);
        ck_assert_int_eq(tb_write_file(path, f.data, f.len), 0);
        tb_free(&f);
    }
    return path;
}

/* ---- help, version, usage errors
 * ----------------------------------------------------------------- */

START_TEST(test_help_and_version)
{
    result_t r = run("--version");
    EXPECT(r, 0, out, "trace format version 1");
    done(&r);
    r = run("--help");
    EXPECT(r, 0, out, "Usage: perfshim COMMAND");
    done(&r);
    r = run("help", "leaks");
    EXPECT(r, 0, out, "Usage: perfshim leaks");
    done(&r);
    r = run("leaks", "--help");
    EXPECT(r, 0, out, "--suppressions FILE");
    done(&r);
    r = run("summary", "-h");
    EXPECT(r, 0, out, "Usage: perfshim summary");
    done(&r);
    r = run("run", "--help");
    EXPECT(r, 0, out, "PERFSHIM_LIB");
    done(&r);
    r = run("help", "frobnicate");
    EXPECT(r, 2, err, "unknown command 'frobnicate'");
    done(&r);
}
END_TEST

START_TEST(test_usage_errors)
{
    result_t r = run_env(NULL, NULL, (const char *)NULL);
    EXPECT(r, 2, err, "Usage:");
    done(&r);
    r = run("frobnicate");
    EXPECT(r, 2, err, "unknown command 'frobnicate'");
    done(&r);
    r = run("--frob");
    EXPECT(r, 2, err, "unknown option '--frob'");
    done(&r);
    r = run("leaks", "--bogus", typical_path());
    EXPECT(r, 2, err, "unknown option '--bogus'");
    done(&r);
    r = run("leaks", "-x", typical_path());
    EXPECT(r, 2, err, "unknown option '-x'");
    done(&r);
    r = run("summary", "--fail-on-leak", typical_path());
    EXPECT(r, 2, err, "unknown option '--fail-on-leak'");
    done(&r);
    r = run("leaks", typical_path(), "--top");
    EXPECT(r, 2, err, "option '--top' needs an argument");
    done(&r);
    r = run("leaks", "--top", "ten", typical_path());
    EXPECT(r, 2, err, "invalid --top 'ten'");
    done(&r);
    r = run("leaks");
    EXPECT(r, 2, err, "no trace file given");
    done(&r);
    r = run("run");
    EXPECT(r, 2, err, "no command given");
    done(&r);
}
END_TEST

/* ---- leaks
 * ---------------------------------------------------------------------------------------- */

START_TEST(test_leaks_text)
{
    result_t r = run("leaks", typical_path());
    EXPECT(r, 0, out, "SUMMARY: 1200 bytes leaked in 3 blocks (2 stacks)");
    EXPECT(r, 0, out, "perfshim leak report for /nonexistent/prog (pid 4242)");
    EXPECT(r, 0, out,
           "Leak 1 of 2: 1000 bytes in 1 block\n    #0 prog+0x3000\n    #1 prog+0x2000\n");
    EXPECT(r, 0, err, "cannot open module /nonexistent/prog");
    done(&r);
    r = run("leaks", "--fail-on-leak", typical_path());
    EXPECT(r, 1, out, "SUMMARY: 1200 bytes");
    done(&r);
    r = run("leaks", "--top", "1", typical_path());
    EXPECT(r, 0, out, "(the 1 largest shown; --top 0 shows all)");
    ck_assert(!strstr(r.out, "Leak 2 of 2"));
    done(&r);
}
END_TEST

/* Text reports print strings from the trace (program, argv, module paths, the shim's
 * messages): a trace must not be able to send escape sequences to the terminal. */
START_TEST(test_no_control_characters)
{
    const char *path = tu_path("escape.trace");
    tb_buf_t f = {0}, p = {0};
    tb_file_header(&f, PS_TRACE_VERSION);
    const char *argv[] = {"prog\x1b[2J", "--x\x07"};
    tb_process(&p, 7, "/bin/evil\x1b]0;title\x07", 2, argv);
    tb_chunk(&f, PS_CHUNK_PROCESS, &p);
    p.len = 0;
    tb_module_t m = {0x400000, 0x400000, 0x500000, "/nonexistent/lib\x1b[31m.so", NULL, 0};
    tb_modules(&p, &m, 1);
    tb_chunk(&f, PS_CHUNK_MODULES, &p);
    p.len = 0;
    uint64_t a[] = {0x401000};
    tb_stacks_begin(&p, 1);
    tb_stack(&p, 1, 1, a);
    tb_chunk(&f, PS_CHUNK_STACKS, &p);
    p.len = 0;
    tb_u32(&p, 1);
    tb_str(&p, "shim says \x1b[5m hello");
    tb_chunk(&f, PS_CHUNK_MESSAGE, &p);
    p.len = 0;
    tb_row_t row = {1, 1, 10, 0, 0, 1, 10, 10};
    tb_snapshot(&p, PS_SNAP_EXIT, &row, 1, 10, 0, 0);
    tb_chunk(&f, PS_CHUNK_SNAPSHOT, &p);
    ck_assert_int_eq(tb_write_file(path, f.data, f.len), 0);
    result_t r = run("leaks", path);
    EXPECT(r, 0, out, "perfshim leak report for /bin/evil?]0;title? (pid 7)");
    EXPECT(r, 0, out, "command:  prog?[2J --x?");
    EXPECT(r, 0, out, "#0 lib?[31m.so+0x1000");
    EXPECT(r, 0, out, "shim warning: shim says ?[5m hello");
    ck_assert_msg(!strchr(r.out, 0x1b) && !strchr(r.out, 0x07), "%s", r.out);
    ck_assert_msg(!strchr(r.err, 0x1b) && !strchr(r.err, 0x07), "%s", r.err);
    done(&r);
    tb_free(&f);
    tb_free(&p);
}
END_TEST

/* A trace's head into f: process pid running /nonexistent/prog, mapped at 0x400000 (its frames
 * then read prog+OFFSET); p is scratch, left empty. */
static void prog_head(tb_buf_t *f, tb_buf_t *p, uint64_t pid)
{
    tb_file_header(f, PS_TRACE_VERSION);
    const char *argv[] = {"prog"};
    tb_process(p, pid, "/nonexistent/prog", 1, argv);
    tb_chunk(f, PS_CHUNK_PROCESS, p);
    p->len = 0;
    tb_module_t m = {0x400000, 0x400000, 0x500000, "/nonexistent/prog", NULL, 0};
    tb_modules(p, &m, 1);
    tb_chunk(f, PS_CHUNK_MODULES, p);
    p->len = 0;
}

/* A trace whose stacks reach one address through many nodes of the frame tree (a recursion,
 * stacks sharing callers) and one stack cut short (PS_FRAME_CUT), written with the given rows
 * (allocations per stack id 1..5). */
static void write_walk_trace(const char *path, const uint64_t allocs[5])
{
    tb_buf_t f = {0}, p = {0};
    prog_head(&f, &p, 11);
    static const uint64_t s1[] = {0x401000, 0x402000, 0x403000},
                          s2[] = {0x401000, 0x402000, PS_FRAME_CUT},
                          s3[] = {0x401000, 0x402000, 0x402000, 0x402000, 0x403000},
                          s4[] = {0x404000, 0x402000, 0x403000},
                          s5[] = {0x401000, 0x402000, 0x403000}; /* (stack 1's frames again) */
    tb_stacks_begin(&p, 5);
    tb_stack(&p, 1, 3, s1);
    tb_stack(&p, 2, 3, s2);
    tb_stack(&p, 3, 5, s3);
    tb_stack(&p, 4, 3, s4);
    tb_stack(&p, 5, 3, s5);
    tb_chunk(&f, PS_CHUNK_STACKS, &p);
    p.len = 0;
    tb_row_t rows[5];
    for (uint32_t i = 0; i < 5; i++)
        rows[i] = (tb_row_t){i + 1, allocs[i], allocs[i] * 16, allocs[i], allocs[i] * 16, 0, 0, 16};
    tb_snapshot(&p, PS_SNAP_EXIT, rows, 5, 16, 0, 0);
    tb_chunk(&f, PS_CHUNK_SNAPSHOT, &p);
    ck_assert_int_eq(tb_write_file(path, f.data, f.len), 0);
    tb_free(&f);
    tb_free(&p);
}

/* diff's and export's sites are keyed by export's walk of the frame tree (export.c keeps each
 * address's frames by its index in the tree's address table): a site per distinct visible
 * stack, the same frames in the same order for every node of an address, a stack cut short
 * its own site. The oracle: the frames written in the trace. */
START_TEST(test_diff_walk_keys)
{
    char a[4200], b[4200];
    snprintf(a, sizeof a, "%s", tu_path("walk_a.trace"));
    snprintf(b, sizeof b, "%s", tu_path("walk_b.trace"));
    static const uint64_t base[5] = {1, 2, 3, 4, 5}, more[5] = {11, 22, 33, 44, 55};
    write_walk_trace(a, base);
    write_walk_trace(b, more);
    result_t r = run("diff", "--top", "0", a, b);
    /* stacks 1 and 5 are one site (6 -> 66 allocations); 2 (cut), 3 (recursion), 4: 4 sites */
    EXPECT(r, 0, out, "sites: 4 in both, 0 only in base, 0 only in new");
    EXPECT(r, 0, out, "Allocations: 4 sites changed");
    EXPECT(r, 0, out,
           "6              66            +60  +1000.0%  prog+0x1000\n      #0 prog+0x1000\n"
           "      #1 prog+0x2000\n      #2 prog+0x3000\n\n");
    EXPECT(r, 0, out,
           "3              33            +30  +1000.0%  prog+0x1000\n      #0 prog+0x1000\n"
           "      #1 prog+0x2000\n      #2 prog+0x2000\n      #3 prog+0x2000\n"
           "      #4 prog+0x3000\n");
    EXPECT(r, 0, out,
           "4              44            +40  +1000.0%  prog+0x4000\n      #0 prog+0x4000\n"
           "      #1 prog+0x2000\n      #2 prog+0x3000\n");
    EXPECT(r, 0, out,
           "2              22            +20  +1000.0%  prog+0x1000\n      (cut short after the "
           "last frame");
    EXPECT(r, 0, out, "at that moment)\n      #0 prog+0x1000\n      #1 prog+0x2000\n");
    done(&r);
    r = run("export", "--format", "folded", "--metric", "alloc_objects", "-o", "-", b);
    EXPECT(r, 0, out, "prog+0x3000;prog+0x2000;prog+0x1000 66\n");
    EXPECT(r, 0, out, "prog+0x3000;prog+0x2000;prog+0x2000;prog+0x2000;prog+0x1000 33\n");
    EXPECT(r, 0, out, "prog+0x3000;prog+0x2000;prog+0x4000 44\n");
    done(&r);
}
END_TEST

/* The model frees its index of the frame tree at an exit snapshot (the shim writes no stack
 * after it): a stack after one all the same (a trace put together by hand) is added through an
 * index made again, its frames shared with the stacks before it. */
START_TEST(test_stack_after_exit_snapshot)
{
    const char *path = tu_path("after_exit.trace");
    tb_buf_t f = {0}, p = {0};
    prog_head(&f, &p, 12);
    static const uint64_t s1[] = {0x401000, 0x402000, 0x403000},
                          s2[] = {0x404000, 0x402000, 0x403000};
    tb_stacks_begin(&p, 1);
    tb_stack(&p, 1, 3, s1);
    tb_chunk(&f, PS_CHUNK_STACKS, &p);
    p.len = 0;
    tb_row_t rows[2] = {{1, 1, 100, 0, 0, 1, 100, 100}, {2, 2, 64, 0, 0, 2, 64, 64}};
    tb_snapshot(&p, PS_SNAP_EXIT, rows, 1, 100, 0, 0);
    tb_chunk(&f, PS_CHUNK_SNAPSHOT, &p);
    p.len = 0;
    tb_stacks_begin(&p, 1);
    tb_stack(&p, 2, 3, s2);
    tb_chunk(&f, PS_CHUNK_STACKS, &p);
    p.len = 0;
    tb_snapshot_at(&p, 2 * TB_SNAPSHOT_TIME_NS, PS_SNAP_EXIT, rows, 2, 164, 0, 0);
    tb_chunk(&f, PS_CHUNK_SNAPSHOT, &p);
    ck_assert_int_eq(tb_write_file(path, f.data, f.len), 0);
    result_t r = run("leaks", path);
    EXPECT(r, 0, out,
           "Leak 1 of 2: 100 bytes in 1 block\n    #0 prog+0x1000\n    #1 prog+0x2000\n"
           "    #2 prog+0x3000\n");
    EXPECT(r, 0, out,
           "Leak 2 of 2: 64 bytes in 2 blocks\n    #0 prog+0x4000\n    #1 prog+0x2000\n"
           "    #2 prog+0x3000\n");
    done(&r);
    tb_free(&f);
    tb_free(&p);
}
END_TEST

START_TEST(test_leaks_json)
{
    result_t r = run("leaks", "--json", typical_path());
    EXPECT(r, 0, out,
           "{\n  \"format\": \"perfshim-leaks\",\n  \"version\": 1,\n  \"process\": {\n"
           "    \"pid\": 4242,");
    EXPECT(r, 0, out, "\"leaked_blocks\": 3,\n    \"leaked_bytes\": 1200,");
    EXPECT(r, 0, out, "\"leaks\": [\n    {\n      \"blocks\": 1,\n      \"bytes\": 1000,");
    EXPECT(r, 0, out,
           "{\"function\": null, \"file\": null, \"line\": null, \"module\": "
           "\"/nonexistent/prog\", \"address\": \"0x403000\"");
    EXPECT(r, 0, out, "\"complete\": true,");
    EXPECT(r, 0, out,
           "\"cannot open module /nonexistent/prog: its frames are shown as "
           "module+offset\"");
    ck_assert(r.out[0] == '{');
    done(&r);
    /* several traces: an array */
    r = run("leaks", "--json", typical_path(), typical_path());
    ck_assert_int_eq(r.status, 0);
    ck_assert(r.out[0] == '[');
    ck_assert(strstr(strstr(r.out, "perfshim-leaks") + 1, "perfshim-leaks"));
    done(&r);
}
END_TEST

START_TEST(test_suppressions)
{
    char supp[4200];
    snprintf(supp, sizeof supp, "%s", tu_path("supp.txt"));
    FILE *f = fopen(supp, "w");
    fputs("# shared frame of both leaks\n\nprog+0x2000\n", f);
    fclose(f);
    result_t r = run("leaks", "--fail-on-leak", "--suppressions", supp, "--json", typical_path());
    EXPECT(r, 0, out, "\"suppressed_blocks\": 3,\n    \"suppressed_bytes\": 1200,");
    EXPECT(r, 0, out, "\"leaked_bytes\": 0,");
    done(&r);
    r = run("leaks", "--suppressions", supp, typical_path());
    EXPECT(r, 0, out, "SUMMARY: no leaks\n  suppressed: 1200 bytes in 3 blocks (2 stacks)");
    done(&r);
    r = run("leaks", "--suppressions", tu_path("nope.txt"), typical_path());
    EXPECT(r, 2, err, "cannot read suppressions file");
    done(&r);
}
END_TEST

START_TEST(test_unreadable_inputs)
{
    result_t r = run("leaks", tu_path("does-not-exist.trace"));
    EXPECT(r, 2, err, "does-not-exist.trace: cannot open: No such file or directory");
    done(&r);

    tb_buf_t f = {0}, p = {0};
    tb_typical(&f, NULL);
    f.data[8] = PS_TRACE_VERSION + 1;
    char newer[4200];
    snprintf(newer, sizeof newer, "%s", tu_path("newer.trace"));
    ck_assert_int_eq(tb_write_file(newer, f.data, f.len), 0);
    r = run("leaks", newer);
    EXPECT(r, 2, err, "trace format version 2 is newer than this perfshim supports (version 1)");
    done(&r);
    tb_free(&f);

    tb_file_header(&f, PS_TRACE_VERSION);
    const char *argv[] = {"x"};
    tb_process(&p, 1, "/x", 1, argv);
    tb_chunk(&f, PS_CHUNK_PROCESS, &p);
    char nosnap[4200];
    snprintf(nosnap, sizeof nosnap, "%s", tu_path("nosnap.trace"));
    ck_assert_int_eq(tb_write_file(nosnap, f.data, f.len), 0);
    r = run("summary", nosnap);
    EXPECT(r, 2, err, "no snapshot: the process ended before writing one");
    done(&r);
    /* one bad trace among good ones: the good one is reported, the status says 2 */
    r = run("leaks", nosnap, typical_path());
    EXPECT(r, 2, out, "SUMMARY: 1200 bytes leaked");
    done(&r);
    r = run("leaks", "/");
    EXPECT(r, 2, err, "is a directory");
    done(&r);
    tb_free(&f);
    tb_free(&p);
}
END_TEST

START_TEST(test_damaged_trace_reported)
{
    tb_buf_t f = {0};
    size_t o[5];
    tb_typical(&f, o);
    char path[4200];
    snprintf(path, sizeof path, "%s", tu_path("damaged.trace"));
    f.data[o[1] + PS_CHUNK_HEADER_SIZE + 2] ^= 0xff;             /* MODULES payload */
    ck_assert_int_eq(tb_write_file(path, f.data, f.len - 3), 0); /* and END cut short */
    result_t r = run("leaks", "--json", path);
    char want[128];
    snprintf(want, sizeof want, "bad CRC in chunk at offset %zu", o[1]);
    EXPECT(r, 0, err, want);
    snprintf(want, sizeof want, "truncated chunk at offset %zu", o[4]);
    EXPECT(r, 0, err, want);
    EXPECT(r, 0, out, "\"complete\": false,");
    EXPECT(r, 0, out, "\"leaked_bytes\": 1200,");
    /* without the module map, frames are in no module */
    EXPECT(r, 0, out, "\"module\": \"[unknown]\", \"address\": \"0x403000\"");
    done(&r);
    r = run("leaks", "--fail-on-leak", path);
    EXPECT(r, 1, out, "NOTE: incomplete trace (damaged)");
    done(&r);
    tb_free(&f);
}
END_TEST

START_TEST(test_summary)
{
    result_t r = run("summary", "--json", typical_path());
    EXPECT(r, 0, out, "\"format\": \"perfshim-summary\",");
    EXPECT(r, 0, out, "\"allocs\": 16,\n    \"frees\": 13,\n    \"alloc_bytes\": 11500,");
    EXPECT(r, 0, out, "\"untracked_frees\": 3");
    EXPECT(r, 0, out, "\"top_sites\": [\n    {\n      \"allocs\": 10,\n      \"bytes\": 10000,");
    done(&r);
    r = run("summary", "--top", "1", typical_path());
    EXPECT(r, 0, out, "Top 1 of 3 allocation sites by bytes allocated:");
    EXPECT(r, 0, out, "peak live:        5.9 KiB");
    done(&r);
}
END_TEST

/* ---- summary: pool statistics, fragmentation ------------------------------------------------ */

static const char *pool_path(void)
{
    static char path[4200];
    if (!path[0]) {
        snprintf(path, sizeof path, "%s", tu_path("pool.trace"));
        tb_buf_t f = {0};
        tb_typical_pool(&f, NULL);
        ck_assert_int_eq(tb_write_file(path, f.data, f.len), 0);
        tb_free(&f);
    }
    return path;
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

START_TEST(test_summary_pool_text)
{
    result_t r = run("summary", pool_path());
    EXPECT(r, 0, out,
           "\nPool (requests up to 1024 bytes):\n"
           "  committed:        4.0 MiB of 16.0 GiB reserved (high-water mark)\n"
           "  in slabs:         2.0 MiB\n"
           "  empty slabs:      64.0 KiB resident, 128.0 KiB released to the OS\n"
           "  returned to OS:   256.0 KiB since start\n"
           "  thread caches:    3\n"
           "  exhausted:        no\n");
    EXPECT(r, 0, out,
           "\n      16        1000     99.0%        10         4             0    1.6 KiB    "
           "3.1 KiB      800 B        0 B\n"
           "      48         200     75.0%        50        20             5    4.7 KiB      "
           "960 B        0 B   64.0 KiB\n"
           "    1024           3      0.0%         3         0             1    1.0 KiB        "
           "0 B    2.0 KiB        0 B\n");
    EXPECT(r, 0, out, "    size      allocs  hit rate   refills   flushes  direct frees");
    ck_assert_msg(!strstr(r.out, "\n      32 "), "unused class listed:\n%s", r.out);
    EXPECT(r, 0, out,
           "  untracked frees:  3\n"
           "  fragmentation:    RSS is 349.5x the peak live heap (peak RSS / peak live)\n");
    /* the section sits between the totals and the sites */
    const char *frag = strstr(r.out, "fragmentation:"), *pool = strstr(r.out, "Pool (");
    const char *top = strstr(r.out, "Top 3 of 3");
    ck_assert(frag && pool && top && frag < pool && pool < top);
    done(&r);
    /* no pool data: no section, the fragmentation line still there */
    r = run("summary", typical_path());
    EXPECT(r, 0, out, "fragmentation:    RSS is 349.5x the peak live heap");
    ck_assert(!strstr(r.out, "Pool"));
    done(&r);
}
END_TEST

START_TEST(test_summary_pool_json)
{
    result_t r = run("summary", "--json", pool_path());
    EXPECT(r, 0, out, "    \"untracked_frees\": 3,\n    \"fragmentation\": 349.525\n  },");
    EXPECT(
        r, 0, out,
        "  ],\n"
        "  \"pool\": {\n"
        "    \"max_size\": 1024,\n"
        "    \"totals\": {\n"
        "      \"reserved\": 17179869184,\n"
        "      \"committed\": 4194304,\n"
        "      \"slab_bytes\": 2097152,\n"
        "      \"empty_bytes\": 65536,\n"
        "      \"released_bytes\": 131072,\n"
        "      \"returned_bytes\": 262144,\n"
        "      \"threads\": 3,\n"
        "      \"exhausted\": false\n"
        "    },\n"
        "    \"classes\": [\n"
        "      {\"size\": 16, \"slabs\": 2, \"allocs\": 1000, \"hits\": 990, \"hit_rate\": 0.99, "
        "\"misses\": 10, \"refills\": 10, \"flushes\": 4, \"flushed_blocks\": 256, "
        "\"direct_frees\": 0, \"bytes_in_use\": 1600, \"bytes_cached\": 3200, "
        "\"bytes_central\": 800, \"bytes_returned\": 0},\n"
        "      {\"size\": 48, \"slabs\": 1, \"allocs\": 200, \"hits\": 150, \"hit_rate\": 0.75, "
        "\"misses\": 50, \"refills\": 50, \"flushes\": 20, \"flushed_blocks\": 640, "
        "\"direct_frees\": 5, \"bytes_in_use\": 4800, \"bytes_cached\": 960, "
        "\"bytes_central\": 0, \"bytes_returned\": 65536},\n"
        "      {\"size\": 1024, \"slabs\": 1, \"allocs\": 3, \"hits\": 0, \"hit_rate\": 0, "
        "\"misses\": 3, \"refills\": 3, \"flushes\": 0, \"flushed_blocks\": 0, "
        "\"direct_frees\": 1, \"bytes_in_use\": 1024, \"bytes_cached\": 0, "
        "\"bytes_central\": 2048, \"bytes_returned\": 0}\n"
        "    ]\n"
        "  },\n"
        "  \"complete\": true,");
    ck_assert_uint_eq(count(r.out, "\"size\":"), 3); /* the unused class is left out */
    done(&r);
    r = run("summary", "--json", typical_path());
    EXPECT(r, 0, out, "  ],\n  \"pool\": null,\n  \"complete\": true,");
    done(&r);
}
END_TEST

/* Builds PROCESS, SNAPSHOT (peak live given), POOL (when pool is not NULL), END. */
static void write_small(const char *path, uint64_t peak_live, const tb_pool_totals_t *pool,
                        const tb_pool_class_t *classes, uint32_t nclasses)
{
    tb_buf_t f = {0}, p = {0};
    tb_file_header(&f, PS_TRACE_VERSION);
    const char *argv[] = {"x"};
    tb_process(&p, 9, "/x", 1, argv);
    tb_chunk(&f, PS_CHUNK_PROCESS, &p);
    p.len = 0;
    tb_row_t row = {1, 2, 64, 2, 64, 0, 0, 0};
    tb_snapshot(&p, PS_SNAP_EXIT, &row, 1, peak_live, 4096, 8192);
    tb_chunk(&f, PS_CHUNK_SNAPSHOT, &p);
    if (pool) {
        p.len = 0;
        tb_pool(&p, pool, classes, nclasses, PS_POOL_ROW_SIZE);
        tb_chunk(&f, PS_CHUNK_POOL, &p);
    }
    p.len = 0;
    tb_end(&p, pool ? 3 : 2);
    tb_chunk(&f, PS_CHUNK_END, &p);
    ck_assert_int_eq(tb_write_file(path, f.data, f.len), 0);
    tb_free(&f);
    tb_free(&p);
}

START_TEST(test_summary_pool_edges)
{
    char path[4200];
    snprintf(path, sizeof path, "%s", tu_path("edges.trace"));

    /* no peak live bytes: no ratio */
    write_small(path, 0, NULL, NULL, 0);
    result_t r = run("summary", "--json", path);
    EXPECT(r, 0, out, "\"untracked_frees\": 3,\n    \"fragmentation\": null\n  },");
    done(&r);
    r = run("summary", path);
    ck_assert_msg(!strstr(r.out, "fragmentation"), "%s", r.out);
    done(&r);

    /* an exhausted pool that served nothing */
    tb_pool_totals_t ex = tb_typical_pool_totals;
    ex.exhausted = 1;
    write_small(path, 4096, &ex, tb_typical_pool_classes + 1, 1);
    r = run("summary", path);
    EXPECT(r, 0, out,
           "  exhausted:        yes: the reservation ran out, later small requests went to the C "
           "library\n\n  (no block was allocated from the pool)\n");
    EXPECT(r, 0, out, "  fragmentation:    RSS is 2.0x the peak live heap");
    ck_assert(!strstr(r.out, "hit rate"));
    done(&r);
    r = run("summary", "--json", path);
    EXPECT(r, 0, out, "\"exhausted\": true\n    },\n    \"classes\": []\n  },");
    EXPECT(r, 0, out, "\"fragmentation\": 2\n");
    done(&r);

    /* a POOL chunk of another moment: not shown, and said so */
    ex.time_ns = 7;
    write_small(path, 4096, &ex, tb_typical_pool_classes, 4);
    r = run("summary", "--json", path);
    EXPECT(r, 0, out, "\"pool\": null,");
    EXPECT(r, 0, err, "is for time 7 ns, not for the snapshot before it (1000000 ns); ignored");
    done(&r);

    /* a damaged POOL chunk: the rest of the report stands */
    tb_buf_t f = {0};
    size_t o[6];
    tb_typical_pool(&f, o);
    f.data[o[4] + PS_CHUNK_HEADER_SIZE + 3] ^= 0x10; /* CRC mismatch */
    ck_assert_int_eq(tb_write_file(path, f.data, f.len), 0);
    r = run("summary", path);
    char want[64];
    snprintf(want, sizeof want, "bad CRC in chunk at offset %zu", o[4]);
    EXPECT(r, 0, err, want);
    EXPECT(r, 0, out, "NOTE: incomplete trace (damaged)");
    ck_assert(!strstr(r.out, "Pool ("));
    done(&r);
    tb_free(&f);
}
END_TEST

/* ---- run
 * ------------------------------------------------------------------------------------------ */

static const char *fake_lib(void)
{
    static char env[4300];
    if (!env[0]) {
        const char *p = tu_path("libfake.so"); /* not an ELF file: ld.so ignores it */
        FILE *f = fopen(p, "w");
        fclose(f);
        snprintf(env, sizeof env, "PERFSHIM_LIB=%s", p);
    }
    return env;
}

START_TEST(test_run_lib_missing)
{
    result_t r = run_with("PERFSHIM_LIB=/nonexistent/libperfshim.so", "run", "--", "true");
    EXPECT(r, 2, err, "PERFSHIM_LIB=/nonexistent/libperfshim.so");
    done(&r);
}
END_TEST

START_TEST(test_run_exit_status)
{
    result_t r = run_with(fake_lib(), "run", "--", "sh", "-c", "exit 3");
    EXPECT(r, 3, err, "wrote no trace");
    done(&r);
    r = run_with(fake_lib(), "run", "sh", "-c", "kill -TERM $$");
    EXPECT(r, 128 + 15, err, "killed by signal 15");
    done(&r);
    r = run_with(fake_lib(), "run", "--", "/nonexistent/command", "arg");
    EXPECT(r, 127, err, "cannot run /nonexistent/command: No such file or directory");
    done(&r);
    /* the command succeeded but nothing was traced: never a silent success */
    r = run_with(fake_lib(), "run", "--json", "--", "true");
    EXPECT(r, 2, out, "[]");
    done(&r);
}
END_TEST

START_TEST(test_run_environment)
{
    char cmd[9000];
    const char *lib = fake_lib() + strlen("PERFSHIM_LIB=");
    snprintf(cmd, sizeof cmd,
             "echo \"preload=$LD_PRELOAD\"; echo \"output=$PERFSHIM_OUTPUT\"; "
             "echo \"list=$PERFSHIM_TRACE_LIST\" > %s; echo %s >> \"$PERFSHIM_TRACE_LIST\"",
             tu_path("listname.txt"), typical_path());
    result_t r =
        run_with(fake_lib(), "run", "-o", "/tmp/perfshim-test.%p.trace", "--", "sh", "-c", cmd);
    char want[4400];
    snprintf(want, sizeof want, "preload=%s\n", lib);
    EXPECT(r, 0, out, want);
    EXPECT(r, 0, out, "output=/tmp/perfshim-test.%p.trace\n");
    /* text report on stderr, not mixed into the command's stdout */
    EXPECT(r, 0, err, "SUMMARY: 1200 bytes leaked in 3 blocks");
    ck_assert(!strstr(r.out, "SUMMARY"));
    done(&r);
    /* the temporary list is gone */
    char *listname = slurp(tu_path("listname.txt"));
    listname[strcspn(listname, "\n")] = 0;
    ck_assert(strncmp(listname, "list=", 5) == 0);
    ck_assert_int_ne(access(listname + 5, F_OK), 0);
    free(listname);

    snprintf(cmd, sizeof cmd,
             "echo %s >> \"$PERFSHIM_TRACE_LIST\"; echo %s >> "
             "\"$PERFSHIM_TRACE_LIST\"",
             typical_path(), typical_path());
    r = run_with(fake_lib(), "run", "--json", "--fail-on-leak", "--", "sh", "-c", cmd);
    EXPECT(r, 1, out, "[\n  {\n    \"format\": \"perfshim-leaks\"");
    done(&r);
    /* the command's failure comes first */
    snprintf(cmd, sizeof cmd, "echo %s >> \"$PERFSHIM_TRACE_LIST\"; exit 5", typical_path());
    r = run_with(fake_lib(), "run", "--fail-on-leak", "--", "sh", "-c", cmd);
    EXPECT(r, 5, err, "SUMMARY: 1200 bytes leaked");
    done(&r);
}
END_TEST

START_TEST(test_run_preload_kept)
{
    /* an existing LD_PRELOAD stays, after the shim */
    result_t r = run_with2(fake_lib(), "LD_PRELOAD=libc.so.6", "run", "--", "sh", "-c",
                           "echo \"p=$LD_PRELOAD\"");
    char want[4400];
    snprintf(want, sizeof want, "p=%s:libc.so.6\n", fake_lib() + strlen("PERFSHIM_LIB="));
    EXPECT(r, 2, out, want);
    done(&r);
}
END_TEST

int main(void)
{
    tu_setup("check_analyzer_cli");
    /* Sanitizer builds: perfshim itself sees the LD_PRELOAD some tests set; ASan must not
     * refuse to start because its runtime is not first in it. */
    const char *asan = getenv("ASAN_OPTIONS");
    char opts[1024];
    snprintf(opts, sizeof opts, "%s%sverify_asan_link_order=0", asan ? asan : "",
             asan && *asan ? ":" : "");
    setenv("ASAN_OPTIONS", opts, 1);
    Suite *s = suite_create("analyzer_cli");
    TCase *tc = tcase_create("cli");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_help_and_version);
    tcase_add_test(tc, test_usage_errors);
    tcase_add_test(tc, test_leaks_text);
    tcase_add_test(tc, test_no_control_characters);
    tcase_add_test(tc, test_diff_walk_keys);
    tcase_add_test(tc, test_stack_after_exit_snapshot);
    tcase_add_test(tc, test_leaks_json);
    tcase_add_test(tc, test_suppressions);
    tcase_add_test(tc, test_unreadable_inputs);
    tcase_add_test(tc, test_damaged_trace_reported);
    tcase_add_test(tc, test_summary);
    tcase_add_test(tc, test_summary_pool_text);
    tcase_add_test(tc, test_summary_pool_json);
    tcase_add_test(tc, test_summary_pool_edges);
    tcase_add_test(tc, test_run_lib_missing);
    tcase_add_test(tc, test_run_exit_status);
    tcase_add_test(tc, test_run_environment);
    tcase_add_test(tc, test_run_preload_kept);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
