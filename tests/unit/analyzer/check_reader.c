/* SPDX-License-Identifier: MIT */
/*
 * check_reader.c — the trace reader and model on crafted traces: a valid trace; truncation at
 * every byte offset (never crashes, every complete chunk used, the damaged offset named); every
 * byte flipped (the damaged chunk named, later chunks used); newer versions refused; unknown
 * chunk types skipped; malformed payloads with valid CRCs; resynchronization over garbage;
 * random mutations; POOL chunks (decoded values, wide rows, short or corrupt payloads, and which
 * snapshot a POOL chunk belongs to); SNAPSHOT_DELTA (applied, its base lost, torn at every byte,
 * after a damaged keyframe) and timing chunks staged until their snapshot.
 */
#include "model.h"
#include "trace_reader.h"

#include "test_util.h"
#include "trace_builder.h"
#include "trace_format.h"

#include <check.h>
#include <errno.h>
#include <unistd.h>
#include <zlib.h>

/* ---- helpers ------------------------------------------------------------------------------- */

static void collect(void *ctx, const char *msg)
{
    pa_strlist_add(ctx, msg);
}

typedef struct {
    int open_rc;
    char err[512];
    size_t n;          /* chunks read */
    uint64_t offs[64]; /* their offsets */
    uint16_t types[64];
    bool damaged;
    pa_strlist_t warnings;
} scan_t;

static void scan_file(const char *path, scan_t *s)
{
    memset(s, 0, sizeof *s);
    pa_reader_t *r;
    s->open_rc = pa_reader_open(path, collect, &s->warnings, &r, s->err, sizeof s->err);
    if (s->open_rc != PA_OK)
        return;
    pa_chunk_t c;
    int n;
    while ((n = pa_reader_next(r, &c)) == 1) {
        if (s->n < 64) {
            s->offs[s->n] = c.offset;
            s->types[s->n] = c.type;
        }
        s->n++;
    }
    ck_assert_int_eq(n, 0);
    s->damaged = pa_reader_damaged(r);
    pa_reader_close(r);
}

static void write_buf(const char *path, const tb_buf_t *b)
{
    ck_assert_int_eq(tb_write_file(path, b->data, b->len), 0);
}

/* ---- cursor ------------------------------------------------------------------------------------
 */

START_TEST(test_cursor_bounds)
{
    const uint8_t data[] = {1, 0, 0, 0, 5, 0, 0, 0, 'a', 'b'};
    pa_cursor_t c;
    pa_cursor_init(&c, data, sizeof data);
    ck_assert_uint_eq(pa_cursor_u32(&c), 1);
    const uint8_t *s;
    uint32_t n;
    pa_cursor_str(&c, &s, &n); /* says 5 bytes, only 2 left */
    ck_assert_int_eq(c.err, 1);
    ck_assert_uint_eq(n, 0);
    ck_assert_uint_eq(pa_cursor_u64(&c), 0);
    ck_assert_uint_eq(pa_cursor_left(&c), 0);

    pa_cursor_init(&c, data, 3);
    ck_assert_uint_eq(pa_cursor_u16(&c), 1);
    ck_assert_int_eq(c.err, 0);
    ck_assert_uint_eq(pa_cursor_u16(&c), 0); /* 1 byte left */
    ck_assert_int_eq(c.err, 1);

    pa_cursor_init(&c, data, sizeof data);
    pa_cursor_skip(&c, SIZE_MAX); /* no overflow */
    ck_assert_int_eq(c.err, 1);
}
END_TEST

/* LEB128 as trace-format.md states it, written apart from the reader: the value of the varint at
 * *pos, or -1 (and *pos unchanged) for one that runs past len or past 64 bits. */
static int ref_varint(const uint8_t *p, size_t len, size_t *pos, uint64_t *v)
{
    uint64_t x = 0;
    for (size_t i = 0; i < 10 && *pos + i < len; i++) {
        uint8_t b = p[*pos + i];
        if (i == 9 && b > 1)
            return -1;
        x |= (uint64_t)(b & 0x7f) << (7 * i);
        if (b < 0x80) {
            *pos += i + 1;
            *v = x;
            return 0;
        }
    }
    return -1;
}

static uint64_t xs_state = 88172645463325252ull;
static uint64_t xs(void)
{
    xs_state ^= xs_state << 13;
    xs_state ^= xs_state >> 7;
    xs_state ^= xs_state << 17;
    return xs_state;
}

/* Random payloads of short and long varints (up to 11 bytes, the 10th byte 0..3): the decode
 * and the word-at-a-time skip of n varints agree with the reference on value, position and
 * refusal, for every n and every start. */
START_TEST(test_varint_decode_and_skip)
{
    uint8_t buf[96];
    for (int round = 0; round < 300; round++) {
        size_t len = 0;
        unsigned cont_pct = (unsigned)(xs() % 100); /* how often a byte continues */
        while (len < sizeof buf) {
            unsigned want = xs() % 16 == 0 ? 9 + (unsigned)(xs() % 3) : 1 + (unsigned)(xs() % 3);
            for (unsigned i = 0; i < want && len < sizeof buf; i++) {
                uint8_t b = (uint8_t)xs();
                bool last = i + 1 == want || xs() % 100 >= cont_pct;
                buf[len++] = last ? (uint8_t)(i == 9 ? b % 4 : b & 0x7f) : (uint8_t)(b | 0x80);
                if (last)
                    break;
            }
        }
        size_t plen = 1 + (size_t)(xs() % sizeof buf);
        for (size_t start = 0; start < plen; start += 1 + xs() % 5) {
            size_t rpos = start;
            pa_cursor_t c;
            pa_cursor_init(&c, buf, plen);
            c.pos = start;
            uint64_t n = 0; /* varints the reference reads before a refusal */
            int rerr = 0;
            while (!rerr && rpos < plen) {
                uint64_t want, got;
                rerr = ref_varint(buf, plen, &rpos, &want);
                got = pa_cursor_varint(&c);
                ck_assert_int_eq(c.err, rerr ? 1 : 0);
                if (!rerr) {
                    ck_assert_uint_eq(got, want);
                    ck_assert_uint_eq(c.pos, rpos);
                    n++;
                }
            }
            for (uint64_t k = 0; k <= n + 1; k++) {
                pa_cursor_t d;
                pa_cursor_init(&d, buf, plen);
                d.pos = start;
                pa_cursor_t e = d;
                for (uint64_t i = 0; i < k; i++)
                    pa_cursor_varint(&e);
                pa_cursor_skip_varints(&d, k);
                ck_assert_int_eq(d.err, e.err);
                if (!e.err)
                    ck_assert_uint_eq(d.pos, e.pos);
            }
        }
    }
}
END_TEST

/* ---- a valid trace ----------------------------------------------------------------------------
 */

START_TEST(test_valid_trace)
{
    tb_buf_t f = {0};
    size_t o[5];
    tb_typical(&f, o);
    const char *path = tu_path("valid.trace");
    write_buf(path, &f);

    scan_t s;
    scan_file(path, &s);
    ck_assert_int_eq(s.open_rc, PA_OK);
    ck_assert_uint_eq(s.n, 5);
    for (int i = 0; i < 5; i++)
        ck_assert_uint_eq(s.offs[i], o[i]);
    ck_assert_uint_eq(s.types[4], PS_CHUNK_END);
    ck_assert(!s.damaged);
    ck_assert_uint_eq(s.warnings.n, 0);
    pa_strlist_free(&s.warnings);

    pa_trace_t t;
    ck_assert_int_eq(pa_model_load(path, true, &t), PA_OK);
    ck_assert(t.has_process);
    ck_assert_uint_eq(t.process.pid, 4242);
    ck_assert_str_eq(t.process.program, "/nonexistent/prog");
    ck_assert_uint_eq(t.process.argc, 2);
    ck_assert_str_eq(t.process.argv[1], "--flag");
    ck_assert_str_eq(t.process.hostname, "testhost");
    ck_assert_uint_eq(t.process.page_size, 4096);
    ck_assert_uint_eq(t.nmodules, 1);
    ck_assert_uint_eq(t.modules[0].base, 0x400000);
    ck_assert_uint_eq(t.nstacks, 3);
    const pa_stack_t *st = pa_model_stack(&t, 2);
    ck_assert_ptr_nonnull(st);
    ck_assert_uint_eq(st->depth, 2);
    uint64_t addrs[4];
    ck_assert_uint_eq(pa_model_stack_addrs(&t, st, addrs, 4), 2);
    ck_assert_uint_eq(addrs[0], 0x403000);
    ck_assert(t.has_snapshot);
    ck_assert_uint_eq(t.snap.nrows, 3);
    ck_assert_uint_eq(t.snap.totals.live_blocks, 3);
    ck_assert_uint_eq(t.snap.totals.live_bytes, 1200);
    ck_assert_uint_eq(t.snap.totals.peak_live_bytes, 6000);
    ck_assert_uint_eq(t.snap.totals.untracked_frees, 3);
    ck_assert_uint_eq(t.snap.rows[1].live_bytes, 1000);
    ck_assert(t.has_end);
    ck_assert(pa_model_complete(&t));
    for (size_t i = 0; i < t.warnings.n; i++)
        ck_assert_msg(!strstr(t.warnings.items[i], "POOL"), "%s", t.warnings.items[i]);
    pa_model_free(&t);
    tb_free(&f);
}
END_TEST

/* ---- truncation at every offset ------------------------------------------------------------- */

START_TEST(test_truncated_everywhere)
{
    tb_buf_t f = {0};
    size_t o[5];
    tb_typical(&f, o);
    size_t ends[5];
    for (int i = 0; i < 5; i++)
        ends[i] = i < 4 ? o[i + 1] : f.len;
    const char *path = tu_path("cut.trace");
    int saved = tu_stderr_silence(); /* pa_model_load prints its errors */
    for (size_t cut = 0; cut < f.len; cut++) {
        ck_assert_int_eq(tb_write_file(path, f.data, cut), 0);
        scan_t s;
        scan_file(path, &s);
        if (cut < PS_TRACE_FILE_HEADER_SIZE) {
            ck_assert_int_eq(s.open_rc, PA_EFORMAT);
            ck_assert(strstr(s.err, cut ? "truncated file header" : "empty file"));
            continue;
        }
        ck_assert_int_eq(s.open_rc, PA_OK);
        size_t complete = 0;
        bool boundary = cut == PS_TRACE_FILE_HEADER_SIZE;
        for (int i = 0; i < 5; i++) {
            complete += ends[i] <= cut;
            boundary = boundary || ends[i] == cut;
        }
        ck_assert_msg(s.n == complete, "cut %zu: %zu chunks, expected %zu", cut, s.n, complete);
        for (size_t i = 0; i < complete; i++)
            ck_assert_uint_eq(s.offs[i], o[i]);
        ck_assert_msg(s.damaged == !boundary, "cut %zu: damaged %d", cut, s.damaged);
        if (!boundary) {
            char want[64];
            snprintf(want, sizeof want, "truncated chunk %sat offset %zu",
                     cut - o[complete] < PS_CHUNK_HEADER_SIZE ? "header " : "", o[complete]);
            ck_assert_msg(tu_has(&s.warnings, want), "cut %zu: no '%s' (got '%s')", cut, want,
                          s.warnings.n ? s.warnings.items[0] : "");
        }
        pa_strlist_free(&s.warnings);

        pa_trace_t t;
        int rc = pa_model_load(path, true, &t);
        if (cut >= ends[3]) { /* the snapshot is complete */
            ck_assert_int_eq(rc, PA_OK);
            ck_assert_uint_eq(t.snap.totals.live_bytes, 1200);
            ck_assert(!pa_model_complete(&t));
            ck_assert_uint_ge(t.warnings.n, 1);
            pa_model_free(&t);
        } else {
            ck_assert_int_eq(rc, PA_ENOSNAPSHOT);
        }
    }
    tu_stderr_restore(saved);
    tb_free(&f);
}
END_TEST

/* A truncated chunk's message says how much is there. */
START_TEST(test_truncated_message)
{
    tb_buf_t f = {0};
    size_t o[5];
    tb_typical(&f, o);
    const char *path = tu_path("cut2.trace");
    size_t cut = o[3] + PS_CHUNK_HEADER_SIZE + 10; /* 10 bytes of the snapshot payload */
    ck_assert_int_eq(tb_write_file(path, f.data, cut), 0);
    scan_t s;
    scan_file(path, &s);
    char want[128];
    snprintf(want, sizeof want,
             "truncated chunk at offset %zu: header says %zu payload bytes, file ends after 10",
             o[3], o[4] - o[3] - PS_CHUNK_HEADER_SIZE);
    ck_assert_msg(tu_has(&s.warnings, want), "want '%s', got '%s'", want,
                  s.warnings.n ? s.warnings.items[0] : "");
    ck_assert_uint_eq(s.n, 3);
    pa_strlist_free(&s.warnings);
    tb_free(&f);
}
END_TEST

/* ---- flipped bytes
 * ------------------------------------------------------------------------------- */

START_TEST(test_flipped_payload_byte)
{
    tb_buf_t f = {0};
    size_t o[5];
    tb_typical(&f, o);
    f.data[o[2] + PS_CHUNK_HEADER_SIZE + 5] ^= 0x40; /* inside the STACKS payload */
    const char *path = tu_path("flip.trace");
    write_buf(path, &f);

    scan_t s;
    scan_file(path, &s);
    char want[64];
    snprintf(want, sizeof want, "bad CRC in chunk at offset %zu", o[2]);
    ck_assert(tu_has(&s.warnings, want));
    snprintf(want, sizeof want, "resynchronized at offset %zu", o[3]);
    ck_assert(tu_has(&s.warnings, want));
    ck_assert_uint_eq(s.n, 4); /* PROCESS, MODULES, SNAPSHOT, END */
    ck_assert(s.damaged);
    pa_strlist_free(&s.warnings);

    pa_trace_t t;
    ck_assert_int_eq(pa_model_load(path, true, &t), PA_OK);
    ck_assert(!pa_model_complete(&t));
    ck_assert(t.has_end);
    ck_assert_uint_eq(t.nstacks, 0);
    ck_assert_uint_eq(t.snap.totals.live_bytes, 1200);
    pa_model_free(&t);
    tb_free(&f);
}
END_TEST

