#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_symbol_cache.py — `--symbol-cache DIR` (issue 14 item 3: symbolization cached across
runs on disk, keyed by build-id). One trace of leaky_O2 (inlined frames: the cache keeps whole
inline chains), then `perfshim leaks --top 0` and `timeline --json`, with PA_SYMBOLS_DEBUG=1 (the
analyzer prints a line per module it opens and, with a cache, its hit/miss/invalid/written
counters). Every run must print exactly what the run without a cache prints:
  - miss: an empty cache opens the modules and writes one file per build-id, BUILDID.sym;
  - hit: the next run opens no module at all (a module whose addresses are all cached is never
    read) and misses nothing;
  - corrupt: a file with a flipped byte, or cut short, is ignored (counted invalid), its module
    opened again, and the file rewritten whole (the run after is all hits);
  - build-id mismatch: another module's file put under leaky_O2's name is ignored;
  - concurrent: four analyzers filling one empty cache at once all print the right report and
    leave one valid file per module and no temporary file;
  - a cache path that is a regular file is a usage error (exit 2)."""
import collections
import os
import re
import shutil
import subprocess

import pstest


def opened(stderr):
    return collections.Counter(
        m.group(1) for m in re.finditer(rb"perfshim: symbols: opening (\S+) \(", stderr))


def counters(stderr):
    m = re.search(rb"cache (\d+) hits, (\d+) misses, (\d+) invalid, (\d+) written", stderr)
    return tuple(int(x) for x in m.groups()) if m else None


def main():
    args = pstest.parse_args()
    ck = pstest.Checker("test_symbol_cache")
    work = pstest.tmpdir("symcache")
    prog = os.path.join(args.bindir, "leaky_O2")
    p, traces, _ = pstest.preload_and_analyze(args, ck, [prog], work)
    if not ck.check(len(traces) == 1, "one trace recorded", pstest.describe(p)):
        ck.done()
    trace = traces[0]
    env = {"PA_SYMBOLS_DEBUG": "1"}
    commands = [["leaks", "--top", "0"], ["timeline", "--json"]]

    def analyze(cache, label, cmd=commands[0]):
        extra = ["--symbol-cache", cache] if cache else []
        a = pstest.run([args.perfshim] + cmd + extra + [trace], env=env, cwd=work)
        ck.check(a.returncode == 0, "%s: exits 0" % label, pstest.describe(a))
        return a

    ref = {tuple(c): analyze(None, "no cache: " + c[0], c) for c in commands}
    ck.check(opened(ref[tuple(commands[0])].stderr).get(prog.encode(), 0) == 1,
             "no cache: leaky_O2 opened", repr(opened(ref[tuple(commands[0])].stderr)))

    def same(a, label, cmd=commands[0]):
        ck.check(a.stdout == ref[tuple(cmd)].stdout,
                 "%s: output identical to the run without a cache" % label, pstest.describe(a))

    cache = os.path.join(work, "cache")  # made by the analyzer
    a = analyze(cache, "miss")
    same(a, "miss")
    c = counters(a.stderr)
    ck.check(c and c[0] == 0 and c[1] > 0 and c[3] >= 2, "miss: all misses, files written",
             repr(c))
    a = analyze(cache, "miss: timeline", commands[1])  # its addresses too
    same(a, "miss: timeline", commands[1])
    files = sorted(f for f in os.listdir(cache) if f.endswith(".sym"))
    ck.check(len(files) >= 2 and all(re.fullmatch(r"[0-9a-f]{16,128}\.sym", f) for f in files),
             "miss: one BUILDID.sym per module", repr(files))
    out = subprocess.run(["readelf", "-n", prog], stdout=subprocess.PIPE).stdout
    m = re.search(rb"Build ID: ([0-9a-f]+)", out)
    mine = (m.group(1).decode() + ".sym") if m else None
    ck.check(mine in files, "miss: leaky_O2's file is named by its build-id", repr((mine, files)))

    for cmd in commands:
        a = analyze(cache, "hit: " + cmd[0], cmd)
        same(a, "hit: " + cmd[0], cmd)
        c = counters(a.stderr)
        ck.check(c and c[1] == 0 and c[2] == 0 and c[0] > 0, "hit: %s misses nothing" % cmd[0],
                 repr(c))
        ck.check(not opened(a.stderr), "hit: %s opens no module" % cmd[0],
                 repr(opened(a.stderr)))

    path = os.path.join(cache, mine) if mine else None
    if path and os.path.exists(path):
        good = open(path, "rb").read()
        for how, data in (("flipped byte", good[:len(good) // 2] + bytes([good[len(good) // 2] ^ 1])
                           + good[len(good) // 2 + 1:]),
                          ("cut short", good[:len(good) - 7]),
                          ("empty", b""),
                          ("another module's file", None)):
            if data is None:
                other = [f for f in files if f != mine][0]
                shutil.copyfile(os.path.join(cache, other), path)
            else:
                with open(path, "wb") as fh:
                    fh.write(data)
            a = analyze(cache, "corrupt (%s)" % how)
            same(a, "corrupt (%s)" % how)
            c = counters(a.stderr)
            ck.check(c and (c[2] == 1 or (how == "empty" and c[2] <= 1)),
                     "corrupt (%s): counted invalid" % how, repr(c))
            ck.check(opened(a.stderr).get(prog.encode(), 0) == 1,
                     "corrupt (%s): leaky_O2 opened again" % how, repr(opened(a.stderr)))
            now = open(path, "rb").read()
            ck.check(now != data and now[:8] == good[:8], "corrupt (%s): file rewritten" % how)
            a = analyze(cache, "after corrupt (%s)" % how)
            c = counters(a.stderr)
            ck.check(c and c[1] == 0 and c[2] == 0, "after corrupt (%s): all hits" % how, repr(c))

    # four writers at once on an empty cache
    cc = os.path.join(work, "concurrent")
    procs = [subprocess.Popen([args.perfshim, "leaks", "--top", "0", "--symbol-cache", cc, trace],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=work)
             for _ in range(4)]
    outs = [pr.communicate(timeout=300) for pr in procs]
    ck.check(all(pr.returncode == 0 for pr in procs), "concurrent: all exit 0")
    ck.check(all(o[0] == ref[tuple(commands[0])].stdout for o in outs),
             "concurrent: every output identical to the run without a cache")
    left = sorted(os.listdir(cc))
    ck.check(left == files, "concurrent: one file per module, no temporary file", repr(left))
    a = analyze(cc, "after concurrent")
    c = counters(a.stderr)
    ck.check(c and c[1] == 0 and c[2] == 0, "after concurrent: valid files, all hits", repr(c))

    notdir = os.path.join(work, "plain")
    open(notdir, "w").close()
    a = pstest.run([args.perfshim, "leaks", "--symbol-cache", notdir, trace], cwd=work)
    ck.check(a.returncode == 2 and b"--symbol-cache" in a.stderr,
             "a regular file as the cache: usage error", pstest.describe(a))
    ck.done()


if __name__ == "__main__":
    main()
