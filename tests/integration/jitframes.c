/* SPDX-License-Identifier: MIT */
/*
 * jitframes.c — allocations made under machine code generated at run time, the shape of a JIT
 * (V8 and others): the code lives in an anonymous executable page, has no unwind table, and
 * keeps rbp as a frame pointer. test_jitframes.py checks that the leak report's stacks go
 * through it exactly (its return addresses, printed here, then the C callers) and that the
 * shim's own walker did it, without libunwind.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define JIT_LEAKS 5
#define JIT_SIZE 4242

typedef void (*jit_fn)(void (*)(void));

static void *kept[2 * JIT_LEAKS];
static int nkept;

static __attribute__((noinline)) void leak_in_jit(void)
{
    kept[nkept++] = malloc(JIT_SIZE); /* LEAK:jit_leak */
    __asm__ volatile("" ::: "memory");
}

static __attribute__((noinline)) void through_jit(jit_fn f)
{
    f(leak_in_jit); /* JIT:call */
    __asm__ volatile("" ::: "memory");
}

int main(void)
{
    uint8_t *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    /* a 64-byte prologue of int3, so that the code does not start the page */
    memset(page, 0xcc, 4096);
    /* inner(fn): push rbp; mov rbp, rsp; call rdi; pop rbp; ret */
    uint8_t *inner = page + 64;
    static const uint8_t in[] = {0x55, 0x48, 0x89, 0xe5, 0xff, 0xd7, 0x5d, 0xc3};
    memcpy(inner, in, sizeof in);
    /* outer(fn): push rbp; mov rbp, rsp; movabs rax, inner; call rax; pop rbp; ret */
    uint8_t *outer = page + 128;
    static const uint8_t out1[] = {0x55, 0x48, 0x89, 0xe5, 0x48, 0xb8};
    static const uint8_t out2[] = {0xff, 0xd0, 0x5d, 0xc3};
    uint64_t target = (uint64_t)(uintptr_t)inner;
    memcpy(outer, out1, sizeof out1);
    memcpy(outer + 6, &target, 8);
    memcpy(outer + 14, out2, sizeof out2);
    if (mprotect(page, 4096, PROT_READ | PROT_EXEC) != 0) {
        perror("mprotect");
        return 1;
    }
    printf("jitframes: inner returns to %p, outer returns to %p\n", (void *)(inner + 6),
           (void *)(outer + 16));
    fflush(stdout);
    for (int i = 0; i < JIT_LEAKS; i++)
        through_jit((jit_fn)(void *)inner);
    for (int i = 0; i < JIT_LEAKS; i++)
        through_jit((jit_fn)(void *)outer);
    fprintf(stderr, "jitframes: ok %d blocks\n", nkept);
    return 0;
}
