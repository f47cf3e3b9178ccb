/* SPDX-License-Identifier: MIT */
/*
 * check_rows.c — the records declared once in shim/include/trace_rows.h, on the reading side:
 * the model decodes payloads built by trace_builder.c (by hand, from the spec) with a different
 * value in every field into the same values, field by field; PA_ROW_JSON writes the declared
 * members and kinds; and docs/trace-format.md's tables are the declaration's lines. The
 * shim's encoders have the same cross-check in tests/unit/shim/check_rows.c.
 */
#include "json.h"
#include "model.h"

#include "test_util.h"
#include "trace_builder.h"
#include "trace_format.h"

#include <check.h>

/* A trace: tb_typical() with these chunks before its END. */
static void load_with(const uint16_t *types, const tb_buf_t *payloads, size_t n, pa_trace_t *t)
{
    tu_typical_load("rows.trace", types, payloads, n, t);
    ck_assert_msg(!t->damaged, "%s", t->warnings.n ? t->warnings.items[0] : "");
}

/* ---- decoding: every field of every record --------------------------------------------- */

START_TEST(test_snapshot_pool_decoded)
{
    const tb_row_t *tr = tb_fields_rows;
    tb_buf_t p[2] = {{0}};
    tb_snapshot_at(&p[0], TB_SNAPSHOT_TIME_NS, PS_SNAP_FORK, tr, 2, 92, 93, 94);
    tb_pool(&p[1], &tb_fields_pool_totals, tb_fields_pool_classes, 2, PS_POOL_ROW_SIZE);
    const uint16_t types[] = {PS_CHUNK_SNAPSHOT, PS_CHUNK_POOL};
    pa_trace_t t;
    load_with(types, p, 2, &t);

    const pa_snapshot_t *s = &t.snap;
    ck_assert_uint_eq(s->time_ns, TB_SNAPSHOT_TIME_NS);
    ck_assert_uint_eq(s->reason, PS_SNAP_FORK);
    ck_assert_uint_eq(s->flags, 0);
    const pa_totals_t *to = &s->totals;
    ck_assert_uint_eq(to->allocs, tr[0].allocs + tr[1].allocs);
    ck_assert_uint_eq(to->frees, tr[0].frees + tr[1].frees);
    ck_assert_uint_eq(to->alloc_bytes, tr[0].alloc_bytes + tr[1].alloc_bytes);
    ck_assert_uint_eq(to->freed_bytes, tr[0].freed_bytes + tr[1].freed_bytes);
    ck_assert_uint_eq(to->live_blocks, tr[0].live_blocks + tr[1].live_blocks);
    ck_assert_uint_eq(to->live_bytes, tr[0].live_bytes + tr[1].live_bytes);
    ck_assert_uint_eq(to->peak_live_bytes, 6000); /* the typical snapshot's, the higher one */
    ck_assert_uint_eq(to->rss_bytes, 93);
    ck_assert_uint_eq(to->peak_rss_bytes, 2 << 20); /* likewise */
    ck_assert_uint_eq(to->untracked_frees, 3);
    ck_assert_uint_eq(s->nrows, 2);
    for (int i = 0; i < 2; i++) {
        const pa_row_t *r = &s->rows[i];
        ck_assert_uint_eq(r->stack_id, tr[i].stack_id);
        ck_assert_uint_eq(r->allocs, tr[i].allocs);
        ck_assert_uint_eq(r->alloc_bytes, tr[i].alloc_bytes);
        ck_assert_uint_eq(r->frees, tr[i].frees);
        ck_assert_uint_eq(r->freed_bytes, tr[i].freed_bytes);
        ck_assert_uint_eq(r->live_blocks, tr[i].live_blocks);
        ck_assert_uint_eq(r->live_bytes, tr[i].live_bytes);
        ck_assert_uint_eq(r->peak_live_bytes, tr[i].peak_live_bytes);
    }

    const pa_pool_t *pp = pa_model_pool(&t);
    ck_assert_ptr_nonnull(pp);
    const tb_pool_totals_t *tt = &tb_fields_pool_totals;
    ck_assert_uint_eq(pp->time_ns, tt->time_ns);
    ck_assert_uint_eq(pp->max_size, tt->max_size);
    ck_assert_uint_eq(pp->reserved, tt->reserved);
    ck_assert_uint_eq(pp->committed, tt->committed);
    ck_assert_uint_eq(pp->slab_bytes, tt->slab_bytes);
    ck_assert_uint_eq(pp->empty_bytes, tt->empty_bytes);
    ck_assert_uint_eq(pp->released_bytes, tt->released_bytes);
    ck_assert_uint_eq(pp->returned_bytes, tt->returned_bytes);
    ck_assert_uint_eq(pp->threads, tt->threads);
    ck_assert_uint_eq(pp->exhausted, tt->exhausted);
    ck_assert_uint_eq(pp->nclasses, 2);
    for (int i = 0; i < 2; i++)
        tu_pool_class_eq(&pp->classes[i], &tb_fields_pool_classes[i]);
    pa_model_free(&t);
    tb_free(&p[0]);
    tb_free(&p[1]);
}
END_TEST

