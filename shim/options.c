/* SPDX-License-Identifier: MIT */
/*
 * options.c — reads the PERFSHIM_* environment once, at start, from the table in options.def.
 * A bad value warns once (naming the variable and what it accepts) and keeps the default.
 * Hot code reads the cached fields of ps_g.opt, never the environment.
 * An unknown PERFSHIM_* name (a typo such as PERFSHIM_DEPHT) warns once, naming the closest
 * known option: otherwise the program would silently run with the default.
 * Runs in the constructor: no malloc, no stdio (environ is read directly).
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int parse_int(const char *s, long long *out)
{
    if (!s || !*s)
        return -1;
    long long v = 0;
    int neg = 0;
    if (*s == '-') {
        neg = 1;
        s++;
    }
    if (!*s)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > 1000000000000LL)
            return -1;
        v = v * 10 + (*s - '0');
    }
    *out = neg ? -v : v;
    return 0;
}

/* The whole number at the start of *s (at least one digit, at most max), *s moved past it: 0,
 * or -1 (no digit, or more than max). Duration, size and percentage share it. */
static int leading_number(const char **s, uint64_t max, uint64_t *v)
{
    const char *p = *s;
    if (!p || *p < '0' || *p > '9')
        return -1;
    uint64_t n = 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (n > (max - (uint64_t)(*p - '0')) / 10)
            return -1;
        n = n * 10 + (uint64_t)(*p - '0');
    }
    *s = p;
    *v = n;
    return 0;
}

/* A duration: "0", or digits followed by one unit, ms, s, m or h ("250ms", "10s", "2m"), from
 * PS_DURATION_MIN_MS to PS_DURATION_MAX_MS. A bare number other than 0 is refused: "250" could
 * mean seconds or milliseconds, and a guess either way is wrong by a thousand. */
int ps_options_parse_duration(const char *s, uint64_t *ms)
{
    uint64_t v;
    if (leading_number(&s, 10000000000ull, &v) != 0)
        return -1;
    uint64_t scale;
    if (!*s && v == 0)
        scale = 0;
    else if (strcmp(s, "ms") == 0)
        scale = 1;
    else if (strcmp(s, "s") == 0)
        scale = 1000;
    else if (strcmp(s, "m") == 0)
        scale = 60 * 1000;
    else if (strcmp(s, "h") == 0)
        scale = 3600 * 1000;
    else
        return -1;
    uint64_t r = v * scale;
    if (r != 0 && (r < PS_DURATION_MIN_MS || r > PS_DURATION_MAX_MS))
        return -1;
    *ms = r;
    return 0;
}

/* A size: digits, then nothing (bytes) or one unit k, M, G or T (powers of 1024, either case),
 * optionally followed by "B" or "iB" ("512M", "64k", "1GiB", "4096"), at most PS_SIZE_MAX.
 * Anything else ("1.5G", "-1", "1e9", "10 M", "1P") is refused. */
int ps_options_parse_size(const char *s, uint64_t *bytes)
{
    uint64_t v;
    if (leading_number(&s, PS_SIZE_MAX, &v) != 0)
        return -1;
    int shift = 0;
    switch (*s) {
    case 'k':
    case 'K':
        shift = 10;
        break;
    case 'm':
    case 'M':
        shift = 20;
        break;
    case 'g':
    case 'G':
        shift = 30;
        break;
    case 't':
    case 'T':
        shift = 40;
        break;
    default:
        break;
    }
    if (shift) {
        s++;
        if (s[0] == 'i' && s[1] == 'B')
            s += 2;
        else if (s[0] == 'B')
            s++;
    } else if (s[0] == 'B') {
        s++;
    }
    if (*s || v > (PS_SIZE_MAX >> shift))
        return -1;
    *bytes = v << shift;
    return 0;
}

/* A percentage: "0" (off), or digits followed by '%' from lo to hi ("90%"). A bare number
 * other than 0 is refused: "0.9" and "90" would both be guesses. */
int ps_options_parse_percent(const char *s, int lo, int hi, int *pct)
{
    uint64_t v;
    if (leading_number(&s, 10000000000ull, &v) != 0)
        return -1;
    if (!*s && v == 0) {
        *pct = 0;
        return 0;
    }
    if (strcmp(s, "%") != 0 || v < (uint64_t)(lo > 0 ? lo : 0) || v > (uint64_t)hi)
        return -1;
    *pct = (int)v;
    return 0;
}

/* index of value in a "a|b|c" list, or -1 */
static int enum_index(const char *list, const char *value)
{
    size_t vlen = strlen(value);
    int idx = 0;
    for (const char *p = list;; idx++) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == vlen && strncmp(p, value, len) == 0)
            return idx;
        if (!bar)
            return -1;
        p = bar + 1;
    }
}

