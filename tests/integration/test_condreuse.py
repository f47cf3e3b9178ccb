#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_condreuse.py — tests/integration/condreuse.c: a condition variable waited on and
destroyed 1000 times at the same stack address, under PERFSHIM_LOCKS=1. Each destroyed one was
kept in a record of its own, and the 128th filled the address's probe chain: "the lock table is
full" on stderr (chromium --headless printed it twice per run), with the table nearly empty.
The oracle is the program's own count of waits: the report must hold them all, under one
condition variable at that address, and the shim must say nothing."""
import json
import os
import re

import pstest

ROUNDS = 1000


def main():
    args = pstest.parse_args()
    ck = pstest.Checker("test_condreuse")
    prog = os.path.join(args.bindir, "condreuse")
    work = pstest.tmpdir("condreuse")
    p, traces, _ = pstest.preload_and_analyze(args, ck, [prog, str(ROUNDS)], work,
                                              env={"PERFSHIM_LOCKS": "1"})
    m = re.search(rb"condreuse: waits (\d+) timedout (\d+)", p.stdout)
    ck.check(p.returncode == 0 and m is not None, "exits 0 with its counts", pstest.describe(p))
    ck.check(not p.stderr, "nothing on stderr (no 'lock table is full')", pstest.describe(p))
    if not ck.equal(len(traces), 1, "one trace") or not m:
        ck.done()
    waits = int(m.group(1))
    a = pstest.run([args.perfshim, "locks", "--json", traces[0]], cwd=work)
    if not ck.equal(a.returncode, 0, "perfshim locks --json exits 0"):
        ck.done()
    rep = json.loads(a.stdout.decode("utf-8"))
    rep = rep[0] if isinstance(rep, list) else rep
    t = rep["totals"]
    ck.equal(t["table_full"], False, "the lock table was never full")
    ck.equal(t["untracked_ops"], 0, "no operation went untracked")
    ck.equal(t["cond_waits"], waits, "every wait the program made is counted")
    ck.equal(len(rep["condvars"]), 1, "one condition variable: the address's record continued")
    if rep["condvars"]:
        ck.equal(rep["condvars"][0]["waits"], waits, "its record holds every wait")
    ck.done()


if __name__ == "__main__":
    main()
