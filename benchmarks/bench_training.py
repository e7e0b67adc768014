"""Character-level Shakespeare on this CPU: validation loss against wall time.

    .venv/bin/python benchmarks/bench_training.py                      # the shakespeare-char-cpu preset
    .venv/bin/python benchmarks/bench_training.py --nanogpt            # nanoGPT's CPU recipe, for comparison
    .venv/bin/python benchmarks/bench_training.py --evals 6            # more points on the curve

The goal (issue 6): val loss <= 1.88 in at most half the time of nanoGPT's CPU recipe
(4 layers, 128 wide, batch 12, block 64, 2000 iterations, lr 1e-3, no dropout: val 1.886 in
about 133 s on this 2-core machine). Training time excludes evaluation (reported separately);
the final loss is measured on `eval_iters` x `eval_batch_size` held-out windows.
A figure printed, never asserted: timings depend on what else the machine is doing.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import replace

import torch

from gptlib.training import get_preset, train

NANOGPT_CPU = dict(n_layer=4, n_head=4, n_embd=128, block_size=64, dropout=0.0, batch_size=12, max_iters=2000,
                   lr=1e-3, min_lr=1e-4, warmup_iters=100, beta2=0.99, weight_decay=0.1, grad_clip=1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nanogpt", action="store_true", help="run nanoGPT's CPU recipe instead of the preset")
    parser.add_argument("--evals", type=int, default=4, help="evaluations along the way (the curve's points)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--preset", default="shakespeare-char-cpu", help="e.g. shakespeare-char-gpu on a GPU")
    parser.add_argument("--peak-tflops", type=float, default=0.0,
                        help="the device's peak (e.g. 989 for an H100 SXM in dense bf16) to print MFU")
    args = parser.parse_args()

    cfg = get_preset(args.preset)
    if args.nanogpt:
        cfg = replace(cfg, **NANOGPT_CPU)
    cfg = replace(cfg, threads=args.threads if cfg.device != "cuda" else 0, eval_interval=max(1, cfg.max_iters // args.evals),
                  eval_iters=50, eval_batch_size=64)
    name = "nanoGPT CPU recipe" if args.nanogpt else args.preset
    print(f"{name}: {cfg.n_layer} layers x {cfg.n_embd}, batch {cfg.batch_size} x block {cfg.block_size}, "
          f"{cfg.max_iters} iters, lr {cfg.lr}, dropout {cfg.dropout}, torch {torch.__version__}, "
          f"{cfg.threads} threads")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        metrics = train(cfg, out, progress=False, preset=name)
    wall = time.perf_counter() - started
    print(f"{'step':>6} {'train_s':>8} {'train':>7} {'val':>7}")
    for e in metrics["history"]["evals"]:
        print(f"{e['step']:>6} {e['train_s']:>8.1f} {e['train']:>7.4f} {e['val']:>7.4f}")
    reached = [e for e in metrics["history"]["evals"] if e["val"] <= 1.88]
    first = f"step {reached[0]['step']} after {reached[0]['train_s']:.1f} s of training" if reached else "never"
    print(f"final val loss {metrics['val_loss']:.4f} (train {metrics['train_loss']:.4f}); "
          f"training {metrics['history']['evals'][-1]['train_s']:.1f} s, whole run incl. evaluations "
          f"and data loading {wall:.1f} s; val <= 1.88 first seen at: {first}")
    print(f"{metrics['tokens_per_s']:,.0f} tokens/s, {metrics['flops_per_token'] / 1e6:.2f} MFLOP per token"
          + (f", MFU {metrics['tokens_per_s'] * metrics['flops_per_token'] / (args.peak_tflops * 1e12):.1%} "
             f"of {args.peak_tflops:g} TFLOP/s" if args.peak_tflops else ""))
    print(json.dumps({"name": name, "val_loss": round(metrics["val_loss"], 4),
                      "train_s": metrics["history"]["evals"][-1]["train_s"], "wall_s": round(wall, 1)}))


if __name__ == "__main__":
    main()
