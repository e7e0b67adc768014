"""The few SVG drawing helpers that every diagram of the book shares.

A ``Figure`` collects text, boxes, arrows and grids in a coordinate system ``width`` units wide
and writes one self-contained SVG: no fonts, scripts or images are fetched, so the file works
in the static book, in JupyterLab and opened on its own.

Why the figure checks its own layout: the book is read on 390 px phones, and a diagram that is
cramped there is a bug. ``Figure`` estimates every text's extent (with DejaVu Sans' advance
widths, the widest of the common sans fonts, so the estimate errs on the wide side), and
``svg()`` refuses a figure whose text leaves the canvas, overlaps other text or spills out of
its box, or would be smaller than 12 px on a phone, where an image is 343 px wide.

Light and dark: one file carries both palettes. An SVG shown through ``<img>`` evaluates
``prefers-color-scheme`` against the ``color-scheme`` of the page that embeds it (Media
Queries 5; Chromium and Firefox do this), and the book's theme sets ``color-scheme: dark`` on
``<html>`` when its toggle is dark, so the diagram follows the toggle. Elsewhere it follows the
browser's preference. The figure paints its own background, so it is legible on any page.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from xml.sax.saxutils import escape

PHONE_COLUMN_PX = 343  # an image's width in the book on a 390 px wide phone (measured in Chromium)
MIN_PHONE_TEXT_PX = 12  # no text may be drawn smaller than this there

SANS = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, 'DejaVu Sans', sans-serif"
MONO = "ui-monospace, SFMono-Regular, Menlo, Consolas, 'DejaVu Sans Mono', 'Liberation Mono', monospace"

# Advance widths (in em) of DejaVu Sans Bold for ASCII 32..126: the bold face, so that the
# estimate also covers bold text. Other characters count as 0.84 em (DejaVu's arrows and signs).
_SANS_WIDTHS = [
    0.35, 0.46, 0.52, 0.84, 0.7, 1.0, 0.87, 0.31, 0.46, 0.46, 0.52, 0.84, 0.38, 0.42, 0.38, 0.37,
    0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.4, 0.4, 0.84, 0.84, 0.84, 0.58,
    1.0, 0.77, 0.76, 0.73, 0.83, 0.68, 0.68, 0.82, 0.84, 0.37, 0.37, 0.77, 0.64, 1.0, 0.84, 0.85,
    0.73, 0.85, 0.77, 0.72, 0.68, 0.81, 0.77, 1.1, 0.77, 0.72, 0.73, 0.46, 0.37, 0.46, 0.84, 0.5,
    0.5, 0.67, 0.72, 0.59, 0.72, 0.68, 0.44, 0.72, 0.71, 0.34, 0.34, 0.67, 0.34, 1.04, 0.71, 0.69,
    0.72, 0.72, 0.49, 0.6, 0.48, 0.71, 0.65, 0.92, 0.65, 0.65, 0.58, 0.71, 0.37, 0.71, 0.84,
]
_MONO_WIDTH = 0.61  # DejaVu Sans Mono is 0.602 em; Menlo, SF Mono and Roboto Mono 0.6
_SUPER_SCALE = 0.7  # superscripts and subscripts are drawn at 70 % of the text's size

# Colour roles, as (light, dark). The dark values are a little brighter than they would be on
# their own: the book's theme dims every image in dark mode (filter: brightness(0.8)
# contrast(1.2), which maps a channel c to about 0.96 c - 0.1), and the background is chosen so
# that, dimmed, it matches the theme's dark page (#14181e).
PALETTE = {
    "bg": ("#ffffff", "#2f343a"),
    "ink": ("#1f2328", "#eef2f6"),
    "muted": ("#545d68", "#c2cad3"),
    "line": ("#3d444d", "#d5dce3"),
    "op": ("#f3f5f7", "#454d57"),  # an operation (fill)
    "op-edge": ("#7d8794", "#aab3bd"),
    "param": ("#d3f3ec", "#17574e"),  # a learned parameter
    "param-edge": ("#0b7a6a", "#5fd9c4"),
    "param-ink": ("#08645a", "#7fe6d3"),
    "data": ("#dde9fb", "#22436f"),  # activations: a tensor of numbers
    "data-edge": ("#2f6fd1", "#86b5fa"),
    "data-ink": ("#1d5bbf", "#a3c6fb"),
    "resid": ("#ffe6d1", "#6a3612"),  # the residual stream
    "resid-edge": ("#c4540c", "#ffa45c"),
    "resid-ink": ("#a6470a", "#ffb87d"),
    "grad": ("#ffe1e7", "#6b2233"),  # gradients
    "grad-edge": ("#c9254a", "#ff8fa6"),
    "grad-ink": ("#b01e40", "#ffa3b7"),
    "hi": ("#fff0a3", "#6b5700"),  # what the eye should follow
    "hi-edge": ("#9a7500", "#f0c54a"),
    "off": ("#e9ecef", "#383e45"),  # masked / unused cells
    "off-edge": ("#b3bcc6", "#5b646e"),
}

# The drawing classes, each a fill and/or stroke from the palette.
_CLASSES = {
    "bg": {"fill": "bg"},
    "ink": {"fill": "ink"},
    "muted": {"fill": "muted"},
    "t-param": {"fill": "param-ink"},
    "t-data": {"fill": "data-ink"},
    "t-resid": {"fill": "resid-ink"},
    "t-grad": {"fill": "grad-ink"},
    "op": {"fill": "op", "stroke": "op-edge"},
    "param": {"fill": "param", "stroke": "param-edge"},
    "data": {"fill": "data", "stroke": "data-edge"},
    "resid": {"fill": "resid", "stroke": "resid-edge"},
    "grad": {"fill": "grad", "stroke": "grad-edge"},
    "hi": {"fill": "hi", "stroke": "hi-edge"},
    "off": {"fill": "off", "stroke": "off-edge"},
    "frame": {"fill": "none", "stroke": "op-edge"},
    "outline": {"fill": "none", "stroke": "hi-edge"},
    "heat": {"fill": "data-edge", "stroke": "bg"},  # a number: its size is the fill's opacity
    "l-flow": {"stroke": "line"},
    "l-param": {"stroke": "param-edge"},
    "l-data": {"stroke": "data-edge"},
    "l-resid": {"stroke": "resid-edge"},
    "l-grad": {"stroke": "grad-edge"},
    "l-hi": {"stroke": "hi-edge"},
    "a-flow": {"fill": "line"},
    "a-param": {"fill": "param-edge"},
    "a-data": {"fill": "data-edge"},
    "a-resid": {"fill": "resid-edge"},
    "a-grad": {"fill": "grad-edge"},
    "a-hi": {"fill": "hi-edge"},
}
LINE_KINDS = ("flow", "param", "data", "resid", "grad", "hi")


def _css() -> str:
    def rules(mode: int) -> str:
        out = []
        for cls, props in _CLASSES.items():
            values = ((prop, PALETTE[role][mode] if role in PALETTE else role) for prop, role in props.items())
            decl = ";".join(f"{prop}:{value}" for prop, value in values)
            out.append(f".{cls}{{{decl}}}")
        return "".join(out)

    base = (
        f"text{{font-family:{SANS}}}.mono{{font-family:{MONO}}}.b{{font-weight:700}}"
        "[class^=l-]{fill:none;stroke-width:2;stroke-linecap:round;stroke-linejoin:round}"
        ".thick{stroke-width:7}.dash{stroke-dasharray:7 5}"
        "rect,circle{stroke-width:1.5}.outline{stroke-width:3}"
    )
    return f"{base}{rules(0)}@media (prefers-color-scheme:dark){{{rules(1)}}}"


def num(v: float) -> str:
    """A coordinate as short, deterministic text: rounded to 0.1 unit, no trailing zeros."""
    r = round(float(v), 1)
    if r == 0:
        r = 0.0  # never write "-0"
    return f"{r:g}" if abs(r) < 1e6 else str(int(r))


def _parse_markup(s: str) -> list[tuple[str, str]]:
    """'q k^{T}' -> [('', 'q k'), ('^', 'T')]: ^{...} superscript, _{...} subscript."""
    parts, i, plain = [], 0, ""
    while i < len(s):
        if s[i] in "^_" and s[i + 1 : i + 2] == "{":
            end = s.index("}", i)
            if plain:
                parts.append(("", plain))
                plain = ""
            parts.append((s[i], s[i + 2 : end]))
            i = end + 1
        else:
            plain += s[i]
            i += 1
    if plain:
        parts.append(("", plain))
    return parts


def text_width(s: str, size: float, mono: bool = False) -> float:
    """An upper estimate of how wide ``s`` is drawn at font size ``size`` (markup allowed)."""
    total = 0.0
    for kind, chunk in _parse_markup(s):
        scale = size * (_SUPER_SCALE if kind else 1.0)
        for ch in chunk:
            code = ord(ch)
            em = _MONO_WIDTH if mono else (_SANS_WIDTHS[code - 32] if 32 <= code < 127 else 0.84)
            total += em * scale
    return total


@dataclass
class _Text:
    x0: float
    y0: float
    x1: float
    y1: float
    s: str
    size: float
    over_lines: bool  # drawn on top of lines on purpose (a symbol in a circle)
    inside: tuple | None  # the box (x0, y0, x1, y1) it must stay inside, if any


class Figure:
    """A diagram being drawn: add elements, then ``svg(title, desc)`` returns the file's text."""

    def __init__(self, width: float, margin: float = 12):
        self.width = width
        self.margin = margin
        self.parts: list[str] = []
        self.top: list[str] = []  # drawn after (over) everything in parts
        self.texts: list[_Text] = []
        self.segments: list[tuple] = []  # every line drawn, to keep text off them
        self.rects: list[tuple] = []  # every box's (x0, y0, x1, y1), to keep text off their edges
        self.bottom = 0.0  # lowest point drawn so far

    # --- primitives -------------------------------------------------------------------------

    def _grow(self, y: float) -> None:
        self.bottom = max(self.bottom, y)

    def text(self, x, y, s, *, size=16, cls="ink", anchor="middle", mono=False, bold=False, inside=None, top=False):
        """Draw ``s`` with its baseline at y; ``inside``: the (x0, y0, x1, y1) it must fit in."""
        w = text_width(s, size, mono)
        x0 = {"start": x, "middle": x - w / 2, "end": x - w}[anchor]
        self.texts.append(_Text(x0, y - 0.78 * size, x0 + w, y + 0.22 * size, s, size, top, inside))
        self._grow(y + 0.22 * size)
        classes = " ".join(c for c in (cls, "mono" if mono else "", "b" if bold else "") if c)
        body = []
        for kind, chunk in _parse_markup(s):
            if kind:
                shift = "super" if kind == "^" else "sub"
                body.append(
                    f'<tspan font-size="{num(size * _SUPER_SCALE)}" baseline-shift="{shift}">{escape(chunk)}</tspan>'
                )
            else:
                body.append(escape(chunk))
        anchor_attr = "" if anchor == "start" else f' text-anchor="{anchor}"'
        (self.top if top else self.parts).append(
            f'<text x="{num(x)}" y="{num(y)}" font-size="{num(size)}" class="{classes}"{anchor_attr}>'
            + "".join(body)
            + "</text>"
        )
        return w

    def rect(self, x, y, w, h, cls="op", rx=6, extra=""):
        self._grow(y + h)
        if x < 0 or x + w > self.width:
            raise ValueError(f"a box from x={x:.0f} to {x + w:.0f} leaves the canvas (width {self.width})")
        if cls not in ("frame", "outline"):  # frames enclose labels and boxes; they may cross nothing
            self.rects.append((x, y, x + w, y + h))
        self.parts.append(
            f'<rect x="{num(x)}" y="{num(y)}" width="{num(w)}" height="{num(h)}" rx="{num(rx)}" class="{cls}"{extra}/>'
        )

    def circle(self, cx, cy, r, cls="op", top=False):
        self._grow(cy + r)
        (self.top if top else self.parts).append(f'<circle cx="{num(cx)}" cy="{num(cy)}" r="{num(r)}" class="{cls}"/>')

    def line(self, points, kind="flow", *, arrow=True, dashed=False, thick=False):
        """A polyline through ``points`` [(x, y), ...]; with an arrowhead at the last point."""
        if kind not in LINE_KINDS:
            raise ValueError(f"line kind must be one of {LINE_KINDS}, got {kind!r}")
        for _, y in points:
            self._grow(y)
        pts = list(points)
        self.segments += list(zip(pts, pts[1:]))
        head = ""
        if arrow:
            # stop the line short of the tip so its end does not poke through the arrowhead
            (xa, ya), (xb, yb) = pts[-2], pts[-1]
            length = math.hypot(xb - xa, yb - ya)
            size = 11 if thick else 9
            ux, uy = (xb - xa) / length, (yb - ya) / length
            pts[-1] = (xb - ux * size * 0.8, yb - uy * size * 0.8)
            px, py = -uy, ux
            tip = (xb, yb)
            left = (xb - ux * size + px * size * 0.5, yb - uy * size + py * size * 0.5)
            right = (xb - ux * size - px * size * 0.5, yb - uy * size - py * size * 0.5)
            head = (
                f'<path d="M{num(tip[0])} {num(tip[1])}L{num(left[0])} {num(left[1])}'
                f'L{num(right[0])} {num(right[1])}Z" class="a-{kind}"/>'
            )
        classes = " ".join(c for c in (f"l-{kind}", "dash" if dashed else "", "thick" if thick else "") if c)
        d = "M" + "L".join(f"{num(x)} {num(y)}" for x, y in pts)
        self.parts.append(f'<path d="{d}" class="{classes}"/>' + head)

    def arrow(self, x0, y0, x1, y1, kind="flow", **kw):
        self.line([(x0, y0), (x1, y1)], kind, **kw)

    # --- composites ---------------------------------------------------------------------------

    def box(self, x, y, w, h, lines, cls="op", *, rx=6, size=16):
        """A rectangle with lines of text centred in it.

        ``lines``: strings, or (string, options) pairs with options for ``text`` (mono, cls,
        size, bold). A string that starts with '`' is drawn in monospace (the '`' removed).
        """
        self.rect(x, y, w, h, cls, rx=rx)
        specs = []
        for line in lines:
            s, opts = (line, {}) if isinstance(line, str) else line
            opts = dict(opts)
            if s.startswith("`"):
                s, opts["mono"] = s[1:], True
            opts.setdefault("size", size)
            specs.append((s, opts))
        gap = 4
        total = sum(o["size"] for _, o in specs) + gap * (len(specs) - 1)
        baseline = y + (h - total) / 2
        for s, opts in specs:
            baseline += opts["size"]
            inside = (x + 4, y + 2, x + w - 4, y + h - 2)
            self.text(x + w / 2, baseline - 0.12 * opts["size"], s, inside=inside, **opts)
            baseline += gap
        return (x, y, w, h)

    def grid(self, x, y, rows, cols, cell, classes, labels=None, *, size=16, mono=True):
        """A rows x cols grid of square cells; classes[r][c] its class, labels[r][c] its text."""
        for r in range(rows):
            for c in range(cols):
                cx, cy = x + c * cell, y + r * cell
                self.rect(cx, cy, cell, cell, classes[r][c], rx=2)
                if labels is not None and labels[r][c]:
                    self.text(
                        cx + cell / 2, cy + cell / 2 + 0.36 * size, labels[r][c], size=size, mono=mono,
                        inside=(cx + 1, cy, cx + cell - 1, cy + cell),
                    )

    # --- output -------------------------------------------------------------------------------

    def check_layout(self) -> None:
        """Refuse text that leaves the canvas or its box, meets other text or a line, or is too small."""
        problems = []
        scale = min(1.0, PHONE_COLUMN_PX / self.width)
        for t in self.texts:
            if t.x0 < 0 or t.x1 > self.width:
                problems.append(f"{t.s!r} leaves the canvas (x from {t.x0:.0f} to {t.x1:.0f}, width {self.width})")
            if t.inside and (t.x0 < t.inside[0] - 0.5 or t.x1 > t.inside[2] + 0.5):
                problems.append(f"{t.s!r} is wider than its box ({t.x1 - t.x0:.0f} > {t.inside[2] - t.inside[0]:.0f})")
            if t.size * scale < MIN_PHONE_TEXT_PX - 1e-9:
                problems.append(f"{t.s!r} is {t.size * scale:.1f} px high on a phone (< {MIN_PHONE_TEXT_PX})")
        for t in self.texts:
            for (xa, ya), (xb, yb) in [] if t.over_lines else self.segments:
                steps = max(1, int(math.hypot(xb - xa, yb - ya) / 2))
                for k in range(steps + 1):
                    px, py = xa + (xb - xa) * k / steps, ya + (yb - ya) * k / steps
                    if t.x0 + 1 < px < t.x1 - 1 and t.y0 + 1 < py < t.y1 - 1:
                        problems.append(f"a line crosses {t.s!r}")
                        break
        for t in self.texts:
            for x0, y0, x1, y1 in self.rects:
                meets = t.x0 < x1 - 1 and x0 < t.x1 - 1 and t.y0 < y1 - 1 and y0 < t.y1 - 1
                within = x0 <= t.x0 and t.x1 <= x1 and y0 <= t.y0 and t.y1 <= y1
                if meets and not within and not t.over_lines and t.inside is None:
                    problems.append(f"{t.s!r} runs over the edge of a box")
                    break
        for i, a in enumerate(self.texts):
            for b in self.texts[i + 1 :]:
                if a.x0 < b.x1 - 1 and b.x0 < a.x1 - 1 and a.y0 < b.y1 - 1 and b.y0 < a.y1 - 1:
                    problems.append(f"{a.s!r} overlaps {b.s!r}")
        if problems:
            raise ValueError("cramped diagram:\n  " + "\n  ".join(problems))

    def svg(self, title: str, desc: str) -> str:
        self.check_layout()
        height = math.ceil(self.bottom + self.margin)
        w = num(self.width)
        head = (
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {height}" width="{w}" height="{height}"'
            ' role="img" aria-labelledby="title desc">\n'
            f'<title id="title">{escape(title)}</title>\n<desc id="desc">{escape(desc)}</desc>\n'
            f"<style>{_css()}</style>\n"
            f'<rect class="bg" width="{w}" height="{height}"/>\n'
        )
        return head + "\n".join(self.parts + self.top) + "\n</svg>\n"


