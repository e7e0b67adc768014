// widget.js: the entry of every gptlib widget, last in its bundle. anywidget calls render()
// with the widget's model in JupyterLab, Notebook 7 and Colab; in the static book, the book's
// loader (book.js) calls it with the state saved in the page. One front-end for both.

// The book's asset folder (gptlib/web's engine and the book's model), set by book.js; absent in
// Jupyter, where a kernel computes instead.
const BOOK_ASSETS = globalThis.__gptlibAssets || null;
const KERNEL_WAIT_MS = 4000; // how long Jupyter gets to answer before the views say it did not

// What the whole page shares: the engine, the book's model and a model the reader dropped.
function pageState() {
  if (!globalThis.__gptlibPage) {
    globalThis.__gptlibPage = {engine: null, book: null, dropped: null, listeners: new Set()};
  }
  return globalThis.__gptlibPage;
}

// A model from a folder: read(name) resolves to the file's bytes (ArrayBuffer) or null.
// The folder is what gptlib writes (config.json, model.safetensors, tokenizer.json and, for BPE,
// tokenizer.tiktoken) or what transformers' save_pretrained writes (no tokenizer: the book's is
// used, when the model's vocabulary can hold it).
async function loadModel(engine, read, name, bookTokenizer) {
  const text = async (file) => {
    const b = await read(file);
    return b && new TextDecoder().decode(b);
  };
  const configText = await text("config.json");
  if (!configText)
    throw new Error(
      "config.json is missing: a model folder holds config.json and model.safetensors",
    );
  const weights = await read("model.safetensors");
  if (!weights) throw new Error("model.safetensors is missing");
  const config = JSON.parse(configText);
  const gpt = new engine.gpt.GPT(config, engine.gpt.parseSafetensors(weights));
  let tok = null;
  const infoText = await text("tokenizer.json"),
    ranks = await text("tokenizer.tiktoken");
  if (infoText) {
    // gptlib's tokenizer files: tokenizer.json says the kind, tokenizer.tiktoken holds the tokens
    // (for a character tokenizer, each character's bytes in id order).
    const info = JSON.parse(infoText),
      bpe = engine.bpe;
    if (info.type === "char") {
      let chars = info.chars;
      if (!chars && ranks) {
        const table = bpe.BPETokenizer.fromTiktoken(ranks),
          utf8 = new TextDecoder();
        chars = Array.from({length: table.nVocab}, (_, i) => utf8.decode(table.tokenBytes(i))).join(
          "",
        );
      }
      if (chars) tok = new bpe.CharTokenizer(chars);
    } else if (ranks) {
      tok = bpe.BPETokenizer.fromTiktoken(ranks, {
        pattern: info.pattern || "gpt2",
        specialTokens: info.special_tokens || {},
      });
    }
  }
  if (!tok) tok = bookTokenizer ? await bookTokenizer() : null;
  if (!tok) throw new Error("no tokenizer: add the tokenizer files gptlib wrote beside the model");
  if (tok.nVocab > gpt.config.vocabSize) {
    throw new Error(
      "the tokenizer has " + tok.nVocab + " tokens but the model only " + gpt.config.vocabSize,
    );
  }
  return {gpt, tok, name};
}

function makeHost(model) {
  const page = pageState();
  const waiting = new Map();
  let nextRequest = 1,
    kernel = BOOK_ASSETS ? Promise.resolve(false) : null;
  model.on("msg:custom", (msg) => {
    if (msg && msg.type === "kernel" && kernel && kernel.answer) kernel.answer(true);
    if (msg && waiting.has(msg.reply_to)) {
      const {ok, fail} = waiting.get(msg.reply_to);
      waiting.delete(msg.reply_to);
      if (msg.error) fail(new Error(msg.error));
      else ok(msg);
    }
  });
  const engine = () => {
    if (!BOOK_ASSETS)
      return Promise.reject(new Error("this needs the book's pages or a running kernel"));
    if (!page.engine) {
      page.engine = Promise.all([
        import(BOOK_ASSETS + "web/gpt.js"),
        import(BOOK_ASSETS + "web/bpe.js"),
      ]).then(([gpt, bpe]) => ({gpt, bpe}));
    }
    return page.engine;
  };
  const fetchFile = (url) => fetch(url).then((r) => (r.ok ? r.arrayBuffer() : null));
  const bookModel = () => {
    if (!page.book) {
      page.book = (async () => {
        const folder = BOOK_ASSETS + "model/";
        const manifest = JSON.parse(
          new TextDecoder().decode(await fetchFile(folder + "manifest.json")),
        );
        return loadModel(await engine(), (f) => fetchFile(folder + f), manifest.name);
      })();
      page.book.catch(() => {
        page.book = null;
      }); // a failed load may be retried
    }
    return page.book;
  };
  return {
    assets: BOOK_ASSETS,
    engine,
    bookModel,
    kernelReady() {
      if (!kernel) {
        let answer;
        kernel = new Promise((ok) => {
          answer = ok;
        });
        kernel.answer = answer;
        setTimeout(() => answer(false), KERNEL_WAIT_MS);
        try {
          model.send({type: "hello"});
        } catch (e) {
          answer(false);
        }
      }
      return kernel;
    },
    request(msg) {
      const id = nextRequest++;
      return new Promise((ok, fail) => {
        waiting.set(id, {ok, fail});
        model.send(Object.assign({request: id}, msg));
      });
    },
    droppedModel: () => page.dropped,
    setDroppedModel(m) {
      page.dropped = m;
      page.listeners.forEach((f) => f(m));
    },
    onModelChange(f) {
      page.listeners.add(f);
    },
    async modelFromFiles(files) {
      const byName = new Map(files.map((f) => [f.name, f]));
      const read = async (name) => (byName.has(name) ? byName.get(name).arrayBuffer() : null);
      const folder =
        files[0] && files[0].webkitRelativePath
          ? files[0].webkitRelativePath.split("/")[0]
          : "your model";
      return loadModel(await engine(), read, folder, async () => (await bookModel()).tok);
    },
  };
}

function render({model, el: host}) {
  const kind = model.get("kind");
  const root = el("div", "gptlib-widget gptlib-" + kind);
  host.appendChild(root);
  root.classList.toggle("gw-dark", isDark());
  const stopWatching = onThemeChange((dark) => root.classList.toggle("gw-dark", dark));
  try {
    RENDERERS[kind](root, model, makeHost(model));
  } catch (e) {
    root.appendChild(
      el("div", "gw-problem", "This widget could not be drawn: " + (e.message || e)),
    );
    throw e;
  }
  return () => {
    stopWatching();
    root.remove();
  };
}

export default {render};
