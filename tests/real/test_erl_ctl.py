#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_erl_ctl.py — a real program that closes every descriptor keeps its control channel
(issue 11, item 4): Erlang (Debian's erlang-base) started with PERFSHIM_START=off. Its helper
erl_child_setup, started by the emulator, closes every descriptor it did not mean to keep at
start, the shim's control socket among them; the shim used to end the channel and write a
warning to erl's stderr about a second later, on every run.

Asserts: `perfshim ctl PID status` reaches erl_child_setup (found as the emulator's child)
within 20 s, and reaches the emulator; erl still runs a command through erl_child_setup
(os:cmd, the oracle: its output) and exits 0; nothing from perfshim on its stderr; no trace
(dormant all along). Skipped (77) without erl."""
import os
import shutil
import subprocess

import realtest
from realtest import pstest
from test_control import wait_for  # tests/integration, on realtest's path


def children(pid, comm):
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        name = st[st.index("(") + 1:st.rindex(")")]
        ppid = int(st[st.rindex(")") + 2:].split()[1])
        if ppid == pid and name == comm:
            found.append(int(d))
    return found


def ctl_ok(args, pid):
    return pstest.run([args.perfshim, "ctl", str(pid), "status"], timeout=60).returncode == 0


def main():
    args = realtest.parse_args()
    ck = pstest.Checker("test_erl_ctl")
    erl = shutil.which("erl")
    if not erl:
        ck.skip("erl (erlang-base) is not installed")
    base = pstest.tmpdir("erl-ctl")
    side = realtest.Side(args, "ctl", base, {"PERFSHIM_START": "off", "PERFSHIM_LOCKS": "0"})
    env = os.environ.copy()
    for k in list(env):
        if k.startswith("PERFSHIM_") or k == "LD_PRELOAD":
            del env[k]
    env.update(side.env)
    # erl's script execs erlexec, which execs beam.smp: the pid stays the emulator's
    p = subprocess.Popen([erl, "-noshell", "-eval",
                          'io:get_line(""), io:format("~s", [os:cmd("echo from-child-setup")]),'
                          ' halt().'],
                         env=env, cwd=side.dir, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    try:
        setup = []
        ck.check(wait_for(lambda: setup.extend(children(p.pid, "erl_child_setup")) or setup, 30),
                 "erl_child_setup started")
        if setup:
            # it closes its descriptors at start; the shim notices within a second
            ck.check(wait_for(lambda: ctl_ok(args, setup[0]), 20),
                     "perfshim ctl reaches erl_child_setup after it closed every descriptor")
        ck.check(ctl_ok(args, p.pid), "perfshim ctl reaches the emulator")
        out, err = p.communicate(b"\n", timeout=120)
        ck.check(p.returncode == 0 and b"from-child-setup" in out,
                 "erl runs a command through erl_child_setup and exits 0",
                 "status %s, stdout %r" % (p.returncode, out[-200:]))
        ck.check(b"perfshim" not in err, "nothing from perfshim on erl's stderr",
                 err.decode("utf-8", "replace"))
        ck.equal(os.listdir(side.tracedir), [], "dormant all along: no trace")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    realtest.cleanup(args, base)
    ck.done()


if __name__ == "__main__":
    main()
