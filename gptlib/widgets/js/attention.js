// attention.js: the attention-map widget (chapter 3) and the attention panel of the live views.
// Pick a layer and a head (buttons, or a head's thumbnail); the heatmap shows that head's
// attention weights over the tokens: row = the query (the position that reads), column = the
// key (the position it reads from); above the diagonal is the future, masked. Hover or tap a
// cell for its value.
//
// Most rows spread their weight thinly (a row of 40 keys averages 0.025), so a linear colour
// scale leaves most maps white. Two scales, named in the legend: "per row" (each row's largest
// weight darkest: where each query looks most) and "absolute" (the square root of the weight,
// which lifts small weights while keeping 0 white and 1 darkest).

const ATTENTION_SCALES = {
  row: {
    label: "per row",
    legend: "colour = weight \u00f7 the row's largest weight",
    high: "row max",
  },
  abs: {label: "absolute", legend: "colour = \u221a weight (0 white, 1 darkest)", high: "1"},
};

// A map source from Python's data: per layer and head, the lower triangle row by row in
// thousandths, as little-endian uint16 in base64 (gptlib.widgets.attention.quantise).
function packedMaps(data) {
  const bytes = Uint8Array.from(atob(data.maps), (c) => c.charCodeAt(0));
  const values = new Uint16Array(bytes.buffer),
    T = data.tokens.length,
    per = (T * (T + 1)) / 2;
  return {
    tokens: data.tokens,
    nLayer: data.n_layer,
    nHead: data.n_head,
    value: (l, h, i, j) => values[(l * data.n_head + h) * per + (i * (i + 1)) / 2 + j] / data.scale,
  };
}

// A map source from the engine: attention[layer][head] a Float32Array of T x T (row-major).
function denseMaps(tokens, attention) {
  const T = tokens.length;
  return {
    tokens,
    nLayer: attention.length,
    nHead: attention[0].length,
    value: (l, h, i, j) => attention[l][h][i * T + j],
  };
}

// The heatmap as SVG markup: one string parsed once is far faster than a thousand
// createElementNS calls while the reader types. Cells as large as `width` allows, at least
// 11 px so that labels stay legible and cells can be tapped (a longer text scrolls sideways).
function heatmapMarkup(labels, width) {
  const T = labels.length;
  const longest = Math.max(1, ...labels.map((t) => Array.from(t).length));
  const pad = Math.min(120, 10 + 7 * longest);
  const cell = Math.max(11, Math.min(22, Math.floor((width - pad - 4) / Math.max(T, 1))));
  const size = pad + T * cell + 4,
    font = Math.min(11, cell);
  const esc = (t) => t.replace(/&/g, "&amp;").replace(/</g, "&lt;");
  const parts = [
    `<svg xmlns="${SVG_NS}" width="${size}" height="${size}" class="gw-map" role="img"
    aria-label="attention heatmap: rows are queries, columns are keys">
    <rect x="${pad}" y="${pad}" width="${T * cell}" height="${T * cell}" class="gw-future"/>`,
  ];
  const label = `class="gw-lab" dominant-baseline="central" font-size="${font}"`;
  for (let i = 0; i < T; i++) {
    const y = pad + i * cell,
      mid = y + cell / 2,
      x = pad + i * cell + cell / 2;
    parts.push(
      `<text x="${pad - 4}" y="${mid}" text-anchor="end" ${label} data-q="${i}"
       >${esc(labels[i])}</text>`,
      `<text x="0" y="0" text-anchor="start" ${label}
       transform="translate(${x},${pad - 4}) rotate(-90)"
       >${esc(labels[i])}</text>`,
    );
    for (let j = 0; j <= i; j++) {
      parts.push(`<rect x="${pad + j * cell}" y="${y}" width="${cell - 1}" height="${cell - 1}"
        class="gw-cell" data-i="${i}" data-j="${j}"/>`);
    }
  }
  return parts.join("") + "</svg>";
}

