#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_typos.py — an unknown PERFSHIM_* name is reported, once, naming the closest option
(issue 11, item 7; docs/options.md). examples/leaky runs under the shim (LD_PRELOAD) with:
  - PERFSHIM_DEPHT=8: exactly one warning line, naming PERFSHIM_DEPTH, also in the trace's
    messages (`perfshim summary --json`), and the depth stays the default;
  - two unknown names: two lines, each with its own suggestion;
  - a far-off name (PERFSHIM_ZZZZQQQ): one line, without a suggestion;
  - only valid options: stderr exactly as without the shim.
Under `perfshim run` (with PERFSHIM_LIB, which only the analyzer reads, set too), forkexec and
its exec'd child print no shim line at all; with a typo, one line per process that starts
(the forked child is not a new start), none from perfshim run itself."""
import json
import os
import re

import pstest

SHIM_LINE = re.compile(rb"^perfshim: .*$", re.M)


def shim_lines(p):
    return [l.decode("utf-8", "replace") for l in SHIM_LINE.findall(p.stderr)]


def line(name, near=None):
    if near:
        return ("perfshim: warning: %s is not a perfshim option (did you mean %s?); it is ignored"
                % (name, near))
    return "perfshim: warning: %s is not a perfshim option; it is ignored" % name


def main():
    args = pstest.parse_args()
    ck = pstest.Checker("test_typos")
    leaky = os.path.join(args.bindir, "leaky")
    forkexec = os.path.join(args.bindir, "forkexec")
    work = pstest.tmpdir("typos")
    out = os.path.join(work, "%e.%p.trace")
    bare = pstest.run([leaky], cwd=work)
    ck.check(bare.returncode == 0 and not shim_lines(bare), "leaky runs without the shim",
             pstest.describe(bare))

    def preload(label, extra):
        for f in os.listdir(work):
            os.unlink(os.path.join(work, f))
        env = dict(extra, LD_PRELOAD=args.lib, PERFSHIM_OUTPUT=out)
        p = pstest.run([leaky], env=env, cwd=work)
        ck.check(p.returncode == bare.returncode and p.stdout == bare.stdout,
                 "%s: the program runs as without the shim" % label, pstest.describe(p))
        traces = [os.path.join(work, f) for f in os.listdir(work) if f.endswith(".trace")]
        return p, traces

    # one typo: one line, the suggestion, the trace has it, the option keeps its default
    p, traces = preload("DEPHT", {"PERFSHIM_DEPHT": "8"})
    ck.equal(shim_lines(p), [line("PERFSHIM_DEPHT", "PERFSHIM_DEPTH")],
             "PERFSHIM_DEPHT=8: the shim's stderr lines")
    if ck.check(len(traces) == 1, "PERFSHIM_DEPHT=8: one trace", repr(traces)):
        s = pstest.run([args.perfshim, "summary", "--json", traces[0]], cwd=work)
        try:
            rep = json.loads(s.stdout.decode())
        except ValueError:
            rep = {}
        texts = [m.get("text") for m in rep.get("messages", [])]
        ck.equal(texts, [line("PERFSHIM_DEPHT", "PERFSHIM_DEPTH")[len("perfshim: warning: "):]],
                 "PERFSHIM_DEPHT=8: the trace's messages")
        opts = rep.get("process", {}).get("options", {})
        ck.equal(opts.get("PERFSHIM_DEPTH"), "64",
                 "PERFSHIM_DEPHT=8: the trace's PERFSHIM_DEPTH (the default)")

    # two typos, two lines (in environment order), each with its own suggestion
    p, _ = preload("two typos", {"PERFSHIM_DEPHT": "8", "PERFSHIM_LOCK": "1"})
    ck.equal(sorted(shim_lines(p)), sorted([line("PERFSHIM_DEPHT", "PERFSHIM_DEPTH"),
                                            line("PERFSHIM_LOCK", "PERFSHIM_LOCKS")]),
             "PERFSHIM_DEPHT and PERFSHIM_LOCK: the shim's stderr lines")

    # nothing close: no suggestion
    p, _ = preload("far", {"PERFSHIM_ZZZZQQQ": "1"})
    ck.equal(shim_lines(p), [line("PERFSHIM_ZZZZQQQ")], "PERFSHIM_ZZZZQQQ=1: the shim's stderr")

    # valid options only (including the test-only fault switches, off): stderr as without it
    p, _ = preload("valid", {"PERFSHIM_DEPTH": "8", "PERFSHIM_LOCKS": "1", "PERFSHIM_MODE": "full",
                             "PERFSHIM_FAULT_MAP": "0", "PERFSHIM_LIB": args.lib})
    ck.check(p.stderr == bare.stderr, "valid options only: stderr exactly as without the shim",
             pstest.describe(p))

    # perfshim run sets PERFSHIM_LOCKS, PERFSHIM_TRACE_LIST (and PERFSHIM_OUTPUT with -o) for
    # the command and its children; PERFSHIM_LIB is the analyzer's: no warning anywhere
    env = {"PERFSHIM_LIB": args.lib, "PERFSHIM_DEPTH": "8"}
    p, reps = pstest.perfshim_run_json(args, ck, [forkexec, leaky], work, env=env)
    ck.check(p.returncode == 0 and reps is not None and len(reps) == 3,
             "perfshim run forkexec: three reports", pstest.describe(p))
    ck.equal(shim_lines(p), [], "perfshim run forkexec, valid options: shim lines on stderr")

    env["PERFSHIM_DEPHT"] = "8"
    p, reps = pstest.perfshim_run_json(args, ck, [forkexec, leaky], work, env=env)
    ck.check(p.returncode == 0 and reps is not None and len(reps) == 3,
             "perfshim run forkexec with a typo: three reports", pstest.describe(p))
    ck.equal(shim_lines(p), [line("PERFSHIM_DEPHT", "PERFSHIM_DEPTH")] * 2,
             "perfshim run forkexec with PERFSHIM_DEPHT: one line from the parent, one from the "
             "exec'd child")
    ck.done()


if __name__ == "__main__":
    main()
