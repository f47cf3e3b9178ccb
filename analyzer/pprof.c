/* SPDX-License-Identifier: MIT */
/*
 * pprof.c — the pprof profile of an export (export.h): the Profile message of google/pprof's
 * proto/profile.proto, encoded by hand, gzip'd with zlib at its fastest level (as Go's
 * runtime/pprof writes its profiles: gzip.BestSpeed). The default level 6 cost 629M of the 1,769M
 * instructions of `export --format pprof` on the adverse scale trace (3.5 MB of profile, 290 KB
 * gzip'd); level 1 writes 349 KB in a fifth of the time.
 *
 * The encoding needs four wire forms (varint, and length-delimited for strings, packed
 * repeated integers and sub-messages), so a small writer does it: a message is built in a
 * pa_str_t, and a sub-message is built in its own buffer and appended with its length. No
 * protobuf library: libprotobuf-c would need the generated profile.pb-c.c checked in and
 * regenerated, and a Profile built as C structs before encoding, for these forty lines.
 *
 * What goes where (the field numbers are profile.proto's):
 * - one sample per site with a non-zero value of the kind's metrics; its location ids run
 *   innermost first, as the proto asks;
 * - a Location per distinct (mapping, offset) (per address outside any module); its address is
 *   the return address - 1 (inside the call instruction, as the proto allows for non-leaf
 *   frames) moved into the first trace's mapping; its Lines are the inlined functions first and
 *   the function they were inlined into last (the proto's order); an unresolved frame of a
 *   module gets one Line whose Function is named "module+0xoffset", as the text reports name it
 *   (without a Line, pprof's function granularity folds every such address of a module into one
 *   "[module]" node: 63% of a python3 run's in-use bytes), and its Mapping says has_functions =
 *   false, so a pprof that finds the binary or its debug file (by path, or by build-id under
 *   $PPROF_BINARY_PATH) symbolizes the address and replaces that name; a frame outside any
 *   module has no Line (pprof shows its address);
 * - a Mapping per module (path, build-id in hex): its executable segment's page-aligned start
 *   and file_offset when the module's file is here (what pprof's local symbolization needs),
 *   else its whole range at file_offset 0;
 * - a Function per (name, file);
 * - period_type and period: heap space/bytes with the sampling mean (1 when exact), locks
 *   contentions/count 1, cpu cpu/nanoseconds 1e9/hz, as Go's heap, mutex and CPU profiles;
 * - values are the trace's figures: a sampled trace already holds the unsampled estimates
 *   (each sample weighted by 1/p, docs/analyzer.md), which is what the proto asks ("the values
 *   ... should be unsampled"), like Go's runtime/pprof, which scales its heap samples before
 *   writing them.
 */
#include "export.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* ---- the protobuf writer ----------------------------------------------------------------------
 */

enum { WIRE_VARINT = 0, WIRE_LEN = 2 };

enum { PB_VARINT_MAX = 10 }; /* bytes of a 64-bit varint */

/* Room in b for more bytes and the terminator, the buffer grown when they might not fit; false
 * (b->failed) when there is none. */
static bool pb_room(pa_str_t *b, size_t more)
{
    if (b->failed)
        return false;
    if (b->len + more + 1 > b->cap &&
        (more > SIZE_MAX - 1 - b->len ||
         pa_util_grow((void **)&b->s, &b->cap, b->len + more + 1, 1) != PA_OK)) {
        b->failed = 1;
        return false;
    }
    return true;
}

/* v as a varint at o, which has room for PB_VARINT_MAX bytes; returns the byte after it. */
static inline unsigned char *varint_at(unsigned char *o, uint64_t v)
{
    for (; v > 0x7f; v >>= 7)
        *o++ = (unsigned char)(v | 0x80);
    *o++ = (unsigned char)v;
    return o;
}

/* Written in place, the buffer grown first when the longest varint might not fit: a sample's
 * values buffer, emptied for each sample, stayed at 16 bytes and sent every second value
 * through pa_str_append (400k of the 3.2M varints of a 126k-site profile). */
