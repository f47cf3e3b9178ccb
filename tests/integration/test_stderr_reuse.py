#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_stderr_reuse.py — a program whose descriptor 2 becomes one of its data files (a daemon
closes its stderr, then opens a file, which gets number 2; or it was started with `2>&-`). The
shim wrote its warnings and alert lines to descriptor 2 whatever it had become, into the
program's file. Now a line goes to descriptor 2 only while it is the file it was at start.
Checks (stderrfile.c, which allocates past PERFSHIM_ALERT_HEAP): with stderr closed and the
file at 2, and with the program started with stderr closed, the file holds exactly the line
the program wrote, under an alert and under a trace that cannot be created (a warning), and
the alert is still in the trace; with stderr untouched (the control), the same alert and
warning do reach stderr."""
import os
import subprocess

import pstest


def main():
    args = pstest.parse_args()
    ck = pstest.Checker("test_stderr_reuse")
    prog = os.path.join(args.bindir, "stderrfile")
    work = pstest.tmpdir("stderr_reuse")
    cases = {
        "alert": {"PERFSHIM_ALERT_HEAP": "64k"},
        "warning": {"PERFSHIM_OUTPUT": os.path.join(work, "missing", "x.%p.trace")},
    }
    for how in ("reuse", "closed-at-start", "keep"):
        for case, extra in cases.items():
            label = "%s, %s" % (how, case)
            d = os.path.join(work, "%s-%s" % (how, case))
            os.mkdir(d)
            data = os.path.join(d, "data.txt")
            env = dict(os.environ)
            env = {k: v for k, v in env.items() if not k.startswith("PERFSHIM_")}
            env.update({"LD_PRELOAD": args.lib, "PERFSHIM_OUTPUT": os.path.join(d, "%e.%p.trace")})
            env.update(extra)
            argv = [prog, "keep" if how == "keep" else "reuse", data]
            if how == "closed-at-start":
                # the program starts with descriptor 2 closed: its open() gets 2 at once
                p = subprocess.run(["/bin/sh", "-c", 'exec "$@" 2>&-', "sh"] + argv, env=env,
                                   cwd=d, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   timeout=120)
            else:
                p = subprocess.run(argv, env=env, cwd=d, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, timeout=120)
            ck.equal(p.returncode, 0, "%s: the program exits 0 (its own checks)" % label)
            with open(data, "rb") as f:
                got = f.read()
            ck.equal(got, b"DATA\n", "%s: the program's file holds only what it wrote" % label)
            if how == "keep":
                want = b"perfshim: alert:" if case == "alert" else b"cannot create trace"
                ck.check(want in p.stderr, "%s: the line reaches the untouched stderr (control)"
                         % label, pstest.describe(p))
            elif case == "alert":
                # the program's trace (under closed-at-start the shell writes one too, at its
                # exec)
                traces = [os.path.join(d, f) for f in os.listdir(d)
                          if ".trace" in f and f.startswith(os.path.basename(prog) + ".")]
                a = pstest.run([args.perfshim, "summary"] + traces, cwd=d)
                ck.check(len(traces) == 1 and b"Alerts (1):" in a.stdout,
                         "%s: the alert is in the trace" % label, pstest.describe(a))
    ck.done()


if __name__ == "__main__":
    main()
