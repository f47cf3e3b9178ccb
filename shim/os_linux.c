/* SPDX-License-Identifier: MIT */
/*
 * os_linux.c — Linux implementation of os.h. Raw system calls and /proc reads; no malloc,
 * no stdio, safe to call from inside the allocator and after fork.
 */
#include "os.h"

#include <errno.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/auxv.h>
#include <signal.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/prctl.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define PS_OS_LIKELY(x) __builtin_expect(!!(x), 1)

/* ---- fault injection (PERFSHIM_FAULT_MAP, tests only) -------------------------------------- */

static atomic_ullong map_requests; /* ps_os_map/reserve/commit calls so far (inherited by fork) */
static uint64_t fault_map_at;      /* request number that fails (1-based); 0 = none */
static int fault_map_persist;      /* 1: every request from fault_map_at on fails */

void ps_os_fault_map_setup(uint64_t nth, int persist)
{
    fault_map_at = nth;
    fault_map_persist = persist;
}

uint64_t ps_os_map_requests(void)
{
    return atomic_load_explicit(&map_requests, memory_order_relaxed);
}

/* Counts one request for memory; 1 if the injected fault says it must fail. */
static int map_fault(void)
{
    uint64_t n = atomic_fetch_add_explicit(&map_requests, 1, memory_order_relaxed) + 1;
    if (PS_OS_LIKELY(fault_map_at == 0))
        return 0;
    return fault_map_persist ? n >= fault_map_at : n == fault_map_at;
}

/* ---- the shim's own mappings ----------------------------------------------------------------
 * A slot is free while its start is 0; a writer claims one with a compare-and-swap of the start,
 * then stores the size (a reader that sees the start before the size skips the slot). Slots
 * are taken from the lowest free one, so only the table's first pages are ever touched; `own_hw`
 * bounds the slots in use. */
static struct {
    _Atomic uintptr_t lo;
    _Atomic size_t size;
} own[PS_OS_OWN_MAX];
static atomic_uint own_hw;         /* 1 + the highest slot ever taken */
static atomic_ullong own_unlisted; /* mappings not recorded: the table was full */

static void own_add(void *p, size_t size)
{
    uintptr_t lo = (uintptr_t)p;
    for (unsigned i = 0; i < PS_OS_OWN_MAX; i++) {
        uintptr_t zero = 0;
        if (atomic_load_explicit(&own[i].lo, memory_order_relaxed) == 0 &&
            atomic_compare_exchange_strong(&own[i].lo, &zero, lo)) {
            atomic_store_explicit(&own[i].size, size, memory_order_release);
            unsigned hw = atomic_load_explicit(&own_hw, memory_order_relaxed);
            while (hw < i + 1 && !atomic_compare_exchange_weak(&own_hw, &hw, i + 1)) {
            }
            return;
        }
    }
    atomic_fetch_add_explicit(&own_unlisted, 1, memory_order_relaxed);
}

/* Forgets [p, p + size): the slot that starts there shrinks to what is left after it; an unmap
 * of another part of a recorded mapping forgets the whole of it (the scan then judges it by its
 * flags, as before the table). */
static void own_remove(void *p, size_t size)
{
    uintptr_t lo = (uintptr_t)p, hi = lo + size;
    unsigned hw = atomic_load_explicit(&own_hw, memory_order_acquire);
    for (unsigned i = 0; i < hw; i++) {
        uintptr_t s = atomic_load_explicit(&own[i].lo, memory_order_relaxed);
        size_t n = atomic_load_explicit(&own[i].size, memory_order_acquire);
        if (!s || lo >= s + n || hi <= s)
            continue;
        atomic_store_explicit(&own[i].size, 0, memory_order_release);
        if (lo == s && hi < s + n) { /* its head: the tail stays recorded */
            atomic_store_explicit(&own[i].lo, hi, memory_order_relaxed);
            atomic_store_explicit(&own[i].size, s + n - hi, memory_order_release);
        } else {
            atomic_store_explicit(&own[i].lo, 0, memory_order_release);
        }
    }
}

