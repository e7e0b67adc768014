"""Chapter 8: checkpoints that resume a run exactly where it stopped.

A run's folder holds ``latest.json`` and ``checkpoint-<step>`` folders. Each checkpoint folder
holds the weights as a model folder (config.json + model.safetensors + the tokenizer, so
``gptlib.load_gpt2`` reads it), train_state.safetensors (AdamW's moments, the torch RNG state)
and train_state.json (the step, the data sampler's RNG state, the settings, the history).
Everything is safetensors or JSON: no pickle.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from ..files import atomic_write
from ..weights import load_checkpoint, save_checkpoint
from .settings import TrainConfig

CHECKPOINT_PREFIX = "checkpoint-"
LATEST = "latest.json"


def save_training_state(folder: Path, *, model, optimizer, step: int, rng: np.random.Generator,
                        cfg: TrainConfig, history: dict, elapsed_s: float, tokenizer) -> Path:
    """Write one resumable checkpoint, the folder ``checkpoint-<step>`` inside ``folder``.

    Every file is written atomically into a temporary folder, which is renamed when complete;
    then ``latest.json`` (itself written atomically) points at it. A crash at any moment
    leaves the previous checkpoint usable.
    """
    final = Path(folder) / f"{CHECKPOINT_PREFIX}{step:07d}"
    tmp = Path(folder) / f".{final.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    save_checkpoint(tmp, model.config, model.to_params())
    tokenizer.save(tmp)
    tensors, groups = _optimizer_tensors(optimizer)
    tensors["rng.torch"] = torch.get_rng_state()  # uint8 tensor: the CPU generator (dropout)
    if torch.cuda.is_available():
        for i, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = state
    atomic_write(tmp / "train_state.safetensors",
                 lambda t: save_file(tensors, t, metadata={"step": str(step)}))
    state = {
        "step": step,  # optimizer steps done; training continues at this step
        "numpy_rng": rng.bit_generator.state,  # the data sampler: which windows come next
        "optimizer_groups": groups,
        "train_config": asdict(cfg),
        "elapsed_s": elapsed_s,
        "history": history,
    }
    atomic_write(tmp / "train_state.json", lambda t: Path(t).write_text(json.dumps(state) + "\n"))
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)  # the folder appears complete, or not at all
    latest = json.dumps({"checkpoint": final.name, "step": step}) + "\n"
    atomic_write(Path(folder) / LATEST, lambda t: Path(t).write_text(latest))
    return final


def _optimizer_tensors(optimizer):
    """AdamW's state as flat tensors ("opt.<index>.exp_avg", ...) and its groups' settings."""
    sd = optimizer.state_dict()
    tensors = {}
    for index, per_param in sd["state"].items():
        for key, value in per_param.items():
            value = value if torch.is_tensor(value) else torch.tensor(value)
            tensors[f"opt.{index}.{key}"] = value.detach().to("cpu").contiguous()
    return tensors, sd["param_groups"]


def optimizer_state_dict(tensors: dict, groups: list) -> dict:
    """The inverse of ``_optimizer_tensors``: what ``optimizer.load_state_dict`` reads."""
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
    """Read what ``save_training_state`` wrote: {"config", "params", "tensors", "state"}."""
    config, params = load_checkpoint(folder)
    with safe_open(folder / "train_state.safetensors", framework="pt") as f:
        tensors = {name: f.get_tensor(name) for name in f.keys()}
        saved_step = int(f.metadata()["step"])
    state = json.loads((folder / "train_state.json").read_text())
    if saved_step != state["step"]:
        raise ValueError(f"{folder}: train_state.safetensors is from step {saved_step}, "
                         f"train_state.json from {state['step']}")
    return {"config": config, "params": params, "tensors": tensors, "state": state}


def list_checkpoints(out_dir) -> list[tuple[int, Path]]:
    """(step, folder) of every checkpoint kept in ``out_dir``, oldest first."""
    found = []
    for folder in Path(out_dir).glob(f"{CHECKPOINT_PREFIX}*"):
        if folder.is_dir():
            found.append((int(folder.name[len(CHECKPOINT_PREFIX) :]), folder))
    return sorted(found)


def remove_old_checkpoints(out_dir: Path, keep: int) -> None:
    """Delete every checkpoint folder but step ``keep``'s."""
    for step, folder in list_checkpoints(out_dir):
        if step != keep:
            shutil.rmtree(folder, ignore_errors=True)
