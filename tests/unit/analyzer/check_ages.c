/* SPDX-License-Identifier: MIT */
/*
 * check_ages.c — ages of blocks (analyzer/ages.c, issue 12): the bucket arithmetic both sides
 * share (ps_age_bucket in trace_format.h, the log-linear live-age buckets of hist.h), the
 * durations --older-than takes, an AGES chunk encoded by hand (independently of the shim's
 * writer) decoded field by field, malformed ones refused, and the suspect rule on made-up
 * sites at and around its thresholds.
 */
#include "ages.h"
#include "hist.h"

#include "test_util.h"
#include "trace_builder.h"
#include "trace_format.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

/* ---- bucket math --------------------------------------------------------------------------- */

START_TEST(test_lifetime_buckets)
{
    ck_assert_uint_eq(ps_age_bucket(0), 0);
    ck_assert_uint_eq(ps_age_bucket(1), 1);
    ck_assert_uint_eq(ps_age_bucket(2), 2);
    ck_assert_uint_eq(ps_age_bucket(3), 2);
    ck_assert_uint_eq(ps_age_bucket(4), 3);
    ck_assert_uint_eq(ps_age_bucket(1000), 10);
    ck_assert_uint_eq(ps_age_bucket(1023), 10);
    ck_assert_uint_eq(ps_age_bucket(1024), 11);
    ck_assert_uint_eq(ps_age_bucket((UINT64_C(1) << 30) - 1), 30);
    ck_assert_uint_eq(ps_age_bucket(UINT64_C(1) << 30), 31);
    ck_assert_uint_eq(ps_age_bucket(UINT32_MAX), 31);
    ck_assert_uint_eq(ps_age_bucket(UINT64_MAX), 31);
    /* every value lies in the range pa_ages_bucket_range gives its bucket */
    for (uint64_t v = 0; v < (UINT64_C(1) << 34); v = v * 3 / 2 + 1) {
        uint64_t lo, hi;
        pa_ages_bucket_range(ps_age_bucket(v), &lo, &hi);
        ck_assert_msg(lo <= v && v < hi, "value %llu: bucket [%llu, %llu)", (unsigned long long)v,
                      (unsigned long long)lo, (unsigned long long)hi);
    }
    /* the ranges tile [0, inf) */
    uint64_t prev_hi = 0;
    for (unsigned b = 0; b < PS_AGE_BUCKETS; b++) {
        uint64_t lo, hi;
        pa_ages_bucket_range(b, &lo, &hi);
        ck_assert_uint_eq(lo, prev_hi);
        ck_assert_uint_gt(hi, lo);
        prev_hi = hi;
    }
    ck_assert_uint_eq(prev_hi, UINT64_MAX);
}
END_TEST

/* A live-age bucket (log-linear) never straddles two lifetime buckets (octaves): the report
 * sums live buckets into octaves by their lower bound. */
START_TEST(test_live_buckets_in_octaves)
{
    for (uint32_t i = 0; i + 1 < PA_AGE_LIVE_INDEXES; i++) {
        uint64_t lo = pa_hist_bucket_low(i), hi = pa_hist_bucket_high(i);
        ck_assert_uint_eq(ps_age_bucket(lo), ps_age_bucket(hi - 1));
        ck_assert_uint_eq(pa_hist_bucket_low(i + 1), hi);
    }
}
END_TEST

