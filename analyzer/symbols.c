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
 * Inline chains. One address expands to the chain `addr2line -i` prints: the function the
 * address is in (a DW_TAG_subprogram) and every DW_TAG_inlined_subroutine nested in it that
 * covers the address, through lexical blocks. (dwarf_getscopes() is no use past the first
 * inlined level: from there it follows the abstract origin, the function's definition, not the
 * concrete tree of callers.) The innermost frame takes the line table's file:line of the
 * address; each inlined instance gives the frame around it its DW_AT_call_file/call_line.
 * To find the function quickly, each compile unit gets, on first use, a sorted table of its
 * functions' address ranges; an address no range covers goes the slow way (dwarf_getscopes()
 * for the innermost scope, then its parents with dwarf_getscopes_die(), the way elfutils'
 * own addr2line climbs).
 *
 * Naming rule (docs/analyzer.md, "Symbols"), one for every report: a function the debug
 * information describes is named by its linkage name, demangled — DW_AT_linkage_name of the
 * scope, of its abstract origin or of its declaration; for C++ the qualified name with its
 * parameter list — and, when it has none, by its DWARF name: C functions, `main`, and C++
 * functions with internal linkage (`static`, anonymous namespace) or lambdas, whose DWARF
 * carries no linkage name; for C++ that name is qualified by the namespaces and classes around
 * the declaration ("(anonymous namespace)::Registry::add"). So a function has the same name
 * whether it was inlined or not, and whichever clone of it ran. Code without debug information
 * is named by the symbol-table entry that covers it, without its version ("@GLIBC_2.2.5"),
 * demangled: for a C++ function the same name its debug information would give. This is what
 * `eu-addr2line -f -C` prints (but for the qualification); binutils' `addr2line -f -C` names a
 * function without a linkage name by a symbol-table entry when one starts at it or, for the
 * innermost frame, surrounds the address (an inlined `static` function comes out as its
 * caller), and names an address past the end of a symbol by that symbol.
 *
 * Costs: the symbol table of a module is copied once into a sorted array (libdwfl's own
 * address lookup scans the whole table on every call: most of the time for a cc1plus trace);
 * names and file names are interned, so a name appearing in a thousand frames is demangled and
 * stored once; results are cached per address.
 */
#include "symbols.h"

#include "symcache.h"

#include <elfutils/libdw.h>
#include <elfutils/libdwelf.h>
#include <elfutils/libdwfl.h>
#include <dwarf.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <gelf.h>
#include <libiberty/demangle.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef PA_HAVE_LIBDEFLATE
#include <libdeflate.h>
#endif

/* libstdc++'s demangler (the C++ ABI's abi::__cxa_demangle, an extern "C" function), for C++.
 * Rust names go to libiberty's rust_demangle first (pa_symbols_demangle). */
extern char *__cxa_demangle(const char *mangled, char *buf, size_t *len, int *status);

/* Deeper inline chains are cut: the outermost levels are kept (they hold the user's code). */
#define SYM_MAX_CHAIN 256

typedef struct {
    uint64_t addr; /* absolute (the module's load bias added) */
    uint64_t size; /* 0: unknown */
    const char *name;
    int rank; /* among symbols at one address, lower is preferred (binding, then the name) */
} sym_elf_t;

typedef struct {
    Dwarf_Addr lo, hi; /* DWARF addresses (without the load bias), hi exclusive */
    Dwarf_Die die;     /* the DW_TAG_subprogram */
} sym_range_t;

/* What one compile unit needs for lookups, built on its first lookup. */
typedef struct {
    Dwarf_Off off; /* key: offset of the CU DIE */
    sym_range_t *r;
    size_t n, cap;
    Dwarf_Files *files; /* for DW_AT_call_file; NULL when unreadable */
    size_t nfiles;
    bool files_tried;
    const char *comp_dir; /* DW_AT_comp_dir, or NULL */
    UT_hash_handle hh;
} sym_cu_t;

struct sym_shared;

typedef struct {
    const pa_module_t *m;
    struct sym_shared *sh; /* the shared copy this module's lookups use, or NULL */
    Dwfl_Module *dm;       /* NULL: not reported (yet, or it could not be) */
    bool tried;            /* reporting was attempted */
    bool exact;            /* the file read is the recorded build-id's (or its debug file): what
                              it gives may go to the cache on disk under that build-id */
    bool syms_tried;       /* the symbol table was read into syms */
    sym_elf_t *syms;       /* function symbols by address */
    size_t nsyms;
    sym_cu_t *cus;
    bool cu_ranges_tried;   /* cu_ranges was built */
    sym_range_t *cu_ranges; /* every CU's address ranges, sorted (for DWARF without aranges) */
    size_t ncu_ranges, cu_ranges_cap;
} sym_module_t;

typedef struct {
    uint64_t addr; /* key: the recorded return address */
    pa_frame_t *frames;
    size_t n;
} sym_entry_t;

/* A slot of the cache: open addressing by address, the address beside its entry so that a
 * probe reads one cache line (reports look up every frame they print: 1.26M for a compile's
 * full leak report). */
typedef struct {
    uint64_t addr;
    sym_entry_t *e; /* NULL: empty */
} sym_slot_t;

/* The scopes of one address, outermost (the function) first. */
typedef struct {
    Dwarf_Die d[SYM_MAX_CHAIN];
    size_t n;
} chain_t;

/* A string as reports show it, stored once. */
typedef struct {
    UT_hash_handle hh;
    char s[];
} sym_str_t;

/* A string of libdw or libelf (stable while the Dwfl lives) → its interned, demangled form. */
typedef struct {
    const char *raw; /* key: the pointer itself */
    const char *cooked;
    UT_hash_handle hh;
} sym_name_t;

/* --sysroot and --debug-dir: process-wide, set by the CLI before any symbolizer exists. */
static char *search_sysroot;     /* NULL: none */
static pa_strlist_t search_dirs; /* debug dirs, in the order searched (ends with the defaults) */
static char *search_dwfl_path;   /* libdwfl's debuginfo_path for .gnu_debuglink; NULL: default */

struct pa_symbols {
    pa_trace_t *t;
    Dwfl *dwfl;
    char *debuginfo_path; /* NULL: libdwfl's default */
    Dwfl_Callbacks cb;
    sym_module_t *mods; /* parallel to t->modules */
    sym_slot_t *cache;  /* cache_cap slots (a power of two, at most half full), ncache used */
    size_t cache_cap, ncache;
    sym_str_t *strs;
    sym_name_t *names;
    chain_t chain;      /* scratch of expand() */
    pa_frame_t *frames; /* scratch of one lookup: its frames, copied to the entry at the end
                           (exactly: most addresses have one or two frames, and a compile's
                           leak report holds 12k entries) */
    size_t frames_cap;
    unsigned refs; /* pa_symbols_ref() calls not yet matched by a pa_symbols_free() */
};

/* Rust symbols, both manglings, are demangled by libiberty (GCC's demangler, the one binutils'
 * c++filt and gdb use): the legacy one ("_ZN...17h<16 hex>E", an Itanium nested name whose last
 * component is the crate hash) and v0 ("_R...", RFC 2603, std's frames in recent rustc). Without
 * DMGL_VERBOSE it prints what rustc-demangle's alternate form ("{:#}", the one Rust's own panic
 * backtraces use) prints: no "::h<hash>" tail, no "[<disambiguator>]" after a crate name, rustc's
 * legacy escapes ("$LT$", "$u20$", "..") decoded. It returns NULL for a name of neither scheme
 * (a C++ name that merely ends like a hash), and such a name goes on to the C++ demangler.
 * An LLVM suffix (".llvm.123", on symbols LTO renamed) is dropped, as rustc-demangle drops it. */
char *pa_symbols_demangle(const char *name)
{
    if (!name)
        return NULL;
    if (name[0] == '_' && (name[1] == 'Z' || name[1] == 'R')) {
        char *d = rust_demangle(name, DMGL_PARAMS | DMGL_ANSI);
        if (d)
            return d;
    }
    if (name[0] == '_' && name[1] == 'Z') {
        int status = -1;
        char *d = __cxa_demangle(name, NULL, NULL, &status);
        if (d && status == 0)
            return d;
        free(d);
    }
    return pa_util_strdup(name);
}

