/* SPDX-License-Identifier: MIT */
/*
 * symcache.c — the symbolizer's cache on disk (symcache.h; docs/analyzer.md, "Symbol cache").
 *
 * One file per module, DIR/BUILDID.sym (BUILDID in lowercase hex), little-endian:
 *
 *   magic "PSSYMC03" (8 bytes); u32 build_id_len, the build-id; u32 length + the analyzer's
 *   version (a later analyzer may name functions differently: its files are not used);
 *   u32 nstrings, each u32 length + bytes (no NUL); u32 nentries, each u64 offset, u32 nframes,
 *   then per frame u32 function and u32 file (string index + 1, 0 for none), u32 line, u32 flags
 *   (bit 0: inlined); then the CRC-32 (zlib's) of every byte before it, u32.
 *
 * A file is read whole (at most SC_MAX_FILE bytes) and checked field by field with the bounds-
 * checked cursor before any entry is used; one that does not verify is ignored (counted as
 * invalid) and replaced at the next flush. The file's name is only a hint: the build-id inside
 * must be the module's. Writing goes to DIR/.BUILDID.PID.tmp (O_EXCL), then rename() onto the
 * name: readers see the old file or the new one, never a mix. Memory: every entry of every
 * module used by the command (offset, frames, the strings once per module).
 */
#include "symcache.h"

#include "trace_reader.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uthash.h>
#include <zlib.h>

#ifndef PERFSHIM_VERSION_STRING
#define PERFSHIM_VERSION_STRING "unknown"
#endif

/* 02: Rust v0 names demangled (a 01 file of the same version holds them raw) */
#define SC_MAGIC "PSSYMC03"
#define SC_MAX_FILE (512u << 20) /* bytes: a larger file is not read */
#define SC_MAX_ID 64             /* build-id bytes */

typedef struct {
    UT_hash_handle hh;
    uint32_t index; /* 1-based, in order of first use (the file's string table) */
    char s[];
} sc_str_t;

typedef struct {
    uint64_t offset;
    uint32_t first, n; /* frames[first .. first + n) of the module */
} sc_entry_t;

typedef struct {
    UT_hash_handle hh;
    char hex[2 * SC_MAX_ID + 1]; /* key */
    uint8_t id[SC_MAX_ID];
    uint32_t id_len;
    sc_str_t *strs; /* interned; also listed by index in byindex */
    sc_str_t **byindex;
    size_t nstrs, strs_cap;
    sc_entry_t *entries;
    size_t nentries, entries_cap;
    uint32_t *index; /* open addressing by offset: entry + 1, 0 empty */
    size_t index_cap;
    pa_symcache_frame_t *frames;
    size_t nframes, frames_cap;
    bool dirty; /* entries added since the file was read */
} sc_module_t;

static char *cache_dir; /* NULL: off */
static sc_module_t *modules;
static pa_symcache_stats_t stats;

pa_symcache_stats_t pa_symcache_stats(void)
{
    return stats;
}

bool pa_symcache_on(void)
{
    return cache_dir != NULL;
}

/* Empties m (an invalid file's partial contents), keeping its arrays. */
static void module_clear(sc_module_t *m)
{
    sc_str_t *s, *tmp;
    HASH_ITER(hh, m->strs, s, tmp)
    {
        HASH_DEL(m->strs, s);
        free(s);
    }
    m->nstrs = m->nentries = m->nframes = 0;
    if (m->index_cap)
        memset(m->index, 0, m->index_cap * sizeof *m->index);
}

static void module_free(sc_module_t *m)
{
    module_clear(m);
    free(m->byindex);
    free(m->entries);
    free(m->index);
    free(m->frames);
    free(m);
}

static const char *str_intern(sc_module_t *m, const char *s, size_t len)
{
    sc_str_t *x;
    HASH_FIND(hh, m->strs, s, len, x);
    if (x)
        return x->s;
    if (len > UINT32_MAX - 1 || !(x = malloc(sizeof *x + len + 1)))
        return NULL;
    if (pa_util_grow((void **)&m->byindex, &m->strs_cap, m->nstrs + 1, sizeof *m->byindex) !=
        PA_OK) {
        free(x);
        return NULL;
    }
    memcpy(x->s, s, len);
    x->s[len] = 0;
    x->index = (uint32_t)++m->nstrs;
    m->byindex[m->nstrs - 1] = x;
    HASH_ADD_KEYPTR(hh, m->strs, x->s, len, x);
    return x->s;
}

