/* SPDX-License-Identifier: MIT */
/*
 * reachprog.c — a program whose leaks fall in every one of valgrind's classes, for the leak
 * scan at exit (shim/reach.c; test_reach.py compares the shim's verdicts per allocating
 * function with valgrind memcheck's on this same binary). Each function below allocates one
 * kind of structure; the comment says what memcheck calls its blocks at exit:
 *
 *   leak_plain       3 blocks, no pointer kept                        3 definitely lost
 *   lost_list_head   head of a 5-node list nobody points to           1 definitely lost
 *   lost_list_node   the 4 nodes after it                             4 indirectly lost
 *   tree_root        root of a 7-node binary tree, dropped            1 definitely lost
 *   tree_node        its 6 other nodes                                6 indirectly lost
 *   cycle_node       two blocks pointing at each other, nothing else  1 definitely, 1 indirectly
 *   keep_global      a block a global points to                       1 still reachable
 *   keep_chain       2 blocks behind it (start pointers)              2 still reachable
 *   middle_block     a block a global points into (offset 40)         1 possibly lost
 *   middle_child     a block only that one points to (start pointer)  1 possibly lost
 *   thread_keep      a block only a still-running thread's stack holds 1 still reachable
 *   freed_block      allocated and freed                              (none)
 *
 * Every block is zeroed first (memcheck ignores uninitialised words; the shim cannot tell), and
 * the stack is scrubbed before exit, so no stale copy of a pointer remains where either tool
 * looks. Prints "reachprog: done" and exits with 0 (exit() while the thread still waits).
 * --no-thread: the same without the thread; --reachable-only: only keep_global and keep_chain;
 * --possibly-only: those and middle_block, middle_child (no lost block).
 * --aged (only these, for `leaks --older-than 0.5s`): aged_mixed 4 blocks kept in a global,
 * then 0.8 s later 3 dropped (old reachable, young definitely lost); aged_old_lost 5 dropped
 * (old); aged_old_both 2 kept, 2 dropped (all old); aged_young_lost 2 dropped after the pause.
 */
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))

typedef struct node {
    struct node *next, *left, *right;
    long payload[5];
} node_t;

static node_t *volatile keep_root; /* still reachable: a global points to it */
static char *volatile middle_ptr;  /* possibly lost: points 40 bytes into its block */
static sem_t started;

/* The compiler knows calloc's result aliases nothing: stores into a block that never escapes
 * are dead to it. This makes them happen (and the block's contents visible to both tools). */
static inline void publish(void *p)
{
    __asm__ volatile("" : : "g"(p) : "memory");
}

/* Each allocating function calls calloc itself, so it is the first frame of its blocks. */
static NOINLINE void *leak_plain(size_t n)
{
    void *p = calloc(1, n);
    return p;
}
static NOINLINE node_t *lost_list_head(void)
{
    return calloc(1, sizeof(node_t));
}
static NOINLINE node_t *lost_list_node(void)
{
    return calloc(1, sizeof(node_t));
}
static NOINLINE node_t *tree_root(void)
{
    return calloc(1, sizeof(node_t));
}
static NOINLINE node_t *tree_node(void)
{
    return calloc(1, sizeof(node_t));
}
static NOINLINE node_t *cycle_node(void)
{
    return calloc(1, sizeof(node_t));
}
static NOINLINE node_t *keep_global(void)
{
    return calloc(1, sizeof(node_t));
}
static NOINLINE node_t *keep_chain(void)
{
    return calloc(1, sizeof(node_t));
}
static NOINLINE char *middle_block(void)
{
    return calloc(1, 100);
}
static NOINLINE node_t *middle_child(void)
{
    return calloc(1, sizeof(node_t));
}
static NOINLINE void *thread_keep(void)
{
    return calloc(1, 64);
}
static NOINLINE void *freed_block(void)
{
    return calloc(1, 64);
}

static NOINLINE void make_plain(void)
{
    for (int i = 0; i < 3; i++)
        if (!leak_plain(24 + 8 * (size_t)i))
            abort();
}

