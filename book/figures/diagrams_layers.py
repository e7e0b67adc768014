"""The diagrams of chapters 3-5: attention and its mask, the MLP, pre-LN against post-LN, the
residual stream.

Each function draws one diagram and returns its ``Figure``; the shapes on it come from gptlib
(shapes.py), and each drawn path is checked against gptlib's own function.
"""

from __future__ import annotations

import numpy as np

from drawing import CX, W, Figure, caption, plus, tensor, text_width
from shapes import CONFIG, N_SEQ, param_shape, params, shape, token_ids


# --- chapter 3 --------------------------------------------------------------------------------


def attention_flow() -> Figure:
    """x -> c_attn -> q, k, v -> heads -> q k^T / sqrt(head_size) -> mask -> softmax -> @ v -> merge -> c_proj."""
    from gptlib.attention import attention, attention_weights, causal_mask, merge_heads, mha, qkv_heads
    from gptlib.ffn import linear

    p = params()
    attn = p["blocks"][0]["attn"]
    x = np.random.default_rng(1).standard_normal((N_SEQ, CONFIG.n_embd))
    qkv = linear(x, **attn["c_attn"])
    q, k, v = qkv_heads(x, attn["c_attn"], CONFIG.n_head)
    mask = causal_mask(N_SEQ)
    weights = attention_weights(q, k, mask)
    out = attention(q, k, v, mask)
    merged = merge_heads(out)
    y_out = linear(merged, **attn["c_proj"])
    # the path drawn here is gptlib's: weights @ v is attention, and the whole path is mha
    assert np.allclose(weights @ v, out) and np.allclose(y_out, mha(x, **attn, n_head=CONFIG.n_head))
    assert param_shape("blocks.0.attn.c_attn.w") == "[n_embd, 3*n_embd]"

    fig = Figure(W)
    LX, BW = 150, 270  # the main column's centre and box width
    bx = LX - BW / 2
    VX = 388  # v's own column

    def step(y, op, out_shape, cls="op", op_cls="ink"):
        fig.box(bx, y, BW, 54, [(op, {"mono": True, "cls": op_cls}), (out_shape, {"mono": True, "cls": "muted"})], cls)
        return y + 54

    def arrow_down(y, length=30):
        fig.arrow(LX, y, LX, y + length)
        return y + length + 2

    y = 12
    tensor(fig, bx, y, BW, "x", shape(x))
    y = arrow_down(y + 54)
    y = step(y, "attn.c_attn", shape(qkv), "param", "t-param")
    # split into q, k, v, each into heads; v runs down its own column on the right
    qx, kx = LX - 60, LX + 60
    fig.arrow(qx, y, qx, y + 40)
    fig.arrow(kx, y, kx, y + 40)
    fig.line([(bx + BW, y - 27), (VX, y - 27), (VX, y + 40)])
    fig.text(LX, y + 25, "split", cls="muted")
    y += 42
    for name, cx in (("q", qx), ("k", kx), ("v", VX)):
        for off in (8, 4):
            fig.rect(cx - 30 + off, y - off, 60, 36, "data", rx=4)
        fig.box(cx - 30, y, 60, 36, [(name, {"bold": True, "mono": True})], "data", rx=4)
    y += 36
    fig.text(bx, y + 24, f"each {shape(q)}", mono=True, cls="muted", anchor="start")
    y += 34
    fig.arrow(qx, y, LX - 20, y + 30)
    fig.arrow(kx, y, LX + 20, y + 30)
    y += 32
    y = step(y, "q @ k^{T} / \u221ahead_size", shape(weights))
    y = arrow_down(y)
    y = step(y, "causal mask: \u2212\u221e", "above the diagonal")
    y = arrow_down(y)
    y = step(y, "softmax per row", shape(weights))
    y = arrow_down(y)
    fig.line([(VX, 12 + 54 + 32 + 54 + 42 + 36), (VX, y + 27), (bx + BW, y + 27)])
    y = step(y, "weights @ v", shape(out))
    y = arrow_down(y)
    y = step(y, "merge_heads", shape(merged))
    y = arrow_down(y)
    y = step(y, "attn.c_proj", shape(y_out), "param", "t-param")
    return fig


