/* SPDX-License-Identifier: MIT */
/*
 * diff.h — the regression gate: `perfshim diff BASE NEW` (two sets of traces compared per site,
 * sites matched by symbolized stack) and `perfshim check TRACE...` (absolute budgets without a
 * base). Both parse their own command line (as ctl.c does) and return an exit status: 0 within
 * budget, 1 a budget broke, 2 usage error or unreadable input (docs/analyzer.md, "perfshim diff").
 */
#ifndef PERFSHIM_ANALYZER_DIFF_H
#define PERFSHIM_ANALYZER_DIFF_H

extern const char pa_diff_help[];
extern const char pa_check_help[];

/* argv[0] is the subcommand's name. */
int pa_diff_main(int argc, char **argv);
int pa_check_main(int argc, char **argv);

#endif /* PERFSHIM_ANALYZER_DIFF_H */
