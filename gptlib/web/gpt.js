// gpt.js: a GPT-2-layout model in the reader's browser (and in Node >= 18), from the same Hugging
// Face safetensors files gptlib writes. One dependency-free ES module; it imports nothing, so a
// page can load it with <script type="module"> or inline it (import() of a Blob URL).
//
// API (stable: the playground and the live widgets are written against it)
// -----------------------------------------------------------------------------------------------
// parseSafetensors(buffer) -> {name: {dtype, shape, data}}
//     buffer: ArrayBuffer or Uint8Array holding a .safetensors file. dtype is the file's ("F32",
//     "F16", "BF16" or "F64"), shape an array of ints, data a Float32Array (F16 and BF16 widened
//     exactly; F64, as a float64 training run saves, rounded to the nearest float32).
//     Other dtypes, and malformed files (short, bad header length, bad JSON, offsets out of range,
//     overlapping or leaving holes), throw an Error that names the problem. "__metadata__" is
//     returned under the key "__metadata__" as the plain object it is (strings only).
//
// new GPT(config, tensors)
//     config: the parsed config.json of a Hugging Face GPT-2 (vocab_size, n_positions, n_embd,
//     n_head, n_layer, layer_norm_epsilon, ...). tensors: parseSafetensors' result, named as
//     transformers' save_pretrained names them ("transformer.h.0.attn.c_attn.weight", ...; names
//     without "transformer." as on the hub are accepted; linear weights [in, out], GPT-2's
//     Conv1D; the output head tied to transformer.wte.weight; "lm_head.weight", if present, must
//     equal it). A config this engine cannot run (another activation, untied head, n_inner other
//     than 4 * n_embd, ...) or missing / unexpected / misshapen tensors throw an Error naming each.
//   gpt.config -> {vocabSize, nCtx, nEmbd, nHead, nLayer, headSize, eps}   (read-only numbers)
//   GPT.fromBuffers(configJson, safetensorsBuffer) -> GPT   (configJson: object or JSON text)
//   await GPT.load(folderUrl, {weights = "model.safetensors", fetch = globalThis.fetch} = {})
//       fetches folderUrl + "/config.json" and folderUrl + "/" + weights.
//
//   gpt.forward(ids, {attention = true, lens = 0} = {}) -> {logits, attention, lens}
//       ids: array (or typed array) of T token ids, 1 <= T <= nCtx, each in [0, vocabSize).
//       logits: Float32Array of T * vocabSize, row-major (row t = the prediction after token t).
//       attention: attention[layer][head] is a Float32Array of T * T (row = query position,
//           column = key position; zero above the diagonal), or null with {attention: false}.
//       lens: with lens = k > 0, the logit lens: lens[layer] = {ids: Int32Array(T * k),
//           probs: Float32Array(T * k)}, the k most likely next tokens at each position (most
//           likely first) when ln_f and the tied head are applied to that block's output;
//           lens[nLayer - 1] agrees with logits. null when lens = 0.
//       forward remembers its last call: the positions before the first token that differs are
//       not computed again (causal attention: they cannot depend on later tokens), so typing at
//       the end of a text costs only the new tokens. The results are the same to the bit, and
//       fresh arrays each call (the caller may keep or change them). The memory is for one set
//       of options: a page with several views calls forward once with all it needs (e.g.
//       {attention: true, lens: 5}) rather than alternating options, which recomputes everything.
//   gpt.logitLens(ids, k = 1) -> lens as above.
//
//   KV cache, for generation (each new token costs one position's work, not T's):
//   const cache = gpt.createCache();       // empty; cache.length is the number of positions held
//   const next = gpt.step(cache, ids);     // appends ids (one or more) to the cache and returns a
//                                          // Float32Array(vocabSize): logits after the last of them
//   cache.reset();                         // empty it again (buffers are kept)
//       step refuses to grow the cache past nCtx (an Error saying so).
//       gpt.step(gpt.createCache(), ids) equals the last row of gpt.forward(ids).logits, to the
//       bit, however the ids are split between calls.
//
//   gpt.stream(ids, options) -> iterator of the new token ids; gpt.generate(ids, options) -> an
//   array of them. options: {maxNewTokens = 50, temperature = 1, topK = null, topP = null,
//   seed = 0, eosId = "auto", stop = []}, as gptlib.generation.generate: eosId "auto" is 50256
//   for GPT-2's vocabulary and none otherwise; stop is a list of id sequences; generation ends
//   right after eosId or a stop sequence (included). Uses the cache; past nCtx tokens it reads the
//   last nCtx (a fresh prefill, as gptlib.generation does). The same seed gives the same tokens
//   every time, on every machine (makeRng below; not NumPy's generator, so not Python's tokens).
//   A page that must stay responsive pulls tokens from stream() one at a time between frames.
//
// Sampling (the same rules as gptlib.generation: temperature, then top-k, then top-p):
//   nextTokenProbs(logits, {temperature = 1, topK = null, topP = null}) -> Float64Array of probs
//       (temperature 0: all the probability on the argmax; top-k keeps ties with the k-th value).
//   sampleToken(logits, u, options) -> id: the inverse CDF of nextTokenProbs at u in [0, 1).
//   makeRng(seed) -> () => a float in [0, 1), a small deterministic generator (32-bit seed).
//   topK(values, k) -> {ids: Int32Array(k), values: Float32Array(k)}, largest first.
//   softmax(logits) -> Float64Array.
// Bad settings (temperature < 0, topK < 1, topP outside (0, 1], ...) throw, naming the setting.
// -----------------------------------------------------------------------------------------------


