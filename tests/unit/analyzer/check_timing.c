/* SPDX-License-Identifier: MIT */
/*
 * check_timing.c — the timing chunks and their reports:
 *   - decoding LOCKS, THREADS, LATENCY, ZONES and CPU chunks built byte by byte (trace_builder),
 *     old and wide rows, the last chunk of a type winning, malformed payloads rejected with a
 *     warning while the rest of the trace stays usable;
 *   - histogram percentiles: exact below 32 ticks, within the documented 1/32 elsewhere, against
 *     the exact nearest-rank percentiles of the same values;
 *   - the lock report (order by wait, sites merged and ranked, estimates apportioned, first use,
 *     --top/--sites, JSON members; semaphores as locks or as signals, kinds from later formats)
 *     and the hot report (CPU self/total with recursion counted
 *     once, latency rows, zones by total, threads), on real addresses of this binary.
 */
#include "hist.h"
#include "hot.h"
#include "locks.h"
#include "report.h"

#include "self_trace.h"
#include "test_util.h"
#include "trace_builder.h"

#include "trace_format.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

/* ---- functions whose return addresses the stacks use ---------------------------------------- */

__attribute__((noinline, noclone)) uintptr_t tm_get_ra(void)
{
    uintptr_t ra = (uintptr_t)__builtin_return_address(0);
    __asm__ volatile("" ::: "memory");
    return ra;
}

#define TM_SITE(name)                                                                              \
    __attribute__((noinline, noclone)) uintptr_t name(void)                                        \
    {                                                                                              \
        uintptr_t ra = tm_get_ra();                                                                \
        __asm__ volatile("" ::: "memory");                                                         \
        return ra;                                                                                 \
    }
TM_SITE(tm_hot_waiter)
TM_SITE(tm_hot_quiet)
TM_SITE(tm_cold_user)
TM_SITE(tm_lock_init)
TM_SITE(tm_cond_waiter)
TM_SITE(tm_burn)
TM_SITE(tm_recurse)
TM_SITE(tm_outer)

static char *capture(void (*fn)(void *), void *arg)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    struct {
        FILE *f;
        void *arg;
    } c = {f, arg};
    fn(&c);
    fclose(f);
    return buf;
}

static void write_buf(const char *path, const tb_buf_t *b)
{
    ck_assert_int_eq(tb_write_file(path, b->data, b->len), 0);
}

/* ---- decoding ---------------------------------------------------------------------------- */

static const tb_lock_t two_locks[] = {
    {.address = 0x1000,
     .kind = PS_LOCK_MUTEX,
     .first_use = 1,
     .acquisitions = 500,
     .contended = 7,
     .wait_ns = 9000,
     .max_wait_ns = 4000,
     .hold_ns = 100,
     .hold_samples = 3,
     .wakes = 99},
    {.address = 0x2000,
     .kind = PS_LOCK_COND,
     .acquisitions = 4,
     .signals = 5,
     .wake_ns = 800,
     .max_wake_ns = 300,
     .wakes = 4},
};
static const tb_lock_site_t two_sites[] = {
    {.lock_index = 0, .stack_id = 2, .acquisitions = 7, .contended = 7, .wait_ns = 9000},
    {.lock_index = 1, .stack_id = 3, .acquisitions = 4, .contended = 4, .wait_ns = 50},
};

/* A semaphore's row: posts in `signals`, paired_posts at byte 152 (rows of 160 bytes). */
static const tb_lock_t sem_row = {.address = 0x3000,
                                  .kind = PS_LOCK_SEM,
                                  .acquisitions = 40,
                                  .contended = 6,
                                  .trylock_failures = 2,
                                  .timeouts = 1,
                                  .signals = 41,
                                  .wake_ns = 700,
                                  .max_wake_ns = 400,
                                  .wakes = 5,
                                  .paired_posts = 39};

static void load_with(const char *name, const uint16_t *types, const tb_buf_t *p, size_t n,
                      pa_trace_t *t)
{
    tb_buf_t f = {0};
    tb_typical_with(&f, types, p, n);
    const char *path = tu_path(name);
    write_buf(path, &f);
    tb_free(&f);
    ck_assert_int_eq(pa_model_load(path, true, t), PA_OK);
}

START_TEST(test_locks_decoded)
{
    static const uint32_t sizes[] = {PS_LOCK_ROW_SIZE, PS_LOCK_ROW_SIZE_WAKES, 200};
    for (size_t k = 0; k < 3; k++) {
        tb_buf_t p = {0};
        tb_locks(&p, TB_SNAPSHOT_TIME_NS, 64, two_locks, 2, sizes[k], two_sites, 2);
        uint16_t type = PS_CHUNK_LOCKS;
        pa_trace_t t;
        load_with("locks.trace", &type, &p, 1, &t);
        ck_assert_msg(pa_model_complete(&t), "row size %u", sizes[k]);
        ck_assert(t.has_locks);
        ck_assert_uint_eq(t.locks.sample, 64);
        ck_assert_uint_eq(t.locks.nlocks, 2);
        ck_assert_uint_eq(t.locks.nsites, 2);
        const pa_lock_t *l = &t.locks.locks[0];
        ck_assert_uint_eq(l->address, 0x1000);
        ck_assert_uint_eq(l->kind, PS_LOCK_MUTEX);
        ck_assert_uint_eq(l->acquisitions, 500);
        ck_assert_uint_eq(l->contended, 7);
        ck_assert_uint_eq(l->wait_ns, 9000);
        ck_assert_uint_eq(l->hold_samples, 3);
        ck_assert(l->has_wakes == (sizes[k] >= PS_LOCK_ROW_SIZE_WAKES));
        ck_assert_uint_eq(l->wakes, sizes[k] >= PS_LOCK_ROW_SIZE_WAKES ? 99 : 0);
        ck_assert_uint_eq(t.locks.locks[1].signals, 5);
        ck_assert_uint_eq(t.locks.sites[1].lock_index, 1);
        ck_assert_uint_eq(t.locks.sites[1].stack_id, 3);
        pa_model_free(&t);
        tb_free(&p);
    }
}
END_TEST

