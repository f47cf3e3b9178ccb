/* SPDX-License-Identifier: MIT */
/*
 * storm.c — a fork/exec/posix_spawn storm while other threads allocate (tests/integration/
 * test_storm.py runs it under the shim).
 *
 *   storm ROUNDS      the parent: STORM_WORKERS threads malloc/realloc/free and check their
 *                     bytes without pause while the main thread runs ROUNDS rounds, each one of
 *                     fork+exec, posix_spawn, or fork without exec (the child allocates, checks,
 *                     leaks and exit()s). Every child is waited for with a 30 s deadline (and
 *                     runs under alarm(30) itself): a hang is reported and killed, not waited
 *                     on. Prints "storm: rounds R ok R hangs H bad B" and exits 0 iff all ok.
 *   storm exec-child N / storm spawn-child N
 *                     an exec'd child: leaks its blocks and exits with status child_status(N).
 *
 * Deliberate leaks, each at one LEAK: line (the test counts them exactly, per process):
 *   parent:      STORM_MAIN_LEAKS blocks of STORM_MAIN_SIZE (before the first fork: every
 *                forked child inherits them too)
 *   exec child:  STORM_EXEC_LEAKS blocks of STORM_EXEC_SIZE
 *   spawn child: STORM_SPAWN_LEAKS blocks of STORM_SPAWN_SIZE
 *   fork child:  STORM_FORK_LEAKS blocks of STORM_FORK_SIZE (plus the copies of the parent's
 *                blocks live at the fork, which the test does not count: the workers' blocks)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define STORM_WORKERS 2
#define STORM_MAIN_LEAKS 3
#define STORM_MAIN_SIZE 48
#define STORM_EXEC_LEAKS 2
#define STORM_EXEC_SIZE 24
#define STORM_SPAWN_LEAKS 4
#define STORM_SPAWN_SIZE 40
#define STORM_FORK_LEAKS 5
#define STORM_FORK_SIZE 56
#define STORM_DEADLINE_S 30
#define SLOTS 64

extern char **environ;
static atomic_int stop;
static atomic_long worker_errors;
static void *volatile sink[16]; /* keeps leaked pointers from being optimized away */

static int child_status(int round)
{
    return 1 + round % 100;
}

static void fill(unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(seed + i * 7);
}

static int intact(const unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != (unsigned char)(seed + i * 7))
            return 0;
    return 1;
}

static void *worker(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg * 2654435761u;
    unsigned char *slot[SLOTS] = {0};
    size_t size[SLOTS] = {0};
    unsigned tag[SLOTS] = {0};
    for (unsigned long it = 0; !atomic_load_explicit(&stop, memory_order_relaxed); it++) {
        seed = seed * 1103515245u + 12345u;
        int i = (int)((seed >> 8) % SLOTS);
        if (slot[i] && !intact(slot[i], size[i], tag[i]))
            atomic_fetch_add(&worker_errors, 1);
        if (slot[i] && (seed & 0x10000)) { /* grow or shrink: the prefix must survive */
            size_t n = 1 + (seed >> 20) % 3000;
            unsigned char *q = realloc(slot[i], n);
            if (!q) {
                atomic_fetch_add(&worker_errors, 1);
                continue;
            }
            size_t keep = n < size[i] ? n : size[i];
            if (!intact(q, keep, tag[i]))
                atomic_fetch_add(&worker_errors, 1);
            slot[i] = q;
            size[i] = n;
        } else {
            free(slot[i]);
            size[i] = 1 + (seed >> 18) % 2000;
            slot[i] = malloc(size[i]);
            if (!slot[i]) {
                atomic_fetch_add(&worker_errors, 1);
                continue;
            }
        }
        tag[i] = seed;
        fill(slot[i], size[i], tag[i]);
        if ((it & 1023) == 0)
            sched_yield(); /* 2 cores: leave the forking thread some time */
    }
    for (int i = 0; i < SLOTS; i++) {
        if (slot[i] && !intact(slot[i], size[i], tag[i]))
            atomic_fetch_add(&worker_errors, 1);
        free(slot[i]);
    }
    return NULL;
}

static void leak_blocks(int count, size_t n, unsigned seed)
{
    for (int i = 0; i < count; i++) {
        unsigned char *p = malloc(n); /* LEAK:exec_child */
        fill(p, n, seed + (unsigned)i);
        sink[i] = p;
    }
}

static void leak_spawned(int count, size_t n)
{
    for (int i = 0; i < count; i++) {
        unsigned char *p = malloc(n); /* LEAK:spawn_child */
        fill(p, n, (unsigned)i);
        sink[i] = p;
    }
}

/* A forked child (no exec): allocate, check, leak, exit through exit() so the shim writes its
 * trace. Only this thread exists here; the workers' blocks are copies it never touches. */