static const char *enum_name(const char *list, int idx, char *buf, size_t size)
{
    const char *p = list;
    for (int i = 0; i < idx && p; i++) {
        p = strchr(p, '|');
        if (p)
            p++;
    }
    if (!p)
        return "?";
    size_t len = ps_str_span(p, '|');
    if (len >= size)
        len = size - 1;
    memcpy(buf, p, len);
    buf[len] = 0;
    return buf;
}

/* A rejected value (or unknown name, n bytes of it) as the warning quotes it: at most 40 bytes,
 * anything but printable ASCII shown as '?', so that a stray escape sequence in the environment
 * never reaches a terminal. */
static const char *quote_n(const char *v, size_t n, char *out, size_t size)
{
    size_t i = 0;
    for (; i < n && v[i] && i + 4 < size && i < 40; i++)
        out[i] = v[i] >= 0x20 && v[i] < 0x7f ? v[i] : '?';
    if (i < n && v[i])
        out[i++] = '.', out[i++] = '.', out[i++] = '.';
    out[i] = 0;
    return out;
}

static const char *quote(const char *v, char *out, size_t size)
{
    return quote_n(v, (size_t)-1, out, size);
}

/* Path-valued options: any non-empty path that fits the trace writer's buffers (4096 bytes,
 * with room for the expansion and a ".N" suffix). Empty means "unset" where the default is
 * empty, and is rejected where a path is needed. */
static int path_ok(const char *v, const char *def)
{
    size_t n = strlen(v);
    return (n > 0 || !*def) && n < 3072;
}

/* String options are copied, not pointed to: a program may overwrite its original
 * environment block after start. Redis's setproctitle (like PostgreSQL's and nginx's) moves
 * environ elsewhere and reuses the old block for the process title, which left
 * PERFSHIM_OUTPUT empty by exit time, and no trace written. */
#define PS_OPT_STR_MAX 4096

static const char *copy_str(const char *name, const char *v, char *buf, const char *def)
{
    size_t len = strlen(v);
    if (len >= PS_OPT_STR_MAX) {
        ps_msg_warn("%s is longer than %d bytes; using '%s'", name, PS_OPT_STR_MAX - 1, def);
        return def;
    }
    memcpy(buf, v, len + 1);
    return buf;
}

/* ---- unknown PERFSHIM_* names ------------------------------------------------------------- */

#define PS_OPT_PREFIX "PERFSHIM_"
#define PS_OPT_PREFIX_LEN (sizeof PS_OPT_PREFIX - 1)
#define PS_OPT_UNKNOWN_SHOWN 8 /* names warned about; the rest are counted in one line */
#define PS_OPT_UNKNOWN_KEPT                                                                        \
    4 /* of those, kept in the trace: the rest of its few message                                  \
       * slots stay free for warnings about lost data */

static const char *const option_names[] = {
#define PS_OPT_INT(field, NAME, ...) #NAME,
#define PS_OPT_STR(field, NAME, ...) #NAME,
#define PS_OPT_ENUM(field, NAME, ...) #NAME,
#define PS_OPT_DUR(field, NAME, ...) #NAME,
#define PS_OPT_SIZE(field, NAME, ...) #NAME,
#define PS_OPT_PCT(field, NAME, ...) #NAME,
#include "options.def"
#undef PS_OPT_INT
#undef PS_OPT_STR
#undef PS_OPT_ENUM
#undef PS_OPT_DUR
#undef PS_OPT_SIZE
#undef PS_OPT_PCT
};

/* PERFSHIM_* variables that are not options of the shim but that it legitimately finds in its
 * environment. Never reported; suggested like options. */
static const char *const other_names[] = {
    "PERFSHIM_LIB", /* analyzer/run.c: where `perfshim run` finds libperfshim.so; the command
                     * it runs (and its children) inherit it */
};

#define COUNT(a) (sizeof(a) / sizeof(a)[0])

static char upper(char c)
{
    return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
}

/* Edit distance between a (alen bytes) and b, ignoring letter case: insertions, deletions,
 * substitutions and transpositions of two adjacent characters cost 1 each (Damerau-Levenshtein,
 * optimal string alignment variant). Anything above `limit` is reported as limit + 1, without
 * computing it. Rows on the stack: b is a known option name (short). */
