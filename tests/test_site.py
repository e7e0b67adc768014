"""The end-to-end check of the published book.

Builds the whole book (the repository's _toc.yml, stored outputs, no execution) into a temporary
folder, serves it on 127.0.0.1 and visits every page in headless Chromium with every other host
unresolvable, as a reader offline would. On each page: no JavaScript errors or failed loads
(console messages at level SEVERE), nothing fetched from another host, every internal link
leads to a page and anchor that exist, every image loads, and every gptlib widget has drawn
something. Then: the maths is typeset by MathJax served from the book, and search finds a word.

Skipped, saying what is missing, where Chromium, chromedriver or selenium is not installed.
"""

from __future__ import annotations

import html.parser
import re
import tempfile
import time
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlparse

import pytest

from browser import REPO, build_book, chromium, console_messages, require_chromium, serve, severe_console_errors

PAGE_LOAD_WAIT = 20  # seconds for a page's scripts (MathJax, widgets) to settle


@pytest.fixture(scope="module")
def site():
    """(html folder, base URL, driver): the built book, served, and a browser to read it."""
    require_chromium()
    with tempfile.TemporaryDirectory(prefix="gptlib-site-") as tmp:
        html_dir = build_book(Path(tmp), REPO / "_toc.yml")
        missing = missing_local_scripts(html_dir)
        if missing:
            pytest.fail(f"the built book lacks scripts it loads: {missing}. MathJax is copied in by "
                        "`make mathjax` (npm): run it, or `make test`, first")
        with serve(html_dir) as base_url, chromium() as driver:
            yield html_dir, base_url, driver


def missing_local_scripts(html_dir: Path) -> list[str]:
    """Scripts that the pages load from the book itself but that are not in the build."""
    missing = set()
    for name in pages(html_dir):
        page = html_dir / name
        for src in re.findall(r'<script[^>]*\bsrc="([^"]+)"', page.read_text(encoding="utf-8", errors="replace")):
            if "://" not in src and not (page.parent / src.split("?")[0]).resolve().is_file():
                missing.add(src.split("?")[0].lstrip("./"))
    return sorted(missing)


def pages(html_dir: Path) -> list[str]:
    """Every HTML page of the book, as paths relative to the html folder."""
    skip = ("_static", "_sources", "_images")
    return sorted(
        p.relative_to(html_dir).as_posix()
        for p in html_dir.rglob("*.html")
        if p.relative_to(html_dir).parts[0] not in skip
    )


