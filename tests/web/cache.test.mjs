// The KV-cached step against the full forward pass: feeding a sequence in pieces gives the
// logits of the last token of each piece.
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
        assertClose(logits, row(at - 1), 1e-5, `${name}, pieces of ${pieces}, after ${at} tokens`);
      }
      assert.throws(() => gpt.step(cache, [0]), /cache holds \d+ positions and 1 more would pass the model's context/);
      cache.reset();
      assert.equal(cache.length, 0);
      assertClose(gpt.step(cache, ids.slice(0, 3)), row(2), 1e-5, `${name}, after reset`);
    }
    const other = loadModel(file(name));
    assert.throws(() => gpt.step(other.createCache(), [0]), /a cache made by this model's createCache/);
  });
}
