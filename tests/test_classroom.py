"""The classroom tools: the student edition takes the solutions out and nothing else, and the
grader scores a folder of submissions, including ones that raise, loop, crash or are not notebooks.

The fixture chapter is written here, with its own exercises (a module that the notebook puts on
gptlib.exercises' search path), so these tests do not depend on the chapters' exercises.
"""

import csv
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from gptlib import classroom
from gptlib import exercises
from gptlib.exercises import find

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))

EXERCISE_MODULE = '''
"""Exercises of the test fixture chapter "ch99"."""
from gptlib.exercises import Case, Exercise


def _double(x):
    return 2.0 * x


def _add(a, b):
    return a + b


EXERCISES = {
    "double": Exercise("double a number", _double, [Case((1.5,), "x = 1.5"), Case((0.0,), "x = 0")]),
    "add": Exercise("add two numbers", _add, [Case((1.0, 2.0), "a = 1, b = 2"), Case((-1.0, 1.0), "a = -1, b = 1")]),
}
'''

DOUBLE_SOLUTION = """def double(x):
    # BEGIN SOLUTION
    y = x + x
    return y
    # END SOLUTION"""

ADD_SOLUTION = """def add(a, b):
    # BEGIN SOLUTION
    return a + b
    # END SOLUTION"""

# Code cells of the student edition (where the {solution} markdown cell is gone) that students fill in
DOUBLE_CELL, ADD_CELL, CHECK_ADD_CELL = 3, 6, 7
HINT = "Hint: doubling is adding a number to itself."


def run_cli(*args, cwd=ROOT):
    return subprocess.run(
        [sys.executable, "-m", "gptlib.classroom", *map(str, args)],
        cwd=cwd, capture_output=True, text=True, encoding="utf-8", timeout=600,
    )


def fixture_chapter(exercise_dir: Path):
    """A small chapter in the book's conventions, with outputs as if it had been executed."""
    # The setup cell loads gptlib's exercise engine on its own (importing gptlib would import
    # torch, seconds per kernel) and adds the fixture's exercises to its search path.
    setup = textwrap.dedent(f"""\
        import importlib.util, sys
        spec = importlib.util.spec_from_file_location(
            "gptlib.exercises", {exercises.__file__!r},
            submodule_search_locations=[{str(Path(exercises.__file__).parent)!r}, {str(exercise_dir)!r}])
        sys.modules["gptlib.exercises"] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules["gptlib.exercises"])
        from gptlib.exercises import check""")
    solution_tags = {"tags": ["solution", "hide-input"]}
    cells = [
        new_markdown_cell("# Chapter 99\n\nSome prose, and $x^2$."),
        new_code_cell(setup, metadata={"tags": ["hide-input"]}),
        new_markdown_cell(f":::{{exercise}}\n:label: ex-double\nWrite `double(x)`. {HINT}\n:::"),
        new_code_cell(DOUBLE_SOLUTION, metadata=solution_tags, execution_count=2),
        new_code_cell('check("ch99.double", double)', execution_count=3,
                      outputs=[new_output("stream", name="stdout", text="✓ double a number: all 2 checks pass.\n")]),
        new_markdown_cell("::::{solution} ex-double\n:class: dropdown\nAdd x to itself: `x + x`.\n::::"),
        new_markdown_cell("Write `add(a, b)`."),
        new_code_cell(ADD_SOLUTION, metadata=solution_tags, execution_count=4),
        new_code_cell('check("ch99.add", add)', execution_count=5),
        new_markdown_cell("The end."),
    ]
    return new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}})


@pytest.fixture(scope="module")
def chapter(tmp_path_factory):
    """(path of the fixture chapter, its student edition's path)."""
    folder = tmp_path_factory.mktemp("classroom")
    exercise_dir = folder / "fixture_exercises"
    exercise_dir.mkdir()
    (exercise_dir / "ch99_fixture.py").write_text(EXERCISE_MODULE, encoding="utf-8")
    source = folder / "chapters" / "99_fixture.ipynb"
    source.parent.mkdir()
    nbformat.write(fixture_chapter(exercise_dir), source)
    result = run_cli("student-edition", "--out", folder / "student", source)
    assert result.returncode == 0, result.stderr
    return source, folder / "student" / "99_fixture.ipynb"


# --- the student edition -------------------------------------------------------------------------


