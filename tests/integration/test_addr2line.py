#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_addr2line.py — differential test of the analyzer's symbolizer against binutils'
`addr2line -i -f -C`.

Each program runs under the shim; for every distinct return address in its trace (every
module: the program, its shared libraries, libc, libstdc++, the shim), `symdump` prints the
frames perfshim's symbolizer gives, and `addr2line -a -i -f -C -e MODULE` is asked about the
same module offset minus 1 (the call instruction). Frame by frame they must agree: the number
of inline levels, the function, the file (full path) and the line. Every mismatch is printed.

Allowed differences, each named and counted in the output (docs/analyzer.md, "Symbols"):
  qualified      perfshim qualifies a DWARF name that has no linkage name (C++ functions with
                 internal linkage): addr2line says "push_back", perfshim
                 "std::vector<Item, std::allocator<Item> >::push_back" — the name must end with
                 "::" + addr2line's.
  binutils-*     binutils disagrees with elfutils' eu-addr2line (the second oracle) and perfshim
                 agrees with eu-addr2line, in one of binutils' known ways:
                   -symtab     a function without a linkage name (C++ with internal linkage)
                               named by a symbol-table entry instead of its DWARF name: the
                               symbol at the function's start ("objects(int) [clone
                               .constprop.0]") or, for the innermost frame, the symbol around
                               the address (an inlined static function comes out as its
                               caller); the name must be in the module's symbol table;
                   -file       another file on the same line (its DWARF 5 file table reading);
                   -sizeless   a symbol-table name for an address past the end of that symbol
                               (no debug information; perfshim and eu-addr2line name nothing).
Anything else fails.

