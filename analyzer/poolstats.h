/* SPDX-License-Identifier: MIT */
/*
 * poolstats.h — the "Pool" section of `perfshim summary`: the shim's small-object pool at the last
 * snapshot (totals and one row per size class that served allocations), as text and JSON.
 */
#ifndef PERFSHIM_ANALYZER_POOLSTATS_H
#define PERFSHIM_ANALYZER_POOLSTATS_H

#include "json.h"
#include "model.h"

#include <stdio.h>

/* Text: the section, starting with a blank line. pool must not be NULL. */
void pa_poolstats_text(FILE *out, const pa_pool_t *pool);
/* JSON: the "pool" member: an object, or null when pool is NULL (docs/analyzer.md). */
void pa_poolstats_json(pa_json_t *j, const pa_pool_t *pool);

#endif /* PERFSHIM_ANALYZER_POOLSTATS_H */
