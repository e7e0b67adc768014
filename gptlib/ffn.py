"""Chapter 4: the position-wise feed-forward network.

Two linear layers with a GELU between them; the hidden layer is 4x wider than the residual
stream. GPT-2 stores each weight as [in, out], so ``x @ w + b`` needs no transpose.

Each forward function has a ``*_backward`` twin: given dL/d(output) and the forward's inputs,
it returns dL/d(input) (and the parameter gradients), recomputing what it needs by calling
the forward functions.
"""

import math

import numpy as np
from torch import nn

from .weights import load_params

# --- NumPy ---------------------------------------------------------------------------------

_erf = np.vectorize(math.erf, otypes=[np.float64])  # NumPy has no erf; math.erf is exact
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_GELU_CUBIC = 0.044715  # the coefficient of x**3 in GPT-2's tanh approximation


def linear(x, w, b):
    """[..., n_in] -> [..., n_out], with w: [n_in, n_out] and b: [n_out]."""
    return x @ w + b


def linear_backward(d_out, x, w, b):
    """Gradients of ``linear``: d_out [..., n_out] -> (dx [..., n_in], {"w": [n_in, n_out], "b"}).

    y = x @ w + b, so dx = d_out @ w.T, and every row of x (every position, every sequence)
    adds its outer product x_row^T d_out_row to dw and its d_out_row to db.
    """
    n_in, n_out = w.shape
    dx = d_out @ w.T  # [..., n_out] @ [n_out, n_in] -> [..., n_in]
    x_rows = x.reshape(-1, n_in)  # [N, n_in], N = all leading axes together
    d_rows = d_out.reshape(-1, n_out)  # [N, n_out]
    dw = x_rows.T @ d_rows  # [n_in, N] @ [N, n_out] -> [n_in, n_out]: sums over the N rows
    db = d_rows.sum(axis=0)  # [n_out]
    return dx, {"w": dw, "b": db}


def gelu_exact(x):
    """GELU(x) = x * Phi(x), Phi the standard normal CDF."""
    return (0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))).astype(x.dtype)


def gelu_exact_backward(d_out, x):
    """Gradient of ``gelu_exact``: d/dx [x Phi(x)] = Phi(x) + x phi(x), phi the normal density."""
    cdf = 0.5 * (1.0 + _erf(x / math.sqrt(2.0)))  # Phi(x)
    pdf = np.exp(-0.5 * x**2) / math.sqrt(2.0 * math.pi)  # phi(x)
    return (d_out * (cdf + x * pdf)).astype(x.dtype)


def gelu(x):
    """The tanh approximation of GELU that GPT-2 was trained with."""
    return 0.5 * x * (1.0 + np.tanh(_SQRT_2_OVER_PI * (x + _GELU_CUBIC * x**3)))


def gelu_backward(d_out, x):
    """Gradient of ``gelu`` (tanh approximation), by the product and chain rules.

    With u = sqrt(2/pi) (x + 0.044715 x^3) and t = tanh(u):
    d/dx [0.5 x (1 + t)] = 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2).
    """
    t = np.tanh(_SQRT_2_OVER_PI * (x + _GELU_CUBIC * x**3))
    du_dx = _SQRT_2_OVER_PI * (1.0 + 3.0 * _GELU_CUBIC * x**2)
    return d_out * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t**2) * du_dx)


def ffn(x, c_fc, c_proj):
    """[n_seq, n_embd] -> [n_seq, 4*n_embd] -> [n_seq, n_embd]."""
    hidden = gelu(linear(x, **c_fc))  # [n_seq, 4*n_embd]
    return linear(hidden, **c_proj)  # [n_seq, n_embd]


def ffn_backward(d_out, x, c_fc, c_proj):
    """Gradients of ``ffn``: d_out [..., n_embd] -> (dx, {"c_fc": {"w", "b"}, "c_proj": ...}).

    Walk the forward backwards: c_proj, then GELU, then c_fc.
    """
    pre = linear(x, **c_fc)  # [..., 4*n_embd], GELU's input
    hidden = gelu(pre)  # [..., 4*n_embd], c_proj's input
    d_hidden, d_proj = linear_backward(d_out, hidden, **c_proj)  # [..., 4*n_embd]
    d_pre = gelu_backward(d_hidden, pre)  # [..., 4*n_embd]
    dx, d_fc = linear_backward(d_pre, x, **c_fc)  # [..., n_embd]
    return dx, {"c_fc": d_fc, "c_proj": d_proj}


# --- PyTorch -------------------------------------------------------------------------------


class MLP(nn.Module):
    """The same network for batches: [B, T, C] -> [B, T, C]."""

    def __init__(self, n_embd: int, dropout: float = 0.0):
        super().__init__()
        self.c_fc = nn.Linear(n_embd, 4 * n_embd)
        self.gelu = nn.GELU(approximate="tanh")
        self.c_proj = nn.Linear(4 * n_embd, n_embd)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))

    @classmethod
    def from_params(cls, c_fc, c_proj) -> "MLP":
        """The module holding GPT-2-layout NumPy weights (float32 or float64, kept)."""
        return load_params(cls(c_fc["w"].shape[0]), {"c_fc": c_fc, "c_proj": c_proj})