bool pa_symbols_is_library(const char *file, const char *module)
{
    if (file && (strstr(file, "/c++/") || strstr(file, "/libstdc++-v3/")))
        return true;
    if (!module)
        return false;
    const char *b = pa_util_basename(module);
    return strncmp(b, "libstdc++.so", 12) == 0 || strncmp(b, "libc++.so", 9) == 0 ||
           strncmp(b, "libc++abi.so", 12) == 0;
}

/* ---- finding separate debug files without loading the debuginfod client ------------------- */

static void hex(const uint8_t *p, size_t n, char *out, size_t size);

/* Whether a file exists at dir/sub/name (dir or sub may be NULL or ""). */
static bool dbg_exists(const char *dir, const char *sub, const char *name)
{
    char p[PATH_MAX];
    int n = snprintf(p, sizeof p, "%s%s%s%s%s", dir ? dir : "", dir && dir[0] ? "/" : "",
                     sub ? sub : "", sub && sub[0] ? "/" : "", name);
    return n > 0 && (size_t)n < sizeof p && access(p, F_OK) == 0;
}

/* Whether any file libdwfl's path search (find-debuginfo.c) could open for the main file
 * `file` exists: for each entry of the debuginfo path, the debug link's name (or, without one,
 * the file's own name and that name + ".debug") in the file's directory, in the entry below
 * it (relative entries), or in the entry followed by each tail of the file's absolute directory
 * (absolute entries), and in a .dwz directory beside any of those. A superset of its tries. */
static bool dbg_path_candidate(const char *path, const char *file, const char *link)
{
    const char *slash = strrchr(file, '/');
    const char *base = slash ? slash + 1 : file;
    char dir[PATH_MAX] = "", made[PATH_MAX];
    if (slash && (size_t)(slash - file) < sizeof dir)
        memcpy(dir, file, (size_t)(slash - file)), dir[slash - file] = 0;
    snprintf(made, sizeof made, "%s.debug", base);
    const char *names[3] = {link ? link : made, link ? NULL : base, NULL};
    if (link) {
        const char *ls = strrchr(link, '/');
        names[1] = ls ? ls + 1 : NULL; /* (an alternate file is looked up by its base name) */
    }
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *save = NULL, *e = strtok_r(buf, ":", &save);; e = strtok_r(NULL, ":", &save)) {
        const char *ent = e ? e : ""; /* strtok_r skips empty entries: try the empty one too */
        while (*ent == '+' || *ent == '-')
            ent++;
        for (size_t k = 0; k < 2; k++) {
            const char *nm = names[k];
            if (!nm || (k == 1 && !link && !ent[0])) /* (the file itself, not tried) */
                continue;
            if (ent[0] != '/') {
                char sub[PATH_MAX];
                snprintf(sub, sizeof sub, "%s", ent);
                if (dbg_exists(dir, sub, nm) || dbg_exists(dir, ".dwz", nm) ||
                    dbg_exists(NULL, sub, nm))
                    return true;
                continue;
            }
            if (dbg_exists(ent, NULL, nm) || dbg_exists(ent, ".dwz", nm))
                return true;
            for (const char *t = dir; t && *t; t = strchr(t + 1, '/'))
                if (dbg_exists(ent, t[0] == '/' ? t + 1 : t, nm))
                    return true;
        }
        if (!e)
            break;
    }
    return false;
}

/* A separate debug file with compressed sections (SHF_COMPRESSED: Debian's libc6-dbg, and
 * whatever `objcopy --compress-debug-sections` made), read as libdw reads it, costs its
 * decompression: libdw inflates every DWARF section it knows of with zlib when it opens the
 * file (dwarf_begin_elf), 205M instructions for libc's 10 MB on every run of every report
 * that prints a libc frame (docs/performance.md, "Symbolizing the adverse workload"). With
 * libdeflate (half the instructions for the same bytes) this makes the same file with its
 * sections decompressed, in an anonymous memory file (memfd), and libdwfl opens that instead:
 * the same ELF header, program headers and section headers, each compressed section replaced
 * by its contents (SHF_COMPRESSED cleared, sh_size and sh_addralign from its compression
 * header). Only 64-bit ELF files of this machine's byte order with zlib-compressed sections
 * are copied; for anything else, or when anything fails, the file is used as it is. */
#ifdef PA_HAVE_LIBDEFLATE
/* DWARF sections the symbolizer never reads (location lists, macros): a compressed one is left
 * out of the copy (made SHT_NOBITS, which libdw skips), not decompressed: 1.4 of libc's 10 MB. */
static bool never_read(const char *name)
{
    return name && (strcmp(name, ".debug_loc") == 0 || strcmp(name, ".debug_loclists") == 0 ||
                    strcmp(name, ".debug_macro") == 0 || strcmp(name, ".debug_macinfo") == 0);
}

static int inflate_into(int out, Elf *e, size_t nscn, Elf64_Ehdr eh, const Elf64_Phdr *ph,
                        Elf64_Shdr *sh)
{
    size_t names;
    if (elf_getshdrstrndx(e, &names) != 0)
        return -1;
    /* the layout: the ELF header, the program headers, the sections in the order of their
     * headers, the section headers */
    uint64_t off = sizeof eh + (uint64_t)eh.e_phnum * sizeof *ph;
    for (size_t i = 1; i < nscn; i++) {
        Elf_Scn *scn = elf_getscn(e, i);
        Elf_Data *raw = scn ? elf_rawdata(scn, NULL) : NULL;
        if ((sh[i].sh_flags & SHF_COMPRESSED) && never_read(elf_strptr(e, names, sh[i].sh_name))) {
            sh[i].sh_type = SHT_NOBITS;
            sh[i].sh_flags &= ~(uint64_t)SHF_COMPRESSED;
        }
        if (sh[i].sh_type == SHT_NOBITS || sh[i].sh_type == SHT_NULL) {
            sh[i].sh_offset = off;
            continue;
        }
        if (!raw || (raw->d_size && !raw->d_buf) || raw->d_size != sh[i].sh_size)
            return -1;
        if (sh[i].sh_flags & SHF_COMPRESSED) {
            Elf64_Chdr ch;
            if (raw->d_size < sizeof ch)
                return -1;
            memcpy(&ch, raw->d_buf, sizeof ch);
            if (ch.ch_type != ELFCOMPRESS_ZLIB || ch.ch_size > ((uint64_t)1 << 32))
                return -1;
            sh[i].sh_flags &= ~(uint64_t)SHF_COMPRESSED;
            sh[i].sh_size = ch.ch_size;
            sh[i].sh_addralign = ch.ch_addralign;
        }
        uint64_t align = sh[i].sh_addralign > 1 ? sh[i].sh_addralign : 1;
        if (align & (align - 1))
            return -1;
        off = (off + align - 1) & ~(align - 1);
        sh[i].sh_offset = off;
        off += sh[i].sh_size;
    }
    off = (off + 7) & ~(uint64_t)7;
    eh.e_phoff = eh.e_phnum ? sizeof eh : 0;
    eh.e_shoff = off;
    uint64_t size = off + nscn * sizeof *sh;
    if (size > SIZE_MAX || ftruncate(out, (off_t)size) != 0)
        return -1;
    unsigned char *m = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, out, 0);
    if (m == MAP_FAILED)
        return -1;
    struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
    int rc = d ? 0 : -1;
    for (size_t i = 1; i < nscn && rc == 0; i++) {
        if (sh[i].sh_type == SHT_NOBITS || sh[i].sh_type == SHT_NULL)
            continue;
        Elf_Data *raw = elf_rawdata(elf_getscn(e, i), NULL);
        size_t got = 0;
        GElf_Shdr orig; /* (sh[i] is the copy's header)*/
        if (!gelf_getshdr(elf_getscn(e, i), &orig)) {
            rc = -1;
        } else if (orig.sh_flags & SHF_COMPRESSED) {
            if (libdeflate_zlib_decompress(d,
                                           (const unsigned char *)raw->d_buf + sizeof(Elf64_Chdr),
                                           raw->d_size - sizeof(Elf64_Chdr), m + sh[i].sh_offset,
                                           sh[i].sh_size, &got) != LIBDEFLATE_SUCCESS ||
                got != sh[i].sh_size)
                rc = -1;
        } else if (raw->d_size) {
            memcpy(m + sh[i].sh_offset, raw->d_buf, raw->d_size);
        }
    }
    if (rc == 0) {
        memcpy(m, &eh, sizeof eh);
        if (eh.e_phnum)
            memcpy(m + eh.e_phoff, ph, eh.e_phnum * sizeof *ph);
        memcpy(m + eh.e_shoff, sh, nscn * sizeof *sh);
    }
    if (d)
        libdeflate_free_decompressor(d);
    munmap(m, (size_t)size);
    return rc;
}
#endif

