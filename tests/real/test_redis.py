#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_redis.py — redis-server (Debian package redis-server) as a server under load on
loopback: started without the shim and under each shim configuration (--variant; by default
plain tracking, lock profiling, CPU sampling), each time on a free 127.0.0.1 port, driven by
redis-benchmark (bounded: -n requests per command, 10 clients), checked with redis-cli, then
stopped with SHUTDOWN NOSAVE. redis-benchmark and redis-cli always run without the shim: the
server is the program under test.

Asserts, for every run: the server answers PING; the benchmark exits 0 and reports every
command it was given; the server counted exactly -n calls of each benchmarked command (INFO
commandstats: every request arrived and was executed); a fixed data session through redis-cli
(strings, a 256 KiB value, counters, lists, hashes, sorted sets, expiry, an error) gives the
expected answers; redis exits with status 0 after SHUTDOWN and says goodbye in its log.
Under the shim, also: its trace is complete, readable by `perfshim leaks --json` and
`perfshim summary --json`, and the summary counts a large number of allocations.

Every step has a timeout; the server runs with PR_SET_PDEATHSIG and is killed in a finally
block, so it never outlives the test, even when the test fails or is killed."""
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import time

import realtest
from realtest import pstest

BENCH_TESTS = ["set", "get", "lpush", "lpop", "incr"]
BIG = 256 * 1024

# (command line, expected reply as redis-cli prints it without a tty)
SESSION = [
    ("SET greeting hello", "OK"),
    ("GET greeting", "hello"),
    ("APPEND greeting \", world\"", "12"),
    ("GET greeting", "hello, world"),
    ("MSET a 1 b 2 c 3", "OK"),
    ("MGET a b c nosuchkey", "1\n2\n3\n"),  # nil prints as an empty line
    ("INCRBY a 41", "42"),
    ("INCRBYFLOAT b 0.5", "2.5"),
    ("RPUSH list x y z", "3"),
    ("LPUSH list w", "4"),
    ("LRANGE list 0 -1", "w\nx\ny\nz"),
    ("HSET h f1 v1 f2 v2 f3 v3", "3"),
    ("HGET h f2", "v2"),
    ("HLEN h", "3"),
    ("ZADD z 3 three 1 one 2 two", "3"),
    ("ZRANGE z 0 -1 WITHSCORES", "one\n1\ntwo\n2\nthree\n3"),
    ("SADD s m1 m2 m3 m2", "3"),
    ("SISMEMBER s m2", "1"),
    ("SET temp value EX 1000", "OK"),
    ("TTL temp", "1000"),
    ("STRLEN big", str(BIG)),
    ("GETRANGE big 1000 1009", "0123456789"),
    ("INCR greeting", "ERR value is not an integer or out of range\n"),  # then a blank line
    ("DEL a b c", "3"),
    ("EXISTS a greeting", "1"),
]


def extra(ap):
    ap.add_argument("--requests", type=int, default=20000, help="redis-benchmark -n")
    ap.add_argument("--clients", type=int, default=10, help="redis-benchmark -c")
    realtest.add_variant_arg(ap, ["shim:PERFSHIM_LOCKS=0", "locks:PERFSHIM_LOCKS=1",
                                  "cpu:PERFSHIM_CPU_HZ=1000,PERFSHIM_LOCKS=0"])


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def die_with_parent():
    """preexec_fn: the server is killed if this test dies before it can stop it."""
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


class Server:
    """One redis-server process on 127.0.0.1:port with the side's environment."""

    def __init__(self, exe, side):
        self.exe, self.side, self.proc = exe, side, None
        self.log = os.path.join(side.dir, "redis.log")

    def start(self, ck):
        for attempt in range(3):  # a free port may be taken between probe and bind
            self.port = free_port()
            env = os.environ.copy()
            for k in ("LD_PRELOAD", "PERFSHIM_OUTPUT", "PERFSHIM_TRACE_LIST", "PERFSHIM_MODE"):
                env.pop(k, None)
            env.update(self.side.env)
            argv = [self.exe, "--port", str(self.port), "--bind", "127.0.0.1",
                    "--save", "", "--appendonly", "no", "--dir", self.side.dir,
                    "--logfile", self.log, "--daemonize", "no", "--databases", "2"]
            self.out = open(os.path.join(self.side.dir, "redis.out"), "wb")
            self.proc = subprocess.Popen(argv, env=env, cwd=self.side.dir, stdin=subprocess.DEVNULL,
                                         stdout=self.out, stderr=subprocess.STDOUT,
                                         preexec_fn=die_with_parent)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and self.proc.poll() is None:
                if self.cli(["PING"], timeout=5).stdout == b"PONG\n":
                    return True
                time.sleep(0.1)
            self.kill()
        ck.check(False, "[%s] redis-server starts and answers PING" % self.side.name,
                 self.tail())
        return False

    def cli(self, args, stdin=None, timeout=30):
        try:
            return pstest.run(["redis-cli", "-h", "127.0.0.1", "-p", str(self.port), *args],
                              stdin=stdin, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            return subprocess.CompletedProcess(e.cmd, -9, b"", b"timed out")

    def tail(self):
        text = b""
        for path in (self.log, os.path.join(self.side.dir, "redis.out")):
            if os.path.exists(path):
                with open(path, "rb") as f:
                    text += f.read()[-3000:]
        return text.decode("utf-8", "replace")

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass


def commandstats(text):
    """{"set": calls, ...} from INFO commandstats."""
    calls = {}
    for line in text.splitlines():
        if line.startswith("cmdstat_"):
            name, _, rest = line[len("cmdstat_"):].partition(":")
            fields = dict(kv.split("=", 1) for kv in rest.split(",") if "=" in kv)
            calls[name] = int(fields.get("calls", -1))
    return calls


def expected_session():
    return "".join(reply + "\n" for _, reply in SESSION)


def one_run(args, ck, exe, side):
    """Start, load, check, stop. Returns what must be equal across runs, or None."""
    label = "[%s]" % side.name
    srv = Server(exe, side)
    try:
        if not srv.start(ck):
            return None
        n = args.requests
        try:
            bench = pstest.run(["redis-benchmark", "-h", "127.0.0.1", "-p", str(srv.port),
                                "-n", str(n), "-c", str(args.clients), "-d", "64",
                                "-t", ",".join(BENCH_TESTS), "--csv"], timeout=300)
        except subprocess.TimeoutExpired:
            bench = subprocess.CompletedProcess([], -9, b"", b"redis-benchmark timed out")
        rows = [line.split(",")[0].strip('"').lower()
                for line in bench.stdout.decode("utf-8", "replace").splitlines()[1:] if line]
        ck.check(bench.returncode == 0 and sorted(rows) == sorted(BENCH_TESTS),
                 "%s redis-benchmark completes every test (%s)" % (label, " ".join(rows)),
                 pstest.describe(bench))
        stats = commandstats(srv.cli(["INFO", "commandstats"]).stdout.decode())
        counted = {t: stats.get(t) for t in BENCH_TESTS}
        ck.equal(counted, {t: n for t in BENCH_TESTS},
                 "%s the server executed every benchmark request" % label)

        big = os.path.join(side.dir, "big.value")
        with open(big, "wb") as f:
            f.write((b"0123456789" * (BIG // 10 + 1))[:BIG])
        with open(big, "rb") as f:
            put = srv.cli(["-x", "SET", "big"], stdin=f)
        got = srv.cli(["--no-raw", "STRLEN", "big"]).stdout
        ck.check(put.stdout == b"OK\n" and got == b"(integer) %d\n" % BIG,
                 "%s a %d-byte value goes in and stays whole" % (label, BIG),
                 pstest.describe(put) + got.decode())
        script = os.path.join(side.dir, "session.txt")
        with open(script, "w") as f:
            f.write("".join(cmd + "\n" for cmd, _ in SESSION))
        with open(script) as f:
            sess = srv.cli([], stdin=f)
        ck.check(sess.stdout.decode("utf-8", "replace") == expected_session(),
                 "%s the data session gives the expected answers (%d commands)"
                 % (label, len(SESSION)),
                 realtest.diff(expected_session().encode(), sess.stdout))
        dbsize = srv.cli(["DBSIZE"]).stdout

        down = srv.cli(["SHUTDOWN", "NOSAVE"])
        try:
            status = srv.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            status = None
        ck.check(status == 0, "%s redis exits with status 0 after SHUTDOWN (got %r)"
                 % (label, status), pstest.describe(down) + "\n" + srv.tail())
        with open(srv.log, "rb") as f:
            log = f.read()
        ck.check(b"bye bye" in log, "%s redis logs its clean exit" % label, srv.tail())
        srv.out.flush()
        with open(os.path.join(side.dir, "redis.out"), "rb") as f:
            realtest.check_quiet(ck, "%s redis-server" % label, [f.read()])
        return {"stats": counted, "session": sess.stdout, "dbsize": dbsize,
                "bench": rows, "status": status}
    finally:
        srv.kill()
        if srv.proc:
            srv.out.close()


def analyze(args, ck, side, program, min_allocs):
    traces = realtest.check_traces(ck, side, program, min_allocs=min_allocs, locks_used=True)
    for t in traces:
        name = "[%s] %s" % (side.name, os.path.basename(t))
        for cmd, fmt in (("leaks", "perfshim-leaks"), ("summary", "perfshim-summary")):
            p = pstest.run([args.perfshim, cmd, "--json", t], timeout=300)
            try:
                docs = [json.loads(p.stdout)]
            except ValueError:
                docs = []
            if not ck.check(p.returncode == 0 and docs and docs[0].get("format") == fmt
                            and docs[0].get("complete") is True,
                            "%s: perfshim %s --json reads it (complete)" % (name, cmd),
                            pstest.describe(p)):
                continue
            if cmd == "summary":
                allocs = docs[0]["totals"]["allocs"]
                ck.check(allocs >= min_allocs, "%s: summary counts %d allocations (>= %d)"
                         % (name, allocs, min_allocs))
            else:
                ck.check(isinstance(docs[0].get("totals", {}).get("leaked_blocks"), int),
                         "%s: the leak report has totals" % name)


def main():
    args = realtest.parse_args(extra)
    ck = pstest.Checker("real redis")
    exe = shutil.which("redis-server")
    if not exe or not shutil.which("redis-benchmark") or not shutil.which("redis-cli"):
        ck.skip("redis-server, redis-cli or redis-benchmark is not installed "
                "(Debian: redis-server, redis-tools; scripts/install-deps.sh installs them)")
    # the trace is named after the real executable: Debian's redis-server is a symlink
    program = os.path.basename(os.path.realpath(exe))
    base = pstest.tmpdir("real-redis")
    bare = one_run(args, ck, exe, realtest.Side(args, "bare", base))
    # each request allocates (client buffers, argv objects, values): 5 commands x n requests
    min_allocs = len(BENCH_TESTS) * args.requests
    for name, env in realtest.variants(args):
        side = realtest.Side(args, name, base, env)
        got = one_run(args, ck, exe, side)
        if bare and got:
            ck.check(got == bare, "[%s] the same results as without the shim" % name,
                     "without: %r\nwith:    %r" % (bare, got))
        analyze(args, ck, side, program, min_allocs)
    realtest.cleanup(args, base)
    ck.done()


if __name__ == "__main__":
    main()
