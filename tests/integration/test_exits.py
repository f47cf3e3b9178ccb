#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_exits.py — every process that ends writes its trace, however it ends.

--case program: tests/integration/exits.c forks children that end in exit, _exit, _Exit,
  quick_exit (after an at_quick_exit handler of its own that frees a block: the shim's snapshot
  must come after it), _exit in a signal handler, and _exit after a fork while two threads
  allocate; a vfork child _exits at once; the parent ends in _exit. Each child's trace is
  complete (END chunk) with exactly its own leak; the vfork child writes none (it shares the
  parent's memory) and the parent, which kept allocating after it, has its own leak exact.

--case count: multi-process commands under strace -f: dash pipelines and subshells, make -j2
  with shell recipes, busybox's shell and applets (when installed). The processes that ended
  (an exit_group system call; an exec replaces an image without ending the process) are
  compared with the traces written (PERFSHIM_TRACE_LIST): one complete trace per process, the
  same pids; besides, the traces of images replaced by exec (flag PS_SNAP_F_EXEC: a fork+exec
  child that allocated before its exec) each belong to a pid that exec'ed (strace's execve). Exits 77 (skipped) when strace is missing or cannot trace here."""
import os
import re
import shutil

import pstest

MAKEFILE = """\
all: a.out b.out c.out d.out
\t@echo done
%.out:
\t@echo $@ | tr a-z A-Z > $@
\t@(echo sub; true) | cat > /dev/null; x=$$(echo y); test -n "$$x"
"""

COMMANDS = [
    ("dash pipeline and subshells",
     ["/bin/dash", "-c", "echo a | cat; (echo b); x=$(echo c); true"]),
    ("dash background job", ["/bin/dash", "-c", "(sleep 0.1; echo bg) & wait; echo fg"]),
    ("make -j2", ["make", "-s", "-j2", "-f", "Makefile"]),
]
BUSYBOX = [
    ("busybox sh", ["busybox", "sh", "-c", "echo a | busybox cat; (echo b) | busybox wc -l"]),
]


def program_case(args, ck):
    prog = os.path.join(args.bindir, "exits")
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "exits.c")
    marks = pstest.markers(src)
    leaks = pstest.define(src, "EXITS_LEAKS")
    work = pstest.tmpdir("exits")
    listing = os.path.join(work, "traces.list")
    p = pstest.run([prog], cwd=work, env={"LD_PRELOAD": args.lib, "PERFSHIM_TRACE_LIST": listing,
                                          "PERFSHIM_OUTPUT": os.path.join(work, "%e.%p.trace")})
    if not ck.check(p.returncode == 0 and p.stderr == b"", "exits: exits 0, nothing on stderr",
                    pstest.describe(p)):
        return
    pids = {}
    for line in p.stdout.decode().splitlines():
        f = line.split()
        pids[f[1] if f[0] == "child" else f[0]] = int(f[-1])
    kinds = ["exit", "_exit", "_Exit", "quick_exit", "signal", "threads"]
    ck.check(all(k in pids for k in kinds + ["vfork", "parent"]),
             "exits: every child reported its pid", p.stdout.decode())
    listed = open(listing).read().split() if os.path.exists(listing) else []
    by_pid = {}
    for t in listed:
        raw = pstest.RawTrace(t)
        ck.check(raw.error is None and raw.end is not None and raw.snapshots,
                 "exits: %s is complete (END chunk)" % os.path.basename(t), raw.error or "")
        if raw.process:
            by_pid.setdefault(raw.process["pid"], []).append(t)
    ck.check(pids.get("vfork") not in by_pid, "exits: the vfork child wrote no trace")
    ck.equal(sorted(by_pid), sorted(pids[k] for k in kinds + ["parent"] if k in pids),
             "exits: one trace per process that ended, the vfork child excepted")
    for i, kind in enumerate(kinds + ["parent"]):
        traces = by_pid.get(pids.get(kind), [])
        if not ck.check(len(traces) == 1, "exits: %s: one trace" % kind):
            continue
        a = pstest.run([args.perfshim, "leaks", "--json"] + traces, cwd=work)
        if not ck.check(a.returncode == 0, "exits: %s: perfshim leaks reads it" % kind,
                        pstest.describe(a)):
            continue
        rep = pstest.load_reports(a.stdout.decode())[0]
        if kind == "parent":
            size = pstest.define(src, "EXITS_PARENT_SIZE")
            pstest.check_site(ck, rep, src, marks, "parent", leaks, leaks * size, "main",
                              "exits: parent (after the vfork child)")
            continue
        size = 100 + 8 * i
        pstest.check_site(ck, rep, src, marks, "child", leaks, leaks * size, "leak_child",
                          "exits: %s" % kind)
        if kind == "quick_exit":
            ck.check(not [l for l in rep["leaks"] if l["bytes"] == 999],
                     "exits: quick_exit: the program's at_quick_exit handler ran before the "
                     "snapshot (its block is freed)", pstest.fmt_report(rep))


def strace_usable(work):
    if not shutil.which("strace"):
        return "strace is not installed"
    p = pstest.run(["strace", "-f", "-qq", "-o", os.path.join(work, "probe.st"), "true"],
                   cwd=work)
    return None if p.returncode == 0 else "strace cannot trace here: %s" % p.stderr[:200]


def count_case(args, ck):
    work = pstest.tmpdir("exits-count")
    why = strace_usable(work)
    if why:
        print("skipped: " + why)
        raise SystemExit(77)
    with open(os.path.join(work, "Makefile"), "w") as f:
        f.write(MAKEFILE)
    commands = list(COMMANDS)
    if shutil.which("busybox"):
        commands += BUSYBOX
    else:
        print("note: busybox is not installed; its commands are left out")
    for n, (label, cmd) in enumerate(commands):
        tdir = os.path.join(work, "traces%d" % n)
        os.mkdir(tdir)
        listing = os.path.join(tdir, "list")
        st = os.path.join(work, "run%d.st" % n)
        for f in os.listdir(work):
            if f.endswith(".out"):
                os.unlink(os.path.join(work, f))
        env = ["-E", "LD_PRELOAD=" + args.lib, "-E", "PERFSHIM_TRACE_LIST=" + listing,
               "-E", "PERFSHIM_OUTPUT=" + os.path.join(tdir, "%e.%p.trace")]
        p = pstest.run(["strace", "-f", "-qq", "-e", "trace=exit_group,execve", "-e",
                        "signal=none",
                        "-o", st] + env + cmd, cwd=work, timeout=120)
        if not ck.check(p.returncode == 0 and b"perfshim" not in p.stderr,
                        "%s: exits 0 under strace, no shim message" % label, pstest.describe(p)):
            continue
        exited, execs = set(), {}
        with open(st) as f:
            for line in f:
                m = re.match(r"(\d+)\s+exit_group\(", line)
                if m:
                    exited.add(int(m.group(1)))
                # a successful execve, whole or resumed after other processes' lines
                m = re.match(r"(\d+)\s+(?:execve\(|<\.\.\. execve resumed>).*\)\s*=\s*0$",
                             line.rstrip())
                if m:
                    execs[int(m.group(1))] = execs.get(int(m.group(1)), 0) + 1
        listed = open(listing).read().split() if os.path.exists(listing) else []
        traced, incomplete, replaced = [], [], {}
        for t in listed:
            raw = pstest.RawTrace(t)
            if raw.error or raw.end is None or not raw.process:
                incomplete.append("%s: %s" % (os.path.basename(t), raw.error or "no END"))
            if raw.process and raw.snapshots and raw.snapshots[-1]["flags"] & 4:
                pid = raw.process["pid"]  # an image that exec'ed (PS_SNAP_F_EXEC)
                replaced[pid] = replaced.get(pid, 0) + 1
            elif raw.process:
                traced.append(raw.process["pid"])
        # an image replaced by exec writes its trace when it allocated since its fork (or is the
        # command itself); a fork+exec child that did not writes none (docs/options.md)
        ck.check(all(n <= execs.get(pid, 0) for pid, n in replaced.items()),
                 "%s: %d traces flagged exec, each of a process that exec'ed (strace)" %
                 (label, sum(replaced.values())), "flagged: %r; execve: %r" % (replaced, execs))
        ck.check(len(exited) >= 3, "%s: %d processes ended" % (label, len(exited)))
        ck.check(sorted(traced) == sorted(exited),
                 "%s: %d processes ended, %d traces: one per process" % (label, len(exited),
                                                                         len(traced)),
                 "ended without a trace: %r; traces of no ended process: %r"
                 % (sorted(exited - set(traced)), sorted(set(traced) - exited)))
        ck.check(not incomplete, "%s: every trace is complete" % label, "\n".join(incomplete))


def main():
    args = pstest.parse_args(lambda ap: ap.add_argument("--case", choices=["program", "count"],
                                                        required=True))
    ck = pstest.Checker("test_exits_" + args.case)
    if args.case == "program":
        program_case(args, ck)
    else:
        count_case(args, ck)
    ck.done()


if __name__ == "__main__":
    main()
