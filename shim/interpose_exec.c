/* SPDX-License-Identifier: MIT */
/*
 * interpose_exec.c — the exec family, exported: a process that replaces its program (a shell
 * script's `exec java`, make's recipes, wrapper scripts, python's os.execv) writes its final
 * snapshot and END first, as at exit (init.c, ps_init_exec_begin); the new program, same pid,
 * writes a trace of its own. Each function of the family needs its own interposer: glibc's
 * execv, execvp, execl* and fexecve call execve inside libc, not through the PLT, so an
 * interposed execve alone sees none of them. posix_spawn's child execs inside libc too: the
 * parent goes on, and that child has no state of ours to write.
 *
 * An exec that returned failed: the process goes on, traced in a new section's file
 * (ps_init_exec_failed). A shell looks a command up by trying execve on every directory of PATH
 * (dash, busybox) and most tries fail at once, so the snapshot is written only when the file
 * exists as an executable regular file (a stat, or the PATH search execvp will do): a missing
 * file costs nothing and the trace goes on as it was. A vfork child passes straight through
 * (init.c compares the pid), and so does every call when the shim is not tracing.
 *
 * execl, execle and execlp copy their arguments into an array on the stack (as glibc does) and
 * call libc's execv, execve and execvp. Only forwards and the look-up: the logic is in init.c.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PS_API PS_EXPORT

typedef int (*execve_fn)(const char *, char *const[], char *const[]);
typedef int (*execv_fn)(const char *, char *const[]);
typedef int (*fexecve_fn)(int, char *const[], char *const[]);
typedef int (*execveat_fn)(int, const char *, char *const[], char *const[], int);

enum { F_EXECVE, F_EXECV, F_EXECVP, F_EXECVPE, F_FEXECVE, F_EXECVEAT, F_COUNT };
static const char *const names[F_COUNT] = {"execve",  "execv",   "execvp",
                                           "execvpe", "fexecve", "execveat"};
static void *real[F_COUNT];

/* Looked up at the first call (not at start: integration_footprint), from libc's symbol table
 * (ps_real_function): no lock, no allocation, so a vfork child may do it too. */
static void *real_of(int i)
{
    void *fn = __atomic_load_n(&real[i], __ATOMIC_RELAXED);
    if (!fn) {
        fn = ps_real_function(names[i]);
        __atomic_store_n(&real[i], fn, __ATOMIC_RELAXED);
    }
    if (!fn)
        errno = ENOSYS;
    return fn;
}

/* Worth a look at the file: this process is traced and is no vfork child (init.c checks again). */
static int wanted(void)
{
    return ps_g.tracing && atomic_load_explicit(&ps_g.recording, memory_order_relaxed) &&
           ps_os_pid() == ps_g.pid;
}

static int runnable(const struct stat *st)
{
    return S_ISREG(st->st_mode) && (st->st_mode & (S_IXUSR | S_IXGRP | S_IXOTH));
}

/* The exec of path may succeed: an executable regular file is there. */
static int may_run(const char *path)
{
    struct stat st;
    return path && path[0] && ps_os_stat(path, &st) == 0 && runnable(&st);
}

/* The same for execvp's look-up of file: a name with a slash as it is, else each directory
 * of PATH (glibc's default when unset; an empty entry is the current directory). */
static int may_run_path(const char *file)
{
    if (!file || !file[0])
        return 0;
    if (strchr(file, '/'))
        return may_run(file);
    const char *path = getenv("PATH");
    if (!path)
        path = "/bin:/usr/bin";
    size_t flen = strlen(file);
    char buf[4096];
    for (const char *p = path;; p++) {
        size_t dlen = ps_str_span(p, ':');
        if (dlen + 1 + flen < sizeof buf) {
            size_t n = 0;
            if (dlen) {
                memcpy(buf, p, dlen);
                n = dlen;
                buf[n++] = '/';
            }
            memcpy(buf + n, file, flen + 1);
            if (may_run(buf))
                return 1;
        }
        p += dlen;
        if (!*p)
            return 0;
    }
}

/* glibc declares these arguments nonnull, but a NULL is the caller's to pass (execl(path, NULL)
 * runs path with an empty argv): the compiler must not assume otherwise. */
static const char *maybe_null(const char *p)
{
    __asm__("" : "+r"(p));
    return p;
}

/* execl's argument list: arg, then the pointers of ap up to a NULL (not counted). */
static int count_args(const char *arg, va_list ap)
{
    int n = 0;
    if (maybe_null(arg))
        for (n = 1; va_arg(ap, const char *); n++)
            ;
    return n;
}

