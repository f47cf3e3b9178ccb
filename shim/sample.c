/* SPDX-License-Identifier: MIT */
/*
 * sample.c — PERFSHIM_SAMPLE: which allocations are tracked when the shim samples by bytes,
 * and what each sampled one stands for.
 *
 * Every allocated byte is picked with probability 1/T (T: the mean interval, bytes): an
 * allocation of size s is sampled with probability p = 1 - e^(-s/T), so it is a Poisson
 * process over the bytes a thread allocates (tcmalloc's and jemalloc's design). A thread keeps a
 * countdown of bytes to its next sample point, drawn from an exponential distribution of mean
 * T with its own PRNG; the allocation paths subtract each size and call ps_sample_slow only
 * when the countdown goes below zero (interpose.c: a subtraction and a branch). The countdown
 * itself never exceeds T - 1 (a longer draw keeps the rest aside in `extra`), so an allocation
 * of T bytes or more always reaches the slow path: it is always sampled, at weight 1.
 *
 * A sampled allocation of size s < T stands for s / p bytes and 1 / p allocations (jemalloc's
 * prof_unbias_map_init): the estimates are unbiased. The tracker records these weights when
 * the block is sampled and subtracts the same ones at its free (track.c), so they are kept per
 * block as a code: 0 = exact (weight 1: full tracking, or s >= T), 1..PS_SAMPLE_CODES-1 = one of
 * the means the process sampled with (the means table below; ps_sample_set adds to it).
 * Counts are kept in fixed point (PS_COUNT_ONE per allocation) so that a weight of 1.58 is not
 * rounded to 2.
 *
 * Must not: allocate, lock or call libm (its own ln and exp: the shim links no libm, and these
 * run inside malloc); the fast path is in interpose.c and reads only ps_tls_sample_left.
 */
#include "internal.h"
#include "pool.h"

#include <string.h>

__thread int64_t ps_tls_sample_left __attribute__((tls_model("initial-exec")));
/* The rest of the thread's current draw beyond what the countdown holds (bytes). */
static __thread uint64_t tls_extra __attribute__((tls_model("initial-exec")));
static __thread uint64_t tls_rng __attribute__((tls_model("initial-exec")));
static __thread uint64_t tls_mean __attribute__((tls_model("initial-exec")));
static __thread uint32_t tls_code __attribute__((tls_model("initial-exec")));
static __thread uint32_t tls_generation __attribute__((tls_model("initial-exec")));

/* The means this process sampled with (bytes), by code; 0 (exact) at index 0. Entries are
 * written once, before the generation that publishes them. */
static _Atomic uint64_t means[PS_SAMPLE_CODES];
static atomic_uint means_used = 1;
static _Atomic uint64_t mean_now;  /* the mean in effect (bytes; 0 = full tracking) */
static atomic_uint generation = 1; /* bumped by every ps_sample_set */
static atomic_uint ever_sampled;   /* 1 once some block was tracked with a weight */
static _Atomic uint64_t seed_base; /* PERFSHIM_SAMPLE_SEED, or a value from the clock */
static atomic_uint thread_serial;  /* threads seeded so far (a fixed seed stays apart) */
static ps_spinlock_t set_lock;     /* serializes ps_sample_set's writers */
static int sample_ok = 1;          /* 0 if the pool's bitmap could not be mapped */
uint64_t *ps_sample_pool_bits;     /* 1 bit per 16 bytes of the pool's reservation */
/* page-aligned: with the pool, only its first page (PS_SAMPLE_FILTER_POOLED entries) is used */
_Alignas(4096) uint8_t ps_sample_filter[PS_SAMPLE_FILTER_SIZE];

/* ---- math without libm ---------------------------------------------------------------------- */

#define LN2 0.6931471805599453094

/* Natural logarithm of x > 0 (finite, normal). x = m * 2^e with m in [sqrt(1/2), sqrt(2)),
 * ln m = 2 atanh(z), z = (m - 1) / (m + 1), |z| < 0.172: the series to z^21 is exact to
 * about 1e-16 relative. */
double ps_sample_ln(double x)
{
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    int e = (int)((bits >> 52) & 0x7ff) - 1023;
    bits = (bits & ((UINT64_C(1) << 52) - 1)) | (UINT64_C(1023) << 52); /* m in [1, 2) */
    double m;
    memcpy(&m, &bits, sizeof m);
    if (m > 1.4142135623730951) {
        m *= 0.5;
        e++;
    }
    double z = (m - 1) / (m + 1), z2 = z * z, sum = 0;
    for (int k = 21; k >= 1; k -= 2)
        sum = sum * z2 + 1.0 / k;
    return e * LN2 + 2 * z * sum;
}

