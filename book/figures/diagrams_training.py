"""The diagrams of chapters 7 and 8: one generation step with a KV cache, and the backward graph.

As in the other diagram modules, every shape comes from running gptlib (shapes.py).
"""

from __future__ import annotations

import numpy as np

from drawing import CX, W, Figure, caption, plus
from shapes import CONFIG, N_PAST, param_shape, params, shape, token_ids


# The KV-cache diagram's columns for q, k and v; cache cells: head_size across, a row per position.
QX, KX, VX, CELL, ROW = 40, 120, 290, 14, 22


def _qkv_and_caches(fig, y, layer_after):
    """q, k and v of the new token; k and v appended as the last row of the layer's caches.

    Returns (the top of the caches, the y of the appended row)."""
    grid_top = y + 34
    new_row = grid_top + (layer_after["k"].shape[1] - 1) * ROW
    fig.line([(QX, y), (VX, y)], arrow=False)
    for name, cx in (("q", QX), ("k", KX), ("v", VX)):
        fig.arrow(cx, y, cx, y + 22)
        fig.box(cx - 22, y + 22, 44, 32, [(name, {"bold": True, "mono": True})], "data", rx=4)
    for name, cx, cached in (("cache k", KX, layer_after["k"]), ("cache v", VX, layer_after["v"])):
        gx = cx + 36
        n_pos, head = cached.shape[1], cached.shape[2]
        fig.text(gx + head * CELL / 2, grid_top - 6, name, mono=True, cls="muted")
        for r in range(n_pos - 1):
            fig.rect(gx, grid_top + 10 + r * ROW, head * CELL, ROW, "data", rx=0)
        fig.box(gx, new_row + 10, head * CELL, ROW, [("new", {"mono": True})], "hi", rx=0)
        fig.line([(cx, y + 54), (cx, new_row + 21), (gx, new_row + 21)])  # appended as the last row
    return grid_top, new_row


def kv_cache() -> Figure:
    """One step of generation with a KV cache, in one layer."""
    from gptlib.attention import attention_weights, causal_mask, qkv_heads
    from gptlib.embeddings import embed
    from gptlib.kvcache import NumpyKVCache
    from gptlib.layernorm import layer_norm
    from gptlib.model import gpt2_numpy, gpt2_numpy_cached

    p = params()
    ids = token_ids(N_PAST + 1)
    cache = NumpyKVCache(CONFIG.n_layer)
    gpt2_numpy_cached(ids[:N_PAST], p, CONFIG, cache)  # the earlier steps filled the cache
    logits = gpt2_numpy_cached(ids[N_PAST:], p, CONFIG, cache, last_only=True)
    assert np.allclose(logits, gpt2_numpy(ids, p, CONFIG)[-1:]), "the cache gives the same logits"
    block = p["blocks"][0]
    x = embed(ids[N_PAST:], p["wte"], p["wpe"][N_PAST:])  # the new token sits at position n_past
    h = layer_norm(x, **block["ln_1"], eps=CONFIG.layer_norm_eps)
    q, _, _ = qkv_heads(h, block["attn"]["c_attn"], CONFIG.n_head)
    layer_after = {"k": cache.layers[0].k, "v": cache.layers[0].v}  # layer 0, the new row last
    # the attention output has the shape of its input x: [1, n_embd]
    mask = causal_mask(N_PAST + 1)[N_PAST:]
    assert mask.all(), "the newest token may look at every position: no mask is needed"
    weights = attention_weights(q, layer_after["k"], mask)

    def step(y, lines, cls="op", arrow=True):
        """A full-width box, and the arrow down to the next."""
        h = 24 * len(lines) + 6
        fig.box(20, y, 400, h, lines, cls)
        if arrow:
            fig.arrow(CX, y + h, CX, y + h + 24)
        return y + h + 26

    fig = Figure(W)
    fig.box(CX - 150, 12, 300, 54, ["new token id", ("at position n_past", {"cls": "muted"})], "op")
    fig.arrow(CX, 66, CX, 102)
    fig.text(CX + 10, 90, "wte[id] + wpe[n_past]", mono=True, cls="t-param", anchor="start")
    fig.box(CX - 100, 104, 200, 54, [("x", {"bold": True}), (shape(x), {"mono": True, "cls": "muted"})], "data")
    fig.arrow(CX, 158, CX, 188)
    fig.text(CX + 10, 179, "ln_1, attn.c_attn", mono=True, cls="t-param", anchor="start")
    grid_top, new_row = _qkv_and_caches(fig, 190, layer_after)
    y = new_row + 74
    # the one new query attends over every cached key, then reads every cached value
    fig.arrow(QX, grid_top + 20, QX, y - 2)
    fig.arrow(KX + 36 + 3 * CELL, new_row + 32, KX + 36 + 3 * CELL, y - 2)
    v_in = y + (24 * 4 + 6) + 26 + (24 * 2 + 6) / 2  # the middle of "weights @ v", two boxes down
    fig.line([(VX + 36 + 3 * CELL, new_row + 32), (VX + 36 + 3 * CELL, new_row + 42), (W - 6, new_row + 42),
              (W - 6, v_in), (420, v_in)])  # round the right-hand side into "weights @ v"
    y = step(y, ["`q @ k^{T} / \u221ahead_size, softmax", (f"q {shape(q)}", {"mono": True, "cls": "muted"}),
                 (f"k, v {shape(layer_after['k'])}", {"mono": True, "cls": "muted"}),
                 (f"weights {shape(weights)}", {"mono": True, "cls": "muted"})])
    y = step(y, ["`weights @ v, merge_heads, attn.c_proj", (shape(x), {"mono": True, "cls": "muted"})])
    y = step(y, ["+ x, then ln_2 and mlp (nothing cached),", "then the other layers, each with a cache"])
    y = step(y, ["`ln_f, x @ wte^{T}", (f"logits {shape(logits)}", {"mono": True, "cls": "muted"})], "param")
    caption(fig, y + 20, "the next token: the new token of the next step")
    caption(fig, y + 52, "new: this step's key and value, appended", "to the cache of this layer")
    return fig