static void pb_varint(pa_str_t *b, uint64_t v)
{
    if (!pb_room(b, PB_VARINT_MAX))
        return;
    b->len = (size_t)((char *)varint_at((unsigned char *)b->s + b->len, v) - b->s);
    b->s[b->len] = 0;
}

static void pb_tag(pa_str_t *b, unsigned field, unsigned wire)
{
    pb_varint(b, (uint64_t)field << 3 | wire);
}

/* A varint field; 0 is the default and is left out. */
static void pb_u64(pa_str_t *b, unsigned field, uint64_t v)
{
    if (!v)
        return;
    pb_tag(b, field, WIRE_VARINT);
    pb_varint(b, v);
}

static void pb_bytes(pa_str_t *b, unsigned field, const void *p, size_t n)
{
    pb_tag(b, field, WIRE_LEN);
    pb_varint(b, n);
    pa_str_append(b, p, n);
}

/* A sub-message from its buffer, which is emptied for the next one. */
static void pb_msg(pa_str_t *b, unsigned field, pa_str_t *sub)
{
    pb_bytes(b, field, sub->s ? sub->s : "", sub->len);
    sub->len = 0;
    sub->failed |= b->failed;
}

/* ---- the string table ------------------------------------------------------------------------ */

typedef struct {
    UT_hash_handle hh;
    uint64_t index;
    char s[]; /* a copy (some strings are made in buffers of the caller) */
} pstr_t;

typedef struct {
    pstr_t *h;
    pa_str_t table; /* the string_table fields, in index order */
    uint64_t n;
    bool failed;
} strtab_t;

static uint64_t str_index(strtab_t *st, const char *s)
{
    pstr_t *e;
    size_t len = strlen(s);
    HASH_FIND(hh, st->h, s, len, e);
    if (e)
        return e->index;
    if (!(e = malloc(sizeof *e + len + 1))) {
        st->failed = true;
        return 0;
    }
    memset(e, 0, sizeof *e);
    memcpy(e->s, s, len + 1);
    e->index = st->n++;
    HASH_ADD_KEYPTR(hh, st->h, e->s, len, e);
    pb_bytes(&st->table, 6, s, len);
    return e->index;
}

static void strtab_free(strtab_t *st)
{
    pstr_t *e, *tmp;
    HASH_ITER(hh, st->h, e, tmp)
    {
        HASH_DEL(st->h, e);
        free(e);
    }
    pa_str_free(&st->table);
}

/* ---- functions and locations ----------------------------------------------------------------- */

typedef struct {
    UT_hash_handle hh;
    struct {
        uint32_t map;    /* mapping index + 1, 0: none */
        uint32_t pad;    /* 0 */
        uint64_t offset; /* in the module, or the address */
    } key;
    uint64_t id;
} ploc_t;

typedef struct {
    UT_hash_handle hh;
    char *key; /* name \x1f file */
    uint64_t id;
} pfunc_t;

typedef struct {
    const pa_xprof_t *p;
    strtab_t st;
    ploc_t *locs;
    uint64_t nlocs;
    pfunc_t *funcs;
    uint64_t nfuncs;
    pa_str_t body; /* the Profile's other fields */
    pa_str_t sub, sub2, ids, vals;
    uint32_t *loc_memo; /* by frame: the location id of the address it begins, UINT32_MAX none */
    bool failed;
} enc_t;

static uint64_t func_id(enc_t *e, const char *name, const char *file)
{
    char *key;
    if (asprintf(&key, "%s\x1f%s", name, file ? file : "") < 0) {
        e->failed = true;
        return 0;
    }
    pfunc_t *f;
    HASH_FIND_STR(e->funcs, key, f);
    if (f) {
        free(key);
        return f->id;
    }
    if (!(f = calloc(1, sizeof *f))) {
        free(key);
        e->failed = true;
        return 0;
    }
    f->key = key;
    f->id = ++e->nfuncs;
    HASH_ADD_KEYPTR(hh, e->funcs, f->key, strlen(key), f);
    pb_u64(&e->sub, 1, f->id);
    uint64_t n = str_index(&e->st, name);
    pb_u64(&e->sub, 2, n);
    pb_u64(&e->sub, 3, n);
    if (file)
        pb_u64(&e->sub, 4, str_index(&e->st, file));
    pb_msg(&e->body, 5, &e->sub);
    return f->id;
}

