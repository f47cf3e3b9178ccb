#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_tools.py — the everyday command-line tools on generated data, without the shim and
under each shim configuration (--variant): GNU sort (parallel, 64 MiB buffer), uniq, cut, sed,
grep, mawk, bash pipelines (every process of a pipeline inherits the shim), find, diff, tar,
gzip, bzip2, xz and zstd (both with two compression threads), bc (bignum arithmetic), jq (a
50,000-element JSON document) and make -j2 (a generated Makefile of 60 targets, forking and
exec'ing under the shim). Each step's stdout, stderr and exit status must be identical
(make's output lines are compared sorted, as -j2 interleaves them; its artifacts are hashed).
Inputs are deterministic: fixed seed, fixed file times; LC_ALL=C."""
import os
import random
import shutil

import realtest
from realtest import pstest

TOOLS = ["bash", "sort", "sed", "grep", "mawk", "tar", "gzip", "bzip2", "xz", "zstd", "bc", "jq",
         "make", "find", "diff", "sha256sum"]


def extra(ap):
    ap.add_argument("--lines", type=int, default=200000, help="lines of generated text")
    realtest.add_variant_arg(ap, ["shim", "cpu:PERFSHIM_CPU_HZ=1000"])


def make_data(base, lines):
    rnd = random.Random(4242)
    words = ["".join(rnd.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rnd.randint(2, 9)))
             for _ in range(3000)]
    data = os.path.join(base, "data")
    os.makedirs(os.path.join(data, "tree", "sub"), exist_ok=True)
    with open(os.path.join(data, "input.txt"), "w") as f:
        for i in range(lines):
            f.write("%s-%d %s %d %s\n" % (rnd.choice(words), i % 977, rnd.choice(words),
                                          rnd.randint(0, 10 ** 6), rnd.choice(words)))
    for k in range(40):
        with open(os.path.join(data, "tree", "sub" if k % 3 else "", "f%02d.txt" % k), "w") as f:
            f.write("".join("%s %d\n" % (rnd.choice(words), j) for j in range(200 + k * 50)))
    with open(os.path.join(data, "a.txt"), "w") as f:
        f.write("".join("line %d\n" % i for i in range(3000)))
    with open(os.path.join(data, "b.txt"), "w") as f:
        f.write("".join("line %d\n" % i if i % 97 else "changed %d\n" % i for i in range(3000)))
    with open(os.path.join(data, "doc.json"), "w") as f:
        f.write("[" + ",".join('{"id":%d,"name":"%s","tags":["%s","%s"],"score":%d}'
                               % (i, rnd.choice(words), rnd.choice(words[:20]),
                                  rnd.choice(words[:20]), rnd.randint(0, 1000))
                               for i in range(50000)) + "]\n")
    with open(os.path.join(data, "calc.bc"), "w") as f:
        f.write("scale=2500\nsqrt(2)\nscale=0\n2^20000 % 1000000007\n(3^4000) / (7^1000)\n"
                "define f(n) {\n  if (n < 2) return (n)\n  return (f(n - 1) + f(n - 2))\n}\n"
                "f(22)\nx = 1\nfor (i = 1; i <= 800; i++) x *= i\nx\n")
    with open(os.path.join(data, "Makefile"), "w") as f:
        f.write("all: " + " ".join("out/t%02d.txt" % i for i in range(60)) + "\n")
        for i in range(60):
            f.write("out/t%02d.txt: input.txt\n\t@mkdir -p out\n"
                    "\t@grep -e '-%d ' input.txt | tr a-z A-Z | sort > $@\n"
                    "\t@echo built t%02d\n" % (i, i, i))
    for root, dirs, files in os.walk(data):
        for n in dirs + files:
            os.utime(os.path.join(root, n), (1700000000, 1700000000))
    return data


def steps(work):
    """(label, argv, compare make-style sorted stdout). Paths are relative to the work copy."""
    sh = lambda s: ["bash", "-c", "set -o pipefail; " + s]
    tar = ("tar --sort=name --mtime=@1700000000 --owner=0 --group=0 --numeric-owner -cf - tree")
    return [
        ("sort parallel", sh("sort -S 64M --parallel=2 -k3,3 -k4,4n input.txt | sha256sum"), 0),
        ("sort -u numeric", sh("sort -u -t' ' -k4,4n input.txt | tail -5"), 0),
        ("count words", sh("cut -d' ' -f2 input.txt | sort | uniq -c | sort -k1,1rn -k2 | "
                           "sed -n 1,40p"), 0),
        ("sed", sh("sed -E 's/^([a-z]+)-([0-9]+)/\\2:\\1/; s/[aeiou]+/<&>/g' input.txt | "
                   "sha256sum"), 0),
        ("grep", sh("grep -cE '^[a-m]+-(1|2)[0-9] ' input.txt; grep -oE '\\b[xyz][a-z]{4}\\b' "
                    "input.txt | sort | uniq -c | sort -k1,1rn -k2 | sed -n 1,20p"), 0),
        ("mawk", ["mawk", "{ s[$2] += $3; n[$2]++ } END { for (k in s) "
                  "printf \"%s %d %.3f\\n\", k, n[k], s[k] / n[k] | \"sort\" }", "input.txt"], 0),
        ("find", sh("find tree -type f -name 'f*.txt' | sort; find tree -type f -size +4k | "
                    "wc -l"), 0),
        ("diff", ["diff", "-u", "a.txt", "b.txt"], 0),
        ("tar+gzip", sh(tar + " | gzip -n -9 | sha256sum"), 0),
        ("tar+bzip2", sh(tar + " | bzip2 -9 | sha256sum"), 0),
        ("xz -T2", sh("xz -T2 -3 --block-size=1MiB -c input.txt > input.xz && "
                      "xz -dc input.xz | cmp - input.txt && sha256sum input.xz"), 0),
        ("zstd -T2", sh("zstd -q -T2 -12 -c input.txt > input.zst && zstd -q -dc input.zst | "
                        "cmp - input.txt && sha256sum input.zst"), 0),
        ("bc", sh("bc -l calc.bc < /dev/null | sha256sum; bc -l calc.bc < /dev/null | "
                  "sed -n '$p'"), 0),
        ("jq", ["jq", "-c", "group_by(.tags[0]) | map({tag: .[0].tags[0], n: length, "
                "top: (max_by(.score) | .id), mean: ((map(.score) | add) / length | floor)}) | "
                "sort_by(-.n, .tag) | .[:15]", "doc.json"], 0),
        ("make -j2", ["make", "-s", "-j2", "--no-print-directory"], 1),
        ("make artifacts", sh("cat out/*.txt | sha256sum; ls out | wc -l"), 0),
        ("jq error", ["jq", ".[0] | .id.nope", "doc.json"], 0),
    ]


def main():
    args = realtest.parse_args(extra)
    ck = pstest.Checker("real tools")
    missing = [t for t in TOOLS if not shutil.which(t)]
    if missing:
        ck.skip("tools not installed (scripts/install-deps.sh installs them): %s"
                % " ".join(missing))
    base = pstest.tmpdir("real-tools")
    data = make_data(base, args.lines)
    work = os.path.join(base, "work")  # the same path for every side
    env = {"LC_ALL": "C", "TZ": "UTC", "MAKEFLAGS": "", "XZ_DEFAULTS": "", "ZSTD_CLEVEL": "",
           "BC_ENV_ARGS": "", "BC_LINE_LENGTH": "0"}

    def session(side):
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(data, work, symlinks=True)
        return [(label, side.run(argv, cwd=work, env=env, timeout=300), srt)
                for label, argv, srt in steps(work)]

    bare = session(realtest.Side(args, "bare", base))
    bad = [(l, p) for l, p, _ in bare if p.returncode != 0 and l not in ("diff", "jq error")]
    ck.check(not bad, "every step succeeds without the shim (diff and jq error aside)",
             "\n".join("%s: %s" % (l, pstest.describe(p)) for l, p in bad[:3]))
    by = {l: p for l, p, _ in bare}
    ck.check(by["diff"].returncode == 1 and b"+changed 97" in by["diff"].stdout,
             "diff finds the differences", pstest.describe(by["diff"]))
    ck.check(by["jq error"].returncode == 5 and b"Cannot index number" in by["jq error"].stderr,
             "jq reports its error", pstest.describe(by["jq error"]))
    ck.check(by["make artifacts"].stdout.endswith(b"\n60\n"), "make built 60 targets",
             pstest.describe(by["make artifacts"]))
    for name, senv in realtest.variants(args):
        side = realtest.Side(args, name, base, senv)
        got = session(side)
        same = 0
        for (label, b, srt), (_, s, _) in zip(bare, got):
            if srt:
                b = pstest.subprocess.CompletedProcess(b.args, b.returncode,
                                                       b"\n".join(sorted(b.stdout.split(b"\n"))),
                                                       b.stderr)
                s = pstest.subprocess.CompletedProcess(s.args, s.returncode,
                                                       b"\n".join(sorted(s.stdout.split(b"\n"))),
                                                       s.stderr)
            if (b.returncode, b.stdout, b.stderr) == (s.returncode, s.stdout, s.stderr):
                same += 1
            else:
                realtest.compare(ck, "%s [%s]" % (label, name), b, s)
        ck.check(same == len(bare), "[%s] all %d steps identical with the shim"
                 % (name, len(bare)))
        for prog, least in (("sort", 10), ("bash", 100), ("jq", 100000), ("bc", 1000),
                            ("make", 1000), ("xz", 10), ("zstd", 10)):
            realtest.check_traces(ck, side, prog, min_allocs=least)
    realtest.cleanup(args, base)
    ck.done()


if __name__ == "__main__":
    main()
