#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""perfshim benchmark runner (Python 3 standard library only).

Owns: the list of workloads and conditions (allocators / profilers a workload runs under), the
measurement method, the JSON and markdown reports and the comparison with a baseline report.
Must not: register tests or fail the test suite; it exits 1 only for --compare regressions (and 2
for usage errors).

Method: for each workload, one warm-up run per condition, then N rounds in which every condition
runs once, in a fixed order (A B C A B C ...). Wall time is measured around the child, CPU time
(user+sys) and peak RSS come from the kernel (wait4 rusage of the child, which includes the
children it waited for). The ratio of a condition to plain glibc is computed per round (the two
runs are close in time, so machine noise hits both) and the median of those ratios is reported.

Typical use:
    python3 tests/bench/run.py --build build
    python3 tests/bench/run.py --build build --workloads churn-1t,sqlite-insert --reps 3
    python3 tests/bench/run.py --load old.json --compare base.json --threshold 10%
    python3 tests/bench/run.py --build build --analyzer --reps 3   # the analyzer on a cc1plus trace
    python3 tests/bench/run.py --build build --analyzer --analyzer-compile gmock-containers --reps 3
    python3 tests/bench/run.py --build build --timeline --reps 3   # a week of 10 s snapshots
"""

import argparse
import datetime
import hashlib
import json
import os
import platform
import random
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

SCHEMA = "perfshim-bench/1"
REPO = Path(__file__).resolve().parents[2]
LIBDIR = Path("/usr/lib/x86_64-linux-gnu")

# Targets from the issue: heaptrack 1.4's measured slowdown and the bound perfshim's full
# tracking must stay under, per workload (ratio to plain glibc).
TARGETS = {
    "churn-1t": {"heaptrack_issue": 30.0, "perfshim_full_max": 8.0},
    "sqlite-insert": {"heaptrack_issue": 2.7, "perfshim_full_max": 1.45},
    "python-churn": {"heaptrack_issue": 5.0, "perfshim_full_max": 2.1},
    "perl-hash": {"heaptrack_issue": 4.0, "perfshim_full_max": 1.8},
}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def scaled(base, scale, minimum=1):
    return max(minimum, int(round(base * scale)))


# --------------------------------------------------------------------------------------------
# Context: paths shared by workloads and conditions for one invocation
# --------------------------------------------------------------------------------------------


class Context:
    def __init__(self, build, workroot, timeout, valgrind_scale):
        self.build = build                      # build tree (bin/bench, lib/libperfshim.so)
        self.bench_bin = build / "bin" / "bench"
        self.shim = build / "lib" / "libperfshim.so"
        spawn = self.bench_bin / "bench-spawn"  # measures the child; see spawn.c for why
        self.spawner = spawn if os.access(spawn, os.X_OK) else None
        self.workroot = workroot                # temp dir, deleted at the end
        self.timeout = timeout                  # seconds per run
        self.valgrind_scale = valgrind_scale    # size factor for valgrind and its baseline

    def datadir(self, workload):
        d = self.workroot / "data" / workload.name
        d.mkdir(parents=True, exist_ok=True)
        return d


def base_env():
    """The environment every run starts from: ours, minus anything that would change the
    allocator or the profilers, in the C locale."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("LD_PRELOAD", "LD_LIBRARY_PATH", "PYTHONMALLOC", "MALLOC_CONF",
                        "PYTHONDEVMODE", "PYTHONSTARTUP")
           and not k.startswith(("PERFSHIM_", "HEAPTRACK", "MIMALLOC_", "TCMALLOC_", "GLIBC_"))}
    env["LC_ALL"] = "C"
    return env


# --------------------------------------------------------------------------------------------
# Workloads
# --------------------------------------------------------------------------------------------


class Workload:
    """A program to time. Subclasses give the command; setup() runs once, untimed."""

    name = ""
    group = ""         # "synthetic" or "real"
    description = ""

    def missing(self, ctx):
        """None when the workload can run, else why not."""
        return None

    def setup(self, ctx):
        pass

    def prepare(self, ctx, scale):
        """Called (untimed) before every run, e.g. to delete a database file."""

    def command(self, ctx, scale):
        raise NotImplementedError

    def env(self, ctx):
        return {}

    def stdin(self, ctx, scale):
        return None

    def cwd(self, ctx):
        return ctx.datadir(self)


class BenchProgram(Workload):
    """One of the C programs in tests/bench, built into <build>/bin/bench."""

    group = "synthetic"

    def __init__(self, name, exe, base, extra, description):
        self.name = name
        self.exe = exe
        self.base = base            # iteration count at --scale 1
        self.extra = extra          # further fixed arguments
        self.description = description

    def missing(self, ctx):
        p = ctx.bench_bin / self.exe
        if not os.access(p, os.X_OK):
            return f"{p} not built (build the tree with CMake first)"
        return None

    def command(self, ctx, scale):
        return [str(ctx.bench_bin / self.exe), str(scaled(self.base, scale))] + self.extra


class SqliteInsert(Workload):
    name = "sqlite-insert"
    group = "real"
    description = ("sqlite3 CLI runs a generated SQL script inserting 200k rows (indexed table, "
                   "one transaction) into a new file database, then one aggregate query")
    exe = "/usr/bin/sqlite3"
    rows = 200000

    def missing(self, ctx):
        return None if os.access(self.exe, os.X_OK) else f"{self.exe} not found"

    def script(self, ctx, scale):
        return ctx.datadir(self) / f"insert-{scaled(self.rows, scale)}.sql"

    def setup(self, ctx):
        pass  # scripts are generated on first use per scale, see prepare()

    def prepare(self, ctx, scale):
        d = ctx.datadir(self)
        for f in d.glob("bench.db*"):
            f.unlink()
        path = self.script(ctx, scale)
        if path.exists():
            return
        rows = scaled(self.rows, scale)
        rng = random.Random(7)
        with open(path, "w") as f:
            f.write("CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT NOT NULL, "
                    "category INTEGER, price REAL, note TEXT);\n"
                    "CREATE INDEX items_name ON items(name);\nBEGIN;\n")
            for i in range(rows):
                f.write("INSERT INTO items(name, category, price, note) "
                        "VALUES('item-%d-%x', %d, %.2f, '%s');\n"
                        % (i, rng.getrandbits(32), rng.randrange(100), rng.random() * 1000,
                           "n" * rng.randrange(40)))
            f.write("COMMIT;\nSELECT count(*), sum(category), round(sum(price), 2) "
                    "FROM items;\n")

    def command(self, ctx, scale):
        return [self.exe, str(ctx.datadir(self) / "bench.db")]

    def stdin(self, ctx, scale):
        return self.script(ctx, scale)


PYTHON_SCRIPT = r'''
import sys

def run(n):
    rng = 12345
    keep = []
    index = {}
    total = 0
    for i in range(n):
        rng = (rng * 1103515245 + 12345) & 0x7FFFFFFF
        name = "item-%d-%x" % (i, rng)
        rec = {"id": i, "name": name, "tags": [name[j:j + 3] for j in range(0, len(name), 3)],
               "score": rng % 1000 / 7.0}
        rec["key"] = "|".join(rec["tags"]).upper()
        keep.append(rec)
        index[name] = rec
        if len(keep) >= 20000:
            # drop a random half of the working set: objects die at mixed ages
            cut = rng % 10000
            for old in keep[cut:cut + 10000]:
                del index[old["name"]]
            del keep[cut:cut + 10000]
        if i % 1000 == 0:
            words = sorted(set(rec["key"].split("|")) | {str(x) for x in range(50)})
            total += len(" ".join(words))
        total += len(rec["key"])
    total += sum(len(r["tags"]) for r in keep) + len(index)
    return total

n = int(sys.argv[1])
print("python-churn n=%d checksum=%d" % (n, run(n)))
'''

# Dicts, lists and strings that outgrow 1 KiB (the pool's default limit before issue 10):
# records of 8..127 fields (key tables of 0.3-5 KiB), lists grown by append (realloc up to
# ~3 KiB), joined strings up to ~2 KiB, a merged dict that grows to tens of KiB.
PYTHON_DICTS_SCRIPT = r'''
import sys

def run(n):
    rng = 98765
    keep = []
    total = 0
    for i in range(n):
        rng = (rng * 1103515245 + 12345) & 0x7FFFFFFF
        width = 8 + rng % 120
        rec = {}
        for j in range(width):
            rec["field%d" % j] = j * i
        row = []
        for j in range(rng % 400):
            row.append(j)
        rec["row"] = row
        text = ",".join("%x" % (v + i) for v in range(rng % 300))
        rec["text"] = text
        keep.append(rec)
        if len(keep) >= 3000:
            # drop a random half of the working set: objects die at mixed ages
            cut = rng % 1500
            del keep[cut:cut + 1500]
        if i % 500 == 0:
            merged = {}
            for r in keep[-50:]:
                merged.update(r)
            total += len(merged)
        total += len(text) + len(row) + width
    return total

n = int(sys.argv[1])
print("python-dicts n=%d checksum=%d" % (n, run(n)))
'''

