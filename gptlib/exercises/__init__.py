"""Exercises that check themselves.

A chapter asks the reader for an answer (usually a function), then calls
``check(exercise_id, answer)``. The checker tries the answer on fixed edge cases and on inputs
generated from a seed, compares it with a reference (torch, transformers, tiktoken or gptlib's
tested function), and prints one line. When the answer is wrong it raises ``ExerciseFailed``
with a message that names the input and the idea that went wrong, never the expected values or
the reference's code.

Exercises live in one module per chapter (``ch01_tokenization.py``, ...), each with a dict
``EXERCISES`` of ``Exercise``, ``Prediction`` or ``Explanation`` objects; ids are
"chapter.name". The cell format in the notebooks is described in book/teachers.md.

The seed of the generated inputs is fixed per exercise, so a chapter prints the same line every
time; a grader sets ``GPTLIB_CHECK_SEED`` so that each grading run meets fresh inputs.
When ``GPTLIB_CHECK_LOG`` names a file, ``check`` appends each result to it as one JSON line
(``{"exercise", "passed", "message"}``): that is how ``python -m gptlib.classroom grade``
collects the scores.
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import zlib
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

KINDS = ("derive", "variant", "predict", "debug", "explain")
SEED_VARIABLE = "GPTLIB_CHECK_SEED"
LOG_VARIABLE = "GPTLIB_CHECK_LOG"


@dataclass
class Case:
    """One input to try: positional arguments, and a short description for messages."""

    args: tuple
    description: str
    kwargs: dict = field(default_factory=dict)


@dataclass
class Mistake:
    """A typical wrong idea: when the reader's result equals ``function``'s, the message says ``idea``."""

    function: Callable
    idea: str


@dataclass
class Exercise:
    """An answer that is a function (or several: see ``adapter``), compared with ``reference``."""

    title: str
    reference: Callable
    cases: list[Case] = field(default_factory=list)
    atol: float = 1e-6
    rtol: float = 1e-5
    # compare(expected, got) -> None, or a message saying what is wrong
    compare: Callable[[Any, Any], str | None] | None = None
    kind: str = "derive"
    difficulty: int = 1
    points: int | None = None  # default: the difficulty
    # generate(rng) -> list of Cases, called n_generated times with a seeded Generator
    generate: Callable[[np.random.Generator], list[Case]] | None = None
    n_generated: int = 0
    mistakes: Sequence[Mistake] = ()
    idea: str | None = None  # said when a case fails and no mistake matches
    # answers -> the one function the cases call, e.g. lambda fwd, bwd: lambda *a: (fwd(...), bwd(...))
    adapter: Callable[..., Callable] | None = None
    same_contract_as: str | None = None  # "gptlib.ffn.gelu": the reader may reuse that name


@dataclass
class Prediction:
    """The reader predicts one of ``options``; ``experiment()`` returns (what happened, a report line)."""

    title: str
    options: Sequence[str]
    experiment: Callable[[], tuple[str, str]]
    difficulty: int = 1
    points: int | None = None
    kind: str = "predict"


@dataclass
class Explanation:
    """A written answer, graded by hand (nbgrader's manually graded answer cell)."""

    title: str
    difficulty: int = 1
    points: int | None = None
    kind: str = "explain"


class ExerciseFailed(AssertionError):
    """A check that did not pass: the cell fails, so nbgrader's autograde scores it 0."""


class ExerciseResult:
    def __init__(self, exercise_id: str, passed: bool, message: str, n_cases: int):
        self.exercise_id, self.passed, self.message, self.n_cases = exercise_id, passed, message, n_cases

    def __bool__(self):
        return self.passed

    def __repr__(self):
        return self.message

    def _ipython_display_(self):
        """Show nothing: ``check`` has already printed the message (and nbval sees one output)."""


def points_of(exercise) -> int:
    return exercise.points if exercise.points is not None else exercise.difficulty


# --- comparing values ------------------------------------------------------------------------------


def describe(value) -> str:
    """A short description of a value: shape and dtype for arrays, the value for small things."""
    if isinstance(value, np.ndarray) or hasattr(value, "shape") and hasattr(value, "dtype"):
        return f"an array of shape {tuple(value.shape)} and dtype {value.dtype}"
    text = repr(value)
    return text if len(text) <= 80 else f"a {type(value).__name__} of length {len(value)}"


def _compare_arrays(expected, got, atol: float, rtol: float) -> str | None:
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
        # the reader's value, never the expected one: the message must not give the answer away
        where = tuple(int(i) for i in np.argwhere(bad)[0]) if got_arr.ndim else ()
        return (f"{int(bad.sum())} of {bad.size} values are wrong; the first at index {where}, "
                f"where yours is {got_arr[where]:.6g}")
    return None


def compare_values(expected, got, atol: float, rtol: float) -> str | None:
    """None when ``got`` matches ``expected``; otherwise what differs (without the expected values)."""
    if isinstance(expected, (tuple, list)) and not isinstance(got, type(expected)):
        return f"expected a {type(expected).__name__}, got {describe(got)}"
    if isinstance(expected, np.ndarray) or np.isscalar(expected) and isinstance(expected, float):
        return _compare_arrays(expected, got, atol, rtol)
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
    if got == expected:
        return None
    if isinstance(expected, int) and not isinstance(expected, bool):
        return f"got {got}, which is too {'large' if got > expected else 'small'}"
    return f"got {describe(got)}, which is not right"


# --- finding and running exercises -------------------------------------------------------------------


def find(exercise_id: str):
    """The Exercise, Prediction or Explanation with this id ("ch03.softmax")."""
    chapter, _, name = exercise_id.partition(".")
    for info in pkgutil.iter_modules(__path__):
        if info.name.split("_")[0] == chapter:
            module = importlib.import_module(f"{__name__}.{info.name}")
            if name in module.EXERCISES:
                return module.EXERCISES[name]
    raise KeyError(f"no exercise {exercise_id!r}; ids look like 'ch03.softmax'")


def all_exercises() -> dict[str, object]:
    """Every declared exercise, by id, in chapter order."""
    found = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name.startswith("ch"):
            module = importlib.import_module(f"{__name__}.{info.name}")
            chapter = info.name.split("_")[0]
            found.update({f"{chapter}.{name}": ex for name, ex in module.EXERCISES.items()})
    return found


def seed_for(exercise_id: str) -> int:
    """Fixed per exercise (stable notebook output), changed by GPTLIB_CHECK_SEED (a grading run)."""
    extra = os.environ.get(SEED_VARIABLE, "")
    return zlib.crc32(f"{exercise_id}:{extra}".encode())


def cases_of(exercise_id: str, exercise: Exercise) -> list[Case]:
    """The fixed cases, then ``n_generated`` rounds of generated ones."""
    cases = list(exercise.cases)
    if exercise.generate is not None:
        rng = np.random.default_rng(seed_for(exercise_id))
        for _ in range(exercise.n_generated):
            cases.extend(exercise.generate(rng))
    return cases


def _copy(value):
    """Inputs are copied for each call, so a function that changes its input cannot hurt the check."""
    return value.copy() if hasattr(value, "copy") else value


def _call(function, case: Case):
    return function(*map(_copy, case.args), **{k: _copy(v) for k, v in case.kwargs.items()})


def _idea(exercise: Exercise, case: Case, got, compare) -> str:
    """The idea of the first declared mistake whose result equals the reader's, else the general idea."""
    for mistake in exercise.mistakes:
        try:
            with np.errstate(all="ignore"):
                if compare(_call(mistake.function, case), got) is None:
                    return " " + mistake.idea
        except Exception:  # a mistake that does not apply to this input
            continue
    return f" {exercise.idea}" if exercise.idea else ""


def _evaluate_function(exercise_id: str, exercise: Exercise, answers) -> ExerciseResult:
    function = exercise.adapter(*answers) if exercise.adapter else answers[0]
    compare = exercise.compare or (lambda e, g: compare_values(e, g, exercise.atol, exercise.rtol))
    cases = cases_of(exercise_id, exercise)
    for case in cases:
        expected = _call(exercise.reference, case)
        try:
            got = _call(function, case)
        except NotImplementedError:
            return ExerciseResult(exercise_id, False, f"✗ {exercise.title}: not implemented yet.", 0)
        except Exception as err:  # the reader's bug: report it, do not crash the notebook
            message = f"for {case.description}, your function raised {type(err).__name__}: {err}"
            return ExerciseResult(exercise_id, False, f"✗ {exercise.title}: {message}", 0)
        problem = compare(expected, got)
        if problem:
            idea = _idea(exercise, case, got, compare)
            message = f"✗ {exercise.title}: for {case.description}, {problem}.{idea}"
            return ExerciseResult(exercise_id, False, message, 0)
    return ExerciseResult(exercise_id, True, f"✓ {exercise.title}: all {len(cases)} checks pass.", len(cases))


def _evaluate_prediction(exercise_id: str, exercise: Prediction, answer) -> ExerciseResult:
    if answer not in exercise.options:
        choices = ", ".join(repr(option) for option in exercise.options)
        return ExerciseResult(exercise_id, False, f"✗ {exercise.title}: choose one of {choices}.", 0)
    happened, report = exercise.experiment()
    if answer != happened:
        return ExerciseResult(exercise_id, False, f"✗ {exercise.title}: the experiment disagrees: {report}", 0)
    return ExerciseResult(exercise_id, True, f"✓ {exercise.title}: the experiment agrees: {report}", 1)


def evaluate(exercise_id: str, *answers) -> ExerciseResult:
    """Check ``answers`` without printing, logging or raising (for tests and tools)."""
    exercise = find(exercise_id)
    if isinstance(exercise, Explanation):
        raise TypeError(f"{exercise_id} is an explanation, graded by hand: there is nothing to check")
    if not answers:
        raise TypeError(f"check({exercise_id!r}, ...) needs your answer after the exercise id")
    if isinstance(exercise, Prediction):
        try:
            return _evaluate_prediction(exercise_id, exercise, *answers)
        except NotImplementedError:
            return ExerciseResult(exercise_id, False, f"✗ {exercise.title}: not implemented yet.", 0)
    return _evaluate_function(exercise_id, exercise, answers)


def check(exercise_id: str, *answers, quiet: bool = False) -> ExerciseResult:
    """Check the answer: print ✓ and return when it is right, raise ``ExerciseFailed`` when not.

    ``quiet=True`` (kept for the chapters' older tests) returns the result without printing or
    raising; prefer ``evaluate``.
    """
    __tracebackhide__ = True  # IPython then shows the reader's cell, not gptlib's frames
    result = evaluate(exercise_id, *answers)
    _log(result)
    if quiet:
        return result
    if not result.passed:
        raise ExerciseFailed(result.message)
    print(result.message)
    return result


def _log(result: ExerciseResult) -> None:
    """Append the result to the file named by GPTLIB_CHECK_LOG, when a grader has set it."""
    path = os.environ.get(LOG_VARIABLE)
    if path:
        record = {"exercise": result.exercise_id, "passed": bool(result.passed), "message": result.message}
        with open(path, "a", encoding="utf-8") as log:
            log.write(json.dumps(record, ensure_ascii=False) + "\n")
