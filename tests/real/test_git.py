#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_git.py — git on a fresh temporary repository, without and with the shim: init, 40
commits with fixed dates and identities (so hashes are deterministic), branches and a merge,
log, diff, blame, grep, gc (which runs pack-objects and other children, all under the shim),
fsck, and a failing command. Each step's stdout, stderr and exit status must be identical.
Both sides use the same repository path, so messages naming it agree."""
import os
import shutil

import realtest
from realtest import pstest

COMMITS = 40


def steps(repo):
    """(argv, optional file writes before it) for the whole session."""
    s = [(["git", "init", "-q", "-b", "main", repo], None)]
    g = ["git", "-C", repo]
    for i in range(COMMITS):
        files = {"file%d.txt" % (i % 7): "".join("line %d of commit %d\n" % (j, i)
                                                   for j in range(50 + i)),
                 "src/module%d.c" % (i % 3): "int f%d(void) { return %d; }\n" % (i, i * i)}
        s.append((g + ["add", "-A"], files))
        s.append((g + ["commit", "-q", "-m", "commit %d\n\nbody of commit %d" % (i, i)], None))
        if i == 20:
            s.append((g + ["checkout", "-q", "-b", "topic"], None))
        if i == 30:
            s.append((g + ["checkout", "-q", "main"], None))
    s += [(g + ["merge", "--no-edit", "-q", "-X", "theirs", "topic"], None),
          (g + ["log", "--oneline", "--graph", "--all"], None),
          (g + ["log", "-p", "--stat", "-5"], None),
          (g + ["diff", "HEAD~10", "HEAD", "--stat"], None),
          (g + ["diff", "HEAD~3"], None),
          (g + ["blame", "file3.txt"], None),
          (g + ["grep", "-n", "commit 3"], None),
          (g + ["tag", "-a", "v1", "-m", "release 1"], None),
          (g + ["describe", "--tags"], None),
          (g + ["gc", "--quiet", "--aggressive"], None),
          (g + ["count-objects", "-v"], None),
          (g + ["fsck", "--strict"], None),
          (g + ["rev-list", "--count", "--all"], None),
          (g + ["show", "no-such-revision"], None)]
    return s


def main():
    args = realtest.parse_args()
    ck = pstest.Checker("real git")
    git = shutil.which("git")
    if not git:
        ck.skip("git is not installed (scripts/install-deps.sh installs it)")
    base = pstest.tmpdir("real-git")
    home = os.path.join(base, "home")
    os.makedirs(home)
    env = {"HOME": home, "GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "Perf Shim",
           "GIT_AUTHOR_EMAIL": "shim@example.org", "GIT_COMMITTER_NAME": "Perf Shim",
           "GIT_COMMITTER_EMAIL": "shim@example.org", "GIT_AUTHOR_DATE": "1700000000 +0000",
           "GIT_COMMITTER_DATE": "1700000000 +0000", "LC_ALL": "C", "TZ": "UTC",
           "GIT_PAGER": "cat", "PAGER": "cat", "GIT_TERMINAL_PROMPT": "0"}
    repo = os.path.join(base, "repo")  # the same path for both sides
    results = {}
    for name in ("bare", "shim"):
        side = realtest.Side(args, name, base)
        shutil.rmtree(repo, ignore_errors=True)
        outs = []
        for argv, files in steps(repo):
            for rel, text in (files or {}).items():
                path = os.path.join(repo, rel)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "w") as f:
                    f.write(text)
            outs.append((argv, side.run(argv, cwd=base, env=env)))
        results[name] = (outs, side)
    bare, shim = results["bare"][0], results["shim"][0]
    failed = [(a, p) for a, p in bare[:-1] if p.returncode != 0]
    ck.check(not failed, "every step but the last succeeds without the shim",
             "\n".join(pstest.describe(p) for a, p in failed[:3]))
    ck.check(bare[-1][1].returncode != 0, "the last step fails without the shim")
    mismatched = 0
    for (argv, b), (_, s) in zip(bare, shim):
        if b.returncode != s.returncode or b.stdout != s.stdout or b.stderr != s.stderr:
            mismatched += 1
            realtest.compare(ck, " ".join(argv[3:6]), b, s)
    ck.check(mismatched == 0, "all %d git steps identical with the shim" % len(bare))
    realtest.check_traces(ck, results["shim"][1], "git", min_allocs=1000)
    realtest.cleanup(args, base)
    ck.done()


if __name__ == "__main__":
    main()
