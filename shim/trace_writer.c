/* SPDX-License-Identifier: MIT */
/*
 * trace_writer.c — encodes chunks (docs/trace-format.md) and owns the trace file; its
 * ps_put_<name>() encoders are generated from the records declared in include/trace_rows.h.
 *
 * The file is created on the first snapshot of a process (a child that forks and then execs
 * leaves no file), O_EXCL|O_NOFOLLOW, mode 0600, never overwriting: ".1", ".2", ... is
 * appended when the name exists. The descriptor is moved above the range programs usually
 * dup2 onto, and checked (device and inode) before each write: a program that closed it, or
 * reused its number for another file, makes us reopen our file by path instead of writing
 * into theirs. Between the snapshots of a running process (perfshim_dump, PERFSHIM_INTERVAL)
 * the descriptor is closed (ps_writer_suspend) and reopened by path, O_APPEND, at the next
 * one: a program that lists its descriptors mid-run finds none of ours.
 * With PERFSHIM_MAX_TRACE the trace is a sequence of pieces (ps_writer_rotate): the file named
 * above, then "<it>.part2", ...; the first and at most the latest PS_PIECES_KEPT are kept, as
 * many as the bound holds with their sizes (prune).
 * Payloads are built in mmap'd buffers: nothing here calls malloc.
 * The caller (snapshot.c) serializes all calls with the writer lock.
 */
#include "internal.h"

#include "include/trace_format.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#define PS_TRACE_PATH_MAX 4096
#define PS_FD_FLOOR 500 /* our descriptor is moved to >= this */

static struct {
    int fd;       /* -1 until created */
    uint32_t pid; /* process that created fd */
    dev_t dev;
    ino_t ino;
    int failed;      /* 1 after a write error: stop writing */
    int suspended;   /* fd closed between snapshots: reopen path (same dev and inode) */
    uint64_t chunks; /* chunks written to this file */
    uint64_t writes; /* write calls made on this file (PERFSHIM_FAULT_WRITE counts them) */
    uint64_t size;   /* bytes written to this file */
    uint64_t group_start, last_group; /* size where the last snapshot group began; its bytes */
    uint32_t groups;                  /* snapshot groups written to this file */
    uint32_t piece;                   /* PERFSHIM_MAX_TRACE: 1 for the first file, then 2, ... */
    int keep;         /* 1 after a uid change: fd stays open between snapshots (ps_writer_keep) */
    uint32_t section; /* trace section of this file (perfshim ctl start): 0 or 1 = the first */
    /* the paths last, after every scalar, and copied only as far as their end: a process
     * touches the start of each, not 12 KiB (docs/performance.md, "Sampling's peak RSS: the
     * unwinder's pages of libc and the shim's own pages") */
    char path[PS_TRACE_PATH_MAX];
    char first[PS_TRACE_PATH_MAX]; /* the first piece's path: later pieces are named after it */
    char section_first[PS_TRACE_PATH_MAX]; /* the first section's file, once a second begins */
    char why[512]; /* after a failure: its warning, for perfshim ctl's reply (ps_writer_failure) */
} w = {.fd = -1};

/* PERFSHIM_MAX_TRACE keeps the first piece and at most the latest PS_PIECES_KEPT (the current
 * one included); the pieces between are deleted, and so are the oldest of those latest ones
 * while the files would pass the bound (prune): a piece holds every stack and a keyframe, so a
 * program with many stacks has pieces far larger than the share below, and keeping three of
 * them made the files 3-70 times the bound (issue 11). Each piece ends when it reaches a
 * PS_PIECES_KEPT + 1 share of the bound. */
#define PS_PIECES_KEPT 3
static struct {
    dev_t dev;
    ino_t ino;
    uint64_t size; /* its size when it was closed */
    char path[PS_TRACE_PATH_MAX];
} older[PS_PIECES_KEPT - 1]; /* the pieces before the current one still kept, oldest first */
static int nolder;
static uint64_t first_size; /* the first piece's size, once it is closed (0 before) */
/* The END chunk a piece still gets after its last snapshot group (snapshot.c, write_end). */
#define PS_END_BYTES (PS_CHUNK_HEADER_SIZE + PS_ROW_WIRE_SIZE(END))

/* The writer stops: one warning, kept for ps_writer_failure (perfshim ctl dump and stop say
 * why, where the program's stderr, if it has one, may be a log nobody reads). */
