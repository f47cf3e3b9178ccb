/* SPDX-License-Identifier: MIT */
/*
 * export.h — `perfshim export`: the profiles of one or more traces in the formats other tools
 * read (pprof, folded stacks, speedscope). export.c gathers the sites of the traces, merged by
 * symbolized stack, into a pa_xprof_t (one table of frames; a site a node of a tree of them);
 * each writer turns it into one format (pprof.c: the gzip'd profile.proto; export.c: folded,
 * speedscope and json; html.c: the page's data).
 */
#ifndef PERFSHIM_ANALYZER_EXPORT_H
#define PERFSHIM_ANALYZER_EXPORT_H

#include "json.h"
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

/* A frame of the traces: one per (trace, recorded address, frame of its inline chain), made when
 * a stack of that trace first reaches the address. Sites name their frames by index into
 * pa_xprof_t.frames, so a frame shared by many stacks is stored and symbolized once. */
typedef struct {
    pa_frame_t f;  /* its strings interned (export.c) */
    uint64_t hash; /* of its key piece: what report.c's serialize_frame() writes of it */
    uint32_t map;  /* index into maps + 1, 0 for no module; set when a site first uses it */
    uint8_t flags; /* PA_XF_* (export.c) */
} pa_xframe_t;

/* A node of the sites' frame tree: a frame of some site and the node of the frame that called
 * it. A site's frames are the chain from its leaf node out: the sites of a trace share the
 * nodes of their outer frames, so a compile's 4.7M site frames are about 1M nodes (8 bytes a
 * node, where a run of indices per site took 4 bytes a frame: docs/performance.md, "Session
 * 13: `diff` of two compiles ..."). */
typedef struct {
    uint32_t frame;  /* index into pa_xprof_t.frames */
    uint32_t caller; /* index into pa_xprof_t.nodes; 0 (the root, no frame) after the outermost */
} pa_xnode_t;

/* A stack of the merged traces and its figures: the visible frames of the first stack seen with
 * its key (pa_stackview_t.key: the same call site in several processes is one site). */
typedef struct {
    /* its frames, innermost first: the node of its innermost frame in pa_xprof_t.nodes (0
     * without frames), and nframes nodes from it out; narrow, so that a site is 80 bytes, not
     * 88 (128k sites on a compile): a stack of 2^24 frames is out of memory (site_put) */
    uint32_t leaf;
    uint32_t nframes : 24;
    uint32_t special : 8; /* the key's part that is not a frame: 0 none, or PA_XS_* (export.c) */
    const char *note;     /* why there are no frames (or why they stop), or NULL; interned */
    uint64_t v[PA_X_NMETRICS];
} pa_xsite_t;

typedef struct {
    pa_xsite_t *sites; /* in the order they were first seen */
    size_t nsites, sites_cap;
    uint64_t *site_index; /* pa_tix (util.h) by key: site + 1 */
    size_t site_index_cap;
    pa_xframe_t *frames; /* every frame of the traces' stacks reached */
    size_t nframes, frames_cap;
    pa_xnode_t *nodes; /* the sites' frame tree; node 0 is the root (no frame) */
    size_t nnodes, nodes_cap;
    uint32_t *site_frames; /* pa_xsite_frames's buffer: room for the most frames of a site */
    size_t site_frames_cap;
    struct pa_xstr *strings; /* the frames' strings, interned (uthash) */
    pa_xmap_t *maps;
    size_t nmaps, maps_cap;
    size_t ntraces;
    pa_strlist_t paths; /* the traces merged */
    uint64_t *pids;     /* their processes' ids */
    size_t pids_cap;
    uint64_t *ppids; /* their parents' ids */
    size_t ppids_cap;
    pa_strlist_t programs; /* their programs ("" unknown) */
    uint64_t processes;    /* the processes traced: a merged trace counts its inputs */
    const char *program;   /* the first trace's program (program_copy), or NULL */
    char *program_copy;
    uint64_t start_realtime_ns; /* the first trace's process start */
    uint64_t duration_ns;       /* longest time from start to the reported snapshot */
    uint64_t sample_mean;       /* PERFSHIM_SAMPLE mean bytes (the largest of the traces'), 0 */
    uint64_t cpu_hz;            /* the CPU sampling rate (the first trace's), 0 none */
    bool has[PA_X_NKINDS];      /* some trace had data of the kind */
    /* --format json: each trace's "reports" object (export.c), one after another in a
     * temporary file (the reports of a big trace are hundreds of MB), and where each ends; or,
     * with doc set (the output a regular file, removed on error), written into the output
     * itself as the traces are read: doc is the document's writer, reports the output */
    FILE *reports;
    uint64_t *reports_end;
    size_t reports_cap;
    pa_json_t *doc;
    /* one trace to a pipe or a terminal: the output and the document's writer, which become
     * reports and doc once the trace has loaded (nothing written before) */
    FILE *direct;
    pa_json_t *direct_doc;
} pa_xprof_t;

