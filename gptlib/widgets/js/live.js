// live.js: the live GPT views (issue 16): the reader types, and sees the tokens, the next-token
// distribution (with the sampling sliders), generation, the attention maps of every layer and
// head, and the logit lens, all for that text. Who computes:
//   - with a running kernel (Jupyter, Colab): Python, with the model Python was given;
//   - in the static book: this page, with gptlib/web/gpt.js and the book's model (an fp16 copy
//     served with the book), or the model folder the reader dropped onto the page;
//   - otherwise the views keep what was computed when the notebook ran.
// A result has the same form whoever computed it (gptlib.widgets.live.analyse in Python):
//   {text, tokens: [piece...], start, next: {entries, labels, vocab_size} | null,
//    attention: {offset, tokens, n_layer, n_head, scale, maps} | null,
//    lens: {offset, tokens, top: [layer][position] = [label, probability]} | null}

// --- computing in the page -------------------------------------------------------------------

// The result for `text` from an engine model m = {gpt, tok}; limits as Python sends them.
function engineAnalyse(m, text, limits) {
  const ids = m.tok.encode(text, {allowedSpecial: "all"});
  const tokens = tokenPieces(m.tok, ids);
  const start = Math.max(0, ids.length - m.gpt.config.nCtx);
  const result = {text, tokens, start, next: null, attention: null, lens: null};
  if (!ids.length) return result;
  const window = ids.slice(start), T = window.length, V = m.gpt.config.vocabSize;
  const out = m.gpt.forward(window, {attention: true, lens: 1});
  const last = out.logits.subarray((T - 1) * V, T * V);
  const order = Array.from(last.keys()).sort((a, b) => last[b] - last[a] || a - b);
  result.next = {
    entries: order.map((i) => [last[i], 1]),
    labels: order.slice(0, limits.bars).map((i) => m.tok.tokenStr(i)),
    vocab_size: V,
  };
  const strs = (from) => window.slice(from).map((i) => m.tok.tokenStr(i));
  const a = Math.max(0, T - limits.attention), A = T - a;
  const attention = out.attention.map((heads) => heads.map((w) => {
    const crop = new Float32Array(A * A);  // the last A queries and keys
    for (let i = 0; i < A; i++) crop.set(w.subarray((a + i) * T + a, (a + i) * T + a + i + 1), i * A);
    return crop;
  }));
  result.attention = {offset: start + a, source: denseMaps(strs(a), attention)};
  const p = Math.max(0, T - limits.lens);
  result.lens = {
    offset: start + p, tokens: strs(p),
    top: out.lens.map((layer) => Array.from({length: T - p}, (_, t) =>
      [m.tok.tokenStr(layer.ids[p + t]), layer.probs[p + t]])),
  };
  return result;
}

// Generates from `text` with engine model m; calls onToken(piece) as each token comes, letting
// the page paint every ~12 ms (so it stays responsive without slowing the model to the frame
// rate); stops early when shouldStop() says so.
async function engineGenerate(m, text, s, onToken, shouldStop) {
  let ids = m.tok.encode(text, {allowedSpecial: "all"});
  if (!ids.length) {
    const eot = m.tok.specialTokens["<|endoftext|>"];
    if (eot === undefined) throw new Error("type a few words first: the model needs a start");
    ids = [eot];
  }
  const tokens = m.gpt.stream(ids, {
    maxNewTokens: s.max_new_tokens, temperature: s.temperature, topK: s.top_k > 0 ? s.top_k : null,
    topP: s.top_p < 1 ? s.top_p : null, seed: s.seed,
  });
  const paint = () => new Promise((r) => setTimeout(r, 0));
  let since = performance.now();
  for (const id of tokens) {
    onToken(tokenPieces(m.tok, [id])[0]);
    if (shouldStop()) return;
    if (performance.now() - since > 12) {
      await paint();
      since = performance.now();
    }
  }
}

// --- the panels --------------------------------------------------------------------------------

function panel(root, name, heading) {
  const div = el("section", "gw-panel gw-panel-" + name);
  div.appendChild(el("div", "gw-heading", heading));
  root.appendChild(div);
  return div;
}

