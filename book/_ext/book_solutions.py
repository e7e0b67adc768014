"""Hide the exercise solutions' grading markers in the rendered book.

A reference solution cell keeps its code between ``# BEGIN SOLUTION`` and ``# END SOLUTION``
lines (the exercise format, /work/plan/exercise-format.md; nbgrader and the student edition
replace what lies between them). They are instructions to those tools, not to a reader, so the
book drops exactly those lines from every notebook code cell it shows; the notebook itself,
which nbval and the graders read, keeps them.
"""

from __future__ import annotations

import re

from docutils import nodes

MARKER = re.compile(r"^\s*#\s*(BEGIN|END) SOLUTION\s*$")


def without_markers(code: str) -> str:
    """``code`` with every solution-marker line removed; every other line is left as it was."""
    return "\n".join(line for line in code.split("\n") if not MARKER.match(line))


def drop_solution_markers(app, doctree) -> None:
    for cell_input in doctree.findall(nodes.container):
        if cell_input.get("nb_element") != "cell_code_source":
            continue  # only notebook code cells (myst-nb marks their input containers)
        for block in cell_input.findall(nodes.literal_block):
            code = block.astext()
            cleaned = without_markers(code)
            if cleaned != code:
                block.children = [nodes.Text(cleaned)]
                block.rawsource = cleaned


def setup(app):
    # doctree-read: before the doctree is cached, so a cached page is clean too
    app.connect("doctree-read", drop_solution_markers)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
