/* SPDX-License-Identifier: MIT */
/*
 * control.c — control without a restart (issue 11): PERFSHIM_START=off (a dormant start),
 * PERFSHIM_CONTROL=1, the control channel `perfshim ctl` talks to, and trace sections.
 *
 * The channel exists only when enabled (PERFSHIM_START=off or PERFSHIM_CONTROL=1): then, and
 * only then, the shim owns one thread and one listening unix socket (docs/security.md, "The
 * control channel", says everything a program can see of them). The socket is
 * <dir>/<pid>.sock, dir being $XDG_RUNTIME_DIR/perfshim (when XDG_RUNTIME_DIR is a directory
 * of this user's) or /tmp/perfshim-<euid>: created 0700, and used only if it is a directory
 * (not a link) owned by the effective user with no access for others. Every connection's peer
 * is checked with SO_PEERCRED (same effective uid, or root) before a byte is read; a request is
 * one fixed-size record (include/control_format.h), read within a second, answered with one
 * fixed-size reply, and the connection is closed. The thread has every signal blocked, never
 * tracks its own calls (guard raised for its life) and waits for nothing the program holds.
 *
 * Sections: `stop` writes the section's last snapshot (reason stop) and END and closes the file;
 * `start` begins the next section in a new file (the first file's name + ".s<N>") that is a
 * complete trace on its own: PROCESS, SECTION, every stack, snapshots. Only allocations made
 * while tracking is on are counted: the counters' values at the start of the section are
 * subtracted at each snapshot (ps_control_rebase), and blocks of earlier sections are marked
 * (pool: a tag in the block's metadata; live table: a bit, track.c) so that their frees are
 * recognized and not counted.
 */
#include "internal.h"

#include "include/control_format.h"
#include "include/trace_format.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#define PATH_MAX_CTL 108 /* sun_path */
#define FD_FLOOR 500     /* our descriptors are moved to >= this, like the trace's */
#define READ_TIMEOUT_MS 1000
#define STACK_SIZE (256 * 1024)
#define WAKE_MS 1000           /* the control thread looks at its descriptor at least this often */
#define REMAKE_MAX 3           /* re-creations of the socket allowed within REMAKE_WINDOW_MS; the */
#define REMAKE_WINDOW_MS 30000 /* next loss in that window ends the channel (a closing loop) */

static int enabled;  /* the channel is wanted in this process */
static int sections; /* SECTION chunks are written (the channel is enabled) */
static int listen_fd = -1;
static dev_t listen_dev;  /* the listening socket's identity: the program may close or reuse */
static ino_t listen_ino;  /* its descriptor number (daemons close every descriptor) */
static uint32_t sock_pid; /* the process that created the socket file */
static char sock_path[PATH_MAX_CTL];
static char sock_dir_path[PATH_MAX_CTL]; /* its directory, and that directory's owner */
static uint32_t sock_dir_uid;
static uint64_t remade_ns[REMAKE_MAX]; /* when the socket was last re-created, a ring */
static unsigned remade;
static atomic_int thread_running;

static uint32_t section;          /* this process's current (or last) section; 0: none yet */
static uint32_t section_how;      /* enum ps_section_how */
static uint64_t section_start_ns; /* monotonic ns since process start */
static ps_counters_t *base;       /* counters when the open section began, [base_n + 1] */
static uint32_t base_n;
static size_t base_bytes;
static uint64_t base_untracked;

/* ---- sections -------------------------------------------------------------------------------- */