static void check_lock(const pa_lock_t *k, const tb_lock_t *x, bool wakes, bool posts)
{
    ck_assert_uint_eq(k->address, x->address);
    ck_assert_uint_eq(k->kind, x->kind);
    ck_assert_uint_eq(k->flags, x->flags);
    ck_assert_uint_eq(k->first_use_stack, x->first_use);
    ck_assert_uint_eq(k->acquisitions, x->acquisitions);
    ck_assert_uint_eq(k->contended, x->contended);
    ck_assert_uint_eq(k->owner_changes, x->owner_changes);
    ck_assert_uint_eq(k->wait_ns, x->wait_ns);
    ck_assert_uint_eq(k->max_wait_ns, x->max_wait_ns);
    ck_assert_uint_eq(k->hold_ns, x->hold_ns);
    ck_assert_uint_eq(k->max_hold_ns, x->max_hold_ns);
    ck_assert_uint_eq(k->hold_samples, x->hold_samples);
    ck_assert_uint_eq(k->read_acquisitions, x->read_acquisitions);
    ck_assert_uint_eq(k->trylock_failures, x->trylock_failures);
    ck_assert_uint_eq(k->timeouts, x->timeouts);
    ck_assert_uint_eq(k->signals, x->signals);
    ck_assert_uint_eq(k->broadcasts, x->broadcasts);
    ck_assert_uint_eq(k->wake_ns, x->wake_ns);
    ck_assert_uint_eq(k->max_wake_ns, x->max_wake_ns);
    ck_assert(k->has_wakes == wakes);
    ck_assert_uint_eq(k->wakes, wakes ? x->wakes : 0);
    ck_assert(k->has_paired_posts == posts);
    ck_assert_uint_eq(k->paired_posts, posts ? x->paired_posts : 0);
}

/* Rows of 144 bytes (before `wakes`), 152 (with it), 160 (with `paired_posts`) and 176 (a
 * later, longer row) decode the same fields; the site rows after them are found in each
 * case. */
START_TEST(test_locks_decoded)
{
    static const uint32_t sizes[] = {PS_LOCK_ROW_SIZE, PS_LOCK_ROW_SIZE_WAKES,
                                     PS_LOCK_ROW_SIZE_POSTS, 176};
    const tb_locks_head_t *th = &tb_fields_locks_head;
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        tb_buf_t p = {0};
        tb_locks_with(&p, th, tb_fields_locks, 2, sizes[k], tb_fields_lock_sites, 2);
        const uint16_t type = PS_CHUNK_LOCKS;
        pa_trace_t t;
        load_with(&type, &p, 1, &t);
        ck_assert(t.has_locks);
        const pa_locks_t *l = &t.locks;
        ck_assert_uint_eq(l->time_ns, th->time_ns);
        ck_assert_uint_eq(l->sample, th->sample);
        ck_assert_uint_eq(l->flags, th->flags);
        ck_assert_uint_eq(l->untracked_ops, th->untracked_ops);
        ck_assert_uint_eq(l->retired_quiet, th->retired_quiet);
        ck_assert_uint_eq(l->retired_quiet_acquisitions, th->retired_quiet_acquisitions);
        ck_assert_uint_eq(l->nlocks, 2);
        for (int i = 0; i < 2; i++)
            check_lock(&l->locks[i], &tb_fields_locks[i], sizes[k] >= PS_LOCK_ROW_SIZE_WAKES,
                       sizes[k] >= PS_LOCK_ROW_SIZE_POSTS);
        ck_assert_uint_eq(l->nsites, 2);
        for (int i = 0; i < 2; i++) {
            const pa_lock_site_t *s = &l->sites[i];
            const tb_lock_site_t *x = &tb_fields_lock_sites[i];
            ck_assert_uint_eq(s->lock_index, x->lock_index);
            ck_assert_uint_eq(s->stack_id, x->stack_id);
            ck_assert_uint_eq(s->acquisitions, x->acquisitions);
            ck_assert_uint_eq(s->contended, x->contended);
            ck_assert_uint_eq(s->wait_ns, x->wait_ns);
            ck_assert_uint_eq(s->max_wait_ns, x->max_wait_ns);
            ck_assert_uint_eq(s->samples, x->samples);
        }
        pa_model_free(&t);
        tb_free(&p);
    }
}
END_TEST

