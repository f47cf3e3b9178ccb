#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_progress.py — progress on stderr while a trace is read (issue 14 item 3): shown only
when stderr is a terminal, after a delay (a second; PA_PROGRESS_DELAY_MS=0 here, so that the
test does not depend on how fast the machine is), and erased before anything else is written:
  - stderr on a pseudo-terminal: "perfshim: reading FILE: N% (...)" appears, the last thing
    on the terminal is the erase sequence (no progress text left behind), and the report on
    stdout (a pipe) is the same as without a terminal;
  - stderr on a pipe (as in CI and every other test), the same delay: no progress at all;
  - the phases after reading: "symbolizing and grouping" and, with stdout not the terminal,
    "writing" (`leaks`, text and JSON), erased the same way;
  - merge -o shows it too (one line per input read)."""
import os
import pty
import select
import subprocess

import pstest

ERASE = b"\r\x1b[K"


def run_pty(cmd, env, cwd):
    """Runs cmd with stderr on a new pseudo-terminal and stdout on a pipe."""
    master, slave = pty.openpty()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=slave, stdin=subprocess.DEVNULL,
                         env=env, cwd=cwd)
    os.close(slave)
    err = b""
    out = b""
    while True:
        r, _, _ = select.select([master, p.stdout], [], [], 60)
        if not r:
            break
        if p.stdout in r:
            chunk = p.stdout.read1(65536)
            out += chunk
            if not chunk:
                p.stdout.close()
        if master in r:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                chunk = b""
            err += chunk
            if not chunk:
                break
        if p.stdout.closed and p.poll() is not None:
            # drain what the terminal still holds
            while select.select([master], [], [], 0.2)[0]:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    chunk = b""
                if not chunk:
                    break
                err += chunk
            break
    if not p.stdout.closed:
        out += p.stdout.read()
    p.wait(timeout=60)
    os.close(master)
    return p.returncode, out, err


def main():
    args = pstest.parse_args()
    ck = pstest.Checker("test_progress")
    work = pstest.tmpdir("progress")
    trace = os.path.join(work, "leaky.trace")
    p = pstest.run([args.perfshim, "run", "-o", trace, "--", os.path.join(args.bindir, "leaky")],
                   cwd=work)
    ck.check(os.path.exists(trace), "a trace to read", pstest.describe(p))
    env = dict(os.environ, PA_PROGRESS_DELAY_MS="0", NO_COLOR="1")
    cmd = [args.perfshim, "summary", trace]
    rc, out, err = run_pty(cmd, env, work)
    ck.equal(rc, 0, "summary with stderr on a terminal: exit status")
    ck.check(b"perfshim: reading leaky.trace: " in err and b"%" in err,
             "progress shown on the terminal", repr(err[:500]))
    ck.check(err.endswith(ERASE), "... and erased at the end", repr(err[-200:]))
    plain = pstest.run(cmd, env=env, cwd=work)
    ck.equal(out, plain.stdout, "the report on stdout is unchanged")
    ck.check(b"reading" not in plain.stderr and b"\x1b" not in plain.stderr,
             "stderr on a pipe: no progress", repr(plain.stderr[:500]))
    # the phases after reading (a compile's `leaks` read in 0.5 s, then grouped and written
    # for another second): symbolizing and grouping, and writing when stdout is not the terminal
    for cmd in ([args.perfshim, "leaks", trace], [args.perfshim, "leaks", "--json", trace]):
        rc, out, err = run_pty(cmd, env, work)
        plain = pstest.run(cmd, env=env, cwd=work)
        ck.check(rc == plain.returncode and out == plain.stdout,
                 "%s: the report on stdout is unchanged" % " ".join(cmd[1:-1]),
                 pstest.describe(plain))
        ck.check(b"perfshim: symbolizing and grouping: 100% (" in err and
                 b"perfshim: writing: 100% (" in err and b" leaks)" in err,
                 "%s: the grouping and writing phases shown" % " ".join(cmd[1:-1]),
                 repr(err[:800]))
        ck.check(err.endswith(ERASE), "... and erased at the end", repr(err[-200:]))
        ck.check(b"grouping" not in plain.stderr and b"writing" not in plain.stderr,
                 "stderr on a pipe: no phase line", repr(plain.stderr[:300]))
    merged = os.path.join(work, "merged.trace")
    rc, out, err = run_pty([args.perfshim, "merge", "-o", merged, trace, trace], env, work)
    ck.check(rc == 0 and err.count(b"perfshim: reading leaky.trace: ") >= 2 and
             err.endswith(ERASE), "merge -o: progress for each input", repr(err[:500]))
    ck.done()


if __name__ == "__main__":
    main()
