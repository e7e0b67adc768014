"""What the tests of chapters 4 and 5's exercises share: feeding a checker a wrong answer."""

import numpy as np

from gptlib.exercises import evaluate, find


def fails_with(exercise_id, *answers, phrases=()):
    """The ✗ message for a wrong answer, after checking that it names the exercise and
    contains each of ``phrases`` (the wrong idea it points to)."""
    with np.errstate(all="ignore"):
        result = evaluate(exercise_id, *answers)
    assert not result.passed, f"{exercise_id} accepted a wrong answer"
    assert result.message.startswith("✗ " + find(exercise_id).title), result.message
    for phrase in phrases:
        assert phrase in result.message, result.message
    return result.message


def kinds_are_varied(exercises):
    """At least four exercises, at least two of them beyond the chapter (not "derive")."""
    kinds = [ex.kind for ex in exercises.values()]
    return len(kinds) >= 4 and sum(kind != "derive" for kind in kinds) >= 2
