"""The sampling explorer (chapter 6): sliders for temperature, top-k and top-p reshape a real
next-token distribution, in the browser.

All the arithmetic runs in JavaScript (``RESHAPE_JS``), so the widget works in the static book
with no kernel; it follows ``gptlib.generation.next_token_probs`` (temperature, then top-k, then
top-p), and the tests run it with Node to check that it does.

To stay small the widget carries the ``n_show`` most likely tokens one by one and the rest of
the vocabulary as a histogram of logits (rounded to 0.01, with a count per value), which is
enough to renormalise after any temperature and to count how many tokens a filter keeps.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from . import HTMLWidget, html_widget

# reshape(entries, T, k, p): entries are [logit, count] sorted by logit, most likely first.
# Returns {prob: probability of ONE token of each entry, kept: how many of its tokens survive}.
RESHAPE_JS = r"""
function reshape(entries, T, k, p) {
  var n = entries.length, kept = [], w = [], i;
  if (T === 0) {  // greedy: everything on the most likely token
    for (i = 0; i < n; i++) { kept.push(i === 0 ? 1 : 0); w.push(i === 0 ? 1 : 0); }
    return {prob: w, kept: kept};
  }
  var top = entries[0][0], left = k > 0 ? k : Infinity, total = 0;
  for (i = 0; i < n; i++) {  // temperature, then top-k: the first k tokens in order
    w.push(Math.exp((entries[i][0] - top) / T));
    kept.push(Math.min(entries[i][1], left));
    left -= kept[i];
    total += kept[i] * w[i];
  }
  if (p < 1) {  // top-p: keep a token while the tokens ahead of it hold less than p
    var before = 0;
    for (i = 0; i < n; i++) {
      if (kept[i] === 0) continue;
      var each = w[i] / total, had = kept[i];
      kept[i] = before < p ? Math.min(had, Math.ceil((p - before) / each)) : 0;
      before += had * each;
    }
    total = 0;
    for (i = 0; i < n; i++) total += kept[i] * w[i];
  }
  var prob = [];
  for (i = 0; i < n; i++) prob.push(kept[i] > 0 ? w[i] / total : 0);
  return {prob: prob, kept: kept};
}
"""

_DRAW_JS = r"""
var entries = data.entries, shown = data.labels.length;
var html = '<div class="gs-title"></div><div class="gs-controls">'
  + '<label>temperature <input type="range" class="gs-t" min="0" max="2" step="0.05"> <b class="gs-tv"></b></label>'
  + '<label>top-k <input type="range" class="gs-k" min="0" max="' + data.k_max + '" step="1"> <b class="gs-kv"></b></label>'
  + '<label>top-p <input type="range" class="gs-p" min="0.05" max="1" step="0.01"> <b class="gs-pv"></b></label>'
  + '</div><div class="gs-bars"></div><div class="gs-foot"></div>';
root.innerHTML = html;
root.querySelector(".gs-title").textContent = data.title;
var t = root.querySelector(".gs-t"), k = root.querySelector(".gs-k"), p = root.querySelector(".gs-p");
t.value = data.temperature; k.value = data.top_k; p.value = data.top_p;
var base = reshape(entries, 1, 0, 1).prob;  // the model's own distribution, for reference
function esc(s) { return s.replace(/&/g, "&amp;").replace(/</g, "&lt;"); }
function draw() {
  var T = parseFloat(t.value), K = parseInt(k.value), P = parseFloat(p.value);
  root.querySelector(".gs-tv").textContent = T === 0 ? "0 (greedy)" : T.toFixed(2);
  root.querySelector(".gs-kv").textContent = K === 0 ? "off" : K;
  root.querySelector(".gs-pv").textContent = P >= 1 ? "off" : P.toFixed(2);
  var r = reshape(entries, T, K, P), rows = "", rest = 0, nkept = 0, i;
  var scale = Math.max(r.prob[0], base[0]);
  for (i = 0; i < entries.length; i++) {
    nkept += r.kept[i];
    if (i >= shown) { rest += r.prob[i] * r.kept[i]; continue; }
    rows += '<div class="gs-row' + (r.kept[i] ? '' : ' gs-out') + '"><span class="gs-lab">' + esc(data.labels[i])
      + '</span><span class="gs-track"><span class="gs-base" style="width:' + (100 * base[i] / scale).toFixed(1)
      + '%"></span><span class="gs-bar" style="width:' + (100 * r.prob[i] / scale).toFixed(1)
      + '%"></span></span><span class="gs-val">' + (100 * r.prob[i]).toFixed(1) + '%</span></div>';
  }
  root.querySelector(".gs-bars").innerHTML = rows;
  root.querySelector(".gs-foot").textContent = "tokens that can be drawn: " + nkept + " of " + data.vocab_size
    + (data.vocab_size > shown ? " · the other " + (data.vocab_size - shown) + " tokens together: "
       + (100 * rest).toFixed(1) + "%" : "") + " · grey: the model's own probabilities (T = 1, no filter)";
}
[t, k, p].forEach(function (el) { el.addEventListener("input", draw); });
draw();
"""

_CSS = """
.gptlib-sampling {font-family: sans-serif; font-size: 13px; max-width: 640px; margin: 6px 0;}
.gptlib-sampling .gs-title {font-weight: bold; margin-bottom: 4px; white-space: pre-wrap;}
.gptlib-sampling .gs-controls label {display: inline-block; margin-right: 14px;}
.gptlib-sampling .gs-controls input {vertical-align: middle; width: 110px;}
.gptlib-sampling .gs-row {display: flex; align-items: center; height: 17px;}
.gptlib-sampling .gs-lab {width: 90px; text-align: right; padding-right: 6px; font-family: monospace;
  white-space: pre; overflow: hidden;}
