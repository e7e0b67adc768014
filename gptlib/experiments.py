"""Experiments that show why each piece of a GPT is there: take it out, train, measure.

A ``Variant`` says which pieces a GPT keeps; ``VariantGPT`` is ``gptlib.GPT`` with those pieces
removed or rewired (same modules, same initialisation, same parameter names). ``compare`` trains
variants through gptlib's own training loop (``gptlib.training.train``) in float64, so that the
validation losses a chapter prints are the same on every CPU, and returns their ``Run``s.

The experiments the chapters run are at the end (``ABLATIONS``, ``POSITIONS``, ``SCALE``,
``NORM_PLACEMENT``, ``TOKENIZERS``): their settings were chosen so that every claim a chapter
checks held for each of three seeds, and each takes seconds on a laptop CPU
(``benchmarks/bench_experiments.py`` measures both).
"""

from __future__ import annotations

import json
import math
import tempfile
from dataclasses import dataclass, field, replace
from functools import partial

import torch
from torch import nn

from .config import GPTConfig
from .data import SHAKESPEARE_GPT
from .kvcache import NO_CACHE
from .model import GPT
from .training import TrainConfig, prepare_data, train

NORMS = ("pre", "post", "none")


@dataclass(frozen=True)
class Variant:
    """Which pieces a GPT keeps. The defaults are gptlib.GPT (GPT-2's wiring)."""

    attention: bool = True
    mlp: bool = True
    residual: bool = True
    # "pre": GPT-2, normalise what each layer reads; "post": the original Transformer and GPT-1,
    # normalise the stream after each addition (ln_f stays: a harmless second normalisation,
    # and both wirings then have the same parameters); "none": no layer norm anywhere
    norm: str = "pre"
    positions: bool = True
    scaled: bool = True  # attention scores divided by sqrt(d_k)

    def __post_init__(self):
        if self.norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {self.norm!r}")


class VariantBlock(nn.Module):
    """A transformer block wired as ``variant`` says, from the pieces of a gptlib Block."""

    def __init__(self, block: nn.Module, variant: Variant):
        super().__init__()
        self.variant = variant
        keep_norm = variant.norm != "none"
        self.ln_1 = block.ln_1 if keep_norm else nn.Identity()
        self.attn = block.attn if variant.attention else None
        self.ln_2 = block.ln_2 if keep_norm else nn.Identity()
        self.mlp = block.mlp if variant.mlp else None
        if self.attn is not None and not variant.scaled:
            head_size = block.attn.c_proj.in_features // block.attn.n_head
            self.attn.c_attn.register_forward_hook(partial(_unscale_queries, math.sqrt(head_size)))

    def forward(self, x, kv_cache=NO_CACHE):
        if kv_cache is not NO_CACHE:
            raise ValueError("the experiments' variants train and evaluate without a KV cache")
        for norm, layer in ((self.ln_1, self.attn), (self.ln_2, self.mlp)):
            if layer is not None:
                x = self.sublayer(x, norm, layer)
        return x

    def sublayer(self, x, norm, layer):
        """One half of the block: [B, T, C] -> [B, T, C]."""
        kept = x if self.variant.residual else 0.0  # the residual connection carries x past
        if self.variant.norm == "post":
            return norm(kept + layer(x))  # the original Transformer: add, then normalise the sum
        return kept + layer(norm(x))  # GPT-2: normalise what the layer reads (or Identity)


