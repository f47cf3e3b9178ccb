#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_mergeout_advice.py — `perfshim merge -o` carries the ADVICE chunk (docs/trace-format.md,
"Merged traces"): `advise` on the merged trace of adv_scratch (twice), adv_realloc and adv_xthread
gives the counter rules' advice that `advise` gives on the inputs, site by site, with the counts
of one site summed over the inputs:
  - the counter rules (temporaries, realloc_growth, cross_thread_free) are judged on the merged
    trace, not skipped with "trace has no advice counters" (what merge did before);
  - each (rule, where) of the inputs' counter advice is in the merged advice once, and no other;
  - its counts (allocations, temporaries, realloc grows and their bytes, cross-thread frees) are
    the sums of the inputs' (exact: PERFSHIM_ADVICE_SAMPLE=1), and adv_scratch's temporaries are
    twice what the program prints it made (the oracle);
  - an input counted 1 in 16 (the default) makes the merged counts estimates, labelled so, with
    the largest input sample.
Standard library only."""
import json
import os

import pstest

COUNTER_RULES = {"temporaries", "realloc_growth", "cross_thread_free"}
SUMMED = ("allocations", "temporaries", "realloc_grows", "bytes_before", "bytes_after",
          "cross_thread_frees")


def main():
    args = pstest.parse_args()
    ck = pstest.Checker("test_mergeout_advice")
    work = pstest.tmpdir("mergeout_advice")
    outputs = {}

    def run(prog, name, env):
        path = os.path.join(work, name + ".trace")
        e = {"LD_PRELOAD": args.lib, "PERFSHIM_OUTPUT": path}
        e.update(env)
        p = pstest.run([os.path.join(args.bindir, prog)], env=e, cwd=work)
        if not ck.check(p.returncode == 0 and os.path.exists(path),
                        prog + " ran and wrote its trace", pstest.describe(p)):
            ck.done()
        outputs[name] = p.stdout.decode("utf-8")
        return path

    def advise(*traces):
        p = pstest.run([args.perfshim, "advise", "--json"] + list(traces), cwd=work)
        try:
            return json.loads(p.stdout.decode("utf-8"))
        except ValueError:
            ck.fatal("advise --json prints JSON", pstest.describe(p))

    def merge(out, traces):
        p = pstest.run([args.perfshim, "merge", "-o", out] + traces, cwd=work)
        ck.equal((p.returncode, p.stderr.decode()), (0, ""), "merge -o " + os.path.basename(out))
        return out

    def counter_advice(doc):
        """(rule, where) -> evidence, of the counter rules' advice."""
        got = {}
        for a in doc["advice"]:
            if a["rule"] in COUNTER_RULES:
                ck.check((a["rule"], a["where"]) not in got, "one advice per rule and site",
                         a["where"])
                got[(a["rule"], a["where"])] = a["evidence"]
        return got

    exact = {"PERFSHIM_ADVICE_SAMPLE": "1"}
    traces = [run("adv_scratch", "scratch1", exact), run("adv_scratch", "scratch2", exact),
              run("adv_realloc", "realloc", exact), run("adv_xthread", "xthread", exact)]
    merged = merge(os.path.join(work, "merged.trace"), traces)

    doc = advise(merged)
    skipped = {s["id"]: s["why"] for s in doc["skipped_rules"]}
    ck.equal(sorted(COUNTER_RULES & set(skipped)), [],
             "merged: the counter rules are judged (the merged trace has advice counters)")
    got = counter_advice(doc)
    want = {}
    for t in traces:
        for key, ev in counter_advice(advise(t)).items():
            if key not in want:
                want[key] = dict(ev)
            else:
                for m in SUMMED:
                    if m in ev:
                        want[key][m] += ev[m]
    ck.equal(sorted(got), sorted(want), "merged: the inputs' counter advice, site by site")
    for key in sorted(set(got) & set(want)):
        for m in SUMMED:
            if m in want[key]:
                ck.equal(got[key].get(m), want[key][m], "%s at %s: %s summed" % (key + (m,)))
        ck.equal(got[key].get("counters_estimated"), 0, "%s at %s: exact" % key)

    toks = outputs["scratch1"].split()
    made = int(toks[toks.index("temporaries") + 1])
    temp = [ev for (rule, _), ev in got.items() if rule == "temporaries"]
    ck.equal([ev.get("temporaries") for ev in temp], [2 * made],
             "merged: adv_scratch's temporaries, twice what it printed")

    # one input estimated (1 in 16): the merged counts are estimates
    sampled = run("adv_xthread", "xthread16", {})
    doc = advise(merge(os.path.join(work, "mixed.trace"), [traces[0], sampled]))
    got = counter_advice(doc)
    ck.equal(sorted(rule for rule, _ in got), ["cross_thread_free", "temporaries"],
             "mixed: both inputs' counter advice")
    for key, ev in sorted(got.items()):
        ck.equal((ev.get("counters_estimated"), ev.get("counters_sample")), (1, 16),
                 "mixed: %s at %s labelled an estimate, 1 in 16" % key)
    ck.done()


if __name__ == "__main__":
    main()