void ps_control_rebase(ps_counters_t *sum, uint32_t n, ps_totals_t *tot)
{
    if (!base)
        return;
    uint32_t m = n < base_n ? n : base_n;
    for (uint32_t id = 0; id <= m; id++) {
        const ps_counters_t *b = &base[id];
        ps_counters_t *c = &sum[id];
        c->allocs = c->allocs > b->allocs ? c->allocs - b->allocs : 0;
        c->alloc_bytes = c->alloc_bytes > b->alloc_bytes ? c->alloc_bytes - b->alloc_bytes : 0;
        c->frees = c->frees > b->frees ? c->frees - b->frees : 0;
        c->freed_bytes = c->freed_bytes > b->freed_bytes ? c->freed_bytes - b->freed_bytes : 0;
    }
    tot->allocs = tot->frees = tot->alloc_bytes = tot->freed_bytes = 0;
    for (uint32_t id = 0; id <= n; id++) {
        tot->allocs += sum[id].allocs;
        tot->frees += sum[id].frees;
        tot->alloc_bytes += sum[id].alloc_bytes;
        tot->freed_bytes += sum[id].freed_bytes;
    }
    tot->live_blocks = tot->allocs >= tot->frees ? tot->allocs - tot->frees : 0;
    tot->live_bytes =
        tot->alloc_bytes >= tot->freed_bytes ? tot->alloc_bytes - tot->freed_bytes : 0;
    long long peak = atomic_load_explicit(&ps_g.peak_live_bytes, memory_order_relaxed);
    tot->peak_live_bytes =
        peak > 0 && (uint64_t)peak > tot->live_bytes ? (uint64_t)peak : tot->live_bytes;
    tot->untracked_frees =
        tot->untracked_frees > base_untracked ? tot->untracked_frees - base_untracked : 0;
}

int ps_control_put_section(ps_buf_t *b)
{
    if (!sections)
        return 0;
    ps_buf_u32(b, section);
    ps_buf_u32(b, section_how);
    ps_buf_u64(b, section_start_ns);
    ps_buf_str(b, ps_writer_first_path());
    return 1;
}

/* Take what the counters hold now as the new section's zero. Tracking is off. */
static int take_base(void)
{
    uint32_t n = ps_stack_count();
    size_t bytes = ((size_t)n + 1) * sizeof(ps_counters_t);
    ps_counters_t *nb = ps_os_map(bytes);
    if (!nb)
        return -1;
    memset(nb, 0, bytes);
    ps_totals_t tot;
    ps_track_collect(nb, n, &tot);
    if (base)
        ps_os_unmap(base, base_bytes);
    base = nb;
    base_n = n;
    base_bytes = bytes;
    base_untracked = tot.untracked_frees;
    return 0;
}

/* The next section begins (how: enum ps_section_how): what was tracked so far is its zero, and
 * its file is a new one. 0, or -1 (no memory for the counters: nothing changed). */
static int begin_section(uint32_t how)
{
    if (section >= 1 || base) {
        /* Everything tracked so far belongs to an earlier section. */
        unsigned tag =
            ((atomic_load(&ps_g.section_bits) >> PS_SECTION_TAG_SHIFT) + 1) & PS_SECTION_TAG_MASK;
        atomic_store(&ps_g.section_bits, tag << PS_SECTION_TAG_SHIFT);
        ps_track_new_section();
        if (take_base() != 0)
            return -1;
    }
    if (section >= 1)
        ps_snapshot_new_section(section + 1);
    section++;
    section_how = how;
    section_start_ns = ps_os_monotonic_ns() - ps_g.start_monotonic_ns;
    atomic_store(&ps_g.live_bytes, 0);
    atomic_store(&ps_g.peak_live_bytes, 0);
    return 0;
}

/* An exec* failed after init.c wrote the exit snapshot and END (the file is complete and
 * closed): the process goes on in a new section's file, with or without the control channel,
 * never appending to a file that says it ended. Tracking is held off while the blocks tracked
 * so far are marked as the earlier section's (another thread's allocation in that moment is
 * not counted). */
int ps_control_exec_failed(void)
{
    if (!atomic_load(&ps_g.recording))
        return -1;
    int was = atomic_exchange(&ps_g.active, 0);
    sections = 1; /* the files from now on say which section they are */
    int rc = begin_section(PS_SECTION_EXEC);
    if (rc != 0)
        ps_msg_warn("an exec failed and the section's counters cannot be mapped: pid %u is not "
                    "traced further",
                    (unsigned)ps_g.pid);
    else if (was)
        atomic_store(&ps_g.active, 1);
    return rc;
}

