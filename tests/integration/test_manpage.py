#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_manpage.py — perfshim(1) covers every subcommand (issue 14, "Ecosystem"): each command
that `perfshim --help` lists (but `help`) has its own entry under COMMANDS (`.TP` then `.B
cmd`), and each long option that `perfshim CMD --help` prints appears in the page. A new
subcommand or option without its man page text fails here. Every @NAME@ in the page is one
the build fills in (an unknown one became an empty string in the installed page). (perfshim-options.7 against the
shim's options is checked by the unit test check_internals.)"""
import os
import re

import pstest


def main():
    args = pstest.parse_args()
    ck = pstest.Checker("test_manpage")
    page = open(os.path.join(args.srcdir, "..", "docs", "man", "perfshim.1")).read()
    m = re.search(r"^\.SH COMMANDS\n(.*?)^\.SH ", page, re.M | re.S)
    if not ck.check(m, "perfshim.1 has a COMMANDS section"):
        ck.done()
    entries = set(re.findall(r"^\.TP\n\.BR? ([a-z-]+)", m.group(1), re.M))
    top = pstest.run([args.perfshim, "--help"]).stdout.decode()
    block = re.search(r"^Commands:\n(.*?)^\S", top, re.M | re.S)
    cmds = re.findall(r"^  ([a-z][a-z-]*) ", block.group(1) if block else "", re.M)
    ck.check(len(cmds) >= 8, "perfshim --help lists its commands", top)
    for c in cmds:
        if c == "help":
            continue
        ck.check(c in entries, "perfshim.1 COMMANDS has an entry for '%s'" % c)
        h = pstest.run([args.perfshim, c, "--help"])
        opts = sorted(set(re.findall(r"--[a-z][a-z0-9-]*", h.stdout.decode())))
        missing = [o for o in opts if o.replace("-", "\\-") not in page]
        ck.check(not missing, "perfshim.1 names every option of '%s --help'" % c,
                 " ".join(missing))
    # the build fills in @NAME@ (CMakeLists.txt: configure_file @ONLY, the PERFSHIM_MAN_*
    # paths); any other @NAME@ became an empty string in the installed page (FILES said "this
    # page shows them as , filled in at build time")
    names = set(re.findall(r"@([A-Za-z0-9_]+)@", page))
    ck.check(names and all(n.startswith("PERFSHIM_MAN_") for n in names),
             "perfshim.1: every @NAME@ is one the build fills in", " ".join(sorted(names)))
    ck.check(re.search(r"shows them as\n\.IR @\\&[A-Z]+@", page),
             "perfshim.1: the placeholder's own example is escaped from the build's filling")
    ck.done()


if __name__ == "__main__":
    main()
