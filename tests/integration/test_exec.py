#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_exec.py — a process that replaces itself by exec* ends its trace first (issue 11,
"nothing is lost"): the shim writes the exit snapshot, flagged exec (PS_SNAP_F_EXEC), and END
before the new program starts; the new program (same pid) writes a trace of its own.

tests/integration/execprog.c leaks, prints what it leaked ("PID leaked BLOCKS BYTES"), and execs
itself as `execprog child` (which leaks its own blocks and exits 3). Every case runs the command
without the shim first: under the shim, stdout (pids masked), stderr and the exit status must be
the same. Every trace written must be complete (END), the image that exec'ed must carry the flag,
each process's leaks must be exactly what it printed, and `perfshim run` must exit with the
command's status without a warning.

--case family: execv, execvp, execve, execvpe, execl, execlp, execle, fexecve, execveat (the p
    variants find `execprog` along PATH). Before the fix: the first image's trace had no END
    and no snapshot at all (no interval): its leaks were lost, and run warned.
--case fail: an execv that fails after the shim's snapshot (a file with execute bits that is no
    program: ENOEXEC) and one that fails before it (a missing file): the process goes on in a
    new section's file (.s2, SECTION how 2) with only the leaks made after it, then execs;
    the missing file starts no section.
--case others: a shell script ending in `exec`, python3's os.execv, a vfork child's exec (the
    vfork child writes nothing of its own: its parent's trace has every leak of the parent), and
    two forked children that exec: one leaked first (its image's trace, flagged, has exactly
    those leaks), one allocated nothing (no trace for that image: only the new program's).
--case options: execv under PERFSHIM_INTERVAL, PERFSHIM_START=off (dormant: nothing to end, no
    trace, same output), fork+exec under PERFSHIM_TRACK=0 (no child's first image writes a
    trace: nothing of its own is tracked), PERFSHIM_SAMPLE, and PERFSHIM_MAX_TRACE (a python3 process that wrote
    pieces: the last one ends flagged exec); the failed exec with PERFSHIM_CONTROL=1, with
    PERFSHIM_MAX_TRACE and with PERFSHIM_SAMPLE."""
import json
import os
import re
import shutil
import subprocess

import pstest

PY = "/usr/bin/python3"
FLAG_EXEC = 4
SECTION = 14


def mask(out):
    return re.sub(rb"^\d+ leaked", b"PID leaked", out, flags=re.M)


def printed(out):
    """[(pid, blocks, bytes)] in the order the processes printed them."""
    return [tuple(int(x) for x in m.groups())
            for m in re.finditer(rb"^(\d+) leaked (\d+) (\d+)$", out, flags=re.M)]


class Ctx:
    def __init__(self, args, ck):
        self.args, self.ck = args, ck
        self.prog = os.path.join(args.bindir, "execprog")
        self.src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "execprog.c")
        self.marks = pstest.markers(self.src)
        d = lambda n: pstest.define(self.src, n)
        self.before = (d("EXEC_BEFORE_COUNT"), d("EXEC_BEFORE_COUNT") * d("EXEC_BEFORE_SIZE"))
        self.after = (d("EXEC_AFTER_COUNT"), d("EXEC_AFTER_COUNT") * d("EXEC_AFTER_SIZE"))
        self.child = (d("EXEC_CHILD_COUNT"), d("EXEC_CHILD_COUNT") * d("EXEC_CHILD_SIZE"))

    def traced(self, label, cmd, env=None, expect_rc=None):
        """Runs cmd plain, then under the shim (traces in a fresh directory); compares them.
        Returns (process, {path: RawTrace}, work) or None."""
        ck = self.ck
        work = pstest.tmpdir("exec")
        base_env = dict(env or {})
        plain = pstest.run(cmd, env=base_env, cwd=work)
        if expect_rc is not None:
            ck.equal(plain.returncode, expect_rc, "%s: the plain run's exit status" % label)
        listing = os.path.join(work, "traces.list")
        e = dict(base_env, LD_PRELOAD=self.args.lib, PERFSHIM_TRACE_LIST=listing,
                 PERFSHIM_OUTPUT=os.path.join(work, "%e.%p.trace"))
        p = pstest.run(cmd, env=e, cwd=work)
        ck.check(p.returncode == plain.returncode and mask(p.stdout) == mask(plain.stdout) and
                 p.stderr == plain.stderr,
                 "%s: same stdout, stderr and exit status as without the shim" % label,
                 "plain:\n%s\nshim:\n%s" % (pstest.describe(plain), pstest.describe(p)))
        listed = open(listing).read().split() if os.path.exists(listing) else []
        traces = {}
        for t in listed:
            raw = pstest.RawTrace(t, rows=False)
            ck.check(raw.error is None and raw.end is not None and raw.snapshots,
                     "%s: %s is complete (END chunk)" % (label, os.path.basename(t)),
                     raw.error or "")
            traces[t] = raw
        return p, traces, work

    def report(self, label, path):
        a = pstest.run([self.args.perfshim, "leaks", "--json", path])
        if not self.ck.check(a.returncode == 0 and b"warning" not in a.stderr,
                             "%s: perfshim leaks reads %s without a warning" %
                             (label, os.path.basename(path)), pstest.describe(a)):
            return None
        return pstest.load_reports(a.stdout.decode())[0]

    def own_leaks(self, label, rep, sites):
        """sites: {marker name: (blocks, bytes)}; also nothing else from execprog.c."""
        fn = {"before": "leak_before", "after": "leak_after", "child": "leak_child"}
        for name, (b, n) in sites.items():
            pstest.check_site(self.ck, rep, self.src, self.marks, name, b, n, fn[name] if b else
                              None, label)
        own = pstest.leaks_from_file(rep, "execprog.c")
        self.ck.equal((sum(l["blocks"] for l in own), sum(l["bytes"] for l in own)),
                      (sum(v[0] for v in sites.values()), sum(v[1] for v in sites.values())),
                      "%s: every leak from execprog.c is accounted for" % label)

    def by_pid(self, traces):
        out = {}
        for t, raw in traces.items():
            if raw.process:
                out.setdefault(raw.process["pid"], []).append(t)
        return out

    def split_exec(self, label, paths, traces):
        """One pid's files: (the exec'ed-away images' files, flagged; the last image's)."""
        flagged = [t for t in paths if traces[t].snapshots and
                   traces[t].snapshots[-1]["flags"] & FLAG_EXEC]
        last = [t for t in paths if t not in flagged]
        return flagged, last

    def perfshim_run(self, label, cmd, want_rc, env=None):
        p = pstest.run([self.args.perfshim, "run", "--"] + cmd, env=env,
                       cwd=pstest.tmpdir("execrun"))
        self.ck.check(p.returncode == want_rc and b"warning" not in p.stderr and
                      b"no END" not in p.stderr,
                      "%s: perfshim run exits %d without a warning" % (label, want_rc),
                      pstest.describe(p))
        return p


def check_exec_pair(c, label, traces, pid, first_sites, child_sites):
    """pid exec'ed once: its first image's trace (flagged, exact first_sites) and the new
    program's (not flagged, exact child_sites)."""
    ck = c.ck
    paths = c.by_pid(traces).get(pid, [])
    flagged, last = c.split_exec(label, paths, traces)
    if not ck.check(len(flagged) == 1 and len(last) == 1,
                    "%s: pid %d wrote two traces, the first flagged exec" % (label, pid),
                    repr(paths)):
        return
    rep = c.report(label, flagged[0])
    if rep:
        ck.check(rep["snapshot"].get("exec") is True and rep["snapshot"]["reason"] == "exec",
                 "%s: JSON says the first image ended by exec" % label, repr(rep["snapshot"]))
        # every place that names the snapshot's trigger says exec: the text header (beside
        # "ended: by exec") and the timeline's last snapshot
        t = pstest.run([c.args.perfshim, "leaks", flagged[0]]).stdout.decode()
        ck.check("  snapshot: exec, " in t and "  ended:    by exec" in t,
                 "%s: the text report's snapshot line says exec" % label, t[:600])
        tl = pstest.run([c.args.perfshim, "timeline", "--json", flagged[0]])
        tl = json.loads(tl.stdout) if tl.returncode == 0 else {}
        ck.check(tl.get("snapshot", {}).get("reason") == "exec" and
                 (tl.get("timeline") or [{}])[-1].get("reason") == "exec",
                 "%s: the timeline names the last snapshot exec" % label,
                 repr((tl.get("snapshot"), (tl.get("timeline") or [None])[-1:])))
        c.own_leaks(label + " (before exec)", rep, first_sites)
    rep = c.report(label, last[0])
    if rep:
        ck.check("exec" not in rep["snapshot"], "%s: the new program's trace is not flagged" %
                 label, repr(rep["snapshot"]))
        ck.check(rep["process"].get("argv", [])[-1:] == ["child"],
                 "%s: the new program's trace has its own argv" % label,
                 repr(rep["process"].get("argv")))
        c.own_leaks(label + " (new program)", rep, child_sites)


def case_family(c):
    modes = ["execv", "execvp", "execve", "execvpe", "execl", "execlp", "execle", "fexecve",
             "execveat"]
    env_path = {"PATH": c.args.bindir + ":" + os.environ.get("PATH", "/usr/bin:/bin")}
    for mode in modes:
        target = "execprog" if mode in ("execvp", "execvpe", "execlp") else c.prog
        cmd = [c.prog, mode, target, "child"]
        r = c.traced(mode, cmd, env=env_path, expect_rc=3)
        if not r:
            continue
        p, traces, _ = r
        pr = printed(p.stdout)
        if not c.ck.check(len(pr) == 2 and pr[0][0] == pr[1][0] and pr[0][1:] == c.before and
                          pr[1][1:] == c.child, "%s: one pid printed both leaks" % mode,
                          pstest.describe(p)):
            continue
        check_exec_pair(c, mode, traces, pr[0][0], {"before": c.before, "child": (0, 0)},
                        {"child": c.child, "before": (0, 0)})
        if mode in ("execv", "execlp"):
            c.perfshim_run(mode, cmd, 3, env=env_path)


def case_fail(c):
    ck = c.ck
    work = pstest.tmpdir("execbad")
    bad = os.path.join(work, "notaprogram")
    with open(bad, "w") as f:
        f.write("this file has execute bits and no #! line\n")
    os.chmod(bad, 0o755)
    cmd = [c.prog, "fail", c.prog, bad]
    r = c.traced("fail", cmd, expect_rc=3)
    if not r:
        ck.done()
    p, traces, _ = r
    ck.check(b"exec of a non-program: -1 Exec format error" in p.stdout and
             b"exec of a missing file: -1 No such file or directory" in p.stdout,
             "fail: both execs failed as without the shim, errno kept", pstest.describe(p))
    pr = printed(p.stdout)
    if not ck.check(len(pr) == 3 and len({x[0] for x in pr}) == 1, "fail: one pid printed three "
                    "counts", pstest.describe(p)):
        ck.done()
    pid = pr[0][0]
    paths = sorted(c.by_pid(traces).get(pid, []))
    sections = [t for t in paths if t.endswith(".s2")]
    ck.check(len(paths) == 3 and len(sections) == 1 and not any(".s3" in t for t in paths),
             "fail: three files: the first image's, its section 2 (after the failed exec; the "
             "missing file started none), the new program's", repr(paths))
    if len(sections) != 1:
        ck.done()
    s2 = sections[0]
    first = [t for t in paths if t != s2 and traces[t].snapshots[-1]["flags"] & FLAG_EXEC]
    last = [t for t in paths if t != s2 and t not in first]
    ck.check(traces[s2].snapshots[-1]["flags"] & FLAG_EXEC and len(first) == 1 and
             len(last) == 1, "fail: the first file and section 2 end flagged exec, the new "
             "program's does not", repr(paths))
    ck.check(any(ty == SECTION for _, ty, _ in traces[s2].chunks), "fail: section 2 has a "
             "SECTION chunk")
    rep = c.report("fail", s2)
    if rep:
        sec = rep.get("section") or {}
        ck.check(sec.get("number") == 2 and sec.get("started_by") == "exec" and
                 sec.get("first_trace") == first[0] if first else False,
                 "fail: section 2 says it began after a failed exec and names the first file",
                 repr(sec))
        c.own_leaks("fail (section 2)", rep, {"after": c.after, "before": (0, 0)})
    if first:
        rep = c.report("fail", first[0])
        if rep:
            c.own_leaks("fail (before the failed exec)", rep, {"before": c.before,
                                                               "after": (0, 0)})
    if last:
        rep = c.report("fail", last[0])
        if rep:
            c.own_leaks("fail (new program)", rep, {"child": c.child})
    c.perfshim_run("fail", cmd, 3)


def case_others(c):
    ck = c.ck
    # a shell script ending in exec (dash: /bin/sh), with a command substitution before it
    work = pstest.tmpdir("execsh")
    script = os.path.join(work, "wrapper.sh")
    with open(script, "w") as f:
        f.write("#!/bin/sh\nx=$(echo wrapped)\necho \"$x\"\nexec %s child\n" % c.prog)
    os.chmod(script, 0o755)
    r = c.traced("sh exec", [script], expect_rc=3)
    if r:
        p, traces, _ = r
        pr = printed(p.stdout)
        if ck.check(len(pr) == 1, "sh exec: the program printed its leaks", pstest.describe(p)):
            pid = pr[0][0]
            paths = c.by_pid(traces).get(pid, [])
            flagged, last = c.split_exec("sh exec", paths, traces)
            ck.check(len(flagged) == 1 and len(last) == 1 and
                     "sh" in os.path.basename(traces[flagged[0]].process["program"]),
                     "sh exec: the shell's trace ends flagged exec, the program's follows",
                     repr(paths))
            if last:
                rep = c.report("sh exec", last[0])
                if rep:
                    c.own_leaks("sh exec (new program)", rep, {"child": c.child})
        c.perfshim_run("sh exec", [script], 3)
    # python3's os.execv
    if os.access(PY, os.X_OK):
        code = ("import os\nkeep = [bytearray(3000) for _ in range(1000)]\n"
                "os.execv(%r, [%r, 'child'])\n" % (c.prog, c.prog))
        r = c.traced("python os.execv", [PY, "-c", code], expect_rc=3)
        if r:
            p, traces, _ = r
            pr = printed(p.stdout)
            if ck.check(len(pr) == 1, "python os.execv: the program printed its leaks",
                        pstest.describe(p)):
                paths = c.by_pid(traces).get(pr[0][0], [])
                flagged, last = c.split_exec("python", paths, traces)
                ck.check(len(flagged) == 1 and len(last) == 1 and "python" in
                         os.path.basename(traces[flagged[0]].process["program"]),
                         "python os.execv: python's trace ends flagged exec", repr(paths))
                if flagged:
                    tot = traces[flagged[0]].snapshots[-1]["totals"]
                    ck.check(tot["live_bytes"] >= 3000000, "python os.execv: its exec snapshot "
                             "holds the 1000 live 3000-byte bytearrays", repr(tot))
                if last:
                    rep = c.report("python", last[0])
                    if rep:
                        c.own_leaks("python os.execv (new program)", rep, {"child": c.child})
            c.perfshim_run("python os.execv", [PY, "-c", code], 3)
    # vfork + exec: the child passes straight through
    cmd = [c.prog, "vfork", c.prog, "child"]
    r = c.traced("vfork", cmd, expect_rc=0)
    if r:
        p, traces, _ = r
        pr = printed(p.stdout)
        if ck.check(len(pr) == 3 and pr[0][0] == pr[2][0] != pr[1][0],
                    "vfork: parent and exec'ed child printed their leaks", pstest.describe(p)):
            parent, kid = pr[0][0], pr[1][0]
            bp = c.by_pid(traces)
            ck.check(len(bp.get(parent, [])) == 1 and len(bp.get(kid, [])) == 1 and
                     len(bp) == 2, "vfork: one trace per pid (the vfork child's exec wrote "
                     "nothing for the parent's image)", repr(bp))
            for pid, sites, label in ((parent, {"before": c.before, "after": c.after}, "parent"),
                                      (kid, {"child": c.child}, "exec'ed child")):
                for t in bp.get(pid, [])[:1]:
                    ck.check(not traces[t].snapshots[-1]["flags"] & FLAG_EXEC,
                             "vfork: %s's trace is not flagged exec" % label)
                    rep = c.report("vfork", t)
                    if rep:
                        c.own_leaks("vfork (%s)" % label, rep, sites)
        c.perfshim_run("vfork", cmd, 0)
    # fork + exec: the child that leaked first writes its image's trace, the idle one does not
    cmd = [c.prog, "fork", c.prog, "child"]
    r = c.traced("fork", cmd, expect_rc=0)
    if r:
        p, traces, _ = r
        pr = printed(p.stdout)
        if ck.check(len(pr) == 4 and pr[1][0] == pr[2][0] and pr[1][1:] == c.after and
                    pr[3][1:] == c.child, "fork: parent and both children printed their leaks",
                    pstest.describe(p)):
            parent, leaker, idle = pr[0][0], pr[1][0], pr[3][0]
            check_exec_pair(c, "fork (leaking child)", traces, leaker, {"after": c.after},
                            {"child": c.child})
            bp = c.by_pid(traces)
            idle_paths = bp.get(idle, [])
            ck.check(len(idle_paths) == 1 and
                     not traces[idle_paths[0]].snapshots[-1]["flags"] & FLAG_EXEC,
                     "fork: the child that allocated nothing before its exec wrote only the new "
                     "program's trace", repr(idle_paths))
            ck.check(len(bp.get(parent, [])) == 1, "fork: one trace for the parent")
        c.perfshim_run("fork", cmd, 0)


def case_options(c):
    ck = c.ck
    cmd = [c.prog, "execv", c.prog, "child"]
    for label, env in (("interval", {"PERFSHIM_INTERVAL": "10ms"}),
                       ("sample", {"PERFSHIM_SAMPLE": "1"}),
                       ("max_trace", {"PERFSHIM_MAX_TRACE": "1M", "PERFSHIM_INTERVAL": "10ms"})):
        r = c.traced(label, cmd, env=env, expect_rc=3)
        if not r:
            continue
        p, traces, _ = r
        pr = printed(p.stdout)
        if not ck.check(len(pr) == 2, "%s: the program printed its leaks" % label):
            continue
        if label == "sample":  # estimates: the flags and the ends, not exact counts
            paths = c.by_pid(traces).get(pr[0][0], [])
            flagged, last = c.split_exec(label, paths, traces)
            ck.check(len(flagged) == 1 and len(last) == 1 and
                     traces[flagged[0]].snapshots[-1]["flags"] & 2,
                     "sample: the first image's sampled trace ends flagged exec", repr(paths))
            continue
        check_exec_pair(c, label, traces, pr[0][0], {"before": c.before},
                        {"child": c.child})
    # a failed exec with the control channel, with pieces, with sampling: section 2 follows
    work = pstest.tmpdir("execbad")
    bad = os.path.join(work, "notaprogram")
    with open(bad, "w") as f:
        f.write("no #! line\n")
    os.chmod(bad, 0o755)
    for label, env in (("fail+control", {"PERFSHIM_CONTROL": "1"}),
                       ("fail+max_trace", {"PERFSHIM_MAX_TRACE": "100k",
                                           "PERFSHIM_INTERVAL": "10ms"}),
                       ("fail+sample", {"PERFSHIM_SAMPLE": "1000"})):
        r = c.traced(label, [c.prog, "fail", c.prog, bad], env=env, expect_rc=3)
        if not r:
            continue
        p, traces, _ = r
        pr = printed(p.stdout)
        paths = c.by_pid(traces).get(pr[0][0], []) if pr else []
        s2 = [t for t in paths if t.endswith(".s2")]
        if not ck.check(len(paths) == 3 and len(s2) == 1, "%s: three files, one of them .s2" %
                        label, repr(paths)):
            continue
        rep = c.report(label, s2[0])
        if rep:
            sec = rep.get("section") or {}
            ck.check(sec.get("number") == 2 and sec.get("started_by") == "exec" and
                     rep["snapshot"].get("exec") is True,
                     "%s: section 2 began after the failed exec and ended by exec" % label,
                     repr((sec, rep["snapshot"])))
            if label != "fail+sample":
                c.own_leaks(label + " (section 2)", rep, {"after": c.after, "before": (0, 0)})
    # dormant: nothing recorded, so nothing to end; the program runs as without the shim
    r = c.traced("start=off", cmd, env={"PERFSHIM_START": "off"}, expect_rc=3)
    if r:
        ck.check(not r[1], "start=off: no trace (nothing was recorded)", repr(sorted(r[1])))
    # PERFSHIM_TRACK=0: no allocation is tracked, so no forked child has one of its own before
    # its exec; neither the one that leaked first nor the idle one writes its first image's
    # trace (before, both did: a trace of the parent's pool and RSS per fork+exec, one more per
    # command of a shell, make or ruby's Process.spawn)
    r = c.traced("track=0 fork", [c.prog, "fork", c.prog, "child"],
                 env={"PERFSHIM_TRACK": "0"}, expect_rc=0)
    if r:
        p, traces, _ = r
        pr = printed(p.stdout)
        bp = c.by_pid(traces)
        flagged = [t for t in traces if traces[t].snapshots and
                   traces[t].snapshots[-1]["flags"] & FLAG_EXEC]
        if ck.check(len(pr) == 4, "track=0 fork: the processes printed their lines",
                    pstest.describe(p)):
            ck.check(sorted(bp) == sorted({x[0] for x in pr}) and
                     all(len(v) == 1 for v in bp.values()) and not flagged,
                     "track=0 fork: one trace per pid, none flagged exec (the children's first "
                     "images wrote nothing)", repr((bp, flagged)))
    # pieces: python3 writes interval snapshots into pieces of PERFSHIM_MAX_TRACE, then execs
    if os.access(PY, os.X_OK):
        code = ("import os, time\nt = time.monotonic() + 0.4\nkeep = []\n"
                "while time.monotonic() < t:\n"
                "    keep.append(bytes(700)); keep = keep[-100:]\n"
                "    if len(keep) == 1: keep += [str(i) * (i %% 7) for i in range(200)]\n"
                "os.execv(%r, [%r, 'child'])\n" % (c.prog, c.prog))
        r = c.traced("pieces", [PY, "-c", code], env={"PERFSHIM_INTERVAL": "10ms",
                                                       "PERFSHIM_MAX_TRACE": "200k"},
                     expect_rc=3)
        if r:
            p, traces, work = r
            names = sorted(n for n in os.listdir(work) if n.startswith("python"))
            parts = [n for n in names if ".part" in n]
            flagged = []
            for n in names:  # the pieces still on disk (older ones are deleted): complete
                raw = pstest.RawTrace(os.path.join(work, n), rows=False)
                ck.check(raw.error is None and raw.end is not None and raw.snapshots,
                         "pieces: %s is complete" % n, raw.error or "")
                if raw.snapshots and raw.snapshots[-1]["flags"] & FLAG_EXEC:
                    flagged.append(n)
            last = max(parts, key=lambda n: int(n.rsplit(".part", 1)[1])) if parts else None
            ck.check(flagged == [last] if parts else len(flagged) == 1,
                     "pieces: the last python piece, and only it, ends flagged exec",
                     repr((names, flagged)))
            if not parts:
                print("note: python wrote no piece past the first here (%r)" % names)


def main():
    args = pstest.parse_args(lambda ap: ap.add_argument(
        "--case", required=True, choices=("family", "fail", "others", "options")))
    ck = pstest.Checker("test_exec_" + args.case)
    c = Ctx(args, ck)
    {"family": case_family, "fail": case_fail, "others": case_others,
     "options": case_options}[args.case](c)
    ck.done()


if __name__ == "__main__":
    main()
