/* SPDX-License-Identifier: MIT */
/*
 * pieces.c — the pieces of one process's trace (pieces.h).
 */
#include "pieces.h"

#include <dirent.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

unsigned long pa_pieces_number(const char *path, size_t *base_len)
{
    size_t len = strlen(path);
    *base_len = len;
    const char *p = path + len;
    while (p > path && p[-1] >= '0' && p[-1] <= '9')
        p--;
    size_t digits = (size_t)(path + len - p);
    if (digits == 0 || digits > 9 || *p == '0' || (size_t)(p - path) <= 5 ||
        strncmp(p - 5, ".part", 5) != 0)
        return 1;
    unsigned long k = strtoul(p, NULL, 10);
    if (k < 2)
        return 1;
    *base_len = (size_t)(p - 5 - path);
    return k;
}

static int mtime_of(const char *path, struct timespec *out)
{
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return -1;
    *out = st.st_mtim;
    return 0;
}

static int not_older(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec > b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec >= b->tv_nsec);
}

int pa_pieces_later(const char *path, char *out, size_t size)
{
    size_t base_len;
    unsigned long own = pa_pieces_number(path, &base_len);
    struct timespec mine;
    if (mtime_of(path, &mine) != 0)
        return 0;
    const char *slash = memrchr(path, '/', base_len);
    const char *name = slash ? slash + 1 : path;
    size_t nlen = base_len - (size_t)(name - path);
    char dir[PATH_MAX];
    if (slash)
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path) + 1, path);
    else
        snprintf(dir, sizeof dir, ".");
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    unsigned long best = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *n = de->d_name;
        if (strncmp(n, name, nlen) != 0)
            continue;
        size_t bl;
        unsigned long k = pa_pieces_number(n, &bl);
        if (bl != nlen || k <= own || k <= best)
            continue;
        char piece[PATH_MAX + 64];
        struct timespec t;
        snprintf(piece, sizeof piece, "%.*s%s", (int)(name - path), path, n);
        if (mtime_of(piece, &t) == 0 && not_older(&t, &mine))
            best = k;
    }
    closedir(d);
    if (!best)
        return 0;
    snprintf(out, size, "%.*s.part%lu", (int)base_len, path, best);
    return 1;
}

int pa_pieces_later_of_trace(const char *path, const char *options, char *out, size_t size)
{
    static const char key[] = "PERFSHIM_MAX_TRACE=";
    for (const char *l = options; l && *l;) {
        if (strncmp(l, key, sizeof key - 1) == 0) {
            const char *v = l + sizeof key - 1;
            if (*v == '0' && (v[1] == '\n' || v[1] == 0))
                return 0; /* unbounded: written in one piece */
            return pa_pieces_later(path, out, size);
        }
        const char *nl = strchr(l, '\n');
        l = nl ? nl + 1 : NULL;
    }
    return 0;
}

/* paths without those naming a file an earlier one names (the same device and inode: another
 * spelling, a link, or the same path twice), said once each: a merge must not add up one
 * process twice. Pointers into paths, in *kept (free it); their number, or (size_t)-1. */
static size_t distinct_files(char *const *paths, size_t n, char ***kept)
{
    struct stat *st = calloc(n ? n : 1, sizeof *st);
    bool *have = calloc(n ? n : 1, sizeof *have);
    *kept = calloc(n ? n : 1, sizeof **kept);
    if (!st || !have || !*kept) {
        free(st);
        free(have);
        free(*kept);
        *kept = NULL;
        return (size_t)-1;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        have[i] = stat(paths[i], &st[i]) == 0;
        size_t j = 0;
        for (; j < i; j++)
            if (have[i] && have[j] ? st[i].st_dev == st[j].st_dev && st[i].st_ino == st[j].st_ino
                                   : strcmp(paths[i], paths[j]) == 0)
                break;
        if (j < i)
            fprintf(stderr, "perfshim: %s: the same file as %s, given twice: read once\n", paths[i],
                    paths[j]);
        else
            (*kept)[m++] = paths[i];
    }
    free(st);
    free(have);
    return m;
}

