"""Exercises for chapter 3 (attention): heads as a loop, grouped-query attention, a bug in a
masked attention, and what the 1/sqrt(d_k) scale does to the gradient at the start of training."""

import math

import numpy as np
import torch
import torch.nn.functional as F

from ..attention import mha, softmax
from ..ffn import linear
from . import Case, Exercise, Mistake, Prediction
from .references import torch_function

# --- Variant: multi-head attention as a loop over heads ----------------------------------------------


def _layer(rng, n_seq, n_head, head_size):
    n_embd = n_head * head_size
    x = rng.normal(size=(n_seq, n_embd))
    c_attn = {"w": rng.normal(size=(n_embd, 3 * n_embd)) / math.sqrt(n_embd), "b": rng.normal(size=3 * n_embd)}
    c_proj = {"w": rng.normal(size=(n_embd, n_embd)) / math.sqrt(n_embd), "b": rng.normal(size=n_embd)}
    return x, c_attn, c_proj, n_head


def _layer_cases(rng):
    n_seq, n_head, head_size = int(rng.integers(1, 9)), int(rng.integers(1, 5)), int(rng.integers(2, 6))
    return [Case(_layer(rng, n_seq, n_head, head_size),
                  f"{n_seq} tokens, {n_head} heads of size {head_size}")]


def _heads_from(qkv, n_head, order):
    """Each head's (q, k, v) [n_seq, hs] from c_attn's output [n_seq, 3 * n_embd]."""
    n_seq, three_embd = qkv.shape
    hs = three_embd // 3 // n_head
    if order == "per head":  # [q_0 k_0 v_0 | q_1 k_1 v_1 | ...]: not GPT-2's layout
        blocks = qkv.reshape(n_seq, n_head, 3, hs)
        return [tuple(blocks[:, h, i] for i in range(3)) for h in range(n_head)]
    q, k, v = np.split(qkv, 3, axis=-1)
    if order == "strided":  # head h takes channels h, h + n_head, h + 2 n_head, ...
        return [(q[:, h::n_head], k[:, h::n_head], v[:, h::n_head]) for h in range(n_head)]
    return [(q[:, h * hs:(h + 1) * hs], k[:, h * hs:(h + 1) * hs], v[:, h * hs:(h + 1) * hs])
            for h in range(n_head)]


def _loop(x, c_attn, c_proj, n_head, order="blocks", scale=None, mask=True, project=True):
    outs = []
    for q, k, v in _heads_from(linear(x, **c_attn), n_head, order):
        scores = q @ k.T / math.sqrt(scale or q.shape[-1])
        if mask:
            scores = np.where(np.tril(np.ones(scores.shape, dtype=bool)), scores, -np.inf)
        outs.append(softmax(scores) @ v)
    merged = np.concatenate(outs, axis=-1)
    return linear(merged, **c_proj) if project else merged


HEADS_BY_LOOP_MISTAKES = [
    Mistake(lambda x, a, p, n: _loop(x, a, p, n, project=False), "The merged heads still go through c_proj."),
    Mistake(lambda x, a, p, n: _loop(x, a, p, n, order="strided"),
            "Head h owns one contiguous block of head_size channels, not every n_head-th channel."),
    Mistake(lambda x, a, p, n: _loop(x, a, p, n, order="per head"),
            "GPT-2's c_attn gives all the queries, then all the keys, then all the values."),
    Mistake(lambda x, a, p, n: _loop(x, a, p, n, scale=x.shape[-1]),
            "Each head divides its scores by the square root of its own size, head_size."),
    Mistake(lambda x, a, p, n: _loop(x, a, p, n, mask=False), "A token must not read the tokens after it."),
]

# --- Variant: grouped-query attention ---------------------------------------------------------------


def _gqa_reference(q, k, v):
    """PyTorch's own grouped-query attention (scaled_dot_product_attention with enable_gqa)."""
    return F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)


