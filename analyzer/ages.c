/* SPDX-License-Identifier: MIT */
/*
 * ages.c — the AGES chunk on the reading side: its decoding (kept for the reported snapshot
 * only), the bucket arithmetic of its two histograms, and per site the figures the leak report
 * prints: blocks older than --older-than, the age quantiles, and the suspect verdict
 * (docs/analyzer.md, "Ages and suspects").
 */
#include "ages.h"

#include "hist.h"

#include <stdlib.h>
#include <string.h>

void pa_ages_free(pa_ages_t *a)
{
    if (!a)
        return;
    free(a->sites);
    free(a->cells);
    free(a->freed);
    free(a);
}

void pa_ages_drop(pa_trace_t *t)
{
    pa_ages_free(t->ages);
    t->ages = NULL;
}

static void bad(pa_trace_t *t, const pa_chunk_t *ch, const char *why)
{
    t->damaged = true;
    pa_model_warn(t, "malformed AGES chunk at offset %llu: %s; chunk ignored",
                  (unsigned long long)ch->offset, why);
}

int pa_ages_load(pa_trace_t *t, const pa_chunk_t *ch, bool keep)
{
    pa_cursor_t c;
    pa_cursor_init(&c, ch->payload, ch->length);
    pa_ages_t *a = calloc(1, sizeof *a);
    if (!a)
        return PA_ENOMEM;
    a->offset = ch->offset;
    /* the head, field by field as declared (trace_rows.h) */
    a->time_ns = pa_cursor_u64(&c);
    a->unit_ps = pa_cursor_u64(&c);
    a->clock_res_ns = pa_cursor_u32(&c);
    a->count = pa_cursor_u32(&c);
    a->site_size = pa_cursor_u32(&c);
    (void)pa_cursor_u32(&c); /* reserved */
    a->walk_ns = pa_cursor_u64(&c);
    const char *why = NULL;
    if (c.err)
        why = "payload ends inside the header";
    else if (a->site_size < PS_AGE_SITE_SIZE)
        why = "site size smaller than the format's";
    else if ((uint64_t)a->count * a->site_size > pa_cursor_left(&c))
        why = "more sites than the payload holds";
    else if (a->unit_ps == 0)
        why = "age unit of 0 ps";
    if (!why && (!t->has_snapshot || a->time_ns != t->snap.time_ns)) {
        pa_ages_free(a); /* another snapshot's (one after the --at one) */
        return PA_OK;
    }
    if (!why && a->count && keep) {
        a->sites = calloc(a->count, sizeof *a->sites);
        if (!a->sites) {
            pa_ages_free(a);
            return PA_ENOMEM;
        }
    }
    _Static_assert(PS_AGE_BUCKETS <= 32, "a site's lifetime buckets fit its 32-bit mask");
    size_t cells_cap = 0, freed_cap = 0;
    uint32_t prev_id = 0;
    pa_age_site_t unkept;
    for (uint32_t i = 0; !why && i < a->count; i++) {
        pa_age_site_t *s = keep ? &a->sites[i] : &unkept;
        size_t start = c.pos;
        s->stack_id = pa_cursor_u32(&c);
        uint32_t nlive = pa_cursor_u32(&c), nfreed = pa_cursor_u32(&c);
        c.pos = start + a->site_size; /* fields a later format appends */
        if (c.pos > c.len || (i && s->stack_id <= prev_id)) {
            why = c.pos > c.len ? "payload ends inside a site" : "sites out of stack id order";
            break;
        }
        prev_id = s->stack_id;
        if ((uint64_t)nlive * 20 + (uint64_t)nfreed * 12 > pa_cursor_left(&c)) {
            why = "more buckets than the payload holds";
            break;
        }
        s->first = (uint32_t)a->ncells;
        s->ncells = nlive;
        if (keep &&
            pa_util_grow((void **)&a->cells, &cells_cap, a->ncells + nlive, sizeof *a->cells)) {
            pa_ages_free(a);
            return PA_ENOMEM;
        }
        uint32_t prev_index = 0;
        for (uint32_t k = 0; k < nlive; k++) {
            pa_age_cell_t cell, *x = keep ? &a->cells[a->ncells++] : &cell;
            x->index = pa_cursor_u32(&c);
            x->count = pa_cursor_u64(&c);
            x->bytes = pa_cursor_u64(&c);
            if (x->index >= PA_AGE_LIVE_INDEXES || (k && x->index <= prev_index))
                why = "live-age bucket out of range or order";
            prev_index = x->index;
        }
        s->freed_first = (uint32_t)a->nfreed;
        if (!nfreed) /* (most sites: no bucket to gather, 25M instructions of 111k sites) */
            continue;
        uint64_t freed[PS_AGE_BUCKETS] = {0}; /* the chunk may repeat a bucket, or list a 0 */
        for (uint32_t k = 0; k < nfreed; k++) {
            uint32_t b = pa_cursor_u32(&c);
            uint64_t n = pa_cursor_u64(&c);
            if (b >= PS_AGE_BUCKETS)
                why = "lifetime bucket out of range";
            else
                freed[b] += n;
        }
        for (unsigned b = 0; keep && b < PS_AGE_BUCKETS; b++) {
            if (!freed[b])
                continue;
            if (pa_util_grow((void **)&a->freed, &freed_cap, a->nfreed + 1, sizeof *a->freed)) {
                pa_ages_free(a);
                return PA_ENOMEM;
            }
            s->freed_mask |= UINT32_C(1) << b;
            a->freed[a->nfreed++] = freed[b];
        }
    }
    if (why) {
        bad(t, ch, why);
        pa_ages_free(a);
        return PA_OK;
    }
    a->nsites = a->count;
    pa_ages_free(t->ages);
    t->ages = keep ? a : NULL;
    if (!keep)
        pa_ages_free(a);
    return PA_OK;
}

