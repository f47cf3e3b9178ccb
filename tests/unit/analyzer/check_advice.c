/* SPDX-License-Identifier: MIT */
/*
 * check_advice.c — the ADVICE chunk (docs/trace-format.md; the shim's advice counters, issue 13
 * item 1) as the model reads it (analyzer/model.c), encoded here by hand: its fields and bins,
 * a chunk of another snapshot, malformed chunks (said, skipped, never a crash); and the
 * thresholds of the three rules that read it (analyzer/advise.c, docs/tuning.md), just above
 * and just below each. The reports that do not read the counters load without them
 * (pa_model_opts_t.no_advice, pa_report_each_file) and still say a malformed chunk.
 */
#include "advise.h"
#include "model.h"
#include "report.h"
#include "test_util.h"

#include "trace_format.h"

typedef struct {
    uint32_t id;
    uint64_t allocs, temporaries, grows, grown_from, grown_to, cross;
    uint32_t nreq, nusable;
    uint32_t req_bins[4], usable_bins[4];
    uint64_t req[4], usable[4];
} site_t;

/* An ADVICE payload with the given sites; site_size may exceed 64 (zeros appended). */
static void advice_payload(tb_buf_t *p, uint64_t time_ns, uint32_t sample, uint32_t flags,
                           uint32_t site_size, const site_t *s, uint32_t n)
{
    tb_u64(p, time_ns);
    tb_u32(p, sample);
    tb_u32(p, flags);
    tb_u32(p, n);
    tb_u32(p, site_size);
    tb_u32(p, PS_ADV_BINS);
    tb_u32(p, 0);
    for (uint32_t i = 0; i < n; i++) {
        tb_u32(p, s[i].id);
        tb_u32(p, s[i].nreq);
        tb_u32(p, s[i].nusable);
        tb_u32(p, 0);
        tb_u64(p, s[i].allocs);
        tb_u64(p, s[i].temporaries);
        tb_u64(p, s[i].grows);
        tb_u64(p, s[i].grown_from);
        tb_u64(p, s[i].grown_to);
        tb_u64(p, s[i].cross);
        for (uint32_t k = 64; k < site_size; k += 4)
            tb_u32(p, 0);
        for (uint32_t k = 0; k < s[i].nreq; k++)
            tb_u32(p, s[i].req_bins[k]), tb_u64(p, s[i].req[k]);
        for (uint32_t k = 0; k < s[i].nusable; k++)
            tb_u32(p, s[i].usable_bins[k]), tb_u64(p, s[i].usable[k]);
    }
}

static void load_advice(const tb_buf_t *payload, pa_trace_t *t)
{
    const uint16_t types[] = {PS_CHUNK_ADVICE};
    tu_typical_load("advice.trace", types, payload, 1, t);
}

static const site_t two_sites[] = {
    {1, 160, 100, 7, 700, 1400, 3, 2, 1, {0, 5}, {15}, {150, 10}, {160}},
    {2, 16, 0, 0, 0, 0, 16, 1, 2, {3}, {3, 4}, {16}, {8, 8}},
};

START_TEST(test_chunk_decoded)
{
    for (uint32_t site_size = 64; site_size <= 72; site_size += 8) {
        tb_buf_t p = {0};
        advice_payload(&p, TB_SNAPSHOT_TIME_NS, 16, PS_ADVICE_F_SCALED, site_size, two_sites, 2);
        pa_trace_t t;
        load_advice(&p, &t);
        tb_free(&p);
        ck_assert(!t.damaged);
        const pa_advice_t *a = pa_model_advice(&t);
        ck_assert_ptr_nonnull(a);
        ck_assert_uint_eq(a->sample, 16);
        ck_assert_uint_eq(a->flags, PS_ADVICE_F_SCALED);
        ck_assert_uint_eq(a->bins, PS_ADV_BINS);
        ck_assert_uint_eq(a->nsites, 2);
        const pa_advice_site_t *s1 = pa_model_advice_site(a, 1), *s2 = pa_model_advice_site(a, 2);
        ck_assert_ptr_nonnull(s1);
        ck_assert_ptr_nonnull(s2);
        ck_assert_ptr_null(pa_model_advice_site(a, 3));
        ck_assert_ptr_null(pa_model_advice_site(a, 0));
        ck_assert_uint_eq(s1->allocs, 160);
        ck_assert_uint_eq(s1->temporaries, 100);
        ck_assert_uint_eq(s1->realloc_grows, 7);
        ck_assert_uint_eq(s1->realloc_old_bytes, 700);
        ck_assert_uint_eq(s1->realloc_new_bytes, 1400);
        ck_assert_uint_eq(s1->cross_thread_frees, 3);
        ck_assert_uint_eq(s1->req[0], 150);
        ck_assert_uint_eq(s1->req[5], 10);
        ck_assert_uint_eq(s1->req[1], 0);
        ck_assert_uint_eq(s1->usable[15], 160);
        ck_assert_uint_eq(s2->req[3], 16);
        ck_assert_uint_eq(s2->usable[3], 8);
        ck_assert_uint_eq(s2->usable[4], 8);
        ck_assert_uint_eq(s2->cross_thread_frees, 16);
        pa_model_free(&t);
    }
}
END_TEST

