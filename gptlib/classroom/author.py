"""Tools for chapter authors: write an exercise's cells, convert the older format, check a chapter.

    python -m gptlib.classroom.author add-exercise NOTEBOOK ID --solution FILE [--statement FILE] [--before TEXT]
    python -m gptlib.classroom.author convert NOTEBOOK ...
    python -m gptlib.classroom.author lint NOTEBOOK ...
    python -m gptlib.classroom.author list

The cells, their order and their metadata are those of book/teachers.md ("The exercise format");
the exercise's title, kind, difficulty and points come from its declaration in
gptlib/exercises/chNN_*.py, so the notebook and the checker cannot disagree.
"""

from __future__ import annotations

import argparse
import ast
import re
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell

from ..exercises import Explanation, Prediction, all_exercises, find, points_of
from ..files import atomic_write
from .lint import lint
from .notebook import (
    CHECK_CALL, DIRECTIVE, LABEL_OPTION, exercise_title, has_markers, is_solution, label_of, nbgrader,
    nbgrader_metadata,
)

SOLUTION_START = ":::{{solution-start}} {label}\n:class: dropdown\n:::"
SOLUTION_END = ":::{solution-end}\n:::"
OLD_CHECK_LINE = re.compile(r"^_\s*=\s*(?P<call>check\(.*\))\s*(#.*)?$")


# --- building the cells ----------------------------------------------------------------------------


def statement_cell(exercise_id: str, body: str):
    exercise = find(exercise_id)
    text = f"::::{{exercise}} {exercise_title(exercise)}\n:label: {label_of(exercise_id)}\n\n{body.strip()}\n::::"
    return new_markdown_cell(text)


def check_source(exercise_id: str, solution: str) -> str:
    """``check("id", f, g)`` with the functions the solution defines (or the name a prediction binds)."""
    tree = ast.parse(solution)
    if isinstance(find(exercise_id), Prediction):
        names = [t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets
                 if isinstance(t, ast.Name)][:1]
    else:
        names = [node.name for node in tree.body if isinstance(node, ast.FunctionDef)]
    if not names:
        raise ValueError(f"{exercise_id}: the solution defines no function (or prediction) to check")
    return f'check("{exercise_id}", {", ".join(names)})'


def exercise_cells(exercise_id: str, body: str, solution: str) -> list:
    """The cells of one exercise: statement, then the gated solution and the check, or the answer."""
    exercise = find(exercise_id)
    label, points = label_of(exercise_id), points_of(exercise)
    if isinstance(exercise, Explanation):
        answer = new_markdown_cell(f":::{{solution}} {label}\n:class: dropdown\n\n{solution.strip()}\n:::")
        answer.metadata["nbgrader"] = nbgrader_metadata(exercise_id, "answer", points)
        return [statement_cell(exercise_id, body), answer]
    if not has_markers(solution):
        raise ValueError(f"{exercise_id}: the solution has no '# BEGIN SOLUTION' / '# END SOLUTION' lines")
    code = new_code_cell(solution.strip("\n"))
    code.metadata["nbgrader"] = nbgrader_metadata(exercise_id, "solution")
    check = new_code_cell(check_source(exercise_id, solution))
    check.metadata["nbgrader"] = nbgrader_metadata(exercise_id, "check", points)
    return [statement_cell(exercise_id, body), new_markdown_cell(SOLUTION_START.format(label=label)), code,
            new_markdown_cell(SOLUTION_END), check]


def _directive(cell, name: str):
    """(argument, label) of the first ``{name}`` directive in a markdown cell, or None."""
    if cell.cell_type != "markdown":
        return None
    lines = cell.source.splitlines()
    for i, line in enumerate(lines):
        opened = DIRECTIVE.match(line)
        if opened and opened["name"] == name:
            labels = [m["label"] for m in map(LABEL_OPTION.match, lines[i + 1: i + 4]) if m]
            return opened["argument"].strip(), (labels[0] if labels else opened["argument"].strip())
    return None


def exercise_span(notebook, exercise_id: str) -> tuple[int, int] | None:
    """(first, last) cell index of an exercise already in the notebook, found by its label."""
    label = label_of(exercise_id)
    starts = [i for i, c in enumerate(notebook.cells) if (_directive(c, "exercise") or ("", ""))[1] == label]
    if not starts:
        return None
    ends = [i for i, c in enumerate(notebook.cells) if i > starts[0] and nbgrader(c).get("grade_id") in
            (f"{label}-check", f"{label}-answer")]
    return starts[0], (ends[0] if ends else starts[0])


def add_exercise(path, exercise_id: str, solution: str, body: str, before: str | None = None) -> None:
    """Insert the exercise's cells (before the first markdown cell containing ``before``, else at
    the end), or replace them where the exercise already is."""
    notebook = nbformat.read(path, as_version=4)
    cells = exercise_cells(exercise_id, body, solution)
    span = exercise_span(notebook, exercise_id)
    if span is not None:
        notebook.cells[span[0]: span[1] + 1] = cells
    else:
        places = [i for i, c in enumerate(notebook.cells) if before and c.cell_type == "markdown" and before in c.source]
        at = places[0] if places else len(notebook.cells)
        notebook.cells[at:at] = cells
    _write(path, notebook)


def _write(path, notebook) -> None:
    nbformat.validate(notebook)
    text = nbformat.writes(notebook) + "\n"
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


# --- converting the older format ---------------------------------------------------------------------


