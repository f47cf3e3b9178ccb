/* SPDX-License-Identifier: MIT */
/*
 * mergeout.c — `perfshim merge -o OUT TRACE...`: many traces written as one.
 *
 * A merged trace is an ordinary trace (docs/trace-format.md, "Merged traces") that reads as
 * one process whose heap is the sum of the inputs':
 *   - modules: every distinct module file of the inputs (same path, build-id and layout) gets
 *     one range of a synthetic address space above 2^56 (never a user address), its load bias
 *     chosen so that address - bias is still the ELF address: the symbolizer reads it as any
 *     module; a non-PIE executable keeps its own addresses (it has no bias to move);
 *   - stacks: each input stack re-keyed by its frames moved into that space, so that the same
 *     call site in two processes (whatever ASLR did) is one stack;
 *   - snapshots: every input's snapshots on one time axis (CLOCK_REALTIME of each process's
 *     start + its time since start, minus the earliest start); at each moment the counters are
 *     the sum of each process's latest, written as a keyframe first and last and
 *     SNAPSHOT_PACKED deltas between. A process that ended keeps its heap counters (its live
 *     blocks at its end are its leaks); its RSS counts up to its last snapshot only, unless it
 *     ended with the run (pa_merge_ends_with_run, merge.h: as growth --merge decides it);
 *   - the blocks forked children inherited (INHERITED, clamped per process so that the totals
 *     equal leaks --merge's), the leak classes of the exit snapshots (LEAK_KINDS) and the advice
 *     counters of each input's last snapshot (ADVICE), summed per merged stack;
 *   - one MERGED_FROM chunk per input process (its path and PROCESS record), carried over from
 *     an input that is itself merged, so merging merged traces is merging their inputs.
 *   - the timing chunks of each input's last snapshot, written before the last merged
 *     snapshot: CPU rows summed per merged stack (left out, with a warning, when the inputs'
 *     rates differ), lock rows appended (a lock is per process: never merged by address) with
 *     their sites, latency rows and zones summed (histograms converted to the first input's
 *     tick_hz), threads appended on the merged time axis. The stacks and modules only they
 *     name are interned after every input's heap ones (kept aside until then: pend_stack), so
 *     the heap part of the file is the same with or without them.
 * Not carried: the pool, ages, alerts, sampling and section chunks (each process's own report
 * shows them).
 *
 * Memory: the merged stacks and modules, per stack 48 bytes of counters, and every input's
 * changed rows as events (48 bytes a changed row a snapshot) until they are written, and every
 * input's advice sites (320 bytes each, with their size bins); one input trace is loaded at a
 * time.
 */
#include "mergeout.h"

#include "growth.h"
#include "hist.h"
#include "merge.h"
#include "model.h"
#include "pieces.h"
#include "util.h"

#include "trace_format.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uthash.h>
#include <zlib.h>

#define SYNTH_BASE 0x0100000000000000ull /* above any user address */
#define SYNTH_ALIGN 0x200000ull          /* 2 MiB between module ranges */
#define STACKS_CHUNK_BYTES (16u << 20)   /* a STACKS chunk is split past this */

/* ---- a growable byte buffer ------------------------------------------------------------------ */

typedef struct {
    uint8_t *p;
    size_t n, cap;
    bool oom;
} buf_t;

static void put(buf_t *b, const void *v, size_t n)
{
    if (b->oom || pa_util_grow((void **)&b->p, &b->cap, b->n + n, 1) != PA_OK) {
        b->oom = true;
        return;
    }
    memcpy(b->p + b->n, v, n);
    b->n += n;
}

static void put_u32(buf_t *b, uint32_t v)
{
    uint8_t x[4];
    for (int i = 0; i < 4; i++)
        x[i] = (uint8_t)(v >> (8 * i));
    put(b, x, 4);
}

static void put_u64(buf_t *b, uint64_t v)
{
    uint8_t x[8];
    for (int i = 0; i < 8; i++)
        x[i] = (uint8_t)(v >> (8 * i));
    put(b, x, 8);
}

static void put_str(buf_t *b, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    put_u32(b, (uint32_t)n);
    put(b, s, n);
}

static void put_varint(buf_t *b, uint64_t v)
{
    uint8_t x[10];
    size_t n = 0;
    do {
        x[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v)
            x[n] |= 0x80;
        n++;
    } while (v);
    put(b, x, n);
}

static void put_name16(buf_t *b, const char *s)
{
    char x[16] = {0};
    size_t n = strnlen(s, 16);
    memcpy(x, s, n);
    put(b, x, 16);
}

static uint64_t zigzag(uint64_t d)
{
    return (d << 1) ^ (0 - (d >> 63));
}

/* The fixed-layout records, field by field from their declaration (trace_rows.h). */
#define PUT_u32(b, v) put_u32(b, (uint32_t)(v))
#define PUT_u64(b, v) put_u64(b, v)
#define PUT_pad32(b, v) put_u32(b, 0)
#define PUT_name16(b, v) put_name16(b, v)
#define PUT_FIELD(r, type, name, unit, json, json_name, meaning) PUT_##type(pb_, (r)->name);
#define PUT_ROW(b, ID, r)                                                                          \
    do {                                                                                           \
        buf_t *pb_ = (b);                                                                          \
        PS_ROW_##ID(PUT_FIELD, r)                                                                  \
    } while (0)

/* ---- merged modules and stacks --------------------------------------------------------------- */

typedef struct {
    UT_hash_handle hh;
    char *key;       /* path, build-id, ELF address and size of the range */
    pa_module_t mod; /* the merged one: its synthetic range and bias */
    bool identity;   /* a non-PIE executable: its own addresses */
} mmod_t;

typedef struct {
    /* stacks by merged id (1..nstacks): frames in frames[off[id] .. off[id] + depth[id]) */
    uint64_t *frames;
    size_t nframes, frames_cap;
    size_t *off;
    uint32_t *depth;
    size_t nstacks, stacks_cap; /* ids used: nstacks; arrays sized stacks_cap */
    uint32_t *index;            /* open addressing by frames: merged id, 0 empty */
    size_t index_cap;
    mmod_t *mods; /* uthash by key */
    mmod_t **mod_list;
    size_t nmods, mods_cap;
    uint64_t next_addr; /* the next free synthetic range */
} mstacks_t;

