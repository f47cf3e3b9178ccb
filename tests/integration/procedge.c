/* SPDX-License-Identifier: MIT */
/*
 * procedge.c — process edge cases around the trace file (test_procedge.py):
 *
 *   procedge vfork-exec       vfork() + execve(self, "leaf"); the leaf leaks and exits 0
 *   procedge vfork-exit       vfork() + _exit(3) in the child (it writes no trace)
 *   procedge closeall [dump]  (dump: perfshim_dump() first, so the trace is open) closes every
 *                             descriptor >= 3 (close_range, or a loop up to the limit), then
 *                             leaks and exits
 *   procedge reuse FILE       perfshim_dump(), close everything, then open FILE and dup2 it
 *                             onto every descriptor from 3 to 1023 (the trace's number
 *                             included), allocate, leak, exit (the test then
 *                             checks that FILE holds exactly what the program wrote)
 *   procedge swap TRACE VICTIM  perfshim_dump(), close everything, replace the trace at TRACE
 *                             with a symlink to VICTIM, leak, exit: the shim must not write
 *                             through the link (VICTIM stays as it was)
 *   procedge chdir DIR        chdir(DIR), leak, exit
 *   procedge rmdir DIR        mkdir(DIR), chdir into it, remove it, leak, exit
 *
 * Every mode leaks PROCEDGE_LEAKS blocks of PROCEDGE_SIZE at LEAK:edge before exiting (the
 * leaf: PROCEDGE_LEAF_LEAKS at LEAK:leaf); with a dump, PROCEDGE_EARLY more at LEAK:early
 * before it. Prints "procedge MODE: ok" on stderr when its own checks passed.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define PROCEDGE_LEAKS 4
#define PROCEDGE_SIZE 88
#define PROCEDGE_LEAF_LEAKS 2
#define PROCEDGE_LEAF_SIZE 33
#define PROCEDGE_EARLY 3
#define PROCEDGE_EARLY_SIZE 120
#define REUSE_TEXT "the program's own file\n"

extern char **environ;
static void *volatile keep[16];

static void dump(void)
{
    int (*fn)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "perfshim_api_dump_v1");
    if (fn && fn() != 0)
        fprintf(stderr, "procedge: perfshim_dump failed\n");
}

__attribute__((noinline)) static void leak_early(void)
{
    for (int i = 0; i < PROCEDGE_EARLY; i++) {
        char *p = malloc(PROCEDGE_EARLY_SIZE); /* LEAK:early */
        memset(p, 'e', PROCEDGE_EARLY_SIZE);
        keep[i] = p;
    }
}

__attribute__((noinline)) static void leak_edge(void)
{
    for (int i = 0; i < PROCEDGE_LEAKS; i++) {
        char *p = malloc(PROCEDGE_SIZE); /* LEAK:edge */
        memset(p, 'x', PROCEDGE_SIZE);
        keep[i] = p;
    }
}

__attribute__((noinline)) static void churn(void)
{
    for (int i = 0; i < 2000; i++) {
        void *p = malloc(16 + (size_t)i % 3000);
        free(p);
    }
}

/* Everything from 3 up: close_range when the kernel has it, else a loop to the limit. */
static void close_all(void)
{
#ifdef SYS_close_range
    if (syscall(SYS_close_range, 3u, ~0u, 0u) == 0)
        return;
#endif
    struct rlimit rl;
    int max = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 65536 ? (int)rl.rlim_cur : 65536;
    for (int fd = 3; fd < max; fd++)
        close(fd);
}

static int vfork_mode(const char *self, int do_exec)
{
    pid_t pid = vfork();
    if (pid == 0) {
        if (do_exec) {
            char *argv[] = {(char *)self, "leaf", NULL};
            execve(self, argv, environ);
        }
        _exit(3);
    }
    if (pid < 0)
        return 1;
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != (do_exec ? 0 : 3)) {
        fprintf(stderr, "procedge: vfork child status %#x\n", st);
        return 1;
    }
    return 0;
}

static int reuse_mode(const char *file)
{
    leak_early();
    dump();
    close_all();
    int fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return 1;
    if (write(fd, REUSE_TEXT, strlen(REUSE_TEXT)) != (ssize_t)strlen(REUSE_TEXT))
        return 1;
    for (int n = 3; n < 1024; n++)
        if (n != fd)
            dup2(fd, n);
    churn(); /* stacks captured (libunwind too, with PERFSHIM_UNWIND=libunwind) */
    leak_edge();
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    const char *mode = argv[1];
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    self[n > 0 ? n : 0] = 0;
    int rc = 0;
    if (strcmp(mode, "leaf") == 0) {
        for (int i = 0; i < PROCEDGE_LEAF_LEAKS; i++) {
            char *p = malloc(PROCEDGE_LEAF_SIZE); /* LEAK:leaf */
            memset(p, 'l', PROCEDGE_LEAF_SIZE);
            keep[i] = p;
        }
        return 0;
    } else if (strcmp(mode, "vfork-exec") == 0 || strcmp(mode, "vfork-exit") == 0) {
        churn();
        rc = vfork_mode(self, strcmp(mode, "vfork-exec") == 0);
    } else if (strcmp(mode, "closeall") == 0) {
        if (argc > 2) {
            leak_early();
            dump();
        }
        close_all();
        churn();
    } else if (strcmp(mode, "reuse") == 0 && argc == 3) {
        rc = reuse_mode(argv[2]);
        if (rc == 0)
            fprintf(stderr, "procedge %s: ok\n", mode);
        return rc;
    } else if (strcmp(mode, "swap") == 0 && argc == 4) {
        leak_early();
        dump();
        close_all();
        if (unlink(argv[2]) != 0 || symlink(argv[3], argv[2]) != 0) {
            perror("procedge: swap");
            return 1;
        }
    } else if (strcmp(mode, "chdir") == 0 && argc == 3) {
        if (chdir(argv[2]) != 0)
            return 1;
    } else if (strcmp(mode, "rmdir") == 0 && argc == 3) {
        if (mkdir(argv[2], 0700) != 0 || chdir(argv[2]) != 0 || rmdir(argv[2]) != 0) {
            perror("procedge: rmdir");
            return 1;
        }
        char cwd[4096];
        if (getcwd(cwd, sizeof cwd) != NULL || errno != ENOENT) {
            fprintf(stderr, "procedge: the working directory still exists\n");
            return 1;
        }
    } else {
        fprintf(stderr, "procedge: bad arguments\n");
        return 2;
    }
    if (rc == 0) {
        leak_edge();
        fprintf(stderr, "procedge %s: ok\n", mode);
    }
    return rc;
}