START_TEST(test_locks_decoded_semaphore)
{
    static const uint32_t sizes[] = {PS_LOCK_ROW_SIZE_WAKES, PS_LOCK_ROW_SIZE_POSTS, 208};
    for (size_t k = 0; k < 3; k++) {
        tb_buf_t p = {0};
        tb_locks(&p, TB_SNAPSHOT_TIME_NS, 64, &sem_row, 1, sizes[k], NULL, 0);
        uint16_t type = PS_CHUNK_LOCKS;
        pa_trace_t t;
        load_with("sem.trace", &type, &p, 1, &t);
        ck_assert_msg(pa_model_complete(&t), "row size %u", sizes[k]);
        ck_assert_uint_eq(t.locks.nlocks, 1);
        const pa_lock_t *l = &t.locks.locks[0];
        ck_assert_uint_eq(l->kind, PS_LOCK_SEM);
        ck_assert_uint_eq(l->signals, 41);
        ck_assert_uint_eq(l->wakes, 5);
        ck_assert(l->has_paired_posts == (sizes[k] >= PS_LOCK_ROW_SIZE_POSTS));
        ck_assert_uint_eq(l->paired_posts, sizes[k] >= PS_LOCK_ROW_SIZE_POSTS ? 39 : 0);
        pa_model_free(&t);
        tb_free(&p);
    }
}
END_TEST

START_TEST(test_last_chunk_wins)
{
    tb_buf_t p[2] = {{0}};
    tb_locks(&p[0], 10, 64, two_locks, 2, PS_LOCK_ROW_SIZE_WAKES, two_sites, 2);
    tb_locks(&p[1], 20, 8, two_locks, 1, PS_LOCK_ROW_SIZE_WAKES, two_sites, 1);
    uint16_t types[] = {PS_CHUNK_LOCKS, PS_CHUNK_LOCKS};
    pa_trace_t t;
    load_with("twice.trace", types, p, 2, &t);
    ck_assert_uint_eq(t.locks.time_ns, 20);
    ck_assert_uint_eq(t.locks.sample, 8);
    ck_assert_uint_eq(t.locks.nlocks, 1);
    pa_model_free(&t);
    tb_free(&p[0]);
    tb_free(&p[1]);
}
END_TEST

START_TEST(test_threads_cpu_decoded)
{
    tb_buf_t p[2] = {{0}};
    tb_thread_t th[] = {
        {.tid = 10, .flags = PS_THREAD_F_MAIN, .cpu_ns = 5000, .name = "main"},
        {.tid = 11,
         .creator = 10,
         .start_stack = 1,
         .flags = PS_THREAD_F_EXITED,
         .start_ns = 7,
         .end_ns = 90,
         .cpu_ns = 40,
         .name = "a-name-longer-than-sixteen",
         .routine = 0x401000},
    };
    tb_threads(&p[0], TB_SNAPSHOT_TIME_NS, 1, th, 2);
    const uint32_t rows[][3] = {{1, 1, 30}, {2, 2, 12}};
    tb_cpu(&p[1], TB_SNAPSHOT_TIME_NS, 997, rows, 2);
    uint16_t types[] = {PS_CHUNK_THREADS, PS_CHUNK_CPU};
    pa_trace_t t;
    load_with("threads.trace", types, p, 2, &t);
    ck_assert(pa_model_complete(&t));
    ck_assert(t.has_threads && t.has_cpu);
    ck_assert_uint_eq(t.threads.created, 1);
    ck_assert_uint_eq(t.threads.n, 2);
    ck_assert_str_eq(t.threads.threads[0].name, "main");
    ck_assert_str_eq(t.threads.threads[1].name, "a-name-longer-th"); /* 16 bytes, terminated */
    ck_assert_uint_eq(t.threads.threads[1].end_ns, 90);
    ck_assert_uint_eq(t.threads.threads[1].start_routine, 0x401000);
    ck_assert_uint_eq(t.cpu.hz, 997);
    ck_assert_uint_eq(t.cpu.samples, 42);
    ck_assert_uint_eq(t.cpu.n, 2);
    ck_assert_uint_eq(t.cpu.rows[1].stack_id, 2);
    ck_assert_uint_eq(t.cpu.rows[1].threads, 2);
    ck_assert_uint_eq(t.cpu.rows[1].samples, 12);
    pa_model_free(&t);
    tb_free(&p[0]);
    tb_free(&p[1]);
}
END_TEST

START_TEST(test_hist_chunks_decoded)
{
    tb_buf_t p[2] = {{0}};
    uint64_t a[] = {3, 3, 40, 1000}, b[] = {7};
    tb_latency_begin(&p[0], TB_SNAPSHOT_TIME_NS, 2000000000, 16, 2);
    tb_u32(&p[0], PS_LAT_MALLOC);
    tb_u32(&p[0], 64);
    tb_hist(&p[0], a, 4);
    tb_u32(&p[0], 7); /* an operation of a later format revision: kept */
    tb_u32(&p[0], 0xffffffffu);
    tb_hist(&p[0], b, 1);
    tb_zones_begin(&p[1], TB_SNAPSHOT_TIME_NS, 1000000000, 1);
    tb_str(&p[1], "parse");
    tb_u32(&p[1], 2);
    tb_hist(&p[1], a, 4);
    uint16_t types[] = {PS_CHUNK_LATENCY, PS_CHUNK_ZONES};
    pa_trace_t t;
    load_with("hist.trace", types, p, 2, &t);
    ck_assert(pa_model_complete(&t));
    ck_assert(t.has_latency && t.has_zones);
    ck_assert_uint_eq(t.latency.tick_hz, 2000000000);
    ck_assert_uint_eq(t.latency.sample, 16);
    ck_assert_uint_eq(t.latency.pooled, 100);
    ck_assert_uint_eq(t.latency.pool_commits, 600);
    ck_assert_uint_eq(t.latency.nrows, 2);
    const pa_hist_t *h = &t.latency.rows[0].hist;
    ck_assert_uint_eq(h->count, 4);
    ck_assert_uint_eq(h->sum, 1046);
    ck_assert_uint_eq(h->max, 1000);
    ck_assert_uint_eq(h->nbuckets, 3);
    ck_assert_uint_eq(pa_hist_total(h), 4);
    ck_assert_uint_eq(t.latency.rows[1].op, 7);
    ck_assert_str_eq(pa_hot_op_name(7), "unknown");
    ck_assert_uint_eq(t.zones.n, 1);
    ck_assert_str_eq(t.zones.zones[0].name, "parse");
    ck_assert_uint_eq(t.zones.zones[0].max_depth, 2);
    ck_assert_uint_eq(t.zones.zones[0].hist.count, 4);
    pa_model_free(&t);
    tb_free(&p[0]);
    tb_free(&p[1]);
}
END_TEST

