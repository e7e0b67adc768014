"""Chapter 4 exercises: the feed-forward block's size, a linear layer's gradients, a gated
variant (SwiGLU), an experiment to design, a prediction about GELU's two forms inside a trained
model, and a backward pass to debug.

References are things no one here wrote: the parameter count of gptlib's own ``MLP`` module,
torch autograd, torch's SiLU, and the project's trained model run through PyTorch's GELU.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..ffn import MLP, gelu, gelu_backward, linear, linear_backward
from . import Case, Exercise, Explanation, Mistake, Prediction
from .references import torch_function, torch_vjp

# --- ffn_num_params: count_ffn_params(n_embd) -> int ------------------------------------------


def _mlp_size(n_embd):
    """The number of parameters of gptlib's MLP module of this width (built on the meta device:
    shapes only, no memory, so GPT-2 XL's width costs nothing)."""
    with torch.device("meta"):
        return sum(p.numel() for p in MLP(int(n_embd)).parameters())


def _widths(rng):
    n = int(rng.integers(2, 2049))
    return [Case((n,), f"n_embd = {n}")]


# --- linear_grads: linear_grads(d_out, x, w, b) -> (dx, dw, db) ----------------------------------

_linear_vjp = torch_vjp(lambda x, w, b: x @ w + b, wrt=(0, 1, 2))


def _linear_case(rng, leading, n_in, n_out, description):
    x = rng.normal(size=leading + (n_in,))
    w, b = rng.normal(size=(n_in, n_out)), rng.normal(size=n_out)
    d_out = rng.normal(size=leading + (n_out,))
    return Case((d_out, x, w, b), description)


def _linear_cases(rng):
    batch, n_seq = int(rng.integers(2, 4)), int(rng.integers(2, 6))
    n_in, n_out = int(rng.integers(2, 7)), int(rng.integers(2, 7))
    return [_linear_case(rng, (batch, n_seq), n_in, n_out,
                         f"a batch [{batch}, {n_seq}, {n_in}] with {n_out} outputs")]


_fixed = np.random.default_rng(4)

# --- swiglu: swiglu_ffn(x, w_gate, w_up, w_down) -----------------------------------------------


def _swiglu_torch(x, w_gate, w_up, w_down):
    return (F.silu(x @ w_gate) * (x @ w_up)) @ w_down


def _swiglu_cases(rng):
    n_seq, n_embd, hidden = int(rng.integers(1, 6)), int(rng.integers(2, 9)), int(rng.integers(2, 13))
    x = rng.normal(size=(n_seq, n_embd))
    ws = [rng.normal(size=s) for s in ((n_embd, hidden), (n_embd, hidden), (hidden, n_embd))]
    return [Case((x, *ws), f"x [{n_seq}, {n_embd}] and a hidden width of {hidden}")]


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


# --- exact_gelu_in_the_model: a prediction ------------------------------------------------------

GELU_SWAP_OPTIONS = ("under 0.01", "between 0.01 and 0.1", "over 0.1")
GELU_SWAP_TEXT = "First Citizen:\nBefore we proceed any further, hear me speak."


def gelu_swap_experiment():
    """The project's model with its tanh GELU, then with the exact GELU in every MLP: the largest
    change of any next-token probability over a line of Shakespeare (float64, so the same on
    every CPU)."""
    from ..model import GPT  # the whole model (chapter 6)
    from ..weights import load_shakespeare_model

    config, params, tokenizer = load_shakespeare_model()
    model = GPT.from_params(config, params, device="cpu").double()
    ids = torch.tensor([tokenizer.encode(GELU_SWAP_TEXT)])
    with torch.no_grad():
        tanh_probs = model(ids).softmax(-1)
        for block in model.blocks:
            block.mlp.gelu = torch.nn.GELU()  # PyTorch's exact GELU, x * Phi(x)
        exact_probs = model(ids).softmax(-1)
    change = (tanh_probs - exact_probs).abs().max().item()
    happened = GELU_SWAP_OPTIONS[int(change >= 0.01) + int(change >= 0.1)]
    if happened == GELU_SWAP_OPTIONS[0]:
        return happened, "no probability moved by 0.01 or more"
    return happened, f"the largest change was {happened}"


# --- fix_ffn_backward: a debugging task ----------------------------------------------------------


def buggy_ffn_backward(d_out, x, c_fc, c_proj):
    """Gradients of ``ffn`` (a colleague's version, with one bug)."""
    pre = linear(x, **c_fc)  # [..., 4*n_embd], GELU's input
    hidden = gelu(pre)  # [..., 4*n_embd], c_proj's input
    d_hidden, d_proj = linear_backward(d_out, hidden, **c_proj)
    d_pre = gelu_backward(d_hidden, hidden)
    dx, d_fc = linear_backward(d_pre, x, **c_fc)
    return dx, {"c_fc": d_fc, "c_proj": d_proj}


_mlp_vjp = torch_vjp(
    lambda x, fc_w, fc_b, proj_w, proj_b: F.gelu(x @ fc_w + fc_b, approximate="tanh") @ proj_w + proj_b,
    wrt=(0, 1, 2, 3, 4),
)


def _mlp_reference(d_out, x, c_fc, c_proj):
    return _mlp_vjp(d_out, x, c_fc["w"], c_fc["b"], c_proj["w"], c_proj["b"])