START_TEST(test_durations)
{
    static const struct {
        const char *text;
        uint64_t ns; /* 0: refused */
    } cases[] = {
        {"60s", UINT64_C(60000000000)},
        {"60", UINT64_C(60000000000)},
        {"250ms", 250000000},
        {"1.5h", UINT64_C(5400000000000)},
        {"5m", UINT64_C(300000000000)},
        {"2min", UINT64_C(120000000000)},
        {"1d", UINT64_C(86400000000000)},
        {"10us", 10000},
        {"7ns", 7},
        {"", 0},
        {"s", 0},
        {"-1s", 0},
        {"10 s", 0},
        {"3weeks", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t ns = 0;
        int rc = pa_ages_parse_duration(cases[i].text, &ns);
        ck_assert_msg(rc == (cases[i].ns ? PA_OK : PA_EUSAGE), "'%s': rc %d", cases[i].text, rc);
        if (cases[i].ns)
            ck_assert_msg(ns == cases[i].ns, "'%s': %llu ns", cases[i].text,
                          (unsigned long long)ns);
    }
}
END_TEST

/* ---- the AGES chunk ---------------------------------------------------------------------- */

#define UNIT_PS UINT64_C(1000000000) /* 1 ms: ages in these tests are in milliseconds */

/* An AGES payload: site 1 with live cells {40: 3 blocks/300 bytes, 200: 2/20} and lifetimes
 * {0: 7, 9: 1}; site 2 with lifetimes {31: 4} only. site_size may exceed 16 (zeros appended). */
static void ages_head(tb_buf_t *p, uint64_t time_ns, uint32_t count, uint32_t site_size)
{
    tb_u64(p, time_ns);
    tb_u64(p, UNIT_PS);
    tb_u32(p, 4000000); /* clock_res_ns */
    tb_u32(p, count);
    tb_u32(p, site_size);
    tb_u32(p, 0);
    tb_u64(p, 12345); /* walk_ns */
}

static void ages_payload(tb_buf_t *p, uint64_t time_ns, uint32_t site_size)
{
    ages_head(p, time_ns, 2, site_size);
    const uint32_t site_head[2][3] = {{1, 2, 2}, {2, 0, 1}};
    for (int s = 0; s < 2; s++) {
        for (int k = 0; k < 3; k++)
            tb_u32(p, site_head[s][k]);
        for (uint32_t k = 12; k < site_size; k += 4)
            tb_u32(p, 0);
        if (s == 0) {
            tb_u32(p, 40), tb_u64(p, 3), tb_u64(p, 300);
            tb_u32(p, 200), tb_u64(p, 2), tb_u64(p, 20);
            tb_u32(p, 0), tb_u64(p, 7);
            tb_u32(p, 9), tb_u64(p, 1);
        } else {
            tb_u32(p, 31), tb_u64(p, 4);
        }
    }
}

static void load_ages(const tb_buf_t *payload, pa_trace_t *t)
{
    tb_buf_t f = {0};
    const uint16_t types[] = {PS_CHUNK_AGES};
    tb_typical_with(&f, types, payload, 1);
    const char *path = tu_path("ages.trace");
    ck_assert_int_eq(tb_write_file(path, f.data, f.len), 0);
    tb_free(&f);
    ck_assert_int_eq(pa_model_load(path, true, t), PA_OK);
}

/* Loads payload (freed) into t, undamaged, and returns its ages. */
static const pa_ages_t *load_good(tb_buf_t *payload, pa_trace_t *t)
{
    load_ages(payload, t);
    tb_free(payload);
    ck_assert(!t->damaged);
    const pa_ages_t *a = pa_ages_of(t);
    ck_assert_ptr_nonnull(a);
    return a;
}

START_TEST(test_chunk_decoded)
{
    for (uint32_t site_size = 16; site_size <= 24; site_size += 8) {
        tb_buf_t p = {0};
        ages_payload(&p, TB_SNAPSHOT_TIME_NS, site_size);
        pa_trace_t t;
        const pa_ages_t *a = load_good(&p, &t);
        ck_assert_uint_eq(a->unit_ps, UNIT_PS);
        ck_assert_uint_eq(a->clock_res_ns, 4000000);
        ck_assert_uint_eq(a->walk_ns, 12345);
        ck_assert_uint_eq(a->nsites, 2);
        const pa_age_site_t *s1 = pa_ages_site(a, 1), *s2 = pa_ages_site(a, 2);
        ck_assert_ptr_nonnull(s1);
        ck_assert_ptr_nonnull(s2);
        ck_assert_ptr_null(pa_ages_site(a, 3));
        ck_assert_uint_eq(s1->ncells, 2);
        ck_assert_uint_eq(a->cells[s1->first].index, 40);
        ck_assert_uint_eq(a->cells[s1->first].count, 3);
        ck_assert_uint_eq(a->cells[s1->first].bytes, 300);
        ck_assert_uint_eq(a->cells[s1->first + 1].index, 200);
        ck_assert_uint_eq(pa_ages_freed(a, s1, 0), 7);
        ck_assert_uint_eq(pa_ages_freed(a, s1, 9), 1);
        ck_assert_uint_eq(pa_ages_freed(a, s1, 1), 0);
        ck_assert_uint_eq(pa_ages_freed(a, s1, 31), 0);
        ck_assert_uint_eq(s1->freed_mask, (1u << 0) | (1u << 9)); /* only non-zero buckets kept */
        ck_assert_uint_eq(s2->ncells, 0);
        ck_assert_uint_eq(pa_ages_freed(a, s2, 31), 4);
        ck_assert_uint_eq(pa_ages_freed(a, s2, 0), 0);
        ck_assert_uint_eq(a->nfreed, 3);
        pa_model_free(&t);
    }
}
END_TEST

/* Lifetime buckets as a chunk may list them (out of order, repeated, a zero count) are kept
 * sparse: summed, by increasing bucket, the empty ones left out. */
START_TEST(test_freed_sparse)
{
    tb_buf_t p = {0};
    ages_head(&p, TB_SNAPSHOT_TIME_NS, 2, 16);
    tb_u32(&p, 4), tb_u32(&p, 0), tb_u32(&p, 4), tb_u32(&p, 0);
    tb_u32(&p, 5), tb_u64(&p, 2);
    tb_u32(&p, 3), tb_u64(&p, 0);
    tb_u32(&p, 5), tb_u64(&p, 1);
    tb_u32(&p, 2), tb_u64(&p, 4);
    tb_u32(&p, 7), tb_u32(&p, 0), tb_u32(&p, 0), tb_u32(&p, 0); /* no buckets at all */
    pa_trace_t t;
    const pa_ages_t *a = load_good(&p, &t);
    const pa_age_site_t *s = pa_ages_site(a, 4), *s7 = pa_ages_site(a, 7);
    ck_assert_uint_eq(s->freed_mask, (1u << 2) | (1u << 5));
    ck_assert_uint_eq(a->nfreed, 2);
    ck_assert_uint_eq(pa_ages_freed(a, s, 2), 4);
    ck_assert_uint_eq(pa_ages_freed(a, s, 3), 0);
    ck_assert_uint_eq(pa_ages_freed(a, s, 5), 3);
    ck_assert_uint_eq(s7->freed_mask, 0);
    pa_age_summary_t sum = {0};
    static uint64_t scratch[PA_AGE_LIVE_INDEXES];
    pa_ages_add(a, s, 0, scratch, &sum);
    pa_ages_add(a, s7, 0, scratch, &sum);
    pa_ages_finish(a, scratch, &sum);
    ck_assert_uint_eq(sum.freed_blocks, 7);
    ck_assert_uint_eq(sum.freed_hist[2], 4);
    ck_assert_uint_eq(sum.freed_hist[5], 3);
    pa_model_free(&t);
}
END_TEST

/* An AGES chunk of another snapshot is not the reported one's; a malformed one is refused. */
START_TEST(test_chunk_other_or_malformed)
{
    tb_buf_t p = {0};
    ages_payload(&p, TB_SNAPSHOT_TIME_NS + 1, 16);
    pa_trace_t t;
    load_ages(&p, &t);
    ck_assert_ptr_null(pa_ages_of(&t));
    ck_assert(!t.damaged);
    pa_model_free(&t);
    tb_free(&p);

    ages_payload(&p, TB_SNAPSHOT_TIME_NS, 16);
    p.len -= 4; /* the last lifetime bucket cut */
    load_ages(&p, &t);
    ck_assert_ptr_null(pa_ages_of(&t));
    ck_assert(t.damaged);
    pa_model_free(&t);
    tb_free(&p);

    ages_payload(&p, TB_SNAPSHOT_TIME_NS, 12); /* site size below the format's */
    load_ages(&p, &t);
    ck_assert_ptr_null(pa_ages_of(&t));
    ck_assert(t.damaged);
    pa_model_free(&t);
    tb_free(&p);
}
END_TEST

/* A report that keeps no ages (pa_model_load_unaged: timeline, growth, export) is told of a
 * malformed AGES chunk exactly as one that keeps them: the same warnings, the same damage. */
START_TEST(test_unaged_checks_alike)
{
    for (int kind = 0; kind < 6; kind++) {
        tb_buf_t p = {0};
        ages_payload(&p, TB_SNAPSHOT_TIME_NS, kind == 1 ? 12 : 16);
        if (kind == 2)
            p.len -= 4; /* the last lifetime bucket cut */
        /* (offsets: a 40-byte head, sites of 16 bytes, live cells of 20, lifetimes of 12) */
        if (kind == 3) /* site 1's second live bucket below its first (40) */
            memcpy(p.data + 40 + 16 + 20, (const uint32_t[]){39}, 4);
        if (kind == 4) /* site 1's first lifetime bucket out of range */
            memcpy(p.data + 40 + 16 + 40, (const uint32_t[]){PS_AGE_BUCKETS}, 4);
        if (kind == 5) /* site 2 given site 1's id */
            memcpy(p.data + 40 + 16 + 40 + 24, (const uint32_t[]){1}, 4);
        tb_buf_t f = {0};
        const uint16_t types[] = {PS_CHUNK_AGES};
        tb_typical_with(&f, types, &p, 1);
        tb_free(&p);
        const char *path = tu_path("ages.trace");
        ck_assert_int_eq(tb_write_file(path, f.data, f.len), 0);
        tb_free(&f);
        pa_trace_t kept, unaged;
        ck_assert_int_eq(pa_model_load(path, true, &kept), PA_OK);
        ck_assert_int_eq(pa_model_load_unaged(path, true, &(pa_at_t){.kind = PA_AT_LAST}, &unaged),
                         PA_OK);
        ck_assert_int_eq(kept.damaged, unaged.damaged);
        ck_assert_int_eq(kept.damaged, kind != 0);
        ck_assert_uint_eq(kept.warnings.n, unaged.warnings.n);
        for (size_t i = 0; i < kept.warnings.n; i++)
            ck_assert_str_eq(kept.warnings.items[i], unaged.warnings.items[i]);
        ck_assert(kind ? !pa_ages_of(&kept) : pa_ages_of(&kept) != NULL);
        ck_assert_ptr_null(pa_ages_of(&unaged));
        ck_assert_ptr_null(unaged.ages);
        pa_model_free(&kept);
        pa_model_free(&unaged);
    }
}
END_TEST

/* ---- the summary and the suspect rule ------------------------------------------------------ */

/* A made-up ages table with one site: `live` blocks of 8 bytes, ages (ms) spread evenly over
 * [age_lo, age_hi], and `freed` blocks of lifetime bucket freed_bucket. */
typedef struct {
    pa_ages_t a;
    pa_age_site_t site;
    pa_age_cell_t cells[PA_AGE_LIVE_INDEXES];
    uint64_t freed[1];
} fake_t;

static unsigned hist_index(uint64_t v)
{
    unsigned i = 0;
    while (i + 1 < PA_AGE_LIVE_INDEXES && pa_hist_bucket_high(i) <= v)
        i++;
    return i;
}

static void fake(fake_t *f, uint64_t live, uint64_t age_lo, uint64_t age_hi, uint64_t freed,
                 unsigned freed_bucket)
{
    memset(f, 0, sizeof *f);
    f->a.unit_ps = UNIT_PS;
    f->a.cells = f->cells;
    f->a.sites = &f->site;
    f->a.nsites = 1;
    f->site.stack_id = 1;
    for (uint64_t k = 0; k < live; k++) {
        uint64_t age = live > 1 ? age_lo + (age_hi - age_lo) * k / (live - 1) : age_lo;
        unsigned idx = hist_index(age);
        size_t c = 0;
        while (c < f->site.ncells && f->cells[c].index != idx)
            c++;
        if (c == f->site.ncells) {
            f->site.ncells++;
            f->cells[c].index = idx;
        }
        f->cells[c].count++;
        f->cells[c].bytes += 8;
    }
    /* cells in index order, as the chunk has them */
    for (size_t i = 1; i < f->site.ncells; i++)
        for (size_t j = i; j > 0 && f->cells[j - 1].index > f->cells[j].index; j--) {
            pa_age_cell_t x = f->cells[j];
            f->cells[j] = f->cells[j - 1];
            f->cells[j - 1] = x;
        }
    f->a.ncells = f->site.ncells;
    f->a.freed = f->freed;
    if (freed) {
        f->freed[0] = freed;
        f->site.freed_mask = UINT32_C(1) << freed_bucket;
        f->a.nfreed = 1;
    }
}

static pa_age_summary_t summarize(const fake_t *f, uint64_t older_than_ns)
{
    static uint64_t scratch[PA_AGE_LIVE_INDEXES];
    pa_age_summary_t s = {0};
    pa_ages_add(&f->a, &f->site, older_than_ns, scratch, &s);
    pa_ages_finish(&f->a, scratch, &s);
    for (unsigned i = 0; i < PA_AGE_LIVE_INDEXES; i++)
        ck_assert_uint_eq(scratch[i], 0); /* left zero for the next site */
    return s;
}

START_TEST(test_suspect_outlived)
{
    fake_t f;
    /* 100 live blocks 1..2 s old; 1000 freed blocks of bucket 3 (4-8 ms): ratio ~190 */
    fake(&f, 100, 1000, 2000, 1000, 3);
    pa_age_summary_t s = summarize(&f, 0);
    ck_assert(s.have);
    ck_assert_uint_eq(s.live_blocks, 100);
    ck_assert_uint_eq(s.live_bytes, 800);
    ck_assert_uint_eq(s.freed_blocks, 1000);
    ck_assert_double_eq_tol(s.p90_lifetime_s, 0.008, 1e-9); /* the bucket's upper edge */
    ck_assert_double_eq_tol(s.median_age_s, 1.5, 1.5 / 16);
    ck_assert(s.suspect);
    ck_assert_str_eq(s.rule, "outlived");
    ck_assert_double_ge(s.ratio, 10);
    /* the same ages against lifetimes of bucket 9 (256-512 ms): ratio ~3, not a suspect */
    fake(&f, 100, 1000, 2000, 1000, 9);
    s = summarize(&f, 0);
    ck_assert(!s.suspect);
    ck_assert_double_lt(s.ratio, 10);
    /* too few live blocks to judge */
    fake(&f, PA_AGE_MIN_LIVE - 1, 1000, 2000, 1000, 3);
    s = summarize(&f, 0);
    ck_assert(!s.suspect);
    ck_assert_double_eq(s.ratio, 0);
    fake(&f, PA_AGE_MIN_LIVE, 1000, 2000, 1000, 3);
    ck_assert(summarize(&f, 0).suspect);
}
END_TEST

START_TEST(test_suspect_never_freed)
{
    fake_t f;
    /* allocated all along 0..2 s, never freed: a suspect */
    fake(&f, 200, 0, 2000, 0, 0);
    pa_age_summary_t s = summarize(&f, 0);
    ck_assert(s.suspect);
    ck_assert_str_eq(s.rule, "never_freed");
    ck_assert_double_eq_tol(s.p10_age_s, 0.2, 0.2 / 16 + 0.001);
    /* allocated at once (all 1.9-2 s old), never freed: a cache filled at start, not a suspect */
    fake(&f, 200, 1900, 2000, 0, 0);
    ck_assert(!summarize(&f, 0).suspect);
    /* fewer frees than PA_AGE_MIN_FREED count as never freed */
    fake(&f, 200, 0, 2000, PA_AGE_MIN_FREED - 1, 0);
    ck_assert_str_eq(summarize(&f, 0).rule, "never_freed");
    /* young: median under 10 units */
    fake(&f, 200, 0, 8, 0, 0);
    ck_assert(!summarize(&f, 0).suspect);
}
END_TEST

START_TEST(test_older_than)
{
    fake_t f;
    fake(&f, 101, 0, 1000, 0, 0); /* ages 0, 10, 20, ..., 1000 ms */
    pa_age_summary_t s = summarize(&f, UINT64_C(500000000));
    /* every block of 500 ms and more (51 of them), and at most a bucket's width (1/16) below */
    ck_assert_uint_ge(s.older_blocks, 51);
    ck_assert_uint_le(s.older_blocks, 51 + 500 / 16 / 10 + 1);
    ck_assert_uint_eq(s.older_bytes, s.older_blocks * 8);
    uint64_t in_hist = 0;
    for (unsigned b = 0; b < PS_AGE_BUCKETS; b++)
        in_hist += s.live_hist[b];
    ck_assert_uint_eq(in_hist, s.older_blocks);
    ck_assert_uint_eq(s.live_blocks, 101); /* the verdict still judges every live block */
    s = summarize(&f, UINT64_C(2000000000));
    ck_assert_uint_eq(s.older_blocks, 0);
    s = summarize(&f, 0);
    ck_assert_uint_eq(s.older_blocks, 101);
}
END_TEST

int main(void)
{
    tu_setup("check_analyzer_ages");
    Suite *s = suite_create("analyzer_ages");
    TCase *tc = tcase_create("ages");
    tcase_add_test(tc, test_lifetime_buckets);
    tcase_add_test(tc, test_live_buckets_in_octaves);
    tcase_add_test(tc, test_durations);
    tcase_add_test(tc, test_chunk_decoded);
    tcase_add_test(tc, test_freed_sparse);
    tcase_add_test(tc, test_chunk_other_or_malformed);
    tcase_add_test(tc, test_unaged_checks_alike);
    tcase_add_test(tc, test_suspect_outlived);
    tcase_add_test(tc, test_suspect_never_freed);
    tcase_add_test(tc, test_older_than);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