START_TEST(test_flipped_every_byte)
{
    tb_buf_t f = {0};
    size_t o[5];
    tb_typical(&f, o);
    const char *path = tu_path("flipall.trace");
    int saved = tu_stderr_silence();
    for (size_t at = PS_TRACE_FILE_HEADER_SIZE; at < f.len; at++) {
        f.data[at] ^= 0x01;
        write_buf(path, &f);
        f.data[at] ^= 0x01;
        int k = 4;
        while (o[k] > at)
            k--;
        scan_t s;
        scan_file(path, &s);
        ck_assert_int_eq(s.open_rc, PA_OK);
        ck_assert_msg(s.damaged, "flip at %zu not detected", at);
        char want[64];
        snprintf(want, sizeof want, "at offset %zu", o[k]);
        ck_assert_msg(tu_has(&s.warnings, want), "flip at %zu: no '%s' (got '%s')", at, want,
                      s.warnings.n ? s.warnings.items[0] : "");
        /* every other chunk is still read */
        ck_assert_msg(s.n == 4, "flip at %zu: %zu chunks", at, s.n);
        pa_strlist_free(&s.warnings);

        pa_trace_t t;
        int rc = pa_model_load(path, true, &t);
        ck_assert(rc == PA_OK || (k == 3 && rc == PA_ENOSNAPSHOT));
        if (rc == PA_OK) {
            ck_assert(!pa_model_complete(&t));
            pa_model_free(&t);
        }
    }
    tu_stderr_restore(saved);
    tb_free(&f);
}
END_TEST

/* Garbage between two chunks: skipped, reported, the rest used. */
START_TEST(test_resync_over_garbage)
{
    tb_buf_t f = {0}, g = {0};
    size_t o[5];
    tb_typical(&f, o);
    tb_bytes(&g, f.data, o[2]);
    const char junk[] = "PSCK garbage PSCKPSCK with fake sync words";
    tb_bytes(&g, junk, sizeof junk);
    tb_bytes(&g, f.data + o[2], f.len - o[2]);
    const char *path = tu_path("garbage.trace");
    write_buf(path, &g);
    scan_t s;
    scan_file(path, &s);
    ck_assert_uint_eq(s.n, 5);
    char want[96];
    snprintf(want, sizeof want, "resynchronized at offset %zu after skipping %zu damaged bytes",
             o[2] + sizeof junk, sizeof junk);
    ck_assert_msg(tu_has(&s.warnings, want), "want '%s'", want);
    pa_strlist_free(&s.warnings);
    tb_free(&f);
    tb_free(&g);
}
END_TEST

/* A file of fake chunk headers, each claiming most of the rest of the file: verifying every
 * candidate would read O(n^2) bytes (seconds for a megabyte). The reader stops after a budget
 * and says so; the valid chunks before the damage are kept. */
START_TEST(test_resync_budget)
{
    tb_buf_t f = {0}, g = {0}, fake = {0};
    size_t o[5];
    tb_typical(&f, o);
    tb_bytes(&g, f.data, o[4]); /* everything but END */
    tb_u32(&fake, PS_CHUNK_SYNC);
    tb_u16(&fake, PS_CHUNK_SNAPSHOT);
    tb_u16(&fake, 0);
    tb_u32(&fake, 3u << 20); /* payload: 3 MiB of the 4 MiB that follow */
    tb_u32(&fake, 0);        /* wrong CRC */
    for (int i = 0; i < (4 << 20) / PS_CHUNK_HEADER_SIZE; i++)
        tb_bytes(&g, fake.data, fake.len);
    const char *path = tu_path("fake-headers.trace");
    write_buf(path, &g);
    scan_t s;
    scan_file(path, &s);
    ck_assert_uint_eq(s.n, 4); /* PROCESS, MODULES, STACKS, SNAPSHOT */
    ck_assert_msg(tu_has(&s.warnings, "resynchronization stopped at offset"), "budget warning");
    pa_strlist_free(&s.warnings);
    tb_free(&f);
    tb_free(&g);
    tb_free(&fake);
}
END_TEST

/* ---- versions, unknown chunks ------------------------------------------------------------------
 */

START_TEST(test_newer_version_refused)
{
    tb_buf_t f = {0};
    tb_typical(&f, NULL);
    f.data[8] = PS_TRACE_VERSION + 1;
    const char *path = tu_path("newer.trace");
    write_buf(path, &f);
    scan_t s;
    scan_file(path, &s);
    ck_assert_int_eq(s.open_rc, PA_EVERSION);
    char want[128];
    snprintf(want, sizeof want, "version %d is newer than this perfshim supports (version %d)",
             PS_TRACE_VERSION + 1, PS_TRACE_VERSION);
    ck_assert_msg(strstr(s.err, want), "got '%s'", s.err);
    int saved = tu_stderr_silence();
    pa_trace_t t;
    ck_assert_int_eq(pa_model_load(path, true, &t), PA_EVERSION);
    tu_stderr_restore(saved);
    tb_free(&f);
}
END_TEST

START_TEST(test_bad_magic)
{
    tb_buf_t f = {0};
    tb_typical(&f, NULL);
    f.data[0] = 'X';
    const char *path = tu_path("magic.trace");
    write_buf(path, &f);
    scan_t s;
    scan_file(path, &s);
    ck_assert_int_eq(s.open_rc, PA_EFORMAT);
    ck_assert(strstr(s.err, "not a perfshim trace"));
    tb_free(&f);
}
END_TEST

START_TEST(test_unknown_chunk_skipped)
{
    tb_buf_t f = {0}, p = {0};
    size_t o[5];
    tb_typical(&f, o);
    /* rebuild: PROCESS, MODULES, type 77, STACKS, SNAPSHOT, END(5) */
    tb_buf_t g = {0};
    tb_bytes(&g, f.data, o[2]);
    tb_str(&p, "from the future");
    tb_chunk(&g, 77, &p);
    tb_bytes(&g, f.data + o[2], o[4] - o[2]);
    p.len = 0;
    tb_end(&p, 5);
    tb_chunk(&g, PS_CHUNK_END, &p);
    const char *path = tu_path("unknown.trace");
    write_buf(path, &g);
    pa_trace_t t;
    ck_assert_int_eq(pa_model_load(path, true, &t), PA_OK);
    ck_assert(pa_model_complete(&t));
    for (size_t i = 0; i < t.warnings.n; i++)
        ck_assert_msg(!strstr(t.warnings.items[i], "POOL"), "%s", t.warnings.items[i]);
    ck_assert_uint_eq(t.nstacks, 3);
    ck_assert_uint_eq(t.snap.nrows, 3);
    pa_model_free(&t);
    tb_free(&f);
    tb_free(&g);
    tb_free(&p);
}
END_TEST

/* Fields appended to a payload by a later revision are ignored; longer rows are skipped. */
START_TEST(test_trailing_fields_and_wide_rows)
{
    tb_buf_t f = {0}, p = {0};
    tb_file_header(&f, PS_TRACE_VERSION);
    const char *argv[] = {"x"};
    tb_process(&p, 7, "/x", 1, argv);
    tb_u64(&p, 0xdeadbeef); /* a future field */
    tb_chunk(&f, PS_CHUNK_PROCESS, &p);
    p.len = 0;
    /* snapshot with 80-byte rows */
    tb_u64(&p, 5);
    tb_u32(&p, PS_SNAP_DUMP);
    tb_u32(&p, 0);
    for (int i = 0; i < 10; i++)
        tb_u64(&p, (uint64_t)i);
    tb_u32(&p, 2);
    tb_u32(&p, 80);
    for (uint32_t r = 1; r <= 2; r++) {
        tb_u32(&p, r);
        tb_u32(&p, 0);
        for (int i = 0; i < 7; i++)
            tb_u64(&p, r * 100 + (uint64_t)i);
        tb_u64(&p, 0xaaaa);
        tb_u64(&p, 0xbbbb);
    }
    tb_chunk(&f, PS_CHUNK_SNAPSHOT, &p);
    p.len = 0;
    tb_end(&p, 2);
    tb_chunk(&f, PS_CHUNK_END, &p);
    const char *path = tu_path("wide.trace");
    write_buf(path, &f);
    pa_trace_t t;
    ck_assert_int_eq(pa_model_load(path, true, &t), PA_OK);
    ck_assert_uint_eq(t.process.pid, 7);
    ck_assert_uint_eq(t.snap.nrows, 2);
    ck_assert_uint_eq(t.snap.rows[1].stack_id, 2);
    ck_assert_uint_eq(t.snap.rows[1].allocs, 200);
    ck_assert_uint_eq(t.snap.rows[1].peak_live_bytes, 206);
    ck_assert_uint_eq(t.snap.reason, PS_SNAP_DUMP);
    ck_assert(pa_model_complete(&t));
    pa_model_free(&t);
    tb_free(&f);
    tb_free(&p);
}
END_TEST

/* ---- malformed payloads (CRC fine, contents not) -------------------------------------------- */

START_TEST(test_malformed_payloads)
{
    tb_buf_t f = {0}, p = {0};
    tb_file_header(&f, PS_TRACE_VERSION);
    tb_u32(&p, 0xffffffffu); /* STACKS: 4 billion stacks in 4 bytes */
    size_t bad_stacks = tb_chunk(&f, PS_CHUNK_STACKS, &p);
    p.len = 0;
    tb_u32(&p, 1); /* one stack claiming 2^31 frames */
    tb_u32(&p, 9);
    tb_u32(&p, 0x80000000u);
    tb_u64(&p, 1);
    tb_chunk(&f, PS_CHUNK_STACKS, &p);
    p.len = 0;
    tb_u32(&p, 1000); /* MODULES count too large */
    tb_chunk(&f, PS_CHUNK_MODULES, &p);
    p.len = 0;
    tb_u64(&p, 1); /* PROCESS cut short */
    tb_chunk(&f, PS_CHUNK_PROCESS, &p);
    p.len = 0;
    tb_u64(&p, 1); /* SNAPSHOT: row count beyond the payload */
    tb_u32(&p, 0);
    tb_u32(&p, 0);
    for (int i = 0; i < 10; i++)
        tb_u64(&p, 1);
    tb_u32(&p, 0x10000000u);
    tb_u32(&p, 64);
    size_t bad_snap = tb_chunk(&f, PS_CHUNK_SNAPSHOT, &p);
    p.len = 0;
    tb_row_t row = {1, 1, 10, 0, 0, 1, 10, 10};
    tb_snapshot(&p, PS_SNAP_EXIT, &row, 1, 10, 0, 0);
    tb_chunk(&f, PS_CHUNK_SNAPSHOT, &p);
    const char *path = tu_path("malformed.trace");
    write_buf(path, &f);

    pa_trace_t t;
    ck_assert_int_eq(pa_model_load(path, true, &t), PA_OK);
    char want[64];
    snprintf(want, sizeof want, "malformed STACKS chunk at offset %zu", bad_stacks);
    ck_assert(tu_has(&t.warnings, want));
    snprintf(want, sizeof want, "malformed SNAPSHOT chunk at offset %zu", bad_snap);
    ck_assert(tu_has(&t.warnings, want));
    ck_assert(tu_has(&t.warnings, "malformed MODULES chunk"));
    ck_assert(tu_has(&t.warnings, "malformed PROCESS chunk"));
    ck_assert(!t.has_process);
    ck_assert(t.damaged);
    ck_assert_uint_eq(t.snap.nrows, 1);
    pa_model_free(&t);
    tb_free(&f);
    tb_free(&p);
}
END_TEST

/* ---- several snapshots, module maps, END count --------------------------------------------------
 */

START_TEST(test_last_snapshot_and_peaks)
{
    tb_buf_t f = {0}, p = {0};
    tb_file_header(&f, PS_TRACE_VERSION);
    tb_module_t m1[] = {{0x1000, 0x1000, 0x2000, "/a", NULL, 0},
                        {0x5000, 0x5000, 0x6000, "/b", NULL, 0}};
    tb_modules(&p, m1, 2);
    tb_chunk(&f, PS_CHUNK_MODULES, &p);
    p.len = 0;
    tb_row_t r1 = {1, 10, 1000, 0, 0, 10, 1000, 1000};
    tb_snapshot(&p, PS_SNAP_DUMP, &r1, 1, 9000, 100, 7000);
    tb_chunk(&f, PS_CHUNK_SNAPSHOT, &p);
    p.len = 0;
    tb_module_t m2[] = {{0x1000, 0x1000, 0x2000, "/a", NULL, 0},
                        {0x5800, 0x5800, 0x7000, "/c", NULL, 0},
                        {0x9000, 0x9000, 0xa000, "/d", NULL, 0}};
    tb_modules(&p, m2, 3);
    tb_chunk(&f, PS_CHUNK_MODULES, &p);
    p.len = 0;
    tb_modules(&p, m2, 1); /* /d unloaded: retired */
    tb_chunk(&f, PS_CHUNK_MODULES, &p);
    p.len = 0;
    tb_row_t r2 = {1, 10, 1000, 9, 900, 1, 100, 1000};
    tb_snapshot(&p, PS_SNAP_EXIT, &r2, 1, 500, 50, 60);
    tb_chunk(&f, PS_CHUNK_SNAPSHOT, &p);
    p.len = 0;
    tb_end(&p, 4); /* wrong: 5 chunks precede it */
    size_t end = tb_chunk(&f, PS_CHUNK_END, &p);
    const char *path = tu_path("multi.trace");
    write_buf(path, &f);

    pa_trace_t t;
    ck_assert_int_eq(pa_model_load(path, true, &t), PA_OK);
    ck_assert_uint_eq(t.nsnapshots, 2);
    ck_assert_uint_eq(t.snap.reason, PS_SNAP_EXIT);
    ck_assert_uint_eq(t.snap.rows[0].live_blocks, 1);
    ck_assert_uint_eq(t.snap.totals.peak_live_bytes, 9000); /* max over snapshots */
    ck_assert_uint_eq(t.snap.totals.peak_rss_bytes, 7000);
    ck_assert_uint_eq(t.snap.totals.rss_bytes, 50);
    /* latest map /a; retired /d (and /c); /b was replaced by /c, which overlaps it */
    ck_assert_str_eq(pa_model_module_at(&t, 0x1800)->path, "/a");
    ck_assert_str_eq(pa_model_module_at(&t, 0x9800)->path, "/d");
    ck_assert(pa_model_module_at(&t, 0x9800)->retired);
    ck_assert_str_eq(pa_model_module_at(&t, 0x5900)->path, "/c");
    ck_assert_ptr_null(pa_model_module_at(&t, 0x5100));
    char want[96];
    snprintf(want, sizeof want, "END chunk at offset %zu says 4 chunks precede it, but 5 were read",
             end);
    ck_assert(tu_has(&t.warnings, want));
    ck_assert(!pa_model_complete(&t));
    pa_model_free(&t);
    tb_free(&f);
    tb_free(&p);
}
END_TEST

