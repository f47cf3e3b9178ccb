#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_dropprivs.py — servers that drop their privileges still leave traces (issue 11, item 4).

Started as root under the shim with PERFSHIM_OUTPUT in a directory only root may enter (mode
0700): `--server nginx` (Debian nginx-light; a master as root and two workers that switch to
www-data) or `--server memcached` (`memcached -u nobody`, which switches to nobody at start).
Each is loaded on a free loopback port (HTTP GETs; memcached `set`/`get`), then stopped
gracefully (nginx: SIGQUIT; memcached: SIGTERM).

Asserts: the server answered every request; nothing from perfshim in its stderr or error log
(before this fix the workers wrote "cannot create trace ..." there); one trace per process
(nginx: the master and each worker, by pid); each trace is complete (END), owned by the
process's final user (www-data or nobody: the shim gave it away before the uid changed),
mode 0600, and `perfshim summary --json` and `perfshim leaks --json` read it; the workers' (or
memcached's) traces count the allocations made after the drop (more allocations than a trace
cut at the drop would hold, and for memcached the stored values' slabs).

`--server setpriv`: the other pattern, a privileged process that drops its privileges and then
execs (cron's jobs, CPython's subprocess with user=): `setpriv --reuid=nobody ... sh -c ...`
under the shim with PERFSHIM_OUTPUT in a directory nobody may write to (mode 1777): setpriv
leaves no trace of its own (nothing was created early: the new user can create its own),
and the program it execs leaves a complete trace owned by nobody.

