#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""snapshot_bytes.py — bytes per PERFSHIM_INTERVAL snapshot, and the trace's growth per day.

Not a test (no pass or fail; wall-clock free): it runs a service under the shim with
PERFSHIM_INTERVAL, then reads the trace chunk by chunk (docs/trace-format.md) and splits it into
snapshot groups: every chunk after the previous SNAPSHOT or delta chunk (13, 17) up to and
including the next one (MESSAGE chunks after it count with the next group). It prints, per kind
(keyframe, delta), the groups, their mean bytes and rows, and the mean over the interval
snapshots after the first (the steady state, keyframes included at the rate they occurred),
projected to MB per day at the interval used.

Services:
  redis    redis-server (Debian) on a free loopback port, loaded by redis-benchmark run again
           and again (-n 50000 of each of set, get, lpush, lpop, incr, hset, sadd, zadd, mset;
           10 clients; random keys out of 100000)
  many     tests/bench/manystacks.c: ~100k distinct stacks (see that file)

    python3 tests/bench/snapshot_bytes.py --build build redis --interval 1s --seconds 60
    python3 tests/bench/snapshot_bytes.py --build build many --interval 10s --seconds 120
"""
import argparse
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

SNAPSHOT, DELTAS, MESSAGE, END = 4, (13, 17), 5, 0xFFFF
KEYFRAME_EVERY = 16384  # shim/snapshot.c's PS_KEYFRAME_EVERY
KEYFRAME_RATIO = 4     # and PS_KEYFRAME_RATIO
NAMES = {1: "PROCESS", 2: "MODULES", 3: "STACKS", 4: "SNAPSHOT", 5: "MESSAGE", 6: "POOL",
         7: "LOCKS", 8: "THREADS", 9: "LATENCY", 10: "ZONES", 11: "CPU",
         12: "UNLOADED_MODULES", 13: "SNAPSHOT_DELTA", 17: "SNAPSHOT_PACKED",
         22: "STACKS_PACKED", 23: "POOL_PACKED", 0xFFFF: "END"}


def groups(path):
    """[(kind, group bytes, rows in the snapshot chunk, {chunk name: bytes}, snapshot chunk's
    payload bytes)] in file order."""
    with open(path, "rb") as f:
        d = f.read()
    off, out, cur = 16, [], {}
    while off + 16 <= len(d):
        _sync, typ, _fl, length = struct.unpack_from("<IHHI", d, off)
        if off + 16 + length > len(d):
            break  # torn at the end
        name = NAMES.get(typ, str(typ))
        cur[name] = cur.get(name, 0) + 16 + length
        if typ == SNAPSHOT or typ in DELTAS:
            p = off + 16 + (8 if typ in DELTAS else 0)
            rows, = struct.unpack_from("<I", d, p + 96)
            out.append(("keyframe" if typ == SNAPSHOT else "delta", sum(cur.values()), rows, cur,
                        length))
            cur = {}
        off += 16 + length
    return out


def summarize(path, interval_s):
    g = groups(path)
    res = {"trace_bytes": os.path.getsize(path), "snapshots": len(g)}
    for kind in ("keyframe", "delta"):
        k = [x for x in g if x[0] == kind]
        res[kind] = {"count": len(k),
                     "mean_bytes": round(sum(x[1] for x in k) / len(k)) if k else 0,
                     "mean_rows": round(sum(x[2] for x in k) / len(k)) if k else 0}
    steady = g[1:-1]  # after the first snapshot, before the exit one
    if steady:
        mean = sum(x[1] for x in steady) / len(steady)
        res["steady_mean_bytes"] = round(mean)
        res["mb_per_day"] = round(mean * 86400 / interval_s / 1e6, 1)
        # A short run holds no periodic keyframe: project the shim's policy (a keyframe once the
        # delta payloads since the last would pass KEYFRAME_RATIO times its payload, or after
        # KEYFRAME_EVERY snapshots) with the exit keyframe (every row, no new stacks) and the
        # mean delta. All keyframes: what the trace cost before deltas.
        deltas = [x for x in steady if x[0] == "delta"]
        key = g[-1][1] if g[-1][0] == "keyframe" else None
        if deltas and key:
            d = sum(x[1] for x in deltas) / len(deltas)
            dpay = sum(x[4] for x in deltas) / len(deltas)
            period = min(KEYFRAME_EVERY - 1, int(KEYFRAME_RATIO * g[-1][4] // max(dpay, 1))) + 1
            res["projected_keyframe_every"] = period
            per = (d * (period - 1) + key) / period
            res["projected_bytes_per_snapshot"] = round(per)
            res["projected_mb_per_day"] = round(per * 86400 / interval_s / 1e6, 1)
            res["mb_per_day_all_keyframes"] = round(key * 86400 / interval_s / 1e6, 1)
        parts = {}
        for x in steady:
            for name, n in x[3].items():
                parts[name] = parts.get(name, 0) + n
        res["steady_mean_bytes_by_chunk"] = {k: round(v / len(steady)) for k, v in
                                             sorted(parts.items(), key=lambda kv: -kv[1])}
    return res


def parse_interval(s):
    return float(s[:-2]) / 1000 if s.endswith("ms") else float(s[:-1]) * {"s": 1, "m": 60}[s[-1]]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_redis(env, seconds, work):
    port = free_port()
    server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                               "--save", "", "--appendonly", "no", "--dir", work],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True,
                              text=True).stdout.strip() == "PONG":
                break
            time.sleep(0.1)
        # redis-benchmark runs its tests one after the other: a bounded -n, again and again,
        # so that every interval sees a mix of commands.
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            bench = subprocess.Popen(["redis-benchmark", "-p", str(port), "-q", "-c", "10",
                                      "-r", "100000", "-n", "50000", "-t",
                                      "set,get,lpush,lpop,incr,hset,sadd,zadd,mset"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                bench.wait(timeout=max(0.1, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                bench.kill()
                bench.wait()
        subprocess.run(["redis-cli", "-p", str(port), "shutdown", "nosave"], capture_output=True)
        server.wait(timeout=60)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("service", choices=["redis", "many"])
    ap.add_argument("--build", default="build")
    ap.add_argument("--interval", default="1s", help="PERFSHIM_INTERVAL (default 1s)")
    ap.add_argument("--seconds", type=float, default=60, help="how long the service runs")
    ap.add_argument("--stacks", type=int, default=100000, help="many: distinct stacks")
    ap.add_argument("--env", action="append", default=[], help="NAME=value for the shim")
    ap.add_argument("--trace", help="do not run: summarize this trace")
    args = ap.parse_args()
    interval_s = parse_interval(args.interval)
    if args.trace:
        print(json.dumps(summarize(args.trace, interval_s), indent=2))
        return 0
    lib = os.path.abspath(os.path.join(args.build, "lib", "libperfshim.so"))
    work = tempfile.mkdtemp(prefix="perfshim-snapbytes-")
    trace = os.path.join(work, "service.trace")
    env = dict(os.environ, LD_PRELOAD=lib, PERFSHIM_INTERVAL=args.interval,
               PERFSHIM_OUTPUT=trace)
    env.update(kv.split("=", 1) for kv in args.env)
    try:
        if args.service == "redis":
            if not shutil.which("redis-server") or not shutil.which("redis-benchmark"):
                print("redis-server or redis-benchmark not installed", file=sys.stderr)
                return 77
            run_redis(env, args.seconds, work)
        else:
            exe = os.path.join(args.build, "bin", "bench", "bench-manystacks")
            subprocess.run([exe, str(args.seconds), str(args.stacks)], env=env, check=True,
                           stdout=subprocess.DEVNULL)
        res = summarize(trace, interval_s)
        res.update(service=args.service, interval=args.interval, seconds=args.seconds)
        print(json.dumps(res, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
