"""How the book's notebooks look: one call in each chapter's setup cell, ``book_style()``.

It sets matplotlib and IPython so that what a chapter stores reads well in the rendered book:

* figures as "retina" PNG (drawn at twice the pixels they are shown at), crisp on high-density
  screens. Never SVG: nbval compares SVG text, whose coordinates change with the CPU's rounding;
  it skips PNG;
* fonts sized for a figure that a phone shows at about 360 px wide, and a layout engine
  (constrained layout) that keeps titles, a figure's ``suptitle`` and tick labels from
  colliding. Leave out ``plt.tight_layout()`` (it would replace that layout engine and warn)
  and explicit ``dpi=`` (it would undo the sizes);
* a deliberate error shown as ``ExceptionType: message``, with no traceback: a traceback
  shows the paths of the machine that ran the notebook, and the message is what a reader needs.

It prints nothing, and outside IPython it sets only matplotlib.
"""

from __future__ import annotations

# A figure 6.4 in wide at 100 dpi is shown 640 px wide on a desktop and scaled to about 360 px on
# a phone, where 12 pt tick labels (17 px on the desktop) stay about 9.5 px tall: the smallest
# that reads well.
BOOK_RC = {
    "figure.dpi": 100,
    "figure.figsize": (6.4, 3.6),
    "figure.constrained_layout.use": True,
    "font.size": 13,
    "axes.titlesize": 13,
    "axes.labelsize": 13,
    "xtick.labelsize": 12,
    "ytick.labelsize": 12,
    "legend.fontsize": 12,
    "figure.titlesize": 14,
}


def book_style() -> None:
    """Set matplotlib and IPython for the book (see the module docstring); prints nothing."""
    import matplotlib

    matplotlib.rcParams.update(BOOK_RC)
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:  # plain Python: no inline figures or tracebacks to set
        return
    import matplotlib.pyplot  # noqa: F401  (activating the inline backend resets the formats: first)
    from matplotlib_inline.backend_inline import set_matplotlib_formats

    set_matplotlib_formats("retina")
    # Minimal mode prints "ExceptionType: message". The %xmode magic would print a line;
    # setting the mode on the shell's formatter does the same silently.
    shell.InteractiveTB.set_mode("Minimal")
