/* SPDX-License-Identifier: MIT */
/*
 * ctl.c — `perfshim ctl PID COMMAND` and `perfshim ctl --list`: the client of the shim's control
 * channel (shim/control.c; wire format in shim/include/control_format.h). One request per
 * connection, one reply. Exit statuses: PA_CTL_EXIT_* in ctl.h (docs/analyzer.md).
 *
 * Where a process's socket is: <dir>/<pid>.sock with dir $XDG_RUNTIME_DIR/perfshim (the
 * client's own XDG_RUNTIME_DIR, and /run/user/<uid>/perfshim) or /tmp/perfshim-<uid>, for the
 * process's uid, then ours, then root's (a server that dropped its privileges keeps the socket
 * it made as root).
 */
#include "ctl.h"

#include "util.h"

#include "control_format.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define REPLY_TIMEOUT_MS 10000 /* a stop or dump writes a snapshot first: allow for a big one */

enum { MAX_DIRS = 8 };

typedef struct {
    char dir[MAX_DIRS][256];
    int n;
} dirs_t;

static void add_dir(dirs_t *d, const char *fmt, unsigned long v, const char *s)
{
    if (d->n >= MAX_DIRS)
        return;
    char buf[256];
    if (s)
        snprintf(buf, sizeof buf, "%s/" PS_CTL_DIR_XDG, s);
    else
        snprintf(buf, sizeof buf, fmt, v);
    for (int i = 0; i < d->n; i++)
        if (strcmp(d->dir[i], buf) == 0)
            return;
    memcpy(d->dir[d->n++], buf, sizeof buf);
}

/* The directories where a process of uid may have put its socket, most likely first. */
static void dirs_for(dirs_t *d, uid_t uid)
{
    add_dir(d, "/run/user/%lu/" PS_CTL_DIR_XDG, (unsigned long)uid, NULL);
    add_dir(d, PS_CTL_DIR_TMP "%lu", (unsigned long)uid, NULL);
}

static void candidate_dirs(dirs_t *d, long pid)
{
    d->n = 0;
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    if (xdg && xdg[0] == '/')
        add_dir(d, NULL, 0, xdg);
    char proc[64];
    struct stat st;
    snprintf(proc, sizeof proc, "/proc/%ld", pid);
    if (pid > 0 && stat(proc, &st) == 0)
        dirs_for(d, st.st_uid);
    dirs_for(d, geteuid());
    dirs_for(d, 0);
}

static int sock_path(char *out, size_t size, const char *dir, long pid)
{
    int n = snprintf(out, size, "%s/%ld" PS_CTL_SUFFIX, dir, pid);
    return n > 0 && (size_t)n < sizeof(((struct sockaddr_un *)0)->sun_path) && (size_t)n < size
               ? 0
               : -1;
}

