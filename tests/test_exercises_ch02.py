"""Chapter 2's exercises, the tests particular to one of them (the tests every exercise gets are
in test_exercises_ch02_03.py)."""

import numpy as np
import pytest

from chapter_exercises import chapter_solutions
from gptlib.exercises import evaluate
from gptlib.exercises.ch02_embeddings import buggy_embed_backward


@pytest.fixture(scope="module")
def chapter():
    return chapter_solutions("02_embeddings.ipynb")


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


def test_a_float32_table_passes_and_a_shifted_one_does_not(chapter):
    as_float32 = lambda n, d: chapter["sinusoidal_table"](n, d).astype(np.float32)  # noqa: E731
    assert evaluate("ch02.sinusoidal", as_float32).passed  # rtol 1e-5: a float32 table is right too
    shifted = lambda n, d: chapter["sinusoidal_table"](n + 1, d)[1:]  # noqa: E731
    result = evaluate("ch02.sinusoidal", shifted)
    assert not result.passed and "The first row is position 0." in result.message


def test_an_explanation_is_graded_by_hand():
    with pytest.raises(TypeError, match="graded by hand"):
        evaluate("ch02.unused_rows", "the rows keep their initial values")
