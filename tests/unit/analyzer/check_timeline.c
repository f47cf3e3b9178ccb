/* SPDX-License-Identifier: MIT */
/*
 * check_timeline.c — the model over time, on crafted traces: SNAPSHOT_DELTA chunks applied on
 * top of the snapshot they name (rows replaced, added, kept), refused when their base is not the
 * snapshot read (until the next full SNAPSHOT), cut at every byte; the handler called after
 * every snapshot with the state of that moment; --at TIME/max/last (and its parser) with the
 * POOL chunk of that moment (written only when changed); and the timeline's JSON series.
 */
#include "model.h"
#include "timeline.h"

#include "test_util.h"
#include "trace_builder.h"
#include "trace_format.h"

#include <check.h>
#include <string.h>

static void write_buf(const char *path, const tb_buf_t *b)
{
    ck_assert_int_eq(tb_write_file(path, b->data, b->len), 0);
}

/* A SNAPSHOT_DELTA payload: base_time_ns, then a SNAPSHOT payload of the rows given. */
static void delta(tb_buf_t *p, uint64_t base, uint64_t time_ns, const tb_row_t *rows, uint32_t n,
                  uint64_t peak_live)
{
    p->len = 0;
    tb_u64(p, base);
    tb_snapshot_at(p, time_ns, PS_SNAP_INTERVAL, rows, n, peak_live, 100, 100);
}

static size_t full(tb_buf_t *f, tb_buf_t *p, uint64_t time_ns, const tb_row_t *rows, uint32_t n,
                   uint64_t peak_live)
{
    p->len = 0;
    tb_snapshot_at(p, time_ns, PS_SNAP_INTERVAL, rows, n, peak_live, 100, 100);
    return tb_chunk(f, PS_CHUNK_SNAPSHOT, p);
}

static void stacks(tb_buf_t *f, tb_buf_t *p, uint32_t n)
{
    p->len = 0;
    tb_stacks_begin(p, n);
    for (uint32_t id = 1; id <= n; id++) {
        uint64_t a[2] = {0x7000 + id * 16, 0x9000};
        tb_stack(p, id, 2, a);
    }
    tb_chunk(f, PS_CHUNK_STACKS, p);
}

typedef struct {
    size_t n;
    uint64_t number[8], time_ns[8], nrows[8], live2[8];
    bool delta[8];
} seen_t;

static int record(pa_trace_t *t, void *ctx)
{
    seen_t *s = ctx;
    ck_assert_uint_lt(s->n, 8);
    const pa_row_t *r = pa_model_row(t, 2);
    s->number[s->n] = t->snap.number;
    s->time_ns[s->n] = t->snap.time_ns;
    s->nrows[s->n] = t->snap.nrows;
    s->live2[s->n] = r ? r->live_bytes : UINT64_MAX;
    s->delta[s->n++] = t->snap.delta;
    return PA_OK;
}

/* Writes f to path and reads it whole, recording each snapshot into s. */
static void read_recorded(tb_buf_t *f, const char *path, seen_t *s, pa_trace_t *t)
{
    write_buf(path, f);
    pa_model_opts_t o = {.quiet = true, .on_snapshot = record, .ctx = s};
    ck_assert_int_eq(pa_model_read(path, &o, t), PA_OK);
}

/* full {1, 2} at 1000; delta at 2000: 2 changed, 3 new; delta at 3000 with no rows */
static void build_deltas(tb_buf_t *f, size_t offs[4])
{
    tb_buf_t p = {0};
    tb_file_header(f, PS_TRACE_VERSION);
    stacks(f, &p, 3);
    tb_row_t a[] = {{1, 1, 10, 0, 0, 1, 10, 10}, {2, 2, 40, 0, 0, 2, 40, 40}};
    offs[0] = full(f, &p, 1000, a, 2, 50);
    tb_row_t b[] = {{2, 5, 100, 1, 20, 4, 80, 80}, {3, 1, 7, 0, 0, 1, 7, 7}};
    delta(&p, 1000, 2000, b, 2, 97);
    offs[1] = tb_chunk(f, PS_CHUNK_SNAPSHOT_DELTA, &p);
    delta(&p, 2000, 3000, NULL, 0, 97);
    offs[2] = tb_chunk(f, PS_CHUNK_SNAPSHOT_DELTA, &p);
    p.len = 0;
    tb_end(&p, 4);
    offs[3] = tb_chunk(f, PS_CHUNK_END, &p);
    tb_free(&p);
}

