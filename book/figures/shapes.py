"""Shapes and parameter names for the diagrams, read from gptlib itself rather than typed.

The diagrams label every tensor with its shape, e.g. ``[n_head, n_seq, head_size]``. Those labels
come from running gptlib's own functions on a small model whose every dimension has a size of
its own (n_seq = 5, n_embd = 12, head_size = 6, ...): the size of each axis of the result says
which dimension it is. Should gptlib change a shape or rename a parameter, regenerating the
diagrams fails or changes them, and tests/test_diagrams.py notices.
"""

from __future__ import annotations

import numpy as np

from gptlib.config import GPTConfig
from gptlib.weights import flatten_params, param_table, unflatten_params

CONFIG = GPTConfig(vocab_size=11, n_ctx=7, n_embd=12, n_head=2, n_layer=2)
N_SEQ = 5  # tokens in the sequence
N_PAST = 3  # positions already in the KV cache

_C = CONFIG.n_embd
# Each size names one dimension; written as gptlib's comments write them ("4*n_embd").
DIMS = {
    1: "1",
    CONFIG.n_head: "n_head",
    N_PAST: "n_past",
    N_PAST + 1: "n_past+1",
    N_SEQ: "n_seq",
    CONFIG.head_size: "head_size",
    CONFIG.n_ctx: "n_ctx",
    CONFIG.vocab_size: "vocab_size",
    _C: "n_embd",
    3 * _C: "3*n_embd",
    4 * _C: "4*n_embd",
}
if len(DIMS) != 11:
    raise AssertionError("two dimensions of the tracing model share a size: shapes would be ambiguous")


def shape(array) -> str:
    """'[n_head, n_seq, head_size]' for an array traced through gptlib with the sizes above."""
    dims = np.shape(array)
    unknown = [d for d in dims if d not in DIMS]
    if unknown:
        raise ValueError(f"shape {dims} has sizes {unknown} that name no dimension of the tracing model")
    return "[" + ", ".join(DIMS[d] for d in dims) + "]"


def params() -> dict:
    """Random parameters in gptlib's layout for CONFIG (only their shapes matter here)."""
    rng = np.random.default_rng(0)
    flat = {name: 0.1 * rng.standard_normal(size) for name, _, _, size in param_table(CONFIG)}
    return unflatten_params(flat, CONFIG)


def param_shape(name: str, params_: dict | None = None) -> str:
    """The shape of gptlib's parameter ``name`` ('wte', 'blocks.0.attn.c_attn.w'); KeyError if gptlib has none."""
    flat = flatten_params(params() if params_ is None else params_)
    if name not in flat:
        raise KeyError(f"gptlib has no parameter {name!r}; its names are {sorted(flat)[:6]}...")
    return shape(flat[name])


def token_ids(n: int = N_SEQ) -> np.ndarray:
    """n token ids for the tracing model: every id below vocab_size, one repeated (as in text)."""
    return np.array([(3 * i) % CONFIG.vocab_size for i in range(n - 1)] + [0], dtype=np.int64)
