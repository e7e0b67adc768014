"""Chapter 3: causal multi-head self-attention.

Every position asks a question (query), offers a label (key) and a message (value). A position
reads the messages of the positions at or before it, weighted by how well their keys answer its
query. Heads are independent attention patterns computed side by side by reshaping, not looping.
"""

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .ffn import linear

# --- NumPy ---------------------------------------------------------------------------------


def softmax(x, axis=-1):
    """Numerically safe softmax: subtracting the row maximum changes nothing but avoids overflow."""
    shifted = x - x.max(axis=axis, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=axis, keepdims=True)


def causal_mask(n_seq):
    """[n_seq, n_seq] booleans, True where a query (row) may look at a key (column).

    The diagonal is always True, so no row is ever fully masked.
    """
    return np.tril(np.ones((n_seq, n_seq), dtype=bool))


def attention(q, k, v, mask):
    """Scaled dot-product attention.

    q, k: [..., n_q, d_k] and [..., n_k, d_k]; v: [..., n_k, d_v]; mask: [n_q, n_k] booleans.
    Returns [..., n_q, d_v].
    """
    scores = q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1])  # [..., n_q, n_k]
    scores = np.where(mask, scores, -np.inf)  # exp(-inf) = 0: masked keys get no weight
    return softmax(scores) @ v


def split_heads(x, n_head):
    """[n_seq, n_embd] -> [n_head, n_seq, head_size]."""
    n_seq, n_embd = x.shape
    return x.reshape(n_seq, n_head, n_embd // n_head).transpose(1, 0, 2)


def merge_heads(x):
    """[n_head, n_seq, head_size] -> [n_seq, n_embd]."""
    n_head, n_seq, head_size = x.shape
    return x.transpose(1, 0, 2).reshape(n_seq, n_head * head_size)


def mha(x, c_attn, c_proj, n_head):
    """Causal multi-head self-attention: [n_seq, n_embd] -> [n_seq, n_embd]."""
    qkv = linear(x, **c_attn)  # [n_seq, 3*n_embd]
    q, k, v = (split_heads(part, n_head) for part in np.split(qkv, 3, axis=-1))  # 3 x [n_head, n_seq, hs]
    heads = attention(q, k, v, causal_mask(x.shape[0]))  # [n_head, n_seq, hs]
    return linear(merge_heads(heads), **c_proj)  # [n_seq, n_embd]


# --- PyTorch -------------------------------------------------------------------------------


class CausalSelfAttention(nn.Module):
    """The same attention for batches, [B, T, C] -> [B, T, C], with PyTorch's fused kernel."""

    def __init__(self, n_embd: int, n_head: int, dropout: float = 0.0):
        super().__init__()
        self.n_head = n_head
        self.dropout = dropout
        self.c_attn = nn.Linear(n_embd, 3 * n_embd)  # queries, keys and values in one matmul
        self.c_proj = nn.Linear(n_embd, n_embd)
        self.resid_dropout = nn.Dropout(dropout)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)  # 3 x [B, T, C]
        # [B, T, C] -> [B, n_head, T, head_size]
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(
            q, k, v, is_causal=True, dropout_p=self.dropout if self.training else 0.0
        )  # [B, n_head, T, head_size]
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.c_proj(y))
