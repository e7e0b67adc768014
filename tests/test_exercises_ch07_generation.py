"""Chapter 6's exercises: the chapter's solutions pass, typical mistakes fail with a useful message."""

import numpy as np
import pytest

from gptlib.exercises import check


# The solutions as the chapter writes them (plain NumPy, not gptlib's reference).
def solution_top_k(logits, k):
    logits = np.asarray(logits)
    if k >= logits.shape[-1]:
        return logits
    kth = np.sort(logits, axis=-1)[..., -k, None]
    return np.where(logits >= kth, logits, -np.inf)


def solution_top_p(logits, p):
    probs = np.exp(logits - logits.max(axis=-1, keepdims=True))
    probs /= probs.sum(axis=-1, keepdims=True)
    order = np.argsort(-probs, axis=-1)
    sorted_probs = np.take_along_axis(probs, order, axis=-1)
    before = np.cumsum(sorted_probs, axis=-1) - sorted_probs
    keep = np.zeros(probs.shape, dtype=bool)
    np.put_along_axis(keep, order, before < p, axis=-1)
    return np.where(keep, logits, -np.inf)


def solution_kv_step(q, k_new, v_new, k_cache, v_cache):
    k = np.concatenate([k_cache, k_new], axis=1)
    v = np.concatenate([v_cache, v_new], axis=1)
    scores = q @ k.transpose(0, 2, 1) / np.sqrt(q.shape[-1])
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    return weights @ v, k, v


@pytest.mark.parametrize(
    "name, solution",
    [("ch06.top_k", solution_top_k), ("ch06.top_p", solution_top_p), ("ch06.kv_step", solution_kv_step)],
)
def test_solutions_pass(name, solution, capsys):
    result = check(name, solution)
    assert result.passed, result.message
    assert "all" in capsys.readouterr().out


def test_top_k_mistakes_fail():
    # keeps k+1 tokens (off by one)
    def off_by_one(logits, k):
        kth = np.sort(logits, axis=-1)[..., -k - 1, None] if k < logits.shape[-1] else -np.inf
        return np.where(logits >= kth, logits, -np.inf)

    result = check("ch06.top_k", off_by_one, quiet=True)
    assert not result.passed and "values are wrong" in result.message

    # zeros instead of -inf: the filtered tokens would still be sampled
    def zeros(logits, k):
        out = solution_top_k(logits, k)
        return np.where(np.isfinite(out), out, 0.0)

    assert "values are wrong" in check("ch06.top_k", zeros, quiet=True).message

    # forgets the batch: flattens the rows together
    def flat(logits, k):
        return solution_top_k(np.ravel(logits), k)

    result = check("ch06.top_k", flat, quiet=True)
    assert "batch of 3 rows" in result.message and "shape" in result.message


def test_top_p_mistakes_fail():
    # includes the token that crosses p only when strictly needed: keeps one token too few
    def strict(logits, p):
        probs = np.exp(logits - logits.max(axis=-1, keepdims=True))
        probs /= probs.sum(axis=-1, keepdims=True)
        order = np.argsort(-probs, axis=-1)
        cum = np.cumsum(np.take_along_axis(probs, order, axis=-1), axis=-1)
        keep = np.zeros(probs.shape, dtype=bool)
        np.put_along_axis(keep, order, cum <= p, axis=-1)
        return np.where(keep, logits, -np.inf)

    result = check("ch06.top_p", strict, quiet=True)
    assert not result.passed and "p=0.7" in result.message

    # forgets to sort: keeps tokens in vocabulary order until p is reached
    def unsorted(logits, p):
        probs = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
        before = np.cumsum(probs) - probs
        return np.where(before < p, logits, -np.inf)

    result = check("ch06.top_p", unsorted, quiet=True)
    assert not result.passed and "shuffled" in result.message

    def crashes(logits, p):
        raise IndexError("oops")

    assert "raised IndexError: oops" in check("ch06.top_p", crashes, quiet=True).message


def test_kv_step_mistakes_fail():
    # applies a causal mask as if the query were the first position: it sees only key 0
    def first_key_only(q, k_new, v_new, k_cache, v_cache):
        _, k, v = solution_kv_step(q, k_new, v_new, k_cache, v_cache)
        return np.broadcast_to(v[:, :1], q.shape).copy(), k, v

    result = check("ch06.kv_step", first_key_only, quiet=True)
    assert not result.passed and "3 cached positions" in result.message

    # puts the new key in front of the cache: the keys come back in the wrong order
    def prepends(q, k_new, v_new, k_cache, v_cache):
        out, _, _ = solution_kv_step(q, k_new, v_new, k_cache, v_cache)
        return out, np.concatenate([k_new, k_cache], 1), np.concatenate([v_new, v_cache], 1)

    result = check("ch06.kv_step", prepends, quiet=True)
    assert not result.passed and "item 1" in result.message

    # returns only the output, not the updated cache
    result = check("ch06.kv_step", lambda *a: solution_kv_step(*a)[0], quiet=True)
    assert not result.passed and "expected a tuple" in result.message


def test_not_implemented_is_reported():
    def todo(logits, k):
        raise NotImplementedError

    assert "not implemented" in check("ch06.top_k", todo, quiet=True).message