static int do_start(char *text, size_t size)
{
    if (atomic_load(&ps_g.recording)) {
        ps_msg_snprintf(text, size, "already started (section %u)", (unsigned)section);
        return PS_CTL_REFUSED;
    }
    if (begin_section(PS_SECTION_CTL) != 0) {
        ps_msg_snprintf(text, size, "cannot map memory for the section's counters");
        return PS_CTL_FAILED;
    }
    atomic_store(&ps_g.recording, 1);
    if (ps_g.opt.track) {
        ps_set_hooks(1); /* with sampling on, its fast paths again */
        atomic_store(&ps_g.active, 1);
    }
    /* a server that dropped its privileges after a dormant start may not be able to create
     * the file its first snapshot needs: said now, not at the first dump */
    char why[PS_CTL_TEXT];
    if (ps_writer_probe(why, sizeof why) != 0)
        ps_msg_snprintf(text, size, "started: section %u; but %s", (unsigned)section, why);
    else
        ps_msg_snprintf(text, size, "started: section %u", (unsigned)section);
    return PS_CTL_OK;
}

static int do_stop(char *text, size_t size)
{
    if (!atomic_load(&ps_g.recording)) {
        ps_msg_snprintf(text, size, "already stopped");
        return PS_CTL_REFUSED;
    }
    atomic_store(&ps_g.active, 0);
    ps_set_hooks(0);
    /* Calls that saw tracking on a moment ago finish their records first (a few µs). */
    ps_os_sleep_ms(10);
    char path[512];
    int rc = ps_snapshot_write(PS_SNAP_STOP, 1);
    atomic_store(&ps_g.recording, 0);
    ps_snapshot_trace_path(path, sizeof path);
    if (rc != 0) {
        ps_msg_snprintf(text, size,
                        "stopped; the last snapshot of section %u could not be written%s%s",
                        (unsigned)section, ps_writer_failure()[0] ? ": " : "", ps_writer_failure());
        return PS_CTL_FAILED;
    }
    ps_msg_snprintf(text, size, "stopped: section %u written to %s", (unsigned)section, path);
    return PS_CTL_OK;
}

static size_t put_duration(char *out, size_t size, uint64_t ms)
{
    if (ms == 0)
        return ps_msg_snprintf(out, size, "off");
    if (ms % 1000 == 0)
        return ps_msg_snprintf(out, size, "%llus", (unsigned long long)(ms / 1000));
    return ps_msg_snprintf(out, size, "%llums", (unsigned long long)ms);
}

static int do_status(char *text, size_t size)
{
    char path[512], iv[32];
    ps_snapshot_trace_path(path, sizeof path);
    put_duration(iv, sizeof iv, ps_g.opt.interval_ms);
    long long live = atomic_load_explicit(&ps_g.live_bytes, memory_order_relaxed);
    int rec = atomic_load(&ps_g.recording);
    char sample[32];
    uint64_t mean = ps_sample_mean();
    if (mean)
        ps_msg_snprintf(sample, sizeof sample, "%llu", (unsigned long long)mean);
    else
        ps_msg_snprintf(sample, sizeof sample, "full");
    ps_msg_snprintf(text, size,
                    "pid=%u\nmode=%s\nsection=%u\ninterval=%s\nsample=%s\ntrace=%s\n"
                    "live_heap=%llu\nrss=%llu\n",
                    (unsigned)ps_os_pid(),
                    rec ? (ps_g.opt.track ? "on" : "on (timing only, PERFSHIM_TRACK=0)") : "off",
                    (unsigned)section, iv, sample,
                    path[0] && rec ? path
                    : rec          ? "(created at the first snapshot)"
                    : path[0]      ? path
                                   : "(none: not started)",
                    (unsigned long long)(rec && live > 0 ? live : 0),
                    (unsigned long long)ps_os_rss_bytes());
    return PS_CTL_OK;
}

