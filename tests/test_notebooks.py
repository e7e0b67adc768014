"""Checks on the stored chapter notebooks that nbval itself does not make.

The rules are CONTRIBUTING.md's "What a chapter stores": every cell is stored executed; none is
skipped; an output nbval ignores is marked with a cell tag (a reader never sees a test marker)
and its first line says why; a deliberate error is stored as its type and message only; nothing
stored shows a path of the machine that ran the chapter.
"""

import json
import re
from pathlib import Path

import pytest

CHAPTERS = sorted((Path(__file__).resolve().parents[1] / "chapters").glob("*.ipynb"))
# What a path on the machine that executed a chapter looks like in its stored outputs.
MACHINE_PATH = re.compile(r"(/work/|/root/|/home/\w+/|/tmp/|site-packages|\.venv/|[A-Z]:\\\\Users)")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def code_cells(path):
    return [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]


def output_text(output) -> str:
    if output["output_type"] == "stream":
        return "".join(output["text"])
    if output["output_type"] == "error":
        return ANSI.sub("", "\n".join(output["traceback"]))
    data = output.get("data", {})
    return "".join("".join(data[m]) for m in ("text/plain", "text/html") if m in data)


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_is_stored_executed_and_honest(path):
    for cell in code_cells(path):
        source = "".join(cell["source"])
        tags = cell.get("metadata", {}).get("tags", [])
        assert "NBVAL_" not in source, (
            f"{path.name}: readers would see a test marker; use the cell tag nbval-ignore-output "
            f"(or raises-exception) instead:\n{source}")
        if "nbval-ignore-output" in tags:
            first = source.lstrip().splitlines()[0] if source.strip() else ""
            assert first.startswith("#"), (
                f"{path.name}: a cell whose output nbval ignores says why in its first line, "
                f"as a comment a reader understands:\n{source}")
        assert "nbval-skip" not in tags, f"{path.name}: no skipped cells:\n{source}"
        if source.strip():
            assert cell["execution_count"] is not None, f"{path.name}: a cell is stored without running:\n{source}"
        errors = [o for o in cell.get("outputs", []) if o["output_type"] == "error"]
        assert not errors or "raises-exception" in tags, f"{path.name}: stored error in\n{source}"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_stored_outputs_show_no_machine_paths_or_tracebacks(path):
    for cell in code_cells(path):
        source = "".join(cell["source"])
        for output in cell.get("outputs", []):
            text = output_text(output)
            found = MACHINE_PATH.search(text)
            assert not found, (f"{path.name}: a stored output shows the path {found.group(0)!r} of the "
                               f"machine that ran it:\n{source}\n---\n{text[:500]}")
            if output["output_type"] == "error":
                assert "Traceback" not in text and "File " not in text, (
                    f"{path.name}: a deliberate error is shown with its traceback; show its type and "
                    f"message only:\n{source}\n---\n{text[:500]}")