PERL_SCRIPT = r'''
use strict;
use warnings;

my $n = shift;
my %index;
my %groups;
my $total = 0;
my $rng = 4242;
for my $i (1 .. $n) {
    $rng = ($rng * 1103515245 + 12345) % 2147483648;
    my $key = sprintf("key-%d-%x", $i, $rng);
    my $group = $rng % 997;
    $index{$key} = { id => $i, group => $group, name => "name$i", list => [ $i, $rng, $group ] };
    push @{ $groups{$group} }, $key;
    if ($i % 50000 == 0) {
        # drop every other group: hash entries die at different ages
        for my $g (grep { $_ % 2 == ($i / 50000) % 2 } keys %groups) {
            delete $index{$_} for @{ $groups{$g} };
            delete $groups{$g};
        }
    }
    $total += length($key);
}
my %count;
$count{ $_->{group} % 10 }++ for values %index;
$total += $count{$_} * $_ for keys %count;
$total += scalar(keys %index);
print "perl-hash n=$n checksum=$total\n";
'''


class ScriptWorkload(Workload):
    group = "real"

    def __init__(self, name, exe, filename, text, base, env, description):
        self.name = name
        self.exe = exe
        self.filename = filename
        self.text = text
        self.base = base
        self.extra_env = env
        self.description = description

    def missing(self, ctx):
        return None if os.access(self.exe, os.X_OK) else f"{self.exe} not found"

    def setup(self, ctx):
        (ctx.datadir(self) / self.filename).write_text(self.text)

    def command(self, ctx, scale):
        return [self.exe, str(ctx.datadir(self) / self.filename), str(scaled(self.base, scale))]

    def env(self, ctx):
        return dict(self.extra_env)


class GitLog(Workload):
    name = "git-log"
    group = "real"
    description = ("git log -p over a generated repository (2000 commits, 40 files of 200 lines, "
                   "3 files changed per commit, one pack); output ~10 MB to a file")
    exe = "/usr/bin/git"
    commits = 2000

    def missing(self, ctx):
        return None if os.access(self.exe, os.X_OK) else f"{self.exe} not found"

    def env(self, ctx):
        home = ctx.datadir(self) / "home"
        return {"HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1", "GIT_PAGER": "cat",
                "PAGER": "cat", "GIT_TERMINAL_PROMPT": "0"}

    @staticmethod
    def data(chunks, text):
        """A fast-import data command: text, counted."""
        b = text.encode()
        chunks.append(b"data %d\n" % len(b) + b + b"\n")

    @classmethod
    def commit(cls, chunks, c, message):
        """The header of the c-th commit of the stream (fixed identity and dates)."""
        chunks.append(b"commit refs/heads/main\n")
        chunks.append(b"committer Bench <bench@example.com> %d +0000\n" % (1700000000 + 60 * c))
        cls.data(chunks, message)

    def make_repo(self, ctx, chunks):
        """A new repository in the workload's data directory from a fast-import stream."""
        d = ctx.datadir(self)
        (d / "home").mkdir(exist_ok=True)
        env = base_env()
        env.update(self.env(ctx))
        repo = d / "repo"
        subprocess.run([self.exe, "init", "-q", "-b", "main", str(repo)], check=True, env=env)
        subprocess.run([self.exe, "-C", str(repo), "fast-import", "--quiet"],
                       input=b"".join(chunks), check=True, env=env)
        subprocess.run([self.exe, "-C", str(repo), "checkout", "-q", "-f", "main"], check=True,
                       env=env)

    def setup(self, ctx):
        rng = random.Random(11)
        nfiles, nlines = 40, 200
        files = [["line %d of file %d: %s" % (l, i, "x" * rng.randrange(10, 60))
                  for l in range(nlines)] for i in range(nfiles)]
        chunks = []
        for c in range(self.commits):
            self.commit(chunks, c, "commit %d: change some lines" % c)
            touched = range(nfiles) if c == 0 else rng.sample(range(nfiles), 3)
            for f in touched:
                if c > 0:
                    for _ in range(rng.randrange(1, 6)):
                        files[f][rng.randrange(nlines)] = "edit %d in commit %d: %s" % (
                            rng.randrange(1000), c, "y" * rng.randrange(5, 50))
                chunks.append(b"M 100644 inline src/file%02d.txt\n" % f)
                self.data(chunks, "\n".join(files[f]) + "\n")
        self.make_repo(ctx, chunks)

    def command(self, ctx, scale):
        return [self.exe, "-C", str(ctx.datadir(self) / "repo"), "log", "-p",
                "-n", str(scaled(self.commits, scale))]


class GitLogCopies(GitLog):
    """git log -p --stat -C --find-copies-harder: every commit that adds a file compares it
    with every file of its parent (copy detection), which hashes each blob in spans of
    2-64 KiB tables and diffs with xdiff: many medium-sized blocks, allocated and freed per
    commit. That is the pattern that makes glibc trim and regrow its heap top when small
    blocks no longer sit between the large ones (issue 10)."""

    name = "git-log-copies"
    description = ("git log -p --stat -C --find-copies-harder over a generated repository "
                   "(2000 commits, 30-45 files of 60-300 lines, 2 edited per commit, a copy "
                   "with edits every other commit, a rename every fourth); output to a file")
    nfiles, max_files, lines = 30, 45, (60, 300)

    def setup(self, ctx):
        rng = random.Random(13)
        words = ["alpha", "beta", "gamma", "delta", "value", "index", "count", "buffer",
                 "node", "list", "map", "item", "result", "state", "error"]

        def line():
            return " ".join(rng.choice(words) + str(rng.randrange(100))
                            for _ in range(rng.randrange(3, 10)))

        files = {}
        serial = [0]

        def new_name():
            serial[0] += 1
            return "dir%d/f%04d.c" % (rng.randrange(12), serial[0])

        def edit(text, k):
            for _ in range(k):
                r, i = rng.random(), rng.randrange(len(text))
                if r < 0.6:
                    text[i] = line()
                elif r < 0.8:
                    text.insert(i, line())
                elif len(text) > 30:
                    del text[i]

        for _ in range(self.nfiles):
            files[new_name()] = [line() for _ in range(rng.randrange(*self.lines))]
        chunks = []
        for c in range(self.commits):
            self.commit(chunks, c, "commit %d" % c)
            touched, deleted = ([], []) if c else (list(files), [])
            if c:
                names = sorted(files)
                for f in rng.sample(names, 2):
                    edit(files[f], rng.randrange(1, 6))
                    touched.append(f)
                if rng.random() < 0.5:  # a copy of an existing file, a little edited
                    dst = new_name()
                    files[dst] = list(files[rng.choice(names)])
                    edit(files[dst], rng.randrange(0, 8))
                    touched.append(dst)
                src = rng.choice(names)
                if rng.random() < 0.25 and src not in touched:  # a rename
                    dst = new_name()
                    files[dst] = files.pop(src)
                    edit(files[dst], rng.randrange(0, 4))
                    touched.append(dst)
                    deleted.append(src)
                if len(files) > self.max_files:
                    victim = rng.choice([f for f in sorted(files) if f not in touched])
                    del files[victim]
                    deleted.append(victim)
            for f in deleted:
                chunks.append(b"D %s\n" % f.encode())
            for f in touched:
                chunks.append(b"M 100644 inline %s\n" % f.encode())
                self.data(chunks, "\n".join(files[f]) + "\n")
        self.make_repo(ctx, chunks)

    def command(self, ctx, scale):
        return [self.exe, "-C", str(ctx.datadir(self) / "repo"), "log", "-p", "--stat", "-C",
                "--find-copies-harder", "-n", str(scaled(self.commits, scale))]


