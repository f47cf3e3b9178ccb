/* SPDX-License-Identifier: MIT */
/*
 * export.c — `perfshim export --format pprof|folded|speedscope [--metric M] [-o FILE] TRACE...`:
 * the command line, the gathering of the traces' sites, and the text writers (folded stacks,
 * speedscope JSON, the export's own JSON: docs/json-schema.md). pprof.c writes the pprof profile.
 *
 * Gathering: each trace is loaded and symbolized in turn and freed before the next, as merge.c
 * does for `leaks --merge`: its heap rows, lock sites and CPU samples, each keyed by the visible
 * frames of its stack as pa_stackview_t.key serializes them (merge.c's key, and the groups of
 * pa_report_group), so that the same call site in several processes is one site. The stacks are
 * walked on the model's frame tree, each node's address symbolized once into frames of one table
 * (pa_xprof_t.frames, strings interned); a site's frames, those of the first stack seen with its
 * key, are a chain of a tree of them (pa_xprof_t.nodes: the sites of a trace share the nodes of
 * their outer frames), and each frame used by a site gets its module's mapping (path and
 * build-id, for pprof's Mappings). No key string and no frame is copied per site: on a compile's
 * trace (124k sites, 5M frames) this took export from 670 MB to 200 MB, and the tree its 5M
 * frame indices (19 MB) to 0.95M nodes (7.6 MB; docs/performance.md). The writers number what
 * they write once per frame of the table (pa_export_memo).
 *
 * Must not: keep a trace or its symbolizer past its turn; write a partial file silently.
 */
#include "export.h"

#include "hot.h"
#include "leaks.h"
#include "locks.h"
#include "model.h"
#include "pieces.h"
#include "report.h"
#include "summary.h"
#include "suppress.h"
#include "timeline.h"

#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const pa_xmetric_t pa_xmetrics[PA_X_NMETRICS] = {
    {"inuse_space", "bytes", PA_X_HEAP},  {"inuse_objects", "count", PA_X_HEAP},
    {"alloc_space", "bytes", PA_X_HEAP},  {"alloc_objects", "count", PA_X_HEAP},
    {"contentions", "count", PA_X_LOCKS}, {"delay", "nanoseconds", PA_X_LOCKS},
    {"samples", "count", PA_X_CPUPROF},   {"cpu", "nanoseconds", PA_X_CPUPROF},
};
const int pa_xkind_first[PA_X_NKINDS] = {PA_X_INUSE_SPACE, PA_X_CONTENTIONS, PA_X_SAMPLES};
const int pa_xkind_count[PA_X_NKINDS] = {4, 2, 2};

static const char *const kind_names[PA_X_NKINDS] = {"heap", "locks", "cpu"};
/* The metric a kind's name picks (--metric heap|locks|cpu). */
static const int kind_default[PA_X_NKINDS] = {PA_X_INUSE_SPACE, PA_X_DELAY, PA_X_CPU};

const char pa_export_help[] =
    "Usage: perfshim export [OPTIONS] TRACE...\n"
    "\n"
    "Write the profile of the traces in a format other tools read. Several traces are merged:\n"
    "call sites with the same symbolized stack are one site.\n"
    "\n"
    "Options:\n"
    "      --format F    pprof (default): a gzip'd profile.proto for go tool pprof, Pyroscope,\n"
    "                    Parca; folded: 'frame;frame;frame N' lines, root first, for\n"
    "                    flamegraph.pl and inferno; speedscope: speedscope's JSON file format;\n"
    "                    json: every stack with all the metrics, and each trace's reports\n"
    "                    (summary, leaks, locks, hot, timeline; docs/json-schema.md)\n"
    "      --metric M    inuse_space (default), inuse_objects, alloc_space, alloc_objects,\n"
    "                    contentions, delay, samples, cpu; or heap, locks, cpu. pprof and\n"
    "                    speedscope hold every metric of M's kind (heap, locks or cpu), M first\n"
    "                    shown; folded holds M only; json all eight\n"
    "      --at TIME|last|max   the snapshot exported (see leaks --help; default: last)\n"
    "  -o, --output FILE write to FILE (default: standard output for folded, speedscope, json;\n"
    "                    perfshim.pb.gz for pprof; '-' is standard output)\n"
    "  -h, --help        show this help\n"
    "\n"
    "Sampled traces (PERFSHIM_SAMPLE) hold estimates, exported as they are (unsampled, as\n"
    "pprof expects). See docs/analyzer.md, \"Export\".\n";

typedef enum { FMT_PPROF, FMT_FOLDED, FMT_SPEEDSCOPE, FMT_JSON } format_t;

/* ---- gathering ---------------------------------------------------------------------------- */

/* An interned string: the frames of all the sites share one copy of each function, file and
 * module name (a program's stacks repeat them thousands of times). */
struct pa_xstr {
    UT_hash_handle hh;
    char s[];
};

/* The interned copy of s (NULL for NULL); *failed set when out of memory. */
static const char *intern(pa_xprof_t *p, const char *s, bool *failed)
{
    if (!s)
        return NULL;
    size_t len = strlen(s);
    struct pa_xstr *e;
    HASH_FIND(hh, p->strings, s, len, e);
    if (e)
        return e->s;
    if (!(e = malloc(sizeof *e + len + 1))) {
        *failed = true;
        return NULL;
    }
    memset(e, 0, sizeof *e);
    memcpy(e->s, s, len + 1);
    HASH_ADD_KEYPTR(hh, p->strings, e->s, len, e);
    return e->s;
}

static void prof_free(pa_xprof_t *p)
{
    free(p->sites);
    free(p->site_index);
    free(p->frames); /* their strings are interned */
    free(p->nodes);
    free(p->site_frames);
    struct pa_xstr *e, *etmp;
    HASH_ITER(hh, p->strings, e, etmp)
    {
        HASH_DEL(p->strings, e);
        free(e);
    }
    for (size_t i = 0; i < p->nmaps; i++) {
        free(p->maps[i].path);
        free(p->maps[i].build_id);
    }
    free(p->maps);
    pa_strlist_free(&p->paths);
    free(p->pids);
    free(p->ppids);
    pa_strlist_free(&p->programs);
    free(p->program_copy);
    if (p->reports && !p->doc) /* (with doc, the output: the caller's) */
        fclose(p->reports);
    free(p->reports_end);
}

/* The mapping of module m (added on first sight): its index + 1, or 0 (no memory). */
static uint32_t map_get(pa_xprof_t *p, const pa_module_t *m)
{
    for (size_t i = 0; i < p->nmaps; i++) {
        const pa_xmap_t *x = &p->maps[i];
        if (strcmp(x->path, m->path) == 0 && x->build_id_len == m->build_id_len &&
            (!m->build_id_len || memcmp(x->build_id, m->build_id, m->build_id_len) == 0))
            return (uint32_t)i + 1;
    }
    if (pa_util_grow((void **)&p->maps, &p->maps_cap, p->nmaps + 1, sizeof *p->maps) != PA_OK)
        return 0;
    pa_xmap_t *x = &p->maps[p->nmaps];
    memset(x, 0, sizeof *x);
    if (!(x->path = pa_util_strdup(m->path)))
        return 0;
    if (m->build_id_len) {
        if (!(x->build_id = malloc(m->build_id_len))) {
            free(x->path);
            return 0;
        }
        memcpy(x->build_id, m->build_id, m->build_id_len);
        x->build_id_len = m->build_id_len;
    }
    x->start = m->start;
    x->end = m->end;
    x->base = m->base;
    return (uint32_t)++p->nmaps;
}

/* ---- frames and sites ---------------------------------------------------------------------------
 * A trace's stacks are walked on the model's frame tree: each node's address is symbolized once
 * (its frames made into pa_xframe_t's, addr_frames), and a stack is the frames of the nodes from
 * its leaf out (each walk stops where a chain made before holds the rest: site_get). A site's
 * key is what pa_report_stack_view() serializes of its visible frames:
 * per frame, function, file, line and inlined (module and offset when unresolved), compared
 * here by the interned strings' pointers, and a KEY_* marker (the special member) for stacks
 * without frames or cut short. The views' rules for hiding frames are report.c's: shim frames
 * anywhere, then leading operator new (or lock wrapper) frames unless nothing else is left. */

/* pa_xframe_t.flags: what the views hide, and whether the frame's mapping is set */
enum { PA_XF_SHIM = 1, PA_XF_ALLOCATOR = 2, PA_XF_LOCK_WRAPPER = 4, PA_XF_MAPPED = 8 };
/* The part of a key that is not a frame (report.c's KEY_NO_STACK, KEY_MISSING, KEY_EMPTY: the
 * whole key; KEY_CUT: after the frames). */
enum { PA_XS_NONE, PA_XS_NO_STACK, PA_XS_MISSING, PA_XS_EMPTY, PA_XS_CUT };

static uint64_t mix(uint64_t h, uint64_t v)
{
    h = (h ^ v) * 0x9e3779b97f4a7c15u;
    return h ^ h >> 29;
}

/* The file as a key reads it: no file and "" are the same ("" then). */
static const char *key_file(const char *file)
{
    return file && *file ? file : NULL;
}

/* The hash of a frame's key piece (the fields serialize_frame writes). */
static uint64_t piece_hash(const pa_frame_t *f)
{
    if (f->function)
        return mix(mix(mix(mix(1, (uintptr_t)f->function), (uintptr_t)key_file(f->file)), f->line),
                   f->inlined);
    return mix(mix(2, (uintptr_t)f->module), f->offset);
}

