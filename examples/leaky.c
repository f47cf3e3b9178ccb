/* SPDX-License-Identifier: MIT */
/*
 * leaky.c — a C program with known leaks, one per allocation function, and some allocations
 * that are freed correctly. Built twice: `leaky` (-O0 -g) and `leaky_O2` (-O2 -g
 * -fomit-frame-pointer) so reports can be checked on optimized code too.
 *
 * Every leaking line carries a `LEAK:<name>` marker and every freed allocation a `NOLEAK:<name>`
 * marker: tests/integration find the expected file:line by grepping for them. The LEAKY_*
 * constants give the exact blocks and bytes each site leaks (the tests know them too):
 *   malloc        LEAKY_MALLOC_COUNT blocks of LEAKY_MALLOC_SIZE
 *   calloc        1 block of LEAKY_CALLOC_N * LEAKY_CALLOC_SIZE
 *   realloc       1 block of LEAKY_REALLOC_FINAL (grown from LEAKY_REALLOC_START by doubling)
 *   posix_memalign 1 block of LEAKY_MEMALIGN_SIZE, aligned to LEAKY_MEMALIGN_ALIGN
 *   list_node     LEAKY_LIST_NODES blocks of sizeof(struct node) == LEAKY_NODE_SIZE
 * Output goes to stderr only: stdio's stdout buffer would be one more (libc) leak.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LEAKY_MALLOC_COUNT 3
#define LEAKY_MALLOC_SIZE 111
#define LEAKY_CALLOC_N 7
#define LEAKY_CALLOC_SIZE 13
#define LEAKY_REALLOC_START 16
#define LEAKY_REALLOC_STEPS 5
#define LEAKY_REALLOC_FINAL (LEAKY_REALLOC_START << LEAKY_REALLOC_STEPS) /* 512 */
#define LEAKY_MEMALIGN_ALIGN 64
#define LEAKY_MEMALIGN_SIZE 200
#define LEAKY_LIST_NODES 10
#define LEAKY_NODE_SIZE 48

struct node {
    struct node *next;
    char payload[LEAKY_NODE_SIZE - sizeof(struct node *)];
};
_Static_assert(sizeof(struct node) == LEAKY_NODE_SIZE, "node size is part of the contract");

/* Leaked blocks stay reachable from here while the program runs, so the optimizer cannot drop
 * the allocations; main() forgets them before exit (perfshim reports blocks never freed, and the
 * leak scan at exit classes them definitely or indirectly lost). */
void *volatile leaky_keep[64];
static int keep_count;

static void keep(void *p)
{
    leaky_keep[keep_count++ % 64] = p;
}

/* An opaque consumer for freed blocks: stops -O2 from deleting malloc/free pairs. */
__attribute__((noinline)) static unsigned touch(unsigned char *p, size_t n)
{
    unsigned sum = 0;
    memset(p, 0x5a, n);
    for (size_t i = 0; i < n; i += 7)
        sum += p[i];
    return sum;
}

__attribute__((noinline)) static void leak_malloc(void)
{
    for (int i = 0; i < LEAKY_MALLOC_COUNT; i++) {
        char *p = malloc(LEAKY_MALLOC_SIZE); /* LEAK:malloc */
        if (p)
            memset(p, i, LEAKY_MALLOC_SIZE);
        keep(p);
    }
}

/* Deliberately not noinline: at -O2 this is inlined into main, which exercises inline frames. */
static void leak_calloc(void)
{
    int *p = calloc(LEAKY_CALLOC_N, LEAKY_CALLOC_SIZE); /* LEAK:calloc */
    keep(p);
}

__attribute__((noinline)) static void leak_realloc(void)
{
    size_t size = LEAKY_REALLOC_START;
    char *buf = malloc(size); /* NOLEAK:realloc_start */
    if (!buf)
        return;
    memset(buf, 1, size);
    for (int i = 0; i < LEAKY_REALLOC_STEPS; i++) {
        size *= 2;
        char *grown = realloc(buf, size); /* LEAK:realloc */
        if (!grown)
            break;
        buf = grown;
        memset(buf, 2, size);
    }
    keep(buf);
}

__attribute__((noinline)) static void leak_memalign(void)
{
    void *p = NULL;
    if (posix_memalign(&p, LEAKY_MEMALIGN_ALIGN, LEAKY_MEMALIGN_SIZE) == 0) /* LEAK:memalign */
        keep(p);
}

__attribute__((noinline)) static struct node *leak_list(int n)
{
    struct node *head = NULL;
    for (int i = 0; i < n; i++) {
        struct node *node = malloc(sizeof *node); /* LEAK:list_node */
        if (!node)
            break;
        node->next = head;
        snprintf(node->payload, sizeof node->payload, "node %d", i);
        head = node;
    }
    return head;
}

/* Allocations that are all freed: none of these lines may appear in a leak report. */
__attribute__((noinline)) static unsigned no_leaks(void)
{
    unsigned sum = 0;
    for (int i = 0; i < 100; i++) {
        unsigned char *p = malloc(32 + (size_t)i); /* NOLEAK:malloc_freed */
        if (p) {
            sum += touch(p, 32 + (size_t)i);
            free(p);
        }
    }
    unsigned char *z = calloc(10, 100); /* NOLEAK:calloc_freed */
    if (z) {
        sum += touch(z, 1000);
        free(z);
    }
    unsigned char *r = malloc(8); /* NOLEAK:realloc_freed_start */
    for (size_t n = 16; r && n <= 4096; n *= 2) {
        unsigned char *g = realloc(r, n); /* NOLEAK:realloc_freed */
        if (!g)
            break;
        r = g;
        sum += touch(r, n);
    }
    free(r);
    void *a = NULL;
    if (posix_memalign(&a, 4096, 3000) == 0) { /* NOLEAK:memalign_freed */
        sum += touch(a, 3000);
        free(a);
    }
    char *s = strdup("a string that is duplicated and freed"); /* NOLEAK:strdup_freed */
    if (s) {
        sum += touch((unsigned char *)s, strlen(s));
        free(s);
    }
    struct node *list = NULL;
    for (int i = 0; i < 50; i++) {
        struct node *node = malloc(sizeof *node); /* NOLEAK:list_freed */
        if (!node)
            break;
        node->next = list;
        list = node;
    }
    while (list) {
        struct node *next = list->next;
        free(list);
        list = next;
    }
    return sum;
}

int main(void)
{
    unsigned sum = no_leaks();
    leak_malloc();
    leak_calloc();
    leak_realloc();
    leak_memalign();
    struct node *list = leak_list(LEAKY_LIST_NODES);
    keep(list);
    fprintf(stderr, "leaky: done (checksum %u, %d blocks kept)\n", sum, keep_count);
    /* ...and forgotten: the pointers are gone before exit, so the leak scan finds these blocks
     * definitely lost (the list's later nodes indirectly lost), as valgrind would */
    for (int i = 0; i < 64; i++)
        leaky_keep[i] = NULL;
    return 0;
}