static int handle(const ps_ctl_request_t *rq, char *text, size_t size)
{
    if (rq->magic != PS_CTL_MAGIC || rq->version != PS_CTL_VERSION || rq->reserved != 0 ||
        rq->cmd < 1 || rq->cmd > PS_CTL_CMD_MAX) {
        ps_msg_snprintf(text, size, "malformed request (perfshim ctl of another version?)");
        return PS_CTL_INVALID;
    }
    switch (rq->cmd) {
    case PS_CTL_STATUS:
        return do_status(text, size);
    case PS_CTL_START:
        return do_start(text, size);
    case PS_CTL_STOP:
        return do_stop(text, size);
    case PS_CTL_DUMP: {
        if (!atomic_load(&ps_g.recording)) {
            ps_msg_snprintf(text, size, "tracking is stopped: nothing to dump (start it first)");
            return PS_CTL_REFUSED;
        }
        char path[512];
        int rc = ps_snapshot_write(PS_SNAP_DUMP, 0);
        ps_snapshot_trace_path(path, sizeof path);
        if (rc == 0)
            ps_msg_snprintf(text, size, "snapshot written to %s", path);
        else if (ps_writer_failure()[0]) /* why: the program's stderr may be a log nobody reads */
            ps_msg_snprintf(text, size, "snapshot failed: %s", ps_writer_failure());
        else
            ps_msg_snprintf(text, size, "snapshot failed (%s)", path[0] ? path : "no trace");
        return rc == 0 ? PS_CTL_OK : PS_CTL_FAILED;
    }
    case PS_CTL_SAMPLE:
        /* arg 0 = full tracking; the only call site of sampling in the control channel */
        if (!ps_g.opt.track) { /* nothing is tracked, and the sampled paths were never set up */
            ps_msg_snprintf(text, size,
                            "sample: refused (this process runs with PERFSHIM_TRACK=0: "
                            "allocations are not tracked, so there is nothing to sample)");
            return PS_CTL_REFUSED;
        }
        if (ps_sample_set(rq->arg) != 0) {
            ps_msg_snprintf(text, size,
                            "sample: refused (a process can use at most 15 different means; "
                            "reuse one it used before, or full)");
            return PS_CTL_REFUSED;
        }
        if (rq->arg)
            ps_msg_snprintf(text, size, "sample=%llu", (unsigned long long)rq->arg);
        else
            ps_msg_snprintf(text, size, "sample=full");
        return PS_CTL_OK;
    case PS_CTL_INTERVAL: {
        uint64_t ms;
        if (!memchr(rq->word, 0, sizeof rq->word) ||
            ps_options_parse_duration(rq->word, &ms) != 0) {
            ps_msg_snprintf(text, size,
                            "interval: 0 (off), or 10ms to 7 days with a unit: "
                            "250ms, 10s, 2m, 1h");
            return PS_CTL_INVALID;
        }
        char iv[32];
        ps_snapshot_set_interval(ms);
        put_duration(iv, sizeof iv, ms);
        ps_msg_snprintf(text, size, "interval=%s", iv);
        return PS_CTL_OK;
    }
    }
    return PS_CTL_INVALID;
}

/* ---- the channel ----------------------------------------------------------------------------- */

static int same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* Is fd still the object whose identity is id? A number is ours only while it is: the program
 * may close any descriptor (a daemon closes them all) and get the number back at its next
 * open, and the shim must never read, write, accept on or close the program's descriptor. */
static int fd_is(int fd, const struct stat *id)
{
    struct stat st;
    return ps_os_fstat(fd, &st) == 0 && same_file(&st, id);
}

/* One connection: the peer's uid first (nothing is read from anyone else), then one request
 * read within READ_TIMEOUT_MS, one reply that never blocks, close. */
