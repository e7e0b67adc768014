"""The classroom tools and the exercise framework.

- A small fixture chapter, written with the author tool in the exercise format, with its own
  exercises (a module put on gptlib.exercises' search path): the lint accepts it, the student
  edition equals nbgrader's, the real nbgrader grades it (reference full marks, blank 0), and
  gptlib's grader scores a class of broken submissions.
- Every chapter in chapters/: its reference solutions score 100% and its student edition 0%.
"""

import csv
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from gptlib import classroom, exercises
from gptlib.classroom import author, grading
from gptlib.classroom.lint import exercises_in, lint
from gptlib.classroom.notebook import is_solution
from gptlib.exercises import ExerciseFailed, check, evaluate
from gptlib.exercises.references import torch_function, torch_vjp

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))
FIXTURE_EXERCISES = Path(__file__).resolve().parent / "classroom_fixture"

DOUBLE_SOLUTION = '''def double(x):
    """Twice x."""
    # BEGIN SOLUTION
    y = x + x
    return y
    # END SOLUTION'''
ADD_SOLUTION = "def add(a, b):\n    # BEGIN SOLUTION\n    return a + b\n    # END SOLUTION"
SIGN_SOLUTION = '# BEGIN SOLUTION\nprediction = "negative"\n# END SOLUTION'
WHY_ANSWER = "Because adding is doubling. **Rubric (2 points):** 1 for ..., 1 for ..."
HINT = ":::{dropdown} Hint 1\nDoubling is adding a number to itself.\n:::"


@pytest.fixture(scope="module", autouse=True)
def fixture_exercises():
    """The fixture's exercises (chapter "ch99") are found by gptlib.exercises in this process too."""
    exercises.__path__.append(str(FIXTURE_EXERCISES))
    yield
    exercises.__path__.remove(str(FIXTURE_EXERCISES))


def fixture_chapter():
    """A small chapter in the exercise format, with outputs as if it had been executed."""
    # The setup cell loads gptlib's exercise engine on its own (importing gptlib would import
    # torch, seconds per kernel) and adds the fixture's exercises to its search path.
    setup = textwrap.dedent(f"""\
        import importlib.util, sys
        spec = importlib.util.spec_from_file_location(
            "gptlib.exercises", {exercises.__file__!r},
            submodule_search_locations=[{str(Path(exercises.__file__).parent)!r}, {str(FIXTURE_EXERCISES)!r}])
        sys.modules["gptlib.exercises"] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules["gptlib.exercises"])
        from gptlib.exercises import check""")
    cells = [new_markdown_cell("# Chapter 99\n\nSome prose, and $x^2$."), new_code_cell(setup)]
    cells += author.exercise_cells("ch99.double", f"Write `double(x)`.\n\n{HINT}", DOUBLE_SOLUTION)
    cells += author.exercise_cells("ch99.add", "Write `add(a, b)`.", ADD_SOLUTION)
    cells += author.exercise_cells("ch99.sign", "Is `double(-3)` positive or negative?", SIGN_SOLUTION)
    cells += author.exercise_cells("ch99.why", "Why is doubling adding?", WHY_ANSWER)
    cells.append(new_markdown_cell("The end."))
    notebook = new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                                  "language": "python"}})
    for count, cell in enumerate(c for c in notebook.cells if c.cell_type == "code"):
        cell.execution_count = count + 1
    return notebook


