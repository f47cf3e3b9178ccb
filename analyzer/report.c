/* SPDX-License-Identifier: MIT */
/*
 * report.c — grouping snapshot rows by symbolized stack, and the text/JSON pieces every report
 * shares. Grouping is by what the user reads: two stacks that differ only in return addresses
 * inside the same source lines (e.g. two calls on one line, or one function reached through
 * identical paths from different instruction addresses) are one group.
 */
#include "report.h"

#include "outbuf.h"

#include <math.h>

#include "trace_format.h"

#include <stdlib.h>
#include <string.h>

/* ---- grouping ------------------------------------------------------------------------------ */

/* Notes of stacks without frames (or cut short), and the keys that stand for them. */
static const char NOTE_NO_STACK[] =
    "no stack: the shim had no stack slot left (raise PERFSHIM_MAX_STACKS)";
static const char NOTE_MISSING[] = "stack not in the trace (its STACKS chunk was lost)";
static const char NOTE_EMPTY[] = "empty stack (the unwinder found no frame)";
static const char NOTE_ALL_SHIM[] = "every frame is inside libperfshim.so";
static const char NOTE_CUT[] = "cut short after the last frame: the next one needed libunwind, "
                               "which the shim could not load at that moment";
#define KEY_NO_STACK "\x01no-stack"
#define KEY_MISSING "\x01missing"
#define KEY_EMPTY "\x01empty"
#define KEY_CUT "\x01cut"

bool pa_report_frame_is_allocator(const pa_frame_t *f)
{
    return f->function && strncmp(f->function, "operator new", 12) == 0;
}

bool pa_report_frame_is_shim(const pa_frame_t *f)
{
    return strncmp(pa_util_basename(f->module), "libperfshim.", 12) == 0;
}

/* The key of one frame ("piece"): equal pieces read the same. A stack's key is the pieces of
 * its visible frames, concatenated (each ends with \x1e: no piece is a prefix of another). */
static void serialize_frame(pa_str_t *key, const pa_frame_t *f)
{
    if (f->function)
        pa_str_printf(key, "%s\x1f%s\x1f%u\x1f%d\x1e", f->function, f->file ? f->file : "", f->line,
                      f->inlined);
    else
        pa_str_printf(key, "\x1f%s+%llx\x1e", f->module, (unsigned long long)f->offset);
}

void pa_report_key_piece(pa_str_t *key, const pa_frame_t *f)
{
    serialize_frame(key, f);
}

static void serialize(pa_str_t *key, const pa_frame_t *f, size_t n)
{
    for (size_t i = 0; i < n; i++)
        serialize_frame(key, &f[i]);
}

/* Leading frames of C++ standard library lock wrappers (std::mutex::lock, std::lock_guard,
 * std::condition_variable::wait, ... and the __gthread_* functions they call): the lock's user
 * is the caller. They are header code; without optimization they are real frames. */
bool pa_report_frame_is_lock_wrapper(const pa_frame_t *f)
{
    if (!f->function)
        return false;
    if (strncmp(f->function, "__gthread_", 10) == 0 || strncmp(f->function, "__gthrw_", 8) == 0)
        return true;
    return strncmp(f->function, "std::", 5) == 0 && f->file && strstr(f->file, "/c++/");
}

static bool hidden_lead(const pa_frame_t *f, unsigned hide)
{
    return ((hide & PA_HIDE_ALLOCATOR) && pa_report_frame_is_allocator(f)) ||
           ((hide & PA_HIDE_LOCK_WRAPPERS) && pa_report_frame_is_lock_wrapper(f));
}

static struct pa_frame_cache *frame_cache_new(void);
static void frame_cache_free(struct pa_frame_cache *c);

/* The view of stack id; with_key, its key too (a printed group's view needs none: the frames
 * are all it prints, and serializing them cost as much as printing them). */
static int stack_view(pa_trace_t *t, pa_symbols_t *syms, uint32_t id, unsigned hide, bool with_key,
                      pa_stackview_t *v)
{
    v->nframes = 0;
    v->hidden = 0;
    v->note = NULL;
    if (!v->cache && !(v->cache = frame_cache_new()))
        return PA_ENOMEM;
    v->key.len = 0;
    if (v->key.s)
        v->key.s[0] = 0;
    const pa_stack_t *s = id ? pa_model_stack(t, id) : NULL;
    if (id == 0) {
        v->note = NOTE_NO_STACK;
        pa_str_puts(&v->key, KEY_NO_STACK);
    } else if (!s) {
        v->note = NOTE_MISSING;
        pa_str_puts(&v->key, KEY_MISSING);
    } else if (s->depth == 0) {
        v->note = NOTE_EMPTY;
        pa_str_puts(&v->key, KEY_EMPTY);
    } else {
        int cut = 0;
        /* whether the last module seen is the shim: a module's frames share its name's string
         * (the symbolizer's), and a stack's frames are mostly of one or two modules */
        const char *mod = NULL;
        bool mod_shim = false;
        for (uint32_t node = s->leaf; node; node = pa_model_frame_caller(t, node)) {
            const pa_frame_t *fr;
            size_t n;
            uint64_t addr = pa_model_frame_addr(t, node);
            if (addr == PS_FRAME_CUT) { /* the shim could not walk further (libunwind) */
                cut = 1;
                continue;
            }
            if (pa_symbols_lookup(syms, addr, &fr, &n) != PA_OK ||
                (v->nframes + n > v->cap &&
                 pa_util_grow((void **)&v->frames, &v->cap, v->nframes + n, sizeof *v->frames) !=
                     PA_OK))
                return PA_ENOMEM;
            for (size_t k = 0; k < n; k++) {
                if ((hide & PA_HIDE_SHIM) && (fr[k].module != mod || !mod)) {
                    mod = fr[k].module;
                    mod_shim = pa_report_frame_is_shim(&fr[k]);
                }
                if ((hide & PA_HIDE_SHIM) && mod_shim)
                    v->hidden++;
                else
                    v->frames[v->nframes++] = fr[k];
            }
        }
        size_t lead = 0;
        while (lead < v->nframes && hidden_lead(&v->frames[lead], hide))
            lead++;
        if (lead == v->nframes) /* nothing but hidden frames (a very short stack): keep them */
            lead = 0;
        if (lead) { /* (frames may still be NULL: memmove must not see it) */
            memmove(v->frames, v->frames + lead, (v->nframes - lead) * sizeof *v->frames);
            v->nframes -= lead;
            v->hidden += lead;
        }
        if (!v->nframes && !cut)
            v->note = NOTE_ALL_SHIM;
        else if (cut)
            v->note = NOTE_CUT;
        if (with_key)
            serialize(&v->key, v->frames, v->nframes);
        if (cut && with_key)
            pa_str_puts(&v->key, KEY_CUT);
    }
    return v->key.failed ? PA_ENOMEM : PA_OK;
}

int pa_report_stack_view(pa_trace_t *t, pa_symbols_t *syms, uint32_t id, unsigned hide,
                         pa_stackview_t *v)
{
    return stack_view(t, syms, id, hide, true, v);
}

void pa_report_stack_view_free(pa_stackview_t *v)
{
    free(v->frames);
    pa_str_free(&v->key);
    frame_cache_free(v->cache);
    memset(v, 0, sizeof *v);
}

/* Grouping without strings per row, and without a structure per frame node once the rows are
 * keyed. Each distinct frame key ("piece", serialize_frame) is interned once and numbered, and
 * the frames of each recorded address are kept as piece numbers (symbolized once). A row's key
 * is the list of the pieces of its visible frames, innermost first, then KEY_CUT when the stack
 * was cut short: the pieces the frame tree's nodes from its leaf out hold, but the shim's and
 * the leading allocator frames. A key is therefore named by a frame node (the leaf of a row
 * that has it) and read by walking the model's frame tree (key_it_t): nothing is kept per frame
 * node or per piece of a key after grouping, where a trie of the keys' pieces (8 bytes a node)
 * was kept for sorting and suppressions, and an index of it, the nodes' hashes and a map from
 * frame node to trie node (22 bytes a frame node in all) held the keying's peak (33 MB of a
 * compile's 1.6M frame nodes). While the rows are keyed, each frame node gets the hash and the
 * count of the visible pieces from the outermost frame to it (8 bytes, freed after), so a row
 * costs a walk up to the first frame already mapped, not its whole stack. Rows are grouped by
 * their keys' hashes, the keys of rows whose hashes meet compared piece by piece (two walks,
 * ended where they reach the same frame node). The groups are those of pa_report_stack_view()
 * keys: pieces are prefix-free (each ends with \x1e), so equal lists are equal serialized keys;
 * the sort compares the lists as the strings they stand for. */

enum { PIECE_SHIM = 1 };

typedef struct {
    UT_hash_handle hh;
    const pa_frame_t *frame; /* one frame with this key (symbolizer-owned), NULL for KEY_* */
    int match;               /* suppression pattern matching the frame, -1 none, -2 not yet */
    uint32_t id;             /* index in pa_pieces_t.items */
    uint32_t rank;           /* place in the strcmp() order of every piece (pieces_rank) */
    bool allocator;          /* an operator new/new[] frame: hidden at the top of a stack */
    bool prefix;             /* a proper prefix of another piece (then ranks do not order) */
    char s[];                /* the key */
} piece_t;