static void serve(int fd)
{
    /* The connection's number is the lowest free one, the one a program that has just closed
     * everything opens next: each use checks that it is still the connection. */
    struct stat id;
    if (ps_os_fstat(fd, &id) != 0 || !S_ISSOCK(id.st_mode))
        return; /* already not ours: nothing of it to close */
    uint32_t uid;
    uint32_t me = ps_os_euid();
    if (ps_os_peer_uid(fd, &uid) != 0 || (uid != me && uid != 0)) {
        if (fd_is(fd, &id))
            ps_os_close(fd);
        return;
    }
    ps_ctl_request_t rq;
    size_t got = 0;
    uint64_t deadline = ps_os_monotonic_ns() + READ_TIMEOUT_MS * 1000000ull;
    while (got < sizeof rq) {
        uint64_t now = ps_os_monotonic_ns();
        if (now >= deadline || ps_os_poll_in(fd, (int)((deadline - now) / 1000000u) + 1) <= 0 ||
            !fd_is(fd, &id))
            break;
        ssize_t r = ps_os_recv(fd, (char *)&rq + got, sizeof rq - got);
        if (r <= 0 && !(r < 0 && (errno == EAGAIN || errno == EINTR)))
            break;
        if (r > 0)
            got += (size_t)r;
    }
    if (got == sizeof rq && fd_is(fd, &id)) {
        ps_ctl_reply_t rp;
        memset(&rp, 0, sizeof rp);
        rp.magic = PS_CTL_MAGIC;
        rp.status = (uint32_t)handle(&rq, rp.text, sizeof rp.text);
        if (fd_is(fd, &id))                 /* the request may have taken a while (stop, dump) */
            ps_os_send(fd, &rp, sizeof rp); /* 1 KiB into an empty socket buffer: never blocks */
    }
    if (fd_is(fd, &id))
        ps_os_close(fd);
}

/* Is listen_fd still our socket? The program may have closed it (a daemon closing every
 * descriptor) or even reused the number for one of its own, which we must never accept on. */
static int still_ours(void)
{
    struct stat st;
    return listen_fd >= 0 && ps_os_fstat(listen_fd, &st) == 0 && st.st_dev == listen_dev &&
           st.st_ino == listen_ino;
}

static int open_listener(const char *path, char *why, size_t size);
static int check_dir(const char *dir, uint32_t uid);

/* The program closed our descriptor (a daemon closing every descriptor when it detaches, a
 * helper like erl_child_setup): make the socket again, at the same path, silently. The old
 * number is the program's now and is never closed. At most REMAKE_MAX times within
 * REMAKE_WINDOW_MS: a program that keeps closing it ends the channel. 0, or -1 with why set. */
static int remake(char *why, size_t size)
{
    char path[PATH_MAX_CTL]; /* a copy: exit may clear sock_path meanwhile (never bind "") */
    memcpy(path, sock_path, sizeof path);
    why[0] = 0;
    if (!path[0] || sock_pid != ps_os_pid())
        return -1; /* the process is exiting (ps_control_exit removed the socket): nothing lost */
    uint64_t now = ps_os_monotonic_ns();
    uint64_t oldest = remade_ns[remade % REMAKE_MAX];
    if (remade >= REMAKE_MAX && now - oldest < REMAKE_WINDOW_MS * 1000000ull) {
        ps_msg_snprintf(why, size,
                        "the program closed the descriptor of the control socket %s %u times "
                        "within %u s",
                        path, REMAKE_MAX + 1, REMAKE_WINDOW_MS / 1000);
        return -1;
    }
    listen_fd = -1;
    /* Our own file in our own directory (checked again: same owner, 0700, not a link); the
     * socket it named is gone, so the name is free to bind again. */
    if (check_dir(sock_dir_path, sock_dir_uid) != 0) {
        ps_msg_snprintf(why, size,
                        "the program closed the descriptor of the control socket %s, and %s "
                        "is no longer a directory of uid %u with mode 0700",
                        path, sock_dir_path, (unsigned)sock_dir_uid);
        return -1;
    }
    ps_os_unlink(path);
    char err[160];
    int rc = open_listener(path, err, sizeof err);
    if (rc == -2) {
        /* The program closed and reused a number we were using, mid-way: one more loss; the
         * next round tries again. */
        remade_ns[remade % REMAKE_MAX] = now;
        remade++;
        ps_os_sleep_ms(100);
        return 0;
    }
    if (rc != 0) {
        ps_msg_snprintf(why, size,
                        "the program closed the descriptor of the control socket %s, which "
                        "could not be made again (%s)",
                        path, err);
        return -1;
    }
    remade_ns[remade % REMAKE_MAX] = now;
    remade++;
    ps_msg_info("control socket %s made again (the program closed its descriptor)", path);
    return 0;
}

