#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_python_suite.py — modules of CPython's own test suite (Debian package
libpython3.11-testsuite) run with /usr/bin/python3, once without the shim and once under each
shim configuration (--variant: e.g. lock profiling on, CPU sampling at 1000 Hz).
Asserts: the same exit status, and the same outcome (passed/failed/error/skipped) for every
test case (from regrtest's --junit-xml). Children started by the tests inherit the shim.

Each module is its own regrtest process (so its time can be printed, and one module's state
cannot leak into the next); the modules of one run are sequential, never -j: the comparison is
per test case, and the machine is small. Times are printed, never asserted.

If the test suite is not installed the test fails with a message naming the package (CI
installs it through scripts/install-deps.sh)."""
import os
import time
import xml.etree.ElementTree as ET

import realtest
from realtest import pstest

DEFAULT_MODULES = ["test_threading", "test_subprocess", "test_json", "test_re", "test_zlib",
                   "test_dict"]


def extra(ap):
    ap.add_argument("--modules", nargs="*", default=DEFAULT_MODULES)
    # A test case that is known to differ under the shim, for a documented reason, is left out
    # of both runs (regrtest --ignore). Keep this list short and say why in the README.
    ap.add_argument("--ignore", action="append", default=[],
                    help="test case pattern left out of both runs (regrtest --ignore)")
    ap.add_argument("--min-cases", type=int, default=50,
                    help="fewest test cases the bare run must report")
    ap.add_argument("--timeout", type=int, default=600, help="seconds per module and run")
    ap.add_argument("--min-allocs", type=int, default=10000,
                    help="fewest allocations the busiest traced process must make")
    # e.g. PYTHONMALLOC=malloc: every Python object then comes from malloc, not pymalloc's
    # arenas, which makes a module allocation-heavy for the shim
    ap.add_argument("--env", action="append", default=[], metavar="KEY=VAL",
                    help="environment for both runs (repeatable)")
    realtest.add_variant_arg(ap, ["shim"])


def outcomes(path):
    res = {}
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return None
    for tc in root.iter("testcase"):
        cls, name = tc.get("classname"), tc.get("name")
        key = "%s.%s" % (cls, name) if cls else str(name)
        kind = "passed"
        for child in tc:
            if child.tag in ("failure", "error", "skipped"):
                kind = child.tag
        res[key] = kind
    return res


def run_side(args, side):
    """Every module under one side: {module: (process, outcomes or None, seconds)}."""
    ignores = [a for pat in args.ignore for a in ("--ignore", pat)]
    env = {"PYTHONDONTWRITEBYTECODE": "1", "TMPDIR": side.dir}
    env.update(kv.split("=", 1) for kv in args.env)
    res = {}
    for mod in args.modules:
        xml = os.path.join(side.dir, mod + ".xml")
        t0 = time.monotonic()
        try:
            p = side.run([realtest.PYTHON, "-m", "test", "--junit-xml", xml, *ignores, mod],
                         env=env, timeout=args.timeout)
        except pstest.subprocess.TimeoutExpired as e:
            p = pstest.subprocess.CompletedProcess(e.cmd, -9, e.stdout or b"", e.stderr or b"")
        res[mod] = (p, outcomes(xml), time.monotonic() - t0)
    return res


def main():
    args = realtest.parse_args(extra)
    ck = pstest.Checker("real python test suite")
    probe = pstest.run([realtest.PYTHON, "-c", "import test.regrtest, test.test_threading"])
    if probe.returncode != 0:
        ck.skip("CPython's test suite is not importable (scripts/install-deps.sh installs "
                "libpython3.X-testsuite): %s" % pstest.describe(probe))
    base = pstest.tmpdir("real-python-suite")
    bare = run_side(args, realtest.Side(args, "bare", base))
    sides = [("bare", None, bare)]
    for name, env in realtest.variants(args):
        side = realtest.Side(args, name, base, env)
        sides.append((name, side, run_side(args, side)))
    # what it costs, per module and side (informational: wall-clock times are never asserted)
    print("%-28s %s" % ("module", " ".join("%10s" % n for n, _, _ in sides)))
    for mod in args.modules:
        print("%-28s %s" % (mod, " ".join("%9.1fs" % r[mod][2] for _, _, r in sides)))

    ncases = 0
    for mod in args.modules:
        bp, bo, _ = bare[mod]
        ck.equal(bp.returncode, 0, "%s passes without the shim" % mod)
        if bp.returncode != 0:
            print(pstest.describe(bp)[-4000:])
        ncases += len(bo or {})
        for name, _, res in sides[1:]:
            sp, so, _ = res[mod]
            label = "%s [%s]" % (mod, name)
            ck.equal(sp.returncode, bp.returncode, "%s: same exit status with the shim" % label)
            if sp.returncode != bp.returncode:
                print(pstest.describe(sp)[-6000:])
            realtest.check_quiet(ck, label, [sp.stderr, sp.stdout])
            if not ck.check(bo is not None and so is not None, "%s: both runs wrote a JUnit "
                            "report" % label):
                continue
            differ = sorted(k for k in set(bo) | set(so) if bo.get(k) != so.get(k))
            ck.check(not differ, "%s: every test case has the same outcome (%d cases)"
                     % (label, len(bo)),
                     "\n".join("%s: without %s, with %s" % (k, bo.get(k), so.get(k))
                               for k in differ[:40]))
    ck.check(ncases >= args.min_cases, "a meaningful number of test cases ran (%d >= %d)"
             % (ncases, args.min_cases))
    for name, side, _ in sides[1:]:
        print("[%s] %s" % (name, " ".join("%s=%s" % kv for kv in sorted(side.env.items())
                                          if kv[0].startswith("PERFSHIM_") and
                                          kv[0] != "PERFSHIM_OUTPUT")))
        realtest.check_traces(ck, side, "python3", min_allocs=args.min_allocs,
                              all_complete=False, locks_used=True)
    realtest.cleanup(args, base)
    ck.done()


if __name__ == "__main__":
    main()