/* Each of these payloads verifies (CRC) but does not decode: the chunk is ignored with a
 * "malformed" warning, the rest of the trace stays usable. */
START_TEST(test_malformed_timing_chunks)
{
    enum { N = 7 };
    tb_buf_t p[N] = {{0}};
    uint16_t type[N];
    const char *what[N];
    /* a site naming lock row 5 of 2 */
    tb_lock_site_t bad_site = {.lock_index = 5, .stack_id = 1};
    tb_locks(&p[0], 1, 64, two_locks, 2, PS_LOCK_ROW_SIZE_WAKES, &bad_site, 1);
    type[0] = PS_CHUNK_LOCKS, what[0] = "LOCKS";
    /* rows shorter than the format's */
    tb_locks(&p[1], 1, 64, two_locks, 2, 100, NULL, 0);
    type[1] = PS_CHUNK_LOCKS, what[1] = "LOCKS";
    /* sampling interval 0 */
    tb_locks(&p[2], 1, 0, two_locks, 1, PS_LOCK_ROW_SIZE, NULL, 0);
    type[2] = PS_CHUNK_LOCKS, what[2] = "LOCKS";
    /* tick rate 0 */
    tb_latency_begin(&p[3], 1, 0, 1, 0);
    type[3] = PS_CHUNK_LATENCY, what[3] = "LATENCY";
    /* a bucket index past the last */
    tb_zones_begin(&p[4], 1, 1000, 1);
    tb_str(&p[4], "z");
    tb_u32(&p[4], 1);
    tb_u64(&p[4], 1), tb_u64(&p[4], 1), tb_u64(&p[4], 1), tb_u32(&p[4], 1);
    tb_u32(&p[4], PS_HIST_BUCKETS), tb_u64(&p[4], 1);
    type[4] = PS_CHUNK_ZONES, what[4] = "ZONES";
    /* buckets out of order */
    tb_latency_begin(&p[5], 1, 1000, 1, 1);
    tb_u32(&p[5], 0), tb_u32(&p[5], 16);
    tb_u64(&p[5], 2), tb_u64(&p[5], 9), tb_u64(&p[5], 5), tb_u32(&p[5], 2);
    tb_u32(&p[5], 5), tb_u64(&p[5], 1), tb_u32(&p[5], 4), tb_u64(&p[5], 1);
    type[5] = PS_CHUNK_LATENCY, what[5] = "LATENCY";
    /* a CPU table longer than the payload */
    const uint32_t rows[][3] = {{1, 1, 1}};
    tb_cpu(&p[6], 1, 100, rows, 1);
    p[6].len -= 4;
    type[6] = PS_CHUNK_CPU, what[6] = "CPU";
    for (int i = 0; i < N; i++) {
        pa_trace_t t;
        load_with("malformed.trace", &type[i], &p[i], 1, &t);
        char want[64];
        snprintf(want, sizeof want, "malformed %s chunk", what[i]);
        ck_assert_msg(tu_has(&t.warnings, want), "case %d: %s", i, want);
        ck_assert_msg(!t.has_locks && !t.has_latency && !t.has_zones && !t.has_cpu, "case %d", i);
        ck_assert_uint_eq(t.snap.nrows, 3); /* the rest is still there */
        ck_assert(!pa_model_complete(&t));
        pa_model_free(&t);
        tb_free(&p[i]);
    }
}
END_TEST

/* ---- percentiles ------------------------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The histogram of values, via the trace encoder and the model's decoder. */
static void hist_of(const uint64_t *v, size_t n, pa_hist_t *h, pa_trace_t *t)
{
    tb_buf_t p = {0};
    tb_zones_begin(&p, TB_SNAPSHOT_TIME_NS, 1000000000, 1);
    tb_str(&p, "h");
    tb_u32(&p, 1);
    tb_hist(&p, v, n);
    uint16_t type = PS_CHUNK_ZONES;
    load_with("pct.trace", &type, &p, 1, t);
    tb_free(&p);
    ck_assert(t->has_zones);
    *h = t->zones.zones[0].hist;
}

START_TEST(test_bucket_bounds)
{
    ck_assert_uint_eq(pa_hist_bucket_low(0), 0);
    ck_assert_uint_eq(pa_hist_bucket_low(31), 31);
    ck_assert_uint_eq(pa_hist_bucket_high(31), 32);
    for (uint32_t i = 1; i < PS_HIST_BUCKETS; i++) {
        ck_assert_uint_eq(pa_hist_bucket_low(i), pa_hist_bucket_high(i - 1)); /* contiguous */
        uint64_t lo = pa_hist_bucket_low(i), w = pa_hist_bucket_high(i) - lo;
        ck_assert_msg(i < 32 || w * 16 <= lo, "bucket %u: width %llu, low %llu", i,
                      (unsigned long long)w, (unsigned long long)lo);
    }
}
END_TEST