int ps_options_distance(const char *a, size_t alen, const char *b, int limit)
{
    enum { MAXB = 48 };
    size_t blen = strlen(b);
    size_t diff = alen > blen ? alen - blen : blen - alen;
    if (blen >= MAXB || limit < 0 || diff > (size_t)limit)
        return limit + 1;
    int rows[3][MAXB]; /* i-2, i-1, i, rotating */
    int *pp = rows[0], *prev = rows[1], *cur = rows[2];
    for (size_t j = 0; j <= blen; j++)
        prev[j] = (int)j;
    for (size_t i = 1; i <= alen; i++) {
        cur[0] = (int)i;
        int row_min = cur[0];
        for (size_t j = 1; j <= blen; j++) {
            int cost = upper(a[i - 1]) != upper(b[j - 1]);
            int d = prev[j - 1] + cost;
            if (prev[j] + 1 < d)
                d = prev[j] + 1;
            if (cur[j - 1] + 1 < d)
                d = cur[j - 1] + 1;
            if (i > 1 && j > 1 && upper(a[i - 1]) == upper(b[j - 2]) &&
                upper(a[i - 2]) == upper(b[j - 1]) && pp[j - 2] + 1 < d)
                d = pp[j - 2] + 1;
            cur[j] = d;
            if (d < row_min)
                row_min = d;
        }
        if (row_min > limit) /* every later row is at least as far */
            return limit + 1;
        int *t = pp;
        pp = prev;
        prev = cur;
        cur = t;
    }
    return prev[blen] <= limit ? prev[blen] : limit + 1;
}

static int known(const char *name, size_t len)
{
    for (size_t k = 0; k < COUNT(option_names); k++)
        if (strlen(option_names[k]) == len && memcmp(option_names[k], name, len) == 0)
            return 1;
    for (size_t k = 0; k < COUNT(other_names); k++)
        if (strlen(other_names[k]) == len && memcmp(other_names[k], name, len) == 0)
            return 1;
    return 0;
}

/* The known name closest to `name` (len bytes, PERFSHIM_ included), or NULL when none is close:
 * distance over the part after PERFSHIM_ at most a third of its length, at least 1 and at most
 * 2 (PERFSHIM_DEPHT -> PERFSHIM_DEPTH; PERFSHIM_ZZZZQQQ -> none). The first of equals wins. */
const char *ps_options_suggest(const char *name, size_t len)
{
    if (len < PS_OPT_PREFIX_LEN || memcmp(name, PS_OPT_PREFIX, PS_OPT_PREFIX_LEN) != 0)
        return NULL;
    const char *tail = name + PS_OPT_PREFIX_LEN;
    size_t tlen = len - PS_OPT_PREFIX_LEN;
    int limit = (int)(tlen / 3 < 1 ? 1 : tlen / 3 > 2 ? 2 : tlen / 3);
    const char *best = NULL;
    int best_d = limit + 1;
    for (size_t k = 0; k < COUNT(option_names) + COUNT(other_names); k++) {
        const char *cand =
            k < COUNT(option_names) ? option_names[k] : other_names[k - COUNT(option_names)];
        int d = ps_options_distance(tail, tlen, cand + PS_OPT_PREFIX_LEN, best_d - 1);
        if (d < best_d) {
            best_d = d;
            best = cand;
        }
    }
    return best;
}

static size_t name_len(const char *entry)
{
    const char *eq = strchr(entry, '=');
    return eq ? (size_t)(eq - entry) : strlen(entry);
}

int ps_options_check_names(char *const *env)
{
    if (!env)
        return 0;
    int unknown = 0;
    for (size_t i = 0; env[i]; i++) {
        const char *e = env[i];
        if (strncmp(e, PS_OPT_PREFIX, PS_OPT_PREFIX_LEN) != 0)
            continue;
        size_t len = name_len(e);
        if (known(e, len))
            continue;
        size_t j = 0; /* the same name twice in the environment: one warning */
        while (j < i && !(name_len(env[j]) == len && memcmp(env[j], e, len) == 0))
            j++;
        if (j < i)
            continue;
        if (unknown++ >= PS_OPT_UNKNOWN_SHOWN)
            continue;
        char q[48], text[160];
        const char *near = ps_options_suggest(e, len);
        ps_msg_snprintf(text, sizeof text, "%s is not a perfshim option%s%s%s; it is ignored",
                        quote_n(e, len, q, sizeof q), near ? " (did you mean " : "",
                        near ? near : "", near ? "?)" : "");
        if (unknown <= PS_OPT_UNKNOWN_KEPT)
            ps_msg_warn("%s", text);
        else
            ps_msg_warn_unkept("%s", text);
    }
    if (unknown > PS_OPT_UNKNOWN_SHOWN)
        ps_msg_warn_unkept("and %d more unknown PERFSHIM_* name(s), ignored too",
                           unknown - PS_OPT_UNKNOWN_SHOWN);
    return unknown;
}

