"""The self-checking exercises of chapter 2: the chapter's solutions pass (also on freshly generated
inputs), and typical mistakes fail with a message that names the wrong idea."""

import numpy as np
import pytest

from chapter_exercises import (assert_every_mistake_is_named, assert_unfinished_and_crashing_answers_are_reported,
                               assert_wrong_predictions_fail, chapter_solutions)
from gptlib.exercises import Exercise, Explanation, evaluate
from gptlib.exercises.ch02_embeddings import EXERCISES, buggy_embed_backward

FUNCTIONS = {"sinusoidal": "sinusoidal_table", "tied_wte_grad": "tied_wte_grad",
             "fixed_embed_backward": "fixed_embed_backward"}


@pytest.fixture(scope="module")
def chapter():
    return chapter_solutions("02_embeddings.ipynb")


def test_four_exercises_two_of_them_beyond_the_chapter():
    assert len(EXERCISES) >= 4
    beyond = [name for name, e in EXERCISES.items() if e.kind in ("variant", "predict", "debug")]
    assert len(beyond) >= 2
    assert isinstance(EXERCISES["unused_rows"], Explanation)
    assert sorted(FUNCTIONS) == sorted(n for n, e in EXERCISES.items() if isinstance(e, Exercise))


@pytest.mark.parametrize("seed", ["", "grading-1", "grading-2"])
@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_the_chapter_solution_passes_on_fresh_inputs(chapter, name, seed, monkeypatch):
    monkeypatch.setenv("GPTLIB_CHECK_SEED", seed)
    result = evaluate(f"ch02.{name}", chapter[FUNCTIONS[name]])
    assert result.passed, result.message


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_typical_mistakes_fail_and_are_named(name):
    assert EXERCISES[name].mistakes
    assert_every_mistake_is_named(f"ch02.{name}", EXERCISES[name])
    assert_unfinished_and_crashing_answers_are_reported(f"ch02.{name}")


def test_the_given_buggy_code_fails():
    result = evaluate("ch02.fixed_embed_backward", buggy_embed_backward)
    assert not result.passed and "how many times is position t read" in result.message


def test_a_fancy_index_scatter_loses_repeated_tokens():
    def fancy(d_x, ids, d_logits, h, wte):
        grad = d_logits.T @ h
        grad[ids] = grad[ids] + d_x  # the same buffered write, spelled differently
        return grad

    result = evaluate("ch02.tied_wte_grad", fancy)
    assert not result.passed and "np.add.at" in result.message


def test_a_sinusoidal_table_in_float32_is_close_enough_but_a_shifted_one_is_not(chapter):
    as_float32 = lambda n, d: chapter["sinusoidal_table"](n, d).astype(np.float32)  # noqa: E731
    assert evaluate("ch02.sinusoidal", as_float32).passed  # rtol 1e-5: a float32 table is right too
    shifted = lambda n, d: chapter["sinusoidal_table"](n + 1, d)[1:]  # noqa: E731
    result = evaluate("ch02.sinusoidal", shifted)
    assert not result.passed and "The first row is position 0." in result.message


def test_the_prediction_is_checked_by_the_experiment(chapter):
    right = chapter["leak_prediction"]
    assert evaluate("ch02.order_leak", right).passed
    assert_wrong_predictions_fail("ch02.order_leak", EXERCISES["order_leak"], right)


def test_an_explanation_is_graded_by_hand():
    with pytest.raises(TypeError, match="graded by hand"):
        evaluate("ch02.unused_rows", "the rows keep their initial values")
