/* SPDX-License-Identifier: MIT */
/*
 * trace_builder.c — the test-side trace encoder (see trace_builder.h). Aborts on out of memory:
 * it only runs inside tests.
 */
#include "trace_builder.h"

#include "trace_format.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

void tb_bytes(tb_buf_t *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap *= 2;
        b->data = realloc(b->data, cap);
        if (!b->data)
            abort();
        b->cap = cap;
    }
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void put_le(tb_buf_t *b, uint64_t v, int n)
{
    uint8_t x[8];
    for (int i = 0; i < n; i++)
        x[i] = (uint8_t)(v >> (8 * i));
    tb_bytes(b, x, (size_t)n);
}

void tb_u16(tb_buf_t *b, uint16_t v)
{
    put_le(b, v, 2);
}

void tb_u32(tb_buf_t *b, uint32_t v)
{
    put_le(b, v, 4);
}

void tb_u64(tb_buf_t *b, uint64_t v)
{
    put_le(b, v, 8);
}

void tb_str(tb_buf_t *b, const char *s)
{
    size_t n = strlen(s);
    tb_u32(b, (uint32_t)n);
    tb_bytes(b, s, n);
}

void tb_free(tb_buf_t *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

void tb_file_header(tb_buf_t *f, uint16_t version)
{
    tb_bytes(f, PS_TRACE_MAGIC, PS_TRACE_MAGIC_LEN);
    tb_u16(f, version);
    tb_u16(f, 0);
    tb_u32(f, PS_TRACE_FILE_HEADER_SIZE);
}

size_t tb_chunk(tb_buf_t *f, uint16_t type, const tb_buf_t *p)
{
    size_t off = f->len;
    tb_buf_t h = {0};
    tb_u32(&h, PS_CHUNK_SYNC);
    tb_u16(&h, type);
    tb_u16(&h, 0);
    tb_u32(&h, (uint32_t)p->len);
    uLong crc = crc32(0L, h.data, 12);
    crc = crc32(crc, p->data ? p->data : (const Bytef *)"", (uInt)p->len);
    tb_u32(&h, (uint32_t)crc);
    tb_bytes(f, h.data, h.len);
    tb_bytes(f, p->data, p->len);
    tb_free(&h);
    return off;
}

void tb_process(tb_buf_t *p, uint64_t pid, const char *program, int argc, const char *const *argv)
{
    tb_u64(p, pid);
    tb_u64(p, 1);
    tb_u64(p, 1700000000ull * 1000000000ull);
    tb_u64(p, 12345);
    tb_str(p, "0.1.0-test");
    tb_str(p, program);
    tb_str(p, "testhost");
    tb_u32(p, (uint32_t)argc);
    for (int i = 0; i < argc; i++)
        tb_str(p, argv[i]);
    tb_str(p, "PERFSHIM_MODE=full\nPERFSHIM_DEPTH=64\n");
    tb_u32(p, 8);
    tb_u32(p, 4096);
}

void tb_modules(tb_buf_t *p, const tb_module_t *m, uint32_t n)
{
    tb_u32(p, n);
    for (uint32_t i = 0; i < n; i++) {
        tb_u64(p, m[i].base);
        tb_u64(p, m[i].start);
        tb_u64(p, m[i].end);
        tb_str(p, m[i].path);
        tb_u32(p, m[i].build_id_len);
        tb_bytes(p, m[i].build_id, m[i].build_id_len);
    }
}

void tb_unloaded_modules(tb_buf_t *p, const tb_module_t *m, const uint64_t *unload_ns, uint32_t n,
                         uint64_t dropped)
{
    tb_u32(p, n);
    tb_u32(p, 0);
    tb_u64(p, dropped);
    for (uint32_t i = 0; i < n; i++) {
        tb_u64(p, m[i].base);
        tb_u64(p, m[i].start);
        tb_u64(p, m[i].end);
        tb_str(p, m[i].path);
        tb_u32(p, m[i].build_id_len);
        tb_bytes(p, m[i].build_id, m[i].build_id_len);
        tb_u64(p, unload_ns[i]);
    }
}

void tb_stacks_begin(tb_buf_t *p, uint32_t count)
{
    tb_u32(p, count);
}

void tb_stack(tb_buf_t *p, uint32_t id, uint32_t depth, const uint64_t *addrs)
{
    tb_u32(p, id);
    tb_u32(p, depth);
    for (uint32_t i = 0; i < depth; i++)
        tb_u64(p, addrs[i]);
}

void tb_varint(tb_buf_t *p, uint64_t v)
{
    do {
        uint8_t b = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v)
            b |= 0x80;
        tb_bytes(p, &b, 1);
    } while (v);
}

