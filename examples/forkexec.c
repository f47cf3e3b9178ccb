/* SPDX-License-Identifier: MIT */
/*
 * forkexec.c — one command, three processes, three traces:
 *   1. the parent leaks FORKEXEC_EARLY_SIZE before forking (LEAK:parent_early) and
 *      FORKEXEC_LATE_COUNT blocks of FORKEXEC_LATE_SIZE after (LEAK:parent_late);
 *   2. a forked child leaks FORKEXEC_CHILD_COUNT blocks of FORKEXEC_CHILD_SIZE (LEAK:child) and
 *      exits normally with exit(0); it also still holds its copy of the early parent block
 *      (allocated before the fork, never freed in the child either), so its report shows
 *      LEAK:parent_early as well — but never LEAK:parent_late;
 *   3. a forked child that immediately execs another example (`leaky` from the same directory,
 *      or argv[1]), which leaks what leaky.c documents.
 * The parent waits for both children and exits with 0 only if both exited with 0.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define FORKEXEC_EARLY_SIZE 1234
#define FORKEXEC_LATE_COUNT 2
#define FORKEXEC_LATE_SIZE 777
#define FORKEXEC_CHILD_COUNT 3
#define FORKEXEC_CHILD_SIZE 555

void *volatile forkexec_keep[8];

__attribute__((noinline)) static void parent_early(void)
{
    char *p = malloc(FORKEXEC_EARLY_SIZE); /* LEAK:parent_early */
    if (p)
        memset(p, 1, FORKEXEC_EARLY_SIZE);
    forkexec_keep[0] = p;
}

__attribute__((noinline)) static void parent_late(int i)
{
    char *p = malloc(FORKEXEC_LATE_SIZE); /* LEAK:parent_late */
    if (p)
        memset(p, 2, FORKEXEC_LATE_SIZE);
    forkexec_keep[1 + i] = p;
}

__attribute__((noinline)) static void child_leak(int i)
{
    char *p = malloc(FORKEXEC_CHILD_SIZE); /* LEAK:child */
    if (p)
        memset(p, 3, FORKEXEC_CHILD_SIZE);
    forkexec_keep[4 + i] = p;
}

static int wait_ok(pid_t pid, const char *what)
{
    int status;
    if (waitpid(pid, &status, 0) != pid) {
        perror("forkexec: waitpid");
        return 0;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "forkexec: %s failed (status 0x%x)\n", what, status);
        return 0;
    }
    return 1;
}

/* The directory of this executable + "/leaky". */
static int sibling_path(char *out, size_t size, const char *name)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return -1;
    self[n] = 0;
    char *slash = strrchr(self, '/');
    if (!slash)
        return -1;
    *slash = 0;
    int len = snprintf(out, size, "%s/%s", self, name);
    return len > 0 && (size_t)len < size ? 0 : -1;
}

int main(int argc, char **argv)
{
    char target[PATH_MAX];
    if (argc > 1)
        snprintf(target, sizeof target, "%s", argv[1]);
    else if (sibling_path(target, sizeof target, "leaky") != 0) {
        fprintf(stderr, "forkexec: cannot find leaky\n");
        return 2;
    }

    parent_early();

    pid_t child = fork();
    if (child < 0) {
        perror("forkexec: fork");
        return 1;
    }
    if (child == 0) {
        for (int i = 0; i < FORKEXEC_CHILD_COUNT; i++)
            child_leak(i);
        exit(0); /* a normal exit: atexit handlers and destructors run */
    }
    int ok = wait_ok(child, "forked child");

    for (int i = 0; i < FORKEXEC_LATE_COUNT; i++)
        parent_late(i);

    pid_t execd = fork();
    if (execd < 0) {
        perror("forkexec: fork");
        return 1;
    }
    if (execd == 0) {
        execl(target, target, (char *)NULL);
        perror("forkexec: exec");
        _exit(127);
    }
    ok &= wait_ok(execd, target);
    fprintf(stderr, "forkexec: parent %d forked %d exec'd %d: %s\n", (int)getpid(), (int)child,
            (int)execd, ok ? "done" : "FAILED");
    return ok ? 0 : 1;
}
