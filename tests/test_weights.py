"""Checkpoint files: reading Hugging Face's, writing our own, refusing broken ones."""

import hashlib
import json
import shutil
import types
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

import gptlib
from gptlib import weights
from gptlib.data import ChecksumError, MissingDataError
from conftest import hf_logits


@pytest.fixture
def ckpt(small_checkpoint, tmp_path):
    """A private copy of the small checkpoint that a test may break."""
    folder = tmp_path / "ckpt"
    shutil.copytree(small_checkpoint[0], folder)
    return folder


def rewrite_tensors(folder, change):
    path = folder / "model.safetensors"
    tensors = load_file(path)
    change(tensors)
    save_file(tensors, path)


def test_saved_checkpoint_loads_in_transformers(small_checkpoint, small_model, tmp_path):
    from transformers import GPT2LMHeadModel

    config, params = small_model
    gptlib.save_checkpoint(tmp_path / "ours", config, params)
    theirs = GPT2LMHeadModel.from_pretrained(tmp_path / "ours").eval()
    ids = np.array([[3, 1, 4, 1, 5, 9, 2, 6]])
    np.testing.assert_allclose(hf_logits(theirs, ids), hf_logits(small_checkpoint[1], ids), atol=1e-6)
    config2, params2 = gptlib.load_gpt2(tmp_path / "ours")
    assert config2 == config
    for name, array in weights.flatten_params(params).items():
        np.testing.assert_array_equal(weights.flatten_params(params2)[name], array)


def test_hub_style_names_and_buffers_are_accepted(ckpt, small_model):
    """Files on the hub drop the "transformer." prefix and may carry mask buffers and lm_head."""
    config, params = small_model

    def to_hub_style(tensors):
        for name in list(tensors):
            tensors[name.removeprefix("transformer.")] = tensors.pop(name)
        tensors["h.0.attn.bias"] = np.tril(np.ones((1, 1, config.n_ctx, config.n_ctx), np.float32))
        tensors["lm_head.weight"] = tensors["wte.weight"].copy()

    rewrite_tensors(ckpt, to_hub_style)
    _, loaded = gptlib.load_gpt2(ckpt)
    np.testing.assert_array_equal(loaded["blocks"][1]["mlp"]["c_fc"]["w"], params["blocks"][1]["mlp"]["c_fc"]["w"])


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda t: t.pop("transformer.h.1.mlp.c_fc.bias"), r"missing tensors: transformer\.h\.1\.mlp\.c_fc\.bias"),
        (lambda t: t.update({"transformer.h.2.ln_1.weight": np.ones(32, np.float32)}), r"unexpected tensors: transformer\.h\.2\.ln_1\.weight"),
        (lambda t: t.update({"transformer.wpe.weight": np.zeros((99, 32), np.float32)}), r"transformer\.wpe\.weight: expected \(24, 32\), found \(99, 32\)"),
        (lambda t: t.update({"lm_head.weight": np.zeros((101, 32), np.float32)}), "tied"),
    ],
    ids=["missing", "unexpected", "wrong-shape", "untied-head"],
)
def test_mismatched_tensors_are_refused_by_name(ckpt, change, message):
    rewrite_tensors(ckpt, change)
    with pytest.raises(ValueError, match=message):
        gptlib.load_gpt2(ckpt)


def test_truncated_file_is_refused(ckpt):
    path = ckpt / "model.safetensors"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"model\.safetensors is not a readable safetensors file"):
        gptlib.load_gpt2(ckpt)


def test_garbage_file_is_refused(ckpt):
    (ckpt / "model.safetensors").write_bytes(b"\x00" * 7)
    with pytest.raises(ValueError, match="not a readable safetensors"):
        gptlib.load_gpt2(ckpt)


def test_config_that_does_not_match_the_weights_is_refused(ckpt):
    config = json.loads((ckpt / "config.json").read_text())
    config["n_layer"] = 3
    (ckpt / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"missing tensors: transformer\.h\.2\."):
        gptlib.load_gpt2(ckpt)


@pytest.mark.parametrize(
    "edit, message",
    [
        ({"activation_function": "relu"}, "tanh GELU"),
        ({"model_type": "llama"}, "not 'gpt2'"),
        ({"n_inner": 7}, "n_inner"),
        ({"scale_attn_by_inverse_layer_idx": True}, "scaled"),
    ],
)
def test_unsupported_configs_are_refused(ckpt, edit, message):
    config = json.loads((ckpt / "config.json").read_text())
    config.update(edit)
    (ckpt / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=message):
        gptlib.load_gpt2(ckpt)


def test_missing_files_are_named(ckpt, tmp_path):
    (ckpt / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"config\.json is not valid JSON"):
        gptlib.load_gpt2(ckpt)
    (ckpt / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match=r"model\.safetensors does not exist"):
        gptlib.load_gpt2(ckpt)
    with pytest.raises(ValueError, match="is a file"):
        gptlib.load_gpt2(ckpt / "config.json")


