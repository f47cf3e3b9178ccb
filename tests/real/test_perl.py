#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_perl.py — /usr/bin/perl running perl_workload.pl (regex-heavy text processing,
hashes, Storable, Data::Dumper, JSON::PP, Digest, Compress::Zlib, Encode, ithreads with
threads::shared) without the shim and under each shim configuration (--variant): identical
stdout, stderr and exit status; then the same for a run that dies on purpose (perl's status
255 and its message must survive). The workload prints only values derived from its input, so
any difference is the shim's doing. PERL_HASH_SEED is fixed as well, so even an ordering bug in
the workload could not make the runs differ by chance."""
import os
import shutil

import realtest
from realtest import pstest

HERE = os.path.dirname(os.path.abspath(__file__))


def extra(ap):
    ap.add_argument("--size", type=int, default=20000, help="lines of generated text")
    realtest.add_variant_arg(ap, ["shim", "cpu:PERFSHIM_CPU_HZ=1000"])


def main():
    args = realtest.parse_args(extra)
    ck = pstest.Checker("real perl")
    perl = shutil.which("perl") or "/usr/bin/perl"
    if not os.path.exists(perl):
        ck.skip("perl is not installed (scripts/install-deps.sh installs it)")
    script = os.path.join(HERE, "perl_workload.pl")
    base = pstest.tmpdir("real-perl")
    env = {"PERL_HASH_SEED": "0", "PERL_PERTURB_KEYS": "0", "LC_ALL": "C"}

    def session(side):
        return (side.run([perl, script, str(args.size), "all", side.dir], env=env, cwd=base,
                         timeout=300),
                side.run([perl, script, "1000", "die", side.dir], env=env, cwd=base,
                         timeout=60))

    bare_ok, bare_die = session(realtest.Side(args, "bare", base))
    ck.equal(bare_ok.returncode, 0, "workload succeeds without the shim")
    ck.check(bare_ok.stdout.endswith(b"done\n") and b"threads: total 8000" in bare_ok.stdout
             and not bare_ok.stderr, "the workload ran to its end, threads and all, quietly",
             pstest.describe(bare_ok))
    ck.check(bare_die.returncode == 255 and b"dying on purpose" in bare_die.stderr,
             "the dying run dies without the shim", pstest.describe(bare_die))
    for name, senv in realtest.variants(args):
        side = realtest.Side(args, name, base, senv)
        ok, die = session(side)
        realtest.compare(ck, "perl workload [%s]" % name, bare_ok, ok)
        realtest.compare(ck, "perl dying run [%s]" % name, bare_die, die)
        # one trace per run; the workload's own makes far more than 100,000 allocations
        realtest.check_traces(ck, side, "perl", min_allocs=100000, locks_used=True)
    realtest.cleanup(args, base)
    ck.done()


if __name__ == "__main__":
    main()
