"""Speed of the live model in the page (gptlib/web/gpt.js), measured in headless Chromium.
Prints figures; asserts nothing about time.

    .venv/bin/python benchmarks/bench_web.py                      # the book's model, as the page serves it (fp16)
    .venv/bin/python benchmarks/bench_web.py --dtype float32      # from the fp32 weights instead
    .venv/bin/python benchmarks/bench_web.py --model FOLDER       # another checkpoint folder

The page is served from 127.0.0.1 with the files the book serves (gpt.js, bpe.js and the model
folder that ``python -m gptlib.web export`` writes); Chromium runs with no other network. In the
page, with performance.now():

- download: what a page fetches for the live model (raw, and gzip as a web server may send it);
- load: fetching, parsing and building the model and the tokenizer;
- a keystroke: the reader types one more character at the end of a text of about n_ctx tokens:
  tokenize, forward pass with attention maps, top-5 of the next token (forward recomputes only
  the tokens that changed);
- a pasted text: the same for a text of n_ctx tokens that shares nothing with the last one;
- the forward pass over n_ctx tokens alone, with attention maps and with the logit lens;
- generation with the KV cache (top-k sampling), in ms per token: inside the context, and past
  it, where every token re-reads the last n_ctx tokens (as gptlib.generation does).

Timings depend on the machine and on what else runs on it: the script prints the load average
and a calibration (the time of a plain JavaScript loop) beside them.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from browser import chromium, missing_browser, serve  # noqa: E402  (tests/browser.py)

from gptlib.data import load_text  # noqa: E402
from gptlib.web import SCRIPTS, copy_scripts, export_page_model  # noqa: E402

PAGE = """<!doctype html>
<meta charset="utf-8">
<title>gpt.js benchmark</title>
<script type="application/json" id="params">%(params)s</script>
<script type="module">
import { GPT, topK } from "./gpt.js";
import { loadTokenizer } from "./bpe.js";

const params = JSON.parse(document.getElementById("params").textContent);
const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
function time(fn, repeats) {
  const times = [];
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now();
    fn(r);
    times.push(performance.now() - t0);
  }
  return median(times);
}