static void writer_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void writer_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ps_msg_format(w.why, sizeof w.why, fmt, ap);
    va_end(ap);
    ps_msg_warn("%s", w.why);
    w.failed = 1;
}

const char *ps_writer_failure(void)
{
    return w.failed ? w.why : "";
}

/* Fault injection (PERFSHIM_FAULT_WRITE, tests only): 1 if this write must fail with ENOSPC
 * as if the disk were full. Counted per file, from 1 (the file header). */
static int write_fault(void)
{
    w.writes++;
    int at = ps_g.opt.fault_write;
    if (PS_LIKELY(at == 0))
        return 0;
    return ps_g.opt.fault_persist ? w.writes >= (uint64_t)at : w.writes == (uint64_t)at;
}

/* 1 if writing n more bytes would take our file past RLIMIT_FSIZE (ulimit -f): the kernel would
 * send SIGXFSZ, whose default action ends the program. Such a write is refused (EFBIG) as a full
 * disk's is: the chunks already written stay readable. The limit is read at each write, since
 * the program may change it. */
static int over_fsize(size_t n)
{
    return w.size + n > ps_os_fsize_limit();
}

/* ---- payload buffers ------------------------------------------------------------------------ */

static int buf_reserve(ps_buf_t *b, size_t more)
{
    if (b->failed)
        return -1;
    if (b->len + more <= b->cap)
        return 0;
    size_t ncap = b->cap ? b->cap : 64 * 1024;
    while (ncap < b->len + more)
        ncap *= 2;
    /* moved, not copied: a copy touched the old and the new pages. (A payload on the
     * caller's stack must be big enough: remapping it fails, and the payload is dropped.) */
    uint8_t *nd = b->cap ? ps_os_remap(b->data, b->cap, ncap) : ps_os_map(ncap);
    if (!nd) {
        b->failed = 1;
        return -1;
    }
    b->data = nd;
    b->cap = ncap;
    return 0;
}

void ps_buf_reset(ps_buf_t *b)
{
    b->len = 0;
    b->failed = 0;
}

void ps_buf_free(ps_buf_t *b)
{
    ps_os_unmap(b->data, b->cap);
    memset(b, 0, sizeof *b);
}

void ps_buf_bytes(ps_buf_t *b, const void *p, size_t n)
{
    if (buf_reserve(b, n) == 0) {
        if (n)
            memcpy(b->data + b->len, p, n);
        b->len += n;
    }
}

void ps_buf_u16(ps_buf_t *b, uint16_t v)
{
    uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    ps_buf_bytes(b, x, 2);
}

/* Integers are little-endian in the trace, as on the host (x86-64): stored as they are. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the trace is little-endian");

void ps_buf_u32(ps_buf_t *b, uint32_t v)
{
    if (PS_LIKELY(b->len + 4 <= b->cap && !b->failed)) {
        memcpy(b->data + b->len, &v, 4);
        b->len += 4;
        return;
    }
    ps_buf_bytes(b, &v, 4);
}

void ps_buf_u64(ps_buf_t *b, uint64_t v)
{
    if (PS_LIKELY(b->len + 8 <= b->cap && !b->failed)) {
        memcpy(b->data + b->len, &v, 8);
        b->len += 8;
        return;
    }
    ps_buf_bytes(b, &v, 8);
}

/* LEB128: 7 bits a byte, low first, the high bit set on every byte but the last. A counter
 * that moved by less than 128 since the row before costs one byte instead of eight. */
void ps_buf_varint(ps_buf_t *b, uint64_t v)
{
    uint8_t x[10];
    size_t n = 0;
    for (; v >= 0x80; v >>= 7)
        x[n++] = (uint8_t)(v | 0x80);
    x[n++] = (uint8_t)v;
    if (PS_LIKELY(b->len + n <= b->cap && !b->failed)) {
        memcpy(b->data + b->len, x, n);
        b->len += n;
        return;
    }
    ps_buf_bytes(b, x, n);
}

void ps_buf_str(ps_buf_t *b, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    ps_buf_u32(b, (uint32_t)n);
    ps_buf_bytes(b, s, n);
}

size_t ps_buf_table(ps_buf_t *b, uint32_t row_size)
{
    size_t at = b->len;
    ps_buf_u32(b, 0);
    ps_buf_u32(b, row_size);
    return at;
}

