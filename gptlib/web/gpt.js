// gpt.js: a GPT-2-layout model in the reader's browser (and in Node >= 18), from the same Hugging
// Face safetensors files gptlib writes. One dependency-free ES module; it imports nothing, so a
// page can load it with <script type="module"> or inline it (import() of a Blob URL).
//
// API (stable: the playground and the live widgets are written against it)
// -----------------------------------------------------------------------------------------------
// parseSafetensors(buffer) -> {name: {dtype, shape, data}}
//     buffer: ArrayBuffer or Uint8Array holding a .safetensors file. dtype is the file's ("F32",
//     "F16" or "BF16"), shape an array of ints, data a Float32Array (F16/BF16 widened exactly).
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
//   gpt.logitLens(ids, k = 1) -> lens as above.
//
//   KV cache, for generation (each new token costs one position's work, not T's):
//   const cache = gpt.createCache();       // empty; cache.length is the number of positions held
//   const next = gpt.step(cache, ids);     // appends ids (one or more) to the cache and returns a
//                                          // Float32Array(vocabSize): logits after the last of them
//   cache.reset();                         // empty it again (buffers are kept)
//       step refuses to grow the cache past nCtx (an Error saying so).
//       gpt.step(gpt.createCache(), ids) equals the last row of gpt.forward(ids).logits.
//
//   gpt.stream(ids, options) -> iterator of token ids; gpt.generate(ids, options) -> array of the
//   new ids. options: {maxNewTokens = 50, temperature = 1, topK = null, topP = null, seed = 0,
//   stopIds = []}. Uses the cache; past nCtx tokens it reads the last nCtx (a fresh prefill, as
//   gptlib.generation does). The same seed gives the same tokens every time, on every machine.
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

export function parseSafetensors(buffer) {
  throw new Error("parseSafetensors: not implemented yet");
}

export class GPT {
  constructor(config, tensors) {
    throw new Error("GPT: not implemented yet");
  }
}

export function nextTokenProbs(logits, options = {}) {
  throw new Error("nextTokenProbs: not implemented yet");
}

export function sampleToken(logits, u, options = {}) {
  throw new Error("sampleToken: not implemented yet");
}

export function makeRng(seed) {
  throw new Error("makeRng: not implemented yet");
}

export function topK(values, k) {
  throw new Error("topK: not implemented yet");
}

export function softmax(logits) {
  throw new Error("softmax: not implemented yet");
}
