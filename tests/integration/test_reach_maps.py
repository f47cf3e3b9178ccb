#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_reach_maps.py — tests/integration/reachmaps.c: blocks pointed to only from memory the
program mapped itself, a MAP_NORESERVE anonymous mapping and a private writable mapping of a
file, are still reachable, as memcheck says (the leak scan read neither: gforth's stacks and
relocated image, and every block they held, were reported definitely and indirectly lost);
a dropped block is definitely lost. Checked with the pool and without, and against memcheck's
verdicts on the same binary when valgrind is installed."""
import collections
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pstest

EXPECTED = {("in_noreserve", "reachable"): 1, ("in_filemap", "reachable"): 1,
            ("dropped", "definitely"): 1}
FUNCTIONS = {f for f, _ in EXPECTED}
VG_KINDS = {"Leak_DefinitelyLost": "definitely", "Leak_IndirectlyLost": "indirectly",
            "Leak_PossiblyLost": "possibly", "Leak_StillReachable": "reachable"}


def verdicts(rep):
    return pstest.leak_verdicts(rep, FUNCTIONS)


def valgrind_verdicts(xml_path):
    out = collections.Counter()
    for err in ET.parse(xml_path).getroot().iter("error"):
        kind = VG_KINDS.get(err.findtext("kind"))
        fns = [f.findtext("fn") for f in err.iter("frame")]
        fn = next((f for f in fns if f in FUNCTIONS), None)
        if kind and fn:
            out[(fn, kind)] += int(err.findtext("xwhat/leakedblocks"))
    return dict(out)


def main():
    args = pstest.parse_args()
    ck = pstest.Checker("test_reach_maps")
    prog = os.path.join(args.bindir, "reachmaps")
    for pool in ("1", "0"):
        work = pstest.tmpdir("reachmaps")
        p, _, reps = pstest.preload_and_analyze(args, ck, [prog], work,
                                                env={"PERFSHIM_POOL": pool})
        if not ck.check(p.returncode == 0 and b"reachmaps: done" in p.stdout and
                        len(reps) == 1, "pool=%s: reachmaps exits 0, one trace" % pool,
                        pstest.describe(p)):
            continue
        ck.equal(verdicts(reps[0]), EXPECTED, "pool=%s: blocks per function and class" % pool)
    vg = shutil.which("valgrind", path="/usr/bin:/bin")
    if vg:
        work = pstest.tmpdir("reachmaps-vg")
        xml = os.path.join(work, "vg.xml")
        p = subprocess.run([vg, "--leak-check=full", "--show-leak-kinds=all",
                            "--leak-check-heuristics=none", "--xml=yes", "--xml-file=" + xml,
                            prog], cwd=work, capture_output=True, timeout=300)
        if ck.check(p.returncode == 0 and os.path.exists(xml), "valgrind runs reachmaps",
                    repr(p)):
            ck.equal(valgrind_verdicts(xml), EXPECTED, "memcheck's verdicts are the same")
    else:
        print("note: valgrind is not installed; memcheck's verdicts not compared")
    return ck.done()


if __name__ == "__main__":
    raise SystemExit(main())