// The controls, the heatmap, the thumbnails of every head and the legend, drawn into `root`.
// options: {layer, head, scale: "row" | "abs", title}. show(source) draws another text or model.
class AttentionMap {
  constructor(root, options) {
    this.root = root;
    this.state = {
      layer: options.layer || 0,
      head: options.head || 0,
      scale: options.scale || "row",
    };
    this.width = 0;
    this.widthFor = 0;
    if (options.title) root.appendChild(el("div", "gw-title", options.title));
    this.layerRow = el("div", "gw-controls");
    this.headRow = el("div", "gw-controls");
    const scaleRow = el("div", "gw-controls");
    scaleRow.appendChild(el("span", "gw-label", "Colour"));
    this.scaleButtons = Object.keys(ATTENTION_SCALES).map((name) =>
      scaleRow.appendChild(
        button(ATTENTION_SCALES[name].label, () => this.select("scale", name), {scale: name}),
      ),
    );
    this.mapBox = el("div", "gw-mapbox");
    this.thumbBox = el("div", "gw-thumbs");
    const side = el("div", "gw-side");
    side.append(el("div", "gw-label", "All heads of this layer"), this.thumbBox);
    const body = el("div", "gw-body");
    body.append(this.mapBox, side);
    this.legend = el("div", "gw-legend");
    this.info = el("div", "gw-info");
    this.tip = el("div", "gw-tip");
    root.append(this.layerRow, this.headRow, scaleRow, this.legend, body, this.info, this.tip);
    onThemeChange(() => this.paint());
  }

  show(source) {
    this.src = source;
    this.T = source.tokens.length;
    this.labels = source.tokens.map(visible);
    this.rowMax = this.rowMaxima();
    this.state.layer = Math.min(this.state.layer, source.nLayer - 1);
    this.state.head = Math.min(this.state.head, source.nHead - 1);
    this.layerButtons = this.numberButtons(this.layerRow, "Layer", source.nLayer, "layer");
    this.headButtons = this.numberButtons(this.headRow, "Head", source.nHead, "head");
    this.buildHeatmap();
    this.buildThumbs();
    this.info.textContent =
      "Hover or tap a cell: row = query (the token reading), column = key (the token read).";
    this.paint();
  }

  rowMaxima() {
    // for the "per row" scale: the largest weight of each row of each head
    const {src, T} = this,
      max = new Float32Array(src.nLayer * src.nHead * T);
    for (let l = 0; l < src.nLayer; l++)
      for (let h = 0; h < src.nHead; h++)
        for (let i = 0; i < T; i++) {
          let m = 0;
          for (let j = 0; j <= i; j++) m = Math.max(m, src.value(l, h, i, j));
          max[(l * src.nHead + h) * T + i] = m;
        }
    return max;
  }

  numberButtons(row, label, n, kind) {
    row.textContent = "";
    row.appendChild(el("span", "gw-label", label));
    return Array.from({length: n}, (_, i) =>
      row.appendChild(button(String(i + 1), () => this.select(kind, i), {[kind]: i})),
    );
  }

  buildHeatmap() {
    if (!this.width || window.innerWidth !== this.widthFor) {
      // measuring forces a layout: once per size
      this.width = Math.max(280, Math.min(560, drawWidth(this.root, 560)));
      this.widthFor = window.innerWidth;
    }
    this.mapBox.innerHTML = heatmapMarkup(this.labels, this.width);
    const map = this.mapBox.firstChild;
    this.cells = Array.from(map.querySelectorAll(".gw-cell"), (c) => [
      c,
      +c.dataset.i,
      +c.dataset.j,
    ]);
    const describe = (e) => this.describe(e);
    map.addEventListener("mousemove", describe);
    map.addEventListener("click", describe);
    map.addEventListener("mouseleave", () => {
      this.tip.style.display = "none";
    });
  }