/* INHERITED: the fork's header and every row, longer rows read by their declared prefix; a
 * later chunk replaces an earlier one. Encoded by hand here, from the spec. */
static void put_inherited(tb_buf_t *p, uint32_t row_size, uint32_t n)
{
    tb_u64(p, 2101); /* fork_ns */
    tb_u32(p, 2102); /* parent_pid */
    tb_u32(p, 0);    /* reserved */
    tb_u32(p, n);    /* count */
    tb_u32(p, row_size);
    for (uint32_t i = 0; i < n; i++) {
        tb_u32(p, 2 + i); /* stack_id */
        tb_u32(p, 0);
        tb_u64(p, 2110 + i); /* blocks */
        tb_u64(p, 2120 + i); /* bytes */
        for (uint32_t extra = PS_INHERITED_ROW_SIZE; extra < row_size; extra++)
            tb_bytes(p, "\xee", 1);
    }
}

START_TEST(test_inherited_decoded)
{
    tb_buf_t p[2] = {{0}};
    put_inherited(&p[0], PS_INHERITED_ROW_SIZE, 1);
    put_inherited(&p[1], PS_INHERITED_ROW_SIZE + 8, 2);
    const uint16_t types[] = {PS_CHUNK_INHERITED, PS_CHUNK_INHERITED};
    pa_trace_t t;
    load_with(types, p, 2, &t);
    for (int i = 0; i < 2; i++)
        tb_free(&p[i]);
    ck_assert(t.has_inherited);
    ck_assert_uint_eq(t.inherited_head.fork_ns, 2101);
    ck_assert_uint_eq(t.inherited_head.parent_pid, 2102);
    ck_assert_uint_eq(t.ninherited, 2);
    for (uint32_t i = 0; i < 2; i++) {
        ck_assert_uint_eq(t.inherited[i].stack_id, 2 + i);
        ck_assert_uint_eq(t.inherited[i].blocks, 2110 + i);
        ck_assert_uint_eq(t.inherited[i].bytes, 2120 + i);
    }
    pa_model_free(&t);
}
END_TEST

/* ALERT: every row of every chunk kept, longer rows read by their declared prefix; a row
 * shorter than PS_ALERT_ROW_SIZE makes the chunk malformed (skipped, said). */
START_TEST(test_alert_decoded)
{
    const uint64_t(*tr)[5] = tb_fields_alert_rows;
    tb_buf_t p[3] = {{0}};
    tb_alert(&p[0], 1701, tr, 2, PS_ALERT_ROW_SIZE);
    tb_alert(&p[1], 1702, tr, 1, PS_ALERT_ROW_SIZE + 8);
    tb_alert(&p[2], 1703, tr, 1, PS_ALERT_ROW_SIZE - 8);
    const uint16_t types[] = {PS_CHUNK_ALERT, PS_CHUNK_ALERT, PS_CHUNK_ALERT};
    pa_trace_t t;
    tu_typical_load("alerts.trace", types, p, 3, &t);
    for (int i = 0; i < 3; i++)
        tb_free(&p[i]);
    ck_assert_uint_eq(t.nalerts, 3);
    const int want[3] = {0, 1, 0};
    for (int i = 0; i < 3; i++) {
        const pa_alert_t *a = &t.alerts[i];
        const uint64_t *x = tr[want[i]];
        ck_assert_uint_eq(a->kind, x[0]);
        ck_assert_uint_eq(a->time_ns, x[1]);
        ck_assert_uint_eq(a->value, x[2]);
        ck_assert_uint_eq(a->threshold, x[3]);
        ck_assert_uint_eq(a->base, x[4]);
    }
    ck_assert_str_eq(pa_model_alert_name(PS_ALERT_CGROUP), "cgroup");
    ck_assert_str_eq(pa_model_alert_name(99), "unknown");
    ck_assert_str_eq(pa_model_reason_name(PS_SNAP_ALERT), "alert");
    ck_assert_str_eq(pa_model_reason_name(PS_SNAP_MAX), "max");
    ck_assert(t.damaged); /* the third chunk's rows are too short */
    pa_model_free(&t);
}
END_TEST

