"""Chapter 3's exercises, the tests particular to one of them (the tests every exercise gets are
in test_exercises_ch02_03.py)."""

import math

import numpy as np
import pytest

from chapter_exercises import chapter_solutions
from gptlib.attention import softmax
from gptlib.exercises import evaluate
from gptlib.exercises.ch03_attention import buggy_attention


@pytest.fixture(scope="module")
def chapter():
    return chapter_solutions("03_attention.ipynb")


def test_the_given_buggy_attention_fails():
    result = evaluate("ch03.fixed_attention", buggy_attention)
    assert not result.passed and "does a masked key really get no weight" in result.message


def test_masking_with_a_large_negative_number_is_accepted():
    # OpenAI's GPT-2 code masks with -1e10 rather than -inf: the weights are the same.
    def with_minus_1e10(q, k, v):
        scores = q @ k.T / math.sqrt(q.shape[1])
        allowed = np.tril(np.ones(scores.shape, dtype=bool))
        return softmax(np.where(allowed, scores, -1e10)) @ v

    assert evaluate("ch03.fixed_attention", with_minus_1e10).passed


def test_heads_in_the_wrong_shape_are_reported(chapter):
    def transposed(x, c_attn, c_proj, n_head):
        return chapter["heads_by_loop"](x, c_attn, c_proj, n_head).T

    result = evaluate("ch03.heads_by_loop", transposed)
    assert not result.passed and "shape" in result.message