/* docs/trace-format.md, STACKS_PACKED: positions counted from the outermost frame. */
void tb_stack_packed(tb_buf_t *p, uint32_t id, uint32_t depth, const uint64_t *addrs,
                     uint32_t prev_id, uint32_t pdepth, const uint64_t *prev)
{
    uint32_t shared = 0;
    while (shared < depth && shared < pdepth &&
           addrs[depth - 1 - shared] == prev[pdepth - 1 - shared])
        shared++;
    tb_varint(p, id - prev_id);
    tb_varint(p, depth);
    tb_varint(p, shared);
    for (uint32_t pos = shared; pos < depth; pos++) {
        uint64_t ref = 0;
        if (pos == shared && pos < pdepth)
            ref = prev[pdepth - 1 - pos];
        else if (pos > 0)
            ref = addrs[depth - pos]; /* the frame one place further out */
        uint64_t d = addrs[depth - 1 - pos] - ref;
        tb_varint(p, (d << 1) ^ (uint64_t) - (int64_t)(d >> 63));
    }
}

void tb_snapshot(tb_buf_t *p, uint32_t reason, const tb_row_t *rows, uint32_t n, uint64_t peak_live,
                 uint64_t rss, uint64_t peak_rss)
{
    tb_snapshot_at(p, TB_SNAPSHOT_TIME_NS, reason, rows, n, peak_live, rss, peak_rss);
}

void tb_snapshot_at(tb_buf_t *p, uint64_t time_ns, uint32_t reason, const tb_row_t *rows,
                    uint32_t n, uint64_t peak_live, uint64_t rss, uint64_t peak_rss)
{
    uint64_t allocs = 0, frees = 0, ab = 0, fb = 0, lb = 0, lbytes = 0;
    for (uint32_t i = 0; i < n; i++) {
        allocs += rows[i].allocs;
        frees += rows[i].frees;
        ab += rows[i].alloc_bytes;
        fb += rows[i].freed_bytes;
        lb += rows[i].live_blocks;
        lbytes += rows[i].live_bytes;
    }
    tb_u64(p, time_ns);
    tb_u32(p, reason);
    tb_u32(p, 0);
    tb_u64(p, allocs);
    tb_u64(p, frees);
    tb_u64(p, ab);
    tb_u64(p, fb);
    tb_u64(p, lb);
    tb_u64(p, lbytes);
    tb_u64(p, peak_live);
    tb_u64(p, rss);
    tb_u64(p, peak_rss);
    tb_u64(p, 3); /* untracked frees */
    tb_u32(p, n);
    tb_u32(p, PS_SNAPSHOT_ROW_SIZE);
    for (uint32_t i = 0; i < n; i++)
        tb_row(p, &rows[i]);
}

void tb_row(tb_buf_t *p, const tb_row_t *r)
{
    tb_u32(p, r->stack_id);
    tb_u32(p, 0);
    tb_u64(p, r->allocs);
    tb_u64(p, r->alloc_bytes);
    tb_u64(p, r->frees);
    tb_u64(p, r->freed_bytes);
    tb_u64(p, r->live_blocks);
    tb_u64(p, r->live_bytes);
    tb_u64(p, r->peak_live_bytes);
}

