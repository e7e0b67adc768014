"""Chapter 2: token and position embeddings.

A token id picks a row of ``wte`` (a one-hot vector times the matrix, without building the
one-hot); its position picks a row of ``wpe``. The sum is the start of the residual stream.
"""

import torch
from torch import nn

# --- NumPy ---------------------------------------------------------------------------------


def embed(ids, wte, wpe):
    """[n_seq] int ids -> [n_seq, n_embd]: token embedding plus learned position embedding."""
    n_seq = len(ids)
    return wte[ids] + wpe[:n_seq]  # [n_seq, n_embd] + [n_seq, n_embd]


# --- PyTorch -------------------------------------------------------------------------------


class Embeddings(nn.Module):
    """The same lookup as ``embed``, for batches: [B, T] ids -> [B, T, n_embd]."""

    def __init__(self, vocab_size: int, n_ctx: int, n_embd: int):
        super().__init__()
        self.wte = nn.Embedding(vocab_size, n_embd)
        self.wpe = nn.Embedding(n_ctx, n_embd)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(ids.shape[1], device=ids.device)  # [T]
        return self.wte(ids) + self.wpe(positions)  # [B, T, C] + [T, C]
