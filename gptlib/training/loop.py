"""Chapter 8: the PyTorch training loop, in the nanoGPT spirit.

``train`` reads as its steps: set up (device, processes, data), start (a fresh model or the
latest checkpoint), then for each step: evaluate when due, one optimizer step on a random
batch, a checkpoint when due; finally evaluate and write the model folder and metrics.json.
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from ..checks import check_resume, check_train_model, check_world_size
from ..files import atomic_write
from ..model import GPT
from ..weights import save_checkpoint
from .batches import RunData, get_batch, prepare_data, sample_offsets
from .checkpoints import (
    latest_checkpoint, load_training_state, optimizer_state_dict, remove_old_checkpoints,
    save_training_state,
)
from .distributed import Distributed, barrier, global_mean, setup_distributed
from .optimizer import (
    autocast_context, flops_per_token, initial_model, lr_at, make_optimizer, resolve_device,
)
from .settings import TrainConfig


@torch.no_grad()
def estimate_loss(model, splits: dict, cfg: TrainConfig, device, autocast=None) -> dict:
    """Mean loss over ``eval_iters`` batches of each split, dropout off.

    The batches come from a generator seeded the same way every time: each evaluation sees the
    same windows (comparable numbers) and the training sampler's state is not touched.
    """
    was_training = model.training
    model.eval()
    batch = cfg.eval_batch_size or cfg.batch_size
    out = {}
    for name, data in splits.items():
        rng = np.random.default_rng([cfg.seed, 1 if name == "val" else 0])
        losses = []
        for _ in range(cfg.eval_iters):
            offsets = sample_offsets(rng, len(data), cfg.block_size, batch)
            x, y = get_batch(data, offsets, cfg.block_size, device)
            with autocast or contextlib.nullcontext():
                _, loss = model(x, y)
            losses.append(loss.item())
        out[name] = float(np.mean(losses))
    model.train(was_training)
    return out


@dataclass
class Run:
    """A training run in progress: what ``train``'s steps share."""

    cfg: TrainConfig
    out_dir: Path
    data: RunData
    device: torch.device
    dist: Distributed
    model: torch.nn.Module  # the model itself (what is saved, evaluated, sampled)
    optimizer: torch.optim.Optimizer
    rng: np.random.Generator  # the data sampler, the same on every process: a global batch
    is_gpt: bool  # a gptlib.GPT is saved as a GPT-2 checkpoint; a variant is not
    step: int = 0  # optimizer steps done
    start_step: int = 0  # where this process started (after a resume: the checkpoint's step)
    elapsed_before: float = 0.0  # training seconds of the run before a resume
    history: dict = field(default_factory=lambda: {"step": [], "loss": [], "lr": [], "evals": []})
    wrapped: torch.nn.Module | None = None  # compiled and/or DDP-wrapped: what the steps call
    autocast: object = None
    started: float = field(default_factory=time.perf_counter)
    eval_seconds: float = 0.0

    def elapsed(self) -> float:
        return self.elapsed_before + time.perf_counter() - self.started


def train(cfg: TrainConfig, out_dir, *, resume: bool = False, progress: bool = True,
          text: str | None = None, on_eval=None, preset: str | None = None,
          model: torch.nn.Module | None = None) -> dict:
    """Train a GPT as ``cfg`` says; write the final weights and metrics.json into ``out_dir``.

    Returns the metrics: {"val_loss", "train_loss", "elapsed_s", "history", ...}.
    ``on_eval(step, losses, model)`` is called after each evaluation (e.g. to plot, or sample).
    ``model``: a variant to train instead of a fresh ``GPT``: ``model(ids, targets)`` returns
    (logits, loss), and it has ``.config`` (a GPTConfig) and ``.num_params()``. Only a
    ``gptlib.GPT`` is written as a GPT-2 checkpoint (a variant's weights would load into a
    different network); for a variant ``out_dir`` receives metrics.json.
    Under torchrun every process calls this; rank 0 writes the files.
    """
    threads = torch.get_num_threads()
    try:
        run = _start(replace(cfg).validate(), Path(out_dir), resume, text, model)
        bar = tqdm(total=cfg.max_iters, initial=run.step, desc="training", unit="step",
                   dynamic_ncols=True, disable=not (progress and run.dist.is_main))
        run.wrapped.train()  # evaluations and on_eval's sampling put the mode back
        while run.step < run.cfg.max_iters:
            if _evaluation_due(run):
                losses = _evaluate(run, on_eval)
                bar.set_postfix(train=f"{losses['train']:.3f}", val=f"{losses['val']:.3f}")
            loss, lr = _optimizer_step(run)
            bar.update(1)
            if run.step % 10 == 1:
                bar.set_postfix(loss=f"{loss:.3f}", lr=f"{lr:.2e}")
            if _checkpoint_due(run):
                _checkpoint(run)
        bar.close()
        if not _evaluated(run.history, run.step):
            _evaluate(run, on_eval)
        return _finish(run, preset)
    finally:
        torch.set_num_threads(threads)  # cfg.threads is this run's: the caller keeps its own


