#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_color.py — the analyzer colours its reports only on a terminal (issue 14, "Ecosystem":
NO_COLOR is respected, colour only on a terminal). A leak report of examples/leaky (with leak
classes, PERFSHIM_LEAK_SCAN=1):
  - stdout on a pseudo-terminal: SGR escapes around "Leak N of M:" (bold), "definitely lost"
    (red) and "SUMMARY:", and the text between them is the piped report's;
  - NO_COLOR=1, or TERM=dumb, on the same terminal: no escape at all (NO_COLOR empty does not
    count, as no-color.org says);
  - piped or to a file: no escape;
  - an error on a terminal's stderr has its "perfshim:" in red, and none with NO_COLOR (a
    warning's "warning:" is yellow the same way)."""
import os
import pty
import re
import subprocess

import pstest

SGR = re.compile(rb"\033\[[0-9;]*m")


def on_pty(cmd, env, stderr_pty=False):
    """Runs cmd with stdout (or stderr) on a new pseudo-terminal; returns what it wrote there,
    with the terminal's \\r\\n turned back into \\n."""
    master, slave = pty.openpty()
    full = os.environ.copy()
    full.pop("NO_COLOR", None)
    full["TERM"] = "xterm"
    full.update(env)
    p = subprocess.Popen(cmd, env=full, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL if stderr_pty else slave,
                         stderr=slave if stderr_pty else subprocess.DEVNULL)
    os.close(slave)
    out = b""
    while True:
        try:
            b = os.read(master, 65536)
        except OSError:  # EIO: every writer closed the terminal
            break
        if not b:
            break
        out += b
    p.wait(timeout=120)
    os.close(master)
    return out.replace(b"\r\n", b"\n")


def main():
    args = pstest.parse_args()
    ck = pstest.Checker("test_color")
    work = pstest.tmpdir("color")
    trace = os.path.join(work, "leaky.trace")
    p = pstest.run([os.path.join(args.bindir, "leaky")], cwd=work,
                   env={"LD_PRELOAD": args.lib, "PERFSHIM_OUTPUT": trace,
                        "PERFSHIM_LEAK_SCAN": "1"})
    if not ck.check(p.returncode == 0 and os.path.exists(trace), "leaky wrote its trace",
                    pstest.describe(p)):
        ck.done()
    cmd = [args.perfshim, "leaks", trace]
    piped = pstest.run(cmd).stdout
    ck.check(b"definitely lost" in piped and not SGR.search(piped),
             "a piped report has no escape sequence")
    with open(os.path.join(work, "report.txt"), "wb") as f:
        subprocess.run(cmd, stdout=f, check=False)
    with open(os.path.join(work, "report.txt"), "rb") as f:
        ck.check(not SGR.search(f.read()), "a report written to a file has no escape sequence")

    tty = on_pty(cmd, {})
    ck.check(b"\033[1mLeak 1 of " in tty, "on a terminal 'Leak N of M:' is bold", tty[:300])
    ck.check(b"\033[1;31mdefinitely lost\033[0m" in tty,
             "on a terminal 'definitely lost' is red", tty[:300])
    ck.check(b"\033[1mSUMMARY:\033[0m" in tty, "on a terminal 'SUMMARY:' is bold")
    ck.check(SGR.sub(b"", tty) == piped, "the coloured report without its escapes is the piped one")
    for env, what in (({"NO_COLOR": "1"}, "NO_COLOR=1"), ({"TERM": "dumb"}, "TERM=dumb")):
        t = on_pty(cmd, env)
        ck.check(b"definitely lost" in t and not SGR.search(t),
                 "with %s a terminal gets no escape" % what, t[:200])
    t = on_pty(cmd, {"NO_COLOR": ""})
    ck.check(SGR.search(t), "an empty NO_COLOR does not turn colour off (no-color.org)")

    # an error on stderr (a trace that does not exist): "perfshim:" in red on a terminal
    bad = [args.perfshim, "leaks", os.path.join(work, "missing.trace")]
    err = on_pty(bad, {}, stderr_pty=True)
    ck.check(err.startswith(b"\033[1;31mperfshim:\033[0m "), "an error on a terminal: red prefix",
             err)
    ck.check(SGR.sub(b"", err) == pstest.run(bad).stderr, "the error text without escapes")
    err = on_pty(bad, {"NO_COLOR": "1"}, stderr_pty=True)
    ck.check(err.startswith(b"perfshim: ") and not SGR.search(err), "NO_COLOR: a plain error", err)
    ck.done()


if __name__ == "__main__":
    main()