START_TEST(test_timing_decoded)
{
    tb_buf_t p[4] = {{0}};
    tb_threads_with(&p[0], 1001, 1002, 1003, tb_fields_threads, 2);
    tb_cpu_with(&p[1], 1101, 1102, 1103, 1104, 1105, tb_fields_cpu_rows, 2);
    const uint64_t *ev = tb_fields_latency_events;
    tb_latency_with(&p[2], 1201, 1202, 1203, ev, 1);
    tb_u32(&p[2], 2);    /* op */
    tb_u32(&p[2], 1204); /* size_max */
    const uint64_t values[] = {5, 6, 700};
    tb_hist(&p[2], values, 3);
    tb_zones_with(&p[3], 1301, 1302, 1303, 1304, 1305, 0);
    const uint16_t types[] = {PS_CHUNK_THREADS, PS_CHUNK_CPU, PS_CHUNK_LATENCY, PS_CHUNK_ZONES};
    pa_trace_t t;
    load_with(types, p, 4, &t);

    const pa_threads_t *th = &t.threads;
    ck_assert(t.has_threads);
    ck_assert_uint_eq(th->time_ns, 1001);
    ck_assert_uint_eq(th->created, 1002);
    ck_assert_uint_eq(th->dropped, 1003);
    ck_assert_uint_eq(th->n, 2);
    for (int i = 0; i < 2; i++) {
        const pa_thread_t *r = &th->threads[i];
        const tb_thread_t *x = &tb_fields_threads[i];
        ck_assert_uint_eq(r->tid, x->tid);
        ck_assert_uint_eq(r->creator_tid, x->creator);
        ck_assert_uint_eq(r->start_stack, x->start_stack);
        ck_assert_uint_eq(r->flags, x->flags);
        ck_assert_uint_eq(r->start_ns, x->start_ns);
        ck_assert_uint_eq(r->end_ns, x->end_ns);
        ck_assert_uint_eq(r->cpu_ns, x->cpu_ns);
        ck_assert_str_eq(r->name, x->name); /* 16 bytes without a NUL: terminated */
        ck_assert_uint_eq(r->start_routine, x->routine);
    }

    const pa_cpu_t *c = &t.cpu;
    ck_assert(t.has_cpu);
    ck_assert_uint_eq(c->time_ns, 1101);
    ck_assert_uint_eq(c->hz, 1102);
    ck_assert_uint_eq(c->flags, 0);
    ck_assert_uint_eq(c->samples, 1103);
    ck_assert_uint_eq(c->dropped, 1104);
    ck_assert_uint_eq(c->partial, 1105);
    ck_assert_uint_eq(c->n, 2);
    for (int i = 0; i < 2; i++) {
        ck_assert_uint_eq(c->rows[i].stack_id, tb_fields_cpu_rows[i][0]);
        ck_assert_uint_eq(c->rows[i].threads, tb_fields_cpu_rows[i][1]);
        ck_assert_uint_eq(c->rows[i].samples, tb_fields_cpu_rows[i][2]);
    }

    const pa_latency_t *l = &t.latency;
    ck_assert(t.has_latency);
    ck_assert_uint_eq(l->time_ns, 1201);
    ck_assert_uint_eq(l->tick_hz, 1202);
    ck_assert_uint_eq(l->sample, 1203);
    ck_assert_uint_eq(l->flags, 0);
    ck_assert_uint_eq(l->pooled, ev[0]);
    ck_assert_uint_eq(l->forwarded, ev[1]);
    ck_assert_uint_eq(l->forwarded_large, ev[2]);
    ck_assert_uint_eq(l->pool_refills, ev[3]);
    ck_assert_uint_eq(l->pool_flushes, ev[4]);
    ck_assert_uint_eq(l->pool_commits, ev[5]);
    ck_assert_uint_eq(l->nrows, 1);
    ck_assert_uint_eq(l->rows[0].op, 2);
    ck_assert_uint_eq(l->rows[0].size_max, 1204);
    ck_assert_uint_eq(l->rows[0].hist.count, 3);
    ck_assert_uint_eq(l->rows[0].hist.max, 700);

    const pa_zones_t *z = &t.zones;
    ck_assert(t.has_zones);
    ck_assert_uint_eq(z->time_ns, 1301);
    ck_assert_uint_eq(z->tick_hz, 1302);
    ck_assert_uint_eq(z->unmatched_ends, 1303);
    ck_assert_uint_eq(z->too_deep, 1304);
    ck_assert_uint_eq(z->dropped, 1305);
    ck_assert_uint_eq(z->n, 0);
    pa_model_free(&t);
    for (int i = 0; i < 4; i++)
        tb_free(&p[i]);
}
END_TEST

