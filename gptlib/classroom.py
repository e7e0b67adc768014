"""The book in a classroom: student editions of the chapters, and a grader for what comes back.

Two commands (run them from the repository root, with the book's environment):

    python -m gptlib.classroom student-edition --out DIR [NOTEBOOK ...]
    python -m gptlib.classroom grade SUBMISSIONS --out scores.csv [--reference DIR]

``student-edition`` copies the chapter notebooks (by default every ``chapters/*.ipynb``) into DIR
with the solutions taken out: in every code cell the lines from ``# BEGIN SOLUTION`` to
``# END SOLUTION`` become ``raise NotImplementedError(...)``, the sphinx-exercise ``{solution}``
blocks of the markdown cells are dropped, and all outputs are cleared. Everything else (the
text, the hints, the ``check(...)`` cells, the cell tags) stays as it was.

``grade`` runs every submitted notebook in SUBMISSIONS (one folder per student, or notebooks
named after the student directly in SUBMISSIONS) in its own Jupyter kernel, in a temporary copy
of the student's folder, with a time limit. It collects the result of every ``check(...)`` call
(``gptlib.exercises.check`` writes them to the file named by ``GPTLIB_CHECK_LOG``) and writes a
CSV with one row per student, notebook and exercise, and a second CSV with each student's total.
A notebook that raises, loops forever, crashes its kernel or is not a notebook at all scores 0
for what it did not reach, and the grading goes on with the next one.

The grader runs the students' code with your user's rights: it contains mistakes (errors,
infinite loops, crashed kernels), not deliberate attacks. Run it in a container or a throwaway
account if that matters to you.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat

from .files import atomic_write

BEGIN = "# BEGIN SOLUTION"
END = "# END SOLUTION"
LOG_VARIABLE = "GPTLIB_CHECK_LOG"  # the variable gptlib.exercises.check reads
# check("ch03.softmax", my_softmax): the exercise id is the first argument, a string literal.
CHECK_CALL = re.compile(r"""\bcheck\(\s*["'](?P<id>ch\w+\.\w+)["']""")
# The opening line of a fenced MyST directive: ```{solution} label  or  :::{solution-start} label
DIRECTIVE = re.compile(r"^\s*(?P<fence>`{3,}|:{3,})\{(?P<name>[\w-]+)\}")
SOLUTION_DIRECTIVES = {"solution", "solution-start", "solution-end"}


# --- the student edition -------------------------------------------------------------------------


def strip_solution(source: str, exercise_id: str | None = None, where: str = "a cell") -> str:
    """Replace each ``# BEGIN SOLUTION`` ... ``# END SOLUTION`` block by a ``raise NotImplementedError``.

    The ``raise`` keeps the indentation of the ``# BEGIN SOLUTION`` line, so a solution inside a
    function body leaves a function that raises when called.
    """
    task = f"exercise {exercise_id}" if exercise_id else "this exercise"
    placeholder = f'raise NotImplementedError("{task}: replace this line with your solution")'
    kept, inside = [], False
    for number, line in enumerate(source.splitlines(), start=1):
        marker = line.strip()
        if marker.startswith(BEGIN):
            if inside:
                raise ValueError(f"{where}, line {number}: {BEGIN!r} inside another solution block")
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            kept.append(indent + placeholder)
        elif marker.startswith(END):
            if not inside:
                raise ValueError(f"{where}, line {number}: {END!r} with no {BEGIN!r} before it")
            inside = False
        elif not inside:
            kept.append(line)
    if inside:
        raise ValueError(f"{where}: {BEGIN!r} has no matching {END!r}")
    return "\n".join(kept)


class _SolutionRemover:
    """Drops sphinx-exercise solutions from markdown, across cells.

    ``{solution}`` is one fenced block; the gated form runs from a ``{solution-start}`` block to a
    ``{solution-end}`` block and takes every cell in between with it.
    """

    def __init__(self):
        self.closing = None  # (fence character, length) of the block being dropped
        self.then_gated = False  # after this block closes, keep dropping (a solution-start)
        self.gated = False  # between solution-start and solution-end

    def dropping(self) -> bool:
        return self.gated or self.closing is not None

    def markdown(self, text: str) -> str:
        kept = []
        for line in text.splitlines():
            if self.closing is not None:  # inside a solution directive: wait for its closing fence
                char, length = self.closing
                stripped = line.strip()
                if stripped and set(stripped) == {char} and len(stripped) >= length:
                    self.closing = None
                    self.gated = self.then_gated
                continue
            opened = DIRECTIVE.match(line)
            if opened and opened["name"] in SOLUTION_DIRECTIVES and (
                self.gated == (opened["name"] == "solution-end")
            ):
                fence = opened["fence"]
                self.closing = (fence[0], len(fence))
                self.then_gated = opened["name"] == "solution-start"
                self.gated = False
                continue
            if not self.gated:
                kept.append(line)
        if self.closing is not None:  # MyST closes a directive left open at the end of a cell
            self.closing = None
            self.gated = self.then_gated
        return "\n".join(kept)


def _exercise_after(cells, index: int) -> str | None:
    """The id in the first check("...") call of the code cells after ``index``, if any."""
    for cell in cells[index + 1 :]:
        if cell.cell_type == "code":
            found = CHECK_CALL.search(cell.source)
            if found:
                return found["id"]
            if BEGIN in cell.source:  # the next exercise's solution: stop looking
                return None
    return None


def student_notebook(notebook, name: str = "notebook"):
    """A copy of ``notebook`` with its solutions replaced by placeholders and no outputs."""
    notebook = nbformat.from_dict(json.loads(json.dumps(notebook)))  # a deep copy
    notebook.metadata.pop("widgets", None)  # saved widget state is output too
    remover = _SolutionRemover()
    cells = []
    for index, cell in enumerate(notebook.cells):
        where = f"{name}, cell {index}"
        tags = cell.metadata.get("tags", [])
        if cell.cell_type == "markdown":
            text = remover.markdown(cell.source)
            if text.strip() or not cell.source.strip():
                cell.source = text
                cells.append(cell)
            continue
        if remover.dropping():  # a code or raw cell inside a gated solution
            continue
        if cell.cell_type == "code":
            if BEGIN in cell.source or END in cell.source:
                cell.source = strip_solution(cell.source, _exercise_after(notebook.cells, index), where)
                cell.metadata.get("jupyter", {}).pop("source_hidden", None)  # the student must see it
            elif "solution" in tags:
                raise ValueError(f"{where} is tagged 'solution' but has no {BEGIN!r} ... {END!r} lines")
            cell.outputs = []
            cell.execution_count = None
            cell.metadata.pop("execution", None)  # timings of the author's run
        cells.append(cell)
    if remover.dropping():
        raise ValueError(f"{name}: a solution directive is never closed")
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
        notebook = nbformat.read(path, as_version=4)
        student = student_notebook(notebook, name=path.name)
        nbformat.validate(student)
        target = out_dir / path.name
        text = nbformat.writes(student) + "\n"
        atomic_write(target, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
        written.append(target)
    return written


# --- grading -------------------------------------------------------------------------------------


@dataclass
class Score:
    """One row of the score table."""

    student: str
    notebook: str
    exercise: str
    passed: bool
    message: str


@dataclass
class Submission:
    student: str
    notebook: str  # the path inside the student's folder, e.g. "03_attention.ipynb"
    path: Path
    folder: Path | None  # the student's folder, copied for the run; None: only the notebook


def find_submissions(folder) -> list[Submission]:
    """Every notebook in ``folder``: ``folder/STUDENT/.../NAME.ipynb``, or ``folder/STUDENT.ipynb``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder of submissions")
    found = []
    for path in sorted(folder.rglob("*.ipynb")):
        relative = path.relative_to(folder)
        if any(part.startswith(".") for part in relative.parts):  # .ipynb_checkpoints and the like
            continue
        if len(relative.parts) == 1:
            found.append(Submission(path.stem, path.name, path, None))
        else:
            found.append(Submission(relative.parts[0], "/".join(relative.parts[1:]), path, folder / relative.parts[0]))
    return found


def exercise_ids(notebook) -> list[str]:
    """The exercise ids a notebook checks, in order, each once."""
    ids = []
    for cell in notebook.cells:
        if cell.cell_type == "code":
            for found in CHECK_CALL.finditer(cell.source):
                if found["id"] not in ids:
                    ids.append(found["id"])
    return ids


def _read_log(path: Path) -> dict[str, dict]:
    """The last result of each exercise in a GPTLIB_CHECK_LOG file (a re-run check replaces the first)."""
    results = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                record = json.loads(line)
                results[str(record["exercise"])] = record
            except (ValueError, KeyError, TypeError):
                continue  # a line the student's code garbled
    return results


def _plain(message: str) -> str:
    """The check message without its ✓/✗ mark (the passed column says it) and on one line."""
    message = message.strip()
    if message[:1] in ("✓", "✗"):
        message = message[1:].strip()
    return " ".join(message.split())


def _cell_error(cell) -> str | None:
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            return f"{output.get('ename')}: {output.get('evalue')}"
    return None


def run_notebook(notebook, workdir: Path, log: Path, timeout: float, cell_timeout: float | None = None):
    """Execute ``notebook`` in place in a fresh kernel started in ``workdir``.

    Returns (index of the last cell started, or -1; the problem that stopped the run, or None).
    Errors in cells do not stop the run: the next cells still run, as "Run all" with errors allowed.
    """
    from jupyter_client import AsyncKernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    import gptlib

    cell_timeout = timeout if cell_timeout is None else min(cell_timeout, timeout)
    env = dict(os.environ)
    env[LOG_VARIABLE] = str(log)
    # The kernel imports the same gptlib as the grader, and the matplotlib backend needs no display.
    package_root = str(Path(gptlib.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    env["MPLBACKEND"] = "agg"
    # The kernel is always the grader's own Python (and so its gptlib), whatever the submission's
    # metadata asks for and whatever kernels are installed.
    kernel = AsyncKernelManager(kernel_name="python3")
    kernel.kernel_spec.argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    client = NotebookClient(
        notebook,
        km=kernel,
        timeout=math.ceil(cell_timeout),
        allow_errors=True,
        record_timing=False,
        shutdown_kernel="immediate",  # no need to wait for a polite exit: the notebook is done
        resources={"metadata": {"path": str(workdir)}},
    )
    deadline = time.monotonic() + timeout
    reached = -1
    try:
        # The kernel's own log (not the students' output, which comes by messages) is not wanted.
        with client.setup_kernel(cleanup_kc=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL):
            for index, cell in enumerate(notebook.cells):
                if cell.cell_type != "code":
                    continue
                remaining = deadline - time.monotonic()
                if remaining < 1:
                    return reached, f"the notebook ran out of its {timeout:g} s before cell {index}"
                client.timeout = math.ceil(min(cell_timeout, remaining))
                reached = index
                client.execute_cell(cell, index)
    except CellTimeoutError:
        return reached, f"cell {reached} was stopped after {client.timeout} s (an infinite loop?)"
    except DeadKernelError:
        return reached, f"the kernel died in cell {reached} (a crash, or out of memory)"
    except Exception as err:  # the kernel did not start, or nbclient failed: report, go on
        return reached, f"the notebook could not be run: {type(err).__name__}: {err}"
    return reached, None


def grade_submission(
    submission: Submission,
    expected: list[str] | None = None,
    timeout: float = 600,
    cell_timeout: float | None = None,
    executed_dir: Path | None = None,
) -> list[Score]:
    """Run one submitted notebook and score each of its exercises.

    ``expected``: the exercise ids the notebook should check (from the teacher's copy); by default
    the ids found in the submission's own check(...) calls.
    """

    def rows(results: dict[str, tuple[bool, str]]) -> list[Score]:
        return [Score(submission.student, submission.notebook, ex, ok, msg) for ex, (ok, msg) in results.items()]

    try:
        notebook = nbformat.read(submission.path, as_version=4)
    except Exception as err:  # not JSON, not a notebook: every exercise scores 0
        problem = f"not a readable notebook: {type(err).__name__}: {' '.join(str(err).split())[:200]}"
        return rows({ex: (False, problem) for ex in expected or ["(notebook)"]})

    ids = list(expected) if expected is not None else exercise_ids(notebook)
    # ignore_cleanup_errors: on Windows a just-killed kernel may still hold its working folder.
    with tempfile.TemporaryDirectory(prefix="gptlib-grade-", ignore_cleanup_errors=True) as temporary:
        workdir = Path(temporary) / "work"
        if submission.folder is not None:  # a fresh copy of the student's folder, for each notebook
            shutil.copytree(submission.folder, workdir, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        else:
            workdir.mkdir()
        log = Path(temporary) / "checks.jsonl"
        reached, problem = run_notebook(notebook, workdir, log, timeout, cell_timeout)
        logged = _read_log(log)

    if executed_dir is not None:
        target = Path(executed_dir) / submission.student / submission.notebook
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, target)

    results = {}
    for ex in ids:
        if ex in logged:
            results[ex] = (bool(logged[ex].get("passed")), _plain(str(logged[ex].get("message", ""))))
        else:
            results[ex] = (False, _why_not_checked(notebook, ex, reached, problem))
    if expected is None:  # checks the submission ran that its source does not name directly
        for ex, record in logged.items():
            results.setdefault(ex, (bool(record.get("passed")), _plain(str(record.get("message", "")))))
    if not results:
        results["(notebook)"] = (False, problem or "the notebook calls no check(...)")
    return rows(results)


def _why_not_checked(notebook, exercise: str, reached: int, problem: str | None) -> str:
    """Why an exercise has no check result: the check cell's error, or what stopped the run."""
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code" and exercise in {m["id"] for m in CHECK_CALL.finditer(cell.source)}:
            if index > reached and problem:
                return f"not checked: {problem}"
            error = _cell_error(cell)
            if error:
                return f"not checked: the check cell raised {' '.join(error.split())[:300]}"
            if index == reached and problem:
                return f"not checked: {problem}"
            return "not checked: its check(...) call did not run"
    return "not checked: the notebook has no check(...) call for this exercise"


def grade_folder(
    folder,
    reference=None,
    timeout: float = 600,
    cell_timeout: float | None = None,
    executed_dir=None,
    progress=None,
) -> list[Score]:
    """Grade every notebook in ``folder`` (see ``find_submissions``), one after the other.

    ``reference``: a folder with the teacher's notebooks (the chapters or the student edition);
    a submission named like one of them must check that notebook's exercises, so a deleted check
    cell scores 0 instead of disappearing from the table.
    """
    expected_by_name = {}
    if reference is not None:
        for path in sorted(Path(reference).glob("*.ipynb")):
            expected_by_name[path.name] = exercise_ids(nbformat.read(path, as_version=4))
    scores = []
    for submission in find_submissions(folder):
        expected = expected_by_name.get(Path(submission.notebook).name)
        try:
            rows = grade_submission(submission, expected, timeout, cell_timeout, executed_dir)
        except Exception as err:  # a bug of ours must not lose the other students' grades
            rows = [Score(submission.student, submission.notebook, ex, False,
                          f"the grader failed: {type(err).__name__}: {err}") for ex in expected or ["(notebook)"]]
        if progress:
            n_passed = sum(row.passed for row in rows)
            progress(f"{submission.student}/{submission.notebook}: {n_passed} of {len(rows)} pass")
        scores.extend(rows)
    return scores


def totals(scores: list[Score]) -> list[dict]:
    """Each student's number of exercises passed, out of the number graded."""
    by_student: dict[str, list[Score]] = {}
    for row in scores:
        by_student.setdefault(row.student, []).append(row)
    table = []
    for student, rows in sorted(by_student.items()):
        n_passed = sum(row.passed for row in rows)
        table.append({
            "student": student,
            "passed": n_passed,
            "exercises": len(rows),
            "percent": round(100 * n_passed / len(rows), 1),
        })
    return table


def totals_path(out) -> Path:
    out = Path(out)
    return out.with_name(out.stem + "_totals" + (out.suffix or ".csv"))


def write_scores(scores: list[Score], out) -> tuple[Path, Path]:
    """Write the score table (one row per exercise) and the totals (one row per student)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["student", "notebook", "exercise", "passed", "message"])
        for row in scores:
            writer.writerow([row.student, row.notebook, row.exercise, int(row.passed), row.message])
    total_file = totals_path(out)
    with open(total_file, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["student", "passed", "exercises", "percent"])
        writer.writeheader()
        writer.writerows(totals(scores))
    return out, total_file


# --- command line --------------------------------------------------------------------------------


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gptlib.classroom", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    edition = commands.add_parser("student-edition", help="write the chapters with their solutions removed")
    edition.add_argument("notebooks", nargs="*", metavar="NOTEBOOK", help="default: chapters/*.ipynb")
    edition.add_argument("--out", required=True, metavar="DIR", help="folder for the assignment notebooks")

    grade = commands.add_parser("grade", help="run a folder of submitted notebooks and score them")
    grade.add_argument("submissions", metavar="SUBMISSIONS", help="one folder per student, or STUDENT.ipynb files")
    grade.add_argument("--out", default="scores.csv", metavar="CSV", help="score table (default: scores.csv)")
    grade.add_argument("--reference", metavar="DIR", help="the teacher's notebooks: the exercises each must check")
    grade.add_argument("--timeout", type=float, default=600, metavar="S", help="seconds per notebook (default 600)")
    grade.add_argument("--cell-timeout", type=float, metavar="S", help="seconds per cell (default: --timeout)")
    grade.add_argument("--executed", metavar="DIR", help="also save each executed notebook here, to read")

    args = parser.parse_args(argv)
    if args.command == "student-edition":
        notebooks = args.notebooks or sorted(str(p) for p in Path("chapters").glob("*.ipynb"))
        try:
            written = write_student_edition(notebooks, args.out)
        except ValueError as err:
            parser.error(str(err))
        for path in written:
            print(f"wrote {path}")
        return 0

    try:
        scores = grade_folder(
            args.submissions, args.reference, args.timeout, args.cell_timeout, args.executed,
            progress=lambda line: print(line, file=sys.stderr, flush=True),
        )
    except ValueError as err:
        parser.error(str(err))
    out, total_file = write_scores(scores, args.out)
    for row in totals(scores):
        print(f"{row['student']}: {row['passed']} of {row['exercises']} exercises ({row['percent']}%)")
    print(f"wrote {out} and {total_file}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