def causal_mask_grid() -> Figure:
    """The causal mask as a lower-triangular grid over the tokens of 'To be, or not to be'."""
    from gptlib.attention import causal_mask
    from gptlib.tokenizer import shakespeare_tokenizer

    tok = shakespeare_tokenizer()
    ids = tok.encode("To be, or not to be")
    labels = [tok.token_str(t).strip() for t in ids]
    n = len(ids)
    mask = causal_mask(n)
    row = 4  # the row to follow
    cell = 38
    gx, gy = 104, 104
    fig = Figure(W)
    fig.text(CX, 28, f"causal_mask({n})", mono=True, bold=True)
    fig.text(gx + n * cell / 2, gy - 46, "keys (columns)", cls="muted")
    fig.text(gx - 12, gy - 20, "queries", cls="muted", anchor="end")
    for j, lab in enumerate(labels):
        fig.text(gx + j * cell + cell / 2, gy - 12, lab, mono=True)
        fig.text(gx - 12, gy + j * cell + 25, lab, mono=True, anchor="end")
    classes = [["off" if not mask[i, j] else ("hi" if i == row else "data") for j in range(n)] for i in range(n)]
    texts = [["" if mask[i, j] else "\u2212\u221e" for j in range(n)] for i in range(n)]
    fig.grid(gx, gy, n, n, cell, classes, texts, mono=True)
    y = gy + n * cell + 34
    assert mask[row, : row + 1].all() and not mask[row, row + 1 :].any()
    caption(fig, y, f"row {row}, \u201c{labels[row]}\u201d, reads positions 0 to {row}:",
            "itself and the tokens before it")
    lx = 90
    fig.box(lx, y + 46, 26, 26, [], "data", rx=2)
    fig.text(lx + 36, y + 65, "True: the query may look", anchor="start")
    fig.box(lx, y + 82, 26, 26, [], "off", rx=2)
    fig.text(lx + 36, y + 101, "False: score \u2212\u221e, weight 0", anchor="start")
    return fig


# --- chapter 4 --------------------------------------------------------------------------------


def mlp() -> Figure:
    """The MLP: n_embd -> 4*n_embd (GELU) -> n_embd, the same for every position."""
    from gptlib.ffn import ffn, gelu, linear

    p = params()
    m = p["blocks"][0]["mlp"]
    x = np.random.default_rng(3).standard_normal((N_SEQ, CONFIG.n_embd))
    h = linear(x, **m["c_fc"])
    a = gelu(h)
    out = linear(a, **m["c_proj"])
    assert np.allclose(out, ffn(x, **m)), "the path drawn is gptlib's ffn"
    row = 2
    assert np.allclose(ffn(x[row : row + 1], **m), out[row : row + 1]), "each position on its own"

    cell_w, cell_h, n = 16, 18, N_SEQ
    narrow, wide = 4, 16  # cells across: n_embd and 4*n_embd, drawn 4 to 1 as in the model

    def block(y, n_cells, label):
        x0 = CX - n_cells * cell_w / 2
        for r in range(n):
            cls = "hi" if r == row else "data"
            fig.rect(x0, y + r * cell_h, n_cells * cell_w, cell_h, cls, rx=0)
        for c in range(1, n_cells):
            fig.line([(x0 + c * cell_w, y), (x0 + c * cell_w, y + n * cell_h)], "data", arrow=False)
        if label:
            fig.text(x0 - 10, y + n * cell_h / 2 + 6, label, mono=True, anchor="end", bold=True)
        return x0, y + n * cell_h

    fig = Figure(W)
    y = 14
    x0, y = block(y, narrow, "x")
    fig.text(x0 + narrow * cell_w + 10, y - n * cell_h / 2 + 6, shape(x), mono=True, cls="muted", anchor="start")
    fig.arrow(CX, y + 4, CX, y + 60)
    fig.text(CX + 10, y + 27, "mlp.c_fc", mono=True, cls="t-param", anchor="start")
    fig.text(CX + 10, y + 49, f"w {param_shape('blocks.0.mlp.c_fc.w', p)}", mono=True, cls="muted", anchor="start")
    y += 64
    x0, y = block(y, wide, "h")
    fig.text(CX, y + 24, shape(h), mono=True, cls="muted")
    y += 32
    fig.arrow(CX, y, CX, y + 74)
    fig.text(CX - 12, y + 43, "GELU", bold=True, anchor="end")
    # GELU as gptlib computes it, drawn from -4 to 3
    gx, gy, gw, gh = CX + 30, y + 8, 120, 60
    xs = np.linspace(-4, 3, 57)
    ys = gelu(xs)
    sx = lambda v: gx + (v + 4) / 7 * gw  # noqa: E731
    sy = lambda v: gy + gh - (v + 0.5) / 3.5 * gh  # noqa: E731
    fig.line([(gx, sy(0)), (gx + gw, sy(0))], "flow", arrow=False)
    fig.line([(sx(0), gy), (sx(0), gy + gh)], "flow", arrow=False)
    fig.line([(sx(a_), sy(b_)) for a_, b_ in zip(xs, ys)], "param", arrow=False, thick=False)
    y += 78
    x0, y = block(y, wide, "")
    fig.text(CX, y + 24, shape(a), mono=True, cls="muted")
    y += 32
    fig.arrow(CX, y, CX, y + 56)
    fig.text(CX + 10, y + 23, "mlp.c_proj", mono=True, cls="t-param", anchor="start")
    fig.text(CX + 10, y + 45, f"w {param_shape('blocks.0.mlp.c_proj.w', p)}", mono=True, cls="muted", anchor="start")
    y += 60
    x0, y = block(y, narrow, "out")
    fig.text(x0 + narrow * cell_w + 10, y - n * cell_h / 2 + 6, shape(out), mono=True, cls="muted", anchor="start")
    caption(fig, y + 32, f"row {row} of out depends only on row {row} of x:", "the same weights at every position")
    return fig


