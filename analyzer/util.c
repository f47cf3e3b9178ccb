/* SPDX-License-Identifier: MIT */
/*
 * util.c — messages, checked allocation, growable strings and string lists, number parsing and
 * formatting. Nothing here knows about traces.
 */
#include "util.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* ---- messages ------------------------------------------------------------------------------ */

static void vmsg(const char *kind, const char *fmt, va_list ap)
{
    pa_str_t b = {0};
    /* on a terminal: "perfshim:" in red for an error, "warning:" in yellow for a warning */
    pa_str_puts(&b, *kind ? "" : pa_color(stderr, PA_COLOR_RED));
    pa_str_puts(&b, "perfshim:");
    pa_str_puts(&b, *kind ? " " : pa_color(stderr, PA_COLOR_RESET));
    if (*kind) {
        pa_str_puts(&b, pa_color(stderr, PA_COLOR_YELLOW));
        pa_str_puts(&b, kind);
        pa_str_puts(&b, pa_color(stderr, PA_COLOR_RESET));
    } else
        pa_str_puts(&b, " ");
    pa_str_vprintf(&b, fmt, ap);
    pa_str_puts(&b, "\n");
    fflush(stdout); /* keep the order of reports and messages when both go to a terminal */
    fputs(b.failed ? "perfshim: out of memory while formatting a message\n" : pa_str_get(&b),
          stderr);
    pa_str_free(&b);
}

/* ---- colour -------------------------------------------------------------------------------- */

const char *pa_color(FILE *out, pa_color_t c)
{
    static int on[3] = {-1, -1, -1}; /* stdin, stdout, stderr: decided once each */
    static const char *const sgr[] = {"\033[0m", "\033[1m", "\033[1;31m", "\033[33m", "\033[32m"};
    int fd = out ? fileno(out) : -1;
    if (fd < 0 || fd > 2 || (unsigned)c >= sizeof sgr / sizeof sgr[0])
        return "";
    if (on[fd] < 0) {
        const char *nc = getenv("NO_COLOR"), *term = getenv("TERM");
        on[fd] = isatty(fd) && !(nc && *nc) && !(term && strcmp(term, "dumb") == 0);
    }
    return on[fd] ? sgr[c] : "";
}

/* ---- messages (continued) ------------------------------------------------------------------- */

/* ---- progress ------------------------------------------------------------------------------ */

static int progress_on = -1;       /* stderr is a terminal (decided at the first call) */
static uint64_t progress_start;    /* ns: the first call */
static uint64_t progress_delay_ns; /* shown only this long after the first call */
static uint64_t progress_last;     /* ns: the last redraw */
static bool progress_shown;

const char pa_progress_writing[] = "writing";

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Whether a progress line may be drawn now: stderr is a terminal, the command has run for the
 * delay, and the last redraw is a tenth of a second old. */
static bool progress_due(void)
{
    if (progress_on < 0) {
        progress_on = isatty(2) == 1;
        progress_start = now_ns();
        const char *e = getenv("PA_PROGRESS_DELAY_MS");
        progress_delay_ns = (e && *e ? strtoull(e, NULL, 10) : 1000) * 1000000u;
    }
    if (!progress_on)
        return false;
    uint64_t t = now_ns();
    if (t - progress_start < progress_delay_ns ||
        (progress_shown && t - progress_last < 100000000u))
        return false;
    progress_last = t;
    return true;
}

static unsigned progress_pct(uint64_t done, uint64_t total)
{
    unsigned pct = total ? (unsigned)(done * 100 / total) : 0;
    return pct > 100 ? 100 : pct;
}

void pa_progress(const char *what, uint64_t done, uint64_t total)
{
    if (!progress_due())
        return;
    const char *base = what ? strrchr(what, '/') : NULL;
    base = base ? base + 1 : what ? what : "";
    fflush(stdout);
    fprintf(stderr, "\rperfshim: reading %s: %u%% (%.0f of %.0f MB)\033[K", base,
            progress_pct(done, total), (double)done / 1e6, (double)total / 1e6);
    fflush(stderr);
    progress_shown = true;
}

