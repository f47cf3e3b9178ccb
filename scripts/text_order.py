#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""text_order.py — writes shim/text_order.txt, the list of the shim's functions that a run in the
common modes executes, which the link puts together at the start of libperfshim.so's code.

Why: the kernel maps a file's pages around every page a process touches (fault-around, 64 KiB
windows), so touching a few functions spread over the library made all of its 140 KiB of code
resident, counted in every process's RSS (issue 11: sampling's peak RSS at most 1.1x glibc's on
3-6 MB processes). With the executed functions in one group at the start of a 64 KiB-aligned
text segment, the windows after it stay unmapped. docs/performance.md, "Sampling's peak RSS:
the file-backed pages and the pool's loose bands".

How: runs the built bench-churn (8M operations, as run.py's churn-1t; 300k for full tracking) and
sqlite3 (if installed) under valgrind's callgrind with the
shim preloaded in pool mode, byte sampling with the pool on and off, and full tracking, and lists
every function of libperfshim.so that ran: churn's in the first three modes (pool first: the most
common), then churn's exit snapshot, then what sqlite3 adds, then full tracking's (see the order
in main), one symbol a line for lld's --symbol-ordering-file (the shim is compiled with
-ffunction-sections).
A stale list is harmless: a renamed function is not found and lands after the listed ones (more
resident pages, never wrong code); the integration test footprint checks the resident code.

