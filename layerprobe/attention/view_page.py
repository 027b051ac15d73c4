"""The attention viewer's page: the HTML, CSS and JavaScript templates, filled in by :func:`page_html`.

Part of :mod:`layerprobe.attention.view`: :func:`~layerprobe.attention.view.write_viewer` collects the
data and writes the page; the data's layout is described there.
"""

from __future__ import annotations

import html
import json
from typing import Any, Mapping


def page_html(data: Mapping[str, Any]) -> str:
    """The self-contained page: the templates with the title, the style, the script and ``data`` inline.

    ``data`` is embedded as compact JSON with ``</`` escaped, so that no string in it can close the
    ``<script>`` element that holds it.
    """
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    return (
        _PAGE.replace("@@TITLE@@", html.escape(data["title"]))
        .replace("@@CSS@@", _CSS)
        .replace("@@JS@@", _JS)
        .replace("@@DATA@@", payload)
    )


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>layerprobe attention viewer: @@TITLE@@</title>
<style>
@@CSS@@
</style>
</head>
<body>
<h1>layerprobe attention viewer</h1>
<p id="lp-title" class="sub">@@TITLE@@</p>
<div id="controls">
  <label>Utterance <select id="lp-utt"></select></label>
  <label title="On: the stored attention weights (for Whisper cut from its 30 s window: rows lack the padding mass). Off: raw pre-softmax logits (only when the store holds them).">
    <input type="checkbox" id="lp-softmax" checked> softmax</label>
  <label><span id="lp-range-name">Words</span> <select id="lp-from"></select> to <select id="lp-to"></select></label>
  <button id="lp-reset" type="button">whole utterance</button>
  <label title="How the map's frames are drawn when enlarged: nearest (one flat square per query and key frame) or smooth (bilinear).">
    Image <select id="lp-interp"><option value="nearest">nearest</option><option value="smooth">smooth</option></select></label>
  <label title="Which frames a time (a zoomed range, a boundary) falls on. Overlapping: every frame that overlaps the range, boundaries at their exact times. Centres: the frames whose centre lies in the range, boundaries on frame edges: the frames the phone matrix counts as the phone's.">
    Time to frames <select id="lp-rounding"><option value="edges">overlapping frames</option><option value="centres">frame centres</option></select></label>
  <label title="Rows and columns of the phone-by-phone matrix: the 39 phones, or their articulatory classes.">
    Matrix by <select id="lp-group"></select></label>
</div>
<p id="lp-note" class="note"></p>
<div id="panels"></div>
<script type="application/json" id="lp-data">@@DATA@@</script>
<script>
@@JS@@
</script>
</body>
</html>
"""

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 16px; color: #222; background: #fafafa; }
h1 { font-size: 18px; margin: 0 0 2px 0; } h2 { font-size: 15px; margin: 0 0 2px 0; } h3 { font-size: 13px; margin: 4px 0; }
.sub { color: #555; font-size: 12px; margin: 2px 0 8px 0; max-width: 560px; overflow-wrap: anywhere; }
#controls { display: flex; flex-wrap: wrap; gap: 12px; align-items: center; font-size: 13px; margin-bottom: 6px; }
#controls select, .lp-pickers select { font-size: 13px; }
.lp-pickers { display: flex; gap: 12px; font-size: 13px; margin: 4px 0; }
.note { color: #a04000; font-size: 13px; min-height: 1em; margin: 4px 0; max-width: 1100px; }
#panels { display: flex; flex-wrap: wrap; gap: 28px; align-items: flex-start; }
.lp-panel { min-width: 0; }
.lp-cols { display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start; }
body.lp-multi .lp-cols { flex-direction: column; gap: 8px; }
body.lp-multi .lp-panel { border-left: 3px solid #d0d7e2; padding-left: 12px; }
.lp-with-bar { display: flex; align-items: flex-start; gap: 4px; }
canvas { background: #fff; border: 1px solid #ccc; max-width: 100%; }
canvas.lp-scale { border: none; background: transparent; }
.hover { font-family: ui-monospace, monospace; font-size: 12px; min-height: 3.2em; white-space: pre; margin-top: 4px; }
"""