  describe(e) {
    // the value under the pointer, in a tip beside it and in the line below the map
    const {tip, labels, state} = this,
      t = e.target;
    if (!t.dataset || t.dataset.i === undefined) {
      tip.style.display = "none";
      return;
    }
    const i = +t.dataset.i,
      j = +t.dataset.j;
    const value = this.src.value(state.layer, state.head, i, j).toFixed(3);
    const text =
      `layer ${state.layer + 1}, head ${state.head + 1}: query \u201c${labels[i]}\u201d ` +
      `(position ${i}) \u2192 key \u201c${labels[j]}\u201d (position ${j}): ${value}`;
    tip.textContent = text;
    this.info.textContent = text;
    // Kept inside the widget: the tip never hides the page around it.
    const box = this.root.getBoundingClientRect();
    tip.style.left =
      Math.min(e.clientX - box.left + 12, Math.max(0, box.width - tip.offsetWidth - 4)) + "px";
    tip.style.top = e.clientY - box.top + 16 + "px";
    tip.style.display = "block";
  }

  buildThumbs() {
    const k = Math.max(2, Math.floor(72 / Math.max(this.T, 1)));
    this.thumbBox.textContent = "";
    this.thumbs = Array.from({length: this.src.nHead}, (_, h) => {
      const tb = button("", () => this.select("head", h), {thumb: h}, "gw-thumb");
      const canvas = el("canvas");
      canvas.width = canvas.height = this.T * k;
      tb.append(canvas, el("div", "gw-thumb-label", "head " + (h + 1)));
      tb.context = canvas.getContext("2d");
      tb.k = k;
      return this.thumbBox.appendChild(tb);
    });
  }

  colourOf(l, h, i, j) {
    const v = this.src.value(l, h, i, j);
    if (this.state.scale === "abs") return Math.sqrt(v);
    const m = this.rowMax[(l * this.src.nHead + h) * this.T + i];
    return m > 0 ? v / m : 0;
  }

  paint() {
    const dark = isDark(),
      {state, T} = this;
    for (const [c, i, j] of this.cells)
      c.setAttribute("fill", heat(this.colourOf(state.layer, state.head, i, j), dark));
    this.thumbs.forEach((tb, h) => {
      tb.context.clearRect(0, 0, T * tb.k, T * tb.k);
      for (let i = 0; i < T; i++)
        for (let j = 0; j <= i; j++) {
          tb.context.fillStyle = heat(this.colourOf(state.layer, h, i, j), dark);
          tb.context.fillRect(j * tb.k, i * tb.k, tb.k, tb.k);
        }
      tb.classList.toggle("gw-active", h === state.head);
    });
    this.layerButtons.forEach((b, i) => b.classList.toggle("gw-active", i === state.layer));
    this.headButtons.forEach((b, i) => b.classList.toggle("gw-active", i === state.head));
    this.scaleButtons.forEach((b) =>
      b.classList.toggle("gw-active", b.dataset.scale === state.scale),
    );
    this.drawLegend(dark);
    for (const name of ["layer", "head", "scale"])
      this.root.setAttribute("data-" + name, state[name]);
  }

  drawLegend(dark) {
    const scale = ATTENTION_SCALES[this.state.scale],
      bar = el("span", "gw-ramp");
    const stops = Array.from({length: 11}, (_, s) => heat(s / 10, dark) + " " + 10 * s + "%");
    bar.style.background = "linear-gradient(to right, " + stops.join(", ") + ")";
    this.legend.textContent = "";
    this.legend.append(
      el("span", "gw-muted", "0"),
      bar,
      el("span", "gw-muted", scale.high),
      el("span", "gw-legend-text", scale.legend),
    );
  }

  select(kind, value) {
    this.state[kind] = value;
    this.paint();
  }
}

// The attention-map widget: maps computed in Python (gptlib.widgets.attention).
function renderAttentionWidget(root, model) {
  const data = model.get("data");
  new AttentionMap(root, {
    layer: data.layer,
    head: data.head,
    scale: data.colour,
    title: data.title,
  }).show(packedMaps(data));
}

RENDERERS.attention = renderAttentionWidget;