/* Equal key pieces (strings interned: equal strings are one pointer). */
static bool piece_eq(const pa_frame_t *a, const pa_frame_t *b)
{
    if (!a->function || !b->function)
        return !a->function && !b->function && a->module == b->module && a->offset == b->offset;
    return a->function == b->function && key_file(a->file) == key_file(b->file) &&
           a->line == b->line && a->inlined == b->inlined;
}

/* One trace's walk: the frames of each address, and the stack being keyed. */
typedef struct {
    pa_trace_t *t;
    pa_symbols_t *syms;
    uint32_t *scratch; /* the stack being keyed: its visible frames, innermost first */
    size_t scratch_cap;
    /* by address: its frames (addr_frames), open addressing, 0 an empty slot: the nodes of a
     * trace's frame tree are many more than its addresses (a program's 100k stacks through
     * one recursive function: 2M nodes, a few hundred addresses; a compile's 127k stacks, 1M
     * nodes and 12k addresses), so a node's frames are found by its address in this table,
     * which stays in the cache, rather than kept per node (5 bytes a node) */
    struct addr_slot {
        uint64_t addr;
        uint32_t first; /* index into pa_xprof_t.frames + 1 */
        uint32_t n;
    } * addrs;
    size_t addrs_n, addrs_cap;
    /* by address index of the trace's frame tree (pa_model_frame_aix): what addrs holds of that
     * address, found without hashing it (a compile's stacks reach 10M nodes, of 12k addresses:
     * 8 bytes each); made on the index's first sight */
    struct aix_frames {
        uint32_t first; /* index into pa_xprof_t.frames + 1; 0: not seen yet */
        uint8_t n;      /* its frames (addr_frames keeps at most 255) */
        uint8_t flags;  /* its frames' PA_XF_* flags or'ed, and AF_CUT: the address is a cut */
    } * aixf;
    pa_stackview_t view; /* for the notes of the rare stacks without visible frames */
    /* The memo of the walks (site_get): a stack's visible frames from a frame node out are the
     * same in every stack through that node, and the chain of tree nodes (pa_xprof_t.nodes) of
     * the first site made through it holds them, so a stack is walked from its leaf to the first
     * node some earlier site's chain holds, and a new site's nodes are added on top of that
     * chain. A compile's 127k rows reach 5.05M frame nodes of 1.0M: about 9 new ones a row. The
     * first node a walk finds known is one where two walks meet (reached from two callees, or a
     * stack's leaf and a callee's caller): only those are kept (run_meet, at most one a stack),
     * 0.5 MB on a compile rather than 4 bytes for every node. The chains hold the shim's frames
     * or not as the walks' views hide them (run_shim): a walk that shows them starts afresh. */
    uint64_t *run_meet; /* bitmap by frame node: where two walks can meet */
    uint32_t *run_rank; /* by word of run_meet: the bits set in the words before it */
    uint32_t *run;      /* by meeting node, in node order: its chain's first node + 1, RUN_CUT;
                         * 0: not known yet */
    uint64_t *run_hash; /* by meeting node: its chain's chain_hash | its length */
    size_t nrun;
    bool run_ready; /* run_init was called (run NULL then: every stack walked whole) */
    bool run_shim;  /* the chains of run hold the shim's frames */
    struct wnode {  /* the frame nodes of one walk (site_get), innermost first */
        uint32_t node;
        uint32_t start; /* where its frames begin in scratch; WNODE_CUT: the node is a cut */
        uint64_t hash;  /* the chain_hash of its frames out (unless hidden as leading frames) */
    } * wnodes;
    size_t wnodes_cap;
} walk_t;

enum { AF_CUT = 0x80 }; /* (above the PA_XF_* flags) */
_Static_assert((int)PA_XF_MAPPED < (int)AF_CUT, "AF_CUT is none of the PA_XF_* flags");
_Static_assert(PA_XS_CUT < 256 && sizeof(pa_xsite_t) == 80, "a site's special is 8 bits");

/* The slot of address addr in w->addrs (its own, or the empty one where it goes). */
static struct addr_slot *addr_slot(walk_t *w, uint64_t addr)
{
    size_t mask = w->addrs_cap - 1, i = (size_t)((addr * 0x9e3779b97f4a7c15u) >> 20) & mask;
    while (w->addrs[i].first && w->addrs[i].addr != addr)
        i = (i + 1) & mask;
    return &w->addrs[i];
}

/* The frames of address addr of the walk's trace (*first: index into pa_xprof_t.frames, *n of
 * them), made on the address's first sight. */
static int addr_frames(pa_xprof_t *p, walk_t *w, uint64_t addr, uint32_t *first, uint32_t *n)
{
    struct addr_slot *a = w->addrs_cap ? addr_slot(w, addr) : NULL;
    if (a && a->first) { /* (the common case: an address seen before) */
        *first = a->first - 1;
        *n = a->n;
        return PA_OK;
    }
    if ((w->addrs_n + 1) * 2 > w->addrs_cap) { /* at most half full */
        size_t cap = w->addrs_cap ? w->addrs_cap * 2 : 1024;
        struct addr_slot *old = w->addrs;
        size_t old_cap = w->addrs_cap;
        if (!(w->addrs = calloc(cap, sizeof *w->addrs))) {
            w->addrs = old;
            return PA_ENOMEM;
        }
        w->addrs_cap = cap;
        for (size_t i = 0; i < old_cap; i++)
            if (old[i].first)
                *addr_slot(w, old[i].addr) = old[i];
        free(old);
        a = addr_slot(w, addr);
    }
    const pa_frame_t *fr;
    size_t nf;
    if (pa_symbols_lookup(w->syms, addr, &fr, &nf) != PA_OK)
        return PA_ENOMEM;
    if (nf > 255)
        nf = 255;
    if (pa_util_grow((void **)&p->frames, &p->frames_cap, p->nframes + nf, sizeof *p->frames) !=
            PA_OK ||
        p->nframes + nf >= UINT32_MAX)
        return PA_ENOMEM;
    bool failed = false;
    for (size_t k = 0; k < nf; k++) {
        pa_xframe_t *x = &p->frames[p->nframes + k];
        memset(x, 0, sizeof *x);
        x->f = fr[k];
        x->f.function = intern(p, fr[k].function, &failed);
        x->f.file = intern(p, fr[k].file, &failed);
        x->f.module = intern(p, fr[k].module, &failed);
        x->hash = piece_hash(&x->f);
        x->flags = (pa_report_frame_is_shim(&fr[k]) ? PA_XF_SHIM : 0) |
                   (pa_report_frame_is_allocator(&fr[k]) ? PA_XF_ALLOCATOR : 0) |
                   (pa_report_frame_is_lock_wrapper(&fr[k]) ? PA_XF_LOCK_WRAPPER : 0);
    }
    if (failed)
        return PA_ENOMEM;
    *a = (struct addr_slot){addr, (uint32_t)p->nframes + 1, (uint32_t)nf};
    w->addrs_n++;
    *first = (uint32_t)p->nframes;
    *n = (uint32_t)nf;
    p->nframes += nf;
    return PA_OK;
}

/* Learns what the walk's aixf holds of address index aix (node_frames). */
static int aix_learn(pa_xprof_t *p, walk_t *w, uint32_t aix)
{
    if (!w->aixf &&
        !(w->aixf = calloc(w->t->frames.naddrs ? w->t->frames.naddrs : 1, sizeof *w->aixf)))
        return PA_ENOMEM;
    struct aix_frames *a = &w->aixf[aix];
    if (a->first || a->flags)
        return PA_OK;
    uint64_t addr = w->t->frames.addrs[aix];
    if (addr == PS_FRAME_CUT) { /* the shim could not walk further (libunwind) */
        a->flags = AF_CUT;
        return PA_OK;
    }
    uint32_t first, nf;
    if (addr_frames(p, w, addr, &first, &nf) != PA_OK)
        return PA_ENOMEM;
    a->first = first + 1;
    a->n = (uint8_t)nf;
    for (uint32_t k = first; k < first + nf; k++)
        a->flags |= p->frames[k].flags;
    return PA_OK;
}

/* What the walk knows of node's address: its frames, or AF_CUT. */
static inline int node_frames(pa_xprof_t *p, walk_t *w, uint32_t node,
                              const struct aix_frames **out)
{
    uint32_t aix = pa_model_frame_aix(w->t, node);
    if ((!w->aixf || !w->aixf[aix].first) && aix_learn(p, w, aix) != PA_OK)
        return PA_ENOMEM;
    *out = &w->aixf[aix];
    return PA_OK;
}

/* Appends the frames of a node's address `a` (not a cut) to w->scratch, after the *n there, but
 * the shim's own with hide_shim. */
static int node_push(pa_xprof_t *p, walk_t *w, const struct aix_frames *a, bool hide_shim,
                     size_t *n)
{
    uint32_t first = a->first - 1, nf = a->n;
    if (*n + nf > w->scratch_cap &&
        pa_util_grow((void **)&w->scratch, &w->scratch_cap, *n + nf, sizeof *w->scratch) != PA_OK)
        return PA_ENOMEM;
    if (hide_shim && (a->flags & PA_XF_SHIM)) { /* (the shim's own addresses) */
        for (uint32_t k = first; k < first + nf; k++)
            if (!(p->frames[k].flags & PA_XF_SHIM))
                w->scratch[(*n)++] = k;
    } else {
        for (uint32_t k = first; k < first + nf; k++)
            w->scratch[(*n)++] = k;
    }
    return PA_OK;
}

