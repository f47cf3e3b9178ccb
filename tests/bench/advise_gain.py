#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""advise_gain.py — does `perfshim advise` keep its promises? Applies three pieces of advice to
the examples made for them (examples/adv_*.c) and prints the gain each predicted against the
gain measured after the change.

Not a test (no pass or fail; ctest's integration_advise asserts the count gains): it runs each
example before and after, interleaved (B A B A ...), REPS times, and reports:
  pool.max     adv_poolmax under PERFSHIM_POOL_MAX=128, then at the suggested value:
               predicted vs measured pooled allocations (the POOL chunk's class counts; exact)
  short_lived  adv_temporaries, then adv_temporaries --reuse (one buffer):
               predicted vs measured allocations saved (the snapshot totals; exact)
  lock.hold    adv_lockhot under PERFSHIM_LOCKS=1, then adv_lockhot --short (the computation
               moved out of the critical section): predicted vs measured lock wait saved, the
               median over the pairs (wall-clock: noisy on a shared machine; the rule promises
               "about half the wait")

    python3 tests/bench/advise_gain.py --build build [--reps 5]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--reps", type=int, default=5)
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    cli = os.path.join(build, "bin", "perfshim")
    lib = os.path.join(build, "lib", "libperfshim.so")
    work = tempfile.mkdtemp(prefix="perfshim-advise-gain-")
    seq = [0]

    def run(prog, env, argv=()):
        seq[0] += 1
        path = os.path.join(work, "%s.%d.trace" % (prog, seq[0]))
        e = dict(os.environ, LD_PRELOAD=lib, PERFSHIM_OUTPUT=path, **env)
        subprocess.run([os.path.join(build, "bin", prog)] + list(argv), env=e, check=True,
                       stdout=subprocess.DEVNULL)
        return path

    def js(*args):
        p = subprocess.run([cli] + list(args), check=True, stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL)
        return json.loads(p.stdout)

    def advice(trace, rule):
        for adv in js("advise", "--json", trace)["advice"]:
            if adv["rule"] == rule:
                return adv
        return None

    def pooled(trace):
        return sum(c["allocs"] for c in js("summary", "--json", trace)["pool"]["classes"])

    def allocs(trace):
        return js("summary", "--json", trace)["totals"]["allocs"]

    def lock_wait(trace):
        return sum(k["wait_ns"] for k in js("locks", "--json", "--top", "0", trace)["locks"])

    rows = []
    for name, before, after, measure, unit in (
            ("pool.max", ("adv_poolmax", {"PERFSHIM_POOL_MAX": "128"}, ()), None,
             lambda b, x: pooled(x) - pooled(b), "allocations"),
            ("short_lived", ("adv_temporaries", {}, ()), ("adv_temporaries", {}, ("--reuse",)),
             lambda b, x: allocs(b) - allocs(x), "allocations"),
            ("lock.hold", ("adv_lockhot", {"PERFSHIM_LOCKS": "1"}, ()),
             ("adv_lockhot", {"PERFSHIM_LOCKS": "1"}, ("--short",)),
             lambda b, x: lock_wait(b) - lock_wait(x), "ns")):
        pred, meas = [], []
        for _ in range(a.reps):
            b = run(*before)
            adv = advice(b, name)
            if not adv:
                print("%s: no advice on %s (threshold not reached this run)" % (name, before[0]))
                continue
            if after is None:  # the suggested pool limit
                x = run(before[0], {"PERFSHIM_POOL_MAX":
                                    str(adv["evidence"]["suggested_pool_max"])})
            else:
                x = run(*after)
            pred.append(adv["gain"][unit])
            meas.append(measure(b, x))
        if pred:
            p, m = statistics.median(pred), statistics.median(meas)
            rows.append((name, unit, p, m, len(pred),
                         statistics.median([mm / pp for pp, mm in zip(pred, meas) if pp])))
    print("%-12s %-12s %14s %14s %6s %18s" % ("rule", "unit", "predicted", "measured", "pairs",
                                            "measured/predicted"))
    for r in rows:
        print("%-12s %-12s %14.0f %14.0f %6d %18.3f" % r)
    for f in os.listdir(work):
        os.unlink(os.path.join(work, f))
    os.rmdir(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
