"""The JavaScript engine in a real browser: gpt.js and bpe.js, served with a model folder as
``gptlib.web.export_page_model`` writes it (here in fp32, to compare logits closely) from
127.0.0.1, in headless Chromium with no other network. Chromium's JavaScript engine
and Unicode tables are not Node's: the model and the tokenizer must agree with Python there too.

Skipped, saying why, where Chromium, chromedriver or selenium is missing.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

import gptlib
from browser import chromium, console_messages, require_chromium, serve, severe_console_errors
from gptlib.tokenizer import shakespeare_tokenizer
from gptlib.web import copy_scripts, export_page_model

TEXTS = [
    "ROMEO:\nBut soft, what light through yonder window breaks?",
    "Ünïcödé wörds, 数字 १२३ and emoji 👍🏽\u2028\u0085\ufeff 'LL 'll",
    "two texts<|endoftext|>in one",
    "   \n\n\t trailing spaces   ",
]

PAGE = """<!doctype html>
<meta charset="utf-8">
<script type="module">
import { GPT } from "./gpt.js";
import { loadTokenizer } from "./bpe.js";
const cases = %(cases)s;
Promise.all([GPT.load("model"), loadTokenizer("model")]).then(([gpt, tokenizer]) => {
  window.__result = {
    ids: cases.texts.map((t) => tokenizer.encode(t, { allowedSpecial: "all" })),
    decoded: cases.texts.map((t) => tokenizer.decode(tokenizer.encode(t, { allowedSpecial: "all" }))),
    logits: cases.sequences.map((ids) => Array.from(gpt.forward(ids).logits)),
    generated: [1, 2].map(() => gpt.generate(cases.sequences[0].slice(0, 4), { maxNewTokens: 20, seed: 5, topK: 20 })),
  };
}).catch((e) => { window.__result = { error: String(e.stack || e) }; });
</script>
"""


@pytest.fixture(scope="module")
def browser_result(tmp_path_factory):
    require_chromium()
    root = tmp_path_factory.mktemp("web_browser")
    copy_scripts(root)
    export_page_model("shakespeare", root / "model", dtype="float32")
    tokenizer = shakespeare_tokenizer()
    ids = tokenizer.encode_ordinary(gptlib.data.load_text()[-5000:])
    sequences = [ids[:64], ids[200:201]]
    cases = {"texts": TEXTS, "sequences": sequences}
    (root / "index.html").write_text(PAGE % {"cases": json.dumps(cases)}, encoding="utf-8")
    with serve(root) as base_url, chromium() as driver:
        driver.get(f"{base_url}/index.html")
        deadline, result = time.monotonic() + 120, None
        while result is None and time.monotonic() < deadline:
            result = driver.execute_script("return window.__result || null")
            time.sleep(0.1)
        errors = severe_console_errors(console_messages(driver))
    assert result is not None, "the page did not finish within 120 s"
    assert "error" not in result, result.get("error")
    assert [e for e in errors if "favicon.ico" not in e] == []
    return cases, result


def test_tokens_in_chromium_equal_python(browser_result):
    cases, result = browser_result
    tokenizer = shakespeare_tokenizer()
    for text, ids, decoded in zip(cases["texts"], result["ids"], result["decoded"]):
        assert ids == tokenizer.encode(text, allowed_special="all"), text
        assert decoded == text


def test_logits_in_chromium_equal_numpy(browser_result):
    cases, result = browser_result
    config, params = gptlib.load_gpt2("shakespeare")
    for ids, logits in zip(cases["sequences"], result["logits"]):
        expected = gptlib.gpt2_numpy(ids, params, config)
        np.testing.assert_allclose(np.reshape(logits, expected.shape), expected, rtol=0, atol=1e-4)


def test_seeded_generation_repeats_in_chromium(browser_result):
    _, result = browser_result
    first, second = result["generated"]
    assert len(first) == 20 and first == second
