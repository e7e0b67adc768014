"""Generation speed and memory: the KV cache against recomputing everything, NumPy and PyTorch.

GPT-2 124M's shape with random weights (no download), a 10-token prompt, greedy decoding of 40
and 200 new tokens. Each configuration runs in its own subprocess, so that its peak resident
memory (``resource.getrusage(...).ru_maxrss``) is its own.

    python benchmarks/bench_generation.py            # everything (a few minutes on 2 cores)
    python benchmarks/bench_generation.py --quick    # a 4-layer model, for a smoke test

Configurations:
- numpy-cache:    gptlib.generation.generate on a NumpyGPT, KV cache on (the default);
- numpy-picogpt:  the straightforward loop of picoGPT: at every step the whole sequence goes
                  through gpt2_numpy, which computes every position's logits, and the last
                  row's argmax is appended;
- torch-cache / torch-nocache: generate on gptlib.GPT (CPU, or --device), with and without cache.

The speed limit of a cached step is memory bandwidth: every weight is read once per token.
The script measures this machine's bandwidth with a large matrix-vector product and prints the
resulting tokens/s ceiling next to the measured speeds.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

GPT2_124M = dict(vocab_size=50257, n_ctx=1024, n_embd=768, n_head=12, n_layer=12)
QUICK = dict(vocab_size=50257, n_ctx=1024, n_embd=256, n_head=4, n_layer=4)
KINDS = ["numpy-cache", "numpy-picogpt", "torch-cache", "torch-nocache"]


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def random_params(config, seed=0):
    """GPT-2-layout parameters drawn in NumPy (float32), with no torch model in memory."""
    from gptlib.weights import param_table, unflatten_params

    rng = np.random.default_rng(seed)
    flat = {}
    for name, _, _, shape in param_table(config):
        if name.endswith(".g"):
            flat[name] = np.ones(shape, np.float32)
        elif name.endswith(".b"):
            flat[name] = np.zeros(shape, np.float32)
        else:
            flat[name] = rng.standard_normal(shape, dtype=np.float32) * np.float32(0.02)
    return unflatten_params(flat, config)


def picogpt_generate(params, config, prompt, n_new):
    """picoGPT's loop: no cache, the whole sequence (and all its logits) at every step."""
    from gptlib.model import gpt2_numpy

    ids = list(prompt)
    for _ in range(n_new):
        logits = gpt2_numpy(ids, params, config)  # [n_seq, vocab]: every position, every step
        ids.append(int(np.argmax(logits[-1])))
    return ids[len(prompt):]


def run_one(kind: str, n_new: int, shape: dict, device: str) -> dict:
    """One configuration, in this process: returns the figures as a dict."""
    import torch

    from gptlib.config import GPTConfig
    from gptlib.generation import generate
    from gptlib.model import GPT, NumpyGPT

    config = GPTConfig(**shape)
    prompt = np.random.default_rng(1).integers(0, config.vocab_size, 10).tolist()
    params = random_params(config)
    weight_bytes = sum(a.nbytes for a in __import__("gptlib.weights").weights.flatten_params(params).values())
    if kind.startswith("torch"):
        model = GPT.from_params(config, params, device=device)
        del params  # keep only the model's copy
    else:
        model = NumpyGPT(config, params)
    rss_loaded = peak_rss_mib()

    start = time.perf_counter()
    if kind == "numpy-picogpt":
        tokens = picogpt_generate(model.params, config, prompt, n_new)
    else:
        tokens = generate(model, prompt, n_new, temperature=0, eos_id=None, use_cache=kind.endswith("-cache"))
        if device == "cuda":
            torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return {
        "kind": kind, "n_new": n_new, "seconds": seconds, "tokens_per_s": n_new / seconds,
        "tokens": tokens, "peak_rss_mib": peak_rss_mib(), "peak_rss_after_load_mib": rss_loaded,
        "weight_mb": weight_bytes / 1e6, "torch_threads": torch.get_num_threads(),
    }


def bandwidth_gb_s() -> float:
    """Bytes per second that a float32 matrix-vector product streams from memory (best of 5)."""
    w = np.random.default_rng(0).standard_normal((768, 160_000), dtype=np.float32)  # ~490 MB
    x = np.ones((1, 768), np.float32)
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        x @ w
        best = min(best, time.perf_counter() - start)
    return w.nbytes / best / 1e9


THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def in_subprocess(*args, threads: int | None = None) -> dict:
    env = dict(os.environ)
    if threads:  # BLAS reads these when it loads, so they must be set before the child starts
        env.update({name: str(threads) for name in THREAD_VARIABLES})
    out = subprocess.run(
        [sys.executable, os.path.abspath(__file__), *args], capture_output=True, text=True, check=True, env=env
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small model, for a smoke test")
    parser.add_argument("--device", default="cpu", help="device for the PyTorch runs (cpu, cuda)")
    parser.add_argument("--lengths", default="40,200", help="numbers of new tokens, comma-separated")
    parser.add_argument(
        "--threads", type=int, default=None,
        help="BLAS/OpenMP/torch threads per run (default: the libraries' own choice). On a machine "
        "shared with other work, 1 avoids threads waiting for each other",
    )
    parser.add_argument("--one", nargs=2, metavar=("KIND", "N_NEW"), help=argparse.SUPPRESS)
    parser.add_argument("--bandwidth", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    shape = QUICK if args.quick else GPT2_124M

    if args.one:  # the child process
        if args.threads:
            import torch

            torch.set_num_threads(args.threads)
        print(json.dumps(run_one(args.one[0], int(args.one[1]), shape, args.device)))
        return 0
    if args.bandwidth:
        print(json.dumps({"gb_s": bandwidth_gb_s()}))
        return 0

    import platform

    import torch

    print(f"model: {'quick 4-layer' if args.quick else 'GPT-2 124M'} shape {shape}, random weights, fp32")
    print(f"prompt: 10 tokens; greedy; PyTorch on {args.device} ({torch.__version__}); "
          f"NumPy {np.__version__}; {os.cpu_count()} CPUs; {platform.processor() or platform.machine()}")
    print(f"threads per run: {args.threads or 'library default'}")
    gb_s = in_subprocess("--bandwidth", threads=args.threads)["gb_s"]
    results = {}
    for n_new in [int(n) for n in args.lengths.split(",")]:
        for kind in KINDS:
            extra = ["--quick"] if args.quick else []
            threads = ["--threads", str(args.threads)] if args.threads else []
            r = in_subprocess("--one", kind, str(n_new), "--device", args.device, *extra, *threads,
                              threads=args.threads)
            results[kind, n_new] = r
            print(f"  done {kind:14} {n_new:4d} tokens: {r['tokens_per_s']:7.2f} tok/s", file=sys.stderr)

    weight_mb = next(iter(results.values()))["weight_mb"]
    ceiling = gb_s * 1e3 / weight_mb
    print(f"\nmatrix-vector bandwidth: {gb_s:.1f} GB/s; weights read per token: {weight_mb:.0f} MB "
          f"-> ceiling about {ceiling:.0f} tokens/s\n")
    print(f"| configuration | new tokens | seconds | tokens/s | % of ceiling | peak RSS (MiB) | RSS after load (MiB) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for (kind, n_new), r in results.items():
        print(f"| {kind} | {n_new} | {r['seconds']:.2f} | {r['tokens_per_s']:.1f} | "
              f"{100 * r['tokens_per_s'] / ceiling:.0f}% | {r['peak_rss_mib']:.0f} | {r['peak_rss_after_load_mib']:.0f} |")
    print()
    for n_new in sorted({n for _, n in results}):
        np_c, pico = results["numpy-cache", n_new], results["numpy-picogpt", n_new]
        t_c, t_n = results["torch-cache", n_new], results["torch-nocache", n_new]
        print(f"{n_new} tokens: NumPy cache / picoGPT-style = {np_c['tokens_per_s'] / pico['tokens_per_s']:.1f}x "
              f"(tokens identical: {np_c['tokens'] == pico['tokens']}); "
              f"PyTorch cache / no cache = {t_c['tokens_per_s'] / t_n['tokens_per_s']:.1f}x "
              f"(identical: {t_c['tokens'] == t_n['tokens']}); "
              f"NumPy and PyTorch tokens identical: {np_c['tokens'] == t_c['tokens']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
