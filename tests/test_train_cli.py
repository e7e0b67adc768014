"""`python -m gptlib.train`: outputs, refusals, and exact resume after SIGKILL."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

import gptlib
from gptlib.training import latest_checkpoint

REPO = Path(__file__).resolve().parents[1]


def run_cli(*args, check=True, timeout=120):
    result = subprocess.run(
        [sys.executable, "-m", "gptlib.train", *map(str, args)],
        cwd=REPO, capture_output=True, text=True, timeout=timeout,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}")
    return result


def test_tiny_preset_writes_a_loadable_checkpoint_and_metrics(tmp_path):
    out = tmp_path / "run"
    run_cli("--preset", "tiny", "--out", out, "--no-progress")
    config, params = gptlib.load_gpt2(out)
    assert (config.n_layer, config.n_embd, config.n_ctx) == (2, 32, 32)

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps"] == 30
    assert len(metrics["history"]["loss"]) == 30
    assert metrics["elapsed_s"] > 0
    # the loss must have fallen from chance (ln vocab) at the start
    assert metrics["history"]["loss"][0] == pytest.approx(np.log(config.vocab_size), abs=0.3)
    assert metrics["val_loss"] < metrics["history"]["loss"][0] - 0.3

    # the reported val loss is what the saved weights give on the held-out text (HF's loss as reference)
    from transformers import GPT2LMHeadModel

    hf = GPT2LMHeadModel.from_pretrained(out).eval()
    text = gptlib.data.load_text()[:20_000]
    tok = gptlib.training.CharTokenizer.from_text(text)
    _, val = gptlib.training.encode_corpus(text, tok)
    starts = np.random.default_rng(0).integers(0, len(val) - 32, size=64)
    ids = torch.as_tensor(np.stack([val[i : i + 32] for i in starts]))  # [64, 32] held-out windows
    with torch.no_grad():
        hf_loss = hf(ids, labels=ids).loss.item()
    assert hf_loss < metrics["history"]["loss"][0] - 0.3  # trained
    assert abs(hf_loss - metrics["val_loss"]) < 0.15  # and val_loss measures the held-out text


@pytest.mark.parametrize(
    "args, message",
    [
        (["--preset", "no-such-preset"], "unknown preset 'no-such-preset'"),
        (["--preset", "tiny", "--lr", "-0.001"], "learning rate lr must be a positive number"),
        (["--preset", "tiny", "--batch-size", "100000"], "batch_size=100000 is larger than the data"),
        (["--preset", "tiny", "--block-size", "50000"], "no window fits"),
        (["--preset", "tiny", "--n-head", "3"], "divisible by n_head"),
        (["--preset", "tiny", "--dropout", "1.5"], "dropout must be in [0, 1)"),
        (["--preset", "tiny", "--max-iters", "0"], "max_iters must be a positive integer"),
        (["--preset", "tiny", "--tokenizer", "words"], "tokenizer must be 'char' or 'bpe'"),
    ],
)
def test_bad_values_are_refused_clearly(tmp_path, capsys, args, message):
    from gptlib.train import main

    try:  # in-process (fast): argparse exits with status 2, a refused run returns 2
        status = main([*args, "--out", str(tmp_path / "bad"), "--no-progress"])
    except SystemExit as exit_:
        status = exit_.code
    assert status == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "bad" / "model.safetensors").exists()


def test_bad_value_from_the_shell_exits_2_without_a_traceback(tmp_path):
    result = run_cli("--preset", "tiny", "--lr", "-1", "--out", tmp_path / "bad", check=False)
    assert result.returncode == 2
    assert "learning rate lr must be a positive number" in result.stderr
    assert "Traceback" not in result.stderr


def test_resume_with_other_settings_is_refused(tmp_path):
    out = tmp_path / "run"
    run_cli("--preset", "tiny", "--out", out, "--no-progress", "--max-iters", "12")
    result = run_cli("--preset", "tiny", "--out", out, "--no-progress", "--max-iters", "12", "--lr", "1e-2",
                     "--resume", check=False)
    assert result.returncode == 2 and "different settings" in result.stderr


def _final_weights(folder):
    return load_file(folder / "model.safetensors")


def test_sigkill_then_resume_is_bit_identical_to_an_uninterrupted_run(tmp_path):
    # dropout is on in the tiny preset, so the torch RNG state must be restored too
    common = ["--preset", "tiny", "--no-progress", "--max-iters", "120", "--checkpoint-interval", "10"]
    straight, broken = tmp_path / "straight", tmp_path / "broken"
    run_cli(*common, "--out", straight)

    proc = subprocess.Popen([sys.executable, "-m", "gptlib.train", *common, "--out", str(broken)], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while not (broken / "latest.json").exists():
        assert proc.poll() is None, "the run ended before writing a checkpoint"
        assert time.time() < deadline, "no checkpoint appeared within 60 s"
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (broken / "metrics.json").exists(), "the run finished before it was killed"
    killed_at = json.loads((broken / "latest.json").read_text())["step"]
    assert 10 <= killed_at < 120

    run_cli(*common, "--out", broken, "--resume")
    a, b = _final_weights(straight), _final_weights(broken)
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)  # bit for bit
    ma = json.loads((straight / "metrics.json").read_text())
    mb = json.loads((broken / "metrics.json").read_text())
    assert ma["history"]["loss"] == mb["history"]["loss"]
    assert ma["val_loss"] == mb["val_loss"]


def test_checkpoint_folders_are_loadable_and_complete(tmp_path):
    out = tmp_path / "run"
    run_cli("--preset", "tiny", "--out", out, "--no-progress", "--keep-checkpoints")
    folders = sorted(out.glob("checkpoint-*"))
    assert [f.name for f in folders] == ["checkpoint-0000010", "checkpoint-0000020"]
    assert latest_checkpoint(out) == folders[-1]
    for folder in folders:
        gptlib.load_gpt2(folder)
        state = json.loads((folder / "train_state.json").read_text())
        assert state["step"] == int(folder.name.split("-")[1])
        tensors = load_file(folder / "train_state.safetensors")
        assert tensors["rng.torch"].dtype == np.uint8
        assert any(k.endswith("exp_avg_sq") for k in tensors)
    assert not list(out.glob(".*tmp*")), "temporary files were left behind"
    # no pickle anywhere in the output
    for path in out.rglob("*"):
        if path.is_file():
            assert not path.read_bytes().startswith(b"\x80"), path