START_TEST(test_no_snapshot)
{
    tb_buf_t f = {0}, p = {0};
    tb_file_header(&f, PS_TRACE_VERSION);
    const char *argv[] = {"x"};
    tb_process(&p, 7, "/x", 1, argv);
    tb_chunk(&f, PS_CHUNK_PROCESS, &p);
    const char *path = tu_path("nosnap.trace");
    write_buf(path, &f);
    int saved = tu_stderr_silence();
    pa_trace_t t;
    ck_assert_int_eq(pa_model_load(path, true, &t), PA_ENOSNAPSHOT);
    tu_stderr_restore(saved);
    tb_free(&f);
    tb_free(&p);
}
END_TEST

START_TEST(test_no_end_is_incomplete)
{
    tb_buf_t f = {0};
    size_t o[5];
    tb_typical(&f, o);
    const char *path = tu_path("noend.trace");
    ck_assert_int_eq(tb_write_file(path, f.data, o[4]), 0);
    pa_trace_t t;
    ck_assert_int_eq(pa_model_load(path, true, &t), PA_OK);
    ck_assert(!t.damaged);
    ck_assert(!pa_model_complete(&t));
    ck_assert(tu_has(&t.warnings, "no END chunk"));
    pa_model_free(&t);
    tb_free(&f);
}
END_TEST

/* ---- random mutations --------------------------------------------------------------------------
 */

START_TEST(test_random_mutations)
{
    tb_buf_t f = {0};
    tb_typical(&f, NULL);
    uint8_t *d = malloc(f.len + 64);
    uint64_t x = 0x9e3779b97f4a7c15ull;
    const char *path = tu_path("fuzz.trace");
    int saved = tu_stderr_silence();
    for (int iter = 0; iter < 3000; iter++) {
        size_t len = f.len;
        memcpy(d, f.data, len);
        int edits = 1 + iter % 8;
        for (int e = 0; e < edits; e++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            size_t at = (size_t)(x % len);
            switch ((x >> 32) % 4) {
            case 0: /* random byte */
                d[at] = (uint8_t)(x >> 40);
                break;
            case 1: /* truncate */
                len = at + 1;
                break;
            case 2: /* a large length field */
                d[at] = 0xff;
                break;
            default: /* zero */
                d[at] = 0;
            }
        }
        ck_assert_int_eq(tb_write_file(path, d, len), 0);
        pa_trace_t t;
        if (pa_model_load(path, true, &t) == PA_OK)
            pa_model_free(&t);
    }
    tu_stderr_restore(saved);
    free(d);
    tb_free(&f);
}
END_TEST

/* ---- POOL chunks ------------------------------------------------------------------------------
 */

static void check_typical_pool(const pa_pool_t *pool, uint64_t offset)
{
    const tb_pool_totals_t *w = &tb_typical_pool_totals;
    ck_assert_ptr_nonnull(pool);
    ck_assert_uint_eq(pool->offset, offset);
    ck_assert_uint_eq(pool->time_ns, TB_SNAPSHOT_TIME_NS);
    ck_assert_uint_eq(pool->max_size, 1024);
    ck_assert_uint_eq(pool->reserved, w->reserved);
    ck_assert_uint_eq(pool->committed, 4 << 20);
    ck_assert_uint_eq(pool->slab_bytes, 2 << 20);
    ck_assert_uint_eq(pool->empty_bytes, 64 << 10);
    ck_assert_uint_eq(pool->released_bytes, 128 << 10);
    ck_assert_uint_eq(pool->returned_bytes, 256 << 10);
    ck_assert_uint_eq(pool->threads, 3);
    ck_assert(!pool->exhausted);
    ck_assert_uint_eq(pool->nclasses, 4); /* the unused class is kept in the model */
    for (size_t i = 0; i < 4; i++)
        tu_pool_class_eq(&pool->classes[i], &tb_typical_pool_classes[i]);
    ck_assert_uint_eq(pool->classes[2].bytes_returned, 65536); /* the last field of a row */
    ck_assert_uint_eq(pool->classes[3].direct_frees, 1);
}

START_TEST(test_pool_parsed)
{
    tb_buf_t f = {0};
    size_t o[6];
    tb_typical_pool(&f, o);
    const char *path = tu_path("pool.trace");
    write_buf(path, &f);
    pa_trace_t t;
    ck_assert_int_eq(pa_model_load(path, true, &t), PA_OK);
    ck_assert_msg(t.warnings.n == 0, "warning: %s", t.warnings.n ? t.warnings.items[0] : "");
    ck_assert(pa_model_complete(&t)); /* END counts the POOL chunk */
    check_typical_pool(pa_model_pool(&t), o[4]);
    ck_assert_uint_eq(t.snap.totals.live_bytes, 1200);
    pa_model_free(&t);

    /* the typical trace without a pool: no pool data */
    tb_free(&f);
    tb_typical(&f, NULL);
    write_buf(path, &f);
    ck_assert_int_eq(pa_model_load(path, true, &t), PA_OK);
    ck_assert_ptr_null(pa_model_pool(&t));
    ck_assert(!t.has_pool);
    pa_model_free(&t);
    tb_free(&f);
}
END_TEST

START_TEST(test_pool_hit_rate)
{
    pa_pool_class_t c = {0};
    ck_assert_double_eq(pa_model_pool_hit_rate(&c), 0.0); /* no allocation: no division */
    c.allocs = 1000;
    c.hits = 990;
    ck_assert_double_eq_tol(pa_model_pool_hit_rate(&c), 0.99, 1e-12);
    c.allocs = 200;
    c.hits = 150;
    ck_assert_double_eq(pa_model_pool_hit_rate(&c), 0.75);
    c.hits = 0;
    ck_assert_double_eq(pa_model_pool_hit_rate(&c), 0.0);
    c.hits = 200;
    ck_assert_double_eq(pa_model_pool_hit_rate(&c), 1.0);
    c.hits = 300; /* never above 1, whatever the file says */
    ck_assert_double_eq(pa_model_pool_hit_rate(&c), 1.0);
    c.allocs = UINT64_MAX;
    c.hits = UINT64_MAX - 1;
    ck_assert_double_le(pa_model_pool_hit_rate(&c), 1.0);
}
END_TEST

/* Builds PROCESS, SNAPSHOT (at snap_ns), POOL (payload as given), END into f; returns the
 * offset of the POOL chunk. */
static size_t pool_trace(tb_buf_t *f, uint64_t snap_ns, const tb_buf_t *pool)
{
    tb_buf_t p = {0};
    tb_file_header(f, PS_TRACE_VERSION);
    const char *argv[] = {"x"};
    tb_process(&p, 7, "/x", 1, argv);
    tb_chunk(f, PS_CHUNK_PROCESS, &p);
    p.len = 0;
    tb_row_t row = {1, 4, 400, 1, 100, 3, 300, 300};
    tb_snapshot_at(&p, snap_ns, PS_SNAP_EXIT, &row, 1, 300, 1 << 20, 1 << 20);
    tb_chunk(f, PS_CHUNK_SNAPSHOT, &p);
    size_t off = tb_chunk(f, PS_CHUNK_POOL, pool);
    p.len = 0;
    tb_end(&p, 3);
    tb_chunk(f, PS_CHUNK_END, &p);
    tb_free(&p);
    return off;
}

/* Rows wider than 96 bytes and fields appended after the rows are skipped. */
START_TEST(test_pool_wide_rows)
{
    static const uint32_t sizes[] = {97, 104, 200};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        uint32_t row_size = sizes[k];
        tb_buf_t f = {0}, p = {0};
        tb_pool(&p, &tb_typical_pool_totals, tb_typical_pool_classes, 4, row_size);
        tb_u64(&p, 0xfeedfacecafebeefull); /* a future field */
        size_t off = pool_trace(&f, TB_SNAPSHOT_TIME_NS, &p);
        const char *path = tu_path("poolwide.trace");
        write_buf(path, &f);
        pa_trace_t t;
        ck_assert_int_eq(pa_model_load(path, true, &t), PA_OK);
        ck_assert_msg(t.warnings.n == 0, "row size %u: %s", row_size, t.warnings.items[0]);
        check_typical_pool(pa_model_pool(&t), off);
        pa_model_free(&t);
        tb_free(&f);
        tb_free(&p);
    }
}
END_TEST

/* Loads f, expects a malformed POOL chunk at off named, no pool data, the snapshot used. */
static void expect_bad_pool(const tb_buf_t *f, size_t off, const char *why)
{
    const char *path = tu_path("poolbad.trace");
    write_buf(path, f);
    pa_trace_t t;
    ck_assert_int_eq(pa_model_load(path, true, &t), PA_OK);
    char want[160];
    snprintf(want, sizeof want, "malformed POOL chunk at offset %zu: %s; chunk ignored", off, why);
    ck_assert_msg(tu_has(&t.warnings, want), "want '%s', got '%s'", want,
                  t.warnings.n ? t.warnings.items[0] : "(none)");
    ck_assert_ptr_null(pa_model_pool(&t));
    ck_assert(t.damaged);
    ck_assert(!pa_model_complete(&t));
    ck_assert_uint_eq(t.snap.totals.live_bytes, 300);
    pa_model_free(&t);
}

START_TEST(test_pool_malformed)
{
    tb_buf_t full = {0}, p = {0}, f = {0};
    tb_pool(&full, &tb_typical_pool_totals, tb_typical_pool_classes, 4, PS_POOL_ROW_SIZE);
    ck_assert_uint_eq(full.len, 80 + 4 * 96);
    /* every payload shorter than the whole: the totals or a row cut short */
    for (size_t len = 0; len < full.len; len++) {
        p.len = 0;
        tb_bytes(&p, full.data, len);
        f.len = 0;
        size_t off = pool_trace(&f, TB_SNAPSHOT_TIME_NS, &p);
        expect_bad_pool(&f, off,
                        len < 80 ? "payload ends inside the totals"
                                 : "more size classes than the payload holds");
    }
    /* rows narrower than 96 bytes */
    p.len = 0;
    tb_pool(&p, &tb_typical_pool_totals, tb_typical_pool_classes, 4, 64);
    f.len = 0;
    expect_bad_pool(&f, pool_trace(&f, TB_SNAPSHOT_TIME_NS, &p), "row size 64 is less than 96");
    p.len = 0;
    tb_pool(&p, &tb_typical_pool_totals, tb_typical_pool_classes, 0, 0);
    f.len = 0;
    expect_bad_pool(&f, pool_trace(&f, TB_SNAPSHOT_TIME_NS, &p), "row size 0 is less than 96");
    /* a class count that would overflow a 32-bit product */
    p.len = 0;
    tb_pool(&p, &tb_typical_pool_totals, tb_typical_pool_classes, 1, PS_POOL_ROW_SIZE);
    p.data[72] = p.data[73] = p.data[74] = p.data[75] = 0xff; /* class_count */
    p.data[76] = p.data[77] = p.data[78] = p.data[79] = 0xff; /* row_size */
    f.len = 0;
    expect_bad_pool(&f, pool_trace(&f, TB_SNAPSHOT_TIME_NS, &p),
                    "more size classes than the payload holds");
    tb_free(&full);
    tb_free(&p);
    tb_free(&f);
}
END_TEST

/* Every byte of a POOL payload set to 0x00 and to 0xff, CRC recomputed: never a crash, and the
 * pool is either decoded or named as malformed. */
START_TEST(test_pool_corrupt_every_byte)
{
    tb_buf_t full = {0}, p = {0}, f = {0};
    tb_pool(&full, &tb_typical_pool_totals, tb_typical_pool_classes, 4, PS_POOL_ROW_SIZE);
    const char *path = tu_path("poolcorrupt.trace");
    for (size_t at = 0; at < full.len; at++) {
        for (int v = 0; v < 2; v++) {
            p.len = 0;
            tb_bytes(&p, full.data, full.len);
            p.data[at] = v ? 0xff : 0x00;
            f.len = 0;
            size_t off = pool_trace(&f, TB_SNAPSHOT_TIME_NS, &p);
            write_buf(path, &f);
            pa_trace_t t;
            ck_assert_int_eq(pa_model_load(path, true, &t), PA_OK);
            const pa_pool_t *pool = pa_model_pool(&t);
            if (pool) {
                /* only class_count 4 -> 0 still decodes, as an empty pool */
                ck_assert_msg(pool->nclasses == 4 || (at == 72 && v == 0), "byte %zu = %d", at, v);
            } else {
                char want[64];
                snprintf(want, sizeof want, "POOL chunk at offset %zu", off);
                ck_assert_msg(tu_has(&t.warnings, want), "byte %zu = %d: no '%s'", at, v, want);
            }
            pa_model_free(&t);
        }
    }
    tb_free(&full);
    tb_free(&p);
    tb_free(&f);
}
END_TEST

