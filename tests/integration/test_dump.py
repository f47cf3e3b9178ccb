#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_dump.py — examples/dump.c: perfshim_dump() writes a DUMP snapshot in the middle of the
run. Checks: without the shim perfshim_dump() returns -1 and the program still works; under the
shim it returns 0; the raw trace holds a DUMP snapshot where exactly the phase-1 blocks are live
and an EXIT snapshot where only the phase-2 blocks are; `perfshim leaks` reports the exit state
(phase 2 only); `perfshim summary --json` counts both snapshots; and the trace cut right
after the DUMP snapshot makes `perfshim leaks` report exactly the phase-1 blocks."""
import json
import os

import pstest


def main():
    args = pstest.parse_args()
    ck = pstest.Checker("test_dump")
    src = os.path.join(args.srcdir, "dump.c")
    marks = pstest.markers(src)
    d = lambda n: pstest.define(src, n)
    n1, s1, n2, s2 = (d("DUMP_PHASE1_COUNT"), d("DUMP_PHASE1_SIZE"), d("DUMP_PHASE2_COUNT"),
                      d("DUMP_PHASE2_SIZE"))
    prog = os.path.join(args.bindir, "dump")

    bare = pstest.run([prog])
    ck.equal(bare.returncode, 0, "exit status without the shim")
    ck.check(b"perfshim_dump() returned -1" in bare.stderr,
             "perfshim_dump() returns -1 without the shim", pstest.describe(bare))

    work = pstest.tmpdir("dump")
    p, traces, reports = pstest.preload_and_analyze(args, ck, [prog], work)
    ck.equal(p.returncode, 0, "exit status under the shim")
    ck.check(b"perfshim_dump() returned 0" in p.stderr, "perfshim_dump() returns 0 under the shim",
             pstest.describe(p))
    if not ck.check(len(traces) == 1, "one trace", repr(traces)):
        ck.done()

    raw = pstest.RawTrace(traces[0])
    ck.check(raw.error is None and raw.end is not None, "raw trace is complete", str(raw.error))
    reasons = [s["reason"] for s in raw.snapshots]
    ck.equal(reasons, [pstest.SNAP_DUMP, pstest.SNAP_EXIT], "snapshot reasons in order")
    if reasons == [pstest.SNAP_DUMP, pstest.SNAP_EXIT]:
        dump, exit_ = raw.snapshots
        ck.equal((dump["totals"]["live_blocks"], dump["totals"]["live_bytes"]), (n1, n1 * s1),
                 "live blocks/bytes at the dump")
        ck.equal((exit_["totals"]["live_blocks"], exit_["totals"]["live_bytes"]), (n2, n2 * s2),
                 "live blocks/bytes at exit")
        rows1 = [r for r in dump["rows"] if r["live_blocks"]]
        ck.equal([(r["live_blocks"], r["live_bytes"]) for r in rows1], [(n1, n1 * s1)],
                 "dump snapshot: one row live, the phase-1 site")
        if rows1:
            sid = rows1[0]["stack_id"]
            later = [r for r in exit_["rows"] if r["stack_id"] == sid]
            ck.check(later and later[0]["frees"] == n1 and later[0]["live_blocks"] == 0,
                     "exit snapshot: the phase-1 site is all freed", repr(later))
        ck.check(exit_["totals"]["peak_live_bytes"] >= n1 * s1,
                 "peak live bytes covers phase 1", repr(exit_["totals"]))

    if len(reports) == 1:
        rep = reports[0]
        if pstest.check_report_shape(ck, rep, "dump"):
            pstest.check_site(ck, rep, src, marks, "dump_phase2", n2, n2 * s2, "phase2_alloc",
                              "leaks at exit")
            pstest.check_site(ck, rep, src, marks, "dump_phase1", 0, 0, None, "leaks at exit")

    # The analyzer counts both snapshots and reports the last (exit) one.
    s = pstest.run([args.perfshim, "summary", "--json", traces[0]])
    ck.equal(s.returncode, 0, "perfshim summary --json exit status")
    try:
        doc = json.loads(s.stdout.decode("utf-8"))
    except ValueError as e:
        ck.fatal("perfshim summary --json prints JSON (%s)" % e, pstest.describe(s))
    snap = doc.get("snapshot", {}) if isinstance(doc, dict) else {}
    ck.equal((snap.get("snapshots"), snap.get("reason")), (2, "exit"),
             "summary: snapshot count (dump + exit) and the reported one")
    totals = doc.get("totals", {}) if isinstance(doc, dict) else {}
    ck.equal((totals.get("allocs"), totals.get("frees"), totals.get("live_blocks"),
              totals.get("live_bytes"), totals.get("peak_live_bytes")),
             (n1 + n2, n1, n2, n2 * s2, max(n1 * s1, n2 * s2)),
             "summary totals: allocs, frees, live blocks/bytes, peak live bytes")

    # The leaks at the dump point, as the analyzer sees them: the same trace cut right after
    # the DUMP snapshot (what a process killed after its dump leaves) reports that snapshot.
    dump_chunks = [c for c in raw.chunks if c[1] == pstest.CHUNK_SNAPSHOT]
    if dump_chunks:
        off, _, n = dump_chunks[0]
        cut = os.path.join(work, "at-dump.trace")
        with open(traces[0], "rb") as f:
            head = f.read(off + n)
        with open(cut, "wb") as f:
            f.write(head)
        a = pstest.run([args.perfshim, "leaks", "--json", cut])
        ck.equal(a.returncode, 0, "leaks --json on the trace cut after the dump: exit status")
        try:
            rep = pstest.load_reports(a.stdout.decode("utf-8"))[0]
        except (ValueError, IndexError) as e:
            ck.fatal("leaks --json on the cut trace prints a report (%s)" % e, pstest.describe(a))
        ck.equal(rep.get("snapshot", {}).get("reason"), "dump",
                 "the cut trace's report is of the dump snapshot")
        if pstest.check_report_shape(ck, rep, "at dump"):
            pstest.check_site(ck, rep, src, marks, "dump_phase1", n1, n1 * s1, "phase1_alloc",
                              "leaks at the dump")
            pstest.check_site(ck, rep, src, marks, "dump_phase2", 0, 0, None, "leaks at the dump")
            ck.equal((rep["totals"]["leaked_blocks"], rep["totals"]["leaked_bytes"]),
                     (n1, n1 * s1), "leak totals at the dump")
    ck.done()


if __name__ == "__main__":
    main()
