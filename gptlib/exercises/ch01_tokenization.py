"""Chapter 1 exercises: count pairs, apply one merge, encode a word, train a few merges; then,
beyond the chapter, decode a stream of tokens, find a tokenizer bug, predict a comparison.

References: gptlib's own tested tokenizer functions, Python's incremental UTF-8 decoder
(``codecs``) and OpenAI's ``tiktoken``.
"""

from __future__ import annotations

import codecs
from functools import lru_cache

import tiktoken

from ..data import load_text
from ..tokenizer import (GPT2_PATTERN, BPETokenizer, bpe_encode_chunk, count_pairs, gpt2_tokenizer,
                         merge, shakespeare_tokenizer, train_bpe_slowly)
from . import Case, Exercise, Mistake, Prediction, describe


def _count_pairs(ids):
    return count_pairs(ids)


def _merge(ids, pair, new_id):
    return merge(ids, pair, new_id)


def _encode_word(word, ranks):
    return bpe_encode_chunk(word.encode("utf-8"), ranks)


def _train(text, n_merges):
    vocab, merges = train_bpe_slowly(text, 256 + n_merges, special_tokens=())
    return [vocab[new_id] for _, _, new_id, _ in merges]


def _compare_counts(expected: dict, got) -> str | None:
    if not isinstance(got, dict):  # a Counter is a dict too, so it is welcome
        return f"expected a dict of pair -> count, got {describe(got)}"
    got = dict(got)
    for pair, count in expected.items():
        if pair not in got:
            return f"the pair {pair} (seen {count} times) is missing"
        if got[pair] != count:
            return f"the pair {pair} occurs {count} times, your count is {got[pair]}"
    extra = set(got) - set(expected)
    if extra:
        pair = sorted(extra, key=repr)[0]
        return f"the pair {pair!r} is not in the list, but your result has it"
    return None


def _compare_lists(expected: list, got) -> str | None:
    if not isinstance(got, list):
        return f"expected a list, got {describe(got)}"
    if got == expected:
        return None
    for i, (e, g) in enumerate(zip(expected, got)):
        if e != g:  # say where, and show the reader's value, never the expected one
            return f"item {i} is wrong: yours is {g!r} (you returned {describe(got)})"
    return f"expected {len(expected)} items, got {len(got)} (you returned {describe(got)})"


# A small rank table to encode words with: the 256 bytes, then merges learned on a few words.
_TOY_TEXT = "low lower lowest newer newest wider wide widest slow slower " * 3
TOY_RANKS = BPETokenizer.train(_TOY_TEXT, 256 + 20, special_tokens=()).ranks
# A hand-made table where the order matters: "bc" was learned before "ab".
BC_FIRST_RANKS = {**{bytes([i]): i for i in range(256)}, b"bc": 256, b"ab": 257, b"abab": 258}

# --- beyond the chapter: decoding a stream of tokens ---------------------------------------------


