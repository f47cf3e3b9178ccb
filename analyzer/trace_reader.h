/* SPDX-License-Identifier: MIT */
/*
 * trace_reader.h — reading a trace file chunk by chunk (docs/trace-format.md), and a bounds-checked
 * cursor for decoding chunk payloads.
 *
 * The reader holds one chunk payload in memory at a time. It validates the file header (magic,
 * version), and every chunk's sync word, length and CRC-32. On damage it reports what and where
 * through the caller's warning callback, scans forward for the next chunk that verifies, and
 * goes on. It never interprets payloads (model.c does).
 */
#ifndef PERFSHIM_ANALYZER_TRACE_READER_H
#define PERFSHIM_ANALYZER_TRACE_READER_H

#include <endian.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ---- payload cursor ------------------------------------------------------------------------ */
/* Reads past the end return 0 / an empty string and set `err`; callers check `err` once at the
 * end of a record instead of after every field. */
typedef struct {
    const uint8_t *p; /* payload */
    size_t len;       /* payload bytes */
    size_t pos;       /* next byte to read */
    int err;          /* 1 once a read went past the end */
} pa_cursor_t;

void pa_cursor_init(pa_cursor_t *c, const uint8_t *p, size_t len);
uint16_t pa_cursor_u16(pa_cursor_t *c);
/* The slow paths of the two below: at the end of the payload, or after an error. */
uint32_t pa_cursor_u32_slow(pa_cursor_t *c);
uint64_t pa_cursor_u64_slow(pa_cursor_t *c);

/* Inline: a trace of a week of snapshots decodes millions of rows. */
static inline uint32_t pa_cursor_u32(pa_cursor_t *c)
{
    if (c->err || c->len - c->pos < 4)
        return pa_cursor_u32_slow(c);
    uint32_t v;
    memcpy(&v, c->p + c->pos, 4);
    c->pos += 4;
    return le32toh(v);
}

static inline uint64_t pa_cursor_u64(pa_cursor_t *c)
{
    if (c->err || c->len - c->pos < 8)
        return pa_cursor_u64_slow(c);
    uint64_t v;
    memcpy(&v, c->p + c->pos, 8);
    c->pos += 8;
    return le64toh(v);
}
/* An unsigned LEB128 varint (SNAPSHOT_PACKED rows): at most 10 bytes; one that runs past the
 * payload or past 64 bits sets err. Inline for the one- and two-byte cases (most differences of
 * a packed row: 6 varints a row, 4 decodes of each row in `timeline`; a hot stack's byte
 * differences take two); the others take the slow path. */
uint64_t pa_cursor_varint_slow(pa_cursor_t *c);
static inline uint64_t pa_cursor_varint(pa_cursor_t *c)
{
    if (!c->err && c->len - c->pos >= 2) {
        uint8_t b0 = c->p[c->pos], b1 = c->p[c->pos + 1];
        if (b0 < 0x80) {
            c->pos++;
            return b0;
        }
        if (b1 < 0x80) {
            c->pos += 2;
            return (uint64_t)(b0 & 0x7f) | (uint64_t)b1 << 7;
        }
    }
    return pa_cursor_varint_slow(c);
}
/* Skips n varints, refusing (err) exactly what n calls of pa_cursor_varint() refuse, at about a
 * word's cost for eight bytes of short varints: the check of a packed delta's rows that a
 * report passes over (model.c, packed_walk). */
void pa_cursor_skip_varints_slow(pa_cursor_t *c, uint64_t n);
/* Inline when the n-th varint ends within the next 8 bytes (a packed row's 5 differences, 11.5M
 * rows skipped on the busy trace): then each of them is shorter than 9 bytes, never refused.
 * The n-th terminator is found without a loop: byte i of the terminator flags (one a byte)
 * times 0x0101..01 is the count of terminators in bytes 0..i (at most 8: no carry), and a
 * subtraction from each byte with its high bit set marks the bytes where that count reaches n
 * (no borrow either); the first of them ends the n-th varint. */
static inline void pa_cursor_skip_varints(pa_cursor_t *c, uint64_t n)
{
    if (!c->err && n && n <= 8 && c->len - c->pos >= 8) {
        const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
        uint64_t w;
        memcpy(&w, c->p + c->pos, 8);
        uint64_t stops = (~le64toh(w) & highs) >> 7; /* 1 in each byte that ends a varint */
        uint64_t reached = ((stops * ones) | highs) - n * ones;
        reached &= highs; /* bit 7 of each byte where n varints have ended */
        if (reached) {
            c->pos += (size_t)__builtin_ctzll(reached) / 8 + 1;
            return;
        }
    }
    pa_cursor_skip_varints_slow(c, n);
}
/* A length-prefixed string: *s points into the payload (not NUL-terminated), *n its length. */
void pa_cursor_str(pa_cursor_t *c, const uint8_t **s, uint32_t *n);
/* Skips n bytes. */
void pa_cursor_skip(pa_cursor_t *c, size_t n);
/* Bytes left. */
size_t pa_cursor_left(const pa_cursor_t *c);

/* ---- reader ---------------------------------------------------------------------------------- */
typedef struct pa_reader pa_reader_t;

/* Receives each damage report, e.g. "bad CRC in chunk at offset 1234 (...)": the text does not
 * name the file (the caller adds it). */
typedef void (*pa_reader_warn_fn)(void *ctx, const char *msg);

typedef struct {
    uint16_t type;          /* enum ps_chunk_type, or an unknown value */
    uint16_t flags;         /* chunk header flags */
    uint32_t length;        /* payload bytes */
    uint64_t offset;        /* file offset of the chunk header */
    const uint8_t *payload; /* valid until the next pa_reader_next() */
} pa_chunk_t;

/* Opens `path` and validates its header. On failure returns PA_EIO, PA_EFORMAT or PA_EVERSION
 * and puts a message (without the file name) into err[errsize]. */
int pa_reader_open(const char *path, pa_reader_warn_fn warn, void *ctx, pa_reader_t **out,
                   char *err, size_t errsize);
/* 1: *chunk holds the next valid chunk; 0: no more chunks; PA_ENOMEM / PA_EIO on failure. */
int pa_reader_next(pa_reader_t *r, pa_chunk_t *chunk);
/* Chunks of this type (< 64) are passed over from now on: returned with their header checked
 * (sync word, length, within the file) but payload NULL, neither read nor CRC-checked. For a
 * later pass over a file an earlier pass read whole without damage (a regular file only;
 * otherwise they are read as usual). */
void pa_reader_pass_over(pa_reader_t *r, uint16_t type);
/* A walk over the chunk headers: every chunk is returned as pa_reader_pass_over() returns one
 * (header checked, payload NULL, nothing read or CRC-checked), and the first damage (a bad
 * header, a chunk past the end of the file) is reported and ends the walk instead of a
 * resynchronization. A regular file only: false (and nothing changed) otherwise. */
bool pa_reader_headers_only(pa_reader_t *r);
/* Payloads are read but their CRC is not computed: for a later pass over a file an earlier
 * pass read whole without damage (the file is taken to be unchanged, as for pass_over).
 * Resynchronization candidates are still verified. */
void pa_reader_trust(pa_reader_t *r);
/* Format version written in the file header. */
uint16_t pa_reader_version(const pa_reader_t *r);
/* True once any damage was reported. */
bool pa_reader_damaged(const pa_reader_t *r);
/* errno of the read error behind a PA_EIO from pa_reader_next(), else 0. */
int pa_reader_errno(const pa_reader_t *r);
void pa_reader_close(pa_reader_t *r);

#endif /* PERFSHIM_ANALYZER_TRACE_READER_H */