/* A descriptor of the decompressed copy of debug file fd when its build-id is bits (nbits
 * bytes) and it has compressed sections; otherwise -1. */
#ifdef PA_HAVE_LIBDEFLATE
static int inflated_copy(int fd, const unsigned char *bits, int nbits)
{
    Elf *e = elf_begin(fd, ELF_C_READ_MMAP, NULL);
    Elf64_Ehdr *ehp = e && elf_kind(e) == ELF_K_ELF ? elf64_getehdr(e) : NULL;
    const void *id = NULL;
    if (!ehp || dwelf_elf_gnu_build_id(e, &id) != nbits || memcmp(id, bits, (size_t)nbits) != 0)
        ehp = NULL;
    size_t nscn = 0;
    bool any = false;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const unsigned char host = ELFDATA2LSB;
#else
    const unsigned char host = ELFDATA2MSB;
#endif
    int out = -1;
    Elf64_Shdr *sh = NULL;
    if (!ehp || ehp->e_ident[EI_DATA] != host || elf_getshdrnum(e, &nscn) != 0 || nscn < 2 ||
        !(sh = calloc(nscn, sizeof *sh)))
        goto keep;
    for (size_t i = 0; i < nscn; i++) {
        Elf64_Shdr *x = elf64_getshdr(elf_getscn(e, i));
        if (!x)
            goto keep;
        sh[i] = *x;
        any |= (x->sh_flags & SHF_COMPRESSED) != 0;
    }
    const Elf64_Phdr *ph = ehp->e_phnum ? elf64_getphdr(e) : NULL;
    if (!any || (ehp->e_phnum && !ph) ||
        (out = memfd_create("perfshim-debuginfo", MFD_CLOEXEC)) < 0)
        goto keep;
    if (inflate_into(out, e, nscn, *ehp, ph, sh) != 0) {
        close(out);
        out = -1;
        goto keep;
    }
    free(sh);
    elf_end(e);
    return out;
keep:
    free(sh);
    if (e)
        elf_end(e);
    return -1;
}
#endif

/* The decompressed copy (inflated_copy) of the debug file of build-id bits that libdwfl's
 * search finds first (dwfl_build_id_find_debuginfo: DIR/.build-id/xx/yyyy.debug for each
 * absolute DIR of the debuginfo path, in order), and its name in *name; -1 when that file is
 * missing, another build's, or needs no copy: libdwfl's own search then runs as before. (The
 * copy must come from here: libdwfl's build-id search keeps the Elf it opened to check the
 * file, and would read that one.) */
static int inflated_by_build_id(const char *path, const unsigned char *bits, int nbits, char **name)
{
#ifdef PA_HAVE_LIBDEFLATE
    const char *off = getenv("PA_SYMBOLS_NO_INFLATE"); /* (tests compare both ways) */
    if (off && *off == '1')
        return -1;
    char hexid[2 * 64 + 1], rel[2 * 64 + 24], buf[4096], p[PATH_MAX];
    hex(bits, (size_t)nbits, hexid, sizeof hexid);
    snprintf(rel, sizeof rel, ".build-id/%.2s/%s.debug", hexid, hexid + 2);
    snprintf(buf, sizeof buf, "%s", path);
    for (char *save = NULL, *e = strtok_r(buf, ":", &save); e; e = strtok_r(NULL, ":", &save)) {
        while (*e == '+' || *e == '-')
            e++;
        if (e[0] != '/')
            continue;
        int n = snprintf(p, sizeof p, "%s/%s", e, rel);
        int fd = n > 0 && (size_t)n < sizeof p ? open(p, O_RDONLY | O_CLOEXEC) : -1;
        if (fd < 0)
            continue;
        int out = inflated_copy(fd, bits, nbits);
        close(fd);
        if (out >= 0 && !(*name = pa_util_strdup(p))) {
            close(out);
            out = -1;
        }
        const char *d = getenv("PA_SYMBOLS_DEBUG");
        if (out >= 0 && d && *d == '1')
            fprintf(stderr, "perfshim: symbols: %s decompressed in memory\n", p);
        return out;
    }
#else
    (void)path, (void)bits, (void)nbits, (void)name;
#endif
    return -1;
}

/* libdwfl's standard search for a module's separate debug information
 * (dwfl_standard_find_debuginfo: by build-id in the debuginfo path's absolute directories, then
 * by .gnu_debuglink name along the path, for the file and for its real path), whose last resort
 * asks a debuginfod server through libdebuginfod: elfutils 0.188 dlopens that client (libcurl,
 * gnutls, libcrypto: 38 objects, 7.5 MB of RSS) for every module without a local debug file,
 * even when DEBUGINFOD_URLS is unset, in which case the client returns at once without looking
 * at its cache (debuginfod-client.c: "Don't even access the cache"). So when DEBUGINFOD_URLS is
 * unset or empty and no file the standard search could open exists, the answer is known: none,
 * and the client is not loaded. Otherwise the standard search runs, as before. */
static int find_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname, GElf_Addr base,
                          const char *file_name, const char *debuglink_file,
                          GElf_Word debuglink_crc, char **debuginfo_file_name)
{
    const unsigned char *bits = NULL;
    GElf_Addr vaddr;
    int nbits = dwfl_module_build_id(mod, &bits, &vaddr);
    const char *path = search_dwfl_path ? search_dwfl_path : "+:.debug:/usr/lib/debug";
    int copy = nbits > 0 ? inflated_by_build_id(path, bits, nbits, debuginfo_file_name) : -1;
    if (copy >= 0)
        return copy;
    const char *urls = getenv("DEBUGINFOD_URLS");
    if (urls && urls[0])
        goto standard;
    if (nbits > 0) {
        char hexid[2 * 64 + 1], name[2 * 64 + 8], sub[16], buf[4096];
        hex(bits, (size_t)nbits, hexid, sizeof hexid);
        snprintf(sub, sizeof sub, ".build-id/%.2s", hexid);
        snprintf(name, sizeof name, "%s.debug", hexid + 2);
        if (dbg_exists("/usr/lib/debug", sub, name))
            goto standard;
        snprintf(buf, sizeof buf, "%s", path);
        for (char *save = NULL, *e = strtok_r(buf, ":", &save); e; e = strtok_r(NULL, ":", &save)) {
            while (*e == '+' || *e == '-')
                e++;
            if (e[0] == '/' && dbg_exists(e, sub, name))
                goto standard;
        }
    }
    if (file_name) {
        if (dbg_path_candidate(path, file_name, debuglink_file))
            goto standard;
        char *canon = realpath(file_name, NULL);
        bool any = canon && dbg_path_candidate(path, canon, debuglink_file);
        free(canon);
        if (any)
            goto standard;
    }
    errno = 0;
    return -1;
standard:
    return dwfl_standard_find_debuginfo(mod, userdata, modname, base, file_name, debuglink_file,
                                        debuglink_crc, debuginfo_file_name);
}

