"""Byte-level BPE: the tokenizer of GPT-2, trained from scratch or loaded with GPT-2's own ranks.

How text becomes token ids, in three steps:

1. **Pre-tokenize**: a regex splits the text into chunks ("words": ``"Hello"``, ``" world"``,
   ``"!"``, ``"\\n\\n"``). Merges never cross a chunk boundary, so a token never glues a word to
   the punctuation or the spaces around it.
2. **Bytes**: each chunk becomes its UTF-8 bytes. The 256 possible bytes are the first 256
   tokens, so any text at all can be encoded: there is no "unknown" token.
3. **Merges**: byte pair encoding (Sennrich et al., 2016) repeatedly joins the adjacent pair
   of tokens that was learned earliest (has the lowest rank) into one token.

A tokenizer is therefore a table ``ranks``: token bytes -> token id, where the id is also the
rank (tokens learned earlier have smaller ids). That is exactly tiktoken's ``mergeable_ranks``,
so a tokenizer here and a ``tiktoken.Encoding`` built from the same table encode every text to
the same ids (the tests check it, for GPT-2's real table and for tokenizers trained here).

Training (``BPETokenizer.train``) learns the table from a text: count every adjacent pair of
tokens, merge the most frequent pair into a new token, repeat. Ties between equally frequent
pairs go to the smallest pair ``(left id, right id)``, so training is deterministic.
``train_bpe_slowly`` is the straightforward version (recount everything after every merge),
for teaching and as the reference the fast trainer is tested against.
"""

from __future__ import annotations

import base64
import heapq
import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Iterable

import regex

from .files import atomic_write

# GPT-2's pre-tokenizer, as tiktoken writes it (the same splits as the original, but faster):
# contractions, optional space + letters, optional space + digits, optional space + other
# symbols, whitespace. Possessive quantifiers (++) never give characters back.
GPT2_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"""
# GPT-4's (cl100k_base): case-insensitive contractions, numbers in groups of at most 3 digits,
# newlines kept apart from other whitespace.
GPT4_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
PATTERNS = {"gpt2": GPT2_PATTERN, "gpt4": GPT4_PATTERN}
ENDOFTEXT = "<|endoftext|>"

FORMAT_HEADER = "gptlib-bpe-tokenizer 1"
ASSETS = Path(__file__).parent / "assets"
SHAKESPEARE_FILE = ASSETS / "shakespeare_tokenizer.txt"


# ---------------------------------------------------------------------------------------------
# The two basic operations of BPE, on a list of token ids.


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


def pretokenize(text: str, pattern: str = GPT2_PATTERN) -> list[str]:
    """Split ``text`` into the chunks that BPE works inside: 'Hi there!' -> ['Hi', ' there', '!']."""
    return regex.findall(_resolve_pattern(pattern), text)


def _resolve_pattern(pattern: str) -> str:
    if not isinstance(pattern, str):
        raise TypeError(f"pattern must be 'gpt2', 'gpt4' or a regex string, got {type(pattern).__name__}")
    return PATTERNS.get(pattern, pattern)


# ---------------------------------------------------------------------------------------------
# Training. A merge is (left id, right id, new id, count): the pair, the token it became, and
# how often the pair occurred when it was merged.
#
# Every token's bytes must be unique, as tiktoken's table requires. Should a merged pair spell
# bytes that are already a token (say "a"+"bc" after "ab"+"c"; random searches never produced
# one, but nothing here forbids it), the pair becomes that existing token and no new id is made.
# Training stops early if no pair is left to merge.


def _check_training_input(text, vocab_size, special_tokens) -> int:
    """Validate train's arguments; return how many ids are left for merged tokens."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    if not text:
        raise ValueError("cannot train a tokenizer on an empty text")
    if not isinstance(vocab_size, int) or isinstance(vocab_size, bool):
        raise TypeError(f"vocab_size must be an int, got {type(vocab_size).__name__}")
    smallest = 256 + len(special_tokens)
    if vocab_size < smallest:
        raise ValueError(
            f"vocab_size must be at least {smallest}: the 256 byte tokens"
            + (f" plus {len(special_tokens)} special token(s)" if special_tokens else "")
            + f", got {vocab_size}"
        )
    return vocab_size - smallest


