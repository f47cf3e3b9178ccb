/* SPDX-License-Identifier: MIT */
/*
 * check_rows.c — the shim's encoders of the records declared in shim/include/trace_rows.h
 * (ps_put_<name>, trace_writer.c) against tests/unit/analyzer/trace_builder.c, which encodes
 * the same payloads by hand from docs/trace-format.md: byte for byte, with a different value
 * in every field (trace_builder's tb_fields_* fixtures). Each test fills the declared structs
 * by field name from the fixture, the way the chunk writers do, so a field declared out of
 * order, with the wrong width, or left out fails here.
 */
#include "internal.h"
#include "pool.h"

#include "trace_builder.h"

#include <check.h>
#include <string.h>

/* The shim's payload must equal trace_builder's; on a difference, name its first offset. */
static void same_bytes(ps_buf_t *got, tb_buf_t *want)
{
    ck_assert(!got->failed);
    size_t n = got->len < want->len ? got->len : want->len, i = 0;
    while (i < n && got->data[i] == want->data[i])
        i++;
    ck_assert_msg(i == n && got->len == want->len,
                  "payloads differ at byte %zu (shim: %zu bytes, trace_builder: %zu bytes)", i,
                  got->len, want->len);
    ps_buf_free(got);
    tb_free(want);
}

START_TEST(test_snapshot)
{
    const tb_row_t *tr = tb_fields_rows;
    tb_buf_t want = {0};
    tb_snapshot_at(&want, 91, PS_SNAP_FORK, tr, 2, 92, 93, 94);

    ps_buf_t got = {0};
    ps_row_snapshot_head_t head = {.time_ns = 91, .reason = PS_SNAP_FORK, .flags = 0};
    ps_put_snapshot_head(&got, &head);
    ps_totals_t tot = {.peak_live_bytes = 92, .rss_bytes = 93, .peak_rss_bytes = 94};
    for (int i = 0; i < 2; i++) { /* trace_builder's totals: the sums of the rows */
        tot.allocs += tr[i].allocs;
        tot.frees += tr[i].frees;
        tot.alloc_bytes += tr[i].alloc_bytes;
        tot.freed_bytes += tr[i].freed_bytes;
        tot.live_blocks += tr[i].live_blocks;
        tot.live_bytes += tr[i].live_bytes;
    }
    tot.untracked_frees = 3;
    ps_put_snapshot_totals(&got, &tot);
    size_t at = ps_buf_table(&got, PS_SNAPSHOT_ROW_SIZE);
    for (int i = 0; i < 2; i++) {
        ps_row_snapshot_t r = {.stack_id = tr[i].stack_id,
                               .allocs = tr[i].allocs,
                               .alloc_bytes = tr[i].alloc_bytes,
                               .frees = tr[i].frees,
                               .freed_bytes = tr[i].freed_bytes,
                               .live_blocks = tr[i].live_blocks,
                               .live_bytes = tr[i].live_bytes,
                               .peak_live_bytes = tr[i].peak_live_bytes};
        ps_put_snapshot(&got, &r);
    }
    ps_buf_patch_u32(&got, at, 2);
    same_bytes(&got, &want);
}
END_TEST

START_TEST(test_pool)
{
    const tb_pool_totals_t *tt = &tb_fields_pool_totals;
    const tb_pool_class_t *tc = tb_fields_pool_classes;
    tb_buf_t want = {0};
    tb_pool(&want, tt, tc, 2, PS_POOL_ROW_SIZE);

    ps_buf_t got = {0};
    ps_row_pool_head_t head = {.time_ns = tt->time_ns,
                               .max_size = tt->max_size,
                               .reserved = tt->reserved,
                               .committed = tt->committed,
                               .slab_bytes = tt->slab_bytes,
                               .empty_bytes = tt->empty_bytes,
                               .released_bytes = tt->released_bytes,
                               .returned_bytes = tt->returned_bytes,
                               .threads = tt->threads,
                               .exhausted = tt->exhausted};
    ps_put_pool_head(&got, &head);
    size_t at = ps_buf_table(&got, PS_POOL_ROW_SIZE);
    for (int i = 0; i < 2; i++) {
        ps_pool_class_stats_t c = {.size = tc[i].size,
                                   .slabs = tc[i].slabs,
                                   .allocs = tc[i].allocs,
                                   .hits = tc[i].hits,
                                   .misses = tc[i].misses,
                                   .refills = tc[i].refills,
                                   .flushes = tc[i].flushes,
                                   .flushed_blocks = tc[i].flushed_blocks,
                                   .direct_frees = tc[i].direct_frees,
                                   .bytes_in_use = tc[i].bytes_in_use,
                                   .bytes_cached = tc[i].bytes_cached,
                                   .bytes_central = tc[i].bytes_central,
                                   .bytes_returned = tc[i].bytes_returned};
        ps_put_pool_class(&got, &c);
    }
    ps_buf_patch_u32(&got, at, 2);
    same_bytes(&got, &want);
}
END_TEST