int pa_symbols_new(pa_trace_t *t, pa_symbols_t **out)
{
    *out = NULL;
    pa_symbols_t *s = calloc(1, sizeof *s);
    if (!s)
        return PA_ENOMEM;
    s->t = t;
    s->cb.find_elf = dwfl_build_id_find_elf;
    s->cb.find_debuginfo = find_debuginfo;
    s->cb.section_address = dwfl_offline_section_address;
    s->debuginfo_path = search_dwfl_path; /* libdwfl only reads it */
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

/* ---- strings ----------------------------------------------------------------------------- */

static const char *intern(pa_symbols_t *s, const char *str)
{
    sym_str_t *x;
    size_t len = strlen(str);
    HASH_FIND(hh, s->strs, str, len, x);
    if (x)
        return x->s;
    if (!(x = malloc(sizeof *x + len + 1)))
        return NULL;
    memcpy(x->s, str, len + 1);
    HASH_ADD_KEYPTR(hh, s->strs, x->s, len, x);
    return x->s;
}

/* Caches cooked (interned) under key; returns it, or NULL when either is missing (no memory). */
static const char *remember(pa_symbols_t *s, const char *key, const char *cooked)
{
    sym_name_t *x;
    if (!cooked || !(x = malloc(sizeof *x)))
        return NULL;
    x->raw = key;
    x->cooked = cooked;
    HASH_ADD(hh, s->names, raw, sizeof x->raw, x);
    return cooked;
}

/* What a string of libdw or libelf (stable while the Dwfl lives) becomes in reports: `what`
 * says how to make it (below); the result is interned and cached by the raw pointer, which
 * always comes from the same place. NULL: out of memory. */
enum { COOK_NAME, COOK_SYMTAB, COOK_FILE };

static const char *cook(pa_symbols_t *s, const char *raw, int what, const char *comp_dir)
{
    sym_name_t *x;
    HASH_FIND(hh, s->names, &raw, sizeof raw, x);
    if (x)
        return x->cooked;
    char *d = NULL;
    const char *use = raw;
    if (what == COOK_FILE) {
        /* A relative name is relative to the compilation directory (addr2line joins them the
         * same way, even when the result repeats a directory: glibc's "./libio/./libio/x.c"). */
        if (raw[0] != '/' && comp_dir && comp_dir[0]) {
            size_t n1 = strlen(comp_dir), n2 = strlen(raw);
            if (!(d = malloc(n1 + n2 + 2)))
                return NULL;
            memcpy(d, comp_dir, n1);
            d[n1] = '/';
            memcpy(d + n1 + 1, raw, n2 + 1);
        }
    } else {
        /* Symbol tables carry versions ("memcpy@@GLIBC_2.14"): the function's name is the part
         * before them. */
        size_t len = what == COOK_SYMTAB ? strcspn(raw, "@") : strlen(raw);
        if (raw[len] || (raw[0] == '_' && (raw[1] == 'Z' || raw[1] == 'R'))) {
            char *plain = pa_util_strndup(raw, len);
            d = plain ? pa_symbols_demangle(plain) : NULL;
            free(plain);
            if (!d)
                return NULL;
        }
    }
    if (d)
        use = d;
    const char *c = intern(s, use);
    free(d);
    return remember(s, raw, c);
}

/* ---- choosing and reporting module files ---------------------------------------------------- */

void pa_symbols_search_free(void)
{
    free(search_sysroot);
    free(search_dwfl_path);
    pa_strlist_free(&search_dirs);
    search_sysroot = search_dwfl_path = NULL;
}

/* Whether dir is a directory; when not and opt names the option it came from, says so. */
static bool is_dir(const char *opt, const char *dir)
{
    struct stat st;
    errno = 0;
    if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
        return true;
    if (opt)
        pa_msg_error("%s %s: not a directory%s%s", opt, dir, errno ? ": " : "",
                     errno ? strerror(errno) : "");
    return false;
}

/* Appends dir to the search; opt names the option it came from (its absence is an error), or
 * NULL for a default directory (skipped when absent). */
static int add_dir(const char *opt, const char *dir, pa_str_t *dwfl)
{
    if (!is_dir(opt, dir))
        return opt ? PA_EIO : PA_OK;
    /* absolute: libdwfl takes a relative entry as relative to each module's own directory */
    char abs[PATH_MAX];
    if (!realpath(dir, abs))
        snprintf(abs, sizeof abs, "%s", dir);
    pa_str_printf(dwfl, ":%s", abs);
    return pa_strlist_add(&search_dirs, abs) == 0 && !dwfl->failed ? PA_OK : PA_ENOMEM;
}

int pa_symbols_set_search(const char *sysroot, const char *const *debug_dirs, size_t n)
{
    pa_symbols_search_free();
    if (!sysroot && !n)
        return PA_OK;
    pa_str_t dwfl = {0};
    pa_str_puts(&dwfl, "+:.debug"); /* libdwfl's default first, then ours */
    int rc = PA_OK;
    for (size_t i = 0; rc == PA_OK && i < n; i++)
        rc = add_dir("--debug-dir", debug_dirs[i], &dwfl);
    if (rc == PA_OK && sysroot) {
        char abs[PATH_MAX];
        if (!is_dir("--sysroot", sysroot))
            rc = PA_EIO;
        else if (!(search_sysroot = pa_util_strdup(realpath(sysroot, abs) ? abs : sysroot)))
            rc = PA_ENOMEM;
    }
    if (rc == PA_OK && search_sysroot) {
        char d[4096];
        snprintf(d, sizeof d, "%s/usr/lib/debug", search_sysroot);
        rc = add_dir(NULL, d, &dwfl);
    }
    if (rc == PA_OK)
        rc = add_dir(NULL, "/usr/lib/debug", &dwfl);
    if (rc == PA_OK && !(search_dwfl_path = pa_util_strdup(pa_str_get(&dwfl))))
        rc = PA_ENOMEM;
    pa_str_free(&dwfl);
    if (rc != PA_OK)
        pa_symbols_search_free();
    return rc;
}

/* The separate debug file of build-id hex (at least 2 digits) in the search directories, into
 * out; false when none is readable. */
static bool find_debug_file(const char *hexid, char *out, size_t size)
{
    static const char *const dflt[] = {"/usr/lib/debug"};
    const char *const *dirs = search_dirs.n ? (const char *const *)search_dirs.items : dflt;
    size_t n = search_dirs.n ? search_dirs.n : 1;
    for (size_t i = 0; i < n; i++) {
        snprintf(out, size, "%s/.build-id/%.2s/%s.debug", dirs[i], hexid, hexid + 2);
        if (access(out, R_OK) == 0)
            return true;
    }
    out[0] = 0;
    return false;
}

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

/* The file of module path: under the sysroot when it is there, else path (" (deleted)" cut). */
static void module_file(const char *mpath, char *path, size_t size)
{
    snprintf(path, size, "%s", mpath);
    size_t plen = strlen(path);
    const char *deleted = " (deleted)";
    if (plen > strlen(deleted) && strcmp(path + plen - strlen(deleted), deleted) == 0)
        path[plen - strlen(deleted)] = 0;
    if (search_sysroot) { /* the file as the recording machine had it, if it is there */
        char in_root[4096];
        snprintf(in_root, sizeof in_root, "%s%s", search_sysroot, path);
        if (access(in_root, R_OK) == 0)
            snprintf(path, size, "%s", in_root);
    }
}

bool pa_symbols_exec_segment(const char *mpath, const uint8_t *build_id, uint32_t build_id_len,
                             uint64_t *vaddr, uint64_t *offset)
{
    if (!mpath || !mpath[0] || mpath[0] == '[')
        return false; /* [vdso], anonymous: nothing on disk */
    char path[4096];
    module_file(mpath, path, sizeof path);
    /* as check_build_id: a regular file only, and an open that never blocks */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0)
        return false;
    struct stat st;
    bool found = false;
    Elf *elf = NULL;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        goto out;
    elf_version(EV_CURRENT);
    elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
    if (!elf || elf_kind(elf) != ELF_K_ELF)
        goto out;
    if (build_id_len) {
        const void *bid = NULL;
        ssize_t n = dwelf_elf_gnu_build_id(elf, &bid);
        if (n != (ssize_t)build_id_len || memcmp(bid, build_id, build_id_len) != 0)
            goto out;
    }
    size_t nph = 0;
    if (elf_getphdrnum(elf, &nph) != 0)
        goto out;
    int nexec = 0;
    for (size_t i = 0; i < nph; i++) {
        GElf_Phdr ph;
        if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_LOAD || !(ph.p_flags & PF_X))
            continue;
        *vaddr = ph.p_vaddr;
        *offset = ph.p_offset;
        nexec++;
    }
    found = nexec == 1;
