#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""make_seeds.py — the seed corpus of the trace fuzzer: real traces, made now.

Runs the example programs under libperfshim.so, each with the options that make it write the
chunks worth fuzzing (leaky: leaks; contention: LOCKS; cpuburn: CPU and LATENCY; threads:
THREADS; dump: several snapshots; interval: SNAPSHOT_PACKED, POOL_PACKED), and copies the
committed golden traces (tests/data) and the regression inputs (tests/fuzz/regressions) next
to them. Fails when a program writes no trace, so the fuzzer never silently starts from an
empty corpus. Standard library only.
"""
import argparse
import os
import shutil
import subprocess
import sys

# name, arguments, extra environment
PROGRAMS = [
    ("leaky", [], {}),
    ("contention", [], {"PERFSHIM_LOCKS": "1"}),
    ("cpuburn", ["2"], {"PERFSHIM_CPU_HZ": "1000", "PERFSHIM_LATENCY_SAMPLE": "1"}),
    ("threads", [], {}),
    ("dump", [], {}),
    ("interval", ["400"], {"PERFSHIM_INTERVAL": "50ms"}),  # deltas, POOL_PACKED, chunks left out
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True, help="libperfshim.so")
    ap.add_argument("--bindir", required=True, help="where the example programs are")
    ap.add_argument("--golden", required=True, help="tests/data (golden *.trace)")
    ap.add_argument("--regressions", required=True, help="tests/fuzz/regressions")
    ap.add_argument("--out", required=True, help="seed directory (emptied first)")
    a = ap.parse_args()
    out = os.path.abspath(a.out)
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    failed = []
    for name, argv, extra in PROGRAMS:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PERFSHIM_", "LD_"))}
        env.update(extra)
        env["LD_PRELOAD"] = os.path.abspath(a.lib)
        env["PERFSHIM_OUTPUT"] = os.path.join(out, name + ".%p.trace")
        p = subprocess.run([os.path.join(a.bindir, name), *argv], env=env, cwd=out,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)
        made = [f for f in os.listdir(out) if f.startswith(name + ".")]
        if p.returncode != 0 or not made:
            failed.append(name)
            print("FAIL %s: status %d, traces %r\n%s" % (name, p.returncode, made,
                                                         p.stderr.decode(errors="replace")))
        else:
            print("ok   %s: %s" % (name, ", ".join(
                "%s (%d bytes)" % (f, os.path.getsize(os.path.join(out, f))) for f in made)))
    for src, prefix in ((a.golden, "golden-"), (a.regressions, "regression-")):
        for f in sorted(os.listdir(src)):
            path = os.path.join(src, f)
            if os.path.isfile(path) and not f.startswith(".") and not f.endswith(".md") and (
                    prefix == "regression-" or f.endswith(".trace")):
                shutil.copy(path, os.path.join(out, prefix + f))
    print("%d seed files in %s" % (len(os.listdir(out)), out))
    if failed:
        print("make_seeds: no trace from: " + " ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
