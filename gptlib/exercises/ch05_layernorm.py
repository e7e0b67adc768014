"""Chapter 5 exercises: layer norm's gradients, RMSNorm forward and backward (a variant the
chapter does not show), a layer norm with a bug to find, and a prediction about the gradient of
a scaled input.

References are torch's own ``F.layer_norm`` and ``F.rms_norm`` and torch autograd.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from . import Case, Exercise, Mistake, Prediction
from .references import torch_function, torch_vjp

EPS = 1e-5


def _torch_layer_norm(x, g, b):
    return F.layer_norm(x, g.shape, g, b, EPS)


def _torch_rms_norm(x, g):
    return F.rms_norm(x, g.shape, g, EPS)


def _rows(rng, *, offset=0.0):
    """A random shape [..., n] (one vector, a sequence or a batch) and x, g, b for it."""
    leading = [(), (int(rng.integers(1, 6)),), (int(rng.integers(1, 3)), int(rng.integers(1, 5)))][rng.integers(3)]
    n = int(rng.integers(2, 17))
    x = offset + float(rng.uniform(0.1, 5.0)) * rng.normal(size=leading + (n,))
    g, b = 1.0 + 0.3 * rng.normal(size=n), 0.2 * rng.normal(size=n)
    shape = "[" + ", ".join(str(s) for s in x.shape) + "]"
    return x, g, b, shape


# --- layer_norm_grads: layer_norm_grads(d_out, x, g, b) -> (dx, dg, db) --------------------------

_layer_norm_vjp = torch_vjp(_torch_layer_norm, wrt=(0, 1, 2))


def _grads_cases(rng):
    x, g, b, shape = _rows(rng, offset=float(rng.normal(scale=3.0)))
    return [Case((rng.normal(size=x.shape), x, g, b), f"x {shape}")]


def _constant_stats_grads(d_out, x, g, b):
    """The mistake of treating mean and variance as constants: dx = d_out * g / sigma."""
    _, dg, db = _layer_norm_vjp(d_out, x, g, b)
    return d_out * g / np.sqrt(x.var(axis=-1, keepdims=True) + EPS), dg, db


def _mean_only_grads(d_out, x, g, b):
    """Only the mean's part of the gradient removed: dx = r (d - mean(d))."""
    _, dg, db = _layer_norm_vjp(d_out, x, g, b)
    d = d_out * g
    return (d - d.mean(axis=-1, keepdims=True)) / np.sqrt(x.var(axis=-1, keepdims=True) + EPS), dg, db


# --- rms_norm: rms_norm_forward(x, g), rms_norm_backward(d_out, x, g) -----------------------------

_rms_forward = torch_function(_torch_rms_norm)
_rms_vjp = torch_vjp(_torch_rms_norm, wrt=(0, 1))


def _rms_reference(d_out, x, g):
    return (_rms_forward(x, g), *_rms_vjp(d_out, x, g))


def _rms_adapter(forward, backward):
    def both(d_out, x, g):
        return (forward(x, g), *backward(d_out, x, g))

    return both


def _rms_cases(rng):
    x, g, _, shape = _rows(rng, offset=float(rng.normal()))
    return [Case((rng.normal(size=x.shape), x, g), f"x {shape}")]


def _rms_eps_outside(d_out, x, g):
    return (g * x / (np.sqrt((x**2).mean(axis=-1, keepdims=True)) + EPS), *_rms_vjp(d_out, x, g))


def _rms_as_layer_norm(d_out, x, g):
    centred = x - x.mean(axis=-1, keepdims=True)
    return (g * centred / np.sqrt((centred**2).mean(axis=-1, keepdims=True) + EPS), *_rms_vjp(d_out, x, g))


def _rms_backward_without_the_rms_term(d_out, x, g):
    r = np.sqrt((x**2).mean(axis=-1, keepdims=True) + EPS)
    dg = (d_out * x / r).reshape(-1, x.shape[-1]).sum(axis=0)
    return (_rms_forward(x, g), d_out * g / r, dg)


# --- fix_layer_norm: a debugging task --------------------------------------------------------------


def buggy_layer_norm(x, g, b, eps=1e-5):
    """Layer norm over the last axis of x [..., n] (a colleague's version, with one bug)."""
    mean = x.mean(axis=-1)
    var = x.var(axis=-1)
    return g * (x - mean) / np.sqrt(var + eps) + b


