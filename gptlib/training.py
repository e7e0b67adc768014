"""Chapter 7: training.

Two halves, as in every chapter:

* NumPy: the loss (cross-entropy), its gradient, and the backward pass through the whole GPT,
  composed from the backward functions of chapters 2-5; AdamW written out. Slow, but every
  number can be followed by hand, and the tests check it against torch autograd.
* PyTorch: a real training loop in the nanoGPT spirit: random windows of the corpus, AdamW with
  weight decay on matrices only, warmup then cosine decay, gradient clipping, periodic evaluation,
  bf16 autocast on a GPU, optional torch.compile, data-parallel training under torchrun, and
  checkpoints (safetensors + JSON, written atomically) that resume bit for bit.

The command line is ``python -m gptlib.train`` (see ``gptlib/train.py``).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file as save_torch_file

from .attention import mha
from .config import GPTConfig
from .embeddings import embed, embed_backward
from .ffn import ffn_backward
from .layernorm import layer_norm, layer_norm_backward
from .model import GPT, as_token_array, check_id_range, transformer_block
from .files import atomic_write
from .weights import flatten_params, load_checkpoint, save_checkpoint, unflatten_params

# =============================================================================================
# NumPy
# =============================================================================================


def log_softmax(logits):
    """[..., V] -> [..., V]: log of the softmax, computed without overflow (subtract the row max)."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _check_targets(logits, targets):
    targets = np.asarray(targets)
    if targets.dtype == bool or targets.dtype.kind not in "iu":
        raise TypeError(f"targets must be integer token ids, got an array of {targets.dtype}")
    if logits.shape[:-1] != targets.shape:
        raise ValueError(f"logits {logits.shape} need targets of shape {logits.shape[:-1]}, got {targets.shape}")
    if targets.size == 0:
        raise ValueError("there are no targets: the loss of an empty batch is undefined")
    if targets.min() < 0 or targets.max() >= logits.shape[-1]:
        raise ValueError(f"targets must be in [0, {logits.shape[-1]}), got {targets.min()} to {targets.max()}")
    return targets


def cross_entropy(logits, targets):
    """Mean negative log-likelihood of the targets: logits [..., V], targets [...] ints -> scalar.

    In nats (natural log); divide by ln 2 for bits.
    """
    targets = _check_targets(logits, targets)
    logp = log_softmax(logits)  # [..., V]
    picked = np.take_along_axis(logp, targets[..., None], axis=-1)  # [..., 1]: log p(target)
    return float(-picked.mean())


def cross_entropy_backward(logits, targets):
    """d(cross_entropy)/d(logits) = (softmax(logits) - one_hot(targets)) / N, N = number of targets."""
    targets = _check_targets(logits, targets)
    probs = np.exp(log_softmax(logits))  # [..., V]
    d_logits = probs.copy()
    np.put_along_axis(d_logits, targets[..., None], np.take_along_axis(probs, targets[..., None], -1) - 1, -1)
    return d_logits / targets.size  # the mean over N positions divides every gradient by N


def transformer_block_backward(d_out, x, block, n_head, eps):
    """Backward of ``gptlib.model.transformer_block``: d_out [n_seq, C] -> (dx, d_block).

    The forward is x1 = x + mha(ln_1(x)); out = x1 + ffn(ln_2(x1)). A residual connection
    ``y = x + f(x)`` passes the gradient through untouched AND through f: dx = dy + f'(x)^T dy.
    d_block has the nesting of ``block`` (ln_1, attn, ln_2, mlp).
    """
    from .attention import mha_backward  # chapter 3's backward pass

    ln_1, attn, ln_2, mlp = block["ln_1"], block["attn"], block["ln_2"], block["mlp"]
    # recompute the forward's intermediates (the backward functions take the forward's inputs)
    h1 = layer_norm(x, **ln_1, eps=eps)  # [n_seq, C], attention's input
    x1 = x + mha(h1, **attn, n_head=n_head)  # [n_seq, C], the residual stream between the two halves
    h2 = layer_norm(x1, **ln_2, eps=eps)  # [n_seq, C], the MLP's input

    # second half: out = x1 + ffn(ln_2(x1))
    d_h2, d_mlp = ffn_backward(d_out, h2, **mlp)
    d_x1_ln, d_ln_2 = layer_norm_backward(d_h2, x1, **ln_2, eps=eps)
    d_x1 = d_out + d_x1_ln  # the residual path plus the path through the MLP

    # first half: x1 = x + mha(ln_1(x))
    d_h1, d_attn = mha_backward(d_x1, h1, **attn, n_head=n_head)
    d_x_ln, d_ln_1 = layer_norm_backward(d_h1, x, **ln_1, eps=eps)
    dx = d_x1 + d_x_ln
    return dx, {"ln_1": d_ln_1, "attn": d_attn, "ln_2": d_ln_2, "mlp": d_mlp}


