#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_sandboxed.py — a real program that sandboxes itself with libseccomp: Universal Ctags
(Debian's universal-ctags) in `--_interactive=sandbox` mode reads JSON requests on stdin, and
after start-up installs a filter that kills it (SIGSYS) for any system call outside its short
list, opening files included. Under the shim it died at exit (the trace's creation), exit
status -31, its last reply unwritten. Checks, without and with the shim (full tracking, and
PERFSHIM_TRACK=0): the same stdout, stderr and exit status for a generate-tags request on a
C file given inline; with full tracking one complete trace that ends at the sandbox (its
message names the seccomp filter)."""
import os
import shutil
import subprocess

import realtest
from realtest import pstest

SOURCE = b"""#include <stdlib.h>
struct point { int x, y; };
static int counter;
int area(struct point *p) { return p->x * p->y; }
int main(void) { struct point *p = malloc(sizeof *p); p->x = 2; p->y = 3; return area(p) - 6; }
"""


def main():
    args = realtest.parse_args()
    ck = pstest.Checker("real sandboxed (ctags)")
    ctags = shutil.which("ctags-universal") or shutil.which("ctags")
    if not ctags:
        ck.skip("universal-ctags is not installed (scripts/install-deps.sh installs it)")
    probe = subprocess.run([ctags, "--list-features"], capture_output=True)
    if b"sandbox" not in probe.stdout:
        ck.skip("%s is not Universal Ctags built with its seccomp sandbox" % ctags)
    base = pstest.tmpdir("real-sandboxed")
    request = (b'{"command":"generate-tags","filename":"point.c","size":%d}\n' % len(SOURCE)
               + SOURCE)
    cmd = [ctags, "--_interactive=sandbox"]
    env0 = {k: v for k, v in os.environ.items() if not k.startswith("PERFSHIM_")}
    bare = subprocess.run(cmd, input=request, capture_output=True, env=env0, cwd=base,
                          timeout=120)
    ck.check(bare.returncode == 0 and b'"name": "area"' in bare.stdout,
             "without the shim: ctags answers the request", pstest.describe(bare))
    for mode, extra in (("full", {}), ("track0", {"PERFSHIM_TRACK": "0"})):
        tdir = os.path.join(base, mode)
        os.mkdir(tdir)
        env = dict(env0, LD_PRELOAD=args.lib, PERFSHIM_OUTPUT=os.path.join(tdir, "%e.%p.trace"),
                   **extra)
        p = subprocess.run(cmd, input=request, capture_output=True, env=env, cwd=base,
                           timeout=120)
        ck.equal(p.returncode, bare.returncode, "%s: exit status as without the shim" % mode)
        ck.equal(p.stdout, bare.stdout, "%s: stdout as without the shim" % mode)
        ck.equal(p.stderr, bare.stderr, "%s: stderr as without the shim" % mode)
        if mode != "full":
            continue
        traces = [os.path.join(tdir, f) for f in os.listdir(tdir)]
        if not ck.equal(len(traces), 1, "%s: one trace" % mode):
            continue
        raw = pstest.RawTrace(traces[0])
        ck.check(raw.error is None and raw.end is not None and raw.snapshots,
                 "%s: the trace is complete" % mode, str(raw.error))
        a = pstest.run([args.perfshim, "leaks", "--json", traces[0]], cwd=base)
        rep = pstest.load_reports(a.stdout.decode())[0] if a.returncode == 0 else {}
        ck.check(any("seccomp filter" in m["text"] for m in rep.get("messages", [])),
                 "%s: the trace says it ends at the seccomp filter" % mode, pstest.describe(a))
    if not args.keep:
        shutil.rmtree(base, ignore_errors=True)
    ck.done()


if __name__ == "__main__":
    main()
