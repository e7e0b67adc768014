"""Chapter 6: the whole GPT, assembled from the pieces of chapters 2-5.

NumPy: ``gpt2_stream`` runs the blocks and keeps the residual stream after each one;
``lm_head`` turns a stream into logits. Everything else reads the model through these two:
``gpt2_numpy`` (the logits), ``attention_maps`` (what each head looks at), ``logit_lens``
(what the model would predict after each block), generation with a KV cache (chapter 7,
``gpt2_numpy_cached``) and training's backward pass (chapter 8). ``GPT`` is the same network
as PyTorch modules. Both read parameters in GPT-2's own layout (see ``gptlib.weights``).
"""

from __future__ import annotations

import math

import numpy as np
import torch.nn.functional as F
from torch import nn

from .attention import CausalSelfAttention, mha, mha_weights
from .checks import check_id_batch, check_ids, check_kv_cache
from .config import GPTConfig
from .device import pick_device
from .embeddings import Embeddings, embed
from .ffn import MLP, ffn
from .kvcache import NO_CACHE, NumpyKVCache, with_cache
from .layernorm import layer_norm
from .weights import check_params, load_params, torch_state_to_params

# --- NumPy -------------------------------------------------------------------------------


def transformer_block(x, ln_1, attn, ln_2, mlp, n_head, eps):
    """One pre-norm block: [n_seq, n_embd] -> [n_seq, n_embd]."""
    x = x + mha(layer_norm(x, **ln_1, eps=eps), **attn, n_head=n_head)  # attention reads, adds
    x = x + ffn(layer_norm(x, **ln_2, eps=eps), **mlp)  # the MLP reads, adds
    return x


def gpt2_stream(ids, params, config: GPTConfig) -> list:
    """The residual stream: [n_seq] token ids -> n_layer + 1 arrays [n_seq, n_embd].

    The embeddings, then the stream after each block; the head reads the last one.
    """
    x = embed(ids, params["wte"], params["wpe"])  # [n_seq, n_embd]
    stream = [x]
    for block in params["blocks"]:
        x = transformer_block(x, **block, n_head=config.n_head, eps=config.layer_norm_eps)
        stream.append(x)
    return stream


def lm_head(x, params, config: GPTConfig):
    """[..., n_embd] -> [..., vocab_size] logits: a last layer norm, then the tied head."""
    x = layer_norm(x, **params["ln_f"], eps=config.layer_norm_eps)
    return x @ params["wte"].T  # [..., n_embd] @ [n_embd, vocab_size]


def gpt2_numpy(ids, params, config: GPTConfig):
    """GPT-2: [n_seq] token ids -> [n_seq, vocab_size], the next token's logits at each position."""
    ids = check_ids(ids, config)
    return lm_head(gpt2_stream(ids, params, config)[-1], params, config)


def gpt2_numpy_cached(ids, params, config: GPTConfig, cache: NumpyKVCache, *, last_only=False):
    """Chapter 7: logits for the tokens ``ids`` that follow the positions in ``cache``.

    Only the new tokens go through the network; the cache gains their keys and values. Feeding
    a sequence in pieces gives the logits of feeding it at once. ``last_only``: only the last
    position's logits [1, vocab_size], all that generation needs.
    """
    check_kv_cache(cache, config)
    ids = check_ids(ids, config, n_past=len(cache))
    x = gpt2_stream(ids, with_cache(params, cache), config)[-1]  # [n_new, n_embd]
    return lm_head(x[-1:] if last_only else x, params, config)  # [n_new or 1, vocab_size]


def attention_maps(ids, params, config: GPTConfig):
    """What every head looks at: [n_seq] token ids -> [n_layer, n_head, n_seq, n_seq].

    Each block's attention probabilities (row = query position, column = key position), from
    the stream entering the block.
    """
    ids = check_ids(ids, config)
    stream = gpt2_stream(ids, params, config)
    return np.stack([
        mha_weights(layer_norm(x, **block["ln_1"], eps=config.layer_norm_eps),
                    block["attn"]["c_attn"], config.n_head)  # [n_head, n_seq, n_seq]
        for x, block in zip(stream, params["blocks"])
    ])


