"""The diagrams of chapters 0-2: the pipeline, BPE merges, the lookup and the positions.

Each function draws one diagram and returns its ``Figure``; the shapes on it come from gptlib
(shapes.py), the examples from gptlib's tokenizer and functions.
"""

from __future__ import annotations

import numpy as np

from drawing import CX, W, Figure, caption, down, text_width
from shapes import CONFIG, params, shape, token_ids


# --- chapter 0 --------------------------------------------------------------------------------


def pipeline() -> Figure:
    """Text -> token ids -> vectors -> n_layer blocks -> ln_f -> logits -> next-token probabilities."""
    from gptlib.attention import softmax
    from gptlib.embeddings import embed
    from gptlib.model import gpt2_numpy
    from gptlib.tokenizer import shakespeare_tokenizer

    p = params()
    ids = token_ids()
    x = embed(ids, p["wte"], p["wpe"])
    logits = gpt2_numpy(ids, p, CONFIG)
    probs = softmax(logits[-1])

    text = "To be, or not to be"
    tok = shakespeare_tokenizer()  # the book's own BPE tokenizer (chapter 1)
    pieces = tok.encode(text)

    fig = Figure(W)
    y = 12
    fig.box(70, y, 300, 40, [(f"\u201c{text}\u201d", {"size": 18})], "op")
    y += 40
    down(fig, CX, y, y + 40, "BPE tokenizer", mono=False)
    y += 48
    cell = 52
    x0 = CX - cell * len(pieces) / 2
    for i, t in enumerate(pieces):
        fig.box(x0 + i * cell, y, cell, 34, [f"`{tok.token_str(t).strip()}"], "op", rx=3)
        fig.text(x0 + i * cell + cell / 2, y + 56, str(t), mono=True, cls="t-data")
    fig.text(CX, y + 82, f"token ids {shape(ids)}", mono=True, cls="muted")
    y += 90
    down(fig, CX, y, y + 34)
    y += 36
    fig.box(60, y, 320, 40, ["`wte[ids] + wpe[:n_seq]"], "param")
    y += 40
    down(fig, CX, y, y + 40, shape(x))
    y += 42
    for k in (2, 1):  # cards behind the front one: there are n_layer blocks
        fig.rect(60 + 8 * k, y - 8 * k + 16, 304, 64, "op")
    lines = [("n_layer transformer blocks", {"bold": True}), "`ln_1 \u2192 attn, ln_2 \u2192 mlp"]
    fig.box(60, y + 16, 304, 64, lines, "op")
    y += 80
    down(fig, CX, y, y + 40, shape(x))
    y += 42
    fig.box(140, y, 160, 40, ["`ln_f"], "param")
    y += 40
    down(fig, CX, y, y + 40, shape(x))
    y += 42
    fig.box(60, y, 320, 58, ["`x @ wte^{T}", ("the head reuses wte", {"size": 16, "cls": "muted"})], "param")
    y += 58
    down(fig, CX, y, y + 40, shape(logits), "logits")
    y += 42
    fig.box(90, y, 260, 40, ["softmax of the last row"], "op")
    y += 40
    down(fig, CX, y, y + 40, shape(probs))
    y += 46
    # An illustration of a distribution over the vocabulary, not a model's output.
    heights = [10, 22, 6, 58, 14, 4, 30, 8, 3, 18, 5, 40, 9, 2, 12, 7]
    bw = 16
    bx = CX - bw * len(heights) / 2
    base = y + 64
    for i, h in enumerate(heights):
        fig.rect(bx + i * bw + 2, base - h, bw - 4, h, "hi" if h == max(heights) else "data", rx=1)
    fig.line([(bx - 6, base), (bx + bw * len(heights) + 6, base)], "flow", arrow=False)
    caption(fig, base + 24, "probability of each next token", "pick one, append it, repeat")
    return fig


# --- chapter 1 --------------------------------------------------------------------------------


def _merged_spans(before, after, new_id):
    """Which tokens of ``before`` were merged: [(start, 2)] for each occurrence merge() replaced."""
    spans, i = [], 0
    for t in after:
        if t == new_id:
            spans.append(i)
            i += 2
        else:
            i += 1
    return spans