// ===============================================================================================
// safetensors: 8 bytes (little-endian u64) header length N, N bytes of JSON
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}, then the raw
// little-endian data, offsets counted from the end of the header.

const ITEM_SIZE = { F32: 4, F16: 2, BF16: 2, F64: 8 };
const MAX_HEADER = 100 * 1024 * 1024; // the Rust reference refuses larger headers too
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export function parseSafetensors(buffer) {
  let bytes;
  if (buffer instanceof Uint8Array) bytes = buffer;
  else if (buffer instanceof ArrayBuffer) bytes = new Uint8Array(buffer);
  else throw new TypeError(`parseSafetensors needs an ArrayBuffer or Uint8Array, got ${describe(buffer)}`);
  if (bytes.length < 8) {
    throw new Error(`not a safetensors file: ${bytes.length} bytes, fewer than the 8 that give the header length`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getUint32(0, true) + view.getUint32(4, true) * 2 ** 32;
  if (headerLength > bytes.length - 8 || headerLength > MAX_HEADER) {
    throw new Error(`not a safetensors file (or a truncated one): its header length ${headerLength} exceeds ` +
      `the ${bytes.length - 8} bytes that follow`);
  }
  let header;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + headerLength)));
  } catch (err) {
    throw new Error(`not a safetensors file: its header is not valid UTF-8 JSON (${err.message})`);
  }
  if (header === null || typeof header !== "object" || Array.isArray(header)) {
    throw new Error("not a safetensors file: its header is not a JSON object");
  }
  const dataStart = 8 + headerLength;
  const dataLength = bytes.length - dataStart;
  const out = {};
  const spans = [];
  for (const [name, info] of Object.entries(header)) {
    if (name === "__metadata__") {
      out[name] = info;
      continue;
    }
    const [begin, end, count] = checkEntry(name, info, dataLength);
    spans.push([begin, end, name]);
    out[name] = { dtype: info.dtype, shape: info.shape.slice(), data: null, begin, count };
  }
  // Like the reference reader, insist that the tensors tile the data exactly: no overlaps, no
  // holes, nothing after the last one (a file that hides other bytes is refused).
  spans.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let expected = 0;
  for (const [begin, end, name] of spans) {
    if (begin !== expected) {
      throw new Error(`malformed safetensors file: tensor "${name}" starts at byte ${begin} of the data, ` +
        `expected ${expected} (tensors must not overlap or leave gaps)`);
    }
    expected = end;
  }
  if (expected !== dataLength) {
    throw new Error(`malformed safetensors file: the tensors cover ${expected} bytes of data but the file ` +
      `has ${dataLength} (truncated, or extra bytes at the end)`);
  }
  for (const name of Object.keys(out)) {
    if (name === "__metadata__") continue;
    const t = out[name];
    t.data = toFloat32(bytes, dataStart + t.begin, t.count, t.dtype);
    delete t.begin;
    delete t.count;
  }
  return out;
}

function checkEntry(name, info, dataLength) {
  const where = `tensor "${name}"`;
  if (info === null || typeof info !== "object") throw new Error(`malformed safetensors header: ${where} is not an object`);
  if (!(info.dtype in ITEM_SIZE)) {
    throw new Error(`${where} has dtype ${JSON.stringify(info.dtype)}; this reader takes F32, F16, BF16 and F64 ` +
      `(save the model in one of those)`);
  }
  if (!Array.isArray(info.shape) || !info.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new Error(`malformed safetensors header: ${where} has shape ${JSON.stringify(info.shape)}`);
  }
  const offsets = info.data_offsets;
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((d) => Number.isSafeInteger(d) && d >= 0) ||
      offsets[0] > offsets[1]) {
    throw new Error(`malformed safetensors header: ${where} has data_offsets ${JSON.stringify(offsets)}`);
  }
  const count = info.shape.reduce((a, b) => a * b, 1);
  const [begin, end] = offsets;
  if (end - begin !== count * ITEM_SIZE[info.dtype]) {
    throw new Error(`malformed safetensors file: ${where} of shape [${info.shape}] in ${info.dtype} needs ` +
      `${count * ITEM_SIZE[info.dtype]} bytes, its offsets span ${end - begin}`);
  }
  if (end > dataLength) {
    throw new Error(`truncated safetensors file: ${where} ends at byte ${end} of the data, which has ${dataLength}`);
  }
  return [begin, end, count];
}

let halfTable = null; // float16 bits -> float32 value, built once (256 KiB)

function halfToFloat(h) {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24; // zero and subnormals
  if (exponent === 31) return mantissa ? NaN : sign * Infinity;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

function toFloat32(bytes, offset, count, dtype) {
  const out = new Float32Array(count);
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset, count * ITEM_SIZE[dtype]);
  if (dtype === "F32") {
    if (LITTLE_ENDIAN) new Uint8Array(out.buffer).set(bytes.subarray(offset, offset + 4 * count)); // any alignment
    else for (let i = 0; i < count; i++) out[i] = view.getFloat32(4 * i, true);
  } else if (dtype === "F16") {
    if (halfTable === null) {
      halfTable = new Float32Array(65536);
      for (let h = 0; h < 65536; h++) halfTable[h] = halfToFloat(h);
    }
    for (let i = 0; i < count; i++) out[i] = halfTable[view.getUint16(2 * i, true)];
  } else if (dtype === "F64") {
    if (LITTLE_ENDIAN) {
      const wide = new Float64Array(count);
      new Uint8Array(wide.buffer).set(bytes.subarray(offset, offset + 8 * count));
      out.set(wide); // rounds each value to the nearest float32
    } else for (let i = 0; i < count; i++) out[i] = view.getFloat64(8 * i, true);
  } else {
    // bfloat16 is the top half of a float32: shift its bits into place.
    const bits = new Uint32Array(out.buffer);
    for (let i = 0; i < count; i++) bits[i] = view.getUint16(2 * i, true) << 16;
  }
  return out;
}