out:
    if (elf)
        elf_end(elf);
    close(fd);
    return found;
}

static void report_module(Dwfl *dwfl, pa_trace_t *t, sym_module_t *sm)
{
    sm->tried = true;
    const pa_module_t *m = sm->m;
    if (!m->path[0] || m->path[0] == '[')
        return; /* [vdso] and anonymous mappings: nothing on disk */
    char path[4096];
    module_file(m->path, path, sizeof path);

    char debug[4096] = "", rec_hex[2 * 64 + 1], file_hex[2 * 64 + 1];
    hex(m->build_id, m->build_id_len, rec_hex, sizeof rec_hex);
    bool have_debug = m->build_id_len >= 2 && find_debug_file(rec_hex, debug, sizeof debug);

    const char *use = path;
    int match = check_build_id(path, m, file_hex, sizeof file_hex);
    if (match < 0) {
        if (have_debug) {
            use = debug;
            sm->exact = true;
        } else {
            pa_model_warn(t, "cannot open module %s: its frames are shown as module+offset", path);
            return;
        }
    } else if (match == 0) {
        if (have_debug) {
            use = debug;
            sm->exact = true;
            pa_model_warn(t,
                          "module %s changed since the trace was written (build-id %s, "
                          "recorded %s); using %s",
                          path, file_hex, rec_hex, debug);
        } else {
            pa_model_warn(t,
                          "module %s changed since the trace was written (build-id %s, "
                          "recorded %s); its symbols may be wrong",
                          path, file_hex, rec_hex);
        }
    }
    if (match == 1 && m->build_id_len)
        sm->exact = true;
    dwfl_report_begin_add(dwfl);
    sm->dm = dwfl_report_elf(dwfl, m->path, use, -1, m->base, true);
    dwfl_report_end(dwfl, NULL, NULL);
    if (!sm->dm)
        pa_model_warn(t, "cannot read module %s: %s; its frames are shown as module+offset", use,
                      dwfl_errmsg(-1));
}

/* ---- the symbol table ------------------------------------------------------------------------ */

static int sym_rank(const char *name, int bind)
{
    int r = bind == STB_GLOBAL ? 0 : bind == STB_WEAK ? 1 : 2;
    size_t under = strspn(name, "_");
    return r * 8 + (int)(under < 7 ? under : 7);
}

static int cmp_sym(const void *pa, const void *pb)
{
    const sym_elf_t *a = pa, *b = pb;
    if (a->addr != b->addr)
        return a->addr < b->addr ? -1 : 1;
    if (a->rank != b->rank)
        return a->rank - b->rank;
    if ((a->size == 0) != (b->size == 0))
        return a->size == 0 ? 1 : -1;
    size_t la = strlen(a->name), lb = strlen(b->name);
    if (la != lb)
        return la < lb ? -1 : 1;
    return strcmp(a->name, b->name);
}

static bool exec_section(Elf *elf, GElf_Word shndx)
{
    GElf_Shdr sh;
    Elf_Scn *scn = elf ? elf_getscn(elf, shndx) : NULL;
    return scn && gelf_getshdr(scn, &sh) && (sh.sh_flags & SHF_EXECINSTR);
}

/* Copies the module's function symbols (the symbol table libdwfl chose: .symtab of the file or
 * of its debug file, else .dynsym, plus .gnu_debugdata) into a sorted array. */
static int load_symtab(sym_module_t *sm)
{
    sm->syms_tried = true;
    int n = dwfl_module_getsymtab(sm->dm);
    if (n <= 1)
        return PA_OK;
    if (!(sm->syms = malloc((size_t)n * sizeof *sm->syms)))
        return PA_ENOMEM;
    for (int i = 1; i < n; i++) {
        GElf_Sym sym;
        GElf_Addr addr;
        GElf_Word shndx;
        Elf *elf = NULL;
        const char *name = dwfl_module_getsym_info(sm->dm, i, &sym, &addr, &shndx, &elf, NULL);
        if (!name || !name[0] || shndx == SHN_UNDEF || shndx == SHN_ABS || shndx == (GElf_Word)-1)
            continue;
        int type = GELF_ST_TYPE(sym.st_info);
        if (type != STT_FUNC && type != STT_GNU_IFUNC &&
            !(type == STT_NOTYPE && exec_section(elf, shndx)))
            continue;
        sym_elf_t *e = &sm->syms[sm->nsyms++];
        e->addr = addr;
        e->size = sym.st_size;
        e->name = name;
        e->rank = sym_rank(name, GELF_ST_BIND(sym.st_info));
    }
    if (sm->nsyms)
        qsort(sm->syms, sm->nsyms, sizeof *sm->syms, cmp_sym);
    return PA_OK;
}

/* Index of the last symbol at or below a, or -1. */
static ptrdiff_t sym_floor(const sym_module_t *sm, uint64_t a)
{
    size_t lo = 0, hi = sm->nsyms;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (sm->syms[mid].addr <= a)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (ptrdiff_t)lo - 1;
}

/* The name of the symbol covering absolute address a (raw, mangled), or NULL. A sized symbol
 * whose range holds a wins over a closer sizeless one: a label inside a function (V8's builtins
 * in node: `construct_stub_create_deopt_addr`, NOTYPE, size 0, inside the FUNC
 * `Builtins_JSConstructStubGeneric`) named such frames before, where addr2line names the
 * function. A sizeless symbol (hand-written assembly) is taken when nothing sized covers a. */
static const char *sym_covering(const sym_module_t *sm, uint64_t a)
{
    ptrdiff_t i = sym_floor(sm, a);
    if (i < 0)
        return NULL;
    ptrdiff_t first = i;
    while (first > 0 && sm->syms[first - 1].addr == sm->syms[i].addr)
        first--;
    const char *sizeless = NULL;
    for (ptrdiff_t k = first; k <= i; k++) { /* the closest address, best name first */
        const sym_elf_t *e = &sm->syms[k];
        if (e->size == 0 && !sizeless)
            sizeless = e->name;
        else if (e->size && a < e->addr + e->size)
            return e->name;
    }
    /* A larger symbol further down may still cover a (a function around a label). */
    for (ptrdiff_t k = first - 1; k >= 0 && k >= first - 64; k--) {
        const sym_elf_t *e = &sm->syms[k];
        if (e->size && a < e->addr + e->size)
            return e->name;
    }
    return sizeless;
}

/* ---- functions of a compile unit --------------------------------------------------------------
 */

static int add_ranges(sym_cu_t *c, Dwarf_Die *die)
{
    Dwarf_Addr base, lo, hi;
    ptrdiff_t off = 0;
    while ((off = dwarf_ranges(die, off, &base, &lo, &hi)) > 0) {
        if (hi <= lo)
            continue;
        if (pa_util_grow((void **)&c->r, &c->cap, c->n + 1, sizeof *c->r) != PA_OK)
            return PA_ENOMEM;
        c->r[c->n++] = (sym_range_t){lo, hi, *die};
    }
    return PA_OK;
}

/* Functions with code among the children of die, and inside namespaces (where some compilers
 * put definitions). Nested functions, local classes' methods and lambdas whose DIEs sit inside
 * another function are not listed: their addresses take the slow way. */
static int index_children(sym_cu_t *c, Dwarf_Die *parent, int depth)
{
    Dwarf_Die d;
    if (depth > 32 || dwarf_child(parent, &d) != 0)
        return PA_OK;
    do {
        int tag = dwarf_tag(&d), rc = PA_OK;
        if (tag == DW_TAG_subprogram || tag == DW_TAG_entry_point)
            rc = add_ranges(c, &d);
        else if (tag == DW_TAG_namespace || tag == DW_TAG_module)
            rc = index_children(c, &d, depth + 1);
        if (rc != PA_OK)
            return rc;
    } while (dwarf_siblingof(&d, &d) == 0);
    return PA_OK;
}

static int cmp_range(const void *pa, const void *pb)
{
    const sym_range_t *a = pa, *b = pb;
    if (a->lo != b->lo)
        return a->lo < b->lo ? -1 : 1;
    return a->hi < b->hi ? 1 : a->hi > b->hi ? -1 : 0; /* the larger first: inner ones win */
}

