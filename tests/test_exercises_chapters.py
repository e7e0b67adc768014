"""What every exercise of every chapter must do: the chapter's own answer (read from the notebook)
passes, also on the freshly generated inputs a grader draws (GPTLIB_CHECK_SEED); unfinished and
crashing answers are reported; a wrong prediction is refused by its experiment. The typical
mistakes of each exercise, and tests particular to one exercise, are in test_exercises_chNN.py;
the count of exercises per chapter is in test_classroom.py."""

import nbformat
import pytest

from chapter_exercises import (CHAPTERS,
                               assert_unfinished_and_crashing_answers_are_reported,
                               assert_wrong_predictions_fail, chapter_answers)
from gptlib.classroom.lint import exercises_in
from gptlib.exercises import Exercise, Prediction, evaluate


def _checked() -> list:
    """(notebook, exercise id, declaration) of every exercise a chapter checks automatically."""
    found = []
    for path in sorted(CHAPTERS.glob("*.ipynb")):
        for exercise_id, exercise in exercises_in(nbformat.read(path, as_version=4)).items():
            if isinstance(exercise, (Exercise, Prediction)):
                found.append(pytest.param(path.name, exercise_id, exercise, id=exercise_id))
    return found


CHECKED = _checked()
FUNCTIONS = [p for p in CHECKED if isinstance(p.values[2], Exercise)]
PREDICTIONS = [p for p in CHECKED if isinstance(p.values[2], Prediction)]


@pytest.mark.parametrize("seed", ["", "grading-1", "grading-2"])
@pytest.mark.parametrize("notebook, exercise_id, exercise", FUNCTIONS)
def test_the_chapter_answer_passes_on_fresh_inputs(notebook, exercise_id, exercise, seed, monkeypatch):
    monkeypatch.setenv("GPTLIB_CHECK_SEED", seed)
    result = evaluate(exercise_id, *chapter_answers(notebook)[exercise_id])
    assert result.passed, result.message


@pytest.mark.parametrize("notebook, exercise_id, exercise", FUNCTIONS)
def test_unfinished_and_crashing_answers_are_reported(notebook, exercise_id, exercise):
    n_answers = len(chapter_answers(notebook)[exercise_id])
    assert_unfinished_and_crashing_answers_are_reported(exercise_id, n_answers)


@pytest.mark.parametrize("notebook, exercise_id, exercise", PREDICTIONS)
def test_the_prediction_is_settled_by_its_experiment(notebook, exercise_id, exercise):
    (right,) = chapter_answers(notebook)[exercise_id]
    assert evaluate(exercise_id, right).passed
    assert_wrong_predictions_fail(exercise_id, exercise, right)
