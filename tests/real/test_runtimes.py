#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_runtimes.py — language runtimes with threads of their own, without the shim and under
each shim configuration (--variant): threaded Ruby (its VM looks up each thread's stack bounds
with pthread_getattr_np on the new thread, then allocates), ripgrep with four threads (Rust's
std::thread does the same for its stack guards) and a small Java program on a thread pool (the
JVM does it for every thread, even for `java -version`). Issue 10: all three hung for ever
under full tracking. Each run has a timeout (a hang guard, not a speed limit); output, stderr
and exit status must be identical, and the traces complete with allocations.

The programs nobody here wrote are /usr/bin/ruby, /usr/bin/rg and /usr/bin/java (Debian's
ruby, ripgrep and openjdk-17-jdk-headless, installed by scripts/install-deps.sh); the scripts
they run are generated here. One runtime per run (--runtime); a missing one is reported as
skipped (exit 77)."""
import os
import shutil

import realtest
from realtest import pstest

RUBY = r'''
q = Queue.new
m = Mutex.new
total = 0
ths = 4.times.map do |t|
  Thread.new do
    h = {}
    20000.times { |i| h["k#{i % 3000}"] = [i, t, "x" * (i % 40)].to_s }
    s = h.values.map(&:size).sum
    m.synchronize { total += s }
    q << [t, s]
    s
  end
end
p ths.map(&:value)
p 4.times.map { q.pop }.sort
p total
ths2 = 2.times.map { Thread.new { (0...1000).map { |i| i * 3 }.sum } }
p ths2.map(&:value)
'''

JAVA = r'''
import java.util.*;
import java.util.concurrent.*;

public class Pool {
    public static void main(String[] args) throws Exception {
        ExecutorService ex = Executors.newFixedThreadPool(4);
        List<Future<Long>> fs = new ArrayList<>();
        for (int t = 0; t < 8; t++) {
            final int k = t;
            fs.add(ex.submit(() -> {
                Map<Integer, String> m = new HashMap<>();
                long s = 0;
                for (int i = 0; i < 100000; i++) {
                    m.put(i % 5000, "v" + (i * k));
                    s += m.get(i % 5000).length();
                }
                return s;
            }));
        }
        for (Future<Long> f : fs)
            System.out.println(f.get());
        ex.shutdown();
        Thread[] ts = new Thread[3];
        final long[] out = new long[3];
        for (int i = 0; i < 3; i++) {
            final int k = i;
            ts[i] = new Thread(() -> { for (int j = 0; j < 1000000; j++) out[k] += j % (k + 2); });
            ts[i].start();
        }
        for (Thread t : ts)
            t.join();
        System.out.println(Arrays.toString(out));
    }
}
'''


def extra(ap):
    ap.add_argument("--runtime", choices=("ruby", "rg", "java"), required=True)
    realtest.add_variant_arg(ap, ["shim", "cpu:PERFSHIM_CPU_HZ=1000"])


def make_tree(root):
    """A source-like tree for ripgrep: 40 directories of 25 files, some matching."""
    for d in range(40):
        sub = os.path.join(root, "dir%02d" % d)
        os.makedirs(sub, exist_ok=True)
        for f in range(25):
            with open(os.path.join(sub, "file%02d.txt" % f), "w") as fh:
                for line in range(60):
                    n = d * 10000 + f * 100 + line
                    word = "needle" if n % 7 == 0 else "hay"
                    fh.write("line %d of %d/%d: %s %x\n" % (line, d, f, word, n * 2654435761))


def main():
    args = realtest.parse_args(extra)
    ck = pstest.Checker("real runtimes: %s" % args.runtime)
    need = {"ruby": ["ruby"], "rg": ["rg"], "java": ["java", "javac"]}[args.runtime]
    tools = {t: shutil.which(t) for t in need}
    missing = [t for t, path in tools.items() if not path]
    if missing:
        ck.skip("not installed: %s (scripts/install-deps.sh installs ruby, ripgrep and "
                "openjdk-17-jdk-headless)" % " ".join(missing))
    base = pstest.tmpdir("real-runtimes")
    env = {"LC_ALL": "C"}
    runs = []  # (label, command, sort the output lines)
    if args.runtime == "ruby":
        script = os.path.join(base, "threads.rb")
        with open(script, "w") as f:
            f.write(RUBY)
        runs.append(("ruby threads", [tools["ruby"], script], False))
        program = os.path.basename(os.path.realpath(tools["ruby"]))  # ruby -> ruby3.1
    elif args.runtime == "rg":
        tree = os.path.join(base, "tree")
        make_tree(tree)
        # -j4: four searching threads; matches come out in a thread-dependent order, so the
        # lines are compared sorted (--sort would force a single thread)
        runs.append(("rg -j4 -n", [tools["rg"], "-j4", "--no-config", "-n", "needle", tree],
                     True))
        runs.append(("rg -j4 -c", [tools["rg"], "-j4", "--no-config", "-c", "needle", tree],
                     True))
        program = "rg"
    else:
        jdir = os.path.join(base, "java")
        os.makedirs(jdir)
        with open(os.path.join(jdir, "Pool.java"), "w") as f:
            f.write(JAVA)
        c = pstest.run([tools["javac"], "-d", jdir, os.path.join(jdir, "Pool.java")],
                       timeout=300)
        if not ck.check(c.returncode == 0, "javac compiles the program (without the shim)",
                        pstest.describe(c)):
            ck.done()
        runs.append(("java thread pool", [tools["java"], "-cp", jdir, "Pool"], False))
        runs.append(("java -version", [tools["java"], "-version"], False))
        program = "java"

    def session(side):
        out = []
        for label, cmd, sort in runs:
            p = side.run(cmd, env=env, cwd=base, timeout=300)
            if sort:
                p.stdout = b"\n".join(sorted(p.stdout.splitlines()))
            out.append(p)
        return out

    bare = session(realtest.Side(args, "bare", base))
    for (label, _, _), p in zip(runs, bare):
        ck.check(p.returncode == 0 and (p.stdout or p.stderr),
                 "%s runs without the shim" % label, pstest.describe(p))
    for name, senv in realtest.variants(args):
        side = realtest.Side(args, name, base, senv)
        try:
            got = session(side)
        except pstest.subprocess.TimeoutExpired as e:
            ck.check(False, "[%s] %s finishes (no deadlock)" % (name, args.runtime), str(e))
            continue
        for (label, _, _), b, p in zip(runs, bare, got):
            realtest.compare(ck, "%s [%s]" % (label, name), b, p)
        realtest.check_traces(ck, side, program, min_allocs=1000,
                              locks_used=args.runtime != "rg")
    realtest.cleanup(args, base)
    ck.done()


if __name__ == "__main__":
    main()
