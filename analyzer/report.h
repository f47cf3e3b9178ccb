/* SPDX-License-Identifier: MIT */
/*
 * report.h — what the leak and summary reports share: symbolizing the rows of the reported
 * snapshot, hiding allocator and shim frames, merging rows whose symbolized stacks are identical,
 * sorting, and writing frames, the process header, warnings and messages as text and JSON.
 */
#ifndef PERFSHIM_ANALYZER_REPORT_H
#define PERFSHIM_ANALYZER_REPORT_H

#include "json.h"
#include "model.h"
#include "suppress.h"
#include "symbols.h"

#include <stdio.h>

/* Rows of the reported snapshot whose visible frames are identical, summed. Grouping reads each
 * frame of the model's frame tree once (symbols are cached per address) but keeps no strings and
 * no frames per row or group: a group's key is the list of the interned pieces (one per visible
 * frame, see report.c) read on the frame tree from a node, and its frames are made again, for
 * the groups a report prints only, by pa_report_group_view(). */
typedef struct {
    uint32_t first_stack_id; /* lowest stack id merged here */
    /* the stack whose frames are shown: the first row grouped here, whose leaf frame node the
     * key is read from (report.c) */
    uint32_t shown_stack_id;
    int32_t suppressed_by; /* index of the matching suppression pattern, or -1 */
    uint32_t nframes;      /* visible frames */
    uint32_t hidden;       /* leading frames hidden: operator new/new[], libperfshim.so */
    uint32_t stacks;       /* stack ids merged here (4 bytes: ids are) */
    const char *note;      /* why there are no frames, or NULL */
    uint64_t allocs, alloc_bytes, frees, freed_bytes;
    uint64_t live_blocks, live_bytes;
    uint64_t peak_live_bytes; /* sum of the merged stacks' peaks */
    /* a forked child's blocks inherited from its parent (leaks.c moves them out of live_*) */
    uint64_t inherited_blocks, inherited_bytes;
} pa_group_t;

typedef struct pa_pieces pa_pieces_t; /* interned pieces, the per-address cache */

typedef struct {
    pa_group_t *all;        /* n groups, in the order they were made */
    pa_group_t **items;     /* n groups, in the order of the last sort */
    pa_group_t **row_group; /* the group of each row of the snapshot (NULL: left out) */
    size_t n, cap;          /* cap: of all */
    pa_trace_t *t;          /* the trace and symbolizer grouped (for pa_report_group_view) */
    pa_symbols_t *syms;
    pa_pieces_t *pieces;
    bool pieces_kept; /* pieces are pa_report_keep_keys()'s: not freed with the groups */
    uint64_t *from;   /* by group of all: where a sort reads its key from (report.c) */
    bool from_failed; /* (no memory for from: keys are found again for each comparison) */
} pa_groups_t;

/* Writes one report of trace t (one of the callbacks of pa_report_each_file). */
typedef int (*pa_report_fn)(pa_trace_t *t, void *ctx, FILE *out, pa_json_t *j);

/* How pa_report_each_file loads and frames its traces. */
typedef struct {
    bool json;         /* JSON reports: one document, or an array when as_array */
    bool quiet;        /* loading warnings left out */
    bool as_array;     /* JSON: the reports as one array */
    const pa_at_t *at; /* the snapshot each trace is loaded at; NULL: the last */
    /* NULL: a trace without any snapshot is an error. Else it is not (its process killed before
     * it wrote one: `perfshim run`, where a healthy program may kill its own children, as
     * multiprocessing.Pool does), and *nosnap counts them (set to 0 first). */
    size_t *nosnap;
    bool live_stacks; /* pa_model_opts_t.live_stacks: one() prints only the live rows' stacks */
} pa_each_opts_t;

/* Loads every trace in turn and calls one() for it: text reports separated by blank lines,
 * JSON as an array when eo->as_array. An unreadable trace is reported (pa_model_load says why)
 * and skipped. Returns the first error, PA_OK if none. The advice counters are not kept
 * (pa_model_opts_t.no_advice): none of these reports (leaks, summary, locks, hot, run) reads
 * them, and t->advice is NULL in one(). */
