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
and after. An encoder of its own (pstest.py decodes): used for the sizes in
docs/performance.md ("A smaller POOL chunk") and to check that the analyzer reads a trace and
its rewrite alike.
"""
import struct
import sys
import zlib

POOL, POOL_PACKED, SNAPSHOT, DELTAS = 6, 23, 4, (13, 17)
HEAD = ("time_ns", "max_size", "reserved", "committed", "slab_bytes", "empty_bytes",
        "released_bytes", "returned_bytes", "threads", "exhausted")
ROW = ("size", "slabs", "allocs", "hits", "misses", "refills", "flushes", "flushed_blocks",
       "direct_frees", "bytes_in_use", "bytes_cached", "bytes_central", "bytes_returned")
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


def read_varint(p, q):
    v = s = 0
    while True:
        b = p[q]
        q += 1
        v |= (b & 0x7F) << s
        s += 7
        if b < 0x80:
            return v, q


def unzz(v):
    return (v >> 1) ^ -(v & 1)


def parse_pool(p):
    head = dict(zip(HEAD, struct.unpack_from("<8QII", p, 0)))
    n, rs = struct.unpack_from("<II", p, 72)
    return head, [dict(zip(ROW, struct.unpack_from("<II11Q", p, 80 + i * rs))) for i in range(n)]


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


def unpack(p, bhead, brows):
    t, base = struct.unpack_from("<QQ", p, 0)
    assert base == bhead["time_ns"], "base %d is not the pool before (%d)" % (base, bhead["time_ns"])
    q = 16
    nh, q = read_varint(p, q)
    d = []
    for _ in range(nh):
        v, q = read_varint(p, q)
        d.append(unzz(v))
    head = {"time_ns": t}
    for k, name in enumerate(HEAD[1:]):
        head[name] = (bhead[name] + d[k]) & (M64 if k < 7 else 0xFFFFFFFF)
    count, q = read_varint(p, q)
    n, q = read_varint(p, q)
    nf, q = read_varint(p, q)
    by = {r["size"]: r for r in brows}
    size = 0
    for _ in range(n):
        gap, q = read_varint(p, q)
        size += gap
        d = []
        for _k in range(nf):
            v, q = read_varint(p, q)
            d.append(unzz(v))
        b = by.get(size, {})
        r = {"size": size}
        for k, name in enumerate(ROW[1:]):
            r[name] = (b.get(name, 0) + d[k]) & (0xFFFFFFFF if k == 0 else M64)
        by[size] = r
    rows = [by[s] for s in sorted(by)]
    assert len(rows) == count
    return head, rows


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
    out = [d[:16]]
    before = after = 0
    base = None  # (head, rows) of the last pool chunk written
    for i, (_off, typ, p) in enumerate(cs):
        if typ not in (POOL, POOL_PACKED):
            out += [chunk(typ, p), p]
            continue
        before += 16 + len(p)
        if typ == POOL:
            state = parse_pool(p)
        else:
            state = unpack(p, *base)
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