/* A site's key is hashed from its outermost frame in (so that a chain of frames has one hash
 * whatever is inward of it, and a walk resumes from the hash its memo kept): the hash of a
 * chain with one more frame inward, its low 24 bits 0 (the memo keeps a chain's length there),
 * and the key's from its frames' chain and its special part. */
#define CHAIN_HASH0 ((uint64_t)0x5bd1e995u << 32)
static inline uint64_t chain_hash(uint64_t h, const pa_xframe_t *f)
{
    return mix(h, f->hash) & ~(uint64_t)0xffffff;
}
static inline uint64_t key_hash(uint64_t chain, uint32_t special)
{
    return mix(chain, special) | 1; /* (never 0) */
}

/* Whether site s's key is the n frames fresh[0, nfresh) then outer's chain, and `special`. */
static bool site_eq(const pa_xprof_t *p, const pa_xsite_t *s, const uint32_t *fresh, size_t nfresh,
                    uint32_t outer, size_t n, uint32_t special)
{
    if (s->nframes != n || s->special != special)
        return false;
    const pa_xnode_t *nodes = p->nodes;
    uint32_t node = s->leaf;
    for (size_t i = 0; i < nfresh; i++, node = nodes[node].caller) {
        uint32_t x = nodes[node].frame;
        if (x != fresh[i] && !piece_eq(&p->frames[x].f, &p->frames[fresh[i]].f))
            return false;
    }
    /* as many frames in both chains: they end at the root together, or meet before */
    for (uint32_t o = outer; node != o; node = nodes[node].caller, o = nodes[o].caller)
        if (nodes[node].frame != nodes[o].frame &&
            !piece_eq(&p->frames[nodes[node].frame].f, &p->frames[nodes[o].frame].f))
            return false;
    return true;
}

#define RUN_CUT 0x80000000u /* in walk_t.run: the frames from the node out hold a cut */

/* The site whose key is the n frames fresh[0, nnew) then outer's chain (of a site made before:
 * its frames mapped then), and special part `special` (chain: the frames' chain_hash), of stack
 * `id` viewed with `hide`; made if new (*made set), with nnew new nodes for fresh on outer's
 * chain (the last one made is its leaf), each frame mapped on its first use by a site. NULL:
 * no memory. */
static pa_xsite_t *site_put(pa_xprof_t *p, walk_t *w, uint32_t id, unsigned hide,
                            const uint32_t *fresh, size_t nnew, uint32_t outer, size_t n,
                            uint64_t chain, uint32_t special, bool noted, bool *made)
{
    *made = false;
    uint64_t h = key_hash(chain, special);
    if (p->site_index_cap) {
        size_t mask = p->site_index_cap - 1, i = pa_tix_first(h, p->site_index_cap);
        for (uint64_t e; (e = p->site_index[i]); i = (i + 1) & mask)
            if (PA_TIX_TAG(e) == PA_TIX_TAG(h) &&
                site_eq(p, &p->sites[(uint32_t)e - 1], fresh, nnew, outer, n, special))
                return &p->sites[(uint32_t)e - 1];
    }
    /* (nodes below RUN_CUT: a walk's memo marks its cuts in the top bit) */
    size_t nn = p->nnodes ? p->nnodes : 1; /* node 0: the root */
    if (p->nsites >= UINT32_MAX - 1 || n >= (1u << 24) || nn + nnew >= RUN_CUT - 1 ||
        pa_tix_reserve(&p->site_index, &p->site_index_cap, p->nsites + 1) != PA_OK ||
        pa_util_grow((void **)&p->sites, &p->sites_cap, p->nsites + 1, sizeof *p->sites) != PA_OK ||
        pa_util_grow((void **)&p->nodes, &p->nodes_cap, nn + nnew, sizeof *p->nodes) != PA_OK ||
        pa_util_grow((void **)&p->site_frames, &p->site_frames_cap, n ? n : 1,
                     sizeof *p->site_frames) != PA_OK)
        return NULL;
    pa_xsite_t *s = &p->sites[p->nsites];
    memset(s, 0, sizeof *s);
    s->nframes = (uint32_t)n & 0xffffffu;
    s->special = special;
    bool failed = false;
    if (noted) { /* the view's note (report.c's wording) */
        if (pa_report_stack_view(w->t, w->syms, id, hide, &w->view) != PA_OK)
            return NULL;
        s->note = intern(p, w->view.note, &failed);
    }
    /* the new nodes, outermost first: fresh[nnew - 1] is node nn, fresh[0] node nn + nnew - 1 */
    p->nodes[0] = (pa_xnode_t){0, 0};
    uint32_t node = outer;
    for (size_t i = nnew; i-- > 0;) {
        p->nodes[nn] = (pa_xnode_t){fresh[i], node};
        node = (uint32_t)nn++;
    }
    s->leaf = n ? node : 0;
    /* the mapping of each frame, on its first use by a site */
    for (size_t i = 0; i < nnew && !failed; i++) {
        pa_xframe_t *x = &p->frames[fresh[i]];
        if (x->flags & PA_XF_MAPPED)
            continue;
        x->flags |= PA_XF_MAPPED;
        const pa_module_t *m = pa_model_module_at(w->t, x->f.address);
        if (m && m->path && !(x->map = map_get(p, m)))
            failed = true;
        else if (x->map && !x->f.function)
            p->maps[x->map - 1].unresolved = true;
    }
    if (failed)
        return NULL;
    p->nnodes = nn;
    pa_tix_put(p->site_index, p->site_index_cap, h, (uint32_t)++p->nsites);
    *made = true;
    return s;
}

/* node's slot in w->run, or NULL when no two walks meet there (or nothing is kept). */
static inline uint32_t *run_slot(const walk_t *w, uint32_t node)
{
    if (!w->run)
        return NULL;
    uint64_t bits = w->run_meet[node >> 6], bit = (uint64_t)1 << (node & 63);
    if (!(bits & bit))
        return NULL;
    return &w->run[w->run_rank[node >> 6] + (uint32_t)__builtin_popcountll(bits & (bit - 1))];
}
#define WNODE_CUT 0x80000000u /* in struct wnode.start */

/* Frees the walks' memo (run_init). */
static void run_free(walk_t *w)
{
    free(w->run_meet);
    free(w->run_rank);
    free(w->run);
    free(w->run_hash);
    free(w->wnodes);
    w->run_meet = NULL;
    w->run_rank = NULL;
    w->run = NULL;
    w->run_hash = NULL;
    w->wnodes = NULL;
    w->wnodes_cap = 0;
}

/* For run_init: that node x is reached (once: its bit in once; again: in meet). */
static inline void run_reach(uint64_t *once, uint64_t *meet, uint32_t x)
{
    uint64_t bit = (uint64_t)1 << (x & 63);
    if (once[x >> 6] & bit)
        meet[x >> 6] |= bit;
    once[x >> 6] |= bit;
}

/* For run_init: that the leaf of stack `id` is reached. */
static void run_reach_leaf(const pa_trace_t *t, uint64_t *once, uint64_t *meet, uint32_t id)
{
    const pa_stack_t *st = id ? pa_model_stack(t, id) : NULL;
    if (st && st->leaf)
        run_reach(once, meet, st->leaf);
}

/* Finds the frame nodes where two walks of the trace's stacks (the snapshot's rows, the lock
 * sites and the CPU rows: those a report keys) meet (walk_t.run_meet) and makes their slots;
 * leaves w->run NULL without the memory (then every stack is walked whole). */
static void run_init(walk_t *w)
{
    const pa_trace_t *t = w->t;
    w->run_ready = true;
    if (!t->frames.n)
        return;
    size_t words = t->frames.n / 64 + 1, nmeet = 0;
    uint64_t *once = calloc(words, sizeof *once);
    w->run_meet = calloc(words, sizeof *w->run_meet);
    w->run_rank = malloc(words * sizeof *w->run_rank);
    if (!once || !w->run_meet || !w->run_rank) {
        free(once);
        run_free(w);
        return;
    }
    for (size_t r = 0; r < t->snap.nrows; r++)
        run_reach_leaf(t, once, w->run_meet, t->snap.rows[r].stack_id);
    for (size_t i = 0; t->has_locks && i < t->locks.nsites; i++)
        run_reach_leaf(t, once, w->run_meet, t->locks.sites[i].stack_id);
    for (size_t i = 0; t->has_cpu && i < t->cpu.n; i++)
        run_reach_leaf(t, once, w->run_meet, t->cpu.rows[i].stack_id);
    for (uint32_t x = 1; x < t->frames.n; x++) { /* each node's caller */
        uint32_t c = pa_model_frame_caller(t, x);
        if (c)
            run_reach(once, w->run_meet, c);
    }
    free(once);
    for (size_t i = 0; i < words; i++) {
        w->run_rank[i] = (uint32_t)nmeet;
        nmeet += (size_t)__builtin_popcountll(w->run_meet[i]);
    }
    w->nrun = nmeet + 1;
    if (!(w->run = calloc(w->nrun, sizeof *w->run)) ||
        !(w->run_hash = malloc(w->nrun * sizeof *w->run_hash)))
        run_free(w);
}

/* The site of stack `id` of the walk's trace viewed with `hide` (made on first sight, with its
 * frames' mappings and nodes), or NULL (no memory). The stack is walked from its leaf to the
 * first node the memo knows (walk_t.run), whose chain holds the frames from there out (with
 * their hash and number); a new site's walk teaches the memo the meeting nodes it went
 * through. */
