/* SPDX-License-Identifier: MIT */
/*
 * check_advise.c — the thresholds of `perfshim advise`'s rules (analyzer/advise.c,
 * docs/tuning.md), each on crafted traces just above and just below it: a rule fires on one and
 * not on the other. Covers the rules no example program can trigger reliably on a shared
 * machine (alloc_latency), and the exact edges of the others; the examples themselves are run by
 * tests/integration/test_advise.py.
 */
#include "advise.h"
#include "test_util.h"

#include "trace_format.h"

/* The JSON advice for the typical trace (trace_builder.c) with the given chunks added. */
static char *advise_json(const uint16_t *types, const tb_buf_t *p, size_t n)
{
    return tu_advise_json(tu_typical_file("advise.trace", types, p, n));
}

static int rule_in_snapshot(const tb_row_t *rows, uint32_t n, uint64_t rss, const char *id)
{
    tb_buf_t p = {0};
    tb_snapshot(&p, PS_SNAP_EXIT, rows, n, 0, rss, rss);
    uint16_t type = PS_CHUNK_SNAPSHOT;
    char *j = advise_json(&type, &p, 1);
    int c = tu_count_rule(j, id);
    free(j);
    tb_free(&p);
    return c;
}

START_TEST(test_tiny)
{
    /* 10000 allocations of 16 bytes on average: tiny; one byte more, or one allocation less: not */
    tb_row_t at[] = {{1, 10000, 160000, 10000, 160000, 0, 0, 0}};
    ck_assert_int_eq(rule_in_snapshot(at, 1, 1 << 20, "tiny"), 1);
    tb_row_t big[] = {{1, 10000, 160001, 10000, 160001, 0, 0, 0}};
    ck_assert_int_eq(rule_in_snapshot(big, 1, 1 << 20, "tiny"), 0);
    tb_row_t few[] = {{1, 9999, 9999, 9999, 9999, 0, 0, 0}};
    ck_assert_int_eq(rule_in_snapshot(few, 1, 1 << 20, "tiny"), 0);
}
END_TEST

START_TEST(test_fragmentation)
{
    /* 1 MiB live: RSS 33 MiB (32 MiB above it, and >= twice it) fires; a byte less does not */
    tb_row_t rows[] = {{1, 1, 1 << 20, 0, 0, 1, 1 << 20, 1 << 20}};
    uint64_t rss = (1u << 20) + (32u << 20);
    ck_assert_int_eq(rule_in_snapshot(rows, 1, rss, "fragmentation"), 1);
    ck_assert_int_eq(rule_in_snapshot(rows, 1, rss - 1, "fragmentation"), 0);
    /* and the leak rule sees the live block of the exit snapshot */
    ck_assert_int_eq(rule_in_snapshot(rows, 1, rss, "leak"), 1);
}
END_TEST

static int latency_rule(uint64_t fast, uint64_t nfast, uint64_t slow, uint64_t nslow)
{
    uint64_t *v = malloc((nfast + nslow) * sizeof *v);
    ck_assert_ptr_nonnull(v);
    for (uint64_t i = 0; i < nfast + nslow; i++)
        v[i] = i < nfast ? fast : slow;
    tb_buf_t p = {0};
    tb_latency_begin(&p, TB_SNAPSHOT_TIME_NS, 1000000000, 1, 1); /* 1 tick = 1 ns */
    tb_u32(&p, PS_LAT_MALLOC);
    tb_u32(&p, 64);
    tb_hist(&p, v, nfast + nslow);
    free(v);
    uint16_t type = PS_CHUNK_LATENCY;
    char *j = advise_json(&type, &p, 1);
    int c = tu_count_rule(j, "alloc_latency");
    free(j);
    tb_free(&p);
    return c;
}

START_TEST(test_alloc_latency)
{
    /* 1000 calls, 1.5% of them 20 us against a median of 100 ns: p99 200x p50 and >= 10 us */
    ck_assert_int_eq(latency_rule(100, 985, 20000, 15), 1);
    /* 999 calls: too few to judge */
    ck_assert_int_eq(latency_rule(100, 984, 20000, 15), 0);
    /* a tail of 5 us: under the 10 us floor */
    ck_assert_int_eq(latency_rule(100, 985, 5000, 15), 0);
    /* 0.5% slow: p99 is fast */
    ck_assert_int_eq(latency_rule(100, 995, 20000, 5), 0);
}
END_TEST

