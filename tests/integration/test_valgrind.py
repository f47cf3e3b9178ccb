#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_valgrind.py — valgrind started with libperfshim.so in LD_PRELOAD (`LD_PRELOAD=... valgrind
prog`, or `perfshim run -- valgrind prog`): the guest inherits the preload, and valgrind
replaces the shim's malloc, free, calloc, realloc and aligned allocators with its own, but not
reallocarray (valgrind 3.19) nor what the shim calls inside itself. Before the fix, blocks from
the shim's pool reached valgrind's free ("Invalid free() / delete / delete[] / realloc()" in the
program's own report: coreutils' ls and sort, vgguest.c), the guest's trace counted allocations
whose frees it never saw (false leaks), and the exit's leak scan read uninitialised stack
("Conditional jump or move depends on uninitialised value(s)" in reach.c). The shim now passes
straight through in the guest of a valgrind tool with an allocator of its own
(RUNNING_ON_VALGRIND, and a vgpreload_<tool> object loaded), as in a set-uid program.

Asserts, for full tracking, PERFSHIM_TRACK=0 and PERFSHIM_START=off: valgrind's report (pids
masked) and exit status equal those of the run without the shim, with no error and exactly the
program's leak; no trace of the guest; under callgrind (no allocator of its own) the guest
is traced; and without valgrind the same program is traced (its
leak found), so the detection does not switch the shim off natively. Skips without valgrind."""
import os
import re
import shutil

import pstest

MODES = [("full tracking", {}), ("pool only", {"PERFSHIM_TRACK": "0"}),
         ("dormant", {"PERFSHIM_START": "off"})]


def masked(b):
    return re.sub(rb"==\d+==", b"==PID==", b)


def main():
    args = pstest.parse_args()
    ck = pstest.Checker("test_valgrind")
    vg = shutil.which("valgrind")
    if not vg:
        ck.skip("valgrind is not installed")
    prog = os.path.join(args.bindir, "vgguest")
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vgguest.c")
    count, size = pstest.define(src, "VG_LEAK_COUNT"), pstest.define(src, "VG_LEAK_SIZE")
    work = pstest.tmpdir("ps-valgrind-")
    cmd = [vg, "-q", "--leak-check=full", "--error-exitcode=9", prog]
    bare = pstest.run(cmd, cwd=work, timeout=300)
    lost = b"%d bytes in %d blocks are definitely lost" % (count * size, count)
    if not ck.check(bare.returncode == 9 and lost in bare.stderr and bare.stdout == b"vgguest done\n",
                    "without the shim valgrind reports the program's leak and nothing else",
                    pstest.describe(bare)):
        ck.done()
    for label, env in MODES:
        tdir = os.path.join(work, re.sub(r"\W+", "_", label))
        os.makedirs(tdir)
        e = dict(env, LD_PRELOAD=args.lib, PERFSHIM_OUTPUT=os.path.join(tdir, "%e.%p.trace"))
        p = pstest.run(cmd, env=e, cwd=work, timeout=300)
        ck.equal(p.returncode, bare.returncode, "%s: valgrind's exit status" % label)
        ck.check(p.stdout == bare.stdout, "%s: the program's stdout" % label, pstest.describe(p))
        ck.check(b"Invalid free" not in p.stderr and b"uninitialised" not in p.stderr,
                 "%s: valgrind finds no error of the shim's making" % label,
                 p.stderr.decode(errors="replace")[:1500])
        ck.check(masked(p.stderr) == masked(bare.stderr),
                 "%s: valgrind's report identical to the run without the shim" % label,
                 p.stderr.decode(errors="replace")[:1500])
        guest = [n for n in os.listdir(tdir) if n.startswith("vgguest.")]
        ck.check(not guest, "%s: no trace of the valgrind guest" % label, repr(guest))
    # callgrind replaces no allocator: the shim runs in its guest as anywhere (text_order.py)
    tdir = os.path.join(work, "callgrind")
    os.makedirs(tdir)
    p = pstest.run([vg, "-q", "--tool=callgrind", "--callgrind-out-file=/dev/null", prog],
                   env={"LD_PRELOAD": args.lib,
                        "PERFSHIM_OUTPUT": os.path.join(tdir, "%e.%p.trace")}, cwd=work)
    guest = [n for n in os.listdir(tdir) if n.startswith("vgguest.")]
    ck.check(p.returncode == 0 and len(guest) == 1,
             "under callgrind (no allocator of its own) the guest is traced",
             pstest.describe(p) + repr(guest))
    # natively, the same program is traced and its leak found: the check is valgrind only
    tdir = os.path.join(work, "native")
    os.makedirs(tdir)
    p = pstest.run([prog], env={"LD_PRELOAD": args.lib,
                                "PERFSHIM_OUTPUT": os.path.join(tdir, "%e.%p.trace")}, cwd=work)
    traces = [os.path.join(tdir, n) for n in os.listdir(tdir)]
    ck.check(p.returncode == 0 and len(traces) == 1, "without valgrind the shim traces the program",
             pstest.describe(p) + repr(traces))
    if traces:
        a = pstest.run([args.perfshim, "leaks", "--json", traces[0]], cwd=work)
        reps = pstest.load_reports(a.stdout.decode()) if a.returncode == 0 else []
        leaks = pstest.leaks_from_file(reps[0], "vgguest.c") if reps else []
        blocks = sum(l["blocks"] for l in leaks)
        nbytes = sum(l["bytes"] for l in leaks)
        ck.check((blocks, nbytes) == (count, count * size),
                 "without valgrind the leak is reported: %d blocks, %d bytes" % (count, count * size),
                 "got %d blocks, %d bytes; %s" % (blocks, nbytes, a.stderr.decode(errors="replace")))
    ck.done()


if __name__ == "__main__":
    main()
