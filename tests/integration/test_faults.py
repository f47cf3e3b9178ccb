# SPDX-License-Identifier: MIT
"""test_faults.py — the shim never kills its host, whatever fails inside it.

Cases (--case):
  map    PERFSHIM_FAULT_MAP=N for every N from 1 to the number of internal memory requests a
         run makes (counted first with PERFSHIM_VERBOSE=1) and two beyond: the host's exit
         status and stdout equal a run without the shim, no crash, no hang, at most one shim
         warning on stderr; when a trace is written it reads, and either the report equals
         the fault-free one or the shim warned and the trace carries that warning in a
         MESSAGE chunk (nothing is lost silently). With --persist, the N-th and every later
         request fail (PERFSHIM_FAULT_PERSIST=1).
  write  PERFSHIM_FAULT_WRITE=N for every write of a trace and one beyond: the host is
         unaffected, the shim warns once with ENOSPC's text, the chunks written before the
         failure verify, and `perfshim leaks` exits 0 (a snapshot survived: incomplete
         report) or 2 (none did), naming the problem.
  fsize  RLIMIT_FSIZE (ulimit -f) below the trace's size, from 0 to 256 bytes short: the kernel
         ends a program that writes past it with SIGXFSZ, so the shim must not write past it;
         the host is unaffected, one warning with EFBIG's text, the trace no larger than the
         limit, its chunks verify, and `perfshim leaks` exits 0 or 2 as for a full disk.
  fsize_side  the files beside the trace under RLIMIT_FSIZE: a PERFSHIM_TRACE_LIST and a
         stderr file within a few bytes of the limit, and a PERFSHIM_PROM_FILE larger than it
         (run with --program interval): the shim wrote past the limit there and the kernel
         ended its host with SIGXFSZ. Now the host ends as it would, those files are not
         written past the limit, and the shim says why (in the trace, or on stderr).
  disk   a real full disk: PERFSHIM_OUTPUT on a tmpfs too small for the trace (mounted in a
         private mount namespace with unshare; skipped with a message where that is not
         allowed).

Every run uses PERFSHIM_LOCKS=1, as `perfshim run` does.
"""
import json
import os
import re
import shutil
import subprocess
import sys

import pstest

WARN = re.compile(rb"^perfshim: warning: (.*)$", re.M)
REQUESTS = re.compile(rb"(\d+) internal memory request\(s\)")
ENOSPC_TEXT = os.strerror(28)  # "No space left on device"
EFBIG_TEXT = os.strerror(27)  # "File too large"


def warnings(p):
    return [w.decode("utf-8", "replace") for w in WARN.findall(p.stderr)]


def traces_in(d):
    return sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".trace"))


def signature(rep):
    """What a report says, independent of addresses: leaks with their innermost frames, and
    the totals a fault could change. A stack's leak classes are summed: a fault that stops the
    scan at exit (PERFSHIM_LEAK_SCAN) leaves the classes out, not a leak."""
    leaks = sorted((l["blocks"], l["bytes"],
                    tuple((f.get("function"), f.get("file") and os.path.basename(f["file"]),
                           f.get("line")) for f in l["stack"][:3]))
                   for l in pstest.by_stack(rep.get("leaks", [])))
    t = rep.get("totals", {})
    return (leaks, t.get("leaked_blocks"), t.get("leaked_bytes"))


def analyze(args, trace):
    """(process, report or None) of `perfshim leaks --json TRACE`."""
    a = pstest.run([args.perfshim, "leaks", "--json", trace], timeout=120)
    rep = None
    if a.returncode == 0:
        try:
            rep = pstest.load_reports(a.stdout.decode("utf-8"))[0]
        except (ValueError, IndexError):
            rep = None
    return a, rep


