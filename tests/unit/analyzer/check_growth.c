/* SPDX-License-Identifier: MIT */
/*
 * check_growth.c — `perfshim growth`'s classifier on synthetic series whose class is known by
 * construction (a steady leak, leaks that start late, caches that fill and plateau, a cache
 * still filling more and more slowly, a sawtooth, churn, a site freed again, too few points),
 * its rates against the slopes the series were made with; and the report on crafted traces:
 * more snapshots than points (averaged), the PROCESS chunk's appended memory fields read and
 * used as the limit (older PROCESS chunks without them: no limit), --limit over both; a sampled
 * trace's confidence scaled by the samples behind a site (a slow leak seen in 3 samples is not a
 * sure plateau, one seen in 450 is still a sure leak).
 */
#include "growth.h"
#include "model.h"

#include "test_util.h"
#include "trace_builder.h"
#include "trace_format.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NPTS 60

typedef double (*shape_fn)(double t, double span);

/* n points over 0..span seconds (times from 1 s), the shape's bytes times a deterministic
 * ripple of ±noise, and 10 allocations per second (a flat series still allocates). */
static size_t series(pa_growth_point_t *p, size_t n, double span, shape_fn f, double noise)
{
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; i < n; i++) {
        double t = span * (double)i / (double)(n - 1);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        double r = (double)(x % 2001) / 1000.0 - 1.0; /* -1..1 */
        p[i].t = t + 1;
        p[i].bytes = f(t, span) * (1 + noise * r);
        p[i].allocs = 10 * t; /* 10 allocations per second */
    }
    return n;
}

static double leak(double t, double span)
{
    (void)span;
    return 1000 * t; /* 1000 B/s */
}
static double late_leak(double t, double span)
{
    return t < 0.6 * span ? 0 : 1000 * (t - 0.6 * span);
}
static double later_leak(double t, double span)
{
    return t < 0.8 * span ? 0 : 1000 * (t - 0.8 * span);
}
static double leak_on_base(double t, double span)
{
    return t < 0.5 * span ? 50000 : 50000 + 800 * (t - 0.5 * span);
}
static double leak_on_large_base(double t, double span)
{
    (void)span;
    return 2000000 + 1000 * t; /* gains 5% of its peak over the run, steadily */
}
static double cache_fast(double t, double span)
{
    return t < 0.2 * span ? 100000 * t / (0.2 * span) : 100000;
}
static double cache_slow(double t, double span)
{
    return t < 0.6 * span ? 100000 * t / (0.6 * span) : 100000;
}
static double saturating(double t, double span)
{
    return 100000 * (1 - exp(-1.5 * t / span)); /* at the end, 22% of the first rate */
}
static double saturating_sqrt(double t, double span)
{
    return 100000 * sqrt(t / span);
}
static double sawtooth(double t, double span)
{
    double period = span / 7.3;
    return 80000 * fmod(t, period) / period;
}
static double flat(double t, double span)
{
    (void)t;
    (void)span;
    return 4096;
}
static double churn(double t, double span)
{
    (void)span;
    return (double)(((uint64_t)(t * 1000) * 2654435761u) % 5000); /* 0..5 KB, no trend */
}
static double transient(double t, double span)
{
    return t < 0.5 * span ? 100000 * t / (0.5 * span) : 0; /* grew, then all freed */
}
static double zero(double t, double span)
{
    (void)t;
    (void)span;
    return 0;
}

static pa_growth_fit_t classify(shape_fn f, double noise)
{
    pa_growth_point_t p[NPTS];
    pa_growth_fit_t fit;
    pa_growth_classify(p, series(p, NPTS, 100, f, noise), &fit);
    return fit;
}

#define ASSERT_CLASS(fit, want)                                                                    \
    ck_assert_msg((fit).cls == (want), "class %s, expected %s (confidence %.2f, r2 %.2f/%.2f)",    \
                  pa_growth_class_name((fit).cls), pa_growth_class_name(want), (fit).confidence,   \
                  (fit).r2_first, (fit).r2_last)

