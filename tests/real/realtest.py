# SPDX-License-Identifier: MIT
"""realtest.py — running programs nobody here wrote with and without the shim, and comparing.

Owns: the `--lib`/`--perfshim` arguments of tests/real, the with/without runner (LD_PRELOAD of
libperfshim.so, traces into a scratch directory), the comparison of status, stdout and stderr,
and the check that the shim really was active (its traces exist and are complete).
Reuses tests/integration/pstest.py. Standard library only; no timing assertions.
"""
import argparse
import os
import signal
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import pstest  # noqa: E402

PYTHON = "/usr/bin/python3"


def parse_args(extra=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--perfshim", required=True)
    ap.add_argument("--lib", required=True)
    ap.add_argument("--keep", action="store_true", help="keep the scratch directories")
    if extra:
        extra(ap)
    args = ap.parse_args()
    # A command started in the background by a non-interactive shell inherits SIGINT and
    # SIGQUIT ignored, and so would every program under test: CPython's tests that expect
    # KeyboardInterrupt (test_multiprocessing_*'s test_wait_result, ..._ignores_sigint) then
    # fail even without the shim. A handled signal is reset to the default across exec.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGQUIT, lambda *_: sys.exit(1))
    args.perfshim = os.path.abspath(args.perfshim)
    args.lib = os.path.abspath(args.lib)
    return args


class Side:
    """One side of a comparison: 'bare' (no shim) or any other name: a shim side (LD_PRELOAD,
    traces in tracedir), with shim_env overriding its PERFSHIM_* defaults, so that one bare
    run can be compared with several shim configurations."""

    def __init__(self, args, name, base, shim_env=None):
        self.name = name
        self.dir = os.path.join(base, name)
        os.makedirs(self.dir, exist_ok=True)
        self.env = {}
        self.tracedir = None
        if name != "bare":
            self.tracedir = os.path.join(base, "traces" if name == "shim" else name + "-traces")
            os.makedirs(self.tracedir, exist_ok=True)
            # Children that drop privileges (test_subprocess runs some as nobody when we are
            # root) write their traces as their new user: let them, like /tmp does.
            os.chmod(base, 0o711)
            os.chmod(self.tracedir, 0o1777)
            # lock timing on, as `perfshim run` sets it: real programs must run unchanged
            self.env = {"LD_PRELOAD": args.lib, "PERFSHIM_LOCKS": "1",
                        "PERFSHIM_OUTPUT": os.path.join(self.tracedir, "%e.%p.trace")}
            self.env.update(shim_env or {})

    def run(self, cmd, cwd=None, env=None, timeout=600, stdin=None):
        e = dict(self.env)
        if env:
            e.update(env)
        return pstest.run(cmd, env=e, cwd=cwd or self.dir, timeout=timeout, stdin=stdin)


def parse_variant(spec):
    """'NAME' or 'NAME:KEY=VAL,KEY=VAL' (the --variant argument of several tests) ->
    (name, env dict). An empty VAL is kept: KEY= sets the variable to the empty string."""
    name, _, rest = spec.partition(":")
    env = {}
    for item in filter(None, rest.split(",")):
        key, eq, val = item.partition("=")
        if not eq or not key.startswith("PERFSHIM_"):
            raise SystemExit("bad --variant %r: want NAME:PERFSHIM_X=V,..." % spec)
        env[key] = val
    if not name or name == "bare" or "/" in name:
        raise SystemExit("bad --variant name %r" % spec)
    return name, env


def add_variant_arg(ap, default):
    ap.add_argument("--variant", action="append", default=None, metavar="NAME[:ENV=V,...]",
                    help="a shim configuration to compare with the bare run (repeatable; "
                    "default: %s)" % " ".join(default))
    ap.set_defaults(variant_default=default)


def variants(args):
    return [parse_variant(v) for v in (args.variant or args.variant_default)]


def compare(ck, label, bare, shim, stdout=True, stderr=True):
    """Same status, and the same stdout/stderr where the program is deterministic."""
    ck.equal(shim.returncode, bare.returncode, "%s: exit status with the shim" % label)
    if stdout:
        ck.check(shim.stdout == bare.stdout,
                 "%s: identical stdout (%d bytes)" % (label, len(bare.stdout)),
                 diff(bare.stdout, shim.stdout))
    if stderr:
        ck.check(shim.stderr == bare.stderr,
                 "%s: identical stderr (%d bytes)" % (label, len(bare.stderr)),
                 diff(bare.stderr, shim.stderr))


def check_quiet(ck, label, outputs):
    """The shim printed no warning (its warnings start "perfshim: warning:") in any of the
    given stderr byte strings: for programs whose stderr is not compared byte for byte."""
    noisy = [o for o in outputs if b"perfshim: warning" in o]
    ck.check(not noisy, "%s: no shim warning" % label,
             "\n".join(line.decode("utf-8", "replace") for o in noisy[:3]
                       for line in o.splitlines() if b"perfshim: warning" in line))


def diff(a, b):
    import difflib
    la = a.decode("utf-8", "replace").splitlines()
    lb = b.decode("utf-8", "replace").splitlines()
    d = list(difflib.unified_diff(la, lb, "without shim", "with shim", lineterm="", n=1))
    return "\n".join(d[:60])


def check_traces(ck, side, program, min_allocs=1, all_complete=True, locks_used=False):
    """The shim was active: complete traces of `program` with allocations. With all_complete
    false (programs whose children are killed on purpose), one complete trace is enough.
    Under PERFSHIM_CPU_HZ the traces must hold CPU samples; with locks_used (programs known to
    take pthread locks) and PERFSHIM_LOCKS=1, timed locks: a configuration that silently did
    nothing would otherwise pass every comparison."""
    names = sorted(os.listdir(side.tracedir))
    mine = [n for n in names if n.startswith(program + ".")]
    ck.check(mine, "shim active: traces of %s written (%d traces in all)" % (program, len(names)),
             repr(names[:20]))
    bad = []
    allocs = samples = locks = 0
    for n in mine:
        raw = pstest.RawTrace(os.path.join(side.tracedir, n), rows=False)
        if raw.error or raw.end is None or not raw.snapshots:
            bad.append("%s: %s" % (n, raw.error or "no END chunk or no snapshot"))
        else:
            allocs = max(allocs, raw.snapshots[-1]["totals"]["allocs"])
        samples += raw.cpu["samples"] if raw.cpu else 0
        locks += len(raw.locks["locks"]) if raw.locks else 0
    if all_complete:
        ck.check(not bad, "every trace of %s is complete" % program, "\n".join(bad[:10]))
    else:
        ck.check(len(bad) < len(mine), "at least one complete trace of %s (%d incomplete)"
                 % (program, len(bad)), "\n".join(bad[:10]))
    ck.check(allocs >= min_allocs, "%s: the shim saw allocations (max %d >= %d)"
             % (program, allocs, min_allocs))
    if side.env.get("PERFSHIM_CPU_HZ", "0") not in ("", "0"):
        ck.check(samples > 0, "%s: CPU samples recorded (%d)" % (program, samples))
    if locks_used and side.env.get("PERFSHIM_LOCKS") == "1":
        ck.check(locks > 0, "%s: locks timed (%d lock records)" % (program, locks))
    return [os.path.join(side.tracedir, n) for n in mine]


def cleanup(args, base):
    """Checker.done() removes scratch directories when every check passed and keeps them for
    inspection otherwise; --keep keeps them always."""
    if args.keep and base in pstest._scratch:
        pstest._scratch.remove(base)
        print("kept " + base)
