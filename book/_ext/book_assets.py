"""A Sphinx fix the book needs so that its pages load with no JavaScript error.

Sphinx 7.4 (the series Jupyter Book 1 requires) writes a script that an extension registered as
inline code (``app.add_js_file(None, body=...)``) twice into every page: once as registered, and
again when it re-reads its list before writing (``None`` and ``""`` compare as different file
names). sphinx-thebe registers ``const THEBE_JS_URL = ...`` that way, and the second copy is a
``SyntaxError: Identifier 'THEBE_JS_URL' has already been declared`` in the browser console.
This drops the repeats from each page's scripts.
"""


def _script_key(script):
    if isinstance(script, str):  # older Sphinx: plain file names
        return (script,)
    attributes = tuple(sorted((k, str(v)) for k, v in script.attributes.items()))
    return (script.filename or "", getattr(script, "priority", 0), attributes)


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


def setup(app):
    app.connect("html-page-context", drop_repeated_scripts)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
