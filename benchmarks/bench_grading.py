"""Grade a class: N students x every chapter, with gptlib's grader; print wall time and peak memory.

    .venv/bin/python benchmarks/bench_grading.py [--students 30] [--only-needed-cells] [--chapters 03 04]

The submissions are made from the chapters: a third of the students hand in the reference
solutions, a third the blank student edition, a third a broken notebook (a solution cell that
raises, then one that loops until the cell time limit). The grading runs the way a teacher runs
it (`python -m gptlib.classroom grade`) in a child process; peak memory is the largest resident
set of that process and its kernels (RUSAGE_CHILDREN: the largest single process, as
/usr/bin/time -v reports it), sampled from /proc every 0.2 s for the total.
"""

from __future__ import annotations

import argparse
import csv
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat

from gptlib.classroom import student_notebook
from gptlib.classroom.notebook import is_solution

ROOT = Path(__file__).resolve().parents[1]


def broken(notebook):
    """The first solution raises, the second loops forever, the rest are blank."""
    edition = student_notebook(notebook)
    solutions = [c for c in edition.cells if c.cell_type == "code" and is_solution(c)]
    for cell, source in zip(solutions, ["raise RuntimeError('I gave up')", "while True:\n    pass"]):
        cell.source = source
    return edition


def make_class(chapters: list[Path], n_students: int, folder: Path) -> None:
    for student in range(n_students):
        kind = ("right", "blank", "broken")[student % 3]
        for path in chapters:
            notebook = nbformat.read(path, as_version=4)
            made = {"right": notebook, "blank": student_notebook(notebook), "broken": broken(notebook)}[kind]
            target = folder / f"student{student:02d}_{kind}" / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(made, target)


def _tree_rss_kib(pid: int) -> int:
    """Resident memory of a process and all its descendants, from /proc (Linux)."""
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            for task in Path(f"/proc/{current}/task").iterdir():
                stack += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return total


def grade(folder: Path, reference: Path, out: Path, extra: list[str], args) -> tuple[float, int, int]:
    """(wall seconds, peak total RSS in MiB of the grader and its kernels, largest single process in MiB)."""
    command = [sys.executable, "-m", "gptlib.classroom", "grade", str(folder), "--out", str(out),
               "--reference", str(reference), "--cell-timeout", str(args.cell_timeout), "--seed", "1", *extra]
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = [0]

    def sample():
        while process.poll() is None:
            peak[0] = max(peak[0], _tree_rss_kib(process.pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample)
    sampler.start()
    process.wait()
    sampler.join()
    wall = time.perf_counter() - start
    if process.returncode != 0:
        raise SystemExit(f"the grader failed with exit code {process.returncode}")
    largest = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
    return wall, peak[0] // 1024, largest // 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--chapters", nargs="*", help="chapter numbers (default: every chapter with exercises)")
    parser.add_argument("--only-needed-cells", action="store_true")
    parser.add_argument("--jobs", type=int, default=1, help="notebooks graded at once")
    # 10 s proved too short on a busy 2-core machine: `import torch` in the first cell ran past it
    parser.add_argument("--cell-timeout", type=int, default=60, help="seconds per cell (the loops cost this)")
    parser.add_argument("--keep", metavar="DIR", help="copy the score tables here")
    args = parser.parse_args()
    chapters = [p for p in sorted((ROOT / "chapters").glob("*.ipynb"))
                if any(is_solution(c) for c in nbformat.read(p, as_version=4).cells)
                and (not args.chapters or p.name[:2] in args.chapters)]
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as temporary:
        folder = Path(temporary) / "submissions"
        make_class(chapters, args.students, folder)
        extra = ["--jobs", str(args.jobs)] + (["--only-needed-cells"] if args.only_needed_cells else [])
        wall, peak_total, largest = grade(folder, ROOT / "chapters", Path(temporary) / "scores.csv", extra, args)
        with open(Path(temporary) / "scores_totals.csv", encoding="utf-8", newline="") as f:
            percents = sorted({float(r["percent"]) for r in csv.DictReader(f)})
        if args.keep:
            for table in Path(temporary).glob("scores*.csv"):
                shutil.copy(table, Path(args.keep))
    notebooks = args.students * len(chapters)
    print(f"{args.students} students x {len(chapters)} chapters = {notebooks} notebooks"
          f" ({'only the cells the exercises need' if args.only_needed_cells else 'every cell'}, {args.jobs} at once)")
    print(f"wall time: {wall:.0f} s ({wall / notebooks:.1f} s per notebook)")
    print(f"peak memory: {peak_total} MiB (grader and kernels together); largest process {largest} MiB")
    print(f"totals seen: {percents} %")


if __name__ == "__main__":
    main()