START_TEST(test_percentiles_small_exact)
{
    uint64_t v[100];
    for (int i = 0; i < 100; i++)
        v[i] = (uint64_t)(i % 25); /* 4 of each of 0..24 */
    pa_trace_t t;
    pa_hist_t h;
    hist_of(v, 100, &h, &t);
    ck_assert_uint_eq(pa_hist_percentile(&h, 0.50), 12); /* rank 50: the 50th value */
    ck_assert_uint_eq(pa_hist_percentile(&h, 0.95), 23); /* rank 95 */
    ck_assert_uint_eq(pa_hist_percentile(&h, 0.99), 24);
    ck_assert_uint_eq(pa_hist_percentile(&h, 1.0), 24);
    ck_assert_uint_eq(pa_hist_percentile(&h, 0.01), 0);
    pa_model_free(&t);
}
END_TEST

START_TEST(test_percentiles_within_bound)
{
    enum { N = 5000 };
    static uint64_t v[N], sorted[N];
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < N; i++) { /* log-uniform over 2^5 .. 2^(15 + 8 round) */
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            unsigned e = 5 + (unsigned)(x % (10 + 8 * (unsigned)round));
            v[i] = (1ull << e) + (x >> 20) % (1ull << e);
        }
        memcpy(sorted, v, sizeof v);
        qsort(sorted, N, sizeof *sorted, cmp_u64);
        pa_trace_t t;
        pa_hist_t h;
        hist_of(v, N, &h, &t);
        static const double ps[] = {0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0};
        for (size_t k = 0; k < sizeof ps / sizeof ps[0]; k++) {
            size_t rank = (size_t)(ps[k] * N + 0.999999); /* ceil, nearest rank */
            double exact = (double)sorted[rank - 1];
            double got = (double)pa_hist_percentile(&h, ps[k]);
            ck_assert_msg(got >= exact * (1 - PA_HIST_ERROR) && got <= exact * (1 + PA_HIST_ERROR),
                          "round %d p%.3f: exact %.0f, got %.0f", round, ps[k], exact, got);
        }
        ck_assert_uint_eq(pa_hist_percentile(&h, 1.0), sorted[N - 1]); /* max is exact */
        ck_assert_uint_eq(h.max, sorted[N - 1]);
        pa_model_free(&t);
    }
}
END_TEST

START_TEST(test_ticks_to_ns)
{
    ck_assert_uint_eq(pa_hist_ns(3000, 3000000000ull), 1000);
    ck_assert_uint_eq(pa_hist_ns(1, 2000000000ull), 1);       /* 0.5 rounds up */
    ck_assert_uint_eq(pa_hist_ns(UINT64_MAX, 1), UINT64_MAX); /* saturates, no overflow */
    pa_hist_t empty = {0};
    ck_assert_uint_eq(pa_hist_percentile(&empty, 0.5), 0);
}
END_TEST

/* ---- the lock report --------------------------------------------------------------------- */

/* Locks: A (mutex, hot: 3 contended, waits 9 ms; sites: waiter (2 rows that read the same),
 * quiet (sampled only)), B (mutex, never contended), C (rwlock, 1 ms wait), D (condition
 * variable). Stacks: 1 init, 2 and 3 waiter (+1 return address in the same line), 4 quiet,
 * 5 cold user, 6 cond waiter. */
static void lock_trace(pa_trace_t *t, uint32_t sample)
{
    st_init(t);
    uint64_t s1[] = {tm_lock_init()}, s2[] = {tm_hot_waiter()}, s3[] = {tm_hot_waiter()},
             s4[] = {tm_hot_quiet()}, s5[] = {tm_cold_user()}, s6[] = {tm_cond_waiter()};
    st_add_stack(t, 1, 1, s1);
    st_add_stack(t, 2, 1, s2);
    st_add_stack(t, 3, 1, s3);
    st_add_stack(t, 4, 1, s4);
    st_add_stack(t, 5, 1, s5);
    st_add_stack(t, 6, 1, s6);
    st_add_row(t, 1, 1, 1, 0, 0);
    pa_locks_t *l = &t->locks;
    t->has_locks = true;
    l->sample = sample;
    l->time_ns = t->snap.time_ns;
    l->nlocks = 4;
    l->locks = calloc(4, sizeof *l->locks);
    l->locks[0] = (pa_lock_t){.address = 0xb000,
                              .kind = PS_LOCK_MUTEX,
                              .first_use_stack = 5,
                              .acquisitions = 2000,
                              .hold_samples = 30};
    l->locks[1] = (pa_lock_t){.address = 0xa000,
                              .kind = PS_LOCK_MUTEX,
                              .first_use_stack = 1,
                              .acquisitions = 1003,
                              .contended = 3,
                              .wait_ns = 9000000,
                              .max_wait_ns = 5000000,
                              .hold_ns = 777,
                              .hold_samples = 15};
    l->locks[2] = (pa_lock_t){.address = 0xc000,
                              .kind = PS_LOCK_RWLOCK,
                              .first_use_stack = 5,
                              .acquisitions = 100,
                              .read_acquisitions = 90,
                              .contended = 1,
                              .wait_ns = 1000000};
    l->locks[3] = (pa_lock_t){.address = 0xd000,
                              .kind = PS_LOCK_COND,
                              .acquisitions = 6,
                              .wait_ns = 60000000,
                              .signals = 6,
                              .wakes = 6,
                              .wake_ns = 600,
                              .has_wakes = true};
    l->nsites = 6;
    l->sites = calloc(6, sizeof *l->sites);
    /* the quiet site first in the file: sorting must put the waiting one first */
    l->sites[0] = (pa_lock_site_t){1, 4, 64 * 14, 0, 0, 0, 14};
    l->sites[1] = (pa_lock_site_t){1, 2, 2, 2, 8000000, 5000000, 0};
    l->sites[2] = (pa_lock_site_t){1, 3, 1 + 64, 1, 1000000, 1000000, 1}; /* same line as 2 */
    l->sites[3] = (pa_lock_site_t){0, 5, 64 * 31, 0, 0, 0, 31};
    l->sites[4] = (pa_lock_site_t){2, 5, 1, 1, 1000000, 1000000, 0};
    l->sites[5] = (pa_lock_site_t){3, 6, 6, 6, 60000000, 20000000, 0};
}

