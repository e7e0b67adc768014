"""The attention-map widget (chapter 3): what each head of each layer looks at.

Pick a layer and a head (buttons, or click one of the head thumbnails); the heatmap shows the
head's attention probabilities over the real tokens, row = the query (the position that reads),
column = the key (the position it reads from). Future positions are masked, so the map is a
lower triangle. Hover a cell to read its value.

Everything is one self-contained HTML fragment (``gptlib.widgets.html_widget``): the data as JSON,
the JavaScript and the CSS inline, no CDN, no kernel, no randomness. It works in the static book,
JupyterLab, Notebook 7 and Colab, and nbval can compare its output.

The probabilities travel as integers in thousandths (3 decimals), and only the lower triangle:
n_layer * n_head * n(n+1)/2 small integers.
"""

from __future__ import annotations

import numpy as np

from . import HTMLWidget, html_widget

SCALE = 1000  # probabilities are sent as round(p * SCALE): 3 decimals
MAX_TOKENS = 96  # beyond this the cells get too small to read or hover


def token_label(token: str) -> str:
    """A token as an axis label: whitespace made visible, so " the" and "the" differ on screen."""
    return token.replace(" ", "\u2423").replace("\n", "\u21b5").replace("\t", "\u21e5") or "\u2205"


def quantise(maps: np.ndarray) -> list:
    """[n_layer, n_head, n, n] probabilities -> per layer, per head, the lower triangle row by row
    (row i holds keys 0..i) as integers in thousandths."""
    n = maps.shape[-1]
    rows, cols = np.tril_indices(n)  # row-major: (0,0), (1,0), (1,1), (2,0), ...
    lower = np.rint(maps[..., rows, cols] * SCALE).astype(np.int64)  # [n_layer, n_head, n(n+1)/2]
    return lower.tolist()


def check_maps(tokens, maps) -> np.ndarray:
    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim != 4 or maps.shape[-1] != maps.shape[-2]:
        raise ValueError(f"maps must have shape [n_layer, n_head, n_seq, n_seq], got {maps.shape}")
    if len(tokens) != maps.shape[-1]:
        raise ValueError(f"got {len(tokens)} tokens but the maps cover {maps.shape[-1]} positions")
    if not all(isinstance(t, str) for t in tokens):
        raise TypeError("tokens must be strings (decode each token id first)")
    if maps.shape[-1] > MAX_TOKENS:
        raise ValueError(f"{maps.shape[-1]} tokens is too many to show; keep at most {MAX_TOKENS}")
    if not np.isfinite(maps).all() or maps.min() < 0 or maps.max() > 1 + 1e-6:
        raise ValueError("maps must hold probabilities in [0, 1]")
    if np.abs(np.triu(maps, k=1)).max(initial=0.0) > 1e-6:
        raise ValueError("maps must be causal: a query (row) gives no weight to later keys (columns)")
    return maps


def attention_map_widget(tokens, maps, *, layer: int = 0, head: int = 0, title: str = "Attention maps") -> HTMLWidget:
    """The widget for ``maps`` [n_layer, n_head, n_seq, n_seq] over ``tokens`` (n_seq strings).

    ``layer`` and ``head`` choose what is shown first.
    """
    maps = check_maps(tokens, maps)
    n_layer, n_head = maps.shape[:2]
    if not (0 <= layer < n_layer and 0 <= head < n_head):
        raise ValueError(f"layer must be in [0, {n_layer}) and head in [0, {n_head}), got {layer} and {head}")
    data = {
        "title": title,
        "tokens": [token_label(t) for t in tokens],
        "n_layer": n_layer,
        "n_head": n_head,
        "scale": SCALE,
        "maps": quantise(maps),
        "layer": layer,
        "head": head,
    }
    return html_widget("attention", data, SCRIPT, CSS, title=f"attention-map widget: {n_layer} layers x {n_head} heads")


def attention_widget_for_model(ids, tokens, params, config, **kwargs) -> HTMLWidget:
    """The widget for a NumPy GPT (``params`` in GPT-2 layout) reading the token ids ``ids``."""
    from ..attention import attention_maps

    return attention_map_widget(tokens, attention_maps(ids, params, config), **kwargs)