typedef struct {
    uint32_t piece, flags; /* flags: PIECE_* */
} addr_frame_t;

/* The frames of one address of the frame tree, innermost (f[0]) first. */
typedef struct {
    uint32_t n;
    addr_frame_t f[];
} addr_entry_t;

/* The entry of a cut (PS_FRAME_CUT: the shim could not walk further): no frame. */
static const addr_entry_t cut_entry = {0};

/* What a frame node adds to its memo when it is not 0 (few do): shim frames hidden on its
 * path from the outermost frame, and whether the path holds a cut. */
typedef struct {
    UT_hash_handle hh;
    uint32_t frame;
    uint32_t shim;
    bool cut;
} fextra_t;

typedef struct {
    uint32_t frame;
    const addr_entry_t *e; /* its frames (cut_entry for a cut) */
} pending_t;

/* In pa_pieces_t.fdepth, by frame node: mapped, has a fextra_t, and its visible pieces. */
#define FD_MAPPED 0x80000000u
#define FD_EXTRA 0x40000000u
#define FD_DEPTH 0x3fffffffu

/* The specials' keys (no frame node): KEY_NO_STACK, KEY_MISSING, KEY_EMPTY. */
enum { SPECIAL_NO_STACK, SPECIAL_MISSING, SPECIAL_EMPTY, NSPECIALS };
static const char *const special_keys[NSPECIALS] = {KEY_NO_STACK, KEY_MISSING, KEY_EMPTY};
static const char *const special_notes[NSPECIALS] = {NOTE_NO_STACK, NOTE_MISSING, NOTE_EMPTY};

#define PIECE_NONE UINT32_MAX

struct pa_pieces {
    piece_t *table;  /* uthash by key */
    piece_t **items; /* by number */
    size_t n, cap;
    bool ranked; /* rank and prefix are set (no piece was added since) */
    const pa_trace_t *t;
    /* by address index of t's frame tree (pa_model_frame_aix): its frames as pieces, NULL
     * until a row's walk meets it */
    const addr_entry_t **byaix;
    size_t naddrs;
    pa_str_t buf;
    uint32_t cut_piece;          /* KEY_CUT's number */
    uint32_t special[NSPECIALS]; /* the specials' numbers (PIECE_NONE: not met) */
    /* while keying (freed after it), by frame node: the hash of the visible pieces from the
     * outermost frame to it (key_hash), and FD_* with their count */
    uint32_t *fhash;
    uint32_t *fdepth;
    fextra_t *extras;   /* uthash by frame node */
    pending_t *scratch; /* frame nodes of one walk not mapped yet, and their frames */
    size_t scratch_cap; /* slots */
};

static int piece_intern(pa_pieces_t *p, const char *key, const pa_frame_t *f, uint32_t *id)
{
    piece_t *x;
    size_t len = strlen(key);
    HASH_FIND(hh, p->table, key, len, x);
    if (!x) {
        if (p->n >= UINT32_MAX - 1 ||
            pa_util_grow((void **)&p->items, &p->cap, p->n + 1, sizeof *p->items) != PA_OK ||
            !(x = malloc(sizeof *x + len + 1)))
            return PA_ENOMEM;
        memset(x, 0, sizeof *x);
        memcpy(x->s, key, len + 1);
        x->frame = f;
        x->match = -2;
        x->id = (uint32_t)p->n;
        x->allocator = f && pa_report_frame_is_allocator(f);
        HASH_ADD(hh, p->table, s[0], len, x);
        p->items[p->n++] = x;
        p->ranked = false;
    }
    *id = x->id;
    return PA_OK;
}

/* The frames of frame node `node`'s address as piece numbers and flags, symbolized once. */
static int addr_frames(pa_pieces_t *p, pa_symbols_t *syms, uint32_t node, const addr_entry_t **out)
{
    uint32_t aix = pa_model_frame_aix(p->t, node);
    const addr_entry_t *known = p->byaix[aix];
    if (known) {
        *out = known;
        return PA_OK;
    }
    uint64_t addr = p->t->frames.addrs[aix];
    if (addr == PS_FRAME_CUT) { /* the shim could not walk further (libunwind) */
        *out = p->byaix[aix] = &cut_entry;
        return PA_OK;
    }
    const pa_frame_t *fr;
    size_t n;
    addr_entry_t *e;
    if (pa_symbols_lookup(syms, addr, &fr, &n) != PA_OK || n > UINT32_MAX ||
        !(e = malloc(sizeof *e + n * sizeof e->f[0])))
        return PA_ENOMEM;
    e->n = (uint32_t)n;
    for (size_t k = 0; k < n; k++) {
        p->buf.len = 0;
        if (p->buf.s)
            p->buf.s[0] = 0;
        serialize_frame(&p->buf, &fr[k]);
        if (p->buf.failed || piece_intern(p, pa_str_get(&p->buf), &fr[k], &e->f[k].piece)) {
            free(e);
            return PA_ENOMEM;
        }
        e->f[k].flags = pa_report_frame_is_shim(&fr[k]) ? PIECE_SHIM : 0;
    }
    *out = p->byaix[aix] = e;
    return PA_OK;
}

/* Frees what only keying needs (the frame nodes' hashes and counts); the pieces and the
 * addresses' frames stay for grouping, sorting, suppressions and the notes. */
static void pieces_trim(pa_pieces_t *p)
{
    free(p->fhash);
    free(p->fdepth);
    p->fhash = p->fdepth = NULL;
    fextra_t *x, *xt;
    HASH_ITER(hh, p->extras, x, xt)
    {
        HASH_DEL(p->extras, x);
        free(x);
    }
    free(p->scratch);
    p->scratch = NULL;
    p->scratch_cap = 0;
}

static void pieces_free(pa_pieces_t *p)
{
    if (!p)
        return;
    pieces_trim(p);
    piece_t *x, *xt;
    HASH_ITER(hh, p->table, x, xt)
    {
        HASH_DEL(p->table, x);
        free(x);
    }
    for (size_t i = 0; p->byaix && i < p->naddrs; i++)
        if (p->byaix[i] != &cut_entry)
            free((void *)p->byaix[i]);
    free(p->byaix);
    free(p->items);
    pa_str_free(&p->buf);
    free(p);
}

/* The hash of a key with one more piece put inward of the pieces of hash h (splitmix64's
 * finalizer on both). KEY_HASH0: the empty key's. */
#define KEY_HASH0 0x2545f491u
static inline uint32_t key_hash(uint32_t h, uint32_t piece)
{
    uint64_t x = ((uint64_t)h << 32 | piece) * 0x9e3779b97f4a7c15u;
    x = (x ^ x >> 30) * 0xbf58476d1ce4e5b9u;
    return (uint32_t)((x ^ x >> 31) >> 32);
}

/* For tests: the rows' hashes cut to their low bits (groups then meet in the index). */
static uint32_t key_hash_mask = UINT32_MAX;

void pa_report_test_hash_bits(unsigned bits)
{
    key_hash_mask = bits && bits < 32 ? (1u << bits) - 1 : UINT32_MAX;
}

/* ---- keys read on the frame tree ---- */

/* A key's pieces, innermost first: those of the frame nodes from `node` out (from piece j of
 * the first), but the shim's, then `tail` (KEY_CUT's or a special's piece) if not PIECE_NONE. */
typedef struct {
    const pa_pieces_t *p;
    uint32_t node, j;
    uint32_t tail;
} key_it_t;

static inline const addr_entry_t *node_entry(const pa_pieces_t *p, uint32_t node)
{
    return p->byaix[pa_model_frame_aix(p->t, node)];
}

/* The next piece, or PIECE_NONE at the end. A walk that has used a node's last frame stands at
 * its caller's first, so two walks at the same place stand on the same (node, j). */
static uint32_t key_next(key_it_t *it)
{
    while (it->node) {
        const addr_entry_t *e = node_entry(it->p, it->node);
        if (it->j >= e->n) { /* (a cut: no frame) */
            it->node = pa_model_frame_caller(it->p->t, it->node);
            it->j = 0;
            continue;
        }
        const addr_frame_t *f = &e->f[it->j++];
        if (it->j == e->n) {
            it->node = pa_model_frame_caller(it->p->t, it->node);
            it->j = 0;
        }
        if (!(f->flags & PIECE_SHIM))
            return f->piece;
    }
    uint32_t x = it->tail;
    it->tail = PIECE_NONE;
    return x;
}

/* The walk of the key of the frames from `leaf` out (cut: KEY_CUT at its end), past its
 * leading (innermost) operator new frames unless nothing else is left; *lead: how many. */
static key_it_t key_walk(const pa_pieces_t *p, uint32_t leaf, bool cut, size_t *lead)
{
    key_it_t it = {p, leaf, 0, PIECE_NONE}, at = it;
    size_t n = 0;
    uint32_t x;
    for (;;) {
        at = it;
        if ((x = key_next(&it)) == PIECE_NONE || !p->items[x]->allocator)
            break;
        n++;
    }
    if (x == PIECE_NONE) /* nothing but hidden frames (a very short stack): keep them */
        at = (key_it_t){p, leaf, 0, PIECE_NONE}, n = 0;
    at.tail = cut ? p->cut_piece : PIECE_NONE;
    if (lead)
        *lead = n;
    return at;
}

