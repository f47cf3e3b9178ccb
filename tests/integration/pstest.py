# SPDX-License-Identifier: MIT
"""pstest.py — shared helpers for perfshim's integration and real-program tests.

Owns: command-line arguments every test script takes (paths from CTest), running programs under
the shim (`perfshim run --json`, or LD_PRELOAD + `perfshim leaks --json`), reading leak reports,
finding expected leak sites from `LEAK:<name>` markers in example sources, a minimal reader of
the raw trace format (docs/trace-format.md) for checks that must not depend on the analyzer,
and a failure collector: a test records every failed check and exits 1 at the end.

Standard library only; never asserts wall-clock times.
"""
import argparse
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

# ---- arguments and failure collection -------------------------------------------------------


def parse_args(extra=None):
    """--perfshim, --lib, --bindir, --srcdir are passed by tests/CMakeLists.txt."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--perfshim", required=True, help="the analyzer CLI")
    ap.add_argument("--lib", required=True, help="libperfshim.so")
    ap.add_argument("--bindir", required=True, help="where the example programs are")
    ap.add_argument("--srcdir", required=True, help="examples/ source directory")
    ap.add_argument("--libdir", default=None, help="where libexc_thrower.so is")
    if extra:
        extra(ap)
    args = ap.parse_args()
    for k in ("perfshim", "lib", "bindir", "srcdir", "libdir"):
        if getattr(args, k):
            setattr(args, k, os.path.abspath(getattr(args, k)))  # tests change directories
    return args


class Checker:
    """Collects failed checks; `done()` prints a summary and exits 0 or 1."""

    def __init__(self, name):
        self.name = name
        self.failures = []
        self.passed = 0

    def check(self, cond, what, detail=""):
        if cond:
            self.passed += 1
            print("ok   %s" % what)
        else:
            self.failures.append(what)
            indented = ("\n     " + detail.replace("\n", "\n     ")) if detail else ""
            print("FAIL %s%s" % (what, indented))
        return bool(cond)

    def equal(self, got, expected, what):
        return self.check(got == expected, "%s: expected %r, got %r" % (what, expected, got))

    def done(self):
        if self.failures:
            print("%s: %d check(s) failed, %d passed"
                  % (self.name, len(self.failures), self.passed))
            for f in self.failures:
                print("  - " + f)
            if _scratch:
                print("scratch directories kept: " + " ".join(_scratch))
            sys.exit(1)
        for d in _scratch:
            shutil.rmtree(d, ignore_errors=True)
        print("%s: all %d checks passed" % (self.name, self.passed))
        sys.exit(0)

    def skip(self, why):
        """The test cannot run here (a missing tool, not root): exit 77, which ctest reports
        as skipped (SKIP_RETURN_CODE), never as passed."""
        print("SKIP %s: %s" % (self.name, why))
        for d in _scratch:
            shutil.rmtree(d, ignore_errors=True)
        sys.exit(77)

    def fatal(self, what, detail=""):
        self.check(False, what, detail)
        self.done()


# ---- expected sites from markers ------------------------------------------------------------

# The shim's tracking modes a program is run under when each must leave it unharmed and its
# leaks at their lines (test_sandbox, test_chroot): name -> the variables added to its env.
TRACKING_MODES = {
    "full": {},
    "track0": {"PERFSHIM_TRACK": "0"},
    "sample": {"PERFSHIM_SAMPLE": "524288"},
    "interval": {"PERFSHIM_INTERVAL": "10ms"},
}

MARKER = re.compile(r"/\*\s*(NO)?LEAK:([A-Za-z0-9_]+)\s*\*/")


def markers(path):
    """{"LEAK:name": line, "NOLEAK:name": line} for every `/* LEAK:name */` comment in a file
    (mentions elsewhere, e.g. in the file header, do not count)."""
    out = {}
    with open(path, encoding="utf-8") as f:
        for lineno, text in enumerate(f, 1):
            for m in MARKER.finditer(text):
                key = ("NOLEAK:" if m.group(1) else "LEAK:") + m.group(2)
                if key in out:
                    raise ValueError("%s: marker %s appears twice" % (path, key))
                out[key] = lineno
    return out


def define(path, name):
    """The integer value of `#define NAME <int>` in a source file (to cross-check constants)."""
    with open(path, encoding="utf-8") as f:
        for text in f:
            m = re.match(r"\s*#\s*define\s+%s\s+(\d+)\b" % re.escape(name), text)
            if m:
                return int(m.group(1))
    raise ValueError("%s: no #define %s" % (path, name))


# ---- running ---------------------------------------------------------------------------------


def run(cmd, env=None, cwd=None, timeout=300, stdin=None):
    """Run a command, capture bytes; never raises on a non-zero status."""
    full_env = os.environ.copy()
    for k in ("LD_PRELOAD", "PERFSHIM_OUTPUT", "PERFSHIM_TRACE_LIST", "PERFSHIM_MODE"):
        full_env.pop(k, None)
    if env:
        full_env.update(env)
    p = subprocess.run(cmd, env=full_env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout, stdin=stdin if stdin is not None else subprocess.DEVNULL)
    return p


def manystacks_trace(args, ck, workdir, stacks=20000):
    """A trace of `stacks` distinct allocation stacks (bench-manystacks under the shim, with its
    default advice counters) in workdir, for the analyzer's memory checks; None when the
    generator or the maxrss wrapper was not built (the check is then left out) or it failed."""
    gen = os.path.join(args.bindir, "bench", "bench-manystacks")
    if not os.path.exists(gen) or not os.path.exists(os.path.join(args.bindir, "maxrss")):
        return None
    path = os.path.join(workdir, "many.trace")
    p = run([gen, "2", str(stacks)], env={"LD_PRELOAD": args.lib, "PERFSHIM_OUTPUT": path},
            cwd=workdir)
    ok = ck.check(p.returncode == 0 and os.path.exists(path),
                  "bench-manystacks wrote a trace of %d stacks" % stacks, describe(p))
    return path if ok else None


def analyzer_peak_kib(args, *argv):
    """Runs the analyzer with argv under the maxrss wrapper (a child of this script would count
    the script's memory too): (its peak RSS in KiB or None, the completed process)."""
    p = run([os.path.join(args.bindir, "maxrss"), args.perfshim] + list(argv))
    last = p.stderr.decode(errors="replace").rstrip("\n").split("\n")[-1]
    return (int(last.split()[1]) if last.startswith("maxrss ") else None), p


def unwind_report(stderr):
    """(stacks interned, walks that needed libunwind) from the shim's PERFSHIM_VERBOSE=1 exit
    line in stderr (bytes), or None."""
    m = re.search(rb"(\d+) stack\(s\) interned; (\d+) walk\(s\) needed libunwind", stderr)
    return (int(m.group(1)), int(m.group(2))) if m else None


def check_no_libunwind(ck, p, what):
    """Checks that process p (run with PERFSHIM_VERBOSE=1) walked every stack without
    libunwind."""
    w = unwind_report(p.stderr)
    return ck.check(w and w[1] == 0, what, describe(p))


def describe(p):
    def cut(b):
        s = b.decode("utf-8", "replace")
        return s if len(s) < 4000 else s[:2000] + "\n...\n" + s[-2000:]
    return "command: %s\nstatus: %s\nstdout:\n%s\nstderr:\n%s" % (
        " ".join(map(str, p.args)), p.returncode, cut(p.stdout), cut(p.stderr))


def sole_trace_leaks(ck, perfshim, d, label, what="one trace"):
    """Checks that directory d holds one trace, complete (END), that `leaks --json` reads: its
    path and leak report, or (None, None) once a check failed (said by ck)."""
    traces = sorted(f for f in os.listdir(d) if ".trace" in f)
    if not ck.equal(len(traces), 1, "%s: %s" % (label, what)):
        return None, None
    t = os.path.join(d, traces[0])
    raw = RawTrace(t)
    ck.check(raw.error is None and raw.end is not None, "%s: the trace is complete" % label,
             str(raw.error))
    a = run([perfshim, "leaks", "--json", t], cwd=d)
    if not ck.equal(a.returncode, 0, "%s: perfshim leaks --json exits 0" % label):
        return None, None
    return t, load_reports(a.stdout.decode())[0]


def load_reports(text):
    """A leak report document as a list of per-trace reports (one trace gives an object)."""
    doc = json.loads(text)
    return doc if isinstance(doc, list) else [doc]


def perfshim_run_json(args, ck, cmd, cwd, extra_opts=(), env=None, timeout=300):
    """`perfshim run --json -- cmd`; returns (process, [reports]) or (process, None)."""
    p = run([args.perfshim, "run", "--json", *extra_opts, "--", *cmd], cwd=cwd, env=env,
            timeout=timeout)
    try:
        reports = load_reports(p.stdout.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        ck.check(False, "perfshim run --json printed valid JSON on stdout (%s)" % e, describe(p))
        return p, None
    return p, reports


def preload_and_analyze(args, ck, cmd, workdir, env=None, timeout=300):
    """The manual route: LD_PRELOAD the shim, then `perfshim leaks --json` on each trace."""
    tmpl = os.path.join(workdir, "%e.%p.trace")
    e = {"LD_PRELOAD": args.lib, "PERFSHIM_OUTPUT": tmpl}
    if env:
        e.update(env)
    p = run(cmd, env=e, cwd=workdir, timeout=timeout)
    traces = sorted(os.path.join(workdir, f) for f in os.listdir(workdir) if ".trace" in f)
    reports = []
    for t in traces:
        a = run([args.perfshim, "leaks", "--json", t], cwd=workdir)
        if not ck.check(a.returncode == 0, "perfshim leaks --json %s exits 0" % os.path.basename(t),
                        describe(a)):
            continue
        try:
            reports.extend(load_reports(a.stdout.decode("utf-8")))
        except ValueError as ex:
            ck.check(False, "perfshim leaks --json printed valid JSON (%s)" % ex, describe(a))
    return p, traces, reports


# ---- reading reports -------------------------------------------------------------------------


def check_report_shape(ck, rep, label):
    """The documented shape, and totals that agree with the leak list."""
    ok = ck.check(rep.get("format") == "perfshim-leaks" and rep.get("version") == 1,
                  "%s: format perfshim-leaks version 1" % label,
                  "got format=%r version=%r" % (rep.get("format"), rep.get("version")))
    for key in ("process", "totals", "leaks", "complete", "warnings"):
        ok &= ck.check(key in rep, "%s: report has '%s'" % (label, key))
    if not ok:
        return False
    t = rep["totals"]
    blocks = sum(l["blocks"] for l in rep["leaks"])
    nbytes = sum(l["bytes"] for l in rep["leaks"])
    ck.check(t.get("leaked_blocks") == blocks and t.get("leaked_bytes") == nbytes,
             "%s: totals.leaked_blocks/bytes equal the sums over leaks" % label,
             "totals %r, sums %d blocks %d bytes" % (t, blocks, nbytes))
    bad = [l for l in rep["leaks"] if not l.get("stack")]
    ck.check(not bad, "%s: every leak has a non-empty stack" % label, repr(bad[:3]))
    for l in rep["leaks"]:
        for fr in l.get("stack", []):
            if not (isinstance(fr.get("address"), str) and fr["address"].startswith("0x")
                    and "module" in fr and "inlined" in fr):
                ck.check(False, "%s: frames have address (0x..), module, inlined" % label,
                         repr(fr))
                return False
    return True


def frame_at(frame, filename, line):
    f = frame.get("file")
    return f is not None and os.path.basename(f) == filename and frame.get("line") == line


def leaks_at(rep, filename, line):
    """Leaks whose innermost frame (the caller of the allocation function) is file:line."""
    return [l for l in rep["leaks"] if l["stack"] and frame_at(l["stack"][0], filename, line)]


def leaks_touching(rep, filename, line):
    """Leaks with file:line anywhere in the stack."""
    return [l for l in rep["leaks"] if any(frame_at(fr, filename, line) for fr in l["stack"])]


def leaks_from_file(rep, filename):
    return [l for l in rep["leaks"] if l["stack"] and l["stack"][0].get("file")
            and os.path.basename(l["stack"][0]["file"]) == filename]


def leak_verdicts(rep, functions):
    """(function, kind) -> blocks for the leaks (suppressed entries included) whose innermost
    frame is one of functions: the shim's side of a comparison with valgrind's classes."""
    out = {}
    for e in rep["leaks"] + rep["suppressed"]:
        fn = e["stack"][0].get("function") if e["stack"] else None
        if fn in functions:
            out[(fn, e.get("kind"))] = out.get((fn, e.get("kind")), 0) + e["blocks"]
    return out


def fmt_leak(l):
    fr = l["stack"][:4]
    return "%d blocks %d bytes at %s" % (l["blocks"], l["bytes"], " <- ".join(
        "%s (%s:%s) [%s]" % (f.get("function"), f.get("file") and os.path.basename(f["file"]),
                             f.get("line"), os.path.basename(f.get("module") or "?"))
        for f in fr))


def fmt_report(rep, limit=25):
    lines = ["%d leaks, totals %r" % (len(rep["leaks"]), rep.get("totals"))]
    lines += [fmt_leak(l) for l in rep["leaks"][:limit]]
    return "\n".join(lines)


def by_stack(leaks):
    """The leaks of a report one per stack: with leak classes (LEAK_KINDS) a stack's blocks are
    split into one entry per class; here their blocks and bytes are summed."""
    out = {}
    for l in leaks:
        key = tuple(fr.get("address") for fr in l["stack"]) + (l.get("note"),)
        if key in out:
            out[key] = dict(out[key], blocks=out[key]["blocks"] + l["blocks"],
                            bytes=out[key]["bytes"] + l["bytes"])
        else:
            out[key] = l
    return list(out.values())


def check_site(ck, rep, src, marks, name, blocks, nbytes, function, label):
    """Exactly `blocks`/`nbytes` leaked whose innermost frame is the LEAK:name line of src,
    with that frame's function name containing `function`."""
    filename = os.path.basename(src)
    line = marks["LEAK:" + name]
    found = leaks_at(rep, filename, line)
    got_b = sum(l["blocks"] for l in found)
    got_n = sum(l["bytes"] for l in found)
    ck.check(got_b == blocks and got_n == nbytes,
             "%s: LEAK:%s at %s:%d: %d blocks %d bytes" % (label, name, filename, line, blocks,
                                                            nbytes),
             "got %d blocks %d bytes\n%s" % (got_b, got_n, fmt_report(rep)))
    if found and function:
        names = sorted({str(l["stack"][0].get("function")) for l in found})
        ck.check(all(function in n for n in names),
                 "%s: LEAK:%s innermost frame is in %s" % (label, name, function),
                 "functions: %r" % names)
    return found


def check_nonleaks(ck, rep, src, marks, label):
    """No leak has a NOLEAK-marked line anywhere in its stack."""
    filename = os.path.basename(src)
    for key, line in sorted(marks.items()):
        if key.startswith("NOLEAK:"):
            bad = leaks_touching(rep, filename, line)
            ck.check(not bad, "%s: %s (%s:%d) not reported" % (label, key, filename, line),
                     "\n".join(fmt_leak(l) for l in bad))


# ---- raw trace reader (docs/trace-format.md) --------------------------------------------------

CHUNK_PROCESS, CHUNK_MODULES, CHUNK_STACKS, CHUNK_SNAPSHOT, CHUNK_MESSAGE, CHUNK_END = \
    1, 2, 3, 4, 5, 0xFFFF
CHUNK_SNAPSHOT_DELTA = 13
CHUNK_SNAPSHOT_PACKED = 17  # the delta current shims write: varint rows
CHUNK_STACKS_PACKED = 22  # the stacks current shims write: shared callers, varint frames
CHUNK_POOL, CHUNK_POOL_PACKED = 6, 23  # the pool; POOL_PACKED: differences from the one before
CHUNK_STACK_KINDS = (CHUNK_STACKS, CHUNK_STACKS_PACKED)
CHUNK_DELTAS = (CHUNK_SNAPSHOT_DELTA, CHUNK_SNAPSHOT_PACKED)
SNAP_EXIT, SNAP_DUMP, SNAP_INTERVAL, SNAP_FORK = 0, 1, 2, 3
SNAP_STOP, CHUNK_SECTION = 4, 14  # perfshim ctl stop; a section's file (test_control.py)
SNAP_MAX, SNAP_EVERY, SNAP_SIGNAL, SNAP_ALERT = 5, 6, 7, 8
CHUNK_ALERT = 15
ALERT_RSS, ALERT_HEAP, ALERT_CGROUP, ALERT_GROWTH = 1, 2, 3, 4
TOTAL_NAMES = ("allocs", "frees", "alloc_bytes", "freed_bytes", "live_blocks", "live_bytes",
               "peak_live_bytes", "rss_bytes", "peak_rss_bytes", "untracked_frees")
ROW_NAMES = ("stack_id", "reserved", "allocs", "alloc_bytes", "frees", "freed_bytes",
             "live_blocks", "live_bytes", "peak_live_bytes")


POOL_HEAD_NAMES = ("time_ns", "max_size", "reserved", "committed", "slab_bytes", "empty_bytes",
                   "released_bytes", "returned_bytes", "threads", "exhausted")
POOL_ROW_NAMES = ("size", "slabs", "allocs", "hits", "misses", "refills", "flushes",
                  "flushed_blocks", "direct_frees", "bytes_in_use", "bytes_cached",
                  "bytes_central", "bytes_returned")

LOCK_NAMES = ("acquisitions", "contended", "owner_changes", "wait_ns", "max_wait_ns", "hold_ns",
              "max_hold_ns", "hold_samples", "read_acquisitions", "trylock_failures",
              "timeouts", "signals", "broadcasts", "wake_ns", "max_wake_ns")


class RawTrace:
    """Chunks of one trace file. Only what tests need: process, snapshots, stacks, end.
    With rows=False the stacks and the snapshots' per-stack rows are not decoded (every chunk
    is still verified): a forked Python child's trace holds tens of thousands of them, and a
    test that only wants totals and completeness reads hundreds of such traces."""

    def __init__(self, path, rows=True):
        with open(path, "rb") as f:
            data = f.read()
        self.decode_rows = rows
        self.path = path
        self.size = len(data)
        self.error = None
        self.process = None
        self.snapshots = []
        self.stacks = {}
        self.end = None
        self.modules = []  # (base, start, end, path) of the last MODULES chunk
        self.locks = None  # last LOCKS chunk: {"sample":, "locks": [...], "sites": [...]}
        self.threads = None
        self.zones = None
        self.latency = None
        self.cpu = None
        self.pool = None  # the pool after the last POOL or POOL_PACKED chunk: head and "classes"
        self.pools = []  # (chunk type, that pool, index of the snapshot it belongs to), each one
        self.messages = []  # (severity, text) of every MESSAGE chunk
        self.alerts = []  # every ALERT chunk's rows, with "snapshot": the SNAPSHOT's index
        self.chunks = []  # (offset, type, total length including the header)
        if data[:8] != b"PSHMTRC\0":
            self.error = "bad magic"
            return
        self.version, = struct.unpack_from("<H", data, 8)
        off = 16
        while off < len(data):
            if off + 16 > len(data):
                self.error = "truncated chunk header at offset %d" % off
                return
            sync, typ, flags, length, crc = struct.unpack_from("<IHHII", data, off)
            if sync != 0x4B435350 or off + 16 + length > len(data):
                self.error = "bad or truncated chunk at offset %d" % off
                return
            payload = data[off + 16:off + 16 + length]
            if zlib.crc32(payload, zlib.crc32(data[off:off + 12])) != crc:
                self.error = "crc mismatch at offset %d" % off
                return
            self.chunks.append((off, typ, 16 + length))
            self._chunk(typ, payload)
            off += 16 + length

    @staticmethod
    def _varint(p, q):
        v = shift = 0
        while True:
            b = p[q]
            q += 1
            v |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                return v, q

    def _packed_stacks(self, p):
        """STACKS_PACKED: each stack against the one before it in the chunk (docs/trace-format.md):
        its outermost frames shared, the others zigzag differences from a reference."""
        n, = struct.unpack_from("<I", p, 0)
        q, sid, prev, mask = 4, 0, [], (1 << 64) - 1
        for _ in range(n):
            gap, q = self._varint(p, q)
            depth, q = self._varint(p, q)
            shared, q = self._varint(p, q)
            sid += gap
            out = prev[:shared]  # outermost first
            for pos in range(shared, depth):
                v, q = self._varint(p, q)
                if pos == shared and pos < len(prev):
                    ref = prev[pos]
                else:
                    ref = out[pos - 1] if pos else 0
                out.append((ref + ((v >> 1) ^ -(v & 1))) & mask)
            self.stacks[sid] = tuple(reversed(out))
            prev = out

    def _packed_rows(self, p, q, n, fields, prev):
        """SNAPSHOT_PACKED rows: id gaps, then zigzag differences from the base row."""
        rows, sid, mask = [], 0, (1 << 64) - 1
        for _ in range(n):
            gap, q = self._varint(p, q)
            sid += gap
            d = []
            for _k in range(fields):
                v, q = self._varint(p, q)
                d.append((v >> 1) ^ -(v & 1))
            b = prev.get(sid, {})
            r = {"stack_id": sid, "reserved": 0}
            for k, name in enumerate(("allocs", "alloc_bytes", "frees", "freed_bytes",
                                      "peak_live_bytes")):
                r[name] = (b.get(name, 0) + d[k]) & mask
            r["live_blocks"] = max(r["allocs"] - r["frees"], 0)
            r["live_bytes"] = max(r["alloc_bytes"] - r["freed_bytes"], 0)
            rows.append(r)
        return rows

    def _pool(self, typ, p):
        """POOL: the head and its rows; POOL_PACKED: zigzag differences from the pool before
        (docs/trace-format.md), rows keyed by their size."""
        mask = (1 << 64) - 1
        if typ == CHUNK_POOL:
            head = dict(zip(POOL_HEAD_NAMES, struct.unpack_from("<8QII", p, 0)))
            n, rs = struct.unpack_from("<II", p, 72)
            classes = [dict(zip(POOL_ROW_NAMES, struct.unpack_from("<II11Q", p, 80 + i * rs)))
                       for i in range(n)]
        else:
            t, base = struct.unpack_from("<QQ", p, 0)
            if self.pool is None or self.pool["time_ns"] != base:
                self.error = "POOL_PACKED's base %d is not the POOL before it" % base
                return
            unz = lambda v: (v >> 1) ^ -(v & 1)
            q = 16
            nh, q = self._varint(p, q)
            d = []
            for _ in range(nh):
                v, q = self._varint(p, q)
                d.append(unz(v))
            head = {"time_ns": t}
            for k, name in enumerate(POOL_HEAD_NAMES[1:]):
                head[name] = (self.pool[name] + d[k]) & (mask if k < 7 else 0xFFFFFFFF)
            count, q = self._varint(p, q)
            rows, q = self._varint(p, q)
            nf, q = self._varint(p, q)
            by_size = {c["size"]: c for c in self.pool["classes"]}
            size = 0
            for _ in range(rows):
                gap, q = self._varint(p, q)
                size += gap
                d = []
                for _k in range(nf):
                    v, q = self._varint(p, q)
                    d.append(unz(v))
                b = by_size.get(size, {})
                r = {"size": size}
                for k, name in enumerate(POOL_ROW_NAMES[1:]):
                    r[name] = (b.get(name, 0) + d[k]) & (0xFFFFFFFF if k == 0 else mask)
                by_size[size] = r
            classes = [by_size[k] for k in sorted(by_size)]
            if len(classes) != count:
                self.error = "POOL_PACKED: %d classes, class_count %d" % (len(classes), count)
                return
        head["classes"] = classes
        self.pool = head
        self.pools.append((typ, head, len(self.snapshots)))  # written before its snapshot

    def pool_at(self, i):
        """The pool at snapshot i: the last pool chunk written before its snapshot chunk."""
        return next((h for _t, h, k in reversed(self.pools) if k <= i), None)

    @staticmethod
    def _str(p, q):
        n, = struct.unpack_from("<I", p, q)
        return p[q + 4:q + 4 + n].decode("utf-8", "replace"), q + 4 + n

    def _chunk(self, typ, p):
        if typ == CHUNK_PROCESS:
            pid, ppid, _rt, _mono = struct.unpack_from("<4Q", p, 0)
            _ver, q = self._str(p, 32)
            program, q = self._str(p, q)
            self.process = {"pid": pid, "ppid": ppid, "program": program,
                            "start_monotonic_ns": _mono}
        elif typ == CHUNK_STACKS and self.decode_rows:
            n, = struct.unpack_from("<I", p, 0)
            q = 4
            for _ in range(n):
                sid, depth = struct.unpack_from("<II", p, q)
                q += 8
                self.stacks[sid] = struct.unpack_from("<%dQ" % depth, p, q)
                q += 8 * depth
        elif typ == CHUNK_STACKS_PACKED and self.decode_rows:
            self._packed_stacks(p)
        elif typ == CHUNK_SNAPSHOT or typ in CHUNK_DELTAS:
            base = None
            if typ in CHUNK_DELTAS:  # u64 base_time_ns, then a SNAPSHOT payload
                base, = struct.unpack_from("<Q", p, 0)
                p = p[8:]
            _t, reason, _flags = struct.unpack_from("<QII", p, 0)
            totals = dict(zip(TOTAL_NAMES, struct.unpack_from("<10Q", p, 16)))
            rows_n, row_size = struct.unpack_from("<II", p, 96)
            rows = []
            if base is not None and (not self.snapshots or self.snapshots[-1]["time_ns"] != base):
                self.error = "SNAPSHOT_DELTA's base %d is not the snapshot before it" % base
                return
            if typ == CHUNK_SNAPSHOT_PACKED and self.decode_rows:
                prev = {r["stack_id"]: r for r in self.snapshots[-1]["rows"]}
                rows = self._packed_rows(p, 104, rows_n, row_size, prev)
            for i in range(rows_n if self.decode_rows and typ != CHUNK_SNAPSHOT_PACKED else 0):
                row = struct.unpack_from("<II7Q", p, 104 + i * row_size)
                rows.append(dict(zip(ROW_NAMES, row)))
            if base is not None:  # the rows that changed: applied to the snapshot before
                merged = {r["stack_id"]: r for r in self.snapshots[-1]["rows"]}
                merged.update((r["stack_id"], r) for r in rows)
                rows = [merged[k] for k in sorted(merged)]
            self.snapshots.append({"reason": reason, "flags": _flags, "time_ns": _t, "totals": totals,
                                   "rows": rows, "delta": base is not None,
                                   "changed": rows_n})
        elif typ in (CHUNK_POOL, CHUNK_POOL_PACKED):
            self._pool(typ, p)
        elif typ == CHUNK_END:
            self.end = struct.unpack_from("<QQ", p, 0)
        elif typ == CHUNK_ALERT:
            snap_t, n, rs = struct.unpack_from("<QII", p, 0)
            for i in range(n):
                kind, _pad, t, value, thr, base = struct.unpack_from("<II4Q", p, 16 + i * rs)
                self.alerts.append({"kind": kind, "time_ns": t, "value": value,
                                    "threshold": thr, "base": base, "snapshot_time_ns": snap_t,
                                    "snapshot": len(self.snapshots) - 1})
        elif typ == CHUNK_MESSAGE:
            severity, = struct.unpack_from("<I", p, 0)
            text, _ = self._str(p, 4)
            self.messages.append((severity, text))
        elif typ == 2:  # MODULES
            n, = struct.unpack_from("<I", p, 0)
            q, mods = 4, []
            for _ in range(n):
                base, start, end = struct.unpack_from("<3Q", p, q)
                path, q = self._str(p, q + 24)
                bl, = struct.unpack_from("<I", p, q)
                q += 4 + bl
                mods.append((base, start, end, path))
            self.modules = mods
        elif typ == 7:  # LOCKS
            _t, sample, flags, untracked, rq, rqa, n, rs = struct.unpack_from("<QIIQQQII", p, 0)
            q, locks = 48, []
            for _ in range(n):
                addr, kind, lflags, first = struct.unpack_from("<QIII", p, q)
                v = struct.unpack_from("<15Q", p, q + 24)
                locks.append(dict(zip(LOCK_NAMES, v), address=addr, kind=kind, flags=lflags,
                                  first_use=first, sites=[]))
                if rs >= 152:  # later rows: wakes, then a semaphore's paired_posts
                    locks[-1]["wakes"] = struct.unpack_from("<Q", p, q + 144)[0]
                if rs >= 160:
                    locks[-1]["paired_posts"] = struct.unpack_from("<Q", p, q + 152)[0]
                q += rs
            sn, ss = struct.unpack_from("<II", p, q)
            q += 8
            for _ in range(sn):
                li, sid, acq, cont, wait, maxw, samples = struct.unpack_from("<II5Q", p, q)
                locks[li]["sites"].append({"stack": sid, "acquisitions": acq, "contended": cont,
                                           "wait_ns": wait, "max_wait_ns": maxw,
                                           "samples": samples})
                q += ss
            self.locks = {"sample": sample, "untracked": untracked, "retired_quiet": rq,
                          "locks": locks}
        elif typ == 8:  # THREADS
            _t, created, dropped, n, rs = struct.unpack_from("<QQQII", p, 0)
            rows = []
            for i in range(n):
                q = 32 + i * rs
                tid, creator, stack, flags, start, end, cpu = struct.unpack_from("<4I3Q", p, q)
                name = p[q + 40:q + 56].rstrip(b"\0").decode("utf-8", "replace")
                rows.append({"tid": tid, "creator": creator, "start_stack": stack,
                             "flags": flags, "start_ns": start, "end_ns": end, "cpu_ns": cpu,
                             "name": name})
            self.threads = {"created": created, "dropped": dropped, "threads": rows}
        elif typ in (9, 10):  # LATENCY, ZONES: histograms
            def hist(q):
                count, total, mx, nz = struct.unpack_from("<3QI", p, q)
                return {"count": count, "sum": total, "max": mx}, q + 28 + 12 * nz
            if typ == 10:
                _t, hz, unmatched, deep, dropped, n = struct.unpack_from("<5QI", p, 0)
                q, zones = 44, {}
                for _ in range(n):
                    name, q = self._str(p, q)
                    depth, = struct.unpack_from("<I", p, q)
                    h, q = hist(q + 4)
                    h["max_depth"] = depth
                    zones[name] = h
                self.zones = {"unmatched": unmatched, "zones": zones}
            else:
                v = struct.unpack_from("<QQII6QI", p, 0)
                q, rows = 76, []
                for _ in range(v[10]):
                    op, size_max = struct.unpack_from("<II", p, q)
                    h, q = hist(q + 8)
                    h.update(op=op, size_max=size_max)
                    rows.append(h)
                self.latency = {"sample": v[2], "pooled": v[4], "forwarded": v[5],
                                "forwarded_large": v[6], "rows": rows}
        elif typ == 11:  # CPU
            _t, hz, _f, samples, dropped, partial, n, rs = struct.unpack_from("<QIIQQQII", p, 0)
            rows = [dict(zip(("stack", "threads", "samples"),
                             struct.unpack_from("<IIQ", p, 48 + i * rs))) for i in range(n)]
            self.cpu = {"hz": hz, "samples": samples, "dropped": dropped, "partial": partial,
                        "rows": rows}

    def symbolizer(self, program):
        """A function mapping a runtime address of `program` (a path) to its function name,
        from `nm` (None for addresses elsewhere)."""
        syms = []
        out = subprocess.run(["nm", "-S", "--defined-only", program], capture_output=True,
                             text=True).stdout
        for line in out.splitlines():
            f = line.split()
            if len(f) == 4 and f[2] in "tTwW":
                syms.append((int(f[0], 16), int(f[1], 16), f[3]))
        real = os.path.realpath(program)
        mods = [m for m in self.modules if os.path.realpath(m[3]) == real]

        def name(addr):
            for base, start, end, _path in mods:
                if start <= addr < end:
                    off = addr - base
                    for a, size, n in syms:
                        if a <= off < a + size:
                            return n
            return None
        return name


# ---- PERFSHIM_MAX_TRACE's pieces (test_interval.py, test_pieces.py) -----------------------------


def run_pieces(cmd, env, mdir, name, runs_ms, want=5):
    """Runs cmd + [run_ms] in an emptied mdir, for each of runs_ms in turn, until the trace
    `name` (its PERFSHIM_OUTPUT in mdir) has reached piece `want` or the command fails: how many
    pieces a run makes depends on the load (a busy machine writes fewer snapshots a second; the
    next waits four times a snapshot's length). (p, sorted names in mdir, sorted (k, name of
    piece k) for k >= 2)."""
    for run_ms in runs_ms:
        shutil.rmtree(mdir, ignore_errors=True)
        os.makedirs(mdir)
        p = run(cmd + [str(run_ms)], env=env, cwd=mdir)
        names = sorted(os.listdir(mdir))
        parts = sorted((int(n[len(name + ".part"):]), n) for n in names
                       if n.startswith(name + ".part"))
        if p.returncode != 0 or (parts and parts[-1][0] >= want):
            break
    return p, names, parts


def check_pieces(ck, mdir, name, names, parts, bound, label):
    """The pieces left on disk: the first and at most the latest three, in a row, nothing else;
    their sizes total at most max(bound, first + last piece) (docs/options.md); each one
    complete, PROCESS and a keyframe first, every stack its rows name defined in it."""
    ck.check(name in names and 1 <= len(parts) <= 3 and parts[0][0] >= 3 and
             [k for k, _ in parts] == list(range(parts[0][0], parts[-1][0] + 1)) and
             len(names) == len(parts) + 1,
             "%s: the first piece and at most the latest three kept, the middle deleted" % label,
             repr(names))
    sizes = {n: os.path.getsize(os.path.join(mdir, n)) for n in names}
    floor = sizes.get(name, 0) + (sizes[parts[-1][1]] if parts else 0)
    ck.check(sum(sizes.values()) <= max(bound, floor),
             "%s: the files total at most max(bound %d, first + last piece %d)" %
             (label, bound, floor), "total %d: %r" % (sum(sizes.values()), sizes))
    for n in [name] + [n for _, n in parts]:
        raw = RawTrace(os.path.join(mdir, n))
        ck.check(raw.error is None and raw.end is not None and raw.process is not None and
                 raw.snapshots and not raw.snapshots[0]["delta"],
                 "%s piece %s: complete, PROCESS, a keyframe first" % (label, n),
                 "%s end %r" % (raw.error, raw.end))
        named = {r["stack_id"] for s in raw.snapshots for r in s["rows"]} - {0}
        ck.check(named <= set(raw.stacks),
                 "%s piece %s: every stack its rows name is defined in it" % (label, n),
                 repr(sorted(named - set(raw.stacks))[:5]))
    return sizes


_scratch = []


def tmpdir(prefix):
    """A scratch directory, removed by Checker.done() when every check passed."""
    d = tempfile.mkdtemp(prefix="perfshim-%s-" % prefix)
    _scratch.append(d)
    return d
