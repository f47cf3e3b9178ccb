#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""scale.py — the analyzer at scale, side by side with heaptrack_print (issue 14 item 3).

Records one workload twice: tests/bench/scalegen.c (100k distinct allocation stacks, then
ROUNDS rounds of requests: the same events whatever the tool) under libperfshim.so with the
workload's snapshot option (below), and under `heaptrack -o` (heaptrack 1.4: every allocation
and free event, zstd-compressed). Then measures, in R rounds, each perfshim report on the
perfshim trace and `heaptrack_print` on the heaptrack recording, interleaved (leaks,
heaptrack_print, timeline, heaptrack_print, ...), so that load on the machine hits both alike:
  - CPU time (user + sys of the child, from wait4's rusage): the decision metric on a shared
    machine; wall time is reported too;
  - peak RSS (the child's maxrss).
Reports the median and the spread (min..max) of each, and the median of the per-round ratios
heaptrack_print / perfshim (CPU time). Registers no test, asserts nothing: numbers only
(docs/performance.md quotes them).

Three workloads (--workload), the same 100k stacks. The default is busy: of the three, the one
Debian's heaptrack 1.4 records (the other two need --heaptrack-interpret), so the one that runs
the issue's comparison with the packages it names; adverse is the worst case for snapshots:
  - adverse: 100 requests a round, 11 ms apart, any of 256 sizes at every stack,
    PERFSHIM_INTERVAL=10ms, 11,000 rounds: about one snapshot a round, 10k+ in all, with few
    events between them; the worst case for snapshots and the best for an event log. (Until
    snapshots of 100k stacks got cheap, 16 ms -> 0.9 ms of CPU, 5,000 rounds made 13k
    snapshots back to back, most while the 100k stacks were made, and took 20 minutes);
  - service: 1,000 requests a round, 51 ms apart, each stack with 4 sizes of its own
    (bench-scalegen's SIZES): the traffic a service has between snapshots, 3M allocations
    with the defaults (--rounds 3000), PERFSHIM_INTERVAL=200ms (about 4,000 requests a
    snapshot). The interval is not 10 ms: a snapshot of 100k stacks costs the shim about 10 ms
    of CPU, 50 to 100 ms of wall time at load 15-20 on 2 cores, and the next interval is due
    from the start of the last snapshot, so once a snapshot takes longer than the interval the
    program snapshots back to back and hardly runs (at 10 ms: 3% of the rounds in 10 minutes;
    at 50 ms: half of them, then 100 rounds in 8 minutes when the load rose to 19). So this
    workload has about a thousand snapshots, not 10k. heaptrack 1.4 cannot record the adverse
    sizes at this traffic: its interpreter's set of (size, trace) pairs hashes 256 sizes x 1000
    hot stacks into one narrow range and doubles its table until memory runs out
    (docs/performance.md, "Why heaptrack could not record the service workload");
  - busy (the default): the issue's 10k snapshots *and* a service's traffic between them: 11,000 rounds of
    3,000 requests (33M allocations; 4 sizes a stack, no pause), a snapshot every 400 KB
    allocated (PERFSHIM_DUMP_EVERY=400k: about one a round, 10k+ in all, at the same points
    of the sequence on every run, where an interval's count would depend on the machine's
    load). A service with a snapshot every 10 s that allocates 300 blocks a second looks like
    this over 30 hours; redis-server under redis-benchmark allocates 100k a second
    (docs/performance.md, "The busy workload"), so this is the quiet end of a real service.
    Under an interval, 10k snapshots of 100k stacks need 30 minutes or more of recording
    (each takes 20-30 ms of wall time at load 6-10, and the next one waits four times that);
    the trigger by bytes writes the same chunks (SNAPSHOT_PACKED deltas) without the wait.
    One request in 1000 (bench-scalegen's COLD) goes to the cold stacks, not one in 100: at
    33M requests one in 100 reaches nearly all 400k (stack, size) pairs, and heaptrack's
    interpreter then grows as with 256 sizes (1.6 GB in 100 s). Measured 2026-12-07 on a quiet
    machine (load 1-2; docs/performance.md, "Session 15, integrated: every figure on a quiet
    machine"): 11,569 snapshots, 134 MB against heaptrack's 85 MB; heaptrack_print / perfshim
    in CPU time, medians of 3 rounds: leaks 16.3x, timeline 15.8x, growth 12.3x, export 15.0x,
    every round at least 12x (under load 9-21 the rounds spread down to 8.7x: run it on a quiet
    machine). The ratio follows the traffic between snapshots: the service workload (3.1M
    allocations, 769 snapshots) gives 3.5-4.2x, the adverse one 2.4-3.0x (heaptrack_print's
    time follows the events, perfshim's has a floor per stack: docs/performance.md).
Both recordings run under a 4 GB address-space limit (RLIMIT_AS) and a time limit, so that a
recorder that blows up fails alone instead of taking the machine with it. Debian's heaptrack 1.4
cannot record the adverse workload under any limit tried: its `heaptrack_interpret` hashes the (size,
trace) pairs of 256 sizes at each hot stack into one narrow range and doubles its table without
end (4 GB: `std::bad_alloc` after 128,290 of 1.2M allocations; 16 GB: the same, at 9.3 GB).
--heaptrack-interpret PATH records with `heaptrack -r` and interprets the raw file with PATH
(measured 2026-12-06 with heaptrack 1.4.0's interpreter built with that hash fixed, whose output
is the same bytes: the reports take 1/2.4 to 1/3.0 of heaptrack_print's CPU on adverse;
docs/performance.md, "A smaller POOL chunk, and the adverse workload recorded by heaptrack").

--callgrind also counts the instructions of one run of each command under
`valgrind --tool=callgrind` (load-independent; several minutes at full size).

Usage:
    python3 tests/bench/scale.py --build build [--workload adverse|service|busy] [--data DIR]
        [--reps 5] [--rounds N] [--symbol-cache DIR] [--heaptrack-interpret PATH] [--callgrind]
        [--json out.json]
--data DIR keeps the recordings in DIR and reuses them when present (on a loaded 2-core
machine the service workload's take 4 minutes, the adverse one's 20 or more, the busy one's 16:
the shim's 10k snapshots of 100k stacks are the cost; the two recordings run at once), with
what each recording cost (NAME.record.json: wall, user and sys time, peak RSS). The measuring
takes 5 to 10 minutes at --reps 5 (busy: 15 at --reps 3), --callgrind about 10 more (busy: 30,
heaptrack_print's 60G instructions). --symbol-cache DIR runs the perfshim
reports with that cache (warmed by one run first): the figures of a second analysis of a build.
"""

import argparse
import json
import os
import re
import resource
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


WORKLOADS = {  # per round, pause (ms), snapshot option, default rounds, file name, sizes, cold
    "adverse": ("100", "11", ("PERFSHIM_INTERVAL", "10ms"), 11000, "many", "256", "100"),
    "service": ("1000", "51", ("PERFSHIM_INTERVAL", "200ms"), 3000, "service2", "4", "100"),
    "busy": ("3000", "0", ("PERFSHIM_DUMP_EVERY", "400k"), 11000, "busy", "4", "1000"),
}
RECORD_AS_LIMIT = 4000000000  # bytes of address space for each recording process
RECORD_TIMEOUT = 3600  # seconds


def capped():
    resource.setrlimit(resource.RLIMIT_AS, (RECORD_AS_LIMIT, RECORD_AS_LIMIT))


def record(args, data):
    """Makes the missing recordings, both at once (each is mostly one process); returns paths."""
    per, pause, (snap_var, snap_value), _, name, sizes, cold = WORKLOADS[args.workload]
    exe = os.path.join(args.build, "bin", "bench", "bench-scalegen")
    argv = [exe, "100000", str(args.rounds), per, pause, sizes, cold]
    lib = os.path.join(args.build, "lib", "libperfshim.so")
    trace = os.path.join(data, name + ".trace")
    ht = os.path.join(data, name + ".ht.zst")
    jobs = []
    if not os.path.exists(trace):
        log("recording %s under perfshim" % " ".join(argv))
        env = dict(os.environ, LD_PRELOAD=lib, PERFSHIM_OUTPUT=trace + ".part")
        env[snap_var] = snap_value
        jobs.append(("perfshim", trace, subprocess.Popen(
            argv, env=env, stdout=subprocess.DEVNULL, preexec_fn=capped)))
    if not os.path.exists(ht):
        log("recording %s under heaptrack" % " ".join(argv))
        # heaptrack -o X writes X.zst (-r: X.raw.zst, interpreted below); recorded under a
        # temporary name, renamed when whole.
        raw = ["-r"] if args.heaptrack_interpret else []
        jobs.append(("heaptrack", ht, subprocess.Popen(
            ["heaptrack"] + raw + ["-o", ht[:-len(".zst")] + ".part", "--"] + argv,
            stdout=subprocess.DEVNULL, preexec_fn=capped)))
    t0 = time.monotonic()
    for tool, path, p, rc, ru, wall in wait_all(jobs, t0 + RECORD_TIMEOUT):
        log("%s recording done in %.0f s: %s" % (tool, wall, rc))
        part = path + ".part" if tool == "perfshim" else path[:-len(".zst")] + ".part.zst"
        if tool == "heaptrack" and args.heaptrack_interpret and rc == 0:
            rc, ru, wall = interpret(args.heaptrack_interpret, part[:-len(".zst")] + ".raw.zst",
                                     part, ru, wall)
        if rc != 0 or not os.path.exists(part):
            raise SystemExit("scale.py: the %s recording failed (%s); see %s" % (tool, rc, part))
        os.rename(part, path)
        # What the recording cost (the program and, for heaptrack, its interpreter and zstd:
        # the children its script waited for), kept next to the recording for later runs.
        with open(path + ".record.json", "w") as fh:
            json.dump({"argv": argv, "wall_s": wall, "user_s": ru.ru_utime,
                       "sys_s": ru.ru_stime, "maxrss_kib": ru.ru_maxrss}, fh)
    return trace, ht


def interpret(interpreter, raw, out, ru, wall):
    """`zstd -dc RAW | INTERPRETER | zstd -c > OUT` (what heaptrack runs while recording), the
    interpreter under the recording's limits; returns (exit status, the recording's rusage and
    wall time with the interpreter's added: user, sys and the larger peak RSS)."""
    log("interpreting %s with %s" % (raw, interpreter))
    t0 = time.monotonic()
    with open(out, "wb") as fo:
        dec = subprocess.Popen(["zstd", "-dc", raw], stdout=subprocess.PIPE)
        comp = subprocess.Popen(["zstd", "-c", "-q"], stdin=subprocess.PIPE, stdout=fo)
        itp = subprocess.Popen([interpreter], stdin=dec.stdout, stdout=comp.stdin,
                               stderr=subprocess.DEVNULL, preexec_fn=capped)
        dec.stdout.close()
        comp.stdin.close()
        _, status, iru = os.wait4(itp.pid, 0)
        dec.wait()
        comp.wait()
    rc = os.waitstatus_to_exitcode(status)
    log("interpreter exited %s after %.0f s, %.1f s of CPU, %.0f MB" % (
        rc, time.monotonic() - t0, iru.ru_utime + iru.ru_stime, iru.ru_maxrss / 1024))
    both = resource.struct_rusage([ru.ru_utime + iru.ru_utime, ru.ru_stime + iru.ru_stime,
                                   max(ru.ru_maxrss, iru.ru_maxrss)] + list(ru)[3:])
    return rc, both, wall + time.monotonic() - t0


def wait_all(jobs, deadline):
    """Waits for the (tool, path, Popen) jobs at once, killing those left at deadline; returns
    (tool, path, Popen, exit status or "timeout", rusage, wall s since the start) of each, in
    the order of the jobs: each one's wall time is its own, not the time until it was waited."""
    t0 = time.monotonic()
    done = {}
    while len(done) < len(jobs):
        for tool, path, p in jobs:
            if tool in done:
                continue
            late = time.monotonic() > deadline
            if late:
                p.kill()
            pid, status, ru = os.wait4(p.pid, 0 if late else os.WNOHANG)
            if pid == p.pid:
                p.returncode = os.waitstatus_to_exitcode(status)
                done[tool] = ("timeout" if late else p.returncode, ru, time.monotonic() - t0)
        time.sleep(0.5)
    return [(tool, path, p) + done[tool] for tool, path, p in jobs]


def heaptrack_facts(ht):
    """Allocation calls heaptrack_print reads from its recording (its summary line)."""
    out = subprocess.run(["heaptrack_print", "-f", ht], capture_output=True, text=True,
                         env=dict(os.environ, LC_ALL="C")).stdout
    m = re.search(r"^calls to allocation functions: (\d+)", out, re.M)
    return {"heaptrack_allocs": int(m.group(1)) if m else None}


def instructions(argv, env):
    """Instructions of one run of argv under callgrind (its "Collected" total)."""
    with tempfile.TemporaryDirectory(prefix="perfshim-scale-cg-") as d:
        p = subprocess.run(["valgrind", "--tool=callgrind",
                            "--callgrind-out-file=" + os.path.join(d, "cg.out")] + argv,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    m = re.search(r"Collected : (\d+)", p.stderr)
    return int(m.group(1)) if m else None


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
    ap.add_argument("--workload", choices=sorted(WORKLOADS), default="busy")
    ap.add_argument("--rounds", type=int, help="rounds of requests (default: the workload's)")
    ap.add_argument("--symbol-cache", help="run the perfshim reports with this symbol cache")
    ap.add_argument("--heaptrack-interpret", metavar="PATH",
                    help="record with `heaptrack -r`, then interpret with this "
                         "heaptrack_interpret (adverse: heaptrack 1.4's cannot, see the header)")
    ap.add_argument("--callgrind", action="store_true",
                    help="also count the instructions of one run of each command")
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
    for tool, path in (("perfshim", trace), ("heaptrack", ht)):
        if os.path.exists(path + ".record.json"):
            with open(path + ".record.json") as fh:
                facts["recording_" + tool] = json.load(fh)
    facts.update(heaptrack_facts(ht))
    if facts["heaptrack_allocs"] is None or facts["allocs"] is None or \
            abs(facts["heaptrack_allocs"] - facts["allocs"]) > facts["allocs"] // 100:
        log("scale.py: the recordings differ: heaptrack has %s allocations, perfshim %s (a "
            "recording cut short?)" % (facts["heaptrack_allocs"], facts["allocs"]))
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
    insns = {}
    if args.callgrind:
        for k in commands:
            insns[k] = instructions(commands[k], env)
            log("callgrind %s: %s instructions" % (k, insns[k]))
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
        if k in insns:
            result["commands"][k]["instructions"] = insns[k]
    hp_insns = insns.get("heaptrack_print")
    print("| command | CPU s median (min..max) | wall s median (min..max) | peak RSS MiB | "
          "heaptrack_print CPU / this (median of rounds) | instructions (callgrind) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for k, c in result["commands"].items():
        f = lambda m, scale=1.0, fmt="%.3f": (fmt % (m["median"] * scale) + " (" +
                                              fmt % (m["min"] * scale) + ".." +
                                              fmt % (m["max"] * scale) + ")")
        ratio = c.get("heaptrack_print_cpu_ratio")
        n = c.get("instructions")
        ins = "-" if n is None else "%.0fM" % (n / 1e6)
        if n and hp_insns and k != "heaptrack_print":
            ins += " (heaptrack_print / this: %.2fx)" % (hp_insns / n)
        print("| %s | %s | %s | %s | %s | %s |" % (
            k, f(c["cpu_s"]), f(c["wall_s"]), f(c["maxrss_kib"], 1 / 1024, "%.1f"),
            "%.2fx (%.2f..%.2f)" % (ratio["median"], ratio["min"], ratio["max"]) if ratio
            else "-", ins))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