typedef struct {
    FILE *f;
    void *arg;
} cap_t;

static pa_locks_opts_t lock_opts;

static void run_locks(void *p)
{
    cap_t *c = p;
    pa_json_t j;
    pa_json_init(&j, c->f);
    ck_assert_int_eq(pa_locks_report(c->arg, &lock_opts, c->f, &j), PA_OK);
    if (lock_opts.json)
        pa_json_finish(&j);
}

static const char *after(const char *s, const char *needle)
{
    const char *p = s ? strstr(s, needle) : NULL;
    return p ? p + strlen(needle) : NULL;
}

START_TEST(test_lock_report_json)
{
    pa_trace_t t;
    lock_trace(&t, 64);
    lock_opts = (pa_locks_opts_t){.json = true, .top = 0, .sites = 0};
    char *out = capture(run_locks, &t);
    ck_assert_ptr_nonnull(strstr(out, "\"format\": \"perfshim-locks\""));
    ck_assert_ptr_nonnull(strstr(out, "\"version\": 1"));
    ck_assert_ptr_nonnull(strstr(out, "\"lock_profiling\": true"));
    /* sorted by wait: a000 (9 ms), c000 (1 ms), b000 (0) */
    const char *a = strstr(out, "\"address\": \"0xa000\""),
               *c = strstr(out, "\"address\": \"0xc000\""),
               *b = strstr(out, "\"address\": \"0xb000\""),
               *d = strstr(out, "\"address\": \"0xd000\"");
    ck_assert(a && b && c && d && a < c && c < b && b < d);
    ck_assert_ptr_nonnull(strstr(a, "\"kind\": \"mutex\""));
    ck_assert_ptr_nonnull(strstr(c, "\"kind\": \"rwlock\""));
    /* the hot lock's first use is tm_lock_init; its sites: waiter (stacks 2 and 3 merged: 3
     * contended, 9 ms), then quiet */
    const char *first = after(a, "\"first_use\": [");
    ck_assert_ptr_nonnull(first);
    ck_assert(strstr(first, "tm_lock_init") < strstr(first, "\"sites\""));
    const char *s1 = after(a, "\"sites\": ["), *w = strstr(s1, "tm_hot_waiter"),
               *q = strstr(s1, "tm_hot_quiet");
    ck_assert(w && q && w < q && q < c);
    ck_assert_ptr_nonnull(strstr(s1, "\"contended\": 3,\n          \"wait_ns\": 9000000"));
    ck_assert_ptr_nonnull(strstr(s1, "\"stacks\": 2"));
    /* apportioned: 1000 uncontended acquisitions, sampled 1 (waiter) : 14 (quiet) */
    ck_assert_ptr_nonnull(strstr(s1, "\"acquisitions\": 70,"));  /* 3 + 1000 * 1/15 */
    ck_assert_ptr_nonnull(strstr(s1, "\"acquisitions\": 933,")); /* 1000 * 14/15 */
    /* the condition variable is listed apart, with its waits and waiting site */
    const char *cv = strstr(out, "\"condvars\": [");
    ck_assert(cv && cv < d);
    ck_assert_ptr_nonnull(strstr(d, "\"waits\": 6"));
    ck_assert_ptr_nonnull(strstr(d, "\"wakes\": 6"));
    ck_assert_ptr_nonnull(strstr(d, "tm_cond_waiter"));
    ck_assert_ptr_nonnull(strstr(out, "\"locks\": 3,"));
    ck_assert_ptr_nonnull(strstr(out, "\"contended\": 4,"));
    free(out);

    /* --top 1 --sites 1: the hot lock alone, with its waiting site alone */
    lock_opts = (pa_locks_opts_t){.json = true, .top = 1, .sites = 1};
    out = capture(run_locks, &t);
    ck_assert_ptr_nonnull(strstr(out, "0xa000"));
    ck_assert_ptr_null(strstr(out, "0xb000"));
    ck_assert_ptr_null(strstr(out, "0xc000"));
    ck_assert_ptr_nonnull(strstr(out, "tm_hot_waiter"));
    ck_assert_ptr_null(strstr(out, "tm_hot_quiet"));
    ck_assert_ptr_nonnull(strstr(out, "\"sites_total\": 2"));
    free(out);
    pa_model_free(&t);
}
END_TEST

START_TEST(test_lock_report_text)
{
    pa_trace_t t;
    lock_trace(&t, 1);
    lock_opts = (pa_locks_opts_t){.json = false, .top = 0, .sites = 0};
    char *out = capture(run_locks, &t);
    const char *l1 = strstr(out, "Lock 1 of 3: mutex 0xa000, 90.0% of all lock wait"),
               *l2 = strstr(out, "Lock 2 of 3: rwlock 0xc000"),
               *l3 = strstr(out, "Lock 3 of 3: mutex 0xb000\n");
    ck_assert_msg(l1 && l2 && l3 && l1 < l2 && l2 < l3, "%s", out);
    ck_assert_ptr_nonnull(strstr(out, "every acquisition timed")); /* sample 1: no "~" */
    ck_assert_ptr_null(strstr(l1, "~"));
    ck_assert_ptr_nonnull(strstr(l2, "(90 shared, 10 exclusive)"));
    ck_assert_ptr_nonnull(strstr(l3, "never contended"));
    ck_assert_ptr_nonnull(strstr(out, "Condition variable 1 of 1: 0xd000"));
    ck_assert_ptr_nonnull(strstr(out, "SUMMARY: 3 locks, 3103 acquisitions, 4 contended"));
    free(out);

    pa_trace_t none;
    st_init(&none);
    st_add_row(&none, 1, 1, 1, 0, 0);
    out = capture(run_locks, &none);
    ck_assert_ptr_nonnull(strstr(out, "No lock statistics in this trace"));
    free(out);
    lock_opts.json = true;
    out = capture(run_locks, &none);
    ck_assert_ptr_nonnull(strstr(out, "\"lock_profiling\": false"));
    ck_assert_ptr_nonnull(strstr(out, "\"locks\": []"));
    free(out);
    pa_model_free(&none);
    pa_model_free(&t);
}
END_TEST

