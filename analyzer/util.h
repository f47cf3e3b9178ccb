/* SPDX-License-Identifier: MIT */
/*
 * util.h — what every analyzer file shares: return codes, messages on stderr, a growable string,
 * a list of strings, small helpers (checked allocation, number parsing, byte formatting).
 *
 * Error style: functions return an `int rc` (PA_OK or a negative PA_E*), and write a message
 * about what went wrong themselves (naming the file and, for trace input, the offset). Only
 * main() turns an rc into an exit status.
 */
#ifndef PERFSHIM_ANALYZER_UTIL_H
#define PERFSHIM_ANALYZER_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- return codes ------------------------------------------------------------------------ */
enum {
    PA_OK = 0,
    PA_ENOMEM = -1,      /* out of memory */
    PA_EIO = -2,         /* a file cannot be opened, read or written */
    PA_EFORMAT = -3,     /* not a trace, or a trace too damaged to use */
    PA_EVERSION = -4,    /* trace written by a newer format version */
    PA_ENOSNAPSHOT = -5, /* a readable trace without any usable snapshot */
    PA_EUSAGE = -6       /* bad command line */
};

/* Exit statuses of the CLI (docs/analyzer.md). */
enum { PA_EXIT_OK = 0, PA_EXIT_FINDINGS = 1, PA_EXIT_USAGE = 2 };

