/* SPDX-License-Identifier: MIT */
/*
 * check_symbols.c — the libdwfl symbolizer on addresses of this test binary (module map built
 * with dl_iterate_phdr, as the shim records it): function name and file:line of a return address,
 * inline expansion, unresolved frames, build-id mismatch warnings, demangling.
 *
 * The target functions are noinline/noclone and record the line of their call on the line just
 * before it, so the expected line is exact.
 */
#include "symbols.h"

#include "self_trace.h"
#include "test_util.h"

#include <check.h>

__attribute__((noinline, noclone)) uintptr_t st_get_ra(void)
{
    uintptr_t ra = (uintptr_t)__builtin_return_address(0);
    __asm__ volatile("" ::: "memory");
    return ra;
}

__attribute__((noinline, noclone)) uintptr_t st_plain_caller(int *line)
{
    *line = __LINE__ + 1;
    uintptr_t ra = st_get_ra();
    __asm__ volatile("" ::: "memory");
    return ra;
}

static inline __attribute__((always_inline)) uintptr_t st_inlined_callee(int *line)
{
    *line = __LINE__ + 1;
    uintptr_t ra = st_get_ra();
    __asm__ volatile("" ::: "memory");
    return ra;
}

__attribute__((noinline, noclone)) uintptr_t st_inline_host(int *inner, int *outer)
{
    *outer = __LINE__ + 1;
    uintptr_t ra = st_inlined_callee(inner);
    __asm__ volatile("" ::: "memory");
    return ra;
}

/* Three inlined levels: the chain must give each its own line and the call sites between. */
static inline __attribute__((always_inline)) uintptr_t st_deep3(int *l)
{
    l[0] = __LINE__ + 1;
    uintptr_t ra = st_get_ra();
    __asm__ volatile("" ::: "memory");
    return ra;
}

static inline __attribute__((always_inline)) uintptr_t st_deep2(int *l)
{
    l[1] = __LINE__ + 1;
    uintptr_t ra = st_deep3(l);
    __asm__ volatile("" ::: "memory");
    return ra;
}

static inline __attribute__((always_inline)) uintptr_t st_deep1(int *l)
{
    l[2] = __LINE__ + 1;
    uintptr_t ra = st_deep2(l);
    __asm__ volatile("" ::: "memory");
    return ra;
}

