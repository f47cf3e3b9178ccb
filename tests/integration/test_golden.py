#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_golden.py — the committed golden traces (tests/data/*.trace) still give the committed
results. For each NAME.trace: `perfshim leaks|summary|locks|hot --json` (run in
tests/data, where the traces' relative module paths point at bin/NAME.debug), normalized by
stable() (no trace path, no absolute addresses, file and module paths cut to their base
names), must agree with NAME.expected.json: every member the expected file has must be there
with the same value (members a later analyzer adds are allowed; lists must match element for
element). So a change of the reader, the model, symbolization or grouping that alters a count,
a byte total, a function name, a line or a warning fails here.

--update rewrites the expected files from the current analyzer (tests/data/regen.py does it
after making new traces); review the diff before committing it. Standard library only."""
import difflib
import json
import os

import pstest

REPORTS = ("leaks", "summary", "locks", "hot")


def stable(doc):
    """The report without what depends on where the trace or the analyzer is."""
    doc = dict(doc)
    doc.pop("trace", None)

    def walk(v):
        if isinstance(v, dict):
            out = {}
            for k, x in v.items():
                if k == "address":
                    continue
                if k in ("file", "module") and isinstance(x, str):
                    x = os.path.basename(x)
                out[k] = walk(x)
            return out
        if isinstance(v, list):
            return [walk(x) for x in v]
        return v

    return walk(doc)


def dumps(v, indent=""):
    """JSON with sorted keys, one member per line, but each frame (and any other object or
    list of scalars) on a single line: diffs of the expected files stay readable."""
    flat = (not isinstance(v, (dict, list)) or
            all(not isinstance(x, (dict, list)) for x in (v.values() if isinstance(v, dict) else v)))
    if flat:
        return json.dumps(v, sort_keys=True)
    inner = indent + " "
    if isinstance(v, dict):
        items = ["%s%s: %s" % (inner, json.dumps(k), dumps(v[k], inner)) for k in sorted(v)]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    return "[\n" + ",\n".join(inner + dumps(x, inner) for x in v) + "\n" + indent + "]"


def differences(expected, got, where="$"):
    """Where got disagrees with expected (expected's members only); [] when it agrees."""
    if isinstance(expected, dict):
        if not isinstance(got, dict):
            return ["%s: expected an object, got %r" % (where, got)]
        out = []
        for k, v in expected.items():
            if k not in got:
                out.append("%s.%s: missing (expected %r)" % (where, k, v))
            else:
                out.extend(differences(v, got[k], "%s.%s" % (where, k)))
        return out
    if isinstance(expected, list):
        if not isinstance(got, list) or len(got) != len(expected):
            return ["%s: expected %d elements, got %r" % (
                where, len(expected), len(got) if isinstance(got, list) else got)]
        out = []
        for i, (e, g) in enumerate(zip(expected, got)):
            out.extend(differences(e, g, "%s[%d]" % (where, i)))
        return out
    return [] if expected == got else ["%s: expected %r, got %r" % (where, expected, got)]


def check_report(ck, data, name, what, text, js, update):
    """A report's golden files, tests/data/NAME.expected.{json,txt}: with update, rewrites them
    from this run's text and JSON (and returns None); else checks both against them (WHAT names
    the report in the checks) and returns the expected JSON."""
    got_json = stable(json.loads(js.stdout.decode("utf-8")))
    got_text = text.stdout.decode("utf-8")
    jpath = os.path.join(data, name + ".expected.json")
    tpath = os.path.join(data, name + ".expected.txt")
    if update:
        with open(jpath, "w", encoding="utf-8") as f:
            f.write(dumps(got_json) + "\n")
        with open(tpath, "w", encoding="utf-8") as f:
            f.write(got_text)
        print("updated tests/data/%s.expected.{json,txt}" % name)
        return None
    with open(jpath, encoding="utf-8") as f:
        expected = json.load(f)
    d = differences(expected, got_json)
    ck.check(not d, "golden %s --json equals %s.expected.json" % (what, name), "\n".join(d[:30]))
    with open(tpath, encoding="utf-8") as f:
        expected_text = f.read()
    ck.check(got_text == expected_text,
             "golden %s (text) equals %s.expected.txt" % (what, name),
             "\n".join(difflib.unified_diff(expected_text.splitlines(), got_text.splitlines(),
                                            lineterm=""))[:4000])
    return expected


def main():
    def extra(ap):
        ap.add_argument("--data", required=True, help="tests/data")
        ap.add_argument("--update", action="store_true", help="rewrite the expected files")
        ap.add_argument("names", nargs="*", help="golden traces (default: every *.trace)")

    args = pstest.parse_args(extra)
    ck = pstest.Checker("test_golden")
    data = os.path.abspath(args.data)
    names = args.names or sorted(f[:-6] for f in os.listdir(data) if f.endswith(".trace"))
    ck.check(names, "golden traces in %s" % data)
    for name in names:
        got = {}
        for rep in REPORTS:
            p = pstest.run([args.perfshim, rep, "--json", name + ".trace"], cwd=data)
            if not ck.equal(p.returncode, 0, "%s: perfshim %s --json exit status" % (name, rep)):
                print(pstest.describe(p))
                continue
            try:
                got[rep] = stable(json.loads(p.stdout.decode("utf-8")))
            except ValueError as e:
                ck.check(False, "%s: perfshim %s --json prints JSON (%s)" % (name, rep, e))
        exp_path = os.path.join(data, name + ".expected.json")
        if args.update:
            with open(exp_path, "w", encoding="utf-8") as f:
                f.write(dumps(got) + "\n")
            print("updated %s" % exp_path)
            continue
        with open(exp_path, encoding="utf-8") as f:
            expected = json.load(f)
        for rep in REPORTS:
            if rep not in got:
                continue
            diff = differences(expected.get(rep), got[rep], rep)
            ck.check(not diff, "%s: %s report equals %s.expected.json" % (name, rep, name),
                     "\n".join(diff[:30]))
        # The golden files must exercise what they are for: guard against a regeneration that
        # silently produced an empty or unsymbolized trace.
        leaks = expected.get("leaks", {})
        ck.check(leaks.get("totals", {}).get("leaked_blocks", 0) > 0,
                 "%s: the expected leak report has leaks" % name)
        funcs = [f.get("function") for s in expected.get("summary", {}).get("top_sites", [])
                 for f in s.get("stack", [])]
        ck.check("main" in funcs, "%s: the expected frames name the program's functions" % name)
        if name == "contention":  # written with PERFSHIM_LOCKS=1 by an older shim (144-byte rows)
            locks = expected.get("locks", {}).get("locks", [])
            top = locks[0]["sites"][0]["stack"][0]["function"] if locks and locks[0]["sites"] else None
            ck.check(top == "forced_site", "contention: the expected lock report ranks "
                     "forced_site() first", repr(top))
            zones = (expected.get("hot", {}).get("zones") or {}).get("zones", [])
            ck.check(len(zones) == 3, "contention: the expected hot report has its 3 zones")
    ck.done()


if __name__ == "__main__":
    main()
