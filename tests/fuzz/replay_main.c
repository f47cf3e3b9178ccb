/* SPDX-License-Identifier: MIT */
/*
 * replay_main.c — runs the fuzz harness (fuzz_trace.c) over files without libFuzzer, so that
 * every build (gcc, ASan+UBSan) replays the regression inputs and the golden traces through
 * the same code the fuzzer runs. Arguments are files or directories (their regular files, in
 * name order, but dot files and *.md notes). Exits 1 when nothing was replayed, so a misplaced
 * directory cannot pass.
 */
#include <dirent.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return -1;
    }
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? 2 * cap : 65536;
            uint8_t *nb = realloc(buf, cap);
            if (!nb) {
                fprintf(stderr, "%s: out of memory\n", path);
                free(buf);
                fclose(f);
                return -1;
            }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        fprintf(stderr, "%s: read error\n", path);
        free(buf);
        return -1;
    }
    printf("replay: %s (%zu bytes)\n", path, n);
    fflush(stdout);
    LLVMFuzzerTestOneInput(buf, n);
    free(buf);
    return 1;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

int main(int argc, char **argv)
{
    long replayed = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            perror(argv[i]);
            return 1;
        }
        if (!S_ISDIR(st.st_mode)) {
            if (replay_file(argv[i]) < 0)
                return 1;
            replayed++;
            continue;
        }
        struct dirent **ents;
        int n = scandir(argv[i], &ents, NULL, by_name);
        if (n < 0) {
            perror(argv[i]);
            return 1;
        }
        int rc = 0;
        for (int k = 0; k < n; k++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[i], ents[k]->d_name);
            size_t len = strlen(ents[k]->d_name);
            bool note = len >= 3 && strcmp(ents[k]->d_name + len - 3, ".md") == 0;
            if (!rc && ents[k]->d_name[0] != '.' && !note && stat(path, &st) == 0 &&
                S_ISREG(st.st_mode)) {
                if (replay_file(path) < 0)
                    rc = 1;
                else
                    replayed++;
            }
            free(ents[k]);
        }
        free(ents);
        if (rc)
            return 1;
    }
    printf("replay: %ld input(s), no crash\n", replayed);
    return replayed ? 0 : 1;
}