function tokensPanel(root) {
  const div = panel(root, "tokens", "Tokens");
  const count = el("div", "gw-muted"), box = el("div", "gw-text"), status = el("div", "gw-status");
  div.append(count, box, status);
  return (r) => {
    drawTokens(box, status, r.tokens, false);
    count.textContent = tokenSummary(Array.from(r.text).length, r.tokens.length) +
      (r.start ? " \u00b7 the model reads the last " + (r.tokens.length - r.start) : "");
    div.setAttribute("data-n", r.tokens.length);
  };
}

function nextPanel(root, settings, onChange) {
  const div = panel(root, "next", "Next token: the model's distribution, and the sampler's");
  const explorer = samplingExplorer(div, Object.assign({}, settings, {onChange}));
  return {
    update: (r) => {
      explorer.show(r.next || {entries: [[0, 1]], labels: [""], vocab_size: 1});
      div.setAttribute("data-top", r.next ? JSON.stringify(r.next.labels.slice(0, 5)) : "[]");
    },
    settings: explorer.settings,
  };
}

function generatePanel(root, settings, start) {
  const div = panel(root, "generate", "Generate: the text continued, token by token");
  const row = el("div", "gw-controls");
  const go = button("Generate", () => start(), {action: "generate"}, "gw-primary");
  const seedLabel = el("label", "gw-slider");
  const seed = el("input", "gw-seed");
  seed.type = "number"; seed.min = 0; seed.step = 1; seed.value = settings.seed;
  seedLabel.append(el("span", "gw-label", "seed"), seed);
  const again = button("New seed", () => { seed.value = (parseInt(seed.value, 10) || 0) + 1; start(); }, {action: "reseed"});
  row.append(go, again, seedLabel);
  const out = el("div", "gw-text gw-generated"), status = el("div", "gw-status");
  div.append(row, out, status);
  return {
    seed: () => Math.max(0, parseInt(seed.value, 10) || 0),
    out, status, go,
  };
}

function attentionPanel(root, settings) {
  const div = panel(root, "attention", "Attention: every layer and head, for this text");
  const note = el("div", "gw-muted");
  const inner = el("div", "gw-attention-inner");
  div.append(note, inner);
  let map = null;
  return (r) => {
    if (!r.attention) { inner.textContent = ""; map = null; note.textContent = "Type some text."; return; }
    const source = r.attention.source || packedMaps(r.attention);
    note.textContent = r.attention.offset ? "The last " + source.tokens.length + " tokens (from token " +
      (r.attention.offset + 1) + ")." : "";
    if (map) map.show(source);
    else map = attentionMap(inner, source, {layer: settings.layer, head: settings.head, scale: settings.colour});
  };
}

function lensPanel(root) {
  const div = panel(root, "lens", "Logit lens: the next token each layer would predict");
  const note = el("div", "gw-muted", "Row = after that layer (ln_f and the output head applied to its output); " +
    "column = position. The last row is the model's prediction. Shade = its probability.");
  const box = el("div", "gw-lens-box"), status = el("div", "gw-status");
  div.append(note, box, status);
  return (r) => {
    box.textContent = "";
    if (!r.lens) return;
    const dark = isDark(), table = el("table", "gw-lens");
    const head = el("tr");
    head.appendChild(el("th", "", ""));
    r.lens.tokens.forEach((t) => head.appendChild(el("th", "gw-lens-tok", visible(t))));
    table.appendChild(head);
    r.lens.top.forEach((layer, l) => {
      const tr = el("tr");
      tr.appendChild(el("th", "gw-label", "layer " + (l + 1)));
      layer.forEach(([label, p], t) => {
        const td = el("td", "gw-lens-cell", visible(label));
        td.style.background = heat(Math.sqrt(p), dark);
        td.style.color = Math.sqrt(p) > 0.55 ? (dark ? "#111" : "#fff") : "";
        const say = () => { status.textContent = "after layer " + (l + 1) + ", reading \u201c" +
          visible(r.lens.tokens[t]) + "\u201d: \u201c" + visible(label) + "\u201d with probability " + percent(p); };
        td.title = visible(label) + " " + percent(p);
        td.addEventListener("mouseenter", say);
        td.addEventListener("click", say);
        tr.appendChild(td);
      });
      table.appendChild(tr);
    });
    box.appendChild(table);
    // Show the last positions, where the prediction is (after layout, not forcing one now).
    requestAnimationFrame(() => { box.scrollLeft = box.scrollWidth; });
  };
}

