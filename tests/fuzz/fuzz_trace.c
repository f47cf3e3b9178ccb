/* SPDX-License-Identifier: MIT */
/*
 * fuzz_trace.c — the libFuzzer harness of the trace reader, the model and every report.
 *
 * One input is the bytes of one trace file. They go into a memfd, so that the analyzer opens it
 * by path (/proc/self/fd/N) exactly as it opens a file given on the command line, nothing
 * touches the disk, and the reader sees a regular file with a known size. When the trace loads,
 * every report of reports[] runs over it: text into /dev/null, JSON into memory, where
 * json_check.c must accept it (the one property checked beyond "no crash, no leak, no UB").
 *
 * Module paths: a fuzzed MODULES chunk may name any file (a FIFO, /dev/zero, a huge library).
 * Before the reports run, every module path that is not one of the example programs named in
 * PERFSHIM_FUZZ_KEEP_MODULES (set by tests/fuzz/CMakeLists.txt: small binaries, opened once per
 * input at most) is moved under a directory that does not exist, keeping its file name: the
 * symbolizer then fails fast (ENOENT) and prints module+offset frames, and the reports still see
 * the names they key on (libperfshim.so frames are hidden by file name). Their build-ids are
 * dropped too, or the symbolizer would find /usr/lib/debug/.build-id files for them.
 *
 * CRCs: a random mutation of a chunk almost always breaks its CRC-32, and the reader drops the
 * chunk before any payload decoder sees it. LLVMFuzzerCustomMutator therefore mutates the whole
 * file, or one chunk's payload (fixing its length field), or drops, repeats or cuts after one
 * whole chunk, then recomputes the CRC of every chunk it can find, except after one mutation in
 * 16 so that damaged files stay in the mix. The corpus thus holds ordinary trace files: each can
 * be given to `perfshim leaks` as is.
 *
 * Built two ways (tests/fuzz/CMakeLists.txt): with -fsanitize=fuzzer (libFuzzer's main), and
 * with replay_main.c, which runs LLVMFuzzerTestOneInput over files (the regression inputs).
 */
#include "hot.h"
#include "json_check.h"
#include "leaks.h"
#include "locks.h"
#include "model.h"
#include "report.h"
#include "summary.h"
#include "suppress.h"

#include "trace_format.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>

#ifndef PERFSHIM_FUZZ_KEEP_MODULES
#define PERFSHIM_FUZZ_KEEP_MODULES "" /* ':'-separated absolute paths */
#endif
#define NOWHERE "/nonexistent-perfshim-fuzz" /* module files moved here are never found */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed);

/* ---- the reports ---------------------------------------------------------------------------- */

static pa_suppress_t supp; /* the default suppressions, loaded once */

static int leaks_text(pa_trace_t *t, FILE *out)
{
    pa_leaks_opts_t o = {.json = false, .top = 0, .supp = &supp, .quiet = true};
    pa_leaks_totals_t tot;
    return pa_leaks_report(t, &o, out, NULL, &tot);
}

static int leaks_json(pa_trace_t *t, FILE *out)
{
    pa_leaks_opts_t o = {.json = true, .top = 3, .supp = &supp, .quiet = true};
    pa_leaks_totals_t tot;
    pa_json_t j;
    pa_json_init(&j, out);
    int rc = pa_leaks_report(t, &o, out, &j, &tot);
    pa_json_finish(&j);
    return rc;
}

static int summary_text(pa_trace_t *t, FILE *out)
{
    pa_summary_opts_t o = {.json = false, .top = 0, .quiet = true};
    return pa_summary_report(t, &o, out, NULL);
}

static int summary_json(pa_trace_t *t, FILE *out)
{
    pa_summary_opts_t o = {.json = true, .top = PA_SUMMARY_DEFAULT_TOP, .quiet = true};
    pa_json_t j;
    pa_json_init(&j, out);
    int rc = pa_summary_report(t, &o, out, &j);
    pa_json_finish(&j);
    return rc;
}

static int locks_text(pa_trace_t *t, FILE *out)
{
    pa_locks_opts_t o = {.json = false, .top = 0, .sites = 0, .quiet = true};
    return pa_locks_report(t, &o, out, NULL);
}

static int locks_json(pa_trace_t *t, FILE *out)
{
    pa_locks_opts_t o = {.json = true, .top = 3, .sites = 2, .quiet = true};
    pa_json_t j;
    pa_json_init(&j, out);
    int rc = pa_locks_report(t, &o, out, &j);
    pa_json_finish(&j);
    return rc;
}

static int hot_text(pa_trace_t *t, FILE *out)
{
    pa_hot_opts_t o = {.json = false, .top = 0, .quiet = true};
    return pa_hot_report(t, &o, out, NULL);
}

