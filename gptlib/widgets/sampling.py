"""The sampling explorer (chapter 7): sliders for temperature, top-k and top-p reshape a real
next-token distribution, in the browser.

All the arithmetic runs in JavaScript (js/sampling.js), so the widget works in the static book
with no kernel; it follows ``gptlib.generation.next_token_probs`` (temperature, then top-k, then
top-p), and the tests run it with Node to check that it does. The live views use the same sliders
and bars on the model's prediction for the reader's text.

To stay small the widget carries the ``n_show`` most likely tokens one by one and the rest of
the vocabulary as a histogram of logits (rounded to 0.01, with a count per value), which is
enough to renormalise after any temperature and to count how many tokens a filter keeps.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..generation import check_sampling
from .base import Widget, visible  # noqa: F401  (chapter 7 imports visible from here)


class SamplingExplorer(Widget):
    KIND = "sampling"


def explorer_data(logits, labels, *, n_show=20, temperature=1.0, top_k=None, top_p=None, title=""):
    """The widget's data: the n_show most likely tokens, then the rest as a logit histogram."""
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim != 1 or logits.size < 2:
        raise ValueError(
            f"logits must be one row [vocab_size] with at least 2 tokens, got shape {logits.shape}"
        )
    if not np.all(np.isfinite(logits)):
        raise ValueError("logits must be finite")
    label_of = labels if callable(labels) else (lambda i: labels[i])
    if not callable(labels) and len(labels) != logits.size:
        raise ValueError(f"got {len(labels)} labels for {logits.size} logits")
    check_sampling(temperature, top_k, top_p)
    order = np.argsort(-logits, kind="stable")
    n_show = min(n_show, logits.size)
    head = [[round(float(logits[i]), 3), 1] for i in order[:n_show]]
    tail_values, tail_counts = np.unique(np.round(logits[order[n_show:]], 2), return_counts=True)
    tail = [
        [float(v), int(c)] for v, c in zip(tail_values[::-1], tail_counts[::-1])
    ]  # most likely first
    return {
        "entries": head + tail,
        "labels": [str(label_of(int(i))) for i in order[:n_show]],
        "vocab_size": int(logits.size),
        "k_max": int(min(logits.size, 100)),
        "temperature": float(temperature),
        "top_k": int(top_k or 0),
        "top_p": float(top_p or 1.0),
        "title": title,
    }


def sampling_explorer(
    logits,
    labels: Sequence[str] | Callable[[int], str],
    *,
    n_show: int = 20,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    title: str = "Next-token distribution",
) -> SamplingExplorer:
    """A widget: the next-token distribution of ``logits`` [vocab_size], with sliders.

    labels: the text of each token id (a list, or a function id -> str). The sliders start at
    ``temperature``, ``top_k`` and ``top_p`` (top-k 0 and top-p 1 mean "off").
    """
    data = explorer_data(
        logits,
        labels,
        n_show=n_show,
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        title=title,
    )
    return SamplingExplorer(data, "sampling explorer")
