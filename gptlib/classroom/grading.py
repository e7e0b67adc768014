"""Grading: run each submitted notebook in its own kernel and read back its check results.

Every ``check(...)`` call writes its result to the file named by ``GPTLIB_CHECK_LOG``; a failed
check also fails its cell (nbgrader's convention), so the same notebooks grade with nbgrader's
``autograde``. A notebook that raises, loops forever, crashes its kernel or is not a notebook at
all scores 0 for what it did not reach, and the grading goes on with the next one.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from queue import Empty
from concurrent.futures import ProcessPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from jupyter_client import AsyncKernelManager
from jupyter_core.utils import run_sync
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError

from ..exercises import LOG_VARIABLE, SEED_VARIABLE, find, points_of
from .notebook import (
    CHECK_CALL, answer_id, checked_ids, grade_id, is_answer, label_index, manual_ids, nbgrader, needed_cells,
    points_by_grade_id,
)

PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])  # the kernel imports this same gptlib


@dataclass
class Score:
    """One row of the score table; ``passed`` is None for an answer graded by hand."""

    student: str
    notebook: str
    exercise: str
    passed: bool | None
    points: int
    max_points: int
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


def _kernel_env(log: Path, seed: str | None) -> dict:
    env = dict(os.environ)
    env[LOG_VARIABLE] = str(log)
    if seed is not None:
        env[SEED_VARIABLE] = seed
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [PACKAGE_ROOT, env.get("PYTHONPATH")]))
    env["MPLBACKEND"] = "agg"  # no display
    return env


@dataclass
class Run:
    """What happened when a notebook ran."""

    reached: int = -1  # the last cell started, or -1
    problem: str | None = None  # what stopped the run early, if anything
    stopped: dict[int, int] = field(default_factory=dict)  # cells interrupted after their time limit (s)


def _interrupt(client: NotebookClient, wait: float = 10) -> bool:
    """Interrupt the kernel and wait for the stopped cell's reply: a request sent before it would
    be dropped by the kernel (it aborts the queue after an error). False if no reply comes."""
    run_sync(client.km.interrupt_kernel)()
    deadline = time.monotonic() + wait
    while (left := deadline - time.monotonic()) > 0:
        try:
            reply = run_sync(client.kc.shell_channel.get_msg)(timeout=left)
        except Empty:
            return False
        if reply["msg_type"] == "execute_reply":
            return True
    return False


def run_notebook(notebook, workdir: Path, env: dict, timeout: float, cell_timeout=None, cells=None) -> Run:
    """Execute ``notebook``'s code cells (all, or the indices in ``cells``) in place, in one fresh
    kernel started in ``workdir``. Errors do not stop the run ("Run all" with errors allowed), and
    a cell that runs past ``cell_timeout`` is interrupted and the next cells still run, so one
    infinite loop costs one exercise, not the rest of the notebook.
    """
    cell_timeout = timeout if cell_timeout is None else min(cell_timeout, timeout)
    # Always the grader's own Python (and so its gptlib), whatever the submission's metadata says.
    kernel = AsyncKernelManager(kernel_name="python3")
    kernel.kernel_spec.argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    client = NotebookClient(
        notebook, km=kernel, timeout=math.ceil(cell_timeout), allow_errors=True, record_timing=False,
        shutdown_kernel="immediate", resources={"metadata": {"path": str(workdir)}},
    )
    wanted = None if cells is None else set(cells)
    deadline = time.monotonic() + timeout
    run = Run()
    try:
        # The kernel's own log (not the students' output, which comes by messages) is not wanted.
        with client.setup_kernel(cleanup_kc=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL):
            for index, cell in enumerate(notebook.cells):
                if cell.cell_type != "code" or (wanted is not None and index not in wanted):
                    continue
                remaining = deadline - time.monotonic()
                if remaining < 1:
                    run.problem = f"the notebook ran out of its {timeout:g} s before cell {index}"
                    return run
                client.timeout = math.ceil(min(cell_timeout, remaining))
                run.reached = index
                try:
                    client.execute_cell(cell, index)
                except CellTimeoutError:  # Ctrl-C for the student, then the next cell
                    run.stopped[index] = client.timeout
                    if not _interrupt(client):
                        run.problem = f"cell {index} ran past {client.timeout} s and ignored the interrupt"
                        return run
    except DeadKernelError:
        run.problem = f"the kernel died in cell {run.reached} (a crash, or out of memory)"
    except Exception as err:  # the kernel did not start, or nbclient failed: report, go on
        run.problem = f"the notebook could not be run: {type(err).__name__}: {err}"
    return run


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


def _why_not_checked(notebook, exercise: str, run: Run) -> str:
    """Why an exercise has no check result: the check cell's error, or what stopped the run."""
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code" and exercise in {m["id"] for m in CHECK_CALL.finditer(cell.source)}:
            before = [i for i in run.stopped if i <= index]
            loop = f" (cell {before[-1]} was stopped after {run.stopped[before[-1]]} s: an infinite loop?)" if before else ""
            if index > run.reached and run.problem:
                return f"not checked: {run.problem}"
            error = _cell_error(cell)
            if error:
                return f"not checked: the check cell raised {' '.join(error.split())[:300]}{loop}"
            if index == run.reached and run.problem:
                return f"not checked: {run.problem}"
            return f"not checked: its check(...) call did not run{loop}"
    return "not checked: the notebook has no check(...) call for this exercise"


