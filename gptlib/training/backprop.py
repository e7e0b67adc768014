"""Chapter 8: the loss and its gradient for every parameter, by hand, in NumPy.

Cross-entropy measures how surprised the model is by the real next tokens; backpropagation
walks the forward pass backwards, one chain-rule step per piece, composing the backward
functions of chapters 2-5. The tests check every gradient against torch autograd.
"""

from __future__ import annotations

import numpy as np

from ..attention import mha, mha_backward
from ..checks import check_ids, check_targets
from ..config import GPTConfig
from ..embeddings import embed_backward
from ..ffn import ffn_backward
from ..layernorm import layer_norm, layer_norm_backward
from ..model import gpt2_stream, lm_head


def log_softmax(logits):
    """[..., V] -> [..., V]: log of the softmax, without overflow (subtract the row max)."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def cross_entropy(logits, targets):
    """Mean negative log-likelihood of the targets: logits [..., V], targets [...] ints -> scalar.

    In nats (natural log); divide by ln 2 for bits.
    """
    logp = log_softmax(logits)  # [..., V]
    picked = np.take_along_axis(logp, np.asarray(targets)[..., None], axis=-1)  # log p(target)
    return float(-picked.mean())


def cross_entropy_backward(logits, targets):
    """d(cross_entropy)/d(logits) = (softmax(logits) - one_hot(targets)) / N, N targets."""
    targets = np.asarray(targets)[..., None]  # [..., 1]
    d_logits = np.exp(log_softmax(logits))  # [..., V]: the softmax
    np.put_along_axis(d_logits, targets, np.take_along_axis(d_logits, targets, -1) - 1, -1)
    return d_logits / targets.size  # the mean over N positions divides every gradient by N


def lm_head_backward(d_logits, x, params, config: GPTConfig):
    """Gradients of ``lm_head``: d_logits [..., V] -> (dx [..., C], d_wte [V, C], d_ln_f)."""
    h = layer_norm(x, **params["ln_f"], eps=config.layer_norm_eps)  # [..., C], the head's input
    V, C = params["wte"].shape
    d_wte = d_logits.reshape(-1, V).T @ h.reshape(-1, C)  # [V, C], as logits = h @ wte.T
    d_h = d_logits @ params["wte"]  # [..., C]
    dx, d_ln_f = layer_norm_backward(d_h, x, **params["ln_f"], eps=config.layer_norm_eps)
    return dx, d_wte, d_ln_f


def transformer_block_backward(d_out, x, block, n_head, eps):
    """Backward of ``gptlib.model.transformer_block``: d_out [n_seq, C] -> (dx, d_block).

    The forward is x1 = x + mha(ln_1(x)); out = x1 + ffn(ln_2(x1)). A residual connection
    ``y = x + f(x)`` passes the gradient through untouched AND through f: dx = dy + f'(x)^T dy.
    d_block has the nesting of ``block`` (ln_1, attn, ln_2, mlp).
    """
    ln_1, attn, ln_2, mlp = block["ln_1"], block["attn"], block["ln_2"], block["mlp"]
    # recompute the forward's intermediates (the backward functions take the forward's inputs)
    h1 = layer_norm(x, **ln_1, eps=eps)  # [n_seq, C], attention's input
    x1 = x + mha(h1, **attn, n_head=n_head)  # [n_seq, C], the stream between the two halves
    h2 = layer_norm(x1, **ln_2, eps=eps)  # [n_seq, C], the MLP's input

    # second half: out = x1 + ffn(ln_2(x1))
    d_h2, d_mlp = ffn_backward(d_out, h2, **mlp)
    d_x1_ln, d_ln_2 = layer_norm_backward(d_h2, x1, **ln_2, eps=eps)
    d_x1 = d_out + d_x1_ln  # the residual path plus the path through the MLP

    # first half: x1 = x + mha(ln_1(x))
    d_h1, d_attn = mha_backward(d_x1, h1, **attn, n_head=n_head)
    d_x_ln, d_ln_1 = layer_norm_backward(d_h1, x, **ln_1, eps=eps)
    dx = d_x1 + d_x_ln
    return dx, {"ln_1": d_ln_1, "attn": d_attn, "ln_2": d_ln_2, "mlp": d_mlp}


def loss_and_grads(ids, targets, params, config: GPTConfig):
    """The mean cross-entropy of the NumPy GPT and its gradient for every parameter.

    ids, targets: [n_seq] or [B, n_seq] token ids (targets: the next token at each position).
    Returns (loss, grads), grads nested exactly like ``params``. The forward pass keeps the
    stream entering each block; the backward pass walks the blocks in reverse.
    """
    ids = check_ids(ids, config, batch=True)
    targets = check_targets(targets, ids.shape + (config.vocab_size,), config.vocab_size)
    stream = gpt2_stream(ids, params, config)  # n_layer + 1 x [..., n_seq, C]
    logits = lm_head(stream[-1], params, config)  # [..., n_seq, V]
    loss = cross_entropy(logits, targets)

    d_logits = cross_entropy_backward(logits, targets)  # [..., n_seq, V]
    d_x, d_wte_head, d_ln_f = lm_head_backward(d_logits, stream[-1], params, config)
    d_blocks = [None] * config.n_layer
    for i in reversed(range(config.n_layer)):  # block i read stream[i]
        d_x, d_blocks[i] = transformer_block_backward(
            d_x, stream[i], params["blocks"][i], config.n_head, config.layer_norm_eps
        )
    d_wte_embed, d_wpe = embed_backward(d_x, ids, params["wte"], params["wpe"])
    # wte is used twice (lookup at the bottom, head at the top): its gradient is the sum of both
    grads = {"wte": d_wte_embed + d_wte_head, "wpe": d_wpe, "blocks": d_blocks, "ln_f": d_ln_f}
    return loss, grads