static pa_xsite_t *site_get(pa_xprof_t *p, walk_t *w, uint32_t id, unsigned hide)
{
    const pa_stack_t *st = id ? pa_model_stack(w->t, id) : NULL;
    bool made, hide_shim = (hide & PA_HIDE_SHIM) != 0;
    if (!st || st->depth == 0)
        return site_put(p, w, id, hide, NULL, 0, 0, 0, CHAIN_HASH0,
                        id == 0 ? PA_XS_NO_STACK
                        : !st   ? PA_XS_MISSING
                                : PA_XS_EMPTY,
                        true, &made);
    if (!w->run_ready)
        run_init(w);
    if (w->run && w->run_shim == hide_shim) { /* (chains of another view: forgotten) */
        memset(w->run, 0, w->nrun * sizeof *w->run);
        w->run_shim = !hide_shim;
    }
    size_t n = 0, nw = 0;
    bool cut = false;
    uint32_t node = st->leaf, memo = 0, *slot = NULL;
    for (; node && !((slot = run_slot(w, node)) && (memo = *slot));
         node = pa_model_frame_caller(w->t, node)) {
        const struct aix_frames *a;
        if (node_frames(p, w, node, &a) != PA_OK ||
            (nw + 1 > w->wnodes_cap &&
             pa_util_grow((void **)&w->wnodes, &w->wnodes_cap, nw + 1, sizeof *w->wnodes) != PA_OK))
            return NULL;
        w->wnodes[nw++] =
            (struct wnode){node, (uint32_t)n | (a->flags & AF_CUT ? WNODE_CUT : 0), 0};
        if (a->flags & AF_CUT) {
            cut = true;
            continue;
        }
        if (node_push(p, w, a, hide_shim, &n) != PA_OK)
            return NULL;
    }
    /* the frames after the fresh ones: outer's chain, of `tail` frames and hash `chain` */
    size_t nfresh = n, tail = 0;
    uint32_t outer = 0;
    uint64_t chain = CHAIN_HASH0;
    bool tail_cut = false;
    if (memo) {
        uint64_t hl = w->run_hash[slot - w->run];
        outer = (memo & ~RUN_CUT) - 1;
        tail_cut = (memo & RUN_CUT) != 0;
        tail = hl & 0xffffff;
        chain = hl & ~(uint64_t)0xffffff;
    }
    unsigned lead_flags = ((hide & PA_HIDE_ALLOCATOR) ? PA_XF_ALLOCATOR : 0) |
                          ((hide & PA_HIDE_LOCK_WRAPPERS) ? PA_XF_LOCK_WRAPPER : 0);
    size_t lead = 0;
    while (lead < n && (p->frames[w->scratch[lead]].flags & lead_flags))
        lead++;
    if (lead == nfresh && tail && (p->frames[p->nodes[outer].frame].flags & lead_flags)) {
        /* the hidden leading frames reach into the chain (rare): from there, as a walk to the
         * root would have it */
        if (n + tail > w->scratch_cap && pa_util_grow((void **)&w->scratch, &w->scratch_cap,
                                                      n + tail, sizeof *w->scratch) != PA_OK)
            return NULL;
        for (uint32_t x = outer; x; x = p->nodes[x].caller)
            w->scratch[n++] = p->nodes[x].frame;
        while (lead < n && (p->frames[w->scratch[lead]].flags & lead_flags))
            lead++;
        if (lead < n) { /* the site's frames: a chain made before, from scratch[lead] out */
            for (size_t i = nfresh; i < lead; i++)
                outer = p->nodes[outer].caller;
            chain = CHAIN_HASH0;
            for (size_t i = n; i-- > lead;)
                chain = chain_hash(chain, &p->frames[w->scratch[i]]);
            nfresh = lead; /* (no new node, nothing to learn) */
            tail = n - lead;
            n = nfresh;
        } else { /* nothing but hidden frames: kept */
            n = nfresh;
        }
    }
    if (lead == n + tail) /* nothing but hidden frames (a very short stack): keep them */
        lead = 0;
    /* the chain's hash from outer in, and each walked node's where its frames begin */
    size_t k = nw;
    for (size_t i = nfresh;; i--) { /* (chain: the hash of scratch[i, nfresh) and outer's) */
        for (; k && (w->wnodes[k - 1].start & ~WNODE_CUT) == i; k--)
            w->wnodes[k - 1].hash = chain;
        if (i <= lead)
            break;
        chain = chain_hash(chain, &p->frames[w->scratch[i - 1]]);
    }
    cut |= tail_cut;
    size_t nnew = nfresh > lead ? nfresh - lead : 0, nall = nfresh - lead + tail;
    pa_xsite_t *s = site_put(p, w, id, hide, w->scratch + lead, nnew, outer, nall, chain,
                             cut ? PA_XS_CUT : PA_XS_NONE, cut || nall == 0, &made);
    if (!s || !made || !w->run)
        return s;
    /* what the new site's nodes tell of the meeting nodes the walk went through, outermost
     * first: each one's chain starts at its first frame's node (the fresh frame at scratch[i]
     * is node first + nfresh - 1 - i; the frame at scratch[nfresh], outer's), unless hidden as
     * a leading frame (then so are the frames of the nodes inward of it) */
    size_t first = p->nnodes - nnew;
    bool c = tail_cut;
    for (k = nw; k-- > 0;) {
        uint32_t start = w->wnodes[k].start & ~WNODE_CUT, *sl;
        c |= (w->wnodes[k].start & WNODE_CUT) != 0;
        if (start < lead)
            break;
        if ((sl = run_slot(w, w->wnodes[k].node))) {
            *sl = ((start == nfresh ? outer : (uint32_t)(first + nfresh - 1 - start)) + 1) |
                  (c ? RUN_CUT : 0);
            w->run_hash[sl - w->run] = w->wnodes[k].hash | (nfresh - start + tail);
        }
    }
    return s;
}

/* Adds a and b to metrics metric and metric + 1 of the site of stack `id` (viewed with `hide`). */
static int add_stack(pa_xprof_t *p, walk_t *w, uint32_t id, unsigned hide, int metric, uint64_t a,
                     uint64_t b)
{
    pa_xsite_t *s = site_get(p, w, id, hide);
    if (!s)
        return PA_ENOMEM;
    s->v[metric] += a;
    s->v[metric + 1] += b;
    return PA_OK;
}

/* The heap rows of the snapshot, by site: as pa_report_group() groups them (the same keys; sites
 * are made in the order of their first row, as its groups are), summed into the sites. */
static int add_heap(pa_xprof_t *p, walk_t *w)
{
    const pa_snapshot_t *snap = &w->t->snap;
    int rc = PA_OK;
    for (size_t r = 0; rc == PA_OK && r < snap->nrows; r++) {
        const pa_row_t *row = &snap->rows[r];
        pa_xsite_t *s = site_get(p, w, row->stack_id, PA_HIDE_ALLOCATOR | PA_HIDE_SHIM);
        if (!s) {
            rc = PA_ENOMEM;
            break;
        }
        s->v[PA_X_INUSE_SPACE] += row->live_bytes;
        s->v[PA_X_INUSE_OBJECTS] += row->live_blocks;
        s->v[PA_X_ALLOC_SPACE] += row->alloc_bytes;
        s->v[PA_X_ALLOC_OBJECTS] += row->allocs;
    }
    if (snap->nrows)
        p->has[PA_X_HEAP] = true;
    return rc;
}

/* A walk of trace t with symbolizer syms (the caller's). */
static int walk_init(walk_t *w, pa_trace_t *t, pa_symbols_t *syms)
{
    memset(w, 0, sizeof *w);
    w->t = t;
    w->syms = syms;
    return PA_OK;
}

/* Frees what the walk made (not its symbolizer). */
static void walk_fini(walk_t *w)
{
    run_free(w);
    pa_report_stack_view_free(&w->view);
    free(w->scratch);
    free(w->addrs);
    free(w->aixf);
}

