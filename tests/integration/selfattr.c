/* SPDX-License-Identifier: MIT */
/*
 * selfattr.c — threads whose first act is pthread_getattr_np(pthread_self()) (Ruby's VM,
 * Rust's std::thread, JVMs and garbage collectors look up their stack bounds this way).
 * glibc holds the thread's own lock while it allocates inside that call, so a shim that asks
 * for the same thread's attributes from inside malloc deadlocks (issue 10). Each thread then
 * allocates, and leaks SELFATTR_LEAKS blocks at a known line, so the test can check that its
 * stacks were walked and attributed to the right place.
 *
 * Threads are started three ways: plain pthread_create; with a stack the program supplies
 * (pthread_attr_setstack); and, with the argument "direct", also through the C library's own
 * pthread_create found by handle (dlopen("libc.so.6") + dlsym), which the shim does not see
 * start. Prints "selfattr: ok N threads" and exits 0 when every thread checked out.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SELFATTR_THREADS 8
#define SELFATTR_LEAKS 3
#define SELFATTR_SIZE 4321
#define OWN_STACK (1u << 20)

typedef int (*create_fn)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);

static void *leak(size_t n)
{
    return malloc(n); /* LEAK:selfattr_leak */
}

static void *worker(void *arg)
{
    (void)arg;
    pthread_attr_t a;
    void *addr = NULL;
    size_t size = 0;
    if (pthread_getattr_np(pthread_self(), &a) != 0)
        return NULL;
    int ok = pthread_attr_getstack(&a, &addr, &size) == 0 && size > 0;
    pthread_attr_destroy(&a);
    /* The first allocations of the thread, right after the lookup. */
    for (int i = 0; i < SELFATTR_LEAKS; i++) {
        char *p = leak(SELFATTR_SIZE);
        if (!p)
            return NULL;
        memset(p, i, SELFATTR_SIZE);
    }
    for (int i = 0; i < 1000; i++)
        free(malloc((size_t)(16 + i % 700)));
    return ok ? (void *)1 : NULL;
}

int main(int argc, char **argv)
{
    int direct = argc > 1 && strcmp(argv[1], "direct") == 0;
    create_fn create = pthread_create;
    if (direct) {
        void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
        create = libc ? (create_fn)dlsym(libc, "pthread_create") : NULL;
        if (!create) {
            fprintf(stderr, "selfattr: cannot find libc's pthread_create\n");
            return 2;
        }
    }
    pthread_t t[SELFATTR_THREADS];
    void *stacks[SELFATTR_THREADS] = {0};
    for (int i = 0; i < SELFATTR_THREADS; i++) {
        pthread_attr_t a;
        pthread_attr_init(&a);
        if (i % 4 == 1) { /* a stack of the program's own */
            if (posix_memalign(&stacks[i], 4096, OWN_STACK) != 0)
                return 2;
            pthread_attr_setstack(&a, stacks[i], OWN_STACK);
        } else if (i % 4 == 2) {
            pthread_attr_setstacksize(&a, 4u << 20);
        }
        int rc = (direct && i % 2 ? create : pthread_create)(&t[i], &a, worker, NULL);
        pthread_attr_destroy(&a);
        if (rc != 0) {
            fprintf(stderr, "selfattr: pthread_create: %s\n", strerror(rc));
            return 2;
        }
    }
    int ok = 0;
    for (int i = 0; i < SELFATTR_THREADS; i++) {
        void *r = NULL;
        pthread_join(t[i], &r);
        ok += r != NULL;
        free(stacks[i]);
    }
    /* The main thread too. */
    ok += worker(NULL) != NULL;
    if (ok != SELFATTR_THREADS + 1) {
        fprintf(stderr, "selfattr: %d of %d threads failed\n", SELFATTR_THREADS + 1 - ok,
                SELFATTR_THREADS + 1);
        return 1;
    }
    fprintf(stderr, "selfattr: ok %d threads\n", ok);
    return 0;
}