def test_params_with_wrong_shapes_are_refused(small_model):
    config, params = small_model
    broken = weights.unflatten_params(dict(weights.flatten_params(params)), config)
    broken["blocks"][0]["attn"]["c_attn"]["w"] = np.zeros((32, 32), np.float32)
    with pytest.raises(ValueError, match=r"blocks\.0\.attn\.c_attn\.w: expected \(32, 96\), found \(32, 32\)"):
        gptlib.NumpyGPT(config, broken)
    with pytest.raises(ValueError, match=r"blocks\.0\.attn\.c_attn\.w"):
        gptlib.GPT.from_params(config, broken, device="cpu")


def test_a_failed_save_keeps_the_old_checkpoint(small_model, tmp_path, monkeypatch):
    config, params = small_model
    folder = gptlib.save_checkpoint(tmp_path / "run", config, params)
    before = (folder / "model.safetensors").read_bytes()

    def crash_half_way(tensors, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(weights, "save_file", crash_half_way)
    with pytest.raises(OSError, match="disk full"):
        gptlib.save_checkpoint(folder, config, params)
    assert (folder / "model.safetensors").read_bytes() == before
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]  # no temp files left


def test_hub_names_map_to_repositories_and_offline_is_explained(monkeypatch):
    import huggingface_hub

    asked = []

    def offline(repo_id, **kwargs):
        asked.append((repo_id, kwargs["allow_patterns"]))
        raise ConnectionError("no network")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline)
    with pytest.raises(MissingDataError, match=r"(?s)could not download 'openai-community/gpt2-medium'.*local folder"):
        gptlib.load_gpt2("gpt2-medium")
    assert asked == [("openai-community/gpt2-medium", ["config.json", "model.safetensors"])]


def hub_cache_snapshot(checkpoint: Path, root: Path, blob_name: str | None = None) -> Path:
    """huggingface_hub's cache layout: blobs named by their sha256, a snapshot folder of links."""
    snapshot = root / "snapshots" / "0123456789abcdef"
    snapshot.mkdir(parents=True)
    shutil.copy(checkpoint / "config.json", snapshot / "config.json")
    weights_file = checkpoint / "model.safetensors"
    blob = root / "blobs" / (blob_name or hashlib.sha256(weights_file.read_bytes()).hexdigest())
    blob.parent.mkdir()
    shutil.copy(weights_file, blob)
    (snapshot / "model.safetensors").symlink_to(blob)
    return snapshot


def test_hub_download_is_read_from_the_returned_folder(small_checkpoint, monkeypatch, tmp_path):
    import huggingface_hub

    snapshot = hub_cache_snapshot(small_checkpoint[0], tmp_path)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda repo_id, **kw: str(snapshot))
    config, _ = gptlib.load_gpt2("gpt2")
    assert config.n_embd == 32


def test_a_damaged_hub_download_is_refused(small_checkpoint, monkeypatch, tmp_path):
    import huggingface_hub

    snapshot = hub_cache_snapshot(small_checkpoint[0], tmp_path, blob_name="ab" * 32)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda repo_id, **kw: str(snapshot))
    with pytest.raises(ChecksumError, match="hub publishes abab.*damaged"):
        gptlib.load_gpt2("gpt2")


@pytest.mark.parametrize("published_is_right", [True, False])
def test_without_links_the_hub_is_asked_for_the_sha256(small_checkpoint, monkeypatch, tmp_path,
                                                        published_is_right):
    """On a system without symbolic links the snapshot holds copies: ask the hub's API."""
    import huggingface_hub

    snapshot = tmp_path / "snapshots" / "0123456789abcdef"
    shutil.copytree(small_checkpoint[0], snapshot)
    right = hashlib.sha256((snapshot / "model.safetensors").read_bytes()).hexdigest()
    asked = []

    def get_paths_info(self, repo_id, paths, revision=None):
        asked.append((repo_id, paths, revision))
        lfs = types.SimpleNamespace(sha256=right if published_is_right else "0" * 64)
        return [types.SimpleNamespace(lfs=lfs)]

    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda repo_id, **kw: str(snapshot))
    monkeypatch.setattr(huggingface_hub.HfApi, "get_paths_info", get_paths_info)
    if published_is_right:
        assert gptlib.load_gpt2("gpt2")[0].n_embd == 32
    else:
        with pytest.raises(ChecksumError, match="damaged"):
            gptlib.load_gpt2("gpt2")
    assert asked == [("openai-community/gpt2", ["model.safetensors"], "0123456789abcdef")]


def test_the_bundled_shakespeare_model_loads_by_name_and_in_transformers():
    from transformers import GPT2LMHeadModel

    config, params = gptlib.load_gpt2("shakespeare")
    theirs = GPT2LMHeadModel.from_pretrained(weights.BUNDLED_MODELS["shakespeare"]).eval()
    ids = np.array([[5, 80, 300, 12, 999, 7]])
    np.testing.assert_allclose(gptlib.gpt2_numpy(ids[0], params, config), hf_logits(theirs, ids)[0], atol=1e-4, rtol=0)
    assert gptlib.shakespeare_tokenizer().n_vocab == config.vocab_size
