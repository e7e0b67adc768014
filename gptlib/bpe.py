"""Chapter 1: learning byte pair encoding (BPE) from a text.

1. **Pre-tokenize**: a regex splits the text into chunks ("words": ``"Hello"``, ``" world"``,
   ``"!"``, ``"\\n\\n"``). Merges never cross a chunk boundary, so a token never glues a word to
   the punctuation or the spaces around it.
2. **Bytes**: each chunk becomes its UTF-8 bytes. The 256 possible bytes are the first 256
   tokens, so any text at all can be encoded: there is no "unknown" token.
3. **Merges** (Sennrich et al., 2016): count every adjacent pair of tokens, merge the most
   frequent pair into a new token, repeat. Ties between equally frequent pairs go to the
   smallest pair ``(left id, right id)``, so training is deterministic.

``train_bpe_slowly`` does exactly that, recounting everything after every merge: the reference.
``train_bpe`` learns the same merges with far less work (see its docstring); the tests check
that the two agree merge for merge. A merge is (left id, right id, new id, count): the pair,
the token it became, and how often the pair occurred when it was merged.
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict

import regex

from .checks import check_bpe_training

# GPT-2's pre-tokenizer, as tiktoken writes it (the same splits as the original, but faster):
# contractions, optional space + letters, optional space + digits, optional space + other
# symbols, whitespace. Possessive quantifiers (++) never give characters back.
GPT2_PATTERN = (
    r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"""
)
# GPT-4's (cl100k_base): case-insensitive contractions, numbers in groups of at most 3 digits,
# newlines kept apart from other whitespace.
GPT4_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
PATTERNS = {"gpt2": GPT2_PATTERN, "gpt4": GPT4_PATTERN}
ENDOFTEXT = "<|endoftext|>"


def resolve_pattern(pattern: str) -> str:
    """A pattern's name ("gpt2", "gpt4") -> its regex; any other string is a regex already."""
    if not isinstance(pattern, str):
        raise TypeError(f"pattern must be 'gpt2', 'gpt4' or a regex string, "
                        f"got {type(pattern).__name__}")
    return PATTERNS.get(pattern, pattern)


def pretokenize(text: str, pattern: str = "gpt2") -> list[str]:
    """Split ``text`` into the chunks BPE works inside: 'Hi there!' -> ['Hi', ' there', '!']."""
    return regex.findall(resolve_pattern(pattern), text)


# --- the two basic operations, on a list of token ids -------------------------------------------


def count_pairs(ids: list[int], counts: dict | None = None, weight: int = 1) -> dict:
    """Count each adjacent pair in ``ids``: [5, 6, 5, 6] -> {(5, 6): 2, (6, 5): 1}.

    ``counts`` accumulates over several lists; ``weight`` counts this list that many times.
    """
    counts = {} if counts is None else counts
    for pair in zip(ids, ids[1:]):
        counts[pair] = counts.get(pair, 0) + weight
    return counts


def merge(ids: list[int], pair: tuple[int, int], new_id: int) -> list[int]:
    """Replace every occurrence of ``pair`` in ``ids``, left to right, by ``new_id``.

    Occurrences do not overlap: merging (7, 7) in [7, 7, 7] gives [new, 7].
    """
    out = []
    i = 0
    while i < len(ids):
        if i + 1 < len(ids) and ids[i] == pair[0] and ids[i + 1] == pair[1]:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def learn_token(vocab: dict, ranks: dict, pair: tuple[int, int]) -> int:
    """Add the token ``pair`` spells to ``vocab`` (id -> bytes) and ``ranks`` (the inverse).

    Every token's bytes must be unique, as tiktoken's table requires: should a pair spell bytes
    that are already a token (say "a"+"bc" after "ab"+"c"), it becomes that token, no new id.
    """
    new_bytes = vocab[pair[0]] + vocab[pair[1]]
    new_id = ranks.get(new_bytes, len(vocab))
    vocab[new_id], ranks[new_bytes] = new_bytes, new_id
    return new_id


def byte_tokens() -> tuple[dict, dict]:
    """The first 256 tokens, one per byte: (id -> bytes, bytes -> id)."""
    vocab = {i: bytes([i]) for i in range(256)}
    return vocab, {b: i for i, b in vocab.items()}


