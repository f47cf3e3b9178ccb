/* SPDX-License-Identifier: MIT */
/*
 * trace_reader.c — the streaming, validating chunk reader and the payload cursor.
 *
 * Memory stays bounded by the largest chunk (at most PS_CHUNK_MAX_LENGTH, and never more than
 * the file holds: a length field pointing past the end of a regular file is reported as
 * truncation before anything is allocated). Damage is reported once per event, with the file
 * offset of the chunk header; then the reader scans forward for the next sync word whose chunk
 * verifies (sync, length, CRC) and continues from there.
 */
#include "trace_reader.h"

#include "util.h"

#include "trace_format.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#ifdef PA_HAVE_LIBDEFLATE
#include <libdeflate.h>
#endif

/* ---- payload cursor ------------------------------------------------------------------------ */

void pa_cursor_init(pa_cursor_t *c, const uint8_t *p, size_t len)
{
    c->p = p;
    c->len = p ? len : 0;
    c->pos = 0;
    c->err = 0;
}

static const uint8_t *take(pa_cursor_t *c, size_t n)
{
    if (c->err || n > c->len - c->pos) {
        c->err = 1;
        c->pos = c->len;
        return NULL;
    }
    const uint8_t *at = c->p + c->pos;
    c->pos += n;
    return at;
}