def _max_points(exercise_id: str, points: dict[str, int]) -> int:
    """The points of the notebook's nbgrader metadata, else of the declaration, else 1."""
    for role in ("check", "answer"):
        if points.get(grade_id(exercise_id, role)) is not None:
            return int(points[grade_id(exercise_id, role)])
    try:
        return points_of(find(exercise_id))
    except KeyError:  # an id the student invented: it still gets a row, worth 1
        return 1


def restore_check_cells(notebook, reference) -> None:
    """Put back the teacher's source of every locked nbgrader cell (as nbgrader's autograde does),
    so a student who edited a check cell is graded by the original."""
    originals = {nbgrader(c).get("grade_id"): c.source for c in reference.cells if nbgrader(c).get("locked")}
    for cell in notebook.cells:
        if nbgrader(cell).get("grade_id") in originals:
            cell.source = originals[nbgrader(cell)["grade_id"]]


@dataclass
class Options:
    """How to grade: time limits, which cells to run, the seed of the checks' generated inputs."""

    timeout: float = 600
    cell_timeout: float | None = None
    only_needed_cells: bool = False  # run only the cells the exercises need (notebook.needed_cells)
    seed: str | None = None
    executed_dir: Path | None = None


def _unreadable(submission: Submission, expected, manual, points, err: Exception) -> list[Score]:
    problem = f"not a readable notebook: {type(err).__name__}: {' '.join(str(err).split())[:200]}"
    return [Score(submission.student, submission.notebook, ex, None if ex in manual else False, 0,
                  _max_points(ex, points), "" if ex in manual else problem) for ex in expected or ["(notebook)"]]


