/* SPDX-License-Identifier: MIT */
/*
 * bench-spawn: runs one command and writes its wall time and kernel resource usage, for
 * tests/bench/run.py.
 *
 * Usage: bench-spawn RESULT_FILE COMMAND [ARG]...
 * Writes one line to RESULT_FILE: "wall_ns user_us sys_us maxrss_kb wait_status" and exits with
 * the command's exit status (128 + signal if it was killed).
 *
 * Why not measure from Python directly: Linux keeps the peak RSS of a process across fork and
 * exec (the child's ru_maxrss starts at its parent's high-water mark), so a command started by
 * the runner would report at least the runner's own RSS. A process forked from this small
 * program starts from a few hundred KiB instead. The wall clock also excludes Python's
 * fork/exec overhead.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int64_t spawn_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t spawn_tv_us(struct timeval tv)
{
    return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s RESULT_FILE COMMAND [ARG]...\n", argv[0]);
        return 2;
    }
    FILE *result = fopen(argv[1], "w");
    if (result == NULL) {
        perror(argv[1]);
        return 2;
    }

    int64_t t0 = spawn_now_ns();
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 2;
    }
    if (pid == 0) {
        fclose(result);
        execvp(argv[2], argv + 2);
        fprintf(stderr, "bench-spawn: cannot run %s: %s\n", argv[2], strerror(errno));
        _exit(127);
    }

    int status = 0;
    struct rusage ru;
    pid_t got;
    do {
        got = wait4(pid, &status, 0, &ru);
    } while (got < 0 && errno == EINTR);
    int64_t t1 = spawn_now_ns();
    if (got < 0) {
        perror("wait4");
        return 2;
    }

    fprintf(result, "%lld %lld %lld %ld %d\n", (long long)(t1 - t0),
            (long long)spawn_tv_us(ru.ru_utime), (long long)spawn_tv_us(ru.ru_stime), ru.ru_maxrss,
            status);
    if (fclose(result) != 0) {
        perror(argv[1]);
        return 2;
    }
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
}