.gptlib-sampling .gs-track {position: relative; flex: 1; height: 12px;}
.gptlib-sampling .gs-base {position: absolute; left: 0; top: 0; height: 12px; background: #ddd;}
.gptlib-sampling .gs-bar {position: absolute; left: 0; top: 3px; height: 6px; background: #2a6fb0;}
.gptlib-sampling .gs-out .gs-lab {color: #aaa; text-decoration: line-through;}
.gptlib-sampling .gs-val {width: 52px; text-align: right; font-family: monospace;}
.gptlib-sampling .gs-foot {color: #555; margin-top: 4px;}
"""


def visible(label: str) -> str:
    """Make spaces and line breaks visible in a token's label."""
    return label.replace(" ", "␣").replace("\n", "⏎").replace("\t", "⇥")


def explorer_data(logits, labels, *, n_show=20, temperature=1.0, top_k=None, top_p=None, title=""):
    """The widget's data: the n_show most likely tokens, then the rest as a logit histogram."""
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim != 1 or logits.size < 2:
        raise ValueError(f"logits must be one row [vocab_size] with at least 2 tokens, got shape {logits.shape}")
    if not np.all(np.isfinite(logits)):
        raise ValueError("logits must be finite")
    label_of = labels if callable(labels) else (lambda i: labels[i])
    if not callable(labels) and len(labels) != logits.size:
        raise ValueError(f"got {len(labels)} labels for {logits.size} logits")
    from ..generation import check_sampling

    check_sampling(temperature, top_k, top_p)
    order = np.argsort(-logits, kind="stable")
    n_show = min(n_show, logits.size)
    head = [[round(float(logits[i]), 3), 1] for i in order[:n_show]]
    tail_values, tail_counts = np.unique(np.round(logits[order[n_show:]], 2), return_counts=True)
    tail = [[float(v), int(c)] for v, c in zip(tail_values[::-1], tail_counts[::-1])]  # most likely first
    return {
        "entries": head + tail,
        "labels": [visible(str(label_of(int(i)))) for i in order[:n_show]],
        "vocab_size": int(logits.size),
        "k_max": int(min(logits.size, 100)),
        "temperature": float(temperature),
        "top_k": int(top_k or 0),
        "top_p": float(top_p or 1.0),
        "title": title,
    }


def sampling_explorer(
    logits,
    labels: Sequence[str] | Callable[[int], str],
    *,
    n_show: int = 20,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    title: str = "Next-token distribution",
) -> HTMLWidget:
    """A widget: the next-token distribution of ``logits`` [vocab_size], with sliders.

    labels: the text of each token id (a list, or a function id -> str). The sliders start at
    ``temperature``, ``top_k`` and ``top_p`` (top-k 0 and top-p 1 mean "off").
    """
    data = explorer_data(
        logits, labels, n_show=n_show, temperature=temperature, top_k=top_k, top_p=top_p, title=title
    )
    return html_widget("sampling", data, RESHAPE_JS + _DRAW_JS, _CSS, title="sampling explorer")
