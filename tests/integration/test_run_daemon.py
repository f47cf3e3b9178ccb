#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_run_daemon.py — `perfshim run` of a command that leaves a process running after it
returns, as a daemonizing server does (`nginx` without `daemon off;`, `memcached -d`).

`sh -c '(sleep 1; exec leaky) &'`: sh returns at once; leaky starts a second later, after run
has reported and removed its list of traces, and writes its trace then. Asserts: run reports
sh's trace; once leaky has ended, nothing is left in TMPDIR (before the fix leaky's shim
created run's list again, `perfshim-run.XXXXXX`, and left it there); nothing from perfshim in
leaky's stderr about the list; leaky's own trace is written where PERFSHIM_OUTPUT points."""
import os
import subprocess
import time

import pstest


def main():
    args = pstest.parse_args()
    ck = pstest.Checker("test_run_daemon")
    work = pstest.tmpdir("run_daemon")
    tmp = os.path.join(work, "tmp")
    out = os.path.join(work, "traces")
    os.makedirs(tmp)
    os.makedirs(out)
    leaky = os.path.join(args.bindir, "leaky")
    env = os.environ.copy()
    for k in list(env):
        if k.startswith("PERFSHIM_") or k == "LD_PRELOAD":
            del env[k]
    env.update({"TMPDIR": tmp, "PERFSHIM_LIB": args.lib})
    log = os.path.join(work, "daemon.stderr")
    # the background process's stdout and stderr go to a file: run returns without waiting
    p = subprocess.run([args.perfshim, "run", "-o", os.path.join(out, "%e.%p.trace"), "--",
                        "sh", "-c", "(sleep 1; exec %s) >/dev/null 2>%s &" % (leaky, log)],
                       env=env, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       stdin=subprocess.DEVNULL, timeout=120)
    err = p.stderr.decode("utf-8", "replace")
    ck.check(p.returncode == 0 and "perfshim leak report for" in err,
             "run reports the command's own trace (sh)", pstest.describe(p))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not [n for n in os.listdir(out)
                                               if n.startswith("leaky.")]:
        time.sleep(0.2)
    time.sleep(0.5)  # leaky's exit, after its trace
    names = os.listdir(out)
    ck.check([n for n in names if n.startswith("leaky.")], "leaky's trace is written later",
             repr(names))
    ck.equal(os.listdir(tmp), [], "nothing left in TMPDIR once the late process ended")
    text = open(log, "rb").read().decode("utf-8", "replace") if os.path.exists(log) else ""
    ck.check("PERFSHIM_TRACE_LIST" not in text, "no warning about run's list in its stderr",
             text)
    ck.done()


if __name__ == "__main__":
    main()
