/* SPDX-License-Identifier: MIT */
/*
 * prefork.c — a pre-fork server in miniature: the parent loads a configuration, forks
 * PREFORK_WORKERS workers (argv[1] changes the count), and then serves requests itself, like
 * every worker; one trace per process.
 *   - the parent leaks its configuration (PREFORK_CONFIG_SIZE, LEAK:config) before forking:
 *     every worker holds a copy of it, which the worker's report shows as inherited;
 *   - every process, parent and workers, serves PREFORK_REQUESTS requests through the same
 *     call site and leaks one PREFORK_REQUEST_SIZE block per request (LEAK:request), freeing
 *     its scratch buffer (NOLEAK:scratch): merged (`perfshim leaks --merge`), that site counts
 *     workers + 1 processes;
 *   - every worker, and only the workers, leaks its state (PREFORK_STATE_SIZE, LEAK:state):
 *     that site counts `workers` processes; the config site 1 (the workers' copies are
 *     inherited, not their leaks).
 * Prints "prefork: parent PID workers PID PID ...: done" on stderr; exits 0 when every worker
 * exited with 0.
 * `prefork WORKERS REQUESTS PAUSE_US`: each process serves REQUESTS requests (default
 * PREFORK_REQUESTS), one every PAUSE_US microseconds (default 0: at once) on absolute deadlines
 * shared by all the processes (from 100 ms after the parent started forking; a process that
 * fell behind catches up): with PERFSHIM_INTERVAL, every process's request site grows at
 * PREFORK_REQUEST_SIZE bytes per PAUSE_US, at the same times, and `perfshim growth --merge`
 * adds their rates (tests/integration/test_prefork.py).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PREFORK_WORKERS 3
#define PREFORK_REQUESTS 5
#define PREFORK_REQUEST_SIZE 96
#define PREFORK_CONFIG_SIZE 4000
#define PREFORK_STATE_SIZE 300
#define PREFORK_MAX_WORKERS 64

void *volatile prefork_keep;

__attribute__((noinline)) static char *load_config(void)
{
    char *c = malloc(PREFORK_CONFIG_SIZE); /* LEAK:config */
    if (c)
        memset(c, 'c', PREFORK_CONFIG_SIZE);
    return c;
}

/* One request: a scratch buffer freed, and a session record that is (by mistake) kept. */
__attribute__((noinline)) static void handle_request(int worker, int i)
{
    char *scratch = malloc(1000); /* NOLEAK:scratch */
    if (scratch)
        snprintf(scratch, 1000, "worker %d request %d", worker, i);
    char *session = malloc(PREFORK_REQUEST_SIZE); /* LEAK:request */
    if (session)
        memset(session, worker, PREFORK_REQUEST_SIZE);
    prefork_keep = session;
    free(scratch);
}

__attribute__((noinline)) static void worker_init(int w)
{
    char *state = malloc(PREFORK_STATE_SIZE); /* LEAK:state */
    if (state)
        memset(state, w, PREFORK_STATE_SIZE);
    prefork_keep = state;
}

static int requests = PREFORK_REQUESTS;
static long pause_us;
static struct timespec start; /* request i is due at start + i × pause_us */

/* Every process serves from here: the same call stack in the parent and in each worker. */
__attribute__((noinline)) static void serve(int who)
{
    for (int i = 0; i < requests; i++) {
        if (pause_us) {
            long long ns = (long long)start.tv_nsec + (long long)i * pause_us * 1000;
            struct timespec due = {start.tv_sec + (time_t)(ns / 1000000000), ns % 1000000000};
            while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &due, NULL) != 0)
                ; /* EINTR */
        }
        handle_request(who, i);
    }
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : PREFORK_WORKERS;
    if (n < 1 || n > PREFORK_MAX_WORKERS) {
        fprintf(stderr, "usage: prefork [WORKERS (1-%d) [REQUESTS [PAUSE_US]]]\n",
                PREFORK_MAX_WORKERS);
        return 2;
    }
    if (argc > 2)
        requests = atoi(argv[2]);
    if (argc > 3)
        pause_us = atol(argv[3]);
    clock_gettime(CLOCK_MONOTONIC, &start);
    start.tv_nsec += 100000000; /* the first request: after the forks */
    if (start.tv_nsec >= 1000000000) {
        start.tv_sec++;
        start.tv_nsec -= 1000000000;
    }
    char *config = load_config();
    pid_t pids[PREFORK_MAX_WORKERS];
    int w;
    for (w = 0; w < n; w++) {
        pids[w] = fork();
        if (pids[w] < 0) {
            perror("prefork: fork");
            return 1;
        }
        if (pids[w] == 0) {
            worker_init(w);
            break;
        }
    }
    serve(w); /* w < n: worker w; w == n: the parent */
    if (w < n)
        exit(0); /* exit, not _exit: the worker's trace is written */
    int ok = 1;
    for (w = 0; w < n; w++) {
        int status;
        if (waitpid(pids[w], &status, 0) != pids[w] || !WIFEXITED(status) ||
            WEXITSTATUS(status) != 0)
            ok = 0;
    }
    char line[64 + PREFORK_MAX_WORKERS * 12];
    int len = snprintf(line, sizeof line, "prefork: parent %d workers", (int)getpid());
    for (int w = 0; w < n; w++)
        len += snprintf(line + len, sizeof line - (size_t)len, " %d", (int)pids[w]);
    snprintf(line + len, sizeof line - (size_t)len, ": %s\n", ok ? "done" : "failed");
    fputs(line, stderr);
    prefork_keep = config;
    return ok ? 0 : 1;
}
