#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_service.py — the example service (examples/service.c) under PERFSHIM_INTERVAL=100ms,
then `perfshim timeline --json`, checked against the counts the service prints at exit:
- the trace holds several snapshots (interval ones, then exit), every one in the timeline;
- the leak site (leak_request) holds exactly one block of B bytes per request at every
  snapshot, grows at every interval snapshot, and ends at requests x B bytes exactly;
- the cache site (cache_insert) never holds more than its capacity, ends at exactly the
  entries x entry bytes the service reports, and is flat at that plateau over the last
  snapshots (the LRU filled, then evicted);
- the churn (handle_request) never shows among the sites with live bytes at the end;
- `leaks --at max` and `summary --at 0.25` report the snapshot they say, and the text timeline
  shows the sites and an ASCII chart with --ascii.
Snapshot times depend on the machine's speed; no assertion depends on them beyond order."""
import json
import os
import re

import pstest


def function_of(site):
    for f in site.get("stack", []):
        if f.get("function"):
            return f["function"]
    return None


def main():
    args = pstest.parse_args()
    ck = pstest.Checker("test_service")
    prog = os.path.join(args.bindir, "service")
    work = pstest.tmpdir("service")
    env = {"LD_PRELOAD": args.lib, "PERFSHIM_INTERVAL": "100ms",
           "PERFSHIM_OUTPUT": os.path.join(work, "%e.%p.trace")}
    p = pstest.run([prog, "--duration", "1.2", "--rate", "2500"], env=env, cwd=work)
    ck.equal(p.returncode, 0, "the service exits 0 under the shim")
    ck.equal(p.stderr, b"", "nothing on stderr")
    m = re.search(rb"requests (\d+) leak_bytes_per_request (\d+) cache_entries (\d+) "
                  rb"cache_entry_bytes (\d+)", p.stdout)
    if not ck.check(m is not None, "the service prints its counts", pstest.describe(p)):
        ck.done()
    requests, leak, entries, entry_bytes = (int(x) for x in m.groups())
    traces = [os.path.join(work, f) for f in os.listdir(work) if f.endswith(".trace")]
    if not ck.check(len(traces) == 1, "one trace", repr(traces)):
        ck.done()
    trace = traces[0]

    q = pstest.run([args.perfshim, "timeline", "--json", "--top", "10", trace])
    try:
        doc = json.loads(q.stdout.decode())
    except ValueError:
        ck.fatal("timeline --json prints JSON", pstest.describe(q))
    ck.equal(doc.get("format"), "perfshim-timeline", "format")
    tl = doc["timeline"]
    n = doc["snapshot"]["snapshots"]
    ck.check(n >= 3 and len(tl) == n, "several snapshots, every one in the timeline",
             "%d snapshots, %d entries" % (n, len(tl)))
    reasons = [e["reason"] for e in tl]
    ck.equal(reasons, ["interval"] * (n - 1) + ["exit"], "interval snapshots, then exit")
    ck.check(all(a["time_ns"] < b["time_ns"] for a, b in zip(tl, tl[1:])), "times increase")
    names = [function_of(s) for s in doc["sites"]]
    if not ck.check("leak_request" in names and "cache_insert" in names,
                    "the leak and the cache are among the top sites", repr(names)):
        ck.done()
    li, ci = names.index("leak_request"), names.index("cache_insert")
    ck.equal(li, 0, "the leak is the top site at the end")
    ck.check("handle_request" not in names, "the churn holds nothing at the end", repr(names))

    lb = [e["site_live_bytes"][li] for e in tl]
    lk = [e["site_live_blocks"][li] for e in tl]
    ck.check(all(b == k * leak for b, k in zip(lb, lk)),
             "leak: one block of %d bytes per request at every snapshot" % leak, repr(lb))
    ck.check(all(a < b for a, b in zip(lb[:-1], lb[1:-1])) and lb[-1] >= lb[-2],
             "leak: grows at every interval snapshot", repr(lb))
    ck.equal(lb[-1], requests * leak, "leak at exit: requests x bytes, exactly")
    ck.equal(doc["sites"][li]["live_blocks"], requests, "leak: one block per request")

    cb = [e["site_live_bytes"][ci] for e in tl]
    plateau = entries * entry_bytes
    ck.check(all(b <= plateau for b in cb), "cache: never above its capacity", repr(cb))
    ck.equal(cb[-1], plateau, "cache at exit: entries x entry bytes, exactly")
    # (an interval snapshot is written by the allocation that finds it due: one taken by
    # cache_insert's malloc sees the entry just evicted, and not yet its replacement)
    ck.check(len(cb) >= 3 and all(plateau - entry_bytes <= b <= plateau for b in cb[-3:]),
             "cache: flat at the plateau at the end (within the one entry being replaced)",
             repr(cb))
    ck.check(doc["sites"][ci]["allocs"] > entries, "cache: filled, then evicted",
             repr(doc["sites"][ci]))
    ck.check(all(e["alloc_bytes_per_s"] and e["alloc_bytes_per_s"] > 0 for e in tl),
             "an allocation rate at every snapshot")

    best = max(range(n), key=lambda i: (tl[i]["live_bytes"], -i))
    q = pstest.run([args.perfshim, "leaks", "--json", "--at", "max", trace])
    try:
        rep = json.loads(q.stdout.decode())
        ck.equal(rep["snapshot"]["number"], best + 1, "leaks --at max: the highest live heap")
        ck.equal(rep["snapshot"]["time_ns"], tl[best]["time_ns"], "leaks --at max: its time")
    except (ValueError, KeyError):
        ck.check(False, "leaks --at max --json", pstest.describe(q))
    q = pstest.run([args.perfshim, "summary", "--json", "--at", "0.25", trace])
    want = [e for e in tl if e["time_ns"] <= 250000000]
    try:
        rep = json.loads(q.stdout.decode())
        if want:
            ck.equal(rep["snapshot"]["number"], want[-1]["number"],
                     "summary --at 0.25: the last snapshot at or before 0.25 s")
            ck.equal(rep["totals"]["live_bytes"], want[-1]["live_bytes"],
                     "summary --at 0.25: its live heap")
    except (ValueError, KeyError):
        ck.check(not want and q.returncode == 2, "summary --at 0.25", pstest.describe(q))

    q = pstest.run([args.perfshim, "timeline", "--ascii", "--top", "2", trace])
    text = q.stdout.decode()
    ck.check(q.returncode == 0 and "leak_request (service.c:" in text and
             re.search(r"\n  site 1 +[ .:=+*#%@-]+  max ", text) is not None,
             "text: the sites' frames and an ASCII chart", text[-1500:])
    ck.done()


if __name__ == "__main__":
    main()