static int add_trace(pa_xprof_t *p, pa_trace_t *t)
{
    walk_t w;
    pa_symbols_t *syms;
    int rc = pa_symbols_new(t, &syms);
    if (rc != PA_OK)
        return rc;
    rc = walk_init(&w, t, syms);
    /* the program's module first: pprof takes the first Mapping for the main binary */
    for (size_t i = 0; rc == PA_OK && !p->nmaps && t->process.program && i < t->nmodules; i++)
        if (t->modules[i].path && strcmp(t->modules[i].path, t->process.program) == 0 &&
            !map_get(p, &t->modules[i]))
            rc = PA_ENOMEM;
    if (rc == PA_OK)
        rc = add_heap(p, &w);
    /* the lock profile is the locks' (mutexes, rwlocks, spinlocks, semaphores), as `locks`
     * totals its wait and `diff` its lock_wait: a condition variable's waits (a thread pool's
     * idle workers) and a semaphore posted from a signal handler are no contention */
    for (size_t i = 0; rc == PA_OK && t->has_locks && i < t->locks.nsites; i++) {
        const pa_lock_site_t *ls = &t->locks.sites[i];
        if ((!ls->contended && !ls->wait_ns) || ls->lock_index >= t->locks.nlocks ||
            !pa_locks_is_lock(&t->locks.locks[ls->lock_index]))
            continue;
        p->has[PA_X_LOCKS] = true;
        rc = add_stack(p, &w, ls->stack_id, PA_HIDE_SHIM | PA_HIDE_LOCK_WRAPPERS, PA_X_CONTENTIONS,
                       ls->contended, ls->wait_ns);
    }
    uint64_t hz = t->has_cpu ? t->cpu.hz : 0;
    for (size_t i = 0; rc == PA_OK && hz && i < t->cpu.n; i++) {
        const pa_cpu_row_t *r = &t->cpu.rows[i];
        p->has[PA_X_CPUPROF] = true;
        if (!p->cpu_hz)
            p->cpu_hz = hz;
        rc = add_stack(p, &w, r->stack_id, 0, PA_X_SAMPLES, r->samples,
                       (uint64_t)((double)r->samples * 1e9 / (double)hz + 0.5));
    }
    walk_fini(&w);
    pa_symbols_free(syms);
    if (rc != PA_OK)
        return rc;
    if (pa_strlist_add(&p->paths, t->path) != PA_OK ||
        pa_util_grow((void **)&p->pids, &p->pids_cap, p->ntraces + 1, sizeof *p->pids) != PA_OK ||
        pa_util_grow((void **)&p->ppids, &p->ppids_cap, p->ntraces + 1, sizeof *p->ppids) !=
            PA_OK ||
        pa_strlist_add(&p->programs, t->process.program ? t->process.program : "") != PA_OK)
        return PA_ENOMEM;
    p->pids[p->ntraces] = t->process.pid;
    p->ppids[p->ntraces] = t->process.ppid;
    p->processes += t->merged_processes > 1 ? t->merged_processes : 1;
    if (!p->ntraces++) {
        p->start_realtime_ns = t->process.start_realtime_ns;
        if (t->process.program && !(p->program_copy = pa_util_strdup(t->process.program)))
            return PA_ENOMEM;
        p->program = p->program_copy;
    }
    if (t->snap.time_ns > p->duration_ns)
        p->duration_ns = t->snap.time_ns;
    pa_sampling_t smp;
    if (pa_model_sampled(t, &smp) && smp.max_mean_bytes > p->sample_mean)
        p->sample_mean = smp.max_mean_bytes ? smp.max_mean_bytes : smp.mean_bytes;
    return PA_OK;
}

/* ---- the reports of each trace (--format json) ------------------------------------------------
 * Everything else a trace holds is what the reports show: each trace's "reports" member is an
 * object of the reports' own JSON objects, made by the reports' writers with the options their
 * documents name (docs/json-schema.md), into p->reports. */

/* The timeline of each trace: the snapshots, no site followed; the trace's warnings were said
 * when it was loaded. */
static const pa_timeline_opts_t timeline_opts = {.json = true, .quiet = true};

/* The containers around a trace's "reports" value: the document, "traces", the trace. */
#define REPORTS_DEPTH 3

/* The stdio buffers of a json export's output and temporary file: 4 KiB by default, a write
 * system call per 4 KiB of a GB; 64 KiB stays in the CPU's cache (1 MiB measured slower).
 * Static: stdout's is flushed after main returns. */
#define XBUF (1u << 16)
static char xbuf_out[XBUF], xbuf_tmp[XBUF];

/* The document up to its "traces" array's first element. */
static void json_head(pa_json_t *j, FILE *out)
{
    pa_json_init(j, out);
    pa_json_object_begin(j, false);
    pa_json_key(j, "format");
    pa_json_string(j, "perfshim-export");
    pa_json_kv_u64(j, "version", 2);
    pa_json_key(j, "traces");
    pa_json_array_begin(j, false);
}

/* A trace's object up to its "reports" value (which follows). */
static void json_trace_begin(pa_json_t *j, const char *path, uint64_t pid)
{
    pa_json_object_begin(j, false);
    pa_json_key(j, "trace");
    pa_json_string(j, path);
    pa_json_kv_u64(j, "pid", pid);
    pa_json_key(j, "reports");
    pa_json_raw(j, "", 0); /* the value's place: a nested writer writes it (reports_begin) */
}

/* Back to the trace's first n warnings, those of its loading: each report's symbolizer warns
 * about the same modules again (said once already, not printed again), and each report lists
 * the warnings its own command would. */
static void warnings_keep(pa_trace_t *t, size_t n)
{
    while (t->warnings.n > n)
        free(t->warnings.items[--t->warnings.n]);
    t->quiet = true;
}

/* The reports made from the trace at path, loaded, whose loading warned nwarn times (the
 * timeline's second pass reads the file again). */
static int reports_begin(pa_xprof_t *p, pa_trace_t *t, const char *path, size_t nwarn,
                         const pa_at_t *at, const pa_suppress_t *supp, pa_json_t *j)
{
    pa_json_init_nested(j, p->reports, REPORTS_DEPTH);
    pa_json_object_begin(j, false);
    pa_summary_opts_t so = {.json = true, .top = PA_SUMMARY_DEFAULT_TOP, .at = *at};
    pa_json_key(j, "summary");
    warnings_keep(t, nwarn);
    int rc = pa_summary_report(t, &so, NULL, j);
    pa_leaks_opts_t lo = {.json = true, .supp = supp, .at = *at};
    pa_leaks_totals_t tot;
    if (rc == PA_OK) {
        pa_json_key(j, "leaks");
        warnings_keep(t, nwarn);
        rc = pa_leaks_report(t, &lo, NULL, j, &tot);
    }
    pa_locks_opts_t ko = {.json = true}; /* every lock, every site */
    if (rc == PA_OK) {
        pa_json_key(j, "locks");
        warnings_keep(t, nwarn);
        rc = pa_locks_report(t, &ko, NULL, j);
    }
    pa_hot_opts_t ho = {.json = true}; /* every function, stack, zone and thread */
    if (rc == PA_OK) {
        pa_json_key(j, "hot");
        warnings_keep(t, nwarn);
        rc = pa_hot_report(t, &ho, NULL, j);
    }
    /* the timeline at the last snapshot: its first pass is this load (its second reads the
     * file); at another, reports_end reads the file for both */
    if (rc == PA_OK && at->kind == PA_AT_LAST) {
        pa_json_key(j, "timeline");
        warnings_keep(t, nwarn);
        rc = pa_timeline_trace_loaded(t, path, &timeline_opts, NULL, j);
    }
    return rc;
}

static int reports_end(pa_xprof_t *p, const char *path, const pa_at_t *at, pa_json_t *j)
{
    int rc = PA_OK;
    if (at->kind != PA_AT_LAST) {
        pa_json_key(j, "timeline");
        rc = pa_timeline_trace(path, &timeline_opts, NULL, j);
    }
    pa_json_object_end(j);
    if (p->doc) { /* written in place: the trace's object ends */
        pa_json_object_end(p->doc);
        return rc;
    }
    size_t i = p->ntraces - 1; /* (add_trace counted it) */
    long end = ftell(p->reports);
    if (rc == PA_OK && (end < 0 || ferror(p->reports))) {
        pa_msg_error("export: cannot write a temporary file: %s", strerror(errno));
        rc = PA_EIO;
    }
    if (rc == PA_OK && pa_util_grow((void **)&p->reports_end, &p->reports_cap, i + 1,
                                    sizeof *p->reports_end) != PA_OK)
        rc = PA_ENOMEM;
    if (rc == PA_OK)
        p->reports_end[i] = (uint64_t)end;
    return rc;
}

/* Loads and adds the traces in turn, up to the first that cannot be used (said): the export
 * then fails whole (pa_export_main), so the ones after it are not read. With p->reports, each
 * trace's reports too. */
static int gather(char *const *paths, size_t n, const pa_at_t *at, pa_xprof_t *p,
                  pa_export_trace_fn fn, void *ctx)
{
    pa_suppress_t supp = {0};
    int rc =
        p->reports || p->direct ? pa_suppress_load_all(&supp, true, &(pa_strlist_t){0}) : PA_OK;
    for (size_t i = 0; i < n && rc == PA_OK; i++) {
        pa_trace_t t;
        /* (json's leaks report reads the ages) */
        if ((rc = p->reports || p->direct || fn
                      ? pa_model_load_at(paths[i], false, at, &t)
                      : pa_model_load_unaged(paths[i], false, at, &t)) != PA_OK)
            break;                  /* freed, and said */
        if (p->direct && !p->doc) { /* loaded: the document starts */
            p->reports = p->direct;
            p->doc = p->direct_doc;
            json_head(p->doc, p->direct);
        }
        if (!p->reports && !fn)
            pa_model_drop_ages_advice(&t); /* (json's leaks report reads the ages) */
        pa_json_t j;
        size_t nwarn = t.warnings.n;
        bool quiet = t.quiet;
        /* the reports first: the profile's sites (45 MB on a compile) are not held while they
         * group the rows; then the profile, saying the symbolizer's warnings as it did first */
        if (p->reports) {
            if (p->doc)
                json_trace_begin(p->doc, t.path, t.process.pid);
            if (!fn) /* read by none of the reports nor the profile (advise's, report --html) */
                pa_model_drop_advice(&t);
            pa_report_keep_keys(true); /* its rows symbolized and keyed once for the reports */
            rc = reports_begin(p, &t, paths[i], nwarn, at, &supp, &j);
            pa_report_keep_keys(false);
            warnings_keep(&t, nwarn);
            t.quiet = quiet;
            if (!fn) /* read by the leaks report only: not held while the profile is made */
                pa_model_drop_ages_advice(&t);
            /* the reports' groups and keys were freed in the heap's middle, under blocks
             * still held: given back before the profile peaks over them */
            malloc_trim(0);
        }
        if (!fn) /* read while the rows were read only */
            pa_model_drop_row_index(&t);
        /* the caller's sections first, as the reports above: the profile's sites are not held
         * while they group the rows (report --html: 17 MB of T's peak) */
        if (rc == PA_OK && fn) {
            rc = fn(&t, nwarn, ctx);
            warnings_keep(&t, nwarn);
            t.quiet = quiet;
        }
        if (rc == PA_OK)
            rc = add_trace(p, &t);
        pa_model_free(&t);
        if (rc == PA_OK && p->reports)
            rc = reports_end(p, paths[i], at, &j);
        if (rc == PA_ENOMEM)
            pa_msg_error("%s: out of memory while exporting", paths[i]);
    }
    pa_suppress_free(&supp);
    return rc;
}

