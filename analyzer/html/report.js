/* SPDX-License-Identifier: MIT */
/*
 * report.js — draws the data of `perfshim report --html` (html.c writes it into
 * #perfshim-data; its members are described there and in docs/analyzer.md).
 *
 * Flame graphs: drawn on a <canvas> here (an icicle, root on top, widest child first): the tree
 * of a metric is built the first time it is shown, and only frames at least half a pixel wide
 * are drawn, so that 100k stacks open quickly. The call tree comes made (D.nodes): a metric's
 * tree is its values summed up the tree, in typed arrays. A click zooms to a frame (its ancestors stay,
 * full width); search colours the matching frames and says what share they hold.
 * Charts: uPlot (third_party/uplot). Tables: from the --json of locks, hot and advise.
 *
 * State for tests (tests/integration/test_html.py): body[data-ready] once drawn,
 * body[data-load-ms] the time from navigation start (data-start-ms when this script starts,
 * data-parse-ms of it reading the data,
 * data-flame-ms building and drawing the first flame graph), body[data-errors]; the canvas's
 * data-metric, data-drawn (frames drawn), data-zoom (the zoomed frame's name) and data-matches
 * (frames matching the search); each chart's data-points. With "#selftest" in the URL the
 * page clicks a frame and searches it itself, then sets body[data-selftest] to what changed.
 */
