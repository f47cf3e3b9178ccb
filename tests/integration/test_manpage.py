#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_manpage.py — perfshim(1) covers every subcommand (issue 14, "Ecosystem"): each command
that `perfshim --help` lists (but `help`) has its own entry under COMMANDS (`.TP` then `.B
cmd`), and each long option that `perfshim CMD --help` prints appears in the page. A new
subcommand or option without its man page text fails here. (perfshim-options.7 against the
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
    ck.done()


if __name__ == "__main__":
    main()
