// Serves bpe.js to tests/test_web_engine.py's property tests: one JSON request per line on stdin
// ({tokenizer, text, allowedSpecial?, disallowedSpecial?}), one JSON answer per line on stdout
// ({ids, decoded} or {error}). Not a test file itself.
import readline from "node:readline";

import { BPETokenizer, tokenizerFromFiles } from "../../gptlib/web/bpe.js";
import { readText } from "./fixtures.mjs";

const gpt2Ranks = readText("gpt2.tiktoken");
const special = { "<|endoftext|>": 50256 };
const tokenizers = {
  shakespeare: tokenizerFromFiles(readText("shakespeare", "tokenizer.json"), readText("shakespeare", "tokenizer.tiktoken")),
  gpt2: BPETokenizer.fromTiktoken(gpt2Ranks, { pattern: "gpt2", specialTokens: special }),
  gpt4: BPETokenizer.fromTiktoken(gpt2Ranks, { pattern: "gpt4", specialTokens: special }),
};

const lines = readline.createInterface({ input: process.stdin });
lines.on("line", (line) => {
  const { tokenizer, text, ...options } = JSON.parse(line);
  let answer;
  try {
    const ids = tokenizers[tokenizer].encode(text, options);
    answer = { ids, decoded: tokenizers[tokenizer].decode(ids) };
  } catch (err) {
    answer = { error: err.message };
  }
  process.stdout.write(JSON.stringify(answer) + "\n");
});
