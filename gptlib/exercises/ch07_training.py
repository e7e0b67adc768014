"""Exercises for chapter 7 (training): the loss, its gradient, bits per character, one AdamW step, the schedule."""

import math

import numpy as np

from ..training import TrainConfig, adamw_update, cross_entropy, cross_entropy_backward, lr_at
from . import Case, Exercise

_rng = np.random.default_rng(7)


def _logits(*shape, scale=1.0):
    return np.round(_rng.normal(size=shape) * scale, 3)


def _bits_per_char(loss_nats, chars_per_token):
    """A loss in nats per token -> bits per character: divide by ln 2, then by the characters per token."""
    return loss_nats / math.log(2) / chars_per_token


def _adamw_one_step(param, grad, m, v, step, lr, weight_decay):
    return adamw_update(param, grad, m, v, step, lr, beta1=0.9, beta2=0.95, eps=1e-8, weight_decay=weight_decay)


def _lr(step, lr, min_lr, warmup_iters, max_iters):
    return lr_at(step, TrainConfig(lr=lr, min_lr=min_lr, warmup_iters=warmup_iters, max_iters=max_iters))


def _adam_case(shape, step, lr, wd, zero_grad=False):
    param = np.round(_rng.normal(size=shape), 3)
    grad = np.zeros(shape) if zero_grad else np.round(_rng.normal(size=shape), 3)
    m = np.round(_rng.normal(size=shape) * 0.1, 3) if step > 1 else np.zeros(shape)
    v = np.round(np.abs(_rng.normal(size=shape)) * 0.01, 4) if step > 1 else np.zeros(shape)
    return (param, grad, m, v, step, lr, wd)


EXERCISES = {
    "cross_entropy": Exercise(
        title="cross-entropy loss",
        reference=cross_entropy,
        cases=[
            Case((np.zeros((1, 4)), np.array([2])), "one position, uniform logits over 4 tokens (the loss is ln 4)"),
            Case((_logits(5, 7), _rng.integers(0, 7, size=5)), "5 positions, vocabulary 7"),
            Case((_logits(2, 3, 6), _rng.integers(0, 6, size=(2, 3))), "a batch: logits [2, 3, 6], targets [2, 3]"),
            Case((_logits(4, 5, scale=1e4), _rng.integers(0, 5, size=4)), "huge logits (about 1e4): exp overflows unless you shift"),
        ],
    ),
    "cross_entropy_backward": Exercise(
        title="the gradient of the cross-entropy with respect to the logits",
        reference=cross_entropy_backward,
        cases=[
            Case((np.zeros((1, 4)), np.array([2])), "one position, uniform logits over 4 tokens"),
            Case((_logits(5, 7), _rng.integers(0, 7, size=5)), "5 positions, vocabulary 7 (remember the mean)"),
            Case((_logits(2, 3, 6), _rng.integers(0, 6, size=(2, 3))), "a batch: logits [2, 3, 6]"),
            Case((_logits(3, 5, scale=1e4), _rng.integers(0, 5, size=3)), "huge logits (about 1e4)"),
        ],
    ),
    "bits_per_char": Exercise(
        title="loss in nats per token to bits per character",
        reference=_bits_per_char,
        cases=[
            Case((math.log(2), 1.0), "ln 2 nats per character is 1 bit"),
            Case((math.log(65), 1.0), "uniform guess over 65 characters"),
            Case((1.5, 1.0), "a character-level model at 1.5 nats"),
            Case((3.5, 2.4), "a BPE model at 3.5 nats per token, 2.4 characters per token"),
        ],
    ),
    "adamw_step": Exercise(
        title="one AdamW step",
        reference=_adamw_one_step,
        cases=[
            Case(_adam_case((3,), 1, 1e-2, 0.0), "the first step (step = 1), no weight decay"),
            Case(_adam_case((2, 3), 1, 1e-2, 0.1), "the first step of a matrix with weight decay 0.1"),
            Case(_adam_case((2, 3), 7, 1e-3, 0.1), "step 7 with non-zero m and v"),
            Case(_adam_case((4,), 3, 1e-2, 0.5, zero_grad=True), "a zero gradient: only the moments and the decay move it"),
        ],
        atol=1e-9, rtol=1e-7,
    ),
    "lr_schedule": Exercise(
        title="warmup then cosine decay",
        reference=_lr,
        cases=[
            Case((0, 1e-3, 1e-4, 10, 100), "the very first step (it must not be 0)"),
            Case((9, 1e-3, 1e-4, 10, 100), "the last warmup step (the peak, lr)"),
            Case((55, 1e-3, 1e-4, 10, 100), "half-way through the decay"),
            Case((100, 1e-3, 1e-4, 10, 100), "the end of the schedule (min_lr)"),
            Case((250, 1e-3, 1e-4, 10, 100), "past the end (stays at min_lr)"),
            Case((3, 6e-4, 0.0, 0, 50), "no warmup at all"),
        ],
        atol=1e-12, rtol=1e-9,
    ),
}