function describe(value) {
  if (value === null) return "null";
  if (typeof value === "object") return value.constructor ? value.constructor.name : "object";
  return typeof value;
}

// ===============================================================================================
// The configuration: Hugging Face's config.json, refusing the GPT-2 variants this engine does
// not implement (the same rules as gptlib.config.GPTConfig.from_hf_dict).

function readConfig(hf) {
  if (hf === null || typeof hf !== "object" || Array.isArray(hf)) {
    throw new TypeError(`config must be the parsed config.json object, got ${describe(hf)}`);
  }
  const problems = [];
  if ((hf.model_type ?? "gpt2") !== "gpt2") problems.push(`model_type is ${JSON.stringify(hf.model_type)}, not "gpt2"`);
  const act = hf.activation_function ?? "gelu_new";
  if (act !== "gelu_new" && act !== "gelu_pytorch_tanh") {
    problems.push(`activation_function is ${JSON.stringify(act)}; this engine implements GPT-2's tanh GELU`);
  }
  if (hf.tie_word_embeddings === false) problems.push("tie_word_embeddings is false; GPT-2 ties the output head to wte");
  if (hf.scale_attn_weights === false || hf.scale_attn_by_inverse_layer_idx) {
    problems.push("the config changes how attention scores are scaled; this engine uses 1/sqrt(head size)");
  }
  const get = (name, fallback) => {
    const value = hf[name] ?? (fallback === undefined ? undefined : hf[fallback]);
    if (!Number.isSafeInteger(value) || value < 1) {
      problems.push(`${name} must be a positive integer, got ${JSON.stringify(value)}`);
      return 1;
    }
    return value;
  };
  const config = {
    vocabSize: get("vocab_size"),
    nCtx: get("n_positions", "n_ctx"),
    nEmbd: get("n_embd"),
    nHead: get("n_head"),
    nLayer: get("n_layer"),
    eps: hf.layer_norm_epsilon ?? 1e-5,
  };
  if (!(typeof config.eps === "number" && config.eps > 0)) problems.push(`layer_norm_epsilon must be > 0, got ${config.eps}`);
  if (config.nEmbd % config.nHead) problems.push(`n_embd (${config.nEmbd}) must be divisible by n_head (${config.nHead})`);
  if (hf.n_inner != null && hf.n_inner !== 4 * config.nEmbd) {
    problems.push(`n_inner is ${hf.n_inner}; this engine uses GPT-2's 4 * n_embd = ${4 * config.nEmbd}`);
  }
  if (problems.length) throw new Error("this GPT-2 config cannot be run:\n  " + problems.join("\n  "));
  config.headSize = config.nEmbd / config.nHead;
  return Object.freeze(config);
}

// Every tensor a GPT-2 checkpoint holds, with its shape; linear weights are [in, out] (Conv1D).
function expectedTensors(c) {
  const C = c.nEmbd;
  const shapes = { "transformer.wte.weight": [c.vocabSize, C], "transformer.wpe.weight": [c.nCtx, C] };
  for (let i = 0; i < c.nLayer; i++) {
    const p = `transformer.h.${i}.`;
    Object.assign(shapes, {
      [p + "ln_1.weight"]: [C], [p + "ln_1.bias"]: [C],
      [p + "attn.c_attn.weight"]: [C, 3 * C], [p + "attn.c_attn.bias"]: [3 * C],
      [p + "attn.c_proj.weight"]: [C, C], [p + "attn.c_proj.bias"]: [C],
      [p + "ln_2.weight"]: [C], [p + "ln_2.bias"]: [C],
      [p + "mlp.c_fc.weight"]: [C, 4 * C], [p + "mlp.c_fc.bias"]: [4 * C],
      [p + "mlp.c_proj.weight"]: [4 * C, C], [p + "mlp.c_proj.bias"]: [C],
    });
  }
  shapes["transformer.ln_f.weight"] = [C];
  shapes["transformer.ln_f.bias"] = [C];
  return shapes;
}

const IGNORED_SUFFIXES = [".attn.bias", ".attn.masked_bias"]; // causal-mask buffers, not parameters

