"""Helpers for the exercise tests of a chapter: the chapter's own solutions (read from the notebook,
so that there is one copy of each) and the checks every exercise must pass."""

from pathlib import Path

import nbformat
import numpy as np

from gptlib.classroom.notebook import CHECK_CALL, is_solution, needed_cells, python_source
from gptlib.exercises import Exercise, Prediction, evaluate

CHAPTERS = Path(__file__).resolve().parent.parent / "chapters"


def chapter_solutions(name: str) -> dict:
    """Run the cells a chapter's exercises need (imports, the solutions; not the check calls) and
    return the namespace they leave: the reader's functions and predictions, as the chapter shows them."""
    notebook = nbformat.read(CHAPTERS / name, as_version=4)
    namespace: dict = {}
    for index in needed_cells(notebook):
        cell = notebook.cells[index]
        if CHECK_CALL.search(cell.source) and not is_solution(cell):
            continue
        exec(compile(python_source(cell.source), f"{name} cell {index}", "exec"), namespace)
    return namespace


def assert_every_mistake_is_named(exercise_id: str, exercise: Exercise) -> None:
    """Each declared typical mistake, given as the answer, fails and the message names its idea."""
    for mistake in exercise.mistakes:
        with np.errstate(all="ignore"):
            result = evaluate(exercise_id, mistake.function)
        assert not result.passed, f"{exercise_id}: the mistake {mistake.idea!r} passes the check"
        assert mistake.idea in result.message, (exercise_id, mistake.idea, result.message)


def assert_wrong_predictions_fail(exercise_id: str, exercise: Prediction, right: str) -> None:
    for option in exercise.options:
        if option != right:
            result = evaluate(exercise_id, option)
            assert not result.passed and "the experiment disagrees" in result.message, result.message
    result = evaluate(exercise_id, "no idea")
    assert not result.passed and "choose one of" in result.message, result.message


def assert_unfinished_and_crashing_answers_are_reported(exercise_id: str) -> None:
    def unfinished(*args):
        raise NotImplementedError()

    def crashing(*args):
        raise IndexError("index 99 is out of bounds")

    result = evaluate(exercise_id, unfinished)
    assert not result.passed and "not implemented yet" in result.message, result.message
    result = evaluate(exercise_id, crashing)
    assert not result.passed and "raised IndexError: index 99 is out of bounds" in result.message
