#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_cxx.py — examples/leaky_cxx.cpp: leaks through new and new[] in member functions of
demo::Cache are reported at the marked lines with demangled names (operator new hidden), with
exact blocks and bytes; delete/delete[]/std containers are not reported."""
import os

import pstest


def main():
    args = pstest.parse_args()
    ck = pstest.Checker("test_cxx")
    src = os.path.join(args.srcdir, "leaky_cxx.cpp")
    marks = pstest.markers(src)
    d = lambda n: pstest.define(src, n)
    work = pstest.tmpdir("cxx")
    p, reports = pstest.perfshim_run_json(args, ck, [os.path.join(args.bindir, "leaky_cxx")], work)
    ck.equal(p.returncode, 0, "exit status")
    if not reports:
        ck.done()
    ck.equal(len(reports), 1, "number of traces")
    rep = reports[0]
    if not pstest.check_report_shape(ck, rep, "leaky_cxx"):
        ck.done()
    found = pstest.check_site(ck, rep, src, marks, "cxx_new", d("CXX_ENTRY_COUNT"),
                              d("CXX_ENTRY_COUNT") * d("CXX_ENTRY_SIZE"),
                              "demo::Cache::fill_entries", "leaky_cxx")
    found += pstest.check_site(ck, rep, src, marks, "cxx_new_arr", 1, d("CXX_ARRAY_BYTES"),
                               "demo::Cache::make_buffer", "leaky_cxx")
    for l in found:
        fn = l["stack"][0].get("function") or ""
        ck.check("operator new" not in fn and "_Znw" not in fn and "_Zna" not in fn,
                 "operator new frames are hidden, innermost is %r" % fn)
        ck.check(not fn.startswith("_Z"), "function name is demangled: %r" % fn)
    pstest.check_nonleaks(ck, rep, src, marks, "leaky_cxx")
    own = pstest.leaks_from_file(rep, "leaky_cxx.cpp")
    exp_b = d("CXX_ENTRY_COUNT") + 1
    exp_n = d("CXX_ENTRY_COUNT") * d("CXX_ENTRY_SIZE") + d("CXX_ARRAY_BYTES")
    ck.check(sum(l["blocks"] for l in own) == exp_b and sum(l["bytes"] for l in own) == exp_n,
             "leaks from leaky_cxx.cpp total %d blocks %d bytes" % (exp_b, exp_n),
             pstest.fmt_report(rep))
    ck.done()


if __name__ == "__main__":
    main()
