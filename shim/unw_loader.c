/* SPDX-License-Identifier: MIT */
/*
 * unw_loader.c — libunwind, the fallback for the stacks perfshim's own unwinder cannot walk:
 * loaded at the first walk that needs it, never while that could wait on the dynamic loader,
 * and kept from opening descriptors.
 *
 * dlopen'ed RTLD_LOCAL, never linked: Debian's libunwind.so.8 exports strong _Unwind_* symbols
 * that would otherwise take over libgcc's in the host and make C++ exceptions ~70x slower or
 * break them (docs/architecture.md).
 *
 * Lazily, because most programs never need it (python3, git and sqlite3 make no such walk) and
 * loading it (dlopen of libunwind.so.8 and liblzma.so.5) and its first walk cost a few ms of
 * CPU per process (docs/performance.md). But that first walk runs inside malloc or a pthread
 * interposer, and dlopen takes the loader's dl_load_lock, which the loader also holds while it
 * runs constructors: a thread in dlopen whose constructor waits for a lock that our malloc's
 * caller holds would never get it, and a malloc the loader itself makes (this thread already
 * inside dlopen) must not start another load. So the shim never waits for that lock. It finds
 * the loader's three locks in _rtld_global once, at init (the recursive mutex this thread
 * owns inside a dl_iterate_phdr callback is dl_load_write_lock; dl_load_lock lies just before
 * it, dl_load_tls_lock just after, as in every glibc since 2.34), and at the first need
 *   - gives up at once when this thread owns any of the three (we are inside the loader),
 *   - else try-locks dl_load_lock for at most 2 ms and, holding it, calls dlopen (the lock is
 *     recursive: dlopen takes it again).
 * When it gives up, stack.c records the stack as far as the fast unwinder got, with
 * PS_FRAME_CUT at its end, and the next walk that needs libunwind tries again. Where the locks
 * cannot be found (another C library), libunwind is loaded at init instead, as it always was;
 * also with PERFSHIM_UNWIND=libunwind and when the fast unwinder is unavailable.
 *
 * Without descriptors: libunwind 1.6 validates an address by write(2)ing its first byte into a
 * pipe it opens at init (1.8 at first use): two descriptors a program sees in /proc/self/fd,
 * may close, or may find its own files behind. After dlopen, libunwind's references to pipe2,
 * pipe, read, write, close and syscall are pointed at the functions below (ps_rebind_object):
 * its "pipe" gets two numbers no descriptor can have, reading it finds it empty, and a write
 * from an address is answered by ps_os_readable (EFAULT exactly where the write would have
 * failed), with no descriptor involved. Every other call goes on to libc. If one of those
 * references cannot be rewritten, libunwind is not used at all.
 */
#include "internal.h"

#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <sys/syscall.h> /* SYS_write: the call libunwind makes through syscall() */
#include <unistd.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h> /* types and constants only: nothing is linked */

#define FAKE_RD (-0x7073) /* libunwind's pipe: numbers no descriptor can have (-1 means none) */
#define FAKE_WR (-0x7074)
#define LOADER_WAIT_NS 2000000ull    /* longest wait for the loader's lock (another dlopen) */
#define LOADING_WAIT_NS 200000000ull /* for another thread that is loading libunwind */

enum { UNW_NONE, UNW_LOADING, UNW_READY, UNW_FAILED };

static atomic_int state;
static ps_unw_backtrace_fn unw_bt;
static const char *fail_reason; /* why it is UNW_FAILED: said at the first stack it cuts */
static atomic_ullong cuts;      /* stacks cut short (PS_FRAME_CUT) */
static atomic_int cut_said, fail_said;
static struct {
    pthread_mutex_t *load, *write, *tls; /* the loader's locks; NULL: not found (load at init) */
} ldr;
static int (*mutex_trylock)(pthread_mutex_t *);
static int (*mutex_unlock)(pthread_mutex_t *);

/* ---- libunwind's pipe, without descriptors -------------------------------------------------- */

static int fake_fd(int fd)
{
    return fd == FAKE_RD || fd == FAKE_WR;
}