/* The pool trace cut at every byte: never a crash; the pool shows only once its chunk is whole. */
START_TEST(test_pool_truncated_everywhere)
{
    tb_buf_t f = {0};
    size_t o[6];
    tb_typical_pool(&f, o);
    const char *path = tu_path("poolcut.trace");
    int saved = tu_stderr_silence();
    for (size_t cut = o[3]; cut < f.len; cut++) {
        ck_assert_int_eq(tb_write_file(path, f.data, cut), 0);
        pa_trace_t t;
        int rc = pa_model_load(path, true, &t);
        if (cut < o[4]) { /* the snapshot itself is cut */
            ck_assert_int_eq(rc, PA_ENOSNAPSHOT);
            continue;
        }
        ck_assert_int_eq(rc, PA_OK);
        if (cut < o[5]) {
            ck_assert_ptr_null(pa_model_pool(&t));
            if (cut > o[4]) {
                char want[64];
                snprintf(want, sizeof want, "truncated chunk %sat offset %zu",
                         cut - o[4] < PS_CHUNK_HEADER_SIZE ? "header " : "", o[4]);
                ck_assert_msg(tu_has(&t.warnings, want), "cut %zu: no '%s'", cut, want);
            }
        } else {
            check_typical_pool(pa_model_pool(&t), o[4]);
        }
        ck_assert(!pa_model_complete(&t));
        pa_model_free(&t);
    }
    tu_stderr_restore(saved);
    tb_free(&f);
}
END_TEST

/* A POOL chunk is shown only with the snapshot it was written with. */
/* ---- POOL_PACKED -------------------------------------------------------------------------- */

/* The pool (head h, classes c[0..n)) at the reported snapshot, field by field. */
static void check_pool_is(const pa_pool_t *pool, const tb_pool_totals_t *h,
                          const tb_pool_class_t *c, uint32_t n)
{
    ck_assert_ptr_nonnull(pool);
    ck_assert_uint_eq(pool->time_ns, h->time_ns);
    ck_assert_uint_eq(pool->max_size, h->max_size);
    ck_assert_uint_eq(pool->reserved, h->reserved);
    ck_assert_uint_eq(pool->committed, h->committed);
    ck_assert_uint_eq(pool->slab_bytes, h->slab_bytes);
    ck_assert_uint_eq(pool->empty_bytes, h->empty_bytes);
    ck_assert_uint_eq(pool->released_bytes, h->released_bytes);
    ck_assert_uint_eq(pool->returned_bytes, h->returned_bytes);
    ck_assert_uint_eq(pool->threads, h->threads);
    ck_assert_uint_eq(pool->exhausted, h->exhausted);
    ck_assert_uint_eq(pool->nclasses, n);
    for (uint32_t i = 0; i < n; i++)
        tu_pool_class_eq(&pool->classes[i], &c[i]);
}

/* Three snapshots: a POOL (the typical pool, A), then POOL_PACKED chunks B (against A: counters
 * up and down, two classes added, one between others) and C (against B: the head only), each
 * written by the builder's own encoder before its SNAPSHOT. */
enum { PP_SNAPS = 3 };
typedef struct {
    tb_pool_totals_t h[PP_SNAPS];
    tb_pool_class_t c[PP_SNAPS][6];
    uint32_t n[PP_SNAPS];
    size_t snap_end[PP_SNAPS]; /* file offset just past each SNAPSHOT chunk */
    size_t pool_at[PP_SNAPS];  /* offset of each POOL / POOL_PACKED chunk */
} pp_trace_t;

static void pool_packed_trace(tb_buf_t *f, pp_trace_t *x, uint64_t c_base_ns)
{
    memset(x, 0, sizeof *x);
    x->h[0] = tb_typical_pool_totals;
    x->n[0] = 4;
    memcpy(x->c[0], tb_typical_pool_classes, sizeof tb_typical_pool_classes);
    x->h[1] = x->h[0];
    x->h[1].time_ns += 1000;
    x->h[1].threads = 1;           /* down */
    x->h[1].committed += 4096;     /* up */
    x->h[1].exhausted = 1;         /* a u32 flag */
    x->h[1].reserved = UINT64_MAX; /* a difference past 2^63 */
    x->c[1][0] = x->c[0][0];       /* 16: counters up, bytes down */
    x->c[1][0].allocs += 5;
    x->c[1][0].hits += 5;
    x->c[1][0].bytes_in_use -= 32;
    x->c[1][1] = (tb_pool_class_t){24, 1, 7, 6, 1, 1, 0, 0, 0, 168, 0, 0, 0}; /* new, between */
    x->c[1][2] = x->c[0][1]; /* 32 and 48: unchanged, not listed */
    x->c[1][3] = x->c[0][2];
    x->c[1][4] = x->c[0][3]; /* 1024: central bytes gone */
    x->c[1][4].bytes_central = 0;
    x->c[1][5] = (tb_pool_class_t){4096, 3, 1, 0, 1, 1, 0, 0, 0, 4096, 0, 0, 0}; /* new, last */
    x->n[1] = 6;
    x->h[2] = x->h[1];
    x->h[2].time_ns += 1000;
    x->h[2].returned_bytes += 1;
    x->n[2] = 6;
    memcpy(x->c[2], x->c[1], sizeof x->c[1]);

    tb_buf_t p = {0};
    tb_file_header(f, PS_TRACE_VERSION);
    const char *argv[] = {"x"};
    tb_process(&p, 7, "/x", 1, argv);
    tb_chunk(f, PS_CHUNK_PROCESS, &p);
    tb_row_t row = {1, 4, 400, 1, 100, 3, 300, 300};
    for (int k = 0; k < PP_SNAPS; k++) {
        p.len = 0;
        uint16_t type = k ? PS_CHUNK_POOL_PACKED : PS_CHUNK_POOL;
        if (!k) {
            tb_pool(&p, &x->h[0], x->c[0], x->n[0], PS_POOL_ROW_SIZE);
        } else {
            tb_pool_totals_t base = x->h[k - 1];
            if (k == 2)
                base.time_ns = c_base_ns;
            tb_pool_packed(&p, &x->h[k], x->c[k], x->n[k], &base, x->c[k - 1], x->n[k - 1]);
        }
        x->pool_at[k] = tb_chunk(f, type, &p);
        p.len = 0;
        tb_snapshot_at(&p, x->h[k].time_ns, k == 2 ? PS_SNAP_EXIT : PS_SNAP_INTERVAL, &row, 1, 300,
                       1 << 20, 1 << 20);
        tb_chunk(f, PS_CHUNK_SNAPSHOT, &p);
        x->snap_end[k] = f->len;
    }
    p.len = 0;
    tb_end(&p, 7);
    tb_chunk(f, PS_CHUNK_END, &p);
    tb_free(&p);
}

START_TEST(test_pool_packed)
{
    tb_buf_t f = {0};
    pp_trace_t x;
    pool_packed_trace(&f, &x, TB_SNAPSHOT_TIME_NS + 1000);
    uint32_t b_len;
    memcpy(&b_len, f.data + x.pool_at[1] + 8, 4); /* packed: not 80 + 6 x 96 bytes */
    ck_assert_uint_lt(b_len, 100);
    const char *path = tu_path("pool_packed.trace");
    write_buf(path, &f);
    pa_trace_t t;
    ck_assert_int_eq(pa_model_load(path, true, &t), PA_OK);
    ck_assert_msg(t.warnings.n == 0, "warning: %s", t.warnings.n ? t.warnings.items[0] : "");
    ck_assert(pa_model_complete(&t));
    check_pool_is(pa_model_pool(&t), &x.h[2], x.c[2], x.n[2]);
    ck_assert_uint_eq(pa_model_pool(&t)->offset, x.pool_at[2]);
    pa_model_free(&t);

    /* torn at every byte after the first snapshot: the pool of the last complete snapshot */
    for (size_t cut = x.snap_end[0]; cut < f.len; cut++) {
        ck_assert_int_eq(tb_write_file(path, f.data, cut), 0);
        ck_assert_int_eq(pa_model_load(path, true, &t), PA_OK);
        int k = cut >= x.snap_end[2] ? 2 : cut >= x.snap_end[1] ? 1 : 0;
        check_pool_is(pa_model_pool(&t), &x.h[k], x.c[k], x.n[k]);
        for (size_t i = 0; i < t.warnings.n; i++)
            ck_assert_msg(!strstr(t.warnings.items[i], "POOL_PACKED"), "cut %zu: %s", cut,
                          t.warnings.items[i]);
        pa_model_free(&t);
    }
    tb_free(&f);

    /* C names a base that is not B: ignored with a warning, the pool stays B's */
    pool_packed_trace(&f, &x, TB_SNAPSHOT_TIME_NS);
    write_buf(path, &f);
    ck_assert_int_eq(pa_model_load(path, true, &t), PA_OK);
    check_pool_is(pa_model_pool(&t), &x.h[1], x.c[1], x.n[1]);
    char want[200];
    snprintf(want, sizeof want,
             "POOL_PACKED chunk at offset %zu changes the pool of time %llu ns, which was not "
             "read",
             x.pool_at[2], (unsigned long long)TB_SNAPSHOT_TIME_NS);
    ck_assert_msg(tu_has(&t.warnings, want), "want '%s'", want);
    ck_assert(tu_has(&t.warnings, "1 POOL_PACKED chunk(s) ignored"));
    pa_model_free(&t);
    tb_free(&f);
}
END_TEST

/* Malformed POOL_PACKED payloads (B of the trace above, changed): each is ignored with a
 * warning, and the pool stays A's; a payload cut anywhere is one of them. */
START_TEST(test_pool_packed_malformed)
{
    tb_buf_t f = {0};
    pp_trace_t x;
    pool_packed_trace(&f, &x, TB_SNAPSHOT_TIME_NS + 1000);
    size_t b_at = x.pool_at[1];
    uint32_t b_len;
    memcpy(&b_len, f.data + b_at + 8, 4); /* the chunk header's length */
    const uint8_t *b = f.data + b_at + PS_CHUNK_HEADER_SIZE;
    const char *path = tu_path("pool_packed_bad.trace");
    for (size_t k = 0; k < 3 + b_len; k++) {
        tb_buf_t g = {0}, p = {0};
        tb_bytes(&g, f.data, b_at);
        if (k == 0) { /* class_count one more than B's and A's classes make */
            tb_bytes(&p, b, b_len);
            size_t q = 17; /* past the time stamps and head_fields: 9 head varints */
            for (int v = 0; v < 9; v++) {
                while (p.data[q] & 0x80)
                    q++;
                q++;
            }
            ck_assert_uint_eq(p.data[q], 6);
            p.data[q] = 7;
        } else if (k == 1) { /* head_fields 8 */
            tb_bytes(&p, b, b_len);
            p.data[16] = 8;
        } else if (k == 2) { /* row sizes that do not increase: the second gap 0 */
            tb_pool_class_t c[2] = {x.c[1][0], x.c[1][1]};
            c[1].size = 16; /* 16 twice */
            tb_pool_packed(&p, &x.h[1], c, 2, &x.h[0], x.c[0], 1);
        } else { /* cut short */
            tb_bytes(&p, b, k - 3);
        }
        tb_chunk(&g, PS_CHUNK_POOL_PACKED, &p);
        tb_bytes(&g, f.data + x.pool_at[1] + PS_CHUNK_HEADER_SIZE + b_len,
                 x.snap_end[1] - (x.pool_at[1] + PS_CHUNK_HEADER_SIZE + b_len));
        write_buf(path, &g);
        pa_trace_t t;
        ck_assert_int_eq(pa_model_load(path, true, &t), PA_OK);
        ck_assert_uint_eq(t.nsnapshots, 2);
        ck_assert_msg(pa_model_pool(&t), "case %zu", k);
        check_pool_is(pa_model_pool(&t), &x.h[0], x.c[0], x.n[0]);
        ck_assert_msg(tu_has(&t.warnings, "malformed POOL_PACKED chunk"), "case %zu: %s", k,
                      t.warnings.n ? t.warnings.items[0] : "no warning");
        pa_model_free(&t);
        tb_free(&g);
        tb_free(&p);
    }
    tb_free(&f);
}
END_TEST

