"""The variants of gptlib.experiments: each switch removes exactly the piece it names."""

import math

import pytest
import torch
import torch.nn.functional as F

from gptlib import GPT, GPTConfig
from gptlib import experiments
from gptlib.experiments import Claim, Experiment, Run, Tie, Variant, VariantGPT, compare, table, train_variant
from gptlib.training import TrainConfig, initial_model, train

CONFIG = GPTConfig(vocab_size=11, n_ctx=8, n_embd=16, n_head=2, n_layer=2)
BIGRAM = Variant(attention=False, mlp=False, positions=False)


def variant_model(variant=Variant(), config=CONFIG, seed=0):
    torch.manual_seed(seed)
    return VariantGPT(config, variant).double().eval()


def ids(*rows):
    return torch.tensor(rows, dtype=torch.long)


IDS = ids([1, 4, 2, 9, 3, 3, 7, 0], [5, 5, 10, 2, 8, 1, 6, 4])


@pytest.mark.parametrize(
    "variant",
    [Variant(), BIGRAM, Variant(attention=False), Variant(mlp=False), Variant(residual=False),
     Variant(norm="post"), Variant(norm="none"), Variant(positions=False), Variant(scaled=False)],
    ids=repr,
)
def test_every_variant_maps_ids_to_logits_and_a_loss(variant):
    logits, loss = variant_model(variant)(IDS, IDS)
    assert logits.shape == (2, 8, CONFIG.vocab_size)
    assert loss.shape == () and torch.isfinite(loss)
    assert loss.item() == pytest.approx(F.cross_entropy(logits.flatten(0, 1), IDS.flatten()).item())


def test_the_full_variant_is_gptlib_gpt():
    torch.manual_seed(3)
    gpt = GPT(CONFIG).double().eval()
    variant = variant_model(seed=3)  # same seed: gptlib's own initialisation, same weights
    assert gpt.state_dict().keys() == variant.state_dict().keys()
    assert all(torch.equal(gpt.state_dict()[k], v) for k, v in variant.state_dict().items())
    assert torch.equal(gpt(IDS), variant(IDS))
    other = variant_model(seed=4)
    other.load_state_dict(gpt.state_dict())  # and any GPT's weights load into it
    assert torch.equal(gpt(IDS), other(IDS))
    assert other.num_params() == gpt.num_params()


def test_training_the_full_variant_is_training_gptlib_gpt(tmp_path):
    text = "To be, or not to be, that is the question: " * 40
    cfg = TrainConfig(n_layer=1, n_head=2, n_embd=16, block_size=8, batch_size=4, max_iters=6,
                      warmup_iters=2, eval_interval=3, eval_iters=2, dtype="float64", device="cpu")
    reference = train(cfg, tmp_path / "gpt", progress=False, text=text)  # gptlib.GPT, seeded by train
    vocab = len(set(text))
    # drawn as train() draws its own model for this cfg: from cfg.seed, in float64
    variant = initial_model(lambda: VariantGPT(cfg.model_config(vocab), Variant()), cfg.seed, cfg.dtype)
    mine = train(cfg, tmp_path / "variant", progress=False, text=text, model=variant)
    assert mine["history"]["loss"] == reference["history"]["loss"]  # float64, same ops: identical
    assert mine["val_loss"] == reference["val_loss"]


def test_experiment_models_start_in_float64_with_the_same_weights_for_every_variant():
    gpt = experiments._float64_model(CONFIG, Variant(), seed=7)
    bigram = experiments._float64_model(CONFIG, BIGRAM, seed=7)
    assert all(p.dtype == torch.float64 for p in gpt.parameters())
    assert torch.get_default_dtype() == torch.float32  # the session's default is left alone
    assert torch.equal(gpt.embed.wte.weight, bigram.embed.wte.weight)
    again = experiments._float64_model(CONFIG, Variant(), seed=7)
    assert all(torch.equal(a, b) for a, b in zip(gpt.parameters(), again.parameters()))


def test_without_attention_no_position_reads_another():
    for variant in (BIGRAM, Variant(attention=False)):
        model = variant_model(variant)
        changed = IDS.clone()
        changed[:, :-1] = (changed[:, :-1] + 1) % CONFIG.vocab_size  # every token but the last
        assert torch.equal(model(IDS)[:, -1], model(changed)[:, -1])
    assert len(variant_model(BIGRAM).blocks) == 0


