#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_debug_inflate.py — a separate debug file with compressed sections (Debian's libc6-dbg)
is read from a copy libdeflate decompressed (analyzer/symbols.c, inflated_copy): the frames must
be exactly those libdw gives from the file itself. `leaky` is traced; `leaks`, `leaks --json`
and `export --format folded` are run with the copy (PA_SYMBOLS_DEBUG=1 must say that libc's
debug file was decompressed in memory) and without it (PA_SYMBOLS_NO_INFLATE=1), and must print
the same bytes, with libc frames named from its DWARF (a file:line of glibc's sources). Skipped
(77) when libc has no compressed debug file found by build-id, or the analyzer was built
without libdeflate."""
import os
import re
import sys

import pstest


def main():
    args = pstest.parse_args()
    ck = pstest.Checker("test_debug_inflate")
    work = pstest.tmpdir("dbginfl")
    leaky = os.path.join(args.bindir, "leaky")
    p, traces, _ = pstest.preload_and_analyze(args, ck, [leaky], work)
    ck.equal(p.returncode, 0, "leaky exits 0")
    if not traces:
        ck.done()
    t = traces[0]
    probe = pstest.run([args.perfshim, "leaks", t], env={"PA_SYMBOLS_DEBUG": "1"})
    if not re.search(rb"perfshim: symbols: \S+\.debug decompressed in memory", probe.stderr):
        print("skip: no compressed debug file was read (libc6-dbg missing, or no libdeflate)")
        sys.exit(77)
    for argv in (["leaks"], ["leaks", "--json"], ["export", "--format", "folded", "-o", "-"]):
        a = pstest.run([args.perfshim] + argv + [t])
        b = pstest.run([args.perfshim] + argv + [t], env={"PA_SYMBOLS_NO_INFLATE": "1"})
        what = " ".join(argv)
        ck.equal(a.returncode, 0, "%s exits 0" % what)
        ck.check(a.stdout == b.stdout and a.stderr == b.stderr,
                 "%s prints the same with and without the decompressed copy" % what,
                 "copy:\n%s\nfile:\n%s" % (a.stdout[:3000].decode(errors="replace"),
                                            b.stdout[:3000].decode(errors="replace")))
        if argv == ["leaks"]:
            ck.check(re.search(rb"__libc_start_call_main \(libc_start_call_main\.h:\d+\)",
                               a.stdout),
                     "libc's frames are named from its DWARF", a.stdout[:3000].decode(errors="replace"))
    ck.done()


if __name__ == "__main__":
    main()