START_TEST(test_end_decoded)
{
    tb_buf_t g = {0}, f = {0}, p = {0};
    size_t o[5];
    tb_typical(&g, o);
    tb_bytes(&f, g.data, o[4]); /* everything before END */
    tb_end_with(&p, 4, 1402);
    tb_chunk(&f, PS_CHUNK_END, &p);
    const char *path = tu_path("end.trace");
    ck_assert_int_eq(tb_write_file(path, f.data, f.len), 0);
    pa_trace_t t;
    ck_assert_int_eq(pa_model_load(path, true, &t), PA_OK);
    ck_assert(t.has_end);
    ck_assert_uint_eq(t.end_chunk_count, 4);
    ck_assert_uint_eq(t.dropped_events, 1402);
    ck_assert(tu_has(&t.warnings, "dropped 1402 events"));
    pa_model_free(&t);
    tb_free(&g);
    tb_free(&f);
    tb_free(&p);
}
END_TEST

/* ---- JSON members -------------------------------------------------------------------------- */

static char *json_of(void (*write)(pa_json_t *j, const void *arg), const void *arg)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    ck_assert_ptr_nonnull(out);
    pa_json_t j;
    pa_json_init(&j, out);
    pa_json_object_begin(&j, true);
    write(&j, arg);
    pa_json_object_end(&j);
    fclose(out);
    return text;
}

static void thread_members(pa_json_t *j, const void *arg)
{
    PA_ROW_JSON(j, THREAD, (const pa_thread_t *)arg, tid, start_routine);
}

static void pool_members(pa_json_t *j, const void *arg)
{
    const pa_pool_t *p = arg;
    PA_ROW_JSON1(j, POOL_HEAD, p, exhausted);
    PA_ROW_JSON(j, POOL_HEAD, p, time_ns, max_size);
}

static void lock_members(pa_json_t *j, const void *arg)
{
    PA_ROW_JSON(j, LOCK, (const pa_lock_t *)arg, address, contended);
}

/* Declared names and kinds; fields of kind none left out; only the span asked for. */
START_TEST(test_json_members)
{
    pa_thread_t th = {.tid = 7,
                      .creator_tid = 8,
                      .start_stack = 9,
                      .flags = 1,
                      .start_ns = 10,
                      .end_ns = 0,
                      .cpu_ns = 12,
                      .name = "a\"b",
                      .start_routine = 0};
    char *s = json_of(thread_members, &th);
    ck_assert_str_eq(s, "{\"tid\": 7, \"start_ns\": 10, \"end_ns\": null, \"cpu_ns\": 12, "
                        "\"name\": \"a\\\"b\", \"start_routine_address\": null}");
    free(s);
    th.end_ns = 11;
    th.start_routine = 0x401000;
    s = json_of(thread_members, &th);
    ck_assert_ptr_nonnull(strstr(s, "\"end_ns\": 11, "));
    ck_assert_ptr_nonnull(strstr(s, "\"start_routine_address\": \"0x401000\""));
    free(s);

    pa_pool_t p = {.time_ns = 5, .max_size = 1024, .exhausted = 2};
    s = json_of(pool_members, &p);
    ck_assert_str_eq(s, "{\"exhausted\": true, \"time_ns\": 5, \"max_size\": 1024}");
    free(s);

    pa_lock_t k = {.address = 0xabc, .kind = 1, .flags = 1, .acquisitions = 3, .contended = 2};
    s = json_of(lock_members, &k);
    ck_assert_str_eq(s, "{\"address\": \"0xabc\", \"acquisitions\": 3, \"contended\": 2}");
    free(s);
}
END_TEST

