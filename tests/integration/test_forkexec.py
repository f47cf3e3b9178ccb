#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_forkexec.py — examples/forkexec.c under `perfshim run --json`: three processes, three
traces (parent, forked child, exec'd leaky), each with exactly its own leaks:
  parent: LEAK:parent_early + LEAK:parent_late
  child:  LEAK:child, never LEAK:parent_late; its copy of LEAK:parent_early (live at the fork)
          is reported apart, in "inherited" (issue 12), not among its leaks
  leaky:  what test_leaky expects.
The pids printed by forkexec tell which report is which."""
import json
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
        "child": (child, {"parent_early": none, "parent_late": none, "child": kid}),
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
    # the child's inherited block: apart, marked, with the parent's pid, and not counted as a leak
    rep = by_pid.get(child)
    if rep is not None:
        inh = rep.get("inherited", [])
        here = [x for x in inh if pstest.frame_at(x["stack"][0], "forkexec.c",
                                                   marks["LEAK:parent_early"])]
        ck.check(len(here) == 1 and here[0]["blocks"] == early[0] and
                 here[0]["bytes"] == early[1] and here[0].get("inherited") is True,
                 "child: LEAK:parent_early is inherited: 1 block %d bytes" % early[1],
                 json.dumps(inh, indent=1)[:3000])
        ck.check(sum(x["blocks"] for x in inh) == 1, "child: nothing else inherited",
                 json.dumps(inh, indent=1)[:3000])
        frm = rep.get("inherited_from") or {}
        ck.check(frm.get("parent_pid") == parent and frm.get("blocks") == 1,
                 "child: inherited_from names the parent %d" % parent, repr(frm))
    rep = by_pid.get(parent)
    if rep is not None:
        ck.check(rep.get("inherited") == [] and rep.get("inherited_from") is None,
                 "parent: nothing inherited", repr(rep.get("inherited_from")))
    rep = by_pid.get(execd)
    if ck.check(rep is not None, "a report for the exec'd leaky (pid %d)" % execd):
        test_leaky.check_leaky_report(ck, rep, os.path.join(args.srcdir, "leaky.c"), "exec'd leaky")
    ck.done()


if __name__ == "__main__":
    main()
