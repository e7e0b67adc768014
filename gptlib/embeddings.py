"""Chapter 2: token and position embeddings.

A token id picks a row of ``wte`` (a one-hot vector times the matrix, without building the
one-hot); its position picks a row of ``wpe``. The sum is the start of the residual stream.

Backward: a lookup copies rows, so its gradient adds rows back. Every position sends its
gradient to the row of ``wte`` it read (a scatter-add: a token that occurs twice gets the sum
of both gradients) and to the row of ``wpe`` for its position.
"""

import numpy as np
import torch
from torch import nn

from .weights import load_params

# --- NumPy ---------------------------------------------------------------------------------


def one_hot(ids, vocab_size, dtype=np.float32):
    """[..., n_seq] int ids -> [..., n_seq, vocab_size] rows of zeros with a single 1.

    Only for teaching: ``one_hot(ids, V) @ wte`` equals ``wte[ids]`` but costs V times more.
    """
    return (np.asarray(ids)[..., None] == np.arange(vocab_size)).astype(dtype)  # [..., n_seq, V]


def embed(ids, wte, wpe):
    """[n_seq] int ids -> [n_seq, n_embd]: token embedding plus learned position embedding.

    A batch of sequences, ids [B, n_seq], gives [B, n_seq, n_embd] the same way.
    """
    n_seq = np.shape(ids)[-1]
    return wte[ids] + wpe[:n_seq]  # [..., n_seq, n_embd] + [n_seq, n_embd] (broadcast over batch)


def sinusoidal_positions(n_ctx, n_embd):
    """The original Transformer's fixed position table: [n_ctx, n_embd], nothing learned.

    Channels 2i and 2i + 1 hold the sine and the cosine of pos / 10000^(2i / n_embd): one wave
    per pair of channels, its wavelength growing geometrically from 2 pi to 10000 * 2 pi.
    GPT-1 and GPT-2 learn ``wpe`` instead; chapter 2 compares the two.
    """
    pos = np.arange(n_ctx)[:, None]  # [n_ctx, 1]
    pair = np.arange(n_embd) // 2  # [n_embd]: channels 2i and 2i + 1 share frequency i
    angles = pos / 10000.0 ** (2 * pair / n_embd)  # [n_ctx, n_embd]
    return np.where(np.arange(n_embd) % 2 == 0, np.sin(angles), np.cos(angles))


def embed_backward(d_out, ids, wte, wpe):
    """Gradients of ``embed``: d_out [..., n_seq, n_embd] -> (d_wte [V, C], d_wpe [n_ctx, C]).

    ids are integers, so there is no gradient for them; only the two tables learn.
    """
    ids = np.asarray(ids)
    n_seq, n_embd = np.shape(d_out)[-2:]
    d_out = d_out.reshape(-1, n_seq, n_embd)  # [B, n_seq, n_embd], B = 1 for a single sequence

    d_wte = np.zeros_like(wte)  # rows of tokens that did not occur get no gradient
    # np.add.at adds once per occurrence; d_wte[ids] += d_out would keep only the last one.
    np.add.at(d_wte, ids.reshape(-1), d_out.reshape(-1, n_embd))

    d_wpe = np.zeros_like(wpe)  # positions past n_seq were not used
    d_wpe[:n_seq] = d_out.sum(axis=0)  # position t was read once per sequence in the batch
    return d_wte, d_wpe


# --- PyTorch -------------------------------------------------------------------------------


class Embeddings(nn.Module):
    """The same lookup as ``embed``, for batches: [B, T] ids -> [B, T, n_embd]."""

    def __init__(self, vocab_size: int, n_ctx: int, n_embd: int):
        super().__init__()
        self.wte = nn.Embedding(vocab_size, n_embd)
        self.wpe = nn.Embedding(n_ctx, n_embd)

    def forward(self, ids: torch.Tensor, offset: int = 0) -> torch.Tensor:  # [ch7: offset]
        positions = torch.arange(ids.shape[1], device=ids.device)  # [T]: 0, 1, ..., T-1
        positions = positions + offset  # [ch7] after the n_past positions a KV cache holds
        return self.wte(ids) + self.wpe(positions)  # [B, T, C] + [T, C]

    @classmethod
    def from_params(cls, wte, wpe) -> "Embeddings":
        """An ``Embeddings`` holding the NumPy tables (float32 or float64, kept)."""
        (vocab_size, n_embd), n_ctx = wte.shape, len(wpe)
        return load_params(cls(vocab_size, n_ctx, n_embd), {"wte": wte, "wpe": wpe})
