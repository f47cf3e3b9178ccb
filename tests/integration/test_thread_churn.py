#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_thread_churn.py — a program that starts and joins one thread after the other
(threadchurn.c). Each exiting thread unmapped its per-thread state (three mappings: a TLB
shootdown on every CPU the process ran on) and the next one mapped and faulted in a new one:
about 100 us of CPU per thread, 3.6x a plain create and exit. Exited threads' states are now
cleared and reused. Checks, by counts rather than time: the shim's internal memory requests
(PERFSHIM_VERBOSE=1) stay far below one per thread (they were three, four with the walk memo
of full tracking), and the exit snapshot
holds exactly one kept block per thread at its line (a reused state that carried the counts of
the thread before would show more), in full tracking and with PERFSHIM_TRACK=0 (no trace: the
requests only)."""
import os
import re

import pstest

REQUESTS = re.compile(rb"(\d+) internal memory request\(s\)")
THREADS = 300


def main():
    args = pstest.parse_args()
    ck = pstest.Checker("test_thread_churn")
    prog = os.path.join(args.bindir, "threadchurn")
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "threadchurn.c")
    marks = pstest.markers(src)
    work = pstest.tmpdir("thread-churn")
    plain = pstest.run([prog, str(THREADS)], cwd=work)
    ck.equal(plain.returncode, 0, "runs without the shim")
    for mode, extra in (("full", {}), ("track0", {"PERFSHIM_TRACK": "0"})):
        d = os.path.join(work, mode)
        os.mkdir(d)
        env = {"LD_PRELOAD": args.lib, "PERFSHIM_OUTPUT": os.path.join(d, "%e.%p.trace"),
               "PERFSHIM_VERBOSE": "1"}
        env.update(extra)
        p = pstest.run([prog, str(THREADS)], env=env, cwd=d)
        ck.check(p.returncode == 0 and p.stdout == plain.stdout,
                 "%s: exit status and output as without the shim" % mode, pstest.describe(p))
        m = REQUESTS.search(p.stderr)
        if ck.check(m is not None, "%s: PERFSHIM_VERBOSE counts the internal memory requests"
                    % mode, pstest.describe(p)):
            # each thread made three (track0: 930 for 300 threads) or four with the walk
            # memo (full: 1242); now a few in all (46 and 33)
            limit = THREADS // 3
            ck.check(int(m.group(1)) < limit,
                     "%s: %d internal memory requests for %d threads (fewer than %d: exited "
                     "threads' states are reused)" % (mode, int(m.group(1)), THREADS, limit))
        if mode != "full":
            continue
        traces = [os.path.join(d, f) for f in os.listdir(d) if ".trace" in f]
        if not ck.equal(len(traces), 1, "full: one trace"):
            continue
        a = pstest.run([args.perfshim, "leaks", "--json", traces[0]], cwd=d)
        if not ck.equal(a.returncode, 0, "full: perfshim leaks --json exits 0"):
            continue
        rep = pstest.load_reports(a.stdout.decode())[0]
        at = pstest.leaks_at(rep, "threadchurn.c", marks["LEAK:churn_keep"])
        ck.equal(sum(l["blocks"] for l in at), THREADS,
                 "full: exactly one kept block per thread at threadchurn.c:%d"
                 % marks["LEAK:churn_keep"])
        ck.equal(sum(l["bytes"] for l in at), THREADS * 48, "full: and their bytes")
        ck.equal(len(pstest.leaks_from_file(rep, "threadchurn.c")), len(at),
                 "full: no other leak in threadchurn.c (the temporaries were freed)")
    ck.done()


if __name__ == "__main__":
    main()
