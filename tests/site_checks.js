// What a reader finds on one page of the built book, gathered in the page itself once its scripts
// and MathJax have run; tests/test_site.py runs this (as a function body) on every page at
// 1280 px and asserts on the report. Each finding names where it is, so that a failure says which
// section and which code cell to fix.

const here = location.origin;
const main = document.querySelector("main") || document.body;

const headingText = (heading) => [...heading.childNodes]
  .filter((n) => !(n.classList && n.classList.contains("headerlink")))
  .map((n) => n.textContent).join("").trim();

const cells = [...document.querySelectorAll("div.cell")];

// "section "The formula", code cell 12 output (cell begins: ...)"
function where(node) {
  const el = node.nodeType === 1 ? node : node.parentElement;
  const section = el.closest("section");
  const heading = section && section.querySelector("h1, h2, h3, h4, h5");
  let place = heading ? `section "${headingText(heading)}"` : "page";
  const cell = el.closest("div.cell");
  if (cell) {
    const part = el.closest(".cell_output") ? "output" : "input";
    const code = cell.querySelector(".cell_input pre");
    const first = code ? code.textContent.trim().split("\n")[0].slice(0, 60) : "";
    place += `, code cell ${cells.indexOf(cell) + 1} ${part} (cell begins: ${JSON.stringify(first)})`;
  } else if (el.closest("pre")) {
    place += ", code block";
  } else if (el.closest("figure")) {
    place += ", figure";
  }
  return place;
}

function textNodes(root, skip) {
  const found = [];
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT, {
    acceptNode: (n) => (n.parentElement.closest(skip) ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT),
  });
  while (walker.nextNode()) found.push(walker.currentNode);
  return found;
}

const snippet = (text, index) => JSON.stringify(text.slice(Math.max(0, index - 30), index + 50).replace(/\s+/g, " "));

// --- links, images, widgets, what came from elsewhere -----------------------------------------
const links = [...document.querySelectorAll("a[href]")].map((a) => a.href);
const images = [...document.querySelectorAll("img")].map((img) => ({
  src: img.currentSrc || img.src, ok: img.complete && img.naturalWidth > 0,
  alt: img.getAttribute("alt"), where: where(img)}));
const widgets = [...document.querySelectorAll(".gptlib-widget")].map((w) => ({
  id: w.id, drawn: w.innerHTML.trim().length > 0}));
const scripts = [...document.querySelectorAll("script[src], link[rel=stylesheet][href]")]
  .map((e) => e.src || e.href).filter((u) => u && !u.startsWith(here));
const fetched = performance.getEntriesByType("resource").map((r) => r.name)
  .filter((u) => !u.startsWith(here) && !u.startsWith("data:") && !u.startsWith("blob:"));

// --- maths ----------------------------------------------------------------------------------
const loadsMathJax = !!document.querySelector('script[src*="mathjax" i]');
const hasMaths = !!main.querySelector(".math, mjx-container");
const mathErrors = [];
const wideEquations = [];
if (window.MathJax && MathJax.startup && MathJax.startup.document) {
  for (const item of MathJax.startup.document.math) {
    const mml = MathJax.startup.toMML(item.root);
    // an error, a macro MathJax does not know (shown in red by its "noundefined" extension), or
    // a macro inside \text{...}, which MathJax prints as it stands ("\texttt{wte}")
    if (/<merror|mathcolor="red"|<mtext[^>]*>[^<]*(\\[a-zA-Z]|\$)/.test(mml)) {
      mathErrors.push({tex: item.math, where: item.typesetRoot ? where(item.typesetRoot) : "page"});
    }
    const box = item.typesetRoot;
    if (item.display && box && box.isConnected && box.scrollWidth > box.clientWidth + 1) {
      wideEquations.push({tex: item.math, width: box.scrollWidth, column: box.clientWidth, where: where(box)});
    }
  }
}

// --- raw LaTeX in prose: what MathJax should have typeset but the reader sees as source ---------
const PROSE_SKIP = "script, style, noscript, template, pre, code, kbd, samp, textarea, mjx-container, " +
  ".cell_output, .gptlib-widget, .math";
const rawLatex = [];
for (const node of textNodes(main, PROSE_SKIP)) {
  const text = node.textContent;
  const match = /\$|\\[a-zA-Z]{2,}\b|\\[{}()[\]]/.exec(text);
  if (match) rawLatex.push({text: snippet(text, match.index), where: where(node)});
}

