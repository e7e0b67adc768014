// The page's half-precision models (float16 and bfloat16 copies of the shipped fp32 model) give
// NumPy's fp32 top-1 token on almost every position of held-out text.
import assert from "node:assert/strict";
import fs from "node:fs";
import test from "node:test";

import { file, loadModel, readJSON } from "./fixtures.mjs";

const { windows, top1 } = readJSON("windows.json");
const results = {};

for (const [dtype, minimum] of [["float16", 0.99], ["bfloat16", 0.98]]) {
  test(`${dtype}: the top-1 token agrees with fp32 on at least ${minimum * 100}% of positions`, () => {
    const gpt = loadModel(file(dtype));
    const V = gpt.config.vocabSize;
    let same = 0, total = 0;
    windows.forEach((ids, w) => {
      const { logits } = gpt.forward(ids, { attention: false });
      for (let t = 0; t < ids.length; t++) {
        const row = logits.subarray(t * V, (t + 1) * V);
        same += row.indexOf(Math.max(...row)) === top1[w][t] ? 1 : 0;
        total++;
      }
    });
    results[dtype] = { agreement: same / total, positions: total };
    fs.writeFileSync(file("half_results.json"), JSON.stringify(results));
    console.log(`${dtype}: top-1 agreement ${same}/${total} = ${(same / total).toFixed(4)}`);
    assert.ok(same / total >= minimum, `${dtype}: ${same}/${total}`);
  });
}
