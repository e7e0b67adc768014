"""Chapter 5's self-checking exercises: typical wrong answers fail with a message that names the
wrong idea (never the expected values), the given buggy layer norm is recognised, placeholders
are reported, and the prediction's experiment says what happened. The right answers are the
chapter's solution cells, which tests/test_classroom.py runs through the grader."""

import numpy as np
import pytest
from exercise_checks import fails_with, kinds_are_varied

from gptlib.exercises import evaluate
from gptlib.exercises.ch05_layernorm import EXERCISES, SCALE_OPTIONS, _rms_vjp, buggy_layer_norm

EPS = 1e-5


def test_at_least_four_exercises_and_two_beyond_the_chapter():
    assert kinds_are_varied(EXERCISES)


def todo(*args):
    raise NotImplementedError


@pytest.mark.parametrize("exercise_id, n_answers", [
    ("ch05.layer_norm_grads", 1), ("ch05.rms_norm", 2), ("ch05.fix_layer_norm", 1),
])
def test_placeholders_are_reported(exercise_id, n_answers):
    assert "not implemented yet" in fails_with(exercise_id, *[todo] * n_answers)


def x_hat_and_r(x):
    r = 1 / np.sqrt(x.var(axis=-1, keepdims=True) + EPS)
    return (x - x.mean(axis=-1, keepdims=True)) * r, r


def param_grads(d_out, x):
    n = x.shape[-1]
    return (d_out * x_hat_and_r(x)[0]).reshape(-1, n).sum(axis=0), d_out.reshape(-1, n).sum(axis=0)


def constant_statistics(d_out, x, g, b):
    return (d_out * g * x_hat_and_r(x)[1], *param_grads(d_out, x))


def unbiased_variance(d_out, x, g, b):
    n = x.shape[-1]
    r = 1 / np.sqrt(x.var(axis=-1, ddof=1, keepdims=True) + EPS)
    x_hat = (x - x.mean(axis=-1, keepdims=True)) * r
    d = d_out * g
    dx = r * (d - d.mean(axis=-1, keepdims=True) - x_hat * (d * x_hat).mean(axis=-1, keepdims=True))
    return dx, (d_out * x_hat).reshape(-1, n).sum(axis=0), d_out.reshape(-1, n).sum(axis=0)


def unsummed_parameter_grads(d_out, x, g, b):
    x_hat, r = x_hat_and_r(x)
    d = d_out * g
    dx = r * (d - d.mean(axis=-1, keepdims=True) - x_hat * (d * x_hat).mean(axis=-1, keepdims=True))
    return dx, d_out * x_hat, d_out


@pytest.mark.parametrize("wrong, phrases", [
    (constant_statistics, ("item 0", "their paths add two more terms")),
    (unbiased_variance, ("values are wrong",)),
    (unsummed_parameter_grads, ("item 1", "expected shape")),
])
def test_layer_norm_gradients_with_a_missing_term(wrong, phrases):
    fails_with("ch05.layer_norm_grads", wrong, phrases=phrases)


def rms_forward(x, g):
    return g * x / np.sqrt((x**2).mean(axis=-1, keepdims=True) + EPS)


def rms_backward_missing_term(d_out, x, g):
    r = np.sqrt((x**2).mean(axis=-1, keepdims=True) + EPS)
    return d_out * g / r, (d_out * x / r).reshape(-1, x.shape[-1]).sum(axis=0)


def rms_forward_eps_outside(x, g):
    return g * x / (np.sqrt((x**2).mean(axis=-1, keepdims=True)) + EPS)


def layer_norm_forward(x, g):
    return g * x_hat_and_r(x)[0]


@pytest.mark.parametrize("forward, backward, phrases", [
    (rms_forward, rms_backward_missing_term, ("item 1", "The RMS depends on x too")),
    # torch autograd's backward (a reference, not a solution) isolates the forward's slip
    (layer_norm_forward, _rms_vjp, ("item 0", "does not subtract the mean")),
    (rms_forward_eps_outside, _rms_vjp, ("eps belongs inside the square root",)),
    (rms_forward, lambda d, x, g: (d * g, d.sum(axis=0)), ("values are wrong",)),
])
def test_rms_norm_with_a_typical_slip(forward, backward, phrases):
    fails_with("ch05.rms_norm", forward, backward, phrases=phrases)


def test_the_given_buggy_layer_norm_is_recognised():
    message = fails_with("ch05.fix_layer_norm", buggy_layer_norm, phrases=("a square x",))
    assert "what shape do mean and var have" in message


def test_a_layer_norm_over_the_wrong_axis_is_caught():
    def over_positions(x, g, b, eps=1e-5):
        return g * (x - x.mean(axis=0, keepdims=True)) / np.sqrt(x.var(axis=0, keepdims=True) + eps) + b

    fails_with("ch05.fix_layer_norm", over_positions, phrases=("values are wrong",))


def test_the_prediction_takes_one_of_its_options_and_runs_the_experiment():
    assert "choose one of" in fails_with("ch05.scaled_input_gradient", "it vanishes")
    outcomes = [evaluate("ch05.scaled_input_gradient", option) for option in SCALE_OPTIONS]
    assert sum(result.passed for result in outcomes) == 1
    assert all("within 1e-4" in result.message for result in outcomes)
