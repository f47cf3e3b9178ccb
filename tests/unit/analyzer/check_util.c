/* SPDX-License-Identifier: MIT */
/*
 * check_util.c — pa_util_sort_top (util.c): the first k of n items in a comparator's order,
 * against a full qsort of the same items, on the orders that decide which selection it takes
 * (random, ascending, descending, all counters equal with a key that breaks the ties, the sites
 * of a trace whose keys come in reverse), and its comparisons counted on the reversed order,
 * where a heap of k sifted every item (about n * 2 log2 k comparisons) and quickselect takes
 * about 2n.
 */
#include "util.h"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* An item as the reports sort them: counters, then a key breaking the ties (a total order),
 * and padding so that items are larger than a pointer (leaks.c's entries are 40 bytes). */
typedef struct {
    uint64_t bytes;
    uint32_t key;
    uint32_t pad[5];
} item_t;

static size_t ncmp;

static int cmp_item(const void *pa, const void *pb, void *ctx)
{
    const item_t *a = pa, *b = pb;
    (void)ctx;
    ncmp++;
    if (a->bytes != b->bytes)
        return a->bytes > b->bytes ? -1 : 1; /* larger first, as the reports' live order */
    return a->key < b->key ? -1 : a->key > b->key;
}

static int cmp_plain(const void *a, const void *b)
{
    return cmp_item(a, b, NULL);
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

enum { RANDOM, ASCENDING, DESCENDING, TIED_REVERSED, FEW_VALUES, ORDERS };

static item_t *make(size_t n, int order)
{
    item_t *v = calloc(n, sizeof *v);
    ck_assert_ptr_nonnull(v);
    for (size_t i = 0; i < n; i++) {
        v[i].key = (uint32_t)i;
        switch (order) {
        case RANDOM:
            v[i].bytes = next() % 1000000;
            v[i].key = (uint32_t)next();
            break;
        case ASCENDING: /* the smallest first: the last in the live order first */
            v[i].bytes = i;
            break;
        case DESCENDING:
            v[i].bytes = n - i;
            break;
        case TIED_REVERSED: /* equal counters, keys in reverse: every item beats the heap's last */
            v[i].bytes = 32;
            v[i].key = (uint32_t)(n - i);
            break;
        default: /* a few values, keys shuffled */
            v[i].bytes = next() % 4;
            v[i].key = (uint32_t)next();
            break;
        }
        v[i].pad[0] = v[i].key; /* carried along with the item */
    }
    return v;
}

START_TEST(test_same_as_sort)
{
    static const size_t sizes[] = {1, 5, 17, 100, 1000, 5000};
    static const size_t ks[] = {1, 3, 16, 20, 250, 0};
    for (int order = 0; order < ORDERS; order++)
        for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++)
            for (size_t ki = 0; ki < sizeof ks / sizeof *ks; ki++) {
                size_t n = sizes[si], k = ks[ki] && ks[ki] < n ? ks[ki] : n;
                item_t *v = make(n, order), *want = malloc(n * sizeof *want);
                ck_assert_ptr_nonnull(want);
                memcpy(want, v, n * sizeof *v);
                qsort(want, n, sizeof *want, cmp_plain);
                pa_util_sort_top(v, n, sizeof *v, ks[ki], cmp_item, NULL);
                ck_assert_msg(memcmp(v, want, k * sizeof *v) == 0,
                              "order %d, n %zu, k %zu: the first k differ from a sort", order, n,
                              k);
                /* the others are all there: the keys of the rest are the rest of the sort's */
                qsort(v + k, n - k, sizeof *v, cmp_plain);
                ck_assert(memcmp(v + k, want + k, (n - k) * sizeof *v) == 0);
                free(v);
                free(want);
            }
}
END_TEST

START_TEST(test_reversed_comparisons)
{
    size_t n = 100000, k = 20;
    item_t *v = make(n, TIED_REVERSED);
    ncmp = 0;
    pa_util_sort_top(v, n, sizeof *v, k, cmp_item, NULL);
    for (size_t i = 0; i < k; i++)
        ck_assert_uint_eq(v[i].key, i + 1); /* the smallest keys, in order */
    /* a heap of 20 sifting every item: about 900k comparisons; quickselect: about 2n */
    ck_assert_msg(ncmp < 4 * n, "%zu comparisons for the first %zu of %zu", ncmp, k, n);
    free(v);
    /* in random order the heap is kept: about n comparisons, not quickselect's 2n */
    v = make(n, RANDOM);
    ncmp = 0;
    pa_util_sort_top(v, n, sizeof *v, k, cmp_item, NULL);
    ck_assert_msg(ncmp < n + n / 4, "%zu comparisons in random order", ncmp);
    free(v);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("analyzer_util");
    TCase *tc = tcase_create("sort_top");
    tcase_set_timeout(tc, 120); /* (wall clock: the machine may be loaded) */
    tcase_add_test(tc, test_same_as_sort);
    tcase_add_test(tc, test_reversed_comparisons);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