// --- what a reader should not see, in prose, code and outputs (collapsed ones too) -------------
// The markers may appear in a documentation example (a code block outside notebook cells: the
// teachers' page shows the exercise format); in a chapter's cells and in prose they must not.
const MARKERS = [
  [/\bNBVAL_[A-Z_]+/, "an nbval marker"],
  [/\b(BEGIN|END) SOLUTION\b/, "a solution marker"],
];
const FORBIDDEN = [
  [/\/work\/|\/root\/|site-packages/, "a path of the machine that ran the notebook"],
  [/running on (the )?cpu/i, "a remark about the build machine"],
  [/figures added when|recorded when the benchmarks|\bTODO\b|\bTBD\b|\bFIXME\b|lorem ipsum|\bto be (filled|measured)\b/i,
    "placeholder text"],
];
// Set-up instructions name .venv and /tmp legitimately; in printed output they are the machine's.
const FORBIDDEN_IN_OUTPUT = [[/\.venv\/|\/tmp\//, "a path of the machine that ran the notebook"]];
const forbidden = [];
for (const node of textNodes(main, "script, style, noscript, template")) {
  const text = node.textContent;
  const parent = node.parentElement;
  const inOutput = !!parent.closest(".cell_output");
  const inExample = !!parent.closest("pre") && !parent.closest("div.cell");
  const patterns = [...FORBIDDEN, ...(inExample ? [] : MARKERS), ...(inOutput ? FORBIDDEN_IN_OUTPUT : [])];
  for (const [pattern, what] of patterns) {
    const match = pattern.exec(text);
    if (match) forbidden.push({what, text: snippet(text, match.index), where: where(node)});
  }
}

// --- exercise solutions: collapsed, and labelled as the solution ------------------------------
const solutions = [...main.querySelectorAll(".solution, div.cell.tag_solution")].map((el) => {
  const title = el.querySelector(":scope > .admonition-title, :scope > p.admonition-title, summary, .toggle-button");
  return {where: where(el), title: title ? title.textContent.trim() : "",
    collapsed: el.classList.contains("toggle-hidden") || el.querySelector(":scope details:not([open])") !== null ||
      el.classList.contains("dropdown")};
});

// --- code and output blocks that need sideways scrolling (collapsed cells opened first) --------
for (const details of main.querySelectorAll("details")) details.open = true;
const wideBlocks = [];
for (const pre of main.querySelectorAll("pre")) {
  if (pre.scrollWidth > pre.clientWidth + 1) {
    const lines = pre.textContent.split("\n");
    const longest = lines.reduce((a, b) => (b.length > a.length ? b : a), "");
    wideBlocks.push({where: where(pre), chars: longest.length, line: JSON.stringify(longest.slice(0, 70))});
  }
}

// --- icons: drawn from the theme's icon font (no icon script) ---------------------------------
const icons = [...document.querySelectorAll(".fa-solid, .fa-regular, .fa-brands, .fas, .far, .fab")]
  .filter((el) => el.getClientRects().length > 0)
  .map((el) => ({cls: el.className, width: el.getBoundingClientRect().width,
    glyph: getComputedStyle(el, "::before").content}));
const iconFontsLoaded = [...document.fonts].filter((f) => /Font Awesome/.test(f.family) && f.status === "loaded")
  .map((f) => f.family);

// --- the shell: one header, one search field -------------------------------------------------
const visible = (el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== "hidden";
const topBar = document.querySelector(".bd-header");
const shell = {
  topBarHeight: topBar && visible(topBar) ? topBar.getBoundingClientRect().height : 0,
  searchFields: [...document.querySelectorAll(".search-button-field, .search-button")].filter(visible).length,
  menuButtons: [...document.querySelectorAll(".primary-toggle")].filter(visible).length,
};

// --- citations and bibliography labels --------------------------------------------------------
const citations = [...main.querySelectorAll(".bibtex-citation a[href*='#']")]
  .map((a) => ({text: a.textContent.replace(/\s+/g, " ").trim(), target: a.href, where: where(a)}));
const bibliography = [...main.querySelectorAll(".citation")].map((c) => ({
  id: c.id, label: (c.querySelector(".label") || c).textContent.replace(/\s+/g, " ").replace(/^\[|\]$/g, "").trim()}));

return {links, images, widgets, foreign: [...new Set([...scripts, ...fetched])], loadsMathJax, hasMaths,
  mathErrors, wideEquations, rawLatex, forbidden, wideBlocks, solutions, icons, iconFontsLoaded, shell,
  citations, bibliography};
