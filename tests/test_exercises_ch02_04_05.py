"""The self-checking exercises of chapter 2: right answers pass, typical mistakes fail with a
message that says what is wrong. (Chapters 4 and 5: tests/test_exercises_ch04.py and _ch05.py.)"""

import numpy as np
import pytest

from gptlib.exercises import check, find
from gptlib.exercises import ch02_embeddings

ALL_IDS = [f"ch02.{k}" for k in ch02_embeddings.EXERCISES]

# --- the solutions shown in the chapters (written with NumPy, not with gptlib) ----------------


def one_hot(ids, vocab_size):
    out = np.zeros((len(ids), vocab_size))
    out[np.arange(len(ids)), ids] = 1.0
    return out


def embed(ids, wte, wpe):
    return wte[ids] + wpe[: len(ids)]


def embed_backward(d_out, ids, wte, wpe):
    d_wte = np.zeros_like(wte)
    np.add.at(d_wte, ids, d_out)
    d_wpe = np.zeros_like(wpe)
    d_wpe[: len(ids)] = d_out
    return d_wte, d_wpe


SOLUTIONS = {
    "ch02.one_hot": one_hot,
    "ch02.embed": embed,
    "ch02.embed_backward": embed_backward,
}


def test_every_exercise_has_a_solution_and_at_least_three_cases():
    assert sorted(SOLUTIONS) == sorted(ALL_IDS)
    assert len(ALL_IDS) >= 3
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
    # sized by the largest id seen instead of the vocabulary
    "ch02.one_hot": (lambda ids, V: np.eye(ids.max() + 1)[ids], "for a repeated id, expected shape (4, 6), got shape (4, 4)"),
    # forgot the positions
    "ch02.embed": (lambda ids, wte, wpe: wte[ids], "values are wrong"),
    # d_wte[ids] += d_out keeps only the last gradient of a repeated token
    "ch02.embed_backward": (None, "for token 7 three times (its gradients must add up), item 0: 4 of 40 values are wrong; the first at index (7, 0)"),
}


def _fancy_index_embed_backward(d_out, ids, wte, wpe):
    d_wte = np.zeros_like(wte)
    d_wte[ids] += d_out  # buffered: a repeated id is written, not added, several times
    d_wpe = np.zeros_like(wpe)
    d_wpe[: len(ids)] = d_out
    return d_wte, d_wpe


MISTAKES["ch02.embed_backward"] = (_fancy_index_embed_backward, MISTAKES["ch02.embed_backward"][1])


@pytest.mark.parametrize("exercise_id", sorted(MISTAKES))
def test_typical_mistakes_fail_with_a_specific_message(exercise_id):
    wrong, message = MISTAKES[exercise_id]
    with np.errstate(all="ignore"):
        result = check(exercise_id, wrong, quiet=True)
    assert not result.passed
    assert message in result.message, result.message
    assert result.message.startswith("✗ " + find(exercise_id).title)


def test_returning_a_list_instead_of_a_tuple_is_explained():
    result = check("ch02.embed_backward", lambda *a: list(embed_backward(*a)), quiet=True)
    assert not result.passed and "expected a tuple" in result.message
