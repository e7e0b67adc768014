"""The token viewer (chapter 1): any text, coloured token by token, for one or several tokenizers.

Hovering (or tapping) a token shows its id and bytes; a button switches between the tokens' text
and their ids. A box below tokenizes whatever the reader types: in the static book with
gptlib/web/bpe.js (the widget carries the tokenizer's ranks, for tokenizers of at most 4,096
tokens), and with the Python tokenizer (any size) while a kernel runs. Special tokens such as
``<|endoftext|>`` count as one token everywhere, as in the rows above.
"""

from __future__ import annotations

from ..tokenizer import BPETokenizer, escape_bytes, ranks_text
from .base import Widget

LIVE_MAX_VOCAB = 4096  # above this the rank table would make the page heavy


def token_bytes(tokenizer, token_id: int) -> bytes:
    """A token's bytes, for gptlib's BPE tokenizers and for its character tokenizer."""
    if hasattr(tokenizer, "token_bytes"):
        return tokenizer.token_bytes(token_id)
    return tokenizer.decode([token_id]).encode("utf-8")


def token_str(tokenizer, token_id: int) -> str:
    """A token's text (\\xNN for bytes that are not whole characters), for either tokenizer."""
    if hasattr(tokenizer, "token_str"):
        return tokenizer.token_str(token_id)
    return tokenizer.decode([token_id])


def token_pieces(tokenizer, ids) -> list[list]:
    """For each id: [id, text to show, its bytes in hex, kind] (kind: 0 text, 1 part of a character,
    2 special). The widgets' JavaScript builds the same pieces from bpe.js (tokens.js)."""
    special_ids = set(getattr(tokenizer, "special_tokens", {}).values())
    pieces = []
    for i in ids:
        b = token_bytes(tokenizer, int(i))
        try:
            shown, kind = b.decode("utf-8"), 0
        except UnicodeDecodeError:  # a character split across tokens: show its bytes
            shown, kind = escape_bytes(b), 1
        pieces.append([int(i), shown, b.hex(" "), 2 if i in special_ids else kind])
    return pieces


def tiktoken_ranks(tokenizer: BPETokenizer) -> str:
    """The tokenizer's ranks in tiktoken's text format (base64 of the bytes, a space, the rank)."""
    return ranks_text(tokenizer.ranks)


class TokenViewer(Widget):
    KIND = "tokens"

    def __init__(self, data, summary, tokenizer):
        self._tokenizer = tokenizer  # for the kernel side of the live box
        super().__init__(data, summary)

    def answer(self, request):
        if request.get("type") != "encode" or self._tokenizer is None:
            return super().answer(request)
        ids = self._tokenizer.encode(str(request.get("text", "")), allowed_special="all")
        return {"tokens": token_pieces(self._tokenizer, ids)}


def token_viewer(
    text: str, tokenizers, *, allowed_special="all", live: bool | str = True, max_tokens: int = 3000
) -> TokenViewer:
    """A widget colouring ``text`` by its tokens, one row per tokenizer.

    ``tokenizers`` is a BPETokenizer or a dict {name: tokenizer}. With ``live`` (the default) a
    box tokenizes what the reader types, with the first tokenizer that fits in the page (at most
    4,096 ids); pass a name to choose which.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    if isinstance(tokenizers, BPETokenizer):
        tokenizers = {"tokens": tokenizers}
    if (
        not isinstance(tokenizers, dict)
        or not tokenizers
        or not all(isinstance(t, BPETokenizer) for t in tokenizers.values())
    ):
        raise TypeError(
            "tokenizers must be a BPETokenizer or a non-empty dict of name -> BPETokenizer"
        )
    rows = []
    for name, tokenizer in tokenizers.items():
        ids = tokenizer.encode(text, allowed_special=allowed_special)
        rows.append(
            {
                "name": name,
                "n_chars": len(text),
                "tokens": token_pieces(tokenizer, ids[:max_tokens]),
                "truncated": len(ids) > max_tokens,
            }
        )
    name = _live_name(tokenizers, live)
    live_data = None
    if name is not None:
        tok = tokenizers[name]
        live_data = {
            "name": name,
            "ranks": tiktoken_ranks(tok),
            "pattern": tok.pattern,
            "special": dict(tok.special_tokens),
            "example": text[:300],
        }
    return TokenViewer(
        {"rows": rows, "live": live_data},
        f"token viewer: {len(text)} characters",
        tokenizers[name] if name is not None else None,
    )


def _live_name(tokenizers: dict, live) -> str | None:
    """The tokenizer of the live box: the one named, or the first small enough (None: no box)."""
    if not live:
        return None
    if isinstance(live, str):
        if live not in tokenizers:
            raise ValueError(f"live={live!r} is not one of the tokenizers {list(tokenizers)}")
        if len(tokenizers[live].ranks) > LIVE_MAX_VOCAB:
            raise ValueError(
                f"tokenizer {live!r} has {len(tokenizers[live].ranks)} tokens: too many for the "
                f"page (at most {LIVE_MAX_VOCAB})"
            )
        return live
    return next((n for n, t in tokenizers.items() if len(t.ranks) <= LIVE_MAX_VOCAB), None)
