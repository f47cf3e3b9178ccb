/* SPDX-License-Identifier: MIT */
/*
 * loaderlock.c — libunwind is loaded lazily, and never where that could wait on the dynamic
 * loader (test_invisible.py):
 *   1. a second thread dlopens libloaderlock_lib.so; its constructor (loader lock held) raises
 *      SIGUSR1: the handler's block (LEAK:ctor) is allocated inside the loader;
 *   2. the constructor then waits for loaderlock_gate, which main holds; main raises SIGUSR1:
 *      its block (LEAK:busy) is allocated while another thread holds the loader's lock. Had
 *      the shim waited for that lock to load libunwind, neither thread would ever go on;
 *   3. main lets the constructor finish, joins the thread, raises SIGUSR1 once more: LEAK:late
 *      is allocated with the loader idle.
 * Blocks allocated in the handler have a signal frame between them and main: only libunwind
 * walks through it. Under the shim, 1 and 2 are cut short (PS_FRAME_CUT) and 3 is complete.
 * Prints "loaderlock: ok" when the plugin answered.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOADERLOCK_SIZE 24

pthread_mutex_t loaderlock_gate = PTHREAD_MUTEX_INITIALIZER;
volatile int loaderlock_in_ctor;
static void *volatile keep[4];
static volatile int phase;
static const char *plugin;

static void on_usr1(int sig)
{
    (void)sig;
    switch (phase) {
    case 0:
        keep[0] = malloc(LOADERLOCK_SIZE); /* LEAK:ctor */
        break;
    case 1:
        keep[1] = malloc(LOADERLOCK_SIZE + 1); /* LEAK:busy */
        break;
    default:
        keep[2] = malloc(LOADERLOCK_SIZE + 2); /* LEAK:late */
        break;
    }
}

static void *load(void *arg)
{
    (void)arg;
    return dlopen(plugin, RTLD_NOW);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: loaderlock PLUGIN.so\n");
        return 2;
    }
    plugin = argv[1];
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    pthread_mutex_lock(&loaderlock_gate);
    pthread_t th;
    pthread_create(&th, NULL, load, NULL);
    while (!loaderlock_in_ctor)
        usleep(1000);
    phase = 1;
    raise(SIGUSR1);
    pthread_mutex_unlock(&loaderlock_gate);
    void *h = NULL;
    pthread_join(th, &h);
    phase = 2;
    raise(SIGUSR1);
    int (*fn)(void) = h ? (int (*)(void))dlsym(h, "loaderlock_plugin") : NULL;
    if (!fn || fn() != 42) {
        fprintf(stderr, "loaderlock: the plugin did not load: %s\n", dlerror());
        return 1;
    }
    fprintf(stderr, "loaderlock: ok\n");
    return 0;
}
