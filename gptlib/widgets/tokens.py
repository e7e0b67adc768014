"""The token viewer: any text, coloured token by token, for one or several tokenizers.

Hovering a token shows its id and bytes (and a status line under the text says the same, for
touch screens); a button switches between the tokens' text and their ids. For small tokenizers
(a few thousand tokens, such as the book's Shakespeare tokenizer) the widget also carries the
rank table and a 40-line JavaScript BPE, so the reader can type any text and see it tokenized
live, in the static book with no kernel.

Everything is computed here in Python for the text given; the browser only draws it.
"""

from __future__ import annotations

from ..tokenizer import GPT2_PATTERN, BPETokenizer, escape_bytes
from . import HTMLWidget, html_widget

# The original GPT-2 pattern, in the syntax of JavaScript regular expressions (flags "gu").
# It splits text like GPT2_PATTERN (JavaScript has no possessive quantifiers).
JS_GPT2_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
LIVE_MAX_VOCAB = 4096  # above this the rank table would make the page heavy

_CSS = """
.gptlib-tokens { font-family: ui-sans-serif, system-ui, sans-serif; font-size: 14px; margin: 0.5em 0; }
.gptlib-tokens .row { margin: 0.4em 0 0.8em 0; }
.gptlib-tokens .name { font-weight: 600; margin-bottom: 0.2em; }
.gptlib-tokens .name span { font-weight: 400; color: #555; }
.gptlib-tokens .text { font-family: ui-monospace, Menlo, Consolas, monospace; white-space: pre-wrap;
  word-break: break-all; line-height: 1.9; border: 1px solid #ddd; border-radius: 4px; padding: 6px; }
.gptlib-tokens .tok { border-radius: 3px; padding: 1px 0; margin-right: 1px; cursor: default; color: #111; }
.gptlib-tokens .tok:hover { outline: 2px solid #333; }
.gptlib-tokens .tok.special { outline: 1px dashed #a00; }
.gptlib-tokens .tok.partial { font-size: 11px; color: #555; }
.gptlib-tokens .status { color: #333; font-size: 12px; min-height: 1.3em; }
.gptlib-tokens button { font-size: 12px; margin: 0.2em 0.5em 0.2em 0; }
.gptlib-tokens textarea { width: 100%; box-sizing: border-box; font-family: ui-monospace, monospace; font-size: 13px; }
"""

# Drawing, the ids/text toggle and the live BPE. `data.rows[k].tokens` is a list of
# [id, display text, bytes as hex, kind] with kind 0 = whole characters, 1 = part of a
# character, 2 = special token.
_SCRIPT = r"""
var COLOURS = ["#ffd6a5", "#caffbf", "#9bf6ff", "#bdb2ff", "#ffc6ff", "#fdffb6", "#a0c4ff", "#ffadad"];
var showIds = false;
function el(tag, cls, text) {
  var e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}
function drawTokens(box, status, tokens) {
  box.textContent = "";
  tokens.forEach(function (t, k) {
    var span = el("span", "tok" + (t[3] === 1 ? " partial" : "") + (t[3] === 2 ? " special" : ""));
    span.style.background = COLOURS[k % COLOURS.length];
    var label = showIds ? String(t[0]) : t[1];
    if (!showIds) {
      // Make whitespace visible without changing the layout of the text.
      label = label.replace(/\n/g, "\u21b5\n").replace(/\t/g, "\u2192\t");
    }
    span.textContent = label;
    var info = "token " + (k + 1) + " of " + tokens.length + " \u00b7 id " + t[0] + " \u00b7 bytes " + t[2];
    span.title = info;
    span.addEventListener("mouseenter", function () { status.textContent = info; });
    box.appendChild(span);
    if (showIds) box.appendChild(document.createTextNode(" "));
  });
}
function summary(nChars, nTokens) {
  return " \u2014 " + nChars + " characters \u2192 " + nTokens + " tokens (" +
    (nTokens ? (nChars / nTokens).toFixed(2) : "0") + " characters per token)";
}
var redraws = [];
data.rows.forEach(function (row) {
  var div = el("div", "row");
  var name = el("div", "name", row.name);
  name.appendChild(el("span", "", summary(row.n_chars, row.tokens.length) + (row.truncated ? " (first tokens shown)" : "")));
  var box = el("div", "text");
  var status = el("div", "status", "Hover a token to see its id and bytes.");
  div.appendChild(name); div.appendChild(box); div.appendChild(status);
  root.appendChild(div);
  redraws.push(function () { drawTokens(box, status, row.tokens); });
});
var toggle = el("button", "", "show ids");
toggle.addEventListener("click", function () {
  showIds = !showIds;
  toggle.textContent = showIds ? "show text" : "show ids";
  redraws.forEach(function (f) { f(); });
});
root.insertBefore(toggle, root.firstChild);
redraws.forEach(function (f) { f(); });

if (data.live) {
  // Byte-level BPE in the browser, the same rule as gptlib.tokenizer.bpe_encode_chunk: merge the
  // adjacent pair whose joined bytes have the lowest rank, until no joined pair is a token.
  // Bytes are held as "binary strings" (one char per byte, codes 0-255).
  var live = data.live, ranks = new Map(), vocab = [];
  live.tokens.forEach(function (hex, id) {
    var s = "";
    for (var i = 0; i < hex.length; i += 2) s += String.fromCharCode(parseInt(hex.substr(i, 2), 16));
    ranks.set(s, id); vocab[id] = s;
  });
  var pattern = new RegExp(live.pattern, "gu");
  var utf8 = new TextEncoder();
  function toBinary(str) {
    var b = utf8.encode(str), s = "";
    for (var i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
    return s;
  }
  function bpe(chunk) {
    if (ranks.has(chunk)) return [ranks.get(chunk)];
    var parts = chunk.split("");
    while (parts.length > 1) {
      var best = Infinity, at = -1;
      for (var i = 0; i < parts.length - 1; i++) {
        var r = ranks.get(parts[i] + parts[i + 1]);
        if (r !== undefined && r < best) { best = r; at = i; }
      }
      if (at < 0) break;
      parts.splice(at, 2, parts[at] + parts[at + 1]);
    }
    return parts.map(function (p) { return ranks.get(p); });
  }
  function encode(text) {
    var ids = [];
    (text.match(pattern) || []).forEach(function (c) { ids.push.apply(ids, bpe(toBinary(c))); });
    return ids;
  }
  function describe(id) {
    var s = vocab[id], hex = [], bytes = new Uint8Array(s.length);
    for (var i = 0; i < s.length; i++) { bytes[i] = s.charCodeAt(i); hex.push(("0" + bytes[i].toString(16)).slice(-2)); }
    try {
      return [id, new TextDecoder("utf-8", {fatal: true}).decode(bytes), hex.join(" "), 0];
    } catch (e) {
      return [id, hex.map(function (h) { return "\\x" + h; }).join(""), hex.join(" "), 1];
    }
  }
  root.__gptlibEncode = encode;  // for tests
  var div = el("div", "row");
  var name = el("div", "name", "Try your own text (" + live.name + ", tokenized in your browser)");
  var input = el("textarea"); input.rows = 3; input.value = live.example;
  var box = el("div", "text"), status = el("div", "status", "");
  div.appendChild(name); div.appendChild(input); div.appendChild(box); div.appendChild(status);
  root.appendChild(div);
  var liveRedraw = function () {
    var tokens = encode(input.value).map(describe);
    name.lastChild && name.lastChild.nodeType === 1 && name.removeChild(name.lastChild);
    name.appendChild(el("span", "", summary(Array.from(input.value).length, tokens.length)));
    drawTokens(box, status, tokens);
  };
  input.addEventListener("input", liveRedraw);
  redraws.push(liveRedraw);
  liveRedraw();
}
"""