/* The special of a note, or NSPECIALS. */
static int note_special(const char *note)
{
    for (int i = 0; i < NSPECIALS; i++)
        if (note == special_notes[i])
            return i;
    return NSPECIALS;
}

/* The walk of a key named by its frame node and note (a row's key and note). */
static key_it_t key_of(const pa_pieces_t *p, uint32_t leaf, const char *note)
{
    int sp = note_special(note);
    if (sp < NSPECIALS)
        return (key_it_t){p, 0, 0, p->special[sp]};
    return key_walk(p, leaf, note == NOTE_CUT, NULL);
}

/* The walk of group x's key: its shown stack's (pa_group_t holds no key of its own: 4 bytes
 * more a group, and 4 more with the padding). */
static key_it_t group_key(const pa_pieces_t *p, const pa_group_t *x)
{
    const pa_stack_t *s =
        note_special(x->note) < NSPECIALS ? NULL : pa_model_stack(p->t, x->shown_stack_id);
    return key_of(p, s ? s->leaf : 0, x->note);
}

/* Moves two walks that stand at the start of frame nodes of the same address (so of the same
 * pieces) past them, while they do: a node's address read, not its pieces. */
static inline void key_skip_same(key_it_t *a, key_it_t *b)
{
    const pa_trace_t *t = a->p->t;
    while (a->node && b->node && !a->j && !b->j && a->node != b->node &&
           pa_model_frame_aix(t, a->node) == pa_model_frame_aix(t, b->node)) {
        a->node = pa_model_frame_caller(t, a->node);
        b->node = pa_model_frame_caller(t, b->node);
    }
}

/* Whether two keys (of the same note and frame count) are the same pieces. */
static bool key_same(key_it_t a, key_it_t b)
{
    for (;;) {
        key_skip_same(&a, &b);
        if (a.node == b.node && a.j == b.j) /* the same frames from here out */
            return a.tail == b.tail;
        uint32_t x = key_next(&a), y = key_next(&b);
        if (x != y)
            return false;
        if (x == PIECE_NONE)
            return true;
    }
}

/* ---- keying ---- */

typedef struct {
    uint32_t hash, depth, shim;
    bool cut;
} fkey_t;

static fkey_t fmap_get(const pa_pieces_t *p, uint32_t frame)
{
    fkey_t k = {p->fhash[frame], p->fdepth[frame] & FD_DEPTH, 0, false};
    if (p->fdepth[frame] & FD_EXTRA) {
        fextra_t *x;
        HASH_FIND(hh, p->extras, &frame, sizeof frame, x);
        if (x) {
            k.shim = x->shim;
            k.cut = x->cut;
        }
    }
    return k;
}

/* Maps frame node `frame` (its frames `e`), whose caller's key is *k, and leaves its own key in
 * *k. */
static int fmap_set(pa_pieces_t *p, uint32_t frame, const addr_entry_t *e, fkey_t *k)
{
    if (e == &cut_entry)
        k->cut = true;
    for (size_t j = e->n; j-- > 0;) /* outermost (the function inlined into) first */
        if (e->f[j].flags & PIECE_SHIM) {
            k->shim++;
        } else {
            k->hash = key_hash(k->hash, e->f[j].piece);
            k->depth++;
        }
    if (k->depth > FD_DEPTH)
        return PA_ENOMEM;
    p->fhash[frame] = k->hash;
    p->fdepth[frame] = k->depth | FD_MAPPED | (k->shim || k->cut ? FD_EXTRA : 0);
    if (k->shim || k->cut) {
        fextra_t *x = malloc(sizeof *x);
        if (!x)
            return PA_ENOMEM;
        *x = (fextra_t){.frame = frame, .shim = k->shim, .cut = k->cut};
        HASH_ADD(hh, p->extras, frame, sizeof x->frame, x);
    }
    return PA_OK;
}

/* The key of the frames from `leaf` out, mapping the frames on the way not mapped yet. Their
 * addresses are symbolized innermost first, as a walk of the whole stack would meet them (the
 * frames already mapped were symbolized before): the symbolizer's warnings come in the order
 * of the rows and frames. */
static int frame_key(pa_pieces_t *p, pa_symbols_t *syms, uint32_t leaf, fkey_t *k)
{
    size_t n = 0;
    uint32_t x = leaf;
    for (; x && !(p->fdepth[x] & FD_MAPPED); x = pa_model_frame_caller(p->t, x), n++) {
        if (pa_util_grow((void **)&p->scratch, &p->scratch_cap, n + 1, sizeof *p->scratch) != PA_OK)
            return PA_ENOMEM;
        p->scratch[n].frame = x;
        if (addr_frames(p, syms, x, &p->scratch[n].e) != PA_OK)
            return PA_ENOMEM;
    }
    *k = x ? fmap_get(p, x) : (fkey_t){KEY_HASH0, 0, 0, false};
    while (n--)
        if (fmap_set(p, p->scratch[n].frame, p->scratch[n].e, k) != PA_OK)
            return PA_ENOMEM;
    return PA_OK;
}

/* The hash of the key whose walk is `it` (key_walk's: past the leading frames), from the
 * frame nodes' hashes: the hash of its first node's caller, and that node's pieces from j. */
static uint32_t walk_hash(const pa_pieces_t *p, key_it_t it)
{
    uint32_t h = KEY_HASH0;
    if (it.node) {
        uint32_t c = pa_model_frame_caller(p->t, it.node);
        if (!it.j) {
            h = p->fhash[it.node];
        } else {
            const addr_entry_t *e = node_entry(p, it.node);
            h = c ? p->fhash[c] : KEY_HASH0;
            for (size_t j = e->n; j-- > it.j;)
                if (!(e->f[j].flags & PIECE_SHIM))
                    h = key_hash(h, e->f[j].piece);
        }
    }
    return h;
}

/* A row's key while the rows are grouped: the frame node its key is read from (0 for a
 * special), the key's hash, the view's frame count, hidden frames and note (an index into
 * row_notes; ROW_SKIPPED, the row is left out: live_only). A row of more hidden frames than 24
 * bits count is out of memory (pa_report_group). */
typedef struct {
    uint32_t leaf, hash, nframes;
    uint32_t hidden : 24, note : 8;
} rowslot_t;
_Static_assert(sizeof(rowslot_t) == 16, "a row's key in 16 bytes");

static const char *const row_notes[] = {NULL,       NOTE_NO_STACK, NOTE_MISSING,
                                        NOTE_EMPTY, NOTE_ALL_SHIM, NOTE_CUT};
enum { ROW_SKIPPED = 0xff };

static uint8_t row_note_index(const char *note)
{
    uint8_t i = 0;
    while (i + 1u < sizeof row_notes / sizeof row_notes[0] && row_notes[i] != note)
        i++;
    return i;
}

/* A row's key as pa_report_stack_view() makes it (hiding PA_HIDE_ALLOCATOR | PA_HIDE_SHIM). */
static int row_key(pa_trace_t *t, pa_symbols_t *syms, pa_pieces_t *p, uint32_t stack_id,
                   rowslot_t *k)
{
    memset(k, 0, sizeof *k);
    const pa_stack_t *s = stack_id ? pa_model_stack(t, stack_id) : NULL;
    int sp = stack_id == 0 ? SPECIAL_NO_STACK
             : !s          ? SPECIAL_MISSING
             : !s->depth   ? SPECIAL_EMPTY
                           : NSPECIALS;
    if (sp < NSPECIALS) {
        if (p->special[sp] == PIECE_NONE &&
            piece_intern(p, special_keys[sp], NULL, &p->special[sp]) != PA_OK)
            return PA_ENOMEM;
        k->hash = key_hash(KEY_HASH0 + 1 + (uint32_t)sp, p->special[sp]) & key_hash_mask;
        k->note = row_note_index(special_notes[sp]);
        return PA_OK;
    }
    fkey_t f;
    if (frame_key(p, syms, s->leaf, &f) != PA_OK)
        return PA_ENOMEM;
    size_t lead;
    key_it_t it = key_walk(p, s->leaf, f.cut, &lead);
    uint32_t h = lead ? walk_hash(p, it) : f.hash;
    if (f.shim + lead > 0xffffff)
        return PA_ENOMEM;
    k->leaf = s->leaf;
    k->hash = (f.cut ? key_hash(h, p->cut_piece) : h) & key_hash_mask;
    k->nframes = (uint32_t)(f.depth - lead);
    k->hidden = (uint32_t)(f.shim + lead);
    k->note = row_note_index(f.cut ? NOTE_CUT : k->nframes ? NULL : NOTE_ALL_SHIM);
    return PA_OK;
}

/* The first pass of a grouping of every row (the keys of the rows, the pieces), kept for the
 * next groupings of the same snapshot while pa_report_keep_keys() is on: the reports of
 * `export --format json` group one snapshot three times (summary, leaks, timeline). Kept only
 * when that pass added no warning to the trace: a report's own symbolizer would then have
 * added none either, so the reports that reuse it say what they said before. */