/* LEAK_KINDS: the header and every row, encoded by hand (an independent writer); a longer row is
 * read by its declared prefix; the chunk counts only while the snapshot it names is reported. */
static void leak_kinds_payload(tb_buf_t *p, uint64_t time_ns, uint32_t row_size)
{
    tb_u64(p, time_ns);
    for (uint64_t v = 1801; v <= 1809; v++) /* blocks .. scan_ns */
        tb_u64(p, v);
    tb_u32(p, 1810); /* threads */
    tb_u32(p, PS_LEAK_F_THREADS_RAN);
    tb_u32(p, 2);
    tb_u32(p, row_size);
    for (uint32_t r = 0; r < 2; r++) {
        tb_u32(p, 1 + r);                                      /* stack_id */
        tb_u32(p, r ? PS_LEAK_REACHABLE : PS_LEAK_INDIRECTLY); /* kind */
        tb_u64(p, 1820 + r);                                   /* blocks */
        tb_u64(p, 1830 + r);                                   /* bytes */
        for (uint32_t x = PS_LEAK_KIND_ROW_SIZE; x < row_size; x++)
            tb_bytes(p, "\xee", 1);
    }
}

START_TEST(test_leak_kinds_decoded)
{
    tb_buf_t p = {0};
    leak_kinds_payload(&p, TB_SNAPSHOT_TIME_NS, PS_LEAK_KIND_ROW_SIZE + 8);
    const uint16_t type = PS_CHUNK_LEAK_KINDS;
    pa_trace_t t;
    load_with(&type, &p, 1, &t);
    tb_free(&p);
    size_t n;
    const ps_row_leak_kind_t *r = pa_model_leak_kinds(&t, &n);
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(t.leak_head.blocks, 1801);
    ck_assert_uint_eq(t.leak_head.reachable, 1805);
    ck_assert_uint_eq(t.leak_head.scan_ns, 1809);
    ck_assert_uint_eq(t.leak_head.threads, 1810);
    ck_assert_uint_eq(t.leak_head.flags, PS_LEAK_F_THREADS_RAN);
    for (uint32_t i = 0; i < 2; i++) {
        ck_assert_uint_eq(r[i].stack_id, 1 + i);
        ck_assert_uint_eq(r[i].kind, i ? PS_LEAK_REACHABLE : PS_LEAK_INDIRECTLY);
        ck_assert_uint_eq(r[i].blocks, 1820 + i);
        ck_assert_uint_eq(r[i].bytes, 1830 + i);
    }
    ck_assert_str_eq(pa_model_leak_kind_name(PS_LEAK_POSSIBLY), "possibly");
    ck_assert_str_eq(pa_model_leak_kind_name(0), "unscanned");
    pa_model_free(&t);

    /* another snapshot's: not used */
    leak_kinds_payload(&p, TB_SNAPSHOT_TIME_NS + 1, PS_LEAK_KIND_ROW_SIZE);
    load_with(&type, &p, 1, &t);
    tb_free(&p);
    ck_assert_ptr_null(pa_model_leak_kinds(&t, &n));
    ck_assert_uint_eq(n, 0);
    pa_model_free(&t);

    /* rows too short: malformed, skipped */
    leak_kinds_payload(&p, TB_SNAPSHOT_TIME_NS, PS_LEAK_KIND_ROW_SIZE - 8);
    tu_typical_load("kinds.trace", &type, &p, 1, &t);
    tb_free(&p);
    ck_assert(t.damaged);
    ck_assert_ptr_null(pa_model_leak_kinds(&t, &n));
    pa_model_free(&t);
}
END_TEST

