/* SPDX-License-Identifier: MIT */
/*
 * symbols.c — libdwfl-based offline symbolizer.
 *
 * One Dwfl per trace. A module is reported (dwfl_report_elf at its recorded load bias) the first
 * time one of its addresses is looked up, so only modules that appear in a report are opened and
 * warned about. The file used is the recorded path when its GNU build-id matches the recorded
 * one; otherwise /usr/lib/debug/.build-id/xx/yyyy.debug when it exists (it carries symbols and the
 * same program headers); otherwise the file at the path anyway, with a warning. Separate debug
 * files are found by libdwfl's standard callback (.gnu_debuglink, build-id, /usr/lib/debug).
 *
 * Inline expansion: dwarf_getscopes() on the CU DIE lists the scopes holding the address,
 * innermost first. Each DW_TAG_inlined_subroutine is one frame located at the line of the frame
 * inside it (for the innermost: the line table's line of the address), and gives its caller's
 * location in DW_AT_call_file / DW_AT_call_line; the enclosing DW_TAG_subprogram ends the list.
 */
#include "symbols.h"

#include <elfutils/libdw.h>
#include <elfutils/libdwelf.h>
#include <elfutils/libdwfl.h>
#include <dwarf.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* libstdc++'s demangler (the C++ ABI's abi::__cxa_demangle, an extern "C" function). */
extern char *__cxa_demangle(const char *mangled, char *buf, size_t *len, int *status);

typedef struct {
    const pa_module_t *m;
    Dwfl_Module *dm; /* NULL: not reported (yet, or it could not be) */
    bool tried;      /* reporting was attempted */
} sym_module_t;

typedef struct {
    uint64_t addr; /* key: the recorded return address */
    pa_frame_t *frames;
    size_t n, cap;
    UT_hash_handle hh;
} sym_entry_t;

struct pa_symbols {
    pa_trace_t *t;
    Dwfl *dwfl;
    char *debuginfo_path; /* NULL: libdwfl's default */
    Dwfl_Callbacks cb;
    sym_module_t *mods; /* parallel to t->modules */
    sym_entry_t *cache;
};

char *pa_symbols_demangle(const char *name)
{
    if (!name)
        return NULL;
    if (name[0] == '_' && name[1] == 'Z') {
        int status = -1;
        char *d = __cxa_demangle(name, NULL, NULL, &status);
        if (d && status == 0)
            return d;
        free(d);
    }
    return pa_util_strdup(name);
}

int pa_symbols_new(pa_trace_t *t, pa_symbols_t **out)
{
    *out = NULL;
    pa_symbols_t *s = calloc(1, sizeof *s);
    if (!s)
        return PA_ENOMEM;
    s->t = t;
    s->cb.find_elf = dwfl_build_id_find_elf;
    s->cb.find_debuginfo = dwfl_standard_find_debuginfo;
    s->cb.section_address = dwfl_offline_section_address;
    s->cb.debuginfo_path = &s->debuginfo_path;
    s->mods = calloc(t->nmodules ? t->nmodules : 1, sizeof *s->mods);
    s->dwfl = dwfl_begin(&s->cb);
    if (!s->mods || !s->dwfl) {
        pa_symbols_free(s);
        return PA_ENOMEM;
    }
    for (size_t i = 0; i < t->nmodules; i++)
        s->mods[i].m = &t->modules[i];
    elf_version(EV_CURRENT);
    *out = s;
    return PA_OK;
}

/* ---- choosing and reporting module files ---------------------------------------------------- */

static void hex(const uint8_t *p, size_t n, char *out, size_t size)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k + 2 < size; i++, k += 2)
        snprintf(out + k, 3, "%02x", p[i]);
    if (size)
        out[k] = 0;
}

/* Build-id of the ELF file at path: 1 match, 0 differs (file_hex filled), -1 cannot read.
 * The path comes from the trace, which may be hostile: only a regular file is read (a FIFO
 * named as a module made the analyzer wait forever, a device could be endless), and the
 * open itself never blocks. */
