/* SPDX-License-Identifier: MIT */
/*
 * maxrss.c — runs a command and prints its peak resident set size: `maxrss CMD [ARGS...]`
 * writes "maxrss KB" as the last line of stderr and exits with the command's status. A
 * wrapper of its own because a child's ru_maxrss counts what the process held before exec:
 * forked from a test script that holds a big JSON document, it would measure the script.
 */
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: maxrss CMD [ARGS...]\n");
        return 2;
    }
    pid_t pid = fork();
    if (pid < 0) {
        perror("maxrss: fork");
        return 2;
    }
    if (pid == 0) {
        execvp(argv[1], argv + 1);
        perror(argv[1]);
        _exit(127);
    }
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) != pid) {
        perror("maxrss: wait4");
        return 2;
    }
    fprintf(stderr, "maxrss %ld\n", ru.ru_maxrss);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