static int connect_path(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* transact's answer when the process closed the connection without a word: its peer check
 * refused us, or its control channel had just closed (the program closed the socket's
 * descriptor; the shim then makes the socket again at the same path: docs/security.md). */
#define UNANSWERED (-1)

static int refused(long pid)
{
    /* A process that ended while we asked (its exit closes the channel) is gone, not a
     * refusal; one of our own uid (or any, for root) cannot have refused us by uid. */
    if (kill((pid_t)pid, 0) != 0 && errno == ESRCH) {
        pa_msg_error("ctl: process %ld ended before it answered", pid);
        return PA_CTL_EXIT_NOPROC;
    }
    char proc[64];
    struct stat st;
    snprintf(proc, sizeof proc, "/proc/%ld", pid);
    if (geteuid() == 0 || (stat(proc, &st) == 0 && st.st_uid == geteuid()))
        pa_msg_error("ctl: process %ld closed the connection without an answer: its control "
                     "channel had just closed (the process is exiting, or closed the socket's "
                     "descriptor and the shim has not made it again); try again",
                     pid);
    else
        pa_msg_error("ctl: permission denied: process %ld accepts only its own user (uid) or "
                     "root, and this is uid %lu (or its control channel just closed)",
                     pid, (unsigned long)geteuid());
    return PA_CTL_EXIT_PERM;
}

/* One request, one reply. 0, UNANSWERED, or a PA_CTL_EXIT_* status with a message printed. */
static int transact(int fd, long pid, const ps_ctl_request_t *in, ps_ctl_reply_t *rp)
{
    ps_ctl_request_t rq = *in;
    rq.magic = PS_CTL_MAGIC;
    rq.version = PS_CTL_VERSION;
    if (send(fd, &rq, sizeof rq, MSG_NOSIGNAL) != (ssize_t)sizeof rq) {
        if (errno == EPIPE || errno == ECONNRESET)
            goto refused;
        pa_msg_error("ctl: cannot send to process %ld: %s", pid, strerror(errno));
        return PA_CTL_EXIT_COMM;
    }
    size_t got = 0;
    while (got < sizeof *rp) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = poll(&p, 1, REPLY_TIMEOUT_MS);
        if (r == 0) {
            pa_msg_error("ctl: process %ld did not answer within %d s", pid,
                         REPLY_TIMEOUT_MS / 1000);
            return PA_CTL_EXIT_COMM;
        }
        ssize_t n = r < 0 ? -1 : recv(fd, (char *)rp + got, sizeof *rp - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (got == 0 && (n == 0 || (n < 0 && errno == ECONNRESET)))
            goto refused; /* closed without a word (a reset: our request was unread): the
                             peer check failed */
        if (n <= 0) {
            pa_msg_error("ctl: process %ld: %s", pid, n < 0 ? strerror(errno) : "reply cut short");
            return PA_CTL_EXIT_COMM;
        }
        got += (size_t)n;
    }
    if (rp->magic != PS_CTL_MAGIC) {
        pa_msg_error("ctl: process %ld sent a malformed reply", pid);
        return PA_CTL_EXIT_COMM;
    }
    rp->text[sizeof rp->text - 1] = 0;
    return 0;
refused:
    return UNANSWERED;
}

/* After an unanswered request: 1 once the socket at path is another one than *was (the shim made
 * it again after the program closed its descriptor), within about 2 s; 0 if it stays the same
 * (a refusal by uid) or the process is gone. The file system may give the new file the inode
 * number the old one just freed: its change time tells them apart. */
static int socket_remade(const char *path, long pid, const struct stat *was)
{
    for (int i = 0; i < 40; i++) {
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode) &&
            (st.st_ino != was->st_ino || st.st_dev != was->st_dev ||
             st.st_ctim.tv_sec != was->st_ctim.tv_sec ||
             st.st_ctim.tv_nsec != was->st_ctim.tv_nsec))
            return 1;
        if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
            return 0;
        nanosleep(&(struct timespec){.tv_nsec = 50 * 1000 * 1000}, NULL);
    }
    return 0;
}

/* Connect to pid's socket (its path and identity in path_out, *sock). fd >= 0, or
 * -(PA_CTL_EXIT_*) with a message printed. */
static int open_process(long pid, char *path_out, size_t size, struct stat *sock)
{
    if (kill((pid_t)pid, 0) != 0 && errno == ESRCH) {
        pa_msg_error("ctl: no such process: %ld", pid);
        return -PA_CTL_EXIT_NOPROC;
    }
    dirs_t d;
    candidate_dirs(&d, pid);
    int denied = 0, stale = 0;
    char path[256], denied_path[256] = "";
    for (int i = 0; i < d.n; i++) {
        struct stat st;
        if (sock_path(path, sizeof path, d.dir[i], pid) != 0)
            continue;
        if (lstat(path, &st) != 0) {
            if (errno == EACCES && !denied) {
                denied = 1;
                snprintf(denied_path, sizeof denied_path, "%s", d.dir[i]);
            }
            continue;
        }
        if (!S_ISSOCK(st.st_mode))
            continue;
        int fd = connect_path(path);
        if (fd >= 0) {
            snprintf(path_out, size, "%s", path);
            *sock = st;
            return fd;
        }
        if (errno == EACCES || errno == EPERM) {
            denied = 1;
            snprintf(denied_path, sizeof denied_path, "%s", path);
        } else if (errno == ECONNREFUSED) {
            stale = 1;
        }
    }
    if (denied) {
        pa_msg_error("ctl: permission denied: cannot reach %s (the control socket of process %ld "
                     "belongs to another user; run perfshim ctl as that user or root)",
                     denied_path, pid);
        return -PA_CTL_EXIT_PERM;
    }
    pa_msg_error("ctl: process %ld has no %scontrol socket: it was not started with "
                 "PERFSHIM_CONTROL=1 or PERFSHIM_START=off (or the shim is not loaded)",
                 pid, stale ? "live " : "");
    return -PA_CTL_EXIT_NOSOCK;
}

