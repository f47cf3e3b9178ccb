/* SPDX-License-Identifier: MIT */
/*
 * inherit.c — what a forked child inherited from its parent: the blocks live at the fork,
 * per stack, written in the child's trace as the INHERITED chunk (20) so that the analyzer
 * reports them apart from the child's own leaks (docs/analyzer.md, "Inherited blocks").
 *
 * At fork, in the child (single-threaded, every shim lock released), the per-stack counters are
 * summed once (ps_track_collect: only the resident pages of each thread's counters are read)
 * and the stacks with live blocks are kept in one mapping: 24 bytes per such stack. A grandchild
 * replaces its parent's list with its own (everything live at its fork, inherited or not).
 * Counters stay per stack, not per block: the analyzer counts a stack's live blocks as
 * inherited up to the number live at the fork, so a child that frees some inherited blocks
 * and allocates as many at the same stack shows its own as inherited (documented).
 *
 * Must not: run outside the fork child handler and the snapshot writer (which holds the writer
 * lock); allocate through malloc.
 */
#include "internal.h"

#include <string.h>

static ps_row_inherited_t *rows; /* stacks live at the fork, by increasing stack id */
static uint32_t nrows;
static size_t rows_bytes;     /* size of the rows mapping */
static uint64_t fork_ns;      /* when: monotonic ns since process start */
static uint32_t parent_pid;   /* the process that forked */
static uint64_t total_blocks; /* sums of the rows */
static uint64_t fork_events;  /* allocations counted at the fork */
static int fork_counted;      /* fork_events holds them (this process is a forked child) */

/* The allocations the counters hold now; -1 without memory. */
static int64_t count_events(uint32_t n, ps_counters_t **keep, size_t *keep_size)
{
    size_t csize = ((size_t)n + 1) * sizeof(ps_counters_t);
    ps_counters_t *sum = ps_os_map(csize);
    if (!sum)
        return -1;
    ps_totals_t tot;
    ps_track_collect(sum, n, &tot);
    if (keep) {
        *keep = sum;
        *keep_size = csize;
    } else {
        ps_os_unmap(sum, csize);
    }
    return (int64_t)tot.allocs;
}

void ps_inherit_fork_child(uint32_t parent)
{
    if (rows) {
        ps_os_unmap(rows, rows_bytes);
        rows = NULL;
        nrows = 0;
    }
    total_blocks = 0;
    fork_counted = 0;
    if (!ps_g.tracing || !atomic_load(&ps_g.recording))
        return;
    if (!ps_g.opt.track) {
        /* PERFSHIM_TRACK=0: no allocation is tracked, none inherited, and the child can track
         * none of its own: it is idle at an exec (ps_inherit_idle_since_fork) as a tracking
         * child that allocated nothing is. Before, "cannot be told" made every fork+exec child
         * of a shell, make or ruby's Process.spawn write a trace of its parent's pool and RSS. */
        fork_events = 0;
        fork_counted = 1;
        return;
    }
    uint32_t n = ps_stack_count();
    ps_counters_t *sum = NULL;
    size_t csize = 0;
    int64_t events = count_events(n, &sum, &csize);
    if (events < 0) {
        ps_msg_warn("cannot map %zu bytes at fork; the child's inherited blocks are reported "
                    "as its own",
                    ((size_t)n + 1) * sizeof(ps_counters_t));
        return;
    }
    fork_events = (uint64_t)events;
    fork_counted = 1;
    uint32_t live = 0;
    for (uint32_t id = 0; id <= n; id++)
        live += sum[id].allocs > sum[id].frees;
    if (live) {
        rows_bytes = (size_t)live * sizeof *rows;
        rows = ps_os_map(rows_bytes);
        if (!rows)
            ps_msg_warn("cannot map %zu bytes at fork; the child's inherited blocks are "
                        "reported as its own",
                        rows_bytes);
    }
    for (uint32_t id = 0; rows && id <= n; id++) {
        const ps_counters_t *c = &sum[id];
        if (c->allocs <= c->frees)
            continue;
        rows[nrows].stack_id = id;
        rows[nrows].blocks = c->allocs - c->frees;
        rows[nrows].bytes = c->alloc_bytes > c->freed_bytes ? c->alloc_bytes - c->freed_bytes : 0;
        total_blocks += rows[nrows].blocks;
        nrows++;
    }
    ps_os_unmap(sum, csize);
    fork_ns = ps_os_monotonic_ns() - ps_g.start_monotonic_ns;
    parent_pid = parent;
}

/* A forked child about to exec (init.c): 1 if it tracked no allocation since the fork, so that
 * it has no leak of its own and its trace would hold only its parent's state and a few frees (a
 * shell's or make's fork+exec child: dash frees its job table there): no exec snapshot then.
 * 0 otherwise, or when that cannot be told. */
int ps_inherit_idle_since_fork(void)
{
    if (!fork_counted)
        return 0;
    if (!ps_g.opt.track)
        return 1; /* nothing tracked since the fork, nor before it */
    int64_t now = count_events(ps_stack_count(), NULL, NULL);
    return now >= 0 && (uint64_t)now == fork_events;
}

int ps_inherit_write(ps_buf_t *b)
{
    if (!rows)
        return 0;
    ps_row_inherited_head_t head = {.fork_ns = fork_ns, .parent_pid = parent_pid};
    ps_put_inherited_head(b, &head);
    ps_buf_u32(b, nrows);
    ps_buf_u32(b, PS_INHERITED_ROW_SIZE);
    for (uint32_t i = 0; i < nrows; i++)
        ps_put_inherited(b, &rows[i]);
    return 1;
}
