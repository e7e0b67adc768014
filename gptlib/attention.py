"""Chapter 3: causal multi-head self-attention.

Every position asks a question (query), offers a label (key) and a message (value). A position
reads the messages of the positions at or before it, weighted by how well their keys answer its
query. Heads are independent attention patterns computed side by side by reshaping, not looping.
"""

import math

import numpy as np
import torch.nn.functional as F
from torch import nn

from .ffn import linear, linear_backward
from .kvcache import NO_CACHE
from .weights import load_params

# --- NumPy ---------------------------------------------------------------------------------


def softmax(x, axis=-1):
    """Numerically safe softmax: subtracting the row maximum changes nothing but avoids overflow."""
    shifted = x - x.max(axis=axis, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=axis, keepdims=True)


def softmax_backward(d_out, probs, axis=-1):
    """Gradient of ``softmax``: dL/d(probs) and the probs it returned -> dL/d(its input).

    The Jacobian of p = softmax(s) is dp_i/ds_j = p_i (delta_ij - p_j), so

        ds_j = sum_i d_out_i p_i (delta_ij - p_j) = p_j (d_out_j - sum_i d_out_i p_i).

    No n x n Jacobian is built. A masked key has p_j = 0, so it gets no gradient either.
    """
    return probs * (d_out - (d_out * probs).sum(axis=axis, keepdims=True))


def causal_mask(n_seq):
    """[n_seq, n_seq] booleans, True where a query (row) may look at a key (column).

    The diagonal is always True, so no row is ever fully masked.
    """
    return np.tril(np.ones((n_seq, n_seq), dtype=bool))


def attention_weights(q, k, mask):
    """The attention probabilities: q [..., n_q, d_k], k [..., n_k, d_k] -> [..., n_q, n_k].

    Row i says how much query i reads from each key: zero where the mask hides a key, and each
    row sums to 1. The scores are divided by sqrt(d_k) so that their spread does not grow with
    d_k (otherwise the softmax saturates into a one-hot and its gradient vanishes).
    """
    scores = q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1])  # [..., n_q, n_k]
    scores = np.where(mask, scores, -np.inf)  # exp(-inf) = 0: masked keys get no weight
    return softmax(scores)


def attention(q, k, v, mask):
    """Scaled dot-product attention.

    q, k: [..., n_q, d_k] and [..., n_k, d_k]; v: [..., n_k, d_v]; mask: [n_q, n_k] booleans.
    Returns [..., n_q, d_v]: for each query, the average of the values weighted by its row of
    ``attention_weights``.
    """
    return attention_weights(q, k, mask) @ v  # [..., n_q, n_k] @ [..., n_k, d_v]


def attention_backward(d_out, q, k, v, mask):
    """Gradients of ``attention``: d_out [..., n_q, d_v] -> (dq, dk, dv), shaped like q, k, v.

    With S = q k^T / sqrt(d_k), P = softmax(S) and out = P v:
    dv = P^T d_out, dP = d_out v^T, dS = softmax_backward(dP, P), dq = dS k / sqrt(d_k),
    dk = dS^T q / sqrt(d_k). q, k and v share their leading axes (heads, batch).
    """
    probs = attention_weights(q, k, mask)  # [..., n_q, n_k]
    dv = np.swapaxes(probs, -1, -2) @ d_out  # [..., n_k, n_q] @ [..., n_q, d_v] -> [..., n_k, d_v]
    d_probs = d_out @ np.swapaxes(v, -1, -2)  # [..., n_q, d_v] @ [..., d_v, n_k] -> [..., n_q, n_k]
    d_scores = softmax_backward(d_probs, probs) / math.sqrt(q.shape[-1])  # masked entries stay 0
    dq = d_scores @ k  # [..., n_q, n_k] @ [..., n_k, d_k] -> [..., n_q, d_k]
    dk = np.swapaxes(d_scores, -1, -2) @ q  # [..., n_k, n_q] @ [..., n_q, d_k] -> [..., n_k, d_k]
    return dq, dk, dv