/* argv[0..n] from that list: n pointers, then NULL; ap is left after the list's NULL. */
static void fill_args(const char **argv, int n, const char *arg, va_list *ap)
{
    argv[0] = arg;
    for (int i = 1; i < n; i++)
        argv[i] = va_arg(*ap, const char *);
    if (n > 0)
        (void)va_arg(*ap, const char *); /* the NULL that ends the list */
    argv[n] = NULL;
}

/* In execl, execlp, execle: va_list ap and argv, an array on the stack (as glibc's own). */
#define ARGV_FROM_LIST(arg, argv, ap)                                                              \
    va_list ap, ap##_count;                                                                        \
    va_start(ap, arg);                                                                             \
    va_copy(ap##_count, ap);                                                                       \
    int argv##_n = count_args(arg, ap##_count);                                                    \
    va_end(ap##_count);                                                                            \
    const char *argv[argv##_n + 1];                                                                \
    fill_args(argv, argv##_n, arg, &ap)

PS_API int execve(const char *path, char *const argv[], char *const envp[])
{
    execve_fn fn = (execve_fn)real_of(F_EXECVE);
    if (!fn)
        return -1;
    int began = wanted() && may_run(path) ? ps_init_exec_begin("execve") : 0;
    int rc = fn(path, argv, envp);
    ps_init_exec_failed(began);
    return rc;
}

PS_API int execv(const char *path, char *const argv[])
{
    execv_fn fn = (execv_fn)real_of(F_EXECV);
    if (!fn)
        return -1;
    int began = wanted() && may_run(path) ? ps_init_exec_begin("execv") : 0;
    int rc = fn(path, argv);
    ps_init_exec_failed(began);
    return rc;
}

PS_API int execvp(const char *file, char *const argv[])
{
    execv_fn fn = (execv_fn)real_of(F_EXECVP);
    if (!fn)
        return -1;
    int began = wanted() && may_run_path(file) ? ps_init_exec_begin("execvp") : 0;
    int rc = fn(file, argv);
    ps_init_exec_failed(began);
    return rc;
}

PS_API int execvpe(const char *file, char *const argv[], char *const envp[])
{
    execve_fn fn = (execve_fn)real_of(F_EXECVPE);
    if (!fn)
        return -1;
    int began = wanted() && may_run_path(file) ? ps_init_exec_begin("execvpe") : 0;
    int rc = fn(file, argv, envp);
    ps_init_exec_failed(began);
    return rc;
}

PS_API int fexecve(int fd, char *const argv[], char *const envp[])
{
    fexecve_fn fn = (fexecve_fn)real_of(F_FEXECVE);
    if (!fn)
        return -1;
    struct stat st;
    int began =
        wanted() && ps_os_fstat(fd, &st) == 0 && runnable(&st) ? ps_init_exec_begin("fexecve") : 0;
    int rc = fn(fd, argv, envp);
    ps_init_exec_failed(began);
    return rc;
}

PS_API int execveat(int dirfd, const char *path, char *const argv[], char *const envp[], int flags)
{
    execveat_fn fn = (execveat_fn)real_of(F_EXECVEAT);
    if (!fn)
        return -1;
    /* Checked when the file is named without dirfd (an absolute path, or dirfd itself with
     * AT_EMPTY_PATH); a path relative to dirfd is assumed runnable. */
    struct stat st;
    int may = !maybe_null(path)                     ? 0
              : !path[0] && (flags & AT_EMPTY_PATH) ? ps_os_fstat(dirfd, &st) == 0 && runnable(&st)
              : path[0] == '/' || dirfd == AT_FDCWD ? may_run(path)
                                                    : 1;
    int began = may && wanted() ? ps_init_exec_begin("execveat") : 0;
    int rc = fn(dirfd, path, argv, envp, flags);
    ps_init_exec_failed(began);
    return rc;
}

PS_API int execl(const char *path, const char *arg, ...)
{
    ARGV_FROM_LIST(arg, argv, ap);
    va_end(ap);
    return execv(path, (char *const *)argv);
}

PS_API int execlp(const char *file, const char *arg, ...)
{
    ARGV_FROM_LIST(arg, argv, ap);
    va_end(ap);
    return execvp(file, (char *const *)argv);
}

/* After the list's NULL: envp. */
PS_API int execle(const char *path, const char *arg, ...)
{
    ARGV_FROM_LIST(arg, argv, ap);
    char *const *envp = va_arg(ap, char *const *);
    va_end(ap);
    return execve(path, (char *const *)argv, envp);
}
