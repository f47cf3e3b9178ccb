#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_timeline_memory.py — `perfshim timeline` (and `perfshim growth`) over a week of 10 s
snapshots in bounded memory.

bigtrace (tests/integration/bigtrace.c) writes the trace of a simulated service with full and
delta snapshots: a week (60480 snapshots, 2000 stacks, packed deltas), the same service over a tenth of the
time (6048 snapshots), and a stress case of 100,000 stacks. Checks:
- every snapshot of the week is in the timeline JSON, in order, with its time, its kind (full
  or delta), and the exact series of the leak site (requests x 64 bytes) and of the cache site
  (plateau at 5000 x 128 bytes), as the generator made them;
- `summary --at max` picks the snapshot with the highest live heap, `--at 3600s` the 360th;
- memory: the analyzer's peak RSS (ru_maxrss, from the small wrapper maxrss.c) for the week stays under RSS_BOUND and
  within RSS_GROWTH of the tenth: keeping even 40 bytes per snapshot would exceed the latter
  (60480 - 6048 snapshots), keeping the rows of every snapshot the former many times over;
  the 100,000-stack case stays under STRESS_BOUND;
- `perfshim growth` over the week and the tenth: the same two memory bounds, and the leak
  first, unbounded, at the generator's bytes per allocation and per second.
