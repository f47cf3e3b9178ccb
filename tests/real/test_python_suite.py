#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_python_suite.py — modules of CPython's own test suite (Debian package
libpython3.11-testsuite) run sequentially with /usr/bin/python3, without and with the shim.
Asserts: the same exit status, and the same outcome (passed/failed/error/skipped) for every
test case (from regrtest's --junit-xml). Children started by the tests inherit the shim.

If the test suite is not installed the test fails with a message naming the package (CI
installs it through scripts/install-deps.sh)."""
import os
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


def main():
    args = realtest.parse_args(extra)
    ck = pstest.Checker("real python test suite")
    probe = pstest.run([realtest.PYTHON, "-c", "import test.regrtest, test.test_threading"])
    if probe.returncode != 0:
        ck.fatal("CPython's test suite is importable (install libpython3.11-testsuite)",
                 pstest.describe(probe))
    base = pstest.tmpdir("real-python-suite")
    results = {}
    for name in ("bare", "shim"):
        side = realtest.Side(args, name, base)
        xml = os.path.join(side.dir, "junit.xml")
        # Sequential on purpose (no -j): the comparison is per test case, and the machine is small.
        ignores = [a for pat in args.ignore for a in ("--ignore", pat)]
        p = side.run([realtest.PYTHON, "-m", "test", "--junit-xml", xml, *ignores, *args.modules],
                     env={"PYTHONDONTWRITEBYTECODE": "1", "TMPDIR": side.dir}, timeout=900)
        results[name] = (p, outcomes(xml), side)
        print("%s: exit status %d" % (name, p.returncode))
    (bp, bo, _), (sp, so, shim) = results["bare"], results["shim"]
    ck.equal(bp.returncode, 0, "test suite passes without the shim")
    ck.equal(sp.returncode, bp.returncode, "same exit status with the shim")
    if ck.check(bo is not None and so is not None, "both runs wrote a JUnit report"):
        ck.check(len(bo) > 50, "a meaningful number of test cases ran (%d)" % len(bo))
        differ = sorted(k for k in set(bo) | set(so) if bo.get(k) != so.get(k))
        ck.check(not differ, "every test case has the same outcome (%d cases)" % len(bo),
                 "\n".join("%s: without %s, with %s" % (k, bo.get(k), so.get(k))
                           for k in differ[:40]))
    if sp.returncode != bp.returncode:
        print(pstest.describe(sp)[-6000:])
    realtest.check_traces(ck, shim, "python3", min_allocs=10000, all_complete=False)
    realtest.cleanup(args, base)
    ck.done()


if __name__ == "__main__":
    main()