static sym_cu_t *cu_get(sym_module_t *sm, Dwarf_Die *cu)
{
    Dwarf_Off off = dwarf_dieoffset(cu);
    sym_cu_t *c;
    HASH_FIND(hh, sm->cus, &off, sizeof off, c);
    if (c)
        return c;
    if (!(c = calloc(1, sizeof *c)))
        return NULL;
    c->off = off;
    Dwarf_Attribute at;
    c->comp_dir = dwarf_formstring(dwarf_attr(cu, DW_AT_comp_dir, &at));
    if (index_children(c, cu, 0) != PA_OK) {
        free(c->r);
        free(c);
        return NULL;
    }
    if (c->n)
        qsort(c->r, c->n, sizeof *c->r, cmp_range);
    HASH_ADD(hh, sm->cus, off, sizeof c->off, c);
    return c;
}

/* The DIE of the range holding pc in a sorted table, or NULL. */
static Dwarf_Die *range_at(sym_range_t *r, size_t n, Dwarf_Addr pc)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r[mid].lo <= pc)
            lo = mid + 1;
        else
            hi = mid;
    }
    /* Ranges do not overlap in well-formed DWARF; a few steps back tolerate those that do. */
    for (size_t k = lo; k > 0 && lo - k < 16; k--)
        if (pc < r[k - 1].hi)
            return &r[k - 1].die;
    return NULL;
}

/* The CU holding pc when libdwfl cannot tell: it finds CUs through .debug_aranges, which clang
 * does not emit. Every CU's ranges are read once into a sorted table. */
static Dwarf_Die *cu_by_ranges(sym_module_t *sm, Dwarf_Addr pc)
{
    if (!sm->cu_ranges_tried) {
        sm->cu_ranges_tried = true;
        Dwarf_Die *cu = NULL;
        Dwarf_Addr bias;
        sym_cu_t tmp = {0};
        while ((cu = dwfl_module_nextcu(sm->dm, cu, &bias)))
            if (add_ranges(&tmp, cu) != PA_OK)
                break;
        if (tmp.n)
            qsort(tmp.r, tmp.n, sizeof *tmp.r, cmp_range);
        sm->cu_ranges = tmp.r;
        sm->ncu_ranges = tmp.n;
    }
    return range_at(sm->cu_ranges, sm->ncu_ranges, pc);
}

/* ---- the inline chain of one address -------------------------------------------------------- */

static void chain_push(chain_t *ch, const Dwarf_Die *d)
{
    if (ch->n < SYM_MAX_CHAIN)
        ch->d[ch->n++] = *d;
}

static bool has_pc_attr(Dwarf_Die *d)
{
    return dwarf_hasattr(d, DW_AT_low_pc) || dwarf_hasattr(d, DW_AT_ranges);
}

/* Adds the inlined subroutines under parent that hold pc, outermost first. Lexical blocks are
 * looked through; a block without addresses of its own (GCC emits some) is searched. Returns
 * true when a child holding pc was found. */
static bool descend(Dwarf_Die *parent, Dwarf_Addr pc, chain_t *ch, int depth)
{
    Dwarf_Die d;
    if (depth > 4 * SYM_MAX_CHAIN || dwarf_child(parent, &d) != 0)
        return false;
    do {
        int tag = dwarf_tag(&d);
        if (tag != DW_TAG_inlined_subroutine && tag != DW_TAG_lexical_block)
            continue;
        if (!has_pc_attr(&d)) {
            size_t mark = ch->n;
            if (tag == DW_TAG_lexical_block && descend(&d, pc, ch, depth + 1))
                return true;
            ch->n = mark;
            continue;
        }
        if (dwarf_haspc(&d, pc) <= 0)
            continue;
        if (tag == DW_TAG_inlined_subroutine)
            chain_push(ch, &d);
        descend(&d, pc, ch, depth + 1);
        return true;
    } while (dwarf_siblingof(&d, &d) == 0);
    return false;
}

/* The slow way, for addresses the CU's function table does not cover: the innermost scope, and
 * its parents. */
static void chain_by_scopes(Dwarf_Die *cu, Dwarf_Addr pc, chain_t *ch)
{
    Dwarf_Die *scopes = NULL, *parents = NULL;
    int ns = dwarf_getscopes(cu, pc, &scopes);
    int np = ns > 0 ? dwarf_getscopes_die(&scopes[0], &parents) : 0;
    int top = -1; /* the enclosing function, outermost */
    for (int i = 0; i < np && top < 0; i++) {
        int tag = dwarf_tag(&parents[i]);
        if (tag == DW_TAG_subprogram || tag == DW_TAG_entry_point)
            top = i;
    }
    for (int i = top; i >= 0; i--)
        if (i == top || dwarf_tag(&parents[i]) == DW_TAG_inlined_subroutine)
            chain_push(ch, &parents[i]);
    free(scopes);
    free(parents);
}

/* ---- names ------------------------------------------------------------------------------------
 */

static const char *die_string(Dwarf_Die *d, unsigned name)
{
    Dwarf_Attribute a;
    return dwarf_formstring(dwarf_attr_integrate(d, name, &a));
}

static bool is_cplusplus(Dwarf_Die *cu)
{
    int lang = dwarf_srclang(cu);
    return lang == DW_LANG_C_plus_plus || lang == DW_LANG_C_plus_plus_03 ||
           lang == DW_LANG_C_plus_plus_11 || lang == DW_LANG_C_plus_plus_14 ||
           lang == DW_LANG_ObjC_plus_plus;
}

/* The DWARF name of a C++ function without a linkage name, qualified by the namespaces,
 * classes and functions around its declaration: "(anonymous namespace)::Registry::add",
 * "std::vector<Item, std::allocator<Item> >::push_back" (functions with internal linkage,
 * including library templates instantiated with a type of an anonymous namespace). Class
 * names are GCC's spelling of the type ("long int"). Cached by the declaration DIE. */
static const char *qualified(pa_symbols_t *s, Dwarf_Die *d, const char *raw)
{
    Dwarf_Die decl = *d, next;
    Dwarf_Attribute at;
    for (int i = 0; i < 8; i++) {
        if (!dwarf_attr(&decl, DW_AT_abstract_origin, &at) &&
            !dwarf_attr(&decl, DW_AT_specification, &at))
            break;
        if (!dwarf_formref_die(&at, &next))
            break;
        decl = next;
    }
    const char *key = decl.addr;
    sym_name_t *x;
    HASH_FIND(hh, s->names, &key, sizeof key, x);
    if (x)
        return x->cooked;
    Dwarf_Die *scopes = NULL;
    int n = dwarf_getscopes_die(&decl, &scopes);
    pa_str_t q = {0};
    for (int i = n - 1; i >= 1; i--) {
        int tag = dwarf_tag(&scopes[i]);
        const char *part = NULL;
        if (tag == DW_TAG_namespace)
            part = dwarf_diename(&scopes[i]) ? dwarf_diename(&scopes[i]) : "(anonymous namespace)";
        else if (tag == DW_TAG_class_type || tag == DW_TAG_structure_type ||
                 tag == DW_TAG_union_type)
            part = dwarf_diename(&scopes[i]) ? dwarf_diename(&scopes[i]) : "{unnamed type}";
        else if (tag == DW_TAG_subprogram) /* a local class or a lambda */
            part = dwarf_diename(&scopes[i]);
        if (part)
            pa_str_printf(&q, "%s::", part);
    }
    free(scopes);
    pa_str_puts(&q, raw);
    const char *c = q.failed ? NULL : intern(s, pa_str_get(&q));
    pa_str_free(&q);
    return remember(s, key, c);
}

/* The naming rule (top of the file). *name is NULL when the DIE has no name at all; returns
 * PA_ENOMEM only. */
static int die_function(pa_symbols_t *s, Dwarf_Die *d, bool cplusplus, const char **name)
{
    *name = NULL;
    const char *raw = die_string(d, DW_AT_linkage_name);
    if (!raw)
        raw = die_string(d, DW_AT_MIPS_linkage_name);
    if (raw)
        *name = cook(s, raw, COOK_NAME, NULL);
    else if ((raw = die_string(d, DW_AT_name)))
        *name = cplusplus ? qualified(s, d, raw) : cook(s, raw, COOK_NAME, NULL);
    return raw && !*name ? PA_ENOMEM : PA_OK;
}