const pa_ages_t *pa_ages_of(const pa_trace_t *t)
{
    return t->ages && t->has_snapshot && t->ages->time_ns == t->snap.time_ns ? t->ages : NULL;
}

const pa_age_site_t *pa_ages_site(const pa_ages_t *a, uint32_t id)
{
    size_t lo = 0, hi = a->nsites;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a->sites[mid].stack_id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < a->nsites && a->sites[lo].stack_id == id ? &a->sites[lo] : NULL;
}

uint64_t pa_ages_freed(const pa_ages_t *a, const pa_age_site_t *site, unsigned b)
{
    uint32_t bit = UINT32_C(1) << b;
    if (!(site->freed_mask & bit))
        return 0;
    return a->freed[site->freed_first + (uint32_t)__builtin_popcount(site->freed_mask & (bit - 1))];
}

void pa_ages_bucket_range(unsigned b, uint64_t *lo, uint64_t *hi)
{
    *lo = b == 0 ? 0 : UINT64_C(1) << (b - 1);
    *hi = b + 1 >= PS_AGE_BUCKETS ? UINT64_MAX : UINT64_C(1) << b;
}

double pa_ages_seconds(const pa_ages_t *a, double units)
{
    return units * (double)a->unit_ps * 1e-12;
}

int pa_ages_parse_duration(const char *s, uint64_t *ns)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || !(v >= 0) || v > 1e9)
        return PA_EUSAGE;
    static const struct {
        const char *unit;
        double ns;
    } units[] = {{"", 1e9},   {"ns", 1},     {"us", 1e3},   {"ms", 1e6},   {"s", 1e9},
                 {"m", 60e9}, {"min", 60e9}, {"h", 3600e9}, {"d", 86400e9}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strcmp(end, units[i].unit) == 0) {
            *ns = (uint64_t)(v * units[i].ns + 0.5);
            return PA_OK;
        }
    return PA_EUSAGE;
}

/* ---- per site ------------------------------------------------------------------------------ */

static double units_to_ns(const pa_ages_t *a, double units)
{
    return units * (double)a->unit_ps / 1000.0;
}