def _unscale_queries(sqrt_dk, c_attn, inputs, qkv):
    """A forward hook on c_attn: the queries times sqrt(d_k), so that attention's division by
    sqrt(d_k) cancels and the scores are the plain dot products q . k of the learned weights."""
    q, kv = qkv.split([qkv.shape[-1] // 3, 2 * qkv.shape[-1] // 3], dim=-1)  # c_attn = [q | k | v]
    return torch.cat([q * sqrt_dk, kv], dim=-1)


class VariantGPT(GPT):
    """gptlib.GPT with some pieces removed or rewired (see ``Variant``): same initialisation,
    same parameter names, same forward pass (embed, blocks, ln_f, tied head, loss).

    ``VariantGPT(config, Variant())`` is gptlib.GPT itself: with the same seed it holds the same
    weights and gives the same logits.
    """

    def __init__(self, config: GPTConfig, variant: Variant = Variant()):
        super().__init__(config)  # gptlib's own modules and initialisation
        self.variant = variant
        if variant.attention or variant.mlp:
            self.blocks = nn.ModuleList(VariantBlock(block, variant) for block in self.blocks)
        else:
            self.blocks = nn.ModuleList()  # nothing mixes positions: logits depend on one token
        if variant.norm == "none":
            self.ln_f = nn.Identity()
        if not variant.positions:
            # an all-zero position table that never learns: the input is the token embedding alone
            nn.init.zeros_(self.embed.wpe.weight)
            self.embed.wpe.weight.requires_grad_(False)

    def num_params(self) -> int:
        """Learned parameters (a frozen, all-zero position table does not count)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)


# --- training and comparing variants -----------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One trained variant: its losses in nats per token, and what it cost."""

    name: str
    val_loss: float
    train_loss: float
    n_params: int
    seconds: float  # training time (evaluations excluded), as gptlib.train measures it
    curve: tuple  # ((step, val loss), ...) at every evaluation
    chars_per_token: float  # of the validation text: 1 for characters, more for BPE

    @property
    def bits_per_char(self) -> float:
        """Validation loss in bits per character: nats per token / ln 2 / characters per token.

        A loss per token is not comparable across tokenizers (a BPE token predicts several
        characters at once); bits per character is.
        """
        return self.val_loss / math.log(2) / self.chars_per_token


def train_variant(name: str, variant: Variant, cfg: TrainConfig, text: str | None = None) -> Run:
    """Train ``VariantGPT(variant)`` with ``cfg`` through gptlib's training loop in float64.

    ``text``: the corpus (default: Tiny Shakespeare, as every training run).
    """
    if cfg.dtype != "float64" or cfg.device != "cpu":
        raise ValueError("the experiments run in float64 on the CPU, so that their printed "
                         f"digits are the same on every machine; got dtype={cfg.dtype!r}, "
                         f"device={cfg.device!r}")
    data = prepare_data(cfg, text)  # the tokenizer (its vocabulary size) and the validation split
    threads = torch.get_num_threads()
    try:
        model = _float64_model(cfg.model_config(data.tokenizer.n_vocab), variant, cfg.seed)
        with tempfile.TemporaryDirectory(prefix="gptlib-experiment-") as out_dir:
            metrics = train(cfg, out_dir, model=model, progress=False, text=text)  # metrics.json
    finally:
        torch.set_num_threads(threads)  # train() applies cfg.threads; the session keeps its own
    curve = tuple((e["step"], e["val"]) for e in metrics["history"]["evals"])
    val_chars = len(data.tokenizer.decode(data.val))  # both tokenizers decode to the exact text
    return Run(name, metrics["val_loss"], metrics["train_loss"], model.num_params(),
               metrics["elapsed_s"], curve, val_chars / len(data.val))


def _float64_model(config: GPTConfig, variant: Variant, seed: int) -> VariantGPT:
    """A VariantGPT initialised in float64 from ``seed`` (the same seed gives every variant the
    same initial weights). Initialised in float32 and then converted, the weights would differ
    between CPUs: PyTorch draws float32 normals with AVX2 code on one CPU and scalar code on
    another; the float64 draws are the same everywhere."""
    previous = torch.get_default_dtype()
    torch.manual_seed(seed)
    torch.set_default_dtype(torch.float64)
    try:
        return VariantGPT(config, variant)
    finally:
        torch.set_default_dtype(previous)


def compare(variants: dict, cfg: TrainConfig, text: str | None = None) -> dict:
    """Train every variant with the same settings and seed: {name: Run}, in the given order."""
    return {name: train_variant(name, variant, cfg, text) for name, variant in variants.items()}


def shipped_run(folder=SHAKESPEARE_GPT) -> Run:
    """The project's own model (the ``shakespeare-bpe`` preset, trained off-page) as a ``Run``,
    from the metrics.json its training wrote, with its validation split's characters per token."""
    metrics = json.loads((folder / "metrics.json").read_text())
    split = ("tokenizer", "data_limit", "val_fraction")
    data = prepare_data(TrainConfig(**{k: metrics["train_config"][k] for k in split}))
    val_chars = len(data.tokenizer.decode(data.val))
    curve = tuple((e["step"], e["val"]) for e in metrics["history"]["evals"])
    return Run(f"{metrics['preset']} preset", metrics["val_loss"], metrics["train_loss"],
               metrics["n_params"], metrics["elapsed_s"], curve, val_chars / len(data.val))


@dataclass(frozen=True)
class Claim:
    """What an experiment teaches, as a check: ``worse``'s metric is at least ``margin`` above
    ``better``'s (the margin is smaller than the gap seen with every seed tried)."""

    worse: str
    better: str
    margin: float
    metric: str = "val_loss"  # or "bits_per_char"

    @property
    def pair(self) -> tuple:
        """The two runs compared; the gap is the first one's metric minus the second's."""
        return self.worse, self.better

    def check(self, runs: dict) -> str:
        """The claim in words if it holds; AssertionError (with the measured gap) if not."""
        gap = _gap(runs, self)
        unit = "validation loss" if self.metric == "val_loss" else "bits per character"
        if not gap >= self.margin:
            raise AssertionError(f"expected {self.better!r} to beat {self.worse!r} by at least "
                                 f"{self.margin} in {unit}; the gap is {gap:.3f}")
        return f"{self.better} beats {self.worse} by at least {self.margin} in {unit}"


@dataclass(frozen=True)
class Tie:
    """A claim that two runs end up close: their metrics differ by at most ``tolerance``."""

    first: str
    second: str
    tolerance: float
    metric: str = "val_loss"

    @property
    def pair(self) -> tuple:
        return self.first, self.second

    def check(self, runs: dict) -> str:
        gap = _gap(runs, self)
        if not abs(gap) <= self.tolerance:
            raise AssertionError(f"expected {self.first!r} and {self.second!r} to be within "
                                 f"{self.tolerance} of each other; the gap is {gap:.3f}")
        return f"{self.first} and {self.second} are within {self.tolerance} of each other"


def _gap(runs: dict, claim) -> float:
    first, second = claim.pair
    return getattr(runs[first], claim.metric) - getattr(runs[second], claim.metric)


@dataclass(frozen=True)
class Experiment:
    """Variants trained with the same settings and seed, and the claims their losses bear out."""

    variants: dict  # {name: Variant}
    cfg: TrainConfig
    claims: tuple = ()  # Claim and Tie objects
    changes: dict = field(default_factory=dict)  # {name: {TrainConfig field: value}} for one run

    def run(self, seed: int | None = None, text: str | None = None) -> dict:
        """Train every variant: {name: Run}. ``seed``: another seed than ``cfg.seed``;
        ``text``: another corpus than Tiny Shakespeare."""
        cfg = self.cfg if seed is None else replace(self.cfg, seed=seed)
        return {name: train_variant(name, variant, replace(cfg, **self.changes.get(name, {})), text)
                for name, variant in self.variants.items()}

    def check(self, runs: dict) -> list:
        """Each claim in words, after checking it (AssertionError if one fails)."""
        return [claim.check(runs) for claim in self.claims]


# --- the experiments the chapters run -----------------------------------------------------------
# benchmarks/bench_experiments.py prints each one's seconds, and each claim's gap for any seeds.

# A one-layer GPT, 32 wide, on characters: 800 steps of 32 windows of 32 characters.
# lr 3e-3: at 1e-2 training is so sensitive that float64 rounding (1e-16) grows to 1e-2 in the
# loss within 800 steps, and the printed digits would differ between CPUs.
SMALL_RUN = TrainConfig(
    n_layer=1, n_head=4, n_embd=32, block_size=32, batch_size=32, max_iters=800,
    lr=3e-3, min_lr=3e-4, warmup_iters=20, eval_interval=200, eval_iters=10, eval_batch_size=64,
    dtype="float64", device="cpu",
    threads=1,  # tiny matrices: a second thread saves little, and waits badly on a busy machine
)

# Chapter 6: a bigram model (no blocks), the GPT, and the GPT with one piece taken out.
ABLATIONS = Experiment(
    variants={
        "bigram (no blocks)": Variant(attention=False, mlp=False, positions=False),
        "without attention": Variant(attention=False),
        "without residuals": Variant(residual=False),
        "without the MLP": Variant(mlp=False),
        "without layer norm": Variant(norm="none"),
        "GPT": Variant(),
    },
    cfg=SMALL_RUN,
    claims=(
        Claim("bigram (no blocks)", "GPT", 0.3),
        Claim("without attention", "GPT", 0.2),
        Claim("without residuals", "GPT", 0.1),
        Claim("without the MLP", "GPT", 0.05),
        Claim("without layer norm", "GPT", 0.05),
    ),
)

# Chapter 2: the same GPT with an all-zero position table that never learns.
POSITIONS = Experiment(
    variants={"with positions": Variant(), "without positions": Variant(positions=False)},
    cfg=SMALL_RUN,
    claims=(Claim("without positions", "with positions", 0.1),),
)

# Chapter 3: the same GPT with attention scores that are not divided by sqrt(d_k). At this size
# (d_k = 8, GPT-2's small initial weights) it makes no difference: the scores start small.
SCALE = Experiment(
    variants={"scaled (GPT-2)": Variant(), "unscaled": Variant(scaled=False)},
    cfg=SMALL_RUN,
    claims=(Tie("unscaled", "scaled (GPT-2)", 0.05),),
)

# Chapter 5: six layers and no warmup. Post-LN was worse with every seed tried, by 0.10 to 0.84
# (with one seed it never got past predicting letter frequencies).
NORM_PLACEMENT = Experiment(
    variants={"pre-LN (GPT-2)": Variant(), "post-LN (original)": Variant(norm="post")},
    cfg=replace(SMALL_RUN, n_layer=6, batch_size=16, max_iters=300, warmup_iters=0,
                eval_interval=100),
    claims=(Claim("post-LN (original)", "pre-LN (GPT-2)", 0.05),),
)

# Chapter 8: the same GPT on characters and on chapter 1's BPE tokens, compared in bits per
# character (a BPE token stands for 2.26 characters of the validation text on average).
TOKENIZERS = Experiment(
    variants={"characters": Variant(), "BPE": Variant()},
    cfg=SMALL_RUN,
    changes={"BPE": {"tokenizer": "bpe"}},
    claims=(Claim("characters", "BPE", 0.2, "bits_per_char"),),
)


def table(runs: dict, *, bits_per_char: bool = False) -> str:
    """The runs as a text table: parameters and losses in nats per token (2 decimals: float64
    runs give the same digits on every CPU), and optionally bits per character."""
    width = max(len(name) for name in runs) + 2
    header = f"{'':{width}}{'params':>8}{'train':>8}{'val':>8}"
    lines = [header + (f"{'bits/char':>11}" if bits_per_char else "")]
    for name, run in runs.items():
        line = f"{name:{width}}{run.n_params:>8,}{run.train_loss:>8.2f}{run.val_loss:>8.2f}"
        lines.append(line + (f"{run.bits_per_char:>11.2f}" if bits_per_char else ""))
    return "\n".join(lines)


def plot(runs: dict, ax=None, title: str = ""):
    """Validation loss against training step, one line per run; returns the matplotlib Axes."""
    import matplotlib.pyplot as plt  # an optional dependency (the book's)

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    for name, run in runs.items():
        steps, losses = zip(*run.curve)
        ax.plot(steps, losses, marker="o", markersize=3, label=f"{name} ({run.val_loss:.2f})")
    ax.set(xlabel="training step", ylabel="validation loss (nats/token)", title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return ax
