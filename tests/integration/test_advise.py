#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_advise.py — `perfshim advise` (issue 13, item 2; docs/tuning.md).

- Each adv_* example (examples/adv_*.c) has one known inefficiency and gets exactly the advice
  of its rule, at the function that has it (the `where` names it); adv_clean gets none.
- Every piece of advice has its members (rule, what, where, stack, evidence, gain, gain_text);
  the rules that need the shim's per-site advice counters (the ADVICE chunk) are judged, not
  skipped, on a new trace, and skipped with "trace has no advice counters" on the committed
  traces of older shims (the golden files).
- The advice counters' exact counts (PERFSHIM_ADVICE_SAMPLE=1), against what adv_scratch,
  adv_realloc and adv_xthread print they did: temporaries, realloc grows and their mean factor
  (bytes after / bytes before), cross-thread frees; pool on and off. Estimates (the default 1 in 16; byte sampling,
  PERFSHIM_SAMPLE=4096, pool on and off) within 15% of the exact counts.
- Promised gains, as counts (never wall-clock): pool.max on adv_poolmax predicts N more pooled
  allocations with the suggested PERFSHIM_POOL_MAX; the run with that value pools exactly N more
  (the POOL chunk's class counts). short_lived on adv_temporaries predicts the allocations that
  reusing one buffer saves; adv_temporaries --reuse allocates that many fewer (within 2%: the
  prediction counts blocks freed within one age unit).
- leak on leaky, ranked by bytes; leak.every_process on two runs of leaky, and not on one.
- lock.rwlock on adv_rwlock (a rwlock taken in write mode by readers), none with --read (the
  advice applied); alloc_latency on adv_latency (realloc that must copy 3 MiB one time in 20,
  PERFSHIM_LATENCY_SAMPLE=1), none with --reserve; adv_clean timed the same way gets none.
- growth on examples/service.c killed mid-run (its last snapshot is an interval one): its slow
  leak is advised, 48 bytes per allocation, and its bounded cache is not; at exit the leak is
  advised once (by leak), and the cache still not.
- Text output, --fail-on-advice (exit 1 with advice, 0 without), usage errors (exit 2).
- The golden advice of committed traces (tests/data/advise.expected.{txt,json}; --update
  rewrites them).
Standard library only."""
import json
import os
import signal
import subprocess
import time

import pstest
import test_golden

GOLDEN_ARGS = ["leaky.trace", "contention.trace"]
COUNTER_RULES = {"temporaries", "realloc_growth", "cross_thread_free"}

# example -> (environment, the one rule expected (or a tuple of rules, in the report's order),
# the function its `where` names)
EXAMPLES = {
    "adv_poolmax": ({"PERFSHIM_POOL_MAX": "128"}, "pool.max", "make_record"),
    "adv_temporaries": ({}, "short_lived", "format_line"),
    "adv_tiny": ({}, "tiny", "new_node"),
    "adv_fragment": ({}, "fragmentation", None),
    "adv_lockhot": ({"PERFSHIM_LOCKS": "1"}, "lock.hold", "update"),
    "adv_lockshard": ({"PERFSHIM_LOCKS": "1"}, "lock.shard", None),  # any of its three sites
    "adv_rwlock": ({"PERFSHIM_LOCKS": "1"}, "lock.rwlock", "lookup"),
    "adv_condwake": ({"PERFSHIM_LOCKS": "1"}, "cond.wake", "consumer"),
    # one inefficiency, a buffer grown by realloc, and two pieces of advice: its cause
    # (realloc_growth) and the slow tail it makes (alloc_latency); --reserve removes both
    "adv_latency": ({"PERFSHIM_LATENCY_SAMPLE": "1"}, ("realloc_growth", "alloc_latency"), None),
    "adv_clean": ({"PERFSHIM_LOCKS": "1"}, None, None),
    "adv_scratch": ({}, "temporaries", "checksum_record"),
    "adv_realloc": ({}, "realloc_growth", "append"),
    "adv_xthread": ({}, "cross_thread_free", "make_message"),
}

# example -> (its rule, the evidence member checked, the word of its output with the count)
COUNTED = {
    "adv_scratch": ("temporaries", "temporaries", "temporaries"),
    "adv_realloc": ("realloc_growth", "realloc_grows", "realloc_grows"),
    "adv_xthread": ("cross_thread_free", "cross_thread_frees", "cross_thread_frees"),
}
ESTIMATE_BOUND = 0.15  # relative error allowed for estimated counts (docs/tuning.md)


def main():
    def extra(ap):
        ap.add_argument("--data", required=True, help="tests/data")
        ap.add_argument("--update", action="store_true", help="rewrite the golden advice files")

    args = pstest.parse_args(extra)
    ck = pstest.Checker("test_advise")
    data = os.path.abspath(args.data)

    def perfshim(*a, cwd=None):
        return pstest.run([args.perfshim] + list(a), cwd=cwd)

    def advise(*traces, extra=()):
        p = perfshim("advise", "--json", *(list(extra) + list(traces)))
        try:
            return p, json.loads(p.stdout.decode("utf-8"))
        except ValueError:
            ck.fatal("advise --json prints JSON", pstest.describe(p))

    # ---- golden ---------------------------------------------------------------------------------
    text = perfshim("advise", *GOLDEN_ARGS, cwd=data)
    js = perfshim("advise", "--json", *GOLDEN_ARGS, cwd=data)
    if not ck.check(text.returncode == 0 and js.returncode == 0, "golden advise exits 0",
                    pstest.describe(text) + pstest.describe(js)):
        ck.done()
    expected = test_golden.check_report(ck, data, "advise", "advise", text, js, args.update)
    if expected is None:
        ck.done()
    ck.check(any(a["rule"] == "leak" for a in expected["advice"]),
             "golden: the expected advice has leaks")

    # ---- one inefficiency per example ------------------------------------------------------------
    work = pstest.tmpdir("advise")

    outputs = {}

    def run(prog, env, name, argv=()):
        path = os.path.join(work, name + ".trace")
        e = {"LD_PRELOAD": args.lib, "PERFSHIM_OUTPUT": path}
        e.update(env)
        p = pstest.run([os.path.join(args.bindir, prog)] + list(argv), env=e, cwd=work)
        if not ck.check(p.returncode == 0 and os.path.exists(path),
                        "%s %s ran and wrote its trace" % (prog, " ".join(argv)),
                        pstest.describe(p)):
            ck.done()
        outputs[name] = p.stdout.decode("utf-8")
        return path

    def summary_json(trace):
        p = perfshim("summary", "--json", trace)
        return json.loads(p.stdout.decode("utf-8"))

    docs = {}
    for prog, (env, rule, function) in EXAMPLES.items():
        trace = run(prog, env, prog)
        p, doc = advise(trace)
        docs[prog] = (trace, doc)
        ck.equal(p.returncode, 0, prog + ": advise exits 0")
        rules = [a["rule"] for a in doc["advice"]]
        want = list(rule) if isinstance(rule, tuple) else [rule] if rule else []
        ck.equal(rules, want, prog + ": exactly its advice")
        skipped = {s["id"]: s["why"] for s in doc["skipped_rules"]}
        ck.check(not (COUNTER_RULES & set(skipped)),
                 prog + ": the counter rules are judged (the trace has advice counters)",
                 repr(skipped))
        for a in doc["advice"]:
            keys = {"rule", "trace", "what", "where", "stack", "evidence", "gain", "gain_text"}
            ck.check(keys <= set(a) and a["what"] and a["evidence"] and a["gain"],
                     prog + ": the advice has " + ", ".join(sorted(keys)), repr(a)[:600])
            if function:
                ck.check(a["where"].startswith(function + " (" + prog + ".c:"),
                         prog + ": where names " + function, a["where"])
            elif a["rule"] == "alloc_latency":
                ck.check(a["where"].startswith("realloc of") and
                         a["evidence"]["p99_ns"] >= 20 * max(a["evidence"]["p50_ns"], 1),
                         prog + ": realloc's size bin, p99 20x p50", repr(a)[:600])
            elif a["rule"] == "lock.shard":
                ck.check(a["where"].split(" (")[0] in ("count_read", "count_write",
                                                         "count_open") and
                         a["evidence"]["busy_sites"] == 3,
                         prog + ": the lock's three sites, where names one", repr(a)[:600])

    # ---- the advice counters: exact with PERFSHIM_ADVICE_SAMPLE=1, else estimates -------------
    def printed(name, word):
        toks = outputs[name].split()
        return float(toks[toks.index(word) + 1])

    for prog, (rule, member, word) in COUNTED.items():
        for label, env, exact in (("exact", {"PERFSHIM_ADVICE_SAMPLE": "1"}, True),
                                  ("exact, pool off",
                                   {"PERFSHIM_ADVICE_SAMPLE": "1", "PERFSHIM_POOL": "0"}, True),
                                  ("1 in 16", {}, False),
                                  ("byte sampling", {"PERFSHIM_SAMPLE": "4096",
                                                     "PERFSHIM_SAMPLE_SEED": "7",
                                                     "PERFSHIM_ADVICE_SAMPLE": "1"}, False),
                                  ("byte sampling, pool off",
                                   {"PERFSHIM_SAMPLE": "4096", "PERFSHIM_SAMPLE_SEED": "7",
                                    "PERFSHIM_POOL": "0"}, False)):
            name = "%s_%s" % (prog, label.replace(" ", "_").replace(",", ""))
            trace = run(prog, env, name)
            want = printed(name, word)
            p, doc = advise(trace)
            adv = [a for a in doc["advice"] if a["rule"] == rule]
            if not ck.check(len(adv) == 1, "%s (%s): its advice" % (prog, label),
                            repr([a["rule"] for a in doc["advice"]])):
                continue
            e = adv[0]["evidence"]
            got = e[member]
            if exact:
                ck.equal(got, want, "%s (%s): %s as the program counted" % (prog, label, member))
                ck.equal(e["counters_estimated"], 0, "%s (%s): not an estimate" % (prog, label))
            else:
                ck.check(abs(got - want) <= ESTIMATE_BOUND * want,
                         "%s (%s): %s %s within %d%% of %s" % (prog, label, member, got,
                                                              100 * ESTIMATE_BOUND, want))
                ck.equal(e["counters_estimated"], 1, "%s (%s): labelled an estimate"
                         % (prog, label))
                ck.check("estimated" in adv[0]["gain_text"],
                         "%s (%s): the gain says estimated" % (prog, label), adv[0]["gain_text"])
            if prog == "adv_scratch" and exact:
                # the site's size histograms (its ADVICE rows' bins, summed for the advised
                # group): each block of SCRATCH bytes is handed out in one at least as large, so
                # 1 or more; 0 when the bins are lost before the rule reads them
                ck.check(e["usable_per_requested_byte"] >= 1.0,
                         "adv_scratch (%s): usable bytes per requested byte %s >= 1"
                         % (label, e["usable_per_requested_byte"]))
            if prog == "adv_realloc" and exact:
                factor = printed(name, "mean_factor")
                ck.check(abs(e["mean_growth_factor"] - factor) <= 1e-4,
                         "adv_realloc (%s): mean growth factor %s = printed %s"
                         % (label, e["mean_growth_factor"], factor))

    # ---- pool.max: the promised gain, exactly ---------------------------------------------------
    trace, doc = docs["adv_poolmax"]
    adv = [a for a in doc["advice"] if a["rule"] == "pool.max"]
    if adv:
        ev = adv[0]["evidence"]
        ck.equal(ev["suggested_pool_max"], 224, "pool.max suggests the class of 200 bytes")
        # its 20000 records, and stdio's buffer of stdout (one block of 1 KiB or more)
        ck.check(20000 <= ev["allocations_above_max"] <= 20002,
                 "pool.max counts the 20000 requests above", repr(ev))
        predicted = adv[0]["gain"]["allocations"]
        before = sum(c["allocs"] for c in summary_json(trace)["pool"]["classes"])
        after_trace = run("adv_poolmax", {"PERFSHIM_POOL_MAX": str(ev["suggested_pool_max"])},
                          "adv_poolmax_applied")
        after = sum(c["allocs"] for c in summary_json(after_trace)["pool"]["classes"])
        ck.equal(after - before, predicted, "pool.max: pooled allocations gained = predicted")
        p, doc2 = advise(after_trace)
        ck.equal([a["rule"] for a in doc2["advice"]], [], "pool.max applied: no advice left")

    # ---- short_lived: the promised gain, within 2% ---------------------------------------------
    trace, doc = docs["adv_temporaries"]
    adv = [a for a in doc["advice"] if a["rule"] == "short_lived"]
    if adv:
        predicted = adv[0]["gain"]["allocations"]
        after_trace = run("adv_temporaries", {}, "adv_temporaries_reuse", ["--reuse"])
        saved = (summary_json(trace)["totals"]["allocs"] -
                 summary_json(after_trace)["totals"]["allocs"])
        ck.check(saved == 49999 and abs(predicted - saved) <= 0.02 * saved,
                 "short_lived: allocations saved by --reuse (%d) within 2%% of predicted (%d)"
                 % (saved, predicted))
        p, doc2 = advise(after_trace)
        ck.equal([a["rule"] for a in doc2["advice"]], [], "short_lived applied: no advice left")

    # ---- lock.rwlock and alloc_latency: the advice applied leaves none ------------------------
    trace, doc = docs["adv_rwlock"]
    adv = [a for a in doc["advice"] if a["rule"] == "lock.rwlock"]
    if adv:
        ev = adv[0]["evidence"]
        ck.check(ev["read_acquisitions"] == 0 and ev["write_share"] == 100.0 and
                 "pthread_rwlock_rdlock" in adv[0]["what"],
                 "lock.rwlock: every acquisition in write mode, rdlock proposed", repr(adv[0])[:600])
    p, doc2 = advise(run("adv_rwlock", {"PERFSHIM_LOCKS": "1"}, "adv_rwlock_read", ["--read"]))
    ck.equal([a["rule"] for a in doc2["advice"]], [], "lock.rwlock applied (--read): no advice left")
    p, doc2 = advise(run("adv_latency", {"PERFSHIM_LATENCY_SAMPLE": "1"}, "adv_latency_reserve",
                         ["--reserve"]))
    ck.equal([a["rule"] for a in doc2["advice"]], [],
             "alloc_latency applied (--reserve): no advice left")
    p, doc2 = advise(run("adv_clean", {"PERFSHIM_LATENCY_SAMPLE": "1"}, "adv_clean_latency"))
    ck.equal([a["rule"] for a in doc2["advice"]], [], "adv_clean with latency timed: no advice")
    ck.check(not any(s["id"] == "alloc_latency" for s in doc2["skipped_rules"]),
             "adv_clean with latency timed: alloc_latency judged, not skipped")

    # ---- growth: the service's slow leak, not its bounded cache ------------------------------
    svc = os.path.join(args.bindir, "service")
    killed = os.path.join(work, "service_killed.trace")
    env = dict(os.environ, LD_PRELOAD=args.lib, PERFSHIM_OUTPUT=killed,
               PERFSHIM_INTERVAL="100ms")
    proc = subprocess.Popen([svc, "--duration", "60", "--rate", "2000"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):  # its first snapshot, then 2.5 s more of them
        if os.path.exists(killed) and os.path.getsize(killed) > 0:
            break
        time.sleep(0.1)
    time.sleep(2.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    p, doc = advise(killed)
    grow = [a for a in doc["advice"] if a["rule"] == "growth"]
    ck.check(len(grow) == 1 and grow[0]["where"].startswith("leak_request (service.c:"),
             "service killed: growth advises its leak, and only it",
             repr([(a["rule"], a["where"]) for a in doc["advice"]]))
    ck.check(not any("cache_insert" in a["where"] for a in doc["advice"]),
             "service killed: no advice about its bounded cache", repr(doc["advice"])[:1500])
    if grow:
        ev = grow[0]["evidence"]
        ck.check(abs(ev["bytes_per_allocation"] - 48) < 0.5 and
                 grow[0]["gain"]["bytes"] == ev["live_bytes"] == 48 * ev["live_blocks"],
                 "growth: 48 bytes per allocation, the live bytes as gain", repr(grow[0])[:800])
    ck.check(any(s["id"] == "leak" for s in doc["skipped_rules"]),
             "service killed: leak skipped (no exit snapshot)")
    exited = run("service", {"PERFSHIM_INTERVAL": "100ms"}, "service_exit",
                 ["--duration", "1.5", "--rate", "2000"])
    p, doc = advise(exited)
    where = [(a["rule"], a["where"].split(" (")[0]) for a in doc["advice"]
             if a["rule"] in ("leak", "growth")]
    ck.equal(where, [("leak", "leak_request")], "service at exit: its leak advised once, by leak")
    ck.check(not any("cache_insert" in a["where"] for a in doc["advice"]),
             "service at exit: no advice about its bounded cache", repr(doc["advice"])[:1500])

    # ---- leaks, and a leak in every process ---------------------------------------------------
    l1 = run("leaky", {}, "leaky1")
    l2 = run("leaky", {}, "leaky2")
    p, one = advise(l1)
    leaks = [a for a in one["advice"] if a["rule"] == "leak"]
    ck.check(len(leaks) >= 3, "leaky: its leaks are advice", repr([a["where"] for a in leaks]))
    gains = [a["gain"]["bytes"] for a in leaks]
    ck.equal(gains, sorted(gains, reverse=True), "leak: ranked by bytes")
    ck.check(any(s["id"] == "leak.every_process" for s in one["skipped_rules"]),
             "one trace: leak.every_process skipped")
    p, two = advise(l1, l2)
    every = [a for a in two["advice"] if a["rule"] == "leak.every_process"]
    ck.equal(len(every), len(leaks), "two runs of leaky: each leaking site leaks in both")
    ck.check(all(a["trace"] is None and a["evidence"]["processes"] == 2 for a in every),
             "leak.every_process: over both traces", repr(every[:1])[:400])
    ck.check(every and every[0]["gain"]["bytes"] == 2 * leaks[0]["gain"]["bytes"],
             "leak.every_process: the bytes of both processes")

    # ---- text, exit statuses ---------------------------------------------------------------------
    p = perfshim("advise", docs["adv_tiny"][0])
    out = p.stdout.decode("utf-8")
    ck.check(p.returncode == 0 and "[tiny]" in out and "expected gain:" in out and
             "evidence:" in out and "new_node (adv_tiny.c:" in out, "text advice", out[:2000])
    ck.equal(perfshim("advise", "--fail-on-advice", docs["adv_tiny"][0]).returncode, 1,
             "--fail-on-advice with advice: exit 1")
    ck.equal(perfshim("advise", "--fail-on-advice", docs["adv_clean"][0]).returncode, 0,
             "--fail-on-advice without advice: exit 0")
    ck.check("No advice" in perfshim("advise", docs["adv_clean"][0]).stdout.decode(),
             "clean: the text says no advice")
    ck.equal(perfshim("advise").returncode, 2, "no trace: exit 2")
    ck.equal(perfshim("advise", "--bogus", l1).returncode, 2, "unknown option: exit 2")
    ck.equal(perfshim("advise", os.path.join(work, "missing.trace")).returncode, 2,
             "unreadable trace: exit 2")

    # ---- memory: per-site state of a trace with advice counters ---------------------------------
    # 20,000 distinct stacks with advice counters: advise's peak RSS against summary's (the same
    # load and grouping). Two size histograms kept for every site (256 bytes each) and a hash of
    # every row took 1.26x; histograms summed only for the advised sites, 1.06x.
    many = pstest.manystacks_trace(args, ck, work)
    if many:
        summary_kib, _ = pstest.analyzer_peak_kib(args, "summary", many)
        advise_kib, p = pstest.analyzer_peak_kib(args, "advise", many)
        ck.check(summary_kib and advise_kib and p.returncode == 0 and
                 advise_kib <= 1.15 * summary_kib,
                 "advise of 20,000 sites peaks at most 1.15x summary (%s KiB against %s KiB)"
                 % (advise_kib, summary_kib), pstest.describe(p))
    ck.done()


if __name__ == "__main__":
    main()
