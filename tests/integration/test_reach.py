#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_reach.py — leak classes at exit (PERFSHIM_LEAK_SCAN, shim/reach.c; issue 12 item 3).

tests/integration/reachprog.c allocates, from one function per structure, blocks of every one
of valgrind's classes: a lost list, a lost tree, a lost cycle, plain lost blocks, a global's
chain (still reachable), a block a global points into and the block only it points to
(possibly lost), a block only a still-running thread's stack holds (still reachable).

--pool 1|0: under the shim (the pool on, or everything from glibc's malloc), `perfshim leaks
  --json` gives, per allocating function and kind, exactly the blocks the program's header
  lists; the same without the thread; the text report names the classes; --fail-on-leak fails
  on definitely and indirectly lost blocks, not on possibly lost ones unless =possible or =all,
  nor on still reachable ones unless =all (leaks and run); PERFSHIM_LEAK_SCAN=0 and sampling
  leave the classes out (no "kind", "leak_scan": null) and --fail-on-leak counts every block
  as before.
--aged: `leaks --older-than 0.5s` and the classes agree (reachprog --aged): a stack whose
  blocks are all old keeps its classes (aged_old_both: 2 definitely lost, 2 still reachable), a
  stack of one class keeps it (aged_old_lost), a stack with old reachable and young lost blocks
  (aged_mixed) gets one entry of kind "mixed" with its 4 old blocks and the classes of all its
  live blocks (3 definitely, 4 reachable), young blocks are left out (aged_young_lost); the
  totals, with `mixed`, sum the entries; without --older-than the classes are exact.
--valgrind: valgrind memcheck on the same binary without the shim (--leak-check=full
  --show-leak-kinds=all --leak-check-heuristics=none --xml=yes): its loss records, summed per
  allocating function and kind, equal the shim's for every function of reachprog.c. Exits 77
  (skipped) when valgrind is not installed.
--programs: the same comparison on programs nobody here wrote (gawk, mawk, jq, bc, lua5.4,
  sqlite3, perl, tclsh, git; those not installed are left out, 77 when valgrind or all of them
  are missing): per class, blocks and bytes equal memcheck's. Both runs see the same
  environment: memcheck adds variables to its client's (LD_LIBRARY_PATH, GLIBCXX_FORCE_NEW,
  ...; found by running `env` under it) and programs like gawk copy every variable (ENVIRON),
  two blocks each, so the shim's run gets memcheck's additions and a padding variable that
  makes the two LD_PRELOAD values' lengths even out; memcheck runs without `__libc_freeres`
  (`--run-libc-freeres=no`), which would free libc's one-time blocks the shim reports."""
import collections
import glob
import json
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pstest

# (allocating function, kind) -> blocks, as reachprog.c's header says (the thread's included)
EXPECTED = {
    ("leak_plain", "definitely"): 3,
    ("lost_list_head", "definitely"): 1,
    ("lost_list_node", "indirectly"): 4,
    ("tree_root", "definitely"): 1,
    ("tree_node", "indirectly"): 6,
    ("cycle_node", "definitely"): 1,
    ("cycle_node", "indirectly"): 1,
    ("keep_global", "reachable"): 1,
    ("keep_chain", "reachable"): 2,
    ("middle_block", "possibly"): 1,
    ("middle_child", "possibly"): 1,
    ("thread_keep", "reachable"): 1,
}
FUNCTIONS = {f for f, _ in EXPECTED} | {"freed_block"}
VG_KINDS = {"Leak_DefinitelyLost": "definitely", "Leak_IndirectlyLost": "indirectly",
            "Leak_PossiblyLost": "possibly", "Leak_StillReachable": "reachable"}


def extra(ap):
    ap.add_argument("--pool", default="1")
    ap.add_argument("--valgrind", action="store_true")
    ap.add_argument("--aged", action="store_true")
    ap.add_argument("--programs", action="store_true")


def shim_verdicts(rep):
    """(function, kind) -> blocks for reachprog.c's functions (suppressed entries included)."""
    return pstest.leak_verdicts(rep, FUNCTIONS)


def run_shim(args, ck, mode_args, env, label):
    work = pstest.tmpdir("reach")
    prog = os.path.join(args.bindir, "reachprog")
    e = {"PERFSHIM_POOL": args.pool}
    e.update(env)
    p, traces, reps = pstest.preload_and_analyze(args, ck, [prog, *mode_args], work, env=e)
    ok = ck.check(p.returncode == 0 and b"reachprog: done" in p.stdout and len(reps) == 1,
                  "%s: reachprog exits 0 and writes one trace" % label, pstest.describe(p))
    return (reps[0], traces[0]) if ok else (None, None)


def fail_status(args, trace, *opts):
    return pstest.run([args.perfshim, "leaks", *opts, trace]).returncode


def shim_case(args, ck):
    label = "pool=%s" % args.pool
    rep, trace = run_shim(args, ck, [], {}, label)
    if rep is None:
        return
    got = shim_verdicts(rep)
    ck.check(got == EXPECTED, "%s: blocks per allocating function and kind as reachprog.c says"
             % label, "expected %r\ngot      %r" % (EXPECTED, got))
    scan = rep.get("leak_scan")
    ck.check(scan is not None and scan["threads"] >= 1 and scan["threads_ran"],
             "%s: leak_scan present, the waiting thread's stack scanned" % label, repr(scan))
    kinds = rep["totals"]["kinds"]
    ck.check(kinds is not None and kinds["unscanned"]["blocks"] == 0,
             "%s: every live block was classified" % label, repr(kinds))
    ck.check(all("kind" in e for e in rep["leaks"]), "%s: every entry has a kind" % label)
    if kinds:
        for k in ("definitely", "indirectly", "possibly", "reachable"):
            n = sum(e["blocks"] for e in rep["leaks"] if e["kind"] == k)
            ck.equal(n, kinds[k]["blocks"], "%s: totals.kinds.%s.blocks sums its entries"
                     % (label, k))
    text = pstest.run([args.perfshim, "leaks", trace])
    t = text.stdout.decode() + text.stderr.decode()
    for words in ("definitely lost", "indirectly lost", "possibly lost", "still reachable"):
        ck.check(", " + words in t and "  %s: " % words in t,
                 "%s: the text report names '%s' per entry and in the summary" % (label, words), t)
    ck.equal(fail_status(args, trace, "--fail-on-leak"), 1, "%s: --fail-on-leak fails" % label)

    rep, _ = run_shim(args, ck, ["--no-thread"], {}, label + " no thread")
    if rep:
        want = {k: v for k, v in EXPECTED.items() if k[0] != "thread_keep"}
        got = shim_verdicts(rep)
        ck.check(got == want, "%s, no thread: verdicts as expected" % label,
                 "expected %r\ngot      %r" % (want, got))
        ck.check(rep["leak_scan"] and not rep["leak_scan"]["threads_ran"],
                 "%s, no thread: no other thread ran" % label, repr(rep["leak_scan"]))

    rep, trace = run_shim(args, ck, ["--reachable-only"], {}, label + " reachable only")
    if rep:
        ck.equal(shim_verdicts(rep), {("keep_global", "reachable"): 1,
                                      ("keep_chain", "reachable"): 2},
                 "%s, reachable only: verdicts" % label)
        ck.equal(fail_status(args, trace, "--fail-on-leak"), 0,
                 "%s, reachable only: --fail-on-leak passes (nothing lost)" % label)
        ck.equal(fail_status(args, trace, "--fail-on-leak=all"), 1,
                 "%s, reachable only: --fail-on-leak=all fails" % label)
        ck.equal(fail_status(args, trace, "--fail-on-leak=possible"), 0,
                 "%s, reachable only: --fail-on-leak=possible passes" % label)

    rep, trace = run_shim(args, ck, ["--possibly-only"], {}, label + " possibly only")
    if rep:
        ck.equal(shim_verdicts(rep), {("keep_global", "reachable"): 1,
                                      ("keep_chain", "reachable"): 2,
                                      ("middle_block", "possibly"): 1,
                                      ("middle_child", "possibly"): 1},
                 "%s, possibly only: verdicts" % label)
        ck.equal(fail_status(args, trace, "--fail-on-leak"), 0,
                 "%s, possibly only: --fail-on-leak passes (nothing definitely or indirectly "
                 "lost)" % label)
        ck.equal(fail_status(args, trace, "--fail-on-leak=possible"), 1,
                 "%s, possibly only: --fail-on-leak=possible fails" % label)
        ck.equal(fail_status(args, trace, "--fail-on-leak=all"), 1,
                 "%s, possibly only: --fail-on-leak=all fails" % label)
        for opt, want in (("--fail-on-leak", 0), ("--fail-on-leak=possible", 1)):
            ck.equal(fail_status(args, trace, "--merge", opt), want,
                     "%s, possibly only: leaks --merge %s counts the classes too" % (label, opt))
        prog = os.path.join(args.bindir, "reachprog")
        for opt, want in (("--fail-on-leak", 0), ("--fail-on-leak=possible", 1),
                          ("--fail-on-leak=all", 1)):
            p = pstest.run([args.perfshim, "run", opt, "--", prog, "--possibly-only"],
                           cwd=pstest.tmpdir("reach-run"),
                           env={"PERFSHIM_POOL": args.pool})
            ck.equal(p.returncode, want, "%s: perfshim run %s -- reachprog --possibly-only"
                     % (label, opt))
    ck.equal(pstest.run([args.perfshim, "leaks", "--fail-on-leak=some", trace or "x"]).returncode,
             2, "--fail-on-leak=some is a usage error")

    for env, what in (({"PERFSHIM_LEAK_SCAN": "0"}, "PERFSHIM_LEAK_SCAN=0"),
                      ({"PERFSHIM_SAMPLE": "4096", "PERFSHIM_SAMPLE_SEED": "7"}, "sampling")):
        rep, trace = run_shim(args, ck, ["--reachable-only"], env, "%s %s" % (label, what))
        if not rep:
            continue
        ck.check(rep["leak_scan"] is None and rep["totals"]["kinds"] is None and
                 all("kind" not in e for e in rep["leaks"]),
                 "%s %s: no leak classes, today's report" % (label, what))
        if what != "sampling":
            ck.equal(fail_status(args, trace, "--fail-on-leak"), 1,
                     "%s %s: --fail-on-leak counts every live block, as before" % (label, what))


def valgrind_verdicts(xml_path):
    out = collections.Counter()
    for err in ET.parse(xml_path).getroot().iter("error"):
        kind = VG_KINDS.get(err.findtext("kind"))
        if not kind:
            continue
        fns = [f.findtext("fn") for f in err.find("stack").findall("frame")]
        fns = [f for f in fns if f not in ("malloc", "calloc", "realloc")]
        if fns and fns[0] in FUNCTIONS:
            out[(fns[0], kind)] += int(err.findtext("xwhat/leakedblocks"))
    return dict(out)


def valgrind_case(args, ck):
    vg = shutil.which("valgrind")
    if not vg:
        ck.skip("valgrind is not installed")
    work = pstest.tmpdir("reach-vg")
    xml = os.path.join(work, "vg.xml")
    prog = os.path.join(args.bindir, "reachprog")
    p = pstest.run([vg, "--leak-check=full", "--show-leak-kinds=all",
                    "--leak-check-heuristics=none", "--xml=yes", "--xml-file=" + xml, prog],
                   cwd=work, timeout=600)
    if not ck.check(p.returncode == 0 and os.path.exists(xml), "valgrind runs reachprog",
                    pstest.describe(p)):
        return
    want = valgrind_verdicts(xml)
    ck.check(want == EXPECTED, "valgrind's verdicts are reachprog.c's header's",
             "expected %r\nvalgrind %r" % (EXPECTED, want))
    rep, _ = run_shim(args, ck, [], {}, "shim beside valgrind")
    if rep:
        got = shim_verdicts(rep)
        ck.check(got == want, "the shim's blocks per function and kind equal valgrind's",
                 "valgrind %r\nshim     %r" % (want, got))


# (name, argv, stdin): small runs of other people's programs, each deterministic (perl's hash
# seed fixed below); gawk's script reads ENVIRON, opens a pipe and a file, compiles regexps.
GAWK = ('{ a[$3] = $2; n += $1 } /1/ { c++ } END { for (k in a) m++; print n, c, m, '
        'length(ENVIRON["PATH"]); while ((getline l < "in.txt") > 0) z++; '
        'gsub(/x/, "y", s); print z | "cat"; close("cat") }')
PROGRAMS = [
    ("gawk", ["gawk", GAWK, "in.txt"], None),
    ("mawk", ["mawk", "{ a[$3] = $2; s = s $1 } END { for (k in a) n++; print n, length(s) }",
              "in.txt"], None),
    ("jq", ["jq", ".a[2].b"], b'{"a": [1, 2, {"b": "c"}]}\n'),
    ("bc", ["bc", "-l"], b"scale = 20\n4 * a(1)\ndefine f(n) {\n if (n < 2) return (n)\n"
                         b" return (f(n - 1) + f(n - 2))\n}\nf(12)\n"),
    ("lua5.4", ["lua5.4", "-e", "t = {} for i = 1, 1000 do t[i] = tostring(i) end print(#t)"],
     None),
    ("sqlite3", ["sqlite3", ":memory:", "create table t(a, b); insert into t values (1, 2), "
                 "(3, 4); select sum(a + b) from t;"], None),
    ("perl", ["perl", "-e", 'my %h; $h{$_} = [$_] for 1..500; print scalar(keys %h), "\n"'],
     None),
    ("tclsh", ["tclsh"], b"puts [string repeat ab 10]\nset d [dict create a 1 b 2]\n"
                         b"puts [dict get $d b]\n"),
    ("git", ["git", "--version"], None),
]
CLASSES = ("definitely", "indirectly", "possibly", "reachable")


def valgrind_classes(xml_path):
    """class -> [blocks, bytes] from memcheck's loss records. A definitely or possibly lost
    record's leakedbytes counts the blocks it loses indirectly too ("N (D direct, I
    indirect) bytes"): only D is its own, as in memcheck's LEAK SUMMARY."""
    out = {k: [0, 0] for k in CLASSES}
    for err in ET.parse(xml_path).getroot().iter("error"):
        kind = VG_KINDS.get(err.findtext("kind"))
        if not kind:
            continue
        nbytes = int(err.findtext("xwhat/leakedbytes"))
        m = re.search(r"\(([\d,]+) direct", err.findtext("xwhat/text") or "")
        if m:
            nbytes = int(m.group(1).replace(",", ""))
        out[kind][0] += int(err.findtext("xwhat/leakedblocks"))
        out[kind][1] += nbytes
    return out


def programs_case(args, ck):
    vg = shutil.which("valgrind", path="/usr/bin:/bin")
    if not vg:
        ck.skip("valgrind is not installed")
    todo = [(n, a, i) for n, a, i in PROGRAMS if shutil.which(a[0], path="/usr/bin:/bin")]
    if not todo:
        ck.skip("none of %s is installed" % ", ".join(n for n, _, _ in PROGRAMS))
    work = pstest.tmpdir("reach-programs")
    with open(os.path.join(work, "in.txt"), "w") as fh:
        fh.writelines("%d %d x%d\n" % (i, 2 * i, i) for i in range(1, 201))
    tmpl = os.path.join(work, "%e.%p.trace")
    base = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": work, "PERL_HASH_SEED": "0",
            "PERL_PERTURB_KEYS": "0", "PERFSHIM_OUTPUT": tmpl}
    # memcheck's client environment: base plus what valgrind adds (PWD: the working directory)
    p = subprocess.run([vg, "-q", "/usr/bin/env"], env=base, cwd=work, capture_output=True,
                       timeout=120)
    vg_env = dict(l.split("=", 1) for l in p.stdout.decode().splitlines() if "=" in l)
    ck.check(p.returncode == 0 and "LD_PRELOAD" in vg_env, "env runs under valgrind",
             repr(p))
    # LD_PRELOAD of the same length as memcheck's: a link to the shim in the scratch
    # directory, its path padded with slashes (a string perl or gawk copies rounds alike)
    link = os.path.join(work, "ps.so")
    os.symlink(os.path.realpath(args.lib), link)
    shim_env = dict(vg_env)
    shim_env["LD_PRELOAD"] = "/" * max(0, len(vg_env.get("LD_PRELOAD", "")) - len(link)) + link
    ck.equal(len(shim_env["LD_PRELOAD"]), len(vg_env.get("LD_PRELOAD", "")),
             "the shim's LD_PRELOAD is as long as memcheck's")
    for name, argv, stdin in todo:
        xml = os.path.join(work, name + ".xml")
        p = subprocess.run([vg, "--leak-check=full", "--show-leak-kinds=all",
                            "--leak-check-heuristics=none", "--run-libc-freeres=no",
                            "--xml=yes", "--xml-file=" + xml] + argv, env=base, cwd=work,
                           input=stdin or b"", capture_output=True, timeout=300)
        if not ck.check(os.path.exists(xml), "%s runs under valgrind" % name, repr(p)):
            continue
        want = valgrind_classes(xml)
        q = subprocess.Popen(argv, env=shim_env, cwd=work, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = q.communicate(stdin or b"", timeout=300)
        trace = glob.glob(os.path.join(work, "*.%d.trace" % q.pid))  # tclsh is tclsh8.6
        trace = trace[0] if len(trace) == 1 else ""
        if not ck.check(q.returncode == p.returncode and out == p.stdout and
                        os.path.exists(trace), "%s runs under the shim as under valgrind" % name,
                        "status %r, stdout %r, stderr %r" % (q.returncode, out[:300], err[:300])):
            continue
        r = pstest.run([args.perfshim, "leaks", "--json", "--no-default-suppressions", trace])
        kinds = json.loads(r.stdout)["totals"]["kinds"] or {}
        got = {k: [kinds[k]["blocks"], kinds[k]["bytes"]] for k in CLASSES if k in kinds}
        ck.check(got == want, "%s: [blocks, bytes] per class equal memcheck's" % name,
                 "valgrind %r\nshim     %r" % (want, got))


AGED = {("aged_mixed", "definitely"): 3, ("aged_mixed", "reachable"): 4,
        ("aged_old_lost", "definitely"): 5, ("aged_old_both", "definitely"): 2,
        ("aged_old_both", "reachable"): 2, ("aged_young_lost", "definitely"): 2}
AGED_OLD = {("aged_mixed", "mixed"): 4, ("aged_old_lost", "definitely"): 5,
            ("aged_old_both", "definitely"): 2, ("aged_old_both", "reachable"): 2}


def aged_case(args, ck):
    global FUNCTIONS
    FUNCTIONS = {f for f, _ in AGED}
    rep, trace = run_shim(args, ck, ["--aged"], {}, "aged")
    if rep is None:
        return
    ck.equal(shim_verdicts(rep), AGED, "aged: every block's class, without --older-than")
    q = pstest.run([args.perfshim, "leaks", "--json", "--older-than", "0.5s", trace])
    old = json.loads(q.stdout.decode())
    ck.equal(shim_verdicts(old), AGED_OLD, "aged, --older-than 0.5s: the old blocks' classes")
    mixed = [e for e in old["leaks"] if e.get("kind") == "mixed"]
    ck.check(len(mixed) == 1 and mixed[0]["bytes"] == 4 * 48 and
             {k: v["blocks"] for k, v in mixed[0]["kinds_of_all_live_blocks"].items()} ==
             {"definitely": 3, "indirectly": 0, "possibly": 0, "reachable": 4},
             "aged: the mixed entry gives the classes of all its live blocks", repr(mixed))
    kinds = old["totals"]["kinds"]
    for k in ("definitely", "indirectly", "possibly", "reachable", "mixed"):
        n = sum(e["blocks"] for e in old["leaks"] if e.get("kind") == k)
        ck.equal(kinds[k]["blocks"], n, "aged: totals.kinds.%s.blocks sums its entries" % k)
    t = pstest.run([args.perfshim, "leaks", "--older-than", "0.5s", trace]).stdout.decode()
    ck.check("4 blocks, of mixed classes (all its live blocks, of every age: 3 definitely lost, "
             "4 still reachable)" in t and "  of mixed classes: 192 bytes in 4 blocks" in t,
             "aged: the text labels the mixed entry and sums it", t)
    # --top N picks the entries in place (leaks.c, pick_entries), the mixed entry's classes
    # kept after the entries: the first N of the full list, classes and all, and with a
    # suppression (its entries set aside first) the same suppressed list whatever N.
    supp = os.path.join(os.path.dirname(trace), "aged.supp")
    with open(supp, "w") as fh:
        fh.write("aged_old_lost\n")
    for extra_opts in ([], ["--suppressions", supp]):
        base = ["leaks", "--json", "--older-than", "0.5s"] + extra_opts
        full = json.loads(pstest.run([args.perfshim] + base + ["--top", "0", trace]).stdout)
        for n in range(1, len(full["leaks"]) + 1):
            top = json.loads(pstest.run([args.perfshim] + base + ["--top", str(n), trace]).stdout)
            ck.check(top["leaks"] == full["leaks"][:n] and
                     top["suppressed"] == full["suppressed"] and top["totals"] == full["totals"],
                     "aged, --older-than %s--top %d: the first %d entries of --top 0, the same "
                     "suppressed ones and totals" % ("with a suppression, " if extra_opts else "",
                                                     n, n), repr(top["leaks"]))
        if extra_opts:
            ck.check([e["stack"][0]["function"] for e in full["suppressed"]] == ["aged_old_lost"],
                     "aged: the suppression takes aged_old_lost's entry", repr(full["suppressed"]))


def main():
    args = pstest.parse_args(extra)
    ck = pstest.Checker("test_reach")
    if args.aged:
        aged_case(args, ck)
    elif args.valgrind:
        valgrind_case(args, ck)
    elif args.programs:
        programs_case(args, ck)
    else:
        shim_case(args, ck)
    ck.done()


if __name__ == "__main__":
    main()
