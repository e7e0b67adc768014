"""Chapter 4: the position-wise feed-forward network.

Two linear layers with a GELU between them; the hidden layer is 4x wider than the residual
stream. GPT-2 stores each weight as [in, out], so ``x @ w + b`` needs no transpose.
"""

import math

import numpy as np
from torch import nn

# --- NumPy ---------------------------------------------------------------------------------

_erf = np.vectorize(math.erf, otypes=[np.float64])  # NumPy has no erf; math.erf is exact


def linear(x, w, b):
    """[..., n_in] -> [..., n_out], with w: [n_in, n_out] and b: [n_out]."""
    return x @ w + b


def gelu_exact(x):
    """GELU(x) = x * Phi(x), Phi the standard normal CDF."""
    return (0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))).astype(x.dtype)


def gelu(x):
    """The tanh approximation of GELU that GPT-2 was trained with."""
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def ffn(x, c_fc, c_proj):
    """[n_seq, n_embd] -> [n_seq, 4*n_embd] -> [n_seq, n_embd]."""
    hidden = gelu(linear(x, **c_fc))  # [n_seq, 4*n_embd]
    return linear(hidden, **c_proj)  # [n_seq, n_embd]


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