/* The location of the n frames fr[0, n) of a site (one address: inlined frames, then the
 * function they were inlined into). */
static uint64_t loc_id(enc_t *e, const uint32_t *fr, size_t n)
{
    uint32_t x = fr[0];
    if (e->loc_memo[x] != UINT32_MAX)
        return e->loc_memo[x];
    const pa_xframe_t *xf = &e->p->frames[x];
    const pa_frame_t *f = &xf->f;
    ploc_t k;
    memset(&k, 0, sizeof k);
    k.key.map = xf->map;
    k.key.offset = k.key.map ? f->offset : f->address;
    ploc_t *l;
    HASH_FIND(hh, e->locs, &k.key, sizeof k.key, l);
    if (l) {
        if (l->id < UINT32_MAX)
            e->loc_memo[x] = (uint32_t)l->id;
        return l->id;
    }
    if (!(l = calloc(1, sizeof *l))) {
        e->failed = true;
        return 0;
    }
    l->key = k.key;
    l->id = ++e->nlocs;
    HASH_ADD(hh, e->locs, key, sizeof l->key, l);
    if (l->id < UINT32_MAX)
        e->loc_memo[x] = (uint32_t)l->id;
    /* Functions first: each is a message of the Profile, written before this Location. */
    uint64_t fids[64];
    size_t nf = 0;
    char unknown[256];
    for (size_t i = 0; i < n && nf < 64; i++) {
        const pa_frame_t *fi = &e->p->frames[fr[i]].f;
        if (fi->function)
            fids[nf++] = func_id(e, fi->function, fi->file);
        else if (k.key.map) /* an unresolved frame of a module: named as the text reports do */
            fids[nf++] = func_id(e, pa_export_frame_name(fi, unknown, sizeof unknown), NULL);
    }
    pb_u64(&e->sub, 1, l->id);
    pb_u64(&e->sub, 2, k.key.map);
    uint64_t addr = k.key.map ? e->p->maps[k.key.map - 1].base + f->offset : f->address;
    pb_u64(&e->sub, 3, addr ? addr - 1 : 0);
    for (size_t i = 0, j = 0; i < n && j < nf; i++) {
        const pa_frame_t *fi = &e->p->frames[fr[i]].f;
        if (!fi->function && !k.key.map)
            continue;
        pb_u64(&e->sub2, 1, fids[j++]);
        pb_u64(&e->sub2, 2, fi->line);
        pb_msg(&e->sub, 4, &e->sub2);
    }
    pb_msg(&e->body, 4, &e->sub);
    return l->id;
}

/* A location for a site without frames: a function named by its note. */
static uint64_t note_loc(enc_t *e, const pa_xsite_t *s)
{
    char name[256];
    snprintf(name, sizeof name, "[%s]", s->note ? s->note : "no frames");
    uint64_t fid = func_id(e, name, NULL);
    uint64_t id = ++e->nlocs;
    pb_u64(&e->sub, 1, id);
    pb_u64(&e->sub2, 1, fid);
    pb_msg(&e->sub, 4, &e->sub2);
    pb_msg(&e->body, 4, &e->sub);
    return id;
}

