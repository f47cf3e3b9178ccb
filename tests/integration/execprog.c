/* SPDX-License-Identifier: MIT */
/*
 * execprog.c — a program that leaks, then replaces itself by exec (test_exec.py).
 *
 *   execprog child                 leaks EXEC_CHILD_COUNT blocks of EXEC_CHILD_SIZE, exits 3
 *   execprog MODE TARGET ARGS...   leaks EXEC_BEFORE_COUNT blocks of EXEC_BEFORE_SIZE, then
 *                                  MODE: execv, execvp, execve, execvpe, execl, execlp, execle,
 *                                  fexecve, execveat (TARGET with ARGS as its argv[1..])
 *   execprog fail TARGET BAD       leaks as above; execv of BAD, an executable file that is no
 *                                  program (ENOEXEC: it fails after the shim's snapshot), and of
 *                                  a missing file (ENOENT); leaks EXEC_AFTER_COUNT blocks of
 *                                  EXEC_AFTER_SIZE; then execv TARGET child
 *   execprog vfork TARGET ARGS...  leaks as above; a vfork child execs TARGET; the parent waits,
 *                                  leaks EXEC_AFTER_COUNT blocks of EXEC_AFTER_SIZE and exits 0
 *   execprog fork TARGET ARGS...   leaks as above; a forked child leaks EXEC_AFTER_COUNT blocks of
 *                                  EXEC_AFTER_SIZE and execs TARGET, then another forked child
 *                                  execs TARGET at once (allocating nothing); exits 0
 * Each process prints what it leaked, on stdout ("PID leaked BLOCKS BYTES"); the same output
 * with and without the shim but for the pids.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define EXEC_BEFORE_COUNT 7
#define EXEC_BEFORE_SIZE 96
#define EXEC_AFTER_COUNT 5
#define EXEC_AFTER_SIZE 200
#define EXEC_CHILD_COUNT 3
#define EXEC_CHILD_SIZE 40

static void *volatile sink;

static __attribute__((noinline)) void leak_before(void)
{
    for (int i = 0; i < EXEC_BEFORE_COUNT; i++)
        sink = malloc(EXEC_BEFORE_SIZE); /* LEAK:before */
    for (int i = 0; i < 50; i++)
        free(malloc(64 + i)); /* freed: not a leak */
}

static __attribute__((noinline)) void leak_after(void)
{
    for (int i = 0; i < EXEC_AFTER_COUNT; i++)
        sink = malloc(EXEC_AFTER_SIZE); /* LEAK:after */
}

static __attribute__((noinline)) void leak_child(void)
{
    for (int i = 0; i < EXEC_CHILD_COUNT; i++)
        sink = malloc(EXEC_CHILD_SIZE); /* LEAK:child */
}

static void said(int blocks, int bytes)
{
    printf("%d leaked %d %d\n", (int)getpid(), blocks, bytes);
    fflush(stdout);
}

static int run(const char *mode, char **argv)
{
    const char *target = argv[0];
    char **envp = environ;
    if (!strcmp(mode, "execv"))
        return execv(target, argv);
    if (!strcmp(mode, "execvp"))
        return execvp(target, argv);
    if (!strcmp(mode, "execve"))
        return execve(target, argv, envp);
    if (!strcmp(mode, "execvpe"))
        return execvpe(target, argv, envp);
    if (!strcmp(mode, "execl"))
        return execl(target, argv[0], argv[1], (char *)NULL);
    if (!strcmp(mode, "execlp"))
        return execlp(target, argv[0], argv[1], (char *)NULL);
    if (!strcmp(mode, "execle"))
        return execle(target, argv[0], argv[1], (char *)NULL, envp);
    if (!strcmp(mode, "fexecve")) {
        int fd = open(target, O_RDONLY | O_CLOEXEC);
        return fd < 0 ? -1 : fexecve(fd, argv, envp);
    }
    if (!strcmp(mode, "execveat"))
        return execveat(AT_FDCWD, target, argv, envp, 0);
    errno = EINVAL;
    return -1;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "child")) {
        leak_child();
        said(EXEC_CHILD_COUNT, EXEC_CHILD_COUNT * EXEC_CHILD_SIZE);
        return 3;
    }
    if (argc < 3) {
        fprintf(stderr, "usage: execprog child | MODE TARGET ARGS...\n");
        return 2;
    }
    const char *mode = argv[1];
    leak_before();
    said(EXEC_BEFORE_COUNT, EXEC_BEFORE_COUNT * EXEC_BEFORE_SIZE);
    if (!strcmp(mode, "fail")) {
        char *bad[] = {argv[3], NULL};
        errno = 0;
        int rc = execv(argv[3], bad);
        printf("exec of a non-program: %d %s\n", rc, strerror(errno));
        char *gone[] = {"/nonexistent/execprog-missing", NULL};
        rc = execv(gone[0], gone);
        printf("exec of a missing file: %d %s\n", rc, strerror(errno));
        fflush(stdout);
        leak_after();
        said(EXEC_AFTER_COUNT, EXEC_AFTER_COUNT * EXEC_AFTER_SIZE);
        char *again[] = {argv[2], "child", NULL};
        execv(argv[2], again);
        perror("execv");
        return 1;
    }
    if (!strcmp(mode, "fork")) {
        for (int k = 0; k < 2; k++) {
            pid_t pid = fork();
            if (pid == 0) {
                if (k == 0) {
                    leak_after();
                    said(EXEC_AFTER_COUNT, EXEC_AFTER_COUNT * EXEC_AFTER_SIZE);
                }
                execv(argv[2], argv + 2);
                _exit(127);
            }
            int st = 0;
            if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 3)
                return 1;
        }
        return 0;
    }
    if (!strcmp(mode, "vfork")) {
        pid_t pid = vfork();
        if (pid == 0) {
            execv(argv[2], argv + 2);
            _exit(127);
        }
        int st = 0;
        if (pid < 0 || waitpid(pid, &st, 0) != pid)
            return 1;
        leak_after();
        said(EXEC_AFTER_COUNT, EXEC_AFTER_COUNT * EXEC_AFTER_SIZE);
        printf("vfork child status %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
        return 0;
    }
    run(mode, argv + 2);
    perror(mode);
    return 1;
}
