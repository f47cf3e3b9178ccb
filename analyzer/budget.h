/* SPDX-License-Identifier: MIT */
/*
 * budget.h — the regression gate's budgets (`perfshim diff --fail-on/--budget`, `perfshim
 * check`): the metrics a budget may name, rules parsed from a `--fail-on` list or a budget file,
 * their evaluation against a value of BASE and of NEW at one place (the total, or a site named
 * by its symbolized stack), and the results as text, JSON and JUnit XML. The grammar and the
 * semantics are documented in docs/analyzer.md, "Budgets".
 *
 * Must not: read a trace (diff.c gives it the numbers).
 */
#ifndef PERFSHIM_ANALYZER_BUDGET_H
#define PERFSHIM_ANALYZER_BUDGET_H

#include "json.h"
#include "suppress.h"
#include "symbols.h"
#include "util.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* The metrics compared per site and in total, in report order. */
typedef enum {
    PA_M_LEAKED,       /* leaked blocks (what `perfshim leaks` lists: not suppressed) */
    PA_M_LEAKED_BYTES, /* their bytes */
    PA_M_PEAK,         /* peak live bytes (total: the process's; site: the site's own peak) */
    PA_M_ALLOCS,       /* allocations */
    PA_M_ALLOC_BYTES,  /* bytes they requested */
    PA_M_LOCK_WAIT,    /* ns waited for locks (not condition variables, not signals) */
    PA_M_CPU,          /* CPU samples */
    PA_M_COUNT
} pa_metric_t;

typedef enum { PA_UNIT_COUNT, PA_UNIT_BYTES, PA_UNIT_NS } pa_unit_t;

typedef struct {
    const char *name;  /* in rules and JSON: "leaked", "peak", ... */
    const char *title; /* in text: "leaked blocks", ... */
    pa_unit_t unit;
} pa_metric_info_t;

extern const pa_metric_info_t pa_metrics[PA_M_COUNT];

/* A value of a metric for people: "12", "1.5 MiB", "3.2 ms". */
const char *pa_metric_format(pa_metric_t m, uint64_t v, char *buf, size_t size);
/* The change from base to value: "+1.5 MiB", "-12", "0" (buf: 64 bytes or more). */
const char *pa_metric_format_change(pa_metric_t m, uint64_t base, uint64_t value, char *buf,
                                    size_t size);

enum {
    PA_SCOPE_ALL = 0,   /* the total and every site (no scope written, +N or N) */
    PA_SCOPE_TOTAL = 1, /* `total`, or no scope written with +N%: the total only */
    PA_SCOPE_SITES = 2, /* `sites`, or `site:PATTERN`: sites only (matching PATTERN) */
};

typedef struct {
    char *text;   /* the rule as written, e.g. "allocs=+5%" or "peak=+10% total" */
    char *origin; /* "--fail-on" or "FILE:LINE" */
    pa_metric_t metric;
    bool relative;      /* "+LIMIT": a change against BASE; else a maximum of the value itself */
    bool percent;       /* LIMIT is a percentage of BASE's value */
    double limit;       /* in the metric's unit (bytes, ns, count) or percent */
    int scope;          /* PA_SCOPE_* */
    pa_suppress_t site; /* site:PATTERN as a LeakSanitizer rule; no pattern: every site */
    /* results of pa_budget_check */
    bool skipped;          /* a relative rule without a base (`check`) */
    uint64_t checked;      /* places it was checked at */
    pa_strlist_t failures; /* one message per place where it broke */
} pa_budget_rule_t;

typedef struct {
    pa_budget_rule_t *rules;
    size_t n, cap;
} pa_budget_t;

/* Adds the rules of a comma-separated list ("leaked=+0,peak=+10%"). PA_OK, or PA_EUSAGE after
 * a message naming origin and the rule. */
int pa_budget_parse_list(pa_budget_t *b, const char *list, const char *origin);
/* Adds the rules of a budget file: one rule per line, "METRIC=LIMIT [total|sites|site:PATTERN]";
 * blank lines and '#' comments skipped. PA_OK; PA_EIO when it cannot be read; PA_EUSAGE after
 * a message "FILE:LINE: ..." for a line it cannot read. */
int pa_budget_load_file(pa_budget_t *b, const char *path);
void pa_budget_free(pa_budget_t *b);

/* Checks rule r at one place: the total (frames NULL) or a site (its visible frames). base is
 * meaningless without has_base (`check`). Percentages need a base: a site whose base value is 0
 * is left to absolute rules (the total is always checked). Records a failure message; returns
 * true when the rule broke here. */
bool pa_budget_check(pa_budget_rule_t *r, const pa_frame_t *frames, size_t nframes, bool has_base,
                     uint64_t base, uint64_t value);
/* Marks every relative rule skipped (no base: `check`). */
void pa_budget_skip_relative(pa_budget_t *b);
/* Rules that broke somewhere. */
size_t pa_budget_broken(const pa_budget_t *b);

/* "function (file:line)" of a site's innermost visible frame; "total" for NULL frames. */
const char *pa_budget_where(const pa_frame_t *frames, size_t n, char *buf, size_t size);

/* Text: one line per rule (ok, skipped, or BROKEN with a line per place). */
void pa_budget_text(FILE *out, const pa_budget_t *b);
/* JSON: the "budgets" member, an array of rule results. */
void pa_budget_json(pa_json_t *j, const pa_budget_t *b);
/* Writes a JUnit XML file: one testsuite named suite, one testcase per rule, failures carrying
 * their messages. PA_OK or PA_EIO (said so). */
int pa_budget_junit(const pa_budget_t *b, const char *suite, const char *path);

#endif /* PERFSHIM_ANALYZER_BUDGET_H */
