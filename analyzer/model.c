/* SPDX-License-Identifier: MIT */
/*
 * model.c — decodes chunk payloads (docs/trace-format.md) into a pa_trace_t.
 *
 * Every payload is decoded with the bounds-checked cursor; counts read from the file are checked
 * against the bytes left before anything is allocated for them. A chunk whose CRC verifies but
 * whose payload does not parse is reported as malformed and ignored (a STACKS chunk keeps the
 * stacks decoded before the fault). Bytes after the known fields of a payload are ignored: later
 * format revisions may append fields.
 *
 * The model streams: it stands at one snapshot at a time, and a report's handler
 * (pa_model_opts_t.on_snapshot) sees each in turn. A full SNAPSHOT replaces the current rows, a
 * SNAPSHOT_DELTA replaces the rows it lists (load_snapshot decodes both, the only place that
 * does); reading stops applying snapshots at the one --at chooses and only counts the rest.
 * MODULES, POOL and the timing chunks may be written only when they changed: the model keeps
 * the last of each. POOL and the timing chunks are matched to their snapshot by time ("chunks
 * that belong to a snapshot" below): those of a snapshot whose SNAPSHOT never came (the writer
 * died) are staged and then ignored, never mistaken for the last complete snapshot's.
 */
#include "model.h"

#include "ages.h"
#include "pieces.h"

#include "trace_reader.h"

#include "trace_format.h"

#include <errno.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- warnings ------------------------------------------------------------------------------ */

static void vwarn(pa_trace_t *t, const char *fmt, va_list ap)
{
    pa_str_t b = {0};
    pa_str_vprintf(&b, fmt, ap);
    pa_util_make_printable(b.s, b.len); /* the text may hold strings from the trace */
    const char *msg = b.failed ? "(out of memory formatting a warning)" : pa_str_get(&b);
    if (!t->quiet)
        pa_msg_error("%s: %s", t->path, msg);
    pa_strlist_add(&t->warnings, msg); /* on failure the warning was still printed */
    pa_str_free(&b);
}

void pa_model_warn(pa_trace_t *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vwarn(t, fmt, ap);
    va_end(ap);
}

static void reader_warn(void *ctx, const char *msg)
{
    pa_model_warn(ctx, "%s", msg);
}

static void malformed(pa_trace_t *t, const char *what, const pa_chunk_t *c, const char *why)
{
    t->damaged = true;
    pa_model_warn(t, "malformed %s chunk at offset %llu: %s; chunk ignored", what,
                  (unsigned long long)c->offset, why);
}

/* ---- the records declared in trace_rows.h --------------------------------------------------- */

/* PA_ROW_GET(cur, ID, r): every field of record PS_ROW_<ID>, in order, into r's members; a
 * payload too short sets cur->err (the members read past its end are 0). */
#define PA_ROW_GET(cur, ID, r)                                                                     \
    do {                                                                                           \
        pa_cursor_t *pa_gc_ = (cur);                                                               \
        PS_ROW_##ID(GET_FIELD, r)                                                                  \
    } while (0)
#define GET_FIELD(r, type, name, unit, json, json_name, meaning) GET_##type(pa_gc_, (r)->name);
#define GET_u32(c, v) (v) = pa_cursor_u32(c)
#define GET_u64(c, v) (v) = pa_cursor_u64(c)
#define GET_pad32(c, v) pa_cursor_skip(c, 4)
#define GET_name16(c, v) get_name16(c, v)

/* PA_ROW_GET_FIT(cur, ID, r, row_size): one row of a table whose chunk gives row_size: the
 * fields that fit in row_size bytes (a row written before fields were appended to the record
 * ends early; later members keep their value), then the bytes of fields appended after this
 * reader was written are skipped. The caller checked that the rows fit in the payload. */
#define PA_ROW_GET_FIT(cur, ID, r, row_size)                                                       \
    do {                                                                                           \
        pa_cursor_t *pa_gc_ = (cur);                                                               \
        uint32_t pa_left_ = (row_size);                                                            \
        bool pa_fits_ = true;                                                                      \
        PS_ROW_##ID(GET_FIT_FIELD, r) pa_cursor_skip(pa_gc_, pa_left_);                            \
    } while (0)
#define GET_FIT_FIELD(r, type, name, unit, json, json_name, meaning)                               \
    pa_fits_ = pa_fits_ && pa_left_ >= PS_ROW_WIRE_##type;                                         \
    if (pa_fits_) {                                                                                \
        GET_##type(pa_gc_, (r)->name);                                                             \
        pa_left_ -= PS_ROW_WIRE_##type;                                                            \
    }

/* A name16 field: 16 bytes, NUL-padded, into char[17] (always terminated). */
static void get_name16(pa_cursor_t *c, char *dst)
{
    const uint8_t *p = c->p + c->pos;
    pa_cursor_skip(c, PS_ROW_NAME16_SIZE);
    if (!c->err)
        memcpy(dst, p, PS_ROW_NAME16_SIZE);
    dst[PS_ROW_NAME16_SIZE] = 0;
}

/* ---- PROCESS ------------------------------------------------------------------------------- */

static char *dup_str(pa_cursor_t *c)
{
    const uint8_t *s;
    uint32_t n;
    pa_cursor_str(c, &s, &n);
    return pa_util_strndup((const char *)s, n);
}

static void free_process(pa_process_t *p)
{
    free(p->tool_version);
    free(p->program);
    free(p->hostname);
    for (uint32_t i = 0; p->argv && i < p->argc; i++)
        free(p->argv[i]);
    free(p->argv);
    free(p->options);
    memset(p, 0, sizeof *p);
}

static int load_process(pa_trace_t *t, const pa_chunk_t *ch)
{
    if (t->has_process) {
        pa_model_warn(t, "second PROCESS chunk at offset %llu ignored",
                      (unsigned long long)ch->offset);
        return PA_OK;
    }
    pa_process_t p = {0};
    pa_cursor_t c;
    pa_cursor_init(&c, ch->payload, ch->length);
    p.pid = pa_cursor_u64(&c);
    p.ppid = pa_cursor_u64(&c);
    p.start_realtime_ns = pa_cursor_u64(&c);
    p.start_monotonic_ns = pa_cursor_u64(&c);
    p.tool_version = dup_str(&c);
    p.program = dup_str(&c);
    p.hostname = dup_str(&c);
    uint32_t argc = pa_cursor_u32(&c);
    int rc = PA_OK;
    if (!c.err && argc > pa_cursor_left(&c) / 4) {
        c.err = 1;
    } else if (!c.err) {
        p.argv = calloc(argc ? argc : 1, sizeof *p.argv);
        if (!p.argv)
            rc = PA_ENOMEM;
        for (uint32_t i = 0; p.argv && i < argc; i++) {
            p.argv[i] = dup_str(&c);
            p.argc = i + 1;
            if (!p.argv[i])
                rc = PA_ENOMEM;
        }
    }
    p.options = dup_str(&c);
    p.pointer_size = pa_cursor_u32(&c);
    p.page_size = pa_cursor_u32(&c);
    if (!c.err && pa_cursor_left(&c) >= 16) { /* appended: the memory the process may use */
        p.has_memory = true;
        p.mem_total_bytes = pa_cursor_u64(&c);
        p.cgroup_limit_bytes = pa_cursor_u64(&c);
    }
    if (!p.tool_version || !p.program || !p.hostname || !p.options)
        rc = PA_ENOMEM;
    if (rc != PA_OK || c.err) {
        free_process(&p);
        if (rc == PA_OK)
            malformed(t, "PROCESS", ch, "payload ends before its last field");
        return rc;
    }
    t->process = p;
    t->has_process = true;
    return PA_OK;
}

/* ---- SECTION (perfshim ctl): which section of its process this file is -------------------- */

static int load_section(pa_trace_t *t, const pa_chunk_t *ch)
{
    pa_cursor_t c;
    pa_cursor_init(&c, ch->payload, ch->length);
    uint32_t number = pa_cursor_u32(&c), how = pa_cursor_u32(&c);
    uint64_t start_ns = pa_cursor_u64(&c);
    char *first = dup_str(&c);
    if (!first)
        return PA_ENOMEM;
    if (c.err || t->has_section) {
        free(first);
        malformed(t, "SECTION", ch, c.err ? "payload ends before its last field" : "a second one");
        return PA_OK;
    }
    t->section.number = number;
    t->section.how = how;
    t->section.start_ns = start_ns;
    t->section.first = first;
    t->has_section = true;
    return PA_OK;
}

/* ---- MODULES ------------------------------------------------------------------------------- */

static void free_modules(pa_module_t *m, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(m[i].path);
        free(m[i].build_id);
    }
}

static bool overlaps(const pa_module_t *a, const pa_module_t *b)
{
    return a->start < b->end && b->start < a->end;
}

static int load_modules(pa_trace_t *t, const pa_chunk_t *ch)
{
    pa_cursor_t c;
    pa_cursor_init(&c, ch->payload, ch->length);
    uint32_t count = pa_cursor_u32(&c);
    if (c.err || count > pa_cursor_left(&c) / 32) { /* 32: the smallest module record */
        malformed(t, "MODULES", ch, "module count larger than the payload");
        return PA_OK;
    }
    size_t cap = count;
    pa_module_t *m = calloc(cap ? cap : 1, sizeof *m);
    if (!m)
        return PA_ENOMEM;
    size_t n = 0;
    int rc = PA_OK;
    for (; n < count && !c.err; n++) {
        m[n].base = pa_cursor_u64(&c);
        m[n].start = pa_cursor_u64(&c);
        m[n].end = pa_cursor_u64(&c);
        m[n].path = dup_str(&c);
        const uint8_t *bid;
        uint32_t bid_len;
        pa_cursor_str(&c, &bid, &bid_len);
        if (bid_len) {
            m[n].build_id = malloc(bid_len);
            if (m[n].build_id)
                memcpy(m[n].build_id, bid, bid_len);
            m[n].build_id_len = bid_len;
        }
        if (!m[n].path || (bid_len && !m[n].build_id))
            rc = PA_ENOMEM;
    }
    if (rc != PA_OK || c.err) {
        free_modules(m, n);
        free(m);
        if (rc == PA_OK)
            malformed(t, "MODULES", ch, "payload ends inside a module record");
        return rc;
    }
    /* Modules of the previous maps that nothing in this one overlaps were unloaded since; keep
     * them (bounded) so that stacks captured while they were loaded still symbolize. */
    for (size_t i = 0; i < t->nmodules; i++) {
        pa_module_t *old = &t->modules[i];
        bool keep = n - count < PA_MAX_RETIRED && old->end > old->start;
        for (size_t k = 0; keep && k < n; k++)
            keep = !overlaps(old, &m[k]);
        if (keep && pa_util_grow((void **)&m, &cap, n + 1, sizeof *m) == PA_OK) {
            m[n] = *old;
            m[n++].retired = true;
        } else {
            free_modules(old, 1);
        }
    }
    free(t->modules);
    t->modules = m;
    t->nmodules = n;
    t->modules_cap = cap;
    return PA_OK;
}

/* ---- UNLOADED_MODULES ---------------------------------------------------------------------- */

static bool same_module(const pa_module_t *a, const pa_module_t *b)
{
    return a->base == b->base && a->start == b->start && a->end == b->end &&
           a->build_id_len == b->build_id_len && strcmp(a->path, b->path) == 0 &&
           (!a->build_id_len || memcmp(a->build_id, b->build_id, a->build_id_len) == 0);
}

/* Modules dlclose unmapped before the snapshot: added to the map as retired (after the live
 * modules, which win an address lookup), unless the map has the same module already. The
 * chunk lists every unload since start, and follows each MODULES chunk, so what load_modules
 * dropped for overlapping the newer map comes back here. After the records, newer shims append
 * each one's stack count at its unload (u32 count, count x u32): a module unloaded, reloaded
 * elsewhere and unloaded again has two records, each matched to a module of its own. */
static int load_unloaded_modules(pa_trace_t *t, const pa_chunk_t *ch)
{
    pa_cursor_t c;
    pa_cursor_init(&c, ch->payload, ch->length);
    uint32_t count = pa_cursor_u32(&c);
    (void)pa_cursor_u32(&c); /* reserved */
    uint64_t dropped = pa_cursor_u64(&c);
    if (c.err || count > pa_cursor_left(&c) / 40) { /* 40: the smallest record */
        malformed(t, "UNLOADED_MODULES", ch, "module count larger than the payload");
        return PA_OK;
    }
    size_t retired = 0;
    for (size_t i = 0; i < t->nmodules; i++)
        retired += t->modules[i].retired;
    size_t *slot = malloc((count ? count : 1) * sizeof *slot); /* record -> module, or SIZE_MAX */
    if (!slot)
        return PA_ENOMEM;
    uint32_t i = 0;
    int rc = PA_OK;
    for (; i < count; i++) {
        pa_module_t m = {.retired = true};
        m.base = pa_cursor_u64(&c);
        m.start = pa_cursor_u64(&c);
        m.end = pa_cursor_u64(&c);
        const uint8_t *s, *bid;
        uint32_t slen;
        pa_cursor_str(&c, &s, &slen);
        pa_cursor_str(&c, &bid, &m.build_id_len);
        (void)pa_cursor_u64(&c); /* unload_ns: not used by any report yet */
        slot[i] = SIZE_MAX;
        if (c.err) {
            malformed(t, "UNLOADED_MODULES", ch, "payload ends inside a module record");
            break; /* the records before it stay */
        }
        m.path = pa_util_strndup((const char *)s, slen);
        m.build_id = m.build_id_len ? malloc(m.build_id_len) : NULL;
        if (!m.path || (m.build_id_len && !m.build_id)) {
            free_modules(&m, 1);
            rc = PA_ENOMEM;
            break;
        }
        if (m.build_id_len)
            memcpy(m.build_id, bid, m.build_id_len);
        bool known = m.end <= m.start || retired >= PA_MAX_RETIRED;
        /* the same module as the last earlier record at its addresses: the same one (as the
         * shim keeps them, older shims included); another record between: a load of its own */
        for (uint32_t r = i; !known && r-- > 0;) {
            const pa_module_t *o = slot[r] == SIZE_MAX ? NULL : &t->modules[slot[r]];
            if (o && overlaps(o, &m)) {
                if (same_module(o, &m)) {
                    known = true;
                    slot[i] = slot[r];
                }
                break;
            }
        }
        for (size_t k = 0; !known && k < t->nmodules; k++) {
            known = same_module(&t->modules[k], &m);
            for (uint32_t r = 0; known && r < i; r++) /* not one an earlier record took */
                known = slot[r] != k;
            if (known)
                slot[i] = k;
        }
        if (known || pa_util_grow((void **)&t->modules, &t->modules_cap, t->nmodules + 1,
                                  sizeof *t->modules) != PA_OK) {
            free_modules(&m, 1);
            if (!known) {
                rc = PA_ENOMEM;
                break;
            }
            continue;
        }
        slot[i] = t->nmodules;
        t->modules[t->nmodules++] = m;
        retired++;
    }
    if (rc == PA_OK && i == count && pa_cursor_left(&c) >= 4 && pa_cursor_u32(&c) == count &&
        pa_cursor_left(&c) >= (size_t)count * 4)
        for (uint32_t r = 0; r < count; r++) {
            uint32_t n = pa_cursor_u32(&c);
            if (slot[r] != SIZE_MAX)
                t->modules[slot[r]].stacks = n;
        }
    free(slot);
    if (rc == PA_OK && dropped)
        pa_model_warn(t,
                      "%llu unloaded module(s) were not recorded (the shim's list was full); "
                      "frames in them may show as bare addresses",
                      (unsigned long long)dropped);
    return rc;
}

/* ---- STACKS -------------------------------------------------------------------------------- */

/* The frame tree's hash of a node: of its address and of its caller's hash (0 for the root),
 * that is of its whole path from the outermost frame. So a stack's hashes follow from its
 * addresses alone, before any of its nodes is found, and the slots of all its frames are
 * fetched at once (add_stack) instead of one cache miss after the other: 1.8M lookups on the
 * busy trace's 129k stacks, most in an 8 MB index. */
