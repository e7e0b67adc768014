"""Bad token ids are refused with a clear message, by both models."""

import numpy as np
import pytest
import torch

import gptlib


@pytest.fixture(scope="module")
def models(small_model):
    config, params = small_model
    return config, gptlib.NumpyGPT(config, params), gptlib.GPT.from_params(config, params, device="cpu")


def bad_cases(config):
    V, N = config.vocab_size, config.n_ctx
    return [
        ([0, V], ValueError, "out of range"),
        ([3, -1], ValueError, "negative"),
        ([], ValueError, "empty"),
        ([1] * (N + 1), ValueError, "n_ctx"),
    ]


def test_numpy_refuses_bad_ids(models):
    config, np_model, _ = models
    for ids, error, message in bad_cases(config):
        with pytest.raises(error, match=message):
            np_model(ids)
        with pytest.raises(error, match=message):
            gptlib.gpt2_numpy(np.array(ids, dtype=np.int64), np_model.params, config)
    with pytest.raises(TypeError, match="integers"):
        np_model([1.0, 2.0])
    with pytest.raises(TypeError, match="integers"):
        np_model(np.array([True, False]))
    with pytest.raises(ValueError, match="1-D"):
        np_model([[1, 2], [3, 4]])


def test_torch_refuses_bad_ids(models):
    config, _, model = models
    for ids, error, message in bad_cases(config):
        with pytest.raises(error, match=message):
            model(torch.tensor([ids], dtype=torch.long).reshape(1, len(ids)))
    with pytest.raises(TypeError, match="integer tensor"):
        model(torch.tensor([[1.0, 2.0]]))
    with pytest.raises(ValueError, match=r"\[B, T\]"):
        model(torch.tensor([1, 2]))
    with pytest.raises(TypeError, match="LongTensor"):
        model([[1, 2]])


def test_int32_ids_are_fine(models):
    config, np_model, model = models
    ids = [1, 2, 3]
    np.testing.assert_allclose(np_model(np.array(ids, dtype=np.int32)), np_model(ids))
    with torch.no_grad():
        torch.testing.assert_close(model(torch.tensor([ids], dtype=torch.int32)), model(torch.tensor([ids])))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(n_embd=30, n_head=4), "divisible"),
        (dict(n_layer=0), "positive integer"),
        (dict(vocab_size=2.5), "positive integer"),
        (dict(dropout=1.0), "dropout"),
    ],
)
def test_config_refuses_nonsense(kwargs, message):
    with pytest.raises(ValueError, match=message):
        gptlib.GPTConfig(**kwargs)
