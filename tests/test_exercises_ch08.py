"""Chapter 8's self-checking exercises: the chapter's solutions pass, typical mistakes fail with a
message that names the wrong idea (and never the expected values)."""

import numpy as np
import pytest
import torch

from gptlib.exercises import ExerciseFailed, check
from gptlib.exercises import ch08_training
from gptlib.training import loss_and_grads

# --- the solutions shown in the chapter (NumPy and plain torch, not gptlib's functions) ----------


def cross_entropy_backward(logits, targets):
    shifted = logits - logits.max(axis=-1, keepdims=True)
    probs = np.exp(shifted) / np.exp(shifted).sum(axis=-1, keepdims=True)
    return (probs - np.eye(logits.shape[-1])[targets]) / targets.size


def one_adamw_step(param, grad, m, v, step, lr, weight_decay, beta1=0.9, beta2=0.95, eps=1e-8):
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad**2
    m_hat, v_hat = m / (1 - beta1**step), v / (1 - beta2**step)
    return param * (1 - lr * weight_decay) - lr * m_hat / (np.sqrt(v_hat) + eps), m, v


def clip_by_global_norm(grads, max_norm):
    norm = np.sqrt(sum((g**2).sum() for g in grads))
    scale = min(1.0, max_norm / (norm + 1e-6))
    return [g * scale for g in grads]


def accumulated_loss_and_grads(ids, targets, params, config, n_micro):
    total_loss, total = 0.0, None
    for part_ids, part_targets in zip(np.array_split(ids, n_micro), np.array_split(targets, n_micro)):
        share = len(part_ids) / len(ids)
        loss, grads = loss_and_grads(part_ids, part_targets, params, config)
        total_loss += share * loss
        scaled = _scale(grads, share)
        total = scaled if total is None else _add(total, scaled)
    return total_loss, total


def _scale(tree, k):
    if isinstance(tree, dict):
        return {key: _scale(value, k) for key, value in tree.items()}
    if isinstance(tree, list):
        return [_scale(value, k) for value in tree]
    return tree * k


def _add(a, b):
    if isinstance(a, dict):
        return {key: _add(a[key], b[key]) for key in a}
    if isinstance(a, list):
        return [_add(x, y) for x, y in zip(a, b)]
    return a + b


def fixed_training_step(model, optimizer, x, y, lr, grad_clip):
    for group in optimizer.param_groups:
        group["lr"] = lr
    _, loss = model(x, y)
    optimizer.zero_grad()
    loss.backward()
    if grad_clip:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return loss.detach()


SOLUTIONS = {
    "cross_entropy_backward": (cross_entropy_backward,),
    "adamw_step": (one_adamw_step,),
    "clip_by_global_norm": (clip_by_global_norm,),
    "accumulate_gradients": (accumulated_loss_and_grads,),
    "fix_training_step": (fixed_training_step,),
}


def test_every_exercise_has_a_solution_here_and_two_go_beyond_the_chapter():
    assert SOLUTIONS.keys() == ch08_training.EXERCISES.keys()
    kinds = [e.kind for e in ch08_training.EXERCISES.values()]
    assert sum(k in ("variant", "debug", "predict") for k in kinds) >= 2


@pytest.mark.parametrize("name", SOLUTIONS)
def test_the_chapter_solutions_pass(name, capsys):
    result = check(f"ch08.{name}", *SOLUTIONS[name])
    assert result.passed, result.message
    assert "✓" in capsys.readouterr().out


# --- typical mistakes --------------------------------------------------------------------------


def ce_grad_without_mean(logits, targets):
    return cross_entropy_backward(logits, targets) * targets.size


def ce_grad_without_shift(logits, targets):
    probs = np.exp(logits) / np.exp(logits).sum(axis=-1, keepdims=True)
    return (probs - np.eye(logits.shape[-1])[targets]) / targets.size


