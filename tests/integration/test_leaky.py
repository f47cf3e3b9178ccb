#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_leaky.py — examples/leaky.c under the shim: exact blocks and bytes at each LEAK marker,
the right function name, no NOLEAK line in any report, exact totals for the program's own leaks.

  --program leaky|leaky_O2   which build of leaky.c (-O0, or -O2 -fomit-frame-pointer)
  --route run                `perfshim run --json -- PROGRAM` (and the text report once)
  --route preload            LD_PRELOAD=libperfshim.so PROGRAM, then `perfshim leaks --json TRACE`
"""
import os

import pstest


def extra(ap):
    ap.add_argument("--program", default="leaky")
    ap.add_argument("--route", choices=("run", "preload"), default="run")


def expected(src):
    d = lambda n: pstest.define(src, n)
    return {
        # marker: (blocks, bytes, function)
        "malloc": (d("LEAKY_MALLOC_COUNT"), d("LEAKY_MALLOC_COUNT") * d("LEAKY_MALLOC_SIZE"),
                   "leak_malloc"),
        "calloc": (1, d("LEAKY_CALLOC_N") * d("LEAKY_CALLOC_SIZE"), "leak_calloc"),
        "realloc": (1, d("LEAKY_REALLOC_START") << d("LEAKY_REALLOC_STEPS"), "leak_realloc"),
        "memalign": (1, d("LEAKY_MEMALIGN_SIZE"), "leak_memalign"),
        "list_node": (d("LEAKY_LIST_NODES"), d("LEAKY_LIST_NODES") * d("LEAKY_NODE_SIZE"),
                      "leak_list"),
    }


def check_leaky_report(ck, rep, src, label):
    """Shared with test_forkexec (the exec'd leaky)."""
    marks = pstest.markers(src)
    exp = expected(src)
    if not pstest.check_report_shape(ck, rep, label):
        return
    ck.check(rep.get("complete") is True, "%s: report complete" % label)
    ck.check(os.path.basename(rep["process"].get("program", "")).startswith("leaky"),
             "%s: process.program is leaky" % label, repr(rep["process"]))
    for name, (blocks, nbytes, fn) in exp.items():
        pstest.check_site(ck, rep, src, marks, name, blocks, nbytes, fn, label)
    pstest.check_nonleaks(ck, rep, src, marks, label)
    # Everything leaky.c itself leaks is one of the marked sites, and nothing more:
    # the program writes only to (unbuffered) stderr, so libc leaks nothing either.
    total_b = sum(v[0] for v in exp.values())
    total_n = sum(v[1] for v in exp.values())
    own = pstest.leaks_from_file(rep, "leaky.c")
    ck.check(sum(l["blocks"] for l in own) == total_b and sum(l["bytes"] for l in own) == total_n,
             "%s: leaks from leaky.c total %d blocks %d bytes" % (label, total_b, total_n),
             pstest.fmt_report(rep))
    ck.check(rep["totals"]["leaked_blocks"] == total_b and rep["totals"]["leaked_bytes"] == total_n,
             "%s: totals are exactly %d blocks %d bytes" % (label, total_b, total_n),
             pstest.fmt_report(rep))


def main():
    args = pstest.parse_args(extra)
    ck = pstest.Checker("test_leaky %s %s" % (args.program, args.route))
    src = os.path.join(args.srcdir, "leaky.c")
    prog = os.path.join(args.bindir, args.program)
    work = pstest.tmpdir("leaky")
    label = "%s/%s" % (args.program, args.route)

    if args.route == "run":
        p, reports = pstest.perfshim_run_json(args, ck, [prog], cwd=work)
        ck.equal(p.returncode, 0, "perfshim run exit status (the command's)")
        ck.check(b"leaky: done" in p.stderr, "the program's stderr passes through",
                 pstest.describe(p))
        if reports is None:
            ck.done()
        ck.equal(len(reports), 1, "number of traces")
        if reports:
            check_leaky_report(ck, reports[0], src, label)

        # The text report (stderr) names every leak site as file:line.
        t = pstest.run([args.perfshim, "run", "--", prog], cwd=work)
        ck.equal(t.returncode, 0, "perfshim run (text) exit status")
        ck.equal(t.stdout, b"", "perfshim run (text) prints nothing on stdout for leaky")
        text = t.stderr.decode("utf-8", "replace")
        marks = pstest.markers(src)
        for key, line in sorted(marks.items()):
            want = "leaky.c:%d" % line
            if key.startswith("LEAK:"):
                ck.check(want in text, "text report names %s (%s)" % (want, key), text[-3000:])
            else:
                ck.check(want not in text, "text report does not name %s (%s)" % (want, key))
    else:
        p, traces, reports = pstest.preload_and_analyze(args, ck, [prog], work)
        ck.equal(p.returncode, 0, "exit status under LD_PRELOAD")
        ck.equal(len(traces), 1, "traces written with PERFSHIM_OUTPUT=%e.%p.trace")
        if traces:
            pid = pstest.RawTrace(traces[0]).process["pid"]
            ck.check(os.path.basename(traces[0]) == "%s.%d.trace" % (args.program, pid),
                     "trace named after %e.%p", traces[0])
            mode = os.stat(traces[0]).st_mode & 0o777
            ck.equal(oct(mode), oct(0o600), "trace file mode")
        if len(reports) == 1:
            check_leaky_report(ck, reports[0], src, label)
    ck.done()


if __name__ == "__main__":
    main()
