/* SPDX-License-Identifier: MIT */
/*
 * test_util.h — helpers shared by the analyzer's Check tests: a private temporary directory,
 * silencing stderr around expected error messages, searching string lists, comparing a decoded
 * pool size class with the one trace_builder encoded, crafted traces written and loaded (the
 * typical trace with chunks added), `advise --json` on one, and a suite's run.
 */
#ifndef PERFSHIM_TESTS_ANALYZER_TEST_UTIL_H
#define PERFSHIM_TESTS_ANALYZER_TEST_UTIL_H

#include "advise.h"
#include "model.h"
#include "trace_builder.h"
#include "util.h"

#include <check.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tu_dir[1024];
static pid_t tu_owner; /* the process that made tu_dir: the only one that removes it */

static inline void tu_teardown(void);
static inline void tu_at_exit(void)
{
    if (getpid() == tu_owner) /* not check's forked test processes, which exit too */
        tu_teardown();
}

/* Creates the temporary directory (once, in main, before the runner forks), removed when main's
 * process exits (also where main never calls tu_teardown: such suites left one directory in
 * /tmp per run). */
static inline void tu_setup(const char *name)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(tu_dir, sizeof tu_dir, "%s/%s.XXXXXX", tmp && *tmp ? tmp : "/tmp", name);
    if (!mkdtemp(tu_dir)) {
        perror("mkdtemp");
        exit(2);
    }
    tu_owner = getpid();
    atexit(tu_at_exit);
}

static inline int tu_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static inline void tu_teardown(void)
{
    if (tu_dir[0])
        nftw(tu_dir, tu_rm, 16, FTW_DEPTH | FTW_PHYS);
    tu_dir[0] = '\0';
}

/* A path inside the temporary directory (static buffer, one of 8 rotating). */
static inline const char *tu_path(const char *name)
{
    static char bufs[8][4096];
    static int k;
    char *b = bufs[k++ & 7];
    snprintf(b, sizeof bufs[0], "%s/%s", tu_dir, name);
    return b;
}

static inline bool tu_has(const pa_strlist_t *l, const char *needle)
{
    for (size_t i = 0; i < l->n; i++)
        if (strstr(l->items[i], needle))
            return true;
    return false;
}

/* Sends stderr to /dev/null until tu_stderr_restore(). */
static inline int tu_stderr_silence(void)
{
    fflush(stderr);
    int saved = dup(2);
    int fd = open("/dev/null", O_WRONLY);
    dup2(fd, 2);
    close(fd);
    return saved;
}

static inline void tu_stderr_restore(int saved)
{
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
}

/* Every field of a decoded POOL row equals the one trace_builder encoded. */
static inline void tu_pool_class_eq(const pa_pool_class_t *c, const tb_pool_class_t *x)
{
    ck_assert_uint_eq(c->size, x->size);
    ck_assert_uint_eq(c->slabs, x->slabs);
    ck_assert_uint_eq(c->allocs, x->allocs);
    ck_assert_uint_eq(c->hits, x->hits);
    ck_assert_uint_eq(c->misses, x->misses);
    ck_assert_uint_eq(c->refills, x->refills);
    ck_assert_uint_eq(c->flushes, x->flushes);
    ck_assert_uint_eq(c->flushed_blocks, x->flushed_blocks);
    ck_assert_uint_eq(c->direct_frees, x->direct_frees);
    ck_assert_uint_eq(c->bytes_in_use, x->bytes_in_use);
    ck_assert_uint_eq(c->bytes_cached, x->bytes_cached);
    ck_assert_uint_eq(c->bytes_central, x->bytes_central);
    ck_assert_uint_eq(c->bytes_returned, x->bytes_returned);
}

/* The typical trace (tb_typical_with: tb_typical with the chunks types[i], payloads p[i], before
 * its END) written to tu_path(name): that path. */
static inline const char *tu_typical_file(const char *name, const uint16_t *types,
                                          const tb_buf_t *p, size_t n)
{
    tb_buf_t f = {0};
    tb_typical_with(&f, types, p, n);
    const char *path = tu_path(name);
    ck_assert_int_eq(tb_write_file(path, f.data, f.len), 0);
    tb_free(&f);
    return path;
}

/* tu_typical_file, loaded into *t (damage is the caller's to check). */
static inline void tu_typical_load(const char *name, const uint16_t *types, const tb_buf_t *p,
                                   size_t n, pa_trace_t *t)
{
    ck_assert_int_eq(pa_model_load(tu_typical_file(name, types, p, n), true, t), PA_OK);
}

/* `perfshim advise --json` on the trace at path: its output (the caller frees it). */
static inline char *tu_advise_json(const char *path)
{
    char *out = NULL;
    size_t len = 0, nadvice = 0;
    FILE *m = open_memstream(&out, &len);
    ck_assert_ptr_nonnull(m);
    char *paths[] = {(char *)path};
    pa_advise_opts_t o = {.json = true, .quiet = true};
    ck_assert_int_eq(pa_advise_files(paths, 1, &o, m, &nadvice), PA_OK);
    fclose(m);
    return out;
}

/* Pieces of advice of rule id in advise's JSON text j. */
static inline int tu_count_rule(const char *j, const char *id)
{
    char needle[96];
    snprintf(needle, sizeof needle, "\"rule\": \"%s\"", id);
    int n = 0;
    for (const char *q = j; (q = strstr(q, needle)); q += strlen(needle))
        n++;
    return n;
}

/* Runs suite s, then removes the temporary directory (tu_setup): main's exit status. */
static inline int tu_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    tu_teardown();
    return failed ? 1 : 0;
}

#endif /* PERFSHIM_TESTS_ANALYZER_TEST_UTIL_H */