uint64_t ps_os_own_maps(void (*fn)(void *arg, uintptr_t lo, uintptr_t hi), void *arg)
{
    unsigned hw = atomic_load_explicit(&own_hw, memory_order_acquire);
    for (unsigned i = 0; i < hw; i++) {
        uintptr_t s = atomic_load_explicit(&own[i].lo, memory_order_acquire);
        size_t n = atomic_load_explicit(&own[i].size, memory_order_acquire);
        if (s && n)
            fn(arg, s, s + n);
    }
    return atomic_load_explicit(&own_unlisted, memory_order_relaxed);
}

/* Errors are reported by the return value: errno is the host's and stays untouched. */
void *ps_os_map(size_t size)
{
    if (map_fault())
        return NULL;
    int saved = errno;
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    errno = saved;
    if (p == MAP_FAILED)
        return NULL;
    own_add(p, size);
    return p;
}

int ps_os_protect(void *p, size_t size, int writable)
{
    int saved = errno;
    int rc = mprotect(p, size, writable ? PROT_READ | PROT_WRITE : PROT_READ);
    errno = saved;
    return rc == 0 ? 0 : -1;
}

void ps_os_unmap(void *p, size_t size)
{
    if (p) {
        own_remove(p, size);
        munmap(p, size);
    }
}

void *ps_os_remap(void *p, size_t old_size, size_t new_size)
{
    if (map_fault())
        return NULL;
    int saved = errno;
    void *q = mremap(p, old_size, new_size, MREMAP_MAYMOVE);
    errno = saved;
    if (q == MAP_FAILED)
        return NULL;
    own_remove(p, old_size);
    own_add(q, new_size);
    return q;
}

int ps_os_read_self(void *dst, const void *src, size_t n)
{
    int saved = errno;
    struct iovec local = {dst, n}, remote = {(void *)(uintptr_t)src, n};
    ssize_t got = process_vm_readv((pid_t)ps_os_pid(), &local, 1, &remote, 1, 0);
    errno = saved;
    return got == (ssize_t)n ? 0 : -1;
}

void ps_os_hint_huge(void *p, size_t size)
{
#ifdef MADV_HUGEPAGE
    madvise(p, size, MADV_HUGEPAGE); /* a hint: failure changes nothing */
#else
    (void)p;
    (void)size;
#endif
}

/* The page size from the auxiliary vector: getauxval runs anyway (ps_os_is_secure), sysconf's
 * code lies elsewhere in libc's text. */
size_t ps_os_page_size(void)
{
    static size_t page;
    if (!page) {
        unsigned long v = getauxval(AT_PAGESZ);
        page = v ? (size_t)v : 4096;
    }
    return page;
}

/* ---- system calls and the clock without libc's wrappers --------------------------------------
 * Every libc function the shim calls and the program does not maps a 64 KiB window of libc's
 * code into the process (the kernel's fault-around), and where the window falls depends on
 * libc's load address: clock_gettime, sysinfo, getpid and syscall() did so on a small program
 * (docs/performance.md, "Sampling's peak RSS: system calls without libc's wrappers"). The calls
 * below are made directly: the syscall instruction on x86-64, the vDSO's own clock_gettime, found
 * in its symbol table. Other architectures use libc's wrappers. */

#if defined(__x86_64__)
static long raw_syscall(long nr, long a, long b, long c, long d)
{
    long r;
    register long r10 __asm__("r10") = d;
    __asm__ volatile("syscall"
                     : "=a"(r)
                     : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10)
                     : "rcx", "r11", "memory");
    return r; /* -errno on failure; errno is not touched */
}
#else
static long raw_syscall(long nr, long a, long b, long c, long d)
{
    int saved = errno;
    long r = syscall(nr, a, b, c, d);
    if (r == -1)
        r = -errno;
    errno = saved;
    return r;
}
#endif
/* A system call of up to four arguments: its result, or -errno; errno is not touched. */
#define PS_RAW_SYSCALL(nr, a, b, c, d) raw_syscall((nr), (long)(a), (long)(b), (long)(c), (long)(d))

