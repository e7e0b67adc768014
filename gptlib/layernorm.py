"""Chapter 5: layer normalisation.

Each position's vector is shifted to mean 0 and scaled to variance 1, then scaled by ``g``
(gamma) and shifted by ``b`` (beta), both learned. GPT-2 uses eps = 1e-5.
"""

import numpy as np

# --- NumPy ---------------------------------------------------------------------------------


def layer_norm(x, g, b, eps=1e-5):
    """[..., n_embd] -> [..., n_embd], normalised over the last axis."""
    mean = x.mean(axis=-1, keepdims=True)  # [..., 1]
    var = x.var(axis=-1, keepdims=True)  # [..., 1], the biased variance, as PyTorch uses
    x_hat = (x - mean) / np.sqrt(var + eps)  # eps keeps a constant row finite
    return g * x_hat + b


# --- PyTorch -------------------------------------------------------------------------------
# torch.nn.LayerNorm(n_embd, eps=1e-5) computes the same thing; gptlib.model uses it directly,
# with weight = g and bias = b.
