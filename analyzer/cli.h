/* SPDX-License-Identifier: MIT */
/*
 * cli.h — the perfshim command line: subcommand dispatch, options, help texts, exit statuses.
 */
#ifndef PERFSHIM_ANALYZER_CLI_H
#define PERFSHIM_ANALYZER_CLI_H

/* Runs the command line; returns the process exit status (docs/analyzer.md). */
int pa_cli_main(int argc, char **argv);

#endif /* PERFSHIM_ANALYZER_CLI_H */
