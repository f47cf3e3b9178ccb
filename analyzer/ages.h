/* SPDX-License-Identifier: MIT */
/*
 * ages.h — the AGES chunk (docs/trace-format.md) as the analyzer keeps it, and what the leak
 * report makes of it: how old the live blocks of a site are, how long its freed blocks lived,
 * `leaks --older-than`, and the *suspect* rule (docs/analyzer.md, "Ages and suspects").
 */
#ifndef PERFSHIM_ANALYZER_AGES_H
#define PERFSHIM_ANALYZER_AGES_H

#include "model.h"
#include "trace_reader.h"

#include <stdbool.h>
#include <stdint.h>

/* The suspect rule's thresholds (docs/analyzer.md). */
#define PA_AGE_MIN_LIVE 16      /* live blocks a site needs to be judged */
#define PA_AGE_MIN_FREED 16     /* freed blocks that make its lifetimes evidence */
#define PA_AGE_RATIO 10.0       /* median live age / 90th percentile lifetime */
#define PA_AGE_SPREAD 0.5       /* never freed: 10th percentile age at most this of the median */
#define PA_AGE_LIVE_INDEXES 656 /* PS_HIST_BUCKETS: indices of live-age buckets */

typedef struct {
    uint32_t index; /* log-linear bucket (PS_HIST_*) of age units */
    uint64_t count; /* live blocks */
    uint64_t bytes; /* their bytes */
} pa_age_cell_t;

/* A site keeps only its non-zero buckets (20 bytes, then 20 per live-age bucket and 8 per
 * lifetime bucket): on a big trace most of its 32 lifetime buckets are empty. The offsets fit
 * 32 bits, as a chunk's payload does (a cell takes at least 12 of its bytes). */
typedef struct {
    uint32_t stack_id;
    uint32_t ncells;      /* live-age buckets, from cells[first] */
    uint32_t first;       /* into pa_ages_t.cells; indices increase */
    uint32_t freed_mask;  /* bit b: lifetime bucket b (ps_age_bucket) has freed blocks */
    uint32_t freed_first; /* into pa_ages_t.freed: their counts, by increasing bucket */
} pa_age_site_t;

/* One AGES chunk: the one written with the reported snapshot (same time_ns). */
typedef struct pa_ages_s {
    uint64_t offset;          /* file offset of its chunk */
    PS_ROW_MEMBERS(AGES_HEAD) /* time_ns, unit_ps, clock_res_ns, count, site_size, walk_ns */
    pa_age_site_t *sites;     /* by stack id, increasing */
    size_t nsites;
    pa_age_cell_t *cells;
    size_t ncells;
    uint64_t *freed; /* the sites' non-zero lifetime buckets (pa_age_site_t.freed_mask) */
    size_t nfreed;
} pa_ages_t;

/* Reads an AGES chunk into t->ages when it belongs to the snapshot t stands at (a later one is
 * ignored: --at froze an earlier snapshot). A malformed chunk is said and skipped. Without keep
 * (a report that reads no ages) the chunk is checked alike, so the same damage is said, but
 * nothing is kept: t->ages is NULL after it. PA_OK or PA_ENOMEM. */
int pa_ages_load(pa_trace_t *t, const pa_chunk_t *ch, bool keep);
void pa_ages_free(pa_ages_t *a);
/* Frees t's ages, for a report that reads none once the trace is loaded (summary, timeline,
 * growth, export but json): 5 MB of a compile's trace, so its peak is lower. */
void pa_ages_drop(pa_trace_t *t);
/* The ages of the reported snapshot, or NULL (an older shim, or an automatic snapshot). */
const pa_ages_t *pa_ages_of(const pa_trace_t *t);
/* The site of stack id, or NULL. */
const pa_age_site_t *pa_ages_site(const pa_ages_t *a, uint32_t id);

/* The freed blocks of site's lifetime bucket b (b < PS_AGE_BUCKETS). */
uint64_t pa_ages_freed(const pa_ages_t *a, const pa_age_site_t *site, unsigned b);
/* Lifetime bucket b's range in age units: [*lo, *hi) (bucket 31: hi is UINT64_MAX). */
void pa_ages_bucket_range(unsigned b, uint64_t *lo, uint64_t *hi);
/* Age units to seconds at a's unit. */
double pa_ages_seconds(const pa_ages_t *a, double units);
/* Parses a duration: a number with a unit, ns, us, ms, s, m (or min), h or d ("60s", "1.5h",
 * "250ms"; a bare number is seconds). PA_OK or PA_EUSAGE. */
int pa_ages_parse_duration(const char *s, uint64_t *ns);

/* What the leak report says about one site (a group of stacks). */
typedef struct {
    bool have;                          /* some stack of the site has ages */
    uint64_t live_blocks, live_bytes;   /* its live blocks with an age */
    uint64_t older_blocks, older_bytes; /* those at least older_than_ns old (all without it) */
    uint64_t freed_blocks;              /* freed blocks with a lifetime */
    uint64_t live_hist[PS_AGE_BUCKETS], live_hist_bytes[PS_AGE_BUCKETS]; /* the older ones, by
                                         power-of-two bucket of age (as lifetimes) */
    uint64_t freed_hist[PS_AGE_BUCKETS];
    double median_age_s;   /* of the live blocks (bucket midpoint) */
    double p10_age_s;      /* likewise, 10th percentile */
    double p90_lifetime_s; /* upper edge of the bucket of the 90th percentile lifetime; 0: none */
    double ratio;          /* median_age_s / p90_lifetime_s; 0 when not judged */
    bool suspect;
    const char *rule;        /* "outlived" or "never_freed" when suspect, else NULL */
    uint32_t lo_idx, hi_idx; /* scratch indices used (pa_ages_add/finish) */
} pa_age_summary_t;

/* Adds the site of stack id to an accumulating summary (s zeroed first; scratch: an array of
 * PA_AGE_LIVE_INDEXES counts, zero, left zero). pa_ages_finish then computes the quantiles and
 * the verdict. older_than_ns: 0 for every block. */
void pa_ages_add(const pa_ages_t *a, const pa_age_site_t *site, uint64_t older_than_ns,
                 uint64_t *scratch, pa_age_summary_t *s);
void pa_ages_finish(const pa_ages_t *a, uint64_t *scratch, pa_age_summary_t *s);

#endif /* PERFSHIM_ANALYZER_AGES_H */