static int latest_only(char *const *paths, size_t n, pa_strlist_t *out);

/* Whether some path is a later piece (PATH.partK, K >= 2). */
static bool pieces_given(char *const *paths, size_t n)
{
    size_t base_len;
    for (size_t i = 0; i < n; i++)
        if (pa_pieces_number(paths[i], &base_len) > 1)
            return true;
    return false;
}

int pa_pieces_inputs(char *const *paths, size_t n, pa_strlist_t *out)
{
    if (pieces_given(paths, n))
        return pa_pieces_latest_only(paths, n, out);
    int rc = PA_OK;
    for (size_t i = 0; rc == PA_OK && i < n; i++)
        rc = pa_strlist_add(out, paths[i]);
    return rc;
}

int pa_pieces_latest_only(char *const *paths, size_t n, pa_strlist_t *out)
{
    char **kept;
    size_t m = distinct_files(paths, n, &kept);
    if (m == (size_t)-1)
        return PA_ENOMEM;
    int rc = latest_only(kept, m, out);
    free(kept);
    return rc;
}

static int latest_only(char *const *paths, size_t n, pa_strlist_t *out)
{
    size_t *base = calloc(n ? n : 1, sizeof *base);
    unsigned long *k = calloc(n ? n : 1, sizeof *k);
    if (!base || !k) {
        free(base);
        free(k);
        return PA_ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        k[i] = pa_pieces_number(paths[i], &base[i]);
    int rc = PA_OK;
    size_t told = 0, untold = 0, untold_pieces = 0;
    for (size_t i = 0; rc == PA_OK && i < n; i++) {
        /* the first path of its trace: the others of the group come later */
        size_t first = i, members = 0;
        for (size_t j = 0; j < n; j++)
            if (base[j] == base[i] && strncmp(paths[j], paths[i], base[i]) == 0) {
                if (j < i) {
                    first = j;
                    break;
                }
                members++;
            }
        if (first != i)
            continue;
        if (members == 1) {
            rc = pa_strlist_add(out, paths[i]);
            continue;
        }
        /* piece 1 given: pieces older than it are stale ones of an earlier process */
        struct timespec t1 = {0, 0};
        int have_t1 = 0;
        for (size_t j = i; j < n && !have_t1; j++)
            if (k[j] == 1 && base[j] == base[i] && strncmp(paths[j], paths[i], base[i]) == 0)
                have_t1 = mtime_of(paths[j], &t1) == 0;
        size_t best = i;
        for (size_t j = i; j < n; j++) {
            if (base[j] != base[i] || strncmp(paths[j], paths[i], base[i]) != 0 || k[j] <= k[best])
                continue;
            struct timespec t;
            if (!have_t1 || (mtime_of(paths[j], &t) == 0 && not_older(&t, &t1)))
                best = j;
        }
        if (told == 3) { /* a fork-heavy command: the first three said, the others counted */
            untold++;
            untold_pieces += members - 1;
        } else {
            pa_str_t left = {0};
            for (size_t j = i; j < n; j++)
                if (j != best && base[j] == base[i] && strncmp(paths[j], paths[i], base[i]) == 0)
                    pa_str_printf(&left, "%s%s", left.len ? ", " : "", paths[j]);
            fprintf(stderr,
                    "perfshim: %s: earlier pieces of one process's trace (PERFSHIM_MAX_TRACE), "
                    "each holding that process's whole state at its time: left out; its latest "
                    "piece, %s, is used\n",
                    left.failed ? "(out of memory)" : pa_str_get(&left), paths[best]);
            pa_str_free(&left);
            told++;
        }
        rc = pa_strlist_add(out, paths[best]);
    }
    if (untold)
        fprintf(stderr,
                "perfshim: and %zu more processes' traces in pieces: of each, only the latest "
                "piece is used (%zu earlier pieces left out)\n",
                untold, untold_pieces);
    free(base);
    free(k);
    return rc;
}
