/* SPDX-License-Identifier: MIT */
/*
 * xmalloc-like test (after Lever & Boreham's xmalloc-test): allocator threads fill batches of
 * blocks and hand them over through a mutex-protected list; freer threads free whole batches.
 * Unlike bench-prodcons the hand-over is in batches and the batch header itself is allocated by
 * one thread and freed by another, with sizes from a fixed set of small classes.
 *
 * Usage: bench-xmalloc ITERATIONS [ALLOCATORS=1] [FREERS=1] [BATCH=256]
 *   ITERATIONS is the number of blocks each allocator thread allocates.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench_util.h"

#define XM_MAX_PENDING 64 /* batches in flight: bounds the memory of the run */

static const size_t xm_sizes[] = {8, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512};

typedef struct xm_batch {
    struct xm_batch *next;
    long count;         /* blocks in this batch */
    uint64_t *blocks[]; /* each block's first word is its value */
} xm_batch_t;

typedef struct xm_shared {
    pthread_mutex_t lock;
    pthread_cond_t not_empty;
    pthread_cond_t not_full;
    xm_batch_t *head;    /* LIFO of full batches */
    long pending;        /* batches in the list */
    long producers_left; /* allocator threads still running */
    long iterations;
    long batch;
    uint64_t checksum; /* xor of the freers' sums (order independent) */
} xm_shared_t;

typedef struct xm_worker {
    xm_shared_t *shared;
    uint64_t seed;
} xm_worker_t;

static void xm_push(xm_shared_t *s, xm_batch_t *b)
{
    pthread_mutex_lock(&s->lock);
    while (s->pending >= XM_MAX_PENDING)
        pthread_cond_wait(&s->not_full, &s->lock);
    b->next = s->head;
    s->head = b;
    s->pending++;
    pthread_cond_signal(&s->not_empty);
    pthread_mutex_unlock(&s->lock);
}

static void *xm_allocator(void *arg)
{
    xm_worker_t *w = arg;
    xm_shared_t *s = w->shared;
    uint64_t rng = w->seed;
    long left = s->iterations;
    while (left > 0) {
        long n = left < s->batch ? left : s->batch;
        xm_batch_t *b = bench_xmalloc(sizeof(*b) + (size_t)n * sizeof(b->blocks[0]));
        b->count = n;
        for (long i = 0; i < n; i++) {
            uint64_t r = bench_rng_next(&rng);
            size_t size = xm_sizes[r % (sizeof(xm_sizes) / sizeof(xm_sizes[0]))];
            b->blocks[i] = bench_xmalloc(size);
            b->blocks[i][0] = r >> 8;
        }
        left -= n;
        xm_push(s, b);
    }
    pthread_mutex_lock(&s->lock);
    s->producers_left--;
    pthread_cond_broadcast(&s->not_empty);
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

static void *xm_freer(void *arg)
{
    xm_worker_t *w = arg;
    xm_shared_t *s = w->shared;
    uint64_t sum = 0;
    for (;;) {
        pthread_mutex_lock(&s->lock);
        while (s->head == NULL && s->producers_left > 0)
            pthread_cond_wait(&s->not_empty, &s->lock);
        xm_batch_t *b = s->head;
        if (b == NULL) {
            pthread_mutex_unlock(&s->lock);
            break;
        }
        s->head = b->next;
        s->pending--;
        pthread_cond_signal(&s->not_full);
        pthread_mutex_unlock(&s->lock);

        for (long i = 0; i < b->count; i++) {
            sum += b->blocks[i][0]; /* addition: the order batches arrive in does not matter */
            free(b->blocks[i]);
        }
        free(b);
    }
    pthread_mutex_lock(&s->lock);
    s->checksum += sum;
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

int main(int argc, char **argv)
{
    xm_shared_t s = {.lock = PTHREAD_MUTEX_INITIALIZER,
                     .not_empty = PTHREAD_COND_INITIALIZER,
                     .not_full = PTHREAD_COND_INITIALIZER};
    s.iterations = bench_arg_long(argc, argv, 1, 1000000);
    long nalloc = bench_arg_long(argc, argv, 2, 1);
    long nfree = bench_arg_long(argc, argv, 3, 1);
    s.batch = bench_arg_long(argc, argv, 4, 256);
    s.producers_left = nalloc;

    long n = nalloc + nfree;
    pthread_t *threads = bench_xmalloc((size_t)n * sizeof(*threads));
    xm_worker_t *workers = bench_xmalloc((size_t)n * sizeof(*workers));
    for (long i = 0; i < n; i++) {
        workers[i].shared = &s;
        workers[i].seed = 0x0A110CULL + (uint64_t)i;
        void *(*fn)(void *) = i < nalloc ? xm_allocator : xm_freer;
        if (pthread_create(&threads[i], NULL, fn, &workers[i]) != 0)
            bench_die("pthread_create");
    }
    for (long i = 0; i < n; i++)
        pthread_join(threads[i], NULL);

    printf("xmalloc allocators=%ld freers=%ld iterations=%ld batch=%ld checksum=%016llx\n", nalloc,
           nfree, s.iterations, s.batch, (unsigned long long)s.checksum);
    free(threads);
    free(workers);
    return 0;
}