static NOINLINE void make_list(void)
{
    node_t *head = lost_list_head(), *p = head;
    for (int i = 0; i < 4; i++) {
        p->next = lost_list_node();
        p = p->next;
    }
    publish(head);
}

static NOINLINE node_t *grow_tree(int depth)
{
    node_t *n = tree_node();
    if (depth > 1) {
        n->left = grow_tree(depth - 1);
        n->right = grow_tree(depth - 1);
    }
    publish(n);
    return n;
}

static NOINLINE void make_tree(void)
{
    node_t *root = tree_root();
    root->left = grow_tree(2);
    root->right = grow_tree(2);
    publish(root);
}

static NOINLINE void make_cycle(void)
{
    node_t *a = cycle_node(), *b = cycle_node();
    a->next = b;
    b->next = a;
    publish(a);
    publish(b);
}

static NOINLINE void make_kept(void)
{
    keep_root = keep_global();
    keep_root->next = keep_chain();
    keep_root->next->next = keep_chain();
}

static NOINLINE void make_middle(void)
{
    char *m = middle_block();
    node_t *child = middle_child();
    memcpy(m, &child,
           sizeof child); /* a start pointer, inside a block reached by an interior one */
    middle_ptr = m + 40;
    publish(m);
}

static NOINLINE void make_freed(void)
{
    free(freed_block());
}

/* --aged: blocks of known ages and classes at the same stacks, for leaks --older-than */
static void *volatile aged_keep[8];
static NOINLINE void *aged_mixed(void) /* old and kept, then young and dropped */
{
    return calloc(1, 48);
}
static NOINLINE void *aged_old_lost(void) /* old, dropped */
{
    return calloc(1, 40);
}
static NOINLINE void *aged_old_both(void) /* old: two kept, two dropped */
{
    return calloc(1, 56);
}
static NOINLINE void *aged_young_lost(void) /* young, dropped */
{
    return calloc(1, 72);
}

static NOINLINE void make_aged(void)
{
    for (int i = 0; i < 5; i++)
        publish(aged_old_lost());
    for (int i = 0; i < 4; i++) {
        void *p = aged_old_both();
        if (i < 2)
            aged_keep[4 + i] = p;
        publish(p);
    }
    for (int i = 0; i < 7; i++) { /* one call site: one stack for the old and the young */
        if (i == 4)
            usleep(800 * 1000); /* the blocks before are at least 0.8 s old at exit, the next not */
        void *p = aged_mixed();
        if (i < 4)
            aged_keep[i] = p;
        publish(p);
    }
    for (int i = 0; i < 2; i++)
        publish(aged_young_lost());
}

static void *waiter(void *arg)
{
    (void)arg;
    void *volatile held = thread_keep(); /* only this thread's stack holds it */
    sem_post(&started);
    for (;;)
        pause();
    return (void *)held;
}

/* Overwrites the stack below main's frame, where the calls above left copies of pointers. */
static NOINLINE void scrub(void)
{
    volatile char junk[16384];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = 0;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    if (strcmp(mode, "--aged") == 0) {
        make_aged();
        scrub();
        printf("reachprog: done\n");
        return 0;
    }
    if (strcmp(mode, "--possibly-only") == 0) { /* possibly lost and reachable, no lost */
        make_kept();
        make_middle();
        scrub();
        printf("reachprog: done\n");
        return 0;
    }
    if (strcmp(mode, "--reachable-only") == 0) { /* no lost block at all */
        make_kept();
        scrub();
        printf("reachprog: done\n");
        return 0;
    }
    int threads = strcmp(mode, "--no-thread") != 0;
    sem_init(&started, 0, 0);
    pthread_t t;
    if (threads) {
        if (pthread_create(&t, NULL, waiter, NULL) != 0)
            return 1;
        sem_wait(&started);
    }
    make_plain();
    make_list();
    make_tree();
    make_cycle();
    make_kept();
    make_middle();
    make_freed();
    scrub();
    printf("reachprog: done\n");
    fflush(stdout);
    exit(0);
}
