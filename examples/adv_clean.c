/* SPDX-License-Identifier: MIT */
/*
 * adv_clean.c — the control of `perfshim advise`'s examples (docs/tuning.md): a little work
 * with a few allocations of ordinary sizes, all freed, one thread, no lock. It gets no advice.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void)
{
    size_t sizes[] = {24, 100, 512, 4000, 70000};
    char *p[5 * 20];
    size_t n = 0;
    for (int r = 0; r < 20; r++)
        for (size_t i = 0; i < 5; i++) {
            p[n] = malloc(sizes[i]);
            if (p[n])
                memset(p[n], (int)n, sizes[i]);
            n++;
        }
    unsigned sum = 0;
    for (size_t i = 0; i < n; i++) {
        sum += p[i] ? (unsigned char)p[i][0] : 0;
        free(p[i]);
    }
    printf("blocks %zu sum %u\n", n, sum);
    return 0;
}
