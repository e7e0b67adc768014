"""The student edition: the chapters with their answers taken out, as nbgrader's
``generate_assignment`` would (same stubs), with no outputs."""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat

from ..files import atomic_write
from .notebook import BEGIN, CODE_STUB, DIRECTIVE, END, MARKER_LINE, TEXT_STUB, is_solution


def strip_solution(source: str, stub=CODE_STUB, where: str = "a cell") -> str:
    """Replace each ``# BEGIN SOLUTION`` ... ``# END SOLUTION`` region by ``stub``, indented like
    its ``BEGIN`` line, so a solution inside a function body leaves a function that raises."""
    kept, inside = [], False
    for number, line in enumerate(source.splitlines(), start=1):
        marker = MARKER_LINE.match(line)
        if marker and marker[1] == "BEGIN":
            if inside:
                raise ValueError(f"{where}, line {number}: {BEGIN!r} inside another solution region")
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            kept.extend(indent + stub_line for stub_line in stub)
        elif marker:
            if not inside:
                raise ValueError(f"{where}, line {number}: {END!r} with no {BEGIN!r} before it")
            inside = False
        elif not inside:
            kept.append(line)
    if inside:
        raise ValueError(f"{where}: {BEGIN!r} has no matching {END!r}")
    return "\n".join(kept)


def drop_solution_blocks(text: str, where: str = "a cell") -> str:
    """Remove sphinx-exercise ``{solution}`` blocks (worked answers) from a markdown cell's text.

    The gated ``{solution-start}``/``{solution-end}`` lines stay: the code cell between them is
    the student's to fill in (nbgrader keeps them too).
    """
    kept, closing = [], None  # closing: (fence character, length) of the block being dropped
    for line in text.splitlines():
        if closing is not None:
            stripped = line.strip()
            if stripped and set(stripped) == {closing[0]} and len(stripped) >= closing[1]:
                closing = None
            continue
        opened = DIRECTIVE.match(line)
        if opened and opened["name"] == "solution":
            closing = (opened["fence"][0], len(opened["fence"]))
            continue
        kept.append(line)
    return "\n".join(kept)  # MyST closes a directive left open at the end of a cell, and so do we


def _student_cell(cell, where: str):
    """The cell as the student gets it, or None to leave it out."""
    if cell.cell_type == "markdown":
        if is_solution(cell):  # nbgrader: markers -> stub in place, no markers -> the whole cell
            cell.source = strip_solution(cell.source, (TEXT_STUB,), where) if BEGIN in cell.source else TEXT_STUB
            return cell
        text = drop_solution_blocks(cell.source, where)
        if cell.source.strip() and not text.strip():
            return None  # the cell held only a worked answer
        cell.source = text
        return cell
    if cell.cell_type == "code":
        if is_solution(cell):
            if not any(MARKER_LINE.match(line) for line in cell.source.splitlines()):
                if "nbgrader" not in cell.metadata:
                    raise ValueError(f"{where} is tagged 'solution' but has no {BEGIN!r} ... {END!r} lines")
                cell.source = "\n".join(CODE_STUB)
            else:
                cell.source = strip_solution(cell.source, CODE_STUB, where)
            cell.metadata.get("jupyter", {}).pop("source_hidden", None)  # the student must see it
        cell.outputs = []
        cell.execution_count = None
        cell.metadata.pop("execution", None)  # timings of the author's run
    return cell


def student_notebook(notebook, name: str = "notebook"):
    """A copy of ``notebook`` with its answers replaced by stubs and no outputs."""
    notebook = copy.deepcopy(notebook)
    notebook.metadata.pop("widgets", None)  # saved widget state is output too
    cells = []
    for index, cell in enumerate(notebook.cells):
        kept = _student_cell(cell, f"{name}, cell {index}")
        if kept is not None:
            cells.append(kept)
    notebook.cells = cells
    return notebook


def write_student_edition(notebooks, out_dir) -> list[Path]:
    """Write the student edition of each notebook into ``out_dir``; return the paths written."""
    out_dir = Path(out_dir)
    paths = [Path(p) for p in notebooks]
    if not paths:
        raise ValueError("no notebooks given (and no chapters/*.ipynb in the current folder)")
    for path in paths:
        if path.suffix != ".ipynb":
            raise ValueError(f"{path} is not a notebook (.ipynb)")
        if not path.is_file():
            raise ValueError(f"{path}: no such notebook")
        if path.resolve().parent == out_dir.resolve():
            raise ValueError(f"--out {out_dir} holds {path.name} itself: the solutions would be overwritten")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in paths:
        student = student_notebook(nbformat.read(path, as_version=4), name=path.name)
        nbformat.validate(student)
        target = out_dir / path.name
        text = nbformat.writes(student) + "\n"
        atomic_write(target, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
        written.append(target)
    return written
