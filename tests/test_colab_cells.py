"""Every chapter opens in Colab: its first code cell begins with the install block of chapter 0
(the lines before the first blank line), word for word; the chapter's own imports may follow.
That block installs gptlib from the book's repository in Colab and does nothing anywhere else (in
particular inside the repository, where gptlib is importable already)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))
REFERENCE = ROOT / "chapters" / "00_first_look.ipynb"


def first_code_cell(path: Path) -> dict:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return next(cell for cell in cells if cell["cell_type"] == "code")


def source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def install_block(cell: dict) -> str:
    """The lines of a cell before its first blank line."""
    return source(cell).split("\n\n", 1)[0].rstrip("\n")


INSTALL_CELL = install_block(first_code_cell(REFERENCE))


@pytest.mark.parametrize("path", CHAPTERS + [ROOT / "book" / "playground.ipynb"], ids=lambda p: p.name)
def test_first_code_cell_is_the_colab_install_cell(path):
    cell = first_code_cell(path)
    assert INSTALL_CELL.startswith("# In Google Colab, install gptlib first")
    assert install_block(cell) == INSTALL_CELL, \
        f"{path.name}: the first code cell does not begin with chapter 0's install block"
    assert all(len(line) <= 100 for line in INSTALL_CELL.splitlines()), "lines wider than the column"
    assert "hide-input" in cell["metadata"].get("tags", []), f"{path.name}: the install cell is not tagged hide-input"
    assert not any(o.get("output_type") == "error" for o in cell.get("outputs", []))


def test_install_cell_installs_from_the_books_repository():
    repository = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))["repository"]["url"]
    assert f"git+{repository.rstrip('/')}" in INSTALL_CELL


# The cell runs in a fresh interpreter with subprocess.run replaced by a recorder, so nothing is
# installed; SCENARIO sets up the two things the cell looks at.
HARNESS = """
import importlib.util, json, subprocess, sys, types
calls = []
subprocess.run = lambda *args, **kwargs: calls.append([list(args[0]), kwargs])
{scenario}
exec(compile({cell!r}, "install-cell", "exec"), {{}})
print(json.dumps(calls))
"""

IN_COLAB = 'sys.modules["google.colab"] = types.ModuleType("google.colab")'
GPTLIB_MISSING = """
real_find_spec = importlib.util.find_spec
importlib.util.find_spec = lambda name, *a: None if name == "gptlib" else real_find_spec(name, *a)
"""


def run_install_cell(scenario: str, cwd: Path) -> list:
    code = HARNESS.format(scenario=scenario, cell=INSTALL_CELL)
    result = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_install_cell_does_nothing_inside_the_repository():
    assert run_install_cell("", ROOT) == []


def test_install_cell_does_nothing_in_colab_when_gptlib_is_there():
    assert run_install_cell(IN_COLAB, ROOT) == []


def test_install_cell_does_nothing_outside_colab_even_without_gptlib(tmp_path):
    assert run_install_cell(GPTLIB_MISSING, tmp_path) == []


def test_install_cell_pip_installs_gptlib_in_a_fresh_colab(tmp_path):
    calls = run_install_cell(IN_COLAB + GPTLIB_MISSING, tmp_path)
    assert len(calls) == 1, calls
    command, kwargs = calls[0]
    assert command[:4] == [sys.executable, "-m", "pip", "install"]
    assert any(arg.startswith("gptlib[book] @ git+https://") for arg in command), command
    assert kwargs.get("check") is True  # a failed install stops the notebook at once
