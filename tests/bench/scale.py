#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""scale.py — the analyzer at scale, side by side with heaptrack_print (issue 14 item 3).

Records one workload twice: tests/bench/scalegen.c (100k distinct allocation stacks, then
ROUNDS rounds of 100 requests, 11 ms apart: the same events whatever the tool) under
libperfshim.so with PERFSHIM_INTERVAL=10ms (10k+ snapshots: the interval fires while the
100k stacks are made, then about once a round), and under `heaptrack -o` (heaptrack 1.4:
every allocation and free event, zstd-compressed). Then measures, in R rounds, each perfshim report on the perfshim
trace and `heaptrack_print` on the heaptrack recording, interleaved (leaks, heaptrack_print,
timeline, heaptrack_print, ...), so that load on the machine hits both alike:
  - CPU time (user + sys of the child, from wait4's rusage): the decision metric on a shared
    machine; wall time is reported too;
  - peak RSS (the child's maxrss).
Reports the median and the spread (min..max) of each, and the median of the per-round ratios
heaptrack_print / perfshim (CPU time). Registers no test, asserts nothing: numbers only
(docs/performance.md quotes them).

Two workloads (--workload):
  - adverse (the default): 100 requests a round, PERFSHIM_INTERVAL=10ms: about one snapshot a
    round, few events; the worst case for snapshots and the best for an event log;
  - service: the traffic a service has between snapshots: 5,000 requests a round, a 1 ms
    pause, PERFSHIM_INTERVAL=50ms (tens of thousands of allocations per snapshot), 10M
    allocations with the defaults (--rounds 2000). A snapshot of 100k stacks costs the shim
    more than 10 ms on a loaded machine, so a 10 ms interval with thousands of requests a
    round spends its time snapshotting: the interval is longer, and the snapshots fewer.

Usage:
    python3 tests/bench/scale.py --build build [--workload adverse|service] [--data DIR]
        [--reps 5] [--rounds N] [--symbol-cache DIR] [--json out.json]
--data DIR keeps the recordings in DIR and reuses them when present (they take minutes: the
shim's snapshot of 100k stacks every 10 ms is the cost). --symbol-cache DIR runs the perfshim
reports with that cache (warmed by one run first): the figures of a second analysis of a build.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def measure(argv, env=None):
    """Runs argv (output discarded); returns (wall s, cpu s, maxrss KiB, exit status)."""
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss, p.returncode


WORKLOADS = {  # per round, pause (ms), PERFSHIM_INTERVAL, default rounds, file name
    "adverse": ("100", "11", "10ms", 5000, "many"),
    "service": ("5000", "1", "50ms", 2000, "service"),
}


def record(args, data):
    per, pause, interval, _, name = WORKLOADS[args.workload]
    exe = os.path.join(args.build, "bin", "bench", "bench-scalegen")
    argv = [exe, "100000", str(args.rounds), per, pause]
    lib = os.path.join(args.build, "lib", "libperfshim.so")
    trace = os.path.join(data, name + ".trace")
    ht = os.path.join(data, name + ".ht.zst")
    if not os.path.exists(trace):
        log("recording %s under perfshim" % " ".join(argv))
        env = dict(os.environ, LD_PRELOAD=lib, PERFSHIM_INTERVAL=interval, PERFSHIM_OUTPUT=trace)
        subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
    if not os.path.exists(ht):
        log("recording %s under heaptrack" % " ".join(argv))
        subprocess.run(["heaptrack", "-o", os.path.join(data, name + ".ht"), "--"] + argv,
                       check=True, stdout=subprocess.DEVNULL)
    return trace, ht


def trace_facts(perfshim, trace):
    """Snapshots and allocation sites of the trace (`perfshim summary --json`)."""
    s = json.loads(subprocess.run([perfshim, "summary", "--json", "--top", "1", trace],
                                  capture_output=True, check=True).stdout)
    return {"snapshots": s.get("snapshot", {}).get("snapshots"),
            "sites": s.get("sites"),
            "allocs": s.get("totals", {}).get("allocs")}


def summarize(xs):
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--data", help="directory for the recordings (kept, reused)")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--workload", choices=sorted(WORKLOADS), default="adverse")
    ap.add_argument("--rounds", type=int, help="rounds of requests (default: the workload's)")
    ap.add_argument("--symbol-cache", help="run the perfshim reports with this symbol cache")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    if args.rounds is None:
        args.rounds = WORKLOADS[args.workload][3]
    for tool in ("heaptrack", "heaptrack_print"):
        if not any(os.access(os.path.join(d, tool), os.X_OK)
                   for d in os.environ.get("PATH", "").split(":")):
            log("scale.py: %s is not installed" % tool)
            return 77
    data = args.data or tempfile.mkdtemp(prefix="perfshim-scale-")
    os.makedirs(data, exist_ok=True)
    trace, ht = record(args, data)
    perfshim = os.path.join(args.build, "bin", "perfshim")
    facts = trace_facts(perfshim, trace)
    facts["trace_bytes"] = os.path.getsize(trace)
    facts["heaptrack_bytes"] = os.path.getsize(ht)
    log("trace: %s" % facts)
    out = os.path.join(data, "export.pb.gz")
    cache = ["--symbol-cache", args.symbol_cache] if args.symbol_cache else []
    commands = {
        "leaks": [perfshim, "leaks", "--top", "20"] + cache + [trace],
        "timeline": [perfshim, "timeline"] + cache + [trace],
        "growth": [perfshim, "growth"] + cache + [trace],
        "export": [perfshim, "export", "--format", "pprof", "-o", out] + cache + [trace],
        "heaptrack_print": ["heaptrack_print", "-f", ht],
    }
    env = dict(os.environ, LC_ALL="C")
    for name in ("leaks", "timeline", "growth", "export") if cache else ():
        measure(commands[name], env)  # fills the cache
    samples = {k: [] for k in commands}
    ratios = {k: [] for k in commands if k != "heaptrack_print"}
    for r in range(args.reps):
        for name in ("leaks", "timeline", "growth", "export"):
            for k in (name, "heaptrack_print"):  # each report next to a heaptrack_print run
                wall, cpu, rss, rc = measure(commands[k], env)
                if rc != 0:
                    log("%s exited %d" % (k, rc))
                    return 1
                samples[k].append((wall, cpu, rss))
            ratios[name].append(samples["heaptrack_print"][-1][1] / max(samples[name][-1][1],
                                                                        1e-6))
        log("round %d of %d done" % (r + 1, args.reps))
    result = {"schema": "perfshim-scale/1", "workload": args.workload, "rounds": args.rounds,
              "symbol_cache": bool(cache), "facts": facts, "reps": args.reps, "commands": {}}
    for k, xs in samples.items():
        result["commands"][k] = {
            "argv": " ".join(os.path.basename(a) if a in (perfshim,) else a for a in commands[k]),
            "wall_s": summarize([x[0] for x in xs]),
            "cpu_s": summarize([x[1] for x in xs]),
            "maxrss_kib": summarize([x[2] for x in xs]),
        }
        if k in ratios:
            result["commands"][k]["heaptrack_print_cpu_ratio"] = summarize(ratios[k])
    print("| command | CPU s median (min..max) | wall s median (min..max) | peak RSS MiB | "
          "heaptrack_print CPU / this (median of rounds) |")
    print("| --- | --- | --- | --- | --- |")
    for k, c in result["commands"].items():
        f = lambda m, scale=1.0, fmt="%.3f": (fmt % (m["median"] * scale) + " (" +
                                              fmt % (m["min"] * scale) + ".." +
                                              fmt % (m["max"] * scale) + ")")
        ratio = c.get("heaptrack_print_cpu_ratio")
        print("| %s | %s | %s | %s | %s |" % (
            k, f(c["cpu_s"]), f(c["wall_s"]), f(c["maxrss_kib"], 1 / 1024, "%.1f"),
            "%.1fx (%.1f..%.1f)" % (ratio["median"], ratio["min"], ratio["max"]) if ratio
            else "-"))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
