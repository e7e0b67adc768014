"""Chapters 0 and 1: each function exercise's solution, read from the notebook (one copy), passes
also on the freshly generated inputs a grader draws (GPTLIB_CHECK_SEED); at least four exercises
per chapter, two of them beyond the chapter."""

import pytest

from chapter_exercises import assert_unfinished_and_crashing_answers_are_reported, chapter_solutions
from gptlib.exercises import evaluate
from gptlib.exercises import ch00_first_look, ch01_tokenization

# chapter -> (notebook, exercises, {exercise name: the reader's function in the notebook})
CHAPTERS = {
    "ch00": ("00_first_look.ipynb", ch00_first_look.EXERCISES,
             {"top_next_tokens": "top_next_tokens", "greedy": "greedy_continue",
              "fix_next_token": "fixed_next_token"}),
    "ch01": ("01_tokenization.ipynb", ch01_tokenization.EXERCISES,
             {"count_pairs": "my_count_pairs", "merge": "my_merge", "encode_word": "my_encode_word",
              "train": "my_train", "stream_decode": "stream_decode", "fix_encode": "fixed_encode"}),
}
FUNCTIONS = [(chapter, name) for chapter, (_, _, answers) in CHAPTERS.items() for name in answers]


@pytest.fixture(scope="module")
def solutions():
    return {chapter: chapter_solutions(notebook) for chapter, (notebook, _, _) in CHAPTERS.items()}


@pytest.mark.parametrize("chapter", sorted(CHAPTERS))
def test_four_exercises_two_of_them_beyond_the_chapter(chapter):
    exercises = CHAPTERS[chapter][1]
    assert len(exercises) >= 4
    assert sum(e.kind in ("variant", "predict", "debug") for e in exercises.values()) >= 2


@pytest.mark.parametrize("seed", ["grading-1", "grading-2"])
@pytest.mark.parametrize("chapter, name", FUNCTIONS)
def test_the_chapter_solution_passes_on_fresh_inputs(solutions, chapter, name, seed, monkeypatch):
    monkeypatch.setenv("GPTLIB_CHECK_SEED", seed)
    result = evaluate(f"{chapter}.{name}", solutions[chapter][CHAPTERS[chapter][2][name]])
    assert result.passed, result.message


@pytest.mark.parametrize("chapter, name", FUNCTIONS)
def test_unfinished_and_crashing_answers_are_reported(chapter, name):
    assert_unfinished_and_crashing_answers_are_reported(f"{chapter}.{name}")
