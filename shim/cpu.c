/* SPDX-License-Identifier: MIT */
/*
 * cpu.c — CPU sampling (PERFSHIM_CPU_HZ): a CPU-time timer per thread raises SIGPROF on that
 * thread; the handler walks the interrupted stack with the signal-safe walker and counts it in
 * the thread's own sample table. Nothing in the handler locks, allocates or interns: stacks are
 * interned later, outside signal context, by the snapshot writer (ps_cpu_collect) or when the
 * thread exits.
 *
 * CPU-time timers only fire while the thread runs, so a blocked thread is never interrupted
 * (its system calls are not broken by EINTR), and when our signal comes in the same return as
 * one of the program's, the program's handler decides whether the call restarts
 * (keep_interruption). The program keeps its own SIGPROF use: sigaction
 * and signal are interposed (interpose_signals.c) for SIGPROF while sampling is on; the program's
 * handler is kept aside and called for every SIGPROF that is not one of our timers' (setitimer
 * profilers, kill), and such a SIGPROF still ends a program that has no handler for it.
 *
 * Many programs block every signal in their worker threads (liblzma, thread pools that leave
 * signals to one thread): our timers' SIGPROF would stay pending there and those threads would
 * never be sampled. So while sampling is on, SIGPROF is never really blocked: sigprocmask and
 * pthread_sigmask are interposed, take SIGPROF out of the sets they block, and remember per
 * thread that the program asked for it blocked (old masks they return say so). A SIGPROF of the
 * program's own that arrives while it is "blocked" is held and raised again when the program
 * unblocks it. New threads inherit the creator's view, as they inherit its mask.
 *
 * Our handler runs on the stack the program asked for its own SIGPROF handler: with SA_ONSTACK
 * when the program's action has it (on_stack_like_program). Go's runtime installs every handler
 * so and runs goroutines on stacks of a few KiB with no room for a signal frame; its os/signal
 * documentation requires SA_ONSTACK of any other code's handler, and without it a cgo program
 * crashed within a second of sampling. Always asking for it would move every program that sets
 * an alternate stack for its SIGSEGV handler (Ruby: 16 KiB) onto that small stack.
 */
#include "timing.h"

#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>

#define CPU_SLOTS 2048u /* distinct stacks per thread */
#define CPU_FRAMES 64
#define PS_CPU_STACK_ROOM                                                                          \
    (16u * 1024) /* stack a sample needs left below the handler (walk included) */
#define CPU_PROBE 32
#define PS_SA_RESTORER 0x04000000 /* x86-64's SA_RESTORER, which <signal.h> does not name */

typedef struct cpu_entry_s {
    atomic_ullong count; /* samples; published last (release) */
    uint64_t hash;       /* of the frames, | 1 (0 = empty) */
    uint32_t depth;
    atomic_uint stack_id; /* interned id (cpu_lock), 0 = not yet */
    uintptr_t ip[CPU_FRAMES];
} cpu_entry_t;

typedef struct cpu_buf_s {
    struct cpu_buf_s *next; /* registry (cpu_lock) */
    atomic_ullong samples, dropped, partial;
    timer_t timer;
    int has_timer;
    atomic_uint nused; /* entries filled, listed in used[] (scans visit only those) */
    uint32_t used[CPU_SLOTS];
    cpu_entry_t e[CPU_SLOTS];
} cpu_buf_t;

static __thread cpu_buf_t *tls_cpu __attribute__((tls_model("initial-exec")));
/* the program asked for SIGPROF blocked on this thread; one of its SIGPROFs is held */
static __thread int tls_prof_blocked __attribute__((tls_model("initial-exec")));
static __thread volatile sig_atomic_t tls_prof_held __attribute__((tls_model("initial-exec")));
/* the held signal's siginfo, sent again as it came: a timer's SI_TIMER and value must survive
 * (a qemu-user guest's own sampling timer, which qemu's handler passes to the guest's shim) */
