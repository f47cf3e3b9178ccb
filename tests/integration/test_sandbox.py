#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_sandbox.py — a program that sandboxes itself with seccomp (sandbox.c: prctl
PR_SET_SECCOMP or syscall(SYS_seccomp), a filter that kills the process, SIGSYS, when it opens
or unlinks a file, as OpenSSH's pre-auth child does). The shim created its trace at exit and
killed its host. Now it writes the last snapshot before the filter is installed and traces no
further. Checks, under full tracking, PERFSHIM_TRACK=0, PERFSHIM_SAMPLE and PERFSHIM_INTERVAL:
the exit status and output are the plain run's (the program was killed); in full tracking one
complete trace whose snapshot holds the block allocated before the filter at its line, with a
message naming the sandbox, and nothing allocated after it; libseccomp's probe (a FILTER
request without a program) does not end tracing; an errno-returning filter gives the same."""
import os

import pstest

def main():
    args = pstest.parse_args()
    ck = pstest.Checker("test_sandbox")
    prog = os.path.join(args.bindir, "sandbox")
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sandbox.c")
    marks = pstest.markers(src)
    work = pstest.tmpdir("sandbox")
    for how in (["prctl"], ["seccomp"], ["prctl", "errno"]):
        plain = pstest.run([prog] + how, cwd=work)
        label = " ".join(how)
        if plain.returncode != 0:
            ck.skip("seccomp filters are not available here: %s" % pstest.describe(plain))
        for mode, extra in pstest.TRACKING_MODES.items():
            if how[-1] == "errno" and mode != "full":
                continue
            d = os.path.join(work, "%s-%s" % ("-".join(how), mode))
            os.mkdir(d)
            env = {"LD_PRELOAD": args.lib, "PERFSHIM_OUTPUT": os.path.join(d, "%e.%p.trace")}
            env.update(extra)
            p = pstest.run([prog] + how, env=env, cwd=d)
            what = "%s, %s" % (label, mode)
            ck.equal(p.returncode, 0, "%s: the program is not killed (exit status)" % what)
            ck.equal(p.stdout, plain.stdout, "%s: output as without the shim" % what)
            ck.equal(p.stderr, b"", "%s: nothing on stderr" % what)
            if mode != "full":
                continue
            t, rep = pstest.sole_trace_leaks(
                ck, args.perfshim, d, what,
                "one trace (the parent's; the child's sandbox came from its parent)")
            if not t:
                continue
            texts = [m["text"] for m in rep.get("messages", [])]
            ck.check(any("seccomp filter" in m for m in texts),
                     "%s: a message says tracing ended at the sandbox" % what, repr(texts))
            ck.check(pstest.leaks_at(rep, "sandbox.c", marks["LEAK:before"]),
                     "%s: the block allocated before the filter is at its line (%d)"
                     % (what, marks["LEAK:before"]), pstest.fmt_report(rep))
            ck.check(pstest.leaks_at(rep, "sandbox.c", marks["LEAK:after_probe"]),
                     "%s: libseccomp's probe did not end tracing (line %d)"
                     % (what, marks["LEAK:after_probe"]), pstest.fmt_report(rep))
            ck.equal(sum(l["blocks"] for l in rep["leaks"]
                         if pstest.leaks_from_file({"leaks": [l]}, "sandbox.c")), 2,
                     "%s: nothing allocated after the filter is in the trace" % what)
    ck.done()


if __name__ == "__main__":
    main()