WORKLOADS = [
    BenchProgram("churn-1t", "bench-churn", 8000000, ["1"],
                 "small-object churn, 1 thread: sizes 8..512, a ring of 4096 live blocks "
                 "replaced at random, temporaries, a few long-lived blocks, 1/32 realloc, "
                 "1/16 calloc; 8M operations"),
    BenchProgram("churn-2t", "bench-churn", 5000000, ["2"],
                 "the same churn in 2 independent threads (5M operations each)"),
    BenchProgram("prodcons", "bench-prodcons", 1500000, [],
                 "producer/consumer: one thread allocates (8..512 bytes), the other frees, "
                 "through a bounded lock-free ring of 1024; 1.5M blocks"),
    BenchProgram("larson", "bench-larson", 4000000, ["2", "40"],
                 "larson-like: 2 arrays of 2000 live blocks, 40 rounds of 2 short-lived threads, "
                 "each round's threads take the arrays of the previous round's (mostly remote "
                 "frees of blocks whose allocating thread has exited); 4M replacements/thread"),
    BenchProgram("xmalloc", "bench-xmalloc", 4000000, ["1", "1"],
                 "xmalloc-like: one thread allocates batches of 256 blocks (8..512 bytes, 12 "
                 "classes) handed over through a mutex/condvar list, another frees them; 4M "
                 "blocks"),
    BenchProgram("cache-scratch", "bench-cache-scratch", 300000, ["2", "8", "200"],
                 "cache-scratch: 2 threads each free a neighbouring 8-byte object from the "
                 "main thread, then allocate/write 200x/free 8-byte objects (false sharing if "
                 "the allocator hands out neighbouring memory); 300k per thread"),
    BenchProgram("lockheavy", "bench-lockheavy", 3000000, ["2", "20"],
                 "lock-heavy: 2 threads take one pthread mutex around a counter and a small "
                 "table update, with a little private work between; 3M lock pairs/thread, "
                 "no allocation in the loop"),
    SqliteInsert(),
    ScriptWorkload("python-churn", "/usr/bin/python3", "churn.py", PYTHON_SCRIPT, 300000,
                   {"PYTHONMALLOC": "malloc", "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE":
                    "1"},
                   "/usr/bin/python3 with PYTHONMALLOC=malloc (every object through malloc): "
                   "dict/list/string churn with a 10-20k record working set; 300k records"),
    ScriptWorkload("perl-hash", "/usr/bin/perl", "hash.pl", PERL_SCRIPT, 200000,
                   {"PERL_HASH_SEED": "0", "PERL_PERTURB_KEYS": "0"},
                   "/usr/bin/perl (system malloc) building a hash of 200k hash records with "
                   "array members, grouped, half the groups deleted every 50k"),
    ScriptWorkload("python-dicts", "/usr/bin/python3", "dicts.py", PYTHON_DICTS_SCRIPT, 20000,
                   {"PYTHONMALLOC": "malloc", "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE":
                    "1"},
                   "/usr/bin/python3 with PYTHONMALLOC=malloc: records of 8-127 fields (dict "
                   "key tables of 0.3-5 KiB), lists grown by append to ~3 KiB, joined strings "
                   "to ~2 KiB, a merged dict of tens of KiB; 3000 records live; 20k records"),
    GitLog(),
    GitLogCopies(),
]


# --------------------------------------------------------------------------------------------
# Short processes (issue 10): what a process that allocates little pays for being tracked
# --------------------------------------------------------------------------------------------

SMALL_C = r"""#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct item { char name[32]; int count; struct item *next; };

static struct item *find(struct item *head, const char *name)
{
    for (; head; head = head->next)
        if (strcmp(head->name, name) == 0)
            return head;
    return NULL;
}

int count_words(FILE *in)
{
    char word[32];
    struct item *head = NULL;
    int distinct = 0;
    while (fscanf(in, "%31s", word) == 1) {
        struct item *it = find(head, word);
        if (!it) {
            it = calloc(1, sizeof *it);
            if (!it)
                return -1;
            snprintf(it->name, sizeof it->name, "%s", word);
            it->next = head;
            head = it;
            distinct++;
        }
        it->count++;
    }
    while (head) {
        struct item *next = head->next;
        free(head);
        head = next;
    }
    return distinct;
}
"""

# A configure script's shape: environment probes through pipes of small tools, compiler
# probes (compile-only for headers, compile and link for functions), then config.status-like
# substitutions. About 100 processes per round; the output is deterministic.
CONFIGURE_SCRIPT = r"""#!/bin/sh
set -u
rounds=$1
cc=cc
log=config.log
: > $log
r=0
while [ $r -lt $rounds ]; do
  r=$((r + 1))
  host=$(uname -m | sed 's/x86_64/x86-64/')
  for tool in sed grep awk tr cat expr sort; do
    p=$(command -v $tool | sed 's,.*/,,')
    echo "checking for $tool... $p" >> $log
  done
  for v in 1 2 3 4 5 6 7 8; do
    x=$(echo "option-$v=value$v" | sed -e 's/^option-//' -e 's/=.*//')
    y=$(expr "$x" + 1)
    z=$(printf '%s\n' "DEF_$y" | tr 'A-Z' 'a-z')
    echo "$z" | grep -q "def_" && echo "option $x -> $z" >> $log
  done
  for h in stdio.h stdlib.h string.h unistd.h stdint.h; do
    printf '#include <%s>\nint main(void){return 0;}\n' "$h" > conftest.c
    if $cc -c conftest.c -o conftest.o 2>> $log; then echo "have $h" >> $log; fi
  done
  for f in strdup strndup memmem; do
    printf 'char %s(void);\nint main(void){return (int)%s();}\n' "$f" "$f" > conftest.c
    if $cc conftest.c -o conftest 2>> $log; then echo "have $f" >> $log; fi
  done
  for f in Makefile config.h lib/Makefile; do
    mkdir -p "$(dirname "$f")"
    printf 'CC = @CC@\nHOST = @HOST@\nVERSION = @VERSION@\n' | \
      sed -e "s,@CC@,$cc," -e "s,@HOST@,$host," -e "s,@VERSION@,1.0," > "$f"
  done
done
rm -f conftest.c conftest.o conftest
grep -c '^have' $log
cat Makefile config.h lib/Makefile | sort | uniq -c
"""


class ShortWorkload(Workload):
    group = "short"
    exe = ""

    def missing(self, ctx):
        return None if os.access(self.exe, os.X_OK) else f"{self.exe} not found"


class GccCompile(ShortWorkload):
    name = "gcc-c"
    description = ("gcc -O2 -c of a 45-line C file (stdio, stdlib, string), 20 times in a row "
                   "from one sh: 3 short processes each (gcc driver, cc1, as)")
    exe = "/usr/bin/gcc"
    base = 20

    def setup(self, ctx):
        (ctx.datadir(self) / "small.c").write_text(SMALL_C)

    def command(self, ctx, scale):
        loop = ('i=0; while [ $i -lt "$1" ]; do "$2" -O2 -c small.c -o small.o || exit 1; '
                'i=$((i + 1)); done; cksum < small.o')
        return ["/bin/sh", "-c", loop, "sh", str(scaled(self.base, scale)), self.exe]


class Configure(ShortWorkload):
    name = "configure"
    description = ("a configure-like shell script: about 100 short processes (sed, grep, tr, "
                   "expr, uname pipelines; 5 header probes with cc -c, 3 link probes with cc; "
                   "config.status-like substitutions)")
    exe = "/usr/bin/cc"

    def setup(self, ctx):
        (ctx.datadir(self) / "configure").write_text(CONFIGURE_SCRIPT)

    def command(self, ctx, scale):
        return ["/bin/sh", str(ctx.datadir(self) / "configure"), str(scaled(1, scale))]


NODE_SCRIPT = (Path(__file__).resolve().parent / "node-json.js").read_text()

WORKLOADS += [
    GccCompile(),
    Configure(),
    # V8: JIT code and builtins without unwind tables, walked by frame pointer (unwind.c)
    ScriptWorkload("node-json", "/usr/bin/node", "json.js", NODE_SCRIPT, 100000, {},
                   "/usr/bin/node (V8): JSON stringify/parse, Buffer and base64 work, a "
                   "2500-5000 record working set; 100k records"),
]


# --------------------------------------------------------------------------------------------
# Conditions
# --------------------------------------------------------------------------------------------


class Condition:
    """How a workload is run: environment and/or a wrapper command."""

    name = ""
    description = ""
    scale_factor = 1.0     # workload size relative to --scale (valgrind runs smaller)
    baseline = "plain"     # the condition ratios are computed against
    filters_stdout = False  # True when the tool writes its own lines to the program's stdout

    def missing(self, ctx):
        return None

    def apply(self, ctx, argv, env, outdir):
        """Returns the argv to run; may modify env. outdir is a fresh directory for the
        tool's own output (deleted after the run, its size reported)."""
        return argv

    def versions(self):
        return {}

    def check_run(self, ctx, outdir):
        """After a run: a note if the tool did not do what it should (e.g. no trace)."""
        return None


class Plain(Condition):
    def __init__(self, name="plain", scale_factor=1.0, description="glibc malloc, nothing "
                 "preloaded"):
        self.name = name
        self.scale_factor = scale_factor
        self.baseline = name
        self.description = description


class Preload(Condition):
    def __init__(self, name, lib, description):
        self.name = name
        self.lib = Path(lib)
        self.description = description

    def missing(self, ctx):
        return None if self.lib.exists() else f"{self.lib} not installed"

    def apply(self, ctx, argv, env, outdir):
        env["LD_PRELOAD"] = str(self.lib)
        return argv

    def versions(self):
        return {self.name: package_version(self.lib)}