START_TEST(test_delta_applied)
{
    tb_buf_t f = {0};
    size_t offs[4];
    build_deltas(&f, offs);
    const char *path = tu_path("delta.trace");
    seen_t s = {0};
    pa_trace_t t;
    read_recorded(&f, path, &s, &t);
    ck_assert_uint_eq(t.nsnapshots, 3);
    ck_assert_uint_eq(t.warnings.n, 0);
    ck_assert(pa_model_complete(&t));
    ck_assert(t.snap.delta);
    ck_assert_uint_eq(t.snap.number, 3);
    ck_assert_uint_eq(t.snap.offset, offs[2]);
    ck_assert_uint_eq(t.snap.nrows, 3);
    ck_assert_uint_eq(pa_model_row(&t, 1)->live_bytes, 10); /* kept from the full one */
    ck_assert_uint_eq(pa_model_row(&t, 2)->live_bytes, 80); /* replaced */
    ck_assert_uint_eq(pa_model_row(&t, 2)->freed_bytes, 20);
    ck_assert_uint_eq(pa_model_row(&t, 3)->alloc_bytes, 7); /* added */
    ck_assert_ptr_null(pa_model_row(&t, 4));
    ck_assert_uint_eq(t.snap.totals.peak_live_bytes, 97);
    pa_model_free(&t);
    /* the handler saw each moment */
    ck_assert_uint_eq(s.n, 3);
    uint64_t nrows[] = {2, 3, 3}, live2[] = {40, 80, 80}, times[] = {1000, 2000, 3000};
    for (size_t i = 0; i < 3; i++) {
        ck_assert_uint_eq(s.number[i], i + 1);
        ck_assert_uint_eq(s.time_ns[i], times[i]);
        ck_assert_uint_eq(s.nrows[i], nrows[i]);
        ck_assert_uint_eq(s.live2[i], live2[i]);
        ck_assert(s.delta[i] == (i > 0));
    }
    /* totals only: the same snapshots, no rows */
    pa_model_opts_t light = {.quiet = true, .totals_only = true};
    ck_assert_int_eq(pa_model_read(path, &light, &t), PA_OK);
    ck_assert_uint_eq(t.nsnapshots, 3);
    ck_assert_uint_eq(t.snap.nrows, 0);
    ck_assert_uint_eq(t.snap.time_ns, 3000);
    pa_model_free(&t);
    /* cut at every byte after the first snapshot: the last complete one is reported */
    int saved = tu_stderr_silence();
    for (size_t cut = offs[1]; cut < f.len; cut++) {
        ck_assert_int_eq(tb_write_file(path, f.data, cut), 0);
        ck_assert_int_eq(pa_model_load(path, true, &t), PA_OK);
        uint64_t want = cut >= offs[3] ? 3000 : cut >= offs[2] ? 2000 : 1000;
        ck_assert_uint_eq(t.snap.time_ns, want);
        ck_assert_uint_eq(pa_model_row(&t, 2)->live_bytes, want == 1000 ? 40 : 80);
        pa_model_free(&t);
    }
    tu_stderr_restore(saved);
    tb_free(&f);
}
END_TEST

/* ---- SNAPSHOT_PACKED: varint id gaps, zigzag differences from the base row ---------------- */

static uint64_t zz(int64_t d)
{
    return ((uint64_t)d << 1) ^ (uint64_t)(d >> 63);
}

/* A SNAPSHOT_PACKED payload: base, head and totals (zeros), n rows of `fields` varints after the
 * id gap: rows[i][0] the stack id, then the differences (extra fields 0). */
static void packed(tb_buf_t *p, uint64_t base, uint64_t time_ns, const int64_t (*rows)[6],
                   uint32_t n, uint32_t fields)
{
    p->len = 0;
    tb_u64(p, base);
    tb_snapshot_at(p, time_ns, PS_SNAP_INTERVAL, NULL, 0, 97, 100, 100);
    p->len -= 8; /* row_count and row_size: the packed ones instead */
    tb_u32(p, n);
    tb_u32(p, fields);
    uint64_t prev = 0;
    for (uint32_t i = 0; i < n; i++) {
        tb_varint(p, (uint64_t)rows[i][0] - prev);
        prev = (uint64_t)rows[i][0];
        for (uint32_t k = 0; k < fields; k++)
            tb_varint(p, zz(k < 5 ? rows[i][k + 1] : 12345));
    }
}

