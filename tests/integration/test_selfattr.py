#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_selfattr.py — tests/integration/selfattr.c under the shim: threads whose first act is
pthread_getattr_np(pthread_self()), then malloc (issue 10: this deadlocked under full
tracking, as did Ruby, Rust and the JVM). Under full tracking, with lock timing, with CPU
sampling, and with threads the shim did not start (the C library's pthread_create by handle),
each run must finish (a timeout is a hang, not a speed limit), pass the program's own checks,
and report exactly the deliberate leaks at their line. Threads the shim started must have their
stacks walked by the fast unwinder (PERFSHIM_VERBOSE=1 reports 0 walks needing libunwind):
that proves their stack bounds were known without asking from inside malloc."""
import os

import pstest


def main():
    args = pstest.parse_args()
    ck = pstest.Checker("test_selfattr")
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "selfattr.c")
    marks = pstest.markers(src)
    d = lambda n: pstest.define(src, n)
    threads = d("SELFATTR_THREADS") + 1  # and the main thread
    blocks = threads * d("SELFATTR_LEAKS")
    prog = os.path.join(args.bindir, "selfattr")
    variants = [
        ("full tracking", [], {"PERFSHIM_VERBOSE": "1"}, True),
        ("locks", [], {"PERFSHIM_LOCKS": "1", "PERFSHIM_LOCK_SAMPLE": "1",
                       "PERFSHIM_VERBOSE": "1"}, True),
        ("CPU sampling", [], {"PERFSHIM_CPU_HZ": "1000", "PERFSHIM_LOCKS": "1",
                              "PERFSHIM_VERBOSE": "1"}, True),
        ("threads the shim did not start", ["direct"], {"PERFSHIM_LOCKS": "1"}, False),
    ]
    for label, extra, env, fast_only in variants:
        work = pstest.tmpdir("selfattr")
        try:
            p, traces, reports = pstest.preload_and_analyze(args, ck, [prog, *extra], work,
                                                            env=env, timeout=60)
        except pstest.subprocess.TimeoutExpired:
            ck.check(False, "%s: finishes (no deadlock)" % label, "timed out")
            continue
        if not ck.check(p.returncode == 0 and b"selfattr: ok %d threads" % threads in p.stderr,
                        "%s: finishes, every thread checked out" % label, pstest.describe(p)):
            continue
        if not ck.check(len(traces) == 1 and len(reports) == 1, "%s: one trace" % label,
                        repr(traces)):
            continue
        pstest.check_site(ck, reports[0], src, marks, "selfattr_leak", blocks,
                          blocks * d("SELFATTR_SIZE"), "leak", label)
        if fast_only:
            pstest.check_no_libunwind(
                ck, p, "%s: every stack walked by the fast unwinder (bounds known)" % label)
    ck.done()


if __name__ == "__main__":
    main()
