#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_deepbind.py — tests/integration/deepbind.c loads libdeepbind_lib.so with RTLD_DEEPBIND,
whose malloc and free would then bind to the C library's own, and passes blocks both ways:
the library frees its own blocks, the program frees the library's, the library frees, resizes
and sizes the program's (pool blocks: libc's free aborts on them), and frees a strdup() copy
that libc made with the program's allocator. The shim rebinds the library's malloc-family
references to its own (shim/deepbind.c): every case must pass, in full tracking with and
without the pool and in PERFSHIM_MODE=pool; loaded RTLD_NOW and RTLD_LAZY; a partial-RELRO
and a full-RELRO (read-only GOT) build of the library. Under tracking, the library's
deliberate leak (LEAK:deepbind_lib) is reported exactly, nothing leaks from deepbind.c (a
block the library freed is not left behind as a leak), and no free is untracked."""
import os

import pstest

CASES = ["own", "foreign", "give", "realloc", "usable", "strdup", "leak"]


def main():
    args = pstest.parse_args()
    ck = pstest.Checker("test_deepbind")
    here = os.path.dirname(os.path.abspath(__file__))
    host_src = os.path.join(here, "deepbind.c")
    lib_src = os.path.join(here, "deepbind_lib.c")
    d = lambda n: pstest.define(host_src, n)
    marks = pstest.markers(lib_src)
    prog = os.path.join(args.bindir, "deepbind")
    for libname in ("libdeepbind_lib.so", "libdeepbind_lib_now.so"):
        lib = os.path.join(args.libdir, libname)
        for env in ({}, {"PERFSHIM_POOL": "0"}, {"PERFSHIM_MODE": "pool"},
                    {"DEEPBIND_LAZY": "1"}):
            label = "%s %s" % (libname, " ".join("%s=%s" % kv for kv in env.items()) or
                               "defaults")
            work = pstest.tmpdir("deepbind")
            p, traces, reports = pstest.preload_and_analyze(args, ck, [prog, lib] + CASES, work,
                                                            env=env)
            passed = [c for c in CASES if ("deepbind: %s ok" % c).encode() in p.stderr]
            ck.check(p.returncode == 0 and passed == CASES,
                     "%s: every case passes (%s)" % (label, " ".join(passed)), pstest.describe(p))
            if env.get("PERFSHIM_MODE") == "pool":
                ck.equal(len(traces), 0, "%s: no trace" % label)
                continue
            if not ck.equal(len(traces), 1, "%s: one trace" % label) or not reports:
                continue
            rep = reports[0]
            if not pstest.check_report_shape(ck, rep, label):
                continue
            pstest.check_site(ck, rep, lib_src, marks, "deepbind_lib", d("DEEPBIND_LEAKS"),
                              d("DEEPBIND_LEAKS") * d("DEEPBIND_SIZE"), "db_leak", label)
            host = [l for l in rep["leaks"] if any(
                os.path.basename(f.get("file") or "") == "deepbind.c" for f in l["stack"])
                and not pstest.leaks_at({"leaks": [l]}, "deepbind_lib.c",
                                        marks["LEAK:deepbind_lib"])]
            ck.check(not host, "%s: no other leak through deepbind.c" % label,
                     "\n".join(pstest.fmt_leak(l) for l in host))
            tr = pstest.RawTrace(traces[0])
            ck.equal(tr.snapshots[-1]["totals"]["untracked_frees"] if tr.snapshots else None, 0,
                     "%s: untracked frees" % label)
    ck.done()


if __name__ == "__main__":
    main()
