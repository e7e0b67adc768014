// bpe.js: chapter 1's byte-level BPE tokenizer in JavaScript, the one tokenizer the book's pages
// use. It encodes every text to the same ids as gptlib.tokenizer.BPETokenizer (and tiktoken),
// special tokens included. One dependency-free ES module for browsers and Node >= 18.
//
// API (stable: the token viewer and the playground are written against it)
// -----------------------------------------------------------------------------------------------
// new BPETokenizer(tokens, {pattern = "gpt2", specialTokens = {}} = {})
//     tokens: an array whose entry id is that token's bytes (a Uint8Array); the id is its rank.
//     pattern: "gpt2", "gpt4" (gptlib.tokenizer's names), or the pre-tokenizer regex as gptlib
//     writes it (Python `regex` syntax): the known patterns are translated to JavaScript exactly;
//     another pattern is used as a JavaScript regex (flags "gu") if it compiles, else refused.
//     specialTokens: {"<|endoftext|>": 1023, ...}: text that stands for one id.
// BPETokenizer.fromTiktoken(text, {pattern, specialTokens}) -> BPETokenizer
//     text: a rank file in tiktoken's format (one line per token: base64 of its bytes, a space,
//     its rank), e.g. GPT-2's gpt2.tiktoken.
//
// tok.encode(text, {allowedSpecial = "none", disallowedSpecial = "all"} = {}) -> array of ids
//     tiktoken's (and gptlib's) policy: special-token text in the input throws unless allowed;
//     allowedSpecial "all" (or an array / Set of names) encodes each occurrence as its one id;
//     disallowedSpecial: [] encodes it as ordinary text. A page showing what a reader types
//     calls encode(text, {allowedSpecial: "all"}).
// tok.encodeOrdinary(text) -> ids, special-token text treated as ordinary text.
// tok.pretokenize(text) -> the chunks the regex splits the text into (BPE works inside each).
// tok.decodeBytes(ids) -> Uint8Array;  tok.decode(ids) -> string (invalid UTF-8 becomes U+FFFD).
// tok.tokenBytes(id) -> Uint8Array;  tok.tokenStr(id) -> its text, or \xNN escapes when its bytes
//     are not whole UTF-8 characters (as gptlib's token_str);  tok.isSpecial(id) -> boolean.
// tok.nVocab: one more than the largest id;  tok.specialTokens: {name: id}.
// Unknown ids and non-string text throw an Error naming the problem.
//
// new CharTokenizer(chars): one token per character (a character-level model's tokenizer, as
//     gptlib.training.CharTokenizer): chars is the string of the vocabulary's characters in id
//     order; the same methods (encode, decode, tokenStr, ...); a character outside it throws.
//
// jsPattern(pattern) -> the JavaScript source (flags "gu") of a pre-tokenizer regex.
//
// The tokenizer of a model folder (as gptlib.web.export_page_model writes it):
// tokenizerFromFiles(tokenizerJson, ranksText) -> BPETokenizer or CharTokenizer
//     tokenizerJson: tokenizer.json (object or text): {"type": "bpe", "pattern", "special_tokens"}
//     with ranksText the tokenizer.tiktoken file, or {"type": "char", "chars"} (no ranks).
// await loadTokenizer(folderUrl, {fetch = globalThis.fetch} = {}) fetches and reads them.
// -----------------------------------------------------------------------------------------------


// ===============================================================================================
// The pre-tokenizer. gptlib writes patterns in the syntax of Python's `regex` module; JavaScript
// has no possessive quantifiers (++), no inline flags (?i:...), and its \s differs from Python's
// (Python's is Unicode's White_Space: it has U+0085 and not U+FEFF). The known patterns below
// are rewritten so that they split every text exactly as Python does (the tests check it):
// possessive quantifiers become greedy ones where giving characters back cannot change a
// match, `\s++$` is the end-of-text case of `\s+(?!\S)`, and \s / \S become \p{White_Space}.

const WS = String.raw`\p{White_Space}`;
const NOT_WS = String.raw`\P{White_Space}`;

const KNOWN_PATTERNS = {
  // GPT-2's, as tiktoken writes it (gptlib.tokenizer.GPT2_PATTERN).
  gpt2: {
    python: String.raw`'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s`,
    js: String.raw`'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^${WS}\p{L}\p{N}]+|${WS}+(?!${NOT_WS})|${WS}`,
  },
  // GPT-4's (cl100k_base). (?i:...) spelled out: Python's case-insensitive "s" also matches
  // U+017F (long s), whose case folding is "s".
  gpt4: {
    python: String.raw`'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+` +
      String.raw`|\s++$|\s*[\r\n]|\s+(?!\S)|\s`,
    js: String.raw`'(?:[sSſdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}` +
      String.raw`| ?[^${WS}\p{L}\p{N}]+[\r\n]*|${WS}+$|${WS}*[\r\n]|${WS}+(?!${NOT_WS})|${WS}`,
  },
};
// GPT-2's original pattern (OpenAI's encoder.py), as some files carry it.
KNOWN_PATTERNS.gpt2_original = {
  python: String.raw`'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`,
  js: String.raw`'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^${WS}\p{L}\p{N}]+|${WS}+(?!${NOT_WS})|${WS}+`,
};