static void *control_main(void *arg)
{
    (void)arg;
    ps_tls_guard = 1; /* nothing this thread does is tracked */
    ps_os_set_thread_name("perfshim-ctl");
    char why[320];
    for (;;) {
        int timeout = ps_snapshot_idle_tick(); /* interval snapshots of an idle process too */
        /* At least once a second: a descriptor closed by another thread does not end a poll
         * (its socket lives on until poll returns), so still_ours() must look again. */
        if (timeout < 0 || timeout > WAKE_MS)
            timeout = WAKE_MS;
        if (!still_ours()) {
            if (remake(why, sizeof why) != 0)
                break;
            continue;
        }
        int r = ps_os_poll_in(listen_fd, timeout);
        if (r < 0 && errno != EINTR && still_ours())
            ps_os_sleep_ms(100);     /* a failing poll on our own socket: no busy loop */
        if (r <= 0 || !still_ours()) /* not ours any more: made again at the top */
            continue;
        int fd = ps_os_accept(listen_fd);
        if (fd >= 0)
            serve(fd);
    }
    /* The channel ends (not the interval snapshots the program's own allocations write). The
     * user asked for it and cannot have it any more: that is worth the one line. */
    listen_fd = -1; /* the old number is the program's: never closed */
    if (why[0])
        ps_msg_warn("%s; perfshim ctl cannot reach pid %u any more", why, (unsigned)ps_os_pid());
    ps_control_exit();
    atomic_store(&thread_running, 0);
    return NULL;
}

/* dir exists (created 0700 if not) and is a directory (not a link) owned by uid with no
 * access for group or others. 0, or -1 with errno (EPERM: it is not such a directory). */
static int check_dir(const char *dir, uint32_t uid)
{
    struct stat st;
    if (ps_os_mkdir(dir, 0700) != 0 && errno != EEXIST)
        return -1;
    if (ps_os_lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != uid ||
        (st.st_mode & 077)) {
        errno = EPERM;
        return -1;
    }
    return 0;
}

/* The directory for this user's sockets, created if need be and checked (check_dir). 0, or
 * -1 (warned). */
static int socket_dir(char *dir, size_t size)
{
    uint32_t uid = ps_os_euid();
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    struct stat st;
    if (xdg && xdg[0] == '/' && ps_os_lstat(xdg, &st) == 0 && S_ISDIR(st.st_mode) &&
        st.st_uid == uid)
        ps_msg_snprintf(dir, size, "%s/" PS_CTL_DIR_XDG, xdg);
    else
        ps_msg_snprintf(dir, size, PS_CTL_DIR_TMP "%u", (unsigned)uid);
    if (check_dir(dir, uid) != 0) {
        if (errno == EPERM)
            ps_msg_warn("%s is not a directory of uid %u with mode 0700 (someone else's, or a "
                        "link); no control channel",
                        dir, (unsigned)uid);
        else
            ps_msg_warn("cannot create the control directory %s: %s; no control channel", dir,
                        strerror(errno));
        return -1;
    }
    return 0;
}

/* Close the transient descriptor fd (a low number socket() returned) only while it is still
 * our object id: the program may have closed the number and opened one of its own there. */
static void close_transient(int fd, const struct stat *id)
{
    if (fd_is(fd, id))
        ps_os_close(fd);
}

/* A new unix socket at FD_FLOOR or above, close-on-exec; its identity in *id. socket() returns
 * the lowest free number, which a thread of the program that closes every descriptor may close
 * and reuse at any moment: the socket is taken as ours only if the high copy is the object the
 * low number held just after socket() returned, and the low number is closed only while it
 * still is (docs/security.md, "The control channel", says what remains). -1 with errno. */