static int hot_json(pa_trace_t *t, FILE *out)
{
    pa_hot_opts_t o = {.json = true, .top = PA_HOT_DEFAULT_TOP, .quiet = true};
    pa_json_t j;
    pa_json_init(&j, out);
    int rc = pa_hot_report(t, &o, out, &j);
    pa_json_finish(&j);
    return rc;
}

/* Every report of the analyzer: a new report is one more row. JSON reports are written to
 * memory and must be valid JSON, whatever the trace holds. */
static const struct {
    const char *name;
    int (*run)(pa_trace_t *t, FILE *out);
    bool json;
} reports[] = {
    {"leaks", leaks_text, false},     {"leaks --json", leaks_json, true},
    {"summary", summary_text, false}, {"summary --json", summary_json, true},
    {"locks", locks_text, false},     {"locks --json", locks_json, true},
    {"hot", hot_text, false},         {"hot --json", hot_json, true},
};

static void check_json(const char *name, const char *text, size_t len)
{
    size_t at;
    const char *why = pa_json_check(text, len, &at);
    if (!why)
        return;
    size_t from = at > 60 ? at - 60 : 0;
    fprintf(stderr,
            "fuzz_trace: report '%s' wrote invalid JSON: %s at byte %zu of %zu: %.*s<HERE>\n", name,
            why, at, len, (int)(at - from), text + from);
    abort();
}

static void run_reports(pa_trace_t *t, FILE *devnull)
{
    for (size_t i = 0; i < sizeof reports / sizeof reports[0]; i++) {
        char *text = NULL;
        size_t len = 0;
        FILE *out = devnull;
        if (reports[i].json && !(out = open_memstream(&text, &len))) {
            perror("fuzz_trace: open_memstream");
            abort();
        }
        int rc = reports[i].run(t, out);
        if (out != devnull) {
            fclose(out);
            if (rc == PA_OK)
                check_json(reports[i].name, text, len);
            free(text);
        }
        /* A loaded trace always has a report; only memory can run out (and ASan's allocator
         * returns NULL only when told to). */
        if (rc != PA_OK && rc != PA_ENOMEM) {
            fprintf(stderr, "fuzz_trace: report '%s' failed with %d\n", reports[i].name, rc);
            abort();
        }
    }
}

/* ---- module paths ---------------------------------------------------------------------------- */

static bool keep_module(const char *path)
{
    const char *list = PERFSHIM_FUZZ_KEEP_MODULES;
    size_t n = strlen(path);
    while (*list) {
        const char *end = strchr(list, ':');
        size_t len = end ? (size_t)(end - list) : strlen(list);
        if (len == n && n && memcmp(list, path, n) == 0)
            return true;
        list += len + (end != NULL);
    }
    return false;
}

/* Moves the file of every module but the kept ones to NOWHERE (see the top of the file). */
static void defuse_modules(pa_trace_t *t)
{
    for (size_t i = 0; i < t->nmodules; i++) {
        pa_module_t *m = &t->modules[i];
        if (!m->path[0] || m->path[0] == '[' || keep_module(m->path))
            continue;
        const char *base = strrchr(m->path, '/');
        base = base ? base + 1 : m->path;
        size_t len = sizeof NOWHERE + 1 + strlen(base);
        char *p = malloc(len);
        if (!p) {
            m->path[0] = 0; /* an anonymous mapping: never opened */
            continue;
        }
        snprintf(p, len, "%s/%s", NOWHERE, base);
        free(m->path);
        m->path = p;
        /* The symbolizer's fallback for a missing file is the debug file of the build-id: with
         * libc6-dbg installed, a real libc build-id would have every input decompress libc's
         * debug information (about 50 ms). */
        free(m->build_id);
        m->build_id = NULL;
        m->build_id_len = 0;
    }
}

/* ---- one input ------------------------------------------------------------------------------- */

static FILE *devnull;
static int memfd = -1;