def _gqa_case(rng, n_head, n_kv_head, n_seq, head_size, description=None):
    q = rng.normal(size=(n_head, n_seq, head_size))
    k, v = rng.normal(size=(2, n_kv_head, n_seq, head_size))
    return Case((q, k, v), description or f"{n_head} query heads sharing {n_kv_head} key/value heads, "
                                           f"{n_seq} tokens, head size {head_size}")


def _gqa_cases(rng):
    n_kv_head, group = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    return [_gqa_case(rng, n_kv_head * group, n_kv_head, int(rng.integers(1, 8)), int(rng.integers(2, 6)))]


def _gqa_by(q, k, v, expand, scale=True, mask=True):
    group = q.shape[0] // k.shape[0]
    k, v = expand(k, group), expand(v, group)
    scores = q @ np.swapaxes(k, -1, -2) / (math.sqrt(q.shape[-1]) if scale else 1.0)
    if mask:
        scores = np.where(np.tril(np.ones(scores.shape[-2:], dtype=bool)), scores, -np.inf)
    return softmax(scores) @ v


def _repeat(a, group):
    return np.repeat(a, group, axis=0)  # head h uses key/value head h // group


def _tile(a, group):
    return np.tile(a, (group, 1, 1))  # head h uses key/value head h % n_kv_head


# --- Debug: a masked attention ----------------------------------------------------------------------


def buggy_attention(q, k, v):
    """Causal attention for one head: q, k [n_seq, d_k], v [n_seq, d_v] -> [n_seq, d_v]."""
    n_seq, d_k = q.shape
    scores = q @ k.T / math.sqrt(d_k)  # [n_seq, n_seq]
    mask = np.tril(np.ones((n_seq, n_seq)))  # 1 where a query may look, 0 in the future
    weights = softmax(scores * mask)  # hide the future
    return weights @ v  # [n_seq, d_v]


def _single_head_case(rng, n_seq, d_k, d_v, description=None):
    q, k = rng.normal(size=(2, n_seq, d_k))
    return Case((q, k, rng.normal(size=(n_seq, d_v))), description or f"{n_seq} tokens, d_k = {d_k}, d_v = {d_v}")


def _single_head_cases(rng):
    return [_single_head_case(rng, int(rng.integers(2, 9)), int(rng.integers(2, 9)), int(rng.integers(1, 6)))]


def _mask_after_softmax(q, k, v):
    weights = softmax(q @ k.T / math.sqrt(q.shape[1])) * np.tril(np.ones((len(q), len(q))))
    return weights @ v


def _future_only(q, k, v):
    scores = q @ k.T / math.sqrt(q.shape[1])
    return softmax(np.where(np.triu(np.ones(scores.shape, dtype=bool)), scores, -np.inf)) @ v


def _unscaled(q, k, v):
    scores = q @ k.T
    return softmax(np.where(np.tril(np.ones(scores.shape, dtype=bool)), scores, -np.inf)) @ v


# --- Predict: the scale and the gradient at the start of training ---------------------------------

SCALE_OPTIONS = ("grows", "stays about the same", "shrinks towards zero")


def _median_score_gradient(d_k: int, scaled: bool, rng, n_keys: int = 32, rows: int = 200) -> float:
    """The median size of dL/d(scores) for a query against n_keys keys, every entry of q and k
    drawn with mean 0 and variance 1 (as in Vaswani et al.'s argument), by torch autograd."""
    q = torch.tensor(rng.normal(size=(rows, 1, d_k)))  # one query per row
    keys = torch.tensor(rng.normal(size=(rows, n_keys, d_k)))
    values = torch.tensor(rng.normal(size=(rows, n_keys, 8)))
    scores = (q @ keys.transpose(1, 2) / (math.sqrt(d_k) if scaled else 1.0)).requires_grad_()  # [rows, 1, n_keys]
    out = torch.softmax(scores, dim=-1) @ values  # [rows, 1, 8]
    (grad,) = torch.autograd.grad(out, scores, torch.tensor(rng.normal(size=(rows, 1, 8))))
    return float(grad.flatten(1).norm(dim=1).median())


