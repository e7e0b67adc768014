"""Chapter 3 exercises: softmax, causal attention, heads as reshapes, the softmax gradient."""

import numpy as np

from ..attention import attention, causal_mask, softmax, softmax_backward, split_heads
from . import Case, Exercise

_rng = np.random.default_rng(3)


def _normal(*shape, scale=1.0):
    return (scale * _rng.normal(size=shape)).astype(np.float64)


def _causal_attention(q, k, v):
    """Single-head causal attention: q, k [n_seq, d_k], v [n_seq, d_v] -> [n_seq, d_v]."""
    return attention(q, k, v, causal_mask(q.shape[0]))


def _softmax_last_axis(x):
    return softmax(x, axis=-1)


EXERCISES = {
    "softmax": Exercise(
        title="Numerically safe softmax",
        reference=_softmax_last_axis,
        cases=[
            Case((np.array([1.0, 2.0, 3.0]),), "a vector [1, 2, 3]"),
            Case((_normal(4, 6),), "a [4, 6] matrix (softmax over each row)"),
            Case((np.array([[1e4, 0.0, -1e4], [-1e4, -1e4, -1e4]]),), "logits of +-1e4 (the naive formula overflows)"),
            Case((np.array([[5.0]]),), "a single logit"),
            Case((_normal(2, 3, 5, scale=10.0),), "a [2, 3, 5] array of large logits"),
        ],
    ),
    "causal_attention": Exercise(
        title="Single-head causal attention",
        reference=_causal_attention,
        cases=[
            Case((_normal(1, 4), _normal(1, 4), _normal(1, 4)), "a sequence of one token (it can only read itself)"),
            Case((_normal(5, 8), _normal(5, 8), _normal(5, 8)), "5 tokens, d_k = d_v = 8"),
            Case((_normal(6, 4), _normal(6, 4), _normal(6, 3)), "6 tokens, d_k = 4, d_v = 3"),
            Case((_normal(4, 64, scale=3.0), _normal(4, 64, scale=3.0), _normal(4, 2)), "large scores (d_k = 64): is the 1/sqrt(d_k) there?"),
        ],
    ),
    "split_heads": Exercise(
        title="Multi-head attention's heads as a reshape",
        reference=split_heads,
        cases=[
            Case((np.arange(12.0).reshape(3, 4), 2), "x = arange(12).reshape(3, 4), n_head = 2"),
            Case((_normal(5, 12), 3), "x [5, 12], n_head = 3"),
            Case((_normal(1, 8), 1), "one token, one head"),
            Case((_normal(4, 16), 16), "sixteen heads of size 1"),
        ],
    ),
    "softmax_backward": Exercise(
        title="The gradient of softmax",
        reference=softmax_backward,
        cases=[
            Case((np.array([1.0, 0.0, 0.0]), np.array([0.2, 0.3, 0.5])), "d_out = [1, 0, 0], probs = [0.2, 0.3, 0.5]"),
            Case((np.ones(4), np.full(4, 0.25)), "d_out all ones (shifting every score equally changes nothing)"),
            Case((_normal(3, 5), softmax(_normal(3, 5))), "a [3, 5] batch of rows"),
            Case((_normal(2, 4), softmax(np.where(causal_mask(4)[1:3], _normal(2, 4), -np.inf))), "rows with masked keys (probability 0)"),
        ],
    ),
}
