/* SPDX-License-Identifier: MIT */
/*
 * hist.c — percentiles from the shim's log-linear histograms (hist.h has the error bound).
 */
#include "hist.h"

#include "trace_format.h"

#include <math.h>

uint64_t pa_hist_bucket_low(uint32_t i)
{
    if (i < 32)
        return i;
    unsigned s = i / 16 - 1;
    return (uint64_t)(16 + i % 16) << s;
}

uint64_t pa_hist_bucket_high(uint32_t i)
{
    if (i < 32)
        return (uint64_t)i + 1;
    unsigned s = i / 16 - 1;
    return (uint64_t)(17 + i % 16) << s;
}

uint64_t pa_hist_total(const pa_hist_t *h)
{
    uint64_t n = 0;
    for (uint32_t i = 0; i < h->nbuckets; i++)
        n += h->counts[i];
    return n;
}

uint64_t pa_hist_percentile(const pa_hist_t *h, double p)
{
    uint64_t total = pa_hist_total(h);
    if (!total)
        return 0;
    if (p > 1.0)
        p = 1.0;
    double r = ceil(p * (double)total);
    uint64_t rank = r < 1.0 ? 1 : (uint64_t)r;
    if (rank >= total) /* the largest value is known exactly */
        return h->max;
    uint64_t seen = 0;
    for (uint32_t i = 0; i < h->nbuckets; i++) {
        seen += h->counts[i];
        if (seen < rank)
            continue;
        uint32_t b = h->index[i];
        uint64_t lo = pa_hist_bucket_low(b), hi = pa_hist_bucket_high(b);
        /* the last bucket is open-ended; only the maximum says where its values are */
        uint64_t v = b < 32 ? lo : b == PS_HIST_BUCKETS - 1 ? h->max : lo + (hi - lo) / 2;
        /* the maximum is exact: a percentile never exceeds it (when it lies in this bucket) */
        if (h->max >= lo && v > h->max)
            v = h->max;
        return v;
    }
    return h->max;
}

double pa_hist_mean(const pa_hist_t *h)
{
    return h->count ? (double)h->sum / (double)h->count : 0.0;
}

uint64_t pa_hist_ns(uint64_t ticks, uint64_t hz)
{
    if (!hz)
        return ticks;
    double ns = (double)ticks * 1e9 / (double)hz + 0.5;
    return ns >= 18446744073709549568.0 ? UINT64_MAX : (uint64_t)ns; /* a damaged trace's value */
}