/* ---- the declaration itself, and docs/trace-format.md -------------------------------------- */

static const char *doc_type(const char *type)
{
    if (strcmp(type, "pad32") == 0)
        return "u32";
    if (strcmp(type, "name16") == 0)
        return "bytes(16)";
    return type;
}

static bool known_unit(const char *unit)
{
    static const char *const units[] = {"ns",       "bytes", "count", "hz",   "addr",
                                        "stack_id", "tid",   "index", "enum", "flags",
                                        "bool",     "text",  "-"};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strcmp(unit, units[i]) == 0)
            return true;
    return false;
}

/* One field: its docs line appended to want[*n], and its declaration's own rules checked. */
static void doc_line(char *want, size_t *n, unsigned *off, const char *type, unsigned size,
                     const char *name, const char *unit, const char *json, const char *json_name,
                     const char *meaning)
{
    ck_assert_msg(known_unit(unit), "%s: unit %s is not one of trace_rows.h's", name, unit);
    ck_assert_msg((strcmp(json, "none") == 0) == (strcmp(json_name, "-") == 0),
                  "%s: a JSON name exactly when its kind is not none", name);
    ck_assert_msg(strcmp(type, "pad32") || strcmp(json, "none") == 0, "%s: a pad in JSON", name);
    ck_assert_msg(!strpbrk(meaning, "|\n") && *meaning, "%s: its meaning breaks the table", name);
    *n += (size_t)snprintf(want + *n, 65536 - *n, "| %u | %u | %s | %s | %s | %s |\n", *off, size,
                           doc_type(type), name, unit, meaning);
    *off += size;
}

static void doc_record(const char *doc, const char *record, const char *want)
{
    if (!strstr(doc, want))
        fprintf(stderr, "docs/trace-format.md should have, for %s, the lines\n%s", record, want);
    ck_assert_msg(strstr(doc, want),
                  "docs/trace-format.md: the table of %s differs from "
                  "trace_rows.h (the expected lines are on stderr)",
                  record);
}

#define DOC_LINE(c, type, name, unit, json, json_name, meaning)                                    \
    doc_line(want, &n, &off, #type, PS_ROW_WIRE_##type, #name, #unit, #json, #json_name, meaning);
#define DOC_RECORD(ID, lname)                                                                      \
    {                                                                                              \
        size_t n = 0;                                                                              \
        /* offsets from the payload's start; SNAPSHOT's totals follow its header */                \
        unsigned base = strcmp(#ID, "SNAPSHOT_TOTALS") ? 0 : PS_ROW_WIRE_SIZE(SNAPSHOT_HEAD);      \
        unsigned off = base;                                                                       \
        PS_ROW_##ID(DOC_LINE, _) doc_record(doc, #ID, want);                                       \
        ck_assert_uint_eq(off - base, PS_ROW_WIRE_SIZE(ID));                                       \
    }

START_TEST(test_docs_tables)
{
    FILE *f = fopen(PERFSHIM_SOURCE_DIR "/docs/trace-format.md", "r");
    ck_assert_msg(f != NULL, "docs/trace-format.md missing");
    static char doc[262144], want[65536];
    size_t len = fread(doc, 1, sizeof doc - 1, f);
    ck_assert_uint_lt(len, sizeof doc - 1);
    doc[len] = 0;
    fclose(f);
    PS_TRACE_ROWS(DOC_RECORD)
}
END_TEST

int main(void)
{
    tu_setup("check_analyzer_rows");
    Suite *s = suite_create("analyzer_rows");
    TCase *tc = tcase_create("rows");
    tcase_add_test(tc, test_snapshot_pool_decoded);
    tcase_add_test(tc, test_locks_decoded);
    tcase_add_test(tc, test_timing_decoded);
    tcase_add_test(tc, test_alert_decoded);
    tcase_add_test(tc, test_leak_kinds_decoded);
    tcase_add_test(tc, test_inherited_decoded);
    tcase_add_test(tc, test_end_decoded);
    tcase_add_test(tc, test_json_members);
    tcase_add_test(tc, test_docs_tables);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
