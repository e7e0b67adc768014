"""Chapter 6 exercises: count a GPT's parameters, load Hugging Face's tensor names, fix a block,
predict where GPT-2's parameters live, explain the logit lens.

The references are Hugging Face transformers' GPT-2 (no one here wrote it): its parameter count
(``num_parameters``), its logits (``GPT2LMHeadModel``) and one of its blocks (``GPT2Block``), all
in float64. transformers is imported only when a check runs.
"""

from __future__ import annotations

import numpy as np
import torch

from ..attention import mha
from ..config import GPTConfig
from ..ffn import ffn
from ..layernorm import layer_norm
from ..model import NumpyGPT
from ..weights import param_table, unflatten_params
from . import Case, Exercise, Explanation, Mistake, Prediction

# --- Hugging Face's GPT-2, the reference ------------------------------------------------------


def hf_config(config: GPTConfig, **changes):
    """transformers' GPT2Config of this shape (``changes``: other GPT2Config fields)."""
    from transformers import GPT2Config

    return GPT2Config(**{**config.to_hf_dict(), **changes})


def hf_gpt2(config: GPTConfig, seed: int, scale: float = 0.1):
    """A transformers GPT2LMHeadModel of this shape with random float64 weights.

    Weights are drawn with a larger spread than GPT-2's initialisation (``scale``), so that a
    wrong answer changes the logits by far more than rounding; the reader's random state is left
    as it was.
    """
    from transformers import GPT2LMHeadModel

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = GPT2LMHeadModel(hf_config(config)).double().eval()
        with torch.no_grad():
            for name, p in model.named_parameters():
                mean = 1.0 if name.endswith(("ln_1.weight", "ln_2.weight", "ln_f.weight")) else 0.0
                p.normal_(mean, scale)
    return model


def hf_logits(model, ids) -> np.ndarray:
    """transformers' logits for one sequence: [n_seq] ids -> [n_seq, vocab_size]."""
    with torch.no_grad():
        return model(torch.as_tensor(np.asarray(ids))[None]).logits[0].numpy()


def hf_block_output(x, block: dict, n_head: int, eps: float = 1e-5) -> np.ndarray:
    """transformers' GPT2Block holding ``block`` (GPT-2 layout) applied to x [n_seq, n_embd]."""
    from transformers.models.gpt2.modeling_gpt2 import GPT2Block

    n_seq, n_embd = x.shape
    config = hf_config(GPTConfig(vocab_size=2, n_ctx=n_seq, n_embd=n_embd, n_head=n_head,
                                 n_layer=1, layer_norm_eps=eps))
    config._attn_implementation = "eager"  # the plain softmax attention, which takes our mask
    hf_block = GPT2Block(config, layer_idx=0).double().eval()
    # Hugging Face's Conv1D stores [in, out] like GPT-2 (and gptlib): the arrays load as they are
    flat = {f"{k}.{kk}": v for k, d in block.items() for kk, v in _flat(d).items()}
    names = {"g": "weight", "b": "bias", "w": "weight"}
    state = {".".join(n.split(".")[:-1] + [names[n.split(".")[-1]]]): torch.tensor(a)
             for n, a in flat.items()}
    hf_block.load_state_dict(state)
    causal = torch.full((n_seq, n_seq), float("-inf"), dtype=torch.float64).triu(1)[None, None]
    with torch.no_grad():
        return hf_block(torch.tensor(x)[None], attention_mask=causal)[0].numpy()


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


# --- count_params: a variant of the chapter's count -----------------------------------------------


def _hf_count(vocab_size, n_ctx, n_embd, n_layer, n_inner=None, tied=True) -> int:
    """transformers' own count, on the meta device (no memory is allocated, even for GPT-2 XL)."""
    from transformers import GPT2LMHeadModel

    config = hf_config(GPTConfig(vocab_size, n_ctx, n_embd, 1, n_layer),
                       n_inner=n_inner, tie_word_embeddings=tied)
    with torch.device("meta"):
        return int(GPT2LMHeadModel(config).num_parameters())


def _count_without_biases(vocab_size, n_ctx, n_embd, n_layer, n_inner=None, tied=True):
    inner = n_inner or 4 * n_embd
    block = 4 * n_embd + 4 * n_embd * n_embd + 2 * n_embd * inner  # no linear biases
    return (vocab_size + n_ctx) * n_embd + n_layer * block + 2 * n_embd + (0 if tied else vocab_size * n_embd)


def _count_head_twice(vocab_size, n_ctx, n_embd, n_layer, n_inner=None, tied=True):
    return _hf_count(vocab_size, n_ctx, n_embd, n_layer, n_inner, tied=False)


def _count_four_times(vocab_size, n_ctx, n_embd, n_layer, n_inner=None, tied=True):
    return _hf_count(vocab_size, n_ctx, n_embd, n_layer, None, tied)