START_TEST(test_pool_belongs_to_last_snapshot)
{
    tb_buf_t f = {0}, p = {0}, pool = {0};
    const char *path = tu_path("poolsnap.trace");
    pa_trace_t t;

    /* time differs from the snapshot before it */
    tb_pool_totals_t other = tb_typical_pool_totals;
    other.time_ns = TB_SNAPSHOT_TIME_NS + 5;
    tb_pool(&pool, &other, tb_typical_pool_classes, 4, PS_POOL_ROW_SIZE);
    size_t off = pool_trace(&f, TB_SNAPSHOT_TIME_NS, &pool);
    write_buf(path, &f);
    ck_assert_int_eq(pa_model_load(path, true, &t), PA_OK);
    ck_assert_ptr_null(pa_model_pool(&t));
    char want[160];
    snprintf(want, sizeof want,
             "POOL chunk at offset %zu is for time 1000005 ns, not for the snapshot before it "
             "(1000000 ns); ignored",
             off);
    ck_assert_msg(tu_has(&t.warnings, want), "want '%s'", want);
    pa_model_free(&t);

    /* snapshot 1, a POOL chunk, snapshot 2 of the same time stamp: since PERFSHIM_INTERVAL the
     * shim writes POOL before its SNAPSHOT, so the chunk is snapshot 2's */
    tb_row_t row = {1, 4, 400, 1, 100, 3, 300, 300};
    f.len = 0;
    tb_file_header(&f, PS_TRACE_VERSION);
    tb_snapshot(&p, PS_SNAP_DUMP, &row, 1, 300, 100, 100);
    tb_chunk(&f, PS_CHUNK_SNAPSHOT, &p);
    pool.len = 0;
    tb_pool(&pool, &tb_typical_pool_totals, tb_typical_pool_classes, 4, PS_POOL_ROW_SIZE);
    size_t first_pool = tb_chunk(&f, PS_CHUNK_POOL, &pool);
    size_t second = tb_chunk(&f, PS_CHUNK_SNAPSHOT, &p);
    write_buf(path, &f);
    ck_assert_int_eq(pa_model_load(path, true, &t), PA_OK);
    ck_assert_uint_eq(t.nsnapshots, 2);
    check_typical_pool(pa_model_pool(&t), first_pool);
    pa_model_free(&t);

    /* ... but when snapshot 2 is malformed, snapshot 1 and its pool are what is reported */
    f.len = second;
    tb_buf_t bad = {0};
    tb_bytes(&bad, p.data, p.len);
    bad.data[100] = 10; /* row_size 10 */
    tb_chunk(&f, PS_CHUNK_SNAPSHOT, &bad);
    write_buf(path, &f);
    ck_assert_int_eq(pa_model_load(path, true, &t), PA_OK);
    ck_assert_uint_eq(t.nsnapshots, 1);
    ck_assert(tu_has(&t.warnings, "malformed SNAPSHOT chunk"));
    check_typical_pool(pa_model_pool(&t), first_pool);
    pa_model_free(&t);

    /* two POOL chunks after one snapshot: the later one wins */
    f.len = second;
    tb_pool_totals_t later = tb_typical_pool_totals;
    later.threads = 9;
    later.exhausted = 1;
    pool.len = 0;
    tb_pool(&pool, &later, tb_typical_pool_classes, 2, PS_POOL_ROW_SIZE);
    size_t off2 = tb_chunk(&f, PS_CHUNK_POOL, &pool);
    write_buf(path, &f);
    ck_assert_int_eq(pa_model_load(path, true, &t), PA_OK);
    const pa_pool_t *pp = pa_model_pool(&t);
    ck_assert_ptr_nonnull(pp);
    ck_assert_uint_eq(pp->offset, off2);
    ck_assert_uint_eq(pp->threads, 9);
    ck_assert(pp->exhausted);
    ck_assert_uint_eq(pp->nclasses, 2);
    pa_model_free(&t);

    /* a POOL chunk before its snapshot (the shim's order): shown */
    f.len = 0;
    tb_file_header(&f, PS_TRACE_VERSION);
    size_t early = tb_chunk(&f, PS_CHUNK_POOL, &pool);
    tb_chunk(&f, PS_CHUNK_SNAPSHOT, &p);
    write_buf(path, &f);
    ck_assert_int_eq(pa_model_load(path, true, &t), PA_OK);
    ck_assert_ptr_nonnull(pa_model_pool(&t));
    ck_assert_uint_eq(pa_model_pool(&t)->offset, early);
    for (size_t i = 0; i < t.warnings.n; i++)
        ck_assert_msg(!strstr(t.warnings.items[i], "POOL"), "%s", t.warnings.items[i]);
    pa_model_free(&t);

    /* ... and alone (the writer died before the SNAPSHOT chunk): ignored */
    f.len = 0;
    tb_file_header(&f, PS_TRACE_VERSION);
    early = tb_chunk(&f, PS_CHUNK_POOL, &pool);
    write_buf(path, &f);
    ck_assert_int_eq(pa_model_load(path, true, &t), PA_ENOSNAPSHOT);
    ck_assert_ptr_null(pa_model_pool(&t));

    /* a snapshot, then the POOL chunk of a later one whose SNAPSHOT never came: ignored */
    f.len = 0;
    tb_file_header(&f, PS_TRACE_VERSION);
    tb_chunk(&f, PS_CHUNK_SNAPSHOT, &p);
    pool.len = 0;
    tb_pool(&pool, &other, tb_typical_pool_classes, 4, PS_POOL_ROW_SIZE);
    early = tb_chunk(&f, PS_CHUNK_POOL, &pool);
    write_buf(path, &f);
    ck_assert_int_eq(pa_model_load(path, true, &t), PA_OK);
    ck_assert_ptr_null(pa_model_pool(&t));
    snprintf(want, sizeof want,
             "POOL chunk at offset %zu is for time 1000005 ns, not for the snapshot before it",
             early);
    ck_assert_msg(tu_has(&t.warnings, want), "want '%s'", want);
    pa_model_free(&t);

    tb_free(&f);
    tb_free(&p);
    tb_free(&pool);
    tb_free(&bad);
}
END_TEST

/* ---- SNAPSHOT_DELTA ------------------------------------------------------------------------ */

/* A SNAPSHOT_DELTA payload: base_time_ns, then a SNAPSHOT payload of the changed rows. */
static void delta_at(tb_buf_t *p, uint64_t base, uint64_t time_ns, const tb_row_t *rows, uint32_t n)
{
    tb_u64(p, base);
    tb_snapshot_at(p, time_ns, PS_SNAP_INTERVAL, rows, n, 5000, 100, 100);
}

static void add_chunk(tb_buf_t *f, uint16_t type, void (*build)(tb_buf_t *, uint64_t),
                      uint64_t time_ns)
{
    tb_buf_t p = {0};
    build(&p, time_ns);
    tb_chunk(f, type, &p);
    tb_free(&p);
}

static const tb_lock_t delta_lock = {.address = 0x1000, .kind = PS_LOCK_MUTEX, .acquisitions = 5};

static void locks_at(tb_buf_t *p, uint64_t time_ns)
{
    tb_locks(p, time_ns, 1, &delta_lock, 1, PS_LOCK_ROW_SIZE_WAKES, NULL, 0);
}

static void snapshot_chunk(tb_buf_t *f, uint64_t time_ns, const tb_row_t *rows, uint32_t n)
{
    tb_buf_t p = {0};
    tb_snapshot_at(&p, time_ns, PS_SNAP_INTERVAL, rows, n, 5000, 100, 100);
    tb_chunk(f, PS_CHUNK_SNAPSHOT, &p);
    tb_free(&p);
}

static size_t delta_chunk(tb_buf_t *f, uint64_t base, uint64_t time_ns, const tb_row_t *rows,
                          uint32_t n)
{
    tb_buf_t p = {0};
    delta_at(&p, base, time_ns, rows, n);
    size_t off = tb_chunk(f, PS_CHUNK_SNAPSHOT_DELTA, &p);
    tb_free(&p);
    return off;
}

static const tb_row_t key_rows[3] = {
    {1, 10, 100, 5, 50, 5, 50, 60}, {3, 7, 70, 7, 70, 0, 0, 20}, {5, 2, 200, 0, 0, 2, 200, 200}};
/* the delta: stack 3 changed, stack 4 new (out of order on purpose) */
static const tb_row_t delta_rows[2] = {{4, 1, 9, 0, 0, 1, 9, 9}, {3, 9, 90, 8, 80, 1, 10, 20}};

static void check_rows(const pa_trace_t *t, const uint32_t *ids, const uint64_t *allocs, size_t n)
{
    ck_assert_uint_eq(t->snap.nrows, n);
    for (size_t i = 0; i < n; i++) { /* rows in any order: looked up by stack id */
        const pa_row_t *r = pa_model_row(t, ids[i]);
        ck_assert_ptr_nonnull(r);
        ck_assert_uint_eq(r->allocs, allocs[i]);
    }
}

START_TEST(test_delta_applied)
{
    tb_buf_t f = {0};
    tb_file_header(&f, PS_TRACE_VERSION);
    snapshot_chunk(&f, 100, key_rows, 3);
    delta_chunk(&f, 100, 200, delta_rows, 2);
    delta_chunk(&f, 200, 300, delta_rows, 0); /* nothing changed */
    const char *path = tu_path("delta.trace");
    write_buf(path, &f);
    pa_trace_t t;
    ck_assert_int_eq(pa_model_load(path, true, &t), PA_OK);
    ck_assert_uint_eq(t.nsnapshots, 3);
    ck_assert_uint_eq(t.snap.time_ns, 300);
    static const uint32_t ids[] = {1, 3, 4, 5};
    static const uint64_t allocs[] = {10, 9, 1, 2};
    check_rows(&t, ids, allocs, 4);
    ck_assert_uint_eq(t.snap.rows[1].live_bytes, 10);
    pa_model_free(&t);

    /* a delta whose base is not the snapshot before it: not applied, said so */
    f.len = 0;
    tb_file_header(&f, PS_TRACE_VERSION);
    snapshot_chunk(&f, 100, key_rows, 3);
    size_t off = delta_chunk(&f, 150, 200, delta_rows, 2);
    delta_chunk(&f, 200, 300, delta_rows, 1);
    write_buf(path, &f);
    ck_assert_int_eq(pa_model_load(path, true, &t), PA_OK);
    ck_assert_uint_eq(t.nsnapshots, 1);
    ck_assert_uint_eq(t.snap.time_ns, 100);
    char want[200];
    snprintf(want, sizeof want, "SNAPSHOT_DELTA chunk at offset %zu changes the snapshot at 150 ns",
             off);
    ck_assert_msg(tu_has(&t.warnings, want), "want '%s'", want);
    ck_assert(!pa_model_complete(&t));
    pa_model_free(&t);

    /* a delta alone: no snapshot */
    f.len = 0;
    tb_file_header(&f, PS_TRACE_VERSION);
    delta_chunk(&f, 100, 200, delta_rows, 2);
    write_buf(path, &f);
    ck_assert_int_eq(pa_model_load(path, true, &t), PA_ENOSNAPSHOT);
    tb_free(&f);
}
END_TEST

/* A report of the last snapshot decodes rows from the last keyframe on: the snapshots before it
 * are counted and their peaks kept, as a full read (--at a later time) does; a damaged chunk
 * before the keyframe makes the model read the file whole, with the same warnings. */
static size_t snapshot_peak(tb_buf_t *f, uint64_t time_ns, const tb_row_t *rows, uint32_t n,
                            uint64_t peak)
{
    tb_buf_t p = {0};
    tb_snapshot_at(&p, time_ns, PS_SNAP_INTERVAL, rows, n, peak, 100, peak);
    size_t off = tb_chunk(f, PS_CHUNK_SNAPSHOT, &p);
    tb_free(&p);
    return off;
}

static void same_state(const pa_trace_t *a, const pa_trace_t *b)
{
    ck_assert_uint_eq(a->nsnapshots, b->nsnapshots);
    ck_assert_uint_eq(a->snap.number, b->snap.number);
    ck_assert_uint_eq(a->snap.time_ns, b->snap.time_ns);
    ck_assert_mem_eq(&a->snap.totals, &b->snap.totals, sizeof a->snap.totals);
    ck_assert_uint_eq(a->snap.nrows, b->snap.nrows);
    for (size_t i = 0; i < a->snap.nrows; i++) {
        const pa_row_t *r = pa_model_row(b, a->snap.rows[i].stack_id);
        ck_assert_ptr_nonnull(r);
        ck_assert_mem_eq(&a->snap.rows[i], r, sizeof *r);
    }
    ck_assert_uint_eq(a->warnings.n, b->warnings.n);
    for (size_t i = 0; i < a->warnings.n; i++)
        ck_assert_str_eq(a->warnings.items[i], b->warnings.items[i]);
    ck_assert_int_eq(a->damaged, b->damaged);
}

START_TEST(test_delta_from_keyframe)
{
    tb_buf_t f = {0};
    tb_file_header(&f, PS_TRACE_VERSION);
    snapshot_peak(&f, 100, key_rows, 3, 9000); /* the highest peak: before the keyframe */
    size_t d1 = delta_chunk(&f, 100, 200, delta_rows, 2);
    size_t key = snapshot_peak(&f, 300, key_rows, 2, 4000);
    delta_chunk(&f, 300, 400, delta_rows, 1);
    const char *path = tu_path("keyframe.trace");
    write_buf(path, &f);
    pa_at_t later = {.kind = PA_AT_TIME, .time_ns = 1000};
    pa_trace_t t, full;
    ck_assert_int_eq(pa_model_load(path, true, &t), PA_OK);
    ck_assert_int_eq(pa_model_load_at(path, true, &later, &full), PA_OK);
    ck_assert_uint_eq(t.keyframe, key);  /* the snapshots before it: heads only */
    ck_assert_uint_eq(full.keyframe, 0); /* --at a time: every snapshot decoded */
    same_state(&t, &full);
    ck_assert_uint_eq(t.nsnapshots, 4);
    ck_assert_uint_eq(t.snap.totals.peak_live_bytes, 9000);
    static const uint32_t ids[] = {1, 3, 4}; /* the keyframe's two, the delta's new one */
    static const uint64_t allocs[] = {10, 7, 1};
    check_rows(&t, ids, allocs, 3);
    pa_model_free(&t);
    pa_model_free(&full);

    /* a CRC error in the delta before the keyframe: read whole, reported as before */
    f.data[d1 + PS_CHUNK_HEADER_SIZE + 20] ^= 0x40;
    write_buf(path, &f);
    ck_assert_int_eq(pa_model_load(path, true, &t), PA_OK);
    ck_assert_int_eq(pa_model_load_at(path, true, &later, &full), PA_OK);
    ck_assert_uint_eq(t.keyframe, 0);
    ck_assert(t.warnings.n > 0);
    same_state(&t, &full);
    pa_model_free(&t);
    pa_model_free(&full);
    tb_free(&f);
}
END_TEST

/* The frame tree: 3000 stacks in two STACKS chunks (ids not in order, one redefined, one empty,
 * id 0 ignored) share their callers' nodes and read back frame for frame. */
static uint32_t tree_depth(uint32_t id)
{
    return id % 7 == 0 ? 0 : 1 + id % 23;
}

