/* SPDX-License-Identifier: MIT */
/*
 * service.c — a small long-running "service" for watching memory over time (perfshim timeline):
 * a request loop with
 *   - one slow leak: every request leaks exactly SERVICE_LEAK_BYTES from leak_request();
 *   - one bounded cache: an LRU of at most SERVICE_CACHE_ENTRIES entries of
 *     SERVICE_ENTRY_BYTES, filled from cache_insert() on a miss; it fills, then plateaus
 *     (every later miss evicts the least recently used entry);
 *   - healthy churn: a few buffers per request (handle_request), all freed before it returns.
 *
 *   service [--duration SECONDS] [--rate REQUESTS_PER_SECOND] [--requests N]
 *
 * It serves --rate requests per second (0: as fast as it can) until --duration seconds passed
 * or --requests were served (whichever comes first; defaults: 2 s at 2000/s), then prints
 *   requests N leak_bytes_per_request B cache_entries E cache_entry_bytes S
 * With PERFSHIM_INTERVAL=100ms the shim writes a snapshot every 100 ms:
 *   PERFSHIM_INTERVAL=100ms LD_PRELOAD=libperfshim.so ./service --duration 5
 *   perfshim timeline perfshim.service.*.trace
 * shows leak_request() growing by B bytes per request and cache_insert() flat at E × S bytes
 * once the cache is full. tests/integration/test_service.py checks exactly that.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SERVICE_LEAK_BYTES 48     /* leaked per request */
#define SERVICE_CACHE_ENTRIES 512 /* LRU capacity */
#define SERVICE_KEYS 2048         /* distinct keys requested: most requests miss */
#define SERVICE_VALUE_BYTES 200   /* bytes of a cached value */

typedef struct entry {
    struct entry *prev, *next; /* LRU list: most recent first */
    struct entry *chain;       /* hash bucket */
    uint32_t key;
    char value[SERVICE_VALUE_BYTES];
} entry_t;

#define SERVICE_ENTRY_BYTES ((unsigned)sizeof(entry_t))

static entry_t *buckets[SERVICE_CACHE_ENTRIES];
static entry_t *lru_head, *lru_tail;
static unsigned cached;
static void *volatile sink; /* keeps the compiler from dropping the leak */

static void lru_unlink(entry_t *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        lru_head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        lru_tail = e->prev;
}

static void lru_push(entry_t *e)
{
    e->prev = NULL;
    e->next = lru_head;
    if (lru_head)
        lru_head->prev = e;
    lru_head = e;
    if (!lru_tail)
        lru_tail = e;
}

static void evict_one(void)
{
    entry_t *e = lru_tail;
    entry_t **pp = &buckets[e->key % SERVICE_CACHE_ENTRIES];
    while (*pp != e)
        pp = &(*pp)->chain;
    *pp = e->chain;
    lru_unlink(e);
    free(e);
    cached--;
}

/* The cache's only allocation site. */
__attribute__((noinline)) static entry_t *cache_insert(uint32_t key)
{
    if (cached == SERVICE_CACHE_ENTRIES)
        evict_one();
    entry_t *e = malloc(sizeof *e);
    if (!e)
        return NULL;
    e->key = key;
    snprintf(e->value, sizeof e->value, "value of %u", key);
    e->chain = buckets[key % SERVICE_CACHE_ENTRIES];
    buckets[key % SERVICE_CACHE_ENTRIES] = e;
    lru_push(e);
    cached++;
    return e;
}

static entry_t *cache_get(uint32_t key)
{
    for (entry_t *e = buckets[key % SERVICE_CACHE_ENTRIES]; e; e = e->chain)
        if (e->key == key) {
            lru_unlink(e);
            lru_push(e);
            return e;
        }
    return cache_insert(key);
}

/* The leak: a per-request record nobody frees. */
__attribute__((noinline)) static void leak_request(uint64_t n)
{
    char *p = malloc(SERVICE_LEAK_BYTES);
    if (p) {
        memset(p, 0, SERVICE_LEAK_BYTES);
        memcpy(p, &n, sizeof n);
    }
    sink = p;
}

/* Healthy churn: buffers of a few sizes, all freed. */
__attribute__((noinline)) static size_t handle_request(uint64_t n, const entry_t *e)
{
    size_t sizes[3] = {32 + n % 480, 1024 + (n * 7) % 3072, 64};
    char *buf[3];
    size_t total = 0;
    for (int i = 0; i < 3; i++) {
        buf[i] = malloc(sizes[i]);
        if (buf[i]) {
            memset(buf[i], (int)(n + i), sizes[i]);
            total += (size_t)buf[i][sizes[i] - 1];
        }
    }
    if (e && buf[2])
        memcpy(buf[2], e->value, sizes[2]); /* the first bytes of the value */
    for (int i = 0; i < 3; i++)
        free(buf[i]);
    return total;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int parse(const char *opt, const char *v, double *out)
{
    char *end;
    errno = 0;
    *out = strtod(v ? v : "", &end);
    if (!v || end == v || *end || errno || *out < 0) {
        fprintf(stderr, "service: %s needs a number >= 0\n", opt);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    double duration = 2, rate = 2000, max_requests = 0;
    for (int i = 1; i < argc; i++) {
        double *dst = strcmp(argv[i], "--duration") == 0   ? &duration
                      : strcmp(argv[i], "--rate") == 0     ? &rate
                      : strcmp(argv[i], "--requests") == 0 ? &max_requests
                                                           : NULL;
        if (!dst) {
            fprintf(stderr, "usage: service [--duration SECONDS] [--rate PER_SECOND] "
                            "[--requests N]\n");
            return 2;
        }
        if (parse(argv[i], argv[i + 1], dst) != 0)
            return 2;
        i++;
    }
    uint64_t n = 0, key = 1;
    size_t checksum = 0;
    double start = now();
    for (;;) {
        double t = now() - start;
        if (t >= duration || (max_requests > 0 && (double)n >= max_requests))
            break;
        if (rate > 0 && (double)n > t * rate) { /* ahead of the rate: wait for the next slot */
            double wait = (double)n / rate - t;
            struct timespec ts = {(time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9)};
            nanosleep(&ts, NULL);
            continue;
        }
        key = key * 6364136223846793005ull + 1442695040888963407ull; /* Knuth's LCG */
        const entry_t *e = cache_get((uint32_t)(key >> 33) % SERVICE_KEYS);
        leak_request(n);
        checksum += handle_request(n, e);
        n++;
    }
    printf("requests %llu leak_bytes_per_request %d cache_entries %u cache_entry_bytes %u\n",
           (unsigned long long)n, SERVICE_LEAK_BYTES, cached, SERVICE_ENTRY_BYTES);
    return checksum == (size_t)-1; /* never: keeps the churn from being optimized away */
}