function checkTensors(tensors, config) {
  if (tensors === null || typeof tensors !== "object") {
    throw new TypeError(`tensors must be parseSafetensors' result, got ${describe(tensors)}`);
  }
  const found = {};
  let head = null;
  for (const [name, t] of Object.entries(tensors)) {
    if (name === "__metadata__" || IGNORED_SUFFIXES.some((s) => name.endsWith(s))) continue;
    if (name === "lm_head.weight") { head = t; continue; }
    // Files from the hub name tensors "h.0...", save_pretrained "transformer.h.0...".
    found[name.startsWith("transformer.") ? name : "transformer." + name] = t;
  }
  const expected = expectedTensors(config);
  const missing = Object.keys(expected).filter((n) => !(n in found));
  const unexpected = Object.keys(found).filter((n) => !(n in expected));
  const wrong = [];
  for (const n of Object.keys(expected)) {
    const t = found[n];
    if (!t) continue;
    if (!(t.data instanceof Float32Array) || !Array.isArray(t.shape)) {
      wrong.push(`${n}: not a {shape, data: Float32Array} tensor`);
    } else if (t.shape.join(",") !== expected[n].join(",") || t.data.length !== expected[n].reduce((a, b) => a * b, 1)) {
      wrong.push(`${n}: expected [${expected[n]}], found [${t.shape}]`);
    }
  }
  const problems = [];
  if (missing.length) problems.push("missing tensors: " + missing.join(", "));
  if (unexpected.length) problems.push("unexpected tensors: " + unexpected.join(", "));
  if (wrong.length) problems.push("wrong shapes: " + wrong.join("; "));
  if (problems.length) throw new Error("the tensors do not match the model's config:\n  " + problems.join("\n  "));
  if (head !== null) {
    const wte = found["transformer.wte.weight"].data;
    if (!head.data || head.data.length !== wte.length || head.data.some((v, i) => v !== wte[i])) {
      throw new Error("lm_head.weight differs from transformer.wte.weight; GPT-2's output head is tied to wte");
    }
  }
  return found;
}

// A Conv1D weight [in, out] -> [out, in], so that each output is a dot product over a contiguous row.
function transpose(w, rows, cols) {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = w[r * cols + c];
  return out;
}

// ===============================================================================================
// Kernels. Plain loops over typed arrays, no allocation. Sums are in float64 (JavaScript numbers).

// Y[t, :] (+)= X[t, :] @ W^T + b for t < T, with W stored [O, I] (out, in). The inner loop works
// on a tile of 4 rows x 2 outputs: each weight read serves 4 rows and each input read 2 outputs,
// and the 8 sums are independent (no add waits for the previous one).
function matmul(Y, X, W, b, T, I, O, accumulate) {
  let t = 0;
  for (; t + 4 <= T; t += 4) {
    const x0 = t * I, x1 = x0 + I, x2 = x1 + I, x3 = x2 + I;
    let o = 0;
    for (; o + 2 <= O; o += 2) {
      const w0 = o * I, w1 = w0 + I;
      let a0 = 0, a1 = 0, a2 = 0, a3 = 0, c0 = 0, c1 = 0, c2 = 0, c3 = 0;
      for (let i = 0; i < I; i++) {
        const u = W[w0 + i], v = W[w1 + i];
        const p0 = X[x0 + i], p1 = X[x1 + i], p2 = X[x2 + i], p3 = X[x3 + i];
        a0 += p0 * u; a1 += p1 * u; a2 += p2 * u; a3 += p3 * u;
        c0 += p0 * v; c1 += p1 * v; c2 += p2 * v; c3 += p3 * v;
      }
      store4(Y, t * O + o, O, a0, a1, a2, a3, b === null ? 0 : b[o], accumulate);
      store4(Y, t * O + o + 1, O, c0, c1, c2, c3, b === null ? 0 : b[o + 1], accumulate);
    }
    for (; o < O; o++) {
      const w0 = o * I;
      let a0 = 0, a1 = 0, a2 = 0, a3 = 0;
      for (let i = 0; i < I; i++) {
        const u = W[w0 + i];
        a0 += X[x0 + i] * u; a1 += X[x1 + i] * u; a2 += X[x2 + i] * u; a3 += X[x3 + i] * u;
      }
      store4(Y, t * O + o, O, a0, a1, a2, a3, b === null ? 0 : b[o], accumulate);
    }
  }
  for (; t < T; t++) matvec(Y, t * O, X, t * I, W, b, I, O, accumulate);
}

// Y[at + r * stride] (+)= s_r + bias for the 4 rows r of a tile.
function store4(Y, at, stride, s0, s1, s2, s3, bias, accumulate) {
  if (accumulate) {
    Y[at] += s0 + bias; Y[at + stride] += s1 + bias; Y[at + 2 * stride] += s2 + bias; Y[at + 3 * stride] += s3 + bias;
  } else {
    Y[at] = s0 + bias; Y[at + stride] = s1 + bias; Y[at + 2 * stride] = s2 + bias; Y[at + 3 * stride] = s3 + bias;
  }
}

// One row: Y[yo + o] (+)= X[xo : xo + I] . W[o] + b[o], four outputs at a time. Each output is
// summed in the same order as in matmul's tiles, so a row's result does not depend on whether it
// was computed alone or with others: forward, step and the remembered prefix agree to the bit.
function matvec(Y, yo, X, xo, W, b, I, O, accumulate) {
  let o = 0;
  for (; o + 4 <= O; o += 4) {
    const w0 = o * I, w1 = w0 + I, w2 = w1 + I, w3 = w2 + I;
    let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (let i = 0; i < I; i++) {
      const x = X[xo + i];
      s0 += x * W[w0 + i]; s1 += x * W[w1 + i]; s2 += x * W[w2 + i]; s3 += x * W[w3 + i];
    }
    store1(Y, yo + o, s0, b === null ? 0 : b[o], accumulate);
    store1(Y, yo + o + 1, s1, b === null ? 0 : b[o + 1], accumulate);
    store1(Y, yo + o + 2, s2, b === null ? 0 : b[o + 2], accumulate);
    store1(Y, yo + o + 3, s3, b === null ? 0 : b[o + 3], accumulate);
  }
  for (; o < O; o++) {
    const w0 = o * I;
    let s0 = 0;
    for (let i = 0; i < I; i++) s0 += X[xo + i] * W[w0 + i];
    store1(Y, yo + o, s0, b === null ? 0 : b[o], accumulate);
  }
}

