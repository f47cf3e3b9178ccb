/* SPDX-License-Identifier: MIT */
/*
 * check_unloaded.c — the UNLOADED_MODULES chunk (docs/trace-format.md) on crafted traces:
 * modules dlclose'd before the snapshot become retired modules that addresses resolve to; the
 * live map wins where an address was reused; repeated chunks (one per snapshot) add nothing
 * twice; a module the newer MODULES map dropped comes back; malformed payloads keep the
 * records before the fault; a full list on the shim side is reported.
 */
#include "model.h"

#include "test_util.h"
#include "trace_builder.h"
#include "trace_format.h"

#include <check.h>

static const uint8_t bid_a[] = {0xaa, 0x01, 0x02, 0x03};

/* PROCESS, MODULES(map), [UNLOADED_MODULES payload `unl`], STACKS(one stack of `addr`),
 * SNAPSHOT, END into a file; returns its path. */
static const char *build(const char *name, const tb_module_t *map, uint32_t nmap,
                         const tb_buf_t *unl, uint64_t addr)
{
    tb_buf_t f = {0}, p = {0};
    uint64_t chunks = 0;
    tb_file_header(&f, PS_TRACE_VERSION);
    const char *argv[] = {"prog"};
    tb_process(&p, 7, "/nonexistent/prog", 1, argv);
    tb_chunk(&f, PS_CHUNK_PROCESS, &p), chunks++;
    p.len = 0;
    tb_modules(&p, map, nmap);
    tb_chunk(&f, PS_CHUNK_MODULES, &p), chunks++;
    p.len = 0;
    if (unl)
        tb_chunk(&f, PS_CHUNK_UNLOADED_MODULES, unl), chunks++;
    tb_stacks_begin(&p, 1);
    tb_stack(&p, 1, 1, &addr);
    tb_chunk(&f, PS_CHUNK_STACKS, &p), chunks++;
    p.len = 0;
    tb_row_t row = {1, 1, 64, 0, 0, 1, 64, 64};
    tb_snapshot(&p, PS_SNAP_EXIT, &row, 1, 64, 4096, 4096);
    tb_chunk(&f, PS_CHUNK_SNAPSHOT, &p), chunks++;
    p.len = 0;
    tb_end(&p, chunks);
    tb_chunk(&f, PS_CHUNK_END, &p);
    const char *path = tu_path(name);
    ck_assert_int_eq(tb_write_file(path, f.data, f.len), 0);
    tb_free(&f);
    tb_free(&p);
    return path;
}

static const tb_module_t prog = {0x400000, 0x400000, 0x500000, "/nonexistent/prog", NULL, 0};

START_TEST(test_unloaded_resolve)
{
    tb_module_t gone[] = {{0x7000000, 0x7001000, 0x7004000, "/plug/a.so", bid_a, sizeof bid_a},
                          {0x9000000, 0x9000000, 0x9002000, "/plug/b.so", NULL, 0}};
    uint64_t when[] = {1000, 2000};
    tb_buf_t u = {0};
    tb_unloaded_modules(&u, gone, when, 2, 0);
    const char *path = build("resolve.trace", &prog, 1, &u, 0x7002345);
    pa_trace_t t;
    ck_assert_int_eq(pa_model_load(path, true, &t), PA_OK);
    ck_assert_uint_eq(t.warnings.n, 0);
    ck_assert(pa_model_complete(&t));
    ck_assert_uint_eq(t.nmodules, 3);
    const pa_module_t *m = pa_model_module_at(&t, 0x7002345);
    ck_assert_ptr_nonnull(m);
    ck_assert_str_eq(m->path, "/plug/a.so");
    ck_assert(m->retired);
    ck_assert_uint_eq(m->base, 0x7000000);
    ck_assert_uint_eq(m->build_id_len, sizeof bid_a);
    ck_assert_mem_eq(m->build_id, bid_a, sizeof bid_a);
    ck_assert_str_eq(pa_model_module_at(&t, 0x9001000)->path, "/plug/b.so");
    ck_assert_ptr_null(pa_model_module_at(&t, 0x7000800)); /* below a.so's first segment */
    ck_assert(!pa_model_module_at(&t, 0x401000)->retired);
    pa_model_free(&t);
    tb_free(&u);
}
END_TEST

/* A module loaded later at the same place is live: it wins; the unloaded one is kept after it. */
START_TEST(test_live_map_wins)
{
    tb_module_t map[] = {prog, {0x7000000, 0x7000000, 0x7004000, "/plug/new.so", NULL, 0}};
    tb_module_t gone = {0x7000000, 0x7001000, 0x7004000, "/plug/a.so", NULL, 0};
    uint64_t when = 5;
    tb_buf_t u = {0};
    tb_unloaded_modules(&u, &gone, &when, 1, 0);
    const char *path = build("reuse.trace", map, 2, &u, 0x7002000);
    pa_trace_t t;
    ck_assert_int_eq(pa_model_load(path, true, &t), PA_OK);
    ck_assert_uint_eq(t.nmodules, 3);
    ck_assert_str_eq(pa_model_module_at(&t, 0x7002000)->path, "/plug/new.so");
    ck_assert(!pa_model_module_at(&t, 0x7002000)->retired);
    ck_assert_str_eq(t.modules[2].path, "/plug/a.so");
    ck_assert(t.modules[2].retired);
    pa_model_free(&t);
    tb_free(&u);
}
END_TEST

