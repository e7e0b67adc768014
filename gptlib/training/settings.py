"""Chapter 8: the settings of a training run, and presets that pick them for a machine."""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..checks import check_train_config
from ..config import GPTConfig


@dataclass
class TrainConfig:
    """Everything a training run needs; presets in ``PRESETS``; the CLI can override any field."""

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
        """Refuse values that mean nothing, each by name (gptlib.checks); returns self."""
        check_train_config(self)
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
    # character-level Shakespeare on a 2-core CPU. nanoGPT's recipe is 4 layers x 128, batch 12,
    # 2000 iterations at lr 1e-3; at this budget a shallower model with a bigger batch, a higher
    # learning rate, no dropout and 800 steps reaches the same loss with about half the FLOPs and
    # a third of the steps (see benchmarks/bench_training.py)
    "shakespeare-char-cpu": TrainConfig(
        n_layer=2, n_head=4, n_embd=128, block_size=64, dropout=0.0, batch_size=32, max_iters=800,
        lr=3e-3, min_lr=3e-4, warmup_iters=30, eval_interval=0, eval_iters=50, eval_batch_size=64,
        checkpoint_interval=0, threads=2,
    ),
    # the project's own model (gptlib/assets/shakespeare_gpt): chapter 1's BPE tokenizer
    "shakespeare-bpe": TrainConfig(
        tokenizer="bpe", n_layer=4, n_head=4, n_embd=128, block_size=128, dropout=0.0,
        batch_size=16, max_iters=1000, lr=2e-3, min_lr=2e-4, warmup_iters=50, eval_interval=200,
        eval_iters=10, eval_batch_size=32, checkpoint_interval=250, keep_checkpoints=True,
        threads=2,
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
