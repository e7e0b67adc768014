"""The live model in the page: the files a browser reads to run a GPT with no kernel and no server.

This folder holds the JavaScript (ES modules, no dependencies, for browsers and Node >= 18):

- ``gpt.js``: safetensors reading and a GPT-2-layout model (forward pass, attention maps, logit
  lens, KV-cached generation, sampling); its API is documented at the top of the file;
- ``bpe.js``: chapter 1's byte-level BPE tokenizer (and the character tokenizer), encoding every
  text to the same ids as ``gptlib.tokenizer``.

and this module writes the model folder a page loads (``export_page_model``)::

    config.json          Hugging Face's GPT-2 config, as in the checkpoint
    model.safetensors    the weights in float16: half the download of float32; the tests check
                         that the top prediction stays the same almost everywhere
    tokenizer.json       {"type": "bpe", "pattern": ..., "special_tokens": {...}}, or
                         {"type": "char", "chars": ...} for a character-level model
    tokenizer.tiktoken   a BPE tokenizer's ranks in tiktoken's format (``base64(bytes) rank``)

The folder is made from the fp32 checkpoint when the book is built (a second copy of the model
in git would double what a clone downloads and could drift from the checkpoint it came from):

    python -m gptlib.web export OUT_DIR [--model shakespeare | CHECKPOINT_FOLDER] [--dtype float16]
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

WEB_DIR = Path(__file__).parent
SCRIPTS = ("gpt.js", "bpe.js")  # what a page needs besides the model folder
DTYPES = ("float16", "bfloat16", "float32")


def export_page_model(source, out_dir, dtype: str = "float16") -> Path:
    """Write the folder a page loads (see the module docstring) for the model ``source``.

    source: "shakespeare" (the book's model) or a checkpoint folder (config.json and
    model.safetensors, and the tokenizer.json a training run writes beside them; a folder without
    one holds GPT-2 if its vocabulary has GPT-2's 50,257 ids). Every file is written atomically.
    """
    from ..weights import BUNDLED_MODELS, load_checkpoint

    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}")
    folder = BUNDLED_MODELS.get(source, None) if isinstance(source, str) else None
    folder = Path(source) if folder is None else folder
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a checkpoint folder (config.json + model.safetensors), nor 'shakespeare'")
    config, _ = load_checkpoint(folder)  # refuses a folder gptlib could not run either
    tokenizer_files = _tokenizer_files(folder, config.vocab_size)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tensors = _read_tensors(folder / "model.safetensors")
    _write_safetensors(out_dir / "model.safetensors", _convert(tensors, dtype))
    _write(out_dir / "config.json", (folder / "config.json").read_bytes())
    for name, data in tokenizer_files.items():
        _write(out_dir / name, data)
    return out_dir


def _read_tensors(path: Path) -> dict:
    from safetensors.numpy import load_file

    return load_file(path)


def _convert(tensors: dict, dtype: str) -> dict:
    """The tensors in ``dtype``, refusing a weight too large for float16 (use bfloat16 then)."""
    if dtype == "float32":
        return {name: t.astype(np.float32) for name, t in tensors.items()}
    if dtype == "float16":
        out = {}
        for name, t in tensors.items():
            big = float(np.abs(t).max(initial=0))
            if big > float(np.finfo(np.float16).max):
                raise ValueError(f"{name} holds {big:.4g}, beyond float16's range (65504): export it as bfloat16")
            out[name] = t.astype(np.float16)  # round to nearest, ties to even
        return out
    import torch  # NumPy has no bfloat16; torch rounds to nearest even as float16 does

    return {name: torch.from_numpy(np.ascontiguousarray(t, np.float32)).to(torch.bfloat16) for name, t in tensors.items()}


def _write_safetensors(path: Path, tensors: dict) -> None:
    from ..files import atomic_write

    if any(not isinstance(t, np.ndarray) for t in tensors.values()):
        from safetensors.torch import save_file
    else:
        from safetensors.numpy import save_file
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata={"format": "pt"}))


def _write(path: Path, data: bytes) -> None:
    from ..files import atomic_write

    atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))


def _tokenizer_files(folder: Path, vocab_size: int) -> dict:
    """{file name: bytes} of the tokenizer that goes with the checkpoint in ``folder``."""
    from ..tokenizer import gpt2_tokenizer, ranks_text
    from ..training import CharTokenizer, tokenizer_from_folder

    if (folder / "tokenizer.json").is_file():
        tokenizer = tokenizer_from_folder(folder)
    elif vocab_size == 50257:
        tokenizer = gpt2_tokenizer()
    else:
        raise FileNotFoundError(f"{folder} has no tokenizer.json, and its vocabulary ({vocab_size} ids) is not GPT-2's")
    if isinstance(tokenizer, CharTokenizer):
        return {"tokenizer.json": _json_bytes({"type": "char", "chars": tokenizer.chars})}
    lines = ranks_text(tokenizer.ranks)
    info = {"type": "bpe", "pattern": tokenizer.pattern, "special_tokens": tokenizer.special_tokens}
    return {"tokenizer.json": _json_bytes(info), "tokenizer.tiktoken": lines.encode("ascii")}


def _json_bytes(value) -> bytes:
    return (json.dumps(value, ensure_ascii=False, indent=1) + "\n").encode("utf-8")


def copy_scripts(out_dir) -> list[Path]:
    """Copy gpt.js and bpe.js into ``out_dir`` (for a page that serves them itself)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copyfile(WEB_DIR / name, out_dir / name)) for name in SCRIPTS]