def _start(cfg: TrainConfig, out_dir: Path, resume: bool, text, model) -> Run:
    """Device, processes, data, the model and AdamW: fresh, or from the latest checkpoint."""
    device = resolve_device(cfg)
    dist = setup_distributed(device)
    check_world_size(cfg.batch_size, dist.world_size)
    if cfg.threads and device.type == "cpu":
        torch.set_num_threads(cfg.threads)
    data = prepare_data(cfg, text)
    torch.manual_seed(cfg.seed)  # model initialisation and dropout
    if model is None:
        model = initial_model(lambda: GPT(cfg.model_config(data.tokenizer.n_vocab)), cfg.seed,
                              cfg.dtype)
    check_train_model(model, data.tokenizer.n_vocab, cfg.block_size, is_gpt=type(model) is GPT,
                      needs_checkpoints=resume or bool(cfg.checkpoint_interval))
    if cfg.dtype == "float64":
        model.double()  # before a checkpoint is loaded, so that its float64 weights stay exact
    run = Run(cfg, out_dir, data, device, dist, model, optimizer=None,
              rng=np.random.default_rng(cfg.seed), is_gpt=type(model) is GPT)
    checkpoint = latest_checkpoint(out_dir) if resume else None
    if resume and checkpoint is None and dist.is_main:
        print(f"--resume: no checkpoint in {out_dir}; starting from step 0")
    saved = load_training_state(checkpoint) if checkpoint else None
    if saved:
        _restore_model(run, saved, checkpoint)
    model.to(device)
    run.optimizer = make_optimizer(model, cfg, device.type)
    if saved:
        _restore_optimizer_and_rng(run, saved)
    elif dist.enabled:
        torch.manual_seed(cfg.seed + dist.rank)  # different dropout masks on each process
    run.wrapped = torch.compile(model) if cfg.compile else model
    if dist.enabled:
        device_ids = [dist.local_rank] if device.type == "cuda" else None
        run.wrapped = DistributedDataParallel(run.wrapped, device_ids=device_ids)
    run.autocast = autocast_context(cfg, device)
    if dist.is_main:
        data.tokenizer.save(out_dir)
    run.start_step, run.started = run.step, time.perf_counter()
    return run


def _restore_model(run: Run, saved: dict, checkpoint: Path) -> None:
    check_resume(saved["config"], saved["state"]["train_config"], run.model.config,
                 asdict(run.cfg), checkpoint)
    run.model.set_params(saved["params"])
    run.step, run.elapsed_before = saved["state"]["step"], saved["state"]["elapsed_s"]
    run.history = saved["state"]["history"]
    run.rng.bit_generator.state = saved["state"]["numpy_rng"]


def _restore_optimizer_and_rng(run: Run, saved: dict) -> None:
    tensors = saved["tensors"]
    run.optimizer.load_state_dict(optimizer_state_dict(tensors, saved["state"]["optimizer_groups"]))
    torch.set_rng_state(tensors["rng.torch"])
    cuda_states = [tensors[k] for k in sorted(tensors) if k.startswith("rng.cuda.")]
    if cuda_states and run.device.type == "cuda":
        torch.cuda.set_rng_state_all(cuda_states[: torch.cuda.device_count()])


def training_step(model, optimizer, x, y, lr: float, grad_clip: float, autocast=None):
    """One optimizer step on the batch (x, y) [B, T]: returns the batch's loss (a tensor).

    Set this step's learning rate, forward, clear the old gradients, backward, clip the
    gradient's global norm to ``grad_clip`` (0: no clipping), and let AdamW move the weights.
    """
    for group in optimizer.param_groups:
        group["lr"] = lr
    with autocast or contextlib.nullcontext():  # bf16 on a GPU
        _, loss = model(x, y)  # the mean cross-entropy over B * T positions
    optimizer.zero_grad(set_to_none=True)  # backward() adds to .grad: clear the last step's
    loss.backward()
    if grad_clip:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return loss.detach()