void ps_options_load(ps_options_t *opt)
{
    ps_options_check_names(environ);
    const char *v;
    long long iv;
    int ev;
    char q[48];
#define PS_OPT_INT(field, NAME, def, lo, hi, help)                                                 \
    opt->field = def;                                                                              \
    if ((v = getenv(#NAME)) != NULL) {                                                             \
        if (parse_int(v, &iv) == 0 && iv >= (lo) && iv <= (hi))                                    \
            opt->field = (int)iv;                                                                  \
        else                                                                                       \
            ps_msg_warn(#NAME "='%s' is not a whole number from %d to %d; using %d",               \
                        quote(v, q, sizeof q), (lo), (hi), (def));                                 \
    }
#define PS_OPT_STR(field, NAME, def, help)                                                         \
    opt->field = def;                                                                              \
    if ((v = getenv(#NAME)) != NULL) {                                                             \
        static char NAME##_copy[PS_OPT_STR_MAX];                                                   \
        if (path_ok(v, def))                                                                       \
            opt->field = copy_str(#NAME, v, NAME##_copy, def);                                     \
        else                                                                                       \
            ps_msg_warn(#NAME "='%s' is not a path (non-empty, under 3072 bytes); using %s%s",     \
                        quote(v, q, sizeof q), *(def) ? "" : "none", def);                         \
    }
#define PS_OPT_ENUM(field, NAME, def, list, help)                                                  \
    opt->field = enum_index(list, def);                                                            \
    if ((v = getenv(#NAME)) != NULL) {                                                             \
        if ((ev = enum_index(list, v)) >= 0)                                                       \
            opt->field = ev;                                                                       \
        else                                                                                       \
            ps_msg_warn(#NAME "='%s' is not one of %s; using %s", quote(v, q, sizeof q), list,     \
                        def);                                                                      \
    }
#define PS_OPT_DUR(field, NAME, def, help)                                                         \
    ps_options_parse_duration(def, &opt->field);                                                   \
    if ((v = getenv(#NAME)) != NULL && ps_options_parse_duration(v, &opt->field) != 0)             \
        ps_msg_warn(#NAME "='%s' is not a duration (0, or a whole number with ms, s, m or h, "     \
                          "from 10ms to 7 days); using %s",                                        \
                    quote(v, q, sizeof q), def);
#define PS_OPT_SIZE(field, NAME, def, help)                                                        \
    ps_options_parse_size(def, &opt->field);                                                       \
    if ((v = getenv(#NAME)) != NULL && ps_options_parse_size(v, &opt->field) != 0)                 \
        ps_msg_warn(#NAME "='%s' is not a size (0, or a whole number of bytes, or with k, M, G "   \
                          "or T: 512M); using %s",                                                 \
                    quote(v, q, sizeof q), def);
#define PS_OPT_PCT(field, NAME, def, lo, hi, help)                                                 \
    ps_options_parse_percent(def, lo, hi, &opt->field);                                            \
    if ((v = getenv(#NAME)) != NULL && ps_options_parse_percent(v, lo, hi, &opt->field) != 0)      \
        ps_msg_warn(#NAME "='%s' is not a percentage (0, or %d%% to %d%%: 90%%); using %s",        \
                    quote(v, q, sizeof q), lo, hi, def);
#include "options.def"
#undef PS_OPT_INT
#undef PS_OPT_STR
#undef PS_OPT_ENUM
#undef PS_OPT_DUR
#undef PS_OPT_SIZE
#undef PS_OPT_PCT
}

size_t ps_options_describe(const ps_options_t *opt, char *buf, size_t size)
{
    size_t pos = 0;
    char tmp[32];
    (void)tmp;
#define ADD(...) pos += ps_msg_snprintf(buf + pos, pos < size ? size - pos : 0, __VA_ARGS__)
#define PS_OPT_INT(field, NAME, def, lo, hi, help) ADD(#NAME "=%d\n", (int)opt->field);
#define PS_OPT_STR(field, NAME, def, help) ADD(#NAME "=%s\n", opt->field);
#define PS_OPT_ENUM(field, NAME, def, list, help)                                                  \
    ADD(#NAME "=%s\n", enum_name(list, (int)opt->field, tmp, sizeof tmp));
#define PS_OPT_DUR(field, NAME, def, help)                                                         \
    ADD(#NAME "=%llu%s\n", (unsigned long long)opt->field, opt->field ? "ms" : "");
#define PS_OPT_SIZE(field, NAME, def, help) ADD(#NAME "=%llu\n", (unsigned long long)opt->field);
#define PS_OPT_PCT(field, NAME, def, lo, hi, help)                                                 \
    ADD(#NAME "=%d%s\n", (int)opt->field, opt->field ? "%" : "");
#include "options.def"
#undef PS_OPT_INT
#undef PS_OPT_STR
#undef PS_OPT_ENUM
#undef PS_OPT_DUR
#undef PS_OPT_SIZE
#undef PS_OPT_PCT
#undef ADD
    return pos < size ? pos : size;
}