static void init_once(void)
{
    if (devnull)
        return;
    devnull = fopen("/dev/null", "w");
    memfd = memfd_create("perfshim-fuzz-trace", MFD_CLOEXEC);
    if (!devnull || memfd < 0 || pa_suppress_add_defaults(&supp) != PA_OK) {
        perror("fuzz_trace: setup");
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    init_once();
    /* One memfd reused: truncate, write, and let the reader open it afresh by path. */
    if (ftruncate(memfd, 0) != 0 || pwrite(memfd, data, size, 0) != (ssize_t)size) {
        perror("fuzz_trace: memfd");
        abort();
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", memfd);
    pa_trace_t t;
    if (pa_model_load(path, true, &t) != PA_OK)
        return 0; /* pa_model_load freed t */
    /* Read again at its highest snapshot (a pass of totals only, then one that stops there):
     * every pass must accept the same snapshots and refuse the same deltas. */
    pa_at_t at = {.kind = PA_AT_MAX};
    pa_trace_t t2;
    if (pa_model_load_at(path, true, &at, &t2) == PA_OK) {
        if (t2.nsnapshots != t.nsnapshots || t2.deltas_skipped != t.deltas_skipped ||
            t2.snap.number > t.nsnapshots) {
            fprintf(stderr, "fuzz_trace: --at max read %llu snapshots, the last %llu\n",
                    (unsigned long long)t2.nsnapshots, (unsigned long long)t.nsnapshots);
            abort();
        }
        pa_model_free(&t2);
    }
    defuse_modules(&t);
    run_reports(&t, devnull);
    pa_model_free(&t);
    return 0;
}

/* ---- mutation (libFuzzer builds only: LLVMFuzzerMutate is libFuzzer's) ---------------------- */
#ifdef PERFSHIM_FUZZ_MUTATOR

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static bool is_chunk(const uint8_t *data, size_t size, size_t off)
{
    return off + PS_CHUNK_HEADER_SIZE <= size && get32(data + off) == PS_CHUNK_SYNC &&
           get32(data + off + 8) <= size - off - PS_CHUNK_HEADER_SIZE;
}

/* Offsets of the chunks of data (the first n), walking from the file header and scanning for
 * the next sync word where the walk breaks; returns how many were found. */
static size_t find_chunks(const uint8_t *data, size_t size, size_t *offs, size_t cap)
{
    size_t n = 0;
    size_t off = PS_TRACE_FILE_HEADER_SIZE;
    while (off + PS_CHUNK_HEADER_SIZE <= size && n < cap) {
        if (is_chunk(data, size, off)) {
            offs[n++] = off;
            off += PS_CHUNK_HEADER_SIZE + get32(data + off + 8);
        } else {
            off++;
        }
    }
    return n;
}

static void fix_crcs(uint8_t *data, size_t size)
{
    size_t off = PS_TRACE_FILE_HEADER_SIZE;
    while (off + PS_CHUNK_HEADER_SIZE <= size) {
        if (!is_chunk(data, size, off)) {
            off++;
            continue;
        }
        uint32_t len = get32(data + off + 8);
        uint32_t crc = (uint32_t)crc32(0L, data + off, 12);
        crc = (uint32_t)crc32(crc, data + off + PS_CHUNK_HEADER_SIZE, len);
        put32(data + off + 12, crc);
        off += PS_CHUNK_HEADER_SIZE + len;
    }
}

/* Mutates the payload of one chunk in place, moving what follows it; returns the new size. */
static size_t mutate_chunk(uint8_t *data, size_t size, size_t max_size, size_t off)
{
    uint32_t len = get32(data + off + 8);
    size_t start = off + PS_CHUNK_HEADER_SIZE, tail = start + len;
    size_t room = max_size - size; /* bytes the payload may grow by */
    size_t after = size - tail;
    /* Make room: move the rest of the file to the end of the buffer, mutate, move it back. */
    memmove(data + max_size - after, data + tail, after);
    size_t nlen = LLVMFuzzerMutate(data + start, len, len + room);
    memmove(data + start + nlen, data + max_size - after, after);
    put32(data + off + 8, (uint32_t)nlen);
    return start + nlen + after;
}

/* Whole-chunk edits that byte mutations almost never make: drop a chunk (a lost END, STACKS or
 * POOL chunk), repeat one (a second PROCESS, two snapshots in a row), or cut the file right
 * after one (a process killed between two writes). */
static size_t edit_chunks(uint8_t *data, size_t size, size_t max_size, const size_t *offs, size_t n,
                          unsigned r)
{
    size_t off = offs[r % n];
    size_t len = PS_CHUNK_HEADER_SIZE + get32(data + off + 8);
    switch ((r / 256) % 3) {
    case 0: /* drop */
        memmove(data + off, data + off + len, size - off - len);
        return size - len;
    case 1: /* repeat */
        if (len > max_size - size)
            return size;
        memmove(data + off + len, data + off, size - off);
        return size + len;
    default: /* cut after it */
        return off + len;
    }
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
    size_t offs[256];
    size_t n = find_chunks(data, size, offs, sizeof offs / sizeof offs[0]);
    unsigned how = seed % 8, r = seed / 8;
    if (n && how < 4 && (get32(data + offs[r % n] + 8) || size < max_size))
        size = mutate_chunk(data, size, max_size, offs[r % n]);
    else if (n && how == 4)
        size = edit_chunks(data, size, max_size, offs, n, r);
    else
        size = LLVMFuzzerMutate(data, size, max_size);
    if ((seed >> 20) % 16 != 0)
        fix_crcs(data, size);
    return size;
}
#endif /* PERFSHIM_FUZZ_MUTATOR */
