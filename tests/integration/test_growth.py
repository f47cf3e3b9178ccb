#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_growth.py — `perfshim growth` (issue 12, item 1) on programs whose growth is known:
- the example service (examples/service.c) under PERFSHIM_INTERVAL=100ms: its leak
  (leak_request) is classified unbounded and ranked first, at one leaked allocation per request
  (its allocations equal the requests it prints) and so at bytes per allocation within 5% of
  the bytes it leaks per request; its cache (cache_insert) is bounded; its churn
  (handle_request) stable;
- growthprog (tests/integration/growthprog.c): a leak that starts half way is unbounded (and
  first, at its bytes per allocation), a cache still filling ever more slowly is saturating, a
  sawtooth heap is stable;
- the same service sampled (PERFSHIM_SAMPLE=512, fixed seed): every figure marked estimated,
  the leak still first and growing, at its bytes per allocation within 5%, every site with the
  samples behind it (the leak's within 5 standard errors of its requests times the chance
  that a block of its size is sampled); a full trace's sites have no samples;
- the JSON's shape (format, version, frames as in leaks --json, the limit from the trace's
  PROCESS chunk), --limit, several traces (one report each), the text report, and a bad
  --limit refused with status 2.
The classes come from the series in the trace, not from wall-clock assertions: the programs
pace themselves on absolute deadlines so that each snapshot sees a known phase."""
import json
import math
import os
import re

import pstest


def function_of(site):
    for f in site.get("stack", []):
        if f.get("function"):
            return f["function"]
    return None


def growth(args, ck, traces, extra=()):
    q = pstest.run([args.perfshim, "growth", "--json", "--top", "0"] + list(extra) + traces)
    try:
        return json.loads(q.stdout.decode())
    except ValueError:
        ck.fatal("growth --json prints JSON", pstest.describe(q))


def by_function(doc):
    out = {}
    for s in doc["sites"]:
        out.setdefault(function_of(s), s)
    return out


def check_shape(ck, doc, label):
    ck.equal(doc.get("format"), "perfshim-growth", label + ": format")
    ck.equal(doc.get("version"), 1, label + ": version")
    keys = {"class", "live_bytes", "bytes_per_second", "bytes_per_event", "confidence",
            "time_to_limit_s", "stack", "rank", "estimated"}
    sites = doc.get("sites", [])
    ck.check(sites and all(keys <= set(s) for s in sites), label + ": every site has " +
             ", ".join(sorted(keys)), repr(sites[:1])[:800])
    ck.check(all(s["class"] in ("unbounded", "bounded", "saturating", "stable") for s in sites),
             label + ": classes", repr([s["class"] for s in sites]))
    ck.check(all(0 <= s["confidence"] <= 1 for s in sites), label + ": confidence in 0..1")
    ck.equal([s["rank"] for s in sites], list(range(1, len(sites) + 1)), label + ": ranks")
    frame_keys = {"function", "file", "line", "module", "address", "offset", "inlined",
                  "library"}
    ck.check(all(s["stack"] and all(frame_keys <= set(f) for f in s["stack"]) for s in sites),
             label + ": frames shaped as in leaks --json", repr(sites[0]["stack"][:1]))
    # the limit: the machine's memory or the cgroup's memory.max, as the trace recorded it
    ck.check(doc.get("limit_source") in ("cgroup", "machine") and doc.get("limit_bytes", 0) > 0,
             label + ": a limit from the trace", repr((doc.get("limit_source"),
                                                       doc.get("limit_bytes"))))


def run_service(args, ck, work, extra_env=None):
    env = {"LD_PRELOAD": args.lib, "PERFSHIM_INTERVAL": "100ms",
           "PERFSHIM_OUTPUT": os.path.join(work, "%e.%p.trace")}
    env.update(extra_env or {})
    p = pstest.run([os.path.join(args.bindir, "service"), "--duration", "3", "--rate", "500"],
                   env=env, cwd=work)
    ck.equal(p.returncode, 0, "the service exits 0 under the shim")
    m = re.search(rb"requests (\d+) leak_bytes_per_request (\d+)", p.stdout)
    traces = [os.path.join(work, f) for f in os.listdir(work) if f.endswith(".trace")]
    if not ck.check(m is not None and len(traces) == 1, "the service's counts and one trace",
                    pstest.describe(p)):
        ck.done()
    return int(m.group(1)), int(m.group(2)), traces[0]


def main():
    args = pstest.parse_args()
    ck = pstest.Checker("test_growth")

    # ---- the example service: leak, cache, churn
    work = pstest.tmpdir("growth_service")
    requests, leak, trace = run_service(args, ck, work)
    doc = growth(args, ck, [trace])
    check_shape(ck, doc, "service")
    ck.equal(doc["estimated"], False, "service: a full trace is not estimated")
    ck.check(not any("samples" in s for s in doc["sites"]), "service: no samples in a full trace")
    sites = by_function(doc)
    lk, ca, ch = sites.get("leak_request"), sites.get("cache_insert"), sites.get("handle_request")
    if not ck.check(lk and ca, "service: the leak and the cache are followed", repr(list(sites))):
        ck.done()
    ck.equal(function_of(doc["sites"][0]), "leak_request", "service: the leak ranks first")
    ck.equal(lk["class"], "unbounded", "service: the leak is unbounded")
    ck.equal(lk["allocs"], requests, "service: one leaked allocation per request")
    ck.check(abs(lk["bytes_per_event"] - leak) <= 0.05 * leak,
             "service: the leak's bytes per allocation within 5%% of %d per request" % leak,
             repr(lk["bytes_per_event"]))
    ck.check(lk["bytes_per_second"] > 0 and lk["time_to_limit_s"] is not None and
             lk["time_to_limit_s"] > 0, "service: the leak grows, with a time to the limit",
             repr(lk))
    ck.check(lk["confidence"] >= 0.9, "service: the leak's class is sure", repr(lk["confidence"]))
    ck.equal(ca["class"], "bounded", "service: the cache is bounded")
    ck.equal(ca["time_to_limit_s"], None, "service: no time to the limit for a plateau")
    if ch is not None:  # (only when a snapshot caught one of its buffers live)
        ck.equal(ch["class"], "stable", "service: the churn is stable")

    # --limit: the time to it, from the RSS at the last snapshot, at the leak's rate
    doc2 = growth(args, ck, [trace], ["--limit", "1G"])
    l2 = by_function(doc2).get("leak_request", {})
    ck.check(doc2.get("limit_bytes") == 1 << 30 and doc2.get("limit_source") == "option" and
             l2.get("time_to_limit_s") and
             l2["time_to_limit_s"] < (1 << 30) / l2["bytes_per_second"],
             "--limit 1G: the limit, and a time to it below 1 GiB at the leak's rate",
             repr((doc2.get("limit_bytes"), l2.get("time_to_limit_s"))))

    # ---- growthprog: a late leak, a slowly filling cache, a sawtooth
    gwork = pstest.tmpdir("growth_prog")
    env = {"LD_PRELOAD": args.lib, "PERFSHIM_INTERVAL": "50ms",
           "PERFSHIM_OUTPUT": os.path.join(gwork, "%e.%p.trace")}
    p = pstest.run([os.path.join(args.bindir, "growthprog")], env=env, cwd=gwork)
    m = re.search(rb"leak_bytes (\d+) leak_per_tick (\d+)", p.stdout)
    gtraces = [os.path.join(gwork, f) for f in os.listdir(gwork) if f.endswith(".trace")]
    if not ck.check(p.returncode == 0 and m and len(gtraces) == 1, "growthprog runs, one trace",
                    pstest.describe(p)):
        ck.done()
    leak_bytes = int(m.group(1))
    gdoc = growth(args, ck, gtraces)
    check_shape(ck, gdoc, "growthprog")
    g = by_function(gdoc)
    classes = {f: (g[f]["class"] if f in g else None)
               for f in ("late_leak", "cache_fill", "sawtooth")}
    ck.equal(classes, {"late_leak": "unbounded", "cache_fill": "saturating",
                       "sawtooth": "stable"}, "growthprog: the classes")
    ck.equal(function_of(gdoc["sites"][0]), "late_leak", "growthprog: the late leak ranks first")
    if "late_leak" in g:
        ck.check(abs(g["late_leak"]["bytes_per_event"] - leak_bytes) <= 0.05 * leak_bytes,
                 "growthprog: the late leak's bytes per allocation", repr(g["late_leak"]))

    # several traces: one report each, in order
    docs = growth(args, ck, [trace] + gtraces)
    ck.check(isinstance(docs, list) and len(docs) == 2 and
             [d.get("format") for d in docs] == ["perfshim-growth"] * 2 and
             docs[1]["trace"] == gtraces[0], "two traces: two reports, in order",
             repr(docs)[:300])

    # ---- sampled: estimates, marked
    swork = pstest.tmpdir("growth_sampled")
    requests, leak, strace = run_service(
        args, ck, swork, {"PERFSHIM_SAMPLE": "512", "PERFSHIM_SAMPLE_SEED": "7"})
    sdoc = growth(args, ck, [strace])
    ck.equal(sdoc.get("estimated"), True, "sampled: the report is estimated")
    ck.check(all(s["estimated"] for s in sdoc["sites"]), "sampled: every site is estimated")
    s0 = sdoc["sites"][0]
    ck.check(function_of(s0) == "leak_request" and s0["class"] in ("unbounded", "saturating"),
             "sampled: the leak ranks first, growing", repr((function_of(s0), s0["class"])))
    ck.check(s0["bytes_per_event"] and abs(s0["bytes_per_event"] - leak) <= 0.05 * leak,
             "sampled: the leak's bytes per allocation within 5%", repr(s0["bytes_per_event"]))
    ck.check(all("samples" in s for s in sdoc["sites"]), "sampled: every site has its samples")
    want = requests * -math.expm1(-leak / 512.0)  # one 48 B block per request, p = 1 - e^(-s/T)
    ck.check(abs(s0.get("samples", -1) - want) <= 5 * math.sqrt(want),
             "sampled: the leak's samples within 5 standard errors of %.1f" % want,
             repr(s0.get("samples")))

    # ---- text, and a bad --limit
    q = pstest.run([args.perfshim, "growth", "--top", "2", trace])
    text = q.stdout.decode()
    ck.check(q.returncode == 0 and re.search(r"#1 unbounded \(confidence [01]\.\d\d\)", text) and
             "leak_request (service.c:" in text and not re.search(r"^#3 ", text, re.M),
             "text: the leak first with its frames, --top 2", text[-1500:])
    q = pstest.run([args.perfshim, "growth", "--limit", "lots", trace])
    ck.check(q.returncode == 2 and b"--limit" in q.stderr, "a bad --limit: status 2",
             pstest.describe(q))
    ck.done()


if __name__ == "__main__":
    main()