function store1(Y, at, sum, bias, accumulate) {
  if (accumulate) Y[at] += sum + bias;
  else Y[at] = sum + bias;
}

// Layer norm of each of T rows of width C: (x - mean) / sqrt(var + eps) * g + b.
function layerNorm(Y, X, g, b, T, C, eps) {
  for (let t = 0; t < T; t++) {
    const o = t * C;
    let mean = 0;
    for (let i = 0; i < C; i++) mean += X[o + i];
    mean /= C;
    let variance = 0;
    for (let i = 0; i < C; i++) {
      const d = X[o + i] - mean;
      variance += d * d;
    }
    const scale = 1 / Math.sqrt(variance / C + eps);
    for (let i = 0; i < C; i++) Y[o + i] = (X[o + i] - mean) * scale * g[i] + b[i];
  }
}

// GPT-2's GELU, the tanh approximation, in place over n values.
const GELU_K = Math.sqrt(2 / Math.PI);
function gelu(X, n) {
  for (let i = 0; i < n; i++) {
    const x = X[i];
    X[i] = 0.5 * x * (1 + Math.tanh(GELU_K * (x + 0.044715 * x * x * x)));
  }
}

// ===============================================================================================
// The model.

class KVCache {
  // Keys and values of every position seen so far: per layer, per head, nCtx rows of headSize.
  constructor(config) {
    const size = config.nLayer * config.nHead * config.nCtx * config.headSize;
    this.config = config;
    this.k = new Float32Array(size);
    this.v = new Float32Array(size);
    this.length = 0;
  }

  reset() {
    this.length = 0;
  }
}

export class GPT {
  constructor(config, tensors) {
    this.config = readConfig(config);
    const c = this.config;
    const t = checkTensors(tensors, c);
    const C = c.nEmbd;
    const w = (name) => t["transformer." + name].data;
    this.wte = w("wte.weight"); // [V, C]: the embedding, and (tied) the head's [out, in] weight
    this.wpe = w("wpe.weight"); // [nCtx, C]
    this.layers = [];
    for (let i = 0; i < c.nLayer; i++) {
      const p = `h.${i}.`;
      this.layers.push({
        ln1g: w(p + "ln_1.weight"), ln1b: w(p + "ln_1.bias"),
        attnW: transpose(w(p + "attn.c_attn.weight"), C, 3 * C), attnB: w(p + "attn.c_attn.bias"),
        projW: transpose(w(p + "attn.c_proj.weight"), C, C), projB: w(p + "attn.c_proj.bias"),
        ln2g: w(p + "ln_2.weight"), ln2b: w(p + "ln_2.bias"),
        fcW: transpose(w(p + "mlp.c_fc.weight"), C, 4 * C), fcB: w(p + "mlp.c_fc.bias"),
        fcProjW: transpose(w(p + "mlp.c_proj.weight"), 4 * C, C), fcProjB: w(p + "mlp.c_proj.bias"),
      });
    }
    this.lnfg = w("ln_f.weight");
    this.lnfb = w("ln_f.bias");
    this._rows = 0; // scratch buffers are sized for this many positions, grown on demand
    this._scores = new Float64Array(c.nCtx); // one query's attention scores
    this._acc = new Float64Array(c.headSize); // one query's attention output
    this._memo = null; // the last forward call's results, see forward
  }

  static fromBuffers(configJson, safetensorsBuffer) {
    let config = configJson;
    if (typeof configJson === "string") {
      try {
        config = JSON.parse(configJson);
      } catch (err) {
        throw new Error(`config.json is not valid JSON: ${err.message}`);
      }
    }
    return new GPT(config, parseSafetensors(safetensorsBuffer));
  }

  static async load(folderUrl, { weights = "model.safetensors", fetch: fetchFn = globalThis.fetch } = {}) {
    const base = String(folderUrl).replace(/\/+$/, "");
    const get = async (name) => {
      const response = await fetchFn(`${base}/${name}`);
      if (!response.ok) throw new Error(`could not fetch ${base}/${name}: HTTP ${response.status}`);
      return response;
    };
    const [config, buffer] = await Promise.all([
      get("config.json").then((r) => r.text()),
      get(weights).then((r) => r.arrayBuffer()),
    ]);
    return GPT.fromBuffers(config, buffer);
  }

  createCache() {
    return new KVCache(this.config);
  }

