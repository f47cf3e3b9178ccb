#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_symbolize_once.py — `perfshim run` on a multi-process command opens each module once
for all its traces, not once per trace (issue 12 item 4): a shell runs `leaky` 12 times; with
PA_SYMBOLS_DEBUG=1 the analyzer prints one line per module it opens (analyzer/symbols.c). The
12 leaky reports must all be right (the shared module is read at its first process's load
address: a wrong translation would misname the frames of the others), and leaky and libc must
each be opened exactly once. `perfshim leaks`, `timeline`, `hot` and `locks` over the same
traces likewise."""
import collections
import os
import re

import pstest
import test_leaky

RUNS = 12


def opened(stderr):
    return collections.Counter(
        m.group(1) for m in re.finditer(rb"perfshim: symbols: opening (\S+) \((\w+)", stderr))


def main():
    args = pstest.parse_args()
    ck = pstest.Checker("test_symbolize_once")
    work = pstest.tmpdir("symonce")
    leaky = os.path.join(args.bindir, "leaky")
    script = "i=0; while [ $i -lt %d ]; do %s || exit 1; i=$((i+1)); done" % (RUNS, leaky)
    env = dict(os.environ, PA_SYMBOLS_DEBUG="1")
    p, reports = pstest.perfshim_run_json(
        args, ck, ["/bin/sh", "-c", script], work,
        extra_opts=["-o", os.path.join(work, "t.%p.trace")], env=env)
    ck.equal(p.returncode, 0, "exit status")
    if not reports:
        ck.done()
    mine = [r for r in reports if os.path.basename(r["process"].get("program", "")) == "leaky"]
    ck.equal(len(mine), RUNS, "one report per leaky process")
    for i, r in enumerate(mine):
        test_leaky.check_leaky_report(ck, r, os.path.join(args.srcdir, "leaky.c"),
                                      "leaky #%d" % (i + 1))
    n = opened(p.stderr)
    libc = [k for k in n if re.search(rb"/libc\.so\.6$", k)]
    ck.check(n.get(leaky.encode(), 0) == 1, "leaky opened once for %d traces" % RUNS, repr(n))
    ck.check(len(libc) == 1 and n[libc[0]] == 1, "libc opened once", repr(n))
    ck.check(n and max(n.values()) == 1, "no module opened twice", repr(n))
    traces = sorted(os.path.join(work, f) for f in os.listdir(work) if f.endswith(".trace"))
    a = pstest.run([args.perfshim, "leaks", "--json"] + traces, env=env, cwd=work)
    n = opened(a.stderr)
    ck.check(n and max(n.values()) == 1 and n.get(leaky.encode(), 0) == 1,
             "leaks over %d traces: each module opened once" % len(traces), repr(n))
    for cmd in ("timeline", "hot", "locks"):  # issue 14 item 3: every report over many traces
        a = pstest.run([args.perfshim, cmd, "--json"] + traces, env=env, cwd=work)
        n = opened(a.stderr)
        ck.check(a.returncode == 0 and (not n or max(n.values()) == 1),
                 "%s over %d traces: no module opened twice" % (cmd, len(traces)), repr(n))
    a = pstest.run([args.perfshim, "timeline", "--json"] + traces, env=env, cwd=work)
    ck.check(opened(a.stderr).get(leaky.encode(), 0) == 1, "timeline: leaky opened once",
             repr(opened(a.stderr)))
    ck.done()


if __name__ == "__main__":
    main()