# --- what the diagrams share ----------------------------------------------------------------

W = 440  # the diagrams' width: 16-unit text is 12.5 px on a phone, where the image is 343 px wide
CX = W / 2


def down(fig, x, y0, y1, label=None, left=None, *, kind="flow", mono=True, cls="muted"):
    """A downward arrow from y0 to y1; ``label`` beside it on the right (a shape, in monospace),
    ``left`` on its left (a name, in the sans font)."""
    fig.arrow(x, y0, x, y1, kind)
    ly = (y0 + y1) / 2 + 5.5
    if label:
        fig.text(x + 10, ly, label, mono=mono, cls=cls, anchor="start")
    if left:
        fig.text(x - 10, ly, left, cls=cls, anchor="end")


def plus(fig, x, y):
    """The residual add: a (+) on the stream, drawn over the lines that meet there."""
    fig.circle(x, y, 12, "resid", top=True)
    fig.text(x, y + 6, "+", bold=True, size=18, cls="t-resid", top=True)


def tensor(fig, x, y, w, name, shape_text, cls="data", h=54):
    """A tensor as a box: its name above its shape."""
    lines = [(name, {"bold": True})] if name else []
    fig.box(x, y, w, h, lines + [(shape_text, {"mono": True, "cls": "muted"})], cls)


def caption(fig, y, *lines):
    """Lines of muted text centred under a diagram, the first baseline at y; returns the next baseline."""
    for line in lines:
        fig.text(CX, y, line, cls="muted")
        y += 24
    return y