/* 1 - e^(-x) for x >= 0, to about 1e-15 relative: the series where it cancels (x < 0.5),
 * else e^(-x) = 2^-k e^(-r) with |r| <= ln2 / 2. */
double ps_sample_one_minus_exp_neg(double x)
{
    if (x <= 0)
        return 0;
    if (x < 0.5) { /* x - x^2/2! + x^3/3! - ...: 18 terms leave < 0.5^19/19! */
        double term = x, sum = x;
        for (int k = 2; k <= 19; k++) {
            term *= -x / k;
            sum += term;
        }
        return sum;
    }
    if (x > 745)
        return 1;
    int k = (int)(x / LN2 + 0.5);
    double r = x - k * LN2, term = 1, e = 1; /* e^(-r), |r| <= 0.347 */
    for (int i = 1; i <= 18; i++) {
        term *= -r / i;
        e += term;
    }
    while (k-- > 0)
        e *= 0.5;
    return 1 - e;
}

void ps_sample_weights(uint64_t size, uint64_t mean, uint64_t *bytes, uint64_t *count)
{
    if (mean == 0 || size >= mean || size == 0) {
        *bytes = size;
        *count = PS_COUNT_ONE;
        return;
    }
    double w = 1 / ps_sample_one_minus_exp_neg((double)size / (double)mean);
    *bytes = (uint64_t)((double)size * w + 0.5);
    *count = (uint64_t)(w * PS_COUNT_ONE + 0.5);
}

void ps_sample_code_weights(uint64_t size, uint32_t code, uint64_t *bytes, uint64_t *count)
{
    uint64_t mean = code && code < PS_SAMPLE_CODES
                        ? atomic_load_explicit(&means[code], memory_order_relaxed)
                        : 0;
    ps_sample_weights(size, mean, bytes, count);
}

/* ---- the per-thread countdown ------------------------------------------------------------ */

/* splitmix64: a 64-bit state, one multiply-xorshift round per number; plenty for sampling. */
static inline uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

uint64_t ps_sample_draw(uint64_t *state, uint64_t mean)
{
    double u = (double)((rng_next(state) >> 11) + 1) * (1.0 / 9007199254740992.0); /* (0, 1] */
    double d = -(double)mean * ps_sample_ln(u);
    return d < 1 ? 1 : d > 9.0e18 ? (uint64_t)9.0e18 : (uint64_t)d;
}

/* Arms the countdown with a fresh interval: at most mean - 1 in the countdown, the rest in
 * extra. */
static void arm(void)
{
    uint64_t d = ps_sample_draw(&tls_rng, tls_mean);
    uint64_t cap = tls_mean - 1;
    uint64_t now = d < cap ? d : cap;
    ps_tls_sample_left = (int64_t)now;
    tls_extra = d - now;
}

/* This thread's first call, or the mean changed (ps_sample_set): pick up the mean in effect. */
static PS_NOINLINE void refresh(uint32_t gen)
{
    tls_generation = gen;
    tls_mean = atomic_load_explicit(&mean_now, memory_order_acquire);
    tls_code = 0;
    for (uint32_t c = 1; c < PS_SAMPLE_CODES && tls_mean; c++)
        if (atomic_load_explicit(&means[c], memory_order_relaxed) == tls_mean) {
            tls_code = c;
            break;
        }
    if (!tls_rng) {
        uint64_t serial = atomic_fetch_add_explicit(&thread_serial, 1, memory_order_relaxed);
        tls_rng = atomic_load_explicit(&seed_base, memory_order_relaxed) ^
                  (serial * UINT64_C(0xd1b54a32d192ed03));
        if (!tls_rng)
            tls_rng = 1;
    }
    if (tls_mean < 2) { /* full tracking: sample everything at weight 1 */
        ps_tls_sample_left = -1;
        tls_extra = 0;
        return;
    }
    arm();
}

int ps_sample_slow(size_t n)
{
    uint32_t gen = atomic_load_explicit(&generation, memory_order_relaxed);
    if (PS_UNLIKELY(gen != tls_generation)) {
        refresh(gen);
        if (tls_mean < 2)
            return 0;
        ps_tls_sample_left -= (int64_t)n; /* this allocation, against the new countdown */
        if (ps_tls_sample_left >= 0)
            return -1;
    }
    if (tls_mean < 2) {
        ps_tls_sample_left = -1;
        return 0;
    }
    if (n >= tls_mean) { /* always sampled, at its true size; it does not use up the interval */
        ps_tls_sample_left += (int64_t)n;
        atomic_store_explicit(&ever_sampled, 1, memory_order_relaxed);
        return 0;
    }
    int64_t cap = (int64_t)tls_mean - 1;
    while (ps_tls_sample_left < 0 && tls_extra > 0) {
        uint64_t room = (uint64_t)(cap - ps_tls_sample_left);
        uint64_t take = tls_extra < room ? tls_extra : room;
        ps_tls_sample_left += (int64_t)take;
        tls_extra -= take;
    }
    if (ps_tls_sample_left >= 0)
        return -1;
    arm();
    atomic_store_explicit(&ever_sampled, 1, memory_order_relaxed);
    return (int)tls_code;
}