/* Stack id's frames, innermost first: its own leaf, then callers common to every stack of the
 * same id % 50 (by their distance from main, so a shorter stack's are a deeper one's), then
 * main's. */
static void tree_frames(uint32_t id, uint64_t *a)
{
    uint32_t d = tree_depth(id);
    for (uint32_t k = 0; k < d; k++)
        a[k] = k == 0       ? 0x500000 + id * 16
               : k + 1 == d ? 0x401000
                            : 0x410000 + (id % 50) * 256 + (d - 1 - k);
}

/* A frame path (outermost first) for counting the distinct ones. */
typedef struct {
    uint32_t n;
    uint64_t a[32];
} tree_path_t;

static int cmp_tree_path(const void *pa, const void *pb)
{
    const tree_path_t *x = pa, *y = pb;
    for (uint32_t k = 0; k < x->n && k < y->n; k++)
        if (x->a[k] != y->a[k])
            return x->a[k] < y->a[k] ? -1 : 1;
    return (x->n > y->n) - (x->n < y->n);
}

/* The nodes the tree must have for these stacks (innermost first, as in a STACKS record): one
 * per distinct path from the outermost frame, and the root. */
static size_t tree_nodes(const uint64_t (*st)[32], const uint32_t *depth, size_t n)
{
    size_t np = 0, nodes = 1;
    for (size_t i = 0; i < n; i++)
        np += depth[i];
    tree_path_t *p = calloc(np ? np : 1, sizeof *p);
    ck_assert_ptr_nonnull(p);
    np = 0;
    for (size_t i = 0; i < n; i++)
        for (uint32_t len = 1; len <= depth[i]; len++, np++) {
            p[np].n = len;
            for (uint32_t k = 0; k < len; k++)
                p[np].a[k] = st[i][depth[i] - 1 - k];
        }
    qsort(p, np, sizeof *p, cmp_tree_path);
    for (size_t i = 0; i < np; i++)
        nodes += i == 0 || cmp_tree_path(&p[i - 1], &p[i]) != 0;
    free(p);
    return nodes;
}

START_TEST(test_frame_tree)
{
    enum { N = 3000 };
    tb_buf_t f = {0}, p = {0};
    uint64_t a[32];
    size_t frames = 0;
    tb_file_header(&f, PS_TRACE_VERSION);
    for (int half = 0; half < 2; half++) {
        p.len = 0;
        tb_stacks_begin(&p, N / 2 + 2);
        for (uint32_t i = 0; i < N / 2; i++) {
            uint32_t id = half ? 2 * i + 2 : 2 * i + 1; /* odd ids first, then even */
            tree_frames(id, a);
            tb_stack(&p, id, tree_depth(id), a);
            frames += tree_depth(id);
        }
        tb_stack(&p, 0, 1, a); /* id 0: never defined, ignored */
        static const uint64_t other[2] = {0x999, 0x401000};
        tb_stack(&p, 5, 2, other); /* stack 5 redefined: the later definition wins */
        tb_chunk(&f, PS_CHUNK_STACKS, &p);
    }
    p.len = 0;
    tb_row_t row = {
        .stack_id = 1, .allocs = 1, .alloc_bytes = 8, .live_blocks = 1, .live_bytes = 8};
    tb_snapshot(&p, PS_SNAP_EXIT, &row, 1, 8, 0, 0);
    tb_chunk(&f, PS_CHUNK_SNAPSHOT, &p);
    const char *path = tu_path("tree.trace");
    write_buf(path, &f);
    pa_trace_t t;
    ck_assert_int_eq(pa_model_load(path, true, &t), PA_OK);
    ck_assert_uint_eq(t.nstacks, N);
    ck_assert_ptr_null(pa_model_stack(&t, 0));
    ck_assert_ptr_null(pa_model_stack(&t, N + 1));
    uint64_t got[32];
    for (uint32_t id = 1; id <= N; id++) {
        const pa_stack_t *st = pa_model_stack(&t, id);
        ck_assert_ptr_nonnull(st);
        ck_assert_uint_eq(st->id, id);
        if (id == 5) {
            ck_assert_uint_eq(st->depth, 2);
            ck_assert_uint_eq(pa_model_stack_addrs(&t, st, got, 32), 2);
            ck_assert_uint_eq(got[0], 0x999);
            ck_assert_uint_eq(got[1], 0x401000);
            continue;
        }
        tree_frames(id, a);
        ck_assert_uint_eq(st->depth, tree_depth(id));
        ck_assert_uint_eq(pa_model_stack_addrs(&t, st, got, 32), tree_depth(id));
        for (uint32_t k = 0; k < tree_depth(id); k++)
            ck_assert_uint_eq(got[k], a[k]);
        ck_assert_uint_eq(pa_model_stack_addrs(&t, st, got, 1), tree_depth(id) ? 1 : 0);
    }
    /* shared callers stored once: a node per stack's own frame, 22 per id % 50 group at most,
     * main's, the root, and stack 5's own two */
    ck_assert_uint_lt(t.frames.n, N + 50 * 22 + 1 + 1 + 2);
    ck_assert_uint_lt(t.frames.n, frames / 4);
    /* exactly one node per distinct path (the stacks as the file defines them: stack 5's
     * first definition made nodes too) */
    static uint64_t all[N + 1][32];
    static uint32_t depths[N + 1];
    for (uint32_t id = 1; id <= N; id++) {
        tree_frames(id, all[id - 1]);
        depths[id - 1] = tree_depth(id);
    }
    all[N][0] = 0x999;
    all[N][1] = 0x401000;
    depths[N] = 2;
    ck_assert_uint_eq(t.frames.n, tree_nodes(all, depths, N + 1));
    ck_assert_ptr_null(t.frames.index); /* freed once the file is read */
    /* Stacks added after the reading (the index made again from the nodes): one sharing all
     * but its leaf with stack 22 and not added right after it adds one node; one of stack 23's
     * frames again adds none; a new path adds its frames. */
    size_t before = t.frames.n;
    tree_frames(22, a);
    a[0] = 0x777000;
    ck_assert_int_eq(pa_model_add_stack(&t, N + 1, tree_depth(22), a), PA_OK);
    ck_assert_uint_eq(t.frames.n, before + 1);
    tree_frames(23, a);
    ck_assert_int_eq(pa_model_add_stack(&t, N + 2, tree_depth(23), a), PA_OK);
    ck_assert_uint_eq(t.frames.n, before + 1);
    tree_frames(22, a);
    ck_assert_int_eq(pa_model_add_stack(&t, N + 3, tree_depth(22), a), PA_OK);
    ck_assert_uint_eq(t.frames.n, before + 1);
    static const uint64_t fresh[3] = {0x888, 0x889, 0x401000};
    ck_assert_int_eq(pa_model_add_stack(&t, N + 4, 3, fresh), PA_OK);
    ck_assert_uint_eq(t.frames.n, before + 3);
    ck_assert_uint_eq(pa_model_stack_addrs(&t, pa_model_stack(&t, N + 1), got, 32), tree_depth(22));
    ck_assert_uint_eq(got[0], 0x777000);
    pa_model_free(&t);
    tb_free(&p);
    tb_free(&f);
}
END_TEST

/* STACKS_PACKED, written by the builder's own encoder: every stack reads back as written,
 * across shared callers, stacks deeper and shallower than the one before, empty stacks, id gaps,
 * and addresses whose differences wrap (PS_FRAME_CUT, 0); then three damaged chunks, each
 * ignored from the bad record on with a warning naming it, the stacks before it kept. */
START_TEST(test_stacks_packed)
{
    enum { N = 3000 };
    static uint64_t a[N + 1][32];
    uint32_t depth[N + 1] = {0};
    tb_buf_t f = {0}, p = {0};
    tb_file_header(&f, PS_TRACE_VERSION);
    uint64_t seed = 7;
    for (uint32_t id = 1; id <= N; id++) {
        tree_frames(id, a[id]);
        depth[id] = tree_depth(id);
        seed = seed * 6364136223846793005u + 1442695040888963407u;
        if (id % 97 == 0)
            depth[id] = 0;
        else if (id % 89 == 0) /* arbitrary 64-bit addresses, the cut mark last */
            for (uint32_t k = 0; k < depth[id]; k++)
                a[id][k] = k + 1 == depth[id] ? UINT64_MAX : seed >> (k % 64);
    }
    uint32_t prev = 0;
    for (int chunk = 0; chunk < 2; chunk++) { /* odd ids, then even ones: gaps of 2 */
        p.len = 0;
        tb_stacks_begin(&p, N / 2);
        prev = 0;
        for (uint32_t id = chunk + 1; id <= N; id += 2) {
            tb_stack_packed(&p, id, depth[id], a[id], prev, prev ? depth[prev] : 0,
                            prev ? a[prev] : NULL);
            prev = id;
        }
        tb_chunk(&f, PS_CHUNK_STACKS_PACKED, &p);
    }
    /* damaged: stack N+1 sound, then a zero id gap; N+3 sound, then sharing more frames than
     * N+3 has; N+5 sound, then a record cut short */
    size_t bad[3];
    for (int k = 0; k < 3; k++) {
        static const uint64_t two[2] = {0x401234, 0x401000};
        p.len = 0;
        tb_stacks_begin(&p, 2);
        uint32_t id = N + 1 + 2 * (uint32_t)k;
        tb_stack_packed(&p, id, 2, two, 0, 0, NULL);
        tb_varint(&p, k == 0 ? 0 : 1); /* id gap */
        tb_varint(&p, 4);              /* depth */
        tb_varint(&p, k == 1 ? 3 : 1); /* shared */
        if (k != 2)
            for (int j = 0; j < 3; j++)
                tb_varint(&p, 2);
        bad[k] = tb_chunk(&f, PS_CHUNK_STACKS_PACKED, &p);
    }
    p.len = 0;
    tb_row_t row = {
        .stack_id = 1, .allocs = 1, .alloc_bytes = 8, .live_blocks = 1, .live_bytes = 8};
    tb_snapshot(&p, PS_SNAP_EXIT, &row, 1, 8, 0, 0);
    tb_chunk(&f, PS_CHUNK_SNAPSHOT, &p);
    const char *path = tu_path("packed-stacks.trace");
    write_buf(path, &f);
    pa_trace_t t;
    ck_assert_int_eq(pa_model_load(path, true, &t), PA_OK);
    uint64_t got[32];
    for (uint32_t id = 1; id <= N; id++) {
        const pa_stack_t *st = pa_model_stack(&t, id);
        ck_assert_ptr_nonnull(st);
        ck_assert_uint_eq(st->depth, depth[id]);
        ck_assert_uint_eq(pa_model_stack_addrs(&t, st, got, 32), depth[id]);
        for (uint32_t k = 0; k < depth[id]; k++)
            ck_assert_uint_eq(got[k], a[id][k]);
    }
    char want[80];
    for (int k = 0; k < 3; k++) {
        ck_assert_ptr_nonnull(pa_model_stack(&t, N + 1 + 2 * (uint32_t)k));
        ck_assert_ptr_null(pa_model_stack(&t, N + 2 + 2 * (uint32_t)k));
        snprintf(want, sizeof want, "malformed STACKS_PACKED chunk at offset %zu", bad[k]);
        ck_assert_msg(tu_has(&t.warnings, want), "%s", want);
    }
    ck_assert_uint_eq(t.nstacks, N + 3);
    pa_model_free(&t);
    tb_free(&p);
    tb_free(&f);
}
END_TEST

/* STACKS_PACKED frames whose differences are mostly one byte (read in place by
 * load_stacks_packed while 8 bytes of the payload are left, through varint_word after that):
 * steps of -64..63 mixed with longer ones and stacks sharing frames, the chunk cut after every
 * byte of its payload. The stacks whose records end before the cut read back as written, the one
 * the cut falls in and those after it are not defined, and a cut chunk is reported malformed. */
START_TEST(test_stacks_packed_small_steps)
{
    enum { N = 40, D = 12 };
    static uint64_t a[N + 1][D];
    uint32_t depth[N + 1] = {0};
    size_t end[N + 1] = {0}; /* payload bytes through each stack's record */
    uint64_t seed = 11;
    for (uint32_t id = 1; id <= N; id++) {
        depth[id] = 1 + id % D;
        for (uint32_t k = depth[id]; k-- > 0;) { /* outermost first: a walk of small steps */
            seed = seed * 6364136223846793005u + 1442695040888963407u;
            uint64_t out = k + 1 < depth[id] ? a[id][k + 1] : 0x400000 + (id % 3) * 0x40;
            int64_t step = (int64_t)(seed >> 58) - 32; /* -32..31: one byte in zigzag */
            if (id % 7 == 0 && k == depth[id] / 2)
                step = (int64_t)(seed >> 20); /* now and then a long one */
            a[id][k] = out + (uint64_t)step;
        }
        if (id % 5 == 0 && id > 1 && depth[id - 1] >= 2 && depth[id] >= 3) /* shares two frames */
            for (uint32_t k = 0; k < 2; k++)
                a[id][depth[id] - 1 - k] = a[id - 1][depth[id - 1] - 1 - k];
    }
    tb_buf_t p = {0};
    tb_stacks_begin(&p, N);
    for (uint32_t id = 1; id <= N; id++) {
        tb_stack_packed(&p, id, depth[id], a[id], id - 1, id > 1 ? depth[id - 1] : 0,
                        id > 1 ? a[id - 1] : NULL);
        end[id] = p.len;
    }
    const char *path = tu_path("packed-small-steps.trace");
    for (size_t cut = 4; cut <= p.len; cut++) {
        tb_buf_t f = {0}, q = {0}, s = {0};
        tb_file_header(&f, PS_TRACE_VERSION);
        tb_bytes(&q, p.data, cut);
        size_t off = tb_chunk(&f, PS_CHUNK_STACKS_PACKED, &q);
        tb_row_t row = {
            .stack_id = 1, .allocs = 1, .alloc_bytes = 8, .live_blocks = 1, .live_bytes = 8};
        tb_snapshot(&s, PS_SNAP_EXIT, &row, 1, 8, 0, 0);
        tb_chunk(&f, PS_CHUNK_SNAPSHOT, &s);
        write_buf(path, &f);
        pa_trace_t t;
        ck_assert_int_eq(pa_model_load(path, true, &t), PA_OK);
        uint64_t got[D];
        for (uint32_t id = 1; id <= N; id++) {
            const pa_stack_t *st = pa_model_stack(&t, id);
            if (end[id] > cut) {
                ck_assert_msg(!st, "cut %zu: stack %u defined", cut, id);
                continue;
            }
            ck_assert_msg(st != NULL, "cut %zu: stack %u missing", cut, id);
            ck_assert_uint_eq(pa_model_stack_addrs(&t, st, got, D), depth[id]);
            for (uint32_t k = 0; k < depth[id]; k++)
                ck_assert_msg(got[k] == a[id][k], "cut %zu: stack %u frame %u", cut, id, k);
        }
        char want[80];
        snprintf(want, sizeof want, "malformed STACKS_PACKED chunk at offset %zu", off);
        ck_assert_msg(tu_has(&t.warnings, want) == (cut < p.len), "cut %zu", cut);
        pa_model_free(&t);
        tb_free(&s);
        tb_free(&q);
        tb_free(&f);
    }
    tb_free(&p);
}
END_TEST