int pa_report_each_file(char *const *paths, size_t n, const pa_each_opts_t *eo, FILE *out,
                        pa_report_fn one, void *ctx);

/* The same for reports that read each file themselves (timeline, growth: two passes): one()
 * gets the path; an error it returns is counted (it said why), PA_ENOMEM said here. */
typedef int (*pa_report_path_fn)(const char *path, void *ctx, FILE *out, pa_json_t *j);
int pa_report_each_path(char *const *paths, size_t n, bool json, bool as_array, FILE *out,
                        pa_report_path_fn one, void *ctx);

/* Groups the rows of t's current snapshot (with live_only: rows with live blocks only). t and syms
 * must outlive the groups. */
int pa_report_group(pa_trace_t *t, pa_symbols_t *syms, bool live_only, pa_groups_t *out);
void pa_report_groups_free(pa_groups_t *g);
/* On, a grouping of every row of a snapshot keeps its first pass (the rows' keys, symbolized)
 * for the next groupings of the same trace and snapshot, with or without live_only, until it
 * is turned off (which frees it, and must come before the trace is freed). Reports of one
 * loaded trace in a row (export --format json) then symbolize and key its rows once. */
void pa_report_keep_keys(bool on);
/* For tests: the rows' key hashes cut to their low `bits` bits (0: the default, all 32), so
 * that keys of different pieces meet in the grouping's index and are told apart there. */
void pa_report_test_hash_bits(unsigned bits);
/* Frees the groups' keys (the pieces, the frames looked up by address): a report that
 * has chosen its groups and reads the file again (growth) keeps their figures and views
 * (pa_report_group_view) without them. The groups can no longer be sorted by key or matched
 * against suppressions. */
void pa_report_groups_drop_keys(pa_groups_t *g);
/* Sets every group's suppressed_by: the first pattern matching the innermost frame that some
 * pattern matches (pa_suppress_match on its frames), matched once per distinct frame. */
int pa_report_group_suppress(pa_groups_t *g, const pa_suppress_t *supp);
/* Largest live bytes first (then blocks, then the stack). */
void pa_report_sort_by_live(pa_groups_t *g);
/* Largest allocated bytes first (then allocations, then the stack). */
void pa_report_sort_by_alloc(pa_groups_t *g);
/* The same orders for a report that prints the first k groups only (k 0: all): items[0..k) are
 * the k groups the full sort puts first, in its order; the others follow in no order. */
void pa_report_sort_top_by_live(pa_groups_t *g, size_t k);
void pa_report_sort_top_by_alloc(pa_groups_t *g, size_t k);
/* The live order on n groups v of g (not g->items), the first k of them (k 0: all), as above. */
void pa_report_sort_top_by_live_of(pa_groups_t *g, pa_group_t **v, size_t n, size_t k);
/* That order on two groups of g: <0 when a comes first, 0 when a is b. */
int pa_report_cmp_live(const pa_groups_t *g, const pa_group_t *a, const pa_group_t *b);
/* True when the frame is hidden at the top of a stack / anywhere in it. */
bool pa_report_frame_is_allocator(const pa_frame_t *f);
bool pa_report_frame_is_shim(const pa_frame_t *f);

/* The frames of one recorded stack as reports show them; the buffers are reused by the next
 * call on the same view. */
typedef struct {
    pa_frame_t *frames; /* visible frames, innermost first (strings owned by the symbolizer) */
    size_t nframes, cap;
    size_t hidden;    /* frames hidden (see the PA_HIDE_* flags) */
    const char *note; /* why there are no frames, or NULL */
    pa_str_t key;     /* the visible frames serialized: equal keys read the same */
    /* The text and JSON of each distinct frame already written from this view (report.c):
     * made once, copied for every stack that repeats the frame. Keyed by the frame's fields,
     * strings by pointer, so a view must not outlive the symbolizer of its frames. */
    struct pa_frame_cache *cache;
} pa_stackview_t;

