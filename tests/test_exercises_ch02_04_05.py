"""The self-checking exercises of chapters 4 and 5 (chapter 2's are in test_exercises_ch02.py):
right answers pass, typical mistakes fail with a message that says what is wrong."""

import math

import numpy as np
import pytest

from gptlib.exercises import check, find
from gptlib.exercises import ch04_feedforward, ch05_layernorm

ALL_IDS = (
    [f"ch04.{k}" for k in ch04_feedforward.EXERCISES]
    + [f"ch05.{k}" for k in ch05_layernorm.EXERCISES]
)

# --- the solutions shown in the chapters (written with NumPy, not with gptlib) ----------------


def ffn_num_params(n_embd):
    return (n_embd * 4 * n_embd + 4 * n_embd) + (4 * n_embd * n_embd + n_embd)


def gelu(x):
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


def gelu_backward(d_out, x):
    t = np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))
    return d_out * (0.5 * (1 + t) + 0.5 * x * (1 - t**2) * math.sqrt(2 / math.pi) * (1 + 3 * 0.044715 * x**2))


def linear_backward(d_out, x, w, b):
    dx = d_out @ w.T
    dw = x.reshape(-1, x.shape[-1]).T @ d_out.reshape(-1, d_out.shape[-1])
    db = d_out.reshape(-1, d_out.shape[-1]).sum(axis=0)
    return dx, dw, db


def normalize(x, eps=1e-5):
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps)


def layer_norm(x, g, b, eps=1e-5):
    return g * normalize(x, eps) + b


def layer_norm_backward(d_out, x, g, b, eps=1e-5):
    n = x.shape[-1]
    x_hat = normalize(x, eps)
    inv_std = 1 / np.sqrt(x.var(axis=-1, keepdims=True) + eps)
    d_hat = d_out * g
    dx = inv_std / n * (n * d_hat - d_hat.sum(-1, keepdims=True) - x_hat * (d_hat * x_hat).sum(-1, keepdims=True))
    return dx, (d_out * x_hat).reshape(-1, n).sum(0), d_out.reshape(-1, n).sum(0)


SOLUTIONS = {
    "ch04.ffn_num_params": ffn_num_params,
    "ch04.gelu": gelu,
    "ch04.gelu_backward": gelu_backward,
    "ch04.linear_backward": linear_backward,
    "ch05.normalize": normalize,
    "ch05.layer_norm": layer_norm,
    "ch05.layer_norm_backward": layer_norm_backward,
}


def test_every_exercise_has_a_solution_and_at_least_three_cases():
    assert sorted(SOLUTIONS) == sorted(ALL_IDS)
    for chapter in ("ch04", "ch05"):
        assert sum(i.startswith(chapter) for i in ALL_IDS) >= 3
    for exercise_id in ALL_IDS:
        assert len(find(exercise_id).cases) >= 3


@pytest.mark.parametrize("exercise_id", ALL_IDS)
def test_the_chapter_solution_passes(exercise_id, capsys):
    result = check(exercise_id, SOLUTIONS[exercise_id])
    assert result.passed, result.message
    assert "all" in capsys.readouterr().out


@pytest.mark.parametrize("exercise_id", ALL_IDS)
def test_not_implemented_and_crashing_functions_fail(exercise_id):
    def todo(*args):
        raise NotImplementedError

    def crash(*args):
        raise IndexError("index 99 is out of bounds")

    result = check(exercise_id, todo, quiet=True)
    assert not result.passed and "not implemented yet" in result.message
    result = check(exercise_id, crash, quiet=True)
    assert not result.passed and "raised IndexError: index 99 is out of bounds" in result.message


# --- typical mistakes, each caught with a specific message ------------------------------------

MISTAKES = {
    # forgot the biases
    "ch04.ffn_num_params": (lambda n: 8 * n * n, "got 8, which is too small"),
    # ReLU instead of GELU
    "ch04.gelu": (lambda x: np.maximum(x, 0.0), "for points from -6 to 6, 6 of 9 values are wrong"),
    # dropped the product rule's second term
    "ch04.gelu_backward": (
        lambda d, x: d * 0.5 * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))),
        "for d_out = 1 at points from -6 to 6",
    ),
    # dw only from the first sequence of the batch
    "ch04.linear_backward": (
        lambda d, x, w, b: (d @ w.T, x.reshape(-1, x.shape[-1])[: x.shape[-2]].T @ d.reshape(-1, d.shape[-1])[: x.shape[-2]], d.reshape(-1, d.shape[-1]).sum(0)),
        "for a batch [2, 3, 4] (dw and db sum over batch and positions), item 1",
    ),
    # no eps: a constant row divides 0 by 0
    "ch05.normalize": (
        lambda x: (x - x.mean(-1, keepdims=True)) / x.std(-1, keepdims=True),
        "for constant rows (the variance is 0), the result contains inf or nan",
    ),
    # normalised over the wrong axis
    "ch05.layer_norm": (
        lambda x, g, b: g * (x - x.mean(0, keepdims=True)) / np.sqrt(x.var(0, keepdims=True) + 1e-5) + b,
        "for four positions, 24 of 24 values are wrong",
    ),
    # treated mean and variance as constants: dx = d_out * g * inv_std
    "ch05.layer_norm_backward": (
        lambda d, x, g, b: (
            d * g / np.sqrt(x.var(-1, keepdims=True) + 1e-5),
            layer_norm_backward(d, x, g, b)[1],
            layer_norm_backward(d, x, g, b)[2],
        ),
        "for one position, g = 1, b = 0, item 0: 6 of 6 values are wrong",
    ),
}


@pytest.mark.parametrize("exercise_id", sorted(MISTAKES))
def test_typical_mistakes_fail_with_a_specific_message(exercise_id):
    wrong, message = MISTAKES[exercise_id]
    with np.errstate(all="ignore"):
        result = check(exercise_id, wrong, quiet=True)
    assert not result.passed
    assert message in result.message, result.message
    assert result.message.startswith("✗ " + find(exercise_id).title)