static __thread siginfo_t tls_prof_info __attribute__((tls_model("initial-exec")));
static ps_spinlock_t cpu_lock;
static cpu_buf_t *bufs;           /* live threads' tables */
static uint64_t *retired_samples; /* by stack id, exited threads (cpu_lock) */
static uint32_t *retired_threads; /* by stack id: threads that had samples there */
static uint64_t retired_total[3]; /* samples, dropped, partial of exited threads */
static int cpu_on;
static atomic_int thread_map_warned; /* one warning for all threads */
static int cookie;                   /* its address marks our timers' signals */
static struct sigaction prog_action; /* the program's SIGPROF action, as the kernel keeps it */
static void (*libc_restorer)(void);  /* the restorer glibc's sigaction gives every action */
static int (*real_sigaction)(int, const struct sigaction *, struct sigaction *);
static int install_handler(void);

static size_t by_id_bytes(size_t elem)
{
    return ((size_t)ps_g.opt.max_stacks + 1) * elem;
}

/* ---- the handler --------------------------------------------------------------------------- */

static void chain(int sig, siginfo_t *si, void *uc)
{
    struct sigaction a = prog_action;
    if (a.sa_handler != SIG_DFL && a.sa_handler != SIG_IGN) {
        /* the mask the program's handler would have run with: ours blocks nearly everything */
        sigset_t m;
        sigorset(&m, &((ucontext_t *)uc)->uc_sigmask, &a.sa_mask);
        if (!(a.sa_flags & SA_NODEFER))
            sigaddset(&m, sig);
        ps_real_pthread_sigmask(SIG_SETMASK, &m, NULL);
    }
    if (a.sa_flags & SA_SIGINFO) {
        if (a.sa_sigaction)
            a.sa_sigaction(sig, si, uc);
    } else if (a.sa_handler == SIG_DFL) {
        /* SIGPROF's default action ends the process (a profiler's setitimer with no handler,
         * kill -PROF): do what the kernel would have done without us. Our handler goes, and
         * the signal, blocked while we run, is delivered as soon as we return. */
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        sigemptyset(&dfl.sa_mask);
        real_sigaction(sig, &dfl, NULL);
        ps_os_raise(sig);
    } else if (a.sa_handler != SIG_IGN) {
        a.sa_handler(sig);
    }
}

/* weight: timer periods this sample stands for. The kernel checks CPU-time timers at its tick
 * (250 Hz here), so at PERFSHIM_CPU_HZ=1000 one signal covers about 4 expirations; counting
 * the overrun keeps samples proportional to CPU time. */
/* Samples not kept: the thread's table was full, or its stack too nearly used up to walk. */
static void count_dropped(cpu_buf_t *b, uint64_t weight)
{
    atomic_store_explicit(&b->dropped,
                          atomic_load_explicit(&b->dropped, memory_order_relaxed) + weight,
                          memory_order_relaxed);
}

static void record(cpu_buf_t *b, void *uc, uint64_t weight)
{
    uintptr_t ip[CPU_FRAMES];
    int cut = 0;
    int max = ps_g.opt.depth < CPU_FRAMES ? ps_g.opt.depth : CPU_FRAMES;
    int n = ps_unwind_from_context(uc, ip, max, &cut);
    if (n <= 0) {
        ip[0] = (uintptr_t)((ucontext_t *)uc)->uc_mcontext.gregs[REG_RIP];
        n = 1;
        cut = 1;
    }
    ip[0] += 1; /* the interrupted pc: readers look up "address - 1" */
    if (cut)
        atomic_store_explicit(&b->partial,
                              atomic_load_explicit(&b->partial, memory_order_relaxed) + 1,
                              memory_order_relaxed);
    uint64_t h = 0xcbf29ce484222325ull;
    for (int i = 0; i < n; i++)
        h = (h ^ ip[i]) * 0x100000001b3ull;
    h |= 1;
    unsigned slot = (unsigned)(h >> 40) & (CPU_SLOTS - 1);
    atomic_store_explicit(&b->samples,
                          atomic_load_explicit(&b->samples, memory_order_relaxed) + weight,
                          memory_order_relaxed);
    for (unsigned k = 0; k < CPU_PROBE; k++, slot = (slot + 1) & (CPU_SLOTS - 1)) {
        cpu_entry_t *e = &b->e[slot];
        if (e->hash == h && e->depth == (uint32_t)n &&
            memcmp(e->ip, ip, (size_t)n * sizeof ip[0]) == 0) {
            atomic_store_explicit(&e->count,
                                  atomic_load_explicit(&e->count, memory_order_relaxed) + weight,
                                  memory_order_relaxed);
            return;
        }
        if (e->hash == 0) {
            memcpy(e->ip, ip, (size_t)n * sizeof ip[0]);
            e->depth = (uint32_t)n;
            e->hash = h;
            atomic_store_explicit(&e->count, weight, memory_order_release);
            unsigned nu = atomic_load_explicit(&b->nused, memory_order_relaxed);
            b->used[nu] = slot;
            atomic_store_explicit(&b->nused, nu + 1, memory_order_release);
            return;
        }
    }
    count_dropped(b, weight);
}

