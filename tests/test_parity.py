"""gptlib's NumPy and PyTorch GPT-2 against Hugging Face transformers' GPT2LMHeadModel."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import gptlib
from conftest import hf_logits, make_hf_checkpoint

CONFIGS = {
    "one-head-one-layer": dict(vocab_size=50, n_ctx=16, n_embd=8, n_head=1, n_layer=1),
    "head-size-one": dict(vocab_size=64, n_ctx=20, n_embd=16, n_head=16, n_layer=2),
    "odd-vocab-3-layers": dict(vocab_size=97, n_ctx=32, n_embd=48, n_head=4, n_layer=3),
    "wide-8-heads": dict(vocab_size=300, n_ctx=64, n_embd=128, n_head=8, n_layer=2),
    "gpt2-124M": dict(vocab_size=50257, n_ctx=1024, n_embd=768, n_head=12, n_layer=12),
}
TOLERANCE = 1e-4  # fp32 throughout


@pytest.mark.parametrize("name", CONFIGS)
def test_numpy_and_torch_match_huggingface(name, tmp_path):
    shape = CONFIGS[name]
    hf_model = make_hf_checkpoint(tmp_path, **shape, seed=len(name))
    config, params = gptlib.load_gpt2(tmp_path)
    assert (config.vocab_size, config.n_ctx, config.n_embd, config.n_head, config.n_layer) == tuple(
        shape[k] for k in ("vocab_size", "n_ctx", "n_embd", "n_head", "n_layer")
    )

    rng = np.random.default_rng(0)
    n_seq = min(config.n_ctx, 48)
    ids = rng.integers(0, config.vocab_size, size=(2, n_seq))
    expected = hf_logits(hf_model, ids)  # [2, n_seq, vocab]

    for row in range(2):
        got = gptlib.gpt2_numpy(ids[row], params, config)
        assert got.shape == (n_seq, config.vocab_size)
        np.testing.assert_allclose(got, expected[row], atol=TOLERANCE, rtol=0)
    np.testing.assert_allclose(gptlib.NumpyGPT(config, params)(ids[0]), expected[0], atol=TOLERANCE, rtol=0)

    model = gptlib.GPT.from_params(config, params, device="cpu")
    with torch.no_grad():
        got = model(torch.as_tensor(ids)).numpy()
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=TOLERANCE, rtol=0)


def test_full_context_matches_huggingface(small_checkpoint, small_model):
    config, params = small_model
    ids = np.arange(config.n_ctx) % config.vocab_size  # exactly n_ctx tokens is allowed
    expected = hf_logits(small_checkpoint[1], ids[None])[0]
    np.testing.assert_allclose(gptlib.gpt2_numpy(ids, params, config), expected, atol=TOLERANCE, rtol=0)


def test_torch_loss_matches_huggingface(small_checkpoint, small_model):
    config, params = small_model
    ids = torch.randint(0, config.vocab_size, (3, 10), generator=torch.Generator().manual_seed(0))
    model = gptlib.GPT.from_params(config, params, device="cpu")
    with torch.no_grad():
        _, loss = model(ids[:, :-1], targets=ids[:, 1:])
        # transformers shifts the labels itself: position t predicts token t+1.
        expected = small_checkpoint[1](ids, labels=ids).loss
    assert abs(loss.item() - expected.item()) < 1e-5


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_later_tokens_never_change_earlier_logits(small_model, data):
    config, params = small_model
    n_seq = data.draw(st.integers(2, config.n_ctx), label="n_seq")
    ids = data.draw(st.lists(st.integers(0, config.vocab_size - 1), min_size=n_seq, max_size=n_seq))
    cut = data.draw(st.integers(1, n_seq - 1), label="first changed position")
    changed = ids[:cut] + [(t + 1) % config.vocab_size for t in ids[cut:]]

    before, after = gptlib.gpt2_numpy(ids, params, config), gptlib.gpt2_numpy(changed, params, config)
    np.testing.assert_allclose(before[:cut], after[:cut], atol=1e-6, rtol=0)
    assert not np.allclose(before[cut], after[cut])  # the changed position itself does move

    model = gptlib.GPT.from_params(config, params, device="cpu")
    with torch.no_grad():
        both = model(torch.tensor([ids, changed]))
    torch.testing.assert_close(both[0, :cut], both[1, :cut], atol=1e-6, rtol=0)


def test_torch_model_round_trips_params(small_model):
    config, params = small_model
    back = gptlib.GPT.from_params(config, params, device="cpu").to_params()
    from gptlib.weights import flatten_params

    a, b = flatten_params(params), flatten_params(back)
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_logit_lens_reads_huggingfaces_hidden_states(small_checkpoint, small_model):
    """Entry i of the lens is GPT-2's own head (ln_f, then wte) applied to HF's hidden state i;
    the last entry is the model's output (HF's last hidden state already went through ln_f)."""
    hf_model = small_checkpoint[1]
    config, params = small_model
    ids = np.array([3, 1, 4, 1, 5, 9, 2, 6])
    with torch.no_grad():
        out = hf_model(torch.as_tensor(ids[None]), output_hidden_states=True)
        head = hf_model.transformer.ln_f, hf_model.lm_head
        expected = [head[1](head[0](h[0])).numpy() for h in out.hidden_states[:-1]]
    expected.append(out.logits[0].numpy())
    lens = gptlib.logit_lens(ids, params, config)
    assert lens.shape == (config.n_layer + 1, len(ids), config.vocab_size)
    np.testing.assert_allclose(lens, np.stack(expected), atol=TOLERANCE, rtol=0)
    with pytest.raises(ValueError, match="out of range"):
        gptlib.logit_lens([config.vocab_size], params, config)
