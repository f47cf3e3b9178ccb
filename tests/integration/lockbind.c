// SPDX-License-Identifier: MIT
/*
 * lockbind.c — where this program's references to the pthread lock and semaphore functions
 * lead, for tests/integration/test_lockbind.py: with lock timing off the shim binds them to
 * libc's definitions at start (locks.c, ps_locks_bypass); with PERFSHIM_LOCKS=1 they stay on
 * the shim's.
 *
 * Three kinds of reference: a function address taken in code (a GOT slot, GLOB_DAT), a
 * constant table of function pointers (a plain 64-bit pointer in the read-only-after-
 * relocation segment), and a call through the PLT made for the first time after start (a lazy
 * slot: built with -z lazy; its target is read back from the GOT slot the call went through).
 * Each is used (lock, unlock, post, wait) so that the functions work whatever they bind to.
 * Prints "NAME OBJECT" per reference (OBJECT: the file dladdr names), then "lockbind: ok".
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <string.h>

static int (*const unlock_table[])(pthread_mutex_t *) = {pthread_mutex_unlock};

static const char *object_of(void *f)
{
    Dl_info info;
    if (!dladdr(f, &info) || !info.dli_fname)
        return "?";
    const char *slash = strrchr(info.dli_fname, '/');
    return slash ? slash + 1 : info.dli_fname;
}

/* The GOT slot of the PLT call below (x86-64: the stub is "jmp *slot(%rip)", ff 25 rel32). */
static void *plt_target(const unsigned char *stub)
{
    if (stub[0] == 0xf3 && stub[1] == 0x0f && stub[2] == 0x1e && stub[3] == 0xfa)
        stub += 4; /* endbr64 (IBT stubs: .plt.sec) */
    if (stub[0] == 0xf2)
        stub++; /* bnd */
    if (stub[0] != 0xff || stub[1] != 0x25)
        return NULL;
    int rel;
    memcpy(&rel, stub + 2, sizeof rel);
    return *(void **)(stub + 6 + rel);
}

/* A call through sem_post's PLT stub, whose first instruction is "jmp rel32" to the stub. */
__asm__(".globl sem_post_plt_call\n"
        "sem_post_plt_call:\n"
        "  jmp sem_post@PLT\n");
int sem_post_plt_call(sem_t *s);

int main(void)
{
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    int (*lock)(pthread_mutex_t *) = pthread_mutex_lock; /* GLOB_DAT */
    if (lock(&m) != 0 || unlock_table[0](&m) != 0)
        return 1;
    sem_t s;
    if (sem_init(&s, 0, 0) != 0 || sem_post_plt_call(&s) != 0 || sem_wait(&s) != 0)
        return 1;
    const unsigned char *call = (const unsigned char *)sem_post_plt_call;
    int rel;
    memcpy(&rel, call + 1, sizeof rel);
    void *lazy = call[0] == 0xe9 ? plt_target(call + 5 + rel) : NULL;
    printf("pthread_mutex_lock %s\n", object_of((void *)lock));
    printf("pthread_mutex_unlock %s\n", object_of((void *)unlock_table[0]));
    printf("sem_post %s\n", lazy ? object_of(lazy) : "?");
    printf("lockbind: ok\n");
    return 0;
}