class Perfshim(Condition):
    """libperfshim.so preloaded in one PERFSHIM_MODE. New modes are one more entry in
    CONDITIONS; a mode the built shim does not accept is skipped with a note (probe())."""

    def __init__(self, name, mode, description, extra_env=None, baseline="plain"):
        self.name = name
        self.mode = mode
        self.description = description
        self.extra_env = extra_env or {}
        self.baseline = baseline
        self._probed = None

    def env_for(self, ctx, outdir):
        env = {"LD_PRELOAD": str(ctx.shim), "PERFSHIM_MODE": self.mode,
               "PERFSHIM_OUTPUT": str(outdir / "perfshim.%e.%p.trace")}
        env.update(self.extra_env)
        return env

    def missing(self, ctx):
        if not ctx.shim.exists():
            return f"{ctx.shim} not built"
        if self._probed is None:
            self._probed = self.probe(ctx)
        return self._probed

    def probe(self, ctx):
        """Runs /bin/true under the shim: the mode must be accepted without a warning."""
        outdir = Path(tempfile.mkdtemp(dir=ctx.workroot))
        env = base_env()
        env.update(self.env_for(ctx, outdir))
        try:
            r = subprocess.run(["/bin/true"], env=env, capture_output=True, text=True,
                               timeout=60)
        except subprocess.TimeoutExpired:
            return "probe (/bin/true under the shim) timed out"
        finally:
            shutil.rmtree(outdir, ignore_errors=True)
        if r.returncode != 0:
            return f"probe (/bin/true under the shim) exited {r.returncode}: {r.stderr.strip()}"
        if "PERFSHIM_MODE" in r.stderr:
            return (f"libperfshim.so does not accept PERFSHIM_MODE={self.mode} yet: "
                    f"{r.stderr.strip().splitlines()[0]}")
        return None

    def apply(self, ctx, argv, env, outdir):
        env.update(self.env_for(ctx, outdir))
        return argv

    def check_run(self, ctx, outdir):
        if self.mode == "full" and not list(outdir.glob("perfshim.*")):
            return "no trace written"
        return None

    def versions(self):
        return {"perfshim": perfshim_version()}


HEAPTRACK_LINES = ("heaptrack output will be written to", "starting application, this might",
                   "Heaptrack finished! Now run", "  heaptrack --analyze",
                   "heaptrack_gui detected")


class Heaptrack(Condition):
    name = "heaptrack"
    description = ("heaptrack 1.4 recording (`heaptrack -o DIR/x CMD`): its preload library, "
                   "the heaptrack_interpret process fed through a FIFO and zstd compression "
                   "run during the program; the wall time until the script exits counts. "
                   "heaptrack 1.4 does no analysis at the end of recording (only prints "
                   "'heaptrack stats'); heaptrack_gui is not installed so nothing is opened")
    exe = "/usr/bin/heaptrack"
    filters_stdout = True

    def missing(self, ctx):
        return None if os.access(self.exe, os.X_OK) else f"{self.exe} not installed"

    def apply(self, ctx, argv, env, outdir):
        return [self.exe, "-o", str(outdir / "heaptrack"), "--"] + argv

    def check_run(self, ctx, outdir):
        return None if list(outdir.glob("heaptrack*")) else "no heaptrack data written"

    def versions(self):
        return {"heaptrack": package_version(self.exe)}


class Valgrind(Condition):
    name = "valgrind"
    description = ("valgrind memcheck --leak-check=full, workload sizes reduced by "
                   "--valgrind-scale; ratio against plain-small (plain glibc at the same size)")
    exe = "/usr/bin/valgrind"
    baseline = "plain-small"

    def __init__(self):
        self.scale_factor = None  # set from --valgrind-scale

    def missing(self, ctx):
        return None if os.access(self.exe, os.X_OK) else f"{self.exe} not installed"

    def apply(self, ctx, argv, env, outdir):
        return [self.exe, "--tool=memcheck", "--leak-check=full", "-q",
                "--log-file=" + str(outdir / "valgrind.%p.log")] + argv

    def versions(self):
        return {"valgrind": package_version(self.exe)}


def all_conditions(valgrind_scale):
    vg = Valgrind()
    vg.scale_factor = valgrind_scale
    return [
        Plain(),
        Perfshim("perfshim-full", "full",
                 "libperfshim.so preloaded, PERFSHIM_MODE=full: every allocation tracked "
                 "with its call stack, trace written to a temp dir (deleted after the run)"),
        Perfshim("perfshim-full-libunwind", "full",
                 "as perfshim-full, but every stack captured with libunwind "
                 "(PERFSHIM_UNWIND=libunwind): what the fast unwinder saves",
                 {"PERFSHIM_UNWIND": "libunwind"}),
        Perfshim("perfshim-locks", "full",
                 "as perfshim-full plus lock timing (PERFSHIM_LOCKS=1, as perfshim run sets "
                 "it); ratio against perfshim-full: what lock profiling adds",
                 {"PERFSHIM_LOCKS": "1"}, baseline="perfshim-full"),
        Perfshim("perfshim-locks-only", "full",
                 "lock timing alone: PERFSHIM_TRACK=0 PERFSHIM_LOCKS=1 (no allocation "
                 "tracking); ratio against plain glibc",
                 {"PERFSHIM_TRACK": "0", "PERFSHIM_LOCKS": "1"}),
        Perfshim("perfshim-cpu", "full",
                 "as perfshim-full plus CPU sampling (PERFSHIM_CPU_HZ=1000); ratio against "
                 "perfshim-full: what sampling stacks on SIGPROF adds",
                 {"PERFSHIM_CPU_HZ": "1000"}, baseline="perfshim-full"),
        Perfshim("perfshim-latency", "full",
                 "as perfshim-full plus allocator latency sampling (PERFSHIM_LATENCY_SAMPLE=64); "
                 "ratio against perfshim-full", {"PERFSHIM_LATENCY_SAMPLE": "64"},
                 baseline="perfshim-full"),
        Perfshim("perfshim-pool", "pool",
                 "libperfshim.so preloaded, PERFSHIM_MODE=pool: the pool allocator only, no "
                 "tracking"),
        Perfshim("perfshim-pool-1k", "pool",
                 "PERFSHIM_MODE=pool PERFSHIM_POOL_MAX=1024: the pool limited to the default "
                 "before issue 10 (larger requests go to glibc)", {"PERFSHIM_POOL_MAX": "1024"}),
        Perfshim("perfshim-pool-32k", "pool",
                 "PERFSHIM_MODE=pool PERFSHIM_POOL_MAX=32768: the pool's largest limit before "
                 "issue 10", {"PERFSHIM_POOL_MAX": "32768"}),
        Perfshim("perfshim-pool-256k", "pool",
                 "PERFSHIM_MODE=pool PERFSHIM_POOL_MAX=262144: every class the pool has",
                 {"PERFSHIM_POOL_MAX": "262144"}),
        Perfshim("perfshim-sample", "full",
                 "PERFSHIM_SAMPLE=524288: allocations sampled by bytes (one sample point per "
                 "512 KiB on average, estimates unbiased), the pool on (the default)",
                 {"PERFSHIM_SAMPLE": "524288"}),
        Perfshim("perfshim-sample-nopool", "full",
                 "PERFSHIM_SAMPLE=524288 PERFSHIM_POOL=0: sampling with every request served "
                 "by glibc", {"PERFSHIM_SAMPLE": "524288", "PERFSHIM_POOL": "0"}),
        Preload("jemalloc", LIBDIR / "libjemalloc.so.2", "jemalloc via LD_PRELOAD"),
        Preload("tcmalloc", LIBDIR / "libtcmalloc_minimal.so.4",
                "tcmalloc (gperftools, minimal) via LD_PRELOAD"),
        Preload("mimalloc", LIBDIR / "libmimalloc.so.2", "mimalloc via LD_PRELOAD"),
        Heaptrack(),
        Plain("plain-small", valgrind_scale,
              "plain glibc at the reduced valgrind size (baseline of valgrind only)"),
        vg,
    ]


DEFAULT_CONDITIONS = ["plain", "perfshim-full", "perfshim-full-libunwind", "perfshim-locks",
                      "perfshim-locks-only", "perfshim-cpu", "perfshim-latency",
                      "perfshim-pool", "jemalloc", "tcmalloc", "mimalloc", "heaptrack",
                      "valgrind"]


# --------------------------------------------------------------------------------------------
# Machine and versions
# --------------------------------------------------------------------------------------------


def run_text(argv, **kw):
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=30, **kw)
        return r.stdout.strip() if r.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired):
        return None


def package_version(path):
    """"package version" of the Debian package owning path, or None."""
    real = os.path.realpath(path)
    for p in (real, str(path)):
        owner = run_text(["dpkg-query", "-S", p])
        if owner:
            pkg = owner.splitlines()[0].split(":")[0].strip()
            ver = run_text(["dpkg-query", "-W", "-f", "${Version}", pkg])
            return f"{pkg} {ver}" if ver else pkg
    return None


_perfshim_version = None


