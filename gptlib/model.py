"""Chapter 6: the whole GPT, assembled from the pieces of chapters 2-5.

``gpt2_numpy`` is GPT-2 as a few plain functions over arrays; ``GPT`` is the same network as
PyTorch modules. Both read parameters in GPT-2's own layout (see ``gptlib.weights``).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .attention import CausalSelfAttention, mha
from .config import GPTConfig
from .embeddings import Embeddings, embed
from .ffn import MLP, ffn
from .layernorm import layer_norm

# --- checking the input ----------------------------------------------------------------------


def check_id_range(n_seq: int, lowest: int, highest: int, config: GPTConfig) -> None:
    """The checks both models share: a sequence that fits the context, ids inside the vocabulary."""
    if n_seq == 0:
        raise ValueError("the sequence of token ids is empty; give at least one token")
    if n_seq > config.n_ctx:
        raise ValueError(
            f"the sequence has {n_seq} tokens but the model's context is n_ctx={config.n_ctx}; "
            f"keep the last {config.n_ctx} tokens"
        )
    if lowest < 0:
        raise ValueError(f"token id {lowest} is negative; ids must be in [0, {config.vocab_size})")
    if highest >= config.vocab_size:
        raise ValueError(
            f"token id {highest} is out of range: the vocabulary has {config.vocab_size} ids "
            f"(0 to {config.vocab_size - 1})"
        )


def as_token_array(ids, config: GPTConfig) -> np.ndarray:
    """Check a 1-D sequence of token ids for the NumPy model; returns it as an int64 array."""
    arr = np.asarray(ids)
    if arr.size == 0:
        raise ValueError("the sequence of token ids is empty; give at least one token")
    if arr.dtype == bool or arr.dtype.kind not in "iu":
        raise TypeError(f"token ids must be integers, got an array of {arr.dtype}")
    if arr.ndim != 1:
        raise ValueError(f"token ids must be a 1-D sequence [n_seq], got shape {arr.shape}")
    check_id_range(arr.size, int(arr.min(initial=0)), int(arr.max(initial=0)), config)
    return arr.astype(np.int64)


def check_token_tensor(ids: torch.Tensor, config: GPTConfig) -> None:
    """Check a [B, T] tensor of token ids for the PyTorch model."""
    if not isinstance(ids, torch.Tensor):
        raise TypeError(f"GPT expects a torch.LongTensor of shape [B, T], got {type(ids).__name__}")
    if ids.dtype.is_floating_point or ids.dtype.is_complex or ids.dtype == torch.bool:
        raise TypeError(f"token ids must be an integer tensor (torch.long), got {ids.dtype}")
    if ids.ndim != 2:
        raise ValueError(f"token ids must have shape [B, T], got {tuple(ids.shape)}")
    if ids.shape[0] == 0:
        raise ValueError("the batch is empty")
    lowest, highest = (int(v) for v in torch.aminmax(ids)) if ids.numel() else (0, 0)
    check_id_range(ids.shape[1], lowest, highest, config)


# --- NumPy -------------------------------------------------------------------------------


def transformer_block(x, ln_1, attn, ln_2, mlp, n_head, eps):
    """One pre-norm block: [n_seq, n_embd] -> [n_seq, n_embd]."""
    x = x + mha(layer_norm(x, **ln_1, eps=eps), **attn, n_head=n_head)  # attention reads, adds
    x = x + ffn(layer_norm(x, **ln_2, eps=eps), **mlp)  # the MLP reads, adds
    return x


def gpt2_numpy(ids, params, config: GPTConfig):
    """GPT-2's forward pass: [n_seq] token ids -> [n_seq, vocab_size] logits."""
    ids = as_token_array(ids, config)
    x = embed(ids, params["wte"], params["wpe"])  # [n_seq, n_embd]
    for block in params["blocks"]:
        x = transformer_block(x, **block, n_head=config.n_head, eps=config.layer_norm_eps)
    x = layer_norm(x, **params["ln_f"], eps=config.layer_norm_eps)
    return x @ params["wte"].T  # tied head: [n_seq, n_embd] @ [n_embd, vocab] -> [n_seq, vocab]


