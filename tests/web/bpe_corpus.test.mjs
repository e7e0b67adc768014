// bpe.js on the whole corpus: the same ids as gptlib's Shakespeare tokenizer and tiktoken's GPT-2.
import assert from "node:assert/strict";
import test from "node:test";

import { BPETokenizer, tokenizerFromFiles } from "../../gptlib/web/bpe.js";
import { readInt32, readText } from "./fixtures.mjs";

const corpus = readText("corpus.txt");

function assertSameIds(actual, expected, what) {
  const n = Math.min(actual.length, expected.length);
  let i = 0;
  while (i < n && actual[i] === expected[i]) i++;
  assert.ok(i === n && actual.length === expected.length,
    `${what}: ${actual.length} ids vs ${expected.length}; first difference at id ${i}: ${actual[i]} vs ${expected[i]}`);
}

test("the Shakespeare tokenizer, read from the page's files, encodes the corpus as gptlib does", () => {
  const tokenizer = tokenizerFromFiles(readText("shakespeare", "tokenizer.json"), readText("shakespeare", "tokenizer.tiktoken"));
  const ids = tokenizer.encode(corpus);
  assertSameIds(ids, readInt32("corpus.shakespeare.i32"), "shakespeare");
  assert.equal(tokenizer.decode(ids), corpus);
  // a long text with a special token in it: its id between the two texts' ids
  const twice = tokenizer.encode(corpus + "<|endoftext|>" + corpus, { allowedSpecial: "all" });
  assertSameIds(twice, [...ids, 1023, ...ids], "corpus, <|endoftext|>, corpus");
});

test("GPT-2's gpt2.tiktoken encodes the corpus as tiktoken does", () => {
  const tokenizer = BPETokenizer.fromTiktoken(readText("gpt2.tiktoken"), { specialTokens: { "<|endoftext|>": 50256 } });
  assert.equal(tokenizer.nVocab, 50257);
  const ids = tokenizer.encode(corpus);
  assertSameIds(ids, readInt32("corpus.gpt2.i32"), "gpt2");
  assert.equal(tokenizer.decode(ids), corpus);
});