/* System calls that a signal makes return -ERESTARTSYS (x86-64 numbers): the kernel restarts
 * them after a handler with SA_RESTART and fails them with EINTR otherwise. */
static int restartable_syscall(long nr)
{
    switch (nr) {
    case 0:   /* read */
    case 1:   /* write */
    case 2:   /* open */
    case 16:  /* ioctl */
    case 17:  /* pread64 */
    case 18:  /* pwrite64 */
    case 19:  /* readv */
    case 20:  /* writev */
    case 42:  /* connect */
    case 43:  /* accept */
    case 44:  /* sendto */
    case 45:  /* recvfrom */
    case 46:  /* sendmsg */
    case 47:  /* recvmsg */
    case 61:  /* wait4 */
    case 69:  /* msgsnd */
    case 70:  /* msgrcv */
    case 72:  /* fcntl (F_SETLKW) */
    case 73:  /* flock */
    case 202: /* futex */
    case 247: /* waitid */
    case 257: /* openat */
    case 288: /* accept4 */
    case 295: /* preadv */
    case 296: /* pwritev */
    case 299: /* recvmmsg */
    case 307: /* sendmmsg */
    case 327: /* preadv2 */
    case 328: /* pwritev2 */
        return 1;
    default:
        return 0;
    }
}

/* Our SIGPROF must not decide whether a system call restarts. Linux runs an expired CPU-time
 * timer as task work when the thread next returns to user mode, so our signal can be queued in
 * the same return as a signal of the program's that interrupted a blocking call (SIGALRM waking
 * a read). The thread's own queue is served first: our SIGPROF, whose SA_RESTART set the call
 * up to restart, and the program's handler, installed without SA_RESTART to get EINTR, ran on
 * the way; the read blocked on (CPython's test_signal, SiginterruptTest, hung so). Our action
 * blocks the program's signals while we run (sa_mask), so such a signal is still pending here:
 * when the interrupted context is a restartable system call about to be re-issued and a pending
 * signal, not blocked by the program, has a handler without SA_RESTART, give the call the EINTR
 * the kernel would have given it. */
static void keep_interruption(ucontext_t *uc)
{
#if defined(__x86_64__)
    greg_t *g = uc->uc_mcontext.gregs;
    const unsigned char *pc = (const unsigned char *)g[REG_RIP];
    if (!pc || pc[0] != 0x0f || pc[1] != 0x05 || !restartable_syscall((long)g[REG_RAX]))
        return; /* not at a syscall instruction (re-issued after a restart, or about to run) */
    sigset_t pending;
    if (sigpending(&pending) != 0)
        return;
    for (int s = 1; s < NSIG; s++) {
        if (s == SIGPROF || sigismember(&pending, s) != 1 || sigismember(&uc->uc_sigmask, s) == 1)
            continue;
        struct sigaction a;
        if (real_sigaction(s, NULL, &a) != 0 || (a.sa_flags & SA_RESTART))
            continue;
        if (!(a.sa_flags & SA_SIGINFO) && (a.sa_handler == SIG_DFL || a.sa_handler == SIG_IGN))
            continue; /* no handler runs: the kernel restarts the call itself */
        g[REG_RAX] = -EINTR;
        g[REG_RIP] += 2; /* past the syscall instruction, as if it had returned */
        return;
    }
#else
    (void)uc;
#endif
}

/* Room left below sp when sp is on the thread's alternate signal stack (SA_ONSTACK), else
 * SIZE_MAX. Asked only when the program's action has SA_ONSTACK: one system call a sample. */
static size_t alt_stack_room(uintptr_t sp)
{
    if (!(prog_action.sa_flags & SA_ONSTACK))
        return SIZE_MAX;
    stack_t ss;
    if (sigaltstack(NULL, &ss) != 0 || !(ss.ss_flags & SS_ONSTACK))
        return SIZE_MAX;
    uintptr_t lo = (uintptr_t)ss.ss_sp;
    return sp > lo ? sp - lo : 0;
}