static void sample(enc_t *e, const pa_xsite_t *s, int first, int count)
{
    e->ids.len = 0;
    e->vals.len = 0;
    if (!s->nframes)
        pb_varint(&e->ids, note_loc(e, s));
    const uint32_t *fr = pa_xsite_frames(e->p, s);
    const pa_xframe_t *xf = e->p->frames;
    /* the ids written in place, room made once for all of them (loc_id writes elsewhere); with
     * none (out of memory: pb_room set e->ids.failed), the locations are still made */
    unsigned char *o = pb_room(&e->ids, (size_t)s->nframes * PB_VARINT_MAX)
                           ? (unsigned char *)e->ids.s + e->ids.len
                           : NULL;
    for (size_t i = 0; i < s->nframes;) {
        size_t n = 1; /* this address's frames: inlined ones, then their caller */
        while (i + n < s->nframes && xf[fr[i + n - 1]].f.inlined &&
               xf[fr[i + n]].f.address == xf[fr[i]].f.address)
            n++;
        uint64_t id = loc_id(e, fr + i, n);
        if (o)
            o = varint_at(o, id);
        i += n;
    }
    if (o) {
        e->ids.len = (size_t)((char *)o - e->ids.s);
        e->ids.s[e->ids.len] = 0;
    }
    for (int m = first; m < first + count; m++)
        pb_varint(&e->vals, s->v[m]);
    pb_bytes(&e->sub, 1, e->ids.s ? e->ids.s : "", e->ids.len);
    pb_bytes(&e->sub, 2, e->vals.s, e->vals.len);
    pb_msg(&e->body, 2, &e->sub);
}

static void value_type(enc_t *e, unsigned field, const char *type, const char *unit)
{
    pb_u64(&e->sub2, 1, str_index(&e->st, type));
    pb_u64(&e->sub2, 2, str_index(&e->st, unit));
    pb_msg(&e->body, field, &e->sub2);
}

static void mappings(enc_t *e)
{
    for (size_t i = 0; i < e->p->nmaps; i++) {
        const pa_xmap_t *m = &e->p->maps[i];
        char hex[2 * 64 + 1] = "";
        for (uint32_t k = 0; k < m->build_id_len && k < 64; k++)
            snprintf(hex + 2 * k, 3, "%02x", m->build_id[k]);
        /* The Mapping of the module's executable segment, as /proc/PID/maps shows it (its
         * page-aligned start and file offset), when its file is here: pprof picks the program
         * header by file_offset, and offset 0 is the first segment, read-only with -z
         * separate-code, which it symbolizes as data (nothing: the names stayed
         * module+0xoffset with the binary found). Without the file, the whole module at 0. */
        uint64_t start = m->start, off = 0, va, fo;
        if (pa_symbols_exec_segment(m->path, m->build_id, m->build_id_len, &va, &fo) &&
            (va & 0xfff) == (fo & 0xfff) && m->base + (va & ~0xfffull) >= m->start &&
            m->base + (va & ~0xfffull) < m->end) {
            start = m->base + (va & ~0xfffull);
            off = fo & ~0xfffull;
        }
        pb_u64(&e->sub, 1, i + 1);
        pb_u64(&e->sub, 2, start);
        pb_u64(&e->sub, 3, m->end);
        pb_u64(&e->sub, 4, off);
        pb_u64(&e->sub, 5, str_index(&e->st, m->path));
        pb_u64(&e->sub, 6, str_index(&e->st, hex));
        pb_u64(&e->sub, 7, !m->unresolved);
        pb_u64(&e->sub, 8, !m->unresolved);
        pb_u64(&e->sub, 9, !m->unresolved);
        pb_u64(&e->sub, 10, !m->unresolved);
        pb_msg(&e->body, 3, &e->sub);
    }
}

/* The whole Profile message into e->body (string table last: it is complete only then; the
 * proto's fields may come in any order). */
