"""gptlib.embeddings: the NumPy lookup and its scatter-add gradient against PyTorch."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from gptlib.embeddings import Embeddings, embed, embed_backward, one_hot, sinusoidal_positions

# (vocab_size, n_ctx, n_embd, ids shape): one token, a batch, repeated ids, the full context
SHAPES = [(7, 5, 4, (1,)), (11, 16, 8, (16,)), (5, 12, 6, (3, 9)), (50, 32, 24, (2, 1)), (3, 64, 16, (64,))]


def tables(rng, vocab_size, n_ctx, n_embd, dtype):
    """Random wte [vocab_size, n_embd] and wpe [n_ctx, n_embd]."""
    return rng.normal(size=(vocab_size, n_embd)).astype(dtype), rng.normal(size=(n_ctx, n_embd)).astype(dtype)


def torch_embed_grads(ids, wte, wpe, d_out):
    """Reference gradients from autograd through F.embedding (PyTorch's own lookup)."""
    wte_t = torch.tensor(wte, requires_grad=True)
    wpe_t = torch.tensor(wpe, requires_grad=True)
    ids_t = torch.as_tensor(ids)
    positions = torch.arange(ids_t.shape[-1])
    out = F.embedding(ids_t, wte_t) + F.embedding(positions, wpe_t)
    out.backward(torch.as_tensor(d_out))
    return out.detach().numpy(), wte_t.grad.numpy(), wpe_t.grad.numpy()


@pytest.mark.parametrize("vocab_size, n_ctx, n_embd, ids_shape", SHAPES)
def test_forward_matches_torch_module_fp32(vocab_size, n_ctx, n_embd, ids_shape):
    rng = np.random.default_rng(0)
    wte, wpe = tables(rng, vocab_size, n_ctx, n_embd, np.float32)
    ids = rng.integers(0, vocab_size, size=ids_shape)
    module = Embeddings.from_params(wte, wpe)
    ids_2d = ids.reshape(-1, ids_shape[-1])  # the module takes [B, T]
    with torch.no_grad():
        expected = module(torch.as_tensor(ids_2d)).numpy().reshape(ids_shape + (n_embd,))
    got = embed(ids, wte, wpe)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("vocab_size, n_ctx, n_embd, ids_shape", SHAPES)
@pytest.mark.parametrize("dtype, rtol, atol", [(np.float64, 1e-4, 1e-10), (np.float32, 1e-4, 1e-5)])
def test_backward_matches_autograd(vocab_size, n_ctx, n_embd, ids_shape, dtype, rtol, atol):
    rng = np.random.default_rng(1)
    wte, wpe = tables(rng, vocab_size, n_ctx, n_embd, dtype)
    ids = rng.integers(0, vocab_size, size=ids_shape)
    d_out = rng.normal(size=ids_shape + (n_embd,)).astype(dtype)
    out, d_wte_ref, d_wpe_ref = torch_embed_grads(ids, wte, wpe, d_out)
    np.testing.assert_allclose(embed(ids, wte, wpe), out, rtol=rtol, atol=atol)
    d_wte, d_wpe = embed_backward(d_out, ids, wte, wpe)
    assert d_wte.shape == wte.shape and d_wpe.shape == wpe.shape
    assert d_wte.dtype == dtype and d_wpe.dtype == dtype
    np.testing.assert_allclose(d_wte, d_wte_ref, rtol=rtol, atol=atol)
    np.testing.assert_allclose(d_wpe, d_wpe_ref, rtol=rtol, atol=atol)


def test_repeated_token_gets_the_sum_of_its_gradients():
    wte, wpe = np.zeros((4, 2)), np.zeros((3, 2))
    ids = np.array([2, 2, 2])
    d_out = np.array([[1.0, 0.0], [10.0, 0.0], [100.0, 1.0]])
    d_wte, _ = embed_backward(d_out, ids, wte, wpe)
    _, d_wte_ref, _ = torch_embed_grads(ids, wte, wpe, d_out)
    np.testing.assert_array_equal(d_wte, d_wte_ref)
    assert d_wte[2].tolist() == [111.0, 1.0]  # not [100, 1]: a plain fancy-index += keeps only the last


def test_backward_through_the_torch_module():
    rng = np.random.default_rng(2)
    wte, wpe = tables(rng, 9, 10, 6, np.float32)
    ids = rng.integers(0, 9, size=(3, 7))
    d_out = rng.normal(size=(3, 7, 6)).astype(np.float32)
    module = Embeddings.from_params(wte, wpe)
    module(torch.as_tensor(ids)).backward(torch.as_tensor(d_out))
    d_wte, d_wpe = embed_backward(d_out, ids, wte, wpe)
    np.testing.assert_allclose(d_wte, module.wte.weight.grad.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(d_wpe, module.wpe.weight.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_one_hot_matmul_is_the_lookup_and_its_gradient_the_scatter_add():
    rng = np.random.default_rng(3)
    wte, wpe = tables(rng, 13, 8, 5, np.float64)
    ids = rng.integers(0, 13, size=8)
    hot = one_hot(ids, 13, dtype=np.float64)  # [8, 13]
    assert hot.shape == (8, 13) and (hot.sum(axis=1) == 1).all()
    np.testing.assert_array_equal(hot.argmax(axis=1), ids)
    np.testing.assert_allclose(hot @ wte, wte[ids], rtol=0, atol=1e-12)
    # the matmul's gradient wrt wte, from autograd, equals the scatter-add
    wte_t = torch.tensor(wte, requires_grad=True)
    d_out = rng.normal(size=(8, 5))
    (torch.as_tensor(hot) @ wte_t).backward(torch.as_tensor(d_out))
    d_wte, _ = embed_backward(d_out, ids, wte, wpe)
    np.testing.assert_allclose(d_wte, wte_t.grad.numpy(), rtol=1e-10, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_backward_matches_autograd_for_any_ids(data):
    vocab_size = data.draw(st.integers(1, 20), label="vocab_size")
    n_seq = data.draw(st.integers(1, 12), label="n_seq")
    ids = np.array(data.draw(st.lists(st.integers(0, vocab_size - 1), min_size=n_seq, max_size=n_seq)))
    rng = np.random.default_rng(n_seq)
    wte, wpe = tables(rng, vocab_size, 12, 3, np.float64)
    d_out = rng.normal(size=(n_seq, 3))
    _, d_wte_ref, d_wpe_ref = torch_embed_grads(ids, wte, wpe, d_out)
    d_wte, d_wpe = embed_backward(d_out, ids, wte, wpe)
    np.testing.assert_allclose(d_wte, d_wte_ref, rtol=1e-4, atol=1e-10)
    np.testing.assert_allclose(d_wpe, d_wpe_ref, rtol=1e-4, atol=1e-10)


@pytest.mark.parametrize("n_ctx, n_embd", [(1, 2), (6, 4), (17, 7), (128, 64), (1024, 768)])
def test_sinusoidal_positions_match_transformers_xlm(n_ctx, n_embd):
    # XLM's table (Hugging Face) is Vaswani et al.'s: sin in even channels, cos in odd ones, with
    # frequencies 10000^(-2i/d). It goes through float32, hence the tolerance.
    from transformers.models.xlm.modeling_xlm import create_sinusoidal_embeddings

    expected = create_sinusoidal_embeddings(n_ctx, n_embd, torch.empty(n_ctx, n_embd, dtype=torch.float64))
    got = sinusoidal_positions(n_ctx, n_embd)
    assert got.shape == (n_ctx, n_embd) and got.dtype == np.float64
    np.testing.assert_allclose(got, expected.numpy(), rtol=0, atol=1e-6)


def test_sinusoidal_dot_products_depend_only_on_the_offset():
    # sin(a)sin(b) + cos(a)cos(b) = cos(a - b): each pair of channels sees only the distance
    table = sinusoidal_positions(64, 32)
    gram = table @ table.T
    for offset in (0, 1, 5, 40):
        diagonal = np.diagonal(gram, offset)
        np.testing.assert_allclose(diagonal, diagonal[0], rtol=0, atol=1e-9)
    np.testing.assert_allclose(np.diagonal(gram), 16.0, atol=1e-9)  # every row has norm sqrt(d / 2)