def train_bpe_slowly(text: str, vocab_size: int, pattern: str = "gpt2", special_tokens=(ENDOFTEXT,)):
    """The straightforward BPE trainer: after every merge, count all pairs of the whole text again.

    Returns ``(vocab, merges)``: ``vocab`` maps id -> bytes, ``merges`` lists
    (left, right, new_id, count) in the order they were learned. Clear but slow: each merge
    re-reads every token of the text. ``BPETokenizer.train`` gives the same result, fast.
    """
    n_new = _check_training_input(text, vocab_size, special_tokens)
    vocab = {i: bytes([i]) for i in range(256)}
    ranks = {b: i for i, b in vocab.items()}
    chunks = [list(chunk.encode("utf-8")) for chunk in pretokenize(text, pattern)]
    merges = []
    while len(vocab) < 256 + n_new:
        counts = {}
        for ids in chunks:
            count_pairs(ids, counts)
        if not counts:
            break  # every chunk is a single token: nothing left to merge
        # The most frequent pair; among equals, the smallest (left, right).
        pair = min(counts, key=lambda p: (-counts[p], p))
        new_bytes = vocab[pair[0]] + vocab[pair[1]]
        new_id = ranks.get(new_bytes, len(vocab))
        vocab[new_id], ranks[new_bytes] = new_bytes, new_id
        merges.append((pair[0], pair[1], new_id, counts[pair]))
        chunks = [merge(ids, pair, new_id) for ids in chunks]
    return vocab, merges


def _train_bpe_fast(text: str, vocab_size: int, pattern: str, special_tokens):
    """The same merges as ``train_bpe_slowly``, with far less work per merge.

    Two ideas: (1) work on each distinct chunk once, weighted by how often it occurs (a text of a
    million characters has only tens of thousands of distinct words); (2) keep the pair counts
    between merges and update only the words that contain the merged pair. A heap finds the most
    frequent pair; entries whose count has changed since they were pushed are skipped.
    """
    n_new = _check_training_input(text, vocab_size, special_tokens)
    vocab = {i: bytes([i]) for i in range(256)}
    ranks = {b: i for i, b in vocab.items()}
    word_counts = Counter(pretokenize(text, pattern))
    words = [list(w.encode("utf-8")) for w in word_counts]  # distinct chunks as token ids
    freqs = list(word_counts.values())  # how often each occurs

    counts = defaultdict(int)  # pair -> occurrences in the whole text
    where = defaultdict(set)  # pair -> indices of the words that contain it
    for w, ids in enumerate(words):
        for pair in zip(ids, ids[1:]):
            counts[pair] += freqs[w]
            where[pair].add(w)
    heap = [(-c, pair) for pair, c in counts.items()]
    heapq.heapify(heap)

    merges = []
    while len(vocab) < 256 + n_new and heap:
        neg_count, pair = heapq.heappop(heap)
        if counts.get(pair, 0) != -neg_count or neg_count == 0:
            continue  # a stale entry: this pair's count changed after it was pushed
        new_bytes = vocab[pair[0]] + vocab[pair[1]]
        new_id = ranks.get(new_bytes, len(vocab))
        vocab[new_id], ranks[new_bytes] = new_bytes, new_id
        merges.append((pair[0], pair[1], new_id, -neg_count))

        changed = set()
        for w in where.pop(pair):
            old, freq = words[w], freqs[w]
            new = merge(old, pair, new_id)
            # Take the word's old pairs out of the counts and put its new pairs in.
            for p in zip(old, old[1:]):
                counts[p] -= freq
                changed.add(p)
            for p in zip(new, new[1:]):
                counts[p] += freq
                where[p].add(w)
                changed.add(p)
            words[w] = new
        for p in changed:
            if counts[p] > 0:
                heapq.heappush(heap, (-counts[p], p))
            else:
                del counts[p]  # where[p] may keep stale word indices: harmless, merge finds nothing
    return vocab, merges


# ---------------------------------------------------------------------------------------------
# Encoding one chunk: tiktoken's rule. Start from bytes; repeatedly merge the adjacent pair whose
# joined bytes have the lowest rank (the leftmost such pair on ties); stop when no joined pair
# is a token.


