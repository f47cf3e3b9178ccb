#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_invisible.py — a program sees nothing of the shim (tests/integration/invisible.c prints
its descriptors with their targets, its thread count, every signal's disposition as sigaction()
reports it, its blocked signals and its environment at start, after threads ran and blocks were
allocated at stacks only libunwind walks (a signal handler, code without unwind tables), and
at exit). Compared without the shim and under it: full tracking with lock timing, CPU sampling
(whose SIGPROF handler the program must not see, also after installing its own), every stack
by libunwind (PERFSHIM_UNWIND=libunwind), and the pool alone. Both runs get the same
PERFSHIM_* variables; only LD_PRELOAD differs. Neither writes to stderr.

Also: libunwind is loaded only by processes that need it (PERFSHIM_VERBOSE=1 says so), and then
walks through the signal frame (main is in the handler's leak); it is never loaded where that
could wait on the dynamic loader (loaderlock.c: those stacks are cut short and marked, the
program finishes, and a later stack is complete); and under a small address-space limit (the
pool reserves less) the shim prints nothing unless PERFSHIM_VERBOSE=1."""
import os
import re
import resource

import pstest

VARIANTS = [
    ("full tracking, lock timing", {"PERFSHIM_LOCKS": "1"}),
    ("CPU sampling", {"PERFSHIM_LOCKS": "1", "PERFSHIM_CPU_HZ": "1000"}),
    ("libunwind for every stack", {"PERFSHIM_UNWIND": "libunwind"}),
    ("pool only", {"PERFSHIM_MODE": "pool"}),
    ("interval snapshots", {"PERFSHIM_LOCKS": "1", "PERFSHIM_INTERVAL": "10ms"}),
    # every trigger and alert armed (none reached but the live-heap steps and bytes), the dump
    # signal's handler in place, the Prometheus file written at each snapshot (alerts.c)
    ("snapshot triggers and alerts", {"PERFSHIM_INTERVAL": "10ms", "PERFSHIM_DUMP_SIGNAL": "USR2",
                                      "PERFSHIM_DUMP_AT_MAX": "1", "PERFSHIM_DUMP_EVERY": "64k",
                                      "PERFSHIM_ALERT_HEAP": "1G", "PERFSHIM_ALERT_RSS": "1G",
                                      "PERFSHIM_ALERT_CGROUP": "100%",
                                      "PERFSHIM_ALERT_GROWTH": "1000%",
                                      "PERFSHIM_PROM_FILE": "invisible.prom"}),
]


def comparable(out):
    """stdout without the one line the runs may differ by: LD_PRELOAD in the environment."""
    return b"\n".join(l for l in out.split(b"\n") if not l.startswith(b"env LD_PRELOAD="))


def leaks_json(args, ck, label, traces, cwd):
    a = pstest.run([args.perfshim, "leaks", "--json"] + traces, cwd=cwd)
    if not ck.check(a.returncode == 0 and traces, "%s: perfshim leaks reads the trace" % label,
                    pstest.describe(a)):
        return []
    return pstest.load_reports(a.stdout.decode())


def functions(leak):
    return [f.get("function") for f in leak["stack"]]


def main():
    args = pstest.parse_args()
    ck = pstest.Checker("test_invisible")
    prog = os.path.join(args.bindir, "invisible")
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "invisible.c")
    marks = pstest.markers(src)

    for mode in ("plain", "unwind"):
        work = pstest.tmpdir("invisible")
        for label, env in VARIANTS:
            env = dict(env, PERFSHIM_OUTPUT=os.path.join(work, "%e.%p.trace"))
            bare = pstest.run([prog, mode], env=env, cwd=work)
            shim = pstest.run([prog, mode], env=dict(env, LD_PRELOAD=args.lib), cwd=work)
            what = "%s [%s]" % (mode, label)
            ck.check(bare.returncode == 0 and shim.returncode == 0 and
                     shim.stdout.count(b"== ") == 3, "%s: both runs exit 0" % what,
                     pstest.describe(bare) + "\n" + pstest.describe(shim))
            ck.check(comparable(shim.stdout) == comparable(bare.stdout),
                     "%s: same descriptors, threads, signal dispositions, blocked signals and "
                     "environment at start, after the threads and at exit" % what,
                     _diff(comparable(bare.stdout), comparable(shim.stdout)))
            ck.check(bare.stderr == b"" and shim.stderr == b"", "%s: nothing on stderr" % what,
                     pstest.describe(shim))

        # every tracking variant's trace: libunwind went through the signal frame to main, and
        # the block from code without unwind tables is there
        if mode == "unwind":
            traces = [os.path.join(work, f) for f in os.listdir(work) if f.endswith(".trace")]
            ck.equal(len(traces), len(VARIANTS) - 1, "unwind: one trace per tracking variant")
            for rep in leaks_json(args, ck, "unwind", sorted(traces), work):
                sig = pstest.check_site(ck, rep, src, marks, "sig", 1,
                                        pstest.define(src, "INV_SIG_SIZE"), "on_usr1",
                                        "unwind")
                ck.check(sig and "main" in functions(sig[0]),
                         "unwind: the signal handler's block has main in its stack (libunwind "
                         "walked through the signal frame)",
                         pstest.fmt_report(rep))
                jit = [l for l in rep["leaks"] if l["bytes"] == pstest.define(src, "INV_JIT_SIZE")]
                ck.check(len(jit) == 1 and jit[0]["stack"],
                         "unwind: the block allocated by code without unwind tables is reported "
                         "with a stack", pstest.fmt_report(rep))

    # libunwind only where needed
    work = pstest.tmpdir("invisible-lazy")
    for mode, loaded in (("plain", False), ("unwind", True)):
        p = pstest.run([prog, mode], cwd=work,
                       env={"LD_PRELOAD": args.lib, "PERFSHIM_VERBOSE": "1",
                            "PERFSHIM_OUTPUT": os.path.join(work, "%e.%p.trace")})
        m = re.search(rb"(\d+) walk\(s\) needed libunwind \((loaded|not loaded); (\d+) stack",
                      p.stderr)
        ck.check(p.returncode == 0 and m and (m.group(2) == b"loaded") == loaded and
                 (int(m.group(1)) > 0) == loaded and m.group(3) == b"0",
                 "%s: libunwind %s" % (mode, "loaded for the walks that need it" if loaded else
                                       "never loaded (no walk needs it)"),
                 pstest.describe(p))

    # never loaded where that could wait on the dynamic loader
    ll = os.path.join(args.bindir, "loaderlock")
    plugin = os.path.join(args.libdir or args.bindir, "libloaderlock_lib.so")
    llsrc = os.path.join(os.path.dirname(os.path.abspath(__file__)), "loaderlock.c")
    llmarks = pstest.markers(llsrc)
    work = pstest.tmpdir("invisible-loaderlock")
    try:
        p = pstest.run([ll, plugin], cwd=work, timeout=60,
                       env={"LD_PRELOAD": args.lib,
                            "PERFSHIM_OUTPUT": os.path.join(work, "%e.%p.trace")})
        ok = ck.check(p.returncode == 0 and b"loaderlock: ok" in p.stderr,
                      "loaderlock: the program finishes (the shim never waited for the loader)",
                      pstest.describe(p))
    except pstest.subprocess.TimeoutExpired:
        ok = ck.check(False, "loaderlock: the program finishes within 60 s (hung: deadlock)")
    if ok:
        traces = [os.path.join(work, f) for f in os.listdir(work) if f.endswith(".trace")]
        for rep in leaks_json(args, ck, "loaderlock", traces, work):
            size = pstest.define(llsrc, "LOADERLOCK_SIZE")
            for i, name in enumerate(("ctor", "busy", "late")):
                found = pstest.check_site(ck, rep, llsrc, llmarks, name, 1, size + i, "on_usr1",
                                          "loaderlock")
                if not found:
                    continue
                cut = "cut short" in (found[0].get("note") or "")
                if name == "late":
                    ck.check(not cut and "main" in functions(found[0]),
                             "loaderlock: LEAK:late (loader idle) has its whole stack",
                             pstest.fmt_report(rep))
                else:
                    ck.check(cut and "main" not in functions(found[0]),
                             "loaderlock: LEAK:%s is cut short and marked as such (%s)"
                             % (name, "inside the loader" if name == "ctor"
                                else "another thread in the loader"), pstest.fmt_report(rep))
            ck.check(any("cut short" in m.get("text", "") for m in rep.get("messages", [])),
                     "loaderlock: the trace says why stacks were cut short", repr(rep.get("messages")))

    # a small address space: the pool reserves less, silently
    limit = 3 << 30

    def small_as():
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    work = pstest.tmpdir("invisible-ulimit")
    env = {"LD_PRELOAD": args.lib, "PERFSHIM_OUTPUT": os.path.join(work, "%e.%p.trace")}
    for verbose in ("0", "1"):
        p = pstest.subprocess.run([prog, "plain"], cwd=work, env=dict(os.environ, **env,
                                  PERFSHIM_VERBOSE=verbose), preexec_fn=small_as,
                                  stdout=pstest.subprocess.PIPE, stderr=pstest.subprocess.PIPE)
        said = re.search(rb"the pool reserved \d+ MiB of address space instead of", p.stderr)
        if verbose == "0":
            ck.check(p.returncode == 0 and p.stderr == b"",
                     "ulimit -v %d MiB: nothing on stderr" % (limit >> 20), pstest.describe(p))
        else:
            ck.check(p.returncode == 0 and said,
                     "ulimit -v %d MiB, PERFSHIM_VERBOSE=1: the smaller reservation is "
                     "mentioned" % (limit >> 20), pstest.describe(p))
    ck.done()


def _diff(a, b):
    import difflib
    return "\n".join(list(difflib.unified_diff(a.decode(errors="replace").splitlines(),
                                               b.decode(errors="replace").splitlines(),
                                               "without", "with", lineterm="", n=1))[:60])


if __name__ == "__main__":
    main()