// --- the widget ----------------------------------------------------------------------------------

function renderLive(root, model, host) {
  const views = model.get("views"), settings = model.get("settings");
  if (model.get("title")) root.appendChild(el("div", "gw-title", model.get("title")));
  const where = el("div", "gw-where gw-muted");
  const input = el("textarea", "gw-input");
  input.rows = 3;
  input.value = model.get("text");
  input.setAttribute("aria-label", "your text");
  const problem = el("div", "gw-problem");
  root.append(where, input, problem);

  const updates = [], later = [];  // later: the panels that take longest to draw
  if (views.includes("tokens")) updates.push(tokensPanel(root));
  let next = null, gen = null;
  if (views.includes("next") || views.includes("generate")) {
    next = nextPanel(root, settings, () => {});
    updates.push(next.update);
  }
  if (views.includes("generate")) gen = generatePanel(root, settings, () => generate());
  if (views.includes("attention")) later.push(attentionPanel(root, settings));
  if (views.includes("lens")) later.push(lensPanel(root));
  if (views.includes("drop") && host.assets) dropZone(root, host);

  let engineModel = null, source = "stored", ticket = 0, generating = 0;
  // The prediction first; the maps a moment later, so that typing stays quick on a slow phone.
  let shown = 0;
  const show = (r) => {
    const mine = ++shown;
    updates.forEach((f) => f(r));
    root.setAttribute("data-predicted", r.text);
    setTimeout(() => {
      if (mine !== shown) return;  // a newer text came meanwhile
      later.forEach((f) => f(r));
      root.setAttribute("data-text", r.text);
    }, 0);
  };
  const say = (text) => { where.textContent = text; };

  // Which model answers: a dropped one, else Python (kernel), else the book's in this page.
  async function chooseSource() {
    const dropped = host.droppedModel();
    if (dropped) { engineModel = dropped; source = "page"; say("Model: " + dropped.name + " (your files, read in this page; nothing was uploaded)."); return; }
    if (await host.kernelReady()) { source = "kernel"; say("Model: " + model.get("model_info").name + " (computed by Python in your kernel)."); return; }
    const info = model.get("model_info");
    if (info.book && host.assets) {
      say("Loading the book's model into this page\u2026");
      engineModel = await host.bookModel();
      source = "page";
      say("Model: " + engineModel.name + " (running in this page; no server).");
      return;
    }
    source = "stored";
    say("Model: " + info.name + ". Shown as computed when the notebook ran: run it (or drop a model folder) to try other text.");
    input.readOnly = !host.assets;
  }

  async function analyse() {
    const text = input.value, mine = ++ticket;
    problem.textContent = "";
    try {
      let r = null;
      if (source === "kernel") {
        model.set("text", text);
        model.save_changes();  // Python computes, and answers by setting `result`
        return;
      }
      if (source === "page") r = engineAnalyse(engineModel, text, settings.limits);
      if (source === "stored") { problem.textContent = "This view cannot compute here: it needs a kernel or a model folder."; return; }
      if (mine !== ticket) return;
      root.setAttribute("data-computed", "page");
      root.setAttribute("data-model", engineModel.name);
      show(r);
    } catch (e) {
      problem.textContent = String(e.message || e);
    }
  }

  async function generate() {
    if (!gen) return;
    const mine = ++generating, s = Object.assign({}, settings, next ? next.settings() : {}, {seed: gen.seed()});
    gen.out.textContent = "";
    gen.status.textContent = "";
    const add = (piece) => {
      const span = el("span", "gw-tok gw-c" + (gen.out.childNodes.length % N_TOKEN_COLOURS) + (piece[3] === 2 ? " gw-special" : ""), piece[1]);
      span.setAttribute("data-id", piece[0]);
      gen.out.appendChild(span);
    };
    try {
      if (source === "kernel") {
        const reply = await host.request({type: "generate", text: input.value, settings: s});
        if (mine === generating) reply.tokens.forEach(add);
      } else if (source === "page") {
        await engineGenerate(engineModel, input.value, s, add, () => mine !== generating);
      } else {
        gen.status.textContent = "Generating needs a kernel or a model in this page.";
        return;
      }
      if (mine === generating) {
        gen.status.textContent = gen.out.childNodes.length + " tokens, seed " + s.seed + ": the same seed gives the same text.";
        root.setAttribute("data-generated", Array.from(gen.out.childNodes, (n) => n.getAttribute("data-id")).join(","));
      }
    } catch (e) {
      gen.status.textContent = String(e.message || e);
    }
  }

  model.on("change:result", () => { if (source === "kernel") show(model.get("result")); });
  model.on("change:text", () => { if (input.value !== model.get("text")) input.value = model.get("text"); });
  // One analysis per frame however fast the reader types: the newest text wins.
  let queued = false;
  input.addEventListener("input", () => {
    if (queued) return;
    queued = true;
    const run = () => { queued = false; analyse(); };
    if (typeof requestAnimationFrame === "function") requestAnimationFrame(run); else setTimeout(run, 0);
  });
  host.onModelChange(async () => { await chooseSource(); analyse(); });

  show(model.get("result"));  // what was computed when the notebook ran, at once
  chooseSource().then(() => {
    root.setAttribute("data-source", source);
    // In the page, compute at once: the page's model may not be the one that made the saved
    // result (a book built around another model), and the page computes what Python did not.
    if (source === "page") analyse();
  }).catch((e) => { problem.textContent = String(e.message || e); });
}