# --- chapter 5 --------------------------------------------------------------------------------

def _stream_column(fig, sx, y, items, *, box_x, box_w=84, on_w=112):
    """Draw a residual stream going down at x = sx; returns the y where it ends.

    items: ("on", label) puts a box on the stream itself; ("branch", [labels]) reads the stream
    into boxes to the right (at box_x) and adds their output back at a (+).
    """
    for kind, what in items:
        if kind == "on":
            fig.line([(sx, y), (sx, y + 16)], "resid", arrow=True, thick=True)
            fig.box(sx - on_w / 2, y + 16, on_w, 36, [what], "op")
            y += 52
        else:
            fig.line([(sx, y), (sx, y + 14)], "resid", arrow=False, thick=True)
            fig.line([(sx, y + 14), (box_x + box_w / 2, y + 14), (box_x + box_w / 2, y + 30)])
            by = y + 30
            for i, label in enumerate(what):
                if i:
                    fig.arrow(box_x + box_w / 2, by, box_x + box_w / 2, by + 16)
                    by += 16
                fig.box(box_x, by, box_w, 34, [f"`{label}"], "op")
                by += 34
            plus_y = by + 18
            fig.line([(box_x + box_w / 2, by), (box_x + box_w / 2, plus_y), (sx + 12, plus_y)])
            fig.line([(sx, y + 14), (sx, plus_y - 12)], "resid", arrow=False, thick=True)
            plus(fig, sx, plus_y)
            y = plus_y + 12
    return y


def pre_post_ln() -> Figure:
    """Post-LN (the original Transformer) and pre-LN (GPT-2, gptlib) side by side."""
    fig = Figure(W)
    cols = ((110, "post-LN", "original Transformer"), (330, "pre-LN", "GPT-2, gptlib"))
    for cx, title, sub in cols:
        fig.text(cx, 28, title, bold=True)
        fig.text(cx, 52, sub, cls="muted")
    post = [("branch", ["attn"]), ("on", "LayerNorm"), ("branch", ["mlp"]), ("on", "LayerNorm")]
    pre = [("branch", ["ln_1", "attn"]), ("branch", ["ln_2", "mlp"])]
    ends = []
    for (cx, _, _), items in zip(cols, (post, pre)):
        sx = cx - 50
        fig.text(sx, 84, "x", mono=True, bold=True)
        fig.line([(sx, 92), (sx, 100)], "resid", arrow=False, thick=True)
        ends.append((sx, _stream_column(fig, sx, 100, items, box_x=cx - 6, box_w=72)))
    bottom = max(y for _, y in ends) + 34  # room for the "x n_layer" label inside the frame
    for (cx, _, _), (sx, y) in zip(cols, ends):
        fig.line([(sx, y), (sx, bottom + 20)], "resid", arrow=True, thick=True)
        # one block of each: the frame holds what repeats n_layer times
        fig.rect(sx - 58, 96, (cx + 72) - (sx - 58), bottom - 96, "frame", extra=' stroke-dasharray="6 5"')
        fig.text(cx + 66, bottom - 10, "\u00d7 n_layer", cls="muted", anchor="end")
    y = bottom + 22
    fig.text(ends[0][0], y + 20, "out", mono=True, bold=True)
    y = _stream_column(fig, ends[1][0], y - 16, [("on", "`ln_f")], box_x=0)
    fig.line([(ends[1][0], y), (ends[1][0], y + 16)], "resid", arrow=True, thick=True)
    fig.text(ends[1][0], y + 38, "out", mono=True, bold=True)
    y += 74
    caption(fig, y, "post-LN normalises the stream itself;", "pre-LN normalises what a sub-block reads,",
            "and the stream is only ever added to")
    return fig


