/* SPDX-License-Identifier: MIT */
/*
 * condreuse.c — a condition variable and its mutex on the stack, made, waited on and destroyed
 * ROUNDS times at the same address (tests/integration/test_condreuse.py), as Chromium's threads
 * do with a WaitableEvent's. Each wait has a deadline in the past, so it times out at once and
 * the program needs no second thread. Prints "condreuse: waits W timedout T".
 *
 * The shim keeps the record of a destroyed condition variable that was waited on, and made a
 * new record for the next one at that address: 128 of them filled the address's probe chain,
 * and the shim wrote "the lock table is full (PERFSHIM_MAX_LOCKS=65536)" on stderr, with the
 * table nearly empty (raising PERFSHIM_MAX_LOCKS changed nothing).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static int one_round(void)
{
    pthread_cond_t c;
    pthread_mutex_t m;
    pthread_cond_init(&c, NULL);
    pthread_mutex_init(&m, NULL);
    struct timespec past = {0, 0};
    pthread_mutex_lock(&m);
    int rc = pthread_cond_timedwait(&c, &m, &past);
    pthread_mutex_unlock(&m);
    pthread_cond_destroy(&c);
    pthread_mutex_destroy(&m);
    return rc;
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 1000;
    int timedout = 0;
    for (int i = 0; i < rounds; i++)
        timedout += one_round() != 0;
    printf("condreuse: waits %d timedout %d\n", rounds, timedout);
    return 0;
}