static uint64_t frame_hash(uint64_t caller_hash, uint64_t addr)
{
    uint64_t h = (addr ^ caller_hash) * 0x9e3779b97f4a7c15u;
    return h ^ h >> 29;
}

/* A capacity from cap (0: none yet) doubled until it holds need. */
static size_t doubled(size_t cap, size_t need)
{
    cap = cap ? cap : 1024;
    while (cap < need)
        cap *= 2;
    return cap;
}

/* The slot of addr in the address index, or the empty slot where it would go. */
static size_t addr_slot(const pa_frames_t *f, uint64_t addr)
{
    size_t mask = f->addr_index_cap - 1;
    size_t i = (size_t)((addr * 0x9e3779b97f4a7c15u) >> 32) & mask;
    uint32_t e;
    while ((e = f->addr_index[i]) && f->addrs[e - 1] != addr)
        i = (i + 1) & mask;
    return i;
}

/* Room for `more` new addresses (each new node may bring one): the table and its index grown
 * (the index kept at most half full). */
static int addrs_reserve(pa_frames_t *f, size_t more)
{
    size_t need = f->naddrs + more + (f->naddrs == 0); /* (and the root's 0) */
    if (need <= f->addrs_cap)
        return PA_OK;
    size_t cap = doubled(f->addrs_cap, need);
    uint64_t *a = realloc(f->addrs, cap * sizeof *a);
    if (!a)
        return PA_ENOMEM;
    f->addrs = a;
    uint32_t *x = pa_util_zalloc(2 * cap * sizeof *x);
    if (!x)
        return PA_ENOMEM;
    free(f->addr_index);
    f->addr_index = x;
    f->addr_index_cap = 2 * cap;
    f->addrs_cap = cap;
    if (f->naddrs == 0) {
        f->addrs[0] = 0;
        f->naddrs = 1;
    }
    for (size_t k = 0; k < f->naddrs; k++)
        f->addr_index[addr_slot(f, f->addrs[k])] = (uint32_t)k + 1;
    return PA_OK;
}

/* The index of addr in f->addrs, added if new (room reserved). */
static uint32_t addr_intern(pa_frames_t *f, uint64_t addr)
{
    size_t i = addr_slot(f, addr);
    if (!f->addr_index[i]) {
        f->addrs[f->naddrs] = addr;
        f->addr_index[i] = (uint32_t)++f->naddrs;
    }
    return f->addr_index[i] - 1;
}

/* Room for `more` new nodes: arrays and index grown (the index kept at most 3/4 full). */
static int frames_reserve(pa_frames_t *f, size_t more)
{
    if (more > UINT32_MAX - f->n)
        return PA_ENOMEM;                    /* node numbers are u32 */
    size_t need = f->n + more + (f->n == 0); /* (and the root) */
    if (need > f->cap) {
        size_t cap = doubled(f->cap, need);
        uint32_t *a = realloc(f->aix, cap * sizeof *a);
        if (!a)
            return PA_ENOMEM;
        f->aix = a;
        pa_util_huge(a, cap * sizeof *a);
        uint32_t *c = realloc(f->caller, cap * sizeof *c);
        if (!c)
            return PA_ENOMEM;
        f->caller = c;
        pa_util_huge(c, cap * sizeof *c);
        f->cap = cap;
    }
    if (!f->index && f->n > 1) { /* pa_model_read freed it; nodes added since (tests) */
        uint64_t *h = malloc(f->n * sizeof *h); /* by node: its hash (a caller precedes) */
        if (!h || pa_tix_reserve(&f->index, &f->index_cap, f->n) != PA_OK) {
            free(h);
            return PA_ENOMEM;
        }
        h[0] = 0;
        for (size_t n = 1; n < f->n; n++) {
            h[n] = frame_hash(h[f->caller[n]], f->addrs[f->aix[n]]);
            pa_tix_put(f->index, f->index_cap, h[n], (uint32_t)n);
        }
        free(h);
    }
    if (pa_tix_reserve(&f->index, &f->index_cap, need) != PA_OK || addrs_reserve(f, more) != PA_OK)
        return PA_ENOMEM;
    if (f->n == 0) { /* node 0: the root */
        f->aix[0] = 0;
        f->caller[0] = 0;
        f->n = 1;
    }
    return PA_OK;
}

/* Frees what only adding stacks uses: the index by (caller, address) and the last stack's
 * nodes. At the end of the reading, and at the exit snapshot, after which the shim writes no
 * stack: its rows are decoded without the index (a compile's 1M nodes: 16.7 MB less at the
 * peak). A stack after it all the same (a trace put together by hand) has frames_reserve make
 * the index again. */
static void frames_index_free(pa_frames_t *f)
{
    free(f->index);
    f->index = NULL;
    f->index_cap = 0;
    free(f->last);
    f->last = NULL;
    f->nlast = f->last_cap = 0;
}

/* A new node for the frame at addr called from node caller, not indexed yet (room reserved). */
static uint32_t frame_new(pa_frames_t *f, uint32_t caller, uint64_t addr)
{
    uint32_t n = (uint32_t)f->n++;
    f->aix[n] = addr_intern(f, addr);
    f->caller[n] = caller;
    return n;
}

static size_t stack_slot(const pa_trace_t *t, uint32_t id)
{
    size_t i = (size_t)(id * 2654435761u) & (t->stacks_cap - 1); /* Knuth's multiplicative hash */
    while (t->stacks[i].id && t->stacks[i].id != id)
        i = (i + 1) & (t->stacks_cap - 1);
    return i;
}

/* Room for one more stack in the table, kept at most 3/4 full: ids are dense from 1, which
 * the multiplicative hash spreads over the slots with few probes, and a table twice the stacks
 * (zeroed, 12 bytes a slot) was 6.3 MB of a compile's 192k stacks, held by every report. */
static int stacks_reserve(pa_trace_t *t)
{
    if ((t->nstacks + 1) * 4 <= t->stacks_cap * 3)
        return PA_OK;
    size_t cap = t->stacks_cap ? t->stacks_cap * 2 : 1024;
    pa_stack_t *old = t->stacks;
    size_t old_cap = t->stacks_cap;
    if (cap > SIZE_MAX / sizeof *t->stacks ||
        !(t->stacks = pa_util_zalloc(cap * sizeof *t->stacks))) {
        t->stacks = old;
        return PA_ENOMEM;
    }
    t->stacks_cap = cap;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].id)
            t->stacks[stack_slot(t, old[i].id)] = old[i];
    free(old);
    return PA_OK;
}

static uint64_t frame_at(const uint8_t *frames, uint32_t k)
{
    uint64_t v;
    memcpy(&v, frames + (size_t)k * 8, 8);
    return le64toh(v);
}

/* Defines (or redefines) stack id from its depth frames as in a STACKS record (little-endian,
 * innermost first). From the outermost in: the frames it shares with the last stack take their
 * nodes from f->last (known: how many of them STACKS_PACKED said it shares, not compared again);
 * the others are looked up, their index slots fetched BLOCK frames at a time (their hashes need
 * only the addresses); from the first new node on, every frame is new. */
static int add_stack(pa_trace_t *t, uint32_t id, uint32_t depth, const uint8_t *frames,
                     uint32_t known)
{
    enum { BLOCK = 32 }; /* frames hashed, and their slots fetched, ahead of the lookups */
    pa_frames_t *f = &t->frames;
    if (frames_reserve(f, depth) != PA_OK || stacks_reserve(t) != PA_OK ||
        pa_util_grow((void **)&f->last, &f->last_cap, depth, sizeof *f->last) != PA_OK)
        return PA_ENOMEM;
    if (known > depth || known > f->nlast)
        known = 0;
    uint32_t j = known; /* frames from the outermost */
    while (j < depth && j < f->nlast && f->last[j].addr == frame_at(frames, depth - 1 - j))
        j++;
    uint32_t node = j ? f->last[j - 1].node : 0;
    uint64_t h = j ? f->last[j - 1].hash : 0; /* hash of the frames hashed so far */
    bool fresh = false; /* node is new: it has no callee yet, so the next frames are new too */
    /* The tables in locals: the stores to f->last (and to addrs, when a node is new) may alias
     * f's fields, which the compiler would otherwise load again at every frame. frames_reserve
     * made the room: they do not move while this stack is added. */
    uint64_t *const index = f->index;
    const size_t index_cap = f->index_cap, mask = index_cap - 1;
    const uint32_t *const aix = f->aix, *const caller = f->caller;
    const uint64_t *const addrs = f->addrs;
    pa_frame_step_t *const last = f->last;
    while (j < depth) {
        /* a block of frames: their addresses and hashes first, their slots fetched at once */
        uint64_t ba[BLOCK], bh[BLOCK];
        uint32_t b = j, end = depth - j < BLOCK ? depth : j + BLOCK;
        for (uint32_t k = j; k < end; k++) {
            ba[k - b] = frame_at(frames, depth - 1 - k);
            bh[k - b] = h = frame_hash(h, ba[k - b]);
            __builtin_prefetch(&index[pa_tix_first(h, index_cap)], 1);
        }
        for (; j < end; j++) {
            uint64_t addr = ba[j - b], hj = bh[j - b];
            size_t i = pa_tix_first(hj, index_cap);
            uint64_t e;
            if (fresh) { /* node is new: (node, addr) cannot be in the table, only its empty slot */
                while (index[i])
                    i = (i + 1) & mask;
                e = 0;
            } else { /* the slot of (node, addr), or the empty one where it would go */
                while ((e = index[i])) {
                    uint32_t n = (uint32_t)e;
                    if (PA_TIX_TAG(e) == PA_TIX_TAG(hj) && caller[n] == node &&
                        addrs[aix[n]] == addr)
                        break;
                    i = (i + 1) & mask;
                }
            }
            if (e) {
                node = (uint32_t)e;
            } else {
                node = frame_new(f, node, addr);
                index[i] = PA_TIX_TAG(hj) | node;
                fresh = true;
            }
            last[j] = (pa_frame_step_t){addr, hj, node};
        }
    }
    f->nlast = depth;
    pa_stack_t *s = &t->stacks[stack_slot(t, id)];
    if (!s->id)
        t->nstacks++;
    *s = (pa_stack_t){.id = id, .depth = depth, .leaf = node};
    return PA_OK;
}

/* The stacks a pass adds (live_stacks): ids sorted, each once; all of them when NULL. */
typedef struct {
    const uint32_t *ids;
    size_t n;
} wanted_t;

