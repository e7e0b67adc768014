"""Every check of a caller's input, in one place.

The functions the chapters display are maths and shapes only; the public entry points
(``gpt2_numpy``, ``NumpyGPT``, ``GPT.forward``, ``generate``, ``loss_and_grads``, ``train``,
``load_gpt2``, the tokenizers, ...) call these first, so a mistake is refused with a message
that names the problem instead of surfacing as a broadcasting error three functions down.

Each ``check_*`` returns the input in the form the caller computes with (or None).
"""

from __future__ import annotations

import dataclasses
import math
import operator

import numpy as np
import torch

from .config import GPTConfig

# --- token ids --------------------------------------------------------------------------------


def check_length(n_seq: int, config: GPTConfig, n_past: int = 0) -> None:
    """A sequence of n_seq tokens after n_past cached ones must be non-empty and fit n_ctx."""
    if n_seq == 0:
        raise ValueError("the sequence of token ids is empty; give at least one token")
    if n_past + n_seq > config.n_ctx:
        held = f" after the {n_past} cached ones" if n_past else ""
        raise ValueError(
            f"the sequence has {n_seq} tokens{held} but the model's context is "
            f"n_ctx={config.n_ctx}; keep the last {config.n_ctx} tokens"
        )


def check_id_values(lowest: int, highest: int, vocab_size: int, what: str = "token id") -> None:
    if lowest < 0:
        raise ValueError(f"{what} {lowest} is negative; ids must be in [0, {vocab_size})")
    if highest >= vocab_size:
        raise ValueError(
            f"{what} {highest} is out of range: the vocabulary has {vocab_size} ids "
            f"(0 to {vocab_size - 1})"
        )


def check_ids(ids, config: GPTConfig, *, batch: bool = False, n_past: int = 0) -> np.ndarray:
    """Token ids for the NumPy model: [n_seq] (or [B, n_seq] with ``batch``) -> int64 array.

    n_past: positions already in a KV cache, which the new ones must fit after.
    """
    arr = np.asarray(ids)
    if arr.size == 0:
        raise ValueError("the sequence of token ids is empty; give at least one token")
    if arr.dtype == bool or arr.dtype.kind not in "iu":
        raise TypeError(f"token ids must be integers, got an array of {arr.dtype}")
    if arr.ndim != 1 and not (batch and arr.ndim == 2):
        wanted = "[n_seq] or [B, n_seq]" if batch else "a 1-D sequence [n_seq]"
        raise ValueError(f"token ids must be {wanted}, got shape {arr.shape}")
    check_length(arr.shape[-1], config, n_past)
    check_id_values(int(arr.min()), int(arr.max()), config.vocab_size)
    return arr.astype(np.int64)


def check_id_batch(ids, config: GPTConfig, *, n_past: int = 0, values: bool = True) -> None:
    """A [B, T] tensor of token ids for the PyTorch model.

    ``values=False`` skips the range check: reading the ids' min and max makes a GPU wait for
    them, so a training loop checks its data once instead of every batch.
    """
    if not isinstance(ids, torch.Tensor):
        raise TypeError(f"GPT expects a torch.LongTensor of shape [B, T], got {type(ids).__name__}")
    if ids.dtype.is_floating_point or ids.dtype.is_complex or ids.dtype == torch.bool:
        raise TypeError(f"token ids must be an integer tensor (torch.long), got {ids.dtype}")
    if ids.ndim != 2:
        raise ValueError(f"token ids must have shape [B, T], got {tuple(ids.shape)}")
    if ids.shape[0] == 0:
        raise ValueError("the batch is empty")
    check_length(ids.shape[1], config, n_past)
    if values:
        lowest, highest = (int(v) for v in torch.aminmax(ids))
        check_id_values(lowest, highest, config.vocab_size)


def check_kv_cache(cache, config: GPTConfig) -> None:
    """A KV cache made for a model of this depth (a PyTorch KVCache: when it was told one)."""
    if cache.n_layer is not None and cache.n_layer != config.n_layer:
        raise ValueError(f"the cache has {cache.n_layer} layers but the model has "
                         f"n_layer={config.n_layer}")


