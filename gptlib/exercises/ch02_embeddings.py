"""Exercises for chapter 2 (embeddings): fixed sine-wave positions, the gradient of a tied table,
a bug in a batched backward pass, and how order leaks into a model that has no positions."""

import numpy as np
import torch
import torch.nn.functional as F

from ..config import GPTConfig
from ..embeddings import sinusoidal_positions
from ..model import GPT, gpt2_numpy
from . import Case, Exercise, Explanation, Mistake, Prediction

# --- Variant: sinusoidal positions -----------------------------------------------------------------


def _sinusoidal_cases(rng):
    n_ctx, n_embd = int(rng.integers(1, 65)), int(rng.integers(2, 49))
    return [Case((n_ctx, n_embd), f"n_ctx = {n_ctx}, n_embd = {n_embd}")]


def _angles(n_ctx, n_embd, pair):
    return np.arange(n_ctx)[:, None] / 10000.0 ** (2 * pair / n_embd)


def _interleave(n_embd, even, odd):
    return np.where(np.arange(n_embd) % 2 == 0, even, odd)


def _sin_cos_swapped(n_ctx, n_embd):
    angles = _angles(n_ctx, n_embd, np.arange(n_embd) // 2)
    return _interleave(n_embd, np.cos(angles), np.sin(angles))


def _one_frequency_per_channel(n_ctx, n_embd):
    angles = _angles(n_ctx, n_embd, np.arange(n_embd) / 2)  # 10000^(j / d): no pairs
    return _interleave(n_embd, np.sin(angles), np.cos(angles))


def _sines_then_cosines(n_ctx, n_embd):
    half = (n_embd + 1) // 2
    angles = _angles(n_ctx, n_embd, np.arange(half))
    return np.concatenate([np.sin(angles), np.cos(angles)], axis=1)[:, :n_embd]


def _positions_from_one(n_ctx, n_embd):
    return sinusoidal_positions(n_ctx + 1, n_embd)[1:]


def _times_instead_of_divided(n_ctx, n_embd):
    angles = np.arange(n_ctx)[:, None] * 10000.0 ** (2 * (np.arange(n_embd) // 2) / n_embd)
    return _interleave(n_embd, np.sin(angles), np.cos(angles))


# --- Variant: the gradient of a tied embedding table ------------------------------------------------


def _tied_reference(d_x, ids, d_logits, h, wte):
    """torch autograd: wte is read twice, by the lookup x = wte[ids] and by the head h @ wte.T."""
    wte_t = torch.tensor(wte, dtype=torch.float64, requires_grad=True)
    x = F.embedding(torch.as_tensor(ids), wte_t)  # [n_seq, n_embd]
    logits = torch.as_tensor(h, dtype=torch.float64) @ wte_t.T  # [n_seq, vocab_size]
    x.backward(torch.as_tensor(d_x, dtype=torch.float64), retain_graph=True)
    logits.backward(torch.as_tensor(d_logits, dtype=torch.float64))
    return wte_t.grad.numpy()


def _tied_case(rng, n_seq, vocab_size, n_embd, description, repeat=False):
    ids = rng.integers(0, vocab_size, size=n_seq)
    if repeat:
        ids[: n_seq // 2 + 1] = ids[0]  # one token several times
    d_x, d_logits = rng.normal(size=(n_seq, n_embd)), rng.normal(size=(n_seq, vocab_size))
    h, wte = rng.normal(size=(n_seq, n_embd)), rng.normal(size=(vocab_size, n_embd))
    return Case((d_x, ids, d_logits, h, wte), description)


def _tied_cases(rng):
    n_seq, vocab_size, n_embd = int(rng.integers(2, 9)), int(rng.integers(3, 12)), int(rng.integers(2, 7))
    return [_tied_case(rng, n_seq, vocab_size, n_embd,
                       f"{n_seq} random tokens, vocabulary {vocab_size}, width {n_embd}", repeat=True)]


_fixed_rng = np.random.default_rng(20)
_ONLY_HEAD = _tied_case(_fixed_rng, 3, 5, 4, "a batch whose lookup sends back d_x = 0")
_ONLY_HEAD.args = (np.zeros_like(_ONLY_HEAD.args[0]),) + _ONLY_HEAD.args[1:]
_ONLY_LOOKUP = _tied_case(_fixed_rng, 4, 6, 3, "a batch whose head sends back d_logits = 0", repeat=True)
_ONLY_LOOKUP.args = _ONLY_LOOKUP.args[:2] + (np.zeros_like(_ONLY_LOOKUP.args[2]),) + _ONLY_LOOKUP.args[3:]


def _lookup_part(d_x, ids, wte):
    grad = np.zeros_like(wte)
    np.add.at(grad, ids, d_x)
    return grad


def _tied_lookup_only(d_x, ids, d_logits, h, wte):
    return _lookup_part(d_x, ids, wte)


def _tied_head_only(d_x, ids, d_logits, h, wte):
    return d_logits.T @ h


def _tied_fancy_index(d_x, ids, d_logits, h, wte):
    grad = d_logits.T @ h
    grad[ids] += d_x  # keeps one occurrence of a repeated token
    return grad


# --- Debug: the batched backward pass ---------------------------------------------------------------


def buggy_embed_backward(d_out, ids, wte, wpe):
    """Gradients of the embedding for a batch: d_out [B, T, C], ids [B, T] -> (d_wte, d_wpe)."""
    B, T, C = d_out.shape
    d_wte = np.zeros_like(wte)
    np.add.at(d_wte, ids.reshape(-1), d_out.reshape(-1, C))  # every occurrence adds its row
    d_wpe = np.zeros_like(wpe)
    d_wpe[:T] = d_out.mean(axis=0)  # the sequences of the batch share one position table
    return d_wte, d_wpe


def _embed_batch_reference(d_out, ids, wte, wpe):
    """torch autograd through F.embedding, PyTorch's own lookup."""
    wte_t = torch.tensor(wte, dtype=torch.float64, requires_grad=True)
    wpe_t = torch.tensor(wpe, dtype=torch.float64, requires_grad=True)
    ids_t = torch.as_tensor(ids)
    out = F.embedding(ids_t, wte_t) + F.embedding(torch.arange(ids_t.shape[-1]), wpe_t)
    out.backward(torch.as_tensor(d_out, dtype=torch.float64))
    return wte_t.grad.numpy(), wpe_t.grad.numpy()


def _batch_case(rng, B, T, vocab_size=7, n_ctx=8, n_embd=3, description=""):
    ids = rng.integers(0, vocab_size, size=(B, T))
    d_out = rng.normal(size=(B, T, n_embd))
    wte, wpe = rng.normal(size=(vocab_size, n_embd)), rng.normal(size=(n_ctx, n_embd))
    return Case((d_out, ids, wte, wpe), description or f"a batch of {B} sequences of {T} tokens")


def _batch_cases(rng):
    B, T = int(rng.integers(2, 6)), int(rng.integers(1, 9))
    return [_batch_case(rng, B, T)]


def _positions_summed_over_time(d_out, ids, wte, wpe):
    d_wte, d_wpe = _embed_batch_reference(d_out, ids, wte, wpe)
    d_wpe = np.zeros_like(wpe)
    d_wpe[: d_out.shape[0]] = d_out.sum(axis=1)  # sums over positions instead of over the batch
    return d_wte, d_wpe


def _first_sequence_only(d_out, ids, wte, wpe):
    d_wte, _ = _embed_batch_reference(d_out, ids, wte, wpe)
    d_wpe = np.zeros_like(wpe)
    d_wpe[: d_out.shape[1]] = d_out[0]
    return d_wte, d_wpe


# --- Predict: order without positions ---------------------------------------------------------------

LEAK_OPTIONS = (
    "unchanged with 1 layer and with 2",
    "unchanged with 1 layer, changed with 2",
    "changed with 1 layer, unchanged with 2",
    "changed with both",
)


def _last_logits_change(n_layer: int, rng) -> float:
    """The largest change of the last position's logits when every token before it is shuffled,
    in a random GPT whose position table is all zeros (float64, NumPy forward pass)."""
    config = GPTConfig(vocab_size=50, n_ctx=16, n_embd=32, n_head=4, n_layer=n_layer)
    torch.manual_seed(n_layer)
    params = GPT(config).double().to_params()
    params["wpe"] = np.zeros_like(params["wpe"])  # no positions at all
    change = 0.0
    for _ in range(5):
        ids = rng.integers(0, config.vocab_size, size=12)
        shuffled = np.concatenate([rng.permutation(ids[:-1]), ids[-1:]])  # the last token stays
        before, after = gpt2_numpy(ids, params, config)[-1], gpt2_numpy(shuffled, params, config)[-1]
        change = max(change, float(np.abs(before - after).max()))
    return change


def order_leak_experiment():
    """Shuffle all tokens but the last in GPTs without positions, with 1 and with 2 layers."""
    rng = np.random.default_rng(0)
    changed = [_last_logits_change(n_layer, rng) > 1e-9 for n_layer in (1, 2)]
    happened = {(False, False): 0, (False, True): 1, (True, False): 2, (True, True): 3}[tuple(changed)]
    words = ["unchanged (within 1e-9)" if not c else "changed (by more than 1e-9)" for c in changed]
    report = (f"shuffling every token but the last left the last position's logits {words[0]} with "
              f"1 layer, and {words[1]} with 2 layers.")
    return LEAK_OPTIONS[happened], report


EXERCISES = {
    "sinusoidal": Exercise(
        title="Sinusoidal positions",
        kind="variant",
        difficulty=2,
        reference=sinusoidal_positions,
        cases=[
            Case((6, 4), "n_ctx = 6, n_embd = 4"),
            Case((1, 2), "a single position (position 0) and two channels"),
            Case((10, 7), "an odd width, n_embd = 7 (the last channel is a sine with no cosine)"),
        ],
        generate=_sinusoidal_cases,
        n_generated=5,
        mistakes=[
            Mistake(_sin_cos_swapped, "The sine goes in the even channels (0, 2, 4, ...), the cosine in the odd ones."),
            Mistake(_one_frequency_per_channel,
                    "Channels 2i and 2i + 1 share one frequency: the exponent uses the pair index i, not the channel."),
            Mistake(_sines_then_cosines,
                    "That is the other common layout (all sines, then all cosines); the paper interleaves them."),
            Mistake(_positions_from_one, "The first row is position 0."),
            Mistake(_times_instead_of_divided,
                    "The wavelength grows with the channel: divide the position by 10000^(2i/d)."),
        ],
        idea="Check row 0 (all sines 0, all cosines 1) and the first two channels (sin pos, cos pos).",
        atol=1e-9,
    ),
    "tied_wte_grad": Exercise(
        title="The gradient of a tied embedding table",
        kind="variant",
        difficulty=3,
        reference=_tied_reference,
        cases=[_ONLY_HEAD, _ONLY_LOOKUP],
        generate=_tied_cases,
        n_generated=6,
        mistakes=[
            Mistake(_tied_lookup_only, "The head reads wte too (logits = h @ wte.T): its gradient is missing."),
            Mistake(_tied_head_only, "The lookup's gradient (a scatter-add of d_x) is missing."),
            Mistake(_tied_fancy_index,
                    "A repeated token must receive the sum of its positions' gradients (see np.add.at)."),
        ],
        atol=1e-9,
    ),
    "fixed_embed_backward": Exercise(
        title="Find the bug in a batched embedding gradient",
        kind="debug",
        difficulty=2,
        reference=_embed_batch_reference,
        cases=[
            _batch_case(np.random.default_rng(21), 1, 5, description="a batch of one sequence"),
            _batch_case(np.random.default_rng(22), 3, 4, description="a batch of three sequences"),
        ],
        generate=_batch_cases,
        n_generated=5,
        mistakes=[
            Mistake(buggy_embed_backward,
                    "This still behaves like the given code: how many times is position t read in a batch?"),
            Mistake(_positions_summed_over_time, "d_wpe gets one row per position, not per sequence."),
            Mistake(_first_sequence_only, "Every sequence of the batch reads the position table."),
        ],
        atol=1e-9,
    ),
    "order_leak": Prediction(
        title="Order without positions",
        options=LEAK_OPTIONS,
        experiment=order_leak_experiment,
        difficulty=3,
    ),
    "unused_rows": Explanation(title="Rows no lookup ever reads", difficulty=2),
}
