"""Widgets that work everywhere the book is read: the static book, JupyterLab, Notebook 7, Colab.

Each is an anywidget with one JavaScript front-end (``gptlib/widgets/js``; see ``base``):

- ``token_viewer`` (chapter 1): a text coloured by its tokens, and a box for the reader's text;
- ``attention_map_widget`` (chapter 3): every head of every layer, as heatmaps;
- ``sampling_explorer`` (chapter 7): temperature, top-k and top-p against a real distribution;
- ``loss_widget`` (chapter 8): loss curves of a training run;
- ``live_gpt`` and ``playground`` (issue 16): the reader's own text through a GPT (tokens,
  next-token distribution, generation, attention, logit lens), computed in the page with no
  kernel in the static book, or by Python with the reader's model while a kernel runs.

``gptlib.widgets.book`` is the Sphinx extension that serves the front-end's assets with the book.
"""

from .attention import attention_map_widget
from .base import visible
from .live import live_gpt, playground
from .loss import loss_widget
from .sampling import sampling_explorer
from .tokens import token_viewer

__all__ = [
    "attention_map_widget",
    "live_gpt",
    "loss_widget",
    "playground",
    "sampling_explorer",
    "token_viewer",
    "visible",
]
