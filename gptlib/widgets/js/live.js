// live.js: the live GPT views (issue 16): the reader types, and sees the tokens, the next-token
// distribution (with the sampling sliders), generation, the attention maps of every layer and
// head, and the logit lens, all for that text. Who computes:
//   - a model folder the reader dropped onto the page (read here, nothing uploaded);
//   - with a running kernel (Jupyter, Colab): Python, with the model Python was given;
//   - in the static book: this page, with gptlib/web/gpt.js and the book's model (an fp16 copy
//     served with the book);
//   - otherwise the views keep what was computed when the notebook ran.
// A result has the same form whoever computed it (gptlib.widgets.live.analyse in Python):
//   {text, tokens: [piece...], start, next: {entries, labels, vocab_size} | null,
//    attention: {offset, tokens, n_layer, n_head, scale, maps} | null,
//    lens: {offset, tokens, top: [layer][position] = [label, probability]} | null}

// --- computing in the page -------------------------------------------------------------------

// The result for `text` from an engine model m = {gpt, tok}; limits as Python sends them.
function engineAnalyse(m, text, limits) {
  const ids = m.tok.encode(text, {allowedSpecial: "all"});
  const start = Math.max(0, ids.length - m.gpt.config.nCtx);
  const result = {
    text,
    tokens: tokenPieces(m.tok, ids),
    start,
    next: null,
    attention: null,
    lens: null,
  };
  if (!ids.length) return result;
  const window = ids.slice(start),
    T = window.length,
    V = m.gpt.config.vocabSize;
  const out = m.gpt.forward(window, {attention: true, lens: 1});
  const last = out.logits.subarray((T - 1) * V, T * V);
  const order = Array.from(last.keys()).sort((a, b) => last[b] - last[a] || a - b);
  result.next = {
    entries: order.map((i) => [last[i], 1]),
    labels: order.slice(0, limits.bars).map((i) => m.tok.tokenStr(i)),
    vocab_size: V,
  };
  const strs = (from) => window.slice(from).map((i) => m.tok.tokenStr(i));
  const a = Math.max(0, T - limits.attention),
    A = T - a;
  const attention = out.attention.map((heads) =>
    heads.map((w) => {
      const crop = new Float32Array(A * A); // the last A queries and keys
      for (let i = 0; i < A; i++)
        crop.set(w.subarray((a + i) * T + a, (a + i) * T + a + i + 1), i * A);
      return crop;
    }),
  );
  result.attention = {offset: start + a, source: denseMaps(strs(a), attention)};
  const p = Math.max(0, T - limits.lens);
  result.lens = {
    offset: start + p,
    tokens: strs(p),
    top: out.lens.map((layer) =>
      Array.from({length: T - p}, (_, t) => [m.tok.tokenStr(layer.ids[p + t]), layer.probs[p + t]]),
    ),
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
    maxNewTokens: s.max_new_tokens,
    temperature: s.temperature,
    topK: s.top_k > 0 ? s.top_k : null,
    topP: s.top_p < 1 ? s.top_p : null,
    seed: s.seed,
  });
  let since = performance.now();
  for (const id of tokens) {
    onToken(tokenPieces(m.tok, [id])[0]);
    if (shouldStop()) return;
    if (performance.now() - since > 12) {
      await new Promise((r) => setTimeout(r, 0));
      since = performance.now();
    }
  }
}

// --- the panels: each returns the function that draws a result into it ----------------------

function panel(root, name, heading) {
  const div = el("section", "gw-panel gw-panel-" + name);
  div.appendChild(el("div", "gw-heading", heading));
  root.appendChild(div);
  return div;
}

function tokensPanel(root) {
  const div = panel(root, "tokens", "Tokens");
  const count = el("div", "gw-muted"),
    box = el("div", "gw-text"),
    status = el("div", "gw-status");
  div.append(count, box, status);
  return (r) => {
    drawTokens(box, status, r.tokens, false);
    count.textContent =
      tokenSummary(Array.from(r.text).length, r.tokens.length) +
      (r.start ? " \u00b7 the model reads the last " + (r.tokens.length - r.start) : "");
    div.setAttribute("data-n", r.tokens.length);
  };
}

