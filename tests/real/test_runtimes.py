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
they run are generated here. A runtime that is missing is reported as skipped (exit 77) only
when none of the three is there; a partial install fails the test so it cannot hide."""
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
    ck = pstest.Checker("real runtimes")
    tools = {"ruby": shutil.which("ruby"), "rg": shutil.which("rg"),
             "java": shutil.which("java"), "javac": shutil.which("javac")}
    if not any(tools.values()):
        ck.skip("none of ruby, rg, java is installed (scripts/install-deps.sh installs them)")
    missing = [k for k, v in tools.items() if not v]
    ck.check(not missing, "ruby, ripgrep, java and javac are installed", repr(missing))
    base = pstest.tmpdir("real-runtimes")
    with open(os.path.join(base, "threads.rb"), "w") as f:
        f.write(RUBY)
    tree = os.path.join(base, "tree")
    make_tree(tree)
    jdir = os.path.join(base, "java")
    os.makedirs(jdir)
    with open(os.path.join(jdir, "Pool.java"), "w") as f:
        f.write(JAVA)
    if tools["javac"]:
        c = pstest.run([tools["javac"], "-d", jdir, os.path.join(jdir, "Pool.java")], timeout=300)
        ck.check(c.returncode == 0, "javac compiles the Java program (without the shim)",
                 pstest.describe(c))
    env = {"LC_ALL": "C", "RUBY_THREAD_VM_STACK_SIZE": "1048576"}

    def session(side):
        out = {}
        if tools["ruby"]:
            out["ruby"] = side.run([tools["ruby"], os.path.join(base, "threads.rb")], env=env,
                                   cwd=base, timeout=180)
        if tools["rg"]:
            # -j4: four searching threads; matches come out in a thread-dependent order, so
            # --sort is not used (it forces one thread): the lines are compared sorted.
            out["rg"] = side.run([tools["rg"], "-j4", "--no-config", "-n", "needle", tree],
                                 env=env, cwd=base, timeout=180)
            out["rg-count"] = side.run([tools["rg"], "-j4", "--no-config", "-c", "needle",
                                        tree], env=env, cwd=base, timeout=180)
        if tools["java"] and tools["javac"]:
            out["java"] = side.run([tools["java"], "-Xshare:auto", "-cp", jdir, "Pool"],
                                   env=env, cwd=base, timeout=300)
            out["java-version"] = side.run([tools["java"], "-version"], env=env, cwd=base,
                                           timeout=300)
        return out

    def sort_lines(p):
        p.stdout = b"\n".join(sorted(p.stdout.splitlines()))
        return p

    bare = session(realtest.Side(args, "bare", base))
    for k, p in bare.items():
        ck.check(p.returncode == 0 and p.stdout or k == "java-version" and p.returncode == 0,
                 "%s runs without the shim" % k, pstest.describe(p))
    for k in ("rg", "rg-count"):
        if k in bare:
            sort_lines(bare[k])
    for name, senv in realtest.variants(args):
        side = realtest.Side(args, name, base, senv)
        try:
            got = session(side)
        except pstest.subprocess.TimeoutExpired as e:
            ck.check(False, "[%s] every runtime finishes (no deadlock)" % name, str(e))
            continue
        for k, p in got.items():
            if k in ("rg", "rg-count"):
                sort_lines(p)
            realtest.compare(ck, "%s [%s]" % (k, name), bare[k], p)
        if tools["ruby"]:
            # traces are named after the executable: ruby is a link to ruby3.1 (or later)
            realtest.check_traces(ck, side, os.path.basename(os.path.realpath(tools["ruby"])),
                                  min_allocs=10000, locks_used=True)
        if tools["rg"]:
            realtest.check_traces(ck, side, "rg", min_allocs=1000)
        if tools["java"] and tools["javac"]:
            realtest.check_traces(ck, side, "java", min_allocs=1000, locks_used=True)
    realtest.cleanup(args, base)
    ck.done()


if __name__ == "__main__":
    main()