def loss_and_grads(ids, targets, params, config: GPTConfig):
    """The mean cross-entropy of the NumPy GPT and its gradient for every parameter.

    ids, targets: [n_seq] or [B, n_seq] integer arrays (targets = the next token at each position).
    Returns (loss, grads), grads nested exactly like ``params``. The forward pass keeps each
    block's input; the backward pass walks the same path in reverse, one chain-rule step per layer.
    """
    ids, targets = _check_ids(ids, config), np.asarray(targets)
    eps, n_head = config.layer_norm_eps, config.n_head
    x = embed(ids, params["wte"], params["wpe"])  # [..., n_seq, C]
    block_inputs = []
    for block in params["blocks"]:
        block_inputs.append(x)  # what each block's backward needs
        x = transformer_block(x, **block, n_head=n_head, eps=eps)
    h = layer_norm(x, **params["ln_f"], eps=eps)  # [..., n_seq, C]
    logits = h @ params["wte"].T  # [..., n_seq, V], the head shares wte
    loss = cross_entropy(logits, targets)

    d_logits = cross_entropy_backward(logits, targets)  # [..., n_seq, V]
    C, V = params["wte"].shape[1], params["wte"].shape[0]
    d_wte_head = d_logits.reshape(-1, V).T @ h.reshape(-1, C)  # [V, C]: logits = h @ wte.T
    d_h = d_logits @ params["wte"]  # [..., n_seq, C]
    d_x, d_ln_f = layer_norm_backward(d_h, x, **params["ln_f"], eps=eps)
    d_blocks = [None] * len(params["blocks"])
    for i in reversed(range(len(params["blocks"]))):
        d_x, d_blocks[i] = transformer_block_backward(d_x, block_inputs[i], params["blocks"][i], n_head, eps)
    d_wte_embed, d_wpe = embed_backward(d_x, ids, params["wte"], params["wpe"])
    # wte is used twice (lookup at the bottom, head at the top): its gradient is the sum of both
    grads = {"wte": d_wte_embed + d_wte_head, "wpe": d_wpe, "blocks": d_blocks, "ln_f": d_ln_f}
    return loss, grads


def _check_ids(ids, config):
    ids = np.asarray(ids)
    if ids.ndim == 1:
        return as_token_array(ids, config)
    if ids.ndim != 2:
        raise ValueError(f"token ids must be [n_seq] or [B, n_seq], got shape {ids.shape}")
    if ids.dtype == bool or ids.dtype.kind not in "iu":
        raise TypeError(f"token ids must be integers, got an array of {ids.dtype}")
    if ids.shape[0] == 0:
        raise ValueError("the batch is empty")
    check_id_range(ids.shape[1], int(ids.min(initial=0)), int(ids.max(initial=0)), config)
    return ids.astype(np.int64)


gpt2_backward = loss_and_grads  # the name BACKWARD_API.md uses


# --- AdamW in NumPy ---------------------------------------------------------------------------


def adamw_init(params) -> dict:
    """AdamW's state: step count and two running averages per parameter, all zeros at the start."""
    flat = flatten_params(params)
    return {
        "step": 0,
        "m": {k: np.zeros_like(v) for k, v in flat.items()},  # first moment: mean of gradients
        "v": {k: np.zeros_like(v) for k, v in flat.items()},  # second moment: mean of squared gradients
    }


def adamw_update(param, grad, m, v, step, lr, beta1=0.9, beta2=0.95, eps=1e-8, weight_decay=0.0):
    """One AdamW step for one array; ``step`` counts from 1. Returns (param, m, v), new arrays.

    Adam divides a running mean of the gradient by the root of a running mean of its square, so
    every parameter moves by about ``lr`` whatever the gradient's scale. The bias corrections undo
    the zero initialisation of m and v. AdamW's weight decay shrinks the parameter directly
    (``param *= 1 - lr * wd``) instead of adding ``wd * param`` to the gradient, as Adam + L2 would.
    """
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad**2
    m_hat = m / (1 - beta1**step)
    v_hat = v / (1 - beta2**step)
    param = param * (1 - lr * weight_decay)  # decoupled weight decay
    param = param - lr * m_hat / (np.sqrt(v_hat) + eps)
    return param, m, v


def adamw_step(params, grads, state, lr, beta1=0.9, beta2=0.95, eps=1e-8, weight_decay=0.1):
    """AdamW over a whole model: returns new params; ``state`` (from ``adamw_init``) is updated.

    Weight decay applies to matrices only (ndim >= 2); biases and layer-norm gains are not pulled
    toward zero, as in GPT-2 and nanoGPT.
    """
    state["step"] += 1
    flat_p, flat_g = flatten_params(params), flatten_params(grads)
    new = {}
    for name, p in flat_p.items():
        wd = weight_decay if np.ndim(p) >= 2 else 0.0
        new[name], state["m"][name], state["v"][name] = adamw_update(
            p, flat_g[name], state["m"][name], state["v"][name], state["step"], lr, beta1, beta2, eps, wd
        )
    n_layer = len(params["blocks"])
    return unflatten_params(new, GPTConfig(vocab_size=1, n_ctx=1, n_embd=1, n_head=1, n_layer=n_layer))


# =============================================================================================
# PyTorch
# =============================================================================================

# --- the corpus as token ids -----------------------------------------------------------------


