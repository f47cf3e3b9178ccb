/* SPDX-License-Identifier: MIT */
/*
 * invisible.c — what a program can see of its own process, printed on stdout at three moments,
 * so that test_invisible.py can compare a run without the shim with runs under it:
 *
 *   start   first thing in main
 *   after   two threads have allocated and ended, and (mode "unwind") blocks were allocated at
 *           stacks only libunwind can walk: inside a signal handler (LEAK:sig, a signal frame
 *           between it and main) and from code without unwind tables (JIT-like, in an mmap'd
 *           page; LEAK:jit is the line that calls it); the program also installed a SIGPROF
 *           handler of its own
 *   exit    from an atexit handler (before the shim's final snapshot)
 *
 * Each moment prints: every descriptor in /proc/self/fd with its target (inode numbers of
 * pipes, sockets and anonymous inodes left out: they differ from run to run), the number of
 * threads in /proc/self/task, the disposition of every signal 1..64 as sigaction() reports
 * it, the blocked signals as sigprocmask() reports them, and the environment.
 *
 *   invisible [plain|unwind]     (plain: no stack that needs libunwind)
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define INV_SIG_SIZE 40
#define INV_JIT_SIZE 56
#define INV_THREAD_SIZE 24

extern char **environ;
static void *volatile keep[8];

static void on_usr1(int sig)
{
    (void)sig;
    keep[0] = malloc(INV_SIG_SIZE); /* LEAK:sig */
}

static void on_prof(int sig)
{
    (void)sig;
}

static const char *target_of(const char *link, char *buf, size_t size)
{
    ssize_t n = readlink(link, buf, size - 1);
    if (n < 0)
        return "?";
    buf[n] = 0;
    char *br = strchr(buf, '[');
    if (br &&
        (strncmp(buf, "pipe:", 5) == 0 || strncmp(buf, "socket:", 7) == 0 ||
         strncmp(buf, "anon_inode:", 11) == 0) &&
        br[1] >= '0' && br[1] <= '9')
        *br = 0;
    return buf;
}

static int cmp_int(const void *a, const void *b)
{
    return *(const int *)a - *(const int *)b;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void print_state(const char *when)
{
    printf("== %s\n", when);
    DIR *d = opendir("/proc/self/fd");
    int fds[1024], n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) && n < 1024)
        if (e->d_name[0] != '.' && atoi(e->d_name) != dirfd(d))
            fds[n++] = atoi(e->d_name);
    if (d)
        closedir(d);
    qsort(fds, (size_t)n, sizeof *fds, cmp_int);
    for (int i = 0; i < n; i++) {
        char link[64], buf[512];
        snprintf(link, sizeof link, "/proc/self/fd/%d", fds[i]);
        printf("fd %d -> %s\n", fds[i], target_of(link, buf, sizeof buf));
    }
    int tasks = 0;
    d = opendir("/proc/self/task");
    while (d && (e = readdir(d)))
        tasks += e->d_name[0] != '.';
    if (d)
        closedir(d);
    printf("threads %d\n", tasks);
    for (int sig = 1; sig <= 64; sig++) {
        struct sigaction sa;
        if (sigaction(sig, NULL, &sa) != 0) {
            printf("signal %d: -\n", sig);
            continue;
        }
        void *h = (sa.sa_flags & SA_SIGINFO) ? (void *)sa.sa_sigaction : (void *)sa.sa_handler;
        const char *kind = h == (void *)SIG_DFL   ? "default"
                           : h == (void *)SIG_IGN ? "ignored"
                           : h == (void *)on_usr1 ? "on_usr1"
                           : h == (void *)on_prof ? "on_prof"
                                                  : "a handler not of this program";
        char mask[80] = "";
        for (int s = 1; s <= 64 && strlen(mask) < sizeof mask - 4; s++)
            if (sigismember(&sa.sa_mask, s) == 1)
                snprintf(mask + strlen(mask), sizeof mask - strlen(mask), " %d", s);
        printf("signal %d: %s flags %#x mask [%s ] restorer %s\n", sig, kind, (unsigned)sa.sa_flags,
               mask, sa.sa_restorer ? "set" : "none");
    }
    sigset_t blocked;
    sigprocmask(SIG_BLOCK, NULL, &blocked);
    printf("blocked");
    for (int s = 1; s <= 64; s++)
        if (sigismember(&blocked, s) == 1)
            printf(" %d", s);
    printf("\n");
    int nenv = 0;
    while (environ[nenv])
        nenv++;
    char **env = malloc(((size_t)nenv + 1) * sizeof *env);
    memcpy(env, environ, (size_t)nenv * sizeof *env);
    qsort(env, (size_t)nenv, sizeof *env, cmp_str);
    for (int i = 0; i < nenv; i++)
        printf("env %s\n", env[i]);
    free(env);
    fflush(stdout);
}

static void at_exit(void)
{
    print_state("exit");
}

static void *worker(void *arg)
{
    volatile uint64_t x = 0;
    for (int i = 0; i < 20000; i++) {
        void *p = malloc(INV_THREAD_SIZE + (size_t)(i & 63));
        x += (uintptr_t)p;
        free(p);
    }
    return arg;
}

/* Machine code without unwind tables: sub $8,%rsp; mov $N,%edi; movabs $malloc,%rax;
 * call *%rax; add $8,%rsp; ret. Returns the block, or NULL if no executable page exists. */
static void *jit_malloc(void)
{
    static unsigned char *code;
    if (!code) {
        void *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (page == MAP_FAILED)
            return NULL;
        unsigned char *c = page;
        void *(*fn)(size_t) = malloc;
        uint64_t target = (uint64_t)(uintptr_t)fn;
        *c++ = 0x48, *c++ = 0x83, *c++ = 0xec, *c++ = 0x08; /* sub $8,%rsp */
        *c++ = 0xbf;                                        /* mov $N,%edi */
        uint32_t size = INV_JIT_SIZE;
        memcpy(c, &size, 4), c += 4;
        *c++ = 0x48, *c++ = 0xb8; /* movabs $malloc,%rax */
        memcpy(c, &target, 8), c += 8;
        *c++ = 0xff, *c++ = 0xd0;                           /* call *%rax */
        *c++ = 0x48, *c++ = 0x83, *c++ = 0xc4, *c++ = 0x08; /* add $8,%rsp */
        *c++ = 0xc3;                                        /* ret */
        if (mprotect(page, 4096, PROT_READ | PROT_EXEC) != 0)
            return NULL;
        code = page;
    }
    void *(*jit)(void) = (void *(*)(void))(uintptr_t)code;
    return jit(); /* LEAK:jit */
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "plain";
    print_state("start");
    atexit(at_exit);
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, worker, NULL);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_prof;
    sa.sa_flags = SA_RESTART;
    sigaddset(&sa.sa_mask, SIGUSR2);
    sigaction(SIGPROF, &sa, NULL);
    if (strcmp(mode, "unwind") == 0) {
        sa.sa_handler = on_usr1;
        sa.sa_flags = 0;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGUSR1, &sa, NULL);
        raise(SIGUSR1);
        keep[1] = jit_malloc();
        printf("jit %s\n", keep[1] ? "ran" : "unavailable");
    }
    volatile uint64_t spin = 0; /* some CPU time for the sampler */
    for (uint64_t i = 0; i < 30000000; i++)
        spin += i;
    print_state("after");
    return 0;
}