static int check_build_id(const char *path, const pa_module_t *m, char *file_hex, size_t size)
{
    file_hex[0] = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return -1;
    }
    int res = -1;
    Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
    if (elf && elf_kind(elf) == ELF_K_ELF) {
        const void *bid = NULL;
        ssize_t n = dwelf_elf_gnu_build_id(elf, &bid);
        if (m->build_id_len == 0 ||
            (n == (ssize_t)m->build_id_len && memcmp(bid, m->build_id, (size_t)n) == 0)) {
            res = 1; /* the same file, or nothing recorded to compare with */
        } else {
            res = 0;
            if (n > 0)
                hex(bid, (size_t)n, file_hex, size);
            else
                snprintf(file_hex, size, "none");
        }
    }
    if (elf)
        elf_end(elf);
    close(fd);
    return res;
}

static void report_module(pa_symbols_t *s, sym_module_t *sm)
{
    sm->tried = true;
    const pa_module_t *m = sm->m;
    if (!m->path[0] || m->path[0] == '[')
        return; /* [vdso] and anonymous mappings: nothing on disk */
    char path[4096];
    snprintf(path, sizeof path, "%s", m->path);
    size_t plen = strlen(path);
    const char *deleted = " (deleted)";
    if (plen > strlen(deleted) && strcmp(path + plen - strlen(deleted), deleted) == 0)
        path[plen - strlen(deleted)] = 0;

    char debug[4096] = "", rec_hex[2 * 64 + 1], file_hex[2 * 64 + 1];
    hex(m->build_id, m->build_id_len, rec_hex, sizeof rec_hex);
    if (m->build_id_len >= 2)
        snprintf(debug, sizeof debug, "/usr/lib/debug/.build-id/%.2s/%s.debug", rec_hex,
                 rec_hex + 2);
    bool have_debug = debug[0] && access(debug, R_OK) == 0;

    const char *use = path;
    int match = check_build_id(path, m, file_hex, sizeof file_hex);
    if (match < 0) {
        if (have_debug) {
            use = debug;
        } else {
            pa_model_warn(s->t, "cannot open module %s: its frames are shown as module+offset",
                          path);
            return;
        }
    } else if (match == 0) {
        if (have_debug) {
            use = debug;
            pa_model_warn(s->t,
                          "module %s changed since the trace was written (build-id %s, "
                          "recorded %s); using %s",
                          path, file_hex, rec_hex, debug);
        } else {
            pa_model_warn(s->t,
                          "module %s changed since the trace was written (build-id %s, "
                          "recorded %s); its symbols may be wrong",
                          path, file_hex, rec_hex);
        }
    }
    dwfl_report_begin_add(s->dwfl);
    sm->dm = dwfl_report_elf(s->dwfl, m->path, use, -1, m->base, true);
    dwfl_report_end(s->dwfl, NULL, NULL);
    if (!sm->dm)
        pa_model_warn(s->t, "cannot read module %s: %s; its frames are shown as module+offset", use,
                      dwfl_errmsg(-1));
}

/* ---- expanding one address --------------------------------------------------------------------
 */

static int add_frame(sym_entry_t *e, const pa_frame_t *f)
{
    if (pa_util_grow((void **)&e->frames, &e->cap, e->n + 1, sizeof *e->frames) != PA_OK)
        return PA_ENOMEM;
    e->frames[e->n++] = *f;
    return PA_OK;
}

/* Adds a frame with copies of name (demangled) and file. */
static int add_named(sym_entry_t *e, pa_frame_t base, const char *raw_name, const char *file,
                     uint32_t line, bool inlined)
{
    base.function = raw_name ? pa_symbols_demangle(raw_name) : NULL;
    base.file = file ? pa_util_strdup(file) : NULL;
    base.line = line;
    base.inlined = inlined;
    if ((raw_name && !base.function) || (file && !base.file) || add_frame(e, &base) != PA_OK) {
        free((char *)base.function);
        free((char *)base.file);
        return PA_ENOMEM;
    }
    return PA_OK;
}

static const char *die_name(Dwarf_Die *die)
{
    Dwarf_Attribute a;
    const char *n = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_linkage_name, &a));
    if (!n)
        n = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &a));
    if (!n)
        n = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_name, &a));
    return n;
}

static const char *elf_symbol(Dwfl_Module *dm, uint64_t a)
{
    GElf_Off off;
    GElf_Sym sym;
    return dwfl_module_addrinfo(dm, a, &off, &sym, NULL, NULL, NULL);
}