/* Loads the payload; the chunk must be refused (damaged) or ignored (not damaged). */
static void refused(const tb_buf_t *p, bool damaged)
{
    pa_trace_t t;
    load_advice(p, &t);
    ck_assert_ptr_null(pa_model_advice(&t));
    ck_assert_int_eq(t.damaged, damaged);
    pa_model_free(&t);
}

START_TEST(test_chunk_other_or_malformed)
{
    tb_buf_t p = {0};
    advice_payload(&p, TB_SNAPSHOT_TIME_NS + 1, 1, 0, 64, two_sites, 2);
    refused(&p, false); /* another snapshot's */
    tb_free(&p);

    advice_payload(&p, TB_SNAPSHOT_TIME_NS, 1, 0, 64, two_sites, 2);
    p.len -= 4; /* the last bin cut */
    refused(&p, true);
    tb_free(&p);

    advice_payload(&p, TB_SNAPSHOT_TIME_NS, 1, 0, 60, two_sites, 2); /* site size too small */
    refused(&p, true);
    tb_free(&p);

    advice_payload(&p, TB_SNAPSHOT_TIME_NS, 0, 0, 64, two_sites, 2); /* sample 0 */
    refused(&p, true);
    tb_free(&p);

    advice_payload(&p, TB_SNAPSHOT_TIME_NS, 1, 0, 64, two_sites, 1);
    p.len -= 8;
    p.data[16] = 5; /* five sites claimed, one (cut) written */
    refused(&p, true);
    tb_free(&p);

    site_t bad = two_sites[0];
    bad.req_bins[1] = 0; /* bins not increasing */
    advice_payload(&p, TB_SNAPSHOT_TIME_NS, 1, 0, 64, &bad, 1);
    refused(&p, true);
    tb_free(&p);

    bad = two_sites[0];
    bad.usable_bins[0] = PS_ADV_BINS; /* out of range */
    advice_payload(&p, TB_SNAPSHOT_TIME_NS, 1, 0, 64, &bad, 1);
    refused(&p, true);
    tb_free(&p);

    site_t order[2] = {two_sites[1], two_sites[0]}; /* sites out of stack id order */
    advice_payload(&p, TB_SNAPSHOT_TIME_NS, 1, 0, 64, order, 2);
    refused(&p, true);
    tb_free(&p);

    advice_payload(&p, TB_SNAPSHOT_TIME_NS, 1, 0, 64, two_sites, 1);
    p.data[32 + 7] = 0x40; /* req_nonzero 2^30: more bins than any payload holds */
    refused(&p, true);
    tb_free(&p);
}
END_TEST

/* pa_report_each_file's callback: whether its trace kept advice counters, and its damage. */
static int note_advice(pa_trace_t *t, void *ctx, FILE *out, pa_json_t *j)
{
    (void)out;
    (void)j;
    int *seen = ctx;
    seen[0] = t->advice != NULL;
    seen[1] = t->damaged;
    seen[2] = (int)t->warnings.n;
    return PA_OK;
}

/* A report that reads no advice counters (leaks, summary, locks, hot: pa_report_each_file)
 * does not keep them (16.6 MB of a compile's trace), but a malformed chunk is said alike. */
START_TEST(test_unadvised)
{
    const pa_model_opts_t unadvised = {
        .quiet = true, .at = {.kind = PA_AT_LAST}, .no_advice = true};
    tb_buf_t p = {0};
    advice_payload(&p, TB_SNAPSHOT_TIME_NS, 16, PS_ADVICE_F_SCALED, 64, two_sites, 2);
    const uint16_t types[] = {PS_CHUNK_ADVICE};
    char *path = strdup(tu_typical_file("unadvised.trace", types, &p, 1));
    pa_trace_t t;
    ck_assert_int_eq(pa_model_load_opts(path, &unadvised, &t), PA_OK);
    ck_assert_ptr_null(t.advice);
    ck_assert(!t.damaged);
    pa_model_free(&t);
    ck_assert_int_eq(pa_model_load(path, true, &t), PA_OK); /* (the chunk is sound) */
    ck_assert_ptr_nonnull(pa_model_advice(&t));
    pa_model_free(&t);
    int seen[3] = {-1, -1, -1};
    const pa_each_opts_t quiet = {.quiet = true};
    ck_assert_int_eq(pa_report_each_file(&path, 1, &quiet, stdout, note_advice, seen), PA_OK);
    ck_assert_int_eq(seen[0], 0);
    ck_assert_int_eq(seen[1], 0);
    free(path);

    p.len -= 4; /* the last bin cut: said and skipped, kept or not */
    path = strdup(tu_typical_file("unadvised_bad.trace", types, &p, 1));
    tb_free(&p);
    ck_assert_int_eq(pa_model_load_opts(path, &unadvised, &t), PA_OK);
    ck_assert(t.damaged);
    ck_assert_uint_eq(t.warnings.n, 1);
    ck_assert(strstr(t.warnings.items[0], "malformed ADVICE chunk"));
    pa_model_free(&t);
    ck_assert_int_eq(pa_report_each_file(&path, 1, &quiet, stdout, note_advice, seen), PA_OK);
    ck_assert_int_eq(seen[0], 0);
    ck_assert_int_eq(seen[1], 1);
    ck_assert_int_eq(seen[2], 1);
    free(path);
}
END_TEST