(function () {
  "use strict";
  var t0 = performance.now();
  document.body.dataset.startMs = String(Math.round(t0));
  var D = JSON.parse(document.getElementById("perfshim-data").textContent);
  document.body.dataset.parseMs = String(Math.round(performance.now() - t0));
  var NM = D.metrics.length;
  var $ = function (id) { return document.getElementById(id); };

  /* ---- formatting ---------------------------------------------------------------------- */
  function fmtBytes(v) {
    if (v == null) return "";
    var a = Math.abs(v), u = ["B", "KiB", "MiB", "GiB", "TiB"], i = 0;
    while (a >= 1024 && i < u.length - 1) { a /= 1024; v /= 1024; i++; }
    return (i ? v.toFixed(a < 10 ? 2 : a < 100 ? 1 : 0) : String(v)) + " " + u[i];
  }
  function fmtNs(v) {
    if (v == null) return "";
    var a = Math.abs(v);
    if (a >= 1e9) return (v / 1e9).toFixed(a >= 1e10 ? 1 : 3) + " s";
    if (a >= 1e6) return (v / 1e6).toFixed(a >= 1e7 ? 1 : 2) + " ms";
    if (a >= 1e3) return (v / 1e3).toFixed(1) + " µs";
    return v + " ns";
  }
  function fmtCount(v) {
    if (v == null) return "";
    return typeof v === "number" ? v.toLocaleString("en-US", {maximumFractionDigits: 3}) : String(v);
  }
  function fmtMetric(m, v) {
    var n = D.metrics[m];
    if (/space$/.test(n)) return fmtBytes(v);
    if (n === "delay" || n === "cpu") return fmtNs(v);
    return fmtCount(v);
  }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }
  function asArray(x) { return x == null ? [] : Array.isArray(x) ? x : [x]; }
  /* a frames array (stack, first_use, ...) in a few words: its innermost function */
  function frameBrief(f) {
    if (!f) return "?";
    if (f.function) return f.function;
    var m = f.module ? f.module.replace(/.*\//, "") : "?";
    return m + "+" + (f.offset || "?");
  }
  function isFrames(v) { return Array.isArray(v) && v.length && v[0] && typeof v[0] === "object" &&
                                 "function" in v[0] && "address" in v[0]; }

  /* several traces: the run's title (html.c, write_run), not the first trace's program */
  $("program").textContent = D.run ? D.run.title : D.program || "";
  if (D.run || D.program) document.title = "perfshim report: " + (D.run ? D.run.title : D.program);
  /* a process's heading: its program and pid, or what a perfshim merge -o trace merged */
  function procLabel(p) {
    if (p.merged_processes > 1) return p.merged_processes + " merged processes (first: " + (p.program || "?") + ")";
    return (p.program || "") + " (pid " + p.pid + ")";
  }
  $("meta").textContent = D.traces.length + " trace" + (D.traces.length === 1 ? "" : "s") + ": " +
      D.traces.join(", ") + (D.duration_ns ? " · " + fmtNs(D.duration_ns) : "") +
      (D.sample_mean ? " · sampled (mean " + fmtBytes(D.sample_mean) + "): figures are estimates" : "");

  /* ---- flame graphs ------------------------------------------------------------------------ */
  /* the call tree: node 0 the root ("all"), then D.nodes (html.c): a frame index for a node
   * under the node before it, or -(distance to its parent) and the frame index */
  var NN = 1, nsites = D.sites.length, k, i;
  for (i = 0; i < D.nodes.length; i++) if (D.nodes[i] >= 0) NN++;
  var par = new Int32Array(NN), frm = new Int32Array(NN), dep = new Uint16Array(NN);
  var site = new Int32Array(nsites); /* the node of each site (D.sites: differences) */
  for (i = 0, k = 0; i < nsites; i++) site[i] = k += D.sites[i];
  par[0] = -1;
  frm[0] = -1;
  for (i = 0, k = 1; k < NN; k++, i++) {
    par[k] = k - 1;
    if (D.nodes[i] < 0) par[k] = k + D.nodes[i++];
    frm[k] = D.nodes[i];
    dep[k] = dep[par[k]] + 1;
  }
  /* the four views and the metric (bytes/time; counts) each shows */
  var VIEWS = [
    {label: "Live heap (leaks)", m: 0, mc: 1, kind: "heap"},
    {label: "Allocations", m: 2, mc: 3, kind: "heap"},
    {label: "CPU", m: 7, mc: 6, kind: "cpu"},
    {label: "Lock wait", m: 5, mc: 4, kind: "locks"}];
  var trees = {};
  var canvas = $("flame-canvas"), ctx = canvas.getContext("2d"), tip = $("flame-tip");
  var ROW = 17, view = null, metric = 0, T = null, zoom = 0, rects = [];
  var search = null;

  /* the tree of metric m: v[node] its value (its sites' and its callees'); the callees with a
   * value of node n are kid[start[n] .. start[n+1]), widest first (typed arrays: 100k stacks
   * make half a million nodes); built the first time the metric is shown */
  function buildTree(m) {
    if (trees[m]) return trees[m];
    var v = new Float64Array(NN), start = new Int32Array(NN + 1), maxd = 0, i, j;
    for (i = 0; i < nsites; i++) v[site[i]] += D.values[i * NM + m];
    for (i = NN - 1; i > 0; i--) v[par[i]] += v[i]; /* parents come before their children */
    for (i = 1; i < NN; i++) {
      if (!v[i]) continue;
      start[par[i] + 1]++;
      if (dep[i] > maxd) maxd = dep[i];
    }
    for (i = 0; i < NN; i++) start[i + 1] += start[i];
    var fill = start.slice(0, NN), kid = new Int32Array(start[NN]);
    for (i = 1; i < NN; i++) if (v[i]) kid[fill[par[i]]++] = i;
    var byValue = function (x, y) { return v[y] - v[x]; };
    for (i = 0; i < NN; i++) {
      var a = start[i], b = start[i + 1];
      if (b - a > 16) {
        kid.set(Array.prototype.slice.call(kid, a, b).sort(byValue), a);
        continue;
      }
      for (j = a + 1; j < b; j++) { /* insertion sort: most frames have few callees */
        var x = kid[j], vx = v[x], q = j - 1;
        while (q >= a && v[kid[q]] < vx) { kid[q + 1] = kid[q]; q--; }
        kid[q + 1] = x;
      }
    }
    return (trees[m] = {v: v, start: start, kid: kid, maxd: maxd});
  }
  function nameOf(n) { return n ? D.names[D.frames[2 * frm[n]]] : "all"; }
  function locOf(n) { return n ? D.locs[D.frames[2 * frm[n] + 1]] : ""; }
  function hue(s) {
    var h = 0;
    for (var i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) | 0;
    return h;
  }
  var colours = [];
  function colour(n) {
    var f = n ? frm[n] : -1;
    return f < 0 ? "#f2d0a0" : colours[f] || (colours[f] = colourOf(nameOf(n)));
  }
  function colourOf(s) {
    var h = hue(s);
    if (s.charAt(0) === "[") return "#bbb";
    if (/\+0x[0-9a-f]+$/.test(s)) return "hsl(0,0%," + (72 + (h & 7)) + "%)";
    return "hsl(" + (10 + ((h >>> 3) % 45)) + "," + (70 + (h & 15)) + "%," + (55 + ((h >>> 8) & 15)) + "%)";
  }
  function matches(n) {
    if (!search || !n) return false;
    var s = nameOf(n);
    return search.test ? search.test(s) : s.toLowerCase().indexOf(search) >= 0;
  }

  function draw() {
    var w = canvas.clientWidth || 800, dpr = window.devicePixelRatio || 1;
    rects = [];
    if (!T || !T.v[0]) {
      canvas.height = 0;
      canvas.dataset.drawn = "0";
      return;
    }
    var v = T.v, start = T.start, kid = T.kid, depth = T.maxd + 1;
    canvas.style.height = depth * ROW + "px";
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(depth * ROW * dpr);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, depth * ROW);
    ctx.font = "12px system-ui, sans-serif";
    ctx.textBaseline = "middle";
    var nmatch = 0, matched = 0;
    /* the callers of the zoomed frame, full width, dimmed */
    for (var a = par[zoom]; a >= 0; a = par[a]) box(a, 0, w, true, false);
    (function walk(n, x, width, inMatch) {
      var hit = matches(n);
      if (hit) { nmatch++; if (!inMatch) matched += v[n]; }
      box(n, x, width, false, hit);
      for (var i = start[n], cx = x; i < start[n + 1]; i++) {
        var c = kid[i], cw = width * v[c] / v[n];
        if (cw < 0.5) break; /* widest first: the rest are narrower still */
        walk(c, cx, cw, inMatch || hit);
        cx += cw;
      }
    })(zoom, 0, w, false);
    canvas.dataset.drawn = String(rects.length);
    canvas.dataset.zoom = zoom ? nameOf(zoom) : "";
    canvas.dataset.matches = String(nmatch);
    canvas.dataset.metric = D.metrics[metric];
    $("flame-matched").textContent = search ? nmatch + " frames drawn match, " +
        (100 * matched / v[zoom]).toFixed(1) + "% of " + fmtMetric(metric, v[zoom]) : "";
    $("flame-info").textContent = "total " + fmtMetric(metric, v[0]) +
        (zoom ? " · zoomed to " + nameOf(zoom) + ": " + fmtMetric(metric, v[zoom]) +
         " (" + (100 * v[zoom] / v[0]).toFixed(1) + "%)" : "") +
        " · click a frame to zoom, a frame above to zoom out, Esc to reset";
  }
  function box(n, x, width, dim, hit) {
    var y = dep[n] * ROW;
    rects.push({x: x, y: y, w: width, n: n});
    ctx.fillStyle = hit ? "#b03cd8" : colour(n);
    ctx.globalAlpha = dim ? 0.55 : 1;
    ctx.fillRect(x, y, Math.max(width - 0.5, 0.5), ROW - 1);
    ctx.globalAlpha = 1;
    if (width > 30) {
      var s = nameOf(n), max = Math.floor((width - 6) / 6.5);
      if (s.length > max) s = s.slice(0, Math.max(max - 1, 1)) + "…";
      ctx.fillStyle = hit ? "#fff" : "#000";
      ctx.fillText(s, x + 3, y + ROW / 2);
    }
  }
  function rectAt(ev) {
    var b = canvas.getBoundingClientRect(), x = ev.clientX - b.left, y = ev.clientY - b.top;
    for (var i = rects.length - 1; i >= 0; i--) {
      var r = rects[i];
      if (x >= r.x && x < r.x + r.w && y >= r.y && y < r.y + ROW) return r;
    }
    return null;
  }
  canvas.addEventListener("click", function (ev) {
    var r = rectAt(ev);
    if (!r) return;
    zoom = r.n;
    draw();
  });
  canvas.addEventListener("mousemove", function (ev) {
    var r = rectAt(ev);
    if (!r) { tip.hidden = true; return; }
    var n = r.n, loc = locOf(n), v = T.v;
    tip.textContent = nameOf(n) + (loc ? "\n" + loc : "") + "\n" + fmtMetric(metric, v[n]) + " (" +
        (100 * v[n] / v[0]).toFixed(2) + "% of all" +
        (n ? ", " + (100 * v[n] / v[par[n]]).toFixed(1) + "% of its caller" : "") + ")";
    tip.hidden = false;
    tip.style.left = Math.min(ev.clientX + 12, window.innerWidth - 320) + "px";
    tip.style.top = ev.clientY + 14 + "px";
  });
  canvas.addEventListener("mouseleave", function () { tip.hidden = true; });
  document.addEventListener("keydown", function (ev) {
    if (ev.key === "Escape" && T) { zoom = 0; draw(); }
  });
  $("flame-reset").addEventListener("click", function () { zoom = 0; draw(); });
  $("flame-search").addEventListener("input", function () {
    var q = this.value, m = /^\/(.+)\/([i]?)$/.exec(q);
    search = null;
    if (m) {
      try { search = new RegExp(m[1], m[2]); } catch (e) { search = null; }
    } else if (q) {
      search = q.toLowerCase();
    }
    draw();
  });
  $("flame-counts").addEventListener("change", function () { if (view) show(view); });
  function show(v) {
    view = v;
    metric = $("flame-counts").checked ? v.mc : v.m;
    T = buildTree(metric);
    zoom = 0;
    var tabs = $("flame-tabs").children;
    for (var i = 0; i < tabs.length; i++) tabs[i].classList.toggle("on", VIEWS[i] === v);
    draw();
  }
  var first = null;
  VIEWS.forEach(function (v) {
    var b = el("button", "tab", v.label);
    b.type = "button";
    b.disabled = !D.has[v.kind];
    b.title = D.has[v.kind] ? "" : "the traces hold no " + v.kind + " data";
    b.addEventListener("click", function () { show(v); });
    $("flame-tabs").appendChild(b);
    if (!first && D.has[v.kind]) first = v;
  });
  if (first) {
    t0 = performance.now();
    show(first);
    document.body.dataset.flameMs = String(Math.round(performance.now() - t0));
  } else {
    $("flame-info").textContent = "The traces hold no heap, CPU or lock data.";
    canvas.dataset.drawn = "0";
  }
  var lastW = canvas.clientWidth;
  window.addEventListener("resize", function () {
    if (canvas.clientWidth !== lastW) { lastW = canvas.clientWidth; draw(); }
  });

  /* ---- tables ----------------------------------------------------------------------------- */
  var SKIP = {process: 1, options: 1, trace: 1, format: 1, version: 1, format_version: 1,
              snapshot: 1, complete: 1, warnings: 1, messages: 1, sampling: 1};
  function cell(k, v, row) {
    var td = el("td");
    if (k === "function" && v == null && row && typeof row.module === "string") {
      /* code without symbols: named by its module, as the text reports name it ([cc1]) */
      td.className = "s";
      td.textContent = "[" + row.module.replace(/.*\//, "") + "]";
    } else if (isFrames(v)) {
      td.className = "s";
      td.textContent = frameBrief(v[0]);
      td.title = v.map(frameBrief).join("\n← ");
    } else if (typeof v === "number") {
      td.textContent = /_ns$/.test(k) ? fmtNs(v) : /bytes/.test(k) ? fmtBytes(v) : fmtCount(v);
      td.title = String(v);
    } else if (k === "class" && typeof v === "string") {
      td.className = "s";
      td.appendChild(el("span", "cls cls-" + v, v));
    } else if (v && typeof v === "object") {
      td.className = "s";
      td.textContent = Array.isArray(v) ? v.length + " items" : JSON.stringify(v).slice(0, 120);
    } else {
      td.className = "s";
      td.textContent = v == null ? "" : String(v);
    }
    return td;
  }
  /* an array of objects as a table: the members of the first, scalars and frames only */
  function table(rows, limit) {
    var keys = Object.keys(rows[0]).filter(function (k) {
      var v = rows[0][k];
      return v == null || typeof v !== "object" || isFrames(v) || (Array.isArray(v) && k === "stack");
    });
    var t = el("table"), tr = el("tr");
    keys.forEach(function (k) { tr.appendChild(el("th", null, k.replace(/_/g, " "))); });
    t.appendChild(tr);
    rows.slice(0, limit || 50).forEach(function (r) {
      var row = el("tr");
      keys.forEach(function (k) { row.appendChild(cell(k, r[k], r)); });
      t.appendChild(row);
    });
    return t;
  }
  /* every array of objects in obj (depth 2) as a titled table; returns how many */
  function tables(box, obj, title) {
    var n = 0;
    Object.keys(obj).forEach(function (k) {
      if (SKIP[k]) return;
      var v = obj[k], name = title ? title + " · " + k.replace(/_/g, " ") : k.replace(/_/g, " ");
      if (Array.isArray(v) && v.length && typeof v[0] === "object" && !isFrames(v)) {
        box.appendChild(el("h3", null, name + " (" + v.length + ")"));
        box.appendChild(table(v));
        n++;
      } else if (v && typeof v === "object" && !Array.isArray(v) && !title) {
        n += tables(box, v, name);
      }
    });
    return n;
  }
  function section(id, data, what) {
    var box = $(id), list = asArray(data);
    if (!list.length) {
      box.appendChild(el("p", "empty", typeof what === "function" ? what(null) : what));
      return;
    }
    list.forEach(function (one) {
      if (list.length > 1 && one.process)
        box.appendChild(el("h3", null, procLabel(one.process)));
      if (!tables(box, one, null))
        box.appendChild(el("p", "empty", typeof what === "function" ? what(one) : what));
    });
  }
  /* (a trace recorded with lock profiling on, perfshim run's default, may hold no lock at all:
   * a single-threaded compiler's) */
  section("locks-body", D.locks, function (one) {
    return one && one.lock_profiling
      ? "No lock used: lock profiling was on (PERFSHIM_LOCKS=1), and no mutex, rwlock, " +
        "spinlock, semaphore or condition variable was taken."
      : "No lock data (record with PERFSHIM_LOCKS=1).";
  });
  section("hot-body", D.hot, "No CPU or hot-path data (record with PERFSHIM_CPU_HZ).");

  /* advice: the advise section's JSON (html.c, advice_section) */
  (function () {
    var box = $("advice-body"), a = D.advice;
    if (a == null) {
      box.appendChild(el("p", "empty", "No advice in this report (perfshim advise)."));
    } else if (Array.isArray(a) && a.length && typeof a[0] === "object") {
      box.appendChild(table(a, 200));
    } else if (a && typeof a === "object" && !Array.isArray(a) && tables(box, a, null)) {
      /* drawn */
    } else {
      box.appendChild(el("pre", "json", JSON.stringify(a, null, 2)));
    }
  })();

  /* ---- heap over time --------------------------------------------------------------------- */
  var charts = 0;
  (function () {
    var box = $("heap-body"), tls = asArray(D.timeline), grs = asArray(D.growth);
    if (!tls.length) {
      box.appendChild(el("p", "empty", "No timeline in these traces."));
      return;
    }
    /* the traces of one snapshot say so in one line, not one each (a make's 19 processes) */
    var single = tls.filter(function (tl) { return (tl.timeline || []).length < 2; });
    if (single.length) {
      var who = tls.length > 1 ? single.length + " of " + tls.length + " traces (" +
          single.slice(0, 8).map(function (tl) { return tl.process ? procLabel(tl.process) : "?"; }).join(", ") +
          (single.length > 8 ? ", ..." : "") + ") have one snapshot only" : "One snapshot only";
      var p1 = el("p", "empty", who + ": record with PERFSHIM_INTERVAL (or " +
                                 "perfshim ctl dump) for the heap over time.");
      p1.id = "heap-single";
      box.appendChild(p1);
    }
    tls.forEach(function (tl, ti) {
      var pts = tl.timeline || [], gr = grs[ti];
      if (pts.length < 2) return; /* (said above) */
      if (tls.length > 1 && tl.process)
        box.appendChild(el("h3", null, procLabel(tl.process)));
      var x = [], heap = [], rss = [], sites = (tl.sites || []).map(function () { return []; });
      pts.forEach(function (p) {
        x.push(p.time_ns / 1e9);
        heap.push(p.live_bytes);
        rss.push(p.rss_bytes);
        sites.forEach(function (s, i) { s.push(p.site_live_bytes ? p.site_live_bytes[i] : null); });
      });
      var pal = ["#0550ae", "#888", "#c62828", "#ef6c00", "#2e7d32", "#6a1b9a", "#00838f"];
      var series = [{label: "time", value: function (u, v) { return v == null ? "--" : fmtNs(Math.round(v * 1e9)); }},
                    {label: "live heap", stroke: pal[0], width: 2, value: function (u, v) { return fmtBytes(v); }},
                    {label: "RSS", stroke: pal[1], width: 1, value: function (u, v) { return fmtBytes(v); }}];
      (tl.sites || []).forEach(function (s, i) {
        var cls = growthClass(gr, s.stack);
        series.push({label: "#" + (i + 1) + " " + frameBrief((s.stack || [])[0]) + (cls ? " [" + cls + "]" : ""),
                     stroke: pal[(i + 2) % pal.length], width: 1, dash: [4, 3],
                     value: function (u, v) { return fmtBytes(v); }});
      });
      var div = el("div", "chart");
      box.appendChild(div);
      var w = Math.max(Math.min(box.clientWidth || 900, 1400), 400);
      /* eslint-disable-next-line no-undef */
      new uPlot({width: w, height: 300, series: series,
                 axes: [{values: function (u, vs) { return vs.map(function (v) { return fmtNs(Math.round(v * 1e9)); }); }},
                        {values: function (u, vs) { return vs.map(fmtBytes); }, size: 80}],
                 scales: {x: {time: false}}}, [x, heap, rss].concat(sites), div);
      div.dataset.points = String(x.length);
      charts++;
      if (gr && gr.sites && gr.sites.length) { /* (a series: the classes need one) */
        box.appendChild(el("h3", null, "Growth of the largest sites (perfshim growth)"));
        box.appendChild(table(gr.sites.map(function (s) {
          return {rank: s.rank, "class": s["class"], live_bytes: s.live_bytes,
                  peak_live_bytes: s.peak_live_bytes, bytes_per_second: s.bytes_per_second,
                  time_to_limit_s: s.time_to_limit_s, stack: s.stack};
        })));
      }
    });
  })();
  /* the growth class of the site with these frames (the same addresses), or "" */
  function growthClass(gr, stack) {
    if (!gr || !gr.sites || !stack) return "";
    var key = stack.map(function (f) { return f.address; }).join(",");
    for (var i = 0; i < gr.sites.length; i++) {
      var s = gr.sites[i];
      if (s.stack && s.stack.map(function (f) { return f.address; }).join(",") === key) return s["class"];
    }
    return "";
  }

  document.body.dataset.charts = String(charts);
  document.body.dataset.loadMs = String(Math.round(performance.now()));
  document.body.dataset.ready = "1";

  /* ---- self-test (tests/integration/test_html.py) ------------------------------------------ */
  /* pixels of a canvas that are not transparent */
  function inked(c) {
    var px = c.getContext("2d").getImageData(0, 0, c.width, c.height).data, n = 0;
    for (var i = 3; i < px.length; i += 4) if (px[i]) n++;
    return n;
  }
  /* after uPlot's first commit (a microtask), so that its canvas is drawn */
  if (/selftest/.test(location.hash) && T && T.start[1]) setTimeout(selftest, 0);
  function selftest() {
    var out = {drawn: +canvas.dataset.drawn, zoom_before: canvas.dataset.zoom};
    var target = null;
    for (var i = 0; i < rects.length && !target; i++)
      if (dep[rects[i].n] === 1) target = rects[i];
    var b = canvas.getBoundingClientRect();
    canvas.dispatchEvent(new MouseEvent("click", {bubbles: true, clientX: b.left + target.x + target.w / 2,
                                                  clientY: b.top + target.y + ROW / 2}));
    out.clicked = nameOf(target.n);
    out.zoom_after = canvas.dataset.zoom;
    out.drawn_after = +canvas.dataset.drawn;
    var q = $("flame-search");
    q.value = nameOf(target.n);
    q.dispatchEvent(new Event("input"));
    out.matches = +canvas.dataset.matches;
    q.value = "no-such-frame-anywhere";
    q.dispatchEvent(new Event("input"));
    out.matches_none = +canvas.dataset.matches;
    out.flame_pixels = inked(canvas);
    var c = document.querySelector(".chart canvas");
    out.chart_pixels = c ? inked(c) : 0;
    document.body.dataset.selftest = JSON.stringify(out);
  }
})();
