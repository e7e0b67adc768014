"""A Sphinx extension that serves the widgets' assets with the book, so its pages need no network.

After an HTML build it writes into ``_static/gptlib/``:

- ``book.js``: the loader that draws the widgets from the state saved in each page
  (``_config.yml`` points myst-nb's ``nb_ipywidgets_js`` at it, in place of CDN scripts), and
  ``widgets/``: the front-end of each kind of widget (``bundle``) and its stylesheet;
- ``web/``: the in-page GPT engine (gptlib/web: gpt.js, bpe.js);
- ``model/``: the book's model for the live views, as ``gptlib.web.export_page_model`` writes it
  (config.json, float16 weights, tokenizer.json and tokenizer.tiktoken), and manifest.json (the
  name the views show).
  The model is gptlib's Shakespeare GPT, or the checkpoint folder named by $GPTLIB_BOOK_MODEL;
- ``vendor/``: require.js and @jupyter-widgets/html-manager (from npm: ``npm ci``) and
  anywidget's front-end (from the anywidget package), which book.js loads only on a page that
  also shows widgets of other libraries.

Enable it in _config.yml: ``sphinx: extra_extensions: [gptlib.widgets.book]``.
"""

from __future__ import annotations

import json
import shutil
from importlib.resources import files
from pathlib import Path

import anywidget
from sphinx.util import logging

from ..files import atomic_write
from ..web import copy_scripts, export_page_model
from .base import PARTS, bundle, stylesheet
from .live import book_model_folder

logger = logging.getLogger(__name__)

WIDGETS_JS = files("gptlib.widgets") / "js"
# From npm (package.json): the html-manager for other libraries' widgets, and the loader it needs.
VENDOR_NPM = {
    "require.js": "requirejs/require.js",
    "embed-amd.js": "@jupyter-widgets/html-manager/dist/embed-amd.js",
}


def write_model(folder: Path, out: Path) -> None:
    """The book's model as the page loads it (gptlib.web's float16 export), and its name."""
    export_page_model(folder, out)
    manifest = json.dumps({"name": f"the book's model ({folder.name})"})
    atomic_write(
        out / "manifest.json", lambda tmp: Path(tmp).write_text(manifest, encoding="utf-8")
    )


def copy_vendor(srcdir: Path, out: Path) -> None:
    """require.js, the html-manager (with its fonts) and anywidget's AMD front-end."""
    modules = srcdir / "node_modules"
    missing = [p for p in VENDOR_NPM.values() if not (modules / p).is_file()]
    if missing:
        logger.info(
            "gptlib.widgets.book: %s not installed (npm ci): pages that mix in other libraries' "
            "widgets will not draw them",
            ", ".join(missing),
        )
        return
    out.mkdir(parents=True, exist_ok=True)
    for name, path in VENDOR_NPM.items():
        shutil.copyfile(modules / path, out / name)
    # The icon fonts its styles name, where they look: beside the name of the module whose
    # styles they are (@jupyter-widgets/controls, .../html-manager/dist/libembed-amd; book.js).
    for folder in (out / "@jupyter-widgets", out / "@jupyter-widgets" / "html-manager" / "dist"):
        folder.mkdir(parents=True, exist_ok=True)
        for font in (modules / VENDOR_NPM["embed-amd.js"]).parent.glob("*.woff2"):
            shutil.copyfile(font, folder / font.name)
    shutil.copyfile(
        Path(anywidget.__file__).parent / "nbextension" / "index.js", out / "anywidget.js"
    )


def copy_assets(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    out = Path(app.outdir) / "_static" / "gptlib"
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(WIDGETS_JS / "book.js", out / "book.js")
    (out / "widgets").mkdir(exist_ok=True)
    for kind in PARTS:
        (out / "widgets" / f"{kind}.js").write_text(bundle(kind), encoding="utf-8")
    (out / "widgets" / "widgets.css").write_text(stylesheet(), encoding="utf-8")
    copy_scripts(out / "web")
    write_model(book_model_folder(), out / "model")
    copy_vendor(Path(app.srcdir), out / "vendor")


def setup(app):
    app.connect("build-finished", copy_assets)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
