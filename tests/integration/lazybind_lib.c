/* SPDX-License-Identifier: MIT */
/*
 * lazybind_lib.c — a plugin with LAZY_FUNCS exported functions that it calls through its own
 * PLT (default visibility and -fPIC: each call may be interposed, so it goes through the PLT),
 * linked with -z lazy: the first call of each one makes the loader bind its slot
 * (_dl_runtime_resolve_* -> _dl_fixup). lazy_rearm puts the slots back as the loader left them
 * at dlopen, so that the next round of calls binds every one again: many bindings without a
 * dlclose and a new dlopen, which could map the plugin elsewhere each time (the trace's samples
 * are named by one mapping of it). tests/integration/lazybind.c drives it.
 */
#include <link.h>
#include <stdint.h>

#define LAZY_FUNCS 4096

extern ElfW(Dyn) _DYNAMIC[];

/* .got.plt: [0..2] the loader's, then one slot per PLT entry */
static volatile uintptr_t *plt_slots(void)
{
    uintptr_t *got;
    __asm__("leaq _GLOBAL_OFFSET_TABLE_(%%rip), %0" : "=r"(got));
    return got + 3;
}

static uintptr_t lazy_slots[LAZY_FUNCS + 64];
static size_t lazy_nslots;

/* Saves the PLT slots as dlopen left them (before any call through them): their count, or -1. */
int lazy_save(void)
{
    size_t bytes = 0;
    for (const ElfW(Dyn) *d = _DYNAMIC; d->d_tag != DT_NULL; d++)
        if (d->d_tag == DT_PLTRELSZ)
            bytes = d->d_un.d_val;
    lazy_nslots = bytes / sizeof(ElfW(Rela));
    if (lazy_nslots == 0 || lazy_nslots > sizeof lazy_slots / sizeof lazy_slots[0])
        return -1;
    volatile uintptr_t *got = plt_slots(); /* volatile: no memcpy, no PLT call */
    for (size_t i = 0; i < lazy_nslots; i++)
        lazy_slots[i] = got[i];
    return (int)lazy_nslots;
}

/* Unbinds every slot again: the next call through each one goes to the loader. */
void lazy_rearm(void)
{
    volatile uintptr_t *got = plt_slots();
    for (size_t i = 0; i < lazy_nslots; i++)
        got[i] = lazy_slots[i];
}

#define F1(n)                                                                                      \
    int lazy_fn_##n(int x)                                                                         \
    {                                                                                              \
        return x * 3 + (n);                                                                        \
    }
#define F2(n) F1(n##0) F1(n##1)
#define F4(n) F2(n##0) F2(n##1)
#define F8(n) F4(n##0) F4(n##1)
#define F16(n) F8(n##0) F8(n##1)
#define F32(n) F16(n##0) F16(n##1)
#define F64(n) F32(n##0) F32(n##1)
#define F128(n) F64(n##0) F64(n##1)
#define F256(n) F128(n##0) F128(n##1)
#define F512(n) F256(n##0) F256(n##1)
#define F1024(n) F512(n##0) F512(n##1)
#define F2048(n) F1024(n##0) F1024(n##1)
#define F4096(n) F2048(n##0) F2048(n##1)
F4096(1)

#undef F1
#define F1(n) sum += lazy_fn_##n(sum);
/* Calls every function once, each through the PLT: after lazy_rearm, each call binds a slot. */
__attribute__((noinline)) int lazy_dispatch(int seed)
{
    int sum = seed;
    F4096(1)
    return sum;
}
