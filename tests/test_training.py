"""gptlib.training: the NumPy loss and backward pass against autograd, AdamW against torch, the loop's parts."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import gptlib
from conftest import make_hf_checkpoint
from gptlib.tokenizer import CharTokenizer
from gptlib.training import (
    PRESETS,
    TrainConfig,
    adamw_init,
    adamw_step,
    cross_entropy,
    cross_entropy_backward,
    encode_corpus,
    estimate_loss,
    get_batch,
    get_preset,
    loss_and_grads,
    lr_at,
    make_optimizer,
    prepare_data,
    sample_offsets,
    train,
    transformer_block_backward,
)
from gptlib.weights import flatten_params, param_table

# --- cross-entropy ------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(1, 5), (7, 11), (2, 3, 13)])
@pytest.mark.parametrize("scale", [1.0, 1e4])  # 1e4: exp would overflow without the max shift
def test_cross_entropy_and_gradient_match_torch(shape, scale, rng):
    logits = rng.normal(size=shape) * scale
    targets = rng.integers(0, shape[-1], size=shape[:-1])
    t_logits = torch.tensor(logits, requires_grad=True)
    t_loss = F.cross_entropy(t_logits.reshape(-1, shape[-1]), torch.tensor(targets).reshape(-1))
    t_loss.backward()
    assert np.isfinite(cross_entropy(logits, targets))
    np.testing.assert_allclose(cross_entropy(logits, targets), t_loss.item(), rtol=1e-10, atol=1e-10 * scale)
    np.testing.assert_allclose(cross_entropy_backward(logits, targets), t_logits.grad.numpy(), rtol=1e-8, atol=1e-12)


def test_cross_entropy_of_uniform_logits_is_log_vocab():
    assert cross_entropy(np.zeros((4, 65)), np.arange(4)) == pytest.approx(math.log(65))


@pytest.mark.parametrize(
    "targets, error, message",
    [
        (np.array([0, 1]), ValueError, "need targets of shape (3,)"),
        (np.array([0, 1, 101]), ValueError, "target 101 is out of range"),
        (np.array([0.0, 1.0, 2.0]), TypeError, "integer token ids"),
    ],
)
def test_loss_and_grads_refuses_bad_targets(small_model, targets, error, message):
    config, params = small_model
    with pytest.raises(error, match=__import__("re").escape(message)):
        loss_and_grads(np.array([1, 2, 3]), targets, params, config)


# --- the whole model's backward pass against Hugging Face + autograd ---------------------------------

SHAPES = {
    "one-head": dict(vocab_size=23, n_ctx=8, n_embd=8, n_head=1, n_layer=1),
    "two-layers-four-heads": dict(vocab_size=31, n_ctx=12, n_embd=16, n_head=4, n_layer=2),
    "three-layers": dict(vocab_size=17, n_ctx=10, n_embd=12, n_head=3, n_layer=3),
}


def _hf_loss_and_grads(hf_model, ids, targets, config):
    """Reference: transformers' GPT2LMHeadModel in float64, torch's cross-entropy, autograd grads.

    (HF's own labels= loss casts the logits to float32, too coarse for a float64 comparison.)
    """
    model = hf_model.double()
    model.zero_grad()
    logits = model(torch.as_tensor(ids)).logits  # [B, n_seq, V]
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), torch.as_tensor(targets).reshape(-1))
    loss.backward()
    named = dict(model.named_parameters())
    grads = {ours: named[hf].grad.numpy() for ours, hf, _, _ in param_table(config)}
    return loss.item(), grads


@pytest.mark.parametrize("name", SHAPES)
@pytest.mark.parametrize("batch, n_seq", [(1, 1), (1, 7), (3, 5)])
def test_full_model_gradients_match_autograd(name, batch, n_seq, tmp_path):
    shape = SHAPES[name]
    hf_model = make_hf_checkpoint(tmp_path, **shape, seed=batch * 10 + n_seq)
    config, params = gptlib.load_gpt2(tmp_path)
    params = gptlib.weights.unflatten_params(
        {k: v.astype(np.float64) for k, v in flatten_params(params).items()}, config
    )
    rng = np.random.default_rng(n_seq)
    seqs = rng.integers(0, config.vocab_size, size=(batch, n_seq + 1))
    ids, targets = seqs[:, :-1], seqs[:, 1:]

    expected_loss, expected = _hf_loss_and_grads(hf_model, ids, targets, config)
    loss, grads = loss_and_grads(ids if batch > 1 else ids[0], targets if batch > 1 else targets[0], params, config)
    assert loss == pytest.approx(expected_loss, rel=1e-9)
    flat = flatten_params(grads)
    assert flat.keys() == expected.keys()
    for key in expected:
        assert flat[key].shape == expected[key].shape, key
        np.testing.assert_allclose(flat[key], expected[key], rtol=1e-4, atol=1e-10, err_msg=key)
    # the tied wte collects gradient from both of its uses, and untouched rows get none
    assert np.abs(flat["wte"]).sum() > 0
    assert np.all(flat["wpe"][n_seq:] == 0)


def test_block_backward_matches_autograd_of_the_torch_block(rng):
    config = gptlib.GPTConfig(vocab_size=11, n_ctx=8, n_embd=12, n_head=3, n_layer=1)
    torch.manual_seed(0)
    model = gptlib.GPT(config).double()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))  # move gains and biases away from 1 and 0
    block = model.to_params()["blocks"][0]
    block = {k: {kk: ({kkk: vvv.astype(np.float64) for kkk, vvv in vv.items()} if isinstance(vv, dict)
                      else vv.astype(np.float64)) for kk, vv in v.items()} for k, v in block.items()}
    x = rng.normal(size=(6, 12))
    d_out = rng.normal(size=(6, 12))
    t_x = torch.tensor(x[None], requires_grad=True)
    (model.blocks[0](t_x) * torch.tensor(d_out[None])).sum().backward()

    dx, d_block = transformer_block_backward(d_out, x, block, config.n_head, config.layer_norm_eps)
    np.testing.assert_allclose(dx, t_x.grad[0].numpy(), rtol=1e-4, atol=1e-10)
    np.testing.assert_allclose(d_block["ln_1"]["g"], model.blocks[0].ln_1.weight.grad.numpy(), rtol=1e-4, atol=1e-10)
    # nn.Linear stores [out, in]; GPT-2's layout is [in, out]
    np.testing.assert_allclose(d_block["mlp"]["c_fc"]["w"], model.blocks[0].mlp.c_fc.weight.grad.numpy().T,
                               rtol=1e-4, atol=1e-10)
    np.testing.assert_allclose(d_block["attn"]["c_attn"]["b"], model.blocks[0].attn.c_attn.bias.grad.numpy(),
                               rtol=1e-4, atol=1e-10)


def test_loss_and_grads_refuses_bad_ids(small_model):
    config, params = small_model
    with pytest.raises(ValueError, match="out of range"):
        loss_and_grads(np.array([[1, 2, config.vocab_size]]), np.array([[1, 2, 3]]), params, config)
    with pytest.raises(ValueError, match="context"):
        n = config.n_ctx + 1
        loss_and_grads(np.zeros(n, dtype=int), np.zeros(n, dtype=int), params, config)


# --- AdamW ------------------------------------------------------------------------------------------


def test_numpy_adamw_matches_torch_adamw_with_decay_on_matrices_only(small_model):
    config, params = small_model
    flat = {k: v.astype(np.float64) for k, v in flatten_params(params).items()}
    params = gptlib.weights.unflatten_params(flat, config)
    torch_params = {k: torch.nn.Parameter(torch.tensor(v)) for k, v in flat.items()}
    decay = [p for p in torch_params.values() if p.ndim >= 2]
    no_decay = [p for p in torch_params.values() if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-2, betas=(0.9, 0.95), eps=1e-8)
    state = adamw_init(params)
    rng = np.random.default_rng(0)
    for step in range(4):
        grads_flat = {k: rng.normal(size=v.shape) * (step + 1) for k, v in flat.items()}
        for k, p in torch_params.items():
            p.grad = torch.tensor(grads_flat[k])
        opt.step()
        params = adamw_step(params, gptlib.weights.unflatten_params(grads_flat, config), state, lr=1e-2,
                            beta1=0.9, beta2=0.95, eps=1e-8, weight_decay=0.1)
    ours = flatten_params(params)
    for k, p in torch_params.items():
        np.testing.assert_allclose(ours[k], p.detach().numpy(), rtol=1e-10, atol=1e-12, err_msg=k)
    assert state["step"] == 4


# --- schedule and optimizer groups ---------------------------------------------------------------


def test_schedule_warms_up_linearly_then_follows_torch_cosine_annealing():
    cfg = TrainConfig(lr=1e-3, min_lr=1e-4, warmup_iters=10, max_iters=110)
    warm = [lr_at(s, cfg) for s in range(10)]
    np.testing.assert_allclose(warm, [1e-3 * (s + 1) / 10 for s in range(10)])
    # after warmup: PyTorch's CosineAnnealingLR from lr to min_lr over the remaining 100 steps
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=1e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=100, eta_min=1e-4)
    reference = []
    for _ in range(101):
        reference.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    np.testing.assert_allclose([lr_at(s, cfg) for s in range(10, 111)], reference, rtol=1e-9)
    assert lr_at(500, cfg) == 1e-4


def test_optimizer_decays_matrices_only():
    config = gptlib.GPTConfig(vocab_size=20, n_ctx=8, n_embd=16, n_head=2, n_layer=2)
    model = gptlib.GPT(config)
    opt = make_optimizer(model, TrainConfig(weight_decay=0.1))
    decay, no_decay = opt.param_groups
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    names = {id(p): n for n, p in model.named_parameters()}
    decayed = {names[id(p)] for p in decay["params"]}
    assert "embed.wte.weight" in decayed and "blocks.0.attn.c_attn.weight" in decayed
    assert all(names[id(p)].endswith(("bias", "ln_1.weight", "ln_2.weight", "ln_f.weight")) for p in no_decay["params"])
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))


# --- data ---------------------------------------------------------------------------------------


@given(st.text(min_size=1, max_size=50))
@settings(max_examples=50, deadline=None)
def test_char_tokenizer_round_trips(text):
    tok = CharTokenizer.from_text(text)
    assert tok.decode(tok.encode(text)) == text
    assert tok.n_vocab == len(set(text))


def test_batches_are_windows_and_targets_are_shifted_by_one():
    data = np.arange(100, dtype=np.int64) * 3
    x, y = get_batch(data, [0, 5, 89], block_size=10)
    assert x.shape == y.shape == (3, 10) and x.dtype == torch.long
    assert torch.equal(y[:, :-1], x[:, 1:])
    assert torch.equal(x[2], torch.arange(89, 99) * 3) and y[2, -1] == 99 * 3
    offsets = sample_offsets(np.random.default_rng(0), 100, 10, 1000)
    assert offsets.min() >= 0 and offsets.max() + 10 < 100  # every window and its target fit


def test_split_is_by_characters_and_held_out():
    text = "abcdefghij" * 10
    train_ids, val_ids = encode_corpus(text, CharTokenizer.from_text(text), val_fraction=0.1)
    assert len(train_ids) == 90 and len(val_ids) == 10
    with pytest.raises(ValueError, match="too few"):
        encode_corpus("ab", CharTokenizer.from_text("ab"))


def test_bpe_data_uses_chapter_one_tokenizer():
    from gptlib.tokenizer import shakespeare_tokenizer

    cfg = replace_cfg(get_preset("tiny"), tokenizer="bpe")
    data = prepare_data(cfg)
    tok = shakespeare_tokenizer()
    assert data.tokenizer.n_vocab == tok.n_vocab
    text = gptlib.data.load_text()[:20_000]
    assert data.train[:50].tolist() == tok.encode(text[:18_000])[:50]


def replace_cfg(cfg, **changes):
    from dataclasses import replace

    return replace(cfg, **changes)


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(lr=-1e-3), "learning rate"),
        (dict(lr=float("nan")), "learning rate"),
        (dict(min_lr=1.0), "min_lr"),
        (dict(batch_size=0), "batch_size"),
        (dict(weight_decay=-0.1), "weight_decay"),
        (dict(grad_clip=-1.0), "grad_clip"),
        (dict(beta2=1.0), "beta2"),
        (dict(device="tpu"), "device"),
    ],
)
def test_train_config_refuses_bad_values(changes, message):
    with pytest.raises(ValueError, match=message):
        replace_cfg(get_preset("tiny"), **changes).validate()


def test_unknown_preset_names_the_known_ones():
    with pytest.raises(ValueError, match="known presets: tiny"):
        get_preset("huge")
    assert {"tiny", "shakespeare-char-cpu", "shakespeare-bpe"} <= PRESETS.keys()


# --- the loop, in-process -------------------------------------------------------------------------


def test_training_lowers_the_loss_and_reports_evaluations(tmp_path):
    seen = []
    cfg = replace_cfg(get_preset("tiny"), max_iters=40, checkpoint_interval=0)
    metrics = train(cfg, tmp_path, progress=False, on_eval=lambda step, losses, model: seen.append(step))
    assert seen == [10, 20, 30, 40]
    assert [e["step"] for e in metrics["history"]["evals"]] == seen
    evals = metrics["history"]["evals"]
    assert evals[-1]["val"] < evals[0]["val"] and evals[-1]["train"] < evals[0]["train"]
    assert metrics["val_loss"] == evals[-1]["val"]
    config, params = gptlib.load_gpt2(tmp_path)
    # the torch model's loss on a batch equals the NumPy model's cross-entropy on the same weights
    data = prepare_data(cfg)
    x, y = get_batch(data.val, [0, 100], cfg.block_size)
    model = gptlib.GPT.from_params(config, params, device="cpu")
    with torch.no_grad():
        _, t_loss = model(x, y)
    np_loss = np.mean([cross_entropy(gptlib.gpt2_numpy(x[i].numpy(), params, config), y[i].numpy()) for i in range(2)])
    assert np_loss == pytest.approx(t_loss.item(), rel=1e-5)


def test_evaluation_is_repeatable_and_leaves_training_randomness_alone():
    cfg = replace_cfg(get_preset("tiny"), eval_iters=3)
    data = prepare_data(cfg)
    model = gptlib.GPT(cfg.model_config(data.tokenizer.n_vocab))
    splits = {"train": data.train, "val": data.val}
    torch.manual_seed(5)
    before = torch.get_rng_state()
    first = estimate_loss(model, splits, cfg, "cpu")
    assert torch.equal(torch.get_rng_state(), before)
    assert estimate_loss(model, splits, cfg, "cpu") == first
    assert model.training  # estimate_loss puts the mode back


# --- variants and float64 -------------------------------------------------------------------------


class NoPositions(torch.nn.Module):
    """A variant: a GPT whose position table is held at zero (not a GPT-2 network any more)."""

    def __init__(self, config):
        super().__init__()
        self.gpt = gptlib.GPT(config)
        self.config = config
        with torch.no_grad():
            self.gpt.embed.wpe.weight.zero_()
        self.gpt.embed.wpe.weight.requires_grad_(False)

    def forward(self, ids, targets=None):
        return self.gpt(ids, targets)

    def num_params(self):
        return sum(p.numel() for p in self.parameters() if p.requires_grad)


def test_train_trains_the_variant_it_is_given(tmp_path):
    cfg = replace_cfg(get_preset("tiny"), max_iters=20, checkpoint_interval=0, dropout=0.0)
    data = prepare_data(cfg)
    variant = NoPositions(cfg.model_config(data.tokenizer.n_vocab))
    before = variant.gpt.embed.wte.weight.detach().clone()
    metrics = train(cfg, tmp_path, progress=False, model=variant)
    assert not torch.equal(variant.gpt.embed.wte.weight, before)  # the object passed in learned
    assert torch.count_nonzero(variant.gpt.embed.wpe.weight) == 0  # and stayed a variant
    evals = metrics["history"]["evals"]
    assert evals[-1]["train"] < evals[0]["train"]
    assert metrics["n_params"] == variant.num_params()
    assert (tmp_path / "metrics.json").is_file()
    assert not (tmp_path / "model.safetensors").exists()  # a variant is no GPT-2 checkpoint
    with pytest.raises(ValueError, match="need a gptlib.GPT"):
        train(replace_cfg(cfg, checkpoint_interval=10), tmp_path / "b", progress=False, model=variant)
    with pytest.raises(ValueError, match="vocab_size=7"):
        train(cfg, tmp_path / "c", progress=False, model=NoPositions(replace_cfg(variant.config, vocab_size=7)))
    with pytest.raises(TypeError, match="GPT interface"):
        train(cfg, tmp_path / "d", progress=False, model=torch.nn.Linear(2, 2))


def test_train_given_a_gpt_writes_that_gpt(tmp_path):
    cfg = replace_cfg(get_preset("tiny"), max_iters=5, checkpoint_interval=0)
    model = gptlib.GPT(cfg.model_config(prepare_data(cfg).tokenizer.n_vocab))
    train(cfg, tmp_path, progress=False, model=model)
    _, params = gptlib.load_gpt2(tmp_path)
    np.testing.assert_array_equal(params["wte"], model.embed.wte.weight.detach().numpy())


def _tiny_float64_run(out, threads, **changes):
    cfg = replace_cfg(get_preset("tiny"), dtype="float64", max_iters=20, threads=threads, **changes)
    return train(cfg, out, progress=False)


def test_float64_runs_print_the_same_digits_with_any_thread_count(tmp_path):
    # Thread count changes how reductions are split; in float32 that moves the loss in its
    # 6th-7th digit and 500 steps amplify it, in float64 the change stays near 1e-15.
    one = _tiny_float64_run(tmp_path / "one", threads=1, checkpoint_interval=0)
    two = _tiny_float64_run(tmp_path / "two", threads=2, checkpoint_interval=0)
    np.testing.assert_allclose(two["history"]["loss"], one["history"]["loss"], rtol=1e-11)
    assert round(one["val_loss"], 4) == round(two["val_loss"], 4)
    config, params = gptlib.load_gpt2(tmp_path / "one")
    assert params["wte"].dtype == np.float64  # the checkpoint keeps every bit of the run
    # the float32 run of the same settings starts from other weights (drawn in float32, see
    # initial_model) and the same batches: its curve stays within a few percent of this one
    fp32 = train(replace_cfg(get_preset("tiny"), max_iters=20, checkpoint_interval=0), tmp_path / "fp32",
                 progress=False)
    np.testing.assert_allclose(fp32["history"]["loss"], one["history"]["loss"], rtol=0.03)


class Crash(Exception):
    pass


def test_float64_resume_is_exact(tmp_path):
    # a checkpoint stored in float32 would round the weights: the resumed run would drift
    straight = _tiny_float64_run(tmp_path / "straight", threads=1)
    cfg = replace_cfg(get_preset("tiny"), dtype="float64", max_iters=20, threads=1)

    def crash_at_step_10(step, losses, model):  # the checkpoint of step 10 is on disk by then
        if step == 10:
            raise Crash

    with pytest.raises(Crash):
        train(cfg, tmp_path / "resumed", progress=False, on_eval=crash_at_step_10)
    resumed = train(cfg, tmp_path / "resumed", progress=False, resume=True)
    assert resumed["history"]["loss"] == straight["history"]["loss"]
    a, b = (gptlib.load_gpt2(tmp_path / name)[1] for name in ("straight", "resumed"))
    for name, value in flatten_params(a).items():
        np.testing.assert_array_equal(flatten_params(b)[name], value, err_msg=name)


# --- training_step and initial_model ------------------------------------------------------------


def _tiny_float64_gpt(seed=0):
    config = gptlib.GPTConfig(vocab_size=11, n_ctx=8, n_embd=8, n_head=2, n_layer=1)
    return gptlib.training.initial_model(lambda: gptlib.GPT(config), seed, "float64")


def test_training_step_is_torchs_zero_grad_backward_clip_adamw():
    ours, theirs = _tiny_float64_gpt(), _tiny_float64_gpt()
    opt_ours = torch.optim.AdamW(ours.parameters(), lr=0.5, weight_decay=0.1)
    opt_theirs = torch.optim.AdamW(theirs.parameters(), lr=0.5, weight_decay=0.1)
    batches = torch.randint(0, 11, (3, 4, 9), generator=torch.Generator().manual_seed(1))
    for batch in batches:  # several steps: a step that kept the last gradient would drift
        x, y = batch[:, :-1], batch[:, 1:]
        loss = gptlib.training.training_step(ours, opt_ours, x, y, lr=1e-2, grad_clip=0.05)
        for group in opt_theirs.param_groups:
            group["lr"] = 1e-2
        opt_theirs.zero_grad()
        logits = theirs(x)  # without targets: the logits only
        expected = F.cross_entropy(logits.reshape(-1, 11), y.reshape(-1))
        expected.backward()
        torch.nn.utils.clip_grad_norm_(theirs.parameters(), 0.05)
        opt_theirs.step()
        assert torch.allclose(loss, expected.detach(), rtol=1e-12, atol=0)
    for a, b in zip(ours.parameters(), theirs.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)


def test_initial_model_draws_float64_weights_and_restores_the_default_dtype():
    model = _tiny_float64_gpt(seed=3)
    assert all(p.dtype == torch.float64 for p in model.parameters())
    assert torch.get_default_dtype() == torch.float32
    again = _tiny_float64_gpt(seed=3)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), again.parameters()))
    wte = model.embed.wte.weight
    assert 0.015 < wte.std().item() < 0.025  # GPT-2's N(0, 0.02), drawn in float64
    with pytest.raises(ZeroDivisionError):
        gptlib.training.initial_model(lambda: 1 / 0, 0, "float64")
    assert torch.get_default_dtype() == torch.float32
