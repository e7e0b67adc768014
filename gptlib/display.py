"""Helpers for the chapters: show gptlib's own code instead of copying it.

A chapter shows what it has taught so far. gptlib marks the few lines that belong to a later
chapter (the KV cache of chapter 7 runs through attention and the model) with a tag at the
end of the line:

- ``# [ch7] comment``: the whole line is chapter 7's;
- ``# [ch7: name, ...] comment`` on any line: these names are chapter 7's, so they are left
  out of every parameter and argument list of the function (``kv_cache=NO_CACHE`` in a
  signature, ``, kv_cache`` in a call).

``show_source(obj, chapter=3)`` leaves those out, says so in a closing comment, and refuses
to show a view that still mentions a name it left out. Without ``chapter`` (or from chapter 7
on) everything is shown; the tags themselves are never shown.
"""

from __future__ import annotations

import inspect
import re

_TAG = re.compile(r"\s*# \[ch(\d+)(?::\s*([\w, ]+))?\]\s*(.*)$")


def focused_source(obj, chapter: int | None = None) -> str:
    """The source of ``obj`` as chapter ``chapter`` shows it (None: all of it)."""
    lines, names, hidden, later_chapters = [], set(), 0, set()
    for line in inspect.getsource(obj).splitlines():
        tag = _TAG.search(line)
        if tag is None:
            lines.append(line)
            continue
        later = chapter is not None and int(tag[1]) > chapter
        comment = f"  # {tag[3]}" if tag[3] else ""
        if later:
            later_chapters.add(int(tag[1]))
        if tag[2]:  # names of a later chapter: left out of the argument lists below
            names |= {n.strip() for n in tag[2].split(",") if n.strip()} if later else set()
            lines.append(line[: tag.start()] + comment)
        elif later:
            hidden += 1
        else:
            lines.append(line[: tag.start()] + comment)
    for name in sorted(names):
        # ", name", ", name: int = 0", ", name=value", ", name[i]"; then a bare "*" left before ")"
        argument = re.compile(rf",\s*{name}\b(?:\[\w+\])?(?:\s*:\s*[\w.]+)?(?:\s*=\s*[\w.]+)?")
        lines = [re.sub(r",\s*\*\s*\)", ")", argument.sub("", line)) for line in lines]
        if any(re.search(rf"\b{name}\b", line) for line in lines):
            raise ValueError(f"{obj.__qualname__} still mentions {name!r} once it is left out")
    if hidden or names:
        what = [f"{hidden} line{'s' * (hidden > 1)}"] if hidden else []
        what += [f"{', '.join(sorted(names))} in argument lists"] if names else []
        adds = " and ".join(f"chapter {n}" for n in sorted(later_chapters))
        indent = re.match(r"\s*", lines[0])[0]
        lines.insert(0, f"{indent}# Not shown here: {' and '.join(what)}, which {adds} adds.")
    return "\n".join(lines)


def show_source(*objects, chapter: int | None = None):
    """Display the source of gptlib functions or classes, highlighted, in a notebook.

    The chapters call this so that the code a reader sees is the code the tests check.
    ``chapter``: the chapter showing it, which leaves out what later chapters add.
    """
    from IPython.display import Code  # IPython comes with the book's extras, not with gptlib

    source = "\n\n".join(focused_source(obj, chapter) for obj in objects)
    return Code(source, language="python")