def _square_case(rng):
    n = int(rng.integers(3, 9))
    x = float(rng.normal(scale=2.0)) + rng.normal(size=(n, n))
    return [Case((x, 1.0 + 0.3 * rng.normal(size=n), 0.2 * rng.normal(size=n)), f"a square x [{n}, {n}]")]


_r = np.random.default_rng(5)  # the fixed cases' inputs

# --- scaled_input_gradient: a prediction ------------------------------------------------------------

SCALE_OPTIONS = ("it stays the same", "it halves", "it doubles")


def scaled_input_experiment():
    """Torch autograd's gradient of layer norm at x and at 2x, for the same upstream gradient."""
    rng = np.random.default_rng(0)
    x, d_out = rng.normal(loc=1.0, scale=3.0, size=(4, 64)), rng.normal(size=(4, 64))
    g, b = 1.0 + 0.2 * rng.normal(size=64), 0.1 * rng.normal(size=64)
    dx = _layer_norm_vjp(d_out, x, g, b)[0]
    dx_doubled = _layer_norm_vjp(d_out, 2.0 * x, g, b)[0]
    ratio = dx_doubled / dx
    for option, value in zip(SCALE_OPTIONS, (1.0, 0.5, 2.0)):
        if np.allclose(ratio, value, rtol=1e-4):
            return option, f"dx is {value:g} times as large (within 1e-4)"
    return "none of these", "the gradient changed in no simple way"


EXERCISES = {
    "layer_norm_grads": Exercise(
        title="the gradients of layer norm (dx, dg, db)",
        reference=_layer_norm_vjp, kind="derive", difficulty=2,
        cases=[
            Case((_r.normal(size=6), _r.normal(size=6), np.ones(6), np.zeros(6)), "one vector of 6, g = 1, b = 0"),
            Case((np.ones((1, 4)), np.full((1, 4), 3.0), np.ones(4), np.zeros(4)),
                 "a constant row (its x_hat is 0, and eps keeps the gradient finite)"),
        ],
        generate=_grads_cases, n_generated=8,
        mistakes=[
            Mistake(_constant_stats_grads, "The mean and the variance depend on x too: their paths add "
                                           "two more terms to dx."),
            Mistake(_mean_only_grads, "You removed the part that changes the mean; the variance depends on "
                                      "x as well (the term along x_hat)."),
        ],
        atol=1e-8, rtol=1e-6,
    ),
    "rms_norm": Exercise(
        title="RMSNorm, forward and backward",
        reference=_rms_reference, kind="variant", difficulty=3,
        adapter=_rms_adapter,
        cases=[Case((np.ones((1, 4)), np.ones((1, 4)), np.ones(4)), "x all ones (its RMS is 1)")],
        generate=_rms_cases, n_generated=8,
        mistakes=[
            Mistake(_rms_eps_outside, "eps belongs inside the square root."),
            Mistake(_rms_as_layer_norm, "RMSNorm does not subtract the mean: that is what it drops from layer norm."),
            Mistake(_rms_backward_without_the_rms_term,
                    "The RMS depends on x too: differentiate through it (a term along x)."),
        ],
        atol=1e-8, rtol=1e-6,
    ),
    "fix_layer_norm": Exercise(
        title="fix the layer norm",
        reference=torch_function(_torch_layer_norm), kind="debug", difficulty=2,
        cases=[
            Case((_r.normal(size=(7,)) + 3.0, 1.0 + _r.normal(size=7), _r.normal(size=7)), "one vector of 7"),
            *_square_case(_r),
            Case((_r.normal(size=(2, 5, 16)), np.ones(16), np.zeros(16)), "a batch [2, 5, 16]"),
        ],
        generate=_square_case, n_generated=4,
        mistakes=[Mistake(buggy_layer_norm, "This still behaves like the given code: what shape do mean and "
                                            "var have, and what does broadcasting do with them?")],
        idea="Normalise each row (the last axis) by its own mean and variance.",
        atol=1e-8, rtol=1e-6,
    ),
    "scaled_input_gradient": Prediction(
        title="the gradient of layer norm at 2x",
        options=SCALE_OPTIONS, experiment=scaled_input_experiment, difficulty=2,
    ),
}
