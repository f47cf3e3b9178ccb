/* SPDX-License-Identifier: MIT */
/*
 * sandbox.c — a program that sandboxes itself with seccomp, as OpenSSH's pre-auth child and
 * libseccomp users do: after the filter, opening a file kills the process (SIGSYS). The shim
 * must not open its trace (or read /proc) then: it writes the last snapshot before the filter.
 *
 *   sandbox prctl|seccomp [kill|errno]
 *
 * installs the filter with prctl(PR_SET_SECCOMP) or syscall(SYS_seccomp), first probing the
 * way libseccomp does (a FILTER request without a program, which fails with EFAULT and must
 * not end tracing), then allocates, forks a child that allocates and exits, and prints a line.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void *volatile sink;

int main(int argc, char **argv)
{
    int use_syscall = argc > 1 && !strcmp(argv[1], "seccomp");
    int kill = !(argc > 2 && !strcmp(argv[2], "errno"));
    unsigned deny = kill ? SECCOMP_RET_KILL_PROCESS : SECCOMP_RET_ERRNO | EACCES;
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_openat, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, deny),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_open, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, deny),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_unlink, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, deny),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = sizeof f / sizeof f[0], .filter = f};
    char *before = malloc(4000); /* LEAK:before */
    memset(before, 1, 4000);
    sink = before;
    sink = NULL;
    long probe = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, NULL); /* libseccomp's probe */
    int probe_errno = errno;
    sink = malloc(300); /* LEAK:after_probe */
    sink = NULL;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        perror("PR_SET_NO_NEW_PRIVS");
        return 2;
    }
    int rc = use_syscall ? (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog)
                         : prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
    if (rc != 0) {
        perror("seccomp");
        return 2;
    }
    for (int i = 0; i < 1000; i++)
        free(malloc(16 + i));
    sink = malloc(200); /* after the filter: not traced */
    pid_t c = fork();
    if (c == 0) {
        sink = malloc(100);
        exit(3);
    }
    int st = 0;
    waitpid(c, &st, 0);
    printf("sandboxed: probe %ld/%d, child %s %d\n", probe, probe_errno == EFAULT,
           WIFEXITED(st) ? "exited" : "killed", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
    return 0;
}
