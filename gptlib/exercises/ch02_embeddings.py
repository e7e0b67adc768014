"""Exercises for chapter 2 (embeddings): one-hot vectors, the lookup, and its gradient."""

import numpy as np

from ..embeddings import embed, embed_backward, one_hot
from . import Case, Exercise

_rng = np.random.default_rng(2)
_wte = np.round(_rng.normal(size=(10, 4)), 3)  # [vocab 10, n_embd 4]
_wpe = np.round(_rng.normal(size=(6, 4)), 3)  # [n_ctx 6, n_embd 4]


def _one_hot(ids, vocab_size):
    return one_hot(ids, vocab_size, dtype=np.float64)


def _embed_backward(d_out, ids, wte, wpe):
    return tuple(embed_backward(d_out, ids, wte, wpe))


EXERCISES = {
    "one_hot": Exercise(
        title="one-hot vectors",
        reference=_one_hot,
        cases=[
            Case((np.array([2, 0, 1]), 3), "ids [2, 0, 1] with a vocabulary of 3"),
            Case((np.array([4]), 5), "a single token, the last id of the vocabulary"),
            Case((np.array([1, 1, 3, 1]), 6), "a repeated id"),
            Case((np.array([7, 0, 9, 2, 2, 5]), 10), "six ids with a vocabulary of 10"),
        ],
    ),
    "embed": Exercise(
        title="token plus position embedding",
        reference=embed,
        cases=[
            Case((np.array([3]), _wte, _wpe), "a single token (n_seq = 1)"),
            Case((np.array([1, 2, 3]), _wte, _wpe), "ids [1, 2, 3]"),
            Case((np.array([4, 4, 4, 4]), _wte, _wpe), "the same token four times (positions must differ)"),
            Case((np.array([9, 0, 5, 5, 1, 8]), _wte, _wpe), "a full context of 6 tokens"),
        ],
    ),
    "embed_backward": Exercise(
        title="the embedding gradient (scatter-add)",
        reference=_embed_backward,
        cases=[
            Case((np.ones((1, 4)), np.array([2]), _wte, _wpe), "one token with d_out = ones"),
            Case((np.round(_rng.normal(size=(3, 4)), 3), np.array([0, 5, 9]), _wte, _wpe), "three different tokens"),
            Case(
                (np.round(_rng.normal(size=(4, 4)), 3), np.array([7, 3, 7, 7]), _wte, _wpe),
                "token 7 three times (its gradients must add up)",
            ),
            Case((np.round(_rng.normal(size=(6, 4)), 3), np.array([1, 1, 1, 1, 1, 1]), _wte, _wpe), "a full context of one token"),
        ],
    ),
}