void pa_progress_step(const char *phase, uint64_t done, uint64_t total, const char *unit)
{
    if ((done & 1023) != 0 && done != total)
        return; /* the clock is read once in 1024 steps */
    static int out_tty = -1;
    if (phase == pa_progress_writing && (out_tty < 0 ? (out_tty = isatty(1) == 1) : out_tty))
        return; /* the report itself is on the terminal: no line beside it */
    if (!progress_due())
        return;
    fflush(stdout);
    fprintf(stderr, "\rperfshim: %s: %u%% (%llu of %llu %s)\033[K", phase,
            progress_pct(done, total), (unsigned long long)done, (unsigned long long)total, unit);
    fflush(stderr);
    progress_shown = true;
}

void pa_progress_clear(void)
{
    if (!progress_shown)
        return;
    fputs("\r\033[K", stderr);
    fflush(stderr);
    progress_shown = false;
}

void pa_msg_error(const char *fmt, ...)
{
    va_list ap;
    pa_progress_clear();
    va_start(ap, fmt);
    vmsg("", fmt, ap);
    va_end(ap);
}

void pa_msg_warn(const char *fmt, ...)
{
    va_list ap;
    pa_progress_clear();
    va_start(ap, fmt);
    vmsg("warning: ", fmt, ap);
    va_end(ap);
}

/* ---- memory ---------------------------------------------------------------------------------- */

char *pa_util_strdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

char *pa_util_strndup(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (!d)
        return NULL;
    if (n)
        memcpy(d, s, n);
    d[n] = 0;
    return d;
}

void pa_util_huge(void *p, size_t bytes)
{
#ifdef MADV_HUGEPAGE
    if (!p || bytes < PA_UTIL_HUGE_MIN)
        return;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t start = (uintptr_t)p & ~(page - 1);
    (void)madvise((void *)start, bytes + ((uintptr_t)p - start), MADV_HUGEPAGE); /* a hint */
#else
    (void)p;
    (void)bytes;
#endif
}

void *pa_util_zalloc(size_t bytes)
{
    /* (a huge page starts at a multiple of 2 MiB: aligned, all of the block can have them;
     * C11's aligned_alloc takes a multiple of the alignment, the pages past bytes untouched) */
    void *p = NULL;
    if (bytes < PA_UTIL_HUGE_MIN)
        p = malloc(bytes ? bytes : 1);
    else if (bytes <= SIZE_MAX - PA_UTIL_HUGE_MIN)
        p = aligned_alloc(PA_UTIL_HUGE_MIN,
                          (bytes + PA_UTIL_HUGE_MIN - 1) & ~(PA_UTIL_HUGE_MIN - 1));
    if (p) {
        pa_util_huge(p, bytes);
        memset(p, 0, bytes);
    }
    return p;
}

/* Swaps the size bytes at a and b. */
static void swap_bytes(unsigned char *a, unsigned char *b, size_t size)
{
    unsigned char tmp[64];
    while (size) {
        size_t m = size < sizeof tmp ? size : sizeof tmp;
        memcpy(tmp, a, m);
        memcpy(a, b, m);
        memcpy(b, tmp, m);
        a += m, b += m, size -= m;
    }
}

/* Restores the heap order of base[0..n) below slot i: each element after (in cmp's order) the
 * elements under it, so base[0] is the last of them. */
static void sift_down(unsigned char *base, size_t n, size_t size, size_t i,
                      int (*cmp)(const void *, const void *, void *), void *ctx)
{
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            return;
        if (c + 1 < n && cmp(base + (c + 1) * size, base + c * size, ctx) > 0)
            c++;
        if (cmp(base + c * size, base + i * size, ctx) <= 0)
            return;
        swap_bytes(base + i * size, base + c * size, size);
        i = c;
    }
}