/* pa_model_opts_t.live_stacks (`leaks`): the stacks of the live rows of the snapshot read, at
 * the last one and at an earlier one whose live set differs, are those of a reading of every
 * stack: a stack defined in an early chunk and redefined later in either layout, one behind stacks
 * left out in its packed chunk (matched from its outermost frame, not by the shared count), one in
 * a chunk damaged after it; a freed or undefined row's stack is not there; the warnings are the
 * same. */
START_TEST(test_live_stacks)
{
    enum { N = 600 };
    static uint64_t a[N + 1][32];
    tb_buf_t f = {0}, p = {0};
    tb_file_header(&f, PS_TRACE_VERSION);
    for (uint32_t id = 1; id <= N; id++)
        tree_frames(id, a[id]);
    p.len = 0; /* 1..N packed */
    tb_stacks_begin(&p, N);
    for (uint32_t id = 1; id <= N; id++)
        tb_stack_packed(&p, id, tree_depth(id), a[id], id - 1, id > 1 ? tree_depth(id - 1) : 0,
                        id > 1 ? a[id - 1] : NULL);
    tb_chunk(&f, PS_CHUNK_STACKS_PACKED, &p);
    static const uint64_t five[3] = {0x777000, 0x410105, 0x401000}; /* 5 redefined, unpacked */
    p.len = 0;
    tb_stacks_begin(&p, 3);
    tb_stack(&p, 701, tree_depth(101), a[101]);
    tb_stack(&p, 5, 3, five);
    tb_stack(&p, 700, tree_depth(100), a[100]);
    tb_chunk(&f, PS_CHUNK_STACKS, &p);
    /* 8 redefined (packed, after 6 and 7, which are left out) with 12's frames, then 801 */
    p.len = 0;
    tb_stacks_begin(&p, 4);
    tb_stack_packed(&p, 6, tree_depth(56), a[56], 0, 0, NULL);
    tb_stack_packed(&p, 7, tree_depth(12), a[12], 6, tree_depth(56), a[56]);
    tb_stack_packed(&p, 8, tree_depth(12), a[12], 7, tree_depth(12), a[12]);
    tb_stack_packed(&p, 801, tree_depth(62), a[62], 8, tree_depth(12), a[12]);
    tb_chunk(&f, PS_CHUNK_STACKS_PACKED, &p);
    /* damaged after its first stack, 900 (kept) */
    p.len = 0;
    tb_stacks_begin(&p, 2);
    tb_stack_packed(&p, 900, tree_depth(90), a[90], 0, 0, NULL);
    tb_varint(&p, 0); /* a zero id gap */
    tb_varint(&p, 1);
    tb_varint(&p, 0);
    tb_varint(&p, 2);
    size_t bad = tb_chunk(&f, PS_CHUNK_STACKS_PACKED, &p);
    tb_row_t rows1[] = {
        {.stack_id = 2, .allocs = 1, .alloc_bytes = 8, .frees = 1, .freed_bytes = 8},
        {.stack_id = 3, .allocs = 1, .alloc_bytes = 8, .live_blocks = 1, .live_bytes = 8},
        {.stack_id = 5, .allocs = 2, .alloc_bytes = 16, .live_blocks = 2, .live_bytes = 16},
        {.stack_id = 8, .allocs = 1, .alloc_bytes = 24, .live_blocks = 1, .live_bytes = 24},
        {.stack_id = 14, .allocs = 1, .alloc_bytes = 8, .live_blocks = 1, .live_bytes = 8},
        {.stack_id = 700, .allocs = 1, .alloc_bytes = 8, .live_blocks = 1, .live_bytes = 8},
        {.stack_id = 801, .allocs = 1, .alloc_bytes = 8, .live_blocks = 1, .live_bytes = 8},
        {.stack_id = 900, .allocs = 1, .alloc_bytes = 8, .live_blocks = 1, .live_bytes = 8},
        {.stack_id = 999, .allocs = 1, .alloc_bytes = 8, .live_blocks = 1, .live_bytes = 8},
    };
    p.len = 0;
    tb_snapshot_at(&p, 1000, PS_SNAP_INTERVAL, rows1, sizeof rows1 / sizeof *rows1, 100, 0, 0);
    tb_chunk(&f, PS_CHUNK_SNAPSHOT, &p);
    /* after it: 3 redefined with 33's frames, and 1000 */
    p.len = 0;
    tb_stacks_begin(&p, 2);
    tb_stack_packed(&p, 3, tree_depth(33), a[33], 0, 0, NULL);
    tb_stack_packed(&p, 1000, tree_depth(34), a[34], 3, tree_depth(33), a[33]);
    tb_chunk(&f, PS_CHUNK_STACKS_PACKED, &p);
    tb_row_t rows2[] = {
        {.stack_id = 3, .allocs = 1, .alloc_bytes = 8, .live_blocks = 1, .live_bytes = 8},
        {.stack_id = 5, .allocs = 2, .alloc_bytes = 16, .frees = 2, .freed_bytes = 16},
        {.stack_id = 11, .allocs = 1, .alloc_bytes = 8, .live_blocks = 1, .live_bytes = 8},
        {.stack_id = 1000, .allocs = 1, .alloc_bytes = 8, .live_blocks = 1, .live_bytes = 8},
    };
    p.len = 0;
    tb_snapshot_at(&p, 2000, PS_SNAP_EXIT, rows2, sizeof rows2 / sizeof *rows2, 100, 0, 0);
    tb_chunk(&f, PS_CHUNK_SNAPSHOT, &p);
    p.len = 0;
    tb_chunk(&f, PS_CHUNK_END, &p);
    const char *path = tu_path("live-stacks.trace");
    write_buf(path, &f);
    static const uint32_t gone[2][3] = {{2, 6, 7}, {5, 8, 700}}; /* freed or not live */
    for (int at = 0; at < 2; at++) {
        pa_at_t where =
            at ? (pa_at_t){.kind = PA_AT_LAST} : (pa_at_t){.kind = PA_AT_NUMBER, .number = 1};
        pa_trace_t all, live;
        ck_assert_int_eq(
            pa_model_load_opts(path, &(pa_model_opts_t){.quiet = true, .at = where}, &all), PA_OK);
        ck_assert_int_eq(
            pa_model_load_opts(
                path, &(pa_model_opts_t){.quiet = true, .at = where, .live_stacks = true}, &live),
            PA_OK);
        ck_assert_uint_eq(live.snap.nrows, all.snap.nrows);
        ck_assert_uint_eq(live.snap.number, at ? 2 : 1);
        size_t nlive = 0;
        for (size_t r = 0; r < live.snap.nrows; r++) {
            uint32_t id = live.snap.rows[r].stack_id;
            const pa_stack_t *x = pa_model_stack(&all, id), *y = pa_model_stack(&live, id);
            if (!live.snap.rows[r].live_blocks)
                continue;
            nlive++;
            ck_assert_msg(!x == !y, "stack %u: %p %p", id, (void *)x, (void *)y);
            if (!x)
                continue;
            uint64_t ax[32], ay[32];
            size_t nx = pa_model_stack_addrs(&all, x, ax, 32);
            ck_assert_uint_eq(pa_model_stack_addrs(&live, y, ay, 32), nx);
            ck_assert_uint_eq(y->depth, x->depth);
            for (size_t k = 0; k < nx; k++)
                ck_assert_msg(ax[k] == ay[k], "stack %u frame %zu", id, k);
        }
        ck_assert_uint_eq(nlive, at ? 3 : 8);
        for (int k = 0; k < 3; k++) {
            ck_assert_ptr_nonnull(pa_model_stack(&all, gone[at][k]));
            ck_assert_ptr_null(pa_model_stack(&live, gone[at][k]));
        }
        /* the definitions that win */
        uint64_t got[32];
        if (at) {
            ck_assert_uint_eq(pa_model_stack_addrs(&live, pa_model_stack(&live, 3), got, 32),
                              tree_depth(33));
            ck_assert_uint_eq(got[0], a[33][0]);
        } else {
            ck_assert_uint_eq(pa_model_stack_addrs(&live, pa_model_stack(&live, 5), got, 32), 3);
            ck_assert_uint_eq(got[0], 0x777000);
            ck_assert_uint_eq(pa_model_stack_addrs(&live, pa_model_stack(&live, 8), got, 32),
                              tree_depth(12));
            ck_assert_uint_eq(got[0], a[12][0]);
            /* (the chunks up to the next snapshot are read, as when every stack is) */
            ck_assert_uint_eq(pa_model_stack_addrs(&live, pa_model_stack(&live, 3), got, 32),
                              tree_depth(33));
            ck_assert_uint_eq(got[0], a[33][0]);
        }
        ck_assert_uint_lt(live.frames.n, all.frames.n);
        ck_assert_uint_eq(live.warnings.n, all.warnings.n);
        for (size_t k = 0; k < all.warnings.n; k++)
            ck_assert_str_eq(live.warnings.items[k], all.warnings.items[k]);
        char want[80];
        snprintf(want, sizeof want, "malformed STACKS_PACKED chunk at offset %zu", bad);
        ck_assert_msg(tu_has(&live.warnings, want), "%s", want);
        pa_model_free(&all);
        pa_model_free(&live);
    }
    tb_free(&p);
    tb_free(&f);
}
END_TEST

/* A file torn at every byte of its last snapshot (a delta, with the LOCKS chunk written before
 * it): the model holds the snapshot before, with that snapshot's LOCKS chunk, never the torn
 * one's; cut after the delta, the delta applied and its LOCKS chunk. */
START_TEST(test_delta_torn_everywhere)
{
    tb_buf_t f = {0};
    tb_file_header(&f, PS_TRACE_VERSION);
    add_chunk(&f, PS_CHUNK_LOCKS, locks_at, 100);
    snapshot_chunk(&f, 100, key_rows, 3);
    size_t start = f.len;
    add_chunk(&f, PS_CHUNK_LOCKS, locks_at, 200);
    delta_chunk(&f, 100, 200, delta_rows, 2);
    size_t stop = f.len;
    const char *path = tu_path("delta-torn.trace");
    static const uint32_t ids0[] = {1, 3, 5}, ids1[] = {1, 3, 4, 5};
    static const uint64_t allocs0[] = {10, 7, 2}, allocs1[] = {10, 9, 1, 2};
    for (size_t cut = start; cut <= stop; cut++) {
        ck_assert_int_eq(tb_write_file(path, f.data, cut), 0);
        pa_trace_t t;
        ck_assert_int_eq(pa_model_load(path, true, &t), PA_OK);
        bool whole = cut == stop;
        ck_assert_uint_eq(t.snap.time_ns, whole ? 200 : 100);
        ck_assert_uint_eq(t.nsnapshots, whole ? 2 : 1);
        if (whole)
            check_rows(&t, ids1, allocs1, 4);
        else
            check_rows(&t, ids0, allocs0, 3);
        ck_assert(t.has_locks);
        ck_assert_msg(t.locks.time_ns == t.snap.time_ns, "cut %zu: LOCKS of %llu ns", cut,
                      (unsigned long long)t.locks.time_ns);
        pa_model_free(&t);
    }
    tb_free(&f);
}
END_TEST

/* A damaged keyframe: the deltas after it are skipped (their base is lost) until the next
 * keyframe; a LOCKS chunk left out by the shim (unchanged) keeps the last one read. */
