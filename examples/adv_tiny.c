/* SPDX-License-Identifier: MIT */
/*
 * adv_tiny.c — one inefficiency for `perfshim advise` (docs/tuning.md, rule tiny): a list of
 * 50000 nodes of 12 bytes, each its own allocation from new_node(). The nodes live 30 ms (not
 * short-lived) and are all freed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define N 50000

typedef struct node {
    struct node *next;
    int value;
} node_t; /* 16 bytes on LP64: the request below is 12 */

static void *new_node(int value)
{
    int *p = malloc(12);
    if (p)
        p[2] = value;
    return p;
}

int main(void)
{
    void **nodes = malloc(N * sizeof *nodes);
    if (!nodes)
        return 1;
    for (int i = 0; i < N; i++)
        nodes[i] = new_node(i);
    nanosleep(&(struct timespec){0, 30 * 1000 * 1000}, NULL);
    long sum = 0;
    for (int i = 0; i < N; i++) {
        sum += nodes[i] ? ((int *)nodes[i])[2] : 0;
        free(nodes[i]);
    }
    free(nodes);
    printf("nodes %d sum %ld\n", N, sum);
    return 0;
}