static tb_lock_t mutex_row(uint64_t wait_ns, uint64_t contended, uint64_t hold_per_acq)
{
    tb_lock_t k = {.address = 0x1000, .kind = PS_LOCK_MUTEX, .first_use = 1};
    k.acquisitions = 1000;
    k.contended = contended;
    k.wait_ns = wait_ns;
    k.max_wait_ns = wait_ns / 4;
    k.hold_ns = 1000 * hold_per_acq;
    k.max_hold_ns = 4 * hold_per_acq;
    k.hold_samples = 20;
    return k;
}

static char *locks_json(const tb_lock_t *k, uint32_t nlocks, const tb_lock_site_t *s,
                        uint32_t nsites)
{
    tb_buf_t p = {0};
    tb_locks(&p, TB_SNAPSHOT_TIME_NS, 64, k, nlocks, PS_LOCK_ROW_SIZE_WAKES, s, nsites);
    uint16_t type = PS_CHUNK_LOCKS;
    char *j = advise_json(&type, &p, 1);
    tb_free(&p);
    return j;
}

/* lock.hold pieces of advice for a mutex held 5 us, waited 10 ms over `contended` collisions. */
static int hold_rule(uint64_t contended)
{
    tb_lock_t k = mutex_row(10000000, contended, 5000);
    tb_lock_site_t one[] = {{0, 1, 1000, contended, 10000000, 5000000, 20}};
    char *j = locks_json(&k, 1, one, 1);
    int n = tu_count_rule(j, "lock.hold");
    free(j);
    return n;
}

START_TEST(test_lock_rules)
{
    tb_lock_site_t one[] = {{0, 1, 1000, 50, 20000000, 5000000, 20}};
    tb_lock_site_t three[] = {{0, 1, 400, 20, 8000000, 2000000, 8},
                              {0, 2, 400, 20, 8000000, 2000000, 8},
                              {0, 3, 200, 10, 4000000, 2000000, 4}};
    /* held 5 us per acquisition, 10 ms waited: lock.hold */
    tb_lock_t k = mutex_row(10000000, 50, 5000);
    char *j = locks_json(&k, 1, one, 1);
    ck_assert_int_eq(tu_count_rule(j, "lock.hold"), 1);
    ck_assert_int_eq(tu_count_rule(j, "lock.shard"), 0);
    free(j);
    /* a nanosecond less of wait: nothing */
    k = mutex_row(9999999, 50, 5000);
    j = locks_json(&k, 1, one, 1);
    ck_assert_int_eq(tu_count_rule(j, "lock.hold") + tu_count_rule(j, "lock.shard"), 0);
    free(j);
    /* ... or 4 collisions only (a holder preempted once or twice on a loaded machine) */
    ck_assert_int_eq(hold_rule(4), 0);
    ck_assert_int_eq(hold_rule(5), 1);
    /* short holds, three sites of 40%, 40%, 20% of the acquisitions: lock.shard */
    k = mutex_row(20000000, 50, 100);
    j = locks_json(&k, 1, three, 3);
    ck_assert_int_eq(tu_count_rule(j, "lock.shard"), 1);
    ck_assert_int_eq(tu_count_rule(j, "lock.hold"), 0);
    free(j);
    /* long holds from three busy sites: shard, not shorten (one piece of advice per lock) */
    tb_lock_t slow = mutex_row(20000000, 50, 50000);
    j = locks_json(&slow, 1, three, 3);
    ck_assert_int_eq(tu_count_rule(j, "lock.shard"), 1);
    ck_assert_int_eq(tu_count_rule(j, "lock.hold"), 0);
    free(j);
    /* ... but one site has under 10% of them: two busy sites are not enough */
    tb_lock_site_t skewed[] = {{0, 1, 600, 20, 8000000, 2000000, 8},
                               {0, 2, 360, 20, 8000000, 2000000, 8},
                               {0, 3, 40, 10, 4000000, 2000000, 4}};
    j = locks_json(&k, 1, skewed, 3);
    ck_assert_int_eq(tu_count_rule(j, "lock.shard"), 0);
    free(j);
    /* ... or only 9 collisions */
    k = mutex_row(20000000, 9, 100);
    j = locks_json(&k, 1, three, 3);
    ck_assert_int_eq(tu_count_rule(j, "lock.shard"), 0);
    free(j);
}
END_TEST

/* lock.rwlock on a mutex: mean hold h ns over 10000 acquisitions, `contended` of them waiting
 * `wait` ns in all, from one site. */