/* libc's clock_gettime (itself through the vDSO): without a usable vDSO symbol table, and on
 * other architectures. errno is kept. */
static int libc_clock_gettime(clockid_t id, struct timespec *ts)
{
    int saved = errno;
    int r = clock_gettime(id, ts);
    errno = saved;
    return r == 0 ? 0 : -1;
}

#if defined(__x86_64__)
typedef int (*vdso_clock_fn)(clockid_t, struct timespec *);
static _Atomic(vdso_clock_fn) vdso_clock; /* the vDSO's clock_gettime, once looked up */
static atomic_int vdso_looked;            /* 1 once looked up (found or not) */

/* __vdso_clock_gettime in the vDSO's dynamic symbol table (the vDSO is an ELF image the kernel
 * maps; its address is in the auxiliary vector). NULL if there is no vDSO or no such symbol:
 * the system call is used then. */
static vdso_clock_fn vdso_lookup(void)
{
    const unsigned char *base = (const unsigned char *)getauxval(AT_SYSINFO_EHDR);
    if (!base)
        return NULL;
    const ElfW(Ehdr) *eh = (const ElfW(Ehdr) *)base;
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0)
        return NULL;
    const ElfW(Phdr) *ph = (const ElfW(Phdr) *)(base + eh->e_phoff);
    uintptr_t load = 0;
    const ElfW(Dyn) *dyn = NULL;
    int have_load = 0;
    for (int i = 0; i < eh->e_phnum; i++) {
        if (ph[i].p_type == PT_LOAD && !have_load) {
            load = (uintptr_t)base + ph[i].p_offset - ph[i].p_vaddr;
            have_load = 1;
        } else if (ph[i].p_type == PT_DYNAMIC) {
            dyn = (const ElfW(Dyn) *)(base + ph[i].p_offset);
        }
    }
    if (!have_load || !dyn)
        return NULL;
    const ElfW(Sym) *sym = NULL;
    const char *str = NULL;
    const uint32_t *hash = NULL;
    for (; dyn->d_tag != DT_NULL; dyn++) {
        if (dyn->d_tag == DT_SYMTAB)
            sym = (const ElfW(Sym) *)(load + dyn->d_un.d_ptr);
        else if (dyn->d_tag == DT_STRTAB)
            str = (const char *)(load + dyn->d_un.d_ptr);
        else if (dyn->d_tag == DT_HASH)
            hash = (const uint32_t *)(load + dyn->d_un.d_ptr);
    }
    if (!sym || !str || !hash)
        return NULL;
    uint32_t nsyms = hash[1]; /* DT_HASH: nbucket, nchain; nchain = the number of symbols */
    for (uint32_t i = 0; i < nsyms; i++) {
        if (ELF64_ST_TYPE(sym[i].st_info) != STT_FUNC || sym[i].st_shndx == SHN_UNDEF)
            continue;
        if (strcmp(str + sym[i].st_name, "__vdso_clock_gettime") == 0)
            return (vdso_clock_fn)(load + sym[i].st_value);
    }
    return NULL;
}

static int os_clock_gettime(clockid_t id, struct timespec *ts)
{
    vdso_clock_fn f = atomic_load_explicit(&vdso_clock, memory_order_acquire);
    if (__builtin_expect(!f, 0) && !atomic_load_explicit(&vdso_looked, memory_order_acquire)) {
        f = vdso_lookup();
        atomic_store_explicit(&vdso_clock, f, memory_order_release);
        atomic_store_explicit(&vdso_looked, 1, memory_order_release);
    }
    if (f)
        return f(id, ts) == 0 ? 0 : -1;
    return libc_clock_gettime(id, ts);
}