def split_heads(x, n_head):
    """[..., n_seq, n_embd] -> [..., n_head, n_seq, hs]: head h gets channels h*hs to (h+1)*hs."""
    *lead, n_seq, n_embd = x.shape
    return np.swapaxes(x.reshape(*lead, n_seq, n_head, n_embd // n_head), -3, -2)


def merge_heads(x):
    """[..., n_head, n_seq, head_size] -> [..., n_seq, n_embd]: the inverse of ``split_heads``."""
    *lead, n_head, n_seq, head_size = x.shape
    return np.swapaxes(x, -3, -2).reshape(*lead, n_seq, n_head * head_size)


def qkv_heads(x, c_attn, n_head):
    """Every head's queries, keys, values: [..., n_seq, n_embd] -> 3 x [..., n_head, n_seq, hs]."""
    qkv = linear(x, **c_attn)  # [..., n_seq, 3*n_embd]: one matmul for all three
    return tuple(split_heads(part, n_head) for part in np.split(qkv, 3, axis=-1))


def mha(x, c_attn, c_proj, n_head, kv_cache=NO_CACHE):  # [ch7: kv_cache]
    """Causal multi-head self-attention: [..., n_seq, n_embd] -> [..., n_seq, n_embd]."""
    q, k, v = qkv_heads(x, c_attn, n_head)  # 3 x [..., n_head, n_seq, hs]
    mask = causal_mask(x.shape[-2])  # [n_seq, n_seq]
    k, v, mask = kv_cache.extend(k, v, mask)  # [ch7] earlier positions first: n_past + n_seq keys
    heads = attention(q, k, v, mask)  # [..., n_head, n_seq, hs]
    return linear(merge_heads(heads), **c_proj)  # [..., n_seq, n_embd]


def mha_backward(d_out, x, c_attn, c_proj, n_head):
    """Gradients of ``mha``: d_out [..., n_seq, n_embd] -> (dx, {"c_attn": ..., "c_proj": ...}).

    Walk the forward backwards: c_proj, merge_heads (its inverse is split_heads), attention,
    split_heads (inverse merge_heads), then c_attn, whose three outputs' gradients are concatenated.
    """
    q, k, v = qkv_heads(x, c_attn, n_head)  # 3 x [..., n_head, n_seq, hs]
    mask = causal_mask(x.shape[-2])
    heads = attention(q, k, v, mask)  # [..., n_head, n_seq, hs]
    d_merged, d_proj = linear_backward(d_out, merge_heads(heads), **c_proj)  # [..., n_seq, n_embd]
    dq, dk, dv = attention_backward(split_heads(d_merged, n_head), q, k, v, mask)
    d_qkv = np.concatenate([merge_heads(d) for d in (dq, dk, dv)], axis=-1)  # [.., n_seq, 3*n_embd]
    dx, d_attn = linear_backward(d_qkv, x, **c_attn)  # [..., n_seq, n_embd]
    return dx, {"c_attn": d_attn, "c_proj": d_proj}


def mha_weights(x, c_attn, n_head):
    """Every head's attention probabilities: [..., n_seq, n_embd] -> [..., n_head, n_seq, n_seq]."""
    q, k, _ = qkv_heads(x, c_attn, n_head)
    return attention_weights(q, k, causal_mask(x.shape[-2]))


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

    def forward(self, x, kv_cache=NO_CACHE):  # [ch7: kv_cache]
        """[B, T, C] -> [B, T, C]."""
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)  # 3 x [B, T, C]
        # [B, T, C] -> [B, n_head, T, head_size]
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        mask = None  # None: scaled_dot_product_attention applies the causal mask itself
        k, v, mask = kv_cache.layer(self).extend(k, v, mask)  # [ch7] earlier positions first
        dropout = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, is_causal=mask is None, dropout_p=dropout
        )  # [B, n_head, T, head_size]
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # the heads side by side again
        return self.resid_dropout(self.c_proj(y))

    @classmethod
    def from_params(cls, c_attn, c_proj, n_head: int) -> "CausalSelfAttention":
        """The module holding GPT-2-layout NumPy weights (float32 or float64, kept)."""
        module = cls(c_attn["w"].shape[0], n_head)
        return load_params(module, {"c_attn": c_attn, "c_proj": c_proj})
