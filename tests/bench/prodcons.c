/* SPDX-License-Identifier: MIT */
/*
 * Producer/consumer: one thread allocates, the other frees, through a bounded single-producer
 * single-consumer ring. Every free is a remote free (of a block another thread allocated), the
 * case a thread-caching allocator must handle without a lock on its fast path.
 *
 * Usage: bench-prodcons ITERATIONS [QUEUE=1024]
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench_util.h"

/* One queue entry: a block (first 8 bytes: sequence number; last byte: its low byte) and its
 * requested size. block == NULL ends the stream. */
typedef struct pc_msg {
    uint64_t *block;
    size_t size;
} pc_msg_t;

typedef struct pc_queue {
    pc_msg_t *slots;
    size_t capacity;                 /* power of two */
    _Alignas(64) atomic_size_t head; /* next slot the consumer reads */
    _Alignas(64) atomic_size_t tail; /* next slot the producer writes */
    _Alignas(64) long iterations;
    uint64_t checksum; /* consumer's result */
} pc_queue_t;

static void *pc_producer(void *arg)
{
    pc_queue_t *q = arg;
    uint64_t rng = 0xC0FFEEULL;
    size_t tail = 0;
    size_t head_seen = 0; /* cached copy of head: read the shared one only when looking full */
    for (long i = 0; i <= q->iterations; i++) {
        pc_msg_t m = {NULL, 0};
        if (i < q->iterations) {
            m.size = bench_rng_size(&rng, 8, 512);
            m.block = bench_xmalloc(m.size);
            m.block[0] = (uint64_t)i;
            ((unsigned char *)m.block)[m.size - 1] = (unsigned char)i;
        }
        while (tail - head_seen == q->capacity) {
            head_seen = atomic_load_explicit(&q->head, memory_order_acquire);
            if (tail - head_seen == q->capacity)
                sched_yield();
        }
        q->slots[tail & (q->capacity - 1)] = m;
        atomic_store_explicit(&q->tail, ++tail, memory_order_release);
    }
    return NULL;
}

static void *pc_consumer(void *arg)
{
    pc_queue_t *q = arg;
    uint64_t sum = 0;
    size_t head = 0;
    size_t tail_seen = 0; /* cached copy of tail: read the shared one only when looking empty */
    for (;;) {
        while (tail_seen == head) {
            tail_seen = atomic_load_explicit(&q->tail, memory_order_acquire);
            if (tail_seen == head)
                sched_yield();
        }
        pc_msg_t m = q->slots[head & (q->capacity - 1)];
        atomic_store_explicit(&q->head, ++head, memory_order_release);
        if (m.block == NULL)
            break;
        sum = bench_mix(sum, m.block[0] ^ m.size ^ ((unsigned char *)m.block)[m.size - 1]);
        free(m.block);
    }
    q->checksum = sum;
    return NULL;
}

int main(int argc, char **argv)
{
    pc_queue_t q = {0};
    q.iterations = bench_arg_long(argc, argv, 1, 1000000);
    long capacity = bench_arg_long(argc, argv, 2, 1024);
    q.capacity = 1;
    while (q.capacity < (size_t)capacity)
        q.capacity <<= 1;
    q.slots = bench_xmalloc(q.capacity * sizeof(*q.slots));

    pthread_t producer, consumer;
    if (pthread_create(&consumer, NULL, pc_consumer, &q) != 0 ||
        pthread_create(&producer, NULL, pc_producer, &q) != 0)
        bench_die("pthread_create");
    pthread_join(producer, NULL);
    pthread_join(consumer, NULL);

    printf("prodcons iterations=%ld queue=%zu checksum=%016llx\n", q.iterations, q.capacity,
           (unsigned long long)q.checksum);
    free(q.slots);
    return 0;
}
