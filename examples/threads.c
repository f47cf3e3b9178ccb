/* SPDX-License-Identifier: MIT */
/*
 * threads.c — leaks and frees from several threads at once, and blocks that cross threads.
 *
 *   THREADS_WORKERS workers each leak THREADS_LEAKS_PER_WORKER blocks of THREADS_LEAK_SIZE from
 *   one site (LEAK:thread_worker), and allocate and free THREADS_TEMP_PER_WORKER more.
 *   A producer thread allocates THREADS_HANDOFF blocks (NOLEAK:handoff) that a consumer thread
 *   frees: blocks freed by a thread other than the one that allocated them are not leaks.
 *   A producer hands THREADS_KEPT blocks of THREADS_KEPT_SIZE (LEAK:handoff_kept) to a consumer
 *   that keeps them: leaked, attributed to the producer's allocation site.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define THREADS_WORKERS 4
#define THREADS_LEAKS_PER_WORKER 25
#define THREADS_LEAK_SIZE 64
#define THREADS_TEMP_PER_WORKER 5000
#define THREADS_HANDOFF 2000
#define THREADS_KEPT 7
#define THREADS_KEPT_SIZE 300

/* ---- a tiny blocking queue ------------------------------------------------------------------ */

#define QUEUE_CAP 64

struct queue {
    pthread_mutex_t lock;
    pthread_cond_t not_empty, not_full;
    void *items[QUEUE_CAP];
    int head, count;
};

static void queue_put(struct queue *q, void *item)
{
    pthread_mutex_lock(&q->lock);
    while (q->count == QUEUE_CAP)
        pthread_cond_wait(&q->not_full, &q->lock);
    q->items[(q->head + q->count) % QUEUE_CAP] = item;
    q->count++;
    pthread_cond_signal(&q->not_empty);
    pthread_mutex_unlock(&q->lock);
}

static void *queue_get(struct queue *q)
{
    pthread_mutex_lock(&q->lock);
    while (q->count == 0)
        pthread_cond_wait(&q->not_empty, &q->lock);
    void *item = q->items[q->head];
    q->head = (q->head + 1) % QUEUE_CAP;
    q->count--;
    pthread_cond_signal(&q->not_full);
    pthread_mutex_unlock(&q->lock);
    return item;
}

static struct queue handoff = {
    PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER, {0}, 0, 0};

/* ---- workers -------------------------------------------------------------------------------- */

void *volatile threads_kept[THREADS_WORKERS * THREADS_LEAKS_PER_WORKER + THREADS_KEPT];

__attribute__((noinline)) static void worker_leak(int id, int i)
{
    char *p = malloc(THREADS_LEAK_SIZE); /* LEAK:thread_worker */
    if (p)
        memset(p, id, THREADS_LEAK_SIZE);
    threads_kept[id * THREADS_LEAKS_PER_WORKER + i] = p;
}

static void *worker(void *arg)
{
    int id = (int)(long)arg;
    unsigned sum = 0;
    for (int i = 0; i < THREADS_TEMP_PER_WORKER; i++) {
        size_t n = 16 + (size_t)((i * 37 + id) % 2000);
        unsigned char *p = malloc(n); /* NOLEAK:thread_temp */
        if (!p)
            continue;
        memset(p, i, n);
        sum += p[n / 2];
        free(p);
        if (i % (THREADS_TEMP_PER_WORKER / THREADS_LEAKS_PER_WORKER) == 0)
            worker_leak(id, i / (THREADS_TEMP_PER_WORKER / THREADS_LEAKS_PER_WORKER));
    }
    return (void *)(unsigned long)sum;
}

static void *producer(void *arg)
{
    (void)arg;
    for (int i = 0; i < THREADS_HANDOFF; i++) {
        int *p = malloc(sizeof(int) * (1 + (size_t)(i % 50))); /* NOLEAK:handoff */
        if (p)
            *p = i;
        queue_put(&handoff, p);
    }
    for (int i = 0; i < THREADS_KEPT; i++) {
        int *p = malloc(THREADS_KEPT_SIZE); /* LEAK:handoff_kept */
        if (p)
            *p = -1;
        queue_put(&handoff, p);
    }
    queue_put(&handoff, NULL); /* end of stream */
    return NULL;
}

static void *consumer(void *arg)
{
    (void)arg;
    long sum = 0;
    int kept = 0;
    for (;;) {
        int *p = queue_get(&handoff);
        if (!p)
            break;
        if (*p < 0) {
            threads_kept[THREADS_WORKERS * THREADS_LEAKS_PER_WORKER + kept++] = p;
            continue;
        }
        sum += *p;
        free(p);
    }
    return (void *)sum;
}

int main(void)
{
    pthread_t workers[THREADS_WORKERS], prod, cons;
    for (long i = 0; i < THREADS_WORKERS; i++)
        if (pthread_create(&workers[i], NULL, worker, (void *)i) != 0) {
            fprintf(stderr, "threads: pthread_create failed\n");
            return 1;
        }
    if (pthread_create(&prod, NULL, producer, NULL) != 0 ||
        pthread_create(&cons, NULL, consumer, NULL) != 0) {
        fprintf(stderr, "threads: pthread_create failed\n");
        return 1;
    }
    unsigned long total = 0;
    for (int i = 0; i < THREADS_WORKERS; i++) {
        void *r;
        pthread_join(workers[i], &r);
        total += (unsigned long)r;
    }
    void *handed;
    pthread_join(prod, NULL);
    pthread_join(cons, &handed);
    fprintf(stderr, "threads: done (checksum %lu, handoff sum %ld)\n", total, (long)handed);
    return 0;
}
