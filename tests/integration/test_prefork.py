#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_prefork.py — examples/prefork.c (a parent and 3 workers) under `perfshim run`, issue 12
items 4 and 5:
  - one trace per process, four distinct files, even with a template without %p;
  - each worker's report lists the parent's configuration as inherited, not as its leak;
  - `leaks --merge` shows the request site once with processes 4, the workers' state with
    processes 3, the configuration with processes 1, exact blocks and bytes (from prefork.c's
    constants), and the inherited copies in the totals; `summary --merge` names 4 processes
    for the request site;
  - a LeakSanitizer suppression file (leak: rules on a function, an anchored function, a
    source file; a TSan rule that must be ignored) suppresses what it names and reports which
    rule matched how much (suppressions_used, "Suppressions used:").
--growth: `perfshim growth --merge` (issue 12 item 4):
  - prefork with 3 workers, 100 requests each 15 ms apart, PERFSHIM_INTERVAL=50ms: the request
    site is one merged site of 4 processes, unbounded and first, at the sum of the processes'
    rates (each PREFORK_REQUEST_SIZE per 15 ms, on deadlines they share) within 5%, at
    PREFORK_REQUEST_SIZE bytes per allocation within 5%, with exactly the live blocks and bytes
    the program leaks; the workers' state counts 3 processes; the text names the processes.
    Those figures need the workers to end with the run (analyzer.md, growth --merge): a round
    where the master's exit came too long after them (a loaded machine; seen in CI) is run
    again, and the test skips if all 3 rounds are such;
  - a `make -j2` running leaky 6 times (one trace per process, an exit snapshot each): leaky's
    sites count 6 processes, their live bytes and blocks equal `leaks --merge`'s (a process
    keeps what it left at exit to the end of the merged series);
  - the JSON's shape (the exact keys of the report and of a site: golden), on both.
