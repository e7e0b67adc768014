"""The end-to-end check of the published book, page by page, as a reader offline sees it.

Builds the whole book (the repository's _toc.yml, stored outputs, no execution) into a temporary
folder, serves it on 127.0.0.1 and visits every page in one headless Chromium, with every other
host unresolvable. Each page is read once at 1280 px (tests/site_checks.js gathers what is on it)
and once on a 390 px phone (the menu button is pressed); the tests below then judge those reports:

* no JavaScript errors or failed loads, nothing fetched from another host, working links, images
  and widgets;
* the menu button opens the chapter list on a phone, and collapses the sidebar on a desktop,
  under a single header with a single search field;
* maths: typeset by the book's own MathJax, no MathJax errors, no raw LaTeX in the prose, no
  display equation wider than the text column, and no MathJax on pages without maths;
* nothing a reader should not see: nbval or solution markers, the paths of the machine that ran
  the notebooks, "running on cpu", placeholder text;
* every image has a real alt text; code and output blocks fit the text column;
* exercise solutions are collapsed toggles labelled as solutions; citations match the labels of
  the bibliography; "Live Code" with no network says that it needs one; icons are drawn.

Each failure lists every page and element at fault, so one run says all that is left to fix.
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

from browser import (DESKTOP, PAGE_LOAD_WAIT, PHONE, REPO, build_book, chromium, console_messages, html_pages,
                     require_chromium, serve, set_viewport, severe_console_errors, toc_files, wait_until_loaded)

SITE_CHECKS = "return (() => {\n" + (Path(__file__).with_name("site_checks.js")).read_text(encoding="utf-8") + "\n})();"


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
    for name in html_pages(html_dir):
        page = html_dir / name
        for src in re.findall(r'<script[^>]*\bsrc="([^"]+)"', page.read_text(encoding="utf-8", errors="replace")):
            if "://" not in src and not (page.parent / src.split("?")[0]).resolve().is_file():
                missing.add(src.split("?")[0].lstrip("./"))
    return sorted(missing)


# --- pressing the menu button -----------------------------------------------------------------

def visible_menu_buttons(driver):
    return [b for b in driver.find_elements("css selector", ".primary-toggle") if b.is_displayed()]


def phone_menu(driver) -> dict:
    """Press the visible menu button on a phone-sized page; what the opened menu lists."""
    buttons = visible_menu_buttons(driver)
    if len(buttons) != 1:
        return {"problem": f"{len(buttons)} visible menu buttons"}
    buttons[0].click()
    deadline = time.monotonic() + 3
    state = {}
    while time.monotonic() < deadline:
        state = driver.execute_script("""
            const dialog = document.querySelector('#pst-primary-sidebar-modal');
            if (!dialog || !dialog.open) return {open: false};
            const box = dialog.getBoundingClientRect();
            return {open: true, width: box.width,
                    links: [...dialog.querySelectorAll('nav.bd-links a')].map(a => a.href)};
        """)
        if state.get("open"):
            break
        time.sleep(0.1)
    driver.execute_script("const d = document.querySelector('#pst-primary-sidebar-modal'); if (d && d.open) d.close();")
    return state


def desktop_menu(driver) -> dict:
    """Press the menu button twice at desktop width: is the sidebar hidden, then shown again?"""
    buttons = visible_menu_buttons(driver)
    if len(buttons) != 1:
        return {"problem": f"{len(buttons)} visible menu buttons"}
    shown = "const s = document.querySelector('#pst-primary-sidebar'); " \
            "return !!s && getComputedStyle(s).visibility !== 'hidden' && s.getBoundingClientRect().right > 0;"
    states = [driver.execute_script(shown)]
    for _ in range(2):
        buttons[0].click()
        time.sleep(0.5)  # the theme animates the sidebar for 0.25 s
        states.append(driver.execute_script(shown))
    return {"shown, after one press, after two": states}


@pytest.fixture(scope="module")
def reports(site):
    """{page: report}: every page read at 1280 px (site_checks.js, the menu button) and on a phone."""
    html_dir, base_url, driver = site
    found = {}
    for page in html_pages(html_dir):
        url = f"{base_url}/{page}"
        set_viewport(driver, DESKTOP)
        driver.get(url)
        wait_until_loaded(driver)
        desktop = desktop_menu(driver)  # before site_checks.js, which opens every collapsed cell
        report = driver.execute_script(SITE_CHECKS)
        report["desktop_menu"] = desktop
        report["console"] = severe_console_errors(console_messages(driver))
        set_viewport(driver, PHONE)
        driver.get(url)
        wait_until_loaded(driver)
        report["phone_menu"] = phone_menu(driver)
        report["console"] += severe_console_errors(console_messages(driver))
        found[page] = report
    set_viewport(driver, DESKTOP)
    return found


def fail_listing(problems: list[str], what: str, n_pages: int) -> None:
    assert not problems, f"{len(problems)} {what} over {n_pages} pages:\n" + "\n".join(problems)


# --- the page loads, offline ------------------------------------------------------------------

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


def test_every_page_renders_offline_with_working_links_images_and_widgets(site, reports):
    html_dir, base_url, _ = site
    assert "index.html" in reports or any(p.endswith("intro.html") for p in reports)
    problems: list[str] = []
    n_widgets = 0
    for page, report in reports.items():
        for message in report["console"]:
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
    fail_listing(sorted(set(problems)), "problems", len(reports))
    print(f"{len(reports)} pages and {n_widgets} widgets checked")


# --- the menu, on a phone and on a desktop ----------------------------------------------------

def test_the_menu_button_opens_the_chapter_list_on_a_phone(reports):
    chapters = [f"{page}.html" for page in toc_files(REPO / "_toc.yml")]
    problems = []
    for page, report in reports.items():
        menu = report["phone_menu"]
        if "problem" in menu:
            problems.append(f"{page}: at 390 px, {menu['problem']} (expected exactly 1)")
        elif not menu.get("open"):
            problems.append(f"{page}: at 390 px, pressing the menu button opened nothing")
        else:
            listed = {urlparse(link).path.lstrip("/") for link in menu["links"]}
            missing = [c for c in chapters if c not in listed]
            if missing or menu["width"] < 200:
                problems.append(f"{page}: at 390 px, the menu ({menu['width']:.0f} px wide) lacks {missing}")
    fail_listing(problems, "pages where the phone menu fails", len(reports))


def test_the_menu_button_collapses_the_sidebar_on_a_desktop_under_one_header(reports):
    problems = []
    for page, report in reports.items():
        menu = report["desktop_menu"]
        if "problem" in menu:
            problems.append(f"{page}: at 1280 px, {menu['problem']} (expected exactly 1)")
        elif menu["shown, after one press, after two"] != [True, False, True]:
            problems.append(f"{page}: at 1280 px, sidebar shown / after one press / after two: "
                            f"{menu['shown, after one press, after two']} (expected shown, hidden, shown)")
        shell = report["shell"]
        if shell["topBarHeight"] > 0:
            problems.append(f"{page}: an extra {shell['topBarHeight']:.0f} px bar above the page header")
        if shell["searchFields"] != 1:
            problems.append(f"{page}: {shell['searchFields']} visible search fields (expected 1)")
    fail_listing(problems, "problems with the page header", len(reports))


# --- maths ------------------------------------------------------------------------------------

def test_maths_is_typeset_by_mathjax_served_from_the_book(site, reports):
    _, base_url, driver = site
    with_maths = [p for p, r in reports.items() if r["hasMaths"]]
    assert with_maths, "no page of the book has any maths"
    driver.get(f"{base_url}/{with_maths[0]}")
    wait_until_loaded(driver)
    mathjax = driver.execute_script("const s = document.querySelector('script[src*=\"mathjax\" i]'); return s && s.src;")
    assert mathjax and mathjax.startswith(base_url), f"{with_maths[0]} loads MathJax from {mathjax}, not from the book"
    n_typeset = driver.execute_script("return document.querySelectorAll('mjx-container').length;")
    assert n_typeset > 0, f"MathJax typeset nothing on {with_maths[0]}"


def test_only_pages_with_maths_load_mathjax(reports):
    problems = [f"{page}: loads MathJax (about 1.2 MB) but has no maths" for page, r in reports.items()
                if r["loadsMathJax"] and not r["hasMaths"]]
    problems += [f"{page}: has maths but does not load MathJax" for page, r in reports.items()
                 if r["hasMaths"] and not r["loadsMathJax"]]
    fail_listing(problems, "pages", len(reports))


def test_no_mathjax_errors_and_no_raw_latex_in_the_prose(reports):
    problems = []
    for page, report in reports.items():
        for error in report["mathErrors"]:
            problems.append(f"{page}: {error['where']}: MathJax cannot typeset {error['tex']!r}")
        for raw in report["rawLatex"]:
            problems.append(f"{page}: {raw['where']}: LaTeX shown as source: {raw['text']}")
    fail_listing(problems, "maths problems", len(reports))


def test_display_equations_fit_the_text_column_at_1280_px(reports):
    problems = []
    for page, report in reports.items():
        for eq in report["wideEquations"]:
            problems.append(f"{page}: {eq['where']}: equation {eq['width']} px wide in a {eq['column']} px "
                            f"column (break it with aligned/split): {eq['tex'].strip()[:100]!r}")
    fail_listing(problems, "display equations wider than the column", len(reports))


# --- what a reader sees -----------------------------------------------------------------------

def test_nothing_a_reader_should_not_see(reports):
    problems = [f"{page}: {item['where']}: {item['what']}: {item['text']}"
                for page, report in reports.items() for item in report["forbidden"]]
    fail_listing(problems, "things a reader should not see", len(reports))


def looks_like_a_file_name(alt: str, src: str) -> bool:
    name = urlparse(src).path.rsplit("/", 1)[-1]
    return ("/" in alt or "\\" in alt or alt == name
            or re.search(r"\.(png|jpe?g|gif|svg|webp)$", alt, re.I) is not None
            or re.fullmatch(r"[0-9a-f]{32,}", alt) is not None)


def test_every_image_has_a_real_alt_text(reports):
    problems = []
    for page, report in reports.items():
        for image in report["images"]:
            alt = (image["alt"] or "").strip()
            if not alt:
                problems.append(f"{page}: {image['where']}: no alt text for {image['src']}")
            elif looks_like_a_file_name(alt, image["src"]):
                problems.append(f"{page}: {image['where']}: alt text is a file name: {alt!r}")
    fail_listing(problems, "images without a real alt text", len(reports))


def test_code_and_output_blocks_fit_the_text_column_at_1280_px(reports):
    problems = [f"{page}: {block['where']}: a {block['chars']}-character line scrolls sideways: {block['line']}"
                for page, report in reports.items() for block in report["wideBlocks"]]
    fail_listing(problems, "code or output blocks that need sideways scrolling", len(reports))


def test_exercise_solutions_are_collapsed_and_labelled_as_solutions(reports):
    problems = []
    for page, report in reports.items():
        for solution in report["solutions"]:
            if not solution["title"].startswith("Solution"):
                problems.append(f"{page}: {solution['where']}: a solution whose toggle reads {solution['title']!r}")
            elif not solution["collapsed"]:
                problems.append(f"{page}: {solution['where']}: a solution shown open")
    fail_listing(problems, "solutions", len(reports))


def test_citations_match_the_labels_of_the_bibliography(reports):
    references = [p for p, r in reports.items() if r["bibliography"]]
    assert references, "no page has a bibliography"
    labels = {f"{page}#{entry['id']}": entry["label"] for page in references for entry in reports[page]["bibliography"]}
    problems = []
    n = 0
    for page, report in reports.items():
        for citation in report["citations"]:
            n += 1
            target = urlparse(citation["target"])
            label = labels.get(f"{target.path.lstrip('/')}#{target.fragment}")
            if label != citation["text"]:
                problems.append(f"{page}: {citation['where']}: the text cites {citation['text']!r}, "
                                f"the bibliography's label is {label!r}")
    assert n > 0, "no citations found in the book"
    fail_listing(problems, "citations", len(reports))


def test_icons_are_drawn_from_the_theme_font(reports):
    problems = []
    for page, report in reports.items():
        for icon in report["icons"]:
            if icon["width"] <= 0 or icon["glyph"] in ("none", "normal", '""'):
                problems.append(f"{page}: icon {icon['cls']!r} is not drawn")
        if report["icons"] and not report["iconFontsLoaded"]:
            problems.append(f"{page}: shows icons but loaded no icon font")
    fail_listing(problems, "icons", len(reports))


# --- behaviour --------------------------------------------------------------------------------

def test_live_code_says_it_needs_a_connection_when_offline(site, reports):
    _, base_url, driver = site
    chapter = next((p for p in reports if p.startswith("chapters/")), None)
    assert chapter, "no chapter pages"
    driver.get(f"{base_url}/{chapter}")
    wait_until_loaded(driver)
    assert driver.execute_script("return !!document.querySelector('.btn-launch-thebe');"), \
        f"{chapter} has no Live Code button"
    driver.execute_script("document.querySelector('.btn-launch-thebe').click();")
    deadline = time.monotonic() + PAGE_LOAD_WAIT
    text = ""
    while time.monotonic() < deadline and "internet connection" not in text:
        time.sleep(0.2)
        text = driver.execute_script("const b = document.querySelector('.thebe-launch-button'); return b ? b.textContent : '';")
    console_messages(driver)  # the failed load of thebe is the point here, not a page error
    assert "needs an internet connection" in text, f"after pressing Live Code offline the button reads {text!r}"


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


def test_solution_markers_are_dropped_from_shown_code_and_nothing_else():
    import sys

    sys.path.insert(0, str(REPO / "book" / "_ext"))
    try:
        from book_solutions import without_markers
    finally:
        sys.path.pop(0)
    code = ("def f(x):\n    # BEGIN SOLUTION\n    y = x + 1  # END SOLUTION is only a marker on its own line\n"
            "    return y\n    #END SOLUTION\n# BEGIN SOLUTIONS\n")
    assert without_markers(code) == ("def f(x):\n    y = x + 1  # END SOLUTION is only a marker on its own line\n"
                                     "    return y\n# BEGIN SOLUTIONS\n")
