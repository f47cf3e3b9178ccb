/* SPDX-License-Identifier: MIT */
/*
 * suppress.c — suppression patterns: defaults, files, matching.
 *
 * The defaults name allocations the C library, the dynamic loader and libstdc++ make once and
 * keep for the life of the process (stdio buffers, NSS, locale and iconv data, TLS blocks of
 * dlopen'ed libraries, atexit lists, the C++ emergency exception pool). They are not the
 * program's leaks, but they are counted and shown as suppressed, never dropped silently.
 *
 * Two kinds of line in a suppressions file: a glob (fnmatch(3)) matched against the whole
 * function name, and a LeakSanitizer rule, `leak:PATTERN`, kept with its prefix. Such a rule
 * uses LSan's semantics (sanitizer_common's suppression templates, as documented for
 * LSAN_OPTIONS=suppressions=): a substring match in which `*` matches any run of characters,
 * `^` anchors the pattern at the start and `$` at the end, tried against the function name,
 * the source file name and the module (binary) path of each frame. The rules of other
 * sanitizers that share such files (`race:`, `called_from_lib:`, ...) are skipped.
 */
#include "suppress.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

const char *const pa_suppress_defaults[] = {
    "_IO_*doallocate",    /* stdio buffers (_IO_file_doallocate, _IO_wfile_doallocate) */
    "__nss_*",            /* name service switch: getpwnam, getaddrinfo, ... */
    "_nss_*",             /* NSS modules (libnss_files, ...) */
    "_dl_*",              /* the dynamic loader: TLS, dlopen, lazy binding */
    "dl_open_worker*",    /* dlopen internals */
    "__libc_dlopen_mode", /* libc's own dlopen (NSS, iconv modules) */
    "__gconv_*",          /* iconv / wide-character conversion modules */
    "_nl_*",              /* locale data (setlocale, catgets) */
    "setlocale",          /* locale names cached by setlocale */
    "tzset*",             /* time zone data */
    "__tzset*",
    "__tzfile_*",
    "__new_exitfn", /* atexit / __cxa_atexit registration blocks */
    "__cxa_thread_atexit_impl",
    "(anonymous namespace)::pool::pool*", /* libstdc++ emergency EH pool (eh_alloc.cc) */
    "_GLOBAL__sub_I_eh_alloc*",
    "__gnu_cxx::__freeres",
    NULL,
};

int pa_suppress_add(pa_suppress_t *s, const char *pattern, const char *origin)
{
    if (pa_strlist_add(&s->patterns, pattern) != PA_OK)
        return PA_ENOMEM;
    if (pa_strlist_add(&s->origins, origin) != PA_OK) {
        free(s->patterns.items[--s->patterns.n]);
        return PA_ENOMEM;
    }
    return PA_OK;
}

int pa_suppress_add_defaults(pa_suppress_t *s)
{
    for (size_t i = 0; pa_suppress_defaults[i]; i++)
        if (pa_suppress_add(s, pa_suppress_defaults[i], "default") != PA_OK)
            return PA_ENOMEM;
    return PA_OK;
}