def token_pieces(tokenizer: BPETokenizer, ids: list[int]) -> list[list]:
    """For each id: [id, text to show, its bytes in hex, kind] (kind: 0 text, 1 part of a character, 2 special)."""
    special_ids = set(tokenizer.special_tokens.values())
    pieces = []
    for i in ids:
        b = tokenizer.token_bytes(i)
        try:
            shown, kind = b.decode("utf-8"), 0
        except UnicodeDecodeError:  # a character split across tokens: show its bytes
            shown, kind = escape_bytes(b), 1
        pieces.append([int(i), shown, b.hex(" "), 2 if i in special_ids else kind])
    return pieces


def token_viewer(text: str, tokenizers, *, allowed_special="all", live: bool | str = True,
                 max_tokens: int = 3000) -> HTMLWidget:
    """A widget colouring ``text`` by its tokens, one row per tokenizer.

    ``tokenizers`` is a BPETokenizer or a dict {name: tokenizer}. With ``live`` (the default),
    the first tokenizer small enough (at most 4,096 ids, GPT-2's pattern) also gets a text box
    that tokenizes whatever the reader types, in the browser; pass a name to choose which.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    if isinstance(tokenizers, BPETokenizer):
        tokenizers = {"tokens": tokenizers}
    if not tokenizers or not all(isinstance(t, BPETokenizer) for t in tokenizers.values()):
        raise TypeError("tokenizers must be a BPETokenizer or a non-empty dict of name -> BPETokenizer")
    rows = []
    for name, tokenizer in tokenizers.items():
        ids = tokenizer.encode(text, allowed_special=allowed_special)
        rows.append({
            "name": name,
            "n_chars": len(text),
            "tokens": token_pieces(tokenizer, ids[:max_tokens]),
            "truncated": len(ids) > max_tokens,
        })
    data = {"rows": rows, "live": _live_data(text, tokenizers, live)}
    return html_widget("tokens", data, _SCRIPT, _CSS, title=f"token viewer: {len(text)} characters")


def _live_data(text, tokenizers, live):
    if not live:
        return None
    names = [live] if isinstance(live, str) else list(tokenizers)
    for name in names:
        if name not in tokenizers:
            raise ValueError(f"live={name!r} is not one of the tokenizers {list(tokenizers)}")
        tok = tokenizers[name]
        ids = sorted(tok.vocab)
        if tok.pattern == GPT2_PATTERN and len(tok.vocab) <= LIVE_MAX_VOCAB and ids == list(range(len(ids))):
            return {
                "name": name,
                "pattern": JS_GPT2_PATTERN,
                "tokens": [tok.vocab[i].hex() for i in ids],
                "example": text[:300],
            }
        if isinstance(live, str):
            raise ValueError(f"tokenizer {name!r} is too large or uses another pattern for live tokenizing")
    return None
