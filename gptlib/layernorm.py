"""Chapter 5: layer normalisation.

Each position's vector is shifted to mean 0 and scaled to variance 1, then scaled by ``g``
(gamma) and shifted by ``b`` (beta), both learned. GPT-2 uses eps = 1e-5.
"""

import numpy as np
import torch
from torch import nn

from .weights import load_params

# --- NumPy ---------------------------------------------------------------------------------


def normalize(x, eps=1e-5):
    """[..., n] -> (x_hat [..., n], inv_std [..., 1]): each row at mean 0 and variance ~1.

    inv_std = 1 / sqrt(var + eps) is returned too, because the backward pass needs it.
    """
    mean = x.mean(axis=-1, keepdims=True)  # [..., 1]
    var = x.var(axis=-1, keepdims=True)  # [..., 1], the biased variance, as PyTorch uses
    inv_std = 1.0 / np.sqrt(var + eps)  # eps keeps a constant row (var = 0) finite
    return (x - mean) * inv_std, inv_std


def layer_norm(x, g, b, eps=1e-5):
    """[..., n_embd] -> [..., n_embd], normalised over the last axis."""
    x_hat, _ = normalize(x, eps)
    return g * x_hat + b


def layer_norm_backward(d_out, x, g, b, eps=1e-5):
    """Gradients of ``layer_norm``: d_out [..., n] -> (dx [..., n], {"g": [n], "b": [n]}).

    With y = g * x_hat + b and d_hat = d_out * g (the gradient reaching x_hat), each row gets

        dx = inv_std * (d_hat - mean(d_hat) - x_hat * mean(d_hat * x_hat)),

    means over the row: the two subtractions remove the parts of d_hat that would change the
    row's mean or its variance, which normalisation undoes anyway.
    """
    x_hat, inv_std = normalize(x, eps)  # [..., n], [..., 1]
    n = x.shape[-1]
    rows = (-1, n)
    dg = (d_out * x_hat).reshape(rows).sum(axis=0)  # [n], summed over every position
    db = d_out.reshape(rows).sum(axis=0)  # [n]
    d_hat = d_out * g  # [..., n]
    dx = inv_std * (
        d_hat
        - d_hat.mean(axis=-1, keepdims=True)
        - x_hat * (d_hat * x_hat).mean(axis=-1, keepdims=True)
    )
    return dx, {"g": dg, "b": db}


# --- PyTorch -------------------------------------------------------------------------------
# torch.nn.LayerNorm(n_embd, eps=1e-5) computes the same thing; gptlib.model uses it directly,
# with weight = g and bias = b. The module below spells it out, for teaching; its parameters
# have nn.LayerNorm's names, so the two load each other's state dicts.


class LayerNorm(nn.Module):
    """Layer norm written out: [..., n_embd] -> [..., n_embd], like nn.LayerNorm(n_embd)."""

    def __init__(self, n_embd: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(n_embd))  # g
        self.bias = nn.Parameter(torch.zeros(n_embd))  # b

    def forward(self, x):
        mean = x.mean(dim=-1, keepdim=True)
        var = x.var(dim=-1, keepdim=True, unbiased=False)  # biased, as nn.LayerNorm
        return self.weight * (x - mean) / torch.sqrt(var + self.eps) + self.bias

    @classmethod
    def from_params(cls, g, b, eps: float = 1e-5) -> "LayerNorm":
        """The module holding NumPy g and b (float32 or float64, kept)."""
        return load_params(cls(len(g), eps), {"g": g, "b": b})
