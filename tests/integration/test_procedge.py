#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_procedge.py — tests/integration/procedge.c: the trace is written where it was asked for
(a relative PERFSHIM_OUTPUT resolved against the starting directory) and nowhere else, whatever
the program does to its descriptors and working directory:
  vfork + exec, vfork + _exit; closing every descriptor (before the trace exists, and after a
  dump opened it: the shim reopens its file by path); every descriptor 3..1023 reused for the
  program's own file (it must stay exactly as the program wrote it, also with every stack
  walked by libunwind, which once kept a pipe among those numbers); the trace replaced by a symlink
  while closed (the shim must not write through it); chdir elsewhere; chdir into a directory
  that is then removed. Leaks are exact in every case."""
import os
import re

import pstest

REUSE_TEXT = b"the program's own file\n"


def main():
    args = pstest.parse_args()
    ck = pstest.Checker("test_procedge")
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "procedge.c")
    marks = pstest.markers(src)
    d = lambda n: pstest.define(src, n)
    prog = os.path.join(args.bindir, "procedge")
    edge = (d("PROCEDGE_LEAKS"), d("PROCEDGE_LEAKS") * d("PROCEDGE_SIZE"))
    early = (d("PROCEDGE_EARLY"), d("PROCEDGE_EARLY") * d("PROCEDGE_EARLY_SIZE"))
    leaf = (d("PROCEDGE_LEAF_LEAKS"), d("PROCEDGE_LEAF_LEAKS") * d("PROCEDGE_LEAF_SIZE"))
    none = (0, 0)

    def run(label, argv, sites, ntraces=1, env=None, setup=None):
        work = pstest.tmpdir("procedge")
        elsewhere = pstest.tmpdir("procedge-elsewhere")
        argv = [a.format(work=work, elsewhere=elsewhere) for a in argv]
        if setup:
            setup(work)
        e = {"LD_PRELOAD": args.lib, "PERFSHIM_OUTPUT": "traces/%e.%p.trace"}
        e.update(env or {})
        os.mkdir(os.path.join(work, "traces"))
        p = pstest.run([prog] + argv, env=e, cwd=work)
        ok = ck.check(p.returncode == 0 and ("procedge %s: ok" % argv[0]).encode() in p.stderr,
                      "%s: exits 0 and its own checks passed" % label, pstest.describe(p))
        tdir = os.path.join(work, "traces")
        traces = sorted(os.path.join(tdir, f) for f in os.listdir(tdir))
        stray = [os.path.join(r, f) for r, _, fs in os.walk(elsewhere) for f in fs]
        stray += [f for f in os.listdir(work) if ".trace" in f]
        ck.check(not stray, "%s: no trace outside the starting directory's traces/" % label,
                 repr(stray))
        ck.equal(len(traces), ntraces, "%s: traces written" % label)
        if not ok or not traces:
            return p, work, []
        a = pstest.run([args.perfshim, "leaks", "--json"] + traces, cwd=work)
        if not ck.check(a.returncode == 0, "%s: perfshim leaks reads the traces" % label,
                        pstest.describe(a)):
            return p, work, []
        reps = pstest.load_reports(a.stdout.decode())
        for i, rep in enumerate(reps):
            want = sites[i] if isinstance(sites, list) else sites
            for name, (blocks, nbytes) in want.items():
                pstest.check_site(ck, rep, src, marks, name, blocks, nbytes,
                                  None, "%s (%s)" % (label, rep["process"]["argv"][1]))
        return p, work, reps

    # vfork: the parent's trace, and the exec'd leaf's own; the _exit'ed child writes none
    _, _, reps = run("vfork-exec", ["vfork-exec"],
                     [{"edge": edge, "leaf": none}, {"edge": none, "leaf": leaf}], ntraces=2)
    if len(reps) == 2:
        ck.equal(sorted(r["process"]["argv"][1] for r in reps), ["leaf", "vfork-exec"],
                 "vfork-exec: one trace is the leaf's")
    run("vfork-exit", ["vfork-exit"], {"edge": edge, "leaf": none})

    # descriptors
    run("closeall", ["closeall"], {"edge": edge, "early": none})
    _, _, reps = run("closeall after a dump", ["closeall", "dump"], {"edge": edge, "early": early})
    if reps:
        ck.equal(reps[0]["snapshot"]["snapshots"], 2,
                 "closeall after a dump: both snapshots in one file (reopened by path)")
    for label, env in (("reuse", None), ("reuse, libunwind", {"PERFSHIM_UNWIND": "libunwind"})):
        _, work, reps = run(label, ["reuse", "{work}/own.txt"], {"edge": edge, "early": early},
                            env=env)
        own = os.path.join(work, "own.txt")
        data = open(own, "rb").read() if os.path.exists(own) else None
        ck.equal(data, REUSE_TEXT, "%s: the program's file holds only what it wrote" % label)
        if reps:
            ck.equal(reps[0]["snapshot"]["snapshots"], 2,
                     "%s: both snapshots in the trace (reopened by path)" % label)

    # the trace replaced by a symlink while the program had it closed
    def victim(work):
        with open(os.path.join(work, "victim"), "wb") as f:
            f.write(b"victim\n")
    work = pstest.tmpdir("procedge-swap")
    victim(work)
    e = {"LD_PRELOAD": args.lib, "PERFSHIM_OUTPUT": os.path.join(work, "swap.trace")}
    p = pstest.run([prog, "swap", os.path.join(work, "swap.trace"), os.path.join(work, "victim")],
                   env=e, cwd=work)
    ck.check(p.returncode == 0 and b"procedge swap: ok" in p.stderr, "swap: exits 0",
             pstest.describe(p))
    ck.equal(open(os.path.join(work, "victim"), "rb").read(), b"victim\n",
             "swap: nothing written through the symlink")
    ck.check(os.path.islink(os.path.join(work, "swap.trace")), "swap: the symlink is untouched")
    ck.check(re.search(rb"perfshim: warning: trace .*swap.trace was closed", p.stderr),
             "swap: the shim says the rest of the trace is lost", pstest.describe(p))

    # working directory
    run("chdir", ["chdir", "{elsewhere}"], {"edge": edge})
    run("rmdir", ["rmdir", "{elsewhere}/gone"], {"edge": edge})
    ck.done()


if __name__ == "__main__":
    main()
