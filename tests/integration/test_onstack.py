#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_onstack.py — tests/integration/onstack.c: threads that burn CPU on 2 KiB stacks of their
own (makecontext, a guard page below), with an alternate signal stack and a SIGPROF handler
installed with SA_ONSTACK, as Go's runtime runs goroutines. Under PERFSHIM_CPU_HZ=1000 the
shim's SIGPROF handler had no SA_ONSTACK: its frame went past the small stack into the guard
page and the program died of SIGSEGV (a cgo program of 8 goroutines crashed in 2 runs of 4). The
oracle is the program's own checksum and exit status without the shim; the samples must also
be there, and name the function that burned the CPU."""
import os
import re

import pstest


def main():
    args = pstest.parse_args()
    ck = pstest.Checker("test_onstack")
    prog = os.path.join(args.bindir, "onstack")
    cmd = [prog, "2", "150"]
    pat = re.compile(rb"onstack: checksum (\d+)")
    bare = pstest.run(cmd, timeout=240)
    m = pat.search(bare.stdout)
    if not ck.check(bare.returncode == 0 and m is not None, "bare: exits 0 with its checksum",
                    pstest.describe(bare)):
        ck.done()
    for label, env in (("shim", {}), ("shim, SIGPROF at 1000 Hz", {"PERFSHIM_CPU_HZ": "1000"})):
        work = pstest.tmpdir("onstack")
        p, traces, reports = pstest.preload_and_analyze(args, ck, cmd, work, env=env, timeout=240)
        ck.equal(p.returncode, 0, "%s: exits 0 (no crash on the small stacks)" % label)
        ck.equal(p.stdout, bare.stdout, "%s: the same output as without the shim" % label)
        ck.check(not p.stderr, "%s: nothing on stderr" % label, pstest.describe(p))
        if ck.equal(len(traces), 1, "%s: one trace" % label) and reports:
            ck.check(reports[0]["complete"], "%s: the trace is complete" % label)
            if "PERFSHIM_CPU_HZ" in env:
                h = pstest.run([args.perfshim, "hot", traces[0]], cwd=work)
                out = h.stdout + h.stderr
                ck.check(h.returncode == 0 and b"burn (onstack.c)" in out,
                         "%s: perfshim hot names burn, the function on the small stacks" % label,
                         pstest.describe(h))
                tr = pstest.RawTrace(traces[0])
                ck.check(tr.cpu and tr.cpu["samples"] > 0, "%s: CPU samples taken" % label)
    ck.done()


if __name__ == "__main__":
    main()
