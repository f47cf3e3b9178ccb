#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_series_fallback.py — `perfshim timeline` and `perfshim growth` read a sound trace twice,
the second time trusting the first (docs/analyzer.md, "Reading a trace twice"): no CRC, the
chunks the first pass decoded passed over, keyframes scanned by stack id, deltas decoded once.
A damaged trace is read the old way both times. This checks the two give the same report.

bigtrace (tests/integration/bigtrace.c) writes 1500 snapshots of a simulated service (keyframes
every 100, packed deltas); a copy gets a chunk of an unknown type with a wrong CRC before END.
The reader reports it and resynchronizes at END, so the copy is damaged and its second pass is
a full, CRC-checked read. Both must give the same per-snapshot timeline (every snapshot's time,
totals and the followed sites' live bytes and blocks), the same sites, and the same growth
classes and rates; only the status (complete, warnings) differs, and it must say why."""
import json
import os
import struct
import zlib

import pstest


def damaged_copy(src, dst):
    """dst: src with a chunk of type 0x7001 and a wrong CRC inserted before the END chunk."""
    data = open(src, "rb").read()
    assert data[-32:-28] == struct.pack("<I", 0x4b435350)  # END: 16 + 16 bytes, last
    payload = b"x" * 40
    head = struct.pack("<IHHI", 0x4b435350, 0x7001, 0, len(payload))
    crc = zlib.crc32(payload, zlib.crc32(head)) ^ 0xffff
    with open(dst, "wb") as f:
        f.write(data[:-32] + head + struct.pack("<I", crc) + payload + data[-32:])


def report(args, ck, cmd, path):
    p = pstest.run([args.perfshim, cmd, "--json", path], timeout=300)
    ck.check(p.returncode == 0, "%s --json %s exits 0" % (cmd, os.path.basename(path)),
             pstest.describe(p))
    return json.loads(p.stdout.decode())


def main():
    args = pstest.parse_args()
    ck = pstest.Checker("test_series_fallback")
    work = pstest.tmpdir("series_fallback")
    clean = os.path.join(work, "service.trace")
    bad = os.path.join(work, "damaged.trace")
    gen = os.path.join(args.bindir, "bigtrace")
    p = pstest.run([gen, clean, "--snapshots", "1500", "--stacks", "3000", "--keyframe", "100",
                    "--changed", "200", "--packed", "1"], timeout=300)
    if not ck.check(p.returncode == 0, "bigtrace", pstest.describe(p)):
        ck.done()
    damaged_copy(clean, bad)

    a, b = report(args, ck, "timeline", clean), report(args, ck, "timeline", bad)
    ck.equal(a["complete"], True, "the clean trace is complete")
    ck.equal(b["complete"], False, "the damaged copy is not")
    ck.check(any("bad CRC" in w for w in b["warnings"]), "the damage is reported",
             str(b["warnings"]))
    ck.equal(len(a["timeline"]), 1500, "every snapshot in the timeline")
    ck.check(len(a["sites"]) >= 3, "sites followed", str(len(a["sites"])))
    ck.equal(a["sites"], b["sites"], "timeline: the same sites")
    ck.equal(a["timeline"], b["timeline"], "timeline: every snapshot the same")
    # the leak site (stack 1) grows by the generator's requests at every snapshot
    leak = a["timeline"][-1]["site_live_bytes"][0]
    ck.check(leak > a["timeline"][0]["site_live_bytes"][0], "the first site grows", str(leak))

    g, h = report(args, ck, "growth", clean), report(args, ck, "growth", bad)
    ck.check(len(g["sites"]) >= 3, "growth: sites", str(len(g["sites"])))
    ck.equal(g["sites"], h["sites"], "growth: the same sites, classes and rates")
    ck.equal(g["sites"][0]["class"], "unbounded", "growth: the leak first, unbounded")
    ck.done()


if __name__ == "__main__":
    main()
