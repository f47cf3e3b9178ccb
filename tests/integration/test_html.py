#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_html.py — `perfshim report --html` (issue 14, item 2).

--case page (always runs): examples/contention run under the shim with lock profiling,
examples/service with a snapshot every 50 ms and examples/cpuburn with CPU sampling; then the
page:
- self-contained: no <link>, no src= attribute, no url(...) in it, a Content-Security-Policy
  that forbids every fetch;
- its JSON data parses, and every metric's sum over the sites equals the sum of
  `perfshim export --format folded --metric M` on the same traces (the export is the oracle:
  both gather the same sites); the call tree is well formed (parents first, no path twice);
- the folded export's stacks read back from the tree: each site's path of frame names, root
  first, is a folded line's, with the same value;
- the timeline of each trace, and service's growth classes (leak_request unbounded,
  cache_insert bounded, as the program is written);
- the locks and hot sections (made from the load the flame graphs use) equal `perfshim locks
  --json` and `perfshim hot --json` on the same traces, and so do those of an --at max page
  (made by loading each trace again);
- no "</script" inside the data (every '<' escaped);
- the run's title: "run" {"title": "3 processes", ...} for the three unrelated traces; none for
  one trace; for `perfshim run -- sh -c "leaky; leaky"`, the shell's program and 3 processes,
  root_pid the shell's;
