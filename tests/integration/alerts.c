/* SPDX-License-Identifier: MIT */
/*
 * alerts.c — a program for the snapshot triggers and alerts (test_alerts.py):
 *
 *   alerts grow MIB KEEP_KB PAUSE_MS [REPEAT]
 *                                      keep blocks of KEEP_KB until MIB MiB are live, pausing
 *                                      PAUSE_MS after each MiB (with a little churn, so that
 *                                      tracked calls keep ticking), then free them all; REPEAT
 *                                      times (default 1)
 *   alerts steps N MIB PAUSE_MS        PAUSE_MS of small tracked calls (the live heap stays
 *                                      flat), then N times: keep MIB MiB at once and pause so
 *   alerts churn MIB                   allocate and free 64 KiB blocks, MIB MiB in all
 *   alerts signal SIG                  raise SIG (USR1 or USR2), then allocate and free
 *   alerts ownsig SIG                  install a handler of its own for SIG, raise it, and say
 *                                      whether the handler ran; then allocate and free
 *   alerts query SIG                   print the handler sigaction reports for SIG (dfl/other)
 *
 * Each prints one line at the end ("done ... fds N": its open descriptors then), never
 * anything else.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "procself.h"

#define ALERTS_MAX_BLOCKS 65536
#define ALERTS_CHURN_SIZE 65536

static void *kept[ALERTS_MAX_BLOCKS];
static volatile sig_atomic_t handled;

static void pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* Tracked calls, so that the shim's tick comes round (one call in 16 per thread). */
__attribute__((noinline)) static void churn_some(int n)
{
    for (int i = 0; i < n; i++) {
        char *p = malloc(32);
        if (p)
            p[0] = (char)i;
        free(p);
    }
}

__attribute__((noinline)) static void *keep_block(size_t n)
{
    char *p = malloc(n); /* alerts_keep */
    if (p)
        memset(p, 1, n);
    return p;
}

/* Open descriptors below 1024 (the shim's trace, when open, sits at 500 or above) */
static int fds(void)
{
    int n = 0;
    for (int fd = 0; fd < 1024; fd++)
        n += fcntl(fd, F_GETFD) != -1;
    return n;
}

static int grow(long mib, long keep_kb, long pause, long repeat)
{
    long per_mib = 1024 / keep_kb, n = 0;
    for (long r = 0; r < repeat; r++) {
        n = 0;
        for (long m = 0; m < mib; m++) {
            for (long i = 0; i < per_mib && n < ALERTS_MAX_BLOCKS; i++)
                kept[n++] = keep_block((size_t)keep_kb * 1024);
            churn_some(64);
            if (pause)
                pause_ms(pause);
        }
        churn_some(64);
        for (long i = 0; i < n; i++)
            free(kept[i]);
        churn_some(64);
    }
    printf("done grow %ld blocks fds %d\n", n * repeat, fds());
    return 0;
}

static int steps(long nsteps, long mib, long pause)
{
    long n = 0;
    for (long s = 0; s <= nsteps; s++) {
        if (s > 0)
            for (long i = 0; i < mib * 16 && n < ALERTS_MAX_BLOCKS; i++)
                kept[n++] = keep_block(ALERTS_CHURN_SIZE);
        for (long long end = now_ms() + pause; now_ms() < end;) {
            churn_some(32);
            pause_ms(5);
        }
    }
    for (long i = 0; i < n; i++)
        free(kept[i]);
    churn_some(64);
    printf("done steps %ld blocks fds %d\n", n, fds());
    return 0;
}

static int churn(long mib)
{
    long blocks = mib * 1024 * 1024 / ALERTS_CHURN_SIZE;
    for (long i = 0; i < blocks; i++) {
        char *p = malloc(ALERTS_CHURN_SIZE); /* alerts_churn */
        if (p)
            p[0] = 1;
        free(p);
    }
    churn_some(64);
    printf("done churn %ld blocks fds %d\n", blocks, fds());
    return 0;
}

static void on_sig(int sig)
{
    (void)sig;
    handled++;
}

static int signum(const char *s)
{
    return strcmp(s, "USR1") == 0 ? SIGUSR1 : SIGUSR2;
}

int main(int argc, char **argv)
{
    if (argc >= 5 && strcmp(argv[1], "grow") == 0)
        return grow(atol(argv[2]), atol(argv[3]), atol(argv[4]), argc > 5 ? atol(argv[5]) : 1);
    if (argc >= 5 && strcmp(argv[1], "steps") == 0)
        return steps(atol(argv[2]), atol(argv[3]), atol(argv[4]));
    if (argc >= 3 && strcmp(argv[1], "churn") == 0)
        return churn(atol(argv[2]));
    if (argc >= 3 && strcmp(argv[1], "signal") == 0) {
        raise(signum(argv[2]));
        churn_some(200);
        printf("done signal fds %d\n", fds());
        return 0;
    }
    if (argc >= 3 && strcmp(argv[1], "ownsig") == 0) {
        struct sigaction a;
        memset(&a, 0, sizeof a);
        a.sa_handler = on_sig;
        sigemptyset(&a.sa_mask);
        sigaction(signum(argv[2]), &a, NULL);
        raise(signum(argv[2]));
        churn_some(200);
        printf("done ownsig handled %d\n", (int)handled);
        return 0;
    }
    if (argc >= 3 && strcmp(argv[1], "query") == 0) {
        struct sigaction old;
        sigaction(signum(argv[2]), NULL, &old);
        printf("done query %s\n", old.sa_handler == SIG_DFL ? "dfl" : "other");
        return 0;
    }
    fprintf(stderr, "usage: alerts grow MIB KEEP_KB PAUSE_MS [REPEAT] | steps N MIB PAUSE_MS | "
                    "churn MIB | signal SIG | ownsig "
                    "SIG | query SIG\n");
    return 2;
}
