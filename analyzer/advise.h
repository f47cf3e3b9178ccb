/* SPDX-License-Identifier: MIT */
/*
 * advise.h — `perfshim advise [--json] TRACE...`: tuning advice with evidence. Each piece of
 * advice says what to change, where (a symbolized stack), the numbers that justify it, the
 * expected gain and the rule that made it; the rules are one table in advise.c, documented in
 * docs/tuning.md.
 */
#ifndef PERFSHIM_ANALYZER_ADVISE_H
#define PERFSHIM_ANALYZER_ADVISE_H

extern const char pa_advise_help[];

/* `perfshim advise ...` (argv[0] is "advise"): 0 done (with or without advice), 1 advice given
 * with --fail-on-advice, 2 usage error or no trace could be read. */
int pa_advise_main(int argc, char **argv);

#endif /* PERFSHIM_ANALYZER_ADVISE_H */