def cell_index(notebook, grade_id):
    return next(i for i, c in enumerate(notebook.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


@pytest.fixture(scope="module")
def chapter(tmp_path_factory):
    """(path of the fixture chapter, its student edition's path)."""
    folder = tmp_path_factory.mktemp("classroom")
    source = folder / "chapters" / "99_fixture.ipynb"
    source.parent.mkdir()
    nbformat.write(fixture_chapter(), source)
    result = run_cli("student-edition", "--out", folder / "student", source)
    assert result.returncode == 0, result.stderr
    return source, folder / "student" / "99_fixture.ipynb"


def run_cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "gptlib.classroom", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, encoding="utf-8", timeout=600)


# --- the exercise framework ------------------------------------------------------------------------


def test_a_failed_check_raises_and_names_the_wrong_idea_not_the_answer(capsys):
    with pytest.raises(ExerciseFailed) as failed:
        check("ch99.double", lambda x: x * x)
    message = str(failed.value)
    assert message.startswith("✗ double a number: for x = 1.5, ")
    assert "squaring is not doubling" in message  # the declared Mistake it matches
    assert "3" not in message.split("yours is")[0]  # the expected value (3) is never shown
    assert check("ch99.double", lambda x: 2 * x).passed
    assert capsys.readouterr().out.startswith("✓ double a number: all 5 checks pass.")


def test_placeholders_errors_and_shapes_are_reported():
    assert "not implemented yet" in evaluate("ch99.double", lambda x: exec("raise NotImplementedError()")).message
    assert "raised ZeroDivisionError" in evaluate("ch99.double", lambda x: 1 / 0).message
    assert "expected numbers, got 'a'" in evaluate("ch99.double", lambda x: "a").message


def test_generated_cases_change_with_the_grading_seed(monkeypatch):
    declared = exercises.find("ch99.double")
    fixed = [c.args for c in exercises.cases_of("ch99.double", declared)]
    assert fixed == [c.args for c in exercises.cases_of("ch99.double", declared)]  # the notebook's: stable
    monkeypatch.setenv(exercises.SEED_VARIABLE, "12345")
    graded = [c.args for c in exercises.cases_of("ch99.double", declared)]
    assert len(graded) == len(fixed) and graded[:2] == fixed[:2] and graded[2:] != fixed[2:]


def test_predictions_and_explanations():
    assert evaluate("ch99.sign", "negative").passed
    assert "the experiment disagrees: double(-3) is -6" in evaluate("ch99.sign", "positive").message
    assert "choose one of 'positive', 'negative'" in evaluate("ch99.sign", "neither").message
    with pytest.raises(TypeError, match="graded by hand"):
        evaluate("ch99.why", "text")


def test_torch_references_agree_with_the_calculus():
    x, d_out = np.linspace(-2, 2, 7), np.linspace(1, 3, 7)
    np.testing.assert_allclose(torch_function(lambda t: t.tanh())(x), np.tanh(x), rtol=1e-12)
    np.testing.assert_allclose(torch_vjp(lambda t: t.tanh())(d_out, x), d_out * (1 - np.tanh(x) ** 2), rtol=1e-12)
    w = np.arange(6.0).reshape(3, 2)
    dx, dw = torch_vjp(lambda a, b: a @ b, wrt=(0, 1))(np.ones((1, 2)), np.ones((1, 3)), w)
    np.testing.assert_allclose(dx, np.ones((1, 2)) @ w.T)
    np.testing.assert_allclose(dw, np.ones((3, 1)) @ np.ones((1, 2)))


# --- the author tools and the lint -----------------------------------------------------------------


def test_the_fixture_follows_the_format_and_the_lint_catches_departures():
    notebook = fixture_chapter()
    assert lint(notebook) == []
    broken = fixture_chapter()
    broken.cells[cell_index(broken, "ch99-double-solution")].metadata.pop("nbgrader")
    broken.cells[cell_index(broken, "ch99-add-check")].metadata["nbgrader"]["points"] = 5
    broken.cells[2].source = broken.cells[2].source.replace("★☆☆", "★★★")
    broken.cells[cell_index(broken, "ch99-add-solution")].source = ADD_SOLUTION.replace("def add", "def check")
    problems = "\n".join(lint(broken))
    assert "a solution in the older format" in problems
    assert "the check cell's nbgrader metadata" in problems
    assert "the title should be '★☆☆ Derive: double a number'" in problems
    assert "redefines check, a name the chapter already uses" in problems


def test_add_exercise_inserts_then_updates_in_place(tmp_path):
    path = tmp_path / "chapter.ipynb"
    nbformat.write(new_notebook(cells=[new_markdown_cell("# C"), new_markdown_cell("## Where next")]), path)
    (tmp_path / "solution.py").write_text(ADD_SOLUTION)
    (tmp_path / "statement.md").write_text("Write `add`.")
    for text in ("Write `add`.", "Write `add(a, b)`, again."):
        (tmp_path / "statement.md").write_text(text)
        assert author.main(["add-exercise", str(path), "ch99.add", "--solution", str(tmp_path / "solution.py"),
                            "--statement", str(tmp_path / "statement.md"), "--before", "Where next"]) == 0
    cells = nbformat.read(path, as_version=4).cells
    assert len(cells) == 7 and cells[-1].source == "## Where next"
    assert "again" in cells[1].source and cells[5].source == 'check("ch99.add", add)'
    assert author.main(["lint", str(path)]) == 0


def test_convert_turns_the_older_format_into_this_one(tmp_path):
    old = new_notebook(cells=[
        new_markdown_cell("## Exercises\n\n:::{exercise}\n:label: old-double\n\nWrite `double(x)`.\n:::"),
        new_code_cell(DOUBLE_SOLUTION, metadata={"tags": ["solution", "hide-input"]}),
        new_code_cell("from gptlib.exercises import check\n\n_ = check(\"ch99.double\", double)  # prints ✓"),
        new_markdown_cell("See {ref}`old-double`."),
    ])
    path = tmp_path / "old.ipynb"
    nbformat.write(old, path)
    assert author.convert(path) == ["ch99.double"]
    converted = nbformat.read(path, as_version=4)
    assert lint(converted) == []
    assert converted.cells[0].source.startswith("## Exercises\n\n::::{exercise} ★☆☆ Derive: double a number\n")
    assert converted.cells[4].source.endswith('check("ch99.double", double)')
    assert converted.cells[5].source == "See {ref}`ch99-double`."
    assert "tags" not in converted.cells[2].metadata


# --- the student edition -----------------------------------------------------------------------------


def test_student_edition_removes_the_answers_and_outputs_only(chapter):
    source, student = chapter
    original, edition = (nbformat.read(p, as_version=4) for p in (source, student))
    nbformat.validate(edition)
    text = json.dumps(edition)
    for leaked in ("x + x", "return a + b", '"negative"', "Because adding", "BEGIN SOLUTION", "checks pass"):
        assert leaked not in text, f"the student edition still contains {leaked!r}"
    assert len(edition.cells) == len(original.cells)
    for before, after in zip(original.cells, edition.cells):
        assert before.metadata.get("nbgrader") == after.metadata.get("nbgrader")
        if not before.metadata.get("nbgrader", {}).get("solution"):
            assert after.source == before.source
        if after.cell_type == "code":
            assert after.outputs == [] and after.execution_count is None
    assert edition.cells[cell_index(edition, "ch99-double-solution")].source.splitlines() == [
        "def double(x):", '    """Twice x."""', "    # YOUR CODE HERE", "    raise NotImplementedError()"]
    assert edition.cells[cell_index(edition, "ch99-why-answer")].source == "YOUR ANSWER HERE"


def test_student_edition_is_nbgraders(chapter):
    """nbgrader's own preprocessors (those of generate_assignment) give the same cells."""
    from nbgrader.preprocessors import ClearOutput, ClearSolutions

    source, student = chapter
    theirs = nbformat.read(source, as_version=4)
    for preprocessor in (ClearSolutions(), ClearOutput()):
        theirs, _ = preprocessor.preprocess(theirs, {})
    ours = nbformat.read(student, as_version=4)
    assert [c.source for c in ours.cells] == [c.source for c in theirs.cells]


def test_strip_solution_refuses_unbalanced_markers():
    with pytest.raises(ValueError, match="no matching"):
        classroom.strip_solution("def f():\n    # BEGIN SOLUTION\n    return 1\n")
    with pytest.raises(ValueError, match="with no"):
        classroom.strip_solution("def f():\n    return 1\n    # END SOLUTION\n")
    with pytest.raises(ValueError, match="inside another"):
        classroom.strip_solution("# BEGIN SOLUTION\n# BEGIN SOLUTION\n# END SOLUTION\n")


def test_student_edition_refuses_to_overwrite_the_chapters(chapter):
    result = run_cli("student-edition", "--out", chapter[0].parent, chapter[0])
    assert result.returncode != 0 and "would be overwritten" in result.stderr


def test_needed_cells_are_the_exercises_and_what_they_read():
    notebook = new_notebook(cells=[
        new_code_cell("import numpy as np\nimport matplotlib.pyplot as plt"),  # 0: needed (np)
        new_code_cell("x = np.ones(3)\nplt.plot(x)"),  # 1: a figure, not needed
        new_code_cell("scale = 2.0\ndef helper(v):\n    x = v  # a local, not the x above\n    return x"),  # 2
        new_code_cell("scale = 3.0"),  # 3: the binding the exercise sees
        new_code_cell("def f(x):\n    # BEGIN SOLUTION\n    return helper(x) * scale * np.ones(1)\n    # END SOLUTION",
                      metadata={"tags": ["solution"]}),  # 4
        new_code_cell('check("ch99.double", f)'),  # 5
        new_code_cell("plt.show()"),  # 6: after the last exercise
    ])
    assert classroom.needed_cells(notebook) == [0, 2, 3, 4, 5]


# --- grading -------------------------------------------------------------------------------------------


def submission(student_edition: Path, answers: dict[str, str]) -> str:
    """The student edition with some cells (by grade_id) replaced by the student's text."""
    notebook = nbformat.read(student_edition, as_version=4)
    for grade_id, source in answers.items():
        notebook.cells[cell_index(notebook, grade_id)].source = source
    return nbformat.writes(notebook)


def test_grade_a_folder_of_submissions(chapter, tmp_path):
    _, student_edition = chapter
    name, right = student_edition.name, {"ch99-double-solution": DOUBLE_SOLUTION, "ch99-add-solution": ADD_SOLUTION}
    folders = {
        "alice": submission(student_edition, {**right, "ch99-sign-solution": SIGN_SOLUTION,
                                              "ch99-why-answer": "Adding x to x is 2x."}),
        "bob": submission(student_edition, {}),  # handed in untouched
        # a cell that raises before double is defined; the rest of the notebook still runs
        "carol": submission(student_edition, {**right, "ch99-double-solution": "raise RuntimeError('I gave up')"}),
        # a wrong answer, and a check cell edited to pass (the teacher's check cell is put back)
        "dave": submission(student_edition, {"ch99-double-solution": "def double(x):\n    return x + 2",
                                             "ch99-add-check": "print('passed!')"}),
        "erin": '{"cells": [ this is not JSON',
        "frank": submission(student_edition, {**right, "ch99-add-solution": "import os\nos._exit(1)"}),
        # a loop that never ends: interrupted, and the next exercises are still graded
        "gina": submission(student_edition, {**right, "ch99-double-solution": "while True:\n    pass"}),
    }
    submissions = tmp_path / "submissions"
    for student, text in folders.items():
        (submissions / student).mkdir(parents=True)
        (submissions / student / name).write_text(text, encoding="utf-8")
    out = tmp_path / "scores.csv"
    result = run_cli("grade", submissions, "--out", out, "--reference", student_edition.parent, "--timeout", 120,
                     "--cell-timeout", 8, "--executed", tmp_path / "executed", "--jobs", 2)
    assert result.returncode == 0, result.stderr
    with open(out, encoding="utf-8", newline="") as f:
        table = {(r["student"], r["exercise"]): (r["passed"], r["message"]) for r in csv.DictReader(f)}
    assert sorted(table) == sorted((s, e) for s in folders for e in ("ch99.double", "ch99.add", "ch99.sign"))

    def expect(student, exercise, passed, *phrases):
        got_passed, message = table[(student, exercise)]
        assert got_passed == passed and all(p in message for p in phrases), (student, exercise, message)

    expect("alice", "ch99.double", "1", "all 5 checks pass")
    expect("alice", "ch99.sign", "1", "the experiment agrees")
    expect("bob", "ch99.double", "0", "not implemented yet")
    expect("bob", "ch99.sign", "0", "not checked", "NameError")
    expect("carol", "ch99.double", "0", "not checked", "NameError", "double")
    expect("carol", "ch99.add", "1", "all 2 checks pass")
    expect("dave", "ch99.double", "0", "for x = 1.5", "yours is 3.5")
    expect("dave", "ch99.add", "0", "not implemented yet")
    expect("erin", "ch99.add", "0", "not a readable notebook")
    expect("frank", "ch99.double", "1")
    expect("frank", "ch99.add", "0", "kernel died")
    expect("gina", "ch99.double", "0", "NameError", "stopped after 8 s: an infinite loop?")
    expect("gina", "ch99.add", "1", "all 2 checks pass")
    with open(classroom.companion_path(out, "totals"), encoding="utf-8", newline="") as f:
        totals = {r["student"]: (r["points"], r["max_points"], r["by_hand_points"]) for r in csv.DictReader(f)}
    assert totals["alice"] == ("3", "3", "2") and totals["bob"] == ("0", "3", "2") and totals["carol"][0] == "1"
    with open(classroom.companion_path(out, "answers"), encoding="utf-8", newline="") as f:
        answers = {r["student"]: r["answer"] for r in csv.DictReader(f)}
    assert answers["alice"] == "Adding x to x is 2x." and answers["bob"] == "YOUR ANSWER HERE"
    executed = nbformat.read(tmp_path / "executed" / "carol" / name, as_version=4)
    assert "I gave up" in json.dumps(executed.cells[cell_index(executed, "ch99-double-solution")].outputs)
    for student, text in folders.items():  # the submissions themselves are untouched
        assert (submissions / student / name).read_text(encoding="utf-8") == text


def test_nbgrader_grades_the_format_as_it_is(chapter, tmp_path):
    """A teacher with nbgrader: generate_assignment, then autograde the reference and the blank edition."""
    source, _ = chapter
    nbgrader = Path(sys.executable).with_name("nbgrader")
    (tmp_path / "source" / "ch99").mkdir(parents=True)
    shutil.copy(source, tmp_path / "source" / "ch99")
    (tmp_path / "nbgrader_config.py").write_text('c = get_config()\nc.CourseDirectory.course_id = "gpt"\n')

    # nbgrader runs alembic, installed beside it, by name
    env = {**os.environ, "PATH": os.pathsep.join([str(nbgrader.parent), os.environ.get("PATH", "")])}

    def run(*args):
        done = subprocess.run([str(nbgrader), *args, "--force"], cwd=tmp_path, capture_output=True, text=True,
                              timeout=600, env=env)
        assert done.returncode == 0, done.stderr[-3000:]

    run("generate_assignment", "ch99")
    for student, notebook in (("alice", source), ("bob", tmp_path / "release" / "ch99" / source.name)):
        (tmp_path / "submitted" / student / "ch99").mkdir(parents=True)
        shutil.copy(notebook, tmp_path / "submitted" / student / "ch99" / source.name)
    run("autograde", "ch99", "--create")
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{tmp_path / 'gradebook.db'}") as gradebook:
        scores = {s: gradebook.find_submission("ch99", s) for s in ("alice", "bob")}
        # 3 automatic points; the explanation (2 points) waits for the teacher in both
        assert (scores["alice"].code_score, scores["alice"].max_code_score) == (3, 3)
        assert (scores["bob"].code_score, scores["bob"].max_code_score) == (0, 3)
        assert scores["alice"].needs_manual_grade and scores["alice"].max_written_score == 2


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.name for p in CHAPTERS])
def test_every_chapter_scores_100_with_its_solutions_and_0_blank(path, tmp_path):
    """One kernel per edition, running only the cells the exercises need (notebook.needed_cells)."""
    reference = nbformat.read(path, as_version=4)
    auto = classroom.checked_ids(reference)
    if not auto:  # a chapter without exercises has nothing to take out either
        assert not any(is_solution(cell) for cell in reference.cells)
        return
    for label, notebook in (("reference", reference), ("blank", classroom.student_notebook(reference, path.name))):
        copy = tmp_path / label / path.name
        copy.parent.mkdir()
        nbformat.write(notebook, copy)
        work = grading.Submission(label, path.name, copy, None)
        rows = grading.grade_submission(work, reference, grading.Options(timeout=600, only_needed_cells=True))
        scored = {row.exercise: row for row in rows if row.passed is not None}
        assert sorted(scored) == sorted(auto)
        failures = [(r.exercise, r.message) for r in scored.values() if r.passed != (label == "reference")]
        assert not failures, f"{label} edition of {path.name}: {failures}"


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.name for p in CHAPTERS])
def test_every_chapter_has_four_exercises_two_beyond_what_it_shows_in_the_format(path):
    """Issue 12: >= 4 exercises per chapter, >= 2 of them not a re-derivation of displayed code
    (a variant, a prediction, a debugging task or an explanation), all in the format."""
    notebook = nbformat.read(path, as_version=4)
    kinds = [exercise.kind for exercise in exercises_in(notebook).values()]
    assert len(kinds) >= 4, f"{path.name} has {len(kinds)} exercises: {kinds}"
    assert sum(kind != "derive" for kind in kinds) >= 2, f"{path.name}: kinds {kinds}"
    assert lint(notebook, path.name) == []
