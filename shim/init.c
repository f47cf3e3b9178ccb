/* SPDX-License-Identifier: MIT */
/*
 * init.c — the life of the shim in a process: the constructor (options, real allocator,
 * tables, unwinders, fork handlers), fork, and the final snapshot however the process ends:
 * exit() and a return from main (the destructor), _exit and _Exit (interpose_exit.c),
 * quick_exit (an at_quick_exit handler), and the end of the image at exec* (interpose_exec.c).
 *
 * Until the constructor has run, and forever in PERFSHIM_MODE=off, set-uid programs
 * (AT_SECURE) and valgrind's guests, every call passes straight to glibc. Internal failure at init
 * leaves the shim in that pass-through state with one warning: the host always runs.
 */
#include "internal.h"
#include "pool.h"
#include "timing.h"

#include "include/trace_format.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/single_threaded.h>

ps_global_t ps_g;
extern ps_global_t ps_g_hot __attribute__((alias("ps_g")));
__thread int ps_tls_guard __attribute__((tls_model("initial-exec")));
__thread int ps_tls_locks __attribute__((tls_model("initial-exec")));

static atomic_int final_written;  /* the final snapshot of this process is written (or begun) */
static void (*real_exit_fn)(int); /* libc's _exit */

/* Every lock a snapshot takes is taken here, so that a child's final snapshot (at exit, or at
 * _exit right after fork) never waits for a thread that does not exist in the child.
 *
 * Unless the process never had a second thread (glibc's __libc_single_threaded: a shell, make,
 * a configure script — most forks): then no other thread can hold one of those locks, and
 * none is taken. Taking them wrote some twenty pages of the shim's data (a lock per size class,
 * per live-table shard, ...) just before fork, and releasing them after it cost a copy-on-write
 * fault per page in the parent and again in the child: about 40 page faults per fork, a fifth
 * of what the pool added to a configure script (docs/performance.md, "Short processes"). */
static int fork_took_locks; /* written before fork only: both sides read their copy */

static void fork_prepare(void)
{
    ps_tls_guard++;
    fork_took_locks = !__libc_single_threaded;
    if (!fork_took_locks)
        return;
    ps_unw_fork_prepare(); /* before any lock: the thread loading libunwind may allocate */
    ps_snapshot_fork_prepare();
    ps_modules_fork_prepare();
    ps_cpu_fork_prepare();
    ps_stack_fork_prepare();
    ps_track_fork_prepare();
    ps_pool_fork_prepare(); /* the pool's locks are the innermost but one */
    ps_msg_fork_prepare();  /* any code may warn while it holds a lock */
}

static void fork_parent(void)
{
    if (fork_took_locks) {
        ps_msg_fork_parent();
        ps_pool_fork_parent();
        ps_track_fork_parent();
        ps_stack_fork_parent();
        ps_cpu_fork_parent();
        ps_modules_fork_parent();
        ps_snapshot_fork_parent();
    }
    ps_tls_guard--;
}

static void fork_child(void)
{
    if (fork_took_locks) {
        ps_msg_fork_child();
        ps_pool_fork_child();
        ps_track_fork_child();
        ps_stack_fork_child();
        ps_modules_fork_child();
    } else {
        ps_pool_fork_child_caches();
    }
    ps_sample_fork_child();
    ps_cpu_fork_child(fork_took_locks);
    ps_snapshot_fork_child(fork_took_locks);
    ps_unw_fork_child();
    ps_inherit_fork_child(ps_g.pid); /* ps_g.pid is still the parent's */
    ps_g.pid = ps_os_pid();
    if (atomic_load_explicit(&final_written, memory_order_relaxed))
        atomic_store(&final_written, 0);
    if (ps_g.tracing) {
        ps_threads_fork_child();
        ps_control_fork_child();
    }
    ps_tls_guard--;
}

void ps_set_hooks(int on)
{
    int hooks = ps_g.latency_on  ? 1
                : !on            ? 0
                : !ps_g.sampling ? 1
                : ps_g.pool_on   ? PS_HOOKS_SAMPLE
                                 : PS_HOOKS_DIRECT;
    __atomic_store_n(&ps_g.hooks, hooks, __ATOMIC_RELEASE);
    if (ps_interpose_select)
        ps_interpose_select(hooks);
}

static void on_quick_exit(void);