typedef struct {
    bool on;
    pa_trace_t *t;
    const pa_row_t *rows; /* the snapshot's, and its size: the one grouped */
    size_t nrows;
    pa_symbols_t *syms; /* a reference (pa_symbols_ref): the pieces' frames are its strings */
    pa_pieces_t *p;
    rowslot_t *keys;
} kept_t;
static kept_t kept;

static int group_rows(pa_trace_t *t, const pa_pieces_t *p, const rowslot_t *keys, bool live_only,
                      pa_groups_t *out);

void pa_report_keep_keys(bool on)
{
    pieces_free(kept.p);
    free(kept.keys);
    pa_symbols_free(kept.syms);
    memset(&kept, 0, sizeof kept);
    kept.on = on;
}

static bool kept_matches(const pa_trace_t *t)
{
    return kept.p && kept.t == t && kept.rows == t->snap.rows && kept.nrows == t->snap.nrows;
}

/* In two passes: every row's key first (symbolizing, with the frame nodes' hashes), then,
 * those freed, the groups. */
int pa_report_group(pa_trace_t *t, pa_symbols_t *syms, bool live_only, pa_groups_t *out)
{
    memset(out, 0, sizeof *out);
    out->t = t;
    out->syms = syms;
    if (kept.on && kept_matches(t)) {
        out->pieces = kept.p;
        out->pieces_kept = true;
        return group_rows(t, kept.p, kept.keys, live_only, out);
    }
    pa_pieces_t *p = out->pieces = calloc(1, sizeof *out->pieces);
    rowslot_t *keys = NULL; /* the key of each row */
    size_t nwarn = t->warnings.n;
    int rc = PA_OK;
    if (p) {
        p->t = t;
        p->naddrs = t->frames.naddrs;
        for (int i = 0; i < NSPECIALS; i++)
            p->special[i] = PIECE_NONE;
    }
    if (!p || (t->snap.nrows && !(keys = malloc(t->snap.nrows * sizeof *keys))) ||
        !(p->byaix = calloc(t->frames.naddrs ? t->frames.naddrs : 1, sizeof *p->byaix)) ||
        (t->frames.n && (!(p->fdepth = pa_util_zalloc(t->frames.n * sizeof *p->fdepth)) ||
                         !(p->fhash = malloc(t->frames.n * sizeof *p->fhash)))) ||
        piece_intern(p, KEY_CUT, NULL, &p->cut_piece))
        rc = PA_ENOMEM;
    if (p && p->fhash)
        pa_util_huge(p->fhash, t->frames.n * sizeof *p->fhash);
    for (size_t r = 0; r < t->snap.nrows && rc == PA_OK; r++) {
        const pa_row_t *row = &t->snap.rows[r];
        keys[r].note = ROW_SKIPPED;
        if (live_only && row->live_blocks == 0)
            continue;
        rc = row_key(t, syms, p, row->stack_id, &keys[r]);
        pa_progress_step("symbolizing and grouping", r + 1, t->snap.nrows, "stacks");
    }
    pa_progress_clear();
    if (p)
        pieces_trim(p);
    if (rc == PA_OK && kept.on && !live_only && t->warnings.n == nwarn) {
        pa_report_keep_keys(true);
        kept = (kept_t){.on = true,
                        .t = t,
                        .rows = t->snap.rows,
                        .nrows = t->snap.nrows,
                        .syms = pa_symbols_ref(syms),
                        .p = p,
                        .keys = keys};
        out->pieces_kept = true;
        return group_rows(t, p, keys, live_only, out);
    }
    if (rc == PA_OK)
        rc = group_rows(t, p, keys, live_only, out);
    else
        pa_report_groups_free(out);
    free(keys);
    return rc;
}

/* The slot of a row's key (key: its slot in keys, hash its hash) in group_rows' index of cap
 * slots (a power of two): its group + 1, or the empty one where it goes. A group's hash is
 * ghash's; groups of the same hash are told apart by their keys' pieces. */
static size_t group_slot(const pa_pieces_t *p, const uint32_t *index, size_t cap,
                         const pa_group_t *all, const uint32_t *ghash, const rowslot_t *key)
{
    size_t i = (size_t)(key->hash * 2654435761u) & (cap - 1); /* Knuth's multiplicative hash */
    for (; index[i]; i = (i + 1) & (cap - 1)) {
        const pa_group_t *g = &all[index[i] - 1];
        if (ghash[index[i] - 1] != key->hash || g->note != row_notes[key->note] ||
            g->nframes != key->nframes)
            continue;
        if (note_special(g->note) < NSPECIALS ||
            key_same(key_of(p, key->leaf, g->note), group_key(p, g)))
            break;
    }
    return i;
}

/* The second pass: the groups of the rows' keys (with live_only, of the rows with live blocks). */
static int group_rows(pa_trace_t *t, const pa_pieces_t *p, const rowslot_t *keys, bool live_only,
                      pa_groups_t *out)
{
    uint32_t *index = NULL; /* by key hash (group_slot): its group + 1 */
    uint32_t *ghash = NULL; /* by group: its key's hash */
    size_t nkept = 0;       /* rows grouped: at most that many groups */
    size_t cap = 64;
    int rc = PA_OK;
    for (size_t r = 0; r < t->snap.nrows; r++)
        nkept += keys[r].note != ROW_SKIPPED && !(live_only && t->snap.rows[r].live_blocks == 0);
    while (cap < nkept * 2)
        cap *= 2;
    /* the groups' array sized once for the most there can be: the pages of groups that never
     * come are never touched, and no doubling copies it; a group does not move, so each row
     * takes its group's address at once */
    if (t->snap.nrows &&
        (!(out->row_group = calloc(t->snap.nrows, sizeof *out->row_group)) ||
         !(index = pa_util_zalloc(cap * sizeof *index)) ||
         !(ghash = malloc((nkept ? nkept : 1) * sizeof *ghash)) ||
         (nkept && pa_util_grow((void **)&out->all, &out->cap, nkept, sizeof *out->all))))
        rc = PA_ENOMEM;
    pa_util_huge(out->row_group, t->snap.nrows * sizeof *out->row_group);
    for (size_t r = 0; r < t->snap.nrows && rc == PA_OK; r++) {
        const pa_row_t *row = &t->snap.rows[r];
        const rowslot_t *key = &keys[r];
        if (key->note == ROW_SKIPPED || (live_only && row->live_blocks == 0))
            continue;
        uint32_t *slot = &index[group_slot(p, index, cap, out->all, ghash, key)];
        if (!*slot) {
            if (out->n >= UINT32_MAX - 1 || out->n >= out->cap) {
                rc = PA_ENOMEM;
                break;
            }
            ghash[out->n] = key->hash;
            out->all[out->n] = (pa_group_t){.nframes = key->nframes,
                                            .hidden = key->hidden,
                                            .note = row_notes[key->note],
                                            .first_stack_id = row->stack_id,
                                            .shown_stack_id = row->stack_id,
                                            .suppressed_by = -1};
            *slot = (uint32_t)++out->n;
        }
        pa_group_t *g = &out->all[*slot - 1];
        out->row_group[r] = g;
        g->stacks++;
        g->allocs += row->allocs;
        g->alloc_bytes += row->alloc_bytes;
        g->frees += row->frees;
        g->freed_bytes += row->freed_bytes;
        g->live_blocks += row->live_blocks;
        g->live_bytes += row->live_bytes;
        g->peak_live_bytes += row->peak_live_bytes;
        if (row->stack_id < g->first_stack_id)
            g->first_stack_id = row->stack_id;
    }
    free(index);
    free(ghash);
    if (rc == PA_OK && out->n && !(out->items = malloc(out->n * sizeof *out->items)))
        rc = PA_ENOMEM;
    for (size_t i = 0; rc == PA_OK && i < out->n; i++)
        out->items[i] = &out->all[i];
    if (rc != PA_OK)
        pa_report_groups_free(out);
    return rc;
}

int pa_report_group_view(const pa_groups_t *g, const pa_group_t *x, pa_stackview_t *v)
{
    return stack_view(g->t, g->syms, x->shown_stack_id, PA_HIDE_ALLOCATOR | PA_HIDE_SHIM, false, v);
}

/* The pattern a piece's frame matches (-1: none, or not a frame), asked once per piece. */
static int piece_match(const pa_pieces_t *p, const pa_suppress_t *supp, uint32_t piece)
{
    piece_t *c = p->items[piece];
    if (!c->frame) /* KEY_*: not a frame */
        return -1;
    if (c->match == -2)
        c->match = pa_suppress_match(supp, c->frame, 1);
    return c->match;
}

/* The pattern matching the pieces of the walk `it` (-1: none), the first match from the
 * innermost piece. */
static int walk_match(const pa_pieces_t *p, const pa_suppress_t *supp, key_it_t it)
{
    for (uint32_t x; (x = key_next(&it)) != PIECE_NONE;) {
        int m = piece_match(p, supp, x);
        if (m >= 0)
            return m;
    }
    return -1;
}

