"""Exercises for chapter 4 (the feed-forward block): its size, GELU, and the backward passes."""

import numpy as np

from ..ffn import gelu, gelu_backward, linear_backward
from . import Case, Exercise

_rng = np.random.default_rng(4)


def _ffn_num_params(n_embd):
    """c_fc: n*4n weights + 4n biases; c_proj: 4n*n weights + n biases."""
    return 8 * n_embd * n_embd + 5 * n_embd


def _linear_backward(d_out, x, w, b):
    dx, grads = linear_backward(d_out, x, w, b)
    return dx, grads["w"], grads["b"]


def _linear_case(leading, n_in, n_out):
    x = np.round(_rng.normal(size=leading + (n_in,)), 3)
    w, b = np.round(_rng.normal(size=(n_in, n_out)), 3), np.round(_rng.normal(size=n_out), 3)
    d_out = np.round(_rng.normal(size=leading + (n_out,)), 3)
    return d_out, x, w, b


_POINTS = np.array([-6.0, -3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0, 6.0])

EXERCISES = {
    "ffn_num_params": Exercise(
        title="parameters of one feed-forward block",
        reference=_ffn_num_params,
        cases=[
            Case((1,), "n_embd = 1"),
            Case((4,), "n_embd = 4"),
            Case((768,), "GPT-2 small, n_embd = 768"),
            Case((1600,), "GPT-2 XL, n_embd = 1600"),
        ],
    ),
    "gelu": Exercise(
        title="GELU, tanh approximation",
        reference=gelu,
        cases=[
            Case((np.zeros(3),), "zeros"),
            Case((_POINTS,), "points from -6 to 6"),
            Case((np.round(_rng.normal(size=(2, 5)), 3),), "a [2, 5] array"),
            Case((np.array([-30.0, 30.0]),), "large inputs, -30 and 30"),
        ],
    ),
    "gelu_backward": Exercise(
        title="the derivative of GELU (tanh approximation)",
        reference=gelu_backward,
        cases=[
            Case((np.ones(1), np.zeros(1)), "d_out = 1 at x = 0 (the slope there is 1/2)"),
            Case((np.ones_like(_POINTS), _POINTS), "d_out = 1 at points from -6 to 6"),
            Case((np.round(_rng.normal(size=(2, 5)), 3), np.round(_rng.normal(size=(2, 5)), 3)), "a random [2, 5] array"),
        ],
    ),
    "linear_backward": Exercise(
        title="the gradients of a linear layer (dx, dw, db)",
        reference=_linear_backward,
        cases=[
            Case(_linear_case((1,), 3, 2), "one position, 3 inputs, 2 outputs"),
            Case(_linear_case((4,), 3, 5), "four positions"),
            Case(_linear_case((2, 3), 4, 2), "a batch [2, 3, 4] (dw and db sum over batch and positions)"),
        ],
    ),
}
