"""Chapter 8: the corpus as token ids, split once, and random windows of it as batches."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..checks import check_splits
from ..data import load_text
from ..tokenizer import CharTokenizer, shakespeare_tokenizer
from .settings import TrainConfig


def make_tokenizer(kind: str, text: str):
    """The tokenizer a run names: "char" (the characters of ``text``) or "bpe" (chapter 1's,
    learned on the first 90% of Tiny Shakespeare)."""
    return CharTokenizer.from_text(text) if kind == "char" else shakespeare_tokenizer()


def encode_corpus(text: str, tokenizer, val_fraction: float = 0.1):
    """(train_ids, val_ids), int64 arrays: the first 90% of the text to train on, the rest held out.

    The split is by characters, before tokenizing: chapter 1's tokenizer learned its merges on
    exactly that first 90%, so the validation text is unseen by the tokenizer and the model
    alike. A contiguous split (not random windows) means no validation window overlaps the
    training text.
    """
    n_train = int(len(text) * (1 - val_fraction))
    encode = getattr(tokenizer, "encode_ordinary", tokenizer.encode)  # no special tokens here
    train_ids = np.asarray(encode(text[:n_train]), dtype=np.int64)
    val_ids = np.asarray(encode(text[n_train:]), dtype=np.int64)
    if len(train_ids) < 2 or len(val_ids) < 2:
        raise ValueError(f"the corpus has {len(text)} characters: too few to split into "
                         "training and validation")
    return train_ids, val_ids


def sample_offsets(rng: np.random.Generator, n_tokens: int, block_size: int, batch_size: int):
    """``batch_size`` random start positions of (block_size + 1)-token windows."""
    return rng.integers(0, n_tokens - block_size, size=batch_size)


def get_batch(data: np.ndarray, offsets, block_size: int, device="cpu"):
    """Windows of ``data`` at ``offsets``: (x, y) [B, block_size] long tensors, y = x moved by 1."""
    x = np.stack([data[i : i + block_size] for i in offsets])  # [B, T]
    y = np.stack([data[i + 1 : i + 1 + block_size] for i in offsets])  # [B, T], the next tokens
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    if torch.device(device).type == "cuda":  # pinned memory lets the copy overlap the GPU's work
        return tuple(t.pin_memory().to(device, non_blocking=True) for t in (x, y))
    return x.to(device), y.to(device)


@dataclass
class RunData:
    tokenizer: object
    train: np.ndarray
    val: np.ndarray


def prepare_data(cfg: TrainConfig, text: str | None = None) -> RunData:
    """The run's tokenizer and its two splits as token ids, checked once (not every batch)."""
    text = load_text() if text is None else text
    if cfg.data_limit:
        text = text[: cfg.data_limit]
    tokenizer = make_tokenizer(cfg.tokenizer, text)
    train, val = encode_corpus(text, tokenizer, cfg.val_fraction)
    check_splits(train, val, cfg.block_size, cfg.batch_size, tokenizer.n_vocab)
    return RunData(tokenizer, train, val)