START_TEST(test_locks)
{
    const tb_locks_head_t *th = &tb_fields_locks_head;
    const tb_lock_t *tl = tb_fields_locks;
    const tb_lock_site_t *ts = tb_fields_lock_sites;
    tb_buf_t want = {0};
    tb_locks_with(&want, th, tl, 2, PS_LOCK_ROW_SIZE_POSTS, ts, 2);

    ps_buf_t got = {0};
    ps_row_locks_head_t head = {.time_ns = th->time_ns,
                                .sample = th->sample,
                                .flags = th->flags,
                                .untracked_ops = th->untracked_ops,
                                .retired_quiet = th->retired_quiet,
                                .retired_quiet_acquisitions = th->retired_quiet_acquisitions};
    ps_put_locks_head(&got, &head);
    size_t at = ps_buf_table(&got, PS_LOCK_ROW_SIZE_POSTS);
    for (int i = 0; i < 2; i++) {
        ps_row_lock_t r = {.address = tl[i].address,
                           .kind = tl[i].kind,
                           .flags = tl[i].flags,
                           .first_use_stack = tl[i].first_use,
                           .acquisitions = tl[i].acquisitions,
                           .contended = tl[i].contended,
                           .owner_changes = tl[i].owner_changes,
                           .wait_ns = tl[i].wait_ns,
                           .max_wait_ns = tl[i].max_wait_ns,
                           .hold_ns = tl[i].hold_ns,
                           .max_hold_ns = tl[i].max_hold_ns,
                           .hold_samples = tl[i].hold_samples,
                           .read_acquisitions = tl[i].read_acquisitions,
                           .trylock_failures = tl[i].trylock_failures,
                           .timeouts = tl[i].timeouts,
                           .signals = tl[i].signals,
                           .broadcasts = tl[i].broadcasts,
                           .wake_ns = tl[i].wake_ns,
                           .max_wake_ns = tl[i].max_wake_ns,
                           .wakes = tl[i].wakes,
                           .paired_posts = tl[i].paired_posts};
        ps_put_lock(&got, &r);
    }
    ps_buf_patch_u32(&got, at, 2);
    at = ps_buf_table(&got, PS_LOCK_SITE_ROW_SIZE);
    for (int i = 0; i < 2; i++) {
        ps_row_lock_site_t s = {.lock_index = ts[i].lock_index,
                                .stack_id = ts[i].stack_id,
                                .acquisitions = ts[i].acquisitions,
                                .contended = ts[i].contended,
                                .wait_ns = ts[i].wait_ns,
                                .max_wait_ns = ts[i].max_wait_ns,
                                .samples = ts[i].samples};
        ps_put_lock_site(&got, &s);
    }
    ps_buf_patch_u32(&got, at, 2);
    same_bytes(&got, &want);
}
END_TEST

START_TEST(test_threads)
{
    const tb_thread_t *tt = tb_fields_threads;
    tb_buf_t want = {0};
    tb_threads_with(&want, 1001, 1002, 1003, tt, 2);

    ps_buf_t got = {0};
    ps_row_threads_head_t head = {.time_ns = 1001, .created = 1002, .dropped = 1003};
    ps_put_threads_head(&got, &head);
    size_t at = ps_buf_table(&got, PS_THREAD_ROW_SIZE);
    for (int i = 0; i < 2; i++) {
        ps_row_thread_t r = {.tid = tt[i].tid,
                             .creator_tid = tt[i].creator,
                             .start_stack = tt[i].start_stack,
                             .flags = tt[i].flags,
                             .start_ns = tt[i].start_ns,
                             .end_ns = tt[i].end_ns,
                             .cpu_ns = tt[i].cpu_ns,
                             .start_routine = tt[i].routine};
        strncpy(r.name, tt[i].name, PS_ROW_NAME16_SIZE); /* NUL-padded, as threads.c has it */
        ps_put_thread(&got, &r);
    }
    ps_buf_patch_u32(&got, at, 2);
    same_bytes(&got, &want);
}
END_TEST

