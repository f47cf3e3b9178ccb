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

/* The members of the POOL chunk's fields are those of their declaration (trace_rows.h). */
static void class_json(pa_json_t *j, const pa_pool_class_t *c)
{
    pa_json_object_begin(j, true);
    PA_ROW_JSON(j, POOL_CLASS, c, size, hits);
    pa_json_key(j, "hit_rate");
    pa_json_f64(j, pa_model_pool_hit_rate(c));
    PA_ROW_JSON(j, POOL_CLASS, c, misses, bytes_returned);
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
    PA_ROW_JSON1(j, POOL_HEAD, p, max_size);
    pa_json_key(j, "totals");
    pa_json_object_begin(j, false);
    PA_ROW_JSON(j, POOL_HEAD, p, reserved, exhausted);
    pa_json_object_end(j);
    pa_json_key(j, "classes");
    pa_json_array_begin(j, false);
    for (size_t i = 0; i < p->nclasses; i++)
        if (p->classes[i].allocs > 0)
            class_json(j, &p->classes[i]);
    pa_json_array_end(j);
    pa_json_object_end(j);
}
