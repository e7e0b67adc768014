"""python -m gptlib.classroom student-edition | grade (see gptlib.classroom)."""

from __future__ import annotations

import argparse
import secrets
import sys
from pathlib import Path

from . import __doc__ as overview
from .edition import write_student_edition
from .grading import Options, grade_folder
from .scores import totals, write_scores


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gptlib.classroom", description=overview.split("\n")[0])
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
    grade.add_argument("--seed", metavar="N", help="seed of the checks' generated inputs (default: a new one)")
    grade.add_argument("--jobs", type=int, default=1, metavar="N", help="notebooks graded at once (default 1)")
    grade.add_argument("--only-needed-cells", action="store_true",
                       help="run only the cells the exercises need (faster; skips figures and long runs)")
    return parser


def main(argv=None) -> int:
    parser = _parser()
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

    seed = args.seed if args.seed is not None else str(secrets.randbelow(10**9))
    print(f"grading with seed {seed} (--seed {seed} grades on the same inputs again)", file=sys.stderr)
    options = Options(args.timeout, args.cell_timeout, args.only_needed_cells, seed, args.executed)
    try:
        scores = grade_folder(args.submissions, args.reference, options,
                              progress=lambda line: print(line, file=sys.stderr, flush=True), jobs=args.jobs)
    except ValueError as err:
        parser.error(str(err))
    paths = write_scores(scores, args.out)
    for row in totals(scores):
        by_hand = f", {row['by_hand_points']} points to grade by hand" if row["by_hand_points"] else ""
        print(f"{row['student']}: {row['points']} of {row['max_points']} points ({row['percent']}%){by_hand}")
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
