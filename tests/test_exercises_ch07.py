"""Chapter 7's self-checking exercises: the chapter's solutions pass, typical mistakes fail with a useful message."""

import math

import numpy as np
import pytest

from gptlib.exercises import ExerciseFailed, check
from gptlib.exercises import ch07_training

# --- the solutions shown in the chapter (NumPy only, not gptlib) ------------------------------------


def cross_entropy(logits, targets):
    shifted = logits - logits.max(axis=-1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    return float(-np.take_along_axis(logp, targets[..., None], axis=-1).mean())


def cross_entropy_backward(logits, targets):
    shifted = logits - logits.max(axis=-1, keepdims=True)
    probs = np.exp(shifted) / np.exp(shifted).sum(axis=-1, keepdims=True)
    one_hot = np.eye(logits.shape[-1])[targets]
    return (probs - one_hot) / targets.size


def bits_per_char(loss_nats, chars_per_token):
    return loss_nats / math.log(2) / chars_per_token


def adamw_step(param, grad, m, v, step, lr, weight_decay, beta1=0.9, beta2=0.95, eps=1e-8):
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad**2
    m_hat, v_hat = m / (1 - beta1**step), v / (1 - beta2**step)
    param = param * (1 - lr * weight_decay) - lr * m_hat / (np.sqrt(v_hat) + eps)
    return param, m, v


def lr_schedule(step, lr, min_lr, warmup_iters, max_iters):
    if step < warmup_iters:
        return lr * (step + 1) / warmup_iters
    if step >= max_iters:
        return min_lr
    progress = (step - warmup_iters) / (max_iters - warmup_iters)
    return min_lr + 0.5 * (1 + math.cos(math.pi * progress)) * (lr - min_lr)


SOLUTIONS = {
    "cross_entropy": cross_entropy,
    "cross_entropy_backward": cross_entropy_backward,
    "bits_per_char": bits_per_char,
    "adamw_step": adamw_step,
    "lr_schedule": lr_schedule,
}


def test_there_are_at_least_three_exercises_and_each_has_a_solution_here():
    assert len(ch07_training.EXERCISES) >= 3
    assert SOLUTIONS.keys() == ch07_training.EXERCISES.keys()


@pytest.mark.parametrize("name", SOLUTIONS)
def test_the_chapter_solutions_pass(name, capsys):
    result = check(f"ch07.{name}", SOLUTIONS[name])
    assert result.passed, result.message
    assert "✓" in capsys.readouterr().out


# --- typical mistakes -----------------------------------------------------------------------------------


def ce_without_shift(logits, targets):
    probs = np.exp(logits) / np.exp(logits).sum(axis=-1, keepdims=True)
    return float(-np.log(np.take_along_axis(probs, targets[..., None], axis=-1)).mean())


def ce_sum_not_mean(logits, targets):
    return cross_entropy(logits, targets) * targets.size


def ce_grad_without_mean(logits, targets):
    return cross_entropy_backward(logits, targets) * targets.size


def ce_grad_softmax_only(logits, targets):
    return cross_entropy_backward(logits, targets) + np.eye(logits.shape[-1])[targets] / targets.size


def bpc_log10(loss_nats, chars_per_token):
    return loss_nats / math.log(10) / chars_per_token


def adam_no_bias_correction(param, grad, m, v, step, lr, weight_decay):
    m = 0.9 * m + 0.1 * grad
    v = 0.95 * v + 0.05 * grad**2
    return param * (1 - lr * weight_decay) - lr * m / (np.sqrt(v) + 1e-8), m, v


def adam_l2_not_decoupled(param, grad, m, v, step, lr, weight_decay):
    return adamw_step(param, grad + weight_decay * param, m, v, step, lr, 0.0)


def adam_returns_param_only(param, grad, m, v, step, lr, weight_decay):
    return adamw_step(param, grad, m, v, step, lr, weight_decay)[0]


def lr_warmup_from_zero(step, lr, min_lr, warmup_iters, max_iters):
    if step < warmup_iters:
        return lr * step / warmup_iters
    return lr_schedule(step, lr, min_lr, warmup_iters, max_iters)


def lr_cosine_to_zero(step, lr, min_lr, warmup_iters, max_iters):
    return lr_schedule(step, lr, 0.0, warmup_iters, max_iters)


def raises(*args):
    raise IndexError("oops")


@pytest.mark.parametrize(
    "name, wrong, message",
    [
        ("cross_entropy", ce_without_shift, "huge logits (about 1e4): exp overflows unless you shift, the result contains inf or nan"),
        ("cross_entropy", ce_sum_not_mean, "for 5 positions, vocabulary 7, 1 of 1 values are wrong"),
        ("cross_entropy_backward", ce_grad_without_mean, "5 positions, vocabulary 7 (remember the mean)"),
        ("cross_entropy_backward", ce_grad_softmax_only, "values are wrong"),
        ("cross_entropy_backward", raises, "your function raised IndexError: oops"),
        ("bits_per_char", bpc_log10, "ln 2 nats per character is 1 bit"),
        ("adamw_step", adam_no_bias_correction, "the first step (step = 1), no weight decay, item 0"),
        ("adamw_step", adam_l2_not_decoupled, "the first step of a matrix with weight decay 0.1"),
        ("adamw_step", adam_returns_param_only, "expected a tuple"),
        ("lr_schedule", lr_warmup_from_zero, "the very first step (it must not be 0)"),
        ("lr_schedule", lr_cosine_to_zero, "half-way through the decay"),
    ],
)
def test_typical_mistakes_fail_with_a_specific_message(name, wrong, message):
    with pytest.raises(ExerciseFailed) as failed:  # the check cell fails, with the message
        check(f"ch07.{name}", wrong)
    assert str(failed.value).startswith("✗") and message in str(failed.value), str(failed.value)


def test_not_implemented_is_reported_as_such():
    def todo(*args):
        raise NotImplementedError

    result = check("ch07.adamw_step", todo, quiet=True)
    assert not result.passed and "not implemented yet" in result.message
