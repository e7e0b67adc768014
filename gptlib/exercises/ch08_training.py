"""Chapter 8 exercises: clipping by the global norm, the gradient of a smoothed loss, gradient
accumulation, a training step with a bug, and what warmup is for.

References: torch's ``clip_grad_norm_``, torch autograd of ``F.cross_entropy`` (label smoothing
included) and of ``gptlib.GPT``, gptlib's tested ``training_step``, and training runs.
"""

from __future__ import annotations

import tempfile
from dataclasses import replace

import numpy as np
import torch
import torch.nn.functional as F

from ..config import GPTConfig
from ..model import GPT
from ..training import (
    TrainConfig, initial_model, loss_and_grads, make_optimizer, train, training_step,
)
from ..weights import flatten_params, torch_state_to_params, unflatten_params
from . import Case, Exercise, Mistake, Prediction

_rng = np.random.default_rng(8)

# --- clipping by the global norm ----------------------------------------------------------------


def _torch_clip(grads, max_norm):
    """torch.nn.utils.clip_grad_norm_ on float64 copies of ``grads``: the clipped list."""
    params = [torch.zeros(np.shape(g), dtype=torch.float64) for g in grads]
    for p, g in zip(params, grads):
        p.grad = torch.tensor(g, dtype=torch.float64)
    torch.nn.utils.clip_grad_norm_(params, max_norm)
    return [p.grad.numpy() for p in params]


def _clip_each_tensor(grads, max_norm):
    return [g * min(1.0, max_norm / (np.linalg.norm(g) + 1e-12)) for g in grads]


def _always_rescale(grads, max_norm):
    norm = np.sqrt(sum(float((g**2).sum()) for g in grads))
    return [g * max_norm / norm for g in grads]


def _sum_of_norms(grads, max_norm):
    norm = sum(float(np.linalg.norm(g)) for g in grads)
    return [g * min(1.0, max_norm / norm) for g in grads]


def _gradients(rng):
    shapes = [(int(rng.integers(1, 6)), int(rng.integers(1, 6))), (int(rng.integers(1, 9)),)]
    grads = [rng.normal(size=s) * 10.0 ** rng.uniform(-2, 1) for s in shapes]
    norm = np.sqrt(sum((g**2).sum() for g in grads))
    max_norm = float(norm * rng.choice([0.3, 0.8, 1.5]))  # clipped twice, left alone once
    return [Case((grads, max_norm), f"{len(grads)} random gradients, max_norm {max_norm:.3g}")]


# --- the gradient of the cross-entropy with label smoothing --------------------------------------


def _smoothed_grad(logits, targets, smoothing):
    """torch autograd's gradient of F.cross_entropy(..., label_smoothing=smoothing), the mean."""
    z = torch.tensor(logits, dtype=torch.float64, requires_grad=True)
    loss = F.cross_entropy(z.reshape(-1, z.shape[-1]), torch.as_tensor(targets).reshape(-1),
                           label_smoothing=float(smoothing))
    loss.backward()
    return z.grad.numpy()


def _softmax(logits):
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _one_hot(targets, n_vocab):
    return np.eye(n_vocab)[targets]


def _unsmoothed(logits, targets, smoothing):
    return (_softmax(logits) - _one_hot(targets, logits.shape[-1])) / np.size(targets)


def _smoothed_over_the_others(logits, targets, smoothing):
    y = _one_hot(targets, logits.shape[-1])
    q = (1 - smoothing) * y + smoothing / (logits.shape[-1] - 1) * (1 - y)
    return (_softmax(logits) - q) / np.size(targets)


def _smoothed_without_the_mean(logits, targets, smoothing):
    q = (1 - smoothing) * _one_hot(targets, logits.shape[-1]) + smoothing / logits.shape[-1]
    return _softmax(logits) - q