void tb_pool(tb_buf_t *p, const tb_pool_totals_t *t, const tb_pool_class_t *c, uint32_t n,
             uint32_t row_size)
{
    tb_u64(p, t->time_ns);
    tb_u64(p, t->max_size);
    tb_u64(p, t->reserved);
    tb_u64(p, t->committed);
    tb_u64(p, t->slab_bytes);
    tb_u64(p, t->empty_bytes);
    tb_u64(p, t->released_bytes);
    tb_u64(p, t->returned_bytes);
    tb_u32(p, t->threads);
    tb_u32(p, t->exhausted);
    tb_u32(p, n);
    tb_u32(p, row_size);
    for (uint32_t i = 0; i < n; i++) {
        tb_buf_t r = {0};
        tb_u32(&r, c[i].size);
        tb_u32(&r, c[i].slabs);
        tb_u64(&r, c[i].allocs);
        tb_u64(&r, c[i].hits);
        tb_u64(&r, c[i].misses);
        tb_u64(&r, c[i].refills);
        tb_u64(&r, c[i].flushes);
        tb_u64(&r, c[i].flushed_blocks);
        tb_u64(&r, c[i].direct_frees);
        tb_u64(&r, c[i].bytes_in_use);
        tb_u64(&r, c[i].bytes_cached);
        tb_u64(&r, c[i].bytes_central);
        tb_u64(&r, c[i].bytes_returned);
        while (r.len < row_size) {
            uint8_t fill = 0xee;
            tb_bytes(&r, &fill, 1);
        }
        tb_bytes(p, r.data, row_size < r.len ? row_size : r.len);
        tb_free(&r);
    }
}

/* docs/trace-format.md, POOL_PACKED: zigzag differences field by field, in the tables' order. */
static void tb_zigzag(tb_buf_t *p, uint64_t cur, uint64_t base)
{
    uint64_t d = cur - base;
    tb_varint(p, (d << 1) ^ (0 - (d >> 63)));
}

void tb_pool_packed(tb_buf_t *p, const tb_pool_totals_t *t, const tb_pool_class_t *c, uint32_t n,
                    const tb_pool_totals_t *bt, const tb_pool_class_t *bc, uint32_t nb)
{
    tb_u64(p, t->time_ns);
    tb_u64(p, bt->time_ns);
    tb_varint(p, 9);
    tb_zigzag(p, t->max_size, bt->max_size);
    tb_zigzag(p, t->reserved, bt->reserved);
    tb_zigzag(p, t->committed, bt->committed);
    tb_zigzag(p, t->slab_bytes, bt->slab_bytes);
    tb_zigzag(p, t->empty_bytes, bt->empty_bytes);
    tb_zigzag(p, t->released_bytes, bt->released_bytes);
    tb_zigzag(p, t->returned_bytes, bt->returned_bytes);
    tb_zigzag(p, t->threads, bt->threads);
    tb_zigzag(p, t->exhausted, bt->exhausted);
    tb_varint(p, n);
    tb_buf_t rows = {0};
    uint32_t listed = 0, prev = 0;
    for (uint32_t i = 0; i < n; i++) {
        const tb_pool_class_t zero = {.size = c[i].size}, *b = &zero;
        for (uint32_t k = 0; k < nb; k++)
            if (bc[k].size == c[i].size)
                b = &bc[k];
        if (b != &zero && !memcmp(b, &c[i], sizeof c[i]))
            continue;
        tb_varint(&rows, c[i].size - prev);
        prev = c[i].size;
        listed++;
        tb_zigzag(&rows, c[i].slabs, b->slabs);
        tb_zigzag(&rows, c[i].allocs, b->allocs);
        tb_zigzag(&rows, c[i].hits, b->hits);
        tb_zigzag(&rows, c[i].misses, b->misses);
        tb_zigzag(&rows, c[i].refills, b->refills);
        tb_zigzag(&rows, c[i].flushes, b->flushes);
        tb_zigzag(&rows, c[i].flushed_blocks, b->flushed_blocks);
        tb_zigzag(&rows, c[i].direct_frees, b->direct_frees);
        tb_zigzag(&rows, c[i].bytes_in_use, b->bytes_in_use);
        tb_zigzag(&rows, c[i].bytes_cached, b->bytes_cached);
        tb_zigzag(&rows, c[i].bytes_central, b->bytes_central);
        tb_zigzag(&rows, c[i].bytes_returned, b->bytes_returned);
    }
    tb_varint(p, listed);
    tb_varint(p, 12);
    tb_bytes(p, rows.data, rows.len);
    tb_free(&rows);
}

