/* SPDX-License-Identifier: MIT */
/*
 * run.c — `perfshim run`: prepends libperfshim.so to LD_PRELOAD, points PERFSHIM_TRACE_LIST at a
 * private temporary file (the shim appends the path of every trace it creates), runs the command,
 * waits, and reports the leaks of each listed trace in order. Text reports go to stderr so they
 * do not mix into the command's own stdout; JSON goes to stdout (an array, one object per trace).
 *
 * While the command runs, SIGINT and SIGQUIT are ignored here (as system(3) does): ^C stops the
 * command, and the report of what it wrote so far still appears.
 *
 * Compile-time: PA_INSTALL_LIBDIR, the install directory of libperfshim.so.
 */
#include "run.h"

#include "report.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef PA_INSTALL_LIBDIR
#define PA_INSTALL_LIBDIR "/usr/local/lib"
#endif

#define PA_LIB_NAME "libperfshim.so"

int pa_run_find_lib(char *out, size_t size)
{
    const char *env = getenv("PERFSHIM_LIB");
    if (env && *env) {
        char real[PATH_MAX];
        if (access(env, R_OK) != 0 || !realpath(env, real)) {
            pa_msg_error("PERFSHIM_LIB=%s: %s", env, strerror(errno));
            return PA_EIO;
        }
        /* absolute: the command and its children may change directory before they exec */
        snprintf(out, size, "%s", real);
        return PA_OK;
    }
    char cand[3][PATH_MAX + 64];
    int ncand = 0;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0;
            snprintf(cand[ncand++], sizeof cand[0], "%s/../lib/%s", exe, PA_LIB_NAME);
            snprintf(cand[ncand++], sizeof cand[0], "%s/%s", exe, PA_LIB_NAME);
        }
    }
    snprintf(cand[ncand++], sizeof cand[0], "%s/%s", PA_INSTALL_LIBDIR, PA_LIB_NAME);
    for (int i = 0; i < ncand; i++) {
        char real[PATH_MAX];
        if (access(cand[i], R_OK) == 0 && realpath(cand[i], real)) {
            snprintf(out, size, "%s", real);
            return PA_OK;
        }
    }
    pa_str_t tried = {0};
    for (int i = 0; i < ncand; i++)
        pa_str_printf(&tried, "%s%s", i ? ", " : "", cand[i]);
    pa_msg_error("cannot find %s (tried %s); set PERFSHIM_LIB to its path", PA_LIB_NAME,
                 pa_str_get(&tried));
    pa_str_free(&tried);
    return PA_EIO;
}

static int set_preload(const char *lib)
{
    if (strpbrk(lib, ": ")) {
        pa_msg_error("%s: LD_PRELOAD cannot hold a path with ':' or ' '; set PERFSHIM_LIB to "
                     "another path",
                     lib);
        return PA_EUSAGE;
    }
    const char *old = getenv("LD_PRELOAD");
    pa_str_t v = {0};
    pa_str_puts(&v, lib);
    if (old && *old)
        pa_str_printf(&v, ":%s", old);
    int rc = v.failed || setenv("LD_PRELOAD", pa_str_get(&v), 1) != 0 ? PA_ENOMEM : PA_OK;
    pa_str_free(&v);
    return rc;
}

/* PERFSHIM_MAX_TRACE writes a process's trace in pieces, PATH then PATH.part2, PATH.part3, ...,
 * and lists only PATH, the first (docs/trace-format.md, "Pieces"): the state at exit is in the
 * last piece. The latest PATH.partN, if any, not older than PATH (an older one is a stale piece
 * of an earlier process that used the same name); else PATH. */
static int latest_piece(const char *path, pa_strlist_t *out)
{
    const char *slash = strrchr(path, '/');
    const char *name = slash ? slash + 1 : path;
    size_t nlen = strlen(name);
    char dirpath[PATH_MAX];
    snprintf(dirpath, sizeof dirpath, "%.*s", slash ? (int)(slash - path) + 1 : 1,
             slash ? path : ".");
    struct stat first;
    DIR *d = stat(path, &first) == 0 ? opendir(dirpath) : NULL;
    if (!d)
        return pa_strlist_add(out, path);
    unsigned long best = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *n = de->d_name, *tail = n + nlen;
        if (strncmp(n, name, nlen) != 0 || strncmp(tail, ".part", 5) != 0 || tail[5] < '1' ||
            tail[5] > '9')
            continue;
        char *end;
        unsigned long k = strtoul(tail + 5, &end, 10);
        if (*end || k <= best)
            continue;
        char piece[PATH_MAX + 32];
        struct stat st;
        snprintf(piece, sizeof piece, "%.*s%s", (int)(name - path), path, n);
        if (stat(piece, &st) == 0 && S_ISREG(st.st_mode) && st.st_mtime >= first.st_mtime)
            best = k;
    }
    closedir(d);
    if (!best)
        return pa_strlist_add(out, path);
    return pa_strlist_addf(out, "%s.part%lu", path, best);
}

