#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_lockbind.py — with lock timing off, the program's references to the pthread lock and
semaphore functions lead straight to libc (locks.c, ps_locks_bypass), not through the shim's
forwarding exports; with PERFSHIM_LOCKS=1 they lead to the shim, whose lock report then counts
the program's acquisitions.

tests/integration/lockbind.c prints, for a GOT slot (pthread_mutex_lock), a pointer in the
read-only-after-relocation segment (pthread_mutex_unlock) and a lazy PLT slot (sem_post), the
object dladdr names. Oracle: bare, each is libc.so.6; under the shim without PERFSHIM_LOCKS
(pool mode, full tracking, sampling, dormant) the same; with PERFSHIM_LOCKS=1, the shim's
library."""
import os

import pstest


def bindings(out):
    rows = {}
    for line in out.decode().splitlines():
        parts = line.split()
        if len(parts) == 2:
            rows[parts[0]] = parts[1]
    return rows


def main():
    args = pstest.parse_args()
    ck = pstest.Checker("test_lockbind")
    prog = os.path.join(args.bindir, "lockbind")
    lib = os.path.basename(args.lib)
    names = ("pthread_mutex_lock", "pthread_mutex_unlock", "sem_post")
    work = pstest.tmpdir("lockbind")
    out = os.path.join(work, "trace.%p")
    variants = [
        ("bare", None, {}, "libc.so.6"),
        ("pool mode", args.lib, {"PERFSHIM_MODE": "pool"}, "libc.so.6"),
        ("full tracking", args.lib, {"PERFSHIM_OUTPUT": out}, "libc.so.6"),
        ("sampling, pool off", args.lib,
         {"PERFSHIM_OUTPUT": out, "PERFSHIM_SAMPLE": "524288", "PERFSHIM_POOL": "0"}, "libc.so.6"),
        ("dormant", args.lib, {"PERFSHIM_OUTPUT": out, "PERFSHIM_START": "off"}, "libc.so.6"),
        ("PERFSHIM_LOCKS=1", args.lib, {"PERFSHIM_OUTPUT": out, "PERFSHIM_LOCKS": "1"}, lib),
    ]
    for label, preload, env, want in variants:
        env = dict(env)
        if preload:
            env["LD_PRELOAD"] = preload
        p = pstest.run([prog], env=env, cwd=work, timeout=60)
        if not ck.check(p.returncode == 0 and b"lockbind: ok" in p.stdout,
                        "%s: runs" % label, pstest.describe(p)):
            continue
        rows = bindings(p.stdout)
        for n in names:
            ck.equal(rows.get(n), want, "%s: %s leads to %s" % (label, n, want))
    ck.done()


if __name__ == "__main__":
    main()