def test_student_edition_removes_the_solutions_and_outputs_only(chapter):
    source, student = chapter
    original = nbformat.read(source, as_version=4)
    edition = nbformat.read(student, as_version=4)
    nbformat.validate(edition)
    text = json.dumps(edition)
    for leaked in ("x + x", "return a + b", "BEGIN SOLUTION", "END SOLUTION", "Add x to itself", "all 2 checks pass"):
        assert leaked not in text, f"the student edition still contains {leaked!r}"
    # the {solution} cell is gone; every other cell is kept, in order, with its tags
    kept = [c for c in original.cells if "{solution}" not in c.source]
    assert len(edition.cells) == len(kept)
    for before, after in zip(kept, edition.cells):
        assert before.cell_type == after.cell_type
        assert before.metadata.get("tags") == after.metadata.get("tags")
        if after.cell_type == "code":
            assert after.outputs == [] and after.execution_count is None
            if "solution" not in after.metadata.get("tags", []):
                assert after.source == before.source
        else:
            assert after.source == before.source
    assert HINT in text
    double_cell = edition.cells[DOUBLE_CELL].source
    assert double_cell.splitlines() == [
        "def double(x):",
        '    raise NotImplementedError("exercise ch99.double: replace this line with your solution")',
    ]


def test_student_edition_placeholder_raises_not_implemented(chapter):
    edition = nbformat.read(chapter[1], as_version=4)
    namespace = {}
    exec(edition.cells[ADD_CELL].source, namespace)
    with pytest.raises(NotImplementedError, match="ch99.add"):
        namespace["add"](1, 2)


def test_strip_solution_refuses_unbalanced_markers():
    with pytest.raises(ValueError, match="no matching"):
        classroom.strip_solution("def f():\n    # BEGIN SOLUTION\n    return 1\n")
    with pytest.raises(ValueError, match="with no"):
        classroom.strip_solution("def f():\n    return 1\n    # END SOLUTION\n")
    with pytest.raises(ValueError, match="inside another"):
        classroom.strip_solution("# BEGIN SOLUTION\n# BEGIN SOLUTION\n# END SOLUTION\n")


def test_a_solution_cell_without_markers_is_an_error():
    notebook = new_notebook(cells=[new_code_cell("def f():\n    return 1", metadata={"tags": ["solution"]})])
    with pytest.raises(ValueError, match="tagged 'solution' but has no"):
        classroom.student_notebook(notebook, "broken.ipynb")


def test_gated_solutions_are_removed_with_the_cells_between():
    notebook = new_notebook(cells=[
        new_markdown_cell("Before.\n\n```{solution-start} ex-1\n:class: dropdown\n```\nThe idea."),
        new_code_cell("secret = 42"),
        new_markdown_cell("More of the answer.\n```{solution-end}\n```\nAfter."),
        new_code_cell("visible = 1"),
    ])
    edition = classroom.student_notebook(notebook)
    sources = [cell.source for cell in edition.cells]
    assert sources == ["Before.\n", "After.", "visible = 1"]


def test_student_edition_refuses_to_overwrite_the_chapters(chapter):
    source, _ = chapter
    result = run_cli("student-edition", "--out", source.parent, source)
    assert result.returncode != 0
    assert "would be overwritten" in result.stderr


@pytest.mark.skipif(not CHAPTERS, reason="no chapter notebooks yet")
@pytest.mark.parametrize("path", CHAPTERS, ids=[p.name for p in CHAPTERS])
def test_student_edition_of_every_chapter(path):
    original = nbformat.read(path, as_version=4)
    edition = classroom.student_notebook(original, path.name)
    n_solutions = sum(classroom.BEGIN in c.source for c in original.cells if c.cell_type == "code")
    n_placeholders = sum("raise NotImplementedError" in c.source for c in edition.cells if c.cell_type == "code")
    assert n_placeholders >= n_solutions
    assert classroom.BEGIN not in json.dumps(edition)
    for exercise_id in classroom.exercise_ids(edition):  # every check(...) names a real exercise
        find(exercise_id)


# --- grading -------------------------------------------------------------------------------------


def submission(student_edition: Path, answers: dict[int, str]) -> str:
    """The student edition with some code cells (by index) replaced by the student's code."""
    notebook = nbformat.read(student_edition, as_version=4)
    for index, source in answers.items():
        notebook.cells[index].source = source
    return nbformat.writes(notebook)


def test_find_submissions_reads_both_layouts(tmp_path):
    (tmp_path / "alice" / "sub").mkdir(parents=True)
    (tmp_path / "alice" / "sub" / "01.ipynb").write_text("{}")
    (tmp_path / "alice" / ".ipynb_checkpoints").mkdir()
    (tmp_path / "alice" / ".ipynb_checkpoints" / "01-checkpoint.ipynb").write_text("{}")
    (tmp_path / "bob.ipynb").write_text("{}")
    found = [(s.student, s.notebook) for s in classroom.find_submissions(tmp_path)]
    assert found == [("alice", "sub/01.ipynb"), ("bob", "bob.ipynb")]


