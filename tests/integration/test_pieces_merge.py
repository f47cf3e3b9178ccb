#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_pieces_merge.py — the pieces of one process's trace (PERFSHIM_MAX_TRACE) read as a new
user reads them (issue 11): every piece holds the process's whole state at its snapshots, so
- `leaks --merge`, `summary --merge`, `growth --merge` and `merge -o` given all the files of a
  process (`perfshim leaks --merge app.*`, what a shell glob gives) count that process once,
  from its latest piece: its figures are exactly the latest piece's, not the sum of the pieces
  (they were: one process counted as 3 or 4, its leaks as many times);
- a report on an earlier piece (the file PERFSHIM_OUTPUT names, the first one a user opens)
  warns that the process's later state is in the latest piece, and names it (it read as a
  complete trace of a process that ended there); `--at` a time before a later piece's first
  snapshot says that earlier times are in the pieces before it.
No wall-clock assertion: the run is made longer until it has written 3 pieces."""
import os

import pstest


def main():
    args = pstest.parse_args()
    ck = pstest.Checker("test_pieces_merge")
    prog = os.path.join(args.bindir, "manystacks")
    work = pstest.tmpdir("pieces_merge")
    mdir = os.path.join(work, "many")
    env = {"PERFSHIM_INTERVAL": "20ms", "PERFSHIM_MAX_TRACE": "160k", "LD_PRELOAD": args.lib,
           "PERFSHIM_OUTPUT": os.path.join(mdir, "m.trace")}
    p, names, parts = pstest.run_pieces([prog], env, mdir, "m.trace", (1500, 4000, 10000), want=3)
    if not ck.check(p.returncode == 0 and parts and len(names) >= 2,
                    "the program runs and leaves its first piece and a later one",
                    "%s %r" % (pstest.describe(p), names)):
        ck.done()
    last = os.path.join(mdir, parts[-1][1])
    first = os.path.join(mdir, "m.trace")
    every = [os.path.join(mdir, n) for n in names]

    def report(*argv):
        q = pstest.run([args.perfshim] + list(argv))
        try:
            return q, pstest.load_reports(q.stdout.decode("utf-8"))[0]
        except (ValueError, IndexError) as e:
            return q, {"error": "%s: %s" % (e, pstest.describe(q))}

    _, alone = report("leaks", "--json", last)
    want = alone.get("totals", {})
    _, merged = report("leaks", "--merge", "--json", *every)
    ck.equal((len(merged.get("traces", [])), merged.get("totals", {}).get("leaked_bytes"),
              merged.get("totals", {}).get("leaked_blocks")),
             (1, want.get("leaked_bytes"), want.get("leaked_blocks")),
             "leaks --merge over every piece: one process, the latest piece's leaks exactly")
    q, msum = report("summary", "--merge", "--json", *every)
    ck.equal(len(msum.get("traces", [])), 1, "summary --merge over every piece: one process")
    ck.check(b"left out" in q.stderr and parts[-1][1].encode() in q.stderr,
             "the pieces left out are said on stderr, with the latest piece's name",
             pstest.describe(q))
    # one file given twice (a glob and its name) is read once, and not called pieces
    q, twice = report("leaks", "--merge", "--json", last, last)
    ck.check(len(twice.get("traces", [])) == 1 and b"given 2 times: read once" in q.stderr and
             b"earlier pieces" not in q.stderr,
             "leaks --merge of one file given twice: read once, said as such", pstest.describe(q))
    _, mgrowth = report("growth", "--merge", "--json", *every)
    ck.equal(len(mgrowth.get("traces", [])), 1, "growth --merge over every piece: one process")
    out = os.path.join(work, "merged.trace")
    q = pstest.run([args.perfshim, "merge", "-q", "-o", out] + every)
    _, mo = report("leaks", "--json", out)
    ck.equal((q.returncode, mo.get("totals", {}).get("leaked_bytes")),
             (0, want.get("leaked_bytes")),
             "merge -o over every piece: the latest piece's leaks exactly")

    _, early = report("leaks", "--json", first)
    ck.check(any(parts[-1][1] in w and "piece" in w for w in early.get("warnings", [])),
             "a report on the first piece warns that the later state is in the latest piece",
             repr(early.get("warnings")))
    ck.check(early.get("complete") is True, "the first piece still reads as complete",
             repr(early.get("complete")))
    ck.check(not any("piece" in w for w in alone.get("warnings", [])),
             "a report on the latest piece has no such warning", repr(alone.get("warnings")))
    q = pstest.run([args.perfshim, "leaks", "--at", "1ms", last])
    ck.check(q.returncode == 2 and b"earlier times are in the pieces before it" in q.stderr,
             "--at before a later piece's first snapshot: exit 2, and says where earlier times "
             "are", pstest.describe(q))
    ck.done()


if __name__ == "__main__":
    main()