`--server memcached-run`: the same memcached under `perfshim run --json -- memcached -u nobody`
(the trace directory open to nobody, so memcached creates its trace after the drop, as nobody).
`perfshim run`'s list of traces is its own temporary file, mode 0600: before the fix the shim
could not append to it as nobody ("cannot open PERFSHIM_TRACE_LIST ...: Permission denied" in
memcached's stderr) and run reported "wrote no trace", status 2. Asserts: run exits 0, its JSON
holds the leak report of memcached's pid, and nothing from perfshim reached memcached's stderr.

Needs root (to start a server that drops privileges) and the server's package: exit 77
(skipped) otherwise."""
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time

import realtest
from realtest import pstest


def extra(ap):
    ap.add_argument("--server", choices=["nginx", "memcached", "memcached-run", "setpriv"],
                    required=True)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def http_get(port):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET /index.html HTTP/1.0\r\nHost: localhost\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return data
            data += chunk


NGINX_CONF = """user www-data;
worker_processes 2;
daemon off;
master_process on;
error_log {base}/logs/error.log;
pid {base}/logs/nginx.pid;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {base}/tmp_body;
  proxy_temp_path {base}/tmp_proxy;
  fastcgi_temp_path {base}/tmp_fastcgi;
  uwsgi_temp_path {base}/tmp_uwsgi;
  scgi_temp_path {base}/tmp_scgi;
  server {{ listen 127.0.0.1:{port}; root {base}/html; }}
}}
"""


def run_nginx(ck, base, env, requests):
    """Returns (worker user, {pid: role}) or None."""
    for d in ("logs", "html"):
        os.makedirs(os.path.join(base, d), exist_ok=True)
    body = b"perfshim test page\n" * 50
    with open(os.path.join(base, "html", "index.html"), "wb") as f:
        f.write(body)
    port = free_port()
    conf = os.path.join(base, "nginx.conf")
    with open(conf, "w") as f:
        f.write(NGINX_CONF.format(base=base, port=port))
    err = open(os.path.join(base, "nginx.stderr"), "wb")
    proc = subprocess.Popen([shutil.which("nginx"), "-c", conf, "-p", base], env=env, cwd=base,
                            stdin=subprocess.DEVNULL, stdout=err, stderr=subprocess.STDOUT)
    try:
        if not ck.check(wait_port(port, proc), "nginx starts and listens"):
            return None
        ok = sum(1 for _ in range(requests) if http_get(port).endswith(body))
        ck.equal(ok, requests, "nginx served every GET with the page")
        # a worker forked last may still be root for a moment, before its setuid (seen once at
        # load 17: {'root', 'www-data'}): the users are read again until every worker has
        # dropped, for at most 10 s
        deadline = time.monotonic() + 10
        while True:
            workers = pstest.run(["ps", "-o", "pid=,user=", "--ppid",
                                  str(proc.pid)]).stdout.split()
            pids = {proc.pid: "master"}
            users = set()
            for pid, user in zip(workers[::2], workers[1::2]):
                pids[int(pid)] = "worker"
                users.add(user.decode())
            if users == {"www-data"} or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        ck.equal(users, {"www-data"}, "nginx's workers run as www-data")
        proc.send_signal(signal.SIGQUIT)  # graceful: workers finish and exit()
        ck.equal(proc.wait(timeout=60), 0, "nginx exits with status 0 after SIGQUIT")
        return "www-data", pids
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def mc_command(s, line, value=None):
    s.sendall(line + b"\r\n" + (value + b"\r\n" if value is not None else b""))
    data = b""
    while not (data.endswith(b"STORED\r\n") or data.endswith(b"END\r\n")):
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def run_memcached(ck, base, env, requests):
    port = free_port()
    err = open(os.path.join(base, "memcached.stderr"), "wb")
    proc = subprocess.Popen([shutil.which("memcached"), "-u", "nobody", "-l", "127.0.0.1",
                             "-p", str(port), "-U", "0", "-m", "16"], env=env, cwd=base,
                            stdin=subprocess.DEVNULL, stdout=err, stderr=subprocess.STDOUT)
    try:
        if not ck.check(wait_port(port, proc), "memcached starts and listens"):
            return None
        stored = found = 0
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            for i in range(requests):
                v = b"v%05d" % i * (1 + i % 50)
                stored += mc_command(s, b"set key%d 0 0 %d" % (i, len(v)), v) == b"STORED\r\n"
            for i in range(requests):
                v = b"v%05d" % i * (1 + i % 50)
                found += mc_command(s, b"get key%d" % i).find(v) >= 0
        ck.equal((stored, found), (requests, requests), "memcached stored and returned every value")
        user = pstest.run(["ps", "-o", "user=", "-p", str(proc.pid)]).stdout.decode().strip()
        ck.equal(user, "nobody", "memcached runs as nobody")
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        return "nobody", {proc.pid: "main"}
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def run_setpriv(ck, base, args):
    tracedir = os.path.join(base, "shared")
    os.makedirs(tracedir)
    os.chmod(tracedir, 0o1777)
    env = {"LD_PRELOAD": args.lib, "PERFSHIM_OUTPUT": os.path.join(tracedir, "%e.%p.trace")}
    p = pstest.run([shutil.which("setpriv"), "--reuid=65534", "--regid=65534", "--clear-groups",
                    "/bin/sh", "-c", "echo dropped $(id -u)"], env=env, cwd=base)
    ck.check(p.returncode == 0 and p.stdout == b"dropped 65534\n" and p.stderr == b"",
             "setpriv drops to nobody and execs sh, quietly", pstest.describe(p))
    names = sorted(os.listdir(tracedir))
    # setpriv's own trace is written just before its exec, by then as nobody (who may create
    # it in this directory), and ends there (the snapshot's exec flag)
    sp = [n for n in names if n.startswith("setpriv.")]
    if ck.check(len(sp) == 1, "setpriv's trace, written at its exec", repr(names)):
        raw = pstest.RawTrace(os.path.join(tracedir, sp[0]))
        ck.check(raw.error is None and raw.snapshots and raw.snapshots[-1]["flags"] & 4,
                 "setpriv's trace ends with the exec snapshot", str(raw.error))
    sh = [n for n in names if not n.startswith("setpriv.")]
    ck.check(len(sh) >= 1, "the exec'ed program's trace", repr(names))
    for n in names:
        path = os.path.join(tracedir, n)
        raw = pstest.RawTrace(path)
        ck.check(os.stat(path).st_uid == 65534 and raw.error is None and raw.end is not None,
                 "%s: complete, owned by nobody" % n, str(raw.error))


def run_memcached_run(ck, base, args):
    tracedir = os.path.join(base, "shared")
    os.makedirs(tracedir)
    os.chmod(tracedir, 0o1777)  # memcached creates its trace itself, as nobody, after the drop
    port = free_port()
    env = os.environ.copy()
    for k in list(env):
        if k.startswith("PERFSHIM_") or k == "LD_PRELOAD":
            del env[k]
    env["PERFSHIM_LIB"] = args.lib
    err = open(os.path.join(base, "memcached.stderr"), "wb")
    proc = subprocess.Popen([args.perfshim, "run", "--json", "-o",
                             os.path.join(tracedir, "%e.%p.trace"), "--",
                             shutil.which("memcached"), "-u", "nobody", "-l", "127.0.0.1",
                             "-p", str(port), "-U", "0", "-m", "16"], env=env, cwd=base,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err)
    try:
        if not ck.check(wait_port(port, proc), "memcached starts under perfshim run"):
            return
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            stored = sum(mc_command(s, b"set key%d 0 0 5" % i, b"hello") == b"STORED\r\n"
                         for i in range(100))
        ck.equal(stored, 100, "memcached stored every value")
        kids = pstest.run(["ps", "-o", "pid=,user=", "--ppid", str(proc.pid)]).stdout.split()
        ck.check(len(kids) == 2 and kids[1] == b"nobody", "memcached runs as nobody", repr(kids))
        mc = int(kids[0]) if kids else 0
        if mc:
            os.kill(mc, signal.SIGTERM)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err.close()
    with open(os.path.join(base, "memcached.stderr"), "rb") as f:
        errtext = f.read()
    ck.equal(proc.returncode, 0, "perfshim run exits 0 (memcached ended with 0; a trace was read)")
    try:
        reports = json.loads(out.decode())
    except ValueError:
        reports = []
    pids = [r.get("process", {}).get("pid") for r in reports if r.get("format") == "perfshim-leaks"]
    ck.equal(pids, [mc], "perfshim run reports memcached's trace, written as nobody")
    head = errtext.split(b"\n\nperfshim leak report", 1)[0]  # run's own reports follow
    ck.check(b"perfshim:" not in head, "nothing from perfshim in memcached's stderr",
             errtext.decode("utf-8", "replace")[-2000:])


def main():
    args = realtest.parse_args(extra)
    ck = pstest.Checker("test_dropprivs_" + args.server)
    if os.geteuid() != 0:
        ck.skip("needs root to start a server that drops its privileges")
    server = args.server.split("-")[0]
    if not shutil.which(server):
        ck.skip("%s is not installed (scripts/install-deps.sh installs it)" % server)
    base = pstest.tmpdir("dropprivs-" + args.server)
    os.chmod(base, 0o755)  # the server's files (page, config) are readable by its workers
    if args.server == "memcached-run":
        run_memcached_run(ck, base, args)
        realtest.cleanup(args, base)
        ck.done()
    if args.server == "setpriv":
        run_setpriv(ck, base, args)
        realtest.cleanup(args, base)
        ck.done()
    tracedir = os.path.join(base, "traces")
    os.makedirs(tracedir)
    os.chmod(tracedir, 0o700)  # only root may enter: the new user can neither create nor reopen
    env = {"LD_PRELOAD": args.lib, "PERFSHIM_OUTPUT": os.path.join(tracedir, "%e.%p.trace")}
    run = run_nginx if args.server == "nginx" else run_memcached
    got = run(ck, base, env, 200)
    if not got:
        ck.done()
    user, pids = got
    uid = pwd.getpwnam(user).pw_uid

    logs = b""
    for root, _, files in os.walk(base):
        for n in files:
            if n.endswith((".stderr", ".log")):
                with open(os.path.join(root, n), "rb") as f:
                    logs += f.read()
    ck.check(b"perfshim" not in logs, "nothing from perfshim in the server's stderr and logs",
             logs.decode("utf-8", "replace")[-2000:])

    traces = {}
    for n in sorted(os.listdir(tracedir)):
        raw = pstest.RawTrace(os.path.join(tracedir, n))
        pid = raw.process["pid"] if raw.process else None
        traces[pid] = (os.path.join(tracedir, n), raw)
    ck.equal(sorted(traces), sorted(pids), "one trace per server process, by pid")
    for pid, role in sorted(pids.items()):
        if pid not in traces:
            continue
        path, raw = traces[pid]
        label = "%s %d" % (role, pid)
        st = os.stat(path)
        want_uid = 0 if role == "master" else uid
        ck.equal((st.st_uid, st.st_mode & 0o777), (want_uid, 0o600),
                 "%s: the trace belongs to the process's final user, mode 0600" % label)
        ck.check(raw.error is None and raw.end is not None, "%s: the trace is complete" % label,
                 str(raw.error))
        p = pstest.run([args.perfshim, "summary", "--json", path])
        try:
            summ = json.loads(p.stdout.decode())
        except ValueError:
            summ = None
        ck.check(p.returncode == 0 and summ is not None, "%s: perfshim summary reads it" % label,
                 pstest.describe(p))
        lk = pstest.run([args.perfshim, "leaks", "--json", path])
        ck.check(lk.returncode == 0 and lk.stdout.startswith(b"{"),
                 "%s: perfshim leaks reads it" % label, pstest.describe(lk))
        if summ and role != "master":
            allocs = summ["totals"]["allocs"]
            # The drop happens before the server serves anything: a worker that served requests
            # (nginx: 100 each on average; memcached: 200 sets) allocated after it.
            first = raw.snapshots[0]["totals"]["allocs"] if raw.snapshots else 0
            ck.check(raw.snapshots and raw.snapshots[-1]["reason"] == pstest.SNAP_EXIT and
                     allocs >= 50, "%s: the exit snapshot, written after the drop, counts "
                     "%d allocations" % (label, allocs), repr(first))
    realtest.cleanup(args, base)
    ck.done()


if __name__ == "__main__":
    main()
