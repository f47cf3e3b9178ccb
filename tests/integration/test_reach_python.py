#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_reach_python.py — leak classes on CPython with its own allocator (pymalloc), against
valgrind memcheck on the same command. Most of CPython's objects live in pymalloc's arenas,
anonymous mappings the shim does not track: the scan must read them as roots (as memcheck reads
every writable mapping), or the blocks only its objects point to (a type's dict, a list's item
array) are reported lost. The script also loses three blocks through ctypes (malloc'd, their
addresses kept only as Python ints, which store 30-bit digits, not the pointer): 3 definitely
lost for both tools.
  - the shim's definitely / indirectly / possibly lost block counts equal valgrind's
    (`--leak-check=full --show-leak-kinds=all --leak-check-heuristics=none`); skipped (77)
    without valgrind;
  - the 3 ctypes blocks are definitely lost at the script's malloc line's caller, and nothing
    else is lost;
  - `perfshim run --fail-on-leak` fails on that script (the 3 blocks) and passes on the same
    script without the ctypes leak."""
import json
import os
import re
import shutil
import sys

import pstest

LEAKY = ("import ctypes, json\n"
         "libc = ctypes.CDLL(None)\n"
         "libc.malloc.restype = None\n"  # the address is dropped in C: nothing in Python holds it
         "for _ in range(3):\n"
         "    libc.malloc(100)\n"
         "x = {str(i): [i] * 3 for i in range(2000)}\n")
CLEAN = ("import json\n"
         "x = {str(i): [i] * 3 for i in range(2000)}\n"
         "print(len(json.dumps(x)) > 0)\n")


def valgrind_counts(script):
    p = pstest.run(["valgrind", "--leak-check=full", "--show-leak-kinds=all",
                    "--leak-check-heuristics=none", sys.executable, "-c", script],
                   env={"PYTHONMALLOC": "pymalloc"}, timeout=600)
    out = p.stderr.decode("utf-8", "replace")
    counts = {}
    for kind, key in (("definitely lost", "definitely"), ("indirectly lost", "indirectly"),
                      ("possibly lost", "possibly")):
        m = re.search(kind + r": [\d,]+ bytes in ([\d,]+) blocks", out)
        counts[key] = int(m.group(1).replace(",", "")) if m else None
    return counts, out


def main():
    args = pstest.parse_args()
    ck = pstest.Checker("test_reach_python")
    if not shutil.which("valgrind"):
        ck.skip("valgrind is not installed (the oracle)")
    py = os.path.realpath(sys.executable)
    work = pstest.tmpdir("reach-python")
    trace = os.path.join(work, "py.trace")
    p = pstest.run([py, "-c", LEAKY], cwd=work,
                   env={"LD_PRELOAD": args.lib, "PERFSHIM_OUTPUT": trace,
                        "PYTHONMALLOC": "pymalloc"})
    if not ck.check(p.returncode == 0 and os.path.exists(trace), "python3 ran under the shim",
                    pstest.describe(p)):
        ck.done()
    r = pstest.run([args.perfshim, "leaks", "--json", "--no-default-suppressions", trace])
    rep = json.loads(r.stdout)
    scan = rep.get("leak_scan") or {}
    ours = {k: scan.get(k) for k in ("definitely", "indirectly", "possibly")}
    vg, vg_out = valgrind_counts(LEAKY)
    ck.check(None not in vg.values(), "valgrind printed its leak summary", vg_out[-2000:])
    ck.equal(ours, vg, "lost blocks per class, the shim against valgrind")
    lost = [l for l in rep["leaks"] if l.get("kind") == "definitely"]
    ck.check(len(lost) == 1 and lost[0]["blocks"] == 3 and lost[0]["bytes"] == 300,
             "the 3 ctypes blocks are one definitely lost entry of 300 bytes",
             json.dumps(lost)[:1500])

    for script, want, what in ((LEAKY, 1, "the leaking script"), (CLEAN, 0, "the clean one")):
        p = pstest.run([args.perfshim, "run", "--fail-on-leak", "--", py, "-c", script],
                       cwd=work, env={"PERFSHIM_LIB": args.lib, "PYTHONMALLOC": "pymalloc"})
        ck.equal(p.returncode, want, "perfshim run --fail-on-leak on %s" % what)
    ck.done()


if __name__ == "__main__":
    main()