def bpe_encode_chunk(chunk: bytes, ranks: dict[bytes, int], max_rank: int | None = None) -> list[int]:
    """Token ids of one pre-tokenized chunk. With ``max_rank``, only tokens of lower rank are used."""
    rank = ranks.get(chunk)
    if rank is not None and max_rank is None:
        return [rank]  # the whole chunk is one token (tiktoken takes this shortcut too)
    parts = [chunk[i : i + 1] for i in range(len(chunk))]
    limit = float("inf") if max_rank is None else max_rank
    while len(parts) > 1:
        best_rank, best_i = limit, -1
        for i in range(len(parts) - 1):
            r = ranks.get(parts[i] + parts[i + 1])
            if r is not None and r < best_rank:
                best_rank, best_i = r, i
        if best_i < 0:
            break
        parts[best_i : best_i + 2] = [parts[best_i] + parts[best_i + 1]]
    return [ranks[p] for p in parts]


# ---------------------------------------------------------------------------------------------
# Reading and writing token bytes in a file a person can read.


def escape_bytes(b: bytes) -> str:
    """Printable ASCII as itself, every other byte as \\xNN; quotes and backslashes escaped."""
    out = []
    for byte in b:
        ch = chr(byte)
        if ch in '"\\':
            out.append("\\" + ch)
        elif 0x20 <= byte < 0x7F:
            out.append(ch)
        else:
            out.append(f"\\x{byte:02x}")
    return "".join(out)


def unescape_bytes(s: str) -> bytes:
    out = bytearray()
    i = 0
    while i < len(s):
        if s[i] == "\\":
            if s[i + 1] == "x":
                out.append(int(s[i + 2 : i + 4], 16))
                i += 4
            else:
                out.append(ord(s[i + 1]))
                i += 2
        else:
            out.append(ord(s[i]))
            i += 1
    return bytes(out)


# ---------------------------------------------------------------------------------------------


