/* SPDX-License-Identifier: MIT */
/*
 * growth.h — `perfshim growth`: allocation sites ranked by how their live bytes evolve over the
 * snapshots of a trace, each with a class (unbounded, saturating, bounded, stable), its growth
 * rate per second and per allocation, a confidence, and the time until the process would reach
 * a memory limit. The method and its thresholds: docs/analyzer.md, "perfshim growth".
 */
#ifndef PERFSHIM_ANALYZER_GROWTH_H
#define PERFSHIM_ANALYZER_GROWTH_H

#include "json.h"
#include "model.h"
#include "report.h"
#include "symbols.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define PA_GROWTH_POINTS 64      /* points per site: the snapshots, averaged into at most this */
#define PA_GROWTH_FOLLOW 256     /* sites followed per trace: those with the highest peaks */
#define PA_GROWTH_DEFAULT_TOP 10 /* sites reported */

/* The thresholds of the classifier (docs/analyzer.md). Growth is measured relative to the
 * site's peak P (the highest point) over the trace's span T: g = slope × T / P. The tail is
 * the last segment, or the second half of the points when that is shorter. */
#define PA_GROWTH_SPLIT 0.5 /* two segments only if they leave < this of one line's residual */
#define PA_GROWTH_GROW 0.25 /* the last segment grows: g >= this ... */
#define PA_GROWTH_R2 0.6    /* ... with a fit at least this good (R²) */
#define PA_GROWTH_GROW_STEADY 0.02 /* ... or g >= this with a line fit this good: */
#define PA_GROWTH_R2_STEADY 0.9
#define PA_GROWTH_SLOWER 0.7     /* saturating: last slope below this share of the first's */
#define PA_GROWTH_RISE 0.1       /* still rising: the last segment gains this share of P */
#define PA_GROWTH_GREW 0.25      /* grew during the trace: the tail's mean minus the first point */
#define PA_GROWTH_HELD 0.5       /* bounded: the tail's mean holds this share of P */
#define PA_GROWTH_SPREAD 0.25    /* bounded: the tail stays within this share of P */
#define PA_GROWTH_FULL_POINTS 16 /* points for full confidence (fewer scale it down) */
/* A sampled trace (PERFSHIM_SAMPLE): the sampled blocks behind a series' highest point for full
 * confidence; fewer, N, scale it by sqrt(N / this), the Poisson relative error of this many
 * (1 / sqrt(100) = 10%) over that of N */
#define PA_GROWTH_FULL_SAMPLES 100

typedef enum {
    PA_GROWTH_UNBOUNDED = 0, /* growing at a steady rate */
    PA_GROWTH_SATURATING,    /* growing, but slower than before: profile longer */
    PA_GROWTH_BOUNDED,       /* grew during the trace, then held a plateau (a cache) */
    PA_GROWTH_STABLE,        /* no lasting growth (flat, churn, a sawtooth) */
} pa_growth_class_t;

/* One point of a site's series: the mean of the snapshots averaged into it. */
typedef struct {
    double t;      /* seconds since process start */
    double bytes;  /* live bytes of the site */
    double allocs; /* allocations the site made since start (cumulative) */
} pa_growth_point_t;

typedef struct {
    pa_growth_class_t cls;
    double bytes_per_second;  /* least-squares slope of the last segment */
    bool has_per_event;       /* the site allocated during the last segment */
    double bytes_per_event;   /* slope of live bytes against the site's allocations there */
    double confidence;        /* 0..1 */
    size_t breakpoint;        /* first point of the last segment (0: one segment) */
    double r2_first, r2_last; /* R² of the two segments' line fits */
    /* a sampled trace whose mean is known: the sampled blocks (not the blocks they stand for)
     * estimated behind the series' highest point; confidence was scaled down when fewer than
     * PA_GROWTH_FULL_SAMPLES (pa_growth_weigh_samples) */
    bool has_samples;
    double samples;
} pa_growth_fit_t;

