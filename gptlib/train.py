"""Train a GPT from the command line.

    python -m gptlib.train --preset tiny --out runs/tiny
    python -m gptlib.train --preset shakespeare-char-cpu --out runs/char --max-iters 300 --lr 2e-3
    python -m gptlib.train --preset tiny --out runs/tiny --resume  # from the last checkpoint
    torchrun --standalone --nproc_per_node 2 -m gptlib.train --preset tiny --out runs/ddp

Every field of ``gptlib.training.TrainConfig`` can be overridden: ``--max-iters``, ``--lr``,
``--batch-size``, ``--dropout``, ``--compile`` / ``--no-compile``, ... (``--help`` lists them).
The output folder receives config.json + model.safetensors (``gptlib.load_gpt2(DIR)`` loads them),
the tokenizer (tokenizer.json + tokenizer.tiktoken), metrics.json, and the resumable checkpoints.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import fields

from .training import PRESETS, TrainConfig, get_preset, train


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m gptlib.train", description="Train a GPT on Tiny Shakespeare.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="presets: " + ", ".join(PRESETS),
    )
    parser.add_argument("--preset", required=True, help=f"one of: {', '.join(PRESETS)}")
    parser.add_argument("--out", required=True,
                        help="output folder (weights, checkpoints, metrics.json)")
    parser.add_argument("--resume", action="store_true",
                        help="continue from the latest checkpoint in --out")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    overrides = parser.add_argument_group("overrides (default: the preset's value)")
    for f in fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        if f.type in ("bool", bool):
            overrides.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction,
                                   default=None)
        else:
            kind = {"int": int, "float": float, "str": str}.get(str(f.type), str)
            overrides.add_argument(flag, dest=f.name, type=kind, default=None,
                                   metavar=str(f.type).upper())
    return parser


def config_from_args(args) -> TrainConfig:
    """The preset, with the fields given on the command line replaced; checked."""
    cfg = get_preset(args.preset)
    for f in fields(TrainConfig):
        value = getattr(args, f.name)
        if value is not None:
            setattr(cfg, f.name, value)
    return cfg.validate()


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        cfg = config_from_args(args)
    except ValueError as err:
        parser.error(str(err))  # exits with status 2 and the message
    try:
        metrics = train(cfg, args.out, resume=args.resume, progress=not args.no_progress,
                        preset=args.preset)
    except ValueError as err:
        print(f"python -m gptlib.train: error: {err}", file=sys.stderr)
        return 2
    if metrics["world_size"] == 1 or _is_rank0():
        print(f"done: {metrics['steps']} steps, val loss {metrics['val_loss']:.4f}, "
              f"train loss {metrics['train_loss']:.4f}, {metrics['elapsed_s']:.1f} s -> {args.out}")
    return 0


def _is_rank0() -> bool:
    return os.environ.get("RANK", "0") == "0"


if __name__ == "__main__":
    sys.exit(main())