def _logit_cases(rng):
    n, vocab = int(rng.integers(2, 7)), int(rng.integers(3, 12))
    smoothing = float(rng.choice([0.05, 0.1, 0.3]))
    logits, targets = rng.normal(size=(n, vocab)) * 3, rng.integers(0, vocab, size=n)
    return [Case((logits, targets, smoothing), f"logits [{n}, {vocab}], smoothing {smoothing}")]


# --- gradient accumulation -------------------------------------------------------------------------

_SMALL = GPTConfig(vocab_size=11, n_ctx=8, n_embd=8, n_head=2, n_layer=1)


def _small_gpt(seed: int) -> GPT:
    """A float64 GPT whose layer-norm gains and biases are not 1 and 0 (every gradient matters)."""
    model = initial_model(lambda: GPT(_SMALL), seed, "float64")
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model


def _autograd_loss_and_grads(ids, targets, params, config, n_micro):
    """torch autograd on the whole batch at once (n_micro plays no part): (loss, *gradients)."""
    model = GPT.from_params(config, params, device="cpu").double()
    _, loss = model(torch.as_tensor(ids), torch.as_tensor(targets))
    loss.backward()
    grads = torch_state_to_params({n: p.grad for n, p in model.named_parameters()}, config)
    return (loss.item(), *_in_name_order(grads))


def _in_name_order(grads):
    flat = flatten_params(grads)
    return [flat[name] for name in sorted(flat)]


def _as_loss_and_gradients(function):
    """The reader's (loss, nested grads) as (loss, *gradients), gradients in name order."""

    def call(ids, targets, params, config, n_micro):
        loss, grads = function(ids, targets, params, config, n_micro)
        return (float(loss), *_in_name_order(grads))

    return call


def _parts(ids, targets, params, config, n_micro):
    """loss_and_grads of each part of the batch: [(loss, flat gradients)]."""
    parts = zip(np.array_split(ids, n_micro), np.array_split(targets, n_micro))
    return [(loss, flatten_params(grads))
            for loss, grads in (loss_and_grads(i, t, params, config) for i, t in parts)]


def _summed_parts(ids, targets, params, config, n_micro):
    parts = _parts(ids, targets, params, config, n_micro)
    total = {k: sum(g[k] for _, g in parts) for k in parts[0][1]}
    return sum(loss for loss, _ in parts), unflatten_params(total)


def _averaged_parts(ids, targets, params, config, n_micro):
    parts = _parts(ids, targets, params, config, n_micro)
    mean = {k: sum(g[k] for _, g in parts) / len(parts) for k in parts[0][1]}
    return sum(loss for loss, _ in parts) / len(parts), unflatten_params(mean)


def _batch_cases(rng):
    batch = int(rng.integers(3, 8))
    n_micro = int(rng.integers(2, batch + 1))
    n_seq = int(rng.integers(2, _SMALL.n_ctx + 1))
    seed = int(rng.integers(0, 2**31))
    params = _small_gpt(seed).to_params()
    ids = rng.integers(0, _SMALL.vocab_size, size=(batch, n_seq + 1))
    case = (ids[:, :-1], ids[:, 1:], params, _SMALL, n_micro)
    return [Case(case, f"a batch of {batch} sequences of {n_seq} tokens in {n_micro} parts")]


def _fixed_batch(batch, n_seq, n_micro, seed):
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, _SMALL.vocab_size, size=(batch, n_seq + 1))
    return (ids[:, :-1], ids[:, 1:], _small_gpt(seed).to_params(), _SMALL, n_micro)


# --- a training step with a bug --------------------------------------------------------------------


def buggy_training_step(model, optimizer, x, y, lr, grad_clip):
    """One optimizer step on the batch (x, y) [B, T]; returns the batch's loss. It has a bug."""
    for group in optimizer.param_groups:
        group["lr"] = lr
    _, loss = model(x, y)
    loss.backward()
    if grad_clip:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return loss.detach()