int pa_report_group_suppress(pa_groups_t *g, const pa_suppress_t *supp)
{
    const pa_pieces_t *p = g->pieces;
    /* each frame node's answer (for its pieces and its callers') + 2 (0: not known yet), in a
     * byte: the sites of a trace share the nodes of their outer frames, which are then walked
     * once, not once per site (100k sites of 20 frames: 39M instructions before). MEMO_FAR: a
     * pattern past the 253rd, asked again of walk_match from that node */
    enum { MEMO_FAR = 0xff };
    size_t nodes = p ? p->t->frames.n : 0;
    uint8_t *memo = supp && nodes ? calloc(nodes, sizeof *memo) : NULL;
    for (size_t i = 0; g->pieces_kept && i < p->n; i++) /* another report's patterns */
        p->items[i]->match = -2;
    for (size_t i = 0; i < g->n; i++) {
        pa_group_t *x = g->items[i];
        x->suppressed_by = -1;
        if (!supp)
            continue;
        key_it_t it = group_key(p, x);
        it.tail = PIECE_NONE; /* (KEY_* pieces: no frame) */
        if (!memo) {          /* out of memory: every site walks its own frames */
            x->suppressed_by = walk_match(p, supp, it);
            continue;
        }
        /* the pieces of a node the leading hidden frames end in: on their own */
        int r = -1;
        for (uint32_t y; r < 0 && it.node && it.j && (y = key_next(&it)) != PIECE_NONE;)
            r = piece_match(p, supp, y);
        if (r >= 0) {
            x->suppressed_by = r;
            continue;
        }
        /* then up to the first node known, or matched; the nodes walked learn its answer */
        uint32_t k = it.node;
        while (k && !memo[k]) {
            const addr_entry_t *e = node_entry(p, k);
            int m = -1;
            for (uint32_t j = 0; j < e->n && m < 0; j++)
                if (!(e->f[j].flags & PIECE_SHIM))
                    m = piece_match(p, supp, e->f[j].piece);
            if (m >= 0) {
                memo[k] = m + 2 < MEMO_FAR ? (uint8_t)(m + 2) : MEMO_FAR;
                break;
            }
            k = pa_model_frame_caller(p->t, k);
        }
        r = !k                   ? -1
            : memo[k] < MEMO_FAR ? memo[k] - 2
                                 : walk_match(p, supp, (key_it_t){p, k, 0, PIECE_NONE});
        for (uint32_t m = it.node; m != k; m = pa_model_frame_caller(p->t, m))
            memo[m] = r + 2 < MEMO_FAR ? (uint8_t)(r + 2) : MEMO_FAR;
        x->suppressed_by = r;
    }
    free(memo);
    return PA_OK;
}

void pa_report_groups_free(pa_groups_t *g)
{
    free(g->from);
    free(g->all);
    free(g->items);
    free(g->row_group);
    if (!g->pieces_kept)
        pieces_free(g->pieces);
    memset(g, 0, sizeof *g);
}

void pa_report_groups_drop_keys(pa_groups_t *g)
{
    free(g->from);
    g->from = NULL;
    if (!g->pieces_kept)
        pieces_free(g->pieces);
    g->pieces = NULL;
    g->pieces_kept = false;
}

static int cmp_u64_desc(uint64_t a, uint64_t b)
{
    return a > b ? -1 : a < b ? 1 : 0;
}

static int cmp_piece_text(const void *a, const void *b)
{
    return strcmp((*(piece_t *const *)a)->s, (*(piece_t *const *)b)->s);
}

/* Numbers the pieces in strcmp() order and marks those that are a prefix of another (a prefix of
 * some piece is one of the piece right after it in that order). Out of memory, every piece is
 * marked: keys are then compared as text. */
static void pieces_rank(pa_pieces_t *p)
{
    if (p->ranked)
        return;
    piece_t **v = malloc((p->n ? p->n : 1) * sizeof *v);
    if (!v) {
        for (size_t i = 0; i < p->n; i++)
            p->items[i]->prefix = true;
        return;
    }
    memcpy(v, p->items, p->n * sizeof *v);
    qsort(v, p->n, sizeof *v, cmp_piece_text);
    for (size_t i = 0; i < p->n; i++) {
        v[i]->rank = (uint32_t)i;
        v[i]->prefix = i + 1 < p->n && strncmp(v[i]->s, v[i + 1]->s, strlen(v[i]->s)) == 0;
    }
    free(v);
    p->ranked = true;
}

/* group_key() of a group of g, its start kept in g->from for the next comparisons of a sort
 * (where each group is compared about log2(groups) times: its stack looked up and its leading
 * frames skipped each time cost a compile's `leaks` 8% more instructions); made on the first
 * comparison that reaches the keys, 8 bytes a group, freed with the groups. */
#define FROM_KNOWN 0x80000000u
static key_it_t group_key_of(pa_groups_t *g, const pa_group_t *x)
{
    if (!g->from && !g->from_failed && !(g->from = calloc(g->cap ? g->cap : 1, sizeof *g->from)))
        g->from_failed = true;
    size_t i = (size_t)(x - g->all);
    if (!g->from || i >= g->cap)
        return group_key(g->pieces, x);
    uint64_t f = g->from[i];
    if (!(f & FROM_KNOWN)) {
        key_it_t it = group_key(g->pieces, x);
        if (it.j >= FROM_KNOWN)
            return it;
        g->from[i] = f = (uint64_t)it.node << 32 | it.j | FROM_KNOWN;
    }
    int sp = note_special(x->note);
    return (key_it_t){g->pieces, (uint32_t)(f >> 32), (uint32_t)f & ~FROM_KNOWN,
                      sp < NSPECIALS        ? g->pieces->special[sp]
                      : x->note == NOTE_CUT ? g->pieces->cut_piece
                                            : PIECE_NONE};
}

/* strcmp() of the serialized keys the walks x and y read on, character by character. */
static int cmp_text(const pa_pieces_t *p, key_it_t x, key_it_t y)
{
    const unsigned char *sa = (const unsigned char *)"", *sb = sa;
    for (;;) {
        for (uint32_t k; !*sa && (k = key_next(&x)) != PIECE_NONE;)
            sa = (const unsigned char *)p->items[k]->s;
        for (uint32_t k; !*sb && (k = key_next(&y)) != PIECE_NONE;)
            sb = (const unsigned char *)p->items[k]->s;
        if (*sa != *sb || !*sa)
            return (int)*sa - (int)*sb;
        sa++;
        sb++;
    }
}

/* strcmp() of the serialized keys of a and b, read piece by piece: with no piece a prefix of
 * another, the first pieces that differ order the strings as they order each other. */
static int cmp_key(pa_groups_t *g, const pa_group_t *a, const pa_group_t *b)
{
    pa_pieces_t *p = g->pieces;
    key_it_t x = group_key_of(g, a), y = group_key_of(g, b);
    for (;;) {
        key_skip_same(&x, &y);
        if (x.node && x.node == y.node && x.j == y.j) /* the same frames from here out */
            x.node = y.node = 0;
        key_it_t x0 = x, y0 = y;
        uint32_t u = key_next(&x), v = key_next(&y);
        if (u == v) {
            if (u == PIECE_NONE)
                return 0;
            continue;
        }
        if (u == PIECE_NONE || v == PIECE_NONE)
            return u == PIECE_NONE ? -1 : 1; /* one key is the other's start: the shorter first */
        pieces_rank(p); /* at the first pieces that differ: a sort decided by the counters alone
                           (the top few sites of a report) never ranks them */
        const piece_t *ca = p->items[u], *cb = p->items[v];
        return ca->prefix || cb->prefix ? cmp_text(p, x0, y0) : ca->rank < cb->rank ? -1 : 1;
    }
}

/* The counters' part of cmp_live (pa_util_sort_top_by's coarse order). */
static int coarse_live(const void *pa, const void *pb, void *ctx)
{
    const pa_group_t *a = *(pa_group_t *const *)pa, *b = *(pa_group_t *const *)pb;
    (void)ctx;
    int c = cmp_u64_desc(a->live_bytes, b->live_bytes);
    return c ? c : cmp_u64_desc(a->live_blocks, b->live_blocks);
}

static int cmp_live(const void *pa, const void *pb, void *ctx)
{
    int c = coarse_live(pa, pb, NULL);
    return c ? c : cmp_key(ctx, *(pa_group_t *const *)pa, *(pa_group_t *const *)pb);
}

/* The counters' part of cmp_alloc. */
static int coarse_alloc(const void *pa, const void *pb, void *ctx)
{
    const pa_group_t *a = *(pa_group_t *const *)pa, *b = *(pa_group_t *const *)pb;
    (void)ctx;
    int c = cmp_u64_desc(a->alloc_bytes, b->alloc_bytes);
    return c ? c : cmp_u64_desc(a->allocs, b->allocs);
}

static int cmp_alloc(const void *pa, const void *pb, void *ctx)
{
    int c = coarse_alloc(pa, pb, NULL);
    return c ? c : cmp_key(ctx, *(pa_group_t *const *)pa, *(pa_group_t *const *)pb);
}

