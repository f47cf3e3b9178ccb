#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_git_history.py — git on a generated history of five hundred commits (built by
`git fast-import` from a deterministic stream: a main line, a topic branch and a merge, files
that grow and change), without and with the shim: heavy read commands (log -p over the whole
history, pickaxe search, blame of a file touched by a hundred commits, rev-list --objects,
archive, diff from the root), then the object-database work that runs git's threaded delta
search and its child processes (gc --aggressive, repack -adf, fsck --full, verify-pack,
bundle, a --no-local clone through upload-pack). Each step's stdout, stderr and exit status
must be identical, under lock timing and under CPU sampling at 1000 Hz (--variant); every side
uses the same repository path, so messages naming it agree.
test_git.py covers the everyday porcelain on a small repository."""
import os
import shutil

import realtest
from realtest import pstest

COMMITS = 500
TOPIC_AT, TOPIC_LEN = 150, 60
FILES = 30


def stream():
    """The fast-import stream: fixed identities and dates, so every hash is the same on every
    run and machine."""
    out = []
    content = {i: ["header of file %d\n" % i] for i in range(FILES)}
    mark = 0

    def commit(ref, n, parents, merge=None):
        nonlocal mark
        mark += 1
        msg = "commit %d on %s\n\nwhat changed in commit %d\n" % (n, ref, n)
        out.append("commit refs/heads/%s\nmark :%d\n" % (ref, mark))
        out.append("author Perf Shim <shim@example.org> %d +0000\n" % (1700000000 + n * 60))
        out.append("committer Perf Shim <shim@example.org> %d +0000\n" % (1700000000 + n * 60))
        out.append("data %d\n%s" % (len(msg.encode()), msg))
        if parents:
            out.append("from :%d\n" % parents)
        if merge:
            out.append("merge :%d\n" % merge)
        for k in range(5):
            f = (n * 7 + k * 11) % FILES
            lines = content[f]
            lines.append("line %d added by commit %d%s\n"
                         % (len(lines), n, " NEEDLE" if n == 123 and k == 0 else ""))
            if len(lines) > 8 and n % 5 == 0:
                lines[len(lines) // 2] = "rewritten by commit %d\n" % n
            data = "".join(lines)
            path = "src/dir%d/file%d.txt" % (f % 4, f)
            out.append("M 100644 inline %s\ndata %d\n%s" % (path, len(data.encode()), data))
        out.append("\n")
        return mark

    last = None
    fork = None
    for n in range(COMMITS):
        last = commit("main", n, last)
        if n == TOPIC_AT:
            fork = last
    topic = fork
    for n in range(COMMITS, COMMITS + TOPIC_LEN):
        topic = commit("topic", n, topic)
    commit("main", COMMITS + TOPIC_LEN, last, merge=topic)
    return "".join(out)


def steps(repo):
    g = ["git", "-C", repo]
    clone = repo + "-clone"
    return [
        ["git", "init", "-q", "-b", "main", repo],
        g + ["fast-import", "--quiet"],  # stdin: the stream
        g + ["reset", "-q", "--hard", "main"],
        g + ["log", "-p", "--stat", "--all"],
        g + ["log", "--format=%H %s", "--numstat", "--first-parent", "main"],
        g + ["log", "--oneline", "-SNEEDLE", "--all"],
        g + ["log", "--graph", "--oneline", "--all", "-40"],
        g + ["blame", "-w", "src/dir1/file1.txt"],
        g + ["rev-list", "--objects", "--all"],
        g + ["diff", "--stat", "--root", "main~%d" % (COMMITS - 1), "main"],
        g + ["archive", "--format=tar", "main"],
        # Two delta-search threads: which deltas they find depends on how they share the work,
        # so the packs they make differ from run to run (without the shim too); only what
        # does not depend on it is compared. The single-threaded repack after them is
        # deterministic and compared object by object.
        g + ["-c", "pack.threads=2", "gc", "--quiet", "--aggressive", "--prune=now"],
        ["sh", "-c", "git -C %s count-objects -v | grep -Ev '^size'" % repo],
        g + ["-c", "pack.threads=2", "repack", "-adfq", "--window=50", "--depth=50"],
        g + ["fsck", "--full", "--strict", "--no-progress"],
        ["sh", "-c", "cd %s && git verify-pack .git/objects/pack/*.idx" % repo],
        g + ["-c", "pack.threads=1", "repack", "-adfq", "--window=20", "--depth=20"],
        ["sh", "-c", "cd %s && git verify-pack -v .git/objects/pack/*.idx" % repo],
        g + ["bundle", "create", "-q", repo + ".bundle", "--all"],
        g + ["bundle", "verify", "-q", repo + ".bundle"],
        ["git", "clone", "-q", "--no-local", repo, clone],
        ["git", "-C", clone, "log", "--oneline", "-3", "origin/topic"],
        g + ["cat-file", "-p", "no-such-object"],
    ]


def main():
    args = realtest.parse_args(lambda ap: realtest.add_variant_arg(
        ap, ["shim", "cpu:PERFSHIM_CPU_HZ=1000"]))
    ck = pstest.Checker("real git history")
    if not shutil.which("git"):
        ck.skip("git is not installed (scripts/install-deps.sh installs it)")
    base = pstest.tmpdir("real-git-history")
    home = os.path.join(base, "home")
    os.makedirs(home)
    env = {"HOME": home, "GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "Perf Shim",
           "GIT_AUTHOR_EMAIL": "shim@example.org", "GIT_COMMITTER_NAME": "Perf Shim",
           "GIT_COMMITTER_EMAIL": "shim@example.org", "GIT_AUTHOR_DATE": "1700000000 +0000",
           "GIT_COMMITTER_DATE": "1700000000 +0000", "LC_ALL": "C", "TZ": "UTC",
           "GIT_PAGER": "cat", "PAGER": "cat", "GIT_TERMINAL_PROMPT": "0"}
    data = os.path.join(base, "stream.fi")
    with open(data, "w") as f:
        f.write(stream())
    repo = os.path.join(base, "repo")  # the same path for both sides

    def session(side):
        for p in (repo, repo + "-clone"):
            shutil.rmtree(p, ignore_errors=True)
        if os.path.exists(repo + ".bundle"):
            os.remove(repo + ".bundle")
        outs = []
        for argv in steps(repo):
            if "fast-import" in argv:
                with open(data) as f:
                    outs.append((argv, side.run(argv, cwd=base, env=env, stdin=f, timeout=300)))
            else:
                outs.append((argv, side.run(argv, cwd=base, env=env, timeout=300)))
        return outs

    bare = session(realtest.Side(args, "bare", base))
    failed = [(a, p) for a, p in bare[:-1] if p.returncode != 0]
    ck.check(not failed, "every step but the last succeeds without the shim",
             "\n".join(pstest.describe(p) for a, p in failed[:3]))
    ck.check(bare[-1][1].returncode != 0, "the last step fails without the shim")
    revs = [p for a, p in bare if "--first-parent" in a]
    ck.check(revs and revs[0].stdout.count(b" commit ") == COMMITS + 1,
             "the generated history has %d first-parent commits" % (COMMITS + 1))
    big = max(len(p.stdout) for _, p in bare)
    ck.check(big > 1000000, "the heaviest step prints over 1 MB (%d bytes)" % big)
    for name, senv in realtest.variants(args):
        side = realtest.Side(args, name, base, senv)
        shim = session(side)
        mismatched = 0
        for (argv, b), (_, s) in zip(bare, shim):
            if b.returncode != s.returncode or b.stdout != s.stdout or b.stderr != s.stderr:
                mismatched += 1
                realtest.compare(ck, "%s [%s]" % (" ".join(argv[3:6]), name), b, s)
        realtest.check_quiet(ck, "[%s] git" % name, [p.stderr for _, p in shim])
        ck.check(mismatched == 0, "[%s] all %d git steps identical with the shim"
                 % (name, len(bare)))
        realtest.check_traces(ck, side, "git", min_allocs=100000)
    realtest.cleanup(args, base)
    ck.done()


if __name__ == "__main__":
    main()
