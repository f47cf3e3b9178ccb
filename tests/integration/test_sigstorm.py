#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_sigstorm.py — tests/integration/sigstorm.c under the shim: SIGUSR1 sent at a high rate
(pthread_kill) to threads that malloc/realloc/free, with SA_RESTART and without (signals then
interrupt system calls, the shim's too), and with CPU sampling (SIGPROF, PERFSHIM_CPU_HZ=1000)
on at the same time. Every variant must pass the program's own checks (data intact, free
leaves errno alone, every worker signalled), write one complete trace, and report exactly the
deliberate leak (LEAK:sig_worker, SIGSTORM_WORKERS x SIGSTORM_LEAKS blocks) and nothing else
from sigstorm.c; with CPU sampling the trace must hold CPU samples."""
import os
import re

import pstest


def main():
    args = pstest.parse_args()
    ck = pstest.Checker("test_sigstorm")
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sigstorm.c")
    marks = pstest.markers(src)
    d = lambda n: pstest.define(src, n)
    blocks = d("SIGSTORM_WORKERS") * d("SIGSTORM_LEAKS")
    prog = os.path.join(args.bindir, "sigstorm")
    variants = [
        ("SA_RESTART", "restart", {}),
        ("no SA_RESTART", "norestart", {}),
        ("no SA_RESTART, SIGPROF at 1000 Hz", "norestart", {"PERFSHIM_CPU_HZ": "1000"}),
        ("SA_RESTART, SIGPROF, locks", "restart",
         {"PERFSHIM_CPU_HZ": "1000", "PERFSHIM_LOCKS": "1"}),
    ]
    for label, mode, env in variants:
        work = pstest.tmpdir("sigstorm")
        p, traces, reports = pstest.preload_and_analyze(args, ck, [prog, "150000", mode], work,
                                                        env=env)
        m = re.search(rb"sigstorm: ok sent (\d+) received (\d+)", p.stderr)
        if not ck.check(p.returncode == 0 and m, "%s: exits 0, every check passed" % label,
                        pstest.describe(p)):
            continue
        print("     %s: %s signals sent, %s handled" % (label, m.group(1).decode(),
                                                         m.group(2).decode()))
        if not ck.equal(len(traces), 1, "%s: one trace" % label) or not reports:
            continue
        rep = reports[0]
        if not pstest.check_report_shape(ck, rep, label):
            continue
        ck.check(rep["complete"] and not rep["warnings"], "%s: complete, no warnings" % label,
                 repr(rep["warnings"]))
        pstest.check_site(ck, rep, src, marks, "sig_worker", blocks, blocks * d("SIGSTORM_SIZE"),
                          "leak_some", label)
        own = pstest.leaks_from_file(rep, "sigstorm.c")
        ck.equal(sum(l["blocks"] for l in own), blocks, "%s: nothing else leaks from sigstorm.c"
                 % label)
        if "PERFSHIM_CPU_HZ" in env:
            tr = pstest.RawTrace(traces[0])
            ck.check(tr.cpu and tr.cpu["samples"] > 0, "%s: CPU samples taken" % label,
                     repr(tr.cpu and {k: tr.cpu[k] for k in ("samples", "dropped", "partial")}))
    ck.done()


if __name__ == "__main__":
    main()