const tb_pool_totals_t tb_typical_pool_totals = {
    .time_ns = TB_SNAPSHOT_TIME_NS,
    .max_size = 1024,
    .reserved = 16ull << 30,
    .committed = 4 << 20,
    .slab_bytes = 2 << 20,
    .empty_bytes = 64 << 10,
    .released_bytes = 128 << 10,
    .returned_bytes = 256 << 10,
    .threads = 3,
    .exhausted = 0,
};

/* size, slabs, allocs, hits, misses, refills, flushes, flushed_blocks, direct_frees, in_use,
 * cached, central, returned */
const tb_pool_class_t tb_typical_pool_classes[4] = {
    {16, 2, 1000, 990, 10, 10, 4, 256, 0, 1600, 3200, 800, 0},
    {32, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
    {48, 1, 200, 150, 50, 50, 20, 640, 5, 4800, 960, 0, 65536},
    {1024, 1, 3, 0, 3, 3, 0, 0, 1, 1024, 0, 2048, 0},
};

void tb_end(tb_buf_t *p, uint64_t chunk_count)
{
    tb_end_with(p, chunk_count, 0);
}

void tb_end_with(tb_buf_t *p, uint64_t chunk_count, uint64_t dropped_events)
{
    tb_u64(p, chunk_count);
    tb_u64(p, dropped_events);
}

void tb_typical(tb_buf_t *f, size_t offs[5])
{
    size_t o[5];
    tb_buf_t p = {0};
    tb_file_header(f, PS_TRACE_VERSION);

    const char *argv[] = {"prog", "--flag"};
    tb_process(&p, 4242, "/nonexistent/prog", 2, argv);
    o[0] = tb_chunk(f, PS_CHUNK_PROCESS, &p);
    p.len = 0;

    tb_module_t m = {0x400000, 0x400000, 0x500000, "/nonexistent/prog", NULL, 0};
    tb_modules(&p, &m, 1);
    o[1] = tb_chunk(f, PS_CHUNK_MODULES, &p);
    p.len = 0;

    uint64_t s1[] = {0x401000, 0x402000}, s2[] = {0x403000, 0x402000}, s3[] = {0x404000};
    tb_stacks_begin(&p, 3);
    tb_stack(&p, 1, 2, s1);
    tb_stack(&p, 2, 2, s2);
    tb_stack(&p, 3, 1, s3);
    o[2] = tb_chunk(f, PS_CHUNK_STACKS, &p);
    p.len = 0;

    tb_row_t rows[] = {
        {1, 5, 500, 3, 300, 2, 200, 400},
        {2, 1, 1000, 0, 0, 1, 1000, 1000},
        {3, 10, 10000, 10, 10000, 0, 0, 5000},
    };
    tb_snapshot(&p, PS_SNAP_EXIT, rows, 3, 6000, 1 << 20, 2 << 20);
    o[3] = tb_chunk(f, PS_CHUNK_SNAPSHOT, &p);
    p.len = 0;

    tb_end(&p, 4);
    o[4] = tb_chunk(f, PS_CHUNK_END, &p);
    tb_free(&p);
    if (offs)
        memcpy(offs, o, sizeof o);
}

void tb_typical_pool(tb_buf_t *f, size_t offs[6])
{
    tb_buf_t g = {0}, p = {0};
    size_t o[5];
    tb_typical(&g, o);
    tb_bytes(f, g.data, o[4]); /* everything before END */
    tb_pool(&p, &tb_typical_pool_totals, tb_typical_pool_classes, 4, PS_POOL_ROW_SIZE);
    size_t pool = tb_chunk(f, PS_CHUNK_POOL, &p);
    p.len = 0;
    tb_end(&p, 5);
    size_t end = tb_chunk(f, PS_CHUNK_END, &p);
    if (offs) {
        memcpy(offs, o, 4 * sizeof *o);
        offs[4] = pool;
        offs[5] = end;
    }
    tb_free(&g);
    tb_free(&p);
}

/* The bucket of a value, from the rule in docs/trace-format.md: index v below 32; else
 * s = floor(log2 v) - 4 and index 16 * s + (v >> s). */
static uint32_t hist_bucket(uint64_t v)
{
    if (v < 32)
        return (uint32_t)v;
    uint32_t e = 0;
    while ((v >> e) > 1)
        e++;
    uint32_t s = e - 4, i = 16 * s + (uint32_t)(v >> s);
    return i < PS_HIST_BUCKETS ? i : PS_HIST_BUCKETS - 1;
}

void tb_hist(tb_buf_t *p, const uint64_t *values, size_t n)
{
    static uint64_t counts[PS_HIST_BUCKETS];
    memset(counts, 0, sizeof counts);
    uint64_t sum = 0, max = 0;
    for (size_t i = 0; i < n; i++) {
        counts[hist_bucket(values[i])]++;
        sum += values[i];
        if (values[i] > max)
            max = values[i];
    }
    uint32_t nz = 0;
    for (uint32_t i = 0; i < PS_HIST_BUCKETS; i++)
        nz += counts[i] != 0;
    tb_u64(p, n);
    tb_u64(p, sum);
    tb_u64(p, max);
    tb_u32(p, nz);
    for (uint32_t i = 0; i < PS_HIST_BUCKETS; i++)
        if (counts[i]) {
            tb_u32(p, i);
            tb_u64(p, counts[i]);
        }
}

void tb_locks(tb_buf_t *p, uint64_t time_ns, uint32_t sample, const tb_lock_t *l, uint32_t n,
              uint32_t row_size, const tb_lock_site_t *s, uint32_t nsites)
{
    tb_locks_head_t h = {.time_ns = time_ns, .sample = sample};
    tb_locks_with(p, &h, l, n, row_size, s, nsites);
}

void tb_locks_with(tb_buf_t *p, const tb_locks_head_t *h, const tb_lock_t *l, uint32_t n,
                   uint32_t row_size, const tb_lock_site_t *s, uint32_t nsites)
{
    tb_u64(p, h->time_ns);
    tb_u32(p, h->sample);
    tb_u32(p, h->flags);
    tb_u64(p, h->untracked_ops);
    tb_u64(p, h->retired_quiet);
    tb_u64(p, h->retired_quiet_acquisitions);
    tb_u32(p, n);
    tb_u32(p, row_size);
    for (uint32_t i = 0; i < n; i++) {
        size_t start = p->len;
        const tb_lock_t *k = &l[i];
        tb_u64(p, k->address);
        tb_u32(p, k->kind);
        tb_u32(p, k->flags);
        tb_u32(p, k->first_use);
        tb_u32(p, 0);
        const uint64_t v[] = {
            k->acquisitions,      k->contended,        k->owner_changes, k->wait_ns,
            k->max_wait_ns,       k->hold_ns,          k->max_hold_ns,   k->hold_samples,
            k->read_acquisitions, k->trylock_failures, k->timeouts,      k->signals,
            k->broadcasts,        k->wake_ns,          k->max_wake_ns,   k->wakes,
            k->paired_posts};
        for (size_t f = 0; f < sizeof v / sizeof v[0] && p->len - start < row_size; f++)
            tb_u64(p, v[f]);
        while (p->len - start < row_size)
            tb_bytes(p, "î", 1);
    }
    tb_u32(p, nsites);
    tb_u32(p, PS_LOCK_SITE_ROW_SIZE);
    for (uint32_t i = 0; i < nsites; i++) {
        tb_u32(p, s[i].lock_index);
        tb_u32(p, s[i].stack_id);
        tb_u64(p, s[i].acquisitions);
        tb_u64(p, s[i].contended);
        tb_u64(p, s[i].wait_ns);
        tb_u64(p, s[i].max_wait_ns);
        tb_u64(p, s[i].samples);
    }
}

void tb_threads(tb_buf_t *p, uint64_t time_ns, uint64_t created, const tb_thread_t *t, uint32_t n)
{
    tb_threads_with(p, time_ns, created, 0, t, n);
}

void tb_threads_with(tb_buf_t *p, uint64_t time_ns, uint64_t created, uint64_t dropped,
                     const tb_thread_t *t, uint32_t n)
{
    tb_u64(p, time_ns);
    tb_u64(p, created);
    tb_u64(p, dropped);
    tb_u32(p, n);
    tb_u32(p, PS_THREAD_ROW_SIZE);
    for (uint32_t i = 0; i < n; i++) {
        tb_u32(p, t[i].tid);
        tb_u32(p, t[i].creator);
        tb_u32(p, t[i].start_stack);
        tb_u32(p, t[i].flags);
        tb_u64(p, t[i].start_ns);
        tb_u64(p, t[i].end_ns);
        tb_u64(p, t[i].cpu_ns);
        char name[16] = {0};
        strncpy(name, t[i].name ? t[i].name : "", sizeof name);
        tb_bytes(p, name, sizeof name);
        tb_u64(p, t[i].routine);
    }
}

void tb_cpu(tb_buf_t *p, uint64_t time_ns, uint32_t hz, const uint32_t (*rows)[3], uint32_t n)
{
    uint64_t total = 0;
    for (uint32_t i = 0; i < n; i++)
        total += rows[i][2];
    tb_cpu_with(p, time_ns, hz, total, 0, 0, rows, n);
}

void tb_alert(tb_buf_t *p, uint64_t time_ns, const uint64_t (*rows)[5], uint32_t n,
              uint32_t row_size)
{
    tb_u64(p, time_ns);
    tb_u32(p, n);
    tb_u32(p, row_size);
    for (uint32_t i = 0; i < n; i++) {
        tb_u32(p, (uint32_t)rows[i][0]); /* kind */
        tb_u32(p, 0);                    /* reserved */
        for (int k = 1; k < 5; k++)      /* time_ns, value, threshold, base */
            tb_u64(p, rows[i][k]);
        for (uint32_t extra = PS_ALERT_ROW_SIZE; extra < row_size; extra++)
            tb_bytes(p, "\xee", 1);
    }
}

void tb_cpu_with(tb_buf_t *p, uint64_t time_ns, uint32_t hz, uint64_t samples, uint64_t dropped,
                 uint64_t partial, const uint32_t (*rows)[3], uint32_t n)
{
    tb_u64(p, time_ns);
    tb_u32(p, hz);
    tb_u32(p, 0);
    tb_u64(p, samples);
    tb_u64(p, dropped);
    tb_u64(p, partial);
    tb_u32(p, n);
    tb_u32(p, PS_CPU_ROW_SIZE);
    for (uint32_t i = 0; i < n; i++) {
        tb_u32(p, rows[i][0]);
        tb_u32(p, rows[i][1]);
        tb_u64(p, rows[i][2]);
    }
}

void tb_latency_begin(tb_buf_t *p, uint64_t time_ns, uint64_t tick_hz, uint32_t sample,
                      uint32_t rows)
{
    const uint64_t events[6] = {100, 200, 300, 400, 500, 600};
    tb_latency_with(p, time_ns, tick_hz, sample, events, rows);
}

void tb_latency_with(tb_buf_t *p, uint64_t time_ns, uint64_t tick_hz, uint32_t sample,
                     const uint64_t events[6], uint32_t rows)
{
    tb_u64(p, time_ns);
    tb_u64(p, tick_hz);
    tb_u32(p, sample);
    tb_u32(p, 0);
    for (int i = 0; i < 6; i++) /* pooled, forwarded, forwarded_large, refills, flushes, commits */
        tb_u64(p, events[i]);
    tb_u32(p, rows);
}

void tb_zones_begin(tb_buf_t *p, uint64_t time_ns, uint64_t tick_hz, uint32_t zones)
{
    tb_zones_with(p, time_ns, tick_hz, 0, 0, 0, zones);
}

void tb_zones_with(tb_buf_t *p, uint64_t time_ns, uint64_t tick_hz, uint64_t unmatched_ends,
                   uint64_t too_deep, uint64_t dropped, uint32_t zones)
{
    tb_u64(p, time_ns);
    tb_u64(p, tick_hz);
    tb_u64(p, unmatched_ends);
    tb_u64(p, too_deep);
    tb_u64(p, dropped);
    tb_u32(p, zones);
}

void tb_typical_with(tb_buf_t *f, const uint16_t *types, const tb_buf_t *payloads, size_t n)
{
    tb_buf_t g = {0}, p = {0};
    size_t o[5];
    tb_typical(&g, o);
    tb_bytes(f, g.data, o[4]); /* everything before END */
    for (size_t i = 0; i < n; i++)
        tb_chunk(f, types[i], &payloads[i]);
    tb_end(&p, 4 + n);
    tb_chunk(f, PS_CHUNK_END, &p);
    tb_free(&g);
    tb_free(&p);
}

int tb_write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t w = len ? fwrite(data, 1, len, f) : 0;
    int rc = fclose(f);
    return (w == len && rc == 0) ? 0 : -1;
}