def _zero_grad_after_backward(model, optimizer, x, y, lr, grad_clip):
    for group in optimizer.param_groups:
        group["lr"] = lr
    _, loss = model(x, y)
    loss.backward()
    optimizer.zero_grad()
    optimizer.step()
    return loss.detach()


def _clip_after_step(model, optimizer, x, y, lr, grad_clip):
    for group in optimizer.param_groups:
        group["lr"] = lr
    _, loss = model(x, y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    if grad_clip:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    return loss.detach()


def _steps_with(step_function):
    """A run of ``n_steps`` calls of ``step_function`` from a seeded small GPT and AdamW:
    (each step's loss, then every final weight)."""

    def run(seed, n_steps, lr, grad_clip):
        model = _small_gpt(seed)
        optimizer = make_optimizer(model, TrainConfig(weight_decay=0.1))
        batches = np.random.default_rng(seed).integers(0, _SMALL.vocab_size, size=(n_steps, 4, 8))
        losses = []
        for batch in batches:
            x, y = torch.as_tensor(batch[:, :-1]), torch.as_tensor(batch[:, 1:])
            losses.append(float(step_function(model, optimizer, x, y, lr, grad_clip)))
        weights = [p.detach().numpy().copy() for p in model.parameters()]
        return (np.array(losses), *weights)

    return run


def _step_cases(rng):
    lr, clip = float(rng.choice([1e-3, 1e-2])), float(rng.choice([0.0, 0.01, 1.0]))
    seed = int(rng.integers(0, 2**31))
    return [Case((seed, 4, lr, clip), f"4 steps at lr {lr:g}, grad_clip {clip:g}")]


# --- what warmup is for ---------------------------------------------------------------------------

# Set by the calibration in benchmarks: see WARMUP below.
_WARMUP_RUN = TrainConfig(
    n_layer=2, n_head=4, n_embd=32, block_size=32, batch_size=32, max_iters=150, lr=3e-2,
    min_lr=3e-3, warmup_iters=30, eval_interval=0, eval_iters=4, eval_batch_size=32,
    dtype="float64", device="cpu", threads=1,
)


def _warmup_experiment():
    losses = {}
    for label, warmup in (("with", _WARMUP_RUN.warmup_iters), ("without", 0)):
        with tempfile.TemporaryDirectory(prefix="gptlib-exercise-") as out:
            metrics = train(replace(_WARMUP_RUN, warmup_iters=warmup), out, progress=False)
        losses[label] = metrics["val_loss"]
    gap = losses["without"] - losses["with"]
    happened = "higher" if gap > 0.1 else "lower" if gap < -0.1 else "about the same"
    report = (f"validation loss {losses['with']:.1f} with warmup, {losses['without']:.1f} "
              f"without: {happened} without warmup.")
    return happened, report


EXERCISES = {
    "clip_by_global_norm": Exercise(
        title="Gradient clipping by the global norm",
        kind="derive", difficulty=2,
        reference=_torch_clip,
        cases=[
            Case(([np.array([3.0, 4.0])], 10.0), "one gradient of norm 5 and max_norm 10"),
            Case(([np.array([3.0]), np.array([[4.0]])], 1.0),
                 "two gradients whose global norm is 5, max_norm 1"),
            Case(([np.full((2, 2), 100.0), np.full(3, 0.01)], 1.0),
                 "one huge gradient and one tiny one, max_norm 1"),
            Case(([np.zeros((2, 3)), np.zeros(4)], 1.0), "gradients that are all zero"),
        ],
        generate=_gradients, n_generated=6,
        mistakes=[
            Mistake(_clip_each_tensor, "This clips each tensor by its own norm: the global norm "
                    "is the norm of all the gradients together, as one long vector."),
            Mistake(_always_rescale, "A gradient whose global norm is already below max_norm "
                    "passes unchanged."),
            Mistake(_sum_of_norms, "The global norm is the square root of the sum of the squares "
                    "of every entry, not a sum of norms."),
        ],
        atol=1e-9, rtol=1e-5,
    ),
    "smoothed_loss_grad": Exercise(
        title="The gradient of a label-smoothed loss",
        kind="variant", difficulty=2,
        reference=_smoothed_grad,
        cases=[
            Case((np.zeros((1, 4)), np.array([2]), 0.1),
                 "one position, uniform logits over 4 tokens, smoothing 0.1"),
            Case((np.array([[2.0, -1.0, 0.5]]), np.array([0]), 0.0), "smoothing 0"),
            Case((np.array([[1e4, 0.0, -1e4]]), np.array([1]), 0.2), "huge logits, smoothing 0.2"),
            Case((_rng.normal(size=(2, 3, 5)), _rng.integers(0, 5, size=(2, 3)), 0.1),
                 "a batch: logits [2, 3, 5], targets [2, 3]"),
        ],
        generate=_logit_cases, n_generated=6,
        mistakes=[
            Mistake(_unsmoothed, "This is the gradient without smoothing: which distribution "
                    "does label smoothing put in place of the one-hot target?"),
            Mistake(_smoothed_over_the_others, "PyTorch spreads the smoothing evenly over all V "
                    "tokens, the right one included."),
            Mistake(_smoothed_without_the_mean, "The loss is a mean over the positions: each "
                    "position's gradient is divided by their number."),
        ],
        atol=1e-10, rtol=1e-7,
    ),
    "accumulate_gradients": Exercise(
        title="Gradient accumulation equals one larger batch",
        kind="variant", difficulty=3,
        reference=_autograd_loss_and_grads,
        adapter=_as_loss_and_gradients,
        cases=[
            Case(_fixed_batch(4, 5, 1, 1), "a batch of 4 sequences in 1 part"),
            Case(_fixed_batch(4, 5, 2, 2), "a batch of 4 sequences in 2 equal parts"),
            Case(_fixed_batch(5, 3, 2, 3), "a batch of 5 sequences in parts of 3 and 2"),
            Case(_fixed_batch(3, 4, 3, 4), "a batch of 3 sequences in 3 parts of one"),
        ],
        generate=_batch_cases, n_generated=3,
        mistakes=[
            Mistake(_as_loss_and_gradients(_summed_parts), "Each part's loss_and_grads is already "
                    "a mean over that part: adding the parts counts the batch several times."),
            Mistake(_as_loss_and_gradients(_averaged_parts), "Parts of unequal size: the mean "
                    "over the batch weighs each part by its share of the sequences."),
        ],
        atol=1e-10, rtol=1e-7,
    ),
    "fix_training_step": Exercise(
        title="Fix the training step",
        kind="debug", difficulty=2,
        reference=_steps_with(training_step),
        adapter=_steps_with,
        cases=[
            Case((0, 1, 1e-2, 1.0), "one step at lr 0.01, grad_clip 1"),
            Case((1, 4, 1e-2, 1.0), "4 steps at lr 0.01, grad_clip 1"),
            Case((2, 4, 1e-3, 0.0), "4 steps at lr 0.001 without clipping"),
            Case((3, 3, 1e-2, 0.01), "3 steps at lr 0.01, grad_clip 0.01 (clipping bites)"),
        ],
        generate=_step_cases, n_generated=2,
        mistakes=[
            Mistake(_steps_with(buggy_training_step), "This still behaves like the given code: "
                    "compare the gradient each step uses with the gradient of that step's batch."),
            Mistake(_steps_with(_zero_grad_after_backward), "The gradients are cleared after "
                    "backward(), so AdamW never sees them."),
            Mistake(_steps_with(_clip_after_step), "Clipping after the step changes nothing the "
                    "step used."),
        ],
        atol=1e-10, rtol=1e-7,
    ),
    "warmup": Prediction(
        title="What warmup is for",
        options=("higher", "about the same", "lower"),
        experiment=_warmup_experiment,
        difficulty=2,
    ),
}