def _optimizer_step(run: Run) -> tuple[float, float]:
    """One step of the run: this step's learning rate, a random global batch (this process's
    share), ``training_step`` (DDP averages the gradients in backward). Returns (loss, lr)."""
    cfg, dist = run.cfg, run.dist
    lr = lr_at(run.step, cfg)
    offsets = sample_offsets(run.rng, len(run.data.train), cfg.block_size, cfg.batch_size)
    share = cfg.batch_size // dist.world_size
    x, y = get_batch(run.data.train, offsets[dist.rank * share : (dist.rank + 1) * share],
                     cfg.block_size, run.device)
    loss = training_step(run.wrapped, run.optimizer, x, y, lr, cfg.grad_clip, run.autocast)
    loss = global_mean(loss, dist)
    for key, value in (("step", run.step), ("loss", loss), ("lr", lr)):
        run.history[key].append(value)
    run.step += 1
    return loss, lr


def _evaluation_due(run: Run) -> bool:
    interval = run.cfg.eval_interval
    return bool(interval) and run.step > 0 and run.step % interval == 0 and not _evaluated(
        run.history, run.step)


def _evaluated(history: dict, step: int) -> bool:
    return any(e["step"] == step for e in history["evals"])


def _evaluate(run: Run, on_eval) -> dict:
    started = time.perf_counter()
    # training time so far, evaluations excluded: the x axis of "loss against wall time"
    train_s = run.elapsed() - run.eval_seconds
    splits = {"train": run.data.train, "val": run.data.val}
    losses = estimate_loss(run.model, splits, run.cfg, run.device, run.autocast)
    run.eval_seconds += time.perf_counter() - started
    run.history["evals"].append({"step": run.step, **losses, "train_s": round(train_s, 3)})
    if on_eval is not None and run.dist.is_main:
        on_eval(run.step, losses, run.model)
    return losses


def _checkpoint_due(run: Run) -> bool:
    interval = run.cfg.checkpoint_interval
    due = bool(interval) and run.step % interval == 0 and run.step < run.cfg.max_iters
    return run.is_gpt and due


def _checkpoint(run: Run) -> None:
    if run.dist.is_main:
        save_training_state(run.out_dir, model=run.model, optimizer=run.optimizer, step=run.step,
                            rng=run.rng, cfg=run.cfg, history=run.history,
                            elapsed_s=run.elapsed(), tokenizer=run.data.tokenizer)
        if not run.cfg.keep_checkpoints:
            remove_old_checkpoints(run.out_dir, keep=run.step)
    barrier(run.dist)


def _finish(run: Run, preset: str | None) -> dict:
    """The metrics of the run; rank 0 writes the model folder (a GPT) and metrics.json."""
    cfg, config, final = run.cfg, run.model.config, run.history["evals"][-1]
    elapsed = run.elapsed()
    steps_here, tokens = cfg.max_iters - run.start_step, cfg.batch_size * cfg.block_size
    metrics = {
        "preset": preset,
        "val_loss": final["val"],
        "train_loss": final["train"],
        "last_batch_loss": run.history["loss"][-1] if run.history["loss"] else None,
        "elapsed_s": round(elapsed, 3),
        "steps": cfg.max_iters,
        "tokens_seen": cfg.max_iters * tokens,
        "n_params": run.model.num_params(),
        "flops_per_token": flops_per_token(config, cfg.block_size, run.model.num_params()),
        "tokens_per_s": round(steps_here * tokens / max(1e-9, elapsed - run.elapsed_before), 1),
        "world_size": run.dist.world_size,
        "device": run.device.type,
        "model_config": config.to_dict(),
        "train_config": asdict(cfg),
        "history": run.history,
    }
    if run.dist.is_main:
        if run.is_gpt:
            save_checkpoint(run.out_dir, config, run.model.to_params())
        text = json.dumps(metrics, indent=1) + "\n"
        atomic_write(run.out_dir / "metrics.json", lambda t: Path(t).write_text(text))
    barrier(run.dist)
    return metrics
