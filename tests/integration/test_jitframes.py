#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_jitframes.py — tests/integration/jitframes.c under the shim: blocks allocated under
machine code generated at run time (no unwind table, rbp kept as a frame pointer, as V8 does).
The leak stacks must be exactly the true callers: leak_in_jit, the generated code's return
addresses the program printed (one, or two when its code calls its code), then through_jit at
its call line, then main. With the fast walker (frame-pointer steps), no walk may need
libunwind (PERFSHIM_VERBOSE=1); with PERFSHIM_UNWIND=libunwind, the oracle, the stacks must be
the same."""
import os
import re

import pstest


def main():
    args = pstest.parse_args()
    ck = pstest.Checker("test_jitframes")
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "jitframes.c")
    marks = pstest.markers(src)
    call_line = None
    with open(src, encoding="utf-8") as f:
        for lineno, text in enumerate(f, 1):
            if "/* JIT:call */" in text:
                call_line = lineno
    leaks = pstest.define(src, "JIT_LEAKS")
    size = pstest.define(src, "JIT_SIZE")
    prog = os.path.join(args.bindir, "jitframes")
    for label, env in (("fast walker", {"PERFSHIM_VERBOSE": "1"}),
                       ("libunwind", {"PERFSHIM_UNWIND": "libunwind"})):
        work = pstest.tmpdir("jitframes")
        p, traces, reports = pstest.preload_and_analyze(args, ck, [prog], work, env=env,
                                                        timeout=60)
        if not ck.check(p.returncode == 0 and b"jitframes: ok" in p.stderr and
                        len(reports) == 1, "%s: runs, one trace" % label, pstest.describe(p)):
            continue
        m = re.search(rb"inner returns to (0x[0-9a-f]+), outer returns to (0x[0-9a-f]+)",
                      p.stdout)
        if not ck.check(m, "%s: the program printed its code's addresses" % label,
                        pstest.describe(p)):
            continue
        inner, outer = int(m.group(1), 16), int(m.group(2), 16)
        found = pstest.check_site(ck, reports[0], src, marks, "jit_leak", 2 * leaks,
                                  2 * leaks * size, "leak_in_jit", label)
        shapes = set()
        for l in pstest.by_stack(found):
            st = l["stack"]
            addrs = [int(fr["address"], 16) for fr in st]
            k = 1
            jit = []
            while k < len(addrs) and addrs[k] in (inner, outer):
                jit.append(addrs[k])
                k += 1
            ok = (jit in ([inner], [inner, outer]) and k + 1 < len(st) and
                  pstest.frame_at(st[k], "jitframes.c", call_line) and
                  st[k].get("function") == "through_jit" and
                  st[k + 1].get("function") == "main")
            ck.check(ok, "%s: %d blocks at leak_in_jit <- %s <- through_jit (line %d) <- main"
                     % (label, l["blocks"], " <- ".join(hex(a) for a in jit) or "?",
                        call_line), pstest.fmt_leak(l) + "\n" + repr(st[:6]))
            shapes.add(len(jit))
            ck.check(l["blocks"] == leaks, "%s: %d blocks on each stack" % (label, leaks),
                     pstest.fmt_leak(l))
        ck.check(shapes == {1, 2}, "%s: both stacks (one and two generated frames)" % label,
                 repr(shapes))
        if label == "fast walker":
            pstest.check_no_libunwind(
                ck, p, "%s: every stack walked without libunwind (frame-pointer steps)" % label)
    ck.done()


if __name__ == "__main__":
    main()
