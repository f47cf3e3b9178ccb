#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_stl_leaks.py — examples/stl_leaks.cpp (-O2 -g): leaks through std::vector, std::map,
std::unordered_map, std::string, std::vector::push_back growth and std::deque, whose every
allocation goes through library templates inlined into the program's function. At each
LEAK-marked line the report must show exactly the blocks and bytes the program printed
(computed from the containers' own capacity and node sizes), with that line in the first frame
of the program's own code — in the JSON (frames flagged "library" before it) and in the text
(the library frames folded into one "[N inlined library frames]" line, shown one by one with
--all-frames). NOLEAK lines appear in no leak."""
import collections
import os
import re

import pstest

SRC = "stl_leaks.cpp"


def own_frame(leak):
    """The first frame of the program's own code (not C++ standard library code)."""
    for f in leak["stack"]:
        if not f.get("library"):
            return f
    return None


def text_leaks(text):
    """[(blocks, bytes, [frame lines])] of a text leak report."""
    out = []
    for block in re.split(r"\n(?=Leak \d+ of \d+:)", text):
        m = re.match(r"Leak \d+ of \d+: (\d+) bytes? in (\d+) blocks?", block)
        if m:
            frames = [l.strip() for l in block.splitlines()[1:] if l.strip().startswith("#")]
            out.append((int(m.group(2)), int(m.group(1)), frames))
    return out


def main():
    args = pstest.parse_args()
    ck = pstest.Checker("test_stl_leaks")
    src = os.path.join(args.srcdir, SRC)
    marks = pstest.markers(src)
    work = pstest.tmpdir("stl")
    prog = os.path.join(args.bindir, "stl_leaks")
    p, reports = pstest.perfshim_run_json(args, ck, [prog], work, extra_opts=["-o", "stl.trace"])
    ck.equal(p.returncode, 0, "exit status")
    if not reports:
        ck.done()
    rep = reports[0]
    if not pstest.check_report_shape(ck, rep, "stl_leaks"):
        ck.done()
    expected = {}
    for line in p.stderr.decode().splitlines():
        m = re.match(r"LEAK (\w+) (\d+) (\d+)$", line)
        if m:
            expected[m.group(1)] = (int(m.group(2)), int(m.group(3)))
    sites = sorted(k[5:] for k in marks if k.startswith("LEAK:"))
    ck.equal(sorted(expected), sites, "the program printed every LEAK site")

    # JSON: blocks and bytes per own line
    by_line = collections.defaultdict(lambda: [0, 0])
    for l in rep["leaks"]:
        f = own_frame(l)
        if f and f.get("file") and os.path.basename(f["file"]) == SRC:
            by_line[f["line"]][0] += l["blocks"]
            by_line[f["line"]][1] += l["bytes"]
        lib = [x for x in l["stack"] if x.get("library")]
        ck.check(all(x.get("file") is None or "/c++/" in x["file"] or "libstdc++" in x["module"]
                     for x in lib), "library frames are C++ standard library code", repr(lib[:3]))
    for name in sites:
        line = marks["LEAK:" + name]
        ck.equal(tuple(by_line.get(line, (0, 0))), expected.get(name),
                 "JSON: LEAK:%s at %s:%d (blocks, bytes)" % (name, SRC, line))
    chained = [l for l in rep["leaks"] if l["stack"] and l["stack"][0].get("library")]
    ck.check(len(chained) >= 6, "JSON: leaks that start in library frames keep them (%d)"
             % len(chained), pstest.fmt_report(rep))
    for key, line in marks.items():
        if key.startswith("NOLEAK:"):
            bad = pstest.leaks_touching(rep, SRC, line)
            ck.check(not bad, "%s (%s:%d) not reported" % (key, SRC, line),
                     "\n".join(pstest.fmt_leak(x) for x in bad))
    own = sum(b for b, _ in by_line.values()), sum(n for _, n in by_line.values())
    exp = sum(b for b, _ in expected.values()), sum(n for _, n in expected.values())
    ck.equal(own, exp, "JSON: every leak of stl_leaks.cpp is at a marked line (blocks, bytes)")

    # text, folded and with --all-frames
    trace = os.path.join(work, "stl.trace")
    for opts in ([], ["--all-frames"]):
        t = pstest.run([args.perfshim, "leaks", *opts, trace])
        label = "text%s" % (" " + opts[0] if opts else "")
        if not ck.check(t.returncode == 0, "%s: perfshim leaks exits 0" % label, pstest.describe(t)):
            continue
        text = t.stdout.decode()
        leaks = text_leaks(text)
        tl = collections.defaultdict(lambda: [0, 0])
        folded = 0
        for blocks, nbytes, frames in leaks:
            folded += sum(" library frames]" in f for f in frames)
            for f in frames:
                m = re.search(r"\(%s:(\d+)\)" % re.escape(SRC), f)
                if m:
                    tl[int(m.group(1))][0] += blocks
                    tl[int(m.group(1))][1] += nbytes
                    break
        for name in sites:
            line = marks["LEAK:" + name]
            ck.equal(tuple(tl.get(line, (0, 0))), expected.get(name),
                     "%s: LEAK:%s at %s:%d (blocks, bytes)" % (label, name, SRC, line))
        if opts:
            ck.equal(folded, 0, "%s: no folded line" % label)
            ck.check("std::__new_allocator<long>::allocate(unsigned long, void const*) "
                     "(new_allocator.h:" in text, "%s: the innermost library frame is shown"
                     % label, text[:3000])
        else:
            ck.check(folded >= 6, "%s: library frames folded (%d lines)" % (label, folded))
            ck.check(re.search(r"#0 std::vector<long, std::allocator<long> >::vector\(.*\) "
                               r"\[6 inlined library frames\]\n\s+#1 leak_vector\(\) "
                               r"\(%s:%d\)" % (SRC, marks["LEAK:vector"]), text),
                     "%s: the vector leak reads '#0 std::vector<long>::vector [6 inlined "
                     "library frames]', '#1 leak_vector() (%s:%d)'" % (label, SRC,
                                                                       marks["LEAK:vector"]),
                     text[:3000])
    ck.done()


if __name__ == "__main__":
    main()