def check_targets(targets, logits_shape: tuple, vocab_size: int) -> np.ndarray:
    """Next-token targets for a loss: integers of the logits' shape without the vocabulary axis."""
    targets = np.asarray(targets)
    if targets.dtype == bool or targets.dtype.kind not in "iu":
        raise TypeError(f"targets must be integer token ids, got an array of {targets.dtype}")
    if tuple(logits_shape[:-1]) != targets.shape:
        raise ValueError(f"logits {tuple(logits_shape)} need targets of shape "
                         f"{tuple(logits_shape[:-1])}, got {targets.shape}")
    if targets.size == 0:
        raise ValueError("there are no targets: the loss of an empty batch is undefined")
    check_id_values(int(targets.min()), int(targets.max()), vocab_size, "target")
    return targets.astype(np.int64)


# --- parameters -----------------------------------------------------------------------------


def check_names_and_shapes(found: dict, expected: dict, where: str) -> None:
    """Refuse tensors that are missing, unexpected or of the wrong shape, naming each one.

    found, expected: {name: shape}; ``where`` names what was read (params, a file).
    """
    missing = sorted(expected.keys() - found.keys())
    unexpected = sorted(found.keys() - expected.keys())
    wrong = sorted(
        f"{name}: expected {tuple(expected[name])}, found {tuple(found[name])}"
        for name in expected.keys() & found.keys()
        if tuple(found[name]) != tuple(expected[name])
    )
    problems = []
    if missing:
        problems.append(f"missing tensors: {', '.join(missing)}")
    if unexpected:
        problems.append(f"unexpected tensors: {', '.join(unexpected)}")
    if wrong:
        problems.append("wrong shapes: " + "; ".join(wrong))
    if problems:
        raise ValueError(f"{where} does not match the model's config:\n  " + "\n  ".join(problems))


# --- generation -------------------------------------------------------------------------------


def _is_number(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float, np.floating, np.integer))


def _is_integer(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, np.integer))


def check_sampling(temperature=1.0, top_k=None, top_p=None) -> None:
    """Refuse sampling settings that mean nothing, saying which one and why."""
    if not _is_number(temperature):
        raise TypeError(f"temperature must be a number, got {temperature!r}")
    if not np.isfinite(temperature) or temperature < 0:
        raise ValueError(f"temperature must be >= 0 (0 means greedy), got {temperature!r}")
    if top_k is not None:
        if not _is_integer(top_k):
            raise TypeError(f"top_k must be an integer or None, got {top_k!r}")
        if top_k < 1:
            raise ValueError(f"top_k must be >= 1 (or None for no limit), got {top_k}")
    if top_p is not None:
        if not _is_number(top_p):
            raise TypeError(f"top_p must be a number or None, got {top_p!r}")
        if not 0 < top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1] (or None for no limit), got {top_p!r}")


def check_max_new_tokens(max_new_tokens) -> None:
    if not _is_integer(max_new_tokens):
        raise TypeError(f"max_new_tokens must be an integer, got {max_new_tokens!r}")
    if max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be >= 0, got {max_new_tokens}")


RAGGED = "batched prompts must all have the same length (pad or generate them one by one)"


def check_prompt(ids, config: GPTConfig, *, batch_allowed: bool) -> tuple[np.ndarray, bool]:
    """A prompt for ``generate``: [T] ids, or [B, T] for a batch -> (int64 [B, T], batched)."""
    if isinstance(ids, torch.Tensor):
        ids = ids.detach().cpu().numpy()
    try:
        arr = np.asarray(ids)
    except ValueError as err:  # ragged nested lists
        raise ValueError(RAGGED) from err
    if arr.dtype == object:
        raise ValueError(RAGGED)
    if arr.size == 0:
        raise ValueError("the prompt is empty; give at least one token id to start from")
    if arr.dtype == bool or arr.dtype.kind not in "iu":
        raise TypeError(f"prompt token ids must be integers, got {arr.dtype}")
    if arr.ndim not in (1, 2):
        raise ValueError(f"the prompt must be [T] token ids, or [B, T] for a batch; "
                         f"got shape {arr.shape}")
    if arr.ndim == 2 and arr.shape[0] != 1 and not batch_allowed:
        raise ValueError("the NumPy model generates one sequence at a time; "
                         "use gptlib.GPT for a batch")
    if arr.shape[-1] > config.n_ctx:
        raise ValueError(
            f"the prompt has {arr.shape[-1]} tokens but the model's context is "
            f"n_ctx={config.n_ctx}; shorten it (for example keep its last {config.n_ctx} tokens)"
        )
    check_id_values(int(arr.min()), int(arr.max()), config.vocab_size, "prompt token id")
    return arr.reshape(-1, arr.shape[-1]).astype(np.int64), arr.ndim == 2