static size_t slot_of(const sc_module_t *m, uint64_t offset)
{
    uint64_t h = offset * 0x9e3779b97f4a7c15u;
    size_t i = (size_t)(h ^ h >> 29) & (m->index_cap - 1);
    while (m->index[i] && m->entries[m->index[i] - 1].offset != offset)
        i = (i + 1) & (m->index_cap - 1);
    return i;
}

/* Adds an entry (its frames already appended from `first`); a second one for an offset is
 * ignored. PA_OK or PA_ENOMEM. */
static int entry_add(sc_module_t *m, uint64_t offset, uint32_t first, uint32_t n)
{
    if ((m->nentries + 1) * 2 > m->index_cap) {
        size_t cap = m->index_cap ? m->index_cap * 2 : 256;
        if (pa_util_index_reset(&m->index, &m->index_cap, cap) != PA_OK)
            return PA_ENOMEM;
        for (size_t e = 0; e < m->nentries; e++)
            m->index[slot_of(m, m->entries[e].offset)] = (uint32_t)e + 1;
    }
    size_t slot = slot_of(m, offset);
    if (m->index[slot])
        return PA_OK;
    if (pa_util_grow((void **)&m->entries, &m->entries_cap, m->nentries + 1, sizeof *m->entries) !=
        PA_OK)
        return PA_ENOMEM;
    m->entries[m->nentries++] = (sc_entry_t){offset, first, n};
    m->index[slot] = (uint32_t)m->nentries;
    return PA_OK;
}

static void hex_of(const uint8_t *id, uint32_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (uint32_t i = 0; i < n; i++) {
        out[2 * i] = digits[id[i] >> 4];
        out[2 * i + 1] = digits[id[i] & 15];
    }
    out[2 * n] = 0;
}

/* The string of a file's index (1-based; 0: none) into *out; false when out of range. */
static bool str_at(const sc_module_t *m, uint32_t base, uint32_t idx, const char **out)
{
    *out = NULL;
    if (idx == 0)
        return true;
    if (idx > m->nstrs - base)
        return false;
    *out = m->byindex[base + idx - 1]->s;
    return true;
}

/* Reads m's file into m; false (m left empty) when it does not verify. */
static bool parse(sc_module_t *m, const uint8_t *buf, size_t len)
{
    if (len < 12 || memcmp(buf, SC_MAGIC, 8) != 0)
        return false;
    uint32_t crc;
    memcpy(&crc, buf + len - 4, 4);
    if ((uint32_t)crc32(0L, buf, (uInt)(len - 4)) != le32toh(crc))
        return false;
    pa_cursor_t c;
    pa_cursor_init(&c, buf + 8, len - 12);
    uint32_t id_len = pa_cursor_u32(&c);
    if (c.err || id_len != m->id_len || pa_cursor_left(&c) < id_len ||
        memcmp(c.p + c.pos, m->id, id_len) != 0)
        return false;
    pa_cursor_skip(&c, id_len);
    const uint8_t *s;
    uint32_t n;
    pa_cursor_str(&c, &s, &n);
    if (c.err || n != strlen(PERFSHIM_VERSION_STRING) || memcmp(s, PERFSHIM_VERSION_STRING, n))
        return false;
    uint32_t nstrs = pa_cursor_u32(&c);
    if (c.err || nstrs > pa_cursor_left(&c) / 4)
        return false;
    size_t base = m->nstrs; /* 0: the module is empty when its file is read */
    for (uint32_t i = 0; i < nstrs; i++) {
        pa_cursor_str(&c, &s, &n);
        if (c.err || memchr(s, 0, n))
            return false;
        size_t before = m->nstrs;
        if (!str_intern(m, (const char *)s, n))
            return false;
        if (m->nstrs == before) /* a duplicate: the file was not written by us */
            return false;
    }
    uint32_t nentries = pa_cursor_u32(&c);
    if (c.err || nentries > pa_cursor_left(&c) / 12)
        return false;
    for (uint32_t e = 0; e < nentries; e++) {
        uint64_t offset = pa_cursor_u64(&c);
        uint32_t nf = pa_cursor_u32(&c);
        if (c.err || nf == 0 || nf > pa_cursor_left(&c) / 16)
            return false;
        if (pa_util_grow((void **)&m->frames, &m->frames_cap, m->nframes + nf, sizeof *m->frames) !=
            PA_OK)
            return false;
        uint32_t first = (uint32_t)m->nframes;
        for (uint32_t k = 0; k < nf; k++) {
            pa_symcache_frame_t f = {0};
            uint32_t fn = pa_cursor_u32(&c), file = pa_cursor_u32(&c);
            f.line = pa_cursor_u32(&c);
            uint32_t flags = pa_cursor_u32(&c);
            if (c.err || flags > 1 || !str_at(m, (uint32_t)base, fn, &f.function) ||
                !str_at(m, (uint32_t)base, file, &f.file))
                return false;
            f.inlined = flags & 1;
            m->frames[m->nframes++] = f;
        }
        if (entry_add(m, offset, first, nf) != PA_OK)
            return false;
    }
    return pa_cursor_left(&c) == 0;
}

