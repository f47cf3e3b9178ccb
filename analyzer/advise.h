/* SPDX-License-Identifier: MIT */
/*
 * advise.h — `perfshim advise [--json] TRACE...`: tuning advice with evidence. Each piece of
 * advice says what to change, where (a symbolized stack), the numbers that justify it, the
 * expected gain and the rule that made it; the rules are one table in advise.c, documented in
 * docs/tuning.md.
 */
#ifndef PERFSHIM_ANALYZER_ADVISE_H
#define PERFSHIM_ANALYZER_ADVISE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

extern const char pa_advise_help[];

typedef struct {
    bool json;       /* JSON (format perfshim-advise, docs/tuning.md) instead of text */
    bool all_frames; /* text: C++ standard library frames one per line */
    bool quiet;      /* collect trace warnings without printing them (tests) */
} pa_advise_opts_t;

/* The advice for the traces at paths (each loaded, judged by every rule and freed in turn,
 * then the rules over all of them), written to out; *nadvice gets the pieces of advice.
 * PA_OK; PA_EIO when no trace could be read (each said why); PA_ENOMEM (said). */
int pa_advise_files(char *const *paths, size_t n, const pa_advise_opts_t *o, FILE *out,
                    size_t *nadvice);

/* `perfshim advise --json` for the traces at paths, written to out, trace warnings kept quiet:
 * the advice section of `perfshim report --html` (html.c). PA_OK or an error as above. */
int pa_advise_json_files(char *const *paths, size_t n, FILE *out);

/* `perfshim advise ...` (argv[0] is "advise"): 0 done (with or without advice), 1 advice given
 * with --fail-on-advice, 2 usage error or no trace could be read. */
int pa_advise_main(int argc, char **argv);

#endif /* PERFSHIM_ANALYZER_ADVISE_H */
