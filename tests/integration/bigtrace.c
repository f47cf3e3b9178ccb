/* SPDX-License-Identifier: MIT */
/*
 * bigtrace.c — writes the trace of a simulated long-running service, in the documented format
 * (docs/trace-format.md), written here independently of the shim: full SNAPSHOT chunks as
 * keyframes and SNAPSHOT_DELTA chunks (type 13: u64 base_time_ns, then a SNAPSHOT payload of
 * the rows that changed) in between. For the analyzer's tests and benchmarks over time
 * (tests/integration/test_timeline_memory.py, tests/bench/run.py --timeline). The bytes are
 * encoded by the unit tests' trace_builder.c.
 *
 *   bigtrace OUT [--snapshots N] [--stacks S] [--interval-ms MS] [--keyframe K] [--changed C]
 *                [--requests R] [--packed 1]
 *
 * --packed 1 writes the deltas as current shims do, SNAPSHOT_PACKED (type 17: varint stack-id
 * gaps and zigzag varint differences from the row of the snapshot before).
 *
 * The service: stack 1 leaks LEAK_SIZE bytes per request (R requests per interval, never
 * freed); stack 2 is a cache of at most CACHE_ENTRIES entries of CACHE_SIZE bytes, one insert
 * per request, evicting once full; stack 3 holds one buffer larger than the final leak during
 * snapshot N/2 only (so the highest live heap is there); stacks 4..S churn: at every snapshot C
 * of them (in turn) allocate and free a few blocks, some of which stay live until their next
 * turn. Snapshot k
 * (1..N) is at k × MS milliseconds; every K-th (and the first) is full. At the end it prints
 * one line of JSON with what a reader must find (numbers of the snapshots, the highest live
 * heap, the final totals).
 */
#include "trace_builder.h"
#include "trace_format.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LEAK_SIZE 64
#define CACHE_SIZE 128
#define CACHE_ENTRIES 5000
#define DEPTH 8

/* Stacks share their return addresses as a program's do: each frame is one of ADDRS
 * addresses, chosen by a hash (splitmix64's finalizer) of the stack and the frame. */
#define ADDRS 4096

