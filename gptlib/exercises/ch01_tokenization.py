"""Chapter 1 exercises: count pairs, apply one merge, encode a word, train a few merges."""

from __future__ import annotations

from ..tokenizer import BPETokenizer, bpe_encode_chunk, count_pairs, merge, train_bpe_slowly
from . import Case, Exercise, describe


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
        if e != g:
            return f"item {i} should be {e!r}, yours is {g!r} (expected {describe(expected)}, got {describe(got)})"
    return f"expected {len(expected)} items, got {len(got)}: expected {describe(expected)}, got {describe(got)}"


# A small rank table to encode words with: the 256 bytes, then merges learned on a few words.
_TOY_TEXT = "low lower lowest newer newest wider wide widest slow slower " * 3
TOY_RANKS = BPETokenizer.train(_TOY_TEXT, 256 + 20, special_tokens=()).ranks
# A hand-made table where the order matters: "bc" was learned before "ab".
BC_FIRST_RANKS = {**{bytes([i]): i for i in range(256)}, b"bc": 256, b"ab": 257, b"abab": 258}

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
            Case(([7, 7, 7], (7, 7), 8), "ids [7, 7, 7], pair (7, 7) -> 8 (left to right, no overlap)"),
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
            Case(("abc", BC_FIRST_RANKS), "'abc' with ranks ab: 257, bc: 256 (the lowest rank goes first)"),
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
}