/* (pa_util_sort_top: cmp is a total order, groups of equal keys being one group; a sort of
 * 124k sites, a compile's summary, spends most of its time comparing the keys of sites with
 * equal counters that no report prints) */
static void sort_top(pa_groups_t *g, size_t k, int (*cmp)(const void *, const void *, void *))
{
    pa_util_sort_top_by(g->items, g->n, sizeof *g->items, k,
                        cmp == cmp_live ? coarse_live : coarse_alloc, cmp, g);
}

void pa_report_sort_by_live(pa_groups_t *g)
{
    sort_top(g, 0, cmp_live);
}

void pa_report_sort_by_alloc(pa_groups_t *g)
{
    sort_top(g, 0, cmp_alloc);
}

void pa_report_sort_top_by_live(pa_groups_t *g, size_t k)
{
    sort_top(g, k, cmp_live);
}

void pa_report_sort_top_by_alloc(pa_groups_t *g, size_t k)
{
    sort_top(g, k, cmp_alloc);
}

void pa_report_sort_top_by_live_of(pa_groups_t *g, pa_group_t **v, size_t n, size_t k)
{
    pa_util_sort_top_by(v, n, sizeof *v, k, coarse_live, cmp_live, g);
}

int pa_report_cmp_live(const pa_groups_t *g, const pa_group_t *a, const pa_group_t *b)
{
    return a == b ? 0 : cmp_live(&a, &b, (pa_groups_t *)g);
}

/* ---- frames ---------------------------------------------------------------------------------- */

/* The frames i.. that fold into one line: a run of C++ standard library frames (2 or more). */
static size_t library_run(const pa_frame_t *frames, size_t n, size_t i)
{
    size_t k = i;
    while (k < n && frames[k].library && frames[k].function)
        k++;
    return k - i >= 2 ? k - i : 0;
}

/* Appends a string literal. */
#define PUT(b, lit) pa_str_append(b, lit, sizeof lit - 1)

/* The text of a single frame's line after "#N ": "function (file:line)", or "module+0xoffset"
 * when unresolved, and " [inlined]" for an inlined one; with its newline. */
static void frame_text(pa_str_t *b, const pa_frame_t *f)
{
    if (f->function) {
        pa_str_puts_safe(b, f->function);
        PUT(b, " (");
    }
    if (f->function && f->file) {
        pa_str_puts_safe(b, pa_util_basename(f->file));
        if (f->line) {
            PUT(b, ":");
            pa_str_u64(b, f->line);
        }
    } else {
        pa_str_puts_safe(b, pa_util_basename(f->module));
        PUT(b, "+0x");
        pa_str_hex(b, f->offset);
    }
    if (f->function)
        PUT(b, ")");
    if (f->inlined)
        PUT(b, " [inlined]\n");
    else
        PUT(b, "\n");
}

/* A frame as a JSON object, in the layout the writer gives a compact object. mod/mod_of: the
 * escaped path of the last module written (module paths are interned: one pointer per path),
 * so that a stack's run of frames in one module escapes it once. */
static void frame_json(pa_str_t *b, const pa_frame_t *f, pa_str_t *mod, const char **mod_of)
{
    PUT(b, "{\"function\": ");
    pa_json_append_string(b, f->function);
    PUT(b, ", \"file\": ");
    pa_json_append_string(b, f->file);
    PUT(b, ", \"line\": ");
    if (f->line)
        pa_str_u64(b, f->line);
    else
        PUT(b, "null");
    PUT(b, ", \"module\": ");
    if (f->module != *mod_of || !*mod_of) {
        mod->len = 0;
        pa_json_append_string(mod, f->module);
        *mod_of = f->module;
    }
    pa_str_append(b, mod->s, mod->len);
    PUT(b, ", \"address\": \"0x");
    pa_str_hex(b, f->address);
    PUT(b, "\", \"offset\": \"0x");
    pa_str_hex(b, f->offset);
    if (f->inlined)
        PUT(b, "\", \"inlined\": true");
    else
        PUT(b, "\", \"inlined\": false");
    if (f->library)
        PUT(b, ", \"library\": true}");
    else
        PUT(b, ", \"library\": false}");
}

/* ---- the frame cache of a view ----------------------------------------------------------------
 * A full leaks report of a compile writes 1.2M frames but only ~20k distinct ones: each is
 * formatted (escaped, numbers converted) once, then copied. Open addressing, linear probing. */

enum { FC_TEXT, FC_JSON, FC_FORMS };

typedef struct {
    pa_frame_t f;           /* the key: every field (strings by pointer); f.module NULL: free */
    char *form[FC_FORMS];   /* frame_text() / frame_json() of it; NULL until first needed */
    uint32_t len[FC_FORMS]; /* their lengths */
} fc_entry_t;

struct pa_frame_cache {
    fc_entry_t *e;
    size_t n, cap; /* cap: a power of two, or 0 */
    pa_str_t b;    /* scratch: the form being made */
    pa_str_t mod;  /* frame_json's last module */
    const char *mod_of;
};

static struct pa_frame_cache *frame_cache_new(void)
{
    return calloc(1, sizeof(struct pa_frame_cache)); /* its table is made on first use */
}

static void frame_cache_free(struct pa_frame_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->cap; i++)
        for (int k = 0; k < FC_FORMS; k++)
            free(c->e[i].form[k]);
    free(c->e);
    pa_str_free(&c->b);
    pa_str_free(&c->mod);
    free(c);
}

static inline size_t fc_hash(const pa_frame_t *f)
{
    uint64_t h = f->address * 0x9e3779b97f4a7c15ull;
    h ^= (uint64_t)(uintptr_t)f->function * 0xff51afd7ed558ccdull;
    h ^= ((uint64_t)f->line << 1 | f->inlined) * 0xc4ceb9fe1a85ec53ull;
    return (size_t)(h ^ h >> 29);
}

static inline bool fc_same(const pa_frame_t *a, const pa_frame_t *b)
{
    return a->address == b->address && a->function == b->function && a->file == b->file &&
           a->line == b->line && a->module == b->module && a->offset == b->offset &&
           a->inlined == b->inlined && a->library == b->library;
}

/* Doubles c's table (or makes its first): false when out of memory. */
static bool fc_grow(struct pa_frame_cache *c)
{
    size_t cap = c->cap ? 2 * c->cap : 1024;
    fc_entry_t *e = calloc(cap, sizeof *e);
    if (!e)
        return false;
    for (size_t i = 0; i < c->cap; i++) {
        if (!c->e[i].f.module)
            continue;
        size_t k = fc_hash(&c->e[i].f) & (cap - 1);
        while (e[k].f.module)
            k = (k + 1) & (cap - 1);
        e[k] = c->e[i];
    }
    free(c->e);
    c->e = e;
    c->cap = cap;
    return true;
}

/* The form `which` of frame f, made on first use; NULL when out of memory (or when f has no
 * module: such a frame is never cached). The table is at most half full: a frame found (the
 * reports' 2.6M lookups but 20k) probes a slot or two, and the table grows only to add one. */
static inline const char *fc_get(struct pa_frame_cache *c, const pa_frame_t *f, int which,
                                 size_t *len)
{
    if (!f->module)
        return NULL;
    fc_entry_t *e = NULL;
    if (c->cap) {
        size_t k = fc_hash(f) & (c->cap - 1);
        while (c->e[k].f.module && !fc_same(&c->e[k].f, f))
            k = (k + 1) & (c->cap - 1);
        e = &c->e[k];
    }
    if (!e || !e->f.module) { /* a frame not seen yet */
        if (2 * (c->n + 1) > c->cap) {
            if (!fc_grow(c))
                return NULL;
            size_t k = fc_hash(f) & (c->cap - 1);
            while (c->e[k].f.module)
                k = (k + 1) & (c->cap - 1);
            e = &c->e[k];
        }
        e->f = *f;
        c->n++;
    }
    if (!e->form[which]) {
        c->b.len = 0;
        if (which == FC_TEXT)
            frame_text(&c->b, f);
        else
            frame_json(&c->b, f, &c->mod, &c->mod_of);
        if (c->b.failed || c->b.len > UINT32_MAX || !(e->form[which] = malloc(c->b.len)))
            return NULL;
        memcpy(e->form[which], c->b.s, c->b.len);
        e->len[which] = (uint32_t)c->b.len;
    }
    *len = e->len[which];
    return e->form[which];
}

/* The line of frame i after "#N " into b (frame_text, or the library run it starts, which it
 * names); the frames it took (1, or the run's). */
static size_t frame_line(pa_str_t *b, const pa_frame_t *frames, size_t n, size_t i, bool all_frames,
                         struct pa_frame_cache *cache)
{
    size_t run = all_frames ? 0 : library_run(frames, n, i);
    const char *s;
    size_t len;
    if (run) { /* named by the outermost: the library function the program called */
        bool inlined = true;
        for (size_t k = i; k < i + run; k++)
            inlined &= frames[k].inlined;
        pa_str_puts_safe(b, frames[i + run - 1].function);
        PUT(b, " [");
        pa_str_u64(b, run);
        if (inlined)
            PUT(b, " inlined library frames]\n");
        else
            PUT(b, " library frames]\n");
        return run;
    }
    if (cache && (s = fc_get(cache, &frames[i], FC_TEXT, &len)) != NULL)
        pa_str_append(b, s, len);
    else
        frame_text(b, &frames[i]);
    return 1;
}