START_TEST(test_unbounded)
{
    pa_growth_fit_t f = classify(leak, 0.01);
    ASSERT_CLASS(f, PA_GROWTH_UNBOUNDED);
    ck_assert_msg(fabs(f.bytes_per_second - 1000) < 20, "%f", f.bytes_per_second);
    /* 10 allocations per second: 100 bytes per allocation */
    ck_assert(f.has_per_event);
    ck_assert_msg(fabs(f.bytes_per_event - 100) < 2, "%f", f.bytes_per_event);
    ck_assert_msg(f.confidence > 0.95, "%f", f.confidence);
    f = classify(leak, 0);
    ck_assert_msg(fabs(f.bytes_per_second - 1000) < 1e-6, "exact: %f", f.bytes_per_second);
    /* late, later, and on top of a base that was there from the start */
    f = classify(late_leak, 0.01);
    ASSERT_CLASS(f, PA_GROWTH_UNBOUNDED);
    /* the knee falls between two points: the last segment may start one point early */
    ck_assert_msg(fabs(f.bytes_per_second - 1000) < 60, "late: %f", f.bytes_per_second);
    f = classify(later_leak, 0.01);
    ASSERT_CLASS(f, PA_GROWTH_UNBOUNDED);
    ck_assert_msg(f.bytes_per_second > 800, "later: %f", f.bytes_per_second);
    f = classify(leak_on_base, 0.01);
    ASSERT_CLASS(f, PA_GROWTH_UNBOUNDED);
    /* slow against its size, but steady: a line explains it */
    f = classify(leak_on_large_base, 0.001);
    ASSERT_CLASS(f, PA_GROWTH_UNBOUNDED);
    ck_assert_msg(fabs(f.bytes_per_second - 1000) < 50, "large base: %f", f.bytes_per_second);
    /* the same slow growth under noise of its own size: not told from noise */
    f = classify(leak_on_large_base, 0.05);
    ASSERT_CLASS(f, PA_GROWTH_STABLE);
}
END_TEST

START_TEST(test_bounded)
{
    pa_growth_fit_t f = classify(cache_fast, 0.01);
    ASSERT_CLASS(f, PA_GROWTH_BOUNDED);
    ck_assert_msg(fabs(f.bytes_per_second) < 100, "plateau: %f", f.bytes_per_second);
    ck_assert_msg(f.confidence > 0.8, "%f", f.confidence);
    f = classify(cache_slow, 0.01);
    ASSERT_CLASS(f, PA_GROWTH_BOUNDED);
}
END_TEST

START_TEST(test_saturating)
{
    pa_growth_fit_t f = classify(saturating, 0.01);
    ASSERT_CLASS(f, PA_GROWTH_SATURATING);
    /* the current rate is that of the end, below the start's (1500 B/s at t = 0) */
    ck_assert_msg(f.bytes_per_second > 0 && f.bytes_per_second < 1000, "%f", f.bytes_per_second);
    f = classify(saturating_sqrt, 0.01);
    ASSERT_CLASS(f, PA_GROWTH_SATURATING);
}
END_TEST

START_TEST(test_stable)
{
    pa_growth_fit_t f = classify(sawtooth, 0);
    ASSERT_CLASS(f, PA_GROWTH_STABLE);
    f = classify(flat, 0.02);
    ASSERT_CLASS(f, PA_GROWTH_STABLE);
    ck_assert_msg(f.confidence > 0.9, "%f", f.confidence);
    f = classify(churn, 0);
    ASSERT_CLASS(f, PA_GROWTH_STABLE);
    f = classify(transient, 0.01);
    ASSERT_CLASS(f, PA_GROWTH_STABLE);
    f = classify(zero, 0);
    ASSERT_CLASS(f, PA_GROWTH_STABLE);
    ck_assert(f.confidence > 0.99);
}
END_TEST

START_TEST(test_few_points)
{
    pa_growth_point_t p[NPTS];
    pa_growth_fit_t f;
    series(p, 1, 100, leak, 0);
    pa_growth_classify(p, 1, &f);
    ASSERT_CLASS(f, PA_GROWTH_STABLE);
    ck_assert(f.confidence == 0);
    pa_growth_classify(p, 0, &f);
    ck_assert(f.confidence == 0);
    /* three points of a leak: unbounded, with a confidence cut for the few points */
    pa_growth_classify(p, series(p, 3, 100, leak, 0), &f);
    ASSERT_CLASS(f, PA_GROWTH_UNBOUNDED);
    ck_assert_msg(f.confidence > 0 && f.confidence < 0.2, "%f", f.confidence);
    /* points that never moved in time */
    for (int i = 0; i < 3; i++)
        p[i].t = 5;
    pa_growth_classify(p, 3, &f);
    ASSERT_CLASS(f, PA_GROWTH_STABLE);
    ck_assert(f.confidence == 0);
}
END_TEST

