"""How the playground feels in a browser: prints figures, asserts nothing.

Builds the book's playground page (stored outputs, no execution), serves it on 127.0.0.1, opens it
in headless Chromium with no network, and measures:

- what the page downloads, by kind (the page, the book's theme, the widgets' loader and
  front-end, the engine, the model);
- how long after navigation the live views show the page's own first prediction (the model's
  download and first forward pass included);
- keystroke to updated views: a text is put in the box (one input event) and the time until every
  panel shows its result (tokens, next-token bars, attention maps, logit lens) is taken, for texts
  of several lengths;
- generation in the page: 60 tokens with the default settings, from the click to the last token.

    .venv/bin/python benchmarks/bench_widgets.py [--repeats 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from browser import built_book, chromium, missing_browser, serve  # noqa: E402

PAGE = "book/playground"
TEXT = "ROMEO:\nBut soft, what light through yonder window breaks? It is the east, and Juliet is the sun."

KEYSTROKE_JS = """
const [text, done] = arguments;
const live = document.querySelector('.gptlib-live'), box = live.querySelector('textarea.gw-input');
const start = performance.now();
let predicted = null;
const watch = new MutationObserver(() => {
  if (predicted === null && live.getAttribute('data-predicted') === text) predicted = performance.now() - start;
  if (live.getAttribute('data-text') === text) { watch.disconnect(); done([predicted, performance.now() - start]); }
});
watch.observe(live, {attributes: true, attributeFilter: ['data-predicted', 'data-text']});
box.value = text;
box.dispatchEvent(new Event('input'));
"""

GENERATE_JS = """
const [done] = arguments;
const live = document.querySelector('.gptlib-live');
live.removeAttribute('data-generated');
const start = performance.now();
const watch = new MutationObserver(() => {
  if (live.hasAttribute('data-generated')) {
    watch.disconnect();
    done([performance.now() - start, live.getAttribute('data-generated').split(',').length]);
  }
});
watch.observe(live, {attributes: true, attributeFilter: ['data-generated']});
live.querySelector('[data-action="generate"]').click();
"""

DOWNLOADS_JS = """
const kinds = {};
const add = (kind, bytes) => { kinds[kind] = (kinds[kind] || 0) + bytes; };
const nav = performance.getEntriesByType('navigation')[0];
add('the page (HTML with the saved widget state)', nav.encodedBodySize);
for (const r of performance.getEntriesByType('resource')) {
  const u = r.name;
  const kind = u.includes('/_static/gptlib/model/') ? 'the model (config, fp16 weights, tokenizer)'
    : u.includes('/_static/gptlib/web/') ? 'the engine (gpt.js, bpe.js)'
    : u.includes('/_static/gptlib/') ? "the widgets' loader, front-end and CSS"
    : u.includes('mathjax') ? 'MathJax'
    : "the book's theme and other scripts";
  add(kind, r.encodedBodySize);
}
return kinds;
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20, help="keystrokes timed per text length")
    args = parser.parse_args(argv)
    reason = missing_browser()
    if reason:
        print(f"cannot run: {reason}")
        return 1
    with built_book([PAGE]) as html, serve(html) as base_url, chromium() as driver:
        driver.set_script_timeout(120)
        start = time.monotonic()
        driver.get(f"{base_url}/{PAGE}.html")
        while not driver.execute_script(
            "const w = document.querySelector('.gptlib-live');"
            "return w && w.getAttribute('data-computed') === 'page';"
        ):
            if time.monotonic() - start > 60:
                print("the live views never computed in the page")
                return 1
            time.sleep(0.01)
        first = driver.execute_script("return performance.now();")
        print(
            f"first prediction computed in the page: {first:.0f} ms after navigation "
            "(model download and first forward pass included)"
        )
        downloads = driver.execute_script(DOWNLOADS_JS)
        print("downloaded by the page (bytes on the wire, uncompressed server):")
        for kind, size in sorted(downloads.items(), key=lambda kv: -kv[1]):
            print(f"  {size / 1e3:9.1f} kB  {kind}")
        print(f"  {sum(downloads.values()) / 1e3:9.1f} kB  in all")
        print(
            f"keystroke to the next-token bars updated, and to every panel (attention maps, lens) updated;"
        )
        print(f"median and 90th percentile of {args.repeats} inputs:")
        for words in (3, 12, 24):
            text = " ".join(TEXT.split(" ")[:words])
            times = [
                driver.execute_async_script(KEYSTROKE_JS, text + " " * (k % 2))
                for k in range(args.repeats)
            ]
            n_tokens = driver.execute_script(
                "return +document.querySelector('.gw-panel-tokens').getAttribute('data-n');"
            )
            predicted, everything = sorted(t[0] for t in times), sorted(t[1] for t in times)
            p90 = int(0.9 * len(times)) - 1
            print(
                f"  {n_tokens:4d} tokens: prediction {statistics.median(predicted):6.1f} / {predicted[p90]:6.1f} ms, "
                f"every panel {statistics.median(everything):6.1f} / {everything[p90]:6.1f} ms"
            )
        rates = []
        for _ in range(3):
            ms, n = driver.execute_async_script(GENERATE_JS)
            rates.append(n / ms * 1000)
        print(
            f"generation in the page: {n} tokens at {statistics.median(rates):.0f} tokens/s "
            "(median of 3, click to last token, drawing included)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
