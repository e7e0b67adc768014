"""The exercise cells of a chapter notebook: their markers, their nbgrader metadata, finding them.

The format (written for chapter authors in book/teachers.md) is nbgrader's: a solution cell has
``metadata.nbgrader.solution`` and its answer between ``# BEGIN SOLUTION`` / ``# END SOLUTION``;
a check cell is an autograded test cell (``grade``, ``locked``, ``points``); an explanation is a
manually graded markdown answer cell. Older chapters marked solutions only with the markers and
a ``solution`` tag: they are still recognised, so every chapter can be graded while it is
converted (``python -m gptlib.classroom.author convert``).
"""

from __future__ import annotations

import ast
import re
import symtable

from IPython.core.inputtransformer2 import TransformerManager  # IPython comes with ipykernel

from ..exercises import all_exercises

BEGIN = "# BEGIN SOLUTION"
END = "# END SOLUTION"
# The only marker lines; the book hides exactly these (see book/teachers.md).
MARKER_LINE = re.compile(r"^\s*#\s*(BEGIN|END) SOLUTION\s*$")
# nbgrader's own stubs (ClearSolutions.code_stub["python"], text_stub), so both editions agree.
CODE_STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")
TEXT_STUB = "YOUR ANSWER HERE"
# check("ch03.softmax", my_softmax): the exercise id is the first argument, a string literal.
CHECK_CALL = re.compile(r"""\bcheck\(\s*["'](?P<id>ch\w+\.\w+)["']""")
# The opening line of a fenced MyST directive: ```{solution} label  or  :::{exercise} title
DIRECTIVE = re.compile(r"^\s*(?P<fence>`{3,}|:{3,})\{(?P<name>[\w-]+)\}\s*(?P<argument>.*)$")
LABEL_OPTION = re.compile(r"^\s*:label:\s*(?P<label>\S+)\s*$")
STARS = {1: "★☆☆", 2: "★★☆", 3: "★★★"}


def label_of(exercise_id: str) -> str:
    """The MyST label of an exercise: "ch05.rms_norm" -> "ch05-rms-norm"."""
    return exercise_id.replace(".", "-").replace("_", "-")


def grade_id(exercise_id: str, role: str) -> str:
    """nbgrader's id of a cell (letters, digits, - and _ only): "ch05-rms-norm-check"."""
    return f"{label_of(exercise_id)}-{role}"


def nbgrader_metadata(exercise_id: str, role: str, points: int | None = None) -> dict:
    """The ``nbgrader`` metadata of a "solution", "check" or "answer" cell."""
    meta = {
        "grade": role in ("check", "answer"),
        "grade_id": grade_id(exercise_id, role),
        "locked": role == "check",
        "schema_version": 3,
        "solution": role in ("solution", "answer"),
        "task": False,
    }
    if meta["grade"]:
        meta["points"] = points
    return meta


def exercise_title(exercise) -> str:
    """The title of the ``{exercise}`` directive: difficulty, kind, then the declared title."""
    return f"{STARS[exercise.difficulty]} {exercise.kind.capitalize()}: {exercise.title}"


def nbgrader(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def has_markers(source: str) -> bool:
    return any(MARKER_LINE.match(line) for line in source.splitlines())


def is_solution(cell) -> bool:
    """A cell whose answer the student edition takes out (nbgrader's, or the older tag/markers)."""
    if nbgrader(cell).get("solution"):
        return True
    return cell.cell_type == "code" and (has_markers(cell.source) or "solution" in cell.metadata.get("tags", []))


def is_answer(cell) -> bool:
    """A written answer graded by hand (an Explain exercise)."""
    meta = nbgrader(cell)
    return cell.cell_type == "markdown" and bool(meta.get("solution")) and bool(meta.get("grade"))


def label_index() -> dict[str, str]:
    """Exercise id by label, for every declared exercise."""
    return {label_of(exercise_id): exercise_id for exercise_id in all_exercises()}


def answer_id(cell, labels: dict[str, str] | None = None) -> str | None:
    """The exercise id of a manually graded answer cell, from its grade_id ("LABEL-answer")."""
    found = re.fullmatch(r"(?P<label>.+)-answer", str(nbgrader(cell).get("grade_id", "")))
    if not found:
        return None
    # an exercise declared nowhere in this gptlib still gets a row, under its label
    return (labels if labels is not None else label_index()).get(found["label"], found["label"])


def points_by_grade_id(notebook) -> dict[str, int]:
    """The points nbgrader's metadata gives each graded cell."""
    return {nbgrader(c)["grade_id"]: nbgrader(c).get("points") for c in notebook.cells
            if nbgrader(c).get("grade") and "grade_id" in nbgrader(c)}


def checked_ids(notebook) -> list[str]:
    """The exercise ids the notebook's code cells check, in order, each once."""
    ids = []
    for cell in notebook.cells:
        if cell.cell_type == "code":
            for found in CHECK_CALL.finditer(cell.source):
                if found["id"] not in ids:
                    ids.append(found["id"])
    return ids


def manual_ids(notebook) -> list[str]:
    """The exercise ids of the notebook's answers graded by hand."""
    labels = label_index()
    return [i for i in (answer_id(c, labels) for c in notebook.cells if is_answer(c)) if i]


# --- which cells an exercise needs ---------------------------------------------------------------


def python_source(source: str) -> str:
    """The cell's source as plain Python (IPython magics and shell lines turned into calls)."""
    return TransformerManager().transform_cell(source)


def _bound_at_top(statement) -> set[str]:
    """The names a module-level statement binds (not the locals of the functions it defines)."""
    if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {statement.name}
    if isinstance(statement, (ast.Import, ast.ImportFrom)):
        return {(alias.asname or alias.name).split(".")[0] for alias in statement.names}
    bound = set()
    for node in ast.walk(statement):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            bound.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)  # defined inside an if or a with: still global
    return bound


def _global_reads(table: symtable.SymbolTable, top: bool = True) -> set[str]:
    """The module-level names a scope reads: all it reads at top level, the globals it reads inside
    functions and classes (not their parameters and locals)."""
    read = {s.get_name() for s in table.get_symbols() if s.is_referenced() and (top or s.is_global())}
    for child in table.get_children():
        read |= _global_reads(child, top=False)
    return read


def names_of(source: str) -> tuple[set[str], set[str]]:
    """(names a cell binds at top level, module-level names it reads); empty sets if not Python."""
    try:
        code = python_source(source)
        tree, table = ast.parse(code), symtable.symtable(code, "cell", "exec")
    except SyntaxError:
        return set(), set()
    bound = set().union(*(_bound_at_top(statement) for statement in tree.body))
    return bound, _global_reads(table)


def needed_cells(notebook) -> list[int]:
    """The code cells the exercises need: their solution and check cells and, going back, the
    latest earlier cell that binds each name a needed cell reads (imports and data, not figures).

    A cell is needed for the names it binds, not for its side effects (a seed set, a file
    written): exercise cells must not depend on those."""
    code = [i for i, c in enumerate(notebook.cells) if c.cell_type == "code"]
    exercise = {i for i in code if is_solution(notebook.cells[i]) or CHECK_CALL.search(notebook.cells[i].source)}
    if not exercise:
        return []
    wanted, chosen = set(), []
    for index in reversed([i for i in code if i <= max(exercise)]):
        bound, read = names_of(notebook.cells[index].source)
        if index in exercise or bound & wanted:
            chosen.append(index)
            # the latest binding before a use is the one it sees: earlier ones are not needed for it
            wanted = (wanted - bound) | read
    return sorted(chosen)