/* Semaphores: E (a lock's use: every post by a thread that had taken it; 5 ms of wait), F (a
 * signal's: posted by threads that never take it; 50 ms of waiting for work), G (one post
 * each way: CPython's Condition.wait, a signal), H (a row of an older shim without
 * paired_posts: a lock), and a mutex M (1 ms) and a lock of a kind from a later format U. */
static pa_lock_t sem_lock(uint64_t address, uint64_t acquisitions, uint64_t contended,
                          uint64_t wait_ns, uint64_t posts, uint64_t paired)
{
    return (pa_lock_t){.address = address,
                       .kind = PS_LOCK_SEM,
                       .acquisitions = acquisitions,
                       .contended = contended,
                       .wait_ns = wait_ns,
                       .signals = posts,
                       .paired_posts = paired,
                       .has_wakes = true,
                       .has_paired_posts = true};
}

static void sem_trace(pa_trace_t *t)
{
    st_init(t);
    uint64_t s1[] = {tm_hot_waiter()}, s2[] = {tm_cond_waiter()};
    st_add_stack(t, 1, 1, s1);
    st_add_stack(t, 2, 1, s2);
    st_add_row(t, 1, 1, 1, 0, 0);
    pa_locks_t *l = &t->locks;
    t->has_locks = true;
    l->sample = 1;
    l->time_ns = t->snap.time_ns;
    l->nlocks = 6;
    l->locks = calloc(6, sizeof *l->locks);
    /* address, acquisitions, contended, wait_ns, posts, paired posts */
    l->locks[0] = sem_lock(0xe000, 100, 5, 5000000, 100, 100);
    l->locks[0].first_use_stack = 1;
    l->locks[0].trylock_failures = 4;
    l->locks[0].max_wait_ns = 2000000;
    l->locks[0].wake_ns = 5000;
    l->locks[0].max_wake_ns = 2000;
    l->locks[0].wakes = 5;
    l->locks[1] = sem_lock(0xf000, 20, 20, 50000000, 20, 0);
    l->locks[1].first_use_stack = 2;
    l->locks[1].timeouts = 2;
    l->locks[1].max_wait_ns = 9000000;
    l->locks[1].wake_ns = 40000;
    l->locks[1].wakes = 20;
    l->locks[2] = sem_lock(0x10000, 2, 1, 100, 2, 1);
    l->locks[3] = sem_lock(0x11000, 7, 0, 0, 7, 0);
    l->locks[3].has_paired_posts = false;
    l->locks[4] = (pa_lock_t){.address = 0x12000,
                              .kind = PS_LOCK_MUTEX,
                              .acquisitions = 10,
                              .contended = 1,
                              .wait_ns = 1000000,
                              .hold_samples = 10};
    l->locks[5] = (pa_lock_t){.address = 0x13000, .kind = 99, .acquisitions = 3};
    l->nsites = 2;
    l->sites = calloc(2, sizeof *l->sites);
    l->sites[0] = (pa_lock_site_t){0, 1, 5, 5, 5000000, 2000000, 0};
    l->sites[1] = (pa_lock_site_t){1, 2, 20, 20, 50000000, 9000000, 0};
}

START_TEST(test_lock_report_semaphores)
{
    pa_trace_t t;
    sem_trace(&t);
    lock_opts = (pa_locks_opts_t){.json = true, .top = 0, .sites = 0};
    char *out = capture(run_locks, &t);
    const char *locks = strstr(out, "\"locks\": ["), *conds = strstr(out, "\"condvars\": ["),
               *sigs = strstr(out, "\"signal_semaphores\": [");
    ck_assert_msg(locks && conds && sigs && locks < conds && conds < sigs, "%s", out);
    /* locks by wait: E (5 ms), M (1 ms), then H and U (no wait, by acquisitions) */
    const char *e = strstr(out, "\"address\": \"0xe000\""),
               *m = strstr(out, "\"address\": \"0x12000\""),
               *h = strstr(out, "\"address\": \"0x11000\""),
               *u = strstr(out, "\"address\": \"0x13000\""),
               *f = strstr(out, "\"address\": \"0xf000\""),
               *g = strstr(out, "\"address\": \"0x10000\"");
    ck_assert(e && m && h && u && f && g);
    ck_assert(locks < e && e < m && m < h && h < u && u < conds);
    ck_assert(sigs < f && f < g);
    ck_assert_ptr_nonnull(strstr(e, "\"kind\": \"semaphore\""));
    ck_assert_ptr_nonnull(strstr(e, "\"owner_changes\": null"));
    ck_assert_ptr_nonnull(strstr(e, "\"hold_ns\": null"));
    ck_assert_ptr_nonnull(strstr(e, "\"posts\": 100,\n      \"paired_posts\": 100"));
    ck_assert_ptr_nonnull(strstr(e, "\"wakes\": 5"));
    ck_assert_ptr_nonnull(strstr(m, "\"owner_changes\": 0"));
    ck_assert_ptr_nonnull(strstr(m, "\"posts\": null"));
    ck_assert_ptr_nonnull(strstr(h, "\"paired_posts\": null")); /* older shim */
    ck_assert_ptr_nonnull(strstr(u, "\"kind\": \"unknown\""));
    ck_assert_ptr_nonnull(strstr(f, "\"waits\": 20,"));
    ck_assert_ptr_nonnull(strstr(f, "\"timeouts\": 2,"));
    ck_assert_ptr_nonnull(strstr(f, "\"paired_posts\": 0"));
    ck_assert_ptr_nonnull(strstr(f, "tm_cond_waiter"));
    ck_assert_ptr_nonnull(strstr(out, "\"locks\": 4,"));
    ck_assert_ptr_nonnull(strstr(out, "\"wait_ns\": 6000000,"));
    ck_assert_ptr_nonnull(strstr(out, "\"signal_semaphores\": 2,"));
    ck_assert_ptr_nonnull(strstr(out, "\"signal_waits\": 22,"));
    ck_assert_ptr_nonnull(strstr(out, "\"signal_wait_ns\": 50000100,"));
    free(out);

    lock_opts.json = false;
    out = capture(run_locks, &t);
    const char *l1 = strstr(out, "Lock 1 of 4: semaphore 0xe000, 83.3% of all lock wait\n"
                                 "    acquisitions: 100, contended 5 (5.0%), posts 100 (100 by a "
                                 "thread that had taken it), failed trywaits 4\n");
    ck_assert_msg(l1, "%s", out);
    ck_assert_ptr_nonnull(strstr(l1, "    wake-up:      1.0 us mean, max 2.0 us from the post to "
                                     "the blocked waiter's return (5 wake-ups)\n"
                                     "    hold:         not measured"));
    ck_assert_ptr_nonnull(strstr(l1, "    waiting sites by wait (1 of 1):"));
    const char *s1 = strstr(out, "Semaphore used as a signal 1 of 2: 0xf000\n"
                                 "    waits:        20 (20 blocked, 2 timed out), 50.0 ms waited "
                                 "in total, max 9.0 ms\n"
                                 "    posts:        20 (0 by a thread that had taken it)\n");
    ck_assert_msg(s1 && l1 < s1, "%s", out);
    ck_assert_ptr_nonnull(strstr(out, "Semaphore used as a signal 2 of 2: 0x10000"));
    ck_assert_ptr_nonnull(strstr(out, "Lock 4 of 4: unknown 0x13000"));
    ck_assert_ptr_nonnull(strstr(out, "  2 semaphores used as signals, 22 waits, 50.0 ms waited"));
    free(out);
    pa_model_free(&t);
}
END_TEST

