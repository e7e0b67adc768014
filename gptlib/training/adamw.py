"""Chapter 8: the AdamW optimizer, written out in NumPy (``torch.optim.AdamW`` in PyTorch)."""

from __future__ import annotations

import numpy as np

from ..weights import flatten_params, unflatten_params


def adamw_init(params) -> dict:
    """AdamW's state: step count and two running averages per parameter, all zeros at the start."""
    flat = flatten_params(params)
    return {
        "step": 0,
        "m": {k: np.zeros_like(v) for k, v in flat.items()},  # mean of gradients
        "v": {k: np.zeros_like(v) for k, v in flat.items()},  # mean of squared gradients
    }


def adamw_update(param, grad, m, v, step, lr, beta1=0.9, beta2=0.95, eps=1e-8, weight_decay=0.0):
    """One AdamW step for one array; ``step`` counts from 1. Returns (param, m, v), new arrays.

    Adam divides a running mean of the gradient by the root of a running mean of its square, so
    every parameter moves by about ``lr`` whatever the gradient's scale. The bias corrections
    undo the zero initialisation of m and v. AdamW's weight decay shrinks the parameter directly
    (``param *= 1 - lr * wd``) instead of adding ``wd * param`` to the gradient, as Adam + L2
    would.
    """
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad**2
    m_hat = m / (1 - beta1**step)
    v_hat = v / (1 - beta2**step)
    param = param * (1 - lr * weight_decay)  # decoupled weight decay
    param = param - lr * m_hat / (np.sqrt(v_hat) + eps)
    return param, m, v


def adamw_step(params, grads, state, lr, beta1=0.9, beta2=0.95, eps=1e-8, weight_decay=0.1):
    """AdamW over a whole model: returns new params; ``state`` (from ``adamw_init``) is updated.

    Weight decay applies to matrices only (ndim >= 2, embeddings included); biases and
    layer-norm gains are not pulled toward zero. That is GPT-1's rule and nanoGPT's (the GPT-2
    paper publishes no optimizer settings).
    """
    state["step"] += 1
    flat_g = flatten_params(grads)
    new = {}
    for name, p in flatten_params(params).items():
        wd = weight_decay if np.ndim(p) >= 2 else 0.0
        new[name], state["m"][name], state["v"][name] = adamw_update(
            p, flat_g[name], state["m"][name], state["v"][name], state["step"], lr, beta1, beta2,
            eps, wd,
        )
    return unflatten_params(new)
