// parseSafetensors against files written by the safetensors library (NumPy and torch), and
// malformed files made here by hand.
import assert from "node:assert/strict";
import fs from "node:fs";
import test from "node:test";

import { parseSafetensors } from "../../gptlib/web/gpt.js";
import { file, readJSON } from "./fixtures.mjs";

const expected = readJSON("expected.json");

test("F32, F16 and BF16 tensors are read exactly, F64 rounded to float32, at any offset", () => {
  const mixed = parseSafetensors(fs.readFileSync(file("mixed.safetensors")));
  assert.deepEqual(mixed.__metadata__, { who: "test" });
  for (const [name, shape] of Object.entries(expected.shapes)) {
    assert.deepEqual(mixed[name].shape, shape, name);
    assert.ok(mixed[name].data instanceof Float32Array);
    assert.deepEqual(Array.from(mixed[name].data), expected.values[name].map((v) => Math.fround(Number(v))), name);
  }
  assert.equal(mixed.a.dtype, "F32");
  assert.equal(mixed.b.dtype, "F16");
  assert.equal(mixed.d.dtype, "F64");
  const bf16 = parseSafetensors(new Uint8Array(fs.readFileSync(file("bf16.safetensors"))).buffer);
  assert.equal(bf16.x.dtype, "BF16");
  assert.deepEqual(Array.from(bf16.x.data), expected.values["bf16.x"]);
});

test("other dtypes are refused, naming the tensor and the dtype", () => {
  assert.throws(() => parseSafetensors(fs.readFileSync(file("int64.safetensors"))),
    /tensor "ints" has dtype "I64"; this reader takes F32, F16, BF16 and F64/);
});

// A file from a header object and a number of data bytes, with the header length given or true.
function makeFile(header, dataBytes, headerLength = null) {
  const json = new TextEncoder().encode(typeof header === "string" ? header : JSON.stringify(header));
  const bytes = new Uint8Array(8 + json.length + dataBytes);
  new DataView(bytes.buffer).setUint32(0, headerLength ?? json.length, true);
  bytes.set(json, 8);
  return bytes;
}

test("malformed files are refused with a clear error", () => {
  const good = { a: { dtype: "F32", shape: [2], data_offsets: [0, 8] }, b: { dtype: "F16", shape: [2], data_offsets: [8, 12] } };
  assert.deepEqual(Object.keys(parseSafetensors(makeFile(good, 12))), ["a", "b"]);
  const cases = [
    [new Uint8Array(5), /fewer than the 8 that give the header length/],
    [makeFile(good, 12, 10 ** 6), /header length 1000000 exceeds the \d+ bytes that follow/],
    [makeFile("{not json", 0), /header is not valid UTF-8 JSON/],
    [makeFile("[1, 2]", 0), /header is not a JSON object/],
    [makeFile(good, 11), /tensor "b" ends at byte 12 of the data, which has 11/],
    [makeFile(good, 13), /the tensors cover 12 bytes of data but the file has 13/],
    [makeFile({ ...good, b: { dtype: "F16", shape: [2], data_offsets: [6, 10] } }, 10), /tensor "b" starts at byte 6 of the data, expected 8/],
    [makeFile({ ...good, b: { dtype: "F16", shape: [2], data_offsets: [10, 14] } }, 14), /tensor "b" starts at byte 10 of the data, expected 8/],
    [makeFile({ a: { dtype: "F32", shape: [3], data_offsets: [0, 8] } }, 8), /shape \[3\] in F32 needs 12 bytes, its offsets span 8/],
    [makeFile({ a: { dtype: "F32", shape: [-2], data_offsets: [0, 8] } }, 8), /tensor "a" has shape \[-2\]/],
    [makeFile({ a: { dtype: "F32", shape: [2], data_offsets: [8, 0] } }, 8), /tensor "a" has data_offsets \[8,0\]/],
    [makeFile({ a: "F32" }, 0), /tensor "a" is not an object/],
    [makeFile({ a: { dtype: "F8_E4M3", shape: [1], data_offsets: [0, 1] } }, 1), /dtype "F8_E4M3"/],
  ];
  for (const [bytes, message] of cases) assert.throws(() => parseSafetensors(bytes), message);
  assert.throws(() => parseSafetensors("a string"), /needs an ArrayBuffer or Uint8Array, got string/);
  const truncated = fs.readFileSync(file("mixed.safetensors"));
  assert.throws(() => parseSafetensors(truncated.subarray(0, truncated.length - 1)), /truncated/);
});
