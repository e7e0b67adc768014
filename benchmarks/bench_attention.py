"""Causal attention speed: gptlib's NumPy attention, the same written by hand in PyTorch, and
PyTorch's fused F.scaled_dot_product_attention. Prints a table; asserts only that the outputs agree.

    .venv/bin/python benchmarks/bench_attention.py                 # CPU, a few seconds per row
    .venv/bin/python benchmarks/bench_attention.py --device cuda   # on a GPU (NumPy still on CPU)
    .venv/bin/python benchmarks/bench_attention.py --quick         # small sizes, a smoke test

Shapes are GPT-2 small's heads (12 heads of size 64), batch 1, for several sequence lengths, in
fp32. The hand-written version materialises the [n_head, T, T] score matrix, as the chapter
does; the fused kernel may not (FlashAttention-style kernels work on tiles).
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch
import torch.nn.functional as F

from gptlib.attention import attention, causal_mask


def attention_by_hand(q, k, v):
    """The chapter's formula in PyTorch: [..., T, d] -> [..., T, d]."""
    T = q.shape[-2]
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # [..., T, T]
    mask = torch.ones(T, T, dtype=torch.bool, device=q.device).tril()
    scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


def fused(q, k, v):
    return F.scaled_dot_product_attention(q, k, v, is_causal=True)


def time_it(fn, *args, sync=lambda: None, min_time=0.5, max_repeats=200) -> float:
    """Median seconds per call, after a warm-up call."""
    fn(*args)
    sync()
    times = []
    start = time.perf_counter()
    while len(times) < 3 or (time.perf_counter() - start < min_time and len(times) < max_repeats):
        t0 = time.perf_counter()
        fn(*args)
        sync()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="torch device for the PyTorch rows (default cpu)")
    parser.add_argument("--quick", action="store_true", help="small sizes only")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    n_head, head_size = 12, 64
    lengths = [64, 256] if args.quick else [64, 256, 1024, 2048]

    print(f"causal attention, {n_head} heads of size {head_size}, batch 1, fp32; "
          f"torch {torch.__version__} on {device}, {torch.get_num_threads()} CPU threads")
    print()
    print("| T | NumPy (gptlib) ms | PyTorch by hand ms | F.scaled_dot_product_attention ms | by hand / fused |")
    print("|---:|---:|---:|---:|---:|")
    rng = np.random.default_rng(0)
    for T in lengths:
        q, k, v = (rng.normal(size=(n_head, T, head_size)).astype(np.float32) for _ in range(3))
        tq, tk, tv = (torch.as_tensor(a, device=device) for a in (q, k, v))
        with torch.no_grad():
            ours = attention(q, k, v, causal_mask(T))
            by_hand = attention_by_hand(tq, tk, tv)
            fast = fused(tq, tk, tv)
            np.testing.assert_allclose(by_hand.cpu().numpy(), ours, rtol=0, atol=1e-4)
            np.testing.assert_allclose(fast.cpu().numpy(), ours, rtol=0, atol=1e-4)
            t_numpy = time_it(attention, q, k, v, causal_mask(T))
            t_hand = time_it(attention_by_hand, tq, tk, tv, sync=sync)
            t_fused = time_it(fused, tq, tk, tv, sync=sync)
        print(f"| {T} | {t_numpy * 1e3:.2f} | {t_hand * 1e3:.2f} | {t_fused * 1e3:.2f} | {t_hand / t_fused:.1f}x |")
    print()
    print("All three agree within 1e-4 at every length.")


if __name__ == "__main__":
    main()
