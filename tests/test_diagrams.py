"""The book's diagrams (book/figures/*.svg): drawn from source, described for blind readers,
self-contained, legible on a phone, and dark in dark mode.

The drawing code reads every shape from gptlib (book/figures/shapes.py) and checks its own layout
while drawing, so regenerating the files here also re-checks them against gptlib.
"""

from __future__ import annotations

import importlib.util
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIGURES = REPO / "book" / "figures"
SVG_NS = "{http://www.w3.org/2000/svg}"


def _load_generator():
    spec = importlib.util.spec_from_file_location("make_diagrams", FIGURES / "make_diagrams.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # it puts book/figures on sys.path for its helpers
    return module


gen = _load_generator()
import drawing  # noqa: E402  (book/figures/drawing.py, importable once the generator is loaded)

ENTRIES = gen.manifest()
NAMES = [e["name"] for e in ENTRIES]


@pytest.fixture(scope="module")
def rendered():
    return gen.render_all()


def test_regenerating_gives_the_files_byte_for_byte(rendered):
    stale = [name for name, text in rendered.items() if (FIGURES / name).read_bytes() != text.encode("utf-8")]
    assert stale == [], f"{stale} differ from their source: run python book/figures/make_diagrams.py"


def test_every_svg_in_the_folder_is_a_listed_diagram():
    on_disk = {p.stem for p in FIGURES.glob("*.svg")} - {"logo"}
    assert on_disk == set(NAMES)


@pytest.mark.parametrize("entry", ENTRIES, ids=NAMES)
def test_alt_text_describes_the_diagram(entry):
    alt = entry["alt"]
    assert alt != entry["title"] and 100 <= len(alt) <= 900, "alt text: a sentence or two that says what is drawn"
    assert alt[0].isupper() and alt.endswith("."), "alt text is written as sentences"
    assert (REPO / entry["chapter"]).parent == REPO / "chapters"


@pytest.mark.parametrize("entry", ENTRIES, ids=NAMES)
def test_the_snippet_renders_as_an_image_with_exactly_the_alt_text(entry):
    """Markdown could eat characters of the alt text (a '*' pair is emphasis, '$' starts maths in
    the book's MyST); the snippet must not."""
    from markdown_it import MarkdownIt

    assert "$" not in entry["alt"]
    tokens = MarkdownIt("commonmark").parseInline(gen.snippet(entry))[0].children
    images = [t for t in tokens if t.type == "image"]
    assert len(images) == 1 and len(tokens) == 1
    assert images[0].content == entry["alt"]
    # the path is relative to a notebook in chapters/
    assert (REPO / "chapters" / images[0].attrs["src"]).resolve() == FIGURES / f"{entry['name']}.svg"


def _chapter_images():
    """(notebook, src, alt) for every markdown image in the chapters that shows a diagram."""
    pattern = re.compile(r"!\[(?P<alt>[^\n]*?)\]\((?P<src>[^)\s]*book/figures/[^)\s]+\.svg)\)")
    for nb in sorted((REPO / "chapters").glob("*.ipynb")):
        for cell in json.loads(nb.read_text(encoding="utf-8"))["cells"]:
            if cell["cell_type"] == "markdown":
                for m in pattern.finditer("".join(cell["source"])):
                    yield nb.name, m["src"], m["alt"]


def test_chapters_show_diagrams_with_their_manifest_alt_text():
    alts = {e["name"]: e["alt"] for e in ENTRIES}
    for nb, src, alt in _chapter_images():
        name = Path(src).stem
        if name == "logo":
            continue
        assert name in alts, f"{nb} shows {src}, which diagrams.json does not list"
        assert src == f"../book/figures/{name}.svg", f"{nb}: {src} is not the path a chapter uses"
        assert alt == alts[name], f"{nb}: the alt text of {name} differs from diagrams.json; paste the snippet again"


@pytest.mark.parametrize("name", NAMES)
def test_svg_parses_has_a_viewbox_and_is_legible_on_a_phone(name):
    root = ET.parse(FIGURES / f"{name}.svg").getroot()
    assert root.tag == f"{SVG_NS}svg"
    x0, y0, w, h = (float(v) for v in root.attrib["viewBox"].split())
    assert (x0, y0) == (0, 0) and 0 < w <= 640 and h > 0
    assert float(root.attrib["width"]) == w and float(root.attrib["height"]) == h
    scale = min(1.0, drawing.PHONE_COLUMN_PX / w)
    sizes = [float(t.attrib["font-size"]) for t in root.iter(f"{SVG_NS}text")]
    assert sizes and min(sizes) * scale >= 12, f"smallest text is {min(sizes) * scale:.1f} px on a phone"
    assert root.find(f"{SVG_NS}title").text and root.find(f"{SVG_NS}desc").text


@pytest.mark.parametrize("name", NAMES)
def test_svg_references_nothing_outside_itself(name):
    text = (FIGURES / f"{name}.svg").read_text(encoding="utf-8")
    root = ET.fromstring(text)
    for el in root.iter():
        tag = el.tag.replace(SVG_NS, "")
        assert tag not in ("image", "script", "foreignObject", "use", "a", "iframe"), f"<{tag}> in {name}"
        for key, value in el.attrib.items():
            assert "href" not in key, f"{name}: <{tag} {key}={value!r}>"
            assert "url(" not in value and "://" not in value, f"{name}: <{tag} {key}={value!r}>"
    style = "".join(el.text or "" for el in root.iter(f"{SVG_NS}style"))
    assert "@import" not in style and "url(" not in style and "@font-face" not in style
    # the only URL in the file is the SVG namespace
    assert re.findall(r"[a-z]+://[^\s\"')]+", text) == ["http://www.w3.org/2000/svg"]


def test_the_generator_refuses_cramped_layouts():
    """The layout check is what keeps the diagrams legible; show that it bites."""
    Figure = drawing.Figure
    fig = Figure(440)
    fig.box(20, 20, 60, 30, ["`a label far too long for its box"])
    with pytest.raises(ValueError, match="wider than its box"):
        fig.svg("t", "d")
    fig = Figure(440)
    fig.text(220, 40, "over")
    fig.arrow(220, 0, 220, 80)
    with pytest.raises(ValueError, match="line crosses"):
        fig.svg("t", "d")
    fig = Figure(1000)
    fig.text(500, 40, "tiny on a phone", size=16)
    with pytest.raises(ValueError, match="px high on a phone"):
        fig.svg("t", "d")


def test_diagrams_follow_the_page_colour_scheme_in_a_browser(tmp_path):
    """Shown through <img>, each SVG takes its dark palette when the page's color-scheme is dark
    (what the book's theme sets when its toggle is dark), and its light one otherwise."""
    import shutil
    from io import BytesIO

    import browser
    from PIL import Image

    browser.require_chromium()
    for name in NAMES:
        shutil.copy(FIGURES / f"{name}.svg", tmp_path)
    imgs = "".join(f"<img src='{n}.svg' style='display:block;margin:4px'>" for n in NAMES)
    for scheme in ("light", "dark"):
        (tmp_path / f"{scheme}.html").write_text(
            f"<!doctype html><html style='color-scheme:{scheme}'><body>{imgs}</body></html>", encoding="utf-8"
        )
    backgrounds = [tuple(int(c[i : i + 2], 16) for i in (1, 3, 5)) for c in drawing.PALETTE["bg"]]
    with browser.serve(tmp_path) as base, browser.chromium() as driver:
        for scheme, expected in zip(("light", "dark"), backgrounds):
            driver.get(f"{base}/{scheme}.html")
            driver.execute_script("return Promise.all([...document.images].map(i => i.decode()))")
            for img in driver.find_elements("css selector", "img"):
                shot = Image.open(BytesIO(img.screenshot_as_png)).convert("RGB")
                assert shot.getpixel((3, 3)) == expected, f"{img.get_attribute('src')} with color-scheme {scheme}"


def test_the_theme_still_sets_color_scheme_on_its_dark_toggle():
    """The dark palette follows the book's toggle only because the theme sets color-scheme: dark."""
    import pydata_sphinx_theme

    css = Path(pydata_sphinx_theme.__file__).parent / "theme/pydata_sphinx_theme/static/styles/pydata-sphinx-theme.css"
    rules = re.findall(r"html\[data-theme=dark\]\{([^}]*)\}", css.read_text(encoding="utf-8"))
    assert any(re.search(r"(^|;)color-scheme:dark(;|$)", r) for r in rules)
