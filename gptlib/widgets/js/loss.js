// loss.js: the loss-curve widget (chapter 8): training and validation loss against steps.
// Hover or tap the plot: a line marks the step, and the values are written above the plot
// (never on top of the curves).
// data: {title, max_step, curves: [{name, x, y, colour, width, dots}]}

function renderLossWidget(root, model) {
  const data = model.get("data");
  root.appendChild(el("div", "gw-title", data.title));
  const readout = el(
    "div",
    "gw-readout gw-muted",
    "Hover or tap the plot to read the losses at a step.",
  );
  const legend = el("div", "gw-curve-legend");
  data.curves.forEach((c) => {
    const item = el("span", "gw-curve-key");
    const swatch = el("span", "gw-swatch");
    swatch.style.background = c.colour;
    item.append(swatch, document.createTextNode(c.name));
    legend.appendChild(item);
  });
  root.append(legend, readout);

  // Sized to the column it sits in, so the 12 px labels stay 12 px on a phone.
  const W = Math.max(300, Math.min(640, drawWidth(root, 560))),
    H = Math.round(W * 0.5);
  const L = 46,
    R = 14,
    T = 8,
    B = 34;
  const ys = [].concat(...data.curves.map((c) => c.y));
  const x0 = 0,
    x1 = data.max_step || 1;
  let y0 = Math.min(...ys),
    y1 = Math.max(...ys);
  if (y1 - y0 < 1e-6) y1 = y0 + 1;
  const margin = 0.05 * (y1 - y0);
  y0 -= margin;
  y1 += margin;
  const sx = (v) => L + ((W - L - R) * (v - x0)) / (x1 - x0);
  const sy = (v) => T + (H - T - B) * (1 - (v - y0) / (y1 - y0));
  const svg = svgEl("svg", {
    width: W,
    height: H,
    viewBox: "0 0 " + W + " " + H,
    class: "gw-plot",
    role: "img",
    "aria-label": data.title + ": loss against training step",
  });
  svg.appendChild(
    svgEl("rect", {x: L, y: T, width: W - L - R, height: H - T - B, class: "gw-frame"}),
  );
  for (let i = 0; i <= 4; i++) {
    const yv = y0 + ((y1 - y0) * i) / 4,
      xv = x0 + ((x1 - x0) * i) / 4;
    svg.appendChild(
      svgEl(
        "text",
        {x: L - 4, y: sy(yv) + 4, "text-anchor": "end", class: "gw-axis"},
        yv.toFixed(2),
      ),
    );
    svg.appendChild(
      svgEl(
        "text",
        {x: sx(xv), y: H - B + 15, "text-anchor": i === 4 ? "end" : "middle", class: "gw-axis"},
        String(Math.round(xv)),
      ),
    );
  }
  svg.appendChild(
    svgEl(
      "text",
      {x: (L + W - R) / 2, y: H - 3, "text-anchor": "middle", class: "gw-axis"},
      "step",
    ),
  );
  data.curves.forEach((c) => {
    const d = c.x
      .map((x, j) => (j ? "L" : "M") + sx(x).toFixed(1) + "," + sy(c.y[j]).toFixed(1))
      .join("");
    svg.appendChild(svgEl("path", {d, fill: "none", stroke: c.colour, "stroke-width": c.width}));
    if (c.dots)
      c.x.forEach((x, j) =>
        svg.appendChild(svgEl("circle", {cx: sx(x), cy: sy(c.y[j]), r: 3, fill: c.colour})),
      );
  });
  const guide = svgEl("line", {
    x1: 0,
    x2: 0,
    y1: T,
    y2: H - B,
    class: "gw-guide",
    visibility: "hidden",
  });
  svg.appendChild(guide);
  const follow = (ev) => {
    const box = svg.getBoundingClientRect();
    const step = Math.max(
      x0,
      Math.min(x1, x0 + ((ev.clientX - box.left - L) / (W - L - R)) * (x1 - x0)),
    );
    const parts = ["step " + Math.round(step)];
    data.curves.forEach((c) => {
      if (!c.x.length) return;
      let best = 0;
      c.x.forEach((x, j) => {
        if (Math.abs(x - step) < Math.abs(c.x[best] - step)) best = j;
      });
      parts.push(c.name + " " + c.y[best].toFixed(3) + " (step " + c.x[best] + ")");
    });
    readout.textContent = parts.join(" \u00b7 ");
    guide.setAttribute("x1", sx(step));
    guide.setAttribute("x2", sx(step));
    guide.setAttribute("visibility", "visible");
  };
  svg.addEventListener("mousemove", follow);
  svg.addEventListener("click", follow);
  svg.addEventListener("mouseleave", () => guide.setAttribute("visibility", "hidden"));
  const box = el("div", "gw-plotbox");
  box.appendChild(svg);
  root.appendChild(box);
}

RENDERERS.loss = renderLossWidget;
