#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_export.py — `perfshim export` (issue 14, item 1) against oracles.

--case format (always runs): the golden traces of tests/data (run there, where their modules
point at bin/NAME.debug) and a live CPU-sampled run of examples/cpuburn:
- pprof: a gzip stream whose protobuf this file decodes itself (profile.proto's field numbers):
  string_table[0] is "", the sample types of the kind in profile.proto's order, the default
  sample type the --metric, every sample's values summing to the `summary --json` totals,
  location ids innermost first (the first location of the top inuse sample names the innermost
  frame of `leaks --json`'s top leak), a Mapping per module with the build-id the trace
  records (read from the raw trace, not the analyzer), has_functions false where frames are
  unresolved, and such a frame named `module+0xoffset` by its Location's one Line;
- folded: every line is exactly `frame;...;frame N`, root first (the last frame of the top line
  is the innermost frame of the top leak), the values summing to the same totals;
- speedscope: its weights summing to the totals, the active profile the --metric, samples
  root first;
- json: the same sums, frames by index, innermost first, the trace's build-ids;
- several traces: the same trace twice gives every folded value doubled (merged by stack);
- the heap sites (export's own frame table and keys) are the groups of `leaks --json --top 0`:
  same visible frames, blocks, bytes, allocations, on four golden traces and stl_leaks (whose
  operator new frames are hidden);
- inlined frames (stl_leaks, -O2 C++): one Location whose Lines are `leaks --json`'s inlined
  frames, innermost first, then their caller; the program is the first Mapping;
- a sampled trace (PERFSHIM_SAMPLE): values equal `summary`'s estimates, period the mean;
- errors: an unwritable -o, an unknown format or metric, a missing trace, a full disk exit 2
  and leave no file.
--case schemas: speedscope files valid against speedscope's own schema
  (tests/data/speedscope, vendored from the npm package speedscope 1.25.0, MIT), and
  `--format json` against docs/export.schema.json, with python3-jsonschema; skipped (77)
  without it.
--case reports: `--format json`'s reports of each trace (version 2) on two live runs that
  hold every kind of data between them: examples/contention with PERFSHIM_LOCKS,
  PERFSHIM_CPU_HZ and PERFSHIM_LATENCY_SAMPLE (locks, condition variables, zones, threads,
  latency, CPU samples, the pool) and examples/service with PERFSHIM_INTERVAL (snapshots over
  time, leak classes, ages). Each report in the export equals what its own command prints for the
  trace (`summary --json`, `leaks --json`, `locks --json --top 0 --sites 0`, `hot --json --top
  0`, `timeline --json --top 0`), each kind of data is there, and the document is valid against
  docs/export.schema.json (python3-jsonschema; skipped (77) without it).
--case pprof_go: Debian's `go tool pprof -top` and `-traces` read the profile: the top function
  and its bytes are `leaks --json`'s; for a stripped copy of leaky, each unnamed address is its
  own `leaky_stripped+0xoffset` node with the bytes `perfshim run --json` puts there (not one
  `[leaky_stripped]` node); skipped (77) when `go` is missing.
Standard library only, but for python3-jsonschema in schemas."""
import gzip
import json
import os
import re
import shutil
import struct
import sys

import pstest


def extra(ap):
    ap.add_argument("--data", required=True, help="tests/data")
    ap.add_argument("--case", choices=("format", "schemas", "reports", "pprof_go"),
                    required=True)


# ---- a minimal protobuf reader -----------------------------------------------------------------


varint = pstest.RawTrace._varint  # (bytes, index) -> (value, next index)


def fields(b):
    """(field, wire, value) of a message: value an int (varint) or bytes (length-delimited)."""
    i, out = 0, []
    while i < len(b):
        key, i = varint(b, i)
        f, w = key >> 3, key & 7
        if w == 0:
            v, i = varint(b, i)
        elif w == 2:
            n, i = varint(b, i)
            v, i = b[i:i + n], i + n
        elif w == 1:
            v, i = struct.unpack_from("<Q", b, i)[0], i + 8
        elif w == 5:
            v, i = struct.unpack_from("<I", b, i)[0], i + 4
        else:
            raise ValueError("wire type %d" % w)
        out.append((f, w, v))
    return out


def packed(v):
    if isinstance(v, int):
        return [v]
    out, i = [], 0
    while i < len(v):
        x, i = varint(v, i)
        out.append(x)
    return out


def msg(b):
    """A message as {field: [values]}."""
    d = {}
    for f, _, v in fields(b):
        d.setdefault(f, []).append(v)
    return d


def one(d, f, default=0):
    return d.get(f, [default])[-1]


def decode_profile(raw):
    p = msg(raw)
    strings = [s.decode("utf-8") for s in p.get(6, [])]
    prof = {"strings": strings}
    prof["sample_types"] = [(strings[one(m, 1)], strings[one(m, 2)])
                            for m in map(msg, p.get(1, []))]
    prof["default"] = strings[one(p, 14)]
    funcs = {}
    for m in map(msg, p.get(5, [])):
        funcs[one(m, 1)] = (strings[one(m, 2)], strings[one(m, 4)])
    maps = {}
    for m in map(msg, p.get(3, [])):
        maps[one(m, 1)] = {"file": strings[one(m, 5)], "build_id": strings[one(m, 6)],
                           "start": one(m, 2), "limit": one(m, 3),
                           "has_functions": bool(one(m, 7))}
    locs = {}
    for m in map(msg, p.get(4, [])):
        lines = [msg(x) for x in m.get(4, [])]
        locs[one(m, 1)] = {"mapping": one(m, 2), "address": one(m, 3),
                           "lines": [(funcs[one(l, 1)][0], funcs[one(l, 1)][1], one(l, 2))
                                     for l in lines]}
    samples = []
    for m in map(msg, p.get(2, [])):
        ids = [x for v in m.get(1, []) for x in packed(v)]
        vals = [x for v in m.get(2, []) for x in packed(v)]
        samples.append((ids, vals))
    prof.update(funcs=funcs, maps=maps, locs=locs, samples=samples, period=one(p, 12))
    return prof


# ---- helpers --------------------------------------------------------------------------------------


def ps(args, *cmd, cwd):
    return pstest.run([args.perfshim, *cmd], cwd=cwd)


def report_json(args, ck, what, trace, cwd):
    p = ps(args, what, "--json", trace, cwd=cwd)
    if not ck.check(p.returncode in (0, 1), "%s --json %s" % (what, trace), pstest.describe(p)):
        return None
    return json.loads(p.stdout)


def trace_build_ids(path):
    """{module path: build-id hex} from the trace's raw MODULES chunks (pstest's reader)."""
    rt = pstest.RawTrace(path, rows=False)
    data = open(path, "rb").read()
    out = {}
    for off, typ, length in rt.chunks:
        if typ != 2:  # MODULES
            continue
        p = data[off + 16:off + length]
        n, = struct.unpack_from("<I", p, 0)
        q = 4
        for _ in range(n):
            name, q = pstest.RawTrace._str(p, q + 24)  # after base, start, end
            bl, = struct.unpack_from("<I", p, q)
            out[name] = p[q + 4:q + 4 + bl].hex()
            q += 4 + bl
    return out


def innermost(leak):
    return leak["stack"][0]["function"] if leak.get("stack") else None


FOLDED_LINE = re.compile(r"^[^;\n]+(;[^;\n]+)* (\d+)$")


def check_folded(ck, text, total, top_leaf, label):
    lines = text.splitlines()
    ok = all(FOLDED_LINE.match(l) for l in lines)
    ck.check(ok and lines, "%s: every line is 'frame;...;frame N'" % label,
             "\n".join(l for l in lines if not FOLDED_LINE.match(l))[:2000])
    vals = {}  # stacks that differ only by a line number are separate lines: readers sum them
    for l in lines:
        if FOLDED_LINE.match(l):
            stack, n = l.rsplit(" ", 1)
            vals[stack] = vals.get(stack, 0) + int(n)
    ck.equal(sum(vals.values()), total, "%s: the values sum to the total" % label)
    if vals and top_leaf:
        top = max(vals, key=lambda k: vals[k])
        ck.equal(top.split(";")[-1], top_leaf, "%s: the top stack ends (leaf last) in" % label)
        ck.check(top.split(";")[0] in ("_start", "__libc_start_main") or "start" in
                 top.split(";")[0], "%s: the top stack starts at the root (%s)" %
                 (label, top.split(";")[0]))
    return vals


def export(args, ck, cwd, label, *opts):
    p = ps(args, "export", *opts, cwd=cwd)
    ck.check(p.returncode == 0, "%s: export %s exits 0" % (label, " ".join(opts)),
             pstest.describe(p))
    return p


# ---- cases ----------------------------------------------------------------------------------------


def case_format(args, ck):
    data = args.data
    work = pstest.tmpdir("export")
    leaky = os.path.join(data, "leaky.trace")
    leaks = report_json(args, ck, "leaks", leaky, data)
    summ = report_json(args, ck, "summary", leaky, data)
    if not leaks or not summ:
        return
    top = max(leaks["leaks"], key=lambda l: l["bytes"])
    live = summ["totals"]["live_bytes"]
    allocs = summ["totals"]["allocs"]
    for name in ("leaky", "threads", "dump", "diffprog_a"):
        sites_are_groups(args, ck, os.path.join(data, name + ".trace"), data, name)

    # pprof, decoded here
    pb = os.path.join(work, "leaky.pb.gz")
    export(args, ck, data, "pprof", "--format", "pprof", "-o", pb, leaky)
    raw = open(pb, "rb").read()
    ck.check(raw[:2] == b"\x1f\x8b", "pprof: the file is gzip'd")
    prof = decode_profile(gzip.decompress(raw))
    ck.equal(prof["strings"][0], "", "pprof: string_table[0]")
    ck.equal(prof["sample_types"], [("inuse_space", "bytes"), ("inuse_objects", "count"),
                                    ("alloc_space", "bytes"), ("alloc_objects", "count")],
             "pprof: heap sample types")
    ck.equal(prof["default"], "inuse_space", "pprof: default sample type")
    ck.equal(sum(v[0] for _, v in prof["samples"]), live, "pprof: inuse_space sums to live bytes")
    ck.equal(sum(v[3] for _, v in prof["samples"]), allocs,
             "pprof: alloc_objects sums to allocations")
    best = max(prof["samples"], key=lambda s: s[1][0])
    first = prof["locs"][best[0][0]]
    ck.equal(first["lines"][0][0] if first["lines"] else None, innermost(top),
             "pprof: the top inuse sample's first location is the top leak's innermost frame")
    ck.equal(best[1][0], top["bytes"], "pprof: the top inuse sample's bytes")
    ids = trace_build_ids(leaky)
    got = {m["file"]: m["build_id"] for m in prof["maps"].values()}
    ck.check(got and all(ids.get(f) == b for f, b in got.items()),
             "pprof: every Mapping has the trace's build-id", "pprof %r\ntrace %r" % (got, ids))
    ck.check(any(b for b in got.values()), "pprof: the program's Mapping has a build-id")
    # an unresolved frame of a module: one Line, function "module+0xoffset" (no file)
    unres = [l for l in prof["locs"].values()
             if not l["lines"] or (len(l["lines"]) == 1 and not l["lines"][0][1] and
                                   re.match(r"^[^ ]+\+0x[0-9a-f]+$", l["lines"][0][0]))]
    ck.check(all(not prof["maps"][l["mapping"]]["has_functions"] for l in unres if l["mapping"]),
             "pprof: mappings with unresolved frames say has_functions false")
    ck.check(all(l["lines"] for l in unres if l["mapping"]),
             "pprof: unresolved frames of a module are named module+0xoffset")
    for l in prof["locs"].values():
        m = prof["maps"].get(l["mapping"])
        if m and not (m["start"] <= l["address"] < m["limit"]):
            ck.check(False, "pprof: location 0x%x within its mapping %s" % (l["address"],
                                                                            m["file"]))
            break

    # the lock profile of the contention trace
    cont = os.path.join(data, "contention.trace")
    locks = report_json(args, ck, "locks", cont, data)
    pbl = os.path.join(work, "locks.pb.gz")
    export(args, ck, data, "pprof locks", "--metric", "delay", "-o", pbl, cont)
    pl = decode_profile(gzip.decompress(open(pbl, "rb").read()))
    ck.equal(pl["sample_types"], [("contentions", "count"), ("delay", "nanoseconds")],
             "pprof: lock sample types")
    ck.equal(pl["default"], "delay", "pprof: --metric delay is the default sample type")
    if locks:
        sites = [s for l in locks.get("locks", []) for s in l.get("sites", [])]
        want = sum(s.get("wait_ns", 0) for s in sites if s.get("contended") or s.get("wait_ns"))
        ck.equal(sum(v[1] for _, v in pl["samples"]), want,
                 "pprof: delay sums to the lock sites' wait_ns")

    # folded
    p = export(args, ck, data, "folded", "--format", "folded", leaky)
    check_folded(ck, p.stdout.decode(), live, innermost(top), "folded inuse_space")
    p = export(args, ck, data, "folded", "--format", "folded", "--metric", "alloc_objects", leaky)
    check_folded(ck, p.stdout.decode(), allocs, None, "folded alloc_objects")
    # merged: the same trace twice doubles every stack
    one_ = check_folded(ck, ps(args, "export", "--format", "folded", leaky,
                               cwd=data).stdout.decode(), live, None, "folded once")
    p = export(args, ck, data, "folded x2", "--format", "folded", leaky, leaky)
    two = check_folded(ck, p.stdout.decode(), 2 * live, None, "folded twice")
    ck.equal(two, {k: 2 * v for k, v in one_.items()}, "folded: two traces merge by stack")

    # speedscope
    p = export(args, ck, data, "speedscope", "--format", "speedscope", leaky)
    try:
        doc = json.loads(p.stdout)
    except ValueError as e:
        ck.check(False, "speedscope: valid JSON (%s)" % e)
        doc = None
    if doc:
        prof0 = doc["profiles"][doc.get("activeProfileIndex", 0)]
        ck.equal(prof0["name"], "inuse_space", "speedscope: the active profile")
        ck.equal(sum(prof0["weights"]), live, "speedscope: weights sum to live bytes")
        ck.equal(prof0["unit"], "bytes", "speedscope: unit")
        frames = doc["shared"]["frames"]
        i = max(range(len(prof0["weights"])), key=lambda k: prof0["weights"][k])
        ck.equal(frames[prof0["samples"][i][-1]]["name"], innermost(top),
                 "speedscope: the heaviest sample ends (root first) in the top leak's frame")

    # json: the same figures, frames by index, innermost first
    p = export(args, ck, data, "json", "--format", "json", leaky)
    try:
        doc = json.loads(p.stdout)
    except ValueError as e:
        ck.check(False, "json: valid JSON (%s)" % e)
        doc = None
    if doc:
        ck.equal((doc["format"], doc["version"]), ("perfshim-export", 2), "json: format")
        names = [m["name"] for m in doc["metrics"]]
        iu, ao = names.index("inuse_space"), names.index("alloc_objects")
        ck.equal(sum(s["values"][iu] for s in doc["stacks"]), live, "json: inuse_space sum")
        ck.equal(sum(s["values"][ao] for s in doc["stacks"]), allocs, "json: alloc_objects sum")
        ck.check(all(0 <= i < len(doc["frames"]) for s in doc["stacks"] for i in s["frames"]),
                 "json: every stack frame is an index into frames")
        heavy = max(doc["stacks"], key=lambda s: s["values"][iu])
        ck.equal(doc["frames"][heavy["frames"][0]]["function"], innermost(top),
                 "json: the heaviest stack's first frame is the top leak's innermost")
        ck.equal({m["path"]: m["build_id"] or "" for m in doc["modules"]},
                 {k: v for k, v in ids.items() if k in {m["path"] for m in doc["modules"]}},
                 "json: modules with the trace's build-ids")

    # CPU: a live run of cpuburn
    prog = os.path.join(args.bindir, "cpuburn")
    trace = os.path.join(work, "cpu.trace")
    r = pstest.run([prog, "3"], env={"LD_PRELOAD": args.lib, "PERFSHIM_CPU_HZ": "1000",
                                     "PERFSHIM_OUTPUT": trace}, cwd=work)
    if ck.check(r.returncode == 0, "cpuburn runs", pstest.describe(r)):
        hot = report_json(args, ck, "hot", trace, work)
        p = export(args, ck, work, "folded cpu", "--format", "folded", "--metric", "samples",
                   trace)
        taken = hot["cpu"]["samples"] if hot and hot.get("cpu") else None
        vals = check_folded(ck, p.stdout.decode(),
                            sum(int(l.rsplit(" ", 1)[1]) for l in p.stdout.decode().splitlines()),
                            None, "folded samples")
        ck.check(taken is None or sum(vals.values()) <= taken,
                 "folded samples: at most the samples taken (%s)" % taken)
        heavy = sum(v for k, v in vals.items() if "burn_heavy" in k)
        light = sum(v for k, v in vals.items() if "burn_light" in k)
        ck.check(heavy > light > 0, "folded samples: burn_heavy > burn_light > 0 (%d, %d)"
                 % (heavy, light))
        pbc = os.path.join(work, "cpu.pb.gz")
        export(args, ck, work, "pprof cpu", "--metric", "cpu", "-o", pbc, trace)
        pc = decode_profile(gzip.decompress(open(pbc, "rb").read()))
        ck.equal(pc["sample_types"], [("samples", "count"), ("cpu", "nanoseconds")],
                 "pprof: CPU sample types")
        ck.equal(pc["period"], 1000000, "pprof: CPU period (ns at 1000 Hz)")
        ck.equal(sum(v[1] for _, v in pc["samples"]), 1000000 * sum(vals.values()),
                 "pprof: cpu ns = samples x period")

    inline_frames(args, ck, work)
    sampled(args, ck, work)

    # options after the traces, as every other command takes them
    first = export(args, ck, data, "options first", "--format", "folded", "--metric",
                   "alloc_objects", leaky)
    out = os.path.join(work, "after.folded")
    after = export(args, ck, data, "options after the trace", leaky, "--format", "folded",
                   "--metric", "alloc_objects", "-o", out)
    ck.check(os.path.exists(out) and open(out, "rb").read() == first.stdout and first.stdout,
             "export TRACE --format ... -o FILE: the same profile as with the options first",
             pstest.describe(after))
    # an option without its value is said as such, not as an unknown option
    for opt in ("-o", "--format", "--metric"):
        p = ps(args, "export", leaky, opt, cwd=data)
        ck.check(p.returncode == 2 and b"needs a value" in p.stderr,
                 "export TRACE %s: exit 2, the option needs a value" % opt, pstest.describe(p))

    # errors
    bad = os.path.join(work, "no-such-dir", "x.pb.gz")
    p = ps(args, "export", "-o", bad, leaky, cwd=data)
    ck.check(p.returncode == 2 and b"cannot write" in p.stderr,
             "an unwritable -o exits 2, said", pstest.describe(p))
    for opts in (["--format", "svg"], ["--metric", "rss"]):
        out = os.path.join(work, "bad.out")
        p = ps(args, "export", *opts, "-o", out, leaky, cwd=data)
        ck.check(p.returncode == 2 and not os.path.exists(out),
                 "export %s exits 2, no file" % " ".join(opts), pstest.describe(p))
        # the message lists what is valid (the format's did; the metric's only named the help)
        want = b"inuse_space" if opts[0] == "--metric" else b"speedscope"
        ck.check(want in p.stderr, "export %s: the message lists the valid values" %
                 " ".join(opts), pstest.describe(p))
    out = os.path.join(work, "missing.pb.gz")
    p = ps(args, "export", "-o", out, os.path.join(work, "missing.trace"), cwd=data)
    ck.check(p.returncode == 2 and not os.path.exists(out),
             "a missing trace exits 2, leaves no file", pstest.describe(p))
    p = ps(args, "export", "--format", "folded", leaky, os.path.join(work, "missing.trace"),
           cwd=data)
    ck.check(p.returncode == 2 and not p.stdout and b"nothing written" in p.stderr,
             "a missing trace among several: exit 2, nothing written", pstest.describe(p))
    # one trace to a pipe: the document starts once the trace has loaded
    p = ps(args, "export", "--format", "json", os.path.join(work, "missing.trace"), cwd=data)
    ck.check(p.returncode == 2 and not p.stdout and b"nothing written" in p.stderr,
             "json, one missing trace to a pipe: exit 2, nothing written", pstest.describe(p))
    # json into a regular file writes each trace's reports in place as it is read: a trace
    # that cannot be read after one that could leaves no partial document
    out = os.path.join(work, "partial.json")
    p = ps(args, "export", "--format", "json", "-o", out, leaky,
           os.path.join(work, "missing.trace"), cwd=data)
    ck.check(p.returncode == 2 and not os.path.exists(out) and b"nothing written" in p.stderr,
             "json -o, a missing trace after a good one: exit 2, no file", pstest.describe(p))
    copy = os.path.join(work, "copy.trace")
    shutil.copyfile(leaky, copy)
    p = ps(args, "export", "-o", copy, copy, cwd=data)
    ck.check(p.returncode == 2 and open(copy, "rb").read() == open(leaky, "rb").read(),
             "-o naming one of the traces exits 2, the trace untouched", pstest.describe(p))
    if os.path.exists("/dev/full"):
        p = ps(args, "export", "--format", "folded", "-o", "/dev/full", leaky, cwd=data)
        ck.check(p.returncode == 2, "a full disk exits 2", pstest.describe(p))
        # a profile larger than stdio's buffer (manystacks: 2048 stacks) fails in the gzip
        # writer itself, which said "cannot write /dev/full" without the reason
        many = os.path.join(work, "many.trace")
        r = pstest.run([os.path.join(args.bindir, "manystacks"), "0"], cwd=work,
                       env={"LD_PRELOAD": args.lib, "PERFSHIM_OUTPUT": many})
        if ck.check(os.path.exists(many), "manystacks runs", pstest.describe(r)):
            p = ps(args, "export", "-o", "/dev/full", many, cwd=work)
            ck.check(p.returncode == 2 and b"/dev/full: No space left on device" in p.stderr,
                     "pprof to a full disk: exit 2, and the message says why",
                     pstest.describe(p))


def valid(args, ck, jsonschema, schema, label, *opts):
    """The document `perfshim export OPTS` prints, checked against schema; None if not JSON."""
    p = export(args, ck, args.data, label, *opts)
    try:
        doc = json.loads(p.stdout)
    except ValueError as e:
        ck.check(False, "%s: valid JSON (%s)" % (label, e))
        return None
    err = None
    try:
        jsonschema.validate(doc, schema)
    except jsonschema.ValidationError as e:
        err = str(e)[:2000]
    ck.check(err is None, "%s: valid against its schema" % label, err or "")
    return doc


def case_schemas(args, ck):
    """speedscope files against speedscope's schema, and `--format json` against ours
    (docs/export.schema.json)."""
    try:
        import jsonschema
    except ImportError:
        ck.skip("python3-jsonschema is not installed")
    data = args.data
    schema = json.load(open(os.path.join(data, "speedscope", "file-format-schema.json")))
    for trace, opts in (("leaky.trace", ["--metric", "alloc_space"]),
                        ("contention.trace", ["--metric", "locks"]),
                        ("leaky.trace", [])):
        doc = valid(args, ck, jsonschema, schema, "speedscope %s %s" % (trace, " ".join(opts)),
                    "--format", "speedscope", *opts, os.path.join(data, trace),
                    os.path.join(data, trace))
    # the check can fail: a document without its profiles is rejected
    bad = dict(doc or {})
    bad.pop("profiles", None)
    ck.check(not jsonschema.Draft7Validator(schema).is_valid(bad),
             "the schema rejects a speedscope file without profiles")
    ours = json.load(open(os.path.join(data, "..", "..", "docs",
                                       "export.schema.json")))
    jsonschema.Draft7Validator.check_schema(ours)
    traces = [os.path.join(data, t) for t in ("leaky.trace", "contention.trace", "dump.trace")]
    doc = valid(args, ck, jsonschema, ours, "json", "--format", "json", *traces)
    bad = dict(doc or {})
    bad["version"] = 1
    ck.check(not jsonschema.Draft7Validator(ours).is_valid(bad),
             "our schema rejects another version")


# The command and options whose JSON each member of a trace's "reports" equals.
REPORTS = {"summary": ["summary", "--json"], "leaks": ["leaks", "--json"],
           "locks": ["locks", "--json", "--top", "0", "--sites", "0"],
           "hot": ["hot", "--json", "--top", "0"], "timeline": ["timeline", "--json", "--top", "0"]}


def case_reports(args, ck):
    try:
        import jsonschema
    except ImportError:
        ck.skip("python3-jsonschema is not installed")
    work = pstest.tmpdir("export_reports")
    # (a snapshot over time is written by an allocation that finds it due: the service
    # allocates all along, contention hardly)
    # (contention computes 50 ms of its CPU time in cpu_site(): without it, CPU samples are
    # not certain on a loaded machine, examples/contention.c)
    runs = {"contention": (["20000", "50"], {"PERFSHIM_LOCKS": "1", "PERFSHIM_CPU_HZ": "1000",
                                "PERFSHIM_LATENCY_SAMPLE": "1"}),
            "service": (["--duration", "1", "--rate", "500"], {"PERFSHIM_INTERVAL": "100ms"})}
    traces = []
    for name, (argv, env) in runs.items():
        trace = os.path.join(work, name + ".trace")
        r = pstest.run([os.path.join(args.bindir, name), *argv],
                       env=dict(env, LD_PRELOAD=args.lib, PERFSHIM_OUTPUT=trace), cwd=work)
        if not ck.check(r.returncode == 0, "%s runs" % name, pstest.describe(r)):
            return
        traces.append(trace)
    p = export(args, ck, work, "json reports", "--format", "json", *traces)
    doc = json.loads(p.stdout)
    # -o FILE (written in place as the traces are read) and standard output (through a
    # temporary file) are the same bytes
    out = os.path.join(work, "reports.json")
    export(args, ck, work, "json reports -o", "--format", "json", "-o", out, *traces)
    ck.check(os.path.exists(out) and open(out, "rb").read() == p.stdout,
             "json: -o FILE holds the bytes written to standard output")
    ck.equal((doc["format"], doc["version"]), ("perfshim-export", 2), "format and version")
    ck.equal([t["trace"] for t in doc["traces"]], traces, "one entry per trace, in order")
    # one trace to a pipe: written there once it has loaded, not through a temporary file;
    # the same bytes as -o FILE, and the same reports as in the two traces' document
    one = export(args, ck, work, "json, one trace", "--format", "json", traces[1])
    out1 = os.path.join(work, "one.json")
    export(args, ck, work, "json, one trace -o", "--format", "json", "-o", out1, traces[1])
    ck.check(os.path.exists(out1) and open(out1, "rb").read() == one.stdout,
             "json, one trace: -o FILE holds the bytes written to the pipe")
    ck.equal(json.loads(one.stdout)["traces"][0]["reports"], doc["traces"][1]["reports"],
             "json, one trace: its reports are those of the two traces' document")
    for t in doc["traces"]:
        for name, cmd in REPORTS.items():
            q = ps(args, *cmd, t["trace"], cwd=work)
            ck.equal(t["reports"].get(name), json.loads(q.stdout),
                     "%s: the export's %s equals `%s`" % (os.path.basename(t["trace"]), name,
                                                          " ".join(cmd)))
    c, l = (t["reports"] for t in doc["traces"])
    ck.check(len(l["timeline"]["timeline"]) >= 3, "service: snapshots over time (%d)"
             % len(l["timeline"]["timeline"]))
    ck.check(bool(c["summary"]["pool"] and c["summary"]["pool"]["classes"]),
             "contention: the pool's size classes")
    ck.check(any(k["contended"] for k in c["locks"]["locks"]), "contention: a contended lock")
    ck.check(bool(c["locks"]["condvars"]), "contention: condition variables")
    # the lock profile is the locks' wait, as `locks` totals it: the consumer's waits on its
    # condition variable (no contention: it waits for work) are not in it
    cond_ns = sum(k["wait_ns"] for k in c["locks"]["condvars"])
    ck.check(cond_ns > 0, "contention: the consumer waited on its condition variable")
    sites = [s for k in c["locks"]["locks"] for s in k["sites"]]
    for metric, key in (("delay", "wait_ns"), ("contentions", "contended")):
        f = export(args, ck, work, "folded " + metric, "--format", "folded", "--metric", metric,
                   traces[0])
        got = sum(int(line.rsplit(" ", 1)[1]) for line in f.stdout.decode().splitlines())
        ck.equal(got, sum(s[key] for s in sites),
                 "folded %s: the lock sites' %s, no condition variable's" % (metric, key))
    zones = {z["name"] for z in (c["hot"]["zones"] or {}).get("zones", [])}
    ck.equal(zones, {"outer", "short", "long"}, "contention: its three zones")
    ck.check(len((c["hot"]["threads"] or {}).get("threads", [])) >= 2, "contention: threads")
    ck.check(bool((c["hot"]["latency"] or {}).get("rows")), "contention: allocator latency")
    cpu = c["hot"]["cpu"] or {}
    ck.check(bool(cpu.get("samples")) and
             any(f.get("function") == "cpu_site" for f in cpu.get("functions_by_total") or []),
             "contention: CPU samples, cpu_site's 50 ms of CPU among them",
             repr(cpu.get("samples")))
    kinds = l["leaks"]["totals"]["kinds"]
    ck.check(bool(kinds and kinds["definitely"]["blocks"]), "service: leak classes", str(kinds))
    ck.check(l["leaks"]["ages"] is not None and any("age" in x for x in l["leaks"]["leaks"]),
             "service: ages of its leaks")
    schema = json.load(open(os.path.join(args.data, "..", "..", "docs", "export.schema.json")))
    v = jsonschema.Draft7Validator(schema)
    errors = [e.message for e in v.iter_errors(doc)][:3]
    ck.check(not errors, "valid against docs/export.schema.json", "; ".join(errors))
    # the schema can fail: it rejects an entry without its reports, or a report without its
    # format, or a lock without its address
    for what, spoil in (("reports", lambda d: d["traces"][0].pop("reports")),
                        ("format", lambda d: d["traces"][0]["reports"]["hot"].pop("format")),
                        ("lock address",
                         lambda d: d["traces"][0]["reports"]["locks"]["locks"][0].pop("address"))):
        bad = json.loads(p.stdout)
        spoil(bad)
        ck.check(not v.is_valid(bad), "the schema rejects a document without a %s" % what)
    pieces(args, ck)


def pieces(args, ck):
    """A trace written in pieces (PERFSHIM_MAX_TRACE): every piece holds the process's whole
    state, so export and report --html of all of them take the latest piece only, as
    `leaks --merge` and `merge -o` do, and say which they left out."""
    work = pstest.tmpdir("export_pieces")
    trace = os.path.join(work, "svc.trace")
    r = pstest.run([os.path.join(args.bindir, "service"), "--duration", "1", "--rate", "1000"],
                   env={"LD_PRELOAD": args.lib, "PERFSHIM_OUTPUT": trace,
                        "PERFSHIM_INTERVAL": "20ms", "PERFSHIM_MAX_TRACE": "16k"}, cwd=work)
    parts = sorted((f for f in os.listdir(work) if f.startswith("svc.trace")),
                   key=lambda f: int(f.rsplit(".part", 1)[1]) if ".part" in f else 1)
    if not ck.check(r.returncode == 0 and len(parts) >= 2, "service wrote its trace in pieces",
                    "%s %r" % (pstest.describe(r), parts)):
        return
    last = parts[-1]
    for metric in ("alloc_objects", "inuse_space"):
        one = export(args, ck, work, "folded %s, latest piece" % metric, "--format", "folded",
                     "--metric", metric, last)
        every = export(args, ck, work, "folded %s, every piece" % metric, "--format", "folded",
                       "--metric", metric, *parts)
        ck.equal(every.stdout, one.stdout, "folded %s of every piece: the latest piece's" % metric)
        ck.check(b"earlier pieces" in every.stderr and last.encode() in every.stderr,
                 "export names the pieces it left out", every.stderr.decode())
    pages = []
    for name, given in (("one.html", [last]), ("every.html", parts)):
        r = ps(args, "report", "--html", name, *given, cwd=work)
        ck.check(r.returncode == 0, "report --html %s" % name, pstest.describe(r))
        html = open(os.path.join(work, name), encoding="utf-8").read()
        m = re.search(r'<script type="application/json" id="perfshim-data">(.*?)</script>',
                      html, re.S)
        d = json.loads(m.group(1))
        pages.append((d["traces"], d["values"]))
    ck.equal(pages[1], pages[0], "report --html of every piece: the latest piece's page data")


def inline_frames(args, ck, work):
    """stl_leaks (-O2 C++): the vector leak's allocation is 6 library functions inlined into
    leak_vector(): one pprof Location whose Lines are those functions, innermost first, and
    leak_vector() last, with the lines `leaks --json` gives."""
    trace = os.path.join(work, "stl.trace")
    r = pstest.run([os.path.join(args.bindir, "stl_leaks")],
                   env={"LD_PRELOAD": args.lib, "PERFSHIM_OUTPUT": trace}, cwd=work)
    if not ck.check(r.returncode == 0, "stl_leaks runs", pstest.describe(r)):
        return
    leaks = report_json(args, ck, "leaks", trace, work)
    sites_are_groups(args, ck, trace, work, "stl_leaks")
    pb = os.path.join(work, "stl.pb.gz")
    export(args, ck, work, "pprof stl", "-o", pb, trace)
    prof = decode_profile(gzip.decompress(open(pb, "rb").read()))
    ck.equal(prof["maps"][1]["file"], os.path.realpath(os.path.join(args.bindir, "stl_leaks")),
             "pprof: the first Mapping is the program")
    top = max(leaks["leaks"], key=lambda l: l["bytes"]) if leaks else None
    if not top:
        return
    frames = top["stack"]
    n = 0
    while n < len(frames) and frames[n].get("inlined"):
        n += 1
    want = [(f["function"], f.get("line", 0)) for f in frames[:n + 1]]
    ck.check(n >= 2, "stl_leaks: the top leak has inlined frames (%d)" % n)
    best = max(prof["samples"], key=lambda s: s[1][0])
    got = [(fn, line) for fn, _, line in prof["locs"][best[0][0]]["lines"]]
    ck.equal(got, want, "pprof: the top sample's first Location holds the inlined frames, "
             "innermost first, then their caller")
    ck.equal(best[1][0], top["bytes"], "pprof: its bytes")


def frame_key(f):
    """A frame as a site's key reads it (report.c's serialize_frame): function, file, line and
    inlined; module offset when unresolved."""
    if f.get("function"):
        return (f["function"], f.get("file") or "", f.get("line") or 0, bool(f.get("inlined")))
    return (None, f.get("offset"))


def sites_are_groups(args, ck, trace, cwd, label):
    """The heap sites of `export --format json` are the groups `leaks` makes of the same
    snapshot: export keys stacks on its own frame table (export.c), leaks on report.c's key trie.
    Every stack with live blocks is a leak of `leaks --json --top 0` (no suppression) with the
    same visible frames, blocks, bytes and allocations (a group the leak scan splits by kind is
    several leaks: their blocks and bytes are summed, each carries the group's allocations); a
    hiding rule or a key field handled differently splits or merges sites and breaks this."""
    p = ps(args, "leaks", "--json", "--top", "0", "--no-default-suppressions", trace, cwd=cwd)
    x = ps(args, "export", "--format", "json", trace, cwd=cwd)
    if not ck.check(p.returncode in (0, 1) and x.returncode == 0,
                    "%s: leaks --json and export --format json run" % label,
                    pstest.describe(p) + pstest.describe(x)):
        return
    want = {}
    for l in json.loads(p.stdout)["leaks"]:
        k = tuple(frame_key(f) for f in l.get("stack") or [])
        b, n, a = want.get(k, (0, 0, 0))
        want[k] = (b + l["blocks"], n + l["bytes"], max(a, l["allocs"]))
    d = json.loads(x.stdout)
    got, twice = {}, []
    for st in d["stacks"]:
        v = st["values"]
        if v[1]:  # inuse_objects: live blocks
            k = tuple(frame_key(d["frames"][i]) for i in st["frames"])
            if k in got:
                twice.append(k)
            got[k] = (v[1], v[0], v[3])
    ck.check(not twice, "%s: one export site per key" % label, repr(twice)[:300])
    ck.check(want and got == want, "%s: export's heap sites are leaks' groups (%d)" %
             (label, len(want)),
             "only in export: %r\nonly in leaks: %r" % (sorted(set(got.items()) - set(
                 want.items()))[:2], sorted(set(want.items()) - set(got.items()))[:2]))


def sampled(args, ck, work):
    """A sampled trace: the values are the trace's estimates as `summary` gives them (already
    unsampled), the period the sampling mean, and a comment says they are estimates."""
    trace = os.path.join(work, "sampled.trace")
    r = pstest.run([os.path.join(args.bindir, "leaky")],
                   env={"LD_PRELOAD": args.lib, "PERFSHIM_OUTPUT": trace,
                        "PERFSHIM_SAMPLE": "256", "PERFSHIM_SAMPLE_SEED": "7"}, cwd=work)
    if not ck.check(os.path.exists(trace), "leaky runs sampled", pstest.describe(r)):
        return
    summ = report_json(args, ck, "summary", trace, work)
    pb = os.path.join(work, "sampled.pb.gz")
    export(args, ck, work, "pprof sampled", "-o", pb, trace)
    prof = decode_profile(gzip.decompress(open(pb, "rb").read()))
    ck.equal(prof["period"], 256, "pprof: a sampled trace's period is the sampling mean")
    ck.check(any("estimates" in x for x in prof["strings"]),
             "pprof: a comment says the values are estimates")
    if summ:
        ck.equal(sum(v[0] for _, v in prof["samples"]), summ["totals"]["live_bytes"],
                 "pprof: sampled inuse_space is the estimated live bytes")
        ck.equal(sum(v[2] for _, v in prof["samples"]), summ["totals"]["alloc_bytes"],
                 "pprof: sampled alloc_space is the estimated allocated bytes")
        ck.check(summ.get("sampling"), "summary says the trace is sampled")


def go_pprof(args, ck, pb, *opts, cwd):
    env = {"HOME": cwd, "PPROF_TMPDIR": cwd, "GOCACHE": os.path.join(cwd, "gocache"),
           "PPROF_BINARY_PATH": "/nonexistent"}
    return pstest.run(["go", "tool", "pprof", *opts, pb], cwd=cwd, env=env, timeout=600)


def case_pprof_go(args, ck):
    if not shutil.which("go"):
        ck.skip("go (Debian golang-go) is not installed")
    data = args.data
    work = pstest.tmpdir("export-go")
    leaky = os.path.join(data, "leaky.trace")
    leaks = report_json(args, ck, "leaks", leaky, data)
    if not leaks:
        return
    top = max(leaks["leaks"], key=lambda l: l["bytes"])
    pb = os.path.join(work, "leaky.pb.gz")
    export(args, ck, data, "pprof", "-o", pb, leaky)
    p = go_pprof(args, ck, pb, "-top", "-sample_index=inuse_space", "-unit=byte", cwd=work)
    if not ck.check(p.returncode == 0, "go tool pprof -top reads the profile", pstest.describe(p)):
        return
    # "      flat  flat%   sum%        cum   cum%" then rows: "  1048576B 50.00% ... func"
    rows = [l.split() for l in p.stdout.decode().splitlines()
            if re.match(r"^\s*\d+B\s", l)]
    ck.check(rows, "go tool pprof -top prints rows", pstest.describe(p))
    if rows:
        ck.equal(" ".join(rows[0][5:]), innermost(top), "pprof -top: the top function")
        ck.equal(int(rows[0][0][:-1]), top["bytes"], "pprof -top: its flat bytes")
    p = go_pprof(args, ck, pb, "-traces", cwd=work)
    if ck.check(p.returncode == 0, "go tool pprof -traces reads the profile", pstest.describe(p)):
        text = p.stdout.decode()
        ck.check("main" in text and innermost(top) in text,
                 "pprof -traces shows the top leak's stack with main", text[:3000])
        bids = [b for b in trace_build_ids(leaky).values() if b]
        ck.check(bids and ("Build ID: %s" % bids[0]) in text,
                 "pprof -traces names the program's build-id from the trace (%s)" % bids,
                 text[:1000])
    check_go_unresolved(args, ck, work)


def check_go_unresolved(args, ck, work):
    """A stripped copy of leaky: its frames have no names. pprof -top must show each address as
    its own `module+0xoffset` node, with the bytes the leak report puts at that frame (without a
    Line per location, pprof folded them all into one `[module]` node), and the Mapping must
    still say has_functions false (so a pprof that finds the binary symbolizes them)."""
    exe = os.path.join(work, "leaky_stripped")
    s = pstest.run(["strip", "-s", os.path.join(args.bindir, "leaky"), "-o", exe])
    if not ck.check(s.returncode == 0, "strip leaky", pstest.describe(s)):
        return
    trace = os.path.join(work, "stripped.trace")
    p, reports = pstest.perfshim_run_json(args, ck, [exe], work, ("-o", trace))
    if not reports:
        return
    want = {}  # "leaky_stripped+0x..." of each unresolved innermost frame -> its bytes
    for l in reports[0]["leaks"]:
        f = l["stack"][0] if l.get("stack") else {}
        if not f.get("function") and os.path.basename(f.get("module") or "") == "leaky_stripped":
            k = "leaky_stripped+0x%x" % int(f["offset"], 16)
            want[k] = want.get(k, 0) + l["bytes"]
    ck.check(len(want) >= 2, "the stripped program's leaks end in several unnamed frames: %r"
             % want, pstest.fmt_report(reports[0]))
    pb = os.path.join(work, "stripped.pb.gz")
    export(args, ck, work, "pprof (stripped)", "-o", pb, trace)
    prof = decode_profile(gzip.open(pb).read())
    ck.check(any(os.path.basename(m["file"]) == "leaky_stripped" and not m["has_functions"]
                 for m in prof["maps"].values()),
             "pprof: the stripped program's Mapping says has_functions false")
    p = go_pprof(args, ck, pb, "-top", "-sample_index=inuse_space", "-unit=byte", cwd=work)
    if not ck.check(p.returncode == 0, "go tool pprof -top reads the stripped profile",
                    pstest.describe(p)):
        return
    rows = [l.split() for l in p.stdout.decode().splitlines() if re.match(r"^\s*\d+B\s", l)]
    got = {" ".join(r[5:]): int(r[0][:-1]) for r in rows
           if " ".join(r[5:]).startswith("leaky_stripped+0x")}
    ck.equal(got, want, "pprof -top: each unnamed address its own node, bytes as the leak report")
    ck.check(not any(" ".join(r[5:]) == "[leaky_stripped]" for r in rows),
             "pprof -top: no [leaky_stripped] node", pstest.describe(p))
    # symbolized elsewhere: the unstripped program (the same build-id) where the stripped one
    # was; pprof names the addresses itself. With a Mapping at file_offset 0 (the read-only
    # first segment of a -z separate-code binary) it symbolized them as data: nothing changed.
    shutil.copyfile(os.path.join(args.bindir, "leaky"), exe)
    p = go_pprof(args, ck, pb, "-symbolize=local", "-top", "-sample_index=inuse_space",
                 "-unit=byte", cwd=work)
    rows = [l.split() for l in p.stdout.decode().splitlines() if re.match(r"^\s*\d+B\s", l)]
    named = {" ".join(r[5:]): int(r[0][:-1]) for r in rows if int(r[0][:-1])}
    ck.equal(sorted(named.values()), sorted(want.values()),
             "pprof -symbolize=local with the unstripped binary: the same flat bytes")
    ck.check(named and all(n.startswith("leak_") for n in named),
             "pprof -symbolize=local names the stripped program's frames (leak_*)",
             pstest.describe(p))


def main():
    args = pstest.parse_args(extra)
    ck = pstest.Checker("test_export_" + args.case)
    {"format": case_format, "schemas": case_schemas, "reports": case_reports,
     "pprof_go": case_pprof_go}[args.case](args, ck)
    ck.done()


if __name__ == "__main__":
    main()
