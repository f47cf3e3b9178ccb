#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_huge_malloc.py — the analyzer asks glibc for malloc's memory in transparent huge pages
(analyzer/main.c, huge_malloc: GLIBC_TUNABLES gets glibc.malloc.hugetlb=1 and the analyzer
executes itself once more) and gives the programs it starts the user's environment back.

`perfshim run -- sh -c ...` with GLIBC_TUNABLES unset, empty, and set to another tunable:
the command sees exactly the user's GLIBC_TUNABLES (unset stays unset) and not the variable
that carried it over (PSANALYZER_TUNABLES_WAS). Where THP is "madvise", the analyzer's own
start-up environment (/proc/PID/environ of `run`, the command's parent) holds the tunable,
after the user's; a user who set glibc.malloc.hugetlb keeps their value. Elsewhere that part
is not checked (the analyzer does not execute itself again there). With LD_PRELOAD set for the
analyzer (valgrind's tools, the shim) it does not execute itself again either."""
import os
import subprocess

import pstest

SCRIPT = ('printf "T=%s|W=%s|P=" "${GLIBC_TUNABLES-unset}" "${PSANALYZER_TUNABLES_WAS-unset}"; '
          'tr "\\0" "\\n" < /proc/$PPID/environ | grep "^GLIBC_TUNABLES=" || true')


def thp_madvise():
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as fh:
            return "[madvise]" in fh.read()
    except OSError:
        return False


def main():
    args = pstest.parse_args()
    ck = pstest.Checker("test_huge_malloc")
    work = pstest.tmpdir("huge_malloc")
    base = {k: v for k, v in os.environ.items()
            if not k.startswith("PERFSHIM_") and k not in ("LD_PRELOAD", "GLIBC_TUNABLES")}
    base.update({"PERFSHIM_LIB": args.lib, "TMPDIR": work})
    madvise = thp_madvise()
    cases = [(None, "unset", "GLIBC_TUNABLES=glibc.malloc.hugetlb=1"),
             ("", "", "GLIBC_TUNABLES=glibc.malloc.hugetlb=1"),
             # (glibc 2.36 rewrites the variable in place as it parses it at start-up:
             # /proc/PID/environ then shows the first tunable only, so not checked here)
             ("glibc.malloc.tcache_count=3", "glibc.malloc.tcache_count=3", None),
             ("glibc.malloc.hugetlb=0", "glibc.malloc.hugetlb=0",
              "GLIBC_TUNABLES=glibc.malloc.hugetlb=0")]
    # something preloaded into the analyzer (valgrind's tools, the shim): not executed again,
    # or the tool would see the first start only (callgrind's counts of a report)
    cases.append(("preload", "unset", ""))
    for user, seen, analyzer in cases:
        env = dict(base)
        if user == "preload":
            env["LD_PRELOAD"] = args.lib
            env["PERFSHIM_OUTPUT"] = os.path.join(work, "analyzer.%p.trace")
        elif user is not None:
            env["GLIBC_TUNABLES"] = user
        p = subprocess.run([args.perfshim, "run", "-o", os.path.join(work, "%p.trace"), "--",
                            "sh", "-c", SCRIPT], env=env, cwd=work, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, timeout=120)
        out = p.stdout.decode("utf-8", "replace").strip()
        what = ("the analyzer preloaded" if user == "preload" else
                "GLIBC_TUNABLES %s" % ("unset" if user is None else repr(user)))
        ck.check(p.returncode == 0 and out.startswith("T=%s|W=unset|P=" % seen),
                 "%s: the command sees the user's value, not the carrier" % what,
                 pstest.describe(p))
        if madvise and analyzer is not None:
            ck.equal(out.split("|P=", 1)[-1], analyzer,
                     "%s: the analyzer's start-up GLIBC_TUNABLES (THP madvise)" % what)
    ck.done()


if __name__ == "__main__":
    main()
