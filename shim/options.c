/* SPDX-License-Identifier: MIT */
/*
 * options.c — reads the PERFSHIM_* environment once, at start, from the table in options.def.
 * A bad value warns once (naming the variable and what it accepts) and keeps the default.
 * Hot code reads the cached fields of ps_g.opt, never the environment.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

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
    size_t len = strcspn(p, "|");
    if (len >= size)
        len = size - 1;
    memcpy(buf, p, len);
    buf[len] = 0;
    return buf;
}

/* A rejected value as the warning quotes it: at most 40 bytes, anything but printable ASCII
 * shown as '?', so that a stray escape sequence in the environment never reaches a terminal. */
static const char *quote(const char *v, char *out, size_t size)
{
    size_t i = 0;
    for (; v[i] && i + 4 < size && i < 40; i++)
        out[i] = v[i] >= 0x20 && v[i] < 0x7f ? v[i] : '?';
    if (v[i])
        out[i++] = '.', out[i++] = '.', out[i++] = '.';
    out[i] = 0;
    return out;
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

void ps_options_load(ps_options_t *opt)
{
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
#include "options.def"
#undef PS_OPT_INT
#undef PS_OPT_STR
#undef PS_OPT_ENUM
}

size_t ps_options_describe(const ps_options_t *opt, char *buf, size_t size)
{
    size_t pos = 0;
    char tmp[32];
    (void)tmp;
#define ADD(...) pos += ps_msg_snprintf(buf + pos, pos < size ? size - pos : 0, __VA_ARGS__)
#define PS_OPT_INT(field, NAME, def, lo, hi, help) ADD(#NAME "=%d\n", (int)opt->field);
#define PS_OPT_STR(field, NAME, def, help) ADD(#NAME "=%s\n", opt->field);
#define PS_OPT_ENUM(field, NAME, def, list, help)                                                 \
    ADD(#NAME "=%s\n", enum_name(list, (int)opt->field, tmp, sizeof tmp));
#include "options.def"
#undef PS_OPT_INT
#undef PS_OPT_STR
#undef PS_OPT_ENUM
#undef ADD
    return pos < size ? pos : size;
}
