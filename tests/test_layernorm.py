"""gptlib.layernorm: layer norm forward and backward against torch.nn.LayerNorm and autograd."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from gptlib.layernorm import LayerNorm, layer_norm, layer_norm_backward, normalize

# x shapes: one vector, one position, a sequence, a batch, GPT-2 width, a 2-wide row
SHAPES = [(8,), (1, 8), (7, 16), (2, 5, 12), (3, 768), (4, 2)]
FP64 = dict(rtol=1e-4, atol=1e-10)
FP32 = dict(rtol=1e-4, atol=1e-5)


def random_ln(rng, shape, dtype, offset=3.0, scale=2.0):
    """x with a non-zero mean and non-unit spread, and g, b away from 1 and 0."""
    n = shape[-1]
    x = offset + scale * rng.normal(size=shape)
    g, b = 1.0 + 0.3 * rng.normal(size=n), 0.2 * rng.normal(size=n)
    return x.astype(dtype), g.astype(dtype), b.astype(dtype)


def torch_ln_grads(x, g, b, d_out, eps=1e-5):
    """Output and (dx, dg, db) from autograd through F.layer_norm."""
    x_t, g_t, b_t = (torch.tensor(a, requires_grad=True) for a in (x, g, b))
    out = F.layer_norm(x_t, g_t.shape, g_t, b_t, eps)
    out.backward(torch.as_tensor(d_out))
    return out.detach().numpy(), x_t.grad.numpy(), g_t.grad.numpy(), b_t.grad.numpy()


@pytest.mark.parametrize("shape", SHAPES)
def test_forward_matches_nn_layernorm_fp32(shape):
    rng = np.random.default_rng(0)
    x, g, b = random_ln(rng, shape, np.float32)
    reference = torch.nn.LayerNorm(shape[-1], eps=1e-5)
    with torch.no_grad():
        reference.weight.copy_(torch.as_tensor(g))
        reference.bias.copy_(torch.as_tensor(b))
        expected = reference(torch.as_tensor(x)).numpy()
        ours_torch = LayerNorm.from_params(g, b)(torch.as_tensor(x)).numpy()
    got = layer_norm(x, g, b)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)
    np.testing.assert_allclose(ours_torch, expected, rtol=0, atol=1e-5)


def test_teaching_module_and_nn_layernorm_share_state_dicts():
    ours = LayerNorm(6)
    theirs = torch.nn.LayerNorm(6)
    ours.load_state_dict(theirs.state_dict())
    theirs.load_state_dict(ours.state_dict())
    assert set(ours.state_dict()) == {"weight", "bias"}


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype, tol", [(np.float64, FP64), (np.float32, FP32)])
def test_backward_matches_autograd(shape, dtype, tol):
    rng = np.random.default_rng(1)
    x, g, b = random_ln(rng, shape, dtype)
    d_out = rng.normal(size=shape).astype(dtype)
    _, dx_ref, dg_ref, db_ref = torch_ln_grads(x, g, b, d_out)
    dx, grads = layer_norm_backward(d_out, x, g, b)
    assert dx.dtype == dtype and dx.shape == x.shape
    assert grads["g"].shape == g.shape and grads["b"].shape == b.shape
    np.testing.assert_allclose(dx, dx_ref, **tol)
    np.testing.assert_allclose(grads["g"], dg_ref, **tol)
    np.testing.assert_allclose(grads["b"], db_ref, **tol)


def test_backward_matches_autograd_through_the_teaching_module():
    rng = np.random.default_rng(2)
    x, g, b = random_ln(rng, (3, 4, 10), np.float64)
    d_out = rng.normal(size=x.shape)
    module = LayerNorm.from_params(g, b)
    x_t = torch.tensor(x, requires_grad=True)
    module(x_t).backward(torch.as_tensor(d_out))
    dx, grads = layer_norm_backward(d_out, x, g, b)
    np.testing.assert_allclose(dx, x_t.grad.numpy(), **FP64)
    np.testing.assert_allclose(grads["g"], module.weight.grad.numpy(), **FP64)
    np.testing.assert_allclose(grads["b"], module.bias.grad.numpy(), **FP64)


@pytest.mark.parametrize("value", [0.0, 1.0, -3.5, 1e4, 0.1])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_constant_rows_stay_finite(value, dtype):
    rng = np.random.default_rng(3)
    n = 16
    x = np.full((3, n), value, dtype=dtype)
    g, b = np.ones(n, dtype), (0.1 * rng.normal(size=n)).astype(dtype)
    d_out = rng.normal(size=x.shape).astype(dtype)
    out = layer_norm(x, g, b)
    dx, grads = layer_norm_backward(d_out, x, g, b)
    for array in (out, dx, grads["g"], grads["b"]):
        assert np.isfinite(array).all()
    expected, dx_ref, dg_ref, db_ref = torch_ln_grads(x, g, b, d_out)
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-5)  # a constant row becomes b
    np.testing.assert_allclose(out, np.broadcast_to(b, x.shape), rtol=0, atol=1e-3)
    np.testing.assert_allclose(grads["b"], db_ref, rtol=1e-4, atol=1e-5)
    if value == 0.0:  # exactly constant: torch and NumPy see the same zero variance
        np.testing.assert_allclose(dx, dx_ref, rtol=1e-4, atol=1e-5)


def test_normalize_gives_mean_zero_variance_one():
    x = np.random.default_rng(4).normal(5.0, 3.0, size=(6, 50))
    x_hat, inv_std = normalize(x)
    np.testing.assert_allclose(x_hat.mean(axis=-1), 0.0, atol=1e-12)
    np.testing.assert_allclose(x_hat.var(axis=-1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(inv_std[:, 0], 1 / np.sqrt(x.var(axis=-1) + 1e-5), rtol=1e-12)


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(1, 40),
    n_seq=st.integers(1, 5),
    offset=st.floats(-1e3, 1e3),
    log_scale=st.floats(-2, 3),
    seed=st.integers(0, 2**16),
)
def test_backward_matches_autograd_for_any_rows(n, n_seq, offset, log_scale, seed):
    rng = np.random.default_rng(seed)
    x, g, b = random_ln(rng, (n_seq, n), np.float64, offset=offset, scale=10.0**log_scale)
    d_out = rng.normal(size=x.shape)
    out_ref, dx_ref, dg_ref, db_ref = torch_ln_grads(x, g, b, d_out)
    dx, grads = layer_norm_backward(d_out, x, g, b)
    np.testing.assert_allclose(layer_norm(x, g, b), out_ref, rtol=1e-4, atol=1e-8)
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-4, atol=1e-8)
    np.testing.assert_allclose(grads["g"], dg_ref, rtol=1e-4, atol=1e-8)
    np.testing.assert_allclose(grads["b"], db_ref, rtol=1e-4, atol=1e-8)