__attribute__((noinline, noclone)) uintptr_t st_deep_host(int *l)
{
    l[3] = __LINE__ + 1;
    uintptr_t ra = st_deep1(l);
    __asm__ volatile("" ::: "memory");
    return ra;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* A symbolizer for this test binary's own module map, and the frames of ra. */
static size_t lookup_own(pa_trace_t *t, pa_symbols_t **s, uintptr_t ra, const pa_frame_t **f)
{
    size_t n = 0;
    st_init(t);
    ck_assert_int_eq(pa_symbols_new(t, s), PA_OK);
    ck_assert_int_eq(pa_symbols_lookup(*s, ra, f, &n), PA_OK);
    return n;
}

START_TEST(test_function_and_line)
{
    int line = 0;
    uintptr_t ra = st_plain_caller(&line);
    pa_trace_t t;
    st_init(&t);
    const pa_module_t *m = st_module_of(&t, ra);
    ck_assert_ptr_nonnull(m);
    pa_symbols_t *s;
    ck_assert_int_eq(pa_symbols_new(&t, &s), PA_OK);
    const pa_frame_t *f;
    size_t n;
    ck_assert_int_eq(pa_symbols_lookup(s, ra, &f, &n), PA_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(f[0].function, "st_plain_caller");
    ck_assert_ptr_nonnull(f[0].file);
    ck_assert_msg(ends_with(f[0].file, "check_symbols.c"), "file %s", f[0].file);
    ck_assert_uint_eq(f[0].line, (unsigned)line);
    ck_assert(!f[0].inlined);
    ck_assert_uint_eq(f[0].address, ra);
    ck_assert_uint_eq(f[0].offset, ra - m->base);
    ck_assert_str_eq(f[0].module, m->path);
    /* cached: the same frames again */
    const pa_frame_t *f2;
    ck_assert_int_eq(pa_symbols_lookup(s, ra, &f2, &n), PA_OK);
    ck_assert_ptr_eq(f, f2);
    /* the build-id matched: nothing to warn about */
    ck_assert_uint_eq(t.warnings.n, 0);
    pa_symbols_free(s);
    pa_model_free(&t);
}
END_TEST

START_TEST(test_inline_frames)
{
    int inner = 0, outer = 0;
    uintptr_t ra = st_inline_host(&inner, &outer);
    pa_trace_t t;
    pa_symbols_t *s;
    const pa_frame_t *f;
    size_t n = lookup_own(&t, &s, ra, &f);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(f[0].function, "st_inlined_callee");
    ck_assert(f[0].inlined);
    ck_assert_uint_eq(f[0].line, (unsigned)inner);
    ck_assert(ends_with(f[0].file, "check_symbols.c"));
    ck_assert_str_eq(f[1].function, "st_inline_host");
    ck_assert(!f[1].inlined);
    ck_assert_uint_eq(f[1].line, (unsigned)outer);
    ck_assert(ends_with(f[1].file, "check_symbols.c"));
    ck_assert_uint_eq(f[1].address, ra);
    pa_symbols_free(s);
    pa_model_free(&t);
}
END_TEST

START_TEST(test_inline_chain)
{
    int l[4] = {0};
    uintptr_t ra = st_deep_host(l);
    pa_trace_t t;
    pa_symbols_t *s;
    const pa_frame_t *f;
    size_t n = lookup_own(&t, &s, ra, &f);
    ck_assert_uint_eq(n, 4);
    const char *names[] = {"st_deep3", "st_deep2", "st_deep1", "st_deep_host"};
    for (size_t i = 0; i < 4; i++) {
        ck_assert_str_eq(f[i].function, names[i]);
        ck_assert_uint_eq(f[i].line, (unsigned)l[i]);
        ck_assert(ends_with(f[i].file, "check_symbols.c"));
        ck_assert(f[i].inlined == (i < 3));
        ck_assert(!f[i].library);
        ck_assert_uint_eq(f[i].address, ra);
    }
    /* one string per name and file: interned */
    ck_assert_ptr_eq(f[0].file, f[3].file);
    pa_symbols_free(s);
    pa_model_free(&t);
}
END_TEST

START_TEST(test_library_code)
{
    ck_assert(pa_symbols_is_library("/usr/include/c++/12/bits/stl_vector.h", "/bin/app"));
    ck_assert(pa_symbols_is_library(
        "/usr/lib/gcc/x86_64-linux-gnu/12/../../../../include/c++/12/bits/vector.tcc", NULL));
    ck_assert(pa_symbols_is_library(NULL, "/usr/lib/x86_64-linux-gnu/libstdc++.so.6"));
    ck_assert(pa_symbols_is_library("/build/gcc/libstdc++-v3/src/c++11/string-inst.cc", NULL));
    ck_assert(!pa_symbols_is_library("/src/app/vector.h", "/bin/app"));
    ck_assert(!pa_symbols_is_library(NULL, "/lib/x86_64-linux-gnu/libc.so.6"));
    ck_assert(!pa_symbols_is_library(NULL, NULL));
}
END_TEST

START_TEST(test_unresolved_frames)
{
    pa_trace_t t;
    st_init(&t);
    st_add_module(&t, "/nonexistent/libgone.so", 0x10000, 0x10000, 0x20000, NULL, 0);
    pa_symbols_t *s;
    ck_assert_int_eq(pa_symbols_new(&t, &s), PA_OK);
    const pa_frame_t *f;
    size_t n;
    ck_assert_int_eq(pa_symbols_lookup(s, 0x11234, &f, &n), PA_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_ptr_null(f[0].function);
    ck_assert_ptr_null(f[0].file);
    ck_assert_uint_eq(f[0].line, 0);
    ck_assert_str_eq(f[0].module, "/nonexistent/libgone.so");
    ck_assert_uint_eq(f[0].offset, 0x1234);
    ck_assert_uint_eq(f[0].address, 0x11234);
    ck_assert_int_eq(pa_symbols_lookup(s, 0x11240, &f, &n), PA_OK);
    ck_assert_uint_eq(t.warnings.n, 1); /* once per module */
    ck_assert(tu_has(&t.warnings, "cannot open module /nonexistent/libgone.so"));
    /* in no module at all */
    ck_assert_int_eq(pa_symbols_lookup(s, 0x5000, &f, &n), PA_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_ptr_null(f[0].function);
    ck_assert_str_eq(f[0].module, PA_UNKNOWN_MODULE);
    ck_assert_uint_eq(f[0].offset, 0x5000);
    pa_symbols_free(s);
    pa_model_free(&t);
}
END_TEST

START_TEST(test_build_id_mismatch)
{
    int line = 0;
    uintptr_t ra = st_plain_caller(&line);
    pa_trace_t t;
    st_init(&t);
    pa_module_t *m = (pa_module_t *)st_module_of(&t, ra);
    ck_assert_ptr_nonnull(m);
    ck_assert_uint_gt(m->build_id_len, 0);
    m->build_id[0] ^= 0xff; /* as if the binary was rebuilt after the trace */
    pa_symbols_t *s;
    ck_assert_int_eq(pa_symbols_new(&t, &s), PA_OK);
    const pa_frame_t *f;
    size_t n;
    ck_assert_int_eq(pa_symbols_lookup(s, ra, &f, &n), PA_OK);
    ck_assert_int_eq(pa_symbols_lookup(s, ra + 1, &f, &n), PA_OK);
    ck_assert_uint_eq(t.warnings.n, 1);
    ck_assert(tu_has(&t.warnings, "changed since the trace was written"));
    /* still symbolized from the file on disk */
    ck_assert_ptr_nonnull(f[0].function);
    pa_symbols_free(s);
    pa_model_free(&t);
}
END_TEST

/* pa_symbols_demangle(name) is want. */
static void demangles_to(const char *name, const char *want)
{
    char *d = pa_symbols_demangle(name);
    ck_assert_str_eq(d, want);
    free(d);
}

START_TEST(test_demangle)
{
    demangles_to("_ZN4demo5Cache11make_bufferEv", "demo::Cache::make_buffer()");
    demangles_to("_Znwm", "operator new(unsigned long)");
    demangles_to("main", "main");
    demangles_to("_Z!!not mangled", "_Z!!not mangled");
    /* Rust's legacy mangling (a Rust binary's own frames, rustc 1.8x): as rustc-demangle
     * shows them, without the hash and with rustc's escapes decoded */
    demangles_to("_ZN5leaky4main17h8574928c5e6fb353E", "leaky::main");
    demangles_to("_ZN63_$LT$alloc..alloc..Global$u20$as$u20$core..alloc..Allocator$GT$"
                 "8allocate17he04860021fb77538E",
                 "<alloc::alloc::Global as core::alloc::Allocator>::allocate");
    demangles_to("_ZN3std2rt10lang_start28_$u7b$$u7b$closure$u7d$$u7d$"
                 "17hc319b49fd8033faaE",
                 "std::rt::lang_start::{{closure}}");
    /* Rust's v0 mangling (RFC 2603; recent std, -C symbol-mangling-version=v0): as Rust's own
     * backtraces show it, without the crate disambiguators ("[3c1c0]" in c++filt) */
    demangles_to("_RNvCscJEj9Xep4Zo_4leak4main", "leak::main");
    demangles_to("_RNvMCscJEj9Xep4Zo_4leakINtB2_5CacheINtNtCslNYArtu3iFV_5alloc3vec3VechEE"
                 "8rememberB2_",
                 "<leak::Cache<alloc::vec::Vec<u8>>>::remember");
    demangles_to("_RNCINvNtCsjrHSEGnQ3l9_3std2rt10lang_startuE0CscJEj9Xep4Zo_4leak",
                 "std::rt::lang_start::<()>::{closure#0}");
    demangles_to("_RNvNtCslNYArtu3iFV_5alloc5alloc7realloc.llvm.123", "alloc::alloc::realloc");
    /* not a valid v0 name: left as it is */
    demangles_to("_Rbogus", "_Rbogus");
    /* a C++ name that merely ends like a hash is left alone unless it is one ("17h" + 16 hex) */
    demangles_to("_ZN4demo17habcdefghijklmnopE", "demo::habcdefghijklmnop");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("analyzer_symbols");
    TCase *tc = tcase_create("symbols");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_function_and_line);
    tcase_add_test(tc, test_inline_frames);
    tcase_add_test(tc, test_inline_chain);
    tcase_add_test(tc, test_library_code);
    tcase_add_test(tc, test_unresolved_frames);
    tcase_add_test(tc, test_build_id_mismatch);
    tcase_add_test(tc, test_demangle);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
