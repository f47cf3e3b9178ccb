#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_threads.py — examples/threads.c: per-thread leaks from one site summed exactly across
threads, blocks freed by another thread than the allocating one are not leaks, blocks handed
to another thread and kept are attributed to the allocating site; the raw trace agrees."""
import os

import pstest


def main():
    args = pstest.parse_args()
    ck = pstest.Checker("test_threads")
    src = os.path.join(args.srcdir, "threads.c")
    marks = pstest.markers(src)
    d = lambda n: pstest.define(src, n)
    work = pstest.tmpdir("threads")
    p, reports = pstest.perfshim_run_json(args, ck, [os.path.join(args.bindir, "threads")], work)
    ck.equal(p.returncode, 0, "exit status")
    ck.check(b"handoff sum %d" % sum(range(d("THREADS_HANDOFF"))) in p.stderr,
             "the program computed the right handoff sum", pstest.describe(p))
    if not reports:
        ck.done()
    ck.equal(len(reports), 1, "number of traces")
    rep = reports[0]
    if not pstest.check_report_shape(ck, rep, "threads"):
        ck.done()
    workers = d("THREADS_WORKERS") * d("THREADS_LEAKS_PER_WORKER")
    pstest.check_site(ck, rep, src, marks, "thread_worker", workers,
                      workers * d("THREADS_LEAK_SIZE"), "worker_leak", "threads")
    pstest.check_site(ck, rep, src, marks, "handoff_kept", d("THREADS_KEPT"),
                      d("THREADS_KEPT") * d("THREADS_KEPT_SIZE"), "producer", "threads")
    pstest.check_nonleaks(ck, rep, src, marks, "threads")
    own = pstest.leaks_from_file(rep, "threads.c")
    exp_b = workers + d("THREADS_KEPT")
    exp_n = workers * d("THREADS_LEAK_SIZE") + d("THREADS_KEPT") * d("THREADS_KEPT_SIZE")
    ck.check(sum(l["blocks"] for l in own) == exp_b and sum(l["bytes"] for l in own) == exp_n,
             "leaks from threads.c total exactly %d blocks %d bytes" % (exp_b, exp_n),
             pstest.fmt_report(rep))
    ck.done()


if __name__ == "__main__":
    main()
