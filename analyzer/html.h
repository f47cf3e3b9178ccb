/* SPDX-License-Identifier: MIT */
/*
 * html.h — `perfshim report --html OUT.html TRACE...`: one self-contained HTML page (no network,
 * no external assets) with the flame graphs of the traces (live heap, allocations, CPU, lock
 * wait), the heap over time with the growth classes, the lock and hot-path tables and the
 * advice. html.c writes the data as one JSON blob into the page that html_page.c (made at build
 * time from analyzer/html/ and third_party/uplot/ by analyzer/html/embed.cmake) holds; the
 * page's script draws it.
 */
#ifndef PERFSHIM_ANALYZER_HTML_H
#define PERFSHIM_ANALYZER_HTML_H

#include <stddef.h>
#include <stdio.h>

/* A section of the page made by another report: writes one JSON value for the traces to out
 * (its --json output), returns PA_OK or an error (said). The advice section is such a function
 * (html.c, `advice_section`); the page shows an array of objects as a table. */
typedef int (*pa_html_section_fn)(char *const *paths, size_t n, FILE *out);

/* The page, as embedded: the bytes before the JSON data and after it (html_page.c). */
extern const unsigned char pa_html_page_head[], pa_html_page_tail[];
extern const size_t pa_html_page_head_len, pa_html_page_tail_len;

/* The `report` subcommand: argv[0] is "report". Returns the exit status. */
int pa_html_main(int argc, char **argv);
extern const char pa_html_help[];

#endif /* PERFSHIM_ANALYZER_HTML_H */
