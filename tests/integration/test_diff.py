#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_diff.py — `perfshim diff` and `perfshim check` (issue 13, the regression gate).

- Matching across a rebuild: diffprog.c built twice (diffprog_b has a function inserted before
  all others, so every function moved, and grown_site() changed). Every site of one run must
  match a site of the other (none only in base or only in new), the program's frames must be
  at other offsets in the two builds (so the match cannot be by address), and the only sites
  with a change are grown_site's two, with the exact counts the program makes.
- BASE and NEW as directories, and BASE... -- NEW....
- Each budget kind (leaked, leaked_bytes, peak, allocs, alloc_bytes, lock_wait, cpu) breaking
  (exit 1) and holding (exit 0), with a message naming the site; scopes; `check`'s absolute
  budgets; budget files and their parse errors (exit 2, FILE:LINE in the message); JUnit XML
  read with xml.etree; exit 2 for unreadable input and usage errors.
- The golden diff of committed traces (tests/data/diff.expected.txt and .json; --update
  rewrites them).
Standard library only."""
import json
import os
import re
import shutil
import xml.etree.ElementTree as ET

import pstest
import test_golden

GOLDEN_ARGS = ["--fail-on", "leaked=+0,allocs=+5% sites,lock_wait=+100ms", "diffprog_a.trace", "threads.trace", "--", "diffprog_b.trace", "contention.trace"]


def source_line(path, text):
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if text in line:
                return n
    raise ValueError("%s: no line with %r" % (path, text))


def main():
    def extra(ap):
        ap.add_argument("--data", required=True, help="tests/data")
        ap.add_argument("--update", action="store_true", help="rewrite the golden diff files")

    args = pstest.parse_args(extra)
    ck = pstest.Checker("test_diff")
    data = os.path.abspath(args.data)
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "diffprog.c")
    loop_line = source_line(src, "char *p = malloc(32);")
    leak_line = source_line(src, "LEAK: grown_site")

    def perfshim(*a, cwd=None):
        return pstest.run([args.perfshim] + list(a), cwd=cwd)

    def golden():
        text = perfshim("diff", *GOLDEN_ARGS, cwd=data)
        js = perfshim("diff", "--json", *GOLDEN_ARGS, cwd=data)
        ok = ck.equal(text.returncode, 1, "golden diff (text) exit status (budgets broke)")
        ok &= ck.equal(js.returncode, 1, "golden diff (JSON) exit status (budgets broke)")
        if not ok:
            print(pstest.describe(text))
            return
        expected = test_golden.check_report(ck, data, "diff", "diff", text, js, args.update)
        if expected is None:
            return
        ck.equal(expected.get("format"), "perfshim-diff", "golden: format")
        ck.check(expected["totals"]["lock_wait"]["new"] > 0 and
                 expected["totals"]["leaked"]["base"] > 0,
                 "golden: the expected diff has lock waits and leaks")

    golden()
    if args.update:
        ck.done()

    work = pstest.tmpdir("diff")
    traces = {}
    for name, prog, env in (("a", "diffprog_a", {}), ("b", "diffprog_b", {}),
                            ("c", "diffprog_b", {"DIFFPROG_SPIN": "300",
                                                 "PERFSHIM_CPU_HZ": "1000"})):
        path = os.path.join(work, name + ".trace")
        e = {"LD_PRELOAD": args.lib, "PERFSHIM_OUTPUT": path}
        e.update(env)
        p = pstest.run([os.path.join(args.bindir, prog)], env=e, cwd=work)
        if not ck.check(p.returncode == 0 and os.path.exists(path), "%s ran and wrote %s"
                        % (prog, os.path.basename(path)), pstest.describe(p)):
            ck.done()
        traces[name] = path
    a, b, c = traces["a"], traces["b"], traces["c"]

    # ---- matching across the rebuild --------------------------------------------------------
    p = perfshim("diff", "--json", a, b)
    ck.equal(p.returncode, 0, "diff --json a b (no budget) exits 0")
    doc = json.loads(p.stdout.decode("utf-8"))
    ck.equal((doc["format"], doc["version"]), ("perfshim-diff", 1), "JSON header")
    sc = doc["site_counts"]
    ck.check(sc["base_only"] == 0 and sc["new_only"] == 0 and sc["both"] >= 3,
             "every site of the rebuilt program matches one of the first build", repr(sc))
    changed = doc["sites"]
    inner = sorted((s["stack"][0].get("function"), s["stack"][0].get("line")) for s in changed)
    ck.equal(inner, sorted([("grown_site", loop_line), ("grown_site", leak_line)]),
             "the sites with a change are grown_site's two")
    for s in changed:
        ck.equal(s["status"], "both", "changed site %s:%s is in both runs"
                 % (s["stack"][0].get("function"), s["stack"][0].get("line")))
        m = s["metrics"]
        if s["stack"][0].get("line") == loop_line:
            ck.equal(m["allocs"], {"base": 1000, "new": 1500, "delta": 500, "percent": 50},
                     "loop site: allocations")
            ck.equal(m["alloc_bytes"]["delta"], 500 * 32, "loop site: bytes allocated")
            ck.check("leaked" not in m, "loop site: no leaks")
        else:
            ck.equal((m["leaked"]["base"], m["leaked"]["new"]), (1, 2), "leak site: blocks")
            ck.equal((m["leaked_bytes"]["base"], m["leaked_bytes"]["new"]), (48, 96),
                     "leak site: bytes")
            ck.equal((m["peak"]["base"], m["peak"]["new"]), (48, 96), "leak site: peak")
    tot = doc["totals"]
    ck.equal(tot["allocs"]["delta"], 501, "total allocations change by 500 + 1")
    ck.equal(tot["leaked"]["delta"], 1, "total leaked blocks change by 1")

    # ---- JSON sites in the order of their keys' text -------------------------------------
    # The oracle: each site's key rebuilt from its frames as report.c serializes a stack view
    # (function, file, line, inlined per frame; module+offset when unresolved; a marker after
    # the frames for a stack cut short or missing), compared as bytes (strcmp). diff ranks the
    # pieces of the keys instead of comparing their text: a wrong rank reorders the sites.
    markers = (("cut short", b"\x01cut"), ("no stack", b"\x01no-stack"),
               ("stack not in", b"\x01missing"), ("empty stack", b"\x01empty"))

    def site_key(site):
        key = b""
        for f in site.get("stack", []):
            if f.get("function") is not None:
                key += ("%s\x1f%s\x1f%d\x1f%d\x1e" % (f["function"], f.get("file") or "",
                                                    f.get("line") or 0,
                                                    1 if f.get("inlined") else 0)).encode()
            else:
                key += ("\x1f%s+%s\x1e" % (f["module"], f["offset"][2:])).encode()
        for start, marker in markers:
            if (site.get("note") or "").startswith(start):
                key += marker
        return key

    for what, argv, cwd in (("golden traces", GOLDEN_ARGS, data),
                            ("a -- b and c with CPU samples", [a, "--", b, c], None)):
        p = perfshim("diff", "--json", "--top", "0", *argv, cwd=cwd)
        sites = json.loads(p.stdout.decode("utf-8"))["sites"] if p.stdout else []
        keys = [site_key(s) for s in sites]
        ck.check(len(keys) >= 3 and all(x < y for x, y in zip(keys, keys[1:])),
                 "diff --json (%s): %d sites, in strictly increasing key order"
                 % (what, len(keys)), "\n".join(repr(k[:120]) for k in keys[:40]))

    def frame_offsets(trace):
        r = perfshim("leaks", "--json", trace)
        out = {}
        for leak in json.loads(r.stdout.decode("utf-8")).get("leaks", []):
            for f in leak.get("stack", []):
                if f.get("function") in ("same_leak", "main"):
                    out[f["function"]] = f.get("offset")
        return out

    oa, ob = frame_offsets(a), frame_offsets(b)
    ck.check(oa.get("same_leak") is not None and oa.get("main") is not None and
             oa.get("same_leak") != ob.get("same_leak") and oa.get("main") != ob.get("main"),
             "the rebuilt program's frames are at other offsets (matched by symbol, not "
             "address)", "%r / %r" % (oa, ob))

    p = perfshim("diff", a, b)
    text = p.stdout.decode("utf-8")
    ck.check("0 only in base, 0 only in new" in text and
             "grown_site (diffprog.c:%d)" % loop_line in text and "+50.0%" in text,
             "text: the counts of sites and the changed site with its percentage", text[:3000])
    ck.check(text.index("Allocations:") < text.index("+500") and
             text.index("+500") < text.index("grown_site (diffprog.c:%d)" % leak_line,
                                              text.index("Allocations:")),
             "text: the largest change of a metric first", text[:3000])

    # ---- several traces: directories and -- ------------------------------------------------
    for d, t in (("base", a), ("new", b)):
        os.mkdir(os.path.join(work, d))
        shutil.copy(t, os.path.join(work, d, "run.trace"))
    p = perfshim("diff", "--json", os.path.join(work, "base"), os.path.join(work, "new"))
    ck.check(p.returncode == 0 and json.loads(p.stdout.decode("utf-8"))["totals"] == tot,
             "diff of two directories gives the totals of the files'", pstest.describe(p))
    # a directory with a trace written in pieces (PERFSHIM_MAX_TRACE): run.trace holds the
    # process's first moments, run.trace.part2 its state at exit, which the diff takes
    pieces = os.path.join(work, "pieces")
    os.mkdir(pieces)
    shutil.copy(a, os.path.join(pieces, "run.trace"))
    shutil.copy(b, os.path.join(pieces, "run.trace.part2"))
    p = perfshim("diff", "--json", os.path.join(work, "base"), pieces)
    dp = json.loads(p.stdout.decode("utf-8")) if p.returncode == 0 else {}
    ck.check(dp.get("totals") == tot and
             [t["trace"] for t in dp["new"]["traces"]] == [os.path.join(pieces, "run.trace.part2")],
             "a directory's trace written in pieces: its latest piece is diffed",
             pstest.describe(p))
    p = perfshim("diff", "--json", a, a, "--", b)
    d2 = json.loads(p.stdout.decode("utf-8")) if p.returncode == 0 else {}
    ck.check(d2 and d2["totals"]["allocs"]["base"] == 2 * tot["allocs"]["base"] and
             len(d2["base"]["traces"]) == 2, "BASE... -- NEW...: the base's traces summed",
             pstest.describe(p))

    # ---- budgets: each kind breaking and holding ------------------------------------------
    cases = [
        # (rules, base, new, cwd, expected status, text expected in the output)
        ("leaked=+0", a, b, None, 1, "leaked=+0 broken at grown_site (diffprog.c:%d): 1 -> 2"
         % leak_line),
        ("leaked=+1", a, b, None, 0, None),
        ("leaked_bytes=+0", a, b, None, 1, "grown_site (diffprog.c:%d)" % leak_line),
        ("leaked_bytes=+48", a, b, None, 0, None),
        ("peak=+50% sites", a, b, None, 1, "peak=+50% sites broken at grown_site"),
        ("peak=+100% sites", a, b, None, 0, None),
        ("peak=+1%", a, b, None, 1, "peak=+1% broken at total"),
        ("peak=+2%", a, b, None, 0, None),
        ("allocs=+5% sites", a, b, None, 1, "allocs=+5%% sites broken at grown_site "
         "(diffprog.c:%d): 1000 -> 1500 (+500, +50.0%%)" % loop_line),
        ("allocs=+100% sites", a, b, None, 0, None),
        ("allocs=+5%", a, b, None, 1, "allocs=+5% broken at total: 1"),
        ("allocs=+30%", a, b, None, 0, None),
        ("alloc_bytes=+10%", a, b, None, 1, "alloc_bytes=+10% broken at total"),
        ("alloc_bytes=+100% sites", a, b, None, 0, None),
        ("lock_wait=+20%", "threads.trace", "contention.trace", data, 1,
         "lock_wait=+20% broken at total: 0 ns -> "),
        ("lock_wait=+100ms", "threads.trace", "contention.trace", data, 1,
         "lock_wait=+100ms broken at forced_site (contention.c:"),
        ("lock_wait=+0", "contention.trace", "contention.trace", data, 0, None),
        ("cpu=+0", b, c, None, 1, "cpu=+0 broken at total: 0 ->"),
        ("cpu=+1000000", b, c, None, 0, None),
        # scopes
        ("allocs=+5% total", a, b, None, 1, "allocs=+5% total broken at total"),
        ("allocs=+30% total", a, b, None, 0, None),
        ("allocs=+5% site:grown_site", a, b, None, 1, "broken at grown_site"),
        ("allocs=+5% site:same_*", a, b, None, 0, None),
        # an absolute maximum in a diff applies to NEW
        ("leaked=2", a, b, None, 1, "leaked=2 broken at total: 3, over the budget by 1"),
        ("leaked=3", a, b, None, 0, None),
    ]
    for rules, base, new, cwd, status, needle in cases:
        p = perfshim("diff", "--fail-on", rules, base, new, cwd=cwd)
        out = p.stdout.decode("utf-8")
        ok = ck.equal(p.returncode, status, "diff --fail-on %s exit status" % rules)
        if needle:
            ok &= ck.check(needle in out, "diff --fail-on %s says where and by how much"
                           % rules, out[out.find("Budgets:"):][:1500])
        if not ok:
            print(pstest.describe(p))
    # JSON: the failures in the document and on stderr
    p = perfshim("diff", "--json", "--fail-on", "leaked=+0,allocs=+100%", a, b)
    d3 = json.loads(p.stdout.decode("utf-8"))
    st = [(r["rule"], r["status"]) for r in d3.get("budgets", [])]
    ck.equal(st, [("leaked=+0", "broken"), ("allocs=+100%", "ok")], "JSON budgets")
    ck.check(p.returncode == 1 and b"leaked=+0 broken at" in p.stderr,
             "diff --json: exit 1, the broken budget on stderr", pstest.describe(p))

    # ---- check ------------------------------------------------------------------------------
    for rules, trace, cwd, status in (("leaked=0", b, None, 1), ("leaked=3", b, None, 0),
                                      ("peak=200M", b, None, 0), ("peak=1K", b, None, 1),
                                      ("lock_wait=1s", "contention.trace", data, 0),
                                      ("lock_wait=100ms", "contention.trace", data, 1),
                                      ("cpu=0", c, None, 1), ("cpu=1000000", c, None, 0)):
        p = perfshim("check", "--fail-on", rules, trace, cwd=cwd)
        ck.equal(p.returncode, status, "check --fail-on %s %s exit status"
                 % (rules, os.path.basename(trace)))
    p = perfshim("check", "--json", "--fail-on", "leaked=0,allocs=+5%", b)
    d4 = json.loads(p.stdout.decode("utf-8"))
    ck.check(d4["format"] == "perfshim-check" and
             [r["status"] for r in d4["budgets"]] == ["broken", "skipped"],
             "check --json: a relative rule is skipped", json.dumps(d4.get("budgets")))

    # ---- budget files -------------------------------------------------------------------------
    bf = os.path.join(work, "budget.txt")
    with open(bf, "w") as f:
        f.write("# the gate of diffprog\n\nleaked=+1          # one more leak is tolerated\n"
                "allocs=+5%   site:grown_site\n  peak=1M total\n")
    p = perfshim("diff", "--budget", bf, a, b)
    out = p.stdout.decode("utf-8")
    ck.check(p.returncode == 1 and "BROKEN  allocs=+5% site:grown_site" in out and
             "ok      leaked=+1" in out and "ok      peak=1M total" in out,
             "budget file: rules, comments, scopes", out[out.find("Budgets:"):])
    errors = [
        ("alocs=+5%\n", "budget.txt:1", "unknown metric 'alocs'"),
        ("# ok\nleaked=+0\npeak=+ten%\n", "budget.txt:3", "invalid limit '+ten%'"),
        ("allocs=+5% everywhere\n", "budget.txt:1", "unknown scope 'everywhere'"),
        ("leaked +0\n", "budget.txt:1", "expected METRIC=LIMIT"),
        ("lock_wait=+3 parsecs\n", "budget.txt:1", "unknown scope 'parsecs'"),
        ("peak=-5%\n", "budget.txt:1", "invalid limit '-5%'"),
    ]
    for content, where, what in errors:
        with open(bf, "w") as f:
            f.write(content)
        p = perfshim("diff", "--budget", bf, a, b)
        err = p.stderr.decode("utf-8")
        ck.check(p.returncode == 2 and where in err and what in err,
                 "budget file %r: exit 2, '%s: ... %s'" % (content, where, what), err)
    p = perfshim("diff", "--budget", os.path.join(work, "missing.txt"), a, b)
    ck.check(p.returncode == 2 and b"missing.txt: cannot read the budget file" in p.stderr,
             "a missing budget file: exit 2", pstest.describe(p))
    p = perfshim("diff", "--fail-on", "allocs", a, b)
    ck.check(p.returncode == 2 and b"--fail-on: budget rule 'allocs'" in p.stderr,
             "a bad --fail-on: exit 2", pstest.describe(p))

    # ---- JUnit ---------------------------------------------------------------------------------
    xml = os.path.join(work, "junit.xml")
    p = perfshim("diff", "--junit", xml, "--fail-on", "leaked=+0,allocs=+100%,cpu=+0", a, b)
    ck.equal(p.returncode, 1, "diff --junit: exit 1 (a budget broke)")
    suite = ET.parse(xml).getroot().find("testsuite")
    cases_x = suite.findall("testcase")
    ck.equal([t.get("name") for t in cases_x], ["leaked=+0", "allocs=+100%", "cpu=+0"],
             "JUnit: one testcase per budget")
    ck.equal((suite.get("tests"), suite.get("failures")), ("3", "1"), "JUnit: counts")
    fail = cases_x[0].find("failure")
    ck.check(fail is not None and "leaked=+0 broken at total" in fail.get("message") and
             "grown_site (diffprog.c:%d)" % leak_line in fail.text
             and cases_x[1].find("failure") is None, "JUnit: the failure carries its message",
             ET.tostring(suite).decode()[:2000])
    p = perfshim("check", "--junit", xml, "--fail-on", "leaked=3,allocs=+5%", b)
    suite = ET.parse(xml).getroot().find("testsuite")
    ck.check(p.returncode == 0 and suite.get("skipped") == "1" and
             suite.findall("testcase")[1].find("skipped") is not None,
             "check --junit: a relative rule is a skipped testcase", pstest.describe(p))

    # ---- a sampled side: "~" against the estimated figure, not in a column of its own ------
    sampled = os.path.join(work, "s.trace")
    p = pstest.run([os.path.join(args.bindir, "diffprog_a")], cwd=work,
                   env={"LD_PRELOAD": args.lib, "PERFSHIM_OUTPUT": sampled,
                        "PERFSHIM_SAMPLE": "4k", "PERFSHIM_SAMPLE_SEED": "1"})
    for argv, est in (([a, sampled], "new"), ([sampled, a], "base")):
        p = perfshim("diff", *argv)
        row = next((l for l in p.stdout.decode().splitlines()
                    if l.startswith("  bytes allocated")), "")
        f = row.split()[2:]  # base value unit, new value unit, ...
        base, new = (f[0], f[2]) if len(f) > 4 else ("", "")
        ck.check(p.returncode == 0 and "~" not in f[:4] and
                 (new if est == "new" else base).startswith("~") and
                 not (base if est == "new" else new).startswith("~"),
                 "diff with a sampled %s side: the estimate is written ~FIGURE" % est, row)
        # heap sampling estimates heap figures only: lock wait and CPU samples are counted
        rows = [l for l in p.stdout.decode().splitlines()
                if l.startswith(("  lock wait", "  CPU samples"))]
        ck.check(len(rows) == 2 and not any("~" in l for l in rows),
                 "diff with a sampled %s side: lock wait and CPU samples carry no ~" % est,
                 repr(rows))
    p = perfshim("check", "--fail-on", "leaked=1000000", sampled)
    row = next((l for l in p.stdout.decode().splitlines() if l.startswith("  bytes allocated")), "")
    ck.check(row.split()[2:3] and row.split()[2].startswith("~") and row.split()[2] != "~",
             "check on a sampled trace: ~FIGURE", row)

    # ---- exit 2: unreadable input, usage errors ------------------------------------------------
    junk = os.path.join(work, "junk.trace")
    with open(junk, "w") as f:
        f.write("not a trace\n")
    empty = os.path.join(work, "empty")
    os.mkdir(empty)
    for argv, what in (([a, os.path.join(work, "nope.trace")], "a missing trace"),
                       ([junk, b], "a file that is not a trace"),
                       ([empty, b], "a directory without traces"),
                       ([a], "one operand"),
                       ([a, b, c], "three operands without --"),
                       ([a, "--"], "nothing after --"),
                       (["--top", "x", a, b], "a bad --top"),
                       (["--frobnicate", a, b], "an unknown option")):
        p = perfshim("diff", "--fail-on", "leaked=+100", *argv)
        ck.check(p.returncode == 2 and p.stderr, "diff with %s: exit 2 with a message" % what,
                 pstest.describe(p))
    p = perfshim("check", b)
    ck.check(p.returncode == 2 and b"no budget given" in p.stderr, "check without budgets: exit 2")

    # ---- leaked, as `leaks` counts it: suppressions and inherited blocks --------------------
    # diff sums the heap rows per site itself (no grouping): its leaked figures must be those
    # of `leaks` on the same trace (the oracle), with a suppression file, and in forked workers
    # whose inherited blocks (live at the fork) are not leaks of theirs.
    pf = os.path.join(work, "prefork")
    os.mkdir(pf)
    p = pstest.run([args.perfshim, "run", "-o", os.path.join(pf, "pf.%p.trace"), "--",
                    os.path.join(args.bindir, "prefork"), "2", "5", "1000"], cwd=pf)
    ck.check(p.returncode == 0, "prefork under perfshim run", pstest.describe(p))
    supp = os.path.join(work, "pf.supp")
    with open(supp, "w") as f:
        f.write("handle_request\n")
    inherited = 0
    for t in sorted(os.path.join(pf, f) for f in os.listdir(pf) if f.endswith(".trace")):
        for extra_args in ([], ["--suppressions", supp]):
            lk = perfshim("leaks", "--json", *extra_args, t)
            chk = perfshim("check", "--json", "--fail-on", "leaked=1000000", *extra_args, t)
            if not ck.check(lk.returncode == 0 and chk.returncode == 0, "leaks and check on %s"
                            % os.path.basename(t), pstest.describe(chk)):
                continue
            lj, cj = json.loads(lk.stdout), json.loads(chk.stdout)
            inherited += (lj.get("inherited_from") or {}).get("blocks", 0)
            ck.equal((cj["totals"]["leaked"], cj["totals"]["leaked_bytes"]),
                     (lj["totals"]["leaked_blocks"], lj["totals"]["leaked_bytes"]),
                     "check's leaked blocks and bytes are leaks's on %s %s"
                     % (os.path.basename(t), " ".join(extra_args)))
    ck.check(inherited > 0, "the workers' traces have inherited blocks (what is tested above)")

    # ---- memory: sites stored once per frame, not as copies of keys and frames --------------
    # A trace of 20,000 distinct stacks diffed with itself: diff's peak RSS against `leaks`'s
    # on the same trace (load, grouping and symbolizing are the same). Copying each site's key
    # text and frames took 6.2x (237 MB against 38 MB); export's sites take 1.15x.
    many = pstest.manystacks_trace(args, ck, work)
    if many:
        leaks_kib, _ = pstest.analyzer_peak_kib(args, "leaks", "--top", "1", many)
        diff_kib, p = pstest.analyzer_peak_kib(args, "diff", many, many)
        ck.check(leaks_kib and diff_kib and p.returncode == 0 and diff_kib <= 1.5 * leaks_kib,
                 "diff of 20,000 sites with itself peaks at most 1.5x leaks (%s KiB against %s "
                 "KiB)" % (diff_kib, leaks_kib), pstest.describe(p))

    # ---- the text's few largest changes: the first of the full order -----------------------
    # With --top N under a quarter of the sites, diff ranks no key: sites whose changes tie
    # compare their keys when they meet. The oracle is --top 0, which ranks every key first:
    # each metric's N sites must be its first N. The 20,000 sites of `many` against a's tie by
    # the thousand (each "gone" with the same blocks and bytes).
    def site_blocks(text):
        out, cur = {}, None
        for block in text.split("\n\n"):
            m = re.match(r"([A-Z][A-Za-z ]+): \d+ sites? changed", block)
            if m:
                cur = m.group(1)
                out[cur] = []
            elif cur is not None and block.startswith("  "):
                out[cur].append(block.rstrip("\n"))
        return out

    if many:
        for n, pair in ((3, (many, a)), (5, (a, many))):
            few = perfshim("diff", "--top", str(n), *pair)
            full = perfshim("diff", "--top", "0", *pair)
            fb, ub = site_blocks(few.stdout.decode()), site_blocks(full.stdout.decode())
            ck.check(few.returncode == 0 and len(fb) >= 3 and
                     all(len(v) == n and v == ub.get(k, [])[:n] for k, v in fb.items()),
                     "diff --top %d %s: each metric's sites are the first %d of --top 0's"
                     % (n, " ".join(os.path.basename(x) for x in pair), n),
                     "\n".join("%s: %d shown" % (k, len(v)) for k, v in fb.items()))
    ck.done()


if __name__ == "__main__":
    main()