/* Moves the median of base[lo], base[mid] and base[hi - 1] (in cmp's order) to base[lo]. */
static void median_to_front(unsigned char *v, size_t size, size_t lo, size_t hi,
                            int (*cmp)(const void *, const void *, void *), void *ctx)
{
    size_t mid = lo + (hi - lo) / 2, last = hi - 1;
    if (cmp(v + mid * size, v + lo * size, ctx) < 0)
        swap_bytes(v + mid * size, v + lo * size, size);
    if (cmp(v + last * size, v + mid * size, ctx) < 0) {
        swap_bytes(v + last * size, v + mid * size, size);
        if (cmp(v + mid * size, v + lo * size, ctx) < 0)
            swap_bytes(v + mid * size, v + lo * size, size);
    }
    swap_bytes(v + lo * size, v + mid * size, size); /* lo <= mid <= last: the median to lo */
}

/* Partitions base[lo..hi) (3 or more elements) around the median of three: returns p with the
 * pivot at base[p], the elements before it not after it in cmp's order, those after not before. */
static size_t partition(unsigned char *v, size_t size, size_t lo, size_t hi,
                        int (*cmp)(const void *, const void *, void *), void *ctx)
{
    median_to_front(v, size, lo, hi, cmp, ctx);
    const unsigned char *pivot = v + lo * size; /* stays at lo until the end */
    size_t i = lo, j = hi;
    for (;;) {
        while (++i < hi && cmp(v + i * size, pivot, ctx) < 0)
            ;
        while (cmp(v + --j * size, pivot, ctx) > 0) /* stops at lo: cmp(pivot, pivot) is 0 */
            ;
        if (i >= j)
            break;
        swap_bytes(v + i * size, v + j * size, size);
    }
    swap_bytes(v + lo * size, v + j * size, size);
    return j;
}

/* The heap of k: each item after the first k compared with the last of the k kept so far; false
 * (the order of v then unspecified, its items all there) when more than `budget` of them replace
 * it: items that come in reverse order (the sites of a trace whose counters tie, ordered by a key
 * the trace's order reverses) make every one of them a sift through the heap. */
static bool heap_top(unsigned char *v, size_t n, size_t size, size_t k, size_t budget,
                     int (*cmp)(const void *, const void *, void *), void *ctx)
{
    for (size_t i = k / 2; i-- > 0;)
        sift_down(v, k, size, i, cmp, ctx);
    for (size_t i = k; i < n; i++)
        if (cmp(v + i * size, v, ctx) < 0) {
            if (!budget--)
                return false;
            swap_bytes(v, v + i * size, size);
            sift_down(v, k, size, 0, cmp, ctx);
        }
    return true;
}

void pa_util_sort_top(void *base, size_t n, size_t size, size_t k,
                      int (*cmp)(const void *, const void *, void *), void *ctx)
{
    unsigned char *v = base;
    if (!k || k > n)
        k = n;
    if (k * 4 < n) {
        /* In random order about k ln(n / k) items replace the heap's last: past 4k + n / 64,
         * quickselect (median of three), whose partitions compare each item with a pivot about
         * 2n times in all, whatever the order. The first k are the same either way (cmp a total
         * order); only the order of the others differs, which no caller reads. */
        if (!heap_top(v, n, size, k, 4 * k + n / 64, cmp, ctx)) {
            size_t lo = 0, hi = n, depth = 0;
            while (hi - lo > 16 && depth++ < 64) {
                size_t p = partition(v, size, lo, hi, cmp, ctx);
                if (p >= k)
                    hi = p; /* the first k are before the pivot */
                else
                    lo = p + 1; /* the pivot and those before it are among them */
            }
            if (hi - lo <= 16) /* the first k: those before lo and the first of these */
                qsort_r(v + lo * size, hi - lo, size, cmp, ctx);
            else if (k > lo) /* (partitions too uneven: the heap, without a budget) */
                heap_top(v + lo * size, hi - lo, size, k - lo, SIZE_MAX, cmp, ctx);
        }
        n = k;
    }
    if (n)
        qsort_r(v, n, size, cmp, ctx);
}

void pa_util_sort_top_by(void *base, size_t n, size_t size, size_t k,
                         int (*coarse)(const void *, const void *, void *),
                         int (*cmp)(const void *, const void *, void *), void *ctx)
{
    unsigned char *v = base;
    if (!k || k > n)
        k = n;
    if (k * 4 < n) {
        /* (ties by coarse never replace the heap's last: no budget needed) */
        heap_top(v, n, size, k, SIZE_MAX, coarse, ctx);
        /* v[0] is now the last of the k best by coarse: an item after it by coarse comes after
         * all k by cmp too, and is out; those equal to it by coarse compete, after the k */
        size_t m = k;
        for (size_t i = k; i < n; i++)
            if (coarse(v + i * size, v, ctx) == 0) {
                if (i != m)
                    swap_bytes(v + m * size, v + i * size, size);
                m++;
            }
        n = m;
    }
    pa_util_sort_top(v, n, size, k, cmp, ctx);
}

