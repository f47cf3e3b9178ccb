#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_mergeout.py — `perfshim merge -o OUT TRACE...` (issue 14 item 3) on examples/prefork.c
(a parent and 3 workers, 20 requests each 10 ms apart, PERFSHIM_INTERVAL=40ms):
  - the merged trace verifies chunk by chunk (the test's own reader, pstest.RawTrace), ends
    with END, and holds one MERGED_FROM chunk per process;
  - `leaks --json` on it gives leaks --merge's totals on the inputs: leaked blocks and bytes
    exactly, and the inherited copies (inherited_from) equal to its inherited totals; the
    request site's blocks equal prefork.c's constants (4 processes x 20);
  - the snapshots of all processes are on one time axis: timeline shows as many points as the
    inputs have distinct snapshot moments (at least the most any input has), ending with
    the sum of the inputs' last live heaps;
  - summary, timeline, growth, export and diff read it (exit 0); summary's allocations are the
    sum of the inputs';
  - the reports say it is a merge of 4 processes: text "... for 4 processes merged by perfshim
    merge -o" and "first:" for the first process's command, JSON process.merged_processes 4
    and pid null (an ordinary trace's JSON has no merged_processes);
  - merged of merged is the same file, byte for byte; merging it with nothing else again too;
  - errors exit 2 with a message and leave no output (nor a temporary file): -o naming an
    input (the input unchanged), an unreadable input, no -o, no trace;
  - a process that ended before the run (examples/leaky.c, then growthprog for 1 s): the
    merged RSS counts it up to its exit snapshot only (the merged snapshot of that moment has
    both processes' RSS, the last one growthprog's alone, as its own trace says), while its
    leaks stay in the live heap: the last live bytes are both processes' last, and leaks on the
    merged trace finds leaky.c's malloc site with its LEAKY_MALLOC_COUNT blocks;
  - a process that exec'ed (tests/integration/execprog.c: its first image's last snapshot has
    the exec flag) merged with the program it became: the merged run did not end by exec, so
    its reports say neither "ended: by exec" nor reason "exec" (the flag was or'ed into every
    merged snapshot after that input's last)."""
import hashlib
import json
import os
import threading
import stat

import pstest

MERGED_FROM = 0x8001
END = 0xFFFF


def jrun(args, ck, cmd, label, cwd):
    p = pstest.run([args.perfshim] + cmd, cwd=cwd)
    ck.check(p.returncode == 0, label + ": exit status 0", pstest.describe(p)[:1500])
    try:
        return json.loads(p.stdout.decode())
    except ValueError:
        ck.fatal(label + ": prints JSON", pstest.describe(p))


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def ended_early(args, ck):
    """A short process (leaky), then a long one (growthprog): leaky's RSS leaves the merged
    sum after its exit; its leaks do not."""
    work = pstest.tmpdir("mergeout-ended")
    src = os.path.join(args.srcdir, "leaky.c")
    p = pstest.run([args.perfshim, "run", "-o", os.path.join(work, "a-leaky.%p.trace"), "--",
                    os.path.join(args.bindir, "leaky")], cwd=work)
    ck.equal(p.returncode, 0, "leaky under perfshim run")
    p = pstest.run([args.perfshim, "run", "-o", os.path.join(work, "b-growth.%p.trace"), "--",
                    os.path.join(args.bindir, "growthprog"), "--ticks", "50"],
                   cwd=work, env={"PERFSHIM_INTERVAL": "40ms"})
    ck.equal(p.returncode, 0, "growthprog under perfshim run")
    traces = sorted(os.path.join(work, f) for f in os.listdir(work) if f.endswith(".trace"))
    ck.equal(len(traces), 2, "ended: one trace per process")
    if len(traces) != 2:
        return
    merged = os.path.join(work, "merged.trace")
    p = pstest.run([args.perfshim, "merge", "-o", merged] + traces, cwd=work)
    ck.equal(p.returncode, 0, "ended: merge -o")
    raw = pstest.RawTrace(merged)
    short, long_ = (pstest.RawTrace(t).snapshots for t in traces)
    ck.check(raw.error is None and short and long_, "ended: the traces verify", repr(raw.error))
    if raw.error is not None or not short or not long_:
        return
    rss = [s["totals"]["rss_bytes"] for s in raw.snapshots]
    ck.check(short[-1]["totals"]["rss_bytes"] > 0 and long_[-1]["totals"]["rss_bytes"] > 0,
             "ended: both processes have an RSS", repr(rss))
    ck.equal(rss[0], short[-1]["totals"]["rss_bytes"],
             "ended: the first merged snapshot is leaky's exit, before growthprog started")
    ck.equal(rss[-1], long_[-1]["totals"]["rss_bytes"],
             "ended: the last merged RSS is growthprog's alone (not the sum %d)" %
             (short[-1]["totals"]["rss_bytes"] + long_[-1]["totals"]["rss_bytes"]))
    ck.equal(raw.snapshots[-1]["totals"]["live_bytes"],
             short[-1]["totals"]["live_bytes"] + long_[-1]["totals"]["live_bytes"],
             "ended: the last live bytes still hold leaky's leaks")
    one = jrun(args, ck, ["leaks", "--json", merged], "ended: leaks on the merged trace", work)
    m = jrun(args, ck, ["leaks", "--merge", "--json"] + traces, "ended: leaks --merge", work)
    mt, ot = m.get("totals", {}), one.get("totals", {})
    ck.equal((ot.get("leaked_blocks"), ot.get("leaked_bytes")),
             (mt.get("leaked_blocks"), mt.get("leaked_bytes")), "ended: leaks --merge's totals")
    line = pstest.markers(src)["LEAK:malloc"]
    site = pstest.leaks_at(one, "leaky.c", line) if "leaks" in one else []
    ck.equal(sum(x["blocks"] for x in site), pstest.define(src, "LEAKY_MALLOC_COUNT"),
             "ended: leaky's malloc leak is in the merged trace's leaks")


def exec_input(args, ck):
    """The traces of an exec'ed process's two images, merged: no "ended: by exec"."""
    work = pstest.tmpdir("mergeout-exec")
    prog = os.path.join(args.bindir, "execprog")
    p = pstest.run([args.perfshim, "run", "-o", os.path.join(work, "x.%p.trace"), "--", prog,
                    "execv", prog, "child"], cwd=work)
    traces = sorted(os.path.join(work, f) for f in os.listdir(work) if ".trace" in f)
    ck.check(p.returncode == 3 and len(traces) == 2, "execprog execv: two images, two traces",
             pstest.describe(p))
    reasons = sorted(jrun(args, ck, ["summary", "--json", t], "summary", work)["snapshot"]
                     ["reason"] for t in traces)
    ck.equal(reasons, ["exec", "exit"], "the first image ended by exec, the second by exit")
    merged = os.path.join(work, "merged.trace")
    p = pstest.run([args.perfshim, "merge", "-o", merged] + traces, cwd=work)
    ck.equal(p.returncode, 0, "merge -o of the two images")
    s = jrun(args, ck, ["summary", "--json", merged], "summary of the merge", work)
    snap = s.get("snapshot", {})
    ck.equal((snap.get("reason"), snap.get("exec")), ("exit", None),
             "the merged run's last snapshot: reason exit, no exec member")
    p = pstest.run([args.perfshim, "summary", merged], cwd=work)
    ck.check(p.returncode == 0 and b"ended:    by exec" not in p.stdout,
             "summary of the merge: no 'ended: by exec'", pstest.describe(p)[:800])


def not_regular_output(args, ck, traces):
    """-o a FIFO (standing for /dev/null, which a test must not risk): written in place, not
    replaced by a regular file through the temporary file's rename (as root, `merge -o
    /dev/null` had made /dev/null a regular file)."""
    work = pstest.tmpdir("mergeout-fifo")
    fifo = os.path.join(work, "out.fifo")
    os.mkfifo(fifo)
    got = []
    th = threading.Thread(target=lambda: got.append(open(fifo, "rb").read()))
    th.start()
    p = pstest.run([args.perfshim, "merge", "-o", fifo] + traces, cwd=work)
    if th.is_alive():
        try:  # unblock the reader if merge never opened the FIFO
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass
    th.join(30)
    ck.check(p.returncode == 0, "merge -o FIFO: exit status 0", pstest.describe(p))
    ck.check(stat.S_ISFIFO(os.stat(fifo).st_mode), "merge -o FIFO: still a FIFO")
    ck.check(got and got[0][:8] == open(traces[0], "rb").read(8) and len(got[0]) > 1000,
             "merge -o FIFO: the merged trace went through it",
             repr(got[0][:16]) if got else "nothing read")
    ck.equal(sorted(os.listdir(work)), ["out.fifo"], "merge -o FIFO: no temporary file left")


def folded(args, ck, traces, metric, label, cwd):
    """export --format folded --metric METRIC of the traces, summed per stack (export writes
    each input's lines apart)."""
    p = pstest.run([args.perfshim, "export", "--format", "folded", "--metric", metric] + traces,
                   cwd=cwd)
    ck.equal(p.returncode, 0, label + ": export --metric " + metric)
    sums = {}
    for line in p.stdout.decode().splitlines():
        stack, _, value = line.rpartition(" ")
        sums[stack] = sums.get(stack, 0) + int(value)
    return sums


def timing_carried(args, ck):
    """The timing chunks (issue 14 item 3): two cpuburn and two contention processes under
    one shell, with PERFSHIM_CPU_HZ and PERFSHIM_LOCKS; the merged trace's CPU samples,
    contentions and lock waits, stack by stack, are the inputs' sums, and so are hot --json's
    and locks --json's totals, its zone and latency counts and its threads. Without the
    chunks carried, the merged side is empty and every comparison fails."""
    work = pstest.tmpdir("mergeout-timing")
    b = args.bindir
    script = "%s 3 & %s 3 & %s 200 60 & %s 200 60 & wait" % (
        os.path.join(b, "cpuburn"), os.path.join(b, "cpuburn"), os.path.join(b, "contention"),
        os.path.join(b, "contention"))
    p = pstest.run([args.perfshim, "run", "-o", os.path.join(work, "t.%p.trace"), "--", "sh",
                    "-c", script], cwd=work,
                   env={"PERFSHIM_CPU_HZ": "997", "PERFSHIM_LOCKS": "1",
                        "PERFSHIM_LATENCY_SAMPLE": "1"})
    ck.equal(p.returncode, 0, "timing: the workload under perfshim run")
    traces = sorted(os.path.join(work, f) for f in os.listdir(work) if ".trace" in f)
    merged = os.path.join(work, "merged.trace")
    p = pstest.run([args.perfshim, "merge", "-o", merged] + traces, cwd=work)
    ck.equal(p.returncode, 0, "timing: merge -o")
    if p.returncode != 0:
        return
    for metric in ("samples", "contentions", "delay"):
        want = folded(args, ck, traces, metric, "timing: inputs", work)
        got = folded(args, ck, [merged], metric, "timing: merged", work)
        ck.check(sum(want.values()) > 0, "timing: the inputs have %s" % metric, repr(want))
        ck.equal(got, want, "timing: merged %s per stack = the inputs' sums" % metric)
    hot = [jrun(args, ck, ["hot", "--json", "--top", "0", t], "timing: hot " + t, work)
           for t in traces]
    mhot = jrun(args, ck, ["hot", "--json", "--top", "0", merged], "timing: hot of the merge",
                work)
    want = sum((h.get("cpu") or {}).get("samples_taken", 0) for h in hot)
    ck.check(want > 0, "timing: the inputs sampled CPU", repr(want))
    ck.equal((mhot.get("cpu") or {}).get("samples_taken"), want,
             "timing: hot --json samples_taken = the inputs' sum")
    # LATENCY (counters summed, histograms by op and size bin), ZONES (by name), THREADS
    # (appended): the merge's counts are the inputs' sums
    def zone_counts(reports):
        c = {}
        for r in reports:
            for z in ((r.get("zones") or {}).get("zones") or []):
                c[z["name"]] = c.get(z["name"], 0) + z["count"]
        return c

    def lat_counts(reports):
        c = {}
        for r in reports:
            lat = r.get("latency") or {}
            for k, v in (lat.get("events") or {}).items():
                c[k] = c.get(k, 0) + v
            for row in lat.get("rows") or []:
                key = "%s<=%s" % (row["op"], row["size_max"])
                c[key] = c.get(key, 0) + row["count"]
        return c

    ck.check(zone_counts(hot).get("outer", 0) > 0, "timing: the inputs have zones",
             repr(zone_counts(hot)))
    ck.equal(zone_counts([mhot]), zone_counts(hot), "timing: zone counts = the inputs' sums")
    ck.check(lat_counts(hot).get("pooled", 0) + lat_counts(hot).get("forwarded", 0) > 0,
             "timing: the inputs have latency counters", repr(lat_counts(hot)))
    ck.equal(lat_counts([mhot]), lat_counts(hot), "timing: latency counts = the inputs' sums")
    nthreads = sum(len((h.get("threads") or {}).get("threads") or []) for h in hot)
    ck.check(nthreads > 0, "timing: the inputs have threads")
    ck.equal(len((mhot.get("threads") or {}).get("threads") or []), nthreads,
             "timing: every input's threads")
    locks = [jrun(args, ck, ["locks", "--json", t], "timing: locks " + t, work) for t in traces]
    mlocks = jrun(args, ck, ["locks", "--json", merged], "timing: locks of the merge", work)

    def lock_sum(reports, field):
        return sum(k.get(field, 0) for r in reports for k in (r.get("locks") or []))

    for field in ("acquisitions", "contended", "wait_ns"):
        ck.check(lock_sum(locks, field) > 0, "timing: the inputs' locks have " + field)
        ck.equal(lock_sum([mlocks], field), lock_sum(locks, field),
                 "timing: locks --json %s = the inputs' sum" % field)

    def rows(r):
        return len(r.get("locks") or []) + len(r.get("condvars") or [])

    ck.equal(rows(mlocks), sum(rows(r) for r in locks),
             "timing: one lock row per input process's lock (two processes' locks at one "
             "address stay two)")
    # a process sampled at another rate: its samples and the others' cannot be one count of
    # timer periods, so the merge leaves CPU out and says so (the locks stay)
    other = os.path.join(work, "hz")
    os.mkdir(other)
    p = pstest.run([args.perfshim, "run", "-o", os.path.join(other, "o.%p.trace"), "--",
                    os.path.join(b, "cpuburn"), "3"], cwd=work, env={"PERFSHIM_CPU_HZ": "501"})
    ck.equal(p.returncode, 0, "timing: cpuburn at 501 Hz")
    mixed = os.path.join(work, "mixed.trace")
    p = pstest.run([args.perfshim, "merge", "-o", mixed] + traces +
                   [os.path.join(other, f) for f in os.listdir(other)], cwd=work)
    ck.check(p.returncode == 0 and b"different rates" in p.stderr,
             "timing: mixed CPU rates: merged, with a warning", pstest.describe(p))
    if p.returncode == 0:
        mh = jrun(args, ck, ["hot", "--json", mixed], "timing: hot of the mixed merge", work)
        ck.check(not mh.get("cpu"), "timing: mixed CPU rates: no CPU samples",
                 repr(mh.get("cpu"))[:300])
        ml = jrun(args, ck, ["locks", "--json", mixed], "timing: locks of the mixed merge", work)
        ck.equal(lock_sum([ml], "wait_ns"), lock_sum(locks, "wait_ns"),
                 "timing: mixed CPU rates: the locks are carried")


def main():
    args = pstest.parse_args()
    ck = pstest.Checker("test_mergeout")
    src = os.path.join(args.srcdir, "prefork.c")
    d = lambda n: pstest.define(src, n)
    work = pstest.tmpdir("mergeout")
    workers, requests = 3, 20
    p = pstest.run([args.perfshim, "run", "-o", os.path.join(work, "pf.%p.trace"), "--",
                    os.path.join(args.bindir, "prefork"), str(workers), str(requests), "10000"],
                   cwd=work, env={"PERFSHIM_INTERVAL": "40ms"})
    ck.check(p.returncode == 0, "prefork under perfshim run", pstest.describe(p))
    traces = sorted(os.path.join(work, f) for f in os.listdir(work) if f.endswith(".trace"))
    ck.equal(len(traces), workers + 1, "one trace per process")
    merged = os.path.join(work, "merged.trace")
    p = pstest.run([args.perfshim, "merge", "-o", merged] + traces, cwd=work)
    ck.equal((p.returncode, p.stderr.decode()), (0, ""), "merge -o: exit status, quiet")
    raw = pstest.RawTrace(merged)
    ck.check(raw.error is None and raw.end is not None, "the merged trace verifies, with END",
             repr(raw.error))
    ck.equal(sum(1 for c in raw.chunks if c[1] == MERGED_FROM), workers + 1,
             "one MERGED_FROM chunk per process")
    inputs = [pstest.RawTrace(t) for t in traces]

    not_regular_output(args, ck, traces)

    # leaks: the same totals as leaks --merge
    m = jrun(args, ck, ["leaks", "--merge", "--json"] + traces, "leaks --merge", work)
    one = jrun(args, ck, ["leaks", "--json", merged], "leaks on the merged trace", work)
    mt, ot = m.get("totals", {}), one.get("totals", {})
    ck.equal((ot.get("leaked_blocks"), ot.get("leaked_bytes")),
             (mt.get("leaked_blocks"), mt.get("leaked_bytes")), "leaked blocks and bytes")
    inh = one.get("inherited_from") or {}
    ck.equal((inh.get("blocks"), inh.get("bytes")),
             (mt.get("inherited_blocks"), mt.get("inherited_bytes")), "inherited blocks and bytes")
    ck.equal((inh.get("blocks"), inh.get("bytes")), (workers, workers * d("PREFORK_CONFIG_SIZE")),
             "inherited: the workers' copies of the configuration")
    marks = pstest.markers(src)
    line = marks["LEAK:request"]
    req = [x for x in one.get("leaks", []) if x["stack"] and
           pstest.frame_at(x["stack"][0], "prefork.c", line)]
    ck.equal(sum(x["blocks"] for x in req), (workers + 1) * requests,
             "the request site: every process's blocks")
    ck.check(all(x["stack"][0]["function"] == "handle_request" for x in req),
             "the merged stacks symbolize", json.dumps(req)[:1500])

    # one time axis
    tl = jrun(args, ck, ["timeline", "--json", merged], "timeline", work)
    points = tl.get("timeline", [])
    most = max(len(r.snapshots) for r in inputs)
    ck.check(len(points) >= most, "timeline: at least the snapshots of the longest input",
             "%d points, %d snapshots" % (len(points), most))
    last_live = sum(r.snapshots[-1]["totals"]["live_bytes"] for r in inputs)
    ck.equal(raw.snapshots[-1]["totals"]["live_bytes"], last_live,
             "the last snapshot's live bytes: the sum of every process's last")
    times = [s["time_ns"] for s in raw.snapshots]
    ck.check(times == sorted(times) and len(set(times)) == len(times),
             "snapshot times increase", repr(times[:40]))
    s = jrun(args, ck, ["summary", "--json", merged], "summary", work)
    ck.equal(s.get("totals", {}).get("allocs"), sum(r.snapshots[-1]["totals"]["allocs"] for r in inputs),
             "summary: allocations summed")
    jrun(args, ck, ["growth", "--json", merged], "growth", work)
    # the reports say it is a merge, of how many processes (not "prefork (pid 0)")
    for name, doc in (("leaks", one), ("summary", s), ("timeline", tl)):
        pr = doc.get("process", {})
        ck.equal((pr.get("merged_processes"), pr.get("pid")), (workers + 1, None),
                 name + " --json: process.merged_processes, no pid")
    for cmd in ("leaks", "summary", "timeline", "growth", "locks"):
        p = pstest.run([args.perfshim, cmd, merged], cwd=work)
        head = p.stdout.decode().split("\n", 2)
        ck.check(p.returncode == 0 and "for %d processes merged by perfshim merge -o" % (workers + 1)
                 in head[0] and head[1].startswith("  first:    ") and "(pid" not in head[0],
                 cmd + ": the text names the merge and its processes", pstest.describe(p)[:800])
    p = pstest.run([args.perfshim, "leaks", "--json", traces[0]], cwd=work)
    ck.check("merged_processes" not in json.loads(p.stdout.decode()).get("process", {}),
             "an ordinary trace's report has no merged_processes", p.stdout.decode()[:600])
    p = pstest.run([args.perfshim, "export", "--format", "folded", merged], cwd=work)
    ck.check(p.returncode == 0 and b"handle_request" in p.stdout, "export folded", pstest.describe(p))
    p = pstest.run([args.perfshim, "diff", merged, merged], cwd=work)
    ck.equal(p.returncode, 0, "diff of the merged trace with itself")

    # merged of merged: the same file
    again = os.path.join(work, "again.trace")
    p = pstest.run([args.perfshim, "merge", "-o", again, merged], cwd=work)
    ck.equal(p.returncode, 0, "merge of the merged trace")
    ck.equal(digest(again), digest(merged), "merged of merged: byte for byte the same")
    ck.equal(sum(1 for c in pstest.RawTrace(again).chunks if c[1] == MERGED_FROM), workers + 1,
             "merged of merged: the processes of its input")

    # errors: exit 2, a message, no output
    before = digest(traces[0])
    p = pstest.run([args.perfshim, "merge", "-o", traces[0]] + traces, cwd=work)
    ck.check(p.returncode == 2 and b"one of the traces" in p.stderr and
             digest(traces[0]) == before, "-o naming an input: refused", pstest.describe(p))
    bad = os.path.join(work, "bad.trace")
    with open(bad, "wb") as f:
        f.write(b"not a trace at all, not even close")
    out = os.path.join(work, "never.trace")
    for cmd, what in ((["-o", out, traces[0], bad], "an unreadable input"),
                      (["-o", out, traces[0], os.path.join(work, "missing.trace")], "a missing input"),
                      ([traces[0]], "no -o"), (["-o", out], "no trace")):
        p = pstest.run([args.perfshim, "merge"] + cmd, cwd=work)
        ck.check(p.returncode == 2 and p.stderr.startswith(b"perfshim: "),
                 what + ": exit status 2 with a message", pstest.describe(p))
        ck.check(not os.path.exists(out), what + ": no output")
    ck.equal([f for f in os.listdir(work) if ".tmp" in f], [], "no temporary file left")
    # -o after the traces, as every other command takes its options
    p = pstest.run([args.perfshim, "merge"] + traces + ["-o", out], cwd=work)
    ck.check(p.returncode == 0 and digest(out) == digest(merged),
             "merge TRACE... -o OUT: the same merged trace", pstest.describe(p))
    os.remove(out)
    p = pstest.run([args.perfshim, "merge", traces[0], "-o"], cwd=work)
    ck.check(p.returncode == 2 and b"needs a value" in p.stderr,
             "merge TRACE -o: exit 2, the option needs a value", pstest.describe(p))
    ended_early(args, ck)
    exec_input(args, ck)
    timing_carried(args, ck)
    ck.done()


if __name__ == "__main__":
    main()