static void encode(enc_t *e, pa_xkind_t kind, int metric)
{
    const pa_xprof_t *p = e->p;
    int first = pa_xkind_first[kind], count = pa_xkind_count[kind];
    str_index(&e->st, ""); /* string_table[0] must be "" */
    for (int m = first; m < first + count; m++)
        value_type(e, 1, pa_xmetrics[m].name, pa_xmetrics[m].unit);
    mappings(e);
    for (const pa_xsite_t *s = p->sites; s < p->sites + p->nsites; s++) {
        bool any = false;
        for (int m = first; m < first + count; m++)
            any |= s->v[m] != 0;
        if (any)
            sample(e, s, first, count);
    }
    pb_u64(&e->body, 9, p->start_realtime_ns);
    pb_u64(&e->body, 10, p->duration_ns);
    static const char *const period_type[PA_X_NKINDS][2] = {
        {"space", "bytes"}, {"contentions", "count"}, {"cpu", "nanoseconds"}};
    value_type(e, 11, period_type[kind][0], period_type[kind][1]);
    uint64_t period = kind == PA_X_HEAP      ? (p->sample_mean ? p->sample_mean : 1)
                      : kind == PA_X_CPUPROF ? (p->cpu_hz ? 1000000000u / p->cpu_hz : 1)
                                             : 1;
    pb_u64(&e->body, 12, period);
    char note[160];
    snprintf(note, sizeof note, "perfshim %s export of %zu trace%s", PERFSHIM_VERSION_STRING,
             p->ntraces, p->ntraces == 1 ? "" : "s");
    pb_u64(&e->body, 13, str_index(&e->st, note));
    if (kind == PA_X_HEAP && p->sample_mean) {
        snprintf(note, sizeof note,
                 "sampled: one sample point per %llu bytes on average; values are unsampled "
                 "estimates",
                 (unsigned long long)p->sample_mean);
        pb_u64(&e->body, 13, str_index(&e->st, note));
    }
    pb_u64(&e->body, 14, str_index(&e->st, pa_xmetrics[metric].name));
}

/* Writes a gzip stream of data[0..n) to out. */
static int gzip_write(FILE *out, const char *data, size_t n, const char *name)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        pa_msg_error("export: zlib: cannot start compressing");
        return PA_ENOMEM;
    }
    unsigned char buf[65536];
    z.next_in = (Bytef *)(uintptr_t)data;
    int zr = Z_OK, rc = PA_OK;
    size_t left = n;
    do {
        uInt chunk = left > (1u << 30) ? 1u << 30 : (uInt)left;
        z.avail_in = chunk;
        left -= chunk;
        int flush = left ? Z_NO_FLUSH : Z_FINISH;
        do {
            z.next_out = buf;
            z.avail_out = sizeof buf;
            zr = deflate(&z, flush);
            size_t have = sizeof buf - z.avail_out;
            if (have && fwrite(buf, 1, have, out) != have) {
                pa_msg_error("export: cannot write %s: %s", name, strerror(errno));
                rc = PA_EIO;
            }
        } while (rc == PA_OK && z.avail_out == 0);
    } while (rc == PA_OK && left);
    if (rc == PA_OK && zr != Z_STREAM_END) {
        pa_msg_error("export: zlib: compression failed");
        rc = PA_EIO;
    }
    deflateEnd(&z);
    return rc;
}

int pa_pprof_write(const pa_xprof_t *p, pa_xkind_t kind, int metric, FILE *out, const char *name)
{
    enc_t e;
    memset(&e, 0, sizeof e);
    e.p = p;
    if (!(e.loc_memo = pa_export_memo(p)))
        e.failed = true;
    else
        encode(&e, kind, metric);
    int rc = PA_OK;
    if (e.failed || e.st.failed || e.st.table.failed || e.body.failed || e.sub.failed ||
        e.sub2.failed || e.ids.failed || e.vals.failed) {
        pa_msg_error("export: out of memory while encoding the pprof profile");
        rc = PA_ENOMEM;
    } else {
        /* the string table after the other fields: one buffer to compress */
        pa_str_append(&e.body, e.st.table.s, e.st.table.len);
        rc = e.body.failed ? PA_ENOMEM : gzip_write(out, e.body.s, e.body.len, name);
    }
    ploc_t *l, *lt;
    HASH_ITER(hh, e.locs, l, lt)
    {
        HASH_DEL(e.locs, l);
        free(l);
    }
    pfunc_t *f, *ft;
    HASH_ITER(hh, e.funcs, f, ft)
    {
        HASH_DEL(e.funcs, f);
        free(f->key);
        free(f);
    }
    strtab_free(&e.st);
    free(e.loc_memo);
    pa_str_free(&e.body);
    pa_str_free(&e.sub);
    pa_str_free(&e.sub2);
    pa_str_free(&e.ids);
    pa_str_free(&e.vals);
    return rc;
}
