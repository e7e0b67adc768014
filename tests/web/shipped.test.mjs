// The book's own model (gptlib/assets/shakespeare_gpt) against gptlib's NumPy GPT: logits, the
// logit lens, the cached step, and greedy generation past the context.
import assert from "node:assert/strict";
import test from "node:test";

import { assertClose, file, loadModel, readJSON, readTensors } from "./fixtures.mjs";

const gpt = loadModel(file("model"));
const reference = readTensors("reference.safetensors");
const cases = readJSON("cases.json");

test("logits equal NumPy's within 1e-4", () => {
  cases.sequences.forEach((ids, k) => {
    assertClose(gpt.forward(ids, { attention: false }).logits, reference[`logits.${k}`].data, 1e-4, `sequence ${k} (T=${ids.length})`);
  });
});

test("the logit lens gives NumPy's top-5 after every block", () => {
  const k = 5;
  const { nLayer, vocabSize } = gpt.config;
  cases.sequences.forEach((ids, s) => {
    const T = ids.length;
    const { logits, lens } = gpt.forward(ids, { attention: false, lens: k });
    assert.equal(lens.length, nLayer);
    const refIds = reference[`lens_ids.${s}`].data, refProbs = reference[`lens_probs.${s}`].data; // [L, T, k]
    for (let l = 0; l < nLayer; l++) {
      const at = l * T * k;
      assertClose(lens[l].probs, refProbs.subarray(at, at + T * k), 1e-4, `sequence ${s}, layer ${l}, probabilities`);
      for (let i = 0; i < T * k; i++) {
        // Ids must agree except between two tokens whose probabilities NumPy itself can barely tell apart.
        const j = at + i, tied = (i % k > 0 && refProbs[j - 1] - refProbs[j] < 1e-5) || (i % k < k - 1 && refProbs[j] - refProbs[j + 1] < 1e-5);
        if (!tied) assert.equal(lens[l].ids[i], refIds[j], `sequence ${s}, layer ${l}, position ${Math.floor(i / k)}, rank ${i % k}`);
      }
    }
    // After the last block the lens is the model's own prediction.
    for (let t = 0; t < T; t++) {
      const row = logits.subarray(t * vocabSize, (t + 1) * vocabSize);
      assert.equal(lens[nLayer - 1].ids[t * k], row.indexOf(Math.max(...row)));
    }
    assert.deepEqual(gpt.logitLens(ids, k), lens);
  });
});

test("greedy generation past the context gives NumPy's tokens", () => {
  const tokens = gpt.generate(cases.prompt, { maxNewTokens: cases.greedy.length, temperature: 0 });
  assert.deepEqual(tokens, cases.greedy);
});

test("sampling with a seed gives the same tokens every time, another seed others", () => {
  const options = { maxNewTokens: 40, temperature: 1, topK: 50, topP: 0.95 };
  const first = gpt.generate(cases.prompt, { ...options, seed: 42 });
  assert.equal(first.length, 40);
  assert.deepEqual(gpt.generate(cases.prompt, { ...options, seed: 42 }), first);
  assert.deepEqual(Array.from(gpt.stream(cases.prompt, { ...options, seed: 42 })), first);
  assert.notDeepEqual(gpt.generate(cases.prompt, { ...options, seed: 43 }), first);
});

test("generation stops right after a stop sequence or the eos id", () => {
  const free = gpt.generate(cases.prompt, { maxNewTokens: 30, temperature: 0 });
  const stop = free.slice(10, 12);
  const end = free.findIndex((_, i) => i >= 1 && free[i - 1] === stop[0] && free[i] === stop[1]);
  assert.deepEqual(gpt.generate(cases.prompt, { maxNewTokens: 30, temperature: 0, stop: [stop] }), free.slice(0, end + 1));
  const eos = free[5];
  assert.deepEqual(gpt.generate(cases.prompt, { maxNewTokens: 30, temperature: 0, eosId: eos }), free.slice(0, free.indexOf(eos) + 1));
  assert.deepEqual(gpt.generate(cases.prompt, { maxNewTokens: 0 }), []);
});
