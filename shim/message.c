/* SPDX-License-Identifier: MIT */
/*
 * message.c — the shim's only way to talk: "perfshim: ..." lines on stderr, formatted into a
 * stack buffer by a small printf subset and written with write(2). Never allocates, never
 * uses stdio (the host's stdio may be mid-update), throttled so a repeating problem cannot
 * flood the host's stderr. Warnings are also kept (a few) for the trace's MESSAGE chunks.
 * A line goes to descriptor 2 only while it is the file it was when the shim started: a daemon
 * that closed its stderr may have opened a file of its own at that number (ps_msg_stderr_ok).
 */
#include "internal.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#define PS_MSG_MAX_LINES 20 /* after this many lines, the shim stays silent */
#define PS_MSG_KEEP 8       /* warnings kept for the trace */
#define PS_MSG_LEN 256

static atomic_int msg_lines;
static int stderr_state; /* 0: not looked at yet; 1: open at start (identity below); -1: closed */
static dev_t stderr_dev;
static ino_t stderr_ino;
static ps_spinlock_t keep_lock;
static char keep[PS_MSG_KEEP][PS_MSG_LEN];
static int keep_head, keep_count;

static size_t put_str(char *buf, size_t size, size_t pos, const char *s)
{
    if (!s)
        s = "(null)";
    while (*s) {
        if (pos + 1 < size)
            buf[pos] = *s;
        pos++;
        s++;
    }
    return pos;
}

static size_t put_uint(char *buf, size_t size, size_t pos, unsigned long long v, unsigned base)
{
    char tmp[24];
    int n = 0;
    do {
        unsigned d = (unsigned)(v % base);
        tmp[n++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
        v /= base;
    } while (v);
    while (n > 0) {
        if (pos + 1 < size)
            buf[pos] = tmp[n - 1];
        pos++;
        n--;
    }
    return pos;
}

size_t ps_msg_format(char *buf, size_t size, const char *fmt, va_list ap)
{
    size_t pos = 0;
    for (const char *f = fmt; *f; f++) {
        if (*f != '%') {
            if (pos + 1 < size)
                buf[pos] = *f;
            pos++;
            continue;
        }
        f++;
        int longs = 0, size_t_arg = 0;
        while (*f == 'l') {
            longs++;
            f++;
        }
        if (*f == 'z') {
            size_t_arg = 1;
            f++;
        }
        switch (*f) {
        case 's':
            pos = put_str(buf, size, pos, va_arg(ap, const char *));
            break;
        case 'd': {
            long long v = size_t_arg ? (long long)va_arg(ap, ssize_t)
                          : longs    ? (longs > 1 ? va_arg(ap, long long) : va_arg(ap, long))
                                     : va_arg(ap, int);
            if (v < 0) {
                pos = put_str(buf, size, pos, "-");
                pos = put_uint(buf, size, pos, (unsigned long long)(-(v + 1)) + 1, 10);
            } else {
                pos = put_uint(buf, size, pos, (unsigned long long)v, 10);
            }
            break;
        }
        case 'u':
        case 'x': {
            unsigned long long v =
                size_t_arg ? va_arg(ap, size_t)
                : longs ? (longs > 1 ? va_arg(ap, unsigned long long) : va_arg(ap, unsigned long))
                        : va_arg(ap, unsigned);
            pos = put_uint(buf, size, pos, v, *f == 'x' ? 16 : 10);
            break;
        }
        case 'p':
            pos = put_str(buf, size, pos, "0x");
            pos = put_uint(buf, size, pos, (uintptr_t)va_arg(ap, void *), 16);
            break;
        case '%':
            pos = put_str(buf, size, pos, "%");
            break;
        default: /* unknown conversion: print it verbatim, consume nothing */
            pos = put_str(buf, size, pos, "%?");
            if (!*f)
                f--;
            break;
        }
    }
    if (size)
        buf[pos < size ? pos : size - 1] = 0;
    return pos < size ? pos : (size ? size - 1 : 0);
}

size_t ps_msg_snprintf(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t n = ps_msg_format(buf, size, fmt, ap);
    va_end(ap);
    return n;
}

void ps_msg_init(void)
{
    struct stat st;
    if (ps_os_fstat(2, &st) == 0) {
        stderr_dev = st.st_dev;
        stderr_ino = st.st_ino;
        stderr_state = 1;
    } else {
        stderr_state = -1;
    }
}

int ps_msg_stderr_ok(void)
{
    struct stat st;
    if (stderr_state == 0)
        return 1; /* a line before the shim's start: stderr is still the program's first */
    int saved = errno;
    int ok = stderr_state > 0 && ps_os_fstat(2, &st) == 0 && st.st_dev == stderr_dev &&
             st.st_ino == stderr_ino && !ps_os_past_fsize(2, 512); /* a line; alerts' too */
    errno = saved;
    return ok;
}

static void emit(const char *prefix, const char *fmt, va_list ap, int keep_it)
{
    int saved = errno;
    char text[PS_MSG_LEN];
    ps_msg_format(text, sizeof text, fmt, ap);
    if (keep_it)
        ps_msg_record(text);
    int n = atomic_fetch_add(&msg_lines, 1);
    if (n < PS_MSG_MAX_LINES) {
        char line[PS_MSG_LEN + 64];
        size_t len = ps_msg_snprintf(line, sizeof line, "perfshim: %s%s\n", prefix, text);
        if (n == PS_MSG_MAX_LINES - 1)
            len = ps_msg_snprintf(line, sizeof line,
                                  "perfshim: %s%s (further messages suppressed)\n", prefix, text);
        if (ps_msg_stderr_ok())
            ps_os_write_all(2, line, len);
    }
    errno = saved;
}

void ps_msg_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit("warning: ", fmt, ap, 1);
    va_end(ap);
}

void ps_msg_warn_unkept(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit("warning: ", fmt, ap, 0);
    va_end(ap);
}

void ps_msg_info(const char *fmt, ...)
{
    if (!ps_g.opt.verbose)
        return;
    va_list ap;
    va_start(ap, fmt);
    emit("", fmt, ap, 0);
    va_end(ap);
}

void ps_msg_record(const char *text)
{
    ps_lock(&keep_lock);
    if (keep_count == PS_MSG_KEEP) {
        /* keep the oldest: in a cascade of failures the first message names the cause */
        ps_unlock(&keep_lock);
        return;
    }
    int slot = (keep_head + keep_count) % PS_MSG_KEEP;
    keep_count++;
    strncpy(keep[slot], text, PS_MSG_LEN - 1);
    keep[slot][PS_MSG_LEN - 1] = 0;
    ps_unlock(&keep_lock);
}

int ps_msg_pending(void)
{
    ps_lock(&keep_lock);
    int n = keep_count;
    ps_unlock(&keep_lock);
    return n;
}

int ps_msg_take(char *out, size_t size)
{
    int got = 0;
    ps_lock(&keep_lock);
    if (keep_count > 0) {
        strncpy(out, keep[keep_head], size - 1);
        out[size - 1] = 0;
        keep_head = (keep_head + 1) % PS_MSG_KEEP;
        keep_count--;
        got = 1;
    }
    ps_unlock(&keep_lock);
    return got;
}

void ps_msg_fork_prepare(void)
{
    ps_lock(&keep_lock);
}

void ps_msg_fork_parent(void)
{
    ps_unlock(&keep_lock);
}

void ps_msg_fork_child(void)
{
    ps_unlock(&keep_lock);
}
