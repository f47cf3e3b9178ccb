#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_notables.py — a program built by tcc (the Tiny C Compiler), whose executables have no
.eh_frame_hdr: no unwind table covers their code, `_start` included. Under full tracking, byte
sampling and CPU sampling the program must run as without the shim (it was killed by SIGSEGV:
the walker handed every stack to libunwind at `_start`'s frame, and libunwind 1.6 crashes on
such programs), its stacks walked without libunwind (PERFSHIM_VERBOSE=1), and its leak
reported exactly: NT_KEPT blocks of NT_SIZE at leak_here <- main. Skipped (77) without tcc."""
import os
import shutil

import pstest


def main():
    args = pstest.parse_args()
    ck = pstest.Checker("test_notables")
    tcc = shutil.which("tcc", path="/usr/bin:/bin")
    if not tcc:
        ck.skip("tcc is not installed")
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "notables.c")
    kept = pstest.define(src, "NT_KEPT")
    size = pstest.define(src, "NT_SIZE")
    build = pstest.tmpdir("notables-build")
    prog = os.path.join(build, "notables")
    # tcc writes no .symtab: -rdynamic puts leak_here in .dynsym for the report
    p = pstest.run([tcc, "-rdynamic", "-o", prog, src])
    if not ck.check(p.returncode == 0, "tcc builds notables.c", pstest.describe(p)):
        return ck.done()
    bare = pstest.run([prog])
    ck.check(bare.returncode == 0 and b"notables: ok" in bare.stdout, "runs without the shim",
             pstest.describe(bare))
    for label, env in (("full", {}), ("sampled", {"PERFSHIM_SAMPLE": "1"}),
                       ("cpu", {"PERFSHIM_CPU_HZ": "1000"})):
        env = dict(env, PERFSHIM_VERBOSE="1")
        work = pstest.tmpdir("notables")
        p, traces, reports = pstest.preload_and_analyze(args, ck, [prog], work, env=env,
                                                        timeout=120)
        if not ck.check(p.returncode == bare.returncode and p.stdout == bare.stdout and
                        len(reports) == 1, "%s: runs as without the shim, one trace" % label,
                        pstest.describe(p)):
            continue
        pstest.check_no_libunwind(ck, p, "%s: every stack walked without libunwind" % label)
        found = [l for l in pstest.by_stack(reports[0]["leaks"])
                 if [fr.get("function") for fr in l["stack"][:2]] == ["leak_here", "main"]]
        got = (sum(l["blocks"] for l in found), sum(l["bytes"] for l in found))
        if label == "sampled":  # every byte sampled: a block is counted when sampled
            ck.check(got[0] >= 1 and got[1] >= size, "%s: the leak at leak_here <- main" % label,
                     pstest.fmt_report(reports[0]))
        else:
            ck.check(got == (kept, kept * size), "%s: %d blocks, %d bytes at leak_here <- main"
                     % (label, kept, kept * size), "got %r\n%s" % (got, pstest.fmt_report(reports[0])))
    return ck.done()


if __name__ == "__main__":
    raise SystemExit(main())
