#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_completion.py — scripts/completion/perfshim.bash against the built analyzer (issue 14,
"Ecosystem"; tests/install/test_package.sh checks the installed copy on a command and an option).

Asserts the completions a user types most: commands; a command's options; the options every
trace-reading command takes (`--sysroot`, `--debug-dir`, `--symbol-cache`: listed only in
`perfshim --help`, so they were missing before); the values of `export --format` and
`--metric` (each once), `--at` (traces were offered before); directories after `--sysroot`;
`--help` once; trace files as operands; the commands after `help` in a fresh shell; ctl's
verbs. Exits 77 without bash."""
import os
import shutil
import subprocess

import pstest


def main():
    args = pstest.parse_args()
    ck = pstest.Checker("test_completion")
    bash = shutil.which("bash")
    if not bash:
        ck.skip("bash is not installed")
    comp = os.path.join(args.srcdir, "..", "scripts", "completion", "perfshim.bash")
    work = pstest.tmpdir("completion")
    os.makedirs(os.path.join(work, "sysroot"), exist_ok=True)
    open(os.path.join(work, "app.123.trace"), "wb").close()

    def complete(*words):
        script = ('source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); '
                  '_perfshim; printf "%s\\n" "${COMPREPLY[@]}"')
        p = subprocess.run([bash, "-c", script, "_", comp, args.perfshim] + list(words),
                           cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        return [w for w in p.stdout.decode().split("\n") if w]

    ck.check("export" in complete("ex"), "commands: 'perfshim ex' completes export")
    ck.check("--fail-on-leak" in complete("leaks", "--fail"), "a command's own option")
    for cmd in ("leaks", "export", "report"):
        got = complete(cmd, "--s")
        ck.check("--sysroot" in got and "--symbol-cache" in got,
                 "%s: --sysroot and --symbol-cache (perfshim --help's shared options)" % cmd,
                 repr(got))
        ck.check("--debug-dir" in complete(cmd, "--d"), "%s: --debug-dir" % cmd)
    ck.check("--sysroot" not in complete("run", "--s"), "run takes no --sysroot")
    ck.equal(complete("report", "--h").count("--help"), 1, "--help offered once")
    ck.equal(complete("export", "--format", ""), ["pprof", "folded", "speedscope", "json"],
             "export --format: the formats")
    ck.equal(sorted(complete("export", "--metric", "alloc_")), ["alloc_objects", "alloc_space"],
             "export --metric: the metrics")
    ck.equal(complete("summary", "--at", ""), ["last", "max"], "--at: last and max")
    ck.equal(complete("leaks", "--sysroot", "sys"), ["sysroot"], "--sysroot: directories")
    ck.check("app.123.trace" in complete("leaks", ""), "operands: trace files")
    # `perfshim help <TAB>` in a fresh shell: the command list was read only when the command
    # itself was completed first, so this offered nothing
    got = complete("help", "")
    ck.check("export" in got and "merge" in got and "report" in got,
             "help: the commands, in a shell that completed nothing before", repr(got))
    ck.equal(complete("export", "--metric", "c"), ["contentions", "cpu"],
             "export --metric c: each metric once")
    ck.equal(complete("ctl", "123", "st"), ["status", "start", "stop"], "ctl PID: the verbs")
    ck.done()


if __name__ == "__main__":
    main()
