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
  <label>Layer <select id="lp-layer"></select></label>
  <label>Head <select id="lp-head"></select></label>
  <label title="On: the stored attention weights (for Whisper cut from its 30 s window: rows lack the padding mass). Off: raw pre-softmax logits (only when the store holds them).">
    <input type="checkbox" id="lp-softmax" checked> softmax</label>
  <label>Words <select id="lp-from"></select> to <select id="lp-to"></select></label>
  <button id="lp-reset" type="button">whole utterance</button>
</div>
<p id="lp-note" class="note"></p>
<div id="main">
  <div><canvas id="lp-map" width="720" height="720"></canvas>
    <div id="lp-hover" class="hover">hover over the map: query (row) and key (column)</div>
    <p id="lp-padding" class="sub"></p></div>
  <div id="side"><h2>Phone-by-phone attention (<span id="lp-matrix-layer"></span>, head average)</h2>
    <p class="sub">Row a, column b: mean attention mass from query frames of phone class a to key
    frames of class b over the page's utterances with alignments, row-normalised over labelled keys.</p>
    <canvas id="lp-matrix" width="560" height="560"></canvas>
    <div id="lp-matrix-hover" class="hover"></div></div>
</div>
<script type="application/json" id="lp-data">@@DATA@@</script>
<script>
@@JS@@
</script>
</body>
</html>
"""

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 16px; color: #222; background: #fafafa; }
h1 { font-size: 18px; margin: 0 0 2px 0; } h2 { font-size: 14px; margin: 4px 0; }
.sub { color: #555; font-size: 12px; margin: 2px 0 8px 0; max-width: 560px; }
#controls { display: flex; flex-wrap: wrap; gap: 12px; align-items: center; font-size: 13px; margin-bottom: 6px; }
#controls select { font-size: 13px; }
.note { color: #a04000; font-size: 13px; min-height: 1em; margin: 4px 0; }
#main { display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start; }
canvas { background: #fff; border: 1px solid #ccc; image-rendering: pixelated; }
.hover { font-family: ui-monospace, monospace; font-size: 12px; min-height: 3.2em; white-space: pre; margin-top: 4px; }
"""

