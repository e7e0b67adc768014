"""The self-checking exercises of chapter 3: the chapter's solutions pass (also on freshly generated
inputs), and typical mistakes fail with a message that names the wrong idea."""

import math

import numpy as np
import pytest

from chapter_exercises import (assert_every_mistake_is_named, assert_unfinished_and_crashing_answers_are_reported,
                               assert_wrong_predictions_fail, chapter_solutions)
from gptlib.attention import softmax
from gptlib.exercises import Exercise, evaluate
from gptlib.exercises.ch03_attention import EXERCISES, buggy_attention

FUNCTIONS = {"heads_by_loop": "heads_by_loop", "grouped_query": "grouped_query_attention",
             "fixed_attention": "fixed_attention"}


@pytest.fixture(scope="module")
def chapter():
    return chapter_solutions("03_attention.ipynb")


def test_four_exercises_two_of_them_beyond_the_chapter():
    assert len(EXERCISES) >= 4
    beyond = [name for name, e in EXERCISES.items() if e.kind in ("variant", "predict", "debug")]
    assert len(beyond) >= 2
    assert sorted(FUNCTIONS) == sorted(n for n, e in EXERCISES.items() if isinstance(e, Exercise))


@pytest.mark.parametrize("seed", ["", "grading-1", "grading-2"])
@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_the_chapter_solution_passes_on_fresh_inputs(chapter, name, seed, monkeypatch):
    monkeypatch.setenv("GPTLIB_CHECK_SEED", seed)
    result = evaluate(f"ch03.{name}", chapter[FUNCTIONS[name]])
    assert result.passed, result.message


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_typical_mistakes_fail_and_are_named(name):
    assert EXERCISES[name].mistakes
    assert_every_mistake_is_named(f"ch03.{name}", EXERCISES[name])
    assert_unfinished_and_crashing_answers_are_reported(f"ch03.{name}")


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


def test_the_prediction_is_checked_by_the_experiment(chapter):
    right = chapter["scale_prediction"]
    assert evaluate("ch03.scale_at_init", right).passed
    assert_wrong_predictions_fail("ch03.scale_at_init", EXERCISES["scale_at_init"], right)
