#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_python_ctypes.py — malloc(100) x 1000 from Python through ctypes, never freed:
once through ctypes.CDLL(None).malloc (dlsym in the global scope) and once through
ctypes.CDLL("libc.so.6").malloc (dlsym on libc's handle, which would bypass a shim that does
not interpose dlsym). `perfshim run --json` must report the 1000 blocks of 100 bytes, at one
site whose innermost frame is the foreign-function call (libffi)."""
import os

import realtest
from realtest import pstest

SCRIPT = r'''
import ctypes, sys
lib = ctypes.CDLL(None) if sys.argv[1] == "none" else ctypes.CDLL("libc.so.6")
lib.malloc.restype = ctypes.c_void_p
lib.malloc.argtypes = [ctypes.c_size_t]
kept = []
for i in range(1000):
    kept.append(lib.malloc(100))
print("allocated", sum(1 for p in kept if p), file=sys.stderr)  # stdout carries the JSON
'''


def main():
    args = realtest.parse_args()
    ck = pstest.Checker("real python ctypes")
    base = pstest.tmpdir("real-ctypes")
    script = os.path.join(base, "ctypes_leak.py")
    with open(script, "w") as f:
        f.write(SCRIPT)
    for how in ("none", "libc"):
        label = 'CDLL(None)' if how == "none" else 'CDLL("libc.so.6")'
        p, reports = pstest.perfshim_run_json(args, ck, [realtest.PYTHON, script, how], cwd=base)
        ck.equal(p.returncode, 0, "%s: exit status" % label)
        ck.check(b"allocated 1000" in p.stderr, "%s: all 1000 mallocs succeeded" % label,
                 pstest.describe(p))
        if not reports:
            continue
        ck.equal(len(reports), 1, "%s: one trace" % label)
        rep = reports[0]
        if not pstest.check_report_shape(ck, rep, label):
            continue
        # one entry per stack (with leak classes a stack's blocks may be split by class)
        exact = [l for l in pstest.by_stack(rep["leaks"])
                 if l["blocks"] == 1000 and l["bytes"] == 100000]
        ffi = [l for l in rep["leaks"]
               if "libffi" in os.path.basename(l["stack"][0].get("module") or "")]
        ck.check(len(exact) == 1, "%s: one leak of exactly 1000 blocks / 100000 bytes" % label,
                 pstest.fmt_report(rep, 40))
        ck.check(sum(l["blocks"] for l in ffi) == 1000 and sum(l["bytes"] for l in ffi) == 100000,
                 "%s: the leaks called from libffi are 1000 x 100 bytes" % label,
                 "\n".join(pstest.fmt_leak(l) for l in ffi) or pstest.fmt_report(rep, 40))
    realtest.cleanup(args, base)
    ck.done()


if __name__ == "__main__":
    main()