- errors: no --html, no trace, an unreadable trace, an unwritable file exit 2 and leave no file.
--case browser: the page rendered in headless Chromium (`--dump-dom`, URL "#selftest", the page
clicks a frame and searches itself, report.js): no JS error, the flame graph and the heap chart
have pixels drawn, the click zoomed (data-zoom became the clicked frame), the search matched
the frame and an absent name matched nothing; the two single-snapshot traces get one line
("2 of 3 traces ... one snapshot only"), the heading and <title> name the run ("3 processes"). A screenshot is kept in
<build>/test-artifacts/html-report.png. Skipped (77) without chromium.
Standard library only."""
import json
import os
import re
import shutil

import pstest


def extra(ap):
    ap.add_argument("--artifacts", required=True, help="where the screenshot is kept")
    ap.add_argument("--case", choices=("page", "browser"), required=True)


def page_data(html):
    m = re.search(r'<script type="application/json" id="perfshim-data">(.*?)</script>', html, re.S)
    return json.loads(m.group(1)) if m else None


def make_traces(args, ck, work):
    """Live traces: contention (locks), service (a snapshot every 50 ms: leak_request() grows
    without bound, cache_insert() plateaus; examples/service.c) and cpuburn (CPU samples)."""
    env = {"LD_PRELOAD": args.lib, "PERFSHIM_OUTPUT": os.path.join(work, "contention.trace"),
           "PERFSHIM_LOCKS": "1"}
    p = pstest.run([os.path.join(args.bindir, "contention")], env=env, cwd=work)
    if not ck.check(p.returncode == 0 and os.path.exists(env["PERFSHIM_OUTPUT"]),
                    "contention ran under the shim and wrote its trace", pstest.describe(p)):
        ck.done()
    env2 = {"LD_PRELOAD": args.lib, "PERFSHIM_OUTPUT": os.path.join(work, "service.trace"),
            "PERFSHIM_INTERVAL": "50ms"}
    p = pstest.run([os.path.join(args.bindir, "service"), "--duration", "1.5"], env=env2, cwd=work)
    if not ck.check(p.returncode == 0 and os.path.exists(env2["PERFSHIM_OUTPUT"]),
                    "service ran under the shim and wrote its trace", pstest.describe(p)):
        ck.done()
    env3 = {"LD_PRELOAD": args.lib, "PERFSHIM_OUTPUT": os.path.join(work, "cpuburn.trace"),
            "PERFSHIM_CPU_HZ": "1000"}
    p = pstest.run([os.path.join(args.bindir, "cpuburn"), "2"], env=env3, cwd=work)
    if not ck.check(p.returncode == 0 and os.path.exists(env3["PERFSHIM_OUTPUT"]),
                    "cpuburn ran under the shim and wrote its trace", pstest.describe(p)):
        ck.done()
    return [env["PERFSHIM_OUTPUT"], env2["PERFSHIM_OUTPUT"], env3["PERFSHIM_OUTPUT"]]


def report(args, work, out, traces):
    return pstest.run([args.perfshim, "report", "--html", out, *traces], cwd=work)


def case_page(args, ck, work, traces):
    out = os.path.join(work, "r.html")
    p = report(args, work, out, traces)
    if not ck.check(p.returncode == 0 and os.path.exists(out), "report --html exits 0",
                    pstest.describe(p)):
        return
    html = open(out, encoding="utf-8").read()
    ck.check("<link" not in html.lower(), "no <link> element")
    ck.check(not re.search(r"\ssrc\s*=", html), "no src= attribute")
    ck.check(not re.search(r"url\(\s*['\"]?(https?:|//)", html), "no url() to the network")
    ck.check("default-src 'none'" in html, "a CSP forbids every fetch")
    d = page_data(html)
    if not ck.check(d is not None, "the page's JSON data parses"):
        return
    ck.equal(len(d["values"]), 8 * len(d["sites"]), "eight values per site")
    nf = len(d["frames"]) // 2
    parent, frame = [-1], [-1]  # node 0: the root (html.c's encoding of "nodes")
    i, enc = 0, d["nodes"]
    while i < len(enc):
        k = len(parent)
        p = k - 1
        if enc[i] < 0:
            p, i = k + enc[i], i + 1
        parent.append(p)
        frame.append(enc[i])
        i += 1
    nn = len(parent) - 1
    ck.check(all(0 <= parent[k] < k and 0 <= frame[k] < nf for k in range(1, nn + 1)),
             "each node's parent comes before it, its frame is in the frames table")
    sites, at = [], 0
    for delta in d["sites"]:  # differences from the previous site's node
        at += delta
        sites.append(at)
    ck.check(all(1 <= s <= nn for s in sites), "sites are nodes")
    ck.equal(len(set(zip(parent, frame))), nn + 1, "no call path twice in the tree")
    ck.check(all(0 <= d["frames"][2 * i] < len(d["names"])
                 and 0 <= d["frames"][2 * i + 1] < len(d["locs"])
                 for i in range(nf)), "frames index the names and places")
    ck.check(d["has"]["heap"] and d["has"]["locks"] and d["has"]["cpu"],
             "heap, lock and CPU data present", repr(d["has"]))
    def path(node):
        names = []
        while node:
            names.append(d["names"][d["frames"][2 * frame[node]]].replace(";", ":"))
            node = parent[node]
        return ";".join(reversed(names))

    site_paths = [path(n) for n in sites]
    for m, name in enumerate(d["metrics"]):
        got = {}
        for i, sp in enumerate(site_paths):
            if d["values"][8 * i + m]:
                got[sp] = got.get(sp, 0) + d["values"][8 * i + m]
        f = pstest.run([args.perfshim, "export", "--format", "folded", "--metric", name, *traces],
                       cwd=work)
        want = {}
        for line in f.stdout.decode().splitlines():
            stack, n = line.rsplit(" ", 1)
            want[stack] = want.get(stack, 0) + int(n)
        ck.equal(sum(got.values()), sum(want.values()),
                 "%s: the page's sum equals export --format folded's" % name)
        ck.check(got == want, "%s: the tree's paths and values are the folded export's" % name,
                 "only in the page: %r\nonly in folded: %r" % (
                     sorted(set(got.items()) - set(want.items()))[:3],
                     sorted(set(want.items()) - set(got.items()))[:3]))
    tl = d["timeline"] if isinstance(d["timeline"], list) else [d["timeline"]]
    ck.check(len(tl) == 3 and len(tl[1]["timeline"]) >= 5,
             "the timeline of each trace, several snapshots in the service's",
             "%d traces" % len(tl))
    gr = d["growth"] if isinstance(d["growth"], list) else []
    cls = {}
    for site in (gr[1]["sites"] if len(gr) == 3 else []):
        for f in site["stack"]:
            if f["function"] in ("leak_request", "cache_insert"):
                cls.setdefault(f["function"], site["class"])
    ck.equal(cls, {"leak_request": "unbounded", "cache_insert": "bounded"},
             "the growth classes of service's leak and cache")
    ck.check(isinstance(d["locks"], list) and d["locks"][0]["locks"], "the lock table")
    # the locks, hot, timeline, growth and advice sections are made from the trace the flame
    # graphs loaded (html.c): their commands' own output is the oracle, and with --at (each
    # section loading the traces itself)
    sections = {"locks": "locks", "hot": "hot", "timeline": "timeline", "growth": "growth",
                "advice": "advise"}
    for what, cmd in sections.items():
        c = pstest.run([args.perfshim, cmd, "--json", *traces], cwd=work)
        ck.check(c.returncode == 0 and json.loads(c.stdout) == d[what],
                 "the %s section is `perfshim %s --json`'s output" % (what, cmd),
                 pstest.describe(c))
    at = os.path.join(work, "at.html")
    p = report(args, work, at, ["--at", "max", *traces])
    da = page_data(open(at, encoding="utf-8").read()) if p.returncode == 0 else None
    ck.check(da and all(da[w] == d[w] for w in ("locks", "hot", "timeline", "growth", "advice")),
             "--at max (each section loading the traces itself): the same other sections",
             pstest.describe(p))
    ck.check(isinstance(d["hot"], list) and d["hot"][2]["cpu"],
             "the hot-path report (cpuburn's CPU samples)")
    adv = d.get("advice")
    ck.check(isinstance(adv, dict) and adv.get("format") == "perfshim-advise" and
             isinstance(adv.get("advice"), list),
             "the advice member is advise --json's document", repr(adv)[:400])

    # every '<' in the data is escaped (a C++ template name, a crafted program name cannot
    # close the element): the element's text has none, and the names read back with theirs
    text = re.search(r'id="perfshim-data">(.*?)</script>', html, re.S).group(1)
    ck.check("<" not in text, "no '<' inside the data's element")

    # the run's title (issue 14 item 3): several traces name the run, not the first program
    ck.equal(d.get("run"), {"title": "3 processes", "processes": 3, "root_pid": None},
             "three unrelated processes: the page is titled by their number")
    one = os.path.join(work, "one.html")
    p = report(args, work, one, [traces[1]])
    ck.check(p.returncode == 0 and "run" not in page_data(open(one, encoding="utf-8").read()),
             "one trace: no run member (its program is the title)", pstest.describe(p))
    mk = pstest.tmpdir("html-make")
    leaky = os.path.join(args.bindir, "leaky")
    p = pstest.run([args.perfshim, "run", "-o", os.path.join(mk, "m.%p.trace"), "--", "sh", "-c",
                    "%s > /dev/null; %s > /dev/null" % (leaky, leaky)], cwd=mk)
    mtraces = sorted(os.path.join(mk, f) for f in os.listdir(mk) if f.endswith(".trace"))
    ck.check(p.returncode == 0 and len(mtraces) == 3, "sh and two leaky runs traced",
             pstest.describe(p))
    sm = json.loads(pstest.run([args.perfshim, "summary", "--json", *mtraces], cwd=mk).stdout)
    root = [r["process"] for r in sm if r["process"]["program"] != leaky]
    p = report(args, mk, os.path.join(mk, "m.html"), mtraces)
    dm = page_data(open(os.path.join(mk, "m.html"), encoding="utf-8").read())
    ck.check(len(root) == 1 and dm.get("run") == {
        "title": "%s (3 processes)" % root[0]["program"], "processes": 3,
        "root_pid": root[0]["pid"]}, "a run's traces: titled by the root process (the shell)",
        repr(dm.get("run")) + " " + repr(root))
    # the same run as one merge -o trace: titled by its processes, not by the program of the
    # first input (which its PROCESS record carries, with pid 0)
    merged = os.path.join(mk, "merged.out")
    p = pstest.run([args.perfshim, "merge", "-o", merged, *mtraces], cwd=mk)
    ck.check(p.returncode == 0, "merge -o of the run's traces", pstest.describe(p))
    p = report(args, mk, os.path.join(mk, "merged.html"), [merged])
    dm = page_data(open(os.path.join(mk, "merged.html"), encoding="utf-8").read())
    ck.equal(dm.get("run"), {"title": "3 processes", "processes": 3, "root_pid": None},
             "one merged trace: titled by the processes it merged")

    # the members after the sites' wait in an unlinked temporary file in $TMPDIR, or in memory
    # when none can be made: the same page either way, and no file left in $TMPDIR
    base = open(out, "rb").read()
    spill = pstest.tmpdir("html-spill")
    for what, tmpdir in (("a temporary file", spill), ("no temporary file", "/nonexistent/dir")):
        alt = os.path.join(work, "alt.html")
        p = pstest.run([args.perfshim, "report", "--html", alt, *traces], cwd=work,
                       env={"TMPDIR": tmpdir})
        ck.check(p.returncode == 0 and open(alt, "rb").read() == base,
                 "%s for the sections: the same page" % what, pstest.describe(p))
    ck.equal(os.listdir(spill), [], "no temporary file left behind")

    # errors
    for what, argv in (("no --html", ["report", traces[1]]),
                       ("no trace", ["report", "--html", out + ".x"]),
                       ("a missing trace", ["report", "--html", out + ".x",
                                            os.path.join(work, "missing.trace")]),
                       ("an unwritable file", ["report", "--html", "/nonexistent/dir/r.html",
                                               traces[1]])):
        e = pstest.run([args.perfshim, *argv], cwd=work)
        ck.check(e.returncode == 2 and not os.path.exists(out + ".x"), "%s: exit 2, no file" % what,
                 pstest.describe(e))


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def browse(exe, work, url, extra):
    return pstest.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                       "--disable-extensions", "--user-data-dir=" + os.path.join(work, "chrome"),
                       "--window-size=1280,1600", *extra, url], cwd=work, timeout=120,
                      env={"HOME": work})


def case_browser(args, ck, work, traces):
    exe = chromium()
    if not exe:
        ck.skip("no chromium (apt-get install chromium)")
    out = os.path.join(work, "r.html")
    p = report(args, work, out, traces)
    if not ck.check(p.returncode == 0, "report --html exits 0", pstest.describe(p)):
        return
    b = browse(exe, work, "file://" + out + "#selftest",
               ["--dump-dom", "--virtual-time-budget=10000"])
    dom = b.stdout.decode("utf-8", "replace")
    body = re.search(r"<body([^>]*)>", dom)
    if not ck.check(b.returncode == 0 and body, "chromium rendered the page", pstest.describe(b)):
        return
    attrs = dict(re.findall(r'([\w-]+)="([^"]*)"', body.group(1)))
    ck.equal(attrs.get("data-ready"), "1", "the page finished drawing")
    ck.equal(attrs.get("data-errors"), "0", "no JavaScript error")
    errs = re.search(r'<pre id="errors"[^>]*>(.*?)</pre>', dom, re.S)
    if errs and errs.group(1).strip():
        print(errs.group(1))
    st = attrs.get("data-selftest")
    if not ck.check(st, "the self-test ran"):
        return
    st = json.loads(st.replace("&quot;", '"').replace("&amp;", "&"))
    print("selftest: %r; load %s ms" % (st, attrs.get("data-load-ms")))
    ck.check(st["drawn"] > 0 and st["flame_pixels"] > 1000, "the flame graph is drawn", repr(st))
    ck.check(st["chart_pixels"] > 100, "the heap chart is drawn", repr(st))
    ck.equal(attrs.get("data-charts"), "1", "a heap chart for the trace with several snapshots")
    ck.equal(len(re.findall(r"<p[^>]*>[^<]*one snapshot only", dom, re.I)), 1,
             "the two single-snapshot traces: one line for both")
    ck.check(re.search(r'id="heap-single"[^>]*>2 of 3 traces \(', dom),
             "the line counts them", dom[:0])
    ck.check(re.search(r'<span id="program">3 processes</span>', dom) and
             "<title>perfshim report: 3 processes</title>" in dom,
             "the heading and the window's title name the run", dom[:600])
    ck.check(st["zoom_before"] == "" and st["zoom_after"] == st["clicked"],
             "a click on a frame zooms to it", repr(st))
    ck.check(st["matches"] >= 1, "search highlights the clicked frame's name", repr(st))
    ck.equal(st["matches_none"], 0, "search for an absent name matches nothing")

    # the locks section of a trace recorded with lock profiling on (perfshim run's default)
    # that took no lock says so, and does not ask to record with PERFSHIM_LOCKS=1; a trace
    # recorded without it does ask
    quiet = os.path.join(work, "nolocks.trace")
    r = pstest.run([os.path.join(args.bindir, "leaky")], cwd=work,
                   env={"LD_PRELOAD": args.lib, "PERFSHIM_OUTPUT": quiet, "PERFSHIM_LOCKS": "1"})
    lk = json.loads(pstest.run([args.perfshim, "locks", "--json", quiet], cwd=work).stdout or "{}")
    if ck.check(r.returncode == 0 and lk.get("lock_profiling") and
                not lk["totals"]["locks"] and not lk["totals"]["condvars"],
                "leaky under PERFSHIM_LOCKS=1: lock profiling on, no lock taken", repr(lk)[:300]):
        for trace, want, other in ((quiet, "lock profiling was on", "record with PERFSHIM_LOCKS"),
                                   (traces[1], "record with PERFSHIM_LOCKS", "profiling was on")):
            page = os.path.join(work, "locks.html")
            report(args, work, page, [trace])
            b = browse(exe, work, "file://" + page, ["--dump-dom", "--virtual-time-budget=10000"])
            m = re.search(r'id="locks-body"[^>]*>(.*?)</section>',
                          b.stdout.decode("utf-8", "replace"), re.S)
            body = m.group(1) if m else ""
            ck.check(want in body and other not in body,
                     "%s: the locks section says '%s'" % (os.path.basename(trace), want),
                     body[:400])

    # a hot-path row of code without symbols (a stripped program) is named by its module, as
    # the text report names it ([cpuburn-stripped]), not left blank
    stripped = os.path.join(work, "cpuburn-stripped")
    shutil.copy(os.path.join(args.bindir, "cpuburn"), stripped)
    st = pstest.run(["strip", stripped], cwd=work)
    stripped_trace = os.path.join(work, "stripped.trace")
    r = pstest.run([stripped, "2"], cwd=work,
                   env={"LD_PRELOAD": args.lib, "PERFSHIM_OUTPUT": stripped_trace,
                        "PERFSHIM_CPU_HZ": "1000"})
    hot = json.loads(pstest.run([args.perfshim, "hot", "--json", stripped_trace],
                                cwd=work).stdout or "{}")
    rows = ((hot.get("cpu") or {}).get("functions") or [])
    if ck.check(st.returncode == 0 and r.returncode == 0 and
                any(x["function"] is None and x["module"] == stripped for x in rows),
                "the stripped cpuburn's CPU samples: a row without a function name",
                repr(rows)[:300]):
        page = os.path.join(work, "stripped.html")
        report(args, work, page, [stripped_trace])
        b = browse(exe, work, "file://" + page, ["--dump-dom", "--virtual-time-budget=10000"])
        m = re.search(r'id="hot-body"[^>]*>(.*?)</section>',
                      b.stdout.decode("utf-8", "replace"), re.S)
        ck.check(m and '<td class="s">[cpuburn-stripped]</td>' in m.group(1),
                 "the hot table names code without symbols by its module",
                 (m.group(1) if m else "")[:600])

    os.makedirs(args.artifacts, exist_ok=True)
    shot = os.path.join(args.artifacts, "html-report.png")
    if os.path.exists(shot):
        os.remove(shot)
    s = browse(exe, work, "file://" + out, ["--screenshot=" + shot, "--hide-scrollbars"])
    ck.check(s.returncode == 0 and os.path.exists(shot) and os.path.getsize(shot) > 10000,
             "screenshot kept in %s" % shot, pstest.describe(s))


def main():
    args = pstest.parse_args(extra)
    ck = pstest.Checker("test_html " + args.case)
    work = pstest.tmpdir("html")
    if args.case == "browser" and not chromium():
        ck.skip("no chromium (apt-get install chromium)")
    traces = make_traces(args, ck, work)
    (case_page if args.case == "page" else case_browser)(args, ck, work, traces)
    ck.done()


if __name__ == "__main__":
    main()
