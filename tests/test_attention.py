"""gptlib.attention: softmax, scaled dot-product attention and multi-head attention, forward and
backward, against PyTorch (F.softmax, F.scaled_dot_product_attention, torch autograd) and against
Hugging Face transformers' GPT-2 attention probabilities."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from gptlib.attention import (
    CausalSelfAttention, attention, attention_backward, attention_weights, causal_mask,
    merge_heads, mha, mha_backward, mha_weights, softmax, softmax_backward, split_heads,
)
from gptlib.model import attention_maps

FP64 = dict(rtol=1e-4, atol=1e-10)
FP32 = dict(rtol=1e-4, atol=1e-5)
DTYPES = [(np.float64, FP64), (np.float32, FP32)]

# (leading axes of q/k/v, n_q = n_k, d): one head, many heads, sequence length 1, a batch of heads
ATTENTION_SHAPES = [((), 5, 8), ((1,), 6, 4), ((4,), 7, 16), ((12,), 3, 2), ((4,), 1, 8), ((2, 3), 5, 4)]
# (leading axes of x, n_seq, n_embd, n_head)
MHA_SHAPES = [((), 5, 8, 1), ((), 7, 16, 4), ((), 6, 16, 8), ((), 1, 12, 3), ((2,), 4, 12, 2), ((3,), 1, 8, 4)]


def autograd(fn, d_out, *arrays):
    """fn's output and the gradients of sum(fn(*arrays) * d_out) wrt each array, from torch autograd."""
    tensors = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = fn(*tensors)
    out.backward(torch.as_tensor(d_out))
    return out.detach().numpy(), [t.grad.numpy() for t in tensors]


def sdpa(mask):
    """PyTorch's fused attention with our boolean mask (True = may attend)."""
    return lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=torch.as_tensor(mask))


def random_mask(rng, n_q, n_k):
    """A random mask in which every query still sees at least one key."""
    mask = rng.random((n_q, n_k)) < 0.5
    mask[np.arange(n_q), rng.integers(0, n_k, size=n_q)] = True
    return mask


def attn_params(rng, n_embd, dtype, scale=0.3):
    def layer(n_in, n_out):
        return {"w": (scale * rng.normal(size=(n_in, n_out))).astype(dtype), "b": (0.1 * rng.normal(size=n_out)).astype(dtype)}

    return layer(n_embd, 3 * n_embd), layer(n_embd, n_embd)


def torch_attention_module(c_attn, c_proj, n_head, dtype=torch.float32):
    """gptlib's CausalSelfAttention holding the same GPT-2-layout weights, in ``dtype``."""
    numpy_dtype = np.float64 if dtype == torch.float64 else np.float32
    as_dtype = {name: {k: v.astype(numpy_dtype) for k, v in layer.items()}
                for name, layer in (("c_attn", c_attn), ("c_proj", c_proj))}
    module = CausalSelfAttention.from_params(as_dtype["c_attn"], as_dtype["c_proj"], n_head)
    assert next(module.parameters()).dtype == dtype
    return module.eval()


# --- softmax -----------------------------------------------------------------------------------


def test_softmax_matches_torch_and_sums_to_one():
    x = np.random.default_rng(0).normal(scale=3.0, size=(4, 5, 9)).astype(np.float32)
    got = softmax(x)
    np.testing.assert_allclose(got, F.softmax(torch.as_tensor(x), dim=-1).numpy(), rtol=0, atol=1e-6)
    np.testing.assert_allclose(got.sum(-1), 1.0, atol=1e-6)


@pytest.mark.parametrize("big", [1e4, -1e4])
def test_softmax_is_finite_for_huge_logits(big):
    x = np.array([[big, 0.0, -big], [big, big, big], [big, big - 1.0, 0.0]], dtype=np.float32)
    got = softmax(x)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, F.softmax(torch.as_tensor(x), dim=-1).numpy(), rtol=0, atol=1e-6)
    # the naive formula overflows or divides 0 by 0 on the same rows
    with np.errstate(over="ignore", invalid="ignore"):
        naive = np.exp(x) / np.exp(x).sum(-1, keepdims=True)
    assert not np.isfinite(naive).all()


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=6),
                  elements=st.floats(-1e4, 1e4, allow_nan=False)))
def test_softmax_is_a_distribution_for_any_finite_logits(x):
    p = softmax(x)
    assert np.isfinite(p).all() and (p >= 0).all()
    np.testing.assert_allclose(p.sum(-1), 1.0, atol=1e-12)