static int new_socket(struct stat *id)
{
    int low = ps_os_unix_socket();
    if (low < 0)
        return -1;
    if (ps_os_fstat(low, id) != 0 || !S_ISSOCK(id->st_mode)) {
        errno = EBADF; /* the program took the number already: nothing of it is ours */
        return -1;
    }
    int high = ps_os_dup_above(low, FD_FLOOR);
    if (high < 0)
        return low; /* no room above the floor (a low RLIMIT_NOFILE): keep the number */
    struct stat st;
    if (ps_os_fstat(high, &st) != 0 || !same_file(&st, id)) {
        if (fd_is(low, id)) {
            /* The copy was ours, and the program has taken its number since: not ours. */
            close_transient(low, id);
        } else if (ps_os_fstat(high, &st) == 0 && !S_ISREG(st.st_mode)) {
            /* The copy is of the program's object, opened at the low number between our two
             * calls: our copy is closed, never the program's number. A regular file's copy
             * stays open (closing any descriptor of a file drops the process's POSIX record
             * locks on it). */
            ps_os_close(high);
        }
        errno = EBADF;
        return -1;
    }
    close_transient(low, id);
    return high;
}

/* Bind fd at path, exclusively: an existing name is used only if it is a socket that nobody
 * answers on (left by a process that died or exec'ed with this pid), which is removed first.
 * Our own directory: nobody else can have put anything there. */
static int bind_socket(int fd, const char *path)
{
    if (ps_os_unix_bind(fd, path) == 0)
        return 0;
    if (errno != EADDRINUSE)
        return -1;
    struct stat st, probe_id;
    int probe = new_socket(&probe_id);
    int stale = probe >= 0 && ps_os_lstat(path, &st) == 0 && S_ISSOCK(st.st_mode) &&
                fd_is(probe, &probe_id) && ps_os_unix_connect(probe, path) != 0 &&
                errno == ECONNREFUSED;
    if (probe >= 0)
        close_transient(probe, &probe_id);
    if (!stale) {
        errno = EADDRINUSE;
        return -1;
    }
    ps_os_unlink(path);
    return ps_os_unix_bind(fd, path);
}

/* The listening socket at path (mode 0600, backlog 8), its number and identity recorded in
 * listen_fd, listen_dev, listen_ino. 0, or -1 with what failed in why (-2: the program took a
 * number new_socket was using; worth another try). */
static int open_listener(const char *path, char *why, size_t size)
{
    struct stat id;
    int fd = new_socket(&id);
    if (fd < 0) {
        int race = errno == EBADF;
        ps_msg_snprintf(why, size, "cannot create the control socket: %s", strerror(errno));
        return race ? -2 : -1;
    }
    if (bind_socket(fd, path) != 0 || ps_os_chmod(path, 0600) != 0 || ps_os_listen(fd, 8) != 0) {
        ps_msg_snprintf(why, size, "cannot listen on the control socket %s: %s", path,
                        strerror(errno));
        close_transient(fd, &id);
        return -1;
    }
    listen_dev = id.st_dev;
    listen_ino = id.st_ino;
    listen_fd = fd;
    return 0;
}

static void start_channel(void)
{
    char dir[PATH_MAX_CTL];
    if (socket_dir(dir, sizeof dir) != 0)
        return;
    uint32_t pid = ps_os_pid();
    char path[PATH_MAX_CTL];
    size_t n = ps_msg_snprintf(path, sizeof path, "%s/%u" PS_CTL_SUFFIX, dir, (unsigned)pid);
    if (n + 1 >= sizeof path) {
        ps_msg_warn("the control socket's path %s is too long; no control channel", dir);
        return;
    }
    char why[256];
    if (open_listener(path, why, sizeof why) != 0) {
        ps_msg_warn("%s; no control channel", why);
        return;
    }
    sock_pid = pid;
    memcpy(sock_path, path, n + 1);
    memcpy(sock_dir_path, dir, strlen(dir) + 1);
    sock_dir_uid = ps_os_euid();
    remade = 0;

    /* The thread: created with libc's pthread_create (not the interposed one: it is not one of
     * the program's threads, has no CPU timer and is not listed in THREADS), every signal
     * blocked (set here and inherited: the program's handlers never run on it). */
    int (*create)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *) =
        (int (*)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *))ps_real_function(
            "pthread_create");
    pthread_attr_t attr;
    pthread_t th;
    sigset_t all, old;
    sigfillset(&all);
    int rc = -1;
    if (create && pthread_attr_init(&attr) == 0) {
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&attr, STACK_SIZE);
        ps_real_pthread_sigmask(SIG_SETMASK, &all, &old);
        rc = create(&th, &attr, control_main, NULL);
        ps_real_pthread_sigmask(SIG_SETMASK, &old, NULL);
        pthread_attr_destroy(&attr);
    }
    if (rc != 0) {
        ps_msg_warn("cannot start the control thread; no control channel");
        ps_os_unlink(sock_path);
        if (still_ours())
            ps_os_close(listen_fd);
        listen_fd = -1;
        sock_path[0] = 0;
        return;
    }
    atomic_store(&thread_running, 1);
    ps_msg_info("control socket %s", sock_path);
}

