#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_stress.py — tests/integration/stress.c under the shim in one configuration (given as
NAME=VALUE arguments after --env): it must exit 0 and say "stress ok" (every pattern, alignment,
usable-size, realloc-prefix and forked-child check passed), and where a trace is written
(full tracking) the parent's leak report must hold exactly the program's deliberate leak at its
LEAK:stress line and nothing else from stress.c, and each child (forked while the other
threads allocate, ended by _exit) must have written its own complete trace."""
import os
import re

import pstest


def extra(ap):
    ap.add_argument("--stress-src", required=True, help="tests/integration/stress.c")
    ap.add_argument("--iterations", type=int, default=40000)
    ap.add_argument("--env", nargs="*", default=[], help="NAME=VALUE for the shim")


def main():
    args = pstest.parse_args(extra)
    env = dict(kv.split("=", 1) for kv in args.env)
    label = " ".join(args.env) or "defaults"
    ck = pstest.Checker("test_stress (%s)" % label)
    src = args.stress_src
    marks = pstest.markers(src)
    work = pstest.tmpdir("stress")
    cmd = [os.path.join(args.bindir, "stress"), str(args.iterations)]
    p, traces, reports = pstest.preload_and_analyze(args, ck, cmd, work, env=env)
    ck.equal(p.returncode, 0, "stress exits 0 under the shim")
    ck.check(b"stress ok" in p.stdout, "stress reports every check passed", pstest.describe(p))
    tracking = env.get("PERFSHIM_MODE", "full") == "full"
    if not tracking:
        ck.equal(len(traces), 0, "no trace without tracking")
        ck.done()
    # the children were forked while other threads allocated, and end in _exit: each writes
    # its own complete trace too (none may hang or be cut)
    m = re.search(rb"(\d+) forks", p.stdout)
    forks = int(m.group(1)) if m else -1
    ck.equal(len(traces), 1 + forks, "one trace per process (the %d forked children too)" % forks)
    bad = [t for t in traces if pstest.RawTrace(t).end is None]
    ck.check(not bad, "every trace is complete (END chunk)", repr(bad))
    pids = {r["process"]["pid"] for r in reports}
    parents = [r for r in reports if r["process"]["ppid"] not in pids]
    if not ck.check(len(parents) == 1, "one trace is the parent's", repr(pids)):
        ck.done()
    rep = parents[0]
    if not pstest.check_report_shape(ck, rep, "stress"):
        ck.done()
    n, size = pstest.define(src, "STRESS_LEAKS"), pstest.define(src, "STRESS_LEAK_SIZE")
    pstest.check_site(ck, rep, src, marks, "stress", n, n * size, "main", "stress")
    own = pstest.leaks_from_file(rep, "stress.c")
    ck.check(sum(l["blocks"] for l in own) == n and sum(l["bytes"] for l in own) == n * size,
             "the only leak from stress.c is the deliberate one (%d x %d bytes)" % (n, size),
             pstest.fmt_report(rep))
    ck.done()


if __name__ == "__main__":
    main()