START_TEST(test_packed_applied)
{
    tb_buf_t f = {0}, p = {0};
    tb_file_header(&f, PS_TRACE_VERSION);
    stacks(&f, &p, 3);
    tb_row_t a[] = {{1, 1, 10, 0, 0, 1, 10, 10}, {2, 2, 40, 0, 0, 2, 40, 40}};
    full(&f, &p, 1000, a, 2, 50);
    /* stack 2 moves; stack 3 is new (its base is zeros) */
    const int64_t b[][6] = {{2, 3, 60, 1, 20, 40}, {3, 1, 7, 0, 0, 7}};
    packed(&p, 1000, 2000, b, 2, PS_PACKED_FIELDS);
    tb_chunk(&f, PS_CHUNK_SNAPSHOT_PACKED, &p);
    /* a later writer's sixth field is skipped; a negative difference (zigzag) applies */
    const int64_t c[][6] = {{1, 0, -5, 1, 5, 0}};
    packed(&p, 2000, 3000, c, 1, PS_PACKED_FIELDS + 1);
    tb_chunk(&f, PS_CHUNK_SNAPSHOT_PACKED, &p);
    /* malformed, each ignored whole: fewer fields than a row needs; a row cut short (its
     * 3-byte varint); counts no payload could hold (found by fuzzing: 2^32 rows of 2^32
     * fields were decoded one past the end at a time). */
    packed(&p, 3000, 4000, c, 1, PS_PACKED_FIELDS - 1);
    size_t few = tb_chunk(&f, PS_CHUNK_SNAPSHOT_PACKED, &p);
    const int64_t big[][6] = {{2, 3, 100000, 1, 20, 40}};
    packed(&p, 3000, 4000, big, 1, PS_PACKED_FIELDS);
    p.len--;
    size_t cut = tb_chunk(&f, PS_CHUNK_SNAPSHOT_PACKED, &p);
    packed(&p, 3000, 4000, c, 1, PS_PACKED_FIELDS);
    memcpy(p.data + 8 + 96, &(uint32_t){UINT32_MAX}, 4);  /* row_count */
    memcpy(p.data + 8 + 100, &(uint32_t){UINT32_MAX}, 4); /* field_count */
    size_t huge = tb_chunk(&f, PS_CHUNK_SNAPSHOT_PACKED, &p);
    const char *path = tu_path("packed.trace");
    seen_t s = {0};
    pa_trace_t t;
    read_recorded(&f, path, &s, &t);
    ck_assert_uint_eq(t.nsnapshots, 3);
    ck_assert(t.snap.delta);
    ck_assert_uint_eq(t.snap.time_ns, 3000);
    ck_assert_uint_eq(t.snap.nrows, 3);
    const pa_row_t *r1 = pa_model_row(&t, 1), *r2 = pa_model_row(&t, 2), *r3 = pa_model_row(&t, 3);
    ck_assert(r1 && r2 && r3);
    ck_assert_uint_eq(r1->allocs, 1);
    ck_assert_uint_eq(r1->alloc_bytes, 5);
    ck_assert_uint_eq(r1->frees, 1);
    ck_assert_uint_eq(r1->freed_bytes, 5);
    ck_assert_uint_eq(r1->live_blocks, 0);
    ck_assert_uint_eq(r1->live_bytes, 0);
    ck_assert_uint_eq(r1->peak_live_bytes, 10);
    ck_assert_uint_eq(r2->allocs, 5);
    ck_assert_uint_eq(r2->alloc_bytes, 100);
    ck_assert_uint_eq(r2->frees, 1);
    ck_assert_uint_eq(r2->freed_bytes, 20);
    ck_assert_uint_eq(r2->live_blocks, 4);
    ck_assert_uint_eq(r2->live_bytes, 80);
    ck_assert_uint_eq(r2->peak_live_bytes, 80);
    ck_assert_uint_eq(r3->stack_id, 3);
    ck_assert_uint_eq(r3->allocs, 1);
    ck_assert_uint_eq(r3->live_bytes, 7);
    ck_assert_uint_eq(r3->peak_live_bytes, 7);
    uint64_t live2[] = {40, 80, 80};
    ck_assert_uint_eq(s.n, 3);
    for (size_t i = 0; i < 3; i++)
        ck_assert_uint_eq(s.live2[i], live2[i]);
    char want[160];
    snprintf(want, sizeof want,
             "malformed SNAPSHOT_PACKED chunk at offset %zu: fewer fields than a row needs", few);
    ck_assert_msg(tu_has(&t.warnings, want), "no warning: %s", want);
    snprintf(want, sizeof want,
             "malformed SNAPSHOT_PACKED chunk at offset %zu: rows run past the payload", cut);
    ck_assert_msg(tu_has(&t.warnings, want), "no warning: %s", want);
    snprintf(want, sizeof want,
             "malformed SNAPSHOT_PACKED chunk at offset %zu: more rows than the payload holds",
             huge);
    ck_assert_msg(tu_has(&t.warnings, want), "no warning: %s", want);
    pa_model_free(&t);
    /* a report following only stack 2 decodes past the others' rows */
    uint8_t only2 = 1u << 2;
    pa_model_opts_t some = {.quiet = true, .rows_wanted = &only2, .rows_wanted_ids = 8};
    ck_assert_int_eq(pa_model_read(path, &some, &t), PA_OK);
    ck_assert_uint_eq(t.snap.nrows, 1);
    ck_assert_uint_eq(pa_model_row(&t, 2)->live_bytes, 80);
    ck_assert_ptr_null(pa_model_row(&t, 3));
    pa_model_free(&t);
    tb_free(&p);
    tb_free(&f);
}
END_TEST

/* A packed delta before the keyframe a report of the last snapshot starts from is only checked
 * (model.c's packed_walk without a snapshot), by the walk that decodes it: each malformed row
 * that decoding refuses (a row cut short, an id past u32) is refused there too, so that the
 * keyframe pass warns and gives way to the full read, and the report is the full read's (as
 * --at a later time reads it). A sound one is not refused: the keyframe pass goes through. */
START_TEST(test_packed_before_keyframe)
{
    for (int bad = 0; bad < 3; bad++) {
        tb_buf_t f = {0}, p = {0};
        tb_file_header(&f, PS_TRACE_VERSION);
        stacks(&f, &p, 3);
        tb_row_t a[] = {{1, 1, 10, 0, 0, 1, 10, 10}, {2, 2, 40, 0, 0, 2, 40, 40}};
        full(&f, &p, 1000, a, 2, 50);
        const int64_t b[][6] = {{2, 3, 100000, 1, 20, 40}, {3, 1, 7, 0, 0, 7}};
        const int64_t far[][6] = {{2, 3, 60, 1, 20, 40}, {(int64_t)UINT32_MAX + 2, 1, 7, 0, 0, 7}};
        packed(&p, 1000, 2000, bad == 2 ? far : b, 2, PS_PACKED_FIELDS);
        if (bad == 1)
            p.len--; /* the last row's last varint cut short */
        tb_chunk(&f, PS_CHUNK_SNAPSHOT_PACKED, &p);
        tb_row_t k[] = {{1, 4, 40, 0, 0, 4, 40, 40}, {2, 5, 100, 1, 20, 4, 80, 80}};
        size_t key = full(&f, &p, 3000, k, 2, 97);
        const int64_t c[][6] = {{1, 1, 5, 0, 0, 5}};
        packed(&p, 3000, 4000, c, 1, PS_PACKED_FIELDS);
        tb_chunk(&f, PS_CHUNK_SNAPSHOT_PACKED, &p);
        const char *path = tu_path("packed-keyframe.trace");
        write_buf(path, &f);
        pa_at_t later = {.kind = PA_AT_TIME, .time_ns = 10000};
        pa_trace_t t, all;
        ck_assert_int_eq(pa_model_load(path, true, &t), PA_OK);
        ck_assert_int_eq(pa_model_load_at(path, true, &later, &all), PA_OK);
        ck_assert_uint_eq(all.keyframe, 0);
        ck_assert_uint_eq(t.keyframe, bad ? 0 : key); /* a refused chunk: the full read */
        ck_assert_int_eq(t.damaged, bad != 0);
        ck_assert_uint_eq(t.nsnapshots, all.nsnapshots);
        ck_assert_uint_eq(t.nsnapshots, bad ? 3 : 4);
        ck_assert_uint_eq(t.warnings.n, all.warnings.n);
        for (size_t i = 0; i < t.warnings.n; i++)
            ck_assert_str_eq(t.warnings.items[i], all.warnings.items[i]);
        const pa_row_t *r1 = pa_model_row(&t, 1), *r2 = pa_model_row(&t, 2);
        ck_assert(r1 && r2);
        ck_assert_uint_eq(r1->allocs, 5); /* the keyframe's 4 and the last delta's 1 */
        ck_assert_uint_eq(r2->live_bytes, 80);
        pa_model_free(&t);
        pa_model_free(&all);
        tb_free(&p);
        tb_free(&f);
    }
}
END_TEST

