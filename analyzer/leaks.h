/* SPDX-License-Identifier: MIT */
/*
 * leaks.h — the leak report (`perfshim leaks`, and the report of `perfshim run`): blocks still
 * live in the last snapshot, grouped by symbolized stack, largest first, with suppressions.
 */
#ifndef PERFSHIM_ANALYZER_LEAKS_H
#define PERFSHIM_ANALYZER_LEAKS_H

#include "json.h"
#include "model.h"
#include "report.h"
#include "suppress.h"

#include <stdbool.h>
#include <stdio.h>

typedef struct {
    bool json;
    uint64_t top;              /* leaks listed per trace; 0: all */
    const pa_suppress_t *supp; /* patterns in effect */
    bool quiet;                /* collect trace warnings without printing them (tests) */
    bool all_frames;           /* text: C++ standard library frames one per line, not folded */
    pa_at_t at;                /* the snapshot reported (--at; zero: the last) */
    bool fail_all;             /* --fail-on-leak=all: possibly lost and still reachable too */
    bool fail_possible;        /* --fail-on-leak=possible: possibly lost blocks fail too */
    uint64_t older_than_ns;    /* --older-than: only live blocks at least this old (0: all) */
    bool rank_suspects;        /* --rank suspects: suspects first (ages.h) */
    bool ages;                 /* --ages: text shows each site's age histograms */
} pa_leaks_opts_t;

typedef struct {
    uint64_t leaked_blocks, leaked_bytes;         /* not suppressed */
    uint64_t suppressed_blocks, suppressed_bytes; /* matched a suppression */
    size_t leaks, suppressed;                     /* entries (distinct stacks; and kinds) */
    /* With leak classes (a LEAK_KINDS chunk, shim/reach.c): not suppressed, by enum ps_leak_kind
     * (0: blocks the scan did not see). kinds is false for a trace without them. */
    bool kinds;
    uint64_t kind_blocks[PS_LEAK_KINDS], kind_bytes[PS_LEAK_KINDS];
    /* --older-than: old blocks of stacks that also have younger blocks of other classes, whose
     * classes are unknown (entries of kind "mixed") */
    uint64_t mixed_blocks, mixed_bytes;
    /* --fail-on-leak fails: definitely and indirectly lost blocks and blocks the scan did not
     * see; possibly lost ones too with fail_possible, every class with fail_all; every live
     * block of a trace without classes */
    bool failing;
    /* a forked child's blocks live at the fork (INHERITED chunk): never leaks of its own */
    uint64_t inherited_blocks, inherited_bytes;
    size_t inherited; /* groups with inherited blocks */
} pa_leaks_totals_t;

/* Reports one loaded trace on out (text) or into j (JSON, one object). */
int pa_leaks_report(pa_trace_t *t, const pa_leaks_opts_t *o, FILE *out, pa_json_t *j,
                    pa_leaks_totals_t *tot);

/* A forked child's blocks inherited from its parent (the INHERITED chunk): moved out of each
 * group's live figures into its inherited_* ones, per stack min(live now, live at the fork),
 * and added to tot's inherited_* (leaks.c; merge.c uses it too). */
void pa_leaks_split_inherited(pa_groups_t *g, pa_leaks_totals_t *tot);

/* Whether --fail-on-leak (o's level) fails on the groups of t, suppressed and with inherited
 * blocks split off, as its report would (merge.c: each trace of leaks --merge). */
bool pa_leaks_failing(const pa_trace_t *t, const pa_groups_t *g, const pa_leaks_opts_t *o);

/* Loads and reports each trace in turn. JSON: one object, or an array of objects when as_array
 * (unreadable traces are left out of it). Returns PA_OK, or the error of the first trace that
 * could not be used (the others are still reported). *leaked: some trace has a leak that no
 * suppression matched. */
int pa_leaks_files(char *const *paths, size_t n, const pa_leaks_opts_t *o, bool as_array, FILE *out,
                   bool *leaked);

#endif /* PERFSHIM_ANALYZER_LEAKS_H */