class NumpyGPT:
    """The NumPy GPT as an object: ``NumpyGPT(config, params)(ids) -> logits``."""

    def __init__(self, config: GPTConfig, params: dict):
        from .weights import check_params  # weights imports this module

        check_params(params, config)
        self.config = config
        self.params = params

    def __call__(self, ids):
        return gpt2_numpy(ids, self.params, self.config)

    def forward_cached(self, ids, cache=None, *, last_only=False):
        """(logits, new cache) for the tokens that follow the cached ones; see gptlib.kvcache."""
        from .kvcache import gpt2_numpy_cached

        return gpt2_numpy_cached(ids, self.params, self.config, cache, last_only=last_only)

    def __repr__(self):
        return f"NumpyGPT({self.config})"


# --- PyTorch -----------------------------------------------------------------------------


class Block(nn.Module):
    """One pre-norm transformer block, as ``transformer_block`` above: [B, T, C] -> [B, T, C]."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_eps)
        self.attn = CausalSelfAttention(config.n_embd, config.n_head, config.dropout)
        self.ln_2 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_eps)
        self.mlp = MLP(config.n_embd, config.dropout)

    def forward(self, x, kv_cache=None):
        x = x + self.attn(self.ln_1(x), kv_cache=kv_cache)  # kv_cache: this layer's LayerKVCache
        x = x + self.mlp(self.ln_2(x))
        return x


class GPT(nn.Module):
    """GPT-2 in PyTorch: [B, T] token ids -> [B, T, vocab_size] logits (and the loss, given targets)."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.embed = Embeddings(config.vocab_size, config.n_ctx, config.n_embd)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd, eps=config.layer_norm_eps)
        self.apply(self._init_weights)
        # GPT-2 scales the layers that write into the residual stream by 1/sqrt(2 * n_layer),
        # so the stream's variance does not grow with depth.
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module):
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, ids, targets=None, *, kv_cache=None):
        """ids [B, T] -> logits [B, T, vocab] (and the loss, given targets [B, T]).

        With ``kv_cache`` (a ``gptlib.kvcache.KVCache``), ids are the T tokens that follow the
        positions already in the cache; their keys and values are added to it (chapter 6).
        """
        check_token_tensor(ids, self.config)
        if kv_cache is None:
            x = self.embed(ids)  # [B, T, C]
        else:
            n_past = len(kv_cache)
            check_id_range(n_past + ids.shape[1], 0, 0, self.config)  # cached + new must fit n_ctx
            if len(kv_cache.layers) != len(self.blocks):
                raise ValueError(f"the cache has {len(kv_cache.layers)} layers, the model {len(self.blocks)}")
            x = self.embed(ids, offset=n_past)  # the new tokens sit at positions n_past, n_past + 1, ...
        x = self.drop(x)
        for i, block in enumerate(self.blocks):
            x = block(x, kv_cache=None if kv_cache is None else kv_cache.layers[i])
        x = self.ln_f(x)
        logits = F.linear(x, self.embed.wte.weight)  # tied head: [B, T, C] -> [B, T, vocab]
        if targets is None:
            return logits
        loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten())
        return logits, loss

    @classmethod
    def from_params(cls, config: GPTConfig, params: dict, device=None) -> "GPT":
        """A GPT holding the NumPy parameters ``params`` (GPT-2 layout), on ``device``."""
        from .device import pick_device
        from .weights import params_to_torch_state

        state = params_to_torch_state(params, config)
        model = cls(config).to(state["embed.wte.weight"].dtype)  # float32, or float64 params' own
        model.load_state_dict(state)
        return model.to(device or pick_device()).eval()

    def to_params(self) -> dict:
        """This model's parameters as NumPy arrays in GPT-2's layout (what ``from_params`` reads)."""
        from .weights import torch_state_to_params

        return torch_state_to_params(self.state_dict(), self.config)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())
