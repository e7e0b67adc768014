"""The loss-curve widget (chapter 7): training and validation loss against steps, hover for values.

Self-contained HTML + JavaScript (an inline SVG, drawn in the browser), so it works in the static
book with no kernel. Data is rounded to 3 decimals and thinned to at most ``max_points`` per curve.
"""

from __future__ import annotations

import math

from . import html_widget

_SCRIPT = r"""
var W = 560, H = 260, L = 48, R = 12, T = 12, B = 34;
var all = [];
data.curves.forEach(function (c) { c.y.forEach(function (v) { all.push(v); }); });
var x0 = 0, x1 = data.max_step || 1;
var y0 = Math.min.apply(null, all), y1 = Math.max.apply(null, all);
if (y1 - y0 < 1e-6) { y1 = y0 + 1; }
var pad = 0.05 * (y1 - y0); y0 -= pad; y1 += pad;
function sx(v) { return L + (W - L - R) * (v - x0) / (x1 - x0); }
function sy(v) { return T + (H - T - B) * (1 - (v - y0) / (y1 - y0)); }
var ns = "http://www.w3.org/2000/svg";
function el(name, attrs, text) {
  var e = document.createElementNS(ns, name);
  for (var k in attrs) { e.setAttribute(k, attrs[k]); }
  if (text !== undefined) { e.textContent = text; }
  return e;
}
var svg = el("svg", {width: W, height: H, viewBox: "0 0 " + W + " " + H});
svg.appendChild(el("rect", {x: L, y: T, width: W - L - R, height: H - T - B, fill: "none", stroke: "#999"}));
for (var i = 0; i <= 4; i++) {
  var yv = y0 + (y1 - y0) * i / 4, xv = x0 + (x1 - x0) * i / 4;
  svg.appendChild(el("text", {x: L - 4, y: sy(yv) + 4, "text-anchor": "end", "font-size": 11}, yv.toFixed(2)));
  svg.appendChild(el("text", {x: sx(xv), y: H - B + 14, "text-anchor": "middle", "font-size": 11}, Math.round(xv)));
}
svg.appendChild(el("text", {x: (L + W - R) / 2, y: H - 4, "text-anchor": "middle", "font-size": 12}, "step"));
var legendY = T + 14;
data.curves.forEach(function (c) {
  var d = c.x.map(function (x, j) { return (j ? "L" : "M") + sx(x).toFixed(1) + "," + sy(c.y[j]).toFixed(1); }).join("");
  svg.appendChild(el("path", {d: d, fill: "none", stroke: c.color, "stroke-width": c.width || 1.5}));
  c.x.forEach(function (x, j) {
    if (c.dots) { svg.appendChild(el("circle", {cx: sx(x), cy: sy(c.y[j]), r: 3, fill: c.color})); }
  });
  svg.appendChild(el("text", {x: W - R - 6, y: legendY, "text-anchor": "end", "font-size": 12, fill: c.color}, c.name));
  legendY += 16;
});
var tip = el("text", {x: L + 6, y: T + 14, "font-size": 12, fill: "#333"}, "");
svg.appendChild(tip);
svg.addEventListener("mousemove", function (ev) {
  var box = svg.getBoundingClientRect();
  var step = x0 + (ev.clientX - box.left - L) / (W - L - R) * (x1 - x0);
  var parts = ["step " + Math.max(0, Math.round(step))];
  data.curves.forEach(function (c) {
    var best = 0;
    c.x.forEach(function (x, j) { if (Math.abs(x - step) < Math.abs(c.x[best] - step)) { best = j; } });
    if (c.x.length) { parts.push(c.name + " " + c.y[best].toFixed(3)); }
  });
  tip.textContent = parts.join("   ");
});
root.appendChild(svg);
"""

_CSS = ".gptlib-loss svg { font-family: sans-serif; background: #fff; }"


def _thin(xs, ys, max_points):
    stride = max(1, math.ceil(len(xs) / max_points))
    return [int(x) for x in xs[::stride]], [round(float(y), 3) for y in ys[::stride]]


def loss_widget(history: dict, max_points: int = 300, title: str = "loss curves"):
    """A widget of a run's ``history`` (as in metrics.json): per-step training loss, evaluated train/val."""
    steps, losses = history.get("step", []), history.get("loss", [])
    if not steps and not history.get("evals"):
        raise ValueError("the history is empty: train for at least one step first")
    curves = []
    if steps:
        x, y = _thin(steps, losses, max_points)
        curves.append({"name": "batch loss", "x": x, "y": y, "color": "#9ecae1", "width": 1})
    evals = history.get("evals", [])
    for split, color in (("train", "#1f77b4"), ("val", "#d62728")):
        pts = [(e["step"], e[split]) for e in evals if split in e]
        if pts:
            x, y = _thin([p[0] for p in pts], [p[1] for p in pts], max_points)
            curves.append({"name": f"{split} (eval)", "x": x, "y": y, "color": color, "dots": True, "width": 2})
    max_step = max(max(c["x"]) for c in curves if c["x"])
    return html_widget("loss", {"curves": curves, "max_step": max_step}, _SCRIPT, _CSS, title=title)
