/* SPDX-License-Identifier: MIT */
/*
 * hist.h — reading the shim's log-linear histograms (PS_HIST_* in trace_format.h): bucket
 * bounds, percentiles, and ticks to nanoseconds.
 *
 * Error bound: bucket i >= 32 covers [m << s, (m + 1) << s) with m in [16, 32), so it is at
 * most 1/16 of its lower bound wide. A percentile is reported as the midpoint of the bucket
 * holding it (capped at the exact maximum), which is within half a bucket width, i.e. 1/32
 * (3.125 %), of every value in that bucket. Buckets below 32 hold one value each: exact.
 * The rank of percentile p among N values is ceil(p * N) (the nearest-rank definition).
 */
#ifndef PERFSHIM_ANALYZER_HIST_H
#define PERFSHIM_ANALYZER_HIST_H

#include "model.h"

#include <stdint.h>

/* Relative error bound of pa_hist_percentile, as a fraction (1/32). */
#define PA_HIST_ERROR (1.0 / 32.0)

/* Lowest value of bucket i, and the lowest value above it (both in ticks). */
uint64_t pa_hist_bucket_low(uint32_t i);
uint64_t pa_hist_bucket_high(uint32_t i);
/* Values in the buckets (may differ slightly from h->count: the shim reads its counters
 * without stopping the threads that update them). */
uint64_t pa_hist_total(const pa_hist_t *h);
/* The p-th quantile (0 < p <= 1) in ticks; 0 for an empty histogram. */
uint64_t pa_hist_percentile(const pa_hist_t *h, double p);
/* Mean in ticks (sum / count), 0 when empty. */
double pa_hist_mean(const pa_hist_t *h);
/* Ticks to nanoseconds at hz ticks per second (hz > 0). */
uint64_t pa_hist_ns(uint64_t ticks, uint64_t hz);

#endif /* PERFSHIM_ANALYZER_HIST_H */
