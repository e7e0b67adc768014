"""gptlib.widgets from Python: what each widget carries, its plain-text form, its refusals, and the
kernel side of the live views (what Python answers while Jupyter runs), against references no
one here wrote: tiktoken for the tokenizer data, transformers' GPT-2 for the model's predictions.
The JavaScript is tested in Node (test_widgets_js.py) and in Chromium (test_widgets_browser.py).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import tiktoken
import tiktoken.load

import gptlib
from gptlib.weights import BUNDLED_MODELS
from gptlib.widgets import (
    attention_map_widget,
    live_gpt,
    loss_widget,
    playground,
    sampling_explorer,
    token_viewer,
    visible,
)
from gptlib.widgets.attention import unquantise
from gptlib.widgets.base import PARTS, bundle
from gptlib.widgets.live import BOOK_MODEL_ENV, LIMITS, analyse, resolve_model
from gptlib.widgets.tokens import tiktoken_ranks
from test_widgets_js import hf_reference

TEXT = "ROMEO:\nBut soft, what light through yonder window breaks?<|endoftext|>It is the"


@pytest.fixture(scope="module")
def shakespeare():
    return gptlib.shakespeare_tokenizer()


def sent_messages(widget):
    """Replace the widget's send with a recorder: the messages Python would send the front-end."""
    messages = []
    widget.send = lambda content, buffers=None: messages.append(content)
    return messages


# --- every widget ----------------------------------------------------------------------------


def test_each_widget_has_a_fixed_plain_text_form_and_no_address(shakespeare):
    widgets = [
        token_viewer("to be", shakespeare),
        attention_map_widget(["a", "b"], np.array([[[[1, 0], [0.25, 0.75]]]])),
        sampling_explorer(np.arange(4.0), list("abcd")),
        loss_widget({"step": [0, 1], "loss": [3.0, 2.5]}, title="my run"),
    ]
    assert [repr(w) for w in widgets] == [
        "<token viewer: 5 characters>",
        "<attention-map widget: 1 layers x 1 heads, 2 tokens>",
        "<sampling explorer>",
        "<loss curves: my run>",
    ]
    for w in widgets:
        bundle_, plain = w._repr_mimebundle_()[0], w._repr_mimebundle_()[0]["text/plain"]
        assert (
            "0x" not in plain
            and bundle_["application/vnd.jupyter.widget-view+json"]["model_id"] == w.model_id
        )
        assert (
            w.model_id.startswith(f"gptlib-{w.kind}-")
            and w.layout.model_id == w.model_id + "-layout"
        )


def test_the_front_end_is_one_module_per_kind_built_from_the_js_files():
    for kind, parts in PARTS.items():
        source = bundle(kind)
        assert source.startswith("// --- common.js ---") and source.rstrip().endswith(
            "export default {render};"
        )
        assert re.findall(r"^// --- (\w+)\.js ---$", source, re.M) == ["common", *parts, "widget"]
        assert f"RENDERERS.{kind} =" in source


def test_visible_marks_whitespace_like_the_widgets():
    assert visible(" the\n\t") == "\u2423the\u21b5\u21e5" and visible("") == "\u2205"


# --- token viewer ----------------------------------------------------------------------------


def test_token_viewer_rows_are_the_tokenizers_ids_with_special_tokens_as_one(shakespeare):
    gpt2 = gptlib.gpt2_tokenizer()
    reference = tiktoken.Encoding(
        "gpt2",
        pat_str=gpt2.pattern,
        mergeable_ranks=gpt2.ranks,
        special_tokens={"<|endoftext|>": 50256},
    )
    widget = token_viewer(TEXT, {"GPT-2": gpt2, "Shakespeare": shakespeare})
    rows = widget.data["rows"]
    assert [t[0] for t in rows[0]["tokens"]] == reference.encode(TEXT, allowed_special="all")
    special = [t for t in rows[1]["tokens"] if t[3] == 2]
    assert [t[1] for t in special] == ["<|endoftext|>"] and special[0][
        0
    ] == shakespeare.special_tokens["<|endoftext|>"]
    assert widget.data["live"]["name"] == "Shakespeare"  # GPT-2 is too large for the page
    assert widget.data["live"]["special"] == {"<|endoftext|>": special[0][0]}


