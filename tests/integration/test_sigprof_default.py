#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_sigprof_default.py — a program with no SIGPROF handler that arms ITIMER_PROF dies of
SIGPROF (its default action), and must still die of it under CPU sampling, where the shim's
own SIGPROF handler is installed: the shim passes on every SIGPROF that is not one of its
timers' (it used to swallow it, and the program spun for ever). A Python child busy-loops
after setitimer(ITIMER_PROF, 50 ms); checks: killed by SIGPROF without the shim, with the
shim, and with the shim sampling at 1000 Hz (within a timeout, never hung)."""
import os
import signal
import subprocess
import sys

import pstest

CHILD = r"""
import signal
signal.setitimer(signal.ITIMER_PROF, 0.05)
x = 0
while True:
    x += 1
"""


def main():
    args = pstest.parse_args()
    ck = pstest.Checker("test_sigprof_default")
    work = pstest.tmpdir("sigprof-default")
    trace = {"PERFSHIM_OUTPUT": os.path.join(work, "%p.trace")}
    runs = [("without the shim", {}),
            ("with the shim", dict(trace, LD_PRELOAD=args.lib)),
            ("with CPU sampling", dict(trace, LD_PRELOAD=args.lib, PERFSHIM_CPU_HZ="1000"))]
    for label, env in runs:
        try:
            p = pstest.run([sys.executable, "-c", CHILD], env=env, cwd=work, timeout=60)
            status = p.returncode
        except subprocess.TimeoutExpired:
            status = "still running after 60 s"
        ck.equal(status, -signal.SIGPROF, "%s: the program dies of SIGPROF" % label)
    ck.done()


if __name__ == "__main__":
    main()
