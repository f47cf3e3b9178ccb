/* SPDX-License-Identifier: MIT */
/*
 * exits.c — processes that end in every way a process can end without being killed
 * (test_exits.py). The parent forks one child per way; each child leaks EXITS_LEAKS blocks of
 * its own size at LEAK:child, then ends:
 *
 *   exit        exit(0)
 *   _exit       _exit(0) (stdio not flushed, atexit handlers not run)
 *   _Exit       _Exit(0)
 *   quick_exit  quick_exit(0); its at_quick_exit handler frees one more block allocated just
 *               before (LEAK-free: it must not be reported, so the shim's snapshot comes after
 *               the program's handler)
 *   signal      _exit(0) from a SIGTERM handler (raise)
 *   threads     forked while two threads allocate in a loop, then _exit(0)
 *   vfork       vfork() then _exit(0) at once (it writes no trace: it shares our memory)
 *
 * Each child prints "child KIND PID" on stdout before it ends; the parent waits for them all,
 * checks their statuses, leaks EXITS_LEAKS blocks of EXITS_PARENT_SIZE at LEAK:parent after the
 * vfork child is gone, prints "parent PID", and ends in _exit(0) too (after flushing stdout).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define EXITS_LEAKS 3
#define EXITS_PARENT_SIZE 200

static const char *const kinds[] = {"exit", "_exit", "_Exit", "quick_exit", "signal", "threads"};
#define NKINDS (sizeof kinds / sizeof *kinds)

static void *volatile keep[64];
static void *volatile freed_by_handler;
static atomic_int stop;

/* the size each kind's blocks have: 100 + 8 * its index */
static size_t kind_size(unsigned k)
{
    return 100 + 8 * (size_t)k;
}

static __attribute__((noinline)) void leak_child(unsigned k)
{
    for (int i = 0; i < EXITS_LEAKS; i++) {
        keep[i] = malloc(kind_size(k)); /* LEAK:child */
        memset(keep[i], 'c', kind_size(k));
    }
}

static void on_quick_exit(void)
{
    free(freed_by_handler);
}

static void on_term(int sig)
{
    (void)sig;
    _exit(0);
}

static void *churn(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop)) {
        void *p = malloc(48);
        free(p);
    }
    return NULL;
}

static void child(unsigned k)
{
    leak_child(k);
    printf("child %s %d\n", kinds[k], (int)getpid());
    fflush(stdout);
    const char *kind = kinds[k];
    if (strcmp(kind, "exit") == 0) {
        exit(0);
    } else if (strcmp(kind, "_exit") == 0) {
        _exit(0);
    } else if (strcmp(kind, "_Exit") == 0) {
        _Exit(0);
    } else if (strcmp(kind, "quick_exit") == 0) {
        freed_by_handler = malloc(999);
        at_quick_exit(on_quick_exit);
        quick_exit(0);
    } else if (strcmp(kind, "signal") == 0) {
        signal(SIGTERM, on_term);
        raise(SIGTERM);
    } else {
        _exit(0); /* "threads": the parent's threads do not exist here */
    }
    _exit(3);
}

/* in a function of its own: nothing of main's lives in registers the child could clobber */
static __attribute__((noinline)) pid_t vfork_and_exit(void)
{
    pid_t pid = vfork();
    if (pid == 0)
        _exit(0);
    return pid;
}

int main(void)
{
    int bad = 0;
    pthread_t th[2];
    for (unsigned k = 0; k < NKINDS; k++) {
        if (strcmp(kinds[k], "threads") == 0)
            for (int i = 0; i < 2; i++)
                pthread_create(&th[i], NULL, churn, NULL);
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0)
            child(k);
        int st = 0;
        if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "exits: child %s failed (status %#x)\n", kinds[k], st);
            bad = 1;
        }
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    pid_t pid = vfork_and_exit();
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) != pid || st != 0) {
        fprintf(stderr, "exits: vfork child failed (status %#x)\n", st);
        bad = 1;
    }
    printf("vfork %d\n", (int)pid);
    for (int i = 0; i < EXITS_LEAKS; i++)
        keep[32 + i] = malloc(EXITS_PARENT_SIZE); /* LEAK:parent */
    printf("parent %d\n", (int)getpid());
    fflush(stdout);
    _exit(bad);
}
