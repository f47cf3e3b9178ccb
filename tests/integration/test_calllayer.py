#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_calllayer.py — what the shim adds to a malloc/free pair, in instructions (callgrind,
user space, deterministic), mode by mode. tests/integration/calllayer.c runs PAIRS pairs of
malloc (calloc for one in 16) and free; the count at 2 * PAIRS minus the count at PAIRS is the
cost of PAIRS pairs, the start and the exit cancelled out. Bounds, instructions per pair over
plain glibc's:
  - sampling with the pool off (PERFSHIM_SAMPLE=524288 PERFSHIM_POOL=0), at most
    DIRECT_OVER_PLAIN: the exports jump through the per-mode table to the countdown and glibc
    (malloc 5, free 8, calloc 10; sample points add the rest): 13.8. It was 24.7 when each
    call loaded and tested the mode word (docs/performance.md, "The call layer");
  - the pool alone (PERFSHIM_MODE=pool) and sampling with the pool on, at least
    POOL_UNDER_PLAIN and SAMPLE_UNDER_PLAIN instructions fewer than glibc: the pool's fast paths
    behind the one indirect jump (99.0 and 87.8 fewer; 95.2 and 77.3 with the mode word).
Since samp3 (docs/performance.md, "Pool-off sampling: rorx, and the calls bound to the
variants"), a sampling process without a control channel has the program's PLT slots of malloc,
free and calloc pointed at the variants (no jump through the table), and free's filter index
takes BMI2's rorx where the CPU has it: pool off 10.8 a pair over glibc's (DIRECT_OVER_PLAIN
12). Per function: the exported malloc and free (one jump each) run for under BIND_LEFT of the
calls when bound, and for every call with PERFSHIM_CONTROL=1, which keeps the table (a broken
binding fails the first). The verbose line names the slots bound: at least calllayer's malloc,
free and calloc, none with the channel."""
import os
import re
import shutil

import pstest

PAIRS = 100000
DIRECT_OVER_PLAIN = 12.0
BIND_LEFT = 0.05
POOL_UNDER_PLAIN = 95.0
SAMPLE_UNDER_PLAIN = 85.0


def instructions(ck, prog, pairs, env, label, d):
    out = os.path.join(d, "cg.out")
    p = pstest.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out, prog,
                    str(pairs)], env=env, timeout=600)
    err = p.stderr.decode("utf-8", "replace")
    m = re.search(r"Collected : (\d+)", err)
    if not ck.check(p.returncode == 0 and m is not None,
                    "%s, %d pairs: runs under callgrind" % (label, pairs), pstest.describe(p)):
        return None
    return int(m.group(1))


def exports_ir(ck, prog, env, label, d):
    """Instructions callgrind counts in the exported malloc and free themselves (interpose.c)."""
    out = os.path.join(d, "cg-exports.out")
    p = pstest.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out, prog,
                    str(PAIRS)], env=env, timeout=600)
    if not ck.check(p.returncode == 0 and os.path.exists(out),
                    "%s: runs under callgrind" % label, pstest.describe(p)):
        return None
    a = pstest.run(["callgrind_annotate", "--threshold=100", out], timeout=300)
    text = a.stdout.decode("utf-8", "replace")
    if not ck.check(a.returncode == 0 and "PROGRAM TOTALS" in text,
                    "%s: callgrind_annotate reads the profile" % label, pstest.describe(a)):
        return None
    return sum(int(m.group(1).replace(",", "")) for m in
               re.finditer(r"^\s*([\d,]+) \([^)]*\)\s+\S*interpose\.c:(?:malloc|free) \[",
                           text, re.M))


def per_pair(ck, prog, env, label, d):
    a = instructions(ck, prog, PAIRS, env, label, d)
    b = instructions(ck, prog, 2 * PAIRS, env, label, d)
    if a is None or b is None:
        return None
    return (b - a) / PAIRS


def main():
    args = pstest.parse_args()
    ck = pstest.Checker("calllayer")
    if not shutil.which("valgrind"):
        ck.skip("valgrind is not installed")
    prog = os.path.join(args.bindir, "calllayer")
    d = pstest.tmpdir("calllayer")
    base = {k: v for k, v in os.environ.items()
            if not k.startswith("PERFSHIM_") and k != "LD_PRELOAD"}
    shim = dict(base, LD_PRELOAD=args.lib, PERFSHIM_OUTPUT=os.path.join(d, "%p.trace"),
                PERFSHIM_SAMPLE_SEED="1")
    cost = {
        "plain": per_pair(ck, prog, base, "plain", d),
        "direct": per_pair(ck, prog, dict(shim, PERFSHIM_SAMPLE="524288", PERFSHIM_POOL="0"),
                           "sampling, pool off", d),
        "sample": per_pair(ck, prog, dict(shim, PERFSHIM_SAMPLE="524288"), "sampling", d),
        "pool": per_pair(ck, prog, dict(shim, PERFSHIM_MODE="pool"), "pool", d),
    }
    print("instructions per pair: %s"
          % ", ".join("%s %s" % (k, "-" if v is None else "%.2f" % v) for k, v in cost.items()))
    if None in cost.values():
        ck.done()
    ck.check(cost["direct"] - cost["plain"] <= DIRECT_OVER_PLAIN,
             "sampling with the pool off adds at most %.0f instructions to a pair"
             % DIRECT_OVER_PLAIN, "it adds %.2f" % (cost["direct"] - cost["plain"]))
    ck.check(cost["plain"] - cost["pool"] >= POOL_UNDER_PLAIN,
             "the pool alone takes at least %.0f instructions fewer than glibc a pair"
             % POOL_UNDER_PLAIN, "%.2f fewer" % (cost["plain"] - cost["pool"]))
    ck.check(cost["plain"] - cost["sample"] >= SAMPLE_UNDER_PLAIN,
             "sampling with the pool on takes at least %.0f instructions fewer than glibc a pair"
             % SAMPLE_UNDER_PLAIN, "%.2f fewer" % (cost["plain"] - cost["sample"]))
    # Who runs the exports: bound, the program's calls skip them (a few calls of libc's own
    # remain); with the control channel each pair runs both (a jump each). Counted per
    # function, since the channel's thread adds instructions of its own to the whole count.
    direct = dict(shim, PERFSHIM_SAMPLE="524288", PERFSHIM_POOL="0")
    for env, label, bound in ((direct, "no control channel", True),
                              (dict(direct, PERFSHIM_CONTROL="1"), "PERFSHIM_CONTROL=1", False)):
        ir = exports_ir(ck, prog, env, label, d)
        if ir is None:
            continue
        # 2 - 1/16 calls a pair: one pair in 16 calls calloc instead of malloc
        ck.check(ir < PAIRS * BIND_LEFT if bound else ir >= PAIRS * (2 - 1 / 16),
                 "%s: the exported malloc and free run %s" % (
                     label, "for at most %d%% of the calls" % (BIND_LEFT * 100) if bound
                     else "once a call (their jump through the table)"),
                 "%d instructions in them for %d pairs" % (ir, PAIRS))
    for env, want in ((dict(shim, PERFSHIM_SAMPLE="524288", PERFSHIM_POOL="0"), 3),
                      (dict(shim, PERFSHIM_SAMPLE="524288", PERFSHIM_POOL="0",
                            PERFSHIM_CONTROL="1"), 0)):
        p = pstest.run([prog, "1000"], env=dict(env, PERFSHIM_VERBOSE="1"), timeout=120)
        err = p.stderr.decode("utf-8", "replace")
        m = re.search(r"(\d+) call slot\(s\) of malloc, free, calloc and realloc bound", err)
        n = int(m.group(1)) if m else 0
        ck.check(p.returncode == 0 and (n >= want if want else m is None),
                 "%s: %s" % ("no control channel" if want else "PERFSHIM_CONTROL=1",
                             "at least %d call slots bound" % want if want else "none bound"),
                 err[-2000:])
    # the sampled runs did sample: their traces exist (else the bound says nothing of them)
    traces = [f for f in os.listdir(d) if f.endswith(".trace")]
    ck.check(len(traces) >= 6, "six traces written (two sizes, sampling with the pool on, off, "
             "off with the channel)", repr(traces))
    ck.done()


if __name__ == "__main__":
    main()
