/* SPDX-License-Identifier: MIT */
/*
 * ctlprog.c — a program driven line by line on stdin, for the control channel's tests
 * (test_control.py): the test interleaves its commands with `perfshim ctl` requests, so it
 * knows exactly which allocations were made while tracking was on.
 *
 *   a N   allocate N blocks of CTL_A_SIZE at site_a (LEAK:ctl_a), keep them
 *   b N   allocate N blocks of CTL_B_SIZE at site_b (LEAK:ctl_b), keep them
 *   fa    free every block of site_a;  fb  free every block of site_b
 *   i     print its descriptors (>= 3 that are open) and threads, one line
 *   f     fork a child that allocates CTL_CHILD blocks at site_b, then waits for SIGUSR1 and
 *         exits (exit(): destructors run); prints "child PID"
 *   w     wait for that child; prints "exited STATUS"
 *   c     close every descriptor from 3 to 1023, as daemons do, then open a file of its own
 *         (ctlprog-own in the current directory, "mine\n" written to it): it gets the lowest
 *         number, the one the shim's socket() gets next, and is dup2'ed onto 500 and 501, the
 *         numbers the shim's socket had; prints "own FD"
 *   v     are those descriptors still open, the same file, at offset 5, holding "mine\n"? prints
 *         "own intact" or "own broken"
 *   k MS  keep closing: for MS milliseconds, every 20 ms, close everything and open the own
 *         file again, checking before each round that the shim left it alone; prints
 *         "rounds N broken M"
 *   q     exit
 * It prints "ok" after each command (and "ready" at start), flushed.
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "procself.h"

#define CTL_A_SIZE 100
#define CTL_B_SIZE 200
#define CTL_MAX 100000
#define CTL_CHILD 7
#define OWN_HIGH 2 /* descriptors 500 and 501 */

static volatile sig_atomic_t go;

static void on_usr1(int sig)
{
    (void)sig;
    go = 1;
}

static void *a[CTL_MAX], *b[CTL_MAX];
static int na, nb;
static pid_t child;
static int own = -1;
static struct stat own_st;

/* Close every descriptor from 3 to 1023, then open the own file at the lowest number. */
static void close_all_open_own(void)
{
    for (int fd = 3; fd < 1024; fd++)
        close(fd);
    own = open("ctlprog-own", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (own >= 0 && (write(own, "mine\n", 5) != 5 || fstat(own, &own_st) != 0)) {
        close(own);
        own = -1;
    }
    /* and the numbers the shim's socket had, 500 and up, reused for the same file */
    for (int i = 0; i < OWN_HIGH && own >= 0; i++)
        dup2(own, 500 + i);
}

static int own_intact(void)
{
    struct stat st;
    char buf[8] = {0};
    for (int i = 0; i < OWN_HIGH; i++)
        if (fstat(500 + i, &st) != 0 || st.st_dev != own_st.st_dev || st.st_ino != own_st.st_ino)
            return 0;
    return own >= 0 && fstat(own, &st) == 0 && st.st_dev == own_st.st_dev &&
           st.st_ino == own_st.st_ino && lseek(own, 0, SEEK_CUR) == 5 &&
           pread(own, buf, sizeof buf, 0) == 5 && memcmp(buf, "mine\n", 5) == 0;
}

__attribute__((noinline)) static void *site_a(void)
{
    void *p = malloc(CTL_A_SIZE); /* LEAK:ctl_a */
    if (p)
        memset(p, 1, CTL_A_SIZE);
    return p;
}

__attribute__((noinline)) static void *site_b(void)
{
    void *p = malloc(CTL_B_SIZE); /* LEAK:ctl_b */
    if (p)
        memset(p, 2, CTL_B_SIZE);
    return p;
}

int main(void)
{
    char line[64];
    printf("ready\n");
    fflush(stdout);
    while (fgets(line, sizeof line, stdin)) {
        int n = 0;
        if (sscanf(line, "a %d", &n) == 1) {
            for (int i = 0; i < n && na < CTL_MAX; i++)
                a[na++] = site_a();
        } else if (sscanf(line, "b %d", &n) == 1) {
            for (int i = 0; i < n && nb < CTL_MAX; i++)
                b[nb++] = site_b();
        } else if (strcmp(line, "fa\n") == 0) {
            while (na > 0)
                free(a[--na]);
        } else if (strcmp(line, "fb\n") == 0) {
            while (nb > 0)
                free(b[--nb]);
        } else if (strcmp(line, "i\n") == 0) {
            printf("fds %d threads %d\n", count_entries("/proc/self/fd"),
                   count_entries("/proc/self/task"));
        } else if (strcmp(line, "f\n") == 0) {
            sigset_t block, old;
            sigemptyset(&block);
            sigaddset(&block, SIGUSR1);
            sigprocmask(SIG_BLOCK, &block, &old);
            signal(SIGUSR1, on_usr1);
            fflush(stdout);
            child = fork();
            if (child == 0) {
                for (int i = 0; i < CTL_CHILD && nb < CTL_MAX; i++)
                    b[nb++] = site_b();
                while (!go)
                    sigsuspend(&old);
                exit(0);
            }
            sigprocmask(SIG_SETMASK, &old, NULL);
            printf("child %d\n", (int)child);
        } else if (strcmp(line, "w\n") == 0) {
            int st = -1;
            waitpid(child, &st, 0);
            printf("exited %d\n", st);
        } else if (strcmp(line, "c\n") == 0) {
            close_all_open_own();
            printf("own %d\n", own);
        } else if (strcmp(line, "v\n") == 0) {
            printf("own %s\n", own_intact() ? "intact" : "broken");
        } else if (sscanf(line, "k %d", &n) == 1) {
            int rounds = 0, broken = 0;
            close_all_open_own();
            for (long long end = now_ms() + n; now_ms() < end; rounds++) {
                struct timespec ts = {0, 20 * 1000000L};
                nanosleep(&ts, NULL);
                broken += !own_intact();
                close_all_open_own();
            }
            printf("rounds %d broken %d\n", rounds, broken);
        } else if (strcmp(line, "q\n") == 0) {
            break;
        }
        printf("ok\n");
        fflush(stdout);
    }
    return 0;
}
