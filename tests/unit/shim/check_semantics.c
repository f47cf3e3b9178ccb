/* SPDX-License-Identifier: MIT */
/*
 * check_semantics.c — the malloc family exported by libperfshim.so behaves like glibc's:
 * errno, overflow, alignment, realloc edge cases, usable size, foreign pointers, and the
 * dlsym swap that makes ctypes-style lookups land in the shim; and its signal() is glibc's.
 *
 * The shim is dlopen()ed RTLD_LOCAL: its functions are called through pointers, so the Check
 * runner's own allocations stay with glibc (the runner is never preloaded).
 */
#define _GNU_SOURCE
#include <check.h>
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void *lib;
static void *(*s_malloc)(size_t);
static void (*s_free)(void *);
static void *(*s_calloc)(size_t, size_t);
static void *(*s_realloc)(void *, size_t);
static void *(*s_reallocarray)(void *, size_t, size_t);
static int (*s_posix_memalign)(void **, size_t, size_t);
static void *(*s_aligned_alloc)(size_t, size_t);
static void *(*s_memalign)(size_t, size_t);
static void *(*s_valloc)(size_t);
static void *(*s_pvalloc)(size_t);
static size_t (*s_usable)(void *);
static void *(*s_dlsym)(void *, const char *);
static int (*s_dump)(void);

#define LOAD(var, name)                                                                            \
    do {                                                                                           \
        *(void **)&var = dlsym(lib, name);                                                         \
        ck_assert_msg(var != NULL, "libperfshim.so does not export %s", name);                     \
    } while (0)

static void setup(void)
{
    lib = dlopen(PERFSHIM_LIB_PATH, RTLD_NOW | RTLD_LOCAL);
    ck_assert_msg(lib != NULL, "dlopen %s: %s", PERFSHIM_LIB_PATH, dlerror());
    LOAD(s_malloc, "malloc");
    LOAD(s_free, "free");
    LOAD(s_calloc, "calloc");
    LOAD(s_realloc, "realloc");
    LOAD(s_reallocarray, "reallocarray");
    LOAD(s_posix_memalign, "posix_memalign");
    LOAD(s_aligned_alloc, "aligned_alloc");
    LOAD(s_memalign, "memalign");
    LOAD(s_valloc, "valloc");
    LOAD(s_pvalloc, "pvalloc");
    LOAD(s_usable, "malloc_usable_size");
    LOAD(s_dlsym, "dlsym");
    LOAD(s_dump, "perfshim_api_dump_v1");
}

START_TEST(test_malloc_zero_and_huge)
{
    void *p = s_malloc(0);
    ck_assert_ptr_nonnull(p);
    s_free(p);
    errno = 0;
    ck_assert_ptr_null(s_malloc(SIZE_MAX - 4096));
    ck_assert_int_eq(errno, ENOMEM);
}
END_TEST

START_TEST(test_calloc_overflow_and_zeroed)
{
    errno = 0;
    ck_assert_ptr_null(s_calloc(SIZE_MAX / 2, 3));
    ck_assert_int_eq(errno, ENOMEM);
    unsigned char *p = s_calloc(1000, 7);
    ck_assert_ptr_nonnull(p);
    for (int i = 0; i < 7000; i++)
        ck_assert_uint_eq(p[i], 0);
    s_free(p);
}
END_TEST

START_TEST(test_realloc_edges)
{
    char *p = s_realloc(NULL, 10); /* realloc(NULL, n) == malloc(n) */
    ck_assert_ptr_nonnull(p);
    memcpy(p, "123456789", 10);
    p = s_realloc(p, 100000); /* grows, keeps contents */
    ck_assert_str_eq(p, "123456789");
    p = s_realloc(p, 5); /* shrinks, keeps the prefix */
    ck_assert_int_eq(memcmp(p, "12345", 5), 0);
    ck_assert_ptr_null(s_realloc(p, 0)); /* frees, returns NULL (glibc) */
    errno = 0;
    void *q = s_malloc(16);
    ck_assert_ptr_null(s_realloc(q, SIZE_MAX - 4096)); /* failure keeps q valid */
    ck_assert_int_eq(errno, ENOMEM);
    memset(q, 1, 16);
    s_free(q);
}
END_TEST

/* A block grown by realloc from 1 byte through the pool's small and medium classes into
 * glibc's, and shrunk back: every step keeps the prefix (the pool moves it between classes,
 * glibc takes it past the pool's limit and gives it back below). */