/* ---- setting the mean ---------------------------------------------------------------------- */

int ps_sample_set(uint64_t mean)
{
    if (mean == 1)
        mean = 2; /* a mean of one byte samples every allocation anyway */
    if (mean > PS_SAMPLE_MAX_MEAN)
        mean = PS_SAMPLE_MAX_MEAN;
    int rc = 0;
    ps_lock(&set_lock);
    if (mean) {
        unsigned used = atomic_load_explicit(&means_used, memory_order_relaxed), c;
        for (c = 1; c < used; c++)
            if (atomic_load_explicit(&means[c], memory_order_relaxed) == mean)
                break;
        if (c == used) {
            if (used == PS_SAMPLE_CODES) {
                rc = -1; /* the blocks' codes have no room for another mean: keep the one */
                goto out;
            }
            atomic_store_explicit(&means[c], mean, memory_order_relaxed);
            atomic_store_explicit(&means_used, used + 1, memory_order_release);
        }
    }
    if (mean && !sample_ok) {
        rc = -1; /* the pool's bitmap could not be mapped (ps_sample_init said so) */
        goto out;
    }
    atomic_store_explicit(&mean_now, mean, memory_order_release);
    /* plain int flags the allocation paths read with plain loads; whole-word stores */
    __atomic_store_n(&ps_g.sampling, mean != 0, __ATOMIC_RELEASE);
    /* The allocation paths, where tracking has hooks at all (full mode, tracking on): the
     * sampled fast paths (a countdown) unless something else needs every call (allocator
     * latency) or every allocation is tracked (interpose.c). */
    if (ps_g.hooks)
        ps_set_hooks(1);
    atomic_fetch_add_explicit(&generation, 1, memory_order_release);
out:
    ps_unlock(&set_lock);
    return rc;
}

uint64_t ps_sample_mean(void)
{
    return atomic_load_explicit(&mean_now, memory_order_relaxed);
}

int ps_sample_ever(void)
{
    return atomic_load_explicit(&ever_sampled, memory_order_relaxed) ||
           atomic_load_explicit(&mean_now, memory_order_relaxed) != 0;
}

int ps_sample_write(ps_buf_t *b, uint64_t time_ns)
{
    unsigned used = atomic_load_explicit(&means_used, memory_order_acquire);
    ps_row_sampling_t row = {.time_ns = time_ns, .mean_bytes = ps_sample_mean(), .means = used - 1};
    for (unsigned c = 1; c < used; c++) {
        uint64_t m = atomic_load_explicit(&means[c], memory_order_relaxed);
        if (m > row.max_mean_bytes)
            row.max_mean_bytes = m;
    }
    ps_put_sampling(b, &row);
    return 0;
}

int ps_sample_init(void)
{
    uint64_t seed = ps_g.opt.sample_seed ? (uint64_t)ps_g.opt.sample_seed
                                         : ps_os_monotonic_ns() ^ ((uint64_t)ps_os_pid() << 32);
    /* mixed, not only scaled: a thread's state advances by 0x9e37... a draw, so a base of
     * seed * 0x9e37... made seed N + 1's stream seed N's shifted by one draw (seeds 1, 2, 3 of a
     * test sampled nearly the same allocations) */
    atomic_store_explicit(&seed_base, rng_next(&seed), memory_order_relaxed);
    if (ps_g.pool_on && !ps_sample_pool_bits) {
        ps_sample_pool_bits = ps_os_map((size_t)(ps_pool_hot.size >> 7));
        if (!ps_sample_pool_bits) {
            sample_ok = 0;
            if (ps_g.opt.sample)
                ps_msg_warn("cannot map the pool's sampled-block bitmap; PERFSHIM_SAMPLE is off "
                            "(every allocation is tracked)");
            return -1;
        }
    }
    return 0;
}

void ps_sample_fork_child(void)
{
    /* The child's threads draw apart from the parent's (same state, same samples otherwise),
     * unless a fixed seed asks for repeatable runs. */
    if (!ps_g.opt.sample_seed)
        tls_rng ^= ps_os_monotonic_ns() * UINT64_C(0x9e3779b97f4a7c15) ^ ps_os_pid();
}