/* Two snapshots, each MODULES followed by the full unloaded list: nothing is added twice, and a
 * module that the second MODULES chunk dropped (its range overlaps a newer module) is back. */
START_TEST(test_repeated_chunks)
{
    tb_buf_t f = {0}, p = {0}, u = {0};
    tb_module_t gone[] = {{0x7000000, 0x7000000, 0x7004000, "/plug/a.so", bid_a, sizeof bid_a},
                          {0x7000000, 0x7000000, 0x7004000, "/plug/a.so", bid_a, sizeof bid_a}};
    uint64_t when[] = {10, 20};
    tb_unloaded_modules(&u, gone, when, 2, 0); /* the same module twice: kept once */
    tb_module_t map2[] = {prog, {0x7002000, 0x7002000, 0x7003000, "/plug/c.so", NULL, 0}};
    tb_file_header(&f, PS_TRACE_VERSION);
    tb_modules(&p, &prog, 1);
    tb_chunk(&f, PS_CHUNK_MODULES, &p);
    tb_chunk(&f, PS_CHUNK_UNLOADED_MODULES, &u);
    p.len = 0;
    tb_row_t row = {0, 1, 8, 0, 0, 1, 8, 8};
    tb_snapshot_at(&p, 100, PS_SNAP_DUMP, &row, 1, 8, 0, 0);
    tb_chunk(&f, PS_CHUNK_SNAPSHOT, &p);
    p.len = 0;
    tb_modules(&p, map2, 2);
    tb_chunk(&f, PS_CHUNK_MODULES, &p);
    tb_chunk(&f, PS_CHUNK_UNLOADED_MODULES, &u);
    p.len = 0;
    tb_snapshot_at(&p, 200, PS_SNAP_EXIT, &row, 1, 8, 0, 0);
    tb_chunk(&f, PS_CHUNK_SNAPSHOT, &p);
    p.len = 0;
    tb_end(&p, 6);
    tb_chunk(&f, PS_CHUNK_END, &p);
    const char *path = tu_path("repeat.trace");
    ck_assert_int_eq(tb_write_file(path, f.data, f.len), 0);

    pa_trace_t t;
    ck_assert_int_eq(pa_model_load(path, true, &t), PA_OK);
    ck_assert_uint_eq(t.warnings.n, 0);
    ck_assert_uint_eq(t.nmodules, 3); /* prog, c.so, a.so */
    size_t a = 0;
    for (size_t i = 0; i < t.nmodules; i++)
        a += strcmp(t.modules[i].path, "/plug/a.so") == 0;
    ck_assert_uint_eq(a, 1);
    ck_assert_str_eq(pa_model_module_at(&t, 0x7000100)->path, "/plug/a.so");
    ck_assert_str_eq(pa_model_module_at(&t, 0x7002100)->path, "/plug/c.so");
    pa_model_free(&t);
    tb_free(&f);
    tb_free(&p);
    tb_free(&u);
}
END_TEST

START_TEST(test_malformed_and_dropped)
{
    tb_module_t gone[] = {{0x7000000, 0x7000000, 0x7004000, "/plug/a.so", NULL, 0},
                          {0x9000000, 0x9000000, 0x9002000, "/plug/b.so", NULL, 0}};
    uint64_t when[] = {1, 2};

    /* cut inside the second record: the first is kept, the chunk is reported */
    tb_buf_t u = {0};
    tb_unloaded_modules(&u, gone, when, 2, 0);
    u.len -= 12;
    const char *path = build("cut.trace", &prog, 1, &u, 0x7000010);
    pa_trace_t t;
    ck_assert_int_eq(pa_model_load(path, true, &t), PA_OK);
    ck_assert(tu_has(&t.warnings, "malformed UNLOADED_MODULES chunk"));
    ck_assert_str_eq(pa_model_module_at(&t, 0x7000010)->path, "/plug/a.so");
    ck_assert_ptr_null(pa_model_module_at(&t, 0x9000010));
    pa_model_free(&t);

    /* a count no payload could hold */
    u.len = 0;
    tb_u32(&u, 1000000);
    tb_u32(&u, 0);
    tb_u64(&u, 0);
    path = build("count.trace", &prog, 1, &u, 0x7000010);
    ck_assert_int_eq(pa_model_load(path, true, &t), PA_OK);
    ck_assert(tu_has(&t.warnings, "module count larger than the payload"));
    ck_assert_uint_eq(t.nmodules, 1);
    pa_model_free(&t);

    /* the shim's list was full */
    u.len = 0;
    tb_unloaded_modules(&u, gone, when, 1, 3);
    path = build("dropped.trace", &prog, 1, &u, 0x7000010);
    ck_assert_int_eq(pa_model_load(path, true, &t), PA_OK);
    ck_assert(tu_has(&t.warnings, "3 unloaded module(s) were not recorded"));
    ck_assert_str_eq(pa_model_module_at(&t, 0x7000010)->path, "/plug/a.so");
    pa_model_free(&t);
    tb_free(&u);
}
END_TEST

int main(void)
{
    tu_setup("check_analyzer_unloaded");
    Suite *s = suite_create("analyzer_unloaded");
    TCase *tc = tcase_create("unloaded");
    tcase_add_test(tc, test_unloaded_resolve);
    tcase_add_test(tc, test_live_map_wins);
    tcase_add_test(tc, test_repeated_chunks);
    tcase_add_test(tc, test_malformed_and_dropped);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
