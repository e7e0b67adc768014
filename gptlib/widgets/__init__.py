"""Widgets that work everywhere the book is read.

Every widget here is one self-contained HTML fragment: its data as JSON, its JavaScript and its
CSS inline. So it runs in the static book with no kernel and no network (nothing is fetched from a
CDN), in JupyterLab, Notebook 7 and Colab, and its output is deterministic (the element id is a
hash of the content, never a random number), so nbval can compare it.

Each widget module (``tokens``, ``attention``, ...) builds its data and calls ``html_widget``.
"""

from __future__ import annotations

import hashlib
import json


class HTMLWidget:
    """Displays as HTML in a notebook; its plain-text form names the widget (no memory address)."""

    def __init__(self, html: str, title: str):
        self.html = html
        self.title = title

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return f"<{self.title}>"


def html_widget(kind: str, data, script: str, css: str = "", title: str | None = None) -> HTMLWidget:
    """One widget: a <div> with a deterministic id, its data, and a script that draws into it.

    ``script`` is the body of ``function(root, data) {...}``: ``root`` is the widget's <div>,
    ``data`` the parsed JSON. Keep ``data`` small (round floats before passing them).
    """
    payload = json.dumps(data, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    digest = hashlib.sha256((kind + payload + script + css).encode()).hexdigest()[:12]
    element_id = f"gptlib-{kind}-{digest}"
    safe_payload = payload.replace("</", "<\\/")  # the JSON must not close the <script> tag
    html = (
        f'<div id="{element_id}" class="gptlib-widget gptlib-{kind}"></div>\n'
        + (f"<style>{css}</style>\n" if css else "")
        + "<script>\n(function () {\n"
        + f'  var root = document.getElementById("{element_id}");\n'
        + f"  var data = {safe_payload};\n"
        + f"  (function (root, data) {{\n{script}\n  }})(root, data);\n"
        + "})();\n</script>"
    )
    return HTMLWidget(html, title or f"gptlib {kind} widget")
