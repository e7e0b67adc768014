// tokens.js: a text coloured token by token (the token viewer of chapter 1, and the tokens panel
// of the live views). A token is a "piece": [id, text shown, its bytes in hex, kind], kind 0 =
// whole characters, 1 = part of a character (shown as \xNN escapes), 2 = a special token.

const N_TOKEN_COLOURS = 8; // CSS classes gw-c0 ... gw-c7, with a light and a dark palette

// The pieces of `ids` for a bpe.js tokenizer (gptlib.widgets.tokens.token_pieces in Python).
function tokenPieces(tok, ids) {
  const strict = new TextDecoder("utf-8", {fatal: true});
  return Array.from(ids, (id) => {
    const bytes = tok.tokenBytes(id);
    const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(" ");
    let kind = tok.isSpecial(id) ? 2 : 0;
    if (!kind) {
      try {
        strict.decode(bytes);
      } catch (e) {
        kind = 1;
      }
    }
    return [id, tok.tokenStr(id), hex, kind];
  });
}

function tokenSummary(nChars, nTokens) {
  return (
    nChars +
    " characters \u2192 " +
    nTokens +
    " tokens (" +
    (nTokens ? (nChars / nTokens).toFixed(2) : "0") +
    " characters per token)"
  );
}

// Draws `pieces` into `box`; hovering (or tapping) a token writes its id and bytes into `status`.
function drawTokens(box, status, pieces, showIds) {
  box.textContent = "";
  pieces.forEach((t, k) => {
    const span = el(
      "span",
      "gw-tok gw-c" +
        (k % N_TOKEN_COLOURS) +
        (t[3] === 1 ? " gw-partial" : "") +
        (t[3] === 2 ? " gw-special" : ""),
    );
    // Line breaks and tabs get a visible mark, and keep their effect on the layout.
    span.textContent = showIds
      ? String(t[0])
      : t[1].replace(/\n/g, "\u21b5\n").replace(/\t/g, "\u21e5\t");
    span.setAttribute("data-id", t[0]);
    const info =
      "token " +
      (k + 1) +
      " of " +
      pieces.length +
      " \u00b7 id " +
      t[0] +
      (t[3] === 2 ? " (special)" : "") +
      " \u00b7 bytes " +
      t[2];
    span.title = info;
    const show = () => {
      status.textContent = info;
    };
    span.addEventListener("mouseenter", show);
    span.addEventListener("click", show);
    box.appendChild(span);
    if (showIds) box.appendChild(document.createTextNode(" "));
  });
}

// The token viewer: one row per tokenizer (computed in Python), and a box for the reader's text.
// data: {rows: [{name, n_chars, tokens: [piece...], truncated}], live: null or {name, ranks,
// pattern, special, example}}: `ranks` is the tokenizer in tiktoken's text format, for bpe.js.
function renderTokenViewer(root, model, host) {
  const data = model.get("data");
  let showIds = false;
  const redraws = [];
  const toggle = button(
    "show ids",
    () => {
      showIds = !showIds;
      toggle.textContent = showIds ? "show text" : "show ids";
      redraws.forEach((f) => f());
    },
    {action: "ids"},
  );
  root.appendChild(toggle);
  data.rows.forEach((row) => {
    const div = el("div", "gw-row");
    const name = el("div", "gw-name", row.name);
    name.appendChild(
      el(
        "span",
        "gw-muted",
        " \u2014 " +
          tokenSummary(row.n_chars, row.tokens.length) +
          (row.truncated ? " (the first tokens are shown)" : ""),
      ),
    );
    const box = el("div", "gw-text"),
      status = el("div", "gw-status", "Hover or tap a token for its id and bytes.");
    div.append(name, box, status);
    root.appendChild(div);
    redraws.push(() => drawTokens(box, status, row.tokens, showIds));
  });
  if (data.live) redraws.push(liveTokenBox(root, data.live, host, () => showIds));
  redraws.forEach((f) => f());
}

// The box that tokenizes what the reader types: in the browser with bpe.js (the static book), or
// by the Python tokenizer when a kernel is running. Returns its redraw function.
function liveTokenBox(root, live, host, showIds) {
  const div = el("div", "gw-row gw-live");
  const name = el("div", "gw-name", "Try your own text (" + live.name + ")");
  const count = el("span", "gw-muted", "");
  name.appendChild(count);
  const input = el("textarea", "gw-input");
  input.rows = 3;
  input.value = live.example;
  input.setAttribute("aria-label", "text to tokenize");
  const box = el("div", "gw-text"),
    status = el("div", "gw-status", "");
  div.append(name, input, box, status);
  root.appendChild(div);
  let pieces = null,
    tokenizer = null,
    busy = 0;
  const draw = () => {
    if (pieces) drawTokens(box, status, pieces, showIds());
    count.textContent = pieces
      ? " \u2014 " + tokenSummary(Array.from(input.value).length, pieces.length)
      : "";
  };
  const update = async () => {
    const text = input.value,
      ticket = ++busy;
    try {
      let result;
      if (await host.kernelReady()) {
        result = (await host.request({type: "encode", text})).tokens;
      } else {
        if (!tokenizer) {
          const engine = await host.engine(); // throws, saying why, where there is none
          tokenizer = engine.bpe.BPETokenizer.fromTiktoken(live.ranks, {
            pattern: live.pattern,
            specialTokens: live.special,
          });
        }
        result = tokenPieces(tokenizer, tokenizer.encode(text, {allowedSpecial: "all"}));
      }
      if (ticket !== busy) return; // the reader typed on meanwhile
      pieces = result;
      status.textContent = "";
      root.setAttribute("data-live-tokens", pieces.length);
      draw();
    } catch (e) {
      status.textContent = String(e.message || e);
    }
  };
  input.addEventListener("input", update);
  update();
  return draw;
}

RENDERERS.tokens = renderTokenViewer;
