#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_rust_demangle.py — a Rust program built with v0 symbol mangling (rustleak.rs, compiled
here by rustc: skipped without it) leaks under the shim; the leak report names its frames as
Rust's own backtrace (std's demangler) does: the stack of the leak in Cache::remember, from that
frame out to std::rt::lang_start_internal, is exactly the backtrace the program printed there,
name for name, and no frame in any leak keeps a mangled Rust name (_R..., _ZN...17h...E)."""
import os
import re
import shutil

import pstest


def rust_names(text):
    """Function names of a std::backtrace::Backtrace printout ("  3: name" lines)."""
    return [m.group(1) for m in re.finditer(r"^\s*\d+: (.+)$", text, re.M)]


def main():
    args = pstest.parse_args()
    ck = pstest.Checker("test_rust_demangle")
    rustc = shutil.which("rustc") or (os.path.expanduser("~/.cargo/bin/rustc")
                                      if os.access(os.path.expanduser("~/.cargo/bin/rustc"),
                                                   os.X_OK) else None)
    if not rustc:
        ck.skip("no rustc")
    work = pstest.tmpdir("rustdm")
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "rustleak.rs")
    exe = os.path.join(work, "rustleak")
    c = pstest.run([rustc, "-O", "-g", "-C", "symbol-mangling-version=v0", src, "-o", exe],
                   cwd=work, timeout=600)
    if c.returncode != 0:
        ck.skip("rustc cannot build rustleak.rs here: %s" % c.stderr.decode()[-500:])
    syms = pstest.run(["nm", exe]).stdout.decode()
    ck.check(re.search(r" _R\S*8remember", syms), "the program's own symbols are v0-mangled")
    oracle = os.path.join(work, "backtrace.txt")
    p, reports = pstest.perfshim_run_json(args, ck, [exe, oracle], work)
    ck.equal(p.returncode, 0, "exit status")
    if not reports:
        ck.done()
    rep = reports[0]
    if not pstest.check_report_shape(ck, rep, "rustleak"):
        ck.done()
    with open(oracle) as f:
        want = rust_names(f.read())
    if "main" in want:
        want = want[:want.index("main")]
    ck.check(len(want) >= 3 and want[0].endswith("::remember"),
             "Rust's backtrace starts at Cache::remember: %r" % want[:3])
    mangled = re.compile(r"^_R[A-Z]|^_ZN.*17h[0-9a-f]{16}E")
    bad = sorted({fr.get("function") or "" for l in rep["leaks"] for fr in l["stack"]
                  if mangled.match(fr.get("function") or "")})
    ck.check(not bad, "no mangled Rust name in the report", "\n".join(bad[:10]))
    found = False
    for l in rep["leaks"]:
        names = [fr.get("function") or "" for fr in l["stack"]]
        if want and want[0] in names:
            i = names.index(want[0])
            got = names[i:i + len(want)]
            found = ck.check(got == want, "the remember leak's frames are Rust's backtrace, "
                             "name for name",
                             "report:\n  %s\nbacktrace:\n  %s" % ("\n  ".join(got),
                                                                   "\n  ".join(want)))
            break
    if not found:
        ck.check(False, "a leak goes through %r" % (want[0] if want else "?"),
                 pstest.fmt_report(rep))
    ck.check(any(fr.get("function") == "rustleak::make_table"
                 for l in rep["leaks"] for fr in l["stack"]),
             "the HashMap leak names rustleak::make_table", pstest.fmt_report(rep))
    ck.done()


if __name__ == "__main__":
    main()
