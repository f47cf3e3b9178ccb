/* SPDX-License-Identifier: MIT */
/*
 * os.h — the only door from the shim to the operating system: memory mappings, clocks,
 * thread ids, files and /proc. Other shim files do not include <sys/mman.h> or call syscall().
 * Nothing here allocates through malloc or uses stdio.
 */
#ifndef PS_OS_H
#define PS_OS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <signal.h>
#include <sys/uio.h>
#include <time.h>

void *ps_os_map(size_t size); /* zeroed, read/write, NORESERVE; NULL on failure */
void ps_os_unmap(void *p, size_t size);
void ps_os_hint_huge(void *p, size_t size); /* ask for transparent huge pages (big tables) */
size_t ps_os_page_size(void);
uint64_t ps_os_monotonic_ns(void);
uint64_t ps_os_coarse_ns(void);     /* CLOCK_MONOTONIC_COARSE: the kernel tick's time (ns) */
uint64_t ps_os_coarse_res_ns(void); /* its resolution (ns) */
uint64_t ps_os_realtime_ns(void);
uint32_t ps_os_tid(void);
uint32_t ps_os_pid(void); /* getpid(), uncached */
uint32_t ps_os_ppid(void);
int ps_os_write_all(int fd, const void *p, size_t n);              /* 0, or -errno */
ssize_t ps_os_read_file(const char *path, char *buf, size_t size); /* NUL-terminated */
uint64_t ps_os_rss_bytes(void);      /* resident set now, from /proc/self/statm */
uint64_t ps_os_peak_rss_bytes(void); /* getrusage ru_maxrss */
uint64_t ps_os_mem_total(void);      /* the machine's memory (sysinfo totalram); 0 if unknown */
int ps_os_is_secure(void);           /* AT_SECURE: set-uid/set-gid/capabilities */
int ps_os_under_valgrind(void);      /* a valgrind guest (RUNNING_ON_VALGRIND; x86-64 only) */
/* Which pages of [p, p+len) are resident: vec gets one byte per page, bit 0 set if resident.
 * p must be page-aligned. Returns 0, or -1 (then treat every page as resident). */
int ps_os_resident(void *p, size_t len, unsigned char *vec);
/* 1 if every byte of [p, p+n) can be read (n 0 counts as 1), checked without a descriptor
 * and without touching the memory (an unmapped or PROT_NONE page gives 0). errno kept. */
int ps_os_readable(const void *p, size_t n);
long ps_os_syscall(long nr, const long a[6]); /* syscall(nr, a[0..5]), errno as syscall(2) */
void ps_os_exit(int status) __attribute__((noreturn)); /* exit_group: the process ends */
/* Blocks in this thread every signal another process or thread can send, but the faults
 * (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS) and glibc's own two (32, 33); *old gets
 * the mask before. A raw rt_sigprocmask: neither libc's nor the interposed one. 0 or -1. */
int ps_os_block_signals(uint64_t *old);
void ps_os_restore_signals(uint64_t old); /* the mask ps_os_block_signals saved */
void ps_os_cpu_relax(void);
void ps_os_yield(void);
void ps_os_sleep_ms(unsigned ms);
/* A clock's time in ns (e.g. a thread's CPU clock); 0 if it cannot be read. */
uint64_t ps_os_clock_ns(clockid_t clk);
unsigned long ps_os_auxv(unsigned long type); /* getauxval: 0 if absent */
/* 1 if the clocks above are read through the vDSO's clock_gettime, found in its symbol table
 * (x86-64); 0 if through libc's clock_gettime (no vDSO, e.g. under valgrind; other machines). */
int ps_os_clock_direct(void);
uint64_t ps_os_stack_limit(void); /* RLIMIT_STACK's soft limit in bytes; 0 if unlimited */
uint64_t ps_os_fsize_limit(void); /* RLIMIT_FSIZE's soft limit in bytes; UINT64_MAX if none */
/* 1 if fd is a regular file and n more bytes at its end would pass RLIMIT_FSIZE (the kernel
 * would send SIGXFSZ, which ends the program by default); 0 otherwise. errno kept. */
int ps_os_past_fsize(int fd, size_t n);
void ps_os_thread_name(char name[16]); /* the calling thread's name (PR_GET_NAME) */
/* The working directory and the target of a symbolic link, NUL-terminated; "" on failure. */
void ps_os_cwd(char *buf, size_t size);
void ps_os_readlink(const char *path, char *buf, size_t size);

/* ---- files (the trace, its list): -1 and errno on failure, as the system calls ------------ */
int ps_os_open(const char *path, int flags, unsigned mode);
int ps_os_close(int fd);
int ps_os_rename(const char *from, const char *to); /* replaces `to` atomically */
int ps_os_unlink(const char *path);
/* One datagram to the unix socket at path (syslog's /dev/log): a socket opened, sent on and
 * closed, so no descriptor stays open; never blocks (a full receiver: EAGAIN). 0, or -1 and
 * errno. */
