#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_dlclose.py — tests/integration/dlleak.c loads libdlleak_lib.so, makes it leak, dlclose()s
it, loads it again at another address (it reserves the old range first), leaks again and
dlclose()s it again, all before exit. The exit snapshot's module map no longer has the plugin;
the UNLOADED_MODULES chunk must carry both copies, and every leaked block must be reported with
the plugin's function names and file:line (LEAK:dl_lib), in two stacks (one per load address):
DLLEAK_FIRST and DLLEAK_SECOND blocks. Run with and without a perfshim_dump() while the first
copy is loaded (then the dump's MODULES chunk has it too), and through `perfshim run`."""
import os
import re
import struct

import pstest

CHUNK_UNLOADED_MODULES = 12


def unloaded_modules(path):
    """[(base, start, end, path, unload_ns)] of the last UNLOADED_MODULES chunk, read raw."""
    tr = pstest.RawTrace(path)
    out = None
    with open(path, "rb") as f:
        data = f.read()
    for off, typ, _total in tr.chunks:
        if typ != CHUNK_UNLOADED_MODULES:
            continue
        p = data[off + 16:off + _total]
        n, _res, _dropped = struct.unpack_from("<IIQ", p, 0)
        q, out = 16, []
        for _ in range(n):
            base, start, end = struct.unpack_from("<3Q", p, q)
            mpath, q = tr._str(p, q + 24)
            bl, = struct.unpack_from("<I", p, q)
            q += 4 + bl
            when, = struct.unpack_from("<Q", p, q)
            q += 8
            out.append((base, start, end, mpath, when))
    return tr, out


def check_report(ck, rep, label):
    lib_src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dlleak_lib.c")
    host_src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dlleak.c")
    lib_marks = pstest.markers(lib_src)
    d = lambda n: pstest.define(host_src, n)
    size = d("DLLEAK_SIZE")
    if not pstest.check_report_shape(ck, rep, label):
        return
    found = pstest.leaks_at(rep, "dlleak_lib.c", lib_marks["LEAK:dl_lib"])
    got = sorted((l["blocks"], l["bytes"]) for l in found)
    want = sorted([(d("DLLEAK_FIRST"), d("DLLEAK_FIRST") * size),
                   (d("DLLEAK_SECOND"), d("DLLEAK_SECOND") * size)])
    ck.equal(got, want, "%s: the plugin's leaks at LEAK:dl_lib, one stack per load" % label)
    for l in found:
        fr = l["stack"]
        ck.check(fr[0].get("function") == "dlleak_block"
                 and fr[1].get("function") == "dlleak_make"
                 and os.path.basename(fr[1].get("file") or "") == "dlleak_lib.c"
                 and os.path.basename(fr[0].get("module") or "") == "libdlleak_lib.so",
                 "%s: frames inside the unloaded plugin are named (%d blocks)"
                 % (label, l["blocks"]), pstest.fmt_leak(l))
        ck.check(any(f.get("function") == "round_trip" for f in fr),
                 "%s: the host's caller is in the stack" % label, pstest.fmt_leak(l))
    addrs = {int(l["stack"][0]["address"], 16) for l in found}
    ck.equal(len(addrs), 2, "%s: the two copies' leaks have different addresses" % label)
    unnamed = [l for l in rep["leaks"] if any(f.get("function") is None and
                                              "dlleak" in (f.get("module") or "")
                                              for f in l["stack"])]
    ck.check(not unnamed, "%s: no unnamed frame in dlleak or its plugin" % label,
             "\n".join(pstest.fmt_leak(l) for l in unnamed))
    pstest.check_nonleaks(ck, rep, lib_src, lib_marks, label)


def main():
    args = pstest.parse_args()
    ck = pstest.Checker("test_dlclose")
    lib = os.path.join(args.libdir, "libdlleak_lib.so")
    prog = os.path.join(args.bindir, "dlleak")
    for extra in ([], ["--dump"]):
        label = "dlleak " + " ".join(extra) if extra else "dlleak"
        work = pstest.tmpdir("dlclose")
        p, traces, reports = pstest.preload_and_analyze(args, ck, [prog, lib] + extra, work)
        m = re.search(rb"dlleak: first (0x[0-9a-f]+) second (0x[0-9a-f]+) done", p.stderr)
        if not ck.check(p.returncode == 0 and m, "%s: exits 0 and prints both bases" % label,
                        pstest.describe(p)):
            continue
        bases = [int(x, 16) for x in m.groups()]
        ck.check(bases[0] != bases[1], "%s: the second copy was loaded elsewhere (%#x, %#x)"
                 % (label, bases[0], bases[1]))
        if not ck.equal(len(traces), 1, "%s: one trace" % label):
            continue
        tr, unl = unloaded_modules(traces[0])
        ck.check(tr.error is None, "%s: the trace reads cleanly" % label, str(tr.error))
        ck.check(not any(m[3].endswith("libdlleak_lib.so") for m in tr.modules),
                 "%s: the exit module map no longer has the plugin" % label)
        plug = sorted(m[0] for m in (unl or []) if m[3].endswith("libdlleak_lib.so"))
        ck.equal(plug, sorted(bases), "%s: UNLOADED_MODULES has both copies" % label)
        ck.check(unl and all(m[4] > 0 for m in unl),
                 "%s: every unload has a time" % label, repr(unl))
        if reports:
            check_report(ck, reports[0], label)

    work = pstest.tmpdir("dlclose-run")
    p, reports = pstest.perfshim_run_json(args, ck, [prog, lib], work)
    ck.equal(p.returncode, 0, "perfshim run: exit status")
    if reports and ck.equal(len(reports), 1, "perfshim run: one report"):
        check_report(ck, reports[0], "perfshim run")
    ck.done()


if __name__ == "__main__":
    main()