def logit_lens(ids, params, config: GPTConfig):
    """What the model would predict after each block: [n_seq] ids -> [n_layer + 1, n_seq, vocab].

    The head applied early (nostalgebraist's "logit lens", 2020): entry 0 reads the embeddings,
    entry i the stream after block i; the last entry is the model's own output.
    """
    ids = check_ids(ids, config)
    return np.stack([lm_head(x, params, config) for x in gpt2_stream(ids, params, config)])


class NumpyGPT:
    """The NumPy GPT as an object: ``NumpyGPT(config, params)(ids) -> logits``."""

    def __init__(self, config: GPTConfig, params: dict):
        check_params(params, config)
        self.config = config
        self.params = params

    def __call__(self, ids):
        return gpt2_numpy(ids, self.params, self.config)

    def forward_cached(self, ids, cache: NumpyKVCache, *, last_only=False):
        """Logits for the tokens after the cached ones; ``cache`` gains them (chapter 7)."""
        return gpt2_numpy_cached(ids, self.params, self.config, cache, last_only=last_only)

    def new_cache(self) -> NumpyKVCache:
        return NumpyKVCache(self.config.n_layer)

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

    def forward(self, x, kv_cache=NO_CACHE):  # [ch7: kv_cache]
        x = x + self.attn(self.ln_1(x), kv_cache)
        x = x + self.mlp(self.ln_2(x))
        return x


class GPT(nn.Module):
    """GPT-2 in PyTorch: [B, T] token ids -> [B, T, vocab_size] logits (and the loss of targets)."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.embed = Embeddings(config.vocab_size, config.n_ctx, config.n_embd)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd, eps=config.layer_norm_eps)
        self.apply(self._init_weights)
        # The GPT-2 paper scales the weights of residual layers by 1/sqrt(N), N the number of
        # residual layers (section 2.3); each block adds two (attention and MLP), so N is
        # 2 * n_layer as nanoGPT and transformers read it. The stream's variance then grows far
        # less with depth (chapter 5 measures it).
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

    def forward(self, ids, targets=None, *, kv_cache=NO_CACHE):  # [ch7: kv_cache, n_past]
        """ids [B, T] -> logits [B, T, vocab_size], and the mean loss given targets [B, T]."""
        # ids' values are checked outside training only: train() checked its data once, and
        # reading them every step would make a GPU wait
        n_past = len(kv_cache)  # [ch7] the new tokens follow the cached positions
        check_kv_cache(kv_cache, self.config)  # [ch7]
        check_id_batch(ids, self.config, n_past=n_past, values=not self.training)
        x = self.drop(self.embed(ids, n_past))  # [B, T, C]
        for block in self.blocks:
            x = block(x, kv_cache)  # [B, T, C]
        logits = F.linear(self.ln_f(x), self.embed.wte.weight)  # tied head: [B, T, vocab_size]
        if targets is None:
            return logits
        return logits, F.cross_entropy(logits.flatten(0, 1), targets.flatten())

    @classmethod
    def from_params(cls, config: GPTConfig, params: dict, device=None) -> "GPT":
        """A GPT holding the NumPy parameters ``params`` (GPT-2 layout), on ``device``."""
        return cls(config).set_params(params).to(device or pick_device()).eval()

    def set_params(self, params: dict) -> "GPT":
        """Put NumPy parameters (GPT-2 layout) into this model, in their precision."""
        check_params(params, self.config)
        modules = {"embed": {"wte": params["wte"], "wpe": params["wpe"]},  # self.embed holds them
                   "blocks": params["blocks"], "ln_f": params["ln_f"]}
        return load_params(self, modules)

    def to_params(self) -> dict:
        """This model's parameters as NumPy arrays in GPT-2's layout (as ``from_params`` reads)."""
        return torch_state_to_params(self.state_dict(), self.config)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())
