#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_lazybind.py — CPU samples taken inside the loader's lazy binding keep their callers.
tests/integration/lazybind.c loads lazybind_lib.so (linked -z lazy) and, round after round, calls
its 4096 functions through the plugin's PLT and unbinds the slots again, so that each call binds
a slot: ld.so's
_dl_runtime_resolve_* trampoline, which realigns the stack and keeps its CFA in rbx, then
_dl_fixup and the symbol lookup. At PERFSHIM_CPU_HZ=5000 hundreds of samples land there. Each
stack through the trampoline must go on to its caller, lazy_dispatch (the function whose PLT
call is being bound), then lazybind_round, main, and end at _start: before the register walk
(shim/unwind.c, walk_regs) every one of them ended at the trampoline. Samples in the plugin's
PLT stubs (CFA given by a DWARF expression) must reach lazy_dispatch and _start too, and at
most one sample in a hundred may be cut short (before: some 5% were; a tick that lands in the signal
trampoline itself still is)."""
import json
import os
import re
import subprocess

import pstest

ROUNDS = 150


def main():
    args = pstest.parse_args()
    ck = pstest.Checker("test_lazybind")
    os.environ.pop("LD_BIND_NOW", None)  # every slot bound at dlopen: no lazy binding at all
    lib = os.path.join(args.libdir, "liblazybind_lib.so")
    prog = os.path.join(args.bindir, "lazybind")
    work = pstest.tmpdir("lazybind")
    # the plugin's PLT: samples land in its stubs by chance (the CPU timer fires on the
    # kernel's tick, each signal weighing some 20 samples at 5000 Hz: about 3 ticks a run reach
    # the stubs, none in 1 run of 20 here), so a run without one is repeated, 3 runs at most
    r = subprocess.run(["readelf", "-SW", lib], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    m = re.search(rb"\]\s+\.plt\s+PROGBITS\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)", r.stdout)
    plt = (int(m.group(1), 16), int(m.group(1), 16) + int(m.group(2), 16)) if m else None
    for attempt in range(3):
        trace = os.path.join(work, "l%d.trace" % attempt)
        env = {"LD_PRELOAD": args.lib, "PERFSHIM_CPU_HZ": "5000", "PERFSHIM_OUTPUT": trace}
        p = pstest.run([prog, lib, str(ROUNDS)], env=env, cwd=work, timeout=120)
        if not ck.check(p.returncode == 0 and b"lazybind: %d rounds of " % ROUNDS in p.stdout,
                        "lazybind runs %d rounds" % ROUNDS, pstest.describe(p)):
            ck.done()
        h = pstest.run([args.perfshim, "hot", "--json", "--top", "0", trace], cwd=work)
        if not ck.check(h.returncode == 0, "perfshim hot --json exits 0", pstest.describe(h)):
            ck.done()
        cpu = json.loads(h.stdout)["cpu"]
        in_plt = [(st, [f.get("function") or "?" for f in st["stack"]]) for st in cpu["stacks"]
                  if plt and (st["stack"][0].get("module") or "").endswith("liblazybind_lib.so")
                  and plt[0] <= int(st["stack"][0]["offset"], 16) < plt[1]]
        if in_plt:
            break
        print("note: run %d: no sample in the plugin's PLT stubs; run again" % (attempt + 1))
    stacks = [([f.get("function") or "?" for f in st["stack"]], st["samples"])
              for st in cpu["stacks"]]
    if not any(f in ("_dl_fixup", "_dl_lookup_symbol_x") for fr, _ in stacks for f in fr):
        ck.skip("the loader's functions are not named here (no symbols for ld.so)")
    through = [(fr, n) for fr, n in stacks
               if any(f.startswith("_dl_runtime_resolve") for f in fr)]
    total = sum(n for _, n in through)
    # 150 rounds bind 614k slots: about 0.2 s of CPU, some 700 samples in the binding here; 50
    # is a floor far below that, so that the checks below are about many stacks
    ck.check(total >= 50, "at least 50 samples inside the lazy binding (%d of %d)"
             % (total, cpu["samples"]), repr(cpu["functions"][:8]))

    def whole(fr):
        k = max(i for i, f in enumerate(fr) if f.startswith("_dl_runtime_resolve"))
        return fr[k + 1:k + 4] == ["lazy_dispatch", "lazybind_round", "main"] and \
            fr[-1] == "_start"
    cut = [(fr, n) for fr, n in through if not whole(fr)]
    ck.check(not cut, "every stack through _dl_runtime_resolve* goes on to lazy_dispatch, "
             "lazybind_round, main and _start (%d of %d samples do not)"
             % (sum(n for _, n in cut), total), "\n".join(repr(c) for c in cut[:5]))
    # the PLT stubs: their CFA is the linker's expression (rsp + 8 or 16, by rip & 15)
    if ck.check(m, "readelf -SW shows the plugin's .plt", r.stdout.decode()[:2000]):
        n = sum(st["samples"] for st, _ in in_plt)
        ck.check(n > 0, "samples in the plugin's PLT stubs (%d)" % n, repr(cpu["functions"][:8]))
        bad = [fr for _, fr in in_plt
               if fr[1:4] != ["lazy_dispatch", "lazybind_round", "main"] or fr[-1] != "_start"]
        ck.check(not bad, "every stack from a PLT stub goes on to lazy_dispatch, "
                 "lazybind_round, main and _start", "\n".join(repr(b) for b in bad[:5]))
    # main's shim cut about 5% (38-48 of ~800); a sample that lands in the signal trampoline
    # itself (a tick while the handler returns, more likely on a loaded machine) is still cut
    ck.check(cpu.get("partial", 0) <= max(1, cpu["samples"] // 100),
             "at most 1%% of samples cut short (%d of %d)" % (cpu.get("partial", 0),
                                                              cpu["samples"]))
    # the samples deeper in the binding: _dl_fixup's callees, under the trampoline
    deep = sum(n for fr, n in through if "_dl_fixup" in fr)
    ck.check(deep > 0, "samples inside _dl_fixup, under the trampoline (%d)" % deep,
             repr(through[:3]))
    ck.done()


if __name__ == "__main__":
    main()