def test_grade_a_folder_of_submissions(chapter, tmp_path):
    _, student_edition = chapter
    name = student_edition.name
    wrong_double = "def double(x):\n    return x + 2"
    folders = {
        "alice": submission(student_edition, {DOUBLE_CELL: DOUBLE_SOLUTION, ADD_CELL: ADD_SOLUTION}),
        "bob": submission(student_edition, {}),  # handed in untouched
        # a cell that raises before double is defined; the rest of the notebook still runs
        "carol": submission(student_edition, {DOUBLE_CELL: "raise RuntimeError('I gave up')", ADD_CELL: ADD_SOLUTION}),
        # a wrong answer, then a cell that never ends
        "dave": submission(student_edition, {DOUBLE_CELL: wrong_double, ADD_CELL: "while True:\n    pass"}),
        "erin": '{"cells": [ this is not JSON',
        "frank": submission(student_edition, {DOUBLE_CELL: DOUBLE_SOLUTION, ADD_CELL: "import os\nos._exit(1)"}),
    }
    submissions = tmp_path / "submissions"
    for student, text in folders.items():
        (submissions / student).mkdir(parents=True)
        (submissions / student / name).write_text(text, encoding="utf-8")
    out = tmp_path / "scores.csv"
    result = run_cli(
        "grade", submissions, "--out", out, "--reference", student_edition.parent,
        "--timeout", 120, "--cell-timeout", 8, "--executed", tmp_path / "executed",
    )
    assert result.returncode == 0, result.stderr

    with open(out, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["student", "notebook", "exercise", "passed", "message"]
    table = {(r["student"], r["exercise"]): (r["passed"], r["message"]) for r in rows}
    assert {r["notebook"] for r in rows} == {name}
    assert sorted(table) == sorted((s, e) for s in folders for e in ("ch99.double", "ch99.add"))

    def expect(student, exercise, passed, *phrases):
        got_passed, message = table[(student, exercise)]
        assert got_passed == passed, (student, exercise, message)
        for phrase in phrases:
            assert phrase in message, (student, exercise, message)

    expect("alice", "ch99.double", "1", "all 2 checks pass")
    expect("alice", "ch99.add", "1", "all 2 checks pass")
    expect("bob", "ch99.double", "0", "not implemented yet")
    expect("bob", "ch99.add", "0", "not implemented yet")
    expect("carol", "ch99.double", "0", "not checked", "NameError", "double")
    expect("carol", "ch99.add", "1", "all 2 checks pass")
    expect("dave", "ch99.double", "0", "for x = 1.5", "expected 3, got 3.5")
    expect("dave", "ch99.add", "0", "not checked", "stopped after", "infinite loop")
    expect("erin", "ch99.double", "0", "not a readable notebook")
    expect("erin", "ch99.add", "0", "not a readable notebook")
    expect("frank", "ch99.double", "1", "all 2 checks pass")
    expect("frank", "ch99.add", "0", "kernel died")

    with open(classroom.totals_path(out), encoding="utf-8", newline="") as f:
        totals = {r["student"]: (r["passed"], r["exercises"]) for r in csv.DictReader(f)}
    assert totals == {
        "alice": ("2", "2"), "bob": ("0", "2"), "carol": ("1", "2"),
        "dave": ("0", "2"), "erin": ("0", "2"), "frank": ("1", "2"),
    }
    # the executed notebooks are kept for the teacher to read, with the students' outputs
    executed = nbformat.read(tmp_path / "executed" / "carol" / name, as_version=4)
    assert "I gave up" in json.dumps(executed.cells[DOUBLE_CELL].outputs)
    # the submissions themselves are untouched (each ran in a copy)
    for student, text in folders.items():
        assert (submissions / student / name).read_text(encoding="utf-8") == text


def test_grading_without_a_reference_uses_the_notebooks_own_checks(chapter, tmp_path):
    _, student_edition = chapter
    (tmp_path / "gina.ipynb").write_text(
        submission(student_edition, {DOUBLE_CELL: DOUBLE_SOLUTION, CHECK_ADD_CELL: "print('no check here')"}), encoding="utf-8")
    (tmp_path / "hugo.ipynb").write_text("not a notebook", encoding="utf-8")
    scores = classroom.grade_folder(tmp_path, timeout=120)
    got = [(s.student, s.notebook, s.exercise, s.passed) for s in scores]
    assert got == [
        ("gina", "gina.ipynb", "ch99.double", True),
        ("hugo", "hugo.ipynb", "(notebook)", False),
    ]
