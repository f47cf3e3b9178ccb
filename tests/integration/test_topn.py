#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_topn.py — the reports print only what --top asks for, and what they print does not
depend on it. The analyzer groups sites by interned frames and makes the frames of the printed
groups only (docs/analyzer.md, "Speed"); this test makes a trace with thousands of sites (g++
compiling a small C++ file under the shim: cc1plus) and checks that `leaks --top N` and
`summary --top N` print exactly the first N groups of `--top 0`, in text and in JSON, with the
same totals, and that the full list is grouped and ordered by the documented rule: no two leaks
with the same frames, largest bytes first, then blocks."""
import collections
import json
import os
import re
import shutil

import pstest

SOURCE = r"""
#include <map>
#include <string>
#include <vector>
template <int N> struct W { std::vector<std::string> v; std::map<int, W<N - 1>> m; };
template <> struct W<0> { int x; };
int f(W<12> &w) { w.v.push_back("x"); return (int)w.m.size(); }
"""


def blocks(text, head):
    """The report's entries: text from each line starting with `head` to the next."""
    parts = re.split(r"\n(?=%s)" % head, text)
    return [p.rstrip("\n") for p in parts[1:]]


def leak_entries(text):
    body = text.split("\nSUMMARY:")[0]
    return blocks(body, r"Leak \d+ of \d+:")


def summary_line(text):
    m = re.search(r"^SUMMARY:.*$", text, re.M)
    return m.group(0) if m else None


def site_entries(text):
    return blocks(text, r"\d+\. ")


def same(ck, got, expected, what):
    """ck.equal without printing long lists when they agree."""
    return ck.check(got == expected, what, "expected:\n%r\ngot:\n%r" % (expected, got))


def frame_key(f):
    if f["function"]:
        return (f["function"], f["file"], f["line"], f["inlined"])
    return (f["module"], f["offset"])


def main():
    args = pstest.parse_args()
    ck = pstest.Checker("test_topn")
    gxx = shutil.which("g++")
    if not gxx:
        print("SKIP: no g++")
        raise SystemExit(77)
    work = pstest.tmpdir("topn")
    with open(os.path.join(work, "t.cpp"), "w") as f:
        f.write(SOURCE)
    p = pstest.run([gxx, "-O2", "-c", "t.cpp", "-o", "t.o"], cwd=work,
                   env={"LD_PRELOAD": args.lib, "PERFSHIM_OUTPUT": os.path.join(work, "%e.trace")})
    ck.equal(p.returncode, 0, "g++ compiles under the shim")
    trace = os.path.join(work, "cc1plus.trace")
    if not ck.check(os.path.exists(trace), "cc1plus wrote a trace", pstest.describe(p)):
        ck.done()

    def cli(*a):
        r = pstest.run([args.perfshim, *a, trace], cwd=work)
        ck.check(r.returncode in (0, 1), "perfshim %s exits 0 or 1" % " ".join(a), pstest.describe(r))
        return r.stdout.decode("utf-8")

    full_text = cli("leaks", "--top", "0")
    full = json.loads(cli("leaks", "--json", "--top", "0"))
    leaks = full["leaks"]
    ck.check(len(leaks) >= 500, "cc1plus has many leak groups (%d)" % len(leaks))
    # with leak classes (LEAK_KINDS) a stack has one entry per class, the classes in the order
    # definitely, indirectly, possibly, reachable, unscanned, each ordered by bytes
    kinds = ["definitely", "indirectly", "possibly", "reachable", "unscanned", None]
    keys = [tuple(frame_key(f) for f in l["stack"]) + (l.get("note"), l.get("kind"))
            for l in leaks]
    ck.equal(len(set(keys)), len(keys), "no two leaks have the same frames and class "
             "(grouping merged them)")
    order = [(kinds.index(l.get("kind")), -l["bytes"], -l["blocks"]) for l in leaks]
    ck.check(order == sorted(order), "leaks are ordered by class, then bytes, then blocks")
    ties = len(order) - len(set(order))
    ck.check(ties >= 50, "many leaks tie on bytes and blocks (%d): the stack decides" % ties)
    ck.equal(len(leak_entries(full_text)), len(leaks), "text and JSON list the same leaks")

    for n in (1, 5, 37):
        t = cli("leaks", "--top", str(n))
        same(ck, leak_entries(t), leak_entries(full_text)[:n], "leaks --top %d: the first %d" % (n, n))
        ck.equal(summary_line(t), summary_line(full_text), "leaks --top %d: same SUMMARY" % n)
        j = json.loads(cli("leaks", "--json", "--top", str(n)))
        same(ck, j["leaks"], leaks[:n], "leaks --json --top %d: the first %d" % (n, n))
        for k in ("totals", "suppressed"):
            same(ck, j[k], full[k], "leaks --json --top %d: same %s" % (n, k))

    # --top N picks the N printed leaks without sorting the others (leaks.c, pick_entries):
    # with suppressions (suppressed entries are skipped, and all listed in the JSON), ages
    # (each printed site's summary is made again) and --older-than (the live figures cut)
    # the first N must still be those of the full sort
    # a function in about a quarter of the leaks' stacks: suppressed and listed leaks both
    uses = collections.Counter(fn for l in leaks for fn in {f["function"] for f in l["stack"]
                                                             if f["function"]})
    fn = min((f for f in uses if re.match(r"^[A-Za-z0-9_:]+$", f)),
             key=lambda f: (abs(uses[f] - len(leaks) // 4), f), default="no_such_function")
    supp = os.path.join(work, "supp.txt")
    with open(supp, "w") as f:
        f.write("%s\n" % fn)
    for opts in (["--suppressions", supp], ["--ages"], ["--older-than", "1us"]):
        what = " ".join(opts)
        ot = cli("leaks", "--top", "0", *opts)
        oj = json.loads(cli("leaks", "--json", "--top", "0", *opts))
        if opts[0] == "--suppressions":
            ck.check(len(oj["suppressed"]) >= 1 and len(oj["leaks"]) >= 37,
                     "%s: some leaks suppressed (%d), many left" % (what, len(oj["suppressed"])))
        for n in (37,):
            t = cli("leaks", "--top", str(n), *opts)
            same(ck, leak_entries(t), leak_entries(ot)[:n], "leaks --top %d %s" % (n, what))
            ck.equal(summary_line(t), summary_line(ot), "leaks --top %d %s: same SUMMARY" % (n, what))
            j = json.loads(cli("leaks", "--json", "--top", str(n), *opts))
            same(ck, j["leaks"], oj["leaks"][:n], "leaks --json --top %d %s" % (n, what))
            for k in ("totals", "suppressed", "suppressions_used", "ages"):
                same(ck, j.get(k), oj.get(k), "leaks --json --top %d %s: same %s" % (n, what, k))

    sfull_text = cli("summary", "--top", "0")
    sfull = json.loads(cli("summary", "--json", "--top", "0"))
    ck.equal(len(sfull["top_sites"]), sfull["sites"], "summary --top 0 lists every site")
    ck.equal(len(site_entries(sfull_text)), sfull["sites"], "summary text lists every site")
    for n in (1, 10, 37):
        t = cli("summary", "--top", str(n))
        same(ck, site_entries(t), site_entries(sfull_text)[:n], "summary --top %d: the first %d" % (n, n))
        j = json.loads(cli("summary", "--json", "--top", str(n)))
        same(ck, j["top_sites"], sfull["top_sites"][:n], "summary --json --top %d" % n)
        ck.equal(j["sites"], sfull["sites"], "summary --json --top %d: same site count" % n)
    ck.done()


if __name__ == "__main__":
    main()