def _stream_decode(ids, vocab):
    """Python's incremental UTF-8 decoder: the complete characters, and the bytes still waiting."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    text = decoder.decode(b"".join(vocab[i] for i in ids), final=False)
    pending, _ = decoder.getstate()
    return text, pending


def _replace_everything(ids, vocab):
    return b"".join(vocab[i] for i in ids).decode("utf-8", "replace"), b""


def _token_by_token(ids, vocab):
    return "".join(vocab[i].decode("utf-8", "replace") for i in ids), b""


def _drop_the_pending_bytes(ids, vocab):
    return _stream_decode(ids, vocab)[0], b""


def _compare_text_and_bytes(expected: tuple, got) -> str | None:
    if not (isinstance(got, tuple) and len(got) == 2):
        return f"expected a tuple (text, pending bytes), got {describe(got)}"
    text, pending = got
    if not isinstance(text, str) or not isinstance(pending, bytes):
        return f"expected (a str, a bytes object), got ({describe(text)}, {describe(pending)})"
    if text != expected[0]:
        return f"your text, {text!r}, is not the text of the complete characters"
    if pending != expected[1]:
        return f"your pending bytes, {pending!r}, are not the start of the unfinished character"
    return None


_STREAM_TEXTS = ["héllo 世界 😀", "Café ☕ at noon", "日本語", "🎉🎉", "naïve façade", "ROMEO: ay 😀"]


def _stream_cases(rng):
    tokenizer = shakespeare_tokenizer()
    text = _STREAM_TEXTS[int(rng.integers(len(_STREAM_TEXTS)))]
    ids = tokenizer.encode_ordinary(text)
    cut = int(rng.integers(1, len(ids) + 1))
    return [Case((ids[:cut], tokenizer.vocab), f"the first {cut} tokens of {text!r}")]


def _emoji_case(n_tokens):
    tokenizer = shakespeare_tokenizer()
    ids = tokenizer.encode_ordinary("a😀")[: 1 + n_tokens]
    return Case((ids, tokenizer.vocab), f"'a' and {n_tokens} of the 4 byte tokens of 😀")


# --- beyond the chapter: a tokenizer bug ---------------------------------------------------


def buggy_encode(text, ranks):
    """Token ids of ``text`` with the rank table ``ranks``. (This version has a bug: find it.)"""
    ids = []
    for word in text.split():  # cut the text into chunks, then encode each chunk
        ids += bpe_encode_chunk(word.encode("utf-8"), ranks)
    return ids


@lru_cache(maxsize=4)
def _tiktoken_for(ranks_items: tuple) -> tiktoken.Encoding:
    return tiktoken.Encoding("reader", pat_str=GPT2_PATTERN, mergeable_ranks=dict(ranks_items),
                             special_tokens={})


def _tiktoken_encode(text, ranks):
    """OpenAI's tiktoken, with the same rank table and GPT-2's pattern."""
    by_rank = tuple(sorted(ranks.items(), key=lambda item: item[1]))  # hashable, for the cache
    return _tiktoken_for(by_rank).encode_ordinary(text)


def _no_chunks(text, ranks):
    return bpe_encode_chunk(text.encode("utf-8"), ranks)


def _encode_cases(rng):
    corpus = load_text("tinyshakespeare.txt")
    start = int(rng.integers(0, len(corpus) - 200))
    length = int(rng.integers(20, 200))
    text = corpus[start : start + length]
    return [Case((text, shakespeare_tokenizer().ranks), f"{length} characters of Shakespeare")]


def _compare_ids(expected: list, got) -> str | None:
    if not isinstance(got, list) or not all(isinstance(i, int) for i in got):
        return f"expected a list of int token ids, got {describe(got)}"
    if got == expected:
        return None
    first = next((i for i, (e, g) in enumerate(zip(expected, got)) if e != g), None)
    if first is None:
        return f"expected {len(expected)} ids, got {len(got)}"
    return f"your ids differ from tiktoken's from token {first} on (you have {len(got)} ids)"


# --- beyond the chapter: a prediction ------------------------------------------------------


def _gpt2_against_shakespeare():
    corpus = load_text("tinyshakespeare.txt")
    held_out = corpus[int(0.9 * len(corpus)):]  # the text neither tokenizer's 90% contained
    own = len(shakespeare_tokenizer().encode_ordinary(held_out))
    gpt2 = len(gpt2_tokenizer().encode_ordinary(held_out))
    if own <= gpt2:
        happened = "Shakespeare's own"
    elif gpt2 > own / 2:
        happened = "GPT-2's, but more than half as many"
    else:
        happened = "GPT-2's, less than half as many"
    report = (f"\nheld-out Shakespeare ({len(held_out):,} characters): {own:,} tokens with its own "
              f"tokenizer,\n{gpt2:,} with GPT-2's ({gpt2 / own:.2f} as many).")
    return happened, report


EXERCISES = {
    "count_pairs": Exercise(
        title="Count adjacent pairs",
        reference=_count_pairs,
        compare=_compare_counts,
        cases=[
            Case(([1, 2, 3],), "ids [1, 2, 3]"),
            Case(([5, 6, 5, 6],), "ids [5, 6, 5, 6] (a pair seen twice)"),
            Case(([7, 7, 7],), "ids [7, 7, 7] (overlapping pairs count twice)"),
            Case(([],), "an empty list"),
            Case(([42],), "a single id"),
            Case((list(b"hello hello"),), "the bytes of 'hello hello'"),
        ],
    ),
    "merge": Exercise(
        title="Apply one merge",
        reference=_merge,
        compare=_compare_lists,
        cases=[
            Case(([1, 2, 3, 1, 2], (1, 2), 99), "ids [1, 2, 3, 1, 2], pair (1, 2) -> 99"),
            Case(([3, 1, 2], (1, 2), 99), "the pair at the very end"),
            Case(([7, 7, 7], (7, 7), 8),
                 "ids [7, 7, 7], pair (7, 7) -> 8 (left to right, no overlap)"),
            Case(([7, 7, 7, 7], (7, 7), 8), "ids [7, 7, 7, 7], pair (7, 7) -> 8"),
            Case(([1, 2], (2, 1), 99), "a pair that does not occur"),
            Case(([], (1, 2), 99), "an empty list"),
        ],
    ),
    "encode_word": Exercise(
        title="Encode a word with a rank table",
        reference=_encode_word,
        compare=_compare_lists,
        cases=[
            Case(("x", TOY_RANKS), "the word 'x' (one byte)"),
            Case(("low", TOY_RANKS), "the word 'low'"),
            Case((" lowest", TOY_RANKS), "the word ' lowest'"),
            Case((" slowly", TOY_RANKS), "the word ' slowly'"),
            Case((" widened", TOY_RANKS), "the word ' widened'"),
            Case(("né", TOY_RANKS), "the word 'né' (é is two bytes)"),
            Case(("abc", BC_FIRST_RANKS),
                 "'abc' with ranks ab: 257, bc: 256 (the lowest rank goes first)"),
            Case(("ababc", BC_FIRST_RANKS), "'ababc' with ranks ab: 257, bc: 256, abab: 258"),
            Case(("", TOY_RANKS), "the empty word"),
        ],
    ),
    "train": Exercise(
        title="Train BPE: the first merges",
        reference=_train,
        compare=_compare_lists,
        cases=[
            Case(("aaab aaab", 1), "'aaab aaab', 1 merge"),
            Case(("aaab aaab", 3), "'aaab aaab', 3 merges"),
            Case(("cd.ab.cd.ab", 1), "'cd.ab.cd.ab', 1 merge (a tie: the smaller pair wins)"),
            Case((_TOY_TEXT, 10), "a few words, 10 merges"),
            Case(("the cat sat on the mat. the end.", 8), "a sentence, 8 merges"),
        ],
    ),
    "stream_decode": Exercise(
        title="Decode a stream of tokens",
        kind="variant", difficulty=2,
        reference=_stream_decode,
        compare=_compare_text_and_bytes,
        cases=[_emoji_case(n) for n in (0, 2, 1, 3, 4)],  # 2 bytes first: one "�", not two
        generate=_stream_cases, n_generated=10,
        mistakes=[
            Mistake(_token_by_token, "One character can be spread over several tokens: decode "
                                     "the bytes of all the tokens together."),
            Mistake(_replace_everything, "The start of a character is not an error yet: keep its "
                                         "bytes for the next token instead of replacing them."),
            Mistake(_drop_the_pending_bytes, "Return the bytes of the unfinished character: the "
                                             "next token completes it."),
        ],
    ),
    "fix_encode": Exercise(
        title="Find the bug in a tokenizer",
        kind="debug", difficulty=2,
        reference=_tiktoken_encode,
        compare=_compare_ids,
        cases=[Case(("To be, or not to be:\n  that is the question.",
                     shakespeare_tokenizer().ranks), "a line with a newline and two spaces")],
        generate=_encode_cases, n_generated=8,
        mistakes=[
            Mistake(buggy_encode, "This still behaves like the given code: what happens to the "
                                  "spaces and newlines of the text?"),
            Mistake(_no_chunks, "Merges never cross the chunks of GPT-2's pattern: split the "
                                "text as encode does."),
        ],
    ),
    "gpt2_or_shakespeare": Prediction(
        title="Whose tokenizer is shorter on Shakespeare?",
        options=("Shakespeare's own", "GPT-2's, but more than half as many",
                 "GPT-2's, less than half as many"),
        experiment=_gpt2_against_shakespeare,
        difficulty=2,
    ),
}
