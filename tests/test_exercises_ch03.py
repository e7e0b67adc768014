"""The self-checking exercises of chapter 3: the chapter's solutions pass, typical mistakes fail
with a message that says what is wrong."""

import math

import numpy as np
import pytest

from gptlib.exercises import check, find
from gptlib.exercises import ch03_attention

ALL_IDS = [f"ch03.{k}" for k in ch03_attention.EXERCISES]

# --- the solutions shown in the chapter (NumPy only, not gptlib) ----------------------------


def softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def causal_attention(q, k, v):
    n_seq, d_k = q.shape
    scores = q @ k.T / math.sqrt(d_k)
    scores = np.where(np.tril(np.ones((n_seq, n_seq), dtype=bool)), scores, -np.inf)
    return softmax(scores) @ v


def split_heads(x, n_head):
    n_seq, n_embd = x.shape
    return x.reshape(n_seq, n_head, n_embd // n_head).transpose(1, 0, 2)


def softmax_backward(d_out, probs):
    return probs * (d_out - (d_out * probs).sum(axis=-1, keepdims=True))


SOLUTIONS = {
    "ch03.softmax": softmax,
    "ch03.causal_attention": causal_attention,
    "ch03.split_heads": split_heads,
    "ch03.softmax_backward": softmax_backward,
}


def test_every_exercise_has_a_tested_solution():
    assert sorted(SOLUTIONS) == sorted(ALL_IDS) and len(ALL_IDS) >= 3


@pytest.mark.parametrize("exercise_id", ALL_IDS)
def test_the_chapter_solution_passes(exercise_id, capsys):
    result = check(exercise_id, SOLUTIONS[exercise_id])
    assert result.passed, result.message
    assert f"all {len(find(exercise_id).cases)} checks pass" in capsys.readouterr().out


# --- typical mistakes, each caught with a message naming the problem ------------------------


def naive_softmax(x):  # overflows for logits of 1e4
    e = np.exp(x)
    return e / e.sum(axis=-1, keepdims=True)


def softmax_over_wrong_axis(x):
    e = np.exp(x - x.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


def attention_without_scaling(q, k, v):
    n_seq = q.shape[0]
    scores = np.where(np.tril(np.ones((n_seq, n_seq), dtype=bool)), q @ k.T, -np.inf)
    return softmax(scores) @ v


def attention_without_mask(q, k, v):
    return softmax(q @ k.T / math.sqrt(q.shape[1])) @ v


def attention_masking_with_zero(q, k, v):  # a score of 0 is not "no weight": exp(0) = 1
    n_seq = q.shape[0]
    scores = np.tril(q @ k.T / math.sqrt(q.shape[1]))
    return softmax(scores) @ v


def attention_weights_only(q, k, v):  # forgets to average the values
    n_seq = q.shape[0]
    scores = np.where(np.tril(np.ones((n_seq, n_seq), dtype=bool)), q @ k.T / math.sqrt(q.shape[1]), -np.inf)
    return softmax(scores)


def split_heads_plain_reshape(x, n_head):  # right shape, channels scrambled across heads
    n_seq, n_embd = x.shape
    return x.reshape(n_head, n_seq, n_embd // n_head)


def split_heads_no_transpose(x, n_head):
    n_seq, n_embd = x.shape
    return x.reshape(n_seq, n_head, n_embd // n_head)


def softmax_backward_diagonal_only(d_out, probs):  # forgets the off-diagonal Jacobian terms
    return d_out * probs * (1 - probs)


def not_done(*args):
    raise NotImplementedError


@pytest.mark.parametrize(
    "exercise_id, wrong, expected_message",
    [
        ("ch03.softmax", naive_softmax, "logits of +-1e4 (the naive formula overflows), the result contains inf or nan"),
        ("ch03.softmax", softmax_over_wrong_axis, "for a [4, 6] matrix (softmax over each row),"),
        ("ch03.softmax", lambda x: x, "values are wrong"),
        ("ch03.causal_attention", attention_without_scaling, "for 5 tokens, d_k = d_v = 8,"),
        ("ch03.causal_attention", attention_without_mask, "for 5 tokens, d_k = d_v = 8,"),
        ("ch03.causal_attention", attention_masking_with_zero, "values are wrong"),
        ("ch03.causal_attention", attention_weights_only, "for a sequence of one token (it can only read itself), expected shape (1, 4), got shape (1, 1)"),
        ("ch03.split_heads", split_heads_plain_reshape, "for x = arange(12).reshape(3, 4), n_head = 2,"),
        ("ch03.split_heads", split_heads_no_transpose, "expected shape (2, 3, 2), got shape (3, 2, 2)"),
        ("ch03.softmax_backward", softmax_backward_diagonal_only, "values are wrong"),
        ("ch03.softmax_backward", lambda d, p: d, "values are wrong"),
    ],
)
def test_typical_mistakes_fail_with_a_clear_message(exercise_id, wrong, expected_message):
    with np.errstate(over="ignore", invalid="ignore"):
        result = check(exercise_id, wrong, quiet=True)
    assert not result.passed
    assert expected_message in result.message, result.message


def test_a_raising_or_unfinished_solution_is_reported_not_crashed():
    result = check("ch03.causal_attention", lambda q, k, v: q @ k, quiet=True)
    assert not result.passed and "raised ValueError" in result.message and "a sequence of one token" in result.message
    result = check("ch03.split_heads", not_done, quiet=True)
    assert not result.passed and "not implemented yet" in result.message