/* A SIGPROF "sent" by the process's ptrace tracer while the program has no SIGPROF handler: one of
 * our timer's signals, its siginfo rewritten on the way. ltrace holds a signal that arrives while
 * it steps a thread over a breakpoint and injects it at a later stop, where the kernel makes it
 * SI_USER from the tracer (kernel/signal.c, ptrace_signal: the signal differs from the stop's);
 * chained as the program's own, its default action ended the program (perl under `ltrace -f`
 * with PERFSHIM_CPU_HZ=99: "killed by SIGPROF" after 3 signals). Without us such a program gets
 * no SIGPROF at all. A tracer's deliberate SIGPROF to a program without a handler (gdb's `signal
 * SIGPROF`) is taken for ours too (README, Known limitations). Only on this rare path: reads the
 * thread's TracerPid (open, read and close are async-signal-safe). */
static int from_tracer(const siginfo_t *si)
{
    if (si->si_code != SI_USER || si->si_pid <= 0 || prog_action.sa_handler != SIG_DFL ||
        (prog_action.sa_flags & SA_SIGINFO))
        return 0;
    char buf[512];
    if (ps_os_read_file("/proc/thread-self/status", buf, sizeof buf) <= 0)
        return 0;
    const char *t = strstr(buf, "\nTracerPid:");
    if (!t)
        return 0;
    t += 11;
    while (*t == ' ' || *t == '\t')
        t++;
    long pid = 0;
    while (*t >= '0' && *t <= '9')
        pid = pid * 10 + (*t++ - '0');
    return pid == (long)si->si_pid;
}

PS_SIGNAL_HANDLER static void on_sigprof(int sig, siginfo_t *si, void *uc)
{
    if ((!si || si->si_code != SI_TIMER || si->si_value.sival_ptr != &cookie) &&
        !(si && from_tracer(si))) {
        if (tls_prof_blocked) {   /* the program has it blocked here: deliver when it unblocks */
            if (!tls_prof_held) { /* the first one held is the one sent again */
                if (si)
                    tls_prof_info = *si;
                else
                    tls_prof_info.si_code = SI_TKILL;
            }
            tls_prof_held = 1;
        } else
            chain(sig, si, uc);
        return;
    }
    int saved = errno;
    cpu_buf_t *b = tls_cpu;
    uint64_t weight = 1; /* a tracer's SI_USER has the sender's uid where a timer's overrun is */
    if (si->si_code == SI_TIMER && si->si_overrun > 0)
        weight += (uint64_t)si->si_overrun;
    char here;
    if (b && (ps_unwind_stack_room((uintptr_t)&here) < PS_CPU_STACK_ROOM ||
              alt_stack_room((uintptr_t)&here) < PS_CPU_STACK_ROOM)) {
        /* Too close to the end of the thread's stack for record()'s frames: Ruby's main thread
         * reserves its stack down to a few KiB of the limit at start, and a walk there
         * overflowed it (SIGSEGV). The program would never have run a handler here. */
        count_dropped(b, weight);
    } else if (b) {
        record(b, uc, weight);
    }
    keep_interruption(uc);
    errno = saved;
}

/* ---- per thread ------------------------------------------------------------------------------ */

static void start_timer(cpu_buf_t *b)
{
    uint64_t period = 1000000000u / (uint64_t)ps_g.opt.cpu_hz;
    b->has_timer = ps_os_cpu_timer_start(&b->timer, SIGPROF, ps_os_tid(), &cookie, period) == 0;
}

/* SIGPROF must reach this thread: unblock it for real, and remember if the program (or the
 * mask it inherited) had it blocked. */
static void own_sigprof_mask(int inherited_blocked)
{
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGPROF);
    int blocked = inherited_blocked;
    if (ps_real_pthread_sigmask(SIG_UNBLOCK, &set, &old) == 0 && sigismember(&old, SIGPROF) == 1)
        blocked = 1;
    tls_prof_blocked = blocked;
}

int ps_cpu_prof_blocked(void)
{
    return tls_prof_blocked;
}