static void load(sc_module_t *m)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.sym", cache_dir, m->hex);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0)
        return; /* no file yet: every address a miss */
    struct stat st;
    uint8_t *buf = NULL;
    bool ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
              (uint64_t)st.st_size <= SC_MAX_FILE && (buf = malloc((size_t)st.st_size));
    size_t got = 0;
    while (ok && got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r <= 0 && !(r < 0 && errno == EINTR))
            ok = false;
        else if (r > 0)
            got += (size_t)r;
    }
    close(fd);
    if (!ok || !parse(m, buf, got)) {
        module_clear(m);
        m->dirty = true; /* rewrite it with what this run finds */
        stats.invalid++;
    }
    free(buf);
}

static sc_module_t *module_get(const uint8_t *id, uint32_t id_len)
{
    if (!cache_dir || id_len == 0 || id_len > SC_MAX_ID)
        return NULL;
    char hex[2 * SC_MAX_ID + 1];
    hex_of(id, id_len, hex);
    sc_module_t *m;
    HASH_FIND_STR(modules, hex, m);
    if (m)
        return m;
    if (!(m = calloc(1, sizeof *m)))
        return NULL;
    memcpy(m->hex, hex, sizeof hex);
    memcpy(m->id, id, id_len);
    m->id_len = id_len;
    HASH_ADD_STR(modules, hex, m);
    load(m);
    return m;
}

bool pa_symcache_get(const uint8_t *build_id, uint32_t build_id_len, uint64_t offset,
                     const pa_symcache_frame_t **frames, size_t *n)
{
    sc_module_t *m = module_get(build_id, build_id_len);
    if (!m)
        return false;
    uint32_t e = m->index_cap ? m->index[slot_of(m, offset)] : 0;
    if (!e) {
        stats.misses++;
        return false;
    }
    stats.hits++;
    *frames = &m->frames[m->entries[e - 1].first];
    *n = m->entries[e - 1].n;
    return true;
}

int pa_symcache_put(const uint8_t *build_id, uint32_t build_id_len, uint64_t offset,
                    const pa_symcache_frame_t *frames, size_t n)
{
    sc_module_t *m = module_get(build_id, build_id_len);
    if (!m || n == 0 || n > UINT32_MAX || (m->index_cap && m->index[slot_of(m, offset)]))
        return m                                                        ? PA_OK
               : cache_dir && build_id_len && build_id_len <= SC_MAX_ID ? PA_ENOMEM
                                                                        : PA_OK;
    if (pa_util_grow((void **)&m->frames, &m->frames_cap, m->nframes + n, sizeof *m->frames) !=
        PA_OK)
        return PA_ENOMEM;
    uint32_t first = (uint32_t)m->nframes;
    for (size_t k = 0; k < n; k++) {
        pa_symcache_frame_t f = frames[k];
        if ((f.function && !(f.function = str_intern(m, f.function, strlen(f.function)))) ||
            (f.file && !(f.file = str_intern(m, f.file, strlen(f.file)))))
            return PA_ENOMEM;
        m->frames[m->nframes++] = f;
    }
    if (entry_add(m, offset, first, (uint32_t)n) != PA_OK)
        return PA_ENOMEM;
    m->dirty = true;
    return PA_OK;
}

