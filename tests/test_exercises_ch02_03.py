"""What every exercise of chapters 2 and 3 must do: the chapter's own solution (read from the
notebook) passes, also on freshly generated inputs; each declared typical mistake fails with its
message; unfinished and crashing answers are reported; a prediction is checked by its experiment.
The tests particular to one exercise are in test_exercises_ch02.py and test_exercises_ch03.py."""

import pytest

from chapter_exercises import (assert_every_mistake_is_named, assert_unfinished_and_crashing_answers_are_reported,
                               assert_wrong_predictions_fail, chapter_solutions)
from gptlib.exercises import Exercise, Prediction, evaluate
from gptlib.exercises import ch02_embeddings, ch03_attention

# chapter -> (notebook, exercises, {exercise name: the name of the reader's answer in the notebook})
CHAPTERS = {
    "ch02": ("02_embeddings.ipynb", ch02_embeddings.EXERCISES,
             {"sinusoidal": "sinusoidal_table", "tied_wte_grad": "tied_wte_grad",
              "fixed_embed_backward": "fixed_embed_backward", "order_leak": "leak_prediction"}),
    "ch03": ("03_attention.ipynb", ch03_attention.EXERCISES,
             {"heads_by_loop": "heads_by_loop", "grouped_query": "grouped_query_attention",
              "fixed_attention": "fixed_attention", "scale_at_init": "scale_prediction"}),
}
CHECKED = [(chapter, name) for chapter, (_, _, answers) in CHAPTERS.items() for name in answers]
FUNCTIONS = [(c, n) for c, n in CHECKED if isinstance(CHAPTERS[c][1][n], Exercise)]
PREDICTIONS = [(c, n) for c, n in CHECKED if isinstance(CHAPTERS[c][1][n], Prediction)]


@pytest.fixture(scope="module")
def solutions():
    return {chapter: chapter_solutions(notebook) for chapter, (notebook, _, _) in CHAPTERS.items()}


@pytest.mark.parametrize("chapter", sorted(CHAPTERS))
def test_four_exercises_two_of_them_beyond_the_chapter(chapter):
    _, exercises, answers = CHAPTERS[chapter]
    assert len(exercises) >= 4
    assert sum(e.kind in ("variant", "predict", "debug") for e in exercises.values()) >= 2
    # every exercise with a check is tested here (explanations are graded by hand)
    assert sorted(answers) == sorted(n for n, e in exercises.items() if isinstance(e, (Exercise, Prediction)))


@pytest.mark.parametrize("seed", ["", "grading-1", "grading-2"])
@pytest.mark.parametrize("chapter, name", FUNCTIONS)
def test_the_chapter_solution_passes_on_fresh_inputs(solutions, chapter, name, seed, monkeypatch):
    monkeypatch.setenv("GPTLIB_CHECK_SEED", seed)
    result = evaluate(f"{chapter}.{name}", solutions[chapter][CHAPTERS[chapter][2][name]])
    assert result.passed, result.message


@pytest.mark.parametrize("chapter, name", FUNCTIONS)
def test_typical_mistakes_fail_and_are_named(chapter, name):
    exercise = CHAPTERS[chapter][1][name]
    assert exercise.mistakes
    assert_every_mistake_is_named(f"{chapter}.{name}", exercise)
    assert_unfinished_and_crashing_answers_are_reported(f"{chapter}.{name}")


@pytest.mark.parametrize("chapter, name", PREDICTIONS)
def test_the_prediction_is_checked_by_the_experiment(solutions, chapter, name):
    right = solutions[chapter][CHAPTERS[chapter][2][name]]
    assert evaluate(f"{chapter}.{name}", right).passed
    assert_wrong_predictions_fail(f"{chapter}.{name}", CHAPTERS[chapter][1][name], right)
