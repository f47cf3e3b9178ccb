#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""run_fuzz.py — one bounded libFuzzer run of fuzz_trace, as a test.

Copies the seeds into a fresh working corpus, runs the fuzzer for --seconds with the memory
limit and per-input timeout, and fails when libFuzzer reports a crash, a leak, a timeout or an
out-of-memory (artifacts are kept in WORK/artifacts, named crash-*, leak-*, timeout-*, oom-*),
or when it did not actually fuzz (no seed loaded, too few executions). To reproduce a finding:
`fuzz_trace ARTIFACT`; to keep it, copy it to tests/fuzz/regressions/ (tests/fuzz/README.md).
Never asserts a wall-clock time: the duration is only the budget given to libFuzzer.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys

MIN_RUNS = 1000  # far below what any machine does in a few seconds; catches a stuck fuzzer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fuzzer", required=True)
    ap.add_argument("--seeds", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--dict", default=os.path.join(os.path.dirname(__file__), "trace.dict"))
    a = ap.parse_args()
    corpus = os.path.join(a.work, "corpus")
    artifacts = os.path.join(a.work, "artifacts")
    for d in (corpus, artifacts):
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
    seeds = sorted(os.listdir(a.seeds))
    if not seeds:
        print("FAIL no seeds in %s" % a.seeds)
        return 1
    for f in seeds:
        shutil.copy(os.path.join(a.seeds, f), corpus)
    cmd = [a.fuzzer, "-max_total_time=%d" % a.seconds, "-rss_limit_mb=2048", "-timeout=30",
           "-max_len=65536", "-print_final_stats=1", "-dict=" + a.dict,
           "-artifact_prefix=" + artifacts + "/", corpus]
    print("running: " + " ".join(cmd), flush=True)
    env = dict(os.environ)
    # detect_leaks: the harness frees everything; a leak is a finding like a crash.
    env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0:" + env.get("ASAN_OPTIONS", "")
    env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1:" + env.get("UBSAN_OPTIONS", "")
    p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=a.seconds + 600)
    out = p.stdout.decode("utf-8", "replace")
    # The run's own log is long (every new coverage line, and the analyzer's message for each
    # input it cannot load, "perfshim: ..."); keep the head and the end, without those messages.
    lines = [l for l in out.splitlines() if not l.startswith("perfshim: ")]
    shown = lines if len(lines) <= 120 else lines[:40] + ["..."] + lines[-80:]
    print("\n".join(shown))
    found = sorted(os.listdir(artifacts))
    m = re.search(r"stat::number_of_executed_units:\s*(\d+)", out)
    runs = int(m.group(1)) if m else 0
    ok = True
    if p.returncode != 0 or found:
        print("FAIL the fuzzer found a problem (status %d); artifacts: %s"
              % (p.returncode, ", ".join(os.path.join(artifacts, f) for f in found) or "none"))
        ok = False
    if "INITED" not in out:
        print("FAIL the fuzzer never loaded its seed corpus")
        ok = False
    if runs < MIN_RUNS:
        print("FAIL only %d inputs executed (expected at least %d)" % (runs, MIN_RUNS))
        ok = False
    print("run_fuzz: %d seeds, %d inputs executed, corpus now %d files: %s"
          % (len(seeds), runs, len(os.listdir(corpus)), "ok" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