/* ---- the report on crafted traces ----------------------------------------------------------- */

/* n snapshots, 1 s apart: stack 1 leaks 100 B per allocation, 2 allocations per second; stack 2
 * fills a 40000 B cache over the first fifth, then holds it. PROCESS gets the appended memory
 * fields when mem_total is not 0. RSS: 1 MB at every snapshot. */
static void build(tb_buf_t *f, int n, uint64_t mem_total, uint64_t cgroup_limit)
{
    tb_buf_t p = {0};
    tb_file_header(f, PS_TRACE_VERSION);
    const char *argv[] = {"svc"};
    tb_process(&p, 42, "/usr/bin/svc", 1, argv);
    if (mem_total) {
        tb_u64(&p, mem_total);
        tb_u64(&p, cgroup_limit);
    }
    tb_chunk(f, PS_CHUNK_PROCESS, &p);
    p.len = 0;
    tb_stacks_begin(&p, 2);
    uint64_t a1[] = {0x401000, 0x402000}, a2[] = {0x403000, 0x402000};
    tb_stack(&p, 1, 2, a1);
    tb_stack(&p, 2, 2, a2);
    tb_chunk(f, PS_CHUNK_STACKS, &p);
    uint64_t peak2 = 0;
    for (int i = 0; i < n; i++) {
        uint64_t allocs = 2 * (uint64_t)(i + 1);
        uint64_t cache = i < n / 5 ? 40000 * (uint64_t)(i + 1) / (uint64_t)(n / 5) : 40000;
        peak2 = cache > peak2 ? cache : peak2;
        tb_row_t r[2] = {{1, allocs, allocs * 100, 0, 0, allocs, allocs * 100, allocs * 100},
                         {2, 400 + (uint64_t)i, cache + 100 * (uint64_t)i, (uint64_t)i,
                          100 * (uint64_t)i, 400, cache, peak2}};
        p.len = 0;
        tb_snapshot_at(&p, (uint64_t)(i + 1) * 1000000000, PS_SNAP_INTERVAL, r, 2,
                       allocs * 100 + peak2, 1000000, 1000000);
        tb_chunk(f, PS_CHUNK_SNAPSHOT, &p);
    }
    p.len = 0;
    tb_end(&p, (uint64_t)n + 3);
    tb_chunk(f, PS_CHUNK_END, &p);
    tb_free(&p);
}

static char *report_as(const char *name, const tb_buf_t *f, uint64_t limit, bool json)
{
    const char *path = tu_path(name);
    ck_assert_int_eq(tb_write_file(path, f->data, f->len), 0);
    char out_name[64];
    snprintf(out_name, sizeof out_name, "%s.%s", name, json ? "json" : "txt");
    FILE *out = fopen(tu_path(out_name), "w+");
    ck_assert_ptr_nonnull(out);
    pa_growth_opts_t o = {.json = json, .top = 0, .limit = limit, .quiet = true};
    char *paths[] = {(char *)path};
    ck_assert_int_eq(pa_growth_files(paths, 1, &o, false, out), PA_OK);
    rewind(out);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, out);
    buf[n] = 0;
    fclose(out);
    return buf;
}

static char *report(const char *name, const tb_buf_t *f, uint64_t limit)
{
    return report_as(name, f, limit, true);
}

#define HAS(buf, s) ck_assert_msg(strstr(buf, s), "no '%s' in\n%s", s, buf)