def _count_without_ln_f(vocab_size, n_ctx, n_embd, n_layer, n_inner=None, tied=True):
    return _hf_count(vocab_size, n_ctx, n_embd, n_layer, n_inner, tied) - 2 * n_embd


def _count_cases(rng):
    n_head = int(rng.integers(1, 5))
    shape = dict(vocab_size=int(rng.integers(10, 5000)), n_ctx=int(rng.integers(4, 2048)),
                 n_embd=n_head * int(rng.integers(2, 64)), n_layer=int(rng.integers(1, 13)))
    inner = int(rng.integers(1, 8)) * shape["n_embd"] + int(rng.integers(0, 3))
    return [Case((), f"a random shape {shape}", dict(shape)),
            Case((), f"the same shape with n_inner={inner}", dict(shape, n_inner=inner)),
            Case((), "the same shape with an untied head", dict(shape, tied=False))]


# --- params_from_hf: Hugging Face's names -> gptlib's params --------------------------------------


def _hub_names(state: dict, n_ctx: int) -> dict:
    """The names of OpenAI's GPT-2 files on the hub: no "transformer." prefix, and each block's
    causal mask stored as a buffer "h.i.attn.bias" [1, 1, n_ctx, n_ctx]."""
    renamed = {name.removeprefix("transformer."): array for name, array in state.items()}
    for name in [n for n in renamed if n.endswith("attn.c_attn.weight")]:
        mask = np.tril(np.ones((n_ctx, n_ctx), dtype=np.uint8))[None, None]
        renamed[name.replace("c_attn.weight", "bias")] = mask
    return renamed


def _hf_state_cases(rng):
    n_head = int(rng.integers(1, 4))
    config = GPTConfig(vocab_size=int(rng.integers(20, 80)), n_ctx=int(rng.integers(8, 24)),
                       n_embd=n_head * int(rng.integers(2, 6)), n_head=n_head,
                       n_layer=int(rng.integers(1, 4)))
    model = hf_gpt2(config, seed=int(rng.integers(1 << 30)))
    state = {name: t.numpy().copy() for name, t in model.state_dict().items()}
    ids = rng.integers(0, config.vocab_size, int(rng.integers(2, config.n_ctx + 1)))
    saved = {name: a for name, a in state.items() if name != "lm_head.weight"}
    return [Case((saved, ids, config, model), f"a file written by save_pretrained, {config}"),
            Case((state, ids, config, model), "the same with lm_head.weight (equal to wte) in it"),
            Case((_hub_names(saved, config.n_ctx), ids, config, model),
                 "the same model with the hub's names (no 'transformer.', mask buffers 'attn.bias')")]


def _logits_from(params_from_hf):
    """The one function the cases call: the reader's params, run by gptlib's NumPy GPT."""
    return lambda state, ids, config, model: NumpyGPT(config, params_from_hf(state))(ids)


def _transposing_loader(state):
    """nn.Linear's habit of transposing, where no shape check catches it: the square attn.c_proj.
    (Transposed non-square matrices are refused by NumpyGPT, naming the expected shape.)"""
    params = _loader(state)
    for block in params["blocks"]:
        block["attn"]["c_proj"]["w"] = block["attn"]["c_proj"]["w"].T
    return params


def _loader(state):
    """A correct conversion, used only to build the wrong ones above (the reference is HF)."""
    from ..weights import _params_from_hf_tensors

    n_layer = 1 + max(int(n.split(".")[1 if n.startswith("h.") else 2])
                      for n in state if ".h." in f".{n}")
    vocab_size, n_embd = state.get("transformer.wte.weight", state.get("wte.weight")).shape
    n_ctx = state.get("transformer.wpe.weight", state.get("wpe.weight")).shape[0]
    config = GPTConfig(vocab_size, n_ctx, n_embd, 1, n_layer)
    return _params_from_hf_tensors(dict(state), config, "state")


# --- fixed_block: a bug in one block --------------------------------------------------------------


def buggy_block(x, block, n_head):
    """A pre-norm transformer block, [n_seq, n_embd] -> [n_seq, n_embd], with one bug."""
    h = layer_norm(x, **block["ln_1"])
    x = h + mha(h, **block["attn"], n_head=n_head)
    h = layer_norm(x, **block["ln_2"])
    x = x + ffn(h, **block["mlp"])
    return x


def _post_ln_block(x, block, n_head):
    x = layer_norm(x + mha(x, **block["attn"], n_head=n_head), **block["ln_1"])
    return layer_norm(x + ffn(x, **block["mlp"]), **block["ln_2"])


def _shared_norm_block(x, block, n_head):
    x = x + mha(layer_norm(x, **block["ln_1"]), **block["attn"], n_head=n_head)
    return x + ffn(layer_norm(x, **block["ln_1"]), **block["mlp"])