START_TEST(test_cpu)
{
    const uint32_t(*tr)[3] = tb_fields_cpu_rows;
    tb_buf_t want = {0};
    tb_cpu_with(&want, 1101, 1102, 1103, 1104, 1105, tr, 2);

    ps_buf_t got = {0};
    ps_row_cpu_head_t head = {
        .time_ns = 1101, .hz = 1102, .samples = 1103, .dropped = 1104, .partial = 1105};
    ps_put_cpu_head(&got, &head);
    size_t at = ps_buf_table(&got, PS_CPU_ROW_SIZE);
    for (int i = 0; i < 2; i++) {
        ps_row_cpu_t r = {.stack_id = tr[i][0], .threads = tr[i][1], .samples = tr[i][2]};
        ps_put_cpu(&got, &r);
    }
    ps_buf_patch_u32(&got, at, 2);
    same_bytes(&got, &want);
}
END_TEST

START_TEST(test_alert)
{
    const uint64_t(*tr)[5] = tb_fields_alert_rows;
    tb_buf_t want = {0};
    tb_alert(&want, 1701, tr, 2, PS_ALERT_ROW_SIZE);

    ps_buf_t got = {0};
    ps_row_alerts_head_t head = {.time_ns = 1701};
    ps_put_alerts_head(&got, &head);
    size_t at = ps_buf_table(&got, PS_ALERT_ROW_SIZE);
    for (int i = 0; i < 2; i++) {
        ps_row_alert_t r = {.kind = (uint32_t)tr[i][0],
                            .time_ns = tr[i][1],
                            .value = tr[i][2],
                            .threshold = tr[i][3],
                            .base = tr[i][4]};
        ps_put_alert(&got, &r);
    }
    ps_buf_patch_u32(&got, at, 2);
    same_bytes(&got, &want);
}
END_TEST

/* LATENCY and ZONES: the declared headers and the LATENCY row's prefix (the histograms and
 * zone names are written by hand on both sides). */
START_TEST(test_latency_zones_end)
{
    const uint64_t *ev = tb_fields_latency_events;
    tb_buf_t want = {0};
    tb_latency_with(&want, 1201, 1202, 1203, ev, 1);
    tb_u32(&want, 2);    /* op */
    tb_u32(&want, 1204); /* size_max */
    ps_buf_t got = {0};
    ps_row_latency_head_t lh = {.time_ns = 1201,
                                .tick_hz = 1202,
                                .sample = 1203,
                                .pooled = ev[0],
                                .forwarded = ev[1],
                                .forwarded_large = ev[2],
                                .pool_refills = ev[3],
                                .pool_flushes = ev[4],
                                .pool_commits = ev[5]};
    ps_put_latency_head(&got, &lh);
    ps_buf_u32(&got, 1); /* row_count */
    ps_row_latency_row_t lr = {.op = 2, .size_max = 1204};
    ps_put_latency_row(&got, &lr);
    same_bytes(&got, &want);

    tb_zones_with(&want, 1301, 1302, 1303, 1304, 1305, 0);
    ps_row_zones_head_t zh = {.time_ns = 1301,
                              .tick_hz = 1302,
                              .unmatched_ends = 1303,
                              .too_deep = 1304,
                              .dropped = 1305};
    ps_put_zones_head(&got, &zh);
    ps_buf_u32(&got, 0); /* count */
    same_bytes(&got, &want);

    tb_end_with(&want, 1401, 1402);
    ps_row_end_t e = {.chunk_count = 1401, .dropped_events = 1402};
    ps_put_end(&got, &e);
    same_bytes(&got, &want);
}
END_TEST

/* A count patched after a failed buffer stays untouched, and a patch never writes past the
 * payload (the writers patch counts after their rows). */
START_TEST(test_patch)
{
    ps_buf_t b = {0};
    size_t at = ps_buf_table(&b, 64);
    ck_assert_uint_eq(at, 0);
    ck_assert_uint_eq(b.len, 8);
    ps_buf_patch_u32(&b, at, 0x01020304);
    ps_buf_patch_u32(&b, 6, 0xffffffff); /* would end past the payload: ignored */
    const uint8_t want[8] = {4, 3, 2, 1, 64, 0, 0, 0};
    ck_assert_mem_eq(b.data, want, 8);
    b.failed = 1;
    ps_buf_patch_u32(&b, at, 7);
    ck_assert_uint_eq(b.data[0], 4);
    ps_buf_free(&b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("shim_rows");
    TCase *tc = tcase_create("rows");
    tcase_add_test(tc, test_snapshot);
    tcase_add_test(tc, test_pool);
    tcase_add_test(tc, test_locks);
    tcase_add_test(tc, test_threads);
    tcase_add_test(tc, test_cpu);
    tcase_add_test(tc, test_alert);
    tcase_add_test(tc, test_latency_zones_end);
    tcase_add_test(tc, test_patch);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