/* The value of key in a status reply ("key=value" lines), copied into out. */
static const char *status_field(const char *text, const char *key, char *out, size_t size)
{
    size_t k = strlen(key);
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (strncmp(l, key, k) == 0 && l[k] == '=') {
            size_t n = strcspn(l + k + 1, "\n");
            if (n >= size)
                n = size - 1;
            memcpy(out, l + k + 1, n);
            out[n] = 0;
            return out;
        }
    }
    snprintf(out, size, "?");
    return out;
}

static void program_name(long pid, char *out, size_t size)
{
    char p[64];
    snprintf(p, sizeof p, "/proc/%ld/comm", pid);
    FILE *f = fopen(p, "r");
    if (!f || !fgets(out, (int)size, f))
        snprintf(out, size, "?");
    else
        out[strcspn(out, "\n")] = 0;
    if (f)
        fclose(f);
}

/* --list: every socket in this user's directories; sockets of processes that are gone (or
 * that nobody answers on) are removed, in directories that are ours and private only. */
static int list(void)
{
    dirs_t d;
    d.n = 0;
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    if (xdg && xdg[0] == '/')
        add_dir(&d, NULL, 0, xdg);
    dirs_for(&d, geteuid());
    int shown = 0;
    printf("%-8s %-5s %-8s %-9s %s\n", "PID", "MODE", "SECTION", "INTERVAL", "PROGRAM");
    for (int i = 0; i < d.n; i++) {
        struct stat st;
        if (lstat(d.dir[i], &st) != 0 || !S_ISDIR(st.st_mode))
            continue;
        int ours = st.st_uid == geteuid() && !(st.st_mode & 077);
        if (!ours) {
            pa_msg_warn("ctl: %s is not a private directory of this user; skipped", d.dir[i]);
            continue;
        }
        DIR *dir = opendir(d.dir[i]);
        if (!dir)
            continue;
        struct dirent *e;
        while ((e = readdir(dir))) {
            char *end;
            long pid = strtol(e->d_name, &end, 10);
            if (pid <= 0 || strcmp(end, PS_CTL_SUFFIX) != 0)
                continue;
            char path[512];
            snprintf(path, sizeof path, "%s/%s", d.dir[i], e->d_name);
            int gone = kill((pid_t)pid, 0) != 0 && errno == ESRCH;
            int fd = gone ? -1 : connect_path(path);
            struct stat ss;
            /* A live process binds, then listens: a socket made in the last few seconds that
             * refuses may be one that is starting. Left alone. */
            if (fd < 0 && !gone && errno == ECONNREFUSED && lstat(path, &ss) == 0 &&
                ss.st_mtime + 5 > time(NULL))
                continue;
            if (fd < 0 && (gone || errno == ECONNREFUSED)) {
                if (unlink(path) == 0)
                    fprintf(stderr, "perfshim: ctl: removed the stale socket %s (%s)\n", path,
                            gone ? "process gone" : "nobody answers: the pid was reused");
                else
                    pa_msg_warn("ctl: stale socket %s: cannot remove it: %s", path,
                                strerror(errno));
                continue;
            }
            ps_ctl_reply_t rp;
            ps_ctl_request_t rq = {.cmd = PS_CTL_STATUS};
            int rc = fd < 0 ? 0 : transact(fd, pid, &rq, &rp);
            if (fd < 0 || rc != 0) {
                if (rc == UNANSWERED)
                    refused(pid);
                if (fd >= 0)
                    close(fd);
                continue;
            }
            close(fd);
            char mode[64], sec[16], iv[32], prog[64];
            status_field(rp.text, "mode", mode, sizeof mode);
            mode[strcspn(mode, " ")] = 0;
            program_name(pid, prog, sizeof prog);
            printf("%-8ld %-5s %-8s %-9s %s\n", pid, mode,
                   status_field(rp.text, "section", sec, sizeof sec),
                   status_field(rp.text, "interval", iv, sizeof iv), prog);
            shown++;
        }
        closedir(dir);
    }
    if (!shown)
        fprintf(stderr, "perfshim: ctl: no process of this user has a control socket\n");
    return PA_CTL_EXIT_OK;
}

