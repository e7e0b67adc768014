"""Draw the book's diagrams from their source.

    python book/figures/make_diagrams.py             # (re)write every book/figures/<name>.svg
    python book/figures/make_diagrams.py --check     # exit 1 if a file differs from its source
    python book/figures/make_diagrams.py --snippet ch03_attention_flow   # the line to paste

diagrams.json (the manifest) lists each diagram: its name, the chapter that shows it, a title and
the alt text a blind reader hears. The drawing code is in diagrams_tokens.py (chapters 0-2),
diagrams_layers.py (3-5), diagrams_model.py (6) and diagrams_training.py (7-8), with the shared
helpers in drawing.py and the shapes read from gptlib in shapes.py.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))  # drawing.py, shapes.py and the diagram modules sit beside this file

import diagrams_layers  # noqa: E402
import diagrams_model  # noqa: E402
import diagrams_tokens  # noqa: E402
import diagrams_training  # noqa: E402

MANIFEST = HERE / "diagrams.json"
DRAWERS = {
    **diagrams_tokens.DIAGRAMS, **diagrams_layers.DIAGRAMS, **diagrams_model.DIAGRAMS, **diagrams_training.DIAGRAMS
}


def manifest() -> list[dict]:
    """The manifest's entries, checked against the drawing code: one entry per diagram, alt text for each."""
    entries = json.loads(MANIFEST.read_text(encoding="utf-8"))["diagrams"]
    names = [e["name"] for e in entries]
    if sorted(names) != sorted(DRAWERS) or len(set(names)) != len(names):
        raise ValueError(
            f"diagrams.json and the drawing code disagree: only in the manifest {sorted(set(names) - set(DRAWERS))}, "
            f"only in the code {sorted(set(DRAWERS) - set(names))}, listed twice "
            f"{sorted({n for n in names if names.count(n) > 1})}"
        )
    for e in entries:
        for key in ("chapter", "title", "alt"):
            if not str(e.get(key, "")).strip():
                raise ValueError(f"diagrams.json: {e['name']} has no {key}")
    return entries


def render_all() -> dict[str, str]:
    """{file name: SVG text} for every diagram in the manifest, drawn from source."""
    return {f"{e['name']}.svg": DRAWERS[e["name"]]().svg(e["title"], e["alt"]) for e in manifest()}


def snippet(entry: dict) -> str:
    """The markdown a chapter (in chapters/) pastes to show the diagram, with its alt text."""
    return f"![{entry['alt']}](../book/figures/{entry['name']}.svg)"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="compare with the files on disk; write nothing")
    parser.add_argument(
        "--snippet", nargs="*", metavar="NAME", help="print the markdown line for these diagrams (all if none)"
    )
    args = parser.parse_args(argv)

    if args.snippet is not None:
        entries = {e["name"]: e for e in manifest()}
        unknown = [n for n in args.snippet if n not in entries]
        if unknown:
            parser.error(f"no diagram named {', '.join(unknown)}; the names are {', '.join(entries)}")
        for name in args.snippet or entries:
            print(snippet(entries[name]))
        return 0

    rendered = render_all()
    stale = [
        name for name, text in rendered.items()
        if not (HERE / name).is_file() or (HERE / name).read_bytes() != text.encode("utf-8")
    ]
    if args.check:
        for name in stale:
            print(f"{name} differs from its source: run python book/figures/make_diagrams.py")
        return 1 if stale else 0

    from gptlib.files import atomic_write

    for name in stale:
        data = rendered[name].encode("utf-8")  # bytes: the same file on every platform
        atomic_write(HERE / name, lambda tmp, data=data: Path(tmp).write_bytes(data))
        print(f"wrote book/figures/{name}")
    print(f"{len(rendered)} diagrams, {len(stale)} rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