def _merge_step(fig, x0, y, seq, after, merge_, tok):
    """Below a sequence: its pair counts, notes on overlaps and ties, and the merge arrow."""
    from gptlib.tokenizer import count_pairs

    left, right, new, count = merge_
    counts = count_pairs(seq)
    # show the pair the trainer merged, then the most frequent other pair
    other = min((p for p in counts if p != (left, right)), key=lambda p: (-counts[p], p))
    chips = [f"({tok(a)},{tok(b)}) \u00d7{counts[(a, b)]}" for a, b in ((left, right), other)]
    x = x0
    fig.text(x, y + 20, "pairs:", anchor="start", cls="muted")
    x += 58
    for j, chip in enumerate(chips):
        w = text_width(chip, 16, mono=True) + 14
        fig.box(x, y, w, 28, [f"`{chip}"], "hi" if j == 0 else "op", rx=3)
        x += w + 8
    rest = len(counts) - 2
    if rest:
        others = [c for p, c in counts.items() if p not in ((left, right), other)]
        fig.text(x, y + 20, f"+{rest} at 1" if set(others) == {1} else f"+{rest}", anchor="start", cls="muted")
    y += 36
    removed = len(seq) - len(after)
    notes = []
    if count > removed:
        notes += [f"counted {count} times, merged {removed} times:", "overlapping pairs merge once"]
    if counts[other] == count:
        assert (left, right) < other, "gptlib breaks ties by the smaller pair"
        notes.append(f"a tie: the smaller pair ({left}, {right}) wins")
    for note in notes:
        fig.text(x0, y + 16, note, anchor="start", cls="muted")
        y += 24
    fig.arrow(x0 + 14, y + 2, x0 + 14, y + 40)
    fig.text(x0 + 30, y + 27, f"merge ({left}, {right}) \u2192 {new}", mono=True, anchor="start")
    return y + 48


def bpe_merges() -> Figure:
    """BPE on 'aaabdaaabac': pair counts, each merge shrinking the sequence, the learned merge table."""
    from gptlib.tokenizer import merge, train_bpe_slowly

    text = "aaabdaaabac"
    n_merges = 3
    vocab, merges = train_bpe_slowly(text, 256 + n_merges + 1)  # + 1: the special token's id
    seqs = [list(text.encode("utf-8"))]
    for left, right, new, _ in merges:
        seqs.append(merge(seqs[-1], (left, right), new))

    def tok(i):
        return vocab[i].decode("ascii")

    cell = 36
    x0 = (W - cell * len(seqs[0])) / 2
    fig = Figure(W)
    y = 12
    for k, seq in enumerate(seqs):
        title = f"the bytes of \u201c{text}\u201d" if k == 0 else f"after merge {k}"
        fig.text(x0, y + 16, f"{title}: {len(seq)} tokens", anchor="start", bold=k == 0)
        y += 26
        hot = set()
        if k < len(merges):
            left, right, new, count = merges[k]
            for start in _merged_spans(seq, seqs[k + 1], new):
                hot.update((start, start + 1))
        x = x0
        for i, t in enumerate(seq):
            w = cell * len(vocab[t])
            cls = "hi" if i in hot else ("data" if t >= 256 else "op")
            fig.box(x, y, w, 34, [f"`{tok(t)}"], cls, rx=3)
            fig.text(x + w / 2, y + 56, str(t), mono=True, cls="t-data")
            x += w
        y += 64
        if k == len(merges):
            break
        y = _merge_step(fig, x0, y, seq, seqs[k + 1], merges[k], tok)
    y += 10
    fig.text(CX, y + 16, "the learned merges", bold=True)
    y += 26
    fig.rect(CX - 140, y, 280, 28 * len(merges) + 12, "data")
    for j, (left, right, new, _) in enumerate(merges):
        ty = y + 28 + 28 * j
        fig.text(CX - 124, ty, f"{new} =", mono=True, anchor="start")
        fig.text(CX - 60, ty, f"({left}, {right})", mono=True, anchor="start")
        fig.text(CX + 124, ty, tok(new), mono=True, anchor="end", cls="t-data")
    return fig


# --- chapter 2 --------------------------------------------------------------------------------


