"""Generation: greedy decoding against Hugging Face's generate, sampling filters against
transformers' logits warpers and torch's softmax, the cache against no cache, and the checks."""

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import gptlib
from conftest import hf_logits
from gptlib.generation import (
    generate, next_token_probs, sample_token, stream, top_k_filter, top_p_filter,
)


@pytest.fixture(scope="module")
def models(small_model):
    config, params = small_model
    return gptlib.NumpyGPT(config, params), gptlib.GPT.from_params(config, params, device="cpu")


PROMPT = [7, 3, 99, 14, 14]


def hf_greedy(hf_model, prompt, n):
    """transformers' own greedy decoding (do_sample=False), never stopping early."""
    with torch.no_grad():
        out = hf_model.generate(
            torch.tensor([prompt]), max_new_tokens=n, min_new_tokens=n, do_sample=False,
            attention_mask=torch.ones(1, len(prompt), dtype=torch.long), pad_token_id=0,
        )
    return out[0, len(prompt):].tolist()


# --- greedy ------------------------------------------------------------------------------------


def test_greedy_matches_huggingface_generate(small_checkpoint, models):
    np_model, torch_model = models
    n = small_checkpoint[1].config.n_positions - len(PROMPT)  # fill the context exactly
    expected = hf_greedy(small_checkpoint[1], PROMPT, n)
    assert len(expected) == n
    for model in (np_model, torch_model):
        for use_cache in (True, False):
            got = generate(model, PROMPT, n, temperature=0, eos_id=None, use_cache=use_cache)
            assert got == expected, (type(model).__name__, use_cache)


def test_past_the_context_the_last_n_ctx_tokens_are_read(small_checkpoint, models):
    """The documented policy, checked step by step with transformers on the last n_ctx tokens."""
    np_model, torch_model = models
    n_ctx = np_model.config.n_ctx
    seq = list(PROMPT)
    for _ in range(2 * n_ctx):
        seq.append(int(hf_logits(small_checkpoint[1], [seq[-n_ctx:]])[0, -1].argmax()))
    expected = seq[len(PROMPT):]
    for model in (np_model, torch_model):
        for use_cache in (True, False):
            got = generate(model, PROMPT, 2 * n_ctx, temperature=0, eos_id=None, use_cache=use_cache)
            assert got == expected, (type(model).__name__, use_cache)


def test_sampling_with_and_without_cache_agree(models):
    np_model, torch_model = models
    for model in (np_model, torch_model):
        kwargs = dict(temperature=0.9, top_k=20, top_p=0.95, seed=3, eos_id=None)
        with_cache = generate(model, PROMPT, 40, **kwargs)
        without = generate(model, PROMPT, 40, use_cache=False, **kwargs)
        assert with_cache == without


# --- sampling ------------------------------------------------------------------------------------


def test_seed_makes_sampling_reproducible(models):
    np_model, torch_model = models
    a = generate(np_model, PROMPT, 30, temperature=1.5, seed=1, eos_id=None)
    b = generate(np_model, PROMPT, 30, temperature=1.5, seed=1, eos_id=None)
    c = generate(np_model, PROMPT, 30, temperature=1.5, seed=2, eos_id=None)
    assert a == b and a != c
    # Both models give (nearly) the same logits and share the sampler: same seed, same text.
    assert generate(torch_model, PROMPT, 30, temperature=1.5, seed=1, eos_id=None) == a


def test_samples_follow_the_tempered_distribution():
    logits = np.array([2.0, 1.0, 0.5, 0.0, -1.0, -3.0])
    rng = np.random.default_rng(0)
    for temperature in (0.5, 1.0, 2.0):
        expected = torch.softmax(torch.tensor(logits) / temperature, dim=-1).numpy()
        draws = [sample_token(logits, rng, temperature) for _ in range(20000)]
        freq = np.bincount(draws, minlength=len(logits)) / len(draws)
        np.testing.assert_allclose(freq, expected, atol=0.015)


def test_filtered_tokens_are_never_sampled():
    logits = np.linspace(3, -3, 50)
    rng = np.random.default_rng(0)
    draws = {sample_token(logits, rng, 5.0, top_k=3) for _ in range(2000)}
    assert draws == {0, 1, 2}
    probs = torch.softmax(torch.tensor(logits), -1).numpy()
    nucleus = int(np.searchsorted(np.cumsum(probs), 0.5)) + 1  # tokens needed to reach 0.5
    draws = {sample_token(logits, rng, 1.0, top_p=0.5) for _ in range(2000)}
    assert draws == set(range(nucleus))


# Distinct logits on a grid of 1/4: no two tokens tie, so the order of the nucleus is unambiguous.
logit_rows = arrays(np.float64, st.integers(2, 40), elements=st.integers(-80, 80).map(lambda v: v / 4), unique=True)


@settings(max_examples=80, deadline=None)
@given(logits=logit_rows, k=st.integers(1, 50))
def test_top_k_matches_transformers(logits, k):
    from transformers.generation.logits_process import TopKLogitsWarper

    expected = TopKLogitsWarper(top_k=k)(None, torch.tensor(logits)[None].clone())[0].numpy()
    np.testing.assert_array_equal(top_k_filter(logits, k), expected)


@settings(max_examples=80, deadline=None)
@given(logits=logit_rows, p=st.floats(0.01, 1.0))
def test_top_p_matches_transformers(logits, p):
    from transformers.generation.logits_process import TopPLogitsWarper

    # Exactly at a boundary, rounding decides; keep away from it.
    probs = np.sort(torch.softmax(torch.tensor(logits), -1).numpy())[::-1]
    assume(np.all(np.abs(np.cumsum(probs) - p) > 1e-9))
    expected = TopPLogitsWarper(top_p=p)(None, torch.tensor(logits)[None].clone())[0].numpy()
    np.testing.assert_array_equal(np.isfinite(top_p_filter(logits, p)), np.isfinite(expected))


