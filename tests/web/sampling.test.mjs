// nextTokenProbs and sampleToken against gptlib.generation's next_token_probs and sample_token
// (given the same uniform draw); the seeded generator and topK.
import assert from "node:assert/strict";
import test from "node:test";

import { makeRng, nextTokenProbs, sampleToken, softmax, topK } from "../../gptlib/web/gpt.js";
import { assertClose, readJSON } from "./fixtures.mjs";

test("the next-token distribution and the sampled token equal Python's", () => {
  const cases = readJSON("sampling.json");
  assert.ok(cases.length >= 20);
  for (const { logits, options, u, probs, token } of cases) {
    const what = JSON.stringify(options);
    assertClose(nextTokenProbs(Float32Array.from(logits), options), probs, 1e-12, what);
    assert.equal(sampleToken(Float32Array.from(logits), u, options), token, `${what}, u=${u}`);
  }
});

test("the generator is deterministic, uniform enough and seed-dependent", () => {
  const draw = (seed, n) => Array.from({ length: n }, makeRng(seed));
  assert.deepEqual(draw(7, 100), draw(7, 100));
  assert.notDeepEqual(draw(7, 100), draw(8, 100));
  const values = draw(0, 20000);
  assert.ok(values.every((v) => v >= 0 && v < 1));
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  assert.ok(Math.abs(mean - 0.5) < 0.01, `mean ${mean}`);
  const buckets = new Array(10).fill(0);
  for (const v of values) buckets[Math.floor(v * 10)]++;
  assert.ok(buckets.every((n) => Math.abs(n - 2000) < 150), `buckets ${buckets}`);
});

test("topK returns the k largest, largest first, ties in index order", () => {
  const values = Float32Array.from([0.1, 0.5, 0.3, 0.5, -1, 0.9]);
  const { ids, values: top } = topK(values, 3);
  assert.deepEqual(Array.from(ids), [5, 1, 3]);
  assert.deepEqual(Array.from(top), [values[5], values[1], values[3]]);
  assert.deepEqual(Array.from(topK(values, 10).ids), [5, 1, 3, 2, 0, 4]);
  assert.throws(() => topK(values, 0), /k must be a positive integer/);
  const p = softmax([1000, 1000, -Infinity]);
  assert.deepEqual(Array.from(p), [0.5, 0.5, 0]);
  assert.throws(() => sampleToken([1, 2], 1), /u must be a number in \[0, 1\)/);
});