void ps_buf_patch_u32(ps_buf_t *b, size_t at, uint32_t v)
{
    if (b->failed || at + 4 > b->len)
        return;
    for (int i = 0; i < 4; i++)
        b->data[at + (size_t)i] = (uint8_t)(v >> (8 * i));
}

/* ---- the records of include/trace_rows.h: ps_put_<name>() ---------------------------------- */

#define PUT_FIELD(r, type, name, unit, json, json_name, meaning) PUT_##type(b, (r)->name);
#define PUT_u32(b, v) ps_buf_u32(b, v)
#define PUT_u64(b, v) ps_buf_u64(b, v)
#define PUT_pad32(b, v) ps_buf_u32(b, 0)
#define PUT_name16(b, v) ps_buf_bytes(b, v, PS_ROW_NAME16_SIZE)
#define DEFINE_PUT(ID, lname)                                                                      \
    void ps_put_##lname(ps_buf_t *b, const ps_row_##lname##_t *r)                                  \
    {                                                                                              \
        PS_ROW_##ID(PUT_FIELD, r)                                                                  \
    }
PS_TRACE_ROWS(DEFINE_PUT)

/* ---- CRC-32 (IEEE 802.3, reflected, as zlib's crc32) --------------------------------------- */

/* Slicing by 8: eight bytes per step through eight tables (8 KiB, filled at first use). A
 * byte at a time cost about 7 instructions per byte, a third of the work of writing a short
 * process's trace. */
_Alignas(4096) static uint32_t crc_table[8][256]; /* 8 KiB: two pages, not three */
static atomic_int crc_ready;

static PS_NOINLINE void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
    atomic_store_explicit(&crc_ready, 1, memory_order_release);
}

/* The file is compiled -Os (shim/CMakeLists.txt); the CRC of every chunk is its one loop that
 * -Os made slower (10% more instructions on a snapshot of 100k stacks). */