/* ---- fixtures with a different value in every field (the cross-checks of trace_rows.h) ---- */

const tb_row_t tb_fields_rows[2] = {
    {7, 101, 102, 103, 104, 105, 106, 107},
    {8, 201, 202, 203, 204, 205, 206, 207},
};
const tb_pool_totals_t tb_fields_pool_totals = {
    .time_ns = TB_SNAPSHOT_TIME_NS,
    .max_size = 302,
    .reserved = 303,
    .committed = 304,
    .slab_bytes = 305,
    .empty_bytes = 306,
    .released_bytes = 307,
    .returned_bytes = 308,
    .threads = 309,
    .exhausted = 1,
};
const tb_pool_class_t tb_fields_pool_classes[2] = {
    {401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413},
    {501, 502, 503, 504, 505, 506, 507, 508, 509, 510, 511, 512, 513},
};
const tb_locks_head_t tb_fields_locks_head = {
    .time_ns = 601,
    .sample = 602,
    .flags = 1,
    .untracked_ops = 604,
    .retired_quiet = 605,
    .retired_quiet_acquisitions = 606,
};
const tb_lock_t tb_fields_locks[2] = {
    {.address = 0x7001,
     .kind = 2,
     .flags = 1,
     .first_use = 704,
     .acquisitions = 705,
     .contended = 706,
     .owner_changes = 707,
     .wait_ns = 708,
     .max_wait_ns = 709,
     .hold_ns = 710,
     .max_hold_ns = 711,
     .hold_samples = 712,
     .read_acquisitions = 713,
     .trylock_failures = 714,
     .timeouts = 715,
     .signals = 716,
     .broadcasts = 717,
     .wake_ns = 718,
     .max_wake_ns = 719,
     .wakes = 720,
     .paired_posts = 721},
    {.address = 0x8001,
     .kind = 4,
     .flags = 0,
     .first_use = 804,
     .acquisitions = 805,
     .contended = 806,
     .owner_changes = 807,
     .wait_ns = 808,
     .max_wait_ns = 809,
     .hold_ns = 810,
     .max_hold_ns = 811,
     .hold_samples = 812,
     .read_acquisitions = 813,
     .trylock_failures = 814,
     .timeouts = 815,
     .signals = 816,
     .broadcasts = 817,
     .wake_ns = 818,
     .max_wake_ns = 819,
     .wakes = 820,
     .paired_posts = 821},
};
const tb_lock_site_t tb_fields_lock_sites[2] = {
    {.lock_index = 1,
     .stack_id = 902,
     .acquisitions = 903,
     .contended = 904,
     .wait_ns = 905,
     .max_wait_ns = 906,
     .samples = 907},
    {.lock_index = 0,
     .stack_id = 1002,
     .acquisitions = 1003,
     .contended = 1004,
     .wait_ns = 1005,
     .max_wait_ns = 1006,
     .samples = 1007},
};
const tb_thread_t tb_fields_threads[2] = {
    {.tid = 1101,
     .creator = 1102,
     .start_stack = 1103,
     .flags = 1,
     .start_ns = 1105,
     .end_ns = 1106,
     .cpu_ns = 1107,
     .name = "sixteen-bytes-ab",
     .routine = 0x1109},
    {.tid = 1201,
     .creator = 1202,
     .start_stack = 1203,
     .flags = 2,
     .start_ns = 1205,
     .end_ns = 0,
     .cpu_ns = 1207,
     .name = "short",
     .routine = 0x1209},
};
const uint32_t tb_fields_cpu_rows[2][3] = {{1301, 1302, 1303}, {1401, 1402, 1403}};
const uint64_t tb_fields_alert_rows[2][5] = {{PS_ALERT_CGROUP, 1501, 1502, 1503, 1504},
                                             {PS_ALERT_GROWTH, 1601, 1602, 1603, 1604}};
const uint64_t tb_fields_latency_events[6] = {1501, 1502, 1503, 1504, 1505, 1506};