class CharTokenizer:
    """One token per character: the vocabulary is the sorted set of characters of a text."""

    def __init__(self, chars: str):
        if not chars:
            raise ValueError("a character tokenizer needs at least one character")
        self.chars = "".join(sorted(set(chars)))
        self._index = {c: i for i, c in enumerate(self.chars)}

    @classmethod
    def from_text(cls, text: str) -> "CharTokenizer":
        return cls("".join(sorted(set(text))))

    @property
    def n_vocab(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        unknown = set(text) - self._index.keys()
        if unknown:
            raise ValueError(f"characters not in the vocabulary: {sorted(unknown)[:10]}")
        return [self._index[c] for c in text]

    def decode(self, ids) -> str:
        return "".join(self.chars[int(i)] for i in ids)

    def to_dict(self) -> dict:
        return {"type": "char", "chars": self.chars}


def load_tokenizer(kind: str, text: str | None = None):
    """The tokenizer a preset names: "char" (built from ``text``) or "bpe" (chapter 1's, trained on Shakespeare)."""
    if kind == "char":
        if text is None:
            from .data import load_text

            text = load_text()
        return CharTokenizer.from_text(text)
    if kind == "bpe":
        from .tokenizer import shakespeare_tokenizer  # chapter 1 ships it

        return shakespeare_tokenizer()
    raise ValueError(f"unknown tokenizer {kind!r}; use 'char' or 'bpe'")


def tokenizer_from_folder(folder):
    """The tokenizer a training run saved beside its weights (``tokenizer.json``)."""
    info = json.loads((Path(folder) / "tokenizer.json").read_text())
    if info["type"] == "char":
        return CharTokenizer(info["chars"])
    if info["type"] == "bpe":
        return load_tokenizer("bpe")
    raise ValueError(f"{folder}/tokenizer.json names an unknown tokenizer type {info['type']!r}")


def encode_corpus(text: str, tokenizer, val_fraction: float = 0.1):
    """(train_ids, val_ids) as int64 NumPy arrays: the first 90% of the text for training, the rest held out.

    The split is by characters, before tokenizing: chapter 1's tokenizer learned its merges on
    exactly that first 90%, so the validation text is unseen by the tokenizer and the model alike.
    A contiguous split (not random windows) means no validation window overlaps the training text.
    """
    n_train = int(len(text) * (1 - val_fraction))
    encode = getattr(tokenizer, "encode_ordinary", tokenizer.encode)  # the corpus has no special tokens
    train_ids = np.asarray(encode(text[:n_train]), dtype=np.int64)
    val_ids = np.asarray(encode(text[n_train:]), dtype=np.int64)
    if len(train_ids) < 2 or len(val_ids) < 2:
        raise ValueError(f"the corpus has {len(text)} characters: too few to split into training and validation")
    return train_ids, val_ids


def sample_offsets(rng: np.random.Generator, n_tokens: int, block_size: int, batch_size: int):
    """``batch_size`` random start positions of (block_size + 1)-token windows."""
    return rng.integers(0, n_tokens - block_size, size=batch_size)


def get_batch(data: np.ndarray, offsets, block_size: int, device="cpu"):
    """Windows of ``data`` at ``offsets``: (x, y) [B, block_size] long tensors, y = x shifted by one."""
    offsets = np.asarray(offsets)
    if offsets.size == 0 or offsets.min() < 0 or offsets.max() + block_size + 1 > len(data):
        raise ValueError(f"offsets must be in [0, {len(data) - block_size - 1}] for {len(data)} tokens and "
                         f"block_size={block_size}, got {offsets.tolist()[:8]}")
    x = np.stack([data[i : i + block_size] for i in offsets])  # [B, T]
    y = np.stack([data[i + 1 : i + 1 + block_size] for i in offsets])  # [B, T], the next tokens
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    if torch.device(device).type == "cuda":
        return x.pin_memory().to(device, non_blocking=True), y.pin_memory().to(device, non_blocking=True)
    return x.to(device), y.to(device)


# --- what a run does -----------------------------------------------------------------------------


@dataclass
class TrainConfig:
    """Everything a training run needs; presets in ``PRESETS``, any field overridable from the CLI."""

    # data
    tokenizer: str = "char"  # "char" or "bpe" (chapter 1's tokenizer)
    data_limit: int = 0  # use only the first N characters of the corpus (0 = all of it)
    val_fraction: float = 0.1
    # model
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    block_size: int = 64  # context length during training (n_ctx of the model)
    dropout: float = 0.0
    # optimisation
    batch_size: int = 12  # the global batch: split across processes under DDP
    max_iters: int = 2000
    lr: float = 1e-3
    min_lr: float = 1e-4
    warmup_iters: int = 100
    lr_decay_iters: int = 0  # 0 = max_iters
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.99
    grad_clip: float = 1.0  # 0 = no clipping
    # evaluation, logging, checkpoints
    eval_interval: int = 250  # 0 = only at the end
    eval_iters: int = 20  # batches per split per evaluation
    eval_batch_size: int = 0  # 0 = batch_size
    checkpoint_interval: int = 0  # 0 = no intermediate checkpoints
    keep_checkpoints: bool = False  # keep every checkpoint folder (for samples as training goes)
    seed: int = 1337
    # hardware
    device: str = "auto"  # "auto", "cpu", "cuda", "mps"
    # "auto" (bf16 autocast on CUDA if supported, else fp32), "float32", "bfloat16", or "float64":
    # the model and AdamW's moments in double precision, so that a run printed in a chapter
    # gives the same digits on any CPU (fp32 rounding differs between instruction sets)
    dtype: str = "auto"
    compile: bool = False
    threads: int = 0  # torch.set_num_threads on CPU (0 = leave PyTorch's default)

    def validate(self) -> "TrainConfig":
        positive = ["n_layer", "n_head", "n_embd", "block_size", "batch_size", "max_iters", "eval_iters"]
        for name in positive:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        non_negative = ["data_limit", "warmup_iters", "lr_decay_iters", "eval_interval", "eval_batch_size",
                        "checkpoint_interval", "threads"]
        for name in non_negative:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"the learning rate lr must be a positive number, got {self.lr!r}")
        if not (math.isfinite(self.min_lr) and 0 <= self.min_lr <= self.lr):
            raise ValueError(f"min_lr must be in [0, lr={self.lr}], got {self.min_lr!r}")
        for name in ("beta1", "beta2"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)!r}")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        if not (math.isfinite(self.grad_clip) and self.grad_clip >= 0):
            raise ValueError(f"grad_clip must be >= 0 (0 turns clipping off), got {self.grad_clip!r}")
        if not 0 < self.val_fraction < 1:
            raise ValueError(f"val_fraction must be in (0, 1), got {self.val_fraction!r}")
        if self.tokenizer not in ("char", "bpe"):
            raise ValueError(f"tokenizer must be 'char' or 'bpe', got {self.tokenizer!r}")
        if self.device not in ("auto", "cpu", "cuda", "mps"):
            raise ValueError(f"device must be auto, cpu, cuda or mps, got {self.device!r}")
        if self.dtype not in ("auto", "float32", "bfloat16", "float64"):
            raise ValueError(f"dtype must be auto, float32, bfloat16 or float64, got {self.dtype!r}")
        GPTConfig(vocab_size=1, n_ctx=self.block_size, n_embd=self.n_embd, n_head=self.n_head,
                  n_layer=self.n_layer, dropout=self.dropout)  # its own checks (n_embd % n_head, dropout)
        return self

    def model_config(self, vocab_size: int) -> GPTConfig:
        return GPTConfig(vocab_size=vocab_size, n_ctx=self.block_size, n_embd=self.n_embd,
                         n_head=self.n_head, n_layer=self.n_layer, dropout=self.dropout)


