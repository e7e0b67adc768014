"""gptlib.style.book_style(), run in a real Jupyter kernel the way a chapter's setup cell runs it:
figures come out as retina PNG (never SVG), a deliberate error as "ExceptionType: message" with no
traceback, and the call itself prints nothing. What is compared is what IPython's own display and
exception machinery produce, stored by nbclient as in a chapter."""

import base64
import re
import struct

import nbformat
import pytest
from nbclient import NotebookClient

SETUP = "from gptlib.style import book_style\nbook_style()"
FIGURE = "import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nax.plot([0, 1], [1, 0])\nplt.show()"
ERROR = "raise ValueError('n_seq must be at most n_ctx = 8, got 9')"


def run(*sources):
    cells = [nbformat.v4.new_code_cell(source) for source in sources]
    for cell in cells:
        if cell.source == ERROR:
            cell.metadata["tags"] = ["raises-exception"]
    notebook = nbformat.v4.new_notebook(cells=cells)
    NotebookClient(notebook, timeout=120, kernel_name="python3", allow_errors=True).execute()
    return [cell.outputs for cell in notebook.cells]


def png_size(data: str) -> tuple[int, int]:
    raw = base64.b64decode(data)
    assert raw[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", raw[16:24])


@pytest.fixture(scope="module")
def outputs():
    return run(SETUP, FIGURE, ERROR)


def test_book_style_prints_nothing(outputs):
    assert outputs[0] == []


def test_figures_are_retina_png_and_never_svg(outputs):
    shown = [o for o in outputs[1] if o.output_type == "display_data"]
    assert len(shown) == 1
    data, metadata = shown[0].data, shown[0].metadata
    assert "image/png" in data and "image/svg+xml" not in data
    width, height = png_size(data["image/png"])
    # retina: twice the pixels in each direction of the size the page shows it at (rounded down)
    assert (width // 2, height // 2) == (metadata["image/png"]["width"], metadata["image/png"]["height"])


def test_a_deliberate_error_shows_only_its_type_and_message(outputs):
    (error,) = outputs[2]
    assert error.output_type == "error" and error.ename == "ValueError"
    shown = "\n".join(error.traceback)
    plain = re.sub(r"\x1b\[[0-9;]*m", "", shown)  # IPython colours it with ANSI codes
    assert plain.strip() == "ValueError: n_seq must be at most n_ctx = 8, got 9"


def test_the_setup_cell_may_come_after_pyplot_is_imported():
    # activating the inline backend resets the figure formats: book_style must win either way
    outputs = run("import matplotlib.pyplot as plt", SETUP, FIGURE)
    shown = [o for o in outputs[2] if o.output_type == "display_data"]
    width, _ = png_size(shown[0].data["image/png"])
    assert width // 2 == shown[0].metadata["image/png"]["width"]


def test_outside_ipython_it_sets_only_matplotlib():
    import matplotlib

    from gptlib.style import BOOK_RC, book_style

    with matplotlib.rc_context():
        book_style()
        assert all(matplotlib.rcParams[key] == (list(value) if isinstance(value, tuple) else value)
                   for key, value in BOOK_RC.items())