static const char *call_file(sym_cu_t *c, Dwarf_Die *cu, Dwarf_Die *d)
{
    Dwarf_Attribute a;
    Dwarf_Word v;
    if (dwarf_formudata(dwarf_attr(d, DW_AT_call_file, &a), &v) != 0)
        return NULL;
    if (!c->files_tried) {
        c->files_tried = true;
        if (dwarf_getsrcfiles(cu, &c->files, &c->nfiles) != 0)
            c->files = NULL;
    }
    return c->files && v < c->nfiles ? dwarf_filesrc(c->files, v, NULL, NULL) : NULL;
}

static uint32_t call_line(Dwarf_Die *d)
{
    Dwarf_Attribute a;
    Dwarf_Word v;
    if (dwarf_formudata(dwarf_attr(d, DW_AT_call_line, &a), &v) != 0 || v > UINT32_MAX)
        return 0;
    return (uint32_t)v;
}

/* ---- expanding one address --------------------------------------------------------------------
 */

static int add_frame(pa_symbols_t *s, sym_entry_t *e, pa_frame_t f, const char *file,
                     const char *comp_dir, uint32_t line, bool inlined)
{
    f.file = NULL;
    if (file && !(f.file = cook(s, file, COOK_FILE, comp_dir)))
        return PA_ENOMEM;
    f.line = line;
    f.inlined = inlined;
    f.library = pa_symbols_is_library(f.file, f.module);
    if (pa_util_grow((void **)&s->frames, &s->frames_cap, e->n + 1, sizeof *s->frames) != PA_OK)
        return PA_ENOMEM;
    s->frames[e->n++] = f;
    return PA_OK;
}

/* a: the looked-up address (return address - 1), absolute. */
static int expand(pa_symbols_t *s, sym_module_t *sm, uint64_t a, pa_frame_t base, sym_entry_t *e)
{
    Dwfl_Module *dm = sm->dm;
    if (!sm->syms_tried && load_symtab(sm) != PA_OK)
        return PA_ENOMEM;
    const char *file = NULL, *comp_dir = NULL;
    int line = 0;
    Dwarf_Addr bias = 0;
    Dwarf_Die *cu = dwfl_module_addrdie(dm, a, &bias);
    /* libdwfl hands out the CU nearest below the address even when its ranges end before it
     * (then the line is the last row before the gap: _start, right after a C++ unit's code,
     * came out as a line of stl_vector.h). */
    if (cu && has_pc_attr(cu) && dwarf_haspc(cu, a - bias) <= 0)
        cu = NULL;
    else if (!cu && dwfl_module_getdwarf(dm, &bias))
        cu = cu_by_ranges(sm, a - bias);
    Dwarf_Line *l = cu ? dwarf_getsrc_die(cu, a - bias) : NULL;
    if (l) {
        file = dwarf_linesrc(l, NULL, NULL);
        Dwarf_Attribute at;
        comp_dir = dwarf_formstring(dwarf_attr(cu, DW_AT_comp_dir, &at));
        if (dwarf_lineno(l, &line) != 0 || line < 0)
            line = 0;
    }
    chain_t *ch = &s->chain;
    ch->n = 0;
    sym_cu_t *c = NULL;
    if (cu) {
        Dwarf_Addr pc = a - bias;
        if (!(c = cu_get(sm, cu)))
            return PA_ENOMEM;
        Dwarf_Die *fn = range_at(c->r, c->n, pc);
        if (fn) {
            chain_push(ch, fn);
            descend(fn, pc, ch, 0);
        } else
            chain_by_scopes(cu, pc, ch);
    }
    if (ch->n == 0) { /* no DWARF function: the symbol table */
        const char *raw = sym_covering(sm, a);
        if (raw && !(base.function = cook(s, raw, COOK_SYMTAB, NULL)))
            return PA_ENOMEM;
        return add_frame(s, e, base, file, comp_dir, (uint32_t)line, false);
    }
    bool cplusplus = is_cplusplus(cu);
    for (size_t i = ch->n; i-- > 0;) {
        Dwarf_Die *d = &ch->d[i];
        if (die_function(s, d, cplusplus, &base.function) != PA_OK)
            return PA_ENOMEM;
        if (i == 0 && !base.function) {
            const char *raw = sym_covering(sm, a);
            if (raw && !(base.function = cook(s, raw, COOK_SYMTAB, NULL)))
                return PA_ENOMEM;
        }
        if (add_frame(s, e, base, file, comp_dir, (uint32_t)line, i > 0) != PA_OK)
            return PA_ENOMEM;
        if (i > 0) { /* the frame around an inlined instance is at its call site */
            file = call_file(c, cu, d);
            comp_dir = c->comp_dir;
            line = (int)call_line(d);
        }
    }
    return PA_OK;
}

/* ---- modules shared by the traces of one command ------------------------------------------
 * `perfshim run` on a build, or `leaks --merge` over a server's workers, reads many traces of
 * the same programs and libraries. With sharing on (pa_symbols_share), a module is reported to
 * libdwfl, and its symbol table and compile-unit indexes are built, once per command: the first
 * trace that needs it opens it at its own load bias, and every later trace's addresses are
 * moved into that module's coordinates (address - its bias + the shared bias) before the
 * lookup. The key is the module's path and build-id (a module without a build-id is not shared:
 * two files at one path could differ). Strings stay per symbolizer (they are re-made from the
 * shared libdw data, which lives as long as the share), and the warnings the first trace got
 * about a module are given to every later trace that uses it. */

typedef struct sym_shared {
    UT_hash_handle hh;
    char *key;       /* path, '\n', build-id in hex */
    pa_module_t mod; /* a copy of the first trace's module (path, build-id, bias) */
    Dwfl *dwfl;      /* this module only */
    char *debuginfo_path;
    Dwfl_Callbacks cb;
    sym_module_t sm;    /* its lookup state; sm.m is &mod */
    pa_strlist_t warns; /* what opening it said */
} sym_shared_t;

static bool share_on;
static sym_shared_t *shared;
static unsigned long modules_opened; /* modules reported to libdwfl, shared or not */

static void debug_open(const pa_module_t *m, bool is_shared)
{
    modules_opened++;
    const char *d = getenv("PA_SYMBOLS_DEBUG");
    if (d && *d == '1')
        fprintf(stderr, "perfshim: symbols: opening %s (%s)\n", m->path[0] ? m->path : "?",
                is_shared ? "shared" : "this trace only");
}

static void module_state_free(sym_module_t *sm)
{
    sym_cu_t *c, *ctmp;
    HASH_ITER(hh, sm->cus, c, ctmp)
    {
        HASH_DEL(sm->cus, c);
        free(c->r);
        free(c);
    }
    free(sm->syms);
    free(sm->cu_ranges);
}

static void shared_free(sym_shared_t *x)
{
    module_state_free(&x->sm);
    if (x->dwfl)
        dwfl_end(x->dwfl);
    free(x->mod.path);
    free(x->mod.build_id);
    pa_strlist_free(&x->warns);
    free(x->key);
    free(x);
}

void pa_symbols_share(bool on)
{
    share_on = on;
    if (on)
        return;
    sym_shared_t *x, *tmp;
    HASH_ITER(hh, shared, x, tmp)
    {
        HASH_DEL(shared, x);
        shared_free(x);
    }
}

bool pa_symbols_sharing(void)
{
    return share_on;
}

unsigned long pa_symbols_modules_opened(void)
{
    return modules_opened;
}

/* The shared copy of m (opened now if it is new), or NULL: not shareable, or no memory (the
 * caller then opens it for this trace only). */
