#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_chroot.py — a program that confines itself with chroot (chrootprog.c), as haproxy's
`chroot`, unbound and named -t do. The shim created its trace at the first snapshot by path, and
reopened it by path between snapshots: after the chroot neither path existed, so the program
left no trace and one "cannot create trace ...: No such file or directory" line on its stderr
(haproxy under the shim, session 16). Now the trace is opened before the root changes and kept
open. Checks, under full tracking, PERFSHIM_TRACK=0, PERFSHIM_SAMPLE and PERFSHIM_INTERVAL:
the exit status and output are the plain run's, nothing on stderr, one complete trace; in full
tracking and with the interval, both leaks at their lines and the command line recorded (read
from /proc before the chroot). Needs root (chroot): exit 77 otherwise."""
import json
import os

import pstest

def main():
    args = pstest.parse_args()
    ck = pstest.Checker("test_chroot")
    prog = os.path.join(args.bindir, "chrootprog")
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "chrootprog.c")
    marks = pstest.markers(src)
    work = pstest.tmpdir("chroot")
    root = os.path.join(work, "root")
    os.mkdir(root)
    plain = pstest.run([prog, root, "60"], cwd=work)
    if plain.returncode == 3:
        ck.skip("chroot is not permitted here: %s" % pstest.describe(plain))
    ck.equal(plain.returncode, 0, "plain run exits 0")
    for mode, extra in pstest.TRACKING_MODES.items():
        d = os.path.join(work, mode)
        os.mkdir(d)
        env = {"LD_PRELOAD": args.lib, "PERFSHIM_OUTPUT": os.path.join(d, "%e.%p.trace")}
        env.update(extra)
        p = pstest.run([prog, root, "60"], env=env, cwd=d)
        ck.equal(p.returncode, 0, "%s: exit status as without the shim" % mode)
        ck.equal(p.stdout, plain.stdout, "%s: output as without the shim" % mode)
        ck.equal(p.stderr, b"", "%s: nothing on stderr" % mode)
        t, rep = pstest.sole_trace_leaks(ck, args.perfshim, d, mode)
        if not t or mode not in ("full", "interval"):
            continue
        for name in ("before", "after"):
            ck.check(pstest.leaks_at(rep, "chrootprog.c", marks["LEAK:" + name]),
                     "%s: the block leaked %s the chroot is at its line (%d)"
                     % (mode, name, marks["LEAK:" + name]), pstest.fmt_report(rep))
        s = pstest.run([args.perfshim, "summary", "--json", t], cwd=d)
        argv = pstest.load_reports(s.stdout.decode())[0].get("process", {}).get("argv")
        ck.equal(argv, [prog, root, "60"], "%s: the command line is recorded" % mode)
    ck.done()


if __name__ == "__main__":
    main()
