// attention.js: the attention-map widget (chapter 3) and the attention panel of the live views.
// Pick a layer and a head (buttons, or a head's thumbnail); the heatmap shows that head's
// attention weights over the tokens: row = the query (the position that reads), column = the key
// (the position it reads from); above the diagonal is the future, masked. Hover or tap a cell.
//
// Most rows spread their weight thinly (a row of 40 keys averages 0.025), so a linear colour
// scale leaves most maps white. Two scales, named in the legend: "per row" (each row's largest
// weight darkest: where each query looks most) and "absolute" (the square root of the weight,
// which lifts small weights while keeping 0 white and 1 darkest).

const ATTENTION_SCALES = {
  row: {label: "per row", legend: "colour = weight \u00f7 the row's largest weight"},
  abs: {label: "absolute", legend: "colour = \u221a weight (0 white, 1 darkest)"},
};

// A map source from Python's data: lower triangles of integers (weight x scale), row by row.
function packedMaps(data) {
  return {
    tokens: data.tokens, nLayer: data.n_layer, nHead: data.n_head,
    value: (l, h, i, j) => data.maps[l][h][i * (i + 1) / 2 + j] / data.scale,  // needs j <= i
  };
}

// A map source from the engine: attention[layer][head] a Float32Array of T x T (row-major).
function denseMaps(tokens, attention) {
  const T = tokens.length;
  return {
    tokens, nLayer: attention.length, nHead: attention[0].length,
    value: (l, h, i, j) => attention[l][h][i * T + j],
  };
}

