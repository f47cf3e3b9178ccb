#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_symtab_label.py — a frame without debug information inside a function that holds a
global label is named after the function, as addr2line names it, not after the label.

Found on node (session 12): V8's builtins carry labels (`construct_stub_create_deopt_addr`,
NOTYPE, size 0) inside sized functions (`Builtins_JSConstructStubGeneric`, FUNC, 412 bytes);
the symbol-table lookup took the closest symbol at or below the address whatever its size.
A C program built here without -g (cc; skipped, 77, without a compiler) puts a global label
in a function before a malloc it leaks: `leaks --json` must name the leak's frame
`outer_with_label` (before the fix: `inner_label_of_outer`), as elfutils' eu-addr2line does
(binutils' addr2line names the global label here, the function in node, where the label is
local)."""
import json
import os
import shutil
import subprocess

import pstest

SRC = r"""
#include <stdio.h>
#include <stdlib.h>
void *volatile keep;
__attribute__((noinline)) void *outer_with_label(size_t n)
{
    __asm__ volatile(".globl inner_label_of_outer\ninner_label_of_outer:\n");
    void *p = malloc(n);
    if (p)
        ((char *)p)[0] = 1;
    return p;
}
int main(void)
{
    keep = outer_with_label(123);
    keep = NULL;
    puts("done");
    return 0;
}
"""


def main():
    args = pstest.parse_args()
    ck = pstest.Checker("test_symtab_label")
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        ck.skip("no C compiler")
    work = pstest.tmpdir("symtab_label")
    src, exe = os.path.join(work, "label.c"), os.path.join(work, "label")
    with open(src, "w") as f:
        f.write(SRC)
    c = pstest.run([cc, "-O1", "-o", exe, src])
    if c.returncode != 0:
        ck.skip("cannot build the program: %s" % pstest.describe(c))
    trace = os.path.join(work, "label.trace")
    p = pstest.run([exe], env={"LD_PRELOAD": args.lib, "PERFSHIM_OUTPUT": trace})
    ck.check(p.returncode == 0 and p.stdout == b"done\n", "the program runs under the shim",
             pstest.describe(p))
    r = pstest.run([args.perfshim, "leaks", "--json", trace])
    if not ck.check(r.returncode == 0, "leaks --json reads the trace", pstest.describe(r)):
        ck.done()
    rep = json.loads(r.stdout)
    leaks = [l for l in rep["leaks"] if l["bytes"] == 123]
    if not ck.check(len(leaks) == 1, "one leak of 123 bytes", json.dumps(rep)[:2000]):
        ck.done()
    top = leaks[0]["stack"][0]
    ck.equal(top.get("function"), "outer_with_label", "the leak's frame #0 is named after "
             "the function around the label")
    a2l = shutil.which("eu-addr2line")
    off = top.get("offset")
    if a2l and isinstance(off, str):
        q = subprocess.run([a2l, "-f", "-e", exe, "%#x" % (int(off, 16) - 1)],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        ck.equal(q.stdout.decode().split("\n")[0], "outer_with_label", "eu-addr2line's name")
    ck.done()


if __name__ == "__main__":
    main()