__attribute__((optimize("O2"))) uint32_t ps_crc32(uint32_t crc, const void *p, size_t n)
{
    if (!atomic_load_explicit(&crc_ready, memory_order_acquire))
        crc_init();
    const uint8_t *b = p;
    crc = ~crc;
    for (; n >= 8; n -= 8, b += 8) {
        uint64_t v;
        memcpy(&v, b, 8); /* little-endian host */
        v ^= crc;
        crc = crc_table[7][v & 0xff] ^ crc_table[6][(v >> 8) & 0xff] ^
              crc_table[5][(v >> 16) & 0xff] ^ crc_table[4][(v >> 24) & 0xff] ^
              crc_table[3][(v >> 32) & 0xff] ^ crc_table[2][(v >> 40) & 0xff] ^
              crc_table[1][(v >> 48) & 0xff] ^ crc_table[0][v >> 56];
    }
    while (n--)
        crc = crc_table[0][(crc ^ *b++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

static const char *chunk_name(uint16_t type)
{
    static const char *const names[] = {
        "?",     "PROCESS", "MODULES", "STACKS", "SNAPSHOT", "MESSAGE",          "POOL",
        "LOCKS", "THREADS", "LATENCY", "ZONES",  "CPU",      "UNLOADED_MODULES", "SNAPSHOT_DELTA"};
    if (type == PS_CHUNK_SNAPSHOT_PACKED)
        return "SNAPSHOT_PACKED";
    if (type == PS_CHUNK_STACKS_PACKED)
        return "STACKS_PACKED";
    if (type == PS_CHUNK_END)
        return "END";
    return type < sizeof names / sizeof *names ? names[type] : "?";
}

/* ---- the file ---------------------------------------------------------------------------------
 */

static size_t append(char *out, size_t size, size_t pos, const char *s)
{
    while (*s && pos + 1 < size)
        out[pos++] = *s++;
    return pos;
}

int ps_writer_expand(const char *tmpl, const char *base_dir, const char *exe, uint32_t pid,
                     uint64_t unix_s, char *out, size_t size)
{
    size_t pos = 0;
    char num[32];
    if (!tmpl || !*tmpl || size < 2)
        return -1;
    if (tmpl[0] != '/' && base_dir && *base_dir) {
        pos = append(out, size, pos, base_dir);
        if (pos > 0 && out[pos - 1] != '/')
            pos = append(out, size, pos, "/");
    }
    for (const char *t = tmpl; *t; t++) {
        if (*t != '%' || !t[1]) {
            if (pos + 1 < size)
                out[pos++] = *t;
            continue;
        }
        t++;
        switch (*t) {
        case 'p':
            ps_msg_snprintf(num, sizeof num, "%u", (unsigned)pid);
            pos = append(out, size, pos, num);
            break;
        case 't':
            ps_msg_snprintf(num, sizeof num, "%llu", (unsigned long long)unix_s);
            pos = append(out, size, pos, num);
            break;
        case 'e': {
            const char *slash = exe ? strrchr(exe, '/') : NULL;
            const char *name = slash ? slash + 1 : (exe && *exe ? exe : "unknown");
            pos = append(out, size, pos, name);
            break;
        }
        case 'h': {
            char host[256];
            if (ps_os_read_file("/proc/sys/kernel/hostname", host, sizeof host) > 0) {
                host[ps_str_span(host, '\n')] = 0;
                pos = append(out, size, pos, host);
            } else {
                pos = append(out, size, pos, "localhost");
            }
            break;
        }
        case '%':
            pos = append(out, size, pos, "%");
            break;
        default: /* unknown: keep it literally */
            if (pos + 2 < size) {
                out[pos++] = '%';
                out[pos++] = *t;
            }
        }
    }
    out[pos] = 0;
    return pos + 1 >= size ? -1 : 0;
}

/* PERFSHIM_TRACE_LIST opened before a change of the effective uid (ps_writer_keep_list), or -1.
 * The list is the starting user's (perfshim run's mkstemp file, mode 0600): after the change the
 * process could neither open it nor, by list_trace's rule, append to a list it does not own, and
 * its trace would be missing from perfshim run's report. Inherited by forked children, which
 * list their traces through it too; closed on exec. */
static int list_kept = -1;

/* The list is appended to by every process of a run: under a small RLIMIT_FSIZE (ulimit -f) the
 * line that reaches the limit would end its writer with SIGXFSZ, the trace's own writes
 * (over_fsize) being refused before. Such a line is not written (one warning): the trace is
 * made, but perfshim run does not report it. Another process appending between the check and
 * the write can still take the file to the limit first. */
static int list_past_fsize(int fd, size_t n, const char *list)
{
    if (!ps_os_past_fsize(fd, n))
        return 0;
    ps_msg_warn("PERFSHIM_TRACE_LIST=%s would pass the file size limit (ulimit -f); the trace path "
                "is not listed there",
                list);
    return 1;
}

static void list_trace(const char *path)
{
    const char *list = ps_g.opt.trace_list;
    if (!list || !*list)
        return;
    char line[PS_TRACE_PATH_MAX + 2];
    size_t n = ps_msg_snprintf(line, sizeof line, "%s\n", path);
    if (list_kept >= 0) {
        if (!list_past_fsize(list_kept, n, list))
            ps_os_write_all(list_kept, line, n); /* one write, O_APPEND */
        return;
    }
    int fd =
        ps_os_open(list, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0600);
    if (fd < 0) {
        /* ENOENT: its directory is gone; perfshim run removes it when the command returns,
         * and a daemon the command started writes its trace later: nobody reads the list */
        if (errno != ENOENT)
            ps_msg_warn("cannot open PERFSHIM_TRACE_LIST=%s: %s", list, strerror(errno));
        return;
    }
    /* Append only to a regular file of our own: in a shared directory someone else could
     * have created the name first to collect the trace paths (or made it a FIFO). */
    struct stat st;
    if (ps_os_fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != ps_os_euid()) {
        ps_msg_warn("PERFSHIM_TRACE_LIST=%s is not a regular file owned by this user; the trace "
                    "path is not listed there",
                    list);
        ps_os_close(fd);
        return;
    }
    if (!list_past_fsize(fd, n, list))
        ps_os_write_all(fd, line, n); /* one write, O_APPEND: lines of processes never mix */
    ps_os_close(fd);
}

static int reopen(void);

/* Creates a new trace file named `base` (or base.1, base.2, ... when the name exists), moves
 * its descriptor high and writes the file header. 0, or -1 (warned; w.failed set). */
static int create_file(const char *base, uint32_t pid)
{
    int fd = -1, err = 0;
    for (int attempt = 0; attempt < 100; attempt++) {
        if (attempt == 0)
            ps_msg_snprintf(w.path, sizeof w.path, "%s", base);
        else
            ps_msg_snprintf(w.path, sizeof w.path, "%s.%d", base, attempt);
        fd = ps_os_open(w.path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd >= 0 || errno != EEXIST)
            break;
    }
    if (fd < 0) {
        err = errno;
        writer_fail("cannot create trace %s: %s; set PERFSHIM_OUTPUT to a writable path", w.path,
                    strerror(err));
        w.pid = pid;
        return -1;
    }
    int high = ps_os_dup_above(fd, PS_FD_FLOOR);
    if (high >= 0) {
        ps_os_close(fd);
        fd = high;
    }
    struct stat st;
    ps_os_fstat(fd, &st);
    w.fd = fd;
    w.pid = pid;
    w.dev = st.st_dev;
    w.ino = st.st_ino;
    w.failed = 0;
    w.chunks = 0;
    w.writes = 0;
    w.groups = 0;
    w.last_group = 0;
    w.size = 0;

    uint8_t hdr[PS_TRACE_FILE_HEADER_SIZE] = {0};
    memcpy(hdr, PS_TRACE_MAGIC, PS_TRACE_MAGIC_LEN);
    hdr[8] = PS_TRACE_VERSION & 0xff;
    hdr[9] = PS_TRACE_VERSION >> 8;
    hdr[12] = PS_TRACE_FILE_HEADER_SIZE;
    int rc = write_fault()            ? -ENOSPC
             : over_fsize(sizeof hdr) ? -EFBIG
                                      : ps_os_write_all(fd, hdr, sizeof hdr);
    if (rc != 0) {
        writer_fail("cannot write trace %s: %s; the file stays empty", w.path, strerror(-rc));
        return -1;
    }
    w.size = w.group_start = sizeof hdr;
    ps_msg_info("writing trace %s", w.path);
    return 0;
}

/* The name of this process's next file (before create_file's .1, .2 ... for a name taken) in
 * base: PERFSHIM_OUTPUT expanded, + ".sN" for section N > 1. 0, or -1 (empty or too long). */
static int next_name(uint32_t pid, char *base, size_t size)
{
    int bad = ps_writer_expand(ps_g.opt.output, ps_g.cwd, ps_g.exe, pid,
                               ps_g.start_realtime_ns / 1000000000u, base, size);
    if (!bad && w.section > 1) { /* section N of the process: the first file's name + ".sN" */
        char sec[PS_TRACE_PATH_MAX];
        size_t n =
            ps_msg_snprintf(sec, sizeof sec, "%s.s%u", w.section_first[0] ? w.section_first : base,
                            (unsigned)w.section);
        bad = n + 1 >= sizeof sec || n + 1 > size;
        if (!bad)
            memcpy(base, sec, n + 1);
    }
    return bad ? -1 : 0;
}

int ps_writer_probe(char *why, size_t size)
{
    char base[PS_TRACE_PATH_MAX];
    if (w.fd >= 0 && w.pid == ps_os_pid())
        return 0; /* its file is open */
    if (next_name(ps_os_pid(), base, sizeof base) != 0) {
        ps_msg_snprintf(why, size, "PERFSHIM_OUTPUT='%s' expands to an empty or too long path",
                        ps_g.opt.output);
        return -1;
    }
    char *slash = strrchr(base, '/');
    if (!slash)
        return 0; /* relative to a directory it cannot name: not probed */
    *(slash == base ? slash + 1 : slash) = 0;
    /* an unnamed file: created with this process's credentials, never seen by anyone */
    int fd = ps_os_open(base, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
    if (fd >= 0) {
        ps_os_close(fd);
        return 0;
    }
    if (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)
        return 0; /* the file system has no O_TMPFILE: not known before the first snapshot */
    ps_msg_snprintf(why, size,
                    "cannot create a trace in %s: %s; set PERFSHIM_OUTPUT to a directory this "
                    "process's user (uid %u) can write",
                    base, strerror(errno), (unsigned)ps_os_euid());
    return -1;
}

int ps_writer_open(void)
{
    uint32_t pid = ps_os_pid();
    if (w.fd >= 0 && w.pid == pid)
        return w.failed ? -1 : 0;
    if (w.failed && w.pid == pid)
        return -1;
    if (w.suspended && w.pid == pid) {
        w.suspended = 0;
        return reopen() == 0 ? 0 : -1;
    }
    char base[PS_TRACE_PATH_MAX];
    if (next_name(pid, base, sizeof base) != 0) {
        writer_fail("PERFSHIM_OUTPUT='%s' expands to an empty or too long path; no trace written",
                    ps_g.opt.output);
        w.pid = pid;
        return -1;
    }
    if (create_file(base, pid) != 0)
        return -1;
    w.piece = 1;
    nolder = 0;
    first_size = 0;
    memcpy(w.first, w.path, ps_str_span(w.path, 0) + 1); /* snprintf ended it */
    list_trace(w.path); /* only the first piece: it names the others */
    return 0;
}

/* ---- PERFSHIM_MAX_TRACE: pieces ----------------------------------------------------------- */

int ps_writer_rotate_due(void)
{
    uint64_t max = ps_g.opt.max_trace;
    if (!max || w.fd < 0 || w.failed)
        return 0;
    /* A piece holds its first keyframe and at least one more snapshot, whatever the bound. */
    return w.groups >= 2 && w.size + w.last_group > max / (PS_PIECES_KEPT + 1);
}

/* Deletes an older piece, if the name is still the file we wrote. */
static void delete_piece(int i)
{
    struct stat st;
    int fd = ps_os_open(older[i].path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0);
    if (fd < 0)
        return;
    int ours = ps_os_fstat(fd, &st) == 0 && st.st_dev == older[i].dev && st.st_ino == older[i].ino;
    ps_os_close(fd);
    if (ours)
        ps_os_unlink(older[i].path);
}

/* Deletes older pieces, oldest first, while the first piece, the older ones kept and `current`
 * bytes (the current piece's) pass the bound; the `spare` newest older pieces stay whatever
 * their size. The first piece and the current one always stay, so the files hold at most
 * max(bound, first + current) once this returned with spare 0. */
static void prune(uint64_t current, int spare)
{
    uint64_t total = first_size + current;
    for (int i = 0; i < nolder; i++)
        total += older[i].size;
    int gone = 0;
    while (nolder - gone > spare && total > ps_g.opt.max_trace) {
        delete_piece(gone);
        total -= older[gone].size;
        gone++;
    }
    if (gone) {
        memmove(&older[0], &older[gone], sizeof older[0] * (size_t)(nolder - gone));
        nolder -= gone;
    }
}

void ps_writer_group_end(void)
{
    w.last_group = w.size - w.group_start;
    w.group_start = w.size;
    w.groups++;
    /* The current piece now holds a complete snapshot: the older pieces, the one before it
     * included, may go if the files with its END pass the bound. */
    if (nolder && !w.failed)
        prune(w.size + PS_END_BYTES, 0);
}

int ps_writer_rotate(void)
{
    if (w.fd < 0 || w.failed)
        return -1;
    struct stat st; /* the size on disk, END included */
    uint64_t closed = ps_os_fstat(w.fd, &st) == 0 ? (uint64_t)st.st_size : w.size;
    ps_os_close(w.fd);
    w.fd = -1;
    if (w.piece == 1) {
        first_size = closed; /* the first piece is never deleted */
    } else {                 /* the current piece becomes an older one */
        if (nolder == PS_PIECES_KEPT - 1) {
            delete_piece(0);
            memmove(&older[0], &older[1], sizeof older[0] * (PS_PIECES_KEPT - 2));
            nolder--;
        }
        older[nolder].dev = w.dev;
        older[nolder].ino = w.ino;
        older[nolder].size = closed;
        memcpy(older[nolder].path, w.path, ps_str_span(w.path, 0) + 1);
        nolder++;
    }
    /* The next piece will be about as large as the one just closed: make room for it now.
     * The one just closed stays until the next one holds a complete snapshot (group end), so
     * a kill in between still leaves the latest state. */
    prune(closed, 1);
    char base[PS_TRACE_PATH_MAX + 16];
    ps_msg_snprintf(base, sizeof base, "%s.part%u", w.first, (unsigned)(w.piece + 1));
    if (strlen(base) >= PS_TRACE_PATH_MAX || create_file(base, w.pid) != 0) {
        if (!w.failed)
            writer_fail("PERFSHIM_MAX_TRACE: the next piece's path is too long; later data "
                        "is lost");
        return -1;
    }
    w.piece++;
    return 0;
}

/* Reopen our file by path (O_APPEND), if it is still the file we created; else say that later
 * data is lost. */
static int reopen(void)
{
    struct stat st;
    int fd = ps_os_open(w.path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0);
    if (fd >= 0 && ps_os_fstat(fd, &st) == 0 && st.st_dev == w.dev && st.st_ino == w.ino) {
        int high = ps_os_dup_above(fd, PS_FD_FLOOR);
        if (high >= 0) {
            ps_os_close(fd);
            fd = high;
        }
        w.fd = fd;
        return 0;
    }
    if (fd >= 0)
        ps_os_close(fd);
    writer_fail("trace %s was closed, moved or removed and cannot be reopened; later data is lost",
                w.path);
    return -1;
}

/* Is w.fd still our file? If the program closed or reused it, reopen ours by path. */
static int ensure_fd(void)
{
    struct stat st;
    if (ps_os_fstat(w.fd, &st) == 0 && st.st_dev == w.dev && st.st_ino == w.ino)
        return 0;
    return reopen();
}

int ps_writer_chunk(uint16_t type, const ps_buf_t *payload)
{
    if (w.fd < 0 || w.failed)
        return -1;
    if (payload->failed) {
        ps_msg_warn("cannot map memory to build the %s chunk; it is missing from the trace",
                    chunk_name(type));
        return -1;
    }
    if (ensure_fd() != 0)
        return -1;
    uint8_t hdr[PS_CHUNK_HEADER_SIZE];
    uint32_t fields[3] = {PS_CHUNK_SYNC, (uint32_t)type, (uint32_t)payload->len};
    for (int i = 0; i < 4; i++) {
        hdr[i] = (uint8_t)(fields[0] >> (8 * i));
        hdr[8 + i] = (uint8_t)(fields[2] >> (8 * i));
    }
    hdr[4] = (uint8_t)type;
    hdr[5] = (uint8_t)(type >> 8);
    hdr[6] = hdr[7] = 0;
    uint32_t crc = ps_crc32(0, hdr, 12);
    crc = ps_crc32(crc, payload->data, payload->len);
    for (int i = 0; i < 4; i++)
        hdr[12 + i] = (uint8_t)(crc >> (8 * i));

    struct iovec iov[2] = {{hdr, sizeof hdr}, {payload->data, payload->len}};
    size_t total = sizeof hdr + payload->len, done = 0;
    while (done < total) {
        ssize_t r;
        if (write_fault()) {
            errno = ENOSPC;
            r = -1;
        } else if (over_fsize(total - done)) {
            errno = EFBIG;
            r = -1;
        } else if (done < sizeof hdr) {
            struct iovec v[2] = {{hdr + done, sizeof hdr - done}, iov[1]};
            r = ps_os_writev(w.fd, v, 2);
        } else {
            r = ps_os_write(w.fd, payload->data + (done - sizeof hdr), total - done);
        }
        if (r > 0)
            w.size += (uint64_t)r;
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            writer_fail("cannot write trace %s: %s; the chunks written before stay readable",
                        w.path, r < 0 ? strerror(errno) : "short write");
            return -1;
        }
        done += (size_t)r;
    }
    w.chunks++;
    return 0;
}

uint64_t ps_writer_chunks(void)
{
    return w.chunks;
}

void ps_writer_close(void)
{
    if (w.fd >= 0 && w.pid == ps_os_pid())
        ps_os_close(w.fd);
    w.fd = -1;
}

void ps_writer_suspend(void)
{
    if (w.fd >= 0 && w.pid == ps_os_pid() && !w.failed && !w.keep) {
        ps_os_close(w.fd);
        w.fd = -1;
        w.suspended = 1;
    }
}

/* The process is about to change its effective uid (interpose_ids.c): the file it may no longer
 * reopen becomes the new user's (it is that user's process from now on) and its descriptor stays
 * open, like a log file a server opens before it drops its privileges. Call with the file open
 * (ps_writer_open). 0, or -1 if the file could not be given away (then it is only kept open). */
int ps_writer_keep(uint32_t uid, uint32_t gid)
{
    if (w.fd < 0 || w.failed || w.pid != ps_os_pid())
        return -1;
    w.keep = 1;
    return ps_os_fchown(w.fd, uid, gid);
}

/* The process is about to chroot (interpose_ids.c): the file's path may not exist in the new
 * root, so its descriptor stays open from now on, as before a uid change. Call with the file
 * open (ps_writer_open). */
void ps_writer_keep_open(void)
{
    if (w.fd >= 0 && !w.failed && w.pid == ps_os_pid())
        w.keep = 1;
}

/* Before a change of the effective uid to uid (egid gid now): 1 if this process's trace must be
 * opened now, while the process is still privileged. That is when the file exists already (it
 * is closed between snapshots, and its new user could not reopen it), or when its directory is
 * not writable by uid by its mode bits (the new user could not create it; ACLs are not read).
 * Otherwise it is created later by the new user, as it would be without the shim's help: a
 * process that drops its privileges and then execs (cron, CPython's subprocess with user=)
 * leaves no file behind. */
int ps_writer_open_before_drop(uint32_t uid, uint32_t gid)
{
    uint32_t pid = ps_os_pid();
    if (w.pid == pid && !w.failed && (w.fd >= 0 || w.suspended))
        return 1;
    char base[PS_TRACE_PATH_MAX];
    if (ps_writer_expand(ps_g.opt.output, ps_g.cwd, ps_g.exe, pid,
                         ps_g.start_realtime_ns / 1000000000u, base, sizeof base) != 0)
        return 0; /* said at the first snapshot */
    char *slash = strrchr(base, '/');
    if (!slash)
        return 1;
    *(slash == base ? slash + 1 : slash) = 0;
    struct stat st;
    if (ps_os_stat(base, &st) != 0)
        return 1;
    unsigned bits = st.st_uid == uid ? 0200 : st.st_gid == gid ? 0020 : 0002;
    return (st.st_mode & bits) == 0;
}

/* Before a change of the effective uid to uid: when PERFSHIM_TRACE_LIST is a list of this user's
 * that uid does not own, open it now and keep the descriptor (above PS_FD_FLOOR, close-on-exec)
 * for the traces this process and its forked children create later (list_trace). */
void ps_writer_keep_list(uint32_t uid)
{
    const char *list = ps_g.opt.trace_list;
    if (list_kept >= 0 || !list || !*list)
        return;
    int fd = ps_os_open(list, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0);
    if (fd < 0)
        return; /* not there (yet): the new user creates it as without a drop */
    struct stat st;
    if (ps_os_fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != ps_os_euid() ||
        st.st_uid == uid) {
        ps_os_close(fd); /* list_trace's own checks apply later */
        return;
    }
    int high = ps_os_dup_above(fd, PS_FD_FLOOR);
    if (high >= 0) {
        ps_os_close(fd);
        fd = high;
    }
    list_kept = fd;
}

/* The next trace section (perfshim ctl start after stop) goes to a new file: the first file's
 * name with ".s<section>" appended. The current file was ended (END chunk) and is closed. */
void ps_writer_new_section(uint32_t section)
{
    if (w.section <= 1 && w.first[0] && !w.section_first[0]) /* the first piece's name */
        ps_msg_snprintf(w.section_first, sizeof w.section_first, "%s", w.first);
    ps_writer_close();
    w.path[0] = 0; /* named at the section's first snapshot */
    w.section = section;
    w.pid = 0;
    w.failed = 0;
    w.suspended = 0;
    w.keep = 0;
}

/* The first section's file of this process ("" while there is only one). */
const char *ps_writer_first_path(void)
{
    return w.section_first;
}

void ps_writer_fork_child(void)
{
    if (w.suspended)
        w.suspended = 0;
    if (w.keep)
        w.keep = 0;
    if (w.section) { /* the child's files are named after its own pid */
        w.section = 0;
        w.section_first[0] = 0;
    }
    /* The inherited descriptor is the parent's file: never write to it from here. */
    if (w.fd >= 0) { /* a page written is a copy-on-write fault: write only what changes */
        ps_os_close(w.fd);
        w.fd = -1;
    }
    if (w.failed)
        w.failed = 0;
    if (w.pid)
        w.pid = 0;
    if (nolder) /* the parent's pieces: never the child's to delete */
        nolder = 0;
}

const char *ps_writer_path(void)
{
    return w.path;
}
