"""Exercises of the test fixture chapter "ch99" (tests/test_classroom.py)."""

from gptlib.exercises import Case, Exercise, Explanation, Mistake, Prediction


def _double(x):
    return 2.0 * x


def _generated(rng):
    return [Case((float(rng.normal()),), "a random x")]


def _sign_experiment():
    value = _double(-3.0)
    return ("negative" if value < 0 else "positive"), f"double(-3) is {value:g}."


EXERCISES = {
    "double": Exercise(
        "double a number", _double, [Case((1.5,), "x = 1.5"), Case((0.0,), "x = 0")],
        generate=_generated, n_generated=3,
        mistakes=[Mistake(lambda x: x * x, "squaring is not doubling.")],
    ),
    "add": Exercise("add two numbers", lambda a, b: a + b, [Case((1.0, 2.0), "a = 1, b = 2"), Case((-1.0, 1.0), "a = -1, b = 1")]),
    "sign": Prediction("the sign of double(-3)", ("positive", "negative"), _sign_experiment),
    "why": Explanation("why doubling is adding", difficulty=2),
}