/* The first index of w->ids at or after `from` whose id is not below id. */
static size_t wanted_from(const wanted_t *w, size_t from, uint32_t id)
{
    size_t lo = from, hi = w->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (w->ids[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* A STACKS chunk's cursor (c) and its stack count (a count no payload could hold: c->err). */
static uint32_t stacks_count(pa_cursor_t *c, const pa_chunk_t *ch)
{
    pa_cursor_init(c, ch->payload, ch->length);
    uint32_t count = pa_cursor_u32(c);
    if (!c->err && count > pa_cursor_left(c) / 8)
        c->err = 1;
    return count;
}

/* The next stack record of a STACKS chunk: its id, depth and frames (little-endian, innermost
 * first); false (c->err) when the payload ends inside it. */
static bool stacks_record(pa_cursor_t *c, uint32_t *id, uint32_t *depth, const uint8_t **frames)
{
    if (c->err)
        return false;
    *id = pa_cursor_u32(c);
    *depth = pa_cursor_u32(c);
    if (c->err || *depth > pa_cursor_left(c) / 8) {
        c->err = 1;
        return false;
    }
    *frames = c->p + c->pos;
    pa_cursor_skip(c, (size_t)*depth * 8);
    return true;
}

/* A stack record's frames (outermost last in the file) become nodes of the frame tree, from the
 * outermost in, sharing the nodes of the callers already known. With want, only its stacks, and
 * the chunk was checked before (nothing said). */
static int load_stacks(pa_trace_t *t, const pa_chunk_t *ch, const wanted_t *want)
{
    pa_cursor_t c;
    uint32_t count = stacks_count(&c, ch), id, depth;
    const uint8_t *frames;
    for (uint32_t i = 0; i < count && stacks_record(&c, &id, &depth, &frames); i++) {
        if (id == 0) /* never defined (docs/trace-format.md): no row can name it */
            continue;
        if (want) {
            size_t k = wanted_from(want, 0, id);
            if (k == want->n || want->ids[k] != id)
                continue;
        }
        if (add_stack(t, id, depth, frames, 0) != PA_OK)
            return PA_ENOMEM;
    }
    if (c.err && !want)
        malformed(t, "STACKS", ch, "payload ends inside a stack record (stacks before it kept)");
    return PA_OK;
}

/* An unsigned LEB128 varint of at most 8 bytes from a word (little-endian) holding its
 * terminator: its 7-bit groups joined in three steps. Longer ones, and the payload's last 7
 * bytes, take pa_cursor_varint. */
static inline uint64_t varint_word(pa_cursor_t *c)
{
    if (c->len - c->pos >= 8 && !c->err) {
        if (c->p[c->pos] < 0x80) /* most frames of a compile: 1.5 bytes on average */
            return c->p[c->pos++];
        uint64_t w;
        memcpy(&w, c->p + c->pos, 8);
        w = le64toh(w);
        uint64_t stop = ~w & 0x8080808080808080ull;
        if (stop) {
            unsigned bits = (unsigned)__builtin_ctzll(stop) + 1; /* through the terminator */
            c->pos += bits / 8;
            uint64_t x = (bits == 64 ? w : w & ((1ull << bits) - 1)) & 0x7f7f7f7f7f7f7f7full;
            x = (x & 0x007f007f007f007full) | (x & 0x7f007f007f007f00ull) >> 1;
            x = (x & 0x00003fff00003fffull) | (x & 0x3fff00003fff0000ull) >> 2;
            return (x & 0x000000000fffffffull) | (x & 0x0fffffff00000000ull) >> 4;
        }
    }
    return pa_cursor_varint(c);
}

/* A STACKS_PACKED record's head (id gap, depth, shared frames) into *id (advanced), *depth and
 * *shared, checked against the stack before (pdepth frames): false at the payload's end (c->err)
 * or, *why saying it, at a record that breaks the format. */
static inline bool packed_head(pa_cursor_t *c, uint64_t *id, uint64_t pdepth, uint64_t *depth,
                               uint64_t *shared, const char **why)
{
    uint64_t gap = varint_word(c);
    *depth = varint_word(c);
    *shared = varint_word(c);
    if (c->err)
        return false;
    *id += gap;
    if (gap == 0 || *id > UINT32_MAX)
        *why = "stack ids not increasing, or past 2^32 - 1";
    else if (*shared > *depth || *shared > pdepth)
        *why = "a stack shares more frames than it or the stack before has";
    else if (*depth - *shared > pa_cursor_left(c))
        *why = "a stack has more frames than the payload holds";
    return !*why;
}

/* STACKS_PACKED: each stack written against the one before it in the chunk, its outermost
 * frames shared as a count and the others as zigzag differences from a nearby address
 * (docs/trace-format.md). Decoded straight into a STACKS record's layout (innermost first), the
 * shared frames copied from the record before. With want (ids increase in a chunk), only its
 * stacks are added, the decoding stops after the last of them, and the chunk was checked before
 * (nothing said); a stack after one not added is matched against f->last from its outermost
 * frame (add_stack's known: 0), f->last being another stack's. */
static int load_stacks_packed(pa_trace_t *t, const pa_chunk_t *ch, const wanted_t *want)
{
    pa_cursor_t c;
    pa_cursor_init(&c, ch->payload, ch->length);
    uint32_t count = pa_cursor_u32(&c);
    uint8_t *prev = NULL, *cur = NULL;
    size_t prev_cap = 0, cur_cap = 0;
    uint64_t id = 0, pdepth = 0;
    const char *why = NULL;
    int rc = PA_OK;
    size_t next = 0;    /* want: the first wanted id not passed yet */
    bool added = false; /* the stack before was added (f->last is its) */
    for (uint32_t i = 0; i < count && !c.err; i++) {
        uint64_t depth, shared;
        if (!packed_head(&c, &id, pdepth, &depth, &shared, &why))
            break;
        if (pa_util_grow((void **)&cur, &cur_cap, (size_t)depth * 8, 1) != PA_OK) {
            rc = PA_ENOMEM;
            break;
        }
        /* frame k from the outermost is at (depth - 1 - k) * 8 */
        uint64_t last = 0; /* the frame just decoded (or the innermost shared one) */
        if (shared) {      /* (prev and cur are NULL before a stack with frames) */
            memcpy(cur + (depth - shared) * 8, prev + (pdepth - shared) * 8, (size_t)shared * 8);
            memcpy(&last, cur + (depth - shared) * 8, 8);
        }
        /* the first difference from the stack before's frame there, when it has one */
        if (shared < depth && shared < pdepth)
            memcpy(&last, prev + (pdepth - 1 - shared) * 8, 8);
        /* most differences are one byte: read in place while 8 bytes are left (varint_word's
         * test), the others through it */
        const uint8_t *q = c.p + c.pos;
        for (uint64_t k = shared; k < depth; k++) {
            uint64_t z;
            if ((size_t)(c.p + c.len - q) >= 8 && *q < 0x80) {
                z = *q++;
            } else {
                c.pos = (size_t)(q - c.p);
                z = varint_word(&c);
                if (c.err)
                    break;
                q = c.p + c.pos;
            }
            last = htole64(le64toh(last) + ((z >> 1) ^ (0 - (z & 1))));
            memcpy(cur + (depth - 1 - k) * 8, &last, 8);
        }
        if (!c.err)
            c.pos = (size_t)(q - c.p);
        if (c.err)
            break;
        bool add = true;
        if (want) {
            while (next < want->n && want->ids[next] < id)
                next++;
            add = next < want->n && want->ids[next] == id;
        }
        if (add && add_stack(t, (uint32_t)id, (uint32_t)depth, cur,
                             !want || added ? (uint32_t)shared : 0) != PA_OK) {
            rc = PA_ENOMEM;
            break;
        }
        added = add;
        if (want && (next == want->n || (add && next + 1 == want->n)))
            break; /* no wanted id left after this one */
        uint8_t *swap = prev;
        size_t swap_cap = prev_cap;
        prev = cur, prev_cap = cur_cap, pdepth = depth;
        cur = swap, cur_cap = swap_cap;
    }
    free(prev);
    free(cur);
    if (rc == PA_OK && (c.err || why) && !want)
        malformed(t, "STACKS_PACKED", ch,
                  why ? why : "payload ends inside a stack record (stacks before it kept)");
    return rc;
}

/* One stack of a STACKS_PACKED chunk while only some are added: its frames outermost first, the
 * first `have` of them decoded; the others (from frame have on) are varints at `pos` in the
 * payload, frame `shared`'s a difference from ref0 and each later one's from the frame before. */
typedef struct {
    uint64_t *out;
    size_t cap;
    uint64_t depth, shared, have, ref0;
    size_t pos;
} lazy_stack_t;

/* Decodes s's frames up to m (not past its depth); 0 if the payload does not hold them. */
static bool lazy_decode(lazy_stack_t *s, const pa_chunk_t *ch, uint64_t m)
{
    if (m <= s->have)
        return true;
    pa_cursor_t c;
    pa_cursor_init(&c, ch->payload, ch->length);
    c.pos = s->pos;
    for (uint64_t k = s->have; k < m; k++) {
        uint64_t z = varint_word(&c);
        uint64_t ref = k == s->shared ? s->ref0 : s->out[k - 1];
        s->out[k] = ref + ((z >> 1) ^ (0 - (z & 1)));
    }
    if (c.err)
        return false;
    s->have = m;
    s->pos = c.pos;
    return true;
}

/* load_stacks_packed for the stacks of want only (ids sorted: they increase in a chunk too), in a
 * chunk checked before (nothing said, the reading stops where the check stopped): a stack not
 * added has its frame varints skipped, and decoded later only as far as the next stack reads
 * them (its shared callers and the address its first own frame differs from). */
static int load_stacks_packed_wanted(pa_trace_t *t, const pa_chunk_t *ch, const wanted_t *want)
{
    pa_cursor_t c;
    pa_cursor_init(&c, ch->payload, ch->length);
    uint32_t count = pa_cursor_u32(&c);
    lazy_stack_t st[2] = {{0}}, *prev = &st[0], *cur = &st[1];
    uint8_t *le = NULL; /* an added stack as a STACKS record lays it out */
    size_t le_cap = 0;
    uint64_t id = 0;
    int rc = PA_OK;
    size_t next = 0;    /* the first wanted id not passed yet */
    bool added = false; /* the stack before was added (f->last is its) */
    for (uint32_t i = 0; i < count && !c.err && next < want->n; i++) {
        uint64_t gap = varint_word(&c);
        uint64_t depth = varint_word(&c);
        uint64_t shared = varint_word(&c);
        id += gap;
        if (c.err || gap == 0 || id > UINT32_MAX || shared > depth || shared > prev->depth ||
            depth - shared > pa_cursor_left(&c))
            break;
        if (pa_util_grow((void **)&cur->out, &cur->cap, depth, sizeof *cur->out) != PA_OK) {
            rc = PA_ENOMEM;
            break;
        }
        uint64_t reach = shared < prev->depth ? shared + 1 : shared;
        if (!lazy_decode(prev, ch, reach))
            break;
        if (shared)
            memcpy(cur->out, prev->out, (size_t)shared * sizeof *cur->out);
        cur->depth = depth;
        cur->shared = cur->have = shared;
        cur->ref0 = shared < prev->depth ? prev->out[shared] : shared ? prev->out[shared - 1] : 0;
        cur->pos = c.pos;
        while (next < want->n && want->ids[next] < id)
            next++;
        bool add = next < want->n && want->ids[next] == id;
        if (!add) {
            pa_cursor_skip_varints(&c, depth - shared);
        } else {
            if (!lazy_decode(cur, ch, depth))
                break;
            if (pa_util_grow((void **)&le, &le_cap, depth ? (size_t)depth * 8 : 1, 1) != PA_OK) {
                rc = PA_ENOMEM;
                break;
            }
            c.pos = cur->pos;
            for (uint64_t k = 0; k < depth; k++) {
                uint64_t v = htole64(cur->out[k]);
                memcpy(le + (depth - 1 - k) * 8, &v, 8);
            }
            if (add_stack(t, (uint32_t)id, (uint32_t)depth, le, added ? (uint32_t)shared : 0) !=
                PA_OK) {
                rc = PA_ENOMEM;
                break;
            }
            next++;
        }
        added = add;
        lazy_stack_t *swap = prev;
        prev = cur, cur = swap;
    }
    free(st[0].out);
    free(st[1].out);
    free(le);
    return rc;
}

/* ---- the stacks of the live rows only (pa_model_opts_t.live_stacks) ------------------------- */

/* A STACKS or STACKS_PACKED chunk checked and passed over: where to read it again, and the
 * lowest and highest id it defines. */
typedef struct {
    uint64_t offset; /* of its payload */
    uint32_t length;
    uint16_t type;
    uint32_t lo, hi;
    uint32_t n; /* stacks (before any damage) */
} noted_t;

typedef struct {
    int fd; /* the trace, open for the second reading; -1: stacks are added as they come */
    noted_t *at;
    size_t n, cap;
} noted_stacks_t;

/* Checks a STACKS chunk as load_stacks would (its damage said alike) and notes it. */
static int note_stacks(pa_trace_t *t, const pa_chunk_t *ch, noted_stacks_t *ns)
{
    pa_cursor_t c;
    uint32_t count = stacks_count(&c, ch), id, depth;
    const uint8_t *frames;
    uint32_t lo = UINT32_MAX, hi = 0;
    for (uint32_t i = 0; i < count && stacks_record(&c, &id, &depth, &frames); i++) {
        if (id) {
            lo = id < lo ? id : lo;
            hi = id > hi ? id : hi;
        }
    }
    if (c.err)
        malformed(t, "STACKS", ch, "payload ends inside a stack record (stacks before it kept)");
    if (lo > hi)
        return PA_OK;
    if (pa_util_grow((void **)&ns->at, &ns->cap, ns->n + 1, sizeof *ns->at) != PA_OK)
        return PA_ENOMEM;
    ns->at[ns->n++] =
        (noted_t){ch->offset + PS_CHUNK_HEADER_SIZE, ch->length, ch->type, lo, hi, count};
    return PA_OK;
}

/* Checks a STACKS_PACKED chunk as load_stacks_packed would, refusing exactly what it refuses
 * (pa_cursor_skip_varints refuses what pa_cursor_varint does), without decoding its frames. */
static int note_stacks_packed(pa_trace_t *t, const pa_chunk_t *ch, noted_stacks_t *ns)
{
    pa_cursor_t c;
    pa_cursor_init(&c, ch->payload, ch->length);
    uint32_t count = pa_cursor_u32(&c);
    uint64_t id = 0, pdepth = 0, lo = 0;
    const char *why = NULL;
    uint32_t n = 0;
    for (uint32_t i = 0; i < count && !c.err; i++) {
        uint64_t depth, shared;
        if (!packed_head(&c, &id, pdepth, &depth, &shared, &why))
            break;
        pa_cursor_skip_varints(&c, depth - shared);
        if (c.err)
            break;
        lo = n++ ? lo : id;
        pdepth = depth;
    }
    if (c.err || why)
        malformed(t, "STACKS_PACKED", ch,
                  why ? why : "payload ends inside a stack record (stacks before it kept)");
    if (!n)
        return PA_OK;
    if (pa_util_grow((void **)&ns->at, &ns->cap, ns->n + 1, sizeof *ns->at) != PA_OK)
        return PA_ENOMEM;
    ns->at[ns->n++] = (noted_t){
        ch->offset + PS_CHUNK_HEADER_SIZE, ch->length, ch->type, (uint32_t)lo, (uint32_t)id, n};
    return PA_OK;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* The second reading: the noted chunks that define a stack of a live row of t->snap read again
 * (pread) in file order, and those stacks added (defined twice: the last definition wins, as
 * when every stack is added). A chunk read short (the file changed) is left out. */
static int add_noted_stacks(pa_trace_t *t, noted_stacks_t *ns)
{
    uint32_t *ids = NULL;
    size_t nids = 0;
    if (t->snap.nrows && !(ids = malloc(t->snap.nrows * sizeof *ids)))
        return PA_ENOMEM;
    for (size_t r = 0; r < t->snap.nrows; r++)
        if (t->snap.rows[r].live_blocks && t->snap.rows[r].stack_id)
            ids[nids++] = t->snap.rows[r].stack_id;
    bool sorted = true; /* (a full snapshot's rows are by id) */
    for (size_t i = 1; i < nids && sorted; i++)
        sorted = ids[i - 1] < ids[i];
    if (!sorted)
        qsort(ids, nids, sizeof *ids, cmp_u32);
    size_t kept = 0;
    for (size_t i = 0; i < nids; i++)
        if (!kept || ids[kept - 1] != ids[i])
            ids[kept++] = ids[i];
    wanted_t want = {ids, kept};
    uint8_t *buf = NULL;
    size_t buf_cap = 0;
    int rc = PA_OK;
    for (size_t i = 0; i < ns->n && rc == PA_OK && kept; i++) {
        const noted_t *x = &ns->at[i];
        size_t k = wanted_from(&want, 0, x->lo);
        if (k == kept || want.ids[k] > x->hi)
            continue;
        if (pa_util_grow((void **)&buf, &buf_cap, x->length ? x->length : 1, 1) != PA_OK) {
            rc = PA_ENOMEM;
            break;
        }
        if (pa_util_pread_full(ns->fd, x->offset, buf, x->length, NULL) < x->length)
            continue;
        pa_chunk_t ch = {.type = x->type, .length = x->length, .offset = x->offset, .payload = buf};
        /* (the packed one from the first wanted id on: ids increase in its chunk) */
        size_t end = x->hi == UINT32_MAX ? kept : wanted_from(&want, k, x->hi + 1);
        wanted_t from = {want.ids + k, end - k};
        /* most of a packed chunk's stacks wanted: decoded whole (the lazy decoding's own work
         * costs more than the frames it skips: 0.6% more instructions on the 100k-stack trace,
         * 90% of whose stacks are live) */
        if (x->type == PS_CHUNK_STACKS)
            rc = load_stacks(t, &ch, &want);
        else if (2 * from.n >= x->n)
            rc = load_stacks_packed(t, &ch, &from);
        else
            rc = load_stacks_packed_wanted(t, &ch, &from);
    }
    free(buf);
    free(ids);
    return rc;
}

int pa_model_add_stack(pa_trace_t *t, uint32_t id, uint32_t depth, const uint64_t *addrs)
{
    uint8_t *le = malloc(depth ? (size_t)depth * 8 : 1);
    if (!le)
        return PA_ENOMEM;
    for (uint32_t k = 0; k < depth; k++) {
        uint64_t v = htole64(addrs[k]);
        memcpy(le + (size_t)k * 8, &v, 8);
    }
    int rc = id ? add_stack(t, id, depth, le, 0) : PA_OK;
    free(le);
    return rc;
}

/* ---- modules unloaded and their addresses taken again ------------------------------------- */

/* A plugin dlclose'd and another library (or the plugin again) loaded at its addresses: the
 * stacks of both hold the same addresses. Stack ids are dense in the order the shim interned
 * them, and each unloaded module says how many stacks there were at its unload, so a frame of
 * stack `id` was in the unloaded module at its address that was unloaded first after the stack
 * was interned (id <= its stacks); in none of them when there is none: then in what
 * pa_model_module_at finds. An unloaded module that shares addresses with another module is
 * moved above user space (PA_MOVED_BASE, one PA_MOVED_STEP each; below mergeout.c's synthetic
 * space) and its stacks' frames with it, so that every later lookup by address finds it. */
#define PA_MOVED_BASE 0x0080000000000000ull
#define PA_MOVED_STEP (1ull << 36)

static const pa_module_t *module_of(const pa_trace_t *t, uint32_t id, uint64_t addr)
{
    const pa_module_t *best = NULL;
    for (size_t i = 0; i < t->nmodules; i++) {
        const pa_module_t *m = &t->modules[i];
        if (m->retired && m->stacks >= id && addr >= m->start && addr < m->end &&
            (!best || m->stacks < best->stacks))
            best = m;
    }
    return best ? best : pa_model_module_at(t, addr);
}

static int reloaded_modules(pa_trace_t *t)
{
    size_t nmoved = 0;
    for (size_t i = 0; i < t->nmodules; i++) {
        pa_module_t *m = &t->modules[i];
        bool shared = false;
        for (size_t k = 0; m->retired && m->stacks && !shared && k < t->nmodules; k++)
            shared = k != i && overlaps(m, &t->modules[k]);
        if (shared && m->end - m->start < PA_MOVED_STEP && nmoved < PA_MAX_RETIRED)
            m->moved = PA_MOVED_BASE + PA_MOVED_STEP * nmoved++ - m->start;
    }
    if (!nmoved)
        return PA_OK;
    if (stacks_reserve(t) != PA_OK) /* now, so that no redefinition below rehashes the table */
        return PA_ENOMEM;
    uint64_t *addrs = NULL;
    uint8_t *le = NULL;
    size_t cap = 0;
    int rc = PA_OK;
    for (size_t i = 0; rc == PA_OK && i < t->stacks_cap; i++) {
        pa_stack_t s = t->stacks[i];
        if (!s.id || !s.depth)
            continue;
        if (s.depth > cap) {
            cap = s.depth;
            free(addrs);
            free(le);
            addrs = malloc(cap * sizeof *addrs);
            le = malloc(cap * 8);
            if (!addrs || !le) {
                rc = PA_ENOMEM;
                break;
            }
        }
        bool changed = false;
        uint32_t d = 0;
        for (uint32_t n = s.leaf; n && d < s.depth; n = pa_model_frame_caller(t, n)) {
            uint64_t a = pa_model_frame_addr(t, n);
            const pa_module_t *m = a == PS_FRAME_CUT ? NULL : module_of(t, s.id, a);
            if (m && m->moved) {
                a += m->moved;
                changed = true;
            }
            addrs[d++] = a;
        }
        if (!changed)
            continue;
        for (uint32_t k = 0; k < d; k++) {
            uint64_t v = htole64(addrs[k]);
            memcpy(le + (size_t)k * 8, &v, 8);
        }
        rc = add_stack(t, s.id, d, le, 0); /* redefined: new nodes, the old ones unused */
    }
    free(addrs);
    free(le);
    for (size_t i = 0; i < t->nmodules; i++) {
        pa_module_t *m = &t->modules[i];
        m->base += m->moved;
        m->start += m->moved;
        m->end += m->moved;
    }
    return rc;
}

/* ---- SNAPSHOT, SNAPSHOT_DELTA ------------------------------------------------------------- */

static size_t index_slot(const pa_snapshot_t *s, uint32_t id)
{
    return (size_t)(id * 2654435761u) & (s->index_cap - 1); /* Knuth's multiplicative hash */
}

/* The slot of stack id: its row's, or the empty one where it would go. */
static size_t index_find(const pa_snapshot_t *s, uint32_t id)
{
    size_t i = index_slot(s, id);
    while (s->index[i] && s->rows[s->index[i] - 1].stack_id != id)
        i = (i + 1) & (s->index_cap - 1);
    return i;
}

static int index_grow(pa_snapshot_t *s, size_t need)
{
    if (need * 2 <= s->index_cap)
        return PA_OK;
    size_t cap = s->index_cap ? s->index_cap : 64;
    while (cap < need * 2)
        cap *= 2;
    if (pa_util_index_reset(&s->index, &s->index_cap, cap) != PA_OK)
        return PA_ENOMEM;
    for (size_t r = 0; r < s->nrows; r++) /* rows of one id more than once: the last wins */
        s->index[index_find(s, s->rows[r].stack_id)] = (uint32_t)r + 1;
    return PA_OK;
}

const pa_row_t *pa_model_row(const pa_trace_t *t, uint32_t id)
{
    const pa_snapshot_t *s = &t->snap;
    if (!s->index_cap)
        return NULL;
    uint32_t r = s->index[index_find(s, id)];
    return r ? &s->rows[r - 1] : NULL;
}

/* With opts.rows_wanted: whether the report follows stack id. */
static bool id_wanted(const pa_model_opts_t *o, uint32_t id)
{
    return !o->rows_wanted || (id < o->rows_wanted_ids && (o->rows_wanted[id / 8] >> (id % 8) & 1));
}

/* With opts.track_touched: remembers that row r was written by the chunk being applied. */
static int touch(pa_snapshot_t *s, const pa_model_opts_t *o, size_t r)
{
    if (!o->track_touched)
        return PA_OK;
    if (pa_util_grow((void **)&s->touched, &s->touched_cap, s->ntouched + 1, sizeof *s->touched) !=
        PA_OK)
        return PA_ENOMEM;
    s->touched[s->ntouched++] = (uint32_t)r;
    return PA_OK;
}

/* Room for `more` rows (and their index slots). With opts.rows_wanted the rows kept are a few of
 * the chunk's: room is made as each is kept, so the index stays the size of the rows followed
 * (a keyframe of 100k rows clears it, whatever few it keeps). */
static int rows_reserve(pa_snapshot_t *s, size_t more)
{
    if (pa_util_grow((void **)&s->rows, &s->rows_cap, s->nrows + more, sizeof *s->rows) != PA_OK ||
        index_grow(s, s->nrows + more) != PA_OK)
        return PA_ENOMEM;
    return PA_OK;
}

/* The wire row and pa_row_t agree (apply_rows copies whole rows): stack_id, 4 reserved bytes,
 * then the u64 counters. */
_Static_assert(sizeof(pa_row_t) == PS_SNAPSHOT_ROW_SIZE && offsetof(pa_row_t, allocs) == 8 &&
                   offsetof(pa_row_t, peak_live_bytes) == 56,
               "pa_row_t is the wire row");

/* The first of rows i.. (of count, row_size bytes each from p) whose stack is followed (bitmap
 * want of nwant ids), or count: only each row's id (its first field) is read. */
static uint32_t next_wanted(const uint8_t *p, uint32_t i, uint32_t count, uint32_t row_size,
                            const uint8_t *want, uint32_t nwant)
{
    for (const uint8_t *b = p + (size_t)i * row_size; i < count; i++, b += row_size) {
        uint32_t id = b[0] | b[1] << 8 | b[2] << 16 | (uint32_t)b[3] << 24;
        if (id < nwant && (want[id / 8] >> (id % 8) & 1))
            break;
    }
    return i;
}

/* A full snapshot's rows replace the current ones; a delta's replace the rows of their stacks
 * (a stack new since the base gets a row at the end). The caller checked that count rows of
 * row_size bytes fit the payload. */
static int apply_rows(pa_snapshot_t *s, pa_cursor_t *c, uint32_t count, uint32_t row_size,
                      bool delta, const pa_model_opts_t *o)
{
    if (!delta) {
        if (s->index_cap)
            memset(s->index, 0, s->index_cap * sizeof *s->index);
        s->nrows = 0;
    }
    if (!o->rows_wanted && rows_reserve(s, count) != PA_OK)
        return PA_ENOMEM;
    /* A keyframe of rows in the layout of pa_row_t, on a little-endian host: each row copied
     * whole instead of field by field (the 13 keyframes of 100k rows of the scale trace) */
    bool whole = row_size == PS_SNAPSHOT_ROW_SIZE && !o->rows_wanted &&
                 __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__;
    size_t first = c->pos;
    for (uint32_t i = 0; i < count; i++) {
        if (o->rows_wanted) {
            i = next_wanted(c->p + first, i, count, row_size, o->rows_wanted, o->rows_wanted_ids);
            if (i == count)
                break;
            if (rows_reserve(s, 1) != PA_OK)
                return PA_ENOMEM;
        }
        size_t at = first + (size_t)i * row_size;
        pa_row_t row = {0};
        c->pos = at;
        if (whole)
            memcpy(&row, c->p + at, sizeof row);
        else
            PA_ROW_GET_FIT(c, SNAPSHOT, &row, row_size);
        size_t slot = index_find(s, row.stack_id);
        if (delta && s->index[slot]) {
            s->rows[s->index[slot] - 1] = row;
            if (touch(s, o, s->index[slot] - 1) != PA_OK)
                return PA_ENOMEM;
            continue;
        }
        s->rows[s->nrows++] = row;
        s->index[slot] = (uint32_t)s->nrows;
        if (touch(s, o, s->nrows - 1) != PA_OK)
            return PA_ENOMEM;
    }
    c->pos = first;
    pa_cursor_skip(c, (size_t)count * row_size);
    return PA_OK;
}

/* ---- SNAPSHOT_PACKED rows: varint id gaps and zigzag differences from the base row ---------- */

static uint64_t unzigzag(uint64_t v)
{
    return (v >> 1) ^ (0 - (v & 1));
}

/* A decoded packed row: its stack id and its PS_PACKED_FIELDS differences (mod 2^64). */
typedef struct pa_packed_row_s {
    uint64_t id;
    uint64_t d[PS_PACKED_FIELDS];
} packed_row_t;

/* The differences of a followed row (its id read), at the cursor, into s->packed. */
static bool packed_keep(pa_snapshot_t *s, pa_cursor_t *c, uint64_t id, uint32_t fields,
                        const pa_model_opts_t *o, bool *nomem)
{
    if (o->rows_wanted && s->npacked >= s->packed_cap && /* (no call per row kept) */
        pa_util_grow((void **)&s->packed, &s->packed_cap, s->npacked + 1, sizeof *s->packed) !=
            PA_OK) {
        *nomem = true;
        return false;
    }
    packed_row_t *p = &s->packed[s->npacked];
    p->id = id;
    for (uint32_t k = 0; k < fields && !c->err; k++) {
        uint64_t v = unzigzag(pa_cursor_varint(c));
        if (k < PS_PACKED_FIELDS)
            p->d[k] = v;
    }
    if (c->err)
        return false;
    s->npacked++;
    return true;
}

/* The varint terminators of the 64 bytes at p: bit k set when byte k is below 0x80. */
static inline uint64_t varint_stops64(const uint8_t *p)
{
#if defined(__SSE2__)
    uint64_t m = 0;
    for (int k = 0; k < 4; k++) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + 16 * k));
        m |= (uint64_t)(uint16_t)_mm_movemask_epi8(v) << (16 * k);
    }
    return ~m;
#else
    /* byte i's terminator flag (bit 0 of it) times 0x0102..80 lands in bit 56 + i, alone */
    uint64_t m = 0;
    for (int k = 0; k < 8; k++) {
        uint64_t w;
        memcpy(&w, p + 8 * k, 8);
        uint64_t stops = (~le64toh(w) & 0x8080808080808080ull) >> 7;
        m |= (stops * 0x0102040810204080ull) >> 56 << (8 * k);
    }
    return m;
#endif
}

/* Where a packed row of the format's field count that starts with a one-byte id gap ends: by
 * bits 1 to 14 of the terminator bits from its first byte, the byte after its sixth varint
 * (6 to 14), or 0 when that is further (a row of a varint longer than 9 bytes, which
 * pa_cursor_varint may refuse, is among them). */
static uint8_t row_end[1 << 14];

static void row_end_init(void)
{
    if (row_end[(1 << 5) - 1]) /* (bits 1..5 set: a row of six one-byte varints) */
        return;
    for (unsigned x = 0; x < (1u << 14); x++) {
        unsigned stops = 1, k = 0; /* byte 0, the gap, is one */
        for (k = 1; k <= 13 && stops < 6; k++)
            stops += x >> (k - 1) & 1;
        row_end[x] = stops == 6 ? (uint8_t)k : 0;
    }
}

enum { RUN_CHECK, RUN_WANTED, RUN_ALL }; /* packed_run: which rows are kept */

/* The rows of a chunk of the format's field count from the cursor on, while each starts with a
 * one-byte id gap and ends by its 14th byte, up to the payload's last 64 bytes: their ends
 * found by row_end from the terminator bits of the 64 bytes at a row (one word, made again
 * when fewer than 15 of its bits are left), where the walk below reads each row's varints (63
 * instructions a row; 22M rows walked by the busy trace's timeline). What it takes,
 * pa_cursor_varint would take alike. Returns false when an id passes u32, as the walk does
 * (the rows kept before it are dropped with the chunk); *i counts the rows walked, *id is the
 * last one's id. */
static inline __attribute__((always_inline)) bool packed_run(pa_snapshot_t *s, pa_cursor_t *c,
                                                             uint32_t *i, uint32_t count,
                                                             uint64_t *id, const pa_model_opts_t *o,
                                                             bool *nomem, int mode)
{
    const uint8_t *want = o->rows_wanted;
    uint64_t nwant = o->rows_wanted_ids; /* (below 2^32: no id past u32 is wanted) */
    uint32_t n = *i;
    uint64_t at = *id;
    bool more = true;
    while (more && n < count && c->len - c->pos >= 64) {
        const uint8_t *p = c->p + c->pos;
        uint64_t m = varint_stops64(p);
        unsigned off = 0;
        while (off <= 64 - 15 && n < count) {
            unsigned end = (m & 1) ? row_end[(m >> 1) & ((1u << 14) - 1)] : 0;
            if (!end) {
                more = false; /* a longer gap or row: the walk's own loop takes it */
                break;
            }
            at += p[off];
            if (mode == RUN_ALL ||
                (mode == RUN_WANTED && at < nwant && (want[at / 8] >> (at % 8) & 1))) {
                if (mode == RUN_WANTED && s->npacked >= s->packed_cap &&
                    pa_util_grow((void **)&s->packed, &s->packed_cap, s->npacked + 1,
                                 sizeof *s->packed) != PA_OK) {
                    *nomem = true;
                    return false;
                }
                /* its 5 varints end within the row (row_end): no bound to check */
                packed_row_t *q = &s->packed[s->npacked++];
                const uint8_t *b = p + off + 1;
                q->id = at;
                for (int k = 0; k < PS_PACKED_FIELDS; k++) {
                    uint64_t v = *b & 0x7f;
                    for (unsigned shift = 7; *b++ & 0x80; shift += 7)
                        v |= (uint64_t)(*b & 0x7f) << shift;
                    q->d[k] = unzigzag(v);
                }
            }
            off += end;
            m >>= end;
            n++;
        }
        if (at > UINT32_MAX) /* (at most 64 gaps below 128 added since the last look) */
            return false;
        c->pos += off;
    }
    *i = n;
    *id = at;
    return true;
}

/* The one walk of a SNAPSHOT_PACKED chunk's count rows at the cursor; false when a row runs past
 * the payload or its id past u32. Decoding (s given): all of them are checked before any is
 * applied (so that a malformed delta leaves the state as it was); the rows of the stacks followed
 * (opts.rows_wanted; every row without it) go into s->packed, the others' varints are read and
 * dropped (packed_run takes most rows of the format's field count). Checking only (s NULL: a
 * partial chunk, before the keyframe a report starts from): nothing is written, every row is read
 * as a dropped one, so that what decoding refuses is refused by the same code and the pass from the
 * keyframe warns (and gives way to the full read) on the files where the full read warns
 * (tests/fuzz/regressions/ packed-malformed-before-keyframe.trace). */
static bool packed_walk(pa_snapshot_t *s, pa_cursor_t *c, uint32_t count, uint32_t fields,
                        const pa_model_opts_t *o, bool *nomem)
{
    if (s) {
        s->npacked = 0;
        if (!o->rows_wanted &&
            pa_util_grow((void **)&s->packed, &s->packed_cap, count, sizeof *s->packed) != PA_OK) {
            *nomem = true;
            return false;
        }
    }
    if (fields == PS_PACKED_FIELDS)
        row_end_init();
    uint64_t id = 0;
    for (uint32_t i = 0; i < count; i++) {
        /* rows of the format's field count as packed_run finds them; the code below takes one
         * row where it stops (a longer row, a longer gap, the payload's last 63 bytes) */
        if (fields == PS_PACKED_FIELDS && !c->err && c->len - c->pos >= 64) {
            size_t before = c->pos;
            uint32_t done = i;
            bool ok = !s               ? packed_run(s, c, &done, count, &id, o, nomem, RUN_CHECK)
                      : o->rows_wanted ? packed_run(s, c, &done, count, &id, o, nomem, RUN_WANTED)
                                       : packed_run(s, c, &done, count, &id, o, nomem, RUN_ALL);
            if (!ok)
                return false;
            if (done == count)
                break;
            if (c->pos != before) {
                i = done - 1; /* (then the loop's i++) */
                continue;
            }
        }
        id += pa_cursor_varint(c);
        if (!s || !id_wanted(o, (uint32_t)id) || id > UINT32_MAX) {
            /* (the format's count of fields a constant: the skip's loop unrolled) */
            if (fields == PS_PACKED_FIELDS)
                pa_cursor_skip_varints(c, PS_PACKED_FIELDS);
            else
                pa_cursor_skip_varints(c, fields);
            if (c->err || id > UINT32_MAX)
                return false;
            continue;
        }
        if (!packed_keep(s, c, id, fields, o, nomem))
            return false;
    }
    return true;
}

/* A packed delta's rows (decoded by packed_walk): each is the stack's row in the base snapshot
 * (zeros when it had none) plus the differences; live_blocks and live_bytes follow from the
 * counters, as the shim computes them. */
static int apply_packed(pa_snapshot_t *s, const pa_model_opts_t *o)
{
    if (rows_reserve(s, s->npacked) != PA_OK)
        return PA_ENOMEM;
    for (size_t i = 0; i < s->npacked; i++) {
        const packed_row_t *p = &s->packed[i];
        size_t slot = index_find(s, (uint32_t)p->id);
        pa_row_t *row = s->index[slot] ? &s->rows[s->index[slot] - 1] : &s->rows[s->nrows];
        if (!s->index[slot]) {
            memset(row, 0, sizeof *row);
            row->stack_id = (uint32_t)p->id;
            s->index[slot] = (uint32_t)++s->nrows;
        }
        row->allocs += p->d[0];
        row->alloc_bytes += p->d[1];
        row->frees += p->d[2];
        row->freed_bytes += p->d[3];
        row->peak_live_bytes += p->d[4];
        row->live_blocks = row->allocs >= row->frees ? row->allocs - row->frees : 0;
        row->live_bytes =
            row->alloc_bytes >= row->freed_bytes ? row->alloc_bytes - row->freed_bytes : 0;
        if (touch(s, o, (size_t)(row - s->rows)) != PA_OK)
            return PA_ENOMEM;
    }
    return PA_OK;
}

static int commit_staged(pa_trace_t *t);

/* Whether the snapshot at time_ns (number n) is past the --at one: then the model stops there. */
static bool past_at(const pa_trace_t *t, const pa_at_t *at, uint64_t time_ns)
{
    switch (at->kind) {
    case PA_AT_TIME:
        return time_ns > at->time_ns;
    case PA_AT_NUMBER:
        return t->nsnapshots >= at->number;
    default:
        return false;
    }
}

/* SNAPSHOT (4), SNAPSHOT_DELTA (13) and SNAPSHOT_PACKED (17): the one place their payloads are
 * decoded. A partial chunk (one before the keyframe a report starts from) has its head checked
 * and applied (time, number, totals, the peaks' maxima) but no rows and no staged chunks: the
 * keyframe replaces them all. A delta is `u64 base_time_ns` and then a SNAPSHOT payload whose rows
 * are the stacks changed since the snapshot at base_time_ns (SNAPSHOT_PACKED: the same with varint
 * rows of differences from that snapshot's); it applies only on top of that snapshot. */
static int load_snapshot(pa_trace_t *t, const pa_chunk_t *ch, const pa_model_opts_t *o,
                         bool partial)
{
    bool packed = ch->type == PS_CHUNK_SNAPSHOT_PACKED;
    bool delta = packed || ch->type == PS_CHUNK_SNAPSHOT_DELTA;
    const char *what = packed ? "SNAPSHOT_PACKED" : delta ? "SNAPSHOT_DELTA" : "SNAPSHOT";
    pa_snapshot_t h = {0};
    pa_cursor_t c;
    pa_cursor_init(&c, ch->payload, ch->length);
    uint64_t base = delta ? pa_cursor_u64(&c) : 0;
    PA_ROW_GET(&c, SNAPSHOT_HEAD, &h);
    pa_totals_t *to = &h.totals;
    PA_ROW_GET(&c, SNAPSHOT_TOTALS, to);
    uint32_t row_count = pa_cursor_u32(&c);
    uint32_t row_size = pa_cursor_u32(&c);
    if (c.err) {
        malformed(t, what, ch, "payload ends inside the totals");
        return PA_OK;
    }
    if (!packed && row_size < PS_SNAPSHOT_ROW_SIZE) {
        pa_str_t why = {0};
        pa_str_printf(&why, "row size %u is less than %d", row_size, PS_SNAPSHOT_ROW_SIZE);
        malformed(t, what, ch, pa_str_get(&why));
        pa_str_free(&why);
        return PA_OK;
    }
    /* a packed row is at least 1 + row_size bytes (one per varint): this bounds the work */
    if ((uint64_t)row_count * (packed ? 1 + (uint64_t)row_size : row_size) > pa_cursor_left(&c)) {
        malformed(t, what, ch, "more rows than the payload holds");
        return PA_OK;
    }
    bool nomem = false;
    if (packed && (row_size < PS_PACKED_FIELDS ||
                   !packed_walk(partial ? NULL : &t->snap, &c, row_count, row_size, o, &nomem))) {
        if (nomem)
            return PA_ENOMEM;
        malformed(t, what, ch,
                  row_size < PS_PACKED_FIELDS ? "fewer fields than a row needs"
                                              : "rows run past the payload");
        return PA_OK;
    }
    /* A delta needs the snapshot it was taken against: the last one this reader accepted
     * (also when only counting past an --at snapshot, so that every pass counts alike). */
    if (delta && (!t->nsnapshots || base != t->last_time_ns || t->delta_broken)) {
        if (!t->delta_broken)
            pa_model_warn(t,
                          "%s chunk at offset %llu changes the snapshot at %llu ns, "
                          "but the last snapshot read is %s; it and the deltas after it are "
                          "ignored until the next full SNAPSHOT",
                          what, (unsigned long long)ch->offset, (unsigned long long)base,
                          t->nsnapshots ? "another" : "none");
        t->delta_broken = true;
        t->damaged = true; /* the snapshots up to the next keyframe are lost */
        t->deltas_skipped++;
        return PA_OK;
    }
    if (!delta)
        t->delta_broken = false;
    if (t->frozen || past_at(t, &o->at, h.time_ns)) {
        t->frozen = true; /* the --at snapshot is behind: only count the rest */
        t->nsnapshots++;
        t->last_time_ns = h.time_ns;
        return PA_OK;
    }
    if (h.reason == PS_SNAP_EXIT)
        frames_index_free(&t->frames);
    pa_snapshot_t *s = &t->snap;
    s->ntouched = 0;
    if (!o->totals_only && !partial &&
        (packed ? apply_packed(s, o) : apply_rows(s, &c, row_count, row_size, delta, o)) != PA_OK)
        return PA_ENOMEM;
    if (t->has_snapshot) {
        if (s->totals.peak_live_bytes > to->peak_live_bytes)
            to->peak_live_bytes = s->totals.peak_live_bytes;
        if (s->totals.peak_rss_bytes > to->peak_rss_bytes)
            to->peak_rss_bytes = s->totals.peak_rss_bytes;
    }
    s->offset = ch->offset;
    s->time_ns = h.time_ns;
    s->reason = h.reason;
    s->flags = h.flags;
    s->totals = *to;
    s->delta = delta;
    s->number = ++t->nsnapshots;
    t->last_time_ns = h.time_ns;
    t->has_snapshot = true;
    /* A partial snapshot leaves its chunks staged: a later one of each type replaces them, and
     * the keyframe loads the last (the one a full read would have loaded last). */
    int rc = partial ? PA_OK : commit_staged(t);
    if (rc != PA_OK)
        return rc;
    if (!o->on_snapshot)
        return PA_OK;
    pa_progress_clear(); /* the report may write */
    return o->on_snapshot(t, o->ctx);
}

/* ---- POOL ---------------------------------------------------------------------------------- */

static void free_pool(pa_pool_t *p)
{
    free(p->classes);
    memset(p, 0, sizeof *p);
}

static void warn_pool_time(pa_trace_t *t, uint64_t offset, uint64_t time_ns)
{
    if (t->has_snapshot)
        pa_model_warn(t,
                      "POOL chunk at offset %llu is for time %llu ns, not for the snapshot "
                      "before it (%llu ns); ignored",
                      (unsigned long long)offset, (unsigned long long)time_ns,
                      (unsigned long long)t->snap.time_ns);
    else
        pa_model_warn(t, "POOL chunk at offset %llu precedes every snapshot; ignored",
                      (unsigned long long)offset);
}

static int load_pool(pa_trace_t *t, const pa_chunk_t *ch)
{
    pa_pool_t p = {0};
    pa_cursor_t c;
    pa_cursor_init(&c, ch->payload, ch->length);
    p.offset = ch->offset;
    PA_ROW_GET(&c, POOL_HEAD, &p);
    uint32_t count = pa_cursor_u32(&c);
    uint32_t row_size = pa_cursor_u32(&c);
    if (c.err) {
        malformed(t, "POOL", ch, "payload ends inside the totals");
        return PA_OK;
    }
    if (row_size < PS_POOL_ROW_SIZE) {
        pa_str_t why = {0};
        pa_str_printf(&why, "row size %u is less than %d", row_size, PS_POOL_ROW_SIZE);
        malformed(t, "POOL", ch, pa_str_get(&why));
        pa_str_free(&why);
        return PA_OK;
    }
    if ((uint64_t)count * row_size > pa_cursor_left(&c)) {
        malformed(t, "POOL", ch, "more size classes than the payload holds");
        return PA_OK;
    }
    if (t->timed_unread)
        return PA_OK; /* checked: the report does not read it */
    if (count) {
        p.classes = malloc(count * sizeof *p.classes);
        if (!p.classes)
            return PA_ENOMEM;
    }
    for (uint32_t i = 0; i < count; i++)
        PA_ROW_GET_FIT(&c, POOL_CLASS, &p.classes[i], row_size);
    p.nclasses = count;
    free_pool(&t->pool); /* the later chunk wins (timed_chunk stages those of a later moment) */
    t->pool = p;
    t->has_pool = true;
    return PA_OK;
}

/* POOL_PACKED (docs/trace-format.md): the differences from the pool of the POOL or POOL_PACKED
 * chunk before it (its base_time_ns), applied to the pool held. One whose base is not the pool
 * held (damage, or a staged chunk replaced) is ignored and counted: the pool stays the last
 * one read until the next POOL. */
#define POOL_UNDIFF_(c, type, name, unit, json, json_name, meaning)                                \
    if (k >= 0 && k < have)                                                                        \
        out->name += unzigzag(d[k]);                                                               \
    k++;
static void pool_head_apply(pa_pool_t *out, const uint64_t *d, int have)
{
    int k = -1; /* time_ns is not a difference */
    PS_ROW_POOL_HEAD(POOL_UNDIFF_, _)
}
static void pool_row_apply(pa_pool_class_t *out, const uint64_t *d, int have)
{
    int k = -1; /* size is the row's key */
    PS_ROW_POOL_CLASS(POOL_UNDIFF_, _)
}
#undef POOL_UNDIFF_

static int load_pool_packed(pa_trace_t *t, const pa_chunk_t *ch)
{
    pa_cursor_t c;
    pa_cursor_init(&c, ch->payload, ch->length);
    uint64_t time_ns = pa_cursor_u64(&c), base_ns = pa_cursor_u64(&c);
    uint64_t head_fields = pa_cursor_varint(&c);
    uint64_t hd[PS_POOL_PACKED_HEAD] = {0};
    if (!c.err && head_fields < PS_POOL_PACKED_HEAD) {
        malformed(t, "POOL_PACKED", ch, "fewer head fields than the format's");
        return PA_OK;
    }
    for (uint64_t i = 0; i < head_fields && !c.err; i++) {
        uint64_t v = pa_cursor_varint(&c);
        if (i < PS_POOL_PACKED_HEAD)
            hd[i] = v;
    }
    uint64_t count = pa_cursor_varint(&c), rows = pa_cursor_varint(&c);
    uint64_t row_fields = pa_cursor_varint(&c);
    if (c.err) {
        malformed(t, "POOL_PACKED", ch, "payload ends inside the head");
        return PA_OK;
    }
    /* every row is at least 1 + row_fields bytes; a class is 96 bytes in a POOL chunk */
    if (row_fields < PS_POOL_PACKED_ROW || rows > pa_cursor_left(&c) ||
        count > PS_CHUNK_MAX_LENGTH / PS_POOL_ROW_SIZE || rows > count) {
        malformed(t, "POOL_PACKED", ch, "bad class or row count");
        return PA_OK;
    }
    bool apply = !t->timed_unread && t->has_pool && t->pool.time_ns == base_ns;
    pa_pool_t p = {.offset = ch->offset};
    if (apply && count) {
        p.classes = calloc(count, sizeof *p.classes);
        if (!p.classes)
            return PA_ENOMEM;
    }
    const pa_pool_t *b = &t->pool;
    size_t nb = apply ? b->nclasses : 0, r = 0, n = 0;
    uint64_t size = 0;
    const char *why = NULL;
    for (uint64_t i = 0; i <= rows && !why; i++) {
        uint64_t d[PS_POOL_PACKED_ROW] = {0}, next = UINT64_MAX;
        if (i < rows) {
            uint64_t gap = pa_cursor_varint(&c);
            if (!apply) /* checked alike, not decoded (timeline's pass over 10k of them) */
                pa_cursor_skip_varints(&c, row_fields);
            for (uint64_t k = 0; apply && k < row_fields && !c.err; k++) {
                uint64_t v = pa_cursor_varint(&c);
                if (k < PS_POOL_PACKED_ROW)
                    d[k] = v;
            }
            if (c.err || gap == 0 || size + gap > UINT32_MAX) {
                why = c.err ? "a row runs past the payload" : "row sizes do not increase";
                break;
            }
            next = size += gap;
        }
        if (!apply)
            continue;
        for (; r < nb && b->classes[r].size < next; r++) { /* the base's rows not listed */
            if (n == count)
                break;
            p.classes[n++] = b->classes[r];
        }
        if (i == rows)
            break;
        if (n == count) {
            why = "more classes than class_count";
            break;
        }
        pa_pool_class_t *o = &p.classes[n++];
        if (r < nb && b->classes[r].size == next)
            *o = b->classes[r++];
        else
            *o = (pa_pool_class_t){.size = (uint32_t)next};
        pool_row_apply(o, d, PS_POOL_PACKED_ROW);
    }
    if (!why && apply && (n != count || r != nb))
        why = "its classes and the base's do not add up to class_count";
    if (why) {
        free(p.classes);
        malformed(t, "POOL_PACKED", ch, why);
        return PA_OK;
    }
    if (!apply) {
        /* warned at once: a pass from a keyframe (read_trace) then reads the file whole */
        if (!t->timed_unread && t->pool_packed_skipped++ == 0)
            pa_model_warn(t,
                          "POOL_PACKED chunk at offset %llu changes the pool of time %llu ns, "
                          "which was not read; the pool stays the last one read",
                          (unsigned long long)ch->offset, (unsigned long long)base_ns);
        return PA_OK;
    }
#define POOL_COPY_(c, type, name, unit, json, json_name, meaning) p.name = b->name;
    PS_ROW_POOL_HEAD(POOL_COPY_, _)
#undef POOL_COPY_
    p.time_ns = time_ns;
    pool_head_apply(&p, hd, PS_POOL_PACKED_HEAD);
    p.nclasses = n;
    free_pool(&t->pool);
    t->pool = p;
    return PA_OK;
}

/* ---- timing chunks ------------------------------------------------------------------------- */

static void free_hist(pa_hist_t *h)
{
    free(h->index);
    free(h->counts);
    memset(h, 0, sizeof *h);
}

/* A "hist" field. Returns PA_OK (a decoding fault sets *why and c->err) or PA_ENOMEM. */
static int read_hist(pa_cursor_t *c, pa_hist_t *h, const char **why)
{
    memset(h, 0, sizeof *h);
    h->count = pa_cursor_u64(c);
    h->sum = pa_cursor_u64(c);
    h->max = pa_cursor_u64(c);
    uint32_t n = pa_cursor_u32(c);
    if (c->err)
        return PA_OK;
    if (n > PS_HIST_BUCKETS || n > pa_cursor_left(c) / 12) {
        *why = "histogram with more buckets than the format has or the payload holds";
        c->err = 1;
        return PA_OK;
    }
    if (n) {
        h->index = malloc(n * sizeof *h->index);
        h->counts = malloc(n * sizeof *h->counts);
        if (!h->index || !h->counts) {
            free_hist(h);
            return PA_ENOMEM;
        }
    }
    h->nbuckets = n;
    for (uint32_t i = 0; i < n; i++) {
        h->index[i] = pa_cursor_u32(c);
        h->counts[i] = pa_cursor_u64(c);
        if (h->index[i] >= PS_HIST_BUCKETS || (i && h->index[i] <= h->index[i - 1])) {
            *why = "histogram bucket index out of range or out of order";
            c->err = 1;
            return PA_OK;
        }
    }
    return PA_OK;
}

/* A table of n rows of row_size bytes (>= min) must fit in what is left of the payload. */
static const char *check_rows(const pa_cursor_t *c, uint64_t n, uint32_t row_size, uint32_t min)
{
    if (row_size < min)
        return "row size smaller than the format's";
    if (n * row_size > pa_cursor_left(c))
        return "more rows than the payload holds";
    return NULL;
}

static void free_locks(pa_locks_t *l)
{
    free(l->locks);
    free(l->sites);
    memset(l, 0, sizeof *l);
}

static int load_locks(pa_trace_t *t, const pa_chunk_t *ch)
{
    pa_locks_t l = {0};
    pa_cursor_t c;
    pa_cursor_init(&c, ch->payload, ch->length);
    l.offset = ch->offset;
    PA_ROW_GET(&c, LOCKS_HEAD, &l);
    uint32_t count = pa_cursor_u32(&c), row_size = pa_cursor_u32(&c);
    const char *why = c.err ? "payload ends inside the header" : NULL;
    if (!why)
        why = check_rows(&c, count, row_size, PS_LOCK_ROW_SIZE);
    if (!why && l.sample == 0)
        why = "sampling interval 0";
    if (why) {
        malformed(t, "LOCKS", ch, why);
        return PA_OK;
    }
    if (count && !(l.locks = calloc(count, sizeof *l.locks)))
        return PA_ENOMEM;
    l.nlocks = count;
    for (uint32_t i = 0; i < count; i++) { /* unknown kinds are kept: shown as such */
        PA_ROW_GET_FIT(&c, LOCK, &l.locks[i], row_size);
        l.locks[i].has_wakes = row_size >= PS_LOCK_ROW_SIZE_WAKES;        /* `wakes` was appended */
        l.locks[i].has_paired_posts = row_size >= PS_LOCK_ROW_SIZE_POSTS; /* and `paired_posts` */
    }
    uint32_t nsites = pa_cursor_u32(&c), site_size = pa_cursor_u32(&c);
    if (!why && c.err)
        why = "payload ends before the call-site table";
    if (!why)
        why = check_rows(&c, nsites, site_size, PS_LOCK_SITE_ROW_SIZE);
    if (!why && nsites && !(l.sites = calloc(nsites, sizeof *l.sites))) {
        free_locks(&l);
        return PA_ENOMEM;
    }
    for (uint32_t i = 0; !why && i < nsites; i++) {
        pa_lock_site_t *s = &l.sites[i];
        PA_ROW_GET_FIT(&c, LOCK_SITE, s, site_size);
        if (s->lock_index >= count)
            why = "call site of a lock row that does not exist";
        l.nsites = i + 1;
    }
    if (why) {
        free_locks(&l);
        malformed(t, "LOCKS", ch, why);
        return PA_OK;
    }
    free_locks(&t->locks);
    t->locks = l;
    t->has_locks = true;
    return PA_OK;
}

static int load_threads(pa_trace_t *t, const pa_chunk_t *ch)
{
    pa_threads_t th = {0};
    pa_cursor_t c;
    pa_cursor_init(&c, ch->payload, ch->length);
    th.offset = ch->offset;
    PA_ROW_GET(&c, THREADS_HEAD, &th);
    uint32_t count = pa_cursor_u32(&c), row_size = pa_cursor_u32(&c);
    const char *why = c.err ? "payload ends inside the header" : NULL;
    if (!why)
        why = check_rows(&c, count, row_size, PS_THREAD_ROW_SIZE);
    if (why) {
        malformed(t, "THREADS", ch, why);
        return PA_OK;
    }
    if (t->timed_unread)
        return PA_OK; /* checked: the report does not read it */
    if (count && !(th.threads = calloc(count, sizeof *th.threads)))
        return PA_ENOMEM;
    th.n = count;
    for (uint32_t i = 0; i < count; i++)
        PA_ROW_GET_FIT(&c, THREAD, &th.threads[i], row_size);
    free(t->threads.threads);
    t->threads = th;
    t->has_threads = true;
    return PA_OK;
}

static void free_latency(pa_latency_t *l)
{
    for (size_t i = 0; i < l->nrows; i++)
        free_hist(&l->rows[i].hist);
    free(l->rows);
    memset(l, 0, sizeof *l);
}

static int load_latency(pa_trace_t *t, const pa_chunk_t *ch)
{
    pa_latency_t l = {0};
    pa_cursor_t c;
    pa_cursor_init(&c, ch->payload, ch->length);
    l.offset = ch->offset;
    PA_ROW_GET(&c, LATENCY_HEAD, &l);
    uint32_t count = pa_cursor_u32(&c);
    const char *why = c.err ? "payload ends inside the header" : NULL;
    if (!why && l.tick_hz == 0)
        why = "tick rate 0";
    if (!why && count > pa_cursor_left(&c) / 36) /* 36: a row with an empty histogram */
        why = "more rows than the payload holds";
    if (why) {
        malformed(t, "LATENCY", ch, why);
        return PA_OK;
    }
    if (count && !(l.rows = calloc(count, sizeof *l.rows)))
        return PA_ENOMEM;
    int rc = PA_OK;
    for (uint32_t i = 0; i < count && !c.err && rc == PA_OK; i++) {
        pa_latency_row_t *r = &l.rows[i];
        PA_ROW_GET(&c, LATENCY_ROW, r);
        rc = read_hist(&c, &r->hist, &why);
        l.nrows = i + 1; /* an unknown op (a later format revision) is shown as such */
    }
    if (rc != PA_OK || c.err) {
        free_latency(&l);
        if (rc == PA_OK)
            malformed(t, "LATENCY", ch, why ? why : "payload ends inside a row");
        return rc;
    }
    free_latency(&t->latency);
    t->latency = l;
    t->has_latency = true;
    return PA_OK;
}

static void free_zones(pa_zones_t *z)
{
    for (size_t i = 0; i < z->n; i++) {
        free(z->zones[i].name);
        free_hist(&z->zones[i].hist);
    }
    free(z->zones);
    memset(z, 0, sizeof *z);
}

static int load_zones(pa_trace_t *t, const pa_chunk_t *ch)
{
    pa_zones_t z = {0};
    pa_cursor_t c;
    pa_cursor_init(&c, ch->payload, ch->length);
    z.offset = ch->offset;
    PA_ROW_GET(&c, ZONES_HEAD, &z);
    uint32_t count = pa_cursor_u32(&c);
    const char *why = c.err ? "payload ends inside the header" : NULL;
    if (!why && z.tick_hz == 0)
        why = "tick rate 0";
    if (!why && count > pa_cursor_left(&c) / 36) /* 36: empty name and histogram */
        why = "more zones than the payload holds";
    if (why) {
        malformed(t, "ZONES", ch, why);
        return PA_OK;
    }
    if (count && !(z.zones = calloc(count, sizeof *z.zones)))
        return PA_ENOMEM;
    int rc = PA_OK;
    for (uint32_t i = 0; i < count && !c.err && rc == PA_OK; i++) {
        pa_zone_t *r = &z.zones[i];
        z.n = i + 1;
        if (!(r->name = dup_str(&c))) {
            rc = PA_ENOMEM;
            break;
        }
        r->max_depth = pa_cursor_u32(&c);
        rc = read_hist(&c, &r->hist, &why);
    }
    if (rc != PA_OK || c.err) {
        free_zones(&z);
        if (rc == PA_OK)
            malformed(t, "ZONES", ch, why ? why : "payload ends inside a zone");
        return rc;
    }
    free_zones(&t->zones);
    t->zones = z;
    t->has_zones = true;
    return PA_OK;
}

static int load_cpu(pa_trace_t *t, const pa_chunk_t *ch)
{
    pa_cpu_t p = {0};
    pa_cursor_t c;
    pa_cursor_init(&c, ch->payload, ch->length);
    p.offset = ch->offset;
    PA_ROW_GET(&c, CPU_HEAD, &p);
    uint32_t count = pa_cursor_u32(&c), row_size = pa_cursor_u32(&c);
    const char *why = c.err ? "payload ends inside the header" : NULL;
    if (!why)
        why = check_rows(&c, count, row_size, PS_CPU_ROW_SIZE);
    if (why) {
        malformed(t, "CPU", ch, why);
        return PA_OK;
    }
    if (count && !(p.rows = calloc(count, sizeof *p.rows)))
        return PA_ENOMEM;
    p.n = count;
    for (uint32_t i = 0; i < count; i++)
        PA_ROW_GET_FIT(&c, CPU, &p.rows[i], row_size);
    free(t->cpu.rows);
    t->cpu = p;
    t->has_cpu = true;
    return PA_OK;
}

/* ---- ALERT --------------------------------------------------------------------------------- */

static int load_alert(pa_trace_t *t, const pa_chunk_t *ch)
{
    pa_cursor_t c;
    pa_cursor_init(&c, ch->payload, ch->length);
    ps_row_alerts_head_t head;
    PA_ROW_GET(&c, ALERTS_HEAD, &head);
    uint32_t count = pa_cursor_u32(&c), row_size = pa_cursor_u32(&c);
    const char *why = c.err ? "payload ends inside the header" : NULL;
    if (!why)
        why = check_rows(&c, count, row_size, PS_ALERT_ROW_SIZE);
    if (why) {
        malformed(t, "ALERT", ch, why);
        return PA_OK;
    }
    for (uint32_t i = 0; i < count; i++) {
        if (t->nalerts >= PA_MAX_ALERTS) {
            t->alerts_dropped += count - i;
            break;
        }
        if (pa_util_grow((void **)&t->alerts, &t->alerts_cap, t->nalerts + 1, sizeof *t->alerts))
            return PA_ENOMEM;
        PA_ROW_GET_FIT(&c, ALERT, &t->alerts[t->nalerts], row_size);
        t->nalerts++;
    }
    return PA_OK;
}

/* ---- LEAK_KINDS ----------------------------------------------------------------------------- */

static int load_leak_kinds(pa_trace_t *t, const pa_chunk_t *ch, bool keep)
{
    pa_cursor_t c;
    pa_cursor_init(&c, ch->payload, ch->length);
    ps_row_leak_kinds_head_t head;
    PA_ROW_GET(&c, LEAK_KINDS_HEAD, &head);
    uint32_t count = pa_cursor_u32(&c), row_size = pa_cursor_u32(&c);
    const char *why = c.err ? "payload ends inside the header" : NULL;
    if (!why)
        why = check_rows(&c, count, row_size, PS_LEAK_KIND_ROW_SIZE);
    if (why) {
        malformed(t, "LEAK_KINDS", ch, why);
        return PA_OK;
    }
    if (!keep) /* (the rows were checked: they fit the payload) */
        count = 0;
    ps_row_leak_kind_t *rows = count ? calloc(count, sizeof *rows) : NULL;
    if (count && !rows)
        return PA_ENOMEM;
    for (uint32_t i = 0; i < count; i++)
        PA_ROW_GET_FIT(&c, LEAK_KIND, &rows[i], row_size);
    free(t->leak_rows);
    t->leak_rows = rows;
    t->nleak_rows = count;
    t->leak_head = head;
    t->has_leak_kinds = keep;
    return PA_OK;
}

const ps_row_leak_kind_t *pa_model_leak_kinds(const pa_trace_t *t, size_t *n)
{
    *n = 0;
    if (!t->has_leak_kinds || !t->has_snapshot || t->leak_head.time_ns != t->snap.time_ns)
        return NULL;
    *n = t->nleak_rows;
    return t->leak_rows;
}

const char *pa_model_leak_kind_name(uint32_t kind)
{
    switch (kind) {
    case PS_LEAK_DEFINITELY:
        return "definitely";
    case PS_LEAK_INDIRECTLY:
        return "indirectly";
    case PS_LEAK_POSSIBLY:
        return "possibly";
    case PS_LEAK_REACHABLE:
        return "reachable";
    default:
        return "unscanned";
    }
}

/* ---- INHERITED ------------------------------------------------------------------------------ */

static int cmp_inherited(const void *pa, const void *pb)
{
    uint32_t a = ((const pa_inherited_t *)pa)->stack_id, b = ((const pa_inherited_t *)pb)->stack_id;
    return a < b ? -1 : a > b;
}

/* A forked child's blocks live at the fork, per stack; a later chunk (a new piece of the file)
 * replaces an earlier one. */
static int load_inherited(pa_trace_t *t, const pa_chunk_t *ch)
{
    pa_cursor_t c;
    pa_cursor_init(&c, ch->payload, ch->length);
    pa_inherited_head_t head;
    PA_ROW_GET(&c, INHERITED_HEAD, &head);
    uint32_t count = pa_cursor_u32(&c), row_size = pa_cursor_u32(&c);
    const char *why = c.err ? "payload ends inside the header" : NULL;
    if (!why)
        why = check_rows(&c, count, row_size, PS_INHERITED_ROW_SIZE);
    if (why) {
        malformed(t, "INHERITED", ch, why);
        return PA_OK;
    }
    pa_inherited_t *rows = calloc(count ? count : 1, sizeof *rows);
    if (!rows)
        return PA_ENOMEM;
    for (uint32_t i = 0; i < count; i++)
        PA_ROW_GET_FIT(&c, INHERITED, &rows[i], row_size);
    qsort(rows, count, sizeof *rows, cmp_inherited); /* written so; a damaged file may not be */
    free(t->inherited);
    t->inherited = rows;
    t->ninherited = count;
    t->inherited_head = head;
    t->has_inherited = true;
    return PA_OK;
}

/* ---- ADVICE ------------------------------------------------------------------------------- */

static void advice_free(pa_advice_t *a)
{
    if (a)
        free(a->sites);
    free(a);
}

/* Reads an ADVICE chunk into t->advice when it belongs to the snapshot t stands at (a later
 * one is ignored, as AGES). A malformed chunk is said and skipped. */
static int load_advice(pa_trace_t *t, const pa_chunk_t *ch, bool keep)
{
    pa_cursor_t c;
    pa_cursor_init(&c, ch->payload, ch->length);
    pa_advice_t *a = calloc(1, sizeof *a);
    if (!a)
        return PA_ENOMEM;
    a->offset = ch->offset;
    PA_ROW_GET(&c, ADVICE_HEAD, a);
    const char *why = NULL;
    if (c.err)
        why = "payload ends inside the header";
    else if (a->site_size < PS_ADVICE_SITE_SIZE)
        why = "site size smaller than the format's";
    else if ((uint64_t)a->count * a->site_size > pa_cursor_left(&c))
        why = "more sites than the payload holds";
    else if (a->bins == 0 || a->bins > PS_ADV_BINS)
        why = "bin count out of range";
    else if (a->sample == 0)
        why = "sample of 0";
    if (!why && (!t->has_snapshot || a->time_ns != t->snap.time_ns)) {
        advice_free(a); /* another snapshot's (one after the --at one) */
        return PA_OK;
    }
    if (!why && keep && !(a->sites = calloc(a->count ? a->count : 1, sizeof *a->sites))) {
        advice_free(a);
        return PA_ENOMEM;
    }
    pa_advice_site_t unkept;
    uint32_t prev_id = 0;
    for (uint32_t i = 0; !why && i < a->count; i++) {
        pa_advice_site_t *s = keep ? &a->sites[i] : memset(&unkept, 0, sizeof unkept);
        size_t start = c.pos;
        PA_ROW_GET(&c, ADVICE_SITE, s);
        c.pos = start + a->site_size; /* fields a later format appends */
        if (c.err || c.pos > c.len) {
            why = "payload ends inside a site";
        } else if (i && s->stack_id <= prev_id) {
            why = "sites out of stack id order";
        } else if ((uint64_t)s->req_nonzero + s->usable_nonzero > 2u * a->bins ||
                   ((uint64_t)s->req_nonzero + s->usable_nonzero) * 12 > pa_cursor_left(&c)) {
            why = "more bins than the payload holds";
        }
        uint32_t prev = 0;
        for (uint32_t k = 0; !why && k < s->req_nonzero + s->usable_nonzero; k++) {
            uint32_t b = pa_cursor_u32(&c);
            uint64_t n = pa_cursor_u64(&c);
            bool first = k == 0 || k == s->req_nonzero; /* each list's bins increase */
            if (b >= a->bins || (!first && b <= prev))
                why = "size bin out of range or order";
            else
                (k < s->req_nonzero ? s->req : s->usable)[b] = n;
            prev = b;
        }
        prev_id = s->stack_id;
    }
    if (why) {
        malformed(t, "ADVICE", ch, why);
        advice_free(a);
        return PA_OK;
    }
    a->nsites = a->count;
    advice_free(t->advice);
    t->advice = keep ? a : NULL;
    if (!keep)
        advice_free(a);
    return PA_OK;
}

void pa_model_drop_advice(pa_trace_t *t)
{
    advice_free(t->advice);
    t->advice = NULL;
}

void pa_model_drop_ages_advice(pa_trace_t *t)
{
    pa_ages_drop(t);
    pa_model_drop_advice(t);
}

void pa_model_drop_row_index(pa_trace_t *t)
{
    free(t->snap.index);
    t->snap.index = NULL;
    t->snap.index_cap = 0;
}

int pa_model_index_rows(pa_trace_t *t)
{
    return index_grow(&t->snap, t->snap.nrows);
}

const pa_advice_t *pa_model_advice(const pa_trace_t *t)
{
    return t->advice && t->has_snapshot && t->advice->time_ns == t->snap.time_ns ? t->advice : NULL;
}

static int cmp_advice_id(const void *key, const void *site)
{
    uint32_t id = *(const uint32_t *)key, other = ((const pa_advice_site_t *)site)->stack_id;
    return (id > other) - (id < other);
}

const pa_advice_site_t *pa_model_advice_site(const pa_advice_t *a, uint32_t id)
{
    return a && a->nsites ? bsearch(&id, a->sites, a->nsites, sizeof *a->sites, cmp_advice_id)
                          : NULL;
}

static int cmp_inherited_id(const void *key, const void *row)
{
    uint32_t a = *(const uint32_t *)key, b = ((const pa_inherited_t *)row)->stack_id;
    return a < b ? -1 : a > b;
}

void pa_model_row_inherited(const pa_trace_t *t, const pa_row_t *r, uint64_t *blocks,
                            uint64_t *bytes)
{
    /* the rows are kept by increasing stack id (load_inherited) */
    const pa_inherited_t *in = t->ninherited ? bsearch(&r->stack_id, t->inherited, t->ninherited,
                                                       sizeof *t->inherited, cmp_inherited_id)
                                             : NULL;
    *blocks = in ? (in->blocks < r->live_blocks ? in->blocks : r->live_blocks) : 0;
    *bytes = *blocks ? (in->bytes < r->live_bytes ? in->bytes : r->live_bytes) : 0;
}

/* ---- MESSAGE, END -------------------------------------------------------------------------- */

static int load_message(pa_trace_t *t, const pa_chunk_t *ch)
{
    pa_cursor_t c;
    pa_cursor_init(&c, ch->payload, ch->length);
    uint32_t severity = pa_cursor_u32(&c);
    const uint8_t *s;
    uint32_t n;
    pa_cursor_str(&c, &s, &n);
    if (c.err) {
        malformed(t, "MESSAGE", ch, "payload ends inside the text");
        return PA_OK;
    }
    if (t->nmessages >= PA_MAX_MESSAGES) {
        t->messages_dropped++;
        return PA_OK;
    }
    if (pa_util_grow((void **)&t->messages, &t->messages_cap, t->nmessages + 1,
                     sizeof *t->messages))
        return PA_ENOMEM;
    char *text = pa_util_strndup((const char *)s, n);
    if (!text)
        return PA_ENOMEM;
    t->messages[t->nmessages].severity = severity;
    t->messages[t->nmessages++].text = text;
    return PA_OK;
}

/* ---- SAMPLING ------------------------------------------------------------------------------ */

static void load_sampling(pa_trace_t *t, const pa_chunk_t *ch)
{
    pa_cursor_t c;
    pa_cursor_init(&c, ch->payload, ch->length);
    pa_sampling_t s;
    PA_ROW_GET(&c, SAMPLING, &s);
    if (c.err) {
        malformed(t, "SAMPLING", ch, "payload shorter than its fields");
        return;
    }
    t->sampling = s;
    t->has_sampling = true;
}

bool pa_model_sampled(const pa_trace_t *t, pa_sampling_t *out)
{
    memset(out, 0, sizeof *out);
    if (!t->has_snapshot || !(t->snap.flags & PS_SNAP_F_SAMPLED))
        return false;
    if (t->has_sampling && t->sampling.time_ns == t->snap.time_ns)
        *out = t->sampling;
    return true;
}

static void load_end(pa_trace_t *t, const pa_chunk_t *ch, bool damaged_before)
{
    pa_cursor_t c;
    pa_cursor_init(&c, ch->payload, ch->length);
    ps_row_end_t e;
    PA_ROW_GET(&c, END, &e);
    if (c.err) {
        malformed(t, "END", ch, "payload shorter than 16 bytes");
        return;
    }
    uint64_t count = e.chunk_count, dropped = e.dropped_events;
    t->has_end = true;
    t->end_chunk_count = count;
    t->dropped_events = dropped;
    if (!damaged_before && count != t->chunks) {
        t->damaged = true;
        pa_model_warn(t, "END chunk at offset %llu says %llu chunks precede it, but %llu were read",
                      (unsigned long long)ch->offset, (unsigned long long)count,
                      (unsigned long long)t->chunks);
    }
    if (dropped)
        pa_model_warn(t, "the shim dropped %llu events: counts are incomplete",
                      (unsigned long long)dropped);
}

/* ---- chunks that belong to a snapshot: POOL and the timing chunks -----------------------------
 *
 * Each starts with the u64 time_ns of the snapshot it was written with, and the shim writes it
 * before that snapshot's SNAPSHOT or SNAPSHOT_DELTA chunk (older shims: after it). One later
 * than the last snapshot read is staged (its raw payload, one per type) until a snapshot of
 * its time or later is applied: a writer that died mid-snapshot leaves chunks whose snapshot
 * never came, and they must not replace those of the last complete one. A snapshot may come
 * without some of them (the shim leaves out a chunk equal to the last one of its type): the
 * last one of each type read stays. */

static const uint16_t staged_types[PA_STAGED] = {PS_CHUNK_POOL,    PS_CHUNK_LOCKS, PS_CHUNK_THREADS,
                                                 PS_CHUNK_LATENCY, PS_CHUNK_ZONES, PS_CHUNK_CPU};

static const char *staged_name(uint16_t type)
{
    static const char *const names[PA_STAGED] = {"POOL",    "LOCKS", "THREADS",
                                                 "LATENCY", "ZONES", "CPU"};
    for (int i = 0; i < PA_STAGED; i++)
        if (staged_types[i] == type)
            return names[i];
    return "?";
}

static int load_timed(pa_trace_t *t, const pa_chunk_t *ch)
{
    switch (ch->type) {
    case PS_CHUNK_POOL:
        return load_pool(t, ch);
    case PS_CHUNK_POOL_PACKED:
        return load_pool_packed(t, ch);
    case PS_CHUNK_LOCKS:
        return load_locks(t, ch);
    case PS_CHUNK_THREADS:
        return load_threads(t, ch);
    case PS_CHUNK_LATENCY:
        return load_latency(t, ch);
    case PS_CHUNK_ZONES:
        return load_zones(t, ch);
    default:
        return load_cpu(t, ch);
    }
}

static void unstage(pa_staged_t *st)
{
    free(st->payload);
    memset(st, 0, sizeof *st);
}

static int timed_chunk(pa_trace_t *t, const pa_chunk_t *ch)
{
    if (ch->length < 8) /* malformed: its loader says so */
        return load_timed(t, ch);
    uint64_t time_ns;
    memcpy(&time_ns, ch->payload, 8); /* little-endian host, as the cursor assumes */
    if (t->has_snapshot && time_ns <= t->snap.time_ns) {
        /* an older shim's chunk, after its SNAPSHOT; a POOL chunk of an earlier moment than
         * the last snapshot would describe the wrong one */
        if ((ch->type == PS_CHUNK_POOL || ch->type == PS_CHUNK_POOL_PACKED) &&
            time_ns < t->snap.time_ns) {
            warn_pool_time(t, ch->offset, time_ns);
            return PA_OK;
        }
        return load_timed(t, ch);
    }
    int i = 0;
    uint16_t slot = ch->type == PS_CHUNK_POOL_PACKED ? PS_CHUNK_POOL : ch->type;
    while (staged_types[i] != slot)
        i++;
    pa_staged_t *st = &t->staged[i];
    uint8_t *copy = malloc(ch->length);
    if (!copy)
        return PA_ENOMEM;
    memcpy(copy, ch->payload, ch->length);
    unstage(st); /* a later chunk of the same type replaces a staged one */
    *st = (pa_staged_t){.set = true,
                        .type = ch->type,
                        .offset = ch->offset,
                        .time_ns = time_ns,
                        .length = ch->length,
                        .payload = copy};
    return PA_OK;
}

/* A snapshot was applied: the staged chunks of its time (or earlier) are its. */
static int commit_staged(pa_trace_t *t)
{
    for (int i = 0; i < PA_STAGED; i++) {
        pa_staged_t *st = &t->staged[i];
        if (!st->set || st->time_ns > t->snap.time_ns)
            continue;
        pa_chunk_t ch = {
            .type = st->type, .length = st->length, .offset = st->offset, .payload = st->payload};
        int rc = load_timed(t, &ch);
        unstage(st);
        if (rc != PA_OK)
            return rc;
    }
    return PA_OK;
}

/* At the end: chunks whose snapshot never came (the writer died mid-snapshot) are ignored. */
static void staged_unmatched(pa_trace_t *t)
{
    for (int i = 0; i < PA_STAGED; i++) {
        pa_staged_t *st = &t->staged[i];
        if (!st->set)
            continue;
        if (t->frozen) { /* of a snapshot past the --at one: not wanted */
            unstage(st);
            continue;
        }
        if (staged_types[i] == PS_CHUNK_POOL)
            warn_pool_time(t, st->offset, st->time_ns);
        else
            pa_model_warn(t,
                          "%s chunk at offset %llu is for time %llu ns, but no snapshot of that "
                          "time was completed; ignored",
                          staged_name(staged_types[i]), (unsigned long long)st->offset,
                          (unsigned long long)st->time_ns);
        unstage(st);
    }
}

/* ---- loading ------------------------------------------------------------------------------- */

/* Chunks of a moment after the --at snapshot (their time_ns, the first field of each of these
 * payloads, is later) describe another moment: skipped, as are the stacks and modules after it. */
static bool after_frozen(const pa_trace_t *t, const pa_chunk_t *ch)
{
    if (!t->frozen)
        return false;
    switch (ch->type) {
    case PS_CHUNK_MODULES:
    case PS_CHUNK_UNLOADED_MODULES:
    case PS_CHUNK_STACKS:
    case PS_CHUNK_STACKS_PACKED:
        return true;
    case PS_CHUNK_POOL:
    case PS_CHUNK_POOL_PACKED:
    case PS_CHUNK_LOCKS:
    case PS_CHUNK_THREADS:
    case PS_CHUNK_LATENCY:
    case PS_CHUNK_ZONES:
    case PS_CHUNK_CPU: {
        pa_cursor_t c;
        pa_cursor_init(&c, ch->payload, ch->length);
        uint64_t time_ns = pa_cursor_u64(&c);
        return !c.err && time_ns > t->snap.time_ns;
    }
    default:
        return false;
    }
}

/* find_keyframe's reader warnings: any damage the walk meets means "read the file whole". */
static void walk_warn(void *ctx, const char *msg)
{
    (void)msg;
    *(bool *)ctx = true;
}

/* The keyframe a report that needs only the state at one snapshot can start from: the file
 * offset of the last full SNAPSHOT chunk at or before the --at one (the last snapshot, or the
 * one of that number), 0 for none worth it. A walk over the chunk headers only (the reader's
 * pa_reader_headers_only: no payload read, no CRC): any header the reader would find damaged
 * (bad sync word or length, a chunk past the end of the file, bytes after END) or a file that
 * is not a regular one gives 0, and the file is read whole as before. */
static uint64_t find_keyframe(const char *path, const pa_model_opts_t *o)
{
    if (o->on_snapshot || o->track_touched || o->on_other_chunk || o->totals_only ||
        (o->at.kind != PA_AT_LAST && o->at.kind != PA_AT_NUMBER))
        return 0;
    bool bad = false;
    char err[256];
    pa_reader_t *r;
    if (pa_reader_open(path, walk_warn, &bad, &r, err, sizeof err) != PA_OK)
        return 0;
    uint64_t key = 0, before = 0, nsnap = 0;
    pa_chunk_t ch;
    int n = 0;
    if (pa_reader_headers_only(r)) {
        while ((n = pa_reader_next(r, &ch)) == 1 && ch.type != PS_CHUNK_END) {
            if (ch.type != PS_CHUNK_SNAPSHOT && ch.type != PS_CHUNK_SNAPSHOT_DELTA &&
                ch.type != PS_CHUNK_SNAPSHOT_PACKED)
                continue;
            nsnap++;
            if (ch.type == PS_CHUNK_SNAPSHOT &&
                (o->at.kind == PA_AT_LAST || nsnap <= o->at.number)) {
                key = ch.offset;
                before = nsnap - 1;
            }
        }
        if (n == 1) /* END: what follows it is reported (bytes after END) */
            n = pa_reader_next(r, &ch);
    } else {
        bad = true;
    }
    bool clean = !bad && n == 0 && !pa_reader_damaged(r);
    pa_reader_close(r);
    return clean && before ? key : 0;
}

enum { RETRY = 1 }; /* read_trace: the pass from a keyframe met damage; read the file whole */

static int read_trace(const char *path, const pa_model_opts_t *o, uint64_t keyframe, pa_trace_t *t);

/* Reports of one snapshot's state (no on_snapshot) start from its keyframe: the snapshot chunks
 * before it are still read and CRC-checked, but only their heads are decoded (count, time,
 * totals, a delta's base), not their rows, and the POOL and timing chunks staged for them are
 * not decoded either (the last of each type is, at the keyframe). That pass is quiet; at the
 * first warning or damage it is given up and the file read whole, so what is reported on a
 * damaged file does not change. (Not CRC-checking them saved 1.4% more of `leaks` on the
 * 100k-stack trace, and left a damaged delta before the keyframe unreported.) */
int pa_model_read(const char *path, const pa_model_opts_t *o, pa_trace_t *t)
{
    uint64_t keyframe = find_keyframe(path, o);
    if (keyframe) {
        int rc = read_trace(path, o, keyframe, t);
        if (rc != RETRY)
            return rc;
    }
    return read_trace(path, o, 0, t);
}

static int read_trace(const char *path, const pa_model_opts_t *o, uint64_t keyframe, pa_trace_t *t)
{
    memset(t, 0, sizeof *t);
    t->quiet = o->quiet;
    t->path = pa_util_strdup(path);
    if (!t->path) {
        pa_msg_error("%s: out of memory", path);
        return PA_ENOMEM;
    }
    char err[512];
    pa_reader_t *r;
    int rc = pa_reader_open(path, reader_warn, t, &r, err, sizeof err);
    if (rc != PA_OK) {
        pa_msg_error("%s: %s", path, err);
        pa_model_free(t);
        return rc;
    }
    t->version = pa_reader_version(r);
    if (o->pass != PA_PASS_FIRST)
        pa_reader_trust(r);
    if (o->skip_stacks && o->pass != PA_PASS_FIRST) {
        pa_reader_pass_over(r, PS_CHUNK_STACKS);
        pa_reader_pass_over(r, PS_CHUNK_STACKS_PACKED);
    }
    if (o->pass == PA_PASS_SERIES) {
        /* decoded whole by the earlier pass, which found them sound: not needed here */
        static const uint16_t unread[] = {PS_CHUNK_MODULES,    PS_CHUNK_ALERT,     PS_CHUNK_AGES,
                                          PS_CHUNK_LEAK_KINDS, PS_CHUNK_INHERITED, PS_CHUNK_ADVICE};
        for (size_t i = 0; i < sizeof unread / sizeof *unread; i++)
            pa_reader_pass_over(r, unread[i]);
        t->timed_unread = true;
    }
    if (keyframe)
        t->quiet = true; /* until the pass is known to go through */
    struct stat sb;
    uint64_t size = stat(path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
    noted_stacks_t ns = {.fd = -1};
    if (o->live_stacks && !o->skip_stacks && !o->on_snapshot) {
        ns.fd = open(path, O_RDONLY | O_CLOEXEC);
        if (ns.fd >= 0 && (fstat(ns.fd, &sb) != 0 || !S_ISREG(sb.st_mode))) {
            close(ns.fd); /* a pipe cannot be read again: every stack added as it comes */
            ns.fd = -1;
        }
    }
    pa_chunk_t ch;
    int n;
    while ((n = pa_reader_next(r, &ch)) == 1) {
        pa_progress(path, ch.offset + PS_CHUNK_HEADER_SIZE + ch.length, size);
        if (!ch.payload) { /* passed over (pa_reader_pass_over): not wanted */
            t->chunks++;
            continue;
        }
        if (after_frozen(t, &ch)) {
            t->chunks++;
            continue;
        }
        switch (ch.type) {
        case PS_CHUNK_PROCESS:
            rc = load_process(t, &ch);
            break;
        case PS_CHUNK_MODULES:
            rc = load_modules(t, &ch);
            break;
        case PS_CHUNK_UNLOADED_MODULES:
            rc = load_unloaded_modules(t, &ch);
            break;
        case PS_CHUNK_STACKS:
            rc = o->skip_stacks ? PA_OK
                 : ns.fd >= 0   ? note_stacks(t, &ch, &ns)
                                : load_stacks(t, &ch, NULL);
            break;
        case PS_CHUNK_STACKS_PACKED:
            rc = o->skip_stacks ? PA_OK
                 : ns.fd >= 0   ? note_stacks_packed(t, &ch, &ns)
                                : load_stacks_packed(t, &ch, NULL);
            break;
        case PS_CHUNK_SNAPSHOT:
        case PS_CHUNK_SNAPSHOT_DELTA:
        case PS_CHUNK_SNAPSHOT_PACKED:
            rc = load_snapshot(t, &ch, o, ch.offset < keyframe);
            break;
        case PS_CHUNK_POOL:
        case PS_CHUNK_POOL_PACKED:
        case PS_CHUNK_LOCKS:
        case PS_CHUNK_THREADS:
        case PS_CHUNK_LATENCY:
        case PS_CHUNK_ZONES:
        case PS_CHUNK_CPU:
            rc = timed_chunk(t, &ch);
            break;
        case PS_CHUNK_MESSAGE:
            rc = load_message(t, &ch);
            break;
        case PS_CHUNK_SAMPLING:
            load_sampling(t, &ch);
            break;
        case PS_CHUNK_SECTION:
            rc = load_section(t, &ch);
            break;
        case PS_CHUNK_ALERT:
            rc = load_alert(t, &ch);
            break;
        case PS_CHUNK_LEAK_KINDS:
            rc = load_leak_kinds(t, &ch, !o->no_site_chunks);
            break;
        case PS_CHUNK_AGES:
            rc = pa_ages_load(t, &ch, !o->no_site_chunks);
            break;
        case PS_CHUNK_INHERITED:
            rc = load_inherited(t, &ch);
            break;
        case PS_CHUNK_ADVICE:
            rc = load_advice(t, &ch, !o->no_site_chunks && !o->no_advice);
            break;
        case PS_CHUNK_END:
            load_end(t, &ch, t->damaged || pa_reader_damaged(r));
            break;
        default: /* a later chunk type: skipped by design (or the caller's) */
            if (ch.type == PS_CHUNK_MERGED_FROM) /* (its records: mergeout.c's) */
                t->merged_processes++;
            if (o->on_other_chunk)
                rc = o->on_other_chunk(t, ch.type, ch.payload, ch.length, o->ctx);
            break;
        }
        if (rc != PA_OK)
            break;
        if (ch.type != PS_CHUNK_END)
            t->chunks++;
        if (keyframe && (t->warnings.n || t->damaged || pa_reader_damaged(r)))
            break;
    }
    if (ns.fd >= 0 && n >= 0 && rc == PA_OK &&
        !(keyframe && (t->warnings.n || t->damaged || pa_reader_damaged(r))))
        rc = add_noted_stacks(t, &ns);
    if (ns.fd >= 0)
        close(ns.fd);
    free(ns.at);
    if (keyframe && n >= 0 && rc == PA_OK &&
        (t->warnings.n || t->damaged || pa_reader_damaged(r))) {
        pa_reader_close(r);
        pa_progress_clear();
        pa_model_free(t);
        return RETRY;
    }
    t->quiet = o->quiet;
    t->keyframe = keyframe;
    int read_errno = 0;
    if (n < 0) {
        rc = n;
        read_errno = pa_reader_errno(r);
    }
    t->damaged = t->damaged || pa_reader_damaged(r);
    pa_reader_close(r);
    pa_progress_clear();
    if (rc == PA_OK && n >= 0 && !o->skip_stacks)
        rc = reloaded_modules(t);  /* before the index goes: it redefines stacks */
    frames_index_free(&t->frames); /* no more stacks: the reports only walk the tree */
    if (rc == PA_OK)
        staged_unmatched(t);
    if (rc == PA_OK && t->pool_packed_skipped)
        pa_model_warn(t, "%llu POOL_PACKED chunk(s) ignored: the POOL each changes was not read",
                      (unsigned long long)t->pool_packed_skipped);
    if (rc == PA_OK && t->deltas_skipped)
        pa_model_warn(
            t, "%llu SNAPSHOT_DELTA chunk(s) ignored: the snapshot each changes was not read",
            (unsigned long long)t->deltas_skipped);
    if (rc == PA_ENOMEM) {
        pa_msg_error("%s: out of memory while reading the trace", path);
    } else if (rc < 0 && rc != PA_EIO) {
        /* a handler's error: it said why */
    } else if (rc == PA_EIO) {
        pa_msg_error("%s: cannot read: %s", path, strerror(read_errno ? read_errno : EIO));
    } else if (!t->has_snapshot) {
        rc = PA_ENOSNAPSHOT;
        size_t base_len;
        if (t->nsnapshots && o->at.kind == PA_AT_TIME)
            pa_msg_error("%s: no snapshot at or before %.3f s: the first of its %llu snapshots "
                         "is later%s",
                         path, (double)o->at.time_ns / 1e9, (unsigned long long)t->nsnapshots,
                         pa_pieces_number(path, &base_len) > 1
                             ? " (it is a later piece of a trace written in pieces, "
                               "PERFSHIM_MAX_TRACE: earlier times are in the pieces before it, "
                               "as far as they were kept)"
                             : "");
        else if (t->damaged)
            pa_msg_error("%s: no snapshot: the trace is damaged before its first complete snapshot",
                         path);
        else if (t->chunks == 0)
            pa_msg_error("%s: no snapshot: the trace holds no chunk (the process ended or was "
                         "killed before writing one)",
                         path);
        else
            pa_msg_error("%s: no snapshot: the process ended before writing one (killed, "
                         "crashed, or still running)",
                         path);
        /* what the shim said it lost is often the reason there is no snapshot */
        for (size_t i = 0; i < t->nmessages; i++) {
            pa_str_t b = {0};
            pa_str_puts(&b, t->messages[i].text);
            pa_util_make_printable(b.s, b.len);
            pa_msg_error("%s: shim %s: %s", path,
                         t->messages[i].severity >= 2 ? "error" : "warning",
                         b.failed ? "(out of memory)" : pa_str_get(&b));
            pa_str_free(&b);
        }
    } else if (!t->has_end && !t->damaged) {
        pa_model_warn(t,
                      "no END chunk: the process did not exit normally (killed, crashed, "
                      "or still running); its last snapshot is at %.3f s after start",
                      (double)t->last_time_ns / 1e9);
    }
    char later[PATH_MAX + 64];
    if (rc == PA_OK && pa_pieces_later_of_trace(path, t->process.options, later, sizeof later))
        pa_model_warn(t,
                      "an early piece of a trace written in pieces (PERFSHIM_MAX_TRACE): it ends "
                      "at %.3f s after start, and the process's later state is in %s, its latest "
                      "piece",
                      (double)t->last_time_ns / 1e9, later);
    if (rc != PA_OK)
        pa_model_free(t);
    return rc;
}

int pa_model_load(const char *path, bool quiet, pa_trace_t *t)
{
    pa_model_opts_t o = {.quiet = quiet};
    return pa_model_read(path, &o, t);
}

/* First pass of --at max: best->number is the snapshot with the highest live heap so far, and
 * best->time_ns (reset before the second pass) holds that live heap. */
static int note_max(pa_trace_t *t, void *ctx)
{
    pa_at_t *best = ctx;
    if (best->number == 0 || t->snap.totals.live_bytes > best->time_ns) {
        best->number = t->snap.number;
        best->time_ns = t->snap.totals.live_bytes; /* the highest live heap so far */
    }
    return PA_OK;
}

int pa_model_load_opts(const char *path, const pa_model_opts_t *opts, pa_trace_t *t)
{
    pa_model_opts_t o = *opts;
    if (o.at.kind == PA_AT_MAX) {
        /* first pass: the totals of every snapshot, to find the highest live heap */
        pa_at_t best = {.kind = PA_AT_NUMBER};
        pa_model_opts_t first = {
            .quiet = true, .totals_only = true, .on_snapshot = note_max, .ctx = &best};
        int rc = pa_model_read(path, &first, t);
        if (rc != PA_OK)
            return rc; /* said why */
        pa_model_free(t);
        best.time_ns = 0;
        o.at = best;
    }
    return pa_model_read(path, &o, t);
}

int pa_model_load_at(const char *path, bool quiet, const pa_at_t *at, pa_trace_t *t)
{
    return pa_model_load_opts(path, &(pa_model_opts_t){.quiet = quiet, .at = *at}, t);
}

int pa_model_load_unaged(const char *path, bool quiet, const pa_at_t *at, pa_trace_t *t)
{
    pa_model_opts_t o = {.quiet = quiet, .at = *at, .no_site_chunks = true};
    return pa_model_load_opts(path, &o, t);
}

void pa_model_free(pa_trace_t *t)
{
    free(t->path);
    free(t->section.first);
    free_process(&t->process);
    free_modules(t->modules, t->nmodules);
    free(t->modules);
    free(t->stacks);
    free(t->frames.aix);
    free(t->frames.caller);
    free(t->frames.addrs);
    free(t->frames.addr_index);
    free(t->frames.index);
    free(t->frames.last);
    free(t->snap.rows);
    free(t->snap.index);
    free(t->snap.touched);
    free(t->snap.packed);
    free_pool(&t->pool);
    for (int i = 0; i < PA_STAGED; i++)
        unstage(&t->staged[i]);
    free_locks(&t->locks);
    free(t->threads.threads);
    free_latency(&t->latency);
    free_zones(&t->zones);
    free(t->cpu.rows);
    for (size_t i = 0; i < t->nmessages; i++)
        free(t->messages[i].text);
    free(t->messages);
    free(t->alerts);
    free(t->leak_rows);
    pa_ages_free(t->ages);
    advice_free(t->advice);
    free(t->inherited);
    pa_strlist_free(&t->warnings);
    memset(t, 0, sizeof *t);
}

/* ---- queries ------------------------------------------------------------------------------- */

const pa_stack_t *pa_model_stack(const pa_trace_t *t, uint32_t id)
{
    if (!id || !t->stacks_cap)
        return NULL;
    const pa_stack_t *s = &t->stacks[stack_slot(t, id)];
    return s->id ? s : NULL;
}

size_t pa_model_stack_addrs(const pa_trace_t *t, const pa_stack_t *s, uint64_t *out, size_t max)
{
    size_t k = 0;
    for (uint32_t n = s->leaf; n && k < max; n = pa_model_frame_caller(t, n))
        out[k++] = pa_model_frame_addr(t, n);
    return k;
}

const pa_module_t *pa_model_module_at(const pa_trace_t *t, uint64_t addr)
{
    for (size_t i = 0; i < t->nmodules; i++)
        if (addr >= t->modules[i].start && addr < t->modules[i].end)
            return &t->modules[i];
    return NULL;
}

const char *pa_model_reason_name(uint32_t reason)
{
    switch (reason) {
    case PS_SNAP_EXIT:
        return "exit";
    case PS_SNAP_DUMP:
        return "dump";
    case PS_SNAP_INTERVAL:
        return "interval";
    case PS_SNAP_FORK:
        return "fork";
    case PS_SNAP_STOP:
        return "stop";
    case PS_SNAP_MAX:
        return "max";
    case PS_SNAP_EVERY:
        return "every";
    case PS_SNAP_SIGNAL:
        return "signal";
    case PS_SNAP_ALERT:
        return "alert";
    default:
        return "unknown";
    }
}

const char *pa_model_snapshot_reason(const pa_snapshot_t *s)
{
    /* the snapshot written before an exec* has reason exit (older readers) and the exec flag */
    if (s->reason == PS_SNAP_EXIT && (s->flags & PS_SNAP_F_EXEC))
        return "exec";
    return pa_model_reason_name(s->reason);
}

const char *pa_model_alert_name(uint32_t kind)
{
    switch (kind) {
    case PS_ALERT_RSS:
        return "rss";
    case PS_ALERT_HEAP:
        return "heap";
    case PS_ALERT_CGROUP:
        return "cgroup";
    case PS_ALERT_GROWTH:
        return "growth";
    default:
        return "unknown";
    }
}

const pa_pool_t *pa_model_pool(const pa_trace_t *t)
{
    return t->has_pool && t->has_snapshot ? &t->pool : NULL;
}

double pa_model_pool_hit_rate(const pa_pool_class_t *c)
{
    if (!c->allocs)
        return 0.0;
    return c->hits >= c->allocs ? 1.0 : (double)c->hits / (double)c->allocs;
}

bool pa_model_complete(const pa_trace_t *t)
{
    return t->has_end && !t->damaged;
}

int pa_model_parse_at(const char *s, pa_at_t *at)
{
    memset(at, 0, sizeof *at);
    if (strcmp(s, "last") == 0)
        return PA_OK;
    if (strcmp(s, "max") == 0) {
        at->kind = PA_AT_MAX;
        return PA_OK;
    }
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    /* the units of PERFSHIM_INTERVAL and --older-than: a week-long trace is read in hours */
    double scale = 1e9;
    if (strcmp(end, "ms") == 0)
        scale = 1e6;
    else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0)
        scale = 60e9;
    else if (strcmp(end, "h") == 0)
        scale = 3600e9;
    else if (strcmp(end, "d") == 0)
        scale = 86400e9;
    else if (strcmp(end, "s") != 0 && *end)
        return PA_EUSAGE;
    if (end == s || errno || !(v >= 0) || v * scale >= 1.8e19 || !(s[0] >= '0' && s[0] <= '9'))
        return PA_EUSAGE;
    at->kind = PA_AT_TIME;
    at->time_ns = (uint64_t)(v * scale + 0.5);
    return PA_OK;
}

const char *pa_model_snapshot_desc(const pa_trace_t *t, char *buf, size_t size)
{
    snprintf(buf, size, "%s, %.3f s after start (snapshot %llu of %llu)",
             pa_model_snapshot_reason(&t->snap), (double)t->snap.time_ns / 1e9,
             (unsigned long long)t->snap.number, (unsigned long long)t->nsnapshots);
    return buf;
}
