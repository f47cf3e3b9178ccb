#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_qemu_user.py — the shim preloaded into a program that runs under qemu-user
(`qemu-x86_64 -E LD_PRELOAD=libperfshim.so PROG`: the guest's own loader preloads the shim, which
then runs emulated) must not kill it. qemu-user 7.2 (Debian 12) enters a guest's signal handler
with the stack 8 bytes off the x86-64 ABI's alignment; the shim's SIGPROF handler walked the
stack with aligned SSE stores (find_fde) and the guest died of SIGSEGV at its first CPU sample
(PERFSHIM_CPU_HZ=1000: exit status 139, "qemu: uncaught target signal 11"). The shim's
handlers now realign the stack on entry (PS_SIGNAL_HANDLER).
And with the shim in qemu *and* in the guest, both sampling (plain `LD_PRELOAD=... qemu-x86_64
PROG`, which passes the variable on to the guest): a guest timer's SIGPROF that came while qemu
had SIGPROF blocked was held by qemu's shim and raised again as a plain tgkill, which lost its
SI_TIMER code and value; the guest's shim took it for the program's own SIGPROF and, the guest
having no handler, the process died of SIGPROF (or hung). It is now sent again with its
siginfo (rt_tgsigqueueinfo). Checked with a two-thread python3 guest, three runs.

Checks, for `sort -n` of 100k numbers under qemu-x86_64: without the shim, with the shim, and
with the shim sampling CPU at 1000 Hz: exit status 0 and the same output as without qemu
(never a timeout); with sampling, the trace loads in `perfshim hot --json` and holds CPU
samples. Skipped (77) when qemu-x86_64 is not installed (`apt-get install qemu-user`)."""
import json
import os
import shutil
import subprocess
import sys

import pstest


def main():
    args = pstest.parse_args()
    qemu = shutil.which("qemu-x86_64")
    sort = shutil.which("sort")
    if not qemu or not sort:
        print("skip: qemu-x86_64 (package qemu-user) or sort not installed")
        sys.exit(77)
    ck = pstest.Checker("test_qemu_user")
    work = pstest.tmpdir("qemu-user")
    data = os.path.join(work, "in.txt")
    with open(data, "w") as f:
        f.write("".join("%d\n" % ((i * 7919) % 100003) for i in range(100000)))
    native = pstest.run([sort, "-n", data], timeout=120)
    ck.equal(native.returncode, 0, "sort runs natively")
    runs = [("under qemu, no shim", []),
            ("under qemu, shim", ["-E", "LD_PRELOAD=" + args.lib]),
            ("under qemu, shim with CPU sampling", ["-E", "LD_PRELOAD=" + args.lib])]
    for i, (label, qargs) in enumerate(runs):
        out = os.path.join(work, "run%d.trace" % i)
        env = {"PERFSHIM_OUTPUT": out}
        if i == 2:
            env["PERFSHIM_CPU_HZ"] = "1000"
        try:
            p = pstest.run([qemu] + qargs + [sort, "-n", data], env=env, cwd=work, timeout=240)
        except subprocess.TimeoutExpired:
            ck.check(False, "%s: finishes within 240 s" % label)
            continue
        ck.equal(p.returncode, 0, "%s: exit status 0" % label)
        ck.check(p.stdout == native.stdout, "%s: the same output as natively" % label,
                 p.stderr.decode(errors="replace")[-400:])
        if i != 2:
            continue
        h = pstest.run([args.perfshim, "hot", "--json", out], timeout=120)
        ck.equal(h.returncode, 0, "%s: perfshim hot loads the trace" % label)
        try:
            samples = json.loads(h.stdout).get("cpu", {}).get("samples", 0)
        except (ValueError, AttributeError):
            samples = 0
        ck.check(samples > 0, "%s: the trace holds CPU samples" % label,
                 h.stdout.decode(errors="replace")[:400])
    py = "/usr/bin/python3"
    if os.path.exists(py):
        prog = ("import threading; r=[]; t=[threading.Thread(target=lambda: r.append("
                "sum(range(100000)))) for i in range(2)]; [x.start() for x in t]; "
                "[x.join() for x in t]; print(r)")
        for i in range(3):
            env = {"PERFSHIM_OUTPUT": os.path.join(work, "both%d.%%p.trace" % i),
                   "PERFSHIM_CPU_HZ": "1000", "LD_PRELOAD": args.lib}
            label = "shim sampling in qemu and in its guest, run %d" % (i + 1)
            try:
                p = pstest.run([qemu, py, "-c", prog], env=env, cwd=work, timeout=240)
            except subprocess.TimeoutExpired:
                ck.check(False, "%s: finishes within 240 s" % label)
                continue
            ck.equal(p.returncode, 0, "%s: exit status 0" % label)
            ck.check(p.stdout == b"[4999950000, 4999950000]\n", "%s: the output" % label,
                     p.stderr.decode(errors="replace")[-400:])
    ck.done()


if __name__ == "__main__":
    main()