int ps_control_init(void)
{
    int dormant = ps_g.opt.start == 0;
    enabled = dormant || ps_g.opt.control;
    sections = enabled;
    section = dormant ? 0 : 1;
    section_how = PS_SECTION_AT_START;
    atomic_store(&ps_g.recording, !dormant);
    if (enabled)
        start_channel();
    return !dormant;
}

int ps_control_setuid(int which, uid_t r, uid_t e, uid_t s)
{
    static const char *const names[] = {"setuid", "seteuid", "setreuid", "setresuid"};
    static void *real[4];
    void *fn = __atomic_load_n(&real[which], __ATOMIC_RELAXED);
    if (!fn) {
        fn = ps_real_function(names[which]);
        if (!fn) {
            errno = ENOSYS;
            return -1;
        }
        __atomic_store_n(&real[which], fn, __ATOMIC_RELAXED);
    }
    /* The effective uid after the call: setuid's is uid (as root; else it only changes the
     * real one, and then it is the same), the others' is e unless -1. */
    uid_t to = e;
    if (to != (uid_t)-1 && ps_g.tracing && !ps_tls_guard && ps_os_pid() == ps_g.pid &&
        (uint32_t)to != ps_os_euid()) {
        int saved = errno;
        ps_snapshot_prepare_drop((uint32_t)to, (uint32_t)-1);
        errno = saved;
    }
    switch (which) {
    case PS_SETUID:
        return ((int (*)(uid_t))fn)(r);
    case PS_SETEUID:
        return ((int (*)(uid_t))fn)(e);
    case PS_SETREUID:
        return ((int (*)(uid_t, uid_t))fn)(r, e);
    default:
        return ((int (*)(uid_t, uid_t, uid_t))fn)(r, e, s);
    }
}

int ps_control_chroot(const char *path)
{
    static void *real;
    void *fn = __atomic_load_n(&real, __ATOMIC_RELAXED);
    if (!fn) {
        fn = ps_real_function("chroot");
        if (!fn) {
            errno = ENOSYS;
            return -1;
        }
        __atomic_store_n(&real, fn, __ATOMIC_RELAXED);
    }
    if (ps_g.tracing && !ps_tls_guard && ps_os_pid() == ps_g.pid) {
        int saved = errno;
        ps_snapshot_prepare_chroot();
        errno = saved;
    }
    return ((int (*)(const char *))fn)(path);
}

/* In a forked child (fork handler, one thread): the parent's socket is not ours to serve, and
 * the parent's thread does not exist here. The child gets its own socket and thread. */
void ps_control_fork_child(void)
{
    if (still_ours()) /* the number may be the program's by now: then it is not closed */
        ps_os_close(listen_fd);
    listen_fd = -1;
    sock_path[0] = 0;
    atomic_store(&thread_running, 0);
    if (atomic_load(&ps_g.recording) && section > 1)
        section = 1; /* the child's first file (its name is the child's own) */
    if (enabled)
        start_channel();
}

void ps_control_exit(void)
{
    if (sock_path[0] && sock_pid == ps_os_pid()) {
        ps_os_unlink(sock_path);
        sock_path[0] = 0;
    }
}
