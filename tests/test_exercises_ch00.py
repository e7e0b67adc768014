"""Chapter 0's exercises: typical wrong answers fail, and the message names the wrong idea.

The right answers are the notebook's solution cells, run by tests/test_classroom.py (100% with
the solutions, 0% blank); here only wrong answers are fed in.
"""

import numpy as np
import pytest
import torch

from gptlib.exercises import evaluate
from gptlib.exercises.ch00_first_look import EXERCISES, buggy_next_token
from gptlib.model import gpt2_numpy

FUNCTION_EXERCISES = ["top_next_tokens", "greedy", "fix_next_token"]


@pytest.mark.parametrize("name", FUNCTION_EXERCISES)
def test_every_declared_mistake_fails_and_names_its_idea(name):
    ideas = [mistake.idea for mistake in EXERCISES[name].mistakes]
    for mistake in EXERCISES[name].mistakes:
        result = evaluate(f"ch00.{name}", mistake.function)
        assert not result.passed, (name, mistake.idea)
        # Two mistakes can give the same ids on a case (reading row 0 of a growing sequence
        # repeats one token, as not appending does): the message names one of the two ideas.
        assert result.message.startswith("✗"), result.message
        assert any(idea in result.message for idea in ideas), result.message


def test_the_given_buggy_function_is_really_wrong_and_the_message_says_so():
    result = evaluate("ch00.fix_next_token", buggy_next_token)
    assert not result and "still behaves like the given code" in result.message


def test_the_bug_is_the_softmax_axis():
    """The buggy function's probabilities do not add up to 1 over the vocabulary; torch's do."""
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, size=(5, 40))
    probs = np.exp(logits - logits.max())
    buggy = probs / probs.sum(axis=0)  # the bug, as in buggy_next_token
    right = torch.softmax(torch.as_tensor(logits), dim=-1).numpy()
    assert not np.allclose(buggy[-1].sum(), 1.0)
    assert np.allclose(right.sum(axis=-1), 1.0)
    assert np.argmax(buggy[-1]) != np.argmax(right[-1]) or not np.allclose(buggy, right)


def test_wrong_types_are_named_not_the_answer():
    as_array = evaluate("ch00.top_next_tokens", lambda logits, k: np.zeros((k, 2)))
    assert not as_array and "expected a list" in as_array.message
    floats = evaluate("ch00.top_next_tokens",
                      lambda logits, k: [(float(i), 0.1) for i in range(k)])
    assert not floats and "not an int" in floats.message
    too_many = evaluate("ch00.greedy", lambda ids, params, config, n_new: [0] * (n_new + 1))
    assert not too_many and "new ids" in too_many.message
    crash = evaluate("ch00.fix_next_token", lambda ids, params, config: 1 / 0)
    assert not crash and "ZeroDivisionError" in crash.message


def test_the_messages_never_show_the_expected_ids():
    """A wrong token id is reported with the reader's own id only."""
    result = evaluate("ch00.fix_next_token", lambda ids, params, config: -1)
    assert not result and "your token id, -1," in result.message


def test_greedy_reference_is_the_argmax_of_the_last_row():
    """The reference (gptlib's generate) picks, for one step, torch's argmax of the last row."""
    exercise = EXERCISES["greedy"]
    case = exercise.generate(np.random.default_rng(3))[0]
    ids, params, config, _ = case.args
    expected = int(torch.argmax(torch.as_tensor(gpt2_numpy(ids, params, config))[-1]))
    assert exercise.reference(ids, params, config, 1) == [expected]


def test_predictions_refuse_an_option_that_is_not_offered():
    result = evaluate("ch00.change_last_token", "the first row")
    assert not result and "choose one of" in result.message


def test_the_causal_prediction_fails_a_wrong_guess_with_the_experiment():
    result = evaluate("ch00.change_last_token", "every row")
    assert not result and "the experiment disagrees" in result.message
    assert "rows of the logits" in result.message
