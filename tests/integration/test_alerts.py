#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_alerts.py — snapshot triggers, alerts and the Prometheus file (issue 11, items 1 and 5),
on tests/integration/alerts.c. One case per run (--case):

  triggers     PERFSHIM_DUMP_AT_MAX: snapshots (reason max) at rising highs, each at least the
               step (10%, 1 MiB) above the last, far fewer than allocations; a bigger step
               writes fewer. PERFSHIM_DUMP_EVERY=16M over 100 MiB of churn: exactly 6 snapshots
               (reason every), each after its multiple of 16 MiB allocated. Both with
               PERFSHIM_INTERVAL off. The analyzer names each reason (a copy of the trace cut
               after that snapshot); nothing on stderr.
  signal       PERFSHIM_DUMP_SIGNAL=USR2: a raised SIGUSR2 writes one snapshot (reason signal)
               and the program lives (without the option it dies of it); a handler of the
               program's own replaces the shim's (it runs, no snapshot by signal, the trace
               says so); a query of the action sees SIG_DFL as without the shim; a signal
               ignored at start stays ignored (one warning); under PERFSHIM_TRACK=0 (no tick)
               no handler is installed (one warning).
  alerts       PERFSHIM_ALERT_HEAP (fires once per crossing: twice for two climbs), _RSS (once),
               _GROWTH (once per growth step, re-armed by flat intervals): one stderr line each,
               one ALERT row each after a snapshot of reason alert, listed by `perfshim summary`
               (text and JSON); thresholds never reached: nothing on stderr, no ALERT chunk.
  syslog       PERFSHIM_SYSLOG=1 with PERFSHIM_SYSLOG_SOCKET at a datagram socket of the test's:
               one datagram per alert (RFC 3164 priority 12), nothing on stderr, no descriptor
               left in the program; an unreachable socket falls back to stderr.
  prom         PERFSHIM_PROM_FILE under PERFSHIM_INTERVAL=50ms with lock timing: a reader
               polling the file never sees a partial file (every version read passes the
               format check, a new inode each time: rename), the exit version's figures equal
               the exit snapshot's, the growing site is labelled with the module and an offset
               inside keep_block (nm), no temporary file is left.
  promtool     the same file through `promtool check metrics` (skipped without promtool).
  cgroup_fake  PERFSHIM_ALERT_CGROUP=90% against a cgroup v2 tree made by the test under
               PERFSHIM_CGROUP_ROOT: fires at 95%, re-arms below 81%, fires again at 99%.
  cgroup       a real cgroup v2 with memory.max (root and a cgroup2 memory controller needed,
               else skipped): the alert fires once when the program's memory passes 50%.
