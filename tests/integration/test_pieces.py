#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_pieces.py — PERFSHIM_MAX_TRACE when one piece is larger than the bound (issue 11):
tests/integration/manystacks.c reaches malloc by 2048 stacks, so each piece (every stack and a
keyframe, then one more snapshot) is several times a 160k bound. The files on disk at exit must
total at most max(bound, first piece + last piece): the older pieces are deleted as their sizes
require, not kept three at a time whatever their size (which made the files 3-70 times the
bound). Each piece left is complete, and the last one holds the exit snapshot with exactly the
blocks the program says it kept, every stack its rows name defined in it. No wall-clock
assertion: the run is made longer until it has written 5 pieces."""
import os
import re

import pstest


def main():
    args = pstest.parse_args()
    ck = pstest.Checker("test_pieces")
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "manystacks.c")
    keep_size = pstest.define(src, "MANY_KEEP_SIZE")
    prog = os.path.join(args.bindir, "manystacks")
    work = pstest.tmpdir("pieces")
    mdir = os.path.join(work, "many")
    bound = 160 * 1024
    env = {"PERFSHIM_INTERVAL": "20ms", "PERFSHIM_MAX_TRACE": "160k", "LD_PRELOAD": args.lib,
           "PERFSHIM_OUTPUT": os.path.join(mdir, "m.trace")}
    # 5 pieces or more, so that older pieces had to be deleted (longer runs on a busy machine)
    p, names, parts = pstest.run_pieces([prog], env, mdir, "m.trace", (1500, 4000, 10000, 25000))
    ck.equal((p.returncode, p.stderr), (0, b""), "the program runs as without the shim")
    m = re.search(rb"kept (\d+) paths (\d+)", p.stdout)
    if not ck.check(m is not None and parts and parts[-1][0] >= 5,
                    "the program prints its counts; 5 pieces or more were written",
                    "%s %r" % (pstest.describe(p), names)):
        ck.done()
    kept, paths = int(m.group(1)), int(m.group(2))
    last = parts[-1][1]
    sizes = pstest.check_pieces(ck, mdir, "m.trace", names, parts, bound, "MAX_TRACE")
    ck.check(sizes[last] > bound // 4,
             "one piece is larger than a quarter of the bound (what this test is about)",
             repr(sizes))
    raw = pstest.RawTrace(os.path.join(mdir, last))
    snap = raw.snapshots[-1] if raw.snapshots else None
    keep_rows = [r for r in snap["rows"] if r["live_blocks"] and
                 r["live_bytes"] == r["live_blocks"] * keep_size] if snap else []
    ck.check(snap is not None and snap["reason"] == pstest.SNAP_EXIT and
             len(keep_rows) == paths and sum(r["live_blocks"] for r in keep_rows) == kept,
             "the last piece ends with the exit snapshot: one kept block on each of the %d "
             "stacks" % paths, "%d rows, %d blocks, kept %d" %
             (len(keep_rows), sum(r["live_blocks"] for r in keep_rows), kept))
    q = pstest.run([args.perfshim, "leaks", "--json", os.path.join(mdir, last)])
    try:
        rep = pstest.load_reports(q.stdout.decode("utf-8"))[0]
        got = sum(lk["blocks"] for lk in rep["leaks"] if lk["bytes"] == lk["blocks"] * keep_size)
    except (ValueError, IndexError, KeyError) as e:
        got = "no report (%s)" % e
    ck.equal(got, kept, "leaks reads the last piece: the kept blocks, exact")
    ck.done()


if __name__ == "__main__":
    main()
