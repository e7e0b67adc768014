"""Chapter 8 exercises: the gradient of the loss, one AdamW step, clipping by the global norm,
gradient accumulation, a training step with a bug.

References: torch autograd of ``F.cross_entropy`` and of ``gptlib.GPT``, ``torch.optim.AdamW``,
torch's ``clip_grad_norm_``, and gptlib's tested ``training_step``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..config import GPTConfig
from ..model import GPT
from ..training import (
    TrainConfig, initial_model, loss_and_grads, make_optimizer, training_step,
)
from ..weights import flatten_params, torch_state_to_params, unflatten_params
from . import Case, Exercise, Mistake

_rng = np.random.default_rng(8)

# --- the gradient of the loss with respect to the logits ------------------------------------------


def _autograd_ce_grad(logits, targets):
    """torch autograd's gradient of the mean F.cross_entropy with respect to the logits."""
    z = torch.tensor(logits, dtype=torch.float64, requires_grad=True)
    F.cross_entropy(z.reshape(-1, z.shape[-1]), torch.as_tensor(targets).reshape(-1)).backward()
    return z.grad.numpy()


def _softmax(logits):
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _without_the_mean(logits, targets):
    return _softmax(logits) - np.eye(logits.shape[-1])[targets]


def _plus_one_hot(logits, targets):
    return (_softmax(logits) + np.eye(logits.shape[-1])[targets]) / np.size(targets)


def _logits(*shape, scale=1.0):
    return _rng.normal(size=shape) * scale


def _logit_cases(rng):
    n, vocab = int(rng.integers(2, 7)), int(rng.integers(3, 12))
    logits, targets = rng.normal(size=(n, vocab)) * 3, rng.integers(0, vocab, size=n)
    return [Case((logits, targets), f"logits [{n}, {vocab}]")]


# --- one AdamW step ----------------------------------------------------------------------------------


def _torch_adamw(param, grad, m, v, step, lr, weight_decay):
    """torch.optim.AdamW (betas 0.9, 0.95, eps 1e-8) from the moments m, v after step - 1 steps:
    (new param, m, v)."""
    p = torch.nn.Parameter(torch.tensor(param, dtype=torch.float64))
    opt = torch.optim.AdamW([p], lr=lr, betas=(0.9, 0.95), eps=1e-8, weight_decay=weight_decay)
    p.grad = torch.tensor(grad, dtype=torch.float64)
    opt.step()  # creates the state; overwrite it with the given moments, then step again
    with torch.no_grad():
        p.copy_(torch.tensor(param, dtype=torch.float64))
    state = opt.state[p]
    state["exp_avg"].copy_(torch.tensor(m, dtype=torch.float64))
    state["exp_avg_sq"].copy_(torch.tensor(v, dtype=torch.float64))
    state["step"].fill_(step - 1)
    opt.step()
    return p.detach().numpy(), state["exp_avg"].numpy(), state["exp_avg_sq"].numpy()


def _adam_case(shape, step, lr, wd, zero_grad=False):
    param = _rng.normal(size=shape)
    grad = np.zeros(shape) if zero_grad else _rng.normal(size=shape)
    m = _rng.normal(size=shape) * 0.1 if step > 1 else np.zeros(shape)
    v = np.abs(_rng.normal(size=shape)) * 0.01 if step > 1 else np.zeros(shape)
    return (param, grad, m, v, step, lr, wd)


def _adam_without_bias_correction(param, grad, m, v, step, lr, weight_decay):
    m = 0.9 * m + 0.1 * grad
    v = 0.95 * v + 0.05 * grad**2
    return param * (1 - lr * weight_decay) - lr * m / (np.sqrt(v) + 1e-8), m, v


def _decay_added_to_the_gradient(param, grad, m, v, step, lr, weight_decay):
    grad = grad + weight_decay * param
    m = 0.9 * m + 0.1 * grad
    v = 0.95 * v + 0.05 * grad**2
    m_hat, v_hat = m / (1 - 0.9**step), v / (1 - 0.95**step)
    return param - lr * m_hat / (np.sqrt(v_hat) + 1e-8), m, v


def _adam_cases(rng):
    step = int(rng.integers(1, 20))
    shape = (int(rng.integers(1, 5)), int(rng.integers(1, 5)))
    param, grad = rng.normal(size=shape), rng.normal(size=shape)
    m = rng.normal(size=shape) * 0.1 if step > 1 else np.zeros(shape)
    v = np.abs(rng.normal(size=shape)) * 0.01 if step > 1 else np.zeros(shape)
    lr, wd = float(rng.choice([1e-3, 1e-2])), float(rng.choice([0.0, 0.1]))
    return [Case((param, grad, m, v, step, lr, wd), f"step {step}, lr {lr:g}, weight decay {wd:g}")]


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


EXERCISES = {
    "cross_entropy_backward": Exercise(
        title="The gradient of the loss with respect to the logits",
        kind="derive", difficulty=1,
        reference=_autograd_ce_grad,
        cases=[
            Case((np.zeros((1, 4)), np.array([2])), "one position, uniform logits over 4 tokens"),
            Case((_logits(5, 7), _rng.integers(0, 7, size=5)), "5 positions, vocabulary 7"),
            Case((_logits(2, 3, 6), _rng.integers(0, 6, size=(2, 3))), "a batch: logits [2, 3, 6]"),
            Case((_logits(3, 5, scale=1e4), _rng.integers(0, 5, size=3)), "huge logits (about 1e4)"),
        ],
        generate=_logit_cases, n_generated=4,
        mistakes=[
            Mistake(_without_the_mean, "The loss is the mean over the positions: each position's "
                    "gradient is divided by their number."),
            Mistake(_plus_one_hot, "The gradient of -log p(target) lowers the target's logit: "
                    "softmax minus the one-hot target, not plus."),
        ],
        atol=1e-10, rtol=1e-7,
    ),
    "adamw_step": Exercise(
        title="One AdamW step",
        kind="derive", difficulty=2,
        reference=_torch_adamw,
        cases=[
            Case(_adam_case((3,), 1, 1e-2, 0.0), "the first step (step = 1), no weight decay"),
            Case(_adam_case((2, 3), 1, 1e-2, 0.1), "the first step of a matrix, weight decay 0.1"),
            Case(_adam_case((2, 3), 7, 1e-3, 0.1), "step 7 with non-zero m and v"),
            Case(_adam_case((4,), 3, 1e-2, 0.5, zero_grad=True),
                 "a zero gradient: only the moments and the decay move the weights"),
        ],
        generate=_adam_cases, n_generated=4,
        mistakes=[
            Mistake(_adam_without_bias_correction, "Early steps: m and v start at zero, so they "
                    "are too small until they are divided by 1 - beta ** step."),
            Mistake(_decay_added_to_the_gradient, "That is L2 regularisation inside Adam: AdamW "
                    "decays the weights directly, outside the division by sqrt(v)."),
        ],
        atol=1e-10, rtol=1e-7,
    ),
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
}