/* Frames are written a line at a time. With a cache, a frame's text is made once, and its line
 * (indentation, "#N ", the text) is copied into the stream's buffer in place (a full leaks
 * report of a compile is 2.6M of them: a string and an fwrite a line cost 600 instructions);
 * a library run, a frame not cached, or a buffer without room is made in a string, then one
 * fwrite. */
static void frames_text(FILE *out, const char *note, const pa_frame_t *frames, size_t n,
                        const char *indent, bool all_frames, struct pa_frame_cache *cache)
{
    if (note)
        fprintf(out, "%s(%s)\n", indent, note);
    pa_str_t b = {0};
    size_t ilen = strlen(indent);
    size_t line = 0;
    for (size_t i = 0; i < n; i++, line++) {
        const char *s;
        size_t len;
        if (cache && (all_frames || !library_run(frames, n, i)) &&
            (s = fc_get(cache, &frames[i], FC_TEXT, &len)) != NULL) {
            char num[20];
            size_t w = pa_json_format_u64(num, line);
            char *at = pa_out_room(out, ilen + w + 2 + len);
            if (at) {
                memcpy(at, indent, ilen);
                at += ilen;
                *at++ = '#';
                memcpy(at, num, w);
                at += w;
                *at++ = ' ';
                memcpy(at, s, len);
                continue;
            }
        }
        b.len = 0;
        pa_str_puts(&b, indent);
        PUT(&b, "#");
        pa_str_u64(&b, line);
        PUT(&b, " ");
        i += frame_line(&b, frames, n, i, all_frames, cache) - 1;
        if (b.failed)
            break;
        fwrite(b.s, 1, b.len, out);
    }
    pa_str_free(&b);
}

void pa_report_frames_text_n(FILE *out, const char *note, const pa_frame_t *frames, size_t n,
                             const char *indent, bool all_frames)
{
    frames_text(out, note, frames, n, indent, all_frames, NULL);
}

const char *pa_report_frame_brief(const pa_frame_t *f, char *buf, size_t size)
{
    if (!f)
        snprintf(buf, size, "?");
    else if (f->function)
        snprintf(buf, size, "%s", f->function);
    else
        snprintf(buf, size, "%s+0x%llx", pa_util_basename(f->module),
                 (unsigned long long)f->offset);
    return buf;
}

void pa_report_frames_text(FILE *out, const pa_stackview_t *v, const char *indent, bool all_frames)
{
    frames_text(out, v->note, v->frames, v->nframes, indent, all_frames, v->cache);
}

/* Each frame object is made in a string and written whole (pa_json_raw). */
static void frames_json(pa_json_t *j, const pa_frame_t *frames, size_t n,
                        struct pa_frame_cache *cache)
{
    pa_json_array_begin(j, false);
    pa_str_t b = {0}, mod = {0};
    const char *mod_of = NULL;
    for (size_t i = 0; i < n; i++) {
        const char *s;
        size_t len;
        if (cache && (s = fc_get(cache, &frames[i], FC_JSON, &len)) != NULL) {
            pa_json_raw(j, s, len);
            continue;
        }
        b.len = 0;
        frame_json(&b, &frames[i], &mod, &mod_of);
        if (b.failed || mod.failed)
            break;
        pa_json_raw(j, b.s, b.len);
    }
    pa_str_free(&b);
    pa_str_free(&mod);
    pa_json_array_end(j);
}

void pa_report_frames_json_n(pa_json_t *j, const pa_frame_t *frames, size_t n)
{
    frames_json(j, frames, n, NULL);
}

void pa_report_stack_json(pa_json_t *j, const char *note, const pa_frame_t *frames, size_t n)
{
    if (note) {
        pa_json_key(j, "note");
        pa_json_string(j, note);
    }
    pa_json_key(j, "stack");
    pa_report_frames_json_n(j, frames, n);
}

void pa_report_frames_json(pa_json_t *j, const pa_stackview_t *v)
{
    frames_json(j, v->frames, v->nframes, v->cache);
}

/* ---- process, status ----------------------------------------------------------------------- */

void pa_report_header_text(FILE *out, const pa_trace_t *t, const char *title)
{
    const pa_process_t *p = &t->process;
    bool merged = t->merged_processes > 1; /* one process merged is that process */
    if (merged) {
        fprintf(out, "%s for %u processes merged by perfshim merge -o\n", title,
                (unsigned)t->merged_processes);
        if (t->has_process && !p->argc) {
            fputs("  first:    ", out);
            pa_util_fputs_safe(out, p->program);
            fputc('\n', out);
        }
    } else if (t->has_process) {
        fprintf(out, "%s for ", title);
        pa_util_fputs_safe(out, p->program);
        fprintf(out, " (pid %llu)\n", (unsigned long long)p->pid);
    } else
        fprintf(out, "%s for an unknown program (PROCESS chunk lost)\n", title);
    if (t->has_process && p->argc) {
        fputs(merged ? "  first:    " : "  command:  ", out);
        for (uint32_t i = 0; i < p->argc; i++) {
            fputs(i ? " " : "", out);
            pa_util_fputs_safe(out, p->argv[i]);
        }
        fputc('\n', out);
    }
    fprintf(out, "  trace:    %s\n", t->path);
    if (t->has_section) { /* perfshim ctl: one file per section, never mixed */
        fprintf(out, "  section:  %u, %s at %.3f s", (unsigned)t->section.number,
                t->section.how == PS_SECTION_CTL    ? "started by perfshim ctl"
                : t->section.how == PS_SECTION_EXEC ? "after a failed exec"
                                                    : "from the start",
                (double)t->section.start_ns / 1e9);
        if (t->section.first[0]) {
            fputs("; only what was allocated since (section 1: ", out);
            pa_util_fputs_safe(out, t->section.first);
            fputc(')', out);
        }
        fputc('\n', out);
    }
    char desc[128];
    if (t->nsnapshots > 1) /* which one of them */
        fprintf(out, "  snapshot: %s\n", pa_model_snapshot_desc(t, desc, sizeof desc));
    else
        fprintf(out, "  snapshot: %s, %.3f s after start\n", pa_model_snapshot_reason(&t->snap),
                (double)t->snap.time_ns / 1e9);
    if (t->snap.flags & PS_SNAP_F_EXEC) /* the last snapshot of an image that exec'ed */
        fputs("  ended:    by exec (the new program, same pid, writes a trace of its own)\n", out);
}

void pa_report_process_json(pa_json_t *j, const pa_trace_t *t)
{
    const pa_process_t *p = &t->process;
    bool h = t->has_process;
    pa_json_key(j, "process");
    pa_json_object_begin(j, false);
    pa_json_key(j, "pid");
    h && t->merged_processes <= 1 ? pa_json_u64(j, p->pid) : pa_json_null(j);
    if (t->merged_processes) /* a perfshim merge -o file: the rest is its first process's */
        pa_json_kv_u64(j, "merged_processes", t->merged_processes);
    pa_json_key(j, "ppid");
    h ? pa_json_u64(j, p->ppid) : pa_json_null(j);
    pa_json_key(j, "program");
    pa_json_string(j, h ? p->program : NULL);
    pa_json_key(j, "argv");
    pa_json_array_begin(j, true);
    for (uint32_t i = 0; h && i < p->argc; i++)
        pa_json_string(j, p->argv[i]);
    pa_json_array_end(j);
    pa_json_key(j, "hostname");
    pa_json_string(j, h ? p->hostname : NULL);
    pa_json_key(j, "tool_version");
    pa_json_string(j, h ? p->tool_version : NULL);
    pa_json_key(j, "start_time_ns");
    h ? pa_json_u64(j, p->start_realtime_ns) : pa_json_null(j);
    pa_json_key(j, "options");
    pa_json_object_begin(j, true);
    for (const char *o = h ? p->options : ""; *o;) {
        size_t len = strcspn(o, "\n");
        const char *eq = memchr(o, '=', len);
        if (eq) {
            char name[128];
            snprintf(name, sizeof name, "%.*s", (int)(eq - o), o);
            pa_json_key(j, name);
            pa_json_string_n(j, eq + 1, len - (size_t)(eq + 1 - o));
        }
        o += len + (o[len] == '\n');
    }
    pa_json_object_end(j);
    pa_json_object_end(j);

    pa_json_key(j, "trace");
    pa_json_string(j, t->path);
    pa_json_key(j, "format_version");
    pa_json_u64(j, t->version);
    pa_json_key(j, "snapshot");
    pa_json_object_begin(j, true);
    pa_json_key(j, "reason");
    pa_json_string(j, pa_model_snapshot_reason(&t->snap));
    pa_json_key(j, "time_ns");
    pa_json_u64(j, t->snap.time_ns);
    if (t->snap.flags & PS_SNAP_F_EXEC) { /* only then: the process went on as another program */
        pa_json_key(j, "exec");
        pa_json_bool(j, true);
    }
    pa_json_key(j, "snapshots");
    pa_json_u64(j, t->nsnapshots);
    pa_json_key(j, "number");
    pa_json_u64(j, t->snap.number);
    pa_json_key(j, "delta");
    pa_json_bool(j, t->snap.delta);
    pa_json_object_end(j);
    if (t->has_section) { /* only in traces of processes with a control channel */
        pa_json_key(j, "section");
        pa_json_object_begin(j, true);
        pa_json_key(j, "number");
        pa_json_u64(j, t->section.number);
        pa_json_key(j, "started_by");
        pa_json_string(j, t->section.how == PS_SECTION_CTL    ? "ctl"
                          : t->section.how == PS_SECTION_EXEC ? "exec"
                                                              : "start");
        pa_json_key(j, "start_ns");
        pa_json_u64(j, t->section.start_ns);
        pa_json_key(j, "first_trace");
        pa_json_string(j, t->section.first);
        pa_json_object_end(j);
    }
}