/* the write of n bytes from p that libunwind uses as its test: n if they can be read */
static ssize_t validate(const void *p, size_t n)
{
    if (ps_os_readable(p, n))
        return (ssize_t)n;
    errno = EFAULT;
    return -1;
}

static int unw_pipe2(int fds[2], int flags)
{
    (void)flags;
    fds[0] = FAKE_RD;
    fds[1] = FAKE_WR;
    return 0;
}

static int unw_pipe(int fds[2])
{
    return unw_pipe2(fds, 0);
}

static ssize_t unw_read(int fd, void *buf, size_t n)
{
    if (fake_fd(fd)) {
        errno = EAGAIN; /* an empty non-blocking pipe: libunwind carries on */
        return -1;
    }
    return read(fd, buf, n);
}

static ssize_t unw_write(int fd, const void *buf, size_t n)
{
    return fake_fd(fd) ? validate(buf, n) : write(fd, buf, n);
}

static int unw_close(int fd)
{
    return fake_fd(fd) ? 0 : close(fd);
}

static long unw_syscall(long nr, ...)
{
    long a[6];
    va_list ap;
    va_start(ap, nr);
    for (int i = 0; i < 6; i++)
        a[i] = va_arg(ap, long);
    va_end(ap);
    /* the descriptor is an int: the upper half of its register is not part of it */
    if (nr == SYS_write && fake_fd((int)a[0]))
        return validate((const void *)a[1], (size_t)a[2]);
    return ps_os_syscall(nr, a);
}

static void *unw_pick(const ps_rebind_slot_t *s, void *arg)
{
    static const struct {
        const char *name;
        void *fn;
    } ours[] = {{"pipe2", (void *)unw_pipe2}, {"pipe", (void *)unw_pipe},
                {"read", (void *)unw_read},   {"write", (void *)unw_write},
                {"close", (void *)unw_close}, {"syscall", (void *)unw_syscall}};
    (void)arg;
    for (size_t i = 0; i < sizeof ours / sizeof *ours; i++)
        if (strcmp(s->name, ours[i].name) == 0)
            return ours[i].fn;
    return NULL;
}

typedef struct {
    uintptr_t base;
    const char *name;
    int found;
    unsigned patched, failed;
} find_ctx_t;

static int rebind_unw(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    find_ctx_t *f = data;
    if (info->dlpi_addr != f->base || !info->dlpi_name || strcmp(info->dlpi_name, f->name) != 0)
        return 0;
    f->found = 1;
    f->patched = ps_rebind_object(info, unw_pick, NULL, &f->failed);
    return 1;
}

/* dlopen, redirect the pipe, look up unw_backtrace. 0 on success; else fail_reason says why. */
static int load(void)
{
    void *h = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fail_reason = "libunwind.so.8 not found (install libunwind8)";
        return -1;
    }
    struct link_map *lm = NULL;
    find_ctx_t f = {0};
    if (dlinfo(h, RTLD_DI_LINKMAP, &lm) == 0 && lm) {
        f.base = lm->l_addr;
        f.name = lm->l_name;
        dl_iterate_phdr(rebind_unw, &f);
    }
    if (!f.found || f.failed) {
        fail_reason = "libunwind's address checks would need descriptors of their own (its "
                      "pipe calls could not be redirected), so libunwind is not used";
        return -1;
    }
    ps_unw_backtrace_fn bt = (ps_unw_backtrace_fn)ps_real_dlsym(h, "unw_backtrace");
    int (*set_policy)(unw_addr_space_t, unw_caching_policy_t) =
        ps_real_dlsym(h, "_ULx86_64_set_caching_policy");
    int (*set_size)(unw_addr_space_t, size_t, int) = ps_real_dlsym(h, "_ULx86_64_set_cache_size");
    unw_addr_space_t *as = ps_real_dlsym(h, "_ULx86_64_local_addr_space");
    if (!bt) {
        fail_reason = "libunwind.so.8 has no unw_backtrace";
        return -1;
    }
    if (as && set_policy)
        set_policy(*as, UNW_CACHE_PER_THREAD);
    if (as && set_size)
        set_size(*as, 1024, 0);
    unw_bt = bt;
    ps_g.unwind_ok = 1;
    if (ps_g.opt.verbose)
        ps_msg_info("libunwind loaded (%u of its references redirected: no descriptor)", f.patched);
    return 0;
}

