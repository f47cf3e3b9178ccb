/* SPDX-License-Identifier: MIT */
/*
 * symcache.h — the symbolizer's cache on disk (`--symbol-cache DIR`, off by default): what each
 * return address of a module expanded to (its frames' function, file, line, inline flag), kept
 * across runs in one file per module, DIR/BUILDID.sym, keyed by the module's GNU build-id (the
 * same build-id is the same code, wherever the file lies). symbols.c asks it before opening a
 * module and tells it what it found after; a module whose addresses are all in the cache is
 * never opened (its DWARF never read).
 */
#ifndef PERFSHIM_ANALYZER_SYMCACHE_H
#define PERFSHIM_ANALYZER_SYMCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One cached frame; the strings are the cache's (they live until pa_symcache_free). */
typedef struct {
    const char *function; /* NULL: unresolved */
    const char *file;     /* NULL: unknown */
    uint32_t line;
    bool inlined;
} pa_symcache_frame_t;

/* Turns the cache on, in dir (made when missing: its parent must exist), or off (NULL).
 * PA_OK, PA_EIO (not a directory and cannot be made; said so) or PA_ENOMEM. */
int pa_symcache_set_dir(const char *dir);
bool pa_symcache_on(void);
/* The frames cached for the address at `offset` (return address - load bias) of the module of
 * this build-id: true with *frames and *n set, false when not cached. The module's file is read
 * on first use; a file that does not verify (magic, version, build-id, analyzer version,
 * lengths, CRC-32) counts as empty and is rewritten at the next flush. */
bool pa_symcache_get(const uint8_t *build_id, uint32_t build_id_len, uint64_t offset,
                     const pa_symcache_frame_t **frames, size_t *n);
/* Remembers what the address at offset expanded to (n >= 1 frames); the strings are copied.
 * PA_OK or PA_ENOMEM. */
int pa_symcache_put(const uint8_t *build_id, uint32_t build_id_len, uint64_t offset,
                    const pa_symcache_frame_t *frames, size_t n);
/* Writes each module with new entries to its file: a temporary file in DIR, then rename(), so
 * that a reader never sees half a file and concurrent writers never mix theirs (the last one
 * wins). Failures are silent: the cache is an optimization. */
void pa_symcache_flush(void);
/* Flushes, then frees everything and turns the cache off; with PA_SYMBOLS_DEBUG=1 in the
 * environment, prints the counters on stderr first (tests read them). */
void pa_symcache_free(void);
/* Counters since start (tests, PA_SYMBOLS_DEBUG): addresses found, not found, files ignored as
 * invalid, files written. */
typedef struct {
    unsigned long hits, misses, invalid, written;
} pa_symcache_stats_t;
pa_symcache_stats_t pa_symcache_stats(void);

#endif /* PERFSHIM_ANALYZER_SYMCACHE_H */
