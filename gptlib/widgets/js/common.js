// common.js: the helpers every gptlib widget uses. The widget files are plain scripts that
// gptlib.widgets.bundle() concatenates into one ES module per widget (common.js first, the
// widget's own files next, widget.js last), so these names are in scope in every widget.

// Each widget file registers its render function here under the widget's kind; widget.js calls it.
const RENDERERS = {};

const SVG_NS = "http://www.w3.org/2000/svg";

// An HTML element with an optional class and text.
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = text;
  return e;
}

// An SVG element with attributes (and optional text).
function svgEl(tag, attrs, text) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
  if (text !== undefined && text !== null) e.textContent = text;
  return e;
}

// A button that calls onClick; `data` becomes data-* attributes (the tests find buttons by them).
function button(label, onClick, data, cls) {
  const b = el("button", "gw-btn" + (cls ? " " + cls : ""), label);
  b.type = "button";
  for (const k in data || {}) b.setAttribute("data-" + k, data[k]);
  b.addEventListener("click", onClick);
  return b;
}

// A token as a label: whitespace made visible, so " the" and "the" differ on screen. The same
// glyphs as gptlib.widgets.visible, which the chapters use when they print tokens.
function visible(token) {
  return (
    token.replace(/ /g, "\u2423").replace(/\n/g, "\u21b5").replace(/\t/g, "\u21e5") || "\u2205"
  );
}

// Whether the page around the widget is dark: the book's theme switch (data-theme on <html>),
// JupyterLab's theme (data-jp-theme-light on <body>), else the system's preference.
function isDark() {
  const theme = document.documentElement.getAttribute("data-theme");
  if (theme) return theme === "dark";
  const jp = document.body && document.body.getAttribute("data-jp-theme-light");
  if (jp) return jp === "false";
  return !!(window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches);
}

// Calls f whenever the page switches between light and dark (for what CSS cannot restyle:
// the gw-dark class, canvas pixels). Returns a function that stops watching.
function onThemeChange(f) {
  const changed = () => f(isDark());
  const watch = new MutationObserver(changed);
  watch.observe(document.documentElement, {attributes: true, attributeFilter: ["data-theme"]});
  if (document.body)
    watch.observe(document.body, {attributes: true, attributeFilter: ["data-jp-theme-light"]});
  const system = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;
  if (system) system.addEventListener("change", changed);
  return () => {
    watch.disconnect();
    if (system) system.removeEventListener("change", changed);
  };
}

// The heat colour of a value v in [0, 1]: from the background (0) to a deep blue (light pages)
// or a bright blue (dark pages). One ramp for every map in the book, so shades mean the same.
function heat(v, dark) {
  const lo = dark ? [24, 26, 31] : [255, 255, 255];
  const hi = dark ? [140, 200, 255] : [8, 48, 107];
  const c = lo.map((a, i) => Math.round(a + (hi[i] - a) * Math.max(0, Math.min(1, v))));
  return "rgb(" + c.join(",") + ")";
}

// The width a widget can draw in: its content box (its padding excluded), or `fallback` while it
// is not laid out yet.
function drawWidth(root, fallback) {
  const style = getComputedStyle(root);
  const w =
    root.clientWidth - parseFloat(style.paddingLeft || 0) - parseFloat(style.paddingRight || 0);
  return w > 0 ? w : fallback;
}

// A percentage for a probability, with as many decimals as small values need.
function percent(p) {
  const x = 100 * p;
  return (x >= 10 ? x.toFixed(0) : x >= 0.1 ? x.toFixed(1) : x.toFixed(2)) + "%";
}