def _block_cases(rng):
    n_head = int(rng.integers(1, 4))
    n_embd, n_seq = n_head * int(rng.integers(2, 6)), int(rng.integers(2, 8))
    config = GPTConfig(vocab_size=2, n_ctx=n_seq, n_embd=n_embd, n_head=n_head, n_layer=1)
    flat = {}
    for name, _, _, shape in param_table(config):
        if name.startswith("blocks.0."):
            mean = 1.0 if name.endswith(("ln_1.g", "ln_2.g")) else 0.0
            flat[name] = rng.normal(mean, 0.3, size=shape)
    block = unflatten_params(flat)["blocks"][0]
    x = rng.normal(0.0, 2.0, size=(n_seq, n_embd)) + rng.normal(0.0, 3.0, size=(n_seq, 1))
    return [Case((x, block, n_head), f"x [{n_seq}, {n_embd}] and a random block of {n_head} heads")]


# --- embedding_share: a prediction --------------------------------------------------------------

GPT2_XL = GPTConfig(n_embd=1600, n_head=25, n_layer=48)


def embedding_share(config: GPTConfig) -> tuple[float, int]:
    """(the share of the parameters in wte and wpe, all parameters), from gptlib's table."""
    sizes = {name: int(np.prod(shape)) for name, _, _, shape in param_table(config)}
    return (sizes["wte"] + sizes["wpe"]) / sum(sizes.values()), sum(sizes.values())


def _share_experiment():
    (small, n_small), (xl, n_xl) = embedding_share(GPTConfig()), embedding_share(GPT2_XL)
    happened = "stays within 2 points" if abs(small - xl) < 0.02 else ("grows" if xl > small else "shrinks")
    report = (f"\n  wte and wpe hold {small:.1%} of GPT-2 small's {n_small:,} parameters"
              f"\n  and {xl:.1%} of GPT-2 XL's {n_xl:,}.")
    return happened, report


EXERCISES = {
    "count_params": Exercise(
        title="the parameters of any GPT-2-shaped model",
        kind="variant", difficulty=2,
        reference=_hf_count,
        cases=[Case((), "GPT-2 small's shape", dict(vocab_size=50257, n_ctx=1024, n_embd=768, n_layer=12)),
               Case((), "GPT-2 XL's shape", dict(vocab_size=50257, n_ctx=1024, n_embd=1600, n_layer=48)),
               Case((), "GPT-2 small with an untied head",
                    dict(vocab_size=50257, n_ctx=1024, n_embd=768, n_layer=12, tied=False))],
        generate=_count_cases, n_generated=4,
        mistakes=[
            Mistake(_count_without_biases, "Each linear layer has a bias vector as long as its output."),
            Mistake(_count_head_twice, "A tied head reuses wte: it adds no parameter of its own."),
            Mistake(_count_four_times, "The MLP's width is n_inner when it is given, 4 * n_embd only when "
                                       "it is None."),
            Mistake(_count_without_ln_f, "After the last block comes one more layer norm, ln_f."),
        ],
        idea="Count tensor by tensor, as in the chapter's table: embeddings, each block's two layer "
             "norms and four linear layers, ln_f, and a head only when it is not tied.",
    ),
    "params_from_hf": Exercise(
        title="gptlib's params from Hugging Face's tensor names",
        kind="variant", difficulty=2,
        reference=lambda state, ids, config, model: hf_logits(model, ids),
        adapter=_logits_from,
        generate=_hf_state_cases, n_generated=3,
        mistakes=[Mistake(_logits_from(_transposing_loader),
                          "Your logits differ from Hugging Face's although the shapes fit: GPT-2's "
                          "Conv1D already stores [in, out], the layout x @ w + b reads.")],
        idea="Check each name's mapping against the parameter table the chapter printed.",
    ),
    "fixed_block": Exercise(
        title="find the bug in a transformer block",
        kind="debug", difficulty=2,
        reference=hf_block_output,
        generate=_block_cases, n_generated=6,
        mistakes=[
            Mistake(buggy_block, "This still behaves like the given code: what does the residual "
                                 "connection around attention carry past the layer?"),
            Mistake(_post_ln_block, "That is the original Transformer's post-LN block; GPT-2 "
                                    "normalises what each layer reads, not the sum."),
            Mistake(_shared_norm_block, "Each half of the block has its own layer norm."),
        ],
        atol=1e-8, rtol=1e-7,
    ),
    "embedding_share": Prediction(
        title="where GPT-2's parameters live",
        options=("grows", "stays within 2 points", "shrinks"),
        experiment=_share_experiment,
        difficulty=1,
    ),
    "why_lens": Explanation(title="why the logit lens can read a middle layer", difficulty=2),
}
