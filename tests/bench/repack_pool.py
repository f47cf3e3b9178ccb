#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""repack_pool.py — a trace's pool chunks rewritten as the other kind (docs/trace-format.md).

    python3 tests/bench/repack_pool.py pack IN OUT     POOL -> POOL_PACKED (the shim's rule)
    python3 tests/bench/repack_pool.py expand IN OUT   POOL_PACKED -> POOL

`pack` writes what a shim with POOL_PACKED would have written for the same pool states: a POOL
chunk in each keyframe's group (its snapshot chunk is a SNAPSHOT), else a POOL_PACKED chunk
against the pool chunk before it (a POOL chunk when a class of the base is gone). `expand`
writes what a shim before it wrote: every pool chunk whole. Every other chunk is copied as it
is (an END's chunk count stays right: one chunk for one). Prints the pool chunks' bytes before
and after. An encoder of its own (pstest.py decodes the pool chunks read): used for the sizes in
docs/performance.md ("A smaller POOL chunk") and to check that the analyzer reads a trace and
its rewrite alike.
"""
import os
import struct
import sys
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import pstest  # noqa: E402  (the decoder: each pool chunk's state)

POOL, POOL_PACKED, SNAPSHOT, DELTAS = 6, 23, 4, (13, 17)
HEAD, ROW = pstest.POOL_HEAD_NAMES, pstest.POOL_ROW_NAMES
M64 = (1 << 64) - 1


def varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def zz(cur, base):
    d = (cur - base) & M64
    return varint(((d << 1) ^ (M64 if d >> 63 else 0)) & M64)


def full(head, rows):
    out = struct.pack("<8QII", *(head[k] for k in HEAD)) + struct.pack("<II", len(rows), 96)
    return out + b"".join(struct.pack("<II11Q", *(r[k] for k in ROW)) for r in rows)


def packed(head, rows, bhead, brows):
    """The POOL_PACKED payload, or None when a base class is gone (or unchanged: b"")."""
    by = {r["size"]: r for r in brows}
    if any(s not in {r["size"] for r in rows} for s in by):
        return None
    h = b"".join(zz(head[k], bhead[k]) for k in HEAD[1:])
    body, n, prev = b"", 0, 0
    for r in rows:
        b = by.get(r["size"])
        if b == r:
            continue
        b = b or {k: 0 for k in ROW}
        body += varint(r["size"] - prev) + b"".join(zz(r[k], b[k]) for k in ROW[1:])
        prev = r["size"]
        n += 1
    if not n and all(head[k] == bhead[k] for k in HEAD[1:]):
        return b""
    return (struct.pack("<QQ", head["time_ns"], bhead["time_ns"]) + varint(9) + h +
            varint(len(rows)) + varint(n) + varint(12) + body)


def chunks(d):
    off = 16
    while off + 16 <= len(d):
        _s, typ, _f, length = struct.unpack_from("<IHHI", d, off)
        if off + 16 + length > len(d):
            return  # torn: left out
        yield off, typ, d[off + 16:off + 16 + length]
        off += 16 + length


def chunk(typ, payload):
    h = struct.pack("<IHHI", 0x4B435350, typ, 0, len(payload))
    return h + struct.pack("<I", zlib.crc32(payload, zlib.crc32(h)))


def main():
    mode, src, dst = sys.argv[1:4]
    d = open(src, "rb").read()
    cs = list(chunks(d))
    raw = pstest.RawTrace(src, rows=False)
    states = [(dict((k, h[k]) for k in HEAD), h["classes"]) for _t, h, _k in raw.pools]
    out = [d[:16]]
    before = after = 0
    base = None  # (head, rows) of the last pool chunk written
    for i, (_off, typ, p) in enumerate(cs):
        if typ not in (POOL, POOL_PACKED):
            out += [chunk(typ, p), p]
            continue
        before += 16 + len(p)
        state = states.pop(0)
        newtyp, newp = POOL, full(*state)
        if mode == "pack":
            nxt = next((t for _o, t, _p in cs[i + 1:] if t == SNAPSHOT or t in DELTAS), None)
            if nxt in DELTAS and base is not None:
                pk = packed(*state, *base)
                if pk == b"":
                    continue  # unchanged (the shim left it out already: not reached)
                if pk is not None:
                    newtyp, newp = POOL_PACKED, pk
        base = state
        after += 16 + len(newp)
        out += [chunk(newtyp, newp), newp]
    open(dst, "wb").write(b"".join(out))
    print("pool chunk bytes: %d -> %d" % (before, after))


if __name__ == "__main__":
    main()
