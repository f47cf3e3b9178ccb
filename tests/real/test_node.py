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
import re
import shutil

import realtest
from realtest import pstest

SCRIPT = r'''
const n = +(process.argv[2] || 20000);
let total = 0;
const recs = [];
for (let i = 0; i < n; i++) {
  const o = { id: i, name: 'item-' + i, tags: ['a' + (i % 7), 'b' + (i % 13)], v: i * 1.5 };
  const s = JSON.stringify(o);
  const b = Buffer.from(s);
  const h = b.toString('base64');
  const back = JSON.parse(Buffer.from(h, 'base64').toString());
  total += back.id + h.length;
  recs.push(back);
  if (recs.length > 5000) recs.splice(0, 2500);
}
const big = JSON.stringify(recs);
total += JSON.parse(big).length;
console.log('node-json n=' + n + ' checksum=' + total);
'''


def main():
    args = realtest.parse_args()
    ck = pstest.Checker("real node")
    node = shutil.which("node")
    if not node:
        ck.skip("node is not installed (scripts/install-deps.sh installs nodejs)")
    base = pstest.tmpdir("real-node")
    script = os.path.join(base, "alloc.js")
    with open(script, "w") as f:
        f.write(SCRIPT)
    cmd = [node, script, "20000"]
    bare = realtest.Side(args, "bare", base).run(cmd, timeout=300)
    ck.check(bare.returncode == 0 and b"checksum=" in bare.stdout, "node runs without the shim",
             pstest.describe(bare))
    side = realtest.Side(args, "shim", base, {"PERFSHIM_VERBOSE": "1"})
    p = side.run(cmd, timeout=300)
    realtest.compare(ck, "node [full tracking]", bare, p, stderr=False)
    realtest.check_traces(ck, side, "node", min_allocs=10000)
    m = re.search(rb"(\d+) stack\(s\) interned; (\d+) walk\(s\) needed libunwind", p.stderr)
    if ck.check(m, "the shim reported its walks (PERFSHIM_VERBOSE=1)", pstest.describe(p)):
        stacks, unw = int(m.group(1)), int(m.group(2))
        ck.check(stacks > 1000 and unw * 100 < stacks,
                 "walks through V8's frames stay off libunwind: %d libunwind walks for %d "
                 "stacks (< 1%%)" % (unw, stacks))
    realtest.cleanup(args, base)
    ck.done()


if __name__ == "__main__":
    main()