START_TEST(test_delta_damaged_keyframe)
{
    tb_buf_t f = {0};
    tb_file_header(&f, PS_TRACE_VERSION);
    snapshot_chunk(&f, 100, key_rows, 3);
    size_t bad = f.len;
    add_chunk(&f, PS_CHUNK_LOCKS, locks_at, 200);
    snapshot_chunk(&f, 200, key_rows, 2);
    delta_chunk(&f, 200, 300, delta_rows, 2);
    delta_chunk(&f, 300, 400, delta_rows, 1);
    size_t before_key = f.len;
    snapshot_chunk(&f, 500, key_rows, 3);
    delta_chunk(&f, 500, 600, delta_rows, 2);
    /* the keyframe at 200 ns: one byte of its payload flipped (its CRC fails) */
    size_t key2 = bad + f.data[bad + 8] + (f.data[bad + 9] << 8) + PS_CHUNK_HEADER_SIZE;
    f.data[key2 + PS_CHUNK_HEADER_SIZE + 20] ^= 0xff;
    const char *path = tu_path("delta-key.trace");
    ck_assert_int_eq(tb_write_file(path, f.data, before_key), 0);
    pa_trace_t t;
    ck_assert_int_eq(pa_model_load(path, true, &t), PA_OK);
    ck_assert_uint_eq(t.snap.time_ns, 100);
    ck_assert_uint_eq(t.nsnapshots, 1);
    ck_assert(tu_has(&t.warnings, "ignored until the next full SNAPSHOT"));
    ck_assert(!t.has_locks); /* the LOCKS chunk of 200 ns waits for a snapshot of its time */
    pa_model_free(&t);

    write_buf(path, &f);
    ck_assert_int_eq(pa_model_load(path, true, &t), PA_OK);
    ck_assert_uint_eq(t.snap.time_ns, 600);
    ck_assert_uint_eq(t.nsnapshots, 3);
    static const uint32_t ids[] = {1, 3, 4, 5};
    static const uint64_t allocs[] = {10, 9, 1, 2};
    check_rows(&t, ids, allocs, 4);
    /* the LOCKS chunk of 200 ns, the last one written: committed with the keyframe at 500 */
    ck_assert(t.has_locks);
    ck_assert_uint_eq(t.locks.time_ns, 200);
    pa_model_free(&t);
    tb_free(&f);
}
END_TEST

/* Random mutations of a trace with a POOL chunk (ASan/UBSan builds check every access). */
START_TEST(test_pool_random_mutations)
{
    tb_buf_t f = {0};
    size_t o[6];
    tb_typical_pool(&f, o);
    uint8_t *d = malloc(f.len);
    uint64_t x = 0x2545f4914f6cdd1dull;
    const char *path = tu_path("poolfuzz.trace");
    int saved = tu_stderr_silence();
    size_t pay = o[4] + PS_CHUNK_HEADER_SIZE, paylen = o[5] - pay;
    for (int iter = 0; iter < 2000; iter++) {
        memcpy(d, f.data, f.len);
        int edits = 1 + iter % 6;
        for (int e = 0; e < edits; e++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            d[pay + (size_t)(x % paylen)] = (uint8_t)(x >> 40);
        }
        /* valid CRC: the payload decoder, not the chunk reader, must cope */
        uint32_t crc = (uint32_t)crc32(0L, d + o[4], 12);
        crc = (uint32_t)crc32(crc, d + pay, (uInt)paylen);
        for (int i = 0; i < 4; i++)
            d[o[4] + 12 + i] = (uint8_t)(crc >> (8 * i));
        ck_assert_int_eq(tb_write_file(path, d, f.len), 0);
        pa_trace_t t;
        ck_assert_int_eq(pa_model_load(path, true, &t), PA_OK);
        const pa_pool_t *pool = pa_model_pool(&t);
        if (pool)
            ck_assert_uint_le(pool->nclasses, paylen / PS_POOL_ROW_SIZE);
        pa_model_free(&t);
    }
    tu_stderr_restore(saved);
    free(d);
    tb_free(&f);
}
END_TEST

/* pa_reader_headers_only: every chunk's header, no payload read (a payload's wrong CRC goes
 * unseen), the same offsets and types as a full read; the first damaged header ends the walk,
 * reported once, without a resynchronization. pa_reader_trust: payloads read, CRC not checked. */
static void walk(const char *path, bool trust, scan_t *s)
{
    memset(s, 0, sizeof *s);
    pa_reader_t *r;
    ck_assert_int_eq(pa_reader_open(path, collect, &s->warnings, &r, s->err, sizeof s->err), PA_OK);
    if (trust)
        pa_reader_trust(r);
    else
        ck_assert(pa_reader_headers_only(r));
    pa_chunk_t c;
    int n;
    while ((n = pa_reader_next(r, &c)) == 1) {
        ck_assert(trust ? c.payload != NULL : c.payload == NULL);
        s->offs[s->n] = c.offset;
        s->types[s->n++] = c.type;
    }
    ck_assert_int_eq(n, 0);
    s->damaged = pa_reader_damaged(r);
    pa_reader_close(r);
}

START_TEST(test_headers_only)
{
    tb_buf_t f = {0};
    size_t offs[5];
    tb_typical(&f, offs);
    const char *path = tu_path("headers.trace");
    write_buf(path, &f);
    scan_t full, hdr;
    scan_file(path, &full);
    walk(path, false, &hdr);
    ck_assert_uint_eq(hdr.n, 5);
    ck_assert_uint_eq(hdr.n, full.n);
    ck_assert_mem_eq(hdr.offs, full.offs, full.n * sizeof *full.offs);
    ck_assert_mem_eq(hdr.types, full.types, full.n * sizeof *full.types);
    ck_assert(!hdr.damaged && hdr.warnings.n == 0);
    pa_strlist_free(&full.warnings);

    /* a payload byte flipped: the walk does not see it; a trusted read uses the chunk; a full
     * read reports the CRC */
    f.data[offs[3] + PS_CHUNK_HEADER_SIZE + 20] ^= 0x10;
    write_buf(path, &f);
    pa_strlist_free(&hdr.warnings);
    walk(path, false, &hdr);
    ck_assert_uint_eq(hdr.n, 5);
    ck_assert(!hdr.damaged && hdr.warnings.n == 0);
    pa_strlist_free(&hdr.warnings);
    walk(path, true, &hdr);
    ck_assert_uint_eq(hdr.n, 5);
    ck_assert(!hdr.damaged && hdr.warnings.n == 0);
    pa_strlist_free(&hdr.warnings);
    scan_file(path, &full);
    ck_assert(full.damaged);
    ck_assert_uint_eq(full.n, 4);
    pa_strlist_free(&full.warnings);
    f.data[offs[3] + PS_CHUNK_HEADER_SIZE + 20] ^= 0x10;

    /* a bad sync word at the SNAPSHOT: the walk ends there, said once; a full read goes on */
    f.data[offs[3]] ^= 0xff;
    write_buf(path, &f);
    walk(path, false, &hdr);
    ck_assert_uint_eq(hdr.n, 3);
    ck_assert(hdr.damaged);
    ck_assert_uint_eq(hdr.warnings.n, 1);
    char want[96];
    snprintf(want, sizeof want, "bad sync word in chunk at offset %zu", offs[3]);
    ck_assert_msg(tu_has(&hdr.warnings, want), "%s", hdr.warnings.items[0]);
    pa_strlist_free(&hdr.warnings);
    scan_file(path, &full);
    ck_assert_uint_eq(full.n, 4); /* resynchronized at END */
    pa_strlist_free(&full.warnings);
    f.data[offs[3]] ^= 0xff;

    /* cut inside the SNAPSHOT payload: the walk reports the truncation, as the reader does */
    write_buf(path, &(tb_buf_t){.data = f.data, .len = offs[3] + PS_CHUNK_HEADER_SIZE + 4});
    walk(path, false, &hdr);
    ck_assert_uint_eq(hdr.n, 3);
    ck_assert(hdr.damaged);
    snprintf(want, sizeof want, "truncated chunk at offset %zu", offs[3]);
    ck_assert_msg(tu_has(&hdr.warnings, want), "%s", hdr.warnings.items[0]);
    pa_strlist_free(&hdr.warnings);
    tb_free(&f);
}
END_TEST

/* A chunk larger than the reader's window is returned from its mapping of the file: the same
 * bytes; a flipped one is the same CRC damage, then the next chunk; and a file cut short under
 * the mapping (another process truncating it) is a read error, as a short pread was, not a
 * SIGBUS that kills the analyzer. */
START_TEST(test_large_chunk_mapped)
{
    enum { BIG = 1 << 20 };
    tb_buf_t f = {0}, big = {0}, none = {0};
    tb_file_header(&f, PS_TRACE_VERSION);
    for (size_t i = 0; i < BIG; i++) {
        uint8_t b = (uint8_t)(i * 7 + (i >> 12));
        tb_bytes(&big, &b, 1);
    }
    size_t at_big = tb_chunk(&f, 0x7ff0, &big);
    size_t at_end = tb_chunk(&f, PS_CHUNK_END, &none);
    const char *path = tu_path("mapped.trace");
    write_buf(path, &f);

    char err[256];
    pa_strlist_t warnings = {0};
    pa_reader_t *r;
    pa_chunk_t c;
    ck_assert_int_eq(pa_reader_open(path, collect, &warnings, &r, err, sizeof err), PA_OK);
    ck_assert_int_eq(pa_reader_next(r, &c), 1);
    ck_assert_uint_eq(c.offset, at_big);
    ck_assert_uint_eq(c.length, BIG);
    ck_assert_mem_eq(c.payload, big.data, BIG);
    ck_assert_int_eq(pa_reader_next(r, &c), 1);
    ck_assert_uint_eq(c.offset, at_end);
    ck_assert_int_eq(pa_reader_next(r, &c), 0);
    ck_assert(!pa_reader_damaged(r) && warnings.n == 0);
    pa_reader_close(r);

    /* a byte flipped in its last page: its CRC, then END */
    f.data[at_big + PS_CHUNK_HEADER_SIZE + BIG - 10] ^= 0x04;
    write_buf(path, &f);
    scan_t s;
    scan_file(path, &s);
    ck_assert(s.damaged);
    ck_assert_uint_eq(s.n, 1);
    ck_assert_uint_eq(s.offs[0], at_end);
    char want[64];
    snprintf(want, sizeof want, "bad CRC in chunk at offset %zu", at_big);
    ck_assert_msg(tu_has(&s.warnings, want), "%s", s.warnings.n ? s.warnings.items[0] : "-");
    pa_strlist_free(&s.warnings);
    f.data[at_big + PS_CHUNK_HEADER_SIZE + BIG - 10] ^= 0x04;

    /* cut to half after the reader mapped it */
    write_buf(path, &f);
    ck_assert_int_eq(pa_reader_open(path, collect, &warnings, &r, err, sizeof err), PA_OK);
    ck_assert_int_eq(truncate(path, (off_t)(at_big + PS_CHUNK_HEADER_SIZE + BIG / 2)), 0);
    ck_assert_int_eq(pa_reader_next(r, &c), PA_EIO);
    ck_assert_int_eq(pa_reader_errno(r), EIO);
    pa_reader_close(r);
    /* a trusted reader returns the payload unread: its reader meets the lost page, and the next
     * chunk is the read error */
    write_buf(path, &f);
    ck_assert_int_eq(pa_reader_open(path, collect, &warnings, &r, err, sizeof err), PA_OK);
    pa_reader_trust(r);
    ck_assert_int_eq(truncate(path, (off_t)(at_big + PS_CHUNK_HEADER_SIZE + BIG / 2)), 0);
    ck_assert_int_eq(pa_reader_next(r, &c), 1);
    ck_assert_uint_eq(c.payload[BIG - 1], 0); /* (was big.data[BIG - 1], not 0) */
    ck_assert_uint_ne(big.data[BIG - 1], 0);
    ck_assert_int_eq(pa_reader_next(r, &c), PA_EIO);
    ck_assert_int_eq(pa_reader_errno(r), EIO);
    pa_reader_close(r);
    /* and a reader opened after it reports the truncation */
    scan_file(path, &s);
    ck_assert(s.damaged && s.n == 0);
    snprintf(want, sizeof want, "truncated chunk at offset %zu", at_big);
    ck_assert_msg(tu_has(&s.warnings, want), "%s", s.warnings.n ? s.warnings.items[0] : "-");
    pa_strlist_free(&s.warnings);
    pa_strlist_free(&warnings);
    tb_free(&big);
    tb_free(&f);
}
END_TEST

int main(void)
{
    tu_setup("check_analyzer_reader");
    Suite *s = suite_create("analyzer_reader");
    TCase *tc = tcase_create("reader");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_cursor_bounds);
    tcase_add_test(tc, test_varint_decode_and_skip);
    tcase_add_test(tc, test_valid_trace);
    tcase_add_test(tc, test_truncated_everywhere);
    tcase_add_test(tc, test_truncated_message);
    tcase_add_test(tc, test_flipped_payload_byte);
    tcase_add_test(tc, test_flipped_every_byte);
    tcase_add_test(tc, test_resync_over_garbage);
    tcase_add_test(tc, test_resync_budget);
    tcase_add_test(tc, test_newer_version_refused);
    tcase_add_test(tc, test_bad_magic);
    tcase_add_test(tc, test_unknown_chunk_skipped);
    tcase_add_test(tc, test_trailing_fields_and_wide_rows);
    tcase_add_test(tc, test_malformed_payloads);
    tcase_add_test(tc, test_last_snapshot_and_peaks);
    tcase_add_test(tc, test_no_snapshot);
    tcase_add_test(tc, test_no_end_is_incomplete);
    tcase_add_test(tc, test_random_mutations);
    tcase_add_test(tc, test_pool_parsed);
    tcase_add_test(tc, test_pool_hit_rate);
    tcase_add_test(tc, test_pool_wide_rows);
    tcase_add_test(tc, test_pool_malformed);
    tcase_add_test(tc, test_pool_corrupt_every_byte);
    tcase_add_test(tc, test_pool_truncated_everywhere);
    tcase_add_test(tc, test_pool_belongs_to_last_snapshot);
    tcase_add_test(tc, test_pool_random_mutations);
    tcase_add_test(tc, test_pool_packed);
    tcase_add_test(tc, test_pool_packed_malformed);
    tcase_add_test(tc, test_delta_applied);
    tcase_add_test(tc, test_delta_from_keyframe);
    tcase_add_test(tc, test_frame_tree);
    tcase_add_test(tc, test_stacks_packed);
    tcase_add_test(tc, test_stacks_packed_small_steps);
    tcase_add_test(tc, test_live_stacks);
    tcase_add_test(tc, test_delta_torn_everywhere);
    tcase_add_test(tc, test_delta_damaged_keyframe);
    tcase_add_test(tc, test_headers_only);
    tcase_add_test(tc, test_large_chunk_mapped);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    tu_teardown();
    return failed ? 1 : 0;
}
