"""Chapter 4's self-checking exercises: typical wrong answers fail with a message that names the
wrong idea (never the expected values), placeholders and crashes are reported, and the
prediction's experiment says what happened. The right answers are the chapter's own solution
cells, which tests/test_classroom.py runs through the grader (one copy of each)."""

import math

import numpy as np
import pytest
from exercise_checks import fails_with, kinds_are_varied

from gptlib.exercises import evaluate
from gptlib.exercises.ch04_feedforward import EXERCISES, GELU_SWAP_OPTIONS, buggy_ffn_backward

FUNCTION_IDS = [f"ch04.{name}" for name, ex in EXERCISES.items() if hasattr(ex, "reference")]


def test_at_least_four_exercises_and_two_beyond_the_chapter():
    assert kinds_are_varied(EXERCISES)


@pytest.mark.parametrize("exercise_id", FUNCTION_IDS)
def test_placeholders_and_crashes_are_reported(exercise_id):
    def todo(*args):
        raise NotImplementedError

    def crash(*args):
        raise IndexError("index 99 is out of bounds")

    assert "not implemented yet" in fails_with(exercise_id, todo)
    assert "raised IndexError: index 99 is out of bounds" in fails_with(exercise_id, crash)


@pytest.mark.parametrize("wrong, idea", [
    (lambda n: 8 * n * n, "also has a bias vector"),
    (lambda n: 8 * n * n + 2 * n, "two outputs differ in width"),
    (lambda n: 2 * n * n + 2 * n, "four times as wide"),
    (lambda n: 8.0 * n * n + 5.0 * n, "expected a int"),  # a float where a count is asked
])
def test_parameter_counts_that_miss_a_part(wrong, idea):
    fails_with("ch04.ffn_num_params", wrong, phrases=(idea,))


def _flat_rows(a):
    return a.reshape(-1, a.shape[-1])


@pytest.mark.parametrize("wrong, phrases", [
    # the bias gradient summed over the batch axis only
    (lambda d, x, w, b: (d @ w.T, _flat_rows(x).T @ _flat_rows(d), d.sum(axis=0)),
     ("a batch [2, 3, 4]", "item 2", "sum its gradient over all leading axes")),
    # w's gradient from the first sequence only
    (lambda d, x, w, b: (d @ w.T, x.reshape(-1, x.shape[-1])[: x.shape[-2]].T @ _flat_rows(d)[: x.shape[-2]],
                         _flat_rows(d).sum(axis=0)),
     ("a batch [2, 3, 4]", "item 1", "values are wrong")),
    # dx with w where w.T belongs: shapes do not fit unless n_in == n_out
    (lambda d, x, w, b: (d @ w, _flat_rows(x).T @ _flat_rows(d), _flat_rows(d).sum(axis=0)),
     ("raised ValueError",)),
])
def test_linear_gradients_with_a_wrong_sum_or_transpose(wrong, phrases):
    fails_with("ch04.linear_grads", wrong, phrases=phrases)


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _tanh_gelu(z):
    return 0.5 * z * (1 + np.tanh(math.sqrt(2 / math.pi) * (z + 0.044715 * z**3)))


@pytest.mark.parametrize("wrong, idea", [
    (lambda x, wg, wu, wd: ((x @ wu) * _sigmoid(x @ wu) * (x @ wg)) @ wd, "Swish goes on the gate"),
    (lambda x, wg, wu, wd: (_sigmoid(x @ wg) * (x @ wu)) @ wd, "the original GLU"),
    (lambda x, wg, wu, wd: (_tanh_gelu(x @ wg) * (x @ wu)) @ wd, "That is GEGLU"),
    (lambda x, wg, wu, wd: ((x @ wg) * _sigmoid(x @ wg)) @ wd, "a second projection of x"),
    (lambda x, wg, wu, wd: np.maximum(x @ wg, 0) * (x @ wu) @ wd, "values are wrong"),
])
def test_swiglu_with_the_wrong_gate(wrong, idea):
    fails_with("ch04.swiglu", wrong, phrases=(idea,))


def test_the_given_buggy_backward_pass_is_recognised():
    fails_with("ch04.fix_ffn_backward", buggy_ffn_backward, phrases=("at which value is GELU's slope taken",))


def test_a_backward_pass_that_forgets_gelu_is_caught():
    from gptlib.ffn import linear, linear_backward

    def no_gelu_slope(d_out, x, c_fc, c_proj):
        hidden = _tanh_gelu(linear(x, **c_fc))
        d_hidden, d_proj = linear_backward(d_out, hidden, **c_proj)
        dx, d_fc = linear_backward(d_hidden, x, **c_fc)  # GELU's slope left out
        return dx, {"c_fc": d_fc, "c_proj": d_proj}

    fails_with("ch04.fix_ffn_backward", no_gelu_slope, phrases=("values are wrong", "which array went into"))


def test_the_prediction_takes_one_of_its_options_and_runs_the_experiment():
    assert "choose one of" in fails_with("ch04.exact_gelu_in_the_model", "it breaks")
    outcomes = [evaluate("ch04.exact_gelu_in_the_model", option) for option in GELU_SWAP_OPTIONS]
    assert sum(result.passed for result in outcomes) == 1  # one option is what happened
    assert all("probability" in result.message for result in outcomes)  # the report line