/* A packed delta of many rows: most are read by model.c's packed_run (rows of a one-byte id gap
 * and at most 14 bytes, found from the terminator bits of 64 bytes), the others (longer gaps,
 * varints of 3 to 10 bytes, the payload's last 63 bytes) by the varint walk. Each row's
 * differences must come out as written: a row end found one byte off, a gap taken from the
 * wrong byte, or a long varint cut, changes them. Read whole, and following every third
 * stack; and an id that passes u32 in a run of one-byte gaps, or a varint the decoder refuses
 * inside one, refuses the chunk as the walk refuses it (before the keyframe too). */
static uint64_t walk_rand(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

START_TEST(test_packed_runs)
{
    enum { N = 600 };
    static int64_t rows[N][6];
    uint64_t x = 88172645463325252ull, id = 0;
    for (int i = 0; i < N; i++) {
        uint64_t g = walk_rand(&x) % 16;
        id += g < 12 ? 1 + walk_rand(&x) % 127 : g < 15 ? 128 + walk_rand(&x) % 20000 : 1;
        rows[i][0] = (int64_t)id;
        for (int k = 1; k < 6; k++) {
            uint64_t h = walk_rand(&x) % 32, v = walk_rand(&x);
            rows[i][k] = h < 20   ? (int64_t)(v % 64) - 32               /* one byte */
                         : h < 28 ? (int64_t)(v % 20000) - 10000         /* two or three */
                         : h < 30 ? (int64_t)(v >> (walk_rand(&x) % 40)) /* up to 9 */
                                  : (h == 30 ? INT64_MIN : INT64_MAX);   /* ten bytes */
        }
    }
    tb_buf_t f = {0}, p = {0};
    tb_file_header(&f, PS_TRACE_VERSION);
    stacks(&f, &p, 3);
    full(&f, &p, 1000, NULL, 0, 0);
    packed(&p, 1000, 2000, rows, N, PS_PACKED_FIELDS);
    ck_assert_uint_gt(p.len, 64 * 20);
    tb_chunk(&f, PS_CHUNK_SNAPSHOT_PACKED, &p);
    const char *path = tu_path("packed-runs.trace");
    write_buf(path, &f);
    static uint8_t third[(1 << 24) / 8];
    memset(third, 0, sizeof third);
    for (int i = 0; i < N; i += 3)
        third[rows[i][0] / 8] |= (uint8_t)(1u << (rows[i][0] % 8));
    for (int pass = 0; pass < 2; pass++) {
        pa_model_opts_t o = {.quiet = true};
        if (pass) {
            o.rows_wanted = third;
            o.rows_wanted_ids = (uint32_t)(sizeof third * 8);
        }
        pa_trace_t t;
        ck_assert_int_eq(pa_model_read(path, &o, &t), PA_OK);
        for (size_t w = 0; w < t.warnings.n; w++) /* (but the missing END's) */
            ck_assert_msg(!strstr(t.warnings.items[w], "malformed"), "%s", t.warnings.items[w]);
        ck_assert_uint_eq(t.snap.nrows, pass ? (N + 2) / 3 : N);
        for (int i = 0; i < N; i++) {
            const pa_row_t *r = pa_model_row(&t, (uint32_t)rows[i][0]);
            if (pass && i % 3) {
                ck_assert_ptr_null(r);
                continue;
            }
            ck_assert_msg(r != NULL, "row %d (stack %lld) missing", i, (long long)rows[i][0]);
            ck_assert_uint_eq(r->allocs, (uint64_t)rows[i][1]);
            ck_assert_uint_eq(r->alloc_bytes, (uint64_t)rows[i][2]);
            ck_assert_uint_eq(r->frees, (uint64_t)rows[i][3]);
            ck_assert_uint_eq(r->freed_bytes, (uint64_t)rows[i][4]);
            ck_assert_uint_eq(r->peak_live_bytes, (uint64_t)rows[i][5]);
        }
        pa_model_free(&t);
    }
    /* refused inside a run: ids past u32 by one-byte gaps; a varint of 10 bytes past 64 bits */
    for (int bad = 0; bad < 2; bad++) {
        static int64_t far[N][6];
        for (int i = 0; i < N; i++) {
            far[i][0] = (int64_t)UINT32_MAX - 300 + i;
            for (int k = 1; k < 6; k++)
                far[i][k] = i % 7 - 3;
        }
        f.len = 0;
        tb_file_header(&f, PS_TRACE_VERSION);
        stacks(&f, &p, 3);
        full(&f, &p, 1000, NULL, 0, 0);
        packed(&p, 1000, 2000, bad ? rows : far, N, PS_PACKED_FIELDS);
        size_t head = p.len;
        if (!bad) /* bytes after the rows (ignored): every row is in a run, none in the tail */
            tb_bytes(&p, (uint8_t[64]){0}, 64);
        if (bad) { /* row 200's first difference: 10 bytes, the last 0x02 (bit 64) */
            size_t at = 8 + 96 + 8, end = at;
            for (int i = 0; i < N; i++) {
                size_t s = at;
                for (int v = 0; v < 6; v++)
                    while (p.data[at++] & 0x80)
                        ;
                if (i == 200)
                    end = s;
            }
            ck_assert_uint_eq(at, head);
            uint8_t ten[10] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02};
            tb_buf_t q = {0};
            tb_bytes(&q, p.data, end + 1);
            size_t skip = end + 1;
            while (p.data[skip++] & 0x80) /* the first difference, replaced */
                ;
            tb_bytes(&q, ten, sizeof ten);
            tb_bytes(&q, p.data + skip, p.len - skip);
            p.len = 0;
            tb_bytes(&p, q.data, q.len);
            tb_free(&q);
        }
        size_t off = tb_chunk(&f, PS_CHUNK_SNAPSHOT_PACKED, &p);
        tb_row_t k[] = {{1, 4, 40, 0, 0, 4, 40, 40}};
        full(&f, &p, 3000, k, 1, 40); /* a keyframe after it: the delta is only checked */
        write_buf(path, &f);
        pa_trace_t t, all;
        pa_at_t later = {.kind = PA_AT_TIME, .time_ns = 10000};
        ck_assert_int_eq(pa_model_load(path, true, &t), PA_OK);
        ck_assert_int_eq(pa_model_load_at(path, true, &later, &all), PA_OK);
        ck_assert_uint_eq(t.keyframe, 0); /* the keyframe pass gave way to the full read */
        char want[160];
        snprintf(want, sizeof want,
                 "malformed SNAPSHOT_PACKED chunk at offset %zu: rows run past the payload", off);
        ck_assert_msg(tu_has(&t.warnings, want), "no warning: %s", want);
        ck_assert_msg(tu_has(&all.warnings, want), "no warning: %s", want);
        pa_model_free(&t);
        pa_model_free(&all);
    }
    tb_free(&p);
    tb_free(&f);
}
END_TEST