def _flat_grads(backward):
    """A backward pass returning (dx, {"c_fc": {"w", "b"}, "c_proj": ...}) as five arrays."""

    def flat(d_out, x, c_fc, c_proj):
        dx, grads = backward(d_out, x, c_fc, c_proj)
        return (dx, grads["c_fc"]["w"], grads["c_fc"]["b"], grads["c_proj"]["w"], grads["c_proj"]["b"])

    return flat


def _mlp_cases(rng):
    n_seq, n_embd = int(rng.integers(1, 6)), int(rng.integers(2, 7))
    x = rng.normal(size=(n_seq, n_embd))
    c_fc = {"w": rng.normal(size=(n_embd, 4 * n_embd)), "b": rng.normal(size=4 * n_embd)}
    c_proj = {"w": 0.3 * rng.normal(size=(4 * n_embd, n_embd)), "b": rng.normal(size=n_embd)}
    return [Case((rng.normal(size=(n_seq, n_embd)), x, c_fc, c_proj), f"x [{n_seq}, {n_embd}], random weights")]


EXERCISES = {
    "ffn_num_params": Exercise(
        title="the parameters of one feed-forward block",
        reference=_mlp_size,
        cases=[Case((1,), "n_embd = 1"), Case((768,), "GPT-2 small, n_embd = 768"),
               Case((1600,), "GPT-2 XL, n_embd = 1600")],
        generate=_widths, n_generated=5,
        mistakes=[
            Mistake(lambda n: 8 * n * n, "Each of the two layers also has a bias vector: how long is each?"),
            Mistake(lambda n: 8 * n * n + 2 * n, "The two bias vectors have the lengths of the layers' "
                                                 "outputs, and the two outputs differ in width."),
            Mistake(lambda n: 8 * n * n + 8 * n, "c_proj's output is n_embd wide, not 4 * n_embd."),
            Mistake(lambda n: 2 * n * n + 2 * n, "The hidden layer is four times as wide as n_embd."),
        ],
        idea="Count each layer's weight matrix (its input width times its output width) and its bias.",
    ),
    "linear_grads": Exercise(
        title="the gradients of a linear layer (dx, dw, db)",
        reference=_linear_vjp, kind="derive", difficulty=2,
        cases=[
            _linear_case(_fixed, (1,), 3, 2, "one position, 3 inputs, 2 outputs"),
            _linear_case(_fixed, (4,), 3, 5, "four positions"),
            _linear_case(_fixed, (2, 3), 4, 2, "a batch [2, 3, 4] (dw and db sum over batch and positions)"),
        ],
        generate=_linear_cases, n_generated=5,
        mistakes=[
            Mistake(lambda d, x, w, b: (d @ w.T, x.reshape(-1, w.shape[0]).T @ d.reshape(-1, w.shape[1]),
                                        d.sum(axis=0)),
                    "The bias serves every position of every sequence: sum its gradient over all leading axes."),
            Mistake(lambda d, x, w, b: (d @ w, *_linear_vjp(d, x, w, b)[1:]),
                    "dx must have x's shape: which side of d_out does w go, and transposed how?"),
            Mistake(lambda d, x, w, b: (d @ w.T, x[..., None] * d[..., None, :], d),
                    "The same w serves every position: its gradient adds the contributions of all of them."),
        ],
    ),
    "swiglu": Exercise(
        title="a gated feed-forward block (SwiGLU)",
        reference=torch_function(_swiglu_torch), kind="variant", difficulty=2,
        generate=_swiglu_cases, n_generated=8,
        mistakes=[
            Mistake(lambda x, wg, wu, wd: ((x @ wg) * (x @ wu) * _sigmoid(x @ wu)) @ wd,
                    "Swish goes on the gate, x @ w_gate; x @ w_up passes through unchanged."),
            Mistake(lambda x, wg, wu, wd: (_sigmoid(x @ wg) * (x @ wu)) @ wd,
                    "That is the original GLU (a sigmoid gate); Swish multiplies the sigmoid by its input."),
            Mistake(lambda x, wg, wu, wd: (gelu(x @ wg) * (x @ wu)) @ wd,
                    "That is GEGLU: SwiGLU's non-linearity is Swish, z * sigmoid(z), not GELU."),
            Mistake(lambda x, wg, wu, wd: ((x @ wg) * _sigmoid(x @ wg)) @ wd,
                    "The gate multiplies a second projection of x, x @ w_up, elementwise."),
        ],
        atol=1e-9,
    ),
    "mlp_or_weights": Explanation(title="the non-linearity or the weights?", difficulty=2),
    "exact_gelu_in_the_model": Prediction(
        title="exact GELU in a tanh-trained model",
        options=GELU_SWAP_OPTIONS, experiment=gelu_swap_experiment, difficulty=2,
    ),
    "fix_ffn_backward": Exercise(
        title="fix the feed-forward backward pass",
        reference=_mlp_reference, kind="debug", difficulty=2,
        adapter=_flat_grads,
        generate=_mlp_cases, n_generated=6,
        mistakes=[Mistake(_flat_grads(buggy_ffn_backward),
                          "This still behaves like the given code: at which value is GELU's slope taken?")],
        idea="Compare each step with the forward pass: which array went into which function?",
        atol=1e-8,
    ),
}
