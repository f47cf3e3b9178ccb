/* SPDX-License-Identifier: MIT */
/*
 * test_util.h — helpers shared by the analyzer's Check tests: a private temporary directory,
 * silencing stderr around expected error messages, searching string lists, comparing a decoded
 * pool size class with the one trace_builder encoded.
 */
#ifndef PERFSHIM_TESTS_ANALYZER_TEST_UTIL_H
#define PERFSHIM_TESTS_ANALYZER_TEST_UTIL_H

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

/* Creates the temporary directory (once, in main, before the runner forks). */
static inline void tu_setup(const char *name)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(tu_dir, sizeof tu_dir, "%s/%s.XXXXXX", tmp && *tmp ? tmp : "/tmp", name);
    if (!mkdtemp(tu_dir)) {
        perror("mkdtemp");
        exit(2);
    }
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
    nftw(tu_dir, tu_rm, 16, FTW_DEPTH | FTW_PHYS);
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

#endif /* PERFSHIM_TESTS_ANALYZER_TEST_UTIL_H */