@pytest.mark.parametrize("shape", [(7,), (3, 1), (4, 6), (2, 3, 5)])
@pytest.mark.parametrize("dtype, tol", DTYPES)
def test_softmax_backward_matches_autograd(shape, dtype, tol):
    rng = np.random.default_rng(1)
    x, d_out = rng.normal(scale=2.0, size=shape).astype(dtype), rng.normal(size=shape).astype(dtype)
    _, (dx_ref,) = autograd(lambda t: F.softmax(t, dim=-1), d_out, x)
    dx = softmax_backward(d_out, softmax(x))
    assert dx.shape == x.shape and dx.dtype == dtype
    np.testing.assert_allclose(dx, dx_ref, **tol)


# --- the mask ----------------------------------------------------------------------------------


@given(st.integers(1, 64))
def test_causal_mask_never_hides_a_whole_row(n):
    mask = causal_mask(n)
    assert mask.dtype == bool and mask.shape == (n, n)
    assert mask.any(axis=-1).all() and np.diag(mask).all()
    assert not mask[np.triu_indices(n, k=1)].any()  # no query sees a later key


# --- scaled dot-product attention ------------------------------------------------------------


@pytest.mark.parametrize("leading, n, d", ATTENTION_SHAPES)
def test_attention_forward_matches_scaled_dot_product_attention(leading, n, d):
    rng = np.random.default_rng(2)
    q, k, v = (rng.normal(size=leading + (n, d)).astype(np.float32) for _ in range(3))
    got = attention(q, k, v, causal_mask(n))
    expected = F.scaled_dot_product_attention(*map(torch.as_tensor, (q, k, v)), is_causal=True).numpy()
    assert got.shape == expected.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("leading, n, d", ATTENTION_SHAPES)
@pytest.mark.parametrize("dtype, tol", DTYPES)
def test_attention_backward_matches_autograd_causal(leading, n, d, dtype, tol):
    rng = np.random.default_rng(3)
    q, k, v = (rng.normal(size=leading + (n, d)).astype(dtype) for _ in range(3))
    d_out = rng.normal(size=leading + (n, d)).astype(dtype)
    mask = causal_mask(n)
    out, refs = autograd(sdpa(mask), d_out, q, k, v)
    np.testing.assert_allclose(attention(q, k, v, mask), out, **tol)
    grads = attention_backward(d_out, q, k, v, mask)
    for name, got, ref, like in zip("qkv", grads, refs, (q, k, v)):
        assert got.shape == like.shape and got.dtype == dtype, name
        np.testing.assert_allclose(got, ref, **tol, err_msg=f"d{name}")


@pytest.mark.parametrize("n_q, n_k, d_k, d_v", [(1, 1, 4, 4), (3, 7, 8, 5), (6, 6, 4, 2), (4, 2, 3, 6)])
def test_attention_backward_with_any_mask_and_rectangular_scores(n_q, n_k, d_k, d_v):
    """Queries and keys of different counts (a KV cache's shape) and a mask that is not causal."""
    rng = np.random.default_rng(4)
    q, k = rng.normal(size=(2, n_q, d_k)), rng.normal(size=(2, n_k, d_k))
    v, d_out = rng.normal(size=(2, n_k, d_v)), rng.normal(size=(2, n_q, d_v))
    mask = random_mask(rng, n_q, n_k)
    out, refs = autograd(sdpa(mask), d_out, q, k, v)
    np.testing.assert_allclose(attention(q, k, v, mask), out, **FP64)
    for got, ref in zip(attention_backward(d_out, q, k, v, mask), refs):
        np.testing.assert_allclose(got, ref, **FP64)


def test_masked_keys_get_exactly_zero_weight_and_zero_gradient():
    rng = np.random.default_rng(5)
    q, k, v = (rng.normal(size=(6, 4)) for _ in range(3))
    probs = attention_weights(q, k, causal_mask(6))
    assert (probs[np.triu_indices(6, k=1)] == 0).all()
    # the last key is seen only by the last query, so gradient from the other queries never reaches it
    d_out = np.zeros((6, 4))
    d_out[:-1] = 1.0  # gradient flows only from queries 0..4, none of which sees key 5
    _, dk, dv = attention_backward(d_out, q, k, v, causal_mask(6))
    assert (dk[-1] == 0).all() and (dv[-1] == 0).all()


def test_attention_stays_finite_for_huge_scores():
    q = np.full((4, 8), 300.0, np.float32)  # scores of 300*300*8/sqrt(8) ~ 2.5e5 before the softmax
    k = np.linspace(-300, 300, 32, dtype=np.float32).reshape(4, 8)
    v = np.random.default_rng(6).normal(size=(4, 8)).astype(np.float32)
    out = attention(q, k, v, causal_mask(4))
    grads = attention_backward(np.ones_like(v), q, k, v, causal_mask(4))
    assert np.isfinite(out).all() and all(np.isfinite(g).all() for g in grads)


# --- multi-head attention ---------------------------------------------------------------------