def perfshim_version():
    global _perfshim_version
    if _perfshim_version is None:
        head = run_text(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"]) or "unknown"
        dirty = run_text(["git", "-C", str(REPO), "status", "--porcelain", "--", "shim"])
        _perfshim_version = head + ("+dirty" if dirty else "")
    return _perfshim_version


def machine_info():
    info = {"cpu_model": None, "cores_online": os.cpu_count(),
            "cores_usable": len(os.sched_getaffinity(0)),
            "kernel": platform.release(), "machine": platform.machine(),
            "glibc": os.confstr("CS_GNU_LIBC_VERSION") if hasattr(os, "confstr") else None,
            "python_runner": platform.python_version(),
            "loadavg_start": list(os.getloadavg())}
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                info["mem_total_kb"] = int(line.split()[1])
    except OSError:
        pass
    try:
        info["os"] = platform.freedesktop_os_release().get("PRETTY_NAME")
    except (OSError, AttributeError):
        pass
    return info


def program_versions(conds, workloads):
    v = {}
    for c in conds:
        v.update(c.versions())
    for w in workloads:
        exe = getattr(w, "exe", None)
        if exe and exe.startswith("/usr"):
            v[Path(exe).name] = package_version(exe)
    return v


# --------------------------------------------------------------------------------------------
# Running one measurement
# --------------------------------------------------------------------------------------------


def output_digests(path):
    """sha256 of the program's stdout, raw and with heaptrack's own lines and blank lines
    removed (to compare a run under heaptrack with a plain one)."""
    raw = hashlib.sha256()
    filtered = hashlib.sha256()
    with open(path, "rb") as f:
        for line in f:
            raw.update(line)
            text = line.decode("utf-8", "replace")
            if not text.strip() or text.startswith(HEAPTRACK_LINES) or \
                    text.rstrip().endswith("libheaptrack_preload.so"):
                continue
            filtered.update(line)
    return raw.hexdigest(), filtered.hexdigest()


def dir_size(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except OSError:
                pass
    return total


def measure(ctx, workload, cond, scale):
    """One timed run. Returns a dict (wall, cpu, maxrss, status, ...)."""
    rundir = Path(tempfile.mkdtemp(prefix="run-", dir=ctx.workroot))
    outdir = rundir / "out"
    outdir.mkdir()
    workload.prepare(ctx, scale)
    env = base_env()
    env.update(workload.env(ctx))
    argv = cond.apply(ctx, workload.command(ctx, scale), env, outdir)
    stdin_path = workload.stdin(ctx, scale)
    stdout_path = rundir / "stdout"
    stderr_path = rundir / "stderr"
    result_path = rundir / "spawn-result"
    spawn_argv = [str(ctx.spawner), str(result_path)] + argv if ctx.spawner else argv
    res = {}
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err, \
            open(stdin_path or os.devnull, "rb") as inp:
        timed_out = threading.Event()
        t0 = time.perf_counter()
        proc = subprocess.Popen(spawn_argv, stdin=inp, stdout=out, stderr=err, env=env,
                                cwd=workload.cwd(ctx), start_new_session=True)

        def kill():
            timed_out.set()
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        timer = threading.Timer(ctx.timeout, kill)
        timer.start()
        _, status, ru = os.wait4(proc.pid, 0)
        t1 = time.perf_counter()
        timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
    res["wall_s"] = t1 - t0
    res["user_s"] = ru.ru_utime
    res["sys_s"] = ru.ru_stime
    res["maxrss_kb"] = ru.ru_maxrss
    res["exit"] = proc.returncode
    if ctx.spawner and result_path.exists() and not timed_out.is_set():
        fields = result_path.read_text().split()
        if len(fields) == 5:
            res["wall_s"] = int(fields[0]) / 1e9
            res["user_s"] = int(fields[1]) / 1e6
            res["sys_s"] = int(fields[2]) / 1e6
            res["maxrss_kb"] = int(fields[3])
            res["exit"] = os.waitstatus_to_exitcode(int(fields[4]))
    res["cpu_s"] = res["user_s"] + res["sys_s"]
    res["tool_output_bytes"] = dir_size(outdir)
    res["stdout_sha256"], res["stdout_filtered_sha256"] = output_digests(stdout_path)
    note = None
    if timed_out.is_set():
        note = f"timed out after {ctx.timeout} s (killed)"
    elif res["exit"] != 0:
        how = (f"killed by signal {-res['exit']}" if res["exit"] < 0
               else f"exit status {res['exit']}")
        tail = stderr_path.read_bytes()[-1500:].decode("utf-8", "replace").strip()
        note = f"{how}; stderr tail: {tail}"
    else:
        note = cond.check_run(ctx, outdir)
        if note:
            res["warning"] = note
            note = None
    res["failed"] = note
    # A command line to reproduce the run by hand: changed environment, then the argv.
    changed = [f"{k}={shlex.quote(v)}" for k, v in sorted(env.items()) if os.environ.get(k) != v]
    res["command"] = " ".join(changed + [shlex.quote(a) for a in argv])
    if stdin_path:
        res["command"] += f" < {shlex.quote(str(stdin_path))}"
    shutil.rmtree(rundir, ignore_errors=True)
    return res


# --------------------------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------------------------


def percentile(values, q):
    """Linear interpolation between closest ranks (numpy's default); q in [0, 100]."""
    v = sorted(values)
    if not v:
        return None
    pos = (len(v) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


def summarize(values):
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "p95": percentile(values, 95), "n": len(values)}


# --------------------------------------------------------------------------------------------
# The benchmark loop
# --------------------------------------------------------------------------------------------


def run_workload(ctx, workload, conds, reps, warmup, scale):
    log(f"== {workload.name}: setup")
    workload.setup(ctx)
    state = {c.name: {"runs": [], "failed": None, "warnings": set()} for c in conds}
    reference = {}  # baseline name -> (raw, filtered) stdout digests of its first good run
    byname = {c.name: c for c in conds}

    def one(cond, timed):
        st = state[cond.name]
        if st["failed"]:
            return
        r = measure(ctx, workload, cond, scale * cond.scale_factor)
        tag = "warm-up" if not timed else f"rep {len(st['runs']) + 1}"
        if r["failed"]:
            st["failed"] = r["failed"]
            st["failed_command"] = r["command"]
            log(f"   {cond.name:14s} {tag}: FAILED: {r['failed']}")
            return
        if r.get("warning"):
            st["warnings"].add(r["warning"])
        base = byname[cond.baseline]
        if cond is base and cond.name not in reference:
            reference[cond.name] = (r["stdout_sha256"], r["stdout_filtered_sha256"])
        ref = reference.get(base.name)
        if ref is not None:
            same = (r["stdout_filtered_sha256"] == ref[1] if cond.filters_stdout
                    else r["stdout_sha256"] == ref[0])
            if not same:
                st["warnings"].add(f"stdout differs from {base.name} "
                                   f"(command: {r['command']})")
        log(f"   {cond.name:14s} {tag}: {r['wall_s']:8.3f} s wall {r['cpu_s']:8.3f} s cpu "
            f"{r['maxrss_kb'] / 1024:8.1f} MB")
        if timed:
            st["runs"].append(r)

    for _ in range(warmup):
        for c in conds:
            one(c, False)
    for rep in range(reps):
        for c in conds:
            one(c, True)

    results = {}
    for c in conds:
        st = state[c.name]
        runs = st["runs"]
        entry = {"scale": scale * c.scale_factor, "baseline": c.baseline,
                 "status": "failed" if st["failed"] else "ok",
                 "wall_s": [r["wall_s"] for r in runs],
                 "cpu_s": [r["cpu_s"] for r in runs],
                 "user_s": [r["user_s"] for r in runs],
                 "sys_s": [r["sys_s"] for r in runs],
                 "maxrss_kb": [r["maxrss_kb"] for r in runs],
                 "tool_output_bytes": [r["tool_output_bytes"] for r in runs],
                 "command": runs[0]["command"] if runs else st.get("failed_command"),
                 "notes": sorted(st["warnings"])}
        if st["failed"]:
            entry["failure"] = st["failed"]
        entry["wall"] = summarize(entry["wall_s"])
        entry["cpu"] = summarize(entry["cpu_s"])
        entry["rss_kb"] = summarize(entry["maxrss_kb"])
        base_runs = state[c.baseline]["runs"]
        n = min(len(runs), len(base_runs))
        if c.name != c.baseline and n > 0:
            entry["ratio_per_rep"] = [runs[i]["wall_s"] / base_runs[i]["wall_s"]
                                      for i in range(n)]
            entry["ratio"] = summarize(entry["ratio_per_rep"])
            entry["cpu_ratio"] = summarize([runs[i]["cpu_s"] / base_runs[i]["cpu_s"]
                                            for i in range(n) if base_runs[i]["cpu_s"] > 0])
            entry["rss_ratio"] = summarize([runs[i]["maxrss_kb"] / base_runs[i]["maxrss_kb"]
                                            for i in range(n)])
        results[c.name] = entry
    return results


def select(names, available, what):
    if not names:
        return None
    out = []
    for n in names.split(","):
        n = n.strip()
        if n and n not in available:
            raise SystemExit(f"run.py: unknown {what} '{n}' (see --list)")
        if n:
            out.append(n)
    return out


def run_all(args):
    build = Path(args.build).resolve()
    workroot = Path(tempfile.mkdtemp(prefix="perfshim-bench-"))
    ctx = Context(build, workroot, args.timeout, args.valgrind_scale)
    conds_all = all_conditions(args.valgrind_scale)
    cmap = {c.name: c for c in conds_all}
    wmap = {w.name: w for w in WORKLOADS}
    want_c = select(args.conditions, cmap, "condition") or DEFAULT_CONDITIONS
    want_w = select(args.workloads, wmap, "workload") or [w.name for w in WORKLOADS]
    if "plain" not in want_c:
        want_c.insert(0, "plain")
    # A condition measured against another baseline brings that baseline along, just before it.
    ordered = []
    for n in want_c:
        base = cmap[n].baseline
        if base not in ordered:
            ordered.append(base)
        if n not in ordered:
            ordered.append(n)

    skipped = {}
    conds = []
    for n in ordered:
        why = cmap[n].missing(ctx)
        if why:
            skipped[n] = why
            log(f"skipping condition {n}: {why}")
        else:
            conds.append(cmap[n])
    # Drop baselines nobody needs any more (valgrind skipped -> no plain-small).
    needed = {c.baseline for c in conds if c.name != c.baseline}
    conds = [c for c in conds if c.name == c.baseline and (c.name == "plain" or c.name in
                                                            needed) or c.name != c.baseline]

    report = {"schema": SCHEMA,
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "argv": sys.argv[1:],
              "settings": {"reps": args.reps, "warmup": args.warmup, "scale": args.scale,
                           "valgrind_scale": args.valgrind_scale, "timeout_s": args.timeout,
                           "build": str(build),
                           "measured_by": ("bench-spawn (fork+exec+wait4, CLOCK_MONOTONIC)"
                                           if ctx.spawner else
                                           "runner (Popen+wait4, perf_counter); peak RSS "
                                           "includes the runner's own RSS at fork")},
              "machine": machine_info(),
              "versions": program_versions(conds, [wmap[n] for n in want_w]),
              "conditions": {c.name: {"description": c.description, "baseline": c.baseline,
                                      "scale_factor": c.scale_factor} for c in conds},
              "skipped_conditions": skipped,
              "skipped_workloads": {},
              "workloads": {}, "results": {}}
    started = time.time()
    try:
        for n in want_w:
            w = wmap[n]
            why = w.missing(ctx)
            if why:
                report["skipped_workloads"][n] = why
                log(f"skipping workload {n}: {why}")
                continue
            report["workloads"][n] = {"group": w.group, "description": w.description}
            report["results"][n] = run_workload(ctx, w, conds, args.reps, args.warmup,
                                                args.scale)
    finally:
        if args.keep_temp:
            log(f"temporary files kept in {workroot}")
        else:
            shutil.rmtree(workroot, ignore_errors=True)
    report["machine"]["loadavg_end"] = list(os.getloadavg())
    report["elapsed_s"] = round(time.time() - started, 1)
    return report


# --------------------------------------------------------------------------------------------
# Reports
# --------------------------------------------------------------------------------------------


def fmt_ratio(x):
    if x is None:
        return "–"
    return f"{x:.2f}x" if x < 10 else f"{x:.1f}x"


def cell_ratio(entry, with_cpu=False):
    if entry is None:
        return "–"
    if entry["status"] != "ok":
        return "FAILED"
    r = entry.get("ratio")
    if not r:
        return "–"
    if with_cpu and entry.get("cpu_ratio"):
        return f"{fmt_ratio(r['median'])} ({fmt_ratio(entry['cpu_ratio']['median'])})"
    return fmt_ratio(r["median"])


def markdown(report):
    res = report["results"]
    conds = list(report["conditions"])
    m = report["machine"]
    out = []
    s = report["settings"]
    out.append(f"Run {report['date']} on {m.get('cpu_model')}, {m.get('cores_usable')} usable "
               f"cores, Linux {m.get('kernel')}, {m.get('glibc')}; {s['reps']} repetitions "
               f"after {s['warmup']} warm-up, scale {s['scale']}, valgrind scale "
               f"{s['valgrind_scale']}; load average {fmt_load(m.get('loadavg_start'))} at "
               f"start, {fmt_load(m.get('loadavg_end'))} at end; {report.get('elapsed_s')} s "
               "in all.")
    out.append("")
    vers = report.get("versions", {})
    if vers:
        out.append("Versions: " + "; ".join(f"{k}: {v}" for k, v in sorted(vers.items())
                                            if v) + ".")
        out.append("")

    targets = [w for w in TARGETS if w in res]
    if targets:
        out.append("Full tracking against the targets: median of the per-repetition ratios to "
                   "plain glibc, wall time (CPU time in parentheses: steadier when the machine is "
                   "loaded, but heaptrack's includes its interpreter process working in "
                   "parallel):")
        out.append("")
        out.append("| workload | heaptrack (issue) | heaptrack (measured) | perfshim-full "
                   "target | perfshim-full (measured) | met |")
        out.append("|---|---:|---:|---:|---:|---|")
        for w in targets:
            t = TARGETS[w]
            ht = res[w].get("heaptrack")
            pf = res[w].get("perfshim-full")
            pfr = pf["ratio"]["median"] if pf and pf["status"] == "ok" and pf.get("ratio") \
                else None
            met = "–" if pfr is None else ("yes" if pfr <= t["perfshim_full_max"] else "**no**")
            out.append(f"| {w} | {fmt_ratio(t['heaptrack_issue'])} | {cell_ratio(ht, True)} | "
                       f"≤ {fmt_ratio(t['perfshim_full_max'])} | {cell_ratio(pf, True)} | "
                       f"{met} |")
        out.append("")

    out.extend(allocator_table(report))

    # Baseline-only conditions (plain, plain-small) have no ratio: their times are in the detail.
    others = [c for c in conds if report["conditions"][c]["baseline"] != c]
    out.append("Median ratio of wall time to plain glibc (valgrind: to plain-small), all "
               "workloads:")
    out.append("")
    out.append("| workload | plain (s) | " + " | ".join(others) + " |")
    out.append("|---|---:|" + "---:|" * len(others))
    for w, byc in res.items():
        plain = byc.get("plain", {}).get("wall")
        ps = f"{plain['median']:.3f}" if plain else "–"
        out.append(f"| {w} | {ps} | " + " | ".join(cell_ratio(byc.get(c)) for c in others) +
                   " |")
    out.append("")

    out.append("<details><summary>Per-workload detail (wall and CPU seconds, peak RSS, "
               "ratio range)</summary>")
    out.append("")
    for w, byc in res.items():
        out.append(f"**{w}** — {report['workloads'][w]['description']}")
        out.append("")
        out.append("| condition | wall median | min | max | p95 | ratio (min–max) | CPU median "
                   "| CPU ratio | peak RSS MB | tool output MB |")
        out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for c in conds:
            e = byc.get(c)
            if e is None:
                continue
            if e["status"] != "ok" and not e.get("wall"):
                out.append(f"| {c} | FAILED | | | | | | | | |")
                continue
            wl, cpu, rss = e["wall"], e["cpu"], e["rss_kb"]
            r = e.get("ratio")
            rs = (f"{fmt_ratio(r['median'])} ({fmt_ratio(r['min'])}–{fmt_ratio(r['max'])})"
                  if r else "–")
            cr = fmt_ratio(e["cpu_ratio"]["median"]) if e.get("cpu_ratio") else "–"
            tob = statistics.median(e["tool_output_bytes"]) / 1e6 if e["tool_output_bytes"] \
                else 0
            out.append(f"| {c} | {wl['median']:.3f} | {wl['min']:.3f} | {wl['max']:.3f} | "
                       f"{wl['p95']:.3f} | {rs} | {cpu['median']:.3f} | {cr} | "
                       f"{rss['median'] / 1024:.1f} | {tob:.1f} |")
        out.append("")
    out.append("</details>")
    out.append("")

    problems = []
    for w, byc in res.items():
        for c, e in byc.items():
            if e["status"] != "ok":
                problems.append(f"- {w} / {c}: FAILED: {e.get('failure')} (command: "
                                f"`{e.get('command')}`)")
            for n in e.get("notes", []):
                problems.append(f"- {w} / {c}: {n}")
    for c, why in report.get("skipped_conditions", {}).items():
        problems.append(f"- condition {c} skipped: {why}")
    for w, why in report.get("skipped_workloads", {}).items():
        problems.append(f"- workload {w} skipped: {why}")
    if problems:
        out.append("Notes:")
        out.append("")
        out.extend(problems)
        out.append("")
    return "\n".join(out)


# The allocators side by side (issue 10): pool mode, full tracking and the allocators people
# preload for speed, each against plain glibc.
ALLOCATOR_COLUMNS = ["perfshim-pool", "perfshim-pool-1k", "perfshim-pool-32k",
                     "perfshim-pool-256k", "mimalloc", "jemalloc", "tcmalloc", "perfshim-full"]


# What --allocators runs: the conditions of the issue 10 closing table.
ALLOCATOR_CONDITIONS = ["plain", "perfshim-pool", "mimalloc", "jemalloc", "tcmalloc",
                        "perfshim-full"]


def cell_spread(entry, key):
    """'median (min–max)' of a per-repetition ratio summary, or a dash."""
    if entry is None:
        return "–"
    if entry["status"] != "ok":
        return "FAILED"
    r = entry.get(key)
    if not r:
        return "–"
    return f"{fmt_ratio(r['median'])} ({fmt_ratio(r['min'])}–{fmt_ratio(r['max'])})"


def allocator_table(report):
    """Two tables: time and peak RSS of the allocator conditions against plain glibc, as the
    median of per-repetition ratios with their range. Empty when none of them ran."""
    res = report["results"]
    cols = [c for c in ALLOCATOR_COLUMNS if c in report["conditions"]
            and report["conditions"][c]["baseline"] == "plain"]
    if not cols:
        return []
    out = []
    for title, key in (("wall time", "ratio"), ("CPU time (user + system)", "cpu_ratio"),
                       ("peak RSS", "rss_ratio")):
        out.append(f"Allocators against plain glibc, {title}: median of the per-repetition "
                   "ratios (min–max):")
        out.append("")
        out.append("| workload | " + " | ".join(cols) + " |")
        out.append("|---|" + "---:|" * len(cols))
        for w, byc in res.items():
            out.append(f"| {w} | " + " | ".join(cell_spread(byc.get(c), key) for c in cols) +
                       " |")
        out.append("")
    return out


def fmt_load(v):
    return "/".join(f"{x:.2f}" for x in v) if v else "?"


# --------------------------------------------------------------------------------------------
# Comparison with a baseline report
# --------------------------------------------------------------------------------------------


def parse_threshold(text):
    t = text.strip()
    try:
        if t.endswith("%"):
            return float(t[:-1]) / 100.0
        v = float(t)
    except ValueError:
        raise SystemExit(f"run.py: bad --threshold '{text}' (e.g. 10% or 0.1)")
    return v / 100.0 if v >= 1 else v


def compare(new, old, threshold):
    """Ratios (condition / baseline, median) that grew by more than threshold. Conditions that
    ran before but fail now are regressions too. Returns (lines, regressions)."""
    lines = ["| workload | condition | baseline ratio | new ratio | change | verdict |",
             "|---|---|---:|---:|---:|---|"]
    regressions = 0
    for w, byc in new["results"].items():
        for c, e in byc.items():
            o = old.get("results", {}).get(w, {}).get(c)
            if o is None or c == e.get("baseline", "plain"):
                continue
            if o["status"] == "ok" and e["status"] != "ok":
                regressions += 1
                lines.append(f"| {w} | {c} | {cell_ratio(o)} | FAILED | | **REGRESSION** |")
                continue
            if not (o.get("ratio") and e.get("ratio")):
                continue
            ro, rn = o["ratio"]["median"], e["ratio"]["median"]
            change = rn / ro - 1.0
            verdict = "ok"
            if change > threshold:
                verdict = "**REGRESSION**"
                regressions += 1
            elif change < -threshold:
                verdict = "improved"
            lines.append(f"| {w} | {c} | {fmt_ratio(ro)} | {fmt_ratio(rn)} | "
                         f"{change * 100:+.1f}% | {verdict} |")
    return lines, regressions


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def list_all(args):
    ctx = Context(Path(args.build).resolve(), Path(tempfile.mkdtemp(prefix="perfshim-bench-")),
                  args.timeout, args.valgrind_scale)
    try:
        print("Workloads (default: all):")
        for w in WORKLOADS:
            why = w.missing(ctx)
            print(f"  {w.name:15s} [{w.group}] {w.description}" +
                  (f"\n  {'':15s} UNAVAILABLE: {why}" if why else ""))
        print("\nConditions (default: " + ",".join(DEFAULT_CONDITIONS) + "):")
        for c in all_conditions(args.valgrind_scale):
            why = c.missing(ctx)
            print(f"  {c.name:15s} {c.description}" +
                  (f"\n  {'':15s} UNAVAILABLE: {why}" if why else ""))
    finally:
        shutil.rmtree(ctx.workroot, ignore_errors=True)


def update_doc(path, text):
    begin, end = "<!-- bench-results:begin -->", "<!-- bench-results:end -->"
    doc = Path(path).read_text()
    if begin not in doc or end not in doc:
        raise SystemExit(f"run.py: {path} has no {begin} ... {end} markers")
    head, rest = doc.split(begin, 1)
    _, tail = rest.split(end, 1)
    Path(path).write_text(head + begin + "\n" + text + "\n" + end + tail)


# ---- analyzer workload ------------------------------------------------------------------------

# A C++ file with many template instantiations: g++ -O2 on it runs cc1plus for about 15 s under
# the shim and leaves a trace of about 50 MB, 120k sites and 30k leak groups (issue 11).
def analyzer_source(n=60):
    parts = ["#include <bits/stdc++.h>", "#include <regex>"]
    for i in range(n):
        parts.append(
            f"struct S{i} {{ std::string a; std::vector<int> v; std::map<std::string, int> m; "
            f"int x{i}; }};\n"
            f"template <typename T> T f{i}(T t) {{ std::unordered_map<T, std::vector<T>> u; "
            f"u[t].push_back(t); std::sort(u[t].begin(), u[t].end()); return u[t].front(); }}\n"
            f"int g{i}() {{ std::vector<S{i}> v(10); std::set<long> s; for (auto &e : v) "
            f"s.insert(e.x{i}); std::regex r(\"a+b{i}\"); return f{i}<int>(s.size()) + "
            f"(int)f{i}<long>(1) + std::regex_match(\"aab\", r) + std::accumulate(v.begin(), "
            f"v.end(), 0, [](int a, const S{i} &b) {{ return a + (int)b.a.size(); }}); }}")
    parts.append("int main() { int s = 0; " + "".join(f"s += g{i}(); " for i in range(n)) +
                 "return s; }")
    return "\n".join(parts) + "\n"


ANALYZER_REPORTS = [["leaks"], ["leaks", "--top", "1"], ["leaks", "--json"], ["summary"],
                    ["summary", "--json"], ["timeline"]]
# --analyzer-compile gmock-containers: every report the issue's target names (issue 11)
ANALYZER_REPORTS_ALL = ANALYZER_REPORTS + [
    ["growth"], ["advise"], ["export", "--format", "pprof", "-o", os.devnull], ["locks"], ["hot"]]

# T2 (docs/performance.md, "Session 13"): a bigger compile than big.cpp, googletest's
# gmock-matchers-containers_test.cc (Debian's googletest package puts the sources in
# /usr/src/googletest): under the shim cc1plus runs about 2 minutes of CPU and leaves a trace of
# about 38 MB (today's format), 175k sites. The recipe, not the trace.
GTEST_SRC = Path("/usr/src/googletest")


def gmock_containers_command(out):
    inc = [GTEST_SRC / "googlemock" / "include", GTEST_SRC / "googletest" / "include",
           GTEST_SRC / "googlemock", GTEST_SRC / "googletest"]
    return (["g++", "-O2", "-c"] + [f"-I{d}" for d in inc] +
            [str(GTEST_SRC / "googlemock" / "test" / "gmock-matchers-containers_test.cc"),
             "-o", str(out)])


def run_analyzer(args):
    """--analyzer: the analyzer's own cost. Makes the trace of one g++ -O2 compile (cc1plus)
    under the shim (or uses --trace), then times each report --reps times (output to /dev/null):
    median wall time, median CPU time (user + sys: steadier than wall on a shared machine) and
    the largest peak RSS (wait4 rusage). Prints a markdown table."""
    build = Path(args.build)
    cli, lib = build / "bin" / "perfshim", build / "lib" / "libperfshim.so"
    tmp = Path(tempfile.mkdtemp(prefix="perfshim-anabench-"))
    try:
        trace = Path(args.trace) if args.trace else None
        if not trace:
            env = dict(os.environ, LD_PRELOAD=str(lib), PERFSHIM_OUTPUT=str(tmp / "%e.%p.trace"))
            if args.analyzer_compile == "gmock-containers":
                cmd = gmock_containers_command(tmp / "x.o")
                if not Path(cmd[-3]).exists():
                    log(f"{cmd[-3]} not found (Debian's googletest package): cannot make T2")
                    return 77
                log("compiling gmock-matchers-containers_test.cc with g++ -O2 under the shim "
                    "(about 2 min of CPU)")
            else:
                (tmp / "big.cpp").write_text(analyzer_source())
                cmd = ["g++", "-O2", "-c", "big.cpp", "-o", "big.o"]
                log("compiling big.cpp with g++ -O2 under the shim (about 15 s)")
            subprocess.run(cmd, cwd=tmp, env=env, check=True)
            trace = max(tmp.glob("cc1plus.*.trace"), key=lambda p: p.stat().st_size)
        log(f"trace {trace} ({trace.stat().st_size / 1e6:.1f} MB)")
        rows = []
        for rep in ANALYZER_REPORTS_ALL if args.analyzer_compile == "gmock-containers" \
                else ANALYZER_REPORTS:
            times, cpu, rss = [], [], 0
            for _ in range(args.reps):
                with open(os.devnull, "wb") as null:
                    t0 = time.monotonic()
                    p = subprocess.Popen([str(cli), *rep, str(trace)], stdout=null)
                    _, status, ru = os.wait4(p.pid, 0)
                    times.append(time.monotonic() - t0)
                cpu.append(ru.ru_utime + ru.ru_stime)
                rss = max(rss, ru.ru_maxrss)
            rows.append((" ".join(rep), statistics.median(times), statistics.median(cpu),
                         rss / 1024))
        print("| report | median wall (s) | median CPU (s) | peak RSS (MB) |\n|---|---:|---:|---:|")
        for name, t, c, r in rows:
            print(f"| `{name}` | {t:.2f} | {c:.2f} | {r:.0f} |")
    finally:
        if not args.keep_temp:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


# ---- timeline workload ------------------------------------------------------------------------

# A week of 10 s snapshots of a service with 100,000 stacks (issue 11's target: analyzed by
# `timeline` in at most 5 s and 200 MB): bigtrace (tests/integration/bigtrace.c) writes a full
# snapshot every 16384 (the shim's PS_KEYFRAME_EVERY, its longest keyframe period, which such a
# service reaches: its deltas of ~150 changed rows, about 1.5 KB, would pass 4 times a 6.4 MB
# keyframe only after ~17,000 snapshots) and packed deltas (SNAPSHOT_PACKED) in between.
TIMELINE_TRACE = ["--snapshots", "60480", "--stacks", "100000", "--keyframe", "16384",
                  "--packed", "1", "--changed", "150"]
TIMELINE_REPORTS = [["timeline", "--json"], ["timeline"], ["summary", "--at", "max", "--top", "1"],
                    ["leaks", "--at", "302400s", "--top", "1"]]


def run_timeline(args):
    """--timeline: the analyzer over a week of snapshots. Makes the trace with bigtrace (or
    uses --trace), then runs each report --reps times under maxrss (peak RSS of the analyzer
    alone): median wall time, median CPU time (user + sys) and the largest peak RSS."""
    build = Path(args.build)
    cli, gen, wrap = (build / "bin" / n for n in ("perfshim", "bigtrace", "maxrss"))
    tmp = Path(tempfile.mkdtemp(prefix="perfshim-tlbench-"))
    try:
        trace = Path(args.trace) if args.trace else tmp / "week.trace"
        if not args.trace:
            log("writing a week of 10 s snapshots of 100,000 stacks (bigtrace)")
            subprocess.run([str(gen), str(trace), *TIMELINE_TRACE], check=True,
                           stdout=subprocess.DEVNULL)
        log(f"trace {trace} ({trace.stat().st_size / 1e6:.1f} MB)")
        rows = []
        for rep in TIMELINE_REPORTS:
            walls, cpus, rss = [], [], 0
            for _ in range(args.reps):
                with open(os.devnull, "wb") as null:
                    t0 = time.monotonic()
                    p = subprocess.Popen([str(wrap), str(cli), *rep, str(trace)], stdout=null,
                                         stderr=subprocess.PIPE)
                    err = p.stderr.read().decode(errors="replace").split()
                    _, status, ru = os.wait4(p.pid, 0)
                    walls.append(time.monotonic() - t0)
                cpus.append(ru.ru_utime + ru.ru_stime)
                if len(err) >= 2 and err[-2] == "maxrss":
                    rss = max(rss, int(err[-1]))
            rows.append((" ".join(rep), statistics.median(walls), statistics.median(cpus),
                         rss / 1024))
        print("| report | median wall (s) | median CPU (s) | peak RSS (MB) |\n|---|---:|---:|---:|")
        for name, w, c, r in rows:
            print(f"| `{name}` | {w:.2f} | {c:.2f} | {r:.0f} |")
    finally:
        if not args.keep_temp:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


def main():
    ap = argparse.ArgumentParser(
        description="Run perfshim's benchmarks: workloads x conditions, interleaved.",
        epilog="Example: python3 tests/bench/run.py --build build --json out.json "
               "--markdown out.md")
    ap.add_argument("--build", default=str(REPO / "build"),
                    help="CMake build directory (bin/bench/*, lib/libperfshim.so); "
                         "default: %(default)s")
    ap.add_argument("--workloads", help="comma-separated workload names (default: all)")
    ap.add_argument("--conditions", help="comma-separated condition names (default: "
                    + ",".join(DEFAULT_CONDITIONS) + "); plain is always added")
    ap.add_argument("--allocators", action="store_true",
                    help="the allocator comparison only: --conditions " +
                    ",".join(ALLOCATOR_CONDITIONS))
    ap.add_argument("--reps", type=int, default=5, help="timed repetitions (default 5)")
    ap.add_argument("--warmup", type=int, default=1, help="warm-up runs per condition "
                    "(default 1)")
    ap.add_argument("--scale", type=float, default=1.0,
                    help="multiply every workload's size (default 1.0; 0.1 for a quick check)")
    ap.add_argument("--valgrind-scale", type=float, default=0.05,
                    help="further size factor for valgrind and its plain-small baseline "
                         "(default 0.05)")
    ap.add_argument("--timeout", type=float, default=600, help="seconds per run before it is "
                    "killed and the condition marked failed (default 600)")
    ap.add_argument("--quick", action="store_true",
                    help="a quick check, not a measurement: --scale 0.1 --reps 2")
    ap.add_argument("--json", help="write the machine-readable report here")
    ap.add_argument("--markdown", help="write the markdown tables here")
    ap.add_argument("--update-doc", metavar="MD", help="replace the text between "
                    "<!-- bench-results:begin/end --> markers in this file with the tables")
    ap.add_argument("--load", metavar="JSON", help="do not run: read this report (to render "
                    "or compare it)")
    ap.add_argument("--compare", metavar="BASELINE_JSON", help="compare ratios with this "
                    "report; exit 1 on a regression")
    ap.add_argument("--threshold", default="10%", help="allowed growth of a ratio for "
                    "--compare (default 10%%)")
    ap.add_argument("--keep-temp", action="store_true", help="keep the temporary directory")
    ap.add_argument("--list", action="store_true", help="list workloads and conditions")
    ap.add_argument("--analyzer", action="store_true", help="time the analyzer's reports on "
                    "the trace of a g++ -O2 compile instead (run_analyzer)")
    ap.add_argument("--analyzer-compile", choices=["generated", "gmock-containers"],
                    default="generated", help="with --analyzer: the compile traced, the generated "
                    "big.cpp (default) or googletest's gmock-matchers-containers_test.cc (T2, "
                    "every report)")
    ap.add_argument("--timeline", action="store_true", help="time the analyzer over a week of "
                    "10 s snapshots of a simulated service instead (run_timeline)")
    ap.add_argument("--trace", help="with --analyzer or --timeline: use this trace instead of "
                    "making one")
    args = ap.parse_args()

    if args.analyzer:
        return run_analyzer(args)
    if args.timeline:
        return run_timeline(args)

    if args.list:
        list_all(args)
        return 0
    if args.quick:
        args.scale, args.reps = 0.1, 2
    if args.allocators:
        if args.conditions:
            ap.error("--allocators and --conditions exclude each other")
        args.conditions = ",".join(ALLOCATOR_CONDITIONS)
    if args.reps < 1 or args.warmup < 0 or args.scale <= 0 or args.valgrind_scale <= 0:
        ap.error("--reps >= 1, --warmup >= 0, --scale and --valgrind-scale > 0")
    threshold = parse_threshold(args.threshold)

    if args.load:
        report = json.loads(Path(args.load).read_text())
    else:
        report = run_all(args)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
        log(f"wrote {args.json}")
    md = markdown(report)
    if args.markdown:
        Path(args.markdown).write_text(md + "\n")
        log(f"wrote {args.markdown}")
    if args.update_doc:
        update_doc(args.update_doc, md)
        log(f"updated {args.update_doc}")
    if not (args.json or args.markdown or args.update_doc) or args.compare:
        print(md)
    if args.compare:
        old = json.loads(Path(args.compare).read_text())
        lines, regressions = compare(report, old, threshold)
        print(f"\nComparison with {args.compare} (threshold {threshold * 100:.0f}%):\n")
        print("\n".join(lines))
        print(f"\n{regressions} regression(s)")
        return 1 if regressions else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