static uint64_t hash_frames(const uint64_t *a, uint32_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15ull ^ n;
    for (uint32_t i = 0; i < n; i++) {
        h ^= a[i];
        h *= 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    return h ? h : 1;
}

static int index_rebuild(mstacks_t *m, size_t cap)
{
    uint32_t *ix = calloc(cap, sizeof *ix);
    if (!ix)
        return PA_ENOMEM;
    for (size_t id = 1; id <= m->nstacks; id++) {
        size_t k = hash_frames(m->frames + m->off[id], m->depth[id]) & (cap - 1);
        while (ix[k])
            k = (k + 1) & (cap - 1);
        ix[k] = (uint32_t)id;
    }
    free(m->index);
    m->index = ix;
    m->index_cap = cap;
    return PA_OK;
}

/* The merged id of the stack a[0..n), interned on first sight; 0 on out of memory. */
static uint32_t intern(mstacks_t *m, const uint64_t *a, uint32_t n)
{
    if ((m->nstacks + 1) * 2 > m->index_cap &&
        index_rebuild(m, m->index_cap ? m->index_cap * 2 : 1024) != PA_OK)
        return 0;
    size_t k = hash_frames(a, n) & (m->index_cap - 1);
    for (; m->index[k]; k = (k + 1) & (m->index_cap - 1)) {
        uint32_t id = m->index[k];
        if (m->depth[id] == n && memcmp(m->frames + m->off[id], a, n * sizeof *a) == 0)
            return id;
    }
    if (m->nstacks + 1 >= UINT32_MAX ||
        pa_util_grow((void **)&m->frames, &m->frames_cap, m->nframes + n, sizeof *m->frames) ||
        pa_util_grow((void **)&m->depth, &m->stacks_cap, m->nstacks + 2, sizeof *m->depth))
        return 0;
    size_t cap = m->stacks_cap; /* off[] follows depth[]'s size */
    size_t *off = realloc(m->off, cap * sizeof *off);
    if (!off)
        return 0;
    m->off = off;
    uint32_t id = (uint32_t)++m->nstacks;
    memcpy(m->frames + m->nframes, a, n * sizeof *a);
    m->off[id] = m->nframes;
    m->depth[id] = n;
    m->nframes += n;
    m->index[k] = id;
    return id;
}

static char *module_key(const pa_module_t *x)
{
    pa_str_t k = {0};
    pa_str_puts(&k, x->path ? x->path : "");
    pa_str_puts(&k, "\n");
    for (uint32_t i = 0; i < x->build_id_len; i++)
        pa_str_printf(&k, "%02x", x->build_id[i]);
    pa_str_printf(&k, "\n%llx %llx", (unsigned long long)(x->start - x->base),
                  (unsigned long long)(x->end - x->start));
    const char *s = pa_str_get(&k);
    char *d = s ? pa_util_strdup(s) : NULL;
    pa_str_free(&k);
    return d;
}

/* The merged module of input module x (made on first sight), or NULL on out of memory. */
static mmod_t *module_get(mstacks_t *m, const pa_module_t *x)
{
    char *key = module_key(x);
    if (!key)
        return NULL;
    mmod_t *mm;
    HASH_FIND_STR(m->mods, key, mm);
    if (mm) {
        free(key);
        return mm;
    }
    if (!(mm = calloc(1, sizeof *mm)) ||
        pa_util_grow((void **)&m->mod_list, &m->mods_cap, m->nmods + 1, sizeof *m->mod_list)) {
        free(mm);
        free(key);
        return NULL;
    }
    mm->key = key;
    mm->mod.path = pa_util_strdup(x->path ? x->path : "");
    if (x->build_id_len && (mm->mod.build_id = malloc(x->build_id_len)))
        memcpy(mm->mod.build_id, x->build_id, x->build_id_len);
    mm->mod.build_id_len = mm->mod.build_id ? x->build_id_len : 0;
    if (!m->next_addr)
        m->next_addr = SYNTH_BASE;
    uint64_t size = x->end > x->start ? x->end - x->start : 0;
    /* a non-PIE executable (no bias) cannot move: the symbolizer ignores a bias for it */
    mm->identity = x->base == 0 && x->start < SYNTH_BASE;
    if (mm->identity) {
        mm->mod.base = 0;
        mm->mod.start = x->start;
        mm->mod.end = x->end;
    } else {
        mm->mod.start = m->next_addr + (x->start & (SYNTH_ALIGN - 1));
        mm->mod.end = mm->mod.start + size;
        mm->mod.base = mm->mod.start - (x->start - x->base);
        m->next_addr = (mm->mod.end + 2 * SYNTH_ALIGN - 1) & ~(SYNTH_ALIGN - 1);
    }
    if (!mm->mod.path) {
        free(mm->mod.build_id);
        free(mm->key);
        free(mm);
        return NULL;
    }
    HASH_ADD_KEYPTR(hh, m->mods, mm->key, strlen(mm->key), mm);
    m->mod_list[m->nmods++] = mm;
    return mm;
}

static void mstacks_free(mstacks_t *m)
{
    mmod_t *x, *tmp;
    HASH_ITER(hh, m->mods, x, tmp)
    {
        HASH_DEL(m->mods, x);
        free(x->key);
        free(x->mod.path);
        free(x->mod.build_id);
        free(x);
    }
    free(m->mod_list);
    free(m->frames);
    free(m->off);
    free(m->depth);
    free(m->index);
}

/* ---- events: each input's snapshots, as the rows they changed ------------------------------- */

typedef struct {
    uint64_t time_ns; /* the input's own: since its process start */
    uint32_t reason, flags;
    pa_totals_t totals; /* the input's, whole */
    uint32_t nrows, pad;
} ev_head_t;

typedef struct {
    uint32_t id, pad; /* merged stack id */
    uint64_t d[4];    /* allocs, alloc_bytes, frees, freed_bytes: changes (mod 2^64) */
    uint64_t peak;    /* the input row's peak_live_bytes */
} ev_row_t;

typedef struct {
    uint64_t allocs, alloc_bytes, frees, freed_bytes, peak;
} cnt_t;

typedef struct {
    char *path;
    buf_t events;
    size_t nevents, pos;
    uint64_t realtime; /* its process start, CLOCK_REALTIME ns (0: unknown) */
    pa_totals_t last;  /* the totals of its latest event applied */
    uint64_t dropped;  /* END: events the shim dropped */
    uint64_t last_ns;  /* its last snapshot's time_ns */
    bool ends_early;   /* it ended before the run did: its RSS leaves the sum after its end */
} input_t;

typedef struct {
    uint32_t id, kind;
    uint64_t blocks, bytes;
} lk_t;

typedef struct {
    mstacks_t st;
    input_t *in;
    size_t nin;
    buf_t members; /* MERGED_FROM payloads, each as u32 length + payload */
    size_t nmembers;
    pa_process_t first; /* the first input's process (copied strings) */
    bool have_first, hosts_differ, limits_differ;
    uint64_t mem_total, cgroup_limit;
    /* per input, while it is read: input stack id -> merged id + 1 (0: not mapped yet), and
     * the last counters seen of each input stack */
    uint32_t *map;
    cnt_t *prev;
    size_t map_cap;
    const pa_module_t *map_modules; /* the input's module array the cache below is for */
    mmod_t **mod_of;                /* by input module index */
    size_t mod_of_cap;
    uint64_t *scratch;
    size_t scratch_cap;
    bool member_seen; /* the input being read is itself merged */
    input_t *cur;
    /* inherited blocks and leak classes, by merged id */
    bool has_inherited;
    pa_inherited_head_t inh_head;
    pa_inherited_t *inh;
    size_t ninh, inh_cap;
    bool has_kinds;
    ps_row_leak_kinds_head_t kinds_head;
    lk_t *kinds;
    size_t nkinds, kinds_cap;
    /* advice counters of the inputs' last snapshots, by merged id (summed when written) */
    bool has_advice;
    uint32_t adv_sample, adv_flags; /* the largest sample; the flags of any input */
    pa_advice_site_t *adv;
    size_t nadv, adv_cap;
    /* timing chunks: their stacks kept aside (pend, below) until every input is read */
    struct pmod *pmods; /* uthash by module key */
    struct pmod **pmod_list;
    size_t npmods, pmods_cap;
    uint64_t *pend; /* stack records */
    size_t npend, pend_cap;
    uint64_t *pmap; /* per input: input stack id -> record offset + 1 (0: not yet) */
    size_t pmap_cap;
    const pa_module_t *pmod_modules; /* the module array pmod_of is for */
    uint64_t *pmod_of;               /* by input module index: its pmod index, 0 not yet */
    size_t pmod_of_cap;
    /* CPU (11): every input's last chunk, rows by record */
    bool has_cpu, cpu_mixed, cpu_hz_set;
    ps_row_cpu_head_t cpu_head; /* hz of the first input with samples; counts summed */
    struct prow *cpu;
    size_t ncpu, cpu_cap;
    /* LOCKS (7): every input's lock rows appended, their sites by record */
    bool has_locks;
    ps_row_locks_head_t locks_head;
    pa_lock_t *locks;
    uint32_t *lock_first; /* first_use_stack: record offset + 1, 0 none */
    size_t nlocks, locks_cap, lock_first_cap;
    struct prow *lsites; /* site rows (lock_index: into locks) */
    size_t nlsites, lsites_cap;
    /* LATENCY (9) and ZONES (10): histograms summed by (op, size bin) and by name, in the
     * ticks of the first input's tick_hz */
    bool has_latency, has_zones;
    ps_row_latency_head_t lat_head;
    ps_row_zones_head_t zones_head;
    struct mhist *lat, *zones;
    size_t nlat, lat_cap, nzones, zones_cap;
    /* THREADS (8): every input's rows appended (start stacks by record, times shifted) */
    bool has_threads;
    ps_row_threads_head_t threads_head;
    pa_thread_t *threads;
    uint64_t *thread_rec; /* start_stack's record + 1 */
    size_t *thread_in;    /* the input of each row */
    size_t nthreads, threads_cap, thread_rec_cap, thread_in_cap;
    int err;
} mo_t;

/* A timing row whose stack is a record of mo->pend (rec: offset + 1). */
typedef struct prow {
    uint64_t rec;
    union {
        pa_cpu_row_t cpu;
        pa_lock_site_t site;
    } u;
} prow_t;

/* A histogram summed over inputs, its buckets dense. */
typedef struct mhist {
    char name[64];         /* zone name */
    uint32_t op, size_max; /* latency row */
    uint32_t max_depth;    /* zone */
    uint64_t count, sum, max;
    uint64_t b[PS_HIST_BUCKETS];
} mhist_t;

typedef struct pmod {
    UT_hash_handle hh;
    char *key;
    pa_module_t mod; /* a copy of the input's (path and build-id owned) */
    uint64_t index;  /* its place in pmod_list + 1 */
    mmod_t *merged;  /* its merged module, once a stack is resolved */
} pmod_t;

/* The merged id of input stack id (0 stays 0: no stack; an undefined one is 0 too). */
static uint32_t map_stack(mo_t *mo, pa_trace_t *t, uint32_t id)
{
    if (id >= mo->map_cap) {
        size_t old = mo->map_cap, cap = old;
        if (pa_util_grow((void **)&mo->map, &cap, (size_t)id + 1, sizeof *mo->map)) {
            mo->err = PA_ENOMEM;
            return 0;
        }
        size_t pcap = old;
        if (pa_util_grow((void **)&mo->prev, &pcap, cap, sizeof *mo->prev)) {
            mo->err = PA_ENOMEM;
            return 0;
        }
        memset(mo->map + old, 0, (cap - old) * sizeof *mo->map);
        memset(mo->prev + old, 0, (pcap - old) * sizeof *mo->prev);
        mo->map_cap = cap < pcap ? cap : pcap;
    }
    if (mo->map[id] || !id)
        return mo->map[id] ? mo->map[id] - 1 : 0;
    const pa_stack_t *s = pa_model_stack(t, id);
    if (!s)
        return 0;
    if (t->modules != mo->map_modules) { /* a new module map: the cache is stale */
        size_t cap = mo->mod_of_cap;
        if (pa_util_grow((void **)&mo->mod_of, &cap, t->nmodules + 1, sizeof *mo->mod_of)) {
            mo->err = PA_ENOMEM;
            return 0;
        }
        mo->mod_of_cap = cap;
        memset(mo->mod_of, 0, cap * sizeof *mo->mod_of);
        mo->map_modules = t->modules;
    }
    size_t sc = mo->scratch_cap;
    if (pa_util_grow((void **)&mo->scratch, &sc, s->depth + 1, sizeof *mo->scratch)) {
        mo->err = PA_ENOMEM;
        return 0;
    }
    mo->scratch_cap = sc;
    size_t n = pa_model_stack_addrs(t, s, mo->scratch, s->depth);
    for (size_t i = 0; i < n; i++) {
        uint64_t a = mo->scratch[i];
        const pa_module_t *x = a == PS_FRAME_CUT ? NULL : pa_model_module_at(t, a);
        if (!x)
            continue; /* unknown: kept as it is */
        size_t k = (size_t)(x - t->modules);
        if (!mo->mod_of[k] && !(mo->mod_of[k] = module_get(&mo->st, x))) {
            mo->err = PA_ENOMEM;
            return 0;
        }
        const mmod_t *mm = mo->mod_of[k];
        mo->scratch[i] = a - x->start + mm->mod.start;
    }
    uint32_t mid = intern(&mo->st, mo->scratch, (uint32_t)n);
    if (!mid) {
        mo->err = PA_ENOMEM;
        return 0;
    }
    mo->map[id] = mid + 1;
    return mid;
}

/* ---- timing chunks' stacks: kept aside until every input is read ------------------------------
 * A stack named by a timing chunk (a CPU sample, a lock's call site) is interned after every
 * input's heap stacks, and the modules only its frames lie in after the heap's modules, so
 * that carrying the timing chunks leaves the merged heap's stack ids and module ranges as
 * they are without them. Each such stack is a record in mo->pend: [merged id (0: not yet),
 * depth, depth x (module: its pmod index, 0 none), (offset in it, or the address)]; an input's
 * stack is recorded once. */

static int pmod_index(mo_t *mo, const pa_module_t *x, uint64_t *out)
{
    char *key = module_key(x);
    if (!key)
        return PA_ENOMEM;
    pmod_t *p;
    HASH_FIND_STR(mo->pmods, key, p);
    if (p) {
        free(key);
        *out = p->index;
        return PA_OK;
    }
    if (!(p = calloc(1, sizeof *p)) || pa_util_grow((void **)&mo->pmod_list, &mo->pmods_cap,
                                                    mo->npmods + 1, sizeof *mo->pmod_list)) {
        free(p);
        free(key);
        return PA_ENOMEM;
    }
    p->key = key;
    p->mod = *x;
    p->mod.path = pa_util_strdup(x->path ? x->path : "");
    p->mod.build_id = NULL;
    if (x->build_id_len && (p->mod.build_id = malloc(x->build_id_len)))
        memcpy(p->mod.build_id, x->build_id, x->build_id_len);
    p->mod.build_id_len = p->mod.build_id ? x->build_id_len : 0;
    if (!p->mod.path) {
        free(p->mod.build_id);
        free(p->key);
        free(p);
        return PA_ENOMEM;
    }
    HASH_ADD_KEYPTR(hh, mo->pmods, p->key, strlen(p->key), p);
    mo->pmod_list[mo->npmods++] = p;
    p->index = mo->npmods;
    *out = p->index;
    return PA_OK;
}

/* The record (offset + 1) of input stack id, made on first sight; 0 for no stack or on error
 * (mo->err set). */
static uint64_t pend_stack(mo_t *mo, pa_trace_t *t, uint32_t id)
{
    if (!id)
        return 0;
    if (id >= mo->pmap_cap) {
        size_t old = mo->pmap_cap, cap = old;
        if (pa_util_grow((void **)&mo->pmap, &cap, (size_t)id + 1, sizeof *mo->pmap)) {
            mo->err = PA_ENOMEM;
            return 0;
        }
        memset(mo->pmap + old, 0, (cap - old) * sizeof *mo->pmap);
        mo->pmap_cap = cap;
    }
    if (mo->pmap[id])
        return mo->pmap[id];
    const pa_stack_t *s = pa_model_stack(t, id);
    if (!s)
        return 0;
    size_t sc = mo->scratch_cap;
    if (pa_util_grow((void **)&mo->scratch, &sc, s->depth + 1, sizeof *mo->scratch) ||
        pa_util_grow((void **)&mo->pend, &mo->pend_cap, mo->npend + 2 + 2 * (size_t)s->depth,
                     sizeof *mo->pend)) {
        mo->err = PA_ENOMEM;
        return 0;
    }
    mo->scratch_cap = sc;
    if (t->modules != mo->pmod_modules) { /* a new module map: the cache is stale */
        size_t cap = mo->pmod_of_cap;
        if (pa_util_grow((void **)&mo->pmod_of, &cap, t->nmodules + 1, sizeof *mo->pmod_of)) {
            mo->err = PA_ENOMEM;
            return 0;
        }
        mo->pmod_of_cap = cap;
        memset(mo->pmod_of, 0, cap * sizeof *mo->pmod_of);
        mo->pmod_modules = t->modules;
    }
    size_t n = pa_model_stack_addrs(t, s, mo->scratch, s->depth);
    size_t at = mo->npend;
    uint64_t *r = mo->pend + at;
    r[0] = 0;
    r[1] = n;
    for (size_t i = 0; i < n; i++) {
        uint64_t a = mo->scratch[i], k = 0;
        const pa_module_t *x = a == PS_FRAME_CUT ? NULL : pa_model_module_at(t, a);
        if (x) {
            size_t j = (size_t)(x - t->modules);
            if (!mo->pmod_of[j] && pmod_index(mo, x, &mo->pmod_of[j]) != PA_OK) {
                mo->err = PA_ENOMEM;
                return 0;
            }
            k = mo->pmod_of[j];
        }
        r[2 + 2 * i] = k;
        r[3 + 2 * i] = x ? a - x->start : a;
    }
    mo->npend += 2 + 2 * n;
    mo->pmap[id] = at + 1;
    return at + 1;
}

/* The merged id of record rec (offset + 1), interned on first use; 0 for none or on error. */
static uint32_t pend_resolve(mo_t *mo, uint64_t rec)
{
    if (!rec)
        return 0;
    uint64_t *r = mo->pend + rec - 1;
    if (r[0])
        return (uint32_t)r[0];
    size_t n = (size_t)r[1], sc = mo->scratch_cap;
    if (pa_util_grow((void **)&mo->scratch, &sc, n + 1, sizeof *mo->scratch)) {
        mo->err = PA_ENOMEM;
        return 0;
    }
    mo->scratch_cap = sc;
    for (size_t i = 0; i < n; i++) {
        uint64_t k = r[2 + 2 * i], v = r[3 + 2 * i];
        if (!k) {
            mo->scratch[i] = v;
            continue;
        }
        pmod_t *pm = mo->pmod_list[k - 1];
        if (!pm->merged)
            pm->merged = module_get(&mo->st, &pm->mod);
        const mmod_t *mm = pm->merged;
        if (!mm) {
            mo->err = PA_ENOMEM;
            return 0;
        }
        mo->scratch[i] = mm->mod.start + v;
    }
    uint32_t mid = intern(&mo->st, mo->scratch, (uint32_t)n);
    if (!mid)
        mo->err = PA_ENOMEM;
    r[0] = mid;
    return mid;
}

/* The bucket of value v (ticks), as the shim's ps_hist_index files it. */
static uint32_t hist_index(uint64_t v)
{
    if (v < 32)
        return (uint32_t)v;
    unsigned s = 63u - (unsigned)__builtin_clzll(v) - 4u;
    uint64_t i = (uint64_t)(s + 1) * 16 + ((v >> s) - 16);
    return i < PS_HIST_BUCKETS ? (uint32_t)i : PS_HIST_BUCKETS - 1;
}

/* Adds input histogram h (ticks at hz) to d (ticks at to_hz): a bucket's count moves to the
 * bucket of its midpoint converted, sum and max are converted, when the rates differ. */
static void hist_add(mhist_t *d, const pa_hist_t *h, uint64_t hz, uint64_t to_hz)
{
    double r = hz && to_hz && hz != to_hz ? (double)to_hz / (double)hz : 1.0;
    d->count += h->count;
    d->sum += r == 1.0 ? h->sum : (uint64_t)((double)h->sum * r + 0.5);
    uint64_t max = r == 1.0 ? h->max : (uint64_t)((double)h->max * r + 0.5);
    if (max > d->max)
        d->max = max;
    for (uint32_t i = 0; i < h->nbuckets; i++) {
        uint32_t k = h->index[i];
        if (k >= PS_HIST_BUCKETS)
            continue;
        if (r != 1.0) {
            uint64_t lo = pa_hist_bucket_low(k), hi = pa_hist_bucket_high(k);
            k = hist_index((uint64_t)((double)(lo + (hi - lo) / 2) * r + 0.5));
        }
        d->b[k] += h->counts[i];
    }
}

/* The summed histogram of a latency row (name NULL) or of a zone, made on first sight. */
static mhist_t *mhist_get(mhist_t **v, size_t *n, size_t *cap, const char *name, uint32_t op,
                          uint32_t size_max)
{
    for (size_t i = 0; i < *n; i++)
        if (name ? strcmp((*v)[i].name, name) == 0
                 : (*v)[i].op == op && (*v)[i].size_max == size_max)
            return &(*v)[i];
    if (pa_util_grow((void **)v, cap, *n + 1, sizeof **v))
        return NULL;
    mhist_t *d = &(*v)[(*n)++];
    memset(d, 0, sizeof *d);
    if (name)
        snprintf(d->name, sizeof d->name, "%s", name);
    d->op = op;
    d->size_max = size_max;
    return d;
}

static void put_hist(buf_t *b, const mhist_t *h)
{
    put_u64(b, h->count);
    put_u64(b, h->sum);
    put_u64(b, h->max);
    uint32_t nz = 0;
    for (uint32_t k = 0; k < PS_HIST_BUCKETS; k++)
        nz += h->b[k] != 0;
    put_u32(b, nz);
    for (uint32_t k = 0; k < PS_HIST_BUCKETS; k++)
        if (h->b[k]) {
            put_u32(b, k);
            put_u64(b, h->b[k]);
        }
}

/* The input's LATENCY, ZONES and THREADS chunks of its last snapshot. */
static int take_timing2(mo_t *mo, pa_trace_t *t)
{
    if (t->has_latency) {
        const pa_latency_t *l = &t->latency;
        ps_row_latency_head_t *h = &mo->lat_head;
        if (!mo->has_latency)
            h->tick_hz = l->tick_hz;
        mo->has_latency = true;
        if (l->sample > h->sample)
            h->sample = l->sample;
        h->flags |= l->flags;
        h->pooled += l->pooled;
        h->forwarded += l->forwarded;
        h->forwarded_large += l->forwarded_large;
        h->pool_refills += l->pool_refills;
        h->pool_flushes += l->pool_flushes;
        h->pool_commits += l->pool_commits;
        for (size_t i = 0; i < l->nrows; i++) {
            mhist_t *d = mhist_get(&mo->lat, &mo->nlat, &mo->lat_cap, NULL, l->rows[i].op,
                                   l->rows[i].size_max);
            if (!d)
                return PA_ENOMEM;
            hist_add(d, &l->rows[i].hist, l->tick_hz, h->tick_hz);
        }
    }
    if (t->has_zones) {
        const pa_zones_t *z = &t->zones;
        ps_row_zones_head_t *h = &mo->zones_head;
        if (!mo->has_zones)
            h->tick_hz = z->tick_hz;
        mo->has_zones = true;
        h->unmatched_ends += z->unmatched_ends;
        h->too_deep += z->too_deep;
        h->dropped += z->dropped;
        for (size_t i = 0; i < z->n; i++) {
            const pa_zone_t *x = &z->zones[i];
            mhist_t *d =
                mhist_get(&mo->zones, &mo->nzones, &mo->zones_cap, x->name ? x->name : "", 0, 0);
            if (!d)
                return PA_ENOMEM;
            if (x->max_depth > d->max_depth)
                d->max_depth = x->max_depth;
            hist_add(d, &x->hist, z->tick_hz, h->tick_hz);
        }
    }
    if (t->has_threads) {
        const pa_threads_t *th = &t->threads;
        mo->has_threads = true;
        mo->threads_head.created += th->created;
        mo->threads_head.dropped += th->dropped;
        for (size_t i = 0; i < th->n; i++) {
            uint64_t rec = pend_stack(mo, t, th->threads[i].start_stack);
            if (mo->err)
                return mo->err;
            if (pa_util_grow((void **)&mo->threads, &mo->threads_cap, mo->nthreads + 1,
                             sizeof *mo->threads) ||
                pa_util_grow((void **)&mo->thread_rec, &mo->thread_rec_cap, mo->nthreads + 1,
                             sizeof *mo->thread_rec) ||
                pa_util_grow((void **)&mo->thread_in, &mo->thread_in_cap, mo->nthreads + 1,
                             sizeof *mo->thread_in))
                return PA_ENOMEM;
            mo->thread_rec[mo->nthreads] = rec;
            mo->thread_in[mo->nthreads] = (size_t)(mo->cur - mo->in);
            mo->threads[mo->nthreads++] = th->threads[i];
        }
    }
    return PA_OK;
}

/* The input's timing chunks of its last snapshot: CPU rows and locks kept by record. */
static int take_timing(mo_t *mo, pa_trace_t *t)
{
    if (t->has_cpu) { /* an input without samples has no rate to disagree with */
        if (t->cpu.n && !mo->cpu_hz_set) {
            mo->cpu_hz_set = true;
            mo->cpu_head.hz = t->cpu.hz;
        } else if (t->cpu.n && t->cpu.hz != mo->cpu_head.hz) {
            mo->cpu_mixed = true;
        }
        if (!mo->has_cpu && !t->cpu.n)
            mo->cpu_head.hz = t->cpu.hz; /* until one with samples says */
        mo->has_cpu = true;
        mo->cpu_head.flags |= t->cpu.flags;
        mo->cpu_head.samples += t->cpu.samples;
        mo->cpu_head.dropped += t->cpu.dropped;
        mo->cpu_head.partial += t->cpu.partial;
        for (size_t i = 0; i < t->cpu.n; i++) {
            uint64_t rec = pend_stack(mo, t, t->cpu.rows[i].stack_id);
            if (mo->err)
                return mo->err;
            if (pa_util_grow((void **)&mo->cpu, &mo->cpu_cap, mo->ncpu + 1, sizeof *mo->cpu))
                return PA_ENOMEM;
            mo->cpu[mo->ncpu++] = (prow_t){.rec = rec, .u.cpu = t->cpu.rows[i]};
        }
    }
    if (t->has_locks) {
        const pa_locks_t *l = &t->locks;
        ps_row_locks_head_t *h = &mo->locks_head;
        if (!mo->has_locks || l->sample > h->sample)
            h->sample = l->sample;
        mo->has_locks = true;
        h->flags |= l->flags;
        h->untracked_ops += l->untracked_ops;
        h->retired_quiet += l->retired_quiet;
        h->retired_quiet_acquisitions += l->retired_quiet_acquisitions;
        size_t base = mo->nlocks;
        if (base + l->nlocks >= UINT32_MAX)
            return PA_ENOMEM;
        for (size_t i = 0; i < l->nlocks; i++) {
            uint64_t rec = pend_stack(mo, t, l->locks[i].first_use_stack);
            if (mo->err)
                return mo->err;
            if (rec >= UINT32_MAX ||
                pa_util_grow((void **)&mo->locks, &mo->locks_cap, mo->nlocks + 1,
                             sizeof *mo->locks) ||
                pa_util_grow((void **)&mo->lock_first, &mo->lock_first_cap, mo->nlocks + 1,
                             sizeof *mo->lock_first))
                return PA_ENOMEM;
            mo->lock_first[mo->nlocks] = (uint32_t)rec;
            mo->locks[mo->nlocks++] = l->locks[i];
        }
        for (size_t i = 0; i < l->nsites; i++) {
            if (l->sites[i].lock_index >= l->nlocks)
                continue; /* the reader keeps none such; be safe */
            uint64_t rec = pend_stack(mo, t, l->sites[i].stack_id);
            if (mo->err)
                return mo->err;
            if (pa_util_grow((void **)&mo->lsites, &mo->lsites_cap, mo->nlsites + 1,
                             sizeof *mo->lsites))
                return PA_ENOMEM;
            prow_t *p = &mo->lsites[mo->nlsites++];
            *p = (prow_t){.rec = rec, .u.site = l->sites[i]};
            p->u.site.lock_index += (uint32_t)base;
        }
    }
    return take_timing2(mo, t);
}

static int on_snapshot(pa_trace_t *t, void *ctx)
{
    mo_t *mo = ctx;
    const pa_snapshot_t *s = &t->snap;
    ev_head_t h = {.time_ns = s->time_ns, .reason = s->reason, .flags = s->flags};
    h.totals = s->totals;
    buf_t *b = &mo->cur->events;
    size_t at = b->n;
    put(b, &h, sizeof h);
    uint32_t nrows = 0;
    for (size_t i = 0; i < s->ntouched && !mo->err; i++) {
        const pa_row_t *r = &s->rows[s->touched[i]];
        uint32_t mid = map_stack(mo, t, r->stack_id);
        if (mo->err)
            break;
        cnt_t *p = r->stack_id < mo->map_cap ? &mo->prev[r->stack_id] : NULL;
        cnt_t zero = {0};
        if (!p)
            p = &zero;
        ev_row_t e = {.id = mid, .peak = r->peak_live_bytes};
        e.d[0] = r->allocs - p->allocs;
        e.d[1] = r->alloc_bytes - p->alloc_bytes;
        e.d[2] = r->frees - p->frees;
        e.d[3] = r->freed_bytes - p->freed_bytes;
        if (!(e.d[0] | e.d[1] | e.d[2] | e.d[3]) && e.peak <= p->peak)
            continue;
        *p = (cnt_t){r->allocs, r->alloc_bytes, r->frees, r->freed_bytes, r->peak_live_bytes};
        put(b, &e, sizeof e);
        nrows++;
    }
    if (b->oom)
        mo->err = PA_ENOMEM;
    if (mo->err)
        return mo->err;
    memcpy(b->p + at + offsetof(ev_head_t, nrows), &nrows, sizeof nrows);
    mo->cur->nevents++;
    mo->cur->last_ns = s->time_ns;
    return PA_OK;
}

static int on_other_chunk(pa_trace_t *t, uint16_t type, const uint8_t *payload, uint32_t length,
                          void *ctx)
{
    (void)t;
    mo_t *mo = ctx;
    if (type != PS_CHUNK_MERGED_FROM)
        return PA_OK;
    mo->member_seen = true;
    put_u32(&mo->members, length);
    put(&mo->members, payload, length);
    mo->nmembers++;
    return mo->members.oom ? PA_ENOMEM : PA_OK;
}

static void process_payload(buf_t *b, const pa_process_t *p)
{
    put_u64(b, p->pid);
    put_u64(b, p->ppid);
    put_u64(b, p->start_realtime_ns);
    put_u64(b, p->start_monotonic_ns);
    put_str(b, p->tool_version);
    put_str(b, p->program);
    put_str(b, p->hostname);
    put_u32(b, p->argc);
    for (uint32_t i = 0; i < p->argc; i++)
        put_str(b, p->argv[i]);
    put_str(b, p->options);
    put_u32(b, p->pointer_size);
    put_u32(b, p->page_size);
    put_u64(b, p->mem_total_bytes);
    put_u64(b, p->cgroup_limit_bytes);
}

static int copy_process(pa_process_t *d, const pa_process_t *s)
{
    *d = *s;
    d->tool_version = pa_util_strdup(s->tool_version ? s->tool_version : "");
    d->program = pa_util_strdup(s->program ? s->program : "");
    d->hostname = pa_util_strdup(s->hostname ? s->hostname : "");
    d->options = pa_util_strdup(s->options ? s->options : "");
    d->argv = calloc(s->argc ? s->argc : 1, sizeof *d->argv);
    bool ok = d->tool_version && d->program && d->hostname && d->options && d->argv;
    for (uint32_t i = 0; ok && i < s->argc; i++)
        ok = (d->argv[i] = pa_util_strdup(s->argv[i] ? s->argv[i] : "")) != NULL;
    return ok ? PA_OK : PA_ENOMEM;
}

static void free_process_copy(pa_process_t *p)
{
    for (uint32_t i = 0; p->argv && i < p->argc; i++)
        free(p->argv[i]);
    free(p->argv);
    free(p->tool_version);
    free(p->program);
    free(p->hostname);
    free(p->options);
}

/* What the input leaves at its end: its process (a MERGED_FROM record unless it is merged
 * itself), the blocks it inherited (clamped to its live ones at its last snapshot), the leak
 * classes of its exit snapshot. */
static int finish_input(mo_t *mo, pa_trace_t *t, input_t *in)
{
    in->realtime = t->has_process ? t->process.start_realtime_ns : 0;
    in->dropped = t->dropped_events;
    if (t->has_process) {
        if (!mo->have_first) {
            if (copy_process(&mo->first, &t->process) != PA_OK)
                return PA_ENOMEM;
            mo->have_first = true;
            mo->mem_total = t->process.mem_total_bytes;
            mo->cgroup_limit = t->process.cgroup_limit_bytes;
        } else {
            if (strcmp(mo->first.hostname, t->process.hostname ? t->process.hostname : ""))
                mo->hosts_differ = true;
            if (t->process.mem_total_bytes > mo->mem_total)
                mo->mem_total = t->process.mem_total_bytes;
            if (t->process.cgroup_limit_bytes != mo->cgroup_limit)
                mo->limits_differ = true;
        }
    }
    if (!mo->member_seen) {
        buf_t p = {0};
        put_str(&p, in->path);
        if (t->has_process)
            process_payload(&p, &t->process);
        put_u32(&mo->members, (uint32_t)p.n);
        put(&mo->members, p.p, p.n);
        mo->nmembers++;
        bool oom = p.oom;
        free(p.p);
        if (oom || mo->members.oom)
            return PA_ENOMEM;
    }
    for (size_t i = 0; i < t->ninherited; i++) {
        const pa_inherited_t *x = &t->inherited[i];
        const pa_row_t *r = pa_model_row(t, x->stack_id);
        if (!r)
            continue;
        uint64_t blocks = x->blocks < r->live_blocks ? x->blocks : r->live_blocks;
        uint64_t bytes = x->bytes < r->live_bytes ? x->bytes : r->live_bytes;
        if (!blocks && !bytes)
            continue;
        uint32_t mid = map_stack(mo, t, x->stack_id);
        if (mo->err)
            return mo->err;
        if (pa_util_grow((void **)&mo->inh, &mo->inh_cap, mo->ninh + 1, sizeof *mo->inh))
            return PA_ENOMEM;
        mo->inh[mo->ninh++] = (pa_inherited_t){.stack_id = mid, .blocks = blocks, .bytes = bytes};
        if (!mo->has_inherited) {
            mo->has_inherited = true;
            mo->inh_head = t->inherited_head;
            mo->inh_head.fork_ns += in->realtime; /* made relative to the merged start later */
        }
    }
    size_t nk = 0;
    const ps_row_leak_kind_t *k = pa_model_leak_kinds(t, &nk);
    if (k) {
        ps_row_leak_kinds_head_t *h = &mo->kinds_head;
        h->blocks += t->leak_head.blocks;
        h->definitely += t->leak_head.definitely;
        h->indirectly += t->leak_head.indirectly;
        h->possibly += t->leak_head.possibly;
        h->reachable += t->leak_head.reachable;
        h->root_bytes += t->leak_head.root_bytes;
        h->heap_bytes += t->leak_head.heap_bytes;
        h->unread_bytes += t->leak_head.unread_bytes;
        h->scan_ns += t->leak_head.scan_ns;
        h->threads += t->leak_head.threads;
        h->flags |= t->leak_head.flags;
        mo->has_kinds = true;
    }
    for (size_t i = 0; k && i < nk; i++) {
        uint32_t mid = map_stack(mo, t, k[i].stack_id);
        if (mo->err)
            return mo->err;
        if (pa_util_grow((void **)&mo->kinds, &mo->kinds_cap, mo->nkinds + 1, sizeof *mo->kinds))
            return PA_ENOMEM;
        mo->kinds[mo->nkinds++] = (lk_t){mid, k[i].kind, k[i].blocks, k[i].bytes};
    }
    const pa_advice_t *a = pa_model_advice(t);
    if (a) {
        mo->has_advice = true;
        if (a->sample > mo->adv_sample)
            mo->adv_sample = a->sample;
        mo->adv_flags |= a->flags;
    }
    for (size_t i = 0; a && i < a->nsites; i++) {
        uint32_t mid = map_stack(mo, t, a->sites[i].stack_id);
        if (mo->err)
            return mo->err;
        if (pa_util_grow((void **)&mo->adv, &mo->adv_cap, mo->nadv + 1, sizeof *mo->adv))
            return PA_ENOMEM;
        mo->adv[mo->nadv] = a->sites[i];
        mo->adv[mo->nadv++].stack_id = mid;
    }
    return take_timing(mo, t);
}

static int read_input(mo_t *mo, size_t i, bool quiet)
{
    input_t *in = &mo->in[i];
    mo->cur = in;
    mo->member_seen = false;
    mo->map_modules = NULL;
    mo->pmod_modules = NULL;
    if (mo->map_cap) {
        memset(mo->map, 0, mo->map_cap * sizeof *mo->map);
        memset(mo->prev, 0, mo->map_cap * sizeof *mo->prev);
    }
    if (mo->pmap_cap)
        memset(mo->pmap, 0, mo->pmap_cap * sizeof *mo->pmap);
    pa_model_opts_t o = {.quiet = quiet,
                         .on_snapshot = on_snapshot,
                         .ctx = mo,
                         .track_touched = true,
                         .on_other_chunk = on_other_chunk};
    pa_trace_t t;
    int rc = pa_model_read(in->path, &o, &t);
    if (rc == PA_OK && !t.has_snapshot) {
        pa_msg_error("%s: no complete snapshot in the trace: nothing to merge", in->path);
        rc = PA_ENOSNAPSHOT;
    }
    if (rc == PA_OK)
        rc = finish_input(mo, &t, in);
    if (rc == PA_ENOMEM)
        pa_msg_error("%s: out of memory while merging", in->path);
    if (rc != PA_OK && rc != PA_ENOMEM && mo->err == PA_ENOMEM)
        pa_msg_error("%s: out of memory while merging", in->path);
    pa_model_free(&t);
    return rc;
}

/* ---- writing --------------------------------------------------------------------------------- */

typedef struct {
    FILE *f;
    uint64_t chunks;
    bool failed;
} wr_t;

static void chunk(wr_t *w, uint16_t type, const buf_t *b)
{
    if (b->oom || b->n > PS_CHUNK_MAX_LENGTH) {
        w->failed = true;
        return;
    }
    uint8_t h[16];
    uint32_t sync = PS_CHUNK_SYNC, len = (uint32_t)b->n;
    for (int i = 0; i < 4; i++) {
        h[i] = (uint8_t)(sync >> (8 * i));
        h[8 + i] = (uint8_t)(len >> (8 * i));
    }
    h[4] = (uint8_t)type;
    h[5] = (uint8_t)(type >> 8);
    h[6] = h[7] = 0;
    uint32_t crc = (uint32_t)crc32(0L, h, 12);
    if (b->n)
        crc = (uint32_t)crc32(crc, b->p, (uInt)b->n);
    for (int i = 0; i < 4; i++)
        h[12 + i] = (uint8_t)(crc >> (8 * i));
    if (fwrite(h, 1, 16, w->f) != 16 || (b->n && fwrite(b->p, 1, b->n, w->f) != b->n))
        w->failed = true;
    w->chunks++;
}

static void write_process(mo_t *mo, wr_t *w, uint64_t start)
{
    buf_t b = {0};
    if (mo->nmembers == 1 && mo->have_first) {
        process_payload(&b, &mo->first);
    } else {
        pa_process_t p = mo->first; /* the first process's program and command line */
        char host[64];
        if (mo->hosts_differ) {
            snprintf(host, sizeof host, "(merged: several hosts)");
            p.hostname = host;
        }
        p.pid = p.ppid = 0;
        p.start_realtime_ns = start;
        p.tool_version = (char *)PERFSHIM_VERSION_STRING;
        p.mem_total_bytes = mo->mem_total;
        p.cgroup_limit_bytes = mo->limits_differ ? 0 : mo->cgroup_limit;
        process_payload(&b, &p);
    }
    chunk(w, PS_CHUNK_PROCESS, &b);
    free(b.p);
}

static int cmp_inh(const void *a, const void *b)
{
    const pa_inherited_t *x = a, *y = b;
    return x->stack_id < y->stack_id ? -1 : x->stack_id > y->stack_id;
}

static int cmp_kind(const void *a, const void *b)
{
    const lk_t *x = a, *y = b;
    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    return x->kind < y->kind ? -1 : x->kind > y->kind;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static void write_head(mo_t *mo, wr_t *w, uint64_t start)
{
    buf_t b = {0};
    write_process(mo, w, start);
    const uint8_t *p = mo->members.p;
    for (size_t i = 0; i < mo->nmembers; i++) { /* u32 length + payload each */
        uint32_t len =
            (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        buf_t one = {.p = (uint8_t *)p + 4, .n = len};
        chunk(w, PS_CHUNK_MERGED_FROM, &one);
        p += 4 + len;
    }
    if (mo->has_inherited) { /* rows of one merged stack summed */
        qsort(mo->inh, mo->ninh, sizeof *mo->inh, cmp_inh);
        size_t n = 0;
        for (size_t i = 0; i < mo->ninh; i++) {
            if (n && mo->inh[n - 1].stack_id == mo->inh[i].stack_id) {
                mo->inh[n - 1].blocks += mo->inh[i].blocks;
                mo->inh[n - 1].bytes += mo->inh[i].bytes;
            } else
                mo->inh[n++] = mo->inh[i];
        }
        pa_inherited_head_t h = mo->inh_head;
        h.fork_ns = h.fork_ns > start ? h.fork_ns - start : 0;
        PUT_ROW(&b, INHERITED_HEAD, &h);
        put_u32(&b, (uint32_t)n);
        put_u32(&b, PS_INHERITED_ROW_SIZE);
        for (size_t i = 0; i < n; i++)
            PUT_ROW(&b, INHERITED, &mo->inh[i]);
        chunk(w, PS_CHUNK_INHERITED, &b);
        b.n = 0;
    }
    mstacks_t *st = &mo->st;
    put_u32(&b, (uint32_t)st->nmods);
    for (size_t i = 0; i < st->nmods; i++) {
        const pa_module_t *m = &st->mod_list[i]->mod;
        put_u64(&b, m->base);
        put_u64(&b, m->start);
        put_u64(&b, m->end);
        put_str(&b, m->path);
        put_u32(&b, m->build_id_len);
        put(&b, m->build_id, m->build_id_len);
    }
    chunk(w, PS_CHUNK_MODULES, &b);
    /* every stack, in chunks of at most STACKS_CHUNK_BYTES */
    for (size_t id = 1; id <= st->nstacks;) {
        b.n = 0;
        put_u32(&b, 0);
        uint32_t count = 0;
        for (; id <= st->nstacks && b.n < STACKS_CHUNK_BYTES; id++, count++) {
            put_u32(&b, (uint32_t)id);
            put_u32(&b, st->depth[id]);
            for (uint32_t k = 0; k < st->depth[id]; k++)
                put_u64(&b, st->frames[st->off[id] + k]);
        }
        if (!b.oom)
            for (int i = 0; i < 4; i++)
                b.p[i] = (uint8_t)(count >> (8 * i));
        chunk(w, PS_CHUNK_STACKS, &b);
    }
    free(b.p);
}

/* The merged counters of a snapshot moment: rows by merged id, and what was last written. */
typedef struct {
    cnt_t *cur, *written;
    uint8_t *dirty;
    uint32_t *dirty_list;
    size_t ndirty, ids;
} rows_t;

static void put_totals_head(buf_t *b, uint64_t time, uint32_t reason, uint32_t flags,
                            const pa_totals_t *tot)
{
    put_u64(b, time);
    put_u32(b, reason);
    put_u32(b, flags);
    PUT_ROW(b, SNAPSHOT_TOTALS, tot);
}

static void write_full(wr_t *w, rows_t *r, buf_t *b, uint64_t time, uint32_t reason, uint32_t flags,
                       const pa_totals_t *tot)
{
    b->n = 0;
    put_totals_head(b, time, reason, flags, tot);
    size_t at = b->n;
    put_u32(b, 0);
    put_u32(b, PS_SNAPSHOT_ROW_SIZE);
    uint32_t n = 0;
    for (size_t id = 0; id < r->ids; id++) {
        const cnt_t *c = &r->cur[id];
        r->written[id] = *c;
        r->dirty[id] = 0;
        if (!c->allocs)
            continue;
        pa_row_t row = {.stack_id = (uint32_t)id,
                        .allocs = c->allocs,
                        .alloc_bytes = c->alloc_bytes,
                        .frees = c->frees,
                        .freed_bytes = c->freed_bytes,
                        .live_blocks = c->allocs >= c->frees ? c->allocs - c->frees : 0,
                        .live_bytes =
                            c->alloc_bytes >= c->freed_bytes ? c->alloc_bytes - c->freed_bytes : 0,
                        .peak_live_bytes = c->peak};
        PUT_ROW(b, SNAPSHOT, &row);
        n++;
    }
    r->ndirty = 0;
    if (!b->oom)
        for (int i = 0; i < 4; i++)
            b->p[at + i] = (uint8_t)(n >> (8 * i));
    chunk(w, PS_CHUNK_SNAPSHOT, b);
}

static void write_packed(wr_t *w, rows_t *r, buf_t *b, uint64_t base, uint64_t time,
                         uint32_t reason, uint32_t flags, const pa_totals_t *tot)
{
    b->n = 0;
    put_u64(b, base);
    put_totals_head(b, time, reason, flags, tot);
    qsort(r->dirty_list, r->ndirty, sizeof *r->dirty_list, cmp_u32);
    put_u32(b, (uint32_t)r->ndirty);
    put_u32(b, PS_PACKED_FIELDS);
    uint32_t last = 0;
    for (size_t i = 0; i < r->ndirty; i++) {
        uint32_t id = r->dirty_list[i];
        cnt_t *c = &r->cur[id], *o = &r->written[id];
        put_varint(b, id - last);
        last = id;
        put_varint(b, zigzag(c->allocs - o->allocs));
        put_varint(b, zigzag(c->alloc_bytes - o->alloc_bytes));
        put_varint(b, zigzag(c->frees - o->frees));
        put_varint(b, zigzag(c->freed_bytes - o->freed_bytes));
        put_varint(b, zigzag(c->peak - o->peak));
        *o = *c;
        r->dirty[id] = 0;
    }
    r->ndirty = 0;
    chunk(w, PS_CHUNK_SNAPSHOT_PACKED, b);
}

/* A binary heap of inputs by the merged time of their next event. */
typedef struct {
    size_t *v;
    size_t n;
    const uint64_t *key;
} heap_t;

static bool heap_less(const heap_t *h, size_t a, size_t b)
{
    return h->key[a] != h->key[b] ? h->key[a] < h->key[b] : a < b;
}

static void heap_push(heap_t *h, size_t x)
{
    size_t i = h->n++;
    h->v[i] = x;
    while (i && heap_less(h, h->v[i], h->v[(i - 1) / 2])) {
        size_t p = (i - 1) / 2, t = h->v[p];
        h->v[p] = h->v[i];
        h->v[i] = t;
        i = p;
    }
}

static size_t heap_pop(heap_t *h)
{
    size_t top = h->v[0];
    h->v[0] = h->v[--h->n];
    for (size_t i = 0;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->n && heap_less(h, h->v[l], h->v[m]))
            m = l;
        if (r < h->n && heap_less(h, h->v[r], h->v[m]))
            m = r;
        if (m == i)
            break;
        size_t t = h->v[m];
        h->v[m] = h->v[i];
        h->v[i] = t;
        i = m;
    }
    return top;
}

static uint64_t merged_time(const input_t *in, uint64_t start, uint64_t time_ns)
{
    uint64_t t = (in->realtime ? in->realtime : start) + time_ns;
    return t > start ? t - start : 0;
}

static uint64_t event_time(const input_t *in, uint64_t start)
{
    ev_head_t h;
    memcpy(&h, in->events.p + in->pos, sizeof h);
    return merged_time(in, start, h.time_ns);
}

/* Marks the inputs that ended before the run (pa_merge_ends_with_run, with growth --merge's
 * sampling interval: min(PA_GROWTH_POINTS, the inputs' snapshots together, each counting at
 * most PA_GROWTH_POINTS) points over the span of them all). Called before their events are
 * applied (pos 0). */
static void mark_ended(mo_t *mo, uint64_t start)
{
    uint64_t t0 = UINT64_MAX, t1 = 0;
    size_t points = 0;
    for (size_t i = 0; i < mo->nin; i++) {
        const input_t *in = &mo->in[i];
        if (!in->nevents)
            continue;
        uint64_t a = event_time(in, start), z = merged_time(in, start, in->last_ns);
        t0 = a < t0 ? a : t0;
        t1 = z > t1 ? z : t1;
        points += in->nevents < PA_GROWTH_POINTS ? in->nevents : PA_GROWTH_POINTS;
    }
    points = points < PA_GROWTH_POINTS ? points : PA_GROWTH_POINTS;
    if (points < 2 || t1 <= t0)
        return; /* one moment: nothing ended before another */
    double dt = (double)(t1 - t0) / 1e9 / (double)(points - 1);
    for (size_t i = 0; i < mo->nin; i++) {
        input_t *in = &mo->in[i];
        double born = (double)merged_time(in, start, 0) / 1e9;
        in->ends_early = in->nevents && !pa_merge_ends_with_run(
                                            born, (double)merged_time(in, start, in->last_ns) / 1e9,
                                            (double)t1 / 1e9, dt);
    }
}

/* Applies input in's next event to the rows; returns its head. */
static ev_head_t apply_event(input_t *in, rows_t *r)
{
    ev_head_t h;
    memcpy(&h, in->events.p + in->pos, sizeof h);
    in->pos += sizeof h;
    for (uint32_t i = 0; i < h.nrows; i++) {
        ev_row_t e;
        memcpy(&e, in->events.p + in->pos, sizeof e);
        in->pos += sizeof e;
        cnt_t *c = &r->cur[e.id];
        c->allocs += e.d[0];
        c->alloc_bytes += e.d[1];
        c->frees += e.d[2];
        c->freed_bytes += e.d[3];
        uint64_t live = c->alloc_bytes >= c->freed_bytes ? c->alloc_bytes - c->freed_bytes : 0;
        if (e.peak > c->peak)
            c->peak = e.peak;
        if (live > c->peak)
            c->peak = live;
        if (!r->dirty[e.id]) {
            r->dirty[e.id] = 1;
            r->dirty_list[r->ndirty++] = e.id;
        }
    }
    in->nevents--;
    return h;
}

static void totals_add(pa_totals_t *sum, const pa_totals_t *add, const pa_totals_t *sub)
{
    sum->allocs += add->allocs - sub->allocs;
    sum->frees += add->frees - sub->frees;
    sum->alloc_bytes += add->alloc_bytes - sub->alloc_bytes;
    sum->freed_bytes += add->freed_bytes - sub->freed_bytes;
    sum->live_blocks += add->live_blocks - sub->live_blocks;
    sum->live_bytes += add->live_bytes - sub->live_bytes;
    sum->rss_bytes += add->rss_bytes - sub->rss_bytes;
    sum->untracked_frees += add->untracked_frees - sub->untracked_frees;
    /* a peak of the sum is at least each process's peak and the sum seen at each moment */
    if (add->peak_live_bytes > sum->peak_live_bytes)
        sum->peak_live_bytes = add->peak_live_bytes;
    if (sum->live_bytes > sum->peak_live_bytes)
        sum->peak_live_bytes = sum->live_bytes;
    if (add->peak_rss_bytes > sum->peak_rss_bytes)
        sum->peak_rss_bytes = add->peak_rss_bytes;
    if (sum->rss_bytes > sum->peak_rss_bytes)
        sum->peak_rss_bytes = sum->rss_bytes;
}

static int cmp_adv(const void *a, const void *b)
{
    uint32_t x = ((const pa_advice_site_t *)a)->stack_id,
             y = ((const pa_advice_site_t *)b)->stack_id;
    return x < y ? -1 : x > y;
}

/* The ADVICE chunk of the last merged snapshot (at time): each merged stack's counters, the
 * sum of its inputs' (their last snapshots', as LEAK_KINDS). */
static void write_advice(mo_t *mo, wr_t *w, buf_t *b, uint64_t time)
{
    qsort(mo->adv, mo->nadv, sizeof *mo->adv, cmp_adv);
    size_t n = 0;
    for (size_t i = 0; i < mo->nadv; i++) {
        pa_advice_site_t *d = n ? &mo->adv[n - 1] : NULL, *s = &mo->adv[i];
        if (d && d->stack_id == s->stack_id) {
            d->allocs += s->allocs;
            d->temporaries += s->temporaries;
            d->realloc_grows += s->realloc_grows;
            d->realloc_old_bytes += s->realloc_old_bytes;
            d->realloc_new_bytes += s->realloc_new_bytes;
            d->cross_thread_frees += s->cross_thread_frees;
            for (unsigned k = 0; k < PS_ADV_BINS; k++) {
                d->req[k] += s->req[k];
                d->usable[k] += s->usable[k];
            }
        } else
            mo->adv[n++] = *s;
    }
    uint32_t sample = mo->adv_sample ? mo->adv_sample : 1;
    ps_row_advice_head_t h = {.time_ns = time,
                              .sample = sample,
                              .flags = mo->adv_flags | (sample > 1 ? PS_ADVICE_F_SCALED : 0),
                              .count = (uint32_t)n,
                              .site_size = PS_ADVICE_SITE_SIZE,
                              .bins = PS_ADV_BINS};
    b->n = 0;
    PUT_ROW(b, ADVICE_HEAD, &h);
    for (size_t i = 0; i < n; i++) {
        pa_advice_site_t *s = &mo->adv[i];
        s->req_nonzero = s->usable_nonzero = 0;
        for (unsigned k = 0; k < PS_ADV_BINS; k++) {
            s->req_nonzero += s->req[k] != 0;
            s->usable_nonzero += s->usable[k] != 0;
        }
        PUT_ROW(b, ADVICE_SITE, s);
        for (int list = 0; list < 2; list++)
            for (uint32_t k = 0; k < PS_ADV_BINS; k++) {
                uint64_t c = (list ? s->usable : s->req)[k];
                if (c) {
                    put_u32(b, k);
                    put_u64(b, c);
                }
            }
    }
    chunk(w, PS_CHUNK_ADVICE, b);
}

static int cmp_cpu(const void *a, const void *b)
{
    uint32_t x = ((const prow_t *)a)->u.cpu.stack_id, y = ((const prow_t *)b)->u.cpu.stack_id;
    return x < y ? -1 : x > y;
}

/* Every input read: the timing chunks' stacks interned (after the heap's), CPU rows summed per
 * merged stack. */
static int resolve_timing(mo_t *mo)
{
    for (size_t i = 0; i < mo->ncpu && !mo->err; i++)
        mo->cpu[i].u.cpu.stack_id = pend_resolve(mo, mo->cpu[i].rec);
    for (size_t i = 0; i < mo->nlocks && !mo->err; i++)
        mo->locks[i].first_use_stack = pend_resolve(mo, mo->lock_first[i]);
    for (size_t i = 0; i < mo->nlsites && !mo->err; i++)
        mo->lsites[i].u.site.stack_id = pend_resolve(mo, mo->lsites[i].rec);
    for (size_t i = 0; i < mo->nthreads && !mo->err; i++)
        mo->threads[i].start_stack = pend_resolve(mo, mo->thread_rec[i]);
    if (mo->err)
        return mo->err;
    qsort(mo->cpu, mo->ncpu, sizeof *mo->cpu, cmp_cpu);
    size_t n = 0;
    for (size_t i = 0; i < mo->ncpu; i++) {
        pa_cpu_row_t *d = n ? &mo->cpu[n - 1].u.cpu : NULL, *s = &mo->cpu[i].u.cpu;
        if (d && d->stack_id == s->stack_id) {
            d->samples += s->samples;
            d->threads += s->threads;
        } else
            mo->cpu[n++] = mo->cpu[i];
    }
    mo->ncpu = n;
    return PA_OK;
}

/* The timing chunks of the last merged snapshot (at time), written before its SNAPSHOT chunk
 * as the shim writes them. */
static void write_timing(mo_t *mo, wr_t *w, buf_t *b, uint64_t time, uint64_t start)
{
    if (mo->has_threads) { /* start and end on the merged time axis */
        ps_row_threads_head_t h = mo->threads_head;
        h.time_ns = time;
        b->n = 0;
        PUT_ROW(b, THREADS_HEAD, &h);
        put_u32(b, (uint32_t)mo->nthreads);
        put_u32(b, PS_THREAD_ROW_SIZE);
        for (size_t i = 0; i < mo->nthreads; i++) {
            pa_thread_t x = mo->threads[i];
            const input_t *in = &mo->in[mo->thread_in[i]];
            x.start_ns = merged_time(in, start, x.start_ns);
            if (x.end_ns)
                x.end_ns = merged_time(in, start, x.end_ns);
            PUT_ROW(b, THREAD, &x);
        }
        chunk(w, PS_CHUNK_THREADS, b);
    }
    if (mo->has_latency) {
        ps_row_latency_head_t h = mo->lat_head;
        h.time_ns = time;
        b->n = 0;
        PUT_ROW(b, LATENCY_HEAD, &h);
        put_u32(b, (uint32_t)mo->nlat);
        for (size_t i = 0; i < mo->nlat; i++) {
            put_u32(b, mo->lat[i].op);
            put_u32(b, mo->lat[i].size_max);
            put_hist(b, &mo->lat[i]);
        }
        chunk(w, PS_CHUNK_LATENCY, b);
    }
    if (mo->has_zones) {
        ps_row_zones_head_t h = mo->zones_head;
        h.time_ns = time;
        b->n = 0;
        PUT_ROW(b, ZONES_HEAD, &h);
        put_u32(b, (uint32_t)mo->nzones);
        for (size_t i = 0; i < mo->nzones; i++) {
            put_str(b, mo->zones[i].name);
            put_u32(b, mo->zones[i].max_depth);
            put_hist(b, &mo->zones[i]);
        }
        chunk(w, PS_CHUNK_ZONES, b);
    }
    if (mo->has_locks) {
        ps_row_locks_head_t h = mo->locks_head;
        h.time_ns = time;
        b->n = 0;
        PUT_ROW(b, LOCKS_HEAD, &h);
        put_u32(b, (uint32_t)mo->nlocks);
        put_u32(b, PS_LOCK_ROW_SIZE_POSTS);
        for (size_t i = 0; i < mo->nlocks; i++)
            PUT_ROW(b, LOCK, &mo->locks[i]);
        put_u32(b, (uint32_t)mo->nlsites);
        put_u32(b, PS_LOCK_SITE_ROW_SIZE);
        for (size_t i = 0; i < mo->nlsites; i++)
            PUT_ROW(b, LOCK_SITE, &mo->lsites[i].u.site);
        chunk(w, PS_CHUNK_LOCKS, b);
    }
    if (mo->has_cpu && !mo->cpu_mixed) {
        ps_row_cpu_head_t h = mo->cpu_head;
        h.time_ns = time;
        b->n = 0;
        PUT_ROW(b, CPU_HEAD, &h);
        put_u32(b, (uint32_t)mo->ncpu);
        put_u32(b, PS_CPU_ROW_SIZE);
        for (size_t i = 0; i < mo->ncpu; i++)
            PUT_ROW(b, CPU, &mo->cpu[i].u.cpu);
        chunk(w, PS_CHUNK_CPU, b);
    }
}

static int write_snapshots(mo_t *mo, wr_t *w, uint64_t start)
{
    size_t ids = mo->st.nstacks + 1;
    rows_t r = {.ids = ids};
    r.cur = calloc(ids, sizeof *r.cur);
    r.written = calloc(ids, sizeof *r.written);
    r.dirty = calloc(ids, 1);
    r.dirty_list = calloc(ids, sizeof *r.dirty_list);
    uint64_t *key = calloc(mo->nin, sizeof *key);
    heap_t h = {.v = calloc(mo->nin, sizeof *h.v), .key = key};
    size_t *gone = calloc(mo->nin ? mo->nin : 1, sizeof *gone); /* inputs ended at a moment */
    buf_t b = {0};
    int rc = PA_ENOMEM;
    if (!r.cur || !r.written || !r.dirty || !r.dirty_list || !key || !h.v || !gone)
        goto out;
    for (size_t i = 0; i < mo->nin; i++) {
        if (mo->in[i].nevents) {
            key[i] = event_time(&mo->in[i], start);
            heap_push(&h, i);
        }
    }
    mark_ended(mo, start);
    pa_totals_t tot = {0};
    uint32_t flags = 0;
    uint64_t last_time = 0;
    size_t written = 0;
    while (h.n) {
        uint64_t time = key[h.v[0]];
        uint32_t reason = 0;
        size_t ngone = 0;
        while (h.n && key[h.v[0]] == time) { /* every event of this moment */
            size_t i = heap_pop(&h);
            input_t *in = &mo->in[i];
            ev_head_t e = apply_event(in, &r);
            totals_add(&tot, &e.totals, &in->last);
            in->last = e.totals;
            /* the exec flag says that one process went on as another program: not so of
             * the merged run, whose reports would say "ended: by exec" from then on */
            flags |= e.flags & ~(uint32_t)PS_SNAP_F_EXEC;
            reason = e.reason;
            if (in->nevents) {
                key[i] = event_time(in, start);
                heap_push(&h, i);
            } else if (in->ends_early) {
                gone[ngone++] = i;
            }
        }
        if (!h.n)
            write_timing(mo, w, &b, time, start);
        if (!written || !h.n)
            write_full(w, &r, &b, time, reason, flags, &tot);
        else
            write_packed(w, &r, &b, last_time, time, reason, flags, &tot);
        last_time = time;
        written++;
        /* a process that ended: its RSS went back to the system after this moment (its live
         * blocks stay in the rows and totals: at its end they are its leaks) */
        for (size_t k = 0; k < ngone; k++) {
            input_t *in = &mo->in[gone[k]];
            tot.rss_bytes -= in->last.rss_bytes;
            in->last.rss_bytes = 0;
        }
    }
    if (mo->has_kinds) { /* the exit snapshots' classes, at the last merged snapshot */
        qsort(mo->kinds, mo->nkinds, sizeof *mo->kinds, cmp_kind);
        size_t n = 0;
        for (size_t i = 0; i < mo->nkinds; i++) {
            if (n && mo->kinds[n - 1].id == mo->kinds[i].id &&
                mo->kinds[n - 1].kind == mo->kinds[i].kind) {
                mo->kinds[n - 1].blocks += mo->kinds[i].blocks;
                mo->kinds[n - 1].bytes += mo->kinds[i].bytes;
            } else
                mo->kinds[n++] = mo->kinds[i];
        }
        ps_row_leak_kinds_head_t kh = mo->kinds_head;
        kh.time_ns = last_time;
        b.n = 0;
        PUT_ROW(&b, LEAK_KINDS_HEAD, &kh);
        put_u32(&b, (uint32_t)n);
        put_u32(&b, PS_LEAK_KIND_ROW_SIZE);
        for (size_t i = 0; i < n; i++) {
            ps_row_leak_kind_t row = {.stack_id = mo->kinds[i].id,
                                      .kind = mo->kinds[i].kind,
                                      .blocks = mo->kinds[i].blocks,
                                      .bytes = mo->kinds[i].bytes};
            PUT_ROW(&b, LEAK_KIND, &row);
        }
        chunk(w, PS_CHUNK_LEAK_KINDS, &b);
    }
    if (mo->has_advice)
        write_advice(mo, w, &b, last_time);
    uint64_t dropped = 0;
    for (size_t i = 0; i < mo->nin; i++)
        dropped += mo->in[i].dropped;
    ps_row_end_t end = {.chunk_count = w->chunks, .dropped_events = dropped};
    b.n = 0;
    PUT_ROW(&b, END, &end);
    chunk(w, PS_CHUNK_END, &b);
    rc = b.oom ? PA_ENOMEM : PA_OK;
out:
    free(b.p);
    free(r.cur);
    free(r.written);
    free(r.dirty);
    free(r.dirty_list);
    free(key);
    free(h.v);
    free(gone);
    return rc;
}

static void mo_free(mo_t *mo)
{
    for (size_t i = 0; i < mo->nin; i++)
        free(mo->in[i].events.p);
    free(mo->in);
    free(mo->members.p);
    if (mo->have_first)
        free_process_copy(&mo->first);
    free(mo->map);
    free(mo->prev);
    free(mo->mod_of);
    free(mo->scratch);
    free(mo->inh);
    free(mo->kinds);
    free(mo->adv);
    pmod_t *x, *tmp;
    HASH_ITER(hh, mo->pmods, x, tmp)
    {
        HASH_DEL(mo->pmods, x);
        free(x->key);
        free(x->mod.path);
        free(x->mod.build_id);
        free(x);
    }
    free(mo->pmod_list);
    free(mo->pend);
    free(mo->pmap);
    free(mo->pmod_of);
    free(mo->cpu);
    free(mo->locks);
    free(mo->lock_first);
    free(mo->lsites);
    free(mo->lat);
    free(mo->zones);
    free(mo->threads);
    free(mo->thread_rec);
    free(mo->thread_in);
    mstacks_free(&mo->st);
}

int pa_mergeout(char *const *paths, size_t n, const char *out, bool quiet)
{
    struct stat so, st;
    bool exists = stat(out, &so) == 0;
    for (size_t i = 0; exists && i < n; i++)
        if (stat(paths[i], &st) == 0 && st.st_dev == so.st_dev && st.st_ino == so.st_ino) {
            pa_msg_error("merge: the output %s is one of the traces: not overwritten", out);
            return PA_EUSAGE;
        }
    mo_t mo = {0};
    if (!(mo.in = calloc(n, sizeof *mo.in)))
        return PA_ENOMEM;
    mo.nin = n;
    int rc = PA_OK;
    for (size_t i = 0; i < n && rc == PA_OK; i++) {
        mo.in[i].path = paths[i];
        rc = read_input(&mo, i, quiet);
    }
    if (rc == PA_OK && (rc = resolve_timing(&mo)) != PA_OK)
        pa_msg_error("merge: out of memory");
    if (rc != PA_OK) {
        mo_free(&mo);
        return rc;
    }
    if (mo.cpu_mixed)
        pa_msg_warn("merge: the inputs sampled CPU time at different rates (PERFSHIM_CPU_HZ): "
                    "their CPU samples are not carried");
    /* one time axis: the earliest process start */
    uint64_t start = UINT64_MAX;
    for (size_t i = 0; i < n; i++)
        if (mo.in[i].realtime && mo.in[i].realtime < start)
            start = mo.in[i].realtime;
    if (start == UINT64_MAX)
        start = 0;
    /* a temporary file next to the output, renamed over it once complete; but an output that
     * is not a regular file (/dev/null, a FIFO, /dev/stdout) is written in place: a rename
     * would replace the device or the pipe with a regular file (as root, /dev/null itself) */
    struct stat ost;
    bool in_place = stat(out, &ost) == 0 && !S_ISREG(ost.st_mode);
    size_t len = strlen(out);
    char *tmp = malloc(len + 16);
    if (!tmp) {
        mo_free(&mo);
        return PA_ENOMEM;
    }
    snprintf(tmp, len + 16, "%s.tmpXXXXXX", out);
    int fd = in_place ? open(out, O_WRONLY | O_CLOEXEC | O_NOCTTY) : mkstemp(tmp);
    FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (!f) {
        pa_msg_error("merge: cannot write %s: %s", out, strerror(errno));
        if (fd >= 0) {
            close(fd);
            if (!in_place)
                unlink(tmp);
        }
        free(tmp);
        mo_free(&mo);
        return PA_EIO;
    }
    wr_t w = {.f = f};
    uint8_t hdr[PS_TRACE_FILE_HEADER_SIZE] = {0};
    memcpy(hdr, PS_TRACE_MAGIC, PS_TRACE_MAGIC_LEN);
    hdr[8] = PS_TRACE_VERSION & 0xff;
    hdr[9] = PS_TRACE_VERSION >> 8;
    hdr[12] = PS_TRACE_FILE_HEADER_SIZE;
    if (fwrite(hdr, 1, sizeof hdr, f) != sizeof hdr)
        w.failed = true;
    write_head(&mo, &w, start);
    rc = write_snapshots(&mo, &w, start);
    mo_free(&mo);
    int saved = errno;
    if (fflush(f) != 0 || ferror(f))
        w.failed = true, saved = errno;
    if (fclose(f) != 0 && !w.failed)
        w.failed = true, saved = errno;
    if (rc == PA_OK && w.failed) {
        pa_msg_error("merge: cannot write %s: %s", out, saved ? strerror(saved) : "write failed");
        rc = PA_EIO;
    } else if (rc == PA_ENOMEM) {
        pa_msg_error("merge: out of memory while writing %s", out);
    }
    if (rc == PA_OK && !in_place && rename(tmp, out) != 0) {
        pa_msg_error("merge: cannot rename %s to %s: %s", tmp, out, strerror(errno));
        rc = PA_EIO;
    }
    if (rc != PA_OK && !in_place)
        unlink(tmp);
    free(tmp);
    return rc;
}

const char pa_mergeout_help[] =
    "Usage: perfshim merge -o OUT TRACE...\n"
    "\n"
    "Write the traces of many processes (the workers of a server, the compilers of a build,\n"
    "the same service on several hosts) as one trace OUT that every report reads as one\n"
    "process: the same call site in every process is one stack, the snapshots of all of them\n"
    "are on one time axis (each process's start time), and the counters at each moment are\n"
    "the sum of each process's latest. Merging merged traces merges their processes. CPU\n"
    "samples, locks, latency, zones and threads are carried (summed, or appended per process);\n"
    "the pool and ages are not (see each process's trace).\n"
    "\n"
    "Options:\n"
    "  -o, --output OUT   the merged trace (written whole or not at all; never one of the\n"
    "                     inputs)\n"
    "  -q, --quiet        do not print the inputs' damage warnings\n"
    "  -h, --help         show this help\n"
    "\n"
    "Exit status: 0 written; 2 usage error, an unreadable input or a write error.\n";

int pa_mergeout_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"output", required_argument, NULL, 'o'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *out = NULL;
    bool quiet = false;
    int c;
    /* options anywhere on the line (`merge *.trace -o all.trace`), as every other command
     * takes them; a missing value is said as such (':') */
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'o':
            out = optarg;
            break;
        case 'q':
            quiet = true;
            break;
        case 'h':
            fputs(pa_mergeout_help, stdout);
            return PA_EXIT_OK;
        case ':':
            pa_msg_error("merge: option '%s' needs a value", argv[optind - 1]);
            return PA_EXIT_USAGE;
        default:
            pa_msg_error("merge: unknown option '%s'; see 'perfshim help merge'", argv[optind - 1]);
            return PA_EXIT_USAGE;
        }
    }
    if (!out || !*out) {
        pa_msg_error("merge: no output given (-o OUT); see 'perfshim help merge'");
        return PA_EXIT_USAGE;
    }
    if (optind >= argc) {
        pa_msg_error("merge: no trace file given; see 'perfshim help merge'");
        return PA_EXIT_USAGE;
    }
    /* the pieces of one process's trace each hold its whole state: its latest one is merged */
    pa_strlist_t latest = {0};
    int rc = pa_pieces_latest_only(argv + optind, (size_t)(argc - optind), &latest);
    if (rc != PA_OK)
        pa_msg_error("merge: out of memory");
    else
        rc = pa_mergeout(latest.items, latest.n, out, quiet);
    pa_strlist_free(&latest);
    return rc == PA_OK ? PA_EXIT_OK : PA_EXIT_USAGE;
}