/* The timing features (issue 4): each one that fails to start says so and stays off. */
static void start_timing(void)
{
    if (ps_threads_init() != 0)
        ps_msg_warn("cannot map the thread table; threads are not listed");
    if (ps_zones_init() != 0)
        ps_msg_warn("cannot map the zone table; perfshim_zone_begin/end do nothing");
    if (ps_g.opt.locks) {
        if (ps_locks_init() == 0)
            ps_g.locks_on = 1;
        else
            ps_msg_warn("cannot map the lock table; PERFSHIM_LOCKS is off");
    }
    ps_locks_bypass(); /* unless lock timing is on */
    if (ps_g.opt.latency_sample > 0) {
        if (ps_latency_init() == 0) {
            ps_g.latency_on = 1;
            ps_set_hooks(1);
        } else {
            ps_msg_warn("cannot map the latency histograms; PERFSHIM_LATENCY_SAMPLE is off");
        }
    }
    if (ps_g.opt.cpu_hz > 0 && ps_cpu_init() != 0)
        ps_msg_warn("cannot start CPU sampling (SIGPROF handler or timer); PERFSHIM_CPU_HZ is off");
}

/* A valgrind tool's own preload (vgpreload_<tool>-<arch>.so, beside vgpreload_core) is loaded:
 * the tools that have one replace the malloc family. */
static int vgpreload_tool(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    (void)data;
    const char *name = info->dlpi_name ? info->dlpi_name : "";
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    return strncmp(base, "vgpreload_", 10) == 0 && strncmp(base, "vgpreload_core", 14) != 0;
}

static int valgrind_replaces_malloc(void)
{
    return ps_os_under_valgrind() && dl_iterate_phdr(vgpreload_tool, NULL) != 0;
}