export function jsPattern(pattern) {
  if (typeof pattern !== "string") throw new TypeError(`pattern must be "gpt2", "gpt4" or a regex string, got ${typeof pattern}`);
  if (pattern in KNOWN_PATTERNS) return KNOWN_PATTERNS[pattern].js;
  for (const known of Object.values(KNOWN_PATTERNS)) if (known.python === pattern) return known.js;
  if (/[+*?}]\+|\(\?[a-zA-Z]/.test(pattern)) {
    throw new Error(`the pre-tokenizer pattern ${JSON.stringify(pattern)} uses Python-only syntax (possessive ` +
      `quantifiers or inline flags) and is not one of the patterns this tokenizer knows (gpt2, gpt4)`);
  }
  try {
    new RegExp(pattern, "gu");
  } catch (err) {
    throw new Error(`the pre-tokenizer pattern ${JSON.stringify(pattern)} is not a JavaScript regex: ${err.message}`);
  }
  return pattern;
}

// ===============================================================================================
// Bytes are held as "binary strings" (one UTF-16 unit per byte, codes 0-255): they make cheap
// Map keys, and joining two tokens is string concatenation.

const utf8Encoder = new TextEncoder();

function toBinary(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
  return s;
}

function fromBinary(s) {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

// Lone surrogates are not Unicode and have no UTF-8: each becomes U+FFFD, as in gptlib and tiktoken.
function wellFormed(text) {
  return typeof text.toWellFormed === "function" ? text.toWellFormed() : text.replace(/\p{Cs}/gu, "\uFFFD");
}

function checkText(text) {
  if (typeof text !== "string") throw new TypeError(`text must be a string, got ${text === null ? "null" : typeof text}`);
}

// gptlib's escape_bytes: printable ASCII as itself (quote and backslash escaped), others as \xNN.
function escapeBytes(bytes) {
  let s = "";
  for (const b of bytes) {
    if (b === 0x22 || b === 0x5c) s += "\\" + String.fromCharCode(b);
    else if (b >= 0x20 && b < 0x7f) s += String.fromCharCode(b);
    else s += "\\x" + b.toString(16).padStart(2, "0");
  }
  return s;
}

// ignoreBOM: keep a leading U+FEFF as text (by default a TextDecoder drops it), as Python does.
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const lenientUtf8 = new TextDecoder("utf-8", { ignoreBOM: true });

function checkSpecialTokens(specialTokens, taken) {
  if (specialTokens === null || typeof specialTokens !== "object" || Array.isArray(specialTokens)) {
    throw new TypeError('specialTokens must be an object {"<|endoftext|>": id, ...}');
  }
  const byId = new Map();
  for (const [name, id] of Object.entries(specialTokens)) {
    if (!name || !Number.isInteger(id) || id < 0) throw new Error(`special token ${JSON.stringify(name)} needs a non-negative integer id, got ${id}`);
    if (taken(id) || byId.has(id)) throw new Error(`special token ${JSON.stringify(name)} has id ${id}, which is already used`);
    byId.set(id, name);
  }
  return byId;
}

// ===============================================================================================

export class BPETokenizer {
  constructor(tokens, { pattern = "gpt2", specialTokens = {} } = {}) {
    if (!Array.isArray(tokens)) throw new TypeError("tokens must be an array: entry id holds that token's bytes (a Uint8Array)");
    this.ranks = new Map(); // binary string -> id
    this.vocab = []; // id -> binary string
    tokens.forEach((bytes, id) => {
      if (bytes === undefined) return; // ids may have gaps (a vocabulary with special ids in between)
      if (!(bytes instanceof Uint8Array) || bytes.length === 0) throw new TypeError(`token ${id} must be a non-empty Uint8Array`);
      const s = toBinary(bytes);
      if (this.ranks.has(s)) throw new Error(`tokens ${this.ranks.get(s)} and ${id} have the same bytes`);
      this.ranks.set(s, id);
      this.vocab[id] = s;
    });
    for (let b = 0; b < 256; b++) {
      if (!this.ranks.has(String.fromCharCode(b))) throw new Error(`the vocabulary lacks the single byte ${b}: a byte-level BPE needs all 256`);
    }
    this.specialTokens = Object.freeze({ ...specialTokens });
    this._specialById = checkSpecialTokens(specialTokens, (id) => this.vocab[id] !== undefined);
    this.pattern = new RegExp(jsPattern(pattern), "gu");
    this.nVocab = 1 + Math.max(this.vocab.length - 1, ...this._specialById.keys());
    this._cache = new Map(); // chunk -> its ids: words repeat, so most chunks are found here
  }

  static fromTiktoken(text, options = {}) {
    checkText(text);
    const tokens = [];
    const lines = text.split("\n");
    lines.forEach((line, n) => {
      if (!line.trim()) return;
      const m = /^([A-Za-z0-9+/=]+) (\d+)\s*$/.exec(line);
      if (!m) throw new Error(`line ${n + 1} of the rank file is not "base64-bytes rank": ${JSON.stringify(line.slice(0, 60))}`);
      let bytes;
      try {
        bytes = Uint8Array.from(atob(m[1]), (c) => c.charCodeAt(0));
      } catch (err) {
        throw new Error(`line ${n + 1} of the rank file has invalid base64 ${JSON.stringify(m[1])}`);
      }
      const rank = Number(m[2]);
      if (tokens[rank] !== undefined) throw new Error(`line ${n + 1} of the rank file repeats rank ${rank}`);
      tokens[rank] = bytes;
    });
    return new BPETokenizer(tokens, options);
  }

  // --- encoding ---------------------------------------------------------------------------------

  pretokenize(text) {
    checkText(text);
    return wellFormed(text).match(this.pattern) || [];
  }

  encodeOrdinary(text) {
    const ids = [];
    for (const chunk of this.pretokenize(text)) {
      let chunkIds = this._cache.get(chunk);
      if (chunkIds === undefined) {
        chunkIds = this._bpe(toBinary(utf8Encoder.encode(chunk)));
        if (this._cache.size >= 100000) this._cache.clear(); // bounded memory on endless new words
        this._cache.set(chunk, chunkIds);
      }
      for (const id of chunkIds) ids.push(id);
    }
    return ids;
  }

  encode(text, { allowedSpecial = "none", disallowedSpecial = "all" } = {}) {
    checkText(text);
    const allowed = this._specialSet(allowedSpecial, "allowedSpecial");
    let disallowed = this._specialSet(disallowedSpecial, "disallowedSpecial");
    if (disallowedSpecial === "all") disallowed = disallowed.filter((name) => !allowed.includes(name));
    const found = firstOccurrence(text, disallowed, 0);
    if (found !== null) {
      const at = Array.from(text.slice(0, found.index)).length; // in characters, as Python counts them
      throw new Error(`the text contains the special token ${JSON.stringify(found.name)} at character ${at}. ` +
        `Pass {allowedSpecial: "all"} (or a list with it) to encode it as its id, or {disallowedSpecial: []} to ` +
        `encode it as ordinary text.`);
    }
    if (allowed.length === 0) return this.encodeOrdinary(text);
    const ids = [];
    let start = 0;
    // (a loop, not push(...ids): spreading a long text's ids would overflow the call stack)
    const append = (more) => { for (const id of more) ids.push(id); };
    for (let found; (found = firstOccurrence(text, allowed, start)) !== null; start = found.index + found.name.length) {
      append(this.encodeOrdinary(text.slice(start, found.index)));
      ids.push(this.specialTokens[found.name]);
    }
    append(this.encodeOrdinary(text.slice(start)));
    return ids;
  }

  // tiktoken's rule for one chunk: start from its bytes; repeatedly merge the adjacent pair whose
  // joined bytes have the lowest rank (the leftmost on ties), until no joined pair is a token.
  _bpe(chunk) {
    const whole = this.ranks.get(chunk);
    if (whole !== undefined) return [whole];
    const parts = chunk.split("");
    while (parts.length > 1) {
      let best = Infinity, at = -1;
      for (let i = 0; i < parts.length - 1; i++) {
        const r = this.ranks.get(parts[i] + parts[i + 1]);
        if (r !== undefined && r < best) { best = r; at = i; }
      }
      if (at < 0) break;
      parts.splice(at, 2, parts[at] + parts[at + 1]);
    }
    return parts.map((p) => this.ranks.get(p));
  }

  _specialSet(value, name) {
    const names = Object.keys(this.specialTokens);
    if (value === "all") return names;
    if (value === "none") return [];
    if (typeof value === "string" || value === null || typeof value[Symbol.iterator] !== "function") {
      throw new TypeError(`${name} must be "all", "none" or a list of special tokens, got ${JSON.stringify(value)}`);
    }
    const list = [...new Set(value)];
    const unknown = list.filter((n) => !names.includes(n));
    if (unknown.length) throw new Error(`${name} names tokens this tokenizer does not have: ${JSON.stringify(unknown)}`);
    return list;
  }

  // --- decoding ---------------------------------------------------------------------------------

  tokenBytes(id) {
    if (this.vocab[id] !== undefined && Number.isInteger(id)) return fromBinary(this.vocab[id]);
    if (this._specialById.has(id)) return utf8Encoder.encode(this._specialById.get(id));
    throw new Error(`unknown token id ${id}: ids run from 0 to ${this.nVocab - 1}`);
  }

  isSpecial(id) {
    return this._specialById.has(id);
  }

  tokenStr(id) {
    const bytes = this.tokenBytes(id);
    try {
      return strictUtf8.decode(bytes);
    } catch {
      return escapeBytes(bytes);
    }
  }

  decodeBytes(ids) {
    if (typeof ids === "string" || !ids || typeof ids[Symbol.iterator] !== "function") {
      throw new TypeError(`ids must be an array of integers, got ${typeof ids}`);
    }
    const parts = Array.from(ids, (id) => this.tokenBytes(id));
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }

  decode(ids) {
    return lenientUtf8.decode(this.decodeBytes(ids));
  }
}

// The earliest occurrence at or after `from` of any of `names` ({name, index}), or null; on a tie
// the longest name, so that a special token that starts another cannot cut it short.
function firstOccurrence(text, names, from) {
  let best = null;
  for (const name of names) {
    const index = text.indexOf(name, from);
    if (index >= 0 && (best === null || index < best.index || (index === best.index && name.length > best.name.length))) {
      best = { name, index };
    }
  }
  return best;
}

// ===============================================================================================

export class CharTokenizer {
  constructor(chars) {
    checkText(chars);
    this.chars = Array.from(chars);
    if (this.chars.length === 0) throw new Error("a character tokenizer needs at least one character");
    this._index = new Map(this.chars.map((c, i) => [c, i]));
    if (this._index.size !== this.chars.length) throw new Error("the characters of a character tokenizer must be distinct");
    this.nVocab = this.chars.length;
    this.specialTokens = Object.freeze({});
  }

  pretokenize(text) {
    checkText(text);
    return Array.from(text);
  }

  encodeOrdinary(text) {
    return this.pretokenize(text).map((c) => {
      const id = this._index.get(c);
      if (id === undefined) throw new Error(`the character ${JSON.stringify(c)} is not in the vocabulary`);
      return id;
    });
  }

  encode(text) {
    return this.encodeOrdinary(text);
  }

  tokenStr(id) {
    if (!Number.isInteger(id) || id < 0 || id >= this.nVocab) throw new Error(`unknown token id ${id}: ids run from 0 to ${this.nVocab - 1}`);
    return this.chars[id];
  }

  tokenBytes(id) {
    return utf8Encoder.encode(this.tokenStr(id));
  }

  isSpecial() {
    return false;
  }

  decodeBytes(ids) {
    return utf8Encoder.encode(this.decode(ids));
  }

  decode(ids) {
    return Array.from(ids, (id) => this.tokenStr(id)).join("");
  }
}

// ===============================================================================================
// The tokenizer files of a model folder.

export function tokenizerFromFiles(tokenizerJson, ranksText = null) {
  let info = tokenizerJson;
  if (typeof info === "string") {
    try {
      info = JSON.parse(info);
    } catch (err) {
      throw new Error(`tokenizer.json is not valid JSON: ${err.message}`);
    }
  }
  if (info === null || typeof info !== "object") throw new TypeError("tokenizer.json must hold a JSON object");
  if (info.type === "char") return new CharTokenizer(info.chars);
  if (info.type !== "bpe") throw new Error(`tokenizer.json has type ${JSON.stringify(info.type)}; this page reads "bpe" and "char"`);
  if (typeof ranksText !== "string") throw new Error("a BPE tokenizer needs its rank file, tokenizer.tiktoken");
  return BPETokenizer.fromTiktoken(ranksText, { pattern: info.pattern ?? "gpt2", specialTokens: info.special_tokens ?? {} });
}

export async function loadTokenizer(folderUrl, { fetch: fetchFn = globalThis.fetch } = {}) {
  const base = String(folderUrl).replace(/\/+$/, "");
  const get = async (name) => {
    const response = await fetchFn(`${base}/${name}`);
    if (!response.ok) throw new Error(`could not fetch ${base}/${name}: HTTP ${response.status}`);
    return response.text();
  };
  const info = JSON.parse(await get("tokenizer.json"));
  return tokenizerFromFiles(info, info.type === "bpe" ? await get("tokenizer.tiktoken") : null);
}