PRESETS = {
    # seconds on a CPU; checkpoints every 10 steps and dropout on, so resume tests cover the RNG
    "tiny": TrainConfig(
        data_limit=20_000, n_layer=2, n_head=2, n_embd=32, block_size=32, dropout=0.1,
        batch_size=8, max_iters=30, lr=3e-3, min_lr=3e-4, warmup_iters=5, eval_interval=10,
        eval_iters=2, checkpoint_interval=10, threads=1,
    ),
    # character-level Shakespeare on a 2-core CPU. nanoGPT's recipe is 4 layers x 128, batch 12, 2000
    # iterations at lr 1e-3; at this budget a shallower model with a bigger batch, a higher learning rate,
    # no dropout and 800 steps reaches the same loss with about half the FLOPs and a third of the steps
    # (see benchmarks/bench_training.py)
    "shakespeare-char-cpu": TrainConfig(
        n_layer=2, n_head=4, n_embd=128, block_size=64, dropout=0.0, batch_size=32, max_iters=800,
        lr=3e-3, min_lr=3e-4, warmup_iters=30, eval_interval=0, eval_iters=50, eval_batch_size=64,
        checkpoint_interval=0, threads=2,
    ),
    # the project's own model (gptlib/assets/shakespeare_gpt): chapter 1's BPE tokenizer
    "shakespeare-bpe": TrainConfig(
        tokenizer="bpe", n_layer=4, n_head=4, n_embd=128, block_size=128, dropout=0.0,
        batch_size=16, max_iters=1000, lr=2e-3, min_lr=2e-4, warmup_iters=50, eval_interval=200,
        eval_iters=10, eval_batch_size=32, checkpoint_interval=250, keep_checkpoints=True, threads=2,
    ),
    # nanoGPT's shakespeare_char recipe on one GPU: 6 layers, 384 wide, context 256, bf16
    "shakespeare-char-gpu": TrainConfig(
        n_layer=6, n_head=6, n_embd=384, block_size=256, dropout=0.2, batch_size=64, max_iters=5000,
        lr=1e-3, min_lr=1e-4, warmup_iters=100, eval_interval=500, eval_iters=200,
        checkpoint_interval=1000, compile=True, device="cuda",
    ),
}


def get_preset(name: str) -> TrainConfig:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; known presets: {', '.join(PRESETS)}")
    return replace(PRESETS[name])


# --- schedule and optimizer --------------------------------------------------------------------


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warmup to ``lr`` over ``warmup_iters`` steps, then cosine decay to ``min_lr``.

    Warmup: at the start, Adam's second-moment estimate rests on a handful of gradients, and a
    full-size step would be noisy. Decay: late in training, small steps settle into the minimum.
    """
    decay_iters = cfg.lr_decay_iters or cfg.max_iters
    if step < cfg.warmup_iters:
        return cfg.lr * (step + 1) / cfg.warmup_iters
    if step >= decay_iters:
        return cfg.min_lr
    progress = (step - cfg.warmup_iters) / max(1, decay_iters - cfg.warmup_iters)  # 0 -> 1
    coeff = 0.5 * (1.0 + math.cos(math.pi * progress))  # 1 -> 0
    return cfg.min_lr + coeff * (cfg.lr - cfg.min_lr)


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig, device_type: str = "cpu") -> torch.optim.AdamW:
    """AdamW with two parameter groups: weight decay on matrices (ndim >= 2), none on biases and gains.

    Decaying a bias or a layer-norm gain towards 0 has no regularising sense: they do not grow
    with the input's scale the way matrices do. The tied wte is one parameter, decayed once.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    # fused: one kernel for all parameters on a GPU; foreach: batched tensor ops on a CPU
    kwargs = {"fused": True} if device_type == "cuda" else {"foreach": True}
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), **kwargs)


