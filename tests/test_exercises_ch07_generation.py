"""Chapter 7's exercises: the chapter's own solutions pass, and typical wrong answers fail with a
message that points to the wrong idea (and never shows the expected values).

The solutions are read from the chapter (tests/chapter_exercises.py), so that there is one copy
of each; that they pass on fresh inputs is tested for every chapter in test_exercises_chapters.py.
"""

import numpy as np
import pytest
from chapter_exercises import chapter_solutions

from gptlib.exercises import ch07_generation, evaluate



@pytest.fixture(scope="module")
def solutions():
    """The namespace the chapter's exercise cells leave (its imports and its solutions)."""
    return chapter_solutions("07_generation.ipynb")


ANSWERS = {"ch07.kv_step": "kv_step", "ch07.min_p": "min_p_filter",
           "ch07.repetition_penalty": "penalize", "ch07.beam_search": "beam_search",
           "ch07.fixed_continue": "fixed_continue", "ch07.beam_repeats": "prediction"}


def test_every_exercise_of_the_module_is_in_the_chapter():
    assert {f"ch07.{name}" for name in ch07_generation.EXERCISES} == set(ANSWERS)


def _failure(exercise_id, answer):
    result = evaluate(exercise_id, answer)
    assert not result.passed
    return result.message


def test_attention_without_the_scale_is_named(solutions):
    def unscaled(q, k_new, v_new, k_cache, v_cache):
        return solutions["kv_step"](q * np.sqrt(q.shape[-1]), k_new, v_new, k_cache, v_cache)

    assert "sqrt(head_size)" in _failure("ch07.kv_step", unscaled)


def test_the_new_key_put_first_fails(solutions):
    def prepended(q, k_new, v_new, k_cache, v_cache):
        k, v = np.concatenate([k_new, k_cache], 1), np.concatenate([v_new, v_cache], 1)
        return solutions["kv_step"](q, k_new, v_new, k_cache, v_cache)[0], k, v

    message = _failure("ch07.kv_step", prepended)
    assert "item 1" in message and "order of the positions" in message


def test_min_p_on_logits_instead_of_probabilities_is_named():
    def on_logits(logits, min_p):
        return np.where(logits >= min_p * logits.max(-1, keepdims=True), logits, -np.inf)

    assert "probabilities, not on logits" in _failure("ch07.min_p", on_logits)


def test_min_p_with_zeros_instead_of_minus_infinity_fails(solutions):
    def zeros(logits, min_p):
        out = solutions["min_p_filter"](logits, min_p)
        return np.where(np.isfinite(out), out, 0.0)

    _failure("ch07.min_p", zeros)


def test_dividing_negative_logits_is_named():
    def divide_all(logits, previous, penalty):
        out = np.array(logits, dtype=np.float64)
        seen = np.unique(np.asarray(previous, dtype=np.int64))
        out[seen] /= penalty
        return out

    assert "negative logit" in _failure("ch07.repetition_penalty", divide_all)


def test_penalising_each_occurrence_is_named():
    def each_time(logits, previous, penalty):
        out = np.array(logits, dtype=np.float64)
        for t in previous:
            out[t] = out[t] / penalty if out[t] > 0 else out[t] * penalty
        return out

    assert "once" in _failure("ch07.repetition_penalty", each_time)


def test_greedy_is_not_beam_search():
    def greedy(next_log_probs, prompt, n_beams, n_new):
        ids = list(prompt)
        for _ in range(n_new):
            ids.append(int(np.argmax(next_log_probs(ids))))
        return ids[len(prompt):]

    assert "greedy" in _failure("ch07.beam_search", greedy)


def test_beam_search_that_keeps_the_prompt_fails_on_the_shape(solutions):
    def with_prompt(next_log_probs, prompt, n_beams, n_new):
        return list(prompt) + solutions["beam_search"](next_log_probs, prompt, n_beams, n_new)

    _failure("ch07.beam_search", with_prompt)


def test_the_given_buggy_continue_is_recognised():
    message = _failure("ch07.fixed_continue", ch07_generation.buggy_continue)
    assert "still behaves like the given code" in message


def test_a_wrong_prediction_fails_and_a_value_outside_the_options_is_refused():
    assert "disagrees" in _failure("ch07.beam_repeats", "less repetitive")
    assert "choose one of" in _failure("ch07.beam_repeats", "much more")