static int fork_child(int round)
{
    alarm(STORM_DEADLINE_S);
    int bad = 0;
    for (int k = 0; k < 200; k++) {
        size_t n = 1 + (size_t)(k * 37) % 5000;
        unsigned char *p = malloc(n);
        if (!p)
            return 100;
        fill(p, n, (unsigned)k);
        p = realloc(p, n * 2);
        bad |= !p || !intact(p, n, (unsigned)k);
        free(p);
    }
    for (int i = 0; i < STORM_FORK_LEAKS; i++) {
        unsigned char *p = malloc(STORM_FORK_SIZE); /* LEAK:fork_child */
        fill(p, STORM_FORK_SIZE, (unsigned)i);
        sink[i] = p;
    }
    return bad ? 101 : child_status(round);
}

/* Wait for pid, up to the deadline: 0 exited with `want`, 1 hung (killed), 2 other status. */
static int wait_child(pid_t pid, int want, int round, const char *kind)
{
    struct timespec nap = {0, 200000};
    long waited_ns = 0;
    for (;;) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) {
            if (WIFEXITED(st) && WEXITSTATUS(st) == want)
                return 0;
            if (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM) {
                fprintf(stderr, "storm: round %d: %s child %d hung (alarm)\n", round, kind,
                        (int)pid);
                return 1;
            }
            fprintf(stderr, "storm: round %d: %s child %d: status %#x, expected exit %d\n", round,
                    kind, (int)pid, st, want);
            return 2;
        }
        if (r < 0 && errno != EINTR) {
            perror("storm: waitpid");
            return 2;
        }
        if (waited_ns > (long)STORM_DEADLINE_S * 1000000000L + 5000000000L) {
            fprintf(stderr, "storm: round %d: %s child %d hung; killed\n", round, kind, (int)pid);
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            return 1;
        }
        nanosleep(&nap, NULL);
        waited_ns += nap.tv_nsec;
        if (nap.tv_nsec < 20000000)
            nap.tv_nsec *= 2;
    }
}

static int parent(const char *self, int rounds)
{
    for (int i = 0; i < STORM_MAIN_LEAKS; i++) {
        unsigned char *p = malloc(STORM_MAIN_SIZE); /* LEAK:storm_main */
        fill(p, STORM_MAIN_SIZE, (unsigned)i);
        sink[i] = p;
    }
    pthread_t th[STORM_WORKERS];
    for (int i = 0; i < STORM_WORKERS; i++)
        if (pthread_create(&th[i], NULL, worker, (void *)(uintptr_t)(i + 1)) != 0) {
            fprintf(stderr, "storm: pthread_create failed\n");
            return 2;
        }
    int ok = 0, hangs = 0, bad = 0;
    for (int round = 0; round < rounds; round++) {
        char num[16];
        snprintf(num, sizeof num, "%d", round);
        int kind = round % 3, res;
        pid_t pid;
        if (kind == 0) {
            pid = fork();
            if (pid == 0) {
                alarm(STORM_DEADLINE_S); /* survives the exec */
                char *argv[] = {(char *)self, "exec-child", num, NULL};
                execve(self, argv, environ);
                _exit(127);
            }
        } else if (kind == 1) {
            char *argv[] = {(char *)self, "spawn-child", num, NULL};
            int e = posix_spawn(&pid, self, NULL, NULL, argv, environ);
            if (e != 0) {
                fprintf(stderr, "storm: posix_spawn: %s\n", strerror(e));
                pid = -1;
            }
        } else {
            pid = fork();
            if (pid == 0)
                exit(fork_child(round));
        }
        if (pid < 0) {
            bad++;
            continue;
        }
        res = wait_child(pid, child_status(round), round,
                         kind == 0   ? "exec"
                         : kind == 1 ? "spawn"
                                     : "fork");
        ok += res == 0;
        hangs += res == 1;
        bad += res == 2;
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < STORM_WORKERS; i++)
        pthread_join(th[i], NULL);
    long werr = atomic_load(&worker_errors);
    printf("storm: rounds %d ok %d hangs %d bad %d worker_errors %ld\n", rounds, ok, hangs, bad,
           werr);
    return ok == rounds && werr == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "exec-child") == 0) {
        alarm(STORM_DEADLINE_S);
        leak_blocks(STORM_EXEC_LEAKS, STORM_EXEC_SIZE, 3);
        return child_status(atoi(argv[2]));
    }
    if (argc == 3 && strcmp(argv[1], "spawn-child") == 0) {
        alarm(STORM_DEADLINE_S);
        leak_spawned(STORM_SPAWN_LEAKS, STORM_SPAWN_SIZE);
        return child_status(atoi(argv[2]));
    }
    if (argc != 2) {
        fprintf(stderr, "usage: storm ROUNDS\n");
        return 2;
    }
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return 2;
    self[n] = 0;
    return parent(self, atoi(argv[1]));
}