static char *rw_mutex_json(uint64_t wait, uint64_t contended, uint64_t h)
{
    tb_lock_t k = mutex_row(wait, contended, h);
    k.acquisitions = 10000;
    k.hold_ns = 10000 * h;
    tb_lock_site_t one[] = {{0, 1, 10000, contended, wait, wait / 4, 20}};
    return locks_json(&k, 1, one, 1);
}

static int rw_mutex_rule(uint64_t wait, uint64_t contended, uint64_t h)
{
    char *j = rw_mutex_json(wait, contended, h);
    int n = tu_count_rule(j, "lock.rwlock");
    free(j);
    return n;
}

START_TEST(test_lock_rwlock)
{
    /* a mutex, 20% of 10000 acquisitions waiting 5 us each for holds of 1.25 us: waiters queue 4
     * holds deep: lock.rwlock (and only it); one more ns of hold: under 4 deep, nothing */
    char *j = rw_mutex_json(10000000, 2000, 1250);
    ck_assert_int_eq(tu_count_rule(j, "lock.rwlock"), 1);
    ck_assert_int_eq(tu_count_rule(j, "lock.hold") + tu_count_rule(j, "lock.shard"), 0);
    ck_assert_ptr_nonnull(strstr(j, "if these sections only read"));
    free(j);
    ck_assert_int_eq(rw_mutex_rule(10000000, 2000, 1251), 0);
    /* ... holds under 500 ns (a rwlock's own atomics cost as much): nothing */
    ck_assert_int_eq(rw_mutex_rule(10000000, 2000, 499), 0);
    /* ... under a tenth of the acquisitions colliding (a preempted holder's few): nothing */
    ck_assert_int_eq(rw_mutex_rule(10000000, 999, 1000), 0);
    /* ... long holds: lock.hold, not both */
    j = rw_mutex_json(100000000, 2000, 5000);
    ck_assert_int_eq(tu_count_rule(j, "lock.rwlock"), 0);
    ck_assert_int_eq(tu_count_rule(j, "lock.hold"), 1);
    free(j);
    /* a rwlock taken in write mode 90% of the time, long holds: lock.rwlock, not lock.hold */
    tb_lock_t rw = mutex_row(10000000, 50, 5000);
    rw.kind = PS_LOCK_RWLOCK;
    rw.read_acquisitions = 100;
    tb_lock_site_t one[] = {{0, 1, 1000, 50, 10000000, 5000000, 20}};
    j = locks_json(&rw, 1, one, 1);
    ck_assert_int_eq(tu_count_rule(j, "lock.rwlock"), 1);
    ck_assert_int_eq(tu_count_rule(j, "lock.hold"), 0);
    ck_assert_ptr_nonnull(strstr(j, "\"write_share\": 90"));
    free(j);
    /* ... 89.9% of the time: not a write-mostly rwlock; its writers' long holds: lock.hold */
    rw.read_acquisitions = 101;
    j = locks_json(&rw, 1, one, 1);
    ck_assert_int_eq(tu_count_rule(j, "lock.rwlock"), 0);
    ck_assert_int_eq(tu_count_rule(j, "lock.hold"), 1);
    free(j);
}
END_TEST

START_TEST(test_cond_wake)
{
    tb_lock_t c = {.address = 0x2000, .kind = PS_LOCK_COND, .first_use = 2, .acquisitions = 100};
    c.wakes = 100;
    c.wake_ns = 100 * 1000000ull; /* 1 ms each */
    c.max_wake_ns = 3000000;
    c.signals = 100;
    tb_lock_site_t s[] = {{0, 2, 100, 0, 0, 0, 0}};
    char *j = locks_json(&c, 1, s, 1);
    ck_assert_int_eq(tu_count_rule(j, "cond.wake"), 1);
    free(j);
    c.wakes = 99;
    c.wake_ns = 99 * 1000000ull;
    j = locks_json(&c, 1, s, 1);
    ck_assert_int_eq(tu_count_rule(j, "cond.wake"), 0);
    free(j);
}
END_TEST

static int pool_rule(uint64_t allocs, char **json)
{
    /* one site of requests of 200 bytes, pool limit 128 */
    tb_row_t rows[] = {{1, allocs, allocs * 200, allocs, allocs * 200, 0, 0, 0}};
    tb_buf_t p[2] = {{0}};
    tb_snapshot(&p[0], PS_SNAP_EXIT, rows, 1, 0, 1 << 20, 1 << 20);
    tb_pool_totals_t t = {.time_ns = TB_SNAPSHOT_TIME_NS, .max_size = 128, .threads = 1};
    tb_pool_class_t c[] = {{.size = 16, .slabs = 1, .allocs = 10, .hits = 9, .misses = 1}};
    tb_pool(&p[1], &t, c, 1, 96);
    uint16_t types[] = {PS_CHUNK_SNAPSHOT, PS_CHUNK_POOL};
    *json = advise_json(types, p, 2);
    tb_free(&p[0]);
    tb_free(&p[1]);
    return tu_count_rule(*json, "pool.max");
}

