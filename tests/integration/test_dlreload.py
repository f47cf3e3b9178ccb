#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_dlreload.py — a plugin dlclose'd and loaded again at another address while another
library holds its old one (tests/integration/dlreload.c): the stacks of the plugin's first load
and those of the library that took its addresses share addresses, and only the stack ids (the
order the shim interned them in) and each unloaded module's stack count at its unload (the
UNLOADED_MODULES chunk) tell them apart.
  - `perfshim hot --json`: the first load's samples name reload_burn_first, the second's
    reload_burn_second, each about half of them, none a function of dlreload_filler.c (before
    the fix the first load's samples were the filler's: filler_b);
  - `perfshim leaks --json`: RELOAD_FIRST blocks at LEAK:first in reload_leak_first and
    RELOAD_SECOND at LEAK:second in reload_leak_second, file dlreload_lib.c, none in the filler;
with the second load kept to exit and dlclose'd before it (--close). The loader puts the filler
where the plugin was on most runs: a run where it did not is run again (at most 6 times, then
77: skipped)."""
import json
import os
import re

import pstest

HERE = os.path.dirname(os.path.abspath(__file__))


def run_once(args, ck, mode):
    prog = os.path.join(args.bindir, "dlreload")
    lib = os.path.join(args.libdir, "libdlreload_lib.so")
    filler = os.path.join(args.libdir, "libdlreload_filler.so")
    for attempt in range(6):
        work = pstest.tmpdir("dlreload")
        p, traces, reps = pstest.preload_and_analyze(
            args, ck, [prog, lib, filler, "150000000"] + mode, work,
            env={"PERFSHIM_CPU_HZ": "1000"})
        m = re.search(rb"overlap (\d)", p.stdout)
        if not ck.check(p.returncode == 0 and m and b"dlreload: done" in p.stdout and
                        len(traces) == 1, "dlreload %s runs" % " ".join(mode),
                        pstest.describe(p)):
            return None
        if m.group(1) == b"1":
            return traces[0], reps[0]
    ck.skip("the loader never put the filler where the plugin was")


def check(args, ck, mode):
    label = "second load %s" % ("dlclose'd" if mode else "kept")
    r = run_once(args, ck, mode)
    if not r:
        return
    trace, rep = r
    h = pstest.run([args.perfshim, "hot", "--json", trace])
    hot = json.loads(h.stdout)["cpu"]
    self_of = {f["function"]: f["self"] for f in hot["functions"]}
    first, second = self_of.get("reload_burn_first", 0), self_of.get("reload_burn_second", 0)
    ck.check(first > 0.3 * hot["samples"] and second > 0.3 * hot["samples"],
             "%s: each load's samples name its own burn function" % label, repr(self_of))
    filler = {f: n for f, n in self_of.items() if f and f.startswith("filler_")}
    ck.equal(filler, {}, "%s: no sample names a function of the filler" % label)
    marks = pstest.markers(os.path.join(HERE, "dlreload_lib.c"))
    d = lambda n: pstest.define(os.path.join(HERE, "dlreload.c"), n)
    size = d("RELOAD_SIZE")
    for which, n in (("first", d("RELOAD_FIRST")), ("second", d("RELOAD_SECOND"))):
        found = pstest.leaks_at(rep, "dlreload_lib.c", marks["LEAK:" + which])
        ck.check(len(found) == 1 and found[0]["blocks"] == n and found[0]["bytes"] == n * size
                 and found[0]["stack"][0].get("function") == "reload_leak_" + which,
                 "%s: %d blocks of the %s load at LEAK:%s in reload_leak_%s" %
                 (label, n, which, which, which), json.dumps(found)[:1500])
    named = {f.get("function") for l in rep["leaks"] for f in l["stack"]}
    ck.check(not any(f and f.startswith("filler_") for f in named),
             "%s: no leak's frame names the filler" % label, repr(sorted(map(str, named))))


def main():
    args = pstest.parse_args()
    ck = pstest.Checker("test_dlreload")
    for mode in ([], ["--close"]):
        check(args, ck, mode)
    ck.done()


if __name__ == "__main__":
    main()