# The script is the body of function(root, data); see gptlib.widgets.html_widget.
SCRIPT = r"""
var T = data.tokens.length, S = data.scale;
var state = {layer: data.layer, head: data.head};
var SVG = "http://www.w3.org/2000/svg";

function value(l, h, i, j) { return data.maps[l][h][i * (i + 1) / 2 + j] / S; }  // needs j <= i
function colour(v) {  // white (0) to deep blue (1)
  var r = Math.round(255 - v * 247), g = Math.round(255 - v * 207), b = Math.round(255 - v * 148);
  return "rgb(" + r + "," + g + "," + b + ")";
}
function el(tag, cls, text) {
  var e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}
function svg(tag, attrs) {
  var e = document.createElementNS(SVG, tag);
  for (var k in attrs) e.setAttribute(k, attrs[k]);
  return e;
}

root.textContent = "";
root.appendChild(el("div", "gw-title", data.title));

// --- controls: one button per layer, one per head ---
function buttonRow(label, n, kind) {
  var row = el("div", "gw-row");
  row.appendChild(el("span", "gw-label", label));
  var buttons = [];
  for (var i = 0; i < n; i++) {
    var b = el("button", "gw-btn", String(i + 1));
    b.type = "button";
    b.setAttribute("data-" + kind, i);
    b.addEventListener("click", (function (i) { return function () { select(kind, i); }; })(i));
    row.appendChild(b);
    buttons.push(b);
  }
  root.appendChild(row);
  return buttons;
}
var layerButtons = buttonRow("Layer", data.n_layer, "layer");
var headButtons = buttonRow("Head", data.n_head, "head");

// --- the heatmap: rows are queries, columns keys; only the causal lower triangle has cells ---
var body = el("div", "gw-body");
root.appendChild(body);
var cell = Math.max(12, Math.min(22, Math.floor(520 / T)));  // px; the 11px labels need 12
var longest = 1;
for (var t = 0; t < T; t++) longest = Math.max(longest, data.tokens[t].length);
var pad = Math.min(140, 8 + 7 * longest);  // room for the token labels
var size = pad + T * cell + 4;
var map = svg("svg", {width: size, height: size, "class": "gw-map", role: "img",
                      "aria-label": "attention heatmap"});
body.appendChild(map);
map.appendChild(svg("rect", {x: pad, y: pad, width: T * cell, height: T * cell, "class": "gw-future"}));
var cells = [];
for (var i = 0; i < T; i++) {
  var label = svg("text", {x: pad - 4, y: pad + i * cell + cell / 2, "class": "gw-tok gw-tok-q",
                           "text-anchor": "end", "dominant-baseline": "central"});
  label.textContent = data.tokens[i];
  map.appendChild(label);
  var top = svg("text", {x: 0, y: 0, "class": "gw-tok gw-tok-k", "text-anchor": "start",
                         "dominant-baseline": "central",
                         transform: "translate(" + (pad + i * cell + cell / 2) + "," + (pad - 4) + ") rotate(-90)"});
  top.textContent = data.tokens[i];
  map.appendChild(top);
  for (var j = 0; j <= i; j++) {
    var c = svg("rect", {x: pad + j * cell, y: pad + i * cell, width: cell - 1, height: cell - 1,
                         "class": "gw-cell", "data-i": i, "data-j": j});
    map.appendChild(c);
    cells.push(c);
  }
}

// --- all heads of the layer as clickable thumbnails ---
var side = el("div", "gw-side");
side.appendChild(el("div", "gw-label", "All heads of this layer"));
var thumbs = el("div", "gw-thumbs");
side.appendChild(thumbs);
body.appendChild(side);
var k = Math.max(2, Math.floor(72 / T));
var thumbButtons = [];
for (var h = 0; h < data.n_head; h++) {
  var tb = el("button", "gw-thumb");
  tb.type = "button";
  tb.setAttribute("data-thumb", h);
  var canvas = el("canvas");
  canvas.width = T * k; canvas.height = T * k;
  tb.appendChild(canvas);
  tb.appendChild(el("div", "gw-thumb-label", "head " + (h + 1)));
  tb.addEventListener("click", (function (h) { return function () { select("head", h); }; })(h));
  thumbs.appendChild(tb);
  thumbButtons.push(tb);
}

var info = el("div", "gw-info", "Hover a cell: row = query (the token reading), column = key (the token read).");
root.appendChild(info);
var tip = el("div", "gw-tip");
root.appendChild(tip);

function drawThumbs() {
  for (var h = 0; h < data.n_head; h++) {
    var ctx = thumbButtons[h].firstChild.getContext("2d");
    ctx.fillStyle = "#eeeeee";
    ctx.fillRect(0, 0, T * k, T * k);
    for (var i = 0; i < T; i++) for (var j = 0; j <= i; j++) {
      ctx.fillStyle = colour(value(state.layer, h, i, j));
      ctx.fillRect(j * k, i * k, k, k);
    }
  }
}
function draw() {
  for (var n = 0; n < cells.length; n++) {
    var c = cells[n];
    c.setAttribute("fill", colour(value(state.layer, state.head, +c.getAttribute("data-i"), +c.getAttribute("data-j"))));
  }
  layerButtons.forEach(function (b, i) { b.classList.toggle("gw-active", i === state.layer); });
  headButtons.forEach(function (b, i) { b.classList.toggle("gw-active", i === state.head); });
  thumbButtons.forEach(function (b, i) { b.classList.toggle("gw-active", i === state.head); });
  root.setAttribute("data-layer", state.layer);
  root.setAttribute("data-head", state.head);
}
function select(kind, i) {
  var layerChanged = kind === "layer" && i !== state.layer;
  state[kind] = i;
  if (layerChanged) drawThumbs();
  draw();
}

map.addEventListener("mousemove", function (e) {
  var t = e.target;
  if (!t.hasAttribute || !t.hasAttribute("data-i")) { tip.style.display = "none"; return; }
  var i = +t.getAttribute("data-i"), j = +t.getAttribute("data-j");
  var text = "layer " + (state.layer + 1) + ", head " + (state.head + 1) + ": query \u201c" + data.tokens[i] +
    "\u201d (position " + i + ") \u2192 key \u201c" + data.tokens[j] + "\u201d (position " + j + "): " +
    value(state.layer, state.head, i, j).toFixed(3);
  tip.textContent = text;
  info.textContent = text;
  var box = root.getBoundingClientRect();
  tip.style.left = (e.clientX - box.left + 12) + "px";
  tip.style.top = (e.clientY - box.top + 12) + "px";
  tip.style.display = "block";
});
map.addEventListener("mouseleave", function () { tip.style.display = "none"; });

drawThumbs();
draw();
"""

