#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_python_script.py — a deterministic Python workload (threads, subprocesses, json, re,
zlib, sqlite3, a C extension-heavy mix) run by /usr/bin/python3 without and with the shim:
identical stdout, stderr and exit status. Runs even when CPython's test suite is absent."""
import os

import realtest
from realtest import pstest

SCRIPT = r'''
import hashlib, json, re, sqlite3, subprocess, sys, threading, zlib, queue

def work(n, out):
    h = hashlib.sha256()
    data = []
    for i in range(20000):
        s = "item-%d-%d" % (n, i)
        data.append({"k": s, "v": [i, i * 2, str(i)]})
        h.update(s.encode())
    blob = zlib.compress(json.dumps(data).encode(), 6)
    out.put((n, h.hexdigest(), len(zlib.decompress(blob))))

q = queue.Queue()
threads = [threading.Thread(target=work, args=(n, q)) for n in range(6)]
for t in threads: t.start()
for t in threads: t.join()
for r in sorted(q.get() for _ in threads):
    print("thread", *r)

words = re.findall(r"[a-z]+", " ".join("word%dalpha beta%d gamma" % (i, i) for i in range(5000)))
print("regex", len(words), sorted(set(words))[:5])

db = sqlite3.connect(":memory:")
db.execute("create table t (a integer, b text)")
db.executemany("insert into t values (?, ?)", ((i, "row%d" % (i % 97)) for i in range(20000)))
db.execute("create index tb on t(b)")
print("sqlite", db.execute("select count(*), sum(a), count(distinct b) from t").fetchone())

for i in range(8):
    p = subprocess.run([sys.executable, "-c", "import sys; print(sum(range(%d))); sys.exit(%d)" % (i * 1000, i % 3)],
                       capture_output=True, text=True)
    print("child", i, p.returncode, p.stdout.strip())
p = subprocess.run(["sh", "-c", "echo from shell; echo to stderr >&2; exit 4"], capture_output=True, text=True)
print("shell", p.returncode, p.stdout.strip(), p.stderr.strip())
print("warning to stderr", file=sys.stderr)
sys.exit(3)
'''


def main():
    args = realtest.parse_args()
    ck = pstest.Checker("real python script")
    base = pstest.tmpdir("real-python-script")
    script = os.path.join(base, "workload.py")
    with open(script, "w") as f:
        f.write(SCRIPT)
    out = {}
    for name in ("bare", "shim"):
        side = realtest.Side(args, name, base)
        out[name] = (side.run([realtest.PYTHON, script]), side)
    bare, shim = out["bare"][0], out["shim"][0]
    ck.equal(bare.returncode, 3, "the workload exits with 3 without the shim")
    ck.check(b"child 7 1 " in bare.stdout and b"shell 4 from shell to stderr" in bare.stdout,
             "the workload ran to the end", pstest.describe(bare))
    realtest.compare(ck, "python workload", bare, shim)
    traces = realtest.check_traces(ck, out["shim"][1], "python3", min_allocs=10000)
    ck.check(len(traces) >= 9, "traces for python and its 8 python children (%d)" % len(traces))
    realtest.cleanup(args, base)
    ck.done()


if __name__ == "__main__":
    main()
