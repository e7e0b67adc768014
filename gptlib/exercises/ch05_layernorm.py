"""Exercises for chapter 5 (layer norm): normalising a row, the full layer norm, its gradient."""

import numpy as np

from ..layernorm import layer_norm, layer_norm_backward, normalize
from . import Case, Exercise

_rng = np.random.default_rng(5)


def _normalize(x):
    return normalize(x)[0]  # x_hat only, with eps = 1e-5


def _layer_norm_backward(d_out, x, g, b):
    dx, grads = layer_norm_backward(d_out, x, g, b)
    return dx, grads["g"], grads["b"]


def _random(*shape, offset=0.0, scale=1.0):
    return np.round(offset + scale * _rng.normal(size=shape), 3)


_G, _B = _random(6, offset=1.0, scale=0.3), _random(6, scale=0.2)

EXERCISES = {
    "normalize": Exercise(
        title="normalise each row (eps = 1e-5)",
        reference=_normalize,
        cases=[
            Case((np.array([[1.0, 2.0, 3.0, 4.0]]),), "the row [1, 2, 3, 4]"),
            Case((_random(3, 6, offset=5.0, scale=2.0),), "three rows with mean near 5"),
            Case((np.full((2, 4), 7.0),), "constant rows (the variance is 0)"),
            Case((_random(2, 3, 8),), "a batch [2, 3, 8]: normalise over the last axis only"),
        ],
        atol=1e-5,
    ),
    "layer_norm": Exercise(
        title="layer norm with gain g and bias b",
        reference=layer_norm,
        cases=[
            Case((_random(6), _G, _B), "a single vector of 6"),
            Case((_random(4, 6, offset=-2.0, scale=3.0), _G, _B), "four positions"),
            Case((np.full((1, 6), -3.0), _G, _B), "a constant row (the answer is b)"),
        ],
        atol=1e-5,
    ),
    "layer_norm_backward": Exercise(
        title="the gradients of layer norm (dx, dg, db)",
        reference=_layer_norm_backward,
        cases=[
            Case((_random(1, 6), _random(1, 6), np.ones(6), np.zeros(6)), "one position, g = 1, b = 0"),
            Case((_random(4, 6), _random(4, 6, offset=2.0, scale=3.0), _G, _B), "four positions"),
            Case((_random(2, 3, 6), _random(2, 3, 6), _G, _B), "a batch [2, 3, 6] (dg and db sum over it)"),
        ],
        atol=1e-5,
    ),
}
