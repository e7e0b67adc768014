"""Data-parallel training: torchrun, 2 processes on CPU with gloo, against one process."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

import gptlib

REPO = Path(__file__).resolve().parents[1]
# dropout off: each process draws its own dropout masks, which one process cannot reproduce.
# float64: DDP guarantees the same gradient as one process up to the order of the sums (its
# all-reduce adds the two half-batch means); in float32 that order changes the last bits, and
# 20 AdamW steps, which divide by the root of tiny second moments, grew it to 4e-5 on an Intel
# CPU. In float64 the same reordering stays below 1e-13 (8.7e-15 measured), while a process
# that trained on its half batch alone would be off by 3e-2: atol 1e-10 separates the two.
ARGS = ["--preset", "tiny", "--no-progress", "--dropout", "0", "--max-iters", "20", "--batch-size", "8",
        "--dtype", "float64", "--threads", "1"]


@pytest.mark.skipif(not __import__("torch").distributed.is_available(), reason="torch.distributed is not built")
def test_two_gloo_processes_match_one_process_with_the_same_global_batch(tmp_path):
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or shutil.which("torchrun")
    assert torchrun, "torchrun is not installed beside python"
    single, ddp = tmp_path / "single", tmp_path / "ddp"
    subprocess.run([sys.executable, "-m", "gptlib.train", *ARGS, "--out", str(single)], cwd=REPO, check=True,
                   capture_output=True, timeout=300)
    result = subprocess.run(
        [torchrun, "--standalone", "--nproc_per_node", "2", "-m", "gptlib.train", *ARGS, "--out", str(ddp)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]

    one = json.loads((single / "metrics.json").read_text())
    two = json.loads((ddp / "metrics.json").read_text())
    assert (one["world_size"], two["world_size"]) == (1, 2)
    # each process saw half of the global batch (4 of 8 windows); DDP averaged the gradients
    np.testing.assert_allclose(two["history"]["loss"], one["history"]["loss"], rtol=1e-12)
    assert one["history"]["loss"][-1] < one["history"]["loss"][0] - 0.3  # and training did something
    np.testing.assert_allclose(two["val_loss"], one["val_loss"], rtol=1e-12)

    a, b = load_file(single / "model.safetensors"), load_file(ddp / "model.safetensors")
    assert a["transformer.wte.weight"].dtype == np.float64
    for name in a:
        np.testing.assert_allclose(b[name], a[name], rtol=0, atol=1e-10, err_msg=name)
    gptlib.load_gpt2(ddp)  # rank 0 wrote a normal checkpoint