enum {
    PA_HIDE_SHIM = 1,          /* libperfshim.so frames, anywhere */
    PA_HIDE_ALLOCATOR = 2,     /* leading operator new/new[] frames */
    PA_HIDE_LOCK_WRAPPERS = 4, /* leading C++ standard library lock wrappers */
};

/* Appends frame f's piece of a view's key (what `key` holds for it) to key: keys compare as
 * the lists of their pieces (no piece is a prefix of another). */
void pa_report_key_piece(pa_str_t *key, const pa_frame_t *f);

/* Symbolizes stack `id` of t into v. PA_OK or PA_ENOMEM. */
int pa_report_stack_view(pa_trace_t *t, pa_symbols_t *syms, uint32_t id, unsigned hide,
                         pa_stackview_t *v);
void pa_report_stack_view_free(pa_stackview_t *v);
/* The frames of group x as reports show them (those of its first row) into v; v->key is left
 * empty (groups are compared by their keys' pieces, not by this string). */
int pa_report_group_view(const pa_groups_t *g, const pa_group_t *x, pa_stackview_t *v);
bool pa_report_frame_is_lock_wrapper(const pa_frame_t *f);

/* Text: one line per frame, "#N function (file:line)"; the note first when not NULL. Unless
 * all_frames, a run of two or more C++ standard library frames (pa_frame_t.library) is one
 * line: "#N std::vector<long, std::allocator<long> >::vector(...) [6 inlined library frames]",
 * named by the outermost of them, the function the program called. */
void pa_report_frames_text_n(FILE *out, const char *note, const pa_frame_t *frames, size_t n,
                             const char *indent, bool all_frames);
/* A frame in a few words: "function", or "module+0xoffset" when unresolved, "?" for NULL. */
const char *pa_report_frame_brief(const pa_frame_t *f, char *buf, size_t size);
/* JSON: frames as an array of frame objects (docs/analyzer.md). */
void pa_report_frames_json_n(pa_json_t *j, const pa_frame_t *frames, size_t n);
/* JSON: the "note" member when note is not NULL, then the "stack" member. */
void pa_report_stack_json(pa_json_t *j, const char *note, const pa_frame_t *frames, size_t n);
/* Text: pa_report_frames_text_n() of a stack view. */
void pa_report_frames_text(FILE *out, const pa_stackview_t *v, const char *indent, bool all_frames);
/* JSON: the frames of a stack view as an array of frame objects (docs/analyzer.md). */
void pa_report_frames_json(pa_json_t *j, const pa_stackview_t *v);

/* Text: program, pid, command line, trace file, snapshot. */
void pa_report_header_text(FILE *out, const pa_trace_t *t, const char *title);
/* JSON: the "process", "trace", "format_version" and "snapshot" members. */
void pa_report_process_json(pa_json_t *j, const pa_trace_t *t);
/* JSON: the "complete", "warnings" and "messages" members. */
void pa_report_status_json(pa_json_t *j, const pa_trace_t *t);
/* Text: an incomplete-trace notice and the shim's messages, if any. */
void pa_report_status_text(FILE *out, const pa_trace_t *t);
/* Sampling (PERFSHIM_SAMPLE, docs/analyzer.md "Sampled traces"): the figures of a sampled
 * trace are estimates. pa_report_est: "~" to put before each estimated figure in text, else "".
 * The status functions above say it once per report (text: a line; JSON: "sampling").
 * pa_report_estimate_json: after a figure's members, "estimated": true and the 95% intervals
 * "<bytes_key>_interval" and "<count_key>_interval" ([low, high]; null if the mean is unknown);
 * nothing for an exact trace. */
const char *pa_report_est(const pa_trace_t *t);
void pa_report_estimate_json(pa_json_t *j, const pa_trace_t *t, const char *bytes_key,
                             uint64_t bytes, const char *count_key, uint64_t count);

#endif /* PERFSHIM_ANALYZER_REPORT_H */