int pa_ctl_main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--list") == 0)
        return list();
    if (argc < 3) {
        pa_msg_error("ctl: usage: perfshim ctl PID status|start|stop|dump|sample BYTES|full|"
                     "interval T, or perfshim ctl --list");
        return PA_EXIT_USAGE;
    }
    char *end;
    long pid = strtol(argv[1], &end, 10);
    if (*end || pid <= 0) {
        pa_msg_error("ctl: '%s' is not a process id", argv[1]);
        return PA_EXIT_USAGE;
    }
    const char *c = argv[2];
    uint32_t cmd = 0;
    ps_ctl_request_t rq;
    memset(&rq, 0, sizeof rq);
    int want_arg = 0;
    if (strcmp(c, "status") == 0)
        cmd = PS_CTL_STATUS;
    else if (strcmp(c, "start") == 0)
        cmd = PS_CTL_START;
    else if (strcmp(c, "stop") == 0)
        cmd = PS_CTL_STOP;
    else if (strcmp(c, "dump") == 0)
        cmd = PS_CTL_DUMP;
    else if (strcmp(c, "full") == 0)
        cmd = PS_CTL_SAMPLE; /* arg 0: full tracking */
    else if (strcmp(c, "sample") == 0 || strcmp(c, "interval") == 0)
        want_arg = 1;
    if (!cmd && !want_arg) {
        pa_msg_error("ctl: unknown command '%s' (status, start, stop, dump, sample BYTES, full, "
                     "interval T)",
                     c);
        return PA_EXIT_USAGE;
    }
    if (argc != 3 + want_arg) {
        pa_msg_error("ctl: %s takes %s", c, want_arg ? "one argument" : "no argument");
        return PA_EXIT_USAGE;
    }
    if (want_arg && strcmp(c, "sample") == 0) {
        cmd = PS_CTL_SAMPLE;
        unsigned long long v = strtoull(argv[3], &end, 10);
        /* one suffix, powers of 1024, as PERFSHIM_SAMPLE takes it: 512k */
        const char *units = "kMGT", *u = *end ? strchr(units, *end) : NULL;
        if (u && !end[1] && v <= (~0ull >> (10 * (u - units + 1)))) {
            v <<= 10 * (u - units + 1);
            end++;
        }
        if (*end || argv[3][0] == '-' || v == 0) {
            pa_msg_error("ctl: sample takes a mean interval in bytes (1 or more, or with k, M, "
                         "G or T: 512k), or use 'full'");
            return PA_EXIT_USAGE;
        }
        rq.arg = v;
    } else if (want_arg) { /* checked by the process, with PERFSHIM_INTERVAL's own parser */
        cmd = PS_CTL_INTERVAL;
        if (strlen(argv[3]) >= sizeof rq.word) {
            pa_msg_error("ctl: interval '%s' is too long", argv[3]);
            return PA_EXIT_USAGE;
        }
        memcpy(rq.word, argv[3], strlen(argv[3]) + 1);
    }
    rq.cmd = cmd;
    char path[256];
    struct stat sock;
    int fd = open_process(pid, path, sizeof path, &sock);
    if (fd < 0)
        return -fd;
    ps_ctl_reply_t rp;
    int rc = transact(fd, pid, &rq, &rp);
    close(fd);
    /* The program had just closed the socket's descriptor: the request went to the old socket,
     * which nobody reads. Sent once more to the new one, when the shim has made it. */
    if (rc == UNANSWERED && socket_remade(path, pid, &sock)) {
        /* bound before it listens: refused for a moment */
        for (int i = 0; (fd = connect_path(path)) < 0 && errno == ECONNREFUSED && i < 40; i++)
            nanosleep(&(struct timespec){.tv_nsec = 50 * 1000 * 1000}, NULL);
        rc = fd < 0 ? UNANSWERED : transact(fd, pid, &rq, &rp);
        if (fd >= 0)
            close(fd);
    }
    if (rc == UNANSWERED)
        return refused(pid);
    if (rc != 0)
        return rc;
    if (rp.status != PS_CTL_OK) {
        pa_msg_error("ctl: process %ld: %s", pid, rp.text);
        /* an argument the process refused to parse is a usage error, like one we refuse */
        return rp.status == PS_CTL_INVALID ? PA_EXIT_USAGE : PA_CTL_EXIT_REFUSED;
    }
    fputs(rp.text, stdout);
    if (rp.text[0] && rp.text[strlen(rp.text) - 1] != '\n')
        fputc('\n', stdout);
    return PA_CTL_EXIT_OK;
}
