#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_sysroot.py — symbolizing a trace whose files are not where it recorded them (issue 14,
item 3: --sysroot DIR and --debug-dir DIR). examples/leaky runs under the shim from a scratch
directory; the report made while its binary is still in place is the oracle. Then:
  - the binary moves into ROOT + its recorded path (a container's root seen from the host):
    without --sysroot its frames are module+offset with a warning naming the module; with
    --sysroot ROOT the leak frames equal the oracle's;
  - a stripped copy (strip --strip-all) runs, its debug file (objcopy --only-keep-debug) in
    DIR/.build-id/xx/yyyy.debug: without --debug-dir no function names, with it (relative
    path, and --debug-dir=DIR) the oracle's frames; the same debug file under
    ROOT/usr/lib/debug/.build-id is found through --sysroot alone;
  - summary, export, check and diff take the options too (diff before its `--`);
  - a missing directory, or an option without one, exits 2 naming it."""
import json
import os
import shutil
import subprocess

import pstest


def frames(rep):
    """Every leak's own frames (function, file, line) in report order."""
    return [[(f.get("function"), f.get("file"), f.get("line")) for f in l["stack"]]
            for l in rep["leaks"]]


def leaks_json(args, trace, *opts, cwd=None):
    p = pstest.run([args.perfshim, "leaks", "--json", *opts, trace], cwd=cwd)
    return p, (json.loads(p.stdout) if p.returncode == 0 and p.stdout else None)


def main():
    args = pstest.parse_args()
    ck = pstest.Checker("test_sysroot")
    for tool in ("strip", "objcopy", "readelf"):
        if not shutil.which(tool):
            ck.skip("%s is not installed" % tool)
    work = pstest.tmpdir("sysroot")
    app = os.path.join(work, "app")
    os.makedirs(app)
    leaky = os.path.join(app, "leaky")
    shutil.copy2(os.path.join(args.bindir, "leaky"), leaky)
    env = {"LD_PRELOAD": args.lib, "PERFSHIM_LEAK_SCAN": "0"}

    trace = os.path.join(work, "moved.trace")
    p = pstest.run([leaky], cwd=work, env=dict(env, PERFSHIM_OUTPUT=trace))
    if not ck.check(p.returncode == 0 and os.path.exists(trace), "leaky ran", pstest.describe(p)):
        ck.done()
    p, oracle = leaks_json(args, trace)
    want = frames(oracle) if oracle else []
    ck.check(any(f[0] == "leak_malloc" for fs in want for f in fs),
             "the oracle (binary in place) names leak_malloc")

    # 1. the binary moves under ROOT
    root = os.path.join(work, "root")
    os.makedirs(os.path.join(root, app.lstrip("/")))
    os.rename(leaky, os.path.join(root, leaky.lstrip("/")))
    p, rep = leaks_json(args, trace)
    ck.check(rep and not any(f[0] == "leak_malloc" for fs in frames(rep) for f in fs),
             "moved away: no leak_malloc frame without --sysroot")
    ck.check(b"cannot open module " + leaky.encode() in p.stderr,
             "moved away: a warning names the module", p.stderr.decode("utf-8", "replace"))
    p, rep = leaks_json(args, trace, "--sysroot", root)
    ck.check(rep and frames(rep) == want, "--sysroot ROOT: the oracle's frames",
             p.stderr.decode("utf-8", "replace"))
    ck.check(b"cannot open module" not in p.stderr, "--sysroot ROOT: no warning")

    # 2. a stripped binary, its debug file elsewhere
    dbg = pstest.run(["objcopy", "--only-keep-debug", os.path.join(args.bindir, "leaky"),
                      os.path.join(work, "leaky.debug")])
    shutil.copy2(os.path.join(args.bindir, "leaky"), leaky)
    st = pstest.run(["strip", "--strip-all", leaky])
    ck.check(dbg.returncode == 0 and st.returncode == 0, "objcopy and strip")
    notes = pstest.run(["readelf", "-n", leaky]).stdout.decode()
    bid = [l.split()[-1] for l in notes.splitlines() if "Build ID" in l]
    if not ck.check(bid, "the stripped binary has a build-id", notes):
        ck.done()
    bid = bid[0]
    ddir = os.path.join(work, "dbg")
    os.makedirs(os.path.join(ddir, ".build-id", bid[:2]))
    shutil.copy2(os.path.join(work, "leaky.debug"),
                 os.path.join(ddir, ".build-id", bid[:2], bid[2:] + ".debug"))
    strace = os.path.join(work, "stripped.trace")
    p = pstest.run([leaky], cwd=work, env=dict(env, PERFSHIM_OUTPUT=strace))
    ck.check(p.returncode == 0 and os.path.exists(strace), "the stripped leaky ran")
    p, rep = leaks_json(args, strace)
    ck.check(rep and not any(f[0] == "leak_malloc" for fs in frames(rep) for f in fs),
             "stripped: no leak_malloc frame without --debug-dir")
    p, rep = leaks_json(args, strace, "--debug-dir", "dbg", cwd=work)
    ck.check(rep and frames(rep) == want, "--debug-dir (relative): the oracle's frames",
             p.stderr.decode("utf-8", "replace"))
    p, rep = leaks_json(args, strace, "--debug-dir=" + ddir)
    ck.check(rep and frames(rep) == want, "--debug-dir=DIR: the oracle's frames")

    # 3. the stripped binary and its debug file both under ROOT: --sysroot alone
    sroot = os.path.join(work, "sroot")
    os.makedirs(os.path.join(sroot, app.lstrip("/")))
    shutil.copytree(ddir, os.path.join(sroot, "usr", "lib", "debug"))
    os.rename(leaky, os.path.join(sroot, leaky.lstrip("/")))
    p, rep = leaks_json(args, strace, "--sysroot", sroot)
    ck.check(rep and frames(rep) == want,
             "--sysroot: the debug file under ROOT/usr/lib/debug is found",
             p.stderr.decode("utf-8", "replace"))

    # 4. the other commands that read traces
    s = pstest.run([args.perfshim, "summary", "--debug-dir", ddir, "--json", strace])
    ck.check(s.returncode == 0 and b'"leak_malloc"' in s.stdout, "summary --debug-dir")
    e = pstest.run([args.perfshim, "export", "--format", "folded", "--debug-dir", ddir, strace])
    ck.check(e.returncode == 0 and b";leak_malloc " in e.stdout, "export --debug-dir",
             e.stdout[:300].decode("utf-8", "replace"))
    c = pstest.run([args.perfshim, "check", "--debug-dir", ddir, "--fail-on", "leaked=0", strace])
    ck.check(c.returncode == 1 and b"broken at leak_malloc (leaky.c:" in c.stdout,
             "check --debug-dir names the site of the broken budget",
             c.stdout.decode("utf-8", "replace"))
    d = pstest.run([args.perfshim, "diff", "--debug-dir", ddir, strace, "--", strace])
    ck.check(d.returncode == 0, "diff --debug-dir BASE -- NEW", d.stderr.decode())

    # 5. errors
    missing = os.path.join(work, "no-such-dir")
    for opt in ("--sysroot", "--debug-dir"):
        p = pstest.run([args.perfshim, "leaks", opt, missing, trace])
        ck.check(p.returncode == 2 and (opt + " " + missing).encode() in p.stderr,
                 "%s of a missing directory: exit 2 naming it" % opt, p.stderr.decode())
        p = pstest.run([args.perfshim, "leaks", trace, opt])
        ck.check(p.returncode == 2 and b"needs a directory" in p.stderr,
                 "%s without a directory: exit 2" % opt, p.stderr.decode())
    ck.done()


if __name__ == "__main__":
    main()
