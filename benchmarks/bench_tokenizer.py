"""Tokenizer speed on Tiny Shakespeare: training against the straightforward algorithm, encoding
against tiktoken. Prints figures; asserts only that the results agree.

    .venv/bin/python benchmarks/bench_tokenizer.py            # about 2 minutes (the slow trainer)
    .venv/bin/python benchmarks/bench_tokenizer.py --skip-slow
"""

import argparse
import time

import tiktoken
from tiktoken.load import load_tiktoken_bpe

from gptlib.bpe import ENDOFTEXT, GPT2_PATTERN, train_bpe_slowly
from gptlib.data import fetch, load_text
from gptlib.tokenizer import BPETokenizer, gpt2_tokenizer


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--skip-slow", action="store_true", help="skip the straightforward trainer")
    args = parser.parse_args()
    text = load_text()
    head = text[:300_000]
    print(f"Tiny Shakespeare: {len(text):,} characters")

    print("\n== Training ==")
    fast, t_fast = timed(BPETokenizer.train, head, 512)
    print(f"vocab 512, first 300,000 chars: fast trainer            {t_fast:8.2f} s")
    if not args.skip_slow:
        (_, merges), t_slow = timed(train_bpe_slowly, head, 512)
        assert merges == fast.training_merges, "the two trainers disagree"
        print(f"vocab 512, first 300,000 chars: straightforward trainer {t_slow:8.2f} s")
        print(f"  same {len(merges)} merges; speed-up {t_slow / t_fast:.0f}x")
    big, t_big = timed(BPETokenizer.train, text, 1024)
    print(f"vocab 1024, all {len(text):,} chars: fast trainer      {t_big:8.2f} s")

    print("\n== Encoding the whole corpus with GPT-2's vocabulary ==")
    enc = tiktoken.Encoding(
        "gpt2", pat_str=GPT2_PATTERN, mergeable_ranks=load_tiktoken_bpe(str(fetch("gpt2.tiktoken"))),
        special_tokens={ENDOFTEXT: 50256}, explicit_n_vocab=50257,
    )
    reference, t_tiktoken = timed(enc.encode_ordinary, text)
    ours = gpt2_tokenizer()
    ids, t_cold = timed(ours.encode_ordinary, text)
    _, t_warm = timed(ours.encode_ordinary, text)
    assert ids == reference, "gptlib and tiktoken disagree"
    print(f"tiktoken (Rust, one thread)             {t_tiktoken:6.2f} s   {len(reference):,} tokens")
    print(f"gptlib, empty word cache                {t_cold:6.2f} s   ({t_cold / t_tiktoken:.1f}x tiktoken)")
    print(f"gptlib, second pass (word cache warm)   {t_warm:6.2f} s   ({t_warm / t_tiktoken:.1f}x tiktoken)")
    print("ids identical to tiktoken's")


if __name__ == "__main__":
    main()
