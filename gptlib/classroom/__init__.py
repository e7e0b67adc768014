"""The book in a classroom: student editions of the chapters, and a grader for what comes back.

Needs the classroom extra: ``pip install "gptlib[classroom]"``. From the repository root:

    python -m gptlib.classroom student-edition --out DIR [NOTEBOOK ...]
    python -m gptlib.classroom grade SUBMISSIONS --out scores.csv [--reference DIR]
    python -m gptlib.classroom.author add-exercise | convert | lint ...   (for chapter authors)

The exercise cells follow nbgrader's conventions (solution cells with ``# BEGIN SOLUTION`` /
``# END SOLUTION``, autograded check cells with points, manually graded answer cells), so a
teacher who uses nbgrader can take the chapters as they are; book/teachers.md shows both ways.

``student-edition`` replaces every solution region by nbgrader's stub (``# YOUR CODE HERE`` /
``raise NotImplementedError()``), every written answer by ``YOUR ANSWER HERE``, drops worked
``{solution}`` blocks from the text and clears all outputs.

``grade`` runs every submitted notebook (one folder per student, or STUDENT.ipynb files) in its
own kernel, in a temporary copy of the student's folder, with time limits, and writes
``scores.csv`` (one row per exercise), ``scores_totals.csv`` (one row per student) and
``scores_answers.csv`` (the written answers, to grade by hand).

The grader runs the students' code with your user's rights: it contains mistakes (errors,
infinite loops, crashed kernels), not deliberate attacks. Run it in a container or a throwaway
account if that matters to you.
"""

from .edition import strip_solution, student_notebook, write_student_edition
from .grading import Options, Score, Submission, find_submissions, grade_folder, grade_submission
from .notebook import BEGIN, END, checked_ids, label_of, manual_ids, needed_cells
from .scores import companion_path, totals, write_scores

__all__ = [
    "BEGIN", "END", "Options", "Score", "Submission", "checked_ids", "companion_path", "find_submissions",
    "grade_folder", "grade_submission", "label_of", "manual_ids", "needed_cells", "strip_solution",
    "student_notebook", "totals", "write_scores", "write_student_edition",
]