static sym_shared_t *shared_get(pa_symbols_t *s, const pa_module_t *m)
{
    if (!m->build_id_len || !m->path[0] || m->path[0] == '[')
        return NULL;
    char hexid[2 * 64 + 1];
    hex(m->build_id, m->build_id_len, hexid, sizeof hexid);
    pa_str_t k = {0};
    pa_str_printf(&k, "%s\n%s", m->path, hexid);
    if (k.failed) {
        pa_str_free(&k);
        return NULL;
    }
    const char *key = pa_str_get(&k);
    sym_shared_t *x;
    HASH_FIND(hh, shared, key, strlen(key), x);
    if (x) {
        pa_str_free(&k);
        for (size_t i = 0; i < x->warns.n; i++)
            pa_model_warn(s->t, "%s", x->warns.items[i]);
        return x;
    }
    if (!(x = calloc(1, sizeof *x)) || !(x->key = pa_util_strdup(key)) ||
        !(x->mod.path = pa_util_strdup(m->path)) || !(x->mod.build_id = malloc(m->build_id_len))) {
        pa_str_free(&k);
        if (x)
            shared_free(x);
        return NULL;
    }
    pa_str_free(&k);
    memcpy(x->mod.build_id, m->build_id, m->build_id_len);
    x->mod.build_id_len = m->build_id_len;
    x->mod.base = m->base;
    x->mod.start = m->start;
    x->mod.end = m->end;
    x->cb = s->cb;
    x->debuginfo_path = search_dwfl_path;
    x->cb.debuginfo_path = &x->debuginfo_path;
    if (!(x->dwfl = dwfl_begin(&x->cb))) {
        shared_free(x);
        return NULL;
    }
    x->sm.m = &x->mod;
    size_t before = s->t->warnings.n;
    debug_open(m, true);
    report_module(x->dwfl, s->t, &x->sm);
    for (size_t i = before; i < s->t->warnings.n; i++)
        pa_strlist_add(&x->warns, s->t->warnings.items[i]);
    HASH_ADD_KEYPTR(hh, shared, x->key, strlen(x->key), x);
    return x;
}

static void entry_free(sym_entry_t *e)
{
    free(e->frames);
    free(e);
}

static size_t cache_slot(const sym_slot_t *cache, size_t cap, uint64_t addr)
{
    uint64_t h = addr * 0x9e3779b97f4a7c15u;
    size_t i = (size_t)(h ^ h >> 29) & (cap - 1);
    while (cache[i].e && cache[i].addr != addr)
        i = (i + 1) & (cap - 1);
    return i;
}

/* Room for one more entry in the cache. */
static int cache_reserve(pa_symbols_t *s)
{
    if ((s->ncache + 1) * 2 <= s->cache_cap)
        return PA_OK;
    size_t cap = s->cache_cap ? s->cache_cap * 2 : 1024;
    sym_slot_t *c = cap <= SIZE_MAX / sizeof *c ? pa_util_zalloc(cap * sizeof *c) : NULL;
    if (!c)
        return PA_ENOMEM;
    for (size_t i = 0; i < s->cache_cap; i++)
        if (s->cache[i].e)
            c[cache_slot(c, cap, s->cache[i].addr)] = s->cache[i];
    free(s->cache);
    s->cache = c;
    s->cache_cap = cap;
    return PA_OK;
}

/* ---- the cache on disk (symcache.c) ----------------------------------------------------------
 * Asked before a module is opened: an address it holds is answered without the module's file
 * (a module whose every address is cached is never opened). Told what a module opened as the
 * recorded build-id's gave. The strings are interned here as expand() interns them, so a report
 * sees the same pointers for equal strings either way. */

/* Whether the cache holds addr's frames (base: its module and offset); then e has them. */
static bool from_disk(pa_symbols_t *s, const pa_module_t *m, pa_frame_t base, sym_entry_t *e,
                      int *rc)
{
    const pa_symcache_frame_t *cf;
    size_t n;
    if (!pa_symcache_on() || !m->path[0] || m->path[0] == '[' || base.address == 0 ||
        !pa_symcache_get(m->build_id, m->build_id_len, base.offset, &cf, &n))
        return false;
    for (size_t k = 0; k < n && *rc == PA_OK; k++) {
        pa_frame_t f = base;
        f.function = cf[k].function ? intern(s, cf[k].function) : NULL;
        f.file = cf[k].file ? intern(s, cf[k].file) : NULL;
        f.line = cf[k].line;
        f.inlined = cf[k].inlined;
        f.library = pa_symbols_is_library(f.file, f.module);
        if ((cf[k].function && !f.function) || (cf[k].file && !f.file) ||
            pa_util_grow((void **)&s->frames, &s->frames_cap, e->n + 1, sizeof *s->frames) != PA_OK)
            *rc = PA_ENOMEM;
        else
            s->frames[e->n++] = f;
    }
    return true;
}

static int to_disk(pa_symbols_t *s, const pa_module_t *m, uint64_t offset, const sym_entry_t *e)
{
    if (!pa_symcache_on())
        return PA_OK;
    pa_symcache_frame_t small[8], *cf = e->n <= 8 ? small : malloc(e->n * sizeof *cf);
    if (!cf)
        return PA_ENOMEM;
    for (size_t k = 0; k < e->n; k++)
        cf[k] = (pa_symcache_frame_t){s->frames[k].function, s->frames[k].file, s->frames[k].line,
                                      s->frames[k].inlined};
    int rc = pa_symcache_put(m->build_id, m->build_id_len, offset, cf, e->n);
    if (cf != small)
        free(cf);
    return rc;
}

int pa_symbols_lookup(pa_symbols_t *s, uint64_t addr, const pa_frame_t **frames, size_t *n)
{
    if (s->cache_cap) {
        const sym_slot_t *x = &s->cache[cache_slot(s->cache, s->cache_cap, addr)];
        if (x->e) {
            *frames = x->e->frames;
            *n = x->e->n;
            return PA_OK;
        }
    }
    if (cache_reserve(s) != PA_OK)
        return PA_ENOMEM;
    sym_entry_t *e = calloc(1, sizeof *e);
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
        if (from_disk(s, m, base, e, &rc))
            goto done;
        if (!sm->tried) {
            if (share_on && (sm->sh = shared_get(s, m)) != NULL) {
                sm->tried = true;
            } else {
                debug_open(m, false);
                report_module(s->dwfl, s->t, sm);
            }
        }
        if (sm->sh) { /* the shared copy, at its own bias */
            if (sm->sh->sm.dm && addr > 0)
                rc = expand(s, &sm->sh->sm, addr - m->base + sm->sh->mod.base - 1, base, e);
        } else if (sm->dm && addr > 0) {
            rc = expand(s, sm, addr - 1, base, e);
        }
    }
    if (rc == PA_OK && e->n == 0)
        rc = add_frame(s, e, base, NULL, NULL, 0, false);
    if (rc == PA_OK && sm && addr > 0 &&
        (sm->sh ? sm->sh->sm.dm && sm->sh->sm.exact : sm->dm && sm->exact))
        rc = to_disk(s, m, base.offset, e);
done:
    if (rc == PA_OK && !(e->frames = malloc(e->n * sizeof *e->frames)))
        rc = PA_ENOMEM;
    if (rc == PA_OK)
        memcpy(e->frames, s->frames, e->n * sizeof *e->frames);
    if (rc != PA_OK) {
        entry_free(e);
        return rc;
    }
    s->cache[cache_slot(s->cache, s->cache_cap, addr)] = (sym_slot_t){addr, e};
    s->ncache++;
    *frames = e->frames;
    *n = e->n;
    return PA_OK;
}

pa_symbols_t *pa_symbols_ref(pa_symbols_t *s)
{
    s->refs++;
    return s;
}

void pa_symbols_free(pa_symbols_t *s)
{
    if (!s)
        return;
    if (s->refs) {
        s->refs--;
        return;
    }
    pa_symcache_flush();
    for (size_t i = 0; i < s->cache_cap; i++)
        if (s->cache[i].e)
            entry_free(s->cache[i].e);
    free(s->cache);
    sym_name_t *nm, *ntmp;
    HASH_ITER(hh, s->names, nm, ntmp)
    {
        HASH_DEL(s->names, nm);
        free(nm);
    }
    sym_str_t *st, *stmp;
    HASH_ITER(hh, s->strs, st, stmp)
    {
        HASH_DEL(s->strs, st);
        free(st);
    }
    for (size_t i = 0; s->mods && i < s->t->nmodules; i++)
        module_state_free(&s->mods[i]);
    if (s->dwfl)
        dwfl_end(s->dwfl);
    free(s->mods);
    free(s->frames);
    free(s);
}
