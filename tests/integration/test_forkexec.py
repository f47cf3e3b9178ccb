#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_forkexec.py — examples/forkexec.c under `perfshim run --json`: three processes, three
traces (parent, forked child, exec'd leaky), each with exactly its own leaks:
  parent: LEAK:parent_early + LEAK:parent_late
  child:  LEAK:child + its inherited copy of LEAK:parent_early, never LEAK:parent_late
  leaky:  what test_leaky expects.
The pids printed by forkexec tell which report is which."""
import os
import re

import pstest
import test_leaky


def main():
    args = pstest.parse_args()
    ck = pstest.Checker("test_forkexec")
    src = os.path.join(args.srcdir, "forkexec.c")
    marks = pstest.markers(src)
    d = lambda n: pstest.define(src, n)
    work = pstest.tmpdir("forkexec")
    p, reports = pstest.perfshim_run_json(args, ck, [os.path.join(args.bindir, "forkexec")], work)
    ck.equal(p.returncode, 0, "exit status")
    m = re.search(rb"forkexec: parent (\d+) forked (\d+) exec'd (\d+): done", p.stderr)
    if not ck.check(m, "forkexec reports its pids and success", pstest.describe(p)) or not reports:
        ck.done()
    parent, child, execd = (int(x) for x in m.groups())
    ck.equal(len(reports), 3, "number of traces")
    by_pid = {r.get("process", {}).get("pid"): r for r in reports}
    ck.equal(sorted(by_pid), sorted([parent, child, execd]), "traced pids")

    early = (1, d("FORKEXEC_EARLY_SIZE"))
    late = (d("FORKEXEC_LATE_COUNT"), d("FORKEXEC_LATE_COUNT") * d("FORKEXEC_LATE_SIZE"))
    kid = (d("FORKEXEC_CHILD_COUNT"), d("FORKEXEC_CHILD_COUNT") * d("FORKEXEC_CHILD_SIZE"))
    none = (0, 0)
    plan = {
        "parent": (parent, {"parent_early": early, "parent_late": late, "child": none}),
        "child": (child, {"parent_early": early, "parent_late": none, "child": kid}),
    }
    fns = {"parent_early": "parent_early", "parent_late": "parent_late", "child": "child_leak"}
    for label, (pid, sites) in plan.items():
        rep = by_pid.get(pid)
        if not ck.check(rep is not None, "a report for the %s (pid %d)" % (label, pid)):
            continue
        if not pstest.check_report_shape(ck, rep, label):
            continue
        ck.check(os.path.basename(rep["process"].get("program", "")) == "forkexec",
                 "%s: program is forkexec" % label, repr(rep["process"]))
        for name, (blocks, nbytes) in sites.items():
            pstest.check_site(ck, rep, src, marks, name, blocks, nbytes,
                              fns[name] if blocks else None, label)
        own = pstest.leaks_from_file(rep, "forkexec.c")
        exp_b = sum(v[0] for v in sites.values())
        exp_n = sum(v[1] for v in sites.values())
        ck.check(sum(l["blocks"] for l in own) == exp_b and sum(l["bytes"] for l in own) == exp_n,
                 "%s: leaks from forkexec.c total %d blocks %d bytes" % (label, exp_b, exp_n),
                 pstest.fmt_report(rep))
    rep = by_pid.get(execd)
    if ck.check(rep is not None, "a report for the exec'd leaky (pid %d)" % execd):
        test_leaky.check_leaky_report(ck, rep, os.path.join(args.srcdir, "leaky.c"), "exec'd leaky")
    ck.done()


if __name__ == "__main__":
    main()