START_TEST(test_pool_max)
{
    char *j;
    ck_assert_int_eq(pool_rule(1000, &j), 1);
    ck_assert_ptr_nonnull(strstr(j, "\"suggested_pool_max\": 224"));
    ck_assert_ptr_nonnull(strstr(j, "\"allocations\": 1000}")); /* the gain */
    free(j);
    ck_assert_int_eq(pool_rule(999, &j), 0);
    free(j);
}
END_TEST

/* growth: the typical trace, then n interval snapshots 100 ms apart in which stack 1 holds
 * k x step bytes (a leak) and stack 2 min(k, 3) x 4 x step (a cache that fills, then holds:
 * larger than the leak, and never advised). */
static char *growth_json(int n, uint64_t step)
{
    tb_buf_t p[16] = {{0}};
    uint16_t types[16] = {0};
    for (int k = 1; k <= n; k++) {
        uint64_t c = (uint64_t)(k < 3 ? k : 3), kk = (uint64_t)k;
        tb_row_t r[2] = {{1, 10 * kk, step * kk, 0, 0, 10 * kk, step * kk, step * kk},
                         {2, 10 * kk, 4 * step * kk, 10 * kk - 10 * c, 4 * step * (kk - c), 10 * c,
                          4 * step * c, 4 * step * c}};
        types[k - 1] = PS_CHUNK_SNAPSHOT;
        tb_snapshot_at(&p[k - 1], TB_SNAPSHOT_TIME_NS + kk * 100000000, PS_SNAP_INTERVAL, r, 2,
                       step * (kk + 4 * c), 1 << 20, 1 << 20);
    }
    char *j = advise_json(types, p, (size_t)n);
    for (int k = 0; k < n; k++)
        tb_free(&p[k]);
    return j;
}

START_TEST(test_growth)
{
    /* 12 snapshots, the leak at 12 x 16 KiB = 192 KiB growing 160 KiB/s: advised, once; the
     * cache (bounded) not; leak skipped (no exit snapshot last) */
    char *j = growth_json(12, 16384);
    ck_assert_int_eq(tu_count_rule(j, "growth"), 1);
    ck_assert_ptr_nonnull(strstr(j, "\"live_bytes\": 196608"));
    ck_assert_ptr_nonnull(strstr(j, "{\"id\": \"leak\", \"why\": \"last snapshot is not at exit"));
    free(j);
    /* ... under 64 KiB at the last snapshot (12 x 5461 = 65532 bytes): not */
    j = growth_json(12, 5461);
    ck_assert_int_eq(tu_count_rule(j, "growth"), 0);
    free(j);
    /* ... 64 KiB and more (12 x 5462): advised */
    j = growth_json(12, 5462);
    ck_assert_int_eq(tu_count_rule(j, "growth"), 1);
    free(j);
    /* the typical trace's exit snapshot and 3 more: 4 snapshots, growth skipped */
    j = growth_json(3, 65536);
    ck_assert_int_eq(tu_count_rule(j, "growth"), 0);
    ck_assert_ptr_nonnull(strstr(j, "{\"id\": \"growth\", \"why\": \"trace has fewer than 5"));
    free(j);
}
END_TEST

/* leak.every_process over two copies of a trace whose 12 one-frame stacks each leak one block
 * of 100, 200, ... 1200 bytes: the 10 largest are listed, the most bytes first. */