int pa_util_index_reset(uint32_t **index, size_t *index_cap, size_t cap)
{
    if (cap > SIZE_MAX / sizeof(uint32_t))
        return PA_ENOMEM;
    /* the old table first: the caller rebuilds from its items, and the two together were the
     * peak of a compile's summary (the key trie's 4 and 8 MiB, report.c) */
    free(*index);
    *index = pa_util_zalloc(cap * sizeof **index);
    *index_cap = *index ? cap : 0;
    return *index ? PA_OK : PA_ENOMEM;
}

void pa_tix_put(uint64_t *index, size_t cap, uint64_t h, uint32_t n)
{
    size_t i = pa_tix_first(h, cap);
    while (index[i])
        i = (i + 1) & (cap - 1);
    index[i] = PA_TIX_TAG(h) | n;
}

int pa_tix_reserve(uint64_t **index, size_t *cap, size_t need)
{
    if (need * 4 <= *cap * 3)
        return PA_OK;
    size_t ncap = *cap ? *cap : 1024;
    while (need * 4 > ncap * 3)
        ncap *= 2;
    uint64_t *n = ncap <= (size_t)1 << 32 ? pa_util_zalloc(ncap * sizeof *n) : NULL;
    if (!n)
        return PA_ENOMEM;
    for (size_t i = 0; i < *cap; i++) /* (a slot's tag holds its hash's first-slot bits) */
        if ((*index)[i])
            pa_tix_put(n, ncap, (*index)[i], (uint32_t)(*index)[i]);
    free(*index);
    *index = n;
    *cap = ncap;
    return PA_OK;
}

size_t pa_util_pread_full(int fd, uint64_t off, void *dst, size_t n, int *err)
{
    size_t got = 0;
    while (got < n && off + got <= (uint64_t)INT64_MAX - (n - got)) {
        ssize_t k = pread(fd, (char *)dst + got, n - got, (off_t)(off + got));
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && err)
            *err = errno ? errno : EIO;
        if (k <= 0)
            break;
        got += (size_t)k;
    }
    return got;
}

int pa_util_grow(void **arr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return PA_OK;
    size_t ncap = *cap ? *cap : 8;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2)
            return PA_ENOMEM;
        ncap *= 2;
    }
    if (elem && ncap > SIZE_MAX / elem)
        return PA_ENOMEM;
    void *n = realloc(*arr, ncap * elem);
    if (!n)
        return PA_ENOMEM;
    pa_util_huge(n, ncap * elem);
    *arr = n;
    *cap = ncap;
    return PA_OK;
}

/* ---- growable string ------------------------------------------------------------------------- */

void pa_str_append(pa_str_t *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap && /* (the fast case: it fits) */
        (b->len + n + 1 < b->len ||
         pa_util_grow((void **)&b->s, &b->cap, b->len + n + 1, 1) != PA_OK)) {
        b->failed = 1;
        return;
    }
    if (n)
        memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}

void pa_str_puts(pa_str_t *b, const char *s)
{
    pa_str_append(b, s, strlen(s));
}

void pa_str_u64(pa_str_t *b, uint64_t v)
{
    char d[20], *p = d + sizeof d;
    do
        *--p = (char)('0' + v % 10);
    while (v /= 10);
    pa_str_append(b, p, (size_t)(d + sizeof d - p));
}

void pa_str_hex(pa_str_t *b, uint64_t v)
{
    char d[16], *p = d + sizeof d;
    do
        *--p = "0123456789abcdef"[v & 15];
    while (v >>= 4);
    pa_str_append(b, p, (size_t)(d + sizeof d - p));
}

