"""The chapters' experiments (gptlib.experiments): how long each takes, and how robust its lesson is.

    .venv/bin/python benchmarks/bench_experiments.py                          # every experiment, its own seed
    .venv/bin/python benchmarks/bench_experiments.py ABLATIONS --seeds 1337,1,2
    OPENBLAS_CORETYPE=Sandybridge ATEN_CPU_CAPABILITY=default OMP_NUM_THREADS=1 \\
        .venv/bin/python benchmarks/bench_experiments.py --digits 12           # the digits on another CPU

For every experiment and seed it prints each run's losses (to --digits places: compare the
output of two emulated CPUs to see how far float64 keeps them apart), the seconds the whole
experiment took (wall and this process's CPU time), and each claim's gap against its margin.
The last lines give, per claim, the gap seen with each seed: a claim a chapter asserts should
hold with room to spare for every seed. Nothing is asserted here:
timings depend on what else the machine is doing.
"""

from __future__ import annotations

import argparse
import time

import torch

from gptlib import experiments

EXPERIMENTS = ["POSITIONS", "SCALE", "NORM_PLACEMENT", "ABLATIONS", "TOKENIZERS"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", default=EXPERIMENTS, help=f"any of {', '.join(EXPERIMENTS)}")
    parser.add_argument("--seeds", default="", help="comma-separated seeds (default: each experiment's own)")
    parser.add_argument("--digits", type=int, default=4, help="decimals of the losses printed")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else [None]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"CPU capability {torch.backends.cpu.get_cpu_capability()}")
    for name in args.names:
        experiment = getattr(experiments, name)
        gaps = {}
        for seed in seeds:
            wall, cpu = time.perf_counter(), time.process_time()
            runs = experiment.run(seed)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            print(f"\n{name}, seed {experiment.cfg.seed if seed is None else seed}: "
                  f"{wall:.1f} s wall, {cpu:.1f} s CPU")
            for run in runs.values():
                print(f"  {run.name:32s} val {run.val_loss:.{args.digits}f}  train {run.train_loss:.{args.digits}f}"
                      f"  bits/char {run.bits_per_char:.{args.digits}f}  params {run.n_params:,}"
                      f"  training {run.seconds:.1f} s")
            for claim in experiment.claims:
                try:
                    verdict = "holds: " + claim.check(runs)
                except AssertionError as failed:
                    verdict = f"FAILS: {failed}"
                a, b = claim.pair
                gap = getattr(runs[a], claim.metric) - getattr(runs[b], claim.metric)
                gaps.setdefault(claim, []).append(gap)
                print(f"  {a} minus {b}: {gap:.3f}; {verdict}")
        for claim, seen in gaps.items():
            print(f"{name}: {claim}: gaps {', '.join(f'{g:.3f}' for g in seen)}")


if __name__ == "__main__":
    main()