int pa_suppress_load_file(pa_suppress_t *s, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        pa_msg_error("cannot read suppressions file %s: %s", path, strerror(errno));
        return PA_EIO;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    unsigned lineno = 0;
    int rc = PA_OK;
    while (rc == PA_OK && (len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        char *b = line, *e = line + len;
        while (b < e && (*b == ' ' || *b == '\t'))
            b++;
        while (e > b && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
            e--;
        *e = 0;
        if (!*b || *b == '#' || pa_suppress_foreign_rule(b))
            continue;
        pa_str_t origin = {0};
        pa_str_printf(&origin, "%s:%u", path, lineno);
        rc = origin.failed ? PA_ENOMEM : pa_suppress_add(s, b, pa_str_get(&origin));
        pa_str_free(&origin);
    }
    if (rc == PA_OK && ferror(f)) {
        pa_msg_error("cannot read suppressions file %s: %s", path, strerror(errno));
        rc = PA_EIO;
    }
    free(line);
    fclose(f);
    return rc;
}

/* The rule types of sanitizer_common's suppression files other than `leak:` (TSan, UBSan,
 * ASan's interceptor rules): a file shared between tools may hold them. */
static const char *const foreign_rules[] = {
    "race:",
    "race_top:",
    "thread:",
    "mutex:",
    "signal:",
    "deadlock:",
    "called_from_lib:",
    "interceptor_name:",
    "interceptor_via_fun:",
    "interceptor_via_lib:",
    "odr_violation:",
    "vptr_check:",
    "lib:",
    "src:",
    "fun:",
    NULL,
};

bool pa_suppress_foreign_rule(const char *line)
{
    for (size_t i = 0; foreign_rules[i]; i++)
        if (strncmp(line, foreign_rules[i], strlen(foreign_rules[i])) == 0)
            return true;
    return false;
}

/* `*`-wildcard match of p[0..pn) at the start of text, to its end when `end`. */
static bool star_match(const char *p, size_t pn, const char *text, bool end)
{
    const char *star_p = NULL, *star_t = NULL;
    size_t i = 0;
    const char *t = text;
    for (;;) {
        if (i == pn && (!end || !*t))
            return true;
        if (i < pn && p[i] == '*') {
            star_p = p + ++i;
            star_t = t;
            continue;
        }
        if (i < pn && *t && p[i] == *t) {
            i++;
            t++;
            continue;
        }
        if (!star_p || !*star_t)
            return false; /* no star to widen, or nothing left to give it */
        i = (size_t)(star_p - p);
        t = ++star_t;
    }
}

bool pa_suppress_lsan_match(const char *pattern, const char *text)
{
    if (!text || !*text)
        return false;
    size_t n = strlen(pattern);
    bool start = n > 0 && pattern[0] == '^';
    if (start) {
        pattern++;
        n--;
    }
    bool end = n > 0 && pattern[n - 1] == '$';
    if (end)
        n--;
    if (start)
        return star_match(pattern, n, text, end);
    for (const char *t = text; *t; t++) /* unanchored: at any position */
        if (star_match(pattern, n, t, end))
            return true;
    return n == 0;
}

#define LSAN_PREFIX "leak:"

static bool is_lsan(const char *pattern)
{
    return strncmp(pattern, LSAN_PREFIX, strlen(LSAN_PREFIX)) == 0;
}

int pa_suppress_match_text(const pa_suppress_t *s, const char *text)
{
    for (size_t i = 0; i < s->patterns.n; i++) {
        const char *p = s->patterns.items[i];
        if (is_lsan(p) ? pa_suppress_lsan_match(p + strlen(LSAN_PREFIX), text)
                       : fnmatch(p, text, 0) == 0)
            return (int)i;
    }
    return -1;
}

/* The first `leak:` rule matching the frame's function, file or module, or -1. */
static int match_lsan_frame(const pa_suppress_t *s, const pa_frame_t *f)
{
    for (size_t i = 0; i < s->patterns.n; i++) {
        const char *p = s->patterns.items[i];
        if (!is_lsan(p))
            continue;
        p += strlen(LSAN_PREFIX);
        if (pa_suppress_lsan_match(p, f->function) || pa_suppress_lsan_match(p, f->file) ||
            (f->module && strcmp(f->module, PA_UNKNOWN_MODULE) != 0 &&
             pa_suppress_lsan_match(p, f->module)))
            return (int)i;
    }
    return -1;
}

/* The name a pattern is matched against: glibc's debug information names its internal
 * aliases "__GI_<name>" and the symbol table adds versions ("name@@GLIBC_2.2.5"); patterns are
 * written for the plain name, so both are removed first (the full name is tried too). */
static int match_function(const pa_suppress_t *s, const char *fn)
{
    int k = pa_suppress_match_text(s, fn);
    if (k >= 0)
        return k;
    const char *plain = strncmp(fn, "__GI_", 5) == 0 ? fn + 5 : fn;
    char buf[512];
    size_t len = strcspn(plain, "@");
    if (len >= sizeof buf)
        return -1;
    memcpy(buf, plain, len);
    buf[len] = 0;
    return strcmp(buf, fn) == 0 ? -1 : pa_suppress_match_text(s, buf);
}

int pa_suppress_match(const pa_suppress_t *s, const pa_frame_t *frames, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int k;
        if (frames[i].function) {
            k = match_function(s, frames[i].function);
        } else {
            char text[512];
            snprintf(text, sizeof text, "%s+0x%llx", pa_util_basename(frames[i].module),
                     (unsigned long long)frames[i].offset);
            k = pa_suppress_match_text(s, text);
        }
        int l = match_lsan_frame(s, &frames[i]); /* the first pattern of either kind wins */
        if (l >= 0 && (k < 0 || l < k))
            k = l;
        if (k >= 0)
            return k;
    }
    return -1;
}

void pa_suppress_free(pa_suppress_t *s)
{
    pa_strlist_free(&s->patterns);
    pa_strlist_free(&s->origins);
}

int pa_suppress_load_all(pa_suppress_t *s, bool defaults, const pa_strlist_t *files)
{
    if (defaults && pa_suppress_add_defaults(s) != PA_OK)
        return PA_ENOMEM;
    for (size_t i = 0; i < files->n; i++) {
        int rc = pa_suppress_load_file(s, files->items[i]);
        if (rc != PA_OK)
            return rc;
    }
    return PA_OK;
}