/* The frames of site s, innermost first (s->nframes indices into p->frames), walked from its
 * leaf node out into p's buffer: valid until the next call for a site of p. */
static inline const uint32_t *pa_xsite_frames(const pa_xprof_t *p, const pa_xsite_t *s)
{
    const pa_xnode_t *nodes = p->nodes;
    uint32_t *out = p->site_frames, node = s->leaf;
    for (size_t i = 0, n = s->nframes; i < n; i++) {
        pa_xnode_t x = nodes[node];
        out[i] = x.frame;
        node = x.caller;
    }
    return out;
}

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
 * error). PA_OK, or the first error (said). fn (may be NULL) is called with each trace once its
 * sites are added, before it is freed (nwarn: the warnings of its loading; the gathering's
 * symbolizer added more); a return other than PA_OK stops the gathering and is returned.
 * `report --html` (html.c) writes its per-trace sections so, from the one load of each trace. */
typedef int (*pa_export_trace_fn)(pa_trace_t *t, size_t nwarn, void *ctx);
int pa_export_gather_with(char *const *paths, size_t n, const pa_at_t *at, pa_xprof_t *p,
                          pa_export_trace_fn fn, void *ctx);
/* Back to t's first n warnings (those of its loading), printing no more: before a report is
 * made from a trace another report has symbolized, so that it lists what its own command would. */
void pa_export_warnings_keep(pa_trace_t *t, size_t n);
void pa_export_free(pa_xprof_t *p);

/* For a report that keys its own sites as export does (diff.c), trace by trace: a walk of trace
 * t, symbolized by syms (the caller's; both must outlive the walk), then the site of each stack
 * `id` viewed with `hide` (report.h's PA_HIDE_*) as an index into p->sites, made on first sight
 * (p zeroed before the first walk, freed with pa_export_free). PA_OK or PA_ENOMEM. */
typedef struct pa_xwalk pa_xwalk_t;
int pa_export_walk_begin(pa_trace_t *t, pa_symbols_t *syms, pa_xwalk_t **w);
int pa_export_site_of(pa_xprof_t *p, pa_xwalk_t *w, uint32_t id, unsigned hide, size_t *site);
void pa_export_walk_end(pa_xwalk_t *w);
/* Where a site's special key part (pa_xsite_t.special, not 0) sorts among the others: a stack
 * view's key is the pieces of its frames then that marker, and the markers sort below every
 * piece in this order (0 first). */
uint32_t pa_export_special_rank(uint32_t special);
/* For a writer that numbers the frames it writes, each once: an array by frame of p (malloc'ed,
 * every entry UINT32_MAX, "not yet"), or NULL (no memory). */
uint32_t *pa_export_memo(const pa_xprof_t *p);

#endif /* PERFSHIM_ANALYZER_EXPORT_H */