def _branch_across(fig, sx, y, labels, box_x, *, words=False):
    """A sub-block beside the stream: read at the top, boxes left to right, added back below.

    Returns the y just below the (+)."""
    ry = y + 24
    fig.line([(sx, y), (sx, ry + 46)], "resid", arrow=False, thick=True)
    fig.arrow(sx, ry, box_x, ry)
    x = box_x
    for i, label in enumerate(labels):
        w = text_width(label, 16, mono=True) + 24
        if i:
            fig.arrow(x, ry, x + 20, ry)
            x += 20
        fig.box(x, ry - 17, w, 34, [f"`{label}"], "op")
        x += w
    back = ry + 58
    fig.line([(x - 30, ry + 17), (x - 30, back), (sx + 12, back)])
    plus(fig, sx, back)
    if words:
        fig.text((sx + box_x - 14) / 2, ry - 8, "reads", cls="t-resid")
        fig.text((sx + box_x - 14) / 2, back - 8, "adds", cls="t-resid")
    return back + 12


def residual_stream() -> Figure:
    """The residual stream as a highway: every sub-block reads it (through a layer norm) and adds to it."""
    from gptlib.embeddings import embed
    from gptlib.model import transformer_block

    p = params()
    x = embed(token_ids(), p["wte"], p["wpe"])
    out = transformer_block(x, **p["blocks"][0], n_head=CONFIG.n_head, eps=CONFIG.layer_norm_eps)
    assert shape(out) == shape(x), "a block keeps the stream's shape"

    fig = Figure(W)
    sx = 150
    fig.box(sx - 120, 12, 240, 40, ["`wte[ids] + wpe[:n_seq]"], "param")
    y = 52
    fig.text(sx - 24, y + 40, "residual", cls="t-resid", anchor="end")
    fig.text(sx - 24, y + 64, "stream", cls="t-resid", anchor="end")
    fig.text(sx - 24, y + 92, "[n_seq,", mono=True, cls="muted", anchor="end")
    fig.text(sx - 24, y + 114, "n_embd]", mono=True, cls="muted", anchor="end")
    box_x = sx + 96

    def block(y, name, words=False):
        fig.text(W - 16, y + 24, name, mono=True, cls="muted", anchor="end")
        fig.line([(sx, y), (sx, y + 30)], "resid", arrow=False, thick=True)
        top = y + 30
        y = _branch_across(fig, sx, top, ["ln_1", "attn"], box_x, words=words)
        y = _branch_across(fig, sx, y, ["ln_2", "mlp"], box_x)
        fig.rect(box_x - 14, top + 4, W - 12 - (box_x - 14), y - top - 4, "frame", extra=' stroke-dasharray="6 5"')
        return y + 6

    y = block(y, "blocks[0]", words=True)
    fig.line([(sx, y - 6), (sx, y + 46)], "resid", arrow=False, thick=True)
    fig.text(W - 20, y + 30, "\u22ee  more blocks", cls="muted", anchor="end")
    y = block(y + 46, "blocks[n_layer-1]")
    fig.line([(sx, y - 6), (sx, y + 20)], "resid", arrow=True, thick=True)
    fig.box(sx - 60, y + 20, 120, 36, ["`ln_f"], "param")
    fig.text(sx + 76, y + 44, "\u2192 the head", cls="muted", anchor="start")
    y += 86
    caption(fig, y, "each sub-block reads a normalised copy", "of the stream and adds its output to it")
    return fig


DIAGRAMS = {
    "ch03_attention_flow": attention_flow,
    "ch03_causal_mask": causal_mask_grid,
    "ch04_mlp": mlp,
    "ch05_pre_post_ln": pre_post_ln,
    "ch05_residual_stream": residual_stream,
}