# --- training ---------------------------------------------------------------------------------


def train_bpe_slowly(text: str, vocab_size: int, pattern: str = "gpt2",
                     special_tokens=(ENDOFTEXT,)):
    """The straightforward BPE trainer: after every merge, count all pairs of the whole text again.

    Returns ``(vocab, merges)``: ``vocab`` maps id -> bytes, ``merges`` lists
    (left, right, new_id, count) in the order they were learned. Clear but slow: each merge
    re-reads every token of the text. ``train_bpe`` gives the same result, fast.
    """
    n_new = check_bpe_training(text, vocab_size, len(special_tokens))
    vocab, ranks = byte_tokens()
    chunks = [list(chunk.encode("utf-8")) for chunk in pretokenize(text, pattern)]
    merges = []
    while len(vocab) < 256 + n_new:
        counts = {}
        for ids in chunks:
            count_pairs(ids, counts)
        if not counts:
            break  # every chunk is a single token: nothing left to merge
        pair = min(counts, key=lambda p: (-counts[p], p))  # most frequent, then smallest
        new_id = learn_token(vocab, ranks, pair)
        merges.append((pair[0], pair[1], new_id, counts[pair]))
        chunks = [merge(ids, pair, new_id) for ids in chunks]
    return vocab, merges


def train_bpe(text: str, vocab_size: int, pattern: str = "gpt2", special_tokens=(ENDOFTEXT,)):
    """The merges of ``train_bpe_slowly``, with far less work per merge. Same result.

    Three ideas: (1) each distinct chunk is stored once with how often it occurs (a text of a
    million characters has only tens of thousands of distinct words); (2) the pair counts are
    kept between merges, and a merge recounts only the words that contain the merged pair;
    (3) a heap hands out the most frequent pair.
    """
    n_new = check_bpe_training(text, vocab_size, len(special_tokens))
    vocab, ranks = byte_tokens()
    chunk_counts = Counter(pretokenize(text, pattern))
    words = [list(chunk.encode("utf-8")) for chunk in chunk_counts]  # distinct chunks, as ids
    freqs = list(chunk_counts.values())  # how often each occurs
    counts, where = defaultdict(int), defaultdict(set)  # pair -> count; pair -> words with it
    for w, ids in enumerate(words):
        for pair in zip(ids, ids[1:]):
            counts[pair] += freqs[w]
            where[pair].add(w)
    heap = [(-count, pair) for pair, count in counts.items()]  # most frequent, then smallest
    heapq.heapify(heap)
    merges = []
    while len(vocab) < 256 + n_new and (best := pop_most_frequent(heap, counts)):
        pair, count = best
        new_id = learn_token(vocab, ranks, pair)
        merges.append((pair[0], pair[1], new_id, count))
        changed = set()
        for w in where.pop(pair):
            new = merge(words[w], pair, new_id)
            changed |= recount(words[w], new, freqs[w], w, counts, where)
            words[w] = new
        for p in changed:  # a pair whose count changed goes back on the heap with its new count
            if counts[p] > 0:
                heapq.heappush(heap, (-counts[p], p))
            else:
                del counts[p]
    return vocab, merges


def pop_most_frequent(heap: list, counts: dict):
    """Pop the most frequent pair (the smallest on ties) as (pair, count); None when none is left.

    An entry whose count has changed since it was pushed is stale: its pair was pushed again.
    """
    while heap:
        neg_count, pair = heapq.heappop(heap)
        if counts.get(pair) == -neg_count:
            return pair, -neg_count
    return None


def recount(old: list, new: list, freq: int, w: int, counts: dict, where: dict) -> set:
    """Take word ``w``'s old pairs out of the counts and put its new pairs in; return the pairs."""
    for p in zip(old, old[1:]):
        counts[p] -= freq
    for p in zip(new, new[1:]):
        counts[p] += freq
        where[p].add(w)  # stale entries of pairs no longer in w are harmless: merge finds nothing
    return set(zip(old, old[1:])) | set(zip(new, new[1:]))