void ps_init_process(void)
{
    if (ps_g.initialized)
        return;
    ps_g.initialized = 1;
    ps_tls_guard++;
    ps_g.pid = ps_os_pid();
    ps_msg_init(); /* which file stderr is, before any line is written */
    real_exit_fn = (void (*)(int))ps_real_libc_symbol("_exit"); /* for every mode */
    ps_g.start_realtime_ns = ps_os_realtime_ns();
    ps_g.start_monotonic_ns = ps_os_monotonic_ns();
    ps_g.start_ticks = ps_ticks();
    if (ps_os_is_secure()) {
        /* set-uid/set-gid/capabilities: the environment belongs to a less privileged user.
         * Read none of it (not even to warn about a bad value), write no file: ps_g.opt stays
         * all zero, which is PS_MODE_OFF. */
        ps_g.opt.mode = PS_MODE_OFF;
        goto out;
    }
    if (valgrind_replaces_malloc()) {
        /* A guest of a valgrind tool that brings its own allocator (memcheck, massif, helgrind,
         * drd, dhat), LD_PRELOAD inherited (`perfshim run -- valgrind prog`): the tool replaces
         * our malloc, free, calloc, realloc and the aligned ones, but not reallocarray (3.19)
         * nor what we call inside, so pool blocks reached valgrind's free ("Invalid free()" in
         * the program's report), the trace counted allocations whose frees it never saw (false
         * leaks), and the exit's leak scan read uninitialised stack ("Conditional jump ...
         * reach.c"). Pass-through, as for AT_SECURE: the tool's report is the one asked for. No
         * warning (stderr is the program's and the tool's). Callgrind and cachegrind replace
         * nothing: the shim runs there as anywhere (scripts/text_order.py relies on it). */
        ps_g.opt.mode = PS_MODE_OFF;
        goto out;
    }
    ps_options_load(&ps_g.opt);
    if (ps_g.opt.fault_map > 0)
        ps_os_fault_map_setup((uint64_t)ps_g.opt.fault_map, ps_g.opt.fault_persist);
    if (ps_g.opt.mode == PS_MODE_OFF)
        goto out;
    if (ps_g.opt.pool) {
        /* Initialize glibc's malloc now, on this thread, while the process is single-threaded.
         * With the pool serving every small request, glibc's first malloc could otherwise come
         * from several worker threads at once (their first large request), and glibc's lazy
         * ptmalloc_init is not thread-safe: both threads attach to main_arena while its
         * attached_threads count stays 1, and the second to exit aborts in
         * __malloc_arena_thread_freeres ("a->attached_threads > 0"). Seen in tests/stress. */
        ps_real_free(ps_real_malloc(1));
        ps_pool_config_t pc = {
            .max_size = (size_t)ps_g.opt.pool_max,
            .decay_ns = ps_g.opt.pool_decay_ms < 0 ? PS_POOL_DECAY_NEVER
                                                   : (uint64_t)ps_g.opt.pool_decay_ms * 1000000u,
        };
        if (ps_pool_init(&pc) == 0)
            ps_g.pool_on = 1;
        else
            ps_msg_warn("the pool could not reserve its address space; small requests go to "
                        "the C library");
    }
    if (ps_g.opt.mode == PS_MODE_POOL) {
        pthread_atfork(fork_prepare, fork_parent, fork_child);
        ps_locks_bypass(); /* no lock timing in this mode */
        goto out;
    }

    ps_os_readlink("/proc/self/exe", ps_g.exe, sizeof ps_g.exe);
    ps_os_cwd(ps_g.cwd, sizeof ps_g.cwd);

    if (ps_real_init() != 0 || ps_track_init() != 0 || ps_stack_init() != 0)
        goto out; /* each says what failed, once */
    /* Registered from our constructor, before the program's: our prepare handler runs last
     * and our child handler first, so other libraries' handlers may still allocate. */
    pthread_atfork(fork_prepare, fork_parent, fork_child);
    ps_g.tracing = 1;
    ps_snapshot_interval_init();
    /* Registered first, so it runs after every handler of the program's (they may free). */
    at_quick_exit(on_quick_exit);
    start_timing();
    if (ps_g.opt.track) {
        /* The sampled-block bitmap even when dormant: `perfshim ctl PID sample` may turn
         * sampling on later, and its free path reads the bitmap. PERFSHIM_SAMPLE with
         * PERFSHIM_START=off sets the mean now; `start` then picks the sampled hooks. */
        if (ps_g.opt.start)
            ps_set_hooks(1);
        if (ps_sample_init() == 0 && ps_g.opt.sample > 0)
            ps_sample_set((uint64_t)ps_g.opt.sample); /* hooks: the sampled fast path */
        if (ps_g.opt.start)
            atomic_store(&ps_g.active, 1);
    }
    /* PERFSHIM_START, PERFSHIM_CONTROL: the control channel, if enabled, starts here */
    int on = ps_control_init();
    /* No control channel: the mode is final; the program's calls skip the exports' table. Not
     * with full tracking or allocator latency (hooks 1), which a jump does not matter to. */
    if (on && !ps_g.opt.control && ps_g.hooks > 1 && ps_interpose_bind)
        ps_interpose_bind();
    ps_msg_info("%s %s (pid %u)",
                !on              ? "dormant (PERFSHIM_START=off)"
                : ps_g.opt.track ? "tracking"
                                 : "timing",
                ps_g.exe, (unsigned)ps_g.pid);
out:
    ps_tls_guard--;
}

int ps_init_snapshot(int reason)
{
    if (!ps_g.tracing)
        return -1;
    return ps_snapshot_write(reason, 0);
}

/* The start-up code leaves the RSS. A small process's peak RSS is at exit, and the shim's code
 * counts in it by 64 KiB fault-around windows: what every run executes later, the final snapshot
 * included, is linked first, in the code segment's first window, and the code only start-up runs
 * (options, the pool's and the tables' set-up, the loader's lookups: 16 KiB) right after it
 * (scripts/text_order.py, with lld's segments aligned to the window). Once the constructor is
 * done, the pages after that first window are unmapped: they are clean pages of the file, which
 * the next caller of cold code maps again from the page cache. Not when a page there is a
 * private copy (a debugger's breakpoint, a uprobe: unmapping would drop it), nor in a link
 * without the aligned segments (no lld: no order). docs/performance.md, "Sampling's peak RSS:
 * the start-up code out of the first window". This function and what it calls run after
 * ps_init_process returns: the order lists them in the first window. */
