#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_interval.py — PERFSHIM_INTERVAL (issue 11): tests/integration/interval.c allocates for
1.5 s under PERFSHIM_INTERVAL=200ms. Checks: the program sees the same descriptors and threads
as without the shim and prints nothing more; the trace is complete and holds several INTERVAL
snapshots (at least 2: a loaded machine may run the program slowly) at increasing times, then
the EXIT snapshot; the exit snapshot's figures are exactly what the program says it allocated
and kept; `perfshim summary --json` counts every snapshot; and copies of the trace cut at many
offsets inside the last snapshot (a writer killed mid-write) analyze to the previous
snapshot's figures. No wall-clock assertion beyond "several snapshots"."""
import json
import os
import re

import pstest


def summary_json(args, path):
    p = pstest.run([args.perfshim, "summary", "--json", path])
    try:
        return p, json.loads(p.stdout.decode("utf-8"))
    except ValueError:
        return p, None


def main():
    args = pstest.parse_args()
    ck = pstest.Checker("test_interval")
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "interval.c")
    marks = pstest.markers(src)
    keep_size = pstest.define(src, "INTERVAL_KEEP_SIZE")
    churn_size = pstest.define(src, "INTERVAL_CHURN_SIZE")
    prog = os.path.join(args.bindir, "interval")
    work = pstest.tmpdir("interval")
    env = {"PERFSHIM_INTERVAL": "200ms", "PERFSHIM_OUTPUT": os.path.join(work, "%e.%p.trace")}

    bare = pstest.run([prog], env=env, cwd=work)
    ck.equal(bare.returncode, 0, "exit status without the shim")
    shim = pstest.run([prog], env=dict(env, LD_PRELOAD=args.lib), cwd=work)
    ck.equal(shim.returncode, 0, "exit status under the shim")
    ck.equal(shim.stderr, b"", "nothing on stderr under the shim")
    m = re.search(rb"kept (\d+) churned (\d+)\nfds (\d+) threads (\d+)", shim.stdout)
    mb = re.search(rb"fds (\d+) threads (\d+)", bare.stdout)
    if not ck.check(m is not None and mb is not None, "the program prints its counts",
                    pstest.describe(shim)):
        ck.done()
    kept, churned = int(m.group(1)), int(m.group(2))
    ck.equal((int(m.group(3)), int(m.group(4))), (int(mb.group(1)), int(mb.group(2))),
             "descriptors and threads mid-run, as without the shim (no thread, no open trace)")

    traces = [os.path.join(work, f) for f in os.listdir(work) if f.endswith(".trace")]
    if not ck.check(len(traces) == 1, "one trace", repr(traces)):
        ck.done()
    raw = pstest.RawTrace(traces[0])
    ck.check(raw.error is None and raw.end is not None, "the trace is complete", str(raw.error))
    reasons = [s["reason"] for s in raw.snapshots]
    nint = reasons.count(pstest.SNAP_INTERVAL)
    ck.check(nint >= 2 and reasons == [pstest.SNAP_INTERVAL] * nint + [pstest.SNAP_EXIT],
             "several INTERVAL snapshots, then EXIT", repr(reasons))
    times = [s["time_ns"] for s in raw.snapshots]
    ck.check(all(a < b for a, b in zip(times, times[1:])), "snapshot times increase", repr(times))
    keeps = [s["totals"]["live_blocks"] for s in raw.snapshots[:-1]]
    ck.check(all(a <= b for a, b in zip(keeps, keeps[1:])) and (not keeps or keeps[-1] <= kept),
             "live blocks grow from snapshot to snapshot (the program only keeps more)",
             repr(keeps))

    # The exit snapshot: exactly what the program made (leaks and summary agree).
    a = pstest.run([args.perfshim, "leaks", "--json", traces[0]])
    try:
        rep = pstest.load_reports(a.stdout.decode("utf-8"))[0]
    except (ValueError, IndexError) as e:
        ck.fatal("perfshim leaks --json prints a report (%s)" % e, pstest.describe(a))
    ck.equal(rep.get("snapshot", {}).get("reason"), "exit", "leaks reports the exit snapshot")
    if pstest.check_report_shape(ck, rep, "exit"):
        pstest.check_site(ck, rep, src, marks, "interval_keep", kept, kept * keep_size,
                          "keep_alloc", "leaks at exit")
    p, doc = summary_json(args, traces[0])
    if ck.check(doc is not None, "summary --json prints JSON", pstest.describe(p)):
        ck.equal(doc["snapshot"]["snapshots"], len(raw.snapshots),
                 "summary --json counts every snapshot")
    exit_rows = raw.snapshots[-1]["rows"]
    churn_rows = [r for r in exit_rows
                  if r["allocs"] == churned and r["alloc_bytes"] == churned * churn_size]
    ck.check(len(churn_rows) == 1 and churn_rows[0]["frees"] == churned and
             churn_rows[0]["live_blocks"] == 0,
             "exit snapshot: the churn site made %d allocations and freed them all" % churned,
             repr(churn_rows))

    # Torn writes: cut inside the last snapshot (from the end of the previous SNAPSHOT chunk to
    # the last byte before the exit SNAPSHOT chunk ends). The analyzer reports the previous one.
    snaps = [c for c in raw.chunks if c[1] == pstest.CHUNK_SNAPSHOT]
    if len(snaps) >= 2 and nint >= 1:
        prev = raw.snapshots[-2]
        start = snaps[-2][0] + snaps[-2][2]
        stop = snaps[-1][0] + snaps[-1][2]
        cuts = set(range(start, stop, max(1, (stop - start) // 40)))
        for off, _typ, n in raw.chunks:  # every chunk boundary of the last snapshot, +-1
            for c in (off - 1, off, off + 1, off + 15, off + 16, off + 17):
                if start <= c < stop:
                    cuts.add(c)
        cuts.add(stop - 1)
        with open(traces[0], "rb") as f:
            data = f.read()
        cut_path = os.path.join(work, "cut.trace")
        bad = []
        for c in sorted(cuts):
            with open(cut_path, "wb") as f:
                f.write(data[:c])
            p, d = summary_json(args, cut_path)
            got = None
            if p.returncode == 0 and d is not None:
                t = d.get("totals", {})
                got = (d["snapshot"]["reason"], d["snapshot"]["time_ns"], t.get("allocs"),
                       t.get("frees"), t.get("live_blocks"), t.get("live_bytes"),
                       d["snapshot"]["snapshots"])
            want = ("interval", prev["time_ns"], prev["totals"]["allocs"],
                    prev["totals"]["frees"], prev["totals"]["live_blocks"],
                    prev["totals"]["live_bytes"], len(raw.snapshots) - 1)
            if got != want:
                bad.append((c, got, want, p.stderr[-300:]))
        ck.check(not bad, "%d cuts inside the last snapshot (bytes %d..%d) analyze to the "
                 "previous snapshot's figures" % (len(cuts), start, stop - 1), repr(bad[:3]))
    ck.done()


if __name__ == "__main__":
    main()