/* ---- the loader's locks -----------------------------------------------------------------------
 */

static int recursive(const pthread_mutex_t *m)
{
    return (m->__data.__kind & 127) == PTHREAD_MUTEX_RECURSIVE_NP;
}

static uint32_t owner(pthread_mutex_t *m)
{
    return (uint32_t)__atomic_load_n(&m->__data.__owner, __ATOMIC_RELAXED);
}

typedef struct {
    char *g;
    size_t size;
    uint32_t tid;
    pthread_mutex_t *write;
    int matches;
} scan_ctx_t;

/* Runs with dl_load_write_lock held by this thread: the one recursive mutex of _rtld_global
 * that this thread owns is that lock. */
static int scan_write_lock(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)info;
    (void)size;
    scan_ctx_t *c = data;
    for (size_t off = 0; off + sizeof(pthread_mutex_t) <= c->size; off += 8) {
        pthread_mutex_t *m = (pthread_mutex_t *)(c->g + off);
        if (recursive(m) && owner(m) == c->tid && m->__data.__count >= 1) {
            c->write = m;
            c->matches++;
        }
    }
    return 1;
}

/* 0 if the loader's locks were found and look as expected (unlocked, or ours when the shim
 * itself is being dlopen'ed); else -1 and ldr stays empty. */
static int find_loader_locks(void)
{
    char *g = ps_real_dlsym(RTLD_DEFAULT, "_rtld_global");
    Dl_info di;
    const ElfW(Sym) *sym = NULL;
    if (!g || !dladdr1(g, &di, (void **)&sym, RTLD_DL_SYMENT) || !sym ||
        sym->st_size < 4 * sizeof(pthread_mutex_t))
        return -1;
    scan_ctx_t c = {.g = g, .size = sym->st_size, .tid = ps_os_tid()};
    dl_iterate_phdr(scan_write_lock, &c);
    if (c.matches != 1)
        return -1;
    pthread_mutex_t *load = c.write - 1, *tls = c.write + 1;
    if ((char *)load < g + sizeof(size_t) || (char *)(tls + 1) > g + c.size)
        return -1;
    size_t nns;
    memcpy(&nns, (char *)load - sizeof nns, sizeof nns); /* _dl_nns: namespaces in use */
    if (nns < 1 || nns > 16 || !recursive(load) || !recursive(tls))
        return -1;
    if ((owner(load) != 0 && owner(load) != c.tid) || (owner(tls) != 0 && owner(tls) != c.tid))
        return -1;
    ldr.load = load;
    ldr.write = c.write;
    ldr.tls = tls;
    return 0;
}

int ps_unw_loader_held_here(int any)
{
    if (!ldr.load)
        return 0;
    uint32_t tid = ps_os_tid();
    if (owner(ldr.write) == tid)
        return 1;
    return any && (owner(ldr.load) == tid || owner(ldr.tls) == tid);
}

int ps_unw_loader_trylock_list(void)
{
    if (!ldr.write || !mutex_trylock)
        return -1;
    return mutex_trylock(ldr.write) == 0 ? 0 : -1;
}

void ps_unw_loader_unlock_list(void)
{
    mutex_unlock(ldr.write);
}

/* ---- set-up ------------------------------------------------------------------------------------
 */

int ps_unw_init(int eager)
{
    mutex_trylock = (int (*)(pthread_mutex_t *))ps_real_libc_symbol("pthread_mutex_trylock");
    mutex_unlock = (int (*)(pthread_mutex_t *))ps_real_libc_symbol("pthread_mutex_unlock");
    if (!eager && mutex_trylock && mutex_unlock && find_loader_locks() == 0)
        return 0; /* at the first walk that needs it */
    int rc = load();
    atomic_store_explicit(&state, rc == 0 ? UNW_READY : UNW_FAILED, memory_order_release);
    return rc;
}