/* Index of the first byte of p[0 .. n) that lost its pattern, or n. */
static size_t chain_bad(const unsigned char *p, size_t n)
{
    size_t i = 0;
    while (i < n && p[i] == (unsigned char)(i * 7))
        i++;
    return i;
}

START_TEST(test_realloc_chain)
{
    unsigned char *p = NULL;
    size_t have = 0;
    for (size_t n = 1; n <= 400000; n = n * 5 / 4 + 1) {
        p = s_realloc(p, n);
        ck_assert_ptr_nonnull(p);
        ck_assert_msg(chain_bad(p, have) == have, "grow to %zu: byte %zu", n, chain_bad(p, have));
        for (size_t i = have; i < n; i++)
            p[i] = (unsigned char)(i * 7);
        have = n;
        ck_assert_uint_ge(s_usable(p), n);
    }
    for (size_t n = have; n > 0; n = n * 3 / 4) {
        p = s_realloc(p, n);
        ck_assert_ptr_nonnull(p);
        ck_assert_msg(chain_bad(p, n) == n, "shrink to %zu: byte %zu", n, chain_bad(p, n));
        ck_assert_uint_ge(s_usable(p), n);
    }
    s_free(p);
}
END_TEST

START_TEST(test_reallocarray)
{
    errno = 0;
    ck_assert_ptr_null(s_reallocarray(NULL, SIZE_MAX / 4, 8));
    ck_assert_int_eq(errno, ENOMEM);
    int *a = s_reallocarray(NULL, 10, sizeof(int));
    ck_assert_ptr_nonnull(a);
    a[9] = 42;
    a = s_reallocarray(a, 1000, sizeof(int));
    ck_assert_int_eq(a[9], 42);
    s_free(a);
}
END_TEST

START_TEST(test_posix_memalign)
{
    void *p = (void *)0x1;
    errno = 1234;
    ck_assert_int_eq(s_posix_memalign(&p, 3, 16), EINVAL);
    ck_assert_int_eq(s_posix_memalign(&p, 4, 16), EINVAL); /* not a multiple of void* */
    ck_assert_int_eq(s_posix_memalign(&p, 0, 16), EINVAL);
    ck_assert_int_eq(errno, 1234);    /* errno untouched */
    ck_assert_ptr_eq(p, (void *)0x1); /* *out untouched on error */
    for (size_t a = sizeof(void *); a <= 65536; a *= 2) {
        ck_assert_int_eq(s_posix_memalign(&p, a, 100), 0);
        ck_assert_uint_eq((uintptr_t)p % a, 0);
        memset(p, 0xab, 100);
        s_free(p);
    }
    ck_assert_int_eq(s_posix_memalign(&p, 64, SIZE_MAX - 8192), ENOMEM);
    ck_assert_int_eq(errno, 1234);
}
END_TEST

START_TEST(test_aligned_alloc_memalign_valloc)
{
    /* an alignment that is not a power of two: as this process's libc answers (the oracle:
     * glibc 2.36 rounds it up and returns a block, 2.38 and later return EINVAL) */
    for (volatile size_t odd = 0; odd < 64; odd = odd ? odd * 2 + 1 : 3) {
        errno = 0;
        void *g = aligned_alloc(odd, 64);
        int gerr = errno;
        free(g);
        errno = 0;
        void *q = s_aligned_alloc(odd, 64);
        ck_assert_msg((q == NULL) == (g == NULL),
                      "aligned_alloc(%zu, 64): libc's %s, the shim's %s", (size_t)odd,
                      g ? "a block" : "NULL", q ? "a block" : "NULL");
        if (q) {
            ck_assert_uint_ge(s_usable(q), 64);
            s_free(q);
        } else {
            ck_assert_int_eq(errno, gerr);
        }
    }
    void *p = s_aligned_alloc(256, 1000);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq((uintptr_t)p % 256, 0);
    s_free(p);
    p = s_memalign(4096, 10);
    ck_assert_uint_eq((uintptr_t)p % 4096, 0);
    s_free(p);
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    p = s_valloc(10);
    ck_assert_uint_eq((uintptr_t)p % page, 0);
    s_free(p);
    p = s_pvalloc(page + 1); /* rounded up to whole pages */
    ck_assert_uint_eq((uintptr_t)p % page, 0);
    ck_assert_uint_ge(s_usable(p), 2 * page);
    s_free(p);
    p = s_pvalloc(0);
    ck_assert_ptr_nonnull(p);
    s_free(p);
}
END_TEST