START_TEST(test_report)
{
    tb_buf_t f = {0};
    /* 200 snapshots: averaged into PA_GROWTH_POINTS points */
    build(&f, 200, 8ull << 30, 1ull << 30);
    char *buf = report("g200.trace", &f, 0);
    HAS(buf, "\"format\": \"perfshim-growth\"");
    HAS(buf, "\"version\": 1");
    HAS(buf, "\"estimated\": false");
    HAS(buf, "\"limit_bytes\": 1073741824,\n  \"limit_source\": \"cgroup\"");
    HAS(buf, "\"points\": 64");
    HAS(buf, "\"sites_followed\": 2");
    /* the leak first: 200 B/s, 100 B per allocation, (1 GiB - 1 MB RSS) / 200 B/s to the limit */
    HAS(buf, "\"rank\": 1,\n      \"class\": \"unbounded\",\n      \"live_bytes\": 40000,");
    HAS(buf, "\"bytes_per_second\": 200,");
    HAS(buf, "\"bytes_per_event\": 100,");
    char want[96];
    snprintf(want, sizeof want, "\"time_to_limit_s\": %g,", (double)((1ull << 30) - 1000000) / 200);
    HAS(buf, want);
    HAS(buf, "\"rank\": 2,\n      \"class\": \"bounded\",");
    ck_assert_msg(!strstr(buf, "\"samples\""), "a full trace's report has no samples:\n%s", buf);
    /* the model read the appended fields */
    pa_trace_t t;
    ck_assert_int_eq(pa_model_load(tu_path("g200.trace"), true, &t), PA_OK);
    ck_assert(t.process.has_memory);
    ck_assert_uint_eq(t.process.mem_total_bytes, 8ull << 30);
    ck_assert_uint_eq(t.process.cgroup_limit_bytes, 1ull << 30);
    pa_model_free(&t);
    tb_free(&f);

    /* no cgroup limit: the machine's memory; --limit over both */
    build(&f, 30, 8ull << 30, 0);
    buf = report("g30.trace", &f, 0);
    HAS(buf, "\"limit_bytes\": 8589934592,\n  \"limit_source\": \"machine\"");
    HAS(buf, "\"points\": 30");
    buf = report("g30.trace", &f, 2000000);
    HAS(buf, "\"limit_bytes\": 2000000,\n  \"limit_source\": \"option\"");
    HAS(buf, "\"time_to_limit_s\": 5000,"); /* (2 MB - 1 MB) / 200 B/s */
    tb_free(&f);

    /* an older PROCESS chunk, without them: no limit, no time to it */
    build(&f, 30, 0, 0);
    buf = report("gold.trace", &f, 0);
    HAS(buf, "\"limit_bytes\": null,\n  \"limit_source\": \"none\"");
    HAS(buf, "\"time_to_limit_s\": null,");
    ck_assert_int_eq(pa_model_load(tu_path("gold.trace"), true, &t), PA_OK);
    ck_assert(!t.process.has_memory);
    pa_model_free(&t);
    tb_free(&f);
}
END_TEST

/* ---- sampled traces ------------------------------------------------------------------------- */

#define SAMPLE_MEAN 65536 /* PERFSHIM_SAMPLE=64k */
#define SAMPLE_SIZE 48    /* the leak's blocks, as examples/service.c's */

/* n sampled snapshots 1 s apart, each after its SAMPLING chunk (mean SAMPLE_MEAN): one stack
 * leaks blocks of SAMPLE_SIZE bytes, of which samples[i] were sampled by snapshot i; each stands
 * for 1 / p blocks (p = 1 - e^(-48/65536)), as the shim weighs them. */
static void build_sampled(tb_buf_t *f, int n, const uint64_t *samples)
{
    tb_buf_t p = {0};
    tb_file_header(f, PS_TRACE_VERSION);
    const char *argv[] = {"svc"};
    tb_process(&p, 42, "/usr/bin/svc", 1, argv);
    tb_u64(&p, 8ull << 30);
    tb_u64(&p, 0);
    tb_chunk(f, PS_CHUNK_PROCESS, &p);
    p.len = 0;
    tb_stacks_begin(&p, 1);
    uint64_t a1[] = {0x401000, 0x402000};
    tb_stack(&p, 1, 2, a1);
    tb_chunk(f, PS_CHUNK_STACKS, &p);
    double per = 1 / -expm1(-(double)SAMPLE_SIZE / SAMPLE_MEAN);
    uint64_t peak = 0;
    for (int i = 0; i < n; i++) {
        uint64_t time_ns = (uint64_t)(i + 1) * 1000000000;
        uint64_t blocks = (uint64_t)((double)samples[i] * per + 0.5), bytes = blocks * SAMPLE_SIZE;
        peak = bytes > peak ? bytes : peak;
        p.len = 0;
        tb_u64(&p, time_ns);
        tb_u64(&p, SAMPLE_MEAN); /* mean_bytes */
        tb_u64(&p, SAMPLE_MEAN); /* max_mean_bytes */
        tb_u32(&p, 1);           /* means */
        tb_u32(&p, 0);
        tb_chunk(f, PS_CHUNK_SAMPLING, &p);
        tb_row_t r = {1, blocks, bytes, 0, 0, blocks, bytes, peak};
        p.len = 0;
        tb_snapshot_at(&p, time_ns, PS_SNAP_INTERVAL, &r, 1, peak, 1000000, 1000000);
        uint32_t flags = PS_SNAP_F_SAMPLED;
        memcpy(p.data + 12, &flags, sizeof flags); /* after time_ns and reason */
        tb_chunk(f, PS_CHUNK_SNAPSHOT, &p);
    }
    p.len = 0;
    tb_end(&p, 2 * (uint64_t)n + 3);
    tb_chunk(f, PS_CHUNK_END, &p);
    tb_free(&p);
}

