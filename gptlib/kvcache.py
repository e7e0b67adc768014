"""Chapter 6: the KV cache, in NumPy and in PyTorch.

When a GPT writes, each step adds one token and asks for the next token's logits. Causal
attention means the keys and values of the tokens already seen never change when a token is
appended: position t only ever looks at positions <= t. So instead of recomputing the whole
sequence at each step, keep every layer's keys and values (the *cache*) and run only the new
token through the network. Its query attends to the cached keys plus its own.

The NumPy functions below reuse chapters 2-5 (``embed``, ``linear``, ``split_heads``,
``attention``, ``merge_heads``, ``layer_norm``, ``ffn``); only the bookkeeping is new.

The NumPy cache is a list with one dict per layer, ``{"k": [n_head, n_past, head_size],
"v": [n_head, n_past, head_size]}``. The PyTorch cache, ``KVCache``, holds the same tensors with a
batch axis in front, and ``gptlib.GPT.forward(ids, kv_cache=cache)`` fills it.
"""

from __future__ import annotations

import numpy as np
import torch

from .attention import attention, causal_mask, merge_heads, split_heads
from .config import GPTConfig
from .embeddings import embed
from .ffn import ffn, linear
from .layernorm import layer_norm

# --- NumPy ---------------------------------------------------------------------------------


def empty_cache(config: GPTConfig, dtype=np.float32) -> list[dict]:
    """A cache holding no positions yet: per layer, keys and values of shape [n_head, 0, head_size]."""
    shape = (config.n_head, 0, config.head_size)
    return [{"k": np.zeros(shape, dtype), "v": np.zeros(shape, dtype)} for _ in range(config.n_layer)]


def cache_length(cache: list[dict]) -> int:
    """How many positions the cache holds."""
    return cache[0]["k"].shape[1]


def mha_cached(x, c_attn, c_proj, n_head, layer_cache):
    """Attention for new positions, reading the cached ones too.

    x: [n_new, n_embd], the new positions only; layer_cache: {"k", "v"} of [n_head, n_past, hs].
    Returns ([n_new, n_embd], the layer's new cache with n_past + n_new positions).
    """
    qkv = linear(x, **c_attn)  # [n_new, 3*n_embd]
    q, k, v = (split_heads(part, n_head) for part in np.split(qkv, 3, axis=-1))  # 3 x [n_head, n_new, hs]
    n_past = layer_cache["k"].shape[1]
    k = np.concatenate([layer_cache["k"], k], axis=1)  # [n_head, n_past + n_new, hs]
    v = np.concatenate([layer_cache["v"], v], axis=1)
    # The new queries are the last n_new rows of the full causal mask: each sees every cached
    # position and the new positions up to itself.
    mask = causal_mask(n_past + x.shape[0])[n_past:]  # [n_new, n_past + n_new]
    heads = attention(q, k, v, mask)  # [n_head, n_new, hs]
    return linear(merge_heads(heads), **c_proj), {"k": k, "v": v}


def transformer_block_cached(x, ln_1, attn, ln_2, mlp, n_head, eps, layer_cache):
    """``gptlib.model.transformer_block`` for new positions: ([n_new, n_embd], new layer cache)."""
    attn_out, layer_cache = mha_cached(layer_norm(x, **ln_1, eps=eps), **attn, n_head=n_head, layer_cache=layer_cache)
    x = x + attn_out
    x = x + ffn(layer_norm(x, **ln_2, eps=eps), **mlp)  # the MLP is per position: nothing to cache
    return x, layer_cache


def gpt2_numpy_cached(ids, params, config: GPTConfig, cache=None, *, last_only=False):
    """GPT-2's forward pass for the tokens ``ids`` that follow the ``cache``d positions.

    ids: [n_new] token ids; cache: from ``empty_cache`` or a previous call (None: empty).
    Returns (logits [n_new, vocab_size], or [1, vocab_size] with ``last_only``; the new cache).
    ``gpt2_numpy_cached(ids, params, config)[0]`` equals ``gpt2_numpy(ids, params, config)``, and
    feeding a sequence in pieces gives the same logits as feeding it at once.
    The cache passed in is not changed: a new one is returned.
    """
    from .model import as_token_array, check_id_range  # model imports the chapter modules too

    cache = empty_cache(config) if cache is None else cache
    if len(cache) != config.n_layer:
        raise ValueError(f"the cache has {len(cache)} layers but the model has n_layer={config.n_layer}")
    ids = as_token_array(ids, config)
    n_past = cache_length(cache)
    check_id_range(n_past + ids.size, 0, 0, config)  # the cached and new positions must fit in n_ctx
    # New tokens sit at positions n_past, n_past + 1, ...: read the position table from n_past on.
    x = embed(ids, params["wte"], params["wpe"][n_past:])  # [n_new, n_embd]
    new_cache = []
    for block, layer_cache in zip(params["blocks"], cache):
        x, layer_cache = transformer_block_cached(
            x, **block, n_head=config.n_head, eps=config.layer_norm_eps, layer_cache=layer_cache
        )
        new_cache.append(layer_cache)
    if last_only:
        x = x[-1:]  # when generating, only the last position's logits are needed
    x = layer_norm(x, **params["ln_f"], eps=config.layer_norm_eps)
    return x @ params["wte"].T, new_cache  # [n_new or 1, vocab_size]


# --- PyTorch -------------------------------------------------------------------------------


class LayerKVCache:
    """One layer's keys and values, [B, n_head, n_past, head_size] each (None before the first call)."""

    def __init__(self):
        self.k = None
        self.v = None

    def __len__(self) -> int:
        return 0 if self.k is None else self.k.shape[2]

    def update(self, k: torch.Tensor, v: torch.Tensor):
        """Append the new positions' k, v [B, n_head, T_new, hs]; return all of them [B, n_head, T, hs]."""
        if self.k is not None:
            k = torch.cat([self.k, k], dim=2)
            v = torch.cat([self.v, v], dim=2)
        self.k, self.v = k, v
        return k, v


class KVCache:
    """The PyTorch cache for a whole GPT: ``GPT.forward(ids, kv_cache=cache)`` fills it in place.

    ``len(cache)`` is the number of positions it holds; the next tokens are placed after them.
    """

    def __init__(self, n_layer: int):
        self.layers = [LayerKVCache() for _ in range(n_layer)]

    def __len__(self) -> int:
        return len(self.layers[0])

    def __repr__(self) -> str:
        return f"KVCache(n_layer={len(self.layers)}, positions={len(self)})"
