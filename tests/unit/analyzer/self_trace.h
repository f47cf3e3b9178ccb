/* SPDX-License-Identifier: MIT */
/*
 * self_trace.h — builds an in-memory pa_trace_t describing the running test process: its module
 * map from dl_iterate_phdr (load bias, PT_LOAD range, path, GNU build-id), as the shim records it,
 * plus stacks and snapshot rows the test chooses. Lets the symbolizer and the reports run on real
 * addresses of the test binary.
 */
#ifndef PERFSHIM_TESTS_SELF_TRACE_H
#define PERFSHIM_TESTS_SELF_TRACE_H

#include "model.h"

#include <stdint.h>

/* Fills t (zeroed first) with the modules of this process; quiet. */
void st_init(pa_trace_t *t);
/* Adds a module entry (e.g. a fake library). */
void st_add_module(pa_trace_t *t, const char *path, uint64_t base, uint64_t start, uint64_t end,
                   const uint8_t *build_id, uint32_t build_id_len);
void st_add_stack(pa_trace_t *t, uint32_t id, uint32_t depth, const uint64_t *addrs);
/* Appends a row to the snapshot (has_snapshot set; totals summed). */
void st_add_row(pa_trace_t *t, uint32_t stack_id, uint64_t allocs, uint64_t alloc_bytes,
                uint64_t live_blocks, uint64_t live_bytes);
/* The module entry holding addr. */
const pa_module_t *st_module_of(const pa_trace_t *t, uint64_t addr);

#endif /* PERFSHIM_TESTS_SELF_TRACE_H */