#define CODE_WINDOW ((uintptr_t)64 << 10) /* the kernel's fault-around */
static void drop_init_code(void)
{
    struct dl_find_object fo;
    if (_dl_find_object((void *)&drop_init_code, &fo) != 0 || !fo.dlfo_link_map)
        return;
    uintptr_t start = (uintptr_t)fo.dlfo_map_start, end = (uintptr_t)fo.dlfo_map_end;
    const ElfW(Ehdr) *eh = fo.dlfo_map_start;
    if (end - start < sizeof *eh || eh->e_phentsize != sizeof(ElfW(Phdr)) ||
        eh->e_phoff > end - start || (end - start - eh->e_phoff) / sizeof(ElfW(Phdr)) < eh->e_phnum)
        return;
    const ElfW(Phdr) *ph = (const ElfW(Phdr) *)(start + eh->e_phoff);
    uintptr_t base = fo.dlfo_link_map->l_addr, page = ps_os_page_size();
    for (unsigned i = 0; i < eh->e_phnum; i++) {
        if (ph[i].p_type != PT_LOAD || !(ph[i].p_flags & PF_X))
            continue;
        uintptr_t lo = base + ph[i].p_vaddr, hi = (lo + ph[i].p_memsz) & ~(page - 1);
        if (ph[i].p_align < CODE_WINDOW || lo % CODE_WINDOW != 0 || hi <= lo + CODE_WINDOW)
            return;
        lo += CODE_WINDOW;
        if (ps_os_private_pages((const void *)lo, hi - lo) == 0)
            ps_os_drop_file_pages((const void *)lo, hi - lo);
        return;
    }
}

__attribute__((constructor(101))) static void ps_constructor(void)
{
    ps_init_process();
    drop_init_code();
}

/*
 * The final snapshot, once per process, however it ends. Not written:
 *  - in a vfork child (or any clone that shares our memory without our fork handlers: its
 *    recorded pid is still its parent's). It may only exec or _exit, and writing a snapshot
 *    would change the parent's state (the writer's file and buffers, counters, locks) under
 *    the parent's feet. Its parent's trace already covers that memory.
 *  - when this thread was interrupted inside the shim or inside a change of the loader's list
 *    of objects (a signal handler that calls _exit, which is async-signal-safe): the snapshot
 *    would wait for a lock this very thread holds, or walk a list half updated (holding only
 *    dl_load_lock, as an exit() in a plugin's constructor does, is fine: the list changes
 *    under dl_load_write_lock). One warning says so.
 * Other threads may run meanwhile, as during exit(); after fork, the fork handlers left every
 * lock the snapshot takes free in the child.
 *
 * While it is written, this thread blocks the signals others can send (ps_os_block_signals).
 * Without the shim, _exit is one system call: a SIGTERM sent after it is lost on a process
 * that is already gone. With the shim, the snapshot takes milliseconds (the leak scan longer),
 * and multiprocessing.Pool's terminate() SIGTERMs the workers it has just told to end, as they
 * write it: their traces had no snapshot and `perfshim run` failed a healthy program. After
 * _exit the signals stay blocked to the end (exit_group discards them: the process ends with
 * its own status, as it would have without us); after exit() and quick_exit, where libraries'
 * destructors still run, the mask is restored and a signal that came meanwhile is delivered
 * then, the snapshot complete. Only this thread: a multi-threaded process's other threads may
 * still take a fatal signal (README, Known limitations).
 */
static void final_snapshot(const char *how, int from_exit_call)
{
    if (!ps_g.tracing || ps_os_pid() != ps_g.pid)
        return;
    if (ps_tls_guard || ps_tls_locks || ps_unw_loader_held_here(0)) {
        if (!atomic_exchange(&final_written, 1))
            ps_msg_warn_unkept("%s was called while this thread was inside perfshim or the "
                               "dynamic loader (from a signal handler): pid %u writes no final "
                               "snapshot",
                               how, (unsigned)ps_g.pid);
        return;
    }
    if (atomic_exchange(&final_written, 1))
        return; /* another thread is writing it (exit and _exit at once) */
    uint64_t mask;
    int blocked = ps_os_block_signals(&mask) == 0;
    ps_snapshot_write(PS_SNAP_EXIT, 1);
    atomic_store(&ps_g.active, 0);
    ps_g.tracing = 0;
    ps_g.locks_on = 0;
    ps_g.latency_on = 0;
    if (ps_g.opt.verbose)
        ps_msg_info("%llu stack(s) interned; %llu walk(s) needed libunwind (%s; %llu stack(s) "
                    "cut short); %llu internal memory request(s) (PERFSHIM_FAULT_MAP counts "
                    "these)",
                    (unsigned long long)ps_stack_count(), (unsigned long long)ps_unwind_fallbacks(),
                    ps_unw_loaded() ? "loaded" : "not loaded", (unsigned long long)ps_unw_cuts(),
                    (unsigned long long)ps_os_map_requests());
    ps_writer_close();
    if (blocked && !from_exit_call)
        ps_os_restore_signals(mask);
}