START_TEST(test_delta_wrong_base)
{
    tb_buf_t f = {0}, p = {0};
    tb_file_header(&f, PS_TRACE_VERSION);
    stacks(&f, &p, 2);
    tb_row_t r1 = {1, 1, 10, 0, 0, 1, 10, 10}, r2 = {2, 1, 20, 0, 0, 1, 20, 20};
    delta(&p, 0, 500, &r1, 1, 10); /* before any snapshot */
    size_t first_bad = tb_chunk(&f, PS_CHUNK_SNAPSHOT_DELTA, &p);
    full(&f, &p, 1000, &r1, 1, 10);
    delta(&p, 999, 2000, &r2, 1, 30); /* names a snapshot that was not read */
    size_t bad = tb_chunk(&f, PS_CHUNK_SNAPSHOT_DELTA, &p);
    delta(&p, 2000, 3000, &r2, 1, 30); /* its base was not applied either */
    tb_chunk(&f, PS_CHUNK_SNAPSHOT_DELTA, &p);
    tb_row_t r3 = {1, 2, 20, 1, 10, 1, 10, 10};
    full(&f, &p, 4000, &r3, 1, 30); /* a keyframe: deltas apply again */
    delta(&p, 4000, 5000, &r2, 1, 30);
    tb_chunk(&f, PS_CHUNK_SNAPSHOT_DELTA, &p);
    const char *path = tu_path("badbase.trace");
    write_buf(path, &f);
    pa_trace_t t;
    ck_assert_int_eq(pa_model_load(path, true, &t), PA_OK);
    ck_assert_uint_eq(t.nsnapshots, 3);
    ck_assert_uint_eq(t.deltas_skipped, 3);
    ck_assert_uint_eq(t.snap.time_ns, 5000);
    ck_assert_uint_eq(t.snap.nrows, 2);
    ck_assert_uint_eq(pa_model_row(&t, 1)->allocs, 2);
    ck_assert_uint_eq(pa_model_row(&t, 2)->live_bytes, 20);
    char want[200];
    snprintf(want, sizeof want,
             "SNAPSHOT_DELTA chunk at offset %zu changes the snapshot at 0 ns, but the last "
             "snapshot read is none",
             first_bad);
    ck_assert_msg(tu_has(&t.warnings, want), "no '%s'", want);
    snprintf(want, sizeof want,
             "SNAPSHOT_DELTA chunk at offset %zu changes the snapshot at 999 ns, but the last "
             "snapshot read is another; it and the deltas after it are ignored until the next "
             "full SNAPSHOT",
             bad);
    ck_assert_msg(tu_has(&t.warnings, want), "no '%s'", want);
    ck_assert(tu_has(&t.warnings, "3 SNAPSHOT_DELTA chunk(s) ignored"));
    pa_model_free(&t);
    /* only deltas, no keyframe: no snapshot */
    f.len = 0;
    tb_file_header(&f, PS_TRACE_VERSION);
    delta(&p, 0, 500, &r1, 1, 10);
    tb_chunk(&f, PS_CHUNK_SNAPSHOT_DELTA, &p);
    write_buf(path, &f);
    int saved = tu_stderr_silence();
    ck_assert_int_eq(pa_model_load(path, true, &t), PA_ENOSNAPSHOT);
    tu_stderr_restore(saved);
    /* a delta shorter than its base time, or than the totals after it: malformed */
    f.len = 0;
    tb_file_header(&f, PS_TRACE_VERSION);
    full(&f, &p, 1000, &r1, 1, 10);
    p.len = 0;
    tb_u32(&p, 1000);
    size_t shortd = tb_chunk(&f, PS_CHUNK_SNAPSHOT_DELTA, &p);
    write_buf(path, &f);
    ck_assert_int_eq(pa_model_load(path, true, &t), PA_OK);
    snprintf(want, sizeof want,
             "malformed SNAPSHOT_DELTA chunk at offset %zu: payload ends inside the totals",
             shortd);
    ck_assert_msg(tu_has(&t.warnings, want), "no '%s'", want);
    ck_assert_uint_eq(t.nsnapshots, 1);
    pa_model_free(&t);
    tb_free(&f);
    tb_free(&p);
}
END_TEST