  forward(ids, { attention = true, lens = 0 } = {}) {
    const c = this.config, V = c.vocabSize;
    ids = this._checkIds(ids, 0);
    if (!Number.isInteger(lens) || lens < 0 || lens > V) {
      throw new Error(`lens must be an integer k in [0, ${V}] (0: no logit lens), got ${lens}`);
    }
    const T = ids.length;
    // The positions before the first token that differs from the last call's are kept: causal
    // attention means they do not depend on the tokens after them. So typing at the end of a
    // text recomputes only the new tokens (the results are the same to the bit).
    let m = this._memo;
    if (m === null || m.attention !== Boolean(attention) || m.k !== lens) {
      m = this._memo = { ids: new Int32Array(c.nCtx), n: 0, rows: 0, cache: this.createCache(),
        attention: Boolean(attention), k: lens, logits: null, maps: null, lens: null };
    }
    let p = 0;
    while (p < Math.min(m.n, T) && m.ids[p] === ids[p]) p++;
    if (p < T) {
      this._growMemo(m, T);
      m.cache.length = p;
      const fresh = ids.subarray(p);
      const x = this._run(m.cache, fresh, m.maps, lens ? (layer, h) => this._lens(m.lens[layer], h, fresh.length, p, lens) : null);
      this._head(m.logits.subarray(p * V), x, fresh.length);
      m.ids.set(fresh, p);
      m.n = T;
    }
    return {
      logits: m.logits.slice(0, T * V),
      attention: attention ? this._squareMaps(m.maps, T) : null,
      lens: lens ? m.lens.map((l) => ({ ids: l.ids.slice(0, T * lens), probs: l.probs.slice(0, T * lens) })) : null,
    };
  }

  logitLens(ids, k = 1) {
    if (!Number.isInteger(k) || k < 1) throw new Error(`k must be a positive integer, got ${k}`);
    return this.forward(ids, { attention: false, lens: k }).lens;
  }

  step(cache, ids) {
    if (!(cache instanceof KVCache) || cache.config !== this.config) {
      throw new TypeError("step needs a cache made by this model's createCache()");
    }
    ids = this._checkIds(ids, cache.length);
    const T = ids.length;
    const x = this._run(cache, ids, null, null);
    const logits = new Float32Array(this.config.vocabSize);
    this._head(logits, x.subarray((T - 1) * this.config.nEmbd), 1);
    return logits;
  }

  stream(ids, options = {}) {
    // Settings are checked here, when stream() is called, not when the first token is asked for.
    const c = this.config;
    const { maxNewTokens = 50, temperature = 1, topK: k = null, topP = null, seed = 0, eosId = "auto", stop = [] } = options;
    const sampling = { temperature, topK: k, topP };
    checkSampling(sampling);
    if (!Number.isInteger(maxNewTokens) || maxNewTokens < 0) {
      throw new Error(`maxNewTokens must be an integer >= 0, got ${maxNewTokens}`);
    }
    const prompt = Array.from(this._checkIds(ids, 0));
    const stops = checkStops(stop, c.vocabSize);
    const eos = eosId === "auto" ? (c.vocabSize === GPT2_EOT + 1 ? GPT2_EOT : null) : eosId;
    if (eos !== null) stops.push(...checkStops([[eos]], c.vocabSize));
    return this._tokens(prompt, maxNewTokens, sampling, makeRng(seed), stops);
  }

  *_tokens(seq, maxNewTokens, sampling, rng, stops) {
    const nCtx = this.config.nCtx;
    const cache = this.createCache();
    const generated = [];
    const ends = (s) => s.length <= generated.length && s.every((id, i) => generated[generated.length - s.length + i] === id);
    for (let n = 0; n < maxNewTokens; n++) {
      let logits;
      if (n === 0) {
        logits = this.step(cache, seq);
      } else if (seq.length <= nCtx) {
        logits = this.step(cache, seq.slice(-1));
      } else {
        // Past the context every token moves to a new position: prefill the last nCtx afresh.
        cache.reset();
        logits = this.step(cache, seq.slice(seq.length - nCtx));
      }
      // Greedy decoding draws no random number, as in gptlib.generation.
      const token = sampling.temperature === 0 ? argmax(logits) : sampleToken(logits, rng(), sampling);
      seq.push(token);
      generated.push(token);
      yield token;
      if (stops.some(ends)) return;
    }
  }

  generate(ids, options = {}) {
    return Array.from(this.stream(ids, options));
  }

  // --- internals ------------------------------------------------------------------------------

