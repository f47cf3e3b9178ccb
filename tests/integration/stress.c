/* SPDX-License-Identifier: MIT */
/*
 * stress.c — a multi-threaded stress program run under the shim (test_stress.py), not a unit
 * test: random sizes and alignments through the whole malloc family, realloc chains, writes to
 * every byte malloc_usable_size reports, frees on other threads than the allocating one, and
 * forks while the other threads keep allocating (the child allocates, frees, and frees blocks
 * it inherited, under an alarm so a hang fails instead of waiting).
 *
 * Every block carries a pattern derived from its address and size, checked before it is freed
 * or resized: overlapping blocks or a corrupted realloc copy fail the run. Exits 0 and prints
 * "stress ok" only if every check passed. Leaks exactly STRESS_LEAKS blocks of
 * STRESS_LEAK_SIZE bytes at the marked line, for the leak report check.
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define STRESS_THREADS 4
#define STRESS_SLOTS 512
#define STRESS_EXCHANGE 256
#define STRESS_LEAKS 7
#define STRESS_LEAK_SIZE 333

typedef struct {
    unsigned char *p;
    size_t n;
} block_t;

static atomic_int failures;
static pthread_mutex_t xlock = PTHREAD_MUTEX_INITIALIZER;
static block_t exchange[STRESS_EXCHANGE]; /* blocks handed between threads */

static unsigned char pat(const void *base, size_t i)
{
    return (unsigned char)(((uintptr_t)base >> 4) * 31 + i * 7 + 1);
}

static void fill(unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = pat(p, i);
}

static int check(const unsigned char *p, size_t n, const unsigned char *origin)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != pat(origin, i))
            return 0;
    return 1;
}

static void fail(const char *what)
{
    atomic_fetch_add(&failures, 1);
    fprintf(stderr, "stress: FAILED: %s\n", what);
}

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static size_t rand_size(uint64_t *s)
{
    uint64_t r = rnd(s) % 100;
    if (r < 70)
        return 1 + rnd(s) % 256;
    if (r < 95)
        return 1 + rnd(s) % 4096;
    if (r < 99)
        return 1 + rnd(s) % 65536;
    return 1 + rnd(s) % 327680; /* medium classes, and past the largest (256 KiB) */
}

static unsigned char *alloc_any(uint64_t *s, size_t n)
{
    void *p = NULL;
    size_t align = (size_t)16 << (rnd(s) % 9); /* 16 .. 4096 */
    switch (rnd(s) % 6) {
    case 0:
        p = calloc(1, n);
        if (p)
            for (size_t i = 0; i < n; i++)
                if (((unsigned char *)p)[i]) {
                    fail("calloc block not zeroed");
                    break;
                }
        break;
    case 1:
        if (posix_memalign(&p, align, n) != 0)
            p = NULL;
        break;
    case 2:
        p = aligned_alloc(align, n);
        break;
    case 3:
        p = memalign(align, n);
        break;
    default:
        p = malloc(n);
    }
    if (!p) {
        fail("allocation returned NULL");
        return NULL;
    }
    if ((uintptr_t)p % 16)
        fail("block not 16-aligned");
    size_t u = malloc_usable_size(p);
    if (u < n)
        fail("malloc_usable_size below the request");
    memset(p, 0xee, u); /* every reported byte must be writable */
    fill(p, n);
    return p;
}

static void release(block_t *b)
{
    if (!b->p)
        return;
    if (!check(b->p, b->n, b->p))
        fail("block pattern damaged before free");
    free(b->p);
    b->p = NULL;
}

static void grow_or_shrink(uint64_t *s, block_t *b)
{
    size_t n = rand_size(s);
    unsigned char *old = b->p;
    size_t keep = n < b->n ? n : b->n;
    if (!check(old, b->n, old))
        fail("block pattern damaged before realloc");
    unsigned char saved[64];
    size_t probe = keep < sizeof saved ? keep : sizeof saved;
    memcpy(saved, old, probe);
    unsigned char *q = realloc(old, n);
    if (!q) {
        fail("realloc returned NULL");
        return;
    }
    if (memcmp(q, saved, probe) != 0)
        fail("realloc lost the prefix");
    fill(q, n);
    b->p = q;
    b->n = n;
}

static void child_work(uint64_t seed)
{
    alarm(30); /* a hang in the child must fail, not wait forever */
    uint64_t s = seed | 1;
    block_t mine[64] = {{0}};
    for (int i = 0; i < 3000; i++) {
        block_t *b = &mine[rnd(&s) % 64];
        release(b);
        b->n = rand_size(&s);
        b->p = alloc_any(&s, b->n);
    }
    for (int i = 0; i < 64; i++)
        release(&mine[i]);
    /* blocks inherited from the parent, allocated by threads that do not exist here */
    for (int i = 0; i < STRESS_EXCHANGE; i += 3)
        release(&exchange[i]);
    _exit(atomic_load(&failures) ? 3 : 0);
}

typedef struct {
    int id;
    long iters;
} work_t;

static int nforks; /* children forked (by thread 0 only) */

static void *worker(void *arg)
{
    work_t *w = arg;
    uint64_t s = 0x9e3779b97f4a7c15ull * (uint64_t)(w->id + 1);
    block_t slots[STRESS_SLOTS] = {{0}};
    for (long i = 0; i < w->iters; i++) {
        block_t *b = &slots[rnd(&s) % STRESS_SLOTS];
        uint64_t op = rnd(&s) % 10;
        if (op < 5 || !b->p) {
            release(b);
            b->n = rand_size(&s);
            b->p = alloc_any(&s, b->n);
        } else if (op < 8) {
            grow_or_shrink(&s, b);
        } else {
            /* swap with the exchange: the block is freed later by whichever thread takes it */
            pthread_mutex_lock(&xlock);
            block_t *x = &exchange[rnd(&s) % STRESS_EXCHANGE];
            block_t t = *x;
            *x = *b;
            *b = t;
            pthread_mutex_unlock(&xlock);
        }
        if (w->id == 0 && i % (w->iters / 8 + 1) == 0 && i > 0) {
            nforks++;
            pthread_mutex_lock(&xlock); /* the exchange is consistent while we fork */
            pid_t pid = fork();
            if (pid == 0)
                child_work(s);
            pthread_mutex_unlock(&xlock);
            int st = 0;
            if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
                fail("forked child failed (hung, crashed or found damage)");
        }
    }
    for (int i = 0; i < STRESS_SLOTS; i++)
        release(&slots[i]);
    return NULL;
}

int main(int argc, char **argv)
{
    long iters = argc > 1 ? atol(argv[1]) : 40000;
    pthread_t th[STRESS_THREADS];
    work_t w[STRESS_THREADS];
    for (int i = 0; i < STRESS_THREADS; i++) {
        w[i] = (work_t){i, iters};
        pthread_create(&th[i], NULL, worker, &w[i]);
    }
    for (int i = 0; i < STRESS_THREADS; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < STRESS_EXCHANGE; i++)
        release(&exchange[i]);
    void *volatile leaked;
    for (int i = 0; i < STRESS_LEAKS; i++) {
        leaked = malloc(STRESS_LEAK_SIZE); /* LEAK:stress */
        memset(leaked, i, STRESS_LEAK_SIZE);
    }
    int f = atomic_load(&failures);
    if (f) {
        printf("stress FAILED: %d check(s)\n", f);
        return 1;
    }
    printf("stress ok: %d threads x %ld operations, %d forks\n", STRESS_THREADS, iters, nforks);
    return 0;
}