/* Five snapshots at 1..5 s, live bytes 10, 50, 30, 50, 20; POOL chunks only with the first and
 * the fourth (the pool did not change in between); timing chunks are not needed here. */
static void build_five(tb_buf_t *f, size_t pools[2])
{
    tb_buf_t p = {0};
    tb_file_header(f, PS_TRACE_VERSION);
    stacks(f, &p, 1);
    uint64_t live[] = {10, 50, 30, 50, 20}, peak = 0;
    for (int i = 0; i < 5; i++) {
        uint64_t time_ns = (uint64_t)(i + 1) * 1000000000;
        if (i == 0 || i == 3) {
            tb_pool_totals_t pt = tb_typical_pool_totals;
            pt.time_ns = time_ns;
            pt.threads = (uint32_t)i + 1;
            p.len = 0;
            tb_pool(&p, &pt, tb_typical_pool_classes, 4, PS_POOL_ROW_SIZE);
            pools[i == 3] = tb_chunk(f, PS_CHUNK_POOL, &p);
        }
        peak = live[i] > peak ? live[i] : peak;
        tb_row_t r = {1, 100, 1000, 0, 0, 1, live[i], peak};
        if (i == 0) {
            full(f, &p, time_ns, &r, 1, peak);
        } else {
            delta(&p, time_ns - 1000000000, time_ns, &r, 1, peak);
            tb_chunk(f, PS_CHUNK_SNAPSHOT_DELTA, &p);
        }
    }
    p.len = 0;
    tb_end(&p, 8);
    tb_chunk(f, PS_CHUNK_END, &p);
    tb_free(&p);
}

START_TEST(test_at)
{
    tb_buf_t f = {0};
    size_t pools[2];
    build_five(&f, pools);
    const char *path = tu_path("five.trace");
    write_buf(path, &f);
    struct {
        const char *arg;
        uint64_t number;
        size_t pool; /* index into pools */
        uint64_t peak;
    } cases[] = {
        {"last", 5, 1, 50}, {"max", 2, 0, 50},    {"3.5", 3, 0, 50}, {"3.5s", 3, 0, 50},
        {"4", 4, 1, 50},    {"1000ms", 1, 0, 10}, {"99", 5, 1, 50},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pa_at_t at;
        ck_assert_int_eq(pa_model_parse_at(cases[i].arg, &at), PA_OK);
        pa_trace_t t;
        ck_assert_int_eq(pa_model_load_at(path, true, &at, &t), PA_OK);
        ck_assert_msg(t.snap.number == cases[i].number, "--at %s: snapshot %llu", cases[i].arg,
                      (unsigned long long)t.snap.number);
        ck_assert_uint_eq(t.snap.time_ns, cases[i].number * 1000000000);
        ck_assert_uint_eq(t.nsnapshots, 5); /* all of them counted */
        ck_assert_uint_eq(t.snap.totals.peak_live_bytes, cases[i].peak);
        static const uint64_t live[] = {10, 50, 30, 50, 20};
        ck_assert_uint_eq(pa_model_row(&t, 1)->live_bytes, live[cases[i].number - 1]);
        const pa_pool_t *pool = pa_model_pool(&t);
        ck_assert_ptr_nonnull(pool);
        ck_assert_msg(pool->offset == pools[cases[i].pool], "--at %s: pool", cases[i].arg);
        ck_assert_uint_eq(t.warnings.n, 0);
        ck_assert(pa_model_complete(&t));
        char desc[128];
        pa_model_snapshot_desc(&t, desc, sizeof desc);
        char want[64];
        snprintf(want, sizeof want, "(snapshot %llu of 5)", (unsigned long long)cases[i].number);
        ck_assert_msg(strstr(desc, want), "%s", desc);
        pa_model_free(&t);
    }
    pa_at_t at;
    ck_assert_int_eq(pa_model_parse_at("0.5", &at), PA_OK);
    ck_assert_uint_eq(at.time_ns, 500000000);
    pa_trace_t t;
    int saved = tu_stderr_silence();
    ck_assert_int_eq(pa_model_load_at(path, true, &at, &t), PA_ENOSNAPSHOT);
    tu_stderr_restore(saved);
    tb_free(&f);
}
END_TEST

