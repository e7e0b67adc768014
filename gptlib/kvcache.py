"""Chapter 7: the KV cache, in NumPy and in PyTorch.

When a GPT writes, each step adds one token and asks for the next token's logits. Causal
attention means the keys and values of the tokens already seen never change when a token is
appended: position t only ever looks at positions <= t. So instead of recomputing the whole
sequence at each step, keep every layer's keys and values (the *cache*) and run only the new
tokens through the network. Their queries attend to the cached keys plus their own.

Nothing else in the model changes, so the model's code has no separate cached path: each
attention layer hands its new keys and values to a cache (``mha``'s ``kv_cache`` in NumPy,
``CausalSelfAttention.forward``'s in PyTorch) and gets back every position's. A forward pass
over a whole sequence uses ``NO_CACHE``, which keeps nothing and adds nothing.

- NumPy: ``NumpyKVCache(n_layer)`` holds one ``LayerCache`` per block; ``with_cache(params,
  cache)`` hands each block's attention its layer of the cache beside its weights, and starts
  the position table after the cached positions (``gptlib.model.gpt2_numpy_cached`` uses it).
- PyTorch: ``KVCache()``; ``gptlib.GPT.forward(ids, kv_cache=cache)`` fills it, one
  ``LayerKVCache`` per attention module.
"""

from __future__ import annotations

import numpy as np
import torch


class NoCache:
    """The cache of a forward pass over a whole sequence: it holds nothing and keeps nothing."""

    n_layer = None  # fits a model of any depth

    def __len__(self) -> int:
        return 0

    def layer(self, module) -> "NoCache":
        return self

    def extend(self, k, v, mask):
        return k, v, mask


NO_CACHE = NoCache()

# --- NumPy ---------------------------------------------------------------------------------


class LayerCache:
    """One attention layer's keys and values so far: [n_head, n_past, head_size] each."""

    def __init__(self):
        self.k = self.v = None

    def __len__(self) -> int:
        return 0 if self.k is None else self.k.shape[-2]

    def extend(self, k, v, mask):
        """Put the cached positions before the new ones, and remember them all.

        k, v: the new positions' [n_head, n_new, hs]; mask: their causal mask [n_new, n_new].
        Returns every position's keys and values [n_head, n_past + n_new, hs] and the new
        queries' mask [n_new, n_past + n_new]: n_past columns of True come first, because a
        new token may read every earlier one.
        """
        if self.k is not None:
            k = np.concatenate([self.k, k], axis=-2)  # [n_head, n_past + n_new, hs]
            v = np.concatenate([self.v, v], axis=-2)
            n_new, n_past = mask.shape[0], len(self)
            mask = np.concatenate([np.ones((n_new, n_past), dtype=bool), mask], axis=-1)
        self.k, self.v = k, v
        return k, v, mask


class NumpyKVCache:
    """The NumPy cache of a whole GPT: one ``LayerCache`` per block, filled in place."""

    def __init__(self, n_layer: int):
        self.n_layer = n_layer
        self.layers = [LayerCache() for _ in range(n_layer)]

    def __len__(self) -> int:
        """How many positions the cache holds: the next token goes at this position."""
        return len(self.layers[0])

    def __repr__(self) -> str:
        return f"NumpyKVCache(n_layer={len(self.layers)}, positions={len(self)})"


def with_cache(params, cache: NumpyKVCache):
    """The parameters a forward pass over the tokens after the cached ones reads.

    Each block's attention gets its layer of the cache beside its weights (as ``kv_cache``),
    and the position table starts at the first new position: the new tokens sit at positions
    n_past, n_past + 1, ... The weights themselves are the same arrays, not copies.
    """
    blocks = [
        {**block, "attn": {**block["attn"], "kv_cache": layer}}
        for block, layer in zip(params["blocks"], cache.layers)
    ]
    return {**params, "wpe": params["wpe"][len(cache) :], "blocks": blocks}


# --- PyTorch -------------------------------------------------------------------------------


class LayerKVCache:
    """One attention module's keys and values so far: [B, n_head, n_past, head_size] each."""

    def __init__(self):
        self.k = self.v = None

    def __len__(self) -> int:
        return 0 if self.k is None else self.k.shape[2]

    def extend(self, k, v, mask):
        """Append the new positions' k, v [B, n_head, T, hs]; return every position's, and the mask.

        ``mask`` None means "causal" to ``F.scaled_dot_product_attention`` (is_causal), whose
        triangle starts at the top left: right only while queries and keys are the same
        positions. With cached keys in front, new query i sees keys 0 .. n_past + i: a
        [T, n_past + T] boolean mask says so.
        """
        if self.k is not None:
            n_past, n_new = len(self), k.shape[2]
            k, v = torch.cat([self.k, k], dim=2), torch.cat([self.v, v], dim=2)
            mask = torch.ones(n_new, n_past + n_new, dtype=torch.bool, device=k.device)
            mask = mask.tril(diagonal=n_past)
        self.k, self.v = k, v
        return k, v, mask


class KVCache:
    """The PyTorch cache for a whole GPT: ``GPT.forward(ids, kv_cache=cache)`` fills it in place.

    ``len(cache)`` is the number of positions it holds; the next tokens are placed after them.
    Each attention module keeps its own ``LayerKVCache``, found by ``cache.layer(module)``.
    """

    def __init__(self, n_layer: int | None = None):
        self.n_layer = n_layer  # when given, GPT.forward refuses a model of another depth
        self.layers: dict = {}  # attention module -> its LayerKVCache

    def __len__(self) -> int:
        return len(next(iter(self.layers.values()))) if self.layers else 0

    def layer(self, module) -> LayerKVCache:
        if module not in self.layers:
            self.layers[module] = LayerKVCache()
        return self.layers[module]

    def __repr__(self) -> str:
        return f"KVCache(layers={len(self.layers)}, positions={len(self)})"