def check_stops(stop) -> list[tuple[int, ...]]:
    """Stop sequences: None, one id, one sequence of ids, or a list of them -> list of tuples."""
    if stop is None:
        return []
    if _is_integer(stop):
        stop = [[stop]]
    elif len(stop) and all(_is_integer(t) for t in stop):
        stop = [stop]  # one sequence given bare
    stops = [tuple(int(t) for t in seq) for seq in stop]
    if any(len(seq) == 0 for seq in stops):
        raise ValueError("a stop sequence is empty; give token ids, e.g. stop=[[198, 198]]")
    return stops


# --- tokenizers -------------------------------------------------------------------------------


def check_text(text) -> str:
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    return text


def check_bpe_training(text, vocab_size, n_special: int) -> int:
    """Arguments of BPE training; returns how many merged tokens the vocabulary has room for."""
    if not check_text(text):
        raise ValueError("cannot train a tokenizer on an empty text")
    if not _is_integer(vocab_size):
        raise TypeError(f"vocab_size must be an int, got {type(vocab_size).__name__}")
    smallest = 256 + n_special
    if vocab_size < smallest:
        specials = f" plus {n_special} special token(s)" if n_special else ""
        raise ValueError(f"vocab_size must be at least {smallest}: the 256 byte tokens"
                         f"{specials}, got {vocab_size}")
    return vocab_size - smallest


def check_special_set(value, known, name: str) -> set[str]:
    """tiktoken's allowed_special / disallowed_special: "all", "none" or a set of names."""
    if value == "all":
        return set(known)
    if value == "none":
        return set()
    if isinstance(value, str):
        raise TypeError(f"{name} must be 'all', 'none' or a set of special tokens, "
                        f"got the string {value!r}")
    value = set(value)
    unknown = value - set(known)
    if unknown:
        raise ValueError(f"{name} names tokens this tokenizer does not have: {sorted(unknown)}")
    return value


def check_decode_ids(ids) -> list[int]:
    """Token ids to decode: a sequence of integers (Python, NumPy or PyTorch) -> list of int."""
    if isinstance(ids, (str, bytes)):
        raise TypeError(f"ids must be a sequence of ints, got {type(ids).__name__}")
    out = []
    for i in ids:
        try:
            out.append(operator.index(i))  # what integers of any library answer; floats refuse
        except TypeError:
            message = f"token ids must be ints, got {i!r} of type {type(i).__name__}"
            raise TypeError(message) from None
    return out


# --- training ---------------------------------------------------------------------------------


def _check_whole(cfg, names, lowest: int, wording: str) -> None:
    for name in names:
        value = getattr(cfg, name)
        if not _is_integer(value) or value < lowest:
            raise ValueError(f"{name} must be {wording}, got {value!r}")