--sequential: `perfshim growth --merge` over processes that end (issue 14 item 3's make of
  sequential cc1 processes): a shell runs leaky (one exit snapshot, leaks at exit) again and
  again while growthprog runs beside it. Summed with what each ended leaky left, leaky's sites
  climbed to the end of the run and read as unbounded; an ended process now adds nothing after
  its end, so each leaky site (every run's, processes = the runs) is stable or bounded, never
  growing, and growthprog's late_leak(), still running at the end, is unbounded."""
import json
import os
import subprocess
import time

import pstest

# growth --merge --json: the keys of the report and of each site (golden shape)
GROWTH_MERGED_KEYS = {"format", "version", "traces", "estimated", "time_axis", "limit_bytes",
                      "limit_source", "points", "sites_followed", "sites"}
GROWTH_MERGED_SITE_KEYS = {"rank", "class", "live_bytes", "live_blocks", "allocs",
                           "peak_live_bytes", "processes", "bytes_per_second", "bytes_per_event",
                           "confidence", "time_to_limit_s", "r2_first", "r2_last", "estimated",
                           "stack"}


def site(doc, marks, name, key="leaks"):
    line = marks["LEAK:" + name]
    return [s for s in doc.get(key, []) if s["stack"] and
            pstest.frame_at(s["stack"][0], "prefork.c", line)]


def growth_merged(args, ck, traces, label, cwd):
    q = pstest.run([args.perfshim, "growth", "--merge", "--json", "--top", "0"] + traces, cwd=cwd)
    ck.equal(q.returncode, 0, label + ": growth --merge exit status")
    try:
        doc = json.loads(q.stdout.decode())
    except ValueError:
        ck.fatal(label + ": growth --merge --json prints JSON", pstest.describe(q))
    ck.equal(set(doc), GROWTH_MERGED_KEYS, label + ": the report's keys")
    ck.equal((doc.get("format"), doc.get("version")), ("perfshim-growth-merged", 1),
             label + ": format and version")
    ck.equal(len(doc.get("traces", [])), len(traces), label + ": every trace merged")
    ck.equal(doc.get("time_axis"), "monotonic", label + ": one machine's monotonic clock")
    sites = doc.get("sites", [])
    ck.check(sites and all(set(x) == GROWTH_MERGED_SITE_KEYS for x in sites),
             label + ": every site's keys", repr(sites[:1])[:1500])
    ck.equal([x["rank"] for x in sites], list(range(1, len(sites) + 1)), label + ": ranks")
    return doc


def workers_end_early(traces):
    """Which processes growth --merge drops before the end of the series, by the rule of
    docs/analyzer.md (growth --merge, step interpolation): one ends with the run when its last
    snapshot is within one sampling interval (the span over at most 64 points), or a tenth of
    its own lifetime, of the last snapshot of all. '' when none."""
    ends = []
    for t in traces:
        raw = pstest.RawTrace(t, rows=False)
        if raw.error or not raw.process or not raw.snapshots:
            continue  # not a timing matter: the checks below say what is wrong
        start = raw.process["start_monotonic_ns"] / 1e9
        ends.append((start, start + raw.snapshots[0]["time_ns"] / 1e9,
                     start + raw.snapshots[-1]["time_ns"] / 1e9, len(raw.snapshots), t))
    if not ends:
        return ""
    t0, t1 = min(e[1] for e in ends), max(e[2] for e in ends)
    points = min(64, sum(min(64, e[3]) for e in ends))
    dt = (t1 - t0) / (points - 1) if points > 1 else 0
    # a margin of 1 ms for the rounding of times between the analyzer and this
    early = ["%s ended %.3f s before the last snapshot" % (os.path.basename(e[4]), t1 - e[2])
             for e in ends if t1 - e[2] > max(dt, 0.1 * (e[2] - e[0])) - 0.001]
    return "; ".join(early)


def growth_case(args, ck):
    src = os.path.join(args.srcdir, "prefork.c")
    marks = pstest.markers(src)
    d = lambda n: pstest.define(src, n)
    size = d("PREFORK_REQUEST_SIZE")
    workers, requests, pause = 3, 100, 15000
    for attempt in range(3):
        work = pstest.tmpdir("prefork-growth")
        p = pstest.run([args.perfshim, "run", "-o", os.path.join(work, "pf.%p.trace"), "--",
                        os.path.join(args.bindir, "prefork"), str(workers), str(requests),
                        str(pause)],
                       cwd=work, env={"PERFSHIM_INTERVAL": "50ms"})
        ck.check(p.returncode == 0, "prefork under perfshim run", pstest.describe(p))
        traces = sorted(os.path.join(work, f) for f in os.listdir(work) if f.endswith(".trace"))
        late = workers_end_early(traces)
        if not late:
            break
        # the master's exit came so long after its workers' (a loaded machine: seen in CI)
        # that growth --merge rightly dropped them before the end; what follows needs them kept
        print("note: round %d: %s; run again" % (attempt + 1, late))
    else:
        ck.skip("in 3 runs the workers ended long before the master (a loaded machine)")
    # each process leaks `size` bytes per pause (us), on deadlines all of them share
    want = (workers + 1) * size * 1e6 / pause
    doc = growth_merged(args, ck, traces, "prefork", work)
    req = site(doc, marks, "request", "sites")
    ck.check(len(req) == 1, "the request site is one merged site", json.dumps(req)[:2000])
    if req:
        r = req[0]
        ck.check(r["rank"] == 1 and r["class"] == "unbounded" and r["processes"] == workers + 1,
                 "request site: first, unbounded, %d processes" % (workers + 1), json.dumps(r))
        ck.check(abs(r["bytes_per_second"] - want) <= 0.05 * want,
                 "request site: the merged rate is the sum of the processes' within 5%",
                 "merged %.1f B/s, sum %.1f B/s" % (r["bytes_per_second"], want))
        ck.check(r["bytes_per_event"] is not None and
                 abs(r["bytes_per_event"] - size) <= 0.05 * size,
                 "request site: %d bytes per allocation within 5%%" % size, json.dumps(r))
        ck.equal((r["live_blocks"], r["live_bytes"]), ((workers + 1) * requests,
                                                       (workers + 1) * requests * size),
                 "request site: live blocks and bytes at the end")
    st = site(doc, marks, "state", "sites")
    ck.check(len(st) == 1 and st[0]["processes"] == workers, "the workers' state: %d processes"
             % workers, json.dumps(st)[:2000])
    t = pstest.run([args.perfshim, "growth", "--merge"] + traces, cwd=work).stdout.decode()
    ck.check("merged over %d processes" % (workers + 1) in t and
             "from %d of %d processes" % (workers + 1, workers + 1) in t,
             "growth --merge text names the processes", t[:3000])
    q = pstest.run([args.perfshim, "growth", "--json"] + traces, cwd=work)
    per = json.loads(q.stdout.decode())
    ck.check(isinstance(per, list) and len(per) == workers + 1 and
             all(x.get("format") == "perfshim-growth" for x in per),
             "without --merge: one report per process, as before")

    # a make -j2 running leaky 6 times: short processes, one exit snapshot each
    mk = os.path.join(work, "Makefile")
    leaky = os.path.join(args.bindir, "leaky")
    with open(mk, "w") as f:
        f.write("all: " + " ".join("r%d" % i for i in range(6)) + "\n")
        for i in range(6):
            f.write("r%d:\n\t%s > /dev/null\n" % (i, leaky))
        f.write(".PHONY: all " + " ".join("r%d" % i for i in range(6)) + "\n")
    mwork = pstest.tmpdir("prefork-make")
    p = pstest.run([args.perfshim, "run", "-o", os.path.join(mwork, "mk.%p.trace"), "--", "make",
                    "-s", "-j2", "-f", mk], cwd=mwork)
    ck.check(p.returncode == 0, "make -j2 under perfshim run", pstest.describe(p))
    mtraces = sorted(os.path.join(mwork, f) for f in os.listdir(mwork) if f.endswith(".trace"))
    ck.check(len(mtraces) >= 7, "make -j2: a trace per process (make, 6 leaky)", repr(mtraces))
    doc = growth_merged(args, ck, mtraces, "make -j2", mwork)
    q = pstest.run([args.perfshim, "leaks", "--merge", "--json", "--top", "0"] + mtraces,
                   cwd=mwork)
    leaks = json.loads(q.stdout.decode())
    lmarks = pstest.markers(os.path.join(args.srcdir, "leaky.c"))
    for name in ("malloc", "calloc"):
        line = lmarks["LEAK:" + name]
        g = [x for x in doc["sites"] if x["stack"] and
             pstest.frame_at(x["stack"][0], "leaky.c", line)]
        lk = [x for x in leaks["leaks"] + leaks["suppressed"] if x["stack"] and
              pstest.frame_at(x["stack"][0], "leaky.c", line)]
        ck.check(len(g) == 1 and len(lk) == 1 and g[0]["processes"] == 6 and
                 (g[0]["live_blocks"], g[0]["live_bytes"]) == (lk[0]["blocks"], lk[0]["bytes"]),
                 "make -j2: LEAK:%s from 6 processes, its live figures those of leaks --merge"
                 % name, json.dumps(g)[:1500] + "\n" + json.dumps(lk)[:1500])


def times(args, traces, cwd):
    """{trace: (program, start, last snapshot)} on the wall clock (ns), from summary --json."""
    q = pstest.run([args.perfshim, "summary", "--json"] + traces, cwd=cwd)
    out = {}
    for t, r in zip(traces, json.loads(q.stdout.decode())):
        start = r["process"]["start_time_ns"]
        out[t] = (r["process"]["program"], start, start + r["snapshot"]["time_ns"])
    return out


def sequential_case(args, ck):
    leaky, grow = os.path.join(args.bindir, "leaky"), os.path.join(args.bindir, "growthprog")
    for attempt in range(3):
        work = pstest.tmpdir("prefork-seq%d" % attempt)
        env = dict(os.environ, LD_PRELOAD=args.lib, PERFSHIM_INTERVAL="50ms",
                   PERFSHIM_OUTPUT=os.path.join(work, "s.%p.trace"))
        # growthprog for 100 ticks of 20 ms on absolute deadlines (2 s); leaky one run after
        # another until 1.7 s: the last leaky ends before growthprog does (checked below: a
        # loaded machine may stretch a run), and leaky's staircase spans most of the run
        g = subprocess.Popen([grow, "--ticks", "100"], env=env, cwd=work,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t0 = time.monotonic()
        while time.monotonic() - t0 < 1.7:
            subprocess.run([leaky], env=env, cwd=work, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        ck.equal(g.wait(), 0, "growthprog's exit status")
        traces = sorted(os.path.join(work, f) for f in os.listdir(work) if f.endswith(".trace"))
        when = times(args, traces, work)
        lk = [t for t in traces if when[t][0] == leaky]
        gp = [t for t in traces if when[t][0] == grow]
        if len(gp) == 1 and len(lk) >= 3 and when[gp[0]][2] > max(when[t][1] for t in lk):
            break
    else:
        ck.fatal("growthprog outlived the last leaky in one of 3 runs", repr(when))
    doc = growth_merged(args, ck, traces, "sequential", work)
    lmarks = pstest.markers(os.path.join(args.srcdir, "leaky.c"))
    for name in ("malloc", "calloc", "realloc", "memalign"):
        g = [x for x in doc["sites"] if x["stack"] and
             pstest.frame_at(x["stack"][0], "leaky.c", lmarks["LEAK:" + name])]
        ck.check(len(g) == 1 and g[0]["processes"] == len(lk) and
                 g[0]["class"] in ("stable", "bounded"),
                 "sequential: LEAK:%s of %d ended leaky runs is not growing" % (name, len(lk)),
                 json.dumps(g)[:1500])
    gsrc = os.path.join(os.path.dirname(os.path.abspath(__file__)), "growthprog.c")
    line = [i + 1 for i, l in enumerate(open(gsrc)) if "malloc(LEAK_BYTES)" in l]
    g = [x for x in doc["sites"] if x["stack"] and line and
         pstest.frame_at(x["stack"][0], "growthprog.c", line[0])]
    ck.check(len(g) == 1 and g[0]["processes"] == 1 and g[0]["class"] == "unbounded",
             "sequential: growthprog's late_leak, running to the end, is unbounded",
             json.dumps(g)[:1500])


def main():
    def opts(ap):
        ap.add_argument("--growth", action="store_true")
        ap.add_argument("--sequential", action="store_true")
    args = pstest.parse_args(opts)
    ck = pstest.Checker("test_prefork")
    if args.growth:
        growth_case(args, ck)
        ck.done()
    if args.sequential:
        sequential_case(args, ck)
        ck.done()
    src = os.path.join(args.srcdir, "prefork.c")
    marks = pstest.markers(src)
    d = lambda n: pstest.define(src, n)
    workers, requests = d("PREFORK_WORKERS"), d("PREFORK_REQUESTS")
    work = pstest.tmpdir("prefork")
    # no %p: the shim must still give each process its own file
    p, reports = pstest.perfshim_run_json(args, ck, [os.path.join(args.bindir, "prefork")], work,
                                          extra_opts=["-o", os.path.join(work, "server.trace")])
    ck.equal(p.returncode, 0, "exit status")
    if not reports:
        ck.done()
    traces = sorted(os.path.join(work, f) for f in os.listdir(work) if ".trace" in f)
    ck.equal(len(traces), workers + 1, "one trace per process")
    pids = {r["process"]["pid"] for r in reports}
    ck.equal(len(pids), workers + 1, "four distinct pids reported")
    parent = [r for r in reports if not r.get("inherited")]
    kids = [r for r in reports if r.get("inherited")]
    ck.equal((len(parent), len(kids)), (1, workers), "the parent inherits nothing, each worker")
    for r in kids:
        inh = site(r, marks, "config", "inherited")
        ck.check(len(inh) == 1 and inh[0]["blocks"] == 1 and
                 inh[0]["bytes"] == d("PREFORK_CONFIG_SIZE") and inh[0]["inherited"] is True,
                 "worker %d: the configuration is inherited" % r["process"]["pid"],
                 json.dumps(r.get("inherited"))[:2000])
        ck.check(not site(r, marks, "config"), "worker %d: ... and not a leak of its own"
                 % r["process"]["pid"])
        ck.equal(r["inherited_from"]["parent_pid"], parent[0]["process"]["pid"] if parent else -1,
                 "worker %d: inherited from the parent" % r["process"]["pid"])

    # leaks --merge
    a = pstest.run([args.perfshim, "leaks", "--merge", "--json"] + traces, cwd=work)
    ck.equal(a.returncode, 0, "leaks --merge exit status")
    doc = json.loads(a.stdout.decode())
    ck.equal(doc.get("format"), "perfshim-leaks-merged", "merged format")
    ck.equal(len(doc.get("traces", [])), workers + 1, "merged traces")
    want = {"request": (workers + 1, (workers + 1) * requests, d("PREFORK_REQUEST_SIZE")),
            "state": (workers, workers, d("PREFORK_STATE_SIZE")),
            "config": (1, 1, d("PREFORK_CONFIG_SIZE"))}
    for name, (procs, blocks, size) in want.items():
        got = site(doc, marks, name)
        ck.check(len(got) == 1 and got[0]["processes"] == procs and got[0]["blocks"] == blocks
                 and got[0]["bytes"] == blocks * size,
                 "merged: LEAK:%s once, %d processes, %d blocks" % (name, procs, blocks),
                 json.dumps(got)[:2000])
    tot = doc.get("totals", {})
    ck.equal((tot.get("inherited_blocks"), tot.get("inherited_bytes")),
             (workers, workers * d("PREFORK_CONFIG_SIZE")), "merged: inherited copies counted apart")
    for s in doc.get("leaks", []):
        ck.check(all(not f.get("file") or not f["file"].endswith("prefork.c") or
                     f.get("line") != marks["NOLEAK:scratch"] for f in s["stack"][:1]),
                 "merged: the freed scratch buffer is no leak")
    t = pstest.run([args.perfshim, "leaks", "--merge"] + traces, cwd=work)
    text = t.stdout.decode()
    ck.check("from %d of %d processes" % (workers + 1, workers + 1) in text and
             "merged over %d processes" % (workers + 1) in text, "merged text names processes",
             text[:3000])

    # summary --merge
    a = pstest.run([args.perfshim, "summary", "--merge", "--json", "--top", "0"] + traces,
                   cwd=work)
    sdoc = json.loads(a.stdout.decode())
    got = site(sdoc, marks, "request", "sites")
    ck.check(len(got) == 1 and got[0]["processes"] == workers + 1 and
             got[0]["allocs"] == (workers + 1) * requests,
             "summary --merge: the request site, %d processes" % (workers + 1),
             json.dumps(got)[:2000])

    # LeakSanitizer suppression files
    supp = os.path.join(work, "lsan.supp")
    with open(supp, "w") as f:
        f.write("# LSan suppressions\nleak:worker_init\nrace:handle_request\n\n"
                "leak:^load_config$\n")
    a = pstest.run([args.perfshim, "leaks", "--merge", "--json", "--suppressions", supp] +
                   traces, cwd=work)
    doc = json.loads(a.stdout.decode())
    ck.check(site(doc, marks, "request") and not site(doc, marks, "state") and
             not site(doc, marks, "config"), "lsan: state and config suppressed, request not",
             json.dumps(doc.get("leaks"))[:2000])
    a = pstest.run([args.perfshim, "leaks", "--json", "--suppressions", supp, traces[0]],
                   cwd=work)
    one = json.loads(a.stdout.decode())
    used = {u["pattern"]: u for u in one.get("suppressions_used", [])}
    # traces[0] is the first file: the parent's (server.trace), or a worker's
    me = one["process"]["pid"]
    is_parent = parent and me == parent[0]["process"]["pid"]
    exp = {"leak:^load_config$": (1, d("PREFORK_CONFIG_SIZE"))} if is_parent else \
        {"leak:worker_init": (1, d("PREFORK_STATE_SIZE"))}
    for pat, (b, n) in exp.items():
        u = used.get(pat, {})
        ck.check(u.get("blocks") == b and u.get("bytes") == n and u.get("origin", "").startswith(
            supp + ":"), "lsan: %s used for %d blocks %d bytes" % (pat, b, n), repr(used))
    ck.check(not any(k.startswith("race:") for k in used), "lsan: the race: rule is ignored")
    with open(supp, "w") as f:
        f.write("leak:/prefork.c$\n")  # a source file: every stack goes through prefork.c
    a = pstest.run([args.perfshim, "leaks", "--suppressions", supp] + traces[:1], cwd=work)
    text = a.stdout.decode()
    ck.check("SUMMARY: no leaks" in text and "Suppressions used:" in text and
             "leak:/prefork.c$ (%s:1)" % supp in text, "lsan: a file rule, text report",
             text[-1500:])
    ck.done()


if __name__ == "__main__":
    main()