/* The program is about to install a seccomp filter (interpose_sandbox.c). From then on any
 * system call of ours the filter does not expect (creating the trace, reading /proc, unlinking
 * the control socket, loading libunwind) may kill the process (SECCOMP_RET_KILL: OpenSSH's
 * pre-auth child, libseccomp users), so the process's last snapshot is written now, before the
 * filter, with its END, and the process is traced no further: its trace ends where the sandbox
 * begins (a message in the trace says so). The pool goes on serving the program, as it does
 * after the exit snapshot. */
void ps_init_sandbox(const char *how)
{
    if (!ps_g.tracing || ps_os_pid() != ps_g.pid || ps_tls_guard || ps_tls_locks ||
        ps_unw_loader_held_here(0))
        return;
    if (atomic_exchange(&final_written, 1))
        return;
    int saved = errno;
    char text[160];
    ps_msg_snprintf(text, sizeof text,
                    "the program installed a seccomp filter (%s): tracing ended there, with "
                    "this snapshot",
                    how);
    ps_msg_record(text);
    ps_snapshot_write(PS_SNAP_DUMP, 1);
    atomic_store(&ps_g.active, 0);
    ps_g.tracing = 0;
    ps_g.locks_on = 0;
    ps_g.latency_on = 0;
    ps_writer_close();
    ps_control_exit();
    errno = saved;
}

/* exec* is about to replace the program (interpose_exec.c). The process does not end, but its
 * image does: without a snapshot now, what it did since its last snapshot would be lost, and its
 * trace would have no END. So the final snapshot is written as at exit (same chunks, same
 * conditions, the signals others can send blocked meanwhile), flagged PS_SNAP_F_EXEC, with END,
 * and the file is closed. Not in a vfork child (its exec is its parent's business: the shim's
 * state is the parent's), not in a dormant or stopped process (nothing to end), not when this
 * thread is inside the shim or the loader, not in a forked child that has no trace yet and
 * tracked no allocation since the fork (a shell's or make's fork+exec: its trace would hold only
 * its parent's state, and every command would leave one more trace). The signal mask is
 * restored before the exec: the new program inherits the mask it would have had. Other threads may
 * still allocate until the exec ends them; what they do after the snapshot is not in it. */
int ps_init_exec_begin(const char *how)
{
    if (!ps_g.tracing || ps_os_pid() != ps_g.pid || ps_tls_guard || ps_tls_locks ||
        ps_unw_loader_held_here(0) || !atomic_load(&ps_g.recording))
        return 0;
    int saved = errno;
    if (!ps_snapshot_started() && ps_inherit_idle_since_fork()) {
        errno = saved;
        return 0; /* a fork+exec child with nothing of its own: no trace (ps_inherit_*) */
    }
    if (atomic_exchange(&final_written, 1)) {
        errno = saved;
        return 0; /* exit or another exec is writing it */
    }
    uint64_t mask;
    int blocked = ps_os_block_signals(&mask) == 0;
    if (ps_g.opt.verbose)
        ps_msg_info("%s: pid %u writes its snapshot before the new program", how,
                    (unsigned)ps_g.pid);
    ps_snapshot_write_exec();
    ps_writer_close();
    if (blocked)
        ps_os_restore_signals(mask);
    errno = saved;
    return 1;
}

/* The exec returned (failed): the program goes on, and so does its tracking, in a new section's
 * file (control.c); a later exit or exec ends that one. */
void ps_init_exec_failed(int began)
{
    if (!began)
        return;
    int saved = errno;
    ps_tls_guard++;
    if (ps_control_exec_failed() == 0)
        atomic_store(&final_written, 0);
    ps_tls_guard--;
    errno = saved;
}

/* Runs after the program's own destructors and atexit handlers (they were registered later,
 * or belong to objects initialized after us). The allocator keeps working afterwards: other
 * libraries' destructors still allocate and free; they are simply no longer tracked. */
__attribute__((destructor(101))) static void ps_destructor(void)
{
    final_snapshot("exit", 0);
    ps_control_exit();
}

static void on_quick_exit(void)
{
    final_snapshot("quick_exit", 0);
    ps_control_exit();
}

void ps_init_exit(int status)
{
    final_snapshot("_exit", 1);
    ps_control_exit();
    void (*real)(int) = real_exit_fn;
    if (real)
        real(status);
    ps_os_exit(status);
}