START_TEST(test_free_keeps_errno_and_usable_size)
{
    ck_assert_uint_eq(s_usable(NULL), 0);
    for (size_t n = 1; n < 5000; n = n * 3 + 1) {
        unsigned char *p = s_malloc(n);
        size_t u = s_usable(p);
        ck_assert_uint_ge(u, n);
        memset(p, 0x5a, u);                /* every reported byte is writable */
        ck_assert_uint_eq(s_usable(p), u); /* stable */
        errno = 777;
        s_free(p);
        ck_assert_int_eq(errno, 777);
    }
    errno = 778;
    s_free(NULL);
    ck_assert_int_eq(errno, 778);
}
END_TEST

START_TEST(test_foreign_pointers)
{
    /* Blocks from glibc directly (allocated "before the shim", or by a library bound to libc)
     * are freed and resized correctly by the shim. */
    void *p = malloc(100); /* the runner's malloc is glibc's */
    p = s_realloc(p, 200);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_ge(s_usable(p), 200);
    s_free(p);
    /* A glibc block shrunk below the pool's limit stays glibc's: still freed correctly. */
    void *q = malloc(5000);
    q = s_realloc(q, 20);
    ck_assert_ptr_nonnull(q);
    s_free(q);
}
END_TEST

START_TEST(test_dlsym_swaps_libc_malloc)
{
    void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
    ck_assert_ptr_nonnull(libc);
    ck_assert_ptr_eq(s_dlsym(libc, "malloc"), (void *)s_malloc);
    ck_assert_ptr_eq(s_dlsym(libc, "free"), (void *)s_free);
    ck_assert_ptr_eq(s_dlsym(libc, "calloc"), (void *)s_calloc);
    ck_assert_ptr_eq(s_dlsym(libc, "posix_memalign"), (void *)s_posix_memalign);
    /* other names pass through untouched */
    ck_assert_ptr_eq(s_dlsym(libc, "strlen"), dlsym(libc, "strlen"));
    ck_assert_ptr_eq(s_dlsym(libc, "fopen"), dlsym(libc, "fopen"));
    ck_assert_ptr_null(s_dlsym(libc, "no_such_symbol_perfshim"));
}
END_TEST

/* The shim exports signal() (to keep a program's SIGPROF handler while sampling); for every
 * other call it must be glibc's, which honours siginterrupt(): a program that asked for
 * interrupted system calls blocked for ever in read() when SA_RESTART was always set. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
START_TEST(test_signal_honours_siginterrupt)
{
    __sighandler_t (*s_signal)(int, __sighandler_t);
    LOAD(s_signal, "signal");
    struct sigaction a;
    ck_assert_int_eq(siginterrupt(SIGUSR2, 1), 0);
    ck_assert_ptr_ne((void *)s_signal(SIGUSR2, SIG_IGN), (void *)SIG_ERR);
    ck_assert_int_eq(sigaction(SIGUSR2, NULL, &a), 0);
    ck_assert_msg(!(a.sa_flags & SA_RESTART), "signal() set SA_RESTART after siginterrupt(1)");
    ck_assert_ptr_eq((void *)a.sa_handler, (void *)SIG_IGN);
    ck_assert_int_eq(siginterrupt(SIGUSR2, 0), 0);
    ck_assert_ptr_eq((void *)s_signal(SIGUSR2, SIG_DFL), (void *)SIG_IGN);
    ck_assert_int_eq(sigaction(SIGUSR2, NULL, &a), 0);
    ck_assert_msg(a.sa_flags & SA_RESTART, "signal() did not set SA_RESTART (BSD semantics)");
}
END_TEST
#pragma GCC diagnostic pop

START_TEST(test_dump_writes_trace)
{
    const char *mode = getenv("PERFSHIM_MODE");
    if (mode && strcmp(mode, "pool") == 0)
        ck_assert_int_eq(s_dump(), -1); /* pool mode writes no trace */
    else
        ck_assert_int_eq(s_dump(), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("shim_semantics");
    TCase *tc = tcase_create("malloc_family");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_malloc_zero_and_huge);
    tcase_add_test(tc, test_calloc_overflow_and_zeroed);
    tcase_add_test(tc, test_realloc_edges);
    tcase_add_test(tc, test_realloc_chain);
    tcase_add_test(tc, test_reallocarray);
    tcase_add_test(tc, test_posix_memalign);
    tcase_add_test(tc, test_aligned_alloc_memalign_valloc);
    tcase_add_test(tc, test_free_keeps_errno_and_usable_size);
    tcase_add_test(tc, test_foreign_pointers);
    tcase_add_test(tc, test_dlsym_swaps_libc_malloc);
    tcase_add_test(tc, test_signal_honours_siginterrupt);
    tcase_add_test(tc, test_dump_writes_trace);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