def adam_l2_not_decoupled(param, grad, m, v, step, lr, weight_decay):
    return one_adamw_step(param, grad + weight_decay * param, m, v, step, lr, 0.0)


def adam_no_bias_correction(param, grad, m, v, step, lr, weight_decay):
    m = 0.9 * m + 0.1 * grad
    v = 0.95 * v + 0.05 * grad**2
    return param * (1 - lr * weight_decay) - lr * m / (np.sqrt(v) + 1e-8), m, v


def adam_decay_after_the_step(param, grad, m, v, step, lr, weight_decay):
    new, m, v = one_adamw_step(param, grad, m, v, step, lr, 0.0)
    return new * (1 - lr * weight_decay), m, v


def clip_each_tensor(grads, max_norm):
    return [g * min(1.0, max_norm / (np.linalg.norm(g) + 1e-6)) for g in grads]


def clip_always(grads, max_norm):
    norm = np.sqrt(sum((g**2).sum() for g in grads))
    return [g * max_norm / norm for g in grads]


def accumulate_by_summing(ids, targets, params, config, n_micro):
    total_loss, total = 0.0, None
    for part in zip(np.array_split(ids, n_micro), np.array_split(targets, n_micro)):
        loss, grads = loss_and_grads(*part, params, config)
        total_loss += loss
        total = grads if total is None else _add(total, grads)
    return total_loss, total


def accumulate_plain_mean(ids, targets, params, config, n_micro):
    loss, grads = accumulate_by_summing(ids, targets, params, config, n_micro)
    return loss / n_micro, _scale(grads, 1 / n_micro)


def step_unchanged(model, optimizer, x, y, lr, grad_clip):
    return ch08_training.buggy_training_step(model, optimizer, x, y, lr, grad_clip)


def step_clips_before_backward(model, optimizer, x, y, lr, grad_clip):
    """Clips the gradients that zero_grad just removed: the step is never clipped."""
    for group in optimizer.param_groups:
        group["lr"] = lr
    optimizer.zero_grad()
    if grad_clip:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    _, loss = model(x, y)
    loss.backward()
    optimizer.step()
    return loss.detach()


def step_ignores_lr(model, optimizer, x, y, lr, grad_clip):
    return fixed_training_step(model, optimizer, x, y, optimizer.param_groups[0]["lr"], grad_clip)


def raises(*args):
    raise IndexError("oops")


@pytest.mark.parametrize(
    "name, wrong, message",
    [
        ("cross_entropy_backward", ce_grad_without_mean, "divided by their number"),
        ("cross_entropy_backward", ce_grad_without_shift, "huge logits"),
        ("cross_entropy_backward", raises, "your function raised IndexError: oops"),
        ("adamw_step", adam_l2_not_decoupled, "L2 regularisation"),
        ("adamw_step", adam_no_bias_correction, "1 - beta ** step"),
        ("adamw_step", adam_decay_after_the_step, "weight decay"),
        ("clip_by_global_norm", clip_each_tensor, "all the gradients together"),
        ("clip_by_global_norm", clip_always, "passes unchanged"),
        ("accumulate_gradients", accumulate_by_summing, "counts the batch several times"),
        ("accumulate_gradients", accumulate_plain_mean, "share of the sequences"),
        ("fix_training_step", step_unchanged, "behaves like the given code"),
        ("fix_training_step", step_clips_before_backward, "clipping bites"),
        ("fix_training_step", step_ignores_lr, "one step at lr 0.01"),
    ],
)
def test_typical_mistakes_fail_with_a_specific_message(name, wrong, message):
    with pytest.raises(ExerciseFailed) as failed:  # the check cell fails, with the message
        check(f"ch08.{name}", wrong)
    assert str(failed.value).startswith("✗") and message in str(failed.value), str(failed.value)


def test_not_implemented_is_reported_as_such():
    def todo(*args):
        raise NotImplementedError

    result = check("ch08.adamw_step", todo, quiet=True)
    assert not result.passed and "not implemented yet" in result.message
