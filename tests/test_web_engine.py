"""The JavaScript engine of the live page (gptlib/web/gpt.js, bpe.js) against references no one here
wrote: Hugging Face transformers' GPT2LMHeadModel, tiktoken, and gptlib's NumPy GPT and tokenizer.

Python writes checkpoints and reference outputs into a temporary folder; the tests themselves are
Node test files (tests/web/*.test.mjs, run with ``node --test``) that read them. The tokenizer's
property tests run in Python with hypothesis, sending each generated text to one Node process.
Node.js >= 18 is required (the book's build needs it too, for MathJax).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.numpy import load_file, save_file

import gptlib
from gptlib.generation import next_token_probs, sample_token
from gptlib.layernorm import layer_norm
from gptlib.model import transformer_block
from gptlib.tokenizer import ENDOFTEXT, BPETokenizer, shakespeare_tokenizer
from gptlib.web import WEB_DIR, export_page_model

sys.path.insert(0, str(Path(__file__).parent))
from conftest import make_hf_checkpoint  # noqa: E402

WEB_TESTS = Path(__file__).parent / "web"
NODE = shutil.which("node")


def run_node(test_file: str, fixtures: Path) -> str:
    """Run one Node test file with the fixtures folder in GPTLIB_WEB_FIXTURES; fail with its output."""
    if NODE is None:
        pytest.fail("Node.js (>= 18) is not on PATH: it runs the JavaScript engine's tests (apt-get install nodejs npm)")
    result = subprocess.run(
        [NODE, "--test", str(WEB_TESTS / test_file)],
        env={**os.environ, "GPTLIB_WEB_FIXTURES": str(fixtures)},
        capture_output=True, text=True, timeout=900,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"node --test {test_file} failed:\n{output[-8000:]}"
    return output


def write_json(path: Path, value) -> None:
    path.write_text(json.dumps(value), encoding="utf-8")


# --- the model against Hugging Face ------------------------------------------------------------

# Depths, widths, head counts, vocabulary sizes and contexts; widths not divisible by 4 and
# sequence lengths that are not multiples of 4 exercise the kernels' remainder loops.
HF_CONFIGS = {
    "one_layer_one_head": dict(vocab_size=50, n_ctx=8, n_embd=16, n_head=1, n_layer=1),
    "small": dict(vocab_size=101, n_ctx=24, n_embd=32, n_head=4, n_layer=2),
    "odd_width": dict(vocab_size=77, n_ctx=16, n_embd=30, n_head=5, n_layer=3),
    "deeper": dict(vocab_size=257, n_ctx=40, n_embd=48, n_head=6, n_layer=5),
    "wide_vocab": dict(vocab_size=1000, n_ctx=70, n_embd=64, n_head=2, n_layer=2),
}


@pytest.fixture(scope="module")
def hf_fixtures(tmp_path_factory):
    """Per configuration: the checkpoint (save_pretrained), token sequences, HF's logits and attention."""
    from transformers import GPT2LMHeadModel

    root = tmp_path_factory.mktemp("web_hf")
    rng = np.random.default_rng(7)
    for seed, (name, cfg) in enumerate(HF_CONFIGS.items()):
        folder = root / name
        make_hf_checkpoint(folder, **cfg, seed=seed)
        # The eager implementation is the one that returns attention weights.
        model = GPT2LMHeadModel.from_pretrained(folder, attn_implementation="eager").eval()
        lengths = sorted({1, 3, cfg["n_ctx"] // 2 + 1, cfg["n_ctx"]})
        cases, tensors = [], {}
        for k, T in enumerate(lengths):
            ids = rng.integers(0, cfg["vocab_size"], size=T).tolist()
            with torch.no_grad():
                out = model(torch.tensor([ids]), output_attentions=True)
            tensors[f"logits.{k}"] = out.logits[0].numpy()
            tensors[f"attention.{k}"] = torch.stack([a[0] for a in out.attentions]).numpy()  # [L, H, T, T]
            cases.append(ids)
        save_file(tensors, folder / "reference.safetensors")
        write_json(folder / "cases.json", cases)
    # The same weights in float64, as a float64 training run saves them: read, rounded to float32.
    wide = root / "small_float64"
    shutil.copytree(root / "small", wide)
    save_file({k: v.astype(np.float64) for k, v in load_file(wide / "model.safetensors").items()}, wide / "model.safetensors")
    write_json(root / "models.json", [*HF_CONFIGS, wide.name])
    return root


def test_logits_and_attention_equal_hugging_face(hf_fixtures):
    run_node("forward.test.mjs", hf_fixtures)


def test_the_cached_step_equals_the_full_forward(hf_fixtures):
    run_node("cache.test.mjs", hf_fixtures)


def test_bad_configs_and_tensors_are_refused(hf_fixtures):
    run_node("refuse.test.mjs", hf_fixtures)


# --- the shipped model against NumPy ---------------------------------------------------------


def numpy_lens(ids, params, config, k=5):
    """The logit lens in NumPy: top-k ids and probabilities after each block: [n_layer, T, k] each."""
    x = params["wte"][ids] + params["wpe"][: len(ids)]
    top_ids, top_probs = [], []
    for block in params["blocks"]:
        x = transformer_block(x, **block, n_head=config.n_head, eps=config.layer_norm_eps)
        logits = layer_norm(x, **params["ln_f"], eps=config.layer_norm_eps) @ params["wte"].T
        probs = np.exp(logits - logits.max(-1, keepdims=True))
        probs /= probs.sum(-1, keepdims=True)
        order = np.argsort(-probs, axis=-1, kind="stable")[:, :k]
        top_ids.append(order)
        top_probs.append(np.take_along_axis(probs, order, -1))
    return np.array(top_ids), np.array(top_probs)


@pytest.fixture(scope="module")
def shipped_fixtures(tmp_path_factory):
    root = tmp_path_factory.mktemp("web_shipped")
    config, params = gptlib.load_gpt2("shakespeare")
    tokenizer = shakespeare_tokenizer()
    text = gptlib.data.load_text()
    corpus_ids = tokenizer.encode_ordinary(text[-20000:])  # from the validation part
    sequences = [corpus_ids[:config.n_ctx], corpus_ids[1000:1061], corpus_ids[2000:2001]]
    tensors = {}
    for k, ids in enumerate(sequences):
        tensors[f"logits.{k}"] = gptlib.gpt2_numpy(ids, params, config).astype(np.float32)
        lens_ids, lens_probs = numpy_lens(np.array(ids), params, config)
        tensors[f"lens_ids.{k}"] = lens_ids.astype(np.float32)  # small integers: exact in float32
        tensors[f"lens_probs.{k}"] = lens_probs.astype(np.float32)
    save_file(tensors, root / "reference.safetensors")
    # Greedy generation runs 8 tokens past the context, where both re-read the last n_ctx tokens.
    prompt = corpus_ids[:5]
    greedy = gptlib.generate(gptlib.NumpyGPT(config, params), prompt, config.n_ctx - len(prompt) + 8, temperature=0)
    write_json(root / "cases.json", {"sequences": sequences, "prompt": prompt, "greedy": greedy})
    shutil.copytree(gptlib.weights.BUNDLED_MODELS["shakespeare"], root / "model")
    return root


def test_the_shipped_model_equals_numpy(shipped_fixtures):
    run_node("shipped.test.mjs", shipped_fixtures)


# --- sampling against gptlib.generation --------------------------------------------------------


class FixedDraw:
    """Stands in for NumPy's generator: sample_token draws exactly this uniform number."""

    def __init__(self, u):
        self.u = u

    def random(self):
        return self.u


@pytest.fixture(scope="module")
def sampling_fixtures(tmp_path_factory):
    root = tmp_path_factory.mktemp("web_sampling")
    rng = np.random.default_rng(3)
    cases = []
    settings_list = [
        dict(temperature=1.0), dict(temperature=0.0), dict(temperature=0.7, top_k=5),
        dict(temperature=1.3, top_p=0.9), dict(temperature=1.0, top_k=20, top_p=0.5), dict(top_k=1),
        dict(top_p=1.0), dict(temperature=2.0, top_k=200),
    ]
    for options in settings_list:
        for _ in range(3):
            logits = (rng.normal(size=64) * 3).astype(np.float32)
            if rng.random() < 0.5:
                logits[rng.integers(0, 64, size=3)] = logits.max()  # ties with the top value
            u = float(rng.random())
            probs = next_token_probs(logits, **options)
            token = sample_token(logits, FixedDraw(u), **options)
            js_options = {"temperature": options.get("temperature", 1.0), "topK": options.get("top_k"),
                          "topP": options.get("top_p")}
            cases.append({"logits": logits.tolist(), "options": js_options, "u": u,
                          "probs": probs.tolist(), "token": int(token)})
    write_json(root / "sampling.json", cases)
    return root


def test_sampling_follows_gptlib_generation(sampling_fixtures):
    run_node("sampling.test.mjs", sampling_fixtures)


# --- files: safetensors, the page's half-precision model ----------------------------------------


@pytest.fixture(scope="module")
def file_fixtures(tmp_path_factory):
    root = tmp_path_factory.mktemp("web_files")
    rng = np.random.default_rng(11)
    # A valid file mixing dtypes and odd sizes (so tensors start at unaligned offsets).
    values = {
        "a": rng.normal(size=(3, 5)).astype(np.float32),
        "b": (rng.normal(size=7) * 1000).astype(np.float16),
        "c": np.array([0.0, -0.0, 1e-7, -65504, np.inf, -np.inf], dtype=np.float16),
        "scalar": np.array(2.5, dtype=np.float32),
        "empty": np.zeros((0, 4), dtype=np.float32),
        "d": rng.normal(size=(2, 3)),  # float64, as a float64 training run saves its weights
    }
    save_file(values, root / "mixed.safetensors", metadata={"who": "test"})
    # JSON has no infinities: they travel as the strings JavaScript's Number() reads back.
    as_json = lambda v: [x if np.isfinite(x) else ("Infinity" if x > 0 else "-Infinity") for x in v]  # noqa: E731
    expected = {name: as_json(np.asarray(v, np.float32).ravel().tolist()) for name, v in values.items()}
    bf16 = torch.tensor(rng.normal(size=9) * 50, dtype=torch.float32).to(torch.bfloat16)
    from safetensors.torch import save_file as save_torch

    save_torch({"x": bf16}, root / "bf16.safetensors")
    expected["bf16.x"] = bf16.float().tolist()
    write_json(root / "expected.json", {"values": expected, "shapes": {k: list(v.shape) for k, v in values.items()}})
    save_file({"ints": np.arange(4, dtype=np.int64)}, root / "int64.safetensors")
    # The page's fp16 and bf16 models, and NumPy's top-1 on validation windows for comparison.
    for dtype in ("float16", "bfloat16"):
        export_page_model("shakespeare", root / dtype, dtype=dtype)
    config, params = gptlib.load_gpt2("shakespeare")
    ids = shakespeare_tokenizer().encode_ordinary(gptlib.data.load_text()[-30000:])
    windows = [ids[i : i + config.n_ctx] for i in range(0, 8 * config.n_ctx, config.n_ctx)]
    top1 = [np.argmax(gptlib.gpt2_numpy(w, params, config), axis=-1).tolist() for w in windows]
    write_json(root / "windows.json", {"windows": windows, "top1": top1})
    return root


def test_safetensors_files_are_read_exactly_and_malformed_ones_refused(file_fixtures):
    run_node("safetensors.test.mjs", file_fixtures)


def test_half_precision_models_keep_the_top_prediction(file_fixtures):
    output = run_node("half.test.mjs", file_fixtures)
    print(json.loads((file_fixtures / "half_results.json").read_text()))
    assert "agreement" in output


def test_the_page_model_is_the_checkpoint_rounded_to_float16(file_fixtures):
    fp32 = load_file(gptlib.weights.BUNDLED_MODELS["shakespeare"] / "model.safetensors")
    fp16 = load_file(file_fixtures / "float16" / "model.safetensors")
    assert fp16.keys() == fp32.keys()
    for name, t in fp32.items():
        assert fp16[name].dtype == np.float16
        np.testing.assert_array_equal(fp16[name], t.astype(np.float16), err_msg=name)
    exported = file_fixtures / "float16"
    tokenizer = BPETokenizer.from_tiktoken_file(exported / "tokenizer.tiktoken")
    assert tokenizer.ranks == shakespeare_tokenizer().ranks
    info = json.loads((exported / "tokenizer.json").read_text())
    assert info == {"type": "bpe", "pattern": shakespeare_tokenizer().pattern, "special_tokens": {ENDOFTEXT: 1023}}


def test_export_refuses_weights_beyond_float16(tmp_path):
    config, params = gptlib.load_gpt2("shakespeare")
    params["wte"] = params["wte"].copy()
    params["wte"][0, 0] = 70000.0
    gptlib.save_checkpoint(tmp_path / "big", config, params)
    shutil.copy(gptlib.weights.BUNDLED_MODELS["shakespeare"] / "tokenizer.json", tmp_path / "big")
    with pytest.raises(ValueError, match="transformer.wte.weight holds 7e\\+04, beyond float16's range"):
        export_page_model(tmp_path / "big", tmp_path / "out")
    export_page_model(tmp_path / "big", tmp_path / "out", dtype="bfloat16")  # bfloat16 has the range


# --- the tokenizer -------------------------------------------------------------------------------


def gpt2_tiktoken_path() -> Path:
    return gptlib.fetch("gpt2.tiktoken")


@pytest.fixture(scope="module")
def bpe_fixtures(tmp_path_factory):
    """Rank files, and the corpus's ids from gptlib's Shakespeare tokenizer and from tiktoken's GPT-2."""
    import tiktoken
    from tiktoken.load import load_tiktoken_bpe

    root = tmp_path_factory.mktemp("web_bpe")
    export_page_model("shakespeare", root / "shakespeare")
    shutil.copy(gpt2_tiktoken_path(), root / "gpt2.tiktoken")
    text = gptlib.data.load_text()
    (root / "corpus.txt").write_text(text, encoding="utf-8")
    ids = shakespeare_tokenizer().encode_ordinary(text)
    np.asarray(ids, dtype="<i4").tofile(root / "corpus.shakespeare.i32")
    encoding = tiktoken.Encoding(
        "gpt2", pat_str=gptlib.tokenizer.GPT2_PATTERN, mergeable_ranks=load_tiktoken_bpe(str(gpt2_tiktoken_path())),
        special_tokens={ENDOFTEXT: 50256},
    )
    np.asarray(encoding.encode_ordinary(text), dtype="<i4").tofile(root / "corpus.gpt2.i32")
    return root


def test_bpe_encodes_the_corpus_as_python_and_tiktoken_do(bpe_fixtures):
    run_node("bpe_corpus.test.mjs", bpe_fixtures)


class NodeTokenizers:
    """One Node process running tests/web/bpe_server.mjs: a JSON request per line, a JSON answer per line."""

    def __init__(self, fixtures: Path):
        if NODE is None:
            pytest.fail("Node.js (>= 18) is not on PATH: it runs the JavaScript engine's tests")
        self.process = subprocess.Popen(
            [NODE, str(WEB_TESTS / "bpe_server.mjs")], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            env={**os.environ, "GPTLIB_WEB_FIXTURES": str(fixtures)}, text=True, encoding="utf-8",
        )

    def ask(self, **request):
        # ensure_ascii: lone surrogates and every other character travel as \\u escapes
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        answer = json.loads(self.process.stdout.readline())
        if "error" in answer and not request.get("expect_error"):
            raise AssertionError(f"bpe.js failed on {request!r}: {answer['error']}")
        return answer

    def close(self):
        self.process.stdin.close()
        self.process.wait(timeout=30)


@pytest.fixture(scope="module")
def node_tokenizers(bpe_fixtures):
    server = NodeTokenizers(bpe_fixtures)
    yield server
    server.close()


@pytest.fixture(scope="module")
def python_tokenizers():
    gpt2_ranks = BPETokenizer.from_tiktoken_file(gpt2_tiktoken_path()).ranks
    return {
        "shakespeare": shakespeare_tokenizer(),
        "gpt2": BPETokenizer(gpt2_ranks, "gpt2", {ENDOFTEXT: 50256}),
        # GPT-2's ranks with GPT-4's pre-tokenizer: the other pattern bpe.js translates
        "gpt4": BPETokenizer(gpt2_ranks, "gpt4", {ENDOFTEXT: 50256}),
    }


# Text that stresses the pre-tokenizer: whitespace of every kind (Python's \s is Unicode's
# White_Space, JavaScript's is not quite), contractions in both cases, digits, letters of other
# scripts, combining marks, emoji, and the special token, also cut short or doubled.
TRICKY = list(" \t\n\r\x0b\x0c\x1c\x1f\x85\xa0\u1680\u2007\u2028\u2029\u202f\u3000\ufeff\u200b'sStTdDlLvVeEmMrR\u017f") + [
    "'s", "'LL", "'Ve", "123", "\u0660\u0661", "\u00e9", "e\u0301", "\u4e2d\u6587", "\U0001f600", "\U0001f44d\U0001f3fd",
    "<|endoftext|>", "<|endoftext", "|>", "<|", "\u0915\u094d\u0937",
]
texts = st.one_of(
    st.text(),
    st.lists(st.one_of(st.sampled_from(TRICKY), st.text(max_size=3)), max_size=30).map("".join),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=50),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=texts)
def test_bpe_ids_equal_python_on_any_text(node_tokenizers, python_tokenizers, text):
    for name, tokenizer in python_tokenizers.items():
        expected = tokenizer.encode(text, allowed_special="all")
        answer = node_tokenizers.ask(tokenizer=name, text=text, allowedSpecial="all")
        assert answer["ids"] == expected, f"{name}: {text!r}"
        assert answer["decoded"] == tokenizer.decode(expected)
        ordinary = node_tokenizers.ask(tokenizer=name, text=text, disallowedSpecial=[])["ids"]
        assert ordinary == tokenizer.encode_ordinary(text), f"{name} (ordinary): {text!r}"


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(), cut=st.integers(0, 20))
def test_special_tokens_are_refused_unless_allowed_as_in_python(node_tokenizers, python_tokenizers, text, cut):
    text = text[:cut] + ENDOFTEXT + text[cut:]
    with pytest.raises(ValueError):
        python_tokenizers["shakespeare"].encode(text)
    answer = node_tokenizers.ask(tokenizer="shakespeare", text=text, expect_error=True)
    assert "special token" in answer["error"] and f"at character {text.index(ENDOFTEXT)}" in answer["error"]


def test_lone_surrogates_encode_as_the_replacement_character(node_tokenizers, python_tokenizers):
    for text in ["a\ud800b", "\udfff", "x\ud83d", "\ud83d\ude00\ud800"]:
        for name, tokenizer in python_tokenizers.items():
            assert node_tokenizers.ask(tokenizer=name, text=text)["ids"] == tokenizer.encode(text), (name, text)


def test_the_web_folder_ships_with_gptlib():
    """pyproject's package data carries the engine: a wheel built from the tree holds every file."""
    import tomllib

    data = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    patterns = data["gptlib"]
    for name in ("gpt.js", "bpe.js", "package.json"):
        assert any(Path("web", name).match(p) for p in patterns), f"web/{name} is not in pyproject's package-data"
        assert (WEB_DIR / name).is_file()
