#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_sigeintr.py — tests/integration/sigeintr.c: a signal whose handler has no SA_RESTART
interrupts a blocking read with EINTR, without the shim, under the shim, and under the shim with
CPU sampling at 1000 Hz. CPython's test_signal (SiginterruptTest.test_without_siginterrupt)
hung about one run in ten under PERFSHIM_CPU_HZ=1000: the shim's SIGPROF, queued in the same
return to user mode as the program's SIGALRM, restarted the read (shim/cpu.c,
keep_interruption). The oracle is the program's own count: every read that blocked after its
round's signal, not before, is a failure; the bare run shows the race-free baseline."""
import os
import re

import pstest

THREADS, ROUNDS = "4", "1000"


def main():
    args = pstest.parse_args()
    ck = pstest.Checker("test_sigeintr")
    prog = os.path.join(args.bindir, "sigeintr")
    pat = re.compile(rb"sigeintr: rounds (\d+) eintr (\d+) restarted (\d+) early (\d+) other (\d+)")

    def counts(p, label):
        m = pat.search(p.stdout)
        if not ck.check(m is not None, "%s: the program printed its counts" % label,
                        pstest.describe(p)):
            return None
        rounds, eintr, restarted, early, other = (int(x) for x in m.groups())
        print("     %s: %s" % (label, m.group(0).decode()))
        return rounds, eintr, restarted, early, other

    bare = pstest.run([prog, THREADS, ROUNDS], timeout=240)
    c = counts(bare, "bare")
    if c:
        ck.equal(c[2] + c[4], 0, "bare: no read restarted or failed otherwise")
        ck.equal(bare.returncode, 0, "bare: exits 0")
    for label, env in (("shim", {}), ("shim, SIGPROF at 1000 Hz", {"PERFSHIM_CPU_HZ": "1000"})):
        work = pstest.tmpdir("sigeintr")
        p, traces, reports = pstest.preload_and_analyze(args, ck, [prog, THREADS, ROUNDS], work,
                                                        env=env, timeout=240)
        c = counts(p, label)
        if c:
            rounds, eintr, restarted, early, other = c
            ck.equal(restarted, 0, "%s: no read was restarted (each one failed with EINTR)" % label)
            ck.equal(other, 0, "%s: no read failed otherwise" % label)
            ck.check(eintr >= rounds * 9 // 10, "%s: nearly every round interrupted a read" % label,
                     "eintr %d of %d" % (eintr, rounds))
            ck.equal(p.returncode, 0, "%s: exits 0" % label)
        ck.check(not p.stderr, "%s: nothing on stderr" % label, pstest.describe(p))
        if ck.equal(len(traces), 1, "%s: one trace" % label) and reports:
            ck.check(reports[0]["complete"], "%s: the trace is complete" % label)
            if "PERFSHIM_CPU_HZ" in env:
                tr = pstest.RawTrace(traces[0])
                ck.check(tr.cpu and tr.cpu["samples"] > 0, "%s: CPU samples taken" % label)
    ck.done()


if __name__ == "__main__":
    main()
