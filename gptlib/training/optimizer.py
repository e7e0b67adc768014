"""Chapter 8: the learning-rate schedule, AdamW's parameter groups, the device and precision."""

from __future__ import annotations

import contextlib
import math
from typing import Callable

import torch

from ..config import GPTConfig
from ..device import pick_device
from ..weights import param_table
from .settings import TrainConfig


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


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig, device_type: str = "cpu"):
    """AdamW with two parameter groups: weight decay on matrices (ndim >= 2), none on the rest.

    Decaying a bias or a layer-norm gain towards 0 has no regularising sense: they do not grow
    with the input's scale the way matrices do. The tied wte is one parameter, decayed once.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": cfg.weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    # fused: one kernel for all parameters on a GPU; foreach: batched tensor ops on a CPU
    kwargs = {"fused": True} if device_type == "cuda" else {"foreach": True}
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), **kwargs)


def resolve_device(cfg: TrainConfig) -> torch.device:
    """The device a run asked for ("auto": gptlib.pick_device), refused clearly if absent."""
    if cfg.device == "auto":
        device = pick_device()
    elif cfg.device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was asked for but PyTorch sees no CUDA GPU; "
                         "use --device cpu or auto")
    else:
        device = torch.device(cfg.device)
    if cfg.dtype == "float64" and device.type == "mps":
        raise ValueError("Apple's MPS has no float64; use --device cpu for dtype float64")
    return device


def initial_model(build: Callable[[], torch.nn.Module], seed: int, dtype: str = "auto"):
    """The fresh model ``build()`` returns, its random initial weights drawn from ``seed``.

    For dtype "float64" the weights are drawn in float64, not drawn in float32 and converted:
    PyTorch draws float32 normals with vectorised code whose last bits differ between CPUs (AVX2
    or not), so a converted draw would start the same run from other weights on another machine.
    """
    torch.manual_seed(seed)
    if dtype != "float64":
        return build()
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        return build()
    finally:
        torch.set_default_dtype(previous)


def autocast_context(cfg: TrainConfig, device: torch.device):
    """bf16 autocast on a GPU (matmuls in bfloat16, reductions in fp32); plain fp32 elsewhere.

    dtype "float64" puts the model itself in float64 (see ``train``): no autocast either.
    """
    want_bf16 = cfg.dtype == "bfloat16" or (
        cfg.dtype == "auto" and device.type == "cuda" and torch.cuda.is_bf16_supported()
    )
    if want_bf16 and device.type in ("cuda", "cpu"):
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def flops_per_token(config: GPTConfig, seq_len: int, n_params: int | None = None) -> int:
    """Training FLOPs per token: 6 per parameter (forward 2, backward 4) plus attention's scores.

    Attention adds 2 matmuls of [T, T] x [T, d] per layer (12 * n_layer * T * n_embd with the
    backward pass), which the parameter count does not see. As in the PaLM paper's MFU formula.
    MFU = tokens_per_s * flops_per_token / the device's peak FLOP/s.
    ``n_params``: the model's count when it is not a GPT of this config (a variant).
    """
    if n_params is None:
        n_params = sum(math.prod(shape) for _, _, _, shape in param_table(config))
    return int(6 * n_params + 12 * config.n_layer * seq_len * config.n_embd)