def test_without_positions_a_one_layer_model_ignores_the_order_of_the_prefix():
    # The causal mask still tells the last position how many tokens precede it, but with
    # no position table one attention layer sees the earlier tokens as an unordered set.
    config = GPTConfig(vocab_size=11, n_ctx=8, n_embd=16, n_head=2, n_layer=1)
    shuffled = IDS[:, [5, 0, 6, 2, 4, 1, 3, 7]]  # the last token stays last
    without = variant_model(Variant(positions=False), config)
    torch.testing.assert_close(without(IDS)[:, -1], without(shuffled)[:, -1], rtol=0, atol=1e-12)
    with_positions = variant_model(Variant(), config)
    assert not torch.allclose(with_positions(IDS)[:, -1], with_positions(shuffled)[:, -1], atol=1e-6)


def test_without_positions_the_position_table_is_zero_and_never_learns():
    model = variant_model(Variant(positions=False))
    assert not model.embed.wpe.weight.requires_grad
    assert not model.embed.wpe.weight.any()
    assert model.num_params() == GPT(CONFIG).num_params() - CONFIG.n_ctx * CONFIG.n_embd


def test_unscaled_attention_is_sdpa_with_scale_one():
    model = variant_model(Variant(scaled=False))
    attn = model.blocks[0].attn
    x = torch.randn(2, 8, CONFIG.n_embd, dtype=torch.float64)
    B, T, C = x.shape
    # reference: the projections by hand, then PyTorch's attention told not to scale
    q, k, v = F.linear(x, attn.c_attn.weight, attn.c_attn.bias).split(C, dim=2)
    q, k, v = (t.view(B, T, CONFIG.n_head, C // CONFIG.n_head).transpose(1, 2) for t in (q, k, v))
    heads = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=1.0)
    expected = attn.c_proj(heads.transpose(1, 2).reshape(B, T, C))
    torch.testing.assert_close(attn(x), expected, rtol=1e-12, atol=1e-12)
    scaled = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    assert not torch.allclose(attn.c_proj(scaled.transpose(1, 2).reshape(B, T, C)), expected)


def zero_writes(model):
    """Make attention and the MLP write zeros: their output projections become zero."""
    with torch.no_grad():
        for block in model.blocks:
            for layer in (block.attn, block.mlp):
                if layer is not None:
                    layer.c_proj.weight.zero_()
                    layer.c_proj.bias.zero_()
    return model


def test_the_residual_switch_decides_whether_x_passes_the_layers():
    x = torch.randn(2, 8, CONFIG.n_embd, dtype=torch.float64)
    with_residual = zero_writes(variant_model(Variant()))
    assert torch.equal(with_residual.blocks[0](x), x)  # the layers add zero to the stream
    without = zero_writes(variant_model(Variant(residual=False)))
    assert not without.blocks[0](x).any()  # the stream is what the layers wrote: nothing


def test_post_ln_normalises_the_sum_and_pre_ln_does_not():
    x = 3.0 + 2.0 * torch.randn(2, 8, CONFIG.n_embd, dtype=torch.float64)
    post = variant_model(Variant(norm="post")).blocks[0](x)  # fresh gains 1 and biases 0
    torch.testing.assert_close(post.mean(-1), torch.zeros(2, 8, dtype=torch.float64), rtol=0, atol=1e-12)
    torch.testing.assert_close(post.var(-1, unbiased=False), torch.ones(2, 8, dtype=torch.float64),
                               rtol=0, atol=1e-3)  # eps=1e-5 under the square root
    pre = variant_model(Variant()).blocks[0](x)
    assert pre.mean(-1).abs().min() > 1.0  # the stream keeps x's mean of 3


def test_without_layer_norm_there_is_none():
    model = variant_model(Variant(norm="none"))
    assert not any(isinstance(m, torch.nn.LayerNorm) for m in model.modules())
    block, x = model.blocks[0], torch.randn(2, 8, CONFIG.n_embd, dtype=torch.float64)
    after_attn = x + block.attn(x)
    torch.testing.assert_close(block(x), after_attn + block.mlp(after_attn), rtol=0, atol=0)


def test_variant_refuses_an_unknown_norm():
    with pytest.raises(ValueError, match="norm must be one of"):
        Variant(norm="rms")


def test_experiments_refuse_float32():
    with pytest.raises(ValueError, match="float64"):
        train_variant("gpt", Variant(), TrainConfig(dtype="float32", device="cpu"))


def test_bits_per_char_divides_by_ln2_and_characters_per_token():
    run = Run("bpe", val_loss=3 * math.log(2), train_loss=0.0, n_params=1, seconds=0.0, curve=(),
              chars_per_token=1.5)
    assert run.bits_per_char == pytest.approx(2.0)


def test_compare_trains_each_variant_on_the_same_data():
    text = "The quick brown fox jumps over the lazy dog. " * 60
    cfg = TrainConfig(n_layer=1, n_head=2, n_embd=16, block_size=8, batch_size=4, max_iters=4,
                      warmup_iters=1, eval_interval=2, eval_iters=1, dtype="float64", device="cpu")
    runs = compare({"bigram": BIGRAM, "gpt": Variant()}, cfg, text)
    assert list(runs) == ["bigram", "gpt"]
    assert [step for step, _ in runs["gpt"].curve] == [2, 4]
    assert runs["gpt"].chars_per_token == 1.0  # a character tokenizer
    assert runs["bigram"].n_params < runs["gpt"].n_params
    lines = table(runs, bits_per_char=True).splitlines()
    assert len(lines) == 3 and lines[2].startswith("gpt")


def run(name, val_loss, chars_per_token=1.0):
    return Run(name, val_loss, train_loss=val_loss, n_params=1, seconds=0.0, curve=(),
               chars_per_token=chars_per_token)


def test_a_claim_passes_with_its_margin_and_fails_without():
    runs = {"a": run("a", 2.5), "b": run("b", 2.3)}
    assert Claim("a", "b", 0.1).check(runs) == "b beats a by at least 0.1 in validation loss"
    with pytest.raises(AssertionError, match="the gap is 0.200"):
        Claim("a", "b", 0.3).check(runs)
    with pytest.raises(AssertionError):
        Claim("b", "a", 0.0).check(runs)  # the wrong way round
    bpe = {"char": run("char", 2.1), "bpe": run("bpe", 4.0, chars_per_token=2.5)}  # 3.03 vs 2.31 bits
    assert "bits per character" in Claim("char", "bpe", 0.5, "bits_per_char").check(bpe)


def test_a_tie_holds_either_way_round_within_its_tolerance():
    runs = {"a": run("a", 2.30), "b": run("b", 2.36)}
    assert Tie("a", "b", 0.1).check(runs) == "a and b are within 0.1 of each other"
    assert Tie("b", "a", 0.1).check(runs)
    with pytest.raises(AssertionError, match="the gap is -0.060"):
        Tie("a", "b", 0.05).check(runs)


def test_an_experiment_runs_each_variant_with_its_changes():
    text = "Now is the winter of our discontent. " * 80
    cfg = TrainConfig(n_layer=1, n_head=2, n_embd=16, block_size=8, batch_size=4, max_iters=2,
                      warmup_iters=1, eval_interval=0, eval_iters=1, dtype="float64", device="cpu", threads=1)
    exp = Experiment({"short": Variant(), "longer": Variant()}, cfg, changes={"longer": {"max_iters": 3}})
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        runs = exp.run(seed=5, text=text)
        assert torch.get_num_threads() == 2  # the runs used 1 thread; the session keeps its 2
    finally:
        torch.set_num_threads(threads)
    assert runs["short"].curve[-1][0] == 2 and runs["longer"].curve[-1][0] == 3
    assert exp.check(runs) == []


@pytest.mark.parametrize("name", ["ABLATIONS", "POSITIONS", "SCALE", "NORM_PLACEMENT", "TOKENIZERS"])
def test_the_chapters_experiments_name_their_own_runs_and_run_in_float64(name):
    exp = getattr(experiments, name)
    for claim in exp.claims:
        assert set(claim.pair) <= exp.variants.keys()
    assert exp.changes.keys() <= exp.variants.keys()
    assert exp.cfg.dtype == "float64" and exp.cfg.validate()
