#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_no_debuginfod.py — the analyzer does not load elfutils' debuginfod client (libcurl,
gnutls, libcrypto: 7.5 MB of RSS on a compile's trace) when DEBUGINFOD_URLS is unset or empty:
with no server to ask, the client would return at once. examples/leaky_cxx's trace has frames in
libstdc++ (operator new), a module without a local debug file here, for which elfutils 0.188's
standard search ends by dlopening the client. The loader's own log (LD_DEBUG=files, on stderr)
says which objects were loaded; the report is the same with and without DEBUGINFOD_URLS="".
Skipped (77) when libstdc++ has a local debug file (the search would not reach the client)."""
import os

import pstest


def build_id(path):
    """The GNU build-id of an ELF file as hex, or None (readelf -n)."""
    p = pstest.run(["readelf", "-n", path])
    for line in p.stdout.decode("utf-8", "replace").splitlines():
        if "Build ID:" in line:
            return line.split("Build ID:")[1].strip()
    return None


def main():
    args = pstest.parse_args()
    ck = pstest.Checker("test_no_debuginfod")
    work = pstest.tmpdir("nodebuginfod")
    p, traces, _ = pstest.preload_and_analyze(args, ck, [os.path.join(args.bindir, "leaky_cxx")],
                                               work)
    ck.equal(p.returncode, 0, "leaky_cxx exit status")
    ck.equal(len(traces), 1, "one trace")
    if len(traces) != 1:
        ck.done()
    ldd = pstest.run(["ldd", os.path.join(args.bindir, "leaky_cxx")]).stdout.decode()
    libs = [l.split("=>")[1].split("(")[0].strip() for l in ldd.splitlines()
            if "libstdc++" in l and "=>" in l]
    bid = build_id(libs[0]) if libs else None
    if not bid or os.path.exists("/usr/lib/debug/.build-id/%s/%s.debug" % (bid[:2], bid[2:])):
        ck.skip("libstdc++ has a local debug file (or none was found)")
    env = {"LD_DEBUG": "files"}
    base = pstest.run(["env", "-u", "DEBUGINFOD_URLS", args.perfshim, "leaks", traces[0]],
                      env=env)
    ck.check(base.returncode == 0, "leaks exit status 0", pstest.describe(base))
    log = base.stderr.decode("utf-8", "replace")
    ck.check("operator new" not in base.stdout.decode() and b"Leak 1 of" in base.stdout,
             "the report's frames are symbolized (operator new hidden)", pstest.describe(base))
    ck.check("libdebuginfod" not in log,
             "DEBUGINFOD_URLS unset: libdebuginfod is not loaded",
             "\n".join(l for l in log.splitlines() if "debuginfod" in l)[:2000])
    empty = pstest.run([args.perfshim, "leaks", traces[0]], env={"DEBUGINFOD_URLS": "", **env})
    ck.check("libdebuginfod" not in empty.stderr.decode("utf-8", "replace"),
             "DEBUGINFOD_URLS empty: libdebuginfod is not loaded")
    ck.equal(empty.stdout, base.stdout, "the same report either way")
    ck.done()


if __name__ == "__main__":
    main()