static uint64_t le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* The fields of a chunk header (read for every chunk, the header walk's whole work). */
static inline uint32_t le32_at(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return le32toh(v);
}

static inline uint16_t le16_at(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return le16toh(v);
}

uint16_t pa_cursor_u16(pa_cursor_t *c)
{
    const uint8_t *p = take(c, 2);
    return p ? (uint16_t)le(p, 2) : 0;
}

uint32_t pa_cursor_u32_slow(pa_cursor_t *c)
{
    const uint8_t *p = take(c, 4);
    return p ? (uint32_t)le(p, 4) : 0;
}

uint64_t pa_cursor_u64_slow(pa_cursor_t *c)
{
    const uint8_t *p = take(c, 8);
    return p ? le(p, 8) : 0;
}

uint64_t pa_cursor_varint_slow(pa_cursor_t *c)
{
    uint64_t v = 0;
    for (unsigned shift = 0; !c->err && c->pos < c->len; shift += 7) {
        uint8_t b = c->p[c->pos++];
        if (shift == 63 && b > 1) /* the 10th byte holds bit 63 only */
            break;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return v;
    }
    c->err = 1;
    return 0;
}

void pa_cursor_skip_varints_slow(pa_cursor_t *c, uint64_t n)
{
    /* Starting at a varint's first byte, a word of 8 bytes holding a terminator (a byte below
     * 0x80) holds whole varints up to its last terminator, each shorter than 9 bytes and so
     * never refused. A word without one (a varint of 9 or 10 bytes) and the last 7 bytes of the
     * payload go through pa_cursor_varint(). */
    while (n && !c->err) {
        if (c->len - c->pos < 8) {
            pa_cursor_varint(c);
            n--;
            continue;
        }
        uint64_t w;
        memcpy(&w, c->p + c->pos, 8);
        uint64_t stop = ~le64toh(w) & 0x8080808080808080ull; /* bit 7 of each terminator */
        if (!stop) {
            pa_cursor_varint(c);
            n--;
            continue;
        }
        /* the terminators counted without a popcount instruction (x86-64's baseline has none):
         * one bit per byte, summed into the top byte by the multiply */
        unsigned found = (unsigned)(((stop >> 7) * 0x0101010101010101ull) >> 56);
        if (found > n) { /* the n-th terminator ends the skip */
            for (uint64_t k = 1; k < n; k++)
                stop &= stop - 1;
            c->pos += (size_t)__builtin_ctzll(stop) / 8 + 1;
            return;
        }
        c->pos += (size_t)(63 - __builtin_clzll(stop)) / 8 + 1;
        n -= found;
    }
}

void pa_cursor_str(pa_cursor_t *c, const uint8_t **s, uint32_t *n)
{
    uint32_t len = pa_cursor_u32(c);
    const uint8_t *p = take(c, len);
    *s = p ? p : (const uint8_t *)"";
    *n = p ? len : 0;
}

void pa_cursor_skip(pa_cursor_t *c, size_t n)
{
    take(c, n);
}

size_t pa_cursor_left(const pa_cursor_t *c)
{
    return c->err ? 0 : c->len - c->pos;
}

/* ---- reader ---------------------------------------------------------------------------------- */

struct pa_reader {
    FILE *f;
    uint64_t fpos;      /* where the FILE stands */
    uint64_t size;      /* file size when size_known */
    bool size_known;    /* regular file: lengths can be checked before reading */
    uint64_t pos;       /* offset of the next chunk header */
    uint16_t version;   /* from the file header */
    bool damaged;       /* any damage reported */
    bool ended;         /* END chunk or end of file reached */
    int ioerr;          /* errno of a read error */
    uint8_t *buf;       /* current payload */
    size_t cap;         /* bytes allocated for buf */
    uint64_t checked;   /* payload bytes read to verify resynchronization candidates */
    uint64_t pass_over; /* bit t: chunks of type t (< 64) are passed over by their length */
    bool headers_only;  /* every chunk is passed over; damage ends the file (no resync) */
    bool trusted;       /* payloads are read but not CRC-checked (pa_reader_trust) */
    char *iobuf;        /* IOBUF_SIZE bytes: the window (regular file), else the stream's buffer */
    bool win;           /* a regular file read through the window, with pread, not stdio */
    uint64_t win_off;   /* the window's file offset */
    size_t win_len;     /* bytes in it */
    const uint8_t *map; /* a regular file mapped read-only (its size at open), else NULL */
    uint64_t map_len;   /* bytes mapped */
    uint64_t held_off;  /* the mapped payload returned last (its pages given back at the next) */
    size_t held_len;
    int map_slot;      /* its slot in map_start/map_end (the SIGBUS handler's) */
    int map_bus_seen;  /* map_bus when the last chunk was read */
    uint8_t *hwin;     /* headers_only: a window of the file the headers are read from */
    uint64_t hwin_off; /* its offset */
    size_t hwin_len;   /* bytes in it */
    pa_reader_warn_fn warn;
    void *ctx;
};

static void report(pa_reader_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void report(pa_reader_t *r, const char *fmt, ...)
{
    pa_str_t b = {0};
    va_list ap;
    va_start(ap, fmt);
    pa_str_vprintf(&b, fmt, ap);
    va_end(ap);
    if (r->warn)
        r->warn(r->ctx,
                b.failed ? "damaged chunk (out of memory formatting the message)" : pa_str_get(&b));
    pa_str_free(&b);
}

#define HWIN_SIZE ((size_t)64 << 10)
#define IOBUF_SIZE ((size_t)256 << 10)

/* ---- the mapped file -------------------------------------------------------------------------
 *
 * A regular file is also mapped read-only at the size it had when opened, and a chunk larger
 * than the window (IOBUF_SIZE) that lies inside that size is returned where it lies in the
 * mapping: such a payload was read into a buffer of its own size, freed after it (so that a
 * large chunk's buffer is not held while the smaller ones after it load), so every keyframe of
 * a long trace was copied by the kernel into pages faulted in and zeroed afresh: on the busy
 * trace the 13 keyframes (7 MB each) read by both passes of `timeline` were 185 MB of its 590 MB
 * of preads, and those faults a tenth of its CPU. Smaller chunks and chunk headers still go
 * through the windows, which were measured cheaper than faulting the mapping's pages in one by
 * one (the header walk touches every page or so of the file; page faults and their unmapping
 * cost more than the kernel's copy into a window that stays in cache). Whatever lies past the
 * mapped size (a file still being written) goes through the pread path as before, so the
 * handling of truncated, growing and damaged files is the same.
 *
 * The pages of a mapped payload are given back when the next chunk is read (madvise
 * MADV_DONTNEED: a private read-only mapping of a file drops its page table entries, the page
 * cache keeps the pages), so the mapping holds one chunk resident at most, as the buffer did.
 *
 * A file truncated by another process while mapped would raise SIGBUS at the first access
 * past its new end (a pread would have returned fewer bytes). The handler below maps a page of
 * zeros over the faulting page when it lies in a reader's mapping and counts it; the reader
 * then reports a read error (EIO) for the chunk, as a failed pread, and the analyzer goes on
 * instead of dying. A SIGBUS anywhere else gets the action it had before. */

#define MAP_SLOTS 16

static _Atomic(uintptr_t) map_start[MAP_SLOTS], map_end[MAP_SLOTS];
static atomic_int map_bus; /* bumped by the handler on every page it replaced */
static atomic_flag map_handler_set = ATOMIC_FLAG_INIT;
static struct sigaction map_old_bus;

static void map_on_bus(int sig, siginfo_t *si, void *uc)
{
    uintptr_t a = (uintptr_t)si->si_addr;
    for (int i = 0; i < MAP_SLOTS; i++) {
        uintptr_t s = atomic_load(&map_start[i]), e = atomic_load(&map_end[i]);
        if (!s || a < s || a >= e)
            continue;
        long pg = sysconf(_SC_PAGESIZE);
        void *page = (void *)(a & ~(uintptr_t)(pg - 1));
        if (mmap(page, (size_t)pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) !=
            MAP_FAILED) {
            atomic_fetch_add(&map_bus, 1);
            return;
        }
        break;
    }
    /* not ours (or no page to put there): what the signal did before */
    if (map_old_bus.sa_flags & SA_SIGINFO && map_old_bus.sa_sigaction) {
        map_old_bus.sa_sigaction(sig, si, uc);
        return;
    }
    if (map_old_bus.sa_handler != SIG_DFL && map_old_bus.sa_handler != SIG_IGN &&
        map_old_bus.sa_handler) {
        map_old_bus.sa_handler(sig);
        return;
    }
    signal(SIGBUS, SIG_DFL);
    raise(SIGBUS);
}

/* Maps the file (r->size bytes) when it can, the handler set first; else r->map stays NULL and
 * the pread windows serve. */
static void map_file(pa_reader_t *r)
{
    r->map_slot = -1;
    if (!r->size_known || r->size == 0 || r->size > (uint64_t)SIZE_MAX)
        return;
    if (!atomic_flag_test_and_set(&map_handler_set)) {
        struct sigaction sa = {.sa_sigaction = map_on_bus, .sa_flags = SA_SIGINFO | SA_RESTART};
        sigemptyset(&sa.sa_mask);
        sigaction(SIGBUS, &sa, &map_old_bus);
    }
    int slot = -1;
    for (int i = 0; i < MAP_SLOTS && slot < 0; i++) {
        uintptr_t none = 0;
        if (atomic_compare_exchange_strong(&map_start[i], &none, (uintptr_t)1))
            slot = i; /* (1: taken, nothing mapped yet: no address lies in [1, 0)) */
    }
    if (slot < 0)
        return; /* more readers open at once than slots: this one preads */
    void *m = mmap(NULL, (size_t)r->size, PROT_READ, MAP_PRIVATE, fileno(r->f), 0);
    if (m == MAP_FAILED) {
        atomic_store(&map_start[slot], (uintptr_t)0);
        return;
    }
    atomic_store(&map_end[slot], (uintptr_t)m + (uintptr_t)r->size);
    atomic_store(&map_start[slot], (uintptr_t)m);
    r->map = m;
    r->map_len = r->size;
    r->map_slot = slot;
}

static void unmap_file(pa_reader_t *r)
{
    if (!r->map)
        return;
    atomic_store(&map_start[r->map_slot], (uintptr_t)1);
    atomic_store(&map_end[r->map_slot], (uintptr_t)0);
    munmap((void *)r->map, (size_t)r->map_len);
    atomic_store(&map_start[r->map_slot], (uintptr_t)0);
    r->map = NULL;
}

/* n bytes at off wholly inside the mapping: *p points to them. A page the SIGBUS handler
 * replaced since the last call (the file shrank under the reader) is a read error. */
static bool map_has(pa_reader_t *r, uint64_t off, size_t n, const uint8_t **p)
{
    if (!r->map || off > r->map_len || r->map_len - off < n)
        return false;
    *p = r->map + off;
    return true;
}

/* True (r->ioerr set to EIO) when the SIGBUS handler replaced a page since the reader last
 * looked: a page of a mapping was gone (the file shrank under it), which is a failed read. A
 * trusted pass does not read the payload here, so its decoder may have met the page: the next
 * call says so. */
static bool map_lost(pa_reader_t *r)
{
    if (!r->map || atomic_load(&map_bus) == r->map_bus_seen)
        return false;
    r->map_bus_seen = atomic_load(&map_bus);
    r->ioerr = EIO;
    return true;
}

/* The pages of the payload served from the mapping last, given back (they are valid until
 * the next chunk is read): the mapping holds at most one chunk resident, as the buffer did. */
static void map_release(pa_reader_t *r)
{
    if (!r->held_len)
        return;
    uint64_t pg = (uint64_t)sysconf(_SC_PAGESIZE);
    uint64_t from = r->held_off & ~(pg - 1);
    madvise((void *)(r->map + from), (size_t)(r->held_off + r->held_len - from), MADV_DONTNEED);
    r->held_len = 0;
}

/* pread until n bytes or the end of the file; returns how many (an error: in r->ioerr). */
static size_t pread_full(pa_reader_t *r, uint64_t off, void *dst, size_t n)
{
    return pa_util_pread_full(fileno(r->f), off, dst, n, &r->ioerr);
}

/* A regular file is read through one window of IOBUF_SIZE bytes, and a chunk inside it is
 * returned where it lies: stdio copied every chunk from its buffer into the payload buffer
 * (136 MB of memmove on the busy trace) and sought (an lseek, the buffer dropped) over each
 * chunk passed over. Up to n bytes (n <= IOBUF_SIZE) at off, the window filled from off when
 * it does not hold them all: *p points to them; returns how many the file holds (fewer at its
 * end or on an error). The file only grows by appends, so what the window holds stays true. */
static size_t win_at(pa_reader_t *r, uint64_t off, size_t n, const uint8_t **p)
{
    if (off < r->win_off || off - r->win_off > r->win_len || r->win_len - (off - r->win_off) < n) {
        r->win_off = off;
        r->win_len = pread_full(r, off, r->iobuf, IOBUF_SIZE);
    }
    size_t have = r->win_len - (size_t)(off - r->win_off);
    *p = (const uint8_t *)r->iobuf + (off - r->win_off);
    return have < n ? have : n;
}

/* Reads up to n bytes at offset off; returns how many (fewer at end of file or on error). */
static size_t read_at(pa_reader_t *r, uint64_t off, void *dst, size_t n)
{
    if (r->win) {
        const uint8_t *p;
        if (n <= IOBUF_SIZE) {
            size_t got = win_at(r, off, n, &p);
            memcpy(dst, p, got);
            return got;
        }
        size_t done = 0; /* larger: what the window holds of it, then the rest read directly */
        if (off >= r->win_off && off - r->win_off < r->win_len) {
            done = r->win_len - (size_t)(off - r->win_off);
            memcpy(dst, r->iobuf + (off - r->win_off), done);
        }
        return done + pread_full(r, off + done, (char *)dst + done, n - done);
    }
    if (off != r->fpos) {
        if (off > (uint64_t)INT64_MAX || fseeko(r->f, (off_t)off, SEEK_SET) != 0) {
            r->ioerr = errno ? errno : EIO;
            return 0;
        }
        r->fpos = off;
    }
    size_t got = fread(dst, 1, n, r->f);
    r->fpos += got;
    if (got < n && ferror(r->f)) {
        r->ioerr = errno ? errno : EIO;
        clearerr(r->f);
    }
    return got;
}

/* A chunk header at off for a walk over the headers: no stdio buffer refilled and no seek for
 * the 16 bytes (about 20M instructions fewer on the 42,609 chunks of the 129 MB scale trace),
 * and one pread of HWIN_SIZE bytes serves every header inside it: the chunks of packed deltas
 * are a few KiB, and one pread each was 45k system calls, 0.1-0.3 s, on the 227 MB busy trace.
 * The file only grows by appends, so what a window holds stays true. Returns the bytes read
 * (fewer at end of file or on error, errno kept). */
static size_t read_header(pa_reader_t *r, uint64_t off, uint8_t *h)
{
    size_t got = 0;
    if (r->hwin && off >= r->hwin_off && off - r->hwin_off + PS_CHUNK_HEADER_SIZE <= r->hwin_len) {
        memcpy(h, r->hwin + (off - r->hwin_off), PS_CHUNK_HEADER_SIZE);
        return PS_CHUNK_HEADER_SIZE;
    }
    if (!r->hwin)
        r->hwin = malloc(HWIN_SIZE);
    if (r->hwin && off <= (uint64_t)INT64_MAX - HWIN_SIZE) {
        ssize_t n;
        do
            n = pread(fileno(r->f), r->hwin, HWIN_SIZE, (off_t)off);
        while (n < 0 && errno == EINTR);
        r->hwin_off = off;
        r->hwin_len = n > 0 ? (size_t)n : 0;
        if (r->hwin_len >= PS_CHUNK_HEADER_SIZE) {
            memcpy(h, r->hwin, PS_CHUNK_HEADER_SIZE);
            return PS_CHUNK_HEADER_SIZE;
        }
        /* a short read (the end of the file): its bytes, and the loop below reads on from
         * them (an error: from the start, as without a window) */
        got = r->hwin_len;
        memcpy(h, r->hwin, got);
    }
    return got + pread_full(r, off + got, h + got, PS_CHUNK_HEADER_SIZE - got);
}

/* The chunk CRC-32 (zlib's): libdeflate's when the build found it, which folds 16 bytes at a
 * time with carry-less multiplication where the CPU has it (on a 129 MB trace zlib's took a
 * quarter of `leaks`; libdeflate's is about 20 times cheaper in instructions). */
static uint32_t crc32_of(uint32_t crc, const uint8_t *p, size_t n)
{
#ifdef PA_HAVE_LIBDEFLATE
    return libdeflate_crc32(crc, p, n);
#else
    return (uint32_t)crc32_z(crc, p, n);
#endif
}

enum { TRY_OK = 1, TRY_EOF = 2, TRY_BAD = 3, TRY_TRUNC = 4, TRY_GAVE_UP = 5 };

/* Room in r->buf for a payload of length bytes. The buffer holds one payload at a time and a
 * chunk's decoded form is held beside it: a payload past the window is given a buffer of its own
 * size (the old one freed first, never copied: it is read afresh), so a large chunk's buffer is
 * not held while the smaller ones after it load. A compile's exit SNAPSHOT (12.3 MB) left a
 * 16 MB buffer held while AGES, LEAK_KINDS and ADVICE were decoded beside it. Small payloads (a
 * stream's, read without the window) keep growing one buffer. */
static int payload_room(pa_reader_t *r, uint32_t length)
{
    size_t need = length ? length : 1;
    if (need <= r->cap && (r->cap <= IOBUF_SIZE || need > r->cap / 2))
        return PA_OK;
    if (need <= IOBUF_SIZE && r->cap <= IOBUF_SIZE)
        return pa_util_grow((void **)&r->buf, &r->cap, need, 1);
    free(r->buf);
    r->cap = 0;
    if (!(r->buf = malloc(need)))
        return PA_ENOMEM;
    pa_util_huge(r->buf, need); /* (as pa_util_grow's) */
    r->cap = need;
    return PA_OK;
}

/* Reads and verifies the chunk at `off`. With `loud`, damage is reported. Returns TRY_* or a
 * negative PA_E* code. */
static int try_chunk(pa_reader_t *r, uint64_t off, bool loud, pa_chunk_t *c)
{
    uint8_t h[PS_CHUNK_HEADER_SIZE];
    unsigned long long o = (unsigned long long)off;
    size_t got = r->headers_only ? read_header(r, off, h) : read_at(r, off, h, sizeof h);
    if (r->ioerr)
        return PA_EIO;
    if (got == 0)
        return TRY_EOF;
    if (got < sizeof h) {
        if (loud)
            report(r, "truncated chunk header at offset %llu: %zu of %d bytes, then the file ends",
                   o, got, PS_CHUNK_HEADER_SIZE);
        return TRY_TRUNC;
    }
    uint32_t sync = le32_at(h), length = le32_at(h + 8), stored = le32_at(h + 12);
    uint16_t type = le16_at(h + 4);
    if (sync != PS_CHUNK_SYNC) {
        if (loud)
            report(r, "bad sync word in chunk at offset %llu: 0x%08x, expected 0x%08x", o, sync,
                   PS_CHUNK_SYNC);
        return TRY_BAD;
    }
    if (length > PS_CHUNK_MAX_LENGTH) {
        if (loud)
            report(r,
                   "bad length in chunk at offset %llu: %u payload bytes, more than the %u allowed",
                   o, length, PS_CHUNK_MAX_LENGTH);
        return TRY_BAD;
    }
    uint64_t data = off + PS_CHUNK_HEADER_SIZE;
    if (r->size_known && data + length > r->size) {
        if (loud)
            report(r,
                   "truncated chunk at offset %llu: header says %u payload bytes, file ends after "
                   "%llu",
                   o, length, (unsigned long long)(r->size - data));
        return TRY_TRUNC;
    }
    if (loud && r->size_known && (r->headers_only || (type < 64 && (r->pass_over >> type & 1)))) {
        c->type = type; /* not read, not verified: the caller does not want it */
        c->flags = le16_at(h + 6);
        c->length = length;
        c->offset = off;
        c->payload = NULL;
        return TRY_OK;
    }
    if (!loud)
        r->checked += length;
    const uint8_t *payload;
    if (length > IOBUF_SIZE && map_has(r, data, length, &payload)) {
        got = length;
        map_release(r); /* (a resynchronization's candidates follow each other) */
        r->held_off = data;
        r->held_len = length;
    } else if (r->win && length <= IOBUF_SIZE) {
        got = win_at(r, data, length, &payload);
    } else {
        if (payload_room(r, length) != PA_OK)
            return PA_ENOMEM;
        got = read_at(r, data, r->buf, length);
        payload = r->buf;
    }
    if (r->ioerr)
        return PA_EIO;
    if (got < length) {
        if (loud)
            report(
                r,
                "truncated chunk at offset %llu: header says %u payload bytes, file ends after %zu",
                o, length, got);
        return TRY_TRUNC;
    }
    uint32_t crc = loud && r->trusted ? stored : crc32_of(crc32_of(0, h, 12), payload, length);
    if (map_lost(r))
        return PA_EIO;
    if (crc != stored) {
        if (loud)
            report(r,
                   "bad CRC in chunk at offset %llu (type %u, %u payload bytes): stored 0x%08x, "
                   "computed 0x%08x",
                   o, type, length, stored, crc);
        return TRY_BAD;
    }
    c->type = type;
    c->flags = le16_at(h + 6);
    c->length = length;
    c->offset = off;
    c->payload = payload;
    return TRY_OK;
}

/* Verifying a candidate reads its whole payload, so a file made of fake chunk headers that
 * each claim the rest of the file would take time quadratic in its size (6.8 s for 1 MB,
 * found by fuzzing). All resynchronizations of a file together may read this many payload
 * bytes; real damage needs a few chunks' worth. */
static uint64_t resync_budget(const pa_reader_t *r)
{
    return (64u << 20) + (r->size_known ? 4 * r->size : 0);
}

/* Finds the first offset >= start holding a chunk that verifies. Returns TRY_OK (chunk in *c),
 * TRY_EOF (none), TRY_GAVE_UP (the budget ran out), or a negative PA_E* code. */
static int resync(pa_reader_t *r, uint64_t start, pa_chunk_t *c)
{
    uint8_t win[64 * 1024];
    const uint8_t want[4] = {PS_CHUNK_SYNC & 0xff, (PS_CHUNK_SYNC >> 8) & 0xff,
                             (PS_CHUNK_SYNC >> 16) & 0xff, PS_CHUNK_SYNC >> 24};
    uint64_t s = start;
    for (;;) {
        size_t got = read_at(r, s, win, sizeof win);
        if (r->ioerr)
            return PA_EIO;
        if (got < sizeof want)
            return TRY_EOF;
        for (size_t i = 0; i + sizeof want <= got; i++) {
            if (memcmp(win + i, want, sizeof want) != 0)
                continue;
            if (r->checked > resync_budget(r)) {
                report(r,
                       "resynchronization stopped at offset %llu: more than %llu bytes of "
                       "false chunk headers checked; the rest of the file is ignored",
                       (unsigned long long)(s + i), (unsigned long long)resync_budget(r));
                return TRY_GAVE_UP;
            }
            int t = try_chunk(r, s + i, false, c);
            if (t < 0 || t == TRY_OK)
                return t;
        }
        s += got - (sizeof want - 1);
    }
}

static void after_chunk(pa_reader_t *r, const pa_chunk_t *c)
{
    r->pos = c->offset + PS_CHUNK_HEADER_SIZE + c->length;
    if (c->type != PS_CHUNK_END)
        return;
    r->ended = true;
    if (r->size_known && r->pos < r->size)
        report(r, "%llu bytes after the END chunk at offset %llu ignored",
               (unsigned long long)(r->size - r->pos), (unsigned long long)c->offset);
}

int pa_reader_next(pa_reader_t *r, pa_chunk_t *c)
{
    map_release(r);
    if (map_lost(r)) /* (the caller's decoding of the last payload met it) */
        return PA_EIO;
    if (r->ended)
        return 0;
    int t = try_chunk(r, r->pos, true, c);
    if (t < 0)
        return t;
    if (t == TRY_OK) {
        after_chunk(r, c);
        return 1;
    }
    if (t == TRY_EOF) {
        r->ended = true;
        return 0;
    }
    r->damaged = true;
    if (r->headers_only) { /* a walk over the headers stops at the first damage */
        r->ended = true;
        return 0;
    }
    uint64_t bad = r->pos;
    int s = resync(r, bad + 1, c);
    if (s < 0)
        return s;
    if (s == TRY_OK) {
        report(r, "resynchronized at offset %llu after skipping %llu damaged bytes",
               (unsigned long long)c->offset, (unsigned long long)(c->offset - bad));
        after_chunk(r, c);
        return 1;
    }
    r->ended = true;
    if (r->size_known && r->size > bad && t == TRY_BAD && s != TRY_GAVE_UP)
        report(r, "no valid chunk after offset %llu: the last %llu bytes are ignored",
               (unsigned long long)bad, (unsigned long long)(r->size - bad));
    return 0;
}

int pa_reader_open(const char *path, pa_reader_warn_fn warn, void *ctx, pa_reader_t **out,
                   char *err, size_t errsize)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errsize, "cannot open: %s", strerror(errno));
        return PA_EIO;
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(err, errsize, "is a directory, not a trace");
        fclose(f);
        return PA_EIO;
    }
    pa_reader_t *r = calloc(1, sizeof *r);
    if (!r) {
        fclose(f);
        snprintf(err, errsize, "out of memory");
        return PA_ENOMEM;
    }
    r->f = f;
    /* chunks are small and many (a week of snapshots: 60,000 and more): large reads. glibc
     * ignores the size when setvbuf is given no buffer (the stream kept st_blksize's 4 KiB, and
     * a chunk took two reads: 27k of them on the 227 MB busy trace), so the buffer is ours. */
    r->iobuf = malloc(IOBUF_SIZE);
    r->warn = warn;
    r->ctx = ctx;
    if (S_ISREG(st.st_mode)) {
        r->size_known = true;
        r->size = (uint64_t)st.st_size;
    }
    r->win = r->size_known && r->iobuf; /* (then stdio is not read from) */
    map_file(r);
    r->map_bus_seen = atomic_load(&map_bus);
    if (!r->win)
        setvbuf(f, r->iobuf, _IOFBF, r->iobuf ? IOBUF_SIZE : BUFSIZ);

    uint8_t h[PS_TRACE_FILE_HEADER_SIZE];
    size_t got = read_at(r, 0, h, sizeof h);
    int rc = PA_EFORMAT;
    if (r->ioerr) {
        snprintf(err, errsize, "cannot read: %s", strerror(r->ioerr));
        rc = PA_EIO;
    } else if (got == 0) {
        snprintf(err, errsize,
                 "empty file: not a trace (was the process killed before its "
                 "first snapshot?)");
    } else if (memcmp(h, PS_TRACE_MAGIC, got < PS_TRACE_MAGIC_LEN ? got : PS_TRACE_MAGIC_LEN)) {
        snprintf(err, errsize, "not a perfshim trace (bad magic at offset 0)");
    } else if (got < sizeof h) {
        snprintf(err, errsize, "truncated file header: %zu of %d bytes", got,
                 PS_TRACE_FILE_HEADER_SIZE);
    } else {
        r->version = (uint16_t)le(h + 8, 2);
        uint32_t hsize = (uint32_t)le(h + 12, 4);
        if (r->version > PS_TRACE_VERSION) {
            snprintf(err, errsize,
                     "trace format version %u is newer than this perfshim supports (version %u); "
                     "use a newer perfshim",
                     r->version, PS_TRACE_VERSION);
            rc = PA_EVERSION;
        } else if (r->version == 0) {
            snprintf(err, errsize, "invalid trace format version 0 at offset 8");
        } else if (hsize < PS_TRACE_FILE_HEADER_SIZE) {
            snprintf(err, errsize, "invalid file header size %u at offset 12 (at least %d)", hsize,
                     PS_TRACE_FILE_HEADER_SIZE);
        } else {
            /* Older versions: version 1 is the first, so there is nothing to convert yet. A
             * longer header (a later minor addition) is skipped. */
            r->pos = hsize;
            *out = r;
            return PA_OK;
        }
    }
    pa_reader_close(r);
    return rc;
}

void pa_reader_pass_over(pa_reader_t *r, uint16_t type)
{
    if (type < 64)
        r->pass_over |= (uint64_t)1 << type;
}

bool pa_reader_headers_only(pa_reader_t *r)
{
    if (!r->size_known)
        return false;
    r->headers_only = true;
    return true;
}

void pa_reader_trust(pa_reader_t *r)
{
    r->trusted = true;
}

uint16_t pa_reader_version(const pa_reader_t *r)
{
    return r->version;
}

bool pa_reader_damaged(const pa_reader_t *r)
{
    return r->damaged;
}

int pa_reader_errno(const pa_reader_t *r)
{
    return r->ioerr;
}

void pa_reader_close(pa_reader_t *r)
{
    if (!r)
        return;
    unmap_file(r);
    if (r->f)
        fclose(r->f);
    free(r->buf);
    free(r->iobuf);
    free(r->hwin);
    free(r);
}
