#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""regen.py — regenerates the golden traces of tests/data and their expected reports.

For each golden program: run it from a build tree under that tree's libperfshim.so, then make
the trace reproducible on any machine (tests/data/README.md says why):
  - the program's own module is renamed "bin/NAME.debug", a path relative to tests/data, and
    the program's debug-only ELF (objcopy --only-keep-debug: symbols and DWARF, same build-id)
    is saved there, so that its frames always symbolize to the same functions and lines;
  - every other module (libc, ld.so, libperfshim.so) is renamed /nonexistent-perfshim-golden/
    BASENAME and loses its build-id, so that its frames are always module+offset, whatever
    libc or debug packages the machine has;
  - the PROCESS chunk's program, argv[0], host name and output path become fixed strings;
then rewrite every CRC, and write NAME.expected.json with test_golden.py --update.

Usage: tests/data/regen.py --build BUILD_DIR [NAME ...]   (default: every golden program)
Standard library and binutils' objcopy only.
"""
import argparse
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
NOWHERE = "/nonexistent-perfshim-golden"

# name: (arguments, extra environment). Small programs whose results do not depend on timing.
GOLDEN = {
    "leaky": ([], {}),
    "threads": ([], {}),
    "dump": ([], {}),
    "contention": ([], {"PERFSHIM_LOCKS": "1"}),
    # one program built twice, every address moved and one site changed (perfshim diff)
    "diffprog_a": ([], {}),
    "diffprog_b": ([], {}),
}

CHUNK_PROCESS, CHUNK_MODULES = 1, 2


def rd_str(p, q):
    n, = struct.unpack_from("<I", p, q)
    return p[q + 4:q + 4 + n], q + 4 + n


def wr_str(b):
    return struct.pack("<I", len(b)) + b


def rewrite_process(p, name):
    q = 32  # pid, ppid, realtime, monotonic
    out = bytearray(p[:q])
    version, q = rd_str(p, q)
    _program, q = rd_str(p, q)
    _host, q = rd_str(p, q)
    argc, = struct.unpack_from("<I", p, q)
    q += 4
    argv = []
    for _ in range(argc):
        a, q = rd_str(p, q)
        argv.append(a)
    options, q = rd_str(p, q)
    prog = ("golden/%s" % name).encode()
    if argv:
        argv[0] = prog
    opts = []
    for line in options.split(b"\n"):
        if line.startswith(b"PERFSHIM_OUTPUT="):
            line = b"PERFSHIM_OUTPUT=golden.trace"
        opts.append(line)
    out += wr_str(version) + wr_str(prog) + wr_str(b"golden") + struct.pack("<I", argc)
    for a in argv:
        out += wr_str(a)
    out += wr_str(b"\n".join(opts)) + p[q:]  # pointer and page size, and any later field
    return bytes(out)


def rewrite_modules(p, program_path, name):
    count, = struct.unpack_from("<I", p, 0)
    q = 4
    out = bytearray(p[:4])
    for _ in range(count):
        out += p[q:q + 24]  # base, start, end
        q += 24
        path, q = rd_str(p, q)
        bid, q = rd_str(p, q)
        if path == program_path:
            path = ("bin/%s.debug" % name).encode()
        elif path and not path.startswith(b"["):
            path = ("%s/%s" % (NOWHERE, os.path.basename(path.decode()))).encode()
            bid = b""
        out += wr_str(path) + wr_str(bid)
    return bytes(out + p[q:])


def rewrite(data, program_path, name):
    assert data[:8] == b"PSHMTRC\0", "not a trace"
    out = bytearray(data[:16])
    off = 16
    while off < len(data):
        sync, typ, flags, length, _crc = struct.unpack_from("<IHHII", data, off)
        assert sync == 0x4B435350 and off + 16 + length <= len(data), "damaged at %d" % off
        payload = data[off + 16:off + 16 + length]
        if typ == CHUNK_PROCESS:
            payload = rewrite_process(payload, name)
        elif typ == CHUNK_MODULES:
            payload = rewrite_modules(payload, program_path, name)
        head = struct.pack("<IHHI", sync, typ, flags, len(payload))
        out += head + struct.pack("<I", zlib.crc32(payload, zlib.crc32(head))) + payload
        off += 16 + length
    return bytes(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True, help="build tree with bin/ and lib/libperfshim.so")
    ap.add_argument("names", nargs="*", default=sorted(GOLDEN))
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    os.makedirs(os.path.join(HERE, "bin"), exist_ok=True)
    for name in a.names:
        argv, extra = GOLDEN[name]
        prog = os.path.join(build, "bin", name)
        work = tempfile.mkdtemp(prefix="perfshim-golden-")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PERFSHIM_", "LD_"))}
        env.update(extra)
        env["LD_PRELOAD"] = os.path.join(build, "lib", "libperfshim.so")
        env["PERFSHIM_OUTPUT"] = os.path.join(work, "out.trace")
        subprocess.run([prog, *argv], env=env, cwd=work, check=True, stdout=subprocess.DEVNULL)
        with open(os.path.join(work, "out.trace"), "rb") as f:
            data = f.read()
        shutil.rmtree(work)
        real = os.path.realpath(prog).encode()
        with open(os.path.join(HERE, name + ".trace"), "wb") as f:
            f.write(rewrite(data, real, name))
        subprocess.run(["objcopy", "--only-keep-debug", prog,
                        os.path.join(HERE, "bin", name + ".debug")], check=True)
        print("regen: %s.trace, bin/%s.debug" % (name, name))
    test = os.path.join(HERE, "..", "integration", "test_golden.py")
    return subprocess.run([sys.executable, test, "--perfshim", os.path.join(build, "bin", "perfshim"),
                           "--lib", env["LD_PRELOAD"], "--bindir", os.path.join(build, "bin"),
                           "--srcdir", os.path.join(HERE, "..", "..", "examples"),
                           "--data", HERE, "--update", *a.names]).returncode


if __name__ == "__main__":
    sys.exit(main())