def check_train_config(cfg) -> None:
    """A TrainConfig's values, each refused by name (before any data is read)."""
    _check_whole(cfg, ["n_layer", "n_head", "n_embd", "block_size", "batch_size", "max_iters",
                       "eval_iters"], 1, "a positive integer")
    _check_whole(cfg, ["data_limit", "warmup_iters", "lr_decay_iters", "eval_interval",
                       "eval_batch_size", "checkpoint_interval", "threads"], 0, "an integer >= 0")
    if not (_is_number(cfg.lr) and math.isfinite(cfg.lr) and cfg.lr > 0):
        raise ValueError(f"the learning rate lr must be a positive number, got {cfg.lr!r}")
    if not (math.isfinite(cfg.min_lr) and 0 <= cfg.min_lr <= cfg.lr):
        raise ValueError(f"min_lr must be in [0, lr={cfg.lr}], got {cfg.min_lr!r}")
    for name in ("beta1", "beta2"):
        if not 0 <= getattr(cfg, name) < 1:
            raise ValueError(f"{name} must be in [0, 1), got {getattr(cfg, name)!r}")
    if not (math.isfinite(cfg.weight_decay) and cfg.weight_decay >= 0):
        raise ValueError(f"weight_decay must be >= 0, got {cfg.weight_decay!r}")
    if not (math.isfinite(cfg.grad_clip) and cfg.grad_clip >= 0):
        raise ValueError(f"grad_clip must be >= 0 (0 turns clipping off), got {cfg.grad_clip!r}")
    if not 0 < cfg.val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {cfg.val_fraction!r}")
    choices = {"tokenizer": ("char", "bpe"), "device": ("auto", "cpu", "cuda", "mps"),
               "dtype": ("auto", "float32", "bfloat16", "float64")}
    for name, allowed in choices.items():
        if getattr(cfg, name) not in allowed:
            raise ValueError(f"{name} must be {_one_of(allowed)}, got {getattr(cfg, name)!r}")
    # GPTConfig's own checks: n_embd divisible by n_head, dropout in [0, 1)
    GPTConfig(vocab_size=1, n_ctx=cfg.block_size, n_embd=cfg.n_embd, n_head=cfg.n_head,
              n_layer=cfg.n_layer, dropout=cfg.dropout)


def _one_of(allowed) -> str:
    quoted = [f"'{a}'" for a in allowed]
    return ", ".join(quoted[:-1]) + f" or {quoted[-1]}"


def check_splits(train: np.ndarray, val: np.ndarray, block_size: int, batch_size: int,
                 vocab_size: int) -> None:
    """The corpus, once before training: every split holds a window, every id a row of wte."""
    for name, data in (("training", train), ("validation", val)):
        if len(data) <= block_size:
            raise ValueError(
                f"the {name} split has {len(data)} tokens, not more than block_size={block_size}: "
                f"no window fits; use more data or a smaller block_size"
            )
        check_id_values(int(data.min()), int(data.max()), vocab_size)
    windows = len(train) - block_size
    if batch_size > windows:
        raise ValueError(
            f"batch_size={batch_size} is larger than the data: the training split has only "
            f"{windows} windows of block_size={block_size} tokens"
        )


def check_world_size(batch_size: int, world_size: int) -> None:
    if batch_size % world_size:
        raise ValueError(f"batch_size={batch_size} must divide evenly among {world_size} processes")


def check_train_model(model, n_vocab: int, block_size: int, *, is_gpt: bool,
                      needs_checkpoints: bool) -> None:
    """A model given to ``train`` must fit the run: the GPT interface, vocabulary, context."""
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    config = getattr(model, "config", None)
    if not isinstance(config, GPTConfig) or not callable(getattr(model, "num_params", None)):
        raise TypeError("model needs the GPT interface: a GPTConfig in .config and .num_params()")
    if config.vocab_size != n_vocab:
        raise ValueError(f"the model has vocab_size={config.vocab_size}, "
                         f"the tokenizer {n_vocab} ids")
    if config.n_ctx < block_size:
        raise ValueError(f"the model's context n_ctx={config.n_ctx} is shorter than "
                         f"block_size={block_size}")
    if needs_checkpoints and not is_gpt:
        raise ValueError("checkpoints are GPT-2 checkpoints: resume and checkpoint_interval need "
                         "a gptlib.GPT, not a variant")


def check_resume(saved_config: GPTConfig, saved_settings: dict, config: GPTConfig,
                 settings: dict, checkpoint) -> None:
    """A run resumes only with the model shape and the settings its checkpoint was made with."""
    if dataclasses.replace(saved_config, dropout=config.dropout) != config:  # no dropout on disk
        raise ValueError(f"{checkpoint} holds a model of shape {saved_config}, but the "
                         f"settings give {config}")
    if saved_settings != settings:
        changed = {k: (v, settings.get(k)) for k, v in saved_settings.items()
                   if settings.get(k) != v}
        raise ValueError(f"--resume with different settings than the checkpoint {checkpoint}: "
                         f"{changed}")
