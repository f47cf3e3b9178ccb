/* SPDX-License-Identifier: MIT */
/*
 * run.h — `perfshim run`: run a command under libperfshim.so and report the leaks of every trace
 * it (and its children) wrote.
 */
#ifndef PERFSHIM_ANALYZER_RUN_H
#define PERFSHIM_ANALYZER_RUN_H

#include "hot.h"
#include "leaks.h"
#include "locks.h"

#include <stdbool.h>

typedef struct {
    const char *output; /* -o TEMPLATE for PERFSHIM_OUTPUT, or NULL */
    bool fail_on_leak;
    pa_leaks_opts_t leaks; /* report options (json, top, suppressions) */
    bool locks, hot;       /* after each leak report, the lock and/or hot-path report */
} pa_run_opts_t;

/* Finds libperfshim.so (PERFSHIM_LIB, next to the perfshim executable, the install libdir) into
 * out[size]; PA_OK, or PA_EIO with a message printed. */
int pa_run_find_lib(char *out, size_t size);
/* Runs cmd (NULL-terminated argv) and reports; returns the exit status for perfshim. */
int pa_run_command(const pa_run_opts_t *o, char *const *cmd);

#endif /* PERFSHIM_ANALYZER_RUN_H */