_JS = r"""
"use strict";
(function () {
  const D = JSON.parse(document.getElementById("lp-data").textContent);
  const $ = (id) => document.getElementById(id);
  const CM = D.colormap, S = D.stores, MULTI = S.length > 1;
  const TIER = 18;
  const MAP_SIZE = MULTI ? 480 : 660, MATRIX_SIZE = MULTI ? 400 : 520, SCALE_W = 56;
  const cache = new Map();
  const sfx = (k) => (k ? "-" + k : "");
  let zoomed = false;  // false: the whole utterance; true: the chosen range of the tier above

  function decode(entry, heads, T) {
    const key = entry.q;
    if (cache.has(key)) return cache.get(key);
    const bin = atob(entry.q), n = bin.length, out = new Float32Array(n), per = T * T;
    for (let i = 0; i < n; i++) {
      const h = Math.floor(i / per), q = bin.charCodeAt(i) / 255;
      out[i] = entry.scale ? q * entry.scale[h] : entry.lo[h] + q * (entry.hi[h] - entry.lo[h]);
    }
    cache.set(key, out);
    return out;
  }
  function option(select, value, text) {
    const o = document.createElement("option"); o.value = value; o.textContent = text; select.appendChild(o);
  }
  // The label at time t: a phone's class with its raw label where they differ other than by case or
  // stress ("IH (ix)", "- (h#)"),
  // a placeholder piece by its times.
  function labelAt(intervals, t) {
    for (const iv of intervals) if (t >= iv[0] && t < iv[1]) {
      if (iv.length > 3) return (iv[2] || "-") + (iv[3].toUpperCase().replace(/[012]$/, "") !== iv[2] ? " (" + iv[3] + ")" : "");
      return iv[2] || "(" + iv[0].toFixed(2) + "-" + iv[1].toFixed(2) + " s)";
    }
    return "-";
  }
  const snap = (x) => Math.round(x * 1e6) / 1e6;  // 0.2 s * 50 Hz is 10, not 10.000000000000002

  // The utterances of every store, in order of first appearance.
  const UTTS = [];
  for (const store of S) for (const u of store.utterances) if (!UTTS.includes(u.id)) UTTS.push(u.id);
  function uttId() { return $("lp-utt").value; }
  function entryOf(k) { return S[k].utterances.find((u) => u.id === uttId()) || null; }
  // The tiers every panel draws: the first store's alignment of the utterance, else placeholder windows.
  function tiers() {
    let found = null;
    for (let k = 0; k < S.length; k++) {
      const u = entryOf(k);
      if (u && u.tiers === "alignment") return u;
      if (u && !found) found = u;
    }
    return found;
  }
  function tierNames() {
    const t = tiers();
    return t && t.tiers === "placeholder" ? ["window", "piece"] : ["word", "phone"];
  }
  // The chosen time range in seconds, or null for the whole utterance.
  function timeRange() {
    const t = tiers();
    if (!zoomed || !t || !t.words.length) return null;
    const a = t.words[+$("lp-from").value], b = t.words[+$("lp-to").value];
    return a && b && b[1] > a[0] ? [a[0], b[1]] : null;
  }
  function toFrame(t, r, end) {
    const x = snap(t * r);
    if ($("lp-rounding").value === "centres") return Math.ceil(snap(x - 0.5));
    return end ? Math.ceil(x) : Math.floor(x);
  }
  function frameRange(k, T) {
    const range = timeRange();
    if (!range) return [0, T];
    const r = S[k].frame_rate_hz;
    let f0 = Math.max(0, toFrame(range[0], r, false)), f1 = Math.min(T, toFrame(range[1], r, true));
    if (f1 <= f0) { f0 = 0; f1 = T; }
    return [f0, f1];
  }
  // A boundary's position in frames: its exact time, or the frame edge the frame centres put it on.
  function edgeFrames(t, r) {
    return $("lp-rounding").value === "centres" ? Math.ceil(snap(t * r - 0.5)) : t * r;
  }

  // Current map of panel k: a Float32Array (T*T) of the chosen head or the head average.
  function currentMap(k) {
    const u = entryOf(k), layer = $("lp-layer" + sfx(k)).value;
    if (!u) return null;
    const T = u.T, heads = u.heads;
    const useLogits = S[k].has_logits && !$("lp-softmax").checked && u.logits[layer];
    const entry = useLogits ? u.logits[layer] : u.maps[layer];
    if (!entry) return null;
    const all = decode(entry, heads, T), per = T * T, head = $("lp-head" + sfx(k)).value;
    if (head !== "avg") return all.subarray(+head * per, (+head + 1) * per);
    const avg = new Float32Array(per);
    for (let h = 0; h < heads; h++) for (let i = 0; i < per; i++) avg[i] += all[h * per + i] / heads;
    return avg;
  }
  function showsLogits(k) {
    const u = entryOf(k);
    return !!(u && S[k].has_logits && !$("lp-softmax").checked && u.logits[$("lp-layer" + sfx(k)).value]);
  }

  // Padding mass of query row i (or of every row, i < 0) of panel k's head or head average.
  function paddingOf(k, i) {
    const u = entryOf(k);
    if (!u) return null;
    const rows = (u.padding || {})[$("lp-layer" + sfx(k)).value], head = $("lp-head" + sfx(k)).value;
    if (!rows) return null;
    const heads = head === "avg" ? rows : [rows[+head]];
    let sum = 0, n = 0;
    for (const r of heads) for (let q = 0; q < r.length; q++) if (i < 0 || q === i) { sum += r[q]; n++; }
    return n ? sum / n : null;
  }
  function showPadding(k) {
    const p = paddingOf(k, -1), el = $("lp-padding" + sfx(k));
    el.dataset.value = p === null ? "none" : p.toFixed(6);
    el.textContent = p === null ? "" : p > 0
      ? "padding: " + (100 * p).toFixed(1) + " % of the real queries' attention went to keys past the real audio " +
        "(Whisper's 30 s window); the map's rows hold the rest, not renormalised"
      : "padding: 0.0 % (the model attends over the real frames only)";
  }

  // A vertical colour scale: the colour map from lo (bottom) to hi (top), three ticks and a label.
  function drawScale(cv, lo, hi, label) {
    const ctx = cv.getContext("2d"), top = 8, bottom = cv.height - 8, x = 4, w = 12;
    ctx.clearRect(0, 0, cv.width, cv.height);
    cv.dataset.lo = lo === null ? "none" : lo.toPrecision(4);
    cv.dataset.hi = hi === null ? "none" : hi.toPrecision(4);
    cv.dataset.label = label;
    if (lo === null) return;
    for (let y = top; y < bottom; y++) {
      const c = Math.round((bottom - 1 - y) / (bottom - top - 1) * 255);
      ctx.fillStyle = "rgb(" + CM[3 * c] + "," + CM[3 * c + 1] + "," + CM[3 * c + 2] + ")";
      ctx.fillRect(x, y, w, 1);
    }
    ctx.strokeStyle = "#666"; ctx.lineWidth = 1; ctx.strokeRect(x + 0.5, top + 0.5, w, bottom - top - 1);
    ctx.fillStyle = "#222"; ctx.font = "10px sans-serif"; ctx.textAlign = "left"; ctx.textBaseline = "middle";
    for (const f of [0, 0.5, 1]) {
      const y = bottom - f * (bottom - top);
      ctx.fillRect(x + w, Math.round(y), 3, 1);
      ctx.fillText((lo + f * (hi - lo)).toPrecision(2), x + w + 5, y);
    }
    ctx.save(); ctx.translate(cv.width - 6, (top + bottom) / 2); ctx.rotate(-Math.PI / 2);
    ctx.textAlign = "center"; ctx.fillText(label, 0, 0); ctx.restore();
  }

  const view = [];  // per panel: geometry of the last drawing, for hovering

  function draw(k) {
    const u = entryOf(k), cv = $("lp-map" + sfx(k)), ctx = cv.getContext("2d"), scale = $("lp-map-scale" + sfx(k));
    ctx.clearRect(0, 0, cv.width, cv.height);
    $("lp-panel-note" + sfx(k)).textContent = !u ? "this store holds no maps of " + uttId()
      : (!S[k].has_logits && !$("lp-softmax").checked ? "this store holds no logits: attention weights shown" : "");
    showPadding(k);
    const m = currentMap(k);
    if (!m) { cv.dataset.checksum = "none"; view[k] = null; drawScale(scale, null, null, ""); return; }
    const T = u.T, [f0, f1] = frameRange(k, T), n = f1 - f0, t = tiers();
    const rows = t && t.phones.length ? 2 : 0, off = rows * TIER + 2;
    const size = Math.min(cv.width, cv.height) - off - 2, cell = size / n;
    let lo = Infinity, hi = -Infinity;
    for (let i = f0; i < f1; i++) for (let j = f0; j < f1; j++) {
      const v = m[i * T + j]; if (v < lo) lo = v; if (v > hi) hi = v;
    }
    const spanv = hi > lo ? hi - lo : 1;
    const img = new ImageData(n, n);
    let checksum = 0;
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
      const c = Math.max(0, Math.min(255, Math.round((m[(i + f0) * T + j + f0] - lo) / spanv * 255)));
      const p = (i * n + j) * 4;
      img.data[p] = CM[3 * c]; img.data[p + 1] = CM[3 * c + 1]; img.data[p + 2] = CM[3 * c + 2]; img.data[p + 3] = 255;
      checksum = (checksum * 31 + c + i) % 1000000007;
    }
    const tmp = document.createElement("canvas"); tmp.width = n; tmp.height = n;
    tmp.getContext("2d").putImageData(img, 0, 0);
    const smooth = $("lp-interp").value === "smooth";
    ctx.imageSmoothingEnabled = smooth;
    if (smooth) ctx.imageSmoothingQuality = "high";
    ctx.drawImage(tmp, off, off, size, size);
    view[k] = { f0, f1, off, cell, T };
    cv.dataset.checksum = String(checksum);
    cv.dataset.range = f0 + "-" + f1;
    cv.dataset.interpolation = smooth ? "smooth" : "nearest";
    cv.dataset.min = lo.toPrecision(4); cv.dataset.max = hi.toPrecision(4);
    drawScale(scale, lo, hi, showsLogits(k) ? "attention logit" : "attention weight");
    if (rows) drawTiers(ctx, t, S[k].frame_rate_hz, f0, off, cell, size, cv);
  }

  function drawTiers(ctx, t, r, f0, off, cell, size, cv) {
    const pos = (time) => off + (edgeFrames(time, r) - f0) * cell;
    const rows = [[t.words, 0, "#e8eef8", 1.2, "rgba(40,40,40,0.55)"], [t.phones, TIER, "#f4f1e6", 0.5, "rgba(40,40,40,0.3)"]];
    const edges = [];
    ctx.save();
    ctx.font = "10px sans-serif"; ctx.textAlign = "center"; ctx.textBaseline = "middle";
    for (const [ivs, at, bg, lw, line] of rows) {
      ctx.fillStyle = bg;
      ctx.fillRect(off, at, size, TIER - 1); ctx.fillRect(at, off, TIER - 1, size);
      for (const iv of ivs) {
        const a = Math.max(off, pos(iv[0])), b = Math.min(off + size, pos(iv[1]));
        if (b <= off || a >= off + size) continue;
        ctx.strokeStyle = "#666"; ctx.lineWidth = 1;
        ctx.beginPath();
        ctx.moveTo(a, at); ctx.lineTo(a, at + TIER - 1); ctx.moveTo(b, at); ctx.lineTo(b, at + TIER - 1);
        ctx.moveTo(at, a); ctx.lineTo(at + TIER - 1, a); ctx.moveTo(at, b); ctx.lineTo(at + TIER - 1, b);
        ctx.stroke();
        // boundaries over the map: thin, dark and semi-transparent, so the map shows through
        ctx.strokeStyle = line; ctx.lineWidth = lw;
        ctx.beginPath();
        for (const x of [a, b]) { ctx.moveTo(x, off); ctx.lineTo(x, off + size); ctx.moveTo(off, x); ctx.lineTo(off + size, x); }
        ctx.stroke();
        if (at === 0) edges.push(a.toFixed(1));
        const w = b - a;
        if (w > 7 && iv[2]) {
          ctx.fillStyle = "#222";
          const text = ctx.measureText(iv[2]).width > w - 2 ? iv[2].slice(0, Math.max(1, Math.floor(w / 6))) : iv[2];
          ctx.fillText(text, (a + b) / 2, at + TIER / 2);
          ctx.save(); ctx.translate(at + TIER / 2, (a + b) / 2); ctx.rotate(-Math.PI / 2);
          ctx.fillText(text, 0, 0); ctx.restore();
        }
      }
    }
    ctx.restore();
    cv.dataset.tiers = t.tiers;
    cv.dataset.edges = edges.join(",");
  }

  function hover(k, ev) {
    const g = view[k], out = $("lp-hover" + sfx(k));
    if (!g) return;
    const cv = $("lp-map" + sfx(k)), rect = cv.getBoundingClientRect();
    const x = (ev.clientX - rect.left) * cv.width / rect.width, y = (ev.clientY - rect.top) * cv.height / rect.height;
    const j = Math.floor((x - g.off) / g.cell) + g.f0, i = Math.floor((y - g.off) / g.cell) + g.f0;
    if (i < g.f0 || i >= g.f1 || j < g.f0 || j >= g.f1) { out.textContent = ""; return; }
    const u = entryOf(k), t = tiers(), r = S[k].frame_rate_hz, m = currentMap(k), tq = (i + 0.5) / r, tk = (j + 0.5) / r;
    const [wn, pn] = tierNames(), ph = t ? t.phones : [], wd = t ? t.words : [];
    const pad = paddingOf(k, i);
    out.textContent =
      "query frame " + i + "  t=" + tq.toFixed(3) + " s  " + pn + " " + labelAt(ph, tq) + "  " + wn + " " + labelAt(wd, tq) + "\n" +
      "key   frame " + j + "  t=" + tk.toFixed(3) + " s  " + pn + " " + labelAt(ph, tk) + "  " + wn + " " + labelAt(wd, tk) + "\n" +
      "value " + m[i * u.T + j].toPrecision(4) +
      (pad === null ? "" : "  (this query's padding mass " + (100 * pad).toFixed(1) + " %)");
  }

  function drawMatrix(k) {
    const layer = $("lp-layer" + sfx(k)).value, group = $("lp-group").value, cv = $("lp-matrix" + sfx(k)), ctx = cv.getContext("2d");
    const scale = $("lp-matrix-scale" + sfx(k)), entry = S[k].phone_matrix[layer];
    const pm = entry ? (entry.groups && entry.groups[group]) || entry : null;
    $("lp-matrix-layer" + sfx(k)).textContent = layer;
    $("lp-matrix-group" + sfx(k)).textContent = group;
    ctx.clearRect(0, 0, cv.width, cv.height);
    cv.onmousemove = null;
    if (!pm || !pm.labels.length) {
      ctx.font = "12px sans-serif"; ctx.fillStyle = "#a04000";
      ctx.fillText("no phone matrix: the utterances have no alignments", 10, 20);
      cv.dataset.checksum = "none"; cv.dataset.labels = ""; drawScale(scale, null, null, ""); return;
    }
    const n = pm.labels.length, longest = Math.max(...pm.labels.map((l) => l.length));
    const font = Math.max(7, Math.min(11, (cv.width - 40) / n * 0.8));
    ctx.font = font + "px sans-serif";
    const off = Math.min(110, Math.max(24, Math.ceil(longest * font * 0.62) + 8)), cell = (cv.width - off - 4) / n;
    let hi = 0; for (const row of pm.matrix) for (const v of row) hi = Math.max(hi, v);
    ctx.textAlign = "center"; ctx.textBaseline = "middle";
    for (let a = 0; a < n; a++) {
      ctx.fillStyle = "#222";
      ctx.textAlign = "right"; ctx.fillText(pm.labels[a], off - 4, off + (a + 0.5) * cell);
      ctx.save(); ctx.translate(off + (a + 0.5) * cell, off - 4); ctx.rotate(-Math.PI / 2);
      ctx.textAlign = "left"; ctx.fillText(pm.labels[a], 0, 0); ctx.restore();
      for (let b = 0; b < n; b++) {
        const c = Math.round((hi > 0 ? pm.matrix[a][b] / hi : 0) * 255);
        ctx.fillStyle = "rgb(" + CM[3 * c] + "," + CM[3 * c + 1] + "," + CM[3 * c + 2] + ")";
        ctx.fillRect(off + b * cell, off + a * cell, Math.ceil(cell), Math.ceil(cell));
      }
    }
    cv.dataset.checksum = String(n);
    cv.dataset.labels = pm.labels.join(",");
    drawScale(scale, 0, hi, "share of the row's mass");
    cv.onmousemove = (ev) => {
      const rect = cv.getBoundingClientRect();
      const b = Math.floor(((ev.clientX - rect.left) * cv.width / rect.width - off) / cell);
      const a = Math.floor(((ev.clientY - rect.top) * cv.height / rect.height - off) / cell);
      $("lp-matrix-hover" + sfx(k)).textContent = (a >= 0 && a < n && b >= 0 && b < n)
        ? "query " + pm.labels[a] + " -> key " + pm.labels[b] + ": " + pm.matrix[a][b].toFixed(4) : "";
    };
  }

  function fillRange() {
    const t = tiers(), from = $("lp-from"), to = $("lp-to"), words = t ? t.words : [];
    from.innerHTML = ""; to.innerHTML = "";
    $("lp-range-name").textContent = t && t.tiers === "placeholder" ? "Windows" : "Words";
    words.forEach((w, n) => {
      const text = t.tiers === "placeholder" ? w[0].toFixed(1) + "-" + w[1].toFixed(1) + " s" : n + ": " + w[2];
      option(from, n, text); option(to, n, text);
    });
    from.disabled = to.disabled = !words.length;
    if (words.length) { from.value = "0"; to.value = String(words.length - 1); }
  }
  function fillHeads(k) {
    const u = entryOf(k), head = $("lp-head" + sfx(k)), keep = head.value;
    head.innerHTML = ""; option(head, "avg", "average");
    for (let h = 0; u && h < u.heads; h++) option(head, h, String(h));
    head.value = [...head.options].some((o) => o.value === keep) ? keep : "avg";
  }
  function drawAll() { for (let k = 0; k < S.length; k++) draw(k); }

  function panel(k) {
    const x = sfx(k), store = S[k], el = document.createElement("section");
    el.className = "lp-panel"; el.dataset.store = String(k);
    el.innerHTML =
      '<h2 class="lp-store-title"></h2><p class="sub lp-store-sub"></p>' +
      '<div class="lp-pickers"><label>Layer <select id="lp-layer' + x + '"></select></label>' +
      '<label>Head <select id="lp-head' + x + '"></select></label></div>' +
      '<p id="lp-panel-note' + x + '" class="note"></p>' +
      '<div class="lp-cols"><div><div class="lp-with-bar"><canvas id="lp-map' + x + '" width="' + MAP_SIZE + '" height="' + MAP_SIZE + '"></canvas>' +
      '<canvas id="lp-map-scale' + x + '" class="lp-scale" width="' + SCALE_W + '" height="' + MAP_SIZE + '"></canvas></div>' +
      '<div id="lp-hover' + x + '" class="hover">hover over the map: query (row) and key (column)</div>' +
      '<p id="lp-padding' + x + '" class="sub"></p></div>' +
      '<div><h3>Phone-by-phone attention (<span id="lp-matrix-layer' + x + '"></span>, head average, by <span id="lp-matrix-group' + x + '"></span>)</h3>' +
      '<p class="sub">Row a, column b: mean attention mass from query frames of class a to key frames of class b ' +
      "over the store's utterances with alignments, row-normalised over labelled keys.</p>" +
      '<div class="lp-with-bar"><canvas id="lp-matrix' + x + '" width="' + MATRIX_SIZE + '" height="' + MATRIX_SIZE + '"></canvas>' +
      '<canvas id="lp-matrix-scale' + x + '" class="lp-scale" width="' + SCALE_W + '" height="' + MATRIX_SIZE + '"></canvas></div>' +
      '<div id="lp-matrix-hover' + x + '" class="hover"></div></div></div>';
    el.querySelector(".lp-store-title").textContent = store.model_name || store.model || "store " + (k + 1);
    el.querySelector(".lp-store-sub").textContent = store.title + " (" + store.store + ")";  // its note is above, with the page's
    $("panels").appendChild(el);
    store.layers.forEach((l) => option($("lp-layer" + x), l, l));
    $("lp-layer" + x).onchange = () => { draw(k); drawMatrix(k); };
    $("lp-head" + x).onchange = () => draw(k);
    $("lp-map" + x).onmousemove = (ev) => hover(k, ev);
  }

  function init() {
    document.title = "layerprobe attention viewer: " + D.title;
    if (MULTI) document.body.classList.add("lp-multi");
    S.forEach((_, k) => panel(k));
    UTTS.forEach((id) => {
      const u = S.map((s) => s.utterances.find((e) => e.id === id)).find((e) => e);
      option($("lp-utt"), id, id + " (" + u.T + " frames)");
    });
    (D.groupings || ["phone"]).forEach((g) => option($("lp-group"), g, g));
    $("lp-softmax").disabled = !S.some((s) => s.has_logits);
    if ($("lp-softmax").disabled) $("lp-softmax").parentElement.title = "the store holds no pre-softmax logits";
    $("lp-note").textContent = MULTI ? S.map((s) => s.note ? (s.model_name || s.model) + ": " + s.note : "").filter((x) => x).join(" ") : (S[0].note || "");
    S.forEach((_, k) => fillHeads(k)); fillRange();
    $("lp-utt").onchange = () => { zoomed = false; S.forEach((_, k) => fillHeads(k)); fillRange(); drawAll(); };
    for (const id of ["lp-softmax", "lp-interp", "lp-rounding"]) $(id).onchange = drawAll;
    for (const id of ["lp-from", "lp-to"]) $(id).onchange = () => { zoomed = true; drawAll(); };
    $("lp-reset").onclick = () => { zoomed = false; fillRange(); drawAll(); };
    $("lp-group").onchange = () => S.forEach((_, k) => drawMatrix(k));
    drawAll(); S.forEach((_, k) => drawMatrix(k));
    document.body.dataset.ready = "1";
  }
  init();
})();
"""


__all__ = ["page_html"]
