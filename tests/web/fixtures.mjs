// Shared helpers of the Node tests: where tests/test_web_engine.py wrote the reference data, and
// how to read it. These files are run by that pytest module, never on their own.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";

import { GPT, parseSafetensors } from "../../gptlib/web/gpt.js";

export const DIR = process.env.GPTLIB_WEB_FIXTURES;
if (!DIR) {
  throw new Error("GPTLIB_WEB_FIXTURES is not set: run these tests through pytest " +
    "(tests/test_web_engine.py writes the checkpoints and reference outputs they compare against)");
}

export const file = (...parts) => path.join(DIR, ...parts);
export const readJSON = (...parts) => JSON.parse(fs.readFileSync(file(...parts), "utf8"));
export const readText = (...parts) => fs.readFileSync(file(...parts), "utf8");
export const readTensors = (...parts) => parseSafetensors(fs.readFileSync(file(...parts)));

export function readInt32(...parts) {
  const bytes = fs.readFileSync(file(...parts));
  return new Int32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
}

export function loadModel(folder, weights = "model.safetensors") {
  return GPT.fromBuffers(fs.readFileSync(path.join(folder, "config.json"), "utf8"), fs.readFileSync(path.join(folder, weights)));
}

// The largest |a[i] - b[i]|, after checking that the lengths agree.
export function maxAbsDiff(a, b) {
  assert.equal(a.length, b.length, "lengths differ");
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= worst)) worst = d; // NaN counts as a difference
  }
  return worst;
}

export function assertClose(actual, expected, tolerance, what) {
  const d = maxAbsDiff(actual, expected);
  assert.ok(d <= tolerance, `${what}: max difference ${d} > ${tolerance}`);
}
