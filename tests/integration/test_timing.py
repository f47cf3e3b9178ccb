#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_timing.py — the timing chunks the shim writes (issue 4), read straight from the trace:

examples/contention.c under PERFSHIM_LOCKS=1, once with every acquisition sampled and once with
the default sampling: exact acquisition counts per lock (hot and cold mutex, rwlock reads and
writes, spinlock), the hot lock ranks first by waiting, its forced-wait call site ranks first
among its sites and is symbolized to forced_site(), the cold lock is never contended and was
first used in cold_site(), the condition variable's signals; the threads with their names and
creator; zones with exact counts, nesting depth and the long zone longer than the short one.
examples/cpuburn.c under PERFSHIM_CPU_HZ and PERFSHIM_LATENCY_SAMPLE=1: the program's own
SIGPROF profiling keeps working, burn_heavy() has more samples than burn_light(), exact timed
call counts for its 1000 small and 10 large allocations. No assertion on an absolute time."""
import os
import re

import pstest


def by_kind(locks, kind):
    return [l for l in locks if l["kind"] == kind]


def contention(args, ck, sample):
    prog = os.path.join(args.bindir, "contention")
    work = pstest.tmpdir("locks")
    env = {"LD_PRELOAD": args.lib, "PERFSHIM_LOCKS": "1",
           "PERFSHIM_OUTPUT": os.path.join(work, "c.trace")}
    if sample:
        env["PERFSHIM_LOCK_SAMPLE"] = str(sample)
    label = "sample=%s" % (sample or "default")
    p = pstest.run([prog, "20000"], env=env, cwd=work)
    if not ck.check(p.returncode == 0, "contention exits 0 (%s)" % label, pstest.describe(p)):
        return
    m = re.search(rb"expect hot=(\d+) cold=(\d+) rd=(\d+) wr=(\d+) spin=(\d+) signals=(\d+) "
                  rb"zones=(\d+)", p.stdout)
    hot, cold, rd, wr, spin, signals, nzones = map(int, m.groups())
    raw = pstest.RawTrace(os.path.join(work, "c.trace"))
    ck.check(raw.error is None and raw.locks is not None, "trace with a LOCKS chunk (%s)" % label,
             str(raw.error))
    if raw.locks is None:
        return
    sym = raw.symbolizer(prog)
    top = lambda sid: sym(raw.stacks.get(sid, (0,))[0] - 1) if sid in raw.stacks else None
    locks = sorted(raw.locks["locks"], key=lambda l: -l["wait_ns"])
    mutexes = by_kind(locks, 1)
    hot_lock = next((l for l in mutexes if l["acquisitions"] == hot), None)
    cold_lock = next((l for l in mutexes if l["acquisitions"] == cold), None)
    ck.check(hot_lock is not None, "a mutex with exactly %d acquisitions (hot) [%s]" % (hot, label),
             repr([l["acquisitions"] for l in mutexes]))
    ck.check(cold_lock is not None, "a mutex with exactly %d acquisitions (cold) [%s]" % (cold, label),
             repr([l["acquisitions"] for l in mutexes]))
    if hot_lock:
        ck.check(locks[0] is hot_lock, "the hot lock ranks first by wait [%s]" % label,
                 repr([(l["kind"], l["acquisitions"], l["wait_ns"]) for l in locks]))
        ck.check(hot_lock["contended"] >= 4, "hot lock: the 4 forced waits are contended [%s]" %
                 label, repr(hot_lock["contended"]))
        sites = sorted(hot_lock["sites"], key=lambda s: -s["wait_ns"])
        names = [top(s["stack"]) for s in sites]
        ck.check(names[:1] == ["forced_site"], "hot lock: forced_site() waits most [%s]" % label,
                 repr(names))
        ck.check("hot_site" in names, "hot lock: hot_site() is a site [%s]" % label, repr(names))
        if sample == 1:
            counts = {top(s["stack"]): s["acquisitions"] for s in sites}
            ck.equal(counts.get("forced_site"), 4, "forced_site acquisitions (exact sampling)")
            ck.equal(counts.get("hot_site"), hot - 8, "hot_site acquisitions (exact sampling)")
    if cold_lock:
        ck.equal(cold_lock["contended"], 0, "cold lock never contended [%s]" % label)
        ck.equal(top(cold_lock["first_use"]), "cold_site", "cold lock first used in cold_site")
        if sample == 1:
            ck.equal([s["acquisitions"] for s in cold_lock["sites"]], [cold],
                     "cold lock: one site with every acquisition (exact sampling)")
    rw = by_kind(locks, 2)
    ck.check(len(rw) == 1 and rw[0]["read_acquisitions"] == rd and
             rw[0]["acquisitions"] == rd + wr, "rwlock: %d reads + %d writes [%s]" % (rd, wr, label),
             repr(rw))
    sp = by_kind(locks, 3)
    ck.check(len(sp) == 1 and sp[0]["acquisitions"] == spin,
             "spinlock: %d acquisitions [%s]" % (spin, label), repr(sp))
    cond = by_kind(locks, 4)
    ck.check(len(cond) == 1 and cond[0]["signals"] == signals and cond[0]["acquisitions"] >= 1,
             "condition variable: %d signals, waited on [%s]" % (signals, label), repr(cond))

    th = raw.threads
    ck.check(th is not None and th["created"] == 6, "6 threads created [%s]" % label, repr(th))
    if th:
        main = [t for t in th["threads"] if t["flags"] & 2]
        workers = {t["name"]: t for t in th["threads"] if t["name"].startswith("worker-")}
        ck.check(len(main) == 1 and sorted(workers) == ["worker-0", "worker-1"],
                 "main thread and named workers listed [%s]" % label, repr(th["threads"]))
        if main and workers:
            ck.check(all(w["creator"] == main[0]["tid"] and w["flags"] & 1 and
                         w["end_ns"] > w["start_ns"] for w in workers.values()),
                     "workers: created by main, exited, lifetime > 0 [%s]" % label,
                     repr(workers))
            ck.equal(top(workers["worker-0"]["start_stack"]), "main",
                     "worker start stack: pthread_create in main")
    z = raw.zones
    ck.check(z is not None and set(z["zones"]) == {"outer", "short", "long"},
             "zones outer, short, long [%s]" % label, repr(z))
    if z and set(z["zones"]) == {"outer", "short", "long"}:
        zz = z["zones"]
        ck.check(all(zz[n]["count"] == nzones for n in zz), "each zone %d times" % nzones,
                 repr(zz))
        ck.check(zz["long"]["sum"] > zz["short"]["sum"], "long zone longer than short", repr(zz))
        ck.check(zz["outer"]["sum"] >= zz["long"]["sum"] + zz["short"]["sum"],
                 "outer zone contains both", repr(zz))
        ck.check(zz["outer"]["max_depth"] == 1 and zz["short"]["max_depth"] == 2,
                 "nesting depths", repr(zz))


def cpuburn(args, ck):
    prog = os.path.join(args.bindir, "cpuburn")
    work = pstest.tmpdir("cpu")
    env = {"LD_PRELOAD": args.lib, "PERFSHIM_CPU_HZ": "1000", "PERFSHIM_LATENCY_SAMPLE": "1",
           "PERFSHIM_OUTPUT": os.path.join(work, "b.trace")}
    p = pstest.run([prog, "6"], env=env, cwd=work)
    if not ck.check(p.returncode == 0, "cpuburn exits 0", pstest.describe(p)):
        return
    m = re.search(rb"own SIGPROF signals: (\d+)", p.stdout)
    ck.check(m and int(m.group(1)) > 0, "the program's own SIGPROF handler still runs",
             pstest.describe(p))
    raw = pstest.RawTrace(os.path.join(work, "b.trace"))
    cpu = raw.cpu
    if not ck.check(cpu is not None and cpu["samples"] >= 20, "CPU samples taken", repr(cpu)):
        return
    sym = raw.symbolizer(prog)
    self_samples = {}
    for r in cpu["rows"]:
        f = sym(raw.stacks[r["stack"]][0] - 1) if r["stack"] in raw.stacks else None
        self_samples[f] = self_samples.get(f, 0) + r["samples"]
    ck.check(self_samples.get("burn_heavy", 0) > self_samples.get("burn_light", 0) > 0,
             "burn_heavy has more samples than burn_light", repr(self_samples))
    lat = raw.latency
    if ck.check(lat is not None and lat["sample"] == 1, "LATENCY chunk, every call timed",
                repr(lat)):
        rows = {(r["op"], r["size_max"]): r["count"] for r in lat["rows"]}
        ck.check(rows.get((0, 128), 0) >= 1000 and rows.get((1, 128), 0) >= 1000,
                 "1000 mallocs and frees of 100 bytes timed", repr(rows))
        ck.check(rows.get((0, 512 * 1024), 0) == 10, "10 mallocs of 300 KiB timed", repr(rows))
        ck.check(lat["forwarded_large"] >= 20, "large requests counted as forwarded", repr(lat))


def main():
    args = pstest.parse_args()
    ck = pstest.Checker("test_timing")
    contention(args, ck, 1)
    contention(args, ck, None)
    cpuburn(args, ck)
    ck.done()


if __name__ == "__main__":
    main()