/* The trace's directory, when the template names one without % patterns, must exist: else
 * every process of the command would warn that it cannot create its trace, and the report would
 * only say that no trace was written. 0, or -1 (message printed). */
static int check_output_dir(const char *tmpl)
{
    const char *slash = tmpl ? strrchr(tmpl, '/') : NULL;
    if (!slash || slash == tmpl)
        return 0;
    char dir[PATH_MAX];
    if ((size_t)(slash - tmpl) >= sizeof dir || memchr(tmpl, '%', (size_t)(slash - tmpl)))
        return 0;
    memcpy(dir, tmpl, (size_t)(slash - tmpl));
    dir[slash - tmpl] = 0;
    struct stat st;
    if (stat(dir, &st) != 0) {
        pa_msg_error("cannot write traces to %s: %s (create the directory first)", dir,
                     strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        pa_msg_error("cannot write traces to %s: not a directory", dir);
        return -1;
    }
    return 0;
}

/* Reads the trace list: one path per line, each replaced by its latest piece. */
static int read_list(const char *path, pa_strlist_t *out)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        pa_msg_error("cannot read the trace list %s: %s", path, strerror(errno));
        return PA_EIO;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = PA_OK;
    while (rc == PA_OK && (len = getline(&line, &cap, f)) >= 0) {
        if (len > 0 && line[len - 1] == '\n')
            line[--len] = 0;
        if (len > 0)
            rc = latest_piece(line, out);
    }
    free(line);
    fclose(f);
    return rc;
}

/* Forks and execs cmd; *status gets the wait status. PA_EIO: it could not be started (message
 * printed). */
static int spawn(char *const *cmd, int *status)
{
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0) {
        pa_msg_error("cannot create a pipe: %s", strerror(errno));
        return PA_EIO;
    }
    struct sigaction ign = {.sa_handler = SIG_IGN}, old_int, old_quit;
    sigemptyset(&ign.sa_mask);
    sigaction(SIGINT, &ign, &old_int);
    sigaction(SIGQUIT, &ign, &old_quit);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGQUIT, &old_quit, NULL);
        close(pfd[0]);
        execvp(cmd[0], cmd);
        int e = errno;
        if (write(pfd[1], &e, sizeof e) < 0) {
            /* nothing more to say: the parent sees the exit status */
        }
        _exit(127);
    }
    int rc = PA_OK;
    close(pfd[1]);
    if (pid < 0) {
        pa_msg_error("cannot fork: %s", strerror(errno));
        rc = PA_EIO;
    } else {
        int e = 0;
        ssize_t n;
        do
            n = read(pfd[0], &e, sizeof e);
        while (n < 0 && errno == EINTR);
        while (waitpid(pid, status, 0) < 0 && errno == EINTR) {
        }
        if (n == (ssize_t)sizeof e) {
            pa_msg_error("cannot run %s: %s", cmd[0], strerror(e));
            rc = PA_EIO;
        }
    }
    close(pfd[0]);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGQUIT, &old_quit, NULL);
    return rc;
}

typedef struct {
    const pa_run_opts_t *o;
    bool leaked; /* some trace had leaks */
} run_each_t;

/* The reports of one trace: leaks, then locks and hot when asked (one JSON object each). */
static int run_one(pa_trace_t *t, void *ctx, FILE *out, pa_json_t *j)
{
    run_each_t *e = ctx;
    const pa_run_opts_t *o = e->o;
    pa_leaks_totals_t tot;
    int rc = pa_leaks_report(t, &o->leaks, out, j, &tot);
    if (tot.failing)
        e->leaked = true;
    if (rc == PA_OK && o->locks) {
        pa_locks_opts_t lo = {.json = o->leaks.json,
                              .top = PA_LOCKS_DEFAULT_TOP,
                              .sites = PA_LOCKS_DEFAULT_SITES,
                              .all_frames = o->leaks.all_frames};
        if (!lo.json)
            fputs("\n\n", out);
        rc = pa_locks_report(t, &lo, out, j);
    }
    if (rc == PA_OK && o->hot) {
        pa_hot_opts_t ho = {
            .json = o->leaks.json, .top = PA_HOT_DEFAULT_TOP, .all_frames = o->leaks.all_frames};
        if (!ho.json)
            fputs("\n\n", out);
        rc = pa_hot_report(t, &ho, out, j);
    }
    return rc;
}

