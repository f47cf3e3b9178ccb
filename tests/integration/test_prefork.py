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
    rule matched how much (suppressions_used, "Suppressions used:")."""
import json
import os

import pstest


def site(doc, marks, name, key="leaks"):
    line = marks["LEAK:" + name]
    return [s for s in doc.get(key, []) if s["stack"] and
            pstest.frame_at(s["stack"][0], "prefork.c", line)]


def main():
    args = pstest.parse_args()
    ck = pstest.Checker("test_prefork")
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