/* ---- sampled traces ------------------------------------------------------------------------- */

const char *pa_report_est(const pa_trace_t *t)
{
    pa_sampling_t s;
    return pa_model_sampled(t, &s) ? "~" : "";
}

/* The half-width of the 95% interval (2 standard errors) of an estimate of `bytes` bytes at
 * mean interval `mean`. A block of s bytes sampled with p = 1 - e^(-s/T) and weighted s/p adds
 * s^2 (1-p)/p <= s T to the variance, so a site of B bytes has a standard error of at most
 * sqrt(T B); the estimate stands in for B, and at least T for an estimate of a few samples. */
static double interval_half(uint64_t bytes, uint64_t mean)
{
    double b = (double)bytes > (double)mean ? (double)bytes : (double)mean;
    return 2 * sqrt((double)mean * b);
}

static void interval_json(pa_json_t *j, double v, double rel_half)
{
    pa_json_array_begin(j, true);
    double lo = v * (1 - rel_half);
    pa_json_u64(j, lo > 0 ? (uint64_t)lo : 0);
    pa_json_u64(j, (uint64_t)(v * (1 + rel_half) + 0.5));
    pa_json_array_end(j);
}

void pa_report_estimate_json(pa_json_t *j, const pa_trace_t *t, const char *bytes_key,
                             uint64_t bytes, const char *count_key, uint64_t count)
{
    pa_sampling_t s;
    if (!pa_model_sampled(t, &s))
        return;
    pa_json_key(j, "estimated");
    pa_json_bool(j, true);
    pa_str_t k = {0};
    uint64_t mean = s.max_mean_bytes;
    double half = mean ? interval_half(bytes, mean) : 0;
    double rel = bytes ? half / (double)bytes : 0;
    pa_str_printf(&k, "%s_interval", bytes_key);
    pa_json_key(j, pa_str_get(&k));
    if (!mean) {
        pa_json_null(j);
    } else {
        pa_json_array_begin(j, true);
        pa_json_u64(j, (double)bytes > half ? (uint64_t)((double)bytes - half) : 0);
        pa_json_u64(j, (uint64_t)((double)bytes + half + 0.5));
        pa_json_array_end(j);
    }
    pa_str_free(&k);
    pa_str_printf(&k, "%s_interval", count_key);
    pa_json_key(j, pa_str_get(&k));
    if (!mean || !bytes)
        pa_json_null(j);
    else
        interval_json(j, (double)count, rel);
    pa_str_free(&k);
}

static void sampling_json(pa_json_t *j, const pa_trace_t *t)
{
    pa_sampling_t s;
    pa_json_key(j, "sampling");
    if (!pa_model_sampled(t, &s)) {
        pa_json_null(j);
        return;
    }
    pa_json_object_begin(j, false);
    pa_json_key(j, "estimated");
    pa_json_bool(j, true);
    PA_ROW_JSON(j, SAMPLING, &s, mean_bytes, means);
    pa_json_key(j, "confidence");
    pa_json_f64(j, 0.95);
    pa_json_object_end(j);
}

static void sampling_text(FILE *out, const pa_trace_t *t)
{
    pa_sampling_t s;
    if (!pa_model_sampled(t, &s))
        return;
    if (s.max_mean_bytes)
        fprintf(out,
                "  SAMPLED: one sample point per %llu bytes on average%s; figures marked ~ are "
                "estimates\n  (unbiased; 95%% interval of an estimate of B bytes: B +- "
                "2*sqrt(%llu*B); small leaks may be missed)\n",
                (unsigned long long)s.max_mean_bytes,
                s.mean_bytes == s.max_mean_bytes ? "" : " (the largest mean used)",
                (unsigned long long)s.max_mean_bytes);
    else
        fprintf(out, "  SAMPLED: figures marked ~ are estimates (the sampling interval is not "
                     "in the trace)\n");
}

void pa_report_status_json(pa_json_t *j, const pa_trace_t *t)
{
    pa_json_key(j, "complete");
    pa_json_bool(j, pa_model_complete(t));
    pa_json_key(j, "warnings");
    pa_json_array_begin(j, false);
    for (size_t i = 0; i < t->warnings.n; i++)
        pa_json_string(j, t->warnings.items[i]);
    pa_json_array_end(j);
    pa_json_key(j, "messages");
    pa_json_array_begin(j, false);
    for (size_t i = 0; i < t->nmessages; i++) {
        pa_json_object_begin(j, true);
        pa_json_key(j, "severity");
        pa_json_string(j, t->messages[i].severity >= 2 ? "error" : "warning");
        pa_json_key(j, "text");
        pa_json_string(j, t->messages[i].text);
        pa_json_object_end(j);
    }
    pa_json_array_end(j);
    sampling_json(j, t);
}

void pa_report_status_text(FILE *out, const pa_trace_t *t)
{
    sampling_text(out, t);
    if (!pa_model_complete(t))
        fprintf(out, "  NOTE: incomplete trace (%s); %zu warning(s) on stderr\n",
                t->damaged ? "damaged" : "no END chunk", t->warnings.n);
    for (size_t i = 0; i < t->nmessages; i++) {
        fprintf(out, "  shim %s: ", t->messages[i].severity >= 2 ? "error" : "warning");
        pa_util_fputs_safe(out, t->messages[i].text);
        fputc('\n', out);
    }
    if (t->messages_dropped)
        fprintf(out, "  (%llu more shim messages not shown)\n",
                (unsigned long long)t->messages_dropped);
}

/* The loop of both: each trace loaded and given to one_trace (an unreadable one is skipped, said
 * by pa_model_load_at), or each path given to one_path. Text reports are separated by blank
 * lines: one_trace's before each report of a trace that loaded, one_path's before each call
 * after a report that succeeded (one_path may write before it fails). */
static int each(char *const *paths, size_t n, const pa_at_t *at, bool json, bool quiet,
                bool as_array, bool live_stacks, FILE *out, pa_report_fn one_trace,
                pa_report_path_fn one_path, void *ctx, size_t *nosnap)
{
    int first_err = PA_OK;
    pa_json_t j;
    pa_json_init(&j, out);
    if (json && as_array)
        pa_json_array_begin(&j, false);
    bool first = true;
    for (size_t i = 0; i < n; i++) {
        pa_trace_t t;
        pa_model_opts_t mo = {.quiet = quiet,
                              .at = at ? *at : (pa_at_t){.kind = PA_AT_LAST},
                              .no_advice = true,
                              .live_stacks = live_stacks};
        int rc = one_trace ? pa_model_load_opts(paths[i], &mo, &t) : PA_OK;
        if (rc == PA_OK) {
            if (!json && !first)
                fputs("\n\n", out);
            rc = one_trace ? one_trace(&t, ctx, out, &j) : one_path(paths[i], ctx, out, &j);
            if (rc == PA_ENOMEM)
                pa_msg_error("%s: out of memory while writing the report", paths[i]);
            if (one_trace || rc == PA_OK)
                first = false;
            if (one_trace)
                pa_model_free(&t);
        }
        if (rc == PA_ENOSNAPSHOT && nosnap)
            ++*nosnap; /* counted, not an error (pa_each_opts_t.nosnap) */
        else if (rc != PA_OK && first_err == PA_OK)
            first_err = rc;
    }
    if (json && as_array)
        pa_json_array_end(&j);
    if (json && (as_array || !first))
        pa_json_finish(&j);
    return first_err;
}

int pa_report_each_file(char *const *paths, size_t n, const pa_each_opts_t *eo, FILE *out,
                        pa_report_fn one, void *ctx)
{
    static const pa_at_t last = {.kind = PA_AT_LAST};
    if (eo->nosnap)
        *eo->nosnap = 0;
    return each(paths, n, eo->at ? eo->at : &last, eo->json, eo->quiet, eo->as_array,
                eo->live_stacks, out, one, NULL, ctx, eo->nosnap);
}

int pa_report_each_path(char *const *paths, size_t n, bool json, bool as_array, FILE *out,
                        pa_report_path_fn one, void *ctx)
{
    return each(paths, n, NULL, json, false, as_array, false, out, NULL, one, ctx, NULL);
}