// The sampling explorer on the model's prediction; its sliders also drive generation.
function nextPanel(root, settings) {
  const div = panel(root, "next", "Next token: the model's distribution, and the sampler's");
  const explorer = samplingExplorer(div, settings);
  const empty = {entries: [[0, 1]], labels: [""], vocab_size: 1};
  return {
    draw: (r) => {
      explorer.show(r.next || empty);
      div.setAttribute("data-top", JSON.stringify(r.next ? r.next.labels.slice(0, 5) : []));
    },
    settings: explorer.settings,
  };
}

function generatePanel(root, settings, start) {
  const div = panel(root, "generate", "Generate: the text continued, token by token");
  const row = el("div", "gw-controls");
  const seed = el("input", "gw-seed");
  Object.assign(seed, {type: "number", min: 0, step: 1, value: settings.seed});
  const seedLabel = el("label", "gw-slider");
  seedLabel.append(el("span", "gw-label", "seed"), seed);
  const reseed = () => {
    seed.value = (parseInt(seed.value, 10) || 0) + 1;
    start();
  };
  row.append(
    button("Generate", start, {action: "generate"}, "gw-primary"),
    button("New seed", reseed, {action: "reseed"}),
    seedLabel,
  );
  const out = el("div", "gw-text gw-generated"),
    status = el("div", "gw-status");
  div.append(row, out, status);
  return {seed: () => Math.max(0, parseInt(seed.value, 10) || 0), out, status};
}

function attentionPanel(root, settings) {
  const div = panel(root, "attention", "Attention: every layer and head, for this text");
  const note = el("div", "gw-muted"),
    inner = el("div");
  div.append(note, inner);
  const map = new AttentionMap(inner, {
    layer: settings.layer,
    head: settings.head,
    scale: settings.colour,
  });
  return (r) => {
    inner.hidden = !r.attention;
    note.textContent = r.attention ? "" : "Type some text.";
    if (!r.attention) return;
    const source = r.attention.source || packedMaps(r.attention);
    if (r.attention.offset) {
      const n = source.tokens.length;
      note.textContent = `The last ${n} tokens (from token ${r.attention.offset + 1}).`;
    }
    map.show(source);
  };
}

function lensPanel(root) {
  const div = panel(root, "lens", "Logit lens: the next token each layer would predict");
  const note = el(
    "div",
    "gw-muted",
    "Row = after that layer (ln_f and the output head applied to its output); " +
      "column = position. The last row is the model's prediction. Shade = its probability.",
  );
  const box = el("div", "gw-lens-box"),
    status = el("div", "gw-status");
  div.append(note, box, status);
  return (r) => {
    box.textContent = "";
    if (!r.lens) return;
    const dark = isDark(),
      table = el("table", "gw-lens"),
      head = el("tr");
    head.appendChild(el("th", "", ""));
    r.lens.tokens.forEach((t) => head.appendChild(el("th", "gw-lens-tok", visible(t))));
    table.appendChild(head);
    r.lens.top.forEach((layer, l) => {
      const tr = table.appendChild(el("tr"));
      tr.appendChild(el("th", "gw-label", "layer " + (l + 1)));
      layer.forEach(([label, p], t) => {
        const td = tr.appendChild(el("td", "gw-lens-cell", visible(label)));
        td.style.background = heat(Math.sqrt(p), dark);
        td.style.color = Math.sqrt(p) > 0.55 ? (dark ? "#111" : "#fff") : "";
        td.title = visible(label) + " " + percent(p);
        const say = () => {
          status.textContent =
            `after layer ${l + 1}, reading \u201c${visible(r.lens.tokens[t])}` +
            `\u201d: \u201c${visible(label)}\u201d with probability ${percent(p)}`;
        };
        td.addEventListener("mouseenter", say);
        td.addEventListener("click", say);
      });
    });
    box.appendChild(table);
    // Show the last positions, where the prediction is (after layout, not forcing one now).
    requestAnimationFrame(() => {
      box.scrollLeft = box.scrollWidth;
    });
  };
}