def test_next_token_probs_against_torch():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, 30))  # a batch of rows works too
    got = next_token_probs(logits, temperature=0.7, top_k=10)
    t = torch.tensor(logits) / 0.7
    kth = t.topk(10, dim=-1).values[:, -1:]
    expected = torch.softmax(t.masked_fill(t < kth, float("-inf")), -1).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-12)
    greedy = next_token_probs(logits, temperature=0)
    np.testing.assert_array_equal(greedy.argmax(-1), logits.argmax(-1))
    assert np.all(greedy.sum(-1) == 1) and np.all(greedy.max(-1) == 1)
    np.testing.assert_allclose(next_token_probs(logits, 1.0, top_k=1), greedy)


# --- stopping and streaming --------------------------------------------------------------------


def test_stops_after_eos_and_stop_sequences(models):
    np_model, torch_model = models
    free = generate(np_model, PROMPT, 15, temperature=0, eos_id=None)
    eos = free[4]
    first = free.index(eos)
    for model in (np_model, torch_model):
        assert generate(model, PROMPT, 15, temperature=0, eos_id=eos) == free[: first + 1]
        stop = free[6:8]
        got = generate(model, PROMPT, 15, temperature=0, eos_id=None, stop=[[1000], stop])
        end = next(i + 2 for i in range(len(free)) if free[i:i + 2] == stop)
        assert got == free[:end]


def test_streaming_gives_the_tokens_as_they_come(models):
    np_model, torch_model = models
    seen = []
    got = generate(np_model, PROMPT, 12, temperature=0.8, seed=5, eos_id=None, on_token=seen.append)
    assert seen == got and len(got) == 12
    assert list(stream(torch_model, PROMPT, 12, temperature=0.8, seed=5, eos_id=None)) == got


def test_gpt2_vocabulary_stops_at_endoftext_by_default():
    config = gptlib.GPTConfig(vocab_size=50257, n_ctx=8, n_embd=8, n_head=1, n_layer=1)
    torch.manual_seed(0)
    model = gptlib.GPT(config).eval()
    with torch.no_grad():
        model.embed.wte.weight[50256] *= 200  # make <|endoftext|> by far the most likely token
    assert generate(model, [1, 2], 5, temperature=0) == [50256]
    assert generate(model, [1, 2], 5, temperature=0, eos_id=None) == [50256] * 5


# --- batches -------------------------------------------------------------------------------------


def test_batch_equals_one_by_one(small_checkpoint, models):
    _, torch_model = models
    prompts = [PROMPT, [1, 2, 3, 4, 5], [50, 60, 70, 80, 90]]
    batch = generate(torch_model, torch.tensor(prompts), 10, temperature=0, eos_id=None)
    assert batch == [hf_greedy(small_checkpoint[1], p, 10) for p in prompts]
    # one row stops early, the others go on
    eos = batch[1][2]
    stopped = generate(torch_model, prompts, 10, temperature=0, eos_id=eos)
    for row, tokens in zip(batch, stopped):
        assert tokens == (row[: row.index(eos) + 1] if eos in row else row)
    steps = list(stream(torch_model, prompts, 10, temperature=0, eos_id=eos))
    assert all(isinstance(s, list) and len(s) == 3 for s in steps)


def test_training_mode_is_restored(small_model):
    config, params = small_model
    model = gptlib.GPT.from_params(config, params, device="cpu").train()
    generate(model, PROMPT, 3, temperature=0)
    assert model.training


# --- bad settings -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(temperature=-0.1), ValueError, "temperature"),
        (dict(temperature=float("nan")), ValueError, "temperature"),
        (dict(top_k=0), ValueError, "top_k"),
        (dict(top_k=2.5), TypeError, "top_k"),
        (dict(top_p=0.0), ValueError, r"top_p must be in \(0, 1\]"),
        (dict(top_p=1.5), ValueError, "top_p"),
        (dict(ids=[]), ValueError, "empty"),
        (dict(ids=[1] * 25), ValueError, "n_ctx=24"),
        (dict(ids=[1, 101]), ValueError, "prompt token id 101 is out of range"),
        (dict(ids=[1.5, 2.0]), TypeError, "integers"),
        (dict(max_new_tokens=-1), ValueError, "max_new_tokens"),
        (dict(ids=[[1, 2], [3]]), ValueError, "same length"),
    ],
)
def test_bad_settings_are_refused(models, kwargs, error, message):
    for model in models:
        args = dict(ids=PROMPT, max_new_tokens=5) | kwargs
        with pytest.raises(error, match=message):
            generate(model, args.pop("ids"), args.pop("max_new_tokens"), **args)


def test_numpy_model_refuses_a_batch_and_others_are_refused(models):
    np_model, _ = models
    with pytest.raises(ValueError, match="one sequence at a time"):
        generate(np_model, [[1, 2], [3, 4]], 3)
    with pytest.raises(TypeError, match="NumpyGPT or gptlib.GPT"):
        generate(lambda ids: ids, [1, 2], 3)
    assert generate(np_model, PROMPT, 0) == []


# --- the sampling explorer (its JavaScript is tested in tests/test_widgets_js.py) -------------


def test_sampling_explorer_refuses_bad_input():
    from gptlib.widgets.sampling import sampling_explorer

    with pytest.raises(ValueError, match="labels"):
        sampling_explorer(np.zeros(5), ["a", "b"])
    with pytest.raises(ValueError, match="one row"):
        sampling_explorer(np.zeros((2, 5)), ["a"] * 5)
    with pytest.raises(ValueError, match="top_p"):
        sampling_explorer(np.arange(5.0), list("abcde"), top_p=2.0)
