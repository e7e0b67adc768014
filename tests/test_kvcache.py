"""The KV cache: feeding a sequence in pieces gives the logits of feeding it at once.

The reference is Hugging Face transformers' GPT2LMHeadModel on the whole sequence.
"""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import gptlib
from conftest import hf_logits
from gptlib.kvcache import KVCache, NumpyKVCache
from gptlib.model import gpt2_numpy_cached

TOL = 1e-5


def pieces(ids, cuts):
    """Split ids at the sorted cut points."""
    bounds = [0, *sorted(set(cuts)), len(ids)]
    return [ids[a:b] for a, b in zip(bounds, bounds[1:]) if b > a]


@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_numpy_cache_in_pieces_matches_huggingface(small_checkpoint, small_model, data):
    config, params = small_model
    n = data.draw(st.integers(1, config.n_ctx), label="n_seq")
    ids = data.draw(st.lists(st.integers(0, config.vocab_size - 1), min_size=n, max_size=n), label="ids")
    cuts = data.draw(st.lists(st.integers(1, max(1, n - 1)), max_size=4), label="cuts")
    expected = hf_logits(small_checkpoint[1], [ids])[0]  # [n, V]

    cache = NumpyKVCache(config.n_layer)
    got = [gpt2_numpy_cached(piece, params, config, cache) for piece in pieces(ids, cuts)]
    np.testing.assert_allclose(np.concatenate(got), expected, atol=1e-4, rtol=0)
    np.testing.assert_allclose(np.concatenate(got), gptlib.gpt2_numpy(ids, params, config), atol=TOL, rtol=0)
    assert len(cache) == n


@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_torch_cache_in_pieces_matches_full_forward(small_checkpoint, small_model, data):
    config, params = small_model
    model = gptlib.GPT.from_params(config, params, device="cpu")
    n = data.draw(st.integers(1, config.n_ctx), label="n_seq")
    batch = data.draw(st.integers(1, 3), label="batch")
    ids = torch.tensor(
        data.draw(st.lists(st.lists(st.integers(0, config.vocab_size - 1), min_size=n, max_size=n),
                           min_size=batch, max_size=batch), label="ids")
    )
    cuts = data.draw(st.lists(st.integers(1, max(1, n - 1)), max_size=4), label="cuts")
    cache = KVCache(config.n_layer)
    with torch.no_grad():
        full = model(ids)
        bounds = [0, *sorted(set(c for c in cuts if c < n)), n]
        got = torch.cat([model(ids[:, a:b], kv_cache=cache) for a, b in zip(bounds, bounds[1:])], dim=1)
    torch.testing.assert_close(got, full, atol=TOL, rtol=0)
    np.testing.assert_allclose(got.numpy(), hf_logits(small_checkpoint[1], ids.numpy()), atol=1e-4, rtol=0)
    assert len(cache) == n


def test_last_only_is_the_last_row(small_model):
    config, params = small_model
    ids = [5, 9, 2, 7]
    every = gpt2_numpy_cached(ids, params, config, NumpyKVCache(config.n_layer))
    last = gpt2_numpy_cached(ids, params, config, NumpyKVCache(config.n_layer), last_only=True)
    assert last.shape == (1, config.vocab_size)
    np.testing.assert_allclose(last[0], every[-1], atol=TOL, rtol=0)


def test_a_forward_pass_without_cache_keeps_nothing(small_model):
    """The ordinary pass hands attention the empty NO_CACHE: nothing is stored between calls."""
    config, params = small_model
    first = gptlib.gpt2_numpy([1, 2, 3], params, config)
    np.testing.assert_array_equal(gptlib.gpt2_numpy([1, 2, 3], params, config), first)
    assert "kv_cache" not in params["blocks"][0]["attn"]  # with_cache never touches params


def test_numpy_model_method_matches_function(small_model):
    config, params = small_model
    model = gptlib.NumpyGPT(config, params)
    cache_a, cache_b = model.new_cache(), NumpyKVCache(config.n_layer)
    a = model.forward_cached([3, 1, 4], cache_a)
    b = gpt2_numpy_cached([3, 1, 4], params, config, cache_b)
    np.testing.assert_array_equal(a, b)
    assert len(cache_a) == len(cache_b) == 3


def test_cache_overflow_and_mismatch_are_refused(small_model):
    config, params = small_model
    cache = NumpyKVCache(config.n_layer)
    gpt2_numpy_cached(list(range(config.n_ctx)), params, config, cache)
    with pytest.raises(ValueError, match="n_ctx"):
        gpt2_numpy_cached([1], params, config, cache)
    with pytest.raises(ValueError, match="out of range"):
        gpt2_numpy_cached([config.vocab_size], params, config, NumpyKVCache(config.n_layer))
    with pytest.raises(ValueError, match="layers"):
        gpt2_numpy_cached([1], params, config, NumpyKVCache(config.n_layer - 1))

    model = gptlib.GPT.from_params(config, params, device="cpu")
    torch_cache = KVCache(config.n_layer)
    with torch.no_grad():
        model(torch.zeros(1, config.n_ctx, dtype=torch.long), kv_cache=torch_cache)
        with pytest.raises(ValueError, match="n_ctx"):
            model(torch.zeros(1, 1, dtype=torch.long), kv_cache=torch_cache)
        with pytest.raises(ValueError, match="layers"):
            model(torch.zeros(1, 1, dtype=torch.long), kv_cache=KVCache(config.n_layer + 1))


def test_forward_without_cache_is_unchanged(small_checkpoint, small_model):
    """The cache is optional: GPT.forward(ids) and (ids, targets) behave as before."""
    config, params = small_model
    model = gptlib.GPT.from_params(config, params, device="cpu")
    ids = torch.arange(10)[None] % config.vocab_size
    with torch.no_grad():
        logits = model(ids)
        logits2, loss = model(ids, ids)
    np.testing.assert_allclose(logits.numpy(), hf_logits(small_checkpoint[1], ids.numpy()), atol=1e-4, rtol=0)
    torch.testing.assert_close(logits, logits2)
    assert loss.ndim == 0
