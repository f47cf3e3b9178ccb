#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_exceptions.py — C++ exceptions are unaffected by the shim.

For examples/exceptions (100,000 throws in a C++ program) and exc_host (a C program that
dlopen()s a C++ library which throws): stdout and exit status are identical without the shim,
under LD_PRELOAD, and under `perfshim run`. Then, with LD_DEBUG=bindings under the shim, every
binding of _Unwind_RaiseException made by another object goes to libgcc_s, never to libunwind
(libunwind binding its own definition internally is allowed: it is loaded RTLD_LOCAL).
No timing is asserted."""
import os
import re

import pstest

BINDING = re.compile(r"binding file (\S+) \[\d+\] to (\S+) \[\d+\]: normal symbol `([^']+)'")


def bindings(directory, symbol):
    """(from, to) pairs for `symbol` in every LD_DEBUG_OUTPUT file in directory."""
    out = []
    for name in sorted(os.listdir(directory)):
        if not name.startswith("lddebug."):
            continue
        with open(os.path.join(directory, name), encoding="utf-8", errors="replace") as f:
            for line in f:
                m = BINDING.search(line)
                if m and m.group(3) == symbol:
                    out.append((m.group(1), m.group(2)))
    return out


def main():
    args = pstest.parse_args()
    ck = pstest.Checker("test_exceptions")
    programs = [[os.path.join(args.bindir, "exceptions")], [os.path.join(args.bindir, "exc_host")]]
    if args.libdir:
        programs[1].append(os.path.join(args.libdir, "libexc_thrower.so"))
    for cmd in programs:
        name = os.path.basename(cmd[0])
        work = pstest.tmpdir("exc")
        bare = pstest.run(cmd, cwd=work)
        ck.equal(bare.returncode, 0, "%s: exit status without the shim" % name)
        ck.check(re.search(rb"(caught|thrown) [1-9]\d* .*checksum \d+", bare.stdout),
                 "%s: prints a checksum" % name, pstest.describe(bare))
        pre = pstest.run(cmd, cwd=work, env={"LD_PRELOAD": args.lib,
                                             "PERFSHIM_OUTPUT": os.path.join(work, "%e.%p.trace")})
        ck.equal(pre.returncode, bare.returncode, "%s: exit status under LD_PRELOAD" % name)
        ck.check(pre.stdout == bare.stdout, "%s: same stdout under LD_PRELOAD" % name,
                 "without: %r\nwith: %r" % (bare.stdout, pre.stdout))
        ck.check(any(f.endswith(".trace") for f in os.listdir(work)),
                 "%s: the shim was active (a trace was written)" % name)
        run = pstest.run([args.perfshim, "run", "--", *cmd], cwd=work)
        ck.equal(run.returncode, bare.returncode, "%s: exit status under perfshim run" % name)
        ck.check(run.stdout == bare.stdout, "%s: same stdout under perfshim run" % name,
                 "without: %r\nwith: %r" % (bare.stdout, run.stdout))

        ld = pstest.tmpdir("lddebug")
        dbg = pstest.run(cmd, cwd=ld, env={
            "LD_PRELOAD": args.lib, "PERFSHIM_OUTPUT": os.path.join(ld, "%e.%p.trace"),
            "LD_DEBUG": "bindings", "LD_DEBUG_OUTPUT": os.path.join(ld, "lddebug")})
        ck.equal(dbg.returncode, 0, "%s: exit status with LD_DEBUG=bindings" % name)
        pairs = bindings(ld, "_Unwind_RaiseException")
        foreign = [(a, b) for a, b in pairs if "libunwind" not in os.path.basename(a)]
        ck.check(any("libstdc++" in os.path.basename(a) for a, b in foreign),
                 "%s: libstdc++ binds _Unwind_RaiseException (the check saw the binding)" % name,
                 repr(pairs))
        wrong = [(a, b) for a, b in foreign if not os.path.basename(b).startswith("libgcc_s")]
        ck.check(not wrong, "%s: _Unwind_RaiseException always bound to libgcc_s" % name,
                 "\n".join("%s -> %s" % p for p in wrong))
        hijack = [(a, b) for a, b in foreign if "libunwind" in os.path.basename(b)]
        ck.check(not hijack, "%s: nothing outside libunwind binds to libunwind's _Unwind_*" % name,
                 "\n".join("%s -> %s" % p for p in hijack))
        for sym in ("_Unwind_Resume", "_Unwind_GetIPInfo", "_Unwind_DeleteException"):
            bad = [(a, b) for a, b in bindings(ld, sym)
                   if "libunwind" not in os.path.basename(a) and "libunwind" in b]
            ck.check(not bad, "%s: %s never bound to libunwind" % (name, sym),
                     "\n".join("%s -> %s" % p for p in bad))
    ck.done()


if __name__ == "__main__":
    main()
