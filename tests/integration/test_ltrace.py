#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_ltrace.py — a program run under ltrace with the shim's CPU sampling (PERFSHIM_CPU_HZ) and
no SIGPROF handler of its own must run as without the shim. ltrace holds a signal that arrives
while it steps a thread over a breakpoint and injects it at a later stop, where the kernel
rewrites its siginfo to SI_USER from the tracer: the shim took such a timer signal for the
program's own SIGPROF and, the program having no handler, applied the default action. Before
the fix, tracedcpu (and perl under `ltrace -f`) was "killed by SIGPROF" after a few signals,
while ltrace itself exited 0.

Asserts, at 1000 Hz with and without lock timing: the program's stdout equals that of the
same ltrace run without the shim, ltrace's log ends with the program's normal exit, and the
program's trace is complete with CPU samples in it. Skips without ltrace."""
import os
import shutil

import pstest

MODES = [("cpu sampling", {"PERFSHIM_CPU_HZ": "1000"}),
         ("cpu sampling, lock timing", {"PERFSHIM_CPU_HZ": "1000", "PERFSHIM_LOCKS": "1"})]


def last_line(path):
    try:
        lines = open(path, errors="replace").read().splitlines()
    except OSError:
        return ""
    return lines[-1] if lines else ""


def main():
    args = pstest.parse_args()
    ck = pstest.Checker("test_ltrace")
    ltrace = shutil.which("ltrace")
    if not ltrace:
        ck.skip("ltrace is not installed")
    prog = os.path.join(args.bindir, "tracedcpu")
    envprog = shutil.which("env") or "/usr/bin/env"
    work = pstest.tmpdir("ltrace")
    log = os.path.join(work, "bare.ltrace")
    bare = pstest.run([ltrace, "-o", log, prog], cwd=work, timeout=240)
    if not ck.check(bare.returncode == 0 and bare.stdout.startswith(b"tracedcpu done") and
                    "exited (status 0)" in last_line(log),
                    "without the shim the program runs to its end under ltrace",
                    pstest.describe(bare) + last_line(log)):
        ck.done()
    for label, env in MODES:
        tdir = os.path.join(work, label.replace(" ", "_").replace(",", ""))
        os.makedirs(tdir)
        log = os.path.join(tdir, "ltrace.out")
        # the preload is given to the program only (through env), so that ltrace runs as ever
        cmd = [ltrace, "-o", log, envprog, "LD_PRELOAD=" + args.lib, prog]
        p = pstest.run(cmd, env=dict(env, PERFSHIM_OUTPUT=os.path.join(tdir, "%e.%p.trace")),
                       cwd=work, timeout=240)
        ck.check(p.returncode == 0 and p.stdout == bare.stdout and p.stderr == bare.stderr,
                 "%s: same stdout, stderr and ltrace status as without the shim" % label,
                 pstest.describe(p))
        ck.check("exited (status 0)" in last_line(log),
                 "%s: ltrace saw the program exit normally (not killed by SIGPROF)" % label,
                 last_line(log))
        mine = [n for n in os.listdir(tdir) if n.startswith("tracedcpu.")]
        raw = pstest.RawTrace(os.path.join(tdir, mine[0]), rows=False) if len(mine) == 1 else None
        ck.check(raw is not None and raw.error is None and raw.end is not None and
                 raw.cpu and raw.cpu["samples"] > 0,
                 "%s: the program's trace is complete, with CPU samples" % label,
                 repr(mine) + (" %r" % (raw.error,) if raw else ""))
    ck.done()


if __name__ == "__main__":
    main()