def test_token_viewer_live_ranks_are_tiktokens_format(shakespeare, tmp_path):
    path = tmp_path / "ranks.tiktoken"
    path.write_text(tiktoken_ranks(shakespeare), encoding="utf-8")
    assert tiktoken.load.load_tiktoken_bpe(str(path)) == shakespeare.ranks


def test_token_viewer_answers_the_live_box_in_python(shakespeare):
    widget = token_viewer("x", shakespeare)
    messages = sent_messages(widget)
    widget._on_message(widget, {"type": "hello"}, [])
    widget._on_message(widget, {"type": "encode", "request": 7, "text": TEXT}, [])
    assert messages[0] == {"type": "kernel"}
    assert messages[1]["reply_to"] == 7
    assert [t[0] for t in messages[1]["tokens"]] == shakespeare.encode(TEXT, allowed_special="all")


def test_token_viewer_refuses_bad_input(shakespeare):
    with pytest.raises(TypeError, match="text must be a str"):
        token_viewer(b"bytes", shakespeare)
    with pytest.raises(TypeError, match="tokenizers must be"):
        token_viewer("x", {"a": "not a tokenizer"})
    with pytest.raises(ValueError, match="not one of the tokenizers"):
        token_viewer("x", {"a": shakespeare}, live="b")
    with pytest.raises(ValueError, match="too many for the page"):
        token_viewer("x", {"GPT-2": gptlib.gpt2_tokenizer()}, live="GPT-2")


# --- attention, sampling, loss ---------------------------------------------------------------


def test_attention_widget_sends_rounded_lower_triangles_and_refuses_bad_maps():
    maps = np.array([[[[1, 0, 0], [0.3334, 0.6666, 0], [0.2, 0.3, 0.5]]]] * 2)  # [2, 1, 3, 3]
    widget = attention_map_widget(["a", " b", "\n"], maps, layer=1, colour="abs")
    expected = [[[1000, 333, 667, 200, 300, 500]]] * 2
    assert (unquantise(widget.data["maps"], 2, 1) * 1000).round().tolist() == expected
    assert widget.data["tokens"] == ["a", " b", "\n"] and widget.data["colour"] == "abs"
    with pytest.raises(ValueError, match="causal"):
        attention_map_widget(["a", "b"], np.full((1, 1, 2, 2), 0.5))
    with pytest.raises(ValueError, match="2 tokens but the maps cover 3"):
        attention_map_widget(["a", "b"], maps)
    with pytest.raises(ValueError, match="colour"):
        attention_map_widget(["a", "b", "c"], maps, colour="linear")
    with pytest.raises(ValueError, match="layer must be"):
        attention_map_widget(["a", "b", "c"], maps, layer=2)


def test_loss_widget_carries_its_title_and_rounded_thinned_curves():
    history = {
        "step": list(range(1000)),
        "loss": list(np.linspace(4, 2, 1000)),
        "evals": [
            {"step": 0, "train": 4.0, "val": 4.1},
            {"step": 999, "train": 2.01234, "val": 2.3},
        ],
    }
    widget = loss_widget(history, max_points=100, title="the chapter's run")
    assert widget.data["title"] == "the chapter's run"
    batch, train, val = widget.data["curves"]
    assert len(batch["x"]) == 100 and batch["x"][:2] == [0, 10] and train["y"] == [4.0, 2.012]
    assert widget.data["max_step"] == 999
    with pytest.raises(ValueError, match="empty"):
        loss_widget({})
    with pytest.raises(TypeError, match="history must be a dict"):
        loss_widget([1, 2])


# --- live views ------------------------------------------------------------------------------


