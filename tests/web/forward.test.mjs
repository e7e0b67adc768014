// gpt.forward against Hugging Face's GPT2LMHeadModel (logits and output_attentions), fp32.
import assert from "node:assert/strict";
import test from "node:test";

import { assertClose, file, loadModel, readJSON, readTensors } from "./fixtures.mjs";

for (const name of readJSON("models.json")) {
  test(`${name}: logits within 1e-4 and attention within 1e-5 of Hugging Face`, () => {
    const gpt = loadModel(file(name));
    const reference = readTensors(name, "reference.safetensors");
    const { nLayer, nHead, vocabSize } = gpt.config;
    readJSON(name, "cases.json").forEach((ids, k) => {
      const T = ids.length;
      const out = gpt.forward(ids);
      assert.equal(out.logits.length, T * vocabSize);
      assertClose(out.logits, reference[`logits.${k}`].data, 1e-4, `${name}, T=${T}, logits`);
      const attention = reference[`attention.${k}`].data; // [L, H, T, T]
      assert.equal(out.attention.length, nLayer);
      for (let l = 0; l < nLayer; l++) {
        assert.equal(out.attention[l].length, nHead);
        for (let h = 0; h < nHead; h++) {
          const at = (l * nHead + h) * T * T;
          assertClose(out.attention[l][h], attention.subarray(at, at + T * T), 1e-5, `${name}, T=${T}, layer ${l} head ${h}`);
        }
      }
      const plain = gpt.forward(ids, { attention: false });
      assert.equal(plain.attention, null);
      assert.equal(plain.lens, null);
      assert.deepEqual(plain.logits, out.logits, "the logits do not depend on whether attention maps are kept");
    });
  });
}