START_TEST(test_lock_wrapper_frames)
{
    pa_frame_t std = {.function = "std::mutex::lock()",
                      .file = "/usr/include/c++/12/bits/std_mutex.h"},
               gth = {.function = "__gthread_mutex_lock(pthread_mutex_t*)", .file = "gthr.h"},
               user = {.function = "std::lookalike", .file = "/src/app.cc"},
               plain = {.function = "worker", .file = "/src/app.c"};
    ck_assert(pa_report_frame_is_lock_wrapper(&std));
    ck_assert(pa_report_frame_is_lock_wrapper(&gth));
    ck_assert(!pa_report_frame_is_lock_wrapper(&user));
    ck_assert(!pa_report_frame_is_lock_wrapper(&plain));
}
END_TEST

/* ---- the hot report ---------------------------------------------------------------------- */

static pa_hot_opts_t hot_opts;

static void run_hot(void *p)
{
    cap_t *c = p;
    pa_json_t j;
    pa_json_init(&j, c->f);
    ck_assert_int_eq(pa_hot_report(c->arg, &hot_opts, c->f, &j), PA_OK);
    if (hot_opts.json)
        pa_json_finish(&j);
}

static void add_hist(pa_hist_t *h, const uint64_t *v, size_t n)
{
    /* through the encoder and the model, as a real trace goes */
    pa_trace_t tmp;
    pa_hist_t src;
    hist_of(v, n, &src, &tmp);
    *h = src;
    h->index = malloc(src.nbuckets * sizeof *h->index);
    h->counts = malloc(src.nbuckets * sizeof *h->counts);
    memcpy(h->index, src.index, src.nbuckets * sizeof *h->index);
    memcpy(h->counts, src.counts, src.nbuckets * sizeof *h->counts);
    pa_model_free(&tmp);
}

/* CPU: stack 1 [burn, outer] 50 samples, stack 2 [recurse, recurse, outer] 30 (recursion),
 * stack 3 [burn, outer] again via another address in the same line: merges with 1. */
static void hot_trace(pa_trace_t *t)
{
    st_init(t);
    uint64_t burn = tm_burn(), rec = tm_recurse(), outer = tm_outer();
    uint64_t s1[] = {burn, outer}, s2[] = {rec, rec, outer}, s3[] = {burn, outer};
    st_add_stack(t, 1, 2, s1);
    st_add_stack(t, 2, 3, s2);
    st_add_stack(t, 3, 2, s3);
    st_add_row(t, 1, 1, 1, 0, 0);
    t->has_cpu = true;
    t->cpu.hz = 1000;
    t->cpu.n = 3;
    t->cpu.rows = calloc(3, sizeof *t->cpu.rows);
    t->cpu.rows[0] = (pa_cpu_row_t){1, 1, 50};
    t->cpu.rows[1] = (pa_cpu_row_t){2, 2, 30};
    t->cpu.rows[2] = (pa_cpu_row_t){3, 1, 5};
    t->has_latency = true;
    t->latency.tick_hz = 1000000000;
    t->latency.sample = 4;
    t->latency.nrows = 2;
    t->latency.rows = calloc(2, sizeof *t->latency.rows);
    uint64_t fast[] = {10, 20, 20, 30}, slow[] = {1000, 3000};
    t->latency.rows[0] = (pa_latency_row_t){.op = PS_LAT_FREE, .size_max = 32};
    add_hist(&t->latency.rows[0].hist, slow, 2);
    t->latency.rows[1] = (pa_latency_row_t){.op = PS_LAT_MALLOC, .size_max = 32};
    add_hist(&t->latency.rows[1].hist, fast, 4);
    t->has_zones = true;
    t->zones.tick_hz = 1000000000;
    t->zones.n = 2;
    t->zones.zones = calloc(2, sizeof *t->zones.zones);
    uint64_t few_short[] = {5, 5}, many_long[] = {900, 1000, 1100};
    t->zones.zones[0] = (pa_zone_t){.name = strdup("short"), .max_depth = 2};
    add_hist(&t->zones.zones[0].hist, few_short, 2);
    t->zones.zones[1] = (pa_zone_t){.name = strdup("long\x1b[31m"), .max_depth = 1};
    add_hist(&t->zones.zones[1].hist, many_long, 3);
}