A program whose name ends in _clang was built by clang++: its own module is compared with
llvm-addr2line instead (binutils 2.40 misses inline levels in clang 14's DWARF 5, elfutils
0.188's eu-addr2line finds nothing without .debug_aranges), exactly but for `qualified` and
`demangler-spelling` (names equal but for what LLVM's demangler spells differently: spaces,
parentheses, lambdas; see llvm_spelling()).

--real adds a C++ program nobody here wrote: apt-cache (C++, libapt-pkg) run with the debug
build of libstdc++ from Debian's libstdc++6-12-dbg (built with DWARF, not inlined), so that
every libstdc++ frame of it is compared (apt-cache itself has no debug information); skipped
parts are reported, and the test exits 77 when nothing could be compared."""
import collections
import json
import os
import re
import shutil
import subprocess
import sys

import pstest

A2L = shutil.which("addr2line")
EU = shutil.which("eu-addr2line")
LLVM = shutil.which("llvm-addr2line")
LLVM_SPELLING = False  # set while llvm-addr2line is the oracle
DEBUG_LIBSTDCXX = "/usr/lib/x86_64-linux-gnu/debug"


def parse_a2l(text):
    """{offset+1: [(function, file, line), ...]} from `addr2line -a -i -f` output (elfutils
    prints "inlined at ... in ..." after the innermost function and a column after the line;
    both tools print "??" for unknown)."""
    res, cur, lines, i = {}, None, text.splitlines(), 0
    while i < len(lines):
        l = lines[i]
        if re.match(r"^0x[0-9a-f]+$", l):
            cur = int(l, 16) + 1
            res[cur] = []
            i += 1
            continue
        fn, loc = l, lines[i + 1] if i + 1 < len(lines) else "??:0"
        i += 2
        fn = re.sub(r" inlined at .* in .*$", "", fn)
        fn = re.sub(r"@.*$", "", fn)  # symbol versions
        loc = re.sub(r" \(discriminator \d+\)$", "", loc)
        m = re.match(r"^(.*?):(\d+|\?)(?::\d+)?$", loc)
        f, ln = (m.group(1), m.group(2)) if m else (loc, "0")
        res[cur].append((None if fn == "??" else fn, None if f == "??" else f,
                         0 if ln == "?" else int(ln)))
    return res


def ask(tool, module, offsets):
    inp = "".join("%#x\n" % (o - 1) for o in offsets)
    p = subprocess.run([tool, "-a", "-i", "-f", "-C", "-e", module], input=inp,
                       capture_output=True, text=True, timeout=600)
    return parse_a2l(p.stdout)


_symtabs = {}


def symtab(module):
    """Demangled names of the module's symbol tables (and of its separate debug file's)."""
    if module not in _symtabs:
        names = set()
        files = [module]
        p = pstest.run(["readelf", "-n", module])
        m = re.search(r"Build ID: ([0-9a-f]+)", p.stdout.decode())
        if m:
            files.append("/usr/lib/debug/.build-id/%s/%s.debug" % (m.group(1)[:2], m.group(1)[2:]))
        for f in files:
            for opt in ([], ["-D"]):
                if os.path.exists(f):
                    out = pstest.run(["nm", "-C", "--defined-only", *opt, f]).stdout.decode()
                    for line in out.splitlines():
                        parts = line.split(" ", 2)
                        if len(parts) == 3:
                            names.add(re.sub(r"@.*$", "", parts[2]))
        _symtabs[module] = names
    return _symtabs[module]


def llvm_spelling(name):
    """A demangled name without what LLVM's demangler writes differently from GCC's:
    "operator<<<char" / "operator<< <char", "!(is_array<T>::value)" / "!is_array<T>::value",
    "'lambda'()" / "{lambda()#1}"."""
    name = re.sub(r"\{lambda\(([^)]*)\)#\d+\}", r"lambda(\1)", name)
    name = re.sub(r"'lambda\d*'\(([^)]*)\)", r"lambda(\1)", name)
    return re.sub(r"[ ()]", "", name)


def name_ok(mine, theirs):
    if mine == theirs:
        return "exact"
    if LLVM_SPELLING and mine and theirs and llvm_spelling(mine) == llvm_spelling(theirs):
        return "demangler-spelling"
    if mine and theirs and mine.endswith("::" + theirs):
        return "qualified"
    return None


def frame_ok(mine, theirs):
    """None when they differ, else how they agree."""
    how = name_ok(mine[0], theirs[0])
    if how and mine[1] == theirs[1] and mine[2] == theirs[2]:
        return how
    return None


class Comparison:
    def __init__(self, ck, label):
        self.ck, self.label = ck, label
        self.addresses = self.frames = self.chains = self.deepest = 0
        self.kinds = collections.Counter()
        self.mismatches = []

    def address(self, module, off, mine, bu, eu):
        self.addresses += 1
        self.frames += len(mine)
        self.chains += len(mine) > 1
        self.deepest = max(self.deepest, len(mine))
        where = "%s+%#x" % (os.path.basename(module), off - 1)
        if bu is None:
            self.mismatches.append((where, "addr2line gave nothing", mine, bu, eu))
            return
        if len(mine) != len(bu):
            self.mismatches.append((where, "%d inline levels, addr2line %d" % (len(mine), len(bu)),
                                    mine, bu, eu))
            return
        for k, (m, b) in enumerate(zip(mine, bu)):
            how = frame_ok(m, b)
            if how:
                self.kinds[how] += 1
                continue
            e = eu[k] if eu and len(eu) == len(mine) else None
            kind = None
            if e and frame_ok(m, e) and not frame_ok(b, e):
                if len(mine) == 1 and m == (None, None, 0) and b[0] and b[1] is None:
                    kind = "binutils-sizeless"
                elif ((m[1], m[2]) == (b[1], b[2]) and name_ok(m[0], b[0]) is None
                        and b[0] in symtab(module)):
                    kind = "binutils-symtab"
                elif name_ok(m[0], b[0]) and m[2] == b[2] and m[1] != b[1]:
                    kind = "binutils-file"
            if kind:
                self.kinds[kind] += 1
            else:
                self.mismatches.append((where, "frame #%d" % k, mine, bu, eu))
                return

    def report(self):
        ck = self.ck
        print("%s: %d addresses, %d frames, %d with inlined frames (deepest %d); agreement: %s"
              % (self.label, self.addresses, self.frames, self.chains, self.deepest,
                 ", ".join("%s %d" % kv for kv in sorted(self.kinds.items()))))
        detail = []
        for where, why, mine, bu, eu in self.mismatches:
            detail.append("%s: %s" % (where, why))
            for name, fr in (("perfshim", mine), ("addr2line", bu), ("eu-addr2line", eu)):
                detail.append("  " + name)
                for f in fr or []:
                    name = f[0] if not f[0] or len(f[0]) < 160 else f[0][:150] + "..."
                    detail.append("    %s (%s:%s)" % (name, f[1], f[2]))
        ck.check(not self.mismatches, "%s: perfshim's frames equal addr2line's at every address "
                 "(%d mismatches)" % (self.label, len(self.mismatches)), "\n".join(detail))


def compare_trace(ck, args, trace, label, only_modules=None, oracle=None, second=None):
    """oracle: addr2line (binutils) unless given; second: eu-addr2line, when oracle is not
    given."""
    if oracle is None:
        oracle, second = A2L, EU
    p = pstest.run([args.symdump, trace])
    if not ck.check(p.returncode == 0, "%s: symdump reads the trace" % label, pstest.describe(p)):
        return None
    by_module = collections.defaultdict(list)
    for e in json.loads(p.stdout):
        by_module[e["module"]].append(e)
    c = Comparison(ck, label)
    for module, entries in sorted(by_module.items()):
        if not os.path.isfile(module):
            continue  # [vdso], [unknown]
        if only_modules and not any(s in os.path.basename(module) for s in only_modules):
            continue
        offs = [int(e["offset"], 16) for e in entries]
        bu = ask(oracle, module, offs)
        eu = ask(second, module, offs) if second else {}
        for e, off in zip(entries, offs):
            mine = [(f["function"], f["file"], f["line"] or 0) for f in e["frames"]]
            c.address(module, off, mine, bu.get(off), eu.get(off))
    c.report()
    return c


def traced_run(ck, args, cmd, label, env=None, cwd=None):
    """Runs cmd without and with the shim; the same status and stdout; the traces."""
    work = pstest.tmpdir("a2l")
    bare = pstest.run(cmd, env=env, cwd=cwd or work)
    e = {"LD_PRELOAD": args.lib, "PERFSHIM_OUTPUT": os.path.join(work, "%e.%p.trace")}
    e.update(env or {})
    p = pstest.run(cmd, env=e, cwd=cwd or work)
    ck.check(p.returncode == bare.returncode and p.stdout == bare.stdout,
             "%s: same status and output under the shim" % label, pstest.describe(p))
    return sorted(os.path.join(work, f) for f in os.listdir(work) if f.endswith(".trace"))


def main():
    args = pstest.parse_args(lambda ap: (
        ap.add_argument("--symdump", required=True),
        ap.add_argument("--programs", nargs="*", default=[],
                        help="NAME:N, a program of --bindir and the least number of its "
                        "addresses with inlined frames"),
        ap.add_argument("--real", action="store_true")))
    if not A2L or not EU:
        print("SKIP: needs binutils' addr2line and elfutils' eu-addr2line")
        sys.exit(77)
    ck = pstest.Checker("test_addr2line")
    compared = 0
    for spec in args.programs:
        prog, _, min_chains = spec.partition(":")
        clang = prog.endswith("_clang")
        if clang and not (LLVM and os.path.exists(os.path.join(args.bindir, prog))):
            print("SKIP %s: needs the clang++ build and llvm-addr2line" % prog)
            continue
        traces = traced_run(ck, args, [os.path.join(args.bindir, prog)], prog)
        if not ck.check(len(traces) == 1, "%s: one trace" % prog, repr(traces)):
            continue
        if clang:  # binutils 2.40 misses inline levels of clang's DWARF 5; elfutils 0.188
            # finds no unit without .debug_aranges: LLVM's own addr2line, for its own module
            global LLVM_SPELLING
            LLVM_SPELLING = True
            c = compare_trace(ck, args, traces[0], prog + " (llvm-addr2line)",
                              only_modules=[prog], oracle=LLVM)
            LLVM_SPELLING = False
        else:
            c = compare_trace(ck, args, traces[0], prog)
        if c:
            compared += 1
            ck.check(c.chains >= int(min_chains or 0), "%s: at least %s addresses with inlined "
                     "frames (%d)" % (prog, min_chains or 0, c.chains))
    if args.real:
        lib = os.path.join(DEBUG_LIBSTDCXX, "libstdc++.so.6")
        apt = shutil.which("apt-cache")
        if not os.path.exists(lib) or not apt:
            print("SKIP real: needs libstdc++6-12-dbg (%s) and apt-cache" % lib)
        else:
            traces = traced_run(ck, args, [apt, "show", "libc6", "bash", "coreutils"],
                                "apt-cache", env={"LD_LIBRARY_PATH": DEBUG_LIBSTDCXX})
            addresses = 0
            for t in traces:
                c = compare_trace(ck, args, t, "%s (debug libstdc++)" % os.path.basename(t),
                                  only_modules=["libstdc++"])
                addresses += c.addresses if c else 0
            compared += addresses > 0
            ck.check(addresses >= 100, "apt-cache: at least 100 libstdc++ addresses compared "
                     "(%d)" % addresses)
    if not compared:
        print("SKIP: nothing compared")
        sys.exit(77)
    ck.done()


if __name__ == "__main__":
    main()