START_TEST(test_parse_at)
{
    pa_at_t at;
    ck_assert_int_eq(pa_model_parse_at("last", &at), PA_OK);
    ck_assert_int_eq(at.kind, PA_AT_LAST);
    ck_assert_int_eq(pa_model_parse_at("max", &at), PA_OK);
    ck_assert_int_eq(at.kind, PA_AT_MAX);
    ck_assert_int_eq(pa_model_parse_at("12.5", &at), PA_OK);
    ck_assert_int_eq(at.kind, PA_AT_TIME);
    ck_assert_uint_eq(at.time_ns, 12500000000ull);
    ck_assert_int_eq(pa_model_parse_at("12.5s", &at), PA_OK);
    ck_assert_uint_eq(at.time_ns, 12500000000ull);
    ck_assert_int_eq(pa_model_parse_at("250ms", &at), PA_OK);
    ck_assert_uint_eq(at.time_ns, 250000000);
    ck_assert_int_eq(pa_model_parse_at("0", &at), PA_OK);
    ck_assert_uint_eq(at.time_ns, 0);
    /* the units of PERFSHIM_INTERVAL and --older-than */
    ck_assert_int_eq(pa_model_parse_at("10m", &at), PA_OK);
    ck_assert_uint_eq(at.time_ns, 600000000000ull);
    ck_assert_int_eq(pa_model_parse_at("1.5h", &at), PA_OK);
    ck_assert_uint_eq(at.time_ns, 5400000000000ull);
    ck_assert_int_eq(pa_model_parse_at("2d", &at), PA_OK);
    ck_assert_uint_eq(at.time_ns, 172800000000000ull);
    const char *bad[] = {"",   "s",   "-1",  "abc", "12x", "12 s", "1e30",
                         " 5", "nan", "inf", "+3",  "5hm", "1e9d", "h"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(pa_model_parse_at(bad[i], &at) == PA_EUSAGE, "'%s' accepted", bad[i]);
}
END_TEST

static int stop_at_two(pa_trace_t *t, void *ctx)
{
    (void)ctx;
    return t->snap.number == 2 ? PA_EUSAGE : PA_OK;
}

START_TEST(test_handler_stops)
{
    tb_buf_t f = {0};
    size_t offs[4];
    build_deltas(&f, offs);
    const char *path = tu_path("stop.trace");
    write_buf(path, &f);
    pa_model_opts_t o = {.quiet = true, .on_snapshot = stop_at_two};
    pa_trace_t t;
    ck_assert_int_eq(pa_model_read(path, &o, &t), PA_EUSAGE);
    tb_free(&f);
}
END_TEST

/* The timeline's JSON: one entry per snapshot with the series of the sites. */
START_TEST(test_timeline_json)
{
    tb_buf_t f = {0};
    size_t pools[2];
    build_five(&f, pools);
    const char *path = tu_path("tl.trace");
    write_buf(path, &f);
    const char *out_path = tu_path("tl.json");
    FILE *out = fopen(out_path, "w+");
    ck_assert_ptr_nonnull(out);
    pa_timeline_opts_t o = {.json = true, .top = 5, .quiet = true};
    char *paths[] = {(char *)path};
    ck_assert_int_eq(pa_timeline_files(paths, 1, &o, false, out), PA_OK);
    rewind(out);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, out);
    buf[n] = 0;
    fclose(out);
    ck_assert_msg(strstr(buf, "\"format\": \"perfshim-timeline\""), "%s", buf);
    const uint64_t live[] = {10, 50, 30, 50, 20};
    for (int i = 0; i < 5; i++) {
        char want[160];
        snprintf(want, sizeof want,
                 "{\"number\": %d, \"time_ns\": %d000000000, \"reason\": "
                 "\"interval\", \"delta\": %s, \"live_bytes\": %llu",
                 i + 1, i + 1, i ? "true" : "false", (unsigned long long)live[i]);
        ck_assert_msg(strstr(buf, want), "no '%s' in\n%s", want, buf);
        snprintf(want, sizeof want, "\"site_live_bytes\": [%llu], \"site_live_blocks\": [1]}",
                 (unsigned long long)live[i]);
        ck_assert_msg(strstr(buf, want), "no '%s' in\n%s", want, buf);
    }
    /* the rate since the previous snapshot: no new allocations after the first */
    ck_assert_msg(strstr(buf, "\"allocs_per_s\": 100, "), "%s", buf); /* 100 in 1 s */
    ck_assert_msg(strstr(buf, "\"allocs_per_s\": 0, "), "%s", buf);
    ck_assert_msg(strstr(buf, "\"site\": 1,\n      \"live_bytes\": 20,"), "%s", buf);
    tb_free(&f);
}
END_TEST

/* The second pass of timeline and growth (PA_PASS_SERIES, rows_wanted) gives each snapshot the
 * rows of the stacks it follows exactly as a full read does, and the same warnings: keyframes
 * scanned by id only, packed deltas decoded once, MODULES/AGES passed over, POOL and THREADS
 * chunks checked without being kept (a malformed one in the middle is still reported), and no
 * CRC computed (a chunk whose CRC is wrong is used: the earlier pass vouched for the file). */
