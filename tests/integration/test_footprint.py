#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_footprint.py — what sampling adds to a small process's memory (issue 11: peak RSS at
most 1.1x plain glibc on 3-6 MB processes). tests/integration/footprint.c churns a ring of 4096
small blocks (about a thousand sample points at PERFSHIM_SAMPLE=524288, hashed into the shim's
tables) and prints its anonymous resident KiB at the end, which is deterministic here (file
pages are not: they depend on the page cache). Bounds, KiB:
  - sampling with the pool on, over the pool alone: at most SAMPLE_OVER_POOL (it was 228 with a
    64 KiB live table and a 64 KiB filter whose every page the samples wrote, a walk memo and a
    rule cache per thread; 84 since, 92-100 after the ages' merge, 80-84 with the live table at
    8 slots a shard and the thread's state one page smaller);
  - sampling with the pool off, over plain glibc: at most NOPOOL_OVER_PLAIN (244 before, 112,
    136-140 after the ages' merge, 120-124 since; the bound was 120 until a CI run measured 124:
    with the least of three runs per mode, 116-124 in 15 runs here, so 128 is the top of that
    spread plus one page: 1.09x plain's 1364-1372 KiB, under issue 11's 1.1x);
  - the pool alone, over plain glibc: at most POOL_OVER_PLAIN (244-248 when every class's
    transfer stack had room for up to 1024 blocks from the start, written up to its high-water
    mark by the churn: 212 with stacks of 128 blocks, packed, until a second thread has a cache);
  - full tracking, over the pool alone: at most FULL_OVER_POOL (240 before, 216 since, 224-236 with
    ages: the smaller starting tables must not make full tracking's own footprint grow).
It also prints the resident KiB of libperfshim.so's code: with the pool at most CODE_KB["pool"],
one 64 KiB fault-around window (144 before: all of it, because the code a run executes was spread
over the library; the link now puts it first, shim/text_order.txt). Sampling (pool on and off)
executed 67.6 KiB once ages, the leak scan's walks and the machine's memory in PROCESS were
merged (two windows); with its init, exit and rule-computing code compiled for size (cold) and
none of alerts.c run without an alert, 62 KiB: one window again, the bound for all three.
Checked only when the library was linked that way (its code segment aligned to 64 KiB: lld).
And it prints the resident KiB of libc's read-only mappings: with sampling (pool on and off) at
most LIBC_RO_OVER_PLAIN over plain glibc's. The sampled walks' reads of libc's .eh_frame_hdr and
.eh_frame stayed mapped (360-384 KiB against plain's 280-288); the unwinder now unmaps them once a
rule is computed (296). With the shim's .data and .bss packed (shim/data_order.txt) and the pool's
empty caches out of .data, the anonymous figures fell by 16-20 KiB in every mode (pool 1632-1636
-> 1612-1616, sampling 1712-1716 -> 1696-1704, pool off 1492-1496 -> 1476). The advice
counters' rows (issue 13 item 1; one row per sampled stack, shared by the threads) add a page or
two: sampling 1704-1708 (92-96 over the pool), pool off 1484 (112-116 over plain), so
SAMPLE_OVER_POOL is 104; the snapshot writer's code was listed last in text_order.txt so that the
code sampling runs while the program allocates stayed in one window (now: right after it, below).

The exit (issue 11 item 3, rss6): a small process peaks at exit, in the shim's final snapshot. Run
through bench-spawn (tests/bench), the program's peak RSS minus its RSS as main returns is the
exit's growth, at most EXIT_KB with the pool, sampling and sampling with the pool off. Before, the
snapshot writer's code sat in a second 64 KiB window and the ages walk read a 96 KiB table of
never-written pages (each read makes a page resident on this kernel): sampling's exit added
+52..+64 KiB (pool off and on); now -128..-60 (the peak is the run's, not the exit's). Without
bench-spawn (a build without tests/bench) the check is left out.

The shim's read-only pages (rss2): its one read-only segment held the ELF header, the dynamic
symbols, .rodata (the pool's class tables, read by every malloc) and its unwind tables, 68 KiB,
one whole fault-around window resident in every mode (68 KiB with the RELRO page). The unwind
tables now have a segment of their own after the code (shim/text_layout.ld), which the pool never
reads and the unwinder unmaps again after computing a rule (unwind.c, drop_tables): at most
SHIM_RO_KB in the pool and sampling modes (36 measured: the first segment, 32, and RELRO's page,
which the unwind tables' segment, padded to a page, leaves aligned). Checked only with lld's link."""
import os
import struct

import pstest

SAMPLE_OVER_POOL = 104
POOL_OVER_PLAIN = 228
NOPOOL_OVER_PLAIN = 128
LIBC_RO_OVER_PLAIN = 48
FULL_OVER_POOL = 250
CODE_KB = {"pool": 64, "sample": 64, "sample, pool off": 64}
EXIT_KB = 16
SHIM_RO_KB = 40
ANON_RUNS = 3


def code_aligned(lib):
    """True if lib's executable PT_LOAD segment is aligned to 64 KiB (the text order's link)."""
    with open(lib, "rb") as f:
        elf = f.read(1 << 16)
    if elf[:4] != b"\x7fELF" or elf[4] != 2:
        return False
    phoff, = struct.unpack_from("<Q", elf, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", elf, 0x36)
    for i in range(phnum):
        p_type, p_flags = struct.unpack_from("<II", elf, phoff + i * phentsize)
        p_align, = struct.unpack_from("<Q", elf, phoff + i * phentsize + 0x30)
        if p_type == 1 and p_flags & 1:
            return p_align >= 0x10000
    return False


def anon_kb(ck, prog, env, label, code=None, libc_ro=None, exit_kb=None, spawn=None, d=None,
            shim_ro=None):
    """Runs prog (through bench-spawn when spawn is given, which reports its peak RSS: then
    exit_kb[label] is that peak minus the RSS as main returned) and returns its anonymous KiB."""
    argv = [prog]
    if spawn:  # bench-spawn without the shim (else it writes a trace too); env(1) adds it back
        rf = os.path.join(d, "spawn.txt")
        shim_vars = {k: v for k, v in env.items() if k == "LD_PRELOAD" or k.startswith("PERFSHIM_")}
        argv = [spawn, rf, "env"] + ["%s=%s" % kv for kv in shim_vars.items()] + [prog]
        env = {k: v for k, v in env.items() if k not in shim_vars}
    p = pstest.run(argv, env=env)
    out = p.stdout.decode("utf-8", "replace").split()
    if not ck.check(p.returncode == 0 and len(out) == 10 and out[0] == "anonymous_kb"
                    and out[2] == "shim_code_kb" and out[4] == "libc_ro_kb"
                    and out[6] == "shim_ro_kb" and out[8] == "rss_kb",
                    "%s: the program runs and prints its anonymous memory" % label,
                    pstest.describe(p)):
        return None
    if code is not None:
        code[label] = int(out[3])
    if libc_ro is not None:
        libc_ro[label] = int(out[5])
    if shim_ro is not None:
        shim_ro[label] = int(out[7])
    if spawn and exit_kb is not None:
        with open(rf) as f:
            exit_kb[label] = int(f.read().split()[3]) - int(out[9])
    return int(out[1])


def least_anon_kb(ck, prog, env, label, first):
    """The least of first and ANON_RUNS - 1 more runs' anonymous KiB. One run's figure moves by
    a page or two with where ASLR puts the top of the stack (plain glibc's alone: 1364-1372 in 20
    runs), and a bound that sits a page over one run's median failed a CI run (sampling with the
    pool off: 124 KiB over plain where 20 runs here gave 112-124). The least of three runs keeps
    what every run has, so a real growth of a page or more still shows."""
    if first is None:
        return None
    least = first
    for _ in range(ANON_RUNS - 1):
        kb = anon_kb(ck, prog, env, label)
        if kb is None:
            return None
        least = min(least, kb)
    return least


def main():
    args = pstest.parse_args()
    ck = pstest.Checker("footprint")
    if not os.path.exists("/proc/self/smaps_rollup"):
        ck.skip("no /proc/self/smaps_rollup (Linux 4.14 or later)")
    prog = os.path.join(args.bindir, "footprint")
    d = pstest.tmpdir("footprint")
    base = {k: v for k, v in os.environ.items() if not k.startswith("PERFSHIM_")}
    shim = dict(base, LD_PRELOAD=args.lib, PERFSHIM_OUTPUT=os.path.join(d, "%p.trace"))
    code, ro, ex = {}, {}, {}
    # bench-spawn (tests/bench) measures a child's peak RSS without the parent's high-water mark
    spawn = os.path.join(args.bindir, "bench", "bench-spawn")
    spawn = spawn if os.access(spawn, os.X_OK) else None
    shim_ro = {}
    kw = dict(exit_kb=ex, spawn=spawn, d=d, shim_ro=shim_ro)
    envs = {"pool": dict(shim, PERFSHIM_MODE="pool"),
            "sample": dict(shim, PERFSHIM_SAMPLE="524288", PERFSHIM_SAMPLE_SEED="1"),
            "sample, pool off": dict(shim, PERFSHIM_SAMPLE="524288", PERFSHIM_POOL="0",
                                     PERFSHIM_SAMPLE_SEED="1")}
    kb = {
        "plain": least_anon_kb(ck, prog, base, "plain", anon_kb(ck, prog, base, "plain", None, ro,
                                                                 **kw)),
        "pool": least_anon_kb(ck, prog, envs["pool"], "pool",
                              anon_kb(ck, prog, envs["pool"], "pool", code, ro, **kw)),
        "sample": least_anon_kb(ck, prog, envs["sample"], "sample",
                                anon_kb(ck, prog, envs["sample"], "sample", code, ro, **kw)),
        "nopool": least_anon_kb(ck, prog, envs["sample, pool off"], "sample, pool off",
                                anon_kb(ck, prog, envs["sample, pool off"], "sample, pool off",
                                        code, ro, **kw)),
        "full": least_anon_kb(ck, prog, shim, "full", anon_kb(ck, prog, shim, "full", code, ro)),
    }
    print("anonymous KiB: %s" % ", ".join("%s %s" % kv for kv in kb.items()))
    print("libperfshim.so code resident, KiB: %s" % ", ".join("%s %s" % kv for kv in code.items()))
    print("libc read-only resident, KiB: %s" % ", ".join("%s %s" % kv for kv in ro.items()))
    print("libperfshim.so read-only resident (RELRO included), KiB: %s"
          % ", ".join("%s %s" % kv for kv in shim_ro.items()))
    print("exit's growth (peak RSS minus RSS as main returns), KiB: %s"
          % (", ".join("%s %s" % kv for kv in ex.items()) or "not measured (no bench-spawn)"))
    for label in ("pool", "sample", "sample, pool off"):
        # the peak comes from ru_maxrss, which moves in 128 KiB steps on this kernel (per-CPU
        # RSS counters): an exit over the bound is measured twice more and the least is kept,
        # so a real growth (every run) still fails while a counter's step does not
        for _ in range(2):
            if label not in ex or ex[label] <= EXIT_KB:
                break
            again = {}
            if anon_kb(ck, prog, envs[label], label, exit_kb=again, spawn=spawn, d=d) is None:
                break
            print("%s: the exit measured again: %d KiB (was %d)" % (label, again[label],
                                                                    ex[label]))
            ex[label] = min(ex[label], again[label])
        if label in ex:
            ck.check(ex[label] <= EXIT_KB,
                     "%s: the exit (the final snapshot) adds at most %d KiB to the RSS as main "
                     "returns" % (label, EXIT_KB), "%d KiB" % ex[label])
    if "plain" in ro:
        for label in ("sample", "sample, pool off"):
            if label in ro:
                ck.check(ro[label] - ro["plain"] <= LIBC_RO_OVER_PLAIN,
                         "%s: libc's read-only pages at most %d KiB over plain glibc's (the "
                         "unwinder's reads of its tables unmapped)" % (label, LIBC_RO_OVER_PLAIN),
                         "%d KiB over %d" % (ro[label] - ro["plain"], ro["plain"]))
    if code_aligned(args.lib):
        for label in ("pool", "sample", "sample, pool off"):
            if label in code:
                ck.check(code[label] <= CODE_KB[label],
                         "%s: at most %d KiB of the shim's code resident" % (label, CODE_KB[label]),
                         "%d KiB" % code[label])
            if label in shim_ro:
                ck.check(shim_ro[label] <= SHIM_RO_KB,
                         "%s: at most %d KiB of the shim's read-only pages resident (its unwind "
                         "tables in a segment of their own)" % (label, SHIM_RO_KB),
                         "%d KiB" % shim_ro[label])
    else:
        print("libperfshim.so was linked without its text order (no lld): code not checked")
    if None in kb.values():
        ck.done()
    ck.check(kb["pool"] - kb["plain"] <= POOL_OVER_PLAIN,
             "the pool adds at most %d KiB to plain glibc's memory" % POOL_OVER_PLAIN,
             "it adds %d KiB" % (kb["pool"] - kb["plain"]))
    ck.check(kb["sample"] - kb["pool"] <= SAMPLE_OVER_POOL,
             "sampling adds at most %d KiB to the pool's memory" % SAMPLE_OVER_POOL,
             "it adds %d KiB" % (kb["sample"] - kb["pool"]))
    ck.check(kb["nopool"] - kb["plain"] <= NOPOOL_OVER_PLAIN,
             "sampling with the pool off adds at most %d KiB to glibc's" % NOPOOL_OVER_PLAIN,
             "it adds %d KiB" % (kb["nopool"] - kb["plain"]))
    ck.check(kb["full"] - kb["pool"] <= FULL_OVER_POOL,
             "full tracking adds at most %d KiB to the pool's memory" % FULL_OVER_POOL,
             "it adds %d KiB" % (kb["full"] - kb["pool"]))
    # the sampled runs did sample: a trace with estimates (else the bound says nothing)
    traces = [f for f in os.listdir(d) if f.endswith(".trace")]
    ck.check(len(traces) >= 3, "three traces written (sample, sample with the pool off, full; "
             "one more for each exit measured again)", repr(traces))
    ck.done()


if __name__ == "__main__":
    main()