def scale_experiment():
    """Without the scale, from d_k = 16 to d_k = 1024: the gradient that reaches the scores."""
    rng = np.random.default_rng(0)
    small, large = (_median_score_gradient(d_k, False, rng) for d_k in (16, 1024))
    with_scale = [_median_score_gradient(d_k, True, rng) for d_k in (16, 1024)]
    ratio = large / small
    happened = SCALE_OPTIONS[0] if ratio > 2 else SCALE_OPTIONS[1] if ratio >= 0.5 else SCALE_OPTIONS[2]
    report = (f"without the scale the median gradient reaching the scores went from {small:.2f} at "
              f"d_k = 16 to {'under 0.001' if large < 1e-3 else f'{large:.3f}'} at d_k = 1024; with the "
              f"scale it was {with_scale[0]:.2f} and {with_scale[1]:.2f}.")
    return happened, report


EXERCISES = {
    "heads_by_loop": Exercise(
        title="Multi-head attention as a loop over heads",
        kind="variant",
        difficulty=2,
        reference=mha,
        cases=[Case(_layer(np.random.default_rng(30), 5, 2, 3), "5 tokens, 2 heads of size 3"),
               Case(_layer(np.random.default_rng(31), 1, 4, 2), "a single token, 4 heads of size 2")],
        generate=_layer_cases,
        n_generated=6,
        mistakes=HEADS_BY_LOOP_MISTAKES,
        atol=1e-9,
    ),
    "grouped_query": Exercise(
        title="Grouped-query attention",
        kind="variant",
        difficulty=2,
        reference=torch_function(_gqa_reference),
        cases=[_gqa_case(np.random.default_rng(32), 4, 2, 5, 3),
               _gqa_case(np.random.default_rng(33), 3, 1, 4, 2, "3 query heads sharing one key/value head "
                                                                  "(multi-query attention)"),
               _gqa_case(np.random.default_rng(34), 2, 2, 3, 4, "as many key/value heads as query heads "
                                                                  "(ordinary multi-head attention)")],
        generate=_gqa_cases,
        n_generated=5,
        mistakes=[
            Mistake(lambda q, k, v: _gqa_by(q, k, v, _tile),
                    "Consecutive query heads form a group: heads 0 to g - 1 share key/value head 0."),
            Mistake(lambda q, k, v: _gqa_by(q, k, v, _repeat, mask=False), "A token must not read the tokens after it."),
            Mistake(lambda q, k, v: _gqa_by(q, k, v, _repeat, scale=False), "The scores are divided by sqrt(head_size)."),
        ],
        atol=1e-9,
    ),
    "fixed_attention": Exercise(
        title="Find the bug in a causal attention",
        kind="debug",
        difficulty=2,
        reference=torch_function(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True)),
        cases=[_single_head_case(np.random.default_rng(35), 1, 4, 2, "a single token (it has no future)"),
               _single_head_case(np.random.default_rng(36), 4, 8, 3)],
        generate=_single_head_cases,
        n_generated=6,
        mistakes=[
            Mistake(buggy_attention, "This still behaves like the given code: does a masked key really get no weight?"),
            Mistake(_mask_after_softmax, "Zeroing weights after the softmax leaves rows that no longer sum to 1."),
            Mistake(_future_only, "Query i may read keys 0 to i: the lower triangle."),
            Mistake(_unscaled, "Keep the division by sqrt(d_k)."),
        ],
        atol=1e-9,
    ),
    "scale_at_init": Prediction(
        title="The scale and the gradient at the start",
        options=SCALE_OPTIONS,
        experiment=scale_experiment,
        difficulty=2,
    ),
}