def _execute(submission: Submission, notebook, options: Options) -> tuple[dict, Run]:
    """Run the notebook in a temporary copy of the student's folder; return (the check log, the run)."""
    # ignore_cleanup_errors: on Windows a just-killed kernel may still hold its working folder.
    with tempfile.TemporaryDirectory(prefix="gptlib-grade-", ignore_cleanup_errors=True) as temporary:
        workdir = Path(temporary) / "work"
        if submission.folder is not None:  # a fresh copy of the student's folder, for each notebook
            shutil.copytree(submission.folder, workdir, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        else:
            workdir.mkdir()
        log = Path(temporary) / "checks.jsonl"
        cells = needed_cells(notebook) if options.only_needed_cells else None
        env = _kernel_env(log, options.seed)
        run = run_notebook(notebook, workdir, env, options.timeout, options.cell_timeout, cells)
        return _read_log(log), run


def _score_rows(submission: Submission, notebook, ids, manual, points, logged, run: Run) -> list[Score]:
    answers = {answer_id(c, label_index()): c.source for c in notebook.cells if is_answer(c)}
    rows = []
    for ex in ids:
        top = _max_points(ex, points)
        if ex in manual:  # graded by hand: the row carries the student's text
            text = " ".join(answers.get(ex, "").split())
            rows.append(Score(submission.student, submission.notebook, ex, None, 0, top, text))
        elif ex in logged:
            passed = bool(logged[ex].get("passed"))
            message = _plain(str(logged[ex].get("message", "")))
            rows.append(Score(submission.student, submission.notebook, ex, passed, top if passed else 0, top, message))
        else:
            message = _why_not_checked(notebook, ex, run)
            rows.append(Score(submission.student, submission.notebook, ex, False, 0, top, message))
    if not rows:
        message = run.problem or "the notebook calls no check(...)"
        rows.append(Score(submission.student, submission.notebook, "(notebook)", False, 0, 1, message))
    return rows


def grade_submission(submission: Submission, reference=None, options: Options | None = None) -> list[Score]:
    """Run one submitted notebook and score each of its exercises.

    ``reference``: the teacher's notebook: its exercises are the ones scored (a deleted check cell
    scores 0) and its locked check cells replace the student's. Without it, the exercises the
    submission itself checks.
    """
    options = options or Options()
    expected = None if reference is None else checked_ids(reference) + manual_ids(reference)
    points = {} if reference is None else points_by_grade_id(reference)
    manual = set() if reference is None else set(manual_ids(reference))
    try:
        notebook = nbformat.read(submission.path, as_version=4)
    except Exception as err:  # not JSON, not a notebook: every exercise scores 0
        return _unreadable(submission, expected, manual, points, err)
    if reference is not None:
        restore_check_cells(notebook, reference)
    manual = manual or set(manual_ids(notebook))
    ids = expected if expected is not None else checked_ids(notebook) + sorted(manual)
    points = points or points_by_grade_id(notebook)
    logged, run = _execute(submission, notebook, options)
    if options.executed_dir is not None:
        target = Path(options.executed_dir) / submission.student / submission.notebook
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, target)
    if expected is None:  # checks the submission ran that its source does not name directly
        ids += [ex for ex in logged if ex not in ids]
    return _score_rows(submission, notebook, ids, manual, points, logged, run)


def _grade_safely(submission: Submission, teacher, options: Options | None) -> list[Score]:
    try:
        return grade_submission(submission, teacher, options)
    except Exception as err:  # a bug of ours must not lose the other students' grades
        ids = checked_ids(teacher) if teacher is not None else ["(notebook)"]
        return [Score(submission.student, submission.notebook, ex, False, 0, 1,
                      f"the grader failed: {type(err).__name__}: {err}") for ex in ids]


def grade_folder(folder, reference=None, options: Options | None = None, progress=None, jobs: int = 1) -> list[Score]:
    """Grade every notebook in ``folder`` (see ``find_submissions``), ``jobs`` at a time.

    ``reference``: a folder with the teacher's notebooks (the chapters or the student edition); a
    submission named like one of them is graded on that notebook's exercises.
    """
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, not {jobs}")
    references = {}
    if reference is not None:
        for path in sorted(Path(reference).glob("*.ipynb")):
            references[path.name] = nbformat.read(path, as_version=4)
    work = [(s, references.get(Path(s.notebook).name), options) for s in find_submissions(folder)]
    scores = []
    # Each notebook runs in its own kernel anyway; worker processes only wait for them.
    with ProcessPoolExecutor(max_workers=jobs) if jobs > 1 else nullcontext() as pool:
        results = [pool.submit(_grade_safely, *item) for item in work] if pool else (_grade_safely(*i) for i in work)
        for (submission, _, _), result in zip(work, results):
            rows = result.result() if pool else result
            if progress:
                n_passed = sum(bool(row.passed) for row in rows)
                progress(f"{submission.student}/{submission.notebook}: {n_passed} of {len(rows)} pass")
            scores.extend(rows)
    return scores