// Draws into `root` and returns {show(source)} to draw another text or model in the same place.
// options: {layer, head, scale: "row" | "abs", title}
function attentionMap(root, source, options) {
  const state = {layer: options.layer || 0, head: options.head || 0, scale: options.scale || "row"};
  let src = null, T = 0, rowMax = null, cells = [], thumbs = [], layerButtons = [], headButtons = [];
  let width = 0, widthFor = 0;
  if (options.title) root.appendChild(el("div", "gw-title", options.title));
  const layerRow = el("div", "gw-controls"), headRow = el("div", "gw-controls");
  const scaleRow = el("div", "gw-controls");
  scaleRow.appendChild(el("span", "gw-label", "Colour"));
  const scaleButtons = Object.keys(ATTENTION_SCALES).map((name) => {
    const b = button(ATTENTION_SCALES[name].label, () => { state.scale = name; paint(); }, {scale: name});
    scaleRow.appendChild(b);
    return b;
  });
  const body = el("div", "gw-body");
  const mapBox = el("div", "gw-mapbox");
  const side = el("div", "gw-side");
  side.appendChild(el("div", "gw-label", "All heads of this layer"));
  const thumbBox = el("div", "gw-thumbs");
  side.appendChild(thumbBox);
  body.append(mapBox, side);
  const legend = el("div", "gw-legend");
  const info = el("div", "gw-info");
  const tip = el("div", "gw-tip");
  root.append(layerRow, headRow, scaleRow, legend, body, info, tip);

  function colourOf(l, h, i, j) {
    const v = src.value(l, h, i, j);
    if (state.scale === "row") {
      const m = rowMax[(l * src.nHead + h) * T + i];
      return m > 0 ? v / m : 0;
    }
    return Math.sqrt(v);
  }

  function buttons(rowEl, label, n, kind) {
    rowEl.textContent = "";
    rowEl.appendChild(el("span", "gw-label", label));
    const list = [];
    for (let i = 0; i < n; i++) {
      const b = button(String(i + 1), () => select(kind, i), {[kind]: i});
      rowEl.appendChild(b);
      list.push(b);
    }
    return list;
  }

  function build() {
    T = src.tokens.length;
    const labels = src.tokens.map(visible);
    rowMax = new Float32Array(src.nLayer * src.nHead * T);
    for (let l = 0; l < src.nLayer; l++) for (let h = 0; h < src.nHead; h++) for (let i = 0; i < T; i++) {
      let m = 0;
      for (let j = 0; j <= i; j++) m = Math.max(m, src.value(l, h, i, j));
      rowMax[(l * src.nHead + h) * T + i] = m;
    }
    state.layer = Math.min(state.layer, src.nLayer - 1);
    state.head = Math.min(state.head, src.nHead - 1);
    layerButtons = buttons(layerRow, "Layer", src.nLayer, "layer");
    headButtons = buttons(headRow, "Head", src.nHead, "head");

    // Cells as large as the width allows (a phone gets smaller ones), at least 11 px so that
    // labels stay legible and cells can be tapped; a longer text scrolls sideways.
    const longest = Math.max(1, ...labels.map((t) => Array.from(t).length));
    const pad = Math.min(120, 10 + 7 * longest);
    if (!width || window.innerWidth !== widthFor) {  // measured once per window size: it forces a layout
      width = Math.max(280, Math.min(560, drawWidth(root, 560)));
      widthFor = window.innerWidth;
    }
    const cell = Math.max(11, Math.min(22, Math.floor((width - pad - 4) / Math.max(T, 1))));
    const size = pad + T * cell + 4;
    const font = Math.min(11, cell);
    // One string parsed once: far faster than a thousand createElementNS calls while typing.
    const esc = (t) => t.replace(/&/g, "&amp;").replace(/</g, "&lt;");
    const parts = ['<svg xmlns="' + SVG_NS + '" width="' + size + '" height="' + size + '" class="gw-map" role="img" ' +
      'aria-label="attention heatmap: rows are queries, columns are keys">' +
      '<rect x="' + pad + '" y="' + pad + '" width="' + T * cell + '" height="' + T * cell + '" class="gw-future"/>'];
    for (let i = 0; i < T; i++) {
      const y = pad + i * cell, mid = pad + i * cell + cell / 2;
      parts.push('<text x="' + (pad - 4) + '" y="' + mid + '" class="gw-lab gw-tok-q" text-anchor="end" ' +
        'dominant-baseline="central" font-size="' + font + '">' + esc(labels[i]) + '</text>' +
        '<text x="0" y="0" class="gw-lab gw-tok-k" text-anchor="start" dominant-baseline="central" font-size="' + font +
        '" transform="translate(' + mid + ',' + (pad - 4) + ') rotate(-90)">' + esc(labels[i]) + '</text>');
      for (let j = 0; j <= i; j++) {
        parts.push('<rect x="' + (pad + j * cell) + '" y="' + y + '" width="' + (cell - 1) + '" height="' + (cell - 1) +
          '" class="gw-cell" data-i="' + i + '" data-j="' + j + '"/>');
      }
    }
    mapBox.innerHTML = parts.join("") + "</svg>";
    const map = mapBox.firstChild;
    cells = Array.from(map.querySelectorAll(".gw-cell"), (c) => [c, +c.getAttribute("data-i"), +c.getAttribute("data-j")]);
    const describe = (e) => {
      const t = e.target;
      if (!t.hasAttribute || !t.hasAttribute("data-i")) { tip.style.display = "none"; return; }
      const i = +t.getAttribute("data-i"), j = +t.getAttribute("data-j");
      const text = "layer " + (state.layer + 1) + ", head " + (state.head + 1) + ": query \u201c" + labels[i] +
        "\u201d (position " + i + ") \u2192 key \u201c" + labels[j] + "\u201d (position " + j + "): " +
        src.value(state.layer, state.head, i, j).toFixed(3);
      tip.textContent = text;
      info.textContent = text;
      const box = root.getBoundingClientRect();
      // Beside the pointer, kept inside the widget so that it never hides the page.
      const x = Math.min(e.clientX - box.left + 12, Math.max(0, box.width - tip.offsetWidth - 4));
      tip.style.left = x + "px";
      tip.style.top = (e.clientY - box.top + 16) + "px";
      tip.style.display = "block";
    };
    map.addEventListener("mousemove", describe);
    map.addEventListener("click", describe);
    map.addEventListener("mouseleave", () => { tip.style.display = "none"; });

    const k = Math.max(2, Math.floor(72 / Math.max(T, 1)));
    thumbBox.textContent = "";
    thumbs = [];
    for (let h = 0; h < src.nHead; h++) {
      const tb = button("", () => select("head", h), {thumb: h}, "gw-thumb");
      const canvas = el("canvas");
      canvas.width = T * k; canvas.height = T * k;
      tb.append(canvas, el("div", "gw-thumb-label", "head " + (h + 1)));
      thumbBox.appendChild(tb);
      thumbs.push(tb);
    }
    info.textContent = "Hover or tap a cell: row = query (the token reading), column = key (the token read).";
  }

  function drawThumbs() {
    const dark = isDark(), k = thumbs.length ? thumbs[0].firstChild.width / Math.max(T, 1) : 1;
    thumbs.forEach((tb, h) => {
      const ctx = tb.context || (tb.context = tb.firstChild.getContext("2d"));
      ctx.clearRect(0, 0, T * k, T * k);
      for (let i = 0; i < T; i++) for (let j = 0; j <= i; j++) {
        ctx.fillStyle = heat(colourOf(state.layer, h, i, j), dark);
        ctx.fillRect(j * k, i * k, k, k);
      }
    });
  }

  function paint() {
    const dark = isDark();
    for (const [c, i, j] of cells) c.setAttribute("fill", heat(colourOf(state.layer, state.head, i, j), dark));
    drawThumbs();
    layerButtons.forEach((b, i) => b.classList.toggle("gw-active", i === state.layer));
    headButtons.forEach((b, i) => b.classList.toggle("gw-active", i === state.head));
    thumbs.forEach((b, i) => b.classList.toggle("gw-active", i === state.head));
    scaleButtons.forEach((b) => b.classList.toggle("gw-active", b.getAttribute("data-scale") === state.scale));
    drawLegend(dark);
    root.setAttribute("data-layer", state.layer);
    root.setAttribute("data-head", state.head);
    root.setAttribute("data-scale", state.scale);
  }

  function drawLegend(dark) {
    legend.textContent = "";
    const bar = el("span", "gw-ramp");
    const stops = [];
    for (let s = 0; s <= 10; s++) stops.push(heat(s / 10, dark) + " " + (10 * s) + "%");
    bar.style.background = "linear-gradient(to right, " + stops.join(", ") + ")";
    legend.append(el("span", "gw-muted", state.scale === "row" ? "0" : "0"), bar,
      el("span", "gw-muted", state.scale === "row" ? "row max" : "1"),
      el("span", "gw-legend-text", ATTENTION_SCALES[state.scale].legend));
  }

  function select(kind, i) {
    state[kind] = i;
    paint();
  }

  onThemeChange(() => paint());
  const api = {
    show(source) {
      src = source;
      build();
      paint();
    },
  };
  api.show(source);
  return api;
}

// The attention-map widget: maps computed in Python (gptlib.widgets.attention).
function renderAttentionWidget(root, model) {
  const data = model.get("data");
  attentionMap(root, packedMaps(data), {layer: data.layer, head: data.head, scale: data.colour, title: data.title});
}

RENDERERS.attention = renderAttentionWidget;