/* ---- folded stacks -------------------------------------------------------------------------- */

const char *pa_export_frame_name(const pa_frame_t *f, char *buf, size_t size)
{
    if (f->function)
        return f->function;
    snprintf(buf, size, "%s+0x%llx", pa_util_basename(f->module ? f->module : "?"),
             (unsigned long long)f->offset);
    return buf;
}

/* A frame in a folded line: ';' separates frames and the last space the count, and a line
 * ends at a newline, so ';' becomes ':' and control characters '?'; spaces stay (the count is
 * after the last one). */
static void folded_name(FILE *out, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        fputc(c == ';' ? ':' : c < 0x20 || c == 0x7f ? '?' : c, out);
    }
}

/* The name of a site without frames: its note in brackets ("[no stack recorded]"). */
static void note_name(char *buf, size_t size, const pa_xsite_t *s)
{
    snprintf(buf, size, "[%s]", s->note ? s->note : "no frames");
}

static void write_folded(FILE *out, const pa_xprof_t *p, int metric)
{
    char buf[512];
    for (const pa_xsite_t *s = p->sites; s < p->sites + p->nsites; s++) {
        if (!s->v[metric])
            continue;
        if (!s->nframes) {
            note_name(buf, sizeof buf, s);
            folded_name(out, buf);
        }
        const uint32_t *fr = pa_xsite_frames(p, s);
        for (size_t i = s->nframes; i-- > 0;) {
            folded_name(out, pa_export_frame_name(&p->frames[fr[i]].f, buf, sizeof buf));
            if (i)
                fputc(';', out);
        }
        fprintf(out, " %llu\n", (unsigned long long)s->v[metric]);
    }
}

/* ---- speedscope ----------------------------------------------------------------------------- */

/* speedscope's frames: one per distinct (name, file, line), numbered in order of first use. */
typedef struct {
    UT_hash_handle hh;
    char *key; /* name \x1f file \x1f line */
    uint32_t index;
} ssframe_t;

static void ssframes_free(ssframe_t **h)
{
    ssframe_t *f, *tmp;
    HASH_ITER(hh, *h, f, tmp)
    {
        HASH_DEL(*h, f);
        free(f->key);
        free(f);
    }
}

/* Index of frame (name, file, line) in *h, writing the new frame's JSON to j when it is new;
 * -1 when out of memory. */
static long ssframe_get(ssframe_t **h, uint32_t *n, pa_json_t *j, const char *name,
                        const char *file, uint32_t line, pa_str_t *key)
{
    key->len = 0;
    pa_str_puts(key, name);
    pa_str_puts(key, "\x1f");
    pa_str_puts(key, file ? file : "");
    pa_str_puts(key, "\x1f");
    pa_str_u64(key, line);
    if (key->failed)
        return -1;
    ssframe_t *f;
    HASH_FIND(hh, *h, key->s, key->len, f);
    if (f)
        return f->index;
    if (!(f = calloc(1, sizeof *f)) || !(f->key = pa_util_strdup(key->s))) {
        free(f);
        return -1;
    }
    f->index = (*n)++;
    HASH_ADD_KEYPTR(hh, *h, f->key, key->len, f);
    if (j) {
        pa_json_object_begin(j, true);
        pa_json_key(j, "name");
        pa_json_string(j, name);
        if (file) {
            pa_json_key(j, "file");
            pa_json_string(j, file);
        }
        if (line)
            pa_json_kv_u64(j, "line", line);
        pa_json_object_end(j);
    }
    return f->index;
}

/* Every site's frames, root first, as indices into the shared frames (written to j once each):
 * sites' stacks in *stacks (ends[i]: end of site i's stack within it). */
static int ss_frames(const pa_xprof_t *p, pa_json_t *j, uint32_t **stacks, size_t *nst,
                     size_t **ends)
{
    ssframe_t *h = NULL;
    uint32_t nframes = 0;
    size_t cap = 0, ecap = 0, nsites = 0;
    pa_str_t key = {0};
    char buf[512];
    uint32_t *memo = pa_export_memo(p); /* each frame's index, UINT32_MAX before its first use */
    int rc = memo ? PA_OK : PA_ENOMEM;
    *stacks = NULL;
    *ends = NULL;
    *nst = 0;
    for (const pa_xsite_t *s = p->sites; s < p->sites + p->nsites && rc == PA_OK; s++, nsites++) {
        size_t need = *nst + (s->nframes ? s->nframes : 1);
        if (pa_util_grow((void **)stacks, &cap, need, sizeof **stacks) != PA_OK ||
            pa_util_grow((void **)ends, &ecap, nsites + 1, sizeof **ends) != PA_OK) {
            rc = PA_ENOMEM;
            break;
        }
        if (!s->nframes) {
            note_name(buf, sizeof buf, s);
            long k = ssframe_get(&h, &nframes, j, buf, NULL, 0, &key);
            if (k < 0)
                rc = PA_ENOMEM;
            (*stacks)[(*nst)++] = (uint32_t)k;
        }
        const uint32_t *fr = pa_xsite_frames(p, s);
        for (size_t i = s->nframes; rc == PA_OK && i-- > 0;) {
            uint32_t x = fr[i];
            long k = memo[x];
            if (k == UINT32_MAX) { /* a frame's first use */
                const pa_frame_t *f = &p->frames[x].f;
                k = ssframe_get(&h, &nframes, j, pa_export_frame_name(f, buf, sizeof buf), f->file,
                                f->line, &key);
                if (k < 0)
                    rc = PA_ENOMEM;
                memo[x] = (uint32_t)k;
            }
            (*stacks)[(*nst)++] = (uint32_t)k;
        }
        (*ends)[nsites] = *nst;
    }
    ssframes_free(&h);
    pa_str_free(&key);
    free(memo);
    return rc;
}

static int write_speedscope(FILE *out, const pa_xprof_t *p, pa_xkind_t kind, int metric)
{
    pa_json_t j;
    pa_json_init(&j, out);
    pa_json_object_begin(&j, false);
    pa_json_key(&j, "$schema");
    pa_json_string(&j, "https://www.speedscope.app/file-format-schema.json");
    pa_json_key(&j, "exporter");
    pa_json_string(&j, "perfshim " PERFSHIM_VERSION_STRING);
    pa_json_key(&j, "name");
    pa_json_string(&j, p->program ? pa_util_basename(p->program) : "perfshim");
    pa_json_key(&j, "activeProfileIndex");
    pa_json_u64(&j, (uint64_t)(metric - pa_xkind_first[kind]));
    pa_json_key(&j, "shared");
    pa_json_object_begin(&j, false);
    pa_json_key(&j, "frames");
    pa_json_array_begin(&j, false);
    uint32_t *stacks;
    size_t nst, *ends;
    int rc = ss_frames(p, &j, &stacks, &nst, &ends);
    pa_json_array_end(&j);
    pa_json_object_end(&j);
    pa_json_key(&j, "profiles");
    pa_json_array_begin(&j, false);
    for (int m = pa_xkind_first[kind];
         rc == PA_OK && m < pa_xkind_first[kind] + pa_xkind_count[kind]; m++) {
        const char *unit = strcmp(pa_xmetrics[m].unit, "count") == 0 ? "none" : pa_xmetrics[m].unit;
        uint64_t total = 0;
        for (const pa_xsite_t *s = p->sites; s < p->sites + p->nsites; s++)
            total += s->v[m];
        pa_json_object_begin(&j, false);
        pa_json_key(&j, "type");
        pa_json_string(&j, "sampled");
        pa_json_key(&j, "name");
        pa_json_string(&j, pa_xmetrics[m].name);
        pa_json_key(&j, "unit");
        pa_json_string(&j, unit);
        pa_json_kv_u64(&j, "startValue", 0);
        pa_json_kv_u64(&j, "endValue", total);
        for (int pass = 0; pass < 2; pass++) {
            pa_json_key(&j, pass ? "weights" : "samples");
            pa_json_array_begin(&j, pass == 1);
            size_t i = 0, from = 0;
            for (const pa_xsite_t *s = p->sites; s < p->sites + p->nsites; from = ends[i++], s++) {
                if (!s->v[m])
                    continue;
                if (pass) {
                    pa_json_u64(&j, s->v[m]);
                    continue;
                }
                pa_json_array_begin(&j, true);
                for (size_t k = from; k < ends[i]; k++)
                    pa_json_u64(&j, stacks[k]);
                pa_json_array_end(&j);
            }
            pa_json_array_end(&j);
        }
        pa_json_object_end(&j);
    }
    pa_json_array_end(&j);
    pa_json_object_end(&j);
    pa_json_finish(&j);
    free(stacks);
    free(ends);
    return rc;
}

/* ---- json (docs/json-schema.md) ----------------------------------------------------------------
 */

/* Frames: one per distinct (function, file, line, module, offset, inlined), numbered in order
 * of first use; a site's stack is a list of their numbers. */
typedef struct {
    UT_hash_handle hh;
    char *key;
    uint32_t index;
} jframe_t;

