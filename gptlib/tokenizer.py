"""Chapter 1: tokenizers, the bridge between text and token ids.

A byte-level BPE tokenizer is a table ``ranks``: token bytes -> token id, where the id is also
the rank (tokens learned earlier have smaller ids; ``gptlib.bpe`` learns the table). That is
exactly tiktoken's ``mergeable_ranks``, so a tokenizer here and a ``tiktoken.Encoding`` built
from the same table encode every text to the same ids (the tests check it, for GPT-2's real
table and for tokenizers trained here). ``CharTokenizer`` (one token per character) is the
simplest tokenizer of all; chapter 8 trains a model on it too.

Files. A tokenizer is saved as two files in a folder (a model folder, see ``gptlib.weights``),
which Python and the book's JavaScript both read:

- ``tokenizer.tiktoken``: tiktoken's format, as GPT-2's own ``gpt2.tiktoken``: one line per
  token, ``base64(token bytes) id``, in id order (a character tokenizer: each character's
  UTF-8 bytes);
- ``tokenizer.json``: what the ranks do not say, e.g.
  ``{"type": "bpe", "pattern": "gpt2", "special_tokens": {"<|endoftext|>": 1023}}``; "type"
  is "bpe" or "char", "pattern" a known pattern's name ("gpt2", "gpt4") or else the regex.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Iterable

import regex

from .bpe import ENDOFTEXT, GPT2_PATTERN, PATTERNS, resolve_pattern, train_bpe

# Chapter 1's names, importable from here too (its cells and exercises do): the whole chapter
# is gptlib.bpe (learning the table) and this module (using it).
from .bpe import count_pairs, merge, pretokenize, train_bpe_slowly  # noqa: F401
from .checks import check_decode_ids, check_special_set, check_text
from .data import SHAKESPEARE_GPT, fetch
from .files import atomic_write

RANKS_FILE, INFO_FILE = "tokenizer.tiktoken", "tokenizer.json"

# --- encoding one chunk ---------------------------------------------------------------------------


def bpe_encode_chunk(chunk: bytes, ranks: dict[bytes, int], max_rank: int | None = None):
    """Token ids of one pre-tokenized chunk, by tiktoken's rule: start from bytes; repeatedly
    merge the adjacent pair whose joined bytes have the lowest rank (the leftmost on ties);
    stop when no joined pair is a token. With ``max_rank``, only tokens of lower rank count."""
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


# --- the BPE tokenizer ----------------------------------------------------------------------------


class BPETokenizer:
    """A byte-level BPE tokenizer: a rank table, a pre-tokenizer regex and special tokens.

    - ``ranks``: token bytes -> id (tiktoken's ``mergeable_ranks``); ``vocab`` is the inverse.
    - ``merges``: (left id, right id, new id) in the order the tokens were learned.
    - ``special_tokens``: e.g. {"<|endoftext|>": 50256}, text that stands for one id.
    """

    def __init__(self, ranks: dict[bytes, int], pattern: str = "gpt2", special_tokens=None):
        self.pattern = resolve_pattern(pattern)
        self._regex = regex.compile(self.pattern)
        self.ranks = dict(ranks)
        self.vocab = {i: b for b, i in self.ranks.items()}
        if len(self.vocab) != len(self.ranks):
            raise ValueError("two tokens share an id in the rank table")
        self.special_tokens = dict(special_tokens or {})
        for name, i in self.special_tokens.items():
            if i in self.vocab:
                raise ValueError(f"special token {name!r} has id {i}, "
                                 f"already used by {self.vocab[i]!r}")
        self._special_bytes = {i: name.encode("utf-8") for name, i in self.special_tokens.items()}
        self._merges = None
        self._cache: dict[str, list[int]] = {}

    @classmethod
    def train(cls, text: str, vocab_size: int, pattern: str = "gpt2", special_tokens=(ENDOFTEXT,)):
        """Learn a tokenizer of ``vocab_size`` ids (256 bytes, merges, special tokens) on ``text``.

        The special tokens get the last ids. If the text runs out of pairs to merge first, the
        vocabulary is smaller.
        """
        special_tokens = tuple(special_tokens)
        vocab, merges = train_bpe(text, vocab_size, pattern, special_tokens)
        specials = {name: len(vocab) + k for k, name in enumerate(special_tokens)}
        tokenizer = cls({b: i for i, b in vocab.items()}, pattern, specials)
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

        The rank table stores only token bytes; each token's pair is the one the encoder
        builds it from: its bytes encoded with the tokens that came before it.
        """
        if self._merges is None:
            self._merges = [
                (*bpe_encode_chunk(self.vocab[i], self.ranks, max_rank=i), i)
                for i in sorted(self.vocab)
                if len(self.vocab[i]) > 1
            ]
        return self._merges

    def token_str(self, token_id: int) -> str:
        """A token's text, or \\xNN for bytes that are not whole characters."""
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

    # --- encoding ---

    def encode_ordinary(self, text: str) -> list[int]:
        """Token ids of ``text``, treating special-token text as ordinary text."""
        text = _replace_lone_surrogates(check_text(text))
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
        check_text(text)
        allowed = check_special_set(allowed_special, self.special_tokens, "allowed_special")
        disallowed = check_special_set(disallowed_special, self.special_tokens,
                                       "disallowed_special")
        if disallowed_special == "all":
            disallowed = disallowed - allowed
        found = disallowed and regex.search("|".join(map(regex.escape, sorted(disallowed))), text)
        if found:
            raise ValueError(
                # Three short lines: the message is shown in the book's text column.
                f"the text contains the special token {found.group()!r} at character "
                f"{found.start()}.\nPass allowed_special={{{found.group()!r}}} (or 'all') to "
                f"encode it as its id,\nor disallowed_special=() to encode it as ordinary text."
            )
        if not allowed:
            return self.encode_ordinary(text)
        ids, start = [], 0
        # Longest names first, so that one special token that starts another cannot cut it short.
        by_length = sorted(allowed, key=lambda s: (-len(s), s))
        for found in regex.finditer("|".join(map(regex.escape, by_length)), text):
            ids.extend(self.encode_ordinary(text[start : found.start()]))
            ids.append(self.special_tokens[found.group()])
            start = found.end()
        ids.extend(self.encode_ordinary(text[start:]))
        return ids

    # --- decoding ---

    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        """The bytes the ids stand for; an unknown id is a ValueError."""
        return b"".join(self.token_bytes(i) for i in check_decode_ids(ids))

    def decode(self, ids: Iterable[int]) -> str:
        """The text the ids stand for. Bytes that are not valid UTF-8 (a token sequence cut in
        the middle of a character) become the replacement character U+FFFD, never an error."""
        return self.decode_bytes(ids).decode("utf-8", errors="replace")

    # --- files ---

    def save(self, folder) -> Path:
        """Write tokenizer.tiktoken and tokenizer.json into ``folder`` (see the module's doc)."""
        name = next((n for n, p in PATTERNS.items() if p == self.pattern), self.pattern)
        info = {"type": "bpe", "pattern": name, "special_tokens": self.special_tokens}
        return _write_files(folder, self.ranks, info)

    @classmethod
    def from_tiktoken_file(cls, path, pattern: str = "gpt2", special_tokens=None):
        """A rank table in tiktoken's format: one line per token, base64 bytes then rank."""
        return cls(read_ranks(path), pattern, special_tokens)


def _replace_lone_surrogates(text: str) -> str:
    """Lone surrogates (not valid Unicode, no UTF-8 form) become U+FFFD, as tiktoken does."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


# --- one token per character ----------------------------------------------------------------


class CharTokenizer:
    """One token per character: the vocabulary is the sorted set of characters of a text."""

    def __init__(self, chars: str):
        if not chars:
            raise ValueError("a character tokenizer needs at least one character")
        self.chars = "".join(sorted(set(chars)))
        self._index = {c: i for i, c in enumerate(self.chars)}

    @classmethod
    def from_text(cls, text: str) -> "CharTokenizer":
        return cls("".join(sorted(set(text))))

    @property
    def n_vocab(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        unknown = set(check_text(text)) - self._index.keys()
        if unknown:
            raise ValueError(f"characters not in the vocabulary: {sorted(unknown)[:10]}")
        return [self._index[c] for c in text]

    def decode(self, ids) -> str:
        return "".join(self.chars[i] for i in check_decode_ids(ids))

    def save(self, folder) -> Path:
        """Write tokenizer.tiktoken (each character's UTF-8 bytes) and tokenizer.json."""
        ranks = {c.encode("utf-8"): i for c, i in self._index.items()}
        return _write_files(folder, ranks, {"type": "char"})


# --- files ----------------------------------------------------------------------------------


def read_ranks(path) -> dict[bytes, int]:
    """tiktoken's rank file: ``base64(token bytes) rank`` per line -> {bytes: rank}."""
    ranks = {}
    for n, line in enumerate(Path(path).read_text(encoding="ascii").splitlines(), start=1):
        if line:
            try:
                token, rank = line.split()
                ranks[base64.b64decode(token, validate=True)] = int(rank)
            except ValueError as err:
                raise ValueError(f"{path}, line {n}: not 'base64 rank' ({err})") from err
    return ranks


def ranks_text(ranks: dict[bytes, int]) -> str:
    """{bytes: rank} -> tiktoken's rank file: ``base64(token bytes) rank`` per line, by rank."""
    by_rank = sorted(ranks.items(), key=lambda item: item[1])
    return "".join(f"{base64.b64encode(b).decode('ascii')} {rank}\n" for b, rank in by_rank)


def _write_files(folder, ranks: dict[bytes, int], info: dict) -> Path:
    text, info_text = ranks_text(ranks), json.dumps(info, indent=1) + "\n"
    atomic_write(Path(folder) / RANKS_FILE, lambda tmp: Path(tmp).write_text(text, "ascii"))
    atomic_write(Path(folder) / INFO_FILE, lambda tmp: Path(tmp).write_text(info_text, "utf-8"))
    return Path(folder)


def load_tokenizer(folder):
    """The tokenizer saved in ``folder`` (a BPETokenizer or a CharTokenizer).

    Folders of earlier gptlib versions still load: their tokenizer.json alone said
    {"type": "char", "chars": ...}, or {"type": "bpe"} for chapter 1's tokenizer.
    """
    path, ranks_path = Path(folder) / INFO_FILE, Path(folder) / RANKS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: a tokenizer folder holds "
                                f"{INFO_FILE} and {RANKS_FILE}")
    info = json.loads(path.read_text(encoding="utf-8"))
    if info.get("type") == "char" and "chars" in info:  # an earlier version's folder
        return CharTokenizer(info["chars"])
    if info.get("type") == "bpe" and not ranks_path.exists():  # an earlier version's folder
        return shakespeare_tokenizer()
    ranks = read_ranks(ranks_path)
    if info.get("type") == "char":
        return CharTokenizer("".join(b.decode("utf-8") for b in sorted(ranks, key=ranks.get)))
    if info.get("type") == "bpe":
        return BPETokenizer(ranks, info["pattern"], info.get("special_tokens"))
    raise ValueError(f"{path} names an unknown tokenizer type {info.get('type')!r}")


def gpt2_tokenizer() -> BPETokenizer:
    """GPT-2's tokenizer: its 50,257 ids, read from gpt2.tiktoken in the download cache."""
    return BPETokenizer.from_tiktoken_file(fetch("gpt2.tiktoken"), GPT2_PATTERN, {ENDOFTEXT: 50256})


def shakespeare_tokenizer() -> BPETokenizer:
    """The tokenizer this book trained on Tiny Shakespeare (chapter 1); the project's model
    (``gptlib.load_gpt2("shakespeare")``) uses it, and it ships in that model's folder."""
    return load_tokenizer(SHAKESPEARE_GPT)
