/* SPDX-License-Identifier: MIT */
/*
 * export.h — `perfshim export`: the profiles of one or more traces in the formats other tools
 * read (pprof, folded stacks, speedscope). export.c gathers the sites of the traces, merged by
 * symbolized stack, into a pa_xprof_t; each writer turns it into one format (pprof.c: the
 * gzip'd profile.proto; export.c: folded, speedscope and json).
 */
#ifndef PERFSHIM_ANALYZER_EXPORT_H
#define PERFSHIM_ANALYZER_EXPORT_H

#include "symbols.h"
#include "util.h"

#include <uthash.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* The metrics a site carries, in the order of pprof's sample types within their profile. */
enum {
    PA_X_INUSE_SPACE,   /* live bytes at the snapshot */
    PA_X_INUSE_OBJECTS, /* live blocks */
    PA_X_ALLOC_SPACE,   /* bytes allocated since start */
    PA_X_ALLOC_OBJECTS, /* allocations since start */
    PA_X_CONTENTIONS,   /* contended lock acquisitions */
    PA_X_DELAY,         /* ns waited for locks */
    PA_X_SAMPLES,       /* CPU timer samples */
    PA_X_CPU,           /* ns of CPU: samples x period */
    PA_X_NMETRICS
};

/* The profiles: the metrics of one kind, as pprof groups them (one pprof file each). */
typedef enum { PA_X_HEAP, PA_X_LOCKS, PA_X_CPUPROF, PA_X_NKINDS } pa_xkind_t;

typedef struct {
    const char *name; /* --metric name and pprof sample type: "inuse_space", ... */
    const char *unit; /* pprof unit: "bytes", "count", "nanoseconds" */
    pa_xkind_t kind;
} pa_xmetric_t;

extern const pa_xmetric_t pa_xmetrics[PA_X_NMETRICS];
/* The first metric of each kind and how many it has. */
extern const int pa_xkind_first[PA_X_NKINDS], pa_xkind_count[PA_X_NKINDS];

/* A module of the traces (a pprof Mapping), one per path and build-id. Its addresses are those
 * of the first trace that had it: frames of other traces are moved to them by their offset. */
typedef struct {
    char *path;
    uint8_t *build_id; /* build_id_len bytes, NULL when 0 */
    uint32_t build_id_len;
    uint64_t start, end, base; /* runtime range and load bias in that first trace */
    bool unresolved;           /* some frame in it has no function name */
} pa_xmap_t;

/* A stack of the merged traces and its figures. */
typedef struct {
    UT_hash_handle hh;
    char *key;          /* pa_stackview_t.key: the serialized visible frames (hash key) */
    pa_frame_t *frames; /* innermost first; copies, their strings interned (export.c) */
    uint32_t *map;      /* per frame: index into maps + 1, 0 for no module */
    size_t nframes;
    const char *note; /* why there are no frames (or why they stop), or NULL; interned */
    uint64_t v[PA_X_NMETRICS];
} pa_xsite_t;

typedef struct {
    pa_xsite_t *sites;       /* uthash, in the order they were first seen */
    struct pa_xstr *strings; /* the sites' strings, interned (uthash) */
    pa_xmap_t *maps;
    size_t nmaps, maps_cap;
    size_t ntraces;
    pa_strlist_t paths; /* the traces merged */
    uint64_t *pids;     /* their processes' ids */
    size_t pids_cap;
    const char *program; /* the first trace's program (program_copy), or NULL */
    char *program_copy;
    uint64_t start_realtime_ns; /* the first trace's process start */
    uint64_t duration_ns;       /* longest time from start to the reported snapshot */
    uint64_t sample_mean;       /* PERFSHIM_SAMPLE mean bytes (the largest of the traces'), 0 */
    uint64_t cpu_hz;            /* the CPU sampling rate (the first trace's), 0 none */
    bool has[PA_X_NKINDS];      /* some trace had data of the kind */
    /* --format json: each trace's "reports" object (export.c), one after another in a
     * temporary file (the reports of a big trace are hundreds of MB), and where each ends */
    FILE *reports;
    uint64_t *reports_end;
    size_t reports_cap;
} pa_xprof_t;

/* The gzip'd pprof profile of kind `kind` of p, with default sample type `metric`, into out.
 * PA_OK, PA_ENOMEM or PA_EIO (said). */
int pa_pprof_write(const pa_xprof_t *p, pa_xkind_t kind, int metric, FILE *out, const char *name);

/* A frame's name in folded stacks and speedscope: its function, or "module+0xoffset" when
 * unresolved; into buf. */
const char *pa_export_frame_name(const pa_frame_t *f, char *buf, size_t size);

/* The `export` subcommand: argv[0] is "export". Returns the exit status. */
int pa_export_main(int argc, char **argv);
extern const char pa_export_help[];

/* The sites of the traces (loaded in turn at the snapshot `at` chooses), merged by symbolized
 * stack, as `export` gathers them, into *p (zeroed first; free with pa_export_free, also after an
 * error). PA_OK, or the first error (said). Used by `report --html` (html.c). */
int pa_export_gather(char *const *paths, size_t n, const pa_at_t *at, pa_xprof_t *p);
void pa_export_free(pa_xprof_t *p);

#endif /* PERFSHIM_ANALYZER_EXPORT_H */
