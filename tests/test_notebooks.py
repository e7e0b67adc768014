"""Checks on the stored chapter notebooks that nbval itself does not make."""

import json
from pathlib import Path

import pytest

CHAPTERS = sorted((Path(__file__).resolve().parents[1] / "chapters").glob("*.ipynb"))


def code_cells(path):
    return [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_is_stored_executed_and_honest(path):
    for cell in code_cells(path):
        source = "".join(cell["source"])
        tags = cell.get("metadata", {}).get("tags", [])
        lines = [line.strip() for line in source.splitlines()]
        # nbval only honours the marker when the comment is exactly "# NBVAL_IGNORE_OUTPUT".
        assert not any(line.startswith("# NBVAL_IGNORE_OUTPUT") and line != "# NBVAL_IGNORE_OUTPUT" for line in lines), (
            f"{path.name}: put the reason on the line after '# NBVAL_IGNORE_OUTPUT':\n{source}"
        )
        if "# NBVAL_IGNORE_OUTPUT" in lines:
            following = lines[lines.index("# NBVAL_IGNORE_OUTPUT") + 1 :]
            assert following and following[0].startswith("#"), f"{path.name}: say why the output is ignored:\n{source}"
        assert "NBVAL_SKIP" not in source and "nbval-skip" not in tags, f"{path.name}: no skipped cells"
        if source.strip():
            assert cell["execution_count"] is not None, f"{path.name}: a cell is stored without running:\n{source}"
        errors = [o for o in cell.get("outputs", []) if o["output_type"] == "error"]
        assert not errors or "raises-exception" in tags, f"{path.name}: stored error in\n{source}"