static int expand(Dwfl_Module *dm, uint64_t a, pa_frame_t base, sym_entry_t *e)
{
    const char *file = NULL;
    int line = 0;
    Dwfl_Line *l = dwfl_module_getsrc(dm, a);
    if (l) {
        file = dwfl_lineinfo(l, NULL, &line, NULL, NULL, NULL);
        if (line < 0)
            line = 0;
    }
    Dwarf_Addr bias = 0;
    Dwarf_Die *cu = dwfl_module_addrdie(dm, a, &bias);
    Dwarf_Die *scopes = NULL;
    int ns = cu ? dwarf_getscopes(cu, a - bias, &scopes) : 0;
    Dwarf_Files *files = NULL;
    size_t nfiles = 0;
    bool closed = false; /* reached the enclosing subprogram */
    int rc = PA_OK;
    for (int i = 0; i < ns && rc == PA_OK && !closed; i++) {
        int tag = dwarf_tag(&scopes[i]);
        if (tag != DW_TAG_subprogram && tag != DW_TAG_inlined_subroutine &&
            tag != DW_TAG_entry_point)
            continue;
        bool inl = tag == DW_TAG_inlined_subroutine;
        const char *name = die_name(&scopes[i]);
        if (!name && !inl)
            name = elf_symbol(dm, a);
        rc = add_named(e, base, name, file, (uint32_t)line, inl);
        if (!inl) {
            closed = true;
            break;
        }
        /* The caller's location is this inlined instance's call site. */
        Dwarf_Attribute at;
        Dwarf_Word v;
        file = NULL;
        line = 0;
        if (dwarf_formudata(dwarf_attr(&scopes[i], DW_AT_call_file, &at), &v) == 0) {
            if (!files && dwarf_getsrcfiles(cu, &files, &nfiles) != 0)
                files = NULL;
            if (files && v < nfiles)
                file = dwarf_filesrc(files, v, NULL, NULL);
        }
        if (dwarf_formudata(dwarf_attr(&scopes[i], DW_AT_call_line, &at), &v) == 0 &&
            v <= INT32_MAX)
            line = (int)v;
    }
    free(scopes);
    if (rc == PA_OK && !closed) /* no DWARF scope, or inlined scopes without their function */
        rc = add_named(e, base, elf_symbol(dm, a), file, (uint32_t)line, false);
    return rc;
}

int pa_symbols_lookup(pa_symbols_t *s, uint64_t addr, const pa_frame_t **frames, size_t *n)
{
    sym_entry_t *e;
    HASH_FIND(hh, s->cache, &addr, sizeof addr, e);
    if (e) {
        *frames = e->frames;
        *n = e->n;
        return PA_OK;
    }
    e = calloc(1, sizeof *e);
    if (!e)
        return PA_ENOMEM;
    e->addr = addr;

    pa_frame_t base = {.module = PA_UNKNOWN_MODULE, .address = addr, .offset = addr};
    const pa_module_t *m = pa_model_module_at(s->t, addr);
    sym_module_t *sm = m ? &s->mods[m - s->t->modules] : NULL;
    int rc = PA_OK;
    if (sm) {
        base.module = m->path[0] ? m->path : PA_UNKNOWN_MODULE;
        base.offset = addr - m->base;
        if (!sm->tried)
            report_module(s, sm);
        if (sm->dm && addr > 0)
            rc = expand(sm->dm, addr - 1, base, e);
    }
    if (rc == PA_OK && e->n == 0)
        rc = add_frame(e, &base);
    if (rc != PA_OK) {
        for (size_t i = 0; i < e->n; i++) {
            free((char *)e->frames[i].function);
            free((char *)e->frames[i].file);
        }
        free(e->frames);
        free(e);
        return rc;
    }
    HASH_ADD(hh, s->cache, addr, sizeof e->addr, e);
    *frames = e->frames;
    *n = e->n;
    return PA_OK;
}

void pa_symbols_free(pa_symbols_t *s)
{
    if (!s)
        return;
    sym_entry_t *e, *tmp;
    HASH_ITER(hh, s->cache, e, tmp)
    {
        HASH_DEL(s->cache, e);
        for (size_t i = 0; i < e->n; i++) {
            free((char *)e->frames[i].function);
            free((char *)e->frames[i].file);
        }
        free(e->frames);
        free(e);
    }
    if (s->dwfl)
        dwfl_end(s->dwfl);
    free(s->mods);
    free(s);
}