# --- devices and precision ---------------------------------------------------------------------


def resolve_device(cfg: TrainConfig) -> torch.device:
    from .device import pick_device

    if cfg.device == "auto":
        return pick_device()
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was asked for but PyTorch sees no CUDA GPU; use --device cpu or auto")
    return torch.device(cfg.device)


def autocast_context(cfg: TrainConfig, device: torch.device):
    """bf16 autocast on a GPU (matmuls in bfloat16, reductions in fp32); plain fp32 elsewhere."""
    import contextlib

    want_bf16 = cfg.dtype == "bfloat16" or (
        cfg.dtype == "auto" and device.type == "cuda" and torch.cuda.is_bf16_supported()
    )
    if want_bf16 and device.type in ("cuda", "cpu"):
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


# --- data-parallel training (torchrun) -----------------------------------------------------------


@dataclass
class Distributed:
    """Where this process sits in a torchrun launch (rank 0 of 1 when not under torchrun)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup_distributed(device: torch.device) -> Distributed:
    """Join the process group torchrun describes in RANK/WORLD_SIZE (gloo on CPU, nccl on CUDA)."""
    if "RANK" not in os.environ or int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return Distributed()
    import torch.distributed as dist

    dist_info = Distributed(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", 0)))
    backend = "nccl" if device.type == "cuda" else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    if device.type == "cuda":
        torch.cuda.set_device(dist_info.local_rank)
    return dist_info


# --- checkpoints ---------------------------------------------------------------------------------

CHECKPOINT_PREFIX = "checkpoint-"
LATEST = "latest.json"


def save_training_state(folder: Path, *, model: GPT, optimizer, step: int, rng: np.random.Generator,
                        cfg: TrainConfig, history: dict, elapsed_s: float, tokenizer) -> Path:
    """Write one resumable checkpoint as the folder ``checkpoint-<step>`` inside ``folder``, atomically.

    The checkpoint folder holds the weights as a GPT-2 checkpoint (config.json + model.safetensors,
    so ``gptlib.load_gpt2`` reads it), train_state.safetensors (AdamW's moments, the torch RNG
    state) and train_state.json (step, the data sampler's RNG state, the settings, the history).
    It is written under a temporary name and renamed when complete; then ``latest.json`` (itself
    written atomically) points at it. A crash at any moment leaves the previous checkpoint usable.
    """
    final = folder / f"{CHECKPOINT_PREFIX}{step:07d}"
    tmp = folder / f".{final.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_checkpoint(tmp, model.config, model.to_params())
    (tmp / "tokenizer.json").write_text(json.dumps(_tokenizer_info(tokenizer)) + "\n")

    tensors, groups = _optimizer_tensors(optimizer)
    tensors["rng.torch"] = torch.get_rng_state()  # uint8 tensor: the CPU generator (dropout)
    if torch.cuda.is_available():
        for i, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = state
    save_torch_file(tensors, str(tmp / "train_state.safetensors"), metadata={"step": str(step)})
    state = {
        "step": step,  # optimizer steps done; training continues at this step
        "numpy_rng": rng.bit_generator.state,  # the data sampler: which windows come next
        "optimizer_groups": groups,
        "train_config": asdict(cfg),
        "elapsed_s": elapsed_s,
        "history": history,
    }
    (tmp / "train_state.json").write_text(json.dumps(state) + "\n")
    _fsync_folder_files(tmp)
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)  # the folder appears complete, or not at all
    latest = json.dumps({"checkpoint": final.name, "step": step}) + "\n"
    atomic_write(folder / LATEST, lambda t: Path(t).write_text(latest))
    return final


def _fsync_folder_files(folder: Path) -> None:
    for path in folder.iterdir():
        with open(path, "rb+") as f:
            os.fsync(f.fileno())


def _optimizer_tensors(optimizer):
    """AdamW's state as flat tensors ("opt.<index>.exp_avg", ...) plus its groups' settings (JSON)."""
    sd = optimizer.state_dict()
    tensors = {}
    for index, per_param in sd["state"].items():
        for key, value in per_param.items():
            value = value if torch.is_tensor(value) else torch.tensor(value)
            tensors[f"opt.{index}.{key}"] = value.detach().to("cpu").contiguous()
    return tensors, sd["param_groups"]


def _optimizer_state_dict(tensors: dict, groups: list) -> dict:
    state: dict = {}
    for name, value in tensors.items():
        if name.startswith("opt."):
            _, index, key = name.split(".", 2)
            state.setdefault(int(index), {})[key] = value
    return {"state": state, "param_groups": groups}


def latest_checkpoint(out_dir) -> Path | None:
    """The folder of the newest complete checkpoint in ``out_dir``, or None."""
    pointer = Path(out_dir) / LATEST
    if not pointer.is_file():
        return None
    folder = Path(out_dir) / json.loads(pointer.read_text())["checkpoint"]
    if not folder.is_dir():
        raise FileNotFoundError(f"{pointer} points at {folder}, which does not exist")
    return folder


def load_training_state(folder: Path) -> dict:
    """Read what ``save_training_state`` wrote: {"params", "config", "tensors", "state"}."""
    config, params = load_checkpoint(folder)
    with safe_open(folder / "train_state.safetensors", framework="pt") as f:
        tensors = {name: f.get_tensor(name) for name in f.keys()}
        saved_step = int(f.metadata()["step"])
    state = json.loads((folder / "train_state.json").read_text())
    if saved_step != state["step"]:
        raise ValueError(f"{folder}: train_state.safetensors is from step {saved_step}, train_state.json from {state['step']}")
    return {"config": config, "params": params, "tensors": tensors, "state": state}


# --- evaluation ----------------------------------------------------------------------------------


@torch.no_grad()
def estimate_loss(model, splits: dict, cfg: TrainConfig, device, autocast=None) -> dict:
    """Mean loss over ``eval_iters`` batches of each split, dropout off.

    The batches come from a generator seeded the same way every time: each evaluation sees the
    same windows (comparable numbers) and the training sampler's state is not touched.
    """
    import contextlib

    was_training = model.training
    model.eval()
    batch = cfg.eval_batch_size or cfg.batch_size
    out = {}
    for name, data in splits.items():
        rng = np.random.default_rng([cfg.seed, 1 if name == "val" else 0])
        losses = []
        for _ in range(cfg.eval_iters):
            x, y = get_batch(data, sample_offsets(rng, len(data), cfg.block_size, batch), cfg.block_size, device)
            with autocast or contextlib.nullcontext():
                _, loss = model(x, y)
            losses.append(loss.item())
        out[name] = float(np.mean(losses))
    model.train(was_training)
    return out


# --- the loop ------------------------------------------------------------------------------------


@dataclass
class RunData:
    tokenizer: object
    train: np.ndarray
    val: np.ndarray


def prepare_data(cfg: TrainConfig, text: str | None = None) -> RunData:
    from .data import load_text

    text = load_text() if text is None else text
    if cfg.data_limit:
        text = text[: cfg.data_limit]
    tokenizer = load_tokenizer(cfg.tokenizer, text if cfg.tokenizer == "char" else None)
    train, val = encode_corpus(text, tokenizer, cfg.val_fraction)
    for name, data in (("training", train), ("validation", val)):
        if len(data) <= cfg.block_size:
            raise ValueError(
                f"the {name} split has {len(data)} tokens, not more than block_size={cfg.block_size}: "
                f"no window fits; use more data or a smaller block_size"
            )
    windows = len(train) - cfg.block_size
    if cfg.batch_size > windows:
        raise ValueError(
            f"batch_size={cfg.batch_size} is larger than the data: the training split has only {windows} "
            f"windows of block_size={cfg.block_size} tokens"
        )
    return RunData(tokenizer, train, val)


def train(cfg: TrainConfig, out_dir, *, resume: bool = False, progress: bool = True, text: str | None = None,
          on_eval=None, preset: str | None = None, model: torch.nn.Module | None = None) -> dict:
    """Train a GPT as ``cfg`` says; write the final weights and metrics.json into ``out_dir``.

    Returns the metrics: {"val_loss", "train_loss", "elapsed_s", "history", ...}.
    ``on_eval(step, losses, model)`` is called after each evaluation (e.g. to plot, or sample).
    ``model``: a variant to train instead of a fresh ``GPT``: ``model(ids, targets)`` returns
    (logits, loss), and it has ``.config`` (a GPTConfig) and ``.num_params()``. Only a
    ``gptlib.GPT`` is written as a GPT-2 checkpoint (a variant's weights would load into a
    different network); for a variant ``out_dir`` receives metrics.json.
    Under torchrun every process calls this; rank 0 writes the files.
    """
    cfg = replace(cfg).validate()
    out_dir = Path(out_dir)
    device = resolve_device(cfg)
    dist_info = setup_distributed(device)
    if cfg.batch_size % dist_info.world_size:
        raise ValueError(f"batch_size={cfg.batch_size} must divide evenly among {dist_info.world_size} processes")
    if cfg.threads and device.type == "cpu":
        torch.set_num_threads(cfg.threads)

    if cfg.dtype == "float64" and device.type == "mps":
        raise ValueError("Apple's MPS has no float64; use --device cpu for dtype float64")
    data = prepare_data(cfg, text)
    if model is None:
        model_config = cfg.model_config(data.tokenizer.n_vocab)
    else:
        model_config = _check_variant(model, cfg, data.tokenizer.n_vocab, resume)
    is_gpt = model is None or type(model) is GPT  # a subclass may wire the same weights otherwise

    # start: fresh, or from the latest checkpoint
    start_step, elapsed_before = 0, 0.0
    history = {"step": [], "loss": [], "lr": [], "evals": []}
    rng = np.random.default_rng(cfg.seed)  # the data sampler (same on every rank: a global batch)
    torch.manual_seed(cfg.seed)  # model initialisation and dropout
    checkpoint = latest_checkpoint(out_dir) if resume else None
    if resume and checkpoint is None and dist_info.is_main:
        print(f"--resume: no checkpoint in {out_dir}; starting from step 0")
    model = GPT(model_config) if model is None else model
    if cfg.dtype == "float64":
        model.double()  # before loading a checkpoint, so that its float64 weights stay exact
    saved = None
    if checkpoint is not None:
        saved = load_training_state(checkpoint)
        if replace(saved["config"], dropout=model_config.dropout) != model_config:  # config.json has no dropout
            raise ValueError(f"{checkpoint} holds a model of shape {saved['config']}, but the settings give {model_config}")
        if saved["state"]["train_config"] != asdict(cfg):
            changed = {k: (v, getattr(cfg, k)) for k, v in saved["state"]["train_config"].items() if getattr(cfg, k, None) != v}
            raise ValueError(f"--resume with different settings than the checkpoint {checkpoint}: {changed}")
        from .weights import params_to_torch_state

        model.load_state_dict(params_to_torch_state(saved["params"], model_config))
        start_step = saved["state"]["step"]
        elapsed_before = saved["state"]["elapsed_s"]
        history = saved["state"]["history"]
        rng.bit_generator.state = saved["state"]["numpy_rng"]
    model.to(device)
    optimizer = make_optimizer(model, cfg, device.type)
    if saved is not None:
        optimizer.load_state_dict(_optimizer_state_dict(saved["tensors"], saved["state"]["optimizer_groups"]))
        torch.set_rng_state(saved["tensors"]["rng.torch"])
        cuda_states = [saved["tensors"][k] for k in sorted(saved["tensors"]) if k.startswith("rng.cuda.")]
        if cuda_states and device.type == "cuda":
            torch.cuda.set_rng_state_all(cuda_states[: torch.cuda.device_count()])
    elif dist_info.enabled:
        torch.manual_seed(cfg.seed + dist_info.rank)  # different dropout masks on each process

    raw_model = model
    if cfg.compile:
        model = torch.compile(model)
    if dist_info.enabled:
        from torch.nn.parallel import DistributedDataParallel as DDP

        model = DDP(model, device_ids=[dist_info.local_rank] if device.type == "cuda" else None)
    autocast = autocast_context(cfg, device)
    local_batch = cfg.batch_size // dist_info.world_size
    splits = {"train": data.train, "val": data.val}

    if dist_info.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "tokenizer.json").write_text(json.dumps(_tokenizer_info(data.tokenizer)) + "\n")

    eval_seconds = 0.0

    def evaluate(step):
        nonlocal eval_seconds
        started = time.perf_counter()
        losses = estimate_loss(raw_model, splits, cfg, device, autocast)
        # training time so far, evaluations excluded: the x axis of "loss against wall time"
        train_s = elapsed_before + started - t0 - eval_seconds
        eval_seconds += time.perf_counter() - started
        history["evals"].append({"step": step, **losses, "train_s": round(train_s, 3)})
        if on_eval is not None and dist_info.is_main:
            on_eval(step, losses, raw_model)
        return losses

    bar = None
    if progress and dist_info.is_main:
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.max_iters, initial=start_step, desc="training", unit="step", dynamic_ncols=True)

    model.train()
    t0 = time.perf_counter()
    last_loss = None
    for step in range(start_step, cfg.max_iters):
        if cfg.eval_interval and step % cfg.eval_interval == 0 and step > 0 and not _evaluated(history, step):
            losses = evaluate(step)
            if bar is not None:
                bar.set_postfix(train=f"{losses['train']:.3f}", val=f"{losses['val']:.3f}")
        lr = lr_at(step, cfg)
        for group in optimizer.param_groups:
            group["lr"] = lr
        offsets = sample_offsets(rng, len(data.train), cfg.block_size, cfg.batch_size)  # the global batch
        mine = offsets[dist_info.rank * local_batch : (dist_info.rank + 1) * local_batch]
        x, y = get_batch(data.train, mine, cfg.block_size, device)
        with autocast:
            _, loss = model(x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # under DDP this also averages the gradients across processes
        if cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()

        last_loss = _global_mean(loss.detach(), dist_info)
        history["step"].append(step)
        history["loss"].append(last_loss)
        history["lr"].append(lr)
        if bar is not None:
            bar.update(1)
            if step % 10 == 0:
                bar.set_postfix(loss=f"{last_loss:.3f}", lr=f"{lr:.2e}")
        done = step + 1
        if is_gpt and cfg.checkpoint_interval and done % cfg.checkpoint_interval == 0 and done < cfg.max_iters:
            if dist_info.is_main:
                elapsed = elapsed_before + time.perf_counter() - t0
                save_training_state(out_dir, model=raw_model, optimizer=optimizer, step=done, rng=rng, cfg=cfg,
                                    history=history, elapsed_s=elapsed, tokenizer=data.tokenizer)
                if not cfg.keep_checkpoints:
                    _remove_old_checkpoints(out_dir, keep=done)
            _barrier(dist_info)
    if bar is not None:
        bar.close()

    final = evaluate(cfg.max_iters) if not _evaluated(history, cfg.max_iters) else history["evals"][-1]
    elapsed = elapsed_before + time.perf_counter() - t0
    metrics = {
        "preset": preset,
        "val_loss": final["val"],
        "train_loss": final["train"],
        "last_batch_loss": last_loss if last_loss is not None else (history["loss"][-1] if history["loss"] else None),
        "elapsed_s": round(elapsed, 3),
        "steps": cfg.max_iters,
        "tokens_seen": cfg.max_iters * cfg.batch_size * cfg.block_size,
        "n_params": raw_model.num_params(),
        "flops_per_token": flops_per_token(model_config, cfg.block_size, raw_model.num_params()),
        "tokens_per_s": round((cfg.max_iters - start_step) * cfg.batch_size * cfg.block_size
                              / max(1e-9, elapsed - elapsed_before), 1),
        "world_size": dist_info.world_size,
        "device": device.type,
        "model_config": model_config.to_dict(),
        "train_config": asdict(cfg),
        "history": history,
    }
    if dist_info.is_main:
        if is_gpt:
            save_checkpoint(out_dir, model_config, raw_model.to_params())
        text_out = json.dumps(metrics, indent=1) + "\n"
        atomic_write(out_dir / "metrics.json", lambda t: Path(t).write_text(text_out))
    _barrier(dist_info)
    return metrics


def _check_variant(model, cfg: TrainConfig, n_vocab: int, resume: bool) -> GPTConfig:
    """The config of a model given to ``train``, after checking that it fits the run."""
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    config = getattr(model, "config", None)
    if not isinstance(config, GPTConfig) or not callable(getattr(model, "num_params", None)):
        raise TypeError("model needs the GPT interface: a GPTConfig in .config and .num_params()")
    if config.vocab_size != n_vocab:
        raise ValueError(f"the model has vocab_size={config.vocab_size}, the tokenizer {n_vocab} ids")
    if config.n_ctx < cfg.block_size:
        raise ValueError(f"the model's context n_ctx={config.n_ctx} is shorter than "
                         f"block_size={cfg.block_size}")
    if type(model) is not GPT and (resume or cfg.checkpoint_interval):
        raise ValueError("checkpoints are GPT-2 checkpoints: resume and checkpoint_interval need "
                         "a gptlib.GPT, not a variant")
    return config


def flops_per_token(config: GPTConfig, seq_len: int, n_params: int | None = None) -> int:
    """Training FLOPs per token: 6 per parameter (forward 2, backward 4) plus attention's scores.

    Attention adds 2 matmuls of [T, T] x [T, d] per layer (12 * n_layer * T * n_embd with the
    backward pass), which the parameter count does not see. As in the PaLM paper's MFU formula.
    MFU = tokens_per_s * flops_per_token / the device's peak FLOP/s.
    ``n_params``: the model's count when it is not a GPT of this config (a variant).
    """
    from .weights import param_table

    if n_params is None:
        n_params = sum(math.prod(shape) for _, _, _, shape in param_table(config))
    return int(6 * n_params + 12 * config.n_layer * seq_len * config.n_embd)


def _tokenizer_info(tokenizer) -> dict:
    return tokenizer.to_dict() if hasattr(tokenizer, "to_dict") else {"type": "bpe"}


def _evaluated(history: dict, step: int) -> bool:
    return any(e["step"] == step for e in history["evals"])


def _global_mean(loss: torch.Tensor, dist_info: Distributed) -> float:
    """The loss averaged over all processes: the loss of the global batch."""
    if dist_info.enabled:
        import torch.distributed as dist

        loss = loss.clone()
        dist.all_reduce(loss, op=dist.ReduceOp.SUM)
        loss /= dist_info.world_size
    return float(loss.item())


def _barrier(dist_info: Distributed) -> None:
    if dist_info.enabled:
        import torch.distributed as dist

        dist.barrier()


def _remove_old_checkpoints(out_dir: Path, keep: int) -> None:
    for folder in Path(out_dir).glob(f"{CHECKPOINT_PREFIX}*"):
        if folder.is_dir() and folder.name != f"{CHECKPOINT_PREFIX}{keep:07d}":
            shutil.rmtree(folder, ignore_errors=True)


def list_checkpoints(out_dir) -> list[tuple[int, Path]]:
    """(step, folder) of every checkpoint kept in ``out_dir``, oldest first."""
    found = []
    for folder in Path(out_dir).glob(f"{CHECKPOINT_PREFIX}*"):
        if folder.is_dir():
            found.append((int(folder.name[len(CHECKPOINT_PREFIX):]), folder))
    return sorted(found)


# --- the project's own model -----------------------------------------------------------------------

SHAKESPEARE_MODEL = Path(__file__).parent / "assets" / "shakespeare_gpt"


def load_shakespeare_model():
    """(config, params, tokenizer) of the small GPT this project trained on Tiny Shakespeare.

    Trained by ``python -m gptlib.train --preset shakespeare-bpe`` with chapter 1's tokenizer;
    its validation loss and training time are in ``gptlib/assets/shakespeare_gpt/metrics.json``.
    """
    if not (SHAKESPEARE_MODEL / "model.safetensors").is_file():
        raise FileNotFoundError(f"{SHAKESPEARE_MODEL} has no model.safetensors; train it with "
                                f"`python -m gptlib.train --preset shakespeare-bpe --out {SHAKESPEARE_MODEL}`")
    config, params = load_checkpoint(SHAKESPEARE_MODEL)
    return config, params, tokenizer_from_folder(SHAKESPEARE_MODEL)


__all__ = [
    "CharTokenizer", "PRESETS", "TrainConfig", "adamw_init", "adamw_step", "adamw_update", "cross_entropy",
    "cross_entropy_backward", "estimate_loss", "get_batch", "get_preset", "gpt2_backward", "latest_checkpoint",
    "list_checkpoints", "load_shakespeare_model", "loss_and_grads", "lr_at", "make_optimizer", "train",
    "transformer_block_backward",
]
