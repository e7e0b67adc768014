"""The attention-map widget (chapter 3): what each head of each layer looks at.

Pick a layer and a head (buttons, or click one of the head thumbnails); the heatmap shows the
head's attention weights over the real tokens, row = the query (the position that reads),
column = the key (the position it reads from). Future positions are masked, so the map is a
lower triangle. Hover or tap a cell to read its value. Most rows spread their weight thinly, so
the colour shows each row scaled to its largest weight (or, with the "absolute" button, the
square root of the weight); the legend says which.

The front-end is js/attention.js (the live views draw their attention panel with it too). The
weights travel as integers in thousandths (3 decimals), and only the lower triangle:
n_layer * n_head * n(n+1)/2 small integers.
"""

from __future__ import annotations

import base64

import numpy as np

from .base import Widget

SCALE = 1000  # weights are sent as round(p * SCALE): 3 decimals
MAX_TOKENS = 96  # beyond this the cells get too small to read or hover
COLOURS = ("row", "abs")  # the colour scales of js/attention.js


def quantise(maps: np.ndarray) -> str:
    """[n_layer, n_head, n, n] probabilities -> per layer, per head, the lower triangle row by row
    (row i holds keys 0..i) in thousandths, as little-endian uint16 in base64: one short string
    in the saved notebook, where a list would take a line per number."""
    n = maps.shape[-1]
    rows, cols = np.tril_indices(n)  # row-major: (0,0), (1,0), (1,1), (2,0), ...
    lower = np.rint(maps[..., rows, cols] * SCALE).astype("<u2")  # [n_layer, n_head, n(n+1)/2]
    return base64.b64encode(lower.tobytes()).decode("ascii")


def unquantise(packed: str, n_layer: int, n_head: int) -> np.ndarray:
    """quantise's string -> [n_layer, n_head, n(n+1)/2] weights (for tests and readers)."""
    values = np.frombuffer(base64.b64decode(packed), dtype="<u2") / SCALE
    return values.reshape(n_layer, n_head, -1)


def check_maps(tokens, maps) -> np.ndarray:
    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim != 4 or maps.shape[-1] != maps.shape[-2]:
        raise ValueError(f"maps must have shape [n_layer, n_head, n_seq, n_seq], got {maps.shape}")
    if len(tokens) != maps.shape[-1]:
        raise ValueError(f"got {len(tokens)} tokens but the maps cover {maps.shape[-1]} positions")
    if not all(isinstance(t, str) for t in tokens):
        raise TypeError("tokens must be strings (decode each token id first)")
    if maps.shape[-1] > MAX_TOKENS:
        raise ValueError(f"{maps.shape[-1]} tokens is too many to show; keep at most {MAX_TOKENS}")
    if not np.isfinite(maps).all() or maps.min() < 0 or maps.max() > 1 + 1e-6:
        raise ValueError("maps must hold probabilities in [0, 1]")
    if np.abs(np.triu(maps, k=1)).max(initial=0.0) > 1e-6:
        raise ValueError(
            "maps must be causal: a query (row) gives no weight to later keys (columns)"
        )
    return maps


class AttentionMap(Widget):
    KIND = "attention"


def attention_map_widget(
    tokens,
    maps,
    *,
    layer: int = 0,
    head: int = 0,
    title: str = "Attention maps",
    colour: str = "row",
) -> AttentionMap:
    """The widget for ``maps`` [n_layer, n_head, n_seq, n_seq] over ``tokens`` (n_seq strings).

    ``layer`` and ``head`` choose what is shown first; ``colour`` the colour scale first shown:
    "row" (each row scaled to its largest weight) or "abs" (the square root of the weight).
    """
    maps = check_maps(tokens, maps)
    n_layer, n_head = maps.shape[:2]
    if not (0 <= layer < n_layer and 0 <= head < n_head):
        raise ValueError(
            f"layer must be in [0, {n_layer}) and head in [0, {n_head}), got {layer} and {head}"
        )
    if colour not in COLOURS:
        raise ValueError(f"colour must be one of {COLOURS}, got {colour!r}")
    data = {
        "title": title,
        "tokens": list(tokens),
        "n_layer": n_layer,
        "n_head": n_head,
        "scale": SCALE,
        "maps": quantise(maps),
        "layer": layer,
        "head": head,
        "colour": colour,
    }
    return AttentionMap(
        data, f"attention-map widget: {n_layer} layers x {n_head} heads, {len(tokens)} tokens"
    )