/* ---- the rules' thresholds ------------------------------------------------------------------ */

/* Pieces of advice of rule id for a trace whose snapshot has stack 1 with `allocs` allocations
 * of 64 bytes (all freed) and the ADVICE site s (id 1); *json gets the JSON when not NULL. */
static int rule_count(uint64_t allocs, const site_t *s, uint32_t sample, const char *id,
                      char **json)
{
    tb_row_t row = {1, allocs, allocs * 64, allocs, allocs * 64, 0, 0, 0};
    tb_buf_t p[2] = {{0}, {0}};
    tb_snapshot(&p[0], PS_SNAP_EXIT, &row, 1, 0, 1 << 20, 1 << 20);
    advice_payload(&p[1], TB_SNAPSHOT_TIME_NS, sample, sample > 1 ? PS_ADVICE_F_SCALED : 0, 64, s,
                   1);
    const uint16_t types[] = {PS_CHUNK_SNAPSHOT, PS_CHUNK_ADVICE};
    const char *path = tu_typical_file("advice_rules.trace", types, p, 2);
    tb_free(&p[0]);
    tb_free(&p[1]);
    char *out = tu_advise_json(path);
    int n = tu_count_rule(out, id);
    ck_assert_msg(!strstr(out, "\"why\": \"trace has no advice counters\""), "%s", out);
    if (json)
        *json = out;
    else
        free(out);
    return n;
}

START_TEST(test_temporaries)
{
    /* 1000 temporaries, half of 2000 allocations: fires; 999, or under half: not */
    site_t s = {.id = 1, .allocs = 2000, .temporaries = 1000};
    char *j = NULL;
    ck_assert_int_eq(rule_count(2000, &s, 1, "temporaries", &j), 1);
    ck_assert_ptr_nonnull(strstr(j, "\"temporaries\": 1000"));
    ck_assert_ptr_nonnull(strstr(j, "\"counters_estimated\": 0"));
    free(j);
    s.temporaries = 999;
    ck_assert_int_eq(rule_count(1998, &s, 1, "temporaries", NULL), 0);
    s.temporaries = 1000;
    ck_assert_int_eq(rule_count(2001, &s, 1, "temporaries", NULL), 0);
    /* estimated counters (1 in 16): said in the evidence and the gain */
    ck_assert_int_eq(rule_count(2000, &s, 16, "temporaries", &j), 1);
    ck_assert_ptr_nonnull(strstr(j, "\"counters_estimated\": 1"));
    ck_assert_ptr_nonnull(strstr(j, "estimated: 1 in 16"));
    free(j);
}
END_TEST

START_TEST(test_realloc_growth)
{
    /* 1000 growing reallocs, from 1000 to 2500 bytes in all: fires with factor 2.5; 999: not */
    site_t s = {.id = 1, .allocs = 1000, .grows = 1000, .grown_from = 1000, .grown_to = 2500};
    char *j = NULL;
    ck_assert_int_eq(rule_count(1000, &s, 1, "realloc_growth", &j), 1);
    ck_assert_ptr_nonnull(strstr(j, "\"mean_growth_factor\": 2.5"));
    free(j);
    s.grows = 999;
    ck_assert_int_eq(rule_count(1000, &s, 1, "realloc_growth", NULL), 0);
}
END_TEST

START_TEST(test_cross_thread)
{
    /* 1000 cross-thread frees of 2000 allocations: fires; 999, or under half: not */
    site_t s = {.id = 1, .allocs = 2000, .cross = 1000};
    ck_assert_int_eq(rule_count(2000, &s, 1, "cross_thread_free", NULL), 1);
    s.cross = 999;
    ck_assert_int_eq(rule_count(1998, &s, 1, "cross_thread_free", NULL), 0);
    s.cross = 1000;
    ck_assert_int_eq(rule_count(2001, &s, 1, "cross_thread_free", NULL), 0);
}
END_TEST

int main(void)
{
    tu_setup("check_advice");
    Suite *s = suite_create("analyzer_advice");
    TCase *tc = tcase_create("chunk");
    tcase_add_test(tc, test_chunk_decoded);
    tcase_add_test(tc, test_chunk_other_or_malformed);
    tcase_add_test(tc, test_unadvised);
    tcase_add_test(tc, test_temporaries);
    tcase_add_test(tc, test_realloc_growth);
    tcase_add_test(tc, test_cross_thread);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