// --- "your own model": a folder dropped onto the page ----------------------------------------

function dropZone(root, host) {
  const zone = el("div", "gw-drop");
  zone.appendChild(el("div", "gw-heading", "Your own model"));
  zone.appendChild(el("div", "gw-muted", "Drop the folder of a model you trained (config.json, model.safetensors, " +
    "and its tokenizer files) here, or choose its files. They are read in this page: nothing is uploaded."));
  const pick = el("input", "gw-files");
  pick.type = "file";
  pick.multiple = true;
  pick.setAttribute("aria-label", "model files");
  const status = el("div", "gw-status");
  const reset = button("Back to the book's model", () => host.setDroppedModel(null), {action: "book-model"});
  zone.append(pick, reset, status);
  root.appendChild(zone);
  const load = async (files) => {
    status.textContent = "Reading " + files.length + " files\u2026";
    try {
      const m = await host.modelFromFiles(files);
      host.setDroppedModel(m);
      status.textContent = "Using " + m.name + ".";
      root.setAttribute("data-dropped", m.name);
    } catch (e) {
      status.textContent = String(e.message || e);
    }
  };
  pick.addEventListener("change", () => load(Array.from(pick.files)));
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("gw-over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("gw-over"));
  zone.addEventListener("drop", async (e) => {
    e.preventDefault();
    zone.classList.remove("gw-over");
    load(await droppedFiles(e.dataTransfer));
  });
  return zone;
}

// The files of a drop, walking into dropped folders (one level is what a model folder needs).
async function droppedFiles(transfer) {
  const entries = Array.from(transfer.items || [], (item) => item.webkitGetAsEntry && item.webkitGetAsEntry()).filter(Boolean);
  if (!entries.length) return Array.from(transfer.files || []);
  const files = [];
  const fileOf = (entry) => new Promise((ok, fail) => entry.file(ok, fail));
  const childrenOf = (entry) => new Promise((ok, fail) => entry.createReader().readEntries(ok, fail));
  for (const entry of entries) {
    if (entry.isFile) files.push(await fileOf(entry));
    else for (const child of await childrenOf(entry)) if (child.isFile) files.push(await fileOf(child));
  }
  return files;
}

RENDERERS.live = renderLive;
