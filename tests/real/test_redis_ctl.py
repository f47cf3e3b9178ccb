#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_redis_ctl.py — hunting a leak in a running service, end to end (issue 11, item 6; the
README section "Hunting a leak in a running service" is these steps).

redis-server (Debian) is started with PERFSHIM_START=off on a free loopback port, so it runs
dormant. Then: `perfshim ctl PID status` (off, no trace yet); `ctl start`; `ctl interval 1s`;
redis-benchmark loads it (SET on -r random keys, LPUSH); the test waits for an interval
snapshot (written by the shim's control thread even while redis idles); `ctl dump`; `ctl stop`;
more load after the stop (must not reach the trace); SHUTDOWN NOSAVE.

Asserts: every ctl step succeeds; the one trace is complete, is section 1 (SECTION chunk),
and holds interval, dump and stop snapshots in that order; it did not change after the stop;
no trace is written at exit (tracking was stopped); `perfshim leaks --json` finds redis's
key-space allocations: the leak group allocated by setKey through dictAddRaw holds exactly one
block per string key the benchmark created (counted with SCAN: an exact oracle), and
`perfshim summary --json` counts at least as many allocations as requests. redis exits 0."""
import json
import os
import shutil
import time

import realtest
from realtest import pstest
import test_redis


def extra(ap):
    ap.add_argument("--requests", type=int, default=20000, help="redis-benchmark -n")
    ap.add_argument("--keyspace", type=int, default=5000, help="redis-benchmark -r")


def ctl(args, pid, *words):
    return pstest.run([args.perfshim, "ctl", str(pid)] + [str(w) for w in words], timeout=60)


def status(args, pid):
    p = ctl(args, pid, "status")
    return dict(l.split("=", 1) for l in p.stdout.decode().splitlines() if "=" in l)


def functions(leak):
    return [f.get("function") or "" for f in leak["stack"]]


def main():
    args = realtest.parse_args(extra)
    ck = pstest.Checker("test_redis_ctl")
    exe = shutil.which("redis-server")
    if not exe or not shutil.which("redis-benchmark"):
        ck.skip("redis-server or redis-benchmark is not installed")
    base = pstest.tmpdir("redis-ctl")
    side = realtest.Side(args, "ctl", base, {"PERFSHIM_START": "off", "PERFSHIM_LOCKS": "0"})
    srv = test_redis.Server(exe, side)
    try:
        if not srv.start(ck):
            ck.done()
        pid = srv.proc.pid
        s = status(args, pid)
        ck.equal((s.get("mode"), s.get("section")), ("off", "0"), "dormant redis: status off")
        ck.equal(os.listdir(side.tracedir), [], "no trace while dormant")
        for step in (["start"], ["interval", "1s"]):
            p = ctl(args, pid, *step)
            ck.check(p.returncode == 0, "ctl " + " ".join(step), pstest.describe(p))
        bench = pstest.run(["redis-benchmark", "-h", "127.0.0.1", "-p", str(srv.port),
                            "-n", str(args.requests), "-r", str(args.keyspace), "-c", "10",
                            "-d", "64", "-t", "set,lpush", "--csv"], timeout=300)
        ck.equal(bench.returncode, 0, "redis-benchmark completes")
        # The file is created at the first snapshot: during the benchmark when it lasts over a
        # second, else by the control thread's interval snapshot while redis idles.
        trace = ""

        def intervals():
            nonlocal trace
            if not trace.startswith(side.tracedir):
                trace = status(args, pid).get("trace", "")
            if not os.path.exists(trace):
                return 0
            return [r["reason"] for r in pstest.RawTrace(trace, rows=False).snapshots] \
                .count(pstest.SNAP_INTERVAL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and intervals() < 1:
            time.sleep(0.2)
        ck.check(trace.startswith(side.tracedir), "status names the trace", trace)
        ck.check(intervals() >= 1, "an interval snapshot while redis idles")
        for step in ("dump", "stop"):
            p = ctl(args, pid, step)
            ck.check(p.returncode == 0, "ctl " + step, pstest.describe(p))
        size = os.path.getsize(trace) if os.path.exists(trace) else -1
        scan = srv.cli(["--scan", "--pattern", "key:*"], timeout=120)
        keys = len(scan.stdout.split())
        ck.check(keys > args.keyspace // 2, "the benchmark created %d string keys" % keys)
        more = pstest.run(["redis-benchmark", "-h", "127.0.0.1", "-p", str(srv.port),
                           "-n", "5000", "-c", "5", "-t", "set", "--csv"], timeout=300)
        ck.equal(more.returncode, 0, "load after the stop")
        srv.cli(["SHUTDOWN", "NOSAVE"])
        ck.equal(srv.proc.wait(timeout=60), 0, "redis exits with status 0 after SHUTDOWN")
        ck.equal(os.path.getsize(trace), size, "nothing reached the trace after the stop")
    finally:
        srv.kill()
    ck.equal(os.listdir(side.tracedir), [os.path.basename(trace)],
             "one trace: no exit snapshot of a stopped process")
    raw = pstest.RawTrace(trace)
    reasons = [r["reason"] for r in raw.snapshots]
    ck.check(raw.error is None and raw.end is not None, "the trace is complete", str(raw.error))
    # the 1 s interval keeps running between `ctl dump` and `ctl stop`: interval snapshots may
    # fall between the two on a loaded machine
    last_dump = max((i for i, r in enumerate(reasons) if r == pstest.SNAP_DUMP), default=-1)
    ck.check(reasons[-1:] == [pstest.SNAP_STOP] and last_dump >= 0 and
             set(reasons[last_dump + 1:-1]) <= {pstest.SNAP_INTERVAL} and
             reasons[:last_dump].count(pstest.SNAP_INTERVAL) >= 1,
             "interval, dump, then stop snapshots", repr(reasons))
    ck.equal(len([c for c in raw.chunks if c[1] == pstest.CHUNK_SECTION]), 1, "a SECTION chunk")
    p = pstest.run([args.perfshim, "leaks", "--json", trace], timeout=300)
    try:
        rep = json.loads(p.stdout.decode())
    except ValueError:
        rep = None
    if ck.check(rep is not None, "perfshim leaks reads it", pstest.describe(p)):
        ck.equal(rep.get("section", {}).get("number"), 1, "the report says section 1")
        # the dict entry of each key: zmalloc <- dictAddRaw <- dbAdd <- setKey (the table's
        # own growth, zcalloc <- _dictExpand <- dictAddRaw, is another group)
        groups = [lk for lk in rep["leaks"]
                  if functions(lk)[1:2] == ["dictAddRaw"] and "setKey" in functions(lk)]
        ck.check(len(groups) == 1 and groups[0]["blocks"] == keys,
                 "one leak group for the key space (setKey -> dictAddRaw), one block per key "
                 "(%d)" % keys, pstest.fmt_report(rep, 5))
    p = pstest.run([args.perfshim, "summary", "--json", trace], timeout=300)
    try:
        summ = json.loads(p.stdout.decode())
    except ValueError:
        summ = None
    ck.check(summ is not None and summ["totals"]["allocs"] >= args.requests,
             "summary counts at least one allocation per request", pstest.describe(p))
    realtest.cleanup(args, base)
    ck.done()


if __name__ == "__main__":
    main()