def shim_run(args, prog, work, env, timeout=120):
    e = {"LD_PRELOAD": args.lib, "PERFSHIM_OUTPUT": os.path.join(work, "%e.%p.trace"),
         "PERFSHIM_LOCKS": "1"}
    e.update(env)
    try:
        return pstest.run([prog], env=e, cwd=work, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None


def fresh(d):
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


def same_host(ck, bare, p, label):
    """The host did what it does without the shim: no crash, no hang, same status/stdout."""
    if p is None:
        return ck.check(False, "%s: the program finished (no hang within the timeout)" % label)
    ok = ck.check(p.returncode == bare.returncode and p.stdout == bare.stdout,
                  "%s: exit status %d and stdout as without the shim" % (label, bare.returncode),
                  pstest.describe(p))
    return ok


def partial_trace(ck, p, label, errtext, tdir):
    """After a write that failed with errtext: one warning naming it, and one (partial) trace in
    tdir. Returns (its paths, its RawTrace), or (paths, None) when there is not exactly one."""
    ws = warnings(p)
    ck.check(len(ws) == 1 and errtext in ws[0], "%s: one warning with '%s'" % (label, errtext),
             pstest.describe(p))
    tr = traces_in(tdir)
    if not ck.check(len(tr) == 1, "%s: the (partial) trace was created" % label, repr(tr)):
        return tr, None
    return tr, pstest.RawTrace(tr[0])


def case_map(args, ck, prog, bare):
    work = pstest.tmpdir("faults-map")
    base_dir = fresh(os.path.join(work, "base"))
    counted = shim_run(args, prog, base_dir, {"PERFSHIM_VERBOSE": "1"})
    if not same_host(ck, bare, counted, "fault-free run"):
        ck.done()
    m = REQUESTS.search(counted.stderr)
    if not ck.check(m is not None, "PERFSHIM_VERBOSE=1 says how many internal memory requests "
                    "the run made", pstest.describe(counted)):
        ck.done()
    total = int(m.group(1))
    ck.check(total >= 20, "the run makes a plausible number of requests (%d >= 20)" % total)
    base_traces = traces_in(base_dir)
    if not ck.check(len(base_traces) == 1, "fault-free run: one trace", repr(base_traces)):
        ck.done()
    a, base_rep = analyze(args, base_traces[0])
    if not ck.check(base_rep is not None, "fault-free trace: leaks --json exits 0 with a report",
                    pstest.describe(a)):
        ck.done()
    base_sig = signature(base_rep)

    persist = {"PERFSHIM_FAULT_PERSIST": "1"} if args.persist else {}
    warned_runs = 0
    no_trace_runs = 0
    bad = 0
    for n in range(1, total + 3):
        label = "%sPERFSHIM_FAULT_MAP=%d" % ("persistent " if args.persist else "", n)
        d = fresh(os.path.join(work, "n%d" % n))
        p = shim_run(args, prog, d, dict(persist, PERFSHIM_FAULT_MAP=str(n),
                                         PERFSHIM_VERBOSE="1"))
        ok = same_host(ck, bare, p, label)
        if not ok:
            bad += 1
            if p is None:
                continue
        ws = warnings(p)
        if not args.persist:  # one failure, one warning; persistent ones fail many things
            ok &= ck.check(len(ws) <= 1, "%s: at most one shim warning on stderr" % label,
                           "\n".join(ws))
        warned_runs += bool(ws)
        tr = traces_in(d)
        made = REQUESTS.search(p.stderr)  # threads make the count vary a little between runs
        if n > total and made and int(made.group(1)) < n:
            ok &= ck.check(not ws, "%s (beyond the %s requests this run made): no warning"
                           % (label, made.group(1).decode()), "\n".join(ws))
        if not tr:
            no_trace_runs += 1
            ok &= ck.check(len(ws) == 1 or (args.persist and ws),
                           "%s: no trace written, and the shim said why" % label,
                           pstest.describe(p))
            bad += not ok
            continue
        ok &= ck.check(len(tr) == 1, "%s: one trace" % label, repr(tr))
        raw = pstest.RawTrace(tr[0])
        ok &= ck.check(raw.error is None, "%s: the trace verifies chunk by chunk" % label,
                       str(raw.error))
        texts = [t for _, t in raw.messages]
        if ws:
            ok &= ck.check(ws[0] in texts, "%s: the warning is in a MESSAGE chunk" % label,
                           "stderr: %r\nMESSAGE chunks: %r" % (ws[0], texts))
        a, rep = analyze(args, tr[0])
        ok &= ck.check(a.returncode in (0, 2) and a.returncode >= 0,
                       "%s: perfshim leaks exits 0 or 2" % label, pstest.describe(a))
        if rep is not None:
            shown = [m.get("text") for m in rep.get("messages", [])]
            if ws:
                ok &= ck.check(ws[0] in shown, "%s: the analyzer shows the shim's warning"
                               % label, "messages: %r" % shown)
            else:
                ok &= ck.check(signature(rep) == base_sig,
                               "%s: no warning, so the report equals the fault-free one" % label,
                               "got %r\nexpected %r" % (signature(rep), base_sig))
        else:
            # No snapshot survived: acceptable only when the shim said so.
            ok &= ck.check(bool(ws), "%s: a trace without a report comes with a warning" % label,
                           pstest.describe(a))
            ok &= ck.check(b"no snapshot" in a.stderr,
                           "%s: perfshim leaks names the problem" % label, pstest.describe(a))
        bad += not ok
    # The switch must really inject faults: most requests are load-bearing enough to warn.
    ck.check(warned_runs >= total // 2, "faults were injected: %d of %d runs warned"
             % (warned_runs, total))
    ck.check(no_trace_runs < total, "most runs still write a trace (%d did not)" % no_trace_runs)
    print("map sweep over %d requests: %d runs warned, %d wrote no trace, %d failed"
          % (total, warned_runs, no_trace_runs, bad))


def case_write(args, ck, prog, bare):
    work = pstest.tmpdir("faults-write")
    base_dir = fresh(os.path.join(work, "base"))
    p = shim_run(args, prog, base_dir, {})
    same_host(ck, bare, p, "fault-free run")
    tr = traces_in(base_dir)
    if not ck.check(len(tr) == 1, "fault-free run: one trace", repr(tr)):
        ck.done()
    raw = pstest.RawTrace(tr[0])
    nchunks = len(raw.chunks)
    ck.check(raw.error is None and raw.end is not None and nchunks >= 5,
             "fault-free trace complete (%d chunks)" % nchunks, str(raw.error))
    writes = nchunks + 1  # the file header, then one write per chunk (regular files)
    for n in range(1, writes + 2):
        label = "PERFSHIM_FAULT_WRITE=%d" % n
        d = fresh(os.path.join(work, "n%d" % n))
        p = shim_run(args, prog, d, {"PERFSHIM_FAULT_WRITE": str(n)})
        if not same_host(ck, bare, p, label):
            continue
        ws = warnings(p)
        tr = traces_in(d)
        if not ck.check(len(tr) == 1, "%s: one trace file" % label, repr(tr)):
            continue
        raw = pstest.RawTrace(tr[0])
        if raw.end is not None and len(raw.chunks) + 1 < n:
            # complete: this run made fewer writes (threads vary the chunk count a little)
            ck.check(n > writes - 2 and not ws,
                     "%s (beyond the %d writes of this run): no warning"
                     % (label, len(raw.chunks) + 1), "\n".join(ws))
            continue
        ck.check(len(ws) == 1 and ENOSPC_TEXT in ws[0] and tr[0] in ws[0],
                 "%s: one warning naming the trace and '%s'" % (label, ENOSPC_TEXT),
                 "\n".join(ws))
        if n == 1:
            ck.equal(raw.size, 0, "%s: the header write failed, the file is empty" % label)
        else:
            ck.check(raw.error is None and len(raw.chunks) == n - 2,
                     "%s: the %d chunk(s) written before the failure verify" % (label, n - 2),
                     "error %r, %d chunks" % (raw.error, len(raw.chunks)))
        a = pstest.run([args.perfshim, "leaks", tr[0]], timeout=120)
        ck.check(a.returncode in (0, 2), "%s: perfshim leaks exits 0 or 2 (got %d)"
                 % (label, a.returncode), pstest.describe(a))
        has_snapshot = bool(raw.snapshots)
        if has_snapshot:
            ck.check(a.returncode == 0 and b"incomplete trace" in a.stdout,
                     "%s: a snapshot survived: exit 0, the report says the trace is incomplete"
                     % label, pstest.describe(a))
        else:
            ck.check(a.returncode == 2 and tr[0].encode() in a.stderr and
                     (b"no snapshot" in a.stderr or b"empty" in a.stderr or
                      b"header" in a.stderr),
                     "%s: no snapshot survived: exit 2, the error names the file and why"
                     % label, pstest.describe(a))


def case_disk(args, ck, prog, bare):
    """A tmpfs too small for the trace, in a private mount namespace (nothing to clean up)."""
    unshare = shutil.which("unshare")
    work = pstest.tmpdir("faults-disk")
    mnt = os.path.join(work, "mnt")
    out = os.path.join(work, "out")
    os.makedirs(mnt)
    os.makedirs(out)
    as_root = [] if os.geteuid() == 0 else ["-r"]
    probe = pstest.run([unshare, *as_root, "-m", "sh", "-c",
                        "mount -t tmpfs -o size=64k tmpfs '%s'" % mnt]) if unshare else None
    if probe is None or probe.returncode != 0:
        ck.skip("cannot mount a tmpfs in a private mount namespace here (%s); the injected "
                "write fault (--case write) covers ENOSPC"
                % (probe.stderr.decode().strip() if probe else "no unshare"))
    # fill: leave `room` bytes free (tmpfs counts whole pages), so that the header and the first
    # chunk(s) fit and a later chunk hits ENOSPC part-way (a short write, then the error, as
    # on a real disk)
    for room in (0, 4096):  # a leaky trace is about 7 KB
        label = "tmpfs with %d bytes free" % room
        script = (
            "set -u; mount -t tmpfs -o size=64k tmpfs \"$MNT\" || exit 99; "
            "dd if=/dev/zero of=\"$MNT/fill\" bs=1024 count=$(( (65536 - $ROOM) / 1024 )) "
            "2>/dev/null; "
            "LD_PRELOAD=\"$LIB\" PERFSHIM_LOCKS=1 PERFSHIM_OUTPUT=\"$MNT/%e.trace\" \"$PROG\"; "
            "rc=$?; rm -f \"$MNT/fill\"; cp \"$MNT\"/*.trace \"$OUT\"/ 2>/dev/null; exit $rc")
        for f in os.listdir(out):
            os.unlink(os.path.join(out, f))
        p = pstest.run([unshare, *as_root, "-m", "sh", "-c", script],
                       env={"MNT": mnt, "ROOM": str(room), "LIB": args.lib, "PROG": prog,
                            "OUT": out}, timeout=120)
        if not same_host(ck, bare, p, label):
            continue
        tr, raw = partial_trace(ck, p, label, ENOSPC_TEXT, out)
        if raw is None:
            continue
        ck.check(raw.end is None, "%s: the trace is cut (no END chunk)" % label)
        ck.check(raw.size <= room, "%s: the trace (%d bytes) is no larger than the free space"
                 % (label, raw.size))
        if room:
            ck.check(raw.chunks and (raw.error is None or "truncated" in raw.error),
                     "%s: the %d complete chunk(s) verify; only the last one is cut (%s)"
                     % (label, len(raw.chunks), raw.error))
        a = pstest.run([args.perfshim, "leaks", tr[0]], timeout=120)
        ck.check(a.returncode in (0, 2) and (a.returncode == 0) == bool(raw.snapshots),
                 "%s: perfshim leaks exits 0 with a snapshot, 2 without (got %d, %d snapshots)"
                 % (label, a.returncode, len(raw.snapshots)), pstest.describe(a))
        ck.check(a.stderr.strip() != b"" or b"incomplete trace" in a.stdout,
                 "%s: perfshim leaks names the problem" % label, pstest.describe(a))


def case_fsize(args, ck, prog, bare):
    """RLIMIT_FSIZE set by a Python wrapper that then execs the program (its soft and hard
    limits, as `ulimit -f` sets them; SIGXFSZ at its default action, which ends the process)."""
    work = pstest.tmpdir("faults-fsize")
    full = shim_run(args, prog, fresh(os.path.join(work, "unlimited")), {})
    tr = traces_in(os.path.join(work, "unlimited"))
    if not (same_host(ck, bare, full, "no limit") and
            ck.check(len(tr) == 1, "no limit: one trace", repr(tr))):
        return
    size = os.path.getsize(tr[0])
    wrap = ("import os, resource, signal, sys; n = int(sys.argv[1]); "
            "resource.setrlimit(resource.RLIMIT_FSIZE, (n, n)); "
            "signal.signal(signal.SIGXFSZ, signal.SIG_DFL); "  # Python ignores it; a shell does not
            "os.environ['LD_PRELOAD'] = os.environ.pop('PRELOAD'); "
            "os.execv(sys.argv[2], sys.argv[2:])")
    # the shim is preloaded into the program only (PRELOAD), not into the wrapper, which would
    # write a trace of its own at the exec, under the limit too
    for limit in (0, 1024, size // 2, size - 256):  # the size varies by a few bytes a run
        label = "RLIMIT_FSIZE %d (the trace is %d bytes)" % (limit, size)
        d = fresh(os.path.join(work, "limit%d" % limit))
        p = pstest.run([sys.executable, "-c", wrap, str(limit), prog], cwd=d, timeout=120,
                       env={"PRELOAD": args.lib, "PERFSHIM_OUTPUT": os.path.join(d, "%e.%p.trace"),
                            "PERFSHIM_LOCKS": "1"})
        if not same_host(ck, bare, p, label):
            continue
        tr, raw = partial_trace(ck, p, label, EFBIG_TEXT, d)
        if raw is None:
            continue
        ck.check(raw.size <= limit, "%s: the trace (%d bytes) is within the limit"
                 % (label, raw.size))
        ck.check(raw.size == 0 or raw.error is None,
                 "%s: the file is empty or its chunks verify (%s)" % (label, raw.error))
        a = pstest.run([args.perfshim, "leaks", tr[0]], timeout=120)
        ck.check(a.returncode in (0, 2) and (a.returncode == 0) == bool(raw.snapshots),
                 "%s: perfshim leaks exits 0 with a snapshot, 2 without (got %d, %d snapshots)"
                 % (label, a.returncode, len(raw.snapshots)), pstest.describe(a))


def case_fsize_side(args, ck, prog, bare):
    """Files other than the trace under RLIMIT_FSIZE (the wrapper of case_fsize)."""
    work = pstest.tmpdir("faults-fsize-side")
    # the shim is preloaded into the program only (PRELOAD), not into the wrapper itself,
    # whose own trace and Prometheus file would be written before the limit
    wrap = ("import os, resource, signal, sys; n = int(sys.argv[1]); "
            "resource.setrlimit(resource.RLIMIT_FSIZE, (n, n)); "
            "signal.signal(signal.SIGXFSZ, signal.SIG_DFL); "
            "os.environ['LD_PRELOAD'] = os.environ.pop('PRELOAD'); "
            "os.execv(sys.argv[2], sys.argv[2:])")
    # 1. the trace fits (1 MiB); the list and stderr are 8 bytes short of the limit: the list's
    # line would pass it, and so would the warning that says so
    limit = 1 << 20
    d = fresh(os.path.join(work, "list"))
    lst, err = os.path.join(d, "traces.list"), os.path.join(d, "stderr.txt")
    for f in (lst, err):
        with open(f, "wb") as fh:
            fh.truncate(limit - 8)
    with open(err, "ab") as fh:
        p = subprocess.run([sys.executable, "-c", wrap, str(limit), prog, "300"], cwd=d,
                           timeout=120, stdout=subprocess.PIPE, stderr=fh,
                           env={"PRELOAD": args.lib, "PERFSHIM_TRACE_LIST": lst,
                                "PERFSHIM_OUTPUT": os.path.join(d, "%e.%p.trace")})
    label = "RLIMIT_FSIZE %d, PERFSHIM_TRACE_LIST and stderr %d bytes" % (limit, limit - 8)
    ck.equal(p.returncode, 0, "%s: the host exits 0 (%d: -25 is SIGXFSZ)" % (label, p.returncode))
    ck.check(p.stdout.strip() != b"", "%s: the host printed its figures" % label)
    ck.equal(os.path.getsize(lst), limit - 8, "%s: nothing appended to the list" % label)
    ck.equal(os.path.getsize(err), limit - 8, "%s: nothing appended to stderr" % label)
    tr = traces_in(d)
    if ck.equal(len(tr), 1, "%s: one trace" % label):
        a = pstest.run([args.perfshim, "leaks", "--json", tr[0]], timeout=120)
        texts = [m["text"] for r in pstest.load_reports(a.stdout.decode())
                 for m in r.get("messages", [])] if a.returncode == 0 else []
        ck.check(any("PERFSHIM_TRACE_LIST" in t and "size limit" in t for t in texts),
                 "%s: the trace says the path was not listed" % label, pstest.describe(a))
    # 2. the Prometheus file is larger than the limit (512 bytes; the trace cannot be written
    # either, warned as in case_fsize)
    limit = 512
    d = fresh(os.path.join(work, "prom"))
    p = pstest.run([sys.executable, "-c", wrap, str(limit), prog, "300"], cwd=d, timeout=120,
                   env={"PRELOAD": args.lib, "PERFSHIM_INTERVAL": "20ms",
                        "PERFSHIM_PROM_FILE": os.path.join(d, "x.prom"),
                        "PERFSHIM_OUTPUT": os.path.join(d, "%e.%p.trace")})
    label = "RLIMIT_FSIZE %d, PERFSHIM_PROM_FILE" % limit
    ck.equal(p.returncode, 0, "%s: the host exits 0 (%d: -25 is SIGXFSZ)" % (label, p.returncode))
    ck.check(p.stdout.strip() != b"", "%s: the host printed its figures" % label)
    ck.check(any("PERFSHIM_PROM_FILE" in w and EFBIG_TEXT in w
                 for w in warnings(p)), "%s: a warning says the file could not be written"
             % label, pstest.describe(p))
    left = [f for f in os.listdir(d) if ".prom" in f]
    ck.equal(left, [], "%s: no partial Prometheus file is left" % label)


def main():
    def extra(ap):
        ap.add_argument("--case", choices=("map", "write", "disk", "fsize", "fsize_side"),
                        required=True)
        ap.add_argument("--program", default="leaky")
        ap.add_argument("--persist", action="store_true")
    args = pstest.parse_args(extra)
    ck = pstest.Checker("faults-%s-%s%s" % (args.case, args.program,
                                            "-persist" if args.persist else ""))
    prog = os.path.join(args.bindir, args.program)
    bare = pstest.run([prog], timeout=120)
    ck.check(bare.returncode == 0, "%s runs without the shim" % args.program,
             pstest.describe(bare))
    {"map": case_map, "write": case_write, "disk": case_disk,
     "fsize": case_fsize, "fsize_side": case_fsize_side}[args.case](args, ck, prog, bare)
    ck.done()


if __name__ == "__main__":
    main()
