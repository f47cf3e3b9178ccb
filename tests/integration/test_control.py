#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_control.py — control without a restart (issue 11, item 4): PERFSHIM_START=off,
PERFSHIM_CONTROL=1 and `perfshim ctl`, against tests/integration/ctlprog.c, a program driven
line by line on stdin, so the test knows exactly what was allocated while tracking was on.

--part roundtrip: dormant start (no trace, socket present, status says off), then start,
  allocations, frees of blocks made while dormant, dump, interval 200ms (snapshots written by
  the control thread while the program is idle), stop, allocations while stopped, start
  (section 2, a new file), frees of section 1's blocks, allocations, stop, exit. Each section's
  file is complete, has its SECTION chunk, and `perfshim leaks` finds exactly that section's
  live blocks at their sites (section 2: not section 1's, not those made while stopped, and
  section 1's frees are not counted); the socket is gone at exit; the program saw one more
  thread and its descriptors while the channel was open, and nothing on stderr.
--part inert: PERFSHIM_START=off and never started: the example `leaky` exits as without the
  shim and writes no trace; its socket existed only while it ran. Default options: no socket
  and no thread (the program counts its threads).
--part list: `perfshim ctl --list` lists a running process and removes a stale socket of a
  dead pid; errors: no such process (3), a process without a channel (4), usage (2), refused
  (6: start twice, sample in this build); a program that closes every descriptor (twice):
  `perfshim ctl` reaches it again (a new socket at the same path), the file the program opened
  right after, and dup2'ed onto the socket's old numbers (500, 501), is untouched, and nothing appears on stderr.
--part closing: a program that keeps closing every descriptor: the socket is made again three
  times, then the channel ends with one warning; no descriptor of the program's is touched.
--part sampled: `perfshim ctl PID sample` after a dormant start, then frees of pooled blocks
  (the program survives); PERFSHIM_SAMPLE with PERFSHIM_START=off is still in effect after
  `start` (status, and the trace's figures are estimates).
--part fork: a forked child of a process with the channel has its own socket (its pid) and
  thread, inherits tracking, answers status and dump, writes its own trace (its pid's name,
  section 1, its own blocks, and apart from them the parent's live blocks it inherited), and
  removes its socket at
  exit; the parent's channel still works.
--part uid: as root, a client run as nobody is refused (5) by the socket directory, and a
  client run as nobody with CAP_DAC_OVERRIDE (which can reach the socket) is refused (5) by the
  SO_PEERCRED check; root is still served. Exit 77 (skipped) when not root or without setpriv.
No wall-clock assertion: waits are bounded polls."""
import json
import os
import shutil
import signal
import socket
import subprocess
import time

import pstest

CTL_EXIT = {"ok": 0, "usage": 2, "noproc": 3, "nosock": 4, "perm": 5, "refused": 6}


def sock_dir():
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and os.path.isdir(xdg) and os.stat(xdg).st_uid == os.geteuid():
        return os.path.join(xdg, "perfshim")
    return "/tmp/perfshim-%d" % os.geteuid()


class Prog:
    """ctlprog under the shim; cmd() sends one line and waits for its "ok"."""

    def __init__(self, args, env, cwd):
        full = os.environ.copy()
        for k in ("LD_PRELOAD", "PERFSHIM_OUTPUT", "PERFSHIM_TRACE_LIST", "PERFSHIM_MODE"):
            full.pop(k, None)
        full.update(env)
        self.p = subprocess.Popen([os.path.join(args.bindir, "ctlprog")], env=full, cwd=cwd,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        self.pid = self.p.pid
        self.ready = self.p.stdout.readline() == b"ready\n"

    def cmd(self, line):
        self.p.stdin.write(line.encode() + b"\n")
        self.p.stdin.flush()
        out = self.p.stdout.readline()
        extra = b""
        while out not in (b"ok\n", b""):
            extra += out
            out = self.p.stdout.readline()
        return extra.decode()

    def info(self):
        """(descriptors, threads) as the program counts them."""
        f = self.cmd("i").split()
        return int(f[1]), int(f[3])

    def quit(self):
        self.p.stdin.write(b"q\n")
        self.p.stdin.close()
        rest = self.p.stdout.read()
        err = self.p.stderr.read()
        return self.p.wait(timeout=60), rest, err

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


def ctl(args, *words, runas=None):
    cmd = [args.perfshim, "ctl"] + [str(w) for w in words]
    if runas:
        cmd = runas + cmd
    return pstest.run(cmd, timeout=60)


def status(args, pid):
    p = ctl(args, pid, "status")
    return dict(l.split("=", 1) for l in p.stdout.decode().splitlines() if "=" in l)


def leaks(args, path):
    p = pstest.run([args.perfshim, "leaks", "--json", path])
    try:
        return p, json.loads(p.stdout.decode())
    except ValueError:
        return p, None


def by_site(rep, src, marks, name):
    """(blocks, bytes) of the leak groups whose top frame is the marked line."""
    line = marks["LEAK:" + name]
    blocks = nbytes = 0
    for lk in rep.get("leaks", []):
        if any(pstest.frame_at(f, os.path.basename(src), line) for f in lk["stack"][:3]):
            blocks += lk["blocks"]
            nbytes += lk["bytes"]
    return blocks, nbytes


def wait_for(pred, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


def part_roundtrip(args, ck):
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ctlprog.c")
    marks = pstest.markers(src)
    size_a, size_b = pstest.define(src, "CTL_A_SIZE"), pstest.define(src, "CTL_B_SIZE")
    work = pstest.tmpdir("control")
    bare = Prog(args, {}, work)
    fds0, threads0 = bare.info()
    bare.quit()
    env = {"LD_PRELOAD": args.lib, "PERFSHIM_START": "off",
           "PERFSHIM_OUTPUT": os.path.join(work, "%e.%p.trace")}
    prog = Prog(args, env, work)
    try:
        ck.check(prog.ready, "ctlprog starts under the shim")
        pid = prog.pid
        sock = os.path.join(sock_dir(), "%d.sock" % pid)
        st = os.lstat(sock) if os.path.exists(sock) else None
        ck.check(st is not None and (st.st_mode & 0o777) == 0o600 and st.st_uid == os.geteuid(),
                 "the socket %s exists, mode 0600, ours" % sock)
        dst = os.stat(os.path.dirname(sock))
        ck.equal((dst.st_mode & 0o777, dst.st_uid), (0o700, os.geteuid()),
                 "its directory is ours, mode 0700")
        fds, threads = prog.info()
        ck.equal((fds, threads), (fds0 + 1, threads0 + 1),
                 "with the channel open the program sees one more descriptor and one thread")
        s = status(args, pid)
        ck.equal((s.get("mode"), s.get("section"), s.get("pid")), ("off", "0", str(pid)),
                 "status of a dormant process")
        prog.cmd("a 10")  # dormant: not tracked
        ck.equal(os.listdir(work), [], "no trace while dormant")
        p = ctl(args, pid, "start")
        ck.check(p.returncode == 0 and b"section 1" in p.stdout, "ctl start", pstest.describe(p))
        prog.cmd("b 5")
        prog.cmd("fa")  # frees of blocks allocated while dormant: never an error
        p = ctl(args, pid, "dump")
        ck.check(p.returncode == 0 and b"snapshot written" in p.stdout, "ctl dump",
                 pstest.describe(p))
        p = ctl(args, pid, "interval", "200ms")
        ck.check(p.returncode == 0 and p.stdout == b"interval=200ms\n", "ctl interval 200ms",
                 pstest.describe(p))
        s = status(args, pid)
        trace1 = s.get("trace", "")
        ck.check(s.get("mode") == "on" and s.get("section") == "1" and
                 s.get("interval") == "200ms" and trace1.startswith(work) and
                 int(s.get("live_heap", -1)) == 5 * size_b and int(s.get("rss", 0)) > 0,
                 "status: on, section 1, interval, trace path, live heap %d, RSS" % (5 * size_b),
                 repr(s))
        # The program is idle (blocked on stdin): interval snapshots come from the control
        # thread. Wait until the file holds two of them.
        ck.check(wait_for(lambda: [r["reason"] for r in pstest.RawTrace(trace1).snapshots]
                          .count(pstest.SNAP_INTERVAL) >= 2),
                 "interval snapshots of an idle process (written by the control thread)")
        p = ctl(args, pid, "stop")
        ck.check(p.returncode == 0 and trace1.encode() in p.stdout, "ctl stop names the file",
                 pstest.describe(p))
        p = ctl(args, pid, "interval", "0")
        ck.check(p.returncode == 0 and p.stdout == b"interval=off\n", "ctl interval 0",
                 pstest.describe(p))
        ck.equal(status(args, pid).get("mode"), "off", "status after stop")
        prog.cmd("a 3")  # stopped: not tracked
        p = ctl(args, pid, "start")
        ck.check(p.returncode == 0 and b"section 2" in p.stdout, "ctl start again: section 2",
                 pstest.describe(p))
        prog.cmd("fb")  # frees of section 1's blocks: recognized, not counted in section 2
        prog.cmd("a 4")
        s = status(args, pid)
        ck.equal((s.get("section"), s.get("trace")), ("2", "(created at the first snapshot)"),
                 "status: section 2, its file not created yet")
        p = ctl(args, pid, "stop")
        ck.equal(p.returncode, 0, "ctl stop (section 2)")
        trace2 = p.stdout.decode().strip().rpartition(" written to ")[2]
        ck.equal(trace2, trace1 + ".s2", "section 2's file is the first's name + .s2")
        rc, rest, err = prog.quit()
        ck.equal(rc, 0, "the program exits normally")
        ck.equal(err, b"", "nothing on stderr")
        ck.check(not os.path.exists(sock), "the socket is removed at exit")
    finally:
        prog.kill()

    ck.equal(sorted(os.listdir(work)), sorted([os.path.basename(trace1),
                                               os.path.basename(trace2)]),
             "two files, nothing written after the last stop")
    for n, path in ((1, trace1), (2, trace2)):
        raw = pstest.RawTrace(path)
        reasons = [r["reason"] for r in raw.snapshots]
        ck.check(raw.error is None and raw.end is not None and reasons and
                 reasons[-1] == pstest.SNAP_STOP,
                 "section %d: complete, its last snapshot is a stop" % n, repr(reasons))
        sec = [c for c in raw.chunks if c[1] == pstest.CHUNK_SECTION]
        ck.equal(len(sec), 1, "section %d: one SECTION chunk" % n)
    raw1 = pstest.RawTrace(trace1)
    ck.check(pstest.SNAP_DUMP in [r["reason"] for r in raw1.snapshots], "section 1 has the dump")
    p, rep = leaks(args, trace1)
    if ck.check(rep is not None, "perfshim leaks reads section 1", pstest.describe(p)):
        ck.equal(rep.get("section", {}).get("number"), 1, "the report names section 1")
        ck.equal(by_site(rep, src, marks, "ctl_b"), (5, 5 * size_b),
                 "section 1: the 5 blocks of site_b")
        ck.equal(by_site(rep, src, marks, "ctl_a"), (0, 0),
                 "section 1: nothing of site_a (allocated while dormant, then freed)")
        tot = raw1.snapshots[-1]["totals"]
        ck.equal((tot["allocs"], tot["frees"]), (5, 0),
                 "section 1 counts only its own allocations; the dormant blocks' frees are no "
                 "frees of its blocks")
    p, rep = leaks(args, trace2)
    if ck.check(rep is not None, "perfshim leaks reads section 2", pstest.describe(p)):
        sec = rep.get("section", {})
        ck.equal((sec.get("number"), sec.get("started_by"), sec.get("first_trace")),
                 (2, "ctl", trace1), "the report names section 2 and the first file")
        ck.equal(by_site(rep, src, marks, "ctl_a"), (4, 4 * size_a),
                 "section 2: only the 4 blocks of site_a made while it was open (not the 3 made "
                 "while stopped)")
        ck.equal(by_site(rep, src, marks, "ctl_b"), (0, 0), "section 2: nothing of site_b")
        tot = pstest.RawTrace(trace2).snapshots[-1]["totals"]
        ck.equal((tot["allocs"], tot["frees"], tot["live_bytes"]), (4, 0, 4 * size_a),
                 "section 2's totals: section 1's frees are recognized and not counted")
    t = pstest.run([args.perfshim, "leaks", trace2])
    ck.check(b"section:  2, started by perfshim ctl" in t.stderr + t.stdout,
             "the text report says which section it is", pstest.describe(t))


def part_inert(args, ck):
    work = pstest.tmpdir("control-inert")
    leaky = os.path.join(args.bindir, "leaky")
    env = {"PERFSHIM_OUTPUT": os.path.join(work, "%e.%p.trace")}
    d = sock_dir()
    bare = pstest.run([leaky], env=env, cwd=work)
    full = os.environ.copy()
    full.update(env, LD_PRELOAD=args.lib, PERFSHIM_START="off")
    proc = subprocess.Popen([leaky], env=full, cwd=work, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate(timeout=120)
    ck.equal((proc.returncode, out, err), (bare.returncode, bare.stdout, bare.stderr),
             "PERFSHIM_START=off: leaky runs as without the shim")
    ck.equal(os.listdir(work), [], "PERFSHIM_START=off, never started: no trace")
    ck.check(not os.path.exists(os.path.join(d, "%d.sock" % proc.pid)),
             "no socket left behind at exit")
    # default options: no channel at all
    prog = Prog(args, dict(env, LD_PRELOAD=args.lib), work)
    try:
        fds, threads = prog.info()
        plain = Prog(args, {}, work)
        fds0, threads0 = plain.info()
        plain.quit()
        ck.equal((fds, threads), (fds0, threads0),
                 "default options: no extra descriptor, no extra thread")
        ck.check(not os.path.exists(os.path.join(d, "%d.sock" % prog.pid)),
                 "default options: no socket")
        p = ctl(args, prog.pid, "status")
        ck.check(p.returncode == CTL_EXIT["nosock"] and
                 b"not started with PERFSHIM_CONTROL=1 or PERFSHIM_START=off" in p.stderr,
                 "ctl on a process without a channel: exit 4 and says why", pstest.describe(p))
        prog.quit()
    finally:
        prog.kill()
    # PERFSHIM_CONTROL=1 alone: tracking from the start, and the channel
    work = pstest.tmpdir("control-on")
    env = {"PERFSHIM_OUTPUT": os.path.join(work, "%e.%p.trace")}
    prog = Prog(args, dict(env, LD_PRELOAD=args.lib, PERFSHIM_CONTROL="1"), work)
    try:
        s = status(args, prog.pid)
        ck.equal((s.get("mode"), s.get("section")), ("on", "1"),
                 "PERFSHIM_CONTROL=1: tracking on from the start, section 1")
        prog.cmd("b 2")
        rc, _, err = prog.quit()
        ck.equal((rc, err), (0, b""), "PERFSHIM_CONTROL=1: the program exits normally, quietly")
    finally:
        prog.kill()
    # PERFSHIM_TRACK=0 (timing only): `sample` is refused and changes nothing, so the trace
    # does not claim sampled (estimated) figures it never had
    twork = pstest.tmpdir("control-track0")
    tenv = {"PERFSHIM_OUTPUT": os.path.join(twork, "%e.%p.trace")}
    prog = Prog(args, dict(tenv, LD_PRELOAD=args.lib, PERFSHIM_CONTROL="1", PERFSHIM_TRACK="0"),
                twork)
    try:
        p = ctl(args, prog.pid, "sample", "64k")
        ck.check(p.returncode == CTL_EXIT["refused"] and b"PERFSHIM_TRACK=0" in p.stderr,
                 "PERFSHIM_TRACK=0: ctl sample is refused (exit 6) and says why",
                 pstest.describe(p))
        ck.equal(status(args, prog.pid).get("sample"), "full",
                 "PERFSHIM_TRACK=0: the refused sample changed nothing")
        prog.cmd("b 2")
        rc, _, err = prog.quit()
        ck.equal((rc, err), (0, b""), "PERFSHIM_TRACK=0: the program exits normally, quietly")
    finally:
        prog.kill()
    tfiles = os.listdir(twork)
    if ck.check(len(tfiles) == 1, "PERFSHIM_TRACK=0: one trace at exit"):
        rep = pstest.run([args.perfshim, "summary", os.path.join(twork, tfiles[0])])
        ck.check(rep.returncode == 0 and b"SAMPLED" not in rep.stdout,
                 "PERFSHIM_TRACK=0: the trace claims no sampled figures", pstest.describe(rep))
    files = os.listdir(work)
    ck.equal(len(files), 1, "PERFSHIM_CONTROL=1: one trace at exit")
    if files:
        raw = pstest.RawTrace(os.path.join(work, files[0]))
        ck.check(raw.end is not None and raw.snapshots[-1]["totals"]["allocs"] >= 2,
                 "PERFSHIM_CONTROL=1: the exit trace counts the allocations")
    # a trace that cannot be created (here a directory that does not exist; in staging, a
    # server that dropped its privileges while dormant): dump and stop fail and say why, with
    # the shim's own warning, since the program's stderr may be a log nobody reads (audit11)
    nwork = pstest.tmpdir("control-nodir")
    missing = os.path.join(nwork, "missing", "%e.%p.trace")
    prog = Prog(args, {"PERFSHIM_OUTPUT": missing, "LD_PRELOAD": args.lib,
                       "PERFSHIM_START": "off"}, nwork)
    try:
        ctl(args, prog.pid, "start")
        prog.cmd("b 2")
        for verb in ("dump", "stop"):
            p = ctl(args, prog.pid, verb)
            ck.check(p.returncode == CTL_EXIT["refused"] and b"cannot create trace" in p.stderr
                     and b"No such file or directory" in p.stderr,
                     "an uncreatable trace: ctl %s exits 6 and says why" % verb,
                     pstest.describe(p))
        prog.quit()
    finally:
        prog.kill()

    unanswered(args, ck)


def unanswered(args, ck):
    """A connection closed without an answer by a process of our own uid: not a refusal by
    uid (ctl said "accepts only its own user ..., and this is uid 0" to root). The process
    still alive: exit 5, its channel just closed; gone meanwhile: exit 3 (audit11). A socket of
    the test's own stands in for the shim's, for a live process of ours (sleep)."""
    xdg = pstest.tmpdir("control-unanswered")
    sdir = os.path.join(xdg, "perfshim")
    os.mkdir(sdir, 0o700)
    for gone in (False, True):
        target = subprocess.Popen(["sleep", "60"])
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        path = os.path.join(sdir, "%d.sock" % target.pid)
        srv.bind(path)
        srv.listen(1)
        srv.settimeout(30)
        cli = subprocess.Popen([args.perfshim, "ctl", str(target.pid), "status"],
                               env=dict(os.environ, XDG_RUNTIME_DIR=xdg),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            conn, _ = srv.accept()
            conn.recv(4096)
            if gone:
                target.kill()
                target.wait()
            conn.close()
            out, err = cli.communicate(timeout=60)
        finally:
            srv.close()
            os.unlink(path)
            if target.poll() is None:
                target.kill()
                target.wait()
        if gone:
            ck.check(cli.returncode == CTL_EXIT["noproc"] and b"ended before it answered" in err,
                     "a process that ended before it answered: exit 3, says so",
                     "%d %r" % (cli.returncode, err))
        else:
            ck.check(cli.returncode == CTL_EXIT["perm"] and b"without an answer" in err and
                     b"accepts only its own user" not in err,
                     "a connection of our own uid closed unanswered: exit 5, not called a "
                     "refusal by uid", "%d %r" % (cli.returncode, err))


def part_list(args, ck):
    work = pstest.tmpdir("control-list")
    env = {"LD_PRELOAD": args.lib, "PERFSHIM_START": "off",
           "PERFSHIM_OUTPUT": os.path.join(work, "%e.%p.trace")}
    prog = Prog(args, env, work)
    try:
        # a stale socket: the pid of a process that is gone, in our directory
        dead = subprocess.Popen(["true"])
        dead.wait()
        d = sock_dir()
        stale = os.path.join(d, "%d.sock" % dead.pid)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(stale)
        s.close()
        p = ctl(args, "--list")
        lines = p.stdout.decode().splitlines()
        mine = [l for l in lines if l.split()[:1] == [str(prog.pid)]]
        ck.check(p.returncode == 0 and len(mine) == 1 and mine[0].split()[1:4] == ["off", "0", "off"]
                 and mine[0].split()[4] == "ctlprog", "--list shows the process", p.stdout.decode())
        ck.check(not os.path.exists(stale) and stale.encode() in p.stderr,
                 "--list removes and reports the stale socket of a dead pid", pstest.describe(p))
        p = ctl(args, prog.pid, "start")
        p2 = ctl(args, prog.pid, "start")
        ck.check(p.returncode == 0 and p2.returncode == CTL_EXIT["refused"] and
                 b"already started" in p2.stderr, "start twice: exit 6, already started",
                 pstest.describe(p2))
        p = ctl(args, prog.pid, "sample", "64k")
        ck.check(p.returncode == 0, "sample 64k: accepted", pstest.describe(p))
        p = ctl(args, prog.pid, "status")
        ck.check(b"sample=65536" in p.stdout, "status shows the sampling mean, 64k = 65536",
                 p.stdout.decode())
        p = ctl(args, prog.pid, "full")
        p2 = ctl(args, prog.pid, "status")
        ck.check(p.returncode == 0 and b"sample=full" in p2.stdout,
                 "full: back to tracking every block", pstest.describe(p2))
        for bad in (["interval", "5"], ["interval", "5ms"], ["bogus"], ["dump", "x"],
                    ["sample", "64q"], ["sample", "0k"], ["sample", "k"]):
            p = ctl(args, prog.pid, *bad)
            ck.equal(p.returncode, CTL_EXIT["usage"], "ctl %s: usage error" % " ".join(bad))
        # a daemon that closes every descriptor: the shim makes its socket again, silently, and
        # never touches the descriptor the program opens right after (the lowest number: the
        # one the shim's socket() gets next)
        sock = os.path.join(sock_dir(), "%d.sock" % prog.pid)

        def high_sockets():
            d = "/proc/%d/fd" % prog.pid
            return {os.readlink(os.path.join(d, f)) for f in os.listdir(d)
                    if int(f) >= 500 and os.readlink(os.path.join(d, f)).startswith("socket:")}
        fds0, _ = prog.info()
        old = high_sockets()
        ck.equal(len(old), 1, "one socket at 500 or above")
        for time_ in (1, 2):
            own = prog.cmd("c").split()
            ck.check(own[:1] == ["own"] and int(own[1]) >= 3, "close everything, open its own file",
                     repr(own))
            # at once: the first request may reach the old socket, which nobody reads; the
            # client then sends it again to the one the shim makes
            p = ctl(args, prog.pid, "status")
            ck.check(p.returncode == 0 and b"mode=on" in p.stdout,
                     "after closing everything (%d): the first perfshim ctl reaches the process"
                     % time_, pstest.describe(p))
            new = high_sockets()
            ck.check(len(new) == 1 and new != old and os.path.exists(sock),
                     "a new socket (500 or above) at the same path", "%s -> %s" % (old, new))
            old = new
            ck.check(ctl(args, prog.pid, "status").stdout.count(b"mode=on") == 1,
                     "the state survived: still started", "")
            ck.equal(prog.cmd("v").strip(), "own intact",
                     "the program's descriptor opened after the close is untouched")
            fds, threads = prog.info()
            ck.check(fds == fds0 + 3 and threads == 2,
                     "the program sees its file, the socket and the control thread, as before",
                     "fds %d (before: %d) threads %d" % (fds, fds0, threads))
        rc, _, err = prog.quit()
        ck.check(rc == 0 and b"perfshim" not in err,
                 "no perfshim line on stderr: nothing was lost", err.decode("utf-8", "replace"))
        ck.check(wait_for(lambda: not os.path.exists(sock), 10), "the socket is removed at exit")
    finally:
        prog.kill()
    p = ctl(args, prog.pid, "status")  # it exited and was reaped
    ck.check(p.returncode == CTL_EXIT["noproc"] and b"no such process" in p.stderr,
             "ctl on a pid that does not exist: exit 3", pstest.describe(p))


def part_closing(args, ck):
    """A program that keeps closing every descriptor (every 20 ms): the shim makes its socket
    again 3 times, and the 4th loss within 30 s ends the channel with one warning (the user
    asked for control and lost it), the socket file removed; no descriptor of the program's
    is ever touched, and the program runs on."""
    work = pstest.tmpdir("control-closing")
    env = {"LD_PRELOAD": args.lib, "PERFSHIM_START": "off",
           "PERFSHIM_OUTPUT": os.path.join(work, "%e.%p.trace")}
    prog = Prog(args, env, work)
    try:
        sock = os.path.join(sock_dir(), "%d.sock" % prog.pid)
        ck.check(prog.ready and os.path.exists(sock), "dormant, with its socket")
        rounds = broken = 0
        deadline = time.monotonic() + 60
        while os.path.exists(sock) and time.monotonic() < deadline:
            f = prog.cmd("k 1000").split()
            rounds += int(f[1])
            broken += int(f[3])
        ck.check(not os.path.exists(sock), "a program that keeps closing ends the channel "
                 "(socket removed)")
        ck.check(rounds > 0 and broken == 0,
                 "the shim never touched the program's descriptors (%d rounds)" % rounds,
                 "broken %d" % broken)
        p = ctl(args, prog.pid, "status")
        ck.equal(p.returncode, CTL_EXIT["nosock"], "then ctl says: no control socket")
        ck.check(wait_for(lambda: prog.info()[1] == 1, 10),
                 "the control thread is gone; the program runs on")
        ck.equal(prog.cmd("v").strip(), "own intact", "its last file is untouched")
        rc, _, err = prog.quit()
        lines = [l for l in err.decode("utf-8", "replace").splitlines() if "perfshim" in l]
        ck.check(rc == 0 and len(lines) == 1 and "perfshim: warning:" in lines[0] and
                 "4 times within 30 s" in lines[0] and "cannot reach pid %d" % prog.pid in lines[0],
                 "one warning says why control was lost", "\n".join(lines))
        ck.equal(os.listdir(work), ["ctlprog-own"], "dormant all along: no trace")
    finally:
        prog.kill()


def part_sampled(args, ck):
    """Sampling in a dormant process: `ctl sample` after a dormant start, then frees of
    pooled blocks (the free path reads the sampled-block bitmap, which a dormant start did not
    map: SIGSEGV, as a JVM's first free showed); and PERFSHIM_SAMPLE with PERFSHIM_START=off,
    which `start` used to ignore (full tracking, at full cost, without a word)."""
    work = pstest.tmpdir("control-sampled")
    env = {"LD_PRELOAD": args.lib, "PERFSHIM_START": "off",
           "PERFSHIM_OUTPUT": os.path.join(work, "%e.%p.trace")}
    prog = Prog(args, env, work)
    try:
        prog.cmd("a 50")  # dormant: pooled, never tracked
        ck.equal(ctl(args, prog.pid, "start").returncode, 0, "start")
        ck.equal(ctl(args, prog.pid, "sample", "64k").returncode, 0, "sample 64k")
        prog.cmd("a 2000")  # sampled, some of them tracked
        prog.cmd("fa")  # frees dormant and sampled pooled blocks
        rc, _, err = prog.quit()
        ck.equal((rc, err), (0, b""), "ctl sample after a dormant start: frees of pooled "
                 "blocks work, the program exits normally and quietly")
    finally:
        prog.kill()
    prog = Prog(args, dict(env, PERFSHIM_SAMPLE="64k"), work)
    try:
        ck.equal(status(args, prog.pid).get("sample"), "65536",
                 "PERFSHIM_START=off PERFSHIM_SAMPLE=64k: status shows the mean while dormant")
        ctl(args, prog.pid, "start")
        ck.equal(status(args, prog.pid).get("sample"), "65536",
                 "PERFSHIM_SAMPLE=64k: still sampled after start")
        prog.cmd("b 1000")
        pid = prog.pid
        rc, _, err = prog.quit()
        ck.equal((rc, err), (0, b""), "PERFSHIM_SAMPLE, dormant start: a quiet exit")
    finally:
        prog.kill()
    path = os.path.join(work, "ctlprog.%d.trace" % pid)
    p, rep = leaks(args, path)
    ck.check(rep is not None and (rep.get("sampling") or {}).get("mean_bytes") == 65536,
             "the section's trace is sampled (estimated figures)", pstest.describe(p))


def part_fork(args, ck):
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ctlprog.c")
    marks = pstest.markers(src)
    size_b, nchild = pstest.define(src, "CTL_B_SIZE"), pstest.define(src, "CTL_CHILD")
    work = pstest.tmpdir("control-fork")
    env = {"LD_PRELOAD": args.lib, "PERFSHIM_CONTROL": "1",
           "PERFSHIM_OUTPUT": os.path.join(work, "%e.%p.trace")}
    prog = Prog(args, env, work)
    try:
        prog.cmd("b 2")
        out = prog.cmd("f")
        child = int(out.split()[1]) if out.startswith("child ") else -1
        d = sock_dir()
        ck.check(wait_for(lambda: os.path.exists(os.path.join(d, "%d.sock" % child)), 10),
                 "the forked child has its own socket")
        s = status(args, child)
        ck.equal((s.get("pid"), s.get("mode"), s.get("section")), (str(child), "on", "1"),
                 "the child answers for itself; tracking inherited")
        p = ctl(args, child, "dump")
        ck.check(p.returncode == 0 and ("%d.trace" % child).encode() in p.stdout,
                 "the child's dump goes to its own trace", pstest.describe(p))
        ck.equal(status(args, prog.pid).get("pid"), str(prog.pid), "the parent still answers")
        tasks = os.listdir("/proc/%d/task" % child)
        ck.equal(len(tasks), 2, "the child has its thread and the control thread")
        os.kill(child, signal.SIGUSR1)
        out = prog.cmd("w")
        ck.equal(out.strip(), "exited 0", "the child exits normally")
        ck.check(not os.path.exists(os.path.join(d, "%d.sock" % child)),
                 "the child's socket is removed at its exit")
        rc, _, err = prog.quit()
        ck.equal((rc, err), (0, b""), "the parent exits normally, quietly")
    finally:
        prog.kill()
    ctrace = [n for n in os.listdir(work) if n.endswith(".%d.trace" % child)]
    if ck.check(len(ctrace) == 1, "the child's trace", repr(os.listdir(work))):
        p, rep = leaks(args, os.path.join(work, ctrace[0]))
        if ck.check(rep is not None, "perfshim leaks reads it", pstest.describe(p)):
            ck.equal(rep.get("section", {}).get("number"), 1, "the child's file is its section 1")
            # issue 12: the 2 blocks live at the fork are inherited, listed apart from its own
            ck.equal(by_site(rep, src, marks, "ctl_b"), (nchild, nchild * size_b),
                     "the child's site_b leaks: its own %d" % nchild)
            ck.equal(by_site({"leaks": rep.get("inherited", [])}, src, marks, "ctl_b"),
                     (2, 2 * size_b), "the child's site_b: 2 inherited from the parent")


def part_uid(args, ck):
    if os.geteuid() != 0:
        ck.skip("needs root to run the client as another user")
    setpriv = shutil.which("setpriv")
    if not setpriv:
        ck.skip("setpriv (util-linux) is not installed")
    work = pstest.tmpdir("control-uid")
    env = {"LD_PRELOAD": args.lib, "PERFSHIM_START": "off",
           "PERFSHIM_OUTPUT": os.path.join(work, "%e.%p.trace")}
    # the client binary must be reachable by nobody
    os.chmod(work, 0o755)
    cli = os.path.join(work, "perfshim")
    shutil.copy(args.perfshim, cli)
    os.chmod(cli, 0o755)
    nobody = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]
    override = nobody + ["--inh-caps=+dac_override", "--ambient-caps=+dac_override"]
    prog = Prog(args, env, work)
    try:
        env_nobody = {"XDG_RUNTIME_DIR": ""}
        p = pstest.run(nobody + [cli, "ctl", str(prog.pid), "start"], env=env_nobody)
        ck.check(p.returncode == CTL_EXIT["perm"] and b"permission denied" in p.stderr,
                 "a client running as nobody cannot reach the socket: exit 5",
                 pstest.describe(p))
        probe = pstest.run(override + ["sh", "-c", "id -u; ls %s" % sock_dir()])
        if probe.returncode == 0 and probe.stdout.split()[:1] == [b"65534"]:
            p = pstest.run(override + [cli, "ctl", str(prog.pid), "start"], env=env_nobody)
            ck.check(p.returncode == CTL_EXIT["perm"] and b"accepts only its own user" in p.stderr,
                     "a client as nobody that can reach the socket (CAP_DAC_OVERRIDE) is "
                     "refused by the SO_PEERCRED check: exit 5", pstest.describe(p))
        else:
            print("note: ambient capabilities unavailable here; the SO_PEERCRED case is not run")
        s = status(args, prog.pid)
        ck.equal(s.get("mode"), "off", "the refused requests changed nothing")
        ck.equal(os.listdir(work), ["perfshim"], "no trace written by a refused start")
        prog.quit()
    finally:
        prog.kill()
    # a dormant process that dropped to nobody: `start` says at once that its trace cannot be
    # created where PERFSHIM_OUTPUT points (audit11 met it at the first dump on memcached -u
    # nobody), and says nothing more where it can
    drop = ("import os, sys\nos.setgid(65534)\nos.setuid(65534)\nprint('dropped', flush=True)\n"
            "sys.stdin.read()\n")
    for mode, want in ((0o700, True), (0o1777, False)):
        out = os.path.join(work, "out%o" % mode)
        os.mkdir(out)
        os.chmod(out, mode)
        penv = dict(os.environ, LD_PRELOAD=args.lib, PERFSHIM_START="off",
                    PERFSHIM_OUTPUT=os.path.join(out, "%p.trace"))
        q = subprocess.Popen(["/usr/bin/python3", "-c", drop], env=penv, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        try:
            q.stdout.readline()
            p = ctl(args, str(q.pid), "start")
            said = b"cannot create a trace in %s: Permission denied" % out.encode()
            ck.check(p.returncode == 0 and p.stdout.startswith(b"started: section 1") and
                     (said in p.stdout) == want,
                     "start of a process running as nobody, its trace directory mode %o: %s" %
                     (mode, "says it cannot create the trace" if want else "no warning"),
                     pstest.describe(p))
        finally:
            q.stdin.close()
            q.wait(timeout=60)


def main():
    args = pstest.parse_args(lambda ap: ap.add_argument(
        "--part", choices=["roundtrip", "inert", "list", "sampled", "fork", "uid", "closing"],
        required=True))
    ck = pstest.Checker("test_control_" + args.part)
    {"roundtrip": part_roundtrip, "inert": part_inert, "list": part_list, "sampled": part_sampled, "fork": part_fork,
     "uid": part_uid, "closing": part_closing}[args.part](args, ck)
    ck.done()


if __name__ == "__main__":
    main()
