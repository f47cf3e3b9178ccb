/* SPDX-License-Identifier: MIT */
/*
 * footprint.c — a small process's churn for test_footprint.py (issue 11: sampling's peak RSS
 * on 3-6 MB processes). A ring of 4096 live blocks of 8..512 bytes, each replaced at random,
 * ITERATIONS times (about 260 bytes a replacement: 2M replacements allocate some 520 MB, a
 * thousand sample points at PERFSHIM_SAMPLE=524288, hashed into the shim's tables). At the end
 * it prints its anonymous resident memory (smaps_rollup's "Anonymous:", KiB): the heap or the
 * pool, the stack, and the shim's own tables; then the resident KiB of libperfshim.so's code
 * (smaps "Rss:" of its executable mapping; 0 without the shim), which the link's text order
 * keeps to the one 64 KiB fault-around window of the code a run executes; and the resident KiB
 * of libc's read-only mappings (its .rodata, .eh_frame_hdr and .eh_frame among them), where the
 * sampled walks' reads of libc's unwind tables used to stay mapped; last, its whole resident
 * memory (smaps_rollup's "Rss:") as main returns, from which the test measures how much the
 * exit adds (the peak RSS that bench-spawn reports minus this: a small process peaks at exit,
 * in the shim's final snapshot).
 *
 * Usage: footprint [ITERATIONS=2000000]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS 4096

static void *ring[SLOTS];

static uint64_t next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* A field of smaps_rollup ("Anonymous", "Rss"), KiB; -1 if it cannot be read. */
static long rollup_kb(const char *field)
{
    FILE *f = fopen("/proc/self/smaps_rollup", "r");
    char line[256];
    long kb = -1;
    size_t n = strlen(field);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, field, n) == 0 && line[n] == ':' && sscanf(line + n + 1, "%ld", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb;
}

/* Rss of the mappings of the file whose path contains `name` with permissions `want`, KiB (0 if
 * not mapped, -1 if smaps cannot be read). */
static long mapping_kb(const char *name, const char *want)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    char line[512];
    long kb = 0, v;
    int in = 0;
    while (f && fgets(line, sizeof line, f)) {
        char perms[8];
        if (sscanf(line, "%*x-%*x %7s", perms) == 1 && strchr(line, '/'))
            in = strstr(line, name) && strcmp(perms, want) == 0;
        else if (sscanf(line, "%*x-%*x %7s", perms) == 1)
            in = 0;
        else if (in && sscanf(line, "Rss: %ld kB", &v) == 1)
            kb += v;
    }
    if (f)
        fclose(f);
    return f ? kb : -1;
}

int main(int argc, char **argv)
{
    long iterations = argc > 1 ? atol(argv[1]) : 2000000;
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    for (long i = 0; i < iterations; i++) {
        size_t slot = next(&rng) % SLOTS, size = 8 + next(&rng) % 505;
        free(ring[slot]);
        ring[slot] = malloc(size);
        if (!ring[slot])
            return 1;
        memset(ring[slot], (int)i, size < 16 ? size : 16);
    }
    long kb = rollup_kb("Anonymous"), code = mapping_kb("libperfshim.so", "r-xp");
    long libc_ro = mapping_kb("/libc.so", "r--p"), shim_ro = mapping_kb("libperfshim.so", "r--p");
    for (size_t i = 0; i < SLOTS; i++)
        free(ring[i]);
    printf("anonymous_kb %ld\nshim_code_kb %ld\nlibc_ro_kb %ld\nshim_ro_kb %ld\n", kb, code,
           libc_ro, shim_ro);
    /* last: everything after it (the shim's final snapshot, libc's exit) is the exit's growth */
    printf("rss_kb %ld\n", rollup_kb("Rss"));
    return kb < 0 || code < 0;
}
