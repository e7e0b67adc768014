"""Checks that a chapter's exercises follow the format of book/teachers.md, cell by cell."""

from __future__ import annotations

import ast
from collections import Counter

from ..exercises import Explanation, all_exercises, points_of
from .notebook import (
    CHECK_CALL, DIRECTIVE, LABEL_OPTION, exercise_title, has_markers, is_solution, label_index, label_of,
    names_of, nbgrader, nbgrader_metadata,
)


def _directives(cell) -> list[tuple[str, str, list[str]]]:
    """(name, argument, the next option lines) of each directive opening in a markdown cell."""
    if cell.cell_type != "markdown":
        return []
    lines = cell.source.splitlines()
    found = []
    for i, line in enumerate(lines):
        opened = DIRECTIVE.match(line)
        if opened:
            found.append((opened["name"], opened["argument"].strip(), [s.strip() for s in lines[i + 1: i + 4]]))
    return found


def _statement(notebook, label: str):
    """(index, title) of the exercise statement with this label, or None."""
    for index, cell in enumerate(notebook.cells):
        for name, argument, options in _directives(cell):
            if name == "exercise" and any((m := LABEL_OPTION.match(o)) and m["label"] == label for o in options):
                return index, argument
    return None


def _gptlib_imports(notebook) -> set[str]:
    names = set()
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("gptlib"):
                names.update(alias.asname or alias.name for alias in node.names)
    return names


def _check_solution_group(notebook, exercise_id: str, exercise, start: int) -> list[str]:
    """The cells after the statement: solution-start, the solution, solution-end, the check."""
    label, cells, problems = label_of(exercise_id), notebook.cells, []
    opening = [i for i in range(start + 1, len(cells)) if ("solution-start", label) in
               [(n, a) for n, a, _ in _directives(cells[i])]]
    if not opening:
        return [f"{exercise_id}: no ':::{{solution-start}} {label}' cell after the statement"]
    i = opening[0]
    if ":class: dropdown" not in cells[i].source:
        problems.append(f"{exercise_id}, cell {i}: the solution-start has no ':class: dropdown'")
    if i + 3 >= len(cells):
        return problems + [f"{exercise_id}: the notebook ends inside the solution"]
    solution, closing, check = cells[i + 1], cells[i + 2], cells[i + 3]
    if solution.cell_type != "code" or nbgrader(solution) != nbgrader_metadata(exercise_id, "solution"):
        problems.append(f"{exercise_id}, cell {i + 1}: expected the solution code cell with its nbgrader metadata")
    elif not has_markers(solution.source):
        problems.append(f"{exercise_id}, cell {i + 1}: no '# BEGIN SOLUTION' / '# END SOLUTION' lines")
    if "solution-end" not in [n for n, _, _ in _directives(closing)]:
        problems.append(f"{exercise_id}, cell {i + 2}: expected the ':::{{solution-end}}' cell right after the solution")
    found = CHECK_CALL.search(check.source) if check.cell_type == "code" else None
    if not found or found["id"] != exercise_id:
        problems.append(f"{exercise_id}, cell {i + 3}: expected the check(\"{exercise_id}\", ...) cell")
    elif nbgrader(check) != nbgrader_metadata(exercise_id, "check", points_of(exercise)):
        problems.append(f"{exercise_id}, cell {i + 3}: the check cell's nbgrader metadata is not the format's")
    return problems


def _check_answer(notebook, exercise_id: str, exercise, start: int) -> list[str]:
    want = nbgrader_metadata(exercise_id, "answer", points_of(exercise))
    for index in range(start + 1, len(notebook.cells)):
        if nbgrader(notebook.cells[index]).get("grade_id") == want["grade_id"]:
            if nbgrader(notebook.cells[index]) != want:
                return [f"{exercise_id}, cell {index}: the answer cell's nbgrader metadata is not the format's"]
            return []
    return [f"{exercise_id}: no answer cell (grade_id {want['grade_id']}) after the statement"]


def _check_names(notebook, exercise_id: str, exercise) -> list[str]:
    """A reader's function never takes the name of a gptlib import or of the chapter's own code."""
    if getattr(exercise, "same_contract_as", None):
        return []
    taken = _gptlib_imports(notebook)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        bound = names_of(cell.source)[0]
        if nbgrader(cell).get("grade_id") == f"{label_of(exercise_id)}-solution":
            clash = sorted(bound & taken)
            return [f"{exercise_id}, cell {index}: the solution redefines {', '.join(clash)}, a name the "
                    "chapter already uses: choose another name"] if clash else []
        if not is_solution(cell):
            taken |= bound
    return []


def lint_exercise(notebook, exercise_id: str, exercise) -> list[str]:
    label = label_of(exercise_id)
    statement = _statement(notebook, label)
    if statement is None:
        return [f"{exercise_id}: no '::::{{exercise}}' statement with ':label: {label}'"]
    start, title = statement
    problems = []
    if title != exercise_title(exercise):
        problems.append(f"{exercise_id}, cell {start}: the title should be {exercise_title(exercise)!r}, not {title!r}")
    if isinstance(exercise, Explanation):
        return problems + _check_answer(notebook, exercise_id, exercise, start)
    return problems + _check_solution_group(notebook, exercise_id, exercise, start) + \
        _check_names(notebook, exercise_id, exercise)


def _present(notebook, declared: dict) -> list[str]:
    """The declared exercises that the notebook mentions (a check call, a label or a grade_id)."""
    labels, text = label_index(), "\n".join(c.source for c in notebook.cells)
    ids = {m["id"] for m in CHECK_CALL.finditer(text)}
    ids |= {labels[a] for c in notebook.cells for n, a, _ in _directives(c) if n == "solution" and a in labels}
    ids |= {labels[o.split()[-1]] for c in notebook.cells for n, _, opts in _directives(c) if n == "exercise"
            for o in opts if LABEL_OPTION.match(o) and o.split()[-1] in labels}
    return sorted(ids, key=lambda i: list(declared).index(i) if i in declared else -1)


def exercises_in(notebook) -> dict[str, object]:
    """{exercise id: its declaration} of every declared exercise the notebook holds, in order."""
    declared = all_exercises()
    return {i: declared[i] for i in _present(notebook, declared) if i in declared}


def lint(notebook, name: str = "notebook") -> list[str]:
    """Every way the notebook's exercises depart from the format, as messages naming the cell."""
    declared = all_exercises()
    problems = []
    for index, cell in enumerate(notebook.cells):
        if is_solution(cell) and "nbgrader" not in cell.metadata:
            problems.append(f"cell {index}: a solution in the older format (run the convert command)")
        elif cell.cell_type == "code" and has_markers(cell.source) and not is_solution(cell):
            problems.append(f"cell {index}: solution markers in a cell that is not a solution cell")
    ids = [nbgrader(c).get("grade_id") for c in notebook.cells if nbgrader(c).get("grade_id")]
    problems += [f"grade_id {g!r} is used {n} times" for g, n in Counter(ids).items() if n > 1]
    for exercise_id in _present(notebook, declared):
        if exercise_id not in declared:
            problems.append(f"{exercise_id}: checked here but declared in no gptlib/exercises module")
            continue
        problems += lint_exercise(notebook, exercise_id, declared[exercise_id])
    return [f"{name}: {p}" for p in problems]