# The backward diagram's geometry: the forward path (and residual stream) at FX, boxes BW wide,
# the gradient's column at GX beside it, wte's box centred at WX.
FX, BW, GX, WX = 200, 160, 240, 386


def _path_box(fig, y, lines, cls="op"):
    fig.box(FX - BW / 2, y, BW, 36, lines, cls)
    return y + 36


def _path_gap(fig, y, fwd_name=None, grad_name=None, length=44):
    """Between two boxes: the forward arrow down the path, the gradient's dashed arrow up beside it."""
    fig.arrow(FX, y, FX, y + length)
    if grad_name:
        fig.arrow(GX, y + length, GX, y, "grad", dashed=True)
        fig.text(GX + 10, y + length / 2 + 6, grad_name, mono=True, cls="t-grad", anchor="start")
    if fwd_name:
        fig.text(FX - 10, y + length / 2 + 6, fwd_name, mono=True, anchor="end")
    return y + length


def _residual_sub_block(fig, top):
    """x + attn(ln_1(x)) forward, and backward: the add sends the gradient up the stream unchanged
    AND back through the branch; where the stream forked, the two gradients add up."""
    fork, add = top + 34, top + 160
    bx = 56  # the branch's column
    fig.line([(FX, top), (FX, add + 36)], "resid", arrow=False, thick=True)
    fig.line([(FX, fork), (bx, fork), (bx, fork + 14)])
    fig.box(bx - 40, fork + 14, 80, 32, ["`ln_1"], "op")
    fig.arrow(bx, fork + 46, bx, fork + 62)
    fig.box(bx - 40, fork + 62, 80, 32, ["`attn"], "op")
    fig.line([(bx, fork + 94), (bx, add), (FX - 12, add)])
    plus(fig, FX, add)
    split, join = add + 22, fork - 18
    fig.line([(GX, add + 36), (GX, join + 10)], "grad", dashed=True)
    fig.line([(GX, split), (112, split), (112, join), (GX - 10, join)], "grad", dashed=True)
    fig.circle(GX, join, 10, "grad", top=True)
    fig.text(GX, join + 5.5, "+", bold=True, cls="t-grad", top=True)
    fig.line([(GX, join - 10), (GX, top)], "grad", dashed=True)
    fig.text(GX + 16, join + 6, "the two add", cls="t-grad", anchor="start")
    fig.text(GX + 10, fork + 70, "unchanged", cls="t-grad", anchor="start")
    fig.text(GX + 10, add + 2, "d_out", mono=True, cls="t-grad", anchor="start")
    fig.text(12, add + 46, "every sub-block", cls="muted", anchor="start")
    fig.text(12, add + 70, "does this", cls="muted", anchor="start")
    return add + 36


