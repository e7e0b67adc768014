"""The live GPT views (issue 16): the reader types, and sees what a GPT makes of that text.

Panels (``views``): "tokens", "next" (the next-token distribution with the sampling sliders),
"generate" (continue the text with temperature / top-k / top-p and a seed), "attention" (every
layer and head), "lens" (the logit lens: the prediction after each layer) and "drop" (the reader
drops a model folder onto the page and every live view on the page uses it).

Who computes (js/live.js decides, in this order): a model folder the reader dropped (read in the
page by gptlib/web/gpt.js, nothing uploaded); Python, while a kernel runs (the model given here,
NumPy or PyTorch); in the static book, the page itself with the book's model (an fp16 copy
served with the book, see ``gptlib.widgets.book``); otherwise the result computed when the
notebook ran stays on show. The widget state never holds weights, only the result for its text.

The book's model is the Shakespeare GPT shipped with gptlib, or the checkpoint folder named by
the environment variable GPTLIB_BOOK_MODEL (``make book`` with it set builds the book around
that model).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
import traitlets

from .. import GPT, NumpyGPT, attention_maps, generate, load_gpt2, logit_lens
from ..attention import softmax
from ..training import tokenizer_from_folder
from ..weights import BUNDLED_MODELS, flatten_params, load_checkpoint
from .attention import SCALE, quantise
from .base import Widget
from .sampling import explorer_data
from .tokens import token_pieces, token_str

VIEWS = ("tokens", "next", "generate", "attention", "lens", "drop")
LIMITS = {
    "attention": 64,
    "lens": 16,
    "bars": 12,
}  # tokens in the attention map and lens; bars shown
BOOK_MODEL_ENV = "GPTLIB_BOOK_MODEL"
DEFAULT_TEXT = "ROMEO:\nBut soft, what light through yonder window breaks?\nIt is the"


def book_model_folder() -> Path:
    """The folder of the book's model: $GPTLIB_BOOK_MODEL, else the Shakespeare GPT gptlib ships."""
    folder = Path(os.environ.get(BOOK_MODEL_ENV) or BUNDLED_MODELS["shakespeare"])
    for name in ("config.json", "model.safetensors"):
        if not (folder / name).is_file():
            raise FileNotFoundError(
                f"{folder / name} is missing: {BOOK_MODEL_ENV} must name a checkpoint folder "
                "(config.json, model.safetensors and the tokenizer files gptlib writes)"
            )
    return folder


@functools.lru_cache(maxsize=2)
def _book_model(folder: Path):
    config, params = load_checkpoint(folder)
    return config, params, tokenizer_from_folder(folder)


class LoadedModel:
    """A model the live views can run: NumPy parameters, its tokenizer, and what to call it."""

    def __init__(self, config, params, tokenizer, name: str, book: bool):
        self.config, self.params, self.tokenizer = config, params, tokenizer
        self.info = {
            "name": name,
            "book": book,
            "n_layer": config.n_layer,
            "n_head": config.n_head,
            "vocab_size": config.vocab_size,
            "n_ctx": config.n_ctx,
        }


def same_model(config, params, other_config, other_params) -> bool:
    """Whether two models compute the same function (same shape, same weights)."""
    if (config.n_head, config.layer_norm_eps) != (other_config.n_head, other_config.layer_norm_eps):
        return False
    a, b = flatten_params(params), flatten_params(other_params)
    return a.keys() == b.keys() and all(
        np.shape(a[k]) == np.shape(b[k]) and np.array_equal(a[k], b[k]) for k in a
    )


def resolve_model(model=None, tokenizer=None) -> LoadedModel:
    """What the live views run: None (the book's model), a folder, a NumpyGPT or a gptlib GPT."""
    folder = book_model_folder()
    book_config, book_params, book_tokenizer = _book_model(folder)
    if model is None:
        return LoadedModel(
            book_config,
            book_params,
            tokenizer or book_tokenizer,
            f"the book's model ({folder.name})",
            True,
        )
    if isinstance(model, (str, Path)):
        config, params = load_gpt2(model)
        if tokenizer is None and (Path(model) / "tokenizer.json").is_file():
            tokenizer = tokenizer_from_folder(model)
        name = Path(model).name
    elif isinstance(model, NumpyGPT):
        config, params, name = model.config, model.params, "your NumPy model"
    elif isinstance(model, GPT):
        config, params, name = model.config, model.to_params(), "your PyTorch model"
    else:
        raise TypeError(
            f"model must be None (the book's model), a checkpoint folder, a gptlib.NumpyGPT or a "
            f"gptlib.GPT, got {type(model).__name__}"
        )
    book = same_model(config, params, book_config, book_params)
    tokenizer = tokenizer or (book_tokenizer if book else None)
    if tokenizer is None:
        raise ValueError(
            "pass the model's tokenizer too (tokenizer=...): it is not the book's model"
        )
    return LoadedModel(config, params, tokenizer, name, book)


