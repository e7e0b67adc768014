// Configs, tensor sets and inputs the engine cannot run are refused, naming the problem.
import assert from "node:assert/strict";
import fs from "node:fs";
import test from "node:test";

import { GPT, parseSafetensors } from "../../gptlib/web/gpt.js";
import { assertClose, file, loadModel } from "./fixtures.mjs";

const config = () => JSON.parse(fs.readFileSync(file("small", "config.json"), "utf8"));
const tensors = () => parseSafetensors(fs.readFileSync(file("small", "model.safetensors")));

test("configs this engine does not implement are refused", () => {
  const cases = [
    [{ activation_function: "relu" }, /activation_function is "relu"/],
    [{ n_inner: 10 }, /n_inner is 10; this engine uses GPT-2's 4 \* n_embd = 128/],
    [{ tie_word_embeddings: false }, /tie_word_embeddings is false/],
    [{ model_type: "llama" }, /model_type is "llama"/],
    [{ scale_attn_by_inverse_layer_idx: true }, /attention scores are scaled/],
    [{ n_head: 5 }, /n_embd \(32\) must be divisible by n_head \(5\)/],
    [{ vocab_size: undefined }, /vocab_size must be a positive integer, got undefined/],
    [{ n_layer: 1.5 }, /n_layer must be a positive integer, got 1.5/],
    [{ layer_norm_epsilon: -1 }, /layer_norm_epsilon must be > 0/],
  ];
  for (const [change, message] of cases) {
    assert.throws(() => new GPT({ ...config(), ...change }, tensors()), message, JSON.stringify(change));
  }
  assert.throws(() => new GPT(null, tensors()), /config must be the parsed config.json object/);
  assert.throws(() => GPT.fromBuffers("{not json", new ArrayBuffer(8)), /config.json is not valid JSON/);
});

test("missing, unexpected and misshapen tensors are refused, each named", () => {
  const t = tensors();
  delete t["transformer.h.1.ln_2.bias"];
  t["transformer.h.7.mlp.c_fc.weight"] = t["transformer.h.0.mlp.c_fc.weight"];
  assert.throws(() => new GPT(config(), t), (err) =>
    /missing tensors: transformer.h.1.ln_2.bias/.test(err.message) &&
    /unexpected tensors: transformer.h.7.mlp.c_fc.weight/.test(err.message));
  assert.throws(() => new GPT({ ...config(), vocab_size: 102 }, tensors()),
    /wrong shapes: transformer.wte.weight: expected \[102,32\], found \[101,32\]/);
  assert.throws(() => new GPT(config(), null), /tensors must be parseSafetensors' result/);
});

test("hub names, mask buffers and a tied lm_head are accepted; an untied head is refused", () => {
  const reference = loadModel(file("small")).forward([1, 2, 3]).logits;
  const hub = {};
  for (const [name, t] of Object.entries(tensors())) hub[name.replace(/^transformer\./, "")] = t;
  hub["h.0.attn.bias"] = { dtype: "F32", shape: [1, 1, 24, 24], data: new Float32Array(576) };
  hub["lm_head.weight"] = hub["wte.weight"];
  assertClose(new GPT(config(), hub).forward([1, 2, 3]).logits, reference, 0, "hub-named tensors");
  const untied = tensors();
  untied["lm_head.weight"] = { ...untied["transformer.wte.weight"], data: untied["transformer.wte.weight"].data.map((v) => v + 1) };
  assert.throws(() => new GPT(config(), untied), /lm_head.weight differs from transformer.wte.weight/);
});

test("bad token ids and options are refused", () => {
  const gpt = loadModel(file("small"));
  assert.throws(() => gpt.forward([]), /the sequence of token ids is empty/);
  assert.throws(() => gpt.forward([1, 101]), /token id 101 at position 1 is not in \[0, 101\)/);
  assert.throws(() => gpt.forward([1, -1]), /token id -1 at position 1/);
  assert.throws(() => gpt.forward([1.5]), /token id 1.5 at position 0/);
  assert.throws(() => gpt.forward("hello"), /token ids must be an array of integers, got string/);
  assert.throws(() => gpt.forward(new Array(25).fill(0)), /the sequence has 25 tokens but the model's context is n_ctx=24/);
  assert.throws(() => gpt.forward([1], { lens: -1 }), /lens must be an integer k/);
  assert.throws(() => gpt.logitLens([1], 0), /k must be a positive integer/);
  assert.throws(() => gpt.generate([1], { temperature: -1 }), /temperature must be a number >= 0/);
  assert.throws(() => gpt.generate([1], { topK: 0 }), /topK must be an integer >= 1/);
  assert.throws(() => gpt.generate([1], { topP: 1.5 }), /topP must be in \(0, 1\]/);
  assert.throws(() => gpt.generate([1], { maxNewTokens: -2 }), /maxNewTokens must be an integer >= 0/);
  assert.throws(() => gpt.generate([1], { stop: [[]] }), /each stop sequence must be a non-empty array/);
  assert.throws(() => gpt.generate([1], { seed: 0.5 }), /seed must be an integer/);
});