def _tied_wte(fig, lookup_y, head_y):
    """wte is used twice, by the lookup and by the head, so its gradient has two parts that add up."""
    wy = head_y - 150  # below the labels beside the residual add
    fig.box(WX - 46, wy, 92, 80, ["`wte", ("`d_wte", {"cls": "t-grad"}), ("= sum", {"cls": "t-grad"})], "param")
    fig.line([(FX + BW / 2, lookup_y + 18), (WX, lookup_y + 18), (WX, wy)], "grad", dashed=True)
    fig.line([(FX + BW / 2, head_y + 18), (WX, head_y + 18), (WX, wy + 80)], "grad", dashed=True)
    fig.text(FX + BW / 2 + 6, lookup_y + 12, "scatter-add", cls="t-grad", anchor="start")
    fig.text(FX + BW / 2 + 6, head_y + 40, "d_logits^{T} @ h", mono=True, cls="t-grad", anchor="start")


def backward() -> Figure:
    """The forward path and the gradients flowing back, with a residual add and the tied wte."""
    from gptlib.embeddings import embed
    from gptlib.model import gpt2_numpy
    from gptlib.training import cross_entropy_backward, loss_and_grads

    p = params()
    ids = token_ids()
    targets = np.roll(ids, -1)
    logits = gpt2_numpy(ids, p, CONFIG)
    d_logits = cross_entropy_backward(logits, targets)
    loss, grads = loss_and_grads(ids, targets, p, CONFIG)
    x = embed(ids, p["wte"], p["wpe"])
    assert np.ndim(loss) == 0 and shape(d_logits) == shape(logits)
    assert shape(grads["wte"]) == param_shape("wte", p)

    fig = Figure(W)
    fig.text(FX - 10, 24, "forward", bold=True, anchor="end")
    fig.text(GX - 10, 24, "backward", bold=True, cls="t-grad", anchor="start")
    y = _path_box(fig, 36, ["`token ids"])
    y = _path_gap(fig, y, length=30)  # ids are integers: no gradient goes to them
    lookup_y = y
    y = _path_box(fig, y, ["`wte[ids] + wpe"], "param")
    y = _path_gap(fig, y, "x", "d_x")
    y = _residual_sub_block(fig, y)
    y = _path_gap(fig, y, "x", "d_x", length=40)
    y = _path_box(fig, y, ["`ln_f"], "param")
    y = _path_gap(fig, y, "h", "d_h")
    head_y = y
    y = _path_box(fig, y, ["`h @ wte^{T}"], "param")
    y = _path_gap(fig, y, "logits", "d_logits")
    y = _path_box(fig, y, ["`cross_entropy"])
    fig.text(FX - BW / 2 - 8, y - 12, "targets \u2192", cls="muted", anchor="end")
    fig.arrow(FX, y, FX, y + 26)
    fig.text(FX, y + 48, "loss", bold=True)
    _tied_wte(fig, lookup_y, head_y)
    y += 84
    fig.text(CX, y, "d_logits =", mono=True, cls="t-grad")
    fig.text(CX, y + 24, "(softmax(logits) \u2212 one_hot(targets)) / N", cls="t-grad")
    fig.text(CX, y + 60, "each gradient has the shape of its tensor:", cls="muted")
    for j, (name, array) in enumerate((("d_x", x), ("d_logits", d_logits), ("d_wte", grads["wte"]))):
        fig.text(CX, y + 84 + 24 * j, f"{name} {shape(array)}", mono=True, cls="t-grad")
    return fig


DIAGRAMS = {
    "ch07_kv_cache": kv_cache,
    "ch08_backward": backward,
}
