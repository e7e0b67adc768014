"""gptlib.ffn: linear, GELU (tanh and exact) and the MLP, forward and backward, against PyTorch."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from gptlib.ffn import (
    MLP, ffn, ffn_backward, gelu, gelu_backward, gelu_exact, gelu_exact_backward, linear, linear_backward,
)

# leading shapes of x: one vector, one position, a sequence, a batch of sequences
LEADING = [(), (1,), (7,), (2, 5), (3, 1)]
FP64 = dict(rtol=1e-4, atol=1e-10)
FP32 = dict(rtol=1e-4, atol=1e-5)


def autograd(fn, d_out, *arrays):
    """fn's output and the gradients of sum(fn(*arrays) * d_out) wrt each array, from torch autograd."""
    tensors = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = fn(*tensors)
    out.backward(torch.as_tensor(d_out))
    return out.detach().numpy(), [t.grad.numpy() for t in tensors]


def mlp_params(rng, n_embd, dtype, scale=0.5):
    def layer(n_in, n_out):
        return {"w": (scale * rng.normal(size=(n_in, n_out))).astype(dtype), "b": rng.normal(size=n_out).astype(dtype)}

    return layer(n_embd, 4 * n_embd), layer(4 * n_embd, n_embd)


@pytest.mark.parametrize("leading", LEADING)
@pytest.mark.parametrize("dtype, tol", [(np.float64, FP64), (np.float32, FP32)])
def test_linear_forward_and_backward_match_autograd(leading, dtype, tol):
    rng = np.random.default_rng(0)
    x = rng.normal(size=leading + (6,)).astype(dtype)
    w, b = rng.normal(size=(6, 4)).astype(dtype), rng.normal(size=4).astype(dtype)
    d_out = rng.normal(size=leading + (4,)).astype(dtype)
    # F.linear wants nn.Linear's [out, in] weight: GPT-2's [in, out] transposed
    out, (dx_ref, dw_ref, db_ref) = autograd(lambda x, w, b: F.linear(x, w.T, b), d_out, x, w, b)
    np.testing.assert_allclose(linear(x, w, b), out, rtol=0, atol=1e-5)
    dx, grads = linear_backward(d_out, x, w, b)
    assert dx.shape == x.shape and grads["w"].shape == w.shape and grads["b"].shape == b.shape
    np.testing.assert_allclose(dx, dx_ref, **tol)
    np.testing.assert_allclose(grads["w"], dw_ref, **tol)
    np.testing.assert_allclose(grads["b"], db_ref, **tol)


# from far negative (GELU ~ 0) through the bend to far positive (GELU ~ x)
POINTS = np.concatenate([np.linspace(-8, 8, 161), [-1e3, -30.0, -1e-6, 0.0, 1e-6, 30.0, 1e3]])


@pytest.mark.parametrize(
    "ours, ours_backward, approximate", [(gelu, gelu_backward, "tanh"), (gelu_exact, gelu_exact_backward, "none")]
)
def test_gelu_matches_torch(ours, ours_backward, approximate):
    x32 = POINTS.astype(np.float32)
    expected = F.gelu(torch.as_tensor(x32), approximate=approximate).numpy()
    got = ours(x32)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)

    d_out = np.random.default_rng(1).normal(size=POINTS.shape)
    for dtype, tol in [(np.float64, FP64), (np.float32, FP32)]:
        x, d = POINTS.astype(dtype), d_out.astype(dtype)
        _, (dx_ref,) = autograd(lambda t: F.gelu(t, approximate=approximate), d, x)
        dx = ours_backward(d, x)
        assert dx.dtype == dtype and np.isfinite(dx).all()
        np.testing.assert_allclose(dx, dx_ref, **tol)


def test_gelu_tanh_is_close_to_exact_but_not_equal():
    x = np.linspace(-5, 5, 1001)
    gap = np.abs(gelu(x) - gelu_exact(x))
    assert gap.max() < 1e-3 and gap.max() > 1e-5  # a good approximation, yet a different function


@pytest.mark.parametrize("leading", LEADING[1:])
def test_ffn_forward_matches_the_torch_module_fp32(leading):
    rng = np.random.default_rng(2)
    c_fc, c_proj = mlp_params(rng, 8, np.float32)
    x = rng.normal(size=leading + (8,)).astype(np.float32)
    module = MLP.from_params(c_fc, c_proj).eval()
    with torch.no_grad():
        expected = module(torch.as_tensor(x)).numpy()
    got = ffn(x, c_fc, c_proj)
    assert got.shape == x.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("leading", LEADING[1:])
@pytest.mark.parametrize("dtype, tol", [(np.float64, FP64), (np.float32, FP32)])
def test_ffn_backward_matches_autograd_through_the_module(leading, dtype, tol):
    rng = np.random.default_rng(3)
    n_embd = 12
    c_fc, c_proj = mlp_params(rng, n_embd, dtype)
    x = rng.normal(size=leading + (n_embd,)).astype(dtype)
    d_out = rng.normal(size=x.shape).astype(dtype)

    module = MLP.from_params(c_fc, c_proj)
    assert module.c_fc.weight.dtype == (torch.float64 if dtype == np.float64 else torch.float32)
    x_t = torch.tensor(x, requires_grad=True)
    module(x_t).backward(torch.as_tensor(d_out))

    dx, grads = ffn_backward(d_out, x, c_fc, c_proj)
    assert dx.dtype == dtype
    np.testing.assert_allclose(dx, x_t.grad.numpy(), **tol)
    for name in ("c_fc", "c_proj"):
        layer = getattr(module, name)
        # nn.Linear keeps [out, in]: transpose its gradient back to GPT-2's [in, out]
        np.testing.assert_allclose(grads[name]["w"], layer.weight.grad.numpy().T, **tol)
        np.testing.assert_allclose(grads[name]["b"], layer.bias.grad.numpy(), **tol)


@settings(max_examples=20, deadline=None)
@given(n_seq=st.integers(1, 9), n_embd=st.integers(1, 10), seed=st.integers(0, 2**16))
def test_ffn_backward_matches_autograd_for_any_shape(n_seq, n_embd, seed):
    rng = np.random.default_rng(seed)
    c_fc, c_proj = mlp_params(rng, n_embd, np.float64)
    x, d_out = rng.normal(size=(2, n_seq, n_embd)), rng.normal(size=(2, n_seq, n_embd))

    def torch_ffn(x, w1, b1, w2, b2):
        return F.linear(F.gelu(F.linear(x, w1.T, b1), approximate="tanh"), w2.T, b2)

    _, ref = autograd(torch_ffn, d_out, x, c_fc["w"], c_fc["b"], c_proj["w"], c_proj["b"])
    dx, grads = ffn_backward(d_out, x, c_fc, c_proj)
    got = [dx, grads["c_fc"]["w"], grads["c_fc"]["b"], grads["c_proj"]["w"], grads["c_proj"]["b"]]
    for g, r in zip(got, ref):
        np.testing.assert_allclose(g, r, **FP64)


def test_mlp_from_params_refuses_swapped_layers_by_name():
    c_fc, c_proj = mlp_params(np.random.default_rng(0), 4, np.float32)
    with pytest.raises(RuntimeError, match=r"c_fc\.weight"):  # torch's load_state_dict names it
        MLP.from_params(c_proj, c_fc)
