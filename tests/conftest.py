"""Shared fixtures: small GPT-2 checkpoints written by Hugging Face transformers, our reference."""

import numpy as np
import pytest
import torch

import gptlib


def make_hf_checkpoint(folder, *, vocab_size, n_ctx, n_embd, n_head, n_layer, seed=0):
    """A randomly initialised transformers GPT2LMHeadModel saved with save_pretrained.

    Layer norms and biases are perturbed away from 1 and 0 so that every tensor matters.
    Returns the HF model (in eval mode) for computing reference logits.
    """
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    config = GPT2Config(
        vocab_size=vocab_size, n_positions=n_ctx, n_embd=n_embd, n_head=n_head, n_layer=n_layer,
        bos_token_id=vocab_size - 1, eos_token_id=vocab_size - 1,
    )
    model = GPT2LMHeadModel(config).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ".ln_" in name and name.endswith("weight"):
                p.copy_(1.0 + 0.2 * torch.randn_like(p))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn_like(p))
    model.save_pretrained(folder)
    return model


def hf_logits(model, ids):
    """Reference logits [B, T, vocab] from a transformers model."""
    with torch.no_grad():
        return model(torch.as_tensor(ids, dtype=torch.long)).logits.numpy()


@pytest.fixture(scope="session")
def small_checkpoint(tmp_path_factory):
    """(folder, hf_model) of a small GPT-2: 2 layers, 4 heads, 32 wide, vocab 101, context 24."""
    folder = tmp_path_factory.mktemp("small_gpt2")
    model = make_hf_checkpoint(folder, vocab_size=101, n_ctx=24, n_embd=32, n_head=4, n_layer=2)
    return folder, model


@pytest.fixture(scope="session")
def small_model(small_checkpoint):
    config, params = gptlib.load_gpt2(small_checkpoint[0])
    return config, params


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
