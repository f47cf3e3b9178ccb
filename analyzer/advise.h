/* SPDX-License-Identifier: MIT */
/*
 * advise.h — `perfshim advise [--json] TRACE...`: tuning advice with evidence. Each piece of
 * advice says what to change, where (a symbolized stack), the numbers that justify it, the
 * expected gain and the rule that made it; the rules are one table in advise.c, documented in
 * docs/tuning.md.
 */
#ifndef PERFSHIM_ANALYZER_ADVISE_H
#define PERFSHIM_ANALYZER_ADVISE_H

#include "model.h"

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

/* The same in steps, for a caller that loads the traces itself (report --html: from its one
 * load of each): begin for n traces; judge trace i (path, loaded as pa_model_load loads it,
 * quiet or not, left loaded) once, in order, each trace at most once; end writes the advice of
 * the judged traces (a trace never judged is listed unreadable) and frees the run, whatever it
 * returns. PA_OK, PA_ENOMEM (said), or from end PA_EIO as above. */
typedef struct pa_advise_run pa_advise_run_t;
int pa_advise_begin(size_t n, pa_advise_run_t **run);
/* (t's ages are freed once read: pa_ages_drop) */
int pa_advise_trace(pa_advise_run_t *run, const char *path, size_t i, pa_trace_t *t);
int pa_advise_end(pa_advise_run_t *run, char *const *paths, size_t n, const pa_advise_opts_t *o,
                  FILE *out, size_t *nadvice);
/* Frees a run not ended (NULL: nothing). */
void pa_advise_free(pa_advise_run_t *run);

/* `perfshim advise --json` for the traces at paths, written to out, trace warnings kept quiet:
 * the advice section of `perfshim report --html` (html.c). PA_OK or an error as above. */
int pa_advise_json_files(char *const *paths, size_t n, FILE *out);

/* `perfshim advise ...` (argv[0] is "advise"): 0 done (with or without advice), 1 advice given
 * with --fail-on-advice, 2 usage error or no trace could be read. */
int pa_advise_main(int argc, char **argv);

#endif /* PERFSHIM_ANALYZER_ADVISE_H */