int ps_os_clock_direct(void)
{
    struct timespec ts;
    (void)os_clock_gettime(CLOCK_MONOTONIC, &ts);
    return atomic_load_explicit(&vdso_clock, memory_order_acquire) != NULL;
}
#else
/* Elsewhere the vDSO's symbol has another name (__kernel_clock_gettime on arm64): libc's. */
static int os_clock_gettime(clockid_t id, struct timespec *ts)
{
    return libc_clock_gettime(id, ts);
}

int ps_os_clock_direct(void)
{
    return 0;
}
#endif

static uint64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    if (os_clock_gettime(id, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t ps_os_monotonic_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

uint64_t ps_os_coarse_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC_COARSE);
}

uint64_t ps_os_coarse_res_ns(void)
{
    struct timespec ts;
    if (PS_RAW_SYSCALL(SYS_clock_getres, CLOCK_MONOTONIC_COARSE, &ts, 0, 0) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t ps_os_realtime_ns(void)
{
    return clock_ns(CLOCK_REALTIME);
}

uint32_t ps_os_tid(void)
{
    return (uint32_t)PS_RAW_SYSCALL(SYS_gettid, 0, 0, 0, 0);
}

uint32_t ps_os_pid(void)
{
    return (uint32_t)PS_RAW_SYSCALL(SYS_getpid, 0, 0, 0, 0);
}

uint32_t ps_os_ppid(void)
{
    return (uint32_t)PS_RAW_SYSCALL(SYS_getppid, 0, 0, 0, 0);
}

int ps_os_write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (w == 0)
            return -EIO;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

ssize_t ps_os_read_file(const char *path, char *buf, size_t size)
{
    if (size == 0)
        return -1;
    int saved = errno;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        errno = saved;
        return -1;
    }
    size_t got = 0;
    while (got + 1 < size) {
        ssize_t r = read(fd, buf + got, size - 1 - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    buf[got] = 0;
    errno = saved;
    return (ssize_t)got;
}

uint64_t ps_os_rss_bytes(void)
{
    char buf[128];
    if (ps_os_read_file("/proc/self/statm", buf, sizeof buf) <= 0)
        return 0;
    /* "size resident shared ...": the second field, in pages */
    const char *c = buf;
    while (*c && *c != ' ')
        c++;
    uint64_t pages = 0;
    while (*c == ' ')
        c++;
    while (*c >= '0' && *c <= '9')
        pages = pages * 10 + (uint64_t)(*c++ - '0');
    return pages * ps_os_page_size();
}

uint64_t ps_os_peak_rss_bytes(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (uint64_t)ru.ru_maxrss * 1024u;
}

int ps_os_is_secure(void)
{
    return getauxval(AT_SECURE) != 0;
}

/* Valgrind's "is this program running on me?" client request (RUNNING_ON_VALGRIND, request
 * 0x1001, documented in the valgrind manual's "client requests" and valgrind.h). The guest marks
 * a request with four rotations of rdi that add up to 128 bits (rdi unchanged) followed by
 * `xchg %rbx,%rbx`: on the real CPU both are no-ops and rdx keeps the default, 0; valgrind's
 * translator sees the pattern, reads the request's words at rax and puts its answer in rdx (the
 * number of valgrind layers). No system call, no loader call: safe in the constructor. */
int ps_os_under_valgrind(void)
{
#if defined(__x86_64__)
    volatile unsigned long req[6] = {0x1001, 0, 0, 0, 0, 0};
    unsigned long answer = 0;
    __asm__ volatile("rolq $3, %%rdi\n\trolq $13, %%rdi\n\t"
                     "rolq $61, %%rdi\n\trolq $51, %%rdi\n\t"
                     "xchgq %%rbx, %%rbx"
                     : "+d"(answer)
                     : "a"(&req[0])
                     : "cc", "memory", "rdi");
    return answer != 0;
#else
    return 0;
#endif
}

int ps_os_resident(void *p, size_t len, unsigned char *vec)
{
    return mincore(p, len, vec) == 0 ? 0 : -1;
}

/* The kernel reads sizeof(sigset_t) bytes from the new-mask pointer before it looks at `how`:
 * with a `how` that does not exist, rt_sigprocmask fails with EFAULT if those 8 bytes cannot be
 * read and with EINVAL if they can, and changes nothing either way. No descriptor, no signal,
 * no side effect (libunwind's own check writes the byte into a pipe). One check per page. */
int ps_os_readable(const void *p, size_t n)
{
    int saved = errno, ok = 1;
    uintptr_t a = (uintptr_t)p & ~(uintptr_t)7, end = (uintptr_t)p + (n ? n : 1);
    if (end < a)
        ok = 0;
    for (; ok && a < end; a = (a | 4095u) + 1) /* an aligned 8-byte word never crosses a page */
        ok = PS_RAW_SYSCALL(SYS_rt_sigprocmask, -1, a, 0, 8) == -EINVAL;
    errno = saved;
    return ok;
}

long ps_os_syscall(long nr, const long a[6])
{
    return syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}

int ps_os_block_signals(uint64_t *old)
{
    /* bit n-1 for signal n, as the kernel's 8-byte sigset */
    uint64_t set = ~(uint64_t)0;
    static const int keep[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS, 32, 33};
    for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++)
        set &= ~((uint64_t)1 << (keep[i] - 1));
    return PS_RAW_SYSCALL(SYS_rt_sigprocmask, SIG_BLOCK, &set, old, 8) == 0 ? 0 : -1;
}

void ps_os_restore_signals(uint64_t old)
{
    PS_RAW_SYSCALL(SYS_rt_sigprocmask, SIG_SETMASK, &old, 0, 8);
}

void ps_os_exit(int status)
{
    for (;;)
        syscall(SYS_exit_group, status);
}

void ps_os_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

void ps_os_yield(void)
{
    sched_yield();
}

/* ---- address-space reservations (added for pool.c) ---------------------------------------- */

void *ps_os_reserve(size_t size, size_t align)
{
    size_t over = size + align;
    if (over < size || map_fault())
        return NULL;
    int saved = errno;
    char *p = mmap(NULL, over, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    errno = saved;
    if (p == MAP_FAILED)
        return NULL;
    char *start = (char *)(((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1));
    if (start > p)
        munmap(p, (size_t)(start - p));
    size_t tail = (size_t)((p + over) - (start + size));
    if (tail)
        munmap(start + size, tail);
    own_add(start, size);
    return start;
}

int ps_os_commit(void *p, size_t size)
{
    if (map_fault())
        return -1;
    int saved = errno;
    int rc = mprotect(p, size, PROT_READ | PROT_WRITE) == 0 ? 0 : -1;
    errno = saved;
    return rc;
}

void ps_os_drop_file_pages(const void *p, size_t size)
{
    (void)PS_RAW_SYSCALL(SYS_madvise, p, size, MADV_DONTNEED, 0); /* a hint: errno untouched */
}

int ps_os_private_pages(const void *p, size_t size)
{
    /* /proc/self/pagemap: 64 bits a page, bit 63 present, bit 61 a file page or shared
     * anonymous memory. A present page without bit 61 in a file mapping is a private copy:
     * a debugger's breakpoint, a uprobe, a text relocation. */
    size_t page = ps_os_page_size();
    uintptr_t a = (uintptr_t)p & ~(uintptr_t)(page - 1), end = (uintptr_t)p + size;
    int saved = errno, found = 0;
    int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        errno = saved;
        return -1;
    }
    uint64_t e[64];
    while (found == 0 && a < end) {
        size_t n = (end - a + page - 1) / page;
        if (n > sizeof e / sizeof e[0])
            n = sizeof e / sizeof e[0];
        ssize_t r = pread(fd, e, n * sizeof e[0], (off_t)(a / page * sizeof e[0]));
        if (r <= 0 || (size_t)r % sizeof e[0] != 0) {
            found = -1;
            break;
        }
        for (size_t i = 0; i < (size_t)r / sizeof e[0]; i++)
            if ((e[i] >> 63 & 1) && !(e[i] >> 61 & 1))
                found = 1;
        a += (size_t)r / sizeof e[0] * page;
    }
    close(fd);
    errno = saved;
    return found;
}

void ps_os_purge(void *p, size_t size)
{
    int saved = errno;
    madvise(p, size, MADV_DONTNEED);
    errno = saved;
}

void ps_os_sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* ---- files, the thread's name, the process's context ---------------------------------------- */

uint64_t ps_os_clock_ns(clockid_t clk)
{
    return clock_ns(clk);
}

unsigned long ps_os_auxv(unsigned long type)
{
    return getauxval(type);
}

uint64_t ps_os_stack_limit(void)
{
    struct rlimit rl; /* getrlimit is a plain system call */
    if (getrlimit(RLIMIT_STACK, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
        return 0;
    return (uint64_t)rl.rlim_cur;
}

uint64_t ps_os_fsize_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_FSIZE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
        return UINT64_MAX;
    return (uint64_t)rl.rlim_cur;
}

int ps_os_past_fsize(int fd, size_t n)
{
    uint64_t limit = ps_os_fsize_limit();
    if (limit == UINT64_MAX)
        return 0;
    int saved = errno;
    struct stat st;
    int past = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size + n > limit;
    errno = saved;
    return past;
}

/* prctl made directly: libc's would reach the shim's own prctl (interpose_sandbox.c), code
 * no other run executes */
void ps_os_thread_name(char name[16])
{
    PS_RAW_SYSCALL(SYS_prctl, PR_GET_NAME, name, 0, 0);
}

void ps_os_cwd(char *buf, size_t size)
{
    if (!getcwd(buf, size) && size)
        buf[0] = 0;
}

void ps_os_readlink(const char *path, char *buf, size_t size)
{
    if (!size)
        return;
    ssize_t n = readlink(path, buf, size - 1);
    buf[n > 0 ? n : 0] = 0;
}

int ps_os_open(const char *path, int flags, unsigned mode)
{
    return open(path, flags, (mode_t)mode);
}

int ps_os_unlink(const char *path)
{
    return unlink(path);
}

int ps_os_close(int fd)
{
    return close(fd);
}

int ps_os_rename(const char *from, const char *to)
{
    return rename(from, to);
}

int ps_os_send_dgram(const char *path, const void *p, size_t n)
{
    struct sockaddr_un sa;
    size_t len = strlen(path);
    if (len >= sizeof sa.sun_path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, len);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    ssize_t r;
    do
        r = sendto(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT, (const struct sockaddr *)&sa,
                   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1));
    while (r < 0 && errno == EINTR);
    int saved = errno;
    close(fd);
    errno = saved;
    return r == (ssize_t)n ? 0 : -1;
}

int ps_os_fstat(int fd, struct stat *st)
{
    return fstat(fd, st);
}

int ps_os_dup_above(int fd, int floor)
{
    return fcntl(fd, F_DUPFD_CLOEXEC, floor);
}

ssize_t ps_os_write(int fd, const void *p, size_t n)
{
    return write(fd, p, n);
}

ssize_t ps_os_writev(int fd, const struct iovec *iov, int n)
{
    return writev(fd, iov, n);
}

uint32_t ps_os_euid(void)
{
    return (uint32_t)geteuid();
}

uint32_t ps_os_egid(void)
{
    return (uint32_t)getegid();
}

int ps_os_stat(const char *path, struct stat *st)
{
    return stat(path, st);
}

int ps_os_fchown(int fd, uint32_t uid, uint32_t gid)
{
    return fchown(fd, (uid_t)uid, (gid_t)gid);
}

/* ---- the control channel (control.c) ------------------------------------------------------ */

int ps_os_mkdir(const char *path, unsigned mode)
{
    return mkdir(path, (mode_t)mode);
}

int ps_os_lstat(const char *path, struct stat *st)
{
    return lstat(path, st);
}

int ps_os_chmod(const char *path, unsigned mode)
{
    return chmod(path, (mode_t)mode);
}

static int unix_addr(const char *path, struct sockaddr_un *a)
{
    size_t n = strlen(path);
    if (n >= sizeof a->sun_path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    memcpy(a->sun_path, path, n + 1);
    return 0;
}

int ps_os_unix_socket(void)
{
    return socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
}

int ps_os_unix_bind(int fd, const char *path)
{
    struct sockaddr_un a;
    if (unix_addr(path, &a) != 0)
        return -1;
    return bind(fd, (struct sockaddr *)&a, sizeof a);
}

int ps_os_unix_connect(int fd, const char *path)
{
    struct sockaddr_un a;
    if (unix_addr(path, &a) != 0)
        return -1;
    return connect(fd, (struct sockaddr *)&a, sizeof a);
}

int ps_os_listen(int fd, int backlog)
{
    return listen(fd, backlog);
}

int ps_os_accept(int fd)
{
    return accept4(fd, NULL, NULL, SOCK_CLOEXEC);
}

int ps_os_peer_uid(int fd, uint32_t *uid)
{
    struct ucred c;
    socklen_t len = sizeof c;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c, &len) != 0 || len != sizeof c)
        return -1;
    *uid = (uint32_t)c.uid;
    return 0;
}

int ps_os_poll_in(int fd, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int r = poll(&p, 1, timeout_ms);
    if (r > 0 && (p.revents & POLLNVAL)) {
        errno = EBADF;
        return -1;
    }
    return r > 0 ? 1 : r;
}

ssize_t ps_os_recv(int fd, void *p, size_t n)
{
    return recv(fd, p, n, MSG_DONTWAIT);
}

ssize_t ps_os_send(int fd, const void *p, size_t n)
{
    return send(fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
}

void ps_os_set_thread_name(const char *name)
{
    PS_RAW_SYSCALL(SYS_prctl, PR_SET_NAME, name, 0, 0);
}

/* ---- signals and timers -----------------------------------------------------------------------
 */

int ps_os_cpu_timer_start(timer_t *timer, int sig, uint32_t tid, void *value, uint64_t period_ns)
{
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = sig;
    sev.sigev_value.sival_ptr = value;
    sev._sigev_un._tid = (int)tid;
    if (timer_create(CLOCK_THREAD_CPUTIME_ID, &sev, timer) != 0)
        return -1;
    struct itimerspec its = {
        .it_interval = {(time_t)(period_ns / 1000000000u), (long)(period_ns % 1000000000u)},
        .it_value = {(time_t)(period_ns / 1000000000u), (long)(period_ns % 1000000000u)}};
    if (timer_settime(*timer, 0, &its, NULL) != 0) {
        timer_delete(*timer);
        return -1;
    }
    return 0;
}

void ps_os_timer_delete(timer_t timer)
{
    timer_delete(timer);
}

int ps_os_raise(int sig)
{
    return raise(sig);
}

int ps_os_requeue_self(int sig, const siginfo_t *si)
{
    /* to its own thread any si_code may be sent (kernel/signal.c, do_rt_tgsigqueueinfo) */
    long rc = PS_RAW_SYSCALL(SYS_rt_tgsigqueueinfo, ps_os_pid(), ps_os_tid(), sig, (long)si);
    return rc == 0 ? 0 : -1;
}

uint64_t ps_os_mem_total(void)
{
    struct sysinfo si;
    if (PS_RAW_SYSCALL(SYS_sysinfo, &si, 0, 0, 0) != 0)
        return 0;
    return (uint64_t)si.totalram * (si.mem_unit ? si.mem_unit : 1);
}