// --- the widget ----------------------------------------------------------------------------------

class LiveViews {
  constructor(root, model, host) {
    Object.assign(this, {
      root,
      model,
      host,
      source: "stored",
      engineModel: null,
      ticket: 0,
      shown: 0,
      generating: 0,
    });
    const views = model.get("views"),
      settings = (this.settings = model.get("settings"));
    if (model.get("title")) root.appendChild(el("div", "gw-title", model.get("title")));
    this.where = el("div", "gw-where gw-muted");
    this.input = el("textarea", "gw-input");
    Object.assign(this.input, {rows: 3, value: model.get("text")});
    this.input.setAttribute("aria-label", "your text");
    this.problem = el("div", "gw-problem");
    root.append(this.where, this.input, this.problem);
    this.first = []; // the panels drawn at once; `later`, the slower ones, a moment after
    this.later = [];
    if (views.includes("tokens")) this.first.push(tokensPanel(root));
    if (views.includes("next") || views.includes("generate")) {
      this.next = nextPanel(root, settings);
      this.first.push(this.next.draw);
    }
    if (views.includes("generate")) this.gen = generatePanel(root, settings, () => this.generate());
    if (views.includes("attention")) this.later.push(attentionPanel(root, settings));
    if (views.includes("lens")) this.later.push(lensPanel(root));
    if (views.includes("drop") && host.assets) dropZone(root, host);
    this.listen();
    this.show(model.get("result")); // what was computed when the notebook ran, at once
    this.chooseSource()
      .then(() => {
        root.setAttribute("data-source", this.source);
        // In the page, compute at once: the page's model may not be the one that made the saved
        // result (a book built around another model), and the page computes what Python did not.
        if (this.source === "page") this.analyse();
      })
      .catch((e) => {
        this.problem.textContent = String(e.message || e);
      });
  }

  listen() {
    const {model, input} = this;
    model.on("change:result", () => {
      if (this.source === "kernel") this.show(model.get("result"));
    });
    model.on("change:text", () => {
      if (input.value !== model.get("text")) input.value = model.get("text");
    });
    // One analysis per frame however fast the reader types; the newest text wins.
    let queued = false;
    input.addEventListener("input", () => {
      if (queued) return;
      queued = true;
      requestAnimationFrame(() => {
        queued = false;
        this.analyse();
      });
    });
    this.host.onModelChange(async () => {
      await this.chooseSource();
      this.analyse();
    });
  }

  // The prediction first; the maps a moment later, so that typing stays quick on a slow phone.
  show(r) {
    const mine = ++this.shown;
    this.first.forEach((draw) => draw(r));
    this.root.setAttribute("data-predicted", r.text);
    setTimeout(() => {
      if (mine !== this.shown) return; // a newer text came meanwhile
      this.later.forEach((draw) => draw(r));
      this.root.setAttribute("data-text", r.text);
    }, 0);
  }

  // Which model answers: a dropped one, else Python (kernel), else the book's in this page.
  async chooseSource() {
    const {host, model} = this,
      info = model.get("model_info"),
      dropped = host.droppedModel();
    const say = (text) => {
      this.where.textContent = "Model: " + text;
    };
    if (dropped) {
      Object.assign(this, {engineModel: dropped, source: "page"});
      say(dropped.name + " (your files, read in this page; nothing was uploaded).");
    } else if (await host.kernelReady()) {
      this.source = "kernel";
      say(info.name + " (computed by Python in your kernel).");
    } else if (info.book && host.assets) {
      say("the book's, loading into this page\u2026");
      Object.assign(this, {engineModel: await host.bookModel(), source: "page"});
      say(this.engineModel.name + " (running in this page; no server).");
    } else {
      this.source = "stored";
      say(
        info.name +
          ". Shown as computed when the notebook ran: run it (or drop a model folder) " +
          "to try other text.",
      );
      this.input.readOnly = !host.assets;
    }
  }

