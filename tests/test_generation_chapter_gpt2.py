"""Chapter 7 keeps its promise that its cells run unchanged with GPT-2 swapped in (issue 11).

The chapter's first code cell reads the model from $GPTLIB_BOOK_MODEL. Here that is a checkpoint
with GPT-2's vocabulary (50,257 tokens) and context (1,024), random weights, read with GPT-2's
real tokenizer: every prompt, batch, stop token and context error of the chapter must work with
that tokenizer and that context. The model is narrower than GPT-2 small (2 layers of width 64)
so that the chapter runs in about a minute; the cells depend on the vocabulary, the tokenizer
and n_ctx, not on the width or depth.
"""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

import gptlib

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = ROOT / "chapters" / "07_generation.ipynb"


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gpt2_shaped")
    config = gptlib.GPTConfig(vocab_size=50257, n_ctx=1024, n_embd=64, n_head=2, n_layer=2)
    gptlib.save_checkpoint(folder, config, gptlib.GPT(config).to_params())
    nb = nbformat.read(CHAPTER, as_version=4)
    mp = pytest.MonkeyPatch()
    mp.setenv("GPTLIB_BOOK_MODEL", str(folder))  # the kernel inherits it
    try:
        NotebookClient(nb, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": str(CHAPTER.parent)}}).execute()
    finally:
        mp.undo()
    return nb


def outputs(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out["output_type"] == "stream":
            parts.append(out["text"])
        elif out["output_type"] == "error":
            parts.append(f"{out['ename']}: {out['evalue']}")
    return "".join(parts)


def test_every_cell_runs_with_gpt2s_vocabulary_tokenizer_and_context(executed):
    setup = next(c for c in executed.cells if "GPTLIB_BOOK_MODEL" in c.source)
    assert "vocab_size=50257, n_ctx=1024" in outputs(setup)
    assert "a vocabulary of 50257 tokens" in outputs(setup)
    for cell in executed.cells:
        if cell.cell_type == "code" and "raises-exception" not in cell.metadata.get("tags", []):
            assert not any(o["output_type"] == "error" for o in cell.outputs), (
                f"this cell fails with GPT-2's tokenizer and context:\n{cell.source}\n"
                f"{outputs(cell)}")


def test_the_deliberate_errors_are_the_ones_the_text_describes(executed):
    errors = [outputs(c) for c in executed.cells
              if "raises-exception" in c.metadata.get("tags", [])]
    assert len(errors) == 2
    assert errors[0].startswith("ValueError: top_p")
    assert errors[1].startswith("ValueError") and "1025 tokens" in errors[1]
    assert "n_ctx=1024" in errors[1]


def test_the_stop_token_is_gpt2s_end_of_text(executed):
    stop = next(c for c in executed.cells if c.source.startswith("eos_id ="))
    assert outputs(stop).startswith("eos_id 50256;")