/* Classifies a series of n points in time order (the unit tests call it on synthetic series). */
void pa_growth_classify(const pa_growth_point_t *p, size_t n, pa_growth_fit_t *out);
/* A sampled trace: the samples behind the highest point (peak bytes, estimated) of a site whose
 * allocations average mean_size bytes, at mean sampling interval mean_bytes (> 0), into f, and
 * f's confidence scaled by min(1, sqrt(samples / PA_GROWTH_FULL_SAMPLES)). */
void pa_growth_weigh_samples(pa_growth_fit_t *f, double peak, double mean_size, double mean_bytes);
/* "unbounded", "saturating", "bounded", "stable". */
const char *pa_growth_class_name(pa_growth_class_t c);

typedef struct {
    bool json;
    uint64_t top;    /* sites reported; 0: every site followed */
    uint64_t limit;  /* bytes; 0: the trace's cgroup memory.max, else the machine's memory */
    bool quiet;      /* collect trace warnings without printing them (tests) */
    bool all_frames; /* text: C++ standard library frames one per line, not folded */
} pa_growth_opts_t;

/* One trace: reads `path` twice (sites at the last snapshot, then every snapshot's rows of
 * those sites), classifies and writes the report (JSON into j when o->json, else text to out).
 * pa_growth_merge (--merge) reports over several processes from each one's pa_growth_collect. */
int pa_growth_trace(const char *path, const pa_growth_opts_t *o, FILE *out, pa_json_t *j);
/* The same from the file's model already loaded (as pa_model_read loads it, at its last
 * snapshot; left loaded): report --html's one load. */
int pa_growth_trace_loaded(pa_trace_t *t, const char *path, const pa_growth_opts_t *o, FILE *out,
                           pa_json_t *j);

/* The series of one trace's sites, made from its model: `first` is the model of pass 1 (read
 * to the last snapshot; its groups are formed here), path is read again for the series. The
 * result keeps first, its symbolizer and groups for the frames; pa_growth_set_free frees them
 * (not first itself). pa_growth_merge collects each trace in turn and adds the series whose
 * symbolized stacks read the same. */
typedef struct pa_growth_set pa_growth_set_t;
int pa_growth_collect(pa_trace_t *first, const char *path, pa_growth_set_t **out);
void pa_growth_set_free(pa_growth_set_t *s);

/* The same with the groups the caller already made of `first` with syms (`perfshim advise`):
 * they stay the caller's and must outlive the set; the order of g->items is changed. */
int pa_growth_collect_groups(pa_trace_t *first, const char *path, pa_symbols_t *syms,
                             const pa_groups_t *g, pa_growth_set_t **out);

/* What a set found of one followed site (the PA_GROWTH_FOLLOW groups with the highest peaks). */
typedef struct {
    pa_growth_fit_t fit;
    uint64_t live, blocks, allocs; /* at the last snapshot */
    bool sampled;                  /* figures are estimates */
} pa_growth_site_t;
size_t pa_growth_set_sites(const pa_growth_set_t *s);
/* Site i (< pa_growth_set_sites) into *out; returns its group. */
const pa_group_t *pa_growth_set_site(const pa_growth_set_t *s, size_t i, pa_growth_site_t *out);

/* Every trace in turn (per process); JSON array when as_array. PA_OK or the first error. */
int pa_growth_files(char *const *paths, size_t n, const pa_growth_opts_t *o, bool as_array,
                    FILE *out);

/* --merge: one report over the traces of many processes, sites keyed by symbolized stack, each
 * series the sum of the processes' on a common time axis (docs/analyzer.md, "growth --merge").
 * PA_OK, or the error of the first trace that could not be used (the others are merged). */
int pa_growth_merge(char *const *paths, size_t n, const pa_growth_opts_t *o, FILE *out);

#endif /* PERFSHIM_ANALYZER_GROWTH_H */