static uint64_t mix(uint64_t x)
{
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static FILE *out;
static uint64_t nchunks;

/* One chunk (trace_builder.c frames it), written at once: the file is never in memory. */
static void chunk(uint16_t type, const tb_buf_t *p)
{
    static tb_buf_t c;
    c.len = 0;
    tb_chunk(&c, type, p);
    if (fwrite(c.data, 1, c.len, out) != c.len) {
        perror("bigtrace: write");
        exit(1);
    }
    if (type != PS_CHUNK_END)
        nchunks++;
}

static tb_row_t *rows;
static uint32_t nstacks;
static tb_row_t tot; /* sums of the rows */

/* Replaces a row's counters, keeping the totals the sums of the rows. */
static void update(tb_row_t *r, uint64_t allocs, uint64_t alloc_bytes, uint64_t live_blocks,
                   uint64_t live_bytes)
{
    tot.allocs += allocs - r->allocs;
    tot.alloc_bytes += alloc_bytes - r->alloc_bytes;
    tot.live_blocks += live_blocks - r->live_blocks;
    tot.live_bytes += live_bytes - r->live_bytes;
    r->allocs = allocs;
    r->alloc_bytes = alloc_bytes;
    r->live_blocks = live_blocks;
    r->live_bytes = live_bytes;
    r->frees = allocs - live_blocks;
    r->freed_bytes = alloc_bytes - live_bytes;
    if (live_bytes > r->peak_live_bytes)
        r->peak_live_bytes = live_bytes;
}

static void varint(tb_buf_t *p, uint64_t v)
{
    uint8_t b[10];
    size_t n = 0;
    for (; v >= 0x80; v >>= 7)
        b[n++] = (uint8_t)(v | 0x80);
    b[n++] = (uint8_t)v;
    tb_bytes(p, b, n);
}

/* A SNAPSHOT_PACKED row: r against the row last written for its stack (zeros: none). */
static void packed_row(tb_buf_t *p, uint32_t gap, const tb_row_t *r, const tb_row_t *was)
{
    uint64_t d[5] = {r->allocs - was->allocs, r->alloc_bytes - was->alloc_bytes,
                     r->frees - was->frees, r->freed_bytes - was->freed_bytes,
                     r->peak_live_bytes - was->peak_live_bytes};
    varint(p, gap);
    for (int k = 0; k < 5; k++)
        varint(p, (d[k] << 1) ^ (uint64_t)((int64_t)d[k] >> 63));
}

static uint64_t arg(int argc, char **argv, const char *name, uint64_t def)
{
    for (int i = 2; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return strtoull(argv[i + 1], NULL, 10);
    return def;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bigtrace OUT [--snapshots N] [--stacks S] [--interval-ms MS] "
                        "[--keyframe K] [--changed C] [--requests R]\n");
        return 2;
    }
    uint64_t n = arg(argc, argv, "--snapshots", 60480);
    nstacks = (uint32_t)arg(argc, argv, "--stacks", 2000);
    uint64_t interval_ns = arg(argc, argv, "--interval-ms", 10000) * 1000000;
    uint64_t keyframe = arg(argc, argv, "--keyframe", 360);
    uint64_t changed = arg(argc, argv, "--changed", 20);
    uint64_t requests = arg(argc, argv, "--requests", 100);
    int packed = arg(argc, argv, "--packed", 0) != 0;
    if (nstacks < 4 || !keyframe || n < 2) {
        fprintf(stderr, "bigtrace: need at least 4 stacks, 2 snapshots, keyframe >= 1\n");
        return 2;
    }
    if (changed > nstacks - 3)
        changed = nstacks - 3;
    uint64_t spike_k = n / 2, spike = n * requests * LEAK_SIZE + (1u << 20);
    out = fopen(argv[1], "wb");
    if (!out) {
        perror(argv[1]);
        return 1;
    }
    static char iobuf[1 << 20];
    setvbuf(out, iobuf, _IOFBF, sizeof iobuf);
    tb_buf_t p = {0};
    tb_file_header(&p, PS_TRACE_VERSION);
    fwrite(p.data, 1, p.len, out);
    p.len = 0;
    tb_u64(&p, 4242); /* pid, ppid, start times */
    tb_u64(&p, 1);
    tb_u64(&p, 1700000000000000000ull);
    tb_u64(&p, 1000);
    tb_str(&p, "0.1.0");
    tb_str(&p, "/usr/sbin/simulated-service");
    tb_str(&p, "bigtrace");
    tb_u32(&p, 1);
    tb_str(&p, "simulated-service");
    tb_str(&p, "PERFSHIM_INTERVAL=10s\n");
    tb_u32(&p, 8);
    tb_u32(&p, 4096);
    chunk(PS_CHUNK_PROCESS, &p);
    p.len = 0;
    tb_u32(&p, 0);
    chunk(PS_CHUNK_MODULES, &p);
    p.len = 0;
    tb_stacks_begin(&p, nstacks);
    for (uint32_t id = 1; id <= nstacks; id++) {
        uint64_t a[DEPTH];
        for (uint32_t f = 0; f < DEPTH; f++) /* in no module: [unknown]+0x... frames */
            a[f] = 0x100000000ull + (mix((uint64_t)id * DEPTH + f) % ADDRS) * 16 + 5;
        tb_stack(&p, id, DEPTH, a);
    }
    chunk(PS_CHUNK_STACKS, &p);

    rows = calloc(nstacks, sizeof *rows);
    uint8_t *dirty = calloc(nstacks, 1);
    tb_row_t *written = calloc(nstacks, sizeof *written); /* --packed: each stack's last row */
    if (!rows || !dirty || !written)
        return 1;
    for (uint32_t i = 0; i < nstacks; i++) { /* every stack allocated once before snapshot 1 */
        rows[i].stack_id = i + 1;
        update(&rows[i], 1, 32, 0, 0);
    }
    uint64_t churn_next = 0, max_live = 0, max_number = 0, base_time = 0, fulls = 0;
    for (uint64_t k = 1; k <= n; k++) {
        uint64_t req = k * requests;
        update(&rows[0], req + 1, 32 + req * LEAK_SIZE, req, req * LEAK_SIZE);
        uint64_t cached = req < CACHE_ENTRIES ? req : CACHE_ENTRIES;
        update(&rows[1], req + 1, 32 + req * CACHE_SIZE, cached, cached * CACHE_SIZE);
        dirty[0] = dirty[1] = 1;
        if (k == spike_k || k == spike_k + 1) {
            tb_row_t *r = &rows[2];
            if (k == spike_k)
                update(r, r->allocs + 1, r->alloc_bytes + spike, 1, spike);
            else
                update(r, r->allocs, r->alloc_bytes, 0, 0);
            dirty[2] = 1;
        }
        for (uint64_t c = 0; c < changed; c++) {
            tb_row_t *r = &rows[3 + churn_next];
            uint64_t live = (k + churn_next) % 3; /* 0..2 blocks of 48 bytes stay live */
            update(r, r->allocs + 10, r->alloc_bytes + 480, live, live * 48);
            dirty[3 + churn_next] = 1;
            churn_next = (churn_next + 1) % (nstacks - 3);
        }
        uint64_t time_ns = k * interval_ns;
        int full = k == 1 || (k - 1) % keyframe == 0;
        p.len = 0;
        if (!full)
            tb_u64(&p, base_time);
        tb_u64(&p, time_ns);
        tb_u32(&p, k == n ? 0 : 2); /* exit, interval */
        tb_u32(&p, 0);
        tb_u64(&p, tot.allocs);
        tb_u64(&p, tot.allocs - tot.live_blocks);
        tb_u64(&p, tot.alloc_bytes);
        tb_u64(&p, tot.alloc_bytes - tot.live_bytes);
        tb_u64(&p, tot.live_blocks);
        tb_u64(&p, tot.live_bytes);
        if (tot.live_bytes > max_live) {
            max_live = tot.live_bytes;
            max_number = k;
        }
        tb_u64(&p, max_live);
        tb_u64(&p, (50ull << 20) + tot.live_bytes); /* RSS */
        tb_u64(&p, (50ull << 20) + max_live);
        tb_u64(&p, 0);
        uint32_t count = 0;
        for (uint32_t i = 0; i < nstacks; i++)
            count += full || dirty[i];
        tb_u32(&p, count);
        tb_u32(&p, packed && !full ? 5 : 64);
        for (uint32_t i = 0, prev = 0; i < nstacks; i++)
            if (full || dirty[i]) {
                if (packed && !full)
                    packed_row(&p, rows[i].stack_id - prev, &rows[i], &written[i]);
                else
                    tb_row(&p, &rows[i]);
                written[i] = rows[i];
                prev = rows[i].stack_id;
                dirty[i] = 0;
            }
        chunk(full     ? PS_CHUNK_SNAPSHOT
              : packed ? PS_CHUNK_SNAPSHOT_PACKED
                       : PS_CHUNK_SNAPSHOT_DELTA,
              &p);
        fulls += full;
        base_time = time_ns;
    }
    p.len = 0;
    tb_u64(&p, nchunks);
    tb_u64(&p, 0);
    chunk(PS_CHUNK_END, &p);
    if (fclose(out) != 0) {
        perror("bigtrace: close");
        return 1;
    }
    printf("{\"snapshots\": %llu, \"full\": %llu, \"stacks\": %u, \"interval_ns\": %llu, "
           "\"requests_per_snapshot\": %llu, \"leak_size\": %d, \"cache_size\": %d, "
           "\"cache_entries\": %d, \"max_live_number\": %llu, \"max_live_bytes\": %llu, "
           "\"final_live_bytes\": %llu, \"final_allocs\": %llu}\n",
           (unsigned long long)n, (unsigned long long)fulls, nstacks,
           (unsigned long long)interval_ns, (unsigned long long)requests, LEAK_SIZE, CACHE_SIZE,
           CACHE_ENTRIES, (unsigned long long)max_number, (unsigned long long)max_live,
           (unsigned long long)tot.live_bytes, (unsigned long long)tot.allocs);
    tb_free(&p);
    free(rows);
    free(dirty);
    free(written);
    return 0;
}