void ps_cpu_thread_start(int inherited_blocked)
{
    if (!cpu_on || tls_cpu)
        return;
    own_sigprof_mask(inherited_blocked);
    cpu_buf_t *b = ps_os_map(sizeof *b);
    if (!b) {
        if (!atomic_exchange(&thread_map_warned, 1))
            ps_msg_warn("cannot map the CPU sample table of thread %u; it is not sampled",
                        (unsigned)ps_os_tid());
        return;
    }
    ps_lock(&cpu_lock);
    b->next = bufs;
    bufs = b;
    ps_unlock(&cpu_lock);
    tls_cpu = b;
    start_timer(b);
}

/* Interns the entries of b not interned yet. Called with cpu_lock held. */
static void intern_buf(cpu_buf_t *b)
{
    unsigned nu = atomic_load_explicit(&b->nused, memory_order_acquire);
    for (unsigned u = 0; u < nu; u++) {
        cpu_entry_t *e = &b->e[b->used[u]];
        if (!atomic_load_explicit(&e->count, memory_order_acquire))
            continue;
        if (atomic_load_explicit(&e->stack_id, memory_order_relaxed))
            continue;
        atomic_store_explicit(&e->stack_id, ps_stack_intern(e->ip, (int)e->depth),
                              memory_order_relaxed);
    }
}

void ps_cpu_thread_exit(void)
{
    cpu_buf_t *b = tls_cpu;
    if (!b)
        return;
    if (b->has_timer)
        ps_os_timer_delete(b->timer);
    tls_cpu = NULL;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    ps_lock(&cpu_lock);
    intern_buf(b);
    unsigned nu = atomic_load_explicit(&b->nused, memory_order_acquire);
    for (unsigned u = 0; u < nu; u++) {
        cpu_entry_t *e = &b->e[b->used[u]];
        uint64_t c = atomic_load_explicit(&e->count, memory_order_acquire);
        uint32_t id = atomic_load_explicit(&e->stack_id, memory_order_relaxed);
        if (c && retired_samples && id <= ps_g.opt.max_stacks) {
            retired_samples[id] += c;
            retired_threads[id]++;
        }
    }
    retired_total[0] += atomic_load(&b->samples);
    retired_total[1] += atomic_load(&b->dropped);
    retired_total[2] += atomic_load(&b->partial);
    for (cpu_buf_t **pp = &bufs; *pp; pp = &(*pp)->next)
        if (*pp == b) {
            *pp = b->next;
            break;
        }
    ps_unlock(&cpu_lock);
    ps_os_unmap(b, sizeof *b);
}

/* ---- sigaction / signal: the program's SIGPROF handler ----------------------------------------
 */

static void resolve_sigaction(void)
{
    if (!real_sigaction) {
        real_sigaction = (int (*)(int, const struct sigaction *,
                                  struct sigaction *))ps_real_function("sigaction");
    }
}

int ps_cpu_sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    resolve_sigaction();
    if (!real_sigaction) {
        errno = ENOSYS;
        return -1;
    }
    if (ps_alerts_owns_signal(sig)) /* PERFSHIM_DUMP_SIGNAL's (alerts.c) */
        return ps_alerts_sigaction(act, old);
    if (sig != SIGPROF || !cpu_on)
        return real_sigaction(sig, act, old);
    /* ours stays installed; the program's is kept and chained to */
    struct sigaction prev = prog_action;
    if (act) {
        /* kept as a query would return it without us: glibc adds SA_RESTORER and its
         * restorer to every action it installs, the kernel drops SIGKILL and SIGSTOP from
         * the mask */
        prog_action = *act;
        prog_action.sa_flags |= PS_SA_RESTORER;
        prog_action.sa_restorer = libc_restorer;
        sigdelset(&prog_action.sa_mask, SIGKILL);
        sigdelset(&prog_action.sa_mask, SIGSTOP);
        if ((prev.sa_flags ^ prog_action.sa_flags) & SA_ONSTACK)
            install_handler();
    }
    if (old)
        *old = prev;
    return 0;
}

/* glibc's signal() for every call but SIGPROF under sampling: an emulation through sigaction
 * cannot see siginterrupt()'s per-signal state, and always setting SA_RESTART made a program
 * that asked for interrupted system calls (siginterrupt(SIGALRM, 1); signal(SIGALRM, h);
 * alarm(); read()) block for ever under the shim, with or without sampling. */
static __sighandler_t (*real_signal)(int, __sighandler_t);