def lookup() -> Figure:
    """A lookup is a one-hot row times the table: [1, V] @ [V, n_embd] picks one row."""
    from gptlib.embeddings import one_hot

    p = params()
    token = 3
    picked = one_hot(np.array([token]), CONFIG.vocab_size) @ p["wte"]  # [1, n_embd]
    assert np.array_equal(picked, p["wte"][[token]]), "one_hot(id) @ wte must equal wte[id]"
    shapes = (shape(one_hot(np.array([token]), CONFIG.vocab_size)), shape(p["wte"]), shape(picked))

    V, C, cell = 8, 4, 30  # the drawing's small table: 8 tokens, 4 numbers each
    row = one_hot(np.array([token]), V)[0]
    fig = Figure(W)
    fig.text(CX, 28, f"one_hot({token}) @ wte = wte[{token}]", mono=True, bold=True)
    fig.text(CX, 54, f"{shapes[0]} @ {shapes[1]}", mono=True, cls="muted")
    top = 100
    col_x, grid_x = 76, 146
    fig.text(col_x + cell / 2, top - 12, f"one_hot({token})", mono=True)
    fig.text(grid_x + C * cell / 2, top - 12, "wte", mono=True, cls="t-param")
    for j in range(V):
        y = top + j * cell
        hot = row[j] == 1
        fig.text(col_x - 10, y + 21, str(j), mono=True, cls="muted", anchor="end")
        fig.box(col_x, y, cell, cell, [f"`{int(row[j])}"], "hi" if hot else "op", rx=2)
        fig.text(col_x + cell + 22, y + 21, "\u00d7", cls="muted")
        for c in range(C):
            fig.rect(grid_x + c * cell, y, cell, cell, "hi" if hot else "off", rx=2)
    note_x = grid_x + C * cell + 10
    fig.text(note_x, top + token * cell + 21, f"\u2190 row {token}, times 1", anchor="start", cls="muted")
    fig.text(note_x, top + (token + 2) * cell + 21, "others: times 0", anchor="start", cls="muted")
    rows_end = top + V * cell
    fig.text(CX, rows_end + 30, "sum of the rows, each times its entry", cls="muted")
    res_y = rows_end + 56
    fig.text(grid_x - 12, res_y + 21, f"= wte[{token}]", mono=True, anchor="end")
    for c in range(C):
        fig.rect(grid_x + c * cell, res_y, cell, cell, "hi", rx=2)
    fig.text(grid_x + C * cell + 10, res_y + 21, shapes[2], mono=True, cls="muted", anchor="start")
    caption(fig, res_y + cell + 34, "wte[ids] reads the rows directly,", "without building the one-hot")
    return fig


def positions() -> Figure:
    """x = wte[ids] + wpe[:n_seq]: the same token at two positions gets two different vectors."""
    from gptlib.embeddings import embed
    from gptlib.tokenizer import shakespeare_tokenizer

    p = params()
    ids = token_ids()
    x = embed(ids, p["wte"], p["wpe"])
    assert shape(x) == shape(p["wte"][ids]) == shape(p["wpe"][: len(ids)])

    tok = shakespeare_tokenizer()
    text_ids = tok.encode("To be, or not to be")
    n, C, cell, extra = len(text_ids), 4, 22, 2  # extra: rows of wpe past n_seq, unused
    rng = np.random.default_rng(2)  # illustrative numbers: only their sameness matters
    table = {t: rng.uniform(-1, 1, C) for t in sorted(set(text_ids))}
    wte_rows = np.array([table[t] for t in text_ids])
    wpe_rows = rng.uniform(-1, 1, (n + extra, C))
    sums = wte_rows + wpe_rows[:n]

    def shade(v, lo, hi):
        return f' fill-opacity="{0.1 + 0.9 * (v - lo) / (hi - lo):.2f}"'

    fig = Figure(W)
    top = 56
    lab_x, xs = 84, (96, 216, 336)
    for name, x0 in zip(("wte[ids]", "wpe[:n_seq]", "x"), xs):
        fig.text(x0 + C * cell / 2, top - 14, name, mono=True, cls="t-param" if name != "x" else "t-data")
    fig.text(xs[0] + C * cell + 16, top + n * cell / 2 + 6, "+", size=20, bold=True)
    fig.text(xs[1] + C * cell + 16, top + n * cell / 2 + 6, "=", size=20, bold=True)
    for i, t in enumerate(text_ids):
        y = top + i * cell
        fig.text(lab_x, y + 17, tok.token_str(t).strip(), mono=True, anchor="end")
        for k, (values, x0) in enumerate(zip((wte_rows[i], wpe_rows[i], sums[i]), xs)):
            lo, hi = (-1, 1) if k < 2 else (-2, 2)
            for c in range(C):
                fig.rect(x0 + c * cell, y, cell, cell, "heat", rx=0, extra=shade(values[c], lo, hi))
    for i, t in enumerate(text_ids):  # outline the rows of the token that occurs twice
        if text_ids.count(t) > 1:
            for x0 in (xs[0], xs[2]):
                fig.rect(x0 - 1, top + i * cell - 1, C * cell + 2, cell + 2, "outline", rx=2)
    for i in range(n, n + extra):  # wpe has n_ctx rows; only the first n_seq are read
        for c in range(C):
            fig.rect(xs[1] + c * cell, top + i * cell, cell, cell, "off", rx=0)
    fig.text(xs[1] + C * cell / 2, top + (n + extra) * cell + 22, "\u2026 up to n_ctx", cls="muted")
    y = top + (n + extra) * cell + 52
    fig.text(CX, y, f"each {shape(x)}", mono=True, cls="muted")
    caption(fig, y + 34, "the two \u201cbe\u201d rows of wte[ids] are equal;", "adding positions makes them differ")
    return fig


DIAGRAMS = {
    "ch00_pipeline": pipeline,
    "ch01_bpe_merges": bpe_merges,
    "ch02_lookup": lookup,
    "ch02_positions": positions,
}