def _rewrite_statement(text: str, exercise_id: str) -> tuple[str, str | None]:
    """The statement with a new ``::::{exercise}`` opening (title, label); returns (text, old label)."""
    lines, out, old_label, i = text.splitlines(), [], None, 0
    while i < len(lines):
        opened = DIRECTIVE.match(lines[i])
        if not (opened and opened["name"] == "exercise"):
            out.append(lines[i])
            i += 1
            continue
        fence, i = opened["fence"], i + 1
        out += [f"::::{{exercise}} {exercise_title(find(exercise_id))}", f":label: {label_of(exercise_id)}"]
        while i < len(lines) and re.match(r"^\s*:[\w-]+:", lines[i]):  # the options
            label = LABEL_OPTION.match(lines[i])
            old_label = label["label"] if label else old_label
            i += 1
        while i < len(lines) and lines[i].strip() != fence:
            out.append(lines[i])
            i += 1
        out.append("::::")
        out += lines[i + 1:]
        break
    return "\n".join(out), old_label


def _convert_one(notebook, index: int, exercise_id: str, check_index: int) -> int:
    """Convert the exercise whose solution is cell ``index``; return how many cells were added."""
    statements = [i for i in range(index) if _directive(notebook.cells[i], "exercise")]
    if statements:
        cell = notebook.cells[statements[-1]]
        cell.source, old_label = _rewrite_statement(cell.source, exercise_id)
        if old_label and old_label != label_of(exercise_id):
            for other in notebook.cells:
                if other.cell_type == "markdown":
                    other.source = re.sub(rf"(?<![\w-]){re.escape(old_label)}(?![\w-])", label_of(exercise_id), other.source)
    check = notebook.cells[check_index]
    check.source = "\n".join(OLD_CHECK_LINE.sub(r"\g<call>", line) for line in check.source.splitlines())
    check.metadata["nbgrader"] = nbgrader_metadata(exercise_id, "check", points_of(find(exercise_id)))
    solution = notebook.cells[index]
    tags = [t for t in solution.metadata.get("tags", []) if t not in ("solution", "hide-input")]
    solution.metadata.pop("tags", None)
    if tags:
        solution.metadata["tags"] = tags
    solution.metadata.get("jupyter", {}).pop("source_hidden", None)
    solution.metadata["nbgrader"] = nbgrader_metadata(exercise_id, "solution")
    notebook.cells[index + 1: index + 1] = [new_markdown_cell(SOLUTION_END)]
    notebook.cells[index:index] = [new_markdown_cell(SOLUTION_START.format(label=label_of(exercise_id)))]
    return 2


def convert(path) -> list[str]:
    """Convert every older-format exercise of a notebook in place; return the ids converted."""
    notebook = nbformat.read(path, as_version=4)
    old = [i for i, c in enumerate(notebook.cells) if is_solution(c) and "nbgrader" not in c.metadata]
    converted = []
    for index in reversed(old):
        after = [j for j in range(index + 1, len(notebook.cells)) if notebook.cells[j].cell_type == "code"
                 and CHECK_CALL.search(notebook.cells[j].source)]
        if not after:
            raise ValueError(f"{path}, cell {index}: a solution with no check(...) after it")
        exercise_id = CHECK_CALL.search(notebook.cells[after[0]].source)["id"]
        _convert_one(notebook, index, exercise_id, after[0])
        converted.append(exercise_id)
    _write(path, notebook)
    return converted[::-1]


# --- command line ------------------------------------------------------------------------------------


def _list() -> None:
    """Each declared exercise: id, kind, difficulty, points (a chapter needs >= 2 beyond Derive)."""
    for exercise_id, exercise in all_exercises().items():
        stars = exercise_title(exercise).split()[0]
        print(f"{exercise_id:32} {exercise.kind:8} {stars} {points_of(exercise)} point(s)  {exercise.title}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gptlib.classroom.author", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add-exercise", help="insert or update one exercise's cells")
    add.add_argument("notebook")
    add.add_argument("exercise_id", metavar="ID", help="e.g. ch05.rms_norm (declared in gptlib/exercises)")
    add.add_argument("--solution", required=True, metavar="FILE",
                     help="the solution code with its markers (for an Explain: the model answer, markdown)")
    add.add_argument("--statement", metavar="FILE", help="the statement's body and hints, markdown")
    add.add_argument("--before", metavar="TEXT", help="insert before the first markdown cell containing TEXT")
    for name, text in (("convert", "convert older-format exercises in place"), ("lint", "check the format")):
        commands.add_parser(name, help=text).add_argument("notebooks", nargs="+", metavar="NOTEBOOK")
    commands.add_parser("list", help="list the declared exercises")
    args = parser.parse_args(argv)
    try:
        if args.command == "add-exercise":
            body = Path(args.statement).read_text(encoding="utf-8") if args.statement else "(statement)"
            add_exercise(args.notebook, args.exercise_id, Path(args.solution).read_text(encoding="utf-8"),
                         body, args.before)
            print(f"{args.notebook}: wrote {args.exercise_id}")
        elif args.command == "convert":
            for path in args.notebooks:
                print(f"{path}: converted {', '.join(convert(path)) or 'nothing'}")
        elif args.command == "list":
            _list()
        else:
            problems = [p for path in args.notebooks for p in lint(nbformat.read(path, as_version=4), path)]
            print("\n".join(problems) or f"{len(args.notebooks)} notebook(s): the exercises follow the format")
            return 1 if problems else 0
    except (ValueError, KeyError) as err:
        parser.error(str(err))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