static long jframe_get(jframe_t **h, uint32_t *n, pa_json_t *j, const pa_frame_t *f, uint32_t map,
                       pa_str_t *key)
{
    key->len = 0;
    pa_str_puts(key, f->function ? f->function : ""); /* no printf: it is most of the cost */
    pa_str_puts(key, "\x1f");
    pa_str_puts(key, f->file ? f->file : "");
    pa_str_puts(key, "\x1f");
    pa_str_u64(key, f->line);
    pa_str_puts(key, "\x1f");
    pa_str_u64(key, map);
    pa_str_puts(key, f->inlined ? "\x1fi" : "\x1f-");
    pa_str_hex(key, f->offset);
    if (key->failed)
        return -1;
    jframe_t *e;
    HASH_FIND(hh, *h, key->s, key->len, e);
    if (e)
        return e->index;
    if (!(e = calloc(1, sizeof *e)) || !(e->key = pa_util_strdup(key->s))) {
        free(e);
        return -1;
    }
    e->index = (*n)++;
    HASH_ADD_KEYPTR(hh, *h, e->key, key->len, e);
    pa_json_object_begin(j, true);
    pa_json_key(j, "function");
    pa_json_string(j, f->function);
    pa_json_key(j, "file");
    pa_json_string(j, f->file);
    pa_json_key(j, "line");
    if (f->line)
        pa_json_u64(j, f->line);
    else
        pa_json_null(j);
    pa_json_key(j, "module");
    if (map)
        pa_json_u64(j, map - 1);
    else
        pa_json_null(j);
    pa_json_key(j, "offset");
    pa_json_hex(j, f->offset);
    pa_json_kv_bool(j, "inlined", f->inlined);
    pa_json_object_end(j);
    return e->index;
}

/* The document: its head and traces already written into out by p->doc (gather), or here, from
 * the temporary file. */
static int write_json(FILE *out, const pa_xprof_t *p)
{
    pa_json_t j;
    int rc = PA_OK;
    if (p->doc) {
        j = *p->doc; /* (its state: the traces' array is open) */
    } else {
        json_head(&j, out);
        rc = p->reports && fseek(p->reports, 0, SEEK_SET) != 0 ? PA_EIO : PA_OK;
    }
    for (size_t i = 0; !p->doc && i < p->ntraces && rc == PA_OK; i++) {
        pa_json_object_begin(&j, false);
        pa_json_key(&j, "trace");
        pa_json_string(&j, p->paths.items[i]);
        pa_json_kv_u64(&j, "pid", p->pids[i]);
        pa_json_key(&j, "reports");
        rc =
            pa_json_raw_stream(&j, p->reports, p->reports_end[i] - (i ? p->reports_end[i - 1] : 0));
        pa_json_object_end(&j);
    }
    if (rc != PA_OK) {
        pa_msg_error("export: cannot read back a temporary file: %s", strerror(errno));
        return rc;
    }
    pa_json_array_end(&j);
    pa_json_key(&j, "program");
    pa_json_string(&j, p->program);
    pa_json_kv_u64(&j, "start_realtime_ns", p->start_realtime_ns);
    pa_json_kv_u64(&j, "duration_ns", p->duration_ns);
    pa_json_kv_bool(&j, "estimated", p->sample_mean != 0);
    pa_json_key(&j, "sample_mean_bytes");
    if (p->sample_mean)
        pa_json_u64(&j, p->sample_mean);
    else
        pa_json_null(&j);
    pa_json_key(&j, "cpu_hz");
    if (p->cpu_hz)
        pa_json_u64(&j, p->cpu_hz);
    else
        pa_json_null(&j);
    pa_json_key(&j, "metrics");
    pa_json_array_begin(&j, false);
    for (int m = 0; m < PA_X_NMETRICS; m++) {
        pa_json_object_begin(&j, true);
        pa_json_key(&j, "name");
        pa_json_string(&j, pa_xmetrics[m].name);
        pa_json_key(&j, "unit");
        pa_json_string(&j, pa_xmetrics[m].unit);
        pa_json_key(&j, "kind");
        pa_json_string(&j, kind_names[pa_xmetrics[m].kind]);
        pa_json_kv_bool(&j, "present", p->has[pa_xmetrics[m].kind]);
        pa_json_object_end(&j);
    }
    pa_json_array_end(&j);
    pa_json_key(&j, "modules");
    pa_json_array_begin(&j, false);
    for (size_t i = 0; i < p->nmaps; i++) {
        const pa_xmap_t *m = &p->maps[i];
        char hex[2 * 64 + 1] = "";
        for (uint32_t k = 0; k < m->build_id_len && k < 64; k++)
            snprintf(hex + 2 * k, 3, "%02x", m->build_id[k]);
        pa_json_object_begin(&j, true);
        pa_json_key(&j, "path");
        pa_json_string(&j, m->path);
        pa_json_key(&j, "build_id");
        pa_json_string(&j, m->build_id_len ? hex : NULL);
        pa_json_key(&j, "start");
        pa_json_hex(&j, m->start);
        pa_json_key(&j, "end");
        pa_json_hex(&j, m->end);
        pa_json_key(&j, "base");
        pa_json_hex(&j, m->base);
        pa_json_object_end(&j);
    }
    pa_json_array_end(&j);
    /* frames as they are first used, then the stacks naming them: two passes over the sites */
    jframe_t *h = NULL;
    uint32_t nframes = 0;
    pa_str_t key = {0};
    uint32_t *memo = pa_export_memo(p); /* each frame's index, UINT32_MAX before its first use */
    if (!memo && rc == PA_OK)
        rc = PA_ENOMEM;
    /* (a site's chain walked to the first node an earlier site's went through: the frames
     * from there out have their numbers) */
    uint64_t *seen = calloc(p->nnodes / 64 + 1, sizeof *seen);
    if (!seen && rc == PA_OK)
        rc = PA_ENOMEM;
    pa_json_key(&j, "frames");
    pa_json_array_begin(&j, false);
    for (const pa_xsite_t *s = p->sites; s < p->sites + p->nsites && rc == PA_OK; s++) {
        uint32_t node = s->leaf;
        for (size_t i = 0; i < s->nframes && rc == PA_OK; i++, node = p->nodes[node].caller) {
            uint64_t bit = (uint64_t)1 << (node & 63);
            if (seen[node >> 6] & bit)
                break;
            seen[node >> 6] |= bit;
            uint32_t x = p->nodes[node].frame;
            long k = memo[x];
            if (k == UINT32_MAX &&
                (k = jframe_get(&h, &nframes, &j, &p->frames[x].f, p->frames[x].map, &key)) < 0)
                rc = PA_ENOMEM;
            else
                memo[x] = (uint32_t)k;
        }
    }
    free(seen);
    pa_json_array_end(&j);
    /* each frame's number in digits, made once for the 5M frames of a compile's stacks (or, out
     * of memory or past 7 digits, by the stacks' writer each time) */
    uint64_t *dig =
        rc == PA_OK && nframes < PA_JSON_DIGITS_MAX ? malloc((p->nframes + 1) * sizeof *dig) : NULL;
    for (size_t x = 0; dig && x < p->nframes; x++)
        dig[x] = memo[x] != UINT32_MAX ? pa_json_digits(memo[x]) : 0;
    pa_json_key(&j, "stacks");
    pa_json_array_begin(&j, false);
    for (const pa_xsite_t *s = p->sites; s < p->sites + p->nsites && rc == PA_OK; s++) {
        pa_json_object_begin(&j, true);
        pa_json_key(&j, "frames"); /* (their numbers: memo) */
        if (dig)
            pa_json_digits_array_of(&j, pa_xsite_frames(p, s), dig, s->nframes);
        else
            pa_json_u32_array_of(&j, pa_xsite_frames(p, s), memo, s->nframes);
        pa_json_key(&j, "note");
        pa_json_string(&j, s->note);
        pa_json_key(&j, "values");
        pa_json_u64_array(&j, s->v, PA_X_NMETRICS);
        pa_json_object_end(&j);
    }
    pa_json_array_end(&j);
    pa_json_object_end(&j);
    pa_json_finish(&j);
    jframe_t *e, *tmp;
    HASH_ITER(hh, h, e, tmp)
    {
        HASH_DEL(h, e);
        free(e->key);
        free(e);
    }
    pa_str_free(&key);
    free(memo);
    free(dig);
    if (rc != PA_OK)
        pa_msg_error("export: out of memory while writing JSON");
    return rc;
}

/* ---- the command ------------------------------------------------------------------------------
 */

/* The metric named s (a metric, or a kind for its default metric), or -1. */
static int parse_metric(const char *s)
{
    for (int m = 0; m < PA_X_NMETRICS; m++)
        if (strcmp(s, pa_xmetrics[m].name) == 0)
            return m;
    for (int k = 0; k < PA_X_NKINDS; k++)
        if (strcmp(s, kind_names[k]) == 0)
            return kind_default[k];
    return -1;
}

typedef struct {
    format_t format;
    int metric;
    const char *output; /* NULL: the default */
    pa_at_t at;
    bool help;
} xopts_t;