/* ---- writing ------------------------------------------------------------------------------- */

typedef struct {
    FILE *f;
    uLong crc;
    bool failed;
} sc_out_t;

static void put(sc_out_t *o, const void *p, size_t n)
{
    if (o->failed || !n)
        return;
    o->crc = crc32(o->crc, p, (uInt)n);
    o->failed = fwrite(p, 1, n, o->f) != n;
}

static void put32(sc_out_t *o, uint32_t v)
{
    v = htole32(v);
    put(o, &v, 4);
}

static void put_str(sc_out_t *o, const char *s)
{
    size_t n = strlen(s);
    put32(o, (uint32_t)n);
    put(o, s, n);
}

static uint32_t str_index(const sc_module_t *m, const char *s)
{
    if (!s)
        return 0;
    sc_str_t *x;
    HASH_FIND(hh, m->strs, s, strlen(s), x);
    return x ? x->index : 0;
}

static void save(sc_module_t *m)
{
    char tmp[4096], path[4096];
    snprintf(path, sizeof path, "%s/%s.sym", cache_dir, m->hex);
    snprintf(tmp, sizeof tmp, "%s/.%s.%ld.tmp", cache_dir, m->hex, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    sc_out_t o = {fdopen(fd, "wb"), crc32(0L, Z_NULL, 0), false};
    if (!o.f) {
        close(fd);
        unlink(tmp);
        return;
    }
    put(&o, SC_MAGIC, 8);
    put32(&o, m->id_len);
    put(&o, m->id, m->id_len);
    put_str(&o, PERFSHIM_VERSION_STRING);
    put32(&o, (uint32_t)m->nstrs);
    for (size_t i = 0; i < m->nstrs; i++)
        put_str(&o, m->byindex[i]->s);
    put32(&o, (uint32_t)m->nentries);
    for (size_t e = 0; e < m->nentries; e++) {
        const sc_entry_t *x = &m->entries[e];
        uint64_t off = htole64(x->offset);
        put(&o, &off, 8);
        put32(&o, x->n);
        for (uint32_t k = 0; k < x->n; k++) {
            const pa_symcache_frame_t *f = &m->frames[x->first + k];
            put32(&o, str_index(m, f->function));
            put32(&o, str_index(m, f->file));
            put32(&o, f->line);
            put32(&o, f->inlined ? 1 : 0);
        }
    }
    uint32_t crc = htole32((uint32_t)o.crc);
    if (!o.failed)
        o.failed = fwrite(&crc, 1, 4, o.f) != 4;
    if (fclose(o.f) != 0 || o.failed || rename(tmp, path) != 0) {
        unlink(tmp);
        return;
    }
    m->dirty = false;
    stats.written++;
}

void pa_symcache_flush(void)
{
    if (!cache_dir)
        return;
    sc_module_t *m, *tmp;
    HASH_ITER(hh, modules, m, tmp)
    if (m->dirty && m->nentries)
        save(m);
}

void pa_symcache_free(void)
{
    pa_symcache_flush();
    const char *d = getenv("PA_SYMBOLS_DEBUG");
    if (cache_dir && d && *d == '1')
        fprintf(stderr, "perfshim: symbols: cache %lu hits, %lu misses, %lu invalid, %lu written\n",
                stats.hits, stats.misses, stats.invalid, stats.written);
    sc_module_t *m, *tmp;
    HASH_ITER(hh, modules, m, tmp)
    {
        HASH_DEL(modules, m);
        module_free(m);
    }
    free(cache_dir);
    cache_dir = NULL;
}

int pa_symcache_set_dir(const char *dir)
{
    pa_symcache_free();
    if (!dir)
        return PA_OK;
    struct stat st;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        pa_msg_error("--symbol-cache %s: cannot make the directory: %s", dir, strerror(errno));
        return PA_EIO;
    }
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        pa_msg_error("--symbol-cache %s: not a directory", dir);
        return PA_EIO;
    }
    return (cache_dir = pa_util_strdup(dir)) ? PA_OK : PA_ENOMEM;
}
