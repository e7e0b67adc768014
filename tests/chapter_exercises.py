"""The chapters' own answers to their exercises, read from the notebooks (one copy of each), and
the checks every exercise must pass (used by test_exercises_chapters.py and the per-chapter
exercise tests)."""

import ast
from functools import lru_cache
from pathlib import Path

import nbformat

from gptlib.classroom.notebook import CHECK_CALL, is_solution, needed_cells, python_source
from gptlib.exercises import Prediction, evaluate

CHAPTERS = Path(__file__).resolve().parent.parent / "chapters"


def _check_calls(source: str) -> list[tuple[str, list]]:
    """[(exercise id, [answer expressions])] of the check(...) calls in a cell's source."""
    calls = []
    for node in ast.walk(ast.parse(source)):
        if (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "check" and node.args
                and isinstance(node.args[0], ast.Constant)):
            calls.append((node.args[0].value, [ast.unparse(arg) for arg in node.args[1:]]))
    return calls


@lru_cache(maxsize=None)
def _run_chapter(name: str) -> tuple[dict, dict]:
    """Run the cells a chapter's exercises need, in order, not the check calls themselves.

    Returns the namespace they leave (the reader's functions, as the chapter shows them) and
    {exercise id: the answers its check call receives}, read where the notebook calls it (so two
    predictions both named ``prediction`` each get their own value)."""
    notebook = nbformat.read(CHAPTERS / name, as_version=4)
    namespace: dict = {}
    answers = {}
    for index in needed_cells(notebook):
        source = python_source(notebook.cells[index].source)
        if CHECK_CALL.search(source) and not is_solution(notebook.cells[index]):
            for exercise_id, expressions in _check_calls(source):
                answers[exercise_id] = tuple(eval(e, namespace) for e in expressions)
            continue
        exec(compile(source, f"{name} cell {index}", "exec"), namespace)
    return namespace, answers


def chapter_solutions(name: str) -> dict:
    """The namespace the chapter's exercise cells leave: the reader's functions and answers."""
    return _run_chapter(name)[0]


def chapter_answers(name: str) -> dict:
    """{exercise id: the answers the chapter's check call for it receives}."""
    return _run_chapter(name)[1]


def assert_wrong_predictions_fail(exercise_id: str, exercise: Prediction, right: str) -> None:
    for option in exercise.options:
        if option != right:
            result = evaluate(exercise_id, option)
            assert not result.passed and "the experiment disagrees" in result.message, result.message
    result = evaluate(exercise_id, "no idea")
    assert not result.passed and "choose one of" in result.message, result.message


def assert_unfinished_and_crashing_answers_are_reported(exercise_id: str, n_answers: int = 1) -> None:
    """An answer that raises NotImplementedError is "not implemented yet"; one that crashes says
    how. ``n_answers``: how many functions the exercise's check takes."""
    def unfinished(*args, **kwargs):
        raise NotImplementedError()

    def crashing(*args, **kwargs):
        raise IndexError("index 99 is out of bounds")

    result = evaluate(exercise_id, *[unfinished] * n_answers)
    assert not result.passed and "not implemented yet" in result.message, result.message
    result = evaluate(exercise_id, *[crashing] * n_answers)
    assert not result.passed and "raised IndexError: index 99 is out of bounds" in result.message
