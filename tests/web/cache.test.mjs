// The KV-cached step against the full forward pass: feeding a sequence in pieces gives exactly
// the logits of the last token of each piece.
import assert from "node:assert/strict";
import test from "node:test";

import { assertClose, file, loadModel, readJSON } from "./fixtures.mjs";

for (const name of readJSON("models.json")) {
  test(`${name}: step over pieces equals forward`, () => {
    const gpt = loadModel(file(name));
    const { nCtx, vocabSize } = gpt.config;
    const cases = readJSON(name, "cases.json");
    const ids = cases[cases.length - 1]; // the longest, nCtx tokens
    assert.equal(ids.length, nCtx);
    const full = gpt.forward(ids, { attention: false }).logits;
    const row = (t) => full.subarray(t * vocabSize, (t + 1) * vocabSize);
    for (const pieces of [[1], [2, 1, 3], [Math.ceil(nCtx / 2)]]) {
      const cache = gpt.createCache();
      let at = 0;
      for (let k = 0; at < nCtx; k++) {
        const n = Math.min(pieces[k % pieces.length], nCtx - at);
        const logits = gpt.step(cache, ids.slice(at, at + n));
        at += n;
        assert.equal(cache.length, at);
        assertClose(logits, row(at - 1), 0, `${name}, pieces of ${pieces}, after ${at} tokens`);
      }
      assert.throws(() => gpt.step(cache, [0]), /cache holds \d+ positions and 1 more would pass the model's context/);
      cache.reset();
      assert.equal(cache.length, 0);
      assertClose(gpt.step(cache, ids.slice(0, 3)), row(2), 0, `${name}, after reset`);
    }
    const other = loadModel(file(name));
    assert.throws(() => gpt.step(other.createCache(), [0]), /a cache made by this model's createCache/);
  });
}

// forward remembers its last call and recomputes only from the first token that changed: its
// results must be exactly those of a model that computes everything afresh.
for (const name of readJSON("models.json")) {
  test(`${name}: forward after other texts equals forward from scratch`, () => {
    const gpt = loadModel(file(name));
    const { nCtx, vocabSize } = gpt.config;
    const cases = readJSON(name, "cases.json");
    const ids = cases[cases.length - 1];
    const fresh = (seq, options) => loadModel(file(name)).forward(seq, options);
    const changed = ids.slice();
    changed[Math.floor(nCtx / 2)] = (changed[Math.floor(nCtx / 2)] + 1) % vocabSize;
    const sequence = [ids.slice(0, 2), ids.slice(0, 5), ids, ids.slice(0, 3), changed, changed, ids.slice(0, 1), ids];
    for (const options of [{}, { attention: false, lens: 3 }, { lens: 2 }]) {
      for (const seq of sequence) {
        const out = gpt.forward(seq, options), expected = fresh(seq, options);
        assert.deepEqual(out, expected, `${name}, T=${seq.length}, ${JSON.stringify(options)}`);
      }
    }
    const out = gpt.forward(ids);
    out.logits[0] += 1; // what a caller does with the results cannot change the next call's
    assert.deepEqual(gpt.forward(ids).logits, fresh(ids).logits);
  });
}
