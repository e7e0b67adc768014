"""Exercises that check themselves.

A chapter asks the reader to write a function, then calls ``check(exercise_id, their_function)``.
The checker runs it against gptlib's reference on several inputs (edge cases included) and says
what went wrong, for which input: the expected shape, type or value of a small case. It never
prints the reference code.

Exercises live in one module per chapter (``ch01_tokenization.py``, ...), each with a dict
``EXERCISES`` of ``Exercise`` objects; ``check`` finds them by id, "chapter.name".

In the chapter notebooks a solution sits in a code cell tagged ``solution`` between the lines
``# BEGIN SOLUTION`` and ``# END SOLUTION``; the student edition replaces those lines with
``raise NotImplementedError``.

When the environment variable ``GPTLIB_CHECK_LOG`` names a file, ``check`` also appends each
result to it as one JSON line (``{"exercise": ..., "passed": ..., "message": ...}``): the
grader (``python -m gptlib.classroom grade``) reads the scores from there.
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np


@dataclass
class Case:
    """One input to try: positional arguments, and a short description for messages."""

    args: tuple
    description: str
    kwargs: dict = field(default_factory=dict)


@dataclass
class Exercise:
    title: str
    reference: Callable
    cases: list[Case]
    atol: float = 1e-6
    rtol: float = 1e-5
    # compare(expected, got) -> None, or a message saying what is wrong
    compare: Callable[[Any, Any], str | None] | None = None


class ExerciseResult:
    def __init__(self, exercise_id: str, passed: bool, message: str, n_cases: int):
        self.exercise_id, self.passed, self.message, self.n_cases = exercise_id, passed, message, n_cases

    def __bool__(self):
        return self.passed

    def __repr__(self):
        return self.message

    def _ipython_display_(self):
        """Show nothing: ``check`` has already printed the message (and nbval sees one output)."""


def describe(value) -> str:
    """A short description of a value: shape and dtype for arrays, the value for small things."""
    if isinstance(value, np.ndarray) or hasattr(value, "shape") and hasattr(value, "dtype"):
        return f"an array of shape {tuple(value.shape)} and dtype {value.dtype}"
    text = repr(value)
    return text if len(text) <= 80 else f"a {type(value).__name__} of length {len(value)}"


def compare_values(expected, got, atol: float, rtol: float) -> str | None:
    """None when ``got`` matches ``expected``; otherwise what differs."""
    if isinstance(expected, (tuple, list)) and not isinstance(got, type(expected)):
        return f"expected a {type(expected).__name__}, got {describe(got)}"
    if isinstance(expected, np.ndarray) or np.isscalar(expected) and isinstance(expected, float):
        if hasattr(got, "detach"):  # a torch tensor
            got = got.detach().cpu().numpy()
        got_arr = np.asarray(got)
        if got_arr.shape != np.shape(expected):
            return f"expected shape {np.shape(expected)}, got shape {got_arr.shape}"
        if not np.issubdtype(got_arr.dtype, np.number):
            return f"expected numbers, got {describe(got)}"
        if not np.all(np.isfinite(got_arr)) and np.all(np.isfinite(expected)):
            return "the result contains inf or nan"
        bad = ~np.isclose(got_arr, expected, atol=atol, rtol=rtol)
        if bad.any():
            where = tuple(int(i) for i in np.argwhere(bad)[0]) if got_arr.ndim else ()
            return (
                f"{int(bad.sum())} of {bad.size} values are wrong; the first at index {where}: "
                f"expected {np.asarray(expected)[where]:.6g}, got {got_arr[where]:.6g}"
            )
        return None
    if isinstance(expected, (tuple, list)):
        if len(got) != len(expected):
            return f"expected {len(expected)} items, got {len(got)}"
        for i, (e, g) in enumerate(zip(expected, got)):
            problem = compare_values(e, g, atol, rtol)
            if problem:
                return f"item {i}: {problem}"
        return None
    if type(got) is not type(expected) and not (isinstance(expected, int) and isinstance(got, (int, np.integer))):
        return f"expected a {type(expected).__name__}, got {describe(got)}"
    return None if got == expected else f"expected {describe(expected)}, got {describe(got)}"


def find(exercise_id: str) -> Exercise:
    chapter, _, name = exercise_id.partition(".")
    for info in pkgutil.iter_modules(__path__):
        if info.name.split("_")[0] == chapter:
            module = importlib.import_module(f"{__name__}.{info.name}")
            if name in module.EXERCISES:
                return module.EXERCISES[name]
    raise KeyError(f"no exercise {exercise_id!r}; ids look like 'ch03.softmax'")


def _copy(value):
    """Inputs are copied for each call, so a function that changes its input cannot hurt the check."""
    return value.copy() if hasattr(value, "copy") else value


def check(exercise_id: str, function: Callable, *, quiet: bool = False) -> ExerciseResult:
    """Run ``function`` on every case of the exercise and compare it with the reference."""
    exercise = find(exercise_id)
    for case in exercise.cases:
        expected = exercise.reference(*map(_copy, case.args), **case.kwargs)
        try:
            got = function(*map(_copy, case.args), **case.kwargs)
        except NotImplementedError:
            result = ExerciseResult(exercise_id, False, f"✗ {exercise.title}: not implemented yet.", 0)
            break
        except Exception as err:  # the reader's bug: report it, do not crash the notebook
            result = ExerciseResult(
                exercise_id, False,
                f"✗ {exercise.title}: for {case.description}, your function raised "
                f"{type(err).__name__}: {err}", 0,
            )
            break
        compare = exercise.compare or (lambda e, g: compare_values(e, g, exercise.atol, exercise.rtol))
        problem = compare(expected, got)
        if problem:
            result = ExerciseResult(exercise_id, False, f"✗ {exercise.title}: for {case.description}, {problem}.", 0)
            break
    else:
        n = len(exercise.cases)
        result = ExerciseResult(exercise_id, True, f"✓ {exercise.title}: all {n} checks pass.", n)
    _log(result)
    if not quiet:
        print(result.message)
    return result


def _log(result: ExerciseResult) -> None:
    """Append the result to the file named by GPTLIB_CHECK_LOG, when a grader has set it."""
    path = os.environ.get("GPTLIB_CHECK_LOG")
    if path:
        record = {"exercise": result.exercise_id, "passed": bool(result.passed), "message": result.message}
        with open(path, "a", encoding="utf-8") as log:
            log.write(json.dumps(record, ensure_ascii=False) + "\n")