/* The number after "key": in a report's JSON. */
static double member(const char *buf, const char *key)
{
    char k[64];
    snprintf(k, sizeof k, "\"%s\": ", key);
    const char *at = strstr(buf, k);
    ck_assert_msg(at, "no %s in\n%s", k, buf);
    return strtod(at + strlen(k), NULL);
}

START_TEST(test_sampled)
{
    enum { N = 30 };
    uint64_t few[N], many[N];
    for (int i = 0; i < N; i++) {
        few[i] = (i >= 3) + (i >= 5) + (i >= 7); /* 3 samples early, then none: a "plateau" */
        many[i] = 15 * (uint64_t)(i + 1);        /* 450 samples by the end, steadily */
    }
    tb_buf_t f = {0};
    /* a slow leak seen in 3 samples: its series rises by three steps and is flat after, which
     * full tracking would call a sure plateau (bounded, confidence 1.00); with 3 samples the
     * relative error is ~1/sqrt(3): the confidence is at most sqrt(3 / 100) */
    build_sampled(&f, N, few);
    char *buf = report("gfew.trace", &f, 0);
    HAS(buf, "\"estimated\": true");
    ck_assert_msg(fabs(member(buf, "samples") - 3) < 0.01, "3 samples:\n%s", buf);
    double c = member(buf, "confidence");
    ck_assert_msg(c <= sqrt(0.0301), "3 samples: confidence %g, not above %g", c, sqrt(0.0301));
    buf = report_as("gfew.trace", &f, 0, false);
    HAS(buf, " (confidence 0.17, from ~3 samples): ~");
    tb_free(&f);

    /* a steady leak seen in 450 samples: unbounded, as sure as a full trace's */
    build_sampled(&f, N, many);
    buf = report("gmany.trace", &f, 0);
    HAS(buf, "\"rank\": 1,\n      \"class\": \"unbounded\",");
    ck_assert_msg(fabs(member(buf, "samples") - 450) < 0.5, "450 samples:\n%s", buf);
    ck_assert_msg(member(buf, "confidence") > 0.99, "450 samples: a sure leak:\n%s", buf);
    buf = report_as("gmany.trace", &f, 0, false);
    ck_assert_msg(!strstr(buf, "from ~"), "450 samples: no few-samples note:\n%s", buf);
    tb_free(&f);

    /* the scale itself: sqrt(samples / 100) below 100 samples, 1 from there on */
    pa_growth_fit_t fit = {.confidence = 1};
    double w = SAMPLE_SIZE / -expm1(-(double)SAMPLE_SIZE / SAMPLE_MEAN); /* bytes per sample */
    pa_growth_weigh_samples(&fit, 25 * w, SAMPLE_SIZE, SAMPLE_MEAN);
    ck_assert(fit.has_samples && fabs(fit.samples - 25) < 1e-9 &&
              fabs(fit.confidence - 0.5) < 1e-9);
    fit = (pa_growth_fit_t){.confidence = 0.8};
    pa_growth_weigh_samples(&fit, 100 * w, SAMPLE_SIZE, SAMPLE_MEAN);
    ck_assert(fabs(fit.samples - 100) < 1e-9 && fit.confidence == 0.8);
    fit = (pa_growth_fit_t){.confidence = 0.8}; /* blocks above the mean: every one sampled */
    pa_growth_weigh_samples(&fit, 4 * 1048576.0, 1048576.0, SAMPLE_MEAN);
    ck_assert(fabs(fit.samples - 4) < 1e-6 && fabs(fit.confidence - 0.8 * 0.2) < 1e-6);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("growth");
    TCase *tc = tcase_create("growth");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_unbounded);
    tcase_add_test(tc, test_bounded);
    tcase_add_test(tc, test_saturating);
    tcase_add_test(tc, test_stable);
    tcase_add_test(tc, test_few_points);
    tcase_add_test(tc, test_report);
    tcase_add_test(tc, test_sampled);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    tu_setup("growth");
    SRunner *r = srunner_create(suite());
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    tu_teardown();
    return failed ? 1 : 0;
}
