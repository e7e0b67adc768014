"""The diagrams of chapter 6: one transformer block with its parameters, and the whole model.

The parameter names and shapes come from gptlib's parameter table (shapes.py).
"""

from __future__ import annotations

import numpy as np

from drawing import CX, W, Figure, plus
from shapes import CONFIG, N_SEQ, param_shape, params, shape, token_ids


# --- chapter 6 --------------------------------------------------------------------------------


def block() -> Figure:
    """One transformer block with gptlib's parameter names and shapes."""
    from gptlib.model import transformer_block

    p = params()
    x = np.random.default_rng(4).standard_normal((N_SEQ, CONFIG.n_embd))
    out = transformer_block(x, **p["blocks"][0], n_head=CONFIG.n_head, eps=CONFIG.layer_norm_eps)

    def ps(name):
        return param_shape(f"blocks.0.{name}", p)

    fig = Figure(W)
    sx = 60
    fig.text(CX, 28, "blocks[i]", mono=True, bold=True)
    fig.text(sx, 60, "x", mono=True, bold=True)
    fig.text(sx + 14, 60, shape(x), mono=True, cls="muted", anchor="start")
    bx, bw = 120, W - 12 - 120
    y = 70

    def branch(y, boxes):
        fig.line([(sx, y), (sx, y + 18)], "resid", arrow=False, thick=True)
        fig.line([(sx, y + 18), (bx + bw / 2, y + 18), (bx + bw / 2, y + 34)])
        by = y + 34
        for i, (title, rows) in enumerate(boxes):
            if i:
                fig.arrow(bx + bw / 2, by, bx + bw / 2, by + 18)
                by += 18
            h = 30 + 22 * len(rows)
            fig.rect(bx, by, bw, h, "param")
            fig.text(bx + 12, by + 22, title, mono=True, bold=True, anchor="start")
            for j, (name, shp) in enumerate(rows):
                fig.text(bx + 30, by + 46 + 22 * j, name, mono=True, cls="t-param", anchor="start")
                fig.text(bx + bw - 12, by + 46 + 22 * j, shp, mono=True, cls="muted", anchor="end")
            by += h
        plus_y = by + 20
        fig.line([(bx + bw / 2, by), (bx + bw / 2, plus_y), (sx + 12, plus_y)])
        fig.line([(sx, y + 18), (sx, plus_y - 12)], "resid", arrow=False, thick=True)
        plus(fig, sx, plus_y)
        return plus_y + 12

    y = branch(y, [("ln_1", [("g", ps("ln_1.g")), ("b", ps("ln_1.b"))]),
                   ("attn", [("c_attn.w", ps("attn.c_attn.w")), ("c_attn.b", ps("attn.c_attn.b")),
                             ("c_proj.w", ps("attn.c_proj.w")), ("c_proj.b", ps("attn.c_proj.b"))])])
    y = branch(y, [("ln_2", [("g", ps("ln_2.g")), ("b", ps("ln_2.b"))]),
                   ("mlp", [("c_fc.w", ps("mlp.c_fc.w")), ("c_fc.b", ps("mlp.c_fc.b")),
                            ("c_proj.w", ps("mlp.c_proj.w")), ("c_proj.b", ps("mlp.c_proj.b"))])])
    fig.line([(sx, y), (sx, y + 24)], "resid", arrow=True, thick=True)
    fig.text(sx, y + 46, "x", mono=True, bold=True)
    fig.text(sx + 14, y + 46, shape(out), mono=True, cls="muted", anchor="start")
    fig.text(CX, y + 84, "x = x + attn(ln_1(x))", mono=True)
    fig.text(CX, y + 108, "x = x + mlp(ln_2(x))", mono=True)
    return fig


