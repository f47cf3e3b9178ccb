/* SPDX-License-Identifier: MIT */
/*
 * symdump.c — a test helper: every distinct return address of a trace's stacks, with the frames
 * the analyzer's symbolizer gives it, as JSON on stdout:
 *   [{"address": "0x...", "module": "...", "offset": "0x...", "frames": [frame, ...]}, ...]
 * frames shaped as in `perfshim leaks --json`, none hidden. test_addr2line.py compares them with
 * addr2line's. Exit status 2 when the trace cannot be read.
 */
#include "report.h"
#include "symbols.h"

#include <stdlib.h>

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: symdump TRACE\n");
        return 2;
    }
    pa_trace_t t;
    if (pa_model_load(argv[1], true, &t) != PA_OK)
        return 2;
    size_t n = 0, cap = 0;
    uint64_t *addrs = NULL;
    for (uint32_t node = 1; node < t.frames.n; node++) { /* every frame of every stack */
        if (pa_util_grow((void **)&addrs, &cap, n + 1, sizeof *addrs) != PA_OK)
            return 1;
        addrs[n++] = pa_model_frame_addr(&t, node);
    }
    if (n)
        qsort(addrs, n, sizeof *addrs, cmp_u64);
    pa_symbols_t *syms;
    if (pa_symbols_new(&t, &syms) != PA_OK)
        return 1;
    pa_json_t j;
    pa_json_init(&j, stdout);
    pa_json_array_begin(&j, false);
    for (size_t i = 0; i < n; i++) {
        if (i && addrs[i] == addrs[i - 1])
            continue;
        const pa_frame_t *f;
        size_t nf;
        if (pa_symbols_lookup(syms, addrs[i], &f, &nf) != PA_OK)
            return 1;
        pa_json_object_begin(&j, false);
        pa_json_key(&j, "address");
        pa_json_hex(&j, addrs[i]);
        pa_json_key(&j, "module");
        pa_json_string(&j, f[0].module);
        pa_json_key(&j, "offset");
        pa_json_hex(&j, f[0].offset);
        pa_json_key(&j, "frames");
        pa_report_frames_json_n(&j, f, nf);
        pa_json_object_end(&j);
    }
    pa_json_array_end(&j);
    pa_json_finish(&j);
    pa_symbols_free(syms);
    free(addrs);
    pa_model_free(&t);
    return 0;
}