int ps_os_send_dgram(const char *path, const void *p, size_t n);
int ps_os_fstat(int fd, struct stat *st);
int ps_os_dup_above(int fd, int floor); /* a close-on-exec copy numbered floor or higher */
ssize_t ps_os_write(int fd, const void *p, size_t n);
ssize_t ps_os_writev(int fd, const struct iovec *iov, int n);
uint32_t ps_os_euid(void);
int ps_os_fchown(int fd, uint32_t uid, uint32_t gid); /* (uint32_t)-1 leaves that id */
uint32_t ps_os_egid(void);
int ps_os_stat(const char *path, struct stat *st);

/* ---- the control channel (control.c): -1 and errno on failure, as the system calls -------- */
int ps_os_mkdir(const char *path, unsigned mode);
int ps_os_lstat(const char *path, struct stat *st);
int ps_os_chmod(const char *path, unsigned mode);
int ps_os_unix_socket(void); /* AF_UNIX stream socket, close-on-exec */
int ps_os_unix_bind(int fd, const char *path);
int ps_os_unix_connect(int fd, const char *path);
int ps_os_listen(int fd, int backlog);
int ps_os_accept(int fd);                            /* close-on-exec */
int ps_os_peer_uid(int fd, uint32_t *uid);           /* SO_PEERCRED: the peer's uid at connect */
int ps_os_poll_in(int fd, int timeout_ms);           /* 1 readable, 0 timed out, -1 error */
ssize_t ps_os_recv(int fd, void *p, size_t n);       /* never blocks */
ssize_t ps_os_send(int fd, const void *p, size_t n); /* never blocks, never raises SIGPIPE */
void ps_os_set_thread_name(const char *name);        /* the calling thread's (PR_SET_NAME) */

/* ---- signals and per-thread CPU timers (cpu.c) -------------------------------------------- */
/* A timer on the calling thread's CPU clock that sends sig to this thread (tid) every
 * period_ns of its CPU time, carrying value; 0, or -1 (no timer). */
int ps_os_cpu_timer_start(timer_t *timer, int sig, uint32_t tid, void *value, uint64_t period_ns);
void ps_os_timer_delete(timer_t timer);
int ps_os_raise(int sig);
/* sig to this thread again with the siginfo it came with (rt_tgsigqueueinfo); -1 on failure */
int ps_os_requeue_self(int sig, const siginfo_t *si);

/* ---- address-space reservations (added for pool.c) ---------------------------------------- */
/* Reserve size bytes of address space aligned to align (a power of two): PROT_NONE,
 * MAP_NORESERVE, so nothing is committed or charged. NULL on failure. */
void *ps_os_reserve(size_t size, size_t align);
int ps_os_commit(void *p, size_t size); /* make reserved pages read/write: 0, or -1 */
int ps_os_protect(void *p, size_t size, int writable); /* read-only or read/write: 0, or -1 */
/* Unmap the pages of [p, p + size) from this process (MADV_DONTNEED, a raw system call) where
 * they are clean pages of a read-only file mapping: they leave its RSS and come back from the
 * page cache at the next read. Never on memory that may hold private changes. */
void ps_os_drop_file_pages(const void *p, size_t size);
/* 1 if a page of [p, p+size) of a file mapping is a private copy (written: a breakpoint, a
 * uprobe), 0 if none is, -1 if /proc/self/pagemap cannot tell */
int ps_os_private_pages(const void *p, size_t size);
void ps_os_purge(void *p, size_t size); /* give the pages back (MADV_DONTNEED): they stay
                                           mapped and read as zero afterwards */
/* Copy n bytes of this process's memory at src, failing (-1) instead of faulting where src is
 * not readable (process_vm_readv); 0 on success. */
int ps_os_read_self(void *dst, const void *src, size_t n);
/* Grow a ps_os_map mapping to new_size, moving it if need be (its pages move, nothing is
 * copied); the new part reads as zero. NULL on failure (the old mapping stays). */
void *ps_os_remap(void *p, size_t old_size, size_t new_size);

/* ---- fault injection (PERFSHIM_FAULT_MAP; for tests only, docs/options.md) ---------------- */
/* ps_os_map, ps_os_remap, ps_os_reserve and ps_os_commit are the shim's only requests for
 * memory; they are numbered from 1 in the order the process makes them (a forked child
 * continues its parent's count). With nth > 0 request number nth fails (persist: it and every later
 * one), exactly as if the kernel had refused it. */
void ps_os_fault_map_setup(uint64_t nth, int persist);
uint64_t ps_os_map_requests(void); /* requests made so far */

/* ---- the shim's own mappings (for the exit leak scan, reach.c) ---------------------------- */
/* ps_os_map, ps_os_reserve and ps_os_remap record each mapping they make, ps_os_unmap forgets
 * it, in a table of PS_OS_OWN_MAX slots (lock-free, no allocation). Calls fn for every mapping
 * recorded; returns how many mappings could not be recorded (the table was full: they are
 * not listed). A mapping made or unmapped meanwhile by another thread may be missed. */
#define PS_OS_OWN_MAX 2048
uint64_t ps_os_own_maps(void (*fn)(void *arg, uintptr_t lo, uintptr_t hi), void *arg);

#endif /* PS_OS_H */