static PS_COLD ps_unw_backtrace_fn load_now(int *why)
{
    if (ps_unw_loader_held_here(1)) {
        *why = PS_UNW_IN_LOADER;
        return NULL;
    }
    uint64_t t0 = ps_os_monotonic_ns();
    for (;;) {
        int s = UNW_NONE;
        if (atomic_compare_exchange_strong(&state, &s, UNW_LOADING))
            break;
        if (s == UNW_READY)
            return unw_bt;
        if (s == UNW_FAILED || ps_os_monotonic_ns() - t0 > LOADING_WAIT_NS) {
            *why = s == UNW_FAILED ? PS_UNW_FAILED : PS_UNW_BUSY;
            return NULL;
        }
        ps_os_yield(); /* another thread is loading it: it holds no lock we hold */
    }
    int locked = 0;
    while (!(locked = mutex_trylock(ldr.load) == 0) && ps_os_monotonic_ns() - t0 < LOADER_WAIT_NS)
        ps_os_yield();
    if (!locked) {
        atomic_store_explicit(&state, UNW_NONE, memory_order_release);
        *why = PS_UNW_BUSY;
        return NULL;
    }
    int rc = load();
    mutex_unlock(ldr.load);
    atomic_store_explicit(&state, rc == 0 ? UNW_READY : UNW_FAILED, memory_order_release);
    *why = PS_UNW_FAILED;
    return rc == 0 ? unw_bt : NULL;
}

/* A child must not inherit a load half done by a thread it does not have: fork waits for it
 * (bounded: the loading thread waits for nothing the forking thread holds, but a signal
 * handler could fork from the loading thread itself). glibc resets dl_load_lock in the child;
 * a load still marked as running is tried again there. */
void ps_unw_fork_prepare(void)
{
    uint64_t t0 = ps_os_monotonic_ns();
    while (atomic_load_explicit(&state, memory_order_acquire) == UNW_LOADING &&
           ps_os_monotonic_ns() - t0 < LOADING_WAIT_NS)
        ps_os_yield();
}

void ps_unw_fork_child(void)
{
    /* read first: a compare-and-swap writes the page even when it fails, and after fork that
     * write is a copy-on-write fault in every child */
    int s = UNW_LOADING;
    if (atomic_load_explicit(&state, memory_order_relaxed) == UNW_LOADING)
        atomic_compare_exchange_strong(&state, &s, UNW_NONE);
}

ps_unw_backtrace_fn ps_unw_backtrace(int *why)
{
    int s = atomic_load_explicit(&state, memory_order_acquire);
    if (PS_LIKELY(s == UNW_READY))
        return unw_bt;
    if (s == UNW_FAILED) {
        *why = PS_UNW_FAILED;
        return NULL;
    }
    return load_now(why);
}

void ps_unw_cut(int why)
{
    atomic_fetch_add_explicit(&cuts, 1, memory_order_relaxed);
    if (why == PS_UNW_FAILED) {
        if (!atomic_exchange(&fail_said, 1))
            ps_msg_warn("%s: stacks through frames the fast unwinder cannot walk (signal "
                        "handlers, code without unwind tables) end at those frames",
                        fail_reason ? fail_reason : "libunwind is not available");
    } else if (!atomic_exchange(&cut_said, 1)) {
        /* kept for the trace only: the stacks are marked, and the next walk tries again */
        ps_msg_record("a stack that needed libunwind was cut short at the frame the fast "
                      "unwinder could not walk: libunwind could not be loaded at that moment "
                      "(this or another thread was inside the dynamic loader)");
    }
}

uint64_t ps_unw_cuts(void)
{
    return atomic_load_explicit(&cuts, memory_order_relaxed);
}

int ps_unw_loaded(void)
{
    return atomic_load_explicit(&state, memory_order_acquire) == UNW_READY;
}