static void build_series(tb_buf_t *f, bool bad_pool, size_t *crc_off)
{
    tb_buf_t p = {0};
    tb_file_header(f, PS_TRACE_VERSION);
    const tb_module_t m = {0x400000, 0x400000, 0x500000, "/nonexistent/prog", NULL, 0};
    tb_modules(&p, &m, 1);
    tb_chunk(f, PS_CHUNK_MODULES, &p);
    stacks(f, &p, 5);
    tb_row_t k1[] = {
        {1, 1, 10, 0, 0, 1, 10, 10}, {2, 2, 40, 0, 0, 2, 40, 40}, {4, 3, 30, 1, 10, 2, 20, 20}};
    full(f, &p, 1000, k1, 3, 70);
    const int64_t d1[][6] = {{1, 1, 5, 0, 0, 0}, {2, 3, 60, 1, 20, 40}, {5, 1, 7, 0, 0, 7}};
    packed(&p, 1000, 2000, d1, 3, PS_PACKED_FIELDS);
    tb_chunk(f, PS_CHUNK_SNAPSHOT_PACKED, &p);
    p.len = 0; /* the pool of the snapshot at 3000, before it (as the shim writes it) */
    tb_pool_totals_t pt = tb_typical_pool_totals;
    pt.time_ns = 3000;
    tb_pool(&p, &pt, tb_typical_pool_classes, 4, bad_pool ? 90 : 96);
    tb_chunk(f, PS_CHUNK_POOL, &p);
    p.len = 0;
    tb_threads(&p, 3000, 2, tb_fields_threads, 2);
    tb_chunk(f, PS_CHUNK_THREADS, &p);
    const int64_t d2[][6] = {{2, 0, 0, 2, 30, 0}, {4, 1, 1, 0, 0, 0}};
    packed(&p, 2000, 3000, d2, 2, PS_PACKED_FIELDS + 1);
    *crc_off = tb_chunk(f, PS_CHUNK_SNAPSHOT_PACKED, &p);
    tb_row_t k2[] = {{1, 2, 15, 0, 0, 2, 15, 15},
                     {2, 9, 190, 5, 60, 4, 130, 150},
                     {4, 4, 31, 1, 10, 3, 21, 21},
                     {5, 1, 7, 0, 0, 1, 7, 7}};
    full(f, &p, 4000, k2, 4, 200);
    const int64_t d3[][6] = {{2, 1, 1000, 0, 0, 1000}};
    packed(&p, 4000, 5000, d3, 1, PS_PACKED_FIELDS);
    tb_chunk(f, PS_CHUNK_SNAPSHOT_PACKED, &p);
    p.len = 0;
    tb_end(&p, 9);
    tb_chunk(f, PS_CHUNK_END, &p);
    tb_free(&p);
}

START_TEST(test_series_pass)
{
    for (int bad_pool = 0; bad_pool < 2; bad_pool++) {
        tb_buf_t f = {0};
        size_t crc_off;
        build_series(&f, bad_pool, &crc_off);
        const char *path = tu_path("series.trace");
        seen_t all = {0}, few = {0};
        pa_trace_t t, u;
        read_recorded(&f, path, &all, &t);
        ck_assert_uint_eq(all.n, 5);
        ck_assert_msg(t.damaged == bad_pool, "%s", t.warnings.n ? t.warnings.items[0] : "-");
        uint8_t only2 = 1u << 2;
        pa_model_opts_t series = {.quiet = true,
                                  .on_snapshot = record,
                                  .ctx = &few,
                                  .at = {.kind = PA_AT_NUMBER, .number = all.n},
                                  .skip_stacks = true,
                                  .pass = PA_PASS_SERIES,
                                  .rows_wanted = &only2,
                                  .rows_wanted_ids = 8};
        /* a byte of a delta's rows changed after the first pass: not CRC-checked again (the
         * delta still decodes, and stack 2's row shows the change) */
        f.data[crc_off + PS_CHUNK_HEADER_SIZE + 8 + 104 + 2] = 2; /* its alloc_bytes: +1 */
        write_buf(path, &f);
        ck_assert_int_eq(pa_model_read(path, &series, &u), PA_OK);
        ck_assert_uint_eq(few.n, all.n);
        for (size_t i = 0; i < all.n; i++) {
            ck_assert_uint_eq(few.number[i], all.number[i]);
            ck_assert_uint_eq(few.time_ns[i], all.time_ns[i]);
            ck_assert_uint_eq(few.nrows[i], 1);                       /* stack 2's row only */
            ck_assert_uint_eq(few.live2[i], all.live2[i] + (i == 2)); /* the keyframe after */
        }
        ck_assert_uint_eq(all.live2[2], 50); /* 40 + 60 - 20 - 30 */
        ck_assert_uint_eq(all.live2[4], 1130);
        ck_assert_uint_eq(u.warnings.n, t.warnings.n);
        for (size_t i = 0; i < t.warnings.n; i++)
            ck_assert_str_eq(u.warnings.items[i], t.warnings.items[i]);
        ck_assert_int_eq(u.damaged, t.damaged);
        ck_assert_int_eq(pa_model_complete(&u), pa_model_complete(&t));
        ck_assert_ptr_null(pa_model_pool(&u)); /* checked, not kept */
        ck_assert(!u.has_threads);
        ck_assert_uint_eq(u.nmodules, 0); /* passed over */
        ck_assert_uint_eq(u.chunks, t.chunks);
        pa_model_free(&t);
        pa_model_free(&u);
        /* a first pass checks the CRC: the changed delta is reported */
        series.pass = PA_PASS_FIRST;
        few.n = 0;
        ck_assert_int_eq(pa_model_read(path, &series, &u), PA_OK);
        ck_assert(u.damaged);
        pa_model_free(&u);
        tb_free(&f);
    }
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("timeline");
    TCase *tc = tcase_create("timeline");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_delta_applied);
    tcase_add_test(tc, test_packed_applied);
    tcase_add_test(tc, test_packed_before_keyframe);
    tcase_add_test(tc, test_packed_runs);
    tcase_add_test(tc, test_delta_wrong_base);
    tcase_add_test(tc, test_at);
    tcase_add_test(tc, test_parse_at);
    tcase_add_test(tc, test_handler_stops);
    tcase_add_test(tc, test_timeline_json);
    tcase_add_test(tc, test_series_pass);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    tu_setup("timeline");
    SRunner *r = srunner_create(suite());
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    tu_teardown();
    return failed ? 1 : 0;
}