async function main() {
  const out = {};
  let t0 = performance.now();
  for (let i = 0, s = 0; i < 1e8; i++) s += i;  // calibration: 1e8 additions
  out.calibration_ms = performance.now() - t0;

  t0 = performance.now();
  const [gpt, tokenizer] = await Promise.all([GPT.load("model"), loadTokenizer("model")]);
  out.load_ms = performance.now() - t0;
  const nCtx = gpt.config.nCtx, V = gpt.config.vocabSize;
  const all = tokenizer.encode(params.text);
  const ids = all.slice(0, nCtx);
  const other = all.slice(nCtx, 2 * nCtx);  // shares no prefix with ids: nothing is reused
  out.n_ctx = nCtx;

  // The reader types characters at the end of a text a few tokens short of the context.
  const base = tokenizer.decode(ids.slice(0, nCtx - 8));
  const typed = params.typed;
  const predict = (text) => {
    const tokens = tokenizer.encode(text, { allowedSpecial: "all" }).slice(-nCtx);
    const { logits } = gpt.forward(tokens);
    return topK(logits.subarray((tokens.length - 1) * V), 5);
  };
  const keystrokes = [];
  predict(base);
  for (let i = 1; i <= typed.length; i++) {
    const t = performance.now();
    predict(base + typed.slice(0, i));
    keystrokes.push(performance.now() - t);
  }
  out.keystroke_ms = median(keystrokes);
  const texts = [tokenizer.decode(ids), tokenizer.decode(other)];
  out.paste_ms = time((r) => predict(texts[r %% 2]), params.repeats);

  const seqs = [ids, other];
  gpt.forward(ids);  // warm up the compiler
  out.forward_ms = time((r) => gpt.forward(seqs[r %% 2]), params.repeats);
  out.forward_no_attention_ms = time((r) => gpt.forward(seqs[r %% 2], { attention: false }), params.repeats);
  out.forward_lens_ms = time((r) => gpt.forward(seqs[r %% 2], { lens: 5 }), params.repeats);

  const prompt = ids.slice(0, 8), n = nCtx - prompt.length;
  gpt.generate(prompt, { maxNewTokens: 10, topK: 40, seed: 1 });
  t0 = performance.now();
  const tokens = gpt.generate(prompt, { maxNewTokens: n, topK: 40, seed: 1, eosId: null });
  out.generate_ms_per_token = (performance.now() - t0) / tokens.length;
  out.generated_tokens = tokens.length;
  const past = 8;
  t0 = performance.now();
  gpt.generate(ids, { maxNewTokens: past + 1, topK: 40, seed: 1, eosId: null });
  out.generate_past_context_ms_per_token = (performance.now() - t0) / (past + 1);
  return out;
}
main().then((r) => { window.__bench = r; }, (e) => { window.__bench = { error: String(e.stack || e) }; });
</script>
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="shakespeare", help="'shakespeare' (default) or a checkpoint folder")
    parser.add_argument("--dtype", default="float16", choices=["float16", "bfloat16", "float32"])
    parser.add_argument("--repeats", type=int, default=15, help="timed repeats per figure (median)")
    args = parser.parse_args(argv)
    reason = missing_browser()
    if reason:
        print(f"cannot run: {reason}")
        return 1
    with tempfile.TemporaryDirectory(prefix="gptlib-bench-web-") as tmp:
        root = Path(tmp)
        copy_scripts(root)
        export_page_model(args.model, root / "model", dtype=args.dtype)
        text = load_text()[-20000:]  # held-out Shakespeare
        params = {"text": text, "typed": " and the", "repeats": args.repeats}
        (root / "index.html").write_text(PAGE % {"params": json.dumps(params).replace("</", "<\\/")}, encoding="utf-8")
        files = [root / name for name in SCRIPTS] + sorted((root / "model").iterdir())
        sizes = [(str(f.relative_to(root)), f.stat().st_size, len(gzip.compress(f.read_bytes(), 9))) for f in files]
        with serve(root) as base_url, chromium() as driver:
            driver.set_script_timeout(600)
            driver.get(f"{base_url}/index.html")
            deadline = time.monotonic() + 600
            result = None
            while result is None and time.monotonic() < deadline:
                result = driver.execute_script("return window.__bench || null")
                time.sleep(0.2)
            version = driver.capabilities.get("browserVersion", "?")
    if result is None or "error" in result:
        print("the benchmark page failed:", result)
        return 1
    load = os.getloadavg()
    print(f"gpt.js in headless Chromium {version}; model {args.model!r} in {args.dtype}, n_ctx={result['n_ctx']}; "
          f"median of {args.repeats} runs")
    print(f"machine: {os.cpu_count()} CPUs, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}; "
          f"calibration: 1e8 additions in a JavaScript loop took {result['calibration_ms']:.0f} ms")
    print()
    print("| what a page downloads | bytes | gzip |")
    print("|---|---:|---:|")
    for name, size, gz in sizes:
        print(f"| {name} | {size:,} | {gz:,} |")
    print(f"| total | {sum(s for _, s, _ in sizes):,} | {sum(g for _, _, g in sizes):,} |")
    print()
    n = result["n_ctx"]
    rows = [
        ("load: fetch, parse and build the model and tokenizer", result["load_ms"], "ms"),
        ("a keystroke at the end of a text: tokenize, forward, top-5", result["keystroke_ms"], "ms"),
        (f"a pasted text of {n} tokens: tokenize, forward, top-5", result["paste_ms"], "ms"),
        (f"forward over {n} tokens, with attention maps", result["forward_ms"], "ms"),
        (f"forward over {n} tokens, no attention maps", result["forward_no_attention_ms"], "ms"),
        (f"forward over {n} tokens, with attention maps and the logit lens (top-5)", result["forward_lens_ms"], "ms"),
        (f"generation with the KV cache ({result['generated_tokens']} tokens, top-k 40)", result["generate_ms_per_token"],
         f"ms/token = {1000 / result['generate_ms_per_token']:.0f} tokens/s"),
        (f"generation past the context (each token re-reads {n})", result["generate_past_context_ms_per_token"],
         f"ms/token = {1000 / result['generate_past_context_ms_per_token']:.0f} tokens/s"),
    ]
    print("| measure | value |")
    print("|---|---:|")
    for name, value, unit in rows:
        print(f"| {name} | {value:.1f} {unit} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
