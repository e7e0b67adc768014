// sampling.js: the sampling explorer (chapter 7): sliders for temperature, top-k and top-p
// reshape a next-token distribution, in the browser. The same sliders drive the live views'
// generation, so what the bars show is what the sampler draws from.
//
// A distribution arrives as `entries`: [logit, count] sorted by logit, most likely first; the
// first entries are single tokens (with labels), and Python may send the rest of a large
// vocabulary as a histogram of rounded logits (a count of tokens per value), which is enough to
// renormalise after any temperature and to count how many tokens a filter keeps.

// reshape(entries, T, k, p) follows gptlib.generation.next_token_probs: temperature, then
// top-k, then top-p. Returns {prob: the probability of ONE token of each entry, kept: how many
// of its tokens survive the filters}. The tests run it in Node against the Python.
function reshape(entries, T, k, p) {
  const n = entries.length,
    kept = [],
    w = [];
  if (T === 0) {
    // greedy: everything on the most likely token
    for (let i = 0; i < n; i++) {
      kept.push(i === 0 ? 1 : 0);
      w.push(i === 0 ? 1 : 0);
    }
    return {prob: w, kept};
  }
  const top = entries[0][0];
  let left = k > 0 ? k : Infinity,
    total = 0;
  for (let i = 0; i < n; i++) {
    // temperature, then top-k: the first k tokens in order
    w.push(Math.exp((entries[i][0] - top) / T));
    kept.push(Math.min(entries[i][1], left));
    left -= kept[i];
    total += kept[i] * w[i];
  }
  if (p < 1) {
    // top-p: keep a token while the tokens ahead of it hold less than p
    let before = 0;
    for (let i = 0; i < n; i++) {
      if (kept[i] === 0) continue;
      const each = w[i] / total,
        had = kept[i];
      kept[i] = before < p ? Math.min(had, Math.ceil((p - before) / each)) : 0;
      before += had * each;
    }
    total = 0;
    for (let i = 0; i < n; i++) total += kept[i] * w[i];
  }
  const prob = [];
  for (let i = 0; i < n; i++) prob.push(kept[i] > 0 ? w[i] / total : 0);
  return {prob, kept};
}

// A slider with its label and value; returns the <input>.
function slider(parent, label, attrs, onInput) {
  const wrap = el("label", "gw-slider");
  wrap.appendChild(el("span", "gw-label", label));
  const input = el("input");
  input.type = "range";
  for (const a in attrs) input.setAttribute(a, attrs[a]);
  input.value = attrs.value;
  const shown = el("b", "gw-value");
  wrap.append(input, shown);
  parent.appendChild(wrap);
  input.addEventListener("input", onInput);
  input.shownValue = shown;
  return input;
}

// The sliders and the bars. options: {temperature, top_k, top_p, k_max, onChange}.
// Returns {show(dist), settings()}: dist = {entries, labels, vocab_size}.
function samplingExplorer(root, options) {
  const controls = el("div", "gw-controls gw-sliders");
  const bars = el("div", "gw-bars"),
    foot = el("div", "gw-muted gw-foot");
  root.append(controls, bars, foot);
  let dist = null;
  const changed = () => {
    draw();
    if (options.onChange) options.onChange();
  };
  const t = slider(
    controls,
    "temperature",
    {min: 0, max: 2, step: 0.05, value: options.temperature, class: "gw-t"},
    changed,
  );
  const k = slider(
    controls,
    "top-k",
    {min: 0, max: options.k_max, step: 1, value: options.top_k, class: "gw-k"},
    changed,
  );
  const p = slider(
    controls,
    "top-p",
    {min: 0.05, max: 1, step: 0.01, value: options.top_p, class: "gw-p"},
    changed,
  );
  function settings() {
    return {
      temperature: parseFloat(t.value),
      top_k: parseInt(k.value, 10),
      top_p: parseFloat(p.value),
    };
  }
  function draw() {
    const s = settings();
    t.shownValue.textContent = s.temperature === 0 ? "0 (greedy)" : s.temperature.toFixed(2);
    k.shownValue.textContent = s.top_k === 0 ? "off" : String(s.top_k);
    p.shownValue.textContent = s.top_p >= 1 ? "off" : s.top_p.toFixed(2);
    if (!dist) return;
    const shown = dist.labels.length,
      r = reshape(dist.entries, s.temperature, s.top_k, s.top_p);
    const base = reshape(dist.entries, 1, 0, 1).prob; // the model's own distribution, for reference
    const scale = Math.max(r.prob[0], base[0]);
    let rest = 0,
      nKept = 0;
    bars.textContent = "";
    for (let i = 0; i < dist.entries.length; i++) {
      nKept += r.kept[i];
      if (i >= shown) {
        rest += r.prob[i] * r.kept[i];
        continue;
      }
      const row = el("div", "gw-bar-row" + (r.kept[i] ? "" : " gw-out"));
      const track = el("span", "gw-track");
      const baseBar = el("span", "gw-base"),
        bar = el("span", "gw-bar");
      baseBar.style.width = ((100 * base[i]) / scale).toFixed(1) + "%";
      bar.style.width = ((100 * r.prob[i]) / scale).toFixed(1) + "%";
      track.append(baseBar, bar);
      row.append(
        el("span", "gw-bar-label", visible(dist.labels[i])),
        track,
        el("span", "gw-bar-value", percent(r.prob[i])),
      );
      bars.appendChild(row);
    }
    foot.textContent =
      "tokens that can be drawn: " +
      nKept +
      " of " +
      dist.vocab_size +
      (dist.vocab_size > shown
        ? " \u00b7 the other " + (dist.vocab_size - shown) + " together: " + percent(rest)
        : "") +
      " \u00b7 grey: the model's own probabilities (temperature 1, no filter)";
    root.setAttribute("data-kept", nKept);
  }
  draw();
  return {
    show(d) {
      dist = d;
      draw();
    },
    settings,
  };
}

// The sampling-explorer widget: one distribution computed in Python (gptlib.widgets.sampling).
function renderSamplingWidget(root, model) {
  const data = model.get("data");
  if (data.title) root.appendChild(el("div", "gw-title", data.title));
  samplingExplorer(root, data).show(data);
}

RENDERERS.sampling = renderSamplingWidget;