def analyse(text: str, m: LoadedModel, limits: dict = LIMITS) -> dict:
    """What the views show for ``text`` (js/live.js's engineAnalyse computes it in the page)."""
    ids = m.tokenizer.encode(text, allowed_special="all")
    start = max(0, len(ids) - m.config.n_ctx)
    result = {
        "text": text,
        "tokens": token_pieces(m.tokenizer, ids),
        "start": start,
        "next": None,
        "attention": None,
        "lens": None,
    }
    if not ids:
        return result
    window = ids[start:]
    label = functools.partial(token_str, m.tokenizer)
    lens = logit_lens(window, m.params, m.config)[1:]  # [n_layer, T, vocab]: after each block
    result["next"] = explorer_data(lens[-1, -1], label, n_show=limits["bars"])  # the model's own
    p = max(0, len(window) - limits["lens"])
    probs = softmax(lens[:, p:])  # [n_layer, P, vocab]
    best = probs.argmax(-1)  # [n_layer, P]: each layer's top token at each position
    result["lens"] = {
        "offset": start + p,
        "tokens": [label(i) for i in window[p:]],
        "top": [
            [[label(int(i)), round(float(q[i]), 3)] for i, q in zip(b, layer)]
            for b, layer in zip(best, probs)
        ],
    }
    a = max(0, len(window) - limits["attention"])
    maps = attention_maps(window, m.params, m.config)[..., a:, a:]  # the last queries and keys
    result["attention"] = {
        "offset": start + a,
        "tokens": [label(i) for i in window[a:]],
        "n_layer": m.config.n_layer,
        "n_head": m.config.n_head,
        "scale": SCALE,
        "maps": quantise(maps),
    }
    return result


class LiveGPT(Widget):
    KIND = "live"
    views = traitlets.List(traitlets.Unicode()).tag(sync=True)
    text = traitlets.Unicode().tag(sync=True)
    result = traitlets.Dict().tag(sync=True)
    model_info = traitlets.Dict().tag(sync=True)
    settings = traitlets.Dict().tag(sync=True)
    title = traitlets.Unicode().tag(sync=True)

    def __init__(self, m: LoadedModel, text: str, views, settings: dict, title: str):
        self._model = m
        super().__init__(
            {},
            f"live GPT views ({', '.join(views)})",
            views=list(views),
            text=text,
            result=analyse(text, m, settings["limits"]),
            model_info=m.info,
            settings=settings,
            title=title,
        )

    @traitlets.observe("text")
    def _text_changed(self, change):
        self.result = analyse(change["new"], self._model, self.settings["limits"])

    def use_model(self, model=None, tokenizer=None) -> None:
        """Run the views with another model (same arguments as ``live_gpt``)."""
        self._model = resolve_model(model, tokenizer)
        self.model_info = self._model.info
        self.result = analyse(self.text, self._model, self.settings["limits"])

    def answer(self, request):
        if request.get("type") != "generate":
            return super().answer(request)
        s = request.get("settings", {})
        ids = self._model.tokenizer.encode(str(request.get("text", "")), allowed_special="all")
        new = generate(
            NumpyGPT(self._model.config, self._model.params),
            ids,
            int(s.get("max_new_tokens", 60)),
            temperature=float(s.get("temperature", 1.0)),
            top_k=int(s.get("top_k", 0)) or None,
            top_p=float(s.get("top_p", 1.0)) if float(s.get("top_p", 1.0)) < 1 else None,
            seed=int(s.get("seed", 0)),
        )
        return {"tokens": token_pieces(self._model.tokenizer, new)}


def live_gpt(
    text: str = DEFAULT_TEXT,
    model=None,
    tokenizer=None,
    *,
    views=("tokens", "next", "generate", "attention", "lens"),
    title: str = "",
    temperature: float = 0.8,
    top_k: int = 0,
    top_p: float = 0.95,
    seed: int = 0,
    max_new_tokens: int = 60,
    layer: int = 0,
    head: int = 0,
    colour: str = "row",
) -> LiveGPT:
    """Live views of a GPT on ``text``, which the reader can edit.

    model: None for the book's model; a checkpoint folder, a ``gptlib.NumpyGPT`` or a
    ``gptlib.GPT`` (then pass its ``tokenizer`` unless the folder holds one). views: which panels,
    in order, from VIEWS. The other arguments set where the sliders and the attention map start.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    views = list(views)
    unknown = [v for v in views if v not in VIEWS]
    if not views or unknown:
        raise ValueError(f"views must be a non-empty list from {VIEWS}, got unknown {unknown}")
    if colour not in ("row", "abs"):
        raise ValueError(f"colour must be 'row' or 'abs', got {colour!r}")
    if not (
        0 <= temperature <= 2
        and 0 <= top_k <= 100
        and 0 < top_p <= 1
        and max_new_tokens >= 1
        and seed >= 0
    ):
        raise ValueError(
            "need 0 <= temperature <= 2, 0 <= top_k <= 100 (0: off), 0 < top_p <= 1 (1: off), "
            "max_new_tokens >= 1 and seed >= 0"
        )
    m = resolve_model(model, tokenizer)
    if not (0 <= layer < m.config.n_layer and 0 <= head < m.config.n_head):
        raise ValueError(
            f"layer must be in [0, {m.config.n_layer}) and head in [0, {m.config.n_head})"
        )
    settings = {
        "temperature": temperature,
        "top_k": top_k,
        "top_p": top_p,
        "seed": seed,
        "max_new_tokens": max_new_tokens,
        "k_max": min(100, m.config.vocab_size),
        "layer": layer,
        "head": head,
        "colour": colour,
        "limits": dict(LIMITS),
    }
    return LiveGPT(m, text, views, settings, title)


def playground(text: str = DEFAULT_TEXT, model=None, tokenizer=None, **options) -> LiveGPT:
    """Every live view at once, with the drop zone for the reader's own model."""
    return live_gpt(
        text,
        model,
        tokenizer,
        views=("drop", "tokens", "next", "generate", "attention", "lens"),
        title=options.pop("title", "A GPT in your page"),
        **options,
    )