No wall-clock assertion (times are printed, for information)."""
import json
import os
import subprocess
import time

import pstest

RSS_BOUND = 24 << 20      # bytes: the week, 2000 stacks (8 MB measured)
RSS_GROWTH = 2 << 20      # bytes: week minus tenth
STRESS_BOUND = 100 << 20  # bytes: 100,000 stacks (58 MB measured)


def measured(args, cmd, stdout):
    """Runs cmd under maxrss (a small wrapper: a child forked from this script would count the
    script's own memory); returns (status, peak RSS in bytes, seconds, stderr)."""
    t0 = time.monotonic()
    p = subprocess.run([os.path.join(args.bindir, "maxrss")] + cmd, stdout=stdout,
                       stderr=subprocess.PIPE)
    secs = time.monotonic() - t0
    err = p.stderr.decode(errors="replace").rstrip("\n").split("\n")
    rss = int(err[-1].split()[1]) * 1024 if err[-1].startswith("maxrss ") else 1 << 62
    return p.returncode, rss, secs, "\n".join(err[:-1])


def generate(args, ck, path, *opts):
    gen = os.path.join(args.bindir, "bigtrace")
    p = pstest.run([gen, path] + [str(o) for o in opts], timeout=600)
    if not ck.check(p.returncode == 0, "bigtrace %s" % " ".join(map(str, opts)),
                    pstest.describe(p)):
        ck.done()
    return json.loads(p.stdout.decode())


def timeline(args, ck, path, label):
    out = path + ".json"
    with open(out, "wb") as f:
        rc, rss, secs, err = measured(args, [args.perfshim, "timeline", "--json", path], f)
    size = os.path.getsize(path)
    print("%s: %.1f MB trace: timeline --json %.2f s, peak RSS %.1f MB" %
          (label, size / 1e6, secs, rss / 1e6))
    ck.equal(rc, 0, "%s: timeline exits 0 (%s)" % (label, err[-300:]))
    return out, rss


def main():
    args = pstest.parse_args()
    ck = pstest.Checker("test_timeline_memory")
    work = pstest.tmpdir("timeline_memory")
    week = os.path.join(work, "week.trace")
    tenth = os.path.join(work, "tenth.trace")
    stress = os.path.join(work, "stress.trace")

    # the week's deltas packed, as current shims write them (SNAPSHOT_PACKED); the tenth's and
    # the stress case's as older shims did (SNAPSHOT_DELTA)
    g = generate(args, ck, week, "--snapshots", 60480, "--stacks", 2000, "--packed", 1)
    out, rss_week = timeline(args, ck, week, "week")
    with open(out) as f:
        doc = json.load(f)
    os.unlink(out)
    tl = doc.get("timeline", [])
    n = g["snapshots"]
    ck.equal(len(tl), n, "one timeline entry per snapshot")
    ck.equal(doc["snapshot"]["snapshots"], n, "the report counts every snapshot")
    ck.equal(doc["warnings"], [], "no warnings")
    ck.equal([e["number"] for e in tl], list(range(1, n + 1)), "entries in order")
    ck.check(all(e["time_ns"] == k * g["interval_ns"] for k, e in enumerate(tl, 1)),
             "times are the generator's")
    full = [e["number"] for e in tl if not e["delta"]]
    ck.equal(len(full), g["full"], "full snapshots (keyframes) as written")
    sites = doc.get("sites", [])
    if ck.check(len(sites) >= 2, "at least two sites followed", repr(sites)[:300]):
        r, leak, cache = g["requests_per_snapshot"], g["leak_size"], g["cache_size"]
        ck.equal(sites[0]["live_bytes"], n * r * leak, "site 1 is the leak")
        ck.equal(sites[1]["live_bytes"], g["cache_entries"] * cache, "site 2 is the cache")
        bad = [(k, e["site_live_bytes"][:2]) for k, e in enumerate(tl, 1)
               if e["site_live_bytes"][0] != k * r * leak or
               e["site_live_bytes"][1] != min(k * r, g["cache_entries"]) * cache]
        ck.check(not bad, "the leak grows by requests x %d bytes per snapshot and the cache "
                 "plateaus, at every snapshot (deltas applied)" % leak, repr(bad[:5]))
    ck.equal(tl[-1]["live_bytes"], g["final_live_bytes"], "final live heap")
    ck.equal(tl[g["max_live_number"] - 1]["live_bytes"], g["max_live_bytes"],
             "live heap at its highest")
    rates = [e["allocs_per_s"] for e in tl[1:]]
    ck.check(all(x is not None and x > 0 for x in rates), "allocation rates since the previous")

    for at, want in (("max", g["max_live_number"]), ("3600s", 360), ("3605", 360),
                     ("last", n)):
        p = pstest.run([args.perfshim, "summary", "--json", "--top", "1", "--at", at, week])
        try:
            d = json.loads(p.stdout.decode())
            got = d["snapshot"]["number"]
        except (ValueError, KeyError):
            got = None
        ck.equal(got, want, "summary --at %s reports snapshot %d" % (at, want))
        if at == "max" and got == want:
            ck.equal(d["totals"]["live_bytes"], g["max_live_bytes"], "--at max: its live heap")

    generate(args, ck, tenth, "--snapshots", 6048, "--stacks", 2000)
    out, rss_tenth = timeline(args, ck, tenth, "tenth")
    os.unlink(out)
    ck.check(rss_week <= RSS_BOUND, "week: peak RSS %.1f MB <= %.1f MB" %
             (rss_week / 1e6, RSS_BOUND / 1e6))
    ck.check(rss_week - rss_tenth <= RSS_GROWTH,
             "10x the snapshots: peak RSS %.1f MB vs %.1f MB, within %.1f MB" %
             (rss_week / 1e6, rss_tenth / 1e6, RSS_GROWTH / 1e6))

    # perfshim growth over the same traces: the same bound (its series: 64 points per site),
    # the leak unbounded at the generator's rate, per allocation and per second
    rss_growth = {}
    for label, path in (("week", week), ("tenth", tenth)):
        with open(path + ".growth", "wb") as f:
            rc, rss_growth[label], secs, err = measured(
                args, [args.perfshim, "growth", "--json", path], f)
        print("%s: growth --json %.2f s, peak RSS %.1f MB" % (label, secs,
                                                              rss_growth[label] / 1e6))
        with open(path + ".growth") as f:
            d = json.load(f) if rc == 0 else {}
        os.unlink(path + ".growth")
        s0 = (d.get("sites") or [{}])[0]
        rate = g["requests_per_snapshot"] * g["leak_size"] / (g["interval_ns"] / 1e9)
        ck.check(rc == 0 and s0.get("class") == "unbounded" and
                 abs(s0.get("bytes_per_event", 0) - g["leak_size"]) < 1e-6 * g["leak_size"] and
                 abs(s0.get("bytes_per_second", 0) - rate) < 1e-6 * rate,
                 "%s: growth ranks the leak first, unbounded, %d B per allocation, %.0f B/s"
                 % (label, g["leak_size"], rate), repr((rc, err[-300:], s0))[:600])
    ck.check(rss_growth["week"] <= RSS_BOUND, "growth, week: peak RSS %.1f MB <= %.1f MB" %
             (rss_growth["week"] / 1e6, RSS_BOUND / 1e6))
    ck.check(rss_growth["week"] - rss_growth["tenth"] <= RSS_GROWTH,
             "growth, 10x the snapshots: peak RSS %.1f MB vs %.1f MB, within %.1f MB" %
             (rss_growth["week"] / 1e6, rss_growth["tenth"] / 1e6, RSS_GROWTH / 1e6))

    generate(args, ck, stress, "--snapshots", 720, "--stacks", 100000, "--changed", 500)
    out, rss_stress = timeline(args, ck, stress, "100k stacks")
    with open(out) as f:
        d = json.load(f)
    os.unlink(out)
    ck.equal(len(d.get("timeline", [])), 720, "100k stacks: every snapshot")
    ck.check(rss_stress <= STRESS_BOUND, "100k stacks: peak RSS %.1f MB <= %.1f MB" %
             (rss_stress / 1e6, STRESS_BOUND / 1e6))
    for path in (week, tenth, stress):
        os.unlink(path)
    ck.done()


if __name__ == "__main__":
    main()