  _checkIds(ids, past) {
    const c = this.config;
    if (!(Array.isArray(ids) || ArrayBuffer.isView(ids))) {
      throw new TypeError(`token ids must be an array of integers, got ${describe(ids)}`);
    }
    if (ids.length === 0) throw new Error("the sequence of token ids is empty; give at least one token");
    if (past + ids.length > c.nCtx) {
      throw new Error(past
        ? `the cache holds ${past} positions and ${ids.length} more would pass the model's context n_ctx=${c.nCtx}`
        : `the sequence has ${ids.length} tokens but the model's context is n_ctx=${c.nCtx}; keep the last ${c.nCtx}`);
    }
    const out = new Int32Array(ids.length);
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (!Number.isInteger(id) || id < 0 || id >= c.vocabSize) {
        throw new Error(`token id ${id} at position ${i} is not in [0, ${c.vocabSize}) (vocab_size ${c.vocabSize})`);
      }
      out[i] = id;
    }
    return out;
  }

  // Room in the memo for T positions, keeping what it holds.
  _growMemo(m, T) {
    if (T <= m.rows) return;
    const c = this.config, rows = Math.min(c.nCtx, Math.max(T, 2 * m.rows));
    const grow = (old, size, Type) => {
      const out = new Type(size);
      if (old !== null) out.set(old);
      return out;
    };
    m.logits = grow(m.logits, rows * c.vocabSize, Float32Array);
    if (m.attention) {
      // Each head's map is kept as its lower triangle: row t (t + 1 values) at t * (t + 1) / 2.
      const size = (rows * (rows + 1)) / 2;
      m.maps = Array.from({ length: c.nLayer }, (_, l) =>
        Array.from({ length: c.nHead }, (_, h) => grow(m.maps && m.maps[l][h], size, Float32Array)));
    }
    if (m.k) {
      m.lens = Array.from({ length: c.nLayer }, (_, l) => ({
        ids: grow(m.lens && m.lens[l].ids, rows * m.k, Int32Array),
        probs: grow(m.lens && m.lens[l].probs, rows * m.k, Float32Array),
      }));
    }
    m.rows = rows;
  }

  // The first T rows of the triangular maps as T x T squares (zero above the diagonal).
  _squareMaps(maps, T) {
    return maps.map((heads) => heads.map((tri) => {
      const square = new Float32Array(T * T);
      for (let t = 0; t < T; t++) square.set(tri.subarray((t * (t + 1)) / 2, ((t + 1) * (t + 2)) / 2), t * T);
      return square;
    }));
  }

  _grow(T) {
    if (T <= this._rows) return;
    const C = this.config.nEmbd;
    this._rows = T;
    this._x = new Float32Array(T * C); // the residual stream
    this._h = new Float32Array(T * C); // a layer norm's output
    this._qkv = new Float32Array(T * 3 * C);
    this._att = new Float32Array(T * C); // the heads' outputs side by side
    this._fc = new Float32Array(T * 4 * C);
  }

  // Run the new tokens ids through the blocks, reading and extending the cache. Returns the
  // residual stream [T, C] after the last block (before ln_f). maps: null, or the triangular
  // attention maps (maps[layer][head]) to fill for the new positions; afterBlock(layer, x):
  // called with each block's output.
  _run(cache, ids, maps, afterBlock) {
    const c = this.config;
    const T = ids.length, C = c.nEmbd, past = cache.length;
    this._grow(T);
    const x = this._x, h = this._h, qkv = this._qkv, att = this._att, fc = this._fc;
    for (let t = 0; t < T; t++) {
      const e = ids[t] * C, p = (past + t) * C;
      for (let i = 0; i < C; i++) x[t * C + i] = this.wte[e + i] + this.wpe[p + i];
    }
    for (let l = 0; l < c.nLayer; l++) {
      const L = this.layers[l];
      layerNorm(h, x, L.ln1g, L.ln1b, T, C, c.eps);
      matmul(qkv, h, L.attnW, L.attnB, T, C, 3 * C, false);
      this._attend(cache, l, T, maps === null ? null : maps[l]);
      matmul(x, att, L.projW, L.projB, T, C, C, true); // x += attention's output
      layerNorm(h, x, L.ln2g, L.ln2b, T, C, c.eps);
      matmul(fc, h, L.fcW, L.fcB, T, C, 4 * C, false);
      gelu(fc, T * 4 * C);
      matmul(x, fc, L.fcProjW, L.fcProjB, T, 4 * C, C, true); // x += the MLP's output
      if (afterBlock !== null) afterBlock(l, x);
    }
    cache.length = past + T;
    return x;
  }

  // Causal attention of the T new positions (in this._qkv) over the cached ones and themselves;
  // writes this._att [T, C] and stores the new keys and values in the cache.
  _attend(cache, layer, T, maps) {
    const c = this.config;
    const C = c.nEmbd, hs = c.headSize, past = cache.length, qkv = this._qkv, att = this._att;
    const K = cache.k, Vs = cache.v, scores = this._scores, acc = this._acc;
    const scale = 1 / Math.sqrt(hs);
    for (let head = 0; head < c.nHead; head++) {
      const base = (layer * c.nHead + head) * c.nCtx * hs; // this head's rows in the cache
      const map = maps === null ? null : maps[head];
      for (let t = 0; t < T; t++) {
        const k = base + (past + t) * hs, src = t * 3 * C + head * hs;
        for (let d = 0; d < hs; d++) {
          K[k + d] = qkv[src + C + d];
          Vs[k + d] = qkv[src + 2 * C + d];
        }
      }
      for (let t = 0; t < T; t++) {
        const q = t * 3 * C + head * hs, n = past + t + 1; // query t sees keys 0 .. past + t
        let max = -Infinity;
        for (let j = 0; j < n; j++) {
          const k = base + j * hs;
          let s = 0;
          for (let d = 0; d < hs; d++) s += qkv[q + d] * K[k + d];
          s *= scale;
          scores[j] = s;
          if (s > max) max = s;
        }
        let sum = 0;
        for (let j = 0; j < n; j++) {
          const e = Math.exp(scores[j] - max);
          scores[j] = e;
          sum += e;
        }
        acc.fill(0);
        const row = ((past + t) * (past + t + 1)) / 2; // where this query's row starts in the map
        for (let j = 0; j < n; j++) {
          const p = scores[j] / sum, v = base + j * hs;
          for (let d = 0; d < hs; d++) acc[d] += p * Vs[v + d];
          if (map !== null) map[row + j] = p;
        }
        att.set(acc, t * C + head * hs);
      }
    }
  }

  // logits [T, V] = ln_f(x) @ wte^T, the tied head.
  _head(logits, x, T) {
    const c = this.config;
    const h = this._h;
    layerNorm(h, x, this.lnfg, this.lnfb, T, c.nEmbd, c.eps);
    matmul(logits, h, this.wte, null, T, c.nEmbd, c.vocabSize, false);
  }

  // The logit lens at one block's output x [T, C] (positions past ... past + T - 1): the k most
  // likely tokens at each position, written into out = {ids, probs}.
  _lens(out, x, T, past, k) {
    const C = this.config.nEmbd;
    const row = new Float32Array(this.config.vocabSize);
    for (let t = 0; t < T; t++) {
      this._head(row, x.subarray(t * C, (t + 1) * C), 1);
      const top = topK(softmax(row), k);
      out.ids.set(top.ids, (past + t) * k);
      out.probs.set(top.values, (past + t) * k);
    }
  }
}

