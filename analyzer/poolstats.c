/* SPDX-License-Identifier: MIT */
/*
 * poolstats.c — writes the pool statistics of a POOL chunk (model.h: pa_pool_t) for the summary
 * report. Only size classes that handed out blocks are listed: the others have nothing to say.
 * Reads the model only; never interprets the trace itself.
 */
#include "poolstats.h"

/* ---- text ---------------------------------------------------------------------------------- */

static void class_row_text(FILE *out, const pa_pool_class_t *c)
{
    char in_use[32], cached[32], central[32], returned[32];
    fprintf(out, "  %6u %11llu %8.1f%% %9llu %9llu %13llu %10s %10s %10s %10s\n", c->size,
            (unsigned long long)c->allocs, 100.0 * pa_model_pool_hit_rate(c),
            (unsigned long long)c->refills, (unsigned long long)c->flushes,
            (unsigned long long)c->direct_frees,
            pa_util_format_bytes(c->bytes_in_use, in_use, sizeof in_use),
            pa_util_format_bytes(c->bytes_cached, cached, sizeof cached),
            pa_util_format_bytes(c->bytes_central, central, sizeof central),
            pa_util_format_bytes(c->bytes_returned, returned, sizeof returned));
}

void pa_poolstats_text(FILE *out, const pa_pool_t *p)
{
    char b1[32], b2[32];
    fprintf(out, "\nPool (requests up to %llu bytes):\n", (unsigned long long)p->max_size);
    fprintf(out, "  committed:        %s of %s reserved (high-water mark)\n",
            pa_util_format_bytes(p->committed, b1, sizeof b1),
            pa_util_format_bytes(p->reserved, b2, sizeof b2));
    fprintf(out, "  in slabs:         %s\n", pa_util_format_bytes(p->slab_bytes, b1, sizeof b1));
    fprintf(out, "  empty slabs:      %s resident, %s released to the OS\n",
            pa_util_format_bytes(p->empty_bytes, b1, sizeof b1),
            pa_util_format_bytes(p->released_bytes, b2, sizeof b2));
    fprintf(out, "  returned to OS:   %s since start\n",
            pa_util_format_bytes(p->returned_bytes, b1, sizeof b1));
    fprintf(out, "  thread caches:    %u\n", p->threads);
    fprintf(out, "  exhausted:        %s\n",
            p->exhausted ? "yes: the reservation ran out, later small requests went to the C "
                           "library"
                         : "no");

    size_t used = 0;
    for (size_t i = 0; i < p->nclasses; i++)
        used += p->classes[i].allocs > 0;
    if (!used) {
        fputs("\n  (no block was allocated from the pool)\n", out);
        return;
    }
    fprintf(out, "\n  %6s %11s %9s %9s %9s %13s %10s %10s %10s %10s\n", "size", "allocs",
            "hit rate", "refills", "flushes", "direct frees", "in use", "cached", "central",
            "returned");
    for (size_t i = 0; i < p->nclasses; i++)
        if (p->classes[i].allocs > 0)
            class_row_text(out, &p->classes[i]);
    fputs("\n  hit rate: allocations served by the thread's own cache. refills / flushes: "
          "transfers\n  from / to the central pool (many flushes: frees outpace allocations on a "
          "thread, as\n  when another thread frees its blocks). direct frees: frees after the "
          "thread's cache\n  was gone.\n",
          out);
}

/* ---- JSON ---------------------------------------------------------------------------------- */

static void member(pa_json_t *j, const char *key, uint64_t v)
{
    pa_json_key(j, key);
    pa_json_u64(j, v);
}

static void class_json(pa_json_t *j, const pa_pool_class_t *c)
{
    pa_json_object_begin(j, true);
    member(j, "size", c->size);
    member(j, "slabs", c->slabs);
    member(j, "allocs", c->allocs);
    member(j, "hits", c->hits);
    pa_json_key(j, "hit_rate");
    pa_json_f64(j, pa_model_pool_hit_rate(c));
    member(j, "misses", c->misses);
    member(j, "refills", c->refills);
    member(j, "flushes", c->flushes);
    member(j, "flushed_blocks", c->flushed_blocks);
    member(j, "direct_frees", c->direct_frees);
    member(j, "bytes_in_use", c->bytes_in_use);
    member(j, "bytes_cached", c->bytes_cached);
    member(j, "bytes_central", c->bytes_central);
    member(j, "bytes_returned", c->bytes_returned);
    pa_json_object_end(j);
}

void pa_poolstats_json(pa_json_t *j, const pa_pool_t *p)
{
    pa_json_key(j, "pool");
    if (!p) {
        pa_json_null(j);
        return;
    }
    pa_json_object_begin(j, false);
    member(j, "max_size", p->max_size);
    pa_json_key(j, "totals");
    pa_json_object_begin(j, false);
    member(j, "reserved", p->reserved);
    member(j, "committed", p->committed);
    member(j, "slab_bytes", p->slab_bytes);
    member(j, "empty_bytes", p->empty_bytes);
    member(j, "released_bytes", p->released_bytes);
    member(j, "returned_bytes", p->returned_bytes);
    member(j, "threads", p->threads);
    pa_json_key(j, "exhausted");
    pa_json_bool(j, p->exhausted);
    pa_json_object_end(j);
    pa_json_key(j, "classes");
    pa_json_array_begin(j, false);
    for (size_t i = 0; i < p->nclasses; i++)
        if (p->classes[i].allocs > 0)
            class_json(j, &p->classes[i]);
    pa_json_array_end(j);
    pa_json_object_end(j);
}