__sighandler_t ps_cpu_signal(int sig, __sighandler_t handler)
{
    if ((sig != SIGPROF || !cpu_on) && !ps_alerts_owns_signal(sig)) {
        if (!real_signal) {
            real_signal = (__sighandler_t(*)(int, __sighandler_t))ps_real_function("signal");
        }
        if (!real_signal) {
            errno = ENOSYS;
            return SIG_ERR;
        }
        return real_signal(sig, handler);
    }
    /* SIGPROF while sampling: our handler stays installed (SA_RESTART) and chains to this one;
     * PERFSHIM_DUMP_SIGNAL's: the program's replaces ours (ps_cpu_sigaction) */
    struct sigaction act, old;
    memset(&act, 0, sizeof act);
    act.sa_handler = handler;
    sigemptyset(&act.sa_mask);
    sigaddset(&act.sa_mask, sig);
    act.sa_flags = SA_RESTART; /* BSD semantics, as glibc's signal() */
    if (ps_cpu_sigaction(sig, &act, &old) != 0)
        return SIG_ERR;
    return (old.sa_flags & SA_SIGINFO) ? (__sighandler_t)(void *)old.sa_sigaction : old.sa_handler;
}

/* ---- sigprocmask / pthread_sigmask: SIGPROF stays deliverable --------------------------------
 */

/* One mask change; real is libc's sigprocmask or pthread_sigmask (real.c; both return 0 on
 * success). */
static int mask_change(int (*real)(int, const sigset_t *, sigset_t *), int how, const sigset_t *set,
                       sigset_t *old)
{
    if (!cpu_on || !set || (how != SIG_BLOCK && how != SIG_UNBLOCK && how != SIG_SETMASK)) {
        int rc = real(how, set, old);
        if (rc == 0 && old && cpu_on && tls_prof_blocked)
            sigaddset(old, SIGPROF);
        return rc;
    }
    int was = tls_prof_blocked, now = was;
    int has = sigismember(set, SIGPROF) == 1;
    if (how == SIG_SETMASK)
        now = has;
    else if (has)
        now = how == SIG_BLOCK;
    sigset_t copy = *set;
    if (how != SIG_UNBLOCK)
        sigdelset(&copy, SIGPROF);
    int rc = real(how, &copy, old);
    if (rc != 0)
        return rc;
    if (old && was)
        sigaddset(old, SIGPROF);
    tls_prof_blocked = now;
    if (was && !now && tls_prof_held) {
        tls_prof_held = 0;
        /* the program's own signal, held while it was blocked; sent again with its siginfo
         * (a plain raise made a qemu guest's timer signal a tgkill, which the guest's shim
         * took for the program's SIGPROF and, with no handler, died of it) */
        siginfo_t si = tls_prof_info;
        if (si.si_code == SI_TKILL || ps_os_requeue_self(SIGPROF, &si) != 0)
            ps_os_raise(SIGPROF);
    }
    return 0;
}

int ps_cpu_sigprocmask(int how, const sigset_t *set, sigset_t *old)
{
    return mask_change(ps_real_sigprocmask, how, set, old);
}

int ps_cpu_pthread_sigmask(int how, const sigset_t *set, sigset_t *old)
{
    return mask_change(ps_real_pthread_sigmask, how, set, old);
}

/* ---- init, snapshot ---------------------------------------------------------------------------
 */

/* Installs on_sigprof for SIGPROF; the first call keeps the program's action (the one it had
 * before the shim loaded) in prog_action. SA_ONSTACK as the program's action has it. */
static int install_handler(void)
{
    struct sigaction a;
    memset(&a, 0, sizeof a);
    a.sa_sigaction = on_sigprof;
    a.sa_flags = SA_SIGINFO | SA_RESTART;
    if (cpu_on)
        a.sa_flags |= prog_action.sa_flags & SA_ONSTACK;
    /* the program's signals wait while we run (keep_interruption); faults do not, so that a
     * fault in the handler is the program's to handle, as before */
    sigfillset(&a.sa_mask);
    sigdelset(&a.sa_mask, SIGSEGV);
    sigdelset(&a.sa_mask, SIGBUS);
    sigdelset(&a.sa_mask, SIGFPE);
    sigdelset(&a.sa_mask, SIGILL);
    sigdelset(&a.sa_mask, SIGTRAP);
    sigdelset(&a.sa_mask, SIGSYS);
    return real_sigaction(SIGPROF, &a, cpu_on ? NULL : &prog_action);
}