def test_live_result_predicts_what_transformers_gpt2_predicts(shakespeare):
    m = resolve_model()
    result = analyse(TEXT, m)
    ids = shakespeare.encode(TEXT, allowed_special="all")
    assert [t[0] for t in result["tokens"]] == ids and result["start"] == 0
    logits, attention, lens = hf_reference(ids)
    top = np.argsort(-logits[-1])[: LIMITS["bars"]]
    assert result["next"]["labels"] == [shakespeare.token_str(int(i)) for i in top]
    got = [e[0] for e in result["next"]["entries"][: len(top)]]
    np.testing.assert_allclose(got, logits[-1][top], atol=2e-3)  # sent rounded to 3 decimals
    assert result["next"]["vocab_size"] == 1024
    sent = result["attention"]
    n = min(len(ids), LIMITS["attention"])
    assert sent["offset"] == len(ids) - n and len(sent["tokens"]) == n
    rows, cols = np.tril_indices(n)
    np.testing.assert_allclose(
        unquantise(sent["maps"], sent["n_layer"], sent["n_head"]),
        attention[:, :, -n:, -n:][..., rows, cols],
        atol=6e-4,
    )
    p = min(len(ids), LIMITS["lens"])
    assert result["lens"]["offset"] == len(ids) - p
    labels = [[label for label, _ in layer] for layer in result["lens"]["top"]]
    assert labels == [
        [shakespeare.token_str(int(i)) for i in layer[-p:].argmax(-1)] for layer in lens
    ]
    probs = [[prob for _, prob in layer] for layer in result["lens"]["top"]]
    np.testing.assert_allclose(probs, lens[:, -p:].max(-1), atol=6e-4)


def test_live_text_beyond_the_context_reads_the_last_n_ctx_tokens(shakespeare):
    m = resolve_model()
    text = "To be, or not to be, that is the question. " * 20
    result = analyse(text, m)
    n = len(shakespeare.encode(text))
    assert (
        n > m.config.n_ctx and result["start"] == n - m.config.n_ctx and len(result["tokens"]) == n
    )
    assert analyse("", m)["next"] is None


def test_live_view_recomputes_when_python_sets_the_text():
    view = live_gpt("ROMEO:", views=["tokens", "next"])
    before = view.result["next"]["labels"]
    view.text = "JULIET:\nO Romeo, Romeo, wherefore art thou"
    assert view.result["text"] == view.text and view.result["next"]["labels"] != before
    assert repr(view) == "<live GPT views (tokens, next)>"


def test_live_view_generates_in_python_as_gptlib_generate_does(shakespeare):
    view = live_gpt("ROMEO:", views=["generate"])
    messages = sent_messages(view)
    settings = {"temperature": 0.8, "top_k": 20, "top_p": 0.9, "seed": 3, "max_new_tokens": 12}
    view._on_message(
        view, {"type": "generate", "request": 1, "text": "ROMEO:", "settings": settings}, []
    )
    view._on_message(
        view, {"type": "generate", "request": 2, "text": "ROMEO:", "settings": settings}, []
    )
    config, params, _ = gptlib.load_shakespeare_model()
    expected = gptlib.generate(
        gptlib.NumpyGPT(config, params),
        shakespeare.encode("ROMEO:"),
        12,
        temperature=0.8,
        top_k=20,
        top_p=0.9,
        seed=3,
    )
    assert (
        [t[0] for t in messages[0]["tokens"]] == expected == [t[0] for t in messages[1]["tokens"]]
    )
    view._on_message(
        view,
        {"type": "generate", "request": 3, "text": "ROMEO:", "settings": {"temperature": -1}},
        [],
    )
    assert messages[2]["reply_to"] == 3 and "temperature" in messages[2]["error"]


