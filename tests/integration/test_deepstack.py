#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_deepstack.py — CPU sampling near the end of a thread's stack. Ruby's VM reserves its
main thread's stack down to a few KiB of RLIMIT_STACK at start; a SIGPROF there ran the shim's
stack walk past the limit and ruby died of SIGSEGV (about 1 run in 20 under load, seen in
real_runtime_ruby). tests/integration/deepstack.c spins for half a second of CPU with 4 KiB of
its main stack left. Checks: it runs to the end without the shim (else skipped: this machine's
signal frame would not fit either), and under PERFSHIM_CPU_HZ=1000 it still ends normally, its
trace complete, with the samples taken there counted as dropped, not walked."""
import json
import os

import pstest


def main():
    args = pstest.parse_args()
    ck = pstest.Checker("test_deepstack")
    prog = os.path.join(args.bindir, "deepstack")
    work = pstest.tmpdir("deepstack")
    bare = pstest.run([prog], cwd=work, timeout=120)
    if bare.returncode != 0 or bare.stdout != b"ok\n":
        print("SKIP: deepstack cannot run at the end of its stack here: %s" % pstest.describe(bare))
        raise SystemExit(77)
    env = {"LD_PRELOAD": args.lib, "PERFSHIM_CPU_HZ": "1000",
           "PERFSHIM_OUTPUT": os.path.join(work, "%p.trace")}
    for run in range(3):
        for f in os.listdir(work):
            os.unlink(os.path.join(work, f))
        p = pstest.run([prog], env=env, cwd=work, timeout=120)
        if not ck.check(p.returncode == 0 and p.stdout == b"ok\n",
                        "run %d: sampled at the end of its stack, it ends normally" % run,
                        pstest.describe(p)):
            continue
        traces = [os.path.join(work, f) for f in os.listdir(work) if f.endswith(".trace")]
        if not ck.equal(len(traces), 1, "run %d: one trace" % run):
            continue
        h = pstest.run([args.perfshim, "hot", "--json", traces[0]], cwd=work)
        try:
            cpu = json.loads(h.stdout.decode())["cpu"]
        except (ValueError, KeyError, TypeError) as e:
            ck.check(False, "run %d: perfshim hot --json has a cpu member (%s)" % (run, e),
                     pstest.describe(h))
            continue
        ck.check(h.returncode == 0 and cpu and cpu["dropped"] > 0,
                 "run %d: samples at the stack's end are counted as dropped" % run,
                 json.dumps(cpu)[:600] if cpu else pstest.describe(h))
    ck.done()


if __name__ == "__main__":
    main()
