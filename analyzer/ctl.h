/* SPDX-License-Identifier: MIT */
/*
 * ctl.h — `perfshim ctl`: talk to a running process's control channel (shim/control.c).
 */
#ifndef PA_CTL_H
#define PA_CTL_H

/* Exit statuses of perfshim ctl (docs/analyzer.md); 2 is a usage error as everywhere. */
enum {
    PA_CTL_EXIT_OK = 0,
    PA_CTL_EXIT_NOPROC = 3,  /* no such process */
    PA_CTL_EXIT_NOSOCK = 4,  /* the process has no control socket */
    PA_CTL_EXIT_PERM = 5,    /* permission denied (another user's socket, or refused by uid) */
    PA_CTL_EXIT_REFUSED = 6, /* the process answered no (already started, not available...) */
    PA_CTL_EXIT_COMM = 7     /* no answer, or a malformed one */
};

/* argv[0] is "ctl"; returns the exit status. */
int pa_ctl_main(int argc, char **argv);

#endif /* PA_CTL_H */