def _parameter_count(fig, y):
    """GPT-2 small's parameters, counted from gptlib's parameter table."""
    from gptlib.config import GPTConfig
    from gptlib.weights import param_table

    gpt2 = GPTConfig()  # gptlib's defaults are GPT-2 small
    sizes = {}
    for name, _, _, size in param_table(gpt2):
        group = name.split(".")[0] if not name.startswith("blocks.") else "blocks"
        sizes[group] = sizes.get(group, 0) + int(np.prod(size))
    per_block = sizes["blocks"] // gpt2.n_layer
    fig.text(CX, y, "GPT-2 small (GPTConfig())", bold=True)
    rows = [("wte", f"{sizes['wte']:,}"), ("wpe", f"{sizes['wpe']:,}"),
            (f"{gpt2.n_layer} blocks \u00d7 {per_block:,}", f"{sizes['blocks']:,}"), ("ln_f", f"{sizes['ln_f']:,}"),
            ("parameters", f"{sum(sizes.values()):,}")]
    for j, (name, count) in enumerate(rows):
        ty = y + 28 + 24 * j
        fig.text(24, ty, name, mono=name != "parameters", bold=name == "parameters", anchor="start")
        fig.text(W - 24, ty, count, mono=True, bold=name == "parameters", anchor="end")
    fig.line([(24, y + 28 + 24 * 3 + 9), (W - 24, y + 28 + 24 * 3 + 9)], arrow=False)


def model() -> Figure:
    """The whole GPT: ids -> wte + wpe -> blocks -> ln_f -> x @ wte.T -> logits, with GPT-2 small's parameter count."""
    from gptlib.model import gpt2_numpy

    p = params()
    ids = token_ids()
    logits = gpt2_numpy(ids, p, CONFIG)

    fig = Figure(W)
    mx, mw = 250, 200  # main column centre and box width
    y = 12
    fig.text(mx, y + 18, "token ids", bold=True)
    fig.text(mx, y + 40, shape(ids), mono=True, cls="muted")
    y += 52
    lx, rx = 112, 328  # centres of the two tables
    fig.line([(mx, y), (mx, y + 12), (lx, y + 12), (lx, y + 26)])
    fig.line([(mx, y + 12), (rx, y + 12), (rx, y + 26)])
    y += 28
    fig.box(lx - 104, y, 208, 54, ["`wte", (param_shape("wte", p), {"mono": True, "cls": "muted"})], "param")
    fig.box(rx - 104, y, 208, 54, ["`wpe", (param_shape("wpe", p), {"mono": True, "cls": "muted"})], "param")
    wte_y = y + 54
    y += 54
    x_in = p["wte"][ids] + p["wpe"][: len(ids)]
    fig.line([(lx, y), (lx, y + 40), (mx - 12, y + 40)])
    fig.line([(rx, y), (rx, y + 40), (mx + 12, y + 40)])
    fig.text(lx + 8, y + 24, "wte[ids]", mono=True, cls="t-param", anchor="start")
    fig.text(rx - 8, y + 24, "wpe[:n_seq]", mono=True, cls="t-param", anchor="end")
    plus(fig, mx, y + 40)
    y += 52
    fig.arrow(mx, y, mx, y + 30)
    fig.text(mx + 10, y + 20, shape(x_in), mono=True, cls="muted", anchor="start")
    y += 30
    chain = ["blocks[0]", "blocks[1]", "\u22ee", "blocks[n_layer-1]"]
    first = True
    for name in chain:
        if not first:
            fig.arrow(mx, y, mx, y + 22)
            y += 22
        first = False
        if name == "\u22ee":
            fig.text(mx, y + 18, name, size=18)
            y += 26
            continue
        fig.box(mx - mw / 2, y, mw, 36, [f"`{name}"], "op")
        y += 36
    fig.arrow(mx, y, mx, y + 22)
    y += 22
    fig.box(mx - mw / 2, y, mw, 36, ["`ln_f"], "param")
    y += 36
    fig.arrow(mx, y, mx, y + 22)
    y += 22
    fig.box(mx - mw / 2, y, mw, 36, ["`x @ wte^{T}"], "param")
    # the head is the same matrix as the lookup: a dashed line joins them
    fig.line([(40, wte_y), (40, y + 18), (mx - mw / 2, y + 18)], "param", dashed=True)
    fig.text(52, y - 34, "tied to", cls="t-param", anchor="start")
    fig.text(52, y - 10, "wte", mono=True, cls="t-param", anchor="start")
    y += 36
    fig.arrow(mx, y, mx, y + 22)
    y += 22
    fig.text(mx, y + 20, "logits", bold=True)
    fig.text(mx, y + 42, shape(logits), mono=True, cls="muted")
    y += 86

    _parameter_count(fig, y)
    return fig


DIAGRAMS = {
    "ch06_block": block,
    "ch06_model": model,
}
