/* SPDX-License-Identifier: MIT */
/*
 * footprint.c — a small process's churn for test_footprint.py (issue 11: sampling's peak RSS
 * on 3-6 MB processes). A ring of 4096 live blocks of 8..512 bytes, each replaced at random,
 * ITERATIONS times (about 260 bytes a replacement: 2M replacements allocate some 520 MB, a
 * thousand sample points at PERFSHIM_SAMPLE=524288, hashed into the shim's tables). At the end
 * it prints its anonymous resident memory (smaps_rollup's "Anonymous:", KiB): the heap or the
 * pool, the stack, and the shim's own tables; then the resident KiB of libperfshim.so's code
 * (smaps "Rss:" of its executable mapping; 0 without the shim), which the link's text order
 * keeps to the one 64 KiB fault-around window of the code a run executes.
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

static long anon_kb(void)
{
    FILE *f = fopen("/proc/self/smaps_rollup", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "Anonymous: %ld kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb;
}

/* Rss of the executable mapping of libperfshim.so, KiB (0 if not loaded). */
static long shim_code_kb(void)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    char line[512];
    long kb = 0, v;
    int in_shim = 0;
    while (f && fgets(line, sizeof line, f)) {
        char perms[8];
        if (sscanf(line, "%*x-%*x %7s", perms) == 1 && strchr(line, '/'))
            in_shim = strstr(line, "libperfshim.so") && strcmp(perms, "r-xp") == 0;
        else if (sscanf(line, "%*x-%*x %7s", perms) == 1)
            in_shim = 0;
        else if (in_shim && sscanf(line, "Rss: %ld kB", &v) == 1)
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
    long kb = anon_kb(), code = shim_code_kb();
    for (size_t i = 0; i < SLOTS; i++)
        free(ring[i]);
    printf("anonymous_kb %ld\nshim_code_kb %ld\n", kb, code);
    return kb < 0 || code < 0;
}