"""
import json
import os
import stat
import re
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time

import pstest

MIB = 1 << 20


def run_alerts(args, work, argv, env, preexec=None):
    """alerts ARGV under the shim; (process, RawTrace or None)."""
    for f in os.listdir(work):
        os.unlink(os.path.join(work, f))
    e = {"LD_PRELOAD": args.lib, "PERFSHIM_OUTPUT": os.path.join(work, "t.trace")}
    e.update(env)
    prog = os.path.join(args.bindir, "alerts")
    full = os.environ.copy()
    for k in list(full):
        if k.startswith("PERFSHIM_") or k == "LD_PRELOAD":
            del full[k]
    full.update(e)
    p = subprocess.run([prog] + argv, env=full, cwd=work, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=120, preexec_fn=preexec)
    path = os.path.join(work, "t.trace")
    return p, (pstest.RawTrace(path) if os.path.exists(path) else None)


def bare(args, argv):
    return pstest.run([os.path.join(args.bindir, "alerts")] + argv)


def reasons(raw):
    return [s["reason"] for s in raw.snapshots] if raw else None


def cut_after_snapshot(raw, index, dest):
    """A copy of the trace ending after its index-th SNAPSHOT chunk (and the ALERT and MESSAGE
    chunks right after it): what a reader finds if the writer died then."""
    snaps = [i for i, c in enumerate(raw.chunks) if c[1] == pstest.CHUNK_SNAPSHOT]
    i = snaps[index]
    while i + 1 < len(raw.chunks) and raw.chunks[i + 1][1] in (pstest.CHUNK_ALERT,
                                                               pstest.CHUNK_MESSAGE):
        i += 1
    end = raw.chunks[i][0] + raw.chunks[i][2]
    with open(raw.path, "rb") as f:
        data = f.read(end)
    with open(dest, "wb") as f:
        f.write(data)
    return dest


def summary_json(args, path):
    p = pstest.run([args.perfshim, "summary", "--json", path])
    try:
        return json.loads(p.stdout.decode())
    except ValueError:
        return None


def analyzer_reason(args, ck, raw, index, label):
    cut = cut_after_snapshot(raw, index, raw.path + ".cut")
    d = summary_json(args, cut)
    got = d["snapshot"]["reason"] if d else None
    os.unlink(cut)
    return got


def fds_of(p):
    m = re.search(rb"fds (-?\d+)", p.stdout)
    return int(m.group(1)) if m else None


# ---- triggers ------------------------------------------------------------------------------

def case_triggers(args, ck, work):
    argv = ["grow", "24", "64", "0"]
    p, raw = run_alerts(args, work, argv, {"PERFSHIM_DUMP_AT_MAX": "1"})
    ck.equal(p.returncode, 0, "dump at max: exit status")
    ck.equal(p.stderr, b"", "dump at max: nothing on stderr")
    rs = reasons(raw)
    k = rs.count(pstest.SNAP_MAX) if rs else 0
    ck.check(rs and k >= 10 and rs == [pstest.SNAP_MAX] * k + [pstest.SNAP_EXIT],
             "dump at max: snapshots of reason max (at least 10), then exit", repr(rs))
    ck.check(k <= 24, "dump at max: at most one snapshot per MiB of growth (%d for 384 "
             "allocations of 64 KiB)" % k)
    lives = [s["totals"]["live_bytes"] for s in raw.snapshots[:k]] if raw else []
    bad = [(a, b) for a, b in zip(lives, lives[1:])
           if b < max(a * 1.1, a + MIB) * 0.99]
    ck.check(lives and lives[0] >= MIB and not bad,
             "dump at max: the first at 1 MiB, each at least 10% and 1 MiB above the last",
             repr(lives))
    if k:
        ck.equal(analyzer_reason(args, ck, raw, 0, "max"), "max",
                 "dump at max: perfshim summary names the reason")
    p50, raw50 = run_alerts(args, work, argv, {"PERFSHIM_DUMP_AT_MAX": "1",
                                               "PERFSHIM_DUMP_AT_MAX_STEP": "50%"})
    k50 = reasons(raw50).count(pstest.SNAP_MAX) if raw50 else -1
    ck.check(0 < k50 < k, "PERFSHIM_DUMP_AT_MAX_STEP=50%%: fewer snapshots (%d < %d)" % (k50, k))

    # every 16 MiB allocated, over 100 MiB of 64 KiB blocks allocated and freed at once
    p, raw = run_alerts(args, work, ["churn", "100"], {"PERFSHIM_DUMP_EVERY": "16M"})
    ck.equal(p.returncode, 0, "dump every: exit status")
    ck.equal(p.stderr, b"", "dump every: nothing on stderr")
    rs = reasons(raw)
    ck.equal(rs, [pstest.SNAP_EVERY] * 6 + [pstest.SNAP_EXIT],
             "dump every 16M over 100 MiB: 6 snapshots of reason every, then exit")
    allocated = [s["totals"]["alloc_bytes"] for s in raw.snapshots[:-1]] if raw else []
    # flushed at ticks: one in 16 tracked calls, 16 blocks of 64 KiB = 1 MiB at most late
    ck.check(all(16 * MIB * (i + 1) <= a < 16 * MIB * (i + 1) + 2 * MIB
                 for i, a in enumerate(allocated)),
             "dump every: snapshot i written after (i+1) x 16 MiB allocated, within 2 MiB",
             repr(allocated))
    if rs and rs[0] == pstest.SNAP_EVERY:
        ck.equal(analyzer_reason(args, ck, raw, 0, "every"), "every",
                 "dump every: perfshim summary names the reason")

    # with byte sampling each sampled block counts the bytes it stands for: about 1 in 8.5
    # blocks of 64 KiB is sampled at 512k, and the estimate of 100 MiB still gives 4 to 8
    # snapshots (6 with this seed; counting the sampled bytes alone gave 0)
    p, raw = run_alerts(args, work, ["churn", "100"], {"PERFSHIM_DUMP_EVERY": "16M",
                                                       "PERFSHIM_SAMPLE": "512k",
                                                       "PERFSHIM_SAMPLE_SEED": "7"})
    ck.equal(p.stderr, b"", "dump every with PERFSHIM_SAMPLE=512k: nothing on stderr")
    k = reasons(raw).count(pstest.SNAP_EVERY) if raw else -1
    ck.check(4 <= k <= 8, "dump every with sampling counts estimated bytes: %d snapshots" % k,
             repr(reasons(raw)))


# ---- signal --------------------------------------------------------------------------------

def case_signal(args, ck, work):
    b = bare(args, ["signal", "USR2"])
    ck.equal(b.returncode, -signal.SIGUSR2, "without the shim, SIGUSR2 ends the program")
    p, raw = run_alerts(args, work, ["signal", "USR2"], {})
    ck.equal(p.returncode, -signal.SIGUSR2,
             "with the shim but PERFSHIM_DUMP_SIGNAL off, SIGUSR2 still ends it")
    env = {"PERFSHIM_DUMP_SIGNAL": "USR2"}
    p, raw = run_alerts(args, work, ["signal", "USR2"], env)
    ck.check(p.returncode == 0 and p.stdout.startswith(b"done signal"),
             "PERFSHIM_DUMP_SIGNAL=USR2: the program lives through SIGUSR2", pstest.describe(p))
    ck.equal(p.stderr, b"", "signal: nothing on stderr")
    ck.equal(reasons(raw), [pstest.SNAP_SIGNAL, pstest.SNAP_EXIT],
             "signal: one snapshot of reason signal, then exit")
    if raw and raw.snapshots and raw.snapshots[0]["reason"] == pstest.SNAP_SIGNAL:
        ck.equal(analyzer_reason(args, ck, raw, 0, "signal"), "signal",
                 "signal: perfshim summary names the reason")
    ck.equal(fds_of(p), fds_of(bare(args, ["churn", "1"])),
             "signal: the program's descriptors are as without the shim")
    # USR1 works the same; a program's own handler for the other signal is untouched
    p, raw = run_alerts(args, work, ["signal", "USR1"], {"PERFSHIM_DUMP_SIGNAL": "USR1"})
    ck.equal(reasons(raw), [pstest.SNAP_SIGNAL, pstest.SNAP_EXIT],
             "PERFSHIM_DUMP_SIGNAL=USR1: one snapshot of reason signal")

    b = bare(args, ["ownsig", "USR2"])
    p, raw = run_alerts(args, work, ["ownsig", "USR2"], env)
    ck.check(p.returncode == 0 and p.stdout == b.stdout and b"handled 1" in p.stdout,
             "a handler of the program's own replaces the shim's: it runs, as without the shim",
             pstest.describe(p))
    ck.equal(p.stderr, b"", "own handler: nothing on stderr")
    ck.equal(reasons(raw), [pstest.SNAP_EXIT], "own handler: no snapshot by signal")
    ck.check(raw and any("installed its own action" in m[1] for m in raw.messages),
             "own handler: the trace's messages say that dumps by signal stopped",
             repr(raw.messages if raw else None))

    b = bare(args, ["query", "USR2"])
    p, raw = run_alerts(args, work, ["query", "USR2"], env)
    ck.check(p.stdout == b.stdout == b"done query dfl\n",
             "a query of SIGUSR2's action sees SIG_DFL, as without the shim", pstest.describe(p))

    p, raw = run_alerts(args, work, ["signal", "USR2"], dict(env, PERFSHIM_TRACK="0"))
    ws = [l for l in p.stderr.decode().splitlines() if l]
    ck.check(p.returncode == -signal.SIGUSR2 and len(ws) == 1 and "PERFSHIM_TRACK=0" in ws[0],
             "PERFSHIM_TRACK=0: no handler (SIGUSR2 still ends the program), one warning",
             pstest.describe(p))

    ign = lambda: signal.signal(signal.SIGUSR2, signal.SIG_IGN)  # noqa: E731
    p, raw = run_alerts(args, work, ["signal", "USR2"], env, preexec=ign)
    ws = [l for l in p.stderr.decode().splitlines() if l]
    ck.check(p.returncode == 0 and len(ws) == 1 and "ignored or handled already" in ws[0],
             "SIGUSR2 ignored at start: it stays ignored, one warning", pstest.describe(p))
    ck.equal(reasons(raw), [pstest.SNAP_EXIT], "ignored signal: no snapshot by signal")


# ---- alerts --------------------------------------------------------------------------------

ALERT_LINE = re.compile(r"^perfshim: alert: (.*) \(pid (\d+); snapshot in (.*)\)$")


def alert_lines(p):
    lines = p.stderr.decode("utf-8", "replace").splitlines()
    return [l for l in lines if ALERT_LINE.match(l)], [l for l in lines if not ALERT_LINE.match(l)]


def check_alerts(args, ck, p, raw, kind, count, label):
    lines, other = alert_lines(p)
    ck.equal(p.returncode, 0, "%s: exit status" % label)
    ck.check(len(lines) == count and not other, "%s: exactly %d alert line(s) on stderr, "
             "nothing else" % (label, count), p.stderr.decode())
    rows = raw.alerts if raw else []
    ck.check(len(rows) == count and all(a["kind"] == kind for a in rows),
             "%s: %d ALERT row(s) of kind %d" % (label, count, kind), repr(rows))
    snap_ok = all(raw.snapshots[a["snapshot"]]["reason"] == pstest.SNAP_ALERT and
                  raw.snapshots[a["snapshot"]]["time_ns"] == a["snapshot_time_ns"]
                  for a in rows)
    ck.check(snap_ok, "%s: each ALERT chunk follows its snapshot, of reason alert" % label)
    ck.check(all(a["value"] >= a["threshold"] for a in rows),
             "%s: each value reached its threshold" % label, repr(rows))
    if raw:
        d = summary_json(args, raw.path)
        got = [(a["kind"], a["value"], a["threshold"]) for a in d["alerts"]] if d else None
        want = [({1: "rss", 2: "heap", 3: "cgroup", 4: "growth"}[a["kind"]], a["value"],
                 a["threshold"]) for a in rows]
        ck.equal(got, want, "%s: perfshim summary --json lists the alerts" % label)
        t = pstest.run([args.perfshim, "summary", raw.path]).stdout.decode()
        ck.check(("Alerts (%d):" % count in t) == (count > 0),
                 "%s: the text summary has an Alerts section" % label)
    return lines, rows


def case_alerts(args, ck, work):
    # live heap: two climbs to 24 MiB, freed in between (below 90% of 16 MiB: re-armed)
    p, raw = run_alerts(args, work, ["grow", "24", "64", "0", "2"],
                        {"PERFSHIM_ALERT_HEAP": "16M"})
    lines, rows = check_alerts(args, ck, p, raw, pstest.ALERT_HEAP, 2, "PERFSHIM_ALERT_HEAP=16M")
    ck.check(lines and all("live heap" in l and "PERFSHIM_ALERT_HEAP (16.0 MiB)" in l and
                           os.path.join(work, "t.trace") in l for l in lines),
             "heap: the line names the figure, the option and the trace", "\n".join(lines))
    ck.check(all(a["threshold"] == 16 * MIB for a in rows), "heap: the threshold is 16 MiB")
    if raw and raw.snapshots and rows:
        ck.equal(analyzer_reason(args, ck, raw, rows[0]["snapshot"], "alert"), "alert",
                 "heap: perfshim summary names the reason")

    # RSS: 6 steps of 16 MiB kept (touched), interval 50 ms
    p, raw = run_alerts(args, work, ["steps", "6", "16", "250"],
                        {"PERFSHIM_INTERVAL": "50ms", "PERFSHIM_ALERT_RSS": "64M"})
    lines, rows = check_alerts(args, ck, p, raw, pstest.ALERT_RSS, 1, "PERFSHIM_ALERT_RSS=64M")
    ck.check(lines and "RSS" in lines[0] and "PERFSHIM_ALERT_RSS (64.0 MiB)" in lines[0],
             "rss: the line names RSS and the option", "\n".join(lines))

    # growth: 3 steps of 8 MiB, each followed by flat intervals that re-arm it. The interval is
    # long against a step: at a load of 30 on 2 cores one step's 8 MiB took over 200 ms, spread
    # over three 100 ms intervals of under 20% each, and its alert never fired.
    p, raw = run_alerts(args, work, ["steps", "3", "8", "1300"],
                        {"PERFSHIM_INTERVAL": "250ms", "PERFSHIM_ALERT_GROWTH": "20%"})
    lines, rows = check_alerts(args, ck, p, raw, pstest.ALERT_GROWTH, 3,
                               "PERFSHIM_ALERT_GROWTH=20%")
    bases = [a["base"] for a in rows]
    ck.check(all(a["value"] > a["base"] * 1.2 and a["value"] >= a["base"] + MIB for a in rows)
             and bases == sorted(bases),
             "growth: each value is over 120% and 1 MiB above its base, bases rising", repr(rows))
    # --at the second alert's snapshot: the report leaves out the alert raised after it
    if raw and len(rows) == 3:
        at = "%.9f" % ((rows[1]["snapshot_time_ns"] + 1000) / 1e9)  # 1 us past: no rounding down
        p = pstest.run([args.perfshim, "summary", "--json", "--at", at, raw.path])
        d = json.loads(p.stdout.decode()) if p.returncode == 0 else None
        ck.check(d and [a["time_ns"] for a in d["alerts"]] == [a["time_ns"] for a in rows[:2]]
                 and d["alerts_later"] == 1, "growth: summary --at the second alert's snapshot "
                 "lists the first two, and counts one later", pstest.describe(p))
        t = pstest.run([args.perfshim, "summary", "--at", at, raw.path]).stdout.decode()
        ck.check("Alerts (2; 1 more after this snapshot):" in t,
                 "growth: the text summary says so", t)

    # thresholds never reached: nothing at all
    p, raw = run_alerts(args, work, ["steps", "2", "0", "300"],
                        {"PERFSHIM_INTERVAL": "50ms", "PERFSHIM_ALERT_HEAP": "1G",
                         "PERFSHIM_ALERT_RSS": "1G", "PERFSHIM_ALERT_GROWTH": "20%"})
    ck.equal(p.stderr, b"", "no threshold reached: nothing on stderr")
    ck.check(raw and not raw.alerts and pstest.SNAP_ALERT not in reasons(raw) and
             pstest.SNAP_INTERVAL in reasons(raw),
             "no threshold reached: interval snapshots, no ALERT", repr(reasons(raw)))
    # the interval-only alerts without an interval: said once
    p, raw = run_alerts(args, work, ["churn", "1"], {"PERFSHIM_ALERT_RSS": "1G"})
    ws = [l for l in p.stderr.decode().splitlines() if l]
    ck.check(len(ws) == 1 and "PERFSHIM_INTERVAL" in ws[0] and "never fire" in ws[0],
             "PERFSHIM_ALERT_RSS without PERFSHIM_INTERVAL: one warning", repr(ws))


# ---- syslog --------------------------------------------------------------------------------

def case_syslog(args, ck, work):
    sockdir = pstest.tmpdir("alerts-syslog")
    path = os.path.join(sockdir, "log")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(0.2)
    env = {"PERFSHIM_ALERT_HEAP": "8M", "PERFSHIM_SYSLOG": "1", "PERFSHIM_SYSLOG_SOCKET": path}
    p, raw = run_alerts(args, work, ["grow", "12", "64", "0"], env)
    got = []
    while True:
        try:
            got.append(s.recv(4096))
        except socket.timeout:
            break
    s.close()
    ck.equal(p.returncode, 0, "syslog: exit status")
    ck.equal(p.stderr, b"", "syslog: nothing on stderr")
    pid = raw.process["pid"] if raw and raw.process else -1
    ck.check(len(got) == 1 and re.match(rb"<12>perfshim\[%d\]: alert: live heap .* reached "
                                        rb"PERFSHIM_ALERT_HEAP \(8\.0 MiB\)" % pid, got[0]),
             "syslog: one datagram, priority user.warning, tag perfshim[pid]", repr(got))
    ck.check(raw and len(raw.alerts) == 1, "syslog: the ALERT row is in the trace too")
    ck.equal(fds_of(p), fds_of(bare(args, ["churn", "1"])),
             "syslog: no descriptor left open in the program")
    env["PERFSHIM_SYSLOG_SOCKET"] = os.path.join(sockdir, "nobody-listens")
    p, raw = run_alerts(args, work, ["grow", "12", "64", "0"], env)
    lines, other = alert_lines(p)
    ck.check(len(lines) == 1 and not other,
             "syslog unreachable: the alert line goes to stderr instead", p.stderr.decode())


# ---- Prometheus ----------------------------------------------------------------------------

METRIC = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL_PAIR = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\["\\n])*)"')
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$")
FAMILIES = ("perfshim_live_heap_bytes", "perfshim_live_blocks", "perfshim_peak_live_heap_bytes",
            "perfshim_rss_bytes", "perfshim_allocated_bytes_total", "perfshim_allocations_total",
            "perfshim_allocation_rate_bytes_per_second", "perfshim_alerts_total",
            "perfshim_pool_hit_ratio", "perfshim_lock_wait_seconds_total")


def prom_parse(text):
    """The exposition format's rules that matter here, checked line by line: a file ending in a
    newline, HELP and TYPE once per family and before its samples, valid metric and label
    names, label values escaped, float values, counters ending in _total, every sample's
    family declared, no family split. Returns ({(name, labels): value}, [errors])."""
    errs, samples, types, helps, done_families = [], {}, {}, set(), set()
    if not text.endswith("\n"):
        errs.append("does not end with a newline")
    current = None
    for n, line in enumerate(text.split("\n")[:-1], 1):
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            parts = line.split(" ", 3)
            if len(parts) < 4 or not METRIC.match(parts[2]):
                errs.append("line %d: bad comment %r" % (n, line))
                continue
            name = parts[2]
            if name in done_families:
                errs.append("line %d: family %s split" % (n, name))
            if current and current != name:
                done_families.add(current)
            current = name
            if parts[1] == "HELP":
                if name in helps:
                    errs.append("line %d: HELP twice for %s" % (n, name))
                helps.add(name)
            else:
                if name in types or parts[3] not in ("gauge", "counter"):
                    errs.append("line %d: TYPE %r" % (n, line))
                if parts[3] == "counter" and not name.endswith("_total"):
                    errs.append("line %d: counter %s without _total" % (n, name))
                types[name] = parts[3]
            continue
        m = SAMPLE.match(line)
        if not m:
            errs.append("line %d: not a sample %r" % (n, line))
            continue
        name, labels, value = m.group(1), m.group(3) or "", m.group(4)
        if name != current or name not in types or name not in helps:
            errs.append("line %d: sample of %s outside its declared family" % (n, name))
        pairs = LABEL_PAIR.findall(labels)
        rebuilt = ",".join('%s="%s"' % kv for kv in pairs)
        if rebuilt != labels:
            errs.append("line %d: bad labels %r" % (n, labels))
        try:
            v = float(value)
        except ValueError:
            errs.append("line %d: bad value %r" % (n, value))
            continue
        key = (name, tuple(pairs))
        if key in samples:
            errs.append("line %d: duplicate sample" % n)
        samples[key] = v
    return samples, errs


def one(samples, name):
    vs = [v for (n, _l), v in samples.items() if n == name]
    return vs[0] if len(vs) == 1 else None


def nm_range(prog, sym):
    out = subprocess.run(["nm", "-S", "--defined-only", prog], capture_output=True,
                         text=True).stdout
    for line in out.splitlines():
        f = line.split()
        if len(f) == 4 and f[3] == sym:
            return int(f[0], 16), int(f[0], 16) + int(f[1], 16)
    return None


def run_prom(args, ck, work, extra_env=None):
    prom = os.path.join(work, "perfshim.prom")
    env = {"PERFSHIM_PROM_FILE": prom, "PERFSHIM_INTERVAL": "50ms", "PERFSHIM_LOCKS": "1"}
    env.update(extra_env or {})
    versions, inodes, stop = {}, set(), threading.Event()

    def poll():
        while not stop.is_set():
            try:
                with open(prom, "rb") as f:
                    inodes.add(os.fstat(f.fileno()).st_ino)
                    data = f.read()
                versions.setdefault(data, 0)
                versions[data] += 1
            except FileNotFoundError:
                pass
            time.sleep(0.002)
    th = threading.Thread(target=poll)
    th.start()
    try:
        p, raw = run_alerts(args, work, ["steps", "8", "4", "200"], env)
    finally:
        stop.set()
        th.join()
    return prom, p, raw, versions, inodes


def case_prom(args, ck, work):
    prom, p, raw, versions, inodes = run_prom(args, ck, work)
    ck.equal(p.returncode, 0, "prom: exit status")
    ck.equal(p.stderr, b"", "prom: nothing on stderr")
    bad = []
    for data in versions:
        _s, errs = prom_parse(data.decode("utf-8", "replace"))
        if errs:
            bad.append((errs[:3], data[-200:]))
    ck.check(len(versions) >= 5 and not bad,
             "prom: every one of the %d versions a polling reader saw is whole and valid "
             "(written to a temporary file, renamed)" % len(versions), repr(bad[:2]))
    ck.check(len(inodes) >= 2, "prom: each version is a new file (%d inodes seen)" % len(inodes))
    leftovers = [f for f in os.listdir(work) if f.endswith(".tmp")]
    ck.equal(leftovers, [], "prom: no temporary file left")
    if not ck.check(os.path.exists(prom), "prom: the file exists at exit"):
        return
    ck.equal(os.stat(prom).st_mode & 0o777, 0o644, "prom: mode 0644 (the collector reads it)")
    with open(prom) as f:
        final = f.read()
    samples, errs = prom_parse(final)
    ck.check(not errs, "prom: the exit version is valid", "\n".join(errs))
    names = {n for n, _l in samples}
    ck.check(set(FAMILIES) <= names, "prom: every family (live heap, RSS, rate, pool hit "
             "ratio, lock wait, ...) is present", repr(sorted(set(FAMILIES) - names)))
    pid = raw.process["pid"] if raw and raw.process else None
    ck.check(all(dict(l).get("pid") == str(pid) and dict(l).get("program") == "alerts"
                 for _n, l in samples), "prom: every sample has the pid and program labels")
    if raw and raw.end is not None:
        t = raw.snapshots[-1]["totals"]
        got = (one(samples, "perfshim_live_heap_bytes"), one(samples, "perfshim_rss_bytes"),
               one(samples, "perfshim_allocated_bytes_total"),
               one(samples, "perfshim_allocations_total"))
        want = (t["live_bytes"], t["rss_bytes"], t["alloc_bytes"], t["allocs"])
        ck.equal(got, want, "prom: the exit version's live heap, RSS, bytes and allocations "
                 "are the exit snapshot's")
    ratio = one(samples, "perfshim_pool_hit_ratio")
    ck.check(ratio is not None and 0.5 < ratio <= 1.0, "prom: pool hit ratio in (0.5, 1]",
             repr(ratio))
    # the growing site: in some version, labelled alerts+0xOFF with OFF - 1 inside keep_block
    rng = nm_range(os.path.join(args.bindir, "alerts"), "keep_block")
    sites = set()
    for data in versions:
        s, _e = prom_parse(data.decode("utf-8", "replace"))
        for (n, l), v in s.items():
            if n == "perfshim_site_growth_bytes":
                sites.add(dict(l).get("site"))
    offs = [int(x.split("+0x")[1], 16) for x in sites if x and x.startswith("alerts+0x")]
    ck.check(rng is not None and any(rng[0] <= o - 1 < rng[1] for o in offs),
             "prom: the growing site is labelled alerts+0xOFFSET inside keep_block (nm: %r)"
             % (rng,), repr(sorted(s for s in sites if s)))

    # a path that is not a regular file (a FIFO here, standing for /dev/null, which a test must
    # not risk) is written in place: the temporary file's rename had replaced it by a regular
    # file (as root, PERFSHIM_PROM_FILE=/dev/null made /dev/null a regular file)
    fdir = pstest.tmpdir("alerts-prom-fifo")  # run_alerts empties work
    fifo = os.path.join(fdir, "prom.fifo")
    os.mkfifo(fifo)
    rfd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    got, stop = [], threading.Event()

    def drain():
        while not stop.is_set():
            try:
                got.append(os.read(rfd, 65536))
            except BlockingIOError:
                pass
            time.sleep(0.005)
    th = threading.Thread(target=drain)
    th.start()
    try:
        p, _raw = run_alerts(args, work, ["steps", "4", "4", "200"],
                             {"PERFSHIM_PROM_FILE": fifo, "PERFSHIM_INTERVAL": "50ms"})
    finally:
        stop.set()
        th.join()
        os.close(rfd)
    ck.check(stat.S_ISFIFO(os.stat(fifo).st_mode), "prom to a FIFO: still a FIFO")
    ck.check(b"perfshim_live_heap_bytes" in b"".join(got), "prom to a FIFO: the figures went "
             "through it", repr(b"".join(got)[:200]))
    ck.equal(os.listdir(fdir), ["prom.fifo"], "prom to a FIFO: no temporary file left")


def case_promtool(args, ck, work):
    tool = shutil.which("promtool")
    if not tool:
        ck.skip("promtool is not installed (Debian package prometheus)")
    prom, p, raw, versions, inodes = run_prom(args, ck, work)
    ck.equal(p.returncode, 0, "promtool: exit status")
    checked = 0
    for data in list(versions)[:20] + [open(prom, "rb").read()]:
        r = subprocess.run([tool, "check", "metrics"], input=data, capture_output=True)
        checked += 1
        if not ck.check(r.returncode == 0, "promtool check metrics accepts version %d"
                        % checked, (r.stdout + r.stderr).decode()[-500:]):
            break


# ---- cgroup --------------------------------------------------------------------------------

def own_cgroup_rel():
    with open("/proc/self/cgroup") as f:
        for line in f:
            if line.startswith("0::"):
                return line[3:].strip()
    return None


def run_watching(args, work, argv, env, on_line, preexec=None):
    """alerts ARGV under the shim, calling on_line(n, line) for each stderr line as it comes."""
    e = os.environ.copy()
    for k in list(e):
        if k.startswith("PERFSHIM_") or k == "LD_PRELOAD":
            del e[k]
    e.update({"LD_PRELOAD": args.lib, "PERFSHIM_OUTPUT": os.path.join(work, "t.trace")})
    e.update(env)
    proc = subprocess.Popen([os.path.join(args.bindir, "alerts")] + argv, env=e, cwd=work,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=preexec)
    lines = []
    for raw_line in proc.stderr:
        lines.append(raw_line.decode("utf-8", "replace").rstrip("\n"))
        on_line(len(lines), lines[-1])
    out = proc.stdout.read()
    proc.wait(timeout=60)
    return proc.returncode, out, lines


def case_cgroup_fake(args, ck, work):
    rel = own_cgroup_rel()
    if rel is None:
        ck.skip("no cgroup v2 line in /proc/self/cgroup")
    root = pstest.tmpdir("alerts-cgroup")
    leaf = os.path.join(root, rel.lstrip("/"))
    os.makedirs(leaf, exist_ok=True)
    limit = 1000 * MIB

    def set_current(pct):
        with open(os.path.join(leaf, "memory.current.new"), "w") as f:
            f.write("%d\n" % (limit * pct // 100))
        os.rename(os.path.join(leaf, "memory.current.new"), os.path.join(leaf, "memory.current"))
    with open(os.path.join(leaf, "memory.max"), "w") as f:
        f.write("%d\n" % limit)
    set_current(95)
    trace = os.path.join(work, "t.trace")

    def snapshots_now():
        return len(pstest.RawTrace(trace, rows=False).snapshots) if os.path.exists(trace) else 0

    def on_line(n, line):
        if n == 1:  # the first alert: drop to 50%, wait for 2 interval snapshots, then 99%
            set_current(50)
            seen = snapshots_now()
            deadline = time.time() + 20
            while snapshots_now() < seen + 2 and time.time() < deadline:
                time.sleep(0.02)
            set_current(99)
    env = {"PERFSHIM_INTERVAL": "50ms", "PERFSHIM_ALERT_CGROUP": "90%",
           "PERFSHIM_CGROUP_ROOT": root}
    rc, out, lines = run_watching(args, work, ["steps", "1", "1", "3000"], env, on_line)
    ck.equal(rc, 0, "cgroup (test tree): exit status")
    ok = [l for l in lines if ALERT_LINE.match(l)]
    ck.check(len(ok) == 2 and len(lines) == 2 and all("cgroup memory.current" in l and
                                                       "90% of memory.max 1000.0 MiB" in l
                                                       for l in ok),
             "cgroup (test tree): alerts at 95%, none while above 81%, again at 99% after a "
             "drop to 50%: two lines", "\n".join(lines))
    raw = pstest.RawTrace(trace)
    rows = raw.alerts
    ck.check(len(rows) == 2 and all(a["kind"] == pstest.ALERT_CGROUP and a["base"] == limit and
                                    a["threshold"] == limit // 100 * 90 for a in rows) and
             [a["value"] for a in rows] == [limit * 95 // 100, limit * 99 // 100],
             "cgroup (test tree): two ALERT rows with memory.current, 90% of memory.max and "
             "memory.max", repr(rows))


def cgroup2_mount():
    with open("/proc/self/mounts") as f:
        for line in f:
            fs = line.split()
            if len(fs) >= 3 and fs[2] == "cgroup2":
                return fs[1]
    return None


def case_cgroup(args, ck, work):
    if os.geteuid() != 0:
        ck.skip("needs root to create a cgroup")
    mnt, rel = cgroup2_mount(), own_cgroup_rel()
    if not mnt or rel is None:
        ck.skip("cgroup v2 is not mounted")
    parent = os.path.join(mnt, rel.lstrip("/"))
    try:
        with open(os.path.join(parent, "cgroup.controllers")) as f:
            has_memory = "memory" in f.read().split()
    except OSError:
        has_memory = False
    if not has_memory:
        ck.skip("the cgroup v2 hierarchy at %s has no memory controller (a hybrid system keeps "
                "it in cgroup v1)" % mnt)
    cg = os.path.join(parent, "perfshim-test-%d" % os.getpid())
    try:
        os.mkdir(cg)
        with open(os.path.join(parent, "cgroup.subtree_control"), "w") as f:
            f.write("+memory")
        with open(os.path.join(cg, "memory.max"), "w") as f:
            f.write("%d" % (256 * MIB))
    except OSError as e:
        if os.path.isdir(cg):
            os.rmdir(cg)
        ck.skip("cannot create a cgroup with a memory limit (%s)" % e)

    def enter():
        with open(os.path.join(cg, "cgroup.procs"), "w") as f:
            f.write("0")
    try:
        env = {"PERFSHIM_INTERVAL": "50ms", "PERFSHIM_ALERT_CGROUP": "50%",
               "PERFSHIM_CGROUP_ROOT": mnt}
        rc, out, lines = run_watching(args, work, ["steps", "4", "48", "200"], env,
                                      lambda n, l: None, preexec=enter)
    finally:
        time.sleep(0.1)
        os.rmdir(cg)
    ck.equal(rc, 0, "cgroup: exit status")
    ok = [l for l in lines if ALERT_LINE.match(l) and "cgroup memory.current" in l]
    ck.check(len(ok) == 1 and len(lines) == 1,
             "cgroup: one alert line once the program passed 50% of memory.max (256 MiB)",
             "\n".join(lines))


def main():
    def extra(ap):
        ap.add_argument("--case", required=True,
                        choices=("triggers", "signal", "alerts", "syslog", "prom", "promtool",
                                 "cgroup_fake", "cgroup"))
    args = pstest.parse_args(extra)
    ck = pstest.Checker("test_alerts_%s" % args.case)
    work = pstest.tmpdir("alerts-" + args.case)
    globals()["case_" + args.case](args, ck, work)
    ck.done()


if __name__ == "__main__":
    main()
