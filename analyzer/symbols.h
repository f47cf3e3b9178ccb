/* SPDX-License-Identifier: MIT */
/*
 * symbols.h — offline symbolization of recorded return addresses with elfutils libdwfl: function
 * (demangled), file:line, inline expansion. Unresolved addresses become `module+0xoffset` frames;
 * nothing is dropped.
 */
#ifndef PERFSHIM_ANALYZER_SYMBOLS_H
#define PERFSHIM_ANALYZER_SYMBOLS_H

#include "model.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PA_UNKNOWN_MODULE "[unknown]"

/* One source-level frame. One recorded address expands to one or more frames: the innermost
 * inlined function first, the function it was inlined into next, and so on, ending with the
 * function the address is in (the chain `addr2line -i` prints). Strings are owned by the
 * symbolizer (or the trace) and live until pa_symbols_free(); equal strings of one symbolizer
 * are one pointer. */
typedef struct {
    const char *function; /* name by the naming rule of symbols.c; NULL when unresolved */
    const char *file;     /* source file as recorded in DWARF; NULL when unknown */
    uint32_t line;        /* 0 when unknown */
    const char *module;   /* module path; PA_UNKNOWN_MODULE when in no known module */
    uint64_t address;     /* the recorded return address */
    uint64_t offset;      /* address - module load bias (the address itself without module) */
    bool inlined;         /* this function was inlined into the function of the next frame */
    bool library;         /* C++ standard library code: its headers, or libstdc++/libc++ */
} pa_frame_t;

typedef struct pa_symbols pa_symbols_t;

/* A symbolizer for the modules of trace t; problems with module files (missing, changed
 * build-id) are added once per module to t's warnings. t must outlive the symbolizer. */
int pa_symbols_new(pa_trace_t *t, pa_symbols_t **out);
/* Frames for the return address `addr` (the call instruction at addr - 1 is looked up);
 * cached per address (so per module and offset: one trace has one module map). Returns PA_OK
 * or PA_ENOMEM. */
int pa_symbols_lookup(pa_symbols_t *s, uint64_t addr, const pa_frame_t **frames, size_t *n);
void pa_symbols_free(pa_symbols_t *s);
/* One more owner of s (pa_report_keep_keys keeps a grouping's symbolizer for the next reports):
 * each pa_symbols_free() but the last after it only drops an owner. Returns s. */
pa_symbols_t *pa_symbols_ref(pa_symbols_t *s);

/* Sharing modules between the symbolizers of one command (`perfshim run`, several traces,
 * --merge): on, each module (path and build-id) is opened and indexed once, not once per trace;
 * off frees what was shared (call it after the last symbolizer is freed). Off by default. */
void pa_symbols_share(bool on);
/* Whether sharing is on (a command that turned it on for itself: report --html). */
bool pa_symbols_sharing(void);
/* Where to look for the files of a trace recorded elsewhere (`--sysroot`, `--debug-dir`; set
 * once, before the first symbolizer): a module's file is looked for under sysroot first (its
 * recorded path appended), then at its recorded path; a separate debug file is looked for as
 * DIR/.build-id/xx/yyyy.debug in each debug dir in order, then under sysroot/usr/lib/debug,
 * then /usr/lib/debug; `.gnu_debuglink` names in the same directories. NULL/0: none. PA_OK,
 * PA_ENOMEM, or PA_EIO (a directory that does not exist; the message names it). */
int pa_symbols_set_search(const char *sysroot, const char *const *debug_dirs, size_t n);
void pa_symbols_search_free(void);
/* The executable PT_LOAD segment of a module's file (looked for as pa_symbols_set_search says:
 * under the sysroot first, then at path; a " (deleted)" suffix dropped), when the file is there,
 * has the recorded build-id (or none was recorded) and exactly one such segment: its p_vaddr
 * and p_offset, true. pprof's Mapping needs it: go tool pprof symbolizes an address by the
 * program header its Mapping's file_offset selects, and reads a Mapping at offset 0 (the first,
 * read-only segment of a binary linked with -z separate-code) as data. */
bool pa_symbols_exec_segment(const char *path, const uint8_t *build_id, uint32_t build_id_len,
                             uint64_t *vaddr, uint64_t *offset);
/* Modules opened so far (reported to libdwfl); PA_SYMBOLS_DEBUG=1 in the environment also
 * prints one line per module opened on stderr (tests count them). */
unsigned long pa_symbols_modules_opened(void);

/* A malloc'ed demangled copy of a C++ symbol name, or a plain copy when it is not mangled. */
char *pa_symbols_demangle(const char *name);
/* True for code of the C++ standard library: a frame whose source file is one of its headers
 * (a path with /c++/ or /libstdc++-v3/ in it), or that lies in libstdc++.so, libc++.so or
 * libc++abi.so. Either argument may be NULL. */
bool pa_symbols_is_library(const char *file, const char *module);

#endif /* PERFSHIM_ANALYZER_SYMBOLS_H */
