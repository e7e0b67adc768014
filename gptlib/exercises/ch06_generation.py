"""Chapter 6 exercises: top-k, top-p, and one step of attention with a KV cache."""

import numpy as np

from ..attention import attention
from ..generation import top_k_filter, top_p_filter
from . import Case, Exercise


def kv_attention_step(q, k_new, v_new, k_cache, v_cache):
    """Reference: append the new key and value to the cache, attend, return (out, k_all, v_all).

    q, k_new, v_new: [n_head, 1, hs]; k_cache, v_cache: [n_head, n_past, hs].
    """
    k_all = np.concatenate([k_cache, k_new], axis=1)  # [n_head, n_past + 1, hs]
    v_all = np.concatenate([v_cache, v_new], axis=1)
    mask = np.ones((1, k_all.shape[1]), dtype=bool)  # the newest position may read every position
    return attention(q, k_all, v_all, mask), k_all, v_all


def _logits(seed, shape, scale=2.0):
    return (scale * np.random.default_rng(seed).standard_normal(shape)).astype(np.float64)


def _step_case(seed, n_head, n_past, hs, description):
    rng = np.random.default_rng(seed)
    new = [rng.standard_normal((n_head, 1, hs)) for _ in range(3)]
    cache = [rng.standard_normal((n_head, n_past, hs)) for _ in range(2)]
    return Case((*new, *cache), description)


EXERCISES = {
    "top_k": Exercise(
        title="top-k filtering",
        reference=top_k_filter,
        cases=[
            Case((np.array([1.0, 3.0, 2.0, 0.0]), 2), "logits [1, 3, 2, 0] and k=2"),
            Case((np.array([1.0, 3.0, 2.0, 0.0]), 1), "k=1 (greedy)"),
            Case((np.array([1.0, 3.0, 2.0, 0.0]), 4), "k equal to the vocabulary size (keep all)"),
            Case((np.array([1.0, 3.0, 2.0]), 10), "k larger than the vocabulary (keep all)"),
            Case((_logits(0, 50), 5), "50 random logits and k=5"),
            Case((_logits(1, (3, 20)), 4), "a batch of 3 rows [3, 20], k=4 (filter each row)"),
        ],
    ),
    "top_p": Exercise(
        title="top-p (nucleus) filtering",
        reference=top_p_filter,
        cases=[
            Case((np.log(np.array([0.5, 0.3, 0.15, 0.05])), 0.7), "probabilities [0.5, 0.3, 0.15, 0.05] and p=0.7"),
            Case((np.log(np.array([0.15, 0.5, 0.05, 0.3])), 0.7), "the same probabilities shuffled"),
            Case((np.log(np.array([0.5, 0.3, 0.15, 0.05])), 0.4), "p=0.4 (only the top token is needed)"),
            Case((np.log(np.array([0.5, 0.3, 0.15, 0.05])), 1.0), "p=1 (keep all)"),
            Case((_logits(2, 100), 0.9), "100 random logits and p=0.9"),
            Case((_logits(3, (4, 30)), 0.6), "a batch of 4 rows [4, 30], p=0.6 (filter each row)"),
        ],
    ),
    "kv_step": Exercise(
        title="one attention step with a KV cache",
        reference=kv_attention_step,
        cases=[
            _step_case(0, 1, 0, 4, "one head and an empty cache (n_past=0)"),
            _step_case(1, 1, 3, 4, "one head, 3 cached positions"),
            _step_case(2, 4, 7, 8, "4 heads of size 8, 7 cached positions"),
        ],
        atol=1e-6,
    ),
}
