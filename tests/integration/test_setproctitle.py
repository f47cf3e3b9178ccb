#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_setproctitle.py — a program that overwrites its original environment block after
start, as setproctitle does in redis-server, PostgreSQL and nginx (they move environ elsewhere
and reuse the old block, contiguous with argv, for the process title). The shim read
PERFSHIM_OUTPUT and PERFSHIM_TRACE_LIST at start and used them at exit; they must not point
into that block. A Python child zeroes every byte of its environment strings through ctypes,
allocates, and exits. Checks: the trace is written at the PERFSHIM_OUTPUT path, complete, and
listed in PERFSHIM_TRACE_LIST; the same with a sibling that does not clobber (control)."""
import os
import sys

import pstest

CHILD = r"""
import ctypes, sys
libc = ctypes.CDLL(None)
environ = ctypes.POINTER(ctypes.c_char_p).in_dll(libc, "environ")
n = 0
i = 0
while environ[i] is not None:
    if sys.argv[1] == "clobber":
        addr = ctypes.cast(environ, ctypes.POINTER(ctypes.c_void_p))[i]
        size = len(environ[i])
        ctypes.memset(addr, 0, size)
        n += size
    i += 1
kept = [bytearray(100 + k % 50) for k in range(2000)]
print("zeroed %d bytes of %d variables" % (n, i))
"""


def main():
    args = pstest.parse_args()
    ck = pstest.Checker("test_setproctitle")
    work = pstest.tmpdir("setproctitle")
    for mode in ("keep", "clobber"):
        out = os.path.join(work, "%s.%%p.trace" % mode)
        lst = os.path.join(work, "%s.list" % mode)
        p = pstest.run([sys.executable, "-c", CHILD, mode], cwd=work,
                       env={"LD_PRELOAD": args.lib, "PERFSHIM_OUTPUT": out,
                            "PERFSHIM_TRACE_LIST": lst})
        ck.equal(p.returncode, 0, "%s: the child exits normally" % mode)
        if mode == "clobber":
            ck.check(b"zeroed" in p.stdout and b"zeroed 0 " not in p.stdout,
                     "clobber: the child really zeroed its environment", pstest.describe(p))
        ck.check(b"no trace written" not in p.stderr and b"PERFSHIM_OUTPUT" not in p.stderr,
                 "%s: no warning about the output path" % mode, pstest.describe(p))
        traces = sorted(f for f in os.listdir(work) if f.startswith(mode + ".")
                        and f.endswith(".trace"))
        if ck.check(len(traces) == 1, "%s: one trace at the PERFSHIM_OUTPUT path" % mode,
                    repr(os.listdir(work))):
            raw = pstest.RawTrace(os.path.join(work, traces[0]))
            ck.check(raw.error is None and raw.end is not None and raw.snapshots,
                     "%s: the trace is complete" % mode, str(raw.error))
            listed = open(lst).read().split() if os.path.exists(lst) else []
            ck.equal(listed, [os.path.join(work, traces[0])],
                     "%s: PERFSHIM_TRACE_LIST names the trace" % mode)
    ck.done()


if __name__ == "__main__":
    main()