int pa_run_command(const pa_run_opts_t *o, char *const *cmd)
{
    char lib[PATH_MAX + 64];
    if (pa_run_find_lib(lib, sizeof lib) != PA_OK)
        return PA_EXIT_USAGE;
    if (set_preload(lib) != PA_OK)
        return PA_EXIT_USAGE;
    if (o->output && setenv("PERFSHIM_OUTPUT", o->output, 1) != 0)
        return PA_EXIT_USAGE;
    if (check_output_dir(getenv("PERFSHIM_OUTPUT")) != 0)
        return PA_EXIT_USAGE;
    /* lock timing is on under `perfshim run` unless the user chose (docs/options.md) */
    if (setenv("PERFSHIM_LOCKS", "1", 0) != 0)
        return PA_EXIT_USAGE;

    const char *tmpdir = getenv("TMPDIR");
    if (!tmpdir || !*tmpdir)
        tmpdir = "/tmp";
    /* The list is a file in a private directory, both removed once read: a process of the
     * command that outlives it (a daemon) then finds no directory to create the list in, and
     * leaves nothing behind in TMPDIR (the shim says nothing about a list that is gone). */
    char dir[PATH_MAX], list[PATH_MAX + 16];
    snprintf(dir, sizeof dir, "%s/perfshim-run.XXXXXX", tmpdir);
    if (!mkdtemp(dir)) {
        pa_msg_error("cannot create a temporary directory in %s: %s", tmpdir, strerror(errno));
        return PA_EXIT_USAGE;
    }
    snprintf(list, sizeof list, "%s/traces", dir);
    int fd = open(list, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        pa_msg_error("cannot create %s: %s", list, strerror(errno));
        rmdir(dir);
        return PA_EXIT_USAGE;
    }
    close(fd);
    if (setenv("PERFSHIM_TRACE_LIST", list, 1) != 0) {
        unlink(list);
        rmdir(dir);
        return PA_EXIT_USAGE;
    }

    int status = 0;
    if (spawn(cmd, &status) != PA_OK) {
        unlink(list);
        rmdir(dir);
        return 127;
    }
    int code;
    if (WIFEXITED(status)) {
        code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        code = 128 + WTERMSIG(status);
        pa_msg_error("%s was killed by signal %d (%s)", cmd[0], WTERMSIG(status),
                     strsignal(WTERMSIG(status)));
    } else {
        code = 1;
    }

    pa_strlist_t traces = {0};
    int rc = read_list(list, &traces);
    unlink(list);
    rmdir(dir);
    bool leaked = false;
    FILE *out = o->leaks.json ? stdout : stderr;
    if (rc == PA_OK && traces.n == 0) {
        pa_msg_error("%s wrote no trace (a statically linked or set-uid program, "
                     "PERFSHIM_MODE=off, or killed before its first snapshot)",
                     cmd[0]);
        if (o->leaks.json)
            fputs("[]\n", out);
        rc = PA_ENOSNAPSHOT; /* nothing was checked: never report success */
    } else if (rc == PA_OK) {
        if (!o->leaks.json)
            fputc('\n', out);
        run_each_t e = {o, false};
        size_t nosnap = 0;
        pa_each_opts_t eo = {
            .json = o->leaks.json, .quiet = o->leaks.quiet, .as_array = true, .nosnap = &nosnap};
        rc = pa_report_each_file(traces.items, traces.n, &eo, out, run_one, &e);
        leaked = e.leaked;
        /* A process of the command killed before its exit snapshot (a pool's worker ended with
         * SIGTERM, a child killed by its parent): its trace was said above to have none. Not a
         * failure of the command or of perfshim, unless no trace at all could be checked. */
        if (nosnap == traces.n) {
            if (rc == PA_OK)
                rc = PA_ENOSNAPSHOT;
        } else if (nosnap) {
            pa_msg_warn("%zu of %zu traces hold no snapshot: their processes were killed (or "
                        "crashed) before they wrote one, and their leaks are not checked",
                        nosnap, traces.n);
        }
    }
    pa_strlist_free(&traces);
    if (code != 0)
        return code;
    if (o->fail_on_leak && leaked)
        return PA_EXIT_FINDINGS;
    return rc == PA_OK ? PA_EXIT_OK : PA_EXIT_USAGE;
}
