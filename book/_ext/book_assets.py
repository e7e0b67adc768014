"""What each page of the book loads, beyond what its theme and extensions add.

* The book's own stylesheet and script (book/_static/book.css, book.js): the text column, code,
  output and maths widths, and the "Live Code needs a connection" message.
* MathJax only on pages with maths of their own. Sphinx asks whether a page "has equations"
  counting every page in its table of contents, so the front page loaded MathJax (about 1 MB of
  JavaScript) for the maths of the chapters it lists.
* Each script once. Sphinx 7.4 (the series Jupyter Book 1 requires) writes a script that an
  extension registered as inline code (``app.add_js_file(None, body=...)``) twice into every page:
  once as registered, and again when it re-reads its list before writing (``None`` and ``""``
  compare as different file names). sphinx-thebe registers ``const THEBE_JS_URL = ...`` that way,
  and the second copy is a ``SyntaxError: Identifier 'THEBE_JS_URL' has already been declared``.

(The theme's 1.5 MB icon script is replaced by a near-empty file of the same name in
book/_static/scripts; that file says why.)
"""


def _script_key(script):
    if isinstance(script, str):  # older Sphinx: plain file names
        return (script,)
    attributes = tuple(sorted((k, str(v)) for k, v in script.attributes.items()))
    return (script.filename or "", getattr(script, "priority", 0), attributes)


def _is_mathjax(script, mathjax_path: str) -> bool:
    if isinstance(script, str):
        return script.endswith(mathjax_path)
    body = script.attributes.get("body", "") or ""
    # the script itself, and the configuration that Sphinx writes for it (mathjax3_config)
    return (script.filename or "").endswith(mathjax_path) or body.lstrip().startswith("window.MathJax")


def drop_repeated_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        key = _script_key(script)
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique  # Sphinx restores its own list after each page


def mathjax_only_with_maths(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts or not app.config.mathjax_path:
        return
    own_maths = app.env.get_domain("math").data["has_equations"].get(pagename, False)
    if not own_maths:
        scripts[:] = [s for s in scripts if not _is_mathjax(s, app.config.mathjax_path)]


def setup(app):
    app.add_css_file("book.css")
    app.add_js_file("book.js", loading_method="defer")
    app.connect("html-page-context", drop_repeated_scripts)
    # after sphinx.ext.mathjax has added its script (priority 500)
    app.connect("html-page-context", mathjax_only_with_maths, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
