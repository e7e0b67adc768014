"""The score tables a grading run writes: one row per exercise, one per student, and the written
answers that the teacher grades by hand."""

from __future__ import annotations

import csv
from pathlib import Path

from ..files import atomic_write
from .grading import Score


def totals(scores: list[Score]) -> list[dict]:
    """Each student's automatic points, out of the automatic maximum, and the points left to grade by hand."""
    by_student: dict[str, list[Score]] = {}
    for row in scores:
        by_student.setdefault(row.student, []).append(row)
    table = []
    for student, rows in sorted(by_student.items()):
        auto = [row for row in rows if row.passed is not None]
        points, top = sum(row.points for row in auto), sum(row.max_points for row in auto)
        table.append({
            "student": student,
            "passed": sum(bool(row.passed) for row in auto),
            "exercises": len(auto),
            "points": points,
            "max_points": top,
            "percent": round(100 * points / top, 1) if top else 0.0,
            "by_hand_points": sum(row.max_points for row in rows if row.passed is None),
        })
    return table


def companion_path(out, name: str) -> Path:
    """scores.csv -> scores_totals.csv, scores_answers.csv."""
    out = Path(out)
    return out.with_name(f"{out.stem}_{name}{out.suffix or '.csv'}")


def _write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    def write(tmp):
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(header)
            writer.writerows(rows)

    atomic_write(path, write)


def write_scores(scores: list[Score], out) -> tuple[Path, Path, Path]:
    """Write the score table, the totals and the answers to grade by hand; return the three paths."""
    out = Path(out)
    auto = [row for row in scores if row.passed is not None]
    _write_csv(out, ["student", "notebook", "exercise", "passed", "points", "max_points", "message"],
               [[r.student, r.notebook, r.exercise, int(r.passed), r.points, r.max_points, r.message] for r in auto])
    table = totals(scores)
    total_file = companion_path(out, "totals")
    _write_csv(total_file, list(table[0]) if table else ["student"], [list(row.values()) for row in table])
    answers_file = companion_path(out, "answers")
    by_hand = [row for row in scores if row.passed is None]
    _write_csv(answers_file, ["student", "notebook", "exercise", "max_points", "answer"],
               [[r.student, r.notebook, r.exercise, r.max_points, r.message] for r in by_hand])
    return out, total_file, answers_file
