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
from gptlib.kvcache import KVCache, cache_length, empty_cache, gpt2_numpy_cached

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

    cache, got = None, []
    for piece in pieces(ids, cuts):
        logits, cache = gpt2_numpy_cached(piece, params, config, cache)
        got.append(logits)
    np.testing.assert_allclose(np.concatenate(got), expected, atol=1e-4, rtol=0)
    np.testing.assert_allclose(np.concatenate(got), gptlib.gpt2_numpy(ids, params, config), atol=TOL, rtol=0)
    assert cache_length(cache) == n


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
    every, _ = gpt2_numpy_cached(ids, params, config)
    last, _ = gpt2_numpy_cached(ids, params, config, last_only=True)
    assert last.shape == (1, config.vocab_size)
    np.testing.assert_allclose(last[0], every[-1], atol=TOL, rtol=0)


def test_numpy_cache_is_not_changed_in_place(small_model):
    config, params = small_model
    _, cache = gpt2_numpy_cached([1, 2, 3], params, config)
    before = [dict(layer) for layer in cache]
    _, longer = gpt2_numpy_cached([4], params, config, cache)
    assert cache_length(cache) == 3 and cache_length(longer) == 4
    for old, now in zip(before, cache):
        assert old["k"] is now["k"] and old["v"] is now["v"]


def test_numpy_model_method_matches_function(small_model):
    config, params = small_model
    model = gptlib.NumpyGPT(config, params)
    a, cache_a = model.forward_cached([3, 1, 4])
    b, cache_b = gpt2_numpy_cached([3, 1, 4], params, config)
    np.testing.assert_array_equal(a, b)
    assert cache_length(cache_a) == cache_length(cache_b) == 3


def test_cache_overflow_and_mismatch_are_refused(small_model):
    config, params = small_model
    _, cache = gpt2_numpy_cached(list(range(config.n_ctx)), params, config)
    with pytest.raises(ValueError, match="n_ctx"):
        gpt2_numpy_cached([1], params, config, cache)
    with pytest.raises(ValueError, match="layers"):
        gpt2_numpy_cached([1], params, config, empty_cache(config)[:1])
    with pytest.raises(ValueError, match="out of range"):
        gpt2_numpy_cached([config.vocab_size], params, config)

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
