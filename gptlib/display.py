"""Helpers for the chapters: show gptlib's own code instead of copying it."""

import inspect


def show_source(*objects):
    """Display the source of gptlib functions or classes, highlighted, in a notebook.

    The chapters call this so that the code a reader sees is the code the tests check.
    """
    from IPython.display import Code

    return Code("\n\n".join(inspect.getsource(obj) for obj in objects), language="python")