int ps_cpu_init(void)
{
    if (ps_g.opt.cpu_hz <= 0)
        return 0;
    resolve_sigaction();
    retired_samples = ps_os_map(by_id_bytes(sizeof *retired_samples));
    retired_threads = ps_os_map(by_id_bytes(sizeof *retired_threads));
    if (!real_sigaction || !retired_samples || !retired_threads)
        return -1;
    if (install_handler() != 0)
        return -1;
    struct sigaction mine;
    if (real_sigaction(SIGPROF, NULL, &mine) == 0 && (mine.sa_flags & PS_SA_RESTORER))
        libc_restorer = mine.sa_restorer;
    ps_real_masks_init();
    cpu_on = 1;
    ps_cpu_thread_start(0);
    return 0;
}

/* cpu_lock across fork: a child's snapshot (at exit, or at _exit) takes it */
void ps_cpu_fork_prepare(void)
{
    ps_lock(&cpu_lock);
}

void ps_cpu_fork_parent(void)
{
    ps_unlock(&cpu_lock);
}

void ps_cpu_fork_child(int locked)
{
    if (locked)
        ps_unlock(&cpu_lock);
    /* timers are not inherited: restart this thread's; the other threads' tables keep the
     * parent's samples, like the allocation counters a child inherits */
    if (cpu_on && tls_cpu)
        start_timer(tls_cpu);
}

PS_COLD void ps_cpu_collect(void)
{
    if (!cpu_on)
        return;
    ps_lock(&cpu_lock);
    for (cpu_buf_t *b = bufs; b; b = b->next)
        intern_buf(b);
    ps_unlock(&cpu_lock);
}

int ps_cpu_on(void)
{
    return cpu_on;
}

void ps_cpu_write(ps_buf_t *b, uint64_t time_ns)
{
    uint32_t n = ps_stack_count();
    size_t sb = ((size_t)n + 1) * sizeof(uint64_t), tb = ((size_t)n + 1) * sizeof(uint32_t);
    uint64_t *samples = ps_os_map(sb);
    uint32_t *threads = ps_os_map(tb);
    if (!samples || !threads)
        b->failed = 1; /* the writer skips the chunk and says so */
    uint64_t tot[3];
    ps_lock(&cpu_lock);
    memcpy(tot, retired_total, sizeof tot);
    if (samples && threads) {
        for (uint32_t id = 0; id <= n; id++) {
            samples[id] = retired_samples[id];
            threads[id] = retired_threads[id];
        }
        for (cpu_buf_t *cb = bufs; cb; cb = cb->next) {
            tot[0] += atomic_load(&cb->samples);
            tot[1] += atomic_load(&cb->dropped);
            tot[2] += atomic_load(&cb->partial);
            unsigned nu = atomic_load_explicit(&cb->nused, memory_order_acquire);
            for (unsigned u = 0; u < nu; u++) {
                cpu_entry_t *e = &cb->e[cb->used[u]];
                uint64_t c = atomic_load_explicit(&e->count, memory_order_acquire);
                uint32_t id = atomic_load_explicit(&e->stack_id, memory_order_relaxed);
                if (c && id && id <= n) { /* entries created since ps_cpu_collect wait */
                    samples[id] += c;
                    threads[id]++;
                }
            }
        }
    }
    ps_unlock(&cpu_lock);
    ps_row_cpu_head_t head = {.time_ns = time_ns,
                              .hz = (uint32_t)ps_g.opt.cpu_hz,
                              .samples = tot[0],
                              .dropped = tot[1],
                              .partial = tot[2]};
    ps_put_cpu_head(b, &head);
    size_t count_at = ps_buf_table(b, PS_CPU_ROW_SIZE);
    uint32_t rows = 0;
    if (samples && threads)
        for (uint32_t id = 1; id <= n; id++) {
            if (!samples[id])
                continue;
            rows++;
            ps_row_cpu_t row = {.stack_id = id, .threads = threads[id], .samples = samples[id]};
            ps_put_cpu(b, &row);
        }
    ps_buf_patch_u32(b, count_at, rows);
    if (samples)
        ps_os_unmap(samples, sb);
    if (threads)
        ps_os_unmap(threads, tb);
}
