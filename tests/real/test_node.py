#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_node.py — node (V8) under the shim: a script that allocates through JSON parse and
stringify, Buffer and base64 work and string building, without the shim and under full
tracking. Output and exit status must be identical and the trace complete. V8's JIT code and
its builtins have no unwind tables; they keep frame pointers, and the walker steps those
frames itself (shim/unwind.c, checked frame-pointer steps): with PERFSHIM_VERBOSE=1 the shim
reports how many walks needed libunwind, which must stay under 1% of the stacks it interned
(before the frame-pointer steps: 101k walks for 23k stacks). tests/integration/jitframes.c
checks those steps frame by frame against libunwind.

The program nobody here wrote is /usr/bin/node (Debian's nodejs, installed by
scripts/install-deps.sh); missing, the test is skipped (exit 77)."""
import os
import shutil

import realtest
from realtest import pstest

# The script of the bench's node-json workload (one copy for both).
SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench", "node-json.js")


def main():
    args = realtest.parse_args()
    ck = pstest.Checker("real node")
    node = shutil.which("node")
    if not node:
        ck.skip("node is not installed (scripts/install-deps.sh installs nodejs)")
    base = pstest.tmpdir("real-node")
    cmd = [node, SCRIPT, "20000"]
    bare = realtest.Side(args, "bare", base).run(cmd, timeout=300)
    ck.check(bare.returncode == 0 and b"checksum=" in bare.stdout, "node runs without the shim",
             pstest.describe(bare))
    side = realtest.Side(args, "shim", base, {"PERFSHIM_VERBOSE": "1"})
    p = side.run(cmd, timeout=300)
    realtest.compare(ck, "node [full tracking]", bare, p, stderr=False)
    realtest.check_traces(ck, side, "node", min_allocs=10000)
    walks = pstest.unwind_report(p.stderr)
    if ck.check(walks, "the shim reported its walks (PERFSHIM_VERBOSE=1)", pstest.describe(p)):
        stacks, unw = walks
        ck.check(stacks > 1000 and unw * 100 < stacks,
                 "walks through V8's frames stay off libunwind: %d libunwind walks for %d "
                 "stacks (< 1%%)" % (unw, stacks))
    realtest.cleanup(args, base)
    ck.done()


if __name__ == "__main__":
    main()