void pa_str_puts_safe(pa_str_t *b, const char *s)
{
    size_t at = b->len;
    pa_str_puts(b, s);
    if (!b->failed)
        pa_util_make_printable(b->s + at, b->len - at);
}

void pa_str_vprintf(pa_str_t *b, const char *fmt, va_list ap)
{
    char small[256];
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    if (n < 0) {
        b->failed = 1;
    } else if ((size_t)n < sizeof small) {
        pa_str_append(b, small, (size_t)n);
    } else {
        char *big = malloc((size_t)n + 1);
        if (!big) {
            b->failed = 1;
        } else {
            vsnprintf(big, (size_t)n + 1, fmt, ap2);
            pa_str_append(b, big, (size_t)n);
            free(big);
        }
    }
    va_end(ap2);
}

void pa_str_printf(pa_str_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pa_str_vprintf(b, fmt, ap);
    va_end(ap);
}

const char *pa_str_get(const pa_str_t *b)
{
    return b->s ? b->s : "";
}

void pa_str_free(pa_str_t *b)
{
    free(b->s);
    memset(b, 0, sizeof *b);
}

/* ---- list of strings ---------------------------------------------------------------------------
 */

int pa_strlist_add(pa_strlist_t *l, const char *s)
{
    if (pa_util_grow((void **)&l->items, &l->cap, l->n + 1, sizeof *l->items) != PA_OK)
        return PA_ENOMEM;
    char *d = pa_util_strdup(s);
    if (!d)
        return PA_ENOMEM;
    l->items[l->n++] = d;
    return PA_OK;
}

int pa_strlist_addf(pa_strlist_t *l, const char *fmt, ...)
{
    pa_str_t b = {0};
    va_list ap;
    va_start(ap, fmt);
    pa_str_vprintf(&b, fmt, ap);
    va_end(ap);
    int rc = b.failed ? PA_ENOMEM : pa_strlist_add(l, pa_str_get(&b));
    pa_str_free(&b);
    return rc;
}

void pa_strlist_free(pa_strlist_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}

/* ---- small helpers ------------------------------------------------------------------------------
 */

const char *pa_util_basename(const char *path)
{
    if (!path)
        return "";
    const char *slash = strrchr(path, '/');
    return slash && slash[1] ? slash + 1 : path;
}

int pa_util_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    if (!s || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

const char *pa_util_format_bytes(uint64_t bytes, char *buf, size_t size)
{
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    if (bytes < 1024) {
        snprintf(buf, size, "%llu B", (unsigned long long)bytes);
        return buf;
    }
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024.0 && u < 6) {
        v /= 1024.0;
        u++;
    }
    snprintf(buf, size, "%.1f %s", v, units[u]);
    return buf;
}

const char *pa_util_format_ns(double ns, char *buf, size_t size)
{
    if (!(ns >= 0.0)) /* negative or NaN: never from a sane trace */
        snprintf(buf, size, "?");
    else if (ns < 1e3)
        snprintf(buf, size, "%.0f ns", ns);
    else if (ns < 1e6)
        snprintf(buf, size, "%.1f us", ns / 1e3);
    else if (ns < 1e9)
        snprintf(buf, size, "%.1f ms", ns / 1e6);
    else
        snprintf(buf, size, "%.2f s", ns / 1e9);
    return buf;
}

/* Control characters (C0 and DEL) would reach a terminal as escape sequences. */
static char printable(char c)
{
    return (unsigned char)c < 0x20 || c == 0x7f ? '?' : c;
}

const char *pa_util_printable(const char *s, char *buf, size_t size)
{
    size_t n = 0;
    for (; *s && n + 1 < size; s++)
        buf[n++] = printable(*s);
    if (size)
        buf[n] = 0;
    return buf;
}

void pa_util_make_printable(char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        s[i] = printable(s[i]);
}

void pa_util_fputs_safe(FILE *out, const char *s)
{
    while (*s) { /* runs of printable characters in one write (a full leaks report: 1.26M lines) */
        size_t n = 0;
        while (s[n] && printable(s[n]) == s[n])
            n++;
        if (n)
            fwrite(s, 1, n, out);
        s += n;
        if (*s)
            fputc(printable(*s++), out);
    }
}