Usage: scripts/text_order.py --build build [--output shim/text_order.txt]
Then rebuild (the link depends on the file)."""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Functions only a snapshot with its ADVICE chunk runs (exit, stop, dump, signal): listed after
# every mode's functions (see main)
SNAPSHOT_ONLY = {"ps_advice_write", "copy_bins", "put_bins",
                 # the snapshot writer's own functions (shim/snapshot.c): a sampled run executes
                 # them only when it writes a snapshot, at exit in the short runs measured
                 "ps_snapshot_write", "write_all", "write_memo", "write_messages", "write_end",
                 "write_pool", "put_process", "put_module"}


def snapshot_only(name):
    """name or its GCC clone (put_process.constprop.0, foo.part.0) is in SNAPSHOT_ONLY"""
    return name in SNAPSHOT_ONLY or name.split(".")[0] in SNAPSHOT_ONLY

# Set-up a thread runs when it first allocates (the runs are single-threaded: they see it only
# during start-up, but every new thread of a real program runs it again)
PER_THREAD = {"thread_new", "trec_new", "ps_advice_thread_init"}

MODES = [  # (name, environment), in the order their functions are placed
    ("pool", {"PERFSHIM_MODE": "pool"}),
    ("sample", {"PERFSHIM_SAMPLE": "524288", "PERFSHIM_SAMPLE_SEED": "1"}),
    ("sample-nopool", {"PERFSHIM_SAMPLE": "524288", "PERFSHIM_POOL": "0",
                       "PERFSHIM_SAMPLE_SEED": "1"}),
    ("full", {}),
]

SQL = ("CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, note TEXT);\n"
       "CREATE INDEX t_name ON t(name);\nBEGIN;\n"
       + "".join("INSERT INTO t(name, note) VALUES('n-%d-%x', '%s');\n"
                 % (i, i * 2654435761 % 2**32, "x" * (i % 40)) for i in range(3000))
       + "COMMIT;\nSELECT count(*) FROM t;\n")


def executed(outfile, lib_name):
    """Names of the functions of lib_name with cost in a callgrind output file."""
    names, obs, fns = [], {}, {}
    ob = fn = None
    pat = re.compile(r"^(c?)(ob|fn)=(?:\((\d+)\))?\s*(.*)$")
    with open(outfile) as f:
        for line in f:
            m = pat.match(line)
            if m:
                called, kind, ident, name = m.groups()
                table = obs if kind == "ob" else fns
                if ident is not None and name:
                    table[ident] = name.strip()
                value = table.get(ident, name.strip()) if ident is not None else name.strip()
                if not called:
                    if kind == "ob":
                        ob = value
                    else:
                        fn = value
                        if ob and lib_name in ob and not fn.startswith("0x"):
                            names.append(fn.split("'")[0])
    return names


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", required=True, type=Path, help="a built tree (cmake --build)")
    ap.add_argument("--output", type=Path, default=ROOT / "shim" / "text_order.txt")
    args = ap.parse_args()
    lib = (args.build / "lib" / "libperfshim.so").resolve()
    churn = (args.build / "bin" / "bench" / "bench-churn").resolve()
    if not shutil.which("valgrind") or not lib.exists() or not churn.exists():
        sys.exit("text_order.py: needs valgrind, %s and %s" % (lib, churn))
    # bench-churn at run.py's churn-1t size in the common modes: a long run reaches paths a short
    # one never does (a lifetime counter's spill, table growth), and one such function left out
    # of the list made the whole next 64 KiB window resident at exit; full tracking, 40 times
    # slower under callgrind, runs the short churn
    programs = [([str(churn), "8000000", "1"], None)]
    short = [([str(churn), "300000", "1"], None)]
    sqlite = shutil.which("sqlite3")
    tmp = Path(tempfile.mkdtemp(prefix="perfshim-text-order-"))
    if sqlite:
        programs.append(([sqlite, str(tmp / "t.db")], SQL))
        short.append(([sqlite, str(tmp / "t.db")], SQL))
    # the C runtime's start-up and exit code in the library (crtbeginS.o: run by .init_array
    # and .fini_array, unnamed in callgrind's output)
    crt = [("pool", n) for n in ("frame_dummy", "register_tm_clones", "__do_global_dtors_aux",
                                 "deregister_tm_clones")]
    seen = {n for _, n in crt}
    ran_later = set()  # functions some run executed after ps_init_process returned
    # churn in the modes but full (first: see the order below), then sqlite3 in them, then full
    # tracking's short runs
    first, later = [], []
    runs = [(mode, extra, argv, stdin, first if j == 0 else later)
            for j, (argv, stdin) in enumerate(programs)
            for mode, extra in MODES if mode != "full"]
    runs += [(mode, extra, argv, stdin, later)
             for mode, extra in MODES if mode == "full" for argv, stdin in short]
    try:
        for mode, extra, argv, stdin, group in runs:
            out = tmp / "callgrind.out"
            env = {k: v for k, v in os.environ.items() if not k.startswith("PERFSHIM_")}
            env.update(extra, LD_PRELOAD=str(lib),
                       PERFSHIM_OUTPUT=str(tmp / "%p.trace"))
            for db in tmp.glob("t.db*"):
                db.unlink()
            # two parts: up to the return of ps_init_process (out.1), and the rest (out)
            for part in tmp.glob("callgrind.out*"):
                part.unlink()
            subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=%s" % out,
                            "--dump-after=ps_init_process"]
                           + argv, env=env, input=stdin, text=True, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            init_part = Path(str(out) + ".1")
            at_init = executed(init_part, "libperfshim") if init_part.exists() else []
            after = executed(out, "libperfshim")
            ran_later.update(after)
            for name in at_init + after:
                if name not in seen:
                    seen.add(name)
                    group.append((mode, name))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    # GCC's split-off cold part of a listed function (foo.cold) goes right after it, in its mode's
    # group, even when callgrind saw it run only in a later mode: the short runs can miss a cold
    # part that a longer one takes (walk.cold, seen with full tracking only, made sampling's
    # second window resident in the footprint test); it is small, so list every one
    nm = subprocess.run(["nm", str(lib)], capture_output=True, text=True, check=True).stdout
    symbols = {line.split()[-1] for line in nm.splitlines() if line.strip()}
    colds = {name + ".cold" for _, name in crt + first + later if name + ".cold" in symbols}
    # The order, in 64 KiB windows (issue 11 item 3, docs/performance.md "Sampling's peak RSS:
    # the exit in the first window"): (1) what churn-1t executes in the modes pool, sample and
    # sample-nopool while it allocates; (2) the snapshot writer it runs at exit; (3) what sqlite3
    # adds in those modes; (4) full tracking's. A small process's peak RSS is at exit, during
    # the final snapshot: with the writer in a second window (it was listed last, so that the
    # code sampling runs while the program allocates stayed in one window) that window was
    # faulted in then, +64 KiB at churn-1t's peak. (1) and (2) now fit in one window together;
    # what sqlite3 adds may land in the second window, which its exit touched anyway.
    def colded(entries):
        return [e for mode, name in entries if name not in colds
                for e in [(mode, name)] + ([(mode, name + ".cold")]
                                           if name + ".cold" in colds else [])]
    # (5) The start-up code that no run executed after ps_init_process returned (options,
    # the pool's and the tables' set-up, the loader's lookups: 16 KiB with sampling) goes after
    # (1)-(3), in the second window, whose pages the constructor unmaps when it is done
    # (init.c, drop_init_code): the first window then holds what runs later, the final
    # snapshot included, with room to spare ("Sampling's peak RSS: the start-up code out of
    # the first window"). Per-thread set-up runs at start in these single-threaded runs but
    # again for every new thread: it stays in the first window.
    def init_only(name):
        return (name not in ran_later and name.split(".")[0] not in ran_later
                and name.split(".")[0] not in PER_THREAD)
    first_run = [e for e in first if not snapshot_only(e[1]) and not init_only(e[1])]
    snap = [("snapshot", n) for _, n in first + later if snapshot_only(n)]
    sqlite_modes = [("sqlite-" + m, n) for m, n in later
                    if m != "full" and not snapshot_only(n) and not init_only(n)]
    init = [("init", n) for _, n in first + later if init_only(n) and not snapshot_only(n)]
    full = [(m, n) for m, n in later if m == "full" and not snapshot_only(n) and not init_only(n)]
    order = crt + colded(first_run) + colded(snap) + colded(sqlite_modes) + colded(init) \
        + colded(full)
    lines = ["# Generated by scripts/text_order.py: do not edit. The shim's functions that",
             "# bench-churn executed under callgrind in the modes pool, sample and",
             "# sample-nopool, its exit snapshot, then what sqlite3 adds, then the start-up",
             "# code no run executed later (unmapped after the constructor), then full tracking:",
             "# the link (lld --symbol-ordering-file) places them first in libperfshim.so's code,",
             "# so that fault-around maps few of its pages. A name no longer found is ignored.",
             "# docs/performance.md, \"Sampling's peak RSS: the file-backed pages\"."]
    for mode, name in order:
        if ("# " + mode) not in lines:
            lines.append("# " + mode)
        lines.append(name)
    lines.append("")
    args.output.write_text("\n".join(lines))
    print("wrote %s: %d functions" % (args.output, len(order)))


if __name__ == "__main__":
    main()
