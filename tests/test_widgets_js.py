"""The widgets' JavaScript in Node: the same module the pages load (gptlib.widgets.base.bundle),
run against Python and against transformers' GPT-2. Skipped, saying so, where Node is missing.

- reshape() (the sampling explorer's arithmetic) against gptlib.generation.next_token_probs;
- tokenPieces() with bpe.js against the Python token viewer's pieces;
- engineAnalyse() (what a live view computes in the page, with gptlib/web/gpt.js) against
  transformers: next-token ranking, the attention maps it shows, and the logit lens.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

import gptlib
from gptlib.generation import next_token_probs
from gptlib.weights import BUNDLED_MODELS
from gptlib.widgets.base import bundle
from gptlib.widgets.live import LIMITS
from gptlib.widgets.sampling import explorer_data
from gptlib.widgets.tokens import tiktoken_ranks, token_pieces

WEB = Path(gptlib.__file__).parent / "web"
EXPORTS = ["reshape", "tokenPieces", "engineAnalyse"]


@pytest.fixture(scope="module")
def node_run(tmp_path_factory):
    """run(script, data) -> what the script printed as JSON. The script sees `w` (the widgets'
    module), `gpt`, `bpe` (gptlib/web) and `data`, and prints with `out(value)`."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed")
    folder = tmp_path_factory.mktemp("widgets_js")
    module = folder / "widgets.mjs"
    module.write_text(bundle("live") + f"\nexport {{{', '.join(EXPORTS)}}};\n", encoding="utf-8")

    def run(script: str, data) -> object:
        (folder / "data.json").write_text(json.dumps(data), encoding="utf-8")
        program = f"""
import * as w from {json.dumps(module.as_uri())};
import * as gpt from {json.dumps((WEB / "gpt.js").as_uri())};
import * as bpe from {json.dumps((WEB / "bpe.js").as_uri())};
import {{readFileSync}} from "node:fs";
const data = JSON.parse(readFileSync({json.dumps(str(folder / "data.json"))}, "utf8"));
const out = (value) => console.log(JSON.stringify(value));
{script}
"""
        result = subprocess.run(
            [node, "--input-type=module", "-e", program],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    return run


@pytest.mark.parametrize("n_show", [60, 8])
def test_reshape_matches_next_token_probs(node_run, n_show):
    rng = np.random.default_rng(0)
    logits = rng.permutation(np.arange(-300, 300))[:60] / 100  # distinct, exact at 0.01
    data = explorer_data(logits, [f"t{i}" for i in range(60)], n_show=n_show)
    settings = [
        (1.0, 0, 1.0),
        (0.5, 0, 1.0),
        (1.7, 10, 1.0),
        (1.0, 0, 0.6),
        (0.8, 25, 0.9),
        (0.0, 0, 1.0),
        (1.2, 3, 0.3),
    ]
    got = np.array(
        node_run(
            """
out(data.settings.map(([t, k, p]) => {
  const r = w.reshape(data.entries, t, k, p), per = [];  // per-token probabilities, most likely first
  data.entries.forEach(([, count], i) => { for (let j = 0; j < count; j++) per.push(j < r.kept[i] ? r.prob[i] : 0); });
  return per;
}));""",
            {"entries": data["entries"], "settings": settings},
        )
    )
    order = np.argsort(-logits)
    for row, (t, k, p) in zip(got, settings):
        expected = next_token_probs(logits, t, k or None, p if p < 1 else None)[order]
        np.testing.assert_allclose(row, expected, atol=1e-9, err_msg=str((t, k, p)))


@pytest.fixture(scope="module")
def shakespeare():
    return gptlib.shakespeare_tokenizer()


TEXTS = [
    "To be, or not to be: that is the question.",
    "  hi\n\n\tthere  ",
    "I'm 12345 naïve 😀 你好<|endoftext|>",
    "<|endoftext|>ROMEO:\n",
]


def test_token_pieces_in_the_page_are_pythons(node_run, shakespeare):
    got = node_run(
        """
const tok = bpe.BPETokenizer.fromTiktoken(data.ranks, {pattern: data.pattern, specialTokens: data.special});
out(data.texts.map((t) => w.tokenPieces(tok, tok.encode(t, {allowedSpecial: "all"}))));
""",
        {
            "ranks": tiktoken_ranks(shakespeare),
            "pattern": shakespeare.pattern,
            "special": shakespeare.special_tokens,
            "texts": TEXTS,
        },
    )
    expected = [
        token_pieces(shakespeare, shakespeare.encode(t, allowed_special="all")) for t in TEXTS
    ]
    assert got == expected
    assert (
        any(p[3] == 1 for p in expected[2]) and expected[3][0][3] == 2
    )  # split characters, the special token


def hf_reference(ids):
    """transformers' GPT-2 on the shipped model: logits, attention weights, and the logit lens
    (ln_f and the tied head applied to each block's output) for [T] ids."""
    from transformers import GPT2LMHeadModel

    hf = GPT2LMHeadModel.from_pretrained(
        BUNDLED_MODELS["shakespeare"], attn_implementation="eager"
    ).eval()
    with torch.no_grad():
        out = hf(torch.tensor([ids]), output_attentions=True, output_hidden_states=True)
        # hidden_states: the embeddings, then each block's output; the last one has ln_f applied
        lens = [hf.lm_head(hf.transformer.ln_f(h)) for h in out.hidden_states[1:-1]] + [out.logits]
    return (
        out.logits[0].numpy(),
        torch.stack(out.attentions)[:, 0].numpy(),
        torch.softmax(torch.stack(lens)[:, 0], -1).numpy(),
    )


@pytest.mark.parametrize("repeat", [1, 9])  # 25 tokens; 225, beyond the context of 128
def test_live_view_in_the_page_computes_what_transformers_computes(node_run, shakespeare, repeat):
    text = "ROMEO:\nBut soft, what light through yonder window breaks?\n" * repeat
    folder = BUNDLED_MODELS["shakespeare"]
    got = node_run(
        """
const fs = await import("node:fs");
const model = {gpt: gpt.GPT.fromBuffers(fs.readFileSync(data.folder + "/config.json", "utf8"),
                                        fs.readFileSync(data.folder + "/model.safetensors")),
               tok: bpe.BPETokenizer.fromTiktoken(data.ranks, {pattern: data.pattern, specialTokens: data.special})};
const r = w.engineAnalyse(model, data.text, data.limits);
const src = r.attention.source, n = src.tokens.length, maps = [];
for (let l = 0; l < src.nLayer; l++) for (let h = 0; h < src.nHead; h++)
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) maps.push(j <= i ? src.value(l, h, i, j) : 0);
out({ids: r.tokens.map((p) => p[0]), start: r.start, labels: r.next.labels, logits: r.next.entries.map((e) => e[0]),
     offset: r.attention.offset, tokens: src.tokens, maps, lensOffset: r.lens.offset, lens: r.lens.top});
""",
        {
            "folder": str(folder),
            "text": text,
            "limits": LIMITS,
            "ranks": tiktoken_ranks(shakespeare),
            "pattern": shakespeare.pattern,
            "special": shakespeare.special_tokens,
        },
    )
    ids = shakespeare.encode(text)
    n_ctx = 128
    assert got["ids"] == ids and got["start"] == max(0, len(ids) - n_ctx)
    window = ids[got["start"] :]
    logits, attention, lens = hf_reference(window)
    order = np.argsort(-logits[-1], kind="stable")
    np.testing.assert_allclose(got["logits"], logits[-1][order], atol=1e-4)
    assert got["labels"] == [shakespeare.token_str(int(i)) for i in order[: LIMITS["bars"]]]
    n = min(len(window), LIMITS["attention"])
    assert got["offset"] == len(ids) - n and got["tokens"] == [
        shakespeare.token_str(i) for i in window[-n:]
    ]
    np.testing.assert_allclose(
        np.array(got["maps"]).reshape(attention.shape[:2] + (n, n)),
        attention[:, :, -n:, -n:],
        atol=1e-5,
    )
    p = min(len(window), LIMITS["lens"])
    assert got["lensOffset"] == len(ids) - p
    assert [[shakespeare.token_str(int(i)) for i in layer[-p:].argmax(-1)] for layer in lens] == [
        [label for label, _ in layer] for layer in got["lens"]
    ]
    np.testing.assert_allclose(
        [[prob for _, prob in layer] for layer in got["lens"]], lens[:, -p:].max(-1), atol=1e-5
    )