START_TEST(test_every_process_top)
{
    tb_buf_t f = {0}, p = {0};
    tb_file_header(&f, PS_TRACE_VERSION);
    const char *argv[] = {"prog"};
    tb_process(&p, 4243, "/nonexistent/prog", 1, argv);
    tb_chunk(&f, PS_CHUNK_PROCESS, &p);
    p.len = 0;
    tb_module_t m = {0x400000, 0x400000, 0x500000, "/nonexistent/prog", NULL, 0};
    tb_modules(&p, &m, 1);
    tb_chunk(&f, PS_CHUNK_MODULES, &p);
    p.len = 0;
    tb_row_t rows[12];
    tb_stacks_begin(&p, 12);
    for (uint32_t i = 0; i < 12; i++) {
        uint64_t addr = 0x401000 + 0x100 * (uint64_t)i, b = 100 * (uint64_t)(i + 1);
        tb_stack(&p, i + 1, 1, &addr);
        rows[i] = (tb_row_t){i + 1, 1, b, 0, 0, 1, b, b};
    }
    tb_chunk(&f, PS_CHUNK_STACKS, &p);
    p.len = 0;
    tb_snapshot(&p, PS_SNAP_EXIT, rows, 12, 7800, 1 << 20, 1 << 20);
    tb_chunk(&f, PS_CHUNK_SNAPSHOT, &p);
    p.len = 0;
    tb_end(&p, 4);
    tb_chunk(&f, PS_CHUNK_END, &p);
    char *paths[] = {(char *)tu_path("every1.trace"), NULL};
    ck_assert_int_eq(tb_write_file(paths[0], f.data, f.len), 0);
    paths[1] = (char *)tu_path("every2.trace");
    ck_assert_int_eq(tb_write_file(paths[1], f.data, f.len), 0);
    tb_free(&f);
    tb_free(&p);
    char *j = NULL;
    size_t len = 0, nadvice = 0;
    FILE *out = open_memstream(&j, &len);
    ck_assert_ptr_nonnull(out);
    pa_advise_opts_t o = {.json = true, .quiet = true};
    ck_assert_int_eq(pa_advise_files(paths, 2, &o, out, &nadvice), PA_OK);
    fclose(out);
    ck_assert_int_eq(tu_count_rule(j, "leak"), 20); /* ten per trace */
    ck_assert_int_eq(tu_count_rule(j, "leak.every_process"), 10);
    ck_assert_ptr_nonnull(strstr(j, "rank 1 of 12 leaking sites"));
    /* over both traces: 2 x 1200 bytes first, 2 x 300 last, 2 x 200 not listed */
    const char *first = strstr(j, "\"rule\": \"leak.every_process\"");
    ck_assert_ptr_nonnull(first);
    ck_assert_ptr_nonnull(strstr(first, "\"leaked_bytes\": 2400"));
    ck_assert(strstr(first, "\"leaked_bytes\": 2400") < strstr(first, "\"leaked_bytes\": 600"));
    ck_assert_ptr_nonnull(strstr(first, "\"leaked_bytes\": 600}"));
    ck_assert_ptr_null(strstr(first, "\"leaked_bytes\": 400}"));
    free(j);
}
END_TEST

START_TEST(test_skipped)
{
    char *j = advise_json(NULL, NULL, 0);
    /* the counter rules, and the rules whose chunks the typical trace lacks */
    static const char *const skipped[] = {
        "{\"id\": \"temporaries\", \"why\": \"trace has no advice counters\"}",
        "{\"id\": \"realloc_growth\", \"why\": \"trace has no advice counters\"}",
        "{\"id\": \"cross_thread_free\", \"why\": \"trace has no advice counters\"}",
        "{\"id\": \"lock.hold\"",
        "{\"id\": \"lock.rwlock\"",
        "{\"id\": \"growth\", \"why\": \"trace has fewer than 5 snapshots",
        "{\"id\": \"alloc_latency\"",
        "{\"id\": \"leak.every_process\"",
    };
    for (size_t i = 0; i < sizeof skipped / sizeof skipped[0]; i++)
        ck_assert_msg(strstr(j, skipped[i]), "%s in %s", skipped[i], j);
    /* the typical trace's two leaking stacks, the larger first */
    ck_assert_int_eq(tu_count_rule(j, "leak"), 2);
    ck_assert_ptr_nonnull(strstr(j, "\"leaked_bytes\": 1000"));
    ck_assert(strstr(j, "\"leaked_bytes\": 1000") < strstr(j, "\"leaked_bytes\": 200"));
    free(j);
}
END_TEST

int main(void)
{
    tu_setup("check_advise");
    Suite *s = suite_create("analyzer_advise");
    TCase *tc = tcase_create("rules");
    tcase_add_test(tc, test_tiny);
    tcase_add_test(tc, test_fragmentation);
    tcase_add_test(tc, test_alloc_latency);
    tcase_add_test(tc, test_lock_rules);
    tcase_add_test(tc, test_lock_rwlock);
    tcase_add_test(tc, test_cond_wake);
    tcase_add_test(tc, test_pool_max);
    tcase_add_test(tc, test_skipped);
    tcase_add_test(tc, test_growth);
    tcase_add_test(tc, test_every_process_top);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