// ===============================================================================================
// Sampling, the rules of gptlib.generation: temperature, then top-k, then top-p.

const GPT2_EOT = 50256; // <|endoftext|>, the last id of GPT-2's vocabulary

function checkSampling({ temperature = 1, topK: k = null, topP = null }) {
  if (typeof temperature !== "number" || !Number.isFinite(temperature) || temperature < 0) {
    throw new Error(`temperature must be a number >= 0 (0 means greedy), got ${temperature}`);
  }
  if (k !== null && (!Number.isInteger(k) || k < 1)) throw new Error(`topK must be an integer >= 1 (or null for no limit), got ${k}`);
  if (topP !== null && (typeof topP !== "number" || !(topP > 0 && topP <= 1))) {
    throw new Error(`topP must be in (0, 1] (or null for no limit), got ${topP}`);
  }
}

function checkStops(stop, vocabSize) {
  if (!Array.isArray(stop)) throw new TypeError("stop must be an array of token-id sequences, e.g. [[198, 198]]");
  return stop.map((s) => {
    if (!Array.isArray(s) || s.length === 0 || !s.every((id) => Number.isInteger(id) && id >= 0 && id < vocabSize)) {
      throw new Error(`each stop sequence must be a non-empty array of token ids in [0, ${vocabSize}), got ${JSON.stringify(s)}`);
    }
    return s.slice();
  });
}

function argmax(values) {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

export function softmax(logits) {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  const out = new Float64Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) {
    out[i] = Math.exp(logits[i] - max); // exp(-inf) = 0: filtered tokens get no probability
    sum += out[i];
  }
  for (let i = 0; i < out.length; i++) out[i] /= sum;
  return out;
}

export function nextTokenProbs(logits, options = {}) {
  checkSampling(options);
  const { temperature = 1, topK: k = null, topP = null } = options;
  const V = logits.length;
  if (temperature === 0) {
    const out = new Float64Array(V);
    out[argmax(logits)] = 1;
    return out;
  }
  const scaled = new Float64Array(V);
  for (let i = 0; i < V; i++) scaled[i] = logits[i] / temperature;
  if (k !== null && k < V) {
    // Keep every logit >= the k-th largest (ties with it are all kept, as in Python).
    const kth = Float64Array.from(scaled).sort()[V - k];
    for (let i = 0; i < V; i++) if (scaled[i] < kth) scaled[i] = -Infinity;
  }
  if (topP !== null && topP < 1) {
    // The nucleus: a token is kept when the tokens more likely than it add up to less than p.
    const probs = softmax(scaled);
    const order = Array.from(probs.keys()).sort((a, b) => probs[b] - probs[a] || a - b); // stable
    let before = 0;
    for (const i of order) {
      if (!(before < topP)) scaled[i] = -Infinity;
      before += probs[i];
    }
  }
  return softmax(scaled);
}

export function sampleToken(logits, u, options = {}) {
  if (typeof u !== "number" || !(u >= 0 && u < 1)) throw new Error(`u must be a number in [0, 1), got ${u}`);
  const probs = nextTokenProbs(logits, options);
  // The inverse CDF: the first token whose cumulative probability passes u (never a token of
  // probability 0; rounding may run past the end, then the last possible token).
  const cdf = new Float64Array(probs.length);
  let total = 0;
  for (let i = 0; i < probs.length; i++) cdf[i] = total += probs[i];
  const target = u * total;
  for (let i = 0; i < cdf.length; i++) if (cdf[i] > target) return i;
  for (let i = probs.length - 1; i >= 0; i--) if (probs[i] > 0) return i;
  return 0;
}

// xorshift32 (Marsaglia, "Xorshift RNGs", 2003, shifts 13, 17, 5) on a seed mixed by one round of
// a multiplicative hash so that nearby seeds start far apart. Plenty for sampling a next token.
export function makeRng(seed = 0) {
  if (!Number.isInteger(seed)) throw new Error(`seed must be an integer, got ${seed}`);
  let state = Math.imul((seed ^ 0x9e3779b9) >>> 0, 0x85ebca6b) >>> 0;
  if (state === 0) state = 0x6d2b79f5;
  return function next() {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 4294967296;
  };
}

export function topK(values, k) {
  if (!Number.isInteger(k) || k < 1) throw new Error(`k must be a positive integer, got ${k}`);
  k = Math.min(k, values.length);
  // One pass keeping the k best in a small sorted list: k is small (a handful of bars).
  const ids = new Int32Array(k).fill(-1), best = new Float64Array(k).fill(-Infinity);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!(v > best[k - 1]) && ids[k - 1] !== -1) continue;
    let j = k - 1;
    while (j > 0 && (v > best[j - 1] || ids[j - 1] === -1)) {
      best[j] = best[j - 1];
      ids[j] = ids[j - 1];
      j--;
    }
    best[j] = v;
    ids[j] = i;
  }
  return { ids, values: Float32Array.from(best) };
}