class BPETokenizer:
    """A byte-level BPE tokenizer: a rank table, a pre-tokenizer regex and special tokens.

    - ``ranks``: token bytes -> id (tiktoken's ``mergeable_ranks``); ``vocab`` is the inverse.
    - ``merges``: (left id, right id, new id) in the order the tokens were learned.
    - ``special_tokens``: e.g. {"<|endoftext|>": 50256}, text that stands for one id.
    """

    def __init__(self, ranks: dict[bytes, int], pattern: str = "gpt2", special_tokens=None, merges=None):
        self.pattern = _resolve_pattern(pattern)
        self._regex = regex.compile(self.pattern)
        self.ranks = dict(ranks)
        self.vocab = {i: b for b, i in self.ranks.items()}
        if len(self.vocab) != len(self.ranks):
            raise ValueError("two tokens share an id in the rank table")
        self.special_tokens = dict(special_tokens or {})
        for name, i in self.special_tokens.items():
            if i in self.vocab:
                raise ValueError(f"special token {name!r} has id {i}, already used by {self.vocab[i]!r}")
        self._special_bytes = {i: name.encode("utf-8") for name, i in self.special_tokens.items()}
        self._merges = None if merges is None else _first_merge_per_token(merges)
        self._cache: dict[str, list[int]] = {}

    # --- building -----------------------------------------------------------------------------

    @classmethod
    def train(cls, text: str, vocab_size: int, pattern: str = "gpt2", special_tokens=(ENDOFTEXT,)):
        """Learn a tokenizer of ``vocab_size`` ids (256 bytes + merges + special tokens) on ``text``.

        The special tokens get the last ids. If the text runs out of pairs to merge first, the
        vocabulary is smaller.
        """
        special_tokens = tuple(special_tokens)
        vocab, merges = _train_bpe_fast(text, vocab_size, pattern, special_tokens)
        tokenizer = cls({b: i for i, b in vocab.items()}, pattern, merges=merges)
        tokenizer.special_tokens = {name: len(vocab) + k for k, name in enumerate(special_tokens)}
        tokenizer._special_bytes = {i: n.encode("utf-8") for n, i in tokenizer.special_tokens.items()}
        tokenizer.training_merges = merges  # with the count of each pair when it was merged
        return tokenizer

    @property
    def n_vocab(self) -> int:
        """Number of ids: one more than the largest id (ordinary and special)."""
        return 1 + max([*self.vocab, *self.special_tokens.values()])

    def __len__(self) -> int:
        return self.n_vocab

    def __repr__(self) -> str:
        return (
            f"BPETokenizer(n_vocab={self.n_vocab}, merges={len(self.ranks) - 256}, "
            f"special_tokens={self.special_tokens})"
        )

    @property
    def merges(self) -> list[tuple[int, int, int]]:
        """(left id, right id, new id) for every token longer than one byte, in id order.

        A loaded rank table (GPT-2's) stores only token bytes; each token's pair is then found
        by encoding its bytes with the tokens that came before it.
        """
        if self._merges is None:
            merges = []
            for token_id in sorted(self.vocab):
                b = self.vocab[token_id]
                if len(b) > 1:
                    left, right = bpe_encode_chunk(b, self.ranks, max_rank=token_id)
                    merges.append((left, right, token_id))
            self._merges = merges
        return self._merges

    def token_str(self, token_id: int) -> str:
        """A readable form of one token: its text, or \\xNN for bytes that are not whole characters."""
        b = self.token_bytes(token_id)
        try:
            return b.decode("utf-8")
        except UnicodeDecodeError:
            return escape_bytes(b)

    def token_bytes(self, token_id: int) -> bytes:
        if token_id in self.vocab:
            return self.vocab[token_id]
        if token_id in self._special_bytes:
            return self._special_bytes[token_id]
        raise ValueError(f"unknown token id {token_id}: ids run from 0 to {self.n_vocab - 1}")

    # --- encoding -----------------------------------------------------------------------------

    def encode_ordinary(self, text: str) -> list[int]:
        """Token ids of ``text``, treating special-token text as ordinary text."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        text = _replace_lone_surrogates(text)
        cache, ids = self._cache, []
        for chunk in self._regex.findall(text):
            chunk_ids = cache.get(chunk)
            if chunk_ids is None:
                chunk_ids = bpe_encode_chunk(chunk.encode("utf-8"), self.ranks)
                if len(cache) >= 100_000:
                    cache.clear()  # keep memory bounded on endless streams of new words
                cache[chunk] = chunk_ids
            ids.extend(chunk_ids)
        return ids

    def encode(self, text: str, *, allowed_special="none", disallowed_special="all") -> list[int]:
        """Token ids of ``text``, with tiktoken's policy for special tokens.

        Special-token text (such as "<|endoftext|>") raises a ValueError unless it is allowed:
        ``allowed_special="all"`` or a set of names makes each occurrence its single id;
        ``disallowed_special=()`` encodes it as ordinary text instead.
        """
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        allowed = self._special_set(allowed_special, "allowed_special")
        disallowed = self._special_set(disallowed_special, "disallowed_special")
        if disallowed_special == "all":
            disallowed = disallowed - allowed
        if disallowed:
            found = regex.search("|".join(map(regex.escape, sorted(disallowed))), text)
            if found:
                raise ValueError(
                    f"the text contains the special token {found.group()!r} at character "
                    f"{found.start()}. Pass allowed_special={{{found.group()!r}}} (or 'all') to encode "
                    f"it as its id, or disallowed_special=() to encode it as ordinary text."
                )
        if not allowed:
            return self.encode_ordinary(text)
        ids, start = [], 0
        # Longest names first, so that one special token that starts another cannot cut it short.
        splitter = regex.compile("|".join(map(regex.escape, sorted(allowed, key=lambda s: (-len(s), s)))))
        for found in splitter.finditer(text):
            ids.extend(self.encode_ordinary(text[start : found.start()]))
            ids.append(self.special_tokens[found.group()])
            start = found.end()
        ids.extend(self.encode_ordinary(text[start:]))
        return ids

    def _special_set(self, value, name) -> set[str]:
        if value == "all":
            return set(self.special_tokens)
        if value == "none":
            return set()
        if isinstance(value, str):
            raise TypeError(f"{name} must be 'all', 'none' or a set of special tokens, got the string {value!r}")
        value = set(value)
        unknown = value - set(self.special_tokens)
        if unknown:
            raise ValueError(f"{name} names tokens this tokenizer does not have: {sorted(unknown)}")
        return value

    # --- decoding -----------------------------------------------------------------------------

    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        """The bytes the ids stand for; an unknown id is a ValueError."""
        if isinstance(ids, (str, bytes)):
            raise TypeError(f"ids must be a sequence of ints, got {type(ids).__name__}")
        out = []
        for i in ids:
            if not isinstance(i, int) and not (hasattr(i, "dtype") and getattr(i.dtype, "kind", "") in "iu"):
                raise TypeError(f"token ids must be ints, got {i!r} of type {type(i).__name__}")
            out.append(self.token_bytes(int(i)))
        return b"".join(out)

    def decode(self, ids: Iterable[int]) -> str:
        """The text the ids stand for. Bytes that are not valid UTF-8 (a token sequence cut in
        the middle of a character) become the replacement character U+FFFD, never an error."""
        return self.decode_bytes(ids).decode("utf-8", errors="replace")

    # --- saving and loading -------------------------------------------------------------------

    def save(self, path) -> Path:
        """Write the tokenizer as a text file: a header, then one line per token (atomic write)."""
        merge_of = {new: (left, right) for left, right, new in (self._merges or [])}
        lines = [
            FORMAT_HEADER,
            "# A byte-level BPE tokenizer; load it with gptlib.tokenizer.BPETokenizer.load(path).",
            "# 'pattern': the pre-tokenizer regex (a JSON string). 'special': a special token and its id.",
            "# Then one line per token, in id order (the id is also its rank): the id, the token's bytes",
            "# in quotes (printable ASCII as is, other bytes as \\xNN) and, for a merged token, the two",
            "# token ids it was made from.",
            f"pattern {json.dumps(self.pattern)}",
        ]
        lines += [f"special {json.dumps(name)} {i}" for name, i in sorted(self.special_tokens.items(), key=lambda t: t[1])]
        for i in sorted(self.vocab):
            line = f'{i} "{escape_bytes(self.vocab[i])}"'
            if i in merge_of:
                line += f" {merge_of[i][0]} {merge_of[i][1]}"
            lines.append(line)
        text = "\n".join(lines) + "\n"
        return atomic_write(path, lambda tmp: Path(tmp).write_bytes(text.encode("utf-8")))

    @classmethod
    def load(cls, path) -> "BPETokenizer":
        """Read a file written by ``save``."""
        path = Path(path)
        lines = path.read_text(encoding="utf-8").splitlines()
        if not lines or lines[0] != FORMAT_HEADER:
            raise ValueError(f"{path} is not a gptlib tokenizer file (its first line should be {FORMAT_HEADER!r})")
        pattern, special, ranks, merges = None, {}, {}, []
        for n, line in enumerate(lines[1:], start=2):
            try:
                if not line or line.startswith("#"):
                    continue
                if line.startswith("pattern "):
                    pattern = json.loads(line[len("pattern ") :])
                elif line.startswith("special "):
                    name, i = line[len("special ") :].rsplit(" ", 1)
                    special[json.loads(name)] = int(i)
                else:
                    head, quoted_and_rest = line.split(" ", 1)
                    end = quoted_and_rest.rindex('"')
                    token = unescape_bytes(quoted_and_rest[1:end])
                    ranks[token] = int(head)
                    rest = quoted_and_rest[end + 1 :].split()
                    if rest:
                        merges.append((int(rest[0]), int(rest[1]), int(head)))
            except (ValueError, IndexError) as err:
                raise ValueError(f"{path}, line {n}: cannot read {line!r} ({err})") from err
        if pattern is None:
            raise ValueError(f"{path} has no 'pattern' line")
        return cls(ranks, pattern, special, merges=merges or None)

    @classmethod
    def from_tiktoken_file(cls, path, pattern: str = "gpt2", special_tokens=None) -> "BPETokenizer":
        """A rank table in tiktoken's format: one line per token, base64 bytes then rank."""
        ranks = {}
        for line in Path(path).read_text(encoding="ascii").splitlines():
            if line:
                token, rank = line.split()
                ranks[base64.b64decode(token)] = int(rank)
        return cls(ranks, pattern, special_tokens)


def _first_merge_per_token(merges) -> list[tuple[int, int, int]]:
    """(left, right, new) for each new token once: the merge that made it (later merges may
    reach the same bytes by another split)."""
    seen, out = set(), []
    for left, right, new, *_ in merges:
        if new not in seen:
            seen.add(new)
            out.append((left, right, new))
    return out


def _replace_lone_surrogates(text: str) -> str:
    """Text with lone surrogates (not valid Unicode, cannot be UTF-8) gets U+FFFD for each, as tiktoken does."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def gpt2_tokenizer() -> BPETokenizer:
    """GPT-2's tokenizer: its 50,257 ids, read from gpt2.tiktoken in the download cache."""
    from .data import fetch

    return BPETokenizer.from_tiktoken_file(fetch("gpt2.tiktoken"), "gpt2", {ENDOFTEXT: 50256})


def shakespeare_tokenizer() -> BPETokenizer:
    """The tokenizer this book trained on Tiny Shakespeare (chapter 1); later chapters' model uses it."""
    return BPETokenizer.load(SHAKESPEARE_FILE)