@pytest.mark.parametrize("n_seq, n_embd, n_head", [(5, 8, 2), (7, 12, 3)])
def test_split_and_merge_heads_are_reshapes_and_inverses(n_seq, n_embd, n_head):
    x = np.arange(n_seq * n_embd, dtype=np.float64).reshape(n_seq, n_embd)
    heads = split_heads(x, n_head)
    hs = n_embd // n_head
    assert heads.shape == (n_head, n_seq, hs)
    for h in range(n_head):  # head h owns channels h*hs .. (h+1)*hs, the same slicing torch's .view does
        np.testing.assert_array_equal(heads[h], x[:, h * hs:(h + 1) * hs])
    np.testing.assert_array_equal(merge_heads(heads), x)
    batch = np.stack([x, -x])
    np.testing.assert_array_equal(split_heads(batch, n_head)[1], -heads)


@pytest.mark.parametrize("leading, n_seq, n_embd, n_head", MHA_SHAPES)
def test_mha_forward_matches_pytorch_module(leading, n_seq, n_embd, n_head):
    rng = np.random.default_rng(7)
    c_attn, c_proj = attn_params(rng, n_embd, np.float32)
    x = rng.normal(size=leading + (n_seq, n_embd)).astype(np.float32)
    module = torch_attention_module(c_attn, c_proj, n_head)
    with torch.no_grad():
        batch = torch.as_tensor(x).reshape(-1, n_seq, n_embd)  # the module wants [B, T, C]
        expected = module(batch).numpy().reshape(x.shape)
    got = mha(x, c_attn, c_proj, n_head)
    assert got.shape == x.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("leading, n_seq, n_embd, n_head", MHA_SHAPES)
@pytest.mark.parametrize("dtype, tol", DTYPES)
def test_mha_backward_matches_autograd(leading, n_seq, n_embd, n_head, dtype, tol):
    rng = np.random.default_rng(8)
    c_attn, c_proj = attn_params(rng, n_embd, dtype)
    x = rng.normal(size=leading + (n_seq, n_embd)).astype(dtype)
    d_out = rng.normal(size=x.shape).astype(dtype)

    module = torch_attention_module(c_attn, c_proj, n_head, torch.float64 if dtype == np.float64 else torch.float32)
    x_t = torch.tensor(x.reshape(-1, n_seq, n_embd), requires_grad=True)
    module(x_t).backward(torch.as_tensor(d_out.reshape(x_t.shape)))
    dx, grads = mha_backward(d_out, x, c_attn, c_proj, n_head)

    assert dx.shape == x.shape and dx.dtype == dtype
    np.testing.assert_allclose(dx, x_t.grad.numpy().reshape(x.shape), **tol)
    for name in ("c_attn", "c_proj"):
        layer = getattr(module, name)
        assert grads[name]["w"].shape == (c_attn if name == "c_attn" else c_proj)["w"].shape
        np.testing.assert_allclose(grads[name]["w"], layer.weight.grad.numpy().T, **tol, err_msg=f"{name}.w")
        np.testing.assert_allclose(grads[name]["b"], layer.bias.grad.numpy(), **tol, err_msg=f"{name}.b")


def test_mha_weights_are_causal_distributions():
    rng = np.random.default_rng(9)
    c_attn, _ = attn_params(rng, 16, np.float64)
    probs = mha_weights(rng.normal(size=(6, 16)), c_attn, 4)
    assert probs.shape == (4, 6, 6)
    np.testing.assert_allclose(probs.sum(-1), 1.0)
    assert (probs[:, np.triu_indices(6, k=1)[0], np.triu_indices(6, k=1)[1]] == 0).all()
    np.testing.assert_array_equal(probs[:, 0, 0], 1.0)  # the first token can only look at itself


# --- attention maps of a whole model, against Hugging Face's output_attentions -----------------


def test_attention_maps_match_transformers(small_checkpoint, small_model):
    _, hf_model = small_checkpoint
    config, params = small_model
    ids = np.array([5, 17, 17, 3, 99, 0, 42, 8, 8, 1])
    hf_model.set_attn_implementation("eager")  # the implementation that can return its probabilities
    with torch.no_grad():
        out = hf_model(torch.as_tensor(ids[None]), output_attentions=True)
    expected = torch.stack(out.attentions)[:, 0].numpy()  # [n_layer, n_head, T, T]
    got = attention_maps(ids, params, config)
    assert got.shape == (config.n_layer, config.n_head, len(ids), len(ids))
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)


def test_attention_maps_refuse_bad_ids(small_model):
    config, params = small_model
    with pytest.raises(ValueError, match="out of range"):
        attention_maps([1, 2, config.vocab_size], params, config)
    with pytest.raises(TypeError, match="integers"):
        attention_maps([0.5, 1.0], params, config)