_JS = r"""
"use strict";
(function () {
  const D = JSON.parse(document.getElementById("lp-data").textContent);
  const $ = (id) => document.getElementById(id);
  const CM = D.colormap;
  const TIER = 18, PAD = 2;
  const cache = new Map();

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
  function utt() { return D.utterances[+$("lp-utt").value]; }
  function labelAt(intervals, t) {
    for (const iv of intervals) if (t >= iv[0] && t < iv[1]) return iv[2];
    return "-";
  }

  // Current map: a Float32Array (T*T) of the chosen head or the head average.
  function currentMap() {
    const u = utt(), layer = $("lp-layer").value, T = u.T, heads = u.heads;
    const useLogits = D.has_logits && !$("lp-softmax").checked && u.logits[layer];
    const entry = useLogits ? u.logits[layer] : u.maps[layer];
    if (!entry) return null;
    const all = decode(entry, heads, T), per = T * T, head = $("lp-head").value;
    if (head !== "avg") return all.subarray(+head * per, (+head + 1) * per);
    const avg = new Float32Array(per);
    for (let h = 0; h < heads; h++) for (let i = 0; i < per; i++) avg[i] += all[h * per + i] / heads;
    return avg;
  }

  function range() {
    const u = utt(), T = u.T;
    if (!zoomed || !u.words.length) return [0, T];
    const a = u.words[+$("lp-from").value], b = u.words[+$("lp-to").value];
    if (!a || !b) return [0, T];
    const r = D.frame_rate_hz;
    let f0 = Math.max(0, Math.floor(a[0] * r)), f1 = Math.min(T, Math.ceil(b[1] * r));
    if (f1 <= f0) { f0 = 0; f1 = T; }
    return [f0, f1];
  }

  // Padding mass of query row i (or of every row, i < 0) of the chosen head or the head average.
  function paddingOf(i) {
    const u = utt(), rows = (u.padding || {})[$("lp-layer").value], head = $("lp-head").value;
    if (!rows) return null;
    const heads = head === "avg" ? rows : [rows[+head]];
    let sum = 0, n = 0;
    for (const r of heads) for (let k = 0; k < r.length; k++) if (i < 0 || k === i) { sum += r[k]; n++; }
    return n ? sum / n : null;
  }
  function showPadding() {
    const p = paddingOf(-1), el = $("lp-padding");
    el.dataset.value = p === null ? "none" : p.toFixed(6);
    el.textContent = p === null ? "" : p > 0
      ? "padding: " + (100 * p).toFixed(1) + " % of the real queries' attention went to keys past the real audio " +
        "(Whisper's 30 s window); the map's rows hold the rest, not renormalised"
      : "padding: 0.0 % (the model attends over the real frames only)";
  }

  let view = null;  // geometry of the last drawing, for hovering
  let zoomed = false;  // false: the whole utterance; true: the chosen word range

  function draw() {
    const u = utt(), T = u.T, m = currentMap(), cv = $("lp-map"), ctx = cv.getContext("2d");
    ctx.clearRect(0, 0, cv.width, cv.height);
    showPadding();
    if (!m) { cv.dataset.checksum = "none"; return; }
    const [f0, f1] = range(), n = f1 - f0;
    const tiers = u.phones.length ? 2 : 0, off = tiers * TIER + PAD;
    const size = Math.min(cv.width, cv.height) - off - 2;
    const cell = size / n;
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
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(tmp, off, off, size, size);
    view = { f0, f1, off, cell, T };
    cv.dataset.checksum = String(checksum);
    cv.dataset.range = f0 + "-" + f1;
    cv.dataset.min = lo.toPrecision(4); cv.dataset.max = hi.toPrecision(4);
    if (tiers) drawTiers(ctx, u, f0, f1, off, cell, size);
  }

  function drawTiers(ctx, u, f0, f1, off, cell, size) {
    const r = D.frame_rate_hz;
    const pos = (t) => off + (t * r - f0) * cell;
    const rows = [[u.words, 0, "#e8eef8", 1.4, "rgba(255,255,255,0.85)"], [u.phones, TIER, "#f4f1e6", 0.5, "rgba(255,255,255,0.35)"]];
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
        // boundaries over the map
        ctx.strokeStyle = line; ctx.lineWidth = lw;
        ctx.beginPath();
        for (const x of [a, b]) { ctx.moveTo(x, off); ctx.lineTo(x, off + size); ctx.moveTo(off, x); ctx.lineTo(off + size, x); }
        ctx.stroke();
        const w = b - a;
        if (w > 7) {
          ctx.fillStyle = "#222";
          const text = ctx.measureText(iv[2]).width > w - 2 ? iv[2].slice(0, Math.max(1, Math.floor(w / 6))) : iv[2];
          ctx.fillText(text, (a + b) / 2, at + TIER / 2);
          ctx.save(); ctx.translate(at + TIER / 2, (a + b) / 2); ctx.rotate(-Math.PI / 2);
          ctx.fillText(text, 0, 0); ctx.restore();
        }
      }
    }
    ctx.restore();
  }

  function hover(ev) {
    if (!view) return;
    const cv = $("lp-map"), rect = cv.getBoundingClientRect();
    const x = (ev.clientX - rect.left) * cv.width / rect.width, y = (ev.clientY - rect.top) * cv.height / rect.height;
    const j = Math.floor((x - view.off) / view.cell) + view.f0, i = Math.floor((y - view.off) / view.cell) + view.f0;
    if (i < view.f0 || i >= view.f1 || j < view.f0 || j >= view.f1) { $("lp-hover").textContent = ""; return; }
    const u = utt(), r = D.frame_rate_hz, m = currentMap(), tq = (i + 0.5) / r, tk = (j + 0.5) / r;
    $("lp-hover").textContent =
      "query frame " + i + "  t=" + tq.toFixed(3) + " s  phone " + labelAt(u.phones, tq) + "  word " + labelAt(u.words, tq) + "\n" +
      "key   frame " + j + "  t=" + tk.toFixed(3) + " s  phone " + labelAt(u.phones, tk) + "  word " + labelAt(u.words, tk) + "\n" +
      "value " + m[i * u.T + j].toPrecision(4) +
      (paddingOf(i) === null ? "" : "  (this query's padding mass " + (100 * paddingOf(i)).toFixed(1) + " %)");
  }

  function drawMatrix() {
    const layer = $("lp-layer").value, pm = D.phone_matrix[layer], cv = $("lp-matrix"), ctx = cv.getContext("2d");
    $("lp-matrix-layer").textContent = layer;
    ctx.clearRect(0, 0, cv.width, cv.height);
    if (!pm || !pm.labels.length) {
      ctx.font = "12px sans-serif"; ctx.fillStyle = "#a04000";
      ctx.fillText("no phone matrix: the utterances have no alignments", 10, 20);
      cv.dataset.checksum = "none"; return;
    }
    const n = pm.labels.length, off = 34, cell = (cv.width - off - 4) / n;
    let hi = 0; for (const row of pm.matrix) for (const v of row) hi = Math.max(hi, v);
    ctx.font = Math.max(7, Math.min(11, cell * 0.8)) + "px sans-serif"; ctx.textAlign = "center"; ctx.textBaseline = "middle";
    for (let a = 0; a < n; a++) {
      ctx.fillStyle = "#222";
      ctx.fillText(pm.labels[a], off / 2, off + (a + 0.5) * cell);
      ctx.save(); ctx.translate(off + (a + 0.5) * cell, off / 2); ctx.rotate(-Math.PI / 2);
      ctx.fillText(pm.labels[a], 0, 0); ctx.restore();
      for (let b = 0; b < n; b++) {
        const c = Math.round((hi > 0 ? pm.matrix[a][b] / hi : 0) * 255);
        ctx.fillStyle = "rgb(" + CM[3 * c] + "," + CM[3 * c + 1] + "," + CM[3 * c + 2] + ")";
        ctx.fillRect(off + b * cell, off + a * cell, Math.ceil(cell), Math.ceil(cell));
      }
    }
    cv.dataset.checksum = String(n);
    cv.onmousemove = (ev) => {
      const rect = cv.getBoundingClientRect();
      const b = Math.floor(((ev.clientX - rect.left) * cv.width / rect.width - off) / cell);
      const a = Math.floor(((ev.clientY - rect.top) * cv.height / rect.height - off) / cell);
      $("lp-matrix-hover").textContent = (a >= 0 && a < n && b >= 0 && b < n)
        ? "query " + pm.labels[a] + " -> key " + pm.labels[b] + ": " + pm.matrix[a][b].toFixed(4) : "";
    };
  }

  function fillWords() {
    const u = utt(), from = $("lp-from"), to = $("lp-to");
    from.innerHTML = ""; to.innerHTML = "";
    u.words.forEach((w, k) => { option(from, k, k + ": " + w[2]); option(to, k, k + ": " + w[2]); });
    from.disabled = to.disabled = !u.words.length;
    if (u.words.length) { from.value = "0"; to.value = String(u.words.length - 1); }
  }
  function fillHeads() {
    const u = utt(), head = $("lp-head"), keep = head.value;
    head.innerHTML = ""; option(head, "avg", "average");
    for (let h = 0; h < u.heads; h++) option(head, h, String(h));
    head.value = [...head.options].some((o) => o.value === keep) ? keep : "avg";
  }

  function init() {
    document.title = "layerprobe attention viewer: " + D.title;
    D.utterances.forEach((u, k) => option($("lp-utt"), k, u.id + " (" + u.T + " frames)"));
    D.layers.forEach((l) => option($("lp-layer"), l, l));
    $("lp-softmax").disabled = !D.has_logits;
    if (!D.has_logits) $("lp-softmax").parentElement.title = "the store holds no pre-softmax logits";
    $("lp-note").textContent = D.note || "";
    fillHeads(); fillWords();
    $("lp-utt").onchange = () => { zoomed = false; fillHeads(); fillWords(); draw(); };
    $("lp-layer").onchange = () => { draw(); drawMatrix(); };
    for (const id of ["lp-head", "lp-softmax"]) $(id).onchange = draw;
    for (const id of ["lp-from", "lp-to"]) $(id).onchange = () => { zoomed = true; draw(); };
    $("lp-reset").onclick = () => { zoomed = false; fillWords(); draw(); };
    $("lp-map").onmousemove = hover;
    draw(); drawMatrix();
    document.body.dataset.ready = "1";
  }
  init();
})();
"""


__all__ = ["page_html"]