/* Parses the options; the index of the first trace, or -1 after a usage error (said). */
static int parse_opts(int argc, char **argv, xopts_t *o)
{
    enum { OPT_FORMAT = 256, OPT_METRIC, OPT_AT };
    static const struct option options[] = {
        {"format", required_argument, NULL, OPT_FORMAT},
        {"metric", required_argument, NULL, OPT_METRIC},
        {"at", required_argument, NULL, OPT_AT},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static const char *const formats[] = {"pprof", "folded", "speedscope", "json"};
    o->metric = PA_X_INUSE_SPACE;
    /* options anywhere on the line, as every other command takes them (`export app.trace -o
     * app.pb.gz`); a missing value is said as such (':') */
    optind = 0;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":o:h", options, NULL)) != -1) {
        switch (c) {
        case OPT_FORMAT: {
            size_t f = 0;
            while (f < 4 && strcmp(optarg, formats[f]) != 0)
                f++;
            if (f == 4) {
                pa_msg_error("export: unknown format '%s'; formats: pprof, folded, speedscope, "
                             "json",
                             optarg);
                return -1;
            }
            o->format = (format_t)f;
            break;
        }
        case OPT_METRIC:
            if ((o->metric = parse_metric(optarg)) < 0) {
                pa_msg_error("export: unknown metric '%s'; metrics: inuse_space, inuse_objects, "
                             "alloc_space, alloc_objects, contentions, delay, samples, cpu; or "
                             "the kinds heap, locks, cpu",
                             optarg);
                return -1;
            }
            break;
        case OPT_AT:
            if (pa_model_parse_at(optarg, &o->at) != PA_OK) {
                pa_msg_error("export: bad --at '%s': a time (12.5, 250ms, 10m, 2h), last or max",
                             optarg);
                return -1;
            }
            break;
        case 'o':
            o->output = optarg;
            break;
        case 'h':
            o->help = true;
            break;
        case ':':
            pa_msg_error("export: option '%s' needs a value", argv[optind - 1]);
            return -1;
        default:
            pa_msg_error("export: unknown option '%s'; see 'perfshim help export'",
                         argv[optind - 1]);
            return -1;
        }
    }
    return optind;
}

/* Writes the chosen format to out. */
static int write_format(FILE *out, const pa_xprof_t *p, const xopts_t *o, const char *name)
{
    pa_xkind_t kind = pa_xmetrics[o->metric].kind;
    switch (o->format) {
    case FMT_PPROF:
        return pa_pprof_write(p, kind, o->metric, out, name);
    case FMT_FOLDED:
        write_folded(out, p, o->metric);
        return PA_OK;
    case FMT_SPEEDSCOPE:
        return write_speedscope(out, p, kind, o->metric);
    case FMT_JSON:
        return write_json(out, p);
    }
    return PA_OK;
}

int pa_export_main(int argc, char **argv)
{
    xopts_t o = {0};
    int first = parse_opts(argc, argv, &o);
    if (first < 0)
        return PA_EXIT_USAGE;
    if (o.help) {
        fputs(pa_export_help, stdout);
        return PA_EXIT_OK;
    }
    if (first >= argc) {
        pa_msg_error("export: no trace file given; see 'perfshim help export'");
        return PA_EXIT_USAGE;
    }
    const char *path = o.output ? o.output : o.format == FMT_PPROF ? "perfshim.pb.gz" : "-";
    bool to_stdout = strcmp(path, "-") == 0;
    struct stat so, st;
    for (int i = first; !to_stdout && i < argc && stat(path, &so) == 0; i++)
        if (stat(argv[i], &st) == 0 && st.st_dev == so.st_dev && st.st_ino == so.st_ino) {
            pa_msg_error("export: the output %s is one of the traces: not overwritten", path);
            return PA_EXIT_USAGE;
        }
    /* open the output first: an unwritable one is said before the traces are read */
    FILE *out = to_stdout ? stdout : fopen(path, "wb");
    if (!out) {
        pa_msg_error("export: cannot write %s: %s", path, strerror(errno));
        return PA_EXIT_USAGE;
    }
    pa_xprof_t p = {0};
    /* the pieces of one process's trace (PERFSHIM_MAX_TRACE) each hold its whole state: only
     * the latest is exported, as --merge and merge -o take them (pieces.h) */
    pa_strlist_t latest = {0};
    int rc = pa_pieces_inputs(argv + first, (size_t)(argc - first), &latest);
    if (rc != PA_OK)
        pa_msg_error("export: out of memory");
    size_t n = latest.n;
    pa_json_t doc;
    /* json into a regular file: each trace's reports written in place as it is read (a failed
     * export's file is removed below); else through a temporary file, so that nothing is
     * written when a trace cannot be read. Big buffers: the reports are hundreds of MB. */
    if (rc != PA_OK) {
        /* (said above) */
    } else if (o.format == FMT_JSON && !to_stdout && fstat(fileno(out), &st) == 0 &&
               S_ISREG(st.st_mode)) {
        setvbuf(out, xbuf_out, _IOFBF, XBUF);
        p.reports = out;
        p.doc = &doc;
        json_head(&doc, out);
    } else if (o.format == FMT_JSON && n == 1) {
        /* one trace to a pipe or a terminal: its reports go straight to the output once it has
         * loaded (gather), not through a temporary file (0.3 s of system time for a compile's
         * 300 MB): nothing is written when it cannot be read */
        if (!isatty(fileno(out)))
            setvbuf(out, xbuf_out, _IOFBF, XBUF);
        p.direct = out;
        p.direct_doc = &doc;
    } else if (o.format == FMT_JSON && !(p.reports = tmpfile())) {
        pa_msg_error("export: cannot make a temporary file: %s", strerror(errno));
        rc = PA_EIO;
    } else if (o.format == FMT_JSON) {
        setvbuf(p.reports, xbuf_tmp, _IOFBF, XBUF);
        if (!isatty(fileno(out)))
            setvbuf(out, xbuf_out, _IOFBF, XBUF);
    }
    /* each module opened once for all the traces (and, with json, all the reports) */
    pa_symbols_share(n > 1 || o.format == FMT_JSON);
    if (rc == PA_OK)
        rc = gather(latest.items, n, &o.at, &p, NULL, NULL);
    pa_symbols_share(false);
    pa_xkind_t kind = pa_xmetrics[o.metric].kind;
    if (p.ntraces && !p.has[kind])
        pa_msg_warn("export: the traces hold no %s data: the %s profile is empty%s",
                    kind_names[kind], pa_xmetrics[o.metric].name,
                    kind == PA_X_CPUPROF ? " (record with PERFSHIM_CPU_HZ)"
                    : kind == PA_X_LOCKS ? " (no lock was contended)"
                                         : "");
    /* A trace that could not be read (said) makes the export fail whole: a profile silently
     * missing one of the processes asked for would mislead. */
    if (rc == PA_OK)
        rc = write_format(out, &p, &o, to_stdout ? "standard output" : path);
    else
        pa_msg_error("export: nothing written: a trace could not be read");
    int status = rc == PA_OK ? PA_EXIT_OK : PA_EXIT_USAGE;
    if (!to_stdout) {
        if ((ferror(out) | fclose(out)) != 0 && status == PA_EXIT_OK) {
            pa_msg_error("export: cannot write %s: %s", path, strerror(errno));
            status = PA_EXIT_USAGE;
        }
        /* no partial or empty profile left behind (a regular file only: not /dev/null) */
        if ((!p.ntraces || status != PA_EXIT_OK) && stat(path, &st) == 0 && S_ISREG(st.st_mode))
            remove(path);
    }
    prof_free(&p);
    pa_strlist_free(&latest);
    return status;
}

/* ---- for other reports (html.c) ------------------------------------------------------------ */

int pa_export_gather_with(char *const *paths, size_t n, const pa_at_t *at, pa_xprof_t *p,
                          pa_export_trace_fn fn, void *ctx)
{
    memset(p, 0, sizeof *p);
    bool own = !pa_symbols_sharing(); /* (on: the caller's, kept) */
    if (own)
        pa_symbols_share(n > 1);
    int rc = gather(paths, n, at, p, fn, ctx);
    if (own)
        pa_symbols_share(false);
    return rc;
}

void pa_export_warnings_keep(pa_trace_t *t, size_t n)
{
    warnings_keep(t, n);
}

void pa_export_free(pa_xprof_t *p)
{
    prof_free(p);
}

struct pa_xwalk {
    walk_t w;
};

int pa_export_walk_begin(pa_trace_t *t, pa_symbols_t *syms, pa_xwalk_t **out)
{
    if (!(*out = malloc(sizeof **out)))
        return PA_ENOMEM;
    int rc = walk_init(&(*out)->w, t, syms);
    if (rc != PA_OK) {
        pa_export_walk_end(*out);
        *out = NULL;
    }
    return rc;
}

int pa_export_site_of(pa_xprof_t *p, pa_xwalk_t *w, uint32_t id, unsigned hide, size_t *site)
{
    pa_xsite_t *s = site_get(p, &w->w, id, hide);
    if (!s)
        return PA_ENOMEM;
    *site = (size_t)(s - p->sites);
    return PA_OK;
}

void pa_export_walk_end(pa_xwalk_t *w)
{
    if (!w)
        return;
    walk_fini(&w->w);
    free(w);
}

uint32_t pa_export_special_rank(uint32_t special)
{
    /* the KEY_* markers' order as strings ("\x01cut" < "\x01empty" < "\x01missing" <
     * "\x01no-stack"), all below a frame's piece (which starts with a function name's first
     * byte or \x1f) */
    static const uint32_t rank[] = {
        [PA_XS_CUT] = 0, [PA_XS_EMPTY] = 1, [PA_XS_MISSING] = 2, [PA_XS_NO_STACK] = 3};
    return special && special <= PA_XS_CUT ? rank[special] : UINT32_MAX;
}

uint32_t *pa_export_memo(const pa_xprof_t *p)
{
    uint32_t *m = malloc((p->nframes + 1) * sizeof *m);
    if (m)
        memset(m, 0xff, (p->nframes + 1) * sizeof *m);
    return m;
}
