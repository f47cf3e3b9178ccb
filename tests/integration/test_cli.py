#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_cli.py — the analyzer's exit codes and its handling of damaged input.

  exit codes: `perfshim run` returns the command's status; --fail-on-leak and --fail-on-leak=all
  give 1 on leaky (its blocks are lost at exit) and 0 on noleak (run and leaks); usage errors and unreadable paths give 2;
  damaged traces (a real leaky trace cut in half, cut inside or before its END chunk, cut inside
  the file header, a flipped byte in STACKS or SNAPSHOT): no crash, a message on stderr naming
  the file and the offset, and every complete chunk still used. Exit status: 2 when no
  complete snapshot is left (nothing to report), else 0 with the report marked
  `complete: false` — leaky's leaks still exact when its snapshot survived."""
import os
import re
import shutil

import pstest
import test_leaky


def no_crash(ck, p, what):
    ck.check(p.returncode >= 0 and p.returncode not in (134, 136, 139),
             "%s: exits normally (no signal)" % what, pstest.describe(p))


def main():
    args = pstest.parse_args()
    ck = pstest.Checker("test_cli")
    work = pstest.tmpdir("cli")
    leaky = os.path.join(args.bindir, "leaky")
    noleak = os.path.join(args.bindir, "noleak")
    ps = args.perfshim

    # ---- exit codes of perfshim run ----
    # leaky forgets its blocks before exit: definitely and indirectly lost (the scan at exit,
    # PERFSHIM_LEAK_SCAN), which --fail-on-leak, =possible and =all all count (a program with
    # only possibly lost blocks, which passes by default: test_reach.py)
    p = pstest.run([ps, "run", "--fail-on-leak=all", "--", leaky], cwd=work)
    ck.equal(p.returncode, 1, "perfshim run --fail-on-leak=all -- leaky")
    p = pstest.run([ps, "run", "--fail-on-leak", "--", leaky], cwd=work)
    ck.equal(p.returncode, 1, "perfshim run --fail-on-leak -- leaky (its blocks are lost at exit)")
    p = pstest.run([ps, "run", "--fail-on-leak=possible", "--", leaky], cwd=work)
    ck.equal(p.returncode, 1, "perfshim run --fail-on-leak=possible -- leaky")
    p = pstest.run([ps, "run", "--fail-on-leak=some", "--", leaky], cwd=work)
    ck.equal(p.returncode, 2, "perfshim run --fail-on-leak=some: a usage error")
    p = pstest.run([ps, "run", "--fail-on-leak", "--", noleak], cwd=work)
    ck.equal(p.returncode, 0, "perfshim run --fail-on-leak -- noleak")
    p = pstest.run([ps, "run", "--json", "--fail-on-leak", "--", noleak], cwd=work)
    ck.equal(p.returncode, 0, "perfshim run --json --fail-on-leak -- noleak")
    try:
        reps = pstest.load_reports(p.stdout.decode())
        ck.check(all(r["totals"]["leaked_blocks"] == 0 and r["leaks"] == [] for r in reps),
                 "noleak: no leaks in the JSON report", p.stdout.decode()[:2000])
    except (ValueError, KeyError, TypeError) as e:
        ck.check(False, "noleak: JSON report parses (%s)" % e, pstest.describe(p))
    p = pstest.run([ps, "run", "--", leaky], cwd=work)
    ck.equal(p.returncode, 0, "perfshim run -- leaky (leaks, no --fail-on-leak)")
    p = pstest.run([ps, "run", "--", noleak, "7"], cwd=work)
    ck.equal(p.returncode, 7, "perfshim run -- noleak 7 returns the command's status")
    # -o into a directory that does not exist: said at once, the command is not run (it would
    # run without a trace, each of its processes warning that it cannot create one)
    marker = os.path.join(work, "ran")
    for tmpl, what in ((os.path.join(work, "no-dir", "%e.%p.trace"), "No such file"),
                       (os.path.join(leaky, "%e.trace"), "not a directory")):
        p = pstest.run([ps, "run", "-o", tmpl, "--", "/bin/sh", "-c", "touch " + marker],
                       cwd=work)
        ck.check(p.returncode == 2 and b"cannot write traces to" in p.stderr and
                 what.encode() in p.stderr and not os.path.exists(marker) and
                 p.stderr.count(b"\n") == 1,
                 "perfshim run -o into a missing directory (%s): exit 2, one line, nothing run"
                 % what, pstest.describe(p))
    p = pstest.run([ps, "run", "-o", os.path.join(work, "%p-dir", "x.trace"), "--", noleak],
                   cwd=work)
    ck.check(p.returncode == 2 and b"cannot write traces to" not in p.stderr,
             "a directory with a % pattern is not checked (the shim warns, run says no trace)",
             pstest.describe(p))
    p = pstest.run([ps, "run", "--", os.path.join(work, "does-not-exist")], cwd=work)
    ck.check(p.returncode != 0, "perfshim run of a missing program fails",
             pstest.describe(p))

    # ---- usage ----
    p = pstest.run([ps, "--help"])
    ck.equal(p.returncode, 0, "perfshim --help")
    ck.check(b"leaks" in p.stdout + p.stderr and b"run" in p.stdout + p.stderr,
             "perfshim --help lists run and leaks", pstest.describe(p))
    for argv in (["no-such-subcommand"], ["leaks"], ["leaks", "--no-such-option", "x.trace"],
                 ["run"], []):
        p = pstest.run([ps, *argv])
        ck.equal(p.returncode, 2, "usage error: perfshim %s" % " ".join(argv))
        no_crash(ck, p, "perfshim %s" % " ".join(argv))

    # ---- unreadable input ----
    missing = os.path.join(work, "missing", "nothing.trace")
    p = pstest.run([ps, "leaks", missing])
    ck.equal(p.returncode, 2, "perfshim leaks on a missing file")
    ck.check(missing.encode() in p.stderr, "the message names the missing file",
             pstest.describe(p))
    p = pstest.run([ps, "leaks", "--json", work])
    ck.equal(p.returncode, 2, "perfshim leaks on a directory")
    junk = os.path.join(work, "junk.trace")
    with open(junk, "wb") as f:
        f.write(b"this is not a perfshim trace, just some text\n" * 20)
    p = pstest.run([ps, "leaks", junk])
    ck.equal(p.returncode, 2, "perfshim leaks on a file that is not a trace")
    ck.check(junk.encode() in p.stderr, "the message names the bad file", pstest.describe(p))
    empty = os.path.join(work, "empty.trace")
    open(empty, "wb").close()
    p = pstest.run([ps, "leaks", empty])
    ck.equal(p.returncode, 2, "perfshim leaks on an empty file")
    no_crash(ck, p, "empty file")

    # ---- damaged traces ----
    tdir = os.path.join(work, "t")
    os.mkdir(tdir)
    pstest.run([leaky], env={"LD_PRELOAD": args.lib,
                             "PERFSHIM_OUTPUT": os.path.join(tdir, "leaky.trace")})
    good = os.path.join(tdir, "leaky.trace")
    if not ck.check(os.path.exists(good), "a leaky trace was written"):
        ck.done()
    raw = pstest.RawTrace(good)
    with open(good, "rb") as f:
        data = f.read()
    ck.check(raw.error is None and raw.chunks and raw.chunks[-1][1] == pstest.CHUNK_END,
             "the raw trace is well formed and ends with END", str(raw.error))

    def damaged(name, content):
        path = os.path.join(tdir, name)
        with open(path, "wb") as f:
            f.write(content)
        return path

    def check_damaged(path, what, status, offset=True):
        """No crash, the expected status, the file (and an offset) named on stderr; returns
        the JSON reports when there are any (then they must say complete: false)."""
        p = pstest.run([ps, "leaks", path])
        no_crash(ck, p, what)
        ck.equal(p.returncode, status, "%s: exit status" % what)
        err = p.stderr.decode("utf-8", "replace")
        ck.check(path in err, "%s: stderr names the file" % what, err[:2000])
        if offset:
            ck.check(re.search(r"offset\s*(\d+|0x[0-9a-f]+)", err, re.I),
                     "%s: stderr names an offset" % what, err[:2000])
        j = pstest.run([ps, "leaks", "--json", path])
        no_crash(ck, j, what + " --json")
        ck.equal(j.returncode, status, "%s --json: exit status" % what)
        if status != 0:
            return None
        try:
            reps = pstest.load_reports(j.stdout.decode())
        except ValueError as e:
            ck.check(False, "%s --json: prints a JSON report (%s)" % (what, e), pstest.describe(j))
            return None
        ck.check(all(r.get("complete") is False and r.get("warnings") for r in reps),
                 "%s --json: complete: false, with warnings" % what, j.stdout.decode()[:1000])
        return reps

    leaky_src = os.path.join(args.srcdir, "leaky.c")
    first_snap_end = min((o + n for o, t, n in raw.chunks if t == pstest.CHUNK_SNAPSHOT),
                         default=len(data))

    # Cut in half: whatever precedes the cut is used; with no complete snapshot left there is
    # nothing to report (unreadable: 2), else the last complete snapshot is reported (0).
    half_len = len(data) // 2
    half = damaged("half.trace", data[:half_len])
    check_damaged(half, "trace cut in half (%d of %d bytes)" % (half_len, len(data)),
                  2 if half_len < first_snap_end else 0)

    # Cut inside the END chunk: the snapshot is intact, so leaky's leaks are reported exactly.
    end_off = raw.chunks[-1][0] if raw.chunks else len(data)
    cut = damaged("cutend.trace", data[:end_off + 9])
    reps = check_damaged(cut, "trace cut inside its END chunk", 0)
    if ck.check(reps is not None and len(reps) == 1, "cut END: one report printed"):
        test_leaky.check_leaky_report(ck, dict(reps[0], complete=True), leaky_src, "cut END")

    # No END chunk at all (a process killed after its last snapshot): not damage, a warning.
    noend = damaged("noend.trace", data[:end_off])
    reps = check_damaged(noend, "trace without its END chunk", 0, offset=False)
    if ck.check(reps is not None and len(reps) == 1, "no END: one report printed"):
        test_leaky.check_leaky_report(ck, dict(reps[0], complete=True), leaky_src, "no END")

    mid_hdr = damaged("header.trace", data[:10])
    p = pstest.run([ps, "leaks", mid_hdr])
    no_crash(ck, p, "trace cut inside the file header")
    ck.equal(p.returncode, 2, "trace cut inside the file header: unreadable")
    ck.check(mid_hdr.encode() in p.stderr, "header cut: stderr names the file", pstest.describe(p))

    def flip(name, chunk_types, at):
        chunk = [c for c in raw.chunks if c[1] in chunk_types][0]
        b = bytearray(data)
        b[chunk[0] + 16 + at] ^= 0xFF
        return damaged(name, bytes(b)), chunk[0]

    # A flipped byte in the STACKS chunk: its CRC fails, the chunk is skipped, the snapshot
    # still counts every leaked block (with stacks unknown).
    path, off = flip("flipped-stacks.trace", pstest.CHUNK_STACK_KINDS, 5)
    reps = check_damaged(path, "flipped byte in STACKS", 0)
    err = pstest.run([ps, "leaks", path]).stderr.decode("utf-8", "replace")
    ck.check(str(off) in err or hex(off) in err,
             "flipped byte in STACKS: stderr names the chunk's offset %d" % off, err[:2000])
    if reps and len(reps) == 1:
        t = reps[0]["totals"]
        ck.equal((t["leaked_blocks"], t["leaked_bytes"]), (16, 1616),
                 "flipped byte in STACKS: leak totals still exact")
    # A flipped byte in the only SNAPSHOT: nothing left to report.
    path, off = flip("flipped-snapshot.trace", (pstest.CHUNK_SNAPSHOT,), 100)
    check_damaged(path, "flipped byte in the SNAPSHOT", 2)
    shutil.rmtree(work, ignore_errors=True)
    ck.done()


if __name__ == "__main__":
    main()