CSS = """
.gptlib-attention { position: relative; font-family: system-ui, sans-serif; font-size: 13px;
  color: #222; background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 8px 10px;
  margin: 6px 0; max-width: 100%; overflow-x: auto; }
.gptlib-attention .gw-title { font-weight: 600; margin-bottom: 4px; }
.gptlib-attention .gw-row { margin: 3px 0; }
.gptlib-attention .gw-label { display: inline-block; min-width: 44px; color: #555; margin-right: 4px; }
.gptlib-attention .gw-btn { font: inherit; min-width: 28px; margin: 1px; padding: 1px 6px; cursor: pointer;
  border: 1px solid #bbb; border-radius: 4px; background: #f7f7f7; color: #222; }
.gptlib-attention .gw-btn.gw-active { background: #0b3a6e; border-color: #0b3a6e; color: #fff; }
.gptlib-attention .gw-body { display: flex; flex-wrap: wrap; gap: 12px; align-items: flex-start; margin-top: 6px; }
.gptlib-attention .gw-map { flex: none; }
.gptlib-attention .gw-future { fill: #eeeeee; }
.gptlib-attention .gw-cell { cursor: crosshair; }
.gptlib-attention .gw-cell:hover { stroke: #e07000; stroke-width: 2; }
.gptlib-attention .gw-tok { font-family: ui-monospace, monospace; font-size: 11px; fill: #333; }
.gptlib-attention .gw-side { max-width: 340px; }
.gptlib-attention .gw-thumbs { display: flex; flex-wrap: wrap; gap: 6px; margin-top: 4px; }
.gptlib-attention .gw-thumb { padding: 3px; border: 2px solid #ddd; border-radius: 4px; background: #fff;
  cursor: pointer; color: #333; font: inherit; font-size: 11px; }
.gptlib-attention .gw-thumb.gw-active { border-color: #e07000; }
.gptlib-attention .gw-thumb canvas { display: block; image-rendering: pixelated; }
.gptlib-attention .gw-info { margin-top: 6px; color: #444; min-height: 1.3em; }
.gptlib-attention .gw-tip { position: absolute; display: none; pointer-events: none; z-index: 10;
  background: #222; color: #fff; padding: 3px 6px; border-radius: 4px; font-size: 12px; white-space: nowrap; }
"""