void pa_ages_add(const pa_ages_t *a, const pa_age_site_t *site, uint64_t older_than_ns,
                 uint64_t *scratch, pa_age_summary_t *s)
{
    if (!s->have) {
        s->lo_idx = PA_AGE_LIVE_INDEXES;
        s->hi_idx = 0;
    }
    s->have = true;
    for (uint32_t k = 0; k < site->ncells; k++) {
        const pa_age_cell_t *x = &a->cells[site->first + k];
        uint64_t lo = pa_hist_bucket_low(x->index), hi = pa_hist_bucket_high(x->index);
        s->live_blocks += x->count;
        s->live_bytes += x->bytes;
        scratch[x->index] += x->count;
        if (x->index < s->lo_idx)
            s->lo_idx = x->index;
        if (x->index + 1 > s->hi_idx)
            s->hi_idx = x->index + 1;
        /* a bucket counts as older when some age in it can be: every block older than the
         * limit is listed, and at most a bucket's width (1/16) younger ones with them */
        if (older_than_ns && units_to_ns(a, (double)hi) <= (double)older_than_ns)
            continue;
        s->older_blocks += x->count;
        s->older_bytes += x->bytes;
        unsigned b = ps_age_bucket(lo); /* a log-linear bucket lies inside one octave */
        s->live_hist[b] += x->count;
        s->live_hist_bytes[b] += x->bytes;
    }
    const uint64_t *freed = a->freed ? a->freed + site->freed_first : NULL;
    for (uint32_t m = site->freed_mask; m; m &= m - 1) {
        uint64_t n = *freed++;
        s->freed_hist[__builtin_ctz(m)] += n;
        s->freed_blocks += n;
    }
}

/* The age (units, bucket midpoint) of the block of rank ceil(p * n) in scratch. */
static double live_quantile(const uint64_t *scratch, const pa_age_summary_t *s, uint64_t n,
                            double p)
{
    uint64_t rank = (uint64_t)(p * (double)n);
    if ((double)rank < p * (double)n)
        rank++;
    if (rank == 0)
        rank = 1;
    uint64_t seen = 0;
    for (uint32_t i = s->lo_idx; i < s->hi_idx; i++) {
        seen += scratch[i];
        if (seen >= rank)
            return ((double)pa_hist_bucket_low(i) + (double)pa_hist_bucket_high(i)) / 2.0;
    }
    return 0;
}

void pa_ages_finish(const pa_ages_t *a, uint64_t *scratch, pa_age_summary_t *s)
{
    if (!s->have)
        return;
    if (s->live_blocks) {
        s->median_age_s = pa_ages_seconds(a, live_quantile(scratch, s, s->live_blocks, 0.5));
        s->p10_age_s = pa_ages_seconds(a, live_quantile(scratch, s, s->live_blocks, 0.1));
    }
    for (uint32_t i = s->lo_idx; i < s->hi_idx; i++)
        scratch[i] = 0;
    if (s->freed_blocks) {
        uint64_t rank = (s->freed_blocks * 9 + 9) / 10, seen = 0; /* ceil(0.9 n) */
        for (unsigned b = 0; b < PS_AGE_BUCKETS; b++) {
            seen += s->freed_hist[b];
            if (seen >= rank) {
                uint64_t lo, hi;
                pa_ages_bucket_range(b, &lo, &hi);
                /* the bucket's upper edge: a lifetime overstated, a verdict never too eager */
                s->p90_lifetime_s =
                    pa_ages_seconds(a, hi == UINT64_MAX ? (double)lo * 2 : (double)hi);
                break;
            }
        }
    }
    if (s->live_blocks < PA_AGE_MIN_LIVE)
        return;
    if (s->freed_blocks >= PA_AGE_MIN_FREED) {
        s->ratio = s->p90_lifetime_s > 0 ? s->median_age_s / s->p90_lifetime_s : 0;
        if (s->ratio >= PA_AGE_RATIO) {
            s->suspect = true;
            s->rule = "outlived";
        }
    } else if (s->median_age_s >= PA_AGE_RATIO * pa_ages_seconds(a, 1) &&
               s->p10_age_s <= PA_AGE_SPREAD * s->median_age_s) {
        /* no lifetimes to compare with: blocks kept from all along the run, not once */
        s->suspect = true;
        s->rule = "never_freed";
    }
}