class _Ids(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids = set()

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name == "id" or (tag == "a" and name == "name"):
                self.ids.add(value)


_ids_cache: dict[Path, set] = {}


def anchors(path: Path) -> set:
    if path not in _ids_cache:
        parser = _Ids()
        parser.feed(path.read_text(encoding="utf-8", errors="replace"))
        _ids_cache[path] = parser.ids
    return _ids_cache[path]


def local_file(html_dir: Path, url: str) -> Path:
    """The file of the built book that a URL on the local server points to."""
    path = unquote(urlparse(url).path)
    target = html_dir / path.lstrip("/")
    return target / "index.html" if path.endswith("/") or target.is_dir() else target


# What each page reports about itself once its scripts have run.
PAGE_REPORT_JS = """
const here = location.origin;
const links = [...document.querySelectorAll('a[href]')].map(a => a.href);
const images = [...document.querySelectorAll('img')].map(img => ({
    src: img.currentSrc || img.src, ok: img.complete && img.naturalWidth > 0}));
const widgets = [...document.querySelectorAll('.gptlib-widget')].map(w => ({
    id: w.id, drawn: w.innerHTML.trim().length > 0}));
const scripts = [...document.querySelectorAll('script[src], link[rel=stylesheet][href]')]
    .map(e => e.src || e.href).filter(u => u && !u.startsWith(here));
const fetched = performance.getEntriesByType('resource').map(r => r.name)
    .filter(u => !u.startsWith(here) && !u.startsWith('data:') && !u.startsWith('blob:'));
return {links, images, widgets, foreign: [...new Set([...scripts, ...fetched])]};
"""


def wait_until_loaded(driver, seconds=PAGE_LOAD_WAIT):
    """Wait for the page, then for MathJax to typeset it (when the page loads MathJax)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        done = driver.execute_script("""
            if (document.readyState !== 'complete') return false;
            if (!document.querySelector('script[src*="mathjax" i]')) return true;
            // A deferred script has run by now: no MathJax.startup means it failed to load,
            // and the console says why.
            if (!(window.MathJax && MathJax.startup && MathJax.startup.promise)) return true;
            if (!window.__typesetWatched) {
                window.__typesetWatched = true;
                MathJax.startup.promise.then(() => { window.__typeset = true; });
            }
            return !!window.__typeset;
        """)
        if done:
            return
        time.sleep(0.2)


def test_every_page_renders_offline_with_working_links_images_and_widgets(site):
    html_dir, base_url, driver = site
    all_pages = pages(html_dir)
    assert "index.html" in all_pages or any(p.endswith("intro.html") for p in all_pages)
    problems: list[str] = []
    n_widgets = 0
    for page in all_pages:
        driver.get(f"{base_url}/{page}")
        wait_until_loaded(driver)
        report = driver.execute_script(PAGE_REPORT_JS)
        for message in severe_console_errors(console_messages(driver)):
            problems.append(f"{page}: console error: {message}")
        for url in report["foreign"]:
            problems.append(f"{page}: fetched from another host (fails offline): {url}")
        for image in report["images"]:
            if not image["ok"]:
                problems.append(f"{page}: image does not load: {image['src']}")
        for widget in report["widgets"]:
            n_widgets += 1
            if not widget["drawn"]:
                problems.append(f"{page}: widget {widget['id']} is empty")
        for link in report["links"]:
            url, fragment = urldefrag(link)
            if not url.startswith(base_url):
                continue  # another site (Colab, GitHub, a paper): not ours to check offline
            target = local_file(html_dir, url)
            if not target.is_file():
                problems.append(f"{page}: broken link to {link}")
            elif fragment and target.suffix == ".html" and unquote(fragment) not in anchors(target):
                problems.append(f"{page}: link to a missing anchor: {link}")
    assert not problems, f"{len(problems)} problems over {len(all_pages)} pages:\n" + "\n".join(sorted(set(problems)))
    print(f"{len(all_pages)} pages and {n_widgets} widgets checked")


def test_maths_is_typeset_by_mathjax_served_from_the_book(site):
    html_dir, base_url, driver = site
    with_maths = [p for p in pages(html_dir) if "math notranslate" in (html_dir / p).read_text(encoding="utf-8")]
    assert with_maths, "no page of the book has any maths"
    driver.get(f"{base_url}/{with_maths[0]}")
    wait_until_loaded(driver)
    mathjax = driver.execute_script("const s = document.querySelector('script[src*=\"mathjax\" i]'); return s && s.src;")
    assert mathjax and mathjax.startswith(base_url), f"{with_maths[0]} loads MathJax from {mathjax}, not from the book"
    n_typeset = driver.execute_script("return document.querySelectorAll('mjx-container').length;")
    assert n_typeset > 0, f"MathJax typeset nothing on {with_maths[0]}"


def test_search_finds_a_word_of_the_book(site):
    html_dir, base_url, driver = site
    driver.get(f"{base_url}/search.html?q=attention")
    deadline = time.monotonic() + PAGE_LOAD_WAIT
    hits = 0
    while time.monotonic() < deadline and not hits:
        time.sleep(0.3)
        hits = driver.execute_script("return document.querySelectorAll('#search-results li, ul.search li').length;")
    assert hits > 0, "the search page found nothing for 'attention'"
    assert severe_console_errors(console_messages(driver)) == []