/* ---- messages ------------------------------------------------------------------------------ */
/* "perfshim: <message>\n" on stderr. */
void pa_msg_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void pa_msg_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- progress ------------------------------------------------------------------------------
 * "perfshim: reading FILE: 42% (260 of 620 MB)" on stderr while a trace is read, only when
 * stderr is a terminal and the command has run for a second (PA_PROGRESS_DELAY_MS in the
 * environment sets another delay: tests use 0), redrawn at most 10 times a second, and erased
 * before anything else is written (messages, a report's output: pa_progress_clear). Never on a
 * pipe or a file. */
void pa_progress(const char *what, uint64_t done, uint64_t total);
/* The same line for a later phase of a command, once reading is done (symbolizing and
 * grouping, writing a report to a file): "perfshim: PHASE: 42% (4200 of 10000 UNIT)". Cheap
 * to call every step (the clock is read once in 1024). The writing phase (phase ==
 * pa_progress_writing) is shown only when stdout is not a terminal: a report on the terminal
 * shows its own progress. Callers erase the line (pa_progress_clear) when the phase ends. */
extern const char pa_progress_writing[];
void pa_progress_step(const char *phase, uint64_t done, uint64_t total, const char *unit);
/* Erases the progress line if one is shown (cheap when none is). */
void pa_progress_clear(void);

/* ---- colour ---------------------------------------------------------------------------------
 * SGR escapes for a report written to out: only when out is a terminal, TERM is not "dumb" and
 * NO_COLOR is unset or empty (https://no-color.org); otherwise "" so that callers can always
 * print pa_color(out, X) around a word. Files and pipes never get escapes. */
typedef enum {
    PA_COLOR_RESET,
    PA_COLOR_BOLD,
    PA_COLOR_RED,
    PA_COLOR_YELLOW,
    PA_COLOR_GREEN
} pa_color_t;
const char *pa_color(FILE *out, pa_color_t c);

/* ---- memory ---------------------------------------------------------------------------------- */
/* These return NULL on failure like their libc counterparts; callers return PA_ENOMEM. */
char *pa_util_strdup(const char *s);
char *pa_util_strndup(const char *s, size_t n);
/* Grows *arr (of elem-sized items) so that it holds at least `need` items; keeps *cap. */
int pa_util_grow(void **arr, size_t *cap, size_t need, size_t elem);

/* pread of n bytes at off until all are read, the end of the file or an error (EINTR retried):
 * how many were read; *err (when not NULL) gets the errno of a failed read. */
size_t pa_util_pread_full(int fd, uint64_t off, void *dst, size_t n, int *err);
/* Replaces *index, an open-addressing table of uint32_t slots (0: empty), with cap empty slots
 * (*index_cap = cap); the caller puts its entries back (from its own arrays: the old table is
 * freed first). PA_OK, or PA_ENOMEM with *index NULL and *index_cap 0. */
int pa_util_index_reset(uint32_t **index, size_t *index_cap, size_t cap);
/* ---- tagged index -----------------------------------------------------------------------------
 * An open-addressing table whose slot holds an item number (u32, 0: empty slot) and the high 32
 * bits of the item's 64-bit hash, its tag: a probe compares tags before reading the item, so
 * passing other items costs no cache miss. The first slot probed is given by the hash's
 * highest bits, as many as the table has slots (at most 2^32), so a table twice as large keeps
 * the items in the same order: growing reads the old table and writes the new one in order.
 * The frame tree (model.c) and the key trie (report.c) use it; each compares its own items. */
#define PA_TIX_TAG(h) ((uint64_t)(h) >> 32 << 32)
/* The first slot for hash (or slot) h in a table of cap slots, a power of two. */
static inline size_t pa_tix_first(uint64_t h, size_t cap)
{
    return (size_t)(h >> (64 - __builtin_ctzll(cap)));
}
/* Puts item n of hash h, known to be absent, into the table (which has an empty slot). */
void pa_tix_put(uint64_t *index, size_t cap, uint64_t h, uint32_t n);
/* Grows *index (*cap slots, 0 when none yet) so that `need` items keep it at most 3/4 full,
 * moving its items. PA_OK, or PA_ENOMEM with the table kept. */
int pa_tix_reserve(uint64_t **index, size_t *cap, size_t need);

/* Asks the kernel to back the large block p (bytes long, from malloc) with transparent huge
 * pages, where THP is "madvise" (Debian's default): one fault per 2 MiB instead of 512, and
 * fewer TLB misses for the hash tables' random probes. Blocks under PA_UTIL_HUGE_MIN are left
 * alone; they come from the heap, not from their own mapping (main.c's mmap threshold).
 * pa_util_grow and pa_util_index_reset call it. */
#define PA_UTIL_HUGE_MIN ((size_t)2 << 20)
void pa_util_huge(void *p, size_t bytes);
/* A zeroed block, written rather than calloc'd: a table whose slots are read before they are
 * written (a hash index) would otherwise take two faults per page, a read fault mapping the
 * shared zero page and a write fault replacing it (with a TLB flush: slow on a VM). A block of
 * PA_UTIL_HUGE_MIN or more starts at a multiple of 2 MiB, so that huge pages can back all of it,
 * and they are asked for (pa_util_huge) before it is zeroed. Freed with free(); NULL on
 * failure. */
void *pa_util_zalloc(size_t bytes);

/* ---- top k ----------------------------------------------------------------------------------- */
/* The first k of the n elements (each size bytes) at base in cmp's order into base[0..k),
 * sorted; the others after them, in no particular order (k 0, or k >= n: all of them, sorted).
 * With cmp a total order the first k are those a full sort puts first, in the same order. A
 * report that prints a few of many items selects them with a heap of k: each other item is
 * compared once with the last of the k kept so far; when too many replace it (items in about the
 * reverse of cmp's order) the selection goes on by quickselect, about 2n comparisons. */
void pa_util_sort_top(void *base, size_t n, size_t size, size_t k,
                      int (*cmp)(const void *, const void *, void *), void *ctx);
/* The same, first choosing the candidates by `coarse`, a cheaper order that cmp refines (where
 * coarse says a before b, cmp says so too; coarse 0 leaves it to cmp): a heap of k by coarse
 * alone finds the k-th item's coarse value, and only the items whose coarse value is at least
 * as good go on to the heap of cmp. Reports order sites by counters, then by the text of their
 * stacks: on 100k sites of mostly equal counters, met in the order of their stacks, the plain
 * heap compared stacks 450k times (160M instructions for `timeline`, docs/performance.md). */
void pa_util_sort_top_by(void *base, size_t n, size_t size, size_t k,
                         int (*coarse)(const void *, const void *, void *),
                         int (*cmp)(const void *, const void *, void *), void *ctx);

/* ---- growable string ------------------------------------------------------------------------- */
typedef struct {
    char *s;    /* NUL-terminated once anything was appended, else NULL */
    size_t len; /* bytes, without the NUL */
    size_t cap; /* bytes allocated */
    int failed; /* an append ran out of memory: the contents are incomplete */
} pa_str_t;

void pa_str_append(pa_str_t *b, const char *s, size_t n);
void pa_str_puts(pa_str_t *b, const char *s);
/* v in decimal / in lowercase hexadecimal without "0x" (what %llu / %llx write, without
 * printf's parsing: a full leaks report writes millions of them). */
void pa_str_u64(pa_str_t *b, uint64_t v);
void pa_str_hex(pa_str_t *b, uint64_t v);
/* s with control characters replaced by '?' (pa_util_fputs_safe into a string). */
void pa_str_puts_safe(pa_str_t *b, const char *s);
void pa_str_printf(pa_str_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void pa_str_vprintf(pa_str_t *b, const char *fmt, va_list ap);
/* The contents ("" when empty); valid until the next append. */
const char *pa_str_get(const pa_str_t *b);
void pa_str_free(pa_str_t *b);

/* ---- list of strings ---------------------------------------------------------------------------
 */
typedef struct {
    char **items;
    size_t n, cap;
} pa_strlist_t;

int pa_strlist_add(pa_strlist_t *l, const char *s);
int pa_strlist_addf(pa_strlist_t *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void pa_strlist_free(pa_strlist_t *l);

/* ---- small helpers ------------------------------------------------------------------------------
 */
/* Last path component ("" stays ""). */
const char *pa_util_basename(const char *path);
/* Parses a whole decimal number in [min, max]; 0 on success, -1 otherwise. */
int pa_util_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);
/* "1.5 KiB", "12 B", ... into buf. */
const char *pa_util_format_bytes(uint64_t bytes, char *buf, size_t size);
/* A duration: "850 ns", "3.2 us", "12.3 ms", "1.50 s". */
const char *pa_util_format_ns(double ns, char *buf, size_t size);
/* Writes s with control characters replaced by '?': text from a trace must not reach a
 * terminal as escape sequences. */
void pa_util_fputs_safe(FILE *out, const char *s);
/* s with control characters replaced by '?' (names from a trace, printed on a terminal);
 * s may be buf itself. */
const char *pa_util_printable(const char *s, char *buf, size_t size);
/* The same in place, for n bytes. */
void pa_util_make_printable(char *s, size_t n);

#endif /* PERFSHIM_ANALYZER_UTIL_H */