START_TEST(test_hot_report_json)
{
    pa_trace_t t;
    hot_trace(&t);
    hot_opts = (pa_hot_opts_t){.json = true};
    char *out = capture(run_hot, &t);
    ck_assert_ptr_nonnull(strstr(out, "\"format\": \"perfshim-hot\""));
    ck_assert_ptr_nonnull(strstr(out, "\"samples\": 85,"));
    /* by function: tm_burn self 55, tm_recurse self 30 total 30 (not 60), tm_outer total 85 */
    ck_assert_msg(strstr(out, "\"function\": \"tm_burn\", \"file\": ") &&
                      strstr(out, "\"self\": 55, \"total\": 55}"),
                  "%s", out);
    const char *rec = strstr(out, "\"function\": \"tm_recurse\"");
    ck_assert_ptr_nonnull(rec);
    ck_assert_ptr_nonnull(strstr(rec, "\"self\": 30, \"total\": 30}"));
    const char *outer = strstr(out, "\"function\": \"tm_outer\"");
    ck_assert_ptr_nonnull(outer);
    ck_assert_ptr_nonnull(strstr(outer, "\"self\": 0, \"total\": 85}"));
    const char *fn = strstr(out, "\"functions\": ["), *ft = strstr(out, "\"functions_by_total\"");
    ck_assert(fn && ft && strstr(fn, "tm_burn") < strstr(fn, "tm_recurse"));
    ck_assert(strstr(ft, "tm_outer") < strstr(ft, "tm_burn"));
    /* stacks: 1 and 3 merged (55, 2 stacks) before 2 (30) */
    const char *st = strstr(out, "\"stacks\": [");
    ck_assert_ptr_nonnull(st);
    ck_assert_ptr_nonnull(strstr(st, "\"samples\": 55,\n        \"threads\": 2,\n        "
                                     "\"stacks\": 2"));
    /* latency rows: malloc first (op order), exact small percentiles */
    const char *m = strstr(out, "\"op\": \"malloc\""), *f = strstr(out, "\"op\": \"free\"");
    ck_assert(m && f && m < f);
    ck_assert_ptr_nonnull(strstr(m, "\"size_max\": 32, \"count\": 4, \"total_ns\": 80, "
                                    "\"mean_ns\": 20, \"p50_ns\": 20, \"p95_ns\": 30, "
                                    "\"p99_ns\": 30, \"max_ns\": 30}"));
    ck_assert_ptr_nonnull(strstr(out, "\"error_bound\": 0.03125"));
    /* zones by total: long (3000) before short (10) */
    const char *zl = strstr(out, "\"name\": \"long"), *zs = strstr(out, "\"name\": \"short\"");
    ck_assert(zl && zs && zl < zs);
    ck_assert_ptr_nonnull(strstr(out, "\"threads\": null"));
    free(out);

    hot_opts = (pa_hot_opts_t){.json = false, .top = 1};
    out = capture(run_hot, &t);
    ck_assert_ptr_nonnull(strstr(out, "CPU samples: 85 at 1000 Hz"));
    ck_assert_ptr_nonnull(strstr(out, "By function (top 1 of 3)"));
    ck_assert_ptr_nonnull(strstr(out, "tm_burn"));
    ck_assert_ptr_nonnull(strstr(out, "malloc   <= 32 B"));
    ck_assert_ptr_nonnull(strstr(out, "long?[31m")); /* the escape is not printed */
    ck_assert_ptr_null(strstr(out, "\x1b"));
    free(out);
    pa_model_free(&t);
}
END_TEST

/* A sampled frame in no module (JIT code: a JVM's or V8's) is "[unknown]" in the text, as in
 * the other reports; it read "[[unknown]]". */
START_TEST(test_hot_unknown_frame)
{
    pa_trace_t t;
    hot_trace(&t);
    uint64_t jit[] = {0x10, tm_outer()};
    st_add_stack(&t, 4, 2, jit);
    pa_cpu_row_t *rows = realloc(t.cpu.rows, 4 * sizeof *rows);
    ck_assert_ptr_nonnull(rows);
    t.cpu.rows = rows;
    t.cpu.rows[3] = (pa_cpu_row_t){4, 1, 90};
    t.cpu.n = 4;
    hot_opts = (pa_hot_opts_t){.json = false};
    char *out = capture(run_hot, &t);
    ck_assert_msg(strstr(out, "[unknown]") && !strstr(out, "[[unknown]]"), "%s", out);
    free(out);
    pa_model_free(&t);
}
END_TEST

int main(void)
{
    tu_setup("check_analyzer_timing");
    Suite *s = suite_create("analyzer_timing");
    TCase *tc = tcase_create("timing");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_locks_decoded);
    tcase_add_test(tc, test_locks_decoded_semaphore);
    tcase_add_test(tc, test_last_chunk_wins);
    tcase_add_test(tc, test_threads_cpu_decoded);
    tcase_add_test(tc, test_hist_chunks_decoded);
    tcase_add_test(tc, test_malformed_timing_chunks);
    tcase_add_test(tc, test_bucket_bounds);
    tcase_add_test(tc, test_percentiles_small_exact);
    tcase_add_test(tc, test_percentiles_within_bound);
    tcase_add_test(tc, test_ticks_to_ns);
    tcase_add_test(tc, test_lock_report_json);
    tcase_add_test(tc, test_lock_report_text);
    tcase_add_test(tc, test_lock_report_semaphores);
    tcase_add_test(tc, test_lock_wrapper_frames);
    tcase_add_test(tc, test_hot_report_json);
    tcase_add_test(tc, test_hot_unknown_frame);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