def test_live_view_takes_the_readers_models(shakespeare, small_checkpoint):
    config, params, _ = gptlib.load_shakespeare_model()
    numpy_model = live_gpt("ROMEO:", model=gptlib.NumpyGPT(config, params), views=["next"])
    torch_model = live_gpt(
        "ROMEO:", model=gptlib.GPT.from_params(config, params, device="cpu"), views=["next"]
    )
    book = live_gpt("ROMEO:", views=["next"])
    assert numpy_model.model_info["book"] and torch_model.model_info["book"]  # the same weights
    assert (
        numpy_model.result["next"]["labels"]
        == torch_model.result["next"]["labels"]
        == book.result["next"]["labels"]
    )
    folder, _ = small_checkpoint  # transformers' save_pretrained: vocabulary 101, no tokenizer
    with pytest.raises(ValueError, match="tokenizer"):
        live_gpt("ab", model=folder)
    tiny = gptlib.BPETokenizer({bytes([i]): i for i in range(101)})
    other = live_gpt("abc", model=folder, tokenizer=tiny, views=["next"])
    assert not other.model_info["book"] and other.model_info["vocab_size"] == 101
    with pytest.raises(TypeError, match="model must be"):
        live_gpt("x", model=42)


def test_live_view_refuses_bad_settings():
    with pytest.raises(ValueError, match="views"):
        live_gpt("x", views=["tokens", "everything"])
    with pytest.raises(ValueError, match="temperature"):
        live_gpt("x", temperature=3)
    with pytest.raises(ValueError, match="layer must be"):
        live_gpt("x", layer=4)
    with pytest.raises(TypeError, match="text must be a str"):
        live_gpt(None)


def test_book_model_follows_the_environment_variable(monkeypatch, tmp_path):
    folder = tmp_path / "my_run"
    shutil.copytree(BUNDLED_MODELS["shakespeare"], folder)
    monkeypatch.setenv(BOOK_MODEL_ENV, str(folder))
    assert playground().model_info["name"] == "the book's model (my_run)"
    monkeypatch.setenv(BOOK_MODEL_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match=BOOK_MODEL_ENV):
        playground()


def test_playground_state_holds_no_weights():
    view = playground()
    state = json.dumps({k: v for k, v in view.get_state().items() if k not in ("_esm", "_css")})
    assert len(state) < 80_000, "the saved state should hold results, never the model"
    assert view.views == ["drop", "tokens", "next", "generate", "attention", "lens"]


# --- the book's assets -----------------------------------------------------------------------


def test_the_book_serves_the_front_end_the_engine_and_the_named_model(monkeypatch, tmp_path):
    from types import SimpleNamespace

    from safetensors import safe_open

    from gptlib.widgets.book import copy_assets

    folder = tmp_path / "my_run"
    shutil.copytree(BUNDLED_MODELS["shakespeare"], folder)
    monkeypatch.setenv(BOOK_MODEL_ENV, str(folder))  # as `GPTLIB_BOOK_MODEL=... make book` does
    app = SimpleNamespace(
        outdir=str(tmp_path / "html"),
        srcdir=str(Path(gptlib.__file__).parents[1]),
        builder=SimpleNamespace(format="html"),
    )
    copy_assets(app, None)
    out = tmp_path / "html" / "_static" / "gptlib"
    assert {p.name for p in (out / "widgets").iterdir()} == {f"{k}.js" for k in PARTS} | {
        "widgets.css"
    }
    assert (out / "widgets" / "live.js").read_text() == bundle("live")
    assert {"gpt.js", "bpe.js"} <= {p.name for p in (out / "web").iterdir()} and (
        out / "book.js"
    ).is_file()
    assert json.loads((out / "model" / "manifest.json").read_text()) == {
        "name": "the book's model (my_run)"
    }
    with safe_open(out / "model" / "model.safetensors", framework="np") as f:
        assert {str(f.get_tensor(k).dtype) for k in f.keys()} == {"float16"}  # half the download
    config, params = gptlib.load_gpt2(out / "model")
    np.testing.assert_allclose(params["wte"], gptlib.load_gpt2(folder)[1]["wte"], atol=1e-3)
    if (Path(gptlib.__file__).parents[1] / "node_modules").is_dir():
        assert {"require.js", "embed-amd.js", "anywidget.js"} <= {
            p.name for p in (out / "vendor").iterdir()
        }