  analyse() {
    const {model, input, root} = this,
      mine = ++this.ticket;
    this.problem.textContent = "";
    if (this.source === "kernel") {
      model.set("text", input.value);
      model.save_changes(); // Python computes, and answers by setting `result`
      return;
    }
    if (this.source !== "page") {
      this.problem.textContent =
        "This view cannot compute here: it needs a kernel or a model folder.";
      return;
    }
    try {
      const r = engineAnalyse(this.engineModel, input.value, this.settings.limits);
      if (mine !== this.ticket) return;
      root.setAttribute("data-computed", "page");
      root.setAttribute("data-model", this.engineModel.name);
      this.show(r);
    } catch (e) {
      this.problem.textContent = String(e.message || e);
    }
  }

  async generate() {
    const {gen, next, host, input, root} = this,
      mine = ++this.generating;
    const s = Object.assign({}, this.settings, next ? next.settings() : {}, {seed: gen.seed()});
    gen.out.textContent = gen.status.textContent = "";
    const add = (piece) => {
      const cls =
        "gw-tok gw-c" +
        (gen.out.childNodes.length % N_TOKEN_COLOURS) +
        (piece[3] === 2 ? " gw-special" : "");
      gen.out.appendChild(el("span", cls, piece[1])).setAttribute("data-id", piece[0]);
    };
    try {
      if (this.source === "kernel") {
        const reply = await host.request({type: "generate", text: input.value, settings: s});
        if (mine === this.generating) reply.tokens.forEach(add);
      } else if (this.source === "page") {
        await engineGenerate(this.engineModel, input.value, s, add, () => mine !== this.generating);
      } else {
        gen.status.textContent = "Generating needs a kernel or a model in this page.";
        return;
      }
      if (mine !== this.generating) return;
      const n = gen.out.childNodes.length;
      gen.status.textContent = `${n} tokens, seed ${s.seed}: the same seed gives the same text.`;
      root.setAttribute(
        "data-generated",
        Array.from(gen.out.childNodes, (n) => n.dataset.id).join(","),
      );
    } catch (e) {
      gen.status.textContent = String(e.message || e);
    }
  }
}

// --- "your own model": a folder dropped onto the page ----------------------------------------

function dropZone(root, host) {
  const zone = el("div", "gw-drop");
  zone.append(
    el("div", "gw-heading", "Your own model"),
    el(
      "div",
      "gw-muted",
      "Drop the folder of a model you trained (config.json, model.safetensors, and its " +
        "tokenizer files) here, or choose its files. They are read in this page: nothing is " +
        "uploaded.",
    ),
  );
  const pick = el("input", "gw-files");
  Object.assign(pick, {type: "file", multiple: true});
  pick.setAttribute("aria-label", "model files");
  const status = el("div", "gw-status");
  zone.append(
    pick,
    button("Back to the book's model", () => host.setDroppedModel(null), {action: "book-model"}),
    status,
  );
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
  zone.addEventListener("dragover", (e) => {
    e.preventDefault();
    zone.classList.add("gw-over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("gw-over"));
  zone.addEventListener("drop", async (e) => {
    e.preventDefault();
    zone.classList.remove("gw-over");
    load(await droppedFiles(e.dataTransfer));
  });
}

// The files of a drop, walking into dropped folders (one level is what a model folder needs).
async function droppedFiles(transfer) {
  const items = Array.from(transfer.items || []);
  const entries = items
    .map((item) => item.webkitGetAsEntry && item.webkitGetAsEntry())
    .filter(Boolean);
  if (!entries.length) return Array.from(transfer.files || []);
  const fileOf = (entry) => new Promise((ok, fail) => entry.file(ok, fail));
  const childrenOf = (entry) =>
    new Promise((ok, fail) => entry.createReader().readEntries(ok, fail));
  const files = [];
  for (const entry of entries) {
    if (entry.isFile) files.push(await fileOf(entry));
    else
      for (const child of await childrenOf(entry))
        if (child.isFile) files.push(await fileOf(child));
  }
  return files;
}

RENDERERS.live = (root, model, host) => new LiveViews(root, model, host);
