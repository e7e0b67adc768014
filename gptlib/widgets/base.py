"""What every gptlib widget shares: one anywidget class, its JavaScript and CSS, the kernel side.

A widget is an ``anywidget.AnyWidget``: Python holds its data as traits; its front-end is one ES
module assembled from the files in ``gptlib/widgets/js`` (``bundle``). The same module draws it
everywhere:

- in JupyterLab, Notebook 7 and Colab, through anywidget, with Python answering the widget's
  requests (the reader's text, a generation) while a kernel runs;
- in the static book, from the widget state that nbclient saves into the notebook and myst-nb
  writes into the page, drawn by the book's loader (``js/book.js``, see ``gptlib.widgets.book``)
  with no kernel and no network.

Outputs are deterministic: the model id is the widget's kind and a counter (never a random
number or a memory address), floats are rounded before they become data, and the
plain-text form names the widget, so nbval compares the same text on every machine.
"""

from __future__ import annotations

import itertools
from importlib.resources import files

import anywidget
import ipywidgets
import traitlets

JS_DIR = files("gptlib.widgets") / "js"

# The JavaScript files of each kind of widget, between common.js and widget.js.
PARTS = {
    "tokens": ["tokens"],
    "attention": ["attention"],
    "sampling": ["sampling"],
    "loss": ["loss"],
    "live": ["tokens", "attention", "sampling", "live"],
}


def bundle(kind: str) -> str:
    """The ES module of one kind of widget: its JavaScript files concatenated, in order."""
    names = ["common", *PARTS[kind], "widget"]
    return "".join(
        f"// --- {name}.js ---\n" + (JS_DIR / f"{name}.js").read_text(encoding="utf-8")
        for name in names
    )


def stylesheet() -> str:
    return (JS_DIR / "widgets.css").read_text(encoding="utf-8")


def visible(token: str) -> str:
    """A token with its whitespace made visible (the widgets draw labels with the same glyphs)."""
    return token.replace(" ", "\u2423").replace("\n", "\u21b5").replace("\t", "\u21e5") or "\u2205"


_serial = itertools.count()  # model ids: unique in a kernel, the same on every run of a notebook


class Widget(anywidget.AnyWidget):
    """One gptlib widget: ``kind`` picks the front-end, ``data`` is what it draws.

    Subclasses set ``KIND`` (and may add traits); ``summary`` is the plain-text form.
    """

    KIND = ""
    kind = traitlets.Unicode().tag(sync=True)
    data = traitlets.Dict().tag(sync=True)

    def __init_subclass__(cls, **kwargs):
        # Only where KIND is set: traitlets subclasses the class again when anywidget adds traits.
        if "KIND" in cls.__dict__:
            cls._esm = bundle(cls.KIND)
            cls._css = stylesheet()
        super().__init_subclass__(**kwargs)

    def __init__(self, data: dict, summary: str, **traits):
        model_id = f"gptlib-{self.KIND}-{next(_serial)}"
        self._summary = summary
        super().__init__(
            kind=self.KIND,
            data=data,
            model_id=model_id,
            layout=ipywidgets.Layout(model_id=model_id + "-layout"),
            **traits,
        )
        self.on_msg(self._on_message)

    def __repr__(self) -> str:
        return f"<{self._summary}>"

    # --- the kernel side: the front-end asks, Python answers ------------------------------------

    def _on_message(self, _widget, content, _buffers):
        if not isinstance(content, dict):
            return
        if content.get("type") == "hello":  # the front-end checks that a kernel listens
            self.send({"type": "kernel"})
            return
        if "request" not in content:
            return
        try:
            reply = self.answer(content)
        except Exception as error:  # the reader sees the message in the widget
            reply = {"error": f"{type(error).__name__}: {error}"}
        self.send({"reply_to": content["request"], **reply})

    def answer(self, request: dict) -> dict:
        """The reply to a request from the front-end (a dict with "type"); subclasses answer."""
        raise ValueError(f"this widget does not answer {request.get('type')!r} requests")
